/*
 * sasl: the SCRAM state machine against RFC 7677's SHA-256 vector and a
 * SHA-512 vector computed by Python's hashlib/hmac (recomputed at test time
 * when python3 is installed), its failure cases, and whole SASL exchanges
 * against a scripted broker on a loopback socket that checks every request
 * body byte for byte.  The scripted broker stands in for a real one
 * because devbroker (librdkafka's mock cluster) has no SASL.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "err.h"
#include "proto_apis.h"
#include "proto_msgs.h"
#include "resolve.h"
#include "sasl.h"
#include "suites.h"
#include "wire.h"

/* RFC 7677 section 3. */
#define RFC_NONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_S1 "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_C2 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
	"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_S2 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/*
 * The same exchange with SHA-512, from PY_SCRAM below (which reproduces
 * the RFC 7677 values above with sha256):
 *   python3 -c "$PY_SCRAM" sha512 user pencil rOprNGfwEbeRWgbNEkqO "$RFC_S1"
 */
#define S512_C2 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
	"p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ=="
#define S512_S2 "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw=="

/* An independent SCRAM client: argv = hash user pw cnonce server-first;
 * prints client-final and server-final. */
static const char PY_SCRAM[] =
	"import base64, hashlib, hmac, sys\n"
	"h, user, pw, cn, sf = sys.argv[1:6]\n"
	"bare = 'n=%s,r=%s' % (user, cn)\n"
	"a = dict(x.split('=', 1) for x in sf.split(','))\n"
	"sp = hashlib.pbkdf2_hmac(h, pw.encode(), base64.b64decode(a['s']), int(a['i']))\n"
	"ck = hmac.new(sp, b'Client Key', h).digest()\n"
	"sk = hashlib.new(h, ck).digest()\n"
	"wp = 'c=biws,r=' + a['r']\n"
	"am = ','.join([bare, sf, wp]).encode()\n"
	"cs = hmac.new(sk, am, h).digest()\n"
	"p = bytes(x ^ y for x, y in zip(ck, cs))\n"
	"ss = hmac.new(hmac.new(sp, b'Server Key', h).digest(), am, h).digest()\n"
	"print(wp + ',p=' + base64.b64encode(p).decode())\n"
	"print('v=' + base64.b64encode(ss).decode())\n";

static const uint8_t *u8(const char *s) { return (const uint8_t *)s; }

/* Runs the SCRAM client over server-first s1; returns client-final. */
static const char *first(struct kf_scram *s, const char *s1, int want_rc, char *err, size_t errlen)
{
	const char *out = NULL;
	int rc = kf_scram_server_first(s, u8(s1), strlen(s1), &out, err, errlen);
	ck_assert_msg(rc == want_rc, "rc %d, want %d (%s)", rc, want_rc, err);
	return out;
}

START_TEST(mech_names)
{
	ck_assert_int_eq(kf_sasl_mech_parse("PLAIN"), KF_SASL_PLAIN);
	ck_assert_int_eq(kf_sasl_mech_parse("SCRAM-SHA-256"), KF_SASL_SCRAM_SHA_256);
	ck_assert_int_eq(kf_sasl_mech_parse("SCRAM-SHA-512"), KF_SASL_SCRAM_SHA_512);
	ck_assert_int_eq(kf_sasl_mech_parse("scram-sha-256"), -1);
	ck_assert_int_eq(kf_sasl_mech_parse("GSSAPI"), -1);
	ck_assert_int_eq(kf_sasl_mech_parse(NULL), -1);
	ck_assert_str_eq(kf_sasl_mech_name(KF_SASL_SCRAM_SHA_512), "SCRAM-SHA-512");
}
END_TEST

START_TEST(saslname_escaping)
{
	char b[32];
	ck_assert_uint_eq(kf_scram_saslname("a=b,c", b, sizeof(b)), 9);
	ck_assert_str_eq(b, "a=3Db=2Cc");
	ck_assert_uint_eq(kf_scram_saslname("plain", b, sizeof(b)), 5);
	ck_assert_str_eq(b, "plain");
	/* truncated like snprintf */
	ck_assert_uint_eq(kf_scram_saslname("==", b, 4), 6);
	ck_assert_str_eq(b, "=3D");
	struct kf_scram *s = kf_scram_new(KF_SASL_SCRAM_SHA_256, "a=b,c", "pw", "NONCE");
	ck_assert_str_eq(kf_scram_client_first(s), "n,,n=a=3Db=2Cc,r=NONCE");
	kf_scram_free(s);
}
END_TEST

START_TEST(rfc7677_sha256)
{
	char err[256] = "";
	struct kf_scram *s = kf_scram_new(KF_SASL_SCRAM_SHA_256, "user", "pencil", RFC_NONCE);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(kf_scram_client_first(s), "n,,n=user,r=" RFC_NONCE);
	ck_assert_str_eq(first(s, RFC_S1, KF_OK, err, sizeof(err)), RFC_C2);
	ck_assert_int_eq(kf_scram_verify_final(s, u8(RFC_S2), strlen(RFC_S2), err, sizeof(err)), KF_OK);
	/* extensions after the verifier are allowed */
	ck_assert_int_eq(kf_scram_verify_final(s, u8(RFC_S2 ",x=1"), strlen(RFC_S2) + 4, err,
					       sizeof(err)), KF_OK);
	/* a second server-first is refused */
	const char *out;
	ck_assert_int_eq(kf_scram_server_first(s, u8(RFC_S1), strlen(RFC_S1), &out, err, sizeof(err)),
			 KF_EPROTO);
	kf_scram_free(s);
}
END_TEST

START_TEST(derived_sha512)
{
	char err[256] = "";
	struct kf_scram *s = kf_scram_new(KF_SASL_SCRAM_SHA_512, "user", "pencil", RFC_NONCE);
	ck_assert_str_eq(first(s, RFC_S1, KF_OK, err, sizeof(err)), S512_C2);
	ck_assert_int_eq(kf_scram_verify_final(s, u8(S512_S2), strlen(S512_S2), err, sizeof(err)), KF_OK);
	/* the SHA-256 signature is not the SHA-512 one */
	ck_assert_int_eq(kf_scram_verify_final(s, u8(RFC_S2), strlen(RFC_S2), err, sizeof(err)), KF_EPROTO);
	kf_scram_free(s);
}
END_TEST

