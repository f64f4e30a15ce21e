/*
 * kforkd: the supervisor's main.  Wires the modules together on the
 * default libev loop:
 *
 *   config -> cluster (TLS/SASL) -> group (assignor) -> on_assigned ->
 *   tracker slot + fetcher -> on_record -> dispatch -> pool ring ->
 *   worker -> ack -> tracker -> commit timer -> OffsetCommit.
 *
 * docs/architecture.md tells the life of a record and of a rebalance.
 *
 * A partition slot is the same small integer in the fetcher, the tracker,
 * the dispatcher and the ring records.  Back-pressure: a record that finds
 * no room (tracker window, dispatcher move, ring or byte budget) answers
 * KF_EAGAIN, the fetcher pauses the partition at that record, and the next
 * batch of acks (pool on_room) asks for a settle, which resumes it.
 *
 * Drains (revocation, Kafka restart, shutdown, quiet, redispatch) are one
 * barrier each (supervisor/barrier.h); on_settle, an ev_prepare run once
 * before the loop next waits, is the one place that takes things up again.
 *
 * The control socket (supervisor/control.c) answers kforkctl: status
 * builds the JSON object README documents from live state, stop drains.
 *
 * Reload (SIGHUP, kforkctl reload) applies a changed config by the reload
 * class of each changed key (kf_reload_plan): see reload() and apply().
 *
 * Metrics: render_metrics gives the Prometheus text to the HTTP listener
 * (supervisor/metrics.c) and to kforkctl metrics.
 *
 * Start-up, -d, -p and the user switch: run().
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

static const char *const part_state_names[] = { "fetching", "blocked", "resetting",
						 "stopped", "revoking" };

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

static struct {
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
} D;

static const char *const phase_names[] = { "running", "draining", "final", "done" };

static void set_phase(enum phase ph)
{
	kf_debug(COMP, "%s -> %s", phase_names[D.phase], phase_names[ph]);
	D.phase = ph;
}

/* ------------------------------------------------------------ slots */

static struct part *slot_part(uint32_t slot)
{
	return slot < D.nparts && D.parts[slot].used ? &D.parts[slot] : NULL;
}

static int slot_find(const char *topic, int32_t partition)
{
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used && D.parts[i].partition == partition &&
		    strcmp(D.parts[i].topic, topic) == 0)
			return (int)i;
	return -1;
}

/* A free slot whose old records are all acked (a lost partition's acks
 * may still come, and the dispatcher counts them per slot). */
static int slot_alloc(void)
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

static void slot_release(uint32_t slot)
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
static void __attribute__((format(printf, 2, 3))) stop_part(struct part *p, const char *fmt, ...)
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
static int topic_index(const char *topic, uint32_t *idx)
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
static bool holding(void)
{
	return D.phase != PH_RUN || D.quiet || D.restarting || kf_barrier_active(&D.redispatch_b);
}

/* Resume the partitions paused for room, unless they are held. */
static void resume_blocked(void)
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
static void hold_all(void)
{
	for (uint32_t i = 0; i < D.nparts; i++) {
		struct part *p = &D.parts[i];
		if (!p->used || p->state != PS_FETCHING)
			continue;
		kf_fetcher_pause(D.f, i);
		p->state = PS_BLOCKED;
	}
}

/* ------------------------------------------------------------ commits */

/* Commit the slots' commit points that moved since their last commit
 * (only the revoked ones when only_revoking); cb(arg) gets the outcome,
 * never from inside this call.  Returns how many partitions went out: 0
 * when none moved (or out of memory), and then cb is not called. */
static int commit_moved(bool only_revoking, kf_group_commit_cb *cb, void *arg)
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

static void on_periodic_commit(void *arg, int err, const struct kf_group_tp *tps, int n)
{
	(void)arg;
	D.commit_busy = false;
	note_committed(err, tps, n);
}

/* A barrier's commit answered. */
static void on_barrier_commit(void *arg, int err, const struct kf_group_tp *tps, int n)
{
	note_committed(err, tps, n);
	kf_barrier_committed(arg);
}

static bool all_idle(struct kf_barrier *b)
{
	(void)b;
	return kf_tracker_total_inflight(D.t) == 0;
}

static bool commit_all(struct kf_barrier *b)
{
	return commit_moved(false, on_barrier_commit, b) > 0;
}

static bool reload_busy(void);
static int reload(const char *why, struct kf_wr *reply);

/*
 * The one place that takes things up after acks, timers and barriers:
 * partitions blocked for room, the barriers waiting for idle workers, a
 * queued reload.  Runs from an ev_prepare, once, before the loop next
 * waits: never inside a pool or group callback.
 */
static void on_settle(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)revents;
	ev_prepare_stop(loop, w);
	resume_blocked();
	kf_barrier_settle(&D.bars);
	if (D.reload_pending && !reload_busy()) {
		D.reload_pending = false;
		reload("queued reload", NULL);
	}
}

static void settle_soon(void)
{
	ev_prepare_start(D.loop, &D.settle_w);
}

static void on_commit_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	settle_soon();      /* a safety net: acks normally do it */
	if (D.commit_busy || D.phase != PH_RUN || D.restarting ||
	    strcmp(kf_group_state(D.g), "stable") != 0)
		return;
	if (commit_moved(false, on_periodic_commit, NULL) > 0)
		D.commit_busy = true;
}

/* ------------------------------------------------------------ shutdown */

static void on_pool_stopped(struct kf_pool *pool, void *opaque)
{
	(void)pool, (void)opaque;
	set_phase(PH_DONE);
	ev_break(D.loop, EVBREAK_ALL);
}

static void stop_pool(void)
{
	if (D.phase == PH_DONE)
		return;
	ev_timer_stop(D.loop, &D.final_t);
	kf_info(COMP, "stopping workers");
	kf_pool_stop(D.pool, -1);
}

static void on_left(void *arg)
{
	(void)arg;
	kf_info(COMP, "left the group");
	stop_pool();
}

/* Drained (or not, by shutdown_timeout_ms): the final commit and
 * LeaveGroup get FINAL_GRACE_S. */
static void shutdown_ready(struct kf_barrier *b, bool expired)
{
	(void)b, (void)expired;
	set_phase(PH_FINAL);
	ev_timer_set(&D.final_t, FINAL_GRACE_S, 0.);
	ev_timer_start(D.loop, &D.final_t);
	uint64_t left = kf_tracker_total_inflight(D.t);
	if (left)
		kf_warn(COMP, "shutdown timeout: %" PRIu64 " records still in flight", left);
}

static bool shutdown_commit(struct kf_barrier *b)
{
	int n = commit_moved(false, on_barrier_commit, b);
	kf_info(COMP, "final commit of %d partitions", n);
	return n > 0;
}

static void shutdown_done(struct kf_barrier *b)
{
	(void)b;
	kf_group_leave(D.g, on_left, NULL);
}

static const struct kf_barrier_hooks shutdown_hooks = {
	"shutdown", all_idle, shutdown_ready, shutdown_commit, shutdown_done,
};

static void on_final_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	kf_warn(COMP, "commit and LeaveGroup did not finish in time");
	stop_pool();
}

