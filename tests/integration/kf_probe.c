/*
 * kf_probe: a small Kafka client built only on lib/, used by the
 * integration tests against devbroker.  It negotiates versions, reads
 * metadata, finds a group coordinator, lists offsets, and fetches every
 * record of the given topics from the earliest offset up to the high
 * watermark seen at start, checking each record against devbroker's
 * deterministic contents:
 *
 *   value  = "TOPIC/PARTITION/SEQ" padded with '.' to the record size
 *   key    = null, "k<SEQ>" or "k<SEQ mod N>" (per topic, -t NAME:SCHEME)
 *   header h = "<SEQ>"
 *
 * where SEQ is the record's offset (devbroker produces non-transactional
 * records, so offset == SEQ).  It survives injected errors and brokers
 * going down: every failure refreshes metadata and retries after a short
 * backoff, until the overall deadline.
 *
 *   kf_probe -b BOOTSTRAP [-g GROUP] [-w SECONDS] [-m MAXVER] -t TOPIC[:none|seq|mod:N] ...
 *
 * Prints one summary line per topic and exits 0 when every record was seen
 * exactly once and verified, 1 otherwise.
 */
#include "config.h"

#include <ev.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "tls.h"
#include "cluster.h"
#include "log.h"
#include "proto_msgs.h"
#include "resolve.h"

#define MAX_TOPICS 16
#define MAX_PARTS 64

struct part {
	int32_t id;
	int32_t leader;
	int64_t start, end; /* earliest offset, high watermark at start */
	int64_t next;       /* next offset to fetch */
	int64_t seen, dups, gaps, bad;
	bool listed_start, listed_end, inflight;
};

struct topic {
	char name[128];
	int keys;   /* 0 none, 1 seq, 2 mod */
	int mod;
	int nparts;
	struct part parts[MAX_PARTS];
};

enum phase { PH_METADATA, PH_COORD, PH_LIST, PH_FETCH, PH_DONE };

static struct probe {
	struct ev_loop *loop;
	struct kf_resolver *res;
	struct kf_cluster *cl;
	const char *group;
	int16_t fetch_max_ver;
	struct topic topics[MAX_TOPICS];
	int ntopics;
	enum phase phase;
	bool md_inflight;
	bool coord_done;
	ev_timer retry, deadline;
	int retries;
	int failed;
	struct kf_batch_iter it;
	/* Requests live here until their answer (kf_conn_send's rule). */
	struct kf_arena req_arena;
	struct kf_metadata_req md_req;
	struct kf_find_coordinator_req fc_req;
	char *fc_keys[1];
} P;

static void step(void);

static void retry_later(const char *why)
{
	P.retries++;
	kf_info("probe", "retrying (%s)", why);
	P.phase = P.phase == PH_DONE ? PH_DONE : PH_METADATA;
	if (!ev_is_active(&P.retry)) {
		ev_timer_set(&P.retry, 0.2, 0.);
		ev_timer_start(P.loop, &P.retry);
	}
}

static struct topic *find_topic(const char *name)
{
	for (int i = 0; i < P.ntopics; i++)
		if (name && strcmp(P.topics[i].name, name) == 0)
			return &P.topics[i];
	return NULL;
}

static struct part *find_part(struct topic *t, int32_t id)
{
	for (int i = 0; t && i < t->nparts; i++)
		if (t->parts[i].id == id)
			return &t->parts[i];
	return NULL;
}

/* ------------------------------------------------------------ metadata */

