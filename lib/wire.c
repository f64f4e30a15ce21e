/*
 * wire: out-of-line parts of the reader cursor and the writer.  See wire.h.
 */
#include "config.h"

#include <stdlib.h>

#include "wire.h"

static int32_t rd_blob(struct kf_rd *rd, const uint8_t **p, int64_t len, const char *what)
{
	*p = NULL;
	if (rd->err)
		return -1;
	if (len == -1)
		return -1;
	if (len < -1 || len > INT32_MAX) {
		kf_rd_fail(rd, KF_EPROTO, what);
		return -1;
	}
	*p = kf_rd_raw(rd, (size_t)len, what);
	return *p ? (int32_t)len : -1;
}

int32_t kf_rd_string(struct kf_rd *rd, const uint8_t **p)
{
	int16_t len = kf_rd_i16(rd);
	return rd_blob(rd, p, len, "string");
}

int32_t kf_rd_bytes(struct kf_rd *rd, const uint8_t **p)
{
	int32_t len = kf_rd_i32(rd);
	return rd_blob(rd, p, len, "bytes");
}

int32_t kf_rd_compact_string(struct kf_rd *rd, const uint8_t **p)
{
	int64_t len = (int64_t)kf_rd_uvarint(rd) - 1;
	return rd_blob(rd, p, len, "compact string");
}

int32_t kf_rd_compact_bytes(struct kf_rd *rd, const uint8_t **p)
{
	int64_t len = (int64_t)kf_rd_uvarint(rd) - 1;
	return rd_blob(rd, p, len, "compact bytes");
}

int32_t kf_rd_array_len(struct kf_rd *rd, bool compact, size_t min_elem_bytes)
{
	int64_t n = compact ? (int64_t)kf_rd_uvarint(rd) - 1 : kf_rd_i32(rd);
	if (rd->err)
		return -1;
	if (n < -1) {
		kf_rd_fail(rd, KF_EPROTO, "array length");
		return -1;
	}
	if (min_elem_bytes == 0)
		min_elem_bytes = 1;
	if (n > 0 && (uint64_t)n > (rd->len - rd->pos) / min_elem_bytes) {
		kf_rd_fail(rd, KF_ESHORT, "array length");
		return -1;
	}
	return (int32_t)n;
}

void kf_rd_skip_tags(struct kf_rd *rd)
{
	uint32_t n = kf_rd_uvarint(rd);
	/* Each tagged field takes at least two bytes (tag and size). */
	if (n > kf_rd_left(rd) / 2) {
		kf_rd_fail(rd, KF_ESHORT, "tagged fields");
		return;
	}
	for (uint32_t i = 0; i < n && rd->err == KF_OK; i++) {
		(void)kf_rd_uvarint(rd);
		uint32_t size = kf_rd_uvarint(rd);
		(void)kf_rd_raw(rd, size, "tagged field");
	}
}

/* ----------------------------------------------------------------------- */

void kf_wr_init(struct kf_wr *wr)
{
	wr->buf = NULL;
	wr->len = 0;
	wr->cap = 0;
	wr->err = KF_OK;
}

void kf_wr_free(struct kf_wr *wr)
{
	free(wr->buf);
	kf_wr_init(wr);
}

uint8_t *kf_wr_reserve(struct kf_wr *wr, size_t n)
{
	if (wr->err)
		return NULL;
	if (wr->cap - wr->len < n) {
		size_t cap = wr->cap ? wr->cap : 256;
		while (cap - wr->len < n) {
			if (cap > SIZE_MAX / 2) {
				wr->err = KF_ENOMEM;
				return NULL;
			}
			cap *= 2;
		}
		uint8_t *nb = realloc(wr->buf, cap);
		if (!nb) {
			wr->err = KF_ENOMEM;
			return NULL;
		}
		wr->buf = nb;
		wr->cap = cap;
	}
	return wr->buf + wr->len;
}