static void shutdown_begin(const char *why)
{
	if (D.phase != PH_RUN) {
		kf_info(COMP, "%s: already shutting down", why);
		return;
	}
	kf_info(COMP, "%s: draining (up to %d ms)", why, D.cfg.workers.shutdown_timeout_ms);
	set_phase(PH_DRAIN);
	ev_timer_stop(D.loop, &D.roll_t);
	kf_barrier_cancel(&D.quiet_b);
	kf_barrier_cancel(&D.redispatch_b);
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used)
			kf_fetcher_unassign(D.f, i);
	/* A Kafka restart under way drains, commits and leaves itself, and
	 * then stops (restart_rebuild). */
	if (!D.restarting)
		kf_barrier_start(&D.bars, &D.shutdown_b, D.cfg.workers.shutdown_timeout_ms / 1000.);
	settle_soon();
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)revents;
	shutdown_begin(w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* The worker's counters (grown on demand); NULL when out of memory. */
static struct wstat *wstat_of(int w)
{
	if (w < 0)
		return NULL;
	if (w >= D.nwstat) {
		int n = w + 8;
		struct wstat *v = realloc(D.wstat, (size_t)n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + D.nwstat, 0, (size_t)(n - D.nwstat) * sizeof(*v));
		D.wstat = v;
		D.nwstat = n;
	}
	return &D.wstat[w];
}

/* ------------------------------------------------------------ fetcher */

static int on_record(void *opaque, uint32_t slot, const struct kf_record *r, const char *topic,
		     int32_t partition)
{
	(void)opaque, (void)topic;
	struct part *p = slot_part(slot);
	if (!p || p->state != PS_FETCHING || D.phase != PH_RUN)
		return KF_EAGAIN;
	if (D.quiet || kf_tracker_full(D.t, slot)) {
		p->state = PS_BLOCKED;
		return KF_EAGAIN;
	}
	int w = kf_dispatch_pick(D.d, slot, r->key, r->key_len);
	if (w < 0) {
		p->state = PS_BLOCKED;
		return KF_EAGAIN;
	}
	struct kf_ring_rec rec = {
		.slot = slot, .topic = p->topic_idx, .partition = partition,
		.offset = r->offset, .timestamp = r->timestamp,
		.key = r->key, .key_len = r->key_len,
		.value = r->value, .value_len = r->value_len,
		.headers = r->headers, .headers_len = (uint32_t)r->headers_len,
		.header_count = r->header_count,
	};
	int rc = kf_pool_push(D.pool, w, &rec);
	if (rc == KF_EAGAIN) {
		p->state = PS_BLOCKED;
		return KF_EAGAIN;
	}
	if (rc != KF_OK) {
		stop_part(p, "offset %" PRId64 ": cannot hand the record to worker %d (%s)",
			  r->offset, w, kf_strerror(rc));
		return KF_EAGAIN;
	}
	struct wstat *ws = wstat_of(w);
	if (ws)
		ws->dispatched++;
	rc = kf_tracker_dispatched(D.t, slot, r->offset);
	if (rc != KF_OK)
		kf_err(COMP, "%s/%d offset %" PRId64 ": tracker refused it: %s", p->topic,
		       partition, r->offset, kf_strerror(rc));
	kf_dispatch_sent(D.d, slot, w);
	return KF_OK;
}

static void on_skip(void *opaque, uint32_t slot, int64_t next_offset)
{
	(void)opaque;
	if (slot_part(slot))
		kf_tracker_skip_to(D.t, slot, next_offset);
}

static void start_reset(uint32_t slot);

static void on_out_of_range(void *opaque, uint32_t slot, int64_t position)
{
	(void)opaque;
	struct part *p = slot_part(slot);
	if (!p)
		return;
	kf_warn(COMP, "%s/%d: offset %" PRId64 " is out of range", p->topic, p->partition,
		position);
	kf_fetcher_pause(D.f, slot);
	start_reset(slot);
}

static void on_fetch_error(void *opaque, uint32_t slot, const char *msg)
{
	(void)opaque;
	struct part *p = slot_part(slot);
	if (!p)
		return;
	stop_part(p, "%s", msg);
}

/* ------------------------------------------------------------ offset reset */

static void on_list(void *arg, uint32_t slot, int err, int16_t code, int64_t offset)
{
	(void)arg;
	struct part *p = slot_part(slot);
	if (!p || p->state != PS_RESETTING)
		return;
	if (err != KF_OK || code != 0 || offset < 0) {
		kf_debug(COMP, "%s/%d: ListOffsets: %s/%s; retrying", p->topic, p->partition,
			 kf_strerror(err), kf_kafka_err_name(code));
		return;   /* the reset timer asks again */
	}
	kf_info(COMP, "%s/%d: starting at %s offset %" PRId64, p->topic, p->partition,
		kf_cfg_offset_reset_name(D.cfg.kafka.auto_offset_reset), offset);
	kf_fetcher_seek(D.f, slot, offset);
	kf_tracker_reset(D.t, slot, offset);
	if (holding()) {
		p->state = PS_BLOCKED;
	} else {
		p->state = PS_FETCHING;
		kf_fetcher_resume(D.f, slot);
	}
}

static void ask_offset(uint32_t slot)
{
	int64_t ts = D.cfg.kafka.auto_offset_reset == KF_CFG_RESET_LATEST ? -1 : -2;
	kf_fetcher_list_offsets(D.f, slot, ts, on_list, NULL);
}

static void start_reset(uint32_t slot)
{
	struct part *p = slot_part(slot);
	if (D.cfg.kafka.auto_offset_reset == KF_CFG_RESET_ERROR) {
		stop_part(p, "no valid committed offset and auto_offset_reset = \"error\"");
		return;
	}
	p->state = PS_RESETTING;
	ask_offset(slot);
	if (!ev_is_active(&D.reset_t))
		ev_timer_again(D.loop, &D.reset_t);
}

static void on_reset_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	bool any = false;
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used && D.parts[i].state == PS_RESETTING) {
			ask_offset(i);
			any = true;
		}
	if (!any)
		ev_timer_stop(loop, w);
}

/* ------------------------------------------------------------ pool */

static void on_ack(struct kf_pool *pool, int worker, const struct kf_ring_ack *ack, void *opaque)
{
	(void)pool, (void)opaque;
	uint32_t slot = ack->slot;
	kf_dispatch_acked(D.d, slot, worker);
	struct wstat *ws = wstat_of(worker);
	if (ws && ack->attempts > 1)
		ws->retried += ack->attempts - 1;
	struct part *p = slot_part(slot);
	if (!p)
		return;     /* a lost partition's late ack */
	if (ack->status == KF_ACK_OK) {
		kf_tracker_done(D.t, slot, ack->offset);
	} else {
		const char *why = ack->reason ? ack->reason : "";
		int rc = kf_tracker_failed(D.t, slot, ack->offset, D.on_failure);
		if (D.on_failure == KF_TRACKER_FAIL_SKIP) {
			kf_err(COMP, "%s/%d offset %" PRId64 " failed after %u attempts: %s; skipped"
			       " (workers.on_failure = \"skip\")", p->topic, p->partition,
			       ack->offset, ack->attempts, why);
		} else if (rc == KF_OK && p->state != PS_STOPPED) {
			stop_part(p, "offset %" PRId64 " failed after %u attempts: %s"
				  " (workers.on_failure = \"pause\")", ack->offset, ack->attempts, why);
			kf_fetcher_pause(D.f, slot);
		} else {
			kf_warn(COMP, "%s/%d offset %" PRId64 " failed after %u attempts: %s",
				p->topic, p->partition, ack->offset, ack->attempts, why);
		}
	}
}

static void on_room(struct kf_pool *pool, int worker, void *opaque)
{
	(void)pool, (void)worker, (void)opaque;
	settle_soon();
}

/* A retired slot is gone: the dispatcher forgets it too. */
static void on_worker_state(struct kf_pool *pool, int worker, enum kf_pool_state state,
			    void *opaque)
{
	(void)opaque;
	if (state == KF_POOL_STOPPED && worker >= kf_pool_size(pool) &&
	    kf_dispatch_worker_state(D.d, worker) != KF_DW_NONE)
		kf_dispatch_worker_remove(D.d, worker);
}

/*
 * In a freshly forked worker: close the supervisor's sockets (broker
 * connections, resolver), so a worker respawned mid-run does not keep a
 * connection open after the supervisor closed its end.  stdin, stdout and
 * stderr stay (stderr may well be a journal socket); the ring's memfd and
 * eventfds are not sockets.
 */
