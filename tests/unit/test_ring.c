/*
 * ring: the shared-memory record and ack rings.
 *
 * In-process tests use a copy of the supervisor's struct kf_ring as the
 * worker's (what fork gives the child: the same mapping, its own private
 * cursors).  The sleep/wake tests fork a real worker process; its exit
 * status carries what it found.  The multi-process stress run with random
 * worker deaths is tests/stress/ring_stress.c.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "ring.h"
#include "suites.h"

#define HDR 56                      /* record entry header bytes */
#define STOP_OFFSET INT64_C(-77)    /* tells a forked worker to exit */

static uint8_t pattern(uint64_t seed, size_t i)
{
	uint64_t x = seed * UINT64_C(0x9e3779b97f4a7c15) + i * UINT64_C(0xbf58476d1ce4e5b9);
	return (uint8_t)((x ^ (x >> 29)) >> 24);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(seed, i);
}

static int check_bytes(const uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(seed, i))
			return 0;
	return 1;
}

static void make(struct kf_ring *r, size_t rec_bytes, size_t ack_bytes)
{
	char err[256] = "";
	int rc = kf_ring_create(r, rec_bytes, ack_bytes, err, sizeof(err));
	ck_assert_msg(rc == KF_OK, "kf_ring_create: %s", err);
	ck_assert_int_eq(kf_ring_check(r), KF_OK);
}

/* The worker's view, as fork would give it. */
static void worker_view(struct kf_ring *w, const struct kf_ring *sup)
{
	*w = *sup;
	kf_ring_worker_restart(w);
}

static uint8_t keybuf[1 << 17];

/* A record with an entry of exactly `entry` bytes (>= HDR, multiple of 8):
 * the key carries the bytes, seeded by the offset. */
static struct kf_ring_rec sized_rec(size_t entry, int64_t offset)
{
	struct kf_ring_rec rec = { .slot = 1, .offset = offset, .key_len = (int32_t)(entry - HDR),
				   .key = keybuf, .value_len = -1 };
	fill(keybuf, entry - HDR, (uint64_t)offset);
	return rec;
}

/* Worker: read the next record, check it is `offset` with the sized_rec
 * bytes of `entry`, ack it.  Returns the record. */
static struct kf_ring_rec take_and_ack(struct kf_ring *w, size_t entry, int64_t offset)
{
	struct kf_ring_rec rec;
	ck_assert_int_eq(kf_ring_next(w, &rec), 1);
	ck_assert_int_eq(rec.offset, offset);
	ck_assert_int_eq(rec.key_len, (int)(entry - HDR));
	ck_assert_uint_eq(rec.end - rec.start, entry);
	ck_assert(check_bytes(rec.key, entry - HDR, (uint64_t)offset));
	struct kf_ring_ack ack = { .slot = rec.slot, .offset = rec.offset, .attempts = 1,
				   .end = rec.end };
	ck_assert_int_eq(kf_ring_ack(w, &ack), KF_OK);
	return rec;
}

static void pop_one(struct kf_ring *sup, int64_t offset, uint64_t end)
{
	struct kf_ring_ack ack;
	ck_assert_int_eq(kf_ring_ack_pop(sup, &ack), 1);
	ck_assert_int_eq(ack.offset, offset);
	ck_assert_uint_eq(ack.end, end);
}

/* ---- round trips -------------------------------------------------------- */

