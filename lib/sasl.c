/*
 * sasl: see sasl.h.
 *
 * The Kafka side is SaslHandshake v1 (mechanism negotiation) and then
 * SaslAuthenticate rounds carrying the mechanism's tokens.  A broker without
 * SaslAuthenticate (before Kafka 1.0) gets SaslHandshake v0 and the same
 * tokens as bare size-prefixed frames (kf_conn_send_auth_raw); it refuses
 * by closing the connection and has no session lifetime.
 */
#include "config.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "proto_msgs.h"
#include "sasl.h"

#define NONCE_RAW 24        /* bytes of randomness in our nonce */
#define MAX_SCRAM_MSG 4096  /* longest server message we accept */
#define MAX_SALT 512        /* decoded */

static const char *const mech_names[] = { "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" };

int kf_sasl_mech_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (name && strcmp(name, mech_names[i]) == 0)
			return i;
	return -1;
}

const char *kf_sasl_mech_name(enum kf_sasl_mech m)
{
	return (unsigned)m < 3 ? mech_names[m] : "?";
}

/* ------------------------------------------------------------ helpers */

static void wipe_free(void *p, size_t n)
{
	if (p) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

static char *wipe_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void wipe_str(char *s)
{
	if (s)
		wipe_free(s, strlen(s));
}

/* Base64 of n bytes as a new NUL-terminated string. */
static char *b64_encode(const uint8_t *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

static int b64_val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Strict base64 (padded, standard alphabet, canonical) into out; returns
 * the decoded length or -1.  EVP_DecodeBlock is not used: it keeps padding bytes in
 * its count and accepts whitespace.
 */
static long b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	if (n == 0 || n % 4)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64_val(s[i + k])) < 0) {
				return -1;
			}
		}
		/* Bits past the data must be zero: one encoding per value. */
		if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
			return -1;
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		size_t got = 3 - (size_t)pad;
		if (o + got > cap)
			return -1;
		out[o++] = (uint8_t)(w >> 16);
		if (got > 1)
			out[o++] = (uint8_t)(w >> 8);
		if (got > 2)
			out[o++] = (uint8_t)w;
	}
	return (long)o;
}

/* A broker-supplied text made safe for a log line: printable ASCII only,
 * bounded. */
static void copy_printable(char *dst, size_t cap, const char *src, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++)
		dst[o++] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	if (cap)
		dst[o] = '\0';
}

/* ------------------------------------------------------------ SCRAM */

struct kf_scram {
	const EVP_MD *md;
	size_t hlen;
	char *password;
	char *client_first;  /* "n,,"-prefixed; the bare message starts at +3 */
	char *nonce;
	char *client_final;
	uint8_t server_sig[EVP_MAX_MD_SIZE];
	bool have_sig;
};

size_t kf_scram_saslname(const char *user, char *out, size_t outlen)
{
	size_t n = 0;
	for (const char *p = user; *p; p++) {
		const char *rep = *p == ',' ? "=2C" : *p == '=' ? "=3D" : NULL;
		size_t k = rep ? 3 : 1;
		for (size_t i = 0; i < k; i++, n++)
			if (n + 1 < outlen)
				out[n] = rep ? rep[i] : *p;
	}
	if (outlen)
		out[n < outlen ? n : outlen - 1] = '\0';
	return n;
}

/* RFC 5802 printable, without ','. */
static bool nonce_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return false;
	return n > 0;
}

