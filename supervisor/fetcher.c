/*
 * fetcher: Fetch requests per leader, records to the caller in order.
 * See fetcher.h for the contract.
 *
 * Every request is a heap object (struct freq, a lib/req.h request)
 * holding the request struct and an arena for its arrays, as kf_conn_send
 * wants them alive until the answer.  Each one lists the (slot, epoch,
 * offset) it asked for: a slot that was unassigned, reassigned, paused or
 * moved meanwhile no longer matches, and its part of the answer is
 * dropped.  All requests are on the fetcher's list so kf_fetcher_free can
 * detach them.
 *
 * Scheduling is deferred to a zero timer (kick): callbacks and API calls
 * only mark what changed, so nothing re-enters the response handler.
 */
#include "config.h"

#include <ev.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "err.h"
#include "fetcher.h"
#include "log.h"
#include "proto_msgs.h"
#include "req.h"

#define FETCH_MAX_VERSION 18
/* The last Fetch version that names topics; v13+ use topic ids (KIP-516),
 * so a request goes out at most at v12 when an id is not known. */
#define FETCH_NAMES_MAX_VERSION 12
/* Answers in a row with only part of the first batch: corrupt. */
#define INCOMPLETE_MAX 5

struct part {
	char *topic;
	int32_t partition;
	uint32_t epoch;         /* bumped by assign, seek: stale answers drop */
	int64_t position;       /* next offset to deliver */
	int64_t hwm;
	int32_t leader;         /* -1 unknown: waits for metadata */
	bool paused;            /* by the caller, EAGAIN or a corrupt batch */
	bool out_of_range;      /* waits for kf_fetcher_seek */
	bool inflight;
	ev_tstamp backoff_until;
	char *error;            /* the corrupt-batch message */
	int incomplete;         /* answers in a row ending in an incomplete
				   first batch (incomplete_batch) */
};

enum freq_kind { FREQ_FETCH = 0, FREQ_METADATA, FREQ_LIST };

struct fent {
	uint32_t slot;
	uint32_t epoch;
	int64_t offset;
};

struct freq {
	struct kf_req base;     /* owner: the fetcher, NULL once detached */
	enum freq_kind kind;
	int32_t node;
	union {
		struct kf_fetch_req fetch;
		struct kf_metadata_req md;
		struct kf_list_offsets_req list;
	} req;
	struct fent *ents;      /* fetch: what was asked, in request order */
	int nents;
	kf_fetcher_list_cb *list_cb; /* list: the caller's callback */
	void *list_arg;
};

struct broker {
	int32_t node;
	struct freq *inflight;
};

struct kf_fetcher {
	struct ev_loop *loop;
	struct kf_cluster *cl;
	struct kf_fetcher_conf conf;
	struct kf_fetcher_callbacks cb;
	void *opaque;
	struct part **slots;    /* indexed by slot; NULL = free */
	uint32_t nslots;
	struct broker *brokers;
	int nbrokers;
	struct kf_req_list reqs; /* every request in flight */
	bool md_inflight, md_wanted;
	ev_timer kick, md_timer;
	struct kf_batch_iter it;
	struct kf_aborted_txn *aborted; /* scratch for read_committed */
	size_t aborted_cap;
	uint32_t *pick;         /* scratch: slots of one request, 2 x nslots */
	uint32_t epochs;
	uint32_t rr;            /* topic rotation */
	struct kf_fetcher_counters n;
};

/* ------------------------------------------------------------ helpers */

enum kf_fetch_action kf_fetch_error_action(int16_t code)
{
	switch (code) {
	case KF_KERR_NONE:
		return KF_FA_NONE;
	case KF_KERR_OFFSET_OUT_OF_RANGE:
		return KF_FA_OUT_OF_RANGE;
	case KF_KERR_UNKNOWN_TOPIC_OR_PARTITION:
	case KF_KERR_LEADER_NOT_AVAILABLE:
	case KF_KERR_NOT_LEADER_OR_FOLLOWER:
	case KF_KERR_REPLICA_NOT_AVAILABLE:
	case KF_KERR_KAFKA_STORAGE_ERROR:
	case KF_KERR_FENCED_LEADER_EPOCH:
	case KF_KERR_OFFSET_NOT_AVAILABLE:
	case KF_KERR_UNKNOWN_TOPIC_ID:
	case KF_KERR_INCONSISTENT_TOPIC_ID:
		return KF_FA_METADATA;
	default:
		return KF_FA_BACKOFF;
	}
}

static struct part *slot_part(const struct kf_fetcher *f, uint32_t slot)
{
	return slot < f->nslots ? f->slots[slot] : NULL;
}

static void kick(struct kf_fetcher *f)
{
	if (!ev_is_active(&f->kick) || ev_timer_remaining(f->loop, &f->kick) > 0.) {
		ev_timer_stop(f->loop, &f->kick);
		ev_timer_set(&f->kick, 0., 0.);
		ev_timer_start(f->loop, &f->kick);
	}
}

