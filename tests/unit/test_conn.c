/*
 * conn: connection mechanics under network conditions made with plain
 * loopback sockets in the test's own loop: a refused port, a peer that
 * never answers, a peer that answers with an oversized frame or a wrong
 * correlation id.  A scripted broker (ApiVersions and Heartbeat only)
 * answers with throttle times and undecodable frames, which devbroker
 * cannot be made to send.  The Kafka conversation itself is tested against
 * a real broker (devbroker) in tests/integration.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "conn.h"
#include "log.h"
#include "proto_apis.h"
#include "proto_group.h"
#include "proto_msgs.h"
#include "resolve.h"
#include "suites.h"
#include "wire.h"

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

/* A listening socket on 127.0.0.1, its port in *port. */
static int listen_loopback(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	socklen_t sl = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &sl);
	*port = ntohs(a.sin_port);
	return fd;
}

static void peer_start(struct peer *p, struct ev_loop *loop, enum peer_mode mode)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->mode = mode;
	p->cfd = -1;
	p->lfd = listen_loopback(&p->port);
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

/* Freeing a connection with several requests queued runs every callback
 * (owners free what they hang on requests there); it used to stop after
 * the first and drop the rest. */
START_TEST(free_fails_every_request)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct result r, r2, r3;
	struct kf_conn *c = mk(loop, res, "127.0.0.1", closed_port(), &r);
	memset(&r2, 0, sizeof(r2));
	memset(&r3, 0, sizeof(r3));
	r2.loop = r3.loop = loop;
	ck_assert_int_eq(kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 5000, on_resp, &r), KF_OK);
	ck_assert_int_eq(kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 5000, on_resp, &r2), KF_OK);
	ck_assert_int_eq(kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 5000, on_resp, &r3), KF_OK);
	kf_conn_free(c);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_int_eq(r3.calls, 1);
	ck_assert_int_eq(r3.err, KF_ECLOSED);
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

/* ------------------------------------------------------------ software names */

static bool ascii_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Kafka's check of ClientSoftwareName/Version (ApiVersionsRequest.java),
 * [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?, written out. */
static bool kafka_software_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || !ascii_alnum(s[0]) || !ascii_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!ascii_alnum(s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

START_TEST(software_names_match_kafka)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "0.1.0", "0.1.0" },
		{ "kfork", "kfork" },
		{ "0.1.0~rc1+git", "0.1.0-rc1-git" },
		{ "0.1.0 (dev)", "0.1.0--dev" },
		{ "-.v1.2-", "v1.2" },
		{ "__x__", "x" },
		{ "a", "a" },
		{ "", "unknown" },
		{ "~+ ()", "unknown" },
		{ "1.0-\xc3\xa9t\xc3\xa9", "1.0---t" },
		{ "1.0\n", "1.0" },
	};
	char out[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = kf_conn_sanitize_software(cases[i].in, out, sizeof(out));
		ck_assert_str_eq(out, cases[i].out);
		ck_assert_uint_eq(n, strlen(out));
		ck_assert_msg(kafka_software_ok(out), "'%s' -> '%s'", cases[i].in, out);
		ck_assert_msg(!kafka_software_ok(cases[i].in) || strcmp(out, cases[i].in) == 0,
			      "'%s' was fine as it was", cases[i].in);
	}
	ck_assert_uint_eq(kf_conn_sanitize_software(NULL, out, sizeof(out)), 7);
	ck_assert_str_eq(out, "unknown");
	/* truncated: still ends in an alphanumeric */
	ck_assert_uint_eq(kf_conn_sanitize_software("1.2.3", out, 3), 1);
	ck_assert_str_eq(out, "1");
	ck_assert_uint_eq(kf_conn_sanitize_software("~~", out, 4), 3);
	ck_assert_str_eq(out, "unk");
	out[0] = 'x';
	ck_assert_uint_eq(kf_conn_sanitize_software("abc", out, 0), 0);
	ck_assert_int_eq(out[0], 'x');
	/* the regex itself */
	ck_assert(!kafka_software_ok("0.1.0~rc1"));
	ck_assert(!kafka_software_ok("-a"));
	ck_assert(!kafka_software_ok("a."));
	ck_assert(!kafka_software_ok(""));
	ck_assert(kafka_software_ok("a-.b"));
}
END_TEST

