/*
 * Config suite: kf_config_load on files written to a scratch directory,
 * the exact "FILE:LINE: message" of every class of error, the defaults
 * (asserted against the values etc/kforkd.conf documents), etc/kforkd.conf itself,
 * and that the SASL password never shows up in an error.
 */
#include "config.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "kfconfig.h"
#include "suites.h"

static char dir[64];
static char conf[128];          /* dir/c.conf */
static char err[512];

static void setup(void)
{
	strcpy(dir, "/tmp/kfcfg-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/c.conf", dir);
}

static void teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[400];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) == -1)
			rmdir(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Writes dir/name with text and the given mode; returns its path (static
 * buffer of 4 rotating entries). */
static const char *put(const char *name, const char *text, mode_t mode)
{
	static char paths[4][400];
	static int next;
	char *p = paths[next++ % 4];
	FILE *f;

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(p, mode), 0);
	return p;
}

static int load_text(const char *text, struct kf_config *c)
{
	put("c.conf", text, 0644);
	return kf_config_load(conf, c, err, sizeof(err));
}

/* The text must be refused with "dir/c.conf:LINE: MESSAGE" exactly. */
__attribute__((format(printf, 3, 4)))
static void expect_err(const char *text, int line, const char *fmt, ...)
{
	struct kf_config c;
	char want[1024], msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(want, sizeof(want), "%s:%d: %s", conf, line, msg);
	memset(&c, 0x5a, sizeof(c));
	ck_assert_int_eq(load_text(text, &c), KF_ERR);
	ck_assert_str_eq(err, want);
	/* all-or-nothing: nothing left to free */
	ck_assert_ptr_null(c.kafka.bootstrap);
	ck_assert_ptr_null(c.path);
	kf_config_free(&c);
}

#define MIN_KAFKA "kafka = { bootstrap = \"b:9092\"; group = \"g\"; topics = [ \"t\" ];\n"
#define MIN MIN_KAFKA "};\n"

static void assert_defaults(const struct kf_config *c)
{
	const struct kf_config_kafka *k = &c->kafka;
	const struct kf_config_workers *w = &c->workers;

	ck_assert_str_eq(k->client_id, "kforkd");
	ck_assert_str_eq(k->group_instance_id, "");
	ck_assert_int_eq(k->session_timeout_ms, 45000);
	ck_assert_int_eq(k->heartbeat_interval_ms, 3000);
	ck_assert_int_eq(k->rebalance_timeout_ms, 300000);
	ck_assert_int_eq(k->n_assignors, 1);
	ck_assert_str_eq(k->assignors[0], "range");
	ck_assert_ptr_null(k->assignors[1]);
	ck_assert_int_eq(k->auto_offset_reset, KF_CFG_RESET_EARLIEST);
	ck_assert_int_eq(k->commit_interval_ms, 1000);
	ck_assert_int_eq(k->isolation, KF_CFG_READ_UNCOMMITTED);
	ck_assert_int_eq(k->fetch_min_bytes, 1);
	ck_assert_int_eq(k->fetch_max_wait_ms, 500);
	ck_assert_int_eq(k->fetch_max_bytes, 52428800);
	ck_assert_int_eq(k->fetch_partition_max_bytes, 1048576);
	ck_assert_int_eq(k->metadata_max_age_ms, 300000);
	ck_assert_int_eq(k->security.protocol, KF_CFG_PLAINTEXT);
	ck_assert_str_eq(k->security.ca_file, "");
	ck_assert_str_eq(k->security.cert_file, "");
	ck_assert_str_eq(k->security.key_file, "");
	ck_assert(k->security.verify_peer);
	ck_assert_int_eq(k->security.sasl_mechanism, KF_CFG_SASL_SCRAM_SHA_512);
	ck_assert_str_eq(k->security.username, "");
	ck_assert_str_eq(k->security.password_file, "");
	ck_assert_ptr_null(k->security.password);
	ck_assert_int_eq(w->count, 4);
	ck_assert_int_eq(w->dispatch, KF_CFG_DISPATCH_PARTITION);
	ck_assert_int_eq(w->ring_bytes, 16777216);
	ck_assert_int_eq(w->max_inflight_bytes, 268435456);
	ck_assert_int_eq(w->nice, 5);
	ck_assert_int_eq(w->stall_timeout_ms, 300000);
	ck_assert_int_eq(w->shutdown_timeout_ms, 30000);
	ck_assert_int_eq(w->max_retries, 5);
	ck_assert_int_eq(w->retry_backoff_ms, 100);
	ck_assert_int_eq(w->on_failure, KF_CFG_ON_FAILURE_PAUSE);
	ck_assert_int_eq(w->handler.type, KF_CFG_HANDLER_NOOP);
	ck_assert_str_eq(w->handler.dir, "");
	ck_assert_int_eq(w->handler.usec, 1000);
	ck_assert_str_eq(w->handler.path, "");
	ck_assert_str_eq(w->handler.arg, "");
	ck_assert_int_eq(w->handler.n_command, 0);
	ck_assert_ptr_null(w->handler.command[0]);
	ck_assert_int_eq(w->handler.window, 64);
	ck_assert_int_eq(c->log.level, KF_LOG_INFO);
	ck_assert_str_eq(c->log.file, "");
	ck_assert(!c->log.syslog);
	ck_assert_str_eq(c->user, "");
	ck_assert_str_eq(c->control.socket, "/run/kfork/kforkd.sock");
	ck_assert_str_eq(c->control.metrics_listen, "");
	ck_assert_int_eq(c->control.socket_mode, 0600);
}

START_TEST(minimal_gets_defaults)
{
	struct kf_config c;
	time_t before = time(NULL);

	ck_assert_int_eq(load_text(MIN, &c), KF_OK);
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(c.path, conf);
	ck_assert_int_ge(c.loaded_at, before);
	ck_assert_str_eq(c.kafka.bootstrap, "b:9092");
	ck_assert_str_eq(c.kafka.group, "g");
	ck_assert_int_eq(c.kafka.n_topics, 1);
	ck_assert_str_eq(c.kafka.topics[0], "t");
	ck_assert_ptr_null(c.kafka.topics[1]);
	assert_defaults(&c);
	kf_config_free(&c);
	ck_assert_ptr_null(c.kafka.bootstrap);
	kf_config_free(&c);         /* twice is fine */
}
END_TEST

START_TEST(defaults_fn)
{
	struct kf_config c;

	ck_assert_int_eq(kf_config_defaults(&c), KF_OK);
	assert_defaults(&c);
	ck_assert_str_eq(c.kafka.bootstrap, "");
	ck_assert_int_eq(c.kafka.n_topics, 0);
	kf_config_free(&c);
}
END_TEST

START_TEST(example_is_valid_and_default)
{
	struct kf_config c, d;
	char path[1200];

	snprintf(path, sizeof(path), "%s/etc/kforkd.conf", kf_test_srcdir());
	ck_assert_msg(kf_config_load(path, &c, err, sizeof(err)) == KF_OK, "%s", err);
	ck_assert_str_eq(c.kafka.bootstrap, "127.0.0.1:9092");
	ck_assert_str_eq(c.kafka.group, "kfork");
	ck_assert_int_eq(c.kafka.n_topics, 1);
	ck_assert_str_eq(c.kafka.topics[0], "events");
	assert_defaults(&c);
	/* and the diff functions agree with the defaults */
	ck_assert_int_eq(kf_config_defaults(&d), KF_OK);
	free(d.kafka.bootstrap);
	free(d.kafka.group);
	free(d.kafka.topics);
	d.kafka.bootstrap = strdup("127.0.0.1:9092");
	d.kafka.group = strdup("kfork");
	d.kafka.topics = calloc(2, sizeof(char *));
	d.kafka.topics[0] = strdup("events");
	d.kafka.n_topics = 1;
	struct kf_reload_plan plan;
	kf_reload_plan(&c, &d, &plan);
	ck_assert_int_eq(plan.n, 0);
	ck_assert_uint_eq(plan.classes, 0);
	kf_config_free(&d);
	kf_config_free(&c);
}
END_TEST

