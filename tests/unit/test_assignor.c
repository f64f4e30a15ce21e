/*
 * assignor: range and roundrobin against the Java client's own examples.
 *
 * Every expected assignment below is taken from Kafka's sources (trunk,
 * 2024): the RangeAssignor and RoundRobinAssignor javadoc examples and the
 * non-rack cases of clients/src/test/.../RangeAssignorTest.java and
 * RoundRobinAssignorTest.java, same member ids, instance ids, topics and
 * partition counts.  The few cases not from Java say so.
 *
 * Each case runs with the members in three input orders (as given,
 * reversed, rotated) and must give the same assignment to the same member;
 * the first run's assignments also go through kf_consumer_assignment_encode
 * and _decode (versions 0 and 3) and must come back identical.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assignor.h"
#include "proto_group.h"
#include "wire.h"
#include "suites.h"

#define MAXM 8
#define MAXT 6

struct tmember {
	const char *id;
	const char *inst;               /* NULL: dynamic */
	const char *topics[MAXT];       /* NULL-terminated */
};

struct ttopic {
	const char *name;
	int32_t n;
};

/* Partition counts: a NULL-name-terminated ttopic table. */
static int32_t count_of(void *arg, const char *topic)
{
	for (const struct ttopic *t = arg; t->name; t++)
		if (strcmp(t->name, topic) == 0)
			return t->n;
	return -1;
}

/* "t0:0,1;t1:2": topics in order, ';' between them; "" for nothing. */
static void fmt(const struct kf_consumer_assignment *a, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (int32_t i = 0; i < a->assigned_partitions.n; i++) {
		const struct kf_consumer_topic_partitions *e =
			&KF_AT(a->assigned_partitions, struct kf_consumer_topic_partitions, i);

		off += (size_t)snprintf(buf + off, len - off, "%s%s:", i ? ";" : "", e->topic);
		for (int32_t k = 0; k < e->partitions.n; k++)
			off += (size_t)snprintf(buf + off, len - off, "%s%d", k ? "," : "",
						KF_AT(e->partitions, int32_t, k));
		ck_assert_uint_lt(off, len);
	}
}

static void make_sub(struct kf_arena *a, const struct tmember *tm,
		     struct kf_consumer_subscription *s)
{
	int32_t n = 0;

	memset(s, 0, sizeof(*s));
	while (n < MAXT && tm->topics[n])
		n++;
	s->topics.n = n;
	s->topics.v = kf_arena_alloc(a, (size_t)(n ? n : 1) * sizeof(char *));
	for (int32_t i = 0; i < n; i++)
		KF_AT(s->topics, char *, i) = kf_arena_strndup(a, tm->topics[i], strlen(tm->topics[i]));
	s->user_data.len = -1;
	s->generation_id = -1;
}

/* Encode at version v, decode, and compare with the original. */
static void round_trip(const struct kf_consumer_assignment *o, int16_t v)
{
	struct kf_arena a;
	struct kf_consumer_assignment back;
	struct kf_wr w;
	char want[512], got[512];
	int16_t vv = -1;

	kf_arena_init(&a);
	kf_wr_init(&w);
	ck_assert_int_eq(kf_consumer_assignment_encode(&w, v, o), KF_OK);
	ck_assert_int_eq(kf_consumer_assignment_decode(w.buf, w.len, &a, &back, &vv), KF_OK);
	ck_assert_int_eq(vv, v);
	fmt(o, want, sizeof(want));
	fmt(&back, got, sizeof(got));
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(back.assigned_partitions.n, o->assigned_partitions.n);
	ck_assert_int_eq(back.user_data.len, -1);
	kf_wr_free(&w);
	kf_arena_free(&a);
}

