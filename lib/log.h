/*
 * log: one line per event, "TIME LEVEL component: message", written with a
 * single write(2) so lines of several processes never interleave.
 *
 * Destinations (kf_log_open): stderr (the default, and what a foreground
 * kforkd under systemd or a terminal wants), a file opened O_APPEND (the
 * kernel keeps every write(2) of a line whole at the end of the file), and
 * syslog (facility daemon, ident "kforkd", the line without the time: the
 * syslog daemon stamps it).
 *
 * Never blocks for long: a regular-file append or a write to stderr does not
 * wait for anything but the disk, and nothing here takes a lock.  The one
 * exception is syslog: syslog(3) sends to /dev/log, a unix datagram socket
 * in blocking mode, so a stuck journald or rsyslogd whose socket buffer is
 * full stalls the caller (and glibc serialises syslog(3) callers with a
 * lock).  That is the price of log.syslog = true; an operator who cannot
 * afford it uses log.file (or stderr into the journal under systemd).
 *
 * Forked workers log through the same kf_log: they inherit the file's fd
 * (close-on-exec, so exec'd commands do not) and the syslog state.  Log
 * rotation (SIGUSR1 -> kf_log_reopen in the supervisor) reaches them without
 * any signal: kf_log_open maps one shared page holding a reopen generation;
 * kf_log_reopen bumps it, and a process whose own generation is behind
 * reopens the file by name itself before writing its next line (one relaxed
 * atomic load per line).  So after `mv kforkd.log kforkd.log.1; kill -USR1`
 * every process writes to the new file from its next line on, with the
 * privileges it has (the dropped user: the file or its directory must be
 * writable by it, which logrotate's `create` line or kf_chown_for arranges).
 * A second kf_log_open with another file name (a reload that changed
 * log.file) gets a fresh page: running workers keep writing to the old file
 * until they are respawned; so do changes of log.syslog and log.level (the
 * level is a plain per-process variable).
 *
 * In a forked child, syslog is re-opened lazily by a pthread_atfork handler,
 * so the child's first syslog(3) connects its own socket: the supervisor's
 * socket fd is not reused (worker start-up closes inherited sockets, and
 * glibc would otherwise close() that stale fd number, maybe someone else's).
 */
#ifndef KF_LOG_H
#define KF_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum kf_log_level {
	KF_LOG_ERROR = 0,
	KF_LOG_WARN,
	KF_LOG_INFO,
	KF_LOG_DEBUG,
	KF_LOG_TRACE,
};

extern enum kf_log_level kf_log_level;

/* "error", "warn", ... -> level; -1 for an unknown word. */
int kf_log_level_parse(const char *word);
const char *kf_log_level_name(enum kf_log_level level);

void kf_log(enum kf_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Choose where lines go.  file: "" (or NULL) = no file; otherwise opened
 * O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0640, on an fd above 2 (so
 * pointing stdio at /dev/null never touches it); a relative name is made
 * absolute first, so a reopen after chdir("/") finds the same file.  The
 * last component must not be a symbolic link (O_NOFOLLOW): the directory
 * usually belongs to the dropped user, who must not be able to make root
 * append to another file at the next start.
 * use_syslog: openlog("kforkd", LOG_PID|LOG_NDELAY, LOG_DAEMON).
 * use_stderr: also write every line to fd 2.  With neither a file nor
 * syslog, lines go to stderr whatever use_stderr says (so nothing is lost).
 * Can be called again (reload): the old file is closed once the new one is
 * open.  Returns KF_OK, or KF_ERR with the reason in err (the previous
 * destinations then stay).
 */
int kf_log_open(const char *file, bool use_syslog, bool use_stderr, char *err, size_t errlen);

/*
 * SIGUSR1: reopen the file by name (logrotate moved it away).  The new file
 * takes over the same fd number (dup3), so kf_log_fd() stays valid.  On
 * failure the old fd stays and the error is logged (to it).  Workers follow
 * on their next line (see above).  No file: nothing to do, KF_OK.
 */
int kf_log_reopen(void);

/* Back to stderr only; closes the file and syslog. */
void kf_log_close(void);

/* The log file's fd, or -1: the daemon keeps it open across daemonizing
 * and the privilege drop (it is above 2 and close-on-exec). */
int kf_log_fd(void);

/* Turn the copy to stderr on or off (kforkd after it daemonized: stderr is
 * /dev/null from then on).  Ignored when the file and syslog are both off. */
void kf_log_stderr(bool on);

#define KF_LOG_ENABLED(lvl) ((lvl) <= kf_log_level)
#define kf_err(comp, ...) kf_log(KF_LOG_ERROR, comp, __VA_ARGS__)
#define kf_warn(comp, ...) kf_log(KF_LOG_WARN, comp, __VA_ARGS__)
#define kf_info(comp, ...) kf_log(KF_LOG_INFO, comp, __VA_ARGS__)
#define kf_debug(comp, ...) do { if (KF_LOG_ENABLED(KF_LOG_DEBUG)) kf_log(KF_LOG_DEBUG, comp, __VA_ARGS__); } while (0)
#define kf_trace(comp, ...) do { if (KF_LOG_ENABLED(KF_LOG_TRACE)) kf_log(KF_LOG_TRACE, comp, __VA_ARGS__); } while (0)

#endif
