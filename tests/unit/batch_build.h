/*
 * batch_build: a test-only writer of byte-exact record batches, for the
 * unit tests, fuzz seeds and the benchmark.  kforkd never writes batches.
 *
 * Everything appends to a caller's struct kf_wr and returns the offset the
 * batch (or message) starts at, so a test can patch bytes afterwards and
 * re-seal the checksum with kfb_fix_crc / kfb_fix_legacy_crc.
 */
#ifndef KF_BATCH_BUILD_H
#define KF_BATCH_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct kfb_header {
	const void *key;
	int32_t key_len; /* >= 0 */
	const void *value;
	int32_t value_len; /* -1: null */
};

/* One v2 record; key/value with length -1 are null. */
struct kfb_record {
	int64_t ts_delta;
	int32_t offset_delta;
	const void *key;
	int32_t key_len;
	const void *value;
	int32_t value_len;
	int nheaders;
	const struct kfb_header *headers;
};

/* The header fields of a v2 batch. */
struct kfb_batch {
	int64_t base_offset;
	int32_t leader_epoch;
	int codec; /* enum kf_codec */
	bool transactional;
	bool control;
	bool log_append_time;
	int64_t base_timestamp;
	int64_t max_timestamp;     /* 0: base_timestamp + the largest ts_delta */
	int64_t producer_id;       /* -1 for none */
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t last_offset_delta; /* -1: the last record's offset_delta */
};

/* Defaults: everything 0 except producer -1/-1/-1 and last_offset_delta -1. */
void kfb_batch_defaults(struct kfb_batch *b, int64_t base_offset);

/* Append a RecordBatch v2 holding recs[0..n) (compressed with kf_compress
 * when b->codec is set).  Returns its offset in w, or (size_t)-1 when the
 * compression failed. */
size_t kfb_v2(struct kf_wr *w, const struct kfb_batch *b, const struct kfb_record *recs, int n);

/* Append a v2 batch whose records section is records[0..len) verbatim
 * (already compressed if b->codec says so) with recordsCount count; the
 * last offset delta and max timestamp come from b unless defaulted there. */
size_t kfb_v2_raw(struct kf_wr *w, const struct kfb_batch *b, int32_t count, int32_t last_delta,
		  int64_t max_ts_delta, const void *records, size_t len);

/* A control batch (one record, key version 0 + type, value version 0 +
 * coordinator epoch 0) at offset for producer pid/epoch; transactional. */
size_t kfb_control(struct kf_wr *w, int64_t offset, int64_t pid, int16_t epoch, int16_t type);

/* Recompute the CRC-32C of the v2 batch at w->buf + at. */
void kfb_fix_crc(struct kf_wr *w, size_t at);

/* One legacy message (magic 0 or 1; timestamp ignored for 0). */
struct kfb_legacy {
	int64_t offset;
	int8_t attributes;
	int64_t timestamp;
	const void *key;
	int32_t key_len;
	const void *value;
	int32_t value_len;
};

/* Append a legacy message; returns its offset in w. */
size_t kfb_legacy(struct kf_wr *w, int magic, const struct kfb_legacy *m);

/* Append a compressed wrapper message at wrapper_offset whose value is the
 * inner messages in[0..n) (their offsets written as given: absolute for v0,
 * relative 0..n-1 for v1) compressed with codec.  Returns (size_t)-1 on a
 * compression failure. */
size_t kfb_legacy_wrapper(struct kf_wr *w, int magic, int codec, int64_t wrapper_offset,
			  int64_t timestamp, const struct kfb_legacy *in, int n);

/* Recompute the CRC-32 of the legacy message at w->buf + at. */
void kfb_fix_legacy_crc(struct kf_wr *w, size_t at);

/*
 * The benchmark's content: n records with offset deltas 0..n-1, timestamp
 * deltas of a millisecond each, key "k<offset>" and a value of value_size
 * bytes: "TOPIC/PART/OFFSET " repeated, with random_pct percent of its
 * bytes replaced by random ones from *seed (xorshift32), so compressed
 * sizes are not absurdly small.  Returns the batch's offset in w.
 */
size_t kfb_pattern(struct kf_wr *w, int codec, int64_t base_offset, int n, size_t value_size,
		   const char *topic, int32_t partition, int random_pct, uint32_t *seed);

#endif
