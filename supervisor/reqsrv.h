/*
 * reqsrv: a server for one-shot requests on the supervisor's libev loop,
 * shared by the control socket (a command line) and the metrics listener
 * (an HTTP GET).  A client connects, sends one request, gets one answer,
 * and the server closes the connection.
 *
 * Bounded: at most KF_REQSRV_MAX_CLIENTS connections are served at once
 * (later ones wait in the listen backlog), a request may be at most
 * max_request bytes, and each connection has a deadline for the whole
 * exchange.  Nothing blocks: non-blocking sockets, one ev_io and one
 * ev_timer per connection.
 */
#ifndef KF_REQSRV_H
#define KF_REQSRV_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct kf_reqsrv;
struct kf_wr;

#define KF_REQSRV_MAX_CLIENTS 8

/*
 * The bytes a client sent so far (req[len] is '\0'; req may hold other
 * NULs).  eof: the client shut its write side; full: max_request bytes
 * came, or more.  Return true with the whole answer in reply (it is
 * written, then the connection closed), or false to read more; with eof
 * or full the function must answer, or the connection is closed without
 * one.
 */
typedef bool kf_reqsrv_fn(void *opaque, const char *req, size_t len, bool eof, bool full,
			  struct kf_wr *reply);

/* Serve the listening socket fd (non-blocking; the server owns it and
 * closes it).  NULL when out of memory (fd closed). */
struct kf_reqsrv *kf_reqsrv_new(struct ev_loop *loop, int fd, const char *name,
				size_t max_request, double timeout_s, kf_reqsrv_fn *fn,
				void *opaque);
/* Close every connection and the listening socket. */
void kf_reqsrv_free(struct kf_reqsrv *s);

#endif
