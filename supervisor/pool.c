/*
 * pool: see pool.h.  Supervisor only, on the default libev loop; never
 * blocks (kf_pool_free's reaping of SIGKILLed children aside) and never
 * runs user code: the forked child leaves this file through
 * kf_worker_main() and _exit().
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "pool.h"

#define POOL_ACK_BATCH 1024             /* acks popped per worker per loop pass */
#define POOL_MIN_ACK_BYTES (64 * 1024)
#define POOL_STALL_TICK_MAX_MS 1000
#define POOL_STALL_TICK_MIN_MS 10
#define POOL_MIN_WINDOW 2               /* records a worker may always hold */

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* One slot of the process table.  Allocated once per slot number and kept
 * until kf_pool_free (a retired slot is only marked absent), so watchers
 * never move and callbacks may resize freely. */
struct pool_worker {
	struct kf_pool *pool;
	int id;
	enum kf_pool_state state;
	bool present;           /* the ring exists: the slot is listed */
	bool retire;            /* drain, then let the process go for good */
	bool acked;             /* an ack was popped since the last spawn */
	bool up;                /* the current process stayed up */
	bool term_sent;         /* we SIGTERMed the current process */
	bool stall_killed;      /* we SIGKILLed it (a stall, kf_pool_kill) */
	size_t ring_bytes;      /* the size its ring was made with */
	bool backlog;           /* acks may be waiting: drained by the check */
	bool in_drain;          /* on_ack running for this slot */
	bool broken;            /* the ring failed its checks: rebuild it */
	pid_t pid;              /* 0: no process */
	struct kf_ring ring;
	size_t used;            /* kf_ring_rec_used at the last look */
	uint64_t inflight;
	uint64_t processed, failed, restarts, stalls, spawns;
	unsigned fast_deaths;   /* consecutive deaths at start */
	int backoff_ms;
	double spawned_at;      /* mono_now() */
	double oldest_since;    /* mono_now() when the oldest unacked record
				   became the oldest */
	double ms_per_rec;      /* moving average of its time per record;
				   0: not measured yet */
	double pace_since;      /* mono_now() when the records of the next
				   measurement of ms_per_rec began */
	uint64_t pace_n;        /* acks popped towards that measurement */
	ev_child child;
	ev_io ack_io;
	ev_timer up_timer;      /* min_uptime_ms after the spawn */
	ev_timer restart_timer; /* crash loop backoff */
};

struct kf_pool {
	struct ev_loop *loop;
	struct kf_pool_conf conf;
	struct kf_pool_callbacks cb;
	struct pool_worker **w; /* cap entries, NULL until first used */
	int cap;
	int nslots;             /* listed slots: highest present + 1 */
	int size;               /* slots taking records: 0 .. size - 1 */
	int alive;              /* processes not reaped yet */
	int nbacklog;           /* slots with backlog set */
	bool stopping;
	bool stopped;
	size_t used;            /* sum of the slots' used */
	uint64_t inflight;
	char **topics;          /* KF_RING_MAX_TOPICS entries once allocated */
	ev_timer stall_timer;
	ev_timer kill_timer;
	ev_check drain_check;   /* drains backlogs after each poll */
	ev_idle drain_idle;     /* keeps the poll from blocking meanwhile */
};

static const char *const state_names[] = {
	[KF_POOL_STARTING] = "starting",
	[KF_POOL_RUNNING] = "running",
	[KF_POOL_CRASHLOOP] = "crashloop",
	[KF_POOL_RETIRING] = "retiring",
	[KF_POOL_STOPPED] = "stopped",
};

const char *kf_pool_state_name(enum kf_pool_state s)
{
	return s <= KF_POOL_STOPPED ? state_names[s] : "?";
}

void kf_pool_conf_defaults(struct kf_pool_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->count = 4;
	conf->ring_bytes = 16u << 20;
	conf->max_inflight_bytes = 256u << 20;
	conf->max_inflight_ms = 2000;
	conf->stall_timeout_ms = 300000;
	conf->shutdown_timeout_ms = 30000;
	conf->min_uptime_ms = 1000;
	conf->backoff_initial_ms = 100;
	conf->backoff_max_ms = 30000;
	conf->worker.handler.type = KF_HANDLER_NOOP;
	conf->worker.max_retries = 5;
	conf->worker.retry_backoff_ms = 100;
	conf->worker.nice = 5;
}

/*
 * One line per state change.  Changes an operator acts on (crash loop,
 * retiring, stopped) are logged at info or warn; the starting <-> running
 * churn of ordinary respawns at debug (the death itself was logged).
 */
