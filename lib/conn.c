/*
 * conn: see conn.h.  Runs in the supervisor's loop only; never blocks.
 *
 * Requests live on two FIFO lists: `pending` (not written yet) and `sent`
 * (written, awaiting their answer in order).  One timer serves every
 * deadline (the connect deadline and each request's), re-armed to the
 * earliest after every change; lists are short (a few group requests and a
 * fetch), so a scan is cheaper than a heap.  A zero-delay "kick" timer does
 * the writing, so sending never calls back from inside kf_conn_send and
 * requests queued in one loop iteration go out in one write.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "proto_apis.h"
#include "proto_msgs.h"
#include "resolve.h"

#define MAX_API_KEY 128
#define MAX_READ_FRAMES 32      /* per readable event, so other sockets get their turn */

struct req {
	struct req *next;
	const struct kf_api *api;
	int16_t max_ver;
	int16_t ver;
	const void *obj;
	int32_t corr;
	ev_tstamp deadline;
	kf_conn_resp_cb *cb;
	void *opaque;
	bool auth;     /* the authentication step's own request */
	bool internal; /* the connection's ApiVersions */
	bool raw;      /* a bare SASL token after SaslHandshake v0 */
	uint8_t *token; /* raw: the token (a copy, wiped when freed) */
	size_t token_len;
};

struct reqlist {
	struct req *head, *tail;
};

struct kf_conn {
	struct ev_loop *loop;
	struct kf_resolver *resolver;
	struct kf_lookup *lookup;
	char *host;
	char *client_id;
	char name[300];
	struct kf_conn_opts o;

	enum kf_conn_state state;
	int fd;
	ev_io rio, wio;
	ev_timer timer;   /* earliest deadline */
	ev_timer backoff; /* reconnect */
	ev_timer kick;    /* write what is pending */
	ev_timer reauth;  /* KIP-368: authenticate again before the session ends */
	bool reauthing;   /* READY, running the auth step again */
	int64_t reauths;  /* re-authentications that succeeded */
	ev_tstamp connect_deadline;
	int backoff_ms;
	bool backoff_active;
	int fail_streak; /* failures since the last time it was ready */

	/* KIP-219: nothing is written while unmute runs (until mute_until). */
	ev_timer unmute;
	ev_tstamp mute_until;      /* ev_now() time base */
	int64_t mute_until_mono;   /* the same in CLOCK_MONOTONIC ms, for callers */
	int64_t throttle_total_ms;
	/* Under a lasting quota every answer starts a new mute: one info line
	 * a minute, with what went unlogged since the last one. */
	ev_tstamp throttle_logged;
	int throttle_unlogged;
	int64_t throttle_unlogged_ms;

	/* The last answer that could not be decoded, to tell a repeat (which
	 * keeps the backoff growing and is logged briefly) from a new one. */
	struct {
		int16_t api, ver;
		int count;          /* consecutive identical failures; 0 = none */
		ev_tstamp logged;   /* when a line about it was last written */
		char text[256];
	} bad;

	/* Status: the last failure (kept after recovering) and since when up. */
	int last_err;
	int64_t last_err_at_ms, up_since_ms; /* wall clock */
	char last_err_msg[256];

	struct kf_addrs addrs;
	int addr_idx;
	void *tctx; /* transport state, NULL for plain TCP */

	struct reqlist pending, sent;
	int32_t next_corr;

	struct kf_wr out;
	size_t out_off;

	uint8_t hdr[4];
	size_t hdr_got;
	uint8_t *frame;
	size_t frame_len, frame_got;
	struct kf_arena arena;

	int16_t vmin[MAX_API_KEY], vmax[MAX_API_KEY]; /* broker's; -1 unknown */
	bool versions_known;
	int16_t apiv_ver; /* ApiVersions version to ask with */
	struct kf_api_versions_req apiv_obj;
	char sw_name[32], sw_version[64]; /* ClientSoftware*, as Kafka accepts them */

	kf_conn_state_cb *state_cb;
	void *opaque;
	int busy;      /* depth of user callbacks running */
	bool freeing;  /* kf_conn_free called during a callback */
};

static const char *const state_names[] = {
	"down", "resolving", "connecting", "handshake", "apiversions", "auth", "ready",
	"auth_failed",
};

