/*
 * group member: the error-reaction table (kf_group_error_action) code by
 * code and API by API, the KF_KERR_* names against Kafka's numbers, and
 * the parts of the member that need no broker: state words before start,
 * a commit without a generation refused from the loop (never inside the
 * call), leave before joining, running out of memory; the leader's
 * partition count comparison (kf_group_topics_changed).
 */
#include "config.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cluster.h"
#include "err.h"
#include "group.h"
#include "proto.h"
#include "resolve.h"
#include "suites.h"

#define ACT(api, err, code) kf_group_error_action(api, err, code, false)

START_TEST(action_ok_and_transport)
{
	static const int16_t apis[] = { KF_API_FIND_COORDINATOR, KF_API_JOIN_GROUP,
					KF_API_SYNC_GROUP, KF_API_HEARTBEAT,
					KF_API_OFFSET_FETCH, KF_API_OFFSET_COMMIT };
	for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
		ck_assert_int_eq(ACT(apis[i], KF_OK, 0), KF_GA_OK);
		/* A transport failure means the coordinator is unknown. */
		ck_assert_int_eq(ACT(apis[i], KF_ECLOSED, 0), KF_GA_REDISCOVER);
		ck_assert_int_eq(ACT(apis[i], KF_ETIMEDOUT, 0), KF_GA_REDISCOVER);
		ck_assert_int_eq(ACT(apis[i], KF_EIO, 27), KF_GA_REDISCOVER);
	}
}
END_TEST

START_TEST(action_heartbeat)
{
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 27), KF_GA_REJOIN);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 25), KF_GA_RESET_MEMBER);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 22), KF_GA_RESET_GEN);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 16), KF_GA_REDISCOVER);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 15), KF_GA_REDISCOVER);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 14), KF_GA_BACKOFF);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 82), KF_GA_FATAL);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 30), KF_GA_FATAL);
	/* Unknown or unlisted codes: back off and retry. */
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 1), KF_GA_BACKOFF);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 999), KF_GA_BACKOFF);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, -1), KF_GA_BACKOFF);
	/* Only JoinGroup treats these as fatal or as "retry at once". */
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 79), KF_GA_BACKOFF);
	ck_assert_int_eq(ACT(KF_API_HEARTBEAT, KF_OK, 23), KF_GA_BACKOFF);
}
END_TEST

START_TEST(action_join)
{
	ck_assert_int_eq(ACT(KF_API_JOIN_GROUP, KF_OK, 79), KF_GA_RETRY_NOW);
	ck_assert_int_eq(ACT(KF_API_JOIN_GROUP, KF_OK, 25), KF_GA_RESET_MEMBER);
	ck_assert_int_eq(ACT(KF_API_JOIN_GROUP, KF_OK, 27), KF_GA_REJOIN);
	ck_assert_int_eq(ACT(KF_API_JOIN_GROUP, KF_OK, 16), KF_GA_REDISCOVER);
	ck_assert_int_eq(ACT(KF_API_JOIN_GROUP, KF_OK, 14), KF_GA_BACKOFF);
	static const int16_t fatal[] = { 23, 24, 26, 29, 30, 35, 81, 82 };
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		ck_assert_int_eq(ACT(KF_API_JOIN_GROUP, KF_OK, fatal[i]), KF_GA_FATAL);
	/* Static members react the same way: the broker maps the instance id. */
	ck_assert_int_eq(kf_group_error_action(KF_API_JOIN_GROUP, KF_OK, 25, true),
			 KF_GA_RESET_MEMBER);
	ck_assert_int_eq(kf_group_error_action(KF_API_JOIN_GROUP, KF_OK, 82, true), KF_GA_FATAL);
}
END_TEST

