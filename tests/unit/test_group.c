/*
 * proto_group: the consumer-group API schemas and the ConsumerProtocol
 * payloads.
 *
 * The round trips do not trust the schema tables: each message has an
 * expectation table written from Kafka's JSON definitions (value, versions
 * the field is on the wire, what reads back when it is not), so a field put
 * in the wrong version range fails here even though encoder and decoder use
 * the same table.  Byte-exact golden vectors of the APIs are in
 * test_golden.c; the ConsumerProtocol vectors below were written by hand
 * from ConsumerProtocol{Subscription,Assignment}.json.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_apis.h"
#include "proto_cgroup.h"
#include "proto_msgs.h"
#include "proto_group.h"
#include "suites.h"

#define UUID_A "000102030405060708090a0b0c0d0e0f"
#define UUID_0 "00000000000000000000000000000000"
#define FAIL "!" /* kf_proto_get must fail: the enclosing array is absent */

/* One field of a populated message: set to val, read back as val in
 * versions lo..hi, as absent (or FAIL) in the others; FAIL too outside
 * clo..chi, the versions of the array holding it (none when chi is 0). */
struct expect {
	const char *path;
	const char *val;
	int lo, hi;
	const char *absent;
	int clo, chi;
};

/* A nullable field set to null (val): reads back as got_null from version
 * nl, got_nonnull in lo..nl-1 (sent as empty), absent outside lo..hi. */
struct expect_null {
	const char *path;
	const char *val;
	int lo, hi, nl;
	const char *got_null, *got_nonnull, *absent;
	int clo, chi;
};

struct msg_case {
	const struct kf_api *api;
	bool resp;
	const struct expect *ex;
	size_t nex;
	const struct expect_null *nul;
	size_t nnul;
};

#define V 127
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ expectations */

static const struct expect join_req_ex[] = {
	{ "GroupId", "grp", 0, V, NULL, 0, 0 },
	{ "SessionTimeoutMs", "45000", 0, V, NULL, 0, 0 },
	{ "RebalanceTimeoutMs", "300000", 1, V, "-1", 0, 0 },
	{ "MemberId", "m-1", 0, V, NULL, 0, 0 },
	{ "GroupInstanceId", "inst", 5, V, "null", 0, 0 },
	{ "ProtocolType", "consumer", 0, V, NULL, 0, 0 },
	{ "Protocols[0].Name", "range", 0, V, NULL, 0, 0 },
	{ "Protocols[0].Metadata", "0001ff", 0, V, NULL, 0, 0 },
	{ "Protocols[1].Name", "roundrobin", 0, V, NULL, 0, 0 },
	{ "Protocols[1].Metadata", "", 0, V, NULL, 0, 0 },
	{ "Protocols#", "2", 0, V, NULL, 0, 0 },
	{ "Reason", "rejoin", 8, V, "null", 0, 0 },
};
static const struct expect_null join_req_nul[] = {
	{ "GroupInstanceId", "null", 5, V, 5, "null", "", "null", 0, 0 },
	{ "Reason", "null", 8, V, 8, "null", "", "null", 0, 0 },
};

static const struct expect join_resp_ex[] = {
	{ "ThrottleTimeMs", "7", 2, V, "0", 0, 0 },
	{ "ErrorCode", "79", 0, V, NULL, 0, 0 },
	{ "GenerationId", "12", 0, V, NULL, 0, 0 },
	{ "ProtocolType", "consumer", 7, V, "null", 0, 0 },
	{ "ProtocolName", "range", 0, V, NULL, 0, 0 },
	{ "Leader", "m-1", 0, V, NULL, 0, 0 },
	{ "SkipAssignment", "1", 9, V, "0", 0, 0 },
	{ "MemberId", "m-2", 0, V, NULL, 0, 0 },
	{ "Members[0].MemberId", "m-1", 0, V, NULL, 0, 0 },
	{ "Members[0].GroupInstanceId", "i-1", 5, V, "null", 0, 0 },
	{ "Members[0].Metadata", "000300", 0, V, NULL, 0, 0 },
	{ "Members[1].MemberId", "m-2", 0, V, NULL, 0, 0 },
	{ "Members#", "2", 0, V, NULL, 0, 0 },
};
static const struct expect_null join_resp_nul[] = {
	{ "ProtocolType", "null", 7, V, 7, "null", "", "null", 0, 0 },
	/* v0-6 have no null ProtocolName: it goes out as "". */
	{ "ProtocolName", "null", 0, V, 7, "null", "", NULL, 0, 0 },
	{ "Members[0].GroupInstanceId", "null", 5, V, 5, "null", "", "null", 0, 0 },
};

