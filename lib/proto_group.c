/*
 * proto_group: schemas of the consumer-group APIs and of the ConsumerProtocol
 * payloads, transcribed from Kafka's message definitions
 * (clients/src/main/resources/common/message/<Name>.json, Kafka 4.x trunk).
 * Version floors: see KAFKA-PROTOCOL.md.  Fields that exist only below our
 * floor (OffsetCommit's v1 CommitTimestamp) are left out; fields that start
 * below it keep the JSON's range.  Nothing here knows how to walk a schema:
 * proto.c does that.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto_group.h"
#include "proto_msgs.h"

/* A nullable field whose JSON default is null: bytes and arrays need the
 * default spelled out (kf_proto_defaults gives them -1 only when dflt is -1). */
#define KF_FNULL(S, m, N, T, lo, hi, nl) KF_FIELD_(S, m, N, T, 0, lo, hi, nl, -1, -1, NULL)

/* ------------------------------------------------------------ JoinGroup (11) */

#define S struct kf_join_group_req_protocol
static const struct kf_field join_group_req_protocol_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, metadata, "Metadata", KF_T_BYTES, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(join_group_req_protocol, kf_join_group_req_protocol, join_group_req_protocol_f);

#define S struct kf_join_group_req
static const struct kf_field join_group_req_f[] = {
	KF_F(S, group_id, "GroupId", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, session_timeout_ms, "SessionTimeoutMs", KF_T_I32, 0, KF_VMAX),
	/* -1 is a placeholder: the broker uses SessionTimeoutMs when absent. */
	KF_FD(S, rebalance_timeout_ms, "RebalanceTimeoutMs", KF_T_I32, 1, KF_VMAX, -1),
	KF_F(S, member_id, "MemberId", KF_T_STRING, 0, KF_VMAX),
	KF_FN(S, group_instance_id, "GroupInstanceId", KF_T_STRING, 5, KF_VMAX, 5),
	KF_F(S, protocol_type, "ProtocolType", KF_T_STRING, 0, KF_VMAX),
	KF_FAS(S, protocols, "Protocols", &join_group_req_protocol, 0, KF_VMAX, KF_NEVER),
	KF_FN(S, reason, "Reason", KF_T_STRING, 8, KF_VMAX, 8),
};
#undef S
static KF_SCHEMA(join_group_req, kf_join_group_req, join_group_req_f);

