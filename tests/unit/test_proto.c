/*
 * proto: the schema walker on small synthetic schemas (the real message
 * tables are checked against golden vectors in test_golden.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_apis.h"
#include "proto_msgs.h"
#include "suites.h"

/* A made-up message exercising every walker feature:
 *   v0: Id i32, Name string, Items [ {Key string, Val i64} ]
 *   v1: + Nick string (nullable), Nums [i32] (nullable)
 *   v2 (flexible): + tagged Extra i32 (tag 3, default -1),
 *                  + tagged Inner struct {A i16} (tag 1) */
struct item {
	char *key;
	int64_t val;
};
struct inner {
	int16_t a;
};
struct msg {
	int32_t id;
	char *name;
	struct kf_array items;
	char *nick;
	struct kf_array nums;
	int32_t extra;
	struct inner inner;
};

#define S struct item
static const struct kf_field item_f[] = {
	KF_F(S, key, "Key", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, val, "Val", KF_T_I64, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(item_schema, item, item_f);

#define S struct inner
static const struct kf_field inner_f[] = {
	KF_F(S, a, "A", KF_T_I16, 2, KF_VMAX),
};
#undef S
static KF_SCHEMA(inner_schema, inner, inner_f);

#define S struct msg
static const struct kf_field msg_f[] = {
	KF_F(S, id, "Id", KF_T_I32, 0, KF_VMAX),
	KF_F(S, name, "Name", KF_T_STRING, 0, KF_VMAX),
	KF_FAS(S, items, "Items", &item_schema, 0, KF_VMAX, KF_NEVER),
	KF_FN(S, nick, "Nick", KF_T_STRING, 1, KF_VMAX, 1),
	KF_FA(S, nums, "Nums", KF_T_I32, 1, KF_VMAX, 1),
	KF_FT(S, extra, "Extra", KF_T_I32, 2, KF_VMAX, 3, -1),
	KF_FTS(S, inner, "Inner", &inner_schema, 2, KF_VMAX, 1),
};
#undef S
static KF_SCHEMA(msg_schema, msg, msg_f);

static void fill(struct msg *m, struct kf_arena *a)
{
	memset(m, 0, sizeof(*m));
	kf_proto_defaults(&msg_schema, m);
	ck_assert_int_eq(kf_proto_set(&msg_schema, m, a, "Id", "7"), KF_OK);
	ck_assert_int_eq(kf_proto_set(&msg_schema, m, a, "Name", "ab"), KF_OK);
	ck_assert_int_eq(kf_proto_set(&msg_schema, m, a, "Items[1].Key", "k"), KF_OK);
	ck_assert_int_eq(kf_proto_set(&msg_schema, m, a, "Items[1].Val", "-2"), KF_OK);
	ck_assert_int_eq(kf_proto_set(&msg_schema, m, a, "Items[0].Key", "j"), KF_OK);
	ck_assert_int_eq(kf_proto_set(&msg_schema, m, a, "Nick", "null"), KF_OK);
	ck_assert_int_eq(kf_proto_set(&msg_schema, m, a, "Nums[0]", "5"), KF_OK);
}

static void check_hex(const struct kf_wr *wr, const char *hex)
{
	char got[512] = "";
	for (size_t i = 0; i < wr->len && 2 * i + 2 < sizeof(got); i++)
		snprintf(got + 2 * i, 3, "%02x", wr->buf[i]);
	ck_assert_str_eq(got, hex);
}

START_TEST(encode_versions)
{
	struct kf_arena a;
	kf_arena_init(&a);
	struct msg m;
	fill(&m, &a);
	struct kf_wr wr;

	kf_wr_init(&wr);
	kf_proto_encode(&wr, &msg_schema, 0, false, &m);
	check_hex(&wr, "00000007" "00026162" "00000002"
		       "00016a" "0000000000000000"
		       "00016b" "fffffffffffffffe");
	kf_wr_free(&wr);

	kf_wr_init(&wr);
	kf_proto_encode(&wr, &msg_schema, 1, false, &m);
	check_hex(&wr, "00000007" "00026162" "00000002"
		       "00016a" "0000000000000000"
		       "00016b" "fffffffffffffffe"
		       "ffff" "00000001" "00000005");
	kf_wr_free(&wr);

	/* flexible: compact lengths, a tag section per struct, defaults omitted */
	kf_wr_init(&wr);
	kf_proto_encode(&wr, &msg_schema, 2, true, &m);
	check_hex(&wr, "00000007" "03" "6162" "03"
		       "02" "6a" "0000000000000000" "00"
		       "02" "6b" "fffffffffffffffe" "00"
		       "00" "02" "00000005" "00");
	kf_wr_free(&wr);

	/* non-default tagged fields are written in ascending tag order */
	m.extra = 9;
	m.inner.a = 4;
	kf_wr_init(&wr);
	kf_proto_encode(&wr, &msg_schema, 2, true, &m);
	check_hex(&wr, "00000007" "03" "6162" "03"
		       "02" "6a" "0000000000000000" "00"
		       "02" "6b" "fffffffffffffffe" "00"
		       "00" "02" "00000005"
		       "02" "01" "03" "0004" "00" "03" "04" "00000009");
	kf_wr_free(&wr);
	kf_arena_free(&a);
}
END_TEST

START_TEST(decode_round_trip)
{
	struct kf_arena a;
	kf_arena_init(&a);
	struct msg m;
	fill(&m, &a);
	m.extra = 9;
	m.inner.a = 4;
	for (int16_t v = 0; v <= 2; v++) {
		struct kf_wr wr;
		kf_wr_init(&wr);
		kf_proto_encode(&wr, &msg_schema, v, v == 2, &m);
		struct kf_rd rd;
		kf_rd_init(&rd, wr.buf, wr.len);
		struct msg out;
		memset(&out, 0, sizeof(out));
		ck_assert_int_eq(kf_proto_decode(&rd, &msg_schema, v, v == 2, &a, &out), KF_OK);
		ck_assert_int_eq(kf_rd_left(&rd), 0);
		char buf[64];
		ck_assert_int_eq(kf_proto_get(&msg_schema, &out, "Items#", buf, sizeof(buf)), KF_OK);
		ck_assert_str_eq(buf, "2");
		kf_proto_get(&msg_schema, &out, "Items[1].Val", buf, sizeof(buf));
		ck_assert_str_eq(buf, "-2");
		kf_proto_get(&msg_schema, &out, "Name", buf, sizeof(buf));
		ck_assert_str_eq(buf, "ab");
		kf_proto_get(&msg_schema, &out, "Nick", buf, sizeof(buf));
		ck_assert_str_eq(buf, "null");
		kf_proto_get(&msg_schema, &out, "Extra", buf, sizeof(buf));
		ck_assert_str_eq(buf, v == 2 ? "9" : "-1"); /* absent: default */
		ck_assert_int_eq(out.inner.a, v == 2 ? 4 : 0);
		ck_assert_int_eq(out.nums.n, v == 0 ? 0 : 1);
		kf_wr_free(&wr);
	}
	kf_arena_free(&a);
}
END_TEST

/* Unknown tags are skipped; out-of-order tags and truncation are errors. */
START_TEST(tags_unknown_and_bad)
{
	/* Id 1, Name "", Items [], Nick null, Nums null, then tags 3 and 5 */
	static const uint8_t unknown[] = { 0, 0, 0, 1, 1, 1, 0, 0,
					   2, 0x03, 0x04, 0, 0, 0, 9, 0x05, 0x02, 0xaa, 0xbb };
	static const uint8_t reversed[] = { 0, 0, 0, 1, 1, 1, 0, 0,
					    2, 0x03, 0x04, 0, 0, 0, 9, 0x01, 0x03, 0, 4, 0 };
	struct kf_arena a;
	kf_arena_init(&a);
	struct msg m;
	struct kf_rd rd;
	memset(&m, 0, sizeof(m));
	kf_rd_init(&rd, unknown, sizeof(unknown));
	ck_assert_int_eq(kf_proto_decode(&rd, &msg_schema, 2, true, &a, &m), KF_OK);
	ck_assert_int_eq(m.extra, 9);
	ck_assert_ptr_null(m.nick);
	ck_assert_int_eq(m.nums.n, -1);
	kf_rd_init(&rd, reversed, sizeof(reversed));
	ck_assert_int_ne(kf_proto_decode(&rd, &msg_schema, 2, true, &a, &m), KF_OK);
	for (size_t n = 0; n < sizeof(unknown); n++) {
		kf_rd_init(&rd, unknown, n);
		ck_assert_int_ne(kf_proto_decode(&rd, &msg_schema, 2, true, &a, &m), KF_OK);
	}
	kf_arena_free(&a);
}
END_TEST

/* A huge array count must fail before anything is allocated for it. */
START_TEST(array_count_bounded)
{
	static const uint8_t b[] = { 0, 0, 0, 1, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0 };
	struct kf_arena a;
	kf_arena_init(&a);
	struct msg m;
	struct kf_rd rd;
	kf_rd_init(&rd, b, sizeof(b));
	ck_assert_int_eq(kf_proto_decode(&rd, &msg_schema, 0, false, &a, &m), KF_ESHORT);
	ck_assert_uint_lt(a.total, 1024);
	kf_arena_free(&a);
}
END_TEST

/* A null where the schema says never-null decodes as empty, not NULL. */
START_TEST(null_where_not_nullable)
{
	static const uint8_t b[] = { 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct kf_arena a;
	kf_arena_init(&a);
	struct msg m;
	struct kf_rd rd;
	kf_rd_init(&rd, b, sizeof(b));
	ck_assert_int_eq(kf_proto_decode(&rd, &msg_schema, 0, false, &a, &m), KF_OK);
	ck_assert_str_eq(m.name, "");
	ck_assert_int_eq(m.items.n, 0);
	kf_arena_free(&a);
}
END_TEST

START_TEST(paths_reject_nonsense)
{
	struct kf_arena a;
	kf_arena_init(&a);
	struct msg m;
	fill(&m, &a);
	char buf[32];
	ck_assert_int_ne(kf_proto_get(&msg_schema, &m, "Nope", buf, sizeof(buf)), KF_OK);
	ck_assert_int_ne(kf_proto_get(&msg_schema, &m, "Items[5].Key", buf, sizeof(buf)), KF_OK);
	ck_assert_int_ne(kf_proto_get(&msg_schema, &m, "Id.X", buf, sizeof(buf)), KF_OK);
	ck_assert_int_ne(kf_proto_set(&msg_schema, &m, &a, "Id", "x"), KF_OK);
	ck_assert_int_ne(kf_proto_set(&msg_schema, &m, &a, "Items[-1].Key", "x"), KF_OK);
	kf_arena_free(&a);
}
END_TEST

/* Request framing: size, header v1 (non-flexible) or v2 (flexible). */
START_TEST(request_header)
{
	const struct kf_api *api = kf_proto_api(KF_API_API_VERSIONS);
	ck_assert_ptr_nonnull(api);
	struct kf_api_versions_req req = { "kfork", "0.1" };
	struct kf_wr wr;
	kf_wr_init(&wr);
	ck_assert_int_eq(kf_proto_encode_request(&wr, api, 0, 1, "kf", &req), KF_OK);
	check_hex(&wr, "0000000c" "0012" "0000" "00000001" "00026b66");
	kf_wr_free(&wr);
	kf_wr_init(&wr);
	ck_assert_int_eq(kf_proto_encode_request(&wr, api, 3, 2, NULL, &req), KF_OK);
	check_hex(&wr, "00000016" "0012" "0003" "00000002" "ffff" "00"
		       "06" "6b666f726b" "04" "302e31" "00");
	kf_wr_free(&wr);
	kf_wr_init(&wr);
	ck_assert_int_eq(kf_proto_encode_request(&wr, api, 99, 2, NULL, &req), KF_EUNSUPP);
	kf_wr_free(&wr);
}
END_TEST

/* A decode error names the API, version, field and offset. */
START_TEST(error_message)
{
	const struct kf_api *api = kf_proto_api(KF_API_API_VERSIONS);
	static const uint8_t b[] = { 0, 0, 0, 9, 0, 0, 0, 0, 0, 5, 0, 1 };
	struct kf_arena a;
	kf_arena_init(&a);
	struct kf_api_versions_resp r;
	memset(&r, 0, sizeof(r));
	int32_t corr;
	char err[256];
	ck_assert_int_ne(kf_proto_decode_response(b, sizeof(b), api, 0, &a, &r, &corr, err, sizeof(err)),
			 KF_OK);
	ck_assert_int_eq(corr, 9);
	ck_assert_msg(strstr(err, "ApiVersions v0") && strstr(err, "ApiKeys"), "%s", err);
	kf_arena_free(&a);
}
END_TEST

Suite *suite_proto(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("walker");
	tcase_add_test(tc, encode_versions);
	tcase_add_test(tc, decode_round_trip);
	tcase_add_test(tc, tags_unknown_and_bad);
	tcase_add_test(tc, array_count_bounded);
	tcase_add_test(tc, null_where_not_nullable);
	tcase_add_test(tc, paths_reject_nonsense);
	tcase_add_test(tc, request_header);
	tcase_add_test(tc, error_message);
	suite_add_tcase(s, tc);
	return s;
}
