/*
 * fetcher_driver: supervisor/fetcher.c against devbroker.
 *
 * Assigns every partition of the given topics (paused), learns each one's
 * end with kf_fetcher_list_offsets(-1), then drains them from offset 0,
 * checking every record against devbroker's deterministic contents (see
 * kf_probe.c): value "TOPIC/PARTITION/OFFSET" padded with '.', key per
 * scheme, header h=<OFFSET>.  A simulated consumer answers KF_EAGAIN every
 * Nth record and pauses a partition itself every Mth; a timer resumes them.
 * With -o, slot 0 first seeks past the end: on_out_of_range must come, and
 * the driver resets it to the earliest offset (ListOffsets -2).
 *
 *   fetcher_driver -b BOOTSTRAP [-w SECONDS] [-e N] [-p M] [-r MS] [-o] [-c]
 *                  [-v] -t TOPIC:NPARTS:COUNT[:none|seq|mod:N] ...
 *
 * COUNT is how many records devbroker produced to the topic (round robin,
 * so each partition holds COUNT/NPARTS; 0 = do not check the ends).
 * With -S instead, a self-test without a broker: hand-built batches go
 * through kf_fetcher_feed (the path of every Fetch answer) to check control
 * batches, read_committed aborts, compacted gaps, KF_EAGAIN, a corrupt
 * batch and the error-code reactions.
 *
 * Prints "draining" when fetching starts, a summary per topic, the
 * fetcher's counters and each partition's leader at the end; exits 0 only when every record was seen exactly once.
 */
#include "config.h"

#include <ev.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/batch_build.h"
#include "cluster.h"
#include "err.h"
#include "fetcher.h"
#include "log.h"
#include "proto_msgs.h"
#include "resolve.h"

#define MAX_TOPICS 16
#define MAX_PARTS 64

struct dpart {
	struct dtopic *t;
	int32_t id;
	uint32_t slot;
	int64_t end;       /* high watermark from ListOffsets; -1 until known */
	int64_t next;      /* next offset expected */
	int64_t seen, dups, gaps, bad;
	bool want_resume;
};

struct dtopic {
	char name[128];
	int nparts;
	int64_t count;
	int keys;          /* 0 none, 1 seq, 2 mod */
	int mod;
	struct dpart parts[MAX_PARTS];
};

static struct driver {
	struct ev_loop *loop;
	struct kf_fetcher *f;
	struct dtopic topics[MAX_TOPICS];
	int ntopics;
	struct dpart *byslot[MAX_TOPICS * MAX_PARTS];
	int nslots;
	int every_eagain, every_pause, resume_ms;
	bool oor_test, draining;
	int oor_seen, errors, skips;
	uint64_t nrec;
	int failed;
	ev_timer tick, deadline;
} D;

static int fail_check(const char *what)
{
	fprintf(stderr, "fetcher_driver: check failed: %s\n", what);
	return 1;
}

/* kf_fetch_error_action is pure: check the table once. */
static int check_actions(void)
{
	int bad = 0;
	bad |= kf_fetch_error_action(0) != KF_FA_NONE ? fail_check("0") : 0;
	bad |= kf_fetch_error_action(1) != KF_FA_OUT_OF_RANGE ? fail_check("1") : 0;
	static const int16_t md[] = { 3, 5, 6, 9, 56, 74, 78, 100, 103 };
	for (size_t i = 0; i < sizeof(md) / sizeof(md[0]); i++)
		bad |= kf_fetch_error_action(md[i]) != KF_FA_METADATA ? fail_check("metadata") : 0;
	static const int16_t bo[] = { -1, 2, 7, 29, 70, 71, 75 };
	for (size_t i = 0; i < sizeof(bo) / sizeof(bo[0]); i++)
		bad |= kf_fetch_error_action(bo[i]) != KF_FA_BACKOFF ? fail_check("backoff") : 0;
	return bad;
}

static bool all_done(void)
{
	for (int i = 0; i < D.nslots; i++)
		if (D.byslot[i]->end < 0 || D.byslot[i]->next < D.byslot[i]->end)
			return false;
	return true;
}

