/*
 * kfconfig: kforkd.conf into a struct kf_config (see kfconfig.h for the
 * contract and where error lines come from).
 *
 * The keys are tables (one per group) naming type, field, range, words and
 * default; one walker applies the defaults, another checks every setting
 * of the file against the table, so an unknown key anywhere is an error
 * and a key cannot be documented in one place and parsed in another.
 * Rules that span keys, and the files the config names, are checked after
 * the walk.
 *
 * libconfig 1.5 silently truncates an integer literal that does not fit
 * 32 bits unless it ends in L; the files are therefore scanned for such
 * literals, and each is an error that tells the operator to add the L.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "kfconfig.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KF_CFG_PASSWORD_MAX 65536   /* bytes in password_file */
#define KF_CFG_MAX_TOPICS 1024      /* the ring's topic table holds this many */

/* ---- enum words (same order as the enums in kfconfig.h) ---- */

/* supervisor/assignor.c's names, which the tests check against these */
static const char *const assignor_words[] = { "range", "roundrobin", "cooperative-sticky", NULL };
static const char *const reset_words[] = { "earliest", "latest", "error", NULL };
static const char *const isolation_words[] = { "read_uncommitted", "read_committed", NULL };
static const char *const protocol_words[] = { "plaintext", "ssl", "sasl_plaintext",
					      "sasl_ssl", NULL };
