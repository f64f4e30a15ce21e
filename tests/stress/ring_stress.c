/*
 * ring_stress: a driver (the supervisor side) and a forked worker hammer
 * one ring for SECONDS, with worker deaths.
 *
 *   ring_stress [SECONDS [SEED]]      default 5 s, seed from the clock
 *
 * Every record is a function of its sequence number (stored as its
 * offset): sizes from 0 to beyond half the ring (those are refused with
 * KF_ETOOBIG, and both sides know which), null or empty or filled key and
 * value, headers, and bytes from a hash of (seq, field, index).  The
 * worker checks every byte and that sequence numbers come in order with
 * no gap but the refused ones; it acks in batches of up to 8, failing some
 * records with reasons of every length.  The driver checks each ack
 * against the record it pushed (order, end position, slot, status,
 * reason, attempts).
 *
 * The worker dies at random points (before running a record, after
 * running it, after acking it, with unacked records read ahead), and the
 * driver SIGKILLs it at random moments.  The driver then pops the acks it
 * left and forks a replacement, which must start exactly at the oldest
 * unacked record (it is told which) and see the attempts the dead ones
 * made.  A stall of 10 s (a lost wakeup) fails the run.
 *
 * Exit status 0 and a summary on stdout, or 1 with the first problem on
 * stderr.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "ring.h"

#define REC_BYTES (1 << 16)
#define ACK_BYTES 4096
#define MAX_DATA 40000              /* > REC_BYTES / 2: some are refused */
#define FIFO_CAP 4096               /* > REC_BYTES / 56 entries */
#define STOP_SLOT UINT32_MAX
#define PLANNED_DEATH 77
#define STALL_MS 10000

static uint64_t seed;

static uint64_t mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *who, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ring_stress: %s: ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (strcmp(who, "driver") == 0)
		exit(1);
	_exit(1);
}

/* ---- what record seq looks like ---------------------------------------- */

struct shape {
	int32_t key_len, value_len;  /* -1: null */
	uint32_t headers_len;
	int32_t header_count;
	uint32_t slot, topic;
	int32_t partition;
	int64_t timestamp;
	bool fail;                  /* the worker acks it failed */
	uint32_t reason_len;        /* of the failure reason, before the cut */
};

static void shape_of(uint64_t seq, struct shape *s)
{
	uint64_t h = mix(seq ^ seed), g = mix(h);
	uint32_t total, cls = h % 100;

	if (cls < 60)
		total = (uint32_t)(g % 200);
	else if (cls < 90)
		total = (uint32_t)(g % 4096);
	else if (cls < 98)
		total = (uint32_t)(g % 32768);
	else
		total = 32000 + (uint32_t)(g % (MAX_DATA - 32000));
	uint32_t k = (uint32_t)((g >> 20) % (total + 1));
	uint32_t v = (uint32_t)((g >> 40) % (total - k + 1));
	s->key_len = (h >> 8) % 8 == 0 ? -1 : (int32_t)k;
	s->value_len = (h >> 12) % 8 == 0 ? -1 : (int32_t)v;
	s->headers_len = (h >> 16) % 4 == 0 ? 0 : total - k - v;
	s->header_count = (int32_t)((h >> 24) % 5);
	s->slot = (uint32_t)(seq % 7);
	s->topic = (uint32_t)(seq % 3);
	s->partition = (int32_t)(seq % 11);
	s->timestamp = (int64_t)(seq * 3);
	s->fail = (h >> 32) % 13 == 0;
	s->reason_len = (uint32_t)((h >> 36) % (KF_RING_REASON_MAX + 100));
}

static uint8_t byte_of(uint64_t seq, unsigned field, size_t i)
{
	return (uint8_t)(mix((seq << 2 | field) ^ (i / 8) << 32 ^ seed) >> (i % 8 * 8));
}

static void gen(uint8_t *p, size_t n, uint64_t seq, unsigned field)
{
	for (size_t i = 0; i < n; i++)
		p[i] = byte_of(seq, field, i);
}

static bool same(const uint8_t *p, size_t n, uint64_t seq, unsigned field)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != byte_of(seq, field, i))
			return false;
	return true;
}

