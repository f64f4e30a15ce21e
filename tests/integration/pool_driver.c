/*
 * pool_driver: the worker pool under kill -9, end to end without a broker.
 *
 * One libev loop runs the supervisor's pieces for real: the pool with the
 * file handler, the dispatcher and the offset tracker.  Synthetic records
 * (PARTITIONS partitions, offsets from a per-partition base, keys and
 * values that are functions of (partition, offset)) are fed as fast as the
 * rings take them while a timer kill -9s a random worker every KILL_MS.
 * When every record is acked the pool is stopped and the outputs checked.
 *
 * What is guaranteed, and so what is checked:
 *   A worker handles its ring's records one at a time, in ring order:
 *   write the line, then push the ack.  When it dies, the pool pops the
 *   acks it left and the replacement starts at the first record without
 *   one.  That record is the only one that can have been written without
 *   its ack being pushed.  So each worker's file is exactly the sequence
 *   of records pushed to that worker, except that after each kill the
 *   line of the record in progress may appear again right after itself
 *   (possibly preceded by a torn prefix of the same line, on a line of
 *   its own, if the kill cut the write).  The check walks every file
 *   against the worker's push log with exactly these rules, counts the
 *   repeats (at most one per kill of that worker), and requires the whole
 *   log to be consumed.  Per
 *   partition (partition dispatch) and per key (key dispatch) order on
 *   each worker follows, because the dispatcher pushes them in offset
 *   order to one worker.
 *   Every record is acked exactly once (redelivered records were never
 *   acked before), the tracker sees no duplicate, and each partition's
 *   commit point ends at its last offset + 1.
 *
 * Usage: pool_driver -d DIR [-n RECORDS] [-p PARTITIONS] [-w WORKERS]
 *        [-k KILL_MS] [-m partition|key|roundrobin] [-r RING_BYTES]
 *        [-s SEED] [-t TIMEOUT_S] [-f drop|swap|dup]
 * -f damages worker 0's output before the checks (they must then fail).
 * Exit 0 when every check holds, 1 otherwise, 2 on bad usage.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "err.h"
#include "log.h"
#include "pool.h"
#include "tracker.h"

#define FEED_BATCH 256
#define KEYS_PER_PARTITION 16
#define TOPIC "kill"

struct pushed {
	uint32_t part;
	int64_t offset;
};

struct wlog {
	struct pushed *v;
	size_t n, cap;
	uint64_t kills;
};

struct driver {
	struct ev_loop *loop;
	struct kf_pool *pool;
	struct kf_dispatch *disp;
	struct kf_tracker *trk;
	enum kf_dispatch_mode mode;
	int parts, workers;
	uint64_t total;
	int64_t *base;          /* first offset per partition */
	int64_t *count;         /* records per partition */
	int64_t *next;          /* next index to push per partition */
	bool *blocked;
	struct wlog *log;       /* push order per worker */
	uint64_t pushed, acks, failed_acks, tracker_bad, kills, crashloops;
	bool stopping, timed_out;
	ev_check feed_check;
	ev_idle feed_idle;
	ev_timer kill_timer;
	ev_timer deadline;
	unsigned seed;
};

static struct driver D;

/* ---- synthetic records ---- */

static uint32_t mix(uint32_t p, int64_t off)
{
	uint64_t x = ((uint64_t)p << 40) ^ (uint64_t)off;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

static int make_key(char *buf, size_t len, uint32_t p, int64_t off)
{
	return snprintf(buf, len, "p%u-k%d", p, (int)(mix(p, off) % KEYS_PER_PARTITION));
}

static int make_value(char *buf, size_t len, uint32_t p, int64_t off)
{
	return snprintf(buf, len, "v%u.%" PRId64 ".%08x", p, off, mix(p, off) * 2654435761u);
}

static char *hex(char *o, const char *s, int n)
{
	static const char d[] = "0123456789abcdef";
	for (int i = 0; i < n; i++) {
		*o++ = d[(uint8_t)s[i] >> 4];
		*o++ = d[(uint8_t)s[i] & 15];
	}
	return o;
}

/* The exact line the file handler writes for (p, off), without '\n'. */
static size_t expected_line(char *buf, size_t len, uint32_t p, int64_t off)
{
	char k[64], v[64];
	int kn = make_key(k, sizeof(k), p, off), vn = make_value(v, sizeof(v), p, off);
	int n = snprintf(buf, len, "%s %u %" PRId64 " ", TOPIC, p, off);
	char *o = hex(buf + n, k, kn);
	*o++ = ' ';
	o = hex(o, v, vn);
	*o = '\0';
	return (size_t)(o - buf);
}

/* ---- feeding ---- */

static void log_push(int w, uint32_t p, int64_t off)
{
	struct wlog *l = &D.log[w];
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v) {
			fprintf(stderr, "pool_driver: out of memory\n");
			exit(1);
		}
	}
	l->v[l->n++] = (struct pushed){ p, off };
}