START_TEST(all_keys_set)
{
	struct kf_config c;
	char text[2048];
	const char *pw = put("pw", "p4ss\n", 0640);
	const char *so = put("h.so", "", 0644);

	(void)so;
	snprintf(text, sizeof(text),
		 "kafka = { bootstrap = \"[::1]:9092, h2:19092\"; group = \"g\";\n"
		 "  topics = ( \"a\", \"b.c_d-e\" ); client_id = \"cid\";\n"
		 "  group_instance_id = \"i1\"; session_timeout_ms = 10000;\n"
		 "  heartbeat_interval_ms = 9999; rebalance_timeout_ms = 60000;\n"
		 "  assignor = \"roundrobin\"; auto_offset_reset = \"error\";\n"
		 "  commit_interval_ms = 5; isolation = \"read_committed\";\n"
		 "  fetch_min_bytes = 0; fetch_max_wait_ms = 0; fetch_max_bytes = 7;\n"
		 "  fetch_partition_max_bytes = 8; metadata_max_age_ms = 86400000;\n"
		 "  security = { protocol = \"sasl_ssl\"; ca_file = \"%s\"; cert_file = \"%s\";\n"
		 "    key_file = \"%s\"; verify_peer = false; sasl_mechanism = \"PLAIN\";\n"
		 "    username = \"u\"; password_file = \"%s\"; };\n"
		 "};\n"
		 "workers = { count = 1024; dispatch = \"key\"; ring_bytes = 65536L;\n"
		 "  max_inflight_bytes = 4294967296L; nice = -20; stall_timeout_ms = 1;\n"
		 "  shutdown_timeout_ms = 0; max_retries = 0; retry_backoff_ms = 0;\n"
		 "  on_failure = \"skip\";\n"
		 "  handler = { type = \"plugin\"; path = \"%s\"; arg = \"x=1\"; };\n"
		 "};\n"
		 "log = { level = \"trace\"; file = \"%s/kforkd.log\"; syslog = true; };\n"
		 "user = \"root\";\n"
		 "control = { socket = \"\"; metrics_listen = \":9100\"; socket_mode = \"0660\"; };\n",
		 pw, pw, pw, pw, so, dir);
	ck_assert_msg(load_text(text, &c) == KF_OK, "%s", err);
	ck_assert_str_eq(c.kafka.bootstrap, "[::1]:9092, h2:19092");
	ck_assert_int_eq(c.kafka.n_topics, 2);
	ck_assert_str_eq(c.kafka.topics[1], "b.c_d-e");
	ck_assert_str_eq(c.kafka.client_id, "cid");
	ck_assert_str_eq(c.kafka.group_instance_id, "i1");
	ck_assert_int_eq(c.kafka.session_timeout_ms, 10000);
	ck_assert_int_eq(c.kafka.heartbeat_interval_ms, 9999);
	ck_assert_int_eq(c.kafka.rebalance_timeout_ms, 60000);
	ck_assert_int_eq(c.kafka.n_assignors, 1);
	ck_assert_str_eq(c.kafka.assignors[0], "roundrobin");
	ck_assert_int_eq(c.kafka.auto_offset_reset, KF_CFG_RESET_ERROR);
	ck_assert_int_eq(c.kafka.commit_interval_ms, 5);
	ck_assert_int_eq(c.kafka.isolation, KF_CFG_READ_COMMITTED);
	ck_assert_int_eq(c.kafka.fetch_min_bytes, 0);
	ck_assert_int_eq(c.kafka.fetch_max_wait_ms, 0);
	ck_assert_int_eq(c.kafka.fetch_max_bytes, 7);
	ck_assert_int_eq(c.kafka.fetch_partition_max_bytes, 8);
	ck_assert_int_eq(c.kafka.metadata_max_age_ms, 86400000);
	ck_assert_int_eq(c.kafka.security.protocol, KF_CFG_SASL_SSL);
	ck_assert_str_eq(c.kafka.security.cert_file, pw);
	ck_assert(!c.kafka.security.verify_peer);
	ck_assert_int_eq(c.kafka.security.sasl_mechanism, KF_CFG_SASL_PLAIN);
	ck_assert_str_eq(c.kafka.security.username, "u");
	ck_assert_str_eq(c.kafka.security.password, "p4ss");
	ck_assert_int_eq(c.kafka.security.password_len, 4);
	ck_assert_int_eq(c.workers.count, 1024);
	ck_assert_int_eq(c.workers.dispatch, KF_CFG_DISPATCH_KEY);
	ck_assert_int_eq(c.workers.ring_bytes, 65536);
	ck_assert(c.workers.max_inflight_bytes == 4294967296LL);
	ck_assert_int_eq(c.workers.nice, -20);
	ck_assert_int_eq(c.workers.stall_timeout_ms, 1);
	ck_assert_int_eq(c.workers.shutdown_timeout_ms, 0);
	ck_assert_int_eq(c.workers.max_retries, 0);
	ck_assert_int_eq(c.workers.retry_backoff_ms, 0);
	ck_assert_int_eq(c.workers.on_failure, KF_CFG_ON_FAILURE_SKIP);
	ck_assert_int_eq(c.workers.handler.type, KF_CFG_HANDLER_PLUGIN);
	ck_assert_str_eq(c.workers.handler.path, so);
	ck_assert_str_eq(c.workers.handler.arg, "x=1");
	ck_assert_int_eq(c.log.level, KF_LOG_TRACE);
	ck_assert(c.log.syslog);
	ck_assert_str_eq(c.user, "root");
	ck_assert_str_eq(c.control.socket, "");
	ck_assert_str_eq(c.control.metrics_listen, ":9100");
	ck_assert_int_eq(c.control.socket_mode, 0660);
	kf_config_free(&c);
}
END_TEST

START_TEST(handlers)
{
	struct kf_config c;
	char text[512];

	ck_assert_int_eq(load_text(MIN "workers = { handler = { type = \"burn\"; usec = 7; }; };",
				   &c), KF_OK);
	ck_assert_int_eq(c.workers.handler.type, KF_CFG_HANDLER_BURN);
	ck_assert_int_eq(c.workers.handler.usec, 7);
	kf_config_free(&c);

	ck_assert_int_eq(load_text(MIN "workers = { handler = { type = \"exec\";\n"
				   "command = [ \"sh\", \"-c\", \"cat\" ]; window = 2; }; };", &c),
			 KF_OK);
	ck_assert_int_eq(c.workers.handler.type, KF_CFG_HANDLER_EXEC);
	ck_assert_int_eq(c.workers.handler.n_command, 3);
	ck_assert_str_eq(c.workers.handler.command[0], "sh");
	ck_assert_str_eq(c.workers.handler.command[2], "cat");
	ck_assert_ptr_null(c.workers.handler.command[3]);
	ck_assert_int_eq(c.workers.handler.window, 2);
	kf_config_free(&c);

	snprintf(text, sizeof(text), MIN "workers = { handler = { type = \"file\"; dir = \"%s\"; }; };",
		 dir);
	ck_assert_int_eq(load_text(text, &c), KF_OK);
	ck_assert_int_eq(c.workers.handler.type, KF_CFG_HANDLER_FILE);
	ck_assert_str_eq(c.workers.handler.dir, dir);
	kf_config_free(&c);
}
END_TEST

