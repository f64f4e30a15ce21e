/*
 * h_exec: the `exec` handler.  Runs the configured command as a child of
 * the worker and streams records to its stdin (README "Handlers",
 * etc/examples/README.md):
 *
 *	TOPIC PARTITION OFFSET TIMESTAMP_MS KEYLEN VALUELEN\n   (len -1: null)
 *	KEY bytes, VALUE bytes, \n
 *
 * and reads one answer line per record, in order, from its stdout: `ok`,
 * `retry` (optionally `retry REASON`) or `fail REASON`.  Its stderr is
 * read through a pipe and logged line by line as "worker N: LINE".
 *
 * Window and order.  Up to `window` records are outstanding (sent or
 * being retried, or answered but waiting for an older record's ack: acks
 * go to the supervisor in ring order, which the ring requires).  Records
 * reach the command in ring order.  After a `retry` answer the worker
 * sends nothing new: the records already sent are answered, then the
 * retried record is sent again after its backoff, alone, until it is
 * answered `ok` or `fail` (or its retries run out); only then does
 * streaming resume.  So a record is never overtaken by a record the
 * command had not seen when it asked for the retry; with window = 1
 * every record is finished, retries included, before the next is sent.
 *
 * The command exiting (or closing its stdout, or writing a line that is
 * not an answer) costs the oldest unanswered record one attempt (it is
 * the one the command was working on, answers being in order); a new
 * command is started (at once if the old one answered anything, else with
 * a backoff doubling from 100 ms to 10 s) and every unanswered record is
 * sent to it again, in the same order.  A record that used up max_retries
 * + 1 attempts this way is reported failed with the exit status.
 *
 * A command that stops answering is the pool's business (stall_timeout);
 * the worker waits, but still sees SIGTERM and dies with the supervisor.
 * SIGTERM: nothing new is read from the ring; the records in hand are
 * finished (answers, retries), then the command's stdin is closed (EOF:
 * "exit now"), it gets KF_EXEC_EXIT_WAIT_MS to exit, then SIGKILL.  With
 * stop_grace_ms set, records still unanswered after it are abandoned (not
 * acked, so the next worker gets them) and the command is killed.
 *
 * The command runs with SIGINT and SIGHUP ignored (it is stopped by EOF,
 * not by the terminal), other signals at their defaults, no descriptor of
 * the worker but 0, 1 and 2, and PR_SET_PDEATHSIG(SIGKILL) so it dies with
 * its worker.
 *
 * worker.c knows this handler only as kf_handler_exec, a struct kf_handler
 * whose run takes the loop over; this file uses worker.c's helpers
 * (handlers.h), and worker.c calls nothing here by name.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "exec_answer.h"
#include "handlers.h"
#include "log.h"

#define KF_EXEC_DEFAULT_WINDOW 64
#define KF_EXEC_EXIT_WAIT_MS 2000
#define KF_EXEC_RESTART_MIN_MS 100
#define KF_EXEC_RESTART_MAX_MS 10000
#define KF_EXEC_LINE_MAX 4096       /* longest stderr line kept whole */
#define KF_EXEC_IOV_RECORDS 16      /* records gathered into one writev */

enum ent_state {
	ENT_SENT = 0,               /* in the send queue: being written or answer awaited */
	ENT_RETRY,                  /* answered retry, to be sent again at retry_at */
	ENT_DONE,                   /* answered; acked when it reaches the head */
};

struct ent {
	struct kf_ring_rec rec;
	enum ent_state state;
	uint32_t attempt;           /* deliveries so far, earlier workers' included */
	uint32_t retries;           /* retry answers so far: the backoff exponent */
	int64_t retry_at;
	bool failed;                /* DONE: acked as failed with reason */
	char *reason;               /* DONE and failed: malloc'd */
	char hdr[KF_RING_TOPIC_MAX + 96];
	size_t hdr_len;
};

