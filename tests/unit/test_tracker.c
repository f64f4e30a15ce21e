/*
 * tracker: hand-made edge cases, then random dispatch/ack sequences
 * (fixed seeds) checked after every operation against a plain model: the
 * list of offsets dispatched since the last reset with their state; the
 * commit point is the smallest offset not done, else the position.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "tracker.h"

START_TEST(inactive_slot)
{
	struct kf_tracker *t = kf_tracker_new(0);

	ck_assert_ptr_nonnull(t);
	ck_assert(!kf_tracker_active(t, 0));
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), -1);
	ck_assert_int_eq(kf_tracker_position(t, 3), -1);
	ck_assert_int_eq(kf_tracker_dispatched(t, 0, 5), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_skip_to(t, 0, 5), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_done(t, 0, 5), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_failed(t, 9, 5, KF_TRACKER_FAIL_PAUSE), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_skip_failed(t, 0), KF_EPROTO);
	ck_assert_uint_eq(kf_tracker_inflight(t, 0), 0);
	ck_assert_uint_eq(kf_tracker_window(t, 0), 0);
	ck_assert(!kf_tracker_full(t, 0));
	ck_assert(!kf_tracker_paused(t, 0, NULL));
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->done, 0);
	ck_assert_uint_eq(kf_tracker_totals(t)->unknown, 2);    /* the two acks */
	ck_assert_int_eq(kf_tracker_reset(t, 0, -1), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_reset(t, KF_TRACKER_MAX_SLOTS, 0), KF_ETOOBIG);
	kf_tracker_release(t, 4);      /* harmless */
	kf_tracker_free(t);
	kf_tracker_free(NULL);
}
END_TEST

START_TEST(empty_partition)
{
	struct kf_tracker *t = kf_tracker_new(0);

	ck_assert_int_eq(kf_tracker_reset(t, 0, 42), KF_OK);
	ck_assert(kf_tracker_active(t, 0));
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 42);
	ck_assert_int_eq(kf_tracker_position(t, 0), 42);
	ck_assert_int_eq(kf_tracker_done(t, 0, 42), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_done(t, 0, 41), KF_TRACKER_DUP);
	ck_assert_int_eq(kf_tracker_skip_to(t, 0, 42), KF_OK);
	ck_assert_int_eq(kf_tracker_skip_to(t, 0, 50), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 50);
	ck_assert_int_eq(kf_tracker_skip_to(t, 0, 49), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_position(t, 0), 50);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->gap_offsets, 8);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->unknown, 1);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->dups, 1);
	kf_tracker_free(t);
}
END_TEST

START_TEST(out_of_order_acks)
{
	struct kf_tracker *t = kf_tracker_new(0);

	kf_tracker_reset(t, 2, 10);
	for (int64_t o = 10; o < 13; o++)
		ck_assert_int_eq(kf_tracker_dispatched(t, 2, o), KF_OK);
	ck_assert_uint_eq(kf_tracker_inflight(t, 2), 3);
	ck_assert_uint_eq(kf_tracker_total_inflight(t), 3);
	ck_assert_int_eq(kf_tracker_done(t, 2, 12), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 2), 10);
	ck_assert_uint_eq(kf_tracker_window(t, 2), 3);
	ck_assert_int_eq(kf_tracker_done(t, 2, 10), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 2), 11);
	ck_assert_uint_eq(kf_tracker_window(t, 2), 2);
	ck_assert_int_eq(kf_tracker_done(t, 2, 12), KF_TRACKER_DUP);
	ck_assert_int_eq(kf_tracker_done(t, 2, 11), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 2), 13);
	ck_assert_uint_eq(kf_tracker_window(t, 2), 0);
	ck_assert_uint_eq(kf_tracker_inflight(t, 2), 0);
	ck_assert_uint_eq(kf_tracker_total_inflight(t), 0);
	/* Twice acked: counted once. */
	ck_assert_int_eq(kf_tracker_done(t, 2, 11), KF_TRACKER_DUP);
	ck_assert_uint_eq(kf_tracker_counters(t, 2)->done, 3);
	ck_assert_uint_eq(kf_tracker_counters(t, 2)->dups, 2);
	ck_assert_uint_eq(kf_tracker_totals(t)->done, 3);
	ck_assert_uint_eq(kf_tracker_totals(t)->dispatched, 3);
	kf_tracker_free(t);
}
END_TEST

