/*
 * ring: the shared-memory channel between the supervisor and one worker
 * (see ring.h for the model).  Owns the region's layout and every access to
 * it; never blocks except in kf_ring_wait(), which only the worker calls.
 *
 * Layout of the region (one memfd, offsets page-aligned):
 *
 *   0          struct kf_ring_shared: read-only header (magic, version,
 *              capacities, offsets), then one cache-line pair per field
 *              group, each written by one side only
 *   topic_off  topic table: KF_RING_MAX_TOPICS x (KF_RING_TOPIC_MAX + 1)
 *   rec_off    record ring, rec_cap bytes (a power of two)
 *   ack_off    ack ring, ack_cap bytes (a power of two)
 *
 * Positions are uint64 byte counts that never wrap (2^64 bytes is
 * centuries of traffic); the index is pos & (cap - 1).  An entry is placed
 * whole: one that does not fit before the end of the ring leaves a pad
 * entry there and starts at index 0.  The pad belongs to the entry after
 * it: it is published, read and released together with that entry.
 *
 * Memory-model review (C11; every pair below is needed on a weakly
 * ordered CPU, and the seq_cst fences are needed on x86 too):
 *
 *  (1) sh->rec_head: kf_ring_push stores it with release after writing the
 *      entry (and the pad, and any topic name set before the push);
 *      kf_ring_next / the worker's re-check load it with acquire.  Pair:
 *      the worker never reads entry bytes older than the head it saw.
 *  (2) sh->ack_head: kf_ring_ack stores it with release after writing the
 *      ack entry; kf_ring_ack_pop / kf_ring_ack_sleep load it with acquire.
 *      Pair: the supervisor reads complete acks.  The same pair also orders
 *      the worker's reads of the record it acks (and its attempts store)
 *      before the supervisor releases that record's space and writes a new
 *      record over it: release on ack_head is what makes "release on ack
 *      pop" safe.
 *  (3) sh->ack_tail: kf_ring_ack_pop stores it with release after copying
 *      the ack out; the worker's room check loads it with acquire.  Pair:
 *      the worker never overwrites an ack the supervisor is still reading.
 *  (4) sh->rec_tail: kf_ring_ack_pop stores it with release; a replacement
 *      worker loads it with acquire in kf_ring_worker_restart.  The real
 *      ordering there is process death -> waitpid -> fork, which the kernel
 *      synchronizes; the pair documents the hand-over and costs nothing.
 *  (5) Sleep flags, the Dekker (store-buffering) pattern.  The sleeper
 *      stores its flag, runs a seq_cst fence, then re-loads the position it
 *      waits on; the waker stores the position (release, as above), runs a
 *      seq_cst fence, then loads the flag.  The two fences are totally
 *      ordered: if the sleeper's comes first, the waker sees the flag and
 *      writes the eventfd; if the waker's comes first, the sleeper's
 *      re-check sees the new position and does not sleep.  Release/acquire
 *      alone would allow both loads to see the old values (x86 too: TSO
 *      lets a load pass an earlier store to another address), losing the
 *      wakeup.  The waker clears the flag with an exchange so that one
 *      announcement costs at most one eventfd write; an eventfd token left
 *      over from a race only causes a spurious wakeup, never a lost one.
 *      The flags themselves carry no data, so their loads and stores are
 *      relaxed: the fences give the ordering.
 *  (6) rec_hdr.attempts: written by the worker that consumes the entry
 *      after the entry was published; the supervisor writes 0 before
 *      publishing (ordered by (1)) and never reads it; a later worker reads
 *      it only after the previous one died (ordered by exit -> waitpid ->
 *      fork, and the supervisor's ack pops in between).  One writer at a
 *      time, so relaxed load + store, no read-modify-write.
 *  (7) Positions a side writes itself (sh->ack_head on the worker side) are
 *      re-read relaxed: single writer, program order.
 *  (8) Statistics counters: relaxed, each incremented by one side only.
 *  (9) kf_ring_ack_pop runs the waker half of (5) for ack room only on
 *      some pops (see there).  That is safe because the last pop of every
 *      drain runs it, and the supervisor does not sleep while acks are
 *      published (its own re-check, (5)); a worker that announced in
 *      between is woken by that pop, or its re-check sees the room.
 *
 * All of this needs lock-free, address-free atomics: a lock-based
 * fallback would use a process-local lock.  The static assertions below
 * check lock-freedom.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "ring.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "ring needs lock-free 64-bit atomics");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "ring needs lock-free 32-bit atomics");

#define RING_MAGIC UINT64_C(0x31676e69526b466b)   /* "kFkRing1" */
#define RING_VERSION 1
/* Two 64-byte lines: adjacent-line prefetchers fetch lines in pairs, so a
 * field a side writes must not share a 128-byte block with one the other
 * side writes. */