static void on_metadata(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	P.md_inflight = false;
	if (err) {
		retry_later(kf_strerror(err));
		return;
	}
	struct kf_metadata_resp *md = resp;
	kf_info("probe", "metadata v%d from %s: %d brokers, %d topics", ver, kf_conn_name(c),
		md->brokers.n, md->topics.n);
	kf_cluster_set_brokers(P.cl, md);
	for (int32_t i = 0; i < md->topics.n; i++) {
		struct kf_metadata_resp_topic *mt = &KF_AT(md->topics, struct kf_metadata_resp_topic, i);
		struct topic *t = find_topic(mt->name);
		if (!t)
			continue;
		if (mt->error_code) {
			retry_later(kf_kafka_err_name(mt->error_code));
			return;
		}
		for (int32_t j = 0; j < mt->partitions.n; j++) {
			struct kf_metadata_resp_partition *mp =
				&KF_AT(mt->partitions, struct kf_metadata_resp_partition, j);
			struct part *p = find_part(t, mp->partition_index);
			if (!p) {
				if (t->nparts == MAX_PARTS)
					continue;
				p = &t->parts[t->nparts++];
				memset(p, 0, sizeof(*p));
				p->id = mp->partition_index;
			}
			p->leader = mp->leader_id;
			if (mp->error_code || mp->leader_id < 0) {
				retry_later(kf_kafka_err_name(mp->error_code));
				return;
			}
		}
	}
	for (int i = 0; i < P.ntopics; i++)
		if (P.topics[i].nparts == 0) {
			retry_later("topic not in metadata yet");
			return;
		}
	/* After a retry, pick up where things stopped: fetch positions and
	 * listed offsets are kept, only leaders are refreshed. */
	bool listed = true;
	for (int i = 0; i < P.ntopics; i++)
		for (int j = 0; j < P.topics[i].nparts; j++)
			listed = listed && P.topics[i].parts[j].listed_start && P.topics[i].parts[j].listed_end;
	P.phase = !P.coord_done ? PH_COORD : !listed ? PH_LIST : PH_FETCH;
	step();
}

static void send_metadata(void)
{
	if (P.md_inflight)
		return;
	kf_arena_free(&P.req_arena);
	memset(&P.md_req, 0, sizeof(P.md_req));
	kf_proto_defaults(kf_api_metadata.req, &P.md_req);
	struct kf_metadata_req_topic *ts = kf_proto_array_new(kf_api_metadata.req, &P.md_req, "Topics",
							      P.ntopics, &P.req_arena);
	for (int i = 0; i < P.ntopics; i++)
		ts[i].name = P.topics[i].name;
	P.md_req.allow_auto_topic_creation = 0;
	struct kf_conn *c = kf_cluster_any(P.cl);
	if (kf_conn_send(c, KF_API_METADATA, -1, &P.md_req, 5000, on_metadata, NULL) == KF_OK)
		P.md_inflight = true;
}

/* ------------------------------------------------------------ coordinator */

static void on_coordinator(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	if (err) {
		retry_later(kf_strerror(err));
		return;
	}
	struct kf_find_coordinator_resp *r = resp;
	int16_t code = r->error_code;
	int32_t node = r->node_id;
	if (r->coordinators.n > 0) {
		struct kf_find_coordinator_resp_coordinator *co =
			&KF_AT(r->coordinators, struct kf_find_coordinator_resp_coordinator, 0);
		code = co->error_code;
		node = co->node_id;
	}
	if (code) {
		retry_later(kf_kafka_err_name(code));
		return;
	}
	if (!kf_cluster_broker(P.cl, node)) {
		kf_err("probe", "coordinator %d is not in the broker table", node);
		P.failed = 1;
	}
	kf_info("probe", "FindCoordinator v%d: group %s -> node %d", ver, P.group, node);
	P.coord_done = true;
	if (P.phase == PH_COORD) {
		P.phase = PH_LIST;
		step();
	}
}

static void send_coordinator(void)
{
	memset(&P.fc_req, 0, sizeof(P.fc_req));
	kf_proto_defaults(kf_api_find_coordinator.req, &P.fc_req);
	P.fc_req.key = (char *)P.group;
	P.fc_keys[0] = (char *)P.group;
	P.fc_req.coordinator_keys.v = P.fc_keys;
	P.fc_req.coordinator_keys.n = 1;
	kf_conn_send(kf_cluster_any(P.cl), KF_API_FIND_COORDINATOR, -1, &P.fc_req, 5000,
		     on_coordinator, NULL);
}

/* ------------------------------------------------------------ list offsets */