START_TEST(gaps)
{
	struct kf_tracker *t = kf_tracker_new(0);

	kf_tracker_reset(t, 0, 0);
	ck_assert_int_eq(kf_tracker_dispatched(t, 0, 3), KF_OK);
	ck_assert_int_eq(kf_tracker_dispatched(t, 0, 7), KF_OK);
	ck_assert_int_eq(kf_tracker_dispatched(t, 0, 7), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_dispatched(t, 0, 6), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 3);
	ck_assert_int_eq(kf_tracker_position(t, 0), 8);
	ck_assert_int_eq(kf_tracker_done(t, 0, 5), KF_EPROTO);   /* in a gap */
	ck_assert_int_eq(kf_tracker_done(t, 0, 2), KF_TRACKER_DUP);
	ck_assert_int_eq(kf_tracker_done(t, 0, 8), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_done(t, 0, 7), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 3);
	ck_assert_int_eq(kf_tracker_done(t, 0, 3), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 8);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->gap_offsets, 6);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->unknown, 2);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->dispatched, 2);
	kf_tracker_free(t);
}
END_TEST

/* A transaction marker after in-flight records: the position moves, the
 * commit point waits for the records. */
START_TEST(skip_with_inflight)
{
	struct kf_tracker *t = kf_tracker_new(0);

	kf_tracker_reset(t, 1, 5);
	kf_tracker_dispatched(t, 1, 5);
	kf_tracker_dispatched(t, 1, 6);
	ck_assert_int_eq(kf_tracker_skip_to(t, 1, 100), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 1), 5);
	ck_assert_int_eq(kf_tracker_position(t, 1), 100);
	ck_assert_int_eq(kf_tracker_done(t, 1, 6), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 1), 5);
	ck_assert_int_eq(kf_tracker_done(t, 1, 50), KF_EPROTO);  /* skipped */
	ck_assert_int_eq(kf_tracker_done(t, 1, 4), KF_TRACKER_DUP);
	ck_assert_int_eq(kf_tracker_done(t, 1, 5), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 1), 100);
	ck_assert_int_eq(kf_tracker_dispatched(t, 1, 99), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_dispatched(t, 1, 100), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 1), 100);
	kf_tracker_free(t);
}
END_TEST

/* Reassignment while records are in flight: they are forgotten; old acks
 * do not count, or count for the redelivered record. */
START_TEST(reset_while_inflight)
{
	struct kf_tracker *t = kf_tracker_new(0);

	kf_tracker_reset(t, 0, 10);
	kf_tracker_reset(t, 1, 0);
	for (int64_t o = 10; o < 15; o++)
		kf_tracker_dispatched(t, 0, o);
	kf_tracker_dispatched(t, 1, 0);
	kf_tracker_done(t, 0, 11);
	ck_assert_uint_eq(kf_tracker_total_inflight(t), 5);
	ck_assert_int_eq(kf_tracker_reset(t, 0, 10), KF_OK);
	ck_assert_uint_eq(kf_tracker_inflight(t, 0), 0);
	ck_assert_uint_eq(kf_tracker_window(t, 0), 0);
	ck_assert_uint_eq(kf_tracker_total_inflight(t), 1);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 10);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->dispatched, 0);
	ck_assert_uint_eq(kf_tracker_totals(t)->dispatched, 6);
	ck_assert_int_eq(kf_tracker_done(t, 0, 12), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_done(t, 0, 9), KF_TRACKER_DUP);
	for (int64_t o = 10; o < 15; o++)
		ck_assert_int_eq(kf_tracker_dispatched(t, 0, o), KF_OK);
	/* The old delivery of 12 finishes: the record is processed. */
	ck_assert_int_eq(kf_tracker_done(t, 0, 12), KF_OK);
	ck_assert_int_eq(kf_tracker_done(t, 0, 12), KF_TRACKER_DUP);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 10);
	ck_assert_uint_eq(kf_tracker_total_inflight(t), 5);
	/* Reset to a later position, then release. */
	ck_assert_int_eq(kf_tracker_reset(t, 0, 1000), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 1000);
	kf_tracker_release(t, 0);
	ck_assert(!kf_tracker_active(t, 0));
	ck_assert_uint_eq(kf_tracker_total_inflight(t), 1);
	ck_assert_int_eq(kf_tracker_done(t, 0, 13), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_commit_point(t, 1), 0);
	kf_tracker_free(t);
}
END_TEST

