/*
 * proto_cgroup: the consumer group protocol of KIP-848 (Kafka 4.0+):
 * ConsumerGroupHeartbeat, in which the broker assigns the partitions, and
 * ConsumerGroupDescribe.  Same conventions as proto_msgs.h and
 * proto_group.h; transcribed from clients/src/main/resources/common/message/
 * ConsumerGroup{Heartbeat,Describe}*.json as kafka-clients 4.4.0 ships them.
 */
#ifndef KF_PROTO_CGROUP_H
#define KF_PROTO_CGROUP_H

#include <stdint.h>

#include "proto.h"

/* ------------------------------------------------------------ ConsumerGroupHeartbeat (68) */

/* TopicPartitions (a common struct of the request and the response) */
struct kf_cg_topic_partitions {
	struct kf_uuid topic_id;
	struct kf_array partitions;            /* int32_t */
};

struct kf_cg_heartbeat_req {
	char *group_id;
	char *member_id;                       /* chosen by the member (KIP-1082) */
	int32_t member_epoch;                  /* 0 join, -1 leave, -2 static leave */
	char *instance_id;                     /* null: none, or unchanged */
	char *rack_id;                         /* null: none, or unchanged */
	int32_t rebalance_timeout_ms;          /* -1: unchanged */
	struct kf_array subscribed_topic_names; /* char *; null: unchanged */
	char *subscribed_topic_regex;          /* v1+; null: none, or unchanged */
	char *server_assignor;                 /* null: the broker's default, or unchanged */
	struct kf_array topic_partitions;      /* struct kf_cg_topic_partitions; null: unchanged */
};

struct kf_cg_heartbeat_resp_assignment {
	struct kf_array topic_partitions;      /* struct kf_cg_topic_partitions */
};

struct kf_cg_heartbeat_resp {
	int32_t throttle_time_ms;
	int16_t error_code;
	char *error_message;
	char *member_id;
	int32_t member_epoch;
	int32_t heartbeat_interval_ms;
	struct kf_cg_heartbeat_resp_assignment *assignment; /* NULL: unchanged */
};

extern const struct kf_api kf_api_consumer_group_heartbeat;

/* ------------------------------------------------------------ ConsumerGroupDescribe (69) */

struct kf_cg_describe_req {
	struct kf_array group_ids;             /* char * */
	int8_t include_authorized_operations;
};

/* TopicPartitions of the describe response: with the name too */
struct kf_cg_describe_topic_partitions {
	struct kf_uuid topic_id;
	char *topic_name;
	struct kf_array partitions;            /* int32_t */
};

struct kf_cg_describe_assignment {
	struct kf_array topic_partitions;      /* struct kf_cg_describe_topic_partitions */
};

struct kf_cg_describe_member {
	char *member_id;
	char *instance_id;
	char *rack_id;
	int32_t member_epoch;
	char *client_id;
	char *client_host;
	struct kf_array subscribed_topic_names; /* char * */
	char *subscribed_topic_regex;
	struct kf_cg_describe_assignment assignment;
	struct kf_cg_describe_assignment target_assignment;
	int8_t member_type;                    /* v1+, default -1 */
};

struct kf_cg_describe_group {
	int16_t error_code;
	char *error_message;
	char *group_id;
	char *group_state;
	int32_t group_epoch;
	int32_t assignment_epoch;
	char *assignor_name;
	struct kf_array members;               /* struct kf_cg_describe_member */
	int32_t authorized_operations;         /* default INT32_MIN */
};

struct kf_cg_describe_resp {
	int32_t throttle_time_ms;
	struct kf_array groups;                /* struct kf_cg_describe_group */
};

extern const struct kf_api kf_api_consumer_group_describe;

#endif