struct kf_scram *kf_scram_new(enum kf_sasl_mech mech, const char *user, const char *password,
			      const char *nonce)
{
	if ((mech != KF_SASL_SCRAM_SHA_256 && mech != KF_SASL_SCRAM_SHA_512) || !user || !password)
		return NULL;
	if (nonce && !nonce_ok(nonce, strlen(nonce)))
		return NULL;
	struct kf_scram *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->md = mech == KF_SASL_SCRAM_SHA_256 ? EVP_sha256() : EVP_sha512();
	s->hlen = (size_t)EVP_MD_get_size(s->md);
	s->password = wipe_strdup(password);
	if (nonce) {
		s->nonce = strdup(nonce);
	} else {
		uint8_t raw[NONCE_RAW];
		if (RAND_bytes(raw, sizeof(raw)) == 1)
			s->nonce = b64_encode(raw, sizeof(raw));
	}
	size_t nlen = kf_scram_saslname(user, NULL, 0);
	char *name = malloc(nlen + 1);
	if (name && s->nonce) {
		kf_scram_saslname(user, name, nlen + 1);
		size_t cap = nlen + strlen(s->nonce) + 16;
		s->client_first = malloc(cap);
		if (s->client_first)
			snprintf(s->client_first, cap, "n,,n=%s,r=%s", name, s->nonce);
	}
	free(name);
	if (!s->password || !s->client_first) {
		kf_scram_free(s);
		return NULL;
	}
	return s;
}

void kf_scram_free(struct kf_scram *s)
{
	if (!s)
		return;
	wipe_str(s->password);
	free(s->client_first);
	free(s->nonce);
	free(s->client_final);
	OPENSSL_cleanse(s->server_sig, sizeof(s->server_sig));
	free(s);
}

const char *kf_scram_client_first(const struct kf_scram *s)
{
	return s->client_first;
}

/* The server-first attributes we need, as spans into the message. */
struct server_first {
	const char *nonce, *salt;
	size_t nonce_len, salt_len;
	long iter;
};

/* "<c>=value" at *p up to ',' or the end; advances *p past the ','. */
static bool take_attr(const char **p, const char *end, char name, const char **v, size_t *vlen)
{
	if (end - *p < 2 || (*p)[0] != name || (*p)[1] != '=')
		return false;
	const char *start = *p + 2;
	const char *comma = memchr(start, ',', (size_t)(end - start));
	*v = start;
	*vlen = (size_t)((comma ? comma : end) - start);
	*p = comma ? comma + 1 : end;
	return true;
}

static int fail(char *err, size_t errlen, const char *fmt, const char *detail, size_t dlen)
{
	char d[160] = "";
	if (detail)
		copy_printable(d, sizeof(d), detail, dlen);
	if (err && errlen)
		snprintf(err, errlen, fmt, d);
	return KF_EPROTO;
}

static int parse_server_first(const char *m, size_t len, struct server_first *sf, char *err,
			      size_t errlen)
{
	const char *p = m, *end = m + len, *v;
	size_t vl;
	if (len >= 2 && m[0] == 'e' && m[1] == '=')
		return fail(err, errlen, "server error: %s", m + 2, len - 2);
	if (len >= 2 && m[0] == 'm' && m[1] == '=')
		return fail(err, errlen, "server-first has a mandatory extension%s", NULL, 0);
	if (!take_attr(&p, end, 'r', &sf->nonce, &sf->nonce_len) ||
	    !take_attr(&p, end, 's', &sf->salt, &sf->salt_len) || !take_attr(&p, end, 'i', &v, &vl))
		return fail(err, errlen, "malformed server-first message '%s'", m, len);
	/* Anything after i= is an extension, which a client may ignore. */
	sf->iter = 0;
	for (size_t i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9' || i >= 9)
			return fail(err, errlen, "bad iteration count '%s'", v, vl);
		sf->iter = sf->iter * 10 + (v[i] - '0');
	}
	if (vl == 0)
		return fail(err, errlen, "empty iteration count%s", NULL, 0);
	return KF_OK;
}

static bool hmac(const EVP_MD *md, const uint8_t *key, size_t klen, const void *d, size_t n,
		 uint8_t *out)
{
	unsigned int olen = 0;
	return HMAC(md, key, (int)klen, d, n, out, &olen) != NULL;
}