/* One ListOffsets per leader for both earliest and latest; a request
 * carries one timestamp per partition, so two requests per leader. */
struct list_req {
	struct kf_list_offsets_req req;
	struct kf_arena arena;
	int64_t ts;
};

static int lists_inflight;

static void on_list(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct list_req *lr = opaque;
	lists_inflight--;
	if (err) {
		retry_later(kf_strerror(err));
	} else {
		struct kf_list_offsets_resp *r = resp;
		for (int32_t i = 0; i < r->topics.n; i++) {
			struct kf_list_offsets_resp_topic *rt = &KF_AT(r->topics, struct kf_list_offsets_resp_topic, i);
			struct topic *t = find_topic(rt->name);
			for (int32_t j = 0; j < rt->partitions.n; j++) {
				struct kf_list_offsets_resp_partition *rp =
					&KF_AT(rt->partitions, struct kf_list_offsets_resp_partition, j);
				struct part *p = find_part(t, rp->partition_index);
				if (!p)
					continue;
				if (rp->error_code) {
					retry_later(kf_kafka_err_name(rp->error_code));
					continue;
				}
				if (lr->ts == -2 && !p->listed_start) {
					p->start = p->next = rp->offset;
					p->listed_start = true;
				} else if (lr->ts == -1 && !p->listed_end) {
					p->end = rp->offset;
					p->listed_end = true;
				}
			}
		}
		kf_debug("probe", "ListOffsets v%d ts %" PRId64 " answered", ver, lr->ts);
	}
	kf_arena_free(&lr->arena);
	free(lr);
	if (lists_inflight == 0 && P.phase == PH_LIST && !ev_is_active(&P.retry)) {
		P.phase = PH_FETCH;
		step();
	}
}

static void send_lists(void)
{
	int32_t leaders[64];
	int nl = 0;
	for (int i = 0; i < P.ntopics; i++)
		for (int j = 0; j < P.topics[i].nparts; j++) {
			int32_t l = P.topics[i].parts[j].leader;
			bool have = false;
			for (int k = 0; k < nl; k++)
				have = have || leaders[k] == l;
			if (!have && nl < 64)
				leaders[nl++] = l;
		}
	for (int k = 0; k < nl; k++)
		for (int which = 0; which < 2; which++) {
			struct list_req *lr = calloc(1, sizeof(*lr));
			kf_arena_init(&lr->arena);
			lr->ts = which ? -1 : -2;
			kf_proto_defaults(kf_api_list_offsets.req, &lr->req);
			lr->req.replica_id = -1;
			struct kf_list_offsets_req_topic *ts =
				kf_proto_array_new(kf_api_list_offsets.req, &lr->req, "Topics", P.ntopics, &lr->arena);
			const struct kf_schema *ts_s = kf_proto_sub(kf_api_list_offsets.req, "Topics");
			for (int i = 0; i < P.ntopics; i++) {
				struct topic *t = &P.topics[i];
				int n = 0;
				for (int j = 0; j < t->nparts; j++)
					n += t->parts[j].leader == leaders[k];
				ts[i].name = t->name;
				struct kf_list_offsets_req_partition *ps =
					kf_proto_array_new(ts_s, &ts[i], "Partitions", n, &lr->arena);
				n = 0;
				for (int j = 0; j < t->nparts; j++)
					if (t->parts[j].leader == leaders[k]) {
						ps[n].partition_index = t->parts[j].id;
						ps[n].timestamp = lr->ts;
						n++;
					}
			}
			struct kf_conn *c = kf_cluster_broker(P.cl, leaders[k]);
			if (!c || kf_conn_send(c, KF_API_LIST_OFFSETS, -1, &lr->req, 5000, on_list, lr)) {
				kf_arena_free(&lr->arena);
				free(lr);
				retry_later("no connection to leader");
				continue;
			}
			lists_inflight++;
		}
}

/* ------------------------------------------------------------ fetch */

struct fetch_req {
	struct kf_fetch_req req;
	struct kf_arena arena;
	int nparts;
	struct part *parts[MAX_TOPICS * MAX_PARTS]; /* what this request carries */
};

