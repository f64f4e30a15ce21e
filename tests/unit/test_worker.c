/*
 * Worker suite: a real ring (kf_ring_create), a forked child running
 * kf_worker_main, records pushed and acks popped as the supervisor does.
 * The plugin tests load tests/worker/test_plugin*.so from the build
 * directory (tests run there); the exec tests run the Python handlers of
 * tests/worker/ and etc/examples/ from the source directory ($srcdir from
 * the test driver, else derived from this file's path).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "ring.h"
#include "suites.h"
#include "worker.h"

struct wt {
	struct kf_ring ring;
	pid_t pid;
	char dir[64];               /* scratch directory */
	char errlog[128];           /* the worker's stderr */
	struct rusage ru;           /* of the exited worker */
};

struct got {
	uint32_t slot, status, attempts;
	int64_t offset;
	uint64_t end;
	char reason[KF_RING_REASON_MAX + 1];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The source directory, where the test scripts live (see suites.h). */
const char *kf_test_srcdir(void)
{
	static char dir[1024];
	const char *env = getenv("srcdir");
	const char *me = "tests/unit/test_worker.c";

	if (env)
		return env;
	if (!dir[0]) {
		/* __FILE__ is the path make compiled, relative to the top
		 * build directory (or absolute). */
		size_t n = strlen(__FILE__), m = strlen(me);
		if (n >= m && strcmp(__FILE__ + n - m, me) == 0)
			snprintf(dir, sizeof(dir), "%.*s", (int)(n - m), __FILE__);
		if (!dir[0])
			strcpy(dir, "./");
	}
	return dir;
}

static void conf_init(struct kf_worker_conf *c, enum kf_handler_type type)
{
	memset(c, 0, sizeof(*c));
	c->id = 0;
	c->handler.type = type;
	c->max_retries = 2;
	c->retry_backoff_ms = 10;
	c->nice = 0;
	c->supervisor_pid = getpid();
}

static void wt_setup(struct wt *t)
{
	char err[200];

	memset(t, 0, sizeof(*t));
	strcpy(t->dir, "/tmp/kf_worker_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->errlog, sizeof(t->errlog), "%s/stderr", t->dir);
	ck_assert_int_eq(kf_ring_create(&t->ring, 1 << 16, 1 << 13, err, sizeof(err)), KF_OK);
	ck_assert_int_eq(kf_ring_set_topic(&t->ring, 0, "events"), KF_OK);
	ck_assert_int_eq(kf_ring_set_topic(&t->ring, 1, "other.topic"), KF_OK);
}

static void wt_start(struct wt *t, const struct kf_worker_conf *c)
{
	t->pid = fork();
	ck_assert_int_ne(t->pid, -1);
	if (t->pid == 0) {
		struct rlimit nocore = { 0, 0 };
		setrlimit(RLIMIT_CORE, &nocore);
		int fd = open(t->errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		_exit(kf_worker_main(&t->ring, c));
	}
}

/* Wait up to ms for the worker to exit; its wait status, or -1. */
static int wt_wait(struct wt *t, int ms)
{
	int64_t until = now_ms() + ms;
	int status;

	for (;;) {
		pid_t p = wait4(t->pid, &status, WNOHANG, &t->ru);
		if (p == t->pid) {
			t->pid = 0;
			return status;
		}
		if (now_ms() > until)
			return -1;
		sleep_ms(5);
	}
}

/* KF_TEST_KEEP=1 keeps the scratch directories (worker stderr, dumps). */
static void rm_rf(const char *dir)
{
	char cmd[200];
	if (getenv("KF_TEST_KEEP"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void wt_teardown(struct wt *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	kf_ring_destroy(&t->ring);
	rm_rf(t->dir);
}

static void push_full(struct wt *t, uint32_t topic, int32_t partition, int64_t offset,
		      const void *key, int32_t klen, const void *value, int32_t vlen,
		      const void *headers, uint32_t hlen, int32_t hcount)
{
	struct kf_ring_rec r = {
		.slot = (uint32_t)partition + 100,
		.topic = topic,
		.partition = partition,
		.offset = offset,
		.timestamp = 1700000000000 + offset,
		.key = key, .key_len = klen,
		.value = value, .value_len = vlen,
		.headers = headers, .headers_len = hlen, .header_count = hcount,
	};
	ck_assert_int_eq(kf_ring_push(&t->ring, &r), KF_OK);
}

/* A record on topic 0, partition 0, key "k<offset>", value as given. */
static void push(struct wt *t, int64_t offset, const char *value)
{
	char key[32];
	int n = snprintf(key, sizeof(key), "k%lld", (long long)offset);
	push_full(t, 0, 0, offset, key, n, value, value ? (int32_t)strlen(value) : -1, NULL, 0, 0);
}

/* Pop one ack, waiting up to ms.  1 or 0 (timeout). */
static int pop(struct wt *t, struct got *g, int ms)
{
	int64_t until = now_ms() + ms;
	struct kf_ring_ack a;

	for (;;) {
		int rc = kf_ring_ack_pop(&t->ring, &a);
		ck_assert_int_ge(rc, 0);
		if (rc == 1) {
			g->slot = a.slot;
			g->status = a.status;
			g->attempts = a.attempts;
			g->offset = a.offset;
			g->end = a.end;
			snprintf(g->reason, sizeof(g->reason), "%s", a.reason);
			return 1;
		}
		int64_t left = until - now_ms();
		if (left <= 0)
			return 0;
		if (kf_ring_ack_sleep(&t->ring)) {
			struct pollfd p = { .fd = t->ring.ack_efd, .events = POLLIN };
			poll(&p, 1, (int)left);
			kf_ring_ack_woken(&t->ring);
		}
	}
}

static void expect_ack(struct wt *t, int64_t offset, uint32_t status, uint32_t attempts,
		       const char *reason)
{
	struct got g;
	ck_assert_msg(pop(t, &g, 10000) == 1, "no ack for offset %lld", (long long)offset);
	ck_assert_int_eq(g.offset, offset);
	ck_assert_uint_eq(g.status, status);
	ck_assert_uint_eq(g.attempts, attempts);
	ck_assert_uint_eq(g.slot, 100);
	if (reason)
		ck_assert_msg(strstr(g.reason, reason) != NULL, "offset %lld: reason \"%s\" lacks \"%s\"",
			      (long long)offset, g.reason, reason);
	else
		ck_assert_str_eq(g.reason, "");
}

static void expect_no_ack(struct wt *t, int ms)
{
	struct got g;
	ck_assert_msg(pop(t, &g, ms) == 0, "unexpected ack for offset %lld", (long long)g.offset);
}

static void stop_ok(struct wt *t)
{
	kill(t->pid, SIGTERM);
	int st = wt_wait(t, 5000);
	ck_assert_msg(st != -1, "worker did not exit after SIGTERM");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker wait status %#x", st);
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	if (!f)
		return strcpy(buf, "<missing>");
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- names, noop, file, burn ---- */

START_TEST(type_names)
{
	/* The config's words (lib/kfconfig.c), the one list of them. */
	ck_assert_str_eq(kf_handler_type_name(KF_HANDLER_NOOP), "noop");
	ck_assert_str_eq(kf_handler_type_name(KF_HANDLER_FILE), "file");
	ck_assert_str_eq(kf_handler_type_name(KF_HANDLER_BURN), "burn");
	ck_assert_str_eq(kf_handler_type_name(KF_HANDLER_PLUGIN), "plugin");
	ck_assert_str_eq(kf_handler_type_name(KF_HANDLER_EXEC), "exec");
	ck_assert_str_eq(kf_handler_type_name((enum kf_handler_type)(KF_HANDLER_EXEC + 1)), "?");
}
END_TEST

START_TEST(noop_acks_in_order)
{
	struct wt t;
	struct kf_worker_conf c;
	uint64_t last_end = 0;

	wt_setup(&t);
	conf_init(&c, KF_HANDLER_NOOP);
	wt_start(&t, &c);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 200; i++)
			push(&t, round * 200 + i, "v");
		for (int i = 0; i < 200; i++) {
			struct got g;
			ck_assert_int_eq(pop(&t, &g, 5000), 1);
			ck_assert_int_eq(g.offset, round * 200 + i);
			ck_assert_uint_eq(g.status, KF_ACK_OK);
			ck_assert_uint_eq(g.attempts, 1);
			ck_assert_uint_gt(g.end, last_end);
			last_end = g.end;
		}
	}
	ck_assert_uint_eq(kf_ring_rec_used(&t.ring), 0);
	stop_ok(&t);
	wt_teardown(&t);
}
END_TEST

START_TEST(file_lines_exact)
{
	struct wt t;
	struct kf_worker_conf c;
	static const uint8_t bin[] = { 0x00, 0xff, 0x0a, 0x7f, 0xab };
	char path[160];

	wt_setup(&t);
	conf_init(&c, KF_HANDLER_FILE);
	c.id = 3;
	c.handler.dir = t.dir;
	wt_start(&t, &c);
	push_full(&t, 0, 0, 5, "key", 3, "value", 5, NULL, 0, 0);
	push_full(&t, 0, 0, 6, NULL, -1, "AB", 2, NULL, 0, 0);
	push_full(&t, 1, 0, 7, bin, 5, NULL, -1, NULL, 0, 0);
	push_full(&t, 0, 0, 8, "", 0, "", 0, NULL, 0, 0);
	for (int64_t o = 5; o <= 8; o++)
		expect_ack(&t, o, KF_ACK_OK, 1, NULL);
	/* Acked means written: the file is complete now, before any exit. */
	snprintf(path, sizeof(path), "%s/worker-3.log", t.dir);
	ck_assert_str_eq(slurp(path),
			 "events 0 5 6b6579 76616c7565\n"
			 "events 0 6 - 4142\n"
			 "other.topic 0 7 00ff0a7fab -\n"
			 "events 0 8  \n");
	stop_ok(&t);
	/* A second worker with the same id appends. */
	wt_start(&t, &c);
	push_full(&t, 0, 0, 9, "k", 1, "v", 1, NULL, 0, 0);
	expect_ack(&t, 9, KF_ACK_OK, 1, NULL);
	ck_assert_ptr_nonnull(strstr(slurp(path), "events 0 8  \nevents 0 9 6b 76\n"));
	stop_ok(&t);
	wt_teardown(&t);
}
END_TEST

/* A worker killed in the middle of a write left a partial line: the next
 * worker with that id ends it before its first line, which stays whole
 * (it used to run on from the partial one, and neither parsed). */
START_TEST(file_torn_line_ended)
{
	struct wt t;
	struct kf_worker_conf c;
	char path[160];

	wt_setup(&t);
	conf_init(&c, KF_HANDLER_FILE);
	c.id = 2;
	c.handler.dir = t.dir;
	snprintf(path, sizeof(path), "%s/worker-2.log", t.dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("events 0 4 6b 76\nevents 0 5 6b65", f);
	ck_assert_int_eq(fclose(f), 0);
	wt_start(&t, &c);
	push_full(&t, 0, 0, 5, "key", 3, "value", 5, NULL, 0, 0);
	push_full(&t, 0, 0, 6, "k", 1, "v", 1, NULL, 0, 0);
	expect_ack(&t, 5, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 6, KF_ACK_OK, 1, NULL);
	ck_assert_str_eq(slurp(path),
			 "events 0 4 6b 76\n"
			 "events 0 5 6b65\n"
			 "events 0 5 6b6579 76616c7565\n"
			 "events 0 6 6b 76\n");
	stop_ok(&t);
	wt_teardown(&t);
}
END_TEST

/* A type outside the enum: the worker refuses to start. */
START_TEST(unknown_type_refused)
{
	struct wt t;
	struct kf_worker_conf c;

	wt_setup(&t);
	conf_init(&c, (enum kf_handler_type)(KF_HANDLER_EXEC + 1));
	wt_start(&t, &c);
	int st = wt_wait(&t, 5000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == KF_WORKER_EXIT_INIT);
	ck_assert_ptr_nonnull(strstr(slurp(t.errlog), "worker 0: unknown handler type"));
	wt_teardown(&t);
}
END_TEST

START_TEST(file_bad_dir)
{
	struct wt t;
	struct kf_worker_conf c;

	wt_setup(&t);
	conf_init(&c, KF_HANDLER_FILE);
	c.handler.dir = "/nonexistent/kfork";
	wt_start(&t, &c);
	int st = wt_wait(&t, 5000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == KF_WORKER_EXIT_INIT);
	ck_assert_ptr_nonnull(strstr(slurp(t.errlog), "worker 0: file handler: open"));
	wt_teardown(&t);
}
END_TEST

START_TEST(burn_spends_cpu)
{
	struct wt t;
	struct kf_worker_conf c;

	wt_setup(&t);
	conf_init(&c, KF_HANDLER_BURN);
	c.handler.usec = 30000;
	wt_start(&t, &c);
	int64_t t0 = now_ms();
	for (int i = 0; i < 5; i++)
		push(&t, i, "x");
	for (int i = 0; i < 5; i++)
		expect_ack(&t, i, KF_ACK_OK, 1, NULL);
	ck_assert_int_ge(now_ms() - t0, 150);
	stop_ok(&t);
	long cpu_ms = t.ru.ru_utime.tv_sec * 1000 + t.ru.ru_utime.tv_usec / 1000 +
		      t.ru.ru_stime.tv_sec * 1000 + t.ru.ru_stime.tv_usec / 1000;
	ck_assert_int_ge(cpu_ms, 145);
	wt_teardown(&t);
}
END_TEST

/* SIGTERM while a record runs: it completes and is acked, the next one is
 * left for the next worker, exit 0. */
START_TEST(sigterm_finishes_record)
{
	struct wt t;
	struct kf_worker_conf c;

	wt_setup(&t);
	conf_init(&c, KF_HANDLER_BURN);
	c.handler.usec = 400000;
	wt_start(&t, &c);
	push(&t, 0, "x");
	push(&t, 1, "x");
	sleep_ms(150);
	kill(t.pid, SIGTERM);
	expect_ack(&t, 0, KF_ACK_OK, 1, NULL);
	int st = wt_wait(&t, 5000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	expect_no_ack(&t, 50);
	/* The replacement worker gets record 1. */
	conf_init(&c, KF_HANDLER_NOOP);
	wt_start(&t, &c);
	expect_ack(&t, 1, KF_ACK_OK, 1, NULL);
	stop_ok(&t);
	wt_teardown(&t);
}
END_TEST

START_TEST(nice_applied)
{
	struct wt t;
	struct kf_worker_conf c;

	wt_setup(&t);
	conf_init(&c, KF_HANDLER_NOOP);
	c.nice = 7;
	errno = 0;
	int base = getpriority(PRIO_PROCESS, 0);
	wt_start(&t, &c);
	push(&t, 0, "x");
	expect_ack(&t, 0, KF_ACK_OK, 1, NULL);   /* it is running the loop */
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, (id_t)t.pid);
	ck_assert_int_eq(errno, 0);
	ck_assert_int_eq(prio, base + 7 > 19 ? 19 : base + 7);
	stop_ok(&t);
	wt_teardown(&t);
}
END_TEST

/* ---- supervisor death ---- */

/* The worker's parent dies: the worker dies too (PR_SET_PDEATHSIG).  The
 * test process is a subreaper so it can wait for the orphaned worker. */
START_TEST(dies_with_supervisor)
{
	struct wt t;
	struct kf_worker_conf c;
	int p[2];

	wt_setup(&t);
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(pipe(p), 0);
	pid_t mid = fork();
	ck_assert_int_ne(mid, -1);
	if (mid == 0) {
		conf_init(&c, KF_HANDLER_NOOP);     /* supervisor_pid: this one */
		wt_start(&t, &c);
		ssize_t n = write(p[1], &t.pid, sizeof(t.pid));
		(void)n;
		sleep_ms(200);
		_exit(0);
	}
	pid_t worker = 0;
	ck_assert_int_eq(read(p[0], &worker, sizeof(worker)), sizeof(worker));
	ck_assert_int_eq(waitpid(mid, NULL, 0), mid);
	t.pid = worker;
	int st = wt_wait(&t, 5000);
	ck_assert_msg(st != -1, "worker outlived its supervisor");
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	close(p[0]);
	close(p[1]);
	wt_teardown(&t);
}
END_TEST

/* Forked after the supervisor died (getppid() is not the supervisor any
 * more): exit at once. */
START_TEST(supervisor_already_gone)
{
	struct wt t;
	struct kf_worker_conf c;

	wt_setup(&t);
	conf_init(&c, KF_HANDLER_NOOP);
	c.supervisor_pid = 1;
	wt_start(&t, &c);
	int st = wt_wait(&t, 5000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == KF_WORKER_EXIT_OK);
	ck_assert_ptr_nonnull(strstr(slurp(t.errlog), "already gone"));
	wt_teardown(&t);
}
END_TEST

/* ---- plugin ---- */

static void plugin_conf(struct kf_worker_conf *c, const char *so, const char *arg)
{
	conf_init(c, KF_HANDLER_PLUGIN);
	c->handler.path = so;
	c->handler.arg = arg;
}

START_TEST(plugin_statuses)
{
	struct wt t;
	struct kf_worker_conf c;
	char out[160];
	/* Two headers as in a RecordBatch: varint lengths (zigzag). */
	static const uint8_t hdrs[] = {
		0x04, 'h', '1', 0x06, 'a', 'b', 'c',   /* h1: abc */
		0x04, 'h', '2', 0x01,                   /* h2: null */
	};

	wt_setup(&t);
	snprintf(out, sizeof(out), "%s/plugin.out", t.dir);
	plugin_conf(&c, "tests/worker/test_plugin.so", out);
	c.id = 2;
	c.max_retries = 2;
	c.retry_backoff_ms = 20;
	wt_start(&t, &c);
	push_full(&t, 0, 0, 0, "k0", 2, "ok", 2, hdrs, sizeof(hdrs), 2);
	push(&t, 1, "fail");
	push(&t, 2, "retry2");
	int64_t t0 = now_ms();
	push(&t, 3, "retry");
	push(&t, 4, "weird");
	push(&t, 5, NULL);
	expect_ack(&t, 0, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 1, KF_ACK_FAILED, 1, "bad value");
	expect_ack(&t, 2, KF_ACK_OK, 3, NULL);
	expect_ack(&t, 3, KF_ACK_FAILED, 3, "retries exhausted after 3 attempts: busy");
	/* Backoff 20 ms then 40 ms, for record 2 and record 3 each. */
	ck_assert_int_ge(now_ms() - t0, 60);
	expect_ack(&t, 4, KF_ACK_FAILED, 1, "handler returned 42");
	expect_ack(&t, 5, KF_ACK_OK, 1, NULL);
	stop_ok(&t);
	ck_assert_str_eq(slurp(out),
			 "init 1 2\n"
			 "events 0 0 1 k0 ok H=h1:abc,h2:-\n"
			 "events 0 1 1 k1 fail H=\n"
			 "events 0 2 1 k2 retry2 H=\n"
			 "events 0 2 2 k2 retry2 H=\n"
			 "events 0 2 3 k2 retry2 H=\n"
			 "events 0 3 1 k3 retry H=\n"
			 "events 0 3 2 k3 retry H=\n"
			 "events 0 3 3 k3 retry H=\n"
			 "events 0 4 1 k4 weird H=\n"
			 "events 0 5 1 k5 - H=\n"
			 "fini\n");
	wt_teardown(&t);
}
END_TEST

/* Exponential backoff: 50 + 100 + 200 ms before the fourth attempt. */
START_TEST(plugin_backoff_doubles)
{
	struct wt t;
	struct kf_worker_conf c;
	char out[160];

	wt_setup(&t);
	snprintf(out, sizeof(out), "%s/plugin.out", t.dir);
	plugin_conf(&c, "tests/worker/test_plugin.so", out);
	c.max_retries = 3;
	c.retry_backoff_ms = 50;
	wt_start(&t, &c);
	int64_t t0 = now_ms();
	push(&t, 0, "retry");
	expect_ack(&t, 0, KF_ACK_FAILED, 4, "retries exhausted after 4 attempts");
	int64_t took = now_ms() - t0;
	ck_assert_int_ge(took, 350);
	ck_assert_int_lt(took, 3000);
	stop_ok(&t);
	wt_teardown(&t);
}
END_TEST

/* A record that kills its worker: each replacement sees the attempts, and
 * once they are used up the record is failed without running it. */
START_TEST(plugin_poison_record)
{
	struct wt t;
	struct kf_worker_conf c;
	char out[160];

	wt_setup(&t);
	snprintf(out, sizeof(out), "%s/plugin.out", t.dir);
	plugin_conf(&c, "tests/worker/test_plugin.so", out);
	c.max_retries = 1;
	push(&t, 0, "abort");
	push(&t, 1, "ok");
	for (int i = 0; i < 2; i++) {
		wt_start(&t, &c);
		int st = wt_wait(&t, 5000);
		ck_assert(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
		expect_no_ack(&t, 20);
	}
	wt_start(&t, &c);
	expect_ack(&t, 0, KF_ACK_FAILED, 2, "gave up after 2 attempts");
	expect_ack(&t, 1, KF_ACK_OK, 1, NULL);
	stop_ok(&t);
	ck_assert_ptr_nonnull(strstr(slurp(out), "events 0 0 1 k0 abort H=\n"));
	ck_assert_ptr_nonnull(strstr(slurp(out), "events 0 0 2 k0 abort H=\n"));
	ck_assert_ptr_null(strstr(slurp(out), "events 0 0 3"));
	wt_teardown(&t);
}
END_TEST

static void expect_init_failure(const char *so, const char *arg, const char *msg)
{
	struct wt t;
	struct kf_worker_conf c;

	wt_setup(&t);
	plugin_conf(&c, so, arg);
	wt_start(&t, &c);
	int st = wt_wait(&t, 5000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == KF_WORKER_EXIT_INIT);
	ck_assert_msg(strstr(slurp(t.errlog), msg) != NULL, "log lacks \"%s\": %s", msg,
		      slurp(t.errlog));
	wt_teardown(&t);
}

START_TEST(plugin_init_failures)
{
	expect_init_failure("tests/worker/test_plugin.so", "refuse",
			    "kfork_handler_init returned 1: refused by test");
	expect_init_failure("tests/worker/test_plugin_future.so", "/dev/null",
			    "built for handler ABI 999, this worker has 1");
	expect_init_failure("tests/worker/no_such_plugin.so", "", "no_such_plugin.so");
}
END_TEST

/* ---- exec ---- */

static char *script(const char *rel)
{
	static char bufs[4][1024];
	static int n;
	char *b = bufs[n++ % 4];
	snprintf(b, sizeof(bufs[0]), "%s/%s", kf_test_srcdir(), rel);
	return b;
}

struct exec_setup {
	char dump[160];
	char *argv[5];
};

static void exec_conf(struct kf_worker_conf *c, struct exec_setup *e, struct wt *t,
		      const char *rel, int window)
{
	snprintf(e->dump, sizeof(e->dump), "%s/dump", t->dir);
	e->argv[0] = "python3";
	e->argv[1] = "-B";
	e->argv[2] = script(rel);
	e->argv[3] = e->dump;
	e->argv[4] = NULL;
	conf_init(c, KF_HANDLER_EXEC);
	c->handler.command = e->argv;
	c->handler.window = window;
}

START_TEST(exec_answers)
{
	struct wt t;
	struct kf_worker_conf c;
	struct exec_setup e;
	static const uint8_t bin[] = { '\n', 0x00, ' ', 0xff };

	wt_setup(&t);
	exec_conf(&c, &e, &t, "tests/worker/h_answers.py", 8);
	c.max_retries = 2;
	/* All pushed before the start: the first window holds them all. */
	push(&t, 0, "ok");
	push(&t, 1, "fail");
	push(&t, 2, "retry2");
	push(&t, 3, "ok");
	push(&t, 4, "retry");
	push_full(&t, 0, 0, 5, bin, 4, NULL, -1, NULL, 0, 0);
	push_full(&t, 1, 0, 6, NULL, -1, bin, 4, NULL, 0, 0);
	push(&t, 7, "stderr");
	wt_start(&t, &c);
	expect_ack(&t, 0, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 1, KF_ACK_FAILED, 1, "bad value");
	expect_ack(&t, 2, KF_ACK_OK, 3, NULL);
	expect_ack(&t, 3, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 4, KF_ACK_FAILED, 3, "retries exhausted after 3 attempts");
	expect_ack(&t, 5, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 6, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 7, KF_ACK_OK, 1, NULL);
	stop_ok(&t);
	/* Framing, byte for byte as the handler parsed it; the order shows
	 * the retry rule: 2 and 4 come back only after what was already sent
	 * is answered, one at a time, before anything new. */
	ck_assert_str_eq(slurp(e.dump),
			 "events 0 0 1700000000000 6b30 6f6b\n"
			 "events 0 1 1700000000001 6b31 6661696c\n"
			 "events 0 2 1700000000002 6b32 726574727932\n"
			 "events 0 3 1700000000003 6b33 6f6b\n"
			 "events 0 4 1700000000004 6b34 7265747279\n"
			 "events 0 5 1700000000005 0a0020ff -\n"
			 "other.topic 0 6 1700000000006 - 0a0020ff\n"
			 "events 0 7 1700000000007 6b37 737464657272\n"
			 "events 0 2 1700000000002 6b32 726574727932\n"
			 "events 0 2 1700000000002 6b32 726574727932\n"
			 "events 0 4 1700000000004 6b34 7265747279\n"
			 "events 0 4 1700000000004 6b34 7265747279\n");
	ck_assert_ptr_nonnull(strstr(slurp(t.errlog), "worker 0: note from handler\n"));
	wt_teardown(&t);
}
END_TEST

/* After a retry nothing new is sent until the retried record is done. */
START_TEST(exec_retry_holds_new_records)
{
	struct wt t;
	struct kf_worker_conf c;
	struct exec_setup e;

	wt_setup(&t);
	exec_conf(&c, &e, &t, "tests/worker/h_answers.py", 8);
	c.retry_backoff_ms = 300;
	wt_start(&t, &c);
	push(&t, 0, "retry2");
	/* Once the command has read it, it answers retry at once; push the
	 * next record while record 0 waits out its backoff. */
	for (int i = 0; i < 500 && !strstr(slurp(e.dump), "6b30"); i++)
		sleep_ms(10);
	sleep_ms(50);
	push(&t, 1, "ok");
	expect_ack(&t, 0, KF_ACK_OK, 3, NULL);
	expect_ack(&t, 1, KF_ACK_OK, 1, NULL);
	stop_ok(&t);
	ck_assert_str_eq(slurp(e.dump),
			 "events 0 0 1700000000000 6b30 726574727932\n"
			 "events 0 0 1700000000000 6b30 726574727932\n"
			 "events 0 0 1700000000000 6b30 726574727932\n"
			 "events 0 1 1700000000001 6b31 6f6b\n");
	wt_teardown(&t);
}
END_TEST

START_TEST(exec_crash_mid_stream)
{
	struct wt t;
	struct kf_worker_conf c;
	struct exec_setup e;

	wt_setup(&t);
	exec_conf(&c, &e, &t, "tests/worker/h_answers.py", 4);
	for (int i = 0; i < 3; i++)
		push(&t, i, "ok");
	push(&t, 3, "crash-once");
	for (int i = 4; i < 10; i++)
		push(&t, i, "ok");
	wt_start(&t, &c);
	for (int i = 0; i < 3; i++)
		expect_ack(&t, i, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 3, KF_ACK_OK, 2, NULL);
	for (int i = 4; i < 10; i++)
		expect_ack(&t, i, KF_ACK_OK, 1, NULL);
	stop_ok(&t);
	const char *log = slurp(t.errlog);
	ck_assert_ptr_nonnull(strstr(log, "worker 0: crashing on purpose\n"));
	ck_assert_ptr_nonnull(strstr(log, "worker 0: exec: command exited with status 3 with "));
	/* The command died reading 3; the next one gets 3 again, then the
	 * rest in order. */
	ck_assert_ptr_nonnull(strstr(slurp(e.dump),
				     "events 0 2 1700000000002 6b32 6f6b\n"
				     "events 0 3 1700000000003 6b33 63726173682d6f6e6365\n"
				     "events 0 3 1700000000003 6b33 63726173682d6f6e6365\n"
				     "events 0 4 1700000000004 6b34 6f6b\n"));
	wt_teardown(&t);
}
END_TEST

START_TEST(exec_crash_always)
{
	struct wt t;
	struct kf_worker_conf c;
	struct exec_setup e;

	wt_setup(&t);
	exec_conf(&c, &e, &t, "tests/worker/h_answers.py", 4);
	c.max_retries = 1;
	push(&t, 0, "crash");
	push(&t, 1, "ok");
	push(&t, 2, "garbage");
	push(&t, 3, "ok");
	wt_start(&t, &c);
	expect_ack(&t, 0, KF_ACK_FAILED, 2, "command exited with status 3 while holding it");
	expect_ack(&t, 1, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 2, KF_ACK_FAILED, 2, "wrote \"hello\", not ok, retry or fail");
	expect_ack(&t, 3, KF_ACK_OK, 1, NULL);
	stop_ok(&t);
	wt_teardown(&t);
}
END_TEST

/* SIGTERM with records in the command's hands: they are answered and
 * acked first. */
START_TEST(exec_sigterm_drains)
{
	struct wt t;
	struct kf_worker_conf c;
	struct exec_setup e;

	wt_setup(&t);
	exec_conf(&c, &e, &t, "tests/worker/h_answers.py", 8);
	wt_start(&t, &c);
	push(&t, 0, "ok");
	expect_ack(&t, 0, KF_ACK_OK, 1, NULL);   /* the command is up */
	push(&t, 1, "sleep");
	push(&t, 2, "sleep");
	push(&t, 3, "ok");
	sleep_ms(100);
	kill(t.pid, SIGTERM);
	expect_ack(&t, 1, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 2, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 3, KF_ACK_OK, 1, NULL);
	int st = wt_wait(&t, 5000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	wt_teardown(&t);
}
END_TEST

/* A command that stops answering (and ignores EOF and SIGTERM): the
 * worker waits (the stall is the pool's to detect, see the pool suite),
 * but SIGTERM still ends it once stop_grace_ms is over, the command is
 * killed, and the unanswered records are left unacked for the next
 * worker. */
START_TEST(exec_silent_sigterm)
{
	struct wt t;
	struct kf_worker_conf c;
	struct exec_setup e;

	wt_setup(&t);
	exec_conf(&c, &e, &t, "tests/worker/h_silent.py", 8);
	c.stop_grace_ms = 300;
	wt_start(&t, &c);
	push(&t, 0, "ok");
	push(&t, 1, "ok");
	expect_no_ack(&t, 500);
	/* Python's start-up takes longer than that on a loaded machine. */
	for (int i = 0; i < 500 && !strstr(slurp(e.dump), "\n"); i++)
		sleep_ms(10);
	pid_t child = 0;
	FILE *f = fopen(e.dump, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &child), 1);
	fclose(f);
	ck_assert_int_eq(kill(child, 0), 0);
	int64_t t0 = now_ms();
	kill(t.pid, SIGTERM);
	int st = wt_wait(&t, 5000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_lt(now_ms() - t0, 2000);
	ck_assert_int_eq(kill(child, 0), -1);    /* reaped by the worker */
	/* Waiting is sleeping: about a second of life, little CPU (Python's
	 * start-up included, the worker reaped it). */
	long cpu_ms = t.ru.ru_utime.tv_sec * 1000 + t.ru.ru_utime.tv_usec / 1000 +
		      t.ru.ru_stime.tv_sec * 1000 + t.ru.ru_stime.tv_usec / 1000;
	ck_assert_int_lt(cpu_ms, 500);
	expect_no_ack(&t, 20);
	ck_assert_ptr_nonnull(strstr(slurp(t.errlog), "unanswered 300 ms after SIGTERM"));
	wt_teardown(&t);
}
END_TEST

/* The supervisor dies while the command holds records and never answers:
 * the worker dies with it, and the command with the worker. */
START_TEST(exec_dies_with_supervisor)
{
	struct wt t;
	struct kf_worker_conf c;
	struct exec_setup e;
	int p[2];

	wt_setup(&t);
	exec_conf(&c, &e, &t, "tests/worker/h_silent.py", 8);
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(pipe(p), 0);
	push(&t, 0, "ok");
	pid_t mid = fork();
	ck_assert_int_ne(mid, -1);
	if (mid == 0) {
		c.supervisor_pid = getpid();
		wt_start(&t, &c);
		ssize_t n = write(p[1], &t.pid, sizeof(t.pid));
		(void)n;
		for (int i = 0; i < 500 && !strstr(slurp(e.dump), "\n"); i++)
			sleep_ms(10);
		_exit(0);
	}
	pid_t worker = 0;
	ck_assert_int_eq(read(p[0], &worker, sizeof(worker)), sizeof(worker));
	ck_assert_int_eq(waitpid(mid, NULL, 0), mid);
	t.pid = worker;
	int st = wt_wait(&t, 5000);
	ck_assert(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	pid_t child = 0;
	FILE *f = fopen(e.dump, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &child), 1);
	fclose(f);
	t.pid = child;                        /* orphaned to us, the subreaper */
	st = wt_wait(&t, 5000);
	ck_assert_msg(st != -1, "the command outlived its worker");
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	close(p[0]);
	close(p[1]);
	wt_teardown(&t);
}
END_TEST

START_TEST(exec_example_handler)
{
	struct wt t;
	struct kf_worker_conf c;
	struct exec_setup e;

	wt_setup(&t);
	exec_conf(&c, &e, &t, "etc/examples/handler.py", 4);
	e.argv[3] = NULL;
	wt_start(&t, &c);
	push(&t, 0, "h\xc3\xa9llo");
	push(&t, 1, NULL);
	push_full(&t, 0, 0, 2, NULL, -1, "\xff\xfe", 2, NULL, 0, 0);
	push(&t, 3, "");
	expect_ack(&t, 0, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 1, KF_ACK_OK, 1, NULL);
	expect_ack(&t, 2, KF_ACK_FAILED, 1,
		   "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0");
	expect_ack(&t, 3, KF_ACK_OK, 1, NULL);
	stop_ok(&t);
	wt_teardown(&t);
}
END_TEST

START_TEST(exec_not_found)
{
	struct wt t;
	struct kf_worker_conf c;
	char *argv[] = { "/nonexistent/handler", NULL };

	wt_setup(&t);
	conf_init(&c, KF_HANDLER_EXEC);
	c.handler.command = argv;
	wt_start(&t, &c);
	int st = wt_wait(&t, 5000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == KF_WORKER_EXIT_INIT);
	ck_assert_ptr_nonnull(strstr(slurp(t.errlog),
				     "exec /nonexistent/handler: No such file or directory"));
	wt_teardown(&t);
}
END_TEST

Suite *suite_worker(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("builtin");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, type_names);
	tcase_add_test(tc, noop_acks_in_order);
	tcase_add_test(tc, file_lines_exact);
	tcase_add_test(tc, file_torn_line_ended);
	tcase_add_test(tc, file_bad_dir);
	tcase_add_test(tc, unknown_type_refused);
	tcase_add_test(tc, burn_spends_cpu);
	tcase_add_test(tc, sigterm_finishes_record);
	tcase_add_test(tc, nice_applied);
	tcase_add_test(tc, dies_with_supervisor);
	tcase_add_test(tc, supervisor_already_gone);
	suite_add_tcase(s, tc);
	tc = tcase_create("plugin");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, plugin_statuses);
	tcase_add_test(tc, plugin_backoff_doubles);
	tcase_add_test(tc, plugin_poison_record);
	tcase_add_test(tc, plugin_init_failures);
	suite_add_tcase(s, tc);
	tc = tcase_create("exec");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, exec_answers);
	tcase_add_test(tc, exec_retry_holds_new_records);
	tcase_add_test(tc, exec_crash_mid_stream);
	tcase_add_test(tc, exec_crash_always);
	tcase_add_test(tc, exec_sigterm_drains);
	tcase_add_test(tc, exec_silent_sigterm);
	tcase_add_test(tc, exec_dies_with_supervisor);
	tcase_add_test(tc, exec_example_handler);
	tcase_add_test(tc, exec_not_found);
	suite_add_tcase(s, tc);
	return s;
}