static const struct expect sync_req_ex[] = {
	{ "GroupId", "grp", 0, V, NULL, 0, 0 },
	{ "GenerationId", "12", 0, V, NULL, 0, 0 },
	{ "MemberId", "m-1", 0, V, NULL, 0, 0 },
	{ "GroupInstanceId", "inst", 3, V, "null", 0, 0 },
	{ "ProtocolType", "consumer", 5, V, "null", 0, 0 },
	{ "ProtocolName", "range", 5, V, "null", 0, 0 },
	{ "Assignments[0].MemberId", "m-1", 0, V, NULL, 0, 0 },
	{ "Assignments[0].Assignment", "00000001", 0, V, NULL, 0, 0 },
	{ "Assignments#", "1", 0, V, NULL, 0, 0 },
};
static const struct expect_null sync_req_nul[] = {
	{ "GroupInstanceId", "null", 3, V, 3, "null", "", "null", 0, 0 },
	{ "ProtocolType", "null", 5, V, 5, "null", "", "null", 0, 0 },
	{ "ProtocolName", "null", 5, V, 5, "null", "", "null", 0, 0 },
};

static const struct expect sync_resp_ex[] = {
	{ "ThrottleTimeMs", "3", 1, V, "0", 0, 0 },
	{ "ErrorCode", "27", 0, V, NULL, 0, 0 },
	{ "ProtocolType", "consumer", 5, V, "null", 0, 0 },
	{ "ProtocolName", "range", 5, V, "null", 0, 0 },
	{ "Assignment", "0003", 0, V, NULL, 0, 0 },
};
static const struct expect_null sync_resp_nul[] = {
	{ "ProtocolType", "null", 5, V, 5, "null", "", "null", 0, 0 },
	{ "ProtocolName", "null", 5, V, 5, "null", "", "null", 0, 0 },
};

static const struct expect hb_req_ex[] = {
	{ "GroupId", "grp", 0, V, NULL, 0, 0 },
	{ "GenerationId", "3", 0, V, NULL, 0, 0 },
	{ "MemberId", "m-1", 0, V, NULL, 0, 0 },
	{ "GroupInstanceId", "inst", 3, V, "null", 0, 0 },
};
static const struct expect_null hb_req_nul[] = {
	{ "GroupInstanceId", "null", 3, V, 3, "null", "", "null", 0, 0 },
};

static const struct expect hb_resp_ex[] = {
	{ "ThrottleTimeMs", "9", 1, V, "0", 0, 0 },
	{ "ErrorCode", "27", 0, V, NULL, 0, 0 },
};

static const struct expect leave_req_ex[] = {
	{ "GroupId", "grp", 0, V, NULL, 0, 0 },
	{ "MemberId", "m-0", 0, 2, "null", 0, 0 },
	{ "Members[0].MemberId", "m-1", 3, V, FAIL, 0, 0 },
	{ "Members[0].GroupInstanceId", "inst", 3, V, FAIL, 0, 0 },
	{ "Members[0].Reason", "bye", 5, V, "null", 3, V },
	{ "Members[1].MemberId", "m-2", 3, V, FAIL, 0, 0 },
	{ "Members#", "2", 3, V, "0", 0, 0 },
};
static const struct expect_null leave_req_nul[] = {
	{ "Members[0].GroupInstanceId", "null", 3, V, 3, "null", "", FAIL, 0, 0 },
	{ "Members[0].Reason", "null", 5, V, 5, "null", "", "null", 3, V },
};

static const struct expect leave_resp_ex[] = {
	{ "ThrottleTimeMs", "1", 1, V, "0", 0, 0 },
	{ "ErrorCode", "0", 0, V, NULL, 0, 0 },
	{ "Members[0].MemberId", "m-1", 3, V, FAIL, 0, 0 },
	{ "Members[0].GroupInstanceId", "inst", 3, V, FAIL, 0, 0 },
	{ "Members[0].ErrorCode", "25", 3, V, FAIL, 0, 0 },
	{ "Members#", "1", 3, V, "0", 0, 0 },
};
static const struct expect_null leave_resp_nul[] = {
	{ "Members[0].GroupInstanceId", "null", 3, V, 3, "null", "", FAIL, 0, 0 },
};

static const struct expect of_req_ex[] = {
	{ "GroupId", "grp", 0, 7, "null", 0, 0 },
	{ "Topics[0].Name", "t1", 0, 7, FAIL, 0, 0 },
	{ "Topics[0].PartitionIndexes[1]", "5", 0, 7, FAIL, 0, 0 },
	{ "Topics[0].PartitionIndexes#", "2", 0, 7, FAIL, 0, 0 },
	{ "Topics#", "1", 0, 7, "0", 0, 0 },
	{ "Groups#", "1", 8, V, "0", 0, 0 },
	{ "Groups[0].GroupId", "grp", 8, V, FAIL, 0, 0 },
	{ "Groups[0].MemberId", "mem", 9, V, "null", 8, V },
	{ "Groups[0].MemberEpoch", "4", 9, V, "-1", 8, V },
	{ "Groups[0].Topics[0].Name", "t1", 8, 9, "null", 8, V },
	{ "Groups[0].Topics[0].TopicId", UUID_A, 10, V, UUID_0, 8, V },
	{ "Groups[0].Topics[0].PartitionIndexes[0]", "3", 8, V, FAIL, 0, 0 },
	{ "RequireStable", "1", 7, V, "0", 0, 0 },
};
static const struct expect_null of_req_nul[] = {
	/* v1: an empty array (= no topics); v2-7: null (= all topics). */
	{ "Topics#", "-1", 0, 7, 2, "-1", "0", "0", 0, 0 },
	{ "Groups[0].Topics#", "-1", 8, V, 8, "-1", "0", FAIL, 0, 0 },
	{ "Groups[0].MemberId", "null", 9, V, 9, "null", "", "null", 8, V },
};