/* Python's hashlib/hmac as an independent implementation, run now. */
static bool python_scram(const char *hash, const char *user, const char *pw, const char *cn,
			 const char *sf, char *c2, char *s2, size_t cap)
{
	if (system("python3 -c 'import hashlib' >/dev/null 2>&1") != 0)
		return false;
	char path[] = "/tmp/kf_scram_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, PY_SCRAM, strlen(PY_SCRAM)), (ssize_t)strlen(PY_SCRAM));
	close(fd);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "python3 %s '%s' '%s' '%s' '%s' '%s'", path, hash, user, pw, cn, sf);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(fgets(c2, (int)cap, p));
	ck_assert_ptr_nonnull(fgets(s2, (int)cap, p));
	ck_assert_int_eq(pclose(p), 0);
	unlink(path);
	c2[strcspn(c2, "\n")] = 0;
	s2[strcspn(s2, "\n")] = 0;
	return true;
}

START_TEST(cross_check_python)
{
	char c2[512], s2[512], err[256];
	if (!python_scram("sha512", "user", "pencil", RFC_NONCE, RFC_S1, c2, s2, sizeof(c2))) {
		fprintf(stderr, "sasl: python3 not found, cross-check skipped\n");
		return;
	}
	ck_assert_str_eq(c2, S512_C2);
	ck_assert_str_eq(s2, S512_S2);
	python_scram("sha256", "user", "pencil", RFC_NONCE, RFC_S1, c2, s2, sizeof(c2));
	ck_assert_str_eq(c2, RFC_C2);
	ck_assert_str_eq(s2, RFC_S2);
	/* Another salt, count and an escaped name, both hashes. */
	static const char *sf = "r=abcDEF123xyz,s=c2FsdHNhbHQ=,i=8192";
	for (int m = KF_SASL_SCRAM_SHA_256; m <= KF_SASL_SCRAM_SHA_512; m++) {
		struct kf_scram *s = kf_scram_new(m, "a=b,c", "p@ss w0rd", "abc");
		ck_assert(python_scram(m == KF_SASL_SCRAM_SHA_256 ? "sha256" : "sha512", "a=3Db=2Cc",
				       "p@ss w0rd", "abc", sf, c2, s2, sizeof(c2)));
		ck_assert_str_eq(first(s, sf, KF_OK, err, sizeof(err)), c2);
		ck_assert_int_eq(kf_scram_verify_final(s, u8(s2), strlen(s2), err, sizeof(err)), KF_OK);
		kf_scram_free(s);
	}
}
END_TEST

START_TEST(random_nonce)
{
	struct kf_scram *a = kf_scram_new(KF_SASL_SCRAM_SHA_256, "u", "p", NULL);
	struct kf_scram *b = kf_scram_new(KF_SASL_SCRAM_SHA_256, "u", "p", NULL);
	const char *fa = kf_scram_client_first(a), *fb = kf_scram_client_first(b);
	ck_assert_int_eq(strncmp(fa, "n,,n=u,r=", 9), 0);
	ck_assert_uint_eq(strlen(fa), 9 + 32); /* base64 of 24 bytes */
	ck_assert_str_ne(fa, fb);
	ck_assert_ptr_null(strchr(fa + 9, ','));
	kf_scram_free(a);
	kf_scram_free(b);
	ck_assert_ptr_null(kf_scram_new(KF_SASL_PLAIN, "u", "p", NULL));
	ck_assert_ptr_null(kf_scram_new(KF_SASL_SCRAM_SHA_256, "u", "p", "a,b"));
}
END_TEST

