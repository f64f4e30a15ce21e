/*
 * conn: connection mechanics under network conditions made with plain
 * loopback sockets in the test's own loop: a refused port, a peer that
 * never answers, a peer that answers with an oversized frame or a wrong
 * correlation id.  The Kafka conversation itself is tested against a real
 * broker (devbroker) in tests/integration.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"
#include "conn.h"
#include "proto_msgs.h"
#include "resolve.h"
#include "suites.h"

/* A loopback listener whose accepted peers do what `mode` says. */
enum peer_mode { PEER_SILENT, PEER_HUGE_FRAME, PEER_WRONG_CORR };

struct peer {
	struct ev_loop *loop;
	int lfd, cfd;
	int port;
	enum peer_mode mode;
	ev_io lio, cio;
	int accepted;
};

static void on_peer_data(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	uint8_t buf[4096];
	ssize_t n = read(p->cfd, buf, sizeof(buf));
	if (n <= 0) {
		ev_io_stop(loop, w);
		return;
	}
	if (p->mode == PEER_HUGE_FRAME) {
		static const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff };
		ck_assert_int_eq(write(p->cfd, huge, 4), 4);
	} else if (p->mode == PEER_WRONG_CORR && n >= 12) {
		/* size 6: correlation id = theirs + 1000, then two bytes */
		uint8_t r[10] = { 0, 0, 0, 6, buf[8], buf[9], buf[10], buf[11], 0, 0 };
		r[6] ^= 0x03;
		ck_assert_int_eq(write(p->cfd, r, sizeof(r)), (ssize_t)sizeof(r));
	}
}

static void on_peer_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;
	int fd = accept(p->lfd, NULL, NULL);
	if (fd == -1)
		return;
	if (p->cfd != -1) {
		ev_io_stop(loop, &p->cio);
		close(p->cfd);
	}
	p->cfd = fd;
	p->accepted++;
	ev_io_init(&p->cio, on_peer_data, fd, EV_READ);
	p->cio.data = p;
	ev_io_start(loop, &p->cio);
}

static void peer_start(struct peer *p, struct ev_loop *loop, enum peer_mode mode)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->mode = mode;
	p->cfd = -1;
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(p->lfd, 4), 0);
	socklen_t sl = sizeof(a);
	getsockname(p->lfd, (struct sockaddr *)&a, &sl);
	p->port = ntohs(a.sin_port);
	ev_io_init(&p->lio, on_peer_accept, p->lfd, EV_READ);
	p->lio.data = p;
	ev_io_start(loop, &p->lio);
}

static void peer_stop(struct peer *p)
{
	ev_io_stop(p->loop, &p->lio);
	ev_io_stop(p->loop, &p->cio);
	close(p->lfd);
	if (p->cfd != -1)
		close(p->cfd);
}

/* A port nobody listens on: bind, read the port, close. */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	socklen_t sl = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &sl);
	close(fd);
	return ntohs(a.sin_port);
}

struct result {
	int calls;
	int err;
	int downs;
	int last_down_err;
	struct ev_loop *loop;
	bool free_in_cb;
	struct kf_conn *conn;
};

static void on_resp(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct result *r = opaque;
	r->calls++;
	r->err = err;
	if (r->free_in_cb) {
		r->free_in_cb = false;
		kf_conn_free(c);
		r->conn = NULL;
	}
	ev_break(r->loop, EVBREAK_ALL);
}

static void on_state(struct kf_conn *c, enum kf_conn_state s, int err, const char *msg, void *opaque)
{
	struct result *r = opaque;
	if (s == KF_CONN_DOWN) {
		r->downs++;
		r->last_down_err = err;
	}
}

