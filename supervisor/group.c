/*
 * group: the classic consumer-group member (see group.h).
 *
 * One state serves the flow; the coordinator is a separate fact (coord < 0:
 * unknown), and advance() sends whatever the state needs next, finding the
 * coordinator first when it is unknown.  Every request carries the group's
 * epoch; abandoning a step (rejoin, rediscover) bumps the epoch so a late
 * answer to the abandoned step is dropped.  Heartbeats run on their own
 * timer whenever a generation is held, whatever else is in flight.
 *
 * The leader's partition counts (the snapshot) are taken with the metadata
 * its assignment is computed from, cover every topic any member subscribes
 * to (0 for a topic that did not exist), and live until the next JoinGroup
 * or rejoin; a follower has none.  While stable, a timer re-reads them.
 *
 * Out of memory never aborts: as in every other module, KF_ENOMEM fails
 * the one step that could not allocate and the group carries on with what
 * it holds.  A step of the join flow (FindCoordinator, Metadata, JoinGroup,
 * SyncGroup, OffsetFetch, and the leader's assignment) is retried after
 * the group's backoff, as an answer that asks to retry would be; a
 * heartbeat waits for its next tick, the partition count check for its
 * next period, LeaveGroup is skipped; a commit's callback gets KF_ENOMEM,
 * from the loop as always; kf_group_new returns NULL.
 */
#include "config.h"

#include <ev.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asg.h"
#include "assignor.h"
#include "cluster.h"
#include "err.h"
#include "group.h"
#include "log.h"
#include "proto_msgs.h"
#include "req.h"

#define LOGC "group"
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0
/* FindCoordinator while it names a node whose connection is down: as the
 * Java client's retry.backoff.max.ms. */
#define COORD_DOWN_BACKOFF_MAX 1.0
#define METADATA_MAX_AGE_MS 300000

enum gstate {
	GS_INIT = 0,  /* not started */
	GS_REVOKING,  /* on_revoke called; waiting for revoke_done or timeout */
	GS_JOIN,      /* JoinGroup next or in flight */
	GS_SYNC,      /* leader metadata / SyncGroup in flight */
	GS_FETCH,     /* OffsetFetch of the new assignment */
	GS_STABLE,    /* assignment delivered; heartbeating */
	GS_LEAVING,   /* LeaveGroup in flight */
	GS_DONE,      /* left or stopped */
	GS_FATAL,     /* on_fatal called */
};

static const char *const gstate_names[] = {
	"init", "revoking", "join", "sync", "fetch", "stable", "leaving", "done", "fatal",
};

/* One request in flight (lib/req.h): the request struct and everything
 * it points to, on the group's list. */
struct greq {
	struct kf_req base;          /* owner: the group, NULL once it is freed */
	uint32_t epoch;
	int32_t generation;          /* heartbeats and commits: what was sent */
	union {
		struct kf_find_coordinator_req fc;
		struct kf_metadata_req md;
		struct kf_join_group_req join;
		struct kf_sync_group_req sync;
		struct kf_heartbeat_req hb;
		struct kf_offset_fetch_req of;
		struct kf_offset_commit_req oc;
		struct kf_leave_group_req leave;
	} r;
	char *keys[1];
	/* commits */
	kf_group_commit_cb *cb;
	void *cb_arg;
	struct kf_group_tp *tps;
	int ntps;
	int refuse_err;              /* refused commit: its err, on g->refused */
	struct greq *refused_next;
};

/* Commits refused without a request (none could be allocated): their
 * callbacks, run from the loop with KF_ENOMEM.  kforkd has at most a
 * periodic commit and a barrier's out at once. */
#define NOMEM_COMMITS 8

struct nomem_commit {
	kf_group_commit_cb *cb;
	void *arg;
};

struct kf_group {
	struct ev_loop *loop;
	struct kf_cluster *cl;
	struct kf_group_callbacks cb;
	void *opaque;

	char *group, *instance_id;
	int session_ms, hb_ms, rebalance_ms, md_age_ms;
	char **protocols, **topics;
	int nprotocols, ntopics;

	enum gstate state;
	bool ever_stable;
	int32_t coord;               /* coordinator node, -1 unknown */
	bool coord_inflight, md_inflight, hb_inflight, check_inflight;
	uint32_t epoch;
	char *member_id;             /* "" until the broker gives one */
	int32_t generation;
	char *protocol, *leader;

	/* the current assignment; with a cooperative protocol, what a new
	 * generation adds comes first (nadded, not handed out yet) and what
	 * it takes away is in rev until kf_group_revoke_done */
	struct kf_asg asg, rev;
	int nadded;
	bool owned;                  /* asg was handed out with on_assigned */
	bool cooperative;            /* KIP-429: keep what we own across a rebalance */
	bool coop_revoking;          /* stable, and on_revoke(rev) is being served */

	/* leader: JoinGroup members kept until SyncGroup is sent */
	struct kf_arena join_arena;
	struct kf_group_member *members;
	int nmembers;
	bool skip_assignment;        /* KIP-814: a static leader back in a stable group */

	/* leader: partition counts the assignment was computed with */
	struct kf_arena snap_arena;
	struct kf_group_topic *snap;
	int nsnap;
	bool has_snap;

	ev_timer retry, hb, revoke, leave_t, check;
	ev_timer refuse;             /* serves refused commits from the loop */
	double backoff;
	ev_tstamp last_hb_ok, last_hb_send;
	bool gap_valid;

	void (*leave_done)(void *);
	void *leave_arg;

	struct kf_group_counters cnt;
	struct kf_req_list reqs;     /* in flight */
	struct greq *refused, **refused_tail;  /* refused commits, in order */
	struct nomem_commit nomem_commits[NOMEM_COMMITS];
	int nnomem_commits;
};

static void advance(struct kf_group *g);
static void rejoin(struct kf_group *g, const char *why, bool lost);

/* ------------------------------------------------------------ error reactions */

enum kf_group_action kf_group_error_action(int16_t api_key, int err, int16_t code, bool is_static)
{
	(void)is_static; /* a static member resets its id too: the broker maps the instance id */
	if (err != KF_OK)
		return KF_GA_REDISCOVER;
	switch (code) {
	case KF_KERR_NONE:
		return KF_GA_OK;
	case KF_KERR_MEMBER_ID_REQUIRED:
		return api_key == KF_API_JOIN_GROUP ? KF_GA_RETRY_NOW : KF_GA_BACKOFF;
	case KF_KERR_REBALANCE_IN_PROGRESS:
		return KF_GA_REJOIN;
	case KF_KERR_ILLEGAL_GENERATION:
		return KF_GA_RESET_GEN;
	case KF_KERR_UNKNOWN_MEMBER_ID:
		return KF_GA_RESET_MEMBER;
	case KF_KERR_REQUEST_TIMED_OUT:
	case KF_KERR_COORDINATOR_NOT_AVAILABLE:
	case KF_KERR_NOT_COORDINATOR:
		return KF_GA_REDISCOVER;
	case KF_KERR_COORDINATOR_LOAD_IN_PROGRESS:
		return KF_GA_BACKOFF;
	case KF_KERR_TOPIC_AUTHORIZATION_FAILED:
	case KF_KERR_GROUP_AUTHORIZATION_FAILED:
	case KF_KERR_FENCED_INSTANCE_ID:
		return KF_GA_FATAL;
	case KF_KERR_INCONSISTENT_GROUP_PROTOCOL:
	case KF_KERR_INVALID_GROUP_ID:
	case KF_KERR_INVALID_SESSION_TIMEOUT:
	case KF_KERR_UNSUPPORTED_VERSION:
	case KF_KERR_GROUP_MAX_SIZE_REACHED:
		return api_key == KF_API_JOIN_GROUP ? KF_GA_FATAL : KF_GA_BACKOFF;
	default:
		return KF_GA_BACKOFF;
	}
}