/* Each bad server-first, and the words its error must contain. */
START_TEST(server_first_rejects)
{
	static const struct {
		const char *msg, *why;
	} cases[] = {
		{ "r=XrOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce" },
		{ "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce" },
		{ "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095", "iteration count 4095" },
		{ "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000000", "outside" },
		{ "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999", "iteration" },
		{ "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=", "iteration" },
		{ "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096", "salt" },
		{ "r=rOprNGfwEbeRWgbNEkqO%hv,s=,i=4096", "salt" },
		{ "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==", "malformed" },
		{ "m=ext,r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "mandatory" },
		{ "e=unknown-user", "server error: unknown-user" },
		{ "", "empty" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		struct kf_scram *s = kf_scram_new(KF_SASL_SCRAM_SHA_256, "user", "pencil", RFC_NONCE);
		ck_assert_ptr_null(first(s, cases[i].msg, KF_EPROTO, err, sizeof(err)));
		ck_assert_msg(strstr(err, cases[i].why), "case %zu: '%s' lacks '%s'", i, err, cases[i].why);
		ck_assert_ptr_null(strstr(err, "pencil"));
		/* no server-final without a server-first */
		ck_assert_int_eq(kf_scram_verify_final(s, u8(RFC_S2), strlen(RFC_S2), err, sizeof(err)),
				 KF_EPROTO);
		kf_scram_free(s);
	}
	/* a NUL byte inside */
	char err[256];
	const char *out;
	struct kf_scram *s = kf_scram_new(KF_SASL_SCRAM_SHA_256, "user", "pencil", RFC_NONCE);
	ck_assert_int_eq(kf_scram_server_first(s, u8(RFC_S1), 10, &out, err, sizeof(err)), KF_EPROTO);
	ck_assert_int_eq(kf_scram_server_first(s, u8("r=a\0b"), 5, &out, err, sizeof(err)), KF_EPROTO);
	kf_scram_free(s);
}
END_TEST

START_TEST(server_final_rejects)
{
	static const struct {
		const char *msg, *why;
	} cases[] = {
		/* last character changed */
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=", "signature does not match" },
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", "signature does not match" },
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9", "signature does not match" },
		{ "v=", "signature does not match" },
		{ "e=invalid-proof", "server error: invalid-proof" },
		{ "e=other-error,x=1", "server error: other-error" },
		{ "x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "malformed" },
		{ "", "empty" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		struct kf_scram *s = kf_scram_new(KF_SASL_SCRAM_SHA_256, "user", "pencil", RFC_NONCE);
		first(s, RFC_S1, KF_OK, err, sizeof(err));
		ck_assert_int_eq(kf_scram_verify_final(s, u8(cases[i].msg), strlen(cases[i].msg), err,
						       sizeof(err)), KF_EPROTO);
		ck_assert_msg(strstr(err, cases[i].why), "case %zu: '%s' lacks '%s'", i, err, cases[i].why);
		kf_scram_free(s);
	}
}
END_TEST

START_TEST(reauth_timing)
{
	ck_assert_int_eq(kf_sasl_reauth_delay_ms(0, 5), -1);
	ck_assert_int_eq(kf_sasl_reauth_delay_ms(-3, 5), -1);
	ck_assert_int_eq(kf_sasl_reauth_delay_ms(100000, 0), 85000);
	ck_assert_int_eq(kf_sasl_reauth_delay_ms(100000, UINT32_MAX), 95000);
	ck_assert_int_eq(kf_sasl_reauth_delay_ms(100000, UINT32_MAX / 2), 89999);
	ck_assert_int_eq(kf_sasl_reauth_delay_ms(1, 0), 1);
	ck_assert_int_eq(kf_sasl_reauth_delay_ms(3600000, 0), 3060000);
	for (uint32_t r = 1; r < 4000000000u; r += 123456789) {
		int64_t d = kf_sasl_reauth_delay_ms(60000, r);
		ck_assert_int_ge(d, 51000);
		ck_assert_int_le(d, 57000);
	}
}
END_TEST

/* ------------------------------------------------------------ scripted broker */

/* A bare token after SaslHandshake v0: no header, only the size. */
#define RAW (-1)
/* error_code of a RAW step: close the connection instead of answering. */
#define CLOSE (-1)

/* One request the broker expects and how it answers. */
struct step {
	int16_t key;          /* SaslHandshake, SaslAuthenticate or RAW */
	const char *expect;   /* mechanism, or the auth bytes */
	size_t expect_len;
	int16_t error_code;
	const char *error_message;
	const char *mechs[3]; /* SaslHandshake answer */
	const char *reply;    /* SaslAuthenticate (or RAW) answer bytes */
	int64_t lifetime_ms;
};

struct broker {
	struct ev_loop *loop;
	int lfd, cfd, port;
	ev_io lio, cio;
	uint8_t buf[1 << 16];
	size_t got;
	int16_t hs_vmax, auth_vmax; /* advertised; -1 = not at all */
	bool raw;                   /* after SaslHandshake v0: bare tokens */
	const struct step *script;
	int nsteps, at;
	char mismatch[256];
};

static void broker_send(struct broker *b, const struct kf_api *api, int16_t ver, int32_t corr,
			const void *resp)
{
	struct kf_wr wr;
	kf_wr_init(&wr);
	kf_wr_i32(&wr, 0);
	kf_wr_i32(&wr, corr);
	if (kf_proto_resp_header_version(api, ver) >= 1)
		kf_wr_uvarint(&wr, 0);
	ck_assert_int_eq(kf_proto_encode(&wr, api->resp, ver, kf_proto_flexible(api, ver), resp), KF_OK);
	kf_wr_patch_i32(&wr, 0, (int32_t)(wr.len - 4));
	ck_assert_int_eq(write(b->cfd, wr.buf, wr.len), (ssize_t)wr.len);
	kf_wr_free(&wr);
}

static void answer_apiversions(struct broker *b, int16_t ver, int32_t corr)
{
	struct kf_api_versions_resp_key keys[3] = { { KF_API_API_VERSIONS, 0, 3 } };
	int n = 1;
	if (b->hs_vmax >= 0)
		keys[n++] = (struct kf_api_versions_resp_key){ KF_API_SASL_HANDSHAKE, 0, b->hs_vmax };
	if (b->auth_vmax >= 0)
		keys[n++] = (struct kf_api_versions_resp_key){ KF_API_SASL_AUTHENTICATE, 0, b->auth_vmax };
	struct kf_api_versions_resp r;
	memset(&r, 0, sizeof(r));
	kf_proto_defaults(kf_api_api_versions.resp, &r);
	r.api_keys.v = keys;
	r.api_keys.n = n;
	broker_send(b, &kf_api_api_versions, ver, corr, &r);
}

/* Compare the request body with our own encoding of what it should be. */
static bool body_is(struct broker *b, const struct kf_api *api, int16_t ver, const void *want,
		    const uint8_t *body, size_t len)
{
	struct kf_wr wr;
	kf_wr_init(&wr);
	kf_proto_encode(&wr, api->req, ver, kf_proto_flexible(api, ver), want);
	bool same = wr.len == len && memcmp(wr.buf, body, len) == 0;
	if (!same)
		snprintf(b->mismatch, sizeof(b->mismatch), "step %d: %s v%d body differs (%zu vs %zu bytes)",
			 b->at, api->name, ver, len, wr.len);
	kf_wr_free(&wr);
	return same;
}

static void answer_step(struct broker *b, const struct kf_api *api, int16_t ver, int32_t corr,
			const uint8_t *body, size_t len)
{
	if (b->at >= b->nsteps || b->script[b->at].key != api->key) {
		snprintf(b->mismatch, sizeof(b->mismatch), "step %d: unexpected %s", b->at, api->name);
		return;
	}
	const struct step *st = &b->script[b->at];
	if (api->key == KF_API_SASL_HANDSHAKE) {
		struct kf_sasl_handshake_req want = { (char *)st->expect };
		/* v1 only where SaslAuthenticate follows */
		int16_t want_ver = b->hs_vmax >= 1 && b->auth_vmax >= 0 ? 1 : 0;
		if (ver != want_ver)
			snprintf(b->mismatch, sizeof(b->mismatch), "SaslHandshake v%d, want v%d", ver,
				 want_ver);
		b->raw = ver == 0;
		if (!body_is(b, api, ver, &want, body, len))
			return;
		struct kf_sasl_handshake_resp r = { st->error_code, { (void *)st->mechs, 0 } };
		while (r.mechanisms.n < 3 && st->mechs[r.mechanisms.n])
			r.mechanisms.n++;
		broker_send(b, api, ver, corr, &r);
	} else {
		struct kf_sasl_authenticate_req want = { { u8(st->expect), (int32_t)st->expect_len } };
		if (ver != b->auth_vmax)
			snprintf(b->mismatch, sizeof(b->mismatch), "SaslAuthenticate v%d", ver);
		if (!body_is(b, api, ver, &want, body, len))
			return;
		struct kf_sasl_authenticate_resp r = {
			st->error_code, (char *)st->error_message,
			{ u8(st->reply ? st->reply : ""), st->reply ? (int32_t)strlen(st->reply) : 0 },
			st->lifetime_ms,
		};
		broker_send(b, api, ver, corr, &r);
	}
	b->at++;
}

/* A bare token after SaslHandshake v0: compared byte for byte, answered
 * with a bare frame or by closing the connection. */
static void answer_raw(struct broker *b, const uint8_t *f, size_t len)
{
	if (b->at >= b->nsteps || b->script[b->at].key != RAW) {
		snprintf(b->mismatch, sizeof(b->mismatch), "step %d: unexpected raw token", b->at);
		return;
	}
	const struct step *st = &b->script[b->at++];
	if (len != st->expect_len || memcmp(f, st->expect, len) != 0) {
		snprintf(b->mismatch, sizeof(b->mismatch), "step %d: raw token differs (%zu vs %zu bytes)",
			 b->at - 1, len, st->expect_len);
		return;
	}
	if (st->error_code == CLOSE) {
		ev_io_stop(b->loop, &b->cio);
		close(b->cfd);
		b->cfd = -2; /* closed: no second connection is expected either */
		return;
	}
	struct kf_wr wr;
	kf_wr_init(&wr);
	kf_wr_bytes(&wr, st->reply, (int32_t)strlen(st->reply));
	ck_assert_int_eq(write(b->cfd, wr.buf, wr.len), (ssize_t)wr.len);
	kf_wr_free(&wr);
}

/* A whole request frame: header (v1 or v2), then the body. */
static void broker_frame(struct broker *b, const uint8_t *f, size_t len)
{
	struct kf_rd rd;
	kf_rd_init(&rd, f, len);
	int16_t key = kf_rd_i16(&rd), ver = kf_rd_i16(&rd);
	int32_t corr = kf_rd_i32(&rd);
	const uint8_t *cid;
	kf_rd_string(&rd, &cid);
	const struct kf_api *api = kf_proto_api(key);
	ck_assert_ptr_nonnull(api);
	if (kf_proto_req_header_version(api, ver) >= 2)
		kf_rd_skip_tags(&rd);
	ck_assert(kf_rd_ok(&rd));
	if (key == KF_API_API_VERSIONS)
		answer_apiversions(b, ver, corr);
	else
		answer_step(b, api, ver, corr, kf_rd_ptr(&rd), kf_rd_left(&rd));
}

static void on_broker_data(struct ev_loop *loop, ev_io *w, int revents)
{
	struct broker *b = w->data;
	ssize_t n = read(b->cfd, b->buf + b->got, sizeof(b->buf) - b->got);
	if (n <= 0) {
		ev_io_stop(loop, w);
		return;
	}
	b->got += (size_t)n;
	while (b->got >= 4) {
		uint32_t sz = (uint32_t)b->buf[0] << 24 | b->buf[1] << 16 | b->buf[2] << 8 | b->buf[3];
		ck_assert_uint_lt(sz, sizeof(b->buf) - 4);
		if (b->got < 4 + sz)
			break;
		if (b->raw)
			answer_raw(b, b->buf + 4, sz);
		else
			broker_frame(b, b->buf + 4, sz);
		if (b->cfd < 0)
			return;
		memmove(b->buf, b->buf + 4 + sz, b->got - 4 - sz);
		b->got -= 4 + sz;
	}
}

static void on_broker_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct broker *b = w->data;
	int fd = accept(b->lfd, NULL, NULL);
	if (fd == -1)
		return;
	ck_assert_int_eq(b->cfd, -1); /* one connection only: no retry expected */
	b->cfd = fd;
	ev_io_init(&b->cio, on_broker_data, fd, EV_READ);
	b->cio.data = b;
	ev_io_start(loop, &b->cio);
}

static void broker_start(struct broker *b, struct ev_loop *loop, const struct step *script, int n)
{
	memset(b, 0, sizeof(*b));
	b->loop = loop;
	b->cfd = -1;
	b->hs_vmax = 1;
	b->auth_vmax = 2;
	b->script = script;
	b->nsteps = n;
	b->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(b->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(b->lfd, 4), 0);
	socklen_t sl = sizeof(a);
	getsockname(b->lfd, (struct sockaddr *)&a, &sl);
	b->port = ntohs(a.sin_port);
	ev_io_init(&b->lio, on_broker_accept, b->lfd, EV_READ);
	b->lio.data = b;
	ev_io_start(loop, &b->lio);
}

static void broker_stop(struct broker *b)
{
	ev_io_stop(b->loop, &b->lio);
	ev_io_stop(b->loop, &b->cio);
	close(b->lfd);
	if (b->cfd >= 0)
		close(b->cfd);
}

struct outcome {
	bool done;
	enum kf_conn_state state; /* READY, DOWN or FAILED (auth_failed) */
	int err;
	char msg[512];
	int64_t reauths;          /* kf_conn_reauths at the end */
	int attempts;             /* connection attempts (resolving) */
};

static void on_state(struct kf_conn *c, enum kf_conn_state s, int err, const char *msg, void *opaque)
{
	struct outcome *o = opaque;
	if (s == KF_CONN_RESOLVING)
		o->attempts++;
	if (s != KF_CONN_READY && s != KF_CONN_DOWN && s != KF_CONN_FAILED)
		return;
	o->done = true;
	o->state = s;
	o->err = err;
	snprintf(o->msg, sizeof(o->msg), "%s", msg ? msg : "");
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents) { }

/* Set by a test whose script goes on after the connection is ready (a
 * re-authentication): exchange() then also waits for the rest. */
static bool exchange_whole_script;

/*
 * Connect with SASL conf to a broker playing script; returns the outcome.
 * *lifetime gets the session lifetime the hook recorded.
 */
static struct outcome exchange(const struct kf_sasl_conf *conf, const struct step *script, int n,
			       int16_t hs_vmax, int16_t auth_vmax, int64_t *lifetime, int64_t *reauth)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct broker b;
	broker_start(&b, loop, script, n);
	b.hs_vmax = hs_vmax;
	b.auth_vmax = auth_vmax;
	char err[256];
	struct kf_sasl *s = kf_sasl_new(conf, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	struct kf_conn_opts o = {
		.host = "127.0.0.1", .port = b.port, .node_id = 7, .connect_timeout_ms = 3000,
		.request_timeout_ms = 3000, .backoff_min_ms = 5000, .backoff_max_ms = 5000,
		.max_response_bytes = 1 << 20, .auth = kf_sasl_auth(s),
	};
	struct outcome out;
	memset(&out, 0, sizeof(out));
	struct kf_conn *c = kf_conn_new(loop, res, &o, on_state, &out);
	kf_conn_connect(c);
	ev_timer guard;
	ev_timer_init(&guard, on_guard, 5., 0.);
	ev_timer_start(loop, &guard);
	while ((!out.done || (exchange_whole_script && b.at < n && out.state == KF_CONN_READY)) &&
	       ev_is_active(&guard))
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
	/* the answer to the last step, and what would follow it: a retry
	 * within the 5 s backoff would show as a second attempt */
	ev_timer_init(&guard, on_guard, exchange_whole_script ? 0.1 : 0.01, 0.);
	ev_timer_start(loop, &guard);
	while (ev_is_active(&guard))
		ev_run(loop, EVRUN_ONCE);
	out.reauths = kf_conn_reauths(c);
	ck_assert_msg(out.done, "no outcome within 5 s");
	ck_assert_int_eq(out.attempts, 1);
	ck_assert_msg(b.mismatch[0] == 0, "%s", b.mismatch);
	ck_assert_int_eq(b.at, n); /* every scripted request came, none more */
	if (lifetime)
		*lifetime = kf_sasl_session_lifetime_ms(s, c);
	if (reauth)
		*reauth = kf_sasl_reauth_ms(s, c);
	kf_conn_free(c);
	kf_sasl_forget(s, c);
	ck_assert_int_eq(kf_sasl_reauth_ms(s, c), -1);
	ck_assert_int_eq(kf_sasl_session_lifetime_ms(s, c), 0);
	kf_sasl_free(s);
	broker_stop(&b);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
	/* the password never appears in what the owner is told */
	if (conf->password[0])
		ck_assert_ptr_null(strstr(out.msg, conf->password));
	return out;
}

static const struct kf_sasl_conf plain_conf = { "PLAIN", "alice", "s3cret!", NULL };

START_TEST(plain_ok)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "PLAIN", 5, 0, NULL, { "SCRAM-SHA-512", "PLAIN" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "\0alice\0s3cret!", 14, 0, NULL, { NULL }, "", 0 },
	};
	/* SaslAuthenticate v0, v1, v2 (flexible) */
	for (int16_t v = 0; v <= 2; v++) {
		int64_t life = -5, reauth = -5;
		struct outcome o = exchange(&plain_conf, script, 2, 1, v, &life, &reauth);
		ck_assert_msg(o.state == KF_CONN_READY, "v%d: %s", v, o.msg);
		ck_assert_int_eq(life, 0);
		ck_assert_int_eq(reauth, -1);
	}
}
END_TEST

/* KIP-368: with a session lifetime of 400 ms the client authenticates again
 * on the same connection (the broker accepts one connection only) after
 * 340..380 ms, and stays ready. */
START_TEST(plain_reauth)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "PLAIN", 5, 0, NULL, { "PLAIN" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "\0alice\0s3cret!", 14, 0, NULL, { NULL }, "", 400 },
		{ KF_API_SASL_HANDSHAKE, "PLAIN", 5, 0, NULL, { "PLAIN" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "\0alice\0s3cret!", 14, 0, NULL, { NULL }, "", 0 },
	};
	exchange_whole_script = true;
	int64_t life = -5, reauth = -5;
	struct outcome o = exchange(&plain_conf, script, 4, 1, 2, &life, &reauth);
	exchange_whole_script = false;
	ck_assert_msg(o.state == KF_CONN_READY, "%s", o.msg);
	ck_assert_int_eq(o.reauths, 1);
	/* The second answer gave no lifetime: no third round is planned. */
	ck_assert_int_eq(life, 0);
	ck_assert_int_eq(reauth, -1);
}
END_TEST

