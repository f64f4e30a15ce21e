/*
 * daemon: detaching, the pid file, the privilege drop; see daemon.h.
 * Start-up code only: it may block (the launcher waits on a pipe) because
 * no event loop runs yet.  Process state: the daemon's end of the start-up
 * pipe and an fd on /dev/null until kf_daemon_ready.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "err.h"
#include "log.h"

#define COMP "daemon"

static struct {
	int status_fd;      /* write end of the start-up pipe, or -1 */
	int devnull;        /* for stderr once started, or -1 */
	bool atfork_done;
} D = { .status_fd = -1, .devnull = -1 };

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* ---- detaching ---- */

/*
 * The launcher: copy the daemon's start-up stderr to ours until the marker
 * (a NUL, then the status byte), then exit with that status.  EOF without
 * the marker means the daemon died (every copy of the write end is gone:
 * the daemon's children drop theirs at fork).
 */
static void __attribute__((noreturn)) launcher_wait(pid_t child, int rfd)
{
	signal(SIGPIPE, SIG_IGN);
	char buf[4096];
	int status = -1;
	bool marker = false;
	for (;;) {
		ssize_t n = read(rfd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t at = 0;
		if (!marker) {
			char *z = memchr(buf, '\0', (size_t)n);
			at = z ? (size_t)(z - buf) : (size_t)n;
			write_all(STDERR_FILENO, buf, at);
			if (!z)
				continue;
			marker = true;
			at++;
		}
		if (at < (size_t)n) {
			status = (unsigned char)buf[at];
			break;
		}
	}
	while (waitpid(child, NULL, 0) == -1 && errno == EINTR)
		;
	if (status < 0) {
		static const char msg[] = "kforkd: the daemon exited during start-up\n";
		write_all(STDERR_FILENO, msg, sizeof(msg) - 1);
		status = 1;
	}
	_exit(status);
}

/* Before the daemon is set up: tell the launcher why we cannot go on, end. */
static void __attribute__((noreturn)) detach_fail(int wfd, const char *what, int e)
{
	dprintf(wfd, "kforkd: cannot daemonize: %s: %s\n", what, strerror(e));
	write_all(wfd, "\0\1", 2);
	_exit(1);
}

/* A child forked before kf_daemon_ready (a worker) must not hold the
 * start-up pipe: the launcher would not see EOF if the daemon died, and a
 * worker's stderr line after the launcher left would raise SIGPIPE. */
static void atfork_child(void)
{
	if (D.status_fd == -1)
		return;
	dup2(D.devnull, STDERR_FILENO);
	close(D.status_fd);
	close(D.devnull);
	D.status_fd = D.devnull = -1;
}

/*
 * A daemon started with fd 0, 1 or 2 closed would get the pipe on one of
 * them, and pointing stdio at /dev/null would then close it.  Fill the
 * holes with /dev/null first.
 */
static int fill_stdio(void)
{
	for (;;) {
		int fd = open("/dev/null", O_RDWR);
		if (fd == -1)
			return KF_ERR;
		if (fd > STDERR_FILENO) {
			close(fd);
			return KF_OK;
		}
	}
}

int kf_daemonize(char *err, size_t errlen)
{
	if (fill_stdio() != KF_OK) {
		snprintf(err, errlen, "cannot daemonize: /dev/null: %s", strerror(errno));
		return KF_ERR;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "cannot daemonize: pipe: %s", strerror(errno));
		return KF_ERR;
	}
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull == -1) {
		snprintf(err, errlen, "cannot daemonize: /dev/null: %s", strerror(errno));
		goto out_close_pipe;
	}
	if (!D.atfork_done) {
		int e = pthread_atfork(NULL, NULL, atfork_child);
		if (e) {
			snprintf(err, errlen, "cannot daemonize: pthread_atfork: %s", strerror(e));
			goto out_close_null;
		}
		D.atfork_done = true;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == -1) {
		snprintf(err, errlen, "cannot daemonize: fork: %s", strerror(errno));
		goto out_close_null;
	}
	if (pid > 0) {
		close(p[1]);
		close(devnull);
		launcher_wait(pid, p[0]);
	}

	/* The first child: a new session, then a child that is not its
	 * leader. */
	close(p[0]);
	if (setsid() == -1)
		detach_fail(p[1], "setsid", errno);
	pid = fork();
	if (pid == -1)
		detach_fail(p[1], "fork", errno);
	if (pid > 0)
		_exit(0);

	/* The daemon.  "/" so we hold no mount busy; 027 so files we create
	 * (socket, log) are not world-readable unless asked for. */
	if (chdir("/") == -1)
		detach_fail(p[1], "chdir /", errno);
	umask(027);
	if (dup2(devnull, STDIN_FILENO) == -1 || dup2(devnull, STDOUT_FILENO) == -1 ||
	    dup2(p[1], STDERR_FILENO) == -1)
		detach_fail(p[1], "dup2", errno);
	D.status_fd = p[1];
	D.devnull = devnull;
	return KF_OK;