const char *kf_conn_state_name(enum kf_conn_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

static void really_free(struct kf_conn *c);
static void fail_pending(struct kf_conn *c);
static void teardown(struct kf_conn *c, int err, const char *why);
static void rearm_timer(struct kf_conn *c);
static void start_connect(struct kf_conn *c);
static void kick(struct kf_conn *c);
static void on_backoff(struct ev_loop *loop, ev_timer *w, int revents);
static void on_unmute(struct ev_loop *loop, ev_timer *w, int revents);

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ASCII only: the locale must not widen what Kafka's regex accepts. */
static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

size_t kf_conn_sanitize_software(const char *in, char *out, size_t outlen)
{
	if (outlen == 0)
		return 0;
	const char *p = in ? in : "";
	size_t n = 0;
	while (*p && !is_alnum(*p))
		p++;
	for (; *p && n + 1 < outlen; p++)
		out[n++] = is_alnum(*p) || *p == '.' || *p == '-' ? *p : '-';
	while (n > 0 && !is_alnum(out[n - 1]))
		n--;
	if (n == 0)
		for (p = "unknown"; *p && n + 1 < outlen; p++)
			out[n++] = *p;
	out[n] = '\0';
	return n;
}

/* ------------------------------------------------------------ lists */

static void list_push(struct reqlist *l, struct req *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static struct req *list_pop(struct reqlist *l)
{
	struct req *r = l->head;
	if (r) {
		l->head = r->next;
		if (!l->head)
			l->tail = NULL;
		r->next = NULL;
	}
	return r;
}

static void list_remove(struct reqlist *l, struct req *r)
{
	struct req *prev = NULL;
	for (struct req *x = l->head; x; prev = x, x = x->next) {
		if (x != r)
			continue;
		if (prev)
			prev->next = x->next;
		else
			l->head = x->next;
		if (l->tail == x)
			l->tail = prev;
		x->next = NULL;
		return;
	}
}

/* ------------------------------------------------------------ callbacks */

/* Empty the output buffer; what was in it may have been a SASL token
 * holding the password. */
static void wipe_out(struct kf_conn *c)
{
	if (c->out.len)
		explicit_bzero(c->out.buf, c->out.len);
	c->out.len = 0;
	c->out_off = 0;
}

static void req_free(struct req *r)
{
	if (r->token) {
		explicit_bzero(r->token, r->token_len);
		free(r->token);
	}
	free(r);
}

/* Run a request's callback and free it.  Returns false if the connection
 * was freed by the callback (the caller must return at once). */
static bool complete(struct kf_conn *c, struct req *r, int err, void *resp)
{
	c->busy++;
	if (r->cb)
		r->cb(c, err, r->ver, resp, r->opaque);
	req_free(r);
	c->busy--;
	if (c->freeing && c->busy == 0) {
		really_free(c);
		return false;
	}
	return !c->freeing;
}

static bool set_state(struct kf_conn *c, enum kf_conn_state s, int err, const char *msg)
{
	if (c->state == s)
		return true;
	kf_debug("conn", "%s: %s -> %s%s%s", c->name, kf_conn_state_name(c->state),
		 kf_conn_state_name(s), msg ? ": " : "", msg ? msg : "");
	c->state = s;
	if (!c->state_cb)
		return true;
	c->busy++;
	c->state_cb(c, s, err, msg, c->opaque);
	c->busy--;
	if (c->freeing && c->busy == 0) {
		really_free(c);
		return false;
	}
	return !c->freeing;
}

/* ------------------------------------------------------------ life cycle */

struct kf_conn *kf_conn_new(struct ev_loop *loop, struct kf_resolver *res,
			    const struct kf_conn_opts *opts, kf_conn_state_cb *state_cb,
			    void *opaque)
{
	struct kf_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = loop;
	c->resolver = res;
	c->o = *opts;
	c->host = strdup(opts->host);
	c->client_id = strdup(opts->client_id ? opts->client_id : "kforkd");
	if (!c->host || !c->client_id) {
		free(c->host);
		free(c->client_id);
		free(c);
		return NULL;
	}
	c->o.host = c->host;
	c->o.client_id = c->client_id;
	if (c->o.connect_timeout_ms <= 0)
		c->o.connect_timeout_ms = 10000;
	if (c->o.request_timeout_ms <= 0)
		c->o.request_timeout_ms = 30000;
	if (c->o.backoff_min_ms <= 0)
		c->o.backoff_min_ms = 100;
	if (c->o.backoff_max_ms < c->o.backoff_min_ms)
		c->o.backoff_max_ms = c->o.backoff_min_ms > 10000 ? c->o.backoff_min_ms : 10000;
	if (c->o.max_response_bytes == 0)
		c->o.max_response_bytes = 100u << 20;
	snprintf(c->name, sizeof(c->name), "%s:%d/%d%s%s", c->host, c->o.port, (int)c->o.node_id,
		 c->o.role ? " " : "", c->o.role ? c->o.role : "");
	c->fd = -1;
	c->state_cb = state_cb;
	c->opaque = opaque;
	c->backoff_ms = c->o.backoff_min_ms;
	c->next_corr = 1;
	c->apiv_ver = kf_api_api_versions.vmax;
	kf_conn_sanitize_software("kfork", c->sw_name, sizeof(c->sw_name));
	kf_conn_sanitize_software(PACKAGE_VERSION, c->sw_version, sizeof(c->sw_version));
	kf_wr_init(&c->out);
	kf_arena_init(&c->arena);
	ev_init(&c->rio, NULL);
	ev_init(&c->wio, NULL);
	ev_init(&c->timer, NULL);
	ev_init(&c->backoff, on_backoff);
	ev_init(&c->kick, NULL);
	ev_init(&c->reauth, NULL);
	ev_init(&c->unmute, on_unmute);
	return c;
}

static void fail_list(struct kf_conn *c, struct reqlist *l, int err, bool *alive)
{
	struct req *r;
	while (*alive && (r = list_pop(l)))
		*alive = complete(c, r, err, NULL);
}

void kf_conn_free(struct kf_conn *c)
{
	if (!c || c->freeing)
		return;
	c->freeing = true;
	teardown(c, KF_ECLOSED, NULL);
	/* Every callback runs, so that owners free what they hung on their
	 * requests (complete() would stop after the first: freeing is set). */
	c->busy++;
	struct req *r;
	while ((r = list_pop(&c->sent)) || (r = list_pop(&c->pending))) {
		if (r->cb)
			r->cb(c, KF_ECLOSED, r->ver, NULL, r->opaque);
		req_free(r);
	}
	c->busy--;
	if (c->busy == 0)
		really_free(c);
}

static void really_free(struct kf_conn *c)
{
	struct req *r;
	/* Callbacks that ran during kf_conn_free may not have emptied the
	 * lists if one of them freed... nothing can add now: just release. */
	while ((r = list_pop(&c->sent)))
		req_free(r);
	while ((r = list_pop(&c->pending)))
		req_free(r);
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_stop(c->loop, &c->backoff);
	ev_timer_stop(c->loop, &c->kick);
	ev_timer_stop(c->loop, &c->reauth);
	ev_timer_stop(c->loop, &c->unmute);
	kf_wr_free(&c->out);
	free(c->frame);
	kf_arena_free(&c->arena);
	free(c->host);
	free(c->client_id);
	free(c);
}

enum kf_conn_state kf_conn_state(const struct kf_conn *c) { return c->state; }
const char *kf_conn_name(const struct kf_conn *c) { return c->name; }

int kf_conn_inflight(const struct kf_conn *c)
{
	int n = 0;
	for (const struct req *r = c->pending.head; r; r = r->next)
		n++;
	for (const struct req *r = c->sent.head; r; r = r->next)
		n++;
	return n;
}

int16_t kf_conn_version(const struct kf_conn *c, int16_t api_key)
{
	const struct kf_api *api = kf_proto_api(api_key);
	if (!api || !c->versions_known || api_key < 0 || api_key >= MAX_API_KEY)
		return -1;
	int16_t hi = api->vmax < c->vmax[api_key] ? api->vmax : c->vmax[api_key];
	int16_t lo = api->vmin > c->vmin[api_key] ? api->vmin : c->vmin[api_key];
	return hi >= lo && c->vmax[api_key] >= 0 ? hi : -1;
}

int kf_conn_versions(const struct kf_conn *c, int16_t *keys, int16_t *vers, int max)
{
	size_t n;
	const struct kf_api *const *apis = kf_proto_apis(&n);
	int got = 0;
	for (size_t i = 0; i < n && got < max; i++) {
		int16_t v = kf_conn_version(c, apis[i]->key);
		if (v < 0)
			continue;
		keys[got] = apis[i]->key;
		vers[got++] = v;
	}
	return got;
}

int kf_conn_last_error(const struct kf_conn *c, const char **msg, int64_t *at_ms)
{
	if (msg)
		*msg = c->last_err ? c->last_err_msg : NULL;
	if (at_ms)
		*at_ms = c->last_err ? c->last_err_at_ms : 0;
	return c->last_err;
}

int64_t kf_conn_up_since(const struct kf_conn *c)
{
	return c->state == KF_CONN_READY ? c->up_since_ms : 0;
}

int kf_conn_decode_failures(const struct kf_conn *c) { return c->bad.count; }

int64_t kf_conn_reauths(const struct kf_conn *c) { return c->reauths; }

/* Between start_connect and ready (or a failure): the connect deadline runs. */
static bool connecting(const struct kf_conn *c)
{
	return c->state != KF_CONN_DOWN && c->state != KF_CONN_READY && c->state != KF_CONN_FAILED;
}

int64_t kf_conn_throttled_until(const struct kf_conn *c)
{
	return ev_is_active(&c->unmute) ? c->mute_until_mono : 0;
}

int64_t kf_conn_throttle_total_ms(const struct kf_conn *c) { return c->throttle_total_ms; }

/* Close the socket and transport; requests already written fail with err
 * (their answers can never come), pending ones stay for the next attempt. */
static void teardown(struct kf_conn *c, int err, const char *why)
{
	if (c->lookup) {
		kf_resolve_cancel(c->lookup);
		c->lookup = NULL;
	}
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_timer_stop(c->loop, &c->kick);
	ev_timer_stop(c->loop, &c->reauth);
	c->reauthing = false;
	/* The mute belongs to the socket.  Deadlines it moved stay moved. */
	ev_timer_stop(c->loop, &c->unmute);
	c->mute_until_mono = 0;
	if (c->tctx) {
		c->o.transport->close(c->tctx);
		c->tctx = NULL;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	wipe_out(c);
	c->hdr_got = 0;
	free(c->frame);
	c->frame = NULL;
	c->frame_len = c->frame_got = 0;
	c->versions_known = false;
	/* The connection's own requests belong to this attempt only. */
	struct req *r, *next;
	for (r = c->pending.head; r; r = next) {
		next = r->next;
		if (r->internal || r->auth) {
			list_remove(&c->pending, r);
			req_free(r);
		}
	}
	(void)why;
	(void)err;
}

static void schedule_reconnect(struct kf_conn *c)
{
	/* Exponential backoff with +-20% jitter so a fleet does not reconnect
	 * in lockstep after a broker restart. */
	double jitter = 0.8 + 0.4 * ((double)(random() % 1000) / 1000.0);
	double delay = c->backoff_ms * jitter / 1000.0;
	c->backoff_ms = c->backoff_ms * 2 > c->o.backoff_max_ms ? c->o.backoff_max_ms : c->backoff_ms * 2;
	ev_timer_stop(c->loop, &c->backoff);
	ev_timer_set(&c->backoff, delay, 0.);
	c->backoff_active = true;
	ev_timer_start(c->loop, &c->backoff);
}

/* A failure of the connection: record it, fail what was written, back
 * off, retry if there is still work queued.  logged: the caller has said
 * all there is to say about it.  Returns false if the connection was freed. */
static bool conn_fail_as(struct kf_conn *c, int err, const char *msg, bool logged)
{
	c->last_err = err;
	c->last_err_at_ms = clock_ms(CLOCK_REALTIME);
	snprintf(c->last_err_msg, sizeof(c->last_err_msg), "%s", msg);
	bool for_good = err == KF_EAUTH;
	/* A broker that stays down is reported once, not at every attempt; a
	 * refusal that ends the attempts is an error, once. */
	if (for_good)
		kf_err("conn", "%s: %s (%s); not retrying until the configuration is reloaded",
		       c->name, msg, kf_conn_state_name(c->state));
	else if (logged)
		kf_debug("conn", "%s: %s (%s)", c->name, msg, kf_conn_state_name(c->state));
	else if (c->fail_streak++ == 0)
		kf_warn("conn", "%s: %s (%s)", c->name, msg, kf_conn_state_name(c->state));
	else
		kf_debug("conn", "%s: %s (%s, attempt %d)", c->name, msg, kf_conn_state_name(c->state),
			 c->fail_streak);
	teardown(c, err, msg);
	if (for_good) {
		/* The state first: a callback that sends again meets it. */
		ev_timer_stop(c->loop, &c->backoff);
		c->backoff_active = false;
		c->fail_streak = 0;
		if (!set_state(c, KF_CONN_FAILED, err, msg))
			return false;
	}
	c->busy++;
	bool alive = true;
	fail_list(c, &c->sent, err, &alive);
	if (for_good)
		fail_list(c, &c->pending, err, &alive);
	c->busy--;
	/* (alive is false only when a callback freed the connection) */
	if (!alive || c->freeing) {
		if (c->busy == 0)
			really_free(c);
		return false;
	}
	if (!for_good) {
		schedule_reconnect(c);
		if (!set_state(c, KF_CONN_DOWN, err, msg))
			return false;
	}
	rearm_timer(c);
	return true;
}

static bool conn_fail(struct kf_conn *c, int err, const char *msg)
{
	return conn_fail_as(c, err, msg, false);
}

void kf_conn_close(struct kf_conn *c, int err, const char *why)
{
	if (c->state == KF_CONN_DOWN || c->state == KF_CONN_FAILED)
		return;
	/* The owner's reason is not the broker's refusal. */
	conn_fail(c, err == KF_EAUTH ? KF_ECLOSED : err, why ? why : kf_strerror(err));
}

void kf_conn_retry(struct kf_conn *c)
{
	if (c->state != KF_CONN_FAILED)
		return;
	kf_info("conn", "%s: trying again after the authentication failure", c->name);
	c->backoff_ms = c->o.backoff_min_ms;
	if (!set_state(c, KF_CONN_DOWN, KF_OK, NULL))
		return;
	if (c->pending.head)
		start_connect(c);
}

static void on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_conn *c = (struct kf_conn *)((char *)w - offsetof(struct kf_conn, backoff));
	c->backoff_active = false;
	if (c->pending.head)
		start_connect(c);
}

void kf_conn_connect(struct kf_conn *c)
{
	if (c->state == KF_CONN_DOWN && !c->backoff_active)
		start_connect(c);
}

/* ------------------------------------------------------------ timers */

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_conn *c = (struct kf_conn *)((char *)w - offsetof(struct kf_conn, timer));
	ev_tstamp now = ev_now(loop);
	if (connecting(c) && now >= c->connect_deadline) {
		char msg[96];
		snprintf(msg, sizeof(msg), "connect timed out after %d ms in state %s",
			 c->o.connect_timeout_ms, kf_conn_state_name(c->state));
		if (!conn_fail(c, KF_ETIMEDOUT, msg))
			return;
	}
	/* A written request that timed out poisons the stream: tear down. */
	for (struct req *r = c->sent.head; r; r = r->next) {
		if (now >= r->deadline) {
			char msg[96];
			snprintf(msg, sizeof(msg), "%s request (corr %d) timed out", r->api->name, r->corr);
			if (!conn_fail(c, KF_ETIMEDOUT, msg))
				return;
			break;
		}
	}
	for (struct req *r = c->pending.head, *next; r; r = next) {
		next = r->next;
		if (now >= r->deadline) {
			list_remove(&c->pending, r);
			if (!complete(c, r, KF_ETIMEDOUT, NULL))
				return;
			next = c->pending.head; /* the callback may have changed the list */
		}
	}
	rearm_timer(c);
}

static void rearm_timer(struct kf_conn *c)
{
	ev_tstamp t = 0;
	bool any = false;
	if (connecting(c)) {
		t = c->connect_deadline;
		any = true;
	}
	for (int l = 0; l < 2; l++)
		for (struct req *r = (l ? c->sent.head : c->pending.head); r; r = r->next)
			if (!any || r->deadline < t) {
				t = r->deadline;
				any = true;
			}
	ev_timer_stop(c->loop, &c->timer);
	if (!any)
		return;
	ev_tstamp d = t - ev_now(c->loop);
	ev_timer_init(&c->timer, on_timer, d > 0 ? d : 0.0001, 0.);
	ev_timer_start(c->loop, &c->timer);
}

/* ------------------------------------------------------------ connecting */

static void on_io(struct ev_loop *loop, ev_io *w, int revents);
static void try_next_addr(struct kf_conn *c);
static bool after_transport(struct kf_conn *c);

static void on_resolved(int err, const struct kf_addrs *addrs, const char *msg, void *opaque)
{
	struct kf_conn *c = opaque;
	c->lookup = NULL;
	if (err) {
		char m[256];
		snprintf(m, sizeof(m), "cannot resolve %s: %s", c->host, msg ? msg : kf_strerror(err));
		conn_fail(c, err, m);
		return;
	}
	c->addrs = *addrs;
	c->addr_idx = 0;
	if (!set_state(c, KF_CONN_CONNECTING, KF_OK, NULL))
		return;
	try_next_addr(c);
}

static void start_connect(struct kf_conn *c)
{
	c->connect_deadline = ev_now(c->loop) + c->o.connect_timeout_ms / 1000.0;
	if (!set_state(c, KF_CONN_RESOLVING, KF_OK, NULL))
		return;
	rearm_timer(c);
	c->lookup = kf_resolve(c->resolver, c->host, c->o.port, c->o.connect_timeout_ms,
			       on_resolved, c);
}

static void try_next_addr(struct kf_conn *c)
{
	while (c->addr_idx < c->addrs.n) {
		const struct sockaddr *sa = (const struct sockaddr *)&c->addrs.addr[c->addr_idx];
		socklen_t len = c->addrs.len[c->addr_idx];
		c->addr_idx++;
		int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		if (connect(fd, sa, len) == -1 && errno != EINPROGRESS) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev_io_init(&c->wio, on_io, fd, EV_WRITE);
		ev_io_init(&c->rio, on_io, fd, EV_READ);
		c->wio.data = c->rio.data = c;
		ev_io_start(c->loop, &c->wio);
		return;
	}
	char m[300];
	snprintf(m, sizeof(m), "cannot connect to %s:%d: %s", c->host, c->o.port, strerror(errno));
	conn_fail(c, KF_EIO, m);
}

/* Transport handshake step; returns false when the connection failed. */
static bool do_handshake(struct kf_conn *c)
{
	int want = 0;
	char err[256] = "";
	int rc = c->o.transport->handshake(c->tctx, &want, err, sizeof(err));
	if (rc == KF_EAGAIN) {
		ev_io_stop(c->loop, &c->rio);
		ev_io_stop(c->loop, &c->wio);
		if (want & EV_READ)
			ev_io_start(c->loop, &c->rio);
		if (want & EV_WRITE)
			ev_io_start(c->loop, &c->wio);
		return true;
	}
	if (rc != KF_OK) {
		char m[320];
		/* The transport's message names the step ("TLS handshake with
		 * H:P failed: ..."); add nothing to it. */
		snprintf(m, sizeof(m), "%s", err[0] ? err : "transport handshake failed");
		conn_fail(c, rc == KF_EAUTH ? KF_EAUTH : KF_EIO, m);
		return false;
	}
	return after_transport(c);
}

static void queue_apiversions(struct kf_conn *c)
{
	struct req *r = calloc(1, sizeof(*r));
	if (!r) {
		conn_fail(c, KF_ENOMEM, "out of memory");
		return;
	}
	c->apiv_obj.client_software_name = c->sw_name;
	c->apiv_obj.client_software_version = c->sw_version;
	r->api = &kf_api_api_versions;
	r->ver = c->apiv_ver;
	r->max_ver = c->apiv_ver;
	r->obj = &c->apiv_obj;
	r->internal = true;
	r->deadline = c->connect_deadline;
	/* Ahead of everything else queued. */
	r->next = c->pending.head;
	c->pending.head = r;
	if (!c->pending.tail)
		c->pending.tail = r;
	kick(c);
}

/* Socket connected and transport ready: negotiate versions. */
static bool after_transport(struct kf_conn *c)
{
	ev_io_stop(c->loop, &c->wio);
	ev_io_start(c->loop, &c->rio);
	if (!set_state(c, KF_CONN_APIVERSIONS, KF_OK, NULL))
		return false;
	queue_apiversions(c);
	return true;
}

static void on_connected(struct kf_conn *c)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		soerr = errno;
	if (soerr) {
		ev_io_stop(c->loop, &c->wio);
		close(c->fd);
		c->fd = -1;
		errno = soerr;
		kf_debug("conn", "%s: connect: %s", c->name, strerror(soerr));
		try_next_addr(c);
		return;
	}
	if (!c->o.transport) {
		after_transport(c);
		return;
	}
	char err[256] = "";
	c->tctx = c->o.transport->open(c->o.transport->arg, c->fd, c->host, err, sizeof(err));
	if (!c->tctx) {
		char m[320];
		snprintf(m, sizeof(m), "transport: %s", err);
		conn_fail(c, KF_EIO, m);
		return;
	}
	if (!set_state(c, KF_CONN_HANDSHAKE, KF_OK, NULL))
		return;
	do_handshake(c);
}