static struct kf_conn *mk(struct ev_loop *loop, struct kf_resolver *res, const char *host, int port,
			  struct result *r)
{
	struct kf_conn_opts o = {
		.host = host, .port = port, .node_id = 1, .connect_timeout_ms = 300,
		.request_timeout_ms = 800, .backoff_min_ms = 20, .backoff_max_ms = 80,
		.max_response_bytes = 1 << 20,
	};
	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->err = 12345;
	return kf_conn_new(loop, res, &o, on_state, r);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void run_until_answer(struct ev_loop *loop, struct result *r)
{
	ev_timer guard;
	ev_timer_init(&guard, on_guard, 5., 0.);
	ev_timer_start(loop, &guard);
	while (r->calls == 0 && ev_is_active(&guard))
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
}

static struct kf_api_versions_req apiv_req = { "kfork", "0" };

/* Refused: the request waits through reconnect attempts, then times out. */
START_TEST(refused_backs_off_then_times_out)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct result r;
	struct kf_conn *c = mk(loop, res, "127.0.0.1", closed_port(), &r);
	ck_assert_int_eq(kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 500, on_resp, &r), KF_OK);
	ck_assert_int_eq(r.calls, 0); /* never from inside send */
	run_until_answer(loop, &r);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.err, KF_ETIMEDOUT);
	ck_assert_int_ge(r.downs, 2); /* it retried */
	ck_assert_int_eq(r.last_down_err, KF_EIO);
	kf_conn_free(c);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* A peer that accepts and never answers: the connect deadline covers the
 * ApiVersions exchange. */
START_TEST(silent_peer_times_out)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct peer p;
	peer_start(&p, loop, PEER_SILENT);
	struct result r;
	struct kf_conn *c = mk(loop, res, "localhost", p.port, &r);
	kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 700, on_resp, &r);
	run_until_answer(loop, &r);
	ck_assert_int_eq(r.err, KF_ETIMEDOUT);
	ck_assert_int_ge(p.accepted, 1);
	ck_assert_int_ge(r.downs, 1);
	ck_assert_int_eq(r.last_down_err, KF_ETIMEDOUT);
	kf_conn_free(c);
	peer_stop(&p);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* A frame larger than max_response_bytes is refused before allocation. */
START_TEST(huge_frame_refused)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct peer p;
	peer_start(&p, loop, PEER_HUGE_FRAME);
	struct result r;
	struct kf_conn *c = mk(loop, res, "127.0.0.1", p.port, &r);
	kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 700, on_resp, &r);
	while (r.downs == 0 && r.calls == 0)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(r.last_down_err, KF_ETOOBIG);
	kf_conn_free(c);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.err, KF_ECLOSED);
	peer_stop(&p);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(wrong_correlation_id)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct peer p;
	peer_start(&p, loop, PEER_WRONG_CORR);
	struct result r;
	struct kf_conn *c = mk(loop, res, "127.0.0.1", p.port, &r);
	kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 700, on_resp, &r);
	while (r.downs == 0 && r.calls == 0)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(r.last_down_err, KF_EPROTO);
	kf_conn_free(c);
	peer_stop(&p);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* A request queued while the socket is still connecting must not stop the
 * watcher that notices the connect finishing (it used to: the connection
 * then sat in "connecting" until the connect timeout). */
START_TEST(send_while_connecting)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct peer p;
	peer_start(&p, loop, PEER_WRONG_CORR);
	struct result r;
	struct kf_conn *c = mk(loop, res, "127.0.0.1", p.port, &r);
	kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 700, on_resp, &r);
	while (kf_conn_state(c) != KF_CONN_CONNECTING)
		ev_run(loop, EVRUN_NOWAIT);
	kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 700, on_resp, &r);
	while (r.downs == 0 && r.calls == 0)
		ev_run(loop, EVRUN_ONCE);
	/* The wrong correlation id proves ApiVersions went out and came back. */
	ck_assert_int_eq(r.last_down_err, KF_EPROTO);
	kf_conn_free(c);
	peer_stop(&p);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* Freeing the connection from inside a callback, with more queued. */
START_TEST(free_from_callback)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct result r, r2;
	struct kf_conn *c = mk(loop, res, "127.0.0.1", closed_port(), &r);
	memset(&r2, 0, sizeof(r2));
	r2.loop = loop;
	r.free_in_cb = true;
	r.conn = c;
	kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 100, on_resp, &r);
	kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 5000, on_resp, &r2);
	run_until_answer(loop, &r);
	ck_assert_ptr_null(r.conn);
	ck_assert_int_eq(r.err, KF_ETIMEDOUT);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_int_eq(r2.err, KF_ECLOSED);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(unknown_api_refused)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct result r;
	struct kf_conn *c = mk(loop, res, "127.0.0.1", closed_port(), &r);
	ck_assert_int_eq(kf_conn_send(c, 999, -1, &apiv_req, 100, on_resp, &r), KF_EUNSUPP);
	ck_assert_int_eq(kf_conn_state(c), KF_CONN_DOWN);
	kf_conn_free(c);
	ck_assert_int_eq(r.calls, 0);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