/* Proof and server signature from the salted password (RFC 5802 3). */
static bool scram_keys(struct kf_scram *s, const uint8_t *salt, size_t salt_len, long iter,
		       const char *auth_msg, uint8_t *proof)
{
	uint8_t sp[EVP_MAX_MD_SIZE], ck[EVP_MAX_MD_SIZE], stored[EVP_MAX_MD_SIZE];
	uint8_t csig[EVP_MAX_MD_SIZE], skey[EVP_MAX_MD_SIZE];
	size_t am_len = strlen(auth_msg);
	unsigned int dl = 0;
	bool ok = PKCS5_PBKDF2_HMAC(s->password, (int)strlen(s->password), salt, (int)salt_len,
				    (int)iter, s->md, (int)s->hlen, sp) == 1 &&
		  hmac(s->md, sp, s->hlen, "Client Key", 10, ck) &&
		  EVP_Digest(ck, s->hlen, stored, &dl, s->md, NULL) == 1 &&
		  hmac(s->md, stored, s->hlen, auth_msg, am_len, csig) &&
		  hmac(s->md, sp, s->hlen, "Server Key", 10, skey) &&
		  hmac(s->md, skey, s->hlen, auth_msg, am_len, s->server_sig);
	for (size_t i = 0; ok && i < s->hlen; i++)
		proof[i] = ck[i] ^ csig[i];
	OPENSSL_cleanse(sp, sizeof(sp));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(csig, sizeof(csig));
	OPENSSL_cleanse(skey, sizeof(skey));
	return ok;
}

int kf_scram_server_first(struct kf_scram *s, const uint8_t *msg, size_t len, const char **out,
			  char *err, size_t errlen)
{
	if (s->client_final)
		return fail(err, errlen, "server-first message already taken%s", NULL, 0);
	if (len == 0 || len > MAX_SCRAM_MSG || memchr(msg, 0, len))
		return fail(err, errlen, "server-first message empty, too long or not text%s", NULL, 0);
	const char *m = (const char *)msg;
	struct server_first sf;
	int rc = parse_server_first(m, len, &sf, err, errlen);
	if (rc)
		return rc;
	size_t ours = strlen(s->nonce);
	if (sf.nonce_len <= ours || memcmp(sf.nonce, s->nonce, ours) || !nonce_ok(sf.nonce, sf.nonce_len))
		return fail(err, errlen, "server nonce '%s' does not extend ours", sf.nonce, sf.nonce_len);
	if (sf.iter < KF_SCRAM_MIN_ITER || sf.iter > KF_SCRAM_MAX_ITER)
	{
		if (err && errlen)
			snprintf(err, errlen, "iteration count %ld outside %d..%d", sf.iter,
				 KF_SCRAM_MIN_ITER, KF_SCRAM_MAX_ITER);
		return KF_EPROTO;
	}
	uint8_t salt[MAX_SALT];
	long salt_len = b64_decode(sf.salt, sf.salt_len, salt, sizeof(salt));
	if (salt_len <= 0)
		return fail(err, errlen, "bad salt '%s'", sf.salt, sf.salt_len);

	/* client-final-without-proof, then the AuthMessage over all three. */
	size_t wp_len = 9 + sf.nonce_len;
	const char *bare = s->client_first + 3;
	size_t am_cap = strlen(bare) + len + wp_len + 3;
	char *am = malloc(am_cap);
	char *final = malloc(wp_len + 4 + 4 * ((s->hlen + 2) / 3) + 1);
	uint8_t proof[EVP_MAX_MD_SIZE];
	char *p64 = NULL;
	bool ok = am && final;
	if (ok) {
		snprintf(final, wp_len + 1, "c=biws,r=%.*s", (int)sf.nonce_len, sf.nonce);
		snprintf(am, am_cap, "%s,%.*s,%s", bare, (int)len, m, final);
		ok = scram_keys(s, salt, (size_t)salt_len, sf.iter, am, proof);
	}
	if (ok)
		ok = (p64 = b64_encode(proof, s->hlen)) != NULL;
	if (ok) {
		strcat(final, ",p=");
		strcat(final, p64);
		s->client_final = final;
		s->have_sig = true;
		*out = final;
	} else {
		free(final);
		if (err && errlen)
			snprintf(err, errlen, "SCRAM computation failed (out of memory?)");
	}
	OPENSSL_cleanse(proof, sizeof(proof));
	free(p64);
	free(am);
	return ok ? KF_OK : KF_ENOMEM;
}