/* ------------------------------------------------------------ sending */

/* A new request's deadline.  While the connection is muted (KIP-219) the
 * rest of the mute does not count against its timeout. */
static ev_tstamp req_deadline(struct kf_conn *c, int timeout_ms)
{
	ev_tstamp now = ev_now(c->loop);
	ev_tstamp d = now + (timeout_ms > 0 ? timeout_ms : c->o.request_timeout_ms) / 1000.0;
	if (ev_is_active(&c->unmute) && c->mute_until > now)
		d += c->mute_until - now;
	return d;
}

int kf_conn_send(struct kf_conn *c, int16_t api_key, int16_t max_ver, const void *req,
		 int timeout_ms, kf_conn_resp_cb *cb, void *opaque)
{
	const struct kf_api *api = kf_proto_api(api_key);
	if (!api || c->freeing)
		return api ? KF_ECLOSED : KF_EUNSUPP;
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return KF_ENOMEM;
	r->api = api;
	r->max_ver = max_ver;
	r->ver = -1;
	r->obj = req;
	r->cb = cb;
	r->opaque = opaque;
	r->deadline = req_deadline(c, timeout_ms);
	list_push(&c->pending, r);
	if (c->state == KF_CONN_DOWN && !c->backoff_active)
		start_connect(c);
	else
		kick(c); /* auth_failed: fails it, from the loop */
	rearm_timer(c);
	return KF_OK;
}