const char *kf_group_action_name(enum kf_group_action a)
{
	static const char *const names[] = {
		"ok", "retry-now", "rejoin", "reset-generation", "reset-member",
		"rediscover", "backoff", "fatal",
	};
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

/* ------------------------------------------------------------ helpers */

/* Replace *dst with a copy of s (NULL: ""); on KF_ENOMEM *dst stays. */
static int set_str(char **dst, const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		return KF_ENOMEM;
	free(*dst);
	*dst = d;
	return KF_OK;
}

static bool is_static(const struct kf_group *g)
{
	return g->instance_id != NULL;
}

static void set_state(struct kf_group *g, enum gstate s)
{
	if (g->state == s)
		return;
	kf_debug(LOGC, "%s: %s -> %s", g->group, gstate_names[g->state], gstate_names[s]);
	if (s != GS_STABLE)
		g->gap_valid = false;
	g->state = s;
}

/* A request on g's list, or NULL when out of memory.  Strings and arrays
 * it points to live in its arena (kf_req_strdup...): it may be encoded
 * after the group changed them, or after the group is gone. */
static struct greq *greq_new(struct kf_group *g)
{
	struct greq *q = KF_REQ_NEW(&g->reqs, g, struct greq, base);
	if (!q)
		return NULL;
	q->epoch = g->epoch;
	q->generation = g->generation;
	return q;
}

static void greq_free(struct greq *q)
{
	kf_req_free(&q->base);
}

/* The group q is for, NULL once the group is freed. */
static struct kf_group *greq_group(const struct greq *q)
{
	return kf_req_owner(&q->base);
}

static struct kf_conn *coord_conn(struct kf_group *g)
{
	return g->coord < 0 ? NULL : kf_cluster_coordinator(g->cl, g->coord);
}

/*
 * The coordinator's connection failed and is not back (a dead broker): a
 * request queued on it would wait there for its whole timeout, even once
 * FindCoordinator names another node.  Callers rediscover instead; the
 * connection tries again meanwhile.  (auth_failed answers at once.)
 */
static bool coord_down(struct kf_group *g)
{
	struct kf_conn *c = coord_conn(g);
	if (!c || kf_conn_state(c) == KF_CONN_READY || kf_conn_state(c) == KF_CONN_FAILED ||
	    !kf_conn_last_error(c, NULL, NULL))
		return false;
	kf_conn_connect(c);
	return true;
}

/*
 * OffsetFetch and OffsetCommit v10+ name topics by id (KIP-516).  Request
 * entries carry both name and id; the version is capped at 9 when an id is
 * not known (a broker before 2.8, or no Metadata answer for the topic yet).
 */
#define KF_GROUP_NAMES_MAX_VERSION 9

/* The topic of a response entry: its name up to v9, its id from v10. */
static const char *resp_topic(struct kf_group *g, const char *name, const struct kf_uuid *id)
{
	return name ? name : kf_cluster_topic_name(g->cl, id);
}

/* Send q on conn c; on a refusal the callback runs as for a transport error. */
static void send_req(struct kf_group *g, struct kf_conn *c, int16_t api, int16_t maxv,
		     struct greq *q, int timeout_ms, kf_conn_resp_cb *cb)
{
	int rc = c ? kf_conn_send(c, api, maxv, &q->r, timeout_ms, cb, q) : KF_ECLOSED;
	if (rc != KF_OK) {
		kf_warn(LOGC, "%s: cannot send api %d: %s", g->group, api, kf_strerror(rc));
		cb(c, rc, -1, NULL, q);
	}
}

/* A reply is current when the group still exists and nothing was
 * abandoned since the request went out. */
static struct kf_group *current(struct greq *q)
{
	struct kf_group *g = greq_group(q);
	return g && q->epoch == g->epoch ? g : NULL;
}

/* The group an answer in state st is still for; otherwise (stale epoch,
 * or the member moved on) the request is freed and NULL returned. */
static struct kf_group *answer_for(struct greq *q, enum gstate st)
{
	struct kf_group *g = current(q);
	if (g && g->state == st)
		return g;
	greq_free(q);
	return NULL;
}

static void retry_after(struct kf_group *g, double s)
{
	ev_timer_stop(g->loop, &g->retry);
	ev_timer_set(&g->retry, s, 0.);
	ev_timer_start(g->loop, &g->retry);
}

static void backoff(struct kf_group *g)
{
	g->backoff = g->backoff <= 0 ? BACKOFF_MIN : g->backoff * 2;
	if (g->backoff > BACKOFF_MAX)
		g->backoff = BACKOFF_MAX;
	retry_after(g, g->backoff);
}

static void fatal(struct kf_group *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fatal(struct kf_group *g, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kf_err(LOGC, "%s: %s", g->group, msg);
	g->epoch++;
	set_state(g, GS_FATAL);
	ev_timer_stop(g->loop, &g->retry);
	ev_timer_stop(g->loop, &g->hb);
	ev_timer_stop(g->loop, &g->revoke);
	ev_timer_stop(g->loop, &g->check);
	if (g->cb.on_fatal)
		g->cb.on_fatal(g->opaque, msg);
}

static bool stopped(const struct kf_group *g)
{
	return g->state == GS_DONE || g->state == GS_FATAL || g->state == GS_LEAVING ||
	       g->state == GS_INIT;
}

/* The coordinator is unknown: find it again, then carry on. */
static void rediscover(struct kf_group *g, const char *why)
{
	kf_info(LOGC, "%s: coordinator %d unusable (%s), rediscovering", g->group, g->coord, why);
	g->coord = -1;
	g->epoch++;
	g->hb_inflight = false;
	backoff(g);
}

/* React to an action for a step of the join flow (JoinGroup, SyncGroup,
 * OffsetFetch, Heartbeat, a refused commit). */
static void react(struct kf_group *g, int16_t api, enum kf_group_action a, int err,
		  int16_t code)
{
	const char *what = err ? kf_strerror(err) : kf_kafka_err_name(code);
	switch (a) {
	case KF_GA_OK:
		break;
	case KF_GA_RETRY_NOW:
		g->epoch++;
		advance(g);
		break;
	case KF_GA_REJOIN:
		rejoin(g, what, false);
		break;
	case KF_GA_RESET_GEN:
		g->generation = -1;
		rejoin(g, what, true);
		break;
	case KF_GA_RESET_MEMBER:
		g->generation = -1;
		g->member_id[0] = '\0'; /* always a string of its own: nothing to allocate */
		rejoin(g, what, true);
		break;
	case KF_GA_REDISCOVER:
		rediscover(g, what);
		break;
	case KF_GA_BACKOFF:
		kf_warn(LOGC, "%s: api %d: %s, retrying", g->group, api, what);
		g->epoch++;
		backoff(g);
		break;
	case KF_GA_FATAL:
		if (code == KF_KERR_FENCED_INSTANCE_ID)
			fatal(g, "FENCED_INSTANCE_ID: another member joined with group_instance_id \"%s\" "
				 "and took its place; each member needs its own id",
			      g->instance_id ? g->instance_id : "");
		else
			fatal(g, "api %d failed with %s (%d): cannot continue in group %s", api,
			      what, code, g->group);
		break;
	}
}

/* A step of the join flow could not allocate: try it again after the
 * backoff (see the top of this file).  advance() knows which step. */
static void step_nomem(struct kf_group *g, int16_t api)
{
	react(g, api, KF_GA_BACKOFF, KF_ENOMEM, 0);
}

/* ------------------------------------------------------------ assignment */

static void drop_assignment(struct kf_group *g)
{
	kf_asg_free(&g->asg);
	g->nadded = 0;
	g->owned = false;
}

/* The snapshot belongs to one generation's assignment: a new join (as
 * leader or not) or a rejoin ends it, and with it the check timer. */
static void drop_snapshot(struct kf_group *g)
{
	ev_timer_stop(g->loop, &g->check);
	kf_arena_free(&g->snap_arena);
	g->snap = NULL;
	g->nsnap = 0;
	g->has_snap = false;
}

/*
 * Cooperative: give up what the new generation took away (rev), while the
 * kept partitions flow on; kf_group_revoke_done (or the rebalance timeout)
 * then rejoins, so that the leader hands them on.
 */
static void coop_revoke(struct kf_group *g)
{
	g->coop_revoking = true;
	ev_timer_set(&g->revoke, g->rebalance_ms / 1000., 0.);
	ev_timer_start(g->loop, &g->revoke);
	if (g->cb.on_revoke)
		g->cb.on_revoke(g->opaque, g->rev.tps, g->rev.n);
	else
		kf_group_revoke_done(g);
}

/*
 * Leave the current generation and join again.  An eager protocol revokes
 * everything first (on_revoke, then wait); lost partitions go to on_lost.
 */
static void rejoin(struct kf_group *g, const char *why, bool lost)
{
	if (stopped(g))
		return;
	if (g->coop_revoking && !lost)
		return; /* kf_group_revoke_done rejoins */
	kf_info(LOGC, "%s: rejoining (%s)", g->group, why);
	g->epoch++;
	ev_timer_stop(g->loop, &g->retry);
	drop_snapshot(g);
	if (g->state == GS_REVOKING)
		return; /* already on the way */
	if (g->coop_revoking) {
		/* Lost while revoking: what is being revoked is lost too, and
		 * its commits will fail; kforkd's barrier ends on its own. */
		g->coop_revoking = false;
		ev_timer_stop(g->loop, &g->revoke);
		kf_asg_free(&g->rev);
	}
	if (g->owned && lost) {
		if (g->cb.on_lost) {
			g->cb.on_lost(g->opaque, g->asg.tps, g->asg.n);
			if (g->rev.n > 0) /* taken away, never revoked */
				g->cb.on_lost(g->opaque, g->rev.tps, g->rev.n);
		}
		kf_asg_free(&g->rev);
		drop_assignment(g);
	}
	if (g->cooperative) {
		/* Keep what was handed out, and say so in JoinGroup; what a
		 * generation added but never handed out is not ours to claim. */
		if (g->owned) {
			g->asg.tps += g->nadded;
			g->asg.n -= g->nadded;
			g->nadded = 0;
		} else {
			drop_assignment(g);
		}
		if (g->rev.n > 0) {
			/* A generation took partitions away and failed before
			 * they were revoked: revoke them first, rejoin after. */
			set_state(g, GS_STABLE);
			coop_revoke(g);
			return;
		}
		set_state(g, GS_JOIN);
		advance(g);
		return;
	}
	if (g->owned && g->cb.on_revoke) {
		set_state(g, GS_REVOKING);
		ev_timer_set(&g->revoke, g->rebalance_ms / 1000., 0.);
		ev_timer_start(g->loop, &g->revoke);
		g->cb.on_revoke(g->opaque, g->asg.tps, g->asg.n);
		return;
	}
	drop_assignment(g);
	set_state(g, GS_JOIN);
	advance(g);
}

void kf_group_rejoin(struct kf_group *g, const char *why)
{
	rejoin(g, why, false);
}

void kf_group_revoke_done(struct kf_group *g)
{
	if (g->coop_revoking) {
		/* Cooperative: the partitions we gave up are committed; join
		 * again so that the group hands them on. */
		g->coop_revoking = false;
		ev_timer_stop(g->loop, &g->revoke);
		kf_asg_free(&g->rev);
		rejoin(g, "revoked partitions released", false);
		return;
	}
	if (g->state != GS_REVOKING)
		return;
	ev_timer_stop(g->loop, &g->revoke);
	drop_assignment(g);
	set_state(g, GS_JOIN);
	advance(g);
}

static void on_revoke_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_group *g = w->data;
	(void)loop, (void)revents;
	kf_warn(LOGC, "%s: revocation not done within rebalance timeout %d ms, joining anyway",
		g->group, g->rebalance_ms);
	kf_group_revoke_done(g);
}

/* ------------------------------------------------------------ FindCoordinator */

static int send_metadata(struct kf_group *g, const char *const *topics, int n,
			 kf_conn_resp_cb *cb);

static void on_md_brokers(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	struct kf_group *g = greq_group(q);
	(void)c, (void)ver;
	greq_free(q);
	if (!g)
		return;
	g->md_inflight = false;
	if (!err && kf_cluster_set_brokers(g->cl, resp) != KF_OK)
		err = KF_EAGAIN; /* a top-level error, logged by the cluster */
	if (err) {
		kf_log(err == KF_EAUTH ? KF_LOG_DEBUG : KF_LOG_INFO, LOGC, "%s: metadata: %s",
		       g->group, kf_strerror(err));
		backoff(g);
		return;
	}
	if (g->coord < 0)
		return; /* rediscovering meanwhile: its retry carries on */
	if (!coord_conn(g)) {
		kf_warn(LOGC, "%s: coordinator %d is not in the metadata", g->group, g->coord);
		g->coord = -1;
		backoff(g);
	} else if (!stopped(g)) {
		advance(g); /* whatever step is current now */
	}
}

static void on_coordinator(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	/* Not dropped by epoch: only one is in flight, and whichever step is
	 * current now needs the coordinator. */
	struct kf_group *g = greq_group(q);
	(void)c, (void)ver;
	if (g)
		g->coord_inflight = false;
	if (!g || stopped(g)) {
		greq_free(q);
		return;
	}
	int16_t code = 0;
	int32_t node = -1;
	if (!err) {
		struct kf_find_coordinator_resp *r = resp;
		code = r->error_code;
		node = r->node_id;
		if (r->coordinators.n > 0) {
			struct kf_find_coordinator_resp_coordinator *co =
				&KF_AT(r->coordinators, struct kf_find_coordinator_resp_coordinator, 0);
			code = co->error_code;
			node = co->node_id;
		}
	}
	greq_free(q);
	enum kf_group_action a = kf_group_error_action(KF_API_FIND_COORDINATOR, err, code, is_static(g));
	if (a == KF_GA_FATAL) {
		react(g, KF_API_FIND_COORDINATOR, a, err, code);
		return;
	}
	if (a != KF_GA_OK) {
		/* KF_EAUTH: the connection said so once and tries no more */
		kf_log(err == KF_EAUTH ? KF_LOG_DEBUG : KF_LOG_INFO, LOGC,
		       "%s: FindCoordinator: %s, retrying", g->group,
		       err ? kf_strerror(err) : kf_kafka_err_name(code));
		backoff(g);
		return;
	}
	g->coord = node;
	if (coord_down(g)) {
		/* Still the node we lost (a dead broker stays coordinator until
		 * the controller fences it): ask again soon, and quietly. */
		kf_debug(LOGC, "%s: coordinator is node %d, whose connection is down; asking again",
			 g->group, node);
		g->coord = -1;
		g->backoff = g->backoff <= 0 ? BACKOFF_MIN : g->backoff * 2;
		if (g->backoff > COORD_DOWN_BACKOFF_MAX)
			g->backoff = COORD_DOWN_BACKOFF_MAX;
		retry_after(g, g->backoff);
		return;
	}
	kf_info(LOGC, "%s: coordinator is node %d", g->group, node);
	g->backoff = 0;
	advance(g);
}

static void send_coordinator(struct kf_group *g)
{
	if (g->coord_inflight)
		return;
	struct greq *q = greq_new(g);
	if (!q)
		goto out_nomem;
	kf_proto_defaults(kf_api_find_coordinator.req, &q->r.fc);
	q->r.fc.key = kf_req_strdup(&q->base, g->group);
	q->r.fc.key_type = 0;
	q->keys[0] = q->r.fc.key;
	q->r.fc.coordinator_keys.v = q->keys;
	q->r.fc.coordinator_keys.n = 1;
	if (kf_req_nomem(&q->base))
		goto out_free;
	g->coord_inflight = true;
	send_req(g, kf_cluster_any(g->cl), KF_API_FIND_COORDINATOR, -1, q, 10000, on_coordinator);
	return;
out_free:
	greq_free(q);
out_nomem:
	step_nomem(g, KF_API_FIND_COORDINATOR);
}

/* Metadata for n topics (copied) from any broker; cb gets the answer (or
 * a refusal to send, as a transport error).  KF_ENOMEM: nothing was sent
 * and cb does not run. */
static int send_metadata(struct kf_group *g, const char *const *topics, int n,
			 kf_conn_resp_cb *cb)
{
	struct greq *q = greq_new(g);
	if (!q)
		return KF_ENOMEM;
	if (kf_req_metadata(&q->base, &q->r.md, topics, n) != KF_OK) {
		greq_free(q);
		return KF_ENOMEM;
	}
	send_req(g, kf_cluster_any(g->cl), KF_API_METADATA, -1, q, 10000, cb);
	return KF_OK;
}

/* ------------------------------------------------------------ JoinGroup */

static void send_sync(struct kf_group *g, const struct kf_consumer_assignment *asg);

/* Encoded ConsumerProtocol bytes copied into q's arena (the writer's only
 * error is KF_ENOMEM). */
static struct kf_bytes to_arena(struct kf_wr *w, struct greq *q)
{
	struct kf_bytes b = { NULL, 0 };
	if (w->err)
		q->base.nomem = true;
	if (w->err || !w->len)
		return b;
	uint8_t *p = kf_req_alloc(&q->base, w->len);
	if (!p)
		return b;
	memcpy(p, w->buf, w->len);
	b.p = p;
	b.len = (int32_t)w->len;
	return b;
}

static void on_leader_md(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque);

/* A topic's partition count in a Metadata answer: 0 when the broker does
 * not know the topic, -1 when the answer says nothing usable about it now
 * (another error, e.g. LEADER_NOT_AVAILABLE while it is being created, or
 * not in the answer at all). */
static int32_t md_partitions(const struct kf_metadata_resp *md, const char *topic)
{
	const struct kf_metadata_resp_topic *t = kf_req_metadata_topic(md, topic);
	if (!t)
		return -1;
	if (t->error_code == KF_KERR_UNKNOWN_TOPIC_OR_PARTITION)
		return 0;
	return t->error_code ? -1 : t->partitions.n;
}

/* Remember the counts the assignment is computed from, for every topic
 * the leader asked about (req): what on_leader_md leaves out counts 0.
 * KF_ENOMEM leaves no snapshot. */
static int take_snapshot(struct kf_group *g, const struct kf_metadata_req *req,
			 const struct kf_metadata_resp *md)
{
	drop_snapshot(g);
	g->snap = kf_arena_alloc(&g->snap_arena, (size_t)(req->topics.n + 1) * sizeof(*g->snap));
	if (!g->snap)
		goto out_nomem;
	for (int32_t i = 0; i < req->topics.n; i++) {
		const char *t = KF_AT(req->topics, struct kf_metadata_req_topic, i).name;
		int32_t n = md_partitions(md, t);
		g->snap[i].topic = kf_arena_strndup(&g->snap_arena, t, strlen(t));
		if (!g->snap[i].topic)
			goto out_nomem;
		g->snap[i].partitions = n > 0 ? n : 0;
	}
	g->nsnap = req->topics.n;
	g->has_snap = true;
	return KF_OK;
out_nomem:
	drop_snapshot(g);
	return KF_ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The leader asks for the metadata of every topic any member subscribes to. */
static void leader_metadata(struct kf_group *g)
{
	const char **ts = NULL;
	int n = 0, cap = 0;
	for (int i = 0; i < g->nmembers; i++) {
		const struct kf_consumer_subscription *s = g->members[i].sub;
		for (int32_t j = 0; j < s->topics.n; j++) {
			const char *t = KF_AT(s->topics, char *, j);
			bool have = false;
			for (int k = 0; k < n && !have; k++)
				have = strcmp(ts[k], t) == 0;
			if (have || !t)
				continue;
			if (n == cap) {
				int ncap = cap ? cap * 2 : 16;
				const char **v = realloc(ts, (size_t)ncap * sizeof(*ts));
				if (!v)
					goto out_nomem;
				ts = v;
				cap = ncap;
			}
			ts[n++] = t;
		}
	}
	if (n > 1)
		qsort(ts, (size_t)n, sizeof(*ts), cmp_str);
	if (send_metadata(g, ts, n, on_leader_md) != KF_OK)
		goto out_nomem;
	free(ts);
	return;
out_nomem:
	free(ts);
	step_nomem(g, KF_API_METADATA);
}

static void on_leader_md(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	struct kf_group *g = answer_for(q, GS_SYNC);
	(void)c, (void)ver;
	if (!g)
		return;
	if (!err && kf_cluster_set_brokers(g->cl, resp) != KF_OK)
		err = KF_EAGAIN;
	if (err) {
		greq_free(q);
		kf_warn(LOGC, "%s: leader metadata: %s", g->group, kf_strerror(err));
		g->epoch++;
		set_state(g, GS_JOIN);
		backoff(g);
		return;
	}
	struct kf_metadata_resp *md = resp;
	struct kf_arena a;
	kf_arena_init(&a);
	struct kf_group_topic *topics = kf_arena_alloc(&a, (size_t)(md->topics.n + 1) * sizeof(*topics));
	int nt = 0;
	for (int32_t i = 0; topics && i < md->topics.n; i++) {
		struct kf_metadata_resp_topic *t = &KF_AT(md->topics, struct kf_metadata_resp_topic, i);
		if (t->error_code || !t->name || t->partitions.n <= 0)
			continue;
		topics[nt].topic = kf_arena_strndup(&a, t->name, strlen(t->name));
		if (!topics[nt].topic)
			topics = NULL;
		else
			topics[nt++].partitions = t->partitions.n;
	}
	struct kf_consumer_assignment *out =
		kf_arena_alloc(&a, (size_t)(g->nmembers + 1) * sizeof(*out));
	int rc = topics && out ? take_snapshot(g, &q->r.md, md) : KF_ENOMEM;
	greq_free(q);
	if (rc != KF_OK) {
		kf_arena_free(&a);
		step_nomem(g, KF_API_METADATA);
		return;
	}
	if (g->skip_assignment) {
		/* KIP-814: a static leader that rejoined a stable group keeps
		 * the current assignment; it only takes the snapshot, to watch
		 * the partition counts from now on. */
		kf_info(LOGC, "%s: static leader back in a stable group (SkipAssignment): "
			"the assignment stays as it is", g->group);
		kf_arena_free(&a);
		send_sync(g, NULL);
		return;
	}
	rc = g->cb.assign ? g->cb.assign(g->opaque, g->protocol, g->members, g->nmembers,
					 topics, nt, out, &a)
			  : KF_ERR;
	if (rc != KF_OK) {
		kf_err(LOGC, "%s: assignor %s failed: %s", g->group, g->protocol, kf_strerror(rc));
		kf_arena_free(&a);
		g->epoch++;
		set_state(g, GS_JOIN);
		backoff(g);
		return;
	}
	send_sync(g, out);
	kf_arena_free(&a);
}

/* The leader keeps the JoinGroup members (copied into join_arena) until
 * SyncGroup goes out.  KF_ENOMEM keeps none. */
static int take_members(struct kf_group *g, const struct kf_join_group_resp *r)
{
	struct kf_arena *a = &g->join_arena;
	kf_arena_free(a);
	g->nmembers = 0;
	g->members = kf_arena_alloc(a, (size_t)(r->members.n + 1) * sizeof(*g->members));
	if (!g->members)
		goto out_nomem;
	for (int32_t i = 0; i < r->members.n; i++) {
		struct kf_join_group_resp_member *m = &KF_AT(r->members, struct kf_join_group_resp_member, i);
		struct kf_consumer_subscription *s = kf_arena_alloc(a, sizeof(*s));
		/* Copy the bytes: UserData points into them, and the frame goes away. */
		uint8_t *p = kf_arena_alloc(a, (size_t)(m->metadata.len > 0 ? m->metadata.len : 1));
		if (!s || !p)
			goto out_nomem;
		if (m->metadata.len > 0)
			memcpy(p, m->metadata.p, (size_t)m->metadata.len);
		int rc = kf_consumer_subscription_decode(p, m->metadata.len > 0 ? (size_t)m->metadata.len : 0,
							 a, s, NULL);
		if (rc == KF_ENOMEM)
			goto out_nomem;
		if (rc != KF_OK) {
			kf_warn(LOGC, "%s: member %s sent a bad subscription (%s); it gets nothing",
				g->group, m->member_id, kf_strerror(rc));
			memset(s, 0, sizeof(*s));
		}
		struct kf_group_member *gm = &g->members[g->nmembers++];
		const char *mid = m->member_id ? m->member_id : "";
		gm->member_id = kf_arena_strndup(a, mid, strlen(mid));
		gm->group_instance_id = m->group_instance_id
			? kf_arena_strndup(a, m->group_instance_id, strlen(m->group_instance_id))
			: NULL;
		gm->sub = s;
		if (!gm->member_id || (m->group_instance_id && !gm->group_instance_id))
			goto out_nomem;
	}
	return KF_OK;
out_nomem:
	kf_arena_free(a);
	g->members = NULL;
	g->nmembers = 0;
	return KF_ENOMEM;
}

static void on_join(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	struct kf_group *g = answer_for(q, GS_JOIN);
	(void)c;
	if (!g)
		return;
	struct kf_join_group_resp *r = resp;
	int16_t code = err ? 0 : r->error_code;
	enum kf_group_action a = kf_group_error_action(KF_API_JOIN_GROUP, err, code, is_static(g));
	if (a == KF_GA_RETRY_NOW) {
		kf_info(LOGC, "%s: MEMBER_ID_REQUIRED, joining again as %s", g->group, r->member_id);
		int rc = set_str(&g->member_id, r->member_id);
		greq_free(q);
		if (rc != KF_OK)
			step_nomem(g, KF_API_JOIN_GROUP);
		else
			react(g, KF_API_JOIN_GROUP, a, err, code);
		return;
	}
	if (a != KF_GA_OK) {
		greq_free(q);
		if (a == KF_GA_REJOIN)
			a = KF_GA_BACKOFF; /* the join itself is the rejoin: try it again */
		react(g, KF_API_JOIN_GROUP, a, err, code);
		return;
	}
	if (set_str(&g->member_id, r->member_id) != KF_OK ||
	    set_str(&g->protocol, r->protocol_name) != KF_OK ||
	    set_str(&g->leader, r->leader) != KF_OK) {
		greq_free(q);
		step_nomem(g, KF_API_JOIN_GROUP);
		return;
	}
	g->generation = r->generation_id;
	g->backoff = 0;
	g->last_hb_ok = ev_now(g->loop);
	if (!ev_is_active(&g->hb)) {
		ev_timer_set(&g->hb, g->hb_ms / 1000., g->hb_ms / 1000.);
		ev_timer_start(g->loop, &g->hb);
	}
	bool leader = strcmp(g->member_id, g->leader) == 0;
	drop_snapshot(g); /* only this generation's leader checks, with its own */
	kf_info(LOGC, "%s: JoinGroup v%d: generation %d, member %s, protocol %s, %s (%d members)",
		g->group, ver, g->generation, g->member_id, g->protocol,
		leader ? "leader" : "follower", r->members.n);
	set_state(g, GS_SYNC);
	g->skip_assignment = leader && r->skip_assignment;
	int rc = leader ? take_members(g, r) : KF_OK;
	greq_free(q);
	if (rc != KF_OK)
		step_nomem(g, KF_API_JOIN_GROUP);
	else if (leader)
		leader_metadata(g);
	else
		send_sync(g, NULL);
}

static void send_join(struct kf_group *g)
{
	struct greq *q = greq_new(g);
	if (!q)
		goto out_nomem;
	struct kf_join_group_req *j = &q->r.join;
	kf_proto_defaults(kf_api_join_group.req, j);
	j->group_id = kf_req_strdup(&q->base, g->group);
	j->session_timeout_ms = g->session_ms;
	j->rebalance_timeout_ms = g->rebalance_ms;
	j->member_id = kf_req_strdup(&q->base, g->member_id);
	j->group_instance_id = kf_req_strdup(&q->base, g->instance_id);
	j->protocol_type = "consumer";
	struct kf_join_group_req_protocol *ps =
		kf_req_array(&q->base, kf_api_join_group.req, j, "Protocols", g->nprotocols);
	/* Java writes the subscription in version 3, topics sorted, with the
	 * partitions it owns (none after an eager revocation) and its
	 * generation; cooperative-sticky repeats the generation in UserData
	 * for leaders older than version 2. */
	struct kf_consumer_subscription sub;
	memset(&sub, 0, sizeof(sub));
	sub.topics.v = g->topics;
	sub.topics.n = g->ntopics;
	sub.user_data.len = -1;
	sub.generation_id = g->generation;
	if (g->owned && kf_asg_owned(g->asg.tps, g->asg.n, &q->base.arena,
				     &sub.owned_partitions) != KF_OK)
		goto out_free;
	uint8_t gen_be[4] = { (uint8_t)((uint32_t)g->generation >> 24),
			      (uint8_t)((uint32_t)g->generation >> 16),
			      (uint8_t)((uint32_t)g->generation >> 8), (uint8_t)g->generation };
	struct kf_bytes meta[2];
	for (int k = 0; k < 2; k++) {
		struct kf_wr w;
		kf_wr_init(&w);
		sub.user_data = k ? (struct kf_bytes){ gen_be, 4 } : (struct kf_bytes){ NULL, -1 };
		kf_consumer_subscription_encode(&w, 3, &sub);
		meta[k] = to_arena(&w, q);
		kf_wr_free(&w);
	}
	for (int i = 0; ps && i < g->nprotocols; i++) {
		enum kf_assignor_id id;
		ps[i].name = kf_req_strdup(&q->base, g->protocols[i]);
		ps[i].metadata = meta[kf_assignor_lookup(g->protocols[i], &id) == KF_OK &&
				      kf_assignor_cooperative(id)];
	}
	if (kf_req_nomem(&q->base))
		goto out_free;
	/* The broker holds JoinGroup until the rebalance completes. */
	struct kf_conn *c = coord_conn(g);
	kf_debug(LOGC, "%s: JoinGroup as '%s'", g->group, g->member_id);
	send_req(g, c, KF_API_JOIN_GROUP, -1, q, g->rebalance_ms + 5000, on_join);
	return;
out_free:
	greq_free(q);
out_nomem:
	step_nomem(g, KF_API_JOIN_GROUP);
}

/* ------------------------------------------------------------ SyncGroup */

static void send_fetch(struct kf_group *g);

/*
 * Take SyncGroup's assignment.  Eager: it replaces what we had, all of it
 * to hand out.  Cooperative, while we own partitions: what it adds comes
 * first (nadded) and what it takes away goes to rev, for on_revoke once
 * the added ones are handed out.
 */
static int take_assignment(struct kf_group *g, const struct kf_bytes *b)
{
	struct kf_asg nw;
	int rc;

	kf_asg_init(&nw);
	rc = kf_asg_decode(&nw, b);
	if (rc == KF_OK && g->cooperative && g->owned) {
		kf_asg_free(&g->rev);
		rc = kf_asg_diff(&nw, &g->asg, &g->rev, &g->nadded);
	} else if (rc == KF_OK) {
		g->owned = false;
		g->nadded = nw.n;
	}
	if (rc != KF_OK) {
		kf_asg_free(&nw);
		return rc;
	}
	kf_asg_move(&g->asg, &nw);
	return KF_OK;
}

static void on_sync(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	struct kf_group *g = answer_for(q, GS_SYNC);
	(void)c, (void)ver;
	if (!g)
		return;
	struct kf_sync_group_resp *r = resp;
	int16_t code = err ? 0 : r->error_code;
	enum kf_group_action a = kf_group_error_action(KF_API_SYNC_GROUP, err, code, is_static(g));
	if (a == KF_GA_OK) {
		int rc = take_assignment(g, &r->assignment);
		greq_free(q);
		if (rc != KF_OK) {
			kf_err(LOGC, "%s: cannot take our assignment: %s", g->group, kf_strerror(rc));
			g->epoch++;
			set_state(g, GS_JOIN);
			backoff(g);
			return;
		}
		g->cnt.rebalances++;
		if (g->cooperative && g->owned)
			kf_info(LOGC, "%s: SyncGroup: %d partitions in generation %d: %d added, %d kept,"
				" %d revoked", g->group, g->asg.n, g->generation, g->nadded,
				g->asg.n - g->nadded, g->rev.n);
		else
			kf_info(LOGC, "%s: SyncGroup: %d partitions in generation %d", g->group,
				g->asg.n, g->generation);
		set_state(g, GS_FETCH);
		send_fetch(g);
		return;
	}
	greq_free(q);
	/* Any failure of SyncGroup means joining again (after finding the
	 * coordinator or a backoff where needed). */
	if (a == KF_GA_REDISCOVER || a == KF_GA_BACKOFF)
		set_state(g, GS_JOIN);
	react(g, KF_API_SYNC_GROUP, a, err, code);
}

static void send_sync(struct kf_group *g, const struct kf_consumer_assignment *asg)
{
	struct greq *q = greq_new(g);
	if (!q)
		goto out_nomem;
	struct kf_sync_group_req *s = &q->r.sync;
	kf_proto_defaults(kf_api_sync_group.req, s);
	s->group_id = kf_req_strdup(&q->base, g->group);
	s->generation_id = g->generation;
	s->member_id = kf_req_strdup(&q->base, g->member_id);
	s->group_instance_id = kf_req_strdup(&q->base, g->instance_id);
	s->protocol_type = "consumer";
	s->protocol_name = kf_req_strdup(&q->base, g->protocol);
	if (asg) {
		struct kf_sync_group_req_assignment *as =
			kf_req_array(&q->base, kf_api_sync_group.req, s, "Assignments", g->nmembers);
		for (int i = 0; as && i < g->nmembers; i++) {
			as[i].member_id = kf_req_strdup(&q->base, g->members[i].member_id);
			struct kf_wr w;
			kf_wr_init(&w);
			struct kf_consumer_assignment one = asg[i];
			if (one.user_data.len == 0 && !one.user_data.p)
				one.user_data.len = -1;
			kf_consumer_assignment_encode(&w, 3, &one);
			as[i].assignment = to_arena(&w, q);
			kf_wr_free(&w);
		}
	}
	kf_arena_free(&g->join_arena);
	g->members = NULL;
	g->nmembers = 0;
	if (kf_req_nomem(&q->base))
		goto out_free;
	send_req(g, coord_conn(g), KF_API_SYNC_GROUP, -1, q, g->rebalance_ms + 5000, on_sync);
	return;
out_free:
	greq_free(q);
out_nomem:
	step_nomem(g, KF_API_SYNC_GROUP);
}

/* ------------------------------------------------------------ OffsetFetch */

static void on_fetch(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	struct kf_group *g = answer_for(q, GS_FETCH);
	(void)c, (void)ver;
	if (!g)
		return;
	struct kf_offset_fetch_resp *r = resp;
	int16_t code = 0;
	if (!err) {
		struct kf_array topics = r->topics;
		code = r->error_code;
		if (r->groups.n > 0) {
			struct kf_offset_fetch_resp_group *gr = &KF_AT(r->groups, struct kf_offset_fetch_resp_group, 0);
			topics = gr->topics;
			code = gr->error_code;
		}
		for (int32_t i = 0; i < topics.n && !code; i++) {
			struct kf_offset_fetch_resp_topic *t = &KF_AT(topics, struct kf_offset_fetch_resp_topic, i);
			for (int32_t j = 0; j < t->partitions.n; j++) {
				struct kf_offset_fetch_resp_partition *p =
					&KF_AT(t->partitions, struct kf_offset_fetch_resp_partition, j);
				if (p->error_code) {
					code = p->error_code;
					break;
				}
				const char *name = resp_topic(g, t->name, &t->topic_id);
				for (int k = 0; k < g->nadded; k++)
					if (g->asg.tps[k].partition == p->partition_index && name &&
					    strcmp(g->asg.tps[k].topic, name) == 0)
						g->asg.tps[k].offset = p->committed_offset;
			}
		}
	}
	greq_free(q);
	enum kf_group_action a = kf_group_error_action(KF_API_OFFSET_FETCH, err, code, is_static(g));
	if (a == KF_GA_REDISCOVER) {
		rediscover(g, err ? kf_strerror(err) : kf_kafka_err_name(code)); /* stays in FETCH */
		return;
	}
	if (a != KF_GA_OK) {
		react(g, KF_API_OFFSET_FETCH, a, err, code);
		return;
	}
	g->backoff = 0;
	set_state(g, GS_STABLE);
	g->ever_stable = true;
	g->owned = true;
	kf_info(LOGC, "%s: stable in generation %d with %d partitions", g->group, g->generation,
		g->asg.n);
	if (g->has_snap && g->nsnap > 0) {
		double age = g->md_age_ms / 1000.;
		ev_timer_stop(g->loop, &g->check);
		ev_timer_set(&g->check, age, age);
		ev_timer_start(g->loop, &g->check);
	}
	int nadded = g->nadded;
	g->nadded = 0;
	if (g->cb.on_assigned)
		g->cb.on_assigned(g->opaque, g->generation, g->asg.tps, nadded);
	if (g->rev.n > 0 && !stopped(g) && g->state == GS_STABLE)
		coop_revoke(g);
}

static void send_fetch(struct kf_group *g)
{
	struct greq *q = greq_new(g);
	if (!q)
		goto out_nomem;
	struct kf_offset_fetch_req *f = &q->r.of;
	kf_proto_defaults(kf_api_offset_fetch.req, f);
	f->group_id = kf_req_strdup(&q->base, g->group);
	f->require_stable = 1;
	/* One topic entry per distinct topic: the partitions to hand out. */
	struct kf_array owned;
	if (kf_asg_owned(g->asg.tps, g->nadded, &q->base.arena, &owned) != KF_OK)
		goto out_free;
	int nt = owned.n;
	struct kf_offset_fetch_req_topic *ts =
		kf_req_array(&q->base, kf_api_offset_fetch.req, f, "Topics", nt);
	int16_t maxv = -1;
	for (int k = 0; ts && k < nt; k++) {
		struct kf_consumer_topic_partitions *e =
			&KF_AT(owned, struct kf_consumer_topic_partitions, k);
		ts[k].name = kf_req_strdup(&q->base, e->topic);
		if (!kf_cluster_topic_id(g->cl, e->topic, &ts[k].topic_id))
			maxv = KF_GROUP_NAMES_MAX_VERSION;
		ts[k].partition_indexes = e->partitions;
	}
	/* v8+ carries the same request as a one-group batch. */
	struct kf_offset_fetch_req_group *gs =
		kf_req_array(&q->base, kf_api_offset_fetch.req, f, "Groups", 1);
	if (kf_req_nomem(&q->base))
		goto out_free;
	gs[0].group_id = f->group_id;
	gs[0].topics = f->topics;
	if (nt == 0) {
		on_fetch(NULL, KF_OK, -1, &(struct kf_offset_fetch_resp){ .error_code = 0 }, q);
		return;
	}
	send_req(g, coord_conn(g), KF_API_OFFSET_FETCH, maxv, q, 30000, on_fetch);
	return;
out_free:
	greq_free(q);
out_nomem:
	step_nomem(g, KF_API_OFFSET_FETCH);
}

/* ------------------------------------------------------------ Heartbeat */

static void on_heartbeat(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	struct kf_group *g = greq_group(q);
	(void)c, (void)ver;
	if (g)
		g->hb_inflight = false;
	if (!g || q->epoch != g->epoch || q->generation != g->generation || stopped(g)) {
		greq_free(q);
		return;
	}
	greq_free(q);
	struct kf_heartbeat_resp *r = resp;
	int16_t code = err ? 0 : r->error_code;
	enum kf_group_action a = kf_group_error_action(KF_API_HEARTBEAT, err, code, is_static(g));
	/* The coordinator kept our session alive for any answer that does
	 * not drop the member: a rebalance (REBALANCE_IN_PROGRESS) may take
	 * longer than the session timeout while we revoke and rejoin. */
	if (a == KF_GA_OK || a == KF_GA_REJOIN)
		g->last_hb_ok = ev_now(g->loop);
	if (a == KF_GA_OK) {
		g->cnt.heartbeats++;
		return;
	}
	kf_info(LOGC, "%s: heartbeat: %s", g->group, err ? kf_strerror(err) : kf_kafka_err_name(code));
	if (a == KF_GA_BACKOFF)
		return; /* the next tick tries again */
	/* A rebalance announced while we revoke or join is already handled. */
	if (a == KF_GA_REJOIN && g->state != GS_STABLE)
		return;
	react(g, KF_API_HEARTBEAT, a, err, code);
}

const uint32_t kf_group_gap_bounds_ms[KF_GROUP_GAP_BUCKETS - 1] = {
	250, 500, 1000, 2000, 3000, 5000, 10000, 30000,
};

/* The heartbeat timer's next tick, secs from now (it repeats at that). */
static void hb_next(struct kf_group *g, ev_timer *w, double secs)
{
	if (w->repeat != secs) {
		w->repeat = secs;
		ev_timer_again(g->loop, w);
	}
}

static void on_hb_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_group *g = w->data;
	(void)revents;
	if (stopped(g) || g->generation < 0)
		return;
	ev_tstamp now = ev_now(loop);
	if (g->state == GS_JOIN || g->state == GS_SYNC) {
		/* The coordinator holds our JoinGroup or SyncGroup for as long
		 * as the rebalance takes (up to the rebalance timeout) and
		 * answers nothing else on that connection meanwhile: the
		 * session is not ours to judge now.  The Java client does not
		 * heartbeat in these states either. */
		g->last_hb_ok = now;
		hb_next(g, w, g->hb_ms / 1000.);
		return;
	}
	double left = g->last_hb_ok + g->session_ms / 1000. - now;
	if (left < 0) {
		kf_warn(LOGC, "%s: no heartbeat succeeded for %.0f ms (session %d ms): out of the group",
			g->group, (now - g->last_hb_ok) * 1000, g->session_ms);
		struct kf_conn *c = coord_conn(g);
		g->generation = -1;
		g->coord = -1;
		g->hb_inflight = false;
		ev_timer_stop(loop, &g->hb);
		/* What is still outstanding there belongs to the lost session;
		 * the next JoinGroup goes out on a fresh connection rather than
		 * behind it (as the Java client drops the coordinator). */
		if (c)
			kf_conn_close(c, KF_ETIMEDOUT, "session expired");
		rejoin(g, "session expired", true);
		return;
	}
	/* Tick again when the session would end, not up to a heartbeat
	 * interval after it: the partitions are given up in time. */
	hb_next(g, w, left < g->hb_ms / 1000. ? left + 0.001 : g->hb_ms / 1000.);
	if (g->hb_inflight || g->coord < 0)
		return;
	if (coord_down(g)) {
		rediscover(g, "its connection is down");
		return;
	}
	if (g->state == GS_STABLE) {
		if (g->gap_valid) {
			uint64_t gap = (uint64_t)((now - g->last_hb_send) * 1000 + 0.5);
			if (gap > g->cnt.heartbeat_max_gap_ms)
				g->cnt.heartbeat_max_gap_ms = gap;
			int b = 0;
			while (b < KF_GROUP_GAP_BUCKETS - 1 && gap > kf_group_gap_bounds_ms[b])
				b++;
			g->cnt.gap_buckets[b]++;
			g->cnt.gap_count++;
			g->cnt.gap_sum_ms += gap;
		}
		g->gap_valid = true;
		g->last_hb_send = now;
	}
	struct greq *q = greq_new(g);
	if (q) {
		kf_proto_defaults(kf_api_heartbeat.req, &q->r.hb);
		q->r.hb.group_id = kf_req_strdup(&q->base, g->group);
		q->r.hb.generation_id = g->generation;
		q->r.hb.member_id = kf_req_strdup(&q->base, g->member_id);
		q->r.hb.group_instance_id = kf_req_strdup(&q->base, g->instance_id);
	}
	if (!q || kf_req_nomem(&q->base)) {
		/* As an answer that asks to retry: the next tick does. */
		kf_warn(LOGC, "%s: heartbeat: %s", g->group, kf_strerror(KF_ENOMEM));
		if (q)
			greq_free(q);
		return;
	}
	g->hb_inflight = true;
	send_req(g, coord_conn(g), KF_API_HEARTBEAT, -1, q, g->session_ms, on_heartbeat);
}

/* ------------------------------------------------------------ partition counts */

int kf_group_topics_changed(const struct kf_group_topic *snap, int nsnap,
			    const struct kf_group_topic *cur, int ncur, int from, int32_t *was)
{
	for (int i = from < 0 ? 0 : from; i < ncur; i++) {
		if (cur[i].partitions < 0)
			continue;
		int32_t before = 0;
		for (int k = 0; k < nsnap; k++)
			if (strcmp(snap[k].topic, cur[i].topic) == 0) {
				before = snap[k].partitions;
				break;
			}
		if (before != cur[i].partitions) {
			*was = before;
			return i;
		}
	}
	return -1;
}

static void on_check_md(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	(void)c, (void)ver;
	if (greq_group(q))
		greq_group(q)->check_inflight = false; /* whether stale or not */
	struct kf_group *g = answer_for(q, GS_STABLE);
	if (!g)
		return;
	if (!err && kf_cluster_set_brokers(g->cl, resp) != KF_OK)
		err = KF_EAGAIN;
	int n = q->r.md.topics.n;
	struct kf_group_topic *cur =
		err ? NULL : kf_req_alloc(&q->base, (size_t)(n + 1) * sizeof(*cur));
	if (!err && !cur)
		err = KF_ENOMEM;
	if (err) {
		/* The next tick asks again; the assignment stands meanwhile. */
		kf_info(LOGC, "%s: metadata for the partition count check: %s", g->group,
			kf_strerror(err));
		greq_free(q);
		return;
	}
	struct kf_metadata_resp *md = resp;
	for (int i = 0; i < n; i++) {
		cur[i].topic = KF_AT(q->r.md.topics, struct kf_metadata_req_topic, i).name;
		cur[i].partitions = md_partitions(md, cur[i].topic);
	}
	int32_t was;
	int changed = 0;
	for (int i = kf_group_topics_changed(g->snap, g->nsnap, cur, n, 0, &was); i >= 0;
	     i = kf_group_topics_changed(g->snap, g->nsnap, cur, n, i + 1, &was), changed++)
		kf_info(LOGC, "%s: topic %s: partition count %d -> %d; rejoining", g->group,
			cur[i].topic, was, cur[i].partitions);
	greq_free(q);
	if (changed)
		rejoin(g, "partition count changed", false);
}

/* Leader, stable: read the subscribed topics' partition counts again. */
static void on_check_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_group *g = w->data;
	(void)loop, (void)revents;
	if (g->state != GS_STABLE || !g->has_snap || g->nsnap <= 0 || g->check_inflight)
		return;
	const char **ts = calloc((size_t)g->nsnap, sizeof(*ts));
	int rc = ts ? KF_OK : KF_ENOMEM;
	for (int i = 0; ts && i < g->nsnap; i++)
		ts[i] = g->snap[i].topic;
	kf_debug(LOGC, "%s: checking the partition counts of %d topics", g->group, g->nsnap);
	g->check_inflight = true;
	if (rc == KF_OK)
		rc = send_metadata(g, ts, g->nsnap, on_check_md);
	free(ts);
	if (rc != KF_OK) {
		/* The next tick asks again. */
		g->check_inflight = false;
		kf_info(LOGC, "%s: partition count check: %s", g->group, kf_strerror(rc));
	}
}

