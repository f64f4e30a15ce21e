/*
 * cooperative-sticky (supervisor/sticky.c).
 *
 * The expected answers of the "java" cases are what the Java client's
 * CooperativeStickyAssignor (kafka-clients 4.4.0) printed for the same
 * scenarios through `oracle.sh assign`; tests/kafka/assignor-diff.sh
 * compares thousands more against it.  The scenario format is Assign.java's
 * (tests/kafka/oracle); assign_scen.c runs kfork's assignors on it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign_scen.h"
#include "assignor.h"
#include "assignor_run.h"
#include "suites.h"

static void expect(const char *scenarios, const char *want)
{
	char *got = NULL;
	size_t len = 0;
	FILE *in = fmemopen((void *)scenarios, strlen(scenarios), "r");
	FILE *out = open_memstream(&got, &len);

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	kf_assign_scenarios(in, out);
	fclose(in);
	fclose(out);
	ck_assert_str_eq(got, want);
	free(got);
}

/* No member owns anything: round-robin over the sorted partitions. */
START_TEST(java_fresh)
{
	expect("scenario fresh cooperative-sticky\n"
	       "topic t0 3\n"
	       "topic t1 4\n"
	       "member C0 - -1 - t0,t1 -\n"
	       "member C1 - -1 - t0,t1 -\n"
	       "member C2 - -1 - t0,t1 -\n"
	       "end\n",
	       "scenario fresh\n"
	       "member C0 t0:0,t1:0,t1:3\n"
	       "member C1 t0:1,t1:1\n"
	       "member C2 t0:2,t1:2\n"
	       "end\n");
}
END_TEST

/* A member joins: the owners keep their quota, and what they give up is
 * left out for this rebalance (it reaches m3 in the next one). */
START_TEST(java_withhold)
{
	expect("scenario withhold cooperative-sticky\n"
	       "topic t 6\n"
	       "member m1 - 3 - t t:0,t:1,t:2\n"
	       "member m2 - 3 - t t:3,t:4,t:5\n"
	       "member m3 - -1 - t -\n"
	       "end\n",
	       "scenario withhold\n"
	       "member m1 t:0,t:1\n"
	       "member m2 t:3,t:4\n"
	       "member m3 -\n"
	       "end\n");
}
END_TEST

/* 16 partitions over 3 members: one may keep 6.  Java walks its HashMap:
 * "zeta" (bucket 0) before "alpha" (bucket 7), so zeta keeps 6 although
 * alpha comes first by name and in the JoinGroup response. */
START_TEST(java_hash_order)
{
	expect("scenario hashorder cooperative-sticky\n"
	       "topic t 16\n"
	       "member alpha - 7 - t t:0,t:1,t:2,t:3,t:4,t:5,t:6,t:7\n"
	       "member zeta - 7 - t t:8,t:9,t:10,t:11,t:12,t:13,t:14,t:15\n"
	       "member mid - -1 - t -\n"
	       "end\n",
	       "scenario hashorder\n"
	       "member alpha t:0,t:1,t:2,t:3,t:4\n"
	       "member zeta t:8,t:9,t:10,t:11,t:12,t:13\n"
	       "member mid -\n"
	       "end\n");
}
END_TEST

/* Two members of one generation claim t:1: neither keeps it, and nobody
 * gets it in this rebalance. */
START_TEST(java_double_claim)
{
	expect("scenario doubleclaim cooperative-sticky\n"
	       "topic t 4\n"
	       "member a - 5 - t t:0,t:1\n"
	       "member b - 5 - t t:1,t:2,t:3\n"
	       "end\n",
	       "scenario doubleclaim\n"
	       "member a t:0\n"
	       "member b t:2,t:3\n"
	       "end\n");
}
END_TEST

/* Claims in different generations: the higher one wins, whether it comes
 * in the Subscription (a, 4) or only in the UserData (b, 5: a client
 * older than ConsumerProtocol v2); c has none and loses t:0. */
