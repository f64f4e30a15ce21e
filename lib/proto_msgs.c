/*
 * proto_msgs: the schema of every request and response, transcribed from
 * Kafka's message definitions (clients/src/main/resources/common/message/
 * <Name>{Request,Response}.json).  Version ranges: see KAFKA-PROTOCOL.md;
 * the floor is the lowest of what Kafka 2.1 used and what 4.0 accepts.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "proto_msgs.h"

/* ------------------------------------------------------------ ApiVersions (18) */

#define S struct kf_api_versions_req
static const struct kf_field api_versions_req_f[] = {
	KF_F(S, client_software_name, "ClientSoftwareName", KF_T_STRING, 3, KF_VMAX),
	KF_F(S, client_software_version, "ClientSoftwareVersion", KF_T_STRING, 3, KF_VMAX),
};
#undef S
static KF_SCHEMA(api_versions_req, kf_api_versions_req, api_versions_req_f);

#define S struct kf_api_versions_resp_key
static const struct kf_field api_versions_resp_key_f[] = {
	KF_F(S, api_key, "ApiKey", KF_T_I16, 0, KF_VMAX),
	KF_F(S, min_version, "MinVersion", KF_T_I16, 0, KF_VMAX),
	KF_F(S, max_version, "MaxVersion", KF_T_I16, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(api_versions_resp_key, kf_api_versions_resp_key, api_versions_resp_key_f);

#define S struct kf_api_versions_resp_feature
static const struct kf_field api_versions_resp_feature_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 3, KF_VMAX),
	KF_F(S, min_version, "MinVersion", KF_T_I16, 3, KF_VMAX),
	KF_F(S, max_version, "MaxVersion", KF_T_I16, 3, KF_VMAX),
};
#undef S
static KF_SCHEMA(api_versions_resp_feature, kf_api_versions_resp_feature, api_versions_resp_feature_f);

#define S struct kf_api_versions_resp_finalized
static const struct kf_field api_versions_resp_finalized_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 3, KF_VMAX),
	KF_F(S, max_version_level, "MaxVersionLevel", KF_T_I16, 3, KF_VMAX),
	KF_F(S, min_version_level, "MinVersionLevel", KF_T_I16, 3, KF_VMAX),
};
#undef S
static KF_SCHEMA(api_versions_resp_finalized, kf_api_versions_resp_finalized,
		 api_versions_resp_finalized_f);

#define S struct kf_api_versions_resp
static const struct kf_field api_versions_resp_f[] = {
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FAS(S, api_keys, "ApiKeys", &api_versions_resp_key, 0, KF_VMAX, KF_NEVER),
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 1, KF_VMAX),
	KF_FTAS(S, supported_features, "SupportedFeatures", &api_versions_resp_feature, 3, KF_VMAX, 0),
	KF_FT(S, finalized_features_epoch, "FinalizedFeaturesEpoch", KF_T_I64, 3, KF_VMAX, 1, -1),
	KF_FTAS(S, finalized_features, "FinalizedFeatures", &api_versions_resp_finalized, 3, KF_VMAX, 2),
	KF_FT(S, zk_migration_ready, "ZkMigrationReady", KF_T_BOOL, 3, KF_VMAX, 3, 0),
};
#undef S
static KF_SCHEMA(api_versions_resp, kf_api_versions_resp, api_versions_resp_f);

const struct kf_api kf_api_api_versions = {
	KF_API_API_VERSIONS, "ApiVersions", 0, 4, 3, &api_versions_req, &api_versions_resp,
};

/* ------------------------------------------------------------ Metadata (3) */

#define S struct kf_metadata_req_topic
static const struct kf_field metadata_req_topic_f[] = {
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 10, KF_VMAX),
	KF_FN(S, name, "Name", KF_T_STRING, 0, KF_VMAX, 10),
};
#undef S
static KF_SCHEMA(metadata_req_topic, kf_metadata_req_topic, metadata_req_topic_f);

