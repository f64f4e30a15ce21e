/*
 * proto_apis: the table of every API kfork speaks (see proto_apis.h).
 */
#include "config.h"

#include <stddef.h>

#include "proto_apis.h"
#include "proto_cgroup.h"
#include "proto_group.h"
#include "proto_msgs.h"

static const struct kf_api *const apis[] = {
	&kf_api_fetch,
	&kf_api_list_offsets,
	&kf_api_metadata,
	&kf_api_offset_commit,
	&kf_api_offset_fetch,
	&kf_api_find_coordinator,
	&kf_api_join_group,
	&kf_api_heartbeat,
	&kf_api_leave_group,
	&kf_api_sync_group,
	&kf_api_sasl_handshake,
	&kf_api_api_versions,
	&kf_api_sasl_authenticate,
	&kf_api_consumer_group_heartbeat,
	&kf_api_consumer_group_describe,
};

const struct kf_api *kf_proto_api(int16_t key)
{
	for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++)
		if (apis[i]->key == key)
			return apis[i];
	return NULL;
}

const struct kf_api *const *kf_proto_apis(size_t *n)
{
	*n = sizeof(apis) / sizeof(apis[0]);
	return apis;
}