START_TEST(fail_pause)
{
	struct kf_tracker *t = kf_tracker_new(0);
	int64_t off = -1;

	kf_tracker_reset(t, 0, 1);
	for (int64_t o = 1; o <= 4; o++)
		kf_tracker_dispatched(t, 0, o);
	ck_assert_int_eq(kf_tracker_failed(t, 0, 3, KF_TRACKER_FAIL_PAUSE), KF_OK);
	ck_assert(kf_tracker_paused(t, 0, &off));
	ck_assert_int_eq(off, 3);
	ck_assert_uint_eq(kf_tracker_inflight(t, 0), 3);
	ck_assert_int_eq(kf_tracker_failed(t, 0, 2, KF_TRACKER_FAIL_PAUSE), KF_OK);
	ck_assert(kf_tracker_paused(t, 0, &off));
	ck_assert_int_eq(off, 2);
	ck_assert_int_eq(kf_tracker_done(t, 0, 1), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 2);
	ck_assert_int_eq(kf_tracker_done(t, 0, 4), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 2);
	ck_assert_uint_eq(kf_tracker_inflight(t, 0), 0);
	ck_assert_uint_eq(kf_tracker_window(t, 0), 3);
	/* A late OK ack of a failed record changes nothing. */
	ck_assert_int_eq(kf_tracker_done(t, 0, 3), KF_TRACKER_DUP);
	ck_assert_int_eq(kf_tracker_failed(t, 0, 2, KF_TRACKER_FAIL_SKIP), KF_TRACKER_DUP);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->failed, 2);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->done, 2);
	ck_assert_int_eq(kf_tracker_skip_failed(t, 0), KF_OK);
	ck_assert(!kf_tracker_paused(t, 0, &off));
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 5);
	ck_assert_uint_eq(kf_tracker_window(t, 0), 0);
	/* Pause, then a reset to the failed record to process it again. */
	kf_tracker_dispatched(t, 0, 5);
	kf_tracker_failed(t, 0, 5, KF_TRACKER_FAIL_PAUSE);
	ck_assert(kf_tracker_paused(t, 0, NULL));
	kf_tracker_reset(t, 0, kf_tracker_commit_point(t, 0));
	ck_assert(!kf_tracker_paused(t, 0, NULL));
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 5);
	kf_tracker_free(t);
}
END_TEST

START_TEST(fail_skip)
{
	struct kf_tracker *t = kf_tracker_new(0);

	kf_tracker_reset(t, 0, 0);
	kf_tracker_dispatched(t, 0, 0);
	kf_tracker_dispatched(t, 0, 1);
	ck_assert_int_eq(kf_tracker_failed(t, 0, 0, KF_TRACKER_FAIL_SKIP), KF_OK);
	ck_assert(!kf_tracker_paused(t, 0, NULL));
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 1);
	ck_assert_int_eq(kf_tracker_failed(t, 0, 0, KF_TRACKER_FAIL_SKIP), KF_TRACKER_DUP);
	ck_assert_int_eq(kf_tracker_done(t, 0, 1), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 2);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->failed, 1);
	ck_assert_uint_eq(kf_tracker_counters(t, 0)->done, 1);
	ck_assert_uint_eq(kf_tracker_totals(t)->failed, 1);
	kf_tracker_free(t);
}
END_TEST

START_TEST(window_limit)
{
	struct kf_tracker *t = kf_tracker_new(4);

	kf_tracker_reset(t, 0, 0);
	for (int64_t o = 0; o < 4; o++) {
		ck_assert(!kf_tracker_full(t, 0));
		ck_assert_int_eq(kf_tracker_dispatched(t, 0, o * 2), KF_OK);
	}
	ck_assert(kf_tracker_full(t, 0));
	ck_assert_int_eq(kf_tracker_dispatched(t, 0, 8), KF_EAGAIN);
	ck_assert_int_eq(kf_tracker_position(t, 0), 7);
	/* Done entries behind a stuck one still take room. */
	kf_tracker_done(t, 0, 2);
	kf_tracker_done(t, 0, 6);
	ck_assert(kf_tracker_full(t, 0));
	kf_tracker_done(t, 0, 0);
	ck_assert_uint_eq(kf_tracker_window(t, 0), 2);     /* 4 and done 6 */
	ck_assert(!kf_tracker_full(t, 0));
	ck_assert_int_eq(kf_tracker_dispatched(t, 0, 8), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 0), 4);
	kf_tracker_free(t);
}
END_TEST