START_TEST(action_commit_and_fetch)
{
	/* Commit rejected by a rebalance: rejoin, never a blind retry. */
	ck_assert_int_eq(ACT(KF_API_OFFSET_COMMIT, KF_OK, 27), KF_GA_REJOIN);
	ck_assert_int_eq(ACT(KF_API_OFFSET_COMMIT, KF_OK, 22), KF_GA_RESET_GEN);
	ck_assert_int_eq(ACT(KF_API_OFFSET_COMMIT, KF_OK, 25), KF_GA_RESET_MEMBER);
	ck_assert_int_eq(ACT(KF_API_OFFSET_COMMIT, KF_OK, 7), KF_GA_REDISCOVER);
	ck_assert_int_eq(ACT(KF_API_OFFSET_COMMIT, KF_OK, 16), KF_GA_REDISCOVER);
	ck_assert_int_eq(ACT(KF_API_OFFSET_COMMIT, KF_OK, 82), KF_GA_FATAL);
	ck_assert_int_eq(ACT(KF_API_OFFSET_COMMIT, KF_OK, 12), KF_GA_BACKOFF);
	ck_assert_int_eq(ACT(KF_API_OFFSET_FETCH, KF_OK, 88), KF_GA_BACKOFF);
	ck_assert_int_eq(ACT(KF_API_OFFSET_FETCH, KF_OK, 14), KF_GA_BACKOFF);
	ck_assert_int_eq(ACT(KF_API_OFFSET_FETCH, KF_OK, 15), KF_GA_REDISCOVER);
	ck_assert_int_eq(ACT(KF_API_FIND_COORDINATOR, KF_OK, 15), KF_GA_REDISCOVER);
	ck_assert_int_eq(ACT(KF_API_FIND_COORDINATOR, KF_OK, 30), KF_GA_FATAL);
	ck_assert_int_eq(ACT(KF_API_SYNC_GROUP, KF_OK, 27), KF_GA_REJOIN);
	ck_assert_int_eq(ACT(KF_API_SYNC_GROUP, KF_OK, 82), KF_GA_FATAL);
}
END_TEST

START_TEST(action_names)
{
	ck_assert_str_eq(kf_group_action_name(KF_GA_OK), "ok");
	ck_assert_str_eq(kf_group_action_name(KF_GA_RESET_MEMBER), "reset-member");
	ck_assert_str_eq(kf_group_action_name(KF_GA_FATAL), "fatal");
	ck_assert_str_eq(kf_group_action_name((enum kf_group_action)42), "?");
}
END_TEST

/* The names group.c and fetcher.c react by carry Kafka's numbers: each
 * one is the code kf_kafka_err_name (Errors.java's table) calls that. */
START_TEST(kerr_numbers)
{
#define NAMED(x) { KF_KERR_##x, #x }
	static const struct {
		int16_t code;
		const char *name;
	} named[] = {
		NAMED(UNKNOWN_SERVER_ERROR),
		NAMED(NONE),
		NAMED(OFFSET_OUT_OF_RANGE),
		NAMED(CORRUPT_MESSAGE),
		NAMED(UNKNOWN_TOPIC_OR_PARTITION),
		NAMED(LEADER_NOT_AVAILABLE),
		NAMED(NOT_LEADER_OR_FOLLOWER),
		NAMED(REQUEST_TIMED_OUT),
		NAMED(REPLICA_NOT_AVAILABLE),
		NAMED(OFFSET_METADATA_TOO_LARGE),
		NAMED(COORDINATOR_LOAD_IN_PROGRESS),
		NAMED(COORDINATOR_NOT_AVAILABLE),
		NAMED(NOT_COORDINATOR),
		NAMED(ILLEGAL_GENERATION),
		NAMED(INCONSISTENT_GROUP_PROTOCOL),
		NAMED(INVALID_GROUP_ID),
		NAMED(UNKNOWN_MEMBER_ID),
		NAMED(INVALID_SESSION_TIMEOUT),
		NAMED(REBALANCE_IN_PROGRESS),
		NAMED(INVALID_COMMIT_OFFSET_SIZE),
		NAMED(TOPIC_AUTHORIZATION_FAILED),
		NAMED(GROUP_AUTHORIZATION_FAILED),
		NAMED(UNSUPPORTED_SASL_MECHANISM),
		NAMED(UNSUPPORTED_VERSION),
		NAMED(KAFKA_STORAGE_ERROR),
		NAMED(SASL_AUTHENTICATION_FAILED),
		NAMED(FETCH_SESSION_ID_NOT_FOUND),
		NAMED(INVALID_FETCH_SESSION_EPOCH),
		NAMED(FENCED_LEADER_EPOCH),
		NAMED(UNKNOWN_LEADER_EPOCH),
		NAMED(OFFSET_NOT_AVAILABLE),
		NAMED(MEMBER_ID_REQUIRED),
		NAMED(GROUP_MAX_SIZE_REACHED),
		NAMED(FENCED_INSTANCE_ID),
		NAMED(UNSTABLE_OFFSET_COMMIT),
		NAMED(UNKNOWN_TOPIC_ID),
		NAMED(INCONSISTENT_TOPIC_ID),
		NAMED(REBOOTSTRAP_REQUIRED),
	};
#undef NAMED
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		ck_assert_str_eq(kf_kafka_err_name(named[i].code), named[i].name);
}
END_TEST

