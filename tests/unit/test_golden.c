/*
 * golden: every version of every request and response kfork speaks,
 * checked against byte vectors derived from the protocol specification,
 * not from kfork's own encoder: Apache Kafka's message definitions,
 * clients/src/main/resources/common/message/<Name>{Request,Response}.json
 * at trunk of 2025-12-03 (for these APIs the same as the 4.2 branch).
 *
 * The vectors (golden_vectors.inc) come from a small independent Python
 * generator, tests/unit/golden/gen.py (see its README for regenerating).  It parses the JSON definitions,
 * builds sample messages and encodes them by the Kafka rules: request
 * header v1/v2 with an int16 ClientId, response header v0/v1, ApiVersions
 * responses always v0; flexible versions use compact strings, bytes and
 * arrays and a tagged-field section after every struct, tags ascending; a
 * tagged field is sent only when it differs from its default.  Its encoder
 * was cross-checked against librdkafka 2.0.2 (kcat -L against a fake
 * broker): librdkafka's ApiVersions v3 and Metadata v4 requests equal the
 * generator's bytes, and librdkafka parsed the generator's ApiVersions v3
 * (header v0, four tagged fields) and Metadata v4 responses correctly.
 * Decoding and re-encoding with the generator reproduced, byte for byte,
 * the traffic of a kcat group consumer with librdkafka's mock broker:
 * Fetch v11, ListOffsets v2, Metadata v2, FindCoordinator v2, JoinGroup
 * v5, SyncGroup v3, Heartbeat v3, LeaveGroup v1, OffsetFetch v5 and
 * ApiVersions v0 requests and responses and the v3 request.
 *
 * For each API, version and direction:
 *   A  every field present in the version set to a distinctive non-default
 *      value, tagged fields included, two elements in arrays;
 *   B  nullable fields null, tagged fields absent (so the decoder must
 *      supply their defaults), empty strings and bytes, a null client id;
 *   U  (flexible versions) A plus unknown tags in the headers and in every
 *      struct, among them a tag number known only in later versions and a
 *      two-byte one: a decoder must skip them, and re-encoding gives A;
 *   D  (requests) every field at its JSON default, Java's implicit ones
 *      where the JSON names none (0, false, "", empty), except that a
 *      nullable string without a default is taken as null (the walker has
 *      no string defaults) and ListOffsets ReplicaId as -1 (what a consumer
 *      sends; the JSON gives none).
 * Each vector carries "Path=Value" assertions in kf_proto_get's syntax and
 * the offsets of its length prefixes (h int16, i int32, u uvarint).
 *
 * Checks: every vector is decoded (responses with kf_proto_decode_response,
 * bodies also on their own, to the last byte), asserted field by field,
 * re-encoded byte for byte, and built again from its assertions with
 * kf_proto_set and encoded (kf_proto_encode_request for requests); D is
 * also encoded from kf_proto_defaults alone.  Every truncation and every
 * length prefix inflated past the end must fail to decode.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "err.h"
#include "proto.h"
#include "proto_apis.h"
#include "wire.h"
#include "suites.h"

struct golden {
	int16_t api;
	int16_t ver;
	int8_t req;        /* 1 request, 0 response */
	char variant;      /* 'A', 'B', 'U' or 'D' (see above) */
	int16_t canon;     /* vector whose bytes a re-encode gives; -1 = this one */
	int32_t corr;      /* correlation id in the header */
	const char *hex;   /* the whole frame, int32 size included */
	const char *lens;  /* offsets of the length prefixes: "8u 19u ..." */
	const char *const *asserts; /* "Path=Value", NULL-terminated */
};

#define GOLDEN_CLIENT_ID "golden"

#include "golden_vectors.inc"

#define NVEC ((int)(sizeof(golden_vectors) / sizeof(golden_vectors[0])))

/* Failure text is gathered here so that one test reports every field that
 * disagrees, not just the first. */