static const struct expect of_resp_ex[] = {
	{ "ThrottleTimeMs", "5", 3, V, "0", 0, 0 },
	{ "Topics[0].Name", "t1", 0, 7, FAIL, 0, 0 },
	{ "Topics[0].Partitions[0].PartitionIndex", "2", 0, 7, FAIL, 0, 0 },
	{ "Topics[0].Partitions[0].CommittedOffset", "1000", 0, 7, FAIL, 0, 0 },
	{ "Topics[0].Partitions[0].CommittedLeaderEpoch", "9", 5, 7, "-1", 0, 7 },
	{ "Topics[0].Partitions[0].Metadata", "md", 0, 7, FAIL, 0, 0 },
	{ "Topics[0].Partitions[0].ErrorCode", "88", 0, 7, FAIL, 0, 0 },
	{ "Topics#", "1", 0, 7, "0", 0, 0 },
	{ "ErrorCode", "16", 2, 7, "0", 0, 0 },
	{ "Groups[0].GroupId", "grp", 8, V, FAIL, 0, 0 },
	{ "Groups[0].Topics[0].Name", "t1", 8, 9, "null", 8, V },
	{ "Groups[0].Topics[0].TopicId", UUID_A, 10, V, UUID_0, 8, V },
	{ "Groups[0].Topics[0].Partitions[0].PartitionIndex", "2", 8, V, FAIL, 0, 0 },
	{ "Groups[0].Topics[0].Partitions[0].CommittedOffset", "-1", 8, V, FAIL, 0, 0 },
	{ "Groups[0].Topics[0].Partitions[0].CommittedLeaderEpoch", "9", 8, V, FAIL, 0, 0 },
	{ "Groups[0].Topics[0].Partitions[0].Metadata", "md", 8, V, FAIL, 0, 0 },
	{ "Groups[0].Topics[0].Partitions[0].ErrorCode", "3", 8, V, FAIL, 0, 0 },
	{ "Groups[0].ErrorCode", "15", 8, V, FAIL, 0, 0 },
	{ "Groups#", "1", 8, V, "0", 0, 0 },
};
static const struct expect_null of_resp_nul[] = {
	{ "Topics[0].Partitions[0].Metadata", "null", 0, 7, 0, "null", "", FAIL, 0, 0 },
	{ "Groups[0].Topics[0].Partitions[0].Metadata", "null", 8, V, 8, "null", "", FAIL, 0, 0 },
};

static const struct expect oc_req_ex[] = {
	{ "GroupId", "grp", 0, V, NULL, 0, 0 },
	{ "GenerationIdOrMemberEpoch", "12", 1, V, NULL, 0, 0 },
	{ "MemberId", "m-1", 1, V, NULL, 0, 0 },
	{ "GroupInstanceId", "inst", 7, V, "null", 0, 0 },
	{ "RetentionTimeMs", "86400000", 2, 4, "-1", 0, 0 },
	{ "Topics[0].Name", "t1", 0, 9, "null", 0, 0 },
	{ "Topics[0].TopicId", UUID_A, 10, V, UUID_0, 0, 0 },
	{ "Topics[0].Partitions[0].PartitionIndex", "1", 0, V, NULL, 0, 0 },
	{ "Topics[0].Partitions[0].CommittedOffset", "42", 0, V, NULL, 0, 0 },
	{ "Topics[0].Partitions[0].CommittedLeaderEpoch", "3", 6, V, "-1", 0, 0 },
	{ "Topics[0].Partitions[0].CommittedMetadata", "md", 0, V, NULL, 0, 0 },
	{ "Topics[1].Name", "t2", 0, 9, "null", 0, 0 },
	{ "Topics[1].Partitions[1].CommittedOffset", "-7", 0, V, NULL, 0, 0 },
	{ "Topics[1].Partitions#", "2", 0, V, NULL, 0, 0 },
	{ "Topics#", "2", 0, V, NULL, 0, 0 },
};
static const struct expect_null oc_req_nul[] = {
	{ "GroupInstanceId", "null", 7, V, 7, "null", "", "null", 0, 0 },
	{ "Topics[0].Partitions[0].CommittedMetadata", "null", 0, V, 0, "null", "", NULL, 0, 0 },
};

