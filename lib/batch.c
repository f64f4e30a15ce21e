/*
 * batch: walk the record batches of a Fetch response's Records field.
 *
 * Everything here reads bytes straight off the network, so every length is
 * checked against the end of the batch before it is used; nothing reads
 * outside [buf, end) or outside the decompressed records.  The per-record
 * path (kf_batch_record_next for magic 2) is the hot loop of the consumer:
 * its varint reads are inlined, with the rare long forms out of line, and
 * it never allocates.
 *
 * Validation is eager per record: a record's key, value and every header
 * are checked when the record is returned, so kf_record_header_next cannot
 * fail on a record that came from here.  Decompression is lazy: it happens
 * on the first kf_batch_record_next of a batch, so a batch the consumer
 * skips (aborted, control, wholly before the fetch offset) costs only its
 * CRC.  A decompression error is therefore reported by kf_batch_record_next.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "crc32c.h"
#include "err.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* RecordBatch v2 header: field offsets and its size (KAFKA-PROTOCOL.md 3). */
enum {
	V2_LEADER_EPOCH = 12,
	V2_MAGIC = 16,
	V2_CRC = 17,
	V2_ATTRIBUTES = 21,
	V2_LAST_OFFSET_DELTA = 23,
	V2_BASE_TIMESTAMP = 27,
	V2_MAX_TIMESTAMP = 35,
	V2_PRODUCER_ID = 43,
	V2_PRODUCER_EPOCH = 51,
	V2_BASE_SEQUENCE = 53,
	V2_RECORDS_COUNT = 57,
	V2_HEADER_SIZE = 61,
	LOG_OVERHEAD = 12, /* offset int64 + length int32 */
	MIN_BATCH_LENGTH = 14, /* the smallest v0 message after its length */
};

#define ATTR_CODEC_MASK 0x07
#define ATTR_LOG_APPEND_TIME 0x08
#define ATTR_TRANSACTIONAL 0x10
#define ATTR_CONTROL 0x20

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* Offsets and timestamps from the wire may be anything: add without UB. */
static inline int64_t add64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

/* ---- varints ---------------------------------------------------------- */

static inline int64_t unzigzag(uint64_t u) { return (int64_t)((u >> 1) ^ (~(u & 1) + 1)); }

/* A varint read: the position after it (NULL when malformed) and its
 * value; returned in registers, so the cursor never goes through memory. */
struct var {
	const uint8_t *p;
	int64_t v;
};

/* The long forms, out of line: at most max_bytes bytes, and a 5-byte
 * varint must fit 32 bits, a 10-byte varlong 64. */
static __attribute__((noinline)) struct var var_slow(const uint8_t *p, const uint8_t *end,
						     int max_bytes)
{
	struct var r = { NULL, 0 };
	uint64_t u = 0;
	for (int i = 0; i < max_bytes; i++) {
		if (p >= end)
			return r;
		uint8_t b = *p++;
		u |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (max_bytes == 5 && u > UINT32_MAX)
				return r;
			if (max_bytes == 10 && i == 9 && b > 1)
				return r;
			r.p = p;
			r.v = unzigzag(u);
			if (max_bytes == 5)
				r.v = (int32_t)(uint32_t)r.v;
			return r;
		}
	}
	return r;
}

/* Zigzag varint / varlong: the one- and two-byte forms inline. */
static ALWAYS_INLINE struct var var_n(const uint8_t *p, const uint8_t *end, int max_bytes)
{
	if (likely(p < end && !(p[0] & 0x80)))
		return (struct var){ p + 1, unzigzag(p[0]) };
	if (likely(end - p >= 2 && !(p[1] & 0x80))) {
		uint64_t u = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
		return (struct var){ p + 2, unzigzag(u) };
	}
	return var_slow(p, end, max_bytes);
}

/* Read a varint (bits 32) or varlong (64) at p into out, advancing p;
 * on a malformed one, return what is wrong. */
#define GET_VAR(bits, p, end, out, what) \
	do { \
		struct var v_ = var_n(p, end, (bits) == 32 ? 5 : 10); \
		if (unlikely(!v_.p)) \
			return what; \
		p = v_.p; \
		out = v_.v; \
	} while (0)

