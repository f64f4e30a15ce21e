/*
 * ring: the shared-memory channel between the supervisor and one worker.
 *
 * One region per worker (a memfd, mapped by the supervisor before fork, so
 * the worker inherits the mapping) holds:
 *   - a record ring, supervisor -> worker: variable-length entries, 8-byte
 *     aligned, each one record (partition slot, topic index, offset,
 *     timestamp, key, value, headers);
 *   - an ack ring, worker -> supervisor: variable-length entries, one per
 *     finished record (status, and a reason when it failed);
 *   - a topic table: topic index -> name, written by the supervisor before
 *     the first record that uses the index, read by the worker;
 *   - two eventfds, one to wake each side.
 *
 * Both rings are single-producer/single-consumer with C11 acquire/release
 * atomics; head and tail on separate cache lines; no locks.  A side writes
 * the other's eventfd only when that side announced it is going to sleep
 * (a flag, then a re-check of the ring), so no wakeup is lost and a busy
 * pipeline makes no system call per record.
 *
 * Record space is released when the SUPERVISOR consumes the record's ack
 * (kf_ring_ack_pop), not when the worker reads it.  Each ack carries the
 * ring position just past its record, and records are acked in ring order
 * by one worker.  So after a worker dies, the supervisor pops the acks that
 * are left, and everything between the released tail and the head is
 * exactly the dead worker's unfinished work, still in shared memory: a
 * replacement worker (kf_ring_worker_restart) starts reading at the tail
 * and gets those records again, without a copy.
 *
 * Each record entry also counts delivery attempts (written by the worker
 * before it runs the handler), so a record that kills or stalls its worker
 * is known as such by the next worker, which reports it failed once the
 * retries are used up instead of dying on it forever.
 *
 * Capacities are powers of two.  A record whose entry is larger than half
 * the record ring can never be placed (wrap-around needs contiguous room):
 * kf_ring_push refuses it with KF_ETOOBIG, and the caller pauses the
 * partition and reports the record by topic/partition/offset.
 */
#ifndef KF_RING_H
#define KF_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KF_RING_MAX_TOPICS 1024
#define KF_RING_TOPIC_MAX 255       /* Kafka allows 249 characters */
#define KF_RING_REASON_MAX 512      /* failure reasons are cut to this */

struct kf_ring_shared;              /* the mapped region; see ring.c */

struct kf_ring {
	struct kf_ring_shared *sh;  /* mapping, inherited across fork */
	size_t map_len;
	int memfd;
	int rec_efd;                /* wakes the worker: records or ack room */
	int ack_efd;                /* wakes the supervisor: acks */
	/* Process-local cursors. */
	uint64_t rec_read;          /* worker: next record entry to read */
	uint64_t ack_read_cache;    /* private to the implementation */
	/* Private to the implementation: process-local copies of what the
	 * shared header says, so that neither side trusts memory the other
	 * side can write for its own bookkeeping (a worker runs user code). */
	uint8_t *rec_base;
	uint8_t *ack_base;
	uint64_t rec_cap;
	uint64_t ack_cap;
	uint64_t rec_head;          /* supervisor: record write position */
	uint64_t rec_tail;          /* supervisor: released up to here */
	uint64_t ack_tail;          /* supervisor: ack read position */
	uint64_t ack_head_cache;    /* supervisor: last ack head seen */
	uint64_t rec_head_cache;    /* worker: last record head seen */
	uint64_t ack_need;          /* worker: size of an ack that found no
				       room (0: none); what kf_ring_wait waits
				       for */
	char reason[KF_RING_REASON_MAX + 1]; /* supervisor: last popped reason */
};

/* A record as pushed by the supervisor or read by the worker.  On the
 * worker side the pointers point into shared memory and stay valid until
 * the record is acked and the supervisor popped that ack. */