/* ------------------------------------------------------------ scripted broker */

/* How the scripted broker answers a Heartbeat. */
enum hb_mode { HB_OK = 0, HB_THROTTLE, HB_GARBAGE };

struct broker {
	struct ev_loop *loop;
	int lfd, cfd, port;
	ev_io lio, cio;
	uint8_t buf[1 << 16];
	size_t got;
	enum hb_mode mode;
	int32_t throttle_ms;
	bool close_first;            /* close the first connection instead of answering */
	int32_t apiv_throttle_ms;    /* in the ApiVersions answer */
	ev_tstamp apiv_at;           /* when ApiVersions was last answered */
	int accepted;
	ev_tstamp accept_at[32];
	int nhb;                     /* Heartbeats received */
	ev_tstamp hb_at[32];
	int16_t hb_ver[32];
	char sw_name[64], sw_version[64]; /* from the last ApiVersions v3+ */
};

static void broker_send(struct broker *b, const struct kf_api *api, int16_t ver, int32_t corr,
			const void *resp)
{
	struct kf_wr wr;
	kf_wr_init(&wr);
	kf_wr_i32(&wr, 0);
	kf_wr_i32(&wr, corr);
	if (kf_proto_resp_header_version(api, ver) >= 1)
		kf_wr_uvarint(&wr, 0);
	if (resp)
		ck_assert_int_eq(kf_proto_encode(&wr, api->resp, ver, kf_proto_flexible(api, ver),
						 resp), KF_OK);
	else
		kf_wr_i8(&wr, 7); /* one byte where ThrottleTimeMs needs four */
	kf_wr_patch_i32(&wr, 0, (int32_t)(wr.len - 4));
	ck_assert_int_eq(write(b->cfd, wr.buf, wr.len), (ssize_t)wr.len);
	kf_wr_free(&wr);
}

static void broker_apiversions(struct broker *b, int16_t ver, int32_t corr, const uint8_t *body,
			       size_t len)
{
	if (ver >= 3) {
		struct kf_rd rd;
		struct kf_arena arena;
		struct kf_api_versions_req q;
		memset(&q, 0, sizeof(q));
		kf_arena_init(&arena);
		kf_rd_init(&rd, body, len);
		ck_assert_int_eq(kf_proto_decode(&rd, kf_api_api_versions.req, ver, true, &arena, &q),
				 KF_OK);
		snprintf(b->sw_name, sizeof(b->sw_name), "%s", q.client_software_name);
		snprintf(b->sw_version, sizeof(b->sw_version), "%s", q.client_software_version);
		kf_arena_free(&arena);
	}
	struct kf_api_versions_resp_key keys[] = {
		{ KF_API_API_VERSIONS, 0, 4 },
		{ KF_API_HEARTBEAT, 0, 4 },
		{ KF_API_METADATA, 0, 12 },
	};
	struct kf_api_versions_resp r;
	memset(&r, 0, sizeof(r));
	kf_proto_defaults(kf_api_api_versions.resp, &r);
	r.api_keys.v = keys;
	r.api_keys.n = 3;
	r.throttle_time_ms = b->apiv_throttle_ms;
	b->apiv_at = ev_time();
	broker_send(b, &kf_api_api_versions, ver, corr, &r);
}

static void broker_frame(struct broker *b, const uint8_t *f, size_t len)
{
	struct kf_rd rd;
	kf_rd_init(&rd, f, len);
	int16_t key = kf_rd_i16(&rd), ver = kf_rd_i16(&rd);
	int32_t corr = kf_rd_i32(&rd);
	const uint8_t *cid;
	kf_rd_string(&rd, &cid);
	const struct kf_api *api = kf_proto_api(key);
	ck_assert_ptr_nonnull(api);
	if (kf_proto_req_header_version(api, ver) >= 2)
		kf_rd_skip_tags(&rd);
	ck_assert(kf_rd_ok(&rd));
	if (b->close_first && b->accepted == 1) {
		/* everything read: the client sees an orderly close, not a reset */
		ev_io_stop(b->loop, &b->cio);
		close(b->cfd);
		b->cfd = -1;
		return;
	}
	if (key == KF_API_API_VERSIONS) {
		broker_apiversions(b, ver, corr, kf_rd_ptr(&rd), kf_rd_left(&rd));
		return;
	}
	ck_assert_int_eq(key, KF_API_HEARTBEAT);
	ck_assert_int_lt(b->nhb, 32);
	b->hb_at[b->nhb] = ev_time();
	b->hb_ver[b->nhb++] = ver;
	struct kf_heartbeat_resp r = { b->mode == HB_THROTTLE ? b->throttle_ms : 0, 0 };
	broker_send(b, &kf_api_heartbeat, ver, corr, b->mode == HB_GARBAGE ? NULL : &r);
}

