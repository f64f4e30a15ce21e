/*
 * consume.c: the record and ack path: the fetcher's callbacks (on_record
 * hands a record to a worker's ring, or answers KF_EAGAIN so the fetcher
 * pauses the partition), auto_offset_reset lookups, and the pool's
 * callbacks (acks into the tracker, room, worker states, a ring lost with
 * its records).
 */
#include "config.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kforkd.h"

/* The worker's counters (grown on demand); NULL when out of memory. */
static struct wstat *wstat_of(int w)
{
	if (w < 0)
		return NULL;
	if (w >= D.nwstat) {
		int n = w + 8;
		struct wstat *v = realloc(D.wstat, (size_t)n * sizeof(*v));
		if (!v)
			return NULL;
		memset(v + D.nwstat, 0, (size_t)(n - D.nwstat) * sizeof(*v));
		D.wstat = v;
		D.nwstat = n;
	}
	return &D.wstat[w];
}

int on_record(void *opaque, uint32_t slot, const struct kf_record *r, const char *topic,
		     int32_t partition)
{
	(void)opaque, (void)topic;
	struct part *p = slot_part(slot);
	if (!p || p->state != PS_FETCHING || D.phase != PH_RUN)
		return KF_EAGAIN;
	if (D.quiet || kf_tracker_full(D.t, slot)) {
		p->state = PS_BLOCKED;
		return KF_EAGAIN;
	}
	int w = kf_dispatch_pick(D.d, slot, r->key, r->key_len);
	if (w < 0) {
		p->state = PS_BLOCKED;
		return KF_EAGAIN;
	}
	struct kf_ring_rec rec = {
		.slot = slot, .topic = p->topic_idx, .partition = partition,
		.offset = r->offset, .timestamp = r->timestamp,
		.key = r->key, .key_len = r->key_len,
		.value = r->value, .value_len = r->value_len,
		.headers = r->headers, .headers_len = (uint32_t)r->headers_len,
		.header_count = r->header_count,
	};
	int rc = kf_pool_push(D.pool, w, &rec);
	if (rc == KF_EAGAIN) {
		p->state = PS_BLOCKED;
		return KF_EAGAIN;
	}
	if (rc != KF_OK) {
		stop_part(p, "offset %" PRId64 ": cannot hand the record to worker %d (%s)",
			  r->offset, w, kf_strerror(rc));
		return KF_EAGAIN;
	}
	struct wstat *ws = wstat_of(w);
	if (ws)
		ws->dispatched++;
	rc = kf_tracker_dispatched(D.t, slot, r->offset);
	if (rc != KF_OK)
		kf_err(COMP, "%s/%d offset %" PRId64 ": tracker refused it: %s", p->topic,
		       partition, r->offset, kf_strerror(rc));
	kf_dispatch_sent(D.d, slot, w);
	return KF_OK;
}

void on_skip(void *opaque, uint32_t slot, int64_t next_offset)
{
	(void)opaque;
	if (slot_part(slot))
		kf_tracker_skip_to(D.t, slot, next_offset);
}

void on_out_of_range(void *opaque, uint32_t slot, int64_t position)
{
	(void)opaque;
	struct part *p = slot_part(slot);
	if (!p)
		return;
	kf_warn(COMP, "%s/%d: offset %" PRId64 " is out of range", p->topic, p->partition,
		position);
	kf_fetcher_pause(D.f, slot);
	start_reset(slot);
}

void on_fetch_error(void *opaque, uint32_t slot, const char *msg)
{
	(void)opaque;
	struct part *p = slot_part(slot);
	if (!p)
		return;
	stop_part(p, "%s", msg);
}

static void on_list(void *arg, uint32_t slot, int err, int16_t code, int64_t offset)
{
	(void)arg;
	struct part *p = slot_part(slot);
	if (!p || p->state != PS_RESETTING)
		return;
	if (err != KF_OK || code != 0 || offset < 0) {
		kf_debug(COMP, "%s/%d: ListOffsets: %s/%s; retrying", p->topic, p->partition,
			 kf_strerror(err), kf_kafka_err_name(code));
		return;   /* the reset timer asks again */
	}
	kf_info(COMP, "%s/%d: starting at %s offset %" PRId64, p->topic, p->partition,
		kf_cfg_offset_reset_name(D.cfg.kafka.auto_offset_reset), offset);
	kf_fetcher_seek(D.f, slot, offset);
	kf_tracker_reset(D.t, slot, offset);
	if (holding()) {
		p->state = PS_BLOCKED;
	} else {
		p->state = PS_FETCHING;
		kf_fetcher_resume(D.f, slot);
	}
}

