/*
 * proto_msgs: the schema of every request and response, transcribed from
 * Kafka's message definitions (clients/src/main/resources/common/message/
 * <Name>{Request,Response}.json).  Version ranges: see KAFKA-PROTOCOL.md;
 * the floor is the lowest of what Kafka 2.1 used and what 4.0 accepts.
 */
#include "config.h"

#include <stddef.h>

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

/* ------------------------------------------------------------ the table */

const struct kf_api *const kf_api_table[] = {
	&kf_api_api_versions,
};
const size_t kf_api_table_len = sizeof(kf_api_table) / sizeof(kf_api_table[0]);
