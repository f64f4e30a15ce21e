/*
 * dispatch: balance, stickiness, drain-before-move, retiring workers, key
 * hashing, round robin; then random worker/partition churn (fixed seeds)
 * checking the order guarantee and the balance after every operation.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "suites.h"

/* Kafka's producer hash (Utils.murmur2), to build keys that share a Kafka
 * partition. */
static int32_t murmur2(const uint8_t *p, size_t len)
{
	const uint32_t m = 0x5bd1e995u;
	uint32_t h = 0x9747b28cu ^ (uint32_t)len;
	size_t i;

	for (i = 0; i + 4 <= len; i += 4) {
		uint32_t k = p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
			     (uint32_t)p[i + 3] << 24;

		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (len & 3) {
	case 3:
		h ^= (uint32_t)p[i + 2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)p[i + 1] << 8;
		/* fall through */
	case 1:
		h ^= p[i];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return (int32_t)h;
}

static int kafka_partition(const char *key, int n)
{
	return (int)((uint32_t)murmur2((const uint8_t *)key, strlen(key)) & 0x7fffffff) % n;
}

static struct kf_dispatch *with_workers(enum kf_dispatch_mode mode, int n)
{
	struct kf_dispatch *d = kf_dispatch_new(mode);

	ck_assert_ptr_nonnull(d);
	for (int w = 0; w < n; w++)
		ck_assert_int_eq(kf_dispatch_worker_add(d, w), KF_OK);
	return d;
}

START_TEST(mode_names)
{
	enum kf_dispatch_mode m = KF_DISPATCH_ROUNDROBIN;

	ck_assert_int_eq(kf_dispatch_mode_parse("partition", &m), KF_OK);
	ck_assert_int_eq(m, KF_DISPATCH_PARTITION);
	ck_assert_int_eq(kf_dispatch_mode_parse("key", &m), KF_OK);
	ck_assert_int_eq(m, KF_DISPATCH_KEY);
	ck_assert_int_eq(kf_dispatch_mode_parse("roundrobin", &m), KF_OK);
	ck_assert_int_eq(m, KF_DISPATCH_ROUNDROBIN);
	ck_assert_int_eq(kf_dispatch_mode_parse("round-robin", &m), KF_EPROTO);
	ck_assert_int_eq(kf_dispatch_mode_parse("", &m), KF_EPROTO);
	ck_assert_str_eq(kf_dispatch_mode_name(KF_DISPATCH_KEY), "key");
	ck_assert_str_eq(kf_dispatch_mode_name(KF_DISPATCH_PARTITION), "partition");
	ck_assert_str_eq(kf_dispatch_mode_name(KF_DISPATCH_ROUNDROBIN), "roundrobin");
}
END_TEST

START_TEST(worker_table)
{
	struct kf_dispatch *d = kf_dispatch_new(KF_DISPATCH_PARTITION);

	ck_assert_int_eq(kf_dispatch_mode(d), KF_DISPATCH_PARTITION);
	ck_assert_int_eq(kf_dispatch_worker_add(d, -1), KF_EPROTO);
	ck_assert_int_eq(kf_dispatch_worker_add(d, KF_DISPATCH_MAX_WORKERS), KF_EPROTO);
	ck_assert_int_eq(kf_dispatch_worker_add(d, 40), KF_OK);
	ck_assert_int_eq(kf_dispatch_worker_add(d, 40), KF_EPROTO);
	ck_assert_int_eq(kf_dispatch_worker_state(d, 40), KF_DW_ACTIVE);
	ck_assert_int_eq(kf_dispatch_worker_state(d, 39), KF_DW_NONE);
	ck_assert_int_eq(kf_dispatch_worker_state(d, 5000), KF_DW_NONE);
	ck_assert_int_eq(kf_dispatch_worker_retire(d, 39), KF_EPROTO);
	ck_assert_int_eq(kf_dispatch_worker_retire(d, 40), KF_OK);
	ck_assert_int_eq(kf_dispatch_worker_retire(d, 40), KF_EPROTO);
	ck_assert_int_eq(kf_dispatch_worker_state(d, 40), KF_DW_RETIRING);
	ck_assert_int_eq(kf_dispatch_worker_add(d, 40), KF_EPROTO);
	ck_assert_uint_eq(kf_dispatch_active(d), 0);
	ck_assert_int_eq(kf_dispatch_worker_remove(d, 40), KF_OK);
	ck_assert_int_eq(kf_dispatch_worker_remove(d, 40), KF_EPROTO);
	ck_assert_int_eq(kf_dispatch_worker_add(d, 40), KF_OK);
	ck_assert_uint_eq(kf_dispatch_active(d), 1);
	kf_dispatch_free(d);
	kf_dispatch_free(NULL);
}
END_TEST

START_TEST(no_workers)
{
	for (int mode = 0; mode < 3; mode++) {
		struct kf_dispatch *d = kf_dispatch_new((enum kf_dispatch_mode)mode);

		ck_assert_int_eq(kf_dispatch_pick(d, 0, "k", 1), -1);
		ck_assert_int_eq(kf_dispatch_slot_worker(d, 0), -1);
		kf_dispatch_worker_add(d, 3);
		ck_assert_int_eq(kf_dispatch_pick(d, 0, "k", 1), 3);
		ck_assert_int_eq(kf_dispatch_pick(d, 1, NULL, -1), 3);
		kf_dispatch_worker_retire(d, 3);
		ck_assert_int_eq(kf_dispatch_pick(d, 0, "k", 1), -1);
		ck_assert_int_eq(kf_dispatch_pick(d, 2, NULL, -1), -1);
		kf_dispatch_worker_add(d, 4);
		ck_assert_int_eq(kf_dispatch_pick(d, 0, "k", 1), 4);
		ck_assert_int_eq(kf_dispatch_pick(d, KF_DISPATCH_MAX_SLOTS, "k", 1), -1);
		kf_dispatch_free(d);
	}
}
END_TEST

START_TEST(partition_balance_sticky)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_PARTITION, 3);
	int first[10];

	for (uint32_t s = 0; s < 10; s++) {
		first[s] = kf_dispatch_pick(d, s, NULL, -1);
		ck_assert_int_ge(first[s], 0);
	}
	/* First sight: the least loaded, lowest index first. */
	for (uint32_t s = 0; s < 10; s++)
		ck_assert_int_eq(first[s], (int)(s % 3));
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 0), 4);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 1), 3);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 2), 3);
	for (int round = 0; round < 5; round++) {
		for (uint32_t s = 0; s < 10; s++) {
			int w = kf_dispatch_pick(d, s, "key", 3);

			ck_assert_int_eq(w, first[s]);
			kf_dispatch_sent(d, s, w);
			ck_assert_int_eq(kf_dispatch_slot_worker(d, s), w);
		}
	}
	ck_assert_uint_eq(kf_dispatch_slot_inflight(d, 4), 5);
	ck_assert_uint_eq(kf_dispatch_worker_inflight(d, 0), 20);
	ck_assert_uint_eq(kf_dispatch_worker_inflight(d, 1), 15);
	for (int round = 0; round < 5; round++)
		for (uint32_t s = 0; s < 10; s++)
			kf_dispatch_acked(d, s, first[s]);
	ck_assert_uint_eq(kf_dispatch_worker_inflight(d, 0), 0);
	ck_assert_uint_eq(kf_dispatch_slot_inflight(d, 4), 0);
	kf_dispatch_free(d);
}
END_TEST