struct report {
	const char *title; /* the vector being checked */
	char buf[3000]; /* Check truncates longer messages */
	size_t len;
	int n;
};

static void note(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct report *r, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof(r->buf) - r->len;
	r->n++;
	if (room < 4)
		return;
	/* Keep two bytes for the "; " separator. */
	int k = snprintf(r->buf + r->len, room - 2, "%s: ", r->title);
	if (k > 0)
		r->len += (size_t)k < room - 3 ? (size_t)k : room - 3;
	room = sizeof(r->buf) - r->len;
	va_start(ap, fmt);
	k = vsnprintf(r->buf + r->len, room - 2, fmt, ap);
	va_end(ap);
	if (k > 0)
		r->len += (size_t)k < room - 3 ? (size_t)k : room - 3;
	r->buf[r->len++] = ';';
	r->buf[r->len++] = ' ';
	r->buf[r->len] = 0;
}

static const char *api_name(int16_t key)
{
	static const struct { int16_t key; const char *name; } names[] = {
		{ 1, "Fetch" }, { 2, "ListOffsets" }, { 3, "Metadata" },
		{ 8, "OffsetCommit" }, { 9, "OffsetFetch" }, { 10, "FindCoordinator" },
		{ 11, "JoinGroup" }, { 12, "Heartbeat" }, { 13, "LeaveGroup" },
		{ 14, "SyncGroup" }, { 17, "SaslHandshake" }, { 18, "ApiVersions" },
		{ 36, "SaslAuthenticate" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].key == key)
			return names[i].name;
	return "?";
}

static void vec_title(const struct golden *g, int i, char *out, size_t n)
{
	snprintf(out, n, "#%d %s v%d %s %c", i, api_name(g->api), g->ver,
		 g->req ? "request" : "response", g->variant);
}

static uint8_t *unhex(const char *h, size_t *len)
{
	size_t n = strlen(h) / 2;
	uint8_t *b = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &v), 1);
		b[i] = (uint8_t)v;
	}
	*len = n;
	return b;
}

/* Where two encodings first differ, with some bytes of each around it. */
static void diff(struct report *r, const char *what, const uint8_t *got, size_t gn,
		 const uint8_t *want, size_t wn)
{
	size_t i = 0;
	while (i < gn && i < wn && got[i] == want[i])
		i++;
	if (i == gn && i == wn)
		return;
	char gh[80] = "", wh[80] = "";
	size_t from = i > 8 ? i - 8 : 0;
	for (size_t k = from, o = 0; k < gn && k < from + 24; k++, o += 2)
		snprintf(gh + o, sizeof(gh) - o, "%02x", got[k]);
	for (size_t k = from, o = 0; k < wn && k < from + 24; k++, o += 2)
		snprintf(wh + o, sizeof(wh) - o, "%02x", want[k]);
	note(r, "%s: first difference at byte %zu (length %zu, golden %zu); "
	     "from byte %zu got %s golden %s", what, i, gn, wn, from, gh, wh);
}

static const struct kf_schema *body_schema(const struct kf_api *api, const struct golden *g)
{
	return g->req ? api->req : api->resp;
}

/* Offset of the body in a frame; checks the header fields on the way. */
static size_t header_len(const struct kf_api *api, const struct golden *g, const uint8_t *b,
			 size_t n, struct report *r)
{
	struct kf_rd rd;
	kf_rd_init(&rd, b, n);
	(void)kf_rd_i32(&rd);
	if (g->req) {
		int16_t key = kf_rd_i16(&rd);
		int16_t ver = kf_rd_i16(&rd);
		int32_t corr = kf_rd_i32(&rd);
		const uint8_t *cid;
		int32_t cl = kf_rd_string(&rd, &cid);
		if (key != g->api || ver != g->ver || corr != g->corr)
			note(r, "request header: key %d version %d corr %d", key, ver, corr);
		if (g->variant == 'B' ? cl != -1 : (cl != (int32_t)strlen(GOLDEN_CLIENT_ID)))
			note(r, "request header: client id length %d", cl);
		if (kf_proto_req_header_version(api, g->ver) == 2)
			kf_rd_skip_tags(&rd);
	} else {
		if (kf_rd_i32(&rd) != g->corr)
			note(r, "response header: wrong correlation id");
		if (kf_proto_resp_header_version(api, g->ver) == 1)
			kf_rd_skip_tags(&rd);
	}
	if (!kf_rd_ok(&rd))
		note(r, "header: %s", kf_strerror(rd.err));
	return rd.pos;
}