/* ------------------------------------------------------------ driving */

static void advance(struct kf_group *g)
{
	if (stopped(g))
		return;
	if (g->coord < 0) {
		send_coordinator(g);
		return;
	}
	if (!coord_conn(g)) {
		/* Known node, unknown address: the broker table needs metadata. */
		if (!g->md_inflight) {
			g->md_inflight = true;
			if (send_metadata(g, (const char *const *)g->topics, g->ntopics,
					  on_md_brokers) != KF_OK) {
				g->md_inflight = false;
				step_nomem(g, KF_API_METADATA);
			}
		}
		return;
	}
	if (coord_down(g)) {
		rediscover(g, "its connection is down");
		return;
	}
	switch (g->state) {
	case GS_JOIN: send_join(g); break;
	case GS_SYNC: /* a SyncGroup failure goes back to JOIN; nothing to resend */
		set_state(g, GS_JOIN);
		send_join(g);
		break;
	case GS_FETCH: send_fetch(g); break;
	default: break; /* stable, revoking: heartbeats carry on */
	}
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_group *g = w->data;
	(void)loop, (void)revents;
	advance(g);
}

void kf_group_start(struct kf_group *g)
{
	if (g->state != GS_INIT)
		return;
	set_state(g, GS_JOIN);
	advance(g);
}

