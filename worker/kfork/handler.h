/*
 * kfork/handler.h: the C plugin API of kfork workers.
 *
 * A plugin is a shared object named by the config:
 *
 *	workers = { handler = { type = "plugin"; path = "/usr/lib/x/h.so"; arg = "..."; }; };
 *
 * Each worker process dlopen()s it once and calls, in this order:
 *
 *	kfork_handler_init(&info, &state)    optional; once, before any record
 *	kfork_handler_process(state, rec)    required; once per delivery
 *	kfork_handler_fini(state)            optional; once, at a clean exit
 *
 * Everything runs in the worker process, single-threaded: a plugin may
 * block, burn CPU, keep globals or open connections in init.  The process
 * that talks to Kafka is a different one, so a slow plugin can never make
 * the consumer group rebalance.  A worker that dies (crash, abort) is
 * replaced and its unfinished records are delivered again.
 *
 * Build a plugin with:  cc -shared -fPIC -o h.so h.c  (no kfork library is
 * needed; everything a plugin gets from kfork arrives through the structs
 * below).
 *
 * Return values of kfork_handler_process:
 *   KFORK_OK     the record is done.
 *   KFORK_RETRY  run it again later: after workers.retry_backoff_ms,
 *                doubling each time, up to workers.max_retries retries;
 *                then it is reported failed.
 *   KFORK_FAIL   the record failed for good; the supervisor applies
 *                workers.on_failure (pause the partition, or skip it).
 * For RETRY and FAIL, write a short reason into rec->reason (at most
 * rec->reason_size bytes, NUL-terminated); it is logged and shown.
 *
 * Compatibility: KFORK_HANDLER_ABI_VERSION grows when this API changes.
 * Fields are only ever added at the end of the structs, so a plugin built
 * against an older header keeps working with a newer worker.  A plugin that
 * uses fields of version N must check info->abi_version >= N (the worker's
 * version) or declare it with KFORK_HANDLER_ABI: a worker refuses a plugin
 * that declares a newer version than its own.
 */
#ifndef KFORK_HANDLER_H
#define KFORK_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KFORK_HANDLER_ABI_VERSION 1

/* On the prototypes below, so the plugin's definitions are exported even
 * when it is built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define KFORK_EXPORT __attribute__((visibility("default")))
#else
#define KFORK_EXPORT
#endif

enum kfork_status {
	KFORK_OK = 0,
	KFORK_RETRY = 1,
	KFORK_FAIL = 2,
};

/* One record header.  Bytes are not NUL-terminated. */
struct kfork_header {
	const char *key;
	int32_t key_len;
	const void *value;          /* NULL when value_len is -1 (null) */
	int32_t value_len;
};

/* One delivery of a record.  Every pointer is valid only during the
 * kfork_handler_process call that received it: copy what must outlive it. */
struct kfork_record {
	const char *topic;          /* NUL-terminated */
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms;       /* as in the record batch */
	const void *key;            /* NULL when key_len is -1 (null key) */
	int32_t key_len;
	const void *value;          /* NULL when value_len is -1 (null value) */
	int32_t value_len;
	const struct kfork_header *headers;
	size_t header_count;
	uint32_t attempt;           /* 1 on the first delivery; more after a
				       RETRY or after a worker died on it */
	int worker_id;
	char *reason;               /* out: why RETRY or FAIL, NUL-terminated */
	size_t reason_size;         /* bytes reason can hold, NUL included */
};

/* Passed to kfork_handler_init. */
struct kfork_handler_info {
	unsigned int abi_version;   /* the worker's KFORK_HANDLER_ABI_VERSION */
	int worker_id;              /* 0 .. workers.count - 1 */
	const char *arg;            /* handler.arg of the config, "" if unset */
	char *error;                /* out: why init failed, NUL-terminated */
	size_t error_size;
};

/* Optional.  Return 0 when ready; anything else stops the worker (it is
 * logged with info->error and the pool restarts the worker later).
 * *state is passed to process and fini; it starts NULL. */
KFORK_EXPORT int kfork_handler_init(const struct kfork_handler_info *info, void **state);

/* Required.  Returns an enum kfork_status; any other value counts as
 * KFORK_FAIL. */
KFORK_EXPORT int kfork_handler_process(void *state, const struct kfork_record *rec);

/* Optional.  Called once when the worker stops cleanly (SIGTERM). */
KFORK_EXPORT void kfork_handler_fini(void *state);

/* Optional: `KFORK_HANDLER_ABI;` at file scope records the header version
 * the plugin was built against, so an older worker refuses it cleanly
 * instead of handing it structs without the fields it expects. */
#define KFORK_HANDLER_ABI \
	extern KFORK_EXPORT const unsigned int kfork_handler_abi; \
	const unsigned int kfork_handler_abi = KFORK_HANDLER_ABI_VERSION

#ifdef __cplusplus
}
#endif

#endif