START_TEST(err_syntax)
{
	expect_err("kafka = {\n  bootstrap = ;\n};\n", 2, "syntax error");
	expect_err(MIN "log = { level = \"info\"; level = \"warn\"; };\n", 3,
		   "duplicate setting name");
}
END_TEST

START_TEST(err_cannot_read)
{
	struct kf_config c;
	char want[300];

	snprintf(conf, sizeof(conf), "%s/missing.conf", dir);
	ck_assert_int_eq(kf_config_load(conf, &c, err, sizeof(err)), KF_ERR);
	snprintf(want, sizeof(want), "%s:1: cannot read config: No such file or directory", conf);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(err_unknown)
{
	expect_err(MIN "\nfoo = 1;\n", 4, "unknown setting foo");
	expect_err(MIN_KAFKA "  securty = { };\n};\n", 2, "unknown setting kafka.securty");
	expect_err(MIN_KAFKA "  security = {\n bogus = true; };\n};\n", 3,
		   "unknown setting kafka.security.bogus");
	expect_err(MIN "workers = { handler = {\n type = \"noop\";\n colour = 1; }; };\n", 5,
		   "unknown setting workers.handler.colour");
	expect_err(MIN "log = { level = \"info\"; leval = \"x\"; };\n", 3,
		   "unknown setting log.leval");
}
END_TEST

START_TEST(err_inline_password)
{
	expect_err(MIN_KAFKA "  security = {\n    password = \"hunter2\"; };\n};\n", 3,
		   "unknown setting kafka.security.password (the password is read from "
		   "password_file only)");
	ck_assert_ptr_null(strstr(err, "hunter2"));
}
END_TEST

START_TEST(err_type)
{
	expect_err(MIN_KAFKA "  session_timeout_ms = \"45000\";\n};\n", 2,
		   "kafka.session_timeout_ms: expected an integer, got a string");
	expect_err(MIN_KAFKA "  session_timeout_ms = 45.0;\n};\n", 2,
		   "kafka.session_timeout_ms: expected an integer, got a float");
	expect_err(MIN_KAFKA "  security = { verify_peer = 1; };\n};\n", 2,
		   "kafka.security.verify_peer: expected a boolean (true or false), got an integer");
	expect_err("kafka = 5;\n", 1, "kafka: expected a group, got an integer");
	expect_err("kafka = { bootstrap = \"b:1\"; group = \"g\";\n topics = \"t\"; };\n", 2,
		   "kafka.topics: expected an array of strings, got a string");
	expect_err("kafka = { bootstrap = \"b:1\"; group = \"g\";\n topics = ( \"t\",\n 3 ); };\n",
		   3, "kafka.topics[1]: expected a string, got an integer");
	expect_err(MIN "user = true;\n", 3, "user: expected a string, got a boolean");
	expect_err(MIN "log = { level = 3; };\n", 3, "log.level: expected a string, got an integer");
}
END_TEST

START_TEST(err_range)
{
	expect_err(MIN "workers = { count = 0; };\n", 3,
		   "workers.count: 0 is out of range (1..1024)");
	expect_err(MIN "workers = { count = 1025; };\n", 3,
		   "workers.count: 1025 is out of range (1..1024)");
	expect_err(MIN "workers = {\n nice = 20; };\n", 4, "workers.nice: 20 is out of range (-20..19)");
	expect_err(MIN_KAFKA " session_timeout_ms = -1;\n};\n", 2,
		   "kafka.session_timeout_ms: -1 is out of range (1..2147483647)");
	expect_err(MIN_KAFKA " fetch_max_bytes = 3000000000L;\n};\n", 2,
		   "kafka.fetch_max_bytes: 3000000000 is out of range (1..2147483647)");
	expect_err(MIN "workers = { ring_bytes = 32768; };\n", 3,
		   "workers.ring_bytes: 32768 is out of range (65536..1073741824)");
	expect_err(MIN "workers = { ring_bytes = 2147483648L; };\n", 3,
		   "workers.ring_bytes: 2147483648 is out of range (65536..1073741824)");
	expect_err(MIN "workers = {\n ring_bytes = 100000; };\n", 4,
		   "workers.ring_bytes: 100000 is not a power of two");
	expect_err(MIN "workers = { handler = { type = \"exec\"; command = [ \"sh\" ];\n"
		   " window = 0; }; };\n", 4, "workers.handler.window: 0 is out of range (1..65536)");
	expect_err(MIN_KAFKA " metadata_max_age_ms = 999;\n};\n", 2,
		   "kafka.metadata_max_age_ms: 999 is out of range (1000..86400000)");
	expect_err(MIN_KAFKA "\n metadata_max_age_ms = 86400001;\n};\n", 3,
		   "kafka.metadata_max_age_ms: 86400001 is out of range (1000..86400000)");
}
END_TEST

START_TEST(err_int_truncated)
{
	struct kf_config c;

	expect_err(MIN "workers = {\n max_inflight_bytes = 5368709120; };\n", 4,
		   "integer 5368709120 does not fit in 32 bits; write 5368709120L");
	expect_err(MIN "workers = { nice = 0;\n # 1\n ring_bytes = 0x100000000; };\n", 5,
		   "integer 0x100000000 does not fit in 32 bits; write 0x100000000L");
	/* not in comments, strings or floats, and fine with L */
	ck_assert_msg(load_text(MIN "# 99999999999\n/* 99999999999\n */ control = { socket = \"99999999999\"; };\n"
				"workers = { max_inflight_bytes = 99999999999L; };\n", &c) == KF_OK,
		      "%s", err);
	ck_assert(c.workers.max_inflight_bytes == 99999999999LL);
	kf_config_free(&c);
}
END_TEST

START_TEST(err_enum)
{
	expect_err(MIN_KAFKA " assignor = \"sticky\";\n};\n", 2,
		   "kafka.assignor: unknown value \"sticky\" (expected range | roundrobin | "
		   "cooperative-sticky)");
	expect_err(MIN_KAFKA " assignor = [ \"cooperative-sticky\",\n \"sticky\" ];\n};\n", 3,
		   "kafka.assignor[1]: unknown value \"sticky\" (expected range | roundrobin | "
		   "cooperative-sticky)");
	expect_err(MIN_KAFKA " assignor = [ \"range\", \"range\" ];\n};\n", 2,
		   "kafka.assignor[1]: \"range\" is listed twice");
	expect_err(MIN_KAFKA " assignor = [ ];\n};\n", 2, "kafka.assignor: the list is empty");
	expect_err(MIN_KAFKA " assignor = 3;\n};\n", 2,
		   "kafka.assignor: expected a string or an array of strings, got an integer");
	expect_err(MIN_KAFKA " assignor = ( \"range\", 3 );\n};\n", 2,
		   "kafka.assignor[1]: expected a string, got an integer");
	expect_err(MIN_KAFKA " auto_offset_reset = \"none\";\n};\n", 2,
		   "kafka.auto_offset_reset: unknown value \"none\" (expected earliest | latest | error)");
	expect_err(MIN_KAFKA " isolation = \"serializable\";\n};\n", 2,
		   "kafka.isolation: unknown value \"serializable\" (expected read_uncommitted | "
		   "read_committed)");
	expect_err(MIN_KAFKA " security = { protocol = \"SSL\"; };\n};\n", 2,
		   "kafka.security.protocol: unknown value \"SSL\" (expected plaintext | ssl | "
		   "sasl_plaintext | sasl_ssl)");
	expect_err(MIN_KAFKA " security = { sasl_mechanism = \"GSSAPI\"; };\n};\n", 2,
		   "kafka.security.sasl_mechanism: unknown value \"GSSAPI\" (expected PLAIN | "
		   "SCRAM-SHA-256 | SCRAM-SHA-512)");
	expect_err(MIN "workers = { dispatch = \"random\"; };\n", 3,
		   "workers.dispatch: unknown value \"random\" (expected partition | key | roundrobin)");
	expect_err(MIN "workers = { on_failure = \"retry\"; };\n", 3,
		   "workers.on_failure: unknown value \"retry\" (expected pause | skip)");
	expect_err(MIN "workers = { handler = { type = \"lua\"; }; };\n", 3,
		   "workers.handler.type: unknown value \"lua\" (expected noop | file | burn | "
		   "plugin | exec)");
	expect_err(MIN "log = { level = \"verbose\"; };\n", 3,
		   "log.level: unknown value \"verbose\" (expected error | warn | info | debug | trace)");
}
END_TEST

START_TEST(err_heartbeat)
{
	expect_err(MIN_KAFKA " session_timeout_ms = 10000;\n heartbeat_interval_ms = 10000;\n};\n", 3,
		   "kafka.heartbeat_interval_ms (10000) must be less than "
		   "kafka.session_timeout_ms (10000)");
	/* heartbeat left at 3000: the session line is blamed */
	expect_err(MIN_KAFKA "\n session_timeout_ms = 2000;\n};\n", 3,
		   "kafka.heartbeat_interval_ms (3000) must be less than "
		   "kafka.session_timeout_ms (2000)");
}
END_TEST

START_TEST(err_required)
{
	expect_err("\nkafka = { bootstrap = \"b:1\";\n topics = [ \"t\" ]; };\n", 2,
		   "missing required setting kafka.group");
	expect_err("kafka = { group = \"g\"; topics = [ \"t\" ]; };\n", 1,
		   "missing required setting kafka.bootstrap");
	expect_err("kafka = {\n bootstrap = \"b:1\"; group = \"g\"; };\n", 1,
		   "missing required setting kafka.topics");
	expect_err("\n\nlog = { level = \"info\"; };\n", 1,
		   "missing required setting kafka.bootstrap");
	expect_err("", 1, "missing required setting kafka.bootstrap");
	expect_err(MIN "workers = {\n handler = { type = \"file\"; }; };\n", 4,
		   "missing required setting workers.handler.dir for handler type \"file\"");
	expect_err(MIN "workers = {\n handler = { type = \"plugin\"; arg = \"\"; }; };\n", 4,
		   "missing required setting workers.handler.path for handler type \"plugin\"");
	expect_err(MIN "workers = {\n handler = { type = \"exec\"; }; };\n", 4,
		   "missing required setting workers.handler.command for handler type \"exec\"");
	expect_err(MIN "workers = { handler = { type = \"exec\";\n command = [ ]; }; };\n", 4,
		   "workers.handler.command: must name a program");
	expect_err(MIN_KAFKA " security = { protocol = \"sasl_plaintext\"; };\n};\n", 2,
		   "kafka.security.username: required with protocol \"sasl_plaintext\"");
	expect_err(MIN_KAFKA " security = { protocol = \"sasl_ssl\";\n username = \"u\"; };\n};\n", 2,
		   "kafka.security.password_file: required with protocol \"sasl_ssl\"");
}
END_TEST

START_TEST(err_handler_key_for_other_type)
{
	expect_err(MIN "workers = { handler = {\n usec = 5; }; };\n", 4,
		   "workers.handler.usec: not a setting of handler type \"noop\"");
	expect_err(MIN "workers = { handler = { type = \"burn\";\n window = 5; }; };\n", 4,
		   "workers.handler.window: not a setting of handler type \"burn\"");
	expect_err(MIN "workers = { handler = { type = \"exec\"; command = [ \"sh\" ];\n"
		   " dir = \"/tmp\"; }; };\n", 4,
		   "workers.handler.dir: not a setting of handler type \"exec\"");
}
END_TEST

START_TEST(err_files)
{
	char text[600];
	const char *plain = put("plain", "x", 0644);

	expect_err(MIN "workers = { handler = { type = \"plugin\";\n path = \"/nonexistent/h.so\"; }; };\n",
		   4, "workers.handler.path: cannot read \"/nonexistent/h.so\": No such file or directory");
	expect_err(MIN "workers = { handler = { type = \"file\";\n dir = \"/nonexistent/out\"; }; };\n",
		   4, "workers.handler.dir: cannot use \"/nonexistent/out\": No such file or directory");
	snprintf(text, sizeof(text), MIN "workers = { handler = { type = \"file\";\n dir = \"%s\"; }; };\n",
		 plain);
	expect_err(text, 4, "workers.handler.dir: \"%s\" is not a directory", plain);
	expect_err(MIN "workers = { handler = { type = \"exec\";\n command = [ \"kf-no-such-prog\" ]; }; };\n",
		   4, "workers.handler.command: \"kf-no-such-prog\" is not found in PATH");
	expect_err(MIN "workers = { handler = { type = \"exec\";\n command = [ \"/nonexistent/x\" ]; }; };\n",
		   4, "workers.handler.command: cannot execute \"/nonexistent/x\": No such file or directory");
	expect_err(MIN_KAFKA " security = { protocol = \"ssl\";\n ca_file = \"/nonexistent/ca.pem\"; };\n};\n",
		   3, "kafka.security.ca_file: cannot read \"/nonexistent/ca.pem\": No such file or directory");
	snprintf(text, sizeof(text), MIN_KAFKA " security = { protocol = \"ssl\";\n cert_file = \"%s\"; };\n};\n",
		 plain);
	expect_err(text, 3, "kafka.security.cert_file is set but kafka.security.key_file is not");
	/* TLS files are not looked at without TLS */
	struct kf_config c;
	ck_assert_int_eq(load_text(MIN_KAFKA " security = { ca_file = \"/nonexistent\"; };\n};\n", &c),
			 KF_OK);
	kf_config_free(&c);
	expect_err(MIN "log = {\n file = \"/nonexistent/dir/kforkd.log\"; };\n", 4,
		   "log.file: directory \"/nonexistent/dir\" does not exist");
	expect_err(MIN "\nuser = \"kf-no-such-user\";\n", 4, "user: no such user \"kf-no-such-user\"");
}
END_TEST

START_TEST(err_bootstrap_topics)
{
	expect_err("kafka = { bootstrap = \"broker\"; group = \"g\"; topics = [ \"t\" ]; };\n", 1,
		   "kafka.bootstrap: \"broker\" is not HOST:PORT");
	expect_err("kafka = { bootstrap = \"a:1,b:0\"; group = \"g\"; topics = [ \"t\" ]; };\n", 1,
		   "kafka.bootstrap: \"b:0\" is not HOST:PORT");
	expect_err("kafka = { bootstrap = \"a:1,\"; group = \"g\"; topics = [ \"t\" ]; };\n", 1,
		   "kafka.bootstrap: \"\" is not HOST:PORT");
	expect_err("kafka = { bootstrap = \"::1:9092\"; group = \"g\"; topics = [ \"t\" ]; };\n", 1,
		   "kafka.bootstrap: \"::1:9092\" is not HOST:PORT");
	expect_err("kafka = { bootstrap = \"a:70000\"; group = \"g\"; topics = [ \"t\" ]; };\n", 1,
		   "kafka.bootstrap: \"a:70000\" is not HOST:PORT");
	expect_err("kafka = { bootstrap = \"a:1\"; group = \"\"; topics = [ \"t\" ]; };\n", 1,
		   "kafka.group: must not be empty");
	expect_err("kafka = { bootstrap = \"a:1\"; group = \"g\";\n topics = [ ]; };\n", 2,
		   "kafka.topics: must name at least one topic");
	expect_err("kafka = { bootstrap = \"a:1\"; group = \"g\";\n topics = [ \"a b\" ]; };\n", 2,
		   "kafka.topics: \"a b\" is not a valid topic name (1..249 of a-z A-Z 0-9 . _ -)");
	expect_err("kafka = { bootstrap = \"a:1\"; group = \"g\";\n topics = [ \"a\", \"a\" ]; };\n", 2,
		   "kafka.topics: \"a\" is listed twice");
	expect_err(MIN "control = {\n metrics_listen = \"9100\"; };\n", 4,
		   "control.metrics_listen: \"9100\" is not [HOST]:PORT");
}
END_TEST

static void sasl_conf(char *text, size_t len, const char *pw)
{
	snprintf(text, len, MIN_KAFKA " security = { protocol = \"sasl_plaintext\"; username = \"u\";\n"
		 "  password_file = \"%s\"; };\n};\n", pw);
}

START_TEST(password_file)
{
	struct kf_config c;
	char text[600];
	const char *pw;

	pw = put("pw", "hunter2-secret\n", 0644);
	sasl_conf(text, sizeof(text), pw);
	expect_err(text, 3, "kafka.security.password_file: \"%s\" is readable by every user "
		   "(mode 0644); chmod o-r it", pw);
	ck_assert_ptr_null(strstr(err, "hunter2"));

	pw = put("pw", "", 0600);
	sasl_conf(text, sizeof(text), pw);
	expect_err(text, 3, "kafka.security.password_file: \"%s\" is empty", pw);

	pw = put("pw", "\n", 0600);
	expect_err(text, 3, "kafka.security.password_file: \"%s\" is empty", pw);

	{
		/* 65536 bytes and a newline fit; one byte more does not */
		char big[65538];
		memset(big, 'x', 65536);
		strcpy(big + 65536, "\n");
		pw = put("pw", big, 0600);
		ck_assert_int_eq(load_text(text, &c), KF_OK);
		ck_assert_int_eq(c.kafka.security.password_len, 65536);
		kf_config_free(&c);
		strcpy(big + 65536, "y");
		pw = put("pw", big, 0600);
		expect_err(text, 3, "kafka.security.password_file: \"%s\" is larger than 64 KiB",
			   pw);
		ck_assert_ptr_null(strstr(err, "xxxx"));
	}

	{
		FILE *f = fopen(pw, "w");
		ck_assert_ptr_nonnull(f);
		fwrite("ab\0cd", 1, 5, f);
		fclose(f);
		expect_err(text, 3, "kafka.security.password_file: \"%s\" contains a NUL byte", pw);
	}

	/* one trailing newline only */
	pw = put("pw", "hunter2-secret\n\n", 0600);
	ck_assert_int_eq(load_text(text, &c), KF_OK);
	ck_assert_str_eq(c.kafka.security.password, "hunter2-secret\n");
	ck_assert_int_eq(c.kafka.security.password_len, 15);
	kf_config_free(&c);

	pw = put("pw", "hunter2-secret", 0400);
	ck_assert_int_eq(load_text(text, &c), KF_OK);
	ck_assert_str_eq(c.kafka.security.password, "hunter2-secret");
	kf_config_free(&c);

	snprintf(text, sizeof(text), MIN_KAFKA " security = { protocol = \"sasl_plaintext\"; username = \"u\";\n"
		 "  password_file = \"%s/nope\"; };\n};\n", dir);
	expect_err(text, 3, "kafka.security.password_file: cannot read \"%s/nope\": "
		   "No such file or directory", dir);

	/* a later error after reading the password does not leak it either */
	pw = put("pw", "hunter2-secret", 0600);
	snprintf(text, sizeof(text), MIN_KAFKA " security = { protocol = \"sasl_plaintext\"; username = \"u\";\n"
		 "  password_file = \"%s\"; };\n};\nfoo = \"x\";\n", pw);
	expect_err(text, 5, "unknown setting foo");
	ck_assert_ptr_null(strstr(err, "hunter2"));
}
END_TEST

START_TEST(include_file)
{
	struct kf_config c;
	char want[400];

	put("w.conf", "workers = {\n  count = 2;\n};\n", 0644);
	ck_assert_msg(load_text(MIN "@include \"w.conf\"\n", &c) == KF_OK, "%s", err);
	ck_assert_int_eq(c.workers.count, 2);
	kf_config_free(&c);

	put("w.conf", "workers = {\n  count = -2;\n};\n", 0644);
	ck_assert_int_eq(load_text(MIN "@include \"w.conf\"\n", &c), KF_ERR);
	snprintf(want, sizeof(want), "%s/w.conf:2: workers.count: -2 is out of range (1..1024)", dir);
	ck_assert_str_eq(err, want);

	put("w.conf", "workers = {\n  count = 4294967297;\n};\n", 0644);
	ck_assert_int_eq(load_text(MIN "@include \"w.conf\"\n", &c), KF_ERR);
	snprintf(want, sizeof(want), "%s/w.conf:2: integer 4294967297 does not fit in 32 bits; "
		 "write 4294967297L", dir);
	ck_assert_str_eq(err, want);

	put("w.conf", "workers = {\n  count = ;\n};\n", 0644);
	ck_assert_int_eq(load_text(MIN "@include \"w.conf\"\n", &c), KF_ERR);
	snprintf(want, sizeof(want), "%s/w.conf:2: syntax error", dir);
	ck_assert_str_eq(err, want);

	ck_assert_int_eq(load_text(MIN "@include \"/etc/kfork/w.conf\"\n", &c), KF_ERR);
	snprintf(want, sizeof(want), "%s:3: @include takes a path relative to the config's "
		 "directory (%s)", conf, dir);
	ck_assert_str_eq(err, want);
}
END_TEST

/*
 * The reload plan, key by key: each entry changes one key from a baseline
 * (MIN plus base), and the plan must name exactly that key, in its class.
 * Every key the loader knows must have an entry here.
 */
#define H_FILE "workers = { handler = { type = \"file\"; dir = \"/\"; }; };\n"
#define H_BURN "workers = { handler = { type = \"burn\"; }; };\n"
#define H_EXEC "workers = { handler = { type = \"exec\"; command = [ \"/bin/cat\" ]; }; };\n"
static const struct {
	const char *key;
	enum kf_reload_class cls;
	const char *kafka;  /* inside the kafka group of the changed config */
	const char *rest;   /* after it, in the changed config ("": base) */
	const char *base;   /* after the kafka group, in the baseline */
} plan_keys[] = {
	{ "kafka.bootstrap", KF_RELOAD_KAFKA, NULL, NULL, NULL },   /* MIN_KAFKA2 */
	{ "kafka.group", KF_RELOAD_KAFKA, NULL, NULL, NULL },
	{ "kafka.topics", KF_RELOAD_KAFKA, NULL, NULL, NULL },
	{ "kafka.client_id", KF_RELOAD_KAFKA, "client_id = \"c2\";", "", "" },
	{ "kafka.group_instance_id", KF_RELOAD_KAFKA, "group_instance_id = \"i\";", "", "" },
	{ "kafka.session_timeout_ms", KF_RELOAD_KAFKA, "session_timeout_ms = 30000;", "", "" },
	{ "kafka.heartbeat_interval_ms", KF_RELOAD_KAFKA, "heartbeat_interval_ms = 2000;", "", "" },
	{ "kafka.rebalance_timeout_ms", KF_RELOAD_KAFKA, "rebalance_timeout_ms = 60000;", "", "" },
	{ "kafka.assignor", KF_RELOAD_KAFKA, "assignor = \"roundrobin\";", "", "" },
	{ "kafka.auto_offset_reset", KF_RELOAD_KAFKA, "auto_offset_reset = \"latest\";", "", "" },
	{ "kafka.commit_interval_ms", KF_RELOAD_KAFKA, "commit_interval_ms = 5000;", "", "" },
	{ "kafka.isolation", KF_RELOAD_KAFKA, "isolation = \"read_committed\";", "", "" },
	{ "kafka.fetch_min_bytes", KF_RELOAD_KAFKA, "fetch_min_bytes = 10;", "", "" },
	{ "kafka.fetch_max_wait_ms", KF_RELOAD_KAFKA, "fetch_max_wait_ms = 100;", "", "" },
	{ "kafka.fetch_max_bytes", KF_RELOAD_KAFKA, "fetch_max_bytes = 1000000;", "", "" },
	{ "kafka.fetch_partition_max_bytes", KF_RELOAD_KAFKA, "fetch_partition_max_bytes = 1000;",
	  "", "" },
	{ "kafka.metadata_max_age_ms", KF_RELOAD_KAFKA, "metadata_max_age_ms = 60000;", "", "" },
	{ "kafka.security.protocol", KF_RELOAD_KAFKA, "security = { protocol = \"ssl\"; };", "",
	  "" },
	{ "kafka.security.ca_file", KF_RELOAD_KAFKA, "security = { ca_file = \"/dev/null\"; };",
	  "", "" },
	{ "kafka.security.cert_file", KF_RELOAD_KAFKA,
	  "security = { cert_file = \"/dev/null\"; };", "", "" },
	{ "kafka.security.key_file", KF_RELOAD_KAFKA, "security = { key_file = \"/dev/null\"; };",
	  "", "" },
	{ "kafka.security.key_password_file", KF_RELOAD_KAFKA,
	  "security = { key_password_file = \"/dev/null\"; };", "", "" },
	{ "kafka.security.verify_peer", KF_RELOAD_KAFKA, "security = { verify_peer = false; };", "",
	  "" },
	{ "kafka.security.sasl_mechanism", KF_RELOAD_KAFKA,
	  "security = { sasl_mechanism = \"PLAIN\"; };", "", "" },
	{ "kafka.security.username", KF_RELOAD_KAFKA, "security = { username = \"u\"; };", "", "" },
	{ "kafka.security.password_file", KF_RELOAD_KAFKA,
	  "security = { password_file = \"/dev/null\"; };", "", "" },
	{ "workers.count", KF_RELOAD_LIVE, "", "workers = { count = 3; };\n", "" },
	{ "workers.dispatch", KF_RELOAD_REDISPATCH, "", "workers = { dispatch = \"key\"; };\n", "" },
	{ "workers.ring_bytes", KF_RELOAD_ROLL, "", "workers = { ring_bytes = 65536L; };\n", "" },
	{ "workers.max_inflight_bytes", KF_RELOAD_LIVE, "",
	  "workers = { max_inflight_bytes = 65536L; };\n", "" },
	{ "workers.max_inflight_ms", KF_RELOAD_LIVE, "", "workers = { max_inflight_ms = 5; };\n",
	  "" },
	{ "workers.nice", KF_RELOAD_ROLL, "", "workers = { nice = 0; };\n", "" },
	{ "workers.stall_timeout_ms", KF_RELOAD_LIVE, "", "workers = { stall_timeout_ms = 5; };\n",
	  "" },
	{ "workers.shutdown_timeout_ms", KF_RELOAD_LIVE, "",
	  "workers = { shutdown_timeout_ms = 5; };\n", "" },
	{ "workers.max_retries", KF_RELOAD_ROLL, "", "workers = { max_retries = 0; };\n", "" },
	{ "workers.retry_backoff_ms", KF_RELOAD_ROLL, "", "workers = { retry_backoff_ms = 5; };\n",
	  "" },
	{ "workers.on_failure", KF_RELOAD_LIVE, "", "workers = { on_failure = \"skip\"; };\n", "" },
	{ "workers.handler.type", KF_RELOAD_ROLL, "", H_BURN, "" },
	{ "workers.handler.dir", KF_RELOAD_ROLL, "",
	  "workers = { handler = { type = \"file\"; dir = \"/tmp\"; }; };\n", H_FILE },
	{ "workers.handler.usec", KF_RELOAD_ROLL, "",
	  "workers = { handler = { type = \"burn\"; usec = 5L; }; };\n", H_BURN },
	{ "workers.handler.path", KF_RELOAD_ROLL, NULL, NULL, NULL },     /* plugin_keys */
	{ "workers.handler.arg", KF_RELOAD_ROLL, NULL, NULL, NULL },
	{ "workers.handler.command", KF_RELOAD_ROLL, "",
	  "workers = { handler = { type = \"exec\"; command = [ \"/bin/cat\", \"-u\" ]; }; };\n",
	  H_EXEC },
	{ "workers.handler.window", KF_RELOAD_ROLL, "",
	  "workers = { handler = { type = \"exec\"; command = [ \"/bin/cat\" ]; window = 8; }; };\n",
	  H_EXEC },
	{ "log.level", KF_RELOAD_LIVE, "", "log = { level = \"debug\"; };\n", "" },
	{ "log.file", KF_RELOAD_NEXT_START, "", "log = { file = \"/dev/null\"; };\n", "" },
	{ "log.syslog", KF_RELOAD_NEXT_START, "", "log = { syslog = true; };\n", "" },
	{ "user", KF_RELOAD_NEXT_START, "", "user = \"root\";\n", "" },
	{ "control.socket", KF_RELOAD_LIVE, "", "control = { socket = \"\"; };\n", "" },
	{ "control.metrics_listen", KF_RELOAD_LIVE, "", "control = { metrics_listen = \":9100\"; };\n",
	  "" },
	{ "control.socket_mode", KF_RELOAD_LIVE, "", "control = { socket_mode = \"0660\"; };\n", "" },
};

static void expect_plan(const struct kf_config *a, const struct kf_config *b, const char *key,
			enum kf_reload_class cls)
{
	struct kf_reload_plan plan;
	kf_reload_plan(a, b, &plan);
	ck_assert_msg(plan.n == 1 && strcmp(plan.changed[0].key, key) == 0,
		      "%s: plan has %d keys, the first %s", key, plan.n,
		      plan.n ? plan.changed[0].key : "-");
	ck_assert_msg(plan.changed[0].reload == cls && plan.classes == (unsigned)cls,
		      "%s: class %s", key, kf_reload_class_name(plan.changed[0].reload));
	ck_assert(kf_reload_plan_has(&plan, key));
	/* and the other way round, the same key */
	kf_reload_plan(b, a, &plan);
	ck_assert_msg(plan.n == 1 && strcmp(plan.changed[0].key, key) == 0, "%s reversed", key);
}

START_TEST(reload_plan_key_by_key)
{
	struct kf_config a, b;
	char ta[1024], tb[1024];
	char so[400];
	snprintf(so, sizeof(so), "%s", put("h.so", "", 0644));

	for (size_t i = 0; i < sizeof(plan_keys) / sizeof(plan_keys[0]); i++) {
		if (!plan_keys[i].kafka)
			continue;   /* below */
		snprintf(ta, sizeof(ta), MIN "%s", plan_keys[i].base);
		snprintf(tb, sizeof(tb), MIN_KAFKA "%s\n};\n%s", plan_keys[i].kafka,
			 plan_keys[i].rest[0] ? plan_keys[i].rest : plan_keys[i].base);
		ck_assert_msg(load_text(ta, &a) == KF_OK, "%s: %s", plan_keys[i].key, err);
		ck_assert_msg(load_text(tb, &b) == KF_OK, "%s: %s", plan_keys[i].key, err);
		expect_plan(&a, &b, plan_keys[i].key, plan_keys[i].cls);
		kf_config_free(&a);
		kf_config_free(&b);
	}
	/* The required keys and the plugin's: both configs written whole
	 * (%s: a plugin file, h.so in a, h2.so in b). */
#define K_OF(b, g, t) "kafka = { bootstrap = \"" b "\"; group = \"" g "\"; topics = [ \"" t "\" ]; };\n"
#define PLUGIN(arg) "workers = { handler = { type = \"plugin\"; path = \"%s\"; arg = \"" arg "\"; }; };\n"
	static const struct { const char *key; const char *a, *b; } whole[] = {
		{ "kafka.bootstrap", K_OF("b:9092", "g", "t"), K_OF("b2:9092", "g", "t") },
		{ "kafka.group", K_OF("b:9092", "g", "t"), K_OF("b:9092", "g2", "t") },
		{ "kafka.topics", K_OF("b:9092", "g", "t"), K_OF("b:9092", "g", "u") },
		{ "workers.handler.path", MIN PLUGIN("x"), MIN PLUGIN("x") },
		{ "workers.handler.arg", MIN PLUGIN("x"), MIN "%s" },
	};
#undef K_OF
	char so2[400], pl2[600];
	snprintf(so2, sizeof(so2), "%s", put("h2.so", "", 0644));
	snprintf(pl2, sizeof(pl2), "workers = { handler = { type = \"plugin\"; path = \"%s\";"
		 " arg = \"y\"; }; };\n", so);
#undef PLUGIN
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
		const char *k = whole[i].key;
		bool arg = strcmp(k, "workers.handler.arg") == 0;
		snprintf(ta, sizeof(ta), whole[i].a, so);
		snprintf(tb, sizeof(tb), whole[i].b, arg ? pl2 : so2);
		ck_assert_msg(load_text(ta, &a) == KF_OK, "%s: %s", k, err);
		ck_assert_msg(load_text(tb, &b) == KF_OK, "%s: %s", k, err);
		expect_plan(&a, &b, k, strncmp(k, "kafka.", 6) == 0 ? KF_RELOAD_KAFKA : KF_RELOAD_ROLL);
		kf_config_free(&a);
		kf_config_free(&b);
	}
	/* Every key the loader knows is in plan_keys, in its class. */
	const char *names[KF_RELOAD_MAX_KEYS];
	enum kf_reload_class classes[KF_RELOAD_MAX_KEYS];
	size_t n = kf_config_keys(names, classes, KF_RELOAD_MAX_KEYS);
	ck_assert_uint_eq(n, sizeof(plan_keys) / sizeof(plan_keys[0]));
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < n && strcmp(plan_keys[j].key, names[i]) != 0)
			j++;
		ck_assert_msg(j < n, "%s has no entry in plan_keys", names[i]);
		ck_assert_msg(plan_keys[j].cls == classes[i], "%s: class", names[i]);
	}
}
END_TEST

