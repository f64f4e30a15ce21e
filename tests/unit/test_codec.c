/*
 * codec: round trips, streams made by the reference encoders (not ours),
 * decompression bombs, truncated and corrupted input.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "codec.h"
#include "err.h"
#include "suites.h"

static const int codecs[] = { KF_CODEC_NONE, KF_CODEC_GZIP, KF_CODEC_SNAPPY,
			      KF_CODEC_LZ4, KF_CODEC_ZSTD };
#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

static uint64_t rng;

static uint32_t rng_next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	rng = seed | 1;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next();
}

/* Words from a small vocabulary with random numbers: compresses ~3-5x. */
static void fill_text(uint8_t *p, size_t n, uint64_t seed)
{
	static const char *const words[] = { "kafka ", "record ", "batch ", "offset ",
					     "partition ", "consumer ", "{\"id\":", "}\n" };
	size_t i = 0;
	rng = seed | 1;
	while (i < n) {
		uint32_t r = rng_next();
		const char *w = words[r % 8];
		char num[16];
		if (r & 0x100) {
			snprintf(num, sizeof(num), "%u,", (r >> 12) % 100000);
			w = num;
		}
		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (uint8_t)w[k];
	}
}

/* A heap copy of exactly n bytes, so ASan sees any read past the end. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

static int decode(int codec, const uint8_t *in, size_t n, size_t max_out,
		  struct kf_codec_buf *out)
{
	char err[128];
	uint8_t *c = exact_copy(in, n);
	int rc = kf_decompress(codec, c, n, max_out, out, err, sizeof(err));
	free(c);
	return rc;
}

/* ---- names ---- */

START_TEST(names)
{
	ck_assert_str_eq(kf_codec_name(KF_CODEC_NONE), "none");
	ck_assert_str_eq(kf_codec_name(KF_CODEC_ZSTD), "zstd");
	ck_assert_str_eq(kf_codec_name(5), "?");
	ck_assert_str_eq(kf_codec_name(-1), "?");
	ck_assert_int_eq(kf_codec_by_name("gzip"), KF_CODEC_GZIP);
	ck_assert_int_eq(kf_codec_by_name("snappy"), KF_CODEC_SNAPPY);
	ck_assert_int_eq(kf_codec_by_name("lz4"), KF_CODEC_LZ4);
	ck_assert_int_eq(kf_codec_by_name("LZ4"), -1);
	ck_assert_int_eq(kf_codec_by_name("brotli"), -1);
}
END_TEST

/* ---- round trips ---- */

