/*
 * tls: TLS for broker connections (OpenSSL 3), plugged into conn as a
 * struct kf_transport.
 *
 * Owns one SSL_CTX built from kafka.security (TLS 1.2 minimum, the trust
 * store, the optional client certificate) and, per connection, one SSL on
 * the connection's non-blocking socket.  Never blocks: every call returns
 * what OpenSSL wants next (EV_READ / EV_WRITE) and conn waits on its loop.
 *
 * Peer verification is on unless verify_peer is false: the chain against
 * ca_file (the system store when empty), and the certificate's names
 * against the broker's host (DNS name, or IP address for an IP literal),
 * which is also sent as SNI for DNS names.  With verify_peer false every
 * connection logs a warning naming the broker.
 */
#ifndef KF_TLS_H
#define KF_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

struct kf_tls;

/* Paths are read during kf_tls_new() only; empty or NULL means unset. */
struct kf_tls_conf {
	const char *ca_file;            /* PEM trust anchors; "" = system store */
	const char *cert_file;          /* PEM client certificate (chain) for mTLS */
	const char *key_file;           /* PEM private key matching cert_file */
	const char *key_password_file;  /* passphrase of an encrypted key_file */
	bool verify_peer;               /* false: no verification, a warning per connect */
};

/*
 * Builds the context; NULL with a message in err when a file cannot be
 * loaded or the key does not match the certificate.  The caller frees the
 * result with kf_tls_free() after every connection using it is closed.
 */
struct kf_tls *kf_tls_new(const struct kf_tls_conf *conf, char *err, size_t errlen);
void kf_tls_free(struct kf_tls *tls);

/* The transport for kf_conn_opts.transport; valid as long as tls. */
const struct kf_transport *kf_tls_transport(struct kf_tls *tls);

#endif