uint8_t *kf_wr_steal(struct kf_wr *wr, size_t *len)
{
	uint8_t *b = wr->buf;
	*len = wr->len;
	kf_wr_init(wr);
	return b;
}

size_t kf_wr_raw(struct kf_wr *wr, const void *p, size_t n)
{
	size_t off = wr->len;
	uint8_t *d = kf_wr_reserve(wr, n);
	if (d) {
		if (n)
			memcpy(d, p, n);
		wr->len += n;
	}
	return off;
}

static size_t wr_be(struct kf_wr *wr, uint64_t v, int n)
{
	size_t off = wr->len;
	uint8_t *d = kf_wr_reserve(wr, (size_t)n);
	if (d) {
		for (int i = n - 1; i >= 0; i--, v >>= 8)
			d[i] = (uint8_t)v;
		wr->len += (size_t)n;
	}
	return off;
}

size_t kf_wr_i8(struct kf_wr *wr, int8_t v) { return wr_be(wr, (uint8_t)v, 1); }
size_t kf_wr_i16(struct kf_wr *wr, int16_t v) { return wr_be(wr, (uint16_t)v, 2); }
size_t kf_wr_i32(struct kf_wr *wr, int32_t v) { return wr_be(wr, (uint32_t)v, 4); }
size_t kf_wr_i64(struct kf_wr *wr, int64_t v) { return wr_be(wr, (uint64_t)v, 8); }

size_t kf_wr_uvarint(struct kf_wr *wr, uint64_t v)
{
	size_t off = wr->len;
	uint8_t *d = kf_wr_reserve(wr, 10);
	if (!d)
		return off;
	size_t n = 0;
	while (v >= 0x80) {
		d[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	d[n++] = (uint8_t)v;
	wr->len += n;
	return off;
}

size_t kf_wr_varint(struct kf_wr *wr, int32_t v)
{
	return kf_wr_uvarint(wr, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

size_t kf_wr_varlong(struct kf_wr *wr, int64_t v)
{
	return kf_wr_uvarint(wr, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

size_t kf_wr_string(struct kf_wr *wr, const char *p, int32_t len)
{
	size_t off = kf_wr_i16(wr, (int16_t)(p ? len : -1));
	if (p)
		kf_wr_raw(wr, p, (size_t)len);
	return off;
}

size_t kf_wr_compact_string(struct kf_wr *wr, const char *p, int32_t len)
{
	size_t off = kf_wr_uvarint(wr, p ? (uint64_t)len + 1 : 0);
	if (p)
		kf_wr_raw(wr, p, (size_t)len);
	return off;
}

size_t kf_wr_bytes(struct kf_wr *wr, const void *p, int32_t len)
{
	size_t off = kf_wr_i32(wr, p || len == 0 ? len : -1);
	if (p && len > 0)
		kf_wr_raw(wr, p, (size_t)len);
	return off;
}

size_t kf_wr_compact_bytes(struct kf_wr *wr, const void *p, int32_t len)
{
	size_t off = kf_wr_uvarint(wr, (p || len == 0) && len >= 0 ? (uint64_t)len + 1 : 0);
	if (p && len > 0)
		kf_wr_raw(wr, p, (size_t)len);
	return off;
}

size_t kf_wr_array_len(struct kf_wr *wr, bool compact, int32_t n)
{
	if (compact)
		return kf_wr_uvarint(wr, n < 0 ? 0 : (uint64_t)n + 1);
	return kf_wr_i32(wr, n < 0 ? -1 : n);
}

void kf_wr_patch_i32(struct kf_wr *wr, size_t off, int32_t v)
{
	if (wr->err || off + 4 > wr->len)
		return;
	uint32_t u = (uint32_t)v;
	wr->buf[off] = (uint8_t)(u >> 24);
	wr->buf[off + 1] = (uint8_t)(u >> 16);
	wr->buf[off + 2] = (uint8_t)(u >> 8);
	wr->buf[off + 3] = (uint8_t)u;
}
