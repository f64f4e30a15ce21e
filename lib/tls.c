/*
 * tls: OpenSSL 3 client side for broker connections.  See tls.h.
 *
 * Every call clears OpenSSL's per-thread error queue first, so a message
 * never carries a reason left over from another connection.  The socket
 * belongs to conn: our BIO sends and receives on it but never closes it, and
 * close() only sends our close_notify (once, without waiting for the
 * broker's) before freeing the SSL.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "log.h"
#include "tls.h"

struct kf_tls {
	SSL_CTX *ctx;
	BIO_METHOD *bio;        /* the socket under every SSL: see sock_write() */
	bool verify;
	struct kf_transport tr;
};

/* One connection's state, returned by open() as conn's tctx. */
struct tls_conn {
	SSL *ssl;
	struct kf_tls *tls;
	int fd;                 /* conn's socket, not ours to close */
	bool eof;               /* recv() saw the end of the stream */
	bool broken;            /* fatal error seen: no close_notify may follow */
	char peer[280];         /* "host:port" for messages */
};

static bool is_set(const char *s)
{
	return s && s[0];
}

/*
 * Appends the reasons on OpenSSL's error queue (oldest first, repeats
 * skipped) to buf after its current contents, emptying the queue.
 */
static void append_queue(char *buf, size_t len)
{
	const char *prev = NULL;
	unsigned long e;
	while ((e = ERR_get_error()) != 0) {
		const char *why = ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e))
						      : ERR_reason_error_string(e);
		if (!why || (prev && strcmp(prev, why) == 0))
			continue;
		size_t used = strlen(buf);
		if (used + 1 < len)
			snprintf(buf + used, len - used, "%s%s", used ? ": " : "", why);
		prev = why;
	}
}

/* err = "what: reasons from the queue" (or what alone if it is empty). */
static void queue_error(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	append_queue(err, errlen);
}

/*
 * The passphrase callback: userdata is the path of a file whose first line
 * is the passphrase.  Without a file (userdata NULL) it refuses, so that an
 * encrypted key fails with a message instead of prompting on a terminal.
 */
static int read_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	(void)rwflag;
	const char *path = userdata;
	if (!path || size <= 1)
		return -1;
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = -1;
	if (fgets(buf, size, f)) {
		n = (int)strcspn(buf, "\r\n");
		buf[n] = '\0';
	}
	fclose(f);
	return n;
}

static int load_client_cert(SSL_CTX *ctx, const struct kf_tls_conf *conf, char *err,
			    size_t errlen)
{
	const char *cert = conf->cert_file, *key = conf->key_file;
	if (!is_set(cert) && !is_set(key))
		return KF_OK;
	if (!is_set(cert)) {
		snprintf(err, errlen, "key_file is set but cert_file is not");
		return KF_ERR;
	}
	if (!is_set(key))
		key = cert; /* one PEM file holding both */
	char what[300];
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(what, sizeof(what), "cannot load cert_file %s", cert);
		queue_error(err, errlen, what);
		return KF_ERR;
	}
	if (is_set(conf->key_password_file)) {
		FILE *f = fopen(conf->key_password_file, "r");
		if (!f) {
			snprintf(err, errlen, "cannot read key_password_file %s: %s",
				 conf->key_password_file, strerror(errno));
			return KF_ERR;
		}
		fclose(f);
	}
	SSL_CTX_set_default_passwd_cb(ctx, read_passphrase);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, is_set(conf->key_password_file)
							    ? (void *)conf->key_password_file
							    : NULL);
	int ok = SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM);
	/* The path is the caller's: forget it now the key is loaded. */
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	unsigned long e = ERR_peek_last_error();
	if (ok != 1 && ERR_GET_LIB(e) == ERR_LIB_X509 &&
	    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
		snprintf(err, errlen, "key_file %s does not match cert_file %s", key, cert);
		ERR_clear_error();
		return KF_ERR;
	}
	if (ok != 1) {
		snprintf(what, sizeof(what), "cannot load key_file %s%s", key,
			 is_set(conf->key_password_file) ? "" : " (encrypted keys need key_password_file)");
		queue_error(err, errlen, what);
		return KF_ERR;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "key_file %s does not match cert_file %s", key, cert);
		queue_error(err, errlen, what);
		return KF_ERR;
	}
	return KF_OK;
}

static int load_trust(SSL_CTX *ctx, const struct kf_tls_conf *conf, char *err, size_t errlen)
{
	if (!conf->verify_peer) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return KF_OK;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!is_set(conf->ca_file)) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			queue_error(err, errlen, "cannot load the system trust store");
			return KF_ERR;
		}
		return KF_OK;
	}
	if (SSL_CTX_load_verify_locations(ctx, conf->ca_file, NULL) != 1) {
		char what[300];
		snprintf(what, sizeof(what), "cannot load ca_file %s", conf->ca_file);
		queue_error(err, errlen, what);
		return KF_ERR;
	}
	return KF_OK;
}

