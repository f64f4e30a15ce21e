/*
 * worker: see worker.h.  Runs in the forked worker process only; never
 * returns into the supervisor's code paths (the caller _exit()s).
 *
 * Signals: everything the supervisor installed (libev's handlers, its
 * mask) is reset at start.  SIGTERM only sets a flag and writes a byte to a
 * self-pipe, so the loop sees it whether it is running a handler (the
 * record finishes first) or sleeping in poll (the pipe wakes it; no race
 * between the flag test and the sleep).  SA_RESTART keeps plugin code's
 * system calls from failing with EINTR.  SIGINT and SIGHUP are ignored: a
 * Ctrl-C on the terminal reaches the whole process group, and it is the
 * supervisor's job to drain and stop the workers.  SIGPIPE is ignored so a
 * dead exec child is an EPIPE, not a dead worker.
 *
 * The supervisor's death kills the worker at once (PR_SET_PDEATHSIG with
 * SIGKILL): nothing the worker could still do would reach anyone, and a
 * plugin stuck in user code could not be interrupted any other way.
 *
 * This file knows the handlers only through struct kf_handler
 * (handlers.h) and the table of them by type below.  A synchronous handler
 * gives process() and runs in run_sync(); a handler that needs a loop of
 * its own (exec streams a window of records to a child) gives run(), which
 * takes over from here and uses the helpers handlers.h lists.  So calls go
 * one way, from the handler modules into this file's helpers, and no
 * handler is special-cased here: a new one is an entry in the table (and a
 * word in lib/kfconfig.c).  The helpers stay here rather than in a file of
 * their own because they are this loop's own machinery (the self-pipe and
 * its flags, ring waits), which both loops share.
 *
 * Handler type names: the one list is lib/kfconfig.c's (the config words);
 * enum kf_handler_type mirrors enum kf_cfg_handler_type, which the
 * supervisor casts into it, and the asserts below keep the two equal.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "handlers.h"
#include "kfconfig.h"
#include "log.h"

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t chld_flag;
static int sig_wfd = -1;            /* self-pipe write end, for the handler */

#define SAME_HANDLER(w, c) \
	_Static_assert((int)(w) == (int)(c), #w " differs from " #c)
SAME_HANDLER(KF_HANDLER_NOOP, KF_CFG_HANDLER_NOOP);
SAME_HANDLER(KF_HANDLER_FILE, KF_CFG_HANDLER_FILE);
SAME_HANDLER(KF_HANDLER_BURN, KF_CFG_HANDLER_BURN);
SAME_HANDLER(KF_HANDLER_PLUGIN, KF_CFG_HANDLER_PLUGIN);
SAME_HANDLER(KF_HANDLER_EXEC, KF_CFG_HANDLER_EXEC);

static const struct kf_handler *const handlers[] = {
	[KF_HANDLER_NOOP] = &kf_handler_noop,
	[KF_HANDLER_FILE] = &kf_handler_file,
	[KF_HANDLER_BURN] = &kf_handler_burn,
	[KF_HANDLER_PLUGIN] = &kf_handler_plugin,
	[KF_HANDLER_EXEC] = &kf_handler_exec,
};

const char *kf_handler_type_name(enum kf_handler_type t)
{
	return kf_cfg_handler_type_name((enum kf_cfg_handler_type)t);
}

/* The handler of type t; NULL for a value outside the enum. */
static const struct kf_handler *handler_of(enum kf_handler_type t)
{
	if ((unsigned)t < sizeof(handlers) / sizeof(handlers[0]))
		return handlers[t];
	return NULL;
}

static void on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGTERM)
		stop_flag = 1;
	else if (sig == SIGCHLD)
		chld_flag = 1;
	char c = (char)sig;
	ssize_t n = write(sig_wfd, &c, 1);  /* full pipe: a wakeup is pending */
	(void)n;
	errno = saved;
}

bool kf_worker_stopping(void)
{
	return stop_flag != 0;
}

bool kf_worker_take_sigchld(void)
{
	if (!chld_flag)
		return false;
	chld_flag = 0;
	return true;
}

void kf_worker_sig_drain(struct kf_worker *w)
{
	char buf[64];
	while (read(w->sig_fd, buf, sizeof(buf)) > 0)
		;
}

