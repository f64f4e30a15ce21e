/*
 * handlers: what worker.c shares with the handler modules (h_builtin.c,
 * h_plugin.c, h_exec.c).  Runs in the worker process only.
 *
 * Every handler is a struct kf_handler, which worker.c finds in its table
 * by type.  Two kinds of handler:
 *   - synchronous (noop, file, burn, plugin): one record at a time; the
 *     loop and the retries live in worker.c, the handler only answers
 *     KFORK_OK / KFORK_RETRY / KFORK_FAIL for one delivery (process);
 *   - a handler with a loop of its own (exec: records stream to a child
 *     process with a window of them outstanding) gives run instead, which
 *     takes over once the worker is set up, on the helpers at the end of
 *     this file.
 * So the handler modules call worker.c's helpers by name, and worker.c
 * reaches a handler module only through its struct kf_handler.
 */
#ifndef KF_HANDLERS_H
#define KF_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kfork/handler.h"
#include "worker.h"

struct kf_worker {
	struct kf_ring *ring;
	const struct kf_worker_conf *conf;
	char comp[32];              /* "worker N": the log component */
	int sig_fd;                 /* self-pipe read end: a signal arrived */
};

/* One delivery of one record to a synchronous handler. */
struct kf_delivery {
	const struct kf_ring_rec *rec;
	const char *topic;
	uint32_t attempt;           /* 1 = first */
	char *reason;               /* out, KF_RING_REASON_MAX bytes, "" on entry */
};

struct kf_handler {
	/* Synchronous: set *state; KF_OK or an error (already logged).
	 * Optional. */
	int (*init)(struct kf_worker *w, void **state);
	/* Synchronous: enum kfork_status of one delivery. */
	int (*process)(struct kf_worker *w, void *state, struct kf_delivery *d);
	/* Synchronous, optional: after the loop (not after a failed
	 * init, which cleans up itself). */
	void (*fini)(struct kf_worker *w, void *state);
	/* Set instead of the three above by a handler that runs its own loop:
	 * called once the signals, niceness and ring are set up; returns the
	 * worker's exit status (KF_WORKER_EXIT_*) when it is done (SIGTERM,
	 * or a failure already logged). */
	int (*run)(struct kf_worker *w);
	/* The handler waits for children of its own: SIGCHLD is caught and
	 * reported by kf_worker_take_sigchld().  Otherwise it stays at its
	 * default. */
	bool catch_sigchld;
};

extern const struct kf_handler kf_handler_noop;
extern const struct kf_handler kf_handler_file;
extern const struct kf_handler kf_handler_burn;
extern const struct kf_handler kf_handler_plugin;
extern const struct kf_handler kf_handler_exec;

/* ---- helpers in worker.c ---- */

/* SIGTERM was received. */
bool kf_worker_stopping(void);
/* A SIGCHLD arrived since the last call (only for a handler with
 * catch_sigchld: others leave SIGCHLD at its default). */
bool kf_worker_take_sigchld(void);
/* Empty the self-pipe after sig_fd polled readable. */
void kf_worker_sig_drain(struct kf_worker *w);
/* Monotonic milliseconds. */
int64_t kf_worker_now_ms(void);
/* Delay before retry number n (1 = first retry): retry_backoff_ms doubled
 * n-1 times, capped at KF_WORKER_BACKOFF_MAX_MS. */
int64_t kf_worker_backoff_ms(const struct kf_worker_conf *c, uint32_t n);
#define KF_WORKER_BACKOFF_MAX_MS 60000
/* Push an ack, waiting for room in the ack ring if needed (the wait
 * cannot be cut short: an ack not pushed is a record done twice). */
void kf_worker_push_ack(struct kf_worker *w, const struct kf_ring_ack *ack);
/* Handler runs allowed for one record: 1 + max_retries. */
uint32_t kf_worker_max_attempts(const struct kf_worker_conf *c);

#endif
