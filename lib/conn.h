/*
 * conn: one connection to one Kafka broker, on the caller's libev loop.
 *
 * Owns: the socket, name resolution for it, the transport (plain TCP or a
 * kf_transport such as TLS), the optional authentication step (SASL), the
 * ApiVersions negotiation, and the queue of requests in flight.
 *
 *   down -> resolving -> connecting -> handshake -> apiversions -> auth -> ready
 *     ^                                                                   |
 *     +--------------- backoff (exponential, jittered) <--- any failure --+
 *                                                                         |
 *   auth_failed <--- authentication refused (KF_EAUTH) -------------------+
 *
 * A refused authentication (KF_EAUTH: the broker's SASL_AUTHENTICATION_FAILED
 * or UNSUPPORTED_SASL_MECHANISM, a failed SCRAM exchange, a pre-1.0 broker
 * closing on our token, a broker certificate that fails verification) comes
 * back the same however often it is tried: the connection logs one error
 * line and stays in auth_failed, with no further attempt, until the owner
 * calls kf_conn_retry (kforkd: on a reload).  Every request fails with
 * KF_EAUTH meanwhile (from the loop, never from inside kf_conn_send).  A
 * failed re-authentication (KIP-368) ends there too.  Everything else
 * (refused, reset, timed out, a broker not up yet) only backs off.
 *
 * Requests may be sent in any state: they wait in the queue (their timeout
 * running) and a connection attempt starts if none is under way.  In ready
 * state they are pipelined: written at once, answered in order.  A request
 * whose timeout passes fails with KF_ETIMEDOUT; if it was already written
 * the connection is torn down, since Kafka answers in order and a late
 * answer would be read as the next one's.  Teardown fails every request in
 * flight with the error that caused it; the owner decides what to retry.
 *
 * Quotas (KIP-219): from the version of each API where the broker answers
 * first and throttles after, an answer with ThrottleTimeMs > 0 mutes the
 * connection: nothing more is written until that time has passed.  Queued
 * requests wait; their deadlines move by the mute, so none times out
 * merely because of it.  Before those versions the broker delayed the
 * answer itself and nothing is muted.
 *
 * A response that cannot be decoded fails the connection like any other
 * failure, but the backoff is not reset by the next successful connect
 * while the same failure (API, version, message) keeps coming back: only a
 * good answer of that API resets it.
 *
 * Never blocks: sockets are non-blocking, names resolve through c-ares.
 * Response frames are bounded by max_response_bytes.
 */
#ifndef KF_CONN_H
#define KF_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena.h"
#include "proto.h"

struct ev_loop;
struct kf_conn;
struct kf_resolver;

enum kf_conn_state {
	KF_CONN_DOWN = 0,     /* no socket; idle or waiting out backoff */
	KF_CONN_RESOLVING,    /* looking up the host name */
	KF_CONN_CONNECTING,   /* non-blocking connect() under way */
	KF_CONN_HANDSHAKE,    /* transport handshake (TLS) */
	KF_CONN_APIVERSIONS,  /* negotiating versions */
	KF_CONN_AUTH,         /* authentication step (SASL) */
	KF_CONN_READY,        /* requests flow */
	KF_CONN_FAILED,       /* "auth_failed": refused for good, until kf_conn_retry */
};

const char *kf_conn_state_name(enum kf_conn_state s);

/*
 * A transport wraps the socket once it is connected (TLS).  Each call
 * returns bytes moved, 0 on orderly close (read), or -1 with *want set to
 * EV_READ / EV_WRITE when it must wait (and errno-free: KF_EAGAIN), or -1
 * with *want = 0 on a fatal error (message in errbuf).
 */
struct kf_transport {
	/* Per-connection state for host; NULL on failure (message in errbuf). */
	void *(*open)(void *arg, int fd, const char *host, char *errbuf, size_t errlen);
	/* KF_OK when done, KF_EAGAIN with *want set, or an error (errbuf):
	 * KF_EAUTH when the peer failed verification (its certificate chain or
	 * name), which the connection does not retry. */
	int (*handshake)(void *t, int *want, char *errbuf, size_t errlen);
	ssize_t (*read)(void *t, void *buf, size_t n, int *want, char *errbuf, size_t errlen);
	ssize_t (*write)(void *t, const void *buf, size_t n, int *want, char *errbuf, size_t errlen);
	void (*close)(void *t);
	void *arg;
};

/*
 * The authentication step runs after ApiVersions with the connection in
 * KF_CONN_AUTH: start() sends its requests with kf_conn_send_auth() and
 * finally calls kf_conn_auth_done().  Requests from others wait meanwhile.
 */
struct kf_auth {
	void (*start)(struct kf_conn *c, void *arg);
	void *arg;
};

struct kf_conn_opts {
	const char *host;               /* copied */
	int port;
	int32_t node_id;                /* for log lines; -1 for bootstrap */
	const char *role;               /* for log lines: "coordinator" or NULL */
	const char *client_id;          /* copied; "kforkd" by default */
	int connect_timeout_ms;         /* resolve + connect + handshake; 10000 */
	int request_timeout_ms;         /* default per request; 30000 */
	int backoff_min_ms, backoff_max_ms; /* 100, 10000 */
	size_t max_response_bytes;      /* 104857600 */
	const struct kf_transport *transport; /* NULL = plain TCP */
	const struct kf_auth *auth;     /* NULL = none */
};

/* Why the connection changed state; err is KF_OK when going up. */
typedef void kf_conn_state_cb(struct kf_conn *c, enum kf_conn_state state, int err,
			      const char *msg, void *opaque);

