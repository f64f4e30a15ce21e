/*
 * req: requests on their owner's list (unlinked when freed in any order),
 * detached when the owner goes away (owner NULL, each callback run, freed
 * later without the list), the embedded struct found again from any
 * offset, the arena helpers and their sticky out-of-memory mark, and the
 * Metadata request and answer lookup both owners share.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "proto.h"
#include "proto_msgs.h"
#include "req.h"
#include "suites.h"

/* An owner's request type with the kf_req not first, as a check that
 * kf_req_free frees the block it sits in. */
struct oreq {
	int tag;
	char pad[40];
	struct kf_req base;
	struct kf_metadata_req md;
};

static int list_len(const struct kf_req_list *l)
{
	int n = 0;
	for (const struct kf_req *r = l->head; r; r = r->next) {
		ck_assert_ptr_eq(r->list, l);
		ck_assert(r->next == NULL || r->next->prev == r);
		n++;
	}
	ck_assert(l->head == NULL || l->head->prev == NULL);
	return n;
}

static struct oreq *onew(struct kf_req_list *l, void *owner, int tag)
{
	struct oreq *q = KF_REQ_NEW(l, owner, struct oreq, base);
	ck_assert_ptr_nonnull(q);
	q->tag = tag;
	return q;
}

START_TEST(list_in_any_order)
{
	struct kf_req_list l = { 0 };
	int owner;
	struct oreq *a = onew(&l, &owner, 1), *b = onew(&l, &owner, 2), *c = onew(&l, &owner, 3);
	ck_assert_int_eq(list_len(&l), 3);
	ck_assert_ptr_eq(l.head, &c->base); /* the newest first */
	ck_assert_ptr_eq(kf_req_owner(&a->base), &owner);
	ck_assert_ptr_eq(KF_REQ_OF(&b->base, struct oreq, base), b);
	ck_assert_int_eq(KF_REQ_OF(l.head->next, struct oreq, base)->tag, 2);
	/* Zeroed apart from what kf_req_new set. */
	ck_assert_int_eq(b->pad[0], 0);
	ck_assert_ptr_null(b->md.topics.v);
	ck_assert(!kf_req_nomem(&b->base));

	kf_req_free(&b->base); /* the middle */
	ck_assert_int_eq(list_len(&l), 2);
	ck_assert_ptr_eq(l.head->next, &a->base);
	kf_req_free(&c->base); /* the head */
	ck_assert_int_eq(list_len(&l), 1);
	ck_assert_ptr_eq(l.head, &a->base);
	kf_req_free(&a->base); /* the last */
	ck_assert_ptr_null(l.head);
	kf_req_free(NULL);
}
END_TEST

static int each_calls, each_owned;
static struct kf_req *each_keep;

static void each_req(struct kf_req *r)
{
	each_calls++;
	each_owned += kf_req_owner(r) != NULL;
	/* Free all but one from here, as the group does with a refused commit. */
	if (KF_REQ_OF(r, struct oreq, base)->tag != 2)
		kf_req_free(r);
	else
		each_keep = r;
}

START_TEST(detach_when_the_owner_goes)
{
	struct kf_req_list *l = calloc(1, sizeof(*l));
	ck_assert_ptr_nonnull(l);
	int owner;
	for (int i = 1; i <= 3; i++)
		onew(l, &owner, i);
	each_calls = each_owned = 0;
	each_keep = NULL;
	kf_req_detach_all(l, each_req);
	ck_assert_int_eq(each_calls, 3);
	ck_assert_int_eq(each_owned, 0); /* detached before each runs */
	ck_assert_ptr_null(l->head);
	/* The owner and its list are gone; the answer comes later. */
	free(l);
	ck_assert_ptr_nonnull(each_keep);
	ck_assert_ptr_null(kf_req_owner(each_keep));
	ck_assert_ptr_null(each_keep->list);
	ck_assert_ptr_null(each_keep->prev);
	ck_assert_ptr_null(each_keep->next);
	ck_assert_ptr_nonnull(kf_req_strdup(each_keep, "still usable"));
	kf_req_free(each_keep);

	/* Without a callback; an empty list too. */
	struct kf_req_list l2 = { 0 };
	struct oreq *q = onew(&l2, &owner, 4);
	kf_req_detach_all(&l2, NULL);
	ck_assert_ptr_null(l2.head);
	ck_assert_ptr_null(kf_req_owner(&q->base));
	struct oreq *r = onew(&l2, &owner, 5); /* the list is usable again */
	ck_assert_int_eq(list_len(&l2), 1);
	kf_req_free(&q->base);
	ck_assert_int_eq(list_len(&l2), 1); /* a detached request leaves it alone */
	kf_req_free(&r->base);
	ck_assert_ptr_null(l2.head);
	kf_req_detach_all(&l2, each_req);
}
END_TEST