static const char *const sasl_words[] = { "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL };
static const char *const dispatch_words[] = { "partition", "key", "roundrobin", NULL };
static const char *const on_failure_words[] = { "pause", "skip", NULL };
/* The one list of handler names: worker/worker.c names its types with it. */
static const char *const handler_words[] = { "noop", "file", "burn", "plugin", "exec", NULL };
/* enum kf_log_level order */
static const char *const level_words[] = { "error", "warn", "info", "debug", "trace", NULL };

#define NAME_FN(fn, type, words)                                        \
	const char *fn(enum type v)                                     \
	{                                                               \
		return (unsigned)v < ARRAY_LEN(words) - 1 ? words[v] : "?"; \
	}

NAME_FN(kf_cfg_offset_reset_name, kf_cfg_offset_reset, reset_words)
NAME_FN(kf_cfg_isolation_name, kf_cfg_isolation, isolation_words)
NAME_FN(kf_cfg_protocol_name, kf_cfg_protocol, protocol_words)
NAME_FN(kf_cfg_sasl_mech_name, kf_cfg_sasl_mech, sasl_words)
NAME_FN(kf_cfg_dispatch_name, kf_cfg_dispatch, dispatch_words)
NAME_FN(kf_cfg_on_failure_name, kf_cfg_on_failure, on_failure_words)
NAME_FN(kf_cfg_handler_type_name, kf_cfg_handler_type, handler_words)

/* ---- key tables ---- */

enum key_type {
	KT_STR,         /* char * */
	KT_I32,         /* int32_t or int */
	KT_I64,         /* int64_t */
	KT_BOOL,        /* bool */
	KT_ENUM,        /* an enum, stored as int */
	KT_STRV,        /* char ** (NULL-terminated) + int count at off2; with words,
			 * one string or a list of them, each one of the words */
	KT_MODE,        /* int: a file mode written as an octal string ("0660") */
	KT_GROUP,       /* sub-table */
};

struct key {
	const char *name;
	enum key_type type;
	enum kf_reload_class reload; /* what a reload does when it changed */
	size_t off;                 /* field in struct kf_config */
	size_t off2;                /* KT_STRV: the count */
	long long min, max;         /* KT_I32, KT_I64 */
	const char *const *words;   /* KT_ENUM, KT_STRV of words */
	const struct key *sub;      /* KT_GROUP */
	long long idef;             /* default of numbers, bools, enums */
	const char *sdef;           /* default of strings (KT_STRV: its one element) */
	bool required;
	unsigned hmask;             /* handler keys: the types that take it */
	unsigned hreq;              /* handler keys: the types that need it */
};

/* The reload classes, short, for the tables (kfconfig.h says what each
 * does; README's "Reloading the config" lists the keys by class). */
#define LIVE KF_RELOAD_LIVE
#define ROLL KF_RELOAD_ROLL
#define REDISPATCH KF_RELOAD_REDISPATCH
#define KAFKA KF_RELOAD_KAFKA
#define NEXT_START KF_RELOAD_NEXT_START

#define OFF(m) offsetof(struct kf_config, m)
#define K_STR(r, n, m, d) { .name = n, .type = KT_STR, .reload = r, .off = OFF(m), .sdef = d }
#define K_I32(r, n, m, lo, hi, d) \
	{ .name = n, .type = KT_I32, .reload = r, .off = OFF(m), .min = lo, .max = hi, .idef = d }
#define K_I64(r, n, m, lo, hi, d) \
	{ .name = n, .type = KT_I64, .reload = r, .off = OFF(m), .min = lo, .max = hi, .idef = d }
#define K_BOOL(r, n, m, d) { .name = n, .type = KT_BOOL, .reload = r, .off = OFF(m), .idef = d }
#define K_ENUM(r, n, m, w, d) \
	{ .name = n, .type = KT_ENUM, .reload = r, .off = OFF(m), .words = w, .idef = d }
#define K_MODE(r, n, m, d) { .name = n, .type = KT_MODE, .reload = r, .off = OFF(m), .idef = d }
#define K_GROUP(n, s) { .name = n, .type = KT_GROUP, .sub = s }
#define HBIT(t) (1u << (t))

static const struct key security_keys[] = {
	K_ENUM(KAFKA, "protocol", kafka.security.protocol, protocol_words, KF_CFG_PLAINTEXT),
	K_STR(KAFKA, "ca_file", kafka.security.ca_file, ""),
	K_STR(KAFKA, "cert_file", kafka.security.cert_file, ""),
	K_STR(KAFKA, "key_file", kafka.security.key_file, ""),
	K_STR(KAFKA, "key_password_file", kafka.security.key_password_file, ""),
	K_BOOL(KAFKA, "verify_peer", kafka.security.verify_peer, true),
	K_ENUM(KAFKA, "sasl_mechanism", kafka.security.sasl_mechanism, sasl_words,
	       KF_CFG_SASL_SCRAM_SHA_512),
	K_STR(KAFKA, "username", kafka.security.username, ""),
	K_STR(KAFKA, "password_file", kafka.security.password_file, ""),
	{ NULL },
};

static const struct key kafka_keys[] = {
	{ .name = "bootstrap", .type = KT_STR, .reload = KAFKA, .off = OFF(kafka.bootstrap),
	  .sdef = "", .required = true },
	{ .name = "group", .type = KT_STR, .reload = KAFKA, .off = OFF(kafka.group),
	  .sdef = "", .required = true },
	{ .name = "topics", .type = KT_STRV, .reload = KAFKA, .off = OFF(kafka.topics),
	  .off2 = OFF(kafka.n_topics), .required = true },
	K_STR(KAFKA, "client_id", kafka.client_id, "kforkd"),
	K_STR(KAFKA, "group_instance_id", kafka.group_instance_id, ""),
	K_I32(KAFKA, "session_timeout_ms", kafka.session_timeout_ms, 1, INT32_MAX, 45000),
	K_I32(KAFKA, "heartbeat_interval_ms", kafka.heartbeat_interval_ms, 1, INT32_MAX, 3000),
	K_I32(KAFKA, "rebalance_timeout_ms", kafka.rebalance_timeout_ms, 1, INT32_MAX, 300000),
	{ .name = "assignor", .type = KT_STRV, .reload = KAFKA, .off = OFF(kafka.assignors),
	  .off2 = OFF(kafka.n_assignors), .words = assignor_words, .sdef = "range" },
	K_ENUM(KAFKA, "auto_offset_reset", kafka.auto_offset_reset, reset_words,
	       KF_CFG_RESET_EARLIEST),
	K_I32(KAFKA, "commit_interval_ms", kafka.commit_interval_ms, 1, INT32_MAX, 1000),
	K_ENUM(KAFKA, "isolation", kafka.isolation, isolation_words, KF_CFG_READ_UNCOMMITTED),
	K_I32(KAFKA, "fetch_min_bytes", kafka.fetch_min_bytes, 0, INT32_MAX, 1),
	K_I32(KAFKA, "fetch_max_wait_ms", kafka.fetch_max_wait_ms, 0, INT32_MAX, 500),
	K_I32(KAFKA, "fetch_max_bytes", kafka.fetch_max_bytes, 1, INT32_MAX, 52428800),
	K_I32(KAFKA, "fetch_partition_max_bytes", kafka.fetch_partition_max_bytes, 1, INT32_MAX,
	      1048576),
	K_I32(KAFKA, "metadata_max_age_ms", kafka.metadata_max_age_ms, 1000, 86400000, 300000),
	K_GROUP("security", security_keys),
	{ NULL },
};

static const struct key handler_keys[] = {
	K_ENUM(ROLL, "type", workers.handler.type, handler_words, KF_CFG_HANDLER_NOOP),
	{ .name = "dir", .type = KT_STR, .reload = ROLL, .off = OFF(workers.handler.dir),
	  .sdef = "", .hmask = HBIT(KF_CFG_HANDLER_FILE), .hreq = HBIT(KF_CFG_HANDLER_FILE) },
	{ .name = "usec", .type = KT_I64, .reload = ROLL, .off = OFF(workers.handler.usec),
	  .min = 0, .max = INT32_MAX, .idef = 1000, .hmask = HBIT(KF_CFG_HANDLER_BURN) },
	{ .name = "path", .type = KT_STR, .reload = ROLL, .off = OFF(workers.handler.path),
	  .sdef = "", .hmask = HBIT(KF_CFG_HANDLER_PLUGIN), .hreq = HBIT(KF_CFG_HANDLER_PLUGIN) },
	{ .name = "arg", .type = KT_STR, .reload = ROLL, .off = OFF(workers.handler.arg),
	  .sdef = "", .hmask = HBIT(KF_CFG_HANDLER_PLUGIN) },
	{ .name = "command", .type = KT_STRV, .reload = ROLL, .off = OFF(workers.handler.command),
	  .off2 = OFF(workers.handler.n_command),
	  .hmask = HBIT(KF_CFG_HANDLER_EXEC), .hreq = HBIT(KF_CFG_HANDLER_EXEC) },
	{ .name = "window", .type = KT_I32, .reload = ROLL, .off = OFF(workers.handler.window),
	  .min = 1, .max = 65536, .idef = 64, .hmask = HBIT(KF_CFG_HANDLER_EXEC) },
	{ NULL },
};

static const struct key workers_keys[] = {
	K_I32(LIVE, "count", workers.count, 1, 1024, 4),
	K_ENUM(REDISPATCH, "dispatch", workers.dispatch, dispatch_words, KF_CFG_DISPATCH_PARTITION),
	K_I64(ROLL, "ring_bytes", workers.ring_bytes, 65536, 1073741824, 16777216),
	K_I64(LIVE, "max_inflight_bytes", workers.max_inflight_bytes, 65536, INT64_MAX, 268435456),
	K_I32(LIVE, "max_inflight_ms", workers.max_inflight_ms, 0, INT32_MAX, 2000),
	K_I32(ROLL, "nice", workers.nice, -20, 19, 5),
	K_I32(LIVE, "stall_timeout_ms", workers.stall_timeout_ms, 1, INT32_MAX, 300000),
	K_I32(LIVE, "shutdown_timeout_ms", workers.shutdown_timeout_ms, 0, INT32_MAX, 30000),
	K_I32(ROLL, "max_retries", workers.max_retries, 0, 1000000, 5),
	K_I32(ROLL, "retry_backoff_ms", workers.retry_backoff_ms, 0, INT32_MAX, 100),
	K_ENUM(LIVE, "on_failure", workers.on_failure, on_failure_words, KF_CFG_ON_FAILURE_PAUSE),
	K_GROUP("handler", handler_keys),
	{ NULL },
};

static const struct key log_keys[] = {
	K_ENUM(LIVE, "level", log.level, level_words, KF_LOG_INFO),
	K_STR(NEXT_START, "file", log.file, ""),
	K_BOOL(NEXT_START, "syslog", log.syslog, false),
	{ NULL },
};

static const struct key control_keys[] = {
	K_STR(LIVE, "socket", control.socket, "/run/kfork/kforkd.sock"),
	K_STR(LIVE, "metrics_listen", control.metrics_listen, ""),
	K_MODE(LIVE, "socket_mode", control.socket_mode, 0600),
	{ NULL },
};

static const struct key root_keys[] = {
	K_GROUP("kafka", kafka_keys),
	K_GROUP("workers", workers_keys),
	K_GROUP("log", log_keys),
	K_STR(NEXT_START, "user", user, ""),
	K_GROUP("control", control_keys),
	{ NULL },
};

/* ---- field access ---- */

/* set_int stores enums and int fields as 4-byte integers */
_Static_assert(sizeof(enum kf_cfg_handler_type) == sizeof(int32_t), "enum size");
_Static_assert(sizeof(enum kf_log_level) == sizeof(int32_t), "enum size");
_Static_assert(sizeof(int) == sizeof(int32_t), "int size");

static void *field(struct kf_config *cfg, size_t off)
{
	return (char *)cfg + off;
}

static void set_int(struct kf_config *cfg, const struct key *k, long long v)
{
	if (k->type == KT_I64) {
		int64_t x = v;
		memcpy(field(cfg, k->off), &x, sizeof(x));
	} else if (k->type == KT_BOOL) {
		bool b = v != 0;
		memcpy(field(cfg, k->off), &b, sizeof(b));
	} else {
		/* int32_t, int and the enums are all 4 bytes here */
		int32_t x = (int32_t)v;
		memcpy(field(cfg, k->off), &x, sizeof(x));
	}
}

/* Replaces a string field (takes ownership of s). */
static void set_str(struct kf_config *cfg, const struct key *k, char *s)
{
	char **p = field(cfg, k->off);

	free(*p);
	*p = s;
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Replaces a string-vector field (takes ownership of v). */
static void set_strv(struct kf_config *cfg, const struct key *k, char **v, int n)
{
	char ***p = field(cfg, k->off);

	free_strv(*p);
	*p = v;
	memcpy(field(cfg, k->off2), &n, sizeof(n));
}

static int defaults_of(struct kf_config *cfg, const struct key *tab)
{
	for (const struct key *k = tab; k->name; k++) {
		switch (k->type) {
		case KT_STR: {
			char *s = strdup(k->sdef);
			if (!s)
				return KF_ENOMEM;
			set_str(cfg, k, s);
			break;
		}
		case KT_STRV: {
			char **v = calloc(2, sizeof(*v));
			if (!v || (k->sdef && !(v[0] = strdup(k->sdef)))) {
				free(v);
				return KF_ENOMEM;
			}
			set_strv(cfg, k, v, k->sdef ? 1 : 0);
			break;
		}
		case KT_GROUP:
			if (defaults_of(cfg, k->sub) != KF_OK)
				return KF_ENOMEM;
			break;
		default:
			set_int(cfg, k, k->idef);
			break;
		}
	}
	return KF_OK;
}

int kf_config_defaults(struct kf_config *out)
{
	memset(out, 0, sizeof(*out));
	if (defaults_of(out, root_keys) != KF_OK) {
		kf_config_free(out);
		return KF_ENOMEM;
	}
	return KF_OK;
}

static void free_of(struct kf_config *cfg, const struct key *tab)
{
	for (const struct key *k = tab; k->name; k++) {
		if (k->type == KT_STR)
			free(*(char **)field(cfg, k->off));
		else if (k->type == KT_STRV)
			free_strv(*(char ***)field(cfg, k->off));
		else if (k->type == KT_GROUP)
			free_of(cfg, k->sub);
	}
}

void kf_config_free(struct kf_config *cfg)
{
	struct kf_config_security *sec = &cfg->kafka.security;

	if (sec->password) {
		explicit_bzero(sec->password, sec->password_len);
		free(sec->password);
	}
	free(cfg->path);
	free_of(cfg, root_keys);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- errors ---- */

struct ctx {
	config_t lc;
	const char *path;           /* the top file, for errors with no setting */
	char incdir[PATH_MAX];      /* its directory: where @include looks */
	struct kf_config *cfg;
	char *err;
	size_t errlen;
	bool nomem;
	int include_depth;          /* scan_file's recursion into @include */
};

/* The name of a file settings came from, as the operator can find it:
 * libconfig names an @include'd file as written, relative to incdir. */
static const char *src_name(const struct ctx *cx, const char *file, char *buf, size_t len)
{
	if (!file || strcmp(file, cx->path) == 0 || file[0] == '/')
		return file ? file : cx->path;
	if ((size_t)snprintf(buf, len, "%s/%s", cx->incdir, file) >= len)
		return file;
	return buf;
}

/* "FILE:LINE: message" into the caller's buffer, located at setting s (its
 * file and line; the top file's line 1 for none or the root).  Returns
 * KF_ERR so that checks can `return fail(...)`. */
__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *cx, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = cx->path;
	char buf[PATH_MAX];
	unsigned line = 1;
	int n;
	va_list ap;

	if (s && config_setting_source_line(s) > 0) {
		line = config_setting_source_line(s);
		file = src_name(cx, config_setting_source_file(s), buf, sizeof(buf));
	}
	n = snprintf(cx->err, cx->errlen, "%s:%u: ", file, line);
	if (n < 0 || (size_t)n >= cx->errlen)
		return KF_ERR;
	va_start(ap, fmt);
	vsnprintf(cx->err + n, cx->errlen - n, fmt, ap);
	va_end(ap);
	return KF_ERR;
}

static int nomem(struct ctx *cx, const config_setting_t *s)
{
	cx->nomem = true;
	return fail(cx, s, "out of memory");
}

static const char *type_word(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT: return "an integer";
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "nothing";
	}
}

static const char *want_word(enum key_type t)
{
	switch (t) {
	case KT_STR: return "a string";
	case KT_I32: return "an integer";
	case KT_I64: return "an integer";
	case KT_BOOL: return "a boolean (true or false)";
	case KT_ENUM: return "a string";
	case KT_STRV: return "an array of strings";
	case KT_MODE: return "a string";
	case KT_GROUP: return "a group";
	}
	return "?";
}

/* ---- the walk over the file's settings ---- */

/* The index of v in k->words, or -1 after failing with the words listed. */
static int find_word(struct ctx *cx, const config_setting_t *s, const struct key *k,
		     const char *name, const char *v)
{
	char list[256] = "";
	size_t used = 0;

	for (int i = 0; k->words[i]; i++) {
		if (strcmp(v, k->words[i]) == 0)
			return i;
		used += snprintf(list + used, sizeof(list) - used, "%s%s", i ? " | " : "",
				 k->words[i]);
	}
	fail(cx, s, "%s: unknown value \"%s\" (expected %s)", name, v, list);
	return -1;
}

static int parse_enum(struct ctx *cx, const config_setting_t *s, const struct key *k,
		      const char *name)
{
	int i = find_word(cx, s, k, name, config_setting_get_string(s));

	if (i < 0)
		return KF_ERR;
	set_int(cx->cfg, k, i);
	return KF_OK;
}

/* A word list (k->words): one of the words, each once. */
static int check_word(struct ctx *cx, const config_setting_t *e, const struct key *k,
		      const char *name, char **v, int i)
{
	if (find_word(cx, e, k, name, v[i]) < 0)
		return KF_ERR;
	for (int j = 0; j < i; j++)
		if (strcmp(v[j], v[i]) == 0)
			return fail(cx, e, "%s: \"%s\" is listed twice", name, v[i]);
	return KF_OK;
}

static int parse_strv(struct ctx *cx, const config_setting_t *s, const struct key *k,
		      const char *name)
{
	bool one = config_setting_type(s) == CONFIG_TYPE_STRING;
	int n = one ? 1 : config_setting_length(s);
	char **v = calloc((size_t)n + 1, sizeof(*v));
	char ename[192];

	if (!v)
		return nomem(cx, s);
	if (k->words && n == 0) {
		free_strv(v);
		return fail(cx, s, "%s: the list is empty", name);
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = one ? s : config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			free_strv(v);
			return fail(cx, e, "%s[%d]: expected a string, got %s", name, i,
				    type_word(e));
		}
		v[i] = strdup(config_setting_get_string(e));
		if (!v[i]) {
			free_strv(v);
			return nomem(cx, s);
		}
		if (one)
			snprintf(ename, sizeof(ename), "%s", name);
		else
			snprintf(ename, sizeof(ename), "%s[%d]", name, i);
		if (k->words && check_word(cx, e, k, ename, v, i) != KF_OK) {
			free_strv(v);
			return KF_ERR;
		}
	}
	set_strv(cx->cfg, k, v, n);
	return KF_OK;
}

