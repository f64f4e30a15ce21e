/*
 * wire: the reader cursor and the writer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "suites.h"
#include "wire.h"

START_TEST(read_primitives)
{
	static const uint8_t b[] = { 0x7f, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef,
				     0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	struct kf_rd rd;
	kf_rd_init(&rd, b, sizeof(b));
	ck_assert_int_eq(kf_rd_i8(&rd), 127);
	ck_assert_int_eq(kf_rd_i16(&rd), (int16_t)0x8001);
	ck_assert_uint_eq(kf_rd_u32(&rd), 0xdeadbeefu);
	ck_assert(kf_rd_i64(&rd) == 0x0102030405060708LL);
	ck_assert(kf_rd_ok(&rd));
	ck_assert_int_eq(kf_rd_left(&rd), 0);
	ck_assert_int_eq(kf_rd_i8(&rd), 0);
	ck_assert_int_eq(rd.err, KF_ESHORT);
	ck_assert_int_eq(rd.err_pos, sizeof(b));
}
END_TEST

START_TEST(short_reads_are_sticky)
{
	static const uint8_t b[] = { 0x00, 0x01, 0x02 };
	struct kf_rd rd;
	kf_rd_init(&rd, b, sizeof(b));
	ck_assert_int_eq(kf_rd_i32(&rd), 0);
	ck_assert_int_eq(rd.err, KF_ESHORT);
	ck_assert_int_eq(kf_rd_i8(&rd), 0); /* no read after failure */
	ck_assert_int_eq(rd.pos, 0);
}
END_TEST