/* Push up to FEED_BATCH records of partition p; false when it cannot take
 * more now (blocked until acks make room). */
static bool feed_partition(uint32_t p)
{
	for (int i = 0; i < FEED_BATCH && D.next[p] < D.count[p]; i++) {
		int64_t off = D.base[p] + D.next[p];
		char k[64], v[64];
		int kn = make_key(k, sizeof(k), p, off), vn = make_value(v, sizeof(v), p, off);
		if (kf_tracker_full(D.trk, p))
			return false;
		int w = kf_dispatch_pick(D.disp, p, k, kn);
		if (w < 0)
			return false;
		struct kf_ring_rec r = {
			.slot = p, .topic = 0, .partition = (int32_t)p, .offset = off,
			.timestamp = 1700000000000 + off,
			.key = (const uint8_t *)k, .key_len = kn,
			.value = (const uint8_t *)v, .value_len = vn,
		};
		int rc = kf_pool_push(D.pool, w, &r);
		if (rc == KF_EAGAIN)
			return false;
		if (rc != KF_OK) {
			fprintf(stderr, "pool_driver: push to worker %d: %s\n", w, kf_strerror(rc));
			exit(1);
		}
		kf_dispatch_sent(D.disp, p, w);
		if (kf_tracker_dispatched(D.trk, p, off) != KF_OK) {
			fprintf(stderr, "pool_driver: tracker refused %u/%" PRId64 "\n", p, off);
			exit(1);
		}
		log_push(w, p, off);
		D.next[p]++;
		D.pushed++;
	}
	return D.next[p] < D.count[p];
}

static void feed_cb(struct ev_loop *loop, ev_check *c, int revents)
{
	bool more = false;
	for (int p = 0; p < D.parts; p++) {
		if (D.blocked[p] || D.next[p] >= D.count[p])
			continue;
		if (!feed_partition((uint32_t)p) && D.next[p] < D.count[p])
			D.blocked[p] = true;
		else if (D.next[p] < D.count[p])
			more = true;
	}
	if (D.pushed == D.total) {
		ev_check_stop(loop, &D.feed_check);
		ev_idle_stop(loop, &D.feed_idle);
	} else if (!more) {
		ev_idle_stop(loop, &D.feed_idle);   /* sleep until on_room */
	}
}

static void idle_cb(struct ev_loop *loop, ev_idle *i, int revents)
{
}

/* ---- pool callbacks ---- */

static void maybe_done(void)
{
	if (D.stopping || D.pushed < D.total || kf_pool_inflight(D.pool) > 0)
		return;
	D.stopping = true;
	ev_timer_stop(D.loop, &D.kill_timer);
	kf_pool_stop(D.pool, 5000);
}

static void on_ack(struct kf_pool *pool, int w, const struct kf_ring_ack *ack, void *opaque)
{
	D.acks++;
	if (ack->status != KF_ACK_OK) {
		D.failed_acks++;
		fprintf(stderr, "pool_driver: %u/%" PRId64 " failed: %s\n", ack->slot,
			ack->offset, ack->reason);
	}
	if (kf_tracker_done(D.trk, ack->slot, ack->offset) != KF_OK)
		D.tracker_bad++;
	kf_dispatch_acked(D.disp, ack->slot, w);
	if (D.acks == D.total)
		maybe_done();
}

static void on_room(struct kf_pool *pool, int w, void *opaque)
{
	if (D.pushed == D.total) {
		maybe_done();
		return;
	}
	memset(D.blocked, 0, (size_t)D.parts * sizeof(*D.blocked));
	if (!ev_is_active(&D.feed_idle))
		ev_idle_start(D.loop, &D.feed_idle);
}

static void on_state(struct kf_pool *pool, int w, enum kf_pool_state s, void *opaque)
{
	if (s == KF_POOL_CRASHLOOP)
		D.crashloops++;
}

static void on_stopped(struct kf_pool *pool, void *opaque)
{
	ev_break(D.loop, EVBREAK_ALL);
}