/* A re-authentication the broker refuses (the password changed on its
 * side): the connection ends in auth_failed, not in a reconnect loop. */
/* Requests that wait while the broker refuses the credentials fail with
 * KF_EAUTH, each callback once; one callback that frees the connection
 * and one that sends again (which fails too, from the loop) are fine. */
struct waiter {
	struct kf_conn **conn; /* freed by the callback when set */
	int err, calls;
	bool resend;
	struct waiter *again;  /* the request sent from the callback */
};

static const struct kf_metadata_req no_md; /* never encoded */

static void on_waiter(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	(void)ver, (void)resp;
	struct waiter *w = opaque;
	w->calls++;
	w->err = err;
	if (w->resend && w->again)
		ck_assert_int_eq(kf_conn_send(c, KF_API_METADATA, -1, &no_md, 0, on_waiter, w->again),
				 KF_OK);
	if (w->conn) {
		kf_conn_free(*w->conn);
		*w->conn = NULL;
	}
}

START_TEST(refused_fails_waiting_requests)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "PLAIN", 5, 0, NULL, { "PLAIN" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "\0alice\0s3cret!", 14, 58, "Invalid username or password",
		  { NULL }, NULL, 0 },
	};
	for (int freeing = 0; freeing <= 1; freeing++) {
		struct ev_loop *loop = ev_loop_new(0);
		struct kf_resolver *res = kf_resolver_new(loop);
		struct broker b;
		broker_start(&b, loop, script, 2);
		char err[256];
		struct kf_sasl *s = kf_sasl_new(&plain_conf, err, sizeof(err));
		struct kf_conn_opts o = {
			.host = "127.0.0.1", .port = b.port, .node_id = 7, .connect_timeout_ms = 3000,
			.request_timeout_ms = 3000, .backoff_min_ms = 100, .backoff_max_ms = 100,
			.max_response_bytes = 1 << 20, .auth = kf_sasl_auth(s),
		};
		struct kf_conn *c = kf_conn_new(loop, res, &o, NULL, NULL);
		struct waiter w3 = { 0 };
		struct waiter w1 = { .resend = true, .again = &w3 };
		struct waiter w2 = { .conn = freeing ? &c : NULL };
		ck_assert_int_eq(kf_conn_send(c, KF_API_METADATA, -1, &no_md, 0, on_waiter, &w1), KF_OK);
		ck_assert_int_eq(kf_conn_send(c, KF_API_METADATA, -1, &no_md, 0, on_waiter, &w2), KF_OK);
		ev_timer guard;
		ev_timer_init(&guard, on_guard, 1., 0.); /* > the 100 ms backoff */
		ev_timer_start(loop, &guard);
		while (ev_is_active(&guard))
			ev_run(loop, EVRUN_ONCE);
		ck_assert_int_eq(w1.calls, 1);
		ck_assert_int_eq(w1.err, KF_EAUTH);
		ck_assert_int_eq(w2.calls, 1);
		ck_assert_int_eq(w2.err, KF_EAUTH);
		/* sent again from w1's callback: failed from the loop, or closed
		 * with the connection that w2's callback freed */
		ck_assert_int_eq(w3.calls, 1);
		ck_assert_int_eq(w3.err, freeing ? KF_ECLOSED : KF_EAUTH);
		ck_assert_int_eq(b.at, 2); /* one attempt only */
		if (c) {
			ck_assert_int_eq(kf_conn_state(c), KF_CONN_FAILED);
			kf_conn_free(c);
		}
		kf_sasl_free(s);
		broker_stop(&b);
		kf_resolver_free(res);
		ev_loop_destroy(loop);
	}
}
END_TEST

