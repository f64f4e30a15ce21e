/*
 * report.c: what kforkd tells: the status JSON, the Prometheus text, the
 * control socket's commands, and the control socket and metrics listener
 * themselves (opened at start, moved by a reload).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kforkd.h"
#include "proto_apis.h"

static void render_metrics(void *opaque, struct kf_wr *out);
static void on_control(void *opaque, const char *cmd, struct kf_wr *reply);
static bool all_auth_failed(void);

static const char *const part_state_names[] = { "fetching", "blocked", "resetting",
						 "stopped", "revoking" };

/* control.metrics_listen changed: the same, for the metrics listener. */
static void reopen_metrics(void)
{
	char err[512];
	const char *want = D.cfg.control.metrics_listen;
	if (D.metrics && strcmp(kf_metrics_listen(D.metrics), want) == 0)
		return;
	struct kf_metrics *old = D.metrics;
	D.metrics = NULL;
	/* The same port under another spelling would clash: free first. */
	kf_metrics_free(old);
	if (want[0] && !(D.metrics = kf_metrics_new(D.loop, want, render_metrics, NULL, err,
						    sizeof(err))))
		kf_err(COMP, "reload: %s; no metrics listener", err);
}

/* control.socket or its mode changed: open the new one, then close the old
 * (a failure keeps the old socket). */
void on_ctl_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	char err[512];
	reopen_metrics();
	if (D.ctl && kf_control_path_is(D.ctl, D.cfg.control.socket) && !D.ctl_mode_changed)
		return;
	D.ctl_mode_changed = false;
	struct kf_control *old = D.ctl;
	D.ctl = NULL;
	if (!D.cfg.control.socket[0]) {
		kf_control_free(old);   /* control.socket = "": no socket */
		return;
	}
	if (old && kf_control_path_is(old, D.cfg.control.socket)) {
		kf_control_free(old);   /* same path, new mode: free it first */
		old = NULL;
	}
	if (!(D.ctl = kf_control_new(D.loop, D.cfg.control.socket, D.cfg.control.socket_mode,
				     on_control, NULL, err, sizeof(err))))
		kf_err(COMP, "reload: %s%s", err, old ? "; keeping the old socket" : "");
	if (!D.ctl) {
		D.ctl = old;
		return;
	}
	kf_control_free(old);
}

static const char *daemon_state(void)
{
	switch (D.phase) {
	case PH_DRAIN:
	case PH_FINAL:
		return "draining";
	case PH_DONE:
		return "stopped";
	case PH_RUN:
		break;
	}
	if (kf_barrier_active(&D.revoke_b) || D.restarting || !D.g)
		return "rebalancing";
	if (all_auth_failed())
		return "auth_failed";
	return D.quiet && kf_group_stable(D.g) ? "quiet" : kf_group_state(D.g);
}

/* High watermark minus committed offset; -1 while either is unknown. */
static int64_t part_lag(const struct part *p, int64_t hwm)
{
	if (hwm < 0 || p->committed < 0)
		return -1;
	return hwm > p->committed ? hwm - p->committed : 0;
}

static void json_offset(struct kf_json *j, const char *key, int64_t v)
{
	if (v >= 0)
		kf_json_int(j, key, v);
	else
		kf_json_null(j, key);
}

static void status_assignment(struct kf_json *j)
{
	kf_json_arr(j, "assignment");
	for (uint32_t i = 0; i < D.nparts; i++) {
		const struct part *p = &D.parts[i];
		if (!p->used)
			continue;
		int64_t pos = kf_fetcher_position(D.f, i);
		int64_t hwm = kf_fetcher_hwm(D.f, i);
		int w = kf_dispatch_slot_worker(D.d, i);
		kf_json_obj(j, NULL);
		kf_json_str(j, "topic", p->topic);
		kf_json_int(j, "partition", p->partition);
		json_offset(j, "position", pos);
		json_offset(j, "committed", p->committed);
		json_offset(j, "high_watermark", hwm);
		json_offset(j, "lag", part_lag(p, hwm));
		if (w >= 0)
			kf_json_int(j, "worker", w);
		else
			kf_json_null(j, "worker");
		kf_json_str(j, "state", part_state_names[p->state]);
		kf_json_bool(j, "paused", p->state == PS_STOPPED);
		kf_json_str(j, "paused_reason", p->state == PS_STOPPED ? p->reason : NULL);
		kf_json_end_obj(j);
	}
	kf_json_end_arr(j);
}

