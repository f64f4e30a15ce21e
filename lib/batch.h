/*
 * batch: the records of a Fetch response partition.
 *
 * A partition's Records field is a sequence of RecordBatch v2 (magic 2) or
 * legacy MessageSet v0/v1 entries.  The iterator walks them in place, with
 * no copy for uncompressed data:
 *
 *	struct kf_batch_iter it;
 *	kf_batch_iter_init(&it, &opts);           once
 *	kf_batch_iter_reset(&it, buf, len, off);  per Records field
 *	while ((rc = kf_batch_next(&it, &b)) == 1)
 *		while ((rr = kf_batch_record_next(&it, &r)) == 1)
 *			use r;                         valid until the next kf_batch_next
 *	kf_batch_iter_free(&it);
 *
 * A batch cut off at the end of the buffer (the broker fills up to the
 * Fetch size limit) ends the iteration: kf_batch_next returns 0, not an
 * error.  Anything malformed (bad CRC, bad varint, a length past the end,
 * more decompressed bytes than opts.max_decompressed) is an error: a
 * negative KF_* code, kf_batch_iter_error() says what and at which offset,
 * and the iterator stays failed until the next reset.
 *
 * Legacy messages: each top-level message is one kf_batch; a compressed
 * wrapper message yields its inner messages as records with absolute
 * offsets (v1 inner offsets are relative to the wrapper's).
 */
#ifndef KF_BATCH_H
#define KF_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

struct kf_batch_opts {
	bool verify_crc;         /* check CRC-32C (v2) / CRC-32 (v0/v1) */
	size_t max_decompressed; /* bound on one batch's decompressed size */
};

/* max_decompressed 0 means this; a NULL opts means verify_crc and this. */
#define KF_BATCH_DEFAULT_MAX_DECOMPRESSED ((size_t)64 << 20)

enum kf_control_type {
	KF_CONTROL_NONE = -1, /* not a control batch */
	KF_CONTROL_ABORT = 0,
	KF_CONTROL_COMMIT = 1,
	KF_CONTROL_EMPTY = -2, /* a control batch without records (compacted) */
	/* other values: unknown control record types, passed through */
};

struct kf_batch {
	int64_t base_offset;
	int64_t last_offset; /* base_offset + last offset delta */
	int32_t partition_leader_epoch;
	int8_t magic;
	int16_t attributes;
	int codec;           /* enum kf_codec */
	bool transactional;
	bool control;
	int control_type;    /* enum kf_control_type: from the control record key */
	int timestamp_type;  /* 0 create time, 1 log append time */
	int64_t first_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t record_count;
};

struct kf_record {
	int64_t offset;
	int64_t timestamp;
	const uint8_t *key;   /* NULL when key_len == -1 */
	int32_t key_len;
	const uint8_t *value; /* NULL when value_len == -1 */
	int32_t value_len;
	int32_t header_count;
	const uint8_t *headers; /* header_count encoded headers, see below */
	size_t headers_len;
};

struct kf_batch_iter {
	/* private */
	struct kf_batch_opts opts;
	int64_t fetch_offset;
	const uint8_t *buf, *end, *pos;   /* the Records field, next batch */
	const uint8_t *rp, *rend;         /* records of the current batch */
	struct kf_batch cur;
	int32_t rec_left;
	int64_t legacy_base;              /* legacy: absolute offset base */
	int8_t legacy_magic;
	bool legacy_single;               /* legacy: uncompressed, one record */
	struct kf_codec_buf dbuf;         /* decompressed records */
	size_t batch_pos;                 /* byte offset of cur in buf */
	const uint8_t *zp;                /* compressed records, until needed */
	size_t zlen;
	bool pending_dec;                 /* records still to decompress */
	int err;
	char errmsg[160];
};

void kf_batch_iter_init(struct kf_batch_iter *it, const struct kf_batch_opts *opts);
/* Records below fetch_offset (a Fetch returns whole batches, which may
 * start before the offset asked for) are skipped by kf_batch_record_next. */
void kf_batch_iter_reset(struct kf_batch_iter *it, const uint8_t *buf, size_t len,
			 int64_t fetch_offset);
void kf_batch_iter_free(struct kf_batch_iter *it);

/* 1: *b holds the next batch; 0: no more complete batches; <0: error. */
int kf_batch_next(struct kf_batch_iter *it, struct kf_batch *b);
/* 1: *r holds the next record of the current batch at or past
 * the fetch offset; 0: batch done; <0: error.  Control batches yield their
 * control record like any other (consumers skip them via b.control).
 * A compressed batch is decompressed on its first call here (a skipped
 * batch never is), so decompression errors surface here.  Each record is
 * validated whole, headers included, before it is returned: walking its
 * headers with kf_record_header_next cannot fail. */
int kf_batch_record_next(struct kf_batch_iter *it, struct kf_record *r);
/* The last error, e.g. "batch at offset 120: CRC mismatch"; "" if none. */
const char *kf_batch_iter_error(const struct kf_batch_iter *it);
/* Bytes of the Records field not consumed: after kf_batch_next returned 0,
 * a non-zero value is a partial trailing batch (a batch larger than the
 * fetch size when nothing was returned at all). */
size_t kf_batch_iter_left(const struct kf_batch_iter *it);

/* Walk a record's headers: 1 and the next key/value (value_len -1 is a null
 * value), 0 at the end, <0 when malformed.  *p and *left advance. */
int kf_record_header_next(const uint8_t **p, size_t *left, const uint8_t **key, int32_t *key_len,
			  const uint8_t **value, int32_t *value_len);

/*
 * read_committed: drop the records of aborted transactions.
 *
 * Init with the partition's AbortedTransactions from the Fetch response
 * (any order; copied), then ask about every batch in order.  A batch is
 * skipped when it is a control batch, or when it is transactional and its
 * producer has an aborted transaction whose first offset is at or before
 * the batch's last offset and whose abort marker has not been passed yet
 * (KAFKA-PROTOCOL.md section 3; the Java consumer does the same).
 * kf_txn_filter_init allocates twice n entries (KF_ENOMEM), n may be 0.
 */
struct kf_aborted_txn {
	int64_t producer_id;
	int64_t first_offset;
};

struct kf_txn_filter {
	/* private */
	struct kf_aborted_txn *pending; /* sorted by first_offset */
	size_t npending, next;
	int64_t *active;                /* producer ids inside an aborted txn */
	size_t nactive;
};

int kf_txn_filter_init(struct kf_txn_filter *f, const struct kf_aborted_txn *aborted, size_t n);
bool kf_txn_filter_skip(struct kf_txn_filter *f, const struct kf_batch *b);
void kf_txn_filter_free(struct kf_txn_filter *f);

#endif
