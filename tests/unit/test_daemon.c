/*
 * daemon and log: the pid file (created atomically, refused when its pid is
 * alive, a stale one replaced, removed only when ours); the log file (lines
 * and their format, reopen after a rename, a worker forked earlier
 * following the reopen, a failed reopen keeping the old file, a relative
 * name surviving chdir, syslog); daemonizing in a forked child (session,
 * cwd, umask, parent, stdio -- also when started with stdio closed --,
 * start-up stderr and status reaching the launcher, a daemon dying early);
 * dropping root to "nobody" and chown (as root only).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "err.h"
#include "log.h"
#include "suites.h"

/* ---- helpers ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kf_daemon.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	remove(path);
	return 0;
}

static void remove_tmpdir(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *in_tmp(const char *name)
{
	static char buf[4][256];
	static int next;
	char *p = buf[next++ % 4];
	snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return p;
}

/* The whole file as a string ("" if it does not exist); static buffer. */
static const char *slurp(const char *path)
{
	static char buf[8][8192];
	static int next;
	char *p = buf[next++ % 8];
	p[0] = '\0';
	int fd = open(path, O_RDONLY);
	if (fd == -1)
		return p;
	ssize_t n = read(fd, p, sizeof(buf[0]) - 1);
	close(fd);
	p[n > 0 ? n : 0] = '\0';
	return p;
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* A pid that certainly is not running: a child we reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Wait up to 5 s for a file to have content. */
static const char *wait_for(const char *path)
{
	for (int i = 0; i < 500; i++) {
		const char *s = slurp(path);
		if (s[0])
			return s;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return "";
}

/* ---- pid file ---- */

START_TEST(pidfile_create_remove)
{
	make_tmpdir();
	char err[256] = "";
	const char *path = in_tmp("k.pid");
	ck_assert_int_eq(kf_pidfile_create(path, err, sizeof(err)), KF_OK);
	char want[32];
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	ck_assert_str_eq(slurp(path), want);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	ck_assert_int_eq(count_entries(tmpdir), 1);     /* no temporary left */
	kf_pidfile_remove(path);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
	remove_tmpdir();
}
END_TEST

START_TEST(pidfile_refuses_alive)
{
	make_tmpdir();
	char err[256] = "", want[300], text[32];
	const char *path = in_tmp("k.pid");
	pid_t live = getppid();
	snprintf(text, sizeof(text), "%ld\n", (long)live);
	put(path, text);
	ck_assert_int_eq(kf_pidfile_create(path, err, sizeof(err)), KF_ERR);
	snprintf(want, sizeof(want), "kforkd is already running as pid %ld (%s)", (long)live, path);
	ck_assert_str_eq(err, want);
	ck_assert_str_eq(slurp(path), text);
	ck_assert_int_eq(count_entries(tmpdir), 1);
	/* Without the newline too (other tools write it so). */
	snprintf(text, sizeof(text), "%ld", (long)live);
	put(path, text);
	ck_assert_int_eq(kf_pidfile_create(path, err, sizeof(err)), KF_ERR);
	ck_assert_str_eq(err, want);
	remove_tmpdir();
}
END_TEST

START_TEST(pidfile_replaces_stale)
{
	make_tmpdir();
	char err[256] = "", want[32], text[32];
	const char *path = in_tmp("k.pid");
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	const char *stale[4];
	snprintf(text, sizeof(text), "%ld\n", (long)dead_pid());
	stale[0] = text;
	stale[1] = "garbage\n";
	stale[2] = "";
	stale[3] = want;        /* our own pid: a previous life's file */
	for (int i = 0; i < 4; i++) {
		put(path, stale[i]);
		ck_assert_int_eq(kf_pidfile_create(path, err, sizeof(err)), KF_OK);
		ck_assert_str_eq(slurp(path), want);
		ck_assert_int_eq(count_entries(tmpdir), 1);
	}
	remove_tmpdir();
}
END_TEST

START_TEST(pidfile_remove_only_ours)
{
	make_tmpdir();
	char text[32];
	const char *path = in_tmp("k.pid");
	snprintf(text, sizeof(text), "%ld\n", (long)getppid());
	put(path, text);
	kf_pidfile_remove(path);
	ck_assert_str_eq(slurp(path), text);
	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	put(path, text);
	kf_pidfile_remove(path);
	ck_assert_int_eq(access(path, F_OK), -1);
	kf_pidfile_remove(path);        /* gone already: quietly nothing */
	remove_tmpdir();
}
END_TEST

START_TEST(pidfile_bad_directory)
{
	char err[256] = "";
	ck_assert_int_eq(kf_pidfile_create("/nonexistent-kf/k.pid", err, sizeof(err)), KF_ERR);
	ck_assert_str_eq(err, "cannot create pid file /nonexistent-kf/k.pid: "
			 "No such file or directory");
}
END_TEST

/* ---- log ---- */

/* Point stderr at a file for the test; returns the saved fd. */
static int capture_stderr(const char *path)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

static void restore_stderr(int saved)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
}

/* "2026-11-25T19:05:08.123Z " then rest, exactly one line. */
static void assert_line(const char *text, const char *rest)
{
	ck_assert_msg(strlen(text) == 25 + strlen(rest), "line \"%s\"", text);
	ck_assert_int_eq(text[4], '-');
	ck_assert_int_eq(text[10], 'T');
	ck_assert_int_eq(text[19], '.');
	ck_assert_int_eq(text[23], 'Z');
	ck_assert_int_eq(text[24], ' ');
	ck_assert_str_eq(text + 25, rest);
}

START_TEST(log_file_and_reopen)
{
	make_tmpdir();
	char err[256] = "";
	const char *path = in_tmp("a.log"), *old = in_tmp("a.log.1");
	int saved = capture_stderr(in_tmp("stderr"));
	ck_assert_int_eq(kf_log_open(path, false, false, err, sizeof(err)), KF_OK);
	int fd = kf_log_fd();
	ck_assert_int_gt(fd, 2);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);
	kf_info("test", "one %d", 1);
	kf_debug("test", "not at info");
	ck_assert_int_eq(rename(path, old), 0);
	ck_assert_int_eq(kf_log_reopen(), KF_OK);
	ck_assert_int_eq(kf_log_fd(), fd);      /* same number, new file */
	ck_assert(same_file(fd, path));
	kf_warn("test", "two");
	assert_line(slurp(old), "info  test: one 1\n");
	const char *now = slurp(path);
	const char *nl = strchr(now, '\n');
	ck_assert_ptr_nonnull(nl);
	char first[512];
	snprintf(first, sizeof(first), "%.*s", (int)(nl + 1 - now), now);
	char want[512];
	snprintf(want, sizeof(want), "info  log: reopened %s\n", path);
	assert_line(first, want);
	assert_line(nl + 1, "warn  test: two\n");
	kf_log_close();
	ck_assert_int_eq(kf_log_fd(), -1);
	restore_stderr(saved);
	ck_assert_str_eq(slurp(in_tmp("stderr")), "");
	remove_tmpdir();
}
END_TEST

