/*
 * tracker: the offset tracker.  For each partition slot it knows which
 * dispatched records are not done yet and from that the commit point: the
 * offset of the oldest record not yet done, or the fetch position (the next
 * offset to fetch) when every dispatched record is done.  The commit point
 * never passes an unfinished record, whatever order the acks come in.
 *
 * Pure logic: no I/O, no logging, no clock.  Runs in the supervisor only.
 *
 * How: offsets are dispatched in increasing order per partition, so a
 * slot keeps a ring ("window") of its dispatched offsets in dispatch
 * order, from the oldest unfinished one to the newest.  An ack finds its
 * entry by binary search (O(log n)) and marks it; done entries at the
 * front are dropped at once (amortised O(1)), so the front entry, if any,
 * is always the commit point.  Offsets that never reach a worker (gaps
 * left by compaction, transaction markers, control and aborted batches)
 * never enter the window: kf_tracker_skip_to() or a dispatched offset
 * beyond the position just moves the position.
 *
 * Memory: the window holds every record from the oldest unfinished one to
 * the newest dispatched one, done or not, 9 bytes each.  It grows by
 * doubling (no allocation per record once grown) up to max_window
 * entries; past that kf_tracker_dispatched() says KF_EAGAIN.  So a record
 * stuck on a worker while later ones flow bounds memory, too: the caller
 * checks kf_tracker_full() before pushing a record and pauses the
 * partition while it is full.
 *
 * Slots are small integers chosen by the caller (the slot of
 * struct kf_ring_rec); the slot table grows on kf_tracker_reset().
 * Offsets are Kafka offsets: 0 <= offset < INT64_MAX.
 */
#ifndef KF_TRACKER_H
#define KF_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Highest slot number + 1 the tracker accepts. */
#define KF_TRACKER_MAX_SLOTS (1u << 20)

/* kf_tracker_done/_failed: the record was already done or failed, or the
 * offset is below the window (an ack from before a reset, or a second ack
 * of a redelivered record after a worker death).  Tolerated: nothing
 * changes but the dups counter.  Positive, so it is not a KF_E* error. */
#define KF_TRACKER_DUP 1

/* What a failed record does to its partition (workers.on_failure). */
enum kf_tracker_fail {
	KF_TRACKER_FAIL_PAUSE = 0,  /* held: the commit point stops before it
				       and the slot is marked paused */
	KF_TRACKER_FAIL_SKIP = 1,   /* counted as failed, then treated as done */
};

struct kf_tracker_counters {
	uint64_t dispatched;    /* records registered by kf_tracker_dispatched */
	uint64_t done;          /* first acks that marked a record done */
	uint64_t failed;        /* first acks that marked a record failed
				   (pause and skip alike) */
	uint64_t dups;          /* acks answered KF_TRACKER_DUP */
	uint64_t unknown;       /* acks for offsets never dispatched, or for an
				   inactive slot (KF_EPROTO) */
	uint64_t gap_offsets;   /* offsets passed over without a record */
};

struct kf_tracker;

/* A tracker holding at most max_window entries per slot (0: no limit
 * but memory).  NULL when out of memory.  Free with kf_tracker_free(). */
struct kf_tracker *kf_tracker_new(uint32_t max_window);
void kf_tracker_free(struct kf_tracker *t);

/* Start tracking slot at fetch position `position` (the partition was
 * assigned, or the fetcher seeks).  Whatever the slot held is forgotten:
 * later acks for those offsets answer KF_TRACKER_DUP (below position) or
 * KF_EPROTO, or, if the same offset was dispatched again since, mark the
 * new one done (the record was processed; at-least-once holds).  Clears
 * the pause and the slot's counters (kf_tracker_totals keeps counting).
 * KF_OK; KF_EPROTO for a negative position; KF_ETOOBIG for a slot beyond
 * KF_TRACKER_MAX_SLOTS; KF_ENOMEM. */
int kf_tracker_reset(struct kf_tracker *t, uint32_t slot, int64_t position);
/* The partition was revoked: forget the slot and free its window.  Acks
 * for it then answer KF_EPROTO.  Harmless on an inactive slot. */
