/*
 * reload.c: SIGHUP and kforkctl reload: the plan (kf_reload_plan) applied
 * by class: at once, a rolling replacement of the workers, a redispatch
 * (barrier), a Kafka restart (barrier, then LeaveGroup and a rebuild).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kforkd.h"

/* A reload that comes while these run waits for them (on_settle). */
bool reload_busy(void)
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

const struct kf_barrier_hooks redispatch_hooks = {
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

void apply_level(void)
{
	int level = (int)D.cfg.log.level + D.verbose;
	kf_log_level = (enum kf_log_level)(level > KF_LOG_TRACE ? KF_LOG_TRACE : level);
}

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
void group_counters(struct kf_group_counters *c)
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

void restart_rebuild(void)
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
void on_restart_timeout(struct ev_loop *loop, ev_timer *w, int revents)
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

const struct kf_barrier_hooks restart_hooks = {
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

void on_roll_timer(struct ev_loop *loop, ev_timer *w, int revents)
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
int reload(const char *why, struct kf_wr *reply)
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

void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	reload("SIGHUP", NULL);
}