START_TEST(arena_helpers)
{
	struct kf_req_list l = { 0 };
	struct oreq *q = onew(&l, NULL, 1);
	struct kf_req *r = &q->base;
	ck_assert_ptr_null(kf_req_owner(r));
	char src[] = "topic";
	char *d = kf_req_strdup(r, src);
	src[0] = 'x';
	ck_assert_str_eq(d, "topic");
	ck_assert_ptr_null(kf_req_strdup(r, NULL)); /* not a failure */
	ck_assert(!kf_req_nomem(r));
	uint8_t *z = kf_req_alloc(r, 64);
	ck_assert_ptr_nonnull(z);
	for (int i = 0; i < 64; i++)
		ck_assert_int_eq(z[i], 0);
	struct kf_metadata_req_topic *ts = kf_req_array(r, kf_api_metadata.req, &q->md, "Topics", 2);
	ck_assert_ptr_nonnull(ts);
	ck_assert_ptr_eq(q->md.topics.v, ts);
	ck_assert_int_eq(q->md.topics.n, 2);
	ck_assert(!kf_req_nomem(r));
	/* A failure marks the request, and the mark stays. */
	ck_assert_ptr_null(kf_req_array(r, kf_api_metadata.req, &q->md, "NoSuchField", 1));
	ck_assert(kf_req_nomem(r));
	ck_assert_ptr_nonnull(kf_req_strdup(r, "later"));
	ck_assert(kf_req_nomem(r));
	kf_req_free(r);
	ck_assert_ptr_null(l.head);
}
END_TEST

START_TEST(metadata_request)
{
	struct kf_req_list l = { 0 };
	struct oreq *q = onew(&l, NULL, 1);
	char a[] = "alpha", b[] = "beta";
	const char *topics[] = { a, b, a };
	ck_assert_int_eq(kf_req_metadata(&q->base, &q->md, topics, 3), KF_OK);
	a[0] = 'X'; /* copied */
	ck_assert_int_eq(q->md.topics.n, 3); /* as given, in order */
	ck_assert_str_eq(KF_AT(q->md.topics, struct kf_metadata_req_topic, 0).name, "alpha");
	ck_assert_str_eq(KF_AT(q->md.topics, struct kf_metadata_req_topic, 1).name, "beta");
	ck_assert_str_eq(KF_AT(q->md.topics, struct kf_metadata_req_topic, 2).name, "alpha");
	ck_assert_int_eq(q->md.allow_auto_topic_creation, 0);
	kf_req_free(&q->base);

	/* No topics: an empty array (no topics at all), not a null one (all). */
	q = onew(&l, NULL, 2);
	ck_assert_int_eq(kf_req_metadata(&q->base, &q->md, NULL, 0), KF_OK);
	ck_assert_ptr_nonnull(q->md.topics.v);
	ck_assert_int_eq(q->md.topics.n, 0);
	kf_req_free(&q->base);
}
END_TEST

START_TEST(metadata_lookup)
{
	struct kf_metadata_resp_topic ts[4];
	memset(ts, 0, sizeof(ts));
	ts[0].name = NULL; /* v12+ may answer by id only */
	ts[1].name = "a";
	ts[1].error_code = KF_KERR_UNKNOWN_TOPIC_OR_PARTITION;
	ts[2].name = "b";
	ts[2].partitions.n = 3;
	ts[3].name = "b"; /* a duplicate: the first one counts */
	struct kf_metadata_resp md;
	memset(&md, 0, sizeof(md));
	md.topics.v = ts;
	md.topics.n = 4;
	ck_assert_ptr_eq(kf_req_metadata_topic(&md, "a"), &ts[1]);
	ck_assert_ptr_eq(kf_req_metadata_topic(&md, "b"), &ts[2]);
	ck_assert_ptr_null(kf_req_metadata_topic(&md, "c"));
	ck_assert_ptr_null(kf_req_metadata_topic(&md, ""));
	md.topics.n = 0;
	ck_assert_ptr_null(kf_req_metadata_topic(&md, "a"));
}
END_TEST

Suite *suite_req(void)
{
	Suite *s = suite_create("req");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, list_in_any_order);
	tcase_add_test(tc, detach_when_the_owner_goes);
	tcase_add_test(tc, arena_helpers);
	tcase_add_test(tc, metadata_request);
	tcase_add_test(tc, metadata_lookup);
	suite_add_tcase(s, tc);
	return s;
}