static void reason_of(uint64_t seq, const struct shape *s, char *buf)
{
	for (uint32_t i = 0; i < s->reason_len; i++)
		buf[i] = (char)('a' + byte_of(seq, 3, i) % 26);
	buf[s->reason_len] = '\0';
}

static size_t entry_size(const struct shape *s)
{
	struct kf_ring_rec rec = { .key_len = s->key_len, .value_len = s->value_len,
				   .headers_len = s->headers_len };
	return kf_ring_entry_size(&rec);
}

/* ---- worker ------------------------------------------------------------ */

struct child_plan {
	uint64_t first;             /* the seq the worker must see first */
	uint32_t incarnation;       /* workers before this one */
	uint64_t rng;
};

static uint64_t rnd(uint64_t *state)
{
	*state = mix(*state);
	return *state;
}

static void maybe_die(struct child_plan *p)
{
	if (rnd(&p->rng) % 15000 == 0)
		_exit(PLANNED_DEATH);
}

static void check_rec(const struct kf_ring *w, const struct kf_ring_rec *rec, uint64_t seq,
		      const struct child_plan *p)
{
	struct shape s;
	shape_of(seq, &s);
	if (rec->key_len != s.key_len || rec->value_len != s.value_len ||
	    rec->headers_len != s.headers_len || rec->header_count != s.header_count ||
	    rec->slot != s.slot || rec->topic != s.topic || rec->partition != s.partition ||
	    rec->timestamp != s.timestamp)
		die("worker", "seq %" PRIu64 ": fields differ", seq);
	if ((s.key_len < 0) != (rec->key == NULL) || (s.value_len < 0) != (rec->value == NULL))
		die("worker", "seq %" PRIu64 ": null-ness differs", seq);
	if ((s.key_len > 0 && !same(rec->key, (size_t)s.key_len, seq, 0)) ||
	    (s.value_len > 0 && !same(rec->value, (size_t)s.value_len, seq, 1)) ||
	    !same(rec->headers, s.headers_len, seq, 2))
		die("worker", "seq %" PRIu64 ": bytes differ", seq);
	if (rec->end - rec->start != entry_size(&s))
		die("worker", "seq %" PRIu64 ": entry size %" PRIu64, seq, rec->end - rec->start);
	if (rec->attempts > p->incarnation)
		die("worker", "seq %" PRIu64 ": %u attempts with %u workers before", seq,
		    rec->attempts, p->incarnation);
	if (strcmp(kf_ring_topic(w, rec->topic), rec->topic == 0 ? "t0" :
		   rec->topic == 1 ? "t1" : "t2") != 0)
		die("worker", "seq %" PRIu64 ": topic name", seq);
}

static void ack_all(struct kf_ring *w, struct kf_ring_rec *held, int n,
		    struct child_plan *p)
{
	static char reason[KF_RING_REASON_MAX + 101];

	for (int i = 0; i < n; i++) {
		struct shape s;
		uint64_t seq = (uint64_t)held[i].offset;
		shape_of(seq, &s);
		struct kf_ring_ack ack = {
			.slot = held[i].slot, .offset = held[i].offset,
			.attempts = held[i].attempts, .end = held[i].end,
			.status = s.fail ? KF_ACK_FAILED : KF_ACK_OK,
		};
		if (s.fail) {
			reason_of(seq, &s, reason);
			ack.reason = reason;
		}
		maybe_die(p);
		int rc;
		while ((rc = kf_ring_ack(w, &ack)) == KF_EAGAIN)
			kf_ring_wait(w, 1000);
		if (rc != KF_OK)
			die("worker", "ack: %s", kf_strerror(rc));
	}
}