/*
 * OpenSSL's own socket BIO writes with write(), which raises SIGPIPE when
 * the broker has gone; this one sends with MSG_NOSIGNAL like conn does for
 * plain TCP, so no process needs to ignore the signal for TLS's sake.
 */
static int sock_write(BIO *b, const char *buf, int len)
{
	struct tls_conn *tc = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t n = send(tc->fd, buf, (size_t)len, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int sock_read(BIO *b, char *buf, int len)
{
	struct tls_conn *tc = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	ssize_t n = recv(tc->fd, buf, (size_t)len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	if (n == 0)
		tc->eof = true;
	return (int)n;
}

/* Only end-of-stream (which tells a close from a would-block) and flush
 * matter to the TLS layer; the rest are unsupported. */
static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	struct tls_conn *tc = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_EOF: return tc->eof;
	case BIO_CTRL_FLUSH: return 1;
	default: return 0;
	}
}

static BIO_METHOD *sock_method_new(void)
{
	int type = BIO_get_new_index();
	if (type == -1)
		return NULL;
	BIO_METHOD *m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
				     "kfork socket");
	if (!m)
		return NULL;
	if (BIO_meth_set_write(m, sock_write) != 1 || BIO_meth_set_read(m, sock_read) != 1 ||
	    BIO_meth_set_ctrl(m, sock_ctrl) != 1) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

static void *tls_open(void *arg, int fd, const char *host, char *errbuf, size_t errlen);
static int tls_handshake(void *t, int *want, char *errbuf, size_t errlen);
static ssize_t tls_read(void *t, void *buf, size_t n, int *want, char *errbuf, size_t errlen);
static ssize_t tls_write(void *t, const void *buf, size_t n, int *want, char *errbuf,
			 size_t errlen);
static void tls_close(void *t);

struct kf_tls *kf_tls_new(const struct kf_tls_conf *conf, char *err, size_t errlen)
{
	ERR_clear_error();
	struct kf_tls *tls = calloc(1, sizeof(*tls));
	if (!tls) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tls->ctx = SSL_CTX_new(TLS_client_method());
	if (!tls->ctx) {
		queue_error(err, errlen, "cannot create a TLS context");
		goto out_free;
	}
	tls->bio = sock_method_new();
	if (!tls->bio) {
		queue_error(err, errlen, "cannot create a socket BIO");
		goto out_free_ctx;
	}
	if (SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION) != 1) {
		queue_error(err, errlen, "cannot require TLS 1.2");
		goto out_free_ctx;
	}
	/* conn retries a write from wherever its buffer now lives, with more
	 * bytes appended, and takes partial progress. */
	SSL_CTX_set_mode(tls->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				   SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* A broker that vanishes without close_notify is a closed connection,
	 * not a protocol error; Kafka's length-prefixed frames already catch
	 * a truncated response. */
	SSL_CTX_set_options(tls->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (load_trust(tls->ctx, conf, err, errlen) != KF_OK)
		goto out_free_ctx;
	if (load_client_cert(tls->ctx, conf, err, errlen) != KF_OK)
		goto out_free_ctx;
	tls->verify = conf->verify_peer;
	tls->tr = (struct kf_transport){
		.open = tls_open, .handshake = tls_handshake, .read = tls_read,
		.write = tls_write, .close = tls_close, .arg = tls,
	};
	return tls;

out_free_ctx:
	BIO_meth_free(tls->bio);
	SSL_CTX_free(tls->ctx);
out_free:
	free(tls);
	ERR_clear_error();
	return NULL;
}

void kf_tls_free(struct kf_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	BIO_meth_free(tls->bio);
	free(tls);
}

const struct kf_transport *kf_tls_transport(struct kf_tls *tls)
{
	return &tls->tr;
}

static bool is_ip_literal(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* "host:port" of the socket's peer, the port taken from the socket. */
static void peer_name(char *out, size_t len, int fd, const char *host)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	if (strchr(host, ':'))
		snprintf(out, len, "[%s]:%d", host, port);
	else
		snprintf(out, len, "%s:%d", host, port);
}

/* Names to check in the broker's certificate, and SNI for DNS names. */
static int set_peer_identity(SSL *ssl, const char *host, bool verify)
{
	bool ip = is_ip_literal(host);
	if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1)
		return KF_ERR;
	if (!verify)
		return KF_OK;
	if (ip)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? KF_OK
										    : KF_ERR;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ssl, host) == 1 ? KF_OK : KF_ERR;
}

