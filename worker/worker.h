/*
 * worker: the process that runs the user's code.
 *
 * The supervisor forks one per slot of the pool, with its ring already
 * mapped; the child calls kf_worker_main(), which never returns to the
 * supervisor's code.  The loop: wait for a record, run the handler, push
 * the ack with its status, repeat.  KFORK_RETRY (and the exec handler's
 * `retry`) runs the record again after retry_backoff_ms, doubling each
 * time, up to max_retries; KFORK_FAIL and exhausted retries are acked as
 * failed with the reason, and the supervisor applies on_failure.  SIGTERM
 * lets the current record finish, then the worker exits 0.  The worker dies
 * with the supervisor (PR_SET_PDEATHSIG) and runs at `nice`.
 */
#ifndef KF_WORKER_H
#define KF_WORKER_H

#include <sys/types.h>

#include "ring.h"

/* Same values as enum kf_cfg_handler_type (lib/kfconfig.h), which the
 * supervisor casts into this one; worker.c asserts it member by member. */
enum kf_handler_type {
	KF_HANDLER_NOOP,
	KF_HANDLER_FILE,
	KF_HANDLER_BURN,
	KF_HANDLER_PLUGIN,
	KF_HANDLER_EXEC,
};

/* workers.handler of the config (README "Handlers", etc/examples/README.md). */
struct kf_handler_conf {
	enum kf_handler_type type;
	const char *dir;            /* file: PATH/worker-<id>.log */
	long usec;                  /* burn */
	const char *path;           /* plugin: shared object */
	const char *arg;            /* plugin: passed to kfork_handler_init */
	char *const *command;       /* exec: argv, NULL-terminated */
	int window;                 /* exec: records outstanding, default 64 */
};

struct kf_worker_conf {
	int id;                     /* worker index in the pool */
	struct kf_handler_conf handler;
	int max_retries;            /* default 5 */
	int retry_backoff_ms;       /* default 100 */
	int nice;                   /* default 5, added to the supervisor's
				       niceness; 0 leaves the priority alone */
	pid_t supervisor_pid;       /* getpid() of the supervisor before the
				       fork: a worker whose parent is already
				       someone else exits at once; 0: unchecked */
	int stop_grace_ms;          /* exec: after SIGTERM, how long the command
				       gets to answer the records it holds
				       before it is killed; 0: no limit (the
				       pool's shutdown_timeout_ms bounds it) */
};

/* Exit statuses of a worker process. */
enum {
	KF_WORKER_EXIT_OK = 0,      /* SIGTERM or supervisor gone: clean exit */
	KF_WORKER_EXIT_INIT = 3,    /* the handler could not start */
	KF_WORKER_EXIT_RING = 4,    /* the ring is unusable */
};

/* "noop", "file", ... (the config words, lib/kfconfig.c); "?" for a value
 * outside the enum. */
const char *kf_handler_type_name(enum kf_handler_type t);

/* In the forked child: run until SIGTERM or the supervisor's death.
 * Returns the exit status; the caller _exit()s with it. */
int kf_worker_main(struct kf_ring *ring, const struct kf_worker_conf *conf);

#endif