START_TEST(log_stderr_too)
{
	make_tmpdir();
	char err[256] = "";
	int saved = capture_stderr(in_tmp("stderr"));
	ck_assert_int_eq(kf_log_open(in_tmp("b.log"), false, true, err, sizeof(err)), KF_OK);
	kf_err("test", "both");
	kf_log_stderr(false);
	kf_err("test", "file only");
	kf_log_close();
	kf_err("test", "stderr again");
	restore_stderr(saved);
	const char *file = slurp(in_tmp("b.log"));
	ck_assert_ptr_nonnull(strstr(file, "error test: both\n"));
	ck_assert_ptr_nonnull(strstr(file, "error test: file only\n"));
	ck_assert_ptr_null(strstr(file, "stderr again"));
	const char *se = slurp(in_tmp("stderr"));
	ck_assert_ptr_nonnull(strstr(se, "error test: both\n"));
	ck_assert_ptr_null(strstr(se, "file only"));
	ck_assert_ptr_nonnull(strstr(se, "error test: stderr again\n"));
	remove_tmpdir();
}
END_TEST

/* A worker forked before the rotation writes to the new file after it,
 * without being told. */
START_TEST(log_worker_follows_reopen)
{
	make_tmpdir();
	char err[256] = "";
	const char *path = in_tmp("w.log"), *old = in_tmp("w.log.1");
	ck_assert_int_eq(kf_log_open(path, false, false, err, sizeof(err)), KF_OK);
	int go[2], done[2];
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;
		kf_info("worker", "before");
		ssize_t w = write(done[1], "x", 1);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		kf_info("worker", "after");
		(void)w;
		_exit(0);
	}
	char c;
	ck_assert_int_eq(read(done[0], &c, 1), 1);
	ck_assert_int_eq(rename(path, old), 0);
	ck_assert_int_eq(kf_log_reopen(), KF_OK);
	ck_assert_int_eq(write(go[1], "x", 1), 1);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	const char *o = slurp(old), *n = slurp(path);
	assert_line(o, "info  worker: before\n");
	ck_assert_ptr_nonnull(strstr(n, "info  worker: after\n"));
	ck_assert_ptr_null(strstr(o, "after"));
	kf_log_close();
	remove_tmpdir();
}
END_TEST

