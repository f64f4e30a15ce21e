/*
 * The drain barrier (supervisor/barrier.c) on a private libev loop: the
 * order of its hooks, the deadline, the commit and its grace, settle with
 * several barriers, cancel, and hooks that start or cancel barriers.
 */
#include "config.h"

#include <check.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "barrier.h"
#include "suites.h"

/* One owner per barrier: what idle() answers, what happened, in order. */
struct owner {
	struct kf_barrier b;
	int inflight;
	bool send;              /* commit() sends something */
	bool answer_inside;     /* ... and answers from inside commit() */
	char log[256];
	struct kf_barriers *set;
	struct owner *start_on_done;    /* done() starts this one */
	struct owner *cancel_on_ready;  /* ready() cancels this one */
	int done_count;
};

static void note(struct owner *o, const char *what)
{
	size_t n = strlen(o->log);
	snprintf(o->log + n, sizeof(o->log) - n, "%s%s", n ? " " : "", what);
}

static bool h_idle(struct kf_barrier *b)
{
	struct owner *o = b->arg;
	return o->inflight == 0;
}

static void h_ready(struct kf_barrier *b, bool expired)
{
	struct owner *o = b->arg;
	note(o, expired ? "ready(expired)" : "ready");
	if (o->cancel_on_ready)
		kf_barrier_cancel(&o->cancel_on_ready->b);
}

static bool h_commit(struct kf_barrier *b)
{
	struct owner *o = b->arg;
	note(o, o->send ? "commit" : "commit(nothing)");
	if (o->send && o->answer_inside)
		kf_barrier_committed(b);
	return o->send;
}

static void h_done(struct kf_barrier *b)
{
	struct owner *o = b->arg;
	note(o, "done");
	o->done_count++;
	struct owner *next = o->start_on_done;
	if (next == o)
		o->start_on_done = NULL;    /* itself: once (it would be idle forever) */
	if (next)
		kf_barrier_start(o->set, &next->b, -1);
}

static const struct kf_barrier_hooks full = { "test", h_idle, h_ready, h_commit, h_done };
static const struct kf_barrier_hooks no_commit = { "test-nc", h_idle, h_ready, NULL, h_done };

static struct ev_loop *loop;
static struct kf_barriers set;

static void setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	kf_barriers_init(&set, loop);
}

static void teardown(void)
{
	ev_loop_destroy(loop);
}

static void own(struct owner *o, const struct kf_barrier_hooks *h)
{
	memset(o, 0, sizeof(*o));
	o->set = &set;
	kf_barrier_init(&o->b, h, o);
}

/* Runs the loop until o's barrier is off, or s seconds. */
static void run_until_off(struct owner *o, double s)
{
	ev_tstamp end = ev_now(loop) + s;
	while (kf_barrier_active(&o->b) && ev_now(loop) < end)
		ev_run(loop, EVRUN_ONCE);
}

START_TEST(idle_at_once)
{
	struct owner o;
	own(&o, &full);
	o.send = true;
	kf_barrier_start(&set, &o.b, -1);
	ck_assert_str_eq(o.log, "");    /* idle() is not asked from start */
	ck_assert_int_eq(kf_barrier_state(&o.b), KF_BARRIER_WAITING);
	kf_barrier_settle(&set);
	ck_assert_str_eq(o.log, "ready commit");
	ck_assert_int_eq(kf_barrier_state(&o.b), KF_BARRIER_COMMITTING);
	kf_barrier_settle(&set);        /* nothing more while committing */
	ck_assert_str_eq(o.log, "ready commit");
	kf_barrier_committed(&o.b);
	ck_assert_str_eq(o.log, "ready commit done");
	ck_assert(!kf_barrier_active(&o.b));
	kf_barrier_committed(&o.b);     /* a late second answer: nothing */
	ck_assert_int_eq(o.done_count, 1);
	ck_assert_ptr_null(set.head);
}
END_TEST

START_TEST(waits_for_idle)
{
	struct owner o;
	own(&o, &full);
	o.inflight = 3;
	kf_barrier_start(&set, &o.b, -1);
	kf_barrier_settle(&set);
	ck_assert_str_eq(o.log, "");
	o.inflight = 0;
	kf_barrier_settle(&set);
	/* nothing to commit: done at once */
	ck_assert_str_eq(o.log, "ready commit(nothing) done");
	ck_assert(!kf_barrier_active(&o.b));
}
END_TEST