int kf_scram_verify_final(const struct kf_scram *s, const uint8_t *msg, size_t len, char *err,
			  size_t errlen)
{
	if (!s->have_sig)
		return fail(err, errlen, "server-final before server-first%s", NULL, 0);
	if (len == 0 || len > MAX_SCRAM_MSG || memchr(msg, 0, len))
		return fail(err, errlen, "server-final message empty, too long or not text%s", NULL, 0);
	const char *p = (const char *)msg, *end = p + len, *v;
	size_t vl;
	if (take_attr(&p, end, 'e', &v, &vl))
		return fail(err, errlen, "server error: %s", v, vl);
	if (!take_attr(&p, end, 'v', &v, &vl))
		return fail(err, errlen, "malformed server-final message '%s'", (const char *)msg, len);
	uint8_t sig[MAX_SALT];
	long n = b64_decode(v, vl, sig, sizeof(sig));
	if (n != (long)s->hlen || CRYPTO_memcmp(sig, s->server_sig, s->hlen) != 0)
		return fail(err, errlen, "server signature does not match: the broker did not prove "
			    "it knows the credentials%s", NULL, 0);
	return KF_OK;
}

/* ------------------------------------------------------------ reauth timing */

int64_t kf_sasl_reauth_delay_ms(int64_t lifetime_ms, uint32_t rnd)
{
	if (lifetime_ms <= 0)
		return -1;
	/* Java's client: lifetime * (0.85 + 0.10 * random).  Whole ms, and never
	 * 0 unless the lifetime itself is that short. */
	long double f = 0.85L + 0.10L * (long double)rnd / (long double)UINT32_MAX;
	int64_t d = (int64_t)((long double)lifetime_ms * f);
	return d > 0 ? d : 1;
}

/* ------------------------------------------------------------ the kf_auth hook */

/* One per connection the hook has seen: the exchange under way (if any)
 * and what the last success said about the session. */
struct sess {
	struct sess *next;
	struct kf_sasl *sasl;
	struct kf_conn *conn;
	bool active;
	bool legacy;            /* raw frames after SaslHandshake v0 */
	bool again;             /* re-authenticating a ready connection (KIP-368) */
	int round;              /* SaslAuthenticate rounds answered */
	int16_t auth_ver;
	struct kf_scram *scram;
	uint8_t *plain;         /* PLAIN token (holds the password) */
	size_t plain_len;
	struct kf_sasl_handshake_req hs;
	struct kf_sasl_authenticate_req au;
	int64_t lifetime_ms, reauth_ms;
};

struct kf_sasl {
	struct kf_auth auth;
	enum kf_sasl_mech mech;
	char *user, *password, *nonce;
	struct sess *sessions;
};

static void sess_reset(struct sess *x)
{
	kf_scram_free(x->scram);
	x->scram = NULL;
	wipe_free(x->plain, x->plain_len);
	x->plain = NULL;
	x->plain_len = 0;
	x->au.auth_bytes.p = NULL;
	x->au.auth_bytes.len = 0;
	x->active = false;
	x->round = 0;
}

static struct sess *sess_find(const struct kf_sasl *s, const struct kf_conn *c)
{
	for (struct sess *x = s->sessions; x; x = x->next)
		if (x->conn == c)
			return x;
	return NULL;
}