/* Per connection; NULL with a message on failure.  tls_close() frees. */
static void *tls_open(void *arg, int fd, const char *host, char *errbuf, size_t errlen)
{
	struct kf_tls *tls = arg;
	ERR_clear_error();
	struct tls_conn *tc = calloc(1, sizeof(*tc));
	if (!tc) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	tc->tls = tls;
	peer_name(tc->peer, sizeof(tc->peer), fd, host);
	char what[320];
	tc->ssl = SSL_new(tls->ctx);
	if (!tc->ssl) {
		snprintf(what, sizeof(what), "TLS setup for %s failed", tc->peer);
		goto out_error;
	}
	tc->fd = fd;
	BIO *b = BIO_new(tls->bio);
	if (!b) {
		snprintf(what, sizeof(what), "TLS setup for %s failed", tc->peer);
		goto out_error;
	}
	BIO_set_data(b, tc);
	BIO_set_init(b, 1);
	SSL_set_bio(tc->ssl, b, b); /* the SSL owns b now */
	if (set_peer_identity(tc->ssl, host, tls->verify) != KF_OK) {
		snprintf(what, sizeof(what), "TLS setup for %s: cannot use host name \"%s\"",
			 tc->peer, host);
		goto out_error;
	}
	SSL_set_connect_state(tc->ssl);
	if (!tls->verify)
		kf_warn("tls", "%s: verify_peer is false: the broker's certificate is not checked",
			tc->peer);
	return tc;

out_error:
	queue_error(errbuf, errlen, what);
	SSL_free(tc->ssl);
	free(tc);
	return NULL;
}

/*
 * Maps a failed SSL call: KF_EAGAIN with *want, 0 for close_notify, or
 * KF_EIO with "op with peer failed: reason" in errbuf (KF_EAUTH when the
 * peer's certificate failed verification).  saved_errno is errno
 * right after the call, for SSL_ERROR_SYSCALL.
 */
static int map_error(struct tls_conn *tc, int rc, int saved_errno, const char *op, int *want,
		     char *errbuf, size_t errlen)
{
	int e = SSL_get_error(tc->ssl, rc);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		*want = EV_READ;
		return KF_EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want = EV_WRITE;
		return KF_EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		*want = 0;
		return 0;
	default:
		break;
	}
	*want = 0;
	tc->broken = true;
	int n = snprintf(errbuf, errlen, "%s %s failed: ", op, tc->peer);
	size_t used = n < 0 ? 0 : (size_t)n >= errlen ? errlen - 1 : (size_t)n;
	long vr = SSL_get_verify_result(tc->ssl);
	if (e == SSL_ERROR_SSL && tc->tls->verify && vr != X509_V_OK) {
		snprintf(errbuf + used, errlen - used, "certificate verify failed: %s",
			 X509_verify_cert_error_string(vr));
		ERR_clear_error();
		/* The same certificate fails the same way next time. */
		return KF_EAUTH;
	}
	if (ERR_peek_error() != 0) {
		errbuf[used] = '\0';
		append_queue(errbuf + used, errlen - used);
		return KF_EIO;
	}
	if (e == SSL_ERROR_SYSCALL && saved_errno != 0)
		snprintf(errbuf + used, errlen - used, "%s", strerror(saved_errno));
	else
		snprintf(errbuf + used, errlen - used, "connection closed by peer");
	return KF_EIO;
}

static int tls_handshake(void *t, int *want, char *errbuf, size_t errlen)
{
	struct tls_conn *tc = t;
	ERR_clear_error();
	errno = 0;
	int rc = SSL_connect(tc->ssl);
	if (rc == 1) {
		kf_debug("tls", "%s: %s, %s", tc->peer, SSL_get_version(tc->ssl),
			 SSL_get_cipher_name(tc->ssl));
		return KF_OK;
	}
	int saved = errno;
	int r = map_error(tc, rc, saved, "TLS handshake with", want, errbuf, errlen);
	if (r == 0) {
		/* close_notify before the handshake finished. */
		tc->broken = true;
		snprintf(errbuf, errlen, "TLS handshake with %s failed: connection closed by peer",
			 tc->peer);
		return KF_EIO;
	}
	return r;
}

/*
 * Either direction may want the other: a read can need to write (a
 * renegotiation or key update answer) and a write can need to read.
 */
static ssize_t tls_read(void *t, void *buf, size_t n, int *want, char *errbuf, size_t errlen)
{
	struct tls_conn *tc = t;
	size_t got = 0;
	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(tc->ssl, buf, n, &got) == 1)
		return (ssize_t)got;
	int saved = errno;
	int r = map_error(tc, 0, saved, "TLS read from", want, errbuf, errlen);
	return r == 0 ? 0 : -1;
}

static ssize_t tls_write(void *t, const void *buf, size_t n, int *want, char *errbuf,
			 size_t errlen)
{
	struct tls_conn *tc = t;
	size_t put = 0;
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(tc->ssl, buf, n, &put) == 1)
		return (ssize_t)put;
	int saved = errno;
	int r = map_error(tc, 0, saved, "TLS write to", want, errbuf, errlen);
	if (r == 0) {
		*want = 0;
		snprintf(errbuf, errlen, "TLS write to %s failed: closed by peer (close_notify)",
			 tc->peer);
	}
	return -1;
}

/* Sends close_notify once if the session is sound; never waits for the
 * answer, since conn closes the socket next. */
static void tls_close(void *t)
{
	struct tls_conn *tc = t;
	ERR_clear_error();
	if (!tc->broken && SSL_is_init_finished(tc->ssl))
		(void)SSL_shutdown(tc->ssl);
	ERR_clear_error();
	SSL_free(tc->ssl);
	free(tc);
}
