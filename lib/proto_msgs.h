/*
 * proto_msgs: the C structs of every request and response kfork speaks, and
 * (in proto_msgs.c) the schemas that map them to Kafka's wire format.
 *
 * Naming: struct kf_<api>_req / kf_<api>_resp for the top level, and
 * kf_<api>_<req|resp>_<element> for array elements, e.g.
 * kf_metadata_resp_topic.  Members are the JSON field names in snake_case.
 * Every struct holds the union of the fields of all versions; a field absent
 * in a version decodes to its default and is not written when encoding.
 * Arrays are struct kf_array; access elements with KF_AT(arr, type, i).
 */
#ifndef KF_PROTO_MSGS_H
#define KF_PROTO_MSGS_H

#include "proto.h"

/* Field-table shorthands for proto_msgs.c (S = C struct, m = member). */
#define KF_FIELD_(S, m, N, T, E, lo, hi, nl, tg, d, sb) \
	{ .name = N, .type = T, .elem = E, .vmin = lo, .vmax = hi, .null_min = nl, \
	  .tag = tg, .off = offsetof(S, m), .dflt = d, .sub = sb }
/* plain field, versions lo..hi */
#define KF_F(S, m, N, T, lo, hi) KF_FIELD_(S, m, N, T, 0, lo, hi, KF_NEVER, -1, 0, NULL)
/* with a default value (integers) */
#define KF_FD(S, m, N, T, lo, hi, d) KF_FIELD_(S, m, N, T, 0, lo, hi, KF_NEVER, -1, d, NULL)
/* nullable from version nl */
#define KF_FN(S, m, N, T, lo, hi, nl) KF_FIELD_(S, m, N, T, 0, lo, hi, nl, -1, 0, NULL)
/* array of a primitive type E, nullable from nl (KF_NEVER if never) */
#define KF_FA(S, m, N, E, lo, hi, nl) KF_FIELD_(S, m, N, KF_T_ARRAY, E, lo, hi, nl, -1, 0, NULL)
/* array of structs described by schema SUB */
#define KF_FAS(S, m, N, SUB, lo, hi, nl) KF_FIELD_(S, m, N, KF_T_ARRAY, KF_T_STRUCT, lo, hi, nl, -1, 0, SUB)
/* tagged field: tag tg in versions lo..hi, default d */
#define KF_FT(S, m, N, T, lo, hi, tg, d) KF_FIELD_(S, m, N, T, 0, lo, hi, KF_NEVER, tg, d, NULL)
/* tagged nested struct / tagged array of structs */
/* tagged field nullable from version nl (e.g. a tagged nullable string) */
#define KF_FTN(S, m, N, T, lo, hi, nl, tg) KF_FIELD_(S, m, N, T, 0, lo, hi, nl, tg, 0, NULL)
#define KF_FTS(S, m, N, SUB, lo, hi, tg) KF_FIELD_(S, m, N, KF_T_STRUCT, 0, lo, hi, KF_NEVER, tg, 0, SUB)
#define KF_FTAS(S, m, N, SUB, lo, hi, tg) KF_FIELD_(S, m, N, KF_T_ARRAY, KF_T_STRUCT, lo, hi, KF_NEVER, tg, 0, SUB)
/* nested struct, stored inline */
#define KF_FS(S, m, N, SUB, lo, hi) KF_FIELD_(S, m, N, KF_T_STRUCT, 0, lo, hi, KF_NEVER, -1, 0, SUB)
/* nullable struct (a pointer, NULL = null), nullable from version nl */
#define KF_FNS(S, m, N, SUB, lo, hi, nl) KF_FIELD_(S, m, N, KF_T_NSTRUCT, 0, lo, hi, nl, -1, 0, SUB)
/* array nullable from nl whose default (kf_proto_defaults) is null */
#define KF_FAN(S, m, N, E, SUB, lo, hi, nl) KF_FIELD_(S, m, N, KF_T_ARRAY, E, lo, hi, nl, -1, -1, SUB)
#define KF_SCHEMA(var, S, fields) \
	const struct kf_schema var = { #S, sizeof(struct S), fields, sizeof(fields) / sizeof(fields[0]) }

/* ------------------------------------------------------------ ApiVersions (18) */

struct kf_api_versions_req {
	char *client_software_name;     /* v3+ */
	char *client_software_version;  /* v3+ */
};

struct kf_api_versions_resp_key {
	int16_t api_key;
	int16_t min_version;
	int16_t max_version;
};

struct kf_api_versions_resp_feature {
	char *name;
	int16_t min_version;
	int16_t max_version;
};

struct kf_api_versions_resp_finalized {
	char *name;
	int16_t max_version_level;
	int16_t min_version_level;
};

struct kf_api_versions_resp {
	int16_t error_code;
	struct kf_array api_keys;           /* struct kf_api_versions_resp_key */
	int32_t throttle_time_ms;           /* v1+ */
	struct kf_array supported_features; /* tag 0, v3+: struct kf_api_versions_resp_feature */
	int64_t finalized_features_epoch;   /* tag 1, v3+, default -1 */
	struct kf_array finalized_features; /* tag 2, v3+: struct kf_api_versions_resp_finalized */
	int8_t zk_migration_ready;          /* tag 3, v3+ */
};

extern const struct kf_api kf_api_api_versions;

/* ------------------------------------------------------------ Metadata (3) */

struct kf_metadata_req_topic {
	struct kf_uuid topic_id; /* v10+ (use only from v12) */
	char *name;              /* nullable v10+ (null only from v12, lookup by id) */
};

struct kf_metadata_req {
	/* struct kf_metadata_req_topic.  v0: empty = all topics (not nullable,
	 * a null array is sent as empty); v1+: null = all, empty = none. */
	struct kf_array topics;
	int8_t allow_auto_topic_creation;             /* v4+, default 1 */
	int8_t include_cluster_authorized_operations; /* v8-10 */
	int8_t include_topic_authorized_operations;   /* v8+ */
};

struct kf_metadata_resp_broker {
	int32_t node_id;
	char *host;
	int32_t port;
	char *rack; /* v1+, nullable */
};

struct kf_metadata_resp_partition {
	int16_t error_code;
	int32_t partition_index;
	int32_t leader_id;
	int32_t leader_epoch;           /* v7+, default -1 */
	struct kf_array replica_nodes;  /* int32_t */
	struct kf_array isr_nodes;      /* int32_t */
	struct kf_array offline_replicas; /* v5+: int32_t */
};

struct kf_metadata_resp_topic {
	int16_t error_code;
	char *name;                        /* nullable v12+ */
	struct kf_uuid topic_id;           /* v10+ */
	int8_t is_internal;                /* v1+ */
	struct kf_array partitions;        /* struct kf_metadata_resp_partition */
	int32_t topic_authorized_operations; /* v8+, default INT32_MIN */
};

struct kf_metadata_resp {
	int32_t throttle_time_ms;            /* v3+ */
	struct kf_array brokers;             /* struct kf_metadata_resp_broker */
	char *cluster_id;                    /* v2+, nullable */
	int32_t controller_id;               /* v1+, default -1 */
	struct kf_array topics;              /* struct kf_metadata_resp_topic */
	int32_t cluster_authorized_operations; /* v8-10, default INT32_MIN */
	int16_t error_code;                  /* v13+ */
};

extern const struct kf_api kf_api_metadata;

/* ------------------------------------------------------------ FindCoordinator (10) */

struct kf_find_coordinator_req {
	char *key;                       /* v0-3 */
	int8_t key_type;                 /* v1+: 0 group, 1 transaction, 2 share */
	struct kf_array coordinator_keys; /* v4+: char * */
};

struct kf_find_coordinator_resp_coordinator {
	char *key;
	int32_t node_id;
	char *host;
	int32_t port;
	int16_t error_code;
	char *error_message; /* nullable */
};

struct kf_find_coordinator_resp {
	int32_t throttle_time_ms;    /* v1+ */
	int16_t error_code;          /* v0-3 */
	char *error_message;         /* v1-3, nullable */
	int32_t node_id;             /* v0-3 */
	char *host;                  /* v0-3 */
	int32_t port;                /* v0-3 */
	struct kf_array coordinators; /* v4+: struct kf_find_coordinator_resp_coordinator */
};

extern const struct kf_api kf_api_find_coordinator;

/* ------------------------------------------------------------ ListOffsets (2) */

struct kf_list_offsets_req_partition {
	int32_t partition_index;
	int32_t current_leader_epoch; /* v4+, default -1 */
	int64_t timestamp;            /* -1 latest, -2 earliest, -3 max timestamp (v7+), ... */
};

struct kf_list_offsets_req_topic {
	char *name;
	struct kf_array partitions; /* struct kf_list_offsets_req_partition */
};

struct kf_list_offsets_req {
	int32_t replica_id;      /* default -1 (consumer; the JSON gives no default) */
	int8_t isolation_level;  /* v2+ */
	struct kf_array topics;  /* struct kf_list_offsets_req_topic */
	int32_t timeout_ms;      /* v10+ */
};

struct kf_list_offsets_resp_partition {
	int32_t partition_index;
	int16_t error_code;
	int64_t timestamp;    /* default -1 */
	int64_t offset;       /* default -1 */
	int32_t leader_epoch; /* v4+, default -1 */
};

struct kf_list_offsets_resp_topic {
	char *name;
	struct kf_array partitions; /* struct kf_list_offsets_resp_partition */
};

struct kf_list_offsets_resp {
	int32_t throttle_time_ms; /* v2+ */
	struct kf_array topics;   /* struct kf_list_offsets_resp_topic */
};

extern const struct kf_api kf_api_list_offsets;

/* ------------------------------------------------------------ Fetch (1) */

struct kf_fetch_req_replica_state {
	int32_t replica_id;    /* default -1 */
	int64_t replica_epoch; /* default -1 */
};

struct kf_fetch_req_partition {
	int32_t partition;
	int32_t current_leader_epoch;  /* v9+, default -1 */
	int64_t fetch_offset;
	int32_t last_fetched_epoch;    /* v12+, default -1 */
	int64_t log_start_offset;      /* v5+, default -1 */
	int32_t partition_max_bytes;
	struct kf_uuid replica_directory_id; /* tag 0, v17+ */
	int64_t high_watermark;        /* tag 1, v18+, default INT64_MAX */
};

struct kf_fetch_req_topic {
	char *topic;                /* v0-12 */
	struct kf_uuid topic_id;    /* v13+ */
	struct kf_array partitions; /* struct kf_fetch_req_partition */
};

struct kf_fetch_req_forgotten_topic {
	char *topic;                /* v7-12 */
	struct kf_uuid topic_id;    /* v13+ */
	struct kf_array partitions; /* int32_t */
};

struct kf_fetch_req {
	char *cluster_id;      /* tag 0, v12+, nullable */
	int32_t replica_id;    /* v0-14, default -1 */
	struct kf_fetch_req_replica_state replica_state; /* tag 1, v15+ */
	int32_t max_wait_ms;
	int32_t min_bytes;
	int32_t max_bytes;     /* v3+, default 0x7fffffff */
	int8_t isolation_level; /* v4+ */
	int32_t session_id;    /* v7+ */
	int32_t session_epoch; /* v7+, default -1 */
	struct kf_array topics; /* struct kf_fetch_req_topic */
	struct kf_array forgotten_topics_data; /* v7+: struct kf_fetch_req_forgotten_topic */
	char *rack_id;         /* v11+ */
};

struct kf_fetch_resp_diverging_epoch { /* EpochEndOffset */
	int32_t epoch;      /* default -1 */
	int64_t end_offset; /* default -1 */
};

struct kf_fetch_resp_current_leader { /* LeaderIdAndEpoch */
	int32_t leader_id;    /* default -1 */
	int32_t leader_epoch; /* default -1 */
};

struct kf_fetch_resp_snapshot_id {
	int64_t end_offset; /* default -1 */
	int32_t epoch;      /* default -1 */
};

struct kf_fetch_resp_aborted_txn {
	int64_t producer_id;
	int64_t first_offset;
};

struct kf_fetch_resp_partition {
	int32_t partition_index;
	int16_t error_code;
	int64_t high_watermark;
	int64_t last_stable_offset; /* v4+, default -1 */
	int64_t log_start_offset;   /* v5+, default -1 */
	struct kf_fetch_resp_diverging_epoch diverging_epoch; /* tag 0, v12+ */
	struct kf_fetch_resp_current_leader current_leader;   /* tag 1, v12+ */
	struct kf_fetch_resp_snapshot_id snapshot_id;         /* tag 2, v12+ */
	struct kf_array aborted_transactions; /* nullable: struct kf_fetch_resp_aborted_txn */
	int32_t preferred_read_replica;       /* v11+, default -1 */
	struct kf_bytes records;              /* nullable */
};

struct kf_fetch_resp_topic {
	char *topic;                /* v0-12 */
	struct kf_uuid topic_id;    /* v13+ */
	struct kf_array partitions; /* struct kf_fetch_resp_partition */
};

struct kf_fetch_resp_node_endpoint {
	int32_t node_id;
	char *host;
	int32_t port;
	char *rack; /* nullable */
};

struct kf_fetch_resp {
	int32_t throttle_time_ms;      /* v1+ */
	int16_t error_code;            /* v7+ */
	int32_t session_id;            /* v7+ */
	struct kf_array responses;     /* struct kf_fetch_resp_topic */
	struct kf_array node_endpoints; /* tag 0, v16+: struct kf_fetch_resp_node_endpoint */
};

extern const struct kf_api kf_api_fetch;

/* ------------------------------------------------------------ SaslHandshake (17) */

struct kf_sasl_handshake_req {
	char *mechanism;
};

struct kf_sasl_handshake_resp {
	int16_t error_code;
	struct kf_array mechanisms; /* char * */
};

extern const struct kf_api kf_api_sasl_handshake;

/* ------------------------------------------------------------ SaslAuthenticate (36) */

struct kf_sasl_authenticate_req {
	struct kf_bytes auth_bytes;
};

struct kf_sasl_authenticate_resp {
	int16_t error_code;
	char *error_message;          /* nullable */
	struct kf_bytes auth_bytes;
	int64_t session_lifetime_ms;  /* v1+ */
};

extern const struct kf_api kf_api_sasl_authenticate;

#endif