START_TEST(log_reopen_failure_keeps_file)
{
	make_tmpdir();
	char err[256] = "";
	ck_assert_int_eq(mkdir(in_tmp("sub"), 0755), 0);
	ck_assert_int_eq(kf_log_open(in_tmp("sub/x.log"), false, false, err, sizeof(err)), KF_OK);
	int fd = kf_log_fd();
	ck_assert_int_eq(rename(in_tmp("sub"), in_tmp("moved")), 0);
	ck_assert_int_eq(kf_log_reopen(), KF_ERR);
	ck_assert_int_eq(kf_log_fd(), fd);
	kf_info("test", "still here");
	const char *s = slurp(in_tmp("moved/x.log"));
	char want[512];
	snprintf(want, sizeof(want), "error log: cannot reopen %s: No such file or directory"
		 " (still writing to the old file)\n", in_tmp("sub/x.log"));
	ck_assert_msg(strstr(s, want), "got \"%s\"", s);
	ck_assert_ptr_nonnull(strstr(s, "info  test: still here\n"));
	kf_log_close();
	remove_tmpdir();
}
END_TEST

/* A relative name still means the same file after chdir("/"). */
START_TEST(log_relative_name)
{
	make_tmpdir();
	char err[256] = "", cwd[512];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(tmpdir), 0);
	ck_assert_int_eq(kf_log_open("r.log", false, false, err, sizeof(err)), KF_OK);
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_int_eq(rename(in_tmp("r.log"), in_tmp("r.log.1")), 0);
	ck_assert_int_eq(kf_log_reopen(), KF_OK);
	kf_info("test", "relative");
	ck_assert_ptr_nonnull(strstr(slurp(in_tmp("r.log")), "info  test: relative\n"));
	kf_log_close();
	ck_assert_int_eq(chdir(cwd), 0);
	remove_tmpdir();
}
END_TEST

START_TEST(log_open_errors)
{
	make_tmpdir();
	char err[256] = "";
	ck_assert_int_eq(kf_log_open("/nonexistent-kf/x.log", false, false, err, sizeof(err)),
			 KF_ERR);
	ck_assert_str_eq(err, "cannot open log file /nonexistent-kf/x.log: "
			 "No such file or directory");
	ck_assert_int_eq(kf_log_fd(), -1);
	/* The last component may not be a symbolic link. */
	put(in_tmp("target"), "");
	ck_assert_int_eq(symlink(in_tmp("target"), in_tmp("link.log")), 0);
	ck_assert_int_eq(kf_log_open(in_tmp("link.log"), false, false, err, sizeof(err)), KF_ERR);
	ck_assert_ptr_nonnull(strstr(err, "Too many levels of symbolic links"));
	remove_tmpdir();
}
END_TEST

START_TEST(log_syslog)
{
	char err[256] = "";
	ck_assert_int_eq(kf_log_open("", true, false, err, sizeof(err)), KF_OK);
	ck_assert_int_eq(kf_log_fd(), -1);
	kf_debug("test", "kf_unit syslog debug line (not sent at info)");
	kf_info("test", "kf_unit syslog test line");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		kf_info("test", "kf_unit syslog line from a child");
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	kf_log_close();
}
END_TEST