START_TEST(reauth_refused)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "PLAIN", 5, 0, NULL, { "PLAIN" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "\0alice\0s3cret!", 14, 0, NULL, { NULL }, "", 400 },
		{ KF_API_SASL_HANDSHAKE, "PLAIN", 5, 0, NULL, { "PLAIN" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "\0alice\0s3cret!", 14, 58, "Invalid username or password",
		  { NULL }, NULL, 0 },
	};
	exchange_whole_script = true;
	struct outcome o = exchange(&plain_conf, script, 4, 1, 2, NULL, NULL);
	exchange_whole_script = false;
	ck_assert_int_eq(o.state, KF_CONN_FAILED);
	ck_assert_int_eq(o.err, KF_EAUTH);
	ck_assert_int_eq(o.reauths, 0);
	ck_assert_msg(strstr(o.msg, "SASL_AUTHENTICATION_FAILED: Invalid username"), "%s", o.msg);
}
END_TEST

START_TEST(scram256_ok)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "SCRAM-SHA-256", 13, 0, NULL, { "PLAIN", "SCRAM-SHA-256" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "n,,n=user,r=" RFC_NONCE, 32, 0, NULL, { NULL }, RFC_S1, 0 },
		{ KF_API_SASL_AUTHENTICATE, RFC_C2, sizeof(RFC_C2) - 1, 0, NULL, { NULL }, RFC_S2, 3600000 },
	};
	struct kf_sasl_conf conf = { "SCRAM-SHA-256", "user", "pencil", RFC_NONCE };
	for (int16_t v = 0; v <= 2; v++) {
		int64_t life = -5, reauth = -5;
		struct outcome o = exchange(&conf, script, 3, 1, v, &life, &reauth);
		ck_assert_msg(o.state == KF_CONN_READY, "v%d: %s", v, o.msg);
		/* SessionLifetimeMs exists from v1 */
		ck_assert_int_eq(life, v >= 1 ? 3600000 : 0);
		if (v >= 1) {
			ck_assert_int_ge(reauth, 3060000);
			ck_assert_int_le(reauth, 3420000);
		} else {
			ck_assert_int_eq(reauth, -1);
		}
	}
}
END_TEST

