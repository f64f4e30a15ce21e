/*
 * batch_build: byte-exact record batches for tests (see batch_build.h).
 * Laid out from KAFKA-PROTOCOL.md section 3, independently of lib/batch.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_build.h"
#include "codec.h"
#include "crc32c.h"

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void kfb_batch_defaults(struct kfb_batch *b, int64_t base_offset)
{
	memset(b, 0, sizeof(*b));
	b->base_offset = base_offset;
	b->producer_id = -1;
	b->producer_epoch = -1;
	b->base_sequence = -1;
	b->last_offset_delta = -1;
}

static void put_record(struct kf_wr *body, const struct kfb_record *r)
{
	struct kf_wr rec;
	kf_wr_init(&rec);
	kf_wr_i8(&rec, 0);
	kf_wr_varlong(&rec, r->ts_delta);
	kf_wr_varint(&rec, r->offset_delta);
	kf_wr_varint(&rec, r->key_len);
	if (r->key_len > 0)
		kf_wr_raw(&rec, r->key, (size_t)r->key_len);
	kf_wr_varint(&rec, r->value_len);
	if (r->value_len > 0)
		kf_wr_raw(&rec, r->value, (size_t)r->value_len);
	kf_wr_varint(&rec, r->nheaders);
	for (int i = 0; i < r->nheaders; i++) {
		const struct kfb_header *h = &r->headers[i];
		kf_wr_varint(&rec, h->key_len);
		kf_wr_raw(&rec, h->key, (size_t)h->key_len);
		kf_wr_varint(&rec, h->value_len);
		if (h->value_len > 0)
			kf_wr_raw(&rec, h->value, (size_t)h->value_len);
	}
	kf_wr_varint(body, (int32_t)rec.len);
	kf_wr_raw(body, rec.buf, rec.len);
	kf_wr_free(&rec);
}

void kfb_fix_crc(struct kf_wr *w, size_t at)
{
	uint8_t *p = w->buf + at;
	size_t size = 12 + get_be32(p + 8);
	put_be32(p + 17, kf_crc32c(0, p + 21, size - 21));
}

size_t kfb_v2_raw(struct kf_wr *w, const struct kfb_batch *b, int32_t count, int32_t last_delta,
		  int64_t max_ts_delta, const void *records, size_t len)
{
	size_t at = w->len;
	int16_t attr = (int16_t)(b->codec & 7);

	if (b->log_append_time)
		attr |= 0x08;
	if (b->transactional)
		attr |= 0x10;
	if (b->control)
		attr |= 0x20;
	kf_wr_i64(w, b->base_offset);
	kf_wr_i32(w, (int32_t)(49 + len));
	kf_wr_i32(w, b->leader_epoch);
	kf_wr_i8(w, 2);
	kf_wr_i32(w, 0); /* crc, below */
	kf_wr_i16(w, attr);
	kf_wr_i32(w, b->last_offset_delta >= 0 ? b->last_offset_delta : last_delta);
	kf_wr_i64(w, b->base_timestamp);
	kf_wr_i64(w, b->max_timestamp ? b->max_timestamp : b->base_timestamp + max_ts_delta);
	kf_wr_i64(w, b->producer_id);
	kf_wr_i16(w, b->producer_epoch);
	kf_wr_i32(w, b->base_sequence);
	kf_wr_i32(w, count);
	kf_wr_raw(w, records, len);
	kfb_fix_crc(w, at);
	return at;
}

size_t kfb_v2(struct kf_wr *w, const struct kfb_batch *b, const struct kfb_record *recs, int n)
{
	struct kf_wr body;
	struct kf_codec_buf z = { 0 };
	const uint8_t *data;
	size_t len, at = (size_t)-1;
	int64_t max_ts_delta = 0;

	kf_wr_init(&body);
	for (int i = 0; i < n; i++) {
		put_record(&body, &recs[i]);
		if (recs[i].ts_delta > max_ts_delta)
			max_ts_delta = recs[i].ts_delta;
	}
	data = body.buf;
	len = body.len;
	if (b->codec != KF_CODEC_NONE) {
		if (kf_compress(b->codec, body.buf, body.len, &z) != 0)
			goto out_free;
		data = z.p;
		len = z.len;
	}
	at = kfb_v2_raw(w, b, n, n ? recs[n - 1].offset_delta : 0, max_ts_delta, data, len);
out_free:
	kf_wr_free(&body);
	kf_codec_buf_free(&z);
	return at;
}