START_TEST(deadline)
{
	struct owner o;
	own(&o, &full);
	o.inflight = 1;
	o.send = true;
	o.answer_inside = true;
	kf_barrier_start(&set, &o.b, 0.05);
	kf_barrier_start(&set, &o.b, 100);  /* already started: unchanged */
	run_until_off(&o, 5);
	ck_assert_str_eq(o.log, "ready(expired) commit done");
}
END_TEST

/* A commit that never answers: done() after the grace. */
START_TEST(commit_grace)
{
	struct owner o;
	own(&o, &full);
	o.send = true;
	kf_barrier_start(&set, &o.b, -1);
	kf_barrier_settle(&set);
	ck_assert_int_eq(kf_barrier_state(&o.b), KF_BARRIER_COMMITTING);
	ev_tstamp t0 = ev_time();
	run_until_off(&o, KF_BARRIER_COMMIT_GRACE_S + 5);
	ck_assert_str_eq(o.log, "ready commit done");
	ck_assert(ev_time() - t0 >= KF_BARRIER_COMMIT_GRACE_S - 0.5);
}
END_TEST

START_TEST(without_commit)
{
	struct owner o;
	own(&o, &no_commit);
	kf_barrier_start(&set, &o.b, -1);
	kf_barrier_settle(&set);
	ck_assert_str_eq(o.log, "ready done");
}
END_TEST

START_TEST(cancel)
{
	struct owner o;
	own(&o, &full);
	o.inflight = 1;
	kf_barrier_start(&set, &o.b, 0.05);
	kf_barrier_cancel(&o.b);
	ck_assert(!kf_barrier_active(&o.b));
	ev_run(loop, EVRUN_NOWAIT);
	o.inflight = 0;
	kf_barrier_settle(&set);
	/* the deadline is gone too */
	ev_tstamp end = ev_time() + 0.2;
	while (ev_time() < end)
		ev_run(loop, EVRUN_NOWAIT);
	ck_assert_str_eq(o.log, "");
	/* and it can start again */
	kf_barrier_start(&set, &o.b, -1);
	kf_barrier_settle(&set);
	ck_assert_str_eq(o.log, "ready commit(nothing) done");
}
END_TEST

/* Several barriers: each goes on by its own idle(); hooks may start and
 * cancel others, and done() may start its own barrier again. */
START_TEST(several)
{
	struct owner a, b, c;
	own(&a, &full);
	own(&b, &no_commit);
	own(&c, &no_commit);
	a.inflight = 1;
	kf_barrier_start(&set, &a.b, -1);
	kf_barrier_start(&set, &b.b, -1);
	b.start_on_done = &c;           /* b's done() starts c */
	kf_barrier_settle(&set);
	ck_assert_str_eq(a.log, "");
	ck_assert_str_eq(b.log, "ready done");
	ck_assert_str_eq(c.log, "ready done");  /* started, and idle, in the same settle */
	/* done() starts its own barrier again, which is idle again at once */
	a.inflight = 0;
	a.start_on_done = &a;
	kf_barrier_settle(&set);
	ck_assert_int_eq(a.done_count, 2);
	ck_assert(!kf_barrier_active(&a.b));
	a.inflight = 5;
	kf_barrier_start(&set, &a.b, -1);
	kf_barrier_settle(&set);
	ck_assert(kf_barrier_active(&a.b));
	/* ready() cancelling another barrier that is waiting */
	c.inflight = 1;
	kf_barrier_start(&set, &c.b, -1);
	b.cancel_on_ready = &c;
	b.start_on_done = NULL;
	kf_barrier_start(&set, &b.b, -1);
	kf_barrier_settle(&set);
	ck_assert(!kf_barrier_active(&c.b));
	ck_assert(kf_barrier_active(&a.b));
	kf_barrier_cancel(&a.b);
	ck_assert_ptr_null(set.head);
}
END_TEST

Suite *suite_barrier(void)
{
	Suite *s = suite_create("barrier");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, idle_at_once);
	tcase_add_test(tc, waits_for_idle);
	tcase_add_test(tc, deadline);
	tcase_add_test(tc, commit_grace);
	tcase_add_test(tc, without_commit);
	tcase_add_test(tc, cancel);
	tcase_add_test(tc, several);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
