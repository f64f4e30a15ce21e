/*
 * rebalance.c: the group member's callbacks: the leader's assignment,
 * partitions assigned, revoked (the revocation barrier) and lost, a topic
 * deleted and created again, a fatal group error.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kforkd.h"

/* The leader's topics, for assign_partitions during on_assign. */
static const struct kf_group_topic *A_topics;
static int A_ntopics;

static int32_t assign_partitions(void *arg, const char *topic)
{
	(void)arg;
	for (int i = 0; i < A_ntopics; i++)
		if (strcmp(A_topics[i].topic, topic) == 0)
			return A_topics[i].partitions;
	return 0;
}

int on_assign(void *opaque, const char *protocol, const struct kf_group_member *members,
		     int nmembers, const struct kf_group_topic *topics, int ntopics,
		     struct kf_consumer_assignment *out, struct kf_arena *a)
{
	(void)opaque;
	enum kf_assignor_id id;
	if (kf_assignor_lookup(protocol, &id) != KF_OK) {
		kf_err(COMP, "coordinator chose assignor \"%s\", which kforkd does not know",
		       protocol);
		return KF_EUNSUPP;
	}
	struct kf_assignor_member *m = calloc((size_t)nmembers + 1, sizeof(*m));
	if (!m)
		return KF_ENOMEM;
	for (int i = 0; i < nmembers; i++)
		m[i] = (struct kf_assignor_member){ .member_id = members[i].member_id,
						    .group_instance_id = members[i].group_instance_id,
						    .sub = members[i].sub };
	A_topics = topics;
	A_ntopics = ntopics;
	int rc = kf_assignor_assign(id, m, (size_t)nmembers, assign_partitions, NULL, a, out);
	free(m);
	kf_info(COMP, "leader: assigned %d topics to %d members with %s", ntopics, nmembers,
		protocol);
	return rc;
}

static void assign_one(const struct kf_group_tp *tp)
{
	if (slot_find(tp->topic, tp->partition) >= 0) {
		kf_warn(COMP, "%s/%d assigned twice", tp->topic, tp->partition);
		return;
	}
	int s = slot_alloc();
	char *topic = strdup(tp->topic);
	if (s < 0 || !topic) {
		free(topic);
		kf_err(COMP, "%s/%d: out of memory", tp->topic, tp->partition);
		return;
	}
	struct part *p = &D.parts[s];
	*p = (struct part){ .used = true, .topic = topic, .partition = tp->partition,
			    .committed = tp->offset };
	uint32_t slot = (uint32_t)s;
	int rc = topic_index(topic, &p->topic_idx);
	if (rc != KF_OK) {
		stop_part(p, "cannot name the topic to the workers: %s", kf_strerror(rc));
		return;
	}
	int64_t start = tp->offset >= 0 ? tp->offset : 0;
	rc = kf_fetcher_assign(D.f, topic, tp->partition, slot, start);
	if (rc != KF_OK) {
		stop_part(p, "cannot fetch: %s", kf_strerror(rc));
		return;
	}
	if (tp->offset >= 0) {
		kf_tracker_reset(D.t, slot, tp->offset);
		kf_info(COMP, "%s/%d: starting at committed offset %" PRId64, topic,
			tp->partition, tp->offset);
		return;
	}
	kf_fetcher_pause(D.f, slot);
	start_reset(slot);
}

void on_assigned(void *opaque, int32_t generation, const struct kf_group_tp *tps, int n)
{
	(void)opaque;
	kf_info(COMP, "generation %d: %d partitions assigned", generation, n);
	if (D.phase != PH_RUN)
		return;
	for (int i = 0; i < n; i++)
		assign_one(&tps[i]);
	if (D.quiet)
		hold_all();
}

/* Does worker w hold records of a partition being revoked?  With key or
 * roundrobin dispatch a partition has no one worker: any worker holding
 * records may hold some of them. */