START_TEST(int64_limits)
{
	struct kf_tracker *t = kf_tracker_new(0);

	ck_assert_int_eq(kf_tracker_reset(t, 5, INT64_MAX - 3), KF_OK);
	ck_assert_int_eq(kf_tracker_dispatched(t, 5, INT64_MAX - 3), KF_OK);
	ck_assert_int_eq(kf_tracker_dispatched(t, 5, INT64_MAX - 1), KF_OK);
	ck_assert_int_eq(kf_tracker_position(t, 5), INT64_MAX);
	ck_assert_int_eq(kf_tracker_dispatched(t, 5, INT64_MAX), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_skip_to(t, 5, INT64_MAX), KF_OK);
	ck_assert_int_eq(kf_tracker_done(t, 5, INT64_MAX), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_done(t, 5, INT64_MAX - 2), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_done(t, 5, INT64_MAX - 1), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 5), INT64_MAX - 3);
	ck_assert_int_eq(kf_tracker_done(t, 5, INT64_MAX - 3), KF_OK);
	ck_assert_int_eq(kf_tracker_commit_point(t, 5), INT64_MAX);
	ck_assert_int_eq(kf_tracker_done(t, 5, 0), KF_TRACKER_DUP);
	ck_assert_int_eq(kf_tracker_done(t, 5, INT64_MIN), KF_TRACKER_DUP);
	ck_assert_uint_eq(kf_tracker_counters(t, 5)->gap_offsets, 1);
	ck_assert_int_eq(kf_tracker_reset(t, 5, INT64_MAX), KF_OK);
	ck_assert_int_eq(kf_tracker_dispatched(t, 5, -1), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_reset(t, 6, 0), KF_OK);
	ck_assert_int_eq(kf_tracker_dispatched(t, 6, -1), KF_EPROTO);
	ck_assert_int_eq(kf_tracker_dispatched(t, 6, 0), KF_OK);
	ck_assert_int_eq(kf_tracker_skip_to(t, 6, INT64_MAX), KF_OK);
	ck_assert_uint_eq(kf_tracker_counters(t, 6)->gap_offsets, (uint64_t)INT64_MAX - 1);
	ck_assert_int_eq(kf_tracker_commit_point(t, 6), 0);
	kf_tracker_free(t);
}
END_TEST

/* A long window that wraps its ring many times, acked in reverse chunks. */
START_TEST(window_wraps)
{
	struct kf_tracker *t = kf_tracker_new(0);
	int64_t next = 0, acked = 0;

	kf_tracker_reset(t, 0, 0);
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 37; i++)
			ck_assert_int_eq(kf_tracker_dispatched(t, 0, next++), KF_OK);
		/* Ack the oldest 31 newest-first. */
		for (int64_t o = acked + 30; o >= acked; o--)
			ck_assert_int_eq(kf_tracker_done(t, 0, o), KF_OK);
		acked += 31;
		ck_assert_int_eq(kf_tracker_commit_point(t, 0), acked);
		ck_assert_uint_eq(kf_tracker_window(t, 0), (uint32_t)(next - acked));
	}
	kf_tracker_free(t);
}
END_TEST

/* ---- the model ---- */

enum { M_PENDING, M_DONE, M_FAILED };

struct m_ent {
	int64_t off;
	int st;
};

struct m_slot {
	uint32_t id;
	bool active;
	int64_t pos;
	int64_t base;               /* where a reset puts the slot */
	struct m_ent *e;            /* dispatched since reset, off >= commit */
	size_t n, cap;
	struct kf_tracker_counters c;
};

struct model {
	struct m_slot s[5];
	struct kf_tracker_counters tot;
	uint64_t rng;
	uint32_t max_window;
	long step;
	unsigned seed;
};

