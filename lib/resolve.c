/*
 * resolve: c-ares on libev (see resolve.h).  One c-ares channel per
 * resolver; ARES_OPT_SOCK_STATE_CB tells us which sockets to watch, and a
 * single timer follows ares_timeout().  Runs in the supervisor's loop only.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ares.h>
#include <ev.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "resolve.h"

#define MAX_SOCKS 16

struct kf_resolver {
	struct ev_loop *loop;
	ares_channel channel;
	ev_timer timer;
	struct {
		ev_io io;
		int fd; /* -1 = slot free */
	} socks[MAX_SOCKS];
	struct kf_lookup *lookups; /* pending, for cancel-all */
};

struct kf_lookup {
	struct kf_resolver *r;
	struct kf_lookup *next, *prev;
	ev_timer deadline;
	kf_resolve_cb *cb;
	void *opaque;
	int port;
	int cancelled;
	int in_ares;  /* c-ares still owns a callback for it */
	int starting; /* inside ares_getaddrinfo: it may answer synchronously */
	int done;
};

static void update_timer(struct kf_resolver *r)
{
	struct timeval tv, *tvp = ares_timeout(r->channel, NULL, &tv);
	ev_timer_stop(r->loop, &r->timer);
	if (tvp) {
		ev_timer_set(&r->timer, (double)tvp->tv_sec + tvp->tv_usec / 1e6 + 0.001, 0.);
		ev_timer_start(r->loop, &r->timer);
	}
}

static void on_sock_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct kf_resolver *r = w->data;
	ares_socket_t rfd = (revents & EV_READ) ? w->fd : ARES_SOCKET_BAD;
	ares_socket_t wfd = (revents & EV_WRITE) ? w->fd : ARES_SOCKET_BAD;
	ares_process_fd(r->channel, rfd, wfd);
	update_timer(r);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_resolver *r = w->data;
	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	update_timer(r);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct kf_resolver *r = data;
	int slot = -1, free_slot = -1;
	for (int i = 0; i < MAX_SOCKS; i++) {
		if (r->socks[i].fd == fd)
			slot = i;
		else if (r->socks[i].fd == -1 && free_slot < 0)
			free_slot = i;
	}
	if (slot >= 0) {
		ev_io_stop(r->loop, &r->socks[slot].io);
		if (!readable && !writable) {
			r->socks[slot].fd = -1;
			return;
		}
	} else {
		if (!readable && !writable)
			return;
		if (free_slot < 0) {
			/* c-ares opens a socket or two per server; 16 is plenty.
			 * Without a watcher the query still ends by its timeout. */
			kf_warn("resolve", "too many resolver sockets");
			return;
		}
		slot = free_slot;
		r->socks[slot].fd = fd;
	}
	ev_io_set(&r->socks[slot].io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	r->socks[slot].io.data = r;
	ev_io_start(r->loop, &r->socks[slot].io);
}

