/*
 * dispatch: record -> worker policies.  See dispatch.h for the contract.
 *
 * State per worker: its state, records in flight, and (partition mode)
 * how many partitions target it.  State per slot: records in flight over
 * all workers, and
 *   partition mode: `worker`, where its records go now (and where any in
 *   flight are), and `target`, where the balance wants it.  They differ
 *   only while a move waits for the partition to drain; worker partition
 *   counts follow `target`, so balance is computed on the mapping that
 *   will be, and the move itself happens at the first pick after the
 *   slot's in-flight count reached zero.
 *   key mode: `epoch`, the worker-set epoch under which its in-flight
 *   records were picked.  Every change of the active set bumps the
 *   dispatcher's epoch; a slot with records in flight from an older epoch
 *   gets -1 until they are done, because the same key may map to another
 *   worker now.
 *
 * Rebalancing (partition mode) is lazy: worker and slot changes set
 * `dirty`, and the next pick recomputes the targets in O(slots + workers
 * log workers), keeping every partition where it is unless its worker
 * left or holds more than its share.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "kfconfig.h"

/* kforkd casts enum kf_cfg_dispatch (the config's word) into this one. */
_Static_assert((int)KF_DISPATCH_PARTITION == (int)KF_CFG_DISPATCH_PARTITION, "partition");
_Static_assert((int)KF_DISPATCH_KEY == (int)KF_CFG_DISPATCH_KEY, "key");
_Static_assert((int)KF_DISPATCH_ROUNDROBIN == (int)KF_CFG_DISPATCH_ROUNDROBIN, "roundrobin");

struct dw {
	uint8_t state;              /* enum kf_dispatch_wstate */
	uint64_t inflight;
	uint32_t nparts;            /* partition mode: slots targeting it */
};

/* A worker and its partition count, for sorting. */
struct load {
	uint32_t nparts;
	int w;
};

struct ds {
	bool assigned;              /* seen, not removed */
	int32_t worker;             /* partition: records go here (-1 none) */
	int32_t target;             /* partition: balance wants it here */
	uint32_t inflight;
	uint64_t epoch;             /* key: epoch of the in-flight records */
};

struct kf_dispatch {
	enum kf_dispatch_mode mode;
	struct dw *w;
	int nw;                     /* allocated entries of w */
	int *active;                /* active worker indexes, increasing */
	uint32_t nactive;
	struct ds *s;
	uint32_t ns;                /* allocated entries of s */
	uint32_t nassigned;
	uint64_t epoch;
	uint32_t rr;                /* roundrobin cursor into active */
	bool dirty;                 /* partition: targets need rebalancing */
	/* rebalance scratch, sized like w */
	uint32_t *quota;
	struct load *order;
};

static const char *const mode_names[] = {
	[KF_DISPATCH_PARTITION] = "partition",
	[KF_DISPATCH_KEY] = "key",
	[KF_DISPATCH_ROUNDROBIN] = "roundrobin",
};

int kf_dispatch_mode_parse(const char *name, enum kf_dispatch_mode *mode)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(name, mode_names[i]) == 0) {
			*mode = (enum kf_dispatch_mode)i;
			return KF_OK;
		}
	}
	return KF_EPROTO;
}

const char *kf_dispatch_mode_name(enum kf_dispatch_mode mode)
{
	if ((unsigned)mode < sizeof(mode_names) / sizeof(mode_names[0]))
		return mode_names[mode];
	return "?";
}

struct kf_dispatch *kf_dispatch_new(enum kf_dispatch_mode mode)
{
	struct kf_dispatch *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->mode = mode;
	return d;
}

void kf_dispatch_free(struct kf_dispatch *d)
{
	if (!d)
		return;
	free(d->w);
	free(d->active);
	free(d->s);
	free(d->quota);
	free(d->order);
	free(d);
}

enum kf_dispatch_mode kf_dispatch_mode(const struct kf_dispatch *d)
{
	return d->mode;
}

/* ---- tables ---- */

static struct dw *get_worker(const struct kf_dispatch *d, int w)
{
	if (w < 0 || w >= d->nw || d->w[w].state == KF_DW_NONE)
		return NULL;
	return &d->w[w];
}