out_close_null:
	close(devnull);
out_close_pipe:
	close(p[0]);
	close(p[1]);
	return KF_ERR;
}

void kf_daemon_ready(int status)
{
	if (D.status_fd == -1)
		return;
	if (status < 0 || status > 255)
		status = 1;
	unsigned char msg[2] = { 0, (unsigned char)status };
	write_all(D.status_fd, msg, sizeof(msg));
	dup2(D.devnull, STDERR_FILENO);
	close(D.status_fd);
	close(D.devnull);
	D.status_fd = D.devnull = -1;
}

/* ---- the pid file ---- */

/* The pid in path: 0 and *pid set, KF_EPROTO for content that is no pid,
 * KF_ERR with errno set when the file cannot be read. */
static int read_pid(const char *path, pid_t *pid)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return KF_ERR;
	char buf[32];
	ssize_t n;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n == -1 && errno == EINTR);
	int saved = errno;
	close(fd);
	if (n == -1) {
		errno = saved;
		return KF_ERR;
	}
	buf[n] = '\0';
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno || end == buf || v <= 0 || v > INT32_MAX || (*end && strcmp(end, "\n") != 0))
		return KF_EPROTO;
	*pid = (pid_t)v;
	return KF_OK;
}

/* EPERM: it exists but belongs to someone else -- alive all the same. */
static bool pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* Fill a fresh temporary file next to path with our pid; its name in *tmp
 * (malloc'd, caller unlinks and frees). */
static int write_temp(const char *path, char **tmp, char *err, size_t errlen)
{
	size_t len = strlen(path) + sizeof(".XXXXXX");
	char *name = malloc(len);
	if (!name) {
		snprintf(err, errlen, "pid file %s: out of memory", path);
		return KF_ERR;
	}
	snprintf(name, len, "%s.XXXXXX", path);
	int fd = mkostemp(name, O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create pid file %s: %s", path, strerror(errno));
		free(name);
		return KF_ERR;
	}
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	bool ok = write(fd, buf, (size_t)n) == n && fchmod(fd, 0644) == 0;
	int saved = errno;
	if (close(fd) == -1 && ok) {
		ok = false;
		saved = errno;
	}
	if (!ok) {
		snprintf(err, errlen, "cannot write pid file %s: %s", name, strerror(saved));
		unlink(name);
		free(name);
		return KF_ERR;
	}
	*tmp = name;
	return KF_OK;
}

int kf_pidfile_create(const char *path, char *err, size_t errlen)
{
	char *tmp;
	if (write_temp(path, &tmp, err, errlen) != KF_OK)
		return KF_ERR;
	int rc = KF_ERR;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (link(tmp, path) == 0) {
			rc = KF_OK;
			break;
		}
		if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create pid file %s: %s", path, strerror(errno));
			break;
		}
		pid_t other = 0;
		int r = read_pid(path, &other);
		if (r == KF_ERR && errno == ENOENT)
			continue;       /* removed meanwhile: try the link again */
		if (r == KF_ERR) {
			snprintf(err, errlen, "cannot read pid file %s: %s", path, strerror(errno));
			break;
		}
		if (r == KF_OK && other != getpid() && pid_alive(other)) {
			snprintf(err, errlen, "kforkd is already running as pid %ld (%s)",
				 (long)other, path);
			break;
		}
		if (attempt == 1) {
			snprintf(err, errlen, "pid file %s keeps coming back: is another kforkd"
				 " starting?", path);
			break;
		}
		if (unlink(path) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove stale pid file %s: %s", path,
				 strerror(errno));
			break;
		}
		kf_info(COMP, "removed stale pid file %s", path);
	}
	unlink(tmp);
	free(tmp);
	return rc;
}

