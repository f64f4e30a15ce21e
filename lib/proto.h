/*
 * proto: Kafka request/response encoding and decoding, driven by schemas.
 *
 * Each message is described once, as Kafka's own JSON message definitions
 * describe it: a list of fields, each with the versions it exists in, the
 * versions it may be null in, an optional tag (KIP-482 tagged fields) and
 * its place in a C struct.  One walker encodes and decodes every API and
 * version from these tables (proto_msgs.c holds them), so flexible versions,
 * compact types and tagged fields are handled in exactly one place.
 *
 * Decoding copies strings into an arena (NUL-terminated, NULL for null)
 * and allocates arrays there; BYTES and RECORDS point into the input buffer
 * (no copy), so the caller keeps the input alive as long as the result.
 * Decoding never reads outside its input; a malformed input returns an
 * error whose message names the API, version, field and byte offset.
 */
#ifndef KF_PROTO_H
#define KF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "wire.h"

enum kf_type {
	KF_T_BOOL = 0, /* int8_t in C (0/1) */
	KF_T_I8,       /* int8_t */
	KF_T_I16,      /* int16_t */
	KF_T_U16,      /* uint16_t */
	KF_T_I32,      /* int32_t */
	KF_T_U32,      /* uint32_t */
	KF_T_I64,      /* int64_t */
	KF_T_F64,      /* double */
	KF_T_UUID,     /* struct kf_uuid */
	KF_T_STRING,   /* char *, NUL-terminated; NULL = null */
	KF_T_BYTES,    /* struct kf_bytes */
	KF_T_RECORDS,  /* struct kf_bytes (record batches; nullable in every version) */
	KF_T_STRUCT,   /* a nested struct stored inline; schema in .sub */
	KF_T_ARRAY,    /* struct kf_array of .elem (KF_T_STRUCT elements use .sub) */
	KF_T_NSTRUCT,  /* a nullable struct: a pointer to it (schema in .sub), NULL = null;
			* on the wire an int8 marker (-1 null, 1 present) before it.
			* Nullable in every version it exists in (as every nullable
			* struct of Kafka's messages is) */
};

struct kf_uuid {
	uint8_t b[16];
};

struct kf_bytes {
	const uint8_t *p;
	int32_t len; /* -1 = null */
};

/* An array of elements laid out as a C array; n = -1 for a null array. */
struct kf_array {
	void *v;
	int32_t n;
};

#define KF_AT(arr, type, i) (((type *)(arr).v)[i])

#define KF_VMAX 127    /* "and every later version" */
#define KF_NEVER 127   /* nullable_min: never nullable */

struct kf_schema;

struct kf_field {
	const char *name;   /* Kafka's JSON field name, e.g. "ErrorCode" */
	uint8_t type;       /* enum kf_type */
	uint8_t elem;       /* arrays: element type */
	int8_t vmin, vmax;  /* versions the field exists in */
	int8_t null_min;    /* first version it may be null in (KF_NEVER if none) */
	int8_t tag;         /* tagged field number, or -1 */
	uint16_t off;       /* offsetof() in the C struct */
	int64_t dflt;       /* default for integers; for absent/omitted fields */
	const struct kf_schema *sub; /* KF_T_STRUCT, or KF_T_ARRAY of KF_T_STRUCT */
};

struct kf_schema {
	const char *name;
	size_t size;                  /* sizeof the C struct */
	const struct kf_field *fields;
	uint16_t nfields;
};

struct kf_api {
	int16_t key;
	const char *name;
	int16_t vmin, vmax;   /* versions this client implements */
	int16_t flex_min;     /* first flexible version (KF_VMAX if none) */
	const struct kf_schema *req;
	const struct kf_schema *resp;
};