/* Decode a body on its own (no header) and require every byte consumed. */
static int decode_body(const struct kf_api *api, const struct golden *g, const uint8_t *b,
		       size_t n, struct kf_arena *arena, void *obj, size_t *left)
{
	struct kf_rd rd;
	kf_rd_init(&rd, b, n);
	int rc = kf_proto_decode(&rd, body_schema(api, g), g->ver, kf_proto_flexible(api, g->ver),
				 arena, obj);
	*left = rd.err ? 0 : rd.len - rd.pos;
	return rc;
}

static void check_asserts(const struct kf_schema *s, const void *obj, const struct golden *g,
			  struct report *r)
{
	char path[256], out[1024];
	for (const char *const *a = g->asserts; *a; a++) {
		const char *eq = strchr(*a, '=');
		ck_assert(eq != NULL && (size_t)(eq - *a) < sizeof(path));
		size_t pl = (size_t)(eq - *a);
		memcpy(path, *a, pl);
		path[pl] = 0;
		int rc = kf_proto_get(s, obj, path, out, sizeof(out));
		if (rc)
			note(r, "get %s: %s", path, kf_strerror(rc));
		else if (strcmp(out, eq + 1) != 0)
			note(r, "%s = %s, golden %s", path, out, eq + 1);
	}
}

/* Build the message from its assertions through kf_proto_set. */
static void *build(const struct kf_schema *s, const struct golden *g, bool null_empty,
		   struct kf_arena *arena, struct report *r)
{
	char path[256];
	void *obj = kf_arena_alloc(arena, s->size);
	ck_assert_ptr_nonnull(obj);
	memset(obj, 0, s->size);
	kf_proto_defaults(s, obj);
	for (const char *const *a = g->asserts; *a; a++) {
		const char *eq = strchr(*a, '=');
		size_t pl = (size_t)(eq - *a);
		memcpy(path, *a, pl);
		path[pl] = 0;
		const char *val = eq + 1;
		if (null_empty && !*val)
			val = "null";
		if (null_empty && pl > 0 && path[pl - 1] == '#' && strcmp(val, "0") == 0)
			val = "-1";
		int rc = kf_proto_set(s, obj, arena, path, val);
		if (rc)
			note(r, "set %s: %s", path, kf_strerror(rc));
	}
	return obj;
}

/* Only the defaults, plus the array sizes from the assertions. */
static void *build_defaults(const struct kf_schema *s, const struct golden *g,
			    struct kf_arena *arena, struct report *r)
{
	char path[256];
	void *obj = kf_arena_alloc(arena, s->size);
	ck_assert_ptr_nonnull(obj);
	memset(obj, 0, s->size);
	kf_proto_defaults(s, obj);
	for (const char *const *a = g->asserts; *a; a++) {
		const char *eq = strchr(*a, '=');
		size_t pl = (size_t)(eq - *a);
		if (pl == 0 || eq[-1] != '#')
			continue;
		memcpy(path, *a, pl);
		path[pl] = 0;
		int rc = kf_proto_set(s, obj, arena, path, eq + 1);
		if (rc)
			note(r, "set %s: %s", path, kf_strerror(rc));
	}
	return obj;
}

