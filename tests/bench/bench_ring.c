/*
 * bench_ring: record throughput from a driver process (the supervisor's
 * side) through the shared-memory rings to 1, 2 and 4 worker processes
 * running the noop handler, for 64 B, 1 KiB and 64 KiB records; beside it,
 * in the same run, memcpy of the same bytes and the same records written
 * through a pipe between the same two processes (one write() per record,
 * as a pipe-based design would do).
 *
 *   bench_ring [SECONDS_PER_CASE [--minimal]]
 *
 * Workers run kf_worker_main() with the noop handler (worker/worker.c), or
 * with --minimal a bare next -> attempt -> ack loop.  Rings are the
 * defaults of workers.ring_bytes: 16 MiB of records and 4 MiB of acks per
 * worker; a warm-up lap touches every page first.  Prints figures, never
 * fails on them.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "ring.h"
#include "worker.h"

#define REC_RING (16u << 20)
#define ACK_RING (4u << 20)
#define MAX_WORKERS 4
#define BURST 256
#define PIPE_HDR 32

static bool minimal;
static volatile sig_atomic_t stop_flag;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* --minimal: the least a worker can do per record. */
static int minimal_loop(struct kf_ring *r)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	kf_ring_worker_restart(r);
	while (!stop_flag) {
		struct kf_ring_rec rec;
		int rc = kf_ring_next(r, &rec);
		if (rc < 0)
			return KF_WORKER_EXIT_RING;
		if (rc == 0) {
			kf_ring_wait(r, 100);
			continue;
		}
		kf_ring_attempt(r, &rec);
		struct kf_ring_ack ack = { .slot = rec.slot, .offset = rec.offset,
					   .attempts = rec.attempts, .end = rec.end };
		while (kf_ring_ack(r, &ack) == KF_EAGAIN)
			kf_ring_wait(r, 100);
	}
	return 0;
}

/* Pipe reader: count bytes to EOF, report them on res. */
static void pipe_reader(int in, int res)
{
	static uint8_t buf[1 << 16];
	uint64_t total = 0;
	ssize_t n;
	if (write(res, &total, sizeof(total)) != sizeof(total))   /* ready */
		_exit(1);
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		total += (uint64_t)n;
	}
	if (write(res, &total, sizeof(total)) != sizeof(total))
		_exit(1);
}

struct worker {
	struct kf_ring ring;
	pid_t pid;
};

/* Fork worker i on its ring; with a pipe (data_in >= 0), it reads the
 * pipe after its worker loop ends. */
static void spawn(struct worker *ws, int n, int i, int data_in, int data_out, int res_out)
{
	fflush(NULL);
	ws[i].pid = fork();
	if (ws[i].pid == -1) {
		perror("fork");
		exit(1);
	}
	if (ws[i].pid)
		return;
	for (int j = 0; j < n; j++)
		if (j != i)
			kf_ring_destroy(&ws[j].ring);
	if (data_out >= 0)
		close(data_out);
	struct kf_worker_conf conf = {
		.id = i,
		.handler = { .type = KF_HANDLER_NOOP },
		.max_retries = 5,
		.retry_backoff_ms = 100,
		.nice = 0,
	};
	int st = minimal ? minimal_loop(&ws[i].ring) : kf_worker_main(&ws[i].ring, &conf);
	if (data_in >= 0 && st == 0)
		pipe_reader(data_in, res_out);
	_exit(st);
}

/* Pop every ack of every ring; how many. */
static uint64_t pop_all(struct worker *ws, int n)
{
	uint64_t got = 0;
	for (int i = 0; i < n; i++) {
		struct kf_ring_ack ack;
		int rc;
		while ((rc = kf_ring_ack_pop(&ws[i].ring, &ack)) == 1)
			got++;
		if (rc < 0) {
			fprintf(stderr, "bench_ring: ack pop: %s\n", kf_strerror(rc));
			exit(1);
		}
	}
	return got;
}

/* Sleep until some worker acks (announce on every ring first). */
static void sleep_acks(struct worker *ws, int n)
{
	struct pollfd p[MAX_WORKERS];
	for (int i = 0; i < n; i++) {
		if (!kf_ring_ack_sleep(&ws[i].ring)) {
			for (int j = 0; j <= i; j++)
				kf_ring_ack_woken(&ws[j].ring);
			return;
		}
		p[i] = (struct pollfd){ .fd = ws[i].ring.ack_efd, .events = POLLIN };
	}
	poll(p, (nfds_t)n, 100);
	for (int i = 0; i < n; i++)
		kf_ring_ack_woken(&ws[i].ring);
}

