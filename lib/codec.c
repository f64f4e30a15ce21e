/*
 * codec: gzip, snappy (xerial or raw), lz4 (frame) and zstd for record
 * batches.
 *
 * Every decoder treats its input as hostile: lengths are checked against
 * what is left of the input before anything is read, and against what is
 * left of max_out before anything is allocated.  Output goes to one
 * caller-owned buffer that grows geometrically but never far past max_out:
 *   gzip, zstd     at most max_out + 1 bytes (the extra byte tells "exactly
 *                  max_out" from "more")
 *   snappy, lz4    the size of each block is known (snappy) or bounded by
 *                  the frame's block size (lz4, at most 4 MiB) before it is
 *                  decoded, so at most max_out + one lz4 block.
 *
 * The LZ4 frame is parsed here rather than with LZ4F: Kafka clients before
 * KIP-57 computed the header checksum over the magic too, which LZ4F
 * rejects.  Both checksums are accepted for every frame: the batch layer
 * does not pass the batch magic in, and the batch's own CRC already covers
 * these bytes, so the one-byte HC adds little either way.
 * Linked (dependent) blocks are decoded too, with the previous 64 KiB of
 * output as dictionary: Kafka's Java client writes independent blocks, but
 * LZ4F's default is linked and accepting it costs one argument.
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "codec.h"
#include "err.h"

static const char *const codec_names[] = { "none", "gzip", "snappy", "lz4", "zstd" };

const char *kf_codec_name(int codec)
{
	if (codec < 0 || codec >= (int)(sizeof(codec_names) / sizeof(codec_names[0])))
		return "?";
	return codec_names[codec];
}

int kf_codec_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(codec_names) / sizeof(codec_names[0]); i++)
		if (strcmp(name, codec_names[i]) == 0)
			return (int)i;
	return -1;
}

void kf_codec_buf_free(struct kf_codec_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

/* Writes "<prefix>: <reason>" to errbuf (when there is one) and returns rc. */
__attribute__((format(printf, 5, 6)))
static int fail(char *errbuf, size_t errlen, int rc, const char *prefix,
		const char *fmt, ...)
{
	if (errbuf && errlen) {
		int n = snprintf(errbuf, errlen, "%s: ", prefix);
		if (n >= 0 && (size_t)n < errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return rc;
}

static size_t add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/*
 * Makes b->cap at least need, keeping b->p[0..len).  Grows geometrically
 * but allocates no more than max(need, limit) bytes, so the limit (max_out
 * plus the codec's slack) bounds the buffer however the input behaves.
 */
static int buf_reserve(struct kf_codec_buf *b, size_t need, size_t limit)
{
	if (need <= b->cap)
		return KF_OK;
	size_t ncap = b->cap > SIZE_MAX / 2 ? SIZE_MAX : b->cap * 2;
	if (ncap < 4096)
		ncap = 4096;
	if (ncap < need)
		ncap = need;
	if (ncap > limit)
		ncap = need > limit ? need : limit;
	uint8_t *p = realloc(b->p, ncap);
	if (!p)
		return KF_ENOMEM;
	b->p = p;
	b->cap = ncap;
	return KF_OK;
}

/*
 * The room a streaming codec may fill in one call: up to limit, never the
 * whole capacity, which an earlier, larger input may have left.  Given
 * more, a codec could decode past max_out and into corrupt data in the
 * same call, and its verdict (KF_EPROTO rather than KF_ETOOBIG) would
 * depend on the buffer's history.
 */
static size_t room_below(const struct kf_codec_buf *b, size_t limit)
{
	size_t end = b->cap < limit ? b->cap : limit;
	return end - b->len;
}

static uint32_t rd_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t rd_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	       (uint32_t)p[3];
}

static void wr_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void wr_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- XXH32, from the xxHash specification (xxhash_spec.md) ---- */

#define XXH_P1 2654435761u
#define XXH_P2 2246822519u
#define XXH_P3 3266489917u
#define XXH_P4 668265263u
#define XXH_P5 374761393u

static uint32_t rotl32(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static uint32_t xxh32_round(uint32_t acc, uint32_t lane)
{
	acc += lane * XXH_P2;
	return rotl32(acc, 13) * XXH_P1;
}

static uint32_t xxh32(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *p = buf;
	const uint8_t *end = p + len;
	uint32_t h;

	if (len >= 16) {
		uint32_t v1 = seed + XXH_P1 + XXH_P2;
		uint32_t v2 = seed + XXH_P2;
		uint32_t v3 = seed;
		uint32_t v4 = seed - XXH_P1;
		do {
			v1 = xxh32_round(v1, rd_le32(p));
			v2 = xxh32_round(v2, rd_le32(p + 4));
			v3 = xxh32_round(v3, rd_le32(p + 8));
			v4 = xxh32_round(v4, rd_le32(p + 12));
			p += 16;
		} while (end - p >= 16);
		h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
	} else {
		h = seed + XXH_P5;
	}
	h += (uint32_t)len; /* the spec adds the length modulo 2^32 */
	while (end - p >= 4) {
		h += rd_le32(p) * XXH_P3;
		h = rotl32(h, 17) * XXH_P4;
		p += 4;
	}
	while (p < end) {
		h += *p++ * XXH_P5;
		h = rotl32(h, 11) * XXH_P1;
	}
	h ^= h >> 15;
	h *= XXH_P2;
	h ^= h >> 13;
	h *= XXH_P3;
	h ^= h >> 16;
	return h;
}

/* ---- none ---- */

static int none_decompress(const uint8_t *in, size_t in_len, size_t max_out,
			   struct kf_codec_buf *out, char *errbuf, size_t errlen)
{
	if (in_len > max_out)
		return fail(errbuf, errlen, KF_ETOOBIG, "none",
			    "%zu bytes over the limit of %zu", in_len, max_out);
	if (buf_reserve(out, in_len, in_len) != KF_OK)
		return fail(errbuf, errlen, KF_ENOMEM, "none", "out of memory");
	if (in_len)
		memcpy(out->p, in, in_len);
	out->len = in_len;
	return KF_OK;
}

/* ---- gzip ---- */

static bool is_gzip_member(const uint8_t *p, size_t n)
{
	return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/*
 * Streams zlib into out, growing it up to limit = max_out + 1.  Members
 * of a multi-member file (gzip's own concatenation) are decoded in turn;
 * anything else after a member is an error, as is input that ends inside
 * one.  zlib's counters are uInt, hence the chunking.
 */
static int gzip_run(z_stream *zs, const uint8_t *in, size_t in_len, size_t max_out,
		    struct kf_codec_buf *out, char *errbuf, size_t errlen)
{
	size_t limit = add_sat(max_out, 1);
	size_t in_pos = 0;

	if (buf_reserve(out, in_len > limit / 4 ? limit : in_len * 4, limit) != KF_OK)
		return fail(errbuf, errlen, KF_ENOMEM, "gzip", "out of memory");
	for (;;) {
		if (zs->avail_in == 0 && in_pos < in_len) {
			size_t n = in_len - in_pos;
			zs->next_in = (Bytef *)(uintptr_t)(in + in_pos);
			zs->avail_in = n > UINT_MAX ? UINT_MAX : (uInt)n;
			in_pos += zs->avail_in;
		}
		if (out->len == out->cap &&
		    buf_reserve(out, add_sat(out->cap, 1), limit) != KF_OK)
			return fail(errbuf, errlen, KF_ENOMEM, "gzip", "out of memory");
		size_t room = room_below(out, limit);
		uInt avail = room > UINT_MAX ? UINT_MAX : (uInt)room;
		zs->next_out = out->p + out->len;
		zs->avail_out = avail;
		int ret = inflate(zs, Z_NO_FLUSH);
		out->len += avail - zs->avail_out;
		if (out->len > max_out)
			return fail(errbuf, errlen, KF_ETOOBIG, "gzip",
				    "output over the limit of %zu bytes", max_out);
		switch (ret) {
		case Z_OK:
			continue;
		case Z_STREAM_END: {
			size_t left = zs->avail_in + (in_len - in_pos);
			const uint8_t *next = zs->avail_in ? zs->next_in : in + in_pos;
			if (left == 0)
				return KF_OK;
			if (!is_gzip_member(next, left))
				return fail(errbuf, errlen, KF_EPROTO, "gzip",
					    "%zu bytes of trailing garbage", left);
			inflateReset(zs);
			continue;
		}
		case Z_BUF_ERROR:
			/* No progress possible: out of input (out of room is
			 * handled by growing above). */
			if (zs->avail_in == 0 && in_pos == in_len)
				return fail(errbuf, errlen, KF_EPROTO, "gzip",
					    "truncated stream");
			continue;
		case Z_MEM_ERROR:
			return fail(errbuf, errlen, KF_ENOMEM, "gzip", "out of memory");
		default:
			return fail(errbuf, errlen, KF_EPROTO, "gzip", "%s",
				    zs->msg ? zs->msg : "corrupt stream");
		}
	}
}

static int gzip_decompress(const uint8_t *in, size_t in_len, size_t max_out,
			   struct kf_codec_buf *out, char *errbuf, size_t errlen)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	/* 16 + MAX_WBITS: gzip wrapper only, not zlib or raw deflate. */
	int ret = inflateInit2(&zs, 16 + MAX_WBITS);
	if (ret != Z_OK)
		return fail(errbuf, errlen, ret == Z_MEM_ERROR ? KF_ENOMEM : KF_ERR,
			    "gzip", "inflateInit2 failed (%d)", ret);
	int rc = gzip_run(&zs, in, in_len, max_out, out, errbuf, errlen);
	inflateEnd(&zs);
	return rc;
}

/* ---- snappy ---- */

/* xerial's stream header: magic, then version and min compatible version. */
static const uint8_t xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };
#define XERIAL_HDR_LEN 16
#define XERIAL_BLOCK (32 * 1024)

/* Appends one raw snappy block, checking its declared size first. */
static int snappy_block(const uint8_t *blk, size_t n, size_t max_out,
			struct kf_codec_buf *out, char *errbuf, size_t errlen)
{
	size_t ulen;

	if (snappy_uncompressed_length((const char *)blk, n, &ulen) != SNAPPY_OK)
		return fail(errbuf, errlen, KF_EPROTO, "snappy", "bad block header");
	if (ulen > max_out - out->len)
		return fail(errbuf, errlen, KF_ETOOBIG, "snappy",
			    "output over the limit of %zu bytes", max_out);
	if (buf_reserve(out, out->len + ulen, max_out) != KF_OK)
		return fail(errbuf, errlen, KF_ENOMEM, "snappy", "out of memory");
	/* snappy_uncompress bounds-checks input and output as it goes and
	 * fails unless it produced exactly ulen bytes, so no separate
	 * snappy_validate_compressed_buffer pass is needed. */
	size_t got = ulen;
	if (ulen && snappy_uncompress((const char *)blk, n,
				      (char *)out->p + out->len, &got) != SNAPPY_OK)
		return fail(errbuf, errlen, KF_EPROTO, "snappy", "corrupt block");
	if (!ulen && n != 1) /* an empty block is the single varint 0 */
		return fail(errbuf, errlen, KF_EPROTO, "snappy", "corrupt block");
	out->len += ulen;
	return KF_OK;
}

static int snappy_decompress(const uint8_t *in, size_t in_len, size_t max_out,
			     struct kf_codec_buf *out, char *errbuf, size_t errlen)
{
	if (in_len < XERIAL_HDR_LEN || memcmp(in, xerial_magic, 8) != 0)
		return snappy_block(in, in_len, max_out, out, errbuf, errlen);

	size_t pos = XERIAL_HDR_LEN;
	while (pos < in_len) {
		if (in_len - pos < 4)
			return fail(errbuf, errlen, KF_EPROTO, "snappy",
				    "truncated chunk length");
		uint32_t clen = rd_be32(in + pos);
		pos += 4;
		if (clen == rd_be32(xerial_magic)) {
			/* Another stream's header: skip its other 12 bytes. */
			if (in_len - pos < XERIAL_HDR_LEN - 4 ||
			    memcmp(in + pos, xerial_magic + 4, 4) != 0)
				return fail(errbuf, errlen, KF_EPROTO, "snappy",
					    "bad concatenated stream header");
			pos += XERIAL_HDR_LEN - 4;
			continue;
		}
		if (clen > in_len - pos)
			return fail(errbuf, errlen, KF_EPROTO, "snappy",
				    "chunk length %u past end of input", clen);
		int rc = snappy_block(in + pos, clen, max_out, out, errbuf, errlen);
		if (rc != KF_OK)
			return rc;
		pos += clen;
	}
	return KF_OK;
}

/* ---- lz4 ---- */

#define LZ4F_MAGIC 0x184d2204u
#define LZ4_FLG_VERSION_MASK 0xc0
#define LZ4_FLG_VERSION_1 0x40
#define LZ4_FLG_INDEP 0x20
#define LZ4_FLG_BLOCK_CSUM 0x10
#define LZ4_FLG_CONTENT_SIZE 0x08
#define LZ4_FLG_CONTENT_CSUM 0x04
#define LZ4_FLG_RESERVED 0x02
#define LZ4_FLG_DICT_ID 0x01
#define LZ4_BD_RESERVED 0x8f
#define LZ4_BLOCK_UNCOMPRESSED 0x80000000u
#define LZ4_DICT_SIZE (64 * 1024)

struct lz4_frame {
	uint8_t flg;
	size_t block_max;
	bool has_size;
	uint64_t content_size;
};

/* Reads magic, descriptor and HC at in[*pos..]; advances *pos past them. */
static int lz4_header(const uint8_t *in, size_t in_len, size_t *pos,
		      struct lz4_frame *f, char *errbuf, size_t errlen)
{
	const uint8_t *h = in + *pos;
	size_t left = in_len - *pos;

	if (left < 7)
		return fail(errbuf, errlen, KF_EPROTO, "lz4", "truncated frame header");
	if (rd_le32(h) != LZ4F_MAGIC)
		return fail(errbuf, errlen, KF_EPROTO, "lz4", "bad magic 0x%08x", rd_le32(h));
	f->flg = h[4];
	uint8_t bd = h[5];
	if ((f->flg & LZ4_FLG_VERSION_MASK) != LZ4_FLG_VERSION_1)
		return fail(errbuf, errlen, KF_EUNSUPP, "lz4", "frame version %d",
			    f->flg >> 6);
	if ((f->flg & LZ4_FLG_RESERVED) || (bd & LZ4_BD_RESERVED))
		return fail(errbuf, errlen, KF_EPROTO, "lz4", "reserved bits set");
	if (f->flg & LZ4_FLG_DICT_ID)
		return fail(errbuf, errlen, KF_EUNSUPP, "lz4", "dictionary id");
	int bsid = (bd >> 4) & 7;
	if (bsid < 4)
		return fail(errbuf, errlen, KF_EPROTO, "lz4", "block size id %d", bsid);
	f->block_max = (size_t)1 << (8 + 2 * bsid); /* 4: 64 KiB ... 7: 4 MiB */

	size_t desc_len = 2; /* FLG, BD */
	f->has_size = f->flg & LZ4_FLG_CONTENT_SIZE;
	if (f->has_size)
		desc_len += 8;
	if (left < 4 + desc_len + 1)
		return fail(errbuf, errlen, KF_EPROTO, "lz4", "truncated frame header");
	f->content_size = 0;
	for (int i = 7; f->has_size && i >= 0; i--)
		f->content_size = f->content_size << 8 | h[6 + i];
	uint8_t hc = h[4 + desc_len];
	uint8_t good = (uint8_t)(xxh32(h + 4, desc_len, 0) >> 8);
	uint8_t broken = (uint8_t)(xxh32(h, 4 + desc_len, 0) >> 8);
	if (hc != good && hc != broken)
		return fail(errbuf, errlen, KF_ECRC, "lz4", "header checksum mismatch");
	*pos += 4 + desc_len + 1;
	return KF_OK;
}

/* Decodes one frame starting at in[*pos], appending to out. */
static int lz4_frame(const uint8_t *in, size_t in_len, size_t *pos, size_t max_out,
		     struct kf_codec_buf *out, char *errbuf, size_t errlen)
{
	struct lz4_frame f = { 0 };
	size_t start = out->len;
	int rc = lz4_header(in, in_len, pos, &f, errbuf, errlen);
	if (rc != KF_OK)
		return rc;
	if (f.has_size && f.content_size > max_out - out->len)
		return fail(errbuf, errlen, KF_ETOOBIG, "lz4",
			    "content size %llu over the limit of %zu bytes",
			    (unsigned long long)f.content_size, max_out);
	size_t csum_len = (f.flg & LZ4_FLG_BLOCK_CSUM) ? 4 : 0;
	size_t limit = add_sat(max_out, f.block_max);

	for (;;) {
		if (in_len - *pos < 4)
			return fail(errbuf, errlen, KF_EPROTO, "lz4", "truncated block size");
		uint32_t bsz = rd_le32(in + *pos);
		*pos += 4;
		if (bsz == 0)
			break; /* end mark */
		bool raw = bsz & LZ4_BLOCK_UNCOMPRESSED;
		size_t n = bsz & ~LZ4_BLOCK_UNCOMPRESSED;
		if (n > f.block_max)
			return fail(errbuf, errlen, KF_EPROTO, "lz4",
				    "block of %zu bytes over the frame's maximum", n);
		if (in_len - *pos < n + csum_len)
			return fail(errbuf, errlen, KF_EPROTO, "lz4", "truncated block");
		const uint8_t *blk = in + *pos;
		if (csum_len && xxh32(blk, n, 0) != rd_le32(blk + n))
			return fail(errbuf, errlen, KF_ECRC, "lz4", "block checksum mismatch");
		*pos += n + csum_len;
		if (raw) {
			if (n > max_out - out->len)
				return fail(errbuf, errlen, KF_ETOOBIG, "lz4",
					    "output over the limit of %zu bytes", max_out);
			if (buf_reserve(out, out->len + n, limit) != KF_OK)
				return fail(errbuf, errlen, KF_ENOMEM, "lz4", "out of memory");
			memcpy(out->p + out->len, blk, n);
			out->len += n;
			continue;
		}
		/* The decoded size is only known afterwards: room for a whole
		 * block, and the limit is checked after. */
		if (buf_reserve(out, out->len + f.block_max, limit) != KF_OK)
			return fail(errbuf, errlen, KF_ENOMEM, "lz4", "out of memory");
		char *dst = (char *)out->p + out->len;
		int got;
		if (f.flg & LZ4_FLG_INDEP) {
			got = LZ4_decompress_safe((const char *)blk, dst, (int)n,
						  (int)f.block_max);
		} else {
			/* Linked blocks may refer to the frame's previous
			 * 64 KiB, which sit right before dst. */
			size_t dict = out->len - start;
			if (dict > LZ4_DICT_SIZE)
				dict = LZ4_DICT_SIZE;
			got = LZ4_decompress_safe_usingDict((const char *)blk, dst, (int)n,
							    (int)f.block_max, dst - dict,
							    (int)dict);
		}
		if (got < 0)
			return fail(errbuf, errlen, KF_EPROTO, "lz4", "corrupt block");
		out->len += (size_t)got;
		if (out->len > max_out)
			return fail(errbuf, errlen, KF_ETOOBIG, "lz4",
				    "output over the limit of %zu bytes", max_out);
	}
	if (f.flg & LZ4_FLG_CONTENT_CSUM) {
		if (in_len - *pos < 4)
			return fail(errbuf, errlen, KF_EPROTO, "lz4", "truncated content checksum");
		if (xxh32(out->p + start, out->len - start, 0) != rd_le32(in + *pos))
			return fail(errbuf, errlen, KF_ECRC, "lz4", "content checksum mismatch");
		*pos += 4;
	}
	if (f.has_size && f.content_size != out->len - start)
		return fail(errbuf, errlen, KF_EPROTO, "lz4",
			    "content size %llu but %zu bytes decoded",
			    (unsigned long long)f.content_size, out->len - start);
	return KF_OK;
}

/* One or more frames back to back; at least one. */
static int lz4_decompress(const uint8_t *in, size_t in_len, size_t max_out,
			  struct kf_codec_buf *out, char *errbuf, size_t errlen)
{
	size_t pos = 0;
	do {
		int rc = lz4_frame(in, in_len, &pos, max_out, out, errbuf, errlen);
		if (rc != KF_OK)
			return rc;
	} while (pos < in_len);
	return KF_OK;
}

/* ---- zstd ---- */

/*
 * One decompression context per thread, made on first use and reused (a
 * ZSTD_DCtx costs ~100 KiB plus its window buffers to build).  The key's
 * destructor frees it when a thread exits.
 */
static pthread_key_t zstd_key;
static pthread_once_t zstd_key_once = PTHREAD_ONCE_INIT;
static bool zstd_key_ok;

static void zstd_dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void zstd_key_init(void)
{
	zstd_key_ok = pthread_key_create(&zstd_key, zstd_dctx_free) == 0;
}

static ZSTD_DCtx *zstd_dctx(void)
{
	pthread_once(&zstd_key_once, zstd_key_init);
	if (!zstd_key_ok)
		return NULL;
	ZSTD_DCtx *d = pthread_getspecific(zstd_key);
	if (d)
		return d;
	d = ZSTD_createDCtx();
	if (d && pthread_setspecific(zstd_key, d) != 0) {
		ZSTD_freeDCtx(d);
		d = NULL;
	}
	return d;
}

/* First guess of the output size: the first frame's declared size when it
 * has one, otherwise a multiple of the input; growth takes over later. */
static size_t zstd_size_hint(const uint8_t *in, size_t in_len, size_t limit)
{
	unsigned long long cs = ZSTD_getFrameContentSize(in, in_len);
	size_t hint;
	if (cs != ZSTD_CONTENTSIZE_UNKNOWN && cs != ZSTD_CONTENTSIZE_ERROR)
		hint = cs < limit ? (size_t)cs : limit;
	else
		hint = in_len > limit / 4 ? limit : in_len * 4;
	return hint;
}

static int zstd_decompress(const uint8_t *in, size_t in_len, size_t max_out,
			   struct kf_codec_buf *out, char *errbuf, size_t errlen)
{
	ZSTD_DCtx *d = zstd_dctx();
	if (!d)
		return fail(errbuf, errlen, KF_ENOMEM, "zstd", "cannot create context");
	ZSTD_DCtx_reset(d, ZSTD_reset_session_only);

	size_t limit = add_sat(max_out, 1);
	if (buf_reserve(out, zstd_size_hint(in, in_len, limit), limit) != KF_OK)
		return fail(errbuf, errlen, KF_ENOMEM, "zstd", "out of memory");
	ZSTD_inBuffer ib = { in, in_len, 0 };
	size_t frame_in = 0, frame_out = 0; /* where the current frame began */
	for (;;) {
		if (out->len == out->cap &&
		    buf_reserve(out, add_sat(out->cap, 1), limit) != KF_OK)
			return fail(errbuf, errlen, KF_ENOMEM, "zstd", "out of memory");
		ZSTD_outBuffer ob = { out->p, out->len + room_below(out, limit), out->len };
		size_t ret = ZSTD_decompressStream(d, &ob, &ib);
		out->len = ob.pos;
		if (ZSTD_isError(ret)) {
			ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
			return fail(errbuf, errlen, KF_EPROTO, "zstd", "%s",
				    ZSTD_getErrorName(ret));
		}
		if (out->len > max_out)
			return fail(errbuf, errlen, KF_ETOOBIG, "zstd",
				    "output over the limit of %zu bytes", max_out);
		if (ret == 0) {
			/* A frame ended.  libzstd checks a declared content size
			 * only when it decodes straight into a large enough
			 * buffer, so whether a lying frame passed would depend on
			 * the buffer's history: check it here, always. */
			unsigned long long cs =
				ZSTD_getFrameContentSize(in + frame_in, in_len - frame_in);
			if (cs != ZSTD_CONTENTSIZE_UNKNOWN && cs != ZSTD_CONTENTSIZE_ERROR &&
			    cs != out->len - frame_out)
				return fail(errbuf, errlen, KF_EPROTO, "zstd",
					    "frame content size %llu, decoded %zu", cs,
					    out->len - frame_out);
			frame_in = ib.pos;
			frame_out = out->len;
		}
		if (ret == 0 && ib.pos == ib.size)
			return KF_OK; /* last frame complete and flushed */
		/* ret == 0 with input left: the next frame (or garbage, which
		 * the next call reports).  Otherwise, input used up while the
		 * output still had room means the frame was cut short. */
		if (ret != 0 && ib.pos == ib.size && ob.pos < ob.size)
			return fail(errbuf, errlen, KF_EPROTO, "zstd", "truncated frame");
	}
}

int kf_decompress(int codec, const uint8_t *in, size_t in_len, size_t max_out,
		  struct kf_codec_buf *out, char *errbuf, size_t errlen)
{
	static const uint8_t empty[1];

	if (errbuf && errlen)
		errbuf[0] = '\0';
	out->len = 0;
	if (in_len == 0)
		in = empty; /* no pointer arithmetic on a NULL in below */
	/* Nor on a NULL out->p: an empty result still has a buffer, so callers
	 * (and the codecs) can form out->p + out->len. */
	if (!out->p && buf_reserve(out, 1, 1) != KF_OK)
		return fail(errbuf, errlen, KF_ENOMEM, "codec", "out of memory");
	switch (codec) {
	case KF_CODEC_NONE:
		return none_decompress(in, in_len, max_out, out, errbuf, errlen);
	case KF_CODEC_GZIP:
		return gzip_decompress(in, in_len, max_out, out, errbuf, errlen);
	case KF_CODEC_SNAPPY:
		return snappy_decompress(in, in_len, max_out, out, errbuf, errlen);
	case KF_CODEC_LZ4:
		return lz4_decompress(in, in_len, max_out, out, errbuf, errlen);
	case KF_CODEC_ZSTD:
		return zstd_decompress(in, in_len, max_out, out, errbuf, errlen);
	default:
		return fail(errbuf, errlen, KF_EUNSUPP, "codec", "unknown codec %d", codec);
	}
}

/* ---- compression, in the Java producer's framings ---- */

static int gzip_compress(const uint8_t *in, size_t in_len, struct kf_codec_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return KF_ENOMEM;
	int rc = buf_reserve(out, deflateBound(&zs, in_len), SIZE_MAX);
	size_t in_pos = 0;
	int ret = Z_OK;
	while (rc == KF_OK && ret != Z_STREAM_END) {
		if (zs.avail_in == 0 && in_pos < in_len) {
			size_t n = in_len - in_pos;
			zs.next_in = (Bytef *)(uintptr_t)(in + in_pos);
			zs.avail_in = n > UINT_MAX ? UINT_MAX : (uInt)n;
			in_pos += zs.avail_in;
		}
		if (out->len == out->cap)
			rc = buf_reserve(out, add_sat(out->cap, 1), SIZE_MAX);
		if (rc != KF_OK)
			break;
		size_t room = out->cap - out->len;
		uInt avail = room > UINT_MAX ? UINT_MAX : (uInt)room;
		zs.next_out = out->p + out->len;
		zs.avail_out = avail;
		ret = deflate(&zs, in_pos == in_len ? Z_FINISH : Z_NO_FLUSH);
		out->len += avail - zs.avail_out;
		if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
			rc = KF_ERR;
	}
	deflateEnd(&zs);
	return rc;
}

/* xerial framing with 32 KiB chunks, as SnappyOutputStream writes it. */
static int snappy_compress_xerial(const uint8_t *in, size_t in_len,
				  struct kf_codec_buf *out)
{
	size_t nchunks = in_len / XERIAL_BLOCK + 1;
	size_t need = XERIAL_HDR_LEN +
		      nchunks * (4 + snappy_max_compressed_length(XERIAL_BLOCK));
	if (buf_reserve(out, need, need) != KF_OK)
		return KF_ENOMEM;
	memcpy(out->p, xerial_magic, 8);
	wr_be32(out->p + 8, 1);  /* version */
	wr_be32(out->p + 12, 1); /* minimum compatible version */
	out->len = XERIAL_HDR_LEN;
	for (size_t pos = 0; pos < in_len; pos += XERIAL_BLOCK) {
		size_t n = in_len - pos < XERIAL_BLOCK ? in_len - pos : XERIAL_BLOCK;
		size_t clen = snappy_max_compressed_length(n);
		if (snappy_compress((const char *)in + pos, n,
				    (char *)out->p + out->len + 4, &clen) != SNAPPY_OK)
			return KF_ERR;
		wr_be32(out->p + out->len, (uint32_t)clen);
		out->len += 4 + clen;
	}
	return KF_OK;
}

/*
 * The frame KafkaLZ4BlockOutputStream writes: FLG 0x60 (version 1,
 * independent blocks, no checksums, no content size), BD 0x40 (64 KiB
 * blocks), the correct HC, blocks stored raw when they do not shrink, end
 * mark.
 */
#define LZ4_KAFKA_BLOCK (64 * 1024)

static int lz4_compress_frame(const uint8_t *in, size_t in_len, struct kf_codec_buf *out)
{
	size_t nblocks = in_len / LZ4_KAFKA_BLOCK + 1;
	size_t need = 7 + nblocks * (4 + (size_t)LZ4_compressBound(LZ4_KAFKA_BLOCK)) + 4;
	if (buf_reserve(out, need, need) != KF_OK)
		return KF_ENOMEM;
	uint8_t *p = out->p;
	wr_le32(p, LZ4F_MAGIC);
	p[4] = LZ4_FLG_VERSION_1 | LZ4_FLG_INDEP;
	p[5] = 4 << 4;
	p[6] = (uint8_t)(xxh32(p + 4, 2, 0) >> 8);
	out->len = 7;
	for (size_t pos = 0; pos < in_len; pos += LZ4_KAFKA_BLOCK) {
		int n = (int)(in_len - pos < LZ4_KAFKA_BLOCK ? in_len - pos : LZ4_KAFKA_BLOCK);
		uint8_t *dst = out->p + out->len;
		int c = LZ4_compress_default((const char *)in + pos, (char *)dst + 4, n,
					     LZ4_compressBound(n));
		if (c <= 0 || c >= n) {
			memcpy(dst + 4, in + pos, (size_t)n);
			wr_le32(dst, (uint32_t)n | LZ4_BLOCK_UNCOMPRESSED);
			c = n;
		} else {
			wr_le32(dst, (uint32_t)c);
		}
		out->len += 4 + (size_t)c;
	}
	wr_le32(out->p + out->len, 0);
	out->len += 4;
	return KF_OK;
}

/* Streaming, without the content size in the header, as zstd-jni's
 * ZstdOutputStream writes it; level 3, Kafka's default. */
static int zstd_compress(const uint8_t *in, size_t in_len, struct kf_codec_buf *out)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	if (!c)
		return KF_ENOMEM;
	int rc = KF_OK;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0)))
		rc = KF_ERR;
	if (rc == KF_OK)
		rc = buf_reserve(out, ZSTD_compressBound(in_len), SIZE_MAX);
	ZSTD_inBuffer ib = { in, in_len, 0 };
	size_t ret = 1;
	while (rc == KF_OK && ret != 0) {
		if (out->len == out->cap)
			rc = buf_reserve(out, add_sat(out->cap, 1), SIZE_MAX);
		if (rc != KF_OK)
			break;
		ZSTD_outBuffer ob = { out->p, out->cap, out->len };
		ret = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
		out->len = ob.pos;
		if (ZSTD_isError(ret))
			rc = KF_ERR;
	}
	ZSTD_freeCCtx(c);
	return rc;
}

int kf_compress(int codec, const uint8_t *in, size_t in_len, struct kf_codec_buf *out)
{
	out->len = 0;
	switch (codec) {
	case KF_CODEC_NONE:
		return none_decompress(in, in_len, SIZE_MAX, out, NULL, 0);
	case KF_CODEC_GZIP:
		return gzip_compress(in, in_len, out);
	case KF_CODEC_SNAPPY:
		return snappy_compress_xerial(in, in_len, out);
	case KF_CODEC_LZ4:
		return lz4_compress_frame(in, in_len, out);
	case KF_CODEC_ZSTD:
		return zstd_compress(in, in_len, out);
	default:
		return KF_EUNSUPP;
	}
}