struct exec {
	struct kf_worker *w;
	uint32_t max_attempts;
	/* Records in hand, ring order: ents[(head + i) % cap], i < count. */
	struct ent *ents;
	size_t cap, head, count;
	size_t n_retrying;          /* entries with retries > 0 not yet DONE */
	/* Send queue (write order = answer order): slot indices into ents.
	 * Positions never wrap: [q_ans, q_tail) await answers, [q_wr, q_tail)
	 * are still (partly) to write, q_ans <= q_wr. */
	size_t *q;
	uint64_t q_ans, q_wr, q_tail;
	size_t wpos;                /* bytes of q[q_wr] already written */
	bool ack_blocked;           /* the ack ring was full */
	/* The command. */
	pid_t pid;                  /* 0: not running */
	int in_fd, out_fd, err_fd;  /* -1 when closed */
	bool spawned;               /* started at least once */
	bool answered;              /* this instance answered at least once */
	char why[200];              /* set: it broke the protocol, kill it */
	int64_t restart_at;
	int64_t restart_delay;
	struct kf_exec_lines answers;   /* its stdout, split into lines */
	char ebuf[KF_EXEC_LINE_MAX];
	size_t elen;
	int64_t stop_at;            /* when SIGTERM was seen; 0: running */
};

static struct ent *ent_at(struct exec *x, size_t i)
{
	return &x->ents[(x->head + i) % x->cap];
}

static size_t slot_of(struct exec *x, const struct ent *e)
{
	return (size_t)(e - x->ents);
}

static size_t ent_len(const struct ent *e)
{
	return e->hdr_len + (size_t)(e->rec.key_len > 0 ? e->rec.key_len : 0) +
	       (size_t)(e->rec.value_len > 0 ? e->rec.value_len : 0) + 1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- the command's process ---- */

/* In the forked child: never returns. */
static void child_exec(struct kf_worker *w, pid_t worker, int in, int out, int err, int status_fd)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != worker)
		_exit(127);
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(err, 2) == -1)
		goto fail;
	/* Whatever the supervisor left open (sockets, the ring) stays out of
	 * the command; the status pipe closes on exec too. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		for (int fd = 3; fd < 65536; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	execvp(w->conf->handler.command[0], w->conf->handler.command);
fail:;
	int e = errno;
	ssize_t n = write(status_fd, &e, sizeof(e));
	(void)n;
	_exit(127);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Start the command.  KF_OK, or KF_ERR when it could not be started
 * (logged). */
static int child_spawn(struct exec *x)
{
	struct kf_worker *w = x->w;
	char *const *argv = w->conf->handler.command;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, st[2] = { -1, -1 };
	int rc = KF_ERR;

	if (!argv || !argv[0]) {
		kf_err(w->comp, "exec: no command");
		return KF_ERR;
	}
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1 || pipe2(st, O_CLOEXEC) == -1) {
		kf_err(w->comp, "exec: pipe: %s", strerror(errno));
		goto out_close;
	}
	pid_t me = getpid();
	pid_t pid = fork();
	if (pid == -1) {
		kf_err(w->comp, "exec: fork: %s", strerror(errno));
		goto out_close;
	}
	if (pid == 0)
		child_exec(w, me, in[0], out[1], err[1], st[1]);
	close_fd(&st[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(st[0], &e, sizeof(e));
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		kf_err(w->comp, "exec %s: %s", argv[0], strerror(e));
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		goto out_close;
	}
	x->pid = pid;
	x->in_fd = in[1];
	in[1] = -1;
	x->out_fd = out[0];
	out[0] = -1;
	x->err_fd = err[0];
	err[0] = -1;
	set_nonblock(x->in_fd);
	set_nonblock(x->out_fd);
	set_nonblock(x->err_fd);
	x->answered = false;
	kf_exec_lines_reset(&x->answers);
	x->elen = 0;
	kf_info(w->comp, "exec: started %s, pid %d", argv[0], (int)pid);
	rc = KF_OK;
out_close:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
		close_fd(&err[i]);
		close_fd(&st[i]);
	}
	return rc;
}

