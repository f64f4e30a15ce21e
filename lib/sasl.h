/*
 * sasl: SASL authentication of broker connections (PLAIN, SCRAM-SHA-256,
 * SCRAM-SHA-512) over SaslHandshake v1 + SaslAuthenticate v0-2, or, for a
 * broker before Kafka 1.0, SaslHandshake v0 + bare SASL frames.
 *
 * Two layers:
 *   - kf_scram: the SCRAM client of RFC 5802 / RFC 7677 as a pure state
 *     machine (no I/O), so that it can be tested against published vectors
 *     and fuzzed.
 *   - kf_sasl: the kf_auth hook of conn.h, which speaks the Kafka side.
 *
 * Secrets (the password, salted password, keys) are never logged, never put
 * in an error message, and are wiped when freed.  Kafka does no SASLprep,
 * so neither do we: names and passwords go over as the bytes configured.
 */
#ifndef KF_SASL_H
#define KF_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

enum kf_sasl_mech {
	KF_SASL_PLAIN = 0,
	KF_SASL_SCRAM_SHA_256,
	KF_SASL_SCRAM_SHA_512,
};

/* "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" (exact, as Kafka spells them)
 * -> mechanism; -1 for anything else. */
int kf_sasl_mech_parse(const char *name);
const char *kf_sasl_mech_name(enum kf_sasl_mech m);

/* Kafka's bounds on the SCRAM iteration count (ScramMechanism). */
#define KF_SCRAM_MIN_ITER 4096
#define KF_SCRAM_MAX_ITER 16384

/* ------------------------------------------------------------ SCRAM */

struct kf_scram;

/*
 * A SCRAM exchange for user/password.  nonce is the client nonce for tests
 * (printable, no ','); NULL draws 24 bytes from OpenSSL's CSPRNG and uses
 * their base64.  NULL on a bad mechanism (PLAIN), a bad nonce, no memory or
 * no randomness.
 */
struct kf_scram *kf_scram_new(enum kf_sasl_mech mech, const char *user, const char *password,
			      const char *nonce);
/* Wipes every secret it holds, then frees.  NULL is fine. */
void kf_scram_free(struct kf_scram *s);

/* "n,,n=<saslname>,r=<nonce>", NUL-terminated, owned by s. */
const char *kf_scram_client_first(const struct kf_scram *s);

/*
 * Take the server-first message; on KF_OK *out is the client-final message
 * "c=biws,r=<nonce>,p=<proof>" (NUL-terminated, owned by s).  Otherwise
 * KF_EPROTO with the reason in err: malformed message, mandatory extension,
 * nonce not extending ours, iteration count outside Kafka's bounds, bad
 * salt, or the server's "e=" error.  Call once.
 */
int kf_scram_server_first(struct kf_scram *s, const uint8_t *msg, size_t len, const char **out,
			  char *err, size_t errlen);

/*
 * Check a server-final message against the signature expected after
 * kf_scram_server_first: KF_OK when it is "v=<signature>" and the signature
 * matches (compared in constant time); otherwise KF_EPROTO with the
 * server's "e=" text or what was wrong in err.  Does not change s.
 */
int kf_scram_verify_final(const struct kf_scram *s, const uint8_t *msg, size_t len, char *err,
			  size_t errlen);

/*
 * RFC 5802 saslname: ',' -> "=2C", '=' -> "=3D".  Writes at most outlen
 * bytes including the NUL; returns the length the whole result needs
 * (without the NUL), as snprintf does.
 */
size_t kf_scram_saslname(const char *user, char *out, size_t outlen);

/* ------------------------------------------------------------ the kf_auth hook */

struct kf_sasl_conf {
	const char *mechanism; /* "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" */
	const char *username;
	const char *password;  /* the secret itself (config read password_file) */
	const char *nonce;     /* tests only: fixed SCRAM client nonce; NULL = random */
};

struct kf_sasl;

/*
 * The hook for conf (strings copied; the password copy is wiped on free).
 * NULL with the reason in err for an unknown mechanism or a missing name.
 * One kf_sasl may serve every connection of a cluster: each connection
 * gets its own exchange state.
 */
struct kf_sasl *kf_sasl_new(const struct kf_sasl_conf *conf, char *err, size_t errlen);
/* Free only after every connection using it is freed. */
void kf_sasl_free(struct kf_sasl *s);
/* For kf_conn_opts.auth; valid as long as s. */
const struct kf_auth *kf_sasl_auth(struct kf_sasl *s);
/*
 * Drop what s keeps for connection c.  Call right after kf_conn_free(c)
 * (not before: freeing runs the callbacks of its requests), or s holds a
 * small record per connection it ever saw until kf_sasl_free.
 */
void kf_sasl_forget(struct kf_sasl *s, const struct kf_conn *c);

/*
 * KIP-368.  The session lifetime the broker gave connection c in its last
 * successful SaslAuthenticate (v1+), in ms; 0 when it gave none (no
 * re-authentication needed) or c is unknown.  kf_sasl_reauth_ms is when to
 * re-authenticate, in ms after that success; -1 when never.
 */
int64_t kf_sasl_session_lifetime_ms(const struct kf_sasl *s, const struct kf_conn *c);
int64_t kf_sasl_reauth_ms(const struct kf_sasl *s, const struct kf_conn *c);

/*
 * The re-authentication delay for a session lifetime, as the Java client
 * picks it: a point uniformly in [85%, 95%] of the lifetime, drawn from
 * rnd (any 32-bit value; 0 -> 85%, UINT32_MAX -> 95%).  Pure, for tests.
 * -1 for a lifetime <= 0 (no expiry).
 */
int64_t kf_sasl_reauth_delay_ms(int64_t lifetime_ms, uint32_t rnd);

#endif