/* Scale 4 -> 5 workers with 12 idle partitions: exactly 2 move. */
START_TEST(partition_add_moves_minimum)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_PARTITION, 4);
	int before[12], moved = 0, on_new = 0;

	for (uint32_t s = 0; s < 12; s++)
		before[s] = kf_dispatch_pick(d, s, NULL, -1);
	ck_assert_int_eq(kf_dispatch_worker_add(d, 4), KF_OK);
	for (uint32_t s = 0; s < 12; s++) {
		int w = kf_dispatch_pick(d, s, NULL, -1);

		ck_assert_int_ge(w, 0);
		moved += w != before[s];
		on_new += w == 4;
	}
	ck_assert_int_eq(moved, 2);
	ck_assert_int_eq(on_new, 2);
	for (int w = 0; w < 5; w++) {
		ck_assert_uint_ge(kf_dispatch_worker_partitions(d, w), 2);
		ck_assert_uint_le(kf_dispatch_worker_partitions(d, w), 3);
	}
	kf_dispatch_free(d);
}
END_TEST

/* A partition with records in flight on its old worker does not move
 * until they are acked. */
START_TEST(partition_move_waits_for_drain)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_PARTITION, 1);
	uint32_t mover, stayer;

	for (uint32_t s = 0; s < 2; s++) {
		ck_assert_int_eq(kf_dispatch_pick(d, s, NULL, -1), 0);
		kf_dispatch_sent(d, s, 0);
		kf_dispatch_sent(d, s, 0);
	}
	kf_dispatch_worker_add(d, 1);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 0), 1);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 1), 1);
	mover = kf_dispatch_pick(d, 0, NULL, -1) == -1 ? 0 : 1;
	stayer = 1 - mover;
	ck_assert_int_eq(kf_dispatch_pick(d, mover, NULL, -1), -1);
	ck_assert_int_eq(kf_dispatch_slot_worker(d, mover), 0);
	ck_assert_int_eq(kf_dispatch_pick(d, stayer, NULL, -1), 0);
	kf_dispatch_acked(d, mover, 0);
	ck_assert_int_eq(kf_dispatch_pick(d, mover, NULL, -1), -1);
	kf_dispatch_acked(d, mover, 0);
	ck_assert_int_eq(kf_dispatch_slot_worker(d, mover), 1);
	ck_assert_int_eq(kf_dispatch_pick(d, mover, NULL, -1), 1);
	ck_assert_int_eq(kf_dispatch_pick(d, stayer, NULL, -1), 0);
	kf_dispatch_free(d);
}
END_TEST

