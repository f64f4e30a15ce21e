/*
 * wiring.c: the set-up and teardown of the parts kforkd is made of:
 * cluster (TLS, SASL), fetcher and group member, pool and dispatcher.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kforkd.h"

enum kf_tracker_fail tracker_fail_of(const struct kf_config *c)
{
	return c->workers.on_failure == KF_CFG_ON_FAILURE_SKIP ? KF_TRACKER_FAIL_SKIP
							       : KF_TRACKER_FAIL_PAUSE;
}

void worker_conf_from(const struct kf_config *c, struct kf_worker_conf *wc)
{
	const struct kf_config_workers *w = &c->workers;
	*wc = (struct kf_worker_conf){
		.max_retries = w->max_retries, .retry_backoff_ms = w->retry_backoff_ms,
		.nice = w->nice, .supervisor_pid = getpid(),
		.handler = {
			.type = (enum kf_handler_type)w->handler.type, .dir = w->handler.dir,
			.usec = (long)w->handler.usec, .path = w->handler.path,
			.arg = w->handler.arg, .command = w->handler.command,
			.window = w->handler.window,
		},
	};
}

int setup_cluster(char *err, size_t errlen)
{
	const struct kf_config_security *sec = &D.cfg.kafka.security;
	struct kf_cluster_opts co = { .bootstrap = D.cfg.kafka.bootstrap,
				      .conn = { .client_id = D.cfg.kafka.client_id } };
	if (sec->protocol == KF_CFG_SSL || sec->protocol == KF_CFG_SASL_SSL) {
		struct kf_tls_conf tc = { .ca_file = sec->ca_file, .cert_file = sec->cert_file,
					  .key_file = sec->key_file,
					  .key_password_file = sec->key_password_file,
					  .verify_peer = sec->verify_peer };
		D.tls = kf_tls_new(&tc, err, errlen);
		if (!D.tls)
			return KF_ERR;
		co.conn.transport = kf_tls_transport(D.tls);
	}
	if (sec->protocol == KF_CFG_SASL_PLAINTEXT || sec->protocol == KF_CFG_SASL_SSL) {
		struct kf_sasl_conf sc = { .mechanism = kf_cfg_sasl_mech_name(sec->sasl_mechanism),
					   .username = sec->username,
					   .password = sec->password ? sec->password : "" };
		D.sasl = kf_sasl_new(&sc, err, errlen);
		if (!D.sasl)
			return KF_ERR;
		co.conn.auth = kf_sasl_auth(D.sasl);
	}
	D.res = kf_resolver_new(D.loop);
	if (!D.res) {
		snprintf(err, errlen, "cannot start the resolver");
		return KF_ERR;
	}
	D.cl = kf_cluster_new(D.loop, D.res, &co, err, errlen);
	if (!D.cl)
		return KF_ERR;
	kf_cluster_on_topic_recreated(D.cl, on_topic_recreated, NULL);
	return KF_OK;
}

/* Name the subscribed topics in the rings now, so a full table is an error
 * at start-up (or reload) rather than for a partition later. */
int set_topics(char *err, size_t errlen)
{
	for (int i = 0; i < D.cfg.kafka.n_topics; i++) {
		uint32_t idx;
		int rc = topic_index(D.cfg.kafka.topics[i], &idx);
		if (rc != KF_OK) {
			snprintf(err, errlen, "topic \"%s\": %s", D.cfg.kafka.topics[i],
				 kf_strerror(rc));
			return KF_ERR;
		}
	}
	return KF_OK;
}

int setup_pool(char *err, size_t errlen)
{
	const struct kf_config_workers *wc = &D.cfg.workers;
	struct kf_pool_conf pc;
	kf_pool_conf_defaults(&pc);
	pc.count = wc->count;
	pc.ring_bytes = (size_t)wc->ring_bytes;
	pc.max_inflight_bytes = (size_t)wc->max_inflight_bytes;
	pc.max_inflight_ms = wc->max_inflight_ms;
	pc.stall_timeout_ms = wc->stall_timeout_ms;
	pc.shutdown_timeout_ms = wc->shutdown_timeout_ms;
	worker_conf_from(&D.cfg, &pc.worker);
	struct kf_pool_callbacks cb = { .on_ack = on_ack, .on_room = on_room,
					.on_lost = on_workers_lost, .on_child = on_child,
					.on_state = on_worker_state,
					.on_stopped = on_pool_stopped };
	D.pool = kf_pool_new(D.loop, &pc, &cb, err, errlen);
	if (!D.pool)
		return KF_ERR;
	if (set_topics(err, errlen) != KF_OK)
		return KF_ERR;
	D.d = kf_dispatch_new((enum kf_dispatch_mode)wc->dispatch);
	if (!D.d) {
		snprintf(err, errlen, "out of memory");
		return KF_ERR;
	}
	for (int i = 0; i < kf_pool_size(D.pool); i++)
		kf_dispatch_worker_add(D.d, i);
	D.on_failure = tracker_fail_of(&D.cfg);
	return KF_OK;
}