/* A mode is written as a string so that its octal digits cannot be read
 * as decimal (libconfig 1.5 reads 0660 as 660): 3 or 4 digits 0..7. */
static int parse_mode(struct ctx *cx, const config_setting_t *s, const struct key *k,
		      const char *name)
{
	const char *v = config_setting_get_string(s);
	size_t len = strlen(v);

	if ((len == 3 || len == 4) && strspn(v, "01234567") == len) {
		set_int(cx->cfg, k, strtol(v, NULL, 8));
		return KF_OK;
	}
	return fail(cx, s, "%s: \"%s\" is not an octal mode of 3 or 4 digits (e.g. \"0660\")",
		    name, v);
}

static bool type_fits(enum key_type t, int lt)
{
	switch (t) {
	case KT_STR:
	case KT_ENUM:
	case KT_MODE:
		return lt == CONFIG_TYPE_STRING;
	case KT_I32:
	case KT_I64:
		return lt == CONFIG_TYPE_INT || lt == CONFIG_TYPE_INT64;
	case KT_BOOL:
		return lt == CONFIG_TYPE_BOOL;
	case KT_STRV: /* a word list takes one word too (parse_value) */
		return lt == CONFIG_TYPE_ARRAY || lt == CONFIG_TYPE_LIST;
	case KT_GROUP:
		return lt == CONFIG_TYPE_GROUP;
	}
	return false;
}

