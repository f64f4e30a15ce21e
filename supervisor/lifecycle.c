/*
 * lifecycle.c: shutdown (the shutdown barrier: drain, final commit,
 * LeaveGroup, stop the workers), signals and quiet (the quiet barrier).
 */
#include "config.h"

#include <inttypes.h>
#include <signal.h>

#include "kforkd.h"

void on_pool_stopped(struct kf_pool *pool, void *opaque)
{
	(void)pool, (void)opaque;
	set_phase(PH_DONE);
	ev_break(D.loop, EVBREAK_ALL);
}

void stop_pool(void)
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

const struct kf_barrier_hooks shutdown_hooks = {
	"shutdown", all_idle, shutdown_ready, shutdown_commit, shutdown_done,
};

void on_final_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	kf_warn(COMP, "commit and LeaveGroup did not finish in time");
	stop_pool();
}

void shutdown_begin(const char *why)
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

void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)revents;
	shutdown_begin(w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void quiet_done(struct kf_barrier *b)
{
	(void)b;
	kf_info(COMP, "quiet: the workers are idle and what they did is committed");
}

const struct kf_barrier_hooks quiet_hooks = {
	"quiet", all_idle, NULL, commit_all, quiet_done,
};

/* kforkctl quiet (on) and resume: the control socket's answer. */
const char *quiet_set(bool on)
{
	if (D.phase != PH_RUN)
		return "error shutting down\n";
	if (D.quiet == on)
		return on ? "ok\nalready quiet\n" : "ok\nnot quiet\n";
	D.quiet = on;
	if (on) {
		kf_info(COMP, "quiet: taking no new records; the workers finish what they hold,"
			" commits and heartbeats go on");
		hold_all();
		kf_barrier_start(&D.bars, &D.quiet_b, -1);
		settle_soon();
	} else {
		kf_info(COMP, "resumed");
		kf_barrier_cancel(&D.quiet_b);
		resume_blocked();
	}
	return on ? "ok\nquiet\n" : "ok\nresumed\n";
}
