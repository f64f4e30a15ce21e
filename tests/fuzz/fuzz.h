/*
 * fuzz: what the libFuzzer targets share.
 *
 * Every target defines LLVMFuzzerTestOneInput() and nothing else with
 * external linkage, so the same file links either with libFuzzer (clang,
 * `make fuzz`) or with replay.c (any compiler, `make check`).
 *
 * The checks are abort()s, not assert()s: they must fire under -DNDEBUG too,
 * and libFuzzer reports an abort like any other crash.
 */
#ifndef KF_FUZZ_H
#define KF_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto.h"
#include "proto_apis.h"
#include "proto_msgs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KF_FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/*
 * The API and version an input is about, from its first two bytes: byte 0
 * is the API key when this client speaks it, else an index into the table;
 * byte 1 the version when in range, else folded into the range.  Keys
 * rather than table indexes keep a seed's meaning when APIs are added to
 * the API table, and the fallbacks make every byte value select something,
 * so whatever the table holds at run time is covered.
 */
static inline const struct kf_api *kf_fuzz_pick_api(const uint8_t *d, int16_t *ver)
{
	const struct kf_api *api = kf_proto_api(d[0]);
	if (!api) {
		size_t n;
		const struct kf_api *const *apis = kf_proto_apis(&n);
		api = apis[d[0] % n];
	}
	int16_t span = (int16_t)(api->vmax - api->vmin + 1);
	if (d[1] >= api->vmin && d[1] <= api->vmax)
		*ver = d[1];
	else
		*ver = (int16_t)(api->vmin + d[1] % span);
	return api;
}

/*
 * walk.c: exercise a decoded message.  kf_fuzz_touch reads every byte the
 * message points at (strings, bytes, array elements), so a pointer the
 * decoder got wrong is a sanitizer report here rather than in production.
 * kf_fuzz_paths reads fields back through kf_proto_get by path.
 * kf_fuzz_reencode encodes the message, decodes that, encodes again and
 * aborts unless our own encoding decodes without error and without leftover
 * bytes, and the two encodings are identical.
 */
void kf_fuzz_touch(const struct kf_schema *s, const void *obj);
void kf_fuzz_paths(const struct kf_schema *s, const void *obj);
void kf_fuzz_reencode(const struct kf_schema *s, int16_t ver, bool flex, const void *obj);

#endif