static void set_state(struct pool_worker *w, enum kf_pool_state s, const char *why)
{
	struct kf_pool *p = w->pool;
	if (w->state == s)
		return;
	enum kf_pool_state old = w->state;
	w->state = s;
	enum kf_log_level lvl = KF_LOG_INFO;
	if (s == KF_POOL_CRASHLOOP)
		lvl = KF_LOG_WARN;
	else if (s == KF_POOL_STARTING || (old == KF_POOL_STARTING && s == KF_POOL_RUNNING))
		lvl = KF_LOG_DEBUG;
	if (KF_LOG_ENABLED(lvl))
		kf_log(lvl, "pool", "worker %d: %s -> %s (%s)", w->id, state_names[old],
		       state_names[s], why);
	if (p->cb.on_state)
		p->cb.on_state(p, w->id, s, p->cb.opaque);
}

/* Seconds on the monotonic clock: stall ages must not jump with the wall
 * clock (ev_now() follows it).  A vDSO call, no system call. */
static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void update_used(struct pool_worker *w)
{
	size_t now = kf_ring_rec_used(&w->ring);
	w->pool->used = w->pool->used - w->used + now;
	w->used = now;
}

/* ---- the forked child ---- */

/*
 * Runs in the child right after fork and never returns.  The child does
 * not use the supervisor's loop (its fds are close-on-exec and simply
 * stay unused); it drops what belongs to the other workers, resets the
 * signal state libev and the supervisor set up (dispositions to default,
 * empty mask: the parent blocked everything around fork so no handler of
 * the supervisor runs here), and enters the worker loop at the ring's
 * oldest unreleased record.
 */
static void __attribute__((noreturn)) child_main(struct kf_pool *p, struct pool_worker *self,
						 pid_t parent)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);    /* EINVAL for glibc's reserved ones */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	for (int i = 0; i < p->nslots; i++) {
		struct pool_worker *o = p->w[i];
		if (o && o != self && o->present)
			kf_ring_destroy(&o->ring);
	}
	if (p->cb.on_child)
		p->cb.on_child(p, self->id, p->cb.opaque);

	/* The previous process of this slot may have read records it never
	 * acked: start again at the tail.  kf_worker_main() does it too; the
	 * pool keeps the call because the hand-over is its promise, and a
	 * second call only resets the same process-local cursor. */
	kf_ring_worker_restart(&self->ring);
	struct kf_worker_conf wc = p->conf.worker;
	wc.id = self->id;
	wc.supervisor_pid = parent;
	/* An exec command gets most of the shutdown time to answer what it
	 * holds, so it can finish before kf_pool_stop's SIGKILL. */
	if (wc.stop_grace_ms == 0 && p->conf.shutdown_timeout_ms > 0)
		wc.stop_grace_ms = p->conf.shutdown_timeout_ms / 10 * 9;
	_exit(kf_worker_main(&self->ring, &wc));
}

/* ---- spawning, death, backoff ---- */

static void schedule_restart(struct pool_worker *w, const char *what);
static int ring_rebuild(struct pool_worker *w);

static void spawn(struct pool_worker *w)
{
	struct kf_pool *p = w->pool;
	/* A broken ring, or an empty one of a size a reload changed. */
	bool resize = w->inflight == 0 && w->ring_bytes != p->conf.ring_bytes;
	if ((w->broken || resize) && ring_rebuild(w) != KF_OK) {
		schedule_restart(w, "its ring could not be rebuilt");
		return;
	}
	if (resize)
		kf_info("pool", "worker %d: a new ring of %zu bytes", w->id, p->conf.ring_bytes);
	pid_t parent = getpid();
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0)
		child_main(p, w, parent);
	int saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		char what[128];
		snprintf(what, sizeof(what), "fork failed: %s", strerror(saved));
		kf_err("pool", "worker %d: %s", w->id, what);
		schedule_restart(w, what);
		return;
	}
	if (w->spawns++ > 0)
		w->restarts++;
	w->pid = pid;
	p->alive++;
	w->acked = false;
	w->up = false;
	w->term_sent = false;
	w->stall_killed = false;
	w->spawned_at = mono_now();
	w->oldest_since = w->spawned_at;
	w->pace_since = w->spawned_at;
	w->pace_n = 0;
	ev_child_set(&w->child, pid, 0);
	ev_child_start(p->loop, &w->child);
	ev_timer_set(&w->up_timer, p->conf.min_uptime_ms / 1000.0, 0.);
	ev_timer_start(p->loop, &w->up_timer);
	kf_debug("pool", "worker %d: pid %d started", w->id, (int)pid);
	if (!w->retire && w->state != KF_POOL_CRASHLOOP)
		set_state(w, KF_POOL_STARTING, "spawned");
}

