/*
 * fuzz_codec: kf_decompress for each codec, in Kafka's framings.
 *
 * Input: byte 0 = codec (bits 0-2: 0-4 are the codecs, 5-7 unknown ones),
 * the rest is the compressed data.  Decompressed with max_out 1 MiB into a
 * fresh buffer and into a large one reused across inputs (same result both
 * ways: a codec's verdict must not depend on the room it is given),
 * and with max_out 256 (KF_ETOOBIG exactly when the 1 MiB run gave more).
 * Whatever decompresses is compressed again and must come back unchanged.
 */
#include "config.h"

#include <string.h>

#include "codec.h"
#include "err.h"
#include "fuzz.h"

#define MAX_OUT (1u << 20)
#define SMALL_OUT 256
#define ROUNDTRIP_MAX (64u << 10)

/* Reused across inputs, as the batch iterator reuses its buffer.  Grown
 * before the first input to the most any codec makes of it (lz4: MAX_OUT
 * plus a 4 MiB block), so that its state, and so any finding, does not
 * depend on the inputs that ran before. */
#define REUSED_CAP (MAX_OUT + (4u << 20))
static struct kf_codec_buf reused;

static void prime_reused(void)
{
	static uint8_t zeros[REUSED_CAP];
	if (reused.cap < REUSED_CAP)
		KF_FUZZ_CHECK(kf_decompress(KF_CODEC_NONE, zeros, sizeof(zeros), REUSED_CAP,
					    &reused, NULL, 0) == KF_OK);
}

static bool same(const struct kf_codec_buf *a, const struct kf_codec_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void roundtrip(int codec, const struct kf_codec_buf *plain)
{
	struct kf_codec_buf packed = { 0 }, back = { 0 };
	if (kf_compress(codec, plain->p, plain->len, &packed) == KF_OK) {
		char why[128] = "";
		int rc = kf_decompress(codec, packed.p, packed.len, MAX_OUT, &back, why, sizeof(why));
		if (rc != KF_OK)
			fprintf(stderr, "roundtrip %s: %s: %s\n", kf_codec_name(codec), kf_strerror(rc), why);
		KF_FUZZ_CHECK(rc == KF_OK);
		KF_FUZZ_CHECK(same(plain, &back));
	}
	kf_codec_buf_free(&back);
	kf_codec_buf_free(&packed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int codec = data[0] & 7;
	const uint8_t *in = data + 1;
	size_t len = size - 1;
	struct kf_codec_buf out = { 0 }, small = { 0 };
	char why[128] = "";

	prime_reused();
	int rc = kf_decompress(codec, in, len, MAX_OUT, &out, why, sizeof(why));
	KF_FUZZ_CHECK(rc <= 0);
	KF_FUZZ_CHECK(kf_decompress(codec, in, len, MAX_OUT, &reused, NULL, 0) == rc);
	if (rc == KF_OK) {
		KF_FUZZ_CHECK(out.len <= MAX_OUT && out.len <= out.cap);
		KF_FUZZ_CHECK(same(&out, &reused));
		int src = kf_decompress(codec, in, len, SMALL_OUT, &small, why, sizeof(why));
		if (out.len <= SMALL_OUT) {
			KF_FUZZ_CHECK(src == KF_OK);
			KF_FUZZ_CHECK(same(&out, &small));
		} else {
			KF_FUZZ_CHECK(src == KF_ETOOBIG);
		}
		if (out.len <= ROUNDTRIP_MAX)
			roundtrip(codec, &out);
	}
	kf_codec_buf_free(&small);
	kf_codec_buf_free(&out);
	return 0;
}