static void check_record(struct dpart *p, const struct kf_record *r)
{
	struct dtopic *t = p->t;
	if (r->offset < p->next) {
		p->dups++;
		return;
	}
	if (r->offset > p->next)
		p->gaps += r->offset - p->next;
	p->next = r->offset + 1;
	p->seen++;
	char want[256];
	int n = snprintf(want, sizeof(want), "%s/%d/%" PRId64, t->name, p->id, r->offset);
	bool ok = r->value && r->value_len >= n && memcmp(r->value, want, (size_t)n) == 0;
	for (int32_t i = n; ok && i < r->value_len; i++)
		ok = r->value[i] == '.';
	if (t->keys == 0) {
		ok = ok && r->key_len == -1;
	} else {
		int64_t k = t->keys == 1 ? r->offset : r->offset % t->mod;
		int kn = snprintf(want, sizeof(want), "k%" PRId64, k);
		ok = ok && r->key_len == kn && memcmp(r->key, want, (size_t)kn) == 0;
	}
	const uint8_t *hp = r->headers, *hk, *hv;
	size_t left = r->headers_len;
	int32_t hkl, hvl;
	int hn = snprintf(want, sizeof(want), "%" PRId64, r->offset);
	ok = ok && r->header_count == 1 &&
	     kf_record_header_next(&hp, &left, &hk, &hkl, &hv, &hvl) == 1 && hkl == 1 &&
	     hk[0] == 'h' && hvl == hn && memcmp(hv, want, (size_t)hn) == 0;
	if (!ok && p->bad++ < 3)
		kf_err("driver", "%s/%d offset %" PRId64 ": record does not match", t->name, p->id,
		       r->offset);
}

static int on_record(void *opaque, uint32_t slot, const struct kf_record *r, const char *topic,
		     int32_t partition)
{
	struct dpart *p = D.byslot[slot];
	(void)opaque;
	if (strcmp(topic, p->t->name) != 0 || partition != p->id) {
		kf_err("driver", "slot %u: got %s/%d", slot, topic, partition);
		D.failed = 1;
	}
	D.nrec++;
	if (D.every_eagain && D.nrec % (uint64_t)D.every_eagain == 0) {
		p->want_resume = true; /* the fetcher paused it */
		return KF_EAGAIN;
	}
	check_record(p, r);
	if (D.every_pause && D.nrec % (uint64_t)D.every_pause == 0) {
		kf_fetcher_pause(D.f, slot);
		p->want_resume = true;
	}
	if (all_done())
		ev_break(D.loop, EVBREAK_ALL);
	return KF_OK;
}

static void on_skip(void *opaque, uint32_t slot, int64_t next)
{
	(void)opaque;
	D.skips++;
	kf_info("driver", "slot %u: skip to %" PRId64, slot, next);
}

static void on_reset(void *arg, uint32_t slot, int err, int16_t code, int64_t offset)
{
	(void)arg;
	if (err || code || offset < 0) {
		kf_warn("driver", "slot %u: earliest: %s %s", slot, kf_strerror(err),
			kf_kafka_err_name(code));
		D.byslot[slot]->want_resume = true; /* retried by the tick */
		return;
	}
	kf_info("driver", "slot %u: reset to %" PRId64, slot, offset);
	kf_fetcher_seek(D.f, slot, offset);
}

static void on_out_of_range(void *opaque, uint32_t slot, int64_t position)
{
	(void)opaque;
	D.oor_seen++;
	kf_info("driver", "slot %u: out of range at %" PRId64, slot, position);
	if (kf_fetcher_list_offsets(D.f, slot, -2, on_reset, NULL) != KF_OK)
		D.byslot[slot]->want_resume = true;
}

static void on_error(void *opaque, uint32_t slot, const char *msg)
{
	(void)opaque;
	D.errors++;
	D.failed = 1;
	kf_err("driver", "slot %u: %s", slot, msg);
}

static void on_end(void *arg, uint32_t slot, int err, int16_t code, int64_t offset)
{
	(void)arg;
	if (!err && !code && offset >= 0)
		D.byslot[slot]->end = offset;
}

static void start_drain(void)
{
	D.draining = true;
	for (int i = 0; i < D.nslots; i++) {
		struct dpart *p = D.byslot[i];
		if (p->t->count && p->end != p->t->count / p->t->nparts) {
			kf_err("driver", "%s/%d: end %" PRId64 ", expected %" PRId64, p->t->name, p->id,
			       p->end, p->t->count / p->t->nparts);
			D.failed = 1;
		}
	}
	if (D.oor_test)
		kf_fetcher_seek(D.f, 0, 1000000000);
	printf("draining\n");
	fflush(stdout);
	for (int i = 0; i < D.nslots; i++)
		kf_fetcher_resume(D.f, (uint32_t)i);
}