/* ------------------------------------------------------------ OffsetCommit */

static void commit_done(struct kf_group *g, struct greq *q, int err)
{
	if (g) {
		if (err == KF_OK) {
			bool bad = false;
			for (int i = 0; i < q->ntps; i++)
				bad = bad || q->tps[i].error;
			if (bad)
				g->cnt.commit_failures++;
			else
				g->cnt.commits++;
		} else {
			g->cnt.commit_failures++;
		}
	}
	if (q->cb)
		q->cb(q->cb_arg, err, q->tps, q->ntps);
}

/* Partition codes that say the group moved on: one of them decides a
 * commit's outcome over any other partition's code. */
static bool commit_code_wins(int16_t code)
{
	return code == KF_KERR_REBALANCE_IN_PROGRESS || code == KF_KERR_ILLEGAL_GENERATION ||
	       code == KF_KERR_UNKNOWN_MEMBER_ID || code == KF_KERR_FENCED_INSTANCE_ID;
}

static void on_commit(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	struct kf_group *g = greq_group(q);
	(void)c, (void)ver;
	int16_t worst = 0;
	if (!err) {
		struct kf_offset_commit_resp *r = resp;
		/* A partition the answer does not mention was not committed. */
		for (int k = 0; k < q->ntps; k++)
			q->tps[k].error = KF_KERR_UNKNOWN_SERVER_ERROR;
		for (int32_t i = 0; i < r->topics.n; i++) {
			struct kf_offset_commit_resp_topic *t = &KF_AT(r->topics, struct kf_offset_commit_resp_topic, i);
			const char *name = g ? resp_topic(g, t->name, &t->topic_id) : t->name;
			for (int32_t j = 0; j < t->partitions.n; j++) {
				struct kf_offset_commit_resp_partition *p =
					&KF_AT(t->partitions, struct kf_offset_commit_resp_partition, j);
				for (int k = 0; k < q->ntps; k++)
					if (q->tps[k].partition == p->partition_index && name &&
					    strcmp(q->tps[k].topic, name) == 0)
						q->tps[k].error = p->error_code;
				if (p->error_code && (!worst || commit_code_wins(p->error_code)))
					worst = p->error_code;
			}
		}
	}
	enum kf_group_action a = kf_group_error_action(KF_API_OFFSET_COMMIT, err, worst,
						       g ? is_static(g) : false);
	bool rebalance = a == KF_GA_REJOIN || a == KF_GA_RESET_GEN || a == KF_GA_RESET_MEMBER;
	if (rebalance)
		kf_warn(LOGC, "%s: commit rejected by rebalance (%s)", g ? g->group : "?",
			kf_kafka_err_name(worst));
	commit_done(g, q, rebalance ? KF_GROUP_EREBALANCE : err);
	bool same_gen = g && q->generation == g->generation;
	greq_free(q);
	if (!g || stopped(g))
		return;
	if (a == KF_GA_REDISCOVER && g->coord >= 0)
		rediscover(g, err ? kf_strerror(err) : kf_kafka_err_name(worst));
	else if (rebalance && same_gen && g->state == GS_STABLE)
		react(g, KF_API_OFFSET_COMMIT, a, err, worst);
	else if (a == KF_GA_FATAL && same_gen)
		react(g, KF_API_OFFSET_COMMIT, a, err, worst);
}

