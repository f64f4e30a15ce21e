/*
 * proto_apis: the table of every API kfork speaks.  It sits above the message
 * modules (proto_msgs.c, proto_group.c), which define one struct kf_api each,
 * and below the connection, which negotiates versions from it.
 */
#ifndef KF_PROTO_APIS_H
#define KF_PROTO_APIS_H

#include "proto.h"

/* The API table entry for key, or NULL when this client does not speak it. */
const struct kf_api *kf_proto_api(int16_t key);
/* Every API this client speaks (for ApiVersions negotiation and tests). */
const struct kf_api *const *kf_proto_apis(size_t *n);

#endif
