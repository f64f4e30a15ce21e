/*
 * control: the JSON writer (escaping, nesting, invalid UTF-8) and the
 * control socket served on a private libev loop to clients in this
 * process: a command and its answer, a line ended by shutdown, malformed
 * and overlong lines, the socket file's mode, a stale socket replaced, a
 * live one or a regular file refused, more clients than it serves at once;
 * the metrics listener's HTTP reader, every answer it gives.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "err.h"
#include "json.h"
#include "metrics.h"
#include "reqsrv.h"
#include "suites.h"
#include "wire.h"

/* ---- json ---- */

static char *json_text(struct kf_json *j)
{
	kf_wr_raw(&j->wr, "", 1);
	ck_assert(kf_wr_ok(&j->wr));
	return (char *)j->wr.buf;
}

START_TEST(json_nesting)
{
	struct kf_json j;
	kf_json_init(&j);
	kf_json_obj(&j, NULL);
	kf_json_str(&j, "s", "x");
	kf_json_int(&j, "i", -5);
	kf_json_uint(&j, "u", UINT64_MAX);
	kf_json_arr(&j, "a");
	kf_json_obj(&j, NULL);
	kf_json_bool(&j, "t", true);
	kf_json_end_obj(&j);
	kf_json_obj(&j, NULL);
	kf_json_end_obj(&j);
	kf_json_null(&j, NULL);
	kf_json_end_arr(&j);
	kf_json_str(&j, "n", NULL);
	kf_json_bool(&j, "f", false);
	kf_json_end_obj(&j);
	ck_assert_str_eq(json_text(&j),
			 "{\"s\": \"x\", \"i\": -5, \"u\": 18446744073709551615, "
			 "\"a\": [{\"t\": true}, {}, null], \"n\": null, \"f\": false}");
	kf_json_free(&j);
}
END_TEST