#define RING_LINE 128
#define RING_PAGE 4096
#define RING_MIN_CAP 4096
#define RING_MAX_CAP (UINT64_C(1) << 30)
#define RING_SPIN_NS 20000          /* worker: look before sleeping */

enum {
	ENTRY_REC = 0x31434552,     /* "REC1" */
	ENTRY_ACK = 0x314b4341,     /* "ACK1" */
	ENTRY_PAD = 0x31444150,     /* "PAD1": skip to index 0 */
};

/* What a sleeping worker waits for (sh->worker_sleep). */
enum {
	WANT_REC = 1,               /* a record: kf_ring_push wakes */
	WANT_ROOM = 2,              /* ack room: kf_ring_ack_pop wakes */
};

/* A record entry; key, value and headers bytes follow, then padding to 8. */
struct rec_hdr {
	uint32_t size;              /* whole entry, multiple of 8 */
	uint32_t kind;              /* ENTRY_REC or ENTRY_PAD */
	uint32_t slot;
	uint32_t topic;
	int32_t partition;
	int32_t key_len;            /* -1: null */
	int32_t value_len;          /* -1: null */
	uint32_t headers_len;
	int32_t header_count;
	_Atomic uint32_t attempts;  /* see (6) */
	int64_t offset;
	int64_t timestamp;
};
_Static_assert(sizeof(struct rec_hdr) == 56, "rec_hdr layout");

/* An ack entry; reason bytes follow, NUL-terminated, padded to 8. */
struct ack_hdr {
	uint32_t size;              /* whole entry, multiple of 8 */
	uint32_t kind;              /* ENTRY_ACK or ENTRY_PAD */
	uint32_t slot;
	uint32_t status;
	int64_t offset;
	uint64_t end;
	uint32_t attempts;
	uint32_t reason_len;
};
_Static_assert(sizeof(struct ack_hdr) == 40, "ack_hdr layout");

/* A pad needs only size and kind: the smallest gap before the end is 8. */
struct pad_hdr {
	uint32_t size;
	uint32_t kind;
};

#define ACK_MAX_ENTRY ((sizeof(struct ack_hdr) + KF_RING_REASON_MAX + 1 + 7) & ~(size_t)7)

struct kf_ring_shared {
	/* Written by kf_ring_create before any fork; read-only after. */
	uint64_t magic;
	uint32_t version;
	uint32_t line;
	uint64_t map_len;
	uint64_t rec_cap;
	uint64_t ack_cap;
	uint64_t topic_off;
	uint64_t rec_off;
	uint64_t ack_off;
	/* Supervisor writes on every push; the worker polls it. */
	alignas(RING_LINE) _Atomic uint64_t rec_head;
	_Atomic uint64_t rec_wakeups;
	_Atomic uint64_t sup_sleeps;
	/* Supervisor writes on every ack pop; a restarting worker reads it. */
	alignas(RING_LINE) _Atomic uint64_t rec_tail;
	/* Worker writes on every ack; the supervisor polls it. */
	alignas(RING_LINE) _Atomic uint64_t ack_head;
	_Atomic uint64_t ack_wakeups;
	_Atomic uint64_t worker_sleeps;
	/* Supervisor writes on every ack pop; the worker reads it when its
	 * cached copy says the ack ring is full. */
	alignas(RING_LINE) _Atomic uint64_t ack_tail;
	/* The sleep flags: written when a side is about to sleep, read by
	 * the other side after every publish, so they stay read-shared in
	 * both caches while the pipeline is busy. */
	alignas(RING_LINE) _Atomic uint32_t worker_sleep;  /* WANT_* bits */
	alignas(RING_LINE) _Atomic uint32_t sup_sleep;     /* 1: waits for acks */
};

