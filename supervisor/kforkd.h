/*
 * kforkd.h: what the files of kforkd share (private to supervisor/): the
 * daemon's state D, the partition table's types, and the functions one
 * file calls in another.  The files and what calls what, top to bottom
 * (no file calls one above it):
 *
 *   kforkd.c      main, start-up, on_settle, the commit timer
 *   report.c      status, metrics, control commands
 *   reload.c      reload, rolling replacement, redispatch, Kafka restart
 *   wiring.c      set-up and teardown of cluster, consumer, pool
 *   rebalance.c   the group member's callbacks, the revocation barrier
 *   lifecycle.c   shutdown, signals, quiet
 *   consume.c     the record and ack path
 *   parts.c       the partition table and commits
 *
 * docs/architecture.md tells how they work together.
 */
#ifndef KF_KFORKD_H
#define KF_KFORKD_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "assignor.h"
#include "barrier.h"
#include "cluster.h"
#include "control.h"
#include "daemon.h"
#include "dispatch.h"
#include "err.h"
#include "fetcher.h"
#include "group.h"
#include "json.h"
#include "kfconfig.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "resolve.h"
#include "sasl.h"
#include "tls.h"
#include "tracker.h"

#define COMP "kforkd"
/* Per-partition tracker window: bounds memory when one record is stuck
 * while later ones flow (9 bytes an entry). */
#define TRACKER_WINDOW (1u << 18)
/* How often a partition waiting for its reset offset asks again. */
#define RESET_RETRY_S 0.25
/* After the drain, commit and LeaveGroup get this long before we stop. */
#define FINAL_GRACE_S 10.0

/* What an assigned partition is doing, one word each (the status's
 * assignment[].state); only PS_FETCHING is fetched. */
enum part_state {
	PS_FETCHING = 0,
	PS_BLOCKED,         /* paused for room (KF_EAGAIN) or held (quiet, a
			       redispatch): resume_blocked takes it up */
	PS_RESETTING,       /* paused, waiting for ListOffsets */
	PS_STOPPED,         /* paused for good (an error): needs an operator;
			       the status's "paused" */
	PS_REVOKING,        /* unassigned, draining before revoke_done */
};

struct part {
	bool used;
	enum part_state state;
	bool recreated;     /* its topic was deleted and made again: to drop */
	char *topic;
	uint32_t topic_idx;
	int32_t partition;
	int64_t committed;  /* last offset committed (or found committed) */
	char *reason;       /* why it is stopped, for the status */
};

/* What the pool does not count per worker. */
struct wstat {
	uint64_t dispatched;    /* records pushed to its ring */
	uint64_t retried;       /* attempts beyond the first, from its acks */
};

/* A rolling replacement of the workers (roll_start). */
struct roll {
	bool active;
	int next;           /* the worker being replaced */
	int count;          /* workers 0..count-1 get replaced */
	int extra;          /* the extra worker's slot; -1 none or retired */
	int size;           /* the pool size to end with */
	pid_t pid;          /* the old process of `next`, once told to go */
	uint64_t restarts;  /* `next`'s restarts when it was told to go */
};

/* A replaced worker is given up on (the replacement stops) only after this
 * many starts with the new settings failed: one death at start may be a
 * kill from outside (OOM killer, an operator), not the new settings. */
#define ROLL_FAILED_STARTS 3

/* The daemon's life; only ever moves forward. */
enum phase {
	PH_RUN = 0,     /* consuming (joining, stable or rebalancing) */
	PH_DRAIN,       /* signal: fetching stopped, waiting for acks */
	PH_FINAL,       /* final commit and LeaveGroup under way */
	PH_DONE,        /* workers reaped: the loop ends */
};

struct kforkd {
	struct kf_config cfg;
	struct ev_loop *loop;
	struct kf_resolver *res;
	struct kf_cluster *cl;
	struct kf_tls *tls;
	struct kf_sasl *sasl;
	struct kf_group *g;
	struct kf_fetcher *f;
	struct kf_pool *pool;
	struct kf_dispatch *d;
	struct kf_tracker *t;
	struct kf_control *ctl;
	struct kf_metrics *metrics;
	bool ctl_mode_changed;  /* a reload changed control.socket_mode */
	struct wstat *wstat;    /* per worker id, for the metrics */
	int nwstat;
	enum kf_tracker_fail on_failure;

	struct part *parts;
	uint32_t nparts;

	int verbose;            /* -v count, added to log.level */
	struct kf_group_counters gc_past;   /* of group members a reload replaced */
	bool quiet;             /* kforkctl quiet: take no new records */
	bool reload_pending;    /* a reload waits for the change under way */
	char *reload_error;     /* the last failed reload, for the status */
	bool restarting;        /* Kafka settings changed: drain, commit, leave, rejoin */
	struct kf_config next;  /* ... with this config */
	char *topic_names[KF_RING_MAX_TOPICS];  /* topic_index */
	uint32_t ntopic_names;
	struct roll roll;