static void worker(struct kf_ring *w, struct child_plan *p)
{
	struct kf_ring_rec held[8];
	int n = 0;
	uint64_t expect = p->first;

	kf_ring_worker_restart(w);
	if (kf_ring_check(w) != KF_OK)
		die("worker", "bad ring header");
	for (;;) {
		struct kf_ring_rec rec;
		int rc = kf_ring_next(w, &rec);
		if (rc < 0)
			die("worker", "next: %s", kf_strerror(rc));
		if (rc == 0) {
			ack_all(w, held, n, p);
			n = 0;
			kf_ring_wait(w, 1000);
			continue;
		}
		if (rec.slot == STOP_SLOT) {
			ack_all(w, held, n, p);
			struct kf_ring_ack ack = { .slot = STOP_SLOT, .end = rec.end };
			while (kf_ring_ack(w, &ack) == KF_EAGAIN)
				kf_ring_wait(w, 1000);
			_exit(0);
		}
		for (struct shape s; shape_of(expect, &s), entry_size(&s) > kf_ring_max_entry(w);)
			expect++;
		if ((uint64_t)rec.offset != expect)
			die("worker", "expected seq %" PRIu64 ", got %" PRId64 " (incarnation %u)",
			    expect, rec.offset, p->incarnation);
		expect++;
		check_rec(w, &rec, (uint64_t)rec.offset, p);
		maybe_die(p);
		kf_ring_attempt(w, &rec);
		maybe_die(p);
		held[n++] = rec;
		if (n == 8 || rnd(&p->rng) % 4 == 0) {
			ack_all(w, held, n, p);
			n = 0;
		}
	}
}

/* ---- driver ------------------------------------------------------------ */

struct pushed {
	uint64_t seq, end;
};

struct driver {
	struct kf_ring ring;
	pid_t pid;
	uint32_t incarnation;
	uint64_t next_seq;
	struct pushed fifo[FIFO_CAP];
	size_t fifo_head, fifo_len;
	uint8_t buf[3][MAX_DATA];
	char reason[KF_RING_REASON_MAX + 101];
	int64_t last_progress;
	/* summary */
	uint64_t pushed, acked, refused, failed, bytes, deaths, kills, redelivered;
	uint32_t max_attempts;
};

static void spawn(struct driver *d)
{
	struct child_plan plan = {
		.first = d->fifo_len ? d->fifo[d->fifo_head].seq : d->next_seq,
		.incarnation = d->incarnation,
		.rng = mix(seed ^ (uint64_t)d->incarnation << 40),
	};
	fflush(NULL);
	d->pid = fork();
	if (d->pid == -1)
		die("driver", "fork: %s", strerror(errno));
	if (d->pid == 0) {
		struct kf_ring w = d->ring;
		worker(&w, &plan);
	}
}

static int push_one(struct driver *d)
{
	uint64_t seq = d->next_seq;
	struct shape s;
	shape_of(seq, &s);
	if (s.key_len > 0)
		gen(d->buf[0], (size_t)s.key_len, seq, 0);
	if (s.value_len > 0)
		gen(d->buf[1], (size_t)s.value_len, seq, 1);
	gen(d->buf[2], s.headers_len, seq, 2);
	struct kf_ring_rec rec = {
		.slot = s.slot, .topic = s.topic, .partition = s.partition,
		.offset = (int64_t)seq, .timestamp = s.timestamp,
		.key = s.key_len > 0 ? d->buf[0] : (const uint8_t *)"", .key_len = s.key_len,
		.value = s.value_len > 0 ? d->buf[1] : (const uint8_t *)"",
		.value_len = s.value_len, .headers = d->buf[2], .headers_len = s.headers_len,
		.header_count = s.header_count,
	};
	bool too_big = entry_size(&s) > kf_ring_max_entry(&d->ring);
	int rc = kf_ring_push(&d->ring, &rec);
	if (rc == KF_ETOOBIG) {
		if (!too_big)
			die("driver", "seq %" PRIu64 " refused as too big", seq);
		d->refused++;
		d->next_seq++;
		return KF_OK;
	}
	if (too_big)
		die("driver", "seq %" PRIu64 " (entry %zu) not refused: %s", seq,
		    entry_size(&s), kf_strerror(rc));
	if (rc != KF_OK)
		return rc;
	if (d->fifo_len == FIFO_CAP)
		die("driver", "more records in the ring than can fit");
	size_t at = (d->fifo_head + d->fifo_len++) % FIFO_CAP;
	d->fifo[at].seq = seq;
	/* The ring's private write position: where this entry ends, which
	 * its ack must say (looked up here; no API needs it). */
	d->fifo[at].end = d->ring.rec_head;
	d->pushed++;
	d->bytes += entry_size(&s);
	d->next_seq++;
	return KF_OK;
}