/* The current process proved it can run: end a crash loop. */
static void mark_up(struct pool_worker *w, const char *why)
{
	if (w->up)
		return;
	w->up = true;
	ev_timer_stop(w->pool->loop, &w->up_timer);
	char buf[96];
	if (w->fast_deaths > 0) {
		snprintf(buf, sizeof(buf), "%s after %u failed starts", why, w->fast_deaths);
		why = buf;
	}
	w->fast_deaths = 0;
	w->backoff_ms = 0;
	if (!w->retire)
		set_state(w, KF_POOL_RUNNING, why);
}

static void up_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pool_worker *w = container_of(t, struct pool_worker, up_timer);
	if (w->pid)
		mark_up(w, "stayed up");
}

static void restart_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pool_worker *w = container_of(t, struct pool_worker, restart_timer);
	if (!w->pool->stopping && w->present && !w->pid)
		spawn(w);
}

/* A start failed: try again after the next backoff step. */
static void schedule_restart(struct pool_worker *w, const char *what)
{
	struct kf_pool *p = w->pool;
	w->fast_deaths++;
	long ms = p->conf.backoff_initial_ms;
	for (unsigned i = 1; i < w->fast_deaths && ms < p->conf.backoff_max_ms; i++)
		ms *= 2;
	if (ms > p->conf.backoff_max_ms)
		ms = p->conf.backoff_max_ms;
	w->backoff_ms = (int)ms;
	char why[256];
	snprintf(why, sizeof(why), "%s at start; restarting in %d ms, backoff up to %d ms",
		 what, w->backoff_ms, p->conf.backoff_max_ms);
	if (w->retire || w->state == KF_POOL_CRASHLOOP)
		kf_debug("pool", "worker %d: %s", w->id, why);
	else
		set_state(w, KF_POOL_CRASHLOOP, why);
	ev_timer_set(&w->restart_timer, ms / 1000.0, 0.);
	ev_timer_start(p->loop, &w->restart_timer);
}

static void set_backlog(struct pool_worker *w, bool on)
{
	struct kf_pool *p = w->pool;
	if (w->backlog == on)
		return;
	w->backlog = on;
	p->nbacklog += on ? 1 : -1;
	if (on && !ev_is_active(&p->drain_check)) {
		ev_check_start(p->loop, &p->drain_check);
		ev_idle_start(p->loop, &p->drain_idle);
	}
}

/* The slot was retired and is empty: it disappears with its ring. */
static void finalize(struct pool_worker *w)
{
	struct kf_pool *p = w->pool;
	set_backlog(w, false);
	ev_io_stop(p->loop, &w->ack_io);
	ev_timer_stop(p->loop, &w->restart_timer);
	ev_timer_stop(p->loop, &w->up_timer);
	set_state(w, KF_POOL_STOPPED, "retired");
	p->used -= w->used;
	w->used = 0;
	kf_ring_destroy(&w->ring);
	w->present = false;
	w->retire = false;
	while (p->nslots > p->size && !p->w[p->nslots - 1]->present)
		p->nslots--;
}

/*
 * Pop up to budget acks of w and hand them on.  Every popped ack is a
 * finished record of the slot's current or last process (acks come in
 * ring order, and a dead process's acks are all popped before its
 * replacement starts), so the oldest unacked record changed: restart its
 * stall clock.  Returns the number popped.
 */
static size_t drain(struct pool_worker *w, size_t budget)
{
	struct kf_pool *p = w->pool;
	struct kf_ring_ack ack;
	size_t n = 0;
	int rc = 0;
	w->in_drain = true;
	while (n < budget && w->present && !w->broken &&
	       (rc = kf_ring_ack_pop(&w->ring, &ack)) == 1) {
		n++;
		if (w->inflight > 0) {
			w->inflight--;
			p->inflight--;
		}
		w->processed++;
		if (ack.status == KF_ACK_FAILED)
			w->failed++;
		p->cb.on_ack(p, w->id, &ack, p->cb.opaque);
	}
	w->in_drain = false;
	if (rc < 0 && !w->broken) {
		/* A worker wrote garbage into the ring (user code can scribble
		 * on shared memory): nothing in it can be trusted any more. */
		kf_err("pool", "worker %d: malformed ack in its ring (%s): killing pid %d; "
		       "the ring is rebuilt and its %llu unfinished records must be fetched again",
		       w->id, kf_strerror(rc), (int)w->pid, (unsigned long long)w->inflight);
		w->broken = true;
		if (w->pid)
			kill(w->pid, SIGKILL);
	}
	if (n == 0)
		return 0;
	update_used(w);
	/* Since pace_since the worker was busy with these pace_n records.
	 * Acks the budget left for the next pass were finished in that same
	 * time: measure once they are popped too, or a pass of acks finished
	 * long ago would count as records done in no time. */
	double now = mono_now();
	w->pace_n += n;
	if (n < budget || w->inflight == 0) {
		double ms = (now - w->pace_since) * 1000. / (double)w->pace_n;
		w->ms_per_rec = kf_pool_pace(w->ms_per_rec, ms, w->pace_n);
		w->pace_since = now;
		w->pace_n = 0;
	}
	w->oldest_since = now;
	w->acked = true;
	if (w->pid)
		mark_up(w, "first record done");
	if (p->cb.on_room)
		p->cb.on_room(p, w->id, p->cb.opaque);
	return n;
}