static uint64_t rnd(struct model *m)
{
	/* xorshift64* */
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return m->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(struct model *m, uint64_t n)
{
	return n ? rnd(m) % n : 0;
}

static int64_t m_commit(const struct m_slot *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].st != M_DONE)
			return s->e[i].off;
	return s->pos;
}

/* Entries from the oldest unfinished one on (what the window holds). */
static void m_prune(struct m_slot *s)
{
	size_t k = 0;

	while (k < s->n && s->e[k].st == M_DONE)
		k++;
	memmove(s->e, s->e + k, (s->n - k) * sizeof(*s->e));
	s->n -= k;
}

static uint32_t m_count(const struct m_slot *s, int st)
{
	uint32_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->e[i].st == st;
	return n;
}

static void m_reset(struct m_slot *s, int64_t pos)
{
	s->active = true;
	s->pos = pos;
	s->n = 0;
	memset(&s->c, 0, sizeof(s->c));
}

static void fail_at(const struct model *m, const char *what, int64_t got, int64_t want)
{
	ck_abort_msg("seed %u step %ld: %s: got %lld, want %lld", m->seed, m->step, what,
		     (long long)got, (long long)want);
}

#define EXPECT(m, what, got, want) do { \
	int64_t g_ = (int64_t)(got), w_ = (int64_t)(want); \
	if (g_ != w_) \
		fail_at((m), (what), g_, w_); \
} while (0)

static void check_counters(const struct model *m, const struct kf_tracker_counters *g,
			   const struct kf_tracker_counters *w)
{
	EXPECT(m, "dispatched", g->dispatched, w->dispatched);
	EXPECT(m, "done", g->done, w->done);
	EXPECT(m, "failed", g->failed, w->failed);
	EXPECT(m, "dups", g->dups, w->dups);
	EXPECT(m, "unknown", g->unknown, w->unknown);
	EXPECT(m, "gap_offsets", g->gap_offsets, w->gap_offsets);
}

static void check_all(const struct model *m, const struct kf_tracker *t)
{
	uint64_t inflight = 0;

	for (int i = 0; i < 5; i++) {
		const struct m_slot *s = &m->s[i];
		uint32_t pend = s->active ? m_count(s, M_PENDING) : 0;
		int64_t off = -7, want_off = -7;
		bool paused = kf_tracker_paused(t, s->id, &off);

		EXPECT(m, "active", kf_tracker_active(t, s->id), s->active);
		EXPECT(m, "commit", kf_tracker_commit_point(t, s->id),
		       s->active ? m_commit(s) : -1);
		EXPECT(m, "position", kf_tracker_position(t, s->id), s->active ? s->pos : -1);
		EXPECT(m, "inflight", kf_tracker_inflight(t, s->id), pend);
		EXPECT(m, "window", kf_tracker_window(t, s->id), s->active ? s->n : 0);
		EXPECT(m, "full", kf_tracker_full(t, s->id),
		       s->active && m->max_window && s->n >= m->max_window);
		for (size_t k = 0; s->active && k < s->n; k++) {
			if (s->e[k].st == M_FAILED) {
				want_off = s->e[k].off;
				break;
			}
		}
		EXPECT(m, "paused", paused, want_off != -7);
		EXPECT(m, "paused offset", off, want_off);
		check_counters(m, kf_tracker_counters(t, s->id), &s->c);
		inflight += pend;
	}
	check_counters(m, kf_tracker_totals(t), &m->tot);
	EXPECT(m, "total inflight", kf_tracker_total_inflight(t), inflight);
}

/* What an ack of `off` should answer, and its entry (or NULL). */
static int m_classify(struct m_slot *s, int64_t off, struct m_ent **ent)
{
	*ent = NULL;
	if (!s->active || off >= s->pos)
		return KF_EPROTO;
	if (off < m_commit(s))
		return KF_TRACKER_DUP;
	for (size_t i = 0; i < s->n; i++) {
		if (s->e[i].off == off) {
			*ent = &s->e[i];
			return s->e[i].st == M_PENDING ? KF_OK : KF_TRACKER_DUP;
		}
	}
	return KF_EPROTO;
}

static void m_count_ack(struct model *m, struct m_slot *s, int rc)
{
	if (rc == KF_EPROTO) {
		m->tot.unknown++;
		if (s->active)
			s->c.unknown++;
	} else if (rc == KF_TRACKER_DUP) {
		m->tot.dups++;
		s->c.dups++;
	}
}

