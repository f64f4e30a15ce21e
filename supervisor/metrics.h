/*
 * metrics: Prometheus metrics over HTTP on the supervisor's libev loop
 * (control.metrics_listen).  A deliberately small HTTP/1.x reader: one
 * request per connection, GET (or HEAD) /metrics answers the exposition
 * text, anything else a 4xx (5xx for another HTTP major version); the
 * request may be at most KF_METRICS_MAX_REQUEST bytes and the exchange
 * must end within KF_METRICS_TIMEOUT_S.  Served by reqsrv: bounded, never
 * blocks.
 */
#ifndef KF_METRICS_H
#define KF_METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct kf_metrics;
struct kf_wr;

#define KF_METRICS_MAX_REQUEST 8192
#define KF_METRICS_TIMEOUT_S 5.0

/* Append the exposition text (format 0.0.4) to out. */
typedef void kf_metrics_fn(void *opaque, struct kf_wr *out);

/* Listen on "HOST:PORT" or "[V6]:PORT" (HOST a numeric address or
 * "localhost"; empty for every address).  NULL with a message in err. */
struct kf_metrics *kf_metrics_new(struct ev_loop *loop, const char *listen, kf_metrics_fn *fn,
				  void *opaque, char *err, size_t errlen);
void kf_metrics_free(struct kf_metrics *m);
/* The address it listens on, as configured. */
const char *kf_metrics_listen(const struct kf_metrics *m);

/*
 * The HTTP reader (reqsrv's kf_reqsrv_fn, for tests and the fuzzer):
 * given the bytes so far, false to wait for more, or true with the whole
 * HTTP response in reply.
 */
bool kf_metrics_http(const char *req, size_t len, bool eof, bool full, kf_metrics_fn *fn,
		     void *opaque, struct kf_wr *reply);

/* Append a label value with the exposition format's escapes (\\ \" \n). */
void kf_metrics_label(struct kf_wr *out, const char *value);

#endif