/* Before the drain: ask for missing ends.  During it: resume what the
 * simulated consumer paused, retry failed resets. */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (!D.draining) {
		bool known = true;
		for (int i = 0; i < D.nslots; i++)
			if (D.byslot[i]->end < 0) {
				known = false;
				kf_fetcher_list_offsets(D.f, (uint32_t)i, -1, on_end, NULL);
			}
		if (known)
			start_drain();
		return;
	}
	for (int i = 0; i < D.nslots; i++) {
		struct dpart *p = D.byslot[i];
		if (!p->want_resume)
			continue;
		p->want_resume = false;
		if (kf_fetcher_paused(D.f, (uint32_t)i))
			kf_fetcher_resume(D.f, (uint32_t)i);
		else if (kf_fetcher_position(D.f, (uint32_t)i) >= 1000000000)
			on_out_of_range(NULL, (uint32_t)i, -1);
	}
	if (all_done())
		ev_break(D.loop, EVBREAK_ALL);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	kf_err("driver", "deadline passed");
	D.failed = 1;
	ev_break(loop, EVBREAK_ALL);
}


/* ------------------------------------------------------------ self-test */

static struct selftest {
	int64_t got[64];
	int ngot;
	int64_t skips[16];
	int nskips;
	int64_t eagain_at; /* answer KF_EAGAIN once at this offset */
	int errors, oor;
} S;

static int st_record(void *opaque, uint32_t slot, const struct kf_record *r, const char *topic,
		     int32_t partition)
{
	(void)opaque;
	(void)slot;
	(void)topic;
	(void)partition;
	if (r->offset == S.eagain_at) {
		S.eagain_at = -1;
		return KF_EAGAIN;
	}
	if (S.ngot < 64)
		S.got[S.ngot++] = r->offset;
	return KF_OK;
}

static void st_skip(void *opaque, uint32_t slot, int64_t next)
{
	(void)opaque;
	(void)slot;
	if (S.nskips < 16)
		S.skips[S.nskips++] = next;
}

static void st_oor(void *opaque, uint32_t slot, int64_t position)
{
	(void)opaque;
	(void)slot;
	(void)position;
	S.oor++;
}

static void st_error(void *opaque, uint32_t slot, const char *msg)
{
	(void)opaque;
	(void)slot;
	S.errors++;
	kf_info("selftest", "on_error: %s", msg);
}

/* n records at base, offset deltas 0..n-1, last delta forced to last. */
static void st_batch(struct kf_wr *w, int64_t base, int n, int32_t last, int64_t pid)
{
	struct kfb_record recs[8];
	memset(recs, 0, sizeof(recs));
	for (int i = 0; i < n; i++) {
		recs[i].offset_delta = i;
		recs[i].key_len = -1;
		recs[i].value = "v";
		recs[i].value_len = 1;
	}
	struct kfb_batch b;
	kfb_batch_defaults(&b, base);
	b.last_offset_delta = last;
	if (pid >= 0) {
		b.transactional = true;
		b.producer_id = pid;
		b.producer_epoch = 0;
	}
	kfb_v2(w, &b, recs, n);
}

/*
 * 0-4 plain, 5 COMMIT marker (pid 9), 6-9 pid 7 transactional (aborted),
 * 10 ABORT marker (pid 7), 11-12 pid 7's next transaction (not aborted:
 * read_committed delivers it, the ABORT marker ended the aborted one),
 * 13-14 plain with last offset 16 (15, 16 compacted away), 17 plain.
 * Returns the offset of the batch at 11 in w (for the corruption case).
 */
static size_t st_log(struct kf_wr *w)
{
	st_batch(w, 0, 5, -1, -1);
	kfb_control(w, 5, 9, 0, 1);
	st_batch(w, 6, 4, -1, 7);
	kfb_control(w, 10, 7, 0, 0);
	size_t at = w->len;
	st_batch(w, 11, 2, -1, 7);
	st_batch(w, 13, 2, 3, -1);
	st_batch(w, 17, 1, -1, -1);
	return at;
}

