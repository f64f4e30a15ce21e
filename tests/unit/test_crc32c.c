/*
 * crc32c: RFC 3720 B.4 vectors, the check value of both CRCs, and the
 * software and SSE4.2 variants against each other.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "suites.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* The RFC 3720 B.4 vectors, checked against the given function. */
static void check_rfc3720(crc_fn f)
{
	/* iSCSI SCSI Read (10) command PDU from B.4. */
	static const uint8_t pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t b[32];

	memset(b, 0, sizeof(b));
	ck_assert_uint_eq(f(0, b, sizeof(b)), 0x8a9136aau);
	memset(b, 0xff, sizeof(b));
	ck_assert_uint_eq(f(0, b, sizeof(b)), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	ck_assert_uint_eq(f(0, b, sizeof(b)), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(f(0, b, sizeof(b)), 0x113fdb5cu);
	ck_assert_uint_eq(f(0, pdu, sizeof(pdu)), 0xd9963a56u);
	ck_assert_uint_eq(f(0, "123456789", 9), 0xe3069283u);
	/* Empty input leaves the running value alone. */
	ck_assert_uint_eq(f(0, "", 0), 0);
	ck_assert_uint_eq(f(0x12345678u, "", 0), 0x12345678u);
}

START_TEST(rfc3720_sw)
{
	check_rfc3720(kf_crc32c_sw);
}
END_TEST

START_TEST(rfc3720_dispatch)
{
	check_rfc3720(kf_crc32c);
}
END_TEST

START_TEST(rfc3720_hw)
{
	if (!kf_crc32c_hw_available()) {
		fprintf(stderr, "crc32c: no SSE4.2 on this CPU, hw test skipped\n");
		return;
	}
	check_rfc3720(kf_crc32c_hw);
}
END_TEST

START_TEST(crc32_ieee)
{
	ck_assert_uint_eq(kf_crc32(0, "123456789", 9), 0xcbf43926u);
	ck_assert_uint_eq(kf_crc32(kf_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
	ck_assert_uint_eq(kf_crc32(0x1234u, NULL, 0), 0x1234u);
}
END_TEST

static uint64_t rng_state;

static uint8_t rng_byte(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint8_t)(rng_state >> 24);
}

/*
 * Every length 0..300 at every misalignment 0..7: sw == hw == dispatch, and
 * for each length a split at every point gives the one-shot value.  The
 * reference is a bitwise CRC so a shared table bug cannot hide.
 */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

START_TEST(sw_hw_agree)
{
	static uint8_t buf[300 + 8];
	bool hw = kf_crc32c_hw_available();

	if (!hw)
		fprintf(stderr, "crc32c: no SSE4.2 on this CPU, hw compare skipped\n");
	rng_state = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = rng_byte();
	for (size_t len = 0; len <= 300; len++) {
		for (size_t off = 0; off < 8; off++) {
			const uint8_t *p = buf + off;
			uint32_t want = crc32c_bitwise(p, len);
			ck_assert_uint_eq(kf_crc32c_sw(0, p, len), want);
			ck_assert_uint_eq(kf_crc32c(0, p, len), want);
			if (hw)
				ck_assert_uint_eq(kf_crc32c_hw(0, p, len), want);
		}
		uint32_t want = crc32c_bitwise(buf + 1, len);
		for (size_t cut = 0; cut <= len; cut++) {
			const uint8_t *p = buf + 1;
			uint32_t s = kf_crc32c_sw(kf_crc32c_sw(0, p, cut), p + cut, len - cut);
			ck_assert_uint_eq(s, want);
			if (hw) {
				uint32_t h = kf_crc32c_hw(kf_crc32c_hw(0, p, cut),
							  p + cut, len - cut);
				ck_assert_uint_eq(h, want);
			}
			uint32_t z = kf_crc32(kf_crc32(0, p, cut), p + cut, len - cut);
			ck_assert_uint_eq(z, kf_crc32(0, p, len));
		}
	}
}
END_TEST

/* A larger buffer, so the 8-byte loops run long, across variants. */
START_TEST(large_buffer)
{
	size_t n = 1 << 20;
	uint8_t *b = malloc(n + 3);
	ck_assert_ptr_nonnull(b);
	rng_state = 42;
	for (size_t i = 0; i < n + 3; i++)
		b[i] = rng_byte();
	uint32_t want = crc32c_bitwise(b + 3, n);
	ck_assert_uint_eq(kf_crc32c_sw(0, b + 3, n), want);
	ck_assert_uint_eq(kf_crc32c(0, b + 3, n), want);
	if (kf_crc32c_hw_available())
		ck_assert_uint_eq(kf_crc32c_hw(0, b + 3, n), want);
	free(b);
}
END_TEST

/* The hardware path runs three interleaved streams over 3 KiB strides and
 * joins them: lengths around one, two and three strides, every alignment. */
START_TEST(stride_boundaries)
{
	static const size_t lens[] = { 3071, 3072, 3073, 3079, 3080, 3087, 6143,
				       6144, 6145, 9216 + 7, 12288 + 13 };
	static uint8_t buf[12288 + 13 + 8];
	rng_state = 7;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = rng_byte();
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t off = 0; off < 8; off++) {
			const uint8_t *p = buf + off;
			uint32_t want = crc32c_bitwise(p, lens[i]);
			ck_assert_uint_eq(kf_crc32c(0, p, lens[i]), want);
			ck_assert_uint_eq(kf_crc32c_hw(0, p, lens[i]), want);
			ck_assert_uint_eq(kf_crc32c_hw(kf_crc32c_hw(0, p, 5), p + 5,
						       lens[i] - 5), want);
		}
}
END_TEST

Suite *suite_crc32c(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, rfc3720_sw);
	tcase_add_test(tc, rfc3720_dispatch);
	tcase_add_test(tc, rfc3720_hw);
	tcase_add_test(tc, crc32_ieee);
	tcase_add_test(tc, sw_hw_agree);
	tcase_add_test(tc, large_buffer);
	tcase_add_test(tc, stride_boundaries);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