static int grow_workers(struct kf_dispatch *d, int w)
{
	int n = d->nw ? d->nw : 8;
	struct dw *nw;
	int *na;
	struct load *no;
	uint32_t *nq;

	while (n <= w)
		n *= 2;
	nw = realloc(d->w, (size_t)n * sizeof(*nw));
	if (!nw)
		return KF_ENOMEM;
	memset(nw + d->nw, 0, (size_t)(n - d->nw) * sizeof(*nw));
	d->w = nw;
	d->nw = n;
	na = realloc(d->active, (size_t)n * sizeof(*na));
	if (!na)
		return KF_ENOMEM;
	d->active = na;
	no = realloc(d->order, (size_t)n * sizeof(*no));
	if (!no)
		return KF_ENOMEM;
	d->order = no;
	nq = realloc(d->quota, (size_t)n * sizeof(*nq));
	if (!nq)
		return KF_ENOMEM;
	d->quota = nq;
	return KF_OK;
}

static struct ds *get_slot(const struct kf_dispatch *d, uint32_t slot)
{
	if (slot >= d->ns || !d->s[slot].assigned)
		return NULL;
	return &d->s[slot];
}

/* The slot's entry even when it is not assigned (removed, its records
 * still draining), or NULL beyond the table. */
static struct ds *get_slot_raw(const struct kf_dispatch *d, uint32_t slot)
{
	return slot < d->ns ? &d->s[slot] : NULL;
}

static int grow_slots(struct kf_dispatch *d, uint32_t slot)
{
	uint32_t n = d->ns ? d->ns : 16;
	struct ds *ns;

	while (n <= slot)
		n *= 2;
	if (n > KF_DISPATCH_MAX_SLOTS)
		n = KF_DISPATCH_MAX_SLOTS;
	ns = realloc(d->s, (size_t)n * sizeof(*ns));
	if (!ns)
		return KF_ENOMEM;
	memset(ns + d->ns, 0, (size_t)(n - d->ns) * sizeof(*ns));
	for (uint32_t i = d->ns; i < n; i++) {
		ns[i].worker = -1;
		ns[i].target = -1;
	}
	d->s = ns;
	d->ns = n;
	return KF_OK;
}

/* The active list, rebuilt after any worker change (rare, O(workers)). */
static void active_rebuild(struct kf_dispatch *d)
{
	d->nactive = 0;
	for (int i = 0; i < d->nw; i++)
		if (d->w[i].state == KF_DW_ACTIVE)
			d->active[d->nactive++] = i;
	if (d->rr >= d->nactive)
		d->rr = 0;
	d->epoch++;
	d->dirty = true;
}

/* ---- partition mode: balance ---- */

/* The active worker with the fewest partitions, lowest index first; -1
 * if none. */
static int least_loaded(const struct kf_dispatch *d)
{
	int best = -1;

	for (uint32_t i = 0; i < d->nactive; i++) {
		int w = d->active[i];

		if (best < 0 || d->w[w].nparts < d->w[best].nparts)
			best = w;
	}
	return best;
}

static void set_target(struct kf_dispatch *d, struct ds *s, int w)
{
	if (s->target >= 0)
		d->w[s->target].nparts--;
	s->target = w;
	if (w >= 0)
		d->w[w].nparts++;
}

/* More partitions first; lower index first among equals (deterministic). */
static int cmp_load_desc(const void *a, const void *b)
{
	const struct load *x = a, *y = b;

	if (x->nparts != y->nparts)
		return x->nparts > y->nparts ? -1 : 1;
	return x->w < y->w ? -1 : x->w > y->w;
}

/* Shed targets above quota; idle slots first when `busy` is false, then
 * the busy ones (their move waits for a drain). */
static void shed_over_quota(struct kf_dispatch *d, bool busy)
{
	for (uint32_t i = 0; i < d->ns; i++) {
		struct ds *s = &d->s[i];

		if (!s->assigned || s->target < 0 || (s->inflight > 0) != busy)
			continue;
		if (d->w[s->target].nparts > d->quota[s->target])
			set_target(d, s, -1);
	}
}

/* Give a slot without target a worker under quota: its current worker if
 * that one has room (no move at all), else any; `sticky_only` selects the
 * first kind of pass. */
static void place_orphans(struct kf_dispatch *d, bool sticky_only)
{
	uint32_t cur = 0;

	for (uint32_t i = 0; i < d->ns; i++) {
		struct ds *s = &d->s[i];
		int w = s->worker;

		if (!s->assigned || s->target >= 0)
			continue;
		if (w >= 0 && d->w[w].state == KF_DW_ACTIVE &&
		    d->w[w].nparts < d->quota[w]) {
			set_target(d, s, w);
			continue;
		}
		if (sticky_only)
			continue;
		while (cur < d->nactive &&
		       d->w[d->active[cur]].nparts >= d->quota[d->active[cur]])
			cur++;
		if (cur == d->nactive)
			return;     /* cannot happen: quotas sum to nassigned */
		set_target(d, s, d->active[cur]);
	}
}