/* Several keys at once; what the log line says; kf_config_keep. */
START_TEST(reload_plan_describe_keep)
{
	struct kf_config a, b;
	struct kf_reload_plan plan;
	char what[300];

	ck_assert_int_eq(load_text(MIN, &a), KF_OK);
	ck_assert_int_eq(load_text(MIN, &b), KF_OK);
	kf_reload_plan(&a, &b, &plan);
	ck_assert_int_eq(plan.n, 0);
	ck_assert_uint_eq(kf_reload_plan_describe(&plan, what, sizeof(what)), 0);
	ck_assert_str_eq(what, "");
	kf_config_free(&b);
	ck_assert_msg(load_text(MIN_KAFKA " client_id = \"c2\"; fetch_max_wait_ms = 9;\n};\n"
				"workers = { count = 2; nice = 1; dispatch = \"key\"; };\n"
				"log = { level = \"debug\"; file = \"/dev/null\"; };\n"
				"user = \"root\";\n", &b) == KF_OK, "%s", err);
	kf_reload_plan(&a, &b, &plan);
	ck_assert_int_eq(plan.n, 8);
	ck_assert_uint_eq(plan.classes, KF_RELOAD_LIVE | KF_RELOAD_ROLL | KF_RELOAD_REDISPATCH |
					KF_RELOAD_KAFKA | KF_RELOAD_NEXT_START);
	size_t need = kf_reload_plan_describe(&plan, what, sizeof(what));
	ck_assert_str_eq(what, "at once: workers.count, log.level; rolling replacement: "
			 "workers.nice; redispatch: workers.dispatch; Kafka restart: "
			 "kafka.client_id, kafka.fetch_max_wait_ms; next start: log.file, user");
	ck_assert_uint_eq(need, strlen(what));
	/* cut short: still terminated, and the length it needed */
	char small[20];
	ck_assert_uint_eq(kf_reload_plan_describe(&plan, small, sizeof(small)), need);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);

	/* keep: b takes a's Kafka part and next-start keys, a gets b's */
	kf_config_keep(&b, &a, KF_RELOAD_KAFKA);
	kf_config_keep(&b, &a, KF_RELOAD_NEXT_START);
	ck_assert_str_eq(b.kafka.client_id, "kforkd");
	ck_assert_int_eq(b.kafka.fetch_max_wait_ms, 500);
	ck_assert_str_eq(b.log.file, "");
	ck_assert_str_eq(b.user, "");
	ck_assert_int_eq(b.workers.count, 2);        /* live: the new value */
	ck_assert_int_eq(b.log.level, KF_LOG_DEBUG);
	ck_assert_str_eq(a.kafka.client_id, "c2");
	ck_assert_str_eq(a.user, "root");
	kf_reload_plan(&a, &b, &plan);
	ck_assert_uint_eq(plan.classes, KF_RELOAD_LIVE | KF_RELOAD_ROLL | KF_RELOAD_REDISPATCH |
					KF_RELOAD_KAFKA | KF_RELOAD_NEXT_START);
	kf_config_free(&a);
	kf_config_free(&b);
}
END_TEST