static void on_child(struct kf_pool *pool, int worker, void *opaque)
{
	(void)pool, (void)worker, (void)opaque;
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return;
	int dfd = dirfd(dir);
	struct dirent *de;
	while ((de = readdir(dir))) {
		int fd = atoi(de->d_name);
		struct stat st;
		if (fd > 2 && fd != dfd && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
			close(fd);
	}
	closedir(dir);
}

static void on_workers_lost(struct kf_pool *pool, int worker, uint64_t records, void *opaque)
{
	(void)pool, (void)opaque;
	kf_err(COMP, "worker %d lost %" PRIu64 " records with a broken ring: refetching its"
	       " partitions from their commit points", worker, records);
	for (uint32_t i = 0; i < D.nparts; i++) {
		struct part *p = &D.parts[i];
		if (!p->used || p->state == PS_REVOKING || p->state == PS_RESETTING)
			continue;
		int64_t cp = kf_tracker_commit_point(D.t, i);
		if (cp < 0 || kf_dispatch_slot_worker(D.d, i) != worker)
			continue;
		kf_dispatch_slot_reset(D.d, i);
		kf_tracker_reset(D.t, i, cp);
		kf_fetcher_seek(D.f, i, cp);
	}
}

/* ------------------------------------------------------------ group */

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

static int on_assign(void *opaque, const char *protocol, const struct kf_group_member *members,
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

static void on_assigned(void *opaque, int32_t generation, const struct kf_group_tp *tps, int n)
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

static const struct kf_barrier_hooks revoke_hooks = {
	"revocation", revoke_idle, revoke_ready, revoke_commit, revoke_done,
};

static void on_revoke(void *opaque, const struct kf_group_tp *tps, int n)
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

static void on_lost(void *opaque, const struct kf_group_tp *tps, int n)
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
static void on_topic_recreated(void *opaque, const char *topic)
{
	(void)opaque;
	bool ours = false;
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used && strcmp(D.parts[i].topic, topic) == 0)
			ours = D.parts[i].recreated = true;
	if (ours)
		ev_timer_start(D.loop, &D.recreated_t);
}

static void on_recreated_timer(struct ev_loop *loop, ev_timer *w, int revents)
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
static void on_fatal(void *opaque, const char *msg)
{
	(void)opaque, (void)msg;
	D.exit_code = 1;
	shutdown_begin("fatal group error");
}

/* ------------------------------------------------------------ reload */

static int setup_cluster(char *err, size_t errlen);
static int setup_consumer(char *err, size_t errlen);
static void teardown_consumer(void);
static int set_topics(char *err, size_t errlen);

/* A reload that comes while these run waits for them (commit timer). */
static bool reload_busy(void)
{
	return kf_barrier_active(&D.revoke_b) || D.restarting || D.roll.active ||
	       kf_barrier_active(&D.redispatch_b);
}

/*
 * workers.dispatch changed: the dispatcher's books are per mode, so hold
 * every partition (as quiet does), wait until no record is in flight,
 * then start a dispatcher of the new mode over the same workers and take
 * the partitions up again.  No rebalance; the group never notices.
 */
static bool redispatch_idle(struct kf_barrier *b)
{
	(void)b;
	return kf_tracker_total_inflight(D.t) == 0 && kf_pool_inflight(D.pool) == 0;
}

static void redispatch_done(struct kf_barrier *b)
{
	(void)b;
	struct kf_dispatch *d = kf_dispatch_new((enum kf_dispatch_mode)D.cfg.workers.dispatch);
	if (!d) {
		kf_err(COMP, "reload: out of memory for the new dispatcher; keeping the old one");
		D.cfg.workers.dispatch = (enum kf_cfg_dispatch)kf_dispatch_mode(D.d);
	} else {
		for (int i = 0; i < kf_pool_size(D.pool); i++)
			kf_dispatch_worker_add(d, i);
		kf_dispatch_free(D.d);
		D.d = d;
		kf_info(COMP, "reload: dispatching by %s", kf_cfg_dispatch_name(D.cfg.workers.dispatch));
	}
	resume_blocked();
}

static const struct kf_barrier_hooks redispatch_hooks = {
	"redispatch", redispatch_idle, NULL, NULL, redispatch_done,
};

static void redispatch_begin(void)
{
	kf_info(COMP, "reload: workers.dispatch -> %s: holding the partitions until the"
		" workers are idle", kf_cfg_dispatch_name(D.cfg.workers.dispatch));
	hold_all();
	kf_barrier_start(&D.bars, &D.redispatch_b, -1);
	settle_soon();
}

static void apply_level(void)
{
	int level = (int)D.cfg.log.level + D.verbose;
	kf_log_level = (enum kf_log_level)(level > KF_LOG_TRACE ? KF_LOG_TRACE : level);
}

/*
 * Kafka restart: stop fetching, let the workers finish (up to
 * shutdown_timeout_ms), commit, leave the group (a static member just
 * stops), then rebuild cluster, fetcher and group member from D.next and
 * join again.  The workers stay.
 */

/* Called by the group member: the rebuild frees it, so it runs from the
 * loop, not from inside this callback. */
static void on_restart_left(void *arg)
{
	(void)arg;
	kf_info(COMP, "reload: left the group");
	ev_timer_stop(D.loop, &D.restart_t);
	ev_timer_set(&D.restart_t, 0., 0.);
	ev_timer_start(D.loop, &D.restart_t);
}

/* The status counters of all group members so far, this one included. */
static void group_counters(struct kf_group_counters *c)
{
	if (D.g)
		kf_group_counters(D.g, c);
	else
		memset(c, 0, sizeof(*c));
	const struct kf_group_counters *p = &D.gc_past;
	c->rebalances += p->rebalances;
	c->heartbeats += p->heartbeats;
	c->commits += p->commits;
	c->commit_failures += p->commit_failures;
	if (p->heartbeat_max_gap_ms > c->heartbeat_max_gap_ms)
		c->heartbeat_max_gap_ms = p->heartbeat_max_gap_ms;
	for (int i = 0; i < KF_GROUP_GAP_BUCKETS; i++)
		c->gap_buckets[i] += p->gap_buckets[i];
	c->gap_count += p->gap_count;
	c->gap_sum_ms += p->gap_sum_ms;
}

static void restart_rebuild(void)
{
	ev_timer_stop(D.loop, &D.restart_t);
	group_counters(&D.gc_past);
	teardown_consumer();
	D.restarting = false;
	/* The running config's Kafka part is replaced; the rest went live
	 * when the reload was applied. */
	struct kf_config_kafka k = D.cfg.kafka;
	D.cfg.kafka = D.next.kafka;
	D.next.kafka = k;
	kf_config_free(&D.next);
	if (D.phase != PH_RUN) {
		set_phase(PH_FINAL);
		stop_pool();
		return;
	}
	char err[512];
	if (set_topics(err, sizeof(err)) != KF_OK || setup_cluster(err, sizeof(err)) != KF_OK ||
	    setup_consumer(err, sizeof(err)) != KF_OK) {
		kf_err(COMP, "reload: %s; stopping", err);
		D.exit_code = 1;
		set_phase(PH_FINAL);
		stop_pool();
		return;
	}
	kf_info(COMP, "reload: joining group \"%s\" with the new settings", D.cfg.kafka.group);
	kf_group_start(D.g);
}

/* LeaveGroup did not answer in FINAL_GRACE_S: rebuild anyway. */
static void on_restart_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	restart_rebuild();
}

static void restart_ready(struct kf_barrier *b, bool expired)
{
	(void)b, (void)expired;
	uint64_t left = kf_tracker_total_inflight(D.t);
	if (left)
		kf_warn(COMP, "reload: %" PRIu64 " records still in flight after %d ms; they will be"
			" delivered again", left, D.cfg.workers.shutdown_timeout_ms);
}

static void restart_done(struct kf_barrier *b)
{
	(void)b;
	ev_timer_set(&D.restart_t, FINAL_GRACE_S, 0.);
	ev_timer_start(D.loop, &D.restart_t);
	kf_group_leave(D.g, on_restart_left, NULL);
}

static const struct kf_barrier_hooks restart_hooks = {
	"Kafka restart", all_idle, restart_ready, commit_all, restart_done,
};

static void restart_begin(struct kf_config *nc)
{
	D.next = *nc;
	memset(nc, 0, sizeof(*nc));
	D.restarting = true;
	kf_info(COMP, "reload: Kafka settings changed: draining (up to %d ms), committing,"
		" leaving and joining again", D.cfg.workers.shutdown_timeout_ms);
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used)
			kf_fetcher_unassign(D.f, i);
	kf_barrier_start(&D.bars, &D.restart_b, D.cfg.workers.shutdown_timeout_ms / 1000.);
	settle_soon();
}

/*
 * Worker count: grow (new slots, or retiring ones taken back) or retire
 * the highest slots, which finish what they hold first.
 */
static void resize_workers(int n)
{
	int old = kf_pool_size(D.pool);
	if (n == old)
		return;
	if (n < old) {
		for (int i = n; i < old; i++)
			kf_dispatch_worker_retire(D.d, i);
		kf_pool_resize(D.pool, n);
		kf_info(COMP, "reload: %d -> %d workers", old, n);
		return;
	}
	if (kf_pool_resize(D.pool, n) != KF_OK)
		return;     /* logged; the slots made so far are there */
	for (int i = old; i < kf_pool_size(D.pool); i++)
		if (kf_dispatch_worker_activate(D.d, i) != KF_OK)
			kf_dispatch_worker_add(D.d, i);
	kf_info(COMP, "reload: %d -> %d workers", old, kf_pool_size(D.pool));
}

/*
 * Rolling replacement of the workers 0..count-1 after their conf changed:
 * an extra worker with the new conf starts first; then, one at a time, a
 * worker is retired in the dispatcher, drained, restarted (the new process
 * gets the new conf) and activated again; the extra one retires last.  No
 * record is lost and the group never notices.
 */
static void roll_done(void)
{
	ev_timer_stop(D.loop, &D.roll_t);
	D.roll.active = false;
	kf_info(COMP, "reload: workers replaced");
}