/* A retiring slot whose records are all done: let its process go. */
static void settle_retire(struct pool_worker *w)
{
	if (!w->retire || w->inflight > 0 || w->in_drain || !w->present)
		return;
	if (w->pid) {
		if (!w->term_sent) {
			kf_debug("pool", "worker %d drained: SIGTERM to pid %d", w->id, (int)w->pid);
			kill(w->pid, SIGTERM);
			w->term_sent = true;
		}
	} else {
		finalize(w);
	}
}

/* Drain a batch; then either announce the sleep on ack_efd or, with acks
 * left over, keep the slot on the backlog for the next loop pass. */
static void service(struct pool_worker *w)
{
	if (!w->present)
		return;
	size_t n = drain(w, POOL_ACK_BATCH);
	if (!w->present)
		return;
	if (n == POOL_ACK_BATCH || !kf_ring_ack_sleep(&w->ring))
		set_backlog(w, true);
	else
		set_backlog(w, false);
	settle_retire(w);
}

static void ack_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct pool_worker *w = container_of(io, struct pool_worker, ack_io);
	kf_ring_ack_woken(&w->ring);
	service(w);
}

static void drain_check_cb(struct ev_loop *loop, ev_check *c, int revents)
{
	struct kf_pool *p = container_of(c, struct kf_pool, drain_check);
	for (int i = 0; i < p->nslots; i++) {
		struct pool_worker *w = p->w[i];
		if (w && w->backlog)
			service(w);
	}
	if (p->nbacklog == 0) {
		ev_check_stop(loop, &p->drain_check);
		ev_idle_stop(loop, &p->drain_idle);
	}
}

static void drain_idle_cb(struct ev_loop *loop, ev_idle *i, int revents)
{
	/* Only there so the loop polls without blocking; the check works. */
}

static void maybe_finish_stop(struct kf_pool *p)
{
	if (!p->stopping || p->stopped || p->alive > 0)
		return;
	p->stopped = true;
	ev_timer_stop(p->loop, &p->kill_timer);
	ev_timer_stop(p->loop, &p->stall_timer);
	ev_check_stop(p->loop, &p->drain_check);
	ev_idle_stop(p->loop, &p->drain_idle);
	for (int i = 0; i < p->nslots; i++) {
		struct pool_worker *w = p->w[i];
		if (!w || !w->present)
			continue;
		set_backlog(w, false);
		ev_io_stop(p->loop, &w->ack_io);
		ev_timer_stop(p->loop, &w->restart_timer);
	}
	kf_info("pool", "all workers stopped");
	if (p->cb.on_stopped)
		p->cb.on_stopped(p, p->cb.opaque);
}

/*
 * A worker process ended.  Its finished records are the acks still in
 * the ring: pop them all (bounded by the ack ring) before anything else,
 * so the replacement starts exactly at the unfinished ones.  Then decide:
 * stopping -> stopped; retired and empty -> slot gone; died at start ->
 * crash loop backoff; otherwise respawn at once on the same ring.
 */
static void child_cb(struct ev_loop *loop, ev_child *c, int revents)
{
	struct pool_worker *w = container_of(c, struct pool_worker, child);
	struct kf_pool *p = w->pool;
	int status = c->rstatus;
	pid_t pid = w->pid;
	ev_child_stop(loop, c);
	ev_timer_stop(loop, &w->up_timer);
	w->pid = 0;
	p->alive--;
	drain(w, SIZE_MAX);
	/* No process, no new acks: this only re-arms the wakeup for the
	 * replacement (a backlog slot had not announced its sleep). */
	if (!w->broken)
		set_backlog(w, !kf_ring_ack_sleep(&w->ring));

	char how[128];
	kf_wait_status_str(status, how, sizeof(how));
	double uptime = mono_now() - w->spawned_at;
	if (p->stopping) {
		kf_debug("pool", "worker %d (pid %d) %s", w->id, (int)pid, how);
		set_state(w, KF_POOL_STOPPED, how);
		maybe_finish_stop(p);
		return;
	}
	if (w->retire && w->inflight == 0) {
		kf_debug("pool", "worker %d (pid %d) %s", w->id, (int)pid, how);
		finalize(w);
		return;
	}
	bool init_failed = WIFEXITED(status) && WEXITSTATUS(status) == KF_WORKER_EXIT_INIT;
	bool ours = w->term_sent || w->stall_killed;
	if (init_failed || (!w->up && !w->acked && !ours)) {
		kf_debug("pool", "worker %d (pid %d) %s after %.3f s", w->id, (int)pid, how,
			 uptime);
		schedule_restart(w, how);
		return;
	}
	/* Up, or killed by us before it could prove itself (a stall, a
	 * taken-back retirement): respawn at once.  Only being up ends a
	 * crash loop (mark_up). */
	if (!w->term_sent)
		kf_warn("pool", "worker %d (pid %d) %s after %.1f s; respawning, %llu records "
			"to deliver again", w->id, (int)pid, how, uptime,
			(unsigned long long)w->inflight);
	spawn(w);
}