static void refuse_soon(struct kf_group *g)
{
	if (!ev_is_active(&g->refuse)) {
		ev_timer_set(&g->refuse, 0., 0.);
		ev_timer_start(g->loop, &g->refuse);
	}
}

/* Answer the commit q with err from the loop, in the order refused. */
static void refuse_commit(struct kf_group *g, struct greq *q, int err)
{
	q->refuse_err = err;
	q->refused_next = NULL;
	*g->refused_tail = q;
	g->refused_tail = &q->refused_next;
	refuse_soon(g);
}

/* No request could be allocated: only the callback waits for the loop,
 * in a fixed table.  Past NOMEM_COMMITS of them in one loop iteration it
 * runs at once, as libev's ev_once does when it cannot allocate. */
static void refuse_commit_nomem(struct kf_group *g, kf_group_commit_cb *cb, void *arg)
{
	if (g->nnomem_commits == NOMEM_COMMITS) {
		kf_err(LOGC, "%s: commit: %s, and %d refused already: answering at once", g->group,
		       kf_strerror(KF_ENOMEM), NOMEM_COMMITS);
		g->cnt.commit_failures++;
		if (cb)
			cb(arg, KF_ENOMEM, NULL, 0);
		return;
	}
	g->nomem_commits[g->nnomem_commits].cb = cb;
	g->nomem_commits[g->nnomem_commits].arg = arg;
	g->nnomem_commits++;
	refuse_soon(g);
}