static struct freq *freq_new(struct kf_fetcher *f, enum freq_kind kind)
{
	struct freq *q = KF_REQ_NEW(&f->reqs, f, struct freq, base);
	if (!q)
		return NULL;
	q->kind = kind;
	q->node = -1;
	return q;
}

static void freq_free(struct freq *q)
{
	kf_req_free(&q->base);
}

/* The fetcher q is for, NULL once it is freed. */
static struct kf_fetcher *freq_fetcher(const struct freq *q)
{
	return kf_req_owner(&q->base);
}

static struct broker *broker_get(struct kf_fetcher *f, int32_t node)
{
	for (int i = 0; i < f->nbrokers; i++)
		if (f->brokers[i].node == node)
			return &f->brokers[i];
	struct broker *b = realloc(f->brokers, sizeof(*b) * (size_t)(f->nbrokers + 1));
	if (!b)
		return NULL;
	f->brokers = b;
	b = &f->brokers[f->nbrokers++];
	b->node = node;
	b->inflight = NULL;
	return b;
}

/* ------------------------------------------------------------ metadata */

static void send_metadata(struct kf_fetcher *f);

static void want_metadata(struct kf_fetcher *f)
{
	f->md_wanted = true;
	if (!f->md_inflight && !ev_is_active(&f->md_timer))
		send_metadata(f);
}

static void metadata_later(struct kf_fetcher *f)
{
	f->md_wanted = true;
	if (!ev_is_active(&f->md_timer)) {
		ev_timer_set(&f->md_timer, f->conf.metadata_backoff_ms / 1000., 0.);
		ev_timer_start(f->loop, &f->md_timer);
	}
}

/* The partition's entry in a Metadata answer, or NULL; *terr gets its
 * topic's error code when the topic is there. */
static const struct kf_metadata_resp_partition *
md_find(const struct kf_metadata_resp *md, const char *topic, int32_t partition, int16_t *terr)
{
	const struct kf_metadata_resp_topic *t = kf_req_metadata_topic(md, topic);
	if (!t)
		return NULL;
	*terr = t->error_code;
	for (int32_t j = 0; j < t->partitions.n; j++) {
		const struct kf_metadata_resp_partition *p =
			&KF_AT(t->partitions, struct kf_metadata_resp_partition, j);
		if (p->partition_index == partition)
			return p;
	}
	return NULL;
}

static void on_metadata(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct freq *q = opaque;
	struct kf_fetcher *f = freq_fetcher(q);
	freq_free(q);
	if (!f)
		return;
	/* Dropped brokers fail their requests from inside this call: with
	 * md_inflight still set their answers only mark md_wanted. */
	if (!err && kf_cluster_set_brokers(f->cl, resp) != KF_OK)
		err = KF_EAGAIN; /* a top-level error, logged by the cluster */
	if (err) {
		f->md_inflight = false;
		/* KF_EAUTH: the connection said so once and tries no more */
		kf_log(err == KF_EAUTH ? KF_LOG_DEBUG : KF_LOG_WARN, "fetcher", "metadata from %s: %s",
		       c ? kf_conn_name(c) : "?", kf_strerror(err));
		metadata_later(f);
		return;
	}
	const struct kf_metadata_resp *md = resp;
	f->n.metadata++;
	f->md_inflight = false;
	bool missing = false;
	for (uint32_t s = 0; s < f->nslots; s++) {
		struct part *p = f->slots[s];
		if (!p)
			continue;
		int16_t terr = 0;
		const struct kf_metadata_resp_partition *mp = md_find(md, p->topic, p->partition, &terr);
		int32_t leader = mp && !mp->error_code ? mp->leader_id : -1;
		if (leader >= 0 && !kf_cluster_broker(f->cl, leader))
			leader = -1;
		if (leader != p->leader)
			kf_debug("fetcher", "%s/%d: leader %d -> %d (v%d)", p->topic, p->partition,
				 p->leader, leader, ver);
		p->leader = leader;
		if (leader < 0) {
			missing = true;
			kf_debug("fetcher", "%s/%d: no leader yet (%s)", p->topic, p->partition,
				 kf_kafka_err_name(mp ? mp->error_code : terr));
		}
	}
	f->md_wanted = false;
	if (missing)
		metadata_later(f);
	kick(f);
}

/* Metadata for the distinct topics of the assigned slots. */
static void send_metadata(struct kf_fetcher *f)
{
	int n = 0;
	for (uint32_t s = 0; s < f->nslots; s++)
		n += f->slots[s] != NULL;
	if (n == 0) {
		f->md_wanted = false;
		return;
	}
	struct freq *q = freq_new(f, FREQ_METADATA);
	if (!q) {
		metadata_later(f);
		return;
	}
	const char **names = kf_req_alloc(&q->base, (size_t)n * sizeof(*names));
	int nt = 0;
	for (uint32_t s = 0; names && s < f->nslots; s++) {
		struct part *p = f->slots[s];
		bool seen = false;
		for (int i = 0; p && i < nt && !seen; i++)
			seen = strcmp(names[i], p->topic) == 0;
		if (p && !seen)
			names[nt++] = p->topic;
	}
	struct kf_conn *c = kf_cluster_any(f->cl);
	if (!names || kf_req_metadata(&q->base, &q->req.md, names, nt) != KF_OK || !c ||
	    kf_conn_send(c, KF_API_METADATA, -1, &q->req.md, 0, on_metadata, q)) {
		freq_free(q);
		metadata_later(f);
		return;
	}
	f->md_inflight = true;
	f->md_wanted = false;
}