static int st_expect(const char *what, const int64_t *got, int ngot, const int64_t *want, int nwant)
{
	bool ok = ngot == nwant;
	for (int i = 0; ok && i < nwant; i++)
		ok = got[i] == want[i];
	if (ok)
		return 0;
	fprintf(stderr, "selftest %s: got", what);
	for (int i = 0; i < ngot; i++)
		fprintf(stderr, " %" PRId64, got[i]);
	fprintf(stderr, ", want");
	for (int i = 0; i < nwant; i++)
		fprintf(stderr, " %" PRId64, want[i]);
	fprintf(stderr, "\n");
	return 1;
}

#define ST_N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int selftest_run(enum kf_isolation iso)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	char err[128];
	struct kf_cluster_opts co = { .bootstrap = "127.0.0.1:1" };
	struct kf_cluster *cl = kf_cluster_new(loop, res, &co, err, sizeof(err));
	struct kf_fetcher_conf conf = { .isolation = iso, .verify_crc = true };
	struct kf_fetcher_callbacks cb = { st_record, st_skip, st_oor, st_error };
	struct kf_fetcher *f = kf_fetcher_new(loop, cl, &conf, &cb, NULL);
	int bad = 0;
	struct kf_wr w;
	kf_wr_init(&w);
	size_t corrupt_at = st_log(&w);
	struct kf_fetch_resp_aborted_txn ab = { 7, 6 };
	struct kf_fetch_resp_partition rp = { .high_watermark = 18 };
	rp.records.p = w.buf;
	rp.records.len = (int32_t)w.len;
	if (iso == KF_READ_COMMITTED) {
		rp.aborted_transactions.v = &ab;
		rp.aborted_transactions.n = 1;
	}
	bool rc = iso == KF_READ_COMMITTED;

	/* 1. The whole log, with KF_EAGAIN at 3: 0-2, paused at 3. */
	memset(&S, 0, sizeof(S));
	S.eagain_at = 3;
	kf_fetcher_assign(f, "st", 0, 5, 0);
	kf_fetcher_feed(f, 5, &rp);
	static const int64_t w1[] = { 0, 1, 2 };
	bad |= st_expect("eagain", S.got, S.ngot, w1, ST_N(w1));
	bad |= !kf_fetcher_paused(f, 5) || kf_fetcher_position(f, 5) != 3 ? fail_check("paused at 3") : 0;
	kf_fetcher_feed(f, 5, &rp); /* paused: nothing */
	bad |= S.ngot != 3 ? fail_check("paused partition delivered") : 0;
	bad |= kf_fetcher_hwm(f, 5) != 18 ? fail_check("hwm") : 0;

	/* 2. Resumed: the rest, exactly once, skips reported. */
	kf_fetcher_resume(f, 5);
	kf_fetcher_feed(f, 5, &rp);
	static const int64_t w2u[] = { 0, 1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 17 };
	static const int64_t w2c[] = { 0, 1, 2, 3, 4, 11, 12, 13, 14, 17 };
	static const int64_t s2u[] = { 6, 11, 17 };
	static const int64_t s2c[] = { 6, 10, 11, 17 };
	bad |= rc ? st_expect("records", S.got, S.ngot, w2c, ST_N(w2c))
		  : st_expect("records", S.got, S.ngot, w2u, ST_N(w2u));
	bad |= rc ? st_expect("skips", S.skips, S.nskips, s2c, ST_N(s2c))
		  : st_expect("skips", S.skips, S.nskips, s2u, ST_N(s2u));
	bad |= kf_fetcher_position(f, 5) != 18 ? fail_check("position 18") : 0;

	/* 3. A corrupt batch at 11: 0-9 (or 0-4) delivered, then paused. */
	memset(&S, 0, sizeof(S));
	S.eagain_at = -1;
	w.buf[corrupt_at + 70] ^= 0x40; /* a record byte, CRC not fixed */
	kf_fetcher_seek(f, 5, 0);
	kf_fetcher_feed(f, 5, &rp);
	bad |= S.errors != 1 || !kf_fetcher_paused(f, 5) || !kf_fetcher_error(f, 5)
		       ? fail_check("corrupt batch: on_error + pause")
		       : 0;
	bad |= kf_fetcher_position(f, 5) != 11 ? fail_check("corrupt: position 11") : 0;
	bad |= S.ngot != (rc ? 5 : 9) ? fail_check("corrupt: records before it") : 0;
	kf_fetcher_resume(f, 5);
	bad |= kf_fetcher_error(f, 5) ? fail_check("resume clears the error") : 0;

	/* 4. Error codes. */
	struct kf_fetch_resp_partition ep = { .error_code = 1 };
	kf_fetcher_feed(f, 5, &ep);
	bad |= S.oor != 1 ? fail_check("on_out_of_range") : 0;
	w.buf[corrupt_at + 70] ^= 0x40;
	kf_fetcher_feed(f, 5, &rp); /* waits for a seek: nothing */
	bad |= S.ngot != (rc ? 5 : 9) ? fail_check("out of range: nothing until seek") : 0;
	kf_fetcher_seek(f, 5, 17);
	kf_fetcher_feed(f, 5, &rp);
	bad |= S.got[S.ngot - 1] != 17 ? fail_check("after seek: 17") : 0;
	ep.error_code = 6;
	kf_fetcher_feed(f, 5, &ep);
	bad |= kf_fetcher_leader(f, 5) != -1 ? fail_check("NOT_LEADER: leader unknown") : 0;
	kf_fetcher_unassign(f, 5);
	bad |= kf_fetcher_assigned(f, 5) || kf_fetcher_position(f, 5) != -1 ? fail_check("unassign") : 0;

	kf_wr_free(&w);
	kf_fetcher_free(f);
	kf_cluster_free(cl);
	kf_resolver_free(res);
	return bad;
}