/* Compress, then decode with max_out exactly n (ok) and n - 1 (too big). */
static void round_trip(int codec, const uint8_t *data, size_t n)
{
	struct kf_codec_buf z = { 0 }, out = { 0 };

	ck_assert_int_eq(kf_compress(codec, data, n, &z), KF_OK);
	ck_assert_int_eq(decode(codec, z.p, z.len, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert(n == 0 || memcmp(out.p, data, n) == 0);
	if (n > 0)
		ck_assert_int_eq(decode(codec, z.p, z.len, n - 1, &out), KF_ETOOBIG);
	/* The buffer is reusable: decode again into the same one. */
	ck_assert_int_eq(decode(codec, z.p, z.len, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert(n == 0 || memcmp(out.p, data, n) == 0);
	kf_codec_buf_free(&z);
	kf_codec_buf_free(&out);
	ck_assert_ptr_null(out.p);
}

START_TEST(round_trips)
{
	static const size_t sizes[] = { 0, 1, 100, 65535, 65536, 65537, 1 << 20 };
	int codec = codecs[_i];
	uint8_t *data = malloc(1 << 20);
	ck_assert_ptr_nonnull(data);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		fill_text(data, sizes[s], s + 1);
		round_trip(codec, data, sizes[s]);
		fill_random(data, sizes[s], s + 100);
		round_trip(codec, data, sizes[s]);
	}
	free(data);
}
END_TEST

/* What our encoders write, byte for byte where the framing is ours. */
START_TEST(compress_framing)
{
	static const uint8_t lz4_hdr[] = { 0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82 };
	static const uint8_t xerial_hdr[] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
					      0, 0, 0, 1, 0, 0, 0, 1 };
	struct kf_codec_buf z = { 0 };

	ck_assert_int_eq(kf_compress(KF_CODEC_LZ4, NULL, 0, &z), KF_OK);
	ck_assert_uint_eq(z.len, 11);
	ck_assert_mem_eq(z.p, lz4_hdr, 7);
	ck_assert_mem_eq(z.p + 7, "\0\0\0\0", 4);
	/* Incompressible blocks are stored raw (high bit of the size). */
	uint8_t rnd[100];
	fill_random(rnd, sizeof(rnd), 5);
	ck_assert_int_eq(kf_compress(KF_CODEC_LZ4, rnd, sizeof(rnd), &z), KF_OK);
	ck_assert_uint_eq(z.len, 7 + 4 + 100 + 4);
	ck_assert_mem_eq(z.p + 7, "\x64\0\0\x80", 4);
	ck_assert_mem_eq(z.p + 11, rnd, 100);

	ck_assert_int_eq(kf_compress(KF_CODEC_SNAPPY, NULL, 0, &z), KF_OK);
	ck_assert_uint_eq(z.len, 16);
	ck_assert_mem_eq(z.p, xerial_hdr, 16);
	uint8_t *text = malloc(70000);
	fill_text(text, 70000, 9);
	ck_assert_int_eq(kf_compress(KF_CODEC_SNAPPY, text, 70000, &z), KF_OK);
	/* Three chunks: 32 KiB, 32 KiB, 4464 bytes. */
	size_t pos = 16, chunks = 0, total = 0;
	while (pos < z.len) {
		uint32_t clen = (uint32_t)z.p[pos] << 24 | (uint32_t)z.p[pos + 1] << 16 |
				(uint32_t)z.p[pos + 2] << 8 | z.p[pos + 3];
		size_t ulen;
		ck_assert_int_eq(snappy_uncompressed_length((char *)z.p + pos + 4, clen, &ulen),
				 SNAPPY_OK);
		total += ulen;
		chunks++;
		ck_assert(ulen == 32768 || chunks == 3);
		pos += 4 + clen;
	}
	ck_assert_uint_eq(pos, z.len);
	ck_assert_uint_eq(chunks, 3);
	ck_assert_uint_eq(total, 70000);

	/* zstd: streaming, so no content size in the header, like zstd-jni. */
	ck_assert_int_eq(kf_compress(KF_CODEC_ZSTD, text, 70000, &z), KF_OK);
	ck_assert(ZSTD_getFrameContentSize(z.p, z.len) == ZSTD_CONTENTSIZE_UNKNOWN);
	/* gzip: RFC 1952 magic, deflate. */
	ck_assert_int_eq(kf_compress(KF_CODEC_GZIP, text, 70000, &z), KF_OK);
	ck_assert_mem_eq(z.p, "\x1f\x8b\x08", 3);
	ck_assert_int_eq(kf_compress(7, text, 10, &z), KF_EUNSUPP);
	free(text);
	kf_codec_buf_free(&z);
}
END_TEST

/* ---- streams from other encoders ---- */

START_TEST(gzip_golden)
{
	/* printf hello | gzip -n | xxd -i */
	static const uint8_t hello[] = {
		0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48,
		0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x86, 0xa6, 0x10, 0x36, 0x05, 0x00, 0x00,
		0x00 };
	/* (printf hel | gzip -n; printf lo | gzip -n) | xxd -i: two members */
	static const uint8_t members[] = {
		0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48,
		0xcd, 0x01, 0x00, 0x1b, 0xf1, 0x0b, 0xe5, 0x03, 0x00, 0x00, 0x00, 0x1f,
		0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0xc9, 0x07,
		0x00, 0x9d, 0x4a, 0x9c, 0x55, 0x02, 0x00, 0x00, 0x00 };
	/* echo hello > codec_x.txt; gzip -c codec_x.txt: FNAME and mtime set */
	static const uint8_t named[] = {
		0x1f, 0x8b, 0x08, 0x08, 0x1f, 0x0d, 0x07, 0x6b, 0x00, 0x03, 0x63, 0x6f,
		0x64, 0x65, 0x63, 0x5f, 0x78, 0x2e, 0x74, 0x78, 0x74, 0x00, 0xcb, 0x48,
		0xcd, 0xc9, 0xc9, 0xe7, 0x02, 0x00, 0x20, 0x30, 0x3a, 0x36, 0x06, 0x00,
		0x00, 0x00 };
	struct kf_codec_buf out = { 0 };
	char err[128];

	ck_assert_int_eq(decode(KF_CODEC_GZIP, hello, sizeof(hello), 100, &out), KF_OK);
	ck_assert_uint_eq(out.len, 5);
	ck_assert_mem_eq(out.p, "hello", 5);
	ck_assert_int_eq(decode(KF_CODEC_GZIP, members, sizeof(members), 100, &out), KF_OK);
	ck_assert_uint_eq(out.len, 5);
	ck_assert_mem_eq(out.p, "hello", 5);
	ck_assert_int_eq(decode(KF_CODEC_GZIP, named, sizeof(named), 100, &out), KF_OK);
	ck_assert_uint_eq(out.len, 6);
	ck_assert_mem_eq(out.p, "hello\n", 6);
	/* Limits count across members. */
	ck_assert_int_eq(decode(KF_CODEC_GZIP, members, sizeof(members), 4, &out),
			 KF_ETOOBIG);

	/* Trailing bytes that are not another member. */
	uint8_t trail[sizeof(hello) + 1];
	memcpy(trail, hello, sizeof(hello));
	trail[sizeof(hello)] = 0;
	ck_assert_int_eq(kf_decompress(KF_CODEC_GZIP, trail, sizeof(trail), 100, &out,
				       err, sizeof(err)), KF_EPROTO);
	ck_assert_str_eq(err, "gzip: 1 bytes of trailing garbage");
	/* A bad CRC in the trailer. */
	memcpy(trail, hello, sizeof(hello));
	trail[17] ^= 1;
	ck_assert_int_eq(decode(KF_CODEC_GZIP, trail, sizeof(hello), 100, &out), KF_EPROTO);

	/* zlib's own gzip writer, 1 MiB, and a zlib (not gzip) stream. */
	size_t n = 1 << 20;
	uint8_t *data = malloc(n);
	fill_text(data, n, 77);
	uLong zcap = compressBound(n) + 32;
	uint8_t *z = malloc(zcap);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9,
				      Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = data;
	zs.avail_in = (uInt)n;
	zs.next_out = z;
	zs.avail_out = (uInt)zcap;
	ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t zlen = zs.total_out;
	deflateEnd(&zs);
	ck_assert_int_eq(decode(KF_CODEC_GZIP, z, zlen, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.p, data, n);

	uLongf zl = zcap;
	ck_assert_int_eq(compress2(z, &zl, data, 1000, 6), Z_OK);
	ck_assert_int_eq(decode(KF_CODEC_GZIP, z, zl, n, &out), KF_EPROTO);
	free(z);
	free(data);
	kf_codec_buf_free(&out);
}
END_TEST

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Appends a xerial header (version 1, compat 1) at p; returns 16. */
static size_t put_xerial_hdr(uint8_t *p)
{
	memcpy(p, "\x82SNAPPY\0", 8);
	put_be32(p + 8, 1);
	put_be32(p + 12, 1);
	return 16;
}

/* Appends [len][snappy_compress(data)] at p; returns bytes written. */
static size_t put_xerial_chunk(uint8_t *p, const uint8_t *data, size_t n)
{
	size_t clen = snappy_max_compressed_length(n);
	ck_assert_int_eq(snappy_compress((const char *)data, n, (char *)p + 4, &clen),
			 SNAPPY_OK);
	put_be32(p, (uint32_t)clen);
	return 4 + clen;
}

START_TEST(snappy_golden)
{
	size_t n = 100000;
	uint8_t *data = malloc(n);
	uint8_t *z = malloc(2 * snappy_max_compressed_length(n) + 100);
	struct kf_codec_buf out = { 0 };
	fill_text(data, n, 3);

	/* One raw block, as snappy_compress writes it. */
	size_t zlen = snappy_max_compressed_length(n);
	ck_assert_int_eq(snappy_compress((char *)data, n, (char *)z, &zlen), SNAPPY_OK);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, z, zlen, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.p, data, n);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, z, zlen, n - 1, &out), KF_ETOOBIG);
	/* A tiny raw block (shorter than a xerial header). */
	zlen = snappy_max_compressed_length(3);
	ck_assert_int_eq(snappy_compress("abc", 3, (char *)z, &zlen), SNAPPY_OK);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, z, zlen, 10, &out), KF_OK);
	ck_assert_uint_eq(out.len, 3);
	ck_assert_mem_eq(out.p, "abc", 3);

	/* xerial by hand, chunks of uneven sizes. */
	size_t pos = put_xerial_hdr(z);
	pos += put_xerial_chunk(z + pos, data, 10000);
	pos += put_xerial_chunk(z + pos, data + 10000, 32768);
	pos += put_xerial_chunk(z + pos, data + 42768, 5);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, z, pos, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, 42773);
	ck_assert_mem_eq(out.p, data, 42773);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, z, pos, 42772, &out), KF_ETOOBIG);

	/* Two xerial streams back to back, the second with its own header. */
	pos += put_xerial_hdr(z + pos);
	pos += put_xerial_chunk(z + pos, data + 42773, n - 42773);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, z, pos, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.p, data, n);
	free(z);
	free(data);
	kf_codec_buf_free(&out);
}
END_TEST

