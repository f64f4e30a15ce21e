/*
 * tracker: per-partition windows of dispatched offsets and the commit
 * point they allow.  See tracker.h for the contract.
 *
 * A slot's window is a ring of entries in dispatch order (so in offset
 * order): offsets in one array, states in another.  Invariants, kept by
 * every public function:
 *   - offsets strictly increase from the front to the back, and all are
 *     below the position;
 *   - the front entry, if any, is never DONE (done entries at the front are
 *     dropped as soon as they appear), so it is the commit point;
 *   - `pending` counts PENDING entries, `held` counts FAILED ones.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tracker.h"

enum ent_state {
	ENT_PENDING = 0,            /* at a worker, no ack yet */
	ENT_DONE = 1,               /* acked OK, or failed under skip */
	ENT_FAILED = 2,             /* failed under pause: held */
};

#define WINDOW_MIN_CAP 16u

struct tr_slot {
	int64_t *off;               /* window ring, cap entries (power of 2) */
	uint8_t *st;                /* enum ent_state per entry */
	uint32_t cap;
	uint32_t head;              /* ring index of the front entry */
	uint32_t count;             /* entries in the window */
	uint32_t pending;
	uint32_t held;
	bool active;
	int64_t position;           /* next offset to fetch */
	struct kf_tracker_counters c;
};

struct kf_tracker {
	struct tr_slot *slots;
	uint32_t nslots;            /* allocated entries of slots */
	uint32_t max_window;        /* 0: unbounded */
	uint64_t inflight;          /* sum of pending */
	struct kf_tracker_counters totals;
	struct kf_tracker_counters zero;
};

struct kf_tracker *kf_tracker_new(uint32_t max_window)
{
	struct kf_tracker *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->max_window = max_window;
	return t;
}

static void slot_free_window(struct tr_slot *s)
{
	free(s->off);
	free(s->st);
	s->off = NULL;
	s->st = NULL;
	s->cap = 0;
}

void kf_tracker_free(struct kf_tracker *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nslots; i++)
		slot_free_window(&t->slots[i]);
	free(t->slots);
	free(t);
}

/* The slot if it is active, else NULL. */
static struct tr_slot *get_slot(const struct kf_tracker *t, uint32_t slot)
{
	if (slot >= t->nslots || !t->slots[slot].active)
		return NULL;
	return &t->slots[slot];
}

static uint32_t ring_idx(const struct tr_slot *s, uint32_t i)
{
	return (s->head + i) & (s->cap - 1);
}

static int grow_slots(struct kf_tracker *t, uint32_t slot)
{
	uint32_t n = t->nslots ? t->nslots : 16;
	struct tr_slot *ns;

	while (n <= slot)
		n *= 2;
	if (n > KF_TRACKER_MAX_SLOTS)
		n = KF_TRACKER_MAX_SLOTS;
	ns = realloc(t->slots, (size_t)n * sizeof(*ns));
	if (!ns)
		return KF_ENOMEM;
	memset(ns + t->nslots, 0, (size_t)(n - t->nslots) * sizeof(*ns));
	t->slots = ns;
	t->nslots = n;
	return KF_OK;
}

/* Drop the slot's window contents, keeping its memory for reuse. */
static void slot_clear(struct kf_tracker *t, struct tr_slot *s)
{
	t->inflight -= s->pending;
	s->head = 0;
	s->count = 0;
	s->pending = 0;
	s->held = 0;
}

int kf_tracker_reset(struct kf_tracker *t, uint32_t slot, int64_t position)
{
	struct tr_slot *s;
	int rc;

	if (position < 0)
		return KF_EPROTO;
	if (slot >= KF_TRACKER_MAX_SLOTS)
		return KF_ETOOBIG;
	if (slot >= t->nslots && (rc = grow_slots(t, slot)) != KF_OK)
		return rc;
	s = &t->slots[slot];
	if (s->active)
		slot_clear(t, s);
	s->active = true;
	s->position = position;
	memset(&s->c, 0, sizeof(s->c));
	return KF_OK;
}