/* End the exchange with an error; the connection tears down and retries. */
static void sess_fail(struct sess *x, int err, const char *fmt, const char *detail)
{
	char m[512];
	struct kf_conn *c = x->conn;
	snprintf(m, sizeof(m), "SASL %s authentication as '%s' with %s failed: ",
		 kf_sasl_mech_name(x->sasl->mech), x->sasl->user, kf_conn_name(c));
	size_t n = strlen(m);
	snprintf(m + n, sizeof(m) - n, fmt, detail ? detail : "");
	sess_reset(x);
	kf_conn_auth_done(c, err, m);
}

static void on_auth(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque);
static void on_raw(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque);

static void send_token(struct sess *x, const void *p, size_t n)
{
	int rc;
	if (x->legacy) {
		rc = kf_conn_send_auth_raw(x->conn, p, n, 0, on_raw, x);
	} else {
		x->au.auth_bytes.p = p;
		x->au.auth_bytes.len = (int32_t)n;
		rc = kf_conn_send_auth(x->conn, KF_API_SASL_AUTHENTICATE, x->auth_ver, &x->au, 0,
				       on_auth, x);
	}
	if (rc)
		sess_fail(x, rc, "could not send the SASL token: %s", kf_strerror(rc));
}

/* lifetime_ms: the SessionLifetimeMs the broker gave (0: none). */
static void succeed(struct sess *x, int64_t lifetime_ms)
{
	struct kf_conn *c = x->conn;
	x->lifetime_ms = lifetime_ms > 0 ? lifetime_ms : 0;
	uint32_t rnd = 0;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)random();
	x->reauth_ms = kf_sasl_reauth_delay_ms(x->lifetime_ms, rnd);
	/* A re-authentication is routine (kf_conn_reauths counts them): one
	 * info line per connection, not one per session lifetime. */
	if (x->lifetime_ms)
		kf_log(x->again ? KF_LOG_DEBUG : KF_LOG_INFO, "sasl",
		       "%s: %s as '%s' (%s); session lifetime %lld ms, re-authenticating after "
		       "%lld ms", kf_conn_name(c), x->again ? "re-authenticated" : "authenticated",
		       x->sasl->user, kf_sasl_mech_name(x->sasl->mech), (long long)x->lifetime_ms,
		       (long long)x->reauth_ms);
	else
		kf_debug("sasl", "%s: authenticated as '%s' (%s)", kf_conn_name(c), x->sasl->user,
			 kf_sasl_mech_name(x->sasl->mech));
	sess_reset(x);
	kf_conn_auth_renew_after(c, x->reauth_ms);
	kf_conn_auth_done(c, KF_OK, NULL);
}

/* The broker's answer to our last token, SaslAuthenticate or raw. */
static void on_token(struct sess *x, int64_t lifetime_ms, const uint8_t *b, size_t bl)
{
	char e[256] = "";
	x->round++;
	if (x->sasl->mech == KF_SASL_PLAIN) {
		succeed(x, lifetime_ms);
		return;
	}
	/* A SCRAM exchange that goes wrong (the server's e=, a nonce or a
	 * signature that does not check out) fails the same way every time:
	 * KF_EAUTH, as Kafka's client takes it for an authentication error. */
	if (x->round == 1) {
		const char *final;
		int rc = kf_scram_server_first(x->scram, b, bl, &final, e, sizeof(e));
		if (rc)
			sess_fail(x, rc == KF_ENOMEM ? rc : KF_EAUTH, "%s", e);
		else
			send_token(x, final, strlen(final));
		return;
	}
	if (kf_scram_verify_final(x->scram, b, bl, e, sizeof(e)))
		sess_fail(x, KF_EAUTH, "%s", e);
	else
		succeed(x, lifetime_ms);
}