static uint64_t align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

static uint64_t round_up(uint64_t n, uint64_t to)
{
	return (n + to - 1) / to * to;
}

/* The largest power of two <= n, within [RING_MIN_CAP, RING_MAX_CAP]. */
static uint64_t ring_cap(size_t n)
{
	uint64_t cap = RING_MIN_CAP;
	while (cap < RING_MAX_CAP && cap * 2 <= n)
		cap *= 2;
	return cap;
}

/* Bytes an entry of size bytes takes when written at pos: itself, plus
 * the pad up to the end of the ring when it does not fit before it. */
static uint64_t space_needed(uint64_t pos, uint64_t cap, uint64_t size)
{
	uint64_t contig = cap - (pos & (cap - 1));
	return size <= contig ? size : contig + size;
}

static void efd_drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == -1 && errno == EINTR)
		;
}

static void efd_signal(int fd)
{
	uint64_t one = 1;
	/* Can only fail on a closed fd or a counter at 2^64-2: neither
	 * happens to a ring in use, and nothing could be done about it. */
	while (write(fd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

/* ---- creation ---------------------------------------------------------- */

int kf_ring_create(struct kf_ring *r, size_t rec_bytes, size_t ack_bytes, char *err,
		   size_t errlen)
{
	uint64_t rec_cap = ring_cap(rec_bytes), ack_cap = ring_cap(ack_bytes);
	uint64_t topic_off = round_up(sizeof(struct kf_ring_shared), RING_PAGE);
	uint64_t rec_off = round_up(topic_off + (uint64_t)KF_RING_MAX_TOPICS *
				    (KF_RING_TOPIC_MAX + 1), RING_PAGE);
	uint64_t ack_off = rec_off + rec_cap;
	uint64_t map_len = ack_off + ack_cap;
	void *map;

	memset(r, 0, sizeof(*r));
	r->memfd = r->rec_efd = r->ack_efd = -1;
	r->memfd = memfd_create("kfork-ring", MFD_CLOEXEC);
	if (r->memfd == -1) {
		snprintf(err, errlen, "ring: memfd_create: %s", strerror(errno));
		return KF_ERR;
	}
	if (ftruncate(r->memfd, (off_t)map_len) == -1) {
		snprintf(err, errlen, "ring: ftruncate to %llu bytes: %s",
			 (unsigned long long)map_len, strerror(errno));
		goto out_close;
	}
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "ring: mmap of %llu bytes: %s",
			 (unsigned long long)map_len, strerror(errno));
		goto out_close;
	}
	r->sh = map;
	r->map_len = map_len;
	/* CLOEXEC: a worker's exec'd command must not inherit them.
	 * NONBLOCK: the supervisor polls its fd from libev, and the worker
	 * reads only after poll() said readable, so a read never waits. */
	r->rec_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->ack_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->rec_efd == -1 || r->ack_efd == -1) {
		snprintf(err, errlen, "ring: eventfd: %s", strerror(errno));
		goto out_close;
	}
	/* The memfd reads as zeros: positions, flags, counters and the
	 * topic table start empty. */
	r->sh->magic = RING_MAGIC;
	r->sh->version = RING_VERSION;
	r->sh->line = RING_LINE;
	r->sh->map_len = map_len;
	r->sh->rec_cap = rec_cap;
	r->sh->ack_cap = ack_cap;
	r->sh->topic_off = topic_off;
	r->sh->rec_off = rec_off;
	r->sh->ack_off = ack_off;
	r->rec_base = (uint8_t *)map + rec_off;
	r->ack_base = (uint8_t *)map + ack_off;
	r->rec_cap = rec_cap;
	r->ack_cap = ack_cap;
	return KF_OK;

out_close:
	kf_ring_destroy(r);
	return KF_ERR;
}