static void encode_response(struct kf_wr *wr, const struct kf_api *api, const struct golden *g,
			    const void *obj)
{
	size_t off = kf_wr_i32(wr, 0);
	kf_wr_i32(wr, g->corr);
	if (kf_proto_resp_header_version(api, g->ver) == 1)
		kf_wr_uvarint(wr, 0);
	kf_proto_encode(wr, api->resp, g->ver, kf_proto_flexible(api, g->ver), obj);
	kf_wr_patch_i32(wr, off, (int32_t)(wr->len - off - 4));
}

/* Decode, assert, re-encode and rebuild one vector. */
static void check_vector(const struct golden *g, const struct kf_api *api, struct report *r)
{
	const struct kf_schema *s = body_schema(api, g);
	const struct golden *canon = g->canon >= 0 ? &golden_vectors[g->canon] : g;
	const char *cid = g->variant == 'B' ? NULL : GOLDEN_CLIENT_ID;
	struct kf_arena arena;
	kf_arena_init(&arena);
	size_t n, cn;
	uint8_t *b = unhex(g->hex, &n);
	uint8_t *cb = unhex(canon->hex, &cn);
	size_t hl = header_len(api, g, b, n, r);
	size_t left;

	/* Decode: responses through the API, then every body on its own to
	 * see that it is consumed to the last byte. */
	void *obj = kf_arena_alloc(&arena, s->size);
	void *obj2 = kf_arena_alloc(&arena, s->size);
	ck_assert(obj != NULL && obj2 != NULL);
	memset(obj, 0, s->size);
	memset(obj2, 0, s->size);
	if (!g->req) {
		char err[256] = "";
		int32_t corr = 0;
		int rc = kf_proto_decode_response(b + 4, n - 4, api, g->ver, &arena, obj, &corr, err,
						  sizeof(err));
		if (rc)
			note(r, "decode: %s", err);
		else if (corr != g->corr)
			note(r, "decode: correlation id %d", corr);
	}
	int rc = decode_body(api, g, b + hl, n - hl, &arena, g->req ? obj : obj2, &left);
	if (rc)
		note(r, "decode body: %s", kf_strerror(rc));
	else if (left)
		note(r, "decode: %zu bytes of the body not consumed", left);
	check_asserts(s, obj, g, r);

	/* Re-encode what was decoded. */
	struct kf_wr wr;
	kf_wr_init(&wr);
	if (g->req) {
		rc = kf_proto_encode_request(&wr, api, g->ver, g->corr, cid, obj);
		if (rc)
			note(r, "encode decoded request: %s", kf_strerror(rc));
	} else {
		encode_response(&wr, api, g, obj);
	}
	diff(r, "re-encode of the decoded message", wr.buf, wr.len, cb, cn);
	kf_wr_free(&wr);

	/* Build through kf_proto_set, encode, compare.  B again with every
	 * empty string, bytes or array given as null: a field the JSON says is
	 * not nullable must then still go out empty, not as null. */
	for (int pass = 0; g->variant != 'U' && pass < (g->variant == 'B' ? 2 : 1); pass++) {
		void *built = build(s, g, pass == 1, &arena, r);
		kf_wr_init(&wr);
		if (g->req) {
			rc = kf_proto_encode_request(&wr, api, g->ver, g->corr, cid, built);
			if (rc)
				note(r, "encode built request: %s", kf_strerror(rc));
		} else {
			encode_response(&wr, api, g, built);
		}
		diff(r, pass ? "encode of the built message, nulls for empties" :
		     "encode of the built message", wr.buf, wr.len, cb, cn);
		kf_wr_free(&wr);
	}

	/* D requests: the schema defaults alone (and new array elements) must
	 * give the JSON defaults.  Responses are only ever decoded, which sets
	 * every field, so their defaults do not matter. */
	if (g->variant == 'D' && g->req) {
		void *d = build_defaults(s, g, &arena, r);
		kf_wr_init(&wr);
		(void)kf_proto_encode_request(&wr, api, g->ver, g->corr, cid, d);
		diff(r, "encode of kf_proto_defaults", wr.buf, wr.len, cb, cn);
		kf_wr_free(&wr);
	}
	free(b);
	free(cb);
	kf_arena_free(&arena);
}

