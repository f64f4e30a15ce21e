/*
 * fuzz_response: every response decoder, i.e. every (API, version) in
 * the API table through kf_proto_decode_response.
 *
 * Input: [api key][version] then a response frame's payload as the
 * connection hands it over (after the int32 size): correlation id, header
 * tags in header v1, body.  See kf_fuzz_pick_api for how the two bytes map.
 * A decoded response is read back completely, by path, and re-encoded.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int16_t ver;
	const struct kf_api *api = kf_fuzz_pick_api(data, &ver);
	struct kf_arena arena;
	kf_arena_init(&arena);
	void *obj = calloc(1, api->resp->size);
	KF_FUZZ_CHECK(obj);
	int32_t corr = 0;
	char err[256] = "";

	int rc = kf_proto_decode_response(data + 2, size - 2, api, ver, &arena, obj, &corr,
					  err, sizeof(err));
	if (rc == KF_OK) {
		KF_FUZZ_CHECK(corr == kf_proto_peek_corr_id(data + 2, size - 2));
		kf_fuzz_touch(api->resp, obj);
		kf_fuzz_paths(api->resp, obj);
		kf_fuzz_reencode(api->resp, ver, kf_proto_flexible(api, ver), obj);
	} else {
		/* A failure says what failed: the API, version and offset. */
		KF_FUZZ_CHECK(rc < 0);
		KF_FUZZ_CHECK(strstr(err, api->name) == err);
	}
	free(obj);
	kf_arena_free(&arena);
	return 0;
}
