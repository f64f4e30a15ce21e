/*
 * kfconfig: loading and checking kforkd.conf (libconfig syntax; the keys,
 * defaults and words are documented in etc/kforkd.conf).
 *
 * kf_config_load() is all-or-nothing: it parses into a fresh struct, fills
 * every default, checks types, ranges, enum words, cross-key rules and the
 * files the config names, and either returns a complete config or frees
 * everything and returns one "FILE:LINE: message" line.  A reload parses
 * into a new struct and keeps the running one on error.
 *
 * Where the line comes from:
 *   - syntax errors: libconfig's file and line;
 *   - a bad value: the line of that setting (the file it came from, also
 *     for @include'd files);
 *   - a missing required setting: the line of its enclosing group, or
 *     line 1 when the group itself is missing;
 *   - a cross-key rule (heartbeat vs. session timeout...): the line of the
 *     setting named first in the message, or of its group when that
 *     setting was left at its default;
 *   - a config file that cannot be read at all: line 1.
 *
 * The SASL password only comes from kafka.security.password_file: the file
 * must not be readable by "other" (refused, naming the key), its content is
 * read at load (one trailing newline trimmed) and kept in
 * security.password.  The password never appears in an error message; do
 * not log it.  Loading never changes process state (no chdir, no setuid);
 * it does read files (password_file) and stat the files the config names.
 *
 * Other rules: @include paths are relative to the config file's directory
 * (absolute ones are refused: libconfig 1.5 would prefix them); integer
 * literals that do not fit 32 bits must end in L (libconfig 1.5 would
 * truncate them); TLS files are checked only for ssl/sasl_ssl and the SASL
 * keys only for sasl_*, otherwise they are ignored.
 *
 * This module depends only on lib/ (the handler and dispatch enums here
 * mirror worker/worker.h and supervisor/dispatch.h in the same order; the
 * callers map them).
 */
#ifndef KF_KFCONFIG_H
#define KF_KFCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "log.h"

enum kf_cfg_offset_reset {
	KF_CFG_RESET_EARLIEST = 0,
	KF_CFG_RESET_LATEST,
	KF_CFG_RESET_ERROR,         /* no committed offset: fatal */
};

enum kf_cfg_isolation {
	KF_CFG_READ_UNCOMMITTED = 0,
	KF_CFG_READ_COMMITTED,
};

enum kf_cfg_protocol {
	KF_CFG_PLAINTEXT = 0,
	KF_CFG_SSL,
	KF_CFG_SASL_PLAINTEXT,
	KF_CFG_SASL_SSL,
};

enum kf_cfg_sasl_mech {
	KF_CFG_SASL_PLAIN = 0,
	KF_CFG_SASL_SCRAM_SHA_256,
	KF_CFG_SASL_SCRAM_SHA_512,
};

/* Same values as enum kf_dispatch_mode (asserted in supervisor/dispatch.c). */
enum kf_cfg_dispatch {
	KF_CFG_DISPATCH_PARTITION = 0,
	KF_CFG_DISPATCH_KEY,
	KF_CFG_DISPATCH_ROUNDROBIN,
};

enum kf_cfg_on_failure {
	KF_CFG_ON_FAILURE_PAUSE = 0,
	KF_CFG_ON_FAILURE_SKIP,
};

/* Same values as enum kf_handler_type (asserted in worker/worker.c). */
enum kf_cfg_handler_type {
	KF_CFG_HANDLER_NOOP = 0,
	KF_CFG_HANDLER_FILE,
	KF_CFG_HANDLER_BURN,
	KF_CFG_HANDLER_PLUGIN,
	KF_CFG_HANDLER_EXEC,
};

/*
 * Every string below is malloc'ed and owned by the struct, never NULL
 * ("" where the default is ""), except security.password.
 */
struct kf_config_security {
	enum kf_cfg_protocol protocol;
	char *ca_file;
	char *cert_file;
	char *key_file;
	char *key_password_file;    /* passphrase of an encrypted key_file */
	bool verify_peer;
	enum kf_cfg_sasl_mech sasl_mechanism;
	char *username;
	char *password_file;
	/* The content of password_file for the sasl_* protocols (NUL
	 * terminated, no NUL inside), NULL otherwise.  Secret: never log,
	 * print or export it.  Wiped on free. */
	char *password;
	size_t password_len;
};

struct kf_config_kafka {
	char *bootstrap;            /* as written: "host:port,[v6]:port" */
	char *group;
	char **topics;              /* n_topics names, NULL-terminated */
	int n_topics;
	char *client_id;
	char *group_instance_id;    /* "" = no static membership */
	int32_t session_timeout_ms;
	int32_t heartbeat_interval_ms;
	int32_t rebalance_timeout_ms;
	char **assignors;           /* n_assignors, preference order, NULL-terminated */
	int n_assignors;
	enum kf_cfg_offset_reset auto_offset_reset;
	int32_t commit_interval_ms;
	enum kf_cfg_isolation isolation;
	int32_t fetch_min_bytes;
	int32_t fetch_max_wait_ms;
	int32_t fetch_max_bytes;
	int32_t fetch_partition_max_bytes;
	int32_t metadata_max_age_ms;    /* the group leader's metadata refresh */
	struct kf_config_security security;
};

struct kf_config_handler {
	enum kf_cfg_handler_type type;
	char *dir;                  /* file */
	int64_t usec;               /* burn */
	char *path;                 /* plugin */
	char *arg;                  /* plugin */
	char **command;             /* exec: argv, NULL-terminated; always
	                               allocated (just NULL for other types) */
	int n_command;
	int window;                 /* exec */
};