static void on_md_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_fetcher *f = w->data;
	(void)loop;
	(void)revents;
	if (f->md_wanted && !f->md_inflight)
		send_metadata(f);
}

/* ------------------------------------------------------------ records */

/* The caller's on_error logs (once, with its own prefix); without one we
 * do. */
static void part_error_pause(struct kf_fetcher *f, uint32_t slot, struct part *p, const char *msg)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s/%d: %s", p->topic, p->partition, msg);
	free(p->error);
	p->error = strdup(buf);
	p->paused = true;
	if (f->cb.on_error)
		f->cb.on_error(f->opaque, slot, msg);
	else
		kf_err("fetcher", "%s; partition paused", buf);
}

/* Still the same assignment, unpaused, at the same position? */
static bool part_live(struct kf_fetcher *f, uint32_t slot, uint32_t epoch, struct part **pp)
{
	struct part *p = slot_part(f, slot);
	*pp = p;
	return p && p->epoch == epoch && !p->paused && !p->out_of_range;
}

/* Move past a gap; false when on_skip paused, moved or dropped the slot. */
static bool skip_to(struct kf_fetcher *f, uint32_t slot, uint32_t epoch, struct part **pp,
		    int64_t next)
{
	if (next <= (*pp)->position)
		return true;
	(*pp)->position = next;
	if (f->cb.on_skip)
		f->cb.on_skip(f->opaque, slot, next);
	return part_live(f, slot, epoch, pp) && (*pp)->position == next;
}

static int load_aborted(struct kf_fetcher *f, const struct kf_array *a, struct kf_txn_filter *tf)
{
	size_t n = a->n > 0 ? (size_t)a->n : 0;
	if (n > f->aborted_cap) {
		struct kf_aborted_txn *v = realloc(f->aborted, n * sizeof(*v));
		if (!v)
			return KF_ENOMEM;
		f->aborted = v;
		f->aborted_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const struct kf_fetch_resp_aborted_txn *t =
			&KF_AT(*a, struct kf_fetch_resp_aborted_txn, (int32_t)i);
		f->aborted[i].producer_id = t->producer_id;
		f->aborted[i].first_offset = t->first_offset;
	}
	return kf_txn_filter_init(tf, f->aborted, n);
}

/*
 * Nothing was taken and the answer ends in an incomplete batch.  A broker
 * may cut the last batch of a partition at the response's size limits,
 * but since KIP-74 it sends the first batch whole: a partition that gets
 * only part of its first batch, answer after answer, holds a batch whose
 * length is wrong.  Back off meanwhile rather than refetching at once.
 */
static void incomplete_batch(struct kf_fetcher *f, uint32_t slot, struct part *p, size_t len)
{
	char msg[160];
	if (len >= (size_t)f->conf.fetch_partition_max_bytes) {
		/* Pre-KIP-74 brokers cut a batch larger than the limit. */
		part_error_pause(f, slot, p, "record batch larger than fetch_partition_max_bytes");
		return;
	}
	if (++p->incomplete < INCOMPLETE_MAX) {
		p->backoff_until = ev_now(f->loop) + f->conf.backoff_ms / 1000.;
		return;
	}
	snprintf(msg, sizeof(msg), "batch at offset %" PRId64 " came incomplete in %d answers in a"
		 " row (%zu bytes): its length is corrupt", p->position, p->incomplete, len);
	part_error_pause(f, slot, p, msg);
}

/*
 * Deliver one partition's records from the position on.  Stops at a
 * record the caller has no room for, at a pause or unassign made from a
 * callback, or at a corrupt batch.
 */