void kf_group_commit(struct kf_group *g, const struct kf_group_tp *offsets, int n,
		     kf_group_commit_cb *cb, void *arg)
{
	struct greq *q = greq_new(g);
	if (!q) {
		refuse_commit_nomem(g, cb, arg);
		return;
	}
	q->cb = cb;
	q->cb_arg = arg;
	q->tps = kf_req_alloc(&q->base, ((size_t)n + 1) * sizeof(*q->tps));
	for (int i = 0; q->tps && i < n; i++) {
		q->tps[i] = offsets[i];
		q->tps[i].topic = kf_req_strdup(&q->base, offsets[i].topic);
		q->tps[i].error = 0;
	}
	if (kf_req_nomem(&q->base)) {
		q->ntps = 0; /* the callback gets no half-copied offsets */
		refuse_commit(g, q, KF_ENOMEM);
		return;
	}
	q->ntps = n;
	struct kf_conn *c = coord_conn(g);
	if (!c || coord_down(g) || g->generation < 0 || stopped(g) || !*g->member_id) {
		refuse_commit(g, q, KF_EAGAIN);
		return;
	}
	struct kf_offset_commit_req *oc = &q->r.oc;
	kf_proto_defaults(kf_api_offset_commit.req, oc);
	oc->group_id = kf_req_strdup(&q->base, g->group);
	oc->generation_id_or_member_epoch = g->generation;
	oc->member_id = kf_req_strdup(&q->base, g->member_id);
	oc->group_instance_id = kf_req_strdup(&q->base, g->instance_id);
	oc->retention_time_ms = -1;
	/* One topic entry per run of equal topic names (callers group them). */
	int nt = 0;
	for (int i = 0; i < n; i++)
		nt += i == 0 || strcmp(q->tps[i].topic, q->tps[i - 1].topic) != 0;
	const struct kf_schema *ts_s = kf_proto_sub(kf_api_offset_commit.req, "Topics");
	struct kf_offset_commit_req_topic *ts =
		kf_req_array(&q->base, kf_api_offset_commit.req, oc, "Topics", nt);
	int16_t maxv = -1;
	for (int i = 0, t = -1; ts && i < n; ) {
		int j = i;
		while (j < n && strcmp(q->tps[j].topic, q->tps[i].topic) == 0)
			j++;
		t++;
		ts[t].name = (char *)q->tps[i].topic;
		if (!kf_cluster_topic_id(g->cl, ts[t].name, &ts[t].topic_id))
			maxv = KF_GROUP_NAMES_MAX_VERSION;
		struct kf_offset_commit_req_partition *ps =
			kf_req_array(&q->base, ts_s, &ts[t], "Partitions", j - i);
		for (int k = i; ps && k < j; k++) {
			ps[k - i].partition_index = q->tps[k].partition;
			ps[k - i].committed_offset = q->tps[k].offset;
			ps[k - i].committed_leader_epoch = -1;
		}
		i = j;
	}
	if (kf_req_nomem(&q->base)) {
		refuse_commit(g, q, KF_ENOMEM);
		return;
	}
	send_req(g, c, KF_API_OFFSET_COMMIT, maxv, q, 30000, on_commit);
}

