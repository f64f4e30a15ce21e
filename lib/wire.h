/*
 * wire: the one cursor every byte from the network is read through, and the
 * growable writer every request is built with.
 *
 * Reader (struct kf_rd): every read either gets all its bytes or fails.  The
 * first failure is sticky: it records what was being read and where, later
 * reads return zero values and change nothing, so a decoder can read a whole
 * structure and check kf_rd_ok() once.  Nothing reads outside [buf, buf+len).
 *
 * Writer (struct kf_wr): appends big-endian primitives to a heap buffer that
 * grows as needed; writers return the offset they wrote at so lengths and
 * counts can be patched afterwards (kf_wr_patch_i32).  An allocation failure
 * is sticky too (kf_wr_ok).
 *
 * Both are plain values owned by the caller; the reader never owns its bytes.
 */
#ifndef KF_WIRE_H
#define KF_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"

struct kf_rd {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	int err;              /* KF_OK, or the first error (KF_ESHORT, KF_EPROTO) */
	size_t err_pos;       /* offset of the first failed read */
	const char *err_what; /* static text: what was being read */
};

static inline void kf_rd_init(struct kf_rd *rd, const void *buf, size_t len)
{
	rd->buf = buf;
	rd->len = len;
	rd->pos = 0;
	rd->err = KF_OK;
	rd->err_pos = 0;
	rd->err_what = NULL;
}

static inline bool kf_rd_ok(const struct kf_rd *rd) { return rd->err == KF_OK; }
static inline size_t kf_rd_left(const struct kf_rd *rd) { return rd->err ? 0 : rd->len - rd->pos; }
static inline const uint8_t *kf_rd_ptr(const struct kf_rd *rd) { return rd->buf + rd->pos; }

/* Mark the reader failed (first failure wins).  Returns 0 for convenience. */
static inline int kf_rd_fail(struct kf_rd *rd, int err, const char *what)
{
	if (rd->err == KF_OK) {
		rd->err = err;
		rd->err_pos = rd->pos;
		rd->err_what = what;
	}
	return 0;
}

/* True when n more bytes can be read; otherwise fails the reader (KF_ESHORT). */
static inline bool kf_rd_need(struct kf_rd *rd, size_t n, const char *what)
{
	if (rd->err)
		return false;
	if (rd->len - rd->pos < n) {
		kf_rd_fail(rd, KF_ESHORT, what);
		return false;
	}
	return true;
}

static inline int8_t kf_rd_i8(struct kf_rd *rd)
{
	if (!kf_rd_need(rd, 1, "int8"))
		return 0;
	return (int8_t)rd->buf[rd->pos++];
}