static void on_broker_data(struct ev_loop *loop, ev_io *w, int revents)
{
	struct broker *b = w->data;
	ssize_t n = read(b->cfd, b->buf + b->got, sizeof(b->buf) - b->got);
	if (n <= 0) {
		ev_io_stop(loop, w);
		return;
	}
	b->got += (size_t)n;
	while (b->got >= 4) {
		uint32_t sz = (uint32_t)b->buf[0] << 24 | b->buf[1] << 16 | b->buf[2] << 8 | b->buf[3];
		ck_assert_uint_lt(sz, sizeof(b->buf) - 4);
		if (b->got < 4 + sz)
			break;
		broker_frame(b, b->buf + 4, sz);
		if (b->cfd == -1)
			return;
		memmove(b->buf, b->buf + 4 + sz, b->got - 4 - sz);
		b->got -= 4 + sz;
	}
}

static void on_broker_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct broker *b = w->data;
	int fd = accept(b->lfd, NULL, NULL);
	if (fd == -1)
		return;
	if (b->cfd != -1) {
		ev_io_stop(loop, &b->cio);
		close(b->cfd);
		b->cfd = -1;
	}
	if (b->accepted < 32)
		b->accept_at[b->accepted] = ev_time();
	b->accepted++;
	b->cfd = fd;
	b->got = 0;
	ev_io_init(&b->cio, on_broker_data, fd, EV_READ);
	b->cio.data = b;
	ev_io_start(loop, &b->cio);
}

static void broker_start(struct broker *b, struct ev_loop *loop, enum hb_mode mode)
{
	memset(b, 0, sizeof(*b));
	b->loop = loop;
	b->cfd = -1;
	b->mode = mode;
	b->throttle_ms = 300;
	b->lfd = listen_loopback(&b->port);
	ev_io_init(&b->lio, on_broker_accept, b->lfd, EV_READ);
	b->lio.data = b;
	ev_io_start(loop, &b->lio);
}