static int parse_value(struct ctx *cx, const config_setting_t *s, const struct key *k,
		       const char *name)
{
	long long v;
	char *str;

	if (!type_fits(k->type, config_setting_type(s)) &&
	    !(k->type == KT_STRV && k->words && config_setting_type(s) == CONFIG_TYPE_STRING))
		return fail(cx, s, "%s: expected %s, got %s", name,
			    k->type == KT_STRV && k->words ? "a string or an array of strings"
							   : want_word(k->type),
			    type_word(s));
	switch (k->type) {
	case KT_STR:
		str = strdup(config_setting_get_string(s));
		if (!str)
			return nomem(cx, s);
		set_str(cx->cfg, k, str);
		return KF_OK;
	case KT_I32:
	case KT_I64:
		v = config_setting_get_int64(s);
		if (v < k->min || v > k->max)
			return fail(cx, s, "%s: %lld is out of range (%lld..%lld)", name, v,
				    k->min, k->max);
		set_int(cx->cfg, k, v);
		return KF_OK;
	case KT_BOOL:
		set_int(cx->cfg, k, config_setting_get_bool(s));
		return KF_OK;
	case KT_ENUM:
		return parse_enum(cx, s, k, name);
	case KT_STRV:
		return parse_strv(cx, s, k, name);
	case KT_MODE:
		return parse_mode(cx, s, k, name);
	case KT_GROUP:
		break;
	}
	return KF_OK;
}

static const struct key *find_key(const struct key *tab, const char *name)
{
	for (const struct key *k = tab; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static bool has_required(const struct key *tab)
{
	for (const struct key *k = tab; k->name; k++)
		if (k->required || (k->type == KT_GROUP && has_required(k->sub)))
			return true;
	return false;
}

static int parse_group(struct ctx *cx, const config_setting_t *grp, const struct key *tab,
		       const char *prefix);

/* The handler group: its type decides which other keys it may hold. */
static int parse_handler(struct ctx *cx, const config_setting_t *grp, const char *prefix)
{
	const config_setting_t *t = config_setting_get_member(grp, "type");
	unsigned bit;
	int rc;

	if (t && (rc = parse_value(cx, t, &handler_keys[0], "workers.handler.type")) != KF_OK)
		return rc;
	bit = HBIT(cx->cfg->workers.handler.type);
	for (int i = 0; i < config_setting_length(grp); i++) {
		const config_setting_t *s = config_setting_get_elem(grp, i);
		const struct key *k = find_key(handler_keys, config_setting_name(s));
		if (k && k->hmask && !(k->hmask & bit))
			return fail(cx, s, "%s%s: not a setting of handler type \"%s\"", prefix,
				    k->name, handler_words[cx->cfg->workers.handler.type]);
	}
	if ((rc = parse_group(cx, grp, handler_keys, prefix)) != KF_OK)
		return rc;
	for (const struct key *k = handler_keys; k->name; k++)
		if ((k->hreq & bit) && !config_setting_get_member(grp, k->name))
			return fail(cx, grp, "missing required setting %s%s for handler type \"%s\"",
				    prefix, k->name, handler_words[cx->cfg->workers.handler.type]);
	return KF_OK;
}

/* Checks every member of grp against tab (prefix is the group's dotted
 * path with a trailing dot, "" for the root), then the required keys. */
static int parse_group(struct ctx *cx, const config_setting_t *grp, const struct key *tab,
		       const char *prefix)
{
	char name[160];
	int rc;

	for (int i = 0; i < config_setting_length(grp); i++) {
		const config_setting_t *s = config_setting_get_elem(grp, i);
		const struct key *k = find_key(tab, config_setting_name(s));

		snprintf(name, sizeof(name), "%s%s", prefix, config_setting_name(s));
		if (!k && tab == security_keys && strcmp(config_setting_name(s), "password") == 0)
			return fail(cx, s, "unknown setting %s (the password is read from "
				    "password_file only)", name);
		if (!k)
			return fail(cx, s, "unknown setting %s", name);
		if (k->type != KT_GROUP) {
			rc = parse_value(cx, s, k, name);
		} else if (!type_fits(KT_GROUP, config_setting_type(s))) {
			rc = fail(cx, s, "%s: expected a group, got %s", name, type_word(s));
		} else {
			strncat(name, ".", sizeof(name) - strlen(name) - 1);
			rc = k->sub == handler_keys ? parse_handler(cx, s, name)
						    : parse_group(cx, s, k->sub, name);
		}
		if (rc != KF_OK)
			return rc;
	}
	for (const struct key *k = tab; k->name; k++) {
		if (config_setting_get_member(grp, k->name))
			continue;
		if (k->required)
			return fail(cx, grp, "missing required setting %s%s", prefix, k->name);
		if (k->type == KT_GROUP && has_required(k->sub)) {
			for (const struct key *r = k->sub; r->name; r++)
				if (r->required)
					return fail(cx, grp, "missing required setting %s%s.%s",
						    prefix, k->name, r->name);
		}
	}
	return KF_OK;
}

/* ---- integer literals libconfig 1.5 would truncate ---- */

/* A number token at p (sign included): KF_ERR with the error set if it is
 * an integer without the L suffix that does not fit 32 bits. *end is set
 * past the token. */
static int scan_number(struct ctx *cx, const char *file, unsigned line, const char *p,
		       const char **end)
{
	const char *q = p;
	bool hex = false, flt = false;
	char tok[64];
	size_t len;

	if (*q == '-' || *q == '+')
		q++;
	if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
		hex = true;
		for (q += 2; isxdigit((unsigned char)*q); q++)
			;
	} else {
		while (isdigit((unsigned char)*q) || *q == '.' || *q == 'e' || *q == 'E' ||
		       ((*q == '-' || *q == '+') && (q[-1] == 'e' || q[-1] == 'E'))) {
			if (!isdigit((unsigned char)*q))
				flt = true;
			q++;
		}
	}
	*end = q;
	if (flt || *q == 'L')
		return KF_OK;
	len = (size_t)(q - p);
	if (len >= sizeof(tok))
		len = sizeof(tok) - 1;
	memcpy(tok, p, len);
	tok[len] = '\0';
	errno = 0;
	long long v = strtoll(tok, NULL, hex ? 16 : 10);
	if (errno == 0 && v >= INT32_MIN && v <= (hex ? (long long)UINT32_MAX : INT32_MAX))
		return KF_OK;
	snprintf(cx->err, cx->errlen, "%s:%u: integer %s does not fit in 32 bits; write %sL",
		 file, line, tok, tok);
	return KF_ERR;
}

static int scan_file(struct ctx *cx, const char *file);

/*
 * @include "name" at file:line (name starts at p): libconfig 1.5 exits
 * the process when it is given a directory ("" or ".") and blocks on a
 * FIFO, so the target must be a regular file before libconfig sees it;
 * then its own @includes are checked the same way.
 */
static int check_include(struct ctx *cx, const char *file, unsigned line, const char *p)
{
	char name[PATH_MAX], path[PATH_MAX];
	size_t n = 0;
	struct stat st;

	/* The name as libconfig reads it: escapes as in strings. */
	for (; *p && *p != '"' && *p != '\n'; p++) {
		char c = *p;
		if (c == '\\' && p[1]) {
			c = *++p;
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c == 'r')
				c = '\r';
			else if (c == 'f')
				c = '\f';
			else if (c == 'x' && isxdigit((unsigned char)p[1]) &&
				 isxdigit((unsigned char)p[2])) {
				char hex[3] = { p[1], p[2], 0 };
				c = (char)strtol(hex, NULL, 16);
				p += 2;
			}
		}
		if (n + 1 >= sizeof(name) || c == '\0')
			break;
		name[n++] = c;
	}
	name[n] = '\0';
	if (*p != '"')
		return KF_OK;       /* libconfig reports the syntax */
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cx->incdir, name) >= sizeof(path)) {
		snprintf(cx->err, cx->errlen, "%s:%u: @include: path too long", file, line);
		return KF_ERR;
	}
	if (stat(path, &st) != 0)
		return KF_OK;       /* libconfig reports the missing file */
	if (!S_ISREG(st.st_mode)) {
		snprintf(cx->err, cx->errlen, "%s:%u: @include \"%s\": %s is not a regular file",
			 file, line, name, path);
		return KF_ERR;
	}
	if (cx->include_depth >= 10) {
		snprintf(cx->err, cx->errlen, "%s:%u: @include nested more than 10 deep", file,
			 line);
		return KF_ERR;
	}
	cx->include_depth++;
	int rc = scan_file(cx, path);
	cx->include_depth--;
	return rc;
}