#define S struct kf_metadata_req
static const struct kf_field metadata_req_f[] = {
	/* v0: empty = all topics; v1+: null = all. */
	KF_FAS(S, topics, "Topics", &metadata_req_topic, 0, KF_VMAX, 1),
	KF_FD(S, allow_auto_topic_creation, "AllowAutoTopicCreation", KF_T_BOOL, 4, KF_VMAX, 1),
	KF_F(S, include_cluster_authorized_operations, "IncludeClusterAuthorizedOperations",
	     KF_T_BOOL, 8, 10),
	KF_F(S, include_topic_authorized_operations, "IncludeTopicAuthorizedOperations",
	     KF_T_BOOL, 8, KF_VMAX),
};
#undef S
static KF_SCHEMA(metadata_req, kf_metadata_req, metadata_req_f);

#define S struct kf_metadata_resp_broker
static const struct kf_field metadata_resp_broker_f[] = {
	KF_F(S, node_id, "NodeId", KF_T_I32, 0, KF_VMAX),
	KF_F(S, host, "Host", KF_T_STRING, 0, KF_VMAX),
	KF_F(S, port, "Port", KF_T_I32, 0, KF_VMAX),
	KF_FN(S, rack, "Rack", KF_T_STRING, 1, KF_VMAX, 1),
};
#undef S
static KF_SCHEMA(metadata_resp_broker, kf_metadata_resp_broker, metadata_resp_broker_f);

#define S struct kf_metadata_resp_partition
static const struct kf_field metadata_resp_partition_f[] = {
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_F(S, partition_index, "PartitionIndex", KF_T_I32, 0, KF_VMAX),
	KF_F(S, leader_id, "LeaderId", KF_T_I32, 0, KF_VMAX),
	KF_FD(S, leader_epoch, "LeaderEpoch", KF_T_I32, 7, KF_VMAX, -1),
	KF_FA(S, replica_nodes, "ReplicaNodes", KF_T_I32, 0, KF_VMAX, KF_NEVER),
	KF_FA(S, isr_nodes, "IsrNodes", KF_T_I32, 0, KF_VMAX, KF_NEVER),
	KF_FA(S, offline_replicas, "OfflineReplicas", KF_T_I32, 5, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(metadata_resp_partition, kf_metadata_resp_partition, metadata_resp_partition_f);

#define S struct kf_metadata_resp_topic
static const struct kf_field metadata_resp_topic_f[] = {
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FN(S, name, "Name", KF_T_STRING, 0, KF_VMAX, 12),
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 10, KF_VMAX),
	KF_F(S, is_internal, "IsInternal", KF_T_BOOL, 1, KF_VMAX),
	KF_FAS(S, partitions, "Partitions", &metadata_resp_partition, 0, KF_VMAX, KF_NEVER),
	KF_FD(S, topic_authorized_operations, "TopicAuthorizedOperations", KF_T_I32, 8, KF_VMAX,
	      INT32_MIN),
};
#undef S
static KF_SCHEMA(metadata_resp_topic, kf_metadata_resp_topic, metadata_resp_topic_f);

#define S struct kf_metadata_resp
static const struct kf_field metadata_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 3, KF_VMAX),
	KF_FAS(S, brokers, "Brokers", &metadata_resp_broker, 0, KF_VMAX, KF_NEVER),
	KF_FN(S, cluster_id, "ClusterId", KF_T_STRING, 2, KF_VMAX, 2),
	KF_FD(S, controller_id, "ControllerId", KF_T_I32, 1, KF_VMAX, -1),
	KF_FAS(S, topics, "Topics", &metadata_resp_topic, 0, KF_VMAX, KF_NEVER),
	KF_FD(S, cluster_authorized_operations, "ClusterAuthorizedOperations", KF_T_I32, 8, 10,
	      INT32_MIN),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 13, KF_VMAX),
};
#undef S
static KF_SCHEMA(metadata_resp, kf_metadata_resp, metadata_resp_f);

const struct kf_api kf_api_metadata = {
	KF_API_METADATA, "Metadata", 0, 13, 9, &metadata_req, &metadata_resp,
};

/* ------------------------------------------------------------ FindCoordinator (10) */