/* ------------------------------------------------------------ partition counts */

START_TEST(topics_unchanged)
{
	static const struct kf_group_topic snap[] = { { "a", 4 }, { "b", 0 }, { "c", 2 } };
	int32_t was = -7;
	/* Same counts, any order; a topic missing then and now is 0 both times. */
	static const struct kf_group_topic same[] = { { "c", 2 }, { "a", 4 }, { "b", 0 } };
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, same, 3, 0, &was), -1);
	/* No usable answer for a topic: not compared. */
	static const struct kf_group_topic unknown[] = { { "a", -1 }, { "b", -1 }, { "c", 2 } };
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, unknown, 3, 0, &was), -1);
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, NULL, 0, 0, &was), -1);
	ck_assert_int_eq(was, -7); /* untouched when nothing changed */
}
END_TEST

START_TEST(topics_changed)
{
	static const struct kf_group_topic snap[] = { { "a", 4 }, { "b", 0 }, { "c", 2 } };
	int32_t was = -7;
	/* More partitions. */
	static const struct kf_group_topic grew[] = { { "a", 6 }, { "b", 0 }, { "c", 2 } };
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, grew, 3, 0, &was), 0);
	ck_assert_int_eq(was, 4);
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, grew, 3, 1, &was), -1);
	/* A topic that did not exist appeared. */
	static const struct kf_group_topic appeared[] = { { "a", 4 }, { "b", 3 }, { "c", 2 } };
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, appeared, 3, 0, &was), 1);
	ck_assert_int_eq(was, 0);
	/* A topic not in the snapshot at all counts as 0 there. */
	static const struct kf_group_topic extra[] = { { "d", 1 } };
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, extra, 1, 0, &was), 0);
	ck_assert_int_eq(was, 0);
	static const struct kf_group_topic extra0[] = { { "d", 0 } };
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, extra0, 1, 0, &was), -1);
	/* Deleted (the broker does not know it any more): 2 -> 0. */
	static const struct kf_group_topic gone[] = { { "c", 0 } };
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, gone, 1, 0, &was), 0);
	ck_assert_int_eq(was, 2);
	/* Several changes, found one after the other from `from` on. */
	static const struct kf_group_topic many[] = { { "a", 5 }, { "b", -1 }, { "c", 1 },
						       { "b", 9 } };
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, many, 4, 0, &was), 0);
	ck_assert_int_eq(was, 4);
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, many, 4, 1, &was), 2);
	ck_assert_int_eq(was, 2);
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, many, 4, 3, &was), 3);
	ck_assert_int_eq(was, 0);
	ck_assert_int_eq(kf_group_topics_changed(snap, 3, many, 4, 4, &was), -1);
	/* An empty snapshot: every known topic with partitions is new. */
	ck_assert_int_eq(kf_group_topics_changed(NULL, 0, grew, 3, 0, &was), 0);
	ck_assert_int_eq(kf_group_topics_changed(NULL, 0, grew, 3, 1, &was), 2);
}
END_TEST

/* ------------------------------------------------------------ no broker */

static int commit_calls, commit_err, commit_n, left_calls;
static int16_t commit_error0;
static char commit_topic[32];

static void commit_cb(void *arg, int err, const struct kf_group_tp *tps, int n)
{
	ck_assert_ptr_eq(arg, &commit_calls);
	commit_calls++;
	commit_err = err;
	commit_n = n;
	commit_error0 = n ? tps[0].error : -1;
	snprintf(commit_topic, sizeof(commit_topic), "%s", n ? tps[0].topic : "");
}

static void left_cb(void *arg)
{
	ck_assert_ptr_eq(arg, &left_calls);
	left_calls++;
}