static void kill_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct kf_pool *p = container_of(t, struct kf_pool, kill_timer);
	int n = 0;
	for (int i = 0; i < p->nslots; i++) {
		struct pool_worker *w = p->w[i];
		if (w && w->pid) {
			kill(w->pid, SIGKILL);
			n++;
		}
	}
	if (n)
		kf_warn("pool", "%d workers still running at the shutdown deadline: SIGKILL", n);
}

/*
 * Every tick: a worker whose oldest unacked record has been the oldest for
 * stall_timeout_ms holds it too long.  Pending acks are popped first so a
 * worker that is merely ahead of us is not judged on stale information.
 */
static void stall_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct kf_pool *p = container_of(t, struct kf_pool, stall_timer);
	for (int i = 0; i < p->nslots; i++) {
		struct pool_worker *w = p->w[i];
		if (!w || !w->present || !w->pid || w->stall_killed || w->inflight == 0)
			continue;
		service(w);
		if (p->stopping)
			return;         /* a callback stopped the pool */
		if (!w->pid || w->inflight == 0)
			continue;
		double held = mono_now() - w->oldest_since;
		if (held * 1000.0 < p->conf.stall_timeout_ms)
			continue;
		kf_warn("pool", "worker %d (pid %d) held a record for %.1f s (stall_timeout_ms "
			"%d): SIGKILL; the record will be delivered again", w->id, (int)w->pid,
			held, p->conf.stall_timeout_ms);
		w->stall_killed = true;
		w->stalls++;
		kill(w->pid, SIGKILL);
	}
}

int kf_pool_kill(struct kf_pool *p, int worker, const char *why)
{
	struct pool_worker *w = worker >= 0 && worker < p->nslots ? p->w[worker] : NULL;
	if (!w || !w->present || !w->pid || p->stopping)
		return KF_EPROTO;
	if (w->stall_killed)
		return KF_OK;       /* already on its way out */
	kf_warn("pool", "worker %d (pid %d): SIGKILL (%s); its %llu records in flight will be "
		"delivered again", w->id, (int)w->pid, why, (unsigned long long)w->inflight);
	w->stall_killed = true;     /* ours: respawned at once, not a crash */
	kill(w->pid, SIGKILL);
	return KF_OK;
}

int kf_pool_restart(struct kf_pool *p, int worker)
{
	struct pool_worker *w = worker >= 0 && worker < p->nslots ? p->w[worker] : NULL;
	if (!w || !w->present || w->retire || p->stopping)
		return KF_EPROTO;
	if (!w->pid || w->term_sent || w->stall_killed)
		return KF_OK;       /* the next process takes the new conf anyway */
	kf_debug("pool", "worker %d (pid %d): SIGTERM for a restart", w->id, (int)w->pid);
	w->term_sent = true;
	kill(w->pid, SIGTERM);
	return KF_OK;
}

void kf_pool_set_limits(struct kf_pool *p, int stall_timeout_ms, int shutdown_timeout_ms,
			size_t max_inflight_bytes, int max_inflight_ms, size_t ring_bytes)
{
	p->conf.max_inflight_ms = max_inflight_ms;
	p->conf.stall_timeout_ms = stall_timeout_ms;
	p->conf.shutdown_timeout_ms = shutdown_timeout_ms;
	p->conf.max_inflight_bytes = max_inflight_bytes;
	p->conf.ring_bytes = ring_bytes;
}

/* ---- slots ---- */