/* An LZ4 frame made by liblz4's LZ4F_compressFrame with the given flags. */
static size_t lz4f_frame(uint8_t **z, const uint8_t *data, size_t n, int block_size_id,
			 bool linked, bool content_csum, bool block_csum, bool content_size)
{
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = (LZ4F_blockSizeID_t)block_size_id;
	prefs.frameInfo.blockMode = linked ? LZ4F_blockLinked : LZ4F_blockIndependent;
	prefs.frameInfo.contentChecksumFlag = content_csum ? LZ4F_contentChecksumEnabled
							   : LZ4F_noContentChecksum;
	prefs.frameInfo.blockChecksumFlag = block_csum ? LZ4F_blockChecksumEnabled
						       : LZ4F_noBlockChecksum;
	prefs.frameInfo.contentSize = content_size ? n : 0;
	size_t cap = LZ4F_compressFrameBound(n, &prefs);
	*z = malloc(cap);
	size_t len = LZ4F_compressFrame(*z, cap, data, n, &prefs);
	ck_assert(!LZ4F_isError(len));
	return len;
}

START_TEST(lz4_golden)
{
	size_t n = 300000;
	uint8_t *data = malloc(n);
	struct kf_codec_buf out = { 0 };
	uint8_t *z;
	size_t zlen;

	fill_text(data, n, 11);
	fill_random(data + 200000, 50000, 12); /* some raw blocks too */
	/* Every option on: content size, block and content checksums. */
	zlen = lz4f_frame(&z, data, n, LZ4F_max64KB, false, true, true, true);
	ck_assert_uint_eq(z[4], 0x7c); /* FLG: v1, indep, bcsum, csize, ccsum */
	ck_assert_int_eq(decode(KF_CODEC_LZ4, z, zlen, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.p, data, n);
	/* The declared content size is checked against the limit up front. */
	ck_assert_int_eq(decode(KF_CODEC_LZ4, z, zlen, n - 1, &out), KF_ETOOBIG);
	free(z);

	/* Linked blocks of 256 KiB: each may refer to the one before. */
	zlen = lz4f_frame(&z, data, n, LZ4F_max256KB, true, true, false, false);
	ck_assert_uint_eq(z[4] & 0x20, 0);
	ck_assert_int_eq(decode(KF_CODEC_LZ4, z, zlen, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.p, data, n);
	free(z);

	/* Linked 64 KiB blocks of random data repeating every 40000 bytes:
	 * every block after the first copies from 40000 bytes back, which is
	 * mostly in the block before. */
	fill_random(data, 40000, 14);
	for (size_t i = 40000; i < n; i++)
		data[i] = data[i - 40000];
	zlen = lz4f_frame(&z, data, n, LZ4F_max64KB, true, false, false, false);
	ck_assert_int_eq(decode(KF_CODEC_LZ4, z, zlen, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.p, data, n);
	free(z);

	/* 4 MiB blocks. */
	zlen = lz4f_frame(&z, data, n, LZ4F_max4MB, false, false, false, false);
	ck_assert_int_eq(decode(KF_CODEC_LZ4, z, zlen, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.p, data, n);
	free(z);

	/* liblz4 with Kafka's flags writes exactly our header. */
	zlen = lz4f_frame(&z, data, 10, LZ4F_max64KB, false, false, false, false);
	ck_assert_mem_eq(z, "\x04\x22\x4d\x18\x60\x40\x82", 7);
	free(z);
	free(data);
	kf_codec_buf_free(&out);
}
END_TEST

/* The HC the pre-KIP-57 Kafka clients wrote: XXH32 over magic, FLG, BD. */
START_TEST(lz4_broken_hc)
{
	struct kf_codec_buf z = { 0 }, out = { 0 };
	char err[128];
	uint8_t data[1000];

	fill_text(data, sizeof(data), 13);
	ck_assert_int_eq(kf_compress(KF_CODEC_LZ4, data, sizeof(data), &z), KF_OK);
	ck_assert_uint_eq(z.p[6], 0x82);
	z.p[6] = 0x1a; /* (XXH32(04 22 4d 18 60 40, 0) >> 8) & 0xff */
	ck_assert_int_eq(decode(KF_CODEC_LZ4, z.p, z.len, sizeof(data), &out), KF_OK);
	ck_assert_uint_eq(out.len, sizeof(data));
	ck_assert_mem_eq(out.p, data, sizeof(data));
	/* Neither variant: rejected. */
	z.p[6] = 0x83;
	ck_assert_int_eq(kf_decompress(KF_CODEC_LZ4, z.p, z.len, sizeof(data), &out,
				       err, sizeof(err)), KF_ECRC);
	ck_assert_str_eq(err, "lz4: header checksum mismatch");
	kf_codec_buf_free(&z);
	kf_codec_buf_free(&out);
}
END_TEST

START_TEST(zstd_golden)
{
	size_t n = 200000;
	uint8_t *data = malloc(n);
	size_t cap = ZSTD_compressBound(n) * 2 + 16;
	uint8_t *z = malloc(cap);
	struct kf_codec_buf out = { 0 };
	char err[128];

	fill_text(data, n, 21);
	/* One-shot: the content size is in the header. */
	size_t a = ZSTD_compress(z, cap, data, n, 1);
	ck_assert(!ZSTD_isError(a));
	ck_assert(ZSTD_getFrameContentSize(z, a) == n);
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, z, a, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.p, data, n);
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, z, a, n - 1, &out), KF_ETOOBIG);

	/* Streaming in pieces: the content size is unknown; appended after
	 * the first frame, so the pair also tests concatenated frames. */
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_outBuffer ob = { z, cap, a };
	for (size_t pos = 0; pos < n; pos += 7000) {
		ZSTD_inBuffer ib = { data + pos, n - pos < 7000 ? n - pos : 7000, 0 };
		while (ib.pos < ib.size)
			ck_assert(!ZSTD_isError(ZSTD_compressStream2(c, &ob, &ib,
								     ZSTD_e_continue)));
	}
	ZSTD_inBuffer none = { NULL, 0, 0 };
	size_t left;
	do {
		left = ZSTD_compressStream2(c, &ob, &none, ZSTD_e_end);
		ck_assert(!ZSTD_isError(left));
	} while (left);
	ZSTD_freeCCtx(c);
	ck_assert(ZSTD_getFrameContentSize(z + a, ob.pos - a) == ZSTD_CONTENTSIZE_UNKNOWN);
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, z + a, ob.pos - a, n, &out), KF_OK);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.p, data, n);
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, z + a, ob.pos - a, n - 1, &out), KF_ETOOBIG);

	/* Both frames. */
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, z, ob.pos, 2 * n, &out), KF_OK);
	ck_assert_uint_eq(out.len, 2 * n);
	ck_assert_mem_eq(out.p, data, n);
	ck_assert_mem_eq(out.p + n, data, n);
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, z, ob.pos, 2 * n - 1, &out), KF_ETOOBIG);

	/* Trailing garbage after a complete frame, long and short. */
	memcpy(z + a, "garbage!", 8);
	ck_assert_int_eq(kf_decompress(KF_CODEC_ZSTD, z, a + 8, n, &out, err, sizeof(err)),
			 KF_EPROTO);
	ck_assert_int_eq(strncmp(err, "zstd: ", 6), 0);
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, z, a + 2, n, &out), KF_EPROTO);
	free(z);
	free(data);
	kf_codec_buf_free(&out);
}
END_TEST

