/*
 * log: see log.h.  The whole line is formatted into one buffer and written
 * with a single write(2) so lines from several processes do not interleave.
 * Process state: the file's fd and name, the syslog flag, and one shared
 * page with the reopen generation that forked workers watch.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

enum kf_log_level kf_log_level = KF_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };

/* Shared with every process forked after kf_log_open (MAP_SHARED). */
struct log_shared {
	atomic_uint gen;            /* bumped by each successful kf_log_reopen */
};

static struct {
	int fd;                     /* the file, above 2, or -1 */
	char *path;                 /* its absolute name, for reopening */
	bool to_stderr;
	bool want_stderr;           /* what the caller asked; to_stderr may force it */
	bool to_syslog;
	struct log_shared *shared;
	unsigned gen;               /* the generation this process's fd belongs to */
	bool atfork_done;
} L = { .fd = -1, .to_stderr = true, .want_stderr = true };

int kf_log_level_parse(const char *word)
{
	for (int i = 0; i <= KF_LOG_TRACE; i++)
		if (strcmp(word, level_names[i]) == 0)
			return i;
	return -1;
}

const char *kf_log_level_name(enum kf_log_level level)
{
	return level <= KF_LOG_TRACE ? level_names[level] : "?";
}

static int syslog_priority(enum kf_log_level level)
{
	switch (level) {
	case KF_LOG_ERROR: return LOG_ERR;
	case KF_LOG_WARN: return LOG_WARNING;
	case KF_LOG_INFO: return LOG_INFO;
	default: return LOG_DEBUG;
	}
}

/* Open the file the way every (re)open does: appends only, never our
 * controlling tty, not inherited by exec'd commands, not through a symbolic
 * link (see log.h), and above fd 2. */
static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW,
		      0640);
	if (fd == -1 || fd > 2)
		return fd;
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int saved = errno;
	close(fd);
	errno = saved;
	return hi;
}

/* A name that still means the same file after chdir("/"); malloc'd. */
static char *absolute_name(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	size_t len = strlen(cwd) + 1 + strlen(path) + 1;
	char *abs = malloc(len);
	if (abs)
		snprintf(abs, len, "%s/%s", cwd, path);
	free(cwd);
	return abs;
}

/*
 * Put a fresh open of L.path on L.fd's number.  dup3 swaps atomically, so no
 * line can find the fd closed.  On failure L.fd is untouched; returns the
 * errno.
 */
static int swap_in_new_file(void)
{
	int fd = open_file(L.path);
	if (fd == -1)
		return errno;
	int r = dup3(fd, L.fd, O_CLOEXEC);
	int saved = errno;
	close(fd);
	return r == -1 ? saved : 0;
}

/* A worker notices the supervisor reopened the file and follows it. */
static void follow_reopen(void)
{
	unsigned gen = atomic_load_explicit(&L.shared->gen, memory_order_relaxed);
	if (gen == L.gen)
		return;
	/* Set first: the error line below comes back through here. */
	L.gen = gen;
	int e = swap_in_new_file();
	if (e)
		kf_log(KF_LOG_ERROR, "log", "cannot reopen %s: %s (still writing to the old file)",
		       L.path, strerror(e));
}

void kf_log(enum kf_log_level level, const char *component, const char *fmt, ...)
{
	if (!KF_LOG_ENABLED(level))
		return;
	if (L.fd != -1 && L.shared)
		follow_reopen();
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
	int body = n;                   /* syslog gets "component: message" */
	n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ", component);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	if (L.to_syslog)
		syslog(syslog_priority(level), "%.*s", (int)(len - (size_t)body), line + body);
	line[len++] = '\n';
	ssize_t w = 0;
	if (L.fd != -1)
		w = write(L.fd, line, len);
	if (L.to_stderr)
		w = write(STDERR_FILENO, line, len);
	(void)w;
}

/*
 * In every forked child: drop the parent's syslog connection while its fd
 * number is still the parent's socket, and connect again lazily on the
 * child's first line (no LOG_NDELAY), after worker start-up closed what it
 * inherited.  Runs before the child's own code, single-threaded.
 */