static void status_workers(struct kf_json *j)
{
	kf_json_arr(j, "workers");
	for (int i = 0; i < kf_pool_worker_count(D.pool); i++) {
		struct kf_pool_worker_status st;
		if (kf_pool_worker_status(D.pool, i, &st) != KF_OK)
			continue;
		kf_json_obj(j, NULL);
		kf_json_int(j, "id", st.id);
		kf_json_int(j, "pid", st.pid);
		kf_json_str(j, "state", st.state_name);
		kf_json_uint(j, "inflight", st.inflight);
		kf_json_uint(j, "processed", st.processed);
		kf_json_uint(j, "failed", st.failed);
		kf_json_uint(j, "restarts", st.restarts);
		kf_json_end_obj(j);
	}
	kf_json_end_arr(j);
}

static void json_time_ms(struct kf_json *j, const char *key, int64_t ms)
{
	if (ms <= 0) {
		kf_json_null(j, key);
		return;
	}
	char buf[40];
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
	snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
	kf_json_str(j, key, buf);
}

/* A broker's main connection, or its coordinator connection when only
 * that one was used; the latest error of the two. */
static const struct kf_conn *broker_conn(const struct kf_cluster_broker *b, const char **err,
					 int64_t *err_at)
{
	const struct kf_conn *c = b->conn ? b->conn : b->coord;
	*err = NULL;
	*err_at = 0;
	const struct kf_conn *both[] = { b->conn, b->coord };
	for (int i = 0; i < 2; i++) {
		const char *m;
		int64_t at;
		if (both[i] && kf_conn_last_error(both[i], &m, &at) && at > *err_at) {
			*err = m;
			*err_at = at;
		}
	}
	return c;
}

/* KIP-368 re-authentications on both of the broker's connections. */
static int64_t broker_reauths(const struct kf_cluster_broker *b)
{
	return (b->conn ? kf_conn_reauths(b->conn) : 0) + (b->coord ? kf_conn_reauths(b->coord) : 0);
}

/*
 * Every connection there is refused for good (auth_failed: a wrong
 * password, a certificate that does not verify) and none is ready: kforkd
 * cannot get anywhere until the config is reloaded.
 */
static bool all_auth_failed(void)
{
	struct kf_cluster_broker b;
	int failed = 0;
	for (int i = 0; D.cl && kf_cluster_broker_at(D.cl, i, &b); i++) {
		const struct kf_conn *both[] = { b.conn, b.coord };
		for (int k = 0; k < 2; k++) {
			if (!both[k])
				continue;
			if (kf_conn_state(both[k]) != KF_CONN_FAILED)
				return false;
			failed++;
		}
	}
	return failed > 0;
}

/* Throttle time the broker reported on both of its connections. */
static int64_t broker_throttle_ms(const struct kf_cluster_broker *b)
{
	return (b->conn ? kf_conn_throttle_total_ms(b->conn) : 0) +
	       (b->coord ? kf_conn_throttle_total_ms(b->coord) : 0);
}

/* Every broker (or bootstrap address before the first Metadata answer):
 * connection state, the last error and when, the negotiated versions. */
