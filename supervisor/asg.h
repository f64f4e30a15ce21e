/*
 * asg: one member's own assignment, as the group member (group.c) keeps
 * it: SyncGroup's bytes decoded into a partition list, the difference
 * between two generations' lists (what a cooperative rebalance adds and
 * revokes), and the OwnedPartitions a JoinGroup subscription reports.
 *
 * Pure: no I/O, no logging; O(n log n) in the partitions.
 */
#ifndef KF_ASG_H
#define KF_ASG_H

#include "arena.h"
#include "group.h"
#include "proto.h"

struct kf_asg {
	struct kf_arena arena; /* tps and their topic names */
	struct kf_group_tp *tps;
	int n;
};

void kf_asg_init(struct kf_asg *a);
void kf_asg_free(struct kf_asg *a); /* empty again; kf_asg_init not needed after */
/* Move src into dst (dst freed first); src is empty after. */
void kf_asg_move(struct kf_asg *dst, struct kf_asg *src);

/*
 * Decode a ConsumerProtocol Assignment (SyncGroup's bytes; len <= 0 is
 * none) into a, which must be empty.  Offsets are -1.  KF_OK, KF_ENOMEM,
 * or the decoder's error for malformed bytes (a is empty then).
 */
int kf_asg_decode(struct kf_asg *a, const struct kf_bytes *b);

/*
 * Compare the new assignment nw with the one owned before, old.  nw's
 * partitions are reordered so that those not in old (added) come first,
 * and *nadded is their count; the partitions of old that are not in nw
 * (revoked) are copied into revoked, which must be empty.  A partition
 * listed twice in nw is kept once.  KF_OK or KF_ENOMEM (nw unchanged
 * then, revoked empty).
 */
int kf_asg_diff(struct kf_asg *nw, const struct kf_asg *old, struct kf_asg *revoked,
		int *nadded);

/*
 * The subscription's OwnedPartitions for tps[0..n): one
 * kf_consumer_topic_partitions per topic, topics and partitions sorted,
 * allocated in arena (topic names point into tps).  KF_OK or KF_ENOMEM.
 */
int kf_asg_owned(const struct kf_group_tp *tps, int n, struct kf_arena *arena,
		 struct kf_array *out);

#endif