static const struct expect oc_resp_ex[] = {
	{ "ThrottleTimeMs", "4", 3, V, "0", 0, 0 },
	{ "Topics[0].Name", "t1", 0, 9, "null", 0, 0 },
	{ "Topics[0].TopicId", UUID_A, 10, V, UUID_0, 0, 0 },
	{ "Topics[0].Partitions[0].PartitionIndex", "1", 0, V, NULL, 0, 0 },
	{ "Topics[0].Partitions[0].ErrorCode", "22", 0, V, NULL, 0, 0 },
	{ "Topics[0].Partitions#", "1", 0, V, NULL, 0, 0 },
};

#define CASE(api, resp, ex, nul) { &api, resp, ex, N(ex), nul, N(nul) }
static const struct expect_null none[1];

static const struct msg_case cases[] = {
	CASE(kf_api_join_group, false, join_req_ex, join_req_nul),
	CASE(kf_api_join_group, true, join_resp_ex, join_resp_nul),
	CASE(kf_api_sync_group, false, sync_req_ex, sync_req_nul),
	CASE(kf_api_sync_group, true, sync_resp_ex, sync_resp_nul),
	CASE(kf_api_heartbeat, false, hb_req_ex, hb_req_nul),
	{ &kf_api_heartbeat, true, hb_resp_ex, N(hb_resp_ex), none, 0 },
	CASE(kf_api_leave_group, false, leave_req_ex, leave_req_nul),
	CASE(kf_api_leave_group, true, leave_resp_ex, leave_resp_nul),
	CASE(kf_api_offset_fetch, false, of_req_ex, of_req_nul),
	CASE(kf_api_offset_fetch, true, of_resp_ex, of_resp_nul),
	CASE(kf_api_offset_commit, false, oc_req_ex, oc_req_nul),
	{ &kf_api_offset_commit, true, oc_resp_ex, N(oc_resp_ex), none, 0 },
};

/* ------------------------------------------------------------ round trips */

static const struct kf_schema *case_schema(const struct msg_case *c)
{
	return c->resp ? c->api->resp : c->api->req;
}

static void *populate(const struct msg_case *c, struct kf_arena *a, bool nulls)
{
	const struct kf_schema *s = case_schema(c);
	void *obj = kf_arena_alloc(a, s->size);
	ck_assert_ptr_nonnull(obj);
	kf_proto_defaults(s, obj);
	for (size_t i = 0; i < c->nex; i++)
		ck_assert_msg(kf_proto_set(s, obj, a, c->ex[i].path, c->ex[i].val) == KF_OK,
			      "%s: set %s", s->name, c->ex[i].path);
	for (size_t i = 0; nulls && i < c->nnul; i++)
		ck_assert_msg(kf_proto_set(s, obj, a, c->nul[i].path, c->nul[i].val) == KF_OK,
			      "%s: set %s null", s->name, c->nul[i].path);
	return obj;
}

/* Encode obj as a request frame and decode its body back with the request
 * schema, checking the frame's size and header on the way. */
static void *request_round_trip(const struct kf_api *api, int16_t v, const void *obj,
				struct kf_arena *a, struct kf_wr *wr)
{
	bool flex = kf_proto_flexible(api, v);
	ck_assert_int_eq(kf_proto_encode_request(wr, api, v, 77, "kf", obj), KF_OK);
	struct kf_rd rd;
	kf_rd_init(&rd, wr->buf, wr->len);
	ck_assert_int_eq(kf_rd_i32(&rd), (int32_t)wr->len - 4);
	ck_assert_int_eq(kf_rd_i16(&rd), api->key);
	ck_assert_int_eq(kf_rd_i16(&rd), v);
	ck_assert_int_eq(kf_rd_i32(&rd), 77);
	const uint8_t *cid;
	ck_assert_int_eq(kf_rd_string(&rd, &cid), 2);
	if (flex)
		kf_rd_skip_tags(&rd);
	void *out = kf_arena_alloc(a, api->req->size);
	ck_assert_int_eq(kf_proto_decode(&rd, api->req, v, flex, a, out), KF_OK);
	ck_assert_int_eq(kf_rd_left(&rd), 0);
	return out;
}

/* Encode obj as a response payload (header v0/v1 + body) and decode it the
 * way a client does. */
static void *response_round_trip(const struct kf_api *api, int16_t v, const void *obj,
				 struct kf_arena *a, struct kf_wr *wr)
{
	bool flex = kf_proto_flexible(api, v);
	kf_wr_i32(wr, 78);
	if (kf_proto_resp_header_version(api, v) == 1)
		kf_wr_uvarint(wr, 0);
	ck_assert_int_eq(kf_proto_encode(wr, api->resp, v, flex, obj), KF_OK);
	void *out = kf_arena_alloc(a, api->resp->size);
	int32_t corr = 0;
	char err[256] = "";
	int rc = kf_proto_decode_response(wr->buf, wr->len, api, v, a, out, &corr, err,
					  sizeof(err));
	ck_assert_msg(rc == KF_OK, "%s v%d: %s", api->name, v, err);
	ck_assert_int_eq(corr, 78);
	return out;
}