START_TEST(member_without_broker)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	char err[128];
	struct kf_cluster_opts co = { .bootstrap = "127.0.0.1:1" };
	struct kf_cluster *cl = kf_cluster_new(loop, res, &co, err, sizeof(err));
	ck_assert_ptr_nonnull(cl);
	static const char *const protos[] = { "range" };
	static const char *const topics[] = { "t" };
	struct kf_group_conf conf = { .group = "g", .protocols = protos, .nprotocols = 1,
				      .topics = topics, .ntopics = 1, .group_instance_id = "" };
	struct kf_group_callbacks cb = { 0 };
	struct kf_group *g = kf_group_new(loop, cl, &conf, &cb, NULL);
	ck_assert_ptr_nonnull(g);
	ck_assert_str_eq(kf_group_state(g), "starting");
	ck_assert_str_eq(kf_group_member_id(g), "");
	ck_assert_int_eq(kf_group_generation(g), -1);

	char topic[] = "t";
	struct kf_group_tp tp = { .topic = topic, .partition = 3, .offset = 7, .error = 5 };
	commit_calls = 0;
	kf_group_commit(g, &tp, 1, commit_cb, &commit_calls);
	topic[0] = 'x'; /* the group copied it */
	ck_assert_int_eq(commit_calls, 0); /* never from inside the call */
	ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(commit_calls, 1);
	ck_assert_int_eq(commit_err, KF_EAGAIN);
	ck_assert_int_eq(commit_n, 1);
	ck_assert_int_eq(commit_error0, 0);
	ck_assert_str_eq(commit_topic, "t");
	struct kf_group_counters c;
	kf_group_counters(g, &c);
	ck_assert_uint_eq(c.commit_failures, 1);
	ck_assert_uint_eq(c.commits, 0);

	left_calls = 0;
	kf_group_leave(g, left_cb, &left_calls);
	ck_assert_int_eq(left_calls, 0);
	ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(left_calls, 1);
	ck_assert_str_eq(kf_group_state(g), "stopped");
	ck_assert(!kf_group_stable(g));

	kf_group_free(g);
	kf_cluster_free(cl);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* ------------------------------------------------------------ out of memory */

/* Not under AddressSanitizer, whose allocator does not return NULL, nor
 * under valgrind, whose own allocations would fail first. */
static bool oom_testable(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return false;
#else
	const char *pre = getenv("LD_PRELOAD");
	return !pre || !strstr(pre, "vgpreload");
#endif
}

static void **mem_hogs;
static struct rlimit mem_saved;

static void __attribute__((noinline)) mem_touch_stack(void)
{
	volatile char buf[256 * 1024];
	memset((char *)buf, 1, sizeof(buf));
}

/*
 * Out of memory on demand: cap the address space at what the process has
 * mapped now (the stack grown first), then take every free heap chunk of
 * every size class, so that the next allocation of any size fails until
 * mem_release.  No assertion may run in between.
 */
static void mem_exhaust(void)
{
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%ld", &pages), 1);
	fclose(f);
	mem_touch_stack();
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &mem_saved), 0);
	struct rlimit r = { (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE), mem_saved.rlim_max };
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &r), 0);
	void **p;
	for (size_t sz = (size_t)1 << 20; sz >= 2048; sz /= 2)
		while ((p = malloc(sz)) != NULL) {
			*p = mem_hogs;
			mem_hogs = p;
		}
	/* The small size classes one by one: allocator caches serve only
	 * their own size. */
	for (size_t sz = 2048; sz >= sizeof(void *); sz -= sizeof(void *))
		while ((p = malloc(sz)) != NULL) {
			*p = mem_hogs;
			mem_hogs = p;
		}
}

static void mem_release(void)
{
	while (mem_hogs) {
		void **next = *mem_hogs;
		free(mem_hogs);
		mem_hogs = next;
	}
	setrlimit(RLIMIT_AS, &mem_saved);
}

static void no_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
}

/* libev aborts when it cannot grow its timer heap: grow it beforehand. */
static void grow_timer_heap(struct ev_loop *loop)
{
	ev_timer t[8];
	for (int i = 0; i < 8; i++) {
		ev_timer_init(&t[i], no_timer, 60., 0.);
		ev_timer_start(loop, &t[i]);
	}
	for (int i = 0; i < 8; i++)
		ev_timer_stop(loop, &t[i]);
}

static int nomem_calls, nomem_inside, nomem_err, nomem_n, nomem_bad_arg;
static bool nomem_in_call;

/* May run with memory exhausted: no assertions (Check allocates). */
static void nomem_cb(void *arg, int err, const struct kf_group_tp *tps, int n)
{
	(void)tps;
	nomem_bad_arg += arg != &nomem_calls;
	nomem_calls++;
	nomem_inside += nomem_in_call;
	nomem_err = err;
	nomem_n = n;
}

/* A group member on a private loop, its cluster pointing nowhere, and the
 * loop's timer heap grown beforehand (it must not allocate while memory
 * is exhausted). */