static void on_auth(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct sess *x = opaque;
	struct kf_sasl_authenticate_resp *r = resp;
	char e[256] = "";
	if (err || !x->active) {
		/* The connection is going down (or away); nothing to answer. */
		sess_reset(x);
		return;
	}
	if (r->error_code) {
		char m[300];
		copy_printable(e, sizeof(e), r->error_message ? r->error_message : "",
			       r->error_message ? strlen(r->error_message) : 0);
		snprintf(m, sizeof(m), "SaslAuthenticate %s%s%s", kf_kafka_err_name(r->error_code),
			 e[0] ? ": " : "", e);
		/* SASL_AUTHENTICATION_FAILED: a wrong password or an unknown
		 * user; asking again cannot change the answer. */
		sess_fail(x, r->error_code == KF_KERR_SASL_AUTHENTICATION_FAILED ? KF_EAUTH : KF_ERR,
			  "%s", m);
		return;
	}
	on_token(x, ver >= 1 ? r->session_lifetime_ms : 0, r->auth_bytes.p,
		 r->auth_bytes.len > 0 ? (size_t)r->auth_bytes.len : 0);
}

static void on_raw(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct sess *x = opaque;
	const struct kf_conn_raw *raw = resp;
	if (err || !x->active) {
		sess_reset(x);
		return;
	}
	on_token(x, 0, raw->p, raw->len);
}

/* The first token of the mechanism, kept in x until the exchange ends. */
static int first_token(struct sess *x)
{
	struct kf_sasl *s = x->sasl;
	if (s->mech == KF_SASL_PLAIN) {
		/* authzid (empty) NUL authcid NUL passwd */
		size_t ul = strlen(s->user), pl = strlen(s->password);
		x->plain_len = ul + pl + 2;
		x->plain = malloc(x->plain_len);
		if (!x->plain)
			return KF_ENOMEM;
		x->plain[0] = 0;
		memcpy(x->plain + 1, s->user, ul);
		x->plain[1 + ul] = 0;
		memcpy(x->plain + 2 + ul, s->password, pl);
		send_token(x, x->plain, x->plain_len);
		return KF_OK;
	}
	x->scram = kf_scram_new(s->mech, s->user, s->password, s->nonce);
	if (!x->scram)
		return KF_ENOMEM;
	const char *cf = kf_scram_client_first(x->scram);
	send_token(x, cf, strlen(cf));
	return KF_OK;
}

static void on_handshake(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct sess *x = opaque;
	struct kf_sasl_handshake_resp *r = resp;
	if (err || !x->active) {
		sess_reset(x);
		return;
	}
	const char *want = kf_sasl_mech_name(x->sasl->mech);
	bool found = false;
	char list[256] = "";
	for (int32_t i = 0; i < r->mechanisms.n; i++) {
		const char *m = KF_AT(r->mechanisms, char *, i);
		if (!m)
			continue;
		if (strcmp(m, want) == 0)
			found = true;
		size_t n = strlen(list);
		char safe[64];
		copy_printable(safe, sizeof(safe), m, strlen(m));
		snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", safe);
	}
	if (!found || r->error_code == KF_KERR_UNSUPPORTED_SASL_MECHANISM) {
		/* The listener's settings, not a passing state: permanent. */
		sess_fail(x, KF_EAUTH, "the broker does not offer this mechanism; it offers: %s",
			  list[0] ? list : "(none)");
		return;
	}
	if (r->error_code) {
		sess_fail(x, KF_ERR, "SaslHandshake %s", kf_kafka_err_name(r->error_code));
		return;
	}
	int rc = first_token(x);
	if (rc)
		sess_fail(x, rc, "%s", kf_strerror(rc));
}

