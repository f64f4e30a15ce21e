/*
 * cluster: the brokers of one Kafka cluster as this client knows them.
 *
 * Owns one kf_conn per broker node (made when first asked for) and one per
 * bootstrap address.  The broker table comes from Metadata responses
 * (kf_cluster_set_brokers); a broker whose address changed gets a new
 * connection, one that left the cluster is dropped.  Until the first
 * Metadata answer, only the bootstrap connections exist.
 *
 * It also keeps each topic's id (KIP-516) from every Metadata answer that
 * carries one (v10+): Fetch v13+, OffsetCommit v10+ and OffsetFetch v10+
 * name topics by id.  A topic whose id changes was deleted and created
 * again under the same name; the on_topic_recreated callback hears of it.
 *
 * Runs in the supervisor's loop; never blocks.
 */
#ifndef KF_CLUSTER_H
#define KF_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

struct kf_cluster;
struct kf_metadata_resp;

struct kf_cluster_opts {
	const char *bootstrap;     /* "host:port,host:port,[v6addr]:port" */
	struct kf_conn_opts conn;  /* template; host, port and node_id are set per broker */
};

/* Parses the bootstrap list; NULL with a message in err when it is
 * malformed (the message names the offending entry). */
struct kf_cluster *kf_cluster_new(struct ev_loop *loop, struct kf_resolver *res,
				  const struct kf_cluster_opts *opts, char *err, size_t errlen);
/* Frees every connection (their requests fail with KF_ECLOSED). */
void kf_cluster_free(struct kf_cluster *cl);

/*
 * Replace the broker table with md's brokers and record its topic ids.
 * Returns KF_OK, or KF_EAGAIN when the answer carries a top-level error
 * (Metadata v13+) and was not used: on REBOOTSTRAP_REQUIRED every broker
 * connection is dropped and the bootstrap addresses are asked next.
 */
int kf_cluster_set_brokers(struct kf_cluster *cl, const struct kf_metadata_resp *md);

/* topic's id (never all zeros) into *id; false when no Metadata answer
 * gave one (the broker predates topic ids, or it was not asked about the
 * topic yet). */
bool kf_cluster_topic_id(const struct kf_cluster *cl, const char *topic, struct kf_uuid *id);
/* The topic known by id, or NULL. */
const char *kf_cluster_topic_name(const struct kf_cluster *cl, const struct kf_uuid *id);
/* Called (from kf_cluster_set_brokers) when a topic's id changes. */
void kf_cluster_on_topic_recreated(struct kf_cluster *cl,
				   void (*cb)(void *opaque, const char *topic), void *opaque);
bool kf_uuid_is_zero(const struct kf_uuid *id);
/* Kafka's text form of a topic id: URL-safe base64, no padding (22 chars). */
void kf_uuid_format(const struct kf_uuid *id, char out[23]);

/* The connection to broker node_id, made on first use; NULL if the node is
 * not in the table. */
struct kf_conn *kf_cluster_broker(struct kf_cluster *cl, int32_t node_id);

/* A second connection to node_id, for the group coordinator's requests
 * only.  A broker answers a connection's requests in order, so on the
 * fetch connection a heartbeat or a commit would wait behind a Fetch
 * long poll (fetch_max_wait_ms); the Java consumer keeps a separate
 * coordinator connection for the same reason. */
struct kf_conn *kf_cluster_coordinator(struct kf_cluster *cl, int32_t node_id);

/* A connection for cluster-wide requests (Metadata, FindCoordinator): one
 * that is ready if any is, else the next broker or bootstrap address in
 * rotation, so repeated failures walk through every address. */
struct kf_conn *kf_cluster_any(struct kf_cluster *cl);

int kf_cluster_broker_count(const struct kf_cluster *cl);

/* How many connections (to brokers and bootstrap addresses) are in
 * auth_failed. */
int kf_cluster_auth_failed(const struct kf_cluster *cl);

/* One entry of the broker table, for the status. */
struct kf_cluster_broker {
	int32_t node_id;        /* -1: a bootstrap address */
	const char *host;
	int port;
	struct kf_conn *conn;   /* NULL until first used */
	struct kf_conn *coord;  /* the coordinator connection, NULL if none */
};
/* Entry i: the brokers of the last Metadata answer, or the bootstrap
 * addresses while no answer came.  false past the last one. */
bool kf_cluster_broker_at(const struct kf_cluster *cl, int i, struct kf_cluster_broker *out);

/* Split "host:port" (or "[v6]:port") into host and port; KF_OK or KF_EPROTO. */
int kf_parse_hostport(const char *s, size_t len, char *host, size_t hostlen, int *port);

#endif