struct kf_ring_rec {
	uint32_t slot;              /* supervisor's partition slot */
	uint32_t topic;             /* index into the topic table */
	int32_t partition;
	int64_t offset;
	int64_t timestamp;
	const uint8_t *key;         /* NULL and key_len -1: null key */
	int32_t key_len;
	const uint8_t *value;       /* NULL and value_len -1: null value */
	int32_t value_len;
	const uint8_t *headers;     /* record headers as in a RecordBatch;
				       walk with kf_record_header_next */
	uint32_t headers_len;
	int32_t header_count;
	/* Worker side only: */
	uint32_t attempts;          /* earlier delivery attempts (worker deaths,
				       stalls, retries) of this record, as
				       kf_ring_next found it; kf_ring_attempt
				       adds one (then it counts the attempt
				       about to run too) */
	uint64_t end;               /* ring position just past the entry */
	uint64_t start;             /* ring position of the entry (pad
				       excluded); used by kf_ring_attempt */
};

enum kf_ack_status {
	KF_ACK_OK = 0,
	KF_ACK_FAILED = 1,          /* KFORK_FAIL or retries exhausted */
};

struct kf_ring_ack {
	uint32_t slot;
	uint32_t status;            /* enum kf_ack_status */
	int64_t offset;
	uint32_t attempts;          /* handler runs it took (1 = first try) */
	uint64_t end;               /* the record's kf_ring_rec.end */
	const char *reason;         /* failed: why ("" if none; NULL pushes "");
				       cut to KF_RING_REASON_MAX bytes.  Pop
				       side: a NUL-terminated copy inside
				       struct kf_ring, valid until the next
				       pop (never pointing into shared memory
				       the worker could still write) */
};

/* Wakeup accounting, for tests and benchmarks: a busy pipeline should
 * show few eventfd writes per record. */
struct kf_ring_stats {
	uint64_t rec_wakeups;       /* eventfd writes supervisor -> worker */
	uint64_t ack_wakeups;       /* eventfd writes worker -> supervisor */
	uint64_t worker_sleeps;     /* kf_ring_worker_sleep() said "sleep" */
	uint64_t sup_sleeps;        /* kf_ring_ack_sleep() said "sleep" */
};

/* Supervisor: create the region (before fork).  rec_bytes and ack_bytes
 * are rounded down to powers of two (at least 4 KiB).  KF_OK or an error
 * with a message in err. */
int kf_ring_create(struct kf_ring *r, size_t rec_bytes, size_t ack_bytes, char *err,
		   size_t errlen);
/* Unmap and close (either side; the worker calls it before exec).  Safe
 * on a zeroed struct and twice. */
void kf_ring_destroy(struct kf_ring *r);
/* Either side: KF_OK if the mapping's header (magic, version, capacities,
 * layout) matches this struct; KF_EPROTO if not (the worker exits with
 * KF_WORKER_EXIT_RING). */
int kf_ring_check(const struct kf_ring *r);
/* Either side: the wakeup counters (shared, so both sides see both). */
void kf_ring_stats(const struct kf_ring *r, struct kf_ring_stats *st);

/* Supervisor: topic index -> name.  Set before pushing a record with that
 * index; an index keeps its name for the life of the region.  KF_OK (also
 * for setting the same name again); KF_EPROTO for idx >= KF_RING_MAX_TOPICS,
 * a name longer than KF_RING_TOPIC_MAX, or another name for an index that
 * has one. */
int kf_ring_set_topic(struct kf_ring *r, uint32_t idx, const char *name);
/* Worker: the name of a topic index ("" if unset). */
const char *kf_ring_topic(const struct kf_ring *r, uint32_t idx);

/* ---- supervisor side: records in, acks out ---- */

/* Bytes an entry for this record takes (header + key + value + headers,
 * 8-byte aligned); compare with kf_ring_max_entry(). */
