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

extern const struct kf_api *const kf_api_table[];
extern const size_t kf_api_table_len;

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
#define KF_FTS(S, m, N, SUB, lo, hi, tg) KF_FIELD_(S, m, N, KF_T_STRUCT, 0, lo, hi, KF_NEVER, tg, 0, SUB)
#define KF_FTAS(S, m, N, SUB, lo, hi, tg) KF_FIELD_(S, m, N, KF_T_ARRAY, KF_T_STRUCT, lo, hi, KF_NEVER, tg, 0, SUB)
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

#endif