/* Answer the commits refused since the last round; one a callback makes
 * now waits for the next. */
static void on_refuse_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_group *g = w->data;
	(void)loop, (void)revents;
	struct greq *q = g->refused;
	g->refused = NULL;
	g->refused_tail = &g->refused;
	int n = g->nnomem_commits;
	g->nnomem_commits = 0;
	g->cnt.commit_failures += (uint64_t)n;
	struct nomem_commit nomem[NOMEM_COMMITS];
	memcpy(nomem, g->nomem_commits, (size_t)n * sizeof(nomem[0]));
	while (q) {
		struct greq *next = q->refused_next;
		commit_done(greq_group(q), q, q->refuse_err);
		greq_free(q);
		q = next;
	}
	for (int i = 0; i < n; i++)
		if (nomem[i].cb)
			nomem[i].cb(nomem[i].arg, KF_ENOMEM, NULL, 0);
}

/* ------------------------------------------------------------ LeaveGroup */

static void leave_finish(struct kf_group *g)
{
	set_state(g, GS_DONE);
	ev_timer_stop(g->loop, &g->hb);
	ev_timer_stop(g->loop, &g->retry);
	ev_timer_stop(g->loop, &g->revoke);
	ev_timer_stop(g->loop, &g->leave_t);
	drop_assignment(g);
	drop_snapshot(g);
	void (*done)(void *) = g->leave_done;
	g->leave_done = NULL;
	if (done)
		done(g->leave_arg);
}