static bool topic_done(const struct topic *t)
{
	for (int j = 0; j < t->nparts; j++)
		if (t->parts[j].next < t->parts[j].end)
			return false;
	return true;
}

static bool all_done(void)
{
	for (int i = 0; i < P.ntopics; i++)
		if (!topic_done(&P.topics[i]))
			return false;
	return true;
}

static void check_record(struct topic *t, struct part *p, const struct kf_record *r)
{
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
	if (t->keys == 0)
		ok = ok && r->key_len == -1;
	else {
		int64_t k = t->keys == 1 ? r->offset : r->offset % t->mod;
		int kn = snprintf(want, sizeof(want), "k%" PRId64, k);
		ok = ok && r->key_len == kn && memcmp(r->key, want, (size_t)kn) == 0;
	}
	/* header h = "<SEQ>" */
	const uint8_t *hp = r->headers;
	size_t left = r->headers_len;
	const uint8_t *hk, *hv;
	int32_t hkl, hvl;
	int hn = snprintf(want, sizeof(want), "%" PRId64, r->offset);
	ok = ok && r->header_count == 1 &&
	     kf_record_header_next(&hp, &left, &hk, &hkl, &hv, &hvl) == 1 && hkl == 1 &&
	     hk[0] == 'h' && hvl == hn && memcmp(hv, want, (size_t)hn) == 0;
	if (!ok && p->bad++ < 3)
		kf_err("probe", "%s/%d offset %" PRId64 ": record does not match (value %.*s)", t->name,
		       p->id, r->offset, r->value_len > 60 ? 60 : (int)r->value_len,
		       r->value ? (const char *)r->value : "");
}

static void take_records(struct topic *t, struct part *p, const struct kf_bytes *recs)
{
	if (recs->len <= 0)
		return;
	kf_batch_iter_reset(&P.it, recs->p, (size_t)recs->len, p->next);
	struct kf_batch b;
	int rc;
	while ((rc = kf_batch_next(&P.it, &b)) == 1) {
		struct kf_record r;
		int rr;
		while ((rr = kf_batch_record_next(&P.it, &r)) == 1)
			if (r.offset >= p->next || r.offset < p->start)
				check_record(t, p, &r);
			else
				p->dups++;
		if (rr < 0) {
			kf_err("probe", "%s/%d: %s", t->name, p->id, kf_batch_iter_error(&P.it));
			p->bad++;
			p->next = b.last_offset + 1;
		}
		/* Control and compacted batches still move the position. */
		if (b.last_offset + 1 > p->next)
			p->next = b.last_offset + 1;
	}
	if (rc < 0) {
		kf_err("probe", "%s/%d: %s", t->name, p->id, kf_batch_iter_error(&P.it));
		p->bad++;
		P.failed = 1;
	}
}

static void send_fetches(void);

static void on_fetch(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct fetch_req *fr = opaque;
	for (int i = 0; i < fr->nparts; i++)
		fr->parts[i]->inflight = false;
	kf_arena_free(&fr->arena);
	free(fr);
	if (err) {
		retry_later(kf_strerror(err));
		return;
	}
	struct kf_fetch_resp *r = resp;
	if (r->error_code) {
		retry_later(kf_kafka_err_name(r->error_code));
		return;
	}
	for (int32_t i = 0; i < r->responses.n; i++) {
		struct kf_fetch_resp_topic *rt = &KF_AT(r->responses, struct kf_fetch_resp_topic, i);
		struct topic *t = find_topic(rt->topic);
		for (int32_t j = 0; j < rt->partitions.n; j++) {
			struct kf_fetch_resp_partition *rp = &KF_AT(rt->partitions, struct kf_fetch_resp_partition, j);
			struct part *p = find_part(t, rp->partition_index);
			if (!p)
				continue;
			if (rp->error_code) {
				retry_later(kf_kafka_err_name(rp->error_code));
				continue;
			}
			take_records(t, p, &rp->records);
		}
	}
	kf_trace("probe", "Fetch v%d answered", ver);
	if (all_done()) {
		P.phase = PH_DONE;
		ev_break(P.loop, EVBREAK_ALL);
		return;
	}
	if (P.phase == PH_FETCH && !ev_is_active(&P.retry))
		send_fetches();
}

