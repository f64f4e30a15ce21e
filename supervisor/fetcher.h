/*
 * fetcher: kforkd's Fetch loop, on the supervisor's libev loop.
 *
 * The caller assigns partitions, each under a slot number of its own
 * choosing (the slot the tracker and dispatcher use too).  The fetcher
 * keeps one Fetch request in flight per leader broker, covering that
 * broker's assigned, unpaused partitions, and hands every record to
 * on_record in offset order.  It owns the leader table: a Metadata
 * request for the assigned topics goes out when a partition's leader is
 * unknown or a Fetch says it moved.
 *
 * Fetch sessions are not used: every request is a full, sessionless fetch
 * (SessionId 0, SessionEpoch -1).  That costs request bytes per partition
 * but no session state, and is what a broker must always accept.  Fetch
 * v13+ names topics by id (KIP-516): the ids come from Metadata (the
 * cluster keeps them), and a request that would include a topic without a
 * known id goes out at v12, the last that names topics, as the Java
 * fetcher does.
 *
 * Position and back-pressure: each partition has a fetch position, the
 * next offset to deliver.  It moves past each record on_record took and
 * past batches that carry nothing to deliver (control batches, aborted
 * transactions, records compacted away), which on_skip reports so the
 * offset tracker can move too.  When on_record answers KF_EAGAIN, the
 * partition is paused at that record; the rest of that response for it is
 * dropped and fetched again after kf_fetcher_resume.  Responses are never
 * buffered: records point into the connection's frame and are valid only
 * during on_record.
 *
 * Errors per partition: NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
 * UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE (and the other "leader
 * moved" codes) refresh metadata; OFFSET_OUT_OF_RANGE calls
 * on_out_of_range and holds the partition until kf_fetcher_seek; any other
 * code backs the partition off for backoff_ms.  A corrupt batch calls
 * on_error and pauses the partition (kf_fetcher_error gives the message);
 * other partitions go on.
 *
 * Callbacks may call kf_fetcher_pause/resume/seek/assign/unassign (for any
 * slot) but not kf_fetcher_free.  Nothing blocks.  The cluster must outlive
 * the fetcher.
 */
#ifndef KF_FETCHER_H
#define KF_FETCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "batch.h"

struct ev_loop;
struct kf_cluster;
struct kf_fetcher;

enum kf_isolation {
	KF_READ_UNCOMMITTED = 0,
	KF_READ_COMMITTED = 1,
};

struct kf_fetcher_conf {
	int fetch_min_bytes;            /* 1 when 0 */
	int fetch_max_wait_ms;          /* 500 when 0 */
	int fetch_max_bytes;            /* 52428800 when 0 */
	int fetch_partition_max_bytes;  /* 1048576 when 0 */
	enum kf_isolation isolation;
	int backoff_ms;                 /* after a partition error; 500 when 0 */
	int metadata_backoff_ms;        /* between metadata retries; 250 when 0 */
	int request_timeout_ms;         /* added to fetch_max_wait_ms; 30000 when 0 */
	int16_t max_version;            /* Fetch version cap, at most 18; 18 when 0 */
	bool verify_crc;                /* check batch CRCs (kforkd: always) */
};

/* What on_record answers: KF_OK (taken) or KF_EAGAIN (no room). */
struct kf_fetcher_callbacks {
	int (*on_record)(void *opaque, uint32_t slot, const struct kf_record *r, const char *topic,
			 int32_t partition);
	/* The position moved to next_offset without a record (a skipped
	 * batch, or the end of a batch whose last records were compacted).
	 * A gap before a delivered record is not reported: the record's
	 * offset moves the tracker itself. */
	void (*on_skip)(void *opaque, uint32_t slot, int64_t next_offset);
	/* The position is out of range; the partition waits for
	 * kf_fetcher_seek (see kf_fetcher_list_offsets). */
	void (*on_out_of_range)(void *opaque, uint32_t slot, int64_t position);
	/* A corrupt batch; the partition is paused. */
	void (*on_error)(void *opaque, uint32_t slot, const char *msg);
};