static void auth_start(struct kf_conn *c, void *arg)
{
	struct kf_sasl *s = arg;
	struct sess *x = sess_find(s, c);
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x) {
			kf_conn_auth_done(c, KF_ENOMEM, "SASL: out of memory");
			return;
		}
		x->sasl = s;
		x->conn = c;
		x->next = s->sessions;
		s->sessions = x;
	}
	/* A previous attempt on this connection may have been torn down with
	 * its request unanswered. */
	sess_reset(x);
	x->lifetime_ms = 0;
	x->reauth_ms = -1;
	x->active = true;
	x->again = kf_conn_state(c) == KF_CONN_READY;
	int16_t hv = kf_conn_version(c, KF_API_SASL_HANDSHAKE);
	x->auth_ver = kf_conn_version(c, KF_API_SASL_AUTHENTICATE);
	if (hv < 0) {
		sess_fail(x, KF_EUNSUPP, "%s", "the broker offers no SaslHandshake (is this a SASL "
			  "listener?)");
		return;
	}
	/* v1 promises SaslAuthenticate requests; without them, v0 and raw
	 * frames. */
	x->legacy = hv < 1 || x->auth_ver < 0;
	if (x->legacy)
		kf_debug("sasl", "%s: no SaslAuthenticate: SaslHandshake v0 and raw SASL frames",
			 kf_conn_name(c));
	x->hs.mechanism = (char *)kf_sasl_mech_name(s->mech);
	int rc = kf_conn_send_auth(c, KF_API_SASL_HANDSHAKE, x->legacy ? 0 : 1, &x->hs, 0,
				   on_handshake, x);
	if (rc)
		sess_fail(x, rc, "could not send SaslHandshake: %s", kf_strerror(rc));
}

struct kf_sasl *kf_sasl_new(const struct kf_sasl_conf *conf, char *err, size_t errlen)
{
	int mech = kf_sasl_mech_parse(conf->mechanism);
	if (mech < 0) {
		snprintf(err, errlen, "unknown SASL mechanism '%s' (PLAIN, SCRAM-SHA-256, "
			 "SCRAM-SHA-512)", conf->mechanism ? conf->mechanism : "");
		return NULL;
	}
	if (!conf->username || !conf->username[0] || !conf->password) {
		snprintf(err, errlen, "SASL needs a username and a password");
		return NULL;
	}
	if (conf->nonce && !nonce_ok(conf->nonce, strlen(conf->nonce))) {
		snprintf(err, errlen, "bad SCRAM nonce");
		return NULL;
	}
	struct kf_sasl *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->mech = (enum kf_sasl_mech)mech;
	s->user = strdup(conf->username);
	s->password = wipe_strdup(conf->password);
	s->nonce = conf->nonce ? strdup(conf->nonce) : NULL;
	s->auth.start = auth_start;
	s->auth.arg = s;
	if (!s->user || !s->password || (conf->nonce && !s->nonce)) {
		kf_sasl_free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return s;
}

void kf_sasl_free(struct kf_sasl *s)
{
	if (!s)
		return;
	for (struct sess *x = s->sessions, *next; x; x = next) {
		next = x->next;
		sess_reset(x);
		free(x);
	}
	free(s->user);
	wipe_str(s->password);
	free(s->nonce);
	free(s);
}

const struct kf_auth *kf_sasl_auth(struct kf_sasl *s)
{
	return &s->auth;
}

void kf_sasl_forget(struct kf_sasl *s, const struct kf_conn *c)
{
	for (struct sess **pp = &s->sessions; *pp; pp = &(*pp)->next) {
		struct sess *x = *pp;
		if (x->conn == c) {
			*pp = x->next;
			sess_reset(x);
			free(x);
			return;
		}
	}
}

int64_t kf_sasl_session_lifetime_ms(const struct kf_sasl *s, const struct kf_conn *c)
{
	const struct sess *x = sess_find(s, c);
	return x ? x->lifetime_ms : 0;
}

int64_t kf_sasl_reauth_ms(const struct kf_sasl *s, const struct kf_conn *c)
{
	const struct sess *x = sess_find(s, c);
	return x ? x->reauth_ms : -1;
}