void kf_ring_destroy(struct kf_ring *r)
{
	if (r->sh)
		munmap(r->sh, r->map_len);
	if (r->memfd >= 0)
		close(r->memfd);
	if (r->rec_efd >= 0)
		close(r->rec_efd);
	if (r->ack_efd >= 0)
		close(r->ack_efd);
	memset(r, 0, sizeof(*r));
	r->memfd = r->rec_efd = r->ack_efd = -1;
}

int kf_ring_check(const struct kf_ring *r)
{
	const struct kf_ring_shared *sh = r->sh;

	if (!sh || sh->magic != RING_MAGIC || sh->version != RING_VERSION ||
	    sh->line != RING_LINE || sh->map_len != r->map_len ||
	    sh->rec_cap != r->rec_cap || sh->ack_cap != r->ack_cap ||
	    (uint8_t *)sh + sh->rec_off != r->rec_base ||
	    (uint8_t *)sh + sh->ack_off != r->ack_base ||
	    sh->ack_off + sh->ack_cap != sh->map_len ||
	    sh->rec_off + sh->rec_cap != sh->ack_off ||
	    sh->topic_off + (uint64_t)KF_RING_MAX_TOPICS * (KF_RING_TOPIC_MAX + 1) > sh->rec_off)
		return KF_EPROTO;
	return KF_OK;
}

void kf_ring_stats(const struct kf_ring *r, struct kf_ring_stats *st)
{
	struct kf_ring_shared *sh = r->sh;

	st->rec_wakeups = atomic_load_explicit(&sh->rec_wakeups, memory_order_relaxed);
	st->ack_wakeups = atomic_load_explicit(&sh->ack_wakeups, memory_order_relaxed);
	st->worker_sleeps = atomic_load_explicit(&sh->worker_sleeps, memory_order_relaxed);
	st->sup_sleeps = atomic_load_explicit(&sh->sup_sleeps, memory_order_relaxed);
}

/* ---- topic table ------------------------------------------------------- */

static char *topic_slot(const struct kf_ring *r, uint32_t idx)
{
	return (char *)r->sh + r->sh->topic_off + (size_t)idx * (KF_RING_TOPIC_MAX + 1);
}

int kf_ring_set_topic(struct kf_ring *r, uint32_t idx, const char *name)
{
	size_t len = strlen(name);

	if (idx >= KF_RING_MAX_TOPICS || len > KF_RING_TOPIC_MAX)
		return KF_EPROTO;
	char *slot = topic_slot(r, idx);
	if (slot[0] != '\0')
		return strcmp(slot, name) == 0 ? KF_OK : KF_EPROTO;
	/* Published to the worker by the release store of the next push's
	 * head (1); the last byte of the slot stays 0 from creation. */
	memcpy(slot, name, len + 1);
	return KF_OK;
}

const char *kf_ring_topic(const struct kf_ring *r, uint32_t idx)
{
	if (idx >= KF_RING_MAX_TOPICS)
		return "";
	return topic_slot(r, idx);
}

/* ---- wakeups ----------------------------------------------------------- */

/* Waker half of (5) for the worker: after publishing what it may wait for
 * (want), wake it if it announced a sleep.  Any announced bit gets the
 * write, not only `want`: the flag is cleared whole, and a worker that
 * re-announced for the other reason in between must not be left asleep. */
static void wake_worker(struct kf_ring *r, uint32_t want)
{
	struct kf_ring_shared *sh = r->sh;

	atomic_thread_fence(memory_order_seq_cst);
	if (!(atomic_load_explicit(&sh->worker_sleep, memory_order_relaxed) & want))
		return;
	if (atomic_exchange_explicit(&sh->worker_sleep, 0, memory_order_relaxed) == 0)
		return;             /* the worker cleared it: it is awake */
	atomic_fetch_add_explicit(&sh->rec_wakeups, 1, memory_order_relaxed);
	efd_signal(r->rec_efd);
}

