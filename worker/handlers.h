/*
 * handlers: what worker.c shares with the handler modules (h_builtin.c,
 * h_plugin.c, h_exec.c).  Runs in the worker process only.
 *
 * Two kinds of handler:
 *   - synchronous (noop, file, burn, plugin): one record at a time; the
 *     loop and the retries live in worker.c, the handler only answers
 *     KFORK_OK / KFORK_RETRY / KFORK_FAIL for one delivery;
 *   - exec: records stream to a child process with a window of them
 *     outstanding, so it runs its own loop (kf_exec_run) on the helpers
 *     below.
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

struct kf_sync_handler {
	/* Set *state; KF_OK or an error (already logged). */
	int (*init)(struct kf_worker *w, void **state);
	/* enum kfork_status of one delivery. */
	int (*process)(struct kf_worker *w, void *state, struct kf_delivery *d);
	void (*fini)(struct kf_worker *w, void *state);
};

extern const struct kf_sync_handler kf_handler_noop;
extern const struct kf_sync_handler kf_handler_file;
extern const struct kf_sync_handler kf_handler_burn;
extern const struct kf_sync_handler kf_handler_plugin;

/* The exec handler's loop; returns the worker's exit status. */
int kf_exec_run(struct kf_worker *w);

/* ---- helpers in worker.c ---- */

/* SIGTERM was received. */
bool kf_worker_stopping(void);
/* A SIGCHLD arrived since the last call (exec only: others leave SIGCHLD
 * at its default). */
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