static void status_brokers(struct kf_json *j)
{
	kf_json_arr(j, "brokers");
	struct kf_cluster_broker b;
	for (int i = 0; D.cl && kf_cluster_broker_at(D.cl, i, &b); i++) {
		const char *err;
		int64_t err_at;
		const struct kf_conn *c = broker_conn(&b, &err, &err_at);
		kf_json_obj(j, NULL);
		kf_json_int(j, "node", b.node_id);
		kf_json_str(j, "host", b.host);
		kf_json_int(j, "port", b.port);
		kf_json_str(j, "state", c ? kf_conn_state_name(kf_conn_state(c)) : "unused");
		json_time_ms(j, "up_since", c ? kf_conn_up_since(c) : 0);
		kf_json_str(j, "last_error", err);
		json_time_ms(j, "last_error_at", err_at);
		kf_json_int(j, "throttled_ms", broker_throttle_ms(&b));
		kf_json_int(j, "reauths", broker_reauths(&b));
		int16_t keys[32], vers[32];
		int nv = c ? kf_conn_versions(c, keys, vers, 32) : 0;
		kf_json_obj(j, "api_versions");
		for (int k = 0; k < nv; k++) {
			const struct kf_api *api = kf_proto_api(keys[k]);
			if (api)
				kf_json_int(j, api->name, vers[k]);
		}
		kf_json_end_obj(j);
		kf_json_end_obj(j);
	}
	kf_json_end_arr(j);
}

static void status_json(struct kf_json *j)
{
	struct kf_group_counters gc;
	group_counters(&gc);
	const struct kf_tracker_counters *tc = kf_tracker_totals(D.t);
	char loaded[32];
	struct tm tm;
	strftime(loaded, sizeof(loaded), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&D.cfg.loaded_at, &tm));

	kf_json_obj(j, NULL);
	kf_json_str(j, "state", daemon_state());
	kf_json_str(j, "group", D.cfg.kafka.group);
	kf_json_str(j, "member_id", D.g ? kf_group_member_id(D.g) : "");
	kf_json_int(j, "generation", D.g ? kf_group_generation(D.g) : -1);
	status_assignment(j);
	status_workers(j);
	status_brokers(j);
	kf_json_obj(j, "counters");
	kf_json_uint(j, "rebalances", gc.rebalances);
	kf_json_uint(j, "commits", gc.commits);
	kf_json_uint(j, "commit_failures", gc.commit_failures);
	kf_json_uint(j, "heartbeats", gc.heartbeats);
	kf_json_uint(j, "heartbeat_max_gap_ms", gc.heartbeat_max_gap_ms);
	kf_json_uint(j, "records_dispatched", tc->dispatched);
	kf_json_uint(j, "records_done", tc->done);
	kf_json_uint(j, "records_failed", tc->failed);
	kf_json_end_obj(j);
	kf_json_obj(j, "config");
	kf_json_str(j, "path", D.cfg.path);
	kf_json_str(j, "loaded_at", loaded);
	kf_json_str(j, "last_reload_error", D.reload_error);
	kf_json_end_obj(j);
	kf_json_end_obj(j);
}

