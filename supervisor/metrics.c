#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "reqsrv.h"
#include "wire.h"

#define COMP "metrics"

struct kf_metrics {
	char *listen;
	struct kf_reqsrv *srv;
	kf_metrics_fn *fn;
	void *opaque;
};

void kf_metrics_label(struct kf_wr *out, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			kf_wr_raw(out, "\\", 1);
		if (*p == '\n')
			kf_wr_raw(out, "\\n", 2);
		else
			kf_wr_raw(out, p, 1);
	}
}

static void respond(struct kf_wr *reply, int code, const char *reason, const char *extra,
		    const char *ctype, const void *body, size_t blen, bool head)
{
	char h[512];
	int n = snprintf(h, sizeof(h),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "%sConnection: close\r\n\r\n", code, reason, ctype, blen, extra);
	kf_wr_raw(reply, h, (size_t)n);
	if (!head)
		kf_wr_raw(reply, body, blen);
}

static void error_page(struct kf_wr *reply, int code, const char *reason, const char *extra)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason);
	respond(reply, code, reason, extra, "text/plain; charset=utf-8", body, (size_t)n, false);
}

/* The end of the header block ("\r\n\r\n" or "\n\n"), or NULL. */
static const char *headers_end(const char *req, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (req[i] != '\n')
			continue;
		if (req[i + 1] == '\n')
			return req + i + 2;
		if (req[i + 1] == '\r' && i + 2 < len && req[i + 2] == '\n')
			return req + i + 3;
	}
	return NULL;
}

static bool token_char(char c)
{
	return c >= 'A' && c <= 'Z';
}

bool kf_metrics_http(const char *req, size_t len, bool eof, bool full, kf_metrics_fn *fn,
		     void *opaque, struct kf_wr *reply)
{
	if (!headers_end(req, len)) {
		if (full)
			error_page(reply, 431, "Request Header Fields Too Large", "");
		else if (eof)
			error_page(reply, 400, "Bad Request", "");
		else
			return false;
		return true;
	}
	/* Request line: METHOD SP TARGET SP HTTP/1.x */
	const char *eol = memchr(req, '\n', len);
	size_t ll = (size_t)(eol - req);
	if (ll > 0 && req[ll - 1] == '\r')
		ll--;
	const char *sp1 = memchr(req, ' ', ll);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', ll - (size_t)(sp1 + 1 - req)) : NULL;
	if (!sp1 || !sp2 || sp1 == req || sp2 == sp1 + 1 || sp1[1] != '/' ||
	    memchr(sp2 + 1, ' ', ll - (size_t)(sp2 + 1 - req))) {
		error_page(reply, 400, "Bad Request", "");
		return true;
	}
	for (const char *p = req; p < sp1; p++)
		if (!token_char(*p)) {
			error_page(reply, 400, "Bad Request", "");
			return true;
		}
	const char *ver = sp2 + 1;
	size_t vl = ll - (size_t)(ver - req);
	if (vl != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[6] != '.' || ver[5] < '0' ||
	    ver[5] > '9' || ver[7] < '0' || ver[7] > '9') {
		error_page(reply, 400, "Bad Request", "");
		return true;
	}
	if (ver[5] != '1') {
		error_page(reply, 505, "HTTP Version Not Supported", "");
		return true;
	}
	size_t ml = (size_t)(sp1 - req);
	bool get = ml == 3 && memcmp(req, "GET", 3) == 0;
	bool head = ml == 4 && memcmp(req, "HEAD", 4) == 0;
	if (!get && !head) {
		error_page(reply, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
		return true;
	}
	const char *target = sp1 + 1;
	size_t tl = (size_t)(sp2 - target);
	const char *q = memchr(target, '?', tl);
	size_t pl = q ? (size_t)(q - target) : tl;
	if (pl != 8 || memcmp(target, "/metrics", 8) != 0) {
		error_page(reply, 404, "Not Found", "");
		return true;
	}
	struct kf_wr body;
	kf_wr_init(&body);
	fn(opaque, &body);
	if (!kf_wr_ok(&body)) {
		kf_wr_free(&body);
		error_page(reply, 500, "Internal Server Error", "");
		return true;
	}
	respond(reply, 200, "OK", "", "text/plain; version=0.0.4; charset=utf-8", body.buf, body.len,
		head);
	kf_wr_free(&body);
	return true;
}

static bool on_request(void *opaque, const char *req, size_t len, bool eof, bool full,
		       struct kf_wr *reply)
{
	struct kf_metrics *m = opaque;
	return kf_metrics_http(req, len, eof, full, m->fn, m->opaque, reply);
}

static int listen_on(const char *spec, char *err, size_t errlen)
{
	char host[256];
	int port;
	if (kf_parse_hostport(spec, strlen(spec), host, sizeof(host), &port) != KF_OK) {
		snprintf(err, errlen, "metrics_listen \"%s\": not [HOST]:PORT", spec);
		return -1;
	}
	/* No name lookups on the loop: numeric addresses (and localhost). */
	const char *node = host[0] ? (strcmp(host, "localhost") == 0 ? "127.0.0.1" : host) : NULL;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(node, service, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "metrics_listen \"%s\": %s (use a numeric address)", spec,
			 gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "metrics_listen \"%s\": %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

struct kf_metrics *kf_metrics_new(struct ev_loop *loop, const char *listen, kf_metrics_fn *fn,
				  void *opaque, char *err, size_t errlen)
{
	struct kf_metrics *m = calloc(1, sizeof(*m));
	if (!m || !(m->listen = strdup(listen))) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->fn = fn;
	m->opaque = opaque;
	int fd = listen_on(listen, err, errlen);
	if (fd < 0 || !(m->srv = kf_reqsrv_new(loop, fd, COMP, KF_METRICS_MAX_REQUEST,
					       KF_METRICS_TIMEOUT_S, on_request, m))) {
		if (fd >= 0)
			snprintf(err, errlen, "out of memory");
		free(m->listen);
		free(m);
		return NULL;
	}
	kf_info(COMP, "serving /metrics on %s", listen);
	return m;
}

void kf_metrics_free(struct kf_metrics *m)
{
	if (!m)
		return;
	kf_reqsrv_free(m->srv);
	free(m->listen);
	free(m);
}

const char *kf_metrics_listen(const struct kf_metrics *m)
{
	return m->listen;
}
