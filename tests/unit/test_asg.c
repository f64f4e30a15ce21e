/*
 * asg: a member's own assignment: decoding SyncGroup's bytes, what a
 * cooperative generation adds and revokes, OwnedPartitions.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asg.h"
#include "proto_group.h"
#include "wire.h"
#include "suites.h"

/* "t:0,t:3,u:1" into a (topic names in a's arena). */
static void fill(struct kf_asg *a, const char *list)
{
	char buf[512], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	a->tps = kf_arena_alloc(&a->arena, 64 * sizeof(*a->tps));
	a->n = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');

		*colon = 0;
		a->tps[a->n].topic = kf_arena_strndup(&a->arena, tok, strlen(tok));
		a->tps[a->n].partition = atoi(colon + 1);
		a->tps[a->n++].offset = -1;
	}
}

static void fmt(const struct kf_group_tp *tps, int n, char *out, size_t len)
{
	size_t off = 0;

	out[0] = 0;
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s:%d", i ? "," : "",
					tps[i].topic, tps[i].partition);
}

static void diff(const char *old_list, const char *new_list, const char *want_added,
		 const char *want_kept, const char *want_revoked)
{
	struct kf_asg old, nw, rev;
	char got[512];
	int nadded = -1;

	kf_asg_init(&old);
	kf_asg_init(&nw);
	kf_asg_init(&rev);
	fill(&old, old_list);
	fill(&nw, new_list);
	ck_assert_int_eq(kf_asg_diff(&nw, &old, &rev, &nadded), KF_OK);
	fmt(nw.tps, nadded, got, sizeof(got));
	ck_assert_str_eq(got, want_added);
	fmt(nw.tps + nadded, nw.n - nadded, got, sizeof(got));
	ck_assert_str_eq(got, want_kept);
	fmt(rev.tps, rev.n, got, sizeof(got));
	ck_assert_str_eq(got, want_revoked);
	/* revoked owns its names: old can go first */
	kf_asg_free(&old);
	fmt(rev.tps, rev.n, got, sizeof(got));
	ck_assert_str_eq(got, want_revoked);
	kf_asg_free(&nw);
	kf_asg_free(&rev);
}

START_TEST(diffs)
{
	diff("", "t:0,t:1", "t:0,t:1", "", "");
	diff("t:0,t:1", "", "", "", "t:0,t:1");
	diff("t:0,t:1,t:2", "t:2,t:0", "", "t:0,t:2", "t:1");
	diff("t:0,u:1", "u:1,u:0,t:5", "t:5,u:0", "u:1", "t:0");
	/* partition 10 sorts after 9 (numbers, not strings) */
	diff("t:9", "t:10,t:9", "t:10", "t:9", "");
	/* listed twice: once */
	diff("t:1", "t:1,t:1,t:2,t:2", "t:2", "t:1", "");
}
END_TEST

START_TEST(owned_and_decode)
{
	struct kf_asg a, back;
	struct kf_arena ar;
	struct kf_array owned;
	struct kf_consumer_assignment ca = { .user_data = { NULL, -1 } };
	struct kf_wr w;
	char got[512];

	kf_asg_init(&a);
	kf_asg_init(&back);
	kf_arena_init(&ar);
	fill(&a, "u:3,t:2,u:1,t:0");
	ck_assert_int_eq(kf_asg_owned(a.tps, a.n, &ar, &owned), KF_OK);
	ck_assert_int_eq(owned.n, 2);
	ck_assert_str_eq(KF_AT(owned, struct kf_consumer_topic_partitions, 0).topic, "t");
	ck_assert_int_eq(KF_AT(owned, struct kf_consumer_topic_partitions, 1).partitions.n, 2);

	/* The same list as SyncGroup would carry it, decoded back. */
	ca.assigned_partitions = owned;
	kf_wr_init(&w);
	ck_assert_int_eq(kf_consumer_assignment_encode(&w, 3, &ca), KF_OK);
	ck_assert_int_eq(kf_asg_decode(&back, &(struct kf_bytes){ w.buf, (int32_t)w.len }), KF_OK);
	fmt(back.tps, back.n, got, sizeof(got));
	ck_assert_str_eq(got, "t:0,t:2,u:1,u:3");
	ck_assert_int_eq(back.tps[0].offset, -1);
	kf_wr_free(&w);

	/* none, and garbage */
	kf_asg_free(&back);
	ck_assert_int_eq(kf_asg_decode(&back, &(struct kf_bytes){ NULL, -1 }), KF_OK);
	ck_assert_int_eq(back.n, 0);
	ck_assert_int_ne(kf_asg_decode(&back, &(struct kf_bytes){ (const uint8_t *)"\0\3\0\0\0\7x", 7 }),
			 KF_OK);
	ck_assert_int_eq(back.n, 0);
	ck_assert_int_eq(kf_asg_owned(NULL, 0, &ar, &owned), KF_OK);
	ck_assert_int_eq(owned.n, 0);

	/* move */
	kf_asg_move(&back, &a);
	ck_assert_int_eq(back.n, 4);
	ck_assert_int_eq(a.n, 0);
	kf_asg_free(&back);
	kf_asg_free(&a);
	kf_arena_free(&ar);
}
END_TEST

Suite *suite_asg(void)
{
	Suite *s = suite_create("asg");
	TCase *tc = tcase_create("asg");

	tcase_add_test(tc, diffs);
	tcase_add_test(tc, owned_and_decode);
	suite_add_tcase(s, tc);
	return s;
}