/* ---- daemonize ---- */

struct launch {
	int status;             /* the launcher's wait status */
	const char *stderr_text;
};

/*
 * Fork a launcher that daemonizes and runs body in the daemon.  The test
 * process becomes a child subreaper, so the daemon, orphaned when the
 * intermediate child exits, becomes our child (rather than init's, which
 * may not reap it in a container): reap_all collects it.
 */
static struct launch launch(void (*body)(void), bool close_stdio)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(in_tmp("launcher.err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd == -1 || dup2(fd, STDERR_FILENO) == -1)
			_exit(90);
		close(fd);
		if (close_stdio) {
			close(STDIN_FILENO);
			close(STDOUT_FILENO);
		}
		char err[256];
		if (kf_daemonize(err, sizeof(err)) != KF_OK)
			_exit(91);
		body();
		_exit(92);
	}
	struct launch l;
	ck_assert_int_eq(waitpid(pid, &l.status, 0), pid);
	l.stderr_text = slurp(in_tmp("launcher.err"));
	return l;
}

static void reap_all(void)
{
	while (waitpid(-1, NULL, 0) != -1 || errno == EINTR)
		;
	ck_assert_int_eq(errno, ECHILD);
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

static bool is_devnull(int fd)
{
	return same_file(fd, "/dev/null");
}

static void report(const char *name, const char *text)
{
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", in_tmp(name));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t w = write(fd, text, strlen(text));
	(void)w;
	close(fd);
	rename(tmp, in_tmp(name));
}

static pid_t test_pid, test_sid;

static void daemon_body_ok(void)
{
	char buf[512], cwd[256] = "?";
	/* The intermediate child may not have exited yet. */
	for (int i = 0; i < 2000 && getppid() != test_pid; i++) {
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (!getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, "?");
	mode_t um = umask(0);
	struct stat st;
	fstat(STDERR_FILENO, &st);
	snprintf(buf, sizeof(buf),
		 "leader=%d sid_new=%d pgrp_is_sid=%d ppid_test=%d cwd=%s umask=%03o "
		 "in=%d out=%d err_fifo=%d\n",
		 getsid(0) == getpid(), getsid(0) != test_sid, getpgrp() == getsid(0),
		 getppid() == test_pid, cwd, (unsigned)um, is_devnull(0), is_devnull(1),
		 S_ISFIFO(st.st_mode));
	report("info1", buf);
	static const char hello[] = "hello from the daemon\n";
	ssize_t w = write(STDERR_FILENO, hello, sizeof(hello) - 1);
	(void)w;
	kf_daemon_ready(0);
	snprintf(buf, sizeof(buf), "err=%d\n", is_devnull(2));
	report("info2", buf);
	_exit(0);
}

START_TEST(daemonize_detaches)
{
	make_tmpdir();
	test_pid = getpid();
	test_sid = getsid(0);
	struct launch l = launch(daemon_body_ok, false);
	ck_assert(WIFEXITED(l.status));
	ck_assert_int_eq(WEXITSTATUS(l.status), 0);
	ck_assert_str_eq(l.stderr_text, "hello from the daemon\n");
	/* The daemon wrote info1 before it reported, so it is there. */
	/* ppid_test=1: the launcher's child, the daemon's parent, exited and
	 * the daemon went to the subreaper (us). */
	ck_assert_str_eq(slurp(in_tmp("info1")),
			 "leader=0 sid_new=1 pgrp_is_sid=1 ppid_test=1 cwd=/ umask=027 "
			 "in=1 out=1 err_fifo=1\n");
	ck_assert_str_eq(wait_for(in_tmp("info2")), "err=1\n");
	reap_all();
	remove_tmpdir();
}
END_TEST

/* Started with stdin and stdout closed: the start-up pipe must not land
 * on fd 0 or 1 and be closed by the redirection to /dev/null. */
START_TEST(daemonize_closed_stdio)
{
	make_tmpdir();
	test_pid = getpid();
	test_sid = getsid(0);
	struct launch l = launch(daemon_body_ok, true);
	ck_assert(WIFEXITED(l.status));
	ck_assert_int_eq(WEXITSTATUS(l.status), 0);
	ck_assert_str_eq(l.stderr_text, "hello from the daemon\n");
	ck_assert_str_eq(slurp(in_tmp("info1")),
			 "leader=0 sid_new=1 pgrp_is_sid=1 ppid_test=1 cwd=/ umask=027 "
			 "in=1 out=1 err_fifo=1\n");
	ck_assert_str_eq(wait_for(in_tmp("info2")), "err=1\n");
	reap_all();
	remove_tmpdir();
}
END_TEST

static void daemon_body_fails(void)
{
	static const char msg[] = "kforkd: control socket: Address already in use\n";
	ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)w;
	kf_daemon_ready(3);
	_exit(3);
}

START_TEST(daemonize_start_failure)
{
	make_tmpdir();
	struct launch l = launch(daemon_body_fails, false);
	ck_assert(WIFEXITED(l.status));
	ck_assert_int_eq(WEXITSTATUS(l.status), 3);
	ck_assert_str_eq(l.stderr_text, "kforkd: control socket: Address already in use\n");
	reap_all();
	remove_tmpdir();
}
END_TEST

/* The daemon forks a worker, then dies before it reports: the launcher
 * must not hang on the worker's copy of the pipe. */
static void daemon_body_dies(void)
{
	pid_t w = fork();
	if (w == 0) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%ld %d\n", (long)getpid(), is_devnull(2));
		report("worker", buf);
		for (int i = 0; i < 100; i++)
			sleep(1);
		_exit(0);
	}
	wait_for(in_tmp("worker"));
	_exit(0);
}