#define S struct kf_find_coordinator_req
static const struct kf_field find_coordinator_req_f[] = {
	KF_F(S, key, "Key", KF_T_STRING, 0, 3),
	KF_F(S, key_type, "KeyType", KF_T_I8, 1, KF_VMAX),
	KF_FA(S, coordinator_keys, "CoordinatorKeys", KF_T_STRING, 4, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(find_coordinator_req, kf_find_coordinator_req, find_coordinator_req_f);

#define S struct kf_find_coordinator_resp_coordinator
static const struct kf_field find_coordinator_resp_coordinator_f[] = {
	KF_F(S, key, "Key", KF_T_STRING, 4, KF_VMAX),
	KF_F(S, node_id, "NodeId", KF_T_I32, 4, KF_VMAX),
	KF_F(S, host, "Host", KF_T_STRING, 4, KF_VMAX),
	KF_F(S, port, "Port", KF_T_I32, 4, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 4, KF_VMAX),
	KF_FN(S, error_message, "ErrorMessage", KF_T_STRING, 4, KF_VMAX, 4),
};
#undef S
static KF_SCHEMA(find_coordinator_resp_coordinator, kf_find_coordinator_resp_coordinator,
		 find_coordinator_resp_coordinator_f);

#define S struct kf_find_coordinator_resp
static const struct kf_field find_coordinator_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 1, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, 3),
	KF_FN(S, error_message, "ErrorMessage", KF_T_STRING, 1, 3, 1),
	KF_F(S, node_id, "NodeId", KF_T_I32, 0, 3),
	KF_F(S, host, "Host", KF_T_STRING, 0, 3),
	KF_F(S, port, "Port", KF_T_I32, 0, 3),
	KF_FAS(S, coordinators, "Coordinators", &find_coordinator_resp_coordinator, 4, KF_VMAX,
	       KF_NEVER),
};
#undef S
static KF_SCHEMA(find_coordinator_resp, kf_find_coordinator_resp, find_coordinator_resp_f);

const struct kf_api kf_api_find_coordinator = {
	KF_API_FIND_COORDINATOR, "FindCoordinator", 0, 6, 3,
	&find_coordinator_req, &find_coordinator_resp,
};

/* ------------------------------------------------------------ ListOffsets (2) */