/* A new request of the authentication step, or NULL (*rc says why). */
static struct req *auth_req(struct kf_conn *c, int timeout_ms, kf_conn_resp_cb *cb, void *opaque,
			    int *rc)
{
	*rc = KF_ECLOSED;
	if (c->state != KF_CONN_AUTH && !(c->state == KF_CONN_READY && c->reauthing))
		return NULL;
	*rc = KF_ENOMEM;
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cb = cb;
	r->opaque = opaque;
	r->auth = true;
	r->deadline = req_deadline(c, timeout_ms);
	*rc = KF_OK;
	return r;
}

static void queue_auth(struct kf_conn *c, struct req *r)
{
	list_push(&c->pending, r);
	kick(c);
	rearm_timer(c);
}

int kf_conn_send_auth(struct kf_conn *c, int16_t api_key, int16_t ver, const void *req,
		      int timeout_ms, kf_conn_resp_cb *cb, void *opaque)
{
	const struct kf_api *api = kf_proto_api(api_key);
	if (!api)
		return KF_EUNSUPP;
	int rc;
	struct req *r = auth_req(c, timeout_ms, cb, opaque, &rc);
	if (!r)
		return rc;
	r->api = api;
	r->ver = ver;
	r->max_ver = ver;
	r->obj = req;
	queue_auth(c, r);
	return KF_OK;
}

