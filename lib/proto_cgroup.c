/*
 * proto_cgroup: schemas of the KIP-848 consumer group APIs (see
 * proto_cgroup.h).  Nothing here walks a schema: proto.c does.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "proto_cgroup.h"
#include "proto_msgs.h"

/* ------------------------------------------------------------ ConsumerGroupHeartbeat (68) */

#define S struct kf_cg_topic_partitions
static const struct kf_field cg_topic_partitions_f[] = {
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 0, KF_VMAX),
	KF_FA(S, partitions, "Partitions", KF_T_I32, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(cg_topic_partitions, kf_cg_topic_partitions, cg_topic_partitions_f);

#define S struct kf_cg_heartbeat_req
static const struct kf_field cg_heartbeat_req_f[] = {
	KF_F(S, group_id, "GroupId", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, member_id, "MemberId", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, member_epoch, "MemberEpoch", KF_T_I32, 0, KF_VMAX),
	KF_FN(S, instance_id, "InstanceId", KF_T_STRING, 0, KF_VMAX, 0),
	KF_FN(S, rack_id, "RackId", KF_T_STRING, 0, KF_VMAX, 0),
	KF_FD(S, rebalance_timeout_ms, "RebalanceTimeoutMs", KF_T_I32, 0, KF_VMAX, -1),
	KF_FAN(S, subscribed_topic_names, "SubscribedTopicNames", KF_T_STRING, NULL, 0, KF_VMAX, 0),
	KF_FN(S, subscribed_topic_regex, "SubscribedTopicRegex", KF_T_STRING, 1, KF_VMAX, 1),
	KF_FN(S, server_assignor, "ServerAssignor", KF_T_STRING, 0, KF_VMAX, 0),
	KF_FAN(S, topic_partitions, "TopicPartitions", KF_T_STRUCT, &cg_topic_partitions, 0,
	       KF_VMAX, 0),
};
#undef S
static KF_SCHEMA(cg_heartbeat_req, kf_cg_heartbeat_req, cg_heartbeat_req_f);

#define S struct kf_cg_heartbeat_resp_assignment
static const struct kf_field cg_heartbeat_resp_assignment_f[] = {
	KF_FAS(S, topic_partitions, "TopicPartitions", &cg_topic_partitions, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(cg_heartbeat_resp_assignment, kf_cg_heartbeat_resp_assignment,
		 cg_heartbeat_resp_assignment_f);

#define S struct kf_cg_heartbeat_resp
static const struct kf_field cg_heartbeat_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 0, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FN(S, error_message, "ErrorMessage", KF_T_STRING, 0, KF_VMAX, 0),
	KF_FN(S, member_id, "MemberId", KF_T_STRING, 0, KF_VMAX, 0),
	KF_F(S, member_epoch, "MemberEpoch", KF_T_I32, 0, KF_VMAX),
	KF_F(S, heartbeat_interval_ms, "HeartbeatIntervalMs", KF_T_I32, 0, KF_VMAX),
	KF_FNS(S, assignment, "Assignment", &cg_heartbeat_resp_assignment, 0, KF_VMAX, 0),
};
#undef S
static KF_SCHEMA(cg_heartbeat_resp, kf_cg_heartbeat_resp, cg_heartbeat_resp_f);

const struct kf_api kf_api_consumer_group_heartbeat = {
	KF_API_CONSUMER_GROUP_HEARTBEAT, "ConsumerGroupHeartbeat", 0, 1, 0,
	&cg_heartbeat_req, &cg_heartbeat_resp,
};

/* ------------------------------------------------------------ ConsumerGroupDescribe (69) */

#define S struct kf_cg_describe_req
static const struct kf_field cg_describe_req_f[] = {
	KF_FA(S, group_ids, "GroupIds", KF_T_STRING, 0, KF_VMAX, KF_NEVER),
	KF_F(S, include_authorized_operations, "IncludeAuthorizedOperations", KF_T_BOOL, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(cg_describe_req, kf_cg_describe_req, cg_describe_req_f);

#define S struct kf_cg_describe_topic_partitions
static const struct kf_field cg_describe_topic_partitions_f[] = {
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 0, KF_VMAX),
	KF_F(S, topic_name, "TopicName", KF_T_STRING, 0, KF_VMAX),
	KF_FA(S, partitions, "Partitions", KF_T_I32, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(cg_describe_topic_partitions, kf_cg_describe_topic_partitions,
		 cg_describe_topic_partitions_f);

#define S struct kf_cg_describe_assignment
static const struct kf_field cg_describe_assignment_f[] = {
	KF_FAS(S, topic_partitions, "TopicPartitions", &cg_describe_topic_partitions, 0, KF_VMAX,
	       KF_NEVER),
};
#undef S
static KF_SCHEMA(cg_describe_assignment, kf_cg_describe_assignment, cg_describe_assignment_f);

#define S struct kf_cg_describe_member
static const struct kf_field cg_describe_member_f[] = {
	KF_F(S, member_id, "MemberId", KF_T_STRING, 0, KF_VMAX),
	KF_FN(S, instance_id, "InstanceId", KF_T_STRING, 0, KF_VMAX, 0),
	KF_FN(S, rack_id, "RackId", KF_T_STRING, 0, KF_VMAX, 0),
	KF_F(S, member_epoch, "MemberEpoch", KF_T_I32, 0, KF_VMAX),
	KF_F(S, client_id, "ClientId", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, client_host, "ClientHost", KF_T_STRING, 0, KF_VMAX),
	KF_FA(S, subscribed_topic_names, "SubscribedTopicNames", KF_T_STRING, 0, KF_VMAX, KF_NEVER),
	KF_FN(S, subscribed_topic_regex, "SubscribedTopicRegex", KF_T_STRING, 0, KF_VMAX, 0),
	KF_FS(S, assignment, "Assignment", &cg_describe_assignment, 0, KF_VMAX),
	KF_FS(S, target_assignment, "TargetAssignment", &cg_describe_assignment, 0, KF_VMAX),
	KF_FD(S, member_type, "MemberType", KF_T_I8, 1, KF_VMAX, -1),
};
#undef S
static KF_SCHEMA(cg_describe_member, kf_cg_describe_member, cg_describe_member_f);

#define S struct kf_cg_describe_group
static const struct kf_field cg_describe_group_f[] = {
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FN(S, error_message, "ErrorMessage", KF_T_STRING, 0, KF_VMAX, 0),
	KF_F(S, group_id, "GroupId", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, group_state, "GroupState", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, group_epoch, "GroupEpoch", KF_T_I32, 0, KF_VMAX),
	KF_F(S, assignment_epoch, "AssignmentEpoch", KF_T_I32, 0, KF_VMAX),
	KF_F(S, assignor_name, "AssignorName", KF_T_STRING, 0, KF_VMAX),
	KF_FAS(S, members, "Members", &cg_describe_member, 0, KF_VMAX, KF_NEVER),
	KF_FD(S, authorized_operations, "AuthorizedOperations", KF_T_I32, 0, KF_VMAX, INT32_MIN),
};
#undef S
static KF_SCHEMA(cg_describe_group, kf_cg_describe_group, cg_describe_group_f);

#define S struct kf_cg_describe_resp
static const struct kf_field cg_describe_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 0, KF_VMAX),
	KF_FAS(S, groups, "Groups", &cg_describe_group, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(cg_describe_resp, kf_cg_describe_resp, cg_describe_resp_f);

const struct kf_api kf_api_consumer_group_describe = {
	KF_API_CONSUMER_GROUP_DESCRIBE, "ConsumerGroupDescribe", 0, 1, 0,
	&cg_describe_req, &cg_describe_resp,
};