struct kf_config_workers {
	int count;
	enum kf_cfg_dispatch dispatch;
	int64_t ring_bytes;         /* a power of two, 64 KiB .. 1 GiB */
	int64_t max_inflight_bytes;
	int32_t max_inflight_ms;    /* per worker, in its time per record */
	int nice;
	int32_t stall_timeout_ms;
	int32_t shutdown_timeout_ms;
	int max_retries;
	int32_t retry_backoff_ms;
	enum kf_cfg_on_failure on_failure;
	struct kf_config_handler handler;
};

struct kf_config_log {
	enum kf_log_level level;
	char *file;                 /* "" = stderr */
	bool syslog;
};

struct kf_config_control {
	char *socket;               /* "" = no control socket */
	char *metrics_listen;       /* "" = no metrics listener; "[host]:port" */
	int socket_mode;            /* permission bits of the socket (0600); an
	                               octal string of 3 or 4 digits in the file */
};

struct kf_config {
	char *path;                 /* the file as given to kf_config_load */
	time_t loaded_at;           /* wall clock of the successful load */
	struct kf_config_kafka kafka;
	struct kf_config_workers workers;
	struct kf_config_log log;
	char *user;                 /* "" = stay as started */
	struct kf_config_control control;
};

/*
 * Load and check path into *out (which need not be initialised).  KF_OK,
 * or KF_ERR with "FILE:LINE: message" in err (no trailing newline) and
 * *out zeroed (nothing to free).  KF_ENOMEM when an allocation failed
 * (err says so too).  On success free *out with kf_config_free.
 */
int kf_config_load(const char *path, struct kf_config *out, char *err, size_t errlen);

/*
 * *out = every default (etc/kforkd.conf), with the three required keys
 * (bootstrap, group, topics) empty.  KF_OK or KF_ENOMEM (then *out is
 * zeroed).  path and loaded_at are left NULL / 0.
 */
int kf_config_defaults(struct kf_config *out);

/* Frees what *cfg owns (wiping the password) and zeroes it; safe on a
 * zeroed struct and twice. */
void kf_config_free(struct kf_config *cfg);

/*
 * What a reload does for a key that changed.  Each key's class is in the
 * key tables of lib/kfconfig.c; README's "Reloading the config" lists them.
 */
enum kf_reload_class {
	KF_RELOAD_LIVE = 1 << 0,        /* applied at once */
	KF_RELOAD_ROLL = 1 << 1,        /* what a worker process runs with: a
	                                   rolling replacement of the workers */
	KF_RELOAD_REDISPATCH = 1 << 2,  /* hold every partition, let the workers
	                                   go idle, dispatch by the new policy */
	KF_RELOAD_KAFKA = 1 << 3,       /* drain, commit, leave and join again */
	KF_RELOAD_NEXT_START = 1 << 4,  /* the running value stays until kforkd
	                                   starts again */
};

#define KF_RELOAD_KEY_MAX 48    /* "kafka.security.password_file (its content)" */
#define KF_RELOAD_MAX_KEYS 64   /* more than there are keys */

struct kf_reload_change {
	char key[KF_RELOAD_KEY_MAX];    /* dotted: "workers.handler.command" */
	enum kf_reload_class reload;
};

struct kf_reload_plan {
	unsigned classes;               /* OR of the changed keys' classes */
	int n;
	struct kf_reload_change changed[KF_RELOAD_MAX_KEYS];   /* in table order */
};

/* What changes from old to new, key by key (the password file's content
 * counts as a change of kafka.security.password_file).  Pure. */
void kf_reload_plan(const struct kf_config *old, const struct kf_config *new,
		    struct kf_reload_plan *plan);
/* Did the dotted key change? */
bool kf_reload_plan_has(const struct kf_reload_plan *plan, const char *key);
/* "at once: log.level, workers.count; Kafka restart: kafka.bootstrap" into
 * buf ("" when nothing changed); returns the length it needed, as
 * snprintf does. */
size_t kf_reload_plan_describe(const struct kf_reload_plan *plan, char *buf, size_t len);
/* "at once", "rolling replacement", "redispatch", "Kafka restart", "next start". */
const char *kf_reload_class_name(enum kf_reload_class cls);
/* Every key the loader knows, dotted, with its reload class, in table
 * order: fills up to max and returns how many there are.  The names are
 * static (not thread-safe; for tests and documentation). */
size_t kf_config_keys(const char **names, enum kf_reload_class *classes, size_t max);
/* Swaps the values of every key of class cls (for KF_RELOAD_KAFKA, the
 * password too) between new and old: new keeps the running values, old
 * gets the loaded ones. */
void kf_config_keep(struct kf_config *new, struct kf_config *old, enum kf_reload_class cls);

/* The config words of the enums ("range", "sasl_ssl", "SCRAM-SHA-512",
 * ...); "?" for a value out of range. */
const char *kf_cfg_offset_reset_name(enum kf_cfg_offset_reset v);
const char *kf_cfg_isolation_name(enum kf_cfg_isolation v);
const char *kf_cfg_protocol_name(enum kf_cfg_protocol v);
const char *kf_cfg_sasl_mech_name(enum kf_cfg_sasl_mech v);
const char *kf_cfg_dispatch_name(enum kf_cfg_dispatch v);
const char *kf_cfg_on_failure_name(enum kf_cfg_on_failure v);
const char *kf_cfg_handler_type_name(enum kf_cfg_handler_type v);

#endif