int kf_conn_send_auth_raw(struct kf_conn *c, const void *token, size_t len, int timeout_ms,
			  kf_conn_resp_cb *cb, void *opaque)
{
	if (len > INT32_MAX)
		return KF_ETOOBIG;
	int rc;
	struct req *r = auth_req(c, timeout_ms, cb, opaque, &rc);
	if (!r)
		return rc;
	r->raw = true;
	r->ver = -1;
	r->token = malloc(len ? len : 1);
	if (!r->token) {
		free(r);
		return KF_ENOMEM;
	}
	memcpy(r->token, token, len);
	r->token_len = len;
	queue_auth(c, r);
	return KF_OK;
}


/*
 * What was negotiated, once per socket, for the operator: every API this
 * client speaks with the version it will use ("-": none), named as Kafka's
 * ApiKeys constants (LEAVE_GROUP=4).  Not "LeaveGroup": in a log that name
 * means such a request went out, and operators and tests grep for it.
 */
static void log_versions(struct kf_conn *c)
{
	char line[320];
	size_t n, len;
	const struct kf_api *const *apis = kf_proto_apis(&n);
	int w = snprintf(line, sizeof(line), "ApiVersions v%d:", c->apiv_ver);
	len = w > 0 ? (size_t)w : 0;
	for (size_t i = 0; i < n && len + 24 < sizeof(line); i++) {
		line[len++] = ' ';
		for (const char *p = apis[i]->name; *p && len + 8 < sizeof(line); p++) {
			if (*p >= 'A' && *p <= 'Z' && p != apis[i]->name)
				line[len++] = '_';
			line[len++] = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		}
		int16_t v = kf_conn_version(c, apis[i]->key);
		if (v >= 0)
			w = snprintf(line + len, sizeof(line) - len, "=%d", v);
		else
			w = snprintf(line + len, sizeof(line) - len, "=-");
		len += w > 0 ? (size_t)w : 0;
	}
	line[len < sizeof(line) ? len : sizeof(line) - 1] = '\0';
	kf_info("conn", "%s: %s", c->name, line);
}

/* Versions known and authenticated: let requests flow.  Returns false if
 * the connection was freed by the state callback. */
static bool become_ready(struct kf_conn *c)
{
	/* An answer that cannot be decoded will most likely come again on the
	 * new socket: keep backing off until that API answers well. */
	if (c->bad.count == 0)
		c->backoff_ms = c->o.backoff_min_ms;
	c->up_since_ms = clock_ms(CLOCK_REALTIME);
	log_versions(c);
	if (c->fail_streak)
		kf_info("conn", "%s: connected after %d failed attempts", c->name, c->fail_streak);
	c->fail_streak = 0;
	if (!set_state(c, KF_CONN_READY, KF_OK, NULL))
		return false;
	rearm_timer(c);
	kick(c);
	return true;
}

void kf_conn_auth_done(struct kf_conn *c, int err, const char *msg)
{
	bool again = c->state == KF_CONN_READY && c->reauthing;
	if (c->state != KF_CONN_AUTH && !again)
		return;
	if (err) {
		conn_fail(c, err, msg ? msg : "authentication failed");
		return;
	}
	if (!again) {
		become_ready(c);
		return;
	}
	c->reauthing = false;
	c->reauths++;
	kf_debug("conn", "%s: re-authenticated (%" PRId64 " times)", c->name, c->reauths);
	kick(c);    /* the requests held back meanwhile */
}

static void on_reauth(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_conn *c = (struct kf_conn *)((char *)w - offsetof(struct kf_conn, reauth));
	if (c->state != KF_CONN_READY || !c->o.auth)
		return;
	kf_debug("conn", "%s: session lifetime nearly over: authenticating again", c->name);
	c->reauthing = true;
	c->busy++;
	c->o.auth->start(c, c->o.auth->arg);
	c->busy--;
	if (c->freeing && c->busy == 0)
		really_free(c);
}

void kf_conn_auth_renew_after(struct kf_conn *c, int64_t ms)
{
	ev_timer_stop(c->loop, &c->reauth);
	if (ms <= 0)
		return;
	ev_timer_init(&c->reauth, on_reauth, ms / 1000.0, 0.);
	ev_timer_start(c->loop, &c->reauth);
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents);

/* auth_failed: fail what waits with KF_EAUTH.  Only the requests queued
 * now: one that a callback sends again waits for the next kick.  Every
 * callback runs once, even if one of them frees the connection. */
static void fail_pending(struct kf_conn *c)
{
	struct reqlist l = c->pending;
	c->pending.head = c->pending.tail = NULL;
	c->busy++;
	struct req *r;
	while ((r = list_pop(&l))) {
		if (r->cb)
			r->cb(c, c->freeing ? KF_ECLOSED : KF_EAUTH, r->ver, NULL, r->opaque);
		req_free(r);
	}
	c->busy--;
	if (c->freeing) {
		if (c->busy == 0)
			really_free(c);
		return;
	}
	rearm_timer(c);
}

static void kick(struct kf_conn *c)
{
	if ((c->fd == -1 && c->state != KF_CONN_FAILED) || ev_is_active(&c->kick))
		return;
	ev_timer_init(&c->kick, on_kick, 0., 0.);
	ev_timer_start(c->loop, &c->kick);
}

/* May r be written in the current state? */
static bool eligible(const struct kf_conn *c, const struct req *r)
{
	switch (c->state) {
	case KF_CONN_APIVERSIONS: return r->internal;
	case KF_CONN_AUTH: return r->auth;
	/* While re-authenticating only the auth step's requests go out; the
	 * rest wait in order, their timeouts running. */
	case KF_CONN_READY: return c->reauthing ? r->auth : !r->internal && !r->auth;
	default: return false;
	}
}