void kf_tracker_release(struct kf_tracker *t, uint32_t slot)
{
	struct tr_slot *s = get_slot(t, slot);

	if (!s)
		return;
	slot_clear(t, s);
	slot_free_window(s);
	s->active = false;
	memset(&s->c, 0, sizeof(s->c));
}

bool kf_tracker_active(const struct kf_tracker *t, uint32_t slot)
{
	return get_slot(t, slot) != NULL;
}

static bool slot_full(const struct kf_tracker *t, const struct tr_slot *s)
{
	return t->max_window && s->count >= t->max_window;
}

/* Double the window (at least WINDOW_MIN_CAP), unrolling the ring so the
 * front lands at index 0. */
static int window_grow(struct tr_slot *s)
{
	uint32_t ncap = s->cap ? s->cap * 2 : WINDOW_MIN_CAP;
	int64_t *noff;
	uint8_t *nst;

	if (ncap < s->cap)
		return KF_ENOMEM;   /* 2^32 entries: beyond any sane budget */
	noff = malloc((size_t)ncap * sizeof(*noff));
	nst = malloc(ncap);
	if (!noff || !nst) {
		free(noff);
		free(nst);
		return KF_ENOMEM;
	}
	for (uint32_t i = 0; i < s->count; i++) {
		uint32_t j = ring_idx(s, i);

		noff[i] = s->off[j];
		nst[i] = s->st[j];
	}
	free(s->off);
	free(s->st);
	s->off = noff;
	s->st = nst;
	s->cap = ncap;
	s->head = 0;
	return KF_OK;
}

int kf_tracker_dispatched(struct kf_tracker *t, uint32_t slot, int64_t offset)
{
	struct tr_slot *s = get_slot(t, slot);
	uint32_t j;
	int rc;

	/* offset + 1 becomes the position: INT64_MAX itself cannot be. */
	if (!s || offset < s->position || offset == INT64_MAX)
		return KF_EPROTO;
	if (slot_full(t, s))
		return KF_EAGAIN;
	if (s->count == s->cap && (rc = window_grow(s)) != KF_OK)
		return rc;
	j = ring_idx(s, s->count);
	s->off[j] = offset;
	s->st[j] = ENT_PENDING;
	s->count++;
	s->pending++;
	t->inflight++;
	s->c.gap_offsets += (uint64_t)(offset - s->position);
	t->totals.gap_offsets += (uint64_t)(offset - s->position);
	s->position = offset + 1;
	s->c.dispatched++;
	t->totals.dispatched++;
	return KF_OK;
}

bool kf_tracker_full(const struct kf_tracker *t, uint32_t slot)
{
	const struct tr_slot *s = get_slot(t, slot);

	return s && slot_full(t, s);
}

int kf_tracker_skip_to(struct kf_tracker *t, uint32_t slot, int64_t next_offset)
{
	struct tr_slot *s = get_slot(t, slot);

	if (!s || next_offset < s->position)
		return KF_EPROTO;
	s->c.gap_offsets += (uint64_t)(next_offset - s->position);
	t->totals.gap_offsets += (uint64_t)(next_offset - s->position);
	s->position = next_offset;
	return KF_OK;
}

/* Logical index (0 = front) of the entry holding `offset`, or -1. */
static int64_t window_find(const struct tr_slot *s, int64_t offset)
{
	uint32_t lo = 0, hi = s->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->off[ring_idx(s, mid)] < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->count && s->off[ring_idx(s, lo)] == offset)
		return lo;
	return -1;
}

/* Drop done entries from the front: restores the front invariant. */
static void window_trim(struct tr_slot *s)
{
	while (s->count && s->st[s->head] == ENT_DONE) {
		s->head = (s->head + 1) & (s->cap - 1);
		s->count--;
	}
	if (!s->count)
		s->head = 0;
}

/* Classify an ack and find its entry: KF_OK with *ent set (a PENDING
 * entry), KF_TRACKER_DUP or KF_EPROTO (counted here). */
static int ack_lookup(struct kf_tracker *t, uint32_t slot, int64_t offset,
		      struct tr_slot **sp, uint32_t *ent)
{
	struct tr_slot *s = get_slot(t, slot);
	int64_t i;