/*
 * Recompute the targets so active workers hold n/k or n/k + 1 partitions
 * each, with as few moves as possible: the k workers get quotas (the
 * n % k extra ones go to the most loaded, who would otherwise shed), slots
 * of departed workers and slots above quota lose their target, and those
 * are placed under quota, back on their current worker when possible.
 */
static void rebalance(struct kf_dispatch *d)
{
	uint32_t k = d->nactive, q, r;

	d->dirty = false;
	for (uint32_t i = 0; i < d->ns; i++) {
		struct ds *s = &d->s[i];

		if (s->assigned && s->target >= 0 &&
		    d->w[s->target].state != KF_DW_ACTIVE)
			set_target(d, s, -1);
	}
	if (!k)
		return;
	q = d->nassigned / k;
	r = d->nassigned % k;
	for (uint32_t i = 0; i < k; i++) {
		d->order[i].w = d->active[i];
		d->order[i].nparts = d->w[d->active[i]].nparts;
	}
	qsort(d->order, k, sizeof(*d->order), cmp_load_desc);
	for (uint32_t i = 0; i < k; i++)
		d->quota[d->order[i].w] = q + (i < r);
	shed_over_quota(d, false);
	shed_over_quota(d, true);
	place_orphans(d, true);
	place_orphans(d, false);
}

static int pick_partition(struct kf_dispatch *d, struct ds *s)
{
	if (d->dirty)
		rebalance(d);
	if (s->target < 0)
		return -1;
	if (s->worker != s->target) {
		if (s->inflight > 0)
			return -1;  /* keep order: drain the old worker first */
		s->worker = s->target;
	}
	return s->worker;
}

/* ---- key mode ---- */

uint64_t kf_dispatch_key_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 0xcbf29ce484222325ull;    /* FNV-1a 64 offset basis */

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;          /* FNV-1a 64 prime */
	}
	/* murmur3 fmix64: FNV's low bits mix poorly, and we take a modulo. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static int pick_key(struct kf_dispatch *d, struct ds *s, uint32_t slot,
		    const void *key, int32_t key_len)
{
	uint64_t h;

	if (!d->nactive)
		return -1;
	if (s->inflight > 0 && s->epoch != d->epoch)
		return -1;
	if (key && key_len >= 0) {
		h = kf_dispatch_key_hash(key, (size_t)key_len);
	} else {
		uint8_t b[4] = { (uint8_t)slot, (uint8_t)(slot >> 8),
				 (uint8_t)(slot >> 16), (uint8_t)(slot >> 24) };

		/* Null keys: one worker per partition.  A different seed
		 * byte keeps them apart from the 4-byte key with equal bytes. */
		h = kf_dispatch_key_hash(b, sizeof(b)) ^ 0x9e3779b97f4a7c15ull;
	}
	return d->active[h % d->nactive];
}

/* ---- public ---- */

int kf_dispatch_worker_add(struct kf_dispatch *d, int w)
{
	int rc;

	if (w < 0 || w >= KF_DISPATCH_MAX_WORKERS || get_worker(d, w))
		return KF_EPROTO;
	if (w >= d->nw && (rc = grow_workers(d, w)) != KF_OK)
		return rc;
	memset(&d->w[w], 0, sizeof(d->w[w]));
	d->w[w].state = KF_DW_ACTIVE;
	active_rebuild(d);
	return KF_OK;
}

int kf_dispatch_worker_retire(struct kf_dispatch *d, int w)
{
	struct dw *x = get_worker(d, w);

	if (!x || x->state != KF_DW_ACTIVE)
		return KF_EPROTO;
	x->state = KF_DW_RETIRING;
	active_rebuild(d);
	return KF_OK;
}

int kf_dispatch_worker_activate(struct kf_dispatch *d, int w)
{
	struct dw *x = get_worker(d, w);

	if (!x || x->state != KF_DW_RETIRING)
		return KF_EPROTO;
	x->state = KF_DW_ACTIVE;
	active_rebuild(d);
	return KF_OK;
}

int kf_dispatch_worker_remove(struct kf_dispatch *d, int w)
{
	struct dw *x = get_worker(d, w);

	if (!x)
		return KF_EPROTO;
	for (uint32_t i = 0; i < d->ns; i++) {
		struct ds *s = &d->s[i];

		/* Now, not lazily: w may be added again before a rebalance. */
		if (s->target == w)
			set_target(d, s, -1);
		if (s->worker != w)
			continue;
		/* Partition mode: everything of s in flight was on w. */
		if (d->mode == KF_DISPATCH_PARTITION)
			s->inflight = 0;
		s->worker = -1;
	}
	x->state = KF_DW_NONE;
	x->inflight = 0;
	active_rebuild(d);
	return KF_OK;
}