START_TEST(partition_retire)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_PARTITION, 2);

	for (uint32_t s = 0; s < 4; s++)
		ck_assert_int_eq(kf_dispatch_pick(d, s, NULL, -1), (int)(s % 2));
	kf_dispatch_sent(d, 0, 0);
	ck_assert_int_eq(kf_dispatch_worker_retire(d, 0), KF_OK);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 0), 0);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 1), 4);
	/* Idle partition 2 moves at once; busy partition 0 waits. */
	ck_assert_int_eq(kf_dispatch_pick(d, 2, NULL, -1), 1);
	ck_assert_int_eq(kf_dispatch_pick(d, 0, NULL, -1), -1);
	ck_assert_uint_eq(kf_dispatch_worker_inflight(d, 0), 1);
	kf_dispatch_acked(d, 0, 0);
	ck_assert_uint_eq(kf_dispatch_worker_inflight(d, 0), 0);
	ck_assert_int_eq(kf_dispatch_pick(d, 0, NULL, -1), 1);
	ck_assert_int_eq(kf_dispatch_worker_remove(d, 0), KF_OK);
	/* Scale up again: the new worker takes half. */
	kf_dispatch_worker_add(d, 2);
	for (uint32_t s = 0; s < 4; s++)
		ck_assert_int_ne(kf_dispatch_pick(d, s, NULL, -1), 0);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 1), 2);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 2), 2);
	kf_dispatch_free(d);
}
END_TEST

/* A rolling replacement: retire, drain, activate again.  The worker
 * takes partitions again and its in-flight count survived the round. */
START_TEST(partition_activate)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_PARTITION, 2);

	for (uint32_t s = 0; s < 4; s++)
		ck_assert_int_eq(kf_dispatch_pick(d, s, NULL, -1), (int)(s % 2));
	kf_dispatch_sent(d, 0, 0);
	ck_assert_int_eq(kf_dispatch_worker_activate(d, 0), KF_EPROTO);  /* active */
	ck_assert_int_eq(kf_dispatch_worker_retire(d, 0), KF_OK);
	ck_assert_int_eq(kf_dispatch_pick(d, 2, NULL, -1), 1);
	ck_assert_int_eq(kf_dispatch_worker_activate(d, 0), KF_OK);
	ck_assert_int_eq(kf_dispatch_worker_state(d, 0), KF_DW_ACTIVE);
	ck_assert_uint_eq(kf_dispatch_worker_inflight(d, 0), 1);
	kf_dispatch_acked(d, 0, 0);
	ck_assert_uint_eq(kf_dispatch_worker_inflight(d, 0), 0);
	/* balance brings two of the four partitions back to it */
	uint32_t on0 = 0;
	for (uint32_t s = 0; s < 4; s++)
		on0 += kf_dispatch_pick(d, s, NULL, -1) == 0;
	ck_assert_uint_eq(on0, 2);
	ck_assert_int_eq(kf_dispatch_worker_activate(d, 5), KF_EPROTO);   /* not there */
	kf_dispatch_free(d);
}
END_TEST

