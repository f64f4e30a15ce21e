/*
 * proto_group: the classic consumer-group APIs (JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup, OffsetFetch, OffsetCommit) and the ConsumerProtocol
 * payloads carried inside JoinGroup and SyncGroup as opaque bytes.
 *
 * Same conventions as proto_msgs.h: struct kf_<api>_req / _resp, array
 * elements kf_<api>_<req|resp>_<element>, members are the JSON field names
 * in snake_case, each struct is the union of all versions.  Where the JSON
 * defines two element types of identical shape for different version ranges
 * (OffsetFetch's v0-7 Topics and v8+ Groups[].Topics), one C struct serves
 * both, so code reading a response handles every version the same way; the
 * schemas in proto_group.c still keep the JSON's version ranges apart.
 *
 * A string absent in the version decoded stays as the caller zeroed it
 * (NULL); an integer absent gets its JSON default.
 */
#ifndef KF_PROTO_GROUP_H
#define KF_PROTO_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "wire.h"
#include "arena.h"

/* ------------------------------------------------------------ JoinGroup (11) */

struct kf_join_group_req_protocol {
	char *name;
	struct kf_bytes metadata; /* for "consumer": a ConsumerProtocol subscription */
};

struct kf_join_group_req {
	char *group_id;
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms; /* v1+, default -1 */
	char *member_id;
	char *group_instance_id;      /* v5+, nullable, default null */
	char *protocol_type;
	struct kf_array protocols;    /* struct kf_join_group_req_protocol */
	char *reason;                 /* v8+, nullable, default null */
};

struct kf_join_group_resp_member {
	char *member_id;
	char *group_instance_id;  /* v5+, nullable, default null */
	struct kf_bytes metadata;
};

struct kf_join_group_resp {
	int32_t throttle_time_ms; /* v2+ */
	int16_t error_code;
	int32_t generation_id;    /* default -1 */
	char *protocol_type;      /* v7+, nullable, default null */
	char *protocol_name;      /* nullable v7+ */
	char *leader;
	int8_t skip_assignment;   /* v9+ */
	char *member_id;
	struct kf_array members;  /* struct kf_join_group_resp_member */
};

extern const struct kf_api kf_api_join_group;

/* ------------------------------------------------------------ SyncGroup (14) */

struct kf_sync_group_req_assignment {
	char *member_id;
	struct kf_bytes assignment; /* for "consumer": a ConsumerProtocol assignment */
};

struct kf_sync_group_req {
	char *group_id;
	int32_t generation_id;
	char *member_id;
	char *group_instance_id;    /* v3+, nullable, default null */
	char *protocol_type;        /* v5+, nullable, default null */
	char *protocol_name;        /* v5+, nullable, default null */
	struct kf_array assignments; /* struct kf_sync_group_req_assignment */
};

struct kf_sync_group_resp {
	int32_t throttle_time_ms; /* v1+ */
	int16_t error_code;
	char *protocol_type;      /* v5+, nullable, default null */
	char *protocol_name;      /* v5+, nullable, default null */
	struct kf_bytes assignment;
};

extern const struct kf_api kf_api_sync_group;

/* ------------------------------------------------------------ Heartbeat (12) */

struct kf_heartbeat_req {
	char *group_id;
	int32_t generation_id;
	char *member_id;
	char *group_instance_id; /* v3+, nullable, default null */
};

struct kf_heartbeat_resp {
	int32_t throttle_time_ms; /* v1+ */
	int16_t error_code;
};

extern const struct kf_api kf_api_heartbeat;

/* ------------------------------------------------------------ LeaveGroup (13) */

struct kf_leave_group_req_member { /* MemberIdentity */
	char *member_id;
	char *group_instance_id; /* nullable, default null */
	char *reason;            /* v5+, nullable, default null */
};

struct kf_leave_group_req {
	char *group_id;
	char *member_id;         /* v0-2 */
	struct kf_array members; /* v3+: struct kf_leave_group_req_member */
};

struct kf_leave_group_resp_member { /* MemberResponse */
	char *member_id;
	char *group_instance_id; /* nullable */
	int16_t error_code;
};

struct kf_leave_group_resp {
	int32_t throttle_time_ms; /* v1+ */
	int16_t error_code;
	struct kf_array members;  /* v3+: struct kf_leave_group_resp_member */
};

extern const struct kf_api kf_api_leave_group;

/* ------------------------------------------------------------ OffsetFetch (9) */

/* OffsetFetchRequestTopic (v0-7) and OffsetFetchRequestTopics (v8+). */
struct kf_offset_fetch_req_topic {
	char *name;                        /* v0-9 */
	struct kf_uuid topic_id;           /* v10+ (Groups[].Topics only) */
	struct kf_array partition_indexes; /* int32_t */
};

struct kf_offset_fetch_req_group {
	char *group_id;
	char *member_id;       /* v9+, nullable, default null (classic: null) */
	int32_t member_epoch;  /* v9+, default -1 (classic: -1) */
	struct kf_array topics; /* nullable: null = all; struct kf_offset_fetch_req_topic */
};

struct kf_offset_fetch_req {
	char *group_id;          /* v0-7 */
	struct kf_array topics;  /* v0-7, nullable v2-7 (null = all): struct kf_offset_fetch_req_topic */
	struct kf_array groups;  /* v8+: struct kf_offset_fetch_req_group */
	int8_t require_stable;   /* v7+ */
};