static struct pool_worker *slot_get(struct kf_pool *p, int id)
{
	if (id >= p->cap) {
		int cap = p->cap ? p->cap : 8;
		while (cap <= id)
			cap *= 2;
		struct pool_worker **nw = realloc(p->w, (size_t)cap * sizeof(*nw));
		if (!nw)
			return NULL;
		memset(nw + p->cap, 0, (size_t)(cap - p->cap) * sizeof(*nw));
		p->w = nw;
		p->cap = cap;
	}
	if (!p->w[id]) {
		struct pool_worker *w = calloc(1, sizeof(*w));
		if (!w)
			return NULL;
		w->pool = p;
		w->id = id;
		w->state = KF_POOL_STOPPED;
		ev_child_init(&w->child, child_cb, 0, 0);
		ev_init(&w->ack_io, ack_io_cb);
		ev_init(&w->up_timer, up_timer_cb);
		ev_init(&w->restart_timer, restart_cb);
		p->w[id] = w;
	}
	return p->w[id];
}

/* Create the slot's ring (named topics included) and watch its acks. */
static int ring_open(struct pool_worker *w, char *err, size_t errlen)
{
	struct kf_pool *p = w->pool;
	size_t ack_bytes = p->conf.ack_bytes;
	if (!ack_bytes) {
		ack_bytes = p->conf.ring_bytes / 4;
		if (ack_bytes < POOL_MIN_ACK_BYTES)
			ack_bytes = POOL_MIN_ACK_BYTES;
	}
	int rc = kf_ring_create(&w->ring, p->conf.ring_bytes, ack_bytes, err, errlen);
	if (rc != KF_OK)
		return rc;
	w->ring_bytes = p->conf.ring_bytes;
	for (uint32_t i = 0; p->topics && i < KF_RING_MAX_TOPICS; i++)
		if (p->topics[i])
			kf_ring_set_topic(&w->ring, i, p->topics[i]);
	ev_io_set(&w->ack_io, w->ring.ack_efd, EV_READ);
	ev_io_start(p->loop, &w->ack_io);
	if (!kf_ring_ack_sleep(&w->ring))
		set_backlog(w, true);
	return KF_OK;
}

/* A broken ring (see drain) is replaced by an empty one; the records it
 * held are reported lost so the caller fetches them again. */
static int ring_rebuild(struct pool_worker *w)
{
	struct kf_pool *p = w->pool;
	char err[256];
	ev_io_stop(p->loop, &w->ack_io);
	set_backlog(w, false);
	kf_ring_destroy(&w->ring);
	int rc = ring_open(w, err, sizeof(err));
	if (rc != KF_OK) {
		kf_err("pool", "worker %d: cannot rebuild its ring: %s", w->id, err);
		return rc;
	}
	uint64_t lost = w->inflight;
	p->inflight -= w->inflight;
	w->inflight = 0;
	update_used(w);
	w->broken = false;
	if (lost && p->cb.on_lost)
		p->cb.on_lost(p, w->id, lost, p->cb.opaque);
	return KF_OK;
}

static int slot_open(struct pool_worker *w, char *err, size_t errlen)
{
	int rc = ring_open(w, err, errlen);
	if (rc != KF_OK)
		return rc;
	w->present = true;
	w->retire = false;
	w->inflight = 0;
	w->used = 0;
	w->processed = w->failed = w->restarts = w->stalls = w->spawns = 0;
	w->fast_deaths = 0;
	w->backoff_ms = 0;
	return KF_OK;
}

static int grow(struct kf_pool *p, int n, char *err, size_t errlen)
{
	for (int i = p->size; i < n; i++) {
		struct pool_worker *w = slot_get(p, i);
		if (!w) {
			snprintf(err, errlen, "out of memory");
			return KF_ENOMEM;
		}
		if (w->present) {
			/* Retiring: take it back. */
			w->retire = false;
			p->size = i + 1;
			if (w->pid)
				set_state(w, w->up ? KF_POOL_RUNNING : KF_POOL_STARTING, "taken back");
			else
				set_state(w, w->fast_deaths ? KF_POOL_CRASHLOOP : KF_POOL_STARTING,
					  "taken back");
			continue;
		}
		int rc = slot_open(w, err, errlen);
		if (rc != KF_OK)
			return rc;
		p->size = i + 1;
		if (p->nslots < p->size)
			p->nslots = p->size;
		spawn(w);
	}
	return KF_OK;
}

/* ---- public ---- */