START_TEST(test_round_trip_fields)
{
	struct kf_ring sup, w;
	static const uint8_t hdrs[] = { 0x02, 'h', 0x02, 'v', 0x04, 'h', '2', 0x01 };
	uint8_t big[1000];
	fill(big, sizeof(big), 9);
	const struct kf_ring_rec in[] = {
		{ .slot = 7, .topic = 3, .partition = 5, .offset = INT64_C(1234567890123),
		  .timestamp = INT64_C(1700000000000), .key = (const uint8_t *)"k1", .key_len = 2,
		  .value = (const uint8_t *)"hello", .value_len = 5, .headers = hdrs,
		  .headers_len = sizeof(hdrs), .header_count = 2 },
		{ .slot = 0, .topic = 0, .partition = 0, .offset = 0, .timestamp = -1,
		  .key = NULL, .key_len = -1, .value = NULL, .value_len = -1 },
		{ .slot = UINT32_MAX, .topic = KF_RING_MAX_TOPICS - 1, .partition = INT32_MAX,
		  .offset = INT64_MAX, .timestamp = INT64_MIN, .key = (const uint8_t *)"",
		  .key_len = 0, .value = NULL, .value_len = 0 },
		{ .slot = 2, .partition = -1, .offset = -5, .key_len = -1, .value = big,
		  .value_len = (int32_t)sizeof(big), .header_count = -1 },
	};
	size_t n = sizeof(in) / sizeof(in[0]), used = 0;

	make(&sup, 1 << 16, 1 << 14);
	ck_assert_uint_eq(kf_ring_entry_size(&in[0]), 56 + 8 + 8);   /* 71 -> 72 */
	ck_assert_uint_eq(kf_ring_entry_size(&in[1]), 56);
	ck_assert_uint_eq(kf_ring_entry_size(&in[2]), 56);
	ck_assert_uint_eq(kf_ring_entry_size(&in[3]), 1056);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(kf_ring_push(&sup, &in[i]), KF_OK);
		used += kf_ring_entry_size(&in[i]);
		ck_assert_uint_eq(kf_ring_rec_used(&sup), used);
	}
	worker_view(&w, &sup);
	uint64_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		struct kf_ring_rec out;
		memset(&out, 0xa5, sizeof(out));
		ck_assert_int_eq(kf_ring_next(&w, &out), 1);
		ck_assert_uint_eq(out.slot, in[i].slot);
		ck_assert_uint_eq(out.topic, in[i].topic);
		ck_assert_int_eq(out.partition, in[i].partition);
		ck_assert(out.offset == in[i].offset);
		ck_assert(out.timestamp == in[i].timestamp);
		ck_assert_int_eq(out.key_len, in[i].key_len);
		ck_assert_int_eq(out.value_len, in[i].value_len);
		ck_assert_uint_eq(out.headers_len, in[i].headers_len);
		ck_assert_int_eq(out.header_count, in[i].header_count);
		ck_assert_uint_eq(out.attempts, 0);
		ck_assert_uint_eq(out.start, pos);
		pos += kf_ring_entry_size(&in[i]);
		ck_assert_uint_eq(out.end, pos);
		/* Null stays NULL; empty is a real (non-NULL) zero-length. */
		ck_assert(in[i].key_len < 0 ? out.key == NULL : out.key != NULL);
		ck_assert(in[i].value_len < 0 ? out.value == NULL : out.value != NULL);
		if (in[i].key_len > 0)
			ck_assert_mem_eq(out.key, in[i].key, (size_t)in[i].key_len);
		if (in[i].value_len > 0)
			ck_assert_mem_eq(out.value, in[i].value, (size_t)in[i].value_len);
		if (in[i].headers_len > 0)
			ck_assert_mem_eq(out.headers, in[i].headers, in[i].headers_len);
		struct kf_ring_ack ack = {
			.slot = out.slot, .status = i % 2 ? KF_ACK_FAILED : KF_ACK_OK,
			.offset = out.offset, .attempts = (uint32_t)i + 1, .end = out.end,
			.reason = i == 1 ? "boom" : NULL,
		};
		ck_assert_int_eq(kf_ring_ack(&w, &ack), KF_OK);
	}
	struct kf_ring_rec none;
	ck_assert_int_eq(kf_ring_next(&w, &none), 0);

	pos = 0;
	for (size_t i = 0; i < n; i++) {
		struct kf_ring_ack ack;
		ck_assert_int_eq(kf_ring_ack_pop(&sup, &ack), 1);
		ck_assert_uint_eq(ack.slot, in[i].slot);
		ck_assert_uint_eq(ack.status, i % 2 ? KF_ACK_FAILED : KF_ACK_OK);
		ck_assert(ack.offset == in[i].offset);
		ck_assert_uint_eq(ack.attempts, i + 1);
		pos += kf_ring_entry_size(&in[i]);
		ck_assert_uint_eq(ack.end, pos);
		ck_assert_str_eq(ack.reason, i == 1 ? "boom" : "");
		used -= kf_ring_entry_size(&in[i]);
		ck_assert_uint_eq(kf_ring_rec_used(&sup), used);
	}
	struct kf_ring_ack ack;
	ck_assert_int_eq(kf_ring_ack_pop(&sup, &ack), 0);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 0);
	kf_ring_destroy(&sup);
	kf_ring_destroy(&sup);      /* twice is harmless */
}
END_TEST

START_TEST(test_bad_push_args)
{
	struct kf_ring sup;
	make(&sup, 4096, 4096);
	struct kf_ring_rec rec = { .key_len = 3, .key = NULL, .value_len = -1 };
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_EPROTO);
	rec = (struct kf_ring_rec){ .key_len = -1, .value_len = 1, .value = NULL };
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_EPROTO);
	rec = (struct kf_ring_rec){ .key_len = -1, .value_len = -1, .headers_len = 2 };
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_EPROTO);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 0);
	kf_ring_destroy(&sup);
}
END_TEST

START_TEST(test_capacity_rounding)
{
	struct kf_ring r;
	make(&r, 100, 10);                  /* below the minimum: 4 KiB */
	ck_assert_uint_eq(kf_ring_max_entry(&r), 2048);
	kf_ring_destroy(&r);
	make(&r, 3 * 65536 - 1, 70000);     /* rounded down to 128 KiB */
	ck_assert_uint_eq(kf_ring_max_entry(&r), 65536);
	kf_ring_destroy(&r);
}
END_TEST