/* Scans one config file's text for such literals, outside strings and
 * comments, and its @include targets.  An unreadable file is not an error
 * here (libconfig reports it). */
static int scan_file(struct ctx *cx, const char *file)
{
	FILE *f = fopen(file, "re");
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned line = 1;
	int rc = KF_OK;

	if (!f)
		return KF_OK;
	n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n <= 0) {
		free(text);
		return KF_OK;
	}
	/* getdelim stopped at a NUL byte: libconfig takes it as part of the
	 * text (a NUL in an @include name made it open the directory and exit
	 * the process; found by fuzz_config). */
	if (text[n - 1] == '\0') {
		for (ssize_t i = 0; i < n - 1; i++)
			line += text[i] == '\n';
		snprintf(cx->err, cx->errlen, "%s:%u: a NUL byte: a config file is text", file,
			 line);
		free(text);
		return KF_ERR;
	}
	for (const char *p = text; *p && rc == KF_OK;) {
		if (*p == '\n') {
			line++;
			p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				line += *p == '\n';
			p += *p ? 2 : 0;
		} else if (strncmp(p, "@include", 8) == 0) {
			for (p += 8; *p == ' ' || *p == '\t'; p++)
				;
			if (p[0] == '"' && p[1] == '/') {
				snprintf(cx->err, cx->errlen, "%s:%u: @include takes a path "
					 "relative to the config's directory (%s)", file, line,
					 cx->incdir);
				rc = KF_ERR;
			} else if (*p == '"') {
				rc = check_include(cx, file, line, p + 1);
			}
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				line += *p == '\n';
			}
			p += *p ? 1 : 0;
		} else if (isalpha((unsigned char)*p) || *p == '*' || *p == '_') {
			while (isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '*')
				p++;
		} else if (isdigit((unsigned char)*p) ||
			   ((*p == '-' || *p == '+') && isdigit((unsigned char)p[1]))) {
			rc = scan_number(cx, file, line, p, &p);
		} else {
			p++;
		}
	}
	free(text);
	return rc;
}

/* Every file that settings came from (the top one and @include'd ones). */
static int scan_files(struct ctx *cx, const config_setting_t *s, const char **seen,
		      int *n_seen, int max_seen)
{
	const char *file = config_setting_source_file(s);
	int rc;

	if (file) {
		int i;
		for (i = 0; i < *n_seen && strcmp(seen[i], file) != 0; i++)
			;
		if (i == *n_seen && *n_seen < max_seen) {
			char buf[PATH_MAX];
			seen[(*n_seen)++] = file;
			if ((rc = scan_file(cx, src_name(cx, file, buf, sizeof(buf)))) != KF_OK)
				return rc;
		}
	}
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return KF_OK;
	for (int i = 0; i < config_setting_length(s); i++)
		if ((rc = scan_files(cx, config_setting_get_elem(s, i), seen, n_seen,
				     max_seen)) != KF_OK)
			return rc;
	return KF_OK;
}

/* ---- rules across keys, and the files the config names ---- */

/* The setting at path, or the nearest enclosing group in the file (NULL
 * for the root): where an error about a defaulted key points. */
static const config_setting_t *at(struct ctx *cx, const char *path)
{
	char p[160];
	char *dot;

	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		const config_setting_t *s = config_lookup(&cx->lc, p);
		if (s)
			return s;
		dot = strrchr(p, '.');
		if (!dot)
			return NULL;
		*dot = '\0';
	}
}

/* "host:port" or "[v6addr]:port"; an empty host only if allow_any. */
static bool valid_hostport(const char *e, size_t len, bool allow_any)
{
	const char *colon, *host = e, *hend;
	long port = 0;

	if (len == 0)
		return false;
	if (e[0] == '[') {
		hend = memchr(e, ']', len);
		if (!hend || hend == e + 1 || hend + 1 >= e + len || hend[1] != ':')
			return false;
		colon = hend + 1;
		host++;
	} else {
		colon = NULL;
		for (const char *p = e; p < e + len; p++)
			if (*p == ':') {
				if (colon)
					return false;   /* a bare v6 address */
				colon = p;
			}
		if (!colon)
			return false;
		hend = colon;
		if (hend == e && !allow_any)
			return false;
	}
	for (const char *p = host; p < hend; p++)
		if (isspace((unsigned char)*p))
			return false;
	if (colon + 1 >= e + len)
		return false;
	for (const char *p = colon + 1; p < e + len; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		port = port * 10 + (*p - '0');
		if (port > 65535)
			return false;
	}
	return port > 0;
}