struct kf_pool *kf_pool_new(struct ev_loop *loop, const struct kf_pool_conf *conf,
			    const struct kf_pool_callbacks *cb, char *err, size_t errlen)
{
	if (!ev_is_default_loop(loop)) {
		snprintf(err, errlen, "the worker pool needs libev's default loop "
			 "(child watchers work only there)");
		return NULL;
	}
	if (conf->count < 1 || !cb || !cb->on_ack) {
		snprintf(err, errlen, "workers.count must be at least 1 and on_ack set");
		return NULL;
	}
	struct kf_pool *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->loop = loop;
	p->conf = *conf;
	p->cb = *cb;
	if (p->conf.min_uptime_ms <= 0)
		p->conf.min_uptime_ms = 1000;
	if (p->conf.backoff_initial_ms <= 0)
		p->conf.backoff_initial_ms = 100;
	if (p->conf.backoff_max_ms < p->conf.backoff_initial_ms)
		p->conf.backoff_max_ms = p->conf.backoff_initial_ms > 30000 ?
			p->conf.backoff_initial_ms : 30000;
	ev_init(&p->kill_timer, kill_timer_cb);
	ev_check_init(&p->drain_check, drain_check_cb);
	ev_idle_init(&p->drain_idle, drain_idle_cb);
	ev_init(&p->stall_timer, stall_timer_cb);
	if (p->conf.stall_timeout_ms > 0) {
		int tick = p->conf.stall_timeout_ms / 4;
		if (tick > POOL_STALL_TICK_MAX_MS)
			tick = POOL_STALL_TICK_MAX_MS;
		if (tick < POOL_STALL_TICK_MIN_MS)
			tick = POOL_STALL_TICK_MIN_MS;
		p->stall_timer.repeat = tick / 1000.0;
		ev_timer_again(loop, &p->stall_timer);
	}
	if (grow(p, conf->count, err, errlen) != KF_OK) {
		kf_pool_free(p);
		return NULL;
	}
	kf_info("pool", "%d workers started (%s handler)", p->size,
		kf_handler_type_name(p->conf.worker.handler.type));
	return p;
}

void kf_pool_free(struct kf_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->cap; i++) {
		struct pool_worker *w = p->w[i];
		if (!w)
			continue;
		if (w->pid) {
			kill(w->pid, SIGKILL);
			while (waitpid(w->pid, NULL, 0) == -1 && errno == EINTR)
				;
			w->pid = 0;
		}
		ev_child_stop(p->loop, &w->child);
		ev_io_stop(p->loop, &w->ack_io);
		ev_timer_stop(p->loop, &w->up_timer);
		ev_timer_stop(p->loop, &w->restart_timer);
		if (w->present)
			kf_ring_destroy(&w->ring);
		free(w);
	}
	free(p->w);
	ev_timer_stop(p->loop, &p->kill_timer);
	ev_timer_stop(p->loop, &p->stall_timer);
	ev_check_stop(p->loop, &p->drain_check);
	ev_idle_stop(p->loop, &p->drain_idle);
	if (p->topics)
		for (uint32_t i = 0; i < KF_RING_MAX_TOPICS; i++)
			free(p->topics[i]);
	free(p->topics);
	free(p);
}

int kf_pool_set_topic(struct kf_pool *p, uint32_t idx, const char *name)
{
	if (idx >= KF_RING_MAX_TOPICS || strlen(name) > KF_RING_TOPIC_MAX)
		return KF_EPROTO;
	if (!p->topics) {
		p->topics = calloc(KF_RING_MAX_TOPICS, sizeof(*p->topics));
		if (!p->topics)
			return KF_ENOMEM;
	}
	char *copy = strdup(name);
	if (!copy)
		return KF_ENOMEM;
	free(p->topics[idx]);
	p->topics[idx] = copy;
	for (int i = 0; i < p->nslots; i++) {
		struct pool_worker *w = p->w[i];
		if (w && w->present) {
			int rc = kf_ring_set_topic(&w->ring, idx, name);
			if (rc != KF_OK)
				return rc;
		}
	}
	return KF_OK;
}

double kf_pool_pace(double prev_ms, double ms, uint64_t n)
{
	if (prev_ms <= 0)
		return ms;
	double a = (double)n / ((double)n + 8.);
	if (a < 0.3)
		a = 0.3;
	return (1. - a) * prev_ms + a * ms;
}

/*
 * How many records w may hold: max_inflight_ms of its measured time per
 * record, so that with a slow handler a revocation or a stop waits seconds,
 * not for a ring full of work.  Two until the first ack tells its pace.
 */
static uint64_t window(const struct kf_pool *p, const struct pool_worker *w)
{
	if (p->conf.max_inflight_ms <= 0)
		return UINT64_MAX;
	if (w->ms_per_rec <= 0)
		return POOL_MIN_WINDOW;
	double n = p->conf.max_inflight_ms / w->ms_per_rec;
	return n < POOL_MIN_WINDOW ? POOL_MIN_WINDOW : n > 1e15 ? UINT64_MAX : (uint64_t)n;
}