/* ---- limits ---- */

#define BOMB_SIZE ((size_t)100 << 20)
#define BOMB_MAX ((size_t)1 << 20)

/*
 * 100 MiB of zeros, decoded with a 1 MiB limit: KF_ETOOBIG, and the buffer
 * never grew past the limit plus the codec's documented slack.
 */
START_TEST(bombs)
{
	int codec = codecs[_i];
	uint8_t *zeros = calloc(1, BOMB_SIZE);
	struct kf_codec_buf z = { 0 }, out = { 0 };
	size_t slack[] = { 0, 1, 0, 64 * 1024, 1 };

	ck_assert_ptr_nonnull(zeros);
	ck_assert_int_eq(kf_compress(codec, zeros, BOMB_SIZE, &z), KF_OK);
	free(zeros);
	ck_assert_int_eq(kf_decompress(codec, z.p, z.len, BOMB_MAX, &out, NULL, 0),
			 KF_ETOOBIG);
	ck_assert_uint_le(out.cap, BOMB_MAX + slack[codec]);
	kf_codec_buf_free(&z);
	kf_codec_buf_free(&out);
}
END_TEST

/* A snappy block and an lz4 frame that claim huge sizes allocate nothing. */
START_TEST(lying_sizes)
{
	struct kf_codec_buf out = { 0 };
	/* varint 0xffffffff: a 4 GiB block of nothing. */
	static const uint8_t snap[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00 };
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, snap, sizeof(snap), BOMB_MAX, &out),
			 KF_ETOOBIG);
	ck_assert_uint_le(out.cap, 1); /* the 1-byte empty buffer */
	/* An LZ4 frame (header by liblz4) claiming 1 TiB and holding nothing. */
	LZ4F_cctx *cc;
	LZ4F_preferences_t prefs;
	uint8_t lz[LZ4F_HEADER_SIZE_MAX + 4];
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.contentSize = 1ull << 40;
	ck_assert(!LZ4F_isError(LZ4F_createCompressionContext(&cc, LZ4F_VERSION)));
	size_t h = LZ4F_compressBegin(cc, lz, sizeof(lz), &prefs);
	ck_assert(!LZ4F_isError(h));
	LZ4F_freeCompressionContext(cc);
	ck_assert_uint_eq(h, 15);
	memset(lz + h, 0, 4);
	ck_assert_int_eq(decode(KF_CODEC_LZ4, lz, h + 4, BOMB_MAX, &out), KF_ETOOBIG);
	ck_assert_uint_le(out.cap, 1); /* the 1-byte empty buffer */
	/* With room for it, the size is checked against what was decoded. */
	ck_assert_int_eq(decode(KF_CODEC_LZ4, lz, h + 4, SIZE_MAX, &out), KF_EPROTO);
	kf_codec_buf_free(&out);
}
END_TEST