/* Decode a whole frame as a client would: responses through the API,
 * requests by header then body.  Returns the error code. */
static int decode_frame(const struct kf_api *api, const struct golden *g, const uint8_t *b,
			size_t n, size_t hl)
{
	struct kf_arena arena;
	kf_arena_init(&arena);
	const struct kf_schema *s = body_schema(api, g);
	void *obj = kf_arena_alloc(&arena, s->size);
	ck_assert_ptr_nonnull(obj);
	memset(obj, 0, s->size);
	int rc;
	if (!g->req) {
		int32_t corr;
		char err[256];
		rc = kf_proto_decode_response(b + 4, n - 4, api, g->ver, &arena, obj, &corr, err,
					      sizeof(err));
	} else {
		size_t left;
		rc = decode_body(api, g, b + hl, n - hl, &arena, obj, &left);
	}
	kf_arena_free(&arena);
	return rc;
}

/* Every cut of a vector must fail: responses after the size prefix,
 * requests in the body.  Each cut is a copy of its own so that ASan sees
 * a read past it. */
static void check_truncated(const struct golden *g, const struct kf_api *api, struct report *r)
{
	size_t n;
	uint8_t *b = unhex(g->hex, &n);
	size_t hl = header_len(api, g, b, n, r);
	for (size_t len = g->req ? hl : 4; len < n; len++) {
		uint8_t *cut = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(cut);
		memcpy(cut, b, len);
		if (decode_frame(api, g, cut, len, hl) == 0)
			note(r, "cut at %zu of %zu decodes", len, n);
		free(cut);
	}
	free(b);
}

/* Replace the length prefix at off with one claiming more than remains. */
static uint8_t *inflate(const uint8_t *b, size_t n, size_t off, char kind, size_t *outn)
{
	static const uint8_t huge[5] = { 0xf0, 0xff, 0xff, 0xff, 0x07 }; /* uvarint 0x7ffffff0 */
	uint8_t *o = malloc(n + 8);
	ck_assert_ptr_nonnull(o);
	memcpy(o, b, off);
	size_t pos = off, old;
	if (kind == 'h') {
		o[pos++] = 0x7f;
		o[pos++] = 0xff;
		old = 2;
	} else if (kind == 'i') {
		o[pos++] = 0x7f;
		o[pos++] = 0xff;
		o[pos++] = 0xff;
		o[pos++] = 0xff;
		old = 4;
	} else {
		old = 0;
		while (off + old < n && (b[off + old] & 0x80))
			old++;
		old++;
		memcpy(o + pos, huge, sizeof(huge));
		pos += sizeof(huge);
	}
	ck_assert(off + old <= n);
	memcpy(o + pos, b + off + old, n - off - old);
	*outn = pos + n - off - old;
	return o;
}

/* Every length prefix (string, bytes, array, tag count, tag size) set to
 * more than the frame holds must fail. */
static void check_overlong(const struct golden *g, const struct kf_api *api, struct report *r)
{
	size_t n;
	uint8_t *b = unhex(g->hex, &n);
	size_t hl = header_len(api, g, b, n, r);
	for (const char *p = g->lens; *p;) {
		char *end;
		unsigned long off = strtoul(p, &end, 10);
		ck_assert(end != p && *end);
		char kind = *end++;
		while (*end == ' ')
			end++;
		p = end;
		size_t mn;
		uint8_t *m = inflate(b, n, off, kind, &mn);
		if (decode_frame(api, g, m, mn, hl) == 0)
			note(r, "length at byte %lu (%c) inflated still decodes", off, kind);
		free(m);
	}
	free(b);
}

/* Any byte of a vector damaged (all bits flipped, or only the top one,
 * which turns a varint's last byte into a continuation) may decode or
 * not, but must stay within bounds: this one is for the ASan build. */