/* Push records round robin for secs (or until `limit` records), then wait
 * for every ack.  Returns the records acked; *elapsed their time. */
static uint64_t pump(struct worker *ws, int n, const struct kf_ring_rec *tmpl, double secs,
		     uint64_t limit, double *elapsed)
{
	struct kf_ring_rec rec = *tmpl;
	uint64_t pushed = 0, acked = 0;
	double t0 = now_s(), end = t0 + secs;
	bool pushing = true;

	while (pushing || acked < pushed) {
		bool progress = false;
		for (int i = 0; pushing && i < n; i++) {
			for (int b = 0; b < BURST && pushed < limit; b++) {
				rec.offset = (int64_t)pushed;
				int rc = kf_ring_push(&ws[i].ring, &rec);
				if (rc == KF_EAGAIN)
					break;
				if (rc != KF_OK) {
					fprintf(stderr, "bench_ring: push: %s\n", kf_strerror(rc));
					exit(1);
				}
				pushed++;
				progress = true;
			}
		}
		uint64_t got = pop_all(ws, n);
		acked += got;
		if (pushing && (now_s() >= end || pushed >= limit))
			pushing = false;
		if (!progress && !got)
			sleep_acks(ws, n);
	}
	*elapsed = now_s() - t0;
	return acked;
}

struct ring_result {
	double recs_per_s, mb_per_s, wakeups_per_rec;
	uint64_t records;
};

static void ring_case(int n, size_t size, const uint8_t *value, double secs,
		      struct ring_result *res, double *pipe_recs, double *pipe_mb)
{
	struct worker ws[MAX_WORKERS];
	char err[256];
	int data[2] = { -1, -1 }, result[2] = { -1, -1 };

	for (int i = 0; i < n; i++) {
		if (kf_ring_create(&ws[i].ring, REC_RING, ACK_RING, err, sizeof(err)) != KF_OK) {
			fprintf(stderr, "bench_ring: %s\n", err);
			exit(1);
		}
		kf_ring_set_topic(&ws[i].ring, 0, "bench");
	}
	if (pipe_recs && (pipe(data) == -1 || pipe(result) == -1)) {
		perror("pipe");
		exit(1);
	}
	for (int i = 0; i < n; i++)
		spawn(ws, n, i, data[0], data[1], result[1]);
	if (data[0] >= 0) {
		close(data[0]);
		close(result[1]);
	}

	struct kf_ring_rec tmpl = { .topic = 0, .partition = 0, .key_len = -1,
				    .value = value, .value_len = (int32_t)size };
	double el;
	/* Warm-up: one lap of every ring, so page faults are not measured. */
	uint64_t lap = REC_RING / kf_ring_entry_size(&tmpl) + 1;
	pump(ws, n, &tmpl, 60, lap * (uint64_t)n, &el);

	struct kf_ring_stats before[MAX_WORKERS], after;
	for (int i = 0; i < n; i++)
		kf_ring_stats(&ws[i].ring, &before[i]);
	uint64_t recs = pump(ws, n, &tmpl, secs, UINT64_MAX, &el);
	uint64_t wakeups = 0;
	for (int i = 0; i < n; i++) {
		kf_ring_stats(&ws[i].ring, &after);
		wakeups += after.rec_wakeups - before[i].rec_wakeups +
			   after.ack_wakeups - before[i].ack_wakeups;
	}
	res->records = recs;
	res->recs_per_s = (double)recs / el;
	res->mb_per_s = (double)recs * (double)size / el / 1e6;
	res->wakeups_per_rec = (double)wakeups / (double)recs;

	for (int i = 0; i < n; i++)
		kill(ws[i].pid, SIGTERM);

