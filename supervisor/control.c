#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "err.h"
#include "log.h"
#include "wire.h"

#define COMP "control"

struct client {
	struct kf_control *c;
	int fd;
	ev_io io;
	ev_timer deadline;
	char line[KF_CONTROL_MAX_LINE + 1];
	size_t len;
	bool answering;
	struct kf_wr out;
	size_t sent;
};

struct kf_control {
	struct ev_loop *loop;
	char *path;
	int fd;
	ev_io accept_io;
	kf_control_fn *fn;
	void *opaque;
	struct client *clients[KF_CONTROL_MAX_CLIENTS];
	int nclients;
};

static void listen_resume(struct kf_control *c)
{
	if (c->nclients < KF_CONTROL_MAX_CLIENTS && !ev_is_active(&c->accept_io))
		ev_io_start(c->loop, &c->accept_io);
}

static void client_close(struct client *cl)
{
	struct kf_control *c = cl->c;
	/* Closing with unread input makes the kernel reset the connection,
	 * which can cost the client our answer (an overlong line): read what
	 * is there first, a bounded amount. */
	char junk[4096];
	for (int i = 0; i < 16 && read(cl->fd, junk, sizeof(junk)) > 0; i++)
		;
	ev_io_stop(c->loop, &cl->io);
	ev_timer_stop(c->loop, &cl->deadline);
	close(cl->fd);
	kf_wr_free(&cl->out);
	for (int i = 0; i < c->nclients; i++)
		if (c->clients[i] == cl) {
			c->clients[i] = c->clients[--c->nclients];
			break;
		}
	free(cl);
	listen_resume(c);
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
			kf_debug(COMP, "client went away: %s", strerror(errno));
			client_close(cl);
			return;
		}
		cl->sent += (size_t)n;
	}
	client_close(cl);
}

static bool line_ok(const char *s)
{
	if (!*s || *s == ' ')
		return false;
	for (const char *p = s; *p; p++)
		if (*p < 0x21 || *p > 0x7e) {
			if (*p != ' ' || p[1] == ' ' || p[1] == '\0')
				return false;
		}
	return true;
}

static void answer(struct client *cl)
{
	cl->answering = true;
	kf_wr_init(&cl->out);
	if (cl->len > 0 && cl->line[cl->len - 1] == '\r')
		cl->len--;
	cl->line[cl->len] = '\0';
	if (!line_ok(cl->line)) {
		static const char bad[] = "error malformed command line\n";
		kf_wr_raw(&cl->out, bad, sizeof(bad) - 1);
	} else {
		kf_debug(COMP, "command \"%s\"", cl->line);
		cl->c->fn(cl->c->opaque, cl->line, &cl->out);
	}
	if (!kf_wr_ok(&cl->out)) {
		static const char oom[] = "error out of memory\n";
		kf_wr_free(&cl->out);
		kf_wr_init(&cl->out);
		kf_wr_raw(&cl->out, oom, sizeof(oom) - 1);
	}
	ev_io_stop(cl->c->loop, &cl->io);
	ev_io_set(&cl->io, cl->fd, EV_WRITE);
	ev_io_start(cl->c->loop, &cl->io);
	client_flush(cl);
}

static void client_read(struct client *cl)
{
	for (;;) {
		size_t room = KF_CONTROL_MAX_LINE - cl->len;
		char tmp[64];
		/* Past the limit, read one more byte only to see it is too long. */
		ssize_t n = read(cl->fd, room ? cl->line + cl->len : tmp, room ? room : 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			client_close(cl);
			return;
		}
		if (n == 0) {   /* write side shut: the line is what came */
			if (cl->len == 0) {
				client_close(cl);
				return;
			}
			answer(cl);
			return;
		}
		if (!room) {
			static const char lng[] = "error command line too long\n";
			kf_wr_init(&cl->out);
			cl->answering = true;
			kf_wr_raw(&cl->out, lng, sizeof(lng) - 1);
			ev_io_stop(cl->c->loop, &cl->io);
			ev_io_set(&cl->io, cl->fd, EV_WRITE);
			ev_io_start(cl->c->loop, &cl->io);
			client_flush(cl);
			return;
		}
		char *nl = memchr(cl->line + cl->len, '\n', (size_t)n);
		cl->len += (size_t)n;
		if (nl) {
			cl->len = (size_t)(nl - cl->line);
			answer(cl);
			return;
		}
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
	kf_debug(COMP, "client timed out");
	client_close(cl);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	struct kf_control *c = w->data;
	while (c->nclients < KF_CONTROL_MAX_CLIENTS) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				kf_warn(COMP, "accept on %s: %s", c->path, strerror(errno));
			return;
		}
		struct client *cl = calloc(1, sizeof(*cl));
		if (!cl) {
			close(fd);
			return;
		}
		cl->c = c;
		cl->fd = fd;
		ev_io_init(&cl->io, client_io_cb, fd, EV_READ);
		cl->io.data = cl;
		ev_timer_init(&cl->deadline, client_deadline_cb, KF_CONTROL_TIMEOUT_S, 0.);
		cl->deadline.data = cl;
		ev_io_start(loop, &cl->io);
		ev_timer_start(loop, &cl->deadline);
		c->clients[c->nclients++] = cl;
	}
	ev_io_stop(loop, w);    /* full: the backlog waits for client_close */
}

/* Is somebody listening on the socket at path? */
static bool socket_alive(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	bool alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN;
	close(fd);
	return alive;
}

/* Make room for the socket at path: parent directory, stale file. */
static int prepare_path(const char *path, char *err, size_t errlen)
{
	char *copy = strdup(path);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return KF_ENOMEM;
	}
	const char *dir = dirname(copy);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "control socket %s: cannot create %s: %s", path, dir,
			 strerror(errno));
		free(copy);
		return KF_ERR;
	}
	free(copy);
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return KF_OK;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		return KF_ERR;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %s: the path exists and is not a socket",
			 path);
		return KF_ERR;
	}
	if (socket_alive(path)) {
		snprintf(err, errlen, "control socket %s: another process is listening on it"
			 " (is kforkd already running?)", path);
		return KF_ERR;
	}
	if (unlink(path) < 0) {
		snprintf(err, errlen, "control socket %s: cannot remove the stale socket: %s",
			 path, strerror(errno));
		return KF_ERR;
	}
	kf_info(COMP, "removed the stale socket %s", path);
	return KF_OK;
}

struct kf_control *kf_control_new(struct ev_loop *loop, const char *path, int mode,
				  kf_control_fn *fn, void *opaque, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket %s: path too long", path);
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (prepare_path(path, err, errlen) != KF_OK)
		return NULL;
	struct kf_control *c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->fn = fn;
	c->opaque = opaque;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	/* The mode holds from the first instant: no window where others
	 * could connect. */
	mode_t old = umask((mode_t)(~mode & 0777));
	int rc = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "control socket %s: bind: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, (mode_t)mode) < 0 || listen(c->fd, 16) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	ev_io_init(&c->accept_io, accept_cb, c->fd, EV_READ);
	c->accept_io.data = c;
	ev_io_start(loop, &c->accept_io);
	kf_info(COMP, "listening on %s (mode %04o)", path, mode);
	return c;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	free(c);
	return NULL;
}

void kf_control_free(struct kf_control *c)
{
	if (!c)
		return;
	while (c->nclients > 0)
		client_close(c->clients[0]);
	ev_io_stop(c->loop, &c->accept_io);
	close(c->fd);
	unlink(c->path);
	free(c->path);
	free(c);
}

int kf_control_fd(const struct kf_control *c)
{
	return c ? c->fd : -1;
}