/* Waker half of (5) for the supervisor. */
static void wake_supervisor(struct kf_ring *r)
{
	struct kf_ring_shared *sh = r->sh;

	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&sh->sup_sleep, memory_order_relaxed))
		return;
	if (atomic_exchange_explicit(&sh->sup_sleep, 0, memory_order_relaxed) == 0)
		return;
	atomic_fetch_add_explicit(&sh->ack_wakeups, 1, memory_order_relaxed);
	efd_signal(r->ack_efd);
}

/* ---- supervisor side --------------------------------------------------- */

size_t kf_ring_entry_size(const struct kf_ring_rec *rec)
{
	uint64_t n = sizeof(struct rec_hdr) + rec->headers_len;

	if (rec->key_len > 0)
		n += (uint32_t)rec->key_len;
	if (rec->value_len > 0)
		n += (uint32_t)rec->value_len;
	return align8(n);
}

size_t kf_ring_max_entry(const struct kf_ring *r)
{
	return r->rec_cap / 2;
}

size_t kf_ring_rec_used(const struct kf_ring *r)
{
	return r->rec_head - r->rec_tail;
}

/* Copy n bytes (NULL for null data) to *p and move it on. */
static void put_bytes(uint8_t **p, const uint8_t *src, int64_t n)
{
	if (n > 0) {
		memcpy(*p, src, (size_t)n);
		*p += n;
	}
}

int kf_ring_push(struct kf_ring *r, const struct kf_ring_rec *rec)
{
	uint64_t cap = r->rec_cap, head = r->rec_head;

	if ((rec->key_len > 0 && !rec->key) || (rec->value_len > 0 && !rec->value) ||
	    (rec->headers_len > 0 && !rec->headers))
		return KF_EPROTO;
	uint64_t size = kf_ring_entry_size(rec);
	if (size > cap / 2)
		return KF_ETOOBIG;
	if (head - r->rec_tail + space_needed(head, cap, size) > cap)
		return KF_EAGAIN;

	uint64_t contig = cap - (head & (cap - 1));
	if (size > contig) {
		struct pad_hdr *pad = (void *)(r->rec_base + (head & (cap - 1)));
		pad->size = (uint32_t)contig;
		pad->kind = ENTRY_PAD;
		head += contig;
	}
	struct rec_hdr *h = (void *)(r->rec_base + (head & (cap - 1)));
	h->size = (uint32_t)size;
	h->kind = ENTRY_REC;
	h->slot = rec->slot;
	h->topic = rec->topic;
	h->partition = rec->partition;
	h->key_len = rec->key_len < 0 ? -1 : rec->key_len;
	h->value_len = rec->value_len < 0 ? -1 : rec->value_len;
	h->headers_len = rec->headers_len;
	h->header_count = rec->header_count;
	atomic_store_explicit(&h->attempts, 0, memory_order_relaxed);   /* (6) */
	h->offset = rec->offset;
	h->timestamp = rec->timestamp;
	uint8_t *p = (uint8_t *)(h + 1);
	put_bytes(&p, rec->key, rec->key_len);
	put_bytes(&p, rec->value, rec->value_len);
	put_bytes(&p, rec->headers, rec->headers_len);

	r->rec_head = head + size;
	/* (1): the entry, the pad and the topic table before the head. */
	atomic_store_explicit(&r->sh->rec_head, r->rec_head, memory_order_release);
	wake_worker(r, WANT_REC);
	return KF_OK;
}

/* Read the ack entry at r->ack_tail (avail bytes published) into ack and
 * r->reason.  Returns the position after it, or 0 if it is malformed.
 * Each shared field is read once into a local before it is checked: the
 * worker could be writing over it. */