void kf_tracker_release(struct kf_tracker *t, uint32_t slot);
/* True between kf_tracker_reset and kf_tracker_release. */
bool kf_tracker_active(const struct kf_tracker *t, uint32_t slot);

/* A record at `offset` went to a worker.  Offsets must increase per slot:
 * offset >= the position; offsets between the position and this one are
 * counted as a gap.  The position becomes offset + 1.
 * KF_OK; KF_EPROTO (inactive slot, offset below the position, negative or
 * INT64_MAX): nothing changed; KF_EAGAIN: the window holds max_window
 * entries (do not push the record; pause the partition until acks drain
 * it); KF_ENOMEM. */
int kf_tracker_dispatched(struct kf_tracker *t, uint32_t slot, int64_t offset);
/* True when kf_tracker_dispatched would say KF_EAGAIN.  False on an
 * inactive slot. */
bool kf_tracker_full(const struct kf_tracker *t, uint32_t slot);
/* The fetcher passed offsets that have no record for the workers (control
 * batches, aborted transactions, compacted offsets): the position moves
 * to next_offset.  Records still in flight keep holding the commit point.
 * next_offset == position is a no-op.  KF_OK; KF_EPROTO (inactive slot,
 * next_offset below the position): nothing changed. */
int kf_tracker_skip_to(struct kf_tracker *t, uint32_t slot, int64_t next_offset);

/* The record at `offset` was done (ack status OK).  KF_OK: marked (the
 * commit point may have moved); KF_TRACKER_DUP: already done or failed,
 * or below the window (see above); KF_EPROTO: never dispatched (an offset
 * in a gap, at or beyond the position, or the slot is inactive).  Only
 * KF_OK counts the record as done. */
int kf_tracker_done(struct kf_tracker *t, uint32_t slot, int64_t offset);
/* The record at `offset` failed (retries used up).  With
 * KF_TRACKER_FAIL_SKIP it then counts as done; with KF_TRACKER_FAIL_PAUSE
 * it is held, the commit point stays at or before it and the slot is
 * paused (kf_tracker_paused).  Same return values as kf_tracker_done. */
int kf_tracker_failed(struct kf_tracker *t, uint32_t slot, int64_t offset,
		      enum kf_tracker_fail how);
/* The operator gave up on the held failed records of a paused slot: they
 * count as done and the pause is lifted.  (To process them again instead,
 * kf_tracker_reset the slot to kf_tracker_commit_point and fetch again.)
 * O(window).  KF_OK; KF_EPROTO on an inactive slot. */
int kf_tracker_skip_failed(struct kf_tracker *t, uint32_t slot);

/* The offset to commit: the oldest record not done (pending or held
 * failed), else the position.  -1 on an inactive slot. */
int64_t kf_tracker_commit_point(const struct kf_tracker *t, uint32_t slot);
/* The next offset to fetch.  -1 on an inactive slot. */
int64_t kf_tracker_position(const struct kf_tracker *t, uint32_t slot);
/* Records dispatched and not acked yet (held failed ones excluded). */
uint32_t kf_tracker_inflight(const struct kf_tracker *t, uint32_t slot);
/* Entries the window holds: from the oldest unfinished record to the
 * newest dispatched one, done ones in between included. */
uint32_t kf_tracker_window(const struct kf_tracker *t, uint32_t slot);
/* True when a record failed under KF_TRACKER_FAIL_PAUSE and is still held;
 * *offset (if not NULL) gets the oldest held failed offset. */
bool kf_tracker_paused(const struct kf_tracker *t, uint32_t slot, int64_t *offset);

/* The slot's counters since its last reset (all zero for an inactive
 * slot).  Never NULL; valid until the next call on the tracker. */
const struct kf_tracker_counters *kf_tracker_counters(const struct kf_tracker *t,
						      uint32_t slot);
/* Counters over all slots since kf_tracker_new (resets do not clear
 * them).  For the status JSON: records_dispatched, records_done. */
const struct kf_tracker_counters *kf_tracker_totals(const struct kf_tracker *t);
/* Sum of kf_tracker_inflight over all slots. */
uint64_t kf_tracker_total_inflight(const struct kf_tracker *t);

#endif