START_TEST(daemonize_daemon_dies)
{
	make_tmpdir();
	struct launch l = launch(daemon_body_dies, false);
	ck_assert(WIFEXITED(l.status));
	ck_assert_int_eq(WEXITSTATUS(l.status), 1);
	ck_assert_str_eq(l.stderr_text, "kforkd: the daemon exited during start-up\n");
	long wpid = 0;
	int null2 = -1;
	ck_assert_int_eq(sscanf(slurp(in_tmp("worker")), "%ld %d", &wpid, &null2), 2);
	ck_assert_int_eq(kill((pid_t)wpid, SIGKILL), 0);
	ck_assert_int_eq(null2, 1);
	reap_all();
	remove_tmpdir();
}
END_TEST

/* ---- privileges ---- */

START_TEST(drop_privileges_to_nobody)
{
	char err[256] = "";
	ck_assert_int_eq(kf_drop_privileges("", err, sizeof(err)), KF_OK);
	ck_assert_int_eq(kf_drop_privileges(NULL, err, sizeof(err)), KF_OK);
	if (geteuid() != 0) {
		fprintf(stderr, "drop_privileges_to_nobody: not root, skipped\n");
		return;
	}
	ck_assert_int_eq(kf_drop_privileges("no-such-user-kfork", err, sizeof(err)), KF_ERR);
	ck_assert_str_eq(err, "unknown user \"no-such-user-kfork\"");
	ck_assert_int_eq(geteuid(), 0);
	struct passwd *pw = getpwnam("nobody");
	ck_assert_ptr_nonnull(pw);
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	char home[256];
	snprintf(home, sizeof(home), "%s", pw->pw_dir);
	gid_t want[64];
	int nwant = 64;
	ck_assert_int_ne(getgrouplist("nobody", gid, want, &nwant), -1);

	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char out[512];
		char e[256] = "";
		int rc = kf_drop_privileges("nobody", e, sizeof(e));
		gid_t have[64];
		int n = getgroups(64, have);
		int groups_ok = n == nwant;
		for (int i = 0; groups_ok && i < n; i++) {
			bool found = false;
			for (int j = 0; j < nwant; j++)
				found = found || have[i] == want[j];
			groups_ok = found;
		}
		int su = setuid(0);
		int su_errno = errno;
		const char *h = getenv("HOME"), *u = getenv("USER");
		snprintf(out, sizeof(out), "rc=%d err=%s uid=%d euid=%d gid=%d egid=%d groups=%d "
			 "setuid0=%d/%d home=%d user=%s",
			 rc, e, getuid() == uid, geteuid() == uid, getgid() == gid,
			 getegid() == gid, groups_ok, su, su_errno == EPERM,
			 h && strcmp(h, home) == 0, u ? u : "(null)");
		ssize_t w = write(p[1], out, strlen(out));
		(void)w;
		_exit(0);
	}
	close(p[1]);
	char out[512];
	ssize_t n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	ck_assert_str_eq(out, "rc=0 err= uid=1 euid=1 gid=1 egid=1 groups=1 setuid0=-1/1 "
			 "home=1 user=nobody");
}
END_TEST