static int check_bootstrap(struct ctx *cx)
{
	const char *b = cx->cfg->kafka.bootstrap;
	const config_setting_t *s = at(cx, "kafka.bootstrap");

	for (const char *p = b;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *e = p;
		size_t elen = len;

		while (elen && isspace((unsigned char)*e)) {
			e++;
			elen--;
		}
		while (elen && isspace((unsigned char)e[elen - 1]))
			elen--;
		if (!valid_hostport(e, elen, false))
			return fail(cx, s, "kafka.bootstrap: \"%.*s\" is not HOST:PORT",
				    (int)elen, e);
		if (!comma)
			return KF_OK;
		p = comma + 1;
	}
}

static bool valid_topic(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
		return false;
	for (; *t; t++)
		if (!isalnum((unsigned char)*t) && *t != '.' && *t != '_' && *t != '-')
			return false;
	return true;
}

static int check_kafka(struct ctx *cx)
{
	const struct kf_config_kafka *k = &cx->cfg->kafka;
	const config_setting_t *s;
	int rc;

	if ((rc = check_bootstrap(cx)) != KF_OK)
		return rc;
	if (!k->group[0])
		return fail(cx, at(cx, "kafka.group"), "kafka.group: must not be empty");
	s = at(cx, "kafka.topics");
	if (k->n_topics == 0)
		return fail(cx, s, "kafka.topics: must name at least one topic");
	if (k->n_topics > KF_CFG_MAX_TOPICS)
		return fail(cx, s, "kafka.topics: %d topics, at most %d", k->n_topics,
			    KF_CFG_MAX_TOPICS);
	for (int i = 0; i < k->n_topics; i++) {
		if (!valid_topic(k->topics[i]))
			return fail(cx, s, "kafka.topics: \"%s\" is not a valid topic name "
				    "(1..249 of a-z A-Z 0-9 . _ -)", k->topics[i]);
		for (int j = 0; j < i; j++)
			if (strcmp(k->topics[i], k->topics[j]) == 0)
				return fail(cx, s, "kafka.topics: \"%s\" is listed twice",
					    k->topics[i]);
	}
	/* Kafka recommends at most a third; at or above the session timeout
	 * the member would be expired between two heartbeats. */
	if (k->heartbeat_interval_ms >= k->session_timeout_ms) {
		/* point at the heartbeat line, or the session line when the
		 * heartbeat is left at its default */
		s = config_lookup(&cx->lc, "kafka.heartbeat_interval_ms");
		return fail(cx, s ? s : at(cx, "kafka.session_timeout_ms"),
			    "kafka.heartbeat_interval_ms (%d) must be less than "
			    "kafka.session_timeout_ms (%d)", k->heartbeat_interval_ms,
			    k->session_timeout_ms);
	}
	return KF_OK;
}

/* A file the config names must be readable (mode R_OK) or runnable
 * (X_OK) now; errors name the key. */
static int check_access(struct ctx *cx, const char *key, const char *file, int mode)
{
	if (access(file, mode) == 0)
		return KF_OK;
	return fail(cx, at(cx, key), "%s: cannot %s \"%s\": %s", key,
		    mode == X_OK ? "execute" : "read", file, strerror(errno));
}

/* Reads password_file: a regular file that "other" cannot read, with one
 * trailing newline trimmed.  The content never goes into err. */
static int read_password(struct ctx *cx)
{
	struct kf_config_security *sec = &cx->cfg->kafka.security;
	const char *key = "kafka.security.password_file";
	const config_setting_t *s = at(cx, key);
	struct stat st;
	size_t len = 0;
	char *buf;
	int fd;

	fd = open(sec->password_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return fail(cx, s, "%s: cannot read \"%s\": %s", key, sec->password_file,
			    strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(cx, s, "%s: \"%s\" is not a regular file", key, sec->password_file);
	}
	if (st.st_mode & S_IROTH) {
		close(fd);
		return fail(cx, s, "%s: \"%s\" is readable by every user (mode %04o); "
			    "chmod o-r it", key, sec->password_file,
			    (unsigned)(st.st_mode & 07777));
	}
	/* room for the limit, a trailing newline, and one byte that tells
	 * the file is larger */
	buf = malloc(KF_CFG_PASSWORD_MAX + 2);
	if (!buf) {
		close(fd);
		return nomem(cx, s);
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, KF_CFG_PASSWORD_MAX + 2 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int e = errno;
			close(fd);
			explicit_bzero(buf, len);
			free(buf);
			return fail(cx, s, "%s: cannot read \"%s\": %s", key,
				    sec->password_file, strerror(e));
		}
		if (n == 0 || (len += (size_t)n) == KF_CFG_PASSWORD_MAX + 2)
			break;
	}
	close(fd);
	/* a full buffer means the file went on: no newline to trim then */
	if (len > 0 && len < KF_CFG_PASSWORD_MAX + 2 && buf[len - 1] == '\n')
		len--;
	const char *why = len > KF_CFG_PASSWORD_MAX ? "is larger than 64 KiB"
			: len == 0 ? "is empty"
			: memchr(buf, '\0', len) ? "contains a NUL byte" : NULL;
	if (why) {
		explicit_bzero(buf, KF_CFG_PASSWORD_MAX + 2);
		free(buf);
		return fail(cx, s, "%s: \"%s\" %s", key, sec->password_file, why);
	}
	buf[len] = '\0';
	sec->password = buf;
	sec->password_len = len;
	return KF_OK;
}

/* key_password_file: only with a key_file, readable, not by "other" (it
 * is a secret like password_file; OpenSSL reads it when the TLS context
 * is made). */
static int check_key_password(struct ctx *cx)
{
	const struct kf_config_security *sec = &cx->cfg->kafka.security;
	const char *key = "kafka.security.key_password_file";
	struct stat st;
	int rc;

	if (!sec->key_file[0])
		return fail(cx, at(cx, key), "%s is set but kafka.security.key_file is not", key);
	if ((rc = check_access(cx, key, sec->key_password_file, R_OK)) != KF_OK)
		return rc;
	if (stat(sec->key_password_file, &st) == 0 && (st.st_mode & S_IROTH))
		return fail(cx, at(cx, key), "%s: \"%s\" is readable by every user (mode %04o); "
			    "chmod o-r it", key, sec->key_password_file,
			    (unsigned)(st.st_mode & 07777));
	return KF_OK;
}

