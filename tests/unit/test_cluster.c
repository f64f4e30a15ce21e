/*
 * cluster: the topic-id table fed by Metadata answers (KIP-516): ids are
 * recorded, looked up both ways, a changed id is reported once as a topic
 * deleted and created again; a Metadata answer with a top-level error
 * (v13+) is not used, and REBOOTSTRAP_REQUIRED forgets the brokers.  Also
 * Kafka's text form of a topic id.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "err.h"
#include "proto_msgs.h"
#include "suites.h"

START_TEST(uuid_text)
{
	struct kf_uuid id;
	char out[23];
	for (int i = 0; i < 16; i++)
		id.b[i] = (uint8_t)i;
	kf_uuid_format(&id, out);
	/* base64 of 00..0f is AAECAwQFBgcICQoLDA0ODw==; Kafka drops the padding */
	ck_assert_str_eq(out, "AAECAwQFBgcICQoLDA0ODw");
	memset(&id, 0xff, sizeof(id));
	kf_uuid_format(&id, out);
	ck_assert_str_eq(out, "_____________________w"); /* URL-safe alphabet */
	ck_assert(!kf_uuid_is_zero(&id));
	memset(&id, 0, sizeof(id));
	ck_assert(kf_uuid_is_zero(&id));
}
END_TEST

struct md_build {
	struct kf_metadata_resp md;
	struct kf_metadata_resp_broker brokers[2];
	struct kf_metadata_resp_topic topics[3];
};

static void md_init(struct md_build *b, int ntopics)
{
	memset(b, 0, sizeof(*b));
	b->brokers[0] = (struct kf_metadata_resp_broker){ 1, "127.0.0.1", 9092, NULL };
	b->brokers[1] = (struct kf_metadata_resp_broker){ 2, "127.0.0.1", 9093, NULL };
	b->md.brokers = (struct kf_array){ b->brokers, 2 };
	b->md.topics = (struct kf_array){ b->topics, ntopics };
}

static int recreated;
static char recreated_topic[64];

static void on_recreated(void *opaque, const char *topic)
{
	(void)opaque;
	recreated++;
	snprintf(recreated_topic, sizeof(recreated_topic), "%s", topic);
}

START_TEST(topic_ids)
{
	char err[128];
	struct kf_cluster_opts o = { .bootstrap = "127.0.0.1:1" };
	struct kf_cluster *cl = kf_cluster_new(NULL, NULL, &o, err, sizeof(err));
	ck_assert_ptr_nonnull(cl);
	kf_cluster_on_topic_recreated(cl, on_recreated, NULL);
	recreated = 0;

	struct md_build b;
	md_init(&b, 3);
	b.topics[0].name = "a";
	b.topics[0].topic_id.b[0] = 1;
	b.topics[1].name = "b"; /* no id: a broker before 2.8, or Metadata < v10 */
	b.topics[2].name = "c";
	b.topics[2].topic_id.b[0] = 3;
	b.topics[2].error_code = KF_KERR_UNKNOWN_TOPIC_OR_PARTITION; /* not recorded */
	ck_assert_int_eq(kf_cluster_set_brokers(cl, &b.md), KF_OK);
	ck_assert_int_eq(kf_cluster_broker_count(cl), 2);

	struct kf_uuid id;
	ck_assert(kf_cluster_topic_id(cl, "a", &id));
	ck_assert_int_eq(id.b[0], 1);
	ck_assert(!kf_cluster_topic_id(cl, "b", &id));
	ck_assert(!kf_cluster_topic_id(cl, "c", &id));
	ck_assert_str_eq(kf_cluster_topic_name(cl, &id), "a");
	id.b[0] = 9;
	ck_assert_ptr_null(kf_cluster_topic_name(cl, &id));

	/* The same id again is no news; a new one is a topic made again. */
	ck_assert_int_eq(kf_cluster_set_brokers(cl, &b.md), KF_OK);
	ck_assert_int_eq(recreated, 0);
	b.topics[0].topic_id.b[0] = 2;
	ck_assert_int_eq(kf_cluster_set_brokers(cl, &b.md), KF_OK);
	ck_assert_int_eq(recreated, 1);
	ck_assert_str_eq(recreated_topic, "a");
	ck_assert(kf_cluster_topic_id(cl, "a", &id));
	ck_assert_int_eq(id.b[0], 2);
	ck_assert_int_eq(kf_cluster_set_brokers(cl, &b.md), KF_OK);
	ck_assert_int_eq(recreated, 1);

	/* Many topics: the table grows. */
	char names[40][8];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "t%d", i);
		md_init(&b, 1);
		b.topics[0].name = names[i];
		b.topics[0].topic_id.b[15] = (uint8_t)(i + 1);
		ck_assert_int_eq(kf_cluster_set_brokers(cl, &b.md), KF_OK);
	}
	for (int i = 0; i < 40; i++) {
		ck_assert(kf_cluster_topic_id(cl, names[i], &id));
		ck_assert_int_eq(id.b[15], i + 1);
	}
	ck_assert(kf_cluster_topic_id(cl, "a", &id));
	kf_cluster_free(cl);
}
END_TEST

START_TEST(metadata_top_level_error)
{
	char err[128];
	struct kf_cluster_opts o = { .bootstrap = "127.0.0.1:1" };
	struct kf_cluster *cl = kf_cluster_new(NULL, NULL, &o, err, sizeof(err));
	ck_assert_ptr_nonnull(cl);
	struct md_build b;
	md_init(&b, 0);
	ck_assert_int_eq(kf_cluster_set_brokers(cl, &b.md), KF_OK);
	ck_assert_int_eq(kf_cluster_broker_count(cl), 2);

	/* Any other top-level error: the answer is not used, brokers kept. */
	md_init(&b, 0);
	b.md.brokers.n = 0;
	b.md.error_code = KF_KERR_UNKNOWN_SERVER_ERROR;
	ck_assert_int_eq(kf_cluster_set_brokers(cl, &b.md), KF_EAGAIN);
	ck_assert_int_eq(kf_cluster_broker_count(cl), 2);

	/* KIP-1102: start over from the bootstrap addresses. */
	b.md.error_code = KF_KERR_REBOOTSTRAP_REQUIRED;
	ck_assert_int_eq(kf_cluster_set_brokers(cl, &b.md), KF_EAGAIN);
	ck_assert_int_eq(kf_cluster_broker_count(cl), 0);
	kf_cluster_free(cl);
}
END_TEST

Suite *suite_cluster(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("cluster");
	tcase_add_test(tc, uuid_text);
	tcase_add_test(tc, topic_ids);
	tcase_add_test(tc, metadata_top_level_error);
	suite_add_tcase(s, tc);
	return s;
}