int64_t kf_worker_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kf_worker_backoff_ms(const struct kf_worker_conf *c, uint32_t n)
{
	int64_t d = c->retry_backoff_ms > 0 ? c->retry_backoff_ms : 0;
	for (uint32_t i = 1; i < n && d < KF_WORKER_BACKOFF_MAX_MS; i++)
		d *= 2;
	return d < KF_WORKER_BACKOFF_MAX_MS ? d : KF_WORKER_BACKOFF_MAX_MS;
}

uint32_t kf_worker_max_attempts(const struct kf_worker_conf *c)
{
	return 1 + (uint32_t)(c->max_retries > 0 ? c->max_retries : 0);
}

/* Reset what the supervisor left behind and install the worker's own
 * dispositions.  catch_chld: the handler waits for children of its own
 * (struct kf_handler's catch_sigchld). */
static int setup_signals(struct kf_worker *w, bool catch_chld)
{
	int p[2];
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1) {
		kf_err(w->comp, "pipe: %s", strerror(errno));
		return KF_ERR;
	}
	w->sig_fd = p[0];
	sig_wfd = p[1];
	stop_flag = 0;
	chld_flag = 0;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < SIGRTMIN; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	if (catch_chld) {
		sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
		sigaction(SIGCHLD, &sa, NULL);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	return KF_OK;
}

/* Sleep until the ring may have work (a record, or room for an ack), a
 * signal arrives, or timeout_ms passes (-1: no limit). */
static void wait_ring(struct kf_worker *w, int timeout_ms)
{
	if (!kf_ring_worker_sleep(w->ring))
		return;
	struct pollfd p[2] = {
		{ .fd = w->ring->rec_efd, .events = POLLIN },
		{ .fd = w->sig_fd, .events = POLLIN },
	};
	if (poll(p, 2, timeout_ms) == -1 && errno != EINTR)
		kf_err(w->comp, "poll: %s", strerror(errno));
	if (p[1].revents & POLLIN)
		kf_worker_sig_drain(w);
	if (p[0].revents & POLLIN)
		kf_ring_worker_woken(w->ring);
}

/* Sleep ms milliseconds; signals are noted (the flag) but do not cut it
 * short, because a record in progress is finished, retries included. */
static void sleep_ms(struct kf_worker *w, int64_t ms)
{
	int64_t until = kf_worker_now_ms() + ms;
	for (int64_t left = ms; left > 0; left = until - kf_worker_now_ms()) {
		struct pollfd p = { .fd = w->sig_fd, .events = POLLIN };
		if (poll(&p, 1, (int)left) > 0)
			kf_worker_sig_drain(w);
	}
}

void kf_worker_push_ack(struct kf_worker *w, const struct kf_ring_ack *ack)
{
	for (;;) {
		int rc = kf_ring_ack(w->ring, ack);
		if (rc == KF_OK)
			return;
		if (rc != KF_EAGAIN) {
			kf_err(w->comp, "ack of offset %lld: %s", (long long)ack->offset,
			       kf_strerror(rc));
			return;
		}
		/* After KF_EAGAIN the ring's sleep waits for ack room. */
		wait_ring(w, -1);
	}
}

/* Run one record through a synchronous handler, retries included, and ack
 * it.  rec->attempts counts earlier deliveries (a worker died or stalled
 * on it): they use up the same budget, so a record that kills every
 * worker is reported failed instead of looping forever. */
static void run_record(struct kf_worker *w, const struct kf_handler *h, void *state,
		       struct kf_ring_rec *rec)
{
	const struct kf_worker_conf *c = w->conf;
	const char *topic = kf_ring_topic(w->ring, rec->topic);
	uint32_t max = kf_worker_max_attempts(c);
	uint32_t attempt = rec->attempts;
	char reason[KF_RING_REASON_MAX];
	int st = KFORK_FAIL;

