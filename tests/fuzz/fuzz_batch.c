/*
 * fuzz_batch: the record batch iterator and the read_committed filter, over
 * a partition's Records field as a Fetch response carries it.
 *
 * Input:
 *   byte 0   options: bit 0 verify_crc; bit 1 max_decompressed 1 MiB
 *            (else 512 bytes, to reach the limit); bits 2-7 fetch_offset
 *   byte 1   bits 0-1: n, the number of aborted transactions that follow
 *   2n bytes (producer id, first offset) of each aborted transaction
 *   rest     the Records field
 *
 * Every batch, record and header is walked and every byte they point at is
 * read.  The walk runs twice on one iterator (reset in between) and must
 * give the same result both times.
 */
#include "config.h"

#include <string.h>

#include "batch.h"
#include "err.h"
#include "fuzz.h"

static volatile uint8_t sink;

static uint64_t mix(uint64_t h, int64_t v)
{
	return (h ^ (uint64_t)v) * 0x100000001b3ULL;
}

static uint8_t touch(const uint8_t *p, int32_t len)
{
	uint8_t acc = 0;
	for (int32_t i = 0; i < len; i++)
		acc ^= p[i];
	return acc;
}

static uint64_t walk_headers(const struct kf_record *r, uint64_t h)
{
	const uint8_t *p = r->headers;
	size_t left = r->headers_len;
	const uint8_t *k, *v;
	int32_t klen, vlen;
	int rc;
	size_t n = 0;
	if (!p)
		return h;
	while ((rc = kf_record_header_next(&p, &left, &k, &klen, &v, &vlen)) == 1) {
		/* Each header takes at least two bytes: it must make progress. */
		KF_FUZZ_CHECK(++n <= r->headers_len);
		KF_FUZZ_CHECK(klen >= 0 && (klen == 0 || k));
		KF_FUZZ_CHECK(vlen >= -1 && (vlen <= 0 || v));
		sink ^= touch(k, klen) ^ touch(v, vlen);
		h = mix(mix(h, klen), vlen);
	}
	return mix(h, rc);
}

static uint64_t walk_records(struct kf_batch_iter *it, int64_t fetch_offset, uint64_t h)
{
	struct kf_record r;
	int rc;
	while ((rc = kf_batch_record_next(it, &r)) == 1) {
		KF_FUZZ_CHECK(r.offset >= fetch_offset);
		KF_FUZZ_CHECK(r.key_len >= -1 && r.value_len >= -1);
		KF_FUZZ_CHECK(r.key_len != -1 || !r.key);
		KF_FUZZ_CHECK(r.value_len != -1 || !r.value);
		KF_FUZZ_CHECK(r.key_len <= 0 || r.key);
		KF_FUZZ_CHECK(r.value_len <= 0 || r.value);
		sink ^= touch(r.key, r.key_len) ^ touch(r.value, r.value_len);
		h = mix(mix(mix(h, r.offset), r.timestamp), r.key_len);
		h = walk_headers(&r, mix(h, r.value_len));
	}
	if (rc < 0)
		KF_FUZZ_CHECK(kf_batch_iter_error(it)[0]);
	return mix(h, rc);
}

/* One pass over the Records field; returns a digest of all it saw. */
static uint64_t walk(struct kf_batch_iter *it, const uint8_t *buf, size_t len,
		     int64_t fetch_offset, const struct kf_aborted_txn *aborted, size_t naborted)
{
	struct kf_txn_filter filter;
	struct kf_batch b;
	uint64_t h = 0xcbf29ce484222325ULL;
	int rc;
	bool have_filter = kf_txn_filter_init(&filter, aborted, naborted) == KF_OK;

	kf_batch_iter_reset(it, buf, len, fetch_offset);
	KF_FUZZ_CHECK(kf_batch_iter_error(it)[0] == 0);
	while ((rc = kf_batch_next(it, &b)) == 1) {
		KF_FUZZ_CHECK(b.record_count >= 0);
		h = mix(mix(mix(h, b.base_offset), b.last_offset), b.attributes);
		if (have_filter)
			h = mix(h, kf_txn_filter_skip(&filter, &b));
		h = walk_records(it, fetch_offset, h);
	}
	if (rc < 0) {
		/* Failed stays failed until the next reset. */
		KF_FUZZ_CHECK(kf_batch_iter_error(it)[0]);
		KF_FUZZ_CHECK(kf_batch_next(it, &b) < 0);
	} else {
		KF_FUZZ_CHECK(kf_batch_iter_left(it) <= len);
		h = mix(h, (int64_t)kf_batch_iter_left(it));
	}
	if (have_filter)
		kf_txn_filter_free(&filter);
	return mix(h, rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct kf_batch_opts opts = {
		.verify_crc = data[0] & 1,
		.max_decompressed = (data[0] & 2) ? 1u << 20 : 512,
	};
	int64_t fetch_offset = data[0] >> 2;
	size_t naborted = data[1] & 3;
	if (size < 2 + 2 * naborted)
		return 0;
	struct kf_aborted_txn aborted[3];
	for (size_t i = 0; i < naborted; i++) {
		aborted[i].producer_id = data[2 + 2 * i];
		aborted[i].first_offset = data[3 + 2 * i];
	}
	const uint8_t *records = data + 2 + 2 * naborted;
	size_t len = size - 2 - 2 * naborted;

	struct kf_batch_iter it;
	kf_batch_iter_init(&it, &opts);
	uint64_t h1 = walk(&it, records, len, fetch_offset, aborted, naborted);
	uint64_t h2 = walk(&it, records, len, fetch_offset, aborted, naborted);
	KF_FUZZ_CHECK(h1 == h2);
	kf_batch_iter_free(&it);
	return 0;
}
