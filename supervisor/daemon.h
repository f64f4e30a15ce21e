/*
 * daemon: what kforkd needs to start as a classic Unix daemon -- detach
 * (-d), the pid file (-p), and dropping root for `user = "..."`.  Runs in
 * kforkd's main before the event loop exists; nothing here is used by
 * workers.  Every call reports failure as KF_ERR with a one-line reason in
 * the caller's err buffer.
 *
 * Start-up order this module assumes (as root, user = "kfork", -d -p PID):
 *
 *   kf_config_load; kf_log_open (root may open /var/log/...);
 *   kf_daemonize                 -- the caller's process waits from here on
 *   kf_pidfile_create(PID)       -- pid of the daemon, not of the launcher
 *   bind the control socket
 *   kf_chown_for(log file, pid file, control socket)
 *   kf_drop_privileges           -- before any Kafka traffic or worker fork
 *   kf_daemon_ready(0)           -- the launcher exits 0 now
 *   ... event loop ...
 *   kf_pidfile_remove(PID)
 *
 * A start-up failure after kf_daemonize: log it, kf_daemon_ready(code),
 * exit(code); the launcher prints what the daemon wrote to stderr until then
 * and exits with that code, so an init script sees both.
 */
#ifndef KF_DAEMON_H
#define KF_DAEMON_H

#include <stddef.h>

/*
 * Detach: fork, setsid, fork again (the daemon is no session leader, so
 * opening a tty can never make it the controlling one), chdir("/"),
 * umask(027), stdin and stdout to /dev/null.  Returns KF_OK in the daemon
 * (the grandchild) only; KF_ERR (in the caller's own process, nothing
 * forked) if a pipe or the first fork fails.
 *
 * The calling process does not return: it waits until the daemon calls
 * kf_daemon_ready, copies to its own stderr whatever the daemon wrote to its
 * stderr until then (start-up errors reach the terminal or init script), and
 * _exits with the status given, or 1 if the daemon died first.  The daemon's
 * stderr is pointed at /dev/null by kf_daemon_ready; a child forked before
 * that (a worker) gets /dev/null as stderr at once, so no process keeps
 * the start-up pipe open.  Other fds (the log file) are left alone.
 */
int kf_daemonize(char *err, size_t errlen);

/*
 * In the daemon: tell the waiting launcher "started" (0) or the exit code
 * (1..255) it should exit with, then point stderr at /dev/null.  Call once,
 * when the pid file and the control socket are in place.  Does nothing when
 * kf_daemonize was not used, so kforkd may call it unconditionally.
 */
void kf_daemon_ready(int status);

/*
 * Write "PID\n" (getpid()) to path atomically: a temporary file in the same
 * directory is filled, then link(2)ed to path, which fails if path exists;
 * the file is mode 0644 (status scripts read it as any user).  If path
 * exists and holds a live pid (kill(pid, 0) succeeds or fails with EPERM)
 * -> KF_ERR "kforkd is already running as pid N (PATH)".  A dead pid, our
 * own pid or unparsable content is stale: the file is removed and the link
 * tried once more.  (Two daemons starting in the same instant over a stale
 * file can both remove it; the loser's link then fails with EEXIST and it
 * refuses to start, unless its unlink hit the winner's fresh file -- a
 * window of microseconds we accept.)
 */
int kf_pidfile_create(const char *path, char *err, size_t errlen);

/* At exit: remove path if it still holds our pid (another kforkd may have
 * replaced a file it found stale).  Needs write access to the directory:
 * after a privilege drop, see kf_chown_for. */
void kf_pidfile_remove(const char *path);

/*
 * Become user (its uid, primary gid and supplementary groups from
 * initgroups), checking afterwards that setuid(0) fails.  HOME, USER and
 * LOGNAME are set to the user's, since handlers (exec'd commands, plugins)
 * run as that user and would otherwise look in root's home.  user "" or
 * NULL: nothing to do.  Not running as root: a warning is logged unless we
 * already are that user, and KF_OK is returned (a developer running kforkd
 * with the production config).  A user whose uid is 0: nothing to drop.
 * Unknown user, or any failing call: KF_ERR; the process may then be half
 * changed and must exit.
 */
int kf_drop_privileges(const char *user, char *err, size_t errlen);

/*
 * Make path (a file root created before the drop: the log file, the pid
 * file, the control socket) belong to user and its primary group, so the
 * dropped daemon can keep using it.  The name's last component is not
 * followed if it is a symbolic link (the user may own the directory and must
 * not be able to point root's chown elsewhere).  Directories are never
 * changed: removing the pid file and the socket at exit, and a log reopen
 * that has to create the file, need write access to the directory, which
 * the packaging provides (/run/kfork and /var/log/kfork owned by the user);
 * when it is missing a warning says what will not work.  user "" or NULL, or
 * not running as root: nothing to do.  KF_ERR for an unknown user or a
 * failing chown.
 */
int kf_chown_for(const char *path, const char *user, char *err, size_t errlen);

#endif