static void broker_stop(struct broker *b)
{
	ev_io_stop(b->loop, &b->lio);
	ev_io_stop(b->loop, &b->cio);
	close(b->lfd);
	if (b->cfd >= 0)
		close(b->cfd);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A Heartbeat the test sends, and what came of it. */
struct hb {
	struct kf_conn *c;
	struct kf_heartbeat_req req;
	int16_t max_ver;
	int calls, err;
	ev_tstamp at;          /* when the answer came */
	int64_t muted_until;   /* kf_conn_throttled_until() then */
	int64_t muted_left;    /* ms of it still to come then */
	bool resend;           /* send again on failure, as the group code does */
	struct hb *then;       /* send this one from the callback */
	int then_timeout_ms;
};

static void on_hb(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque);

static void hb_send(struct kf_conn *c, struct hb *h, int timeout_ms)
{
	h->c = c;
	h->req.group_id = "g";
	h->req.member_id = "m";
	ck_assert_int_eq(kf_conn_send(c, KF_API_HEARTBEAT, h->max_ver, &h->req, timeout_ms, on_hb, h),
			 KF_OK);
}

static void on_hb(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	struct hb *h = opaque;
	h->calls++;
	h->err = err;
	h->at = ev_time();
	h->muted_until = kf_conn_throttled_until(c);
	h->muted_left = h->muted_until - mono_ms();
	if (err && h->resend)
		hb_send(c, h, 5000);
	if (h->then)
		hb_send(c, h->then, h->then_timeout_ms);
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop until *flag is nonzero or secs pass. */
static void run_until(struct ev_loop *loop, const int *flag, double secs)
{
	ev_tstamp end = ev_time() + secs;
	ev_timer guard;
	ev_timer_init(&guard, on_guard, secs, 0.);
	ev_timer_start(loop, &guard);
	while (*flag == 0 && ev_time() < end)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
}

/* The log goes to a file while a test runs, to check what it says. */
static char log_path[64];

static void log_capture(void)
{
	char err[128];
	snprintf(log_path, sizeof(log_path), "/tmp/kf_conn_log_XXXXXX");
	int fd = mkstemp(log_path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(kf_log_open(log_path, false, false, err, sizeof(err)), KF_OK);
}

/* What was logged (malloc'd); the capture ends. */
static char *log_captured(void)
{
	kf_log_close();
	FILE *f = fopen(log_path, "r");
	ck_assert_ptr_nonnull(f);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(log_path);
	return strdup(buf);
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The log line holding needle, copied into out. */
static bool log_line(const char *log, const char *needle, char *out, size_t outlen)
{
	const char *p = strstr(log, needle);
	if (!p)
		return false;
	while (p > log && p[-1] != '\n')
		p--;
	const char *e = strchr(p, '\n');
	snprintf(out, outlen, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
	return true;
}

static struct kf_conn *mk_broker_conn(struct ev_loop *loop, struct kf_resolver *res,
				      const struct broker *b, struct result *r)
{
	return mk(loop, res, "127.0.0.1", b->port, r);
}

/* The client names itself in a form a real broker accepts. */
START_TEST(apiversions_software_fields)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct broker b;
	broker_start(&b, loop, HB_OK);
	struct result r;
	struct kf_conn *c = mk_broker_conn(loop, res, &b, &r);
	struct hb h = { .max_ver = -1 };
	hb_send(c, &h, 2000);
	run_until(loop, &h.calls, 3);
	ck_assert_int_eq(h.err, KF_OK);
	ck_assert_str_eq(b.sw_name, "kfork");
	ck_assert_msg(kafka_software_ok(b.sw_version), "'%s'", b.sw_version);
	char want[64];
	kf_conn_sanitize_software(PACKAGE_VERSION, want, sizeof(want));
	ck_assert_str_eq(b.sw_version, want);
	kf_conn_free(c);
	broker_stop(&b);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/*
 * KIP-219: a Heartbeat v4 answer throttled 300 ms mutes the connection; two
 * pipelined throttled answers are one episode (one info line); the next
 * request, with a 200 ms timeout, waits out the mute without timing out.
 */
START_TEST(throttle_mutes_connection)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct broker b;
	broker_start(&b, loop, HB_THROTTLE);
	struct result r;
	struct kf_conn *c = mk_broker_conn(loop, res, &b, &r);
	log_capture();
	struct hb h1 = { .max_ver = -1 }, h2 = { .max_ver = -1 }, h3 = { .max_ver = -1 };
	h2.then = &h3;
	h2.then_timeout_ms = 200;
	hb_send(c, &h1, 2000);
	hb_send(c, &h2, 2000);
	run_until(loop, &h2.calls, 3);
	ck_assert_int_eq(h1.err, KF_OK);
	ck_assert_int_eq(h2.err, KF_OK);
	ck_assert_int_eq(b.hb_ver[0], 4);
	/* muted for about 300 ms from the answer on, as seen from the callback */
	ck_assert_msg(h2.muted_left > 200 && h2.muted_left <= 300, "muted for %lld more ms",
		      (long long)h2.muted_left);
	b.mode = HB_OK;
	run_until(loop, &h3.calls, 3);
	ck_assert_int_eq(h3.err, KF_OK); /* the mute did not count against its 200 ms */
	ck_assert_int_eq(b.nhb, 3);
	double waited = b.hb_at[2] - h2.at;
	ck_assert_msg(waited >= 0.27, "written %.3f s after the throttled answer", waited);
	ck_assert_int_eq(kf_conn_throttled_until(c), 0);
	ck_assert_int_eq(kf_conn_throttle_total_ms(c), 600);
	char *log = log_captured();
	ck_assert_int_eq(count_of(log, "throttled by the broker"), 1);
	ck_assert_msg(strstr(log, "throttled by the broker for 300 ms (Heartbeat v4)"), "%s", log);
	free(log);
	kf_conn_free(c);
	broker_stop(&b);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* Under a lasting quota each answer starts a new mute: the info line comes
 * once a minute, not once an answer. */
START_TEST(throttle_logged_once_a_minute)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct broker b;
	broker_start(&b, loop, HB_THROTTLE);
	struct result r;
	struct kf_conn *c = mk_broker_conn(loop, res, &b, &r);
	log_capture();
	struct hb h[3] = { { .max_ver = -1 }, { .max_ver = -1 }, { .max_ver = -1 } };
	for (int i = 0; i < 3; i++) {
		hb_send(c, &h[i], 2000);
		run_until(loop, &h[i].calls, 3);
		ck_assert_int_eq(h[i].err, KF_OK);
		/* the mute is over before the next one goes out: a new episode */
		ev_tstamp end = ev_time() + 3;
		while (kf_conn_throttled_until(c) != 0 && ev_time() < end)
			ev_run(loop, EVRUN_ONCE);
		ck_assert_int_eq(kf_conn_throttled_until(c), 0);
	}
	ck_assert_int_eq(kf_conn_throttle_total_ms(c), 900);
	char *log = log_captured();
	ck_assert_msg(count_of(log, "throttled by the broker") == 1, "%s", log);
	free(log);
	kf_conn_free(c);
	broker_stop(&b);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* A request queued before the mute began (here: before the connection was
 * ready, and ApiVersions v4 comes back throttled) has its deadline moved by
 * the mute: 200 ms of timeout, 300 ms of mute, no timeout. */
START_TEST(throttle_moves_queued_deadlines)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct broker b;
	broker_start(&b, loop, HB_OK);
	b.apiv_throttle_ms = 300;
	struct result r;
	struct kf_conn *c = mk_broker_conn(loop, res, &b, &r);
	struct hb h = { .max_ver = -1 };
	hb_send(c, &h, 200);
	run_until(loop, &h.calls, 3);
	ck_assert_int_eq(h.err, KF_OK);
	ck_assert_int_eq(b.nhb, 1);
	double waited = b.hb_at[0] - b.apiv_at;
	ck_assert_msg(waited >= 0.27, "written %.3f s after the throttled answer", waited);
	ck_assert_int_eq(kf_conn_throttle_total_ms(c), 300);
	kf_conn_free(c);
	broker_stop(&b);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* Before KIP-219 (Heartbeat v1) the broker has already waited: the next
 * request goes out at once. */
START_TEST(throttle_before_kip219_no_mute)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct broker b;
	broker_start(&b, loop, HB_THROTTLE);
	struct result r;
	b.throttle_ms = 1000;
	struct kf_conn *c = mk_broker_conn(loop, res, &b, &r);
	log_capture();
	struct hb h1 = { .max_ver = 1 }, h2 = { .max_ver = 1 };
	h1.then = &h2;
	h1.then_timeout_ms = 2000;
	hb_send(c, &h1, 2000);
	run_until(loop, &h2.calls, 3);
	ck_assert_int_eq(h1.err, KF_OK);
	ck_assert_int_eq(h2.err, KF_OK);
	ck_assert_int_eq(b.hb_ver[0], 1);
	ck_assert_int_eq(b.nhb, 2);
	ck_assert_int_eq(h1.muted_until, 0);
	double waited = b.hb_at[1] - h1.at;
	ck_assert_msg(waited < 0.5, "written %.3f s after the answer", waited);
	ck_assert_int_eq(kf_conn_throttle_total_ms(c), 2000);
	char *log = log_captured();
	ck_assert_int_eq(count_of(log, "throttled by the broker"), 0);
	free(log);
	kf_conn_free(c);
	broker_stop(&b);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/*
 * An answer that never decodes: one error line, then brief repeats; the
 * backoff keeps doubling across reconnects (20, 40, 80, 80 ms) instead of
 * starting over at each successful ApiVersions; a good answer ends it.
 */
START_TEST(undecodable_answer_backs_off)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct broker b;
	broker_start(&b, loop, HB_GARBAGE);
	struct result r;
	struct kf_conn *c = mk_broker_conn(loop, res, &b, &r);
	log_capture();
	struct hb h = { .max_ver = -1, .resend = true };
	hb_send(c, &h, 5000);
	int five = 0;
	ev_tstamp end = ev_time() + 5;
	while (!five && ev_time() < end) {
		ev_run(loop, EVRUN_ONCE);
		five = b.accepted >= 5 && kf_conn_decode_failures(c) >= 5;
	}
	ck_assert_int_ge(b.accepted, 5);
	ck_assert_int_ge(kf_conn_decode_failures(c), 4);
	ck_assert_int_ne(h.err, KF_OK);
	/* at least 0.8 * (20 + 40 + 80 + 80) ms; 0.8 * 80 ms for the fourth */
	double all = b.accept_at[4] - b.accept_at[0], fourth = b.accept_at[4] - b.accept_at[3];
	ck_assert_msg(all >= 0.17 && fourth >= 0.06, "four reconnects in %.3f s, the last after %.3f s",
		      all, fourth);
	const char *msg;
	int64_t at;
	ck_assert_int_eq(kf_conn_last_error(c, &msg, &at), KF_EPROTO);
	ck_assert_msg(strstr(msg, "Heartbeat v4") && strstr(msg, "at byte"), "%s", msg);
	/* a good answer ends the streak */
	b.mode = HB_OK;
	h.calls = 0;
	h.resend = false;
	run_until(loop, &h.calls, 3);
	ck_assert_int_eq(h.err, KF_OK);
	ck_assert_int_eq(kf_conn_decode_failures(c), 0);
	char *log = log_captured();
	char line[512];
	ck_assert_int_eq(count_of(log, "error conn:"), 1);
	ck_assert(log_line(log, "error conn:", line, sizeof(line)));
	ck_assert_msg(strstr(line, kf_conn_name(c)) && strstr(line, "Heartbeat v4") &&
		      strstr(line, "at byte"), "%s", line);
	ck_assert_msg(strstr(log, "again (2 times)") && strstr(log, "again (4 times)"), "%s", log);
	ck_assert_int_eq(count_of(log, "again (3 times)"), 0);
	free(log);
	kf_conn_free(c);
	broker_stop(&b);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* A written request that fails with the connection (here: the answer
 * before it could not be decoded), whose callback frees the connection:
 * it is freed (the sanitizer build would see a leak if not). */
START_TEST(free_from_callback_of_written_request)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct broker b;
	broker_start(&b, loop, HB_GARBAGE);
	struct result r, r2;
	struct kf_conn *c = mk_broker_conn(loop, res, &b, &r);
	memset(&r2, 0, sizeof(r2));
	r2.loop = loop;
	r2.free_in_cb = true;
	r2.conn = c;
	struct hb h = { .max_ver = -1 };
	hb_send(c, &h, 3000);
	struct kf_heartbeat_req req = { .group_id = "g", .member_id = "m" };
	ck_assert_int_eq(kf_conn_send(c, KF_API_HEARTBEAT, -1, &req, 3000, on_resp, &r2), KF_OK);
	run_until(loop, &r2.calls, 3);
	ck_assert_int_eq(h.calls, 1);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_int_eq(r2.err, KF_EPROTO);
	ck_assert_ptr_null(r2.conn);
	broker_stop(&b);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* What a status page shows: the last failure stays after recovering, the
 * time it became ready, the versions negotiated (also logged once). */
START_TEST(status_and_versions)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct broker b;
	broker_start(&b, loop, HB_OK);
	b.close_first = true;
	struct result r;
	struct kf_conn *c = mk_broker_conn(loop, res, &b, &r);
	ck_assert_int_eq(kf_conn_last_error(c, NULL, NULL), 0);
	ck_assert_int_eq(kf_conn_up_since(c), 0);
	int16_t keys[32], vers[32];
	ck_assert_int_eq(kf_conn_versions(c, keys, vers, 32), 0);
	log_capture();
	int64_t t0 = wall_ms();
	struct hb h = { .max_ver = -1 };
	hb_send(c, &h, 3000);
	run_until(loop, &h.calls, 3);
	int64_t t1 = wall_ms();
	ck_assert_int_eq(h.err, KF_OK);
	ck_assert_int_eq(b.accepted, 2);
	const char *msg;
	int64_t at;
	ck_assert_int_eq(kf_conn_last_error(c, &msg, &at), KF_ECLOSED);
	ck_assert_msg(strstr(msg, "closed by broker"), "%s", msg);
	ck_assert_int_ge(at, t0);
	ck_assert_int_le(at, t1);
	int64_t up = kf_conn_up_since(c);
	ck_assert_int_ge(up, at);
	ck_assert_int_le(up, t1);
	/* Metadata, Heartbeat, ApiVersions: kf_proto_apis order */
	int n = kf_conn_versions(c, keys, vers, 32);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(keys[0], KF_API_METADATA);
	ck_assert_int_eq(vers[0], kf_proto_api(KF_API_METADATA)->vmax < 12 ?
			 kf_proto_api(KF_API_METADATA)->vmax : 12);
	ck_assert_int_eq(keys[1], KF_API_HEARTBEAT);
	ck_assert_int_eq(vers[1], 4);
	ck_assert_int_eq(keys[2], KF_API_API_VERSIONS);
	ck_assert_int_eq(vers[2], 4);
	ck_assert_int_eq(kf_conn_versions(c, keys, vers, 1), 1);
	kf_conn_close(c, KF_ETIMEDOUT, "session expired");
	ck_assert_int_eq(kf_conn_up_since(c), 0);
	ck_assert_int_eq(kf_conn_last_error(c, &msg, NULL), KF_ETIMEDOUT);
	ck_assert_str_eq(msg, "session expired");
	char *log = log_captured();
	char line[512];
	ck_assert_int_eq(count_of(log, ": ApiVersions v4:"), 1);
	ck_assert(log_line(log, ": ApiVersions v4:", line, sizeof(line)));
	ck_assert_msg(strstr(line, " FETCH=- ") && strstr(line, " HEARTBEAT=4 ") &&
		      strstr(line, " LEAVE_GROUP=- ") && strstr(line, " API_VERSIONS=4 ") &&
		      strstr(line, " SASL_AUTHENTICATE=-"), "%s", line);
	/* request names in a log mean requests sent (group.sh greps for them) */
	ck_assert_msg(!strstr(line, "LeaveGroup") && !strstr(line, "Heartbeat"), "%s", line);
	const char *body = strstr(line, "conn: ");
	ck_assert_msg(body && strlen(body + 6) < 300, "%zu chars: %s", strlen(line), line);
	free(log);
	kf_conn_free(c);
	broker_stop(&b);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
}
END_TEST

/* Refused: the last error says so, with when. */
START_TEST(refused_is_last_error)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct result r;
	struct kf_conn *c = mk(loop, res, "127.0.0.1", closed_port(), &r);
	int64_t t0 = wall_ms();
	kf_conn_send(c, KF_API_API_VERSIONS, -1, &apiv_req, 100, on_resp, &r);
	while (r.downs == 0)
		ev_run(loop, EVRUN_ONCE);
	const char *msg;
	int64_t at;
	ck_assert_int_eq(kf_conn_last_error(c, &msg, &at), KF_EIO);
	ck_assert_msg(strstr(msg, "cannot connect"), "%s", msg);
	ck_assert_int_ge(at, t0);
	ck_assert_int_le(at, wall_ms());
	ck_assert_int_eq(kf_conn_up_since(c), 0);
	kf_conn_free(c);
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
	tcase_add_test(tc, software_names_match_kafka);
	tcase_add_test(tc, apiversions_software_fields);
	tcase_add_test(tc, throttle_mutes_connection);
	tcase_add_test(tc, throttle_logged_once_a_minute);
	tcase_add_test(tc, free_fails_every_request);
	tcase_add_test(tc, throttle_moves_queued_deadlines);
	tcase_add_test(tc, throttle_before_kip219_no_mute);
	tcase_add_test(tc, undecodable_answer_backs_off);
	tcase_add_test(tc, free_from_callback_of_written_request);
	tcase_add_test(tc, status_and_versions);
	tcase_add_test(tc, refused_is_last_error);
	suite_add_tcase(s, tc);
	return s;
}
