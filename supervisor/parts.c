/*
 * parts.c: kforkd's partition table and commits: slots, partition states,
 * holding and resuming, the commit of moved commit points, and the hooks
 * the drain barriers share (all_idle, commit_all).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kforkd.h"

static const char *const phase_names[] = { "running", "draining", "final", "done" };

void set_phase(enum phase ph)
{
	kf_debug(COMP, "%s -> %s", phase_names[D.phase], phase_names[ph]);
	D.phase = ph;
}

struct part *slot_part(uint32_t slot)
{
	return slot < D.nparts && D.parts[slot].used ? &D.parts[slot] : NULL;
}

int slot_find(const char *topic, int32_t partition)
{
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used && D.parts[i].partition == partition &&
		    strcmp(D.parts[i].topic, topic) == 0)
			return (int)i;
	return -1;
}

/* A free slot whose old records are all acked (a lost partition's acks
 * may still come, and the dispatcher counts them per slot). */
int slot_alloc(void)
{
	for (uint32_t i = 0; i < D.nparts; i++)
		if (!D.parts[i].used && kf_dispatch_slot_inflight(D.d, i) == 0)
			return (int)i;
	uint32_t n = D.nparts ? D.nparts * 2 : 16;
	struct part *p = realloc(D.parts, n * sizeof(*p));
	if (!p)
		return -1;
	memset(p + D.nparts, 0, (n - D.nparts) * sizeof(*p));
	D.parts = p;
	uint32_t i = D.nparts;
	D.nparts = n;
	return (int)i;
}

void slot_release(uint32_t slot)
{
	struct part *p = slot_part(slot);
	if (!p)
		return;
	kf_fetcher_unassign(D.f, slot);
	kf_tracker_release(D.t, slot);
	kf_dispatch_slot_remove(D.d, slot);
	free(p->topic);
	free(p->reason);
	memset(p, 0, sizeof(*p));
}

/* Stop the partition for good (until an operator acts): log why at error
 * level, keep the reason for the status.  The caller pauses the fetcher
 * where it is not paused already. */
void __attribute__((format(printf, 2, 3))) stop_part(struct part *p, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kf_err(COMP, "%s/%d: %s; partition stopped", p->topic, p->partition, msg);
	if (p->state != PS_REVOKING)
		p->state = PS_STOPPED;
	free(p->reason);
	p->reason = strdup(msg);
}

/*
 * The topic's index in the rings' name table (records carry the index).
 * An index keeps its name as long as the rings live, so topics a reload
 * adds get new indexes and old ones stay.  KF_OK, KF_ETOOBIG when the
 * table is full (KF_RING_MAX_TOPICS topics since the start), KF_ENOMEM.
 */
int topic_index(const char *topic, uint32_t *idx)
{
	for (uint32_t i = 0; i < D.ntopic_names; i++)
		if (strcmp(D.topic_names[i], topic) == 0) {
			*idx = i;
			return KF_OK;
		}
	if (D.ntopic_names == KF_RING_MAX_TOPICS)
		return KF_ETOOBIG;
	char *name = strdup(topic);
	int rc = name ? kf_pool_set_topic(D.pool, D.ntopic_names, name) : KF_ENOMEM;
	if (rc != KF_OK) {
		free(name);
		return rc;
	}
	*idx = D.ntopic_names;
	D.topic_names[D.ntopic_names++] = name;
	return KF_OK;
}

/* Is every partition held where it is (quiet, a redispatch), or gone
 * (shutdown, a Kafka restart)? */
bool holding(void)
{
	return D.phase != PH_RUN || D.quiet || D.restarting || kf_barrier_active(&D.redispatch_b);
}

/* Resume the partitions paused for room, unless they are held. */
void resume_blocked(void)
{
	if (holding())
		return;
	for (uint32_t i = 0; i < D.nparts; i++) {
		struct part *p = &D.parts[i];
		if (!p->used || p->state != PS_BLOCKED)
			continue;
		p->state = PS_FETCHING;
		kf_fetcher_resume(D.f, i);
	}
}

/* Pause every fetching partition where it is (quiet, a redispatch):
 * resume_blocked takes them up again. */
void hold_all(void)
{
	for (uint32_t i = 0; i < D.nparts; i++) {
		struct part *p = &D.parts[i];
		if (!p->used || p->state != PS_FETCHING)
			continue;
		kf_fetcher_pause(D.f, i);
		p->state = PS_BLOCKED;
	}
}

/* Commit the slots' commit points that moved since their last commit
 * (only the revoked ones when only_revoking); cb(arg) gets the outcome,
 * never from inside this call.  Returns how many partitions went out: 0
 * when none moved (or out of memory), and then cb is not called. */
int commit_moved(bool only_revoking, kf_group_commit_cb *cb, void *arg)
{
	struct kf_group_tp *tps = calloc(D.nparts + 1, sizeof(*tps));
	if (!tps)
		return 0;
	int n = 0;
	for (uint32_t i = 0; i < D.nparts; i++) {
		struct part *p = &D.parts[i];
		if (!p->used || (only_revoking && p->state != PS_REVOKING))
			continue;
		int64_t cp = kf_tracker_commit_point(D.t, i);
		if (cp < 0 || cp == p->committed)
			continue;
		/* topic stays the slot's: kf_group_commit copies it */
		tps[n++] = (struct kf_group_tp){ .topic = p->topic, .partition = p->partition,
						 .offset = cp };
	}
	if (n > 0)
		kf_group_commit(D.g, tps, n, cb, arg);
	free(tps);
	return n;
}

static void note_committed(int err, const struct kf_group_tp *tps, int n)
{
	if (err != KF_OK) {
		kf_warn(COMP, "commit of %d partitions failed: %s", n,
			err == KF_GROUP_EREBALANCE ? "group is rebalancing"
			: err == KF_EAGAIN ? "no coordinator or generation right now (retried at"
					     " the next commit interval)"
			: kf_strerror(err));
		return;
	}
	for (int i = 0; i < n; i++) {
		if (tps[i].error) {
			kf_warn(COMP, "commit %s/%d at %" PRId64 ": %s", tps[i].topic,
				tps[i].partition, tps[i].offset, kf_kafka_err_name(tps[i].error));
			continue;
		}
		int s = slot_find(tps[i].topic, tps[i].partition);
		if (s >= 0 && D.parts[s].committed < tps[i].offset)
			D.parts[s].committed = tps[i].offset;
		kf_debug(COMP, "committed %s/%d at %" PRId64, tps[i].topic, tps[i].partition,
			 tps[i].offset);
	}
}

void on_periodic_commit(void *arg, int err, const struct kf_group_tp *tps, int n)
{
	(void)arg;
	D.commit_busy = false;
	note_committed(err, tps, n);
}

/* A barrier's commit answered. */
void on_barrier_commit(void *arg, int err, const struct kf_group_tp *tps, int n)
{
	note_committed(err, tps, n);
	kf_barrier_committed(arg);
}

bool all_idle(struct kf_barrier *b)
{
	(void)b;
	return kf_tracker_total_inflight(D.t) == 0;
}

bool commit_all(struct kf_barrier *b)
{
	return commit_moved(false, on_barrier_commit, b) > 0;
}