static void check_flipped(const struct golden *g, const struct kf_api *api, struct report *r)
{
	size_t n;
	uint8_t *b = unhex(g->hex, &n);
	size_t hl = header_len(api, g, b, n, r);
	for (size_t i = g->req ? hl : 4; i < n; i++) {
		for (int k = 0; k < 2; k++) {
			uint8_t *m = malloc(n);
			ck_assert_ptr_nonnull(m);
			memcpy(m, b, n);
			m[i] ^= k ? 0x80 : 0xff;
			(void)decode_frame(api, g, m, n, hl);
			free(m);
		}
	}
	free(b);
}

/* The APIs and versions kfork speaks: each needs vectors both ways. */
static const struct {
	int16_t key, lo, hi;
} golden_apis[] = {
	{ 18, 0, 4 }, { 3, 0, 13 }, { 10, 0, 6 }, { 2, 1, 11 }, { 1, 4, 18 },
	{ 17, 0, 1 }, { 36, 0, 2 }, { 11, 0, 9 }, { 14, 0, 5 }, { 12, 0, 4 },
	{ 13, 0, 5 }, { 9, 1, 10 }, { 8, 2, 10 },
};
#define NAPI ((int)(sizeof(golden_apis) / sizeof(golden_apis[0])))

typedef void check_fn(const struct golden *g, const struct kf_api *api, struct report *r);

/* One test per API (a fork per vector is slow under ASan); the failure
 * message lists every vector and field that disagrees. */
static void run_api(int k, check_fn *check, const char *what)
{
	struct report r;
	char title[96];
	int nv = 0;
	memset(&r, 0, sizeof(r));
	const struct kf_api *api = kf_proto_api(golden_apis[k].key);
	ck_assert_msg(api != NULL, "%s: API key %d is not in the API table",
		      api_name(golden_apis[k].key), golden_apis[k].key);
	ck_assert_msg(api->vmin <= golden_apis[k].lo && api->vmax >= golden_apis[k].hi,
		      "%s: kfork speaks versions %d-%d", api->name, api->vmin, api->vmax);
	for (int i = 0; i < NVEC; i++) {
		const struct golden *g = &golden_vectors[i];
		if (g->api != golden_apis[k].key)
			continue;
		vec_title(g, i, title, sizeof(title));
		r.title = title;
		check(g, api, &r);
		nv++;
	}
	ck_assert_msg(r.n == 0, "%s %s: %d problem(s) in %d vectors: %s", api->name, what, r.n,
		      nv, r.buf);
}

START_TEST(test_vectors)
{
	run_api(_i, check_vector, "vectors");
}
END_TEST

START_TEST(test_truncated)
{
	run_api(_i, check_truncated, "truncated");
}
END_TEST

START_TEST(test_overlong)
{
	run_api(_i, check_overlong, "overlong lengths");
}
END_TEST

START_TEST(test_flipped)
{
	run_api(_i, check_flipped, "flipped bytes");
}
END_TEST

START_TEST(test_coverage)
{
	for (int k = 0; k < NAPI; k++)
		for (int v = golden_apis[k].lo; v <= golden_apis[k].hi; v++)
			for (int req = 0; req <= 1; req++) {
				int found = 0;
				for (int i = 0; i < NVEC; i++)
					if (golden_vectors[i].api == golden_apis[k].key &&
					    golden_vectors[i].ver == v && golden_vectors[i].req == req)
						found++;
				ck_assert_msg(found >= 2, "%s v%d %s: %d vectors",
					      api_name(golden_apis[k].key), v,
					      req ? "request" : "response", found);
			}
}
END_TEST

Suite *suite_golden(void)
{
	Suite *s = suite_create("golden");
	TCase *tc = tcase_create("vectors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_coverage);
	tcase_add_loop_test(tc, test_vectors, 0, NAPI);
	tcase_add_loop_test(tc, test_truncated, 0, NAPI);
	tcase_add_loop_test(tc, test_overlong, 0, NAPI);
	tcase_add_loop_test(tc, test_flipped, 0, NAPI);
	suite_add_tcase(s, tc);
	return s;
}