static void check_ack(struct driver *d, const struct kf_ring_ack *ack, const struct pushed *p)
{
	uint64_t seq = p->seq;
	struct shape s;
	shape_of(seq, &s);
	if (ack->end != p->end)
		die("driver", "seq %" PRIu64 ": ack end %" PRIu64 ", pushed to %" PRIu64, seq,
		    ack->end, p->end);
	if (ack->slot != s.slot || (uint64_t)ack->offset != seq)
		die("driver", "ack for seq %" PRId64 " slot %u, expected seq %" PRIu64, ack->offset,
		    ack->slot, seq);
	if (ack->status != (s.fail ? KF_ACK_FAILED : KF_ACK_OK))
		die("driver", "seq %" PRIu64 ": status %u", seq, ack->status);
	if (s.fail) {
		reason_of(seq, &s, d->reason);
		d->reason[KF_RING_REASON_MAX] = '\0';
		if (strcmp(ack->reason, d->reason) != 0)
			die("driver", "seq %" PRIu64 ": reason differs", seq);
		d->failed++;
	} else if (ack->reason[0] != '\0') {
		die("driver", "seq %" PRIu64 ": reason on an ok ack", seq);
	}
	if (ack->attempts < 1 || ack->attempts > d->incarnation + 1)
		die("driver", "seq %" PRIu64 ": %u attempts, %u workers so far", seq, ack->attempts,
		    d->incarnation + 1);
	if (ack->attempts > d->max_attempts)
		d->max_attempts = ack->attempts;
}

/* Pop every ack there is; the number popped. */
static int pop_acks(struct driver *d)
{
	struct kf_ring_ack ack;
	int n = 0, rc;
	while ((rc = kf_ring_ack_pop(&d->ring, &ack)) == 1) {
		if (!d->fifo_len)
			die("driver", "ack with nothing in flight");
		struct pushed *p = &d->fifo[d->fifo_head];
		check_ack(d, &ack, p);
		/* Released space: exactly what is left must be in flight. */
		d->fifo_head = (d->fifo_head + 1) % FIFO_CAP;
		d->fifo_len--;
		if ((kf_ring_rec_used(&d->ring) == 0) != (d->fifo_len == 0))
			die("driver", "ring use %zu with %zu records in flight",
			    kf_ring_rec_used(&d->ring), d->fifo_len);
		d->acked++;
		n++;
	}
	if (rc < 0)
		die("driver", "ack pop: %s", kf_strerror(rc));
	return n;
}

/* The worker is gone: collect what it finished, start the next one. */
static void replace_worker(struct driver *d, int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == PLANNED_DEATH)
		d->deaths++;
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		d->kills++;
	else
		die("driver", "worker exited with status %d", status);
	pop_acks(d);
	d->redelivered += d->fifo_len;
	d->incarnation++;
	spawn(d);
}

static void drive(struct driver *d, int seconds)
{
	int64_t end = now_ms() + seconds * INT64_C(1000);
	uint64_t rng = mix(seed ^ 0x5eed);

	d->last_progress = now_ms();
	while (now_ms() < end) {
		bool progress = false;
		/* Bursts of random length, so the ring runs at every fill level. */
		uint64_t burst = rnd(&rng) % 64 + 1;
		for (uint64_t i = 0; i < burst; i++) {
			int rc = push_one(d);
			if (rc == KF_EAGAIN)
				break;
			if (rc != KF_OK)
				die("driver", "push: %s", kf_strerror(rc));
			progress = true;
		}
		if (rnd(&rng) % 2 == 0 && pop_acks(d) > 0)
			progress = true;
		if (rnd(&rng) % 4000 == 0)
			kill(d->pid, SIGKILL);
		int status;
		pid_t got = waitpid(d->pid, &status, WNOHANG);
		if (got == d->pid) {
			replace_worker(d, status);
			progress = true;
		} else if (got == -1) {
			die("driver", "waitpid: %s", strerror(errno));
		}
		if (progress) {
			d->last_progress = now_ms();
			continue;
		}
		if (now_ms() - d->last_progress > STALL_MS)
			die("driver", "no progress for %d ms (%zu in flight, seq %" PRIu64 ")",
			    STALL_MS, d->fifo_len, d->next_seq);
		if (kf_ring_ack_sleep(&d->ring)) {
			struct pollfd p = { .fd = d->ring.ack_efd, .events = POLLIN };
			poll(&p, 1, 50);    /* short: deaths are noticed by waitpid */
			kf_ring_ack_woken(&d->ring);
		}
	}
}