/* ---- records ---------------------------------------------------------- */

/*
 * Validate a header region of count headers that must fill [p, end)
 * exactly.  Returns NULL or what is wrong.
 */
static const char *check_headers(const uint8_t *p, const uint8_t *end, int64_t count)
{
	int64_t n;
	for (int64_t i = 0; i < count; i++) {
		GET_VAR(32, p, end, n, "bad varint in header key length");
		if (n < 0 || n > end - p)
			return "header key length out of range";
		p += n;
		GET_VAR(32, p, end, n, "bad varint in header value length");
		if (n < -1 || n > end - p)
			return "header value length out of range";
		if (n > 0)
			p += n;
	}
	if (p != end)
		return "bytes left over after the record's headers";
	return NULL;
}

/*
 * Parse one v2 record at *pp, which must end by end.  Fills r except offset
 * and timestamp, whose deltas go to *off_delta / *ts_delta.  Returns NULL
 * and advances *pp past exactly the record's length, or says what is wrong.
 */
static ALWAYS_INLINE const char *parse_record(const uint8_t **pp, const uint8_t *end,
					      struct kf_record *r, int64_t *ts_delta,
					      int64_t *off_delta)
{
	const uint8_t *p = *pp, *rend;
	int64_t len, klen, vlen, hcount;

	GET_VAR(32, p, end, len, "bad varint in record length");
	if (unlikely(len < 1 || len > end - p))
		return "record length past the end of the batch";
	rend = p + len;
	p++; /* attributes: unused */
	GET_VAR(64, p, rend, *ts_delta, "bad varint in timestamp delta");
	GET_VAR(32, p, rend, *off_delta, "bad varint in offset delta");
	GET_VAR(32, p, rend, klen, "bad varint in key length");
	if (unlikely(klen < -1 || klen > rend - p))
		return "key length out of range";
	r->key = klen >= 0 ? p : NULL;
	r->key_len = (int32_t)klen;
	if (klen > 0)
		p += klen;
	GET_VAR(32, p, rend, vlen, "bad varint in value length");
	if (unlikely(vlen < -1 || vlen > rend - p))
		return "value length out of range";
	r->value = vlen >= 0 ? p : NULL;
	r->value_len = (int32_t)vlen;
	if (vlen > 0)
		p += vlen;
	GET_VAR(32, p, rend, hcount, "bad varint in header count");
	/* Each header takes at least two bytes. */
	if (unlikely(hcount < 0 || hcount > (rend - p) / 2))
		return "header count out of range";
	r->header_count = (int32_t)hcount;
	r->headers = p;
	r->headers_len = (size_t)(rend - p);
	if (hcount == 0) {
		if (unlikely(p != rend))
			return "bytes left over after the record";
	} else {
		const char *why = check_headers(p, rend, hcount);
		if (why)
			return why;
	}
	*pp = rend;
	return NULL;
}

int kf_record_header_next(const uint8_t **p, size_t *left, const uint8_t **key, int32_t *key_len,
			  const uint8_t **value, int32_t *value_len)
{
	const uint8_t *q = *p, *end = *p + *left;
	struct var v;

	if (*left == 0)
		return 0;
	v = var_n(q, end, 5);
	if (!v.p || v.v < 0 || v.v > end - v.p)
		return KF_EPROTO;
	q = v.p;
	*key = q;
	*key_len = (int32_t)v.v;
	q += v.v;
	v = var_n(q, end, 5);
	if (!v.p || v.v < -1 || v.v > end - v.p)
		return KF_EPROTO;
	q = v.p;
	int64_t n = v.v;
	*value = n >= 0 ? q : NULL;
	*value_len = (int32_t)n;
	if (n > 0)
		q += n;
	*left -= (size_t)(q - *p);
	*p = q;
	return 1;
}

/* ---- the iterator ----------------------------------------------------- */

/* Fail the iterator for good (until reset) with a message naming the
 * batch; returns err. */
