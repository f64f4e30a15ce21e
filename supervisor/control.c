#include "config.h"

#include <errno.h>
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
#include "reqsrv.h"
#include "wire.h"

#define COMP "control"

struct kf_control {
	char *path;
	struct kf_reqsrv *srv;
	kf_control_fn *fn;
	void *opaque;
};

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

static void reply_str(struct kf_wr *reply, const char *s)
{
	kf_wr_raw(reply, s, strlen(s));
}

bool kf_control_request(const char *req, size_t len, bool eof, bool full, kf_control_fn *fn,
			void *opaque, struct kf_wr *reply)
{
	const char *nl = memchr(req, '\n', len);
	if (!nl && full) {
		reply_str(reply, "error command line too long\n");
		return true;
	}
	if (!nl && !eof)
		return false;
	size_t n = nl ? (size_t)(nl - req) : len;
	if (n > 0 && req[n - 1] == '\r')
		n--;
	/* The reader takes one byte more than a line, for the '\n': a line
	 * that long ended by eof instead does not fit. */
	if (n > KF_CONTROL_MAX_LINE) {
		reply_str(reply, "error command line too long\n");
		return true;
	}
	char line[KF_CONTROL_MAX_LINE + 1];
	memcpy(line, req, n);
	line[n] = '\0';
	if (strlen(line) != n || !line_ok(line)) {
		reply_str(reply, "error malformed command line\n");
		return true;
	}
	kf_debug(COMP, "command \"%s\"", line);
	fn(opaque, line, reply);
	return true;
}

static bool on_request(void *opaque, const char *req, size_t len, bool eof, bool full,
		       struct kf_wr *reply)
{
	struct kf_control *c = opaque;
	return kf_control_request(req, len, eof, full, c->fn, c->opaque, reply);
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
	c->fn = fn;
	c->opaque = opaque;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	/* The mode holds from the first instant: no window where others
	 * could connect. */
	mode_t old = umask((mode_t)(~mode & 0777));
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "control socket %s: bind: %s", path, strerror(errno));
		close(fd);
		goto fail;
	}
	if (chmod(path, (mode_t)mode) < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		goto fail;
	}
	c->srv = kf_reqsrv_new(loop, fd, COMP, KF_CONTROL_MAX_LINE + 1, KF_CONTROL_TIMEOUT_S,
			       on_request, c);
	if (!c->srv) {
		snprintf(err, errlen, "out of memory");
		unlink(path);
		goto fail;
	}
	kf_info(COMP, "listening on %s (mode %04o)", path, mode);
	return c;
fail:
	free(c->path);
	free(c);
	return NULL;
}

void kf_control_free(struct kf_control *c)
{
	if (!c)
		return;
	kf_reqsrv_free(c->srv);
	unlink(c->path);
	free(c->path);
	free(c);
}

bool kf_control_path_is(const struct kf_control *c, const char *path)
{
	return strcmp(c->path, path) == 0;
}
