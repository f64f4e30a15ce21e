#include "config.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "reqsrv.h"
#include "wire.h"

struct client {
	struct kf_reqsrv *s;
	int fd;
	ev_io io;
	ev_timer deadline;
	char *req;              /* max_request + 1 bytes */
	size_t len;
	bool answering;
	struct kf_wr out;
	size_t sent;
};

struct kf_reqsrv {
	struct ev_loop *loop;
	char name[64];
	int fd;
	ev_io accept_io;
	size_t max_request;
	double timeout_s;
	kf_reqsrv_fn *fn;
	void *opaque;
	struct client *clients[KF_REQSRV_MAX_CLIENTS];
	int nclients;
};

static void listen_resume(struct kf_reqsrv *s)
{
	if (s->nclients < KF_REQSRV_MAX_CLIENTS && !ev_is_active(&s->accept_io))
		ev_io_start(s->loop, &s->accept_io);
}

static void client_close(struct client *cl)
{
	struct kf_reqsrv *s = cl->s;
	/* Closing with unread input makes the kernel reset the connection,
	 * which can cost the client our answer (an overlong request): read
	 * what is there first, a bounded amount. */
	char junk[4096];
	for (int i = 0; i < 16 && read(cl->fd, junk, sizeof(junk)) > 0; i++)
		;
	ev_io_stop(s->loop, &cl->io);
	ev_timer_stop(s->loop, &cl->deadline);
	close(cl->fd);
	kf_wr_free(&cl->out);
	for (int i = 0; i < s->nclients; i++)
		if (s->clients[i] == cl) {
			s->clients[i] = s->clients[--s->nclients];
			break;
		}
	free(cl->req);
	free(cl);
	listen_resume(s);
}

/* Write what is left of the answer; close when it is all out. */
static void client_flush(struct client *cl)
{
	while (cl->sent < cl->out.len) {
		ssize_t n = send(cl->fd, cl->out.buf + cl->sent, cl->out.len - cl->sent,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			kf_debug(cl->s->name, "client went away: %s", strerror(errno));
			client_close(cl);
			return;
		}
		cl->sent += (size_t)n;
	}
	client_close(cl);
}

/* Ask fn about the request so far; true when the answer is on its way
 * (or the connection closed). */
static bool try_answer(struct client *cl, bool eof, bool full)
{
	struct kf_reqsrv *s = cl->s;
	cl->req[cl->len] = '\0';
	if (!s->fn(s->opaque, cl->req, cl->len, eof, full, &cl->out)) {
		if (!eof && !full)
			return false;
		client_close(cl);
		return true;
	}
	if (!kf_wr_ok(&cl->out)) {
		client_close(cl);
		return true;
	}
	cl->answering = true;
	ev_io_stop(s->loop, &cl->io);
	ev_io_set(&cl->io, cl->fd, EV_WRITE);
	ev_io_start(s->loop, &cl->io);
	client_flush(cl);
	return true;
}

static void client_read(struct client *cl)
{
	size_t max = cl->s->max_request;
	for (;;) {
		char one;
		size_t room = max - cl->len;
		/* At the limit, read one more byte only to see it is over. */
		ssize_t n = read(cl->fd, room ? cl->req + cl->len : &one, room ? room : 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			client_close(cl);
			return;
		}
		if (n == 0) {
			if (cl->len == 0)
				client_close(cl);
			else
				try_answer(cl, true, false);
			return;
		}
		if (!room) {
			try_answer(cl, false, true);
			return;
		}
		cl->len += (size_t)n;
		if (try_answer(cl, false, false))
			return;
	}
}

static void client_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop, (void)revents;
	struct client *cl = w->data;
	if (cl->answering)
		client_flush(cl);
	else
		client_read(cl);
}

static void client_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct client *cl = w->data;
	kf_debug(cl->s->name, "client timed out");
	client_close(cl);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct kf_reqsrv *s = w->data;
	while (s->nclients < KF_REQSRV_MAX_CLIENTS) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				kf_warn(s->name, "accept: %s", strerror(errno));
			return;
		}
		struct client *cl = calloc(1, sizeof(*cl));
		char *req = malloc(s->max_request + 1);
		if (!cl || !req) {
			free(cl);
			free(req);
			close(fd);
			return;
		}
		cl->s = s;
		cl->fd = fd;
		cl->req = req;
		kf_wr_init(&cl->out);
		ev_io_init(&cl->io, client_io_cb, fd, EV_READ);
		cl->io.data = cl;
		ev_timer_init(&cl->deadline, client_deadline_cb, s->timeout_s, 0.);
		cl->deadline.data = cl;
		ev_io_start(loop, &cl->io);
		ev_timer_start(loop, &cl->deadline);
		s->clients[s->nclients++] = cl;
	}
	ev_io_stop(loop, w);    /* full: the backlog waits for client_close */
}

struct kf_reqsrv *kf_reqsrv_new(struct ev_loop *loop, int fd, const char *name,
				size_t max_request, double timeout_s, kf_reqsrv_fn *fn,
				void *opaque)
{
	struct kf_reqsrv *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return NULL;
	}
	*s = (struct kf_reqsrv){ .loop = loop, .fd = fd, .max_request = max_request,
				 .timeout_s = timeout_s, .fn = fn, .opaque = opaque };
	snprintf(s->name, sizeof(s->name), "%s", name);
	ev_io_init(&s->accept_io, accept_cb, fd, EV_READ);
	s->accept_io.data = s;
	ev_io_start(loop, &s->accept_io);
	return s;
}

void kf_reqsrv_free(struct kf_reqsrv *s)
{
	if (!s)
		return;
	while (s->nclients > 0)
		client_close(s->clients[0]);
	ev_io_stop(s->loop, &s->accept_io);
	close(s->fd);
	free(s);
}