START_TEST(scram512_ok)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "SCRAM-SHA-512", 13, 0, NULL, { "SCRAM-SHA-512" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "n,,n=user,r=" RFC_NONCE, 32, 0, NULL, { NULL }, RFC_S1, 0 },
		{ KF_API_SASL_AUTHENTICATE, S512_C2, sizeof(S512_C2) - 1, 0, NULL, { NULL }, S512_S2, 0 },
	};
	struct kf_sasl_conf conf = { "SCRAM-SHA-512", "user", "pencil", RFC_NONCE };
	struct outcome o = exchange(&conf, script, 3, 1, 2, NULL, NULL);
	ck_assert_msg(o.state == KF_CONN_READY, "%s", o.msg);
}
END_TEST

START_TEST(mechanism_not_offered)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "SCRAM-SHA-512", 13, 33, NULL, { "PLAIN", "SCRAM-SHA-256" }, NULL, 0 },
	};
	struct kf_sasl_conf conf = { "SCRAM-SHA-512", "user", "pencil", RFC_NONCE };
	struct outcome o = exchange(&conf, script, 1, 1, 2, NULL, NULL);
	/* the listener's settings: refused for good */
	ck_assert_int_eq(o.state, KF_CONN_FAILED);
	ck_assert_int_eq(o.err, KF_EAUTH);
	ck_assert_msg(strstr(o.msg, "SCRAM-SHA-512") && strstr(o.msg, "offers: PLAIN, SCRAM-SHA-256") &&
		      strstr(o.msg, "127.0.0.1:"), "%s", o.msg);
}
END_TEST

