/*
 * group: the classic consumer-group member, on the supervisor's libev loop.
 *
 *   FindCoordinator -> JoinGroup (MEMBER_ID_REQUIRED retry) -> [leader:
 *   Metadata + assign callback] -> SyncGroup -> OffsetFetch -> stable,
 *   heartbeating every heartbeat_interval_ms on its own timer.
 *
 * Every error of these APIs maps to one action (kf_group_error_action).
 * Before an eager rejoin the caller gets on_revoke and answers with
 * kf_group_revoke_done (after draining and committing), or the rebalance
 * timeout passes.  Partitions that are lost (session expired, member id
 * unknown) come through on_lost instead: they can no longer be committed.
 *
 * Cooperative (conf.cooperative, KIP-429): a rejoin keeps what the member
 * owns and reports it in JoinGroup.  After SyncGroup, on_assigned gets only
 * the partitions the generation added; those it took away then go to
 * on_revoke while the kept ones flow on, and kf_group_revoke_done (or the
 * rebalance timeout) starts the rejoin that hands them on.
 *
 * The leader keeps the partition counts its assignment was computed with
 * and, while stable, reads them again every metadata_max_age_ms; when a
 * subscribed topic gained (or lost) partitions, or appeared, it rejoins so
 * that the group assigns them (as the Java consumer does).
 *
 * Nothing blocks; every request goes through kf_conn_send on the
 * coordinator's connection, looked up by node id in the cluster each time.
 * The cluster must outlive the group.
 */
#ifndef KF_GROUP_H
#define KF_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "proto_group.h"

struct ev_loop;
struct kf_cluster;
struct kf_group;

/* The commit callback's err when the coordinator refused the commit
 * because the group rebalanced (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
 * UNKNOWN_MEMBER_ID); the group is rejoining. */
#define KF_GROUP_EREBALANCE (-100)

struct kf_group_conf {
	const char *group;              /* copied */
	const char *client_id;          /* for logs only; the conns carry theirs */
	const char *group_instance_id;  /* NULL or "" = dynamic member */
	int session_timeout_ms;         /* 45000 when 0 */
	int heartbeat_interval_ms;      /* 3000 when 0 */
	int rebalance_timeout_ms;       /* 300000 when 0 */
	const char *const *protocols;   /* assignor names, preference order; "range" if none */
	int nprotocols;
	const char *const *topics;      /* the subscription */
	int ntopics;
	int metadata_max_age_ms;        /* leader's partition count check; 300000 when 0 */
	bool cooperative;               /* KIP-429: every protocol is cooperative */
};

/* One partition in a callback: offset is the committed offset in
 * on_assigned (-1 = nothing committed), the offset to commit in
 * kf_group_commit; error is the Kafka error code of a commit. */
struct kf_group_tp {
	const char *topic;
	int32_t partition;
	int64_t offset;
	int16_t error;
};

/* What the leader's assignor sees: a member and its subscription. */
struct kf_group_member {
	const char *member_id;
	const char *group_instance_id;  /* NULL for dynamic members */
	const struct kf_consumer_subscription *sub;
};

/* A topic some member subscribes to, with its partition count from the
 * leader's metadata (topics without metadata are left out). */
struct kf_group_topic {
	const char *topic;
	int32_t partitions;
};

/*
 * Fill out[i] (zeroed by the caller, one per member, index-aligned with
 * members) with member i's partitions, allocating in a.  Return KF_OK, or
 * an error: the group then rejoins after a backoff.
 */
typedef int kf_group_assign_fn(void *opaque, const char *protocol,
			       const struct kf_group_member *members, int nmembers,
			       const struct kf_group_topic *topics, int ntopics,
			       struct kf_consumer_assignment *out, struct kf_arena *a);

/* The partition lists passed to callbacks belong to the group: on_assigned
 * and on_lost ones are valid during the call, on_revoke ones until
 * kf_group_revoke_done. */
struct kf_group_callbacks {
	kf_group_assign_fn *assign;
	/* Stable with these partitions added (committed offsets filled in):
	 * the whole assignment, or with a cooperative protocol what the
	 * generation added to what the member kept. */
	void (*on_assigned)(void *opaque, int32_t generation, const struct kf_group_tp *tps, int n);
	/* Stop using these partitions, commit, then call kf_group_revoke_done. */
	void (*on_revoke)(void *opaque, const struct kf_group_tp *tps, int n);
	/* These partitions are gone already: stop, do not commit. */
	void (*on_lost)(void *opaque, const struct kf_group_tp *tps, int n);
	/* The group cannot go on (authorization, fenced instance...). */
	void (*on_fatal)(void *opaque, const char *msg);
};