struct kf_fetcher_counters {
	uint64_t requests;      /* Fetch requests sent */
	uint64_t responses;     /* answered without a transport error */
	uint64_t records;       /* delivered (on_record KF_OK) */
	uint64_t skipped;       /* batches skipped: control, aborted */
	uint64_t eagain;        /* on_record answers KF_EAGAIN */
	uint64_t part_errors;   /* partition error codes in responses */
	uint64_t metadata;      /* metadata refreshes answered */
};

struct kf_fetcher *kf_fetcher_new(struct ev_loop *loop, struct kf_cluster *cl,
				  const struct kf_fetcher_conf *conf,
				  const struct kf_fetcher_callbacks *cb, void *opaque);
/* Requests in flight are detached: their answers are dropped. */
void kf_fetcher_free(struct kf_fetcher *f);

/* Fetch topic/partition from fetch_offset under slot (topic copied).
 * KF_OK, KF_EPROTO if the slot is in use or the offset negative,
 * KF_ENOMEM. */
int kf_fetcher_assign(struct kf_fetcher *f, const char *topic, int32_t partition, uint32_t slot,
		      int64_t fetch_offset);
/* Stop fetching the slot; an answer in flight for it is dropped. */
void kf_fetcher_unassign(struct kf_fetcher *f, uint32_t slot);
/* A paused partition is left out of new requests, and records of one in
 * flight are dropped (fetched again after resume).  Resume also clears a
 * corrupt-batch error. */
void kf_fetcher_pause(struct kf_fetcher *f, uint32_t slot);
void kf_fetcher_resume(struct kf_fetcher *f, uint32_t slot);
/* Move the position (auto_offset_reset, after on_out_of_range). */
int kf_fetcher_seek(struct kf_fetcher *f, uint32_t slot, int64_t offset);

bool kf_fetcher_assigned(const struct kf_fetcher *f, uint32_t slot);
bool kf_fetcher_paused(const struct kf_fetcher *f, uint32_t slot);
/* The next offset to deliver; -1 if the slot is not assigned. */
int64_t kf_fetcher_position(const struct kf_fetcher *f, uint32_t slot);
/* The high watermark of the last answer for the slot; -1 if none yet. */
int64_t kf_fetcher_hwm(const struct kf_fetcher *f, uint32_t slot);
/* The leader's node id; -1 if unknown. */
int32_t kf_fetcher_leader(const struct kf_fetcher *f, uint32_t slot);
/* The corrupt-batch message that paused the slot; NULL if none. */
const char *kf_fetcher_error(const struct kf_fetcher *f, uint32_t slot);
void kf_fetcher_counters(const struct kf_fetcher *f, struct kf_fetcher_counters *out);

/*
 * ListOffsets for the slot's partition at timestamp (-2 earliest, -1
 * latest), sent to its leader.  cb gets err (KF_OK when an answer came,
 * else the transport error), the partition's Kafka error code and the
 * offset; a "leader moved" code also refreshes metadata.  Returns KF_OK
 * (cb runs later, exactly once, unless the fetcher is freed first), or
 * KF_EAGAIN when the leader is not known yet (a metadata refresh is under
 * way: ask again later), or KF_EPROTO for an unassigned slot.
 */
typedef void kf_fetcher_list_cb(void *arg, uint32_t slot, int err, int16_t code, int64_t offset);
int kf_fetcher_list_offsets(struct kf_fetcher *f, uint32_t slot, int64_t timestamp,
			    kf_fetcher_list_cb *cb, void *arg);

/*
 * One partition of a Fetch answer for slot, handled as if the broker had
 * sent it at the slot's position: error code, high watermark, records.
 * The answer path of every Fetch; public for tests (a slot with a request
 * in flight is left alone).
 */
struct kf_fetch_resp_partition;
void kf_fetcher_feed(struct kf_fetcher *f, uint32_t slot, const struct kf_fetch_resp_partition *rp);

/* The reaction to a Fetch partition error code (pure; unit-tested). */
enum kf_fetch_action {
	KF_FA_NONE = 0,     /* no error */
	KF_FA_METADATA,     /* leader moved or unknown: refresh metadata */
	KF_FA_OUT_OF_RANGE, /* on_out_of_range, wait for a seek */
	KF_FA_BACKOFF,      /* retry the partition after backoff_ms */
};
enum kf_fetch_action kf_fetch_error_action(int16_t code);

#endif