/* ---- wrap-around ------------------------------------------------------- */

/* Push entries totalling `bytes` (>= HDR) without wrapping, drain them. */
static void advance(struct kf_ring *sup, struct kf_ring *w, uint64_t bytes, int64_t *seq)
{
	while (bytes > 0) {
		uint64_t c = bytes <= 2048 ? bytes : (bytes - 2048 >= HDR ? 2048 : bytes - HDR);
		struct kf_ring_rec rec = sized_rec(c, *seq);
		ck_assert_int_eq(kf_ring_push(sup, &rec), KF_OK);
		struct kf_ring_rec got = take_and_ack(w, c, *seq);
		pop_one(sup, *seq, got.end);
		(*seq)++;
		bytes -= c;
	}
}

/* With `gap` bytes left before the end of a 4 KiB ring: an entry of
 * exactly gap bytes fits there; one of gap + 8 leaves a pad of gap bytes
 * and starts at index 0, and the pad is released with its ack. */
static void wrap_case(uint64_t gap, bool exact)
{
	const uint64_t cap = 4096;
	struct kf_ring sup, w;
	int64_t seq = 1;
	uint64_t size = exact ? gap : gap + 8;

	if (size < HDR)
		size = HDR;
	if (size > cap / 2 || (exact && size != gap))
		return;
	make(&sup, cap, 4096);
	worker_view(&w, &sup);
	advance(&sup, &w, cap - gap, &seq);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 0);

	struct kf_ring_rec rec = sized_rec(size, 100);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	uint64_t pad = size > gap ? gap : 0;
	ck_assert_uint_eq(kf_ring_rec_used(&sup), pad + size);
	/* A second record right behind it, while the first is unreleased,
	 * when there is room for both. */
	bool second = pad + size + 64 <= cap;
	rec = sized_rec(64, 101);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), second ? KF_OK : KF_EAGAIN);

	struct kf_ring_rec a = take_and_ack(&w, size, 100);
	ck_assert_uint_eq(a.start, cap - gap + pad);
	ck_assert_uint_eq(a.start % cap, pad ? 0 : cap - gap);
	if (!second) {
		pop_one(&sup, 100, a.end);
		ck_assert_uint_eq(kf_ring_rec_used(&sup), 0);
		ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	}
	struct kf_ring_rec b = take_and_ack(&w, 64, 101);
	ck_assert_uint_eq(b.start, a.end);
	if (second) {
		pop_one(&sup, 100, a.end);
		ck_assert_uint_eq(kf_ring_rec_used(&sup), 64);   /* pad went too */
	}
	pop_one(&sup, 101, b.end);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 0);

	/* Empty again, wherever the head stands: the largest entry fits. */
	rec = sized_rec(cap / 2, 102);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	struct kf_ring_rec c = take_and_ack(&w, cap / 2, 102);
	pop_one(&sup, 102, c.end);
	kf_ring_destroy(&sup);
}

START_TEST(test_wrap_every_alignment)
{
	/* A head index in (0, 56) cannot occur (no entry crosses the end and
	 * none is shorter than 56), so gaps run from 8 to cap - 56. */
	for (uint64_t gap = 8; gap <= 4096 - HDR; gap += 8) {
		wrap_case(gap, true);
		wrap_case(gap, false);
	}
}
END_TEST

/* Acks of every reason length wrap the 4 KiB ack ring at many alignments;
 * reasons are cut at KF_RING_REASON_MAX. */
START_TEST(test_ack_wrap_and_reasons)
{
	struct kf_ring sup, w;
	static char reason[KF_RING_REASON_MAX + 200];

	make(&sup, 1 << 16, 4096);
	worker_view(&w, &sup);
	for (int i = 0; i < 3000; i++) {
		size_t len = (size_t)(i * 37) % (sizeof(reason) - 1);
		fill((uint8_t *)reason, len, (uint64_t)i);
		for (size_t j = 0; j < len; j++)
			reason[j] = (char)('a' + reason[j] % 26);
		reason[len] = '\0';
		struct kf_ring_rec rec = sized_rec(64, i);
		ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
		struct kf_ring_rec got;
		ck_assert_int_eq(kf_ring_next(&w, &got), 1);
		struct kf_ring_ack ack = { .slot = 3, .status = KF_ACK_FAILED, .offset = i,
					   .attempts = 2, .end = got.end, .reason = reason };
		ck_assert_int_eq(kf_ring_ack(&w, &ack), KF_OK);
		struct kf_ring_ack out;
		ck_assert_int_eq(kf_ring_ack_pop(&sup, &out), 1);
		size_t want = len < KF_RING_REASON_MAX ? len : KF_RING_REASON_MAX;
		ck_assert_uint_eq(strlen(out.reason), want);
		ck_assert_int_eq(memcmp(out.reason, reason, want), 0);
		ck_assert_int_eq(out.offset, i);
		ck_assert_uint_eq(out.end, got.end);
	}
	kf_ring_destroy(&sup);
}
END_TEST