static inline int16_t kf_rd_i16(struct kf_rd *rd)
{
	if (!kf_rd_need(rd, 2, "int16"))
		return 0;
	const uint8_t *p = rd->buf + rd->pos;
	rd->pos += 2;
	return (int16_t)(uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t kf_rd_u32(struct kf_rd *rd)
{
	if (!kf_rd_need(rd, 4, "int32"))
		return 0;
	const uint8_t *p = rd->buf + rd->pos;
	rd->pos += 4;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline int32_t kf_rd_i32(struct kf_rd *rd) { return (int32_t)kf_rd_u32(rd); }

static inline int64_t kf_rd_i64(struct kf_rd *rd)
{
	if (!kf_rd_need(rd, 8, "int64"))
		return 0;
	const uint8_t *p = rd->buf + rd->pos;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	rd->pos += 8;
	return (int64_t)v;
}

static inline bool kf_rd_bool(struct kf_rd *rd) { return kf_rd_i8(rd) != 0; }

/* Unsigned LEB128 of at most max_bytes bytes (5 for 32-bit, 10 for 64-bit). */
static inline uint64_t kf_rd_uvar_n(struct kf_rd *rd, int max_bytes, const char *what)
{
	uint64_t v = 0;
	if (rd->err)
		return 0;
	for (int i = 0, shift = 0; i < max_bytes; i++, shift += 7) {
		if (rd->pos >= rd->len) {
			kf_rd_fail(rd, KF_ESHORT, what);
			return 0;
		}
		uint8_t b = rd->buf[rd->pos++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (max_bytes == 5 && v > UINT32_MAX)
				break;
			return v;
		}
	}
	kf_rd_fail(rd, KF_EPROTO, what);
	return 0;
}

static inline uint32_t kf_rd_uvarint(struct kf_rd *rd)
{
	return (uint32_t)kf_rd_uvar_n(rd, 5, "uvarint");
}

/* Zigzag varint (record fields). */
static inline int32_t kf_rd_varint(struct kf_rd *rd)
{
	uint32_t u = (uint32_t)kf_rd_uvar_n(rd, 5, "varint");
	return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

static inline int64_t kf_rd_varlong(struct kf_rd *rd)
{
	uint64_t u = kf_rd_uvar_n(rd, 10, "varlong");
	return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

static inline const uint8_t *kf_rd_raw(struct kf_rd *rd, size_t n, const char *what)
{
	if (!kf_rd_need(rd, n, what))
		return NULL;
	const uint8_t *p = rd->buf + rd->pos;
	rd->pos += n;
	return p;
}

static inline void kf_rd_skip(struct kf_rd *rd, size_t n) { (void)kf_rd_raw(rd, n, "skip"); }

/*
 * Length-prefixed blobs.  Each returns the length (-1 for null) and points
 * *p into the reader's buffer (no copy, no NUL terminator).  A negative
 * length other than -1, or a length past the end, fails the reader.
 *   string:         int16 length        bytes: int32 length
 *   compact_string: uvarint length+1    compact_bytes: uvarint length+1
 */
int32_t kf_rd_string(struct kf_rd *rd, const uint8_t **p);
int32_t kf_rd_bytes(struct kf_rd *rd, const uint8_t **p);
int32_t kf_rd_compact_string(struct kf_rd *rd, const uint8_t **p);
int32_t kf_rd_compact_bytes(struct kf_rd *rd, const uint8_t **p);

/*
 * Array element count: int32 (non-flexible) or uvarint N+1 (compact).
 * Returns -1 for a null array.  min_elem_bytes is the least an element can
 * take on the wire; a count that cannot fit in what is left fails the reader
 * before anything is allocated or looped over.
 */
int32_t kf_rd_array_len(struct kf_rd *rd, bool compact, size_t min_elem_bytes);

/* Skip a whole tagged-field section (KIP-482): count, then tag/size/bytes. */
void kf_rd_skip_tags(struct kf_rd *rd);

/* ----------------------------------------------------------------------- */

struct kf_wr {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err; /* KF_OK or KF_ENOMEM, sticky */
};

void kf_wr_init(struct kf_wr *wr);
void kf_wr_free(struct kf_wr *wr);
static inline bool kf_wr_ok(const struct kf_wr *wr) { return wr->err == KF_OK; }
/* Make room for n more bytes; returns a pointer to write them or NULL. */
uint8_t *kf_wr_reserve(struct kf_wr *wr, size_t n);
/* Give the buffer to the caller (who frees it with free()); wr is reset. */
uint8_t *kf_wr_steal(struct kf_wr *wr, size_t *len);

size_t kf_wr_raw(struct kf_wr *wr, const void *p, size_t n);
size_t kf_wr_i8(struct kf_wr *wr, int8_t v);
size_t kf_wr_i16(struct kf_wr *wr, int16_t v);
size_t kf_wr_i32(struct kf_wr *wr, int32_t v);
size_t kf_wr_i64(struct kf_wr *wr, int64_t v);
size_t kf_wr_uvarint(struct kf_wr *wr, uint64_t v);
size_t kf_wr_varint(struct kf_wr *wr, int32_t v);
size_t kf_wr_varlong(struct kf_wr *wr, int64_t v);
/* p may be NULL with len -1 for a null value. */
size_t kf_wr_string(struct kf_wr *wr, const char *p, int32_t len);
size_t kf_wr_compact_string(struct kf_wr *wr, const char *p, int32_t len);
size_t kf_wr_bytes(struct kf_wr *wr, const void *p, int32_t len);
size_t kf_wr_compact_bytes(struct kf_wr *wr, const void *p, int32_t len);
/* n = -1 writes a null array. */
size_t kf_wr_array_len(struct kf_wr *wr, bool compact, int32_t n);
void kf_wr_patch_i32(struct kf_wr *wr, size_t off, int32_t v);

#endif