static void send_fetches(void)
{
	for (int i = 0; i < P.ntopics; i++)
		for (int j = 0; j < P.topics[i].nparts; j++) {
			struct part *lp = &P.topics[i].parts[j];
			if (lp->inflight || lp->next >= lp->end)
				continue;
			int32_t leader = lp->leader;
			struct fetch_req *fr = calloc(1, sizeof(*fr));
			kf_arena_init(&fr->arena);
			kf_proto_defaults(kf_api_fetch.req, &fr->req);
			fr->req.replica_id = -1;
			fr->req.max_wait_ms = 100;
			fr->req.min_bytes = 1;
			fr->req.max_bytes = 1 << 20;
			fr->req.session_id = 0;
			fr->req.session_epoch = -1; /* sessionless full fetch */
			struct kf_fetch_req_topic *ts =
				kf_proto_array_new(kf_api_fetch.req, &fr->req, "Topics", P.ntopics, &fr->arena);
			const struct kf_schema *ts_s = kf_proto_sub(kf_api_fetch.req, "Topics");
			for (int ti = 0; ti < P.ntopics; ti++) {
				struct topic *t = &P.topics[ti];
				int n = 0;
				for (int pj = 0; pj < t->nparts; pj++)
					n += t->parts[pj].leader == leader && !t->parts[pj].inflight &&
					     t->parts[pj].next < t->parts[pj].end;
				ts[ti].topic = t->name;
				struct kf_fetch_req_partition *ps =
					kf_proto_array_new(ts_s, &ts[ti], "Partitions", n, &fr->arena);
				n = 0;
				for (int pj = 0; pj < t->nparts; pj++) {
					struct part *p = &t->parts[pj];
					if (p->leader != leader || p->inflight || p->next >= p->end)
						continue;
					ps[n].partition = p->id;
					ps[n].fetch_offset = p->next;
					ps[n].partition_max_bytes = 256 << 10;
					p->inflight = true;
					fr->parts[fr->nparts++] = p;
					n++;
				}
			}
			struct kf_conn *c = kf_cluster_broker(P.cl, leader);
			if (!c || kf_conn_send(c, KF_API_FETCH, P.fetch_max_ver, &fr->req, 10000, on_fetch, fr)) {
				on_fetch(c, KF_ECLOSED, -1, NULL, fr);
				return;
			}
		}
}

/* ------------------------------------------------------------ driver */

static void step(void)
{
	switch (P.phase) {
	case PH_METADATA: send_metadata(); break;
	case PH_COORD: send_coordinator(); break;
	case PH_LIST: send_lists(); break;
	case PH_FETCH: send_fetches(); break;
	case PH_DONE: ev_break(P.loop, EVBREAK_ALL); break;
	}
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* After any failure start over from metadata: leaders may have moved. */
	P.phase = PH_METADATA;
	send_metadata();
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	kf_err("probe", "deadline passed in phase %d after %d retries", P.phase, P.retries);
	P.failed = 1;
	ev_break(loop, EVBREAK_ALL);
}