/* Flush the output buffer; returns false when the connection failed. */
static bool flush_out(struct kf_conn *c)
{
	while (c->out_off < c->out.len) {
		const uint8_t *p = c->out.buf + c->out_off;
		size_t n = c->out.len - c->out_off;
		ssize_t w;
		int want = EV_WRITE;
		char err[256] = "";
		if (c->tctx)
			w = c->o.transport->write(c->tctx, p, n, &want, err, sizeof(err));
		else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				want = EV_WRITE;
			else if (w == -1) {
				want = 0;
				snprintf(err, sizeof(err), "%s", strerror(errno));
			}
		}
		if (w > 0) {
			c->out_off += (size_t)w;
			continue;
		}
		if (want) {
			/* TLS may need to read before it can write; the read watcher
			 * is always on in these states, so only add the writer. */
			if (want & EV_WRITE)
				ev_io_start(c->loop, &c->wio);
			return true;
		}
		char m[300];
		snprintf(m, sizeof(m), "write failed: %s", err[0] ? err : "connection closed");
		return conn_fail(c, KF_EIO, m);
	}
	wipe_out(c);
	ev_io_stop(c->loop, &c->wio);
	return true;
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_conn *c = (struct kf_conn *)((char *)w - offsetof(struct kf_conn, kick));
	if (c->state == KF_CONN_FAILED) {
		fail_pending(c);
		return;
	}
	/* Before ApiVersions nothing may be written, and flush_out would stop
	 * the write watcher that connect and the handshake are waiting on;
	 * reaching that state kicks again. */
	if (c->fd == -1 || (c->state != KF_CONN_APIVERSIONS && c->state != KF_CONN_AUTH &&
			    c->state != KF_CONN_READY))
		return;
	/* Muted by the broker (KIP-219): on_unmute kicks again. */
	if (ev_is_active(&c->unmute))
		return;
	/* Encode every eligible pending request, in order, behind what is
	 * already being written. */
	for (struct req *r = c->pending.head, *next; r; r = next) {
		next = r->next;
		if (!eligible(c, r))
			continue;
		if (!r->internal && !r->auth) {
			int16_t v = kf_conn_version(c, r->api->key);
			if (v >= 0 && r->max_ver >= 0 && v > r->max_ver)
				v = r->max_ver >= r->api->vmin ? r->max_ver : -1;
			if (v < 0) {
				kf_warn("conn", "%s: broker supports no version of %s this client speaks",
					c->name, r->api->name);
				list_remove(&c->pending, r);
				if (!complete(c, r, KF_EUNSUPP, NULL))
					return;
				next = c->pending.head;
				continue;
			}
			r->ver = v;
		}
		if (r->raw) {
			/* Only the size prefix: no header, no correlation id. */
			kf_wr_bytes(&c->out, r->token, (int32_t)r->token_len);
			kf_trace("conn", "%s: -> raw SASL token (%zu bytes)", c->name, r->token_len);
			list_remove(&c->pending, r);
			list_push(&c->sent, r);
			continue;
		}
		r->corr = c->next_corr++;
		if (c->next_corr == INT32_MAX)
			c->next_corr = 1;
		if (kf_proto_encode_request(&c->out, r->api, r->ver, r->corr, c->client_id, r->obj)) {
			list_remove(&c->pending, r);
			if (!complete(c, r, KF_ENOMEM, NULL))
				return;
			next = c->pending.head;
			continue;
		}
		kf_trace("conn", "%s: -> %s v%d corr %d", c->name, r->api->name, r->ver, r->corr);
		list_remove(&c->pending, r);
		list_push(&c->sent, r);
	}
	flush_out(c);
}

/* ------------------------------------------------------------ receiving */

/*
 * KIP-219: the first version of each API whose answer a broker sends at
 * once and then mutes the channel for ThrottleTimeMs; before it the broker
 * delayed the answer itself.  From the "Starting in version N, on quota
 * violation, brokers send out responses before throttling" comment of each
 * <Name>Response.json in Kafka's clients/src/main/resources/common/message/.
 * SaslHandshake and SaslAuthenticate answers carry no throttle time.
 */
static const struct {
	int16_t key, ver;
} kip219[] = {
	{ KF_API_FETCH, 8 },
	{ KF_API_LIST_OFFSETS, 3 },
	{ KF_API_METADATA, 6 },
	{ KF_API_OFFSET_COMMIT, 4 },
	{ KF_API_OFFSET_FETCH, 4 },
	{ KF_API_FIND_COORDINATOR, 2 },
	{ KF_API_JOIN_GROUP, 3 },
	{ KF_API_HEARTBEAT, 2 },
	{ KF_API_LEAVE_GROUP, 2 },
	{ KF_API_SYNC_GROUP, 2 },
	{ KF_API_API_VERSIONS, 2 },
};

/* The top-level ThrottleTimeMs field of api's response, or NULL; looked up
 * by name once per API (conn runs in one thread: the supervisor's loop). */
static const struct kf_field *throttle_field(const struct kf_api *api)
{
	static const struct kf_field *field[MAX_API_KEY];
	static bool looked[MAX_API_KEY];
	if (api->key < 0 || api->key >= MAX_API_KEY)
		return NULL;
	if (!looked[api->key]) {
		const struct kf_schema *s = api->resp;
		for (uint16_t i = 0; i < s->nfields; i++)
			if (s->fields[i].type == KF_T_I32 && s->fields[i].tag < 0 &&
			    strcmp(s->fields[i].name, "ThrottleTimeMs") == 0)
				field[api->key] = &s->fields[i];
		looked[api->key] = true;
	}
	return field[api->key];
}

static void on_unmute(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kf_conn *c = (struct kf_conn *)((char *)w - offsetof(struct kf_conn, unmute));
	c->mute_until_mono = 0;
	kf_debug("conn", "%s: throttle over", c->name);
	kick(c);
}

/* At most one info line about throttling per connection this often. */
#define THROTTLE_LOG_S 60.

/* Mute the connection for ms from now (or longer, if it already is).
 * Requests not yet written get their deadlines moved by the added mute. */
static void mute(struct kf_conn *c, int32_t ms, const struct kf_api *api, int16_t ver)
{
	ev_tstamp now = ev_now(c->loop);
	ev_tstamp until = now + ms / 1000.0;
	bool muted = ev_is_active(&c->unmute);
	ev_tstamp from = muted && c->mute_until > now ? c->mute_until : now;
	if (until <= from)
		return;
	for (struct req *r = c->pending.head; r; r = r->next)
		r->deadline += until - from;
	if (c->state != KF_CONN_READY)
		c->connect_deadline += until - from;
	if (muted) {
		kf_debug("conn", "%s: throttle extended to %d ms from now (%s v%d)", c->name, (int)ms,
			 api->name, ver);
	} else if (c->throttle_logged > 0 && now - c->throttle_logged < THROTTLE_LOG_S) {
		kf_debug("conn", "%s: throttled by the broker for %d ms (%s v%d)", c->name, (int)ms,
			 api->name, ver);
		c->throttle_unlogged++;
		c->throttle_unlogged_ms += ms;
	} else {
		char more[96] = "";
		if (c->throttle_unlogged > 0)
			snprintf(more, sizeof(more), "; %d more throttles, %" PRId64 " ms in all,"
				 " since the last such line", c->throttle_unlogged,
				 c->throttle_unlogged_ms);
		kf_info("conn", "%s: throttled by the broker for %d ms (%s v%d)%s", c->name, (int)ms,
			api->name, ver, more);
		c->throttle_logged = now;
		c->throttle_unlogged = 0;
		c->throttle_unlogged_ms = 0;
	}
	c->mute_until = until;
	c->mute_until_mono = clock_ms(CLOCK_MONOTONIC) + ms;
	ev_timer_stop(c->loop, &c->unmute);
	ev_timer_set(&c->unmute, until - now, 0.);
	ev_timer_start(c->loop, &c->unmute);
	rearm_timer(c);
}