/* key_password_file: needs key_file, must exist, must not be readable by
 * every user; a changed path is a Kafka change. */
START_TEST(key_password_file)
{
	struct kf_config a, b;
	char text[2048];
	/* put() answers in one buffer: keep copies */
	char crt[256], key[256], pass[256], open_pass[256];
	snprintf(crt, sizeof(crt), "%s", put("c.pem", "x\n", 0644));
	snprintf(key, sizeof(key), "%s", put("k.pem", "x\n", 0600));
	snprintf(pass, sizeof(pass), "%s", put("k.pass", "secret\n", 0600));
	snprintf(open_pass, sizeof(open_pass), "%s", put("k-open.pass", "secret\n", 0644));

	snprintf(text, sizeof(text), MIN_KAFKA " security = { protocol = \"ssl\";\n"
		 "  key_password_file = \"%s\"; };\n};\n", pass);
	expect_err(text, 3, "kafka.security.key_password_file is set but kafka.security.key_file "
		   "is not");
	snprintf(text, sizeof(text), MIN_KAFKA " security = { protocol = \"ssl\"; cert_file = \"%s\";\n"
		 "  key_file = \"%s\";\n  key_password_file = \"%s\"; };\n};\n", crt, key, open_pass);
	expect_err(text, 4, "kafka.security.key_password_file: \"%s\" is readable by every user "
		   "(mode 0644); chmod o-r it", open_pass);
	snprintf(text, sizeof(text), MIN_KAFKA " security = { protocol = \"ssl\"; cert_file = \"%s\";\n"
		 "  key_file = \"%s\";\n  key_password_file = \"%s\"; };\n};\n", crt, key, pass);
	ck_assert_msg(load_text(text, &a) == KF_OK, "%s", err);
	ck_assert_str_eq(a.kafka.security.key_password_file, pass);
	snprintf(text, sizeof(text), MIN_KAFKA " security = { protocol = \"ssl\"; cert_file = \"%s\";\n"
		 "  key_file = \"%s\"; };\n};\n", crt, key);
	ck_assert_msg(load_text(text, &b) == KF_OK, "%s", err);
	struct kf_reload_plan plan;
	kf_reload_plan(&a, &b, &plan);
	ck_assert(kf_reload_plan_has(&plan, "kafka.security.key_password_file"));
	ck_assert_uint_eq(plan.classes, KF_RELOAD_KAFKA);
	kf_config_free(&a);
	kf_config_free(&b);
}
END_TEST