int kf_pool_push(struct kf_pool *p, int worker, const struct kf_ring_rec *rec)
{
	if (p->stopping || worker < 0 || worker >= p->size)
		return KF_ECLOSED;
	struct pool_worker *w = p->w[worker];
	if (!w->present || w->retire)
		return KF_ECLOSED;
	/* An empty pool always takes one record, however large, so the
	 * budget cannot wedge on a record bigger than itself. */
	if (p->conf.max_inflight_bytes && p->used > 0 &&
	    p->used + kf_ring_entry_size(rec) > p->conf.max_inflight_bytes)
		return KF_EAGAIN;
	if (w->inflight >= window(p, w))
		return KF_EAGAIN;
	int rc = kf_ring_push(&w->ring, rec);
	if (rc != KF_OK)
		return rc;
	if (w->inflight == 0) {
		w->oldest_since = mono_now();
		w->pace_since = w->oldest_since;
		w->pace_n = 0;
	}
	w->inflight++;
	p->inflight++;
	update_used(w);
	return KF_OK;
}

int kf_pool_resize(struct kf_pool *p, int n)
{
	if (p->stopping)
		return KF_ECLOSED;
	if (n < 1)
		return KF_EPROTO;
	if (n > p->size) {
		char err[256];
		int rc = grow(p, n, err, sizeof(err));
		if (rc != KF_OK)
			kf_err("pool", "cannot add worker %d: %s", p->size, err);
		else
			kf_info("pool", "resized to %d workers", n);
		return rc;
	}
	int old = p->size;
	p->size = n;
	for (int i = old - 1; i >= n; i--)
		if (p->w[i]->present) {
			p->w[i]->retire = true;
			set_state(p->w[i], KF_POOL_RETIRING, "pool resized");
		}
	for (int i = old - 1; i >= n; i--)
		if (p->w[i]->present)
			settle_retire(p->w[i]);
	if (n < old)
		kf_info("pool", "resizing to %d workers: %d retiring", n, old - n);
	return KF_OK;
}

void kf_pool_set_worker_conf(struct kf_pool *p, const struct kf_worker_conf *wconf)
{
	p->conf.worker = *wconf;
}

void kf_pool_stop(struct kf_pool *p, int timeout_ms)
{
	if (p->stopped)
		return;
	if (timeout_ms < 0)
		timeout_ms = p->conf.shutdown_timeout_ms;
	ev_tstamp after = timeout_ms / 1000.0;
	if (p->stopping) {
		if (!ev_is_active(&p->kill_timer) ||
		    ev_timer_remaining(p->loop, &p->kill_timer) > after) {
			ev_timer_stop(p->loop, &p->kill_timer);
			ev_timer_set(&p->kill_timer, after, 0.);
			ev_timer_start(p->loop, &p->kill_timer);
		}
		return;
	}
	p->stopping = true;
	ev_timer_stop(p->loop, &p->stall_timer);
	kf_info("pool", "stopping %d workers (SIGKILL after %d ms)", p->alive, timeout_ms);
	for (int i = 0; i < p->nslots; i++) {
		struct pool_worker *w = p->w[i];
		if (!w || !w->present)
			continue;
		ev_timer_stop(p->loop, &w->restart_timer);
		if (w->pid) {
			kill(w->pid, SIGTERM);
			w->term_sent = true;
		} else {
			set_state(w, KF_POOL_STOPPED, "pool stopping");
		}
	}
	ev_timer_set(&p->kill_timer, after, 0.);
	ev_timer_start(p->loop, &p->kill_timer);
	maybe_finish_stop(p);
}

bool kf_pool_stopped(const struct kf_pool *p)
{
	return p->stopped;
}

int kf_pool_size(const struct kf_pool *p)
{
	return p->size;
}

int kf_pool_worker_count(const struct kf_pool *p)
{
	return p->nslots;
}

int kf_pool_worker_status(const struct kf_pool *p, int worker,
			  struct kf_pool_worker_status *st)
{
	if (worker < 0 || worker >= p->nslots || !p->w[worker])
		return KF_EPROTO;
	const struct pool_worker *w = p->w[worker];
	st->id = w->id;
	st->pid = w->pid;
	st->state = w->state;
	st->state_name = state_names[w->state];
	st->inflight = w->inflight;
	st->inflight_bytes = w->used;
	st->processed = w->processed;
	st->failed = w->failed;
	st->restarts = w->restarts;
	st->stalls = w->stalls;
	st->backoff_ms = w->state == KF_POOL_CRASHLOOP ||
		(w->retire && w->fast_deaths) ? w->backoff_ms : 0;
	return KF_OK;
}

uint64_t kf_pool_inflight(const struct kf_pool *p)
{
	return p->inflight;
}

size_t kf_pool_inflight_bytes(const struct kf_pool *p)
{
	return p->used;
}

struct kf_ring *kf_pool_ring(struct kf_pool *p, int worker)
{
	if (worker < 0 || worker >= p->nslots || !p->w[worker] || !p->w[worker]->present)
		return NULL;
	return &p->w[worker]->ring;
}