struct kf_resolver *kf_resolver_new(struct ev_loop *loop)
{
	static int lib_inited;
	if (!lib_inited) {
		int rc = ares_library_init(ARES_LIB_INIT_ALL);
		if (rc != ARES_SUCCESS) {
			kf_err("resolve", "c-ares init: %s", ares_strerror(rc));
			return NULL;
		}
		lib_inited = 1;
	}
	struct kf_resolver *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->loop = loop;
	for (int i = 0; i < MAX_SOCKS; i++) {
		r->socks[i].fd = -1;
		ev_init(&r->socks[i].io, on_sock_io);
	}
	struct ares_options o;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = r;
	int rc = ares_init_options(&r->channel, &o, ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		kf_err("resolve", "c-ares channel: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	ev_init(&r->timer, on_timer);
	r->timer.data = r;
	return r;
}

static void unlink_lookup(struct kf_lookup *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else if (l->r->lookups == l)
		l->r->lookups = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->next = l->prev = NULL;
}

static void finish(struct kf_lookup *l, int err, const struct kf_addrs *a, const char *msg)
{
	ev_timer_stop(l->r->loop, &l->deadline);
	unlink_lookup(l);
	kf_resolve_cb *cb = l->cancelled ? NULL : l->cb;
	l->cancelled = 1; /* a late c-ares answer must not call back again */
	l->done = 1;
	if (cb)
		cb(err, a, msg, l->opaque);
	if (!l->in_ares && !l->starting)
		free(l);
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct kf_lookup *l = arg;
	l->in_ares = 0;
	if (l->cancelled) {
		if (res)
			ares_freeaddrinfo(res);
		free(l);
		return;
	}
	struct kf_addrs a;
	a.n = 0;
	if (status == ARES_SUCCESS && res) {
		for (struct ares_addrinfo_node *n = res->nodes; n && a.n < KF_RESOLVE_MAX_ADDRS; n = n->ai_next) {
			if ((size_t)n->ai_addrlen > sizeof(a.addr[0]))
				continue;
			memcpy(&a.addr[a.n], n->ai_addr, n->ai_addrlen);
			a.len[a.n] = (socklen_t)n->ai_addrlen;
			if (n->ai_family == AF_INET)
				((struct sockaddr_in *)&a.addr[a.n])->sin_port = htons((uint16_t)l->port);
			else if (n->ai_family == AF_INET6)
				((struct sockaddr_in6 *)&a.addr[a.n])->sin6_port = htons((uint16_t)l->port);
			else
				continue;
			a.n++;
		}
	}
	if (res)
		ares_freeaddrinfo(res);
	if (a.n > 0)
		finish(l, KF_OK, &a, NULL);
	else
		finish(l, KF_ERESOLVE, NULL, status == ARES_SUCCESS ? "no address" : ares_strerror(status));
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_lookup *l = w->data;
	finish(l, KF_ETIMEDOUT, NULL, "resolver timed out");
}

struct kf_lookup *kf_resolve(struct kf_resolver *r, const char *host, int port, int timeout_ms,
			     kf_resolve_cb *cb, void *opaque)
{
	/* Numeric addresses are the common case (and all of the tests):
	 * answer them at once. */
	struct kf_addrs a;
	memset(&a, 0, sizeof(a));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a.addr[0];
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.addr[0];
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		a.len[0] = sizeof(*in4);
		a.n = 1;
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a.len[0] = sizeof(*in6);
		a.n = 1;
	}
	if (a.n) {
		cb(KF_OK, &a, NULL, opaque);
		return NULL;
	}

	struct kf_lookup *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->r = r;
	l->cb = cb;
	l->opaque = opaque;
	l->port = port;
	l->next = r->lookups;
	if (r->lookups)
		r->lookups->prev = l;
	r->lookups = l;
	ev_timer_init(&l->deadline, on_deadline, timeout_ms / 1000.0, 0.);
	l->deadline.data = l;
	ev_timer_start(r->loop, &l->deadline);
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	l->in_ares = 1;
	l->starting = 1;
	ares_getaddrinfo(r->channel, host, NULL, &hints, on_addrinfo, l);
	l->starting = 0;
	if (l->done) {
		free(l);
		return NULL;
	}
	update_timer(r);
	return l;
}

void kf_resolve_cancel(struct kf_lookup *l)
{
	if (!l || l->cancelled)
		return;
	l->cancelled = 1;
	ev_timer_stop(l->r->loop, &l->deadline);
	unlink_lookup(l);
	if (!l->in_ares)
		free(l);
}

void kf_resolver_free(struct kf_resolver *r)
{
	if (!r)
		return;
	while (r->lookups)
		kf_resolve_cancel(r->lookups);
	/* ares_destroy calls every outstanding callback with ARES_EDESTRUCTION;
	 * on_addrinfo frees the cancelled lookups then. */
	ares_destroy(r->channel);
	for (int i = 0; i < MAX_SOCKS; i++)
		if (r->socks[i].fd != -1)
			ev_io_stop(r->loop, &r->socks[i].io);
	ev_timer_stop(r->loop, &r->timer);
	free(r);
}