static void on_roll_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	struct kf_pool_worker_status st;
	int i = D.roll.next;
	if (i < D.roll.count) {
		if (kf_pool_worker_status(D.pool, i, &st) != KF_OK) {
			D.roll.next++;
			return;
		}
		if (!D.roll.pid) {
			if (kf_dispatch_worker_state(D.d, i) == KF_DW_ACTIVE)
				kf_dispatch_worker_retire(D.d, i);
			if (kf_dispatch_worker_inflight(D.d, i) > 0 || st.inflight > 0)
				return;
			D.roll.pid = st.pid ? st.pid : -1;
			D.roll.restarts = st.restarts;
			kf_pool_restart(D.pool, i);
			return;
		}
		/* In a crash loop the current attempt (pid set) has not
		 * failed yet. */
		uint64_t failed = st.restarts - D.roll.restarts - (st.pid ? 1 : 0);
		if (st.state == KF_POOL_CRASHLOOP && st.restarts > D.roll.restarts &&
		    failed >= ROLL_FAILED_STARTS) {
			kf_err(COMP, "reload: worker %d does not start with the new settings;"
			       " the workers not replaced yet keep the old ones until they"
			       " restart: fix the config and reload", i);
			D.roll.next = D.roll.count;     /* stop replacing */
		} else if (st.pid == D.roll.pid || st.state != KF_POOL_RUNNING) {
			return;
		} else {
			kf_info(COMP, "reload: worker %d replaced (pid %d -> %d)", i,
				(int)D.roll.pid, (int)st.pid);
			D.roll.next = i + 1;
		}
		kf_dispatch_worker_activate(D.d, i);
		D.roll.pid = 0;
		return;
	}
	if (D.roll.extra >= 0) {
		kf_dispatch_worker_retire(D.d, D.roll.extra);
		kf_pool_resize(D.pool, D.roll.size);
		D.roll.extra = -1;
		return;
	}
	if (kf_pool_worker_count(D.pool) <= D.roll.size)
		roll_done();
}

static void roll_start(int count)
{
	int size = kf_pool_size(D.pool);
	D.roll = (struct roll){ .active = true, .count = count, .extra = -1, .size = size };
	/* With retiring slots above, growing would take one back (old
	 * conf): go without the extra worker then. */
	if (kf_pool_worker_count(D.pool) == size && kf_pool_resize(D.pool, size + 1) == KF_OK) {
		D.roll.extra = size;
		if (kf_dispatch_worker_activate(D.d, size) != KF_OK)
			kf_dispatch_worker_add(D.d, size);
	}
	kf_info(COMP, "reload: replacing %d workers one at a time", count);
	ev_timer_again(D.loop, &D.roll_t);
}

static enum kf_tracker_fail tracker_fail_of(const struct kf_config *c)
{
	return c->workers.on_failure == KF_CFG_ON_FAILURE_SKIP ? KF_TRACKER_FAIL_SKIP
							       : KF_TRACKER_FAIL_PAUSE;
}

static void worker_conf_from(const struct kf_config *c, struct kf_worker_conf *wc)
{
	const struct kf_config_workers *w = &c->workers;
	*wc = (struct kf_worker_conf){
		.max_retries = w->max_retries, .retry_backoff_ms = w->retry_backoff_ms,
		.nice = w->nice, .supervisor_pid = getpid(),
		.handler = {
			.type = (enum kf_handler_type)w->handler.type, .dir = w->handler.dir,
			.usec = (long)w->handler.usec, .path = w->handler.path,
			.arg = w->handler.arg, .command = w->handler.command,
			.window = w->handler.window,
		},
	};
}

static void on_ctl_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_control(void *opaque, const char *cmd, struct kf_wr *reply);
static void render_metrics(void *opaque, struct kf_wr *out);

/*
 * Apply nc (valid, loaded) to the running daemon by what changed; nc is
 * consumed.  The Kafka part waits for a restart (restart_begin) when it
 * changed; the rest goes live now.
 */
static void apply(struct kf_config *nc, struct kf_wr *reply)
{
	struct kf_reload_plan plan;
	kf_reload_plan(&D.cfg, nc, &plan);
	char what[600];
	kf_reload_plan_describe(&plan, what, sizeof(what));
	bool kafka = plan.classes & KF_RELOAD_KAFKA;
	/* A connection refused for good (auth_failed) waits for a reload: the
	 * settings changed, or the files behind them (a password_file, a CA
	 * file replaced in place), or the broker's side was fixed.  Either way
	 * the Kafka side starts over, with every file read again. */
	int refused = D.cl && !D.restarting ? kf_cluster_auth_failed(D.cl) : 0;
	if (refused && !kafka) {
		kf_info(COMP, "reload: %d connections were refused authentication: connecting"
			" again with the settings read anew", refused);
		size_t wl = strlen(what);
		snprintf(what + wl, sizeof(what) - wl, "%sKafka restart: refused authentication",
			 wl ? "; " : "");
		kafka = true;
	}
	for (int i = 0; i < plan.n; i++)
		if (plan.changed[i].reload == KF_RELOAD_NEXT_START)
			kf_warn(COMP, "reload: %s takes effect only when kforkd starts again;"
				" running as before", plan.changed[i].key);
	kf_info(COMP, "reload: %s", what[0] ? what : "nothing changed");
	D.ctl_mode_changed = kf_reload_plan_has(&plan, "control.socket_mode");

	/* The new config becomes the running one, except what waits: its
	 * Kafka part, which the group member and fetcher use until a restart
	 * swaps it, and what waits for the next start. */
	struct kf_config old = D.cfg;
	D.cfg = *nc;
	memset(nc, 0, sizeof(*nc));
	kf_config_keep(&D.cfg, &old, KF_RELOAD_KAFKA);
	kf_config_keep(&D.cfg, &old, KF_RELOAD_NEXT_START);

	apply_level();
	D.on_failure = tracker_fail_of(&D.cfg);
	kf_pool_set_limits(D.pool, D.cfg.workers.stall_timeout_ms,
			   D.cfg.workers.shutdown_timeout_ms,
			   (size_t)D.cfg.workers.max_inflight_bytes, D.cfg.workers.max_inflight_ms,
			   (size_t)D.cfg.workers.ring_bytes);
	struct kf_worker_conf wc;
	worker_conf_from(&D.cfg, &wc);
	kf_pool_set_worker_conf(D.pool, &wc);   /* before old's strings go */
	int before = kf_pool_size(D.pool);
	resize_workers(D.cfg.workers.count);
	if (plan.classes & KF_RELOAD_ROLL)
		roll_start(before < D.cfg.workers.count ? before : D.cfg.workers.count);
	if (plan.classes & KF_RELOAD_REDISPATCH)
		redispatch_begin();
	if (kf_reload_plan_has(&plan, "control.socket") || D.ctl_mode_changed ||
	    kf_reload_plan_has(&plan, "control.metrics_listen"))
		ev_timer_start(D.loop, &D.ctl_t);   /* not from inside a control callback */
	if (kafka) {
		/* old holds the new Kafka part now: hand it to the restart */
		struct kf_config nk = { .kafka = old.kafka };
		memset(&old.kafka, 0, sizeof(old.kafka));
		restart_begin(&nk);
	}
	kf_config_free(&old);
	if (reply) {
		kf_wr_raw(reply, "ok\n", 3);
		const char *w = what[0] ? what : "nothing changed";
		kf_wr_raw(reply, w, strlen(w));
		kf_wr_raw(reply, "\n", 1);
	}
}

/*
 * Reload the config file (SIGHUP, kforkctl reload).  An invalid file
 * changes nothing (the error is kept for the status); a reload that comes
 * while a rebalance, a Kafka restart or a rolling replacement runs is
 * queued.  reply (kforkctl) gets the outcome.
 */
static int reload(const char *why, struct kf_wr *reply)
{
	char err[1024];
	if (D.phase != PH_RUN) {
		kf_info(COMP, "%s: shutting down, not reloading", why);
		if (reply)
			kf_wr_raw(reply, "error shutting down\n", 20);
		return KF_ECLOSED;
	}
	if (reload_busy()) {
		kf_info(COMP, "%s: queued until the %s in progress ends", why,
			D.restarting ? "Kafka restart" : D.roll.active ? "worker replacement"
								   : "rebalance");
		D.reload_pending = true;
		if (reply)
			kf_wr_raw(reply, "ok\nqueued\n", 10);
		return KF_OK;
	}
	struct kf_config nc;
	if (kf_config_load(D.cfg.path, &nc, err, sizeof(err)) != KF_OK) {
		kf_err(COMP, "%s: %s; keeping the running config", why, err);
		free(D.reload_error);
		D.reload_error = strdup(err);
		if (reply) {
			kf_wr_raw(reply, "error ", 6);
			kf_wr_raw(reply, err, strlen(err));
			kf_wr_raw(reply, "\n", 1);
		}
		return KF_ERR;
	}
	free(D.reload_error);
	D.reload_error = NULL;
	kf_info(COMP, "%s: %s loaded", why, D.cfg.path);
	apply(&nc, reply);
	return KF_OK;
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	reload("SIGHUP", NULL);
}

/* control.metrics_listen changed: the same, for the metrics listener. */
static void reopen_metrics(void)
{
	char err[512];
	const char *want = D.cfg.control.metrics_listen;
	if (D.metrics && strcmp(kf_metrics_listen(D.metrics), want) == 0)
		return;
	struct kf_metrics *old = D.metrics;
	D.metrics = NULL;
	/* The same port under another spelling would clash: free first. */
	kf_metrics_free(old);
	if (want[0] && !(D.metrics = kf_metrics_new(D.loop, want, render_metrics, NULL, err,
						    sizeof(err))))
		kf_err(COMP, "reload: %s; no metrics listener", err);
}