	reason[0] = '\0';
	if (attempt >= max)
		snprintf(reason, sizeof(reason),
			 "gave up after %u attempts (workers died or stalled on it)", attempt);
	for (uint32_t retry = 0; attempt < max; retry++) {
		attempt++;
		kf_ring_attempt(w->ring, rec);
		reason[0] = '\0';
		struct kf_delivery d = { rec, topic, attempt, reason };
		st = h->process(w, state, &d);
		if (st == KFORK_OK || st == KFORK_FAIL)
			break;
		if (st != KFORK_RETRY) {
			snprintf(reason, sizeof(reason), "handler returned %d", st);
			st = KFORK_FAIL;
			break;
		}
		if (attempt >= max) {
			char last[KF_RING_REASON_MAX];
			memcpy(last, reason, sizeof(last));
			snprintf(reason, sizeof(reason), "retries exhausted after %u attempts: %.400s",
				 attempt, last);
			st = KFORK_FAIL;
			break;
		}
		int64_t delay = kf_worker_backoff_ms(c, retry + 1);
		kf_debug(w->comp, "%s/%d@%lld: retry in %lld ms: %s", topic, rec->partition,
			 (long long)rec->offset, (long long)delay, reason);
		sleep_ms(w, delay);
	}
	if (st == KFORK_OK)
		reason[0] = '\0';
	else
		kf_warn(w->comp, "%s/%d@%lld failed after %u attempts: %s", topic,
			rec->partition, (long long)rec->offset, attempt, reason);
	struct kf_ring_ack ack = {
		.slot = rec->slot,
		.status = st == KFORK_OK ? KF_ACK_OK : KF_ACK_FAILED,
		.offset = rec->offset,
		.attempts = attempt,
		.end = rec->end,
		.reason = reason,
	};
	kf_worker_push_ack(w, &ack);
}

static int run_sync(struct kf_worker *w, const struct kf_handler *h)
{
	void *state = NULL;
	int status = KF_WORKER_EXIT_OK;

	if (h->init && h->init(w, &state) != KF_OK)
		return KF_WORKER_EXIT_INIT;
	while (!kf_worker_stopping()) {
		struct kf_ring_rec rec;
		int rc = kf_ring_next(w->ring, &rec);
		if (rc == 1) {
			run_record(w, h, state, &rec);
		} else if (rc == 0) {
			wait_ring(w, -1);
		} else {
			kf_err(w->comp, "record ring: %s", kf_strerror(rc));
			status = KF_WORKER_EXIT_RING;
			break;
		}
	}
	if (h->fini)
		h->fini(w, state);
	return status;
}

int kf_worker_main(struct kf_ring *ring, const struct kf_worker_conf *conf)
{
	struct kf_worker w = { .ring = ring, .conf = conf, .sig_fd = -1 };
	const struct kf_handler *h = handler_of(conf->handler.type);
	int status;

	snprintf(w.comp, sizeof(w.comp), "worker %d", conf->id);
	/* Set first, then look: if the supervisor died before the prctl, no
	 * signal will ever come, but we are already reparented. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		kf_warn(w.comp, "PR_SET_PDEATHSIG: %s", strerror(errno));
	if (conf->supervisor_pid > 0 && getppid() != conf->supervisor_pid) {
		kf_info(w.comp, "supervisor %d already gone, exiting", (int)conf->supervisor_pid);
		return KF_WORKER_EXIT_OK;
	}
	if (!h) {
		kf_err(w.comp, "unknown handler type %d", (int)conf->handler.type);
		return KF_WORKER_EXIT_INIT;
	}
	if (kf_ring_check(ring) != KF_OK) {
		kf_err(w.comp, "the ring's shared header does not match: not starting");
		return KF_WORKER_EXIT_RING;
	}
	if (setup_signals(&w, h->catch_sigchld) != KF_OK)
		return KF_WORKER_EXIT_INIT;
	if (conf->nice != 0) {
		errno = 0;
		if (nice(conf->nice) == -1 && errno != 0)
			kf_warn(w.comp, "nice %d: %s", conf->nice, strerror(errno));
	}
	kf_ring_worker_restart(ring);
	kf_debug(w.comp, "pid %d running handler %s", (int)getpid(),
		 kf_handler_type_name(conf->handler.type));

	status = h->run ? h->run(&w) : run_sync(&w, h);

	kf_debug(w.comp, "exiting with status %d", status);
	close(w.sig_fd);
	close(sig_wfd);
	sig_wfd = -1;
	return status;
}