/* OffsetFetchResponsePartition (v0-7) and ...Partitions (v8+). */
struct kf_offset_fetch_resp_partition {
	int32_t partition_index;
	int64_t committed_offset;       /* -1: nothing committed */
	int32_t committed_leader_epoch; /* v5+, default -1 */
	char *metadata;                 /* nullable */
	int16_t error_code;
};

/* OffsetFetchResponseTopic (v0-7) and ...Topics (v8+). */
struct kf_offset_fetch_resp_topic {
	char *name;                 /* v0-9 */
	struct kf_uuid topic_id;    /* v10+ (Groups[].Topics only) */
	struct kf_array partitions; /* struct kf_offset_fetch_resp_partition */
};

struct kf_offset_fetch_resp_group {
	char *group_id;
	struct kf_array topics; /* struct kf_offset_fetch_resp_topic */
	int16_t error_code;
};

struct kf_offset_fetch_resp {
	int32_t throttle_time_ms; /* v3+ */
	struct kf_array topics;   /* v0-7: struct kf_offset_fetch_resp_topic */
	int16_t error_code;       /* v2-7 */
	struct kf_array groups;   /* v8+: struct kf_offset_fetch_resp_group */
};

extern const struct kf_api kf_api_offset_fetch;

/* ------------------------------------------------------------ OffsetCommit (8) */

struct kf_offset_commit_req_partition {
	int32_t partition_index;
	int64_t committed_offset;
	int32_t committed_leader_epoch; /* v6+, default -1 */
	char *committed_metadata;       /* nullable */
};

struct kf_offset_commit_req_topic {
	char *name;                 /* v0-9 */
	struct kf_uuid topic_id;    /* v10+ */
	struct kf_array partitions; /* struct kf_offset_commit_req_partition */
};

struct kf_offset_commit_req {
	char *group_id;
	int32_t generation_id_or_member_epoch; /* v1+, default -1 */
	char *member_id;                       /* v1+ */
	char *group_instance_id;               /* v7+, nullable, default null */
	int64_t retention_time_ms;             /* v2-4, default -1 */
	struct kf_array topics;                /* struct kf_offset_commit_req_topic */
};

struct kf_offset_commit_resp_partition {
	int32_t partition_index;
	int16_t error_code;
};

struct kf_offset_commit_resp_topic {
	char *name;                 /* v0-9 */
	struct kf_uuid topic_id;    /* v10+ */
	struct kf_array partitions; /* struct kf_offset_commit_resp_partition */
};

struct kf_offset_commit_resp {
	int32_t throttle_time_ms; /* v3+ */
	struct kf_array topics;   /* struct kf_offset_commit_resp_topic */
};

extern const struct kf_api kf_api_offset_commit;

/* ------------------------------------------------------------ ConsumerProtocol */

/*
 * The "consumer" protocol's member metadata (JoinGroup Protocols[].Metadata,
 * JoinGroup response Members[].Metadata) and assignment (SyncGroup).  Not
 * Kafka API messages: never flexible, prefixed by an int16 version.  A peer
 * may write a newer version; it is read with the newest layout known here
 * and trailing bytes are ignored, as Java's ConsumerProtocol does (the JSON
 * promises later versions only append fields).
 */
#define KF_CONSUMER_PROTOCOL_VMAX 3

struct kf_consumer_topic_partitions { /* TopicPartition */
	char *topic;
	struct kf_array partitions; /* int32_t */
};

struct kf_consumer_subscription {
	struct kf_array topics;           /* char * */
	struct kf_bytes user_data;        /* nullable, default null */
	struct kf_array owned_partitions; /* v1+: struct kf_consumer_topic_partitions */
	int32_t generation_id;            /* v2+, default -1 */
	char *rack_id;                    /* v3+, nullable, default null */
};

struct kf_consumer_assignment {
	struct kf_array assigned_partitions; /* struct kf_consumer_topic_partitions */
	struct kf_bytes user_data;           /* nullable, default null */
};

extern const struct kf_schema kf_consumer_subscription_schema;
extern const struct kf_schema kf_consumer_assignment_schema;

/*
 * Append the int16 version and s laid out in that version to w.  A version
 * above KF_CONSUMER_PROTOCOL_VMAX is written as the highest known one (as
 * Java does); a negative one is KF_EUNSUPP.  Returns KF_OK or w's error.
 */
int kf_consumer_subscription_encode(struct kf_wr *w, int16_t version,
				    const struct kf_consumer_subscription *s);
int kf_consumer_assignment_encode(struct kf_wr *w, int16_t version,
				  const struct kf_consumer_assignment *s);

/*
 * Decode len bytes at p into *s (overwritten entirely; fields absent in the
 * version get their defaults).  Strings and arrays are allocated in a;
 * UserData points into p, so p must outlive *s.  *version (may be NULL) gets
 * the version as written by the peer, which may exceed the layout used.
 * Returns KF_OK, KF_EPROTO for a negative version, KF_ESHORT/KF_EPROTO for
 * a malformed body, KF_ENOMEM.
 */
int kf_consumer_subscription_decode(const uint8_t *p, size_t len, struct kf_arena *a,
				    struct kf_consumer_subscription *s, int16_t *version);
int kf_consumer_assignment_decode(const uint8_t *p, size_t len, struct kf_arena *a,
				  struct kf_consumer_assignment *s, int16_t *version);

#endif