/* @include: a regular file relative to the config's directory works; a
 * directory ("" or ".") or a FIFO is refused before libconfig sees it
 * (libconfig 1.5 exits the process on a directory and blocks on a FIFO;
 * found by fuzz_config). */
START_TEST(include_targets)
{
	struct kf_config c;
	char fifo[400];

	put("inc.conf", "log = { level = \"debug\"; };\n", 0644);
	ck_assert_msg(load_text(MIN "@include \"inc.conf\"\n", &c) == KF_OK, "%s", err);
	ck_assert_int_eq(c.log.level, KF_LOG_DEBUG);
	kf_config_free(&c);
	ck_assert_int_eq(load_text(MIN "@include \"\"\n", &c), KF_ERR);
	ck_assert_msg(strstr(err, ":3: @include \"\": ") && strstr(err, "is not a regular file"),
		      "%s", err);
	ck_assert_int_eq(load_text(MIN "\n@include \".\"\n", &c), KF_ERR);
	ck_assert_msg(strstr(err, ":4: @include \".\": "), "%s", err);
	ck_assert_int_eq(load_text(MIN "@include \"\\x2e\"\n", &c), KF_ERR);   /* "." */
	ck_assert_msg(strstr(err, ":3: @include \".\": "), "%s", err);
	snprintf(fifo, sizeof(fifo), "%s", put("fifo-tmp", "", 0644));
	unlink(fifo);
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	ck_assert_int_eq(load_text(MIN "@include \"fifo-tmp\"\n", &c), KF_ERR);
	ck_assert_msg(strstr(err, "@include \"fifo-tmp\": ") && strstr(err, "not a regular file"),
		      "%s", err);
	/* an included file's own @include is checked too */
	put("inc2.conf", "@include \"\"\n", 0644);
	ck_assert_int_eq(load_text(MIN "@include \"inc2.conf\"\n", &c), KF_ERR);
	ck_assert_msg(strstr(err, "inc2.conf:1: @include \"\": "), "%s", err);
	/* a NUL byte anywhere, here in an @include name, which libconfig read
	 * as "" (found by fuzz_config) */
	static const char nul[] = MIN "\n@include \"\0\0\0\t.conf\"\n";
	FILE *f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(nul, 1, sizeof(nul) - 1, f), sizeof(nul) - 1);
	fclose(f);
	ck_assert_int_eq(kf_config_load(conf, &c, err, sizeof(err)), KF_ERR);
	ck_assert_msg(strstr(err, "c.conf:4: a NUL byte: a config file is text"), "%s", err);
}
END_TEST