/* ---- truncated and corrupt input ---- */

/* The xerial chunk boundaries of s (offsets where a whole stream could end). */
static bool xerial_boundary(const uint8_t *s, size_t n, size_t at, size_t *chunks)
{
	size_t pos = 16;
	*chunks = 0;
	while (pos <= n) {
		if (pos == at)
			return true;
		if (pos + 4 > n)
			break;
		uint32_t clen = (uint32_t)s[pos] << 24 | (uint32_t)s[pos + 1] << 16 |
				(uint32_t)s[pos + 2] << 8 | s[pos + 3];
		pos += 4 + clen;
		(*chunks)++;
	}
	return false;
}

/*
 * Every prefix up to 200 bytes, every 61st beyond and the last 40: an error,
 * never a crash.  Only a xerial stream cut exactly between chunks is a valid
 * (shorter) stream, and must then decode to exactly those chunks.
 */
START_TEST(truncated)
{
	int codec = codecs[_i];
	size_t n = 100000;
	uint8_t *data = malloc(n);
	struct kf_codec_buf z = { 0 }, out = { 0 };

	fill_text(data, n, 31);
	ck_assert_int_eq(kf_compress(codec, data, n, &z), KF_OK);
	for (size_t len = 0; len < z.len; len++) {
		if (len > 200 && len % 61 != 0 && len + 40 < z.len)
			continue;
		int rc = decode(codec, z.p, len, n, &out);
		size_t chunks;
		if (codec == KF_CODEC_SNAPPY && xerial_boundary(z.p, z.len, len, &chunks)) {
			ck_assert_int_eq(rc, KF_OK);
			ck_assert_uint_eq(out.len, chunks * 32768);
			ck_assert_mem_eq(out.p, data, out.len);
			continue;
		}
		if (rc != KF_EPROTO)
			ck_abort_msg("%s truncated to %zu of %zu: rc %d",
				     kf_codec_name(codec), len, z.len, rc);
	}
	free(data);
	kf_codec_buf_free(&z);
	kf_codec_buf_free(&out);
}
END_TEST

/* Random byte flips: whatever comes back, no crash, no overrun (ASan). */
START_TEST(flipped)
{
	int codec = codecs[_i];
	size_t n = 20000;
	uint8_t *data = malloc(n);
	struct kf_codec_buf z = { 0 }, out = { 0 };

	fill_text(data, n, 41);
	ck_assert_int_eq(kf_compress(codec, data, n, &z), KF_OK);
	uint8_t *c = malloc(z.len);
	rng = 0x1234567 + (uint64_t)codec;
	for (int iter = 0; iter < 500; iter++) {
		memcpy(c, z.p, z.len);
		int flips = 1 + (int)(rng_next() % 3);
		for (int k = 0; k < flips; k++)
			c[rng_next() % z.len] ^= (uint8_t)(1 + rng_next() % 255);
		int rc = decode(codec, c, z.len, n, &out);
		ck_assert(rc == KF_OK || rc == KF_EPROTO || rc == KF_ECRC ||
			  rc == KF_ETOOBIG || rc == KF_EUNSUPP);
		if (rc == KF_OK)
			ck_assert_uint_le(out.len, n);
	}
	free(c);
	free(data);
	kf_codec_buf_free(&z);
	kf_codec_buf_free(&out);
}
END_TEST