/* A worker lost with records in flight: its partitions move on. */
START_TEST(partition_remove_inflight)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_PARTITION, 2);

	ck_assert_int_eq(kf_dispatch_pick(d, 7, NULL, -1), 0);
	kf_dispatch_sent(d, 7, 0);
	ck_assert_int_eq(kf_dispatch_worker_remove(d, 0), KF_OK);
	ck_assert_uint_eq(kf_dispatch_slot_inflight(d, 7), 0);
	ck_assert_int_eq(kf_dispatch_pick(d, 7, NULL, -1), 1);
	/* A late ack from the lost worker changes nothing. */
	kf_dispatch_acked(d, 7, 0);
	ck_assert_uint_eq(kf_dispatch_slot_inflight(d, 7), 0);
	/* The index comes back before any pick rebalanced: counts stay right. */
	ck_assert_int_eq(kf_dispatch_pick(d, 8, NULL, -1), 1);
	kf_dispatch_worker_remove(d, 1);
	kf_dispatch_worker_add(d, 1);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 1), 2);
	ck_assert_int_eq(kf_dispatch_pick(d, 7, NULL, -1), 1);
	ck_assert_int_eq(kf_dispatch_pick(d, 8, NULL, -1), 1);
	kf_dispatch_free(d);
}
END_TEST

START_TEST(partition_slot_remove)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_PARTITION, 2);

	for (uint32_t s = 0; s < 4; s++)
		kf_dispatch_pick(d, s, NULL, -1);
	kf_dispatch_slot_remove(d, 0);
	kf_dispatch_slot_remove(d, 2);
	kf_dispatch_slot_remove(d, 2);      /* harmless */
	ck_assert_int_eq(kf_dispatch_slot_worker(d, 0), -1);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 0), 1);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 1), 1);
	/* Reassigned: first sight again. */
	ck_assert_int_ge(kf_dispatch_pick(d, 0, NULL, -1), 0);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 0) +
			  kf_dispatch_worker_partitions(d, 1), 3);
	/* Revoked with a record in flight, assigned again: the new target
	 * waits for the old record like a move. */
	ck_assert_int_eq(kf_dispatch_pick(d, 3, NULL, -1), 1);
	kf_dispatch_sent(d, 3, 1);
	kf_dispatch_slot_remove(d, 3);
	ck_assert_uint_eq(kf_dispatch_slot_inflight(d, 3), 1);
	/* Slots 0, 1 on worker 0 then: the rebalance moves one to 1 and
	 * slot 3 comes back to the least loaded, worker 0. */
	ck_assert_int_eq(kf_dispatch_pick(d, 3, NULL, -1), -1);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 0), 2);
	ck_assert_uint_eq(kf_dispatch_worker_partitions(d, 1), 1);
	ck_assert_int_eq(kf_dispatch_slot_worker(d, 3), 1);
	kf_dispatch_acked(d, 3, 1);
	ck_assert_int_eq(kf_dispatch_pick(d, 3, NULL, -1), 0);
	/* slot_reset forgets what was in flight, keeps the pinning. */
	kf_dispatch_sent(d, 1, kf_dispatch_pick(d, 1, NULL, -1));
	kf_dispatch_slot_reset(d, 1);
	ck_assert_uint_eq(kf_dispatch_slot_inflight(d, 1), 0);
	kf_dispatch_free(d);
}
END_TEST