static void take_records(struct kf_fetcher *f, uint32_t slot, uint32_t epoch,
			 const struct kf_fetch_resp_partition *rp)
{
	struct part *p = slot_part(f, slot);
	const struct kf_bytes *recs = &rp->records;
	if (recs->len <= 0)
		return;
	bool committed = f->conf.isolation == KF_READ_COMMITTED;
	struct kf_txn_filter tf;
	if (committed && load_aborted(f, &rp->aborted_transactions, &tf) != KF_OK) {
		p->backoff_until = ev_now(f->loop) + f->conf.backoff_ms / 1000.;
		return;
	}
	int64_t start = p->position;
	kf_batch_iter_reset(&f->it, recs->p, (size_t)recs->len, start);
	struct kf_batch b;
	int rc = 0;
	bool stop = false;
	while (!stop && (rc = kf_batch_next(&f->it, &b)) == 1) {
		/* The filter must see every batch in order, markers included:
		 * an ABORT marker ends its producer's aborted transaction. */
		bool skip = committed ? kf_txn_filter_skip(&tf, &b) : b.control;
		if (b.last_offset < p->position)
			continue;
		if (skip) {
			f->n.skipped++;
			stop = !skip_to(f, slot, epoch, &p, b.last_offset + 1);
			continue;
		}
		struct kf_record r;
		int rr;
		while ((rr = kf_batch_record_next(&f->it, &r)) == 1) {
			if (r.offset < p->position)
				continue;
			int64_t before = p->position;
			int ok = f->cb.on_record(f->opaque, slot, &r, p->topic, p->partition);
			p = slot_part(f, slot);
			if (!p || p->epoch != epoch || p->position != before) {
				stop = true; /* unassigned, reassigned or moved meanwhile */
				break;
			}
			if (ok != KF_OK) {
				/* No room: pause here, refetch from this record. */
				f->n.eagain++;
				p->paused = true;
				p->position = r.offset;
				stop = true;
				break;
			}
			f->n.records++;
			p->position = r.offset + 1;
			if (p->paused || p->out_of_range) {
				stop = true;
				break;
			}
		}
		if (stop)
			break;
		if (rr < 0) {
			part_error_pause(f, slot, p, kf_batch_iter_error(&f->it));
			stop = true;
			break;
		}
		/* Records compacted away at the batch's end still count. */
		stop = !skip_to(f, slot, epoch, &p, b.last_offset + 1);
	}
	if (!stop && rc < 0)
		part_error_pause(f, slot, p, kf_batch_iter_error(&f->it));
	else if (!stop && p->position == start && kf_batch_iter_left(&f->it) > 0)
		incomplete_batch(f, slot, p, (size_t)recs->len);
	else if (p && p->position != start)
		p->incomplete = 0;
	if (committed)
		kf_txn_filter_free(&tf);
}

/* ------------------------------------------------------------ fetch */

static struct fent *find_ent(struct freq *q, int *cursor, const char *topic, int32_t partition)
{
	struct kf_fetcher *f = freq_fetcher(q);
	for (int k = 0; k < q->nents; k++) {
		int i = (*cursor + k) % q->nents;
		struct part *p = slot_part(f, q->ents[i].slot);
		if (p && p->epoch == q->ents[i].epoch && p->partition == partition &&
		    strcmp(p->topic, topic) == 0) {
			*cursor = i + 1;
			return &q->ents[i];
		}
	}
	return NULL;
}

static void part_failed(struct kf_fetcher *f, uint32_t slot, struct part *p, int16_t code)
{
	f->n.part_errors++;
	switch (kf_fetch_error_action(code)) {
	case KF_FA_NONE:
		break;
	case KF_FA_METADATA:
		kf_debug("fetcher", "%s/%d: %s from leader %d, refreshing metadata", p->topic,
			 p->partition, kf_kafka_err_name(code), p->leader);
		p->leader = -1;
		want_metadata(f);
		break;
	case KF_FA_OUT_OF_RANGE:
		kf_info("fetcher", "%s/%d: offset %" PRId64 " out of range", p->topic, p->partition,
			p->position);
		p->out_of_range = true;
		if (f->cb.on_out_of_range)
			f->cb.on_out_of_range(f->opaque, slot, p->position);
		break;
	case KF_FA_BACKOFF:
		kf_warn("fetcher", "%s/%d: %s, backing off", p->topic, p->partition,
			kf_kafka_err_name(code));
		p->backoff_until = ev_now(f->loop) + f->conf.backoff_ms / 1000.;
		break;
	}
}

static void take_partition(struct kf_fetcher *f, uint32_t slot, struct part *p,
			   const struct kf_fetch_resp_partition *rp)
{
	if (rp->error_code) {
		part_failed(f, slot, p, rp->error_code);
		return;
	}
	if (rp->high_watermark >= 0)
		p->hwm = rp->high_watermark;
	if (!p->paused && !p->out_of_range)
		take_records(f, slot, p->epoch, rp);
}

void kf_fetcher_feed(struct kf_fetcher *f, uint32_t slot, const struct kf_fetch_resp_partition *rp)
{
	struct part *p = slot_part(f, slot);
	if (p && !p->inflight)
		take_partition(f, slot, p, rp);
}

static void fetch_done(struct kf_fetcher *f, struct freq *q)
{
	for (int i = 0; i < q->nents; i++) {
		struct part *p = slot_part(f, q->ents[i].slot);
		if (p && p->epoch == q->ents[i].epoch)
			p->inflight = false;
	}
	struct broker *b = broker_get(f, q->node);
	if (b && b->inflight == q)
		b->inflight = NULL;
}