int setup_consumer(char *err, size_t errlen)
{
	const struct kf_config_kafka *k = &D.cfg.kafka;
	if (!D.t)   /* kept across a Kafka restart */
		D.t = kf_tracker_new(TRACKER_WINDOW);
	if (!D.t) {
		snprintf(err, errlen, "out of memory");
		return KF_ERR;
	}
	struct kf_fetcher_conf fc = {
		.fetch_min_bytes = k->fetch_min_bytes, .fetch_max_wait_ms = k->fetch_max_wait_ms,
		.fetch_max_bytes = k->fetch_max_bytes,
		.fetch_partition_max_bytes = k->fetch_partition_max_bytes,
		.isolation = k->isolation == KF_CFG_READ_COMMITTED ? KF_READ_COMMITTED
								   : KF_READ_UNCOMMITTED,
		.verify_crc = true,
	};
	struct kf_fetcher_callbacks fcb = { .on_record = on_record, .on_skip = on_skip,
					    .on_out_of_range = on_out_of_range,
					    .on_error = on_fetch_error };
	D.f = kf_fetcher_new(D.loop, D.cl, &fc, &fcb, NULL);
	if (!D.f) {
		snprintf(err, errlen, "cannot create the fetcher");
		return KF_ERR;
	}
	/* One assignor: it and the other eager ones; a list: exactly that.
	 * Cooperative (KIP-429) only when every protocol offered is. */
	static const char *protocols[KF_ASSIGNOR_COUNT];
	int np = k->n_assignors;
	if (np == 1)
		np = kf_assignor_protocols(k->assignors[0], protocols);
	else
		for (int i = 0; i < np && i < KF_ASSIGNOR_COUNT; i++)
			protocols[i] = k->assignors[i];
	bool cooperative = np > 0;
	for (int i = 0; i < np; i++) {
		enum kf_assignor_id id;
		if (kf_assignor_lookup(protocols[i], &id) != KF_OK) {
			snprintf(err, errlen, "unknown assignor \"%s\"", protocols[i]);
			return KF_ERR;
		}
		cooperative = cooperative && kf_assignor_cooperative(id);
	}
	struct kf_group_conf gc = {
		.group = k->group, .client_id = k->client_id,
		.group_instance_id = k->group_instance_id,
		.session_timeout_ms = k->session_timeout_ms,
		.heartbeat_interval_ms = k->heartbeat_interval_ms,
		.rebalance_timeout_ms = k->rebalance_timeout_ms,
		.metadata_max_age_ms = k->metadata_max_age_ms,
		.protocols = protocols, .nprotocols = np, .cooperative = cooperative,
		.topics = (const char *const *)k->topics, .ntopics = k->n_topics,
	};
	struct kf_group_callbacks gcb = { .assign = on_assign, .on_assigned = on_assigned,
					  .on_revoke = on_revoke, .on_lost = on_lost,
					  .on_fatal = on_fatal };
	D.g = kf_group_new(D.loop, D.cl, &gc, &gcb, NULL);
	if (!D.g) {
		snprintf(err, errlen, "cannot create the group member");
		return KF_ERR;
	}
	return KF_OK;
}

/* Everything that talks to Kafka: partitions, group member, fetcher,
 * connections.  The workers, dispatcher and tracker stay. */
void teardown_consumer(void)
{
	kf_barrier_cancel(&D.revoke_b);     /* it answers the group that goes */
	for (uint32_t i = 0; D.f && D.t && D.d && i < D.nparts; i++)
		if (D.parts[i].used)
			slot_release(i);
	if (D.g)
		kf_group_free(D.g);
	if (D.f)
		kf_fetcher_free(D.f);
	if (D.cl)
		kf_cluster_free(D.cl);
	if (D.res)
		kf_resolver_free(D.res);
	if (D.sasl)
		kf_sasl_free(D.sasl);
	if (D.tls)
		kf_tls_free(D.tls);
	D.g = NULL, D.f = NULL, D.cl = NULL, D.res = NULL, D.sasl = NULL, D.tls = NULL;
}

void teardown(void)
{
	ev_timer *timers[] = { &D.commit_t, &D.reset_t, &D.final_t, &D.restart_t, &D.roll_t,
			       &D.ctl_t };
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		ev_timer_stop(D.loop, timers[i]);
	struct kf_barrier *bars[] = { &D.revoke_b, &D.restart_b, &D.shutdown_b, &D.quiet_b,
				      &D.redispatch_b };
	for (size_t i = 0; i < sizeof(bars) / sizeof(bars[0]); i++)
		kf_barrier_cancel(bars[i]);
	ev_prepare_stop(D.loop, &D.settle_w);
	ev_signal_stop(D.loop, &D.sterm);
	ev_signal_stop(D.loop, &D.sint);
	ev_signal_stop(D.loop, &D.shup);
	ev_signal_stop(D.loop, &D.susr1);
	kf_control_free(D.ctl);
	kf_metrics_free(D.metrics);
	free(D.wstat);
	teardown_consumer();
	kf_pool_free(D.pool);
	if (D.d)
		kf_dispatch_free(D.d);
	if (D.t)
		kf_tracker_free(D.t);
	free(D.parts);
	for (uint32_t i = 0; i < D.ntopic_names; i++)
		free(D.topic_names[i]);
	kf_config_free(&D.cfg);
	kf_config_free(&D.next);
	free(D.reload_error);
	if (D.pidfile)
		kf_pidfile_remove(D.pidfile);
	kf_log_close();
}