/* Run id over ms[0..n) in three input orders; expect[i] is ms[i]'s result. */
static void check(enum kf_assignor_id id, const struct tmember *ms, size_t n,
		  const struct ttopic *tt, const char *const *expect)
{
	for (int order = 0; order < 3; order++) {
		struct kf_arena a;
		struct kf_consumer_subscription subs[MAXM];
		struct kf_assignor_member m[MAXM];
		struct kf_consumer_assignment out[MAXM];
		size_t pick[MAXM];
		char got[512];

		ck_assert_uint_le(n, MAXM);
		kf_arena_init(&a);
		for (size_t k = 0; k < n; k++) {
			pick[k] = order == 0 ? k : order == 1 ? n - 1 - k : (k + 1) % n;
			make_sub(&a, &ms[pick[k]], &subs[k]);
			m[k].member_id = ms[pick[k]].id;
			m[k].group_instance_id = ms[pick[k]].inst;
			m[k].sub = &subs[k];
			/* garbage the assignor must overwrite */
			memset(&out[k], 0x5a, sizeof(out[k]));
		}
		ck_assert_int_eq(kf_assignor_assign(id, m, n, count_of, (void *)tt, &a, out),
				 KF_OK);
		for (size_t k = 0; k < n; k++) {
			fmt(&out[k], got, sizeof(got));
			if (strcmp(got, expect[pick[k]]) != 0)
				ck_abort_msg("%s order %d member %s: got \"%s\", want \"%s\"",
					     kf_assignor_name(id), order, ms[pick[k]].id, got,
					     expect[pick[k]]);
			ck_assert_int_eq(out[k].user_data.len, -1);
			if (order == 0) {
				round_trip(&out[k], 0);
				round_trip(&out[k], 3);
			}
		}
		kf_arena_free(&a);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define CHECK(id, ms, tt, ex)                                  \
	do {                                                   \
		ck_assert_uint_eq(N(ms), N(ex));               \
		check((id), (ms), N(ms), (tt), (ex));          \
	} while (0)

#define RANGE KF_ASSIGNOR_RANGE
#define RR KF_ASSIGNOR_ROUNDROBIN

static const struct ttopic none[] = { { NULL, 0 } };
static const struct ttopic t3x3[] = { { "t0", 3 }, { "t1", 3 }, { NULL, 0 } };
static const struct ttopic one3_other3[] = { { "topic", 3 }, { "other", 3 }, { NULL, 0 } };
static const struct ttopic two_1_2[] = { { "topic1", 1 }, { "topic2", 2 }, { NULL, 0 } };
static const struct ttopic two_3_2[] = { { "topic1", 3 }, { "topic2", 2 }, { NULL, 0 } };
static const struct ttopic two_3_3[] = { { "topic1", 3 }, { "topic2", 3 }, { NULL, 0 } };
static const struct ttopic two_5_4[] = { { "topic1", 5 }, { "topic2", 4 }, { NULL, 0 } };
static const struct ttopic two_5_5[] = { { "topic1", 5 }, { "topic2", 5 }, { NULL, 0 } };
static const struct ttopic topic_1[] = { { "topic", 1 }, { NULL, 0 } };
static const struct ttopic topic_2[] = { { "topic", 2 }, { NULL, 0 } };

/* ------------------------------------------------------------ javadoc */

static const struct tmember c0c1_t0t1[] = {
	{ "C0", NULL, { "t0", "t1" } },
	{ "C1", NULL, { "t0", "t1" } },
};

START_TEST(range_javadoc)
{
	static const char *const ex[] = { "t0:0,1;t1:0,1", "t0:2;t1:2" };

	CHECK(RANGE, c0c1_t0t1, t3x3, ex);
}
END_TEST

START_TEST(roundrobin_javadoc)
{
	static const char *const ex[] = { "t0:0,2;t1:1", "t0:1;t1:0,2" };

	CHECK(RR, c0c1_t0t1, t3x3, ex);
}
END_TEST

START_TEST(roundrobin_javadoc_uneven)
{
	static const struct tmember ms[] = {
		{ "C0", NULL, { "t0" } },
		{ "C1", NULL, { "t0", "t1" } },
		{ "C2", NULL, { "t0", "t1", "t2" } },
	};
	static const struct ttopic tt[] = { { "t0", 1 }, { "t1", 2 }, { "t2", 3 }, { NULL, 0 } };
	static const char *const ex[] = { "t0:0", "t1:0", "t1:1;t2:0,1,2" };

	CHECK(RR, ms, tt, ex);
}
END_TEST

/* ------------------------------------------------------------ both: same expectations */

/* testOneConsumerNoTopic, testOneConsumerNonexistentTopic */
START_TEST(one_consumer_nothing)
{
	static const struct tmember no_topic[] = { { "consumer", NULL, { NULL } } };
	static const struct tmember missing[] = { { "consumer", NULL, { "topic" } } };
	static const char *const ex[] = { "" };

	CHECK(RANGE, no_topic, none, ex);
	CHECK(RR, no_topic, none, ex);
	CHECK(RANGE, missing, none, ex);
	CHECK(RR, missing, none, ex);
}
END_TEST

/* testOneConsumerOneTopic, testOnlyAssignsPartitionsFromSubscribedTopics */
START_TEST(only_subscribed)
{
	static const struct tmember ms[] = { { "consumer", NULL, { "topic" } } };
	static const char *const ex[] = { "topic:0,1,2" };

	CHECK(RANGE, ms, one3_other3, ex);
	CHECK(RR, ms, one3_other3, ex);
}
END_TEST

/* testOneConsumerMultipleTopics */
START_TEST(one_consumer_multiple_topics)
{
	static const struct tmember ms[] = { { "consumer", NULL, { "topic1", "topic2" } } };
	static const char *const ex[] = { "topic1:0;topic2:0,1" };

	CHECK(RANGE, ms, two_1_2, ex);
	CHECK(RR, ms, two_1_2, ex);
}
END_TEST

/* testTwoConsumersOneTopicOnePartition, ...TwoPartitions */
START_TEST(two_consumers_one_topic)
{
	static const struct tmember ms[] = {
		{ "consumer1", NULL, { "topic" } },
		{ "consumer2", NULL, { "topic" } },
	};
	static const char *const ex1[] = { "topic:0", "" };
	static const char *const ex2[] = { "topic:0", "topic:1" };

	CHECK(RANGE, ms, topic_1, ex1);
	CHECK(RR, ms, topic_1, ex1);
	CHECK(RANGE, ms, topic_2, ex2);
	CHECK(RR, ms, topic_2, ex2);
}
END_TEST

/* testMultipleConsumersMixedTopics (same result from both assignors) */
START_TEST(mixed_topics)
{
	static const struct tmember ms[] = {
		{ "consumer1", NULL, { "topic1" } },
		{ "consumer2", NULL, { "topic1", "topic2" } },
		{ "consumer3", NULL, { "topic1" } },
	};
	static const char *const ex[] = { "topic1:0", "topic1:1;topic2:0,1", "topic1:2" };

	CHECK(RANGE, ms, two_3_2, ex);
	CHECK(RR, ms, two_3_2, ex);
}
END_TEST

/* ------------------------------------------------------------ RangeAssignorTest */

/* testTwoConsumersTwoTopicsSixPartitions */
START_TEST(range_two_consumers_six_partitions)
{
	static const struct tmember ms[] = {
		{ "consumer1", NULL, { "topic1", "topic2" } },
		{ "consumer2", NULL, { "topic1", "topic2" } },
	};
	static const char *const ex[] = { "topic1:0,1;topic2:0,1", "topic1:2;topic2:2" };

	CHECK(RANGE, ms, two_3_3, ex);
}
END_TEST

/* testTwoStaticConsumersTwoTopicsSixPartitions: instance ids win over
 * member ids ("consumer-b" sorts first by its instance1). */
START_TEST(range_two_static)
{
	static const struct tmember ms[] = {
		{ "consumer-b", "instance1", { "topic1", "topic2" } },
		{ "consumer-a", "instance2", { "topic1", "topic2" } },
	};
	static const char *const ex[] = { "topic1:0,1;topic2:0,1", "topic1:2;topic2:2" };

	CHECK(RANGE, ms, two_3_3, ex);
}
END_TEST

/* testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions */
START_TEST(range_static_before_dynamic)
{
	static const struct tmember ms[] = {
		{ "consumer-b", "instance1", { "topic1", "topic2" } },
		{ "consumer-a", NULL, { "topic1", "topic2" } },
	};
	static const char *const ex[] = { "topic1:0,1;topic2:0,1", "topic1:2;topic2:2" };

	CHECK(RANGE, ms, two_3_3, ex);
}
END_TEST

/* testStaticMemberRangeAssignmentPersistent */
START_TEST(range_static_persistent)
{
	static const struct tmember ms4[] = {
		{ "consumer1", "instance1", { "topic1", "topic2" } },
		{ "consumer2", "instance2", { "topic1", "topic2" } },
		{ "consumer3", "instance3", { "topic1", "topic2" } },
		{ "consumer4", NULL, { "topic1", "topic2" } },
	};
	static const struct tmember ms5[] = {
		{ "consumer1", "instance1", { "topic1", "topic2" } },
		{ "consumer2", "instance2", { "topic1", "topic2" } },
		{ "consumer3", "instance3", { "topic1", "topic2" } },
		{ "consumer5", NULL, { "topic1", "topic2" } },
	};
	static const char *const ex[] = {
		"topic1:0,1;topic2:0", "topic1:2;topic2:1", "topic1:3;topic2:2", "topic1:4;topic2:3",
	};

	CHECK(RANGE, ms4, two_5_4, ex);
	CHECK(RANGE, ms5, two_5_4, ex);
}
END_TEST

/* testStaticMemberRangeAssignmentPersistentAfterMemberIdChanges */
START_TEST(range_static_member_id_change)
{
	static const struct tmember before[] = {
		{ "consumer1", "instance1", { "topic1", "topic2" } },
		{ "consumer2", "instance2", { "topic1", "topic2" } },
		{ "consumer3", "instance3", { "topic1", "topic2" } },
	};
	static const struct tmember after[] = {
		{ "consumer1", "instance1", { "topic1", "topic2" } },
		{ "consumer5", "instance2", { "topic1", "topic2" } },
		{ "consumer4", "instance3", { "topic1", "topic2" } },
	};
	static const char *const ex[] = {
		"topic1:0,1;topic2:0,1", "topic1:2,3;topic2:2,3", "topic1:4;topic2:4",
	};

	CHECK(RANGE, before, two_5_5, ex);
	CHECK(RANGE, after, two_5_5, ex);
}
END_TEST

/* Not from Java: more members than partitions, the last ones get nothing;
 * 10 over 3 is 4, 3, 3. */
START_TEST(range_counts)
{
	static const struct tmember ms[] = {
		{ "a", NULL, { "x" } }, { "b", NULL, { "x" } }, { "c", NULL, { "x" } },
	};
	static const struct ttopic x2[] = { { "x", 2 }, { NULL, 0 } };
	static const struct ttopic x10[] = { { "x", 10 }, { NULL, 0 } };
	static const char *const ex2[] = { "x:0", "x:1", "" };
	static const char *const ex10[] = { "x:0,1,2,3", "x:4,5,6", "x:7,8,9" };

	CHECK(RANGE, ms, x2, ex2);
	CHECK(RANGE, ms, x10, ex10);
}
END_TEST

/* ------------------------------------------------------------ RoundRobinAssignorTest */

/* testTwoDynamicConsumersTwoTopicsSixPartitions */
START_TEST(rr_two_dynamic)
{
	static const struct tmember ms[] = {
		{ "consumer1", NULL, { "topic1", "topic2" } },
		{ "consumer2", NULL, { "topic1", "topic2" } },
	};
	static const char *const ex[] = { "topic1:0,2;topic2:1", "topic1:1;topic2:0,2" };

	CHECK(RR, ms, two_3_3, ex);
}
END_TEST

/* testTwoStaticConsumersTwoTopicsSixPartitions,
 * testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions */
START_TEST(rr_static)
{
	static const struct tmember two_static[] = {
		{ "consumer-b", "instance1", { "topic1", "topic2" } },
		{ "consumer-a", "instance2", { "topic1", "topic2" } },
	};
	static const struct tmember one_static[] = {
		{ "consumer-b", "instance1", { "topic1", "topic2" } },
		{ "consumer-a", NULL, { "topic1", "topic2" } },
	};
	static const char *const ex[] = { "topic1:0,2;topic2:1", "topic1:1;topic2:0,2" };

	CHECK(RR, two_static, two_3_3, ex);
	CHECK(RR, one_static, two_3_3, ex);
}
END_TEST

/* testStaticMemberRoundRobinAssignmentPersistent */
START_TEST(rr_static_persistent)
{
	static const struct tmember ms4[] = {
		{ "consumer1", "instance1", { "topic1", "topic2" } },
		{ "consumer2", "instance2", { "topic1", "topic2" } },
		{ "consumer3", "instance3", { "topic1", "topic2" } },
		{ "consumer4", NULL, { "topic1", "topic2" } },
	};
	static const struct tmember ms5[] = {
		{ "consumer1", "instance1", { "topic1", "topic2" } },
		{ "consumer2", "instance2", { "topic1", "topic2" } },
		{ "consumer3", "instance3", { "topic1", "topic2" } },
		{ "consumer5", NULL, { "topic1", "topic2" } },
	};
	static const char *const ex[] = {
		"topic1:0;topic2:1", "topic1:1;topic2:2", "topic1:2", "topic2:0",
	};

	CHECK(RR, ms4, two_3_3, ex);
	CHECK(RR, ms5, two_3_3, ex);
}
END_TEST

/* testStaticMemberRoundRobinAssignmentPersistentAfterMemberIdChanges */
START_TEST(rr_static_member_id_change)
{
	static const struct tmember before[] = {
		{ "consumer1", "instance1", { "topic1", "topic2" } },
		{ "consumer2", "instance2", { "topic1", "topic2" } },
		{ "consumer3", "instance3", { "topic1", "topic2" } },
	};
	static const struct tmember after[] = {
		{ "consumer1", "instance1", { "topic1", "topic2" } },
		{ "consumer5", "instance2", { "topic1", "topic2" } },
		{ "consumer4", "instance3", { "topic1", "topic2" } },
	};
	static const char *const ex[] = {
		"topic1:0,3;topic2:1,4", "topic1:1,4;topic2:2", "topic1:2;topic2:0,3",
	};

	CHECK(RR, before, two_5_5, ex);
	CHECK(RR, after, two_5_5, ex);
}
END_TEST

/* ------------------------------------------------------------ edges (not from Java) */

/* A topic with 0 or unknown partitions is skipped; one listed twice in a
 * subscription counts once (Java 3.5+ range dedups by member, round robin
 * tests contains()). */
START_TEST(skipped_and_duplicate_topics)
{
	static const struct tmember ms[] = {
		{ "m1", NULL, { "t", "t", "empty", "gone" } },
		{ "m2", NULL, { "t" } },
	};
	static const struct ttopic tt[] = { { "t", 4 }, { "empty", 0 }, { NULL, 0 } };
	static const char *const ex_range[] = { "t:0,1", "t:2,3" };
	static const char *const ex_rr[] = { "t:0,2", "t:1,3" };

	CHECK(RANGE, ms, tt, ex_range);
	CHECK(RR, ms, tt, ex_rr);
}
END_TEST

/* Round robin's circle runs over every member, subscribed or not, and
 * carries its position from topic to topic. */
START_TEST(rr_circle_carries_over)
{
	static const struct tmember ms[] = {
		{ "a", NULL, { "x", "y" } },
		{ "b", NULL, { NULL } },
		{ "c", NULL, { "y" } },
	};
	static const struct ttopic tt[] = { { "x", 3 }, { "y", 3 }, { NULL, 0 } };
	/* x0 a, x1 a (b, c skipped), x2 a; then from b: y0 c, y1 a, y2 c */
	static const char *const ex[] = { "x:0,1,2;y:1", "", "y:0,2" };

	CHECK(RR, ms, tt, ex);
}
END_TEST

/* Java compares Strings by UTF-16 unit: U+FF61 (EF BD A1) sorts after
 * U+1F600 (F0 9F 98 80, lead unit 0xD83D), though its UTF-8 is smaller. */
#define HALFWIDTH_STOP "\xef\xbd\xa1"
#define GRINNING_FACE "\xf0\x9f\x98\x80"

START_TEST(java_string_order)
{
	ck_assert_int_eq(kf_assignor_java_strcmp("a", "a"), 0);
	ck_assert_int_lt(kf_assignor_java_strcmp("a", "b"), 0);
	ck_assert_int_gt(kf_assignor_java_strcmp("b", "a"), 0);
	ck_assert_int_lt(kf_assignor_java_strcmp("", "a"), 0);
	ck_assert_int_lt(kf_assignor_java_strcmp("ab", "abc"), 0);
	ck_assert_int_lt(kf_assignor_java_strcmp("B", "a"), 0);
	ck_assert_int_lt(kf_assignor_java_strcmp("\x7f", "\xc2\x80"), 0);
	ck_assert_int_lt(kf_assignor_java_strcmp("\xc3\xa9", "\xe4\xb8\x80"), 0);
	ck_assert_int_gt(kf_assignor_java_strcmp(HALFWIDTH_STOP, GRINNING_FACE), 0);
	ck_assert_int_lt(kf_assignor_java_strcmp(GRINNING_FACE, HALFWIDTH_STOP), 0);
	/* same lead surrogate, trail decides: U+1F600 < U+1F601 */
	ck_assert_int_lt(kf_assignor_java_strcmp(GRINNING_FACE, "\xf0\x9f\x98\x81"), 0);
	/* ill-formed input reads as U+FFFD, which sorts above U+FF61 ... */
	ck_assert_int_gt(kf_assignor_java_strcmp("\xff", HALFWIDTH_STOP), 0);
	ck_assert_int_eq(kf_assignor_java_strcmp("\xff", "\xef\xbf\xbd"), 0);
	/* ... one per maximal subpart: E2 82 is one U+FFFD, then 'A' */
	ck_assert_int_eq(kf_assignor_java_strcmp("\xe2\x82" "A", "\xef\xbf\xbd" "A"), 0);
	ck_assert_int_eq(kf_assignor_java_strcmp("\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd"), 0);
}
END_TEST

START_TEST(member_order_utf16)
{
	static const struct tmember ms[] = {
		{ "m1", HALFWIDTH_STOP, { "topic" } },
		{ "m2", GRINNING_FACE, { "topic" } },
	};
	/* byte order would give m1 partition 0 */
	static const char *const ex[] = { "topic:1", "topic:0" };

	CHECK(RANGE, ms, topic_2, ex);
	CHECK(RR, ms, topic_2, ex);
}
END_TEST

/* ------------------------------------------------------------ against a literal port */

/*
 * Java's algorithms transcribed literally over small tables (range as
 * 3.5+ runs it without racks: each subscriber in turn takes up to
 * q + (extra left ? 1 : 0) - taken of the lowest unassigned partitions),
 * run on random groups and compared with kf_assignor_assign.  Member ids
 * and instance ids are ASCII here, so strcmp orders as Java does.
 */
#define RT 4   /* topics tA..tD */
#define RP 8   /* partitions at most */

struct rgroup {
	size_t n;
	struct tmember ms[MAXM];
	char ids[MAXM][32], insts[MAXM][32];
	struct ttopic tt[RT + 1];
	bool sub[MAXM][RT];
	int owner[RT][RP];  /* member index, -1 none */
};

static const char *const rtopic[RT] = { "tA", "tB", "tC", "tD" };

static int ref_cmp(const struct tmember *a, const struct tmember *b)
{
	if (a->inst && b->inst)
		return strcmp(a->inst, b->inst);
	if (a->inst || b->inst)
		return a->inst ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* order[]: member indexes in Java member order (insertion sort). */
static void ref_order(const struct rgroup *g, size_t *order)
{
	for (size_t i = 0; i < g->n; i++) {
		size_t j = i;

		while (j > 0 && ref_cmp(&g->ms[i], &g->ms[order[j - 1]]) < 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
}

static void ref_range(struct rgroup *g)
{
	size_t order[MAXM];

	ref_order(g, order);
	for (int t = 0; t < RT; t++) {
		int np = g->tt[t].n, c = 0, next = 0, taken;

		for (size_t k = 0; k < g->n; k++)
			c += g->sub[order[k]][t];
		if (np <= 0 || c == 0)
			continue;
		int q = np / c, extra = np % c;

		for (size_t k = 0; k < g->n && next < np; k++) {
			if (!g->sub[order[k]][t])
				continue;
			int max = q + (extra > 0 ? 1 : 0);

			for (taken = 0; taken < max && next < np; taken++)
				g->owner[t][next++] = (int)order[k];
			if (taken > q)
				extra--;
		}
	}
}

static void ref_roundrobin(struct rgroup *g)
{
	size_t order[MAXM], pos = 0;

	ref_order(g, order);
	for (int t = 0; t < RT; t++) {
		bool any = false;

		for (size_t k = 0; k < g->n; k++)
			any |= g->sub[k][t];
		if (!any)
			continue;
		for (int p = 0; p < g->tt[t].n; p++) {
			while (!g->sub[order[pos]][t])
				pos = (pos + 1) % g->n;
			g->owner[t][p] = (int)order[pos];
			pos = (pos + 1) % g->n;
		}
	}
}

static void ref_fmt(const struct rgroup *g, size_t m, char *buf, size_t len)
{
	size_t off = 0;
	bool first_topic = true;

	buf[0] = 0;
	for (int t = 0; t < RT; t++) {
		bool first = true;

		for (int p = 0; p < g->tt[t].n; p++) {
			if (g->owner[t][p] != (int)m)
				continue;
			if (first)
				off += (size_t)snprintf(buf + off, len - off, "%s%s:",
							first_topic ? "" : ";", rtopic[t]);
			off += (size_t)snprintf(buf + off, len - off, "%s%d", first ? "" : ",", p);
			first = false;
			first_topic = false;
		}
	}
}

START_TEST(random_against_literal_port)
{
	unsigned seed = 12345;

	for (int iter = 0; iter < 400; iter++) {
		struct rgroup g;
		char want[MAXM][128];
		const char *ex[MAXM];

		memset(&g, 0, sizeof(g));
		memset(g.owner, 0xff, sizeof(g.owner));
		g.n = 1 + (size_t)(rand_r(&seed) % MAXM);
		for (int t = 0; t < RT; t++) {
			g.tt[t].name = rtopic[t];
			g.tt[t].n = rand_r(&seed) % (RP + 1); /* 0: skipped */
		}
		for (size_t k = 0; k < g.n; k++) {
			int nt = 0;

			/* ids drawn from a small range so static and dynamic
			 * orders interleave; distinct by the k suffix */
			snprintf(g.ids[k], sizeof(g.ids[k]), "m%d%zu", rand_r(&seed) % 10, k);
			g.ms[k].id = g.ids[k];
			if (rand_r(&seed) % 3 == 0) {
				snprintf(g.insts[k], sizeof(g.insts[k]), "i%d%zu",
					 rand_r(&seed) % 10, k);
				g.ms[k].inst = g.insts[k];
			}
			for (int t = 0; t < RT; t++) {
				if (rand_r(&seed) % 2) {
					g.sub[k][t] = true;
					g.ms[k].topics[nt++] = rtopic[t];
				}
			}
		}
		if (iter % 2)
			ref_range(&g);
		else
			ref_roundrobin(&g);
		for (size_t k = 0; k < g.n; k++) {
			ref_fmt(&g, k, want[k], sizeof(want[k]));
			ex[k] = want[k];
		}
		check(iter % 2 ? RANGE : RR, g.ms, g.n, g.tt, ex);
	}
}
END_TEST

/* ------------------------------------------------------------ names */

START_TEST(names_and_protocols)
{
	enum kf_assignor_id id = KF_ASSIGNOR_RANGE;
	const char *names[KF_ASSIGNOR_COUNT];

	ck_assert_str_eq(kf_assignor_name(KF_ASSIGNOR_RANGE), "range");
	ck_assert_str_eq(kf_assignor_name(KF_ASSIGNOR_ROUNDROBIN), "roundrobin");
	ck_assert_ptr_null(kf_assignor_name((enum kf_assignor_id)7));

	ck_assert_int_eq(kf_assignor_lookup("roundrobin", &id), KF_OK);
	ck_assert_int_eq(id, KF_ASSIGNOR_ROUNDROBIN);
	ck_assert_int_eq(kf_assignor_lookup("range", &id), KF_OK);
	ck_assert_int_eq(id, KF_ASSIGNOR_RANGE);
	ck_assert_int_eq(kf_assignor_lookup("Range", &id), KF_EUNSUPP);
	ck_assert_int_eq(kf_assignor_lookup("sticky", &id), KF_EUNSUPP);
	ck_assert_int_eq(kf_assignor_lookup(NULL, &id), KF_EUNSUPP);

	ck_assert_int_eq(kf_assignor_protocols("roundrobin", names), 2);
	ck_assert_str_eq(names[0], "roundrobin");
	ck_assert_str_eq(names[1], "range");
	ck_assert_int_eq(kf_assignor_protocols("range", names), 2);
	ck_assert_str_eq(names[0], "range");
	ck_assert_str_eq(names[1], "roundrobin");
	ck_assert_int_eq(kf_assignor_protocols("sticky", names), KF_EUNSUPP);
}
END_TEST

START_TEST(no_members_bad_id)
{
	struct kf_arena a;
	struct kf_assignor_member m = { "m", NULL, NULL };
	struct kf_consumer_assignment out;

	kf_arena_init(&a);
	ck_assert_int_eq(kf_assignor_assign(RANGE, NULL, 0, count_of, (void *)none, &a, NULL),
			 KF_OK);
	ck_assert_int_eq(kf_assignor_assign((enum kf_assignor_id)KF_ASSIGNOR_COUNT, &m, 1, count_of,
					    (void *)none, &a, &out), KF_EUNSUPP);
	/* NULL subscription: subscribes to nothing, still gets an entry */
	memset(&out, 0x5a, sizeof(out));
	ck_assert_int_eq(kf_assignor_assign(RR, &m, 1, count_of, (void *)t3x3, &a, &out), KF_OK);
	ck_assert_int_eq(out.assigned_partitions.n, 0);
	ck_assert_int_eq(out.user_data.len, -1);
	round_trip(&out, 3);
	kf_arena_free(&a);
}
END_TEST

Suite *suite_assignor(void)
{
	Suite *s = suite_create("assignor");
	TCase *tc = tcase_create("java");

	tcase_add_test(tc, range_javadoc);
	tcase_add_test(tc, roundrobin_javadoc);
	tcase_add_test(tc, roundrobin_javadoc_uneven);
	tcase_add_test(tc, one_consumer_nothing);
	tcase_add_test(tc, only_subscribed);
	tcase_add_test(tc, one_consumer_multiple_topics);
	tcase_add_test(tc, two_consumers_one_topic);
	tcase_add_test(tc, mixed_topics);
	tcase_add_test(tc, range_two_consumers_six_partitions);
	tcase_add_test(tc, range_two_static);
	tcase_add_test(tc, range_static_before_dynamic);
	tcase_add_test(tc, range_static_persistent);
	tcase_add_test(tc, range_static_member_id_change);
	tcase_add_test(tc, rr_two_dynamic);
	tcase_add_test(tc, rr_static);
	tcase_add_test(tc, rr_static_persistent);
	tcase_add_test(tc, rr_static_member_id_change);
	suite_add_tcase(s, tc);

	tc = tcase_create("edges");
	tcase_add_test(tc, range_counts);
	tcase_add_test(tc, skipped_and_duplicate_topics);
	tcase_add_test(tc, rr_circle_carries_over);
	tcase_add_test(tc, java_string_order);
	tcase_add_test(tc, member_order_utf16);
	tcase_add_test(tc, random_against_literal_port);
	tcase_add_test(tc, names_and_protocols);
	tcase_add_test(tc, no_members_bad_id);
	suite_add_tcase(s, tc);
	return s;
}