START_TEST(key_hash_values)
{
	uint8_t all[256];

	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	/* Computed independently (Python) from the FNV-1a 64 and fmix64
	 * definitions. */
	ck_assert_uint_eq(kf_dispatch_key_hash("", 0), 0xefd01f60ba992926ull);
	ck_assert_uint_eq(kf_dispatch_key_hash("a", 1), 0x82a2a958a9bece5bull);
	ck_assert_uint_eq(kf_dispatch_key_hash("user-42", 7), 0xa39532c7ab051e8dull);
	ck_assert_uint_eq(kf_dispatch_key_hash(all, 256), 0x2067db6dbd4efa06ull);
	/* The test's murmur2 is Kafka's (vectors from Kafka clients). */
	ck_assert_int_eq(kafka_partition("", 1000), 681);
	ck_assert_int_eq(kafka_partition("a", 1000), 524);
	ck_assert_int_eq(kafka_partition("abc", 1000), 107);
	ck_assert_int_eq(kafka_partition("123456789", 1000), 566);
	ck_assert_int_eq(murmur2((const uint8_t *)"kafka", 5), (int32_t)0xd067cf64);
}
END_TEST

START_TEST(key_deterministic_spread)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_KEY, 7);
	struct kf_dispatch *d2 = with_workers(KF_DISPATCH_KEY, 7);
	int count[7] = { 0 };
	char key[32];

	for (int i = 0; i < 70000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		int w = kf_dispatch_pick(d, (uint32_t)(i % 5), key, n);

		ck_assert_int_ge(w, 0);
		ck_assert_int_lt(w, 7);
		/* Same key: same worker, whatever the partition or instance. */
		ck_assert_int_eq(kf_dispatch_pick(d, 99, key, n), w);
		ck_assert_int_eq(kf_dispatch_pick(d2, 3, key, n), w);
		count[w]++;
	}
	for (int w = 0; w < 7; w++) {
		ck_assert_int_gt(count[w], 9500);
		ck_assert_int_lt(count[w], 10500);
	}
	kf_dispatch_free(d);
	kf_dispatch_free(d2);
}
END_TEST

/* Keys that all went to one Kafka partition (murmur2 % 12 == 5) still
 * spread over 4 workers; murmur2 itself would put them all on one. */
START_TEST(key_spread_within_partition)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_KEY, 4);
	int count[4] = { 0 }, found = 0;
	char key[32];

	for (int i = 0; found < 12000; i++) {
		int n = snprintf(key, sizeof(key), "order-%d", i);

		if (kafka_partition(key, 12) != 5)
			continue;
		found++;
		ck_assert_int_eq(kafka_partition(key, 4), 1);
		count[kf_dispatch_pick(d, 5, key, n)]++;
	}
	for (int w = 0; w < 4; w++) {
		ck_assert_int_gt(count[w], 2700);
		ck_assert_int_lt(count[w], 3300);
	}
	kf_dispatch_free(d);
}
END_TEST

START_TEST(key_null_by_partition)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_KEY, 4);
	int count[4] = { 0 };

	for (uint32_t s = 0; s < 400; s++) {
		int w = kf_dispatch_pick(d, s, NULL, -1);

		ck_assert_int_ge(w, 0);
		ck_assert_int_eq(kf_dispatch_pick(d, s, NULL, -1), w);
		ck_assert_int_eq(kf_dispatch_pick(d, s, "ignored", -1), w);
		count[w]++;
	}
	for (int w = 0; w < 4; w++)
		ck_assert_int_gt(count[w], 60);
	/* An empty key is a key, not a null one. */
	ck_assert_int_eq(kf_dispatch_pick(d, 0, "", 0),
			 (int)(kf_dispatch_key_hash("", 0) % 4));
	ck_assert_int_eq(kf_dispatch_slot_worker(d, 0), -1);
	kf_dispatch_free(d);
}
END_TEST

/* The worker set changes while a partition has records in flight: it
 * waits for them, then follows the new mapping. */