static void ask_offset(uint32_t slot)
{
	int64_t ts = D.cfg.kafka.auto_offset_reset == KF_CFG_RESET_LATEST ? -1 : -2;
	kf_fetcher_list_offsets(D.f, slot, ts, on_list, NULL);
}

void start_reset(uint32_t slot)
{
	struct part *p = slot_part(slot);
	if (D.cfg.kafka.auto_offset_reset == KF_CFG_RESET_ERROR) {
		stop_part(p, "no valid committed offset and auto_offset_reset = \"error\"");
		return;
	}
	p->state = PS_RESETTING;
	ask_offset(slot);
	if (!ev_is_active(&D.reset_t))
		ev_timer_again(D.loop, &D.reset_t);
}

void on_reset_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	bool any = false;
	for (uint32_t i = 0; i < D.nparts; i++)
		if (D.parts[i].used && D.parts[i].state == PS_RESETTING) {
			ask_offset(i);
			any = true;
		}
	if (!any)
		ev_timer_stop(loop, w);
}

void on_ack(struct kf_pool *pool, int worker, const struct kf_ring_ack *ack, void *opaque)
{
	(void)pool, (void)opaque;
	uint32_t slot = ack->slot;
	kf_dispatch_acked(D.d, slot, worker);
	struct wstat *ws = wstat_of(worker);
	if (ws && ack->attempts > 1)
		ws->retried += ack->attempts - 1;
	struct part *p = slot_part(slot);
	if (!p)
		return;     /* a lost partition's late ack */
	if (ack->status == KF_ACK_OK) {
		kf_tracker_done(D.t, slot, ack->offset);
	} else {
		const char *why = ack->reason ? ack->reason : "";
		int rc = kf_tracker_failed(D.t, slot, ack->offset, D.on_failure);
		if (D.on_failure == KF_TRACKER_FAIL_SKIP) {
			kf_err(COMP, "%s/%d offset %" PRId64 " failed after %u attempts: %s; skipped"
			       " (workers.on_failure = \"skip\")", p->topic, p->partition,
			       ack->offset, ack->attempts, why);
		} else if (rc == KF_OK && p->state != PS_STOPPED) {
			stop_part(p, "offset %" PRId64 " failed after %u attempts: %s"
				  " (workers.on_failure = \"pause\")", ack->offset, ack->attempts, why);
			kf_fetcher_pause(D.f, slot);
		} else {
			kf_warn(COMP, "%s/%d offset %" PRId64 " failed after %u attempts: %s",
				p->topic, p->partition, ack->offset, ack->attempts, why);
		}
	}
}

void on_room(struct kf_pool *pool, int worker, void *opaque)
{
	(void)pool, (void)worker, (void)opaque;
	settle_soon();
}

/* A retired slot is gone: the dispatcher forgets it too. */
void on_worker_state(struct kf_pool *pool, int worker, enum kf_pool_state state,
			    void *opaque)
{
	(void)opaque;
	if (state == KF_POOL_STOPPED && worker >= kf_pool_size(pool) &&
	    kf_dispatch_worker_state(D.d, worker) != KF_DW_NONE)
		kf_dispatch_worker_remove(D.d, worker);
}

/*
 * In a freshly forked worker: close the supervisor's sockets (broker
 * connections, resolver), so a worker respawned mid-run does not keep a
 * connection open after the supervisor closed its end.  stdin, stdout and
 * stderr stay (stderr may well be a journal socket); the ring's memfd and
 * eventfds are not sockets.
 */
void on_child(struct kf_pool *pool, int worker, void *opaque)
{
	(void)pool, (void)worker, (void)opaque;
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return;
	int dfd = dirfd(dir);
	struct dirent *de;
	while ((de = readdir(dir))) {
		int fd = atoi(de->d_name);
		struct stat st;
		if (fd > 2 && fd != dfd && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
			close(fd);
	}
	closedir(dir);
}

void on_workers_lost(struct kf_pool *pool, int worker, uint64_t records, void *opaque)
{
	(void)pool, (void)opaque;
	kf_err(COMP, "worker %d lost %" PRIu64 " records with a broken ring: refetching its"
	       " partitions from their commit points", worker, records);
	for (uint32_t i = 0; i < D.nparts; i++) {
		struct part *p = &D.parts[i];
		if (!p->used || p->state == PS_REVOKING || p->state == PS_RESETTING)
			continue;
		int64_t cp = kf_tracker_commit_point(D.t, i);
		if (cp < 0 || kf_dispatch_slot_worker(D.d, i) != worker)
			continue;
		kf_dispatch_slot_reset(D.d, i);
		kf_tracker_reset(D.t, i, cp);
		kf_fetcher_seek(D.f, i, cp);
	}
}