START_TEST(no_sasl_handshake)
{
	struct outcome o = exchange(&plain_conf, NULL, 0, -1, -1, NULL, NULL);
	ck_assert_int_eq(o.state, KF_CONN_DOWN);
	ck_assert_int_eq(o.err, KF_EUNSUPP);
	ck_assert_msg(strstr(o.msg, "offers no SaslHandshake"), "%s", o.msg);
}
END_TEST

/* Before Kafka 1.0: SaslHandshake v0, then the tokens as bare frames; a
 * broker advertising SaslHandshake v1 but no SaslAuthenticate gets v0 too.
 * PLAIN's success is an empty frame. */
START_TEST(legacy_plain_ok)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "PLAIN", 5, 0, NULL, { "PLAIN" }, NULL, 0 },
		{ RAW, "\0alice\0s3cret!", 14, 0, NULL, { NULL }, "", 0 },
	};
	for (int16_t hv = 0; hv <= 1; hv++) {
		int64_t life = -5, reauth = -5;
		struct outcome o = exchange(&plain_conf, script, 2, hv, -1, &life, &reauth);
		ck_assert_msg(o.state == KF_CONN_READY, "hs v%d: %s", hv, o.msg);
		ck_assert_int_eq(life, 0);
		ck_assert_int_eq(reauth, -1);
	}
}
END_TEST

START_TEST(legacy_scram_ok)
{
	static const struct step s256[] = {
		{ KF_API_SASL_HANDSHAKE, "SCRAM-SHA-256", 13, 0, NULL, { "SCRAM-SHA-256" }, NULL, 0 },
		{ RAW, "n,,n=user,r=" RFC_NONCE, 32, 0, NULL, { NULL }, RFC_S1, 0 },
		{ RAW, RFC_C2, sizeof(RFC_C2) - 1, 0, NULL, { NULL }, RFC_S2, 0 },
	};
	struct kf_sasl_conf c256 = { "SCRAM-SHA-256", "user", "pencil", RFC_NONCE };
	struct outcome o = exchange(&c256, s256, 3, 0, -1, NULL, NULL);
	ck_assert_msg(o.state == KF_CONN_READY, "%s", o.msg);

	static const struct step s512[] = {
		{ KF_API_SASL_HANDSHAKE, "SCRAM-SHA-512", 13, 0, NULL, { "SCRAM-SHA-512" }, NULL, 0 },
		{ RAW, "n,,n=user,r=" RFC_NONCE, 32, 0, NULL, { NULL }, RFC_S1, 0 },
		{ RAW, S512_C2, sizeof(S512_C2) - 1, 0, NULL, { NULL }, S512_S2, 0 },
	};
	struct kf_sasl_conf c512 = { "SCRAM-SHA-512", "user", "pencil", RFC_NONCE };
	o = exchange(&c512, s512, 3, 0, -1, NULL, NULL);
	ck_assert_msg(o.state == KF_CONN_READY, "%s", o.msg);
}
END_TEST

/* A pre-1.0 broker refuses by closing the connection; a bad server
 * signature is caught as with SaslAuthenticate. */
START_TEST(legacy_refused)
{
	static const struct step plain[] = {
		{ KF_API_SASL_HANDSHAKE, "PLAIN", 5, 0, NULL, { "PLAIN" }, NULL, 0 },
		{ RAW, "\0alice\0s3cret!", 14, CLOSE, NULL, { NULL }, NULL, 0 },
	};
	struct outcome o = exchange(&plain_conf, plain, 2, 0, -1, NULL, NULL);
	ck_assert_int_eq(o.state, KF_CONN_FAILED);
	ck_assert_int_eq(o.err, KF_EAUTH);
	ck_assert_msg(strstr(o.msg, "closed by broker after our SASL token"), "%s", o.msg);

	static const struct step badsig[] = {
		{ KF_API_SASL_HANDSHAKE, "SCRAM-SHA-256", 13, 0, NULL, { "SCRAM-SHA-256" }, NULL, 0 },
		{ RAW, "n,,n=user,r=" RFC_NONCE, 32, 0, NULL, { NULL }, RFC_S1, 0 },
		{ RAW, RFC_C2, sizeof(RFC_C2) - 1, 0, NULL, { NULL },
		  "v=AAAiTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", 0 },
	};
	struct kf_sasl_conf conf = { "SCRAM-SHA-256", "user", "pencil", RFC_NONCE };
	o = exchange(&conf, badsig, 3, 0, -1, NULL, NULL);
	ck_assert_int_eq(o.state, KF_CONN_FAILED);
	ck_assert_int_eq(o.err, KF_EAUTH);
	ck_assert_msg(strstr(o.msg, "server signature does not match"), "%s", o.msg);
}
END_TEST

