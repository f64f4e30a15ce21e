/*
 * control: kforkd's control socket, a unix stream socket on the
 * supervisor's libev loop.
 *
 * Protocol (what kforkctl speaks): the client connects and sends one
 * command line, at most KF_CONTROL_MAX_LINE bytes ending in '\n' (or ended
 * by shutting down its write side).  The server answers once and closes
 * the connection.  The answer's first line is "ok" or "error MESSAGE";
 * what follows it is the command's output (the status JSON, ...).
 *
 * Served by reqsrv (non-blocking, bounded; KF_CONTROL_TIMEOUT_S for the
 * whole exchange).  Access control is the socket file's mode (0600 by
 * default: only kforkd's user and root).
 */
#ifndef KF_CONTROL_H
#define KF_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct kf_control;
struct kf_wr;

#define KF_CONTROL_MAX_LINE 256
#define KF_CONTROL_TIMEOUT_S 10.0

/*
 * One command: cmd is the line without its '\n' (printable ASCII, words
 * separated by single spaces, checked before the call).  Append the
 * whole answer to reply, starting with "ok\n" or "error MESSAGE\n".
 */
typedef void kf_control_fn(void *opaque, const char *cmd, struct kf_wr *reply);

/*
 * Listen on path with the given mode (e.g. 0600).  A stale socket file
 * (nobody answers on it) is replaced; a live one (another kforkd) or a
 * path that is not a socket is an error.  A missing parent directory is
 * created (mode 0755).  Returns NULL with a message in err.
 */
struct kf_control *kf_control_new(struct ev_loop *loop, const char *path, int mode,
				  kf_control_fn *fn, void *opaque, char *err, size_t errlen);
/* Close every connection and the listener, and unlink the socket file. */
void kf_control_free(struct kf_control *c);
/*
 * The request reader (reqsrv's kf_reqsrv_fn, for tests and the fuzzer):
 * a command line up to '\n' (or all of it at eof), checked, then given to
 * fn; false to wait for more bytes.
 */
bool kf_control_request(const char *req, size_t len, bool eof, bool full, kf_control_fn *fn,
			void *opaque, struct kf_wr *reply);

/* Is c listening on path (the same string)? */
bool kf_control_path_is(const struct kf_control *c, const char *path);

#endif