START_TEST(key_barrier_on_scaling)
{
	struct kf_dispatch *d = with_workers(KF_DISPATCH_KEY, 2);
	int w0 = kf_dispatch_pick(d, 0, "a", 1);
	int w1;

	kf_dispatch_sent(d, 0, w0);
	kf_dispatch_sent(d, 0, w0);
	kf_dispatch_worker_add(d, 2);
	ck_assert_int_eq(kf_dispatch_pick(d, 0, "a", 1), -1);
	ck_assert_int_eq(kf_dispatch_pick(d, 0, "b", 1), -1);
	ck_assert_int_ge(kf_dispatch_pick(d, 1, "a", 1), 0);  /* idle partition */
	kf_dispatch_acked(d, 0, w0);
	ck_assert_int_eq(kf_dispatch_pick(d, 0, "a", 1), -1);
	kf_dispatch_acked(d, 0, w0);
	w1 = kf_dispatch_pick(d, 0, "a", 1);
	ck_assert_int_eq(w1, (int)(kf_dispatch_key_hash("a", 1) % 3));
	kf_dispatch_sent(d, 0, w1);
	/* Stable set: records in flight do not block. */
	ck_assert_int_eq(kf_dispatch_pick(d, 0, "a", 1), w1);
	/* Retire: the partition waits again, then avoids the retired one. */
	kf_dispatch_worker_retire(d, w1);
	ck_assert_int_eq(kf_dispatch_pick(d, 0, "a", 1), -1);
	kf_dispatch_acked(d, 0, w1);
	for (int i = 0; i < 1000; i++) {
		char key[16];
		int n = snprintf(key, sizeof(key), "%d", i);

		ck_assert_int_ne(kf_dispatch_pick(d, 0, key, n), w1);
	}
	kf_dispatch_free(d);
}
END_TEST

START_TEST(roundrobin_cycle)
{
	struct kf_dispatch *d = kf_dispatch_new(KF_DISPATCH_ROUNDROBIN);
	static const int want1[] = { 0, 2, 5, 0, 2, 5, 0 };
	static const int want2[] = { 5, 0, 5, 0 };   /* cursor kept its place */

	kf_dispatch_worker_add(d, 5);
	kf_dispatch_worker_add(d, 0);
	kf_dispatch_worker_add(d, 2);
	for (size_t i = 0; i < sizeof(want1) / sizeof(want1[0]); i++) {
		int w = kf_dispatch_pick(d, (uint32_t)i, "same", 4);

		ck_assert_int_eq(w, want1[i]);
		kf_dispatch_sent(d, (uint32_t)i, w);
	}
	/* In-flight records never block round robin. */
	kf_dispatch_worker_retire(d, 2);
	for (size_t i = 0; i < sizeof(want2) / sizeof(want2[0]); i++)
		ck_assert_int_eq(kf_dispatch_pick(d, 0, NULL, -1), want2[i]);
	ck_assert_uint_eq(kf_dispatch_worker_inflight(d, 2), 2);
	ck_assert_int_eq(kf_dispatch_slot_worker(d, 0), -1);
	kf_dispatch_free(d);
}
END_TEST

/* ---- random churn ---- */

#define NW 8
#define NS 24
#define NK 6                    /* keys per partition; key NK = null */
#define MAXQ 4096

struct rec {
	uint32_t slot;
	int key;
};

struct churn {
	struct kf_dispatch *d;
	enum kf_dispatch_mode mode;
	int wstate[NW];             /* enum kf_dispatch_wstate */
	struct rec q[NW][MAXQ];     /* per worker, in ring (= ack) order */
	int qh[NW], qn[NW];
	uint64_t rng;
	unsigned seed;
	long step;
};