/* ---- full, too big ----------------------------------------------------- */

START_TEST(test_full_then_freed_by_pop)
{
	struct kf_ring sup, w;
	make(&sup, 4096, 4096);
	worker_view(&w, &sup);
	int n = 0;
	for (;; n++) {
		struct kf_ring_rec rec = sized_rec(64, n);
		int rc = kf_ring_push(&sup, &rec);
		if (rc == KF_EAGAIN)
			break;
		ck_assert_int_eq(rc, KF_OK);
	}
	ck_assert_int_eq(n, 4096 / 64);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 4096);

	/* Read and acked is not released: only the supervisor's pop is. */
	struct kf_ring_rec got = take_and_ack(&w, 64, 0);
	struct kf_ring_rec rec = sized_rec(64, n);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_EAGAIN);
	pop_one(&sup, 0, got.end);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 4096 - 64);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_EAGAIN);
	/* Every record comes out in order, the last one after the wrap. */
	for (int i = 1; i <= n; i++) {
		got = take_and_ack(&w, 64, i);
		pop_one(&sup, i, got.end);
	}
	ck_assert_uint_eq(got.start % 4096, 0);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 0);
	kf_ring_destroy(&sup);
}
END_TEST

START_TEST(test_too_big)
{
	struct kf_ring sup, w;
	make(&sup, 4096, 4096);
	worker_view(&w, &sup);
	ck_assert_uint_eq(kf_ring_max_entry(&sup), 2048);

	/* Entry of exactly cap/2 bytes: accepted. */
	struct kf_ring_rec rec = sized_rec(2048, 1);
	ck_assert_uint_eq(kf_ring_entry_size(&rec), 2048);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	/* One byte more (cap/2 + 1, 8-aligned to cap/2 + 8): refused, and
	 * refused whatever the ring holds, unlike a record that only waits
	 * for room. */
	uint8_t v[1];
	rec.value = v;
	rec.value_len = 1;
	ck_assert_uint_eq(kf_ring_entry_size(&rec), 2056);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_ETOOBIG);
	struct kf_ring_rec ok = sized_rec(2048, 2);
	ck_assert_int_eq(kf_ring_push(&sup, &ok), KF_OK);
	ck_assert_int_eq(kf_ring_push(&sup, &ok), KF_EAGAIN);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_ETOOBIG);
	/* Headers count too. */
	struct kf_ring_rec h = { .key_len = -1, .value_len = -1, .headers = keybuf,
				 .headers_len = 2048 - HDR + 1 };
	ck_assert_int_eq(kf_ring_push(&sup, &h), KF_ETOOBIG);
	/* Nothing was dropped or half-written: the two records come out. */
	struct kf_ring_rec a = take_and_ack(&w, 2048, 1);
	struct kf_ring_rec b = take_and_ack(&w, 2048, 2);
	pop_one(&sup, 1, a.end);
	pop_one(&sup, 2, b.end);
	ck_assert_int_eq(kf_ring_next(&w, &a), 0);
	kf_ring_destroy(&sup);
}
END_TEST

/* ---- worker death and restart ------------------------------------------ */