/* An offset worth acking: a pending one mostly, else anything near. */
static int64_t pick_ack_offset(struct model *m, struct m_slot *s)
{
	uint64_t r = rnd_below(m, 100);
	size_t np = 0;
	int64_t lo, hi;

	for (size_t i = 0; i < s->n; i++)
		np += s->e[i].st == M_PENDING;
	if (r < 80 && np) {
		size_t k = rnd_below(m, np);

		for (size_t i = 0; i < s->n; i++)
			if (s->e[i].st == M_PENDING && k-- == 0)
				return s->e[i].off;
	}
	if (r < 90 && s->n)
		return s->e[rnd_below(m, s->n)].off;    /* maybe a dup */
	/* Around the window: gaps, below it, at or past the position. */
	lo = m_commit(s);
	lo = lo < 3 ? 0 : lo - 3;
	hi = s->pos > INT64_MAX - 3 ? INT64_MAX : s->pos + 3;
	return lo + (int64_t)rnd_below(m, (uint64_t)(hi - lo) + 1);
}

static void op_dispatch(struct model *m, struct kf_tracker *t, struct m_slot *s)
{
	int64_t gap = rnd_below(m, 100) < 75 ? 0 : (int64_t)rnd_below(m, 6);
	int64_t off;
	int want, rc;

	if (!s->active) {
		EXPECT(m, "dispatch inactive", kf_tracker_dispatched(t, s->id, 5), KF_EPROTO);
		return;
	}
	if (rnd_below(m, 100) < 3 && s->pos > 0)
		off = s->pos - 1 - (int64_t)rnd_below(m, (uint64_t)(s->pos < 5 ? s->pos : 5));
	else if (INT64_MAX - s->pos <= gap)
		off = INT64_MAX;
	else
		off = s->pos + gap;
	if (off < s->pos || off == INT64_MAX)
		want = KF_EPROTO;
	else if (m->max_window && s->n >= m->max_window)
		want = KF_EAGAIN;
	else
		want = KF_OK;
	rc = kf_tracker_dispatched(t, s->id, off);
	EXPECT(m, "dispatched rc", rc, want);
	if (rc != KF_OK) {
		if (off == INT64_MAX)
			m_reset(s, s->base);
		if (off == INT64_MAX)
			EXPECT(m, "reset", kf_tracker_reset(t, s->id, s->base), KF_OK);
		return;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->e = realloc(s->e, s->cap * sizeof(*s->e));
		ck_assert_ptr_nonnull(s->e);
	}
	s->e[s->n].off = off;
	s->e[s->n].st = M_PENDING;
	s->n++;
	s->c.gap_offsets += (uint64_t)(off - s->pos);
	m->tot.gap_offsets += (uint64_t)(off - s->pos);
	s->c.dispatched++;
	m->tot.dispatched++;
	s->pos = off + 1;
}

static void op_skip(struct model *m, struct kf_tracker *t, struct m_slot *s)
{
	int64_t to;

	if (!s->active)
		return;
	if (rnd_below(m, 10) == 0 && s->pos > 0) {
		EXPECT(m, "skip back", kf_tracker_skip_to(t, s->id, s->pos - 1), KF_EPROTO);
		return;
	}
	to = INT64_MAX - s->pos < 10 ? INT64_MAX : s->pos + (int64_t)rnd_below(m, 10);
	EXPECT(m, "skip", kf_tracker_skip_to(t, s->id, to), KF_OK);
	s->c.gap_offsets += (uint64_t)(to - s->pos);
	m->tot.gap_offsets += (uint64_t)(to - s->pos);
	s->pos = to;
}

static void op_ack(struct model *m, struct kf_tracker *t, struct m_slot *s, int kind)
{
	int64_t off = s->active ? pick_ack_offset(m, s) : 3;
	struct m_ent *ent;
	int want = m_classify(s, off, &ent);
	int rc;

	if (kind == 0)
		rc = kf_tracker_done(t, s->id, off);
	else
		rc = kf_tracker_failed(t, s->id, off,
				       kind == 1 ? KF_TRACKER_FAIL_PAUSE : KF_TRACKER_FAIL_SKIP);
	EXPECT(m, "ack rc", rc, want);
	m_count_ack(m, s, rc);
	if (rc != KF_OK)
		return;
	if (kind == 0) {
		ent->st = M_DONE;
		s->c.done++;
		m->tot.done++;
	} else {
		ent->st = kind == 1 ? M_FAILED : M_DONE;
		s->c.failed++;
		m->tot.failed++;
	}
	m_prune(s);
}