START_TEST(wrong_password)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "SCRAM-SHA-256", 13, 0, NULL, { "SCRAM-SHA-256" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "n,,n=user,r=" RFC_NONCE, 32, 0, NULL, { NULL }, RFC_S1, 0 },
		/* the proof of password "pencil2" */
		{ KF_API_SASL_AUTHENTICATE, NULL, 0, 58,
		  "Authentication failed during authentication due to invalid credentials with SASL "
		  "mechanism SCRAM-SHA-256", { NULL }, NULL, 0 },
	};
	struct step s[3];
	memcpy(s, script, sizeof(s));
	struct kf_sasl_conf conf = { "SCRAM-SHA-256", "user", "pencil2", RFC_NONCE };
	/* what the client must send with that password */
	char err[256];
	struct kf_scram *sc = kf_scram_new(KF_SASL_SCRAM_SHA_256, "user", "pencil2", RFC_NONCE);
	const char *c2 = first(sc, RFC_S1, KF_OK, err, sizeof(err));
	ck_assert_str_ne(c2, RFC_C2);
	s[2].expect = c2;
	s[2].expect_len = strlen(c2);
	struct outcome o = exchange(&conf, s, 3, 1, 2, NULL, NULL);
	kf_scram_free(sc);
	/* SASL_AUTHENTICATION_FAILED: refused for good, no second attempt */
	ck_assert_int_eq(o.state, KF_CONN_FAILED);
	ck_assert_int_eq(o.err, KF_EAUTH);
	ck_assert_msg(strstr(o.msg, "SASL_AUTHENTICATION_FAILED") && strstr(o.msg, "invalid credentials") &&
		      strstr(o.msg, "'user'") && strstr(o.msg, "127.0.0.1:"), "%s", o.msg);

	/* PLAIN likewise */
	static const struct step pscript[] = {
		{ KF_API_SASL_HANDSHAKE, "PLAIN", 5, 0, NULL, { "PLAIN" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "\0alice\0s3cret!", 14, 58, "Invalid username or password",
		  { NULL }, NULL, 0 },
	};
	o = exchange(&plain_conf, pscript, 2, 1, 1, NULL, NULL);
	ck_assert_int_eq(o.state, KF_CONN_FAILED);
	ck_assert_int_eq(o.err, KF_EAUTH);
	ck_assert_msg(strstr(o.msg, "SaslAuthenticate SASL_AUTHENTICATION_FAILED: Invalid username"),
		      "%s", o.msg);
}
END_TEST

START_TEST(bad_server_signature)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "SCRAM-SHA-256", 13, 0, NULL, { "SCRAM-SHA-256" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "n,,n=user,r=" RFC_NONCE, 32, 0, NULL, { NULL }, RFC_S1, 0 },
		{ KF_API_SASL_AUTHENTICATE, RFC_C2, sizeof(RFC_C2) - 1, 0, NULL, { NULL },
		  "v=AAAiTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", 0 },
	};
	struct kf_sasl_conf conf = { "SCRAM-SHA-256", "user", "pencil", RFC_NONCE };
	struct outcome o = exchange(&conf, script, 3, 1, 2, NULL, NULL);
	ck_assert_int_eq(o.state, KF_CONN_FAILED);
	ck_assert_int_eq(o.err, KF_EAUTH);
	ck_assert_msg(strstr(o.msg, "server signature does not match"), "%s", o.msg);
}
END_TEST

START_TEST(bad_server_first_over_wire)
{
	static const struct step script[] = {
		{ KF_API_SASL_HANDSHAKE, "SCRAM-SHA-256", 13, 0, NULL, { "SCRAM-SHA-256" }, NULL, 0 },
		{ KF_API_SASL_AUTHENTICATE, "n,,n=user,r=" RFC_NONCE, 32, 0, NULL, { NULL },
		  "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", 0 },
	};
	struct kf_sasl_conf conf = { "SCRAM-SHA-256", "user", "pencil", RFC_NONCE };
	struct outcome o = exchange(&conf, script, 2, 1, 2, NULL, NULL);
	ck_assert_int_eq(o.state, KF_CONN_FAILED);
	ck_assert_int_eq(o.err, KF_EAUTH);
	ck_assert_msg(strstr(o.msg, "does not extend ours"), "%s", o.msg);
}
END_TEST

START_TEST(conf_errors)
{
	char err[256];
	struct kf_sasl_conf c = { "GSSAPI", "u", "p", NULL };
	ck_assert_ptr_null(kf_sasl_new(&c, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "GSSAPI"));
	c.mechanism = "PLAIN";
	c.username = "";
	ck_assert_ptr_null(kf_sasl_new(&c, err, sizeof(err)));
	c.username = "u";
	c.password = NULL;
	ck_assert_ptr_null(kf_sasl_new(&c, err, sizeof(err)));
}
END_TEST

Suite *suite_sasl(void)
{
	Suite *s = suite_create("sasl");
	TCase *t = tcase_create("scram");
	tcase_add_test(t, mech_names);
	tcase_add_test(t, saslname_escaping);
	tcase_add_test(t, rfc7677_sha256);
	tcase_add_test(t, derived_sha512);
	tcase_add_test(t, random_nonce);
	tcase_add_test(t, server_first_rejects);
	tcase_add_test(t, server_final_rejects);
	tcase_add_test(t, reauth_timing);
	suite_add_tcase(s, t);
	/* A python3 process: seconds on a loaded machine (4 s, Check's
	 * default, timed out at load 9 under the sanitizers). */
	t = tcase_create("scram-python");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, cross_check_python);
	suite_add_tcase(s, t);
	t = tcase_create("exchange");
	tcase_set_timeout(t, 20);
	tcase_add_test(t, plain_ok);
	tcase_add_test(t, plain_reauth);
	tcase_add_test(t, reauth_refused);
	tcase_add_test(t, refused_fails_waiting_requests);
	tcase_add_test(t, scram256_ok);
	tcase_add_test(t, scram512_ok);
	tcase_add_test(t, mechanism_not_offered);
	tcase_add_test(t, no_sasl_handshake);
	tcase_add_test(t, legacy_plain_ok);
	tcase_add_test(t, legacy_scram_ok);
	tcase_add_test(t, legacy_refused);
	tcase_add_test(t, wrong_password);
	tcase_add_test(t, bad_server_signature);
	tcase_add_test(t, bad_server_first_over_wire);
	tcase_add_test(t, conf_errors);
	suite_add_tcase(s, t);
	return s;
}