static uint64_t rnd(struct churn *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(struct churn *c, uint64_t n)
{
	return n ? rnd(c) % n : 0;
}

static void churn_fail(const struct churn *c, const char *what)
{
	ck_abort_msg("mode %d seed %u step %ld: %s", c->mode, c->seed, c->step, what);
}

#define CHURN_CHECK(c, cond) do { if (!(cond)) churn_fail((c), #cond); } while (0)

static int nactive(const struct churn *c)
{
	int n = 0;

	for (int w = 0; w < NW; w++)
		n += c->wstate[w] == KF_DW_ACTIVE;
	return n;
}

/* The worker holding in-flight records of (slot[, key]) other than w, or
 * -1: the order property is that there is none. */
static int other_holder(const struct churn *c, uint32_t slot, int key, int w)
{
	for (int x = 0; x < NW; x++) {
		if (x == w)
			continue;
		for (int i = 0; i < c->qn[x]; i++) {
			const struct rec *r = &c->q[x][(c->qh[x] + i) % MAXQ];

			if (r->slot == slot && (key < 0 || r->key == key))
				return x;
		}
	}
	return -1;
}

static uint32_t slot_load(const struct churn *c, uint32_t slot)
{
	uint32_t n = 0;

	for (int x = 0; x < NW; x++)
		for (int i = 0; i < c->qn[x]; i++)
			n += c->q[x][(c->qh[x] + i) % MAXQ].slot == slot;
	return n;
}

static void churn_pick(struct churn *c)
{
	uint32_t slot = (uint32_t)rnd_below(c, NS);
	int key = (int)rnd_below(c, NK + 1);
	char kb[8];
	int klen = snprintf(kb, sizeof(kb), "k%d", key);
	bool busy = slot_load(c, slot) > 0;
	int w = key == NK ? kf_dispatch_pick(c->d, slot, NULL, -1)
			  : kf_dispatch_pick(c->d, slot, kb, klen);

	if (w < 0) {
		/* Only a partition with records in flight may have to wait. */
		CHURN_CHECK(c, nactive(c) == 0 || (busy && c->mode != KF_DISPATCH_ROUNDROBIN));
		return;
	}
	CHURN_CHECK(c, w < NW && c->wstate[w] == KF_DW_ACTIVE);
	if (c->mode == KF_DISPATCH_PARTITION)
		CHURN_CHECK(c, other_holder(c, slot, -1, w) < 0);
	if (c->mode == KF_DISPATCH_KEY)
		CHURN_CHECK(c, other_holder(c, slot, key, w) < 0);
	if (c->qn[w] == MAXQ)
		return;             /* ring full: not sent */
	c->q[w][(c->qh[w] + c->qn[w]) % MAXQ] = (struct rec){ slot, key };
	c->qn[w]++;
	kf_dispatch_sent(c->d, slot, w);
}

static void churn_ack(struct churn *c)
{
	int w = (int)rnd_below(c, NW);
	int n = 1 + (int)rnd_below(c, 4);

	while (n-- && c->qn[w]) {
		struct rec *r = &c->q[w][c->qh[w]];

		kf_dispatch_acked(c->d, r->slot, w);
		c->qh[w] = (c->qh[w] + 1) % MAXQ;
		c->qn[w]--;
	}
}

static void churn_workers(struct churn *c)
{
	int w = (int)rnd_below(c, NW);
	uint64_t r = rnd_below(c, 10);

	switch (c->wstate[w]) {
	case KF_DW_NONE:
		CHURN_CHECK(c, kf_dispatch_worker_add(c->d, w) == KF_OK);
		c->wstate[w] = KF_DW_ACTIVE;
		break;
	case KF_DW_ACTIVE:
		if (r < 7 || c->mode != KF_DISPATCH_PARTITION) {
			CHURN_CHECK(c, kf_dispatch_worker_retire(c->d, w) == KF_OK);
			c->wstate[w] = KF_DW_RETIRING;
			break;
		}
		/* partition mode: a worker lost with its records; the
		 * supervisor refetches those partitions. */
		/* fall through */
	case KF_DW_RETIRING:
		if (c->qn[w] && c->mode != KF_DISPATCH_PARTITION)
			break;      /* key/rr: only drained workers leave */
		CHURN_CHECK(c, kf_dispatch_worker_remove(c->d, w) == KF_OK);
		c->wstate[w] = KF_DW_NONE;
		c->qn[w] = 0;
		break;
	}
}

static void churn_slot_remove(struct churn *c)
{
	uint32_t slot = (uint32_t)rnd_below(c, NS);

	/* Revocation waits for the drain, mostly; records still in flight
	 * must keep the order when the partition comes back. */
	if (!slot_load(c, slot) || rnd_below(c, 2))
		kf_dispatch_slot_remove(c->d, slot);
}

static void churn_check(struct churn *c)
{
	uint32_t lo = UINT32_MAX, hi = 0;

	for (int w = 0; w < NW; w++) {
		CHURN_CHECK(c, (int)kf_dispatch_worker_state(c->d, w) == c->wstate[w]);
		CHURN_CHECK(c, kf_dispatch_worker_inflight(c->d, w) == (uint64_t)c->qn[w]);
		if (c->mode != KF_DISPATCH_PARTITION)
			continue;
		uint32_t p = kf_dispatch_worker_partitions(c->d, w);

		if (c->wstate[w] != KF_DW_ACTIVE) {
			CHURN_CHECK(c, p == 0);
			continue;
		}
		lo = p < lo ? p : lo;
		hi = p > hi ? p : hi;
	}
	if (c->mode == KF_DISPATCH_PARTITION && nactive(c))
		CHURN_CHECK(c, hi - lo <= 1);
	for (uint32_t s = 0; s < NS; s++)
		CHURN_CHECK(c, kf_dispatch_slot_inflight(c->d, s) == slot_load(c, s));
}

static void run_churn(enum kf_dispatch_mode mode, unsigned seed, long steps)
{
	struct churn *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	c->d = kf_dispatch_new(mode);
	c->mode = mode;
	c->seed = seed;
	c->rng = 0x9e3779b97f4a7c15ull * (seed + 7);
	for (c->step = 0; c->step < steps; c->step++) {
		uint64_t r = rnd_below(c, 1000);

		if (r < 500)
			churn_pick(c);
		else if (r < 940)
			churn_ack(c);
		else if (r < 985)
			churn_workers(c);
		else
			churn_slot_remove(c);
		churn_check(c);
	}
	/* Drain: then every partition is served and placed in balance. */
	for (int w = 0; w < NW; w++) {
		while (c->qn[w]) {
			kf_dispatch_acked(c->d, c->q[w][c->qh[w]].slot, w);
			c->qh[w] = (c->qh[w] + 1) % MAXQ;
			c->qn[w]--;
		}
	}
	if (!nactive(c))
		kf_dispatch_worker_add(c->d, 0), c->wstate[0] = KF_DW_ACTIVE;
	if (mode == KF_DISPATCH_PARTITION) {
		int cnt[NW] = { 0 }, lo = NS, hi = 0;

		for (uint32_t s = 0; s < NS; s++) {
			int w = kf_dispatch_pick(c->d, s, NULL, -1);

			CHURN_CHECK(c, w >= 0 && c->wstate[w] == KF_DW_ACTIVE);
			CHURN_CHECK(c, kf_dispatch_slot_worker(c->d, s) == w);
			cnt[w]++;
		}
		for (int w = 0; w < NW; w++) {
			if (c->wstate[w] != KF_DW_ACTIVE)
				continue;
			lo = cnt[w] < lo ? cnt[w] : lo;
			hi = cnt[w] > hi ? cnt[w] : hi;
		}
		CHURN_CHECK(c, hi - lo <= 1);
	}
	kf_dispatch_free(c->d);
	free(c);
}

START_TEST(churn_partition)
{
	run_churn(KF_DISPATCH_PARTITION, (unsigned)_i, 40000);
}
END_TEST

START_TEST(churn_key)
{
	run_churn(KF_DISPATCH_KEY, (unsigned)_i, 40000);
}
END_TEST

START_TEST(churn_roundrobin)
{
	run_churn(KF_DISPATCH_ROUNDROBIN, (unsigned)_i, 20000);
}
END_TEST

Suite *suite_dispatch(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc = tcase_create("cases");
	TCase *tr = tcase_create("churn");

	tcase_add_test(tc, mode_names);
	tcase_add_test(tc, worker_table);
	tcase_add_test(tc, no_workers);
	tcase_add_test(tc, partition_balance_sticky);
	tcase_add_test(tc, partition_add_moves_minimum);
	tcase_add_test(tc, partition_move_waits_for_drain);
	tcase_add_test(tc, partition_retire);
	tcase_add_test(tc, partition_remove_inflight);
	tcase_add_test(tc, partition_slot_remove);
	tcase_add_test(tc, key_hash_values);
	tcase_add_test(tc, partition_activate);
	tcase_add_test(tc, key_deterministic_spread);
	tcase_add_test(tc, key_spread_within_partition);
	tcase_add_test(tc, key_null_by_partition);
	tcase_add_test(tc, key_barrier_on_scaling);
	tcase_add_test(tc, roundrobin_cycle);
	suite_add_tcase(s, tc);
	tcase_set_timeout(tr, 120);
	tcase_add_loop_test(tr, churn_partition, 0, 4);
	tcase_add_loop_test(tr, churn_key, 0, 4);
	tcase_add_loop_test(tr, churn_roundrobin, 0, 2);
	suite_add_tcase(s, tr);
	return s;
}
