/*
 * pool: the worker processes of the supervisor, one per slot, each with its
 * own ring (lib/ring.h).
 *
 * Owns: the rings (created once per slot; a ring outlives the processes
 * that serve it), the forked workers, their reaping and respawning, crash
 * loop backoff, stall detection, resizing at run time and shutdown.  It
 * pops every ack and hands it to the caller (on_ack), who feeds the offset
 * tracker; it never looks at offsets itself.
 *
 * Runs in the supervisor on its libev loop and never blocks: children are
 * reaped by ev_child watchers, acks are drained by an ev_io on each ring's
 * ack eventfd in batches, all waits are timers.  libev handles SIGCHLD and
 * child watchers only in the default loop (ev_default_loop(), which
 * installs the SIGCHLD handler), so kf_pool_new() refuses any other loop.
 * libev's SIGCHLD handler reaps every child of the process: whoever else
 * forks in the supervisor must watch its pids with ev_child too.
 *
 * Worker slot i has a state:
 *
 *   starting --(first ack, or alive min_uptime_ms)--> running
 *      |  ^                                             |
 *      |  +------------- died after it was up ----------+  (respawned at once)
 *      v
 *   crashloop: died at start (before its first ack and within min_uptime_ms,
 *      or exit status KF_WORKER_EXIT_INIT); respawned after a delay of
 *      backoff_initial_ms doubling up to backoff_max_ms; back to running
 *      once a start stays up.
 *   retiring: kf_pool_resize() removed the slot: it takes no new records,
 *      finishes the ones it holds (respawned if it dies meanwhile), then
 *      gets SIGTERM, exits, and the slot and its ring are gone.
 *   stopped: no process and none coming (kf_pool_stop, or a retired slot).
 *
 * A dead worker's ring keeps its records: on death the pool pops the acks
 * it left (finished records, handed to on_ack), and the replacement starts
 * at the oldest unacked record (kf_ring_worker_restart), so every unfinished
 * record is delivered again, with the ring's attempts counter telling the
 * worker how often it was tried.
 *
 * Stall detection: the pool knows when the oldest unacked record of a
 * worker became the oldest (the last ack pop, or the push into an empty
 * ring, or the spawn); a timer every min(stall_timeout_ms / 4, 1 s) kills
 * (SIGKILL) a worker that held it longer than stall_timeout_ms, and the
 * replacement gets the record again.  No system call per record.
 *
 * Callbacks run on the loop.  They may call kf_pool_push, kf_pool_resize,
 * kf_pool_stop and the status functions; they must not call kf_pool_free.
 */
#ifndef KF_POOL_H
#define KF_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ring.h"
#include "worker.h"

struct ev_loop;
struct kf_pool;

enum kf_pool_state {
	KF_POOL_STARTING = 0,   /* spawned, not yet known to stay up */
	KF_POOL_RUNNING,        /* up: acked a record or lived min_uptime_ms */
	KF_POOL_CRASHLOOP,      /* dies at start; respawns with backoff */
	KF_POOL_RETIRING,       /* removed by a resize: draining, then exits */
	KF_POOL_STOPPED,        /* no process and none coming */
};

/* workers.* of the config, as the pool uses it.  kf_pool_conf_defaults()
 * fills the config's defaults (etc/kforkd.conf); zero in the *_ms tuning fields below
 * means the default too. */
struct kf_pool_conf {
	int count;                  /* workers.count, >= 1 */
	size_t ring_bytes;          /* record ring per worker (power of two
				       or rounded down to one) */
	size_t ack_bytes;           /* ack ring per worker; 0: ring_bytes / 4,
				       at least 64 KiB */
	size_t max_inflight_bytes;  /* ring bytes in use across all workers;
				       0: no limit but the rings */
	int max_inflight_ms;        /* per worker: records queued up to this
				       much of its measured time per record
				       (at least 2); 0: no such limit */
	int stall_timeout_ms;       /* 0: no stall detection */
	int shutdown_timeout_ms;    /* kf_pool_stop(pool, -1) waits this long */
	int min_uptime_ms;          /* a death before the first ack and within
				       this of the spawn is a crash at start;
				       default 1000 */
	int backoff_initial_ms;     /* crash loop: first delay, default 100 */
	int backoff_max_ms;         /* crash loop: delay cap, default 30000 */
	struct kf_worker_conf worker; /* handler, retries, nice; .id is set per
				       slot.  Pointers in it (dir, command...)
				       must stay valid while the pool may spawn
				       with this conf. */
};