START_TEST(chown_for_user)
{
	char err[256] = "";
	make_tmpdir();
	put(in_tmp("f"), "x");
	ck_assert_int_eq(kf_chown_for(in_tmp("f"), "", err, sizeof(err)), KF_OK);
	if (geteuid() != 0) {
		remove_tmpdir();
		return;
	}
	struct passwd *pw = getpwnam("nobody");
	ck_assert_ptr_nonnull(pw);
	ck_assert_int_eq(kf_chown_for(in_tmp("f"), "nobody", err, sizeof(err)), KF_OK);
	struct stat st;
	ck_assert_int_eq(stat(in_tmp("f"), &st), 0);
	ck_assert_int_eq(st.st_uid, pw->pw_uid);
	ck_assert_int_eq(st.st_gid, pw->pw_gid);
	/* A symbolic link is changed itself, never its target. */
	put(in_tmp("target"), "x");
	ck_assert_int_eq(symlink(in_tmp("target"), in_tmp("link")), 0);
	ck_assert_int_eq(kf_chown_for(in_tmp("link"), "nobody", err, sizeof(err)), KF_OK);
	ck_assert_int_eq(stat(in_tmp("target"), &st), 0);
	ck_assert_int_eq(st.st_uid, 0);
	ck_assert_int_eq(lstat(in_tmp("link"), &st), 0);
	ck_assert_int_eq(st.st_uid, pw->pw_uid);
	ck_assert_int_eq(kf_chown_for(in_tmp("none"), "nobody", err, sizeof(err)), KF_ERR);
	char want[300];
	snprintf(want, sizeof(want), "chown %s to nobody: No such file or directory",
		 in_tmp("none"));
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(kf_chown_for(in_tmp("f"), "no-such-user-kfork", err, sizeof(err)),
			 KF_ERR);
	ck_assert_str_eq(err, "unknown user \"no-such-user-kfork\"");
	remove_tmpdir();
}
END_TEST

Suite *suite_daemon(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("pidfile");
	tcase_add_test(tc, pidfile_create_remove);
	tcase_add_test(tc, pidfile_refuses_alive);
	tcase_add_test(tc, pidfile_replaces_stale);
	tcase_add_test(tc, pidfile_remove_only_ours);
	tcase_add_test(tc, pidfile_bad_directory);
	suite_add_tcase(s, tc);
	tc = tcase_create("log");
	tcase_add_test(tc, log_file_and_reopen);
	tcase_add_test(tc, log_stderr_too);
	tcase_add_test(tc, log_worker_follows_reopen);
	tcase_add_test(tc, log_reopen_failure_keeps_file);
	tcase_add_test(tc, log_relative_name);
	tcase_add_test(tc, log_open_errors);
	tcase_add_test(tc, log_syslog);
	suite_add_tcase(s, tc);
	tc = tcase_create("detach");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, daemonize_detaches);
	tcase_add_test(tc, daemonize_closed_stdio);
	tcase_add_test(tc, daemonize_start_failure);
	tcase_add_test(tc, daemonize_daemon_dies);
	suite_add_tcase(s, tc);
	tc = tcase_create("privileges");
	tcase_add_test(tc, drop_privileges_to_nobody);
	tcase_add_test(tc, chown_for_user);
	suite_add_tcase(s, tc);
	return s;
}