/* Zigzag varints as Kafka's ByteUtils writes them. */
START_TEST(varints)
{
	static const struct {
		int64_t v;
		uint8_t b[10];
		int n;
	} cases[] = {
		{ 0, { 0x00 }, 1 }, { -1, { 0x01 }, 1 }, { 1, { 0x02 }, 1 },
		{ -64, { 0x7f }, 1 }, { 64, { 0x80, 0x01 }, 2 },
		{ 150, { 0xac, 0x02 }, 2 },
		{ INT32_MAX, { 0xfe, 0xff, 0xff, 0xff, 0x0f }, 5 },
		{ INT32_MIN, { 0xff, 0xff, 0xff, 0xff, 0x0f }, 5 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kf_rd rd;
		kf_rd_init(&rd, cases[i].b, (size_t)cases[i].n);
		ck_assert_int_eq(kf_rd_varint(&rd), cases[i].v);
		ck_assert(kf_rd_ok(&rd));
		ck_assert_int_eq(rd.pos, cases[i].n);
		kf_rd_init(&rd, cases[i].b, (size_t)cases[i].n);
		ck_assert(kf_rd_varlong(&rd) == cases[i].v);
		struct kf_wr wr;
		kf_wr_init(&wr);
		kf_wr_varint(&wr, (int32_t)cases[i].v);
		ck_assert_int_eq(wr.len, cases[i].n);
		ck_assert_mem_eq(wr.buf, cases[i].b, (size_t)cases[i].n);
		kf_wr_free(&wr);
	}
	/* varlong extremes round-trip */
	int64_t longs[] = { INT64_MAX, INT64_MIN, 1LL << 40, -(1LL << 40) };
	for (size_t i = 0; i < 4; i++) {
		struct kf_wr wr;
		kf_wr_init(&wr);
		kf_wr_varlong(&wr, longs[i]);
		struct kf_rd rd;
		kf_rd_init(&rd, wr.buf, wr.len);
		ck_assert(kf_rd_varlong(&rd) == longs[i]);
		ck_assert_int_eq(kf_rd_left(&rd), 0);
		kf_wr_free(&wr);
	}
}
END_TEST

START_TEST(bad_varints)
{
	/* Six continuation bytes: too long for a 32-bit varint. */
	static const uint8_t longv[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
	struct kf_rd rd;
	kf_rd_init(&rd, longv, sizeof(longv));
	kf_rd_varint(&rd);
	ck_assert_int_eq(rd.err, KF_EPROTO);
	/* Five bytes whose value overflows 32 bits. */
	static const uint8_t over[] = { 0xff, 0xff, 0xff, 0xff, 0x7f };
	kf_rd_init(&rd, over, sizeof(over));
	kf_rd_uvarint(&rd);
	ck_assert_int_eq(rd.err, KF_EPROTO);
	/* Ends mid-varint. */
	static const uint8_t cut[] = { 0x80, 0x80 };
	kf_rd_init(&rd, cut, sizeof(cut));
	kf_rd_varint(&rd);
	ck_assert_int_eq(rd.err, KF_ESHORT);
}
END_TEST

START_TEST(strings_and_bytes)
{
	static const uint8_t b[] = {
		0x00, 0x03, 'a', 'b', 'c',         /* string "abc" */
		0xff, 0xff,                        /* null string */
		0x04, 'x', 'y', 'z',               /* compact string "xyz" */
		0x00,                              /* compact null */
		0x00, 0x00, 0x00, 0x02, 0x01, 0x02, /* bytes */
		0x01,                              /* compact empty bytes */
	};
	struct kf_rd rd;
	const uint8_t *p;
	kf_rd_init(&rd, b, sizeof(b));
	ck_assert_int_eq(kf_rd_string(&rd, &p), 3);
	ck_assert_mem_eq(p, "abc", 3);
	ck_assert_int_eq(kf_rd_string(&rd, &p), -1);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(kf_rd_compact_string(&rd, &p), 3);
	ck_assert_mem_eq(p, "xyz", 3);
	ck_assert_int_eq(kf_rd_compact_string(&rd, &p), -1);
	ck_assert_int_eq(kf_rd_bytes(&rd, &p), 2);
	ck_assert_int_eq(kf_rd_compact_bytes(&rd, &p), 0);
	ck_assert(kf_rd_ok(&rd));
	ck_assert_int_eq(kf_rd_left(&rd), 0);

	struct kf_wr wr;
	kf_wr_init(&wr);
	kf_wr_string(&wr, "abc", 3);
	kf_wr_string(&wr, NULL, -1);
	kf_wr_compact_string(&wr, "xyz", 3);
	kf_wr_compact_string(&wr, NULL, -1);
	kf_wr_bytes(&wr, "\x01\x02", 2);
	kf_wr_compact_bytes(&wr, "", 0);
	ck_assert_int_eq(wr.len, sizeof(b));
	ck_assert_mem_eq(wr.buf, b, sizeof(b));
	kf_wr_free(&wr);
}
END_TEST

START_TEST(lengths_past_the_end)
{
	static const uint8_t s1[] = { 0x00, 0x05, 'a', 'b' };
	static const uint8_t s2[] = { 0xff, 0xfe };              /* -2 */
	static const uint8_t s3[] = { 0x7f, 0xff, 0xff, 0xff };  /* 2 GiB bytes */
	static const uint8_t a1[] = { 0x00, 0x10, 0x00, 0x00, 0x00 }; /* 1M elements */
	static const uint8_t a2[] = { 0xff, 0xff, 0xff, 0xfe };  /* -2 elements */
	struct kf_rd rd;
	const uint8_t *p;
	kf_rd_init(&rd, s1, sizeof(s1));
	kf_rd_string(&rd, &p);
	ck_assert_int_eq(rd.err, KF_ESHORT);
	kf_rd_init(&rd, s2, sizeof(s2));
	kf_rd_string(&rd, &p);
	ck_assert_int_eq(rd.err, KF_EPROTO);
	kf_rd_init(&rd, s3, sizeof(s3));
	kf_rd_bytes(&rd, &p);
	ck_assert_int_eq(rd.err, KF_ESHORT);
	kf_rd_init(&rd, a1, sizeof(a1));
	ck_assert_int_eq(kf_rd_array_len(&rd, false, 4), -1);
	ck_assert_int_eq(rd.err, KF_ESHORT);
	kf_rd_init(&rd, a2, sizeof(a2));
	kf_rd_array_len(&rd, false, 1);
	ck_assert_int_eq(rd.err, KF_EPROTO);
}
END_TEST

START_TEST(tagged_fields_skip)
{
	/* two tags: 0 with 2 bytes, 5 with 0 bytes, then a trailing byte */
	static const uint8_t b[] = { 0x02, 0x00, 0x02, 0xaa, 0xbb, 0x05, 0x00, 0x42 };
	struct kf_rd rd;
	kf_rd_init(&rd, b, sizeof(b));
	kf_rd_skip_tags(&rd);
	ck_assert(kf_rd_ok(&rd));
	ck_assert_int_eq(kf_rd_i8(&rd), 0x42);
	static const uint8_t bad[] = { 0x01, 0x00, 0x05, 0xaa };
	kf_rd_init(&rd, bad, sizeof(bad));
	kf_rd_skip_tags(&rd);
	ck_assert_int_eq(rd.err, KF_ESHORT);
}
END_TEST

START_TEST(writer_patch_and_grow)
{
	struct kf_wr wr;
	kf_wr_init(&wr);
	size_t off = kf_wr_i32(&wr, 0);
	for (int i = 0; i < 10000; i++)
		kf_wr_i16(&wr, (int16_t)i);
	kf_wr_patch_i32(&wr, off, (int32_t)(wr.len - 4));
	struct kf_rd rd;
	kf_rd_init(&rd, wr.buf, wr.len);
	ck_assert_int_eq(kf_rd_i32(&rd), 20000);
	for (int i = 0; i < 10000; i++)
		ck_assert_int_eq(kf_rd_i16(&rd), i);
	kf_wr_free(&wr);
}
END_TEST

Suite *suite_wire(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("wire");
	tcase_add_test(tc, read_primitives);
	tcase_add_test(tc, short_reads_are_sticky);
	tcase_add_test(tc, varints);
	tcase_add_test(tc, bad_varints);
	tcase_add_test(tc, strings_and_bytes);
	tcase_add_test(tc, lengths_past_the_end);
	tcase_add_test(tc, tagged_fields_skip);
	tcase_add_test(tc, writer_patch_and_grow);
	suite_add_tcase(s, tc);
	return s;
}