static void usage(void)
{
	fprintf(stderr, "usage: kf_probe -b BOOTSTRAP [-g GROUP] [-w SECONDS] [-m FETCH_MAX_VERSION] "
			"[-T CA_FILE] [-v] -t TOPIC[:none|seq|mod:N] ...\n"
			"  -T: connect over TLS, verifying the brokers against CA_FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *bootstrap = NULL, *ca_file = NULL;
	double wait = 60;
	int opt;
	P.group = "kf-probe";
	P.fetch_max_ver = 12;
	while ((opt = getopt(argc, argv, "b:g:w:m:t:T:v")) != -1) {
		switch (opt) {
		case 'T': ca_file = optarg; break;
		case 'b': bootstrap = optarg; break;
		case 'g': P.group = optarg; break;
		case 'w': wait = atof(optarg); break;
		case 'm': P.fetch_max_ver = (int16_t)atoi(optarg); break;
		case 'v': kf_log_level = kf_log_level == KF_LOG_DEBUG ? KF_LOG_TRACE : KF_LOG_DEBUG; break;
		case 't': {
			if (P.ntopics == MAX_TOPICS)
				usage();
			struct topic *t = &P.topics[P.ntopics++];
			char *colon = strchr(optarg, ':');
			snprintf(t->name, sizeof(t->name), "%.*s",
				 colon ? (int)(colon - optarg) : (int)strlen(optarg), optarg);
			if (!colon || strcmp(colon + 1, "none") == 0)
				t->keys = 0;
			else if (strcmp(colon + 1, "seq") == 0)
				t->keys = 1;
			else if (strncmp(colon + 1, "mod:", 4) == 0 && atoi(colon + 5) > 0) {
				t->keys = 2;
				t->mod = atoi(colon + 5);
			} else
				usage();
			break;
		}
		default: usage();
		}
	}
	if (!bootstrap || P.ntopics == 0)
		usage();

	P.loop = ev_default_loop(0);
	struct kf_batch_opts bo = { .verify_crc = true, .max_decompressed = 64u << 20 };
	kf_batch_iter_init(&P.it, &bo);
	P.res = kf_resolver_new(P.loop);
	kf_arena_init(&P.req_arena);
	char err[256];
	struct kf_cluster_opts co = { .bootstrap = bootstrap,
				      .conn = { .client_id = "kf_probe", .connect_timeout_ms = 3000,
						.request_timeout_ms = 10000, .backoff_min_ms = 50,
						.backoff_max_ms = 1000 } };
	struct kf_tls *tls = NULL;
	if (ca_file) {
		struct kf_tls_conf tc = { .ca_file = ca_file, .verify_peer = true };
		if (!(tls = kf_tls_new(&tc, err, sizeof(err)))) {
			fprintf(stderr, "kf_probe: %s\n", err);
			return 2;
		}
		co.conn.transport = kf_tls_transport(tls);
	}
	P.cl = kf_cluster_new(P.loop, P.res, &co, err, sizeof(err));
	if (!P.cl) {
		fprintf(stderr, "kf_probe: %s\n", err);
		return 2;
	}
	ev_init(&P.retry, on_retry);
	ev_timer_init(&P.deadline, on_deadline, wait, 0.);
	ev_timer_start(P.loop, &P.deadline);
	P.phase = PH_METADATA;
	step();
	ev_run(P.loop, 0);

	int64_t total = 0;
	for (int i = 0; i < P.ntopics; i++) {
		struct topic *t = &P.topics[i];
		int64_t seen = 0, expect = 0, dups = 0, gaps = 0, bad = 0;
		for (int j = 0; j < t->nparts; j++) {
			struct part *p = &t->parts[j];
			seen += p->seen;
			expect += p->end - p->start;
			dups += p->dups;
			gaps += p->gaps + (p->end > p->next ? p->end - p->next : 0);
			bad += p->bad;
		}
		total += seen;
		printf("topic %s: partitions %d records %" PRId64 "/%" PRId64 " missing %" PRId64
		       " duplicates %" PRId64 " bad %" PRId64 "\n",
		       t->name, t->nparts, seen, expect, gaps, dups, bad);
		if (seen != expect || gaps || dups || bad || expect == 0)
			P.failed = 1;
	}
	printf("probe: %s, %" PRId64 " records, %d retries\n", P.failed ? "FAILED" : "ok", total,
	       P.retries);
	kf_cluster_free(P.cl);
	if (tls)
		kf_tls_free(tls);
	kf_resolver_free(P.res);
	kf_arena_free(&P.req_arena);
	kf_batch_iter_free(&P.it);
	ev_timer_stop(P.loop, &P.retry);
	ev_timer_stop(P.loop, &P.deadline);
	return P.failed ? 1 : 0;
}