/*
 * A response: err is KF_OK and resp points to the decoded response struct
 * (owned by the connection, valid during the call; BYTES and RECORDS point
 * into the frame), or err is the failure and resp is NULL.  ver is the
 * version the request went out with.
 */
typedef void kf_conn_resp_cb(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque);

struct kf_conn *kf_conn_new(struct ev_loop *loop, struct kf_resolver *res,
			    const struct kf_conn_opts *opts, kf_conn_state_cb *state_cb,
			    void *opaque);
/* Fails every request with KF_ECLOSED (callbacks run), closes, frees.  Safe
 * to call from any callback of this connection. */
void kf_conn_free(struct kf_conn *c);

/* Start connecting now unless already up or connecting (backoff permitting). */
void kf_conn_connect(struct kf_conn *c);
/* Tear down (failing requests with err) and go to backoff.  Nothing in
 * auth_failed. */
void kf_conn_close(struct kf_conn *c, int err, const char *why);
/* auth_failed -> down, backoff reset: the next request connects again (the
 * settings, or the broker's, changed).  Nothing in any other state. */
void kf_conn_retry(struct kf_conn *c);

enum kf_conn_state kf_conn_state(const struct kf_conn *c);
const char *kf_conn_name(const struct kf_conn *c);       /* "host:port/node" */
int kf_conn_inflight(const struct kf_conn *c);            /* queued + sent */

/*
 * Negotiated version for api_key: the highest both sides speak, or -1 when
 * there is none (or versions are not known yet).
 */
int16_t kf_conn_version(const struct kf_conn *c, int16_t api_key);
/*
 * The negotiated version of every API this client speaks (kf_proto_apis
 * order) that the broker speaks too: up to max pairs into keys[] and vers[].
 * Returns the number of pairs written; 0 while versions are not known.
 */
int kf_conn_versions(const struct kf_conn *c, int16_t *keys, int16_t *vers, int max);

/*
 * For status pages.  kf_conn_last_error: the KF_* code of the last failure
 * of the connection (connect refused, name resolution, TLS, authentication,
 * an undecodable answer, a timeout, kf_conn_close), 0 if it never failed;
 * then *msg gets its text (NULL if none; owned by the connection, valid
 * until its next failure) and *at_ms when it happened (wall clock, ms since
 * the epoch); either pointer may be NULL.  A success clears nothing.
 * kf_conn_up_since: wall clock ms when the connection last became ready, or
 * 0 when it is not ready now.
 */
int kf_conn_last_error(const struct kf_conn *c, const char **msg, int64_t *at_ms);
int64_t kf_conn_up_since(const struct kf_conn *c);
/* Consecutive failures to decode an answer with the same API, version and
 * message, across reconnects; 0 after a good answer of that API. */
int kf_conn_decode_failures(const struct kf_conn *c);
/* KIP-368 re-authentications of a ready connection that succeeded, across
 * reconnects, since kf_conn_new. */
int64_t kf_conn_reauths(const struct kf_conn *c);

/*
 * KIP-219 throttling: the CLOCK_MONOTONIC time in ms until which the
 * connection is muted, or 0 when it is not; and the sum of every
 * ThrottleTimeMs the broker reported on this connection (muting or not).
 */
int64_t kf_conn_throttled_until(const struct kf_conn *c);
int64_t kf_conn_throttle_total_ms(const struct kf_conn *c);

/*
 * Map in (NULL: "") to a string Kafka accepts as ClientSoftwareName and
 * ClientSoftwareVersion (KIP-511 regex [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?;
 * a broker answers INVALID_REQUEST to anything else): every other
 * character becomes '-', leading and trailing non-alphanumerics are
 * dropped, an empty result is "unknown".  Writes at most outlen - 1 bytes
 * and a NUL into out (nothing if outlen is 0); returns the length written.
 */
size_t kf_conn_sanitize_software(const char *in, char *out, size_t outlen);

/*
 * Queue a request: api_key with the request struct req.  The version is the
 * highest both sides support, capped at max_ver (-1: no cap); it is chosen
 * and req encoded when the connection is ready, so req must stay valid and
 * unchanged until cb runs.  timeout_ms <= 0 takes the connection default.
 * Returns KF_OK (cb runs exactly once, never from inside this call; with
 * KF_EAUTH at once in auth_failed) or an error (KF_EUNSUPP: no API by that
 * key; cb does not run).
 */
int kf_conn_send(struct kf_conn *c, int16_t api_key, int16_t max_ver, const void *req,
		 int timeout_ms, kf_conn_resp_cb *cb, void *opaque);

/* The authentication step's own requests, which go out in KF_CONN_AUTH. */
int kf_conn_send_auth(struct kf_conn *c, int16_t api_key, int16_t ver, const void *req,
		      int timeout_ms, kf_conn_resp_cb *cb, void *opaque);
/*
 * The exchange after SaslHandshake v0 (Kafka before 1.0): the token goes out
 * as a bare size-prefixed frame (no header, no correlation id; it is copied,
 * and wiped once written) and the next frame from the broker is its answer,
 * handed to cb as a struct kf_conn_raw (ver -1).  A broker refuses by
 * closing the connection.
 */
struct kf_conn_raw {
	const uint8_t *p;
	size_t len;
};
int kf_conn_send_auth_raw(struct kf_conn *c, const void *token, size_t len, int timeout_ms,
			  kf_conn_resp_cb *cb, void *opaque);
void kf_conn_auth_done(struct kf_conn *c, int err, const char *msg);
/* Called by the auth step just before kf_conn_auth_done(KF_OK): run the
 * auth step again on the ready connection after ms (KIP-368
 * re-authentication; <= 0: never).  Meanwhile other requests wait. */
void kf_conn_auth_renew_after(struct kf_conn *c, int64_t ms);

#endif