START_TEST(test_restart_sequence)
{
	struct kf_ring sup, w;
	make(&sup, 1 << 14, 4096);
	ck_assert_int_eq(kf_ring_set_topic(&sup, 0, "events"), KF_OK);
	for (int i = 1; i <= 5; i++) {
		struct kf_ring_rec rec = sized_rec(64 + 8 * (size_t)i, i);
		ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	}
	uint64_t total = kf_ring_rec_used(&sup);

	/* Worker 1 reads all five, runs each, acks two, dies. */
	worker_view(&w, &sup);
	struct kf_ring_rec got[6];
	for (int i = 1; i <= 5; i++) {
		ck_assert_int_eq(kf_ring_next(&w, &got[i]), 1);
		ck_assert_int_eq(got[i].offset, i);
		ck_assert_uint_eq(got[i].attempts, 0);
		kf_ring_attempt(&w, &got[i]);
		ck_assert_uint_eq(got[i].attempts, 1);
	}
	for (int i = 1; i <= 2; i++) {
		struct kf_ring_ack ack = { .offset = i, .attempts = 1, .end = got[i].end };
		ck_assert_int_eq(kf_ring_ack(&w, &ack), KF_OK);
	}
	/* Supervisor: pop what the dead worker left. */
	pop_one(&sup, 1, got[1].end);
	pop_one(&sup, 2, got[2].end);
	struct kf_ring_ack none;
	ck_assert_int_eq(kf_ring_ack_pop(&sup, &none), 0);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), total - got[2].end);

	/* Worker 2: records 3..5 again, from the same memory, counted. */
	worker_view(&w, &sup);
	struct kf_ring_rec again[6];
	for (int i = 3; i <= 5; i++) {
		ck_assert_int_eq(kf_ring_next(&w, &again[i]), 1);
		ck_assert_int_eq(again[i].offset, i);
		ck_assert_uint_eq(again[i].attempts, 1);
		ck_assert_ptr_eq(again[i].key, got[i].key);
		ck_assert(check_bytes(again[i].key, (size_t)again[i].key_len, (uint64_t)i));
	}
	struct kf_ring_rec tmp;
	ck_assert_int_eq(kf_ring_next(&w, &tmp), 0);
	kf_ring_attempt(&w, &again[3]);
	ck_assert_uint_eq(again[3].attempts, 2);
	struct kf_ring_ack ack3 = { .offset = 3, .attempts = 2, .end = again[3].end };
	ck_assert_int_eq(kf_ring_ack(&w, &ack3), KF_OK);
	/* Dies again after one ack (4 was read, not attempted). */
	pop_one(&sup, 3, again[3].end);

	worker_view(&w, &sup);
	for (int i = 4; i <= 5; i++) {
		struct kf_ring_rec r3;
		ck_assert_int_eq(kf_ring_next(&w, &r3), 1);
		ck_assert_int_eq(r3.offset, i);
		ck_assert_uint_eq(r3.attempts, 1);
		ck_assert_str_eq(kf_ring_topic(&w, r3.topic), "events");
		struct kf_ring_ack ack = { .offset = i, .end = r3.end };
		ck_assert_int_eq(kf_ring_ack(&w, &ack), KF_OK);
	}
	pop_one(&sup, 4, got[4].end);
	pop_one(&sup, 5, got[5].end);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 0);
	kf_ring_destroy(&sup);
}
END_TEST

/* The released tail can stand on a pad: the replacement skips it. */
START_TEST(test_restart_at_pad)
{
	struct kf_ring sup, w;
	make(&sup, 4096, 4096);
	worker_view(&w, &sup);
	struct kf_ring_rec r1 = sized_rec(1504, 1);
	ck_assert_int_eq(kf_ring_push(&sup, &r1), KF_OK);
	struct kf_ring_rec r2 = sized_rec(1504, 2);
	ck_assert_int_eq(kf_ring_push(&sup, &r2), KF_OK);
	struct kf_ring_rec r3 = sized_rec(1504, 3);
	ck_assert_int_eq(kf_ring_push(&sup, &r3), KF_EAGAIN);    /* needs pad + 1504 */
	struct kf_ring_rec a = take_and_ack(&w, 1504, 1);
	pop_one(&sup, 1, a.end);
	ck_assert_int_eq(kf_ring_push(&sup, &r3), KF_OK);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 4096);
	struct kf_ring_rec b = take_and_ack(&w, 1504, 2);
	struct kf_ring_rec c;
	ck_assert_int_eq(kf_ring_next(&w, &c), 1);
	ck_assert_uint_eq(c.start, 4096);
	kf_ring_attempt(&w, &c);
	pop_one(&sup, 2, b.end);        /* tail = 3008: the pad */

	worker_view(&w, &sup);
	ck_assert_uint_eq(w.rec_read, 3008);
	struct kf_ring_rec again = take_and_ack(&w, 1504, 3);
	ck_assert_uint_eq(again.start, 4096);
	ck_assert_uint_eq(again.attempts, 1);
	pop_one(&sup, 3, again.end);
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 0);
	kf_ring_destroy(&sup);
}
END_TEST

/* ---- topic table, header, corruption ----------------------------------- */

START_TEST(test_topic_table)
{
	struct kf_ring sup, w;
	char longest[KF_RING_TOPIC_MAX + 2];

	make(&sup, 4096, 4096);
	memset(longest, 't', sizeof(longest));
	longest[KF_RING_TOPIC_MAX] = '\0';
	ck_assert_int_eq(kf_ring_set_topic(&sup, 0, "events"), KF_OK);
	ck_assert_int_eq(kf_ring_set_topic(&sup, KF_RING_MAX_TOPICS - 1, longest), KF_OK);
	ck_assert_int_eq(kf_ring_set_topic(&sup, 0, "events"), KF_OK);
	ck_assert_int_eq(kf_ring_set_topic(&sup, 0, "other"), KF_EPROTO);
	ck_assert_int_eq(kf_ring_set_topic(&sup, KF_RING_MAX_TOPICS, "x"), KF_EPROTO);
	longest[KF_RING_TOPIC_MAX] = 't';
	longest[KF_RING_TOPIC_MAX + 1] = '\0';
	ck_assert_int_eq(kf_ring_set_topic(&sup, 5, longest), KF_EPROTO);
	ck_assert_int_eq(kf_ring_set_topic(&sup, 6, "a.b-c_d"), KF_OK);

	worker_view(&w, &sup);
	ck_assert_str_eq(kf_ring_topic(&w, 0), "events");
	ck_assert_str_eq(kf_ring_topic(&w, 6), "a.b-c_d");
	ck_assert_uint_eq(strlen(kf_ring_topic(&w, KF_RING_MAX_TOPICS - 1)), KF_RING_TOPIC_MAX);
	ck_assert_str_eq(kf_ring_topic(&w, 5), "");
	ck_assert_str_eq(kf_ring_topic(&w, 1), "");
	ck_assert_str_eq(kf_ring_topic(&w, KF_RING_MAX_TOPICS), "");
	ck_assert_str_eq(kf_ring_topic(&w, UINT32_MAX), "");
	kf_ring_destroy(&sup);
}
END_TEST

