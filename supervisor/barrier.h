/*
 * barrier: kforkd's one drain mechanism.  "These partitions (or all) take
 * no new records; when none of their records is in flight any more, or a
 * deadline passes, commit what is done (optionally), then go on."
 * Revocation, Kafka restart, shutdown, quiet and redispatch are each one
 * barrier with their own hooks (docs/architecture.md, "The drain
 * barrier").
 *
 * The owner stops the partitions' fetching itself (unassign or pause)
 * before kf_barrier_start; the barrier only waits and sequences:
 *
 *   waiting --idle() or deadline--> ready(expired) --> commit() --answered,
 *   or KF_BARRIER_COMMIT_GRACE_S--> done()
 *
 * idle() is asked from kf_barrier_settle(), which the owner calls from
 * one place on its loop (an ev_prepare after acks and timers), never from
 * inside a pool or group callback; ready() and done() run from there or
 * from the deadline timer.  A barrier without commit() goes from ready()
 * straight to done().  Hooks may start or cancel other barriers, and
 * done() may start the same barrier again (one that is idle at once goes
 * on again in the same settle: a done() that always restarts it loops).
 * A commit answered after its grace is ignored, unless the barrier is
 * committing again by then: it then ends that run early.
 */
#ifndef KF_BARRIER_H
#define KF_BARRIER_H

#include <ev.h>
#include <stdbool.h>

/* How long a commit() gets to answer before done() runs anyway. */
#define KF_BARRIER_COMMIT_GRACE_S 10.0

struct kf_barrier;
struct kf_barriers;

struct kf_barrier_hooks {
	const char *what;   /* for the log: "revocation", "Kafka restart" */
	/* Nothing of the held partitions in flight (required). */
	bool (*idle)(struct kf_barrier *b);
	/* Waiting ended, expired when by the deadline (optional). */
	void (*ready)(struct kf_barrier *b, bool expired);
	/* Send the commit; its answer calls kf_barrier_committed(b).  Returns
	 * false when nothing was sent (nothing to commit): done() follows at
	 * once (optional: no commit). */
	bool (*commit)(struct kf_barrier *b);
	/* The barrier is over (optional). */
	void (*done)(struct kf_barrier *b);
};

enum kf_barrier_state {
	KF_BARRIER_OFF = 0,     /* not started, over or cancelled */
	KF_BARRIER_WAITING,     /* for idle() or the deadline */
	KF_BARRIER_COMMITTING,  /* for kf_barrier_committed() */
};

struct kf_barrier {
	const struct kf_barrier_hooks *hooks;
	void *arg;              /* the owner's, for the hooks */
	/* private */
	struct kf_barriers *set;
	enum kf_barrier_state state;
	bool expired;
	ev_timer timer;         /* the deadline, then the commit grace */
	struct kf_barrier *next;
};

/* The barriers of one loop.  kf_barriers_init before use. */
struct kf_barriers {
	struct ev_loop *loop;
	struct kf_barrier *head;    /* the started ones */
};

void kf_barriers_init(struct kf_barriers *set, struct ev_loop *loop);

/* b (zeroed or over) with hooks and arg: once. */
void kf_barrier_init(struct kf_barrier *b, const struct kf_barrier_hooks *hooks, void *arg);

/* Starts waiting, with a deadline in seconds (< 0: none).  A barrier
 * already started is left as it is.  The owner calls kf_barrier_settle
 * soon after (idle() is not asked from inside this call). */
void kf_barrier_start(struct kf_barriers *set, struct kf_barrier *b, double deadline_s);

/* Asks idle() of every waiting barrier; those that are idle go on. */
void kf_barrier_settle(struct kf_barriers *set);

/* The answer of the commit that commit() sent. */
void kf_barrier_committed(struct kf_barrier *b);

/* Stops b where it is, calling no more hooks. */
void kf_barrier_cancel(struct kf_barrier *b);

static inline bool kf_barrier_active(const struct kf_barrier *b)
{
	return b->state != KF_BARRIER_OFF;
}

static inline enum kf_barrier_state kf_barrier_state(const struct kf_barrier *b)
{
	return b->state;
}

#endif
