/*
 * json: a small JSON text writer for the control socket's replies (the
 * status object).  Commas and nesting are tracked here, so callers only
 * say what comes next.  Strings are escaped per RFC 8259 (control
 * characters as \u00XX); bytes that are not valid UTF-8 are written as
 * U+FFFD, so the output is always valid JSON whatever a topic name or an
 * error message holds.  Memory errors are sticky in the kf_wr.
 */
#ifndef KF_JSON_H
#define KF_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

#define KF_JSON_MAX_DEPTH 16

struct kf_json {
	struct kf_wr wr;
	int depth;
	bool first[KF_JSON_MAX_DEPTH];
};

void kf_json_init(struct kf_json *j);
void kf_json_free(struct kf_json *j);

/* key is the member name inside an object, NULL inside an array or at
 * the top.  Nesting deeper than KF_JSON_MAX_DEPTH sets wr.err. */
void kf_json_obj(struct kf_json *j, const char *key);
void kf_json_end_obj(struct kf_json *j);
void kf_json_arr(struct kf_json *j, const char *key);
void kf_json_end_arr(struct kf_json *j);
/* v NULL writes null. */
void kf_json_str(struct kf_json *j, const char *key, const char *v);
void kf_json_int(struct kf_json *j, const char *key, int64_t v);
void kf_json_uint(struct kf_json *j, const char *key, uint64_t v);
void kf_json_bool(struct kf_json *j, const char *key, bool v);
void kf_json_null(struct kf_json *j, const char *key);

#endif
