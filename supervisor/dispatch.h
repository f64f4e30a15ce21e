/*
 * dispatch: which worker gets a record (workers.dispatch).
 *
 *   partition   every partition is pinned to one worker, so its records
 *               run one at a time, in offset order.  A new partition goes
 *               to the active worker with the fewest partitions; when
 *               workers come or go the mapping is rebalanced with as few
 *               moves as possible (partition counts of active workers then
 *               differ by at most 1).  A partition moves only once nothing
 *               of it is in flight on its old worker: until then
 *               kf_dispatch_pick says -1 for it.
 *   key         a hash of the key picks the worker, so one key's records
 *               run in order on one worker while the worker set is stable.
 *               Records with a null key hash their partition slot instead
 *               (one worker per partition for them).  When the set of
 *               active workers changes, a partition with records in flight
 *               from before the change waits (-1) until those are done,
 *               so per-key order holds across scaling too.
 *   roundrobin  each record to the next active worker.  No order at all:
 *               records of one partition, even of one key, run
 *               concurrently.  Best spread for independent records.
 *
 * Key hash: 64-bit FNV-1a finished with the murmur3 fmix64 avalanche, then
 * taken modulo the number of active workers (ordered by index).  Not
 * Kafka's murmur2 on purpose: the default producer partitioner picks the
 * partition as murmur2(key) % partitions, so all keys of one partition
 * share murmur2(key) % partitions, and with murmur2 again every key of a
 * partition would land on one worker whenever the worker count divides
 * the partition count.
 *
 * The caller reports what it does with the answer: kf_dispatch_sent()
 * after a record was pushed into the worker's ring, kf_dispatch_acked()
 * when its ack was popped.  Those counts are what ordering rests on.
 *
 * Workers are the caller's indexes (the pool's), 0 <= w <
 * KF_DISPATCH_MAX_WORKERS, not necessarily dense.  Slots are partition
 * slots (struct kf_ring_rec.slot); both tables grow on demand.
 *
 * Pure logic: no I/O, no clock.  Supervisor only.
 */
#ifndef KF_DISPATCH_H
#define KF_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define KF_DISPATCH_MAX_WORKERS 4096
#define KF_DISPATCH_MAX_SLOTS (1u << 20)

enum kf_dispatch_mode {
	KF_DISPATCH_PARTITION = 0,
	KF_DISPATCH_KEY = 1,
	KF_DISPATCH_ROUNDROBIN = 2,
};

enum kf_dispatch_wstate {
	KF_DW_NONE = 0,             /* no such worker (never added, removed) */
	KF_DW_ACTIVE = 1,           /* takes new records */
	KF_DW_RETIRING = 2,         /* takes nothing new; drains */
};

struct kf_dispatch;

/* "partition", "key", "roundrobin" -> *mode.  KF_OK or KF_EPROTO. */
int kf_dispatch_mode_parse(const char *name, enum kf_dispatch_mode *mode);
const char *kf_dispatch_mode_name(enum kf_dispatch_mode mode);

/* A dispatcher with no workers.  NULL when out of memory.  To change the
 * mode, drain and make a new one. */
struct kf_dispatch *kf_dispatch_new(enum kf_dispatch_mode mode);
void kf_dispatch_free(struct kf_dispatch *d);
enum kf_dispatch_mode kf_dispatch_mode(const struct kf_dispatch *d);

/* Worker w starts taking records (start-up, scale up, a replacement in a
 * rolling restart).  Partitions are rebalanced onto it lazily (next pick).
 * KF_OK; KF_EPROTO if w is already there or out of range; KF_ENOMEM. */
int kf_dispatch_worker_add(struct kf_dispatch *d, int w);
/* Worker w gets nothing new from now on; what it holds drains.  Its
 * partitions move to active workers as soon as each has nothing in
 * flight.  KF_OK; KF_EPROTO if w is not active. */
int kf_dispatch_worker_retire(struct kf_dispatch *d, int w);
/* A retiring worker takes records again (its replacement process is up,
 * or a shrink was taken back); what it holds stays counted.  KF_OK;
 * KF_EPROTO if w is not retiring. */
int kf_dispatch_worker_activate(struct kf_dispatch *d, int w);
/* Worker w is gone.  Normally it drained first (inflight 0); a worker
 * that died is replaced on the same ring under the same index instead, so
 * its records are not lost.  If it is removed with records in flight
 * anyway, they are forgotten: with `partition` the counts of the
 * partitions pinned to it are cleared (all their in-flight records were
 * on w); with key and roundrobin the dispatcher cannot know which
 * partitions they belonged to, and the caller must kf_dispatch_slot_reset
 * the partitions it refetches, or those wait for acks that never come.
 * KF_OK; KF_EPROTO if w is not there. */
int kf_dispatch_worker_remove(struct kf_dispatch *d, int w);
enum kf_dispatch_wstate kf_dispatch_worker_state(const struct kf_dispatch *d, int w);
/* Records sent to w and not acked. */
uint64_t kf_dispatch_worker_inflight(const struct kf_dispatch *d, int w);
/* partition: partitions that are (or will be, once drained) pinned to w.
 * Brings a pending rebalance up to date first. */
uint32_t kf_dispatch_worker_partitions(struct kf_dispatch *d, int w);
/* Active workers. */
uint32_t kf_dispatch_active(const struct kf_dispatch *d);

/* The worker for a record of partition `slot` with this key (key NULL or
 * key_len < 0: null key; only `key` dispatch reads it), or -1 when no
 * worker can take it now: no active worker, or (partition) the partition
 * is moving and still has records in flight on its old worker, or (key)
 * the worker set changed while the partition had records in flight.  On
 * -1 pause the partition and pick again after acks or worker changes.
 * A partition seen for the first time is assigned here.  With roundrobin
 * every pick moves the cursor on, so after KF_EAGAIN from that worker's
 * ring the caller may pick again to try the next one. */
int kf_dispatch_pick(struct kf_dispatch *d, uint32_t slot, const void *key,
		     int32_t key_len);
/* The record of `slot` picked for w is in w's ring now. */
void kf_dispatch_sent(struct kf_dispatch *d, uint32_t slot, int w);
/* w acked a record of `slot` (done or failed). */
void kf_dispatch_acked(struct kf_dispatch *d, uint32_t slot, int w);

/* The partition was revoked: its worker's partition count drops.  Acks
 * still to come for it are counted as usual; if it is assigned again
 * before they came, it is a new partition for the balance, but its first
 * records wait (-1) for the old ones like any move (partition) or
 * worker-set change (key). */
void kf_dispatch_slot_remove(struct kf_dispatch *d, uint32_t slot);
/* Forget the partition's in-flight records (it is fetched again from its
 * commit point after records were lost with a worker).  Keeps its
 * pinning.  Acks that still come for forgotten records are clamped at
 * zero, but they count against records sent after the reset, so reset
 * only when the partition's old records are gone or done. */
void kf_dispatch_slot_reset(struct kf_dispatch *d, uint32_t slot);
/* Records of the partition in flight, over all workers. */
uint32_t kf_dispatch_slot_inflight(const struct kf_dispatch *d, uint32_t slot);
/* partition: the worker the partition's records go to now (-1 if not
 * assigned yet or no worker); for the status JSON "worker".  key and
 * roundrobin: -1. */
int kf_dispatch_slot_worker(const struct kf_dispatch *d, uint32_t slot);

/* The key hash (FNV-1a 64 + fmix64); exposed for tests. */
uint64_t kf_dispatch_key_hash(const void *key, size_t len);

#endif