START_TEST(test_header_check)
{
	struct kf_ring sup, other;
	make(&sup, 8192, 4096);
	make(&other, 4096, 4096);
	ck_assert_int_eq(kf_ring_check(&sup), KF_OK);
	struct kf_ring mixed = sup;
	mixed.rec_cap = other.rec_cap;      /* a struct that does not match */
	ck_assert_int_eq(kf_ring_check(&mixed), KF_EPROTO);
	*(volatile uint64_t *)sup.sh ^= 1;  /* the magic */
	ck_assert_int_eq(kf_ring_check(&sup), KF_EPROTO);
	*(volatile uint64_t *)sup.sh ^= 1;
	ck_assert_int_eq(kf_ring_check(&sup), KF_OK);
	struct kf_ring zero;
	memset(&zero, 0, sizeof(zero));
	ck_assert_int_eq(kf_ring_check(&zero), KF_EPROTO);
	kf_ring_destroy(&zero);             /* zeroed struct: no-op */
	kf_ring_destroy(&other);
	kf_ring_destroy(&sup);
}
END_TEST

/* A worker that scribbles over the rings cannot make the supervisor read
 * out of bounds or release what was not pushed; a bad record entry is an
 * error for the worker, not a crash. */
START_TEST(test_corruption_detected)
{
	struct kf_ring sup, w;
	make(&sup, 4096, 4096);
	worker_view(&w, &sup);
	struct kf_ring_rec rec = sized_rec(64, 1);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	struct kf_ring_rec got;
	ck_assert_int_eq(kf_ring_next(&w, &got), 1);

	/* An ack whose end lies past what was pushed. */
	struct kf_ring_ack bad = { .offset = 1, .end = got.end + 8 };
	ck_assert_int_eq(kf_ring_ack(&w, &bad), KF_OK);
	struct kf_ring_ack out;
	ck_assert_int_eq(kf_ring_ack_pop(&sup, &out), KF_EPROTO);
	ck_assert_int_eq(kf_ring_ack_pop(&sup, &out), KF_EPROTO);   /* not consumed */
	ck_assert_uint_eq(kf_ring_rec_used(&sup), 64);
	kf_ring_destroy(&sup);

	/* An ack entry with a reason length beyond its entry. */
	make(&sup, 4096, 4096);
	worker_view(&w, &sup);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	ck_assert_int_eq(kf_ring_next(&w, &got), 1);
	struct kf_ring_ack good = { .offset = 1, .end = got.end, .reason = "x" };
	ck_assert_int_eq(kf_ring_ack(&w, &good), KF_OK);
	uint32_t *ah = (uint32_t *)w.ack_base;
	ah[9] = 4000;                       /* reason_len */
	ck_assert_int_eq(kf_ring_ack_pop(&sup, &out), KF_EPROTO);
	ah[9] = 1;
	ck_assert_int_eq(kf_ring_ack_pop(&sup, &out), 1);
	ck_assert_str_eq(out.reason, "x");

	/* A record entry whose key runs past it. */
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	int32_t *rh = (int32_t *)(w.rec_base + 64);
	rh[5] = 100;                        /* key_len */
	ck_assert_int_eq(kf_ring_next(&w, &got), KF_EPROTO);
	rh[5] = 8;
	ck_assert_int_eq(kf_ring_next(&w, &got), 1);
	rh[1] = 0;                          /* kind of the next, unpublished */
	ck_assert_int_eq(kf_ring_next(&w, &got), 0);
	kf_ring_destroy(&sup);
}
END_TEST

/* ---- sleep and wake across processes ----------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void spin_us(int us)
{
	int64_t t0 = now_us();
	while (now_us() - t0 < us)
		;
}

/* Supervisor: the next ack, sleeping on ack_efd when there is none.
 * 1 and *ack; 0 if timeout_ms passed with no wakeup (a lost one). */