static void atfork_child(void)
{
	if (!L.to_syslog)
		return;
	closelog();
	openlog("kforkd", LOG_PID, LOG_DAEMON);
}

static int map_shared(struct log_shared **out)
{
	void *p = mmap(NULL, sizeof(struct log_shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	*out = p;
	atomic_init(&(*out)->gen, 0);
	return 0;
}

int kf_log_open(const char *file, bool use_syslog, bool use_stderr, char *err, size_t errlen)
{
	int fd = -1;
	char *path = NULL;
	struct log_shared *shared = NULL;
	bool same = false;
	int e;
	if (file && file[0]) {
		path = absolute_name(file);
		if (!path) {
			snprintf(err, errlen, "log file %s: %s", file, strerror(errno));
			return KF_ERR;
		}
		same = L.path && strcmp(path, L.path) == 0;
		fd = open_file(path);
		if (fd == -1) {
			snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(errno));
			goto out_free_path;
		}
		/* The same file again keeps its page: workers simply follow the
		 * reopen.  Another file: a fresh page, so workers forked earlier
		 * stay on their old file rather than reopening the old name. */
		if (!same && (e = map_shared(&shared)) != 0) {
			snprintf(err, errlen, "log: cannot map a shared page: %s", strerror(e));
			goto out_close_fd;
		}
	}
	if (!L.atfork_done) {
		if ((e = pthread_atfork(NULL, NULL, atfork_child)) != 0) {
			snprintf(err, errlen, "log: pthread_atfork: %s", strerror(e));
			goto out_unmap;
		}
		L.atfork_done = true;
	}

	/* Committed: retire the old destinations. */
	if (L.to_syslog && !use_syslog)
		closelog();
	if (use_syslog && !L.to_syslog)
		openlog("kforkd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	L.to_syslog = use_syslog;
	if (fd != -1 && L.fd != -1) {
		/* Keep the fd number the daemon may be holding on to. */
		if (dup3(fd, L.fd, O_CLOEXEC) != -1) {
			close(fd);
			fd = L.fd;
		} else {
			close(L.fd);
		}
	} else if (L.fd != -1) {
		close(L.fd);
	}
	if (same) {
		shared = L.shared;
		L.gen = atomic_fetch_add_explicit(&shared->gen, 1, memory_order_relaxed) + 1;
	} else {
		if (L.shared)
			munmap(L.shared, sizeof(*L.shared));
		L.gen = 0;
	}
	L.fd = fd;
	free(L.path);
	L.path = path;
	L.shared = shared;
	L.want_stderr = use_stderr;
	L.to_stderr = use_stderr || (fd == -1 && !use_syslog);
	return KF_OK;

out_unmap:
	if (shared)
		munmap(shared, sizeof(*shared));
out_close_fd:
	close(fd);
out_free_path:
	free(path);
	return KF_ERR;
}

int kf_log_reopen(void)
{
	if (L.fd == -1)
		return KF_OK;
	int e = swap_in_new_file();
	if (e) {
		kf_log(KF_LOG_ERROR, "log", "cannot reopen %s: %s (still writing to the old file)",
		       L.path, strerror(e));
		return KF_ERR;
	}
	/* Relaxed is enough: a worker that sees the new value opens the file
	 * by name, and the open itself is ordered by the kernel. */
	L.gen = atomic_fetch_add_explicit(&L.shared->gen, 1, memory_order_relaxed) + 1;
	kf_log(KF_LOG_INFO, "log", "reopened %s", L.path);
	return KF_OK;
}

void kf_log_close(void)
{
	if (L.fd != -1)
		close(L.fd);
	L.fd = -1;
	free(L.path);
	L.path = NULL;
	if (L.shared)
		munmap(L.shared, sizeof(*L.shared));
	L.shared = NULL;
	L.gen = 0;
	if (L.to_syslog)
		closelog();
	L.to_syslog = false;
	L.want_stderr = true;
	L.to_stderr = true;
}

int kf_log_fd(void)
{
	return L.fd;
}

void kf_log_stderr(bool on)
{
	L.want_stderr = on;
	L.to_stderr = on || (L.fd == -1 && !L.to_syslog);
}
