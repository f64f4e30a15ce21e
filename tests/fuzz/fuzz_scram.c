/*
 * fuzz_scram: the SCRAM client's parsers of the broker's messages.
 *
 * Input: byte 0 picks the case (bit 0: SHA-256 / SHA-512; bit 1: server-
 * first / server-final), the rest is the server's message.  The client is
 * RFC 7677's (user "user", password "pencil", nonce rOprNGfwEbeRWgbNEkqO).
 *
 * server-first goes to a fresh client.  When accepted, the message must
 * start with r=<our nonce> and the client-final must carry that whole
 * nonce and a proof of the hash's length.
 * server-final goes to a client that has taken RFC 7677's server-first.
 * It may only be accepted when it is exactly the true server signature,
 * optionally followed by ",extensions": the signature cannot be forged
 * and its base64 has one encoding.
 * Every error message must be printable text.
 */
#include "config.h"

#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "sasl.h"

#define NONCE "rOprNGfwEbeRWgbNEkqO"
#define S1 "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"

static const char *const good_final[2] = {
	"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	"v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==",
};

/* Clients past RFC 7677's server-first; made once, since PBKDF2 is slow
 * and kf_scram_verify_final does not change them. */
static struct kf_scram *after_first[2];

static void check_err_text(const char *err)
{
	size_t n = strlen(err);
	KF_FUZZ_CHECK(n > 0);
	for (size_t i = 0; i < n; i++)
		KF_FUZZ_CHECK(err[i] >= 0x20 && err[i] < 0x7f);
}

static enum kf_sasl_mech mech_of(int sha512)
{
	return sha512 ? KF_SASL_SCRAM_SHA_512 : KF_SASL_SCRAM_SHA_256;
}

static void server_first(int sha512, const uint8_t *m, size_t n)
{
	struct kf_scram *s = kf_scram_new(mech_of(sha512), "user", "pencil", NONCE);
	KF_FUZZ_CHECK(s != NULL);
	const char *out = NULL;
	char err[256] = "";
	int rc = kf_scram_server_first(s, m, n, &out, err, sizeof(err));
	if (rc == KF_OK) {
		size_t nl = strlen(NONCE);
		KF_FUZZ_CHECK(n > 2 + nl && memcmp(m, "r=" NONCE, 2 + nl) == 0);
		const char *comma = memchr(m, ',', n);
		KF_FUZZ_CHECK(comma != NULL);
		size_t rlen = (size_t)(comma - (const char *)m);
		KF_FUZZ_CHECK(strncmp(out, "c=biws,", 7) == 0);
		KF_FUZZ_CHECK(memcmp(out + 7, m, rlen) == 0);
		KF_FUZZ_CHECK(strncmp(out + 7 + rlen, ",p=", 3) == 0);
		KF_FUZZ_CHECK(strlen(out + 10 + rlen) == (sha512 ? 88u : 44u));
	} else {
		KF_FUZZ_CHECK(rc == KF_EPROTO);
		check_err_text(err);
	}
	kf_scram_free(s);
}

static void server_final(int sha512, const uint8_t *m, size_t n)
{
	struct kf_scram **s = &after_first[sha512];
	char err[256] = "";
	if (!*s) {
		const char *out;
		*s = kf_scram_new(mech_of(sha512), "user", "pencil", NONCE);
		KF_FUZZ_CHECK(*s != NULL);
		KF_FUZZ_CHECK(kf_scram_server_first(*s, (const uint8_t *)S1, strlen(S1), &out, err,
						    sizeof(err)) == KF_OK);
	}
	int rc = kf_scram_verify_final(*s, m, n, err, sizeof(err));
	if (rc == KF_OK) {
		size_t gl = strlen(good_final[sha512]);
		KF_FUZZ_CHECK(n >= gl && memcmp(m, good_final[sha512], gl) == 0);
		KF_FUZZ_CHECK(n == gl || m[gl] == ',');
	} else {
		KF_FUZZ_CHECK(rc == KF_EPROTO);
		check_err_text(err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int sha512 = data[0] & 1;
	if (data[0] & 2)
		server_final(sha512, data + 1, size - 1);
	else
		server_first(sha512, data + 1, size - 1);
	return 0;
}
