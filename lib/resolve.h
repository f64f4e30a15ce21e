/*
 * resolve: host name resolution that never blocks the loop.  c-ares does
 * the lookups; its sockets are watched by libev, and its timeouts run on a
 * libev timer.  Numeric addresses resolve without touching the network.
 *
 * A lookup can be cancelled; its callback then never runs.
 */
#ifndef KF_RESOLVE_H
#define KF_RESOLVE_H

#include <netinet/in.h>
#include <sys/socket.h>

struct ev_loop;
struct kf_resolver;
struct kf_lookup;

#define KF_RESOLVE_MAX_ADDRS 8

struct kf_addrs {
	int n;
	struct sockaddr_storage addr[KF_RESOLVE_MAX_ADDRS];
	socklen_t len[KF_RESOLVE_MAX_ADDRS];
};

/* err is KF_OK with at least one address, else KF_ERESOLVE / KF_ETIMEDOUT
 * and msg says why.  addrs is valid only during the call. */
typedef void kf_resolve_cb(int err, const struct kf_addrs *addrs, const char *msg, void *opaque);

/* NULL on failure (c-ares could not start: message logged). */
struct kf_resolver *kf_resolver_new(struct ev_loop *loop);
/* Cancels every pending lookup (their callbacks do not run). */
void kf_resolver_free(struct kf_resolver *r);

/* Start a lookup of host:port.  Returns a handle to cancel it, or NULL when
 * out of memory.  The callback may run before this returns (numeric hosts,
 * /etc/hosts hits); the handle is then already gone, so callers must not
 * keep a handle once their callback ran. */
struct kf_lookup *kf_resolve(struct kf_resolver *r, const char *host, int port, int timeout_ms,
			     kf_resolve_cb *cb, void *opaque);
void kf_resolve_cancel(struct kf_lookup *l);

#endif