	if (!s) {
		t->totals.unknown++;
		return KF_EPROTO;
	}
	*sp = s;
	if (offset >= s->position) {
		s->c.unknown++;
		t->totals.unknown++;
		return KF_EPROTO;
	}
	if (!s->count || offset < s->off[s->head]) {
		/* Finished (or a gap, or from before a reset). */
		s->c.dups++;
		t->totals.dups++;
		return KF_TRACKER_DUP;
	}
	i = window_find(s, offset);
	if (i < 0) {
		s->c.unknown++;
		t->totals.unknown++;
		return KF_EPROTO;
	}
	*ent = ring_idx(s, (uint32_t)i);
	if (s->st[*ent] != ENT_PENDING) {
		s->c.dups++;
		t->totals.dups++;
		return KF_TRACKER_DUP;
	}
	return KF_OK;
}

int kf_tracker_done(struct kf_tracker *t, uint32_t slot, int64_t offset)
{
	struct tr_slot *s = NULL;
	uint32_t ent = 0;
	int rc = ack_lookup(t, slot, offset, &s, &ent);

	if (rc != KF_OK)
		return rc;
	s->st[ent] = ENT_DONE;
	s->pending--;
	t->inflight--;
	s->c.done++;
	t->totals.done++;
	window_trim(s);
	return KF_OK;
}

int kf_tracker_failed(struct kf_tracker *t, uint32_t slot, int64_t offset,
		      enum kf_tracker_fail how)
{
	struct tr_slot *s = NULL;
	uint32_t ent = 0;
	int rc = ack_lookup(t, slot, offset, &s, &ent);

	if (rc != KF_OK)
		return rc;
	s->pending--;
	t->inflight--;
	s->c.failed++;
	t->totals.failed++;
	if (how == KF_TRACKER_FAIL_SKIP) {
		s->st[ent] = ENT_DONE;
		window_trim(s);
	} else {
		s->st[ent] = ENT_FAILED;
		s->held++;
	}
	return KF_OK;
}

int kf_tracker_skip_failed(struct kf_tracker *t, uint32_t slot)
{
	struct tr_slot *s = get_slot(t, slot);

	if (!s)
		return KF_EPROTO;
	for (uint32_t i = 0; i < s->count && s->held; i++) {
		uint32_t j = ring_idx(s, i);

		if (s->st[j] == ENT_FAILED) {
			s->st[j] = ENT_DONE;
			s->held--;
		}
	}
	window_trim(s);
	return KF_OK;
}

int64_t kf_tracker_commit_point(const struct kf_tracker *t, uint32_t slot)
{
	const struct tr_slot *s = get_slot(t, slot);

	if (!s)
		return -1;
	return s->count ? s->off[s->head] : s->position;
}

int64_t kf_tracker_position(const struct kf_tracker *t, uint32_t slot)
{
	const struct tr_slot *s = get_slot(t, slot);

	return s ? s->position : -1;
}

uint32_t kf_tracker_inflight(const struct kf_tracker *t, uint32_t slot)
{
	const struct tr_slot *s = get_slot(t, slot);

	return s ? s->pending : 0;
}

uint32_t kf_tracker_window(const struct kf_tracker *t, uint32_t slot)
{
	const struct tr_slot *s = get_slot(t, slot);

	return s ? s->count : 0;
}

bool kf_tracker_paused(const struct kf_tracker *t, uint32_t slot, int64_t *offset)
{
	const struct tr_slot *s = get_slot(t, slot);

	if (!s || !s->held)
		return false;
	if (offset) {
		/* Rare (status, after a failure): a scan is fine. */
		for (uint32_t i = 0; i < s->count; i++) {
			uint32_t j = ring_idx(s, i);

			if (s->st[j] == ENT_FAILED) {
				*offset = s->off[j];
				break;
			}
		}
	}
	return true;
}

const struct kf_tracker_counters *kf_tracker_counters(const struct kf_tracker *t,
						      uint32_t slot)
{
	const struct tr_slot *s = get_slot(t, slot);

	return s ? &s->c : &t->zero;
}

const struct kf_tracker_counters *kf_tracker_totals(const struct kf_tracker *t)
{
	return &t->totals;
}

uint64_t kf_tracker_total_inflight(const struct kf_tracker *t)
{
	return t->inflight;
}