struct kf_pool_callbacks {
	/* Every ack, in ring order per worker (required).  ack->reason is
	 * valid during the call only. */
	void (*on_ack)(struct kf_pool *pool, int worker, const struct kf_ring_ack *ack,
		       void *opaque);
	/* Optional: a batch of acks of this worker freed ring space, so a
	 * push that said KF_EAGAIN may succeed now.  Once per batch. */
	void (*on_room)(struct kf_pool *pool, int worker, void *opaque);
	/* Optional: worker's state changed (to `state`).  KF_POOL_RETIRING
	 * tells the dispatcher to send it nothing more. */
	void (*on_state)(struct kf_pool *pool, int worker, enum kf_pool_state state,
			 void *opaque);
	/* Optional: runs in the forked child before the worker loop, after
	 * the pool closed the other workers' rings and reset the signals:
	 * close the supervisor's sockets and files there.  Must not return
	 * to the loop (it may _exit). */
	void (*on_child)(struct kf_pool *pool, int worker, void *opaque);
	/* Optional: the worker's ring held a malformed ack, so the worker was
	 * killed and the ring replaced by an empty one: its `records`
	 * unfinished records are gone and must be fetched again (reset those
	 * partitions to their commit points).  Without it they stay in the
	 * caller's books as in flight. */
	void (*on_lost)(struct kf_pool *pool, int worker, uint64_t records, void *opaque);
	/* Optional: kf_pool_stop finished: every worker has exited and the
	 * pool's watchers are stopped. */
	void (*on_stopped)(struct kf_pool *pool, void *opaque);
	void *opaque;
};

/* One worker for the status JSON ("workers" of kforkctl status). */
struct kf_pool_worker_status {
	int id;
	pid_t pid;                  /* 0 while there is no process */
	enum kf_pool_state state;
	const char *state_name;     /* "starting", "running", "crashloop",
				       "retiring", "stopped" */
	uint64_t inflight;          /* records pushed whose ack was not popped */
	size_t inflight_bytes;      /* ring bytes they take */
	uint64_t processed;         /* acks popped, failed ones included */
	uint64_t failed;            /* acks with status KF_ACK_FAILED */
	uint64_t restarts;          /* processes spawned after a death */
	uint64_t stalls;            /* kills for holding a record too long */
	int backoff_ms;             /* crash loop: delay before the next
				       start; 0 when not crash looping */
};

/* Fill the config's defaults (etc/kforkd.conf): count 4, ring_bytes 16 MiB,
 * max_inflight_bytes 256 MiB, stall 300 s, shutdown 30 s, noop handler,
 * max_retries 5, retry_backoff_ms 100, nice 5. */
void kf_pool_conf_defaults(struct kf_pool_conf *conf);

/* "starting", ... */
const char *kf_pool_state_name(enum kf_pool_state s);

/* Create conf->count rings and fork a worker on each.  loop must be the
 * default loop.  The conf is copied (the strings it points to are not:
 * see struct kf_pool_conf); cb is copied.  Returns the pool, or NULL with
 * a message in err (nothing left running).  Free with kf_pool_free(). */
struct kf_pool *kf_pool_new(struct ev_loop *loop, const struct kf_pool_conf *conf,
			    const struct kf_pool_callbacks *cb, char *err, size_t errlen);
/* SIGKILL and reap (blocking, but only on processes already killed) any
 * worker still alive, stop every watcher, destroy the rings, free.  Acks
 * left in the rings are dropped.  NULL is a no-op.  Call kf_pool_stop and
 * let it finish first for an orderly end. */
void kf_pool_free(struct kf_pool *pool);

/* Name topic index idx in every ring, now and in rings created later
 * (kf_ring_set_topic).  Set it before pushing a record with that index.
 * KF_OK, KF_EPROTO for an index >= KF_RING_MAX_TOPICS or a name over
 * KF_RING_TOPIC_MAX, KF_ENOMEM. */
int kf_pool_set_topic(struct kf_pool *pool, uint32_t idx, const char *name);

/* Give rec to worker (0 <= worker < kf_pool_size()).  KF_OK: copied into
 * its ring; KF_EAGAIN: the ring or max_inflight_bytes is full now (retry
 * after on_room); KF_ETOOBIG: the record can never fit a ring;
 * KF_ECLOSED: the worker takes no records (retiring, stopped, out of
 * range, or the pool is stopping).  Records wait in the ring while their
 * worker is being respawned. */