/* API keys this client speaks. */
enum kf_api_key {
	KF_API_FETCH = 1,
	KF_API_LIST_OFFSETS = 2,
	KF_API_METADATA = 3,
	KF_API_OFFSET_COMMIT = 8,
	KF_API_OFFSET_FETCH = 9,
	KF_API_FIND_COORDINATOR = 10,
	KF_API_JOIN_GROUP = 11,
	KF_API_HEARTBEAT = 12,
	KF_API_LEAVE_GROUP = 13,
	KF_API_SYNC_GROUP = 14,
	KF_API_SASL_HANDSHAKE = 17,
	KF_API_API_VERSIONS = 18,
	KF_API_SASL_AUTHENTICATE = 36,
	KF_API_CONSUMER_GROUP_HEARTBEAT = 68,
	KF_API_CONSUMER_GROUP_DESCRIBE = 69,
};

static inline bool kf_proto_flexible(const struct kf_api *api, int16_t ver)
{
	return ver >= api->flex_min;
}

/* Request header version 1 or 2, response header 0 or 1 (ApiVersions: always 0). */
int kf_proto_req_header_version(const struct kf_api *api, int16_t ver);
int kf_proto_resp_header_version(const struct kf_api *api, int16_t ver);

/*
 * Encode a whole request frame into wr: int32 size, request header
 * (ApiKey, ApiVersion, CorrelationId, ClientId, tags in v2), body from obj
 * (a pointer to the request's C struct).  Returns KF_OK, KF_EUNSUPP for a
 * version outside the API's range, KF_ENOMEM.
 */
int kf_proto_encode_request(struct kf_wr *wr, const struct kf_api *api, int16_t ver,
			    int32_t corr_id, const char *client_id, const void *obj);

/*
 * Decode a response frame's payload (after the int32 size): the response
 * header, then the body into obj (the response's C struct, zeroed by the
 * caller), allocating in arena.  *corr_id gets the correlation id.
 * Returns KF_OK or a KF_* error with a message in err (may be NULL).
 */
int kf_proto_decode_response(const uint8_t *buf, size_t len, const struct kf_api *api,
			     int16_t ver, struct kf_arena *arena, void *obj, int32_t *corr_id,
			     char *err, size_t errlen);

/* Only the correlation id of a response payload; -1 if too short. */
int32_t kf_proto_peek_corr_id(const uint8_t *buf, size_t len);

/* The schema walker itself, for bodies without headers (tests, fuzzers, and
 * the embedded consumer-protocol structures). */
int kf_proto_encode(struct kf_wr *wr, const struct kf_schema *s, int16_t ver, bool flex,
		    const void *obj);
int kf_proto_decode(struct kf_rd *rd, const struct kf_schema *s, int16_t ver, bool flex,
		    struct kf_arena *arena, void *obj);
/* Sets every field of obj to its schema default (ints to dflt, the rest
 * zero/NULL, arrays empty).  obj must be zeroed or freshly allocated. */
void kf_proto_defaults(const struct kf_schema *s, void *obj);

/* Bytes a value of type t takes in a C struct (an array element's size);
 * sub is the element schema for KF_T_STRUCT. */
size_t kf_proto_type_size(uint8_t t, const struct kf_schema *sub);

/*
 * Allocate n elements for the array field `field` of schema s in obj, each
 * set to its schema defaults, in arena.  Returns the elements (also stored
 * in the field's struct kf_array), or NULL (unknown field, out of memory).
 * kf_proto_sub gives the element schema of an array-of-structs field, for
 * the next level down.
 */
void *kf_proto_array_new(const struct kf_schema *s, void *obj, const char *field, int32_t n,
			 struct kf_arena *arena);
const struct kf_schema *kf_proto_sub(const struct kf_schema *s, const char *field);

/*
 * Paths for tests and debugging: "Topics[1].Partitions[0].ErrorCode" names
 * a field by its Kafka JSON names.  kf_proto_get formats a value as text
 * (integers in decimal, strings as is, null as "null", bytes and UUIDs as
 * lowercase hex, "Topics#" the element count of an array, a nullable
 * struct "null" or "{}").  kf_proto_set parses text into the field,
 * growing arrays and making nullable structs present as needed
 * (allocating in arena).  Both return KF_OK or KF_EPROTO for an unknown
 * path or bad value.
 */
int kf_proto_get(const struct kf_schema *s, const void *obj, const char *path, char *out,
		 size_t outlen);
int kf_proto_set(const struct kf_schema *s, void *obj, struct kf_arena *arena,
		 const char *path, const char *value);

#endif