#define S struct kf_list_offsets_req_partition
static const struct kf_field list_offsets_req_partition_f[] = {
	KF_F(S, partition_index, "PartitionIndex", KF_T_I32, 0, KF_VMAX),
	KF_FD(S, current_leader_epoch, "CurrentLeaderEpoch", KF_T_I32, 4, KF_VMAX, -1),
	KF_F(S, timestamp, "Timestamp", KF_T_I64, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(list_offsets_req_partition, kf_list_offsets_req_partition,
		 list_offsets_req_partition_f);

#define S struct kf_list_offsets_req_topic
static const struct kf_field list_offsets_req_topic_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 0, KF_VMAX),
	KF_FAS(S, partitions, "Partitions", &list_offsets_req_partition, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(list_offsets_req_topic, kf_list_offsets_req_topic, list_offsets_req_topic_f);

#define S struct kf_list_offsets_req
static const struct kf_field list_offsets_req_f[] = {
	/* The JSON gives no default; a consumer always sends -1. */
	KF_FD(S, replica_id, "ReplicaId", KF_T_I32, 0, KF_VMAX, -1),
	KF_F(S, isolation_level, "IsolationLevel", KF_T_I8, 2, KF_VMAX),
	KF_FAS(S, topics, "Topics", &list_offsets_req_topic, 0, KF_VMAX, KF_NEVER),
	KF_F(S, timeout_ms, "TimeoutMs", KF_T_I32, 10, KF_VMAX),
};
#undef S
static KF_SCHEMA(list_offsets_req, kf_list_offsets_req, list_offsets_req_f);

#define S struct kf_list_offsets_resp_partition
static const struct kf_field list_offsets_resp_partition_f[] = {
	KF_F(S, partition_index, "PartitionIndex", KF_T_I32, 0, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FD(S, timestamp, "Timestamp", KF_T_I64, 1, KF_VMAX, -1),
	KF_FD(S, offset, "Offset", KF_T_I64, 1, KF_VMAX, -1),
	KF_FD(S, leader_epoch, "LeaderEpoch", KF_T_I32, 4, KF_VMAX, -1),
};
#undef S
static KF_SCHEMA(list_offsets_resp_partition, kf_list_offsets_resp_partition,
		 list_offsets_resp_partition_f);

#define S struct kf_list_offsets_resp_topic
static const struct kf_field list_offsets_resp_topic_f[] = {
	KF_F(S, name, "Name", KF_T_STRING, 0, KF_VMAX),
	KF_FAS(S, partitions, "Partitions", &list_offsets_resp_partition, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(list_offsets_resp_topic, kf_list_offsets_resp_topic, list_offsets_resp_topic_f);

#define S struct kf_list_offsets_resp
static const struct kf_field list_offsets_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 2, KF_VMAX),
	KF_FAS(S, topics, "Topics", &list_offsets_resp_topic, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(list_offsets_resp, kf_list_offsets_resp, list_offsets_resp_f);

const struct kf_api kf_api_list_offsets = {
	KF_API_LIST_OFFSETS, "ListOffsets", 1, 11, 6, &list_offsets_req, &list_offsets_resp,
};

/* ------------------------------------------------------------ Fetch (1) */

#define S struct kf_fetch_req_replica_state
static const struct kf_field fetch_req_replica_state_f[] = {
	KF_FD(S, replica_id, "ReplicaId", KF_T_I32, 15, KF_VMAX, -1),
	KF_FD(S, replica_epoch, "ReplicaEpoch", KF_T_I64, 15, KF_VMAX, -1),
};
#undef S
static KF_SCHEMA(fetch_req_replica_state, kf_fetch_req_replica_state, fetch_req_replica_state_f);

#define S struct kf_fetch_req_partition
static const struct kf_field fetch_req_partition_f[] = {
	KF_F(S, partition, "Partition", KF_T_I32, 0, KF_VMAX),
	KF_FD(S, current_leader_epoch, "CurrentLeaderEpoch", KF_T_I32, 9, KF_VMAX, -1),
	KF_F(S, fetch_offset, "FetchOffset", KF_T_I64, 0, KF_VMAX),
	KF_FD(S, last_fetched_epoch, "LastFetchedEpoch", KF_T_I32, 12, KF_VMAX, -1),
	KF_FD(S, log_start_offset, "LogStartOffset", KF_T_I64, 5, KF_VMAX, -1),
	KF_F(S, partition_max_bytes, "PartitionMaxBytes", KF_T_I32, 0, KF_VMAX),
	KF_FT(S, replica_directory_id, "ReplicaDirectoryId", KF_T_UUID, 17, KF_VMAX, 0, 0),
	KF_FT(S, high_watermark, "HighWatermark", KF_T_I64, 18, KF_VMAX, 1, INT64_MAX),
};
#undef S
static KF_SCHEMA(fetch_req_partition, kf_fetch_req_partition, fetch_req_partition_f);

#define S struct kf_fetch_req_topic
static const struct kf_field fetch_req_topic_f[] = {
	KF_F(S, topic, "Topic", KF_T_STRING, 0, 12),
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 13, KF_VMAX),
	KF_FAS(S, partitions, "Partitions", &fetch_req_partition, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(fetch_req_topic, kf_fetch_req_topic, fetch_req_topic_f);

#define S struct kf_fetch_req_forgotten_topic
static const struct kf_field fetch_req_forgotten_topic_f[] = {
	KF_F(S, topic, "Topic", KF_T_STRING, 7, 12),
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 13, KF_VMAX),
	KF_FA(S, partitions, "Partitions", KF_T_I32, 7, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(fetch_req_forgotten_topic, kf_fetch_req_forgotten_topic,
		 fetch_req_forgotten_topic_f);

#define S struct kf_fetch_req
static const struct kf_field fetch_req_f[] = {
	KF_FTN(S, cluster_id, "ClusterId", KF_T_STRING, 12, KF_VMAX, 12, 0),
	KF_FD(S, replica_id, "ReplicaId", KF_T_I32, 0, 14, -1),
	KF_FTS(S, replica_state, "ReplicaState", &fetch_req_replica_state, 15, KF_VMAX, 1),
	KF_F(S, max_wait_ms, "MaxWaitMs", KF_T_I32, 0, KF_VMAX),
	KF_F(S, min_bytes, "MinBytes", KF_T_I32, 0, KF_VMAX),
	KF_FD(S, max_bytes, "MaxBytes", KF_T_I32, 3, KF_VMAX, 0x7fffffff),
	KF_F(S, isolation_level, "IsolationLevel", KF_T_I8, 4, KF_VMAX),
	KF_F(S, session_id, "SessionId", KF_T_I32, 7, KF_VMAX),
	KF_FD(S, session_epoch, "SessionEpoch", KF_T_I32, 7, KF_VMAX, -1),
	KF_FAS(S, topics, "Topics", &fetch_req_topic, 0, KF_VMAX, KF_NEVER),
	KF_FAS(S, forgotten_topics_data, "ForgottenTopicsData", &fetch_req_forgotten_topic, 7,
	       KF_VMAX, KF_NEVER),
	KF_F(S, rack_id, "RackId", KF_T_STRING, 11, KF_VMAX),
};
#undef S
static KF_SCHEMA(fetch_req, kf_fetch_req, fetch_req_f);

#define S struct kf_fetch_resp_diverging_epoch
static const struct kf_field fetch_resp_diverging_epoch_f[] = {
	KF_FD(S, epoch, "Epoch", KF_T_I32, 12, KF_VMAX, -1),
	KF_FD(S, end_offset, "EndOffset", KF_T_I64, 12, KF_VMAX, -1),
};
#undef S
static KF_SCHEMA(fetch_resp_diverging_epoch, kf_fetch_resp_diverging_epoch,
		 fetch_resp_diverging_epoch_f);

#define S struct kf_fetch_resp_current_leader
static const struct kf_field fetch_resp_current_leader_f[] = {
	KF_FD(S, leader_id, "LeaderId", KF_T_I32, 12, KF_VMAX, -1),
	KF_FD(S, leader_epoch, "LeaderEpoch", KF_T_I32, 12, KF_VMAX, -1),
};
#undef S
static KF_SCHEMA(fetch_resp_current_leader, kf_fetch_resp_current_leader,
		 fetch_resp_current_leader_f);

#define S struct kf_fetch_resp_snapshot_id
static const struct kf_field fetch_resp_snapshot_id_f[] = {
	KF_FD(S, end_offset, "EndOffset", KF_T_I64, 0, KF_VMAX, -1),
	KF_FD(S, epoch, "Epoch", KF_T_I32, 0, KF_VMAX, -1),
};
#undef S
static KF_SCHEMA(fetch_resp_snapshot_id, kf_fetch_resp_snapshot_id, fetch_resp_snapshot_id_f);

#define S struct kf_fetch_resp_aborted_txn
static const struct kf_field fetch_resp_aborted_txn_f[] = {
	KF_F(S, producer_id, "ProducerId", KF_T_I64, 4, KF_VMAX),
	KF_F(S, first_offset, "FirstOffset", KF_T_I64, 4, KF_VMAX),
};
#undef S
static KF_SCHEMA(fetch_resp_aborted_txn, kf_fetch_resp_aborted_txn, fetch_resp_aborted_txn_f);

#define S struct kf_fetch_resp_partition
static const struct kf_field fetch_resp_partition_f[] = {
	KF_F(S, partition_index, "PartitionIndex", KF_T_I32, 0, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_F(S, high_watermark, "HighWatermark", KF_T_I64, 0, KF_VMAX),
	KF_FD(S, last_stable_offset, "LastStableOffset", KF_T_I64, 4, KF_VMAX, -1),
	KF_FD(S, log_start_offset, "LogStartOffset", KF_T_I64, 5, KF_VMAX, -1),
	KF_FTS(S, diverging_epoch, "DivergingEpoch", &fetch_resp_diverging_epoch, 12, KF_VMAX, 0),
	KF_FTS(S, current_leader, "CurrentLeader", &fetch_resp_current_leader, 12, KF_VMAX, 1),
	KF_FTS(S, snapshot_id, "SnapshotId", &fetch_resp_snapshot_id, 12, KF_VMAX, 2),
	KF_FAS(S, aborted_transactions, "AbortedTransactions", &fetch_resp_aborted_txn, 4, KF_VMAX,
	       4),
	KF_FD(S, preferred_read_replica, "PreferredReadReplica", KF_T_I32, 11, KF_VMAX, -1),
	KF_FN(S, records, "Records", KF_T_RECORDS, 0, KF_VMAX, 0),
};
#undef S
static KF_SCHEMA(fetch_resp_partition, kf_fetch_resp_partition, fetch_resp_partition_f);

#define S struct kf_fetch_resp_topic
static const struct kf_field fetch_resp_topic_f[] = {
	KF_F(S, topic, "Topic", KF_T_STRING, 0, 12),
	KF_F(S, topic_id, "TopicId", KF_T_UUID, 13, KF_VMAX),
	KF_FAS(S, partitions, "Partitions", &fetch_resp_partition, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(fetch_resp_topic, kf_fetch_resp_topic, fetch_resp_topic_f);

#define S struct kf_fetch_resp_node_endpoint
static const struct kf_field fetch_resp_node_endpoint_f[] = {
	KF_F(S, node_id, "NodeId", KF_T_I32, 16, KF_VMAX),
	KF_F(S, host, "Host", KF_T_STRING, 16, KF_VMAX),
	KF_F(S, port, "Port", KF_T_I32, 16, KF_VMAX),
	KF_FN(S, rack, "Rack", KF_T_STRING, 16, KF_VMAX, 16),
};
#undef S
static KF_SCHEMA(fetch_resp_node_endpoint, kf_fetch_resp_node_endpoint,
		 fetch_resp_node_endpoint_f);

#define S struct kf_fetch_resp
static const struct kf_field fetch_resp_f[] = {
	KF_F(S, throttle_time_ms, "ThrottleTimeMs", KF_T_I32, 1, KF_VMAX),
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 7, KF_VMAX),
	KF_F(S, session_id, "SessionId", KF_T_I32, 7, KF_VMAX),
	KF_FAS(S, responses, "Responses", &fetch_resp_topic, 0, KF_VMAX, KF_NEVER),
	KF_FTAS(S, node_endpoints, "NodeEndpoints", &fetch_resp_node_endpoint, 16, KF_VMAX, 0),
};
#undef S
static KF_SCHEMA(fetch_resp, kf_fetch_resp, fetch_resp_f);

const struct kf_api kf_api_fetch = {
	KF_API_FETCH, "Fetch", 4, 18, 12, &fetch_req, &fetch_resp,
};

/* ------------------------------------------------------------ SaslHandshake (17) */

#define S struct kf_sasl_handshake_req
static const struct kf_field sasl_handshake_req_f[] = {
	KF_F(S, mechanism, "Mechanism", KF_T_STRING, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(sasl_handshake_req, kf_sasl_handshake_req, sasl_handshake_req_f);

#define S struct kf_sasl_handshake_resp
static const struct kf_field sasl_handshake_resp_f[] = {
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FA(S, mechanisms, "Mechanisms", KF_T_STRING, 0, KF_VMAX, KF_NEVER),
};
#undef S
static KF_SCHEMA(sasl_handshake_resp, kf_sasl_handshake_resp, sasl_handshake_resp_f);

/* Never flexible (KAFKA-9577: the version cannot easily be bumped). */
const struct kf_api kf_api_sasl_handshake = {
	KF_API_SASL_HANDSHAKE, "SaslHandshake", 0, 1, KF_VMAX,
	&sasl_handshake_req, &sasl_handshake_resp,
};

/* ------------------------------------------------------------ SaslAuthenticate (36) */

#define S struct kf_sasl_authenticate_req
static const struct kf_field sasl_authenticate_req_f[] = {
	KF_F(S, auth_bytes, "AuthBytes", KF_T_BYTES, 0, KF_VMAX),
};
#undef S
static KF_SCHEMA(sasl_authenticate_req, kf_sasl_authenticate_req, sasl_authenticate_req_f);

#define S struct kf_sasl_authenticate_resp
static const struct kf_field sasl_authenticate_resp_f[] = {
	KF_F(S, error_code, "ErrorCode", KF_T_I16, 0, KF_VMAX),
	KF_FN(S, error_message, "ErrorMessage", KF_T_STRING, 0, KF_VMAX, 0),
	KF_F(S, auth_bytes, "AuthBytes", KF_T_BYTES, 0, KF_VMAX),
	KF_F(S, session_lifetime_ms, "SessionLifetimeMs", KF_T_I64, 1, KF_VMAX),
};
#undef S
static KF_SCHEMA(sasl_authenticate_resp, kf_sasl_authenticate_resp, sasl_authenticate_resp_f);

const struct kf_api kf_api_sasl_authenticate = {
	KF_API_SASL_AUTHENTICATE, "SaslAuthenticate", 0, 2, 2,
	&sasl_authenticate_req, &sasl_authenticate_resp,
};