static void check_get(const struct kf_schema *s, const void *obj, int16_t v, const char *path,
		      const char *want)
{
	char got[128] = "";
	int rc = kf_proto_get(s, obj, path, got, sizeof(got));
	if (strcmp(want, FAIL) == 0) {
		ck_assert_msg(rc != KF_OK, "%s v%d %s: got \"%s\", want absent", s->name, v, path,
			      got);
		return;
	}
	ck_assert_msg(rc == KF_OK, "%s v%d %s: get failed", s->name, v, path);
	ck_assert_msg(strcmp(got, want) == 0, "%s v%d %s: got \"%s\", want \"%s\"", s->name, v,
		      path, got, want);
}

static const char *expected(const struct expect *e, int16_t v)
{
	if (e->chi && (v < e->clo || v > e->chi))
		return FAIL;
	if (v >= e->lo && v <= e->hi)
		return e->val;
	return e->absent;
}

static const char *expected_null(const struct expect_null *e, int16_t v)
{
	if (e->chi && (v < e->clo || v > e->chi))
		return FAIL;
	if (v < e->lo || v > e->hi)
		return e->absent;
	return v >= e->nl ? e->got_null : e->got_nonnull;
}

/* Encode at v, decode, and check every expectation (while wr, which the
 * decoded BYTES point into, is alive). */
static void round_trip(const struct msg_case *c, int16_t v, const void *obj, struct kf_arena *a,
		       bool nulls)
{
	struct kf_wr wr;
	kf_wr_init(&wr);
	void *out = c->resp ? response_round_trip(c->api, v, obj, a, &wr)
			    : request_round_trip(c->api, v, obj, a, &wr);
	const struct kf_schema *s = case_schema(c);
	for (size_t i = 0; !nulls && i < c->nex; i++) {
		const char *want = expected(&c->ex[i], v);
		if (want)
			check_get(s, out, v, c->ex[i].path, want);
	}
	for (size_t i = 0; nulls && i < c->nnul; i++) {
		const char *want = expected_null(&c->nul[i], v);
		if (want)
			check_get(s, out, v, c->nul[i].path, want);
	}
	kf_wr_free(&wr);
}

START_TEST(every_version_round_trips)
{
	const struct msg_case *c = &cases[_i];
	struct kf_arena a;
	kf_arena_init(&a);
	void *obj = populate(c, &a, false);
	for (int16_t v = c->api->vmin; v <= c->api->vmax; v++)
		round_trip(c, v, obj, &a, false);
	kf_arena_free(&a);
}
END_TEST

START_TEST(nulls_per_version)
{
	const struct msg_case *c = &cases[_i];
	struct kf_arena a;
	kf_arena_init(&a);
	void *obj = populate(c, &a, true);
	for (int16_t v = c->api->vmin; v <= c->api->vmax; v++)
		round_trip(c, v, obj, &a, true);
	kf_arena_free(&a);
}
END_TEST

/* A zeroed request with only defaults applied encodes at every version and
 * decodes to the JSON defaults. */