size_t kf_ring_entry_size(const struct kf_ring_rec *rec);
size_t kf_ring_max_entry(const struct kf_ring *r);
/* Copy rec into the record ring.  KF_OK; KF_EAGAIN when there is no room
 * now (try again after acks); KF_ETOOBIG when it can never fit (entry
 * larger than kf_ring_max_entry()); KF_EPROTO for a non-null key, value or
 * headers with a NULL pointer.  Wakes the worker if it sleeps. */
int kf_ring_push(struct kf_ring *r, const struct kf_ring_rec *rec);
/* Bytes of records pushed and not yet released. */
size_t kf_ring_rec_used(const struct kf_ring *r);
/* Pop the next ack: 1 and *ack filled (the record's space, and the pad
 * before it if any, is released), 0 if none.  Wakes the worker if it
 * sleeps waiting for ack room.  KF_EPROTO if the ack ring holds something
 * no worker of this ring could have written (a malformed entry, or an
 * ack.end that is not past the released tail and within the pushed
 * records): nothing is consumed; kill the worker and do not use the ring
 * again.  The ack eventfd only fires after kf_ring_ack_sleep() said
 * "sleep": pop until 0, then call it. */
int kf_ring_ack_pop(struct kf_ring *r, struct kf_ring_ack *ack);
/* Before waiting on ack_efd: announce it and re-check.  Returns false (do
 * not sleep) when acks are already waiting.  kf_ring_ack_woken() clears
 * the eventfd and the announcement after ack_efd became readable.  A full
 * record ring waits the same way (space comes back with acks).  Keep
 * popping while acks are there: a worker waiting for ack room is woken
 * when the acks known to the supervisor fall below half the ack ring or
 * run out, not on every pop. */
bool kf_ring_ack_sleep(struct kf_ring *r);
void kf_ring_ack_woken(struct kf_ring *r);

/* ---- worker side: records out, acks in ---- */

/* Start (again) at the oldest unreleased record: for a replacement worker
 * on the ring of one that died.  The supervisor has popped the dead
 * worker's remaining acks first (otherwise records already acked are
 * delivered again, and their second ack makes kf_ring_ack_pop fail).
 * Call it at the start of every worker process, the first one included. */
void kf_ring_worker_restart(struct kf_ring *r);
/* 1 and the next record (not released), 0 if none yet; KF_EPROTO if the
 * entry is malformed (shared memory overwritten: the worker exits with
 * KF_WORKER_EXIT_RING).  Moves only the worker's private read cursor. */
int kf_ring_next(struct kf_ring *r, struct kf_ring_rec *rec);
/* Record one more delivery attempt of rec in its shared entry (call it
 * before running the handler, for every run, retries included) and set
 * rec->attempts to the new count. */
void kf_ring_attempt(struct kf_ring *r, struct kf_ring_rec *rec);
/* Push an ack.  KF_OK, or KF_EAGAIN when the ack ring is full (sleep and
 * retry).  Wakes the supervisor if it sleeps. */
int kf_ring_ack(struct kf_ring *r, const struct kf_ring_ack *ack);
/* For a worker that polls other fds too (exec handler): announce the sleep
 * and re-check (false: work is there, do not sleep), poll rec_efd with the
 * rest, then kf_ring_worker_woken() once it is readable.  What the worker
 * waits for: room in the ack ring if its last kf_ring_ack() said
 * KF_EAGAIN, else a record to read.  It first looks for that work for up
 * to 20 us (a worker faster than the supervisor would otherwise sleep and
 * be woken every few records). */
bool kf_ring_worker_sleep(struct kf_ring *r);
void kf_ring_worker_woken(struct kf_ring *r);
/* Block until a record or ack room may be available (or timeout_ms, -1 =
 * forever; or a signal: returns KF_EAGAIN on EINTR).  Announces the sleep
 * and re-checks, so it returns at once if there is work.  Waits for what
 * kf_ring_worker_sleep() says.  KF_OK after a wakeup or the timeout (the
 * caller looks again either way); KF_EIO if poll() failed otherwise. */
int kf_ring_wait(struct kf_ring *r, int timeout_ms);

#endif