#define S struct kf_join_group_resp_member
static const struct kf_field join_group_resp_member_f[] = {
	KF_F(S, member_id, "MemberId", KF_T_STRING, 0, KF_VMAX),
	KF_FN(S, group_instance_id, "GroupInstanceId", KF_T_STRING, 5, KF_VMAX, 5),
	KF_F(S, metadata, "Metadata", KF_T_BYTES, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(join_group_resp_member, kf_join_group_resp_member, join_group_resp_member_f);

#define S struct kf_join_group_resp
static const struct kf_field join_group_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 2, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FD(S, generation_id, "GenerationId", KF_T_I32, 0, KF_VMAX, -1),
	KF_FN(S, protocol_type, "ProtocolType", KF_T_STRING, 7, KF_VMAX, 7),
	/* Non-null in v0-6 (an empty string then); v7+ null while no protocol. */
	KF_FN(S, protocol_name, "ProtocolName", KF_T_STRING, 0, KF_VMAX, 7),
	KF_F(S, leader, "Leader", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, skip_assignment, "SkipAssignment", KF_T_BOOL, 9, KF_VMAX),
	KF_F(S, member_id, "MemberId", KF_T_STRING, 0, KF_VMAX),
	KF_FAS(S, members, "Members", &join_group_resp_member, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(join_group_resp, kf_join_group_resp, join_group_resp_f);

const struct kf_api kf_api_join_group = {
	KF_API_JOIN_GROUP, "JoinGroup", 0, 9, 6, &join_group_req, &join_group_resp,
};

/* ------------------------------------------------------------ SyncGroup (14) */

#define S struct kf_sync_group_req_assignment
static const struct kf_field sync_group_req_assignment_f[] = {
	KF_F(S, member_id, "MemberId", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, assignment, "Assignment", KF_T_BYTES, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(sync_group_req_assignment, kf_sync_group_req_assignment,
		 sync_group_req_assignment_f);

#define S struct kf_sync_group_req
static const struct kf_field sync_group_req_f[] = {
	KF_F(S, group_id, "GroupId", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, generation_id, "GenerationId", KF_T_I32, 0, KF_VMAX),
	KF_F(S, member_id, "MemberId", KF_T_STRING, 0, KF_VMAX),
	KF_FN(S, group_instance_id, "GroupInstanceId", KF_T_STRING, 3, KF_VMAX, 3),
	/* v5+: checked by the broker against what JoinGroup chose (KIP-559). */
	KF_FN(S, protocol_type, "ProtocolType", KF_T_STRING, 5, KF_VMAX, 5),
	KF_FN(S, protocol_name, "ProtocolName", KF_T_STRING, 5, KF_VMAX, 5),
	KF_FAS(S, assignments, "Assignments", &sync_group_req_assignment, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(sync_group_req, kf_sync_group_req, sync_group_req_f);

#define S struct kf_sync_group_resp
static const struct kf_field sync_group_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 1, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FN(S, protocol_type, "ProtocolType", KF_T_STRING, 5, KF_VMAX, 5),
	KF_FN(S, protocol_name, "ProtocolName", KF_T_STRING, 5, KF_VMAX, 5),
	KF_F(S, assignment, "Assignment", KF_T_BYTES, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(sync_group_resp, kf_sync_group_resp, sync_group_resp_f);

const struct kf_api kf_api_sync_group = {
	KF_API_SYNC_GROUP, "SyncGroup", 0, 5, 4, &sync_group_req, &sync_group_resp,
};

/* ------------------------------------------------------------ Heartbeat (12) */

#define S struct kf_heartbeat_req
static const struct kf_field heartbeat_req_f[] = {
	KF_F(S, group_id, "GroupId", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, generation_id, "GenerationId", KF_T_I32, 0, KF_VMAX),
	KF_F(S, member_id, "MemberId", KF_T_STRING, 0, KF_VMAX),
	KF_FN(S, group_instance_id, "GroupInstanceId", KF_T_STRING, 3, KF_VMAX, 3),
};
#undef S
static KF_SCHEMA(heartbeat_req, kf_heartbeat_req, heartbeat_req_f);

#define S struct kf_heartbeat_resp
static const struct kf_field heartbeat_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 1, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(heartbeat_resp, kf_heartbeat_resp, heartbeat_resp_f);

const struct kf_api kf_api_heartbeat = {
	KF_API_HEARTBEAT, "Heartbeat", 0, 4, 4, &heartbeat_req, &heartbeat_resp,
};

/* ------------------------------------------------------------ LeaveGroup (13) */

#define S struct kf_leave_group_req_member
static const struct kf_field leave_group_req_member_f[] = {
	KF_F(S, member_id, "MemberId", KF_T_STRING, 3, KF_VMAX),
	KF_FN(S, group_instance_id, "GroupInstanceId", KF_T_STRING, 3, KF_VMAX, 3),
	KF_FN(S, reason, "Reason", KF_T_STRING, 5, KF_VMAX, 5),
};
#undef S
static KF_SCHEMA(leave_group_req_member, kf_leave_group_req_member, leave_group_req_member_f);

#define S struct kf_leave_group_req
static const struct kf_field leave_group_req_f[] = {
	KF_F(S, group_id, "GroupId", KF_T_STRING, 0, KF_VMAX),
	/* v3 replaced the single member with a batch (KIP-345). */
	KF_F(S, member_id, "MemberId", KF_T_STRING, 0, 2),
	KF_FAS(S, members, "Members", &leave_group_req_member, 3, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(leave_group_req, kf_leave_group_req, leave_group_req_f);

#define S struct kf_leave_group_resp_member
static const struct kf_field leave_group_resp_member_f[] = {
	KF_F(S, member_id, "MemberId", KF_T_STRING, 3, KF_VMAX),
	KF_FN(S, group_instance_id, "GroupInstanceId", KF_T_STRING, 3, KF_VMAX, 3),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 3, KF_VMAX),
};
#undef S
static KF_SCHEMA(leave_group_resp_member, kf_leave_group_resp_member, leave_group_resp_member_f);

#define S struct kf_leave_group_resp
static const struct kf_field leave_group_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 1, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FAS(S, members, "Members", &leave_group_resp_member, 3, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(leave_group_resp, kf_leave_group_resp, leave_group_resp_f);

const struct kf_api kf_api_leave_group = {
	KF_API_LEAVE_GROUP, "LeaveGroup", 0, 5, 4, &leave_group_req, &leave_group_resp,
};

/* ------------------------------------------------------------ OffsetFetch (9) */

/* OffsetFetchRequestTopic: the single-group layout of v0-7. */
#define S struct kf_offset_fetch_req_topic
static const struct kf_field offset_fetch_req_topic_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 0, 7),
	KF_FA(S, partition_indexes, "PartitionIndexes", KF_T_I32, 0, 7, KF_NEVER),
};
static const struct kf_field offset_fetch_req_topics_f[] = {
	/* OffsetFetchRequestTopics (v8+): v10 names topics by id only. */
	KF_F(S, name, "Name", KF_T_STRING, 8, 9),
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 10, KF_VMAX),
	KF_FA(S, partition_indexes, "PartitionIndexes", KF_T_I32, 8, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(offset_fetch_req_topic, kf_offset_fetch_req_topic, offset_fetch_req_topic_f);
static KF_SCHEMA(offset_fetch_req_topics, kf_offset_fetch_req_topic, offset_fetch_req_topics_f);

#define S struct kf_offset_fetch_req_group
static const struct kf_field offset_fetch_req_group_f[] = {
	KF_F(S, group_id, "GroupId", KF_T_STRING, 8, KF_VMAX),
	/* KIP-848 members only; a classic member leaves them null / -1. */
	KF_FN(S, member_id, "MemberId", KF_T_STRING, 9, KF_VMAX, 9),
	KF_FD(S, member_epoch, "MemberEpoch", KF_T_I32, 9, KF_VMAX, -1),
	KF_FAS(S, topics, "Topics", &offset_fetch_req_topics, 8, KF_VMAX, 8),
};
#undef S
static KF_SCHEMA(offset_fetch_req_group, kf_offset_fetch_req_group, offset_fetch_req_group_f);

#define S struct kf_offset_fetch_req
static const struct kf_field offset_fetch_req_f[] = {
	KF_F(S, group_id, "GroupId", KF_T_STRING, 0, 7),
	/* v0-1: an empty array, not null, and it means "none"; v2-7: null = all. */
	KF_FAS(S, topics, "Topics", &offset_fetch_req_topic, 0, 7, 2),
	KF_FAS(S, groups, "Groups", &offset_fetch_req_group, 8, KF_VMAX, KF_NEVER),
	KF_F(S, require_stable, "RequireStable", KF_T_BOOL, 7, KF_VMAX),
};
#undef S
static KF_SCHEMA(offset_fetch_req, kf_offset_fetch_req, offset_fetch_req_f);

#define S struct kf_offset_fetch_resp_partition
static const struct kf_field offset_fetch_resp_partition_f[] = {
	KF_F(S, partition_index, "PartitionIndex", KF_T_I32, 0, 7),
	KF_F(S, committed_offset, "CommittedOffset", KF_T_I64, 0, 7),
	KF_FD(S, committed_leader_epoch, "CommittedLeaderEpoch", KF_T_I32, 5, 7, -1),
	KF_FN(S, metadata, "Metadata", KF_T_STRING, 0, 7, 0),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, 7),
};
static const struct kf_field offset_fetch_resp_partitions_f[] = {
	KF_F(S, partition_index, "PartitionIndex", KF_T_I32, 8, KF_VMAX),
	KF_F(S, committed_offset, "CommittedOffset", KF_T_I64, 8, KF_VMAX),
	KF_FD(S, committed_leader_epoch, "CommittedLeaderEpoch", KF_T_I32, 8, KF_VMAX, -1),
	KF_FN(S, metadata, "Metadata", KF_T_STRING, 8, KF_VMAX, 8),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 8, KF_VMAX),
};
#undef S
static KF_SCHEMA(offset_fetch_resp_partition, kf_offset_fetch_resp_partition,
		 offset_fetch_resp_partition_f);
static KF_SCHEMA(offset_fetch_resp_partitions, kf_offset_fetch_resp_partition,
		 offset_fetch_resp_partitions_f);

#define S struct kf_offset_fetch_resp_topic
static const struct kf_field offset_fetch_resp_topic_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 0, 7),
	KF_FAS(S, partitions, "Partitions", &offset_fetch_resp_partition, 0, 7, KF_NEVER),
};
static const struct kf_field offset_fetch_resp_topics_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 8, 9),
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 10, KF_VMAX),
	KF_FAS(S, partitions, "Partitions", &offset_fetch_resp_partitions, 8, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(offset_fetch_resp_topic, kf_offset_fetch_resp_topic, offset_fetch_resp_topic_f);
static KF_SCHEMA(offset_fetch_resp_topics, kf_offset_fetch_resp_topic, offset_fetch_resp_topics_f);

#define S struct kf_offset_fetch_resp_group
static const struct kf_field offset_fetch_resp_group_f[] = {
	KF_F(S, group_id, "GroupId", KF_T_STRING, 8, KF_VMAX),
	KF_FAS(S, topics, "Topics", &offset_fetch_resp_topics, 8, KF_VMAX, KF_NEVER),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 8, KF_VMAX),
};
#undef S
static KF_SCHEMA(offset_fetch_resp_group, kf_offset_fetch_resp_group, offset_fetch_resp_group_f);

#define S struct kf_offset_fetch_resp
static const struct kf_field offset_fetch_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 3, KF_VMAX),
	KF_FAS(S, topics, "Topics", &offset_fetch_resp_topic, 0, 7, KF_NEVER),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 2, 7),
	KF_FAS(S, groups, "Groups", &offset_fetch_resp_group, 8, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(offset_fetch_resp, kf_offset_fetch_resp, offset_fetch_resp_f);

const struct kf_api kf_api_offset_fetch = {
	KF_API_OFFSET_FETCH, "OffsetFetch", 1, 10, 6, &offset_fetch_req, &offset_fetch_resp,
};

/* ------------------------------------------------------------ OffsetCommit (8) */

#define S struct kf_offset_commit_req_partition
static const struct kf_field offset_commit_req_partition_f[] = {
	KF_F(S, partition_index, "PartitionIndex", KF_T_I32, 0, KF_VMAX),
	KF_F(S, committed_offset, "CommittedOffset", KF_T_I64, 0, KF_VMAX),
	KF_FD(S, committed_leader_epoch, "CommittedLeaderEpoch", KF_T_I32, 6, KF_VMAX, -1),
	/* CommitTimestamp (v1 only) sits here in the JSON, below our floor. */
	KF_FN(S, committed_metadata, "CommittedMetadata", KF_T_STRING, 0, KF_VMAX, 0),
};
#undef S
static KF_SCHEMA(offset_commit_req_partition, kf_offset_commit_req_partition,
		 offset_commit_req_partition_f);

#define S struct kf_offset_commit_req_topic
static const struct kf_field offset_commit_req_topic_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 0, 9),
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 10, KF_VMAX),
	KF_FAS(S, partitions, "Partitions", &offset_commit_req_partition, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(offset_commit_req_topic, kf_offset_commit_req_topic, offset_commit_req_topic_f);

#define S struct kf_offset_commit_req
static const struct kf_field offset_commit_req_f[] = {
	KF_F(S, group_id, "GroupId", KF_T_STRING, 0, KF_VMAX),
	KF_FD(S, generation_id_or_member_epoch, "GenerationIdOrMemberEpoch", KF_T_I32, 1, KF_VMAX,
	      -1),
	KF_F(S, member_id, "MemberId", KF_T_STRING, 1, KF_VMAX),
	KF_FN(S, group_instance_id, "GroupInstanceId", KF_T_STRING, 7, KF_VMAX, 7),
	/* -1: the broker's offsets.retention.minutes. */
	KF_FD(S, retention_time_ms, "RetentionTimeMs", KF_T_I64, 2, 4, -1),
	KF_FAS(S, topics, "Topics", &offset_commit_req_topic, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(offset_commit_req, kf_offset_commit_req, offset_commit_req_f);

#define S struct kf_offset_commit_resp_partition
static const struct kf_field offset_commit_resp_partition_f[] = {
	KF_F(S, partition_index, "PartitionIndex", KF_T_I32, 0, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(offset_commit_resp_partition, kf_offset_commit_resp_partition,
		 offset_commit_resp_partition_f);

#define S struct kf_offset_commit_resp_topic
static const struct kf_field offset_commit_resp_topic_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 0, 9),
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 10, KF_VMAX),
	KF_FAS(S, partitions, "Partitions", &offset_commit_resp_partition, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(offset_commit_resp_topic, kf_offset_commit_resp_topic,
		 offset_commit_resp_topic_f);

#define S struct kf_offset_commit_resp
static const struct kf_field offset_commit_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 3, KF_VMAX),
	KF_FAS(S, topics, "Topics", &offset_commit_resp_topic, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(offset_commit_resp, kf_offset_commit_resp, offset_commit_resp_f);

const struct kf_api kf_api_offset_commit = {
	KF_API_OFFSET_COMMIT, "OffsetCommit", 2, 10, 8, &offset_commit_req, &offset_commit_resp,
};

/* ------------------------------------------------------------ ConsumerProtocol */

/* TopicPartition exists from v1 in a subscription and from v0 in an
 * assignment; one C struct, two ranges. */
#define S struct kf_consumer_topic_partitions
static const struct kf_field consumer_owned_partitions_f[] = {
	KF_F(S, topic, "Topic", KF_T_STRING, 1, KF_VMAX),
	KF_FA(S, partitions, "Partitions", KF_T_I32, 1, KF_VMAX, KF_NEVER),
};
static const struct kf_field consumer_assigned_partitions_f[] = {
	KF_F(S, topic, "Topic", KF_T_STRING, 0, KF_VMAX),
	KF_FA(S, partitions, "Partitions", KF_T_I32, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(consumer_owned_partitions, kf_consumer_topic_partitions,
		 consumer_owned_partitions_f);
static KF_SCHEMA(consumer_assigned_partitions, kf_consumer_topic_partitions,
		 consumer_assigned_partitions_f);

#define S struct kf_consumer_subscription
static const struct kf_field consumer_subscription_f[] = {
	KF_FA(S, topics, "Topics", KF_T_STRING, 0, KF_VMAX, KF_NEVER),
	KF_FNULL(S, user_data, "UserData", KF_T_BYTES, 0, KF_VMAX, 0),
	KF_FAS(S, owned_partitions, "OwnedPartitions", &consumer_owned_partitions, 1, KF_VMAX,
	       KF_NEVER),
	KF_FD(S, generation_id, "GenerationId", KF_T_I32, 2, KF_VMAX, -1),
	KF_FN(S, rack_id, "RackId", KF_T_STRING, 3, KF_VMAX, 3),
};
#undef S
KF_SCHEMA(kf_consumer_subscription_schema, kf_consumer_subscription, consumer_subscription_f);

#define S struct kf_consumer_assignment
static const struct kf_field consumer_assignment_f[] = {
	KF_FAS(S, assigned_partitions, "AssignedPartitions", &consumer_assigned_partitions, 0,
	       KF_VMAX, KF_NEVER),
	KF_FNULL(S, user_data, "UserData", KF_T_BYTES, 0, KF_VMAX, 0),
};
#undef S
KF_SCHEMA(kf_consumer_assignment_schema, kf_consumer_assignment, consumer_assignment_f);

static int cp_encode(struct kf_wr *w, const struct kf_schema *s, int16_t version,
		     const void *obj)
{
	if (version < 0)
		return KF_EUNSUPP;
	if (version > KF_CONSUMER_PROTOCOL_VMAX)
		version = KF_CONSUMER_PROTOCOL_VMAX;
	kf_wr_i16(w, version);
	return kf_proto_encode(w, s, version, false, obj);
}

/* Trailing bytes are not an error: a newer peer appends fields we skip. */
static int cp_decode(const uint8_t *p, size_t len, struct kf_arena *a, const struct kf_schema *s,
		     void *obj, int16_t *version)
{
	struct kf_rd rd;
	kf_rd_init(&rd, p, len);
	memset(obj, 0, s->size);
	kf_proto_defaults(s, obj);
	int16_t v = kf_rd_i16(&rd);
	if (!kf_rd_ok(&rd))
		return rd.err;
	if (version)
		*version = v;
	if (v < 0)
		return KF_EPROTO;
	if (v > KF_CONSUMER_PROTOCOL_VMAX)
		v = KF_CONSUMER_PROTOCOL_VMAX;
	return kf_proto_decode(&rd, s, v, false, a, obj);
}

int kf_consumer_subscription_encode(struct kf_wr *w, int16_t version,
				    const struct kf_consumer_subscription *s)
{
	return cp_encode(w, &kf_consumer_subscription_schema, version, s);
}

int kf_consumer_assignment_encode(struct kf_wr *w, int16_t version,
				  const struct kf_consumer_assignment *s)
{
	return cp_encode(w, &kf_consumer_assignment_schema, version, s);
}

int kf_consumer_subscription_decode(const uint8_t *p, size_t len, struct kf_arena *a,
				    struct kf_consumer_subscription *s, int16_t *version)
{
	return cp_decode(p, len, a, &kf_consumer_subscription_schema, s, version);
}

int kf_consumer_assignment_decode(const uint8_t *p, size_t len, struct kf_arena *a,
				  struct kf_consumer_assignment *s, int16_t *version)
{
	return cp_decode(p, len, a, &kf_consumer_assignment_schema, s, version);
}