START_TEST(defaults_survive)
{
	struct kf_arena a;
	kf_arena_init(&a);
	struct kf_offset_commit_req oc;
	memset(&oc, 0, sizeof(oc));
	kf_proto_defaults(kf_api_offset_commit.req, &oc);
	ck_assert_int_eq(oc.generation_id_or_member_epoch, -1);
	ck_assert_int_eq(oc.retention_time_ms, -1);
	struct kf_join_group_resp jg;
	memset(&jg, 0, sizeof(jg));
	kf_proto_defaults(kf_api_join_group.resp, &jg);
	ck_assert_int_eq(jg.generation_id, -1);
	ck_assert_int_eq(jg.skip_assignment, 0);
	struct kf_join_group_req jr;
	memset(&jr, 0, sizeof(jr));
	kf_proto_defaults(kf_api_join_group.req, &jr);
	ck_assert_int_eq(jr.rebalance_timeout_ms, -1);
	struct kf_offset_fetch_req_group g;
	memset(&g, 0, sizeof(g));
	kf_proto_defaults(kf_proto_sub(kf_api_offset_fetch.req, "Groups"), &g);
	ck_assert_int_eq(g.member_epoch, -1);
	ck_assert_ptr_null(g.member_id);

	/* OffsetCommit v2 from defaults: RetentionTimeMs -1 goes out. */
	struct kf_wr wr;
	kf_wr_init(&wr);
	struct kf_offset_commit_req *out = request_round_trip(&kf_api_offset_commit, 2, &oc, &a,
							      &wr);
	ck_assert_int_eq(out->retention_time_ms, -1);
	ck_assert_int_eq(out->generation_id_or_member_epoch, -1);
	ck_assert_str_eq(out->group_id, "");
	ck_assert_int_eq(out->topics.n, 0);
	kf_wr_free(&wr);
	kf_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------ table sanity */

static const struct kf_api *const group_apis[] = {
	&kf_api_join_group, &kf_api_sync_group, &kf_api_heartbeat,
	&kf_api_leave_group, &kf_api_offset_fetch, &kf_api_offset_commit,
	&kf_api_consumer_group_heartbeat, &kf_api_consumer_group_describe,
};

static int vmax_of(int v)
{
	return v == KF_VMAX ? 32767 : v;
}

/* Every field of s must exist in some version of [lo, hi] (the versions its
 * container exists in), have a sane null range, and tags must ascend. */
static void check_schema(const struct kf_schema *s, int lo, int hi, int flex_min, int depth)
{
	ck_assert_int_lt(depth, 8);
	ck_assert_uint_gt(s->nfields, 0);
	int last_tag = -1;
	for (uint16_t i = 0; i < s->nfields; i++) {
		const struct kf_field *f = &s->fields[i];
		const char *n = f->name;
		ck_assert_msg(f->vmin >= 0 && f->vmin <= vmax_of(f->vmax), "%s.%s range", s->name, n);
		int flo = f->vmin > lo ? f->vmin : lo;
		int fhi = vmax_of(f->vmax) < hi ? vmax_of(f->vmax) : hi;
		ck_assert_msg(flo <= fhi, "%s.%s exists in no version %d-%d", s->name, n, lo, hi);
		ck_assert_msg(f->vmax == KF_VMAX || f->vmax <= hi, "%s.%s vmax", s->name, n);
		if (f->null_min != KF_NEVER)
			ck_assert_msg(f->null_min >= f->vmin && f->null_min <= vmax_of(f->vmax),
				      "%s.%s nullable range", s->name, n);
		if (f->tag >= 0) {
			ck_assert_msg(f->vmin >= flex_min, "%s.%s tagged below flexible", s->name, n);
			ck_assert_msg(f->tag > last_tag, "%s.%s tag order", s->name, n);
			last_tag = f->tag;
		}
		ck_assert_msg(f->off < s->size, "%s.%s offset", s->name, n);
		for (uint16_t j = 0; j < i; j++)
			ck_assert_msg(strcmp(s->fields[j].name, n) != 0, "%s.%s twice", s->name, n);
		/* proto.h: a nullable struct is nullable wherever it exists. */
		ck_assert_msg(f->type != KF_T_NSTRUCT || f->null_min <= flo, "%s.%s nullable struct",
			      s->name, n);
		bool has_sub = f->type == KF_T_STRUCT || f->type == KF_T_NSTRUCT ||
			       (f->type == KF_T_ARRAY && f->elem == KF_T_STRUCT);
		ck_assert_msg(has_sub == (f->sub != NULL), "%s.%s sub", s->name, n);
		if (has_sub)
			check_schema(f->sub, flo, fhi, flex_min, depth + 1);
	}
}

START_TEST(tables_consistent)
{
	for (size_t i = 0; i < N(group_apis); i++) {
		const struct kf_api *api = group_apis[i];
		ck_assert_ptr_eq(kf_proto_api(api->key), api);
		ck_assert_int_le(api->vmin, api->vmax);
		ck_assert_int_ge(api->flex_min, api->vmin);
		ck_assert_int_le(api->flex_min, api->vmax);
		ck_assert_int_eq(kf_proto_req_header_version(api, api->flex_min), 2);
		ck_assert_int_eq(kf_proto_req_header_version(api, api->flex_min - 1), 1);
		ck_assert_int_eq(kf_proto_resp_header_version(api, api->flex_min), 1);
		ck_assert_int_eq(kf_proto_resp_header_version(api, api->flex_min - 1), 0);
		check_schema(api->req, api->vmin, api->vmax, api->flex_min, 0);
		check_schema(api->resp, api->vmin, api->vmax, api->flex_min, 0);
	}
	check_schema(&kf_consumer_subscription_schema, 0, KF_CONSUMER_PROTOCOL_VMAX, KF_VMAX, 0);
	check_schema(&kf_consumer_assignment_schema, 0, KF_CONSUMER_PROTOCOL_VMAX, KF_VMAX, 0);
}
END_TEST

/* The versions and flexible floors the issue and the JSON fix. */
START_TEST(api_ranges)
{
	static const struct { const struct kf_api *api; int key, lo, hi, flex; } want[] = {
		{ &kf_api_join_group, 11, 0, 9, 6 },
		{ &kf_api_sync_group, 14, 0, 5, 4 },
		{ &kf_api_heartbeat, 12, 0, 4, 4 },
		{ &kf_api_leave_group, 13, 0, 5, 4 },
		{ &kf_api_offset_fetch, 9, 1, 10, 6 },
		{ &kf_api_offset_commit, 8, 2, 10, 8 },
	};
	for (size_t i = 0; i < N(want); i++) {
		ck_assert_int_eq(want[i].api->key, want[i].key);
		ck_assert_int_eq(want[i].api->vmin, want[i].lo);
		ck_assert_int_eq(want[i].api->vmax, want[i].hi);
		ck_assert_int_eq(want[i].api->flex_min, want[i].flex);
	}
}
END_TEST

/* ------------------------------------------------------------ ConsumerProtocol */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = strlen(h) / 2;
	ck_assert_uint_le(n, cap);
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
	return n;
}