/* A reload re-reads password_file: new content in the same file is a
 * Kafka change (the connections must authenticate again). */
START_TEST(changed_password)
{
	struct kf_config a, b;
	char text[600];
	const char *pw = put("pw-reload", "first-secret\n", 0600);

	sasl_conf(text, sizeof(text), pw);
	ck_assert_msg(load_text(text, &a) == KF_OK, "%s", err);
	ck_assert_msg(load_text(text, &b) == KF_OK, "%s", err);
	struct kf_reload_plan plan;
	kf_reload_plan(&a, &b, &plan);
	ck_assert_int_eq(plan.n, 0);
	kf_config_free(&b);
	put("pw-reload", "second-secret\n", 0600);
	ck_assert_msg(load_text(text, &b) == KF_OK, "%s", err);
	kf_reload_plan(&a, &b, &plan);
	ck_assert_int_eq(plan.n, 1);
	ck_assert_str_eq(plan.changed[0].key, "kafka.security.password_file (its content)");
	ck_assert_uint_eq(plan.classes, KF_RELOAD_KAFKA);
	kf_config_free(&b);
	kf_config_free(&a);
}
END_TEST

/* control.socket_mode: an octal string of 3 or 4 digits, stored as bits. */
START_TEST(socket_mode)
{
	static const struct { const char *text; int mode; } ok[] = {
		{ "0600", 0600 }, { "660", 0660 }, { "0777", 0777 }, { "000", 0 },
		{ "1770", 01770 },
	};
	static const char *const bad[] = {
		"0680", "60", "00600", "", "rw-------", "0x1b0", " 600", "600 ", "-600", "+600",
	};
	struct kf_config c;
	char text[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), MIN "control = { socket_mode = \"%s\"; };\n", ok[i].text);
		ck_assert_msg(load_text(text, &c) == KF_OK, "%s: %s", ok[i].text, err);
		ck_assert_int_eq(c.control.socket_mode, ok[i].mode);
		kf_config_free(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), MIN "control = {\n socket_mode = \"%s\"; };\n", bad[i]);
		expect_err(text, 4, "control.socket_mode: \"%s\" is not an octal mode of 3 or 4 "
			   "digits (e.g. \"0660\")", bad[i]);
	}
	/* an integer would be read as decimal (0600 is 600): refused */
	expect_err(MIN "control = { socket_mode = 0600; };\n", 3,
		   "control.socket_mode: expected a string, got an integer");
}
END_TEST