	bool commit_busy;
	enum phase phase;
	int exit_code;

	/* The drains (supervisor/barrier.h), each one barrier. */
	struct kf_barriers bars;
	struct kf_barrier revoke_b, restart_b, shutdown_b, quiet_b, redispatch_b;
	ev_prepare settle_w;    /* settle(), once, before the loop next waits */

	ev_timer commit_t, reset_t, final_t, restart_t, roll_t, ctl_t;
	ev_timer recreated_t;
	ev_signal sterm, sint, shup, susr1;
	const char *pidfile;    /* -p */
};

/* The one instance, in kforkd.c. */
extern struct kforkd D;

/* The drains' hooks (supervisor/barrier.h), each in the file of its job. */
extern const struct kf_barrier_hooks revoke_hooks, restart_hooks, shutdown_hooks, quiet_hooks,
	redispatch_hooks;

/* Asks for on_settle (kforkd.c), once, before the loop next waits. */
static inline void settle_soon(void)
{
	ev_prepare_start(D.loop, &D.settle_w);
}

/* parts.c */
void set_phase(enum phase ph);
struct part *slot_part(uint32_t slot);
int slot_find(const char *topic, int32_t partition);
int slot_alloc(void);
void slot_release(uint32_t slot);
void __attribute__((format(printf, 2, 3))) stop_part(struct part *p, const char *fmt, ...);
int topic_index(const char *topic, uint32_t *idx);
bool holding(void);
void resume_blocked(void);
void hold_all(void);
int commit_moved(bool only_revoking, kf_group_commit_cb *cb, void *arg);
void on_periodic_commit(void *arg, int err, const struct kf_group_tp *tps, int n);
void on_barrier_commit(void *arg, int err, const struct kf_group_tp *tps, int n);
bool all_idle(struct kf_barrier *b);
bool commit_all(struct kf_barrier *b);

/* consume.c */
int on_record(void *opaque, uint32_t slot, const struct kf_record *r, const char *topic,
		     int32_t partition);
void on_skip(void *opaque, uint32_t slot, int64_t next_offset);
void on_out_of_range(void *opaque, uint32_t slot, int64_t position);
void on_fetch_error(void *opaque, uint32_t slot, const char *msg);
void start_reset(uint32_t slot);
void on_reset_timer(struct ev_loop *loop, ev_timer *w, int revents);
void on_ack(struct kf_pool *pool, int worker, const struct kf_ring_ack *ack, void *opaque);
void on_room(struct kf_pool *pool, int worker, void *opaque);
void on_worker_state(struct kf_pool *pool, int worker, enum kf_pool_state state,
			    void *opaque);
void on_child(struct kf_pool *pool, int worker, void *opaque);
void on_workers_lost(struct kf_pool *pool, int worker, uint64_t records, void *opaque);

/* lifecycle.c */
void on_pool_stopped(struct kf_pool *pool, void *opaque);
void stop_pool(void);
void on_final_timeout(struct ev_loop *loop, ev_timer *w, int revents);
void shutdown_begin(const char *why);
void on_signal(struct ev_loop *loop, ev_signal *w, int revents);
const char *quiet_set(bool on);

/* rebalance.c */
int on_assign(void *opaque, const char *protocol, const struct kf_group_member *members,
		     int nmembers, const struct kf_group_topic *topics, int ntopics,
		     struct kf_consumer_assignment *out, struct kf_arena *a);
void on_assigned(void *opaque, int32_t generation, const struct kf_group_tp *tps, int n);
void on_revoke(void *opaque, const struct kf_group_tp *tps, int n);
void on_lost(void *opaque, const struct kf_group_tp *tps, int n);
void on_topic_recreated(void *opaque, const char *topic);
void on_recreated_timer(struct ev_loop *loop, ev_timer *w, int revents);
void on_fatal(void *opaque, const char *msg);

/* wiring.c */
enum kf_tracker_fail tracker_fail_of(const struct kf_config *c);
void worker_conf_from(const struct kf_config *c, struct kf_worker_conf *wc);
int setup_cluster(char *err, size_t errlen);
int set_topics(char *err, size_t errlen);
int setup_pool(char *err, size_t errlen);
int setup_consumer(char *err, size_t errlen);
void teardown_consumer(void);
void teardown(void);

/* reload.c */
bool reload_busy(void);
void apply_level(void);
void group_counters(struct kf_group_counters *c);
void restart_rebuild(void);
void on_restart_timeout(struct ev_loop *loop, ev_timer *w, int revents);
void on_roll_timer(struct ev_loop *loop, ev_timer *w, int revents);
int reload(const char *why, struct kf_wr *reply);
void on_hup(struct ev_loop *loop, ev_signal *w, int revents);

/* report.c */
void on_ctl_timer(struct ev_loop *loop, ev_timer *w, int revents);
int setup_metrics(char *err, size_t errlen);
int setup_control(char *err, size_t errlen);

#endif