static void kill_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	int w = (int)(rand_r(&D.seed) % (unsigned)D.workers);
	struct kf_pool_worker_status st;
	if (kf_pool_worker_status(D.pool, w, &st) == KF_OK && st.pid > 0 &&
	    kill(st.pid, SIGKILL) == 0) {
		D.kills++;
		D.log[w].kills++;
	}
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	fprintf(stderr, "pool_driver: timed out: %" PRIu64 " of %" PRIu64 " pushed, %" PRIu64
		" acked, %" PRIu64 " in flight\n", D.pushed, D.total, D.acks,
		kf_pool_inflight(D.pool));
	D.timed_out = true;
	ev_break(loop, EVBREAK_ALL);
}

/* ---- verification ---- */

/* line is a proper prefix of want: a write cut by a kill, which the next
 * worker ended with a newline before its own line. */
static bool is_torn(const char *line, size_t len, const char *want, size_t wlen)
{
	return len > 0 && len < wlen && memcmp(line, want, len) == 0;
}

/* Walk DIR/worker-W.log against the push log of W (rules: top of file).
 * Returns the number of errors (0 = the file is exactly as guaranteed). */
static int verify_file(const char *dir, int w, uint64_t *repeats, uint64_t *torn)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/worker-%d.log", dir, w);
	const struct wlog *l = &D.log[w];
	FILE *f = fopen(path, "r");
	if (!f) {
		if (l->n == 0)
			return 0;
		fprintf(stderr, "pool_driver: %s: %s\n", path, strerror(errno));
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	size_t i = 0, lineno = 0;
	uint64_t rep = 0, tr = 0;
	int errors = 0;
	char cur[512], prev[512] = "";
	size_t curlen = 0;
	if (l->n)
		curlen = expected_line(cur, sizeof(cur), l->v[0].part, l->v[0].offset);
	while ((len = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (i < l->n && (size_t)len == curlen && memcmp(line, cur, curlen) == 0) {
			/* the next record */
		} else if (i > 0 && strcmp(line, prev) == 0) {
			rep++;          /* the record in progress at a kill, again */
			continue;
		} else if (i < l->n && is_torn(line, (size_t)len, cur, curlen)) {
			tr++;           /* a write cut by a kill; the full line follows */
			continue;
		} else if (i > 0 && is_torn(line, (size_t)len, prev, strlen(prev))) {
			tr++;           /* the same, on a repeat */
			continue;
		} else {
			if (errors++ < 5)
				fprintf(stderr, "pool_driver: %s:%zu: \"%.200s\": expected \"%s\"%s%s%s\n",
					path, lineno, line, i < l->n ? cur : "end of file",
					i > 0 ? " or a repeat of \"" : "", i > 0 ? prev : "",
					i > 0 ? "\"" : "");
			continue;
		}
		memcpy(prev, cur, curlen + 1);
		if (++i < l->n)
			curlen = expected_line(cur, sizeof(cur), l->v[i].part, l->v[i].offset);
	}
	free(line);
	fclose(f);
	if (i != l->n) {
		fprintf(stderr, "pool_driver: %s: %zu of %zu pushed records present\n", path, i,
			l->n);
		errors++;
	}
	if (rep + tr > l->kills) {
		fprintf(stderr, "pool_driver: %s: %" PRIu64 " repeated lines for %" PRIu64
			" kills\n", path, rep + tr, l->kills);
		errors++;
	}
	*repeats += rep;
	*torn += tr;
	return errors;
}

static int verify(const char *dir)
{
	int errors = 0;
	uint64_t repeats = 0, torn = 0;

	/* The push logs are per-partition increasing and complete: every
	 * (partition, offset) went to exactly one worker, in order. */
	int64_t *seen = calloc((size_t)D.parts, sizeof(*seen));
	int *owner = malloc((size_t)D.parts * sizeof(*owner));
	int moved = 0;
	for (int p = 0; p < D.parts; p++)
		owner[p] = -1;
	for (int w = 0; w < D.workers; w++)
		for (size_t i = 0; i < D.log[w].n; i++) {
			uint32_t p = D.log[w].v[i].part;
			if (owner[p] != -1 && owner[p] != w)
				moved++;
			owner[p] = w;
		}
	uint64_t logged = 0;
	for (int w = 0; w < D.workers; w++) {
		int64_t *last = malloc((size_t)D.parts * sizeof(*last));
		for (int p = 0; p < D.parts; p++)
			last[p] = -1;
		for (size_t i = 0; i < D.log[w].n; i++) {
			const struct pushed *r = &D.log[w].v[i];
			if (r->offset <= last[r->part]) {
				fprintf(stderr, "pool_driver: worker %d got %u/%" PRId64 " after %"
					PRId64 "\n", w, r->part, r->offset, last[r->part]);
				errors++;
			}
			last[r->part] = r->offset;
			seen[r->part]++;
		}
		logged += D.log[w].n;
		free(last);
	}
	for (int p = 0; p < D.parts; p++)
		if (seen[p] != D.count[p]) {
			fprintf(stderr, "pool_driver: partition %d: %" PRId64 " of %" PRId64
				" records pushed\n", p, seen[p], D.count[p]);
			errors++;
		}
	if (D.mode == KF_DISPATCH_PARTITION && moved) {
		fprintf(stderr, "pool_driver: partition dispatch moved partitions %d times\n",
			moved);
		errors++;
	}

	for (int w = 0; w < D.workers; w++)
		errors += verify_file(dir, w, &repeats, &torn);

	if (logged != D.total || D.pushed != D.total || D.acks != D.total) {
		fprintf(stderr, "pool_driver: %" PRIu64 " records, %" PRIu64 " pushed, %" PRIu64
			" acks (exactly one each expected)\n", D.total, D.pushed, D.acks);
		errors++;
	}
	if (D.failed_acks || D.tracker_bad) {
		fprintf(stderr, "pool_driver: %" PRIu64 " failed acks, %" PRIu64
			" acks the tracker did not take as new\n", D.failed_acks, D.tracker_bad);
		errors++;
	}
	for (int p = 0; p < D.parts; p++) {
		int64_t cp = kf_tracker_commit_point(D.trk, (uint32_t)p);
		if (cp != D.base[p] + D.count[p]) {
			fprintf(stderr, "pool_driver: partition %d commit point %" PRId64
				", expected %" PRId64 "\n", p, cp, D.base[p] + D.count[p]);
			errors++;
		}
	}
	const struct kf_tracker_counters *tc = kf_tracker_totals(D.trk);
	if (tc->done != D.total || tc->dups || tc->failed || tc->unknown) {
		fprintf(stderr, "pool_driver: tracker done %" PRIu64 " dups %" PRIu64 " failed %"
			PRIu64 " unknown %" PRIu64 "\n", tc->done, tc->dups, tc->failed,
			tc->unknown);
		errors++;
	}
	printf("pool_driver: files: %" PRIu64 " lines repeated after kills, %" PRIu64
	       " torn writes\n", repeats, torn);
	free(seen);
	free(owner);
	return errors;
}

/* Self-test of the checks (-f): damage worker 0's output the way a broken
 * pool could, so the run must fail.  drop: lose a line; swap: two lines
 * out of order; dup: a line again, but not right after itself. */
static int tamper(const char *dir, const char *fault)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/worker-0.log", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char **lines = NULL, *line = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	while (getline(&line, &lcap, f) != -1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			lines = realloc(lines, cap * sizeof(*lines));
		}
		lines[n++] = strdup(line);
	}
	free(line);
	fclose(f);
	f = n >= 30 ? fopen(path, "w") : NULL;
	for (size_t i = 0; f && i < n; i++) {
		if (strcmp(fault, "drop") == 0 && i == 10)
			continue;
		if (strcmp(fault, "swap") == 0 && (i == 10 || i == 11))
			fputs(lines[i == 10 ? 11 : 10], f);
		else
			fputs(lines[i], f);
		if (strcmp(fault, "dup") == 0 && i == 20)
			fputs(lines[10], f);
	}
	int rc = f ? 0 : -1;
	if (f)
		fclose(f);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return rc;
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: pool_driver -d DIR [-n RECORDS] [-p PARTITIONS] [-w WORKERS] "
		"[-k KILL_MS] [-m partition|key|roundrobin] [-r RING_BYTES] [-s SEED] "
		"[-t TIMEOUT_S] [-f drop|swap|dup]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *mode = "partition", *fault = NULL;
	long n = 1000000, kill_ms = 100, timeout_s = 600;
	long ring = 1 << 20;
	int opt;

	D.parts = 8;
	D.workers = 4;
	D.seed = (unsigned)getpid();
	while ((opt = getopt(argc, argv, "d:f:n:p:w:k:m:r:s:t:")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'f': fault = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'p': D.parts = atoi(optarg); break;
		case 'w': D.workers = atoi(optarg); break;
		case 'k': kill_ms = atol(optarg); break;
		case 'm': mode = optarg; break;
		case 'r': ring = atol(optarg); break;
		case 's': D.seed = (unsigned)atol(optarg); break;
		case 't': timeout_s = atol(optarg); break;
		default: usage();
		}
	}
	if (!dir || n < 1 || D.parts < 1 || D.workers < 1 || ring < 4096 ||
	    kf_dispatch_mode_parse(mode, &D.mode) != KF_OK)
		usage();
	kf_log_level = KF_LOG_WARN;

	D.loop = ev_default_loop(0);
	D.total = (uint64_t)n;
	D.base = calloc((size_t)D.parts, sizeof(*D.base));
	D.count = calloc((size_t)D.parts, sizeof(*D.count));
	D.next = calloc((size_t)D.parts, sizeof(*D.next));
	D.blocked = calloc((size_t)D.parts, sizeof(*D.blocked));
	D.log = calloc((size_t)D.workers, sizeof(*D.log));
	D.disp = kf_dispatch_new(D.mode);
	D.trk = kf_tracker_new(0);
	if (!D.base || !D.count || !D.next || !D.blocked || !D.log || !D.disp || !D.trk) {
		fprintf(stderr, "pool_driver: out of memory\n");
		return 1;
	}
	for (int p = 0; p < D.parts; p++) {
		D.base[p] = 1000 * (int64_t)p + 7;
		D.count[p] = n / D.parts + (p < n % D.parts);
		kf_tracker_reset(D.trk, (uint32_t)p, D.base[p]);
	}
	for (int w = 0; w < D.workers; w++)
		kf_dispatch_worker_add(D.disp, w);

	struct kf_pool_conf conf;
	kf_pool_conf_defaults(&conf);
	conf.count = D.workers;
	conf.ring_bytes = (size_t)ring;
	conf.stall_timeout_ms = 60000;
	conf.shutdown_timeout_ms = 5000;
	conf.worker.handler.type = KF_HANDLER_FILE;
	conf.worker.handler.dir = dir;
	conf.worker.nice = 0;
	struct kf_pool_callbacks cb = {
		.on_ack = on_ack, .on_room = on_room, .on_state = on_state,
		.on_stopped = on_stopped,
	};
	char err[256];
	D.pool = kf_pool_new(D.loop, &conf, &cb, err, sizeof(err));
	if (!D.pool) {
		fprintf(stderr, "pool_driver: %s\n", err);
		return 1;
	}
	kf_pool_set_topic(D.pool, 0, TOPIC);

	ev_check_init(&D.feed_check, feed_cb);
	ev_check_start(D.loop, &D.feed_check);
	ev_idle_init(&D.feed_idle, idle_cb);
	ev_idle_start(D.loop, &D.feed_idle);
	if (kill_ms > 0) {
		ev_timer_init(&D.kill_timer, kill_cb, kill_ms / 1000.0, kill_ms / 1000.0);
		ev_timer_start(D.loop, &D.kill_timer);
	}
	ev_timer_init(&D.deadline, deadline_cb, (double)timeout_s, 0.);
	ev_timer_start(D.loop, &D.deadline);

	ev_tstamp t0 = ev_time();
	ev_run(D.loop, 0);
	double took = ev_time() - t0;
	ev_timer_stop(D.loop, &D.deadline);
	ev_timer_stop(D.loop, &D.kill_timer);
	ev_check_stop(D.loop, &D.feed_check);
	ev_idle_stop(D.loop, &D.feed_idle);

	uint64_t restarts = 0;
	for (int w = 0; w < kf_pool_worker_count(D.pool); w++) {
		struct kf_pool_worker_status st;
		kf_pool_worker_status(D.pool, w, &st);
		restarts += st.restarts;
	}
	printf("pool_driver: %" PRIu64 " records, %d partitions, %d workers, %s dispatch: "
	       "%.2f s (%.0f records/s), %" PRIu64 " kills, %" PRIu64 " restarts, %" PRIu64
	       " crash loop entries\n", D.total, D.parts, D.workers, mode, took,
	       (double)D.acks / took, D.kills, restarts, D.crashloops);
	if (fault && tamper(dir, fault) != 0) {
		fprintf(stderr, "pool_driver: cannot apply fault %s\n", fault);
		return 2;
	}
	int errors = D.timed_out ? 1 : verify(dir);
	kf_pool_free(D.pool);
	kf_dispatch_free(D.disp);
	kf_tracker_free(D.trk);
	for (int w = 0; w < D.workers; w++)
		free(D.log[w].v);
	free(D.log);
	free(D.base);
	free(D.count);
	free(D.next);
	free(D.blocked);
	printf("pool_driver: %s\n", errors ? "FAILED" : "all checks passed");
	return errors ? 1 : 0;
}