START_TEST(small_err_buffer)
{
	struct kf_config c;
	char small[12];

	put("c.conf", MIN "foo = 1;\n", 0644);
	ck_assert_int_eq(kf_config_load(conf, &c, small, sizeof(small)), KF_ERR);
	ck_assert_int_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(strncmp(small, conf, sizeof(small) - 1), 0);
	ck_assert_int_eq(kf_config_load(conf, &c, small, 0), KF_ERR);
}
END_TEST

START_TEST(names)
{
	ck_assert_str_eq(kf_cfg_protocol_name(KF_CFG_SASL_SSL), "sasl_ssl");
	ck_assert_str_eq(kf_cfg_sasl_mech_name(KF_CFG_SASL_SCRAM_SHA_256), "SCRAM-SHA-256");
	ck_assert_str_eq(kf_cfg_handler_type_name(KF_CFG_HANDLER_EXEC), "exec");
	ck_assert_str_eq(kf_cfg_dispatch_name(KF_CFG_DISPATCH_ROUNDROBIN), "roundrobin");
	ck_assert_str_eq(kf_cfg_dispatch_name((enum kf_cfg_dispatch)7), "?");
}
END_TEST

Suite *suite_config(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, minimal_gets_defaults);
	tcase_add_test(tc, defaults_fn);
	tcase_add_test(tc, example_is_valid_and_default);
	tcase_add_test(tc, all_keys_set);
	tcase_add_test(tc, handlers);
	tcase_add_test(tc, err_syntax);
	tcase_add_test(tc, err_cannot_read);
	tcase_add_test(tc, err_unknown);
	tcase_add_test(tc, err_inline_password);
	tcase_add_test(tc, err_type);
	tcase_add_test(tc, err_range);
	tcase_add_test(tc, err_int_truncated);
	tcase_add_test(tc, err_enum);
	tcase_add_test(tc, err_heartbeat);
	tcase_add_test(tc, err_required);
	tcase_add_test(tc, err_handler_key_for_other_type);
	tcase_add_test(tc, err_files);
	tcase_add_test(tc, err_bootstrap_topics);
	tcase_add_test(tc, password_file);
	tcase_add_test(tc, include_file);
	tcase_add_test(tc, reload_plan_key_by_key);
	tcase_add_test(tc, reload_plan_describe_keep);
	tcase_add_test(tc, changed_password);
	tcase_add_test(tc, include_targets);
	tcase_add_test(tc, key_password_file);
	tcase_add_test(tc, socket_mode);
	tcase_add_test(tc, small_err_buffer);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);
	return s;
}