START_TEST(java_generations)
{
	expect("scenario generations cooperative-sticky\n"
	       "topic t 4\n"
	       "member a - 4 - t t:0,t:1,t:2\n"
	       "member b - -1 5 t t:2,t:3\n"
	       "member c - -1 - t t:0\n"
	       "end\n",
	       "scenario generations\n"
	       "member a t:0,t:1\n"
	       "member b t:2\n"
	       "member c -\n"
	       "end\n");
}
END_TEST

/* Different subscriptions (kfork's own algorithm, not Java's): owners keep
 * what they still subscribe to, the rest goes to the least loaded
 * subscriber, and nothing is handed on while its owner gives it up. */
START_TEST(general_path)
{
	expect("scenario general cooperative-sticky\n"
	       "topic a 4\n"
	       "topic b 2\n"
	       "member x - 2 - a,b a:0,a:1,a:2,a:3,b:0,b:1\n"
	       "member y - 2 - a -\n"
	       "member z - 2 - b -\n"
	       "end\n",
	       /* x keeps all six at first; the balancing moves a:0, b:0,
		* a:1 and b:1 in turn, the largest gap first, to 2/2/2: all
		* four were x's, so they are left out until x has revoked
		* them. */
	       "scenario general\n"
	       "member x a:2,a:3\n"
	       "member y -\n"
	       "member z -\n"
	       "end\n");
	/* Nobody owned anything: nothing to wait for. */
	expect("scenario general2 cooperative-sticky\n"
	       "topic a 4\n"
	       "topic b 2\n"
	       "member x - -1 - a,b -\n"
	       "member y - -1 - a -\n"
	       "member z - -1 - b -\n"
	       "end\n",
	       /* Partition by partition to the least loaded subscriber,
		* by member id among equals: 2/2/2. */
	       "scenario general2\n"
	       "member x a:0,a:2\n"
	       "member y a:1,a:3\n"
	       "member z b:0,b:1\n"
	       "end\n");
}
END_TEST

START_TEST(java_string_hash)
{
	ck_assert_uint_eq(kf_assignor_java_hash(""), 0);
	ck_assert_uint_eq(kf_assignor_java_hash(NULL), 0);
	ck_assert_uint_eq(kf_assignor_java_hash("hello"), 99162322u);
	ck_assert_uint_eq(kf_assignor_java_hash("consumer-1"), 4128728090u);
	ck_assert_uint_eq(kf_assignor_java_hash("\xc3\xbc"), 252u); /* U+00FC */
	/* U+1F600 is two UTF-16 units, D83D DE00: 31 * 0xD83D + 0xDE00 */
	ck_assert_uint_eq(kf_assignor_java_hash("\xf0\x9f\x98\x80"), 1772899u);
}
END_TEST

START_TEST(protocol_names)
{
	enum kf_assignor_id id = KF_ASSIGNOR_RANGE;
	const char *names[KF_ASSIGNOR_COUNT];

	ck_assert_int_eq(kf_assignor_lookup("cooperative-sticky", &id), KF_OK);
	ck_assert_int_eq(id, KF_ASSIGNOR_COOPERATIVE_STICKY);
	ck_assert_str_eq(kf_assignor_name(id), "cooperative-sticky");
	ck_assert(kf_assignor_cooperative(id));
	ck_assert(!kf_assignor_cooperative(KF_ASSIGNOR_RANGE));
	ck_assert(!kf_assignor_cooperative(KF_ASSIGNOR_ROUNDROBIN));
	/* Configured alone, it is offered alone: an eager protocol beside
	 * it would make the member eager. */
	ck_assert_int_eq(kf_assignor_protocols("cooperative-sticky", names), 1);
	ck_assert_str_eq(names[0], "cooperative-sticky");
}
END_TEST

Suite *suite_sticky(void)
{
	Suite *s = suite_create("sticky");
	TCase *tc = tcase_create("java");

	tcase_add_test(tc, java_fresh);
	tcase_add_test(tc, java_withhold);
	tcase_add_test(tc, java_hash_order);
	tcase_add_test(tc, java_double_claim);
	tcase_add_test(tc, java_generations);
	tcase_add_test(tc, general_path);
	tcase_add_test(tc, java_string_hash);
	tcase_add_test(tc, protocol_names);
	suite_add_tcase(s, tc);
	return s;
}