START_TEST(lz4_checksums)
{
	size_t n = 100000;
	uint8_t *data = malloc(n);
	struct kf_codec_buf out = { 0 };
	char err[128];
	uint8_t *z;

	fill_text(data, n, 51);
	/* Block checksums: flip a byte of the first block's data (header 7
	 * bytes, then the block size). */
	size_t zlen = lz4f_frame(&z, data, n, LZ4F_max64KB, false, false, true, false);
	z[11 + 100] ^= 0x01;
	ck_assert_int_eq(kf_decompress(KF_CODEC_LZ4, z, zlen, n, &out, err, sizeof(err)),
			 KF_ECRC);
	ck_assert_str_eq(err, "lz4: block checksum mismatch");
	/* A flipped block checksum itself. */
	z[11 + 100] ^= 0x01;
	uint32_t b0 = (uint32_t)z[7] | (uint32_t)z[8] << 8 | (uint32_t)z[9] << 16;
	z[11 + b0] ^= 0x80;
	ck_assert_int_eq(decode(KF_CODEC_LZ4, z, zlen, n, &out), KF_ECRC);
	free(z);

	/* Content checksum only: a flipped byte in a raw (stored) block
	 * decodes fine and only the content checksum notices. */
	fill_random(data, n, 52);
	zlen = lz4f_frame(&z, data, n, LZ4F_max64KB, false, true, false, false);
	ck_assert_uint_eq(z[10] & 0x80, 0x80); /* first block stored raw */
	z[11 + 5] ^= 0x40;
	ck_assert_int_eq(kf_decompress(KF_CODEC_LZ4, z, zlen, n, &out, err, sizeof(err)),
			 KF_ECRC);
	ck_assert_str_eq(err, "lz4: content checksum mismatch");
	free(z);
	free(data);
	kf_codec_buf_free(&out);
}
END_TEST

START_TEST(lz4_bad_headers)
{
	struct kf_codec_buf z = { 0 }, out = { 0 };
	char err[128];
	uint8_t *c;

	ck_assert_int_eq(kf_compress(KF_CODEC_LZ4, (const uint8_t *)"hello", 5, &z), KF_OK);
	c = malloc(z.len + 8);
	/* Version 2 */
	memcpy(c, z.p, z.len);
	c[4] = 0xa0;
	ck_assert_int_eq(decode(KF_CODEC_LZ4, c, z.len, 100, &out), KF_EUNSUPP);
	/* Reserved FLG bit, reserved BD bit, reserved block size id. */
	memcpy(c, z.p, z.len);
	c[4] |= 0x02;
	ck_assert_int_eq(decode(KF_CODEC_LZ4, c, z.len, 100, &out), KF_EPROTO);
	memcpy(c, z.p, z.len);
	c[5] |= 0x01;
	ck_assert_int_eq(decode(KF_CODEC_LZ4, c, z.len, 100, &out), KF_EPROTO);
	memcpy(c, z.p, z.len);
	c[5] = 0x30;
	ck_assert_int_eq(decode(KF_CODEC_LZ4, c, z.len, 100, &out), KF_EPROTO);
	/* Dictionary id. */
	memcpy(c, z.p, z.len);
	c[4] |= 0x01;
	ck_assert_int_eq(kf_decompress(KF_CODEC_LZ4, c, z.len, 100, &out, err, sizeof(err)),
			 KF_EUNSUPP);
	ck_assert_str_eq(err, "lz4: dictionary id");
	/* Bad magic. */
	memcpy(c, z.p, z.len);
	c[0] = 0x05;
	ck_assert_int_eq(decode(KF_CODEC_LZ4, c, z.len, 100, &out), KF_EPROTO);
	/* A block bigger than BD allows (64 KiB + 1, stored). */
	memcpy(c, z.p, 7);
	memcpy(c + 7, "\x01\x00\x01\x80", 4);
	ck_assert_int_eq(decode(KF_CODEC_LZ4, c, 11, 100, &out), KF_EPROTO);
	/* Trailing bytes that are not another frame. */
	memcpy(c, z.p, z.len);
	c[z.len] = 0;
	ck_assert_int_eq(decode(KF_CODEC_LZ4, c, z.len + 1, 100, &out), KF_EPROTO);
	free(c);
	kf_codec_buf_free(&z);
	kf_codec_buf_free(&out);
}
END_TEST