static void check_bytes(const struct kf_wr *wr, const uint8_t *want, size_t n)
{
	ck_assert_uint_eq(wr->len, n);
	ck_assert_mem_eq(wr->buf, want, n);
}

/* Subscription v0: Topics ["a", "bc"], UserData null. */
#define SUB_V0 "0000" "00000002" "000161" "00026263" "ffffffff"
/* v1: Topics ["a"], UserData abcd, OwnedPartitions [{a, [0, 3]}]. */
#define SUB_V1 "0001" "00000001" "000161" "00000002" "abcd" \
	       "00000001" "000161" "00000002" "00000000" "00000003"
/* v3: Topics ["a"], UserData empty, OwnedPartitions [], GenerationId 5, RackId "r1". */
#define SUB_V3_BODY "00000001" "000161" "00000000" "00000000" "00000005" "0002" "7231"
#define SUB_V3 "0003" SUB_V3_BODY
/* Assignment v0: [{a, [1, 2]}], UserData null. */
#define ASG_V0 "0000" "00000001" "000161" "00000002" "00000001" "00000002" "ffffffff"
/* v3: [{a, [0]}, {bc, []}], UserData ff. */
#define ASG_V3 "0003" "00000002" "000161" "00000001" "00000000" "00026263" "00000000" \
	       "00000001" "ff"

static void sub_reencode(const struct kf_consumer_subscription *s, int16_t v, const uint8_t *b,
			 size_t n)
{
	struct kf_wr wr;
	kf_wr_init(&wr);
	ck_assert_int_eq(kf_consumer_subscription_encode(&wr, v, s), KF_OK);
	check_bytes(&wr, b, n);
	kf_wr_free(&wr);
}

START_TEST(subscription_vectors)
{
	uint8_t b[128];
	struct kf_arena a;
	kf_arena_init(&a);
	struct kf_consumer_subscription s;
	int16_t v = -9;

	size_t n = unhex(SUB_V0, b, sizeof(b));
	ck_assert_int_eq(kf_consumer_subscription_decode(b, n, &a, &s, &v), KF_OK);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(s.topics.n, 2);
	ck_assert_str_eq(KF_AT(s.topics, char *, 0), "a");
	ck_assert_str_eq(KF_AT(s.topics, char *, 1), "bc");
	ck_assert_int_eq(s.user_data.len, -1);
	ck_assert_int_eq(s.owned_partitions.n, 0);
	ck_assert_int_eq(s.generation_id, -1);
	ck_assert_ptr_null(s.rack_id);
	sub_reencode(&s, 0, b, n);

	n = unhex(SUB_V1, b, sizeof(b));
	ck_assert_int_eq(kf_consumer_subscription_decode(b, n, &a, &s, &v), KF_OK);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(s.topics.n, 1);
	ck_assert_int_eq(s.user_data.len, 2);
	ck_assert_int_eq(s.user_data.p[0], 0xab);
	ck_assert_int_eq(s.owned_partitions.n, 1);
	const struct kf_consumer_topic_partitions *tp =
		&KF_AT(s.owned_partitions, struct kf_consumer_topic_partitions, 0);
	ck_assert_str_eq(tp->topic, "a");
	ck_assert_int_eq(tp->partitions.n, 2);
	ck_assert_int_eq(KF_AT(tp->partitions, int32_t, 1), 3);
	ck_assert_int_eq(s.generation_id, -1);
	ck_assert_ptr_null(s.rack_id);
	sub_reencode(&s, 1, b, n);

	n = unhex(SUB_V3, b, sizeof(b));
	ck_assert_int_eq(kf_consumer_subscription_decode(b, n, &a, &s, &v), KF_OK);
	ck_assert_int_eq(v, 3);
	ck_assert_int_eq(s.user_data.len, 0);
	ck_assert_int_eq(s.owned_partitions.n, 0);
	ck_assert_int_eq(s.generation_id, 5);
	ck_assert_str_eq(s.rack_id, "r1");
	sub_reencode(&s, 3, b, n);

	/* Truncated anywhere: an error, never a read past the end. */
	n = unhex(SUB_V1, b, sizeof(b));
	for (size_t k = 0; k < n; k++)
		ck_assert_int_ne(kf_consumer_subscription_decode(b, k, &a, &s, NULL), KF_OK);
	kf_arena_free(&a);
}
END_TEST