static void finish(struct driver *d)
{
	struct kf_ring_rec stop = { .slot = STOP_SLOT, .offset = -1, .key_len = -1,
				    .value_len = -1 };
	int64_t until = now_ms() + STALL_MS;
	bool stop_pushed = false;

	for (;;) {
		if (!stop_pushed) {
			int rc = kf_ring_push(&d->ring, &stop);
			if (rc == KF_OK)
				stop_pushed = true;
			else if (rc != KF_EAGAIN)
				die("driver", "push stop: %s", kf_strerror(rc));
		}
		struct kf_ring_ack ack;
		int rc;
		while (d->fifo_len && (rc = kf_ring_ack_pop(&d->ring, &ack)) != 0) {
			if (rc < 0)
				die("driver", "ack pop: %s", kf_strerror(rc));
			check_ack(d, &ack, &d->fifo[d->fifo_head]);
			d->fifo_head = (d->fifo_head + 1) % FIFO_CAP;
			d->fifo_len--;
			d->acked++;
		}
		if (!d->fifo_len && stop_pushed && kf_ring_ack_pop(&d->ring, &ack) == 1) {
			if (ack.slot != STOP_SLOT)
				die("driver", "ack after the last record");
			break;
		}
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			replace_worker(d, status);
			continue;
		}
		if (now_ms() > until)
			die("driver", "worker did not finish (%zu in flight)", d->fifo_len);
		if (kf_ring_ack_sleep(&d->ring)) {
			struct pollfd p = { .fd = d->ring.ack_efd, .events = POLLIN };
			poll(&p, 1, 50);
			kf_ring_ack_woken(&d->ring);
		}
	}
	int status;
	if (waitpid(d->pid, &status, 0) != d->pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		die("driver", "worker's final exit status %d", status);
	if (kf_ring_rec_used(&d->ring) != 0)
		die("driver", "%zu ring bytes still in use", kf_ring_rec_used(&d->ring));
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 5;
	seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	static struct driver d;
	char err[256];

	if (seconds <= 0) {
		fprintf(stderr, "usage: ring_stress [SECONDS [SEED]]\n");
		return 2;
	}
	printf("ring_stress: %d s, seed %" PRIu64 ", record ring %d B, ack ring %d B\n",
	       seconds, seed, REC_BYTES, ACK_BYTES);
	if (kf_ring_create(&d.ring, REC_BYTES, ACK_BYTES, err, sizeof(err)) != KF_OK)
		die("driver", "%s", err);
	kf_ring_set_topic(&d.ring, 0, "t0");
	kf_ring_set_topic(&d.ring, 1, "t1");
	kf_ring_set_topic(&d.ring, 2, "t2");
	spawn(&d);
	drive(&d, seconds);
	finish(&d);

	struct kf_ring_stats st;
	kf_ring_stats(&d.ring, &st);
	printf("ring_stress: ok: %" PRIu64 " records (%" PRIu64 " MiB, %" PRIu64
	       " laps of the ring) acked in order, %" PRIu64 " refused as too big, %" PRIu64
	       " acked failed\n", d.acked, d.bytes >> 20, d.bytes / REC_BYTES, d.refused,
	       d.failed);
	printf("ring_stress: %" PRIu64 " worker deaths + %" PRIu64 " kills, %" PRIu64
	       " records delivered again, up to %u attempts\n", d.deaths, d.kills,
	       d.redelivered, d.max_attempts);
	printf("ring_stress: eventfd writes %" PRIu64 " to workers, %" PRIu64
	       " to the driver\n", st.rec_wakeups, st.ack_wakeups);
	if (d.acked != d.pushed)
		die("driver", "%" PRIu64 " pushed, %" PRIu64 " acked", d.pushed, d.acked);
	kf_ring_destroy(&d.ring);
	return 0;
}