static void mprintf(struct kf_wr *out, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		kf_wr_raw(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void mhead(struct kf_wr *out, const char *name, const char *type, const char *help)
{
	mprintf(out, "# HELP kfork_%s %s\n# TYPE kfork_%s %s\n", name, help, name, type);
}

/* name{topic="..",partition="N"} value, for every assigned partition. */
static void mpart(struct kf_wr *out, const char *name, const char *help, int what)
{
	mhead(out, name, "gauge", help);
	for (uint32_t i = 0; i < D.nparts; i++) {
		const struct part *p = &D.parts[i];
		if (!p->used)
			continue;
		int64_t hwm = kf_fetcher_hwm(D.f, i), v;
		switch (what) {
		case 0: v = part_lag(p, hwm); break;
		case 1: v = p->committed; break;
		case 2: v = kf_fetcher_position(D.f, i); break;
		case 3: v = hwm; break;
		default: v = p->state == PS_STOPPED; break;
		}
		if (v < 0)
			continue;   /* not known yet: no sample */
		mprintf(out, "kfork_%s{topic=\"", name);
		kf_metrics_label(out, p->topic);
		mprintf(out, "\",partition=\"%d\"} %" PRId64 "\n", p->partition, v);
	}
}

/* name{worker="N"} value, for every worker slot in the status. */
static void mworker(struct kf_wr *out, const char *name, const char *type, const char *help,
		    int what)
{
	mhead(out, name, type, help);
	for (int i = 0; i < kf_pool_worker_count(D.pool); i++) {
		struct kf_pool_worker_status st;
		if (kf_pool_worker_status(D.pool, i, &st) != KF_OK)
			continue;
		const struct wstat *ws = i < D.nwstat ? &D.wstat[i] : &(struct wstat){ 0 };
		uint64_t v;
		switch (what) {
		case 0: v = ws->dispatched; break;
		case 1: v = st.processed - st.failed; break;
		case 2: v = st.failed; break;
		case 3: v = ws->retried; break;
		case 4: v = st.restarts; break;
		default: v = st.inflight; break;
		}
		mprintf(out, "kfork_%s{worker=\"%d\"} %" PRIu64 "\n", name, i, v);
	}
}

/* name{node="N",address="host:port"}: bootstrap addresses are all node -1. */
static void mbroker(struct kf_wr *out, const char *name, const struct kf_cluster_broker *b)
{
	mprintf(out, "kfork_%s{node=\"%d\",address=\"", name, b->node_id);
	kf_metrics_label(out, b->host);
	mprintf(out, ":%d\"}", b->port);
}

/* The Prometheus text (GET /metrics, kforkctl metrics). */
static void render_metrics(void *opaque, struct kf_wr *out)
{
	(void)opaque;
	static const char *const states[] = { "starting", "joining", "stable", "rebalancing",
					      "draining", "quiet", "stopped" };
	const char *state = daemon_state();
	mhead(out, "state", "gauge", "1 for the daemon's state (kforkctl status \"state\").");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		mprintf(out, "kfork_state{state=\"%s\"} %d\n", states[i],
			strcmp(state, states[i]) == 0);
	struct kf_group_counters gc;
	group_counters(&gc);
	const struct kf_tracker_counters *tc = kf_tracker_totals(D.t);
	struct kf_fetcher_counters fc = { 0 };
	if (D.f)
		kf_fetcher_counters(D.f, &fc);
	const struct { const char *name, *help; uint64_t v; } totals[] = {
		{ "rebalances_total", "Generations joined.", gc.rebalances },
		{ "commits_total", "OffsetCommit requests answered without error.", gc.commits },
		{ "commit_failures_total", "OffsetCommit requests that failed.",
		  gc.commit_failures },
		{ "heartbeats_total", "Heartbeats answered without error.", gc.heartbeats },
		{ "records_dispatched_total", "Records handed to workers.", tc->dispatched },
		{ "records_done_total", "Records the workers finished.", tc->done },
		{ "records_failed_total", "Records that failed after their retries.", tc->failed },
		{ "fetch_requests_total", "Fetch requests sent by the current consumer.",
		  fc.requests },
		{ "fetch_partition_errors_total",
		  "Partition error codes in Fetch answers to the current consumer.",
		  fc.part_errors },
	};
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++) {
		mhead(out, totals[i].name, "counter", totals[i].help);
		mprintf(out, "kfork_%s %" PRIu64 "\n", totals[i].name, totals[i].v);
	}
	mhead(out, "heartbeat_max_gap_seconds", "gauge",
	      "Longest time between two heartbeat sends while stable.");
	mprintf(out, "kfork_heartbeat_max_gap_seconds %.3f\n", gc.heartbeat_max_gap_ms / 1000.);
	mhead(out, "heartbeat_gap_seconds", "histogram",
	      "Time between two heartbeat sends while stable.");
	uint64_t cum = 0;
	for (int i = 0; i < KF_GROUP_GAP_BUCKETS; i++) {
		cum += gc.gap_buckets[i];
		if (i < KF_GROUP_GAP_BUCKETS - 1)
			mprintf(out, "kfork_heartbeat_gap_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				kf_group_gap_bounds_ms[i] / 1000., cum);
		else
			mprintf(out, "kfork_heartbeat_gap_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
				cum);
	}
	mprintf(out, "kfork_heartbeat_gap_seconds_sum %.3f\n", gc.gap_sum_ms / 1000.);
	mprintf(out, "kfork_heartbeat_gap_seconds_count %" PRIu64 "\n", gc.gap_count);
	mworker(out, "worker_records_dispatched_total", "counter", "Records pushed to the worker.", 0);
	mworker(out, "worker_records_done_total", "counter", "Records the worker finished.", 1);
	mworker(out, "worker_records_failed_total", "counter", "Records the worker gave up on.", 2);
	mworker(out, "worker_records_retried_total", "counter",
		"Attempts beyond the first, as the worker's answers report them.", 3);
	mworker(out, "worker_restarts_total", "counter", "Worker processes started after a death.", 4);
	mworker(out, "worker_inflight", "gauge", "Records handed to the worker, not answered yet.", 5);
	mhead(out, "broker_up", "gauge",
	      "1 when the connection to the broker is ready (node -1: a bootstrap address).");
	struct kf_cluster_broker b;
	for (int i = 0; D.cl && kf_cluster_broker_at(D.cl, i, &b); i++) {
		bool up = (b.conn && kf_conn_state(b.conn) == KF_CONN_READY) ||
			  (b.coord && kf_conn_state(b.coord) == KF_CONN_READY);
		mbroker(out, "broker_up", &b);
		mprintf(out, " %d\n", up);
	}
	mhead(out, "broker_throttle_seconds_total", "counter",
	      "Throttle time the broker reported (KIP-219 quotas).");
	for (int i = 0; D.cl && kf_cluster_broker_at(D.cl, i, &b); i++) {
		mbroker(out, "broker_throttle_seconds_total", &b);
		mprintf(out, " %.3f\n", broker_throttle_ms(&b) / 1000.);
	}
	mpart(out, "partition_lag", "High watermark minus the committed offset.", 0);
	mpart(out, "partition_committed_offset", "The last offset committed.", 1);
	mpart(out, "partition_position", "The next offset to fetch.", 2);
	mpart(out, "partition_high_watermark", "The high watermark of the last fetch.", 3);
	mpart(out, "partition_paused", "1 when the partition stopped (status paused).", 4);
}

static void reply_str(struct kf_wr *reply, const char *s)
{
	kf_wr_raw(reply, s, strlen(s));
}

static void on_control(void *opaque, const char *cmd, struct kf_wr *reply)
{
	(void)opaque;
	if (strcmp(cmd, "status") == 0) {
		struct kf_json j;
		kf_json_init(&j);
		status_json(&j);
		kf_wr_raw(&j.wr, "\n", 1);
		if (!kf_wr_ok(&j.wr)) {
			reply_str(reply, "error cannot build the status\n");
		} else {
			reply_str(reply, "ok\n");
			kf_wr_raw(reply, j.wr.buf, j.wr.len);
		}
		kf_json_free(&j);
	} else if (strcmp(cmd, "stop") == 0) {
		shutdown_begin("kforkctl stop");
		reply_str(reply, "ok\n");
	} else if (strcmp(cmd, "reload") == 0) {
		reload("kforkctl reload", reply);
	} else if (strcmp(cmd, "quiet") == 0 || strcmp(cmd, "resume") == 0) {
		reply_str(reply, quiet_set(cmd[0] == 'q'));
	} else if (strcmp(cmd, "metrics") == 0) {
		reply_str(reply, "ok\n");
		render_metrics(NULL, reply);
	} else {
		reply_str(reply, "error unknown command\n");
	}
}

int setup_metrics(char *err, size_t errlen)
{
	if (!D.cfg.control.metrics_listen[0])
		return KF_OK;
	D.metrics = kf_metrics_new(D.loop, D.cfg.control.metrics_listen, render_metrics, NULL, err,
				   errlen);
	return D.metrics ? KF_OK : KF_ERR;
}

int setup_control(char *err, size_t errlen)
{
	if (!D.cfg.control.socket[0])
		return KF_OK;
	D.ctl = kf_control_new(D.loop, D.cfg.control.socket, D.cfg.control.socket_mode, on_control,
			       NULL, err, errlen);
	return D.ctl ? KF_OK : KF_ERR;
}