/* A newer peer: version 4 with bytes we do not know reads as v3. */
START_TEST(subscription_newer_version)
{
	uint8_t b[128], v3[128];
	struct kf_arena a;
	kf_arena_init(&a);
	struct kf_consumer_subscription s;
	int16_t v = 0;
	size_t n = unhex("0004" SUB_V3_BODY "deadbeef", b, sizeof(b));
	size_t n3 = unhex(SUB_V3, v3, sizeof(v3));
	ck_assert_int_eq(kf_consumer_subscription_decode(b, n, &a, &s, &v), KF_OK);
	ck_assert_int_eq(v, 4);
	ck_assert_int_eq(s.generation_id, 5);
	ck_assert_str_eq(s.rack_id, "r1");
	/* Encoding "v4" writes the highest version we know. */
	sub_reencode(&s, 4, v3, n3);

	n = unhex("ffff" SUB_V3_BODY, b, sizeof(b));
	ck_assert_int_eq(kf_consumer_subscription_decode(b, n, &a, &s, &v), KF_EPROTO);
	ck_assert_int_eq(v, -1);
	struct kf_wr wr;
	kf_wr_init(&wr);
	ck_assert_int_eq(kf_consumer_subscription_encode(&wr, -1, &s), KF_EUNSUPP);
	ck_assert_uint_eq(wr.len, 0);
	kf_wr_free(&wr);
	kf_arena_free(&a);
}
END_TEST

START_TEST(assignment_vectors)
{
	uint8_t b[128];
	struct kf_arena a;
	kf_arena_init(&a);
	struct kf_consumer_assignment s;
	struct kf_wr wr;
	int16_t v = -9;

	size_t n = unhex(ASG_V0, b, sizeof(b));
	ck_assert_int_eq(kf_consumer_assignment_decode(b, n, &a, &s, &v), KF_OK);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(s.assigned_partitions.n, 1);
	const struct kf_consumer_topic_partitions *tp =
		&KF_AT(s.assigned_partitions, struct kf_consumer_topic_partitions, 0);
	ck_assert_str_eq(tp->topic, "a");
	ck_assert_int_eq(tp->partitions.n, 2);
	ck_assert_int_eq(KF_AT(tp->partitions, int32_t, 0), 1);
	ck_assert_int_eq(KF_AT(tp->partitions, int32_t, 1), 2);
	ck_assert_int_eq(s.user_data.len, -1);
	kf_wr_init(&wr);
	ck_assert_int_eq(kf_consumer_assignment_encode(&wr, 0, &s), KF_OK);
	check_bytes(&wr, b, n);
	kf_wr_free(&wr);

	n = unhex(ASG_V3, b, sizeof(b));
	ck_assert_int_eq(kf_consumer_assignment_decode(b, n, &a, &s, &v), KF_OK);
	ck_assert_int_eq(v, 3);
	ck_assert_int_eq(s.assigned_partitions.n, 2);
	tp = &KF_AT(s.assigned_partitions, struct kf_consumer_topic_partitions, 1);
	ck_assert_str_eq(tp->topic, "bc");
	ck_assert_int_eq(tp->partitions.n, 0);
	ck_assert_int_eq(s.user_data.len, 1);
	ck_assert_int_eq(s.user_data.p[0], 0xff);
	kf_wr_init(&wr);
	ck_assert_int_eq(kf_consumer_assignment_encode(&wr, 3, &s), KF_OK);
	check_bytes(&wr, b, n);
	kf_wr_free(&wr);

	for (size_t k = 0; k < n; k++)
		ck_assert_int_ne(kf_consumer_assignment_decode(b, k, &a, &s, NULL), KF_OK);
	kf_arena_free(&a);
}
END_TEST

/* Built in C, not from bytes: what a member that owns nothing sends. */
START_TEST(subscription_from_struct)
{
	uint8_t want[64];
	char *topics[] = { "a" };
	struct kf_consumer_subscription s;
	memset(&s, 0, sizeof(s));
	kf_proto_defaults(&kf_consumer_subscription_schema, &s);
	s.topics.v = topics;
	s.topics.n = 1;
	struct kf_wr wr;
	kf_wr_init(&wr);
	ck_assert_int_eq(kf_consumer_subscription_encode(&wr, 3, &s), KF_OK);
	/* UserData null, no owned partitions, GenerationId -1, RackId null */
	size_t n = unhex("0003" "00000001" "000161" "ffffffff" "00000000" "ffffffff" "ffff",
			 want, sizeof(want));
	check_bytes(&wr, want, n);
	kf_wr_free(&wr);
}
END_TEST

Suite *suite_group(void)
{
	Suite *s = suite_create("group");
	TCase *tc = tcase_create("apis");
	tcase_add_loop_test(tc, every_version_round_trips, 0, (int)N(cases));
	tcase_add_loop_test(tc, nulls_per_version, 0, (int)N(cases));
	tcase_add_test(tc, defaults_survive);
	tcase_add_test(tc, tables_consistent);
	tcase_add_test(tc, api_ranges);
	suite_add_tcase(s, tc);
	tc = tcase_create("consumer_protocol");
	tcase_add_test(tc, subscription_vectors);
	tcase_add_test(tc, subscription_newer_version);
	tcase_add_test(tc, assignment_vectors);
	tcase_add_test(tc, subscription_from_struct);
	suite_add_tcase(s, tc);
	return s;
}