/* A decoded answer's ThrottleTimeMs: counted, and muting from KIP-219 on. */
static void note_throttle(struct kf_conn *c, const struct kf_api *api, int16_t ver,
			  const void *resp)
{
	const struct kf_field *f = throttle_field(api);
	if (!f || ver < f->vmin || ver > f->vmax)
		return;
	int32_t ms;
	memcpy(&ms, (const char *)resp + f->off, sizeof(ms));
	if (ms <= 0)
		return;
	c->throttle_total_ms += ms;
	int16_t from = -1;
	for (size_t i = 0; i < sizeof(kip219) / sizeof(kip219[0]); i++)
		if (kip219[i].key == api->key)
			from = kip219[i].ver;
	if (from < 0 || ver < from) {
		kf_debug("conn", "%s: %s v%d answer was held back %d ms by the broker (quota)",
			 c->name, api->name, ver, (int)ms);
		return;
	}
	mute(c, ms, api, ver);
}

/* An answer of api that decoded: a streak of failures with it is over. */
static void note_decoded(struct kf_conn *c, const struct kf_api *api)
{
	if (c->bad.count == 0 || c->bad.api != api->key)
		return;
	kf_info("conn", "%s: %s answers decode again (after %d failures)", c->name, api->name,
		c->bad.count);
	c->bad.count = 0;
	c->backoff_ms = c->o.backoff_min_ms;
}

/* An answer that cannot be decoded (err names API, version and byte).  The
 * first of a kind is an error line; the same again is a warning with the
 * count, at powers of two or after 30 s of silence. */
static void note_undecodable(struct kf_conn *c, const struct kf_api *api, int16_t ver,
			     const char *err)
{
	ev_tstamp now = ev_now(c->loop);
	if (c->bad.count == 0 || c->bad.api != api->key || c->bad.ver != ver ||
	    strcmp(c->bad.text, err) != 0) {
		c->bad.api = api->key;
		c->bad.ver = ver;
		c->bad.count = 1;
		c->bad.logged = now;
		snprintf(c->bad.text, sizeof(c->bad.text), "%s", err);
		kf_err("conn", "%s: cannot decode the answer: %s", c->name, err);
		return;
	}
	c->bad.count++;
	if ((c->bad.count & (c->bad.count - 1)) == 0 || now - c->bad.logged >= 30.) {
		kf_warn("conn", "%s: cannot decode the answer again (%d times): %s", c->name,
			c->bad.count, err);
		c->bad.logged = now;
	} else {
		kf_debug("conn", "%s: cannot decode the answer again (%d times)", c->name,
			 c->bad.count);
	}
}

/* The ApiVersions answer: record the broker's ranges, or fall back to the
 * version the broker named (KIP-511).  Returns false if the conn failed. */
static bool handle_apiversions(struct kf_conn *c, struct req *r, const uint8_t *buf, size_t len)
{
	struct kf_api_versions_resp resp;
	char err[256];
	int32_t corr;
	memset(&resp, 0, sizeof(resp));
	int rc = kf_proto_decode_response(buf, len, r->api, r->ver, &c->arena, &resp, &corr, err,
					  sizeof(err));
	if (rc != KF_OK || resp.error_code == KF_KERR_UNSUPPORTED_VERSION) {
		/* An unsupported version is answered in v0 layout. */
		kf_arena_free(&c->arena);
		memset(&resp, 0, sizeof(resp));
		rc = kf_proto_decode_response(buf, len, r->api, 0, &c->arena, &resp, &corr, err,
					      sizeof(err));
		/* Some brokers (librdkafka's mock among them) answer in a layout
		 * of their own; its leading ErrorCode is all that is needed. */
		if (rc != KF_OK && len >= 6 && r->ver > 0 &&
		    (int16_t)(buf[4] << 8 | buf[5]) == KF_KERR_UNSUPPORTED_VERSION) {
			memset(&resp, 0, sizeof(resp));
			resp.error_code = KF_KERR_UNSUPPORTED_VERSION;
			rc = KF_OK;
		}
		if (rc != KF_OK) {
			free(r);
			return conn_fail(c, KF_EPROTO, err);
		}
	}
	if (resp.error_code == KF_KERR_UNSUPPORTED_VERSION) {
		int16_t want = -1;
		for (int32_t i = 0; i < resp.api_keys.n; i++) {
			struct kf_api_versions_resp_key *k = &KF_AT(resp.api_keys, struct kf_api_versions_resp_key, i);
			if (k->api_key == KF_API_API_VERSIONS)
				want = k->max_version;
		}
		if (want < 0 || want >= r->ver)
			want = r->ver > 0 ? 0 : -1;
		free(r);
		kf_arena_free(&c->arena);
		if (want < 0)
			return conn_fail(c, KF_EUNSUPP, "broker rejects every ApiVersions version");
		kf_debug("conn", "%s: ApiVersions falls back to v%d", c->name, want);
		c->apiv_ver = want;
		queue_apiversions(c);
		return true;
	}
	if (resp.error_code) {
		char m[128];
		snprintf(m, sizeof(m), "ApiVersions error %s", kf_kafka_err_name(resp.error_code));
		free(r);
		kf_arena_free(&c->arena);
		return conn_fail(c, KF_EPROTO, m);
	}
	note_throttle(c, r->api, r->ver, &resp);
	for (int i = 0; i < MAX_API_KEY; i++)
		c->vmin[i] = c->vmax[i] = -1;
	for (int32_t i = 0; i < resp.api_keys.n; i++) {
		struct kf_api_versions_resp_key *k = &KF_AT(resp.api_keys, struct kf_api_versions_resp_key, i);
		if (k->api_key >= 0 && k->api_key < MAX_API_KEY) {
			c->vmin[k->api_key] = k->min_version;
			c->vmax[k->api_key] = k->max_version;
		}
	}
	c->versions_known = true;
	free(r);
	kf_arena_free(&c->arena);
	if (c->o.auth) {
		if (!set_state(c, KF_CONN_AUTH, KF_OK, NULL))
			return false;
		c->busy++;
		c->o.auth->start(c, c->o.auth->arg);
		c->busy--;
		if (c->freeing) {
			if (c->busy == 0)
				really_free(c);
			return false;
		}
		return true;
	}
	return become_ready(c);
}