struct lookup_result {
	int calls, err, n;
};

static void on_lookup(int err, const struct kf_addrs *a, const char *msg, void *opaque)
{
	struct lookup_result *l = opaque;
	l->calls++;
	l->err = err;
	l->n = a ? a->n : 0;
}

START_TEST(resolver)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct lookup_result a = { 0 }, b = { 0 }, c = { 0 };
	/* numeric: answered at once, no handle */
	ck_assert_ptr_null(kf_resolve(res, "::1", 9092, 1000, on_lookup, &a));
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.err, KF_OK);
	/* /etc/hosts */
	kf_resolve(res, "localhost", 9092, 1000, on_lookup, &b);
	/* a name that cannot exist (RFC 6761): an error or a timeout, soon */
	kf_resolve(res, "no-such-host.invalid", 9092, 500, on_lookup, &c);
	ev_tstamp end = ev_time() + 3;
	while ((b.calls == 0 || c.calls == 0) && ev_time() < end)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(b.err, KF_OK);
	ck_assert_int_ge(b.n, 1);
	ck_assert_int_eq(c.calls, 1);
	ck_assert(c.err == KF_ERESOLVE || c.err == KF_ETIMEDOUT);
	/* cancelled lookups never call back */
	struct lookup_result d = { 0 };
	struct kf_lookup *l = kf_resolve(res, "no-such-host.invalid", 9092, 200, on_lookup, &d);
	kf_resolve_cancel(l);
	end = ev_time() + 0.4;
	while (ev_time() < end)
		ev_run(loop, EVRUN_NOWAIT);
	ck_assert_int_eq(d.calls, 0);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(hostport_parsing)
{
	static const struct {
		const char *in;
		const char *host;
		int port;
	} good[] = {
		{ "127.0.0.1:9092", "127.0.0.1", 9092 },
		{ " broker-1.example:1 ", "broker-1.example", 1 },
		{ "[::1]:65535", "::1", 65535 },
		{ "[fe80::1%eth0]:9093", "fe80::1%eth0", 9093 },
	};
	static const char *const bad[] = {
		"", "host", "host:", ":9092", "host:0", "host:65536", "host:12x", "[::1]9092",
		"[::1", "host:123456",
	};
	char host[64];
	int port;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(kf_parse_hostport(good[i].in, strlen(good[i].in), host, sizeof(host), &port), KF_OK);
		ck_assert_str_eq(host, good[i].host);
		ck_assert_int_eq(port, good[i].port);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(kf_parse_hostport(bad[i], strlen(bad[i]), host, sizeof(host), &port) != KF_OK,
			      "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(bootstrap_errors_name_the_entry)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct kf_cluster_opts o = { .bootstrap = "127.0.0.1:9092,oops,[::1]:9093" };
	char err[128];
	ck_assert_ptr_null(kf_cluster_new(loop, res, &o, err, sizeof(err)));
	ck_assert_msg(strstr(err, "'oops'"), "%s", err);
	o.bootstrap = "";
	ck_assert_ptr_null(kf_cluster_new(loop, res, &o, err, sizeof(err)));
	o.bootstrap = "127.0.0.1:9092,[::1]:9093";
	struct kf_cluster *cl = kf_cluster_new(loop, res, &o, err, sizeof(err));
	ck_assert_ptr_nonnull(cl);
	/* rotation walks both bootstrap addresses when nothing is up */
	struct kf_conn *a = kf_cluster_any(cl), *b = kf_cluster_any(cl), *c = kf_cluster_any(cl);
	ck_assert_ptr_ne(a, b);
	ck_assert_ptr_eq(a, c);
	ck_assert_str_eq(kf_conn_name(b), "::1:9093/-1");
	kf_cluster_free(cl);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

Suite *suite_conn(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("conn");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, refused_backs_off_then_times_out);
	tcase_add_test(tc, silent_peer_times_out);
	tcase_add_test(tc, huge_frame_refused);
	tcase_add_test(tc, wrong_correlation_id);
	tcase_add_test(tc, send_while_connecting);
	tcase_add_test(tc, free_from_callback);
	tcase_add_test(tc, unknown_api_refused);
	tcase_add_test(tc, resolver);
	tcase_add_test(tc, hostport_parsing);
	tcase_add_test(tc, bootstrap_errors_name_the_entry);
	suite_add_tcase(s, tc);
	return s;
}