START_TEST(lz4_two_frames)
{
	struct kf_codec_buf a = { 0 }, b = { 0 }, out = { 0 };
	ck_assert_int_eq(kf_compress(KF_CODEC_LZ4, (const uint8_t *)"hello ", 6, &a), KF_OK);
	ck_assert_int_eq(kf_compress(KF_CODEC_LZ4, (const uint8_t *)"world", 5, &b), KF_OK);
	uint8_t *c = malloc(a.len + b.len);
	memcpy(c, a.p, a.len);
	memcpy(c + a.len, b.p, b.len);
	ck_assert_int_eq(decode(KF_CODEC_LZ4, c, a.len + b.len, 100, &out), KF_OK);
	ck_assert_uint_eq(out.len, 11);
	ck_assert_mem_eq(out.p, "hello world", 11);
	ck_assert_int_eq(decode(KF_CODEC_LZ4, c, a.len + b.len, 10, &out), KF_ETOOBIG);
	free(c);
	kf_codec_buf_free(&a);
	kf_codec_buf_free(&b);
	kf_codec_buf_free(&out);
}
END_TEST

START_TEST(snappy_bad_chunks)
{
	struct kf_codec_buf out = { 0 };
	char err[128];
	uint8_t s[64];
	size_t pos = put_xerial_hdr(s);

	/* Chunk length past the end. */
	put_be32(s + pos, 1000);
	memset(s + pos + 4, 0, 10);
	ck_assert_int_eq(kf_decompress(KF_CODEC_SNAPPY, s, pos + 14, 100, &out,
				       err, sizeof(err)), KF_EPROTO);
	ck_assert_str_eq(err, "snappy: chunk length 1000 past end of input");
	/* A partial chunk length. */
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, s, pos + 2, 100, &out), KF_EPROTO);
	/* An empty chunk is not a snappy block. */
	put_be32(s + pos, 0);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, s, pos + 4, 100, &out), KF_EPROTO);
	/* Magic as a chunk length with a bad rest of header. */
	memcpy(s + pos, "\x82SNAPPY\0", 8);
	put_be32(s + pos + 8, 1);
	put_be32(s + pos + 12, 1);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, s, pos + 16, 100, &out), KF_OK);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, s, pos + 10, 100, &out), KF_EPROTO);
	s[pos + 5] = 'X';
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, s, pos + 16, 100, &out), KF_EPROTO);
	/* Garbage raw block. */
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, (const uint8_t *)"\x05\xff\xff", 3, 100, &out),
			 KF_EPROTO);
	ck_assert_int_eq(decode(KF_CODEC_SNAPPY, (const uint8_t *)"", 0, 100, &out),
			 KF_EPROTO);
	kf_codec_buf_free(&out);
}
END_TEST

START_TEST(unknown_codec)
{
	struct kf_codec_buf out = { 0 };
	char err[128];
	ck_assert_int_eq(kf_decompress(7, (const uint8_t *)"x", 1, 100, &out, err, sizeof(err)),
			 KF_EUNSUPP);
	ck_assert_str_eq(err, "codec: unknown codec 7");
	ck_assert_int_eq(kf_decompress(-1, (const uint8_t *)"x", 1, 100, &out, NULL, 0),
			 KF_EUNSUPP);
	/* A tiny errbuf is cut, still terminated. */
	ck_assert_int_eq(kf_decompress(5, (const uint8_t *)"x", 1, 100, &out, err, 4),
			 KF_EUNSUPP);
	ck_assert_str_eq(err, "cod");
	/* none: a copy, with the limit. */
	ck_assert_int_eq(kf_decompress(KF_CODEC_NONE, (const uint8_t *)"abc", 3, 3, &out,
				       err, sizeof(err)), KF_OK);
	ck_assert_mem_eq(out.p, "abc", 3);
	ck_assert_int_eq(kf_decompress(KF_CODEC_NONE, (const uint8_t *)"abc", 3, 2, &out,
				       err, sizeof(err)), KF_ETOOBIG);
	kf_codec_buf_free(&out);
}
END_TEST

/* Empty input is never a valid stream of a real codec. */
START_TEST(empty_input)
{
	struct kf_codec_buf out = { 0 };
	for (size_t i = 1; i < NCODECS; i++)
		ck_assert_int_eq(decode(codecs[i], NULL, 0, 100, &out), KF_EPROTO);
	ck_assert_int_eq(decode(KF_CODEC_NONE, NULL, 0, 100, &out), KF_OK);
	ck_assert_uint_eq(out.len, 0);
	kf_codec_buf_free(&out);
}
END_TEST

/* Inputs the fuzzers found (tests/fuzz). */
START_TEST(fuzz_regressions)
{
	/* An LZ4 frame whose only block is a stored block of 0 bytes: used
	 * to do arithmetic on the still-NULL output buffer (UBSan). */
	static const uint8_t lz[] = { 0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82,
				      0x00, 0x00, 0x00, 0x80 };
	/* An empty zstd frame, then one declaring 6477 bytes of content but
	 * holding only an empty last block: was accepted or rejected
	 * depending on the output buffer's capacity from earlier calls. */
	static const uint8_t zs[] = { 0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x01,
				      0x00, 0x00, 0x28, 0xb5, 0x2f, 0xfd, 0x50,
				      0x2a, 0x4d, 0x18, 0x01, 0x00, 0x00 };
	struct kf_codec_buf out = { 0 };
	ck_assert_int_eq(decode(KF_CODEC_LZ4, lz, sizeof(lz), 100, &out), KF_EPROTO);
	kf_codec_buf_free(&out);
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, zs, sizeof(zs), 1 << 20, &out), KF_EPROTO);
	kf_codec_buf_free(&out);
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, zs, sizeof(zs), 100, &out), KF_EPROTO);
	uint8_t big[8192] = { 0 };
	ck_assert_int_eq(decode(KF_CODEC_NONE, big, sizeof(big), sizeof(big), &out), KF_OK);
	ck_assert_int_eq(decode(KF_CODEC_ZSTD, zs, sizeof(zs), 1 << 20, &out), KF_EPROTO);
	kf_codec_buf_free(&out);
}
END_TEST