/* The name of the topic q asked for by id (Fetch v13+ answers by id). */
static const char *request_topic(const struct freq *q, const struct kf_uuid *id)
{
	const struct kf_array *ts = &q->req.fetch.topics;
	for (int32_t i = 0; i < ts->n; i++) {
		const struct kf_fetch_req_topic *t = &KF_AT(*ts, struct kf_fetch_req_topic, i);
		if (memcmp(&t->topic_id, id, sizeof(*id)) == 0)
			return t->topic;
	}
	return NULL;
}

static void on_fetch(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct freq *q = opaque;
	struct kf_fetcher *f = freq_fetcher(q);
	if (!f) {
		freq_free(q);
		return;
	}
	/* Clear in-flight marks first: callbacks may reassign slots. */
	fetch_done(f, q);
	const struct kf_fetch_resp *r = resp;
	int16_t top = err ? 0 : r->error_code;
	if (err || top) {
		kf_log(err == KF_EAUTH ? KF_LOG_DEBUG : KF_LOG_WARN, "fetcher",
		       "Fetch to node %d (%s): %s", q->node, c ? kf_conn_name(c) : "?",
		       err ? kf_strerror(err) : kf_kafka_err_name(top));
		for (int i = 0; i < q->nents; i++) {
			struct part *p = slot_part(f, q->ents[i].slot);
			if (!p || p->epoch != q->ents[i].epoch)
				continue;
			if (top)
				part_failed(f, q->ents[i].slot, p, top);
			else
				p->backoff_until = ev_now(f->loop) + f->conf.backoff_ms / 1000.;
		}
		if (err)
			want_metadata(f);
		freq_free(q);
		kick(f);
		return;
	}
	f->n.responses++;
	kf_debug("fetcher", "Fetch v%d from node %d: %d topics", ver, q->node, r->responses.n);
	int cursor = 0;
	for (int32_t i = 0; i < r->responses.n; i++) {
		const struct kf_fetch_resp_topic *rt = &KF_AT(r->responses, struct kf_fetch_resp_topic, i);
		const char *topic = rt->topic ? rt->topic : request_topic(q, &rt->topic_id);
		if (!topic)
			continue;
		for (int32_t j = 0; j < rt->partitions.n; j++) {
			const struct kf_fetch_resp_partition *rp =
				&KF_AT(rt->partitions, struct kf_fetch_resp_partition, j);
			struct fent *e = find_ent(q, &cursor, topic, rp->partition_index);
			struct part *p = e ? slot_part(f, e->slot) : NULL;
			/* Unasked, reassigned, or moved by a seek meanwhile. */
			if (p && p->position == e->offset)
				take_partition(f, e->slot, p, rp);
		}
	}
	freq_free(q);
	kick(f);
}

static bool fetchable(const struct part *p, ev_tstamp now)
{
	return p && !p->paused && !p->out_of_range && !p->inflight && p->leader >= 0 &&
	       p->backoff_until <= now;
}

static int cmp_topic(const void *a, const void *b, void *arg)
{
	struct kf_fetcher *f = arg;
	const struct part *pa = f->slots[*(const uint32_t *)a];
	const struct part *pb = f->slots[*(const uint32_t *)b];
	int c = strcmp(pa->topic, pb->topic);
	return c ? c : (pa->partition > pb->partition) - (pa->partition < pb->partition);
}

/*
 * The broker fills partitions in request order until fetch_max_bytes:
 * start each request at the next topic so that the last ones are not
 * starved.  Whole topics move, so each topic still appears once.
 */
static void rotate_topics(struct kf_fetcher *f, int n)
{
	int ngroups = 0, start = 0;
	for (int i = 0; i < n; i++)
		ngroups += i == 0 || strcmp(f->slots[f->pick[i]]->topic, f->slots[f->pick[i - 1]]->topic);
	if (ngroups < 2)
		return;
	int want = (int)(f->rr++ % (uint32_t)ngroups);
	for (int i = 0, g = -1; i < n; i++)
		if (i == 0 || strcmp(f->slots[f->pick[i]]->topic, f->slots[f->pick[i - 1]]->topic))
			if (++g == want) {
				start = i;
				break;
			}
	uint32_t *tmp = f->pick + f->nslots; /* the second half is scratch */
	memcpy(tmp, f->pick + start, sizeof(*tmp) * (size_t)(n - start));
	memcpy(tmp + (n - start), f->pick, sizeof(*tmp) * (size_t)start);
	memcpy(f->pick, tmp, sizeof(*tmp) * (size_t)n);
}

/* Fill q's request with the n slots in f->pick (grouped by topic); lower
 * *maxv to the last version with topic names when an id is missing. */