static uint64_t read_ack(struct kf_ring *r, uint64_t avail, struct kf_ring_ack *ack)
{
	uint64_t cap = r->ack_cap, pos = r->ack_tail;
	const struct pad_hdr *pad = (const void *)(r->ack_base + (pos & (cap - 1)));
	uint32_t kind = pad->kind, size = pad->size;

	if (kind == ENTRY_PAD) {
		if (size != cap - (pos & (cap - 1)) || size >= avail)
			return 0;
		pos += size;
		avail -= size;
	}
	const struct ack_hdr *h = (const void *)(r->ack_base + (pos & (cap - 1)));
	kind = h->kind;
	size = h->size;
	uint32_t rlen = h->reason_len;
	if (kind != ENTRY_ACK || size % 8 || size > avail || size > ACK_MAX_ENTRY ||
	    rlen > KF_RING_REASON_MAX || sizeof(*h) + rlen + 1 > size)
		return 0;
	ack->slot = h->slot;
	ack->status = h->status;
	ack->offset = h->offset;
	ack->attempts = h->attempts;
	ack->end = h->end;
	memcpy(r->reason, h + 1, rlen);
	r->reason[rlen] = '\0';
	ack->reason = r->reason;
	/* Acks come in ring order: each one releases everything up to its
	 * record's end, which lies past the released tail and within what
	 * was pushed. */
	if (ack->end <= r->rec_tail || ack->end > r->rec_head)
		return 0;
	return pos + size;
}

int kf_ring_ack_pop(struct kf_ring *r, struct kf_ring_ack *ack)
{
	struct kf_ring_shared *sh = r->sh;

	if (r->ack_tail == r->ack_head_cache) {
		/* (2): the ack entries before the head are complete. */
		r->ack_head_cache = atomic_load_explicit(&sh->ack_head, memory_order_acquire);
		if (r->ack_tail == r->ack_head_cache)
			return 0;
	}
	uint64_t avail = r->ack_head_cache - r->ack_tail;
	if (avail > r->ack_cap)
		return KF_EPROTO;
	uint64_t next = read_ack(r, avail, ack);
	if (!next)
		return KF_EPROTO;
	r->rec_tail = ack->end;
	r->ack_tail = next;
	/* (4): for a replacement worker. */
	atomic_store_explicit(&sh->rec_tail, r->rec_tail, memory_order_release);
	/* (3): the ack was copied out before its space is handed back. */
	atomic_store_explicit(&sh->ack_tail, r->ack_tail, memory_order_release);
	/* A worker waiting for ack room is woken with room to spare, not
	 * after every pop (which would make a full ack ring ping-pong one
	 * ack per wakeup): when the acks this side knows of drop below half
	 * the ring, and when they are all popped.  The latter always comes:
	 * the caller pops until 0, and kf_ring_ack_sleep() refuses to sleep
	 * while acks are waiting, so no wakeup is lost by skipping the
	 * others. */
	uint64_t left = r->ack_head_cache - next, half = r->ack_cap / 2;
	if (left == 0 || (left <= half && avail > half))
		wake_worker(r, WANT_ROOM);
	return 1;
}