static void log_stderr_line(struct exec *x, const char *s, size_t len)
{
	kf_info(x->w->comp, "%.*s", (int)len, s);
}

/* Log the command's stderr a line at a time; at_exit flushes a last line
 * without its newline. */
static void read_stderr(struct exec *x, bool at_exit)
{
	while (x->err_fd >= 0) {
		ssize_t n = read(x->err_fd, x->ebuf + x->elen, sizeof(x->ebuf) - x->elen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				close_fd(&x->err_fd);
			break;
		}
		x->elen += (size_t)n;
		char *p = x->ebuf, *end = x->ebuf + x->elen, *nl;
		while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
			log_stderr_line(x, p, (size_t)(nl - p));
			p = nl + 1;
		}
		x->elen = (size_t)(end - p);
		memmove(x->ebuf, p, x->elen);
		if (x->elen == sizeof(x->ebuf)) {   /* an overlong line: cut */
			log_stderr_line(x, x->ebuf, x->elen);
			x->elen = 0;
		}
	}
	if (at_exit && x->elen) {
		log_stderr_line(x, x->ebuf, x->elen);
		x->elen = 0;
	}
}

static void set_done(struct exec *x, struct ent *e, bool failed, const char *reason)
{
	if (e->retries > 0)
		x->n_retrying--;
	e->state = ENT_DONE;
	e->failed = failed;
	if (failed) {
		e->reason = strndup(reason, KF_RING_REASON_MAX - 1);
		kf_warn(x->w->comp, "%s/%d@%lld failed after %u attempts: %s",
			kf_ring_topic(x->w->ring, e->rec.topic), e->rec.partition,
			(long long)e->rec.offset, e->attempt, reason);
	}
}

/* The command is gone (reaped with status, or why is a protocol error):
 * close its pipes, charge the oldest unanswered record an attempt, and
 * queue every unanswered record to be written again to the next one. */
static void child_gone(struct exec *x, int status, const char *why)
{
	struct kf_worker *w = x->w;
	char desc[200];
	int64_t now = kf_worker_now_ms();

	if (why)
		snprintf(desc, sizeof(desc), "%s", why);
	else
		kf_wait_status_str(status, desc, sizeof(desc));
	read_stderr(x, true);
	close_fd(&x->in_fd);
	close_fd(&x->out_fd);
	close_fd(&x->err_fd);
	x->pid = 0;
	kf_warn(w->comp, "exec: command %s with %llu records unanswered", desc,
		(unsigned long long)(x->q_tail - x->q_ans));

	if (x->answered)
		x->restart_delay = 0;
	else if (x->restart_delay < KF_EXEC_RESTART_MIN_MS)
		x->restart_delay = KF_EXEC_RESTART_MIN_MS;
	else if ((x->restart_delay *= 2) > KF_EXEC_RESTART_MAX_MS)
		x->restart_delay = KF_EXEC_RESTART_MAX_MS;
	x->restart_at = now + x->restart_delay;

	x->why[0] = '\0';
	x->q_wr = x->q_ans;
	x->wpos = 0;
	if (x->q_ans == x->q_tail)
		return;
	struct ent *e = &x->ents[x->q[x->q_ans % x->cap]];
	if (e->attempt < x->max_attempts) {
		e->attempt++;
		kf_ring_attempt(w->ring, &e->rec);
		return;
	}
	char reason[KF_RING_REASON_MAX];
	snprintf(reason, sizeof(reason), "command %s while holding it (%u attempts)", desc,
		 e->attempt);
	set_done(x, e, true, reason);
	x->q_ans++;
	x->q_wr = x->q_ans;
}

/* Kill the command and reap it; why says what it did wrong (NULL: we are
 * done with it). */