static int build_fetch(struct kf_fetcher *f, struct freq *q, int n, int16_t *maxv)
{
	struct kf_fetch_req *req = &q->req.fetch;
	kf_proto_defaults(kf_api_fetch.req, req);
	req->replica_id = -1;
	req->max_wait_ms = f->conf.fetch_max_wait_ms;
	req->min_bytes = f->conf.fetch_min_bytes;
	req->max_bytes = f->conf.fetch_max_bytes;
	req->isolation_level = (int8_t)f->conf.isolation;
	req->session_id = 0;
	req->session_epoch = -1; /* sessionless full fetch */
	int nt = 0;
	for (int i = 0; i < n; i++)
		nt += i == 0 || strcmp(f->slots[f->pick[i]]->topic, f->slots[f->pick[i - 1]]->topic);
	struct kf_fetch_req_topic *ts =
		kf_req_array(&q->base, kf_api_fetch.req, req, "Topics", nt);
	const struct kf_schema *ts_s = kf_proto_sub(kf_api_fetch.req, "Topics");
	q->ents = kf_req_alloc(&q->base, sizeof(*q->ents) * (size_t)n);
	if (!ts || !q->ents)
		return KF_ENOMEM;
	for (int i = 0, t = -1; i < n;) {
		struct part *p0 = f->slots[f->pick[i]];
		int k = i;
		while (k < n && strcmp(f->slots[f->pick[k]]->topic, p0->topic) == 0)
			k++;
		t++;
		ts[t].topic = kf_req_strdup(&q->base, p0->topic);
		if (!kf_cluster_topic_id(f->cl, p0->topic, &ts[t].topic_id) &&
		    *maxv > FETCH_NAMES_MAX_VERSION)
			*maxv = FETCH_NAMES_MAX_VERSION;
		struct kf_fetch_req_partition *ps =
			kf_req_array(&q->base, ts_s, &ts[t], "Partitions", k - i);
		if (!ts[t].topic || !ps)
			return KF_ENOMEM;
		for (int j = i; j < k; j++) {
			struct part *p = f->slots[f->pick[j]];
			ps[j - i].partition = p->partition;
			ps[j - i].fetch_offset = p->position;
			ps[j - i].partition_max_bytes = f->conf.fetch_partition_max_bytes;
			q->ents[j] = (struct fent){ f->pick[j], p->epoch, p->position };
		}
		i = k;
	}
	q->nents = n;
	return KF_OK;
}

static void send_fetch(struct kf_fetcher *f, struct broker *b, ev_tstamp now)
{
	int n = 0;
	for (uint32_t s = 0; s < f->nslots; s++)
		if (fetchable(f->slots[s], now) && f->slots[s]->leader == b->node)
			f->pick[n++] = s;
	if (n == 0)
		return;
	qsort_r(f->pick, (size_t)n, sizeof(*f->pick), cmp_topic, f);
	rotate_topics(f, n);
	struct kf_conn *c = kf_cluster_broker(f->cl, b->node);
	if (c && kf_conn_state(c) != KF_CONN_READY && kf_conn_last_error(c, NULL, NULL)) {
		/* The leader's connection failed and is not back (a dead
		 * leader): a Fetch queued on it would wait there for its whole
		 * timeout, even once the metadata names a new leader.  Let the
		 * connection try again meanwhile, read the metadata again, and
		 * look again after the backoff. */
		kf_conn_connect(c);
		for (int i = 0; i < n; i++)
			f->slots[f->pick[i]]->backoff_until = now + f->conf.backoff_ms / 1000.;
		metadata_later(f);
		kick(f);
		return;
	}
	struct freq *q = c ? freq_new(f, FREQ_FETCH) : NULL;
	if (!q) {
		/* The node left the broker table: its partitions need a leader. */
		for (int i = 0; i < n; i++)
			f->slots[f->pick[i]]->leader = -1;
		want_metadata(f);
		return;
	}
	q->node = b->node;
	int16_t maxv = f->conf.max_version;
	int timeout = f->conf.fetch_max_wait_ms + f->conf.request_timeout_ms;
	if (build_fetch(f, q, n, &maxv) != KF_OK ||
	    kf_conn_send(c, KF_API_FETCH, maxv, &q->req.fetch, timeout, on_fetch, q) != KF_OK) {
		kf_err("fetcher", "cannot send Fetch to node %d", b->node);
		freq_free(q);
		for (int i = 0; i < n; i++)
			f->slots[f->pick[i]]->backoff_until = now + f->conf.backoff_ms / 1000.;
		return;
	}
	for (int i = 0; i < n; i++)
		f->slots[f->pick[i]]->inflight = true;
	b->inflight = q;
	f->n.requests++;
}

/* Send what can go now; wake up again when the next backoff ends. */
static void schedule(struct kf_fetcher *f)
{
	ev_tstamp now = ev_now(f->loop), wake = 0.;
	for (uint32_t s = 0; s < f->nslots; s++) {
		struct part *p = f->slots[s];
		if (!p || p->paused || p->out_of_range || p->inflight)
			continue;
		if (p->leader < 0) {
			if (!f->md_inflight && !ev_is_active(&f->md_timer))
				want_metadata(f);
			continue;
		}
		if (p->backoff_until > now) {
			if (wake == 0. || p->backoff_until < wake)
				wake = p->backoff_until;
			continue;
		}
		struct broker *b = broker_get(f, p->leader);
		if (b && !b->inflight)
			send_fetch(f, b, now);
	}
	if (wake > 0.) {
		ev_timer_stop(f->loop, &f->kick);
		ev_timer_set(&f->kick, wake - now, 0.);
		ev_timer_start(f->loop, &f->kick);
	}
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	schedule(w->data);
}