struct oom_env {
	struct ev_loop *loop;
	struct kf_resolver *res;
	struct kf_cluster *cl;
	struct kf_group *g;
};

static void oom_env_new(struct oom_env *e)
{
	static const char *const protos[] = { "range" };
	static const char *const topics[] = { "t" };
	struct kf_group_conf conf = { .group = "g", .protocols = protos, .nprotocols = 1,
				      .topics = topics, .ntopics = 1 };
	struct kf_group_callbacks cb = { 0 };
	struct kf_cluster_opts co = { .bootstrap = "127.0.0.1:1" };
	char err[128];
	e->loop = ev_loop_new(0);
	e->res = kf_resolver_new(e->loop);
	e->cl = kf_cluster_new(e->loop, e->res, &co, err, sizeof(err));
	ck_assert_ptr_nonnull(e->cl);
	e->g = kf_group_new(e->loop, e->cl, &conf, &cb, NULL);
	ck_assert_ptr_nonnull(e->g);
	grow_timer_heap(e->loop);
}

static void oom_env_free(struct oom_env *e)
{
	kf_group_free(e->g);
	kf_cluster_free(e->cl);
	kf_resolver_free(e->res);
	ev_loop_destroy(e->loop);
}

/* A commit that cannot allocate gets KF_ENOMEM from the loop (it aborted
 * the process before); past the table of 8, at once. */
START_TEST(commit_out_of_memory)
{
	if (!oom_testable())
		return;
	struct oom_env e;
	oom_env_new(&e);
	struct ev_loop *loop = e.loop;
	struct kf_group *g = e.g;
	struct kf_group_tp tp = { .topic = "t", .partition = 0, .offset = 1 };
	nomem_calls = nomem_inside = nomem_bad_arg = 0;
	nomem_in_call = true;
	mem_exhaust();
	for (int i = 0; i < 9; i++)
		kf_group_commit(g, &tp, 1, nomem_cb, &nomem_calls);
	mem_release();
	nomem_in_call = false;
	ck_assert_int_eq(nomem_calls, 1);
	ck_assert_int_eq(nomem_inside, 1); /* the ninth */
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert_int_eq(nomem_calls, 9);
	ck_assert_int_eq(nomem_inside, 1);
	ck_assert_int_eq(nomem_err, KF_ENOMEM);
	ck_assert_int_eq(nomem_n, 0);
	struct kf_group_counters c;
	kf_group_counters(g, &c);
	ck_assert_uint_eq(c.commit_failures, 9);

	/* Memory back: an ordinary refusal again, with its offsets. */
	kf_group_commit(g, &tp, 1, nomem_cb, &nomem_calls);
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert_int_eq(nomem_calls, 10);
	ck_assert_int_eq(nomem_err, KF_EAGAIN);
	ck_assert_int_eq(nomem_n, 1);
	ck_assert_int_eq(nomem_bad_arg, 0);

	oom_env_free(&e);
}
END_TEST

/* Starting without memory backs off and tries again (it aborted before);
 * leaving still works. */
START_TEST(start_out_of_memory)
{
	if (!oom_testable())
		return;
	struct oom_env e;
	oom_env_new(&e);
	struct ev_loop *loop = e.loop;
	struct kf_group *g = e.g;
	mem_exhaust();
	kf_group_start(g);
	mem_release();
	ck_assert_str_eq(kf_group_state(g), "starting");
	/* The retry after the backoff (0.1 s) sends FindCoordinator. */
	ev_run(loop, EVRUN_ONCE);
	ck_assert_str_eq(kf_group_state(g), "starting");
	left_calls = 0;
	kf_group_leave(g, left_cb, &left_calls);
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert_int_eq(left_calls, 1);
	oom_env_free(&e);
}
END_TEST

Suite *suite_group_member(void)
{
	Suite *s = suite_create("group_member");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, action_ok_and_transport);
	tcase_add_test(tc, action_heartbeat);
	tcase_add_test(tc, action_join);
	tcase_add_test(tc, action_commit_and_fetch);
	tcase_add_test(tc, action_names);
	tcase_add_test(tc, kerr_numbers);
	tcase_add_test(tc, topics_unchanged);
	tcase_add_test(tc, topics_changed);
	tcase_add_test(tc, member_without_broker);
	tcase_add_test(tc, commit_out_of_memory);
	tcase_add_test(tc, start_out_of_memory);
	suite_add_tcase(s, tc);
	return s;
}