START_TEST(json_escaping)
{
	struct kf_json j;
	kf_json_init(&j);
	kf_json_obj(&j, NULL);
	kf_json_str(&j, "q\"k", "a\"b\\c\n\t\x01 \x7f");
	/* valid 2, 3 and 4 byte sequences pass; a lone continuation byte,
	 * a truncated sequence, an overlong '/', a surrogate do not */
	kf_json_str(&j, "u", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80");
	kf_json_end_obj(&j);
	ck_assert_str_eq(json_text(&j),
			 "{\"q\\\"k\": \"a\\\"b\\\\c\\u000a\\u0009\\u0001 \x7f\", "
			 "\"u\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xef\xbf\xbd|"
			 "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
			 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"}");
	kf_json_free(&j);
}
END_TEST

START_TEST(json_too_deep)
{
	struct kf_json j;
	kf_json_init(&j);
	for (int i = 0; i < KF_JSON_MAX_DEPTH + 2; i++)
		kf_json_arr(&j, NULL);
	ck_assert(!kf_wr_ok(&j.wr));
	kf_json_free(&j);
}
END_TEST

/* ---- control socket ---- */

static char dir[40];
static char path[80];
static int calls;

static void handler(void *opaque, const char *cmd, struct kf_wr *reply)
{
	(void)opaque;
	calls++;
	char buf[300];
	int n = snprintf(buf, sizeof(buf), "ok\ngot [%s]\n", cmd);
	kf_wr_raw(reply, buf, (size_t)n);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kf-ctl.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/ctl.sock", dir);
	calls = 0;
}

static void teardown(void)
{
	char sub[90];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

static int client_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Run the loop until fd has the whole answer (EOF); returns it. */
static char *client_answer(struct ev_loop *loop, int fd)
{
	static char buf[4096];
	size_t len = 0;
	for (int i = 0; i < 500; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		ck_assert_int_ge(n, 0);
		if (n == 0) {
			buf[len] = '\0';
			close(fd);
			return buf;
		}
		len += (size_t)n;
	}
	ck_abort_msg("no answer");
	return NULL;
}

static char *ask(struct ev_loop *loop, const char *raw, size_t len, bool shut)
{
	int fd = client_connect();
	ck_assert_int_eq(write(fd, raw, len), (ssize_t)len);
	if (shut)
		shutdown(fd, SHUT_WR);
	return client_answer(loop, fd);
}

START_TEST(control_commands)
{
	struct ev_loop *loop = ev_loop_new(0);
	char err[256];
	struct kf_control *c = kf_control_new(loop, path, 0600, handler, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	ck_assert_str_eq(ask(loop, "status\n", 7, false), "ok\ngot [status]\n");
	ck_assert_str_eq(ask(loop, "stop now\r\n", 10, false), "ok\ngot [stop now]\n");
	/* no newline: the write side's shutdown ends the line */
	ck_assert_str_eq(ask(loop, "status", 6, true), "ok\ngot [status]\n");
	ck_assert_int_eq(calls, 3);
	ck_assert_str_eq(ask(loop, "sta\x01tus\n", 8, false), "error malformed command line\n");
	ck_assert_str_eq(ask(loop, "two  spaces\n", 12, false), "error malformed command line\n");
	ck_assert_str_eq(ask(loop, "\n", 1, false), "error malformed command line\n");
	char big[KF_CONTROL_MAX_LINE + 10];
	memset(big, 'a', sizeof(big));
	ck_assert_str_eq(ask(loop, big, sizeof(big), false), "error command line too long\n");
	/* one byte over a line, ended by the write side's shutdown (the
	 * reader takes that many for the '\n'; found by fuzz_control) */
	ck_assert_str_eq(ask(loop, big, KF_CONTROL_MAX_LINE + 1, true),
			 "error command line too long\n");
	char want[KF_CONTROL_MAX_LINE + 20];
	snprintf(want, sizeof(want), "ok\ngot [%.*s]\n", KF_CONTROL_MAX_LINE, big);
	ck_assert_str_eq(ask(loop, big, KF_CONTROL_MAX_LINE, true), want);
	ck_assert_int_eq(calls, 4);

	kf_control_free(c);
	ck_assert_int_eq(stat(path, &st), -1);  /* unlinked */
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(control_mode)
{
	struct ev_loop *loop = ev_loop_new(0);
	char err[256];
	struct kf_control *c = kf_control_new(loop, path, 0660, handler, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0660);
	kf_control_free(c);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(control_path_checks)
{
	struct ev_loop *loop = ev_loop_new(0);
	char err[256];
	struct kf_control *c = kf_control_new(loop, path, 0600, handler, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	/* a second server on a live socket: refused */
	ck_assert_ptr_null(kf_control_new(loop, path, 0600, handler, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "another process is listening") != NULL, "%s", err);

	/* a stale socket (its server gone without unlinking) is replaced */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	kf_control_free(c);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	c = kf_control_new(loop, path, 0600, handler, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(ask(loop, "status\n", 7, false), "ok\ngot [status]\n");
	kf_control_free(c);

	/* a regular file is never removed */
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_ptr_null(kf_control_new(loop, path, 0600, handler, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "is not a socket") != NULL, "%s", err);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(control_busy)
{
	struct ev_loop *loop = ev_loop_new(0);
	char err[256];
	struct kf_control *c = kf_control_new(loop, path, 0600, handler, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	int idle[KF_REQSRV_MAX_CLIENTS];
	for (int i = 0; i < KF_REQSRV_MAX_CLIENTS; i++) {
		idle[i] = client_connect();
		ev_run(loop, EVRUN_NOWAIT);
	}
	/* every slot is taken by a silent client: this one waits... */
	int fd = client_connect();
	ck_assert_int_eq(write(fd, "status\n", 7), 7);
	for (int i = 0; i < 20; i++)
		ev_run(loop, EVRUN_NOWAIT);
	ck_assert_int_eq(calls, 0);
	/* ...until one of them goes */
	close(idle[0]);
	ck_assert_str_eq(client_answer(loop, fd), "ok\ngot [status]\n");
	for (int i = 1; i < KF_REQSRV_MAX_CLIENTS; i++)
		close(idle[i]);
	kf_control_free(c);
	ev_loop_destroy(loop);
}
END_TEST

/* ---- metrics HTTP reader ---- */

static void body_fn(void *opaque, struct kf_wr *out)
{
	(void)opaque;
	kf_wr_raw(out, "kfork_x 1\n", 10);
}

/* The response to req (given whole, no eof), NUL-terminated; "" when the
 * reader wants more. */
static char *http(const char *req, bool eof, bool full)
{
	static char buf[2048];
	struct kf_wr w;
	kf_wr_init(&w);
	bool done = kf_metrics_http(req, strlen(req), eof, full, body_fn, NULL, &w);
	size_t n = done ? (w.len < sizeof(buf) - 1 ? w.len : sizeof(buf) - 1) : 0;
	memcpy(buf, w.buf ? (char *)w.buf : "", n);
	buf[n] = '\0';
	kf_wr_free(&w);
	return buf;
}

static int status_of(const char *resp)
{
	int code = 0;
	return sscanf(resp, "HTTP/1.1 %d ", &code) == 1 ? code : -1;
}

START_TEST(metrics_http)
{
	char *r = http("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, false);
	ck_assert_int_eq(status_of(r), 200);
	ck_assert_ptr_nonnull(strstr(r, "Content-Type: text/plain; version=0.0.4"));
	ck_assert_ptr_nonnull(strstr(r, "Content-Length: 10\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "Connection: close\r\n\r\nkfork_x 1\n"));
	/* HTTP/1.0, bare \n, a query string */
	ck_assert_int_eq(status_of(http("GET /metrics?x=1 HTTP/1.0\n\n", false, false)), 200);
	/* HEAD: the headers only */
	r = http("HEAD /metrics HTTP/1.1\r\n\r\n", false, false);
	ck_assert_int_eq(status_of(r), 200);
	ck_assert_ptr_null(strstr(r, "kfork_x"));
	/* not complete yet: wait */
	ck_assert_str_eq(http("GET /metrics HTTP/1.1\r\nHost: x\r\n", false, false), "");
	/* ... unless the client gave up or the buffer is full */
	ck_assert_int_eq(status_of(http("GET /metrics HTTP/1.1\r\n", true, false)), 400);
	ck_assert_int_eq(status_of(http("GET /metrics HTTP/1.1\r\nX: aaaa", false, true)), 431);
	ck_assert_int_eq(status_of(http("GET / HTTP/1.1\r\n\r\n", false, false)), 404);
	ck_assert_int_eq(status_of(http("GET /metricsx HTTP/1.1\r\n\r\n", false, false)), 404);
	r = http("POST /metrics HTTP/1.1\r\n\r\n", false, false);
	ck_assert_int_eq(status_of(r), 405);
	ck_assert_ptr_nonnull(strstr(r, "Allow: GET, HEAD\r\n"));
	ck_assert_int_eq(status_of(http("GET /metrics HTTP/2.0\r\n\r\n", false, false)), 505);
	const char *bad[] = {
		"GET  /metrics HTTP/1.1\r\n\r\n", "GET /metrics  HTTP/1.1\r\n\r\n",
		"GET metrics HTTP/1.1\r\n\r\n", "get /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1 x\r\n\r\n", "GET /metrics HTTP/1\r\n\r\n",
		"GET /metrics FTP/1.1x\r\n\r\n", "\r\n\r\n", "GET\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(status_of(http(bad[i], false, false)) == 400, "%s", bad[i]);
}
END_TEST

START_TEST(metrics_label_escapes)
{
	struct kf_wr w;
	kf_wr_init(&w);
	kf_metrics_label(&w, "a\"b\\c\nd");
	kf_wr_raw(&w, "", 1);
	ck_assert_str_eq((char *)w.buf, "a\\\"b\\\\c\\nd");
	kf_wr_free(&w);
}
END_TEST

Suite *suite_control(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, json_nesting);
	tcase_add_test(tc, json_escaping);
	tcase_add_test(tc, json_too_deep);
	suite_add_tcase(s, tc);
	tc = tcase_create("socket");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, control_commands);
	tcase_add_test(tc, control_mode);
	tcase_add_test(tc, control_path_checks);
	tcase_add_test(tc, control_busy);
	suite_add_tcase(s, tc);
	tc = tcase_create("metrics");
	tcase_add_test(tc, metrics_http);
	tcase_add_test(tc, metrics_label_escapes);
	suite_add_tcase(s, tc);
	return s;
}