/*
 * Input that decodes past the limit and is corrupt further on is
 * KF_ETOOBIG, however much room the buffer has from earlier calls.  A
 * codec given the whole capacity used to run past the limit and into the
 * corruption within one call (a fuzz_codec finding): KF_EPROTO with a
 * large buffer, KF_ETOOBIG with a fresh one.
 */
START_TEST(room_does_not_decide)
{
	const size_t max = (size_t)1 << 20;
	/* zstd: a 16 MiB window, nine RLE blocks of 128 KiB (1.125 MiB),
	 * then a raw block of 200,000 bytes, over the 128 KiB maximum. */
	uint8_t zs[6 + 9 * 4 + 3] = { 0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x70 };
	for (int i = 0; i < 9; i++)
		memcpy(zs + 6 + 4 * i, "\x02\x00\x10\x61", 4);
	memcpy(zs + 6 + 9 * 4, "\x00\x6a\x18", 3);
	/* gzip: 2 MiB of zeros with its CRC-32 trailer broken. */
	uint8_t *zeros = calloc(1, 8 * max);
	struct kf_codec_buf gz = { 0 }, out = { 0 };
	ck_assert_int_eq(kf_compress(KF_CODEC_GZIP, zeros, 2 * max, &gz), KF_OK);
	gz.p[gz.len - 8] ^= 1;

	for (int big = 0; big < 2; big++) {
		if (big) /* leave the buffer with 8 MiB of capacity */
			ck_assert_int_eq(decode(KF_CODEC_NONE, zeros, 8 * max, 8 * max, &out),
					 KF_OK);
		ck_assert_int_eq(decode(KF_CODEC_ZSTD, zs, sizeof(zs), max, &out), KF_ETOOBIG);
		ck_assert_int_eq(decode(KF_CODEC_ZSTD, zs, sizeof(zs), 2 * max, &out), KF_EPROTO);
		ck_assert_int_eq(decode(KF_CODEC_GZIP, gz.p, gz.len, max, &out), KF_ETOOBIG);
		ck_assert_int_eq(decode(KF_CODEC_GZIP, gz.p, gz.len, 4 * max, &out), KF_EPROTO);
	}
	free(zeros);
	kf_codec_buf_free(&gz);
	kf_codec_buf_free(&out);
}
END_TEST

/* Threads decoding at once, each with its own zstd context. */
struct thread_job {
	const uint8_t *z;
	size_t zlen;
	const uint8_t *data;
	size_t n;
	int bad;
};

static void *thread_decode(void *arg)
{
	struct thread_job *j = arg;
	struct kf_codec_buf out = { 0 };
	for (int i = 0; i < 20; i++) {
		int codec = i % 2 ? KF_CODEC_ZSTD : KF_CODEC_NONE;
		const uint8_t *in = codec == KF_CODEC_ZSTD ? j->z : j->data;
		size_t len = codec == KF_CODEC_ZSTD ? j->zlen : j->n;
		if (kf_decompress(codec, in, len, j->n, &out, NULL, 0) != KF_OK ||
		    out.len != j->n || memcmp(out.p, j->data, j->n) != 0)
			j->bad++;
	}
	kf_codec_buf_free(&out);
	return NULL;
}

START_TEST(threads)
{
	size_t n = 50000;
	uint8_t *data = malloc(n);
	struct kf_codec_buf z = { 0 };
	pthread_t t[4];
	struct thread_job jobs[4];

	fill_text(data, n, 61);
	ck_assert_int_eq(kf_compress(KF_CODEC_ZSTD, data, n, &z), KF_OK);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct thread_job){ z.p, z.len, data, n, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_decode, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(jobs[i].bad, 0);
	}
	free(data);
	kf_codec_buf_free(&z);
}
END_TEST

Suite *suite_codec(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, names);
	tcase_add_loop_test(tc, round_trips, 0, NCODECS);
	tcase_add_test(tc, compress_framing);
	tcase_add_test(tc, gzip_golden);
	tcase_add_test(tc, snappy_golden);
	tcase_add_test(tc, lz4_golden);
	tcase_add_test(tc, lz4_broken_hc);
	tcase_add_test(tc, zstd_golden);
	tcase_add_test(tc, lying_sizes);
	tcase_add_loop_test(tc, truncated, 1, NCODECS);
	tcase_add_loop_test(tc, flipped, 1, NCODECS);
	tcase_add_test(tc, lz4_checksums);
	tcase_add_test(tc, lz4_bad_headers);
	tcase_add_test(tc, lz4_two_frames);
	tcase_add_test(tc, snappy_bad_chunks);
	tcase_add_test(tc, unknown_codec);
	tcase_add_test(tc, empty_input);
	tcase_add_test(tc, fuzz_regressions);
	tcase_add_test(tc, room_does_not_decide);
	tcase_add_test(tc, threads);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	TCase *bomb = tcase_create("bombs");
	tcase_add_loop_test(bomb, bombs, 0, NCODECS);
	tcase_set_timeout(bomb, 300);
	suite_add_tcase(s, bomb);
	return s;
}