static __attribute__((format(printf, 3, 4))) int fail(struct kf_batch_iter *it, int err,
						      const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(it->errmsg, sizeof(it->errmsg), "batch at offset %" PRId64 " (byte %zu): ",
			 it->cur.base_offset, it->batch_pos);
	if (n > 0 && (size_t)n < sizeof(it->errmsg)) {
		va_start(ap, fmt);
		vsnprintf(it->errmsg + n, sizeof(it->errmsg) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	it->err = err;
	it->rec_left = 0;
	it->rp = it->rend = NULL;
	it->pending_dec = false;
	return err;
}

void kf_batch_iter_init(struct kf_batch_iter *it, const struct kf_batch_opts *opts)
{
	memset(it, 0, sizeof(*it));
	if (opts) {
		it->opts = *opts;
	} else {
		it->opts.verify_crc = true;
	}
	if (it->opts.max_decompressed == 0)
		it->opts.max_decompressed = KF_BATCH_DEFAULT_MAX_DECOMPRESSED;
}

void kf_batch_iter_reset(struct kf_batch_iter *it, const uint8_t *buf, size_t len,
			 int64_t fetch_offset)
{
	it->fetch_offset = fetch_offset;
	it->buf = it->pos = buf;
	it->end = buf ? buf + len : NULL;
	it->rp = it->rend = NULL;
	it->rec_left = 0;
	it->legacy_single = false;
	it->pending_dec = false;
	it->zp = NULL;
	it->zlen = 0;
	it->batch_pos = 0;
	memset(&it->cur, 0, sizeof(it->cur));
	it->err = KF_OK;
	it->errmsg[0] = '\0';
}

void kf_batch_iter_free(struct kf_batch_iter *it)
{
	kf_codec_buf_free(&it->dbuf);
	it->rp = it->rend = NULL;
	it->rec_left = 0;
}

const char *kf_batch_iter_error(const struct kf_batch_iter *it) { return it->errmsg; }

size_t kf_batch_iter_left(const struct kf_batch_iter *it)
{
	return it->buf ? (size_t)(it->end - it->pos) : 0;
}

/* Decompress it->zp into it->dbuf and point the record cursor at it. */
static int decompress_records(struct kf_batch_iter *it)
{
	char why[96] = "";
	int rc = kf_decompress(it->cur.codec, it->zp, it->zlen, it->opts.max_decompressed,
			       &it->dbuf, why, sizeof(why));

	it->pending_dec = false;
	if (rc == KF_ETOOBIG)
		return fail(it, rc, "%s: records decompress to more than %zu bytes",
			    kf_codec_name(it->cur.codec), it->opts.max_decompressed);
	if (rc != KF_OK)
		return fail(it, rc, "%s decompression failed: %s", kf_codec_name(it->cur.codec),
			    why[0] ? why : kf_strerror(rc));
	it->rp = it->dbuf.p;
	it->rend = it->dbuf.p + it->dbuf.len;
	return KF_OK;
}

/* The control record's type from its key (version int16, type int16). */
static int read_control_type(struct kf_batch_iter *it, struct kf_batch *b)
{
	struct kf_record r;
	int64_t ts, off;
	const uint8_t *p;
	const char *why;

	if (b->record_count == 0) {
		b->control_type = KF_CONTROL_EMPTY;
		return KF_OK;
	}
	if (it->pending_dec) {
		int rc = decompress_records(it);
		if (rc)
			return rc;
	}
	p = it->rp;
	why = parse_record(&p, it->rend, &r, &ts, &off);
	if (why)
		return fail(it, KF_EPROTO, "control record: %s", why);
	if (r.key_len < 4)
		return fail(it, KF_EPROTO, "control record key of %d bytes", (int)r.key_len);
	b->control_type = (int16_t)be16(r.key + 2);
	return KF_OK;
}

/* A RecordBatch v2 of size bytes (all present) at p. */
static int batch_v2(struct kf_batch_iter *it, const uint8_t *p, size_t size, struct kf_batch *b)
{
	int16_t attr;

	if (size < V2_HEADER_SIZE)
		return fail(it, KF_EPROTO, "batch of %zu bytes is shorter than a v2 header", size);
	if (it->opts.verify_crc) {
		uint32_t stored = be32(p + V2_CRC);
		uint32_t computed = kf_crc32c(0, p + V2_ATTRIBUTES, size - V2_ATTRIBUTES);
		if (stored != computed)
			return fail(it, KF_ECRC, "CRC-32C mismatch (stored 0x%08" PRIx32
				    ", computed 0x%08" PRIx32 ")", stored, computed);
	}
	attr = (int16_t)be16(p + V2_ATTRIBUTES);
	b->partition_leader_epoch = (int32_t)be32(p + V2_LEADER_EPOCH);
	b->magic = 2;
	b->attributes = attr;
	b->codec = attr & ATTR_CODEC_MASK;
	b->timestamp_type = (attr & ATTR_LOG_APPEND_TIME) ? 1 : 0;
	b->transactional = (attr & ATTR_TRANSACTIONAL) != 0;
	b->control = (attr & ATTR_CONTROL) != 0;
	b->control_type = KF_CONTROL_NONE;
	b->last_offset = add64(b->base_offset, (int32_t)be32(p + V2_LAST_OFFSET_DELTA));
	b->first_timestamp = (int64_t)be64(p + V2_BASE_TIMESTAMP);
	b->max_timestamp = (int64_t)be64(p + V2_MAX_TIMESTAMP);
	b->producer_id = (int64_t)be64(p + V2_PRODUCER_ID);
	b->producer_epoch = (int16_t)be16(p + V2_PRODUCER_EPOCH);
	b->base_sequence = (int32_t)be32(p + V2_BASE_SEQUENCE);
	b->record_count = (int32_t)be32(p + V2_RECORDS_COUNT);
	it->cur = *b;
	if (b->codec > KF_CODEC_ZSTD)
		return fail(it, KF_EUNSUPP, "unknown compression codec %d", b->codec);
	if (b->record_count < 0)
		return fail(it, KF_EPROTO, "negative record count %" PRId32, b->record_count);

	it->rec_left = b->record_count;
	if (b->record_count == 0 && b->codec != KF_CODEC_NONE) {
		/* Compaction keeps empty batches; their records section may be
		 * empty too, which no codec would accept. */
		it->rp = it->rend = NULL;
	} else if (b->codec == KF_CODEC_NONE) {
		it->rp = p + V2_HEADER_SIZE;
		it->rend = p + size;
	} else {
		it->zp = p + V2_HEADER_SIZE;
		it->zlen = size - V2_HEADER_SIZE;
		it->pending_dec = true;
	}
	if (b->control) {
		int rc = read_control_type(it, b);
		if (rc)
			return rc;
		it->cur.control_type = b->control_type;
	}
	/* Nothing at or past the fetch offset: no need to look inside. */
	if (b->last_offset < it->fetch_offset) {
		it->rec_left = 0;
		it->rp = it->rend = NULL;
		it->pending_dec = false;
	}
	return 1;
}

/* ---- legacy MessageSet v0/v1 ----------------------------------------- */

struct legacy_msg {
	int64_t offset;
	int8_t magic;
	int8_t attributes;
	int64_t timestamp; /* -1 for v0 */
	const uint8_t *key, *value;
	int32_t key_len, value_len;
};

/*
 * Parse the legacy message at p (its offset field; size bytes follow the
 * log overhead, all present).  Returns KF_OK, or an error with *why set;
 * for KF_ECRC, crcs[] holds the stored and the computed CRC-32.
 */
static int parse_legacy(const uint8_t *p, size_t size, bool verify_crc, struct legacy_msg *m,
			const char **why, uint32_t crcs[2])
{
	const uint8_t *q = p + LOG_OVERHEAD, *end = q + size;
	int32_t n;

	m->offset = (int64_t)be64(p);
	*why = "message shorter than its fixed fields";
	if (size < MIN_BATCH_LENGTH)
		return KF_EPROTO;
	m->magic = (int8_t)q[4];
	if (m->magic != 0 && m->magic != 1) {
		*why = "unsupported magic in a message set";
		return KF_EUNSUPP;
	}
	if (m->magic == 1 && size < MIN_BATCH_LENGTH + 8)
		return KF_EPROTO;
	if (verify_crc) {
		crcs[0] = be32(q);
		crcs[1] = kf_crc32(0, q + 4, size - 4);
		if (crcs[0] != crcs[1]) {
			*why = "CRC-32 mismatch";
			return KF_ECRC;
		}
	}
	m->attributes = (int8_t)q[5];
	q += 6;
	m->timestamp = -1;
	if (m->magic == 1) {
		m->timestamp = (int64_t)be64(q);
		q += 8;
	}
	/* The fixed fields above leave room for both lengths. */
	n = (int32_t)be32(q);
	q += 4;
	*why = "message key length out of range";
	if (n < -1 || n > end - q - 4)
		return KF_EPROTO;
	m->key = n >= 0 ? q : NULL;
	m->key_len = n;
	if (n > 0)
		q += n;
	n = (int32_t)be32(q);
	q += 4;
	*why = "message value length out of range";
	if (n < -1 || n > end - q)
		return KF_EPROTO;
	m->value = n >= 0 ? q : NULL;
	m->value_len = n;
	if (n > 0)
		q += n;
	*why = "bytes left over after the message value";
	if (q != end)
		return KF_EPROTO;
	*why = NULL;
	return KF_OK;
}

static int legacy_fail(struct kf_batch_iter *it, int rc, const char *why, const uint32_t crcs[2],
		       const char *where)
{
	if (rc == KF_ECRC)
		return fail(it, rc, "%sCRC-32 mismatch (stored 0x%08" PRIx32
			    ", computed 0x%08" PRIx32 ")", where, crcs[0], crcs[1]);
	return fail(it, rc, "%s%s", where, why);
}

/*
 * Walk the inner message set of a compressed wrapper (already in dbuf):
 * validate every message, count them and find the first and last inner
 * offsets, so the records can later be returned without a failure.
 */
static int legacy_scan_inner(struct kf_batch_iter *it, const struct legacy_msg *w,
			     struct kf_batch *b)
{
	const uint8_t *p = it->dbuf.p, *end = it->dbuf.p + it->dbuf.len;
	int64_t first = 0, last = 0;
	int32_t count = 0;
	struct legacy_msg m;
	uint32_t crcs[2];

	while (p < end) {
		if (end - p < LOG_OVERHEAD)
			return fail(it, KF_EPROTO, "inner message %d cut short", (int)count);
		int32_t size = (int32_t)be32(p + 8);
		if (size < 0 || size > end - p - LOG_OVERHEAD)
			return fail(it, KF_EPROTO, "inner message %d length out of range",
				    (int)count);
		const char *why;
		int rc = parse_legacy(p, (size_t)size, it->opts.verify_crc, &m, &why, crcs);
		if (rc)
			return legacy_fail(it, rc, why, crcs, "inner message: ");
		if (m.attributes & ATTR_CODEC_MASK)
			return fail(it, KF_EPROTO, "nested compressed message");
		if (count == INT32_MAX)
			return fail(it, KF_EPROTO, "too many inner messages");
		if (count == 0)
			first = m.offset;
		last = m.offset;
		count++;
		p += LOG_OVERHEAD + size;
	}
	if (count == 0)
		return fail(it, KF_EPROTO, "compressed message set is empty");
	/* v1: inner offsets are relative and the wrapper's is the last one. */
	it->legacy_base = w->magic == 1 ? add64(w->offset, -last) : 0;
	b->base_offset = add64(it->legacy_base, first);
	b->last_offset = add64(it->legacy_base, last);
	if (b->last_offset < w->offset)
		b->last_offset = w->offset;
	b->record_count = count;
	return KF_OK;
}

static int batch_legacy(struct kf_batch_iter *it, const uint8_t *p, size_t size,
			struct kf_batch *b)
{
	struct legacy_msg m;
	uint32_t crcs[2];
	const char *why;
	int rc = parse_legacy(p, size, it->opts.verify_crc, &m, &why, crcs);

	b->magic = (int8_t)p[V2_MAGIC]; /* 0 or 1: checked by kf_batch_next */
	it->cur = *b;
	if (rc)
		return legacy_fail(it, rc, why, crcs, "");
	b->partition_leader_epoch = -1;
	b->attributes = (uint8_t)m.attributes;
	b->codec = m.attributes & ATTR_CODEC_MASK;
	b->timestamp_type = m.magic == 1 && (m.attributes & ATTR_LOG_APPEND_TIME) ? 1 : 0;
	b->control_type = KF_CONTROL_NONE;
	b->first_timestamp = b->max_timestamp = m.timestamp;
	b->producer_id = -1;
	b->producer_epoch = -1;
	b->base_sequence = -1;
	b->base_offset = b->last_offset = m.offset;
	b->record_count = 1;
	it->legacy_magic = m.magic;
	it->cur = *b;
	if (b->codec > KF_CODEC_ZSTD)
		return fail(it, KF_EUNSUPP, "unknown compression codec %d", b->codec);

	if (b->codec == KF_CODEC_NONE) {
		it->legacy_single = true;
		it->legacy_base = 0;
		it->rp = p;
		it->rend = p + LOG_OVERHEAD + size;
		it->rec_left = 1;
	} else {
		if (!m.value)
			return fail(it, KF_EPROTO, "compressed message with a null value");
		it->legacy_single = false;
		it->zp = m.value;
		it->zlen = (size_t)m.value_len;
		rc = decompress_records(it);
		if (rc)
			return rc;
		rc = legacy_scan_inner(it, &m, b);
		it->cur = *b;
		if (rc)
			return rc;
		if (b->magic == 1 && b->timestamp_type == 0) {
			/* first inner timestamp; the wrapper's is their max */
			struct legacy_msg f;
			parse_legacy(it->dbuf.p, be32(it->dbuf.p + 8), false, &f, &why, crcs);
			b->first_timestamp = it->cur.first_timestamp = f.timestamp;
		}
		it->rec_left = b->record_count;
	}
	if (b->last_offset < it->fetch_offset) {
		it->rec_left = 0;
		it->rp = it->rend = NULL;
	}
	return 1;
}

/* Next record of a legacy batch: the message itself, or an inner one. */
static int legacy_record_next(struct kf_batch_iter *it, struct kf_record *r)
{
	struct legacy_msg m;
	uint32_t crcs[2];

	while (it->rec_left > 0) {
		/* Validated by batch_legacy / legacy_scan_inner already. */
		const uint8_t *p = it->rp;
		size_t size = be32(p + 8);
		const char *why;
		if (parse_legacy(p, size, false, &m, &why, crcs))
			return fail(it, KF_EPROTO, "message set changed under the iterator");
		it->rp = p + LOG_OVERHEAD + size;
		it->rec_left--;
		r->offset = add64(it->legacy_base, m.offset);
		if (r->offset < it->fetch_offset)
			continue;
		r->timestamp = it->cur.timestamp_type == 1 ? it->cur.max_timestamp : m.timestamp;
		r->key = m.key;
		r->key_len = m.key_len;
		r->value = m.value;
		r->value_len = m.value_len;
		r->header_count = 0;
		r->headers = NULL;
		r->headers_len = 0;
		return 1;
	}
	return 0;
}

int kf_batch_next(struct kf_batch_iter *it, struct kf_batch *b)
{
	const uint8_t *p;
	size_t left, size;
	int32_t blen;
	int8_t magic;

	if (it->err)
		return it->err;
	it->rec_left = 0;
	it->rp = it->rend = NULL;
	it->pending_dec = false;
	it->legacy_single = false;
	if (!it->buf)
		return 0;
	p = it->pos;
	left = (size_t)(it->end - p);
	if (left < LOG_OVERHEAD)
		return 0;
	memset(b, 0, sizeof(*b));
	b->base_offset = (int64_t)be64(p);
	it->batch_pos = (size_t)(p - it->buf);
	it->cur = *b;
	blen = (int32_t)be32(p + 8);
	if (blen < MIN_BATCH_LENGTH)
		return fail(it, KF_EPROTO, "batch length %" PRId32 " too small", blen);
	if ((size_t)blen > left - LOG_OVERHEAD)
		return 0; /* partial: the broker cut at the fetch size */
	size = LOG_OVERHEAD + (size_t)blen;
	magic = (int8_t)p[V2_MAGIC];
	it->pos = p + size;
	if (magic == 2)
		return batch_v2(it, p, size, b);
	if (magic == 0 || magic == 1)
		return batch_legacy(it, p, (size_t)blen, b);
	return fail(it, KF_EUNSUPP, "unsupported magic %d", (int)magic);
}

int kf_batch_record_next(struct kf_batch_iter *it, struct kf_record *r)
{
	int64_t ts_delta, off_delta;
	const uint8_t *rp, *rend;
	const char *why;

	if (unlikely(it->err))
		return it->err;
	if (unlikely(it->cur.magic < 2))
		return legacy_record_next(it, r);
	if (unlikely(it->pending_dec)) {
		int rc = decompress_records(it);
		if (rc)
			return rc;
	}
	/* The cursor lives in registers for the loop. */
	rp = it->rp;
	rend = it->rend;
	for (;;) {
		if (unlikely(it->rec_left <= 0)) {
			if (unlikely(rp != rend))
				return fail(it, KF_EPROTO, "%zu bytes left over after %" PRId32
					    " records", (size_t)(rend - rp), it->cur.record_count);
			it->rp = rp;
			return 0;
		}
		if (unlikely(rp >= rend))
			return fail(it, KF_EPROTO, "records end after %" PRId32 " of %" PRId32
				    " records", it->cur.record_count - it->rec_left,
				    it->cur.record_count);
		why = parse_record(&rp, rend, r, &ts_delta, &off_delta);
		if (unlikely(why != NULL))
			return fail(it, KF_EPROTO, "record %" PRId32 ": %s",
				    it->cur.record_count - it->rec_left, why);
		it->rec_left--;
		r->offset = add64(it->cur.base_offset, off_delta);
		if (unlikely(r->offset < it->fetch_offset))
			continue;
		it->rp = rp;
		r->timestamp = it->cur.timestamp_type ? it->cur.max_timestamp
						      : add64(it->cur.first_timestamp, ts_delta);
		return 1;
	}
}

/* ---- read_committed ---------------------------------------------------- */

static int cmp_first_offset(const void *a, const void *b)
{
	const struct kf_aborted_txn *x = a, *y = b;
	if (x->first_offset != y->first_offset)
		return x->first_offset < y->first_offset ? -1 : 1;
	return 0;
}

int kf_txn_filter_init(struct kf_txn_filter *f, const struct kf_aborted_txn *aborted, size_t n)
{
	memset(f, 0, sizeof(*f));
	if (n == 0)
		return KF_OK;
	f->pending = malloc(n * sizeof(*f->pending));
	f->active = malloc(n * sizeof(*f->active));
	if (!f->pending || !f->active) {
		kf_txn_filter_free(f);
		return KF_ENOMEM;
	}
	memcpy(f->pending, aborted, n * sizeof(*f->pending));
	qsort(f->pending, n, sizeof(*f->pending), cmp_first_offset);
	f->npending = n;
	return KF_OK;
}

static bool txn_active_has(const struct kf_txn_filter *f, int64_t pid, size_t *at)
{
	for (size_t i = 0; i < f->nactive; i++) {
		if (f->active[i] == pid) {
			if (at)
				*at = i;
			return true;
		}
	}
	return false;
}

bool kf_txn_filter_skip(struct kf_txn_filter *f, const struct kf_batch *b)
{
	size_t at;

	if (b->producer_id >= 0) {
		/* Transactions that began by this batch's end are now open. */
		while (f->next < f->npending &&
		       f->pending[f->next].first_offset <= b->last_offset) {
			int64_t pid = f->pending[f->next++].producer_id;
			if (!txn_active_has(f, pid, NULL))
				f->active[f->nactive++] = pid; /* at most npending */
		}
		if (b->control) {
			if (b->control_type == KF_CONTROL_ABORT &&
			    txn_active_has(f, b->producer_id, &at))
				f->active[at] = f->active[--f->nactive];
			return true;
		}
		if (b->transactional && txn_active_has(f, b->producer_id, NULL))
			return true;
	}
	return b->control;
}

void kf_txn_filter_free(struct kf_txn_filter *f)
{
	free(f->pending);
	free(f->active);
	f->pending = NULL;
	f->active = NULL;
	f->npending = f->next = f->nactive = 0;
}