/* One commit's outcome: err is KF_OK (tps[i].error says per partition),
 * KF_GROUP_EREBALANCE, KF_EAGAIN (no generation or coordinator now),
 * KF_ENOMEM (not sent; tps may be NULL and n 0), or a transport error. */
typedef void kf_group_commit_cb(void *arg, int err, const struct kf_group_tp *tps, int n);

/* Upper bounds (ms) of the heartbeat gap histogram's buckets; the last
 * bucket takes the rest (+Inf). */
#define KF_GROUP_GAP_BUCKETS 9
extern const uint32_t kf_group_gap_bounds_ms[KF_GROUP_GAP_BUCKETS - 1];

struct kf_group_counters {
	uint64_t rebalances;     /* JoinGroups that completed a generation */
	uint64_t heartbeats;     /* heartbeats answered without error */
	uint64_t heartbeat_max_gap_ms;
	/* Every gap between two heartbeat sends while stable: how many fell
	 * in each bucket (not cumulative), their count and sum. */
	uint64_t gap_buckets[KF_GROUP_GAP_BUCKETS];
	uint64_t gap_count;
	uint64_t gap_sum_ms;
	uint64_t commits;
	uint64_t commit_failures;
};

/* NULL when out of memory.  Later on, running out of memory fails only the
 * step that needed it (see group.c): nothing aborts. */
struct kf_group *kf_group_new(struct ev_loop *loop, struct kf_cluster *cl,
			      const struct kf_group_conf *conf,
			      const struct kf_group_callbacks *cb, void *opaque);
/* Requests in flight are detached and end quietly: no callback runs after
 * this, commit callbacks included.  Call kf_group_leave first to leave. */
void kf_group_free(struct kf_group *g);

void kf_group_start(struct kf_group *g);
/* The caller finished what on_revoke asked; the group rejoins. */
void kf_group_revoke_done(struct kf_group *g);
/* Leave the current generation and join again (on_revoke first while
 * stable), e.g. after a subscribed topic was deleted and created again. */
void kf_group_rejoin(struct kf_group *g, const char *why);
/* Commit offsets (copied) with the current generation and member id.
 * cb runs exactly once (unless the group is freed first), and never from
 * inside this call but in one case: out of memory with 8 such refusals
 * already waiting for the loop (as libev's ev_once). */
void kf_group_commit(struct kf_group *g, const struct kf_group_tp *offsets, int n,
		     kf_group_commit_cb *cb, void *arg);
/* Leave (dynamic members only; static ones just stop), then done(arg). */
void kf_group_leave(struct kf_group *g, void (*done)(void *arg), void *arg);

/* starting, joining, stable, rebalancing, stopped */
const char *kf_group_state(const struct kf_group *g);
/* The assignment is delivered and the member heartbeats (state "stable"). */
bool kf_group_stable(const struct kf_group *g);
const char *kf_group_member_id(const struct kf_group *g);
int32_t kf_group_generation(const struct kf_group *g);
const char *kf_group_protocol(const struct kf_group *g);
void kf_group_counters(const struct kf_group *g, struct kf_group_counters *out);

/*
 * The leader's partition count check: the index of the first entry of cur,
 * from index `from` on, whose count differs from the snapshot the
 * assignment was computed with, or -1 when none does.  A topic absent from
 * snap counts as 0 partitions (it did not exist then); an entry of cur
 * with partitions < 0 (no usable answer for it now) is not compared.
 * *was gets the snapshot's count of the entry returned.
 */
int kf_group_topics_changed(const struct kf_group_topic *snap, int nsnap,
			    const struct kf_group_topic *cur, int ncur, int from, int32_t *was);

/* ------------------------------------------------------------ error reactions */

enum kf_group_action {
	KF_GA_OK = 0,       /* nothing to do */
	KF_GA_RETRY_NOW,    /* MEMBER_ID_REQUIRED: join again at once with the id */
	KF_GA_REJOIN,       /* rejoin keeping member id and generation */
	KF_GA_RESET_GEN,    /* generation -1, keep member id, rejoin */
	KF_GA_RESET_MEMBER, /* generation -1 and member id "", rejoin */
	KF_GA_REDISCOVER,   /* coordinator unknown: FindCoordinator, retry */
	KF_GA_BACKOFF,      /* retry the same request later */
	KF_GA_FATAL,        /* stop with a clear message */
};

/*
 * The reaction to the answer of api_key (KF_API_*): err is the transport
 * result (a KF_E* code, KF_OK when an answer came) and code the Kafka
 * error code in it.  is_static: the member has a group instance id.
 */
enum kf_group_action kf_group_error_action(int16_t api_key, int err, int16_t code, bool is_static);
const char *kf_group_action_name(enum kf_group_action a);

#endif