static void child_kill(struct exec *x, const char *why)
{
	int status = 0;
	if (x->pid <= 0)
		return;
	kill(x->pid, SIGKILL);
	while (waitpid(x->pid, &status, 0) == -1 && errno == EINTR)
		;
	child_gone(x, status, why);
}

/* Wait up to ms for the command to exit by itself: 1 and *status if it
 * did. */
static int child_wait(struct exec *x, int ms, int *status)
{
	for (int waited = 0;; waited += 5) {
		if (waitpid(x->pid, status, WNOHANG) == x->pid)
			return 1;
		if (waited >= ms)
			return 0;
		struct timespec ts = { 0, 5 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

static void read_answers(struct exec *x);

/* After a poll: act on what the command did. */
static void child_check(struct exec *x)
{
	int status;

	if (x->pid <= 0)
		return;
	if (x->why[0]) {
		char why[sizeof(x->why)];
		memcpy(why, x->why, sizeof(why));
		child_kill(x, why);
	} else if (kf_worker_take_sigchld() && waitpid(x->pid, &status, WNOHANG) == x->pid) {
		read_answers(x);    /* what it wrote before it died counts */
		child_gone(x, status, NULL);
	} else if (x->out_fd < 0) {
		/* It closed stdout: no answer can come.  Usually it is exiting;
		 * take its own status if it comes soon. */
		if (child_wait(x, 200, &status))
			child_gone(x, status, NULL);
		else
			child_kill(x, "closed its stdout");
	}
}

/* ---- answers ---- */

/* One answer line (without its newline), kf_exec_line_fn for x.  false:
 * not an answer (x->why says what it was; the command is killed after the
 * poll). */
static bool on_answer(void *opaque, char *line, size_t len)
{
	struct exec *x = opaque;
	const char *r;
	enum kf_exec_verdict v = kf_exec_answer_parse(line, len, &r);
	if (x->q_ans == x->q_wr) {
		snprintf(x->why, sizeof(x->why), "answered \"%.60s\" before it was sent a record",
			 line);
		return false;
	}
	struct ent *e = &x->ents[x->q[x->q_ans % x->cap]];
	if (v == KF_EXEC_OK) {
		set_done(x, e, false, NULL);
	} else if (v == KF_EXEC_FAIL) {
		set_done(x, e, true, r);
	} else if (v == KF_EXEC_RETRY) {
		if (e->attempt >= x->max_attempts) {
			char reason[KF_RING_REASON_MAX];
			snprintf(reason, sizeof(reason), "retries exhausted after %u attempts%s%.400s",
				 e->attempt, *r ? ": " : "", r);
			set_done(x, e, true, reason);
		} else {
			if (e->retries++ == 0)
				x->n_retrying++;
			int64_t delay = kf_worker_backoff_ms(x->w->conf, e->retries);
			e->state = ENT_RETRY;
			e->retry_at = kf_worker_now_ms() + delay;
			kf_debug(x->w->comp, "%s/%d@%lld: retry in %lld ms%s%s",
				 kf_ring_topic(x->w->ring, e->rec.topic), e->rec.partition,
				 (long long)e->rec.offset, (long long)delay, *r ? ": " : "", r);
		}
	} else {
		snprintf(x->why, sizeof(x->why), "wrote \"%.60s\", not ok, retry or fail", line);
		return false;
	}
	x->q_ans++;
	x->answered = true;
	return true;
}

/* Read and apply answers until the pipe is empty.  EOF closes out_fd. */
static void read_answers(struct exec *x)
{
	while (x->out_fd >= 0 && !x->why[0]) {
		size_t room;
		char *tail = kf_exec_lines_tail(&x->answers, &room);
		ssize_t n = read(x->out_fd, tail, room);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return;
		if (n == 0) {
			close_fd(&x->out_fd);
			return;
		}
		/* STOPPED: on_answer set x->why, which ends the loop. */
		if (kf_exec_lines_push(&x->answers, (size_t)n, on_answer, x) ==
		    KF_EXEC_LINES_OVERLONG)
			snprintf(x->why, sizeof(x->why), "wrote an answer line over %zu bytes",
				 x->answers.len);
	}
}

/* ---- records in and out ---- */

static void ack_done(struct exec *x)
{
	while (x->count && ent_at(x, 0)->state == ENT_DONE) {
		struct ent *e = ent_at(x, 0);
		struct kf_ring_ack ack = {
			.slot = e->rec.slot,
			.status = e->failed ? KF_ACK_FAILED : KF_ACK_OK,
			.offset = e->rec.offset,
			.attempts = e->attempt,
			.end = e->rec.end,
			.reason = e->failed && e->reason ? e->reason : "",
		};
		int rc = kf_ring_ack(x->w->ring, &ack);
		x->ack_blocked = rc == KF_EAGAIN;
		if (rc == KF_EAGAIN)
			return;
		if (rc != KF_OK)
			kf_err(x->w->comp, "ack of offset %lld: %s", (long long)e->rec.offset,
			       kf_strerror(rc));
		free(e->reason);
		e->reason = NULL;
		x->head = (x->head + 1) % x->cap;
		x->count--;
	}
}

static void queue_send(struct exec *x, struct ent *e)
{
	e->attempt++;
	kf_ring_attempt(x->w->ring, &e->rec);
	e->state = ENT_SENT;
	x->q[x->q_tail++ % x->cap] = slot_of(x, e);
}

/* Take new records from the ring while the window has room.  Returns
 * KF_OK or a ring error. */
static int read_new(struct exec *x)
{
	while (x->count < x->cap && x->n_retrying == 0) {
		struct ent *e = &x->ents[(x->head + x->count) % x->cap];
		int rc = kf_ring_next(x->w->ring, &e->rec);
		if (rc <= 0)
			return rc;
		x->count++;
		e->retries = 0;
		e->failed = false;
		e->reason = NULL;
		e->attempt = e->rec.attempts;
		const char *topic = kf_ring_topic(x->w->ring, e->rec.topic);
		int n = snprintf(e->hdr, sizeof(e->hdr), "%s %" PRId32 " %" PRId64 " %" PRId64
				 " %" PRId32 " %" PRId32 "\n", topic, e->rec.partition, e->rec.offset,
				 e->rec.timestamp, e->rec.key_len, e->rec.value_len);
		e->hdr_len = (size_t)n < sizeof(e->hdr) ? (size_t)n : sizeof(e->hdr) - 1;
		if (e->attempt >= x->max_attempts) {
			char reason[KF_RING_REASON_MAX];
			snprintf(reason, sizeof(reason),
				 "gave up after %u attempts (workers died or stalled on it)", e->attempt);
			set_done(x, e, true, reason);
			continue;
		}
		queue_send(x, e);
	}
	return KF_OK;
}

/* With nothing awaiting an answer, send the oldest record due for a retry.
 * Returns the ms until one is due (-1: none waiting). */
static int64_t queue_retry(struct exec *x, int64_t now)
{
	if (x->q_ans != x->q_tail || x->n_retrying == 0)
		return -1;
	for (size_t i = 0; i < x->count; i++) {
		struct ent *e = ent_at(x, i);
		if (e->state != ENT_RETRY)
			continue;
		if (e->retry_at > now)
			return e->retry_at - now;
		queue_send(x, e);
		return -1;
	}
	return -1;
}

/* Write what is queued, as far as the pipe takes it. */
static void write_out(struct exec *x)
{
	while (x->in_fd >= 0 && x->q_wr < x->q_tail) {
		struct iovec iov[4 * KF_EXEC_IOV_RECORDS];
		int niov = 0;
		size_t skip = x->wpos;
		for (uint64_t i = x->q_wr; i < x->q_tail && niov + 4 <= (int)(4 * KF_EXEC_IOV_RECORDS); i++) {
			struct ent *e = &x->ents[x->q[i % x->cap]];
			struct { const void *p; size_t len; } seg[4] = {
				{ e->hdr, e->hdr_len },
				{ e->rec.key, e->rec.key_len > 0 ? (size_t)e->rec.key_len : 0 },
				{ e->rec.value, e->rec.value_len > 0 ? (size_t)e->rec.value_len : 0 },
				{ "\n", 1 },
			};
			for (int s = 0; s < 4; s++) {
				if (skip >= seg[s].len) {
					skip -= seg[s].len;
					continue;
				}
				iov[niov].iov_base = (void *)((const char *)seg[s].p + skip);
				iov[niov].iov_len = seg[s].len - skip;
				niov++;
				skip = 0;
			}
		}
		ssize_t n = writev(x->in_fd, iov, niov);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)   /* EPIPE: it is exiting; the reap tells */
				close_fd(&x->in_fd);
			return;
		}
		size_t left = (size_t)n;
		while (left) {
			size_t rem = ent_len(&x->ents[x->q[x->q_wr % x->cap]]) - x->wpos;
			if (left < rem) {
				x->wpos += left;
				break;
			}
			left -= rem;
			x->q_wr++;
			x->wpos = 0;
		}
	}
}

/* ---- the loop ---- */

static int64_t min_timeout(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* After the loop: close stdin (EOF asks the command to exit), give it
 * KF_EXEC_EXIT_WAIT_MS, then kill it. */
static void child_stop(struct exec *x)
{
	close_fd(&x->in_fd);
	int64_t until = kf_worker_now_ms() + KF_EXEC_EXIT_WAIT_MS;
	while (x->pid > 0) {
		int64_t left = until - kf_worker_now_ms();
		if (left <= 0) {
			child_kill(x, "did not exit after EOF on its stdin");
			break;
		}
		struct pollfd p[2] = {
			{ .fd = x->w->sig_fd, .events = POLLIN },
			{ .fd = x->err_fd, .events = POLLIN },
		};
		poll(p, 2, (int)(left < 50 ? left : 50));
		if (p[0].revents & POLLIN)
			kf_worker_sig_drain(x->w);
		read_stderr(x, false);
		int status;
		if (waitpid(x->pid, &status, WNOHANG) == x->pid) {
			read_stderr(x, true);
			if (status != 0) {
				char desc[100];
				kf_wait_status_str(status, desc, sizeof(desc));
				kf_info(x->w->comp, "exec: command %s", desc);
			}
			x->pid = 0;
		}
	}
	close_fd(&x->out_fd);
	close_fd(&x->err_fd);
}

static bool want_ring(struct exec *x)
{
	return x->ack_blocked ||
	       (!x->stop_at && x->pid > 0 && x->count < x->cap && x->n_retrying == 0);
}

static int exec_loop(struct exec *x)
{
	struct kf_worker *w = x->w;
	int grace = w->conf->stop_grace_ms;

	for (;;) {
		int64_t now = kf_worker_now_ms();
		int64_t timeout = -1;

		if (kf_worker_stopping() && !x->stop_at) {
			x->stop_at = now;
			kf_info(w->comp, "stopping with %zu records in hand", x->count);
		}
		ack_done(x);
		if (x->stop_at) {
			if (x->count == 0)
				return KF_WORKER_EXIT_OK;
			if (x->pid == 0) {
				kf_warn(w->comp, "exec: command gone while stopping; %zu records "
					"left for the next worker", x->count);
				return KF_WORKER_EXIT_OK;
			}
			if (grace > 0 && now - x->stop_at >= grace) {
				kf_warn(w->comp, "exec: %zu records unanswered %d ms after SIGTERM; "
					"left for the next worker", x->count, grace);
				child_kill(x, NULL);
				return KF_WORKER_EXIT_OK;
			}
			if (grace > 0)
				timeout = x->stop_at + grace - now;
		}
		if (x->pid == 0) {
			if (now >= x->restart_at) {
				if (child_spawn(x) == KF_OK) {
					x->spawned = true;
				} else if (!x->spawned) {
					return KF_WORKER_EXIT_INIT;
				} else {
					x->restart_delay = KF_EXEC_RESTART_MAX_MS;
					x->restart_at = now + x->restart_delay;
				}
			}
			if (x->pid == 0)
				timeout = min_timeout(timeout, x->restart_at - now);
		}
		if (x->pid > 0) {
			if (!x->stop_at) {
				int rc = read_new(x);
				if (rc < 0) {
					kf_err(w->comp, "record ring: %s", kf_strerror(rc));
					return KF_WORKER_EXIT_RING;
				}
				/* read_new may have given up on a record that
				 * killed earlier workers: ack it before sleeping. */
				ack_done(x);
			}
			timeout = min_timeout(timeout, queue_retry(x, now));
			write_out(x);
		}

		struct pollfd p[5];
		int np = 0, ring_i = -1, in_i = -1, out_i = -1, err_i = -1;
		p[np++] = (struct pollfd){ .fd = w->sig_fd, .events = POLLIN };
		if (want_ring(x)) {
			if (!kf_ring_worker_sleep(w->ring)) {
				timeout = 0;    /* a record, or room for the ack */
			} else {
				ring_i = np;
				p[np++] = (struct pollfd){ .fd = w->ring->rec_efd, .events = POLLIN };
			}
		}
		if (x->in_fd >= 0 && x->q_wr < x->q_tail) {
			in_i = np;
			p[np++] = (struct pollfd){ .fd = x->in_fd, .events = POLLOUT };
		}
		if (x->out_fd >= 0) {
			out_i = np;
			p[np++] = (struct pollfd){ .fd = x->out_fd, .events = POLLIN };
		}
		if (x->err_fd >= 0) {
			err_i = np;
			p[np++] = (struct pollfd){ .fd = x->err_fd, .events = POLLIN };
		}
		if (timeout > INT_MAX)
			timeout = INT_MAX;
		if (poll(p, (nfds_t)np, (int)timeout) == -1 && errno != EINTR) {
			kf_err(w->comp, "poll: %s", strerror(errno));
			return KF_WORKER_EXIT_RING;
		}
		if (p[0].revents & POLLIN)
			kf_worker_sig_drain(w);
		if (ring_i >= 0 && (p[ring_i].revents & POLLIN))
			kf_ring_worker_woken(w->ring);
		if (err_i >= 0 && p[err_i].revents)
			read_stderr(x, false);
		if (out_i >= 0 && p[out_i].revents)
			read_answers(x);
		(void)in_i;         /* writable: write_out runs at the top */
		child_check(x);
	}
}

static int exec_run(struct kf_worker *w)
{
	struct exec x = {
		.w = w,
		.max_attempts = kf_worker_max_attempts(w->conf),
		.in_fd = -1, .out_fd = -1, .err_fd = -1,
	};
	int window = w->conf->handler.window > 0 ? w->conf->handler.window :
						     KF_EXEC_DEFAULT_WINDOW;

	x.cap = (size_t)window;
	x.ents = calloc(x.cap, sizeof(*x.ents));
	x.q = calloc(x.cap, sizeof(*x.q));
	if (!x.ents || !x.q) {
		kf_err(w->comp, "exec: out of memory for a window of %d", window);
		free(x.ents);
		free(x.q);
		return KF_WORKER_EXIT_INIT;
	}
	int status = exec_loop(&x);
	child_stop(&x);
	for (size_t i = 0; i < x.cap; i++)
		free(x.ents[i].reason);
	free(x.ents);
	free(x.q);
	return status;
}

/* Takes the worker's loop over (handlers.h): streaming a window of records
 * does not fit worker.c's one record at a time; the child's exit is seen
 * through SIGCHLD. */
const struct kf_handler kf_handler_exec = {
	.run = exec_run,
	.catch_sigchld = true,
};
