/*
 * fuzz_consumer: the ConsumerProtocol payloads other group members send
 * (JoinGroup member metadata: Subscription; SyncGroup: Assignment), decoded
 * by the leader and by every member.
 *
 * Input: byte 0 bit 0 picks Subscription (0) or Assignment (1); the rest is
 * the payload (int16 version, then the body).  What decodes is encoded
 * again at the layout it was read with (min(version, 3)) and must decode to
 * the same bytes once more.
 */
#include "config.h"

#include <string.h>

#include "arena.h"
#include "err.h"
#include "fuzz.h"
#include "proto_group.h"
#include "wire.h"

static void check_same(const struct kf_wr *a, const struct kf_wr *b)
{
	KF_FUZZ_CHECK(a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0);
}

static void subscription(const uint8_t *p, size_t n)
{
	struct kf_arena a;
	struct kf_consumer_subscription s, t;
	int16_t ver;
	kf_arena_init(&a);
	if (kf_consumer_subscription_decode(p, n, &a, &s, &ver) == KF_OK) {
		KF_FUZZ_CHECK(ver >= 0);
		struct kf_wr w1, w2;
		kf_wr_init(&w1);
		kf_wr_init(&w2);
		KF_FUZZ_CHECK(kf_consumer_subscription_encode(&w1, ver, &s) == KF_OK);
		KF_FUZZ_CHECK(kf_consumer_subscription_decode(w1.buf, w1.len, &a, &t, NULL) ==
			      KF_OK);
		KF_FUZZ_CHECK(kf_consumer_subscription_encode(&w2, ver, &t) == KF_OK);
		check_same(&w1, &w2);
		kf_wr_free(&w1);
		kf_wr_free(&w2);
	}
	kf_arena_free(&a);
}

static void assignment(const uint8_t *p, size_t n)
{
	struct kf_arena a;
	struct kf_consumer_assignment s, t;
	int16_t ver;
	kf_arena_init(&a);
	if (kf_consumer_assignment_decode(p, n, &a, &s, &ver) == KF_OK) {
		KF_FUZZ_CHECK(ver >= 0);
		struct kf_wr w1, w2;
		kf_wr_init(&w1);
		kf_wr_init(&w2);
		KF_FUZZ_CHECK(kf_consumer_assignment_encode(&w1, ver, &s) == KF_OK);
		KF_FUZZ_CHECK(kf_consumer_assignment_decode(w1.buf, w1.len, &a, &t, NULL) ==
			      KF_OK);
		KF_FUZZ_CHECK(kf_consumer_assignment_encode(&w2, ver, &t) == KF_OK);
		check_same(&w1, &w2);
		kf_wr_free(&w1);
		kf_wr_free(&w2);
	}
	kf_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		assignment(data + 1, size - 1);
	else
		subscription(data + 1, size - 1);
	return 0;
}
