/*
 * h_builtin: the handlers that need no user code.
 *
 *   noop  acks every record.
 *   file  appends `TOPIC PARTITION OFFSET KEY VALUE\n` (key and value in
 *         lowercase hex, `-` for null) to DIR/worker-<id>.log, one write(2)
 *         per record on an O_APPEND descriptor, before the ack: once acked,
 *         the line is in the kernel (no fsync: "flushed", not "durable").
 *         A failed write is KFORK_RETRY, so a full disk backs off and then
 *         fails the record instead of acking it unwritten.  A worker
 *         killed in the middle of a write leaves a partial line at the end
 *         of the file; the next one with that id ends it (a '\n' ahead of
 *         its first line, in the same write), so the partial line stands
 *         alone instead of running into a whole one.
 *   burn  spins usec of this thread's CPU time per record: a stand-in for
 *         heavy processing that costs the same CPU however loaded the
 *         machine is.
 *
 * Runs in the worker process only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "handlers.h"
#include "log.h"

/* ---- noop ---- */

static int noop_process(struct kf_worker *w, void *state, struct kf_delivery *d)
{
	return KFORK_OK;
}

const struct kf_handler kf_handler_noop = {
	.process = noop_process,
};

/* ---- file ---- */

struct file_state {
	int fd;
	bool torn;                  /* the file ends in a partial line */
	char path[4096];
	char *buf;                  /* the line being built; grows */
	size_t cap;
};

/* The regular file at path (open as fd) ends in a partial line: its last
 * byte is not '\n'.  false when it is empty, not a regular file (a FIFO
 * has no end to look at) or unreadable (the check is then skipped). */
static bool ends_torn(int fd, const char *path)
{
	struct stat st;
	char last;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return false;
	/* fd stays write-only: a file the worker may not read is still
	 * written, only not checked. */
	int rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (rfd == -1)
		return false;
	bool torn = pread(rfd, &last, 1, st.st_size - 1) == 1 && last != '\n';
	close(rfd);
	return torn;
}

static int file_init(struct kf_worker *w, void **state)
{
	const char *dir = w->conf->handler.dir;
	struct file_state *fs = calloc(1, sizeof(*fs));

	if (!fs) {
		kf_err(w->comp, "file handler: out of memory");
		return KF_ENOMEM;
	}
	if (!dir || !*dir)
		dir = ".";
	int n = snprintf(fs->path, sizeof(fs->path), "%s/worker-%d.log", dir, w->conf->id);
	if (n < 0 || (size_t)n >= sizeof(fs->path)) {
		kf_err(w->comp, "file handler: directory name too long");
		free(fs);
		return KF_ERR;
	}
	fs->fd = open(fs->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fs->fd == -1) {
		kf_err(w->comp, "file handler: open %s: %s", fs->path, strerror(errno));
		free(fs);
		return KF_EIO;
	}
	fs->torn = ends_torn(fs->fd, fs->path);
	*state = fs;
	return KF_OK;
}

static char *put_hex(char *p, const uint8_t *b, int32_t len)
{
	static const char digits[] = "0123456789abcdef";

	if (len < 0) {
		*p++ = '-';
		return p;
	}
	for (int32_t i = 0; i < len; i++) {
		*p++ = digits[b[i] >> 4];
		*p++ = digits[b[i] & 15];
	}
	return p;
}

static int file_process(struct kf_worker *w, void *state, struct kf_delivery *d)
{
	struct file_state *fs = state;
	const struct kf_ring_rec *r = d->rec;
	size_t klen = r->key_len > 0 ? (size_t)r->key_len : 0;
	size_t vlen = r->value_len > 0 ? (size_t)r->value_len : 0;
	size_t need = 1 + strlen(d->topic) + 64 + 2 * (klen + vlen);

	if (need > fs->cap) {
		char *nb = realloc(fs->buf, need);
		if (!nb) {
			snprintf(d->reason, KF_RING_REASON_MAX, "file: out of memory");
			return KFORK_RETRY;
		}
		fs->buf = nb;
		fs->cap = need;
	}
	/* The line goes at buf + 1, leaving room for the '\n' that ends a
	 * partial line, so both go in one write. */
	char *start = fs->buf + 1, *p = start;
	p += sprintf(p, "%s %" PRId32 " %" PRId64 " ", d->topic, r->partition, r->offset);
	p = put_hex(p, r->key, r->key_len);
	*p++ = ' ';
	p = put_hex(p, r->value, r->value_len);
	*p++ = '\n';
	if (fs->torn)
		*--start = '\n';

	size_t len = (size_t)(p - start), done = 0;
	while (done < len) {
		ssize_t n = write(fs->fd, start + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(d->reason, KF_RING_REASON_MAX, "file: write %.300s: %s", fs->path,
				 n == 0 ? "no progress" : strerror(errno));
			return KFORK_RETRY;
		}
		done += (size_t)n;
		fs->torn = false;   /* the '\n' goes out first */
	}
	return KFORK_OK;
}

static void file_fini(struct kf_worker *w, void *state)
{
	struct file_state *fs = state;

	if (!fs)
		return;
	close(fs->fd);
	free(fs->buf);
	free(fs);
}

const struct kf_handler kf_handler_file = {
	.init = file_init,
	.process = file_process,
	.fini = file_fini,
};

/* ---- burn ---- */

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int burn_process(struct kf_worker *w, void *state, struct kf_delivery *d)
{
	int64_t ns = (int64_t)w->conf->handler.usec * 1000;
	int64_t until = thread_cpu_ns() + ns;
	volatile uint64_t x = 0;

	while (thread_cpu_ns() < until)
		for (int i = 0; i < 256; i++)
			x = x * 6364136223846793005ULL + 1;
	return KFORK_OK;
}

const struct kf_handler kf_handler_burn = {
	.process = burn_process,
};