	if (pipe_recs) {
		/* Same records, same two processes, through a pipe. */
		static uint8_t buf[PIPE_HDR + (1 << 16)];
		size_t len = PIPE_HDR + size;
		uint64_t count = 0, sent = 0, total = 0;
		memset(buf, 0, PIPE_HDR);
		memcpy(buf + PIPE_HDR, value, size);
		if (read(result[0], &total, sizeof(total)) != sizeof(total)) {
			fprintf(stderr, "bench_ring: worker did not start reading the pipe\n");
			exit(1);
		}
		double t0 = now_s(), end = t0 + secs;
		while (now_s() < end) {
			for (int b = 0; b < 64; b++) {
				memcpy(buf, &count, sizeof(count));
				for (size_t off = 0; off < len;) {
					ssize_t w = write(data[1], buf + off, len - off);
					if (w == -1 && errno == EINTR)
						continue;
					if (w == -1) {
						perror("bench_ring: pipe write");
						exit(1);
					}
					off += (size_t)w;
				}
				count++;
				sent += len;
			}
		}
		close(data[1]);
		if (read(result[0], &total, sizeof(total)) != sizeof(total) || total != sent)
			fprintf(stderr, "bench_ring: pipe reader got %llu of %llu bytes\n",
				(unsigned long long)total, (unsigned long long)sent);
		double pel = now_s() - t0;
		close(result[0]);
		*pipe_recs = (double)count / pel;
		*pipe_mb = (double)count * (double)size / pel / 1e6;
	}
	for (int i = 0; i < n; i++) {
		int st;
		waitpid(ws[i].pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fprintf(stderr, "bench_ring: worker %d ended with status %d\n", i, st);
		kf_ring_destroy(&ws[i].ring);
	}
}

/* memcpy of `count` records of `size` bytes into a ring-sized buffer. */
static double memcpy_mb(const uint8_t *value, size_t size, uint64_t count)
{
	static uint8_t *dst;
	if (!dst) {
		dst = malloc(REC_RING);
		if (!dst)
			exit(1);
		memset(dst, 1, REC_RING);
	}
	size_t pos = 0;
	double t0 = now_s();
	for (uint64_t i = 0; i < count; i++) {
		if (pos + size > REC_RING)
			pos = 0;
		memcpy(dst + pos, value, size);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		pos += (size + 7) & ~(size_t)7;
	}
	double el = now_s() - t0;
	return (double)count * (double)size / el / 1e6;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	static const size_t sizes[] = { 64, 1024, 65536 };
	static const int workers[] = { 1, 2, 4 };
	static uint8_t value[1 << 16];

	minimal = argc > 2 && strcmp(argv[2], "--minimal") == 0;
	if (secs <= 0)
		secs = 1.0;
	kf_log_level = KF_LOG_WARN;
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)(i * 131 + 7);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	printf("bench_ring: driver -> workers, %s, %.1f s per case, %ld cores\n",
	       minimal ? "minimal next/attempt/ack loop (--minimal)" :
	       "noop handler in kf_worker_main (worker/worker.c)", secs, cores);
	printf("  rings: %u MiB records + %u MiB acks per worker; MB/s counts record "
	       "bytes (10^6 B/s)\n", REC_RING >> 20, ACK_RING >> 20);
	printf("  %-7s %-8s %12s %10s %9s | %10s %6s | %12s %10s\n", "record", "workers",
	       "ring rec/s", "ring MB/s", "wake/rec", "memcpy MB/s", "ring%",
	       "pipe rec/s", "pipe MB/s");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (size_t w = 0; w < sizeof(workers) / sizeof(workers[0]); w++) {
			int n = workers[w];
			struct ring_result r;
			double prec = 0, pmb = 0;
			ring_case(n, sizes[s], value, secs, &r, n == 1 ? &prec : NULL,
				  n == 1 ? &pmb : NULL);
			double mc = memcpy_mb(value, sizes[s], r.records);
			char label[16], wl[32];
			snprintf(label, sizeof(label), sizes[s] >= 1024 ? "%zu KiB" : "%zu B",
				 sizes[s] >= 1024 ? sizes[s] / 1024 : sizes[s]);
			snprintf(wl, sizeof(wl), n > cores - 1 && n > 1 ? "%d*" : "%d", n);
			printf("  %-7s %-8s %12.0f %10.0f %9.4f | %10.0f %5.0f%% |", label, wl,
			       r.recs_per_s, r.mb_per_s, r.wakeups_per_rec, mc,
			       100.0 * r.mb_per_s / mc);
			if (n == 1)
				printf(" %12.0f %10.0f\n", prec, pmb);
			else
				printf(" %12s %10s\n", "-", "-");
			fflush(stdout);
		}
	}
	printf("  * more processes than cores: the driver and the workers share %ld "
	       "cores, so figures for them measure scheduling as much as the ring.\n"
	       "  memcpy: the same record count and size into a %u MiB buffer, in this "
	       "process.  pipe: one write() per record (%d B header + record) to the same "
	       "worker process, which reads 64 KiB at a time.\n", cores, REC_RING >> 20,
	       PIPE_HDR);
	return 0;
}