enum kf_dispatch_wstate kf_dispatch_worker_state(const struct kf_dispatch *d, int w)
{
	const struct dw *x = get_worker(d, w);

	return x ? (enum kf_dispatch_wstate)x->state : KF_DW_NONE;
}

uint64_t kf_dispatch_worker_inflight(const struct kf_dispatch *d, int w)
{
	const struct dw *x = get_worker(d, w);

	return x ? x->inflight : 0;
}

uint32_t kf_dispatch_worker_partitions(struct kf_dispatch *d, int w)
{
	const struct dw *x = get_worker(d, w);

	if (d->dirty && d->mode == KF_DISPATCH_PARTITION)
		rebalance(d);
	return x ? x->nparts : 0;
}

uint32_t kf_dispatch_active(const struct kf_dispatch *d)
{
	return d->nactive;
}

/* First sight of a partition: NULL when the slot is out of range or out
 * of memory. */
static struct ds *slot_assign(struct kf_dispatch *d, uint32_t slot)
{
	struct ds *s;

	if (slot >= KF_DISPATCH_MAX_SLOTS)
		return NULL;
	if (slot >= d->ns && grow_slots(d, slot) != KF_OK)
		return NULL;
	/* Balance the others first; the newcomer then goes to the least
	 * loaded, which keeps counts within 1. */
	if (d->mode == KF_DISPATCH_PARTITION && d->dirty)
		rebalance(d);
	/* A slot removed earlier keeps its worker and in-flight count while
	 * its old records drain, so order holds across reuse. */
	s = &d->s[slot];
	s->assigned = true;
	s->target = -1;
	d->nassigned++;
	if (d->mode == KF_DISPATCH_PARTITION)
		set_target(d, s, least_loaded(d));
	return s;
}

static int pick_roundrobin(struct kf_dispatch *d)
{
	int w;

	if (!d->nactive)
		return -1;
	if (d->rr >= d->nactive)
		d->rr = 0;
	w = d->active[d->rr];
	d->rr = (d->rr + 1) % d->nactive;
	return w;
}

int kf_dispatch_pick(struct kf_dispatch *d, uint32_t slot, const void *key,
		     int32_t key_len)
{
	struct ds *s = get_slot(d, slot);

	if (!s && !(s = slot_assign(d, slot)))
		return -1;
	switch (d->mode) {
	case KF_DISPATCH_PARTITION:
		return pick_partition(d, s);
	case KF_DISPATCH_KEY:
		return pick_key(d, s, slot, key, key_len);
	case KF_DISPATCH_ROUNDROBIN:
		return pick_roundrobin(d);
	}
	return -1;
}

void kf_dispatch_sent(struct kf_dispatch *d, uint32_t slot, int w)
{
	struct dw *x = get_worker(d, w);
	struct ds *s = get_slot_raw(d, slot);

	if (x)
		x->inflight++;
	if (!s)
		return;
	if (!s->inflight)
		s->epoch = d->epoch;
	s->inflight++;
}

void kf_dispatch_acked(struct kf_dispatch *d, uint32_t slot, int w)
{
	struct dw *x = get_worker(d, w);
	struct ds *s = get_slot_raw(d, slot);

	/* Counts forgotten by a remove or reset stay at zero. */
	if (x && x->inflight)
		x->inflight--;
	if (s && s->inflight)
		s->inflight--;
}

void kf_dispatch_slot_remove(struct kf_dispatch *d, uint32_t slot)
{
	struct ds *s = get_slot(d, slot);

	if (!s)
		return;
	set_target(d, s, -1);
	s->assigned = false;
	d->nassigned--;
	d->dirty = true;
}

void kf_dispatch_slot_reset(struct kf_dispatch *d, uint32_t slot)
{
	struct ds *s = get_slot_raw(d, slot);

	if (s)
		s->inflight = 0;
}

uint32_t kf_dispatch_slot_inflight(const struct kf_dispatch *d, uint32_t slot)
{
	const struct ds *s = get_slot_raw(d, slot);

	return s ? s->inflight : 0;
}

int kf_dispatch_slot_worker(const struct kf_dispatch *d, uint32_t slot)
{
	const struct ds *s = get_slot(d, slot);

	if (!s || d->mode != KF_DISPATCH_PARTITION)
		return -1;
	if (s->worker >= 0 && (s->inflight > 0 || s->target < 0))
		return s->worker;
	return s->target;
}