static void op_misc(struct model *m, struct kf_tracker *t, struct m_slot *s)
{
	uint64_t r = rnd_below(m, 100);

	if (!s->active || r < 10) {
		int64_t pos = rnd_below(m, 2) ? s->base : (int64_t)rnd_below(m, 1000);

		if (s->base > INT64_MAX - 1000)
			pos = s->base - (int64_t)rnd_below(m, 30);

		if (s->active && rnd_below(m, 2))
			pos = m_commit(s);          /* re-fetch what is unfinished */
		EXPECT(m, "reset", kf_tracker_reset(t, s->id, pos), KF_OK);
		m_reset(s, pos);
	} else if (r < 20) {
		kf_tracker_release(t, s->id);
		s->active = false;
		s->n = 0;
		memset(&s->c, 0, sizeof(s->c));
	} else {
		EXPECT(m, "skip_failed", kf_tracker_skip_failed(t, s->id), KF_OK);
		for (size_t i = 0; i < s->n; i++)
			if (s->e[i].st == M_FAILED)
				s->e[i].st = M_DONE;
		m_prune(s);
	}
}

static void run_model(unsigned seed, uint32_t max_window, long steps)
{
	static const uint32_t ids[5] = { 0, 1, 7, 33, 200 };
	struct kf_tracker *t = kf_tracker_new(max_window);
	struct model m;

	memset(&m, 0, sizeof(m));
	m.seed = seed;
	m.max_window = max_window;
	m.rng = 0x9e3779b97f4a7c15ull * (seed + 1);
	for (int i = 0; i < 5; i++) {
		m.s[i].id = ids[i];
		/* One slot lives next to INT64_MAX. */
		m.s[i].base = i == 3 ? INT64_MAX - 60 : (int64_t)i * 1000;
	}
	ck_assert_ptr_nonnull(t);
	for (m.step = 0; m.step < steps; m.step++) {
		struct m_slot *s = &m.s[rnd_below(&m, 5)];
		uint64_t r = rnd_below(&m, 1000);

		/* Keep windows modest: ack more when they grow. */
		if (s->n > 300 && r < 400)
			r += 400;
		if (r < 400)
			op_dispatch(&m, t, s);
		else if (r < 450)
			op_skip(&m, t, s);
		else if (r < 900)
			op_ack(&m, t, s, 0);
		else if (r < 930)
			op_ack(&m, t, s, 1);
		else if (r < 960)
			op_ack(&m, t, s, 2);
		else if (r < 975)
			op_misc(&m, t, s);
		else if (s->active)
			op_ack(&m, t, s, 0);
		else
			op_misc(&m, t, s);
		check_all(&m, t);
	}
	for (int i = 0; i < 5; i++)
		free(m.s[i].e);
	kf_tracker_free(t);
}

START_TEST(model_unbounded)
{
	run_model((unsigned)_i, 0, 60000);
}
END_TEST

START_TEST(model_bounded)
{
	run_model((unsigned)_i + 100, 24, 60000);
}
END_TEST

Suite *suite_tracker(void)
{
	Suite *s = suite_create("tracker");
	TCase *tc = tcase_create("edges");
	TCase *tm = tcase_create("model");

	tcase_add_test(tc, inactive_slot);
	tcase_add_test(tc, empty_partition);
	tcase_add_test(tc, out_of_order_acks);
	tcase_add_test(tc, gaps);
	tcase_add_test(tc, skip_with_inflight);
	tcase_add_test(tc, reset_while_inflight);
	tcase_add_test(tc, fail_pause);
	tcase_add_test(tc, fail_skip);
	tcase_add_test(tc, window_limit);
	tcase_add_test(tc, int64_limits);
	tcase_add_test(tc, window_wraps);
	suite_add_tcase(s, tc);
	tcase_set_timeout(tm, 120);
	tcase_add_loop_test(tm, model_unbounded, 0, 4);
	tcase_add_loop_test(tm, model_bounded, 0, 4);
	suite_add_tcase(s, tm);
	return s;
}