void kf_pidfile_remove(const char *path)
{
	pid_t pid;
	if (read_pid(path, &pid) != KF_OK || pid != getpid())
		return;
	if (unlink(path) == -1)
		kf_warn(COMP, "cannot remove pid file %s: %s", path, strerror(errno));
}

/* ---- privileges ---- */

int kf_drop_privileges(const char *user, char *err, size_t errlen)
{
	if (!user || !user[0])
		return KF_OK;
	if (geteuid() != 0) {
		struct passwd *pw = getpwnam(user);
		if (!pw || pw->pw_uid != geteuid())
			kf_warn(COMP, "not started as root: user = \"%s\" ignored, staying uid %ld",
				user, (long)geteuid());
		return KF_OK;
	}
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		if (errno)
			snprintf(err, errlen, "cannot look up user \"%s\": %s", user, strerror(errno));
		else
			snprintf(err, errlen, "unknown user \"%s\"", user);
		return KF_ERR;
	}
	if (pw->pw_uid == 0)
		return KF_OK;
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	/* pw points into libc's buffer, which initgroups may reuse. */
	char *name = strdup(pw->pw_name);
	char *home = strdup(pw->pw_dir);
	int rc = KF_ERR;
	if (!name || !home) {
		snprintf(err, errlen, "user \"%s\": out of memory", user);
		goto out_free;
	}
	/* Groups first: once the uid is gone we may not change them. */
	if (initgroups(name, gid) == -1) {
		snprintf(err, errlen, "initgroups(%s): %s", name, strerror(errno));
		goto out_free;
	}
	if (setresgid(gid, gid, gid) == -1) {
		snprintf(err, errlen, "setgid(%ld): %s", (long)gid, strerror(errno));
		goto out_free;
	}
	if (setresuid(uid, uid, uid) == -1) {
		snprintf(err, errlen, "setuid(%ld): %s", (long)uid, strerror(errno));
		goto out_free;
	}
	/* Trust but verify: root must be gone for good (saved ids included). */
	if (setuid(0) != -1 || getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid) {
		snprintf(err, errlen, "dropping to user \"%s\" did not stick", name);
		goto out_free;
	}
	if (setenv("HOME", home, 1) == -1 || setenv("USER", name, 1) == -1 ||
	    setenv("LOGNAME", name, 1) == -1) {
		snprintf(err, errlen, "setenv: %s", strerror(errno));
		goto out_free;
	}
	kf_info(COMP, "running as user %s (uid %ld, gid %ld)", name, (long)uid, (long)gid);
	rc = KF_OK;
out_free:
	free(name);
	free(home);
	return rc;
}

/* Can uid (primary group gid, plus its supplementary groups) create and
 * remove entries in dir? */
static bool dir_writable_by(const char *dir, const char *name, uid_t uid, gid_t gid)
{
	struct stat st;
	if (stat(dir, &st) == -1)
		return false;
	if (st.st_uid == uid)
		return (st.st_mode & S_IWUSR) && (st.st_mode & S_IXUSR);
	bool in_group = st.st_gid == gid;
	gid_t groups[64];
	int n = 64;
	if (!in_group && getgrouplist(name, gid, groups, &n) != -1)
		for (int i = 0; i < n && !in_group; i++)
			in_group = groups[i] == st.st_gid;
	if (in_group)
		return (st.st_mode & S_IWGRP) && (st.st_mode & S_IXGRP);
	return (st.st_mode & S_IWOTH) && (st.st_mode & S_IXOTH);
}

int kf_chown_for(const char *path, const char *user, char *err, size_t errlen)
{
	if (!user || !user[0] || geteuid() != 0)
		return KF_OK;
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		if (errno)
			snprintf(err, errlen, "cannot look up user \"%s\": %s", user, strerror(errno));
		else
			snprintf(err, errlen, "unknown user \"%s\"", user);
		return KF_ERR;
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) == -1) {
		snprintf(err, errlen, "chown %s to %s: %s", path, user, strerror(errno));
		return KF_ERR;
	}
	char *copy = strdup(path);
	if (!copy)
		return KF_OK;       /* the check below is only advice */
	const char *dir = dirname(copy);
	if (!dir_writable_by(dir, user, uid, gid))
		kf_warn(COMP, "%s: directory %s is not writable by user %s: the file cannot"
			" be removed or re-created once kforkd runs as %s", path, dir, user, user);
	free(copy);
	return KF_OK;
}