static int pop_wait(struct kf_ring *sup, struct kf_ring_ack *ack, int timeout_ms)
{
	for (;;) {
		int rc = kf_ring_ack_pop(sup, ack);
		if (rc != 0)
			return rc;
		if (!kf_ring_ack_sleep(sup))
			continue;
		struct pollfd p = { .fd = sup->ack_efd, .events = POLLIN };
		int n = poll(&p, 1, timeout_ms);
		kf_ring_ack_woken(sup);
		if (n == 0)
			return 0;
	}
}

/* Wait for a forked child, at most timeout_ms; its exit status, or -1
 * (killed by us: it hung). */
static int reap(pid_t pid, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;
	int st;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_ms() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(1000);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -2;
}

/* Set before fork_worker: the child waits 0-12 us before each ack. */
static bool child_delays;

/* Worker loop for the forked tests: check offsets count up from 0, ack
 * each, exit 0 at STOP_OFFSET.  Exit status: number of waits that ran
 * into their 2 s timeout (a lost wakeup), or 100+ for a wrong record. */
static void worker_child(struct kf_ring *w)
{
	int64_t expect = 0;
	int timeouts = 0;

	kf_ring_worker_restart(w);
	for (;;) {
		struct kf_ring_rec rec;
		int rc = kf_ring_next(w, &rec);
		if (rc < 0)
			_exit(101);
		if (rc == 0) {
			int64_t t0 = now_ms();
			kf_ring_wait(w, 2000);
			if (now_ms() - t0 >= 1900 && kf_ring_next(w, &rec) == 0)
				timeouts++;
			continue;
		}
		if (rec.offset != STOP_OFFSET && rec.offset != expect++)
			_exit(102);
		if (child_delays)
			spin_us((int)(rec.offset % 5) * 3);
		kf_ring_attempt(w, &rec);
		struct kf_ring_ack ack = { .offset = rec.offset, .attempts = rec.attempts,
					   .end = rec.end };
		while (kf_ring_ack(w, &ack) == KF_EAGAIN) {
			int64_t t0 = now_ms();
			kf_ring_wait(w, 2000);
			if (now_ms() - t0 >= 1900)
				timeouts++;
		}
		if (rec.offset == STOP_OFFSET)
			_exit(timeouts > 99 ? 99 : timeouts);
	}
}

static pid_t fork_worker(struct kf_ring *sup)
{
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct kf_ring w = *sup;
		worker_child(&w);
	}
	return pid;
}

static void stop_worker(struct kf_ring *sup, pid_t pid)
{
	struct kf_ring_rec stop = { .offset = STOP_OFFSET, .key_len = -1, .value_len = -1 };
	struct kf_ring_ack ack;
	ck_assert_int_eq(kf_ring_push(sup, &stop), KF_OK);
	ck_assert_int_eq(pop_wait(sup, &ack, 5000), 1);
	ck_assert_int_eq(ack.offset, STOP_OFFSET);
	ck_assert_int_eq(reap(pid, 5000), 0);
}

START_TEST(test_wait_woken_by_push)
{
	struct kf_ring sup;
	struct kf_ring_stats st;
	make(&sup, 1 << 14, 4096);
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct kf_ring w = sup;
		struct kf_ring_rec rec;
		kf_ring_worker_restart(&w);
		int64_t t0 = now_ms();
		while (kf_ring_next(&w, &rec) == 0 && now_ms() - t0 < 5000)
			kf_ring_wait(&w, 5000);
		_exit(now_ms() - t0 >= 4000 ? 1 : rec.offset == 42 ? 0 : 2);
	}
	/* Push only once the child is really asleep. */
	int64_t until = now_ms() + 3000;
	do {
		usleep(2000);
		kf_ring_stats(&sup, &st);
	} while (st.worker_sleeps == 0 && now_ms() < until);
	ck_assert_uint_eq(st.worker_sleeps, 1);
	usleep(20000);
	struct kf_ring_rec rec = { .offset = 42, .key_len = -1, .value_len = -1 };
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	ck_assert_int_eq(reap(pid, 6000), 0);
	kf_ring_stats(&sup, &st);
	ck_assert_uint_eq(st.rec_wakeups, 1);
	kf_ring_destroy(&sup);
}
END_TEST

/* 10k round trips in lock step.  The delays before each push (here) and
 * each ack (in the child) sweep across the worker's spin-before-sleep and
 * the announce/re-check windows of both sides, so records arrive while
 * the peer spins, while it announces, and while it sleeps; a lost wakeup
 * shows as a 2 s stall. */
