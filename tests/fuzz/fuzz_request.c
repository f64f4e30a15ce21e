/*
 * fuzz_request: the request schemas, decoded.  kforkd never decodes a
 * request, but the walker does (tests and devbroker-style tools use it), and
 * the request schemas hold field types the responses lack.  Mostly this is a
 * round-trip check of the encoder: decode, encode, decode, encode; the two
 * encodings must match, and the whole frame must carry the right size.
 *
 * Input: [api key][version] then a request body (no header).
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"

/* The frame kf_proto_encode_request builds says its own size correctly. */
static void check_frame(const struct kf_api *api, int16_t ver, const void *obj)
{
	struct kf_wr wr;
	kf_wr_init(&wr);
	KF_FUZZ_CHECK(kf_proto_encode_request(&wr, api, ver, 42, "fuzz", obj) == KF_OK);
	KF_FUZZ_CHECK(wr.len >= 4 + 2 + 2 + 4 + 2 + 4);
	uint32_t n = (uint32_t)wr.buf[0] << 24 | (uint32_t)wr.buf[1] << 16 |
		     (uint32_t)wr.buf[2] << 8 | wr.buf[3];
	KF_FUZZ_CHECK(n == wr.len - 4);
	KF_FUZZ_CHECK(wr.buf[4] == (uint8_t)(api->key >> 8) && wr.buf[5] == (uint8_t)api->key);
	kf_wr_free(&wr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int16_t ver;
	const struct kf_api *api = kf_fuzz_pick_api(data, &ver);
	bool flex = kf_proto_flexible(api, ver);
	struct kf_arena arena;
	struct kf_rd rd;
	kf_arena_init(&arena);
	void *obj = calloc(1, api->req->size);
	KF_FUZZ_CHECK(obj);

	kf_rd_init(&rd, data + 2, size - 2);
	if (kf_proto_decode(&rd, api->req, ver, flex, &arena, obj) == KF_OK) {
		kf_fuzz_touch(api->req, obj);
		kf_fuzz_paths(api->req, obj);
		kf_fuzz_reencode(api->req, ver, flex, obj);
		check_frame(api, ver, obj);
	}
	free(obj);
	kf_arena_free(&arena);
	return 0;
}