static int selftest(void)
{
	int bad = check_actions();
	bad |= selftest_run(KF_READ_UNCOMMITTED);
	bad |= selftest_run(KF_READ_COMMITTED);
	printf("selftest: %s\n", bad ? "FAILED" : "ok");
	return bad;
}

static void usage(void)
{
	fprintf(stderr, "usage: fetcher_driver -b BOOTSTRAP [-w SECONDS] [-e N] [-p M] [-r MS] [-o] "
			"[-c] [-T FETCH_TIMEOUT_MS] [-v] -t TOPIC:NPARTS:COUNT[:none|seq|mod:N] ...\n");
	exit(2);
}

static void parse_topic(const char *arg)
{
	if (D.ntopics == MAX_TOPICS)
		usage();
	struct dtopic *t = &D.topics[D.ntopics++];
	char keys[32] = "none";
	long long count;
	if (sscanf(arg, "%127[^:]:%d:%lld:%31s", t->name, &t->nparts, &count, keys) < 3 ||
	    t->nparts <= 0 || t->nparts > MAX_PARTS)
		usage();
	t->count = count;
	if (strcmp(keys, "seq") == 0)
		t->keys = 1;
	else if (strncmp(keys, "mod:", 4) == 0 && atoi(keys + 4) > 0) {
		t->keys = 2;
		t->mod = atoi(keys + 4);
	} else if (strcmp(keys, "none") != 0)
		usage();
}

static int report(void)
{
	for (int i = 0; i < D.ntopics; i++) {
		struct dtopic *t = &D.topics[i];
		int64_t seen = 0, expect = 0, dups = 0, gaps = 0, bad = 0, hwm_bad = 0;
		for (int j = 0; j < t->nparts; j++) {
			struct dpart *p = &t->parts[j];
			seen += p->seen;
			expect += p->end > 0 ? p->end : 0;
			dups += p->dups;
			gaps += p->gaps + (p->end > p->next ? p->end - p->next : 0);
			bad += p->bad;
			hwm_bad += kf_fetcher_hwm(D.f, p->slot) != p->end;
		}
		printf("topic %s: partitions %d records %" PRId64 "/%" PRId64 " missing %" PRId64
		       " duplicates %" PRId64 " bad %" PRId64 " hwm-mismatch %" PRId64 "\n",
		       t->name, t->nparts, seen, expect, gaps, dups, bad, hwm_bad);
		if (seen != expect || gaps || dups || bad || hwm_bad || expect == 0)
			D.failed = 1;
	}
	struct kf_fetcher_counters n;
	kf_fetcher_counters(D.f, &n);
	printf("counters requests %" PRIu64 " responses %" PRIu64 " records %" PRIu64
	       " eagain %" PRIu64 " part_errors %" PRIu64 " metadata %" PRIu64 " skipped %" PRIu64
	       " out_of_range %d skips %d errors %d\n",
	       n.requests, n.responses, n.records, n.eagain, n.part_errors, n.metadata, n.skipped,
	       D.oor_seen, D.skips, D.errors);
	if (D.oor_test && D.oor_seen < 1) {
		kf_err("driver", "no out-of-range callback");
		D.failed = 1;
	}
	for (int i = 0; i < D.nslots; i++)
		printf("leader %s/%d %d\n", D.byslot[i]->t->name, D.byslot[i]->id,
		       kf_fetcher_leader(D.f, (uint32_t)i));
	printf("fetcher_driver: %s\n", D.failed ? "FAILED" : "ok");
	return D.failed;
}