/* control.socket or its mode changed: open the new one, then close the old
 * (a failure keeps the old socket). */
static void on_ctl_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	char err[512];
	reopen_metrics();
	if (D.ctl && kf_control_path_is(D.ctl, D.cfg.control.socket) && !D.ctl_mode_changed)
		return;
	D.ctl_mode_changed = false;
	struct kf_control *old = D.ctl;
	D.ctl = NULL;
	if (!D.cfg.control.socket[0]) {
		kf_control_free(old);   /* control.socket = "": no socket */
		return;
	}
	if (old && kf_control_path_is(old, D.cfg.control.socket)) {
		kf_control_free(old);   /* same path, new mode: free it first */
		old = NULL;
	}
	if (!(D.ctl = kf_control_new(D.loop, D.cfg.control.socket, D.cfg.control.socket_mode,
				     on_control, NULL, err, sizeof(err))))
		kf_err(COMP, "reload: %s%s", err, old ? "; keeping the old socket" : "");
	if (!D.ctl) {
		D.ctl = old;
		return;
	}
	kf_control_free(old);
}

/* ------------------------------------------------------------ control */

/* The state word of the status JSON. */
static bool all_auth_failed(void);

static const char *daemon_state(void)
{
	switch (D.phase) {
	case PH_DRAIN:
	case PH_FINAL:
		return "draining";
	case PH_DONE:
		return "stopped";
	case PH_RUN:
		break;
	}
	if (kf_barrier_active(&D.revoke_b) || D.restarting || !D.g)
		return "rebalancing";
	if (all_auth_failed())
		return "auth_failed";
	const char *gs = kf_group_state(D.g);
	return D.quiet && strcmp(gs, "stable") == 0 ? "quiet" : gs;
}

/* High watermark minus committed offset; -1 while either is unknown. */
static int64_t part_lag(const struct part *p, int64_t hwm)
{
	if (hwm < 0 || p->committed < 0)
		return -1;
	return hwm > p->committed ? hwm - p->committed : 0;
}

static void json_offset(struct kf_json *j, const char *key, int64_t v)
{
	if (v >= 0)
		kf_json_int(j, key, v);
	else
		kf_json_null(j, key);
}

static void status_assignment(struct kf_json *j)
{
	kf_json_arr(j, "assignment");
	for (uint32_t i = 0; i < D.nparts; i++) {
		const struct part *p = &D.parts[i];
		if (!p->used)
			continue;
		int64_t pos = kf_fetcher_position(D.f, i);
		int64_t hwm = kf_fetcher_hwm(D.f, i);
		int w = kf_dispatch_slot_worker(D.d, i);
		kf_json_obj(j, NULL);
		kf_json_str(j, "topic", p->topic);
		kf_json_int(j, "partition", p->partition);
		json_offset(j, "position", pos);
		json_offset(j, "committed", p->committed);
		json_offset(j, "high_watermark", hwm);
		json_offset(j, "lag", part_lag(p, hwm));
		if (w >= 0)
			kf_json_int(j, "worker", w);
		else
			kf_json_null(j, "worker");
		kf_json_str(j, "state", part_state_names[p->state]);
		kf_json_bool(j, "paused", p->state == PS_STOPPED);
		kf_json_str(j, "paused_reason", p->state == PS_STOPPED ? p->reason : NULL);
		kf_json_end_obj(j);
	}
	kf_json_end_arr(j);
}

static void status_workers(struct kf_json *j)
{
	kf_json_arr(j, "workers");
	for (int i = 0; i < kf_pool_worker_count(D.pool); i++) {
		struct kf_pool_worker_status st;
		if (kf_pool_worker_status(D.pool, i, &st) != KF_OK)
			continue;
		kf_json_obj(j, NULL);
		kf_json_int(j, "id", st.id);
		kf_json_int(j, "pid", st.pid);
		kf_json_str(j, "state", st.state_name);
		kf_json_uint(j, "inflight", st.inflight);
		kf_json_uint(j, "processed", st.processed);
		kf_json_uint(j, "failed", st.failed);
		kf_json_uint(j, "restarts", st.restarts);
		kf_json_end_obj(j);
	}
	kf_json_end_arr(j);
}

static void json_time_ms(struct kf_json *j, const char *key, int64_t ms)
{
	if (ms <= 0) {
		kf_json_null(j, key);
		return;
	}
	char buf[40];
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
	snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
	kf_json_str(j, key, buf);
}

/* A broker's main connection, or its coordinator connection when only
 * that one was used; the latest error of the two. */
static const struct kf_conn *broker_conn(const struct kf_cluster_broker *b, const char **err,
					 int64_t *err_at)
{
	const struct kf_conn *c = b->conn ? b->conn : b->coord;
	*err = NULL;
	*err_at = 0;
	const struct kf_conn *both[] = { b->conn, b->coord };
	for (int i = 0; i < 2; i++) {
		const char *m;
		int64_t at;
		if (both[i] && kf_conn_last_error(both[i], &m, &at) && at > *err_at) {
			*err = m;
			*err_at = at;
		}
	}
	return c;
}

/* KIP-368 re-authentications on both of the broker's connections. */
static int64_t broker_reauths(const struct kf_cluster_broker *b)
{
	return (b->conn ? kf_conn_reauths(b->conn) : 0) + (b->coord ? kf_conn_reauths(b->coord) : 0);
}

/*
 * Every connection there is refused for good (auth_failed: a wrong
 * password, a certificate that does not verify) and none is ready: kforkd
 * cannot get anywhere until the config is reloaded.
 */
static bool all_auth_failed(void)
{
	struct kf_cluster_broker b;
	int failed = 0;
	for (int i = 0; D.cl && kf_cluster_broker_at(D.cl, i, &b); i++) {
		const struct kf_conn *both[] = { b.conn, b.coord };
		for (int k = 0; k < 2; k++) {
			if (!both[k])
				continue;
			if (kf_conn_state(both[k]) != KF_CONN_FAILED)
				return false;
			failed++;
		}
	}
	return failed > 0;
}

/* Throttle time the broker reported on both of its connections. */
static int64_t broker_throttle_ms(const struct kf_cluster_broker *b)
{
	return (b->conn ? kf_conn_throttle_total_ms(b->conn) : 0) +
	       (b->coord ? kf_conn_throttle_total_ms(b->coord) : 0);
}

/* Every broker (or bootstrap address before the first Metadata answer):
 * connection state, the last error and when, the negotiated versions. */
static void status_brokers(struct kf_json *j)
{
	kf_json_arr(j, "brokers");
	struct kf_cluster_broker b;
	for (int i = 0; D.cl && kf_cluster_broker_at(D.cl, i, &b); i++) {
		const char *err;
		int64_t err_at;
		const struct kf_conn *c = broker_conn(&b, &err, &err_at);
		kf_json_obj(j, NULL);
		kf_json_int(j, "node", b.node_id);
		kf_json_str(j, "host", b.host);
		kf_json_int(j, "port", b.port);
		kf_json_str(j, "state", c ? kf_conn_state_name(kf_conn_state(c)) : "unused");
		json_time_ms(j, "up_since", c ? kf_conn_up_since(c) : 0);
		kf_json_str(j, "last_error", err);
		json_time_ms(j, "last_error_at", err_at);
		kf_json_int(j, "throttled_ms", broker_throttle_ms(&b));
		kf_json_int(j, "reauths", broker_reauths(&b));
		int16_t keys[32], vers[32];
		int nv = c ? kf_conn_versions(c, keys, vers, 32) : 0;
		kf_json_obj(j, "api_versions");
		for (int k = 0; k < nv; k++) {
			const struct kf_api *api = kf_proto_api(keys[k]);
			if (api)
				kf_json_int(j, api->name, vers[k]);
		}
		kf_json_end_obj(j);
		kf_json_end_obj(j);
	}
	kf_json_end_arr(j);
}

static void status_json(struct kf_json *j)
{
	struct kf_group_counters gc;
	group_counters(&gc);
	const struct kf_tracker_counters *tc = kf_tracker_totals(D.t);
	char loaded[32];
	struct tm tm;
	strftime(loaded, sizeof(loaded), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&D.cfg.loaded_at, &tm));

	kf_json_obj(j, NULL);
	kf_json_str(j, "state", daemon_state());
	kf_json_str(j, "group", D.cfg.kafka.group);
	kf_json_str(j, "member_id", D.g ? kf_group_member_id(D.g) : "");
	kf_json_int(j, "generation", D.g ? kf_group_generation(D.g) : -1);
	status_assignment(j);
	status_workers(j);
	status_brokers(j);
	kf_json_obj(j, "counters");
	kf_json_uint(j, "rebalances", gc.rebalances);
	kf_json_uint(j, "commits", gc.commits);
	kf_json_uint(j, "commit_failures", gc.commit_failures);
	kf_json_uint(j, "heartbeats", gc.heartbeats);
	kf_json_uint(j, "heartbeat_max_gap_ms", gc.heartbeat_max_gap_ms);
	kf_json_uint(j, "records_dispatched", tc->dispatched);
	kf_json_uint(j, "records_done", tc->done);
	kf_json_uint(j, "records_failed", tc->failed);
	kf_json_end_obj(j);
	kf_json_obj(j, "config");
	kf_json_str(j, "path", D.cfg.path);
	kf_json_str(j, "loaded_at", loaded);
	kf_json_str(j, "last_reload_error", D.reload_error);
	kf_json_end_obj(j);
	kf_json_end_obj(j);
}