size_t kfb_control(struct kf_wr *w, int64_t offset, int64_t pid, int16_t epoch, int16_t type)
{
	static const uint8_t value[6] = { 0, 0, 0, 0, 0, 0 }; /* version, coordinator epoch */
	uint8_t key[4] = { 0, 0, (uint8_t)((uint16_t)type >> 8), (uint8_t)type };
	struct kfb_batch b;
	struct kfb_record r = { .key = key, .key_len = 4, .value = value, .value_len = 6 };

	kfb_batch_defaults(&b, offset);
	b.transactional = true;
	b.control = true;
	b.producer_id = pid;
	b.producer_epoch = epoch;
	return kfb_v2(w, &b, &r, 1);
}

void kfb_fix_legacy_crc(struct kf_wr *w, size_t at)
{
	uint8_t *p = w->buf + at;
	size_t size = get_be32(p + 8);
	put_be32(p + 12, kf_crc32(0, p + 16, size - 4));
}

size_t kfb_legacy(struct kf_wr *w, int magic, const struct kfb_legacy *m)
{
	size_t at = w->len;
	size_t klen = m->key_len > 0 ? (size_t)m->key_len : 0;
	size_t vlen = m->value_len > 0 ? (size_t)m->value_len : 0;
	/* crc, magic, attributes, [timestamp], key, value */
	size_t size = 4 + 1 + 1 + (magic == 1 ? 8 : 0) + 4 + klen + 4 + vlen;

	kf_wr_i64(w, m->offset);
	kf_wr_i32(w, (int32_t)size);
	kf_wr_i32(w, 0); /* crc, below */
	kf_wr_i8(w, (int8_t)magic);
	kf_wr_i8(w, m->attributes);
	if (magic == 1)
		kf_wr_i64(w, m->timestamp);
	kf_wr_bytes(w, m->key, m->key_len);
	kf_wr_bytes(w, m->value, m->value_len);
	kfb_fix_legacy_crc(w, at);
	return at;
}

size_t kfb_legacy_wrapper(struct kf_wr *w, int magic, int codec, int64_t wrapper_offset,
			  int64_t timestamp, const struct kfb_legacy *in, int n)
{
	struct kf_wr set;
	struct kf_codec_buf z = { 0 };
	struct kfb_legacy outer = { .offset = wrapper_offset, .attributes = (int8_t)codec,
				    .timestamp = timestamp, .key_len = -1 };
	size_t at;

	kf_wr_init(&set);
	for (int i = 0; i < n; i++)
		kfb_legacy(&set, magic, &in[i]);
	if (kf_compress(codec, set.buf, set.len, &z) != 0) {
		kf_wr_free(&set);
		kf_codec_buf_free(&z);
		return (size_t)-1;
	}
	outer.value = z.p;
	outer.value_len = (int32_t)z.len;
	at = kfb_legacy(w, magic, &outer);
	kf_wr_free(&set);
	kf_codec_buf_free(&z);
	return at;
}

static uint32_t xorshift32(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

size_t kfb_pattern(struct kf_wr *w, int codec, int64_t base_offset, int n, size_t value_size,
		   const char *topic, int32_t partition, int random_pct, uint32_t *seed)
{
	struct kfb_record *recs = calloc((size_t)n, sizeof(*recs));
	uint8_t *vals = malloc((size_t)n * value_size + 1);
	char *keys = malloc((size_t)n * 24);
	struct kfb_batch b;
	size_t at = (size_t)-1;

	if (!recs || !vals || !keys)
		goto out_free;
	for (int i = 0; i < n; i++) {
		uint8_t *v = vals + (size_t)i * value_size;
		char text[96];
		int tl = snprintf(text, sizeof(text), "%s/%d/%lld ", topic, (int)partition,
				  (long long)(base_offset + i));
		for (size_t j = 0; j < value_size; j++)
			v[j] = (uint8_t)text[j % (size_t)tl];
		for (size_t j = 0; j < value_size; j++)
			if (xorshift32(seed) % 100 < (uint32_t)random_pct)
				v[j] = (uint8_t)xorshift32(seed);
		char *k = keys + (size_t)i * 24;
		recs[i].key = k;
		recs[i].key_len = snprintf(k, 24, "k%lld", (long long)(base_offset + i));
		recs[i].value = v;
		recs[i].value_len = (int32_t)value_size;
		recs[i].offset_delta = i;
		recs[i].ts_delta = i;
	}
	kfb_batch_defaults(&b, base_offset);
	b.codec = codec;
	b.base_timestamp = 1700000000000LL;
	at = kfb_v2(w, &b, recs, n);
out_free:
	free(recs);
	free(vals);
	free(keys);
	return at;
}