int kf_pool_push(struct kf_pool *pool, int worker, const struct kf_ring_rec *rec);

/* Change the number of workers to n (>= 1).  Growing creates rings and
 * spawns at once (retiring slots below n are taken back instead); KF_OK,
 * or an error (ring creation failed; the slots made so far stay) with a
 * message logged.  Shrinking retires slots n.. (highest first): on_state
 * says KF_POOL_RETIRING, they drain and exit, then the slots disappear
 * from kf_pool_worker_count().  KF_ECLOSED while stopping. */
int kf_pool_resize(struct kf_pool *pool, int n);

/* Replace the worker conf for processes spawned from now on (respawns
 * included; running workers keep theirs).  Same pointer rules as
 * struct kf_pool_conf. */
void kf_pool_set_worker_conf(struct kf_pool *pool, const struct kf_worker_conf *wconf);

/* SIGKILL the worker now (a straggler past a deadline); it is respawned
 * on the same ring at once, and the records left in its ring are delivered
 * to the new process.  KF_OK, or KF_EPROTO when there is no such process
 * (or the pool is stopping). */
int kf_pool_kill(struct kf_pool *pool, int worker, const char *why);

/* Restart the worker with the current worker conf: SIGTERM now (it
 * finishes its record and exits), respawned at once.  Records left in its
 * ring go to the new process, so drain it first (kforkd retires it in the
 * dispatcher) for a clean rolling replacement.  KF_OK (also when there is
 * no process now: the next one gets the new conf), KF_EPROTO for a slot
 * that is not there or retiring, or while stopping. */
int kf_pool_restart(struct kf_pool *pool, int worker);
/* Change stall_timeout_ms, shutdown_timeout_ms, max_inflight_bytes (a
 * lower byte budget holds new pushes until enough is acked) and
 * ring_bytes (a reload).  A worker gets a ring of the new size when it is
 * next spawned with nothing in flight (kf_pool_restart after a drain);
 * new slots get it at once. */
void kf_pool_set_limits(struct kf_pool *pool, int stall_timeout_ms, int shutdown_timeout_ms,
			size_t max_inflight_bytes, int max_inflight_ms, size_t ring_bytes);

/* Shutdown: no more pushes or respawns; SIGTERM to every worker (each
 * finishes its current record and exits; acks it left are popped and
 * passed to on_ack); after timeout_ms (-1: shutdown_timeout_ms) the ones
 * still alive get SIGKILL.  Returns at once; on_stopped runs when the
 * last one is reaped (from within this call if none is alive), after
 * which the pool has no active watcher left.  A second call only
 * shortens the deadline. */
void kf_pool_stop(struct kf_pool *pool, int timeout_ms);
/* True once kf_pool_stop was called and every worker was reaped. */
bool kf_pool_stopped(const struct kf_pool *pool);

/* Workers that take records: slots 0 .. kf_pool_size() - 1. */
int kf_pool_size(const struct kf_pool *pool);
/* Slots listed in the status: kf_pool_size() plus retiring ones. */
int kf_pool_worker_count(const struct kf_pool *pool);
/* Fill *st for slot worker (< kf_pool_worker_count).  KF_OK, KF_EPROTO
 * for a slot out of range. */
int kf_pool_worker_status(const struct kf_pool *pool, int worker,
			  struct kf_pool_worker_status *st);
/* The moving average of a worker's time per record (max_inflight_ms
 * divides by it): prev_ms (0: none yet) updated with a measurement of ms
 * per record over n records.  A measurement replaces the share n / (n + 8)
 * of the old figure, at least 0.3: one over many records is trusted, so
 * that a pace first measured on 2 records (the window before any ack), with
 * the process's start in it, does not keep the window small for dozens of
 * round trips. */
double kf_pool_pace(double prev_ms, double ms, uint64_t n);

/* The worker's ring, for tests and benchmarks (NULL if no such slot). */
struct kf_ring *kf_pool_ring(struct kf_pool *pool, int worker);
/* Records pushed and not acked, and ring bytes in use, over all workers. */
uint64_t kf_pool_inflight(const struct kf_pool *pool);
size_t kf_pool_inflight_bytes(const struct kf_pool *pool);

#endif
