/*
 * barrier: see barrier.h.  A started barrier is on its set's list until
 * it is over or cancelled; one ev_timer per barrier carries first its
 * deadline, then the commit's grace.
 */
#include "config.h"

#include <string.h>

#include "barrier.h"
#include "log.h"

#define COMP "barrier"

void kf_barriers_init(struct kf_barriers *set, struct ev_loop *loop)
{
	memset(set, 0, sizeof(*set));
	set->loop = loop;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

void kf_barrier_init(struct kf_barrier *b, const struct kf_barrier_hooks *hooks, void *arg)
{
	memset(b, 0, sizeof(*b));
	b->hooks = hooks;
	b->arg = arg;
	ev_init(&b->timer, on_timer);
	b->timer.data = b;
}

static void unlink_from_set(struct kf_barrier *b)
{
	for (struct kf_barrier **pp = &b->set->head; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	b->next = NULL;
}

static void stop(struct kf_barrier *b)
{
	ev_timer_stop(b->set->loop, &b->timer);
	unlink_from_set(b);
	b->state = KF_BARRIER_OFF;
}

void kf_barrier_start(struct kf_barriers *set, struct kf_barrier *b, double deadline_s)
{
	if (b->state != KF_BARRIER_OFF)
		return;
	b->set = set;
	b->state = KF_BARRIER_WAITING;
	b->expired = false;
	b->next = set->head;
	set->head = b;
	if (deadline_s >= 0) {
		ev_timer_set(&b->timer, deadline_s, 0.);
		ev_timer_start(set->loop, &b->timer);
	}
	kf_debug(COMP, "%s: waiting%s", b->hooks->what, deadline_s >= 0 ? "" : " (no deadline)");
}

static void finish(struct kf_barrier *b)
{
	stop(b);
	kf_debug(COMP, "%s: over", b->hooks->what);
	if (b->hooks->done)
		b->hooks->done(b);     /* may start b again */
}

/* Waiting is over: ready(), then the commit or done(). */
static void proceed(struct kf_barrier *b, bool expired)
{
	ev_timer_stop(b->set->loop, &b->timer);
	b->expired = expired;
	kf_debug(COMP, "%s: %s", b->hooks->what, expired ? "deadline passed" : "idle");
	if (b->hooks->ready) {
		b->hooks->ready(b, expired);
		if (b->state != KF_BARRIER_WAITING)
			return;     /* cancelled from ready() */
	}
	if (!b->hooks->commit) {
		finish(b);
		return;
	}
	b->state = KF_BARRIER_COMMITTING;
	ev_timer_set(&b->timer, KF_BARRIER_COMMIT_GRACE_S, 0.);
	ev_timer_start(b->set->loop, &b->timer);
	if (!b->hooks->commit(b) && b->state == KF_BARRIER_COMMITTING)
		finish(b);
}

void kf_barrier_settle(struct kf_barriers *set)
{
	/* A hook may start or cancel barriers: scan again from the head
	 * after each one that goes on. */
	for (bool again = true; again;) {
		again = false;
		for (struct kf_barrier *b = set->head; b; b = b->next)
			if (b->state == KF_BARRIER_WAITING && b->hooks->idle(b)) {
				proceed(b, false);
				again = true;
				break;
			}
	}
}

void kf_barrier_committed(struct kf_barrier *b)
{
	if (b->state == KF_BARRIER_COMMITTING)
		finish(b);
}

void kf_barrier_cancel(struct kf_barrier *b)
{
	if (b->state != KF_BARRIER_OFF) {
		kf_debug(COMP, "%s: cancelled", b->hooks->what);
		stop(b);
	}
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct kf_barrier *b = w->data;
	if (b->state == KF_BARRIER_WAITING) {
		proceed(b, true);
	} else if (b->state == KF_BARRIER_COMMITTING) {
		kf_warn(COMP, "%s: the commit did not answer in %.0f s; going on", b->hooks->what,
			KF_BARRIER_COMMIT_GRACE_S);
		finish(b);
	}
}