/* ------------------------------------------------------------ list offsets */

static void on_list(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct freq *q = opaque;
	struct kf_fetcher *f = freq_fetcher(q);
	uint32_t slot = (uint32_t)q->nents;
	int16_t code = 0;
	int64_t offset = -1;
	(void)c;
	(void)ver;
	if (!err) {
		const struct kf_list_offsets_resp *r = resp;
		code = KF_KERR_UNKNOWN_TOPIC_OR_PARTITION; /* the partition missing from the answer */
		for (int32_t i = 0; i < r->topics.n; i++) {
			const struct kf_list_offsets_resp_topic *t =
				&KF_AT(r->topics, struct kf_list_offsets_resp_topic, i);
			for (int32_t j = 0; j < t->partitions.n; j++) {
				const struct kf_list_offsets_resp_partition *p =
					&KF_AT(t->partitions, struct kf_list_offsets_resp_partition, j);
				code = p->error_code;
				offset = p->offset;
			}
		}
	}
	kf_fetcher_list_cb *cb = q->list_cb;
	void *arg = q->list_arg;
	freq_free(q);
	if (!f)
		return;
	struct part *p = slot_part(f, slot);
	if (p && (err || kf_fetch_error_action(code) == KF_FA_METADATA)) {
		p->leader = -1;
		want_metadata(f);
	}
	cb(arg, slot, err, code, offset);
}

int kf_fetcher_list_offsets(struct kf_fetcher *f, uint32_t slot, int64_t timestamp,
			    kf_fetcher_list_cb *cb, void *arg)
{
	struct part *p = slot_part(f, slot);
	if (!p)
		return KF_EPROTO;
	struct kf_conn *c = p->leader >= 0 ? kf_cluster_broker(f->cl, p->leader) : NULL;
	if (!c) {
		p->leader = -1;
		want_metadata(f);
		return KF_EAGAIN;
	}
	struct freq *q = freq_new(f, FREQ_LIST);
	if (!q)
		return KF_ENOMEM;
	q->node = p->leader;
	q->nents = (int)slot; /* the slot rides along; ents stays NULL */
	q->list_cb = cb;
	q->list_arg = arg;
	struct kf_list_offsets_req *req = &q->req.list;
	kf_proto_defaults(kf_api_list_offsets.req, req);
	req->replica_id = -1;
	req->isolation_level = (int8_t)f->conf.isolation;
	struct kf_list_offsets_req_topic *t =
		kf_req_array(&q->base, kf_api_list_offsets.req, req, "Topics", 1);
	const struct kf_schema *ts = kf_proto_sub(kf_api_list_offsets.req, "Topics");
	struct kf_list_offsets_req_partition *ps =
		t ? kf_req_array(&q->base, ts, t, "Partitions", 1) : NULL;
	if (!ps || !(t->name = kf_req_strdup(&q->base, p->topic))) {
		freq_free(q);
		return KF_ENOMEM;
	}
	ps->partition_index = p->partition;
	ps->timestamp = timestamp;
	int rc = kf_conn_send(c, KF_API_LIST_OFFSETS, -1, req, 0, on_list, q);
	if (rc != KF_OK)
		freq_free(q);
	return rc;
}

/* ------------------------------------------------------------ API */

struct kf_fetcher *kf_fetcher_new(struct ev_loop *loop, struct kf_cluster *cl,
				  const struct kf_fetcher_conf *conf,
				  const struct kf_fetcher_callbacks *cb, void *opaque)
{
	struct kf_fetcher *f = calloc(1, sizeof(*f));
	if (!f || !cb || !cb->on_record) {
		free(f);
		return NULL;
	}
	f->loop = loop;
	f->cl = cl;
	f->conf = *conf;
	f->cb = *cb;
	f->opaque = opaque;
	struct kf_fetcher_conf *c = &f->conf;
	c->fetch_min_bytes = c->fetch_min_bytes > 0 ? c->fetch_min_bytes : 1;
	c->fetch_max_wait_ms = c->fetch_max_wait_ms > 0 ? c->fetch_max_wait_ms : 500;
	c->fetch_max_bytes = c->fetch_max_bytes > 0 ? c->fetch_max_bytes : 52428800;
	c->fetch_partition_max_bytes =
		c->fetch_partition_max_bytes > 0 ? c->fetch_partition_max_bytes : 1048576;
	c->backoff_ms = c->backoff_ms > 0 ? c->backoff_ms : 500;
	c->metadata_backoff_ms = c->metadata_backoff_ms > 0 ? c->metadata_backoff_ms : 250;
	c->request_timeout_ms = c->request_timeout_ms > 0 ? c->request_timeout_ms : 30000;
	if (c->max_version <= 0 || c->max_version > FETCH_MAX_VERSION)
		c->max_version = FETCH_MAX_VERSION;
	struct kf_batch_opts bo = { .verify_crc = c->verify_crc, .max_decompressed = 0 };
	kf_batch_iter_init(&f->it, &bo);
	ev_init(&f->kick, on_kick);
	f->kick.data = f;
	ev_init(&f->md_timer, on_md_timer);
	f->md_timer.data = f;
	return f;
}

