/*
 * group member: the error-reaction table (kf_group_error_action) code by
 * code and API by API, and the parts of the member that need no broker:
 * state words before start, a commit without a generation refused from
 * the loop (never inside the call), leave before joining; the leader's
 * partition count comparison (kf_group_topics_changed).
 */
#include "config.h"

#include <ev.h>
#include <stdio.h>
#include <string.h>

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

	kf_group_free(g);
	kf_cluster_free(cl);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
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
	tcase_add_test(tc, topics_unchanged);
	tcase_add_test(tc, topics_changed);
	tcase_add_test(tc, member_without_broker);
	suite_add_tcase(s, tc);
	return s;
}