static bool holds_revoked(int w)
{
	if (kf_dispatch_worker_inflight(D.d, w) == 0)
		return false;
	for (uint32_t i = 0; i < D.nparts; i++) {
		if (!D.parts[i].used || D.parts[i].state != PS_REVOKING ||
		    kf_dispatch_slot_inflight(D.d, i) == 0)
			continue;
		int sw = kf_dispatch_slot_worker(D.d, i);
		if (sw == w || sw < 0)
			return true;
	}
	return false;
}

static bool revoke_idle(struct kf_barrier *b)
{
	(void)b;
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used && D.parts[i].state == PS_REVOKING &&
		    kf_tracker_inflight(D.t, i) > 0)
			return false;
	return true;
}

/* Past rebalance_timeout_ms the group will not wait longer.  Workers
 * still holding revoked records are killed and respawned (the partitions'
 * next owners deliver those records again), and what is done is
 * committed. */
static void revoke_ready(struct kf_barrier *b, bool expired)
{
	(void)b;
	if (!expired)
		return;
	kf_warn(COMP, "revocation: records still in flight after rebalance_timeout_ms (%d ms);"
		" committing what is done", D.cfg.kafka.rebalance_timeout_ms);
	for (int i = 0; i < kf_pool_size(D.pool); i++)
		if (holds_revoked(i))
			kf_pool_kill(D.pool, i, "still busy with revoked partitions");
}

static bool revoke_commit(struct kf_barrier *b)
{
	return commit_moved(true, on_barrier_commit, b) > 0;
}

static void revoke_done(struct kf_barrier *b)
{
	(void)b;
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used && D.parts[i].state == PS_REVOKING)
			slot_release(i);
	kf_group_revoke_done(D.g);
}

const struct kf_barrier_hooks revoke_hooks = {
	"revocation", revoke_idle, revoke_ready, revoke_commit, revoke_done,
};

void on_revoke(void *opaque, const struct kf_group_tp *tps, int n)
{
	(void)opaque;
	kf_info(COMP, "%d partitions revoked: draining", n);
	for (int i = 0; i < n; i++) {
		int s = slot_find(tps[i].topic, tps[i].partition);
		if (s < 0)
			continue;
		D.parts[s].state = PS_REVOKING;
		kf_fetcher_unassign(D.f, (uint32_t)s);
	}
	kf_barrier_start(&D.bars, &D.revoke_b, D.cfg.kafka.rebalance_timeout_ms / 1000.);
	settle_soon();
}

void on_lost(void *opaque, const struct kf_group_tp *tps, int n)
{
	(void)opaque;
	kf_warn(COMP, "%d partitions lost: dropping them without a commit", n);
	for (int i = 0; i < n; i++) {
		int s = slot_find(tps[i].topic, tps[i].partition);
		if (s >= 0)
			slot_release((uint32_t)s);
	}
}

/*
 * A subscribed topic was deleted and created again under the same name (a
 * new topic id).  Its partitions' positions and commit points belong to
 * the old topic: they are dropped without a commit, and the group rejoins,
 * so that the new topic's partitions start from their own committed
 * offsets (none, after a deletion: auto_offset_reset).  From the cluster's
 * Metadata path, so the work waits for the loop's next turn.
 */
void on_topic_recreated(void *opaque, const char *topic)
{
	(void)opaque;
	bool ours = false;
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used && strcmp(D.parts[i].topic, topic) == 0)
			ours = D.parts[i].recreated = true;
	if (ours)
		ev_timer_start(D.loop, &D.recreated_t);
}

void on_recreated_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	int n = 0;
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used && D.parts[i].recreated) {
			kf_warn(COMP, "%s/%d: topic deleted and created again: dropping the partition"
				" without a commit", D.parts[i].topic, D.parts[i].partition);
			slot_release(i);
			n++;
		}
	if (n > 0 && D.g && D.phase == PH_RUN)
		kf_group_rejoin(D.g, "a topic was deleted and created again");
}

/* The group logged msg already, as an error. */
void on_fatal(void *opaque, const char *msg)
{
	(void)opaque, (void)msg;
	D.exit_code = 1;
	shutdown_begin("fatal group error");
}