/* No callback runs once the fetcher is freed. */
static void forget_list_cb(struct kf_req *r)
{
	struct freq *q = KF_REQ_OF(r, struct freq, base);
	if (q->kind == FREQ_LIST)
		q->list_cb = NULL;
}

void kf_fetcher_free(struct kf_fetcher *f)
{
	if (!f)
		return;
	kf_req_detach_all(&f->reqs, forget_list_cb); /* their callbacks free them quietly */
	ev_timer_stop(f->loop, &f->kick);
	ev_timer_stop(f->loop, &f->md_timer);
	for (uint32_t s = 0; s < f->nslots; s++)
		if (f->slots[s]) {
			free(f->slots[s]->topic);
			free(f->slots[s]->error);
			free(f->slots[s]);
		}
	free(f->slots);
	free(f->pick);
	free(f->brokers);
	free(f->aborted);
	kf_batch_iter_free(&f->it);
	free(f);
}

int kf_fetcher_assign(struct kf_fetcher *f, const char *topic, int32_t partition, uint32_t slot,
		      int64_t fetch_offset)
{
	if (slot_part(f, slot) || fetch_offset < 0 || !topic || partition < 0 || slot == UINT32_MAX)
		return KF_EPROTO;
	if (slot >= f->nslots) {
		uint32_t n = f->nslots ? f->nslots : 16;
		while (n <= slot)
			n *= 2;
		struct part **v = realloc(f->slots, n * sizeof(*v));
		if (!v)
			return KF_ENOMEM;
		memset(v + f->nslots, 0, (n - f->nslots) * sizeof(*v));
		f->slots = v;
		uint32_t *pick = realloc(f->pick, 2 * (size_t)n * sizeof(*pick));
		if (!pick)
			return KF_ENOMEM;
		f->pick = pick;
		f->nslots = n;
	}
	struct part *p = calloc(1, sizeof(*p));
	if (!p || !(p->topic = strdup(topic))) {
		free(p);
		return KF_ENOMEM;
	}
	p->epoch = ++f->epochs; /* distinct across reuse of a slot */
	p->partition = partition;
	p->position = fetch_offset;
	p->hwm = -1;
	p->leader = -1;
	f->slots[slot] = p;
	want_metadata(f);
	return KF_OK;
}

void kf_fetcher_unassign(struct kf_fetcher *f, uint32_t slot)
{
	struct part *p = slot_part(f, slot);
	if (!p)
		return;
	f->slots[slot] = NULL;
	free(p->topic);
	free(p->error);
	free(p);
}

void kf_fetcher_pause(struct kf_fetcher *f, uint32_t slot)
{
	struct part *p = slot_part(f, slot);
	if (p)
		p->paused = true;
}

void kf_fetcher_resume(struct kf_fetcher *f, uint32_t slot)
{
	struct part *p = slot_part(f, slot);
	if (!p || !p->paused)
		return;
	p->paused = false;
	p->incomplete = 0;
	free(p->error);
	p->error = NULL;
	kick(f);
}

int kf_fetcher_seek(struct kf_fetcher *f, uint32_t slot, int64_t offset)
{
	struct part *p = slot_part(f, slot);
	if (!p || offset < 0)
		return KF_EPROTO;
	p->position = offset;
	p->out_of_range = false;
	p->incomplete = 0;
	kick(f);
	return KF_OK;
}

bool kf_fetcher_assigned(const struct kf_fetcher *f, uint32_t slot)
{
	return slot_part(f, slot) != NULL;
}

bool kf_fetcher_paused(const struct kf_fetcher *f, uint32_t slot)
{
	struct part *p = slot_part(f, slot);
	return p && p->paused;
}

int64_t kf_fetcher_position(const struct kf_fetcher *f, uint32_t slot)
{
	struct part *p = slot_part(f, slot);
	return p ? p->position : -1;
}

int64_t kf_fetcher_hwm(const struct kf_fetcher *f, uint32_t slot)
{
	struct part *p = slot_part(f, slot);
	return p ? p->hwm : -1;
}

int32_t kf_fetcher_leader(const struct kf_fetcher *f, uint32_t slot)
{
	struct part *p = slot_part(f, slot);
	return p ? p->leader : -1;
}

const char *kf_fetcher_error(const struct kf_fetcher *f, uint32_t slot)
{
	struct part *p = slot_part(f, slot);
	return p ? p->error : NULL;
}

void kf_fetcher_counters(const struct kf_fetcher *f, struct kf_fetcher_counters *out)
{
	*out = f->n;
}