bool kf_ring_ack_sleep(struct kf_ring *r)
{
	struct kf_ring_shared *sh = r->sh;

	/* Sleeper half of (5). */
	atomic_store_explicit(&sh->sup_sleep, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	r->ack_head_cache = atomic_load_explicit(&sh->ack_head, memory_order_acquire);
	if (r->ack_head_cache != r->ack_tail) {
		atomic_store_explicit(&sh->sup_sleep, 0, memory_order_relaxed);
		return false;
	}
	atomic_fetch_add_explicit(&sh->sup_sleeps, 1, memory_order_relaxed);
	return true;
}

void kf_ring_ack_woken(struct kf_ring *r)
{
	efd_drain(r->ack_efd);
	atomic_store_explicit(&r->sh->sup_sleep, 0, memory_order_relaxed);
}

/* ---- worker side ------------------------------------------------------- */

void kf_ring_worker_restart(struct kf_ring *r)
{
	struct kf_ring_shared *sh = r->sh;

	/* (4) */
	r->rec_read = atomic_load_explicit(&sh->rec_tail, memory_order_acquire);
	r->rec_head_cache = r->rec_read;
	r->ack_read_cache = atomic_load_explicit(&sh->ack_tail, memory_order_acquire);
	r->ack_need = 0;
	/* A flag the dead worker left set would only cost a spurious write. */
	atomic_store_explicit(&sh->worker_sleep, 0, memory_order_relaxed);
}

/* Fill rec from the entry at h, which has avail bytes published. */
static int read_rec(struct kf_ring *r, const struct rec_hdr *h, uint64_t avail,
		    struct kf_ring_rec *rec)
{
	uint32_t size = h->size, hlen = h->headers_len;
	int32_t klen = h->key_len, vlen = h->value_len;

	if (h->kind != ENTRY_REC || size % 8 || size < sizeof(*h) || size > avail ||
	    size > r->rec_cap / 2 || klen < -1 || vlen < -1 ||
	    sizeof(*h) + (uint64_t)(klen > 0 ? klen : 0) + (uint64_t)(vlen > 0 ? vlen : 0) +
	    hlen > size)
		return KF_EPROTO;
	const uint8_t *p = (const uint8_t *)(h + 1);
	rec->slot = h->slot;
	rec->topic = h->topic;
	rec->partition = h->partition;
	rec->offset = h->offset;
	rec->timestamp = h->timestamp;
	rec->key_len = klen;
	rec->key = klen < 0 ? NULL : p;
	p += klen > 0 ? klen : 0;
	rec->value_len = vlen;
	rec->value = vlen < 0 ? NULL : p;
	p += vlen > 0 ? vlen : 0;
	rec->headers = p;
	rec->headers_len = hlen;
	rec->header_count = h->header_count;
	rec->attempts = atomic_load_explicit(&((struct rec_hdr *)h)->attempts,
					     memory_order_relaxed);   /* (6) */
	return KF_OK;
}

int kf_ring_next(struct kf_ring *r, struct kf_ring_rec *rec)
{
	uint64_t cap = r->rec_cap, pos = r->rec_read;

	if (pos == r->rec_head_cache) {
		/* (1): entries before the head are complete. */
		r->rec_head_cache = atomic_load_explicit(&r->sh->rec_head, memory_order_acquire);
		if (pos == r->rec_head_cache)
			return 0;
	}
	uint64_t avail = r->rec_head_cache - pos;
	if (avail > cap)
		return KF_EPROTO;
	const struct pad_hdr *pad = (const void *)(r->rec_base + (pos & (cap - 1)));
	if (pad->kind == ENTRY_PAD) {
		uint32_t size = pad->size;
		/* A pad runs to the end and is published with its entry. */
		if (size != cap - (pos & (cap - 1)) || size >= avail)
			return KF_EPROTO;
		pos += size;
		avail -= size;
	}
	const struct rec_hdr *h = (const void *)(r->rec_base + (pos & (cap - 1)));
	int rc = read_rec(r, h, avail, rec);
	if (rc != KF_OK)
		return rc;
	rec->start = pos;
	rec->end = pos + h->size;
	r->rec_read = rec->end;
	return 1;
}

void kf_ring_attempt(struct kf_ring *r, struct kf_ring_rec *rec)
{
	struct rec_hdr *h = (void *)(r->rec_base + (rec->start & (r->rec_cap - 1)));
	uint32_t n = atomic_load_explicit(&h->attempts, memory_order_relaxed) + 1;

	/* (6): one writer at a time. */
	atomic_store_explicit(&h->attempts, n, memory_order_relaxed);
	rec->attempts = n;
}

/* Room for an ack entry of size bytes at head?  Looks at the shared tail
 * only when the cached one says no. */
static bool ack_room(struct kf_ring *r, uint64_t head, uint64_t size)
{
	uint64_t need = space_needed(head, r->ack_cap, size);

	if (head - r->ack_read_cache + need <= r->ack_cap)
		return true;
	/* (3) */
	r->ack_read_cache = atomic_load_explicit(&r->sh->ack_tail, memory_order_acquire);
	return head - r->ack_read_cache + need <= r->ack_cap;
}

int kf_ring_ack(struct kf_ring *r, const struct kf_ring_ack *ack)
{
	struct kf_ring_shared *sh = r->sh;
	uint64_t cap = r->ack_cap;
	size_t rlen = ack->reason ? strnlen(ack->reason, KF_RING_REASON_MAX) : 0;
	uint64_t size = align8(sizeof(struct ack_hdr) + rlen + 1);
	/* (7): only this process writes it. */
	uint64_t head = atomic_load_explicit(&sh->ack_head, memory_order_relaxed);

	if (!ack_room(r, head, size)) {
		r->ack_need = size;
		return KF_EAGAIN;
	}
	r->ack_need = 0;
	uint64_t contig = cap - (head & (cap - 1));
	if (size > contig) {
		struct pad_hdr *pad = (void *)(r->ack_base + (head & (cap - 1)));
		pad->size = (uint32_t)contig;
		pad->kind = ENTRY_PAD;
		head += contig;
	}
	struct ack_hdr *h = (void *)(r->ack_base + (head & (cap - 1)));
	h->size = (uint32_t)size;
	h->kind = ENTRY_ACK;
	h->slot = ack->slot;
	h->status = ack->status;
	h->offset = ack->offset;
	h->end = ack->end;
	h->attempts = ack->attempts;
	h->reason_len = (uint32_t)rlen;
	memcpy(h + 1, rlen ? ack->reason : "", rlen);
	((char *)(h + 1))[rlen] = '\0';
	/* (2): the entry, and this worker's reads of the acked record,
	 * before the head. */
	atomic_store_explicit(&sh->ack_head, head + size, memory_order_release);
	wake_supervisor(r);
	return KF_OK;
}

/* Can the worker make progress: a record to read, or room for the ack
 * that found none? */
static bool worker_has_work(struct kf_ring *r)
{
	if (r->ack_need) {
		uint64_t head = atomic_load_explicit(&r->sh->ack_head, memory_order_relaxed);
		return ack_room(r, head, r->ack_need);
	}
	if (r->rec_read != r->rec_head_cache)
		return true;
	/* (1) */
	r->rec_head_cache = atomic_load_explicit(&r->sh->rec_head, memory_order_acquire);
	return r->rec_read != r->rec_head_cache;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Look for work for up to RING_SPIN_NS before sleeping.  When the worker
 * is faster than the supervisor it catches up every few records; sleeping
 * each time would cost an eventfd write and two context switches per few
 * records, while the next record is usually a microsecond away.  The spin
 * is short enough not to matter when the ring is really idle. */
static bool worker_spin(struct kf_ring *r)
{
	int64_t until = 0;

	for (unsigned i = 0;; i++) {
		if (worker_has_work(r))
			return true;
		if (i % 64 == 0) {
			int64_t now = mono_ns();
			if (!until)
				until = now + RING_SPIN_NS;
			else if (now >= until)
				return false;
		}
		cpu_relax();
	}
}

bool kf_ring_worker_sleep(struct kf_ring *r)
{
	struct kf_ring_shared *sh = r->sh;

	if (worker_spin(r))
		return false;
	/* Sleeper half of (5). */
	atomic_store_explicit(&sh->worker_sleep, r->ack_need ? WANT_ROOM : WANT_REC,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (worker_has_work(r)) {
		atomic_store_explicit(&sh->worker_sleep, 0, memory_order_relaxed);
		return false;
	}
	atomic_fetch_add_explicit(&sh->worker_sleeps, 1, memory_order_relaxed);
	return true;
}

void kf_ring_worker_woken(struct kf_ring *r)
{
	efd_drain(r->rec_efd);
	atomic_store_explicit(&r->sh->worker_sleep, 0, memory_order_relaxed);
}

int kf_ring_wait(struct kf_ring *r, int timeout_ms)
{
	struct pollfd p = { .fd = r->rec_efd, .events = POLLIN };

	if (!kf_ring_worker_sleep(r))
		return KF_OK;
	int n = poll(&p, 1, timeout_ms);
	int saved = errno;
	kf_ring_worker_woken(r);
	if (n == -1)
		return saved == EINTR ? KF_EAGAIN : KF_EIO;
	return KF_OK;
}