static void on_leave(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct greq *q = opaque;
	struct kf_group *g = greq_group(q);
	(void)c, (void)ver;
	greq_free(q);
	if (!g || g->state != GS_LEAVING)
		return;
	struct kf_leave_group_resp *r = resp;
	kf_info(LOGC, "%s: LeaveGroup: %s", g->group,
		err ? kf_strerror(err) : kf_kafka_err_name(r->error_code));
	leave_finish(g);
}

static void on_leave_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	leave_finish(w->data);
}

void kf_group_leave(struct kf_group *g, void (*done)(void *arg), void *arg)
{
	g->leave_done = done;
	g->leave_arg = arg;
	struct kf_conn *c = coord_conn(g);
	bool send = !is_static(g) && c && *g->member_id && g->state != GS_DONE &&
		    g->state != GS_FATAL && g->state != GS_INIT;
	g->epoch++;
	set_state(g, GS_LEAVING);
	ev_timer_stop(g->loop, &g->hb);
	ev_timer_stop(g->loop, &g->retry);
	ev_timer_stop(g->loop, &g->revoke);
	ev_timer_stop(g->loop, &g->check);
	struct greq *q = send ? greq_new(g) : NULL;
	if (q) {
		struct kf_leave_group_req *l = &q->r.leave;
		kf_proto_defaults(kf_api_leave_group.req, l);
		l->group_id = kf_req_strdup(&q->base, g->group);
		l->member_id = kf_req_strdup(&q->base, g->member_id);
		struct kf_leave_group_req_member *ms =
			kf_req_array(&q->base, kf_api_leave_group.req, l, "Members", 1);
		if (ms)
			ms[0].member_id = l->member_id;
	}
	if (send && (!q || kf_req_nomem(&q->base))) {
		/* Stop without LeaveGroup, as a static member does: the
		 * session timeout ends the membership. */
		kf_warn(LOGC, "%s: LeaveGroup: %s", g->group, kf_strerror(KF_ENOMEM));
		if (q)
			greq_free(q);
		send = false;
	}
	if (!send) {
		ev_timer_set(&g->leave_t, 0., 0.);
		ev_timer_start(g->loop, &g->leave_t);
		return;
	}
	/* Bound the wait: leaving must not hold up a shutdown. */
	ev_timer_set(&g->leave_t, 5., 0.);
	ev_timer_start(g->loop, &g->leave_t);
	send_req(g, c, KF_API_LEAVE_GROUP, -1, q, 5000, on_leave);
}

/* ------------------------------------------------------------ life cycle */

static void free_list(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* A copy of n strings (NULL: ""), freed with free_list; NULL when out of
 * memory. */
static char **copy_list(const char *const *v, int n)
{
	char **d = calloc((size_t)n + 1, sizeof(*d));
	for (int i = 0; d && i < n; i++) {
		d[i] = strdup(v[i] ? v[i] : "");
		if (!d[i]) {
			free_list(d, i);
			d = NULL;
		}
	}
	return d;
}

struct kf_group *kf_group_new(struct ev_loop *loop, struct kf_cluster *cl,
			      const struct kf_group_conf *conf,
			      const struct kf_group_callbacks *cb, void *opaque)
{
	struct kf_group *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->loop = loop;
	g->cl = cl;
	g->cb = *cb;
	g->opaque = opaque;
	kf_asg_init(&g->asg);
	kf_asg_init(&g->rev);
	kf_arena_init(&g->join_arena);
	kf_arena_init(&g->snap_arena);
	ev_init(&g->retry, on_retry);
	ev_init(&g->hb, on_hb_timer);
	ev_init(&g->revoke, on_revoke_timeout);
	ev_init(&g->leave_t, on_leave_timer);
	ev_init(&g->check, on_check_timer);
	ev_init(&g->refuse, on_refuse_timer);
	g->retry.data = g->hb.data = g->revoke.data = g->leave_t.data = g->check.data = g;
	g->refuse.data = g;
	g->refused_tail = &g->refused;
	bool dynamic = !conf->group_instance_id || !*conf->group_instance_id;
	g->group = strdup(conf->group ? conf->group : "");
	g->instance_id = dynamic ? NULL : strdup(conf->group_instance_id);
	g->session_ms = conf->session_timeout_ms > 0 ? conf->session_timeout_ms : 45000;
	g->hb_ms = conf->heartbeat_interval_ms > 0 ? conf->heartbeat_interval_ms : 3000;
	g->rebalance_ms = conf->rebalance_timeout_ms > 0 ? conf->rebalance_timeout_ms : 300000;
	g->md_age_ms = conf->metadata_max_age_ms > 0 ? conf->metadata_max_age_ms
						     : METADATA_MAX_AGE_MS;
	g->cooperative = conf->cooperative;
	static const char *const dflt_protocols[] = { "range" };
	g->nprotocols = conf->nprotocols > 0 ? conf->nprotocols : 1;
	g->protocols = copy_list(conf->nprotocols > 0 ? conf->protocols : dflt_protocols,
				 g->nprotocols);
	g->ntopics = conf->ntopics;
	g->topics = copy_list(conf->topics, conf->ntopics);
	g->member_id = strdup("");
	g->protocol = strdup("");
	g->leader = strdup("");
	if (!g->group || (!dynamic && !g->instance_id) || !g->protocols || !g->topics ||
	    !g->member_id || !g->protocol || !g->leader) {
		kf_group_free(g);
		return NULL;
	}
	qsort(g->topics, (size_t)g->ntopics, sizeof(char *), cmp_str);
	g->coord = -1;
	g->generation = -1;
	return g;
}

/* No callback runs once the group is freed. */
static void forget_commit_cb(struct kf_req *r)
{
	KF_REQ_OF(r, struct greq, base)->cb = NULL;
}

void kf_group_free(struct kf_group *g)
{
	if (!g)
		return;
	ev_timer_stop(g->loop, &g->retry);
	ev_timer_stop(g->loop, &g->hb);
	ev_timer_stop(g->loop, &g->revoke);
	ev_timer_stop(g->loop, &g->leave_t);
	ev_timer_stop(g->loop, &g->check);
	ev_timer_stop(g->loop, &g->refuse);
	/* A refused commit ends here, quietly; requests on a connection end
	 * quietly in their callbacks (the cluster fails them when freed). */
	for (struct greq *q = g->refused, *next; q; q = next) {
		next = q->refused_next;
		greq_free(q);
	}
	g->refused = NULL;
	g->nnomem_commits = 0;
	kf_req_detach_all(&g->reqs, forget_commit_cb);
	kf_asg_free(&g->asg);
	kf_asg_free(&g->rev);
	kf_arena_free(&g->join_arena);
	kf_arena_free(&g->snap_arena);
	free_list(g->protocols, g->nprotocols);
	free_list(g->topics, g->ntopics);
	free(g->group);
	free(g->instance_id);
	free(g->member_id);
	free(g->protocol);
	free(g->leader);
	free(g);
}

bool kf_group_stable(const struct kf_group *g)
{
	return g->state == GS_STABLE;
}

const char *kf_group_state(const struct kf_group *g)
{
	switch (g->state) {
	case GS_INIT:
		return "starting";
	case GS_STABLE:
		return "stable";
	case GS_DONE:
	case GS_FATAL:
	case GS_LEAVING:
		return "stopped";
	default:
		if (!g->ever_stable)
			return g->generation < 0 && g->coord < 0 && !*g->member_id ? "starting" : "joining";
		return "rebalancing";
	}
}

const char *kf_group_member_id(const struct kf_group *g) { return g->member_id; }
int32_t kf_group_generation(const struct kf_group *g) { return g->generation; }
const char *kf_group_protocol(const struct kf_group *g) { return g->protocol; }

void kf_group_counters(const struct kf_group *g, struct kf_group_counters *out)
{
	*out = g->cnt;
}