int main(int argc, char **argv)
{
	const char *bootstrap = NULL;
	double wait = 60;
	struct kf_fetcher_conf conf = { .fetch_max_wait_ms = 100, .verify_crc = true,
					.backoff_ms = 100, .metadata_backoff_ms = 100 };
	int opt;
	D.resume_ms = 20;
	while ((opt = getopt(argc, argv, "b:w:e:p:r:m:ocvSt:T:")) != -1) {
		switch (opt) {
		case 'b': bootstrap = optarg; break;
		case 'w': wait = atof(optarg); break;
		case 'e': D.every_eagain = atoi(optarg); break;
		case 'p': D.every_pause = atoi(optarg); break;
		case 'r': D.resume_ms = atoi(optarg); break;
		case 'm': conf.fetch_partition_max_bytes = atoi(optarg); break;
		case 'o': D.oor_test = true; break;
		case 'c': conf.isolation = KF_READ_COMMITTED; break;
		case 'T': conf.request_timeout_ms = atoi(optarg); break;
		case 'v': kf_log_level = kf_log_level == KF_LOG_DEBUG ? KF_LOG_TRACE : KF_LOG_DEBUG; break;
		case 't': parse_topic(optarg); break;
		case 'S': return selftest();
		default: usage();
		}
	}
	if (!bootstrap || D.ntopics == 0)
		usage();
	if (check_actions())
		return 1;

	D.loop = ev_default_loop(0);
	struct kf_resolver *res = kf_resolver_new(D.loop);
	char err[256];
	struct kf_cluster_opts co = { .bootstrap = bootstrap,
				      .conn = { .client_id = "fetcher_driver", .connect_timeout_ms = 3000,
						.request_timeout_ms = 10000, .backoff_min_ms = 50,
						.backoff_max_ms = 1000 } };
	struct kf_cluster *cl = kf_cluster_new(D.loop, res, &co, err, sizeof(err));
	if (!cl) {
		fprintf(stderr, "fetcher_driver: %s\n", err);
		return 2;
	}
	struct kf_fetcher_callbacks cb = { .on_record = on_record, .on_skip = on_skip,
					   .on_out_of_range = on_out_of_range, .on_error = on_error };
	D.f = kf_fetcher_new(D.loop, cl, &conf, &cb, NULL);
	for (int i = 0; i < D.ntopics; i++)
		for (int j = 0; j < D.topics[i].nparts; j++) {
			struct dpart *p = &D.topics[i].parts[j];
			p->t = &D.topics[i];
			p->id = j;
			p->end = -1;
			p->slot = (uint32_t)D.nslots;
			D.byslot[D.nslots++] = p;
			if (kf_fetcher_assign(D.f, p->t->name, j, p->slot, 0) != KF_OK)
				return fail_check("assign");
			kf_fetcher_pause(D.f, p->slot);
		}
	if (kf_fetcher_assign(D.f, "x", 0, 0, 0) != KF_EPROTO)
		return fail_check("assign to a used slot");
	ev_timer_init(&D.tick, on_tick, 0.05, D.resume_ms / 1000.);
	ev_timer_start(D.loop, &D.tick);
	ev_timer_init(&D.deadline, on_deadline, wait, 0.);
	ev_timer_start(D.loop, &D.deadline);
	ev_run(D.loop, 0);

	int rc = report();
	kf_fetcher_free(D.f);
	kf_cluster_free(cl);
	kf_resolver_free(res);
	ev_timer_stop(D.loop, &D.tick);
	ev_timer_stop(D.loop, &D.deadline);
	ev_loop_destroy(D.loop);
	return rc;
}