static int check_security(struct ctx *cx)
{
	struct kf_config_security *sec = &cx->cfg->kafka.security;
	bool ssl = sec->protocol == KF_CFG_SSL || sec->protocol == KF_CFG_SASL_SSL;
	bool sasl = sec->protocol == KF_CFG_SASL_PLAINTEXT || sec->protocol == KF_CFG_SASL_SSL;
	int rc;

	if (ssl) {
		if (sec->cert_file[0] && !sec->key_file[0])
			return fail(cx, at(cx, "kafka.security.cert_file"),
				    "kafka.security.cert_file is set but kafka.security.key_file "
				    "is not");
		if (sec->key_file[0] && !sec->cert_file[0])
			return fail(cx, at(cx, "kafka.security.key_file"),
				    "kafka.security.key_file is set but kafka.security.cert_file "
				    "is not");
		if (sec->ca_file[0] &&
		    (rc = check_access(cx, "kafka.security.ca_file", sec->ca_file, R_OK)) != KF_OK)
			return rc;
		if (sec->cert_file[0] &&
		    (rc = check_access(cx, "kafka.security.cert_file", sec->cert_file,
				       R_OK)) != KF_OK)
			return rc;
		if (sec->key_file[0] &&
		    (rc = check_access(cx, "kafka.security.key_file", sec->key_file,
				       R_OK)) != KF_OK)
			return rc;
		if (sec->key_password_file[0] && (rc = check_key_password(cx)) != KF_OK)
			return rc;
	}
	if (sasl) {
		if (!sec->username[0])
			return fail(cx, at(cx, "kafka.security.username"),
				    "kafka.security.username: required with protocol \"%s\"",
				    protocol_words[sec->protocol]);
		if (!sec->password_file[0])
			return fail(cx, at(cx, "kafka.security.password_file"),
				    "kafka.security.password_file: required with protocol \"%s\"",
				    protocol_words[sec->protocol]);
		return read_password(cx);
	}
	return KF_OK;
}

/* An exec command without a slash is looked up in PATH, as execvp will. */
static int check_command(struct ctx *cx)
{
	const struct kf_config_handler *h = &cx->cfg->workers.handler;
	const char *key = "workers.handler.command";
	const char *cmd = h->command[0];
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (h->n_command == 0 || !cmd[0])
		return fail(cx, at(cx, key), "%s: must name a program", key);
	if (strchr(cmd, '/'))
		return check_access(cx, key, cmd, X_OK);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;;) {
		const char *colon = strchr(p, ':');
		int len = colon ? (int)(colon - p) : (int)strlen(p);
		snprintf(buf, sizeof(buf), "%.*s/%s", len, len ? p : ".", cmd);
		if (access(buf, X_OK) == 0)
			return KF_OK;
		if (!colon)
			break;
		p = colon + 1;
	}
	return fail(cx, at(cx, key), "%s: \"%s\" is not found in PATH", key, cmd);
}