START_TEST(test_ping_pong_no_lost_wakeup)
{
	struct kf_ring sup;
	struct kf_ring_stats st;
	const int n = 10000;
	make(&sup, 1 << 14, 4096);
	child_delays = true;
	pid_t pid = fork_worker(&sup);
	child_delays = false;
	int stalls = 0;
	for (int i = 0; i < n; i++) {
		struct kf_ring_rec rec = { .offset = i, .key_len = -1, .value_len = -1 };
		spin_us(i % 7 * 5);
		ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
		struct kf_ring_ack ack;
		int rc;
		while ((rc = pop_wait(&sup, &ack, 2000)) == 0)
			stalls++;
		ck_assert_int_eq(rc, 1);
		ck_assert_int_eq(ack.offset, i);
	}
	stop_worker(&sup, pid);
	ck_assert_int_eq(stalls, 0);
	kf_ring_stats(&sup, &st);
	fprintf(stderr, "ring: ping-pong: %d round trips, worker slept %llu times, "
		"supervisor %llu; eventfd writes %llu + %llu\n", n,
		(unsigned long long)st.worker_sleeps, (unsigned long long)st.sup_sleeps,
		(unsigned long long)st.rec_wakeups, (unsigned long long)st.ack_wakeups);
	/* At most one eventfd write per announced sleep (an announcement
	 * taken back after the re-check may still have drawn one). */
	ck_assert_uint_gt(st.worker_sleeps, 0);
	ck_assert_uint_gt(st.sup_sleeps, 0);
	ck_assert_uint_le(st.rec_wakeups + st.ack_wakeups, 2 * (uint64_t)n + 2);
	kf_ring_destroy(&sup);
}
END_TEST

/* Batches of 256 records into a big record ring with a small ack ring:
 * the worker runs into a full ack ring and sleeps for room, the
 * supervisor sleeps for acks; the eventfd writes stay far below one per
 * record. */
START_TEST(test_busy_pipeline_few_wakeups)
{
	struct kf_ring sup;
	struct kf_ring_stats st;
	const int rounds = 100, batch = 256;
	make(&sup, 1 << 16, 4096);
	pid_t pid = fork_worker(&sup);
	int64_t seq = 0;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < batch; i++) {
			struct kf_ring_rec rec = sized_rec(64, seq + i);
			ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
		}
		for (int i = 0; i < batch; i++) {
			struct kf_ring_ack ack;
			ck_assert_int_eq(pop_wait(&sup, &ack, 2000), 1);
			ck_assert_int_eq(ack.offset, seq + i);
			ck_assert_uint_eq(ack.attempts, 1);
		}
		seq += batch;
	}
	stop_worker(&sup, pid);
	kf_ring_stats(&sup, &st);
	uint64_t writes = st.rec_wakeups + st.ack_wakeups;
	fprintf(stderr, "ring: busy pipeline: %lld records, %llu eventfd writes "
		"(to worker %llu, to supervisor %llu)\n", (long long)seq,
		(unsigned long long)writes, (unsigned long long)st.rec_wakeups,
		(unsigned long long)st.ack_wakeups);
	ck_assert_uint_lt(writes, (uint64_t)seq / 4);
	kf_ring_destroy(&sup);
}
END_TEST

static void on_alarm(int sig)
{
	(void)sig;
}

START_TEST(test_wait_eintr)
{
	struct kf_ring sup, w;
	make(&sup, 4096, 4096);
	worker_view(&w, &sup);
	struct sigaction sa = { .sa_handler = on_alarm };   /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	struct itimerval it = { .it_value = { .tv_usec = 50000 } };
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	int64_t t0 = now_ms();
	ck_assert_int_eq(kf_ring_wait(&w, 5000), KF_EAGAIN);
	ck_assert_int_lt(now_ms() - t0, 4000);
	/* A timeout is KF_OK: the caller looks again. */
	ck_assert_int_eq(kf_ring_wait(&w, 10), KF_OK);
	/* With a record there, no sleep at all. */
	struct kf_ring_rec rec = sized_rec(64, 1);
	ck_assert_int_eq(kf_ring_push(&sup, &rec), KF_OK);
	t0 = now_ms();
	ck_assert_int_eq(kf_ring_wait(&w, 5000), KF_OK);
	ck_assert_int_lt(now_ms() - t0, 1000);
	kf_ring_destroy(&sup);
}
END_TEST

Suite *suite_ring(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_round_trip_fields);
	tcase_add_test(tc, test_bad_push_args);
	tcase_add_test(tc, test_capacity_rounding);
	tcase_add_test(tc, test_wrap_every_alignment);
	tcase_add_test(tc, test_ack_wrap_and_reasons);
	tcase_add_test(tc, test_full_then_freed_by_pop);
	tcase_add_test(tc, test_too_big);
	tcase_add_test(tc, test_restart_sequence);
	tcase_add_test(tc, test_restart_at_pad);
	tcase_add_test(tc, test_topic_table);
	tcase_add_test(tc, test_header_check);
	tcase_add_test(tc, test_corruption_detected);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("processes");
	tcase_add_test(tc, test_wait_woken_by_push);
	tcase_add_test(tc, test_ping_pong_no_lost_wakeup);
	tcase_add_test(tc, test_busy_pipeline_few_wakeups);
	tcase_add_test(tc, test_wait_eintr);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}