/* ------------------------------------------------------------ metrics */

static void mprintf(struct kf_wr *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mprintf(struct kf_wr *out, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		kf_wr_raw(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void mhead(struct kf_wr *out, const char *name, const char *type, const char *help)
{
	mprintf(out, "# HELP kfork_%s %s\n# TYPE kfork_%s %s\n", name, help, name, type);
}

/* name{topic="..",partition="N"} value, for every assigned partition. */
static void mpart(struct kf_wr *out, const char *name, const char *help, int what)
{
	mhead(out, name, "gauge", help);
	for (uint32_t i = 0; i < D.nparts; i++) {
		const struct part *p = &D.parts[i];
		if (!p->used)
			continue;
		int64_t hwm = kf_fetcher_hwm(D.f, i), v;
		switch (what) {
		case 0: v = part_lag(p, hwm); break;
		case 1: v = p->committed; break;
		case 2: v = kf_fetcher_position(D.f, i); break;
		case 3: v = hwm; break;
		default: v = p->state == PS_STOPPED; break;
		}
		if (v < 0)
			continue;   /* not known yet: no sample */
		mprintf(out, "kfork_%s{topic=\"", name);
		kf_metrics_label(out, p->topic);
		mprintf(out, "\",partition=\"%d\"} %" PRId64 "\n", p->partition, v);
	}
}

/* name{worker="N"} value, for every worker slot in the status. */
static void mworker(struct kf_wr *out, const char *name, const char *type, const char *help,
		    int what)
{
	mhead(out, name, type, help);
	for (int i = 0; i < kf_pool_worker_count(D.pool); i++) {
		struct kf_pool_worker_status st;
		if (kf_pool_worker_status(D.pool, i, &st) != KF_OK)
			continue;
		const struct wstat *ws = i < D.nwstat ? &D.wstat[i] : &(struct wstat){ 0 };
		uint64_t v;
		switch (what) {
		case 0: v = ws->dispatched; break;
		case 1: v = st.processed - st.failed; break;
		case 2: v = st.failed; break;
		case 3: v = ws->retried; break;
		case 4: v = st.restarts; break;
		default: v = st.inflight; break;
		}
		mprintf(out, "kfork_%s{worker=\"%d\"} %" PRIu64 "\n", name, i, v);
	}
}

/* name{node="N",address="host:port"}: bootstrap addresses are all node -1. */
static void mbroker(struct kf_wr *out, const char *name, const struct kf_cluster_broker *b)
{
	mprintf(out, "kfork_%s{node=\"%d\",address=\"", name, b->node_id);
	kf_metrics_label(out, b->host);
	mprintf(out, ":%d\"}", b->port);
}

/* The Prometheus text (GET /metrics, kforkctl metrics). */
static void render_metrics(void *opaque, struct kf_wr *out)
{
	(void)opaque;
	static const char *const states[] = { "starting", "joining", "stable", "rebalancing",
					      "draining", "quiet", "stopped" };
	const char *state = daemon_state();
	mhead(out, "state", "gauge", "1 for the daemon's state (kforkctl status \"state\").");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		mprintf(out, "kfork_state{state=\"%s\"} %d\n", states[i],
			strcmp(state, states[i]) == 0);
	struct kf_group_counters gc;
	group_counters(&gc);
	const struct kf_tracker_counters *tc = kf_tracker_totals(D.t);
	struct kf_fetcher_counters fc = { 0 };
	if (D.f)
		kf_fetcher_counters(D.f, &fc);
	const struct { const char *name, *help; uint64_t v; } totals[] = {
		{ "rebalances_total", "Generations joined.", gc.rebalances },
		{ "commits_total", "OffsetCommit requests answered without error.", gc.commits },
		{ "commit_failures_total", "OffsetCommit requests that failed.",
		  gc.commit_failures },
		{ "heartbeats_total", "Heartbeats answered without error.", gc.heartbeats },
		{ "records_dispatched_total", "Records handed to workers.", tc->dispatched },
		{ "records_done_total", "Records the workers finished.", tc->done },
		{ "records_failed_total", "Records that failed after their retries.", tc->failed },
		{ "fetch_requests_total", "Fetch requests sent by the current consumer.",
		  fc.requests },
		{ "fetch_partition_errors_total",
		  "Partition error codes in Fetch answers to the current consumer.",
		  fc.part_errors },
	};
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++) {
		mhead(out, totals[i].name, "counter", totals[i].help);
		mprintf(out, "kfork_%s %" PRIu64 "\n", totals[i].name, totals[i].v);
	}
	mhead(out, "heartbeat_max_gap_seconds", "gauge",
	      "Longest time between two heartbeat sends while stable.");
	mprintf(out, "kfork_heartbeat_max_gap_seconds %.3f\n", gc.heartbeat_max_gap_ms / 1000.);
	mhead(out, "heartbeat_gap_seconds", "histogram",
	      "Time between two heartbeat sends while stable.");
	uint64_t cum = 0;
	for (int i = 0; i < KF_GROUP_GAP_BUCKETS; i++) {
		cum += gc.gap_buckets[i];
		if (i < KF_GROUP_GAP_BUCKETS - 1)
			mprintf(out, "kfork_heartbeat_gap_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				kf_group_gap_bounds_ms[i] / 1000., cum);
		else
			mprintf(out, "kfork_heartbeat_gap_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
				cum);
	}
	mprintf(out, "kfork_heartbeat_gap_seconds_sum %.3f\n", gc.gap_sum_ms / 1000.);
	mprintf(out, "kfork_heartbeat_gap_seconds_count %" PRIu64 "\n", gc.gap_count);
	mworker(out, "worker_records_dispatched_total", "counter", "Records pushed to the worker.", 0);
	mworker(out, "worker_records_done_total", "counter", "Records the worker finished.", 1);
	mworker(out, "worker_records_failed_total", "counter", "Records the worker gave up on.", 2);
	mworker(out, "worker_records_retried_total", "counter",
		"Attempts beyond the first, as the worker's answers report them.", 3);
	mworker(out, "worker_restarts_total", "counter", "Worker processes started after a death.", 4);
	mworker(out, "worker_inflight", "gauge", "Records handed to the worker, not answered yet.", 5);
	mhead(out, "broker_up", "gauge",
	      "1 when the connection to the broker is ready (node -1: a bootstrap address).");
	struct kf_cluster_broker b;
	for (int i = 0; D.cl && kf_cluster_broker_at(D.cl, i, &b); i++) {
		bool up = (b.conn && kf_conn_state(b.conn) == KF_CONN_READY) ||
			  (b.coord && kf_conn_state(b.coord) == KF_CONN_READY);
		mbroker(out, "broker_up", &b);
		mprintf(out, " %d\n", up);
	}
	mhead(out, "broker_throttle_seconds_total", "counter",
	      "Throttle time the broker reported (KIP-219 quotas).");
	for (int i = 0; D.cl && kf_cluster_broker_at(D.cl, i, &b); i++) {
		mbroker(out, "broker_throttle_seconds_total", &b);
		mprintf(out, " %.3f\n", broker_throttle_ms(&b) / 1000.);
	}
	mpart(out, "partition_lag", "High watermark minus the committed offset.", 0);
	mpart(out, "partition_committed_offset", "The last offset committed.", 1);
	mpart(out, "partition_position", "The next offset to fetch.", 2);
	mpart(out, "partition_high_watermark", "The high watermark of the last fetch.", 3);
	mpart(out, "partition_paused", "1 when the partition stopped (status paused).", 4);
}

static void quiet_done(struct kf_barrier *b)
{
	(void)b;
	kf_info(COMP, "quiet: the workers are idle and what they did is committed");
}

static const struct kf_barrier_hooks quiet_hooks = {
	"quiet", all_idle, NULL, commit_all, quiet_done,
};

static void reply_str(struct kf_wr *reply, const char *s)
{
	kf_wr_raw(reply, s, strlen(s));
}

static void on_control(void *opaque, const char *cmd, struct kf_wr *reply)
{
	(void)opaque;
	if (strcmp(cmd, "status") == 0) {
		struct kf_json j;
		kf_json_init(&j);
		status_json(&j);
		kf_wr_raw(&j.wr, "\n", 1);
		if (!kf_wr_ok(&j.wr)) {
			reply_str(reply, "error cannot build the status\n");
		} else {
			reply_str(reply, "ok\n");
			kf_wr_raw(reply, j.wr.buf, j.wr.len);
		}
		kf_json_free(&j);
	} else if (strcmp(cmd, "stop") == 0) {
		shutdown_begin("kforkctl stop");
		reply_str(reply, "ok\n");
	} else if (strcmp(cmd, "reload") == 0) {
		reload("kforkctl reload", reply);
	} else if (strcmp(cmd, "quiet") == 0 || strcmp(cmd, "resume") == 0) {
		bool on = cmd[0] == 'q';
		if (D.phase != PH_RUN) {
			reply_str(reply, "error shutting down\n");
		} else if (D.quiet == on) {
			reply_str(reply, on ? "ok\nalready quiet\n" : "ok\nnot quiet\n");
		} else {
			D.quiet = on;
			if (on) {
				kf_info(COMP, "quiet: taking no new records; the workers finish"
					" what they hold, commits and heartbeats go on");
				hold_all();
				kf_barrier_start(&D.bars, &D.quiet_b, -1);
				settle_soon();
			} else {
				kf_info(COMP, "resumed");
				kf_barrier_cancel(&D.quiet_b);
				resume_blocked();
			}
			reply_str(reply, on ? "ok\nquiet\n" : "ok\nresumed\n");
		}
	} else if (strcmp(cmd, "metrics") == 0) {
		reply_str(reply, "ok\n");
		render_metrics(NULL, reply);
	} else {
		reply_str(reply, "error unknown command\n");
	}
}

/* ------------------------------------------------------------ start-up */

static int setup_cluster(char *err, size_t errlen)
{
	const struct kf_config_security *sec = &D.cfg.kafka.security;
	struct kf_cluster_opts co = { .bootstrap = D.cfg.kafka.bootstrap,
				      .conn = { .client_id = D.cfg.kafka.client_id } };
	if (sec->protocol == KF_CFG_SSL || sec->protocol == KF_CFG_SASL_SSL) {
		struct kf_tls_conf tc = { .ca_file = sec->ca_file, .cert_file = sec->cert_file,
					  .key_file = sec->key_file,
					  .key_password_file = sec->key_password_file,
					  .verify_peer = sec->verify_peer };
		D.tls = kf_tls_new(&tc, err, errlen);
		if (!D.tls)
			return KF_ERR;
		co.conn.transport = kf_tls_transport(D.tls);
	}
	if (sec->protocol == KF_CFG_SASL_PLAINTEXT || sec->protocol == KF_CFG_SASL_SSL) {
		struct kf_sasl_conf sc = { .mechanism = kf_cfg_sasl_mech_name(sec->sasl_mechanism),
					   .username = sec->username,
					   .password = sec->password ? sec->password : "" };
		D.sasl = kf_sasl_new(&sc, err, errlen);
		if (!D.sasl)
			return KF_ERR;
		co.conn.auth = kf_sasl_auth(D.sasl);
	}
	D.res = kf_resolver_new(D.loop);
	if (!D.res) {
		snprintf(err, errlen, "cannot start the resolver");
		return KF_ERR;
	}
	D.cl = kf_cluster_new(D.loop, D.res, &co, err, errlen);
	if (!D.cl)
		return KF_ERR;
	kf_cluster_on_topic_recreated(D.cl, on_topic_recreated, NULL);
	return KF_OK;
}

/* Name the subscribed topics in the rings now, so a full table is an error
 * at start-up (or reload) rather than for a partition later. */
static int set_topics(char *err, size_t errlen)
{
	for (int i = 0; i < D.cfg.kafka.n_topics; i++) {
		uint32_t idx;
		int rc = topic_index(D.cfg.kafka.topics[i], &idx);
		if (rc != KF_OK) {
			snprintf(err, errlen, "topic \"%s\": %s", D.cfg.kafka.topics[i],
				 kf_strerror(rc));
			return KF_ERR;
		}
	}
	return KF_OK;
}

static int setup_pool(char *err, size_t errlen)
{
	const struct kf_config_workers *wc = &D.cfg.workers;
	struct kf_pool_conf pc;
	kf_pool_conf_defaults(&pc);
	pc.count = wc->count;
	pc.ring_bytes = (size_t)wc->ring_bytes;
	pc.max_inflight_bytes = (size_t)wc->max_inflight_bytes;
	pc.max_inflight_ms = wc->max_inflight_ms;
	pc.stall_timeout_ms = wc->stall_timeout_ms;
	pc.shutdown_timeout_ms = wc->shutdown_timeout_ms;
	worker_conf_from(&D.cfg, &pc.worker);
	struct kf_pool_callbacks cb = { .on_ack = on_ack, .on_room = on_room,
					.on_lost = on_workers_lost, .on_child = on_child,
					.on_state = on_worker_state,
					.on_stopped = on_pool_stopped };
	D.pool = kf_pool_new(D.loop, &pc, &cb, err, errlen);
	if (!D.pool)
		return KF_ERR;
	if (set_topics(err, errlen) != KF_OK)
		return KF_ERR;
	D.d = kf_dispatch_new((enum kf_dispatch_mode)wc->dispatch);
	if (!D.d) {
		snprintf(err, errlen, "out of memory");
		return KF_ERR;
	}
	for (int i = 0; i < kf_pool_size(D.pool); i++)
		kf_dispatch_worker_add(D.d, i);
	D.on_failure = tracker_fail_of(&D.cfg);
	return KF_OK;
}

static int setup_consumer(char *err, size_t errlen)
{
	const struct kf_config_kafka *k = &D.cfg.kafka;
	if (!D.t)   /* kept across a Kafka restart */
		D.t = kf_tracker_new(TRACKER_WINDOW);
	if (!D.t) {
		snprintf(err, errlen, "out of memory");
		return KF_ERR;
	}
	struct kf_fetcher_conf fc = {
		.fetch_min_bytes = k->fetch_min_bytes, .fetch_max_wait_ms = k->fetch_max_wait_ms,
		.fetch_max_bytes = k->fetch_max_bytes,
		.fetch_partition_max_bytes = k->fetch_partition_max_bytes,
		.isolation = k->isolation == KF_CFG_READ_COMMITTED ? KF_READ_COMMITTED
								   : KF_READ_UNCOMMITTED,
		.verify_crc = true,
	};
	struct kf_fetcher_callbacks fcb = { .on_record = on_record, .on_skip = on_skip,
					    .on_out_of_range = on_out_of_range,
					    .on_error = on_fetch_error };
	D.f = kf_fetcher_new(D.loop, D.cl, &fc, &fcb, NULL);
	if (!D.f) {
		snprintf(err, errlen, "cannot create the fetcher");
		return KF_ERR;
	}
	static const char *protocols[KF_ASSIGNOR_COUNT];
	int np = kf_assignor_protocols(kf_cfg_assignor_name(k->assignor), protocols);
	if (np < 0) {
		snprintf(err, errlen, "unknown assignor");
		return KF_ERR;
	}
	struct kf_group_conf gc = {
		.group = k->group, .client_id = k->client_id,
		.group_instance_id = k->group_instance_id,
		.session_timeout_ms = k->session_timeout_ms,
		.heartbeat_interval_ms = k->heartbeat_interval_ms,
		.rebalance_timeout_ms = k->rebalance_timeout_ms,
		.metadata_max_age_ms = k->metadata_max_age_ms,
		.protocols = protocols, .nprotocols = np,
		.topics = (const char *const *)k->topics, .ntopics = k->n_topics,
	};
	struct kf_group_callbacks gcb = { .assign = on_assign, .on_assigned = on_assigned,
					  .on_revoke = on_revoke, .on_lost = on_lost,
					  .on_fatal = on_fatal };
	D.g = kf_group_new(D.loop, D.cl, &gc, &gcb, NULL);
	if (!D.g) {
		snprintf(err, errlen, "cannot create the group member");
		return KF_ERR;
	}
	return KF_OK;
}

static int setup_metrics(char *err, size_t errlen)
{
	if (!D.cfg.control.metrics_listen[0])
		return KF_OK;
	D.metrics = kf_metrics_new(D.loop, D.cfg.control.metrics_listen, render_metrics, NULL, err,
				   errlen);
	return D.metrics ? KF_OK : KF_ERR;
}

static int setup_control(char *err, size_t errlen)
{
	if (!D.cfg.control.socket[0])
		return KF_OK;
	D.ctl = kf_control_new(D.loop, D.cfg.control.socket, D.cfg.control.socket_mode, on_control,
			       NULL, err, errlen);
	return D.ctl ? KF_OK : KF_ERR;
}

/* Everything that talks to Kafka: partitions, group member, fetcher,
 * connections.  The workers, dispatcher and tracker stay. */
static void teardown_consumer(void)
{
	kf_barrier_cancel(&D.revoke_b);     /* it answers the group that goes */
	for (uint32_t i = 0; D.f && D.t && D.d && i < D.nparts; i++)
		if (D.parts[i].used)
			slot_release(i);
	if (D.g)
		kf_group_free(D.g);
	if (D.f)
		kf_fetcher_free(D.f);
	if (D.cl)
		kf_cluster_free(D.cl);
	if (D.res)
		kf_resolver_free(D.res);
	if (D.sasl)
		kf_sasl_free(D.sasl);
	if (D.tls)
		kf_tls_free(D.tls);
	D.g = NULL, D.f = NULL, D.cl = NULL, D.res = NULL, D.sasl = NULL, D.tls = NULL;
}

static void teardown(void)
{
	ev_timer *timers[] = { &D.commit_t, &D.reset_t, &D.final_t, &D.restart_t, &D.roll_t,
			       &D.ctl_t };
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		ev_timer_stop(D.loop, timers[i]);
	struct kf_barrier *bars[] = { &D.revoke_b, &D.restart_b, &D.shutdown_b, &D.quiet_b,
				      &D.redispatch_b };
	for (size_t i = 0; i < sizeof(bars) / sizeof(bars[0]); i++)
		kf_barrier_cancel(bars[i]);
	ev_prepare_stop(D.loop, &D.settle_w);
	ev_signal_stop(D.loop, &D.sterm);
	ev_signal_stop(D.loop, &D.sint);
	ev_signal_stop(D.loop, &D.shup);
	ev_signal_stop(D.loop, &D.susr1);
	kf_control_free(D.ctl);
	kf_metrics_free(D.metrics);
	free(D.wstat);
	teardown_consumer();
	kf_pool_free(D.pool);
	if (D.d)
		kf_dispatch_free(D.d);
	if (D.t)
		kf_tracker_free(D.t);
	free(D.parts);
	for (uint32_t i = 0; i < D.ntopic_names; i++)
		free(D.topic_names[i]);
	kf_config_free(&D.cfg);
	kf_config_free(&D.next);
	free(D.reload_error);
	if (D.pidfile)
		kf_pidfile_remove(D.pidfile);
	kf_log_close();
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	if (kf_log_reopen() == KF_OK)
		kf_info(COMP, "SIGUSR1: log file reopened");
}

/* Started as root with a user to become: what root opened must stay
 * usable by that user (reopened on USR1, removed at exit). */
static int own_files(char *err, size_t errlen)
{
	const char *user = D.cfg.user;
	if (!user[0] || geteuid() != 0)
		return KF_OK;
	const char *files[] = { D.cfg.log.file, D.pidfile, D.ctl ? D.cfg.control.socket : NULL };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i] && files[i][0] && kf_chown_for(files[i], user, err, errlen) != KF_OK)
			return KF_ERR;
	return kf_drop_privileges(user, err, errlen);
}

/*
 * Start-up order: log file (as root), daemonize (-d), pid file (-p), the
 * sockets that may need root (control, metrics), then the user switch,
 * and only then the workers and the Kafka connections.  The launcher of
 * -d exits when this is all done (kf_daemon_ready), with the error if
 * something failed.
 */
static int run(bool daemonize)
{
	char err[512] = "";
	bool use_stderr = daemonize || (!D.cfg.log.file[0] && !D.cfg.log.syslog);
	if (kf_log_open(D.cfg.log.file, D.cfg.log.syslog, use_stderr, err, sizeof(err)) != KF_OK) {
		fprintf(stderr, "kforkd: %s\n", err);
		return 2;
	}
	if (daemonize && kf_daemonize(err, sizeof(err)) != KF_OK) {
		kf_err(COMP, "%s", err);
		return 2;
	}
	if (D.pidfile && kf_pidfile_create(D.pidfile, err, sizeof(err)) != KF_OK) {
		kf_err(COMP, "%s", err);
		D.pidfile = NULL;   /* not ours */
		kf_daemon_ready(2);
		return 2;
	}
	D.loop = ev_default_loop(0);
	if (!D.loop) {
		kf_err(COMP, "cannot start the event loop");
		kf_daemon_ready(2);
		return 2;
	}
	ev_init(&D.commit_t, on_commit_timer);
	D.commit_t.repeat = D.cfg.kafka.commit_interval_ms / 1000.;
	ev_init(&D.reset_t, on_reset_timer);
	D.reset_t.repeat = RESET_RETRY_S;
	kf_barriers_init(&D.bars, D.loop);
	kf_barrier_init(&D.revoke_b, &revoke_hooks, NULL);
	kf_barrier_init(&D.restart_b, &restart_hooks, NULL);
	kf_barrier_init(&D.shutdown_b, &shutdown_hooks, NULL);
	kf_barrier_init(&D.quiet_b, &quiet_hooks, NULL);
	kf_barrier_init(&D.redispatch_b, &redispatch_hooks, NULL);
	ev_prepare_init(&D.settle_w, on_settle);
	ev_init(&D.final_t, on_final_timeout);
	ev_init(&D.restart_t, on_restart_timeout);
	ev_init(&D.roll_t, on_roll_timer);
	D.roll_t.repeat = 0.1;
	ev_init(&D.ctl_t, on_ctl_timer);
	ev_timer_init(&D.recreated_t, on_recreated_timer, 0., 0.);
	ev_signal_init(&D.sterm, on_signal, SIGTERM);
	ev_signal_init(&D.sint, on_signal, SIGINT);
	ev_signal_init(&D.shup, on_hup, SIGHUP);
	ev_signal_init(&D.susr1, on_usr1, SIGUSR1);
	signal(SIGPIPE, SIG_IGN);

	/* Workers close every socket they inherit (on_child). */
	if (setup_control(err, sizeof(err)) != KF_OK || setup_metrics(err, sizeof(err)) != KF_OK ||
	    own_files(err, sizeof(err)) != KF_OK || setup_pool(err, sizeof(err)) != KF_OK ||
	    setup_cluster(err, sizeof(err)) != KF_OK || setup_consumer(err, sizeof(err)) != KF_OK) {
		kf_err(COMP, "%s", err);
		if (D.pool) {
			kf_pool_stop(D.pool, 0);
			if (!kf_pool_stopped(D.pool))
				ev_run(D.loop, 0);
		}
		teardown();
		kf_daemon_ready(2);
		return 2;
	}
	kf_daemon_ready(0);
	if (daemonize)
		kf_log_stderr(false);
	ev_signal_start(D.loop, &D.sterm);
	ev_signal_start(D.loop, &D.sint);
	ev_signal_start(D.loop, &D.shup);
	ev_signal_start(D.loop, &D.susr1);
	ev_timer_again(D.loop, &D.commit_t);
	kf_info(COMP, "kforkd %s: group \"%s\", %d topics, %d workers (%s dispatch)",
		PACKAGE_VERSION, D.cfg.kafka.group, D.cfg.kafka.n_topics, D.cfg.workers.count,
		kf_cfg_dispatch_name(D.cfg.workers.dispatch));
	kf_group_start(D.g);
	ev_run(D.loop, 0);
	kf_info(COMP, "stopped");
	int code = D.exit_code;
	teardown();
	return code;
}

/* ------------------------------------------------------------ main */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kforkd -c FILE [-t] [-d] [-p PIDFILE] [-v]\n"
		"  -c, --config FILE  the config file (libconfig syntax)\n"
		"  -t, --test         check the config and exit (0 valid, 1 invalid)\n"
		"  -d, --daemon       run in the background (the command returns once kforkd\n"
		"                     started, or fails with its error)\n"
		"  -p, --pidfile FILE write the pid there; refuse to start if it names a live\n"
		"                     process; removed at exit\n"
		"  -v, --verbose      more log output (repeat for trace)\n"
		"  -h, --help         this text\n"
		"  -V, --version      print the version\n"
		"SIGTERM or SIGINT drains and exits, SIGHUP reloads the config file, SIGUSR1\n"
		"reopens the log file.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool test = false, daemonize = false;
	int verbose = 0, c;
	while ((c = getopt_long(argc, argv, "c:tvhVdp:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': test = true; break;
		case 'd': daemonize = true; break;
		case 'p': D.pidfile = optarg; break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("kforkd %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	char err[1024];
	/* Reloads happen after -d's chdir("/"): keep the absolute path. */
	char *abs = test ? NULL : realpath(path, NULL);
	char *pabs = D.pidfile && D.pidfile[0] != '/' ? realpath(".", NULL) : NULL;
	char pidpath[4096];
	if (pabs) {
		snprintf(pidpath, sizeof(pidpath), "%s/%s", pabs, D.pidfile);
		D.pidfile = pidpath;
		free(pabs);
	}
	int lrc = kf_config_load(abs ? abs : path, &D.cfg, err, sizeof(err));
	free(abs);
	if (lrc != KF_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (test) {
		kf_config_free(&D.cfg);
		printf("%s: ok\n", path);
		return 0;
	}
	D.verbose = verbose;
	apply_level();
	return run(daemonize);
}