static int check_workers(struct ctx *cx)
{
	const struct kf_config_workers *w = &cx->cfg->workers;
	const struct kf_config_handler *h = &w->handler;
	struct stat st;

	/* The ring indexes by masking, so its size is a power of two; we say
	 * so rather than round the operator's number behind their back. */
	if (w->ring_bytes & (w->ring_bytes - 1))
		return fail(cx, at(cx, "workers.ring_bytes"),
			    "workers.ring_bytes: %lld is not a power of two",
			    (long long)w->ring_bytes);
	switch (h->type) {
	case KF_CFG_HANDLER_FILE:
		if (stat(h->dir, &st) == -1)
			return fail(cx, at(cx, "workers.handler.dir"),
				    "workers.handler.dir: cannot use \"%s\": %s", h->dir,
				    strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return fail(cx, at(cx, "workers.handler.dir"),
				    "workers.handler.dir: \"%s\" is not a directory", h->dir);
		return KF_OK;
	case KF_CFG_HANDLER_PLUGIN:
		return check_access(cx, "workers.handler.path", h->path, R_OK);
	case KF_CFG_HANDLER_EXEC:
		return check_command(cx);
	default:
		return KF_OK;
	}
}

static int check_other(struct ctx *cx)
{
	const struct kf_config *c = cx->cfg;

	if (c->log.file[0]) {
		const char *slash = strrchr(c->log.file, '/');
		char dir[PATH_MAX];
		struct stat st;
		if (slash) {
			snprintf(dir, sizeof(dir), "%.*s", slash == c->log.file ? 1 :
				 (int)(slash - c->log.file), c->log.file);
			if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
				return fail(cx, at(cx, "log.file"),
					    "log.file: directory \"%s\" does not exist", dir);
		}
	}
	if (c->user[0]) {
		errno = 0;
		if (!getpwnam(c->user))
			return fail(cx, at(cx, "user"), "user: no such user \"%s\"", c->user);
	}
	if (strlen(c->control.socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(cx, at(cx, "control.socket"),
			    "control.socket: longer than %zu bytes",
			    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (c->control.metrics_listen[0] &&
	    !valid_hostport(c->control.metrics_listen, strlen(c->control.metrics_listen), true))
		return fail(cx, at(cx, "control.metrics_listen"),
			    "control.metrics_listen: \"%s\" is not [HOST]:PORT",
			    c->control.metrics_listen);
	return KF_OK;
}

/* ---- load ---- */

static int read_file(struct ctx *cx)
{
	const char *slash = strrchr(cx->path, '/');
	char buf[PATH_MAX];
	FILE *f;
	int rc;

	/* libconfig reports an unreadable file without errno or name */
	f = fopen(cx->path, "re");
	if (!f)
		return fail(cx, NULL, "cannot read config: %s", strerror(errno));
	fclose(f);
	/* @include paths are relative to the config file's directory, so
	 * that start, -t and a reload after daemonizing (cwd /) agree.
	 * libconfig 1.5 then prefixes absolute paths too: refused by
	 * scan_file with a clear message, before libconfig's vague one. */
	snprintf(cx->incdir, sizeof(cx->incdir), "%.*s",
		 slash ? (int)(slash - cx->path) : 1, slash ? cx->path : ".");
	if (slash == cx->path)
		strcpy(cx->incdir, "/");
	config_set_include_dir(&cx->lc, cx->incdir);
	if ((rc = scan_file(cx, cx->path)) != KF_OK)
		return rc;
	if (config_read_file(&cx->lc, cx->path) == CONFIG_TRUE)
		return KF_OK;
	if (config_error_type(&cx->lc) == CONFIG_ERR_FILE_IO)
		return fail(cx, NULL, "cannot read config: %s",
			    config_error_text(&cx->lc));
	snprintf(cx->err, cx->errlen, "%s:%d: %s",
		 src_name(cx, config_error_file(&cx->lc), buf, sizeof(buf)),
		 config_error_line(&cx->lc) > 0 ? config_error_line(&cx->lc) : 1,
		 config_error_text(&cx->lc));
	return KF_ERR;
}

int kf_config_load(const char *path, struct kf_config *out, char *err, size_t errlen)
{
	struct ctx cx = { .path = path, .cfg = out, .err = err, .errlen = errlen };
	const char *seen[32] = { path };
	int n_seen = 1;
	int rc;

	if (errlen)
		err[0] = '\0';
	if (kf_config_defaults(out) != KF_OK) {
		snprintf(err, errlen, "%s:1: out of memory", path);
		return KF_ENOMEM;
	}
	config_init(&cx.lc);
	if ((rc = read_file(&cx)) != KF_OK ||
	    (rc = scan_files(&cx, config_root_setting(&cx.lc), seen, &n_seen,
			     (int)ARRAY_LEN(seen))) != KF_OK ||
	    (rc = parse_group(&cx, config_root_setting(&cx.lc), root_keys, "")) != KF_OK ||
	    (rc = check_kafka(&cx)) != KF_OK ||
	    (rc = check_workers(&cx)) != KF_OK ||
	    (rc = check_other(&cx)) != KF_OK ||
	    (rc = check_security(&cx)) != KF_OK)
		goto out_free;
	out->path = strdup(path);
	if (!out->path) {
		rc = nomem(&cx, NULL);
		goto out_free;
	}
	out->loaded_at = time(NULL);
	config_destroy(&cx.lc);
	return KF_OK;

out_free:
	config_destroy(&cx.lc);
	kf_config_free(out);
	return cx.nomem ? KF_ENOMEM : rc;
}

/* ---- reload diff ---- */

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool strv_eq(char *const *a, int na, char *const *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* ---- reload plan ---- */

static const void *cfield(const struct kf_config *cfg, size_t off)
{
	return (const char *)cfg + off;
}

static bool key_equal(const struct kf_config *a, const struct kf_config *b,
		      const struct key *k)
{
	const void *x = cfield(a, k->off), *y = cfield(b, k->off);
	switch (k->type) {
	case KT_STR:
		return str_eq(*(char *const *)x, *(char *const *)y);
	case KT_STRV: {
		int na, nb;
		memcpy(&na, cfield(a, k->off2), sizeof(na));
		memcpy(&nb, cfield(b, k->off2), sizeof(nb));
		return strv_eq(*(char **const *)x, na, *(char **const *)y, nb);
	}
	case KT_I64:
		return memcmp(x, y, sizeof(int64_t)) == 0;
	case KT_BOOL:
		return *(const bool *)x == *(const bool *)y;
	default: /* int32_t, int and the enums (see set_int) */
		return memcmp(x, y, sizeof(int32_t)) == 0;
	}
}

static void plan_add(struct kf_reload_plan *p, const char *key, enum kf_reload_class cls)
{
	p->classes |= cls;
	if (p->n < KF_RELOAD_MAX_KEYS) {
		struct kf_reload_change *c = &p->changed[p->n++];
		snprintf(c->key, sizeof(c->key), "%s", key);
		c->reload = cls;
	}
}

static void plan_walk(const struct key *tab, const char *prefix, const struct kf_config *a,
		      const struct kf_config *b, struct kf_reload_plan *p)
{
	for (const struct key *k = tab; k->name; k++) {
		char path[KF_RELOAD_KEY_MAX];
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", k->name);
		if (k->type == KT_GROUP)
			plan_walk(k->sub, path, a, b, p);
		else if (!key_equal(a, b, k))
			plan_add(p, path, k->reload);
	}
}

void kf_reload_plan(const struct kf_config *old, const struct kf_config *new,
		    struct kf_reload_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan_walk(root_keys, "", old, new, plan);
	/* The password is no key of its own: the file's content, read at
	 * load, changed behind the same password_file. */
	const struct kf_config_security *s = &old->kafka.security, *t = &new->kafka.security;
	if (str_eq(s->password_file, t->password_file) &&
	    (s->password_len != t->password_len ||
	     (s->password_len && memcmp(s->password, t->password, s->password_len) != 0)))
		plan_add(plan, "kafka.security.password_file (its content)", KF_RELOAD_KAFKA);
}

static size_t keys_walk(const struct key *tab, const char *prefix, const char **names,
			enum kf_reload_class *classes, size_t max, size_t n)
{
	static char paths[KF_RELOAD_MAX_KEYS][KF_RELOAD_KEY_MAX];
	for (const struct key *k = tab; k->name; k++) {
		char path[KF_RELOAD_KEY_MAX];
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", k->name);
		if (k->type == KT_GROUP) {
			n = keys_walk(k->sub, path, names, classes, max, n);
			continue;
		}
		if (n < max && n < KF_RELOAD_MAX_KEYS) {
			memcpy(paths[n], path, sizeof(path));
			names[n] = paths[n];
			classes[n] = k->reload;
		}
		n++;
	}
	return n;
}

size_t kf_config_keys(const char **names, enum kf_reload_class *classes, size_t max)
{
	return keys_walk(root_keys, "", names, classes, max, 0);
}

bool kf_reload_plan_has(const struct kf_reload_plan *plan, const char *key)
{
	for (int i = 0; i < plan->n; i++)
		if (strcmp(plan->changed[i].key, key) == 0)
			return true;
	return false;
}

const char *kf_reload_class_name(enum kf_reload_class cls)
{
	switch (cls) {
	case KF_RELOAD_LIVE: return "at once";
	case KF_RELOAD_ROLL: return "rolling replacement";
	case KF_RELOAD_REDISPATCH: return "redispatch";
	case KF_RELOAD_KAFKA: return "Kafka restart";
	case KF_RELOAD_NEXT_START: return "next start";
	}
	return "?";
}

size_t kf_reload_plan_describe(const struct kf_reload_plan *plan, char *buf, size_t len)
{
	size_t n = 0;
#define PUT(...) (n += (size_t)snprintf(buf + (n < len ? n : len), n < len ? len - n : 0, \
					__VA_ARGS__))
	if (len)
		buf[0] = '\0';
	for (unsigned cls = 1; cls <= KF_RELOAD_NEXT_START; cls <<= 1) {
		if (!(plan->classes & cls))
			continue;
		PUT("%s%s:", n ? "; " : "", kf_reload_class_name((enum kf_reload_class)cls));
		const char *sep = " ";
		for (int i = 0; i < plan->n; i++) {
			if (plan->changed[i].reload != cls)
				continue;
			PUT("%s%s", sep, plan->changed[i].key);
			sep = ", ";
		}
	}
#undef PUT
	return n;
}

/* Swaps the fields of keys in class cls between a and b. */
static void keep_walk(const struct key *tab, struct kf_config *a, struct kf_config *b,
		      enum kf_reload_class cls)
{
	for (const struct key *k = tab; k->name; k++) {
		if (k->type == KT_GROUP) {
			keep_walk(k->sub, a, b, cls);
			continue;
		}
		if (k->reload != cls)
			continue;
		size_t size = k->type == KT_STR ? sizeof(char *) : k->type == KT_STRV ? sizeof(char **)
			    : k->type == KT_I64 ? sizeof(int64_t) : k->type == KT_BOOL ? sizeof(bool)
			    : sizeof(int32_t);
		uint8_t t[sizeof(int64_t)];
		memcpy(t, field(a, k->off), size);
		memcpy(field(a, k->off), field(b, k->off), size);
		memcpy(field(b, k->off), t, size);
		if (k->type == KT_STRV) {
			int na, nb;
			memcpy(&na, field(a, k->off2), sizeof(na));
			memcpy(&nb, field(b, k->off2), sizeof(nb));
			memcpy(field(a, k->off2), &nb, sizeof(nb));
			memcpy(field(b, k->off2), &na, sizeof(na));
		}
	}
}

void kf_config_keep(struct kf_config *new, struct kf_config *old, enum kf_reload_class cls)
{
	keep_walk(root_keys, new, old, cls);
	if (cls == KF_RELOAD_KAFKA) {
		struct kf_config_security *a = &new->kafka.security, *b = &old->kafka.security;
		char *pw = a->password;
		size_t pwlen = a->password_len;
		a->password = b->password;
		a->password_len = b->password_len;
		b->password = pw;
		b->password_len = pwlen;
	}
}