/* One whole response frame; returns false if the connection went away. */
static bool handle_frame(struct kf_conn *c, const uint8_t *buf, size_t len)
{
	struct req *r = list_pop(&c->sent);
	if (r && r->raw) {
		kf_trace("conn", "%s: <- raw SASL token (%zu bytes)", c->name, len);
		struct kf_conn_raw raw = { buf, len };
		return complete(c, r, KF_OK, &raw);
	}
	int32_t corr = kf_proto_peek_corr_id(buf, len);
	if (!r || corr != r->corr) {
		char m[128];
		snprintf(m, sizeof(m), "unexpected response: correlation id %d, expected %d", corr,
			 r ? r->corr : -1);
		if (r)
			list_push(&c->sent, r); /* failed with the rest */
		return conn_fail(c, KF_EPROTO, m);
	}
	kf_trace("conn", "%s: <- %s v%d corr %d (%zu bytes)", c->name, r->api->name, r->ver, corr, len);
	if (r->internal)
		return handle_apiversions(c, r, buf, len);
	void *resp = kf_arena_alloc(&c->arena, r->api->resp->size);
	if (!resp) {
		list_push(&c->sent, r);
		return conn_fail(c, KF_ENOMEM, "out of memory");
	}
	char err[256] = "";
	int rc = kf_proto_decode_response(buf, len, r->api, r->ver, &c->arena, resp, &corr, err,
					  sizeof(err));
	if (rc == KF_OK) {
		note_throttle(c, r->api, r->ver, resp);
		note_decoded(c, r->api);
		bool alive = complete(c, r, KF_OK, resp);
		if (alive)
			kf_arena_free(&c->arena);
		return alive;
	}
	if (!err[0])
		snprintf(err, sizeof(err), "%s v%d response: %s at byte ? of %zu", r->api->name,
			 r->ver, kf_strerror(rc), len);
	note_undecodable(c, r->api, r->ver, err);
	char m[300];
	snprintf(m, sizeof(m), "cannot decode the answer: %s", err);
	if (!complete(c, r, rc, NULL))
		return false;
	kf_arena_free(&c->arena);
	/* Already logged: the connection only goes to backoff. */
	return conn_fail_as(c, KF_EPROTO, m, true);
}

static ssize_t conn_read(struct kf_conn *c, void *buf, size_t n, bool *fatal, char *err,
			 size_t errlen)
{
	*fatal = false;
	if (c->tctx) {
		int want = 0;
		ssize_t r = c->o.transport->read(c->tctx, buf, n, &want, err, errlen);
		if (r < 0 && !want)
			*fatal = true;
		if (r < 0 && (want & EV_WRITE))
			ev_io_start(c->loop, &c->wio);
		return r;
	}
	ssize_t r = recv(c->fd, buf, n, 0);
	if (r == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		*fatal = true;
		snprintf(err, errlen, "%s", strerror(errno));
	}
	return r;
}

static void on_readable(struct kf_conn *c)
{
	for (int frames = 0; frames < MAX_READ_FRAMES;) {
		bool fatal;
		char err[256] = "";
		ssize_t n;
		if (c->hdr_got < 4) {
			n = conn_read(c, c->hdr + c->hdr_got, 4 - c->hdr_got, &fatal, err, sizeof(err));
		} else {
			n = conn_read(c, c->frame + c->frame_got, c->frame_len - c->frame_got, &fatal,
				      err, sizeof(err));
		}
		if (n == 0) {
			bool authing = c->state == KF_CONN_AUTH || c->reauthing;
			/* Before Kafka 1.0 (SaslHandshake v0) a broker says no to
			 * the bare SASL token just sent by closing: permanent.
			 * Otherwise a close during authentication may be a broker
			 * going down. */
			bool refused = authing && c->sent.head && c->sent.head->raw;
			conn_fail(c, refused ? KF_EAUTH : KF_ECLOSED,
				  refused ? "connection closed by broker after our SASL token "
					    "(credentials or mechanism refused)" :
				  authing ? "connection closed by broker during authentication" :
					    "connection closed by broker");
			return;
		}
		if (n < 0) {
			if (fatal) {
				char m[300];
				snprintf(m, sizeof(m), "read failed: %s", err);
				conn_fail(c, KF_EIO, m);
				return;
			}
			/* A TLS write that wanted to read (renegotiation) may go on now. */
			if (c->tctx && c->out_off < c->out.len)
				flush_out(c);
			return;
		}
		if (c->hdr_got < 4) {
			c->hdr_got += (size_t)n;
			if (c->hdr_got < 4)
				continue;
			uint32_t size = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
					(uint32_t)c->hdr[2] << 8 | c->hdr[3];
			/* A raw SASL answer may be empty (PLAIN's success). */
			bool raw = c->sent.head && c->sent.head->raw;
			if ((size < 4 && !raw) || size > c->o.max_response_bytes) {
				char m[128];
				snprintf(m, sizeof(m), "response frame of %u bytes (limit %zu)", size,
					 c->o.max_response_bytes);
				conn_fail(c, KF_ETOOBIG, m);
				return;
			}
			if (!c->sent.head) {
				conn_fail(c, KF_EPROTO, "response with no request outstanding");
				return;
			}
			c->frame = malloc(size ? size : 1);
			if (!c->frame) {
				conn_fail(c, KF_ENOMEM, "out of memory");
				return;
			}
			c->frame_len = size;
			c->frame_got = 0;
			if (size)
				continue;
		} else {
			c->frame_got += (size_t)n;
			if (c->frame_got < c->frame_len)
				continue;
		}
		uint8_t *frame = c->frame;
		size_t len = c->frame_len;
		c->frame = NULL;
		c->hdr_got = 0;
		c->frame_len = c->frame_got = 0;
		bool alive = handle_frame(c, frame, len);
		free(frame);
		if (!alive)
			return;
		frames++;
		rearm_timer(c);
		if (c->fd == -1)
			return;
	}
	/* Yielded after MAX_READ_FRAMES: the watcher fires again if more is
	 * buffered in the kernel; TLS may hold decrypted bytes, so re-kick. */
	if (c->tctx)
		ev_feed_event(c->loop, &c->rio, EV_READ);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct kf_conn *c = w->data;
	switch (c->state) {
	case KF_CONN_CONNECTING:
		on_connected(c);
		return;
	case KF_CONN_HANDSHAKE:
		do_handshake(c);
		return;
	default:
		break;
	}
	if (revents & EV_WRITE) {
		if (!flush_out(c))
			return;
		if (c->fd == -1)
			return;
		/* A TLS read that wanted to write (a key update's answer) resumes
		 * here; with nothing to do it costs one SSL_read. */
		if (c->tctx)
			revents |= EV_READ;
	}
	if (revents & EV_READ)
		on_readable(c);
}
