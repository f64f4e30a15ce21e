/*
 * err: the few return codes every kfork function uses, and the names of
 * Kafka's protocol error codes.  0 is success, library errors are negative,
 * Kafka error codes (from responses) are positive int16 values kept apart in
 * the fields that carry them.
 */
#ifndef KF_ERR_H
#define KF_ERR_H

#include <stdint.h>

enum {
	KF_OK = 0,
	KF_ERR = -1,        /* generic failure; the message went to a caller buffer or the log */
	KF_ESHORT = -2,     /* input ended before a complete value */
	KF_EPROTO = -3,     /* malformed input: bad length, bad varint, bad value */
	KF_ECRC = -4,       /* checksum mismatch */
	KF_ENOMEM = -5,     /* allocation failed */
	KF_ETOOBIG = -6,    /* over a configured size limit */
	KF_EUNSUPP = -7,    /* unknown codec, magic, version */
	KF_ETIMEDOUT = -8,  /* a request or connect timed out */
	KF_EIO = -9,        /* transport failure */
	KF_ECLOSED = -10,   /* connection closed or torn down */
	KF_EAGAIN = -11,    /* try again later (would block, not ready) */
	KF_ERESOLVE = -12,  /* name resolution failed */
	KF_EAUTH = -13,     /* authentication refused (SASL credentials or mechanism, TLS
	                     * certificate verification): retrying cannot help */
};

/* How a child process ended, from its wait status: "exited with status
 * 3", "killed by signal 9 (Killed)". */
void kf_wait_status_str(int status, char *buf, size_t len);

/* Static text for a KF_* code. */
const char *kf_strerror(int err);

/* Kafka protocol error code name, e.g. 27 -> "REBALANCE_IN_PROGRESS";
 * "UNKNOWN_ERROR_<n>" style text is written to no buffer: unknown codes
 * return "UNKNOWN_CODE". */
const char *kf_kafka_err_name(int16_t code);

/* Kafka error codes kfork reacts to by name. */
enum kf_kerr {
	KF_KERR_UNKNOWN_SERVER_ERROR = -1,
	KF_KERR_NONE = 0,
	KF_KERR_OFFSET_OUT_OF_RANGE = 1,
	KF_KERR_CORRUPT_MESSAGE = 2,
	KF_KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KF_KERR_LEADER_NOT_AVAILABLE = 5,
	KF_KERR_NOT_LEADER_OR_FOLLOWER = 6,
	KF_KERR_REQUEST_TIMED_OUT = 7,
	KF_KERR_REPLICA_NOT_AVAILABLE = 9,
	KF_KERR_OFFSET_METADATA_TOO_LARGE = 12,
	KF_KERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KF_KERR_COORDINATOR_NOT_AVAILABLE = 15,
	KF_KERR_NOT_COORDINATOR = 16,
	KF_KERR_ILLEGAL_GENERATION = 22,
	KF_KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	KF_KERR_INVALID_GROUP_ID = 24,
	KF_KERR_UNKNOWN_MEMBER_ID = 25,
	KF_KERR_INVALID_SESSION_TIMEOUT = 26,
	KF_KERR_REBALANCE_IN_PROGRESS = 27,
	KF_KERR_INVALID_COMMIT_OFFSET_SIZE = 28,
	KF_KERR_TOPIC_AUTHORIZATION_FAILED = 29,
	KF_KERR_GROUP_AUTHORIZATION_FAILED = 30,
	KF_KERR_UNSUPPORTED_SASL_MECHANISM = 33,
	KF_KERR_UNSUPPORTED_VERSION = 35,
	KF_KERR_KAFKA_STORAGE_ERROR = 56,
	KF_KERR_SASL_AUTHENTICATION_FAILED = 58,
	KF_KERR_FETCH_SESSION_ID_NOT_FOUND = 70,
	KF_KERR_INVALID_FETCH_SESSION_EPOCH = 71,
	KF_KERR_FENCED_LEADER_EPOCH = 74,
	KF_KERR_UNKNOWN_LEADER_EPOCH = 75,
	KF_KERR_OFFSET_NOT_AVAILABLE = 78,
	KF_KERR_MEMBER_ID_REQUIRED = 79,
	KF_KERR_GROUP_MAX_SIZE_REACHED = 81,
	KF_KERR_FENCED_INSTANCE_ID = 82,
	KF_KERR_UNSTABLE_OFFSET_COMMIT = 88,
	KF_KERR_UNKNOWN_TOPIC_ID = 100,
	KF_KERR_INCONSISTENT_TOPIC_ID = 103,
	KF_KERR_REBOOTSTRAP_REQUIRED = 129,
};

#endif
