/*
 * assignor: the classic consumer group's partition assignors, run by the
 * elected leader between JoinGroup and SyncGroup.  `range` and
 * `roundrobin` compute exactly what the Java client's RangeAssignor and
 * RoundRobinAssignor (Kafka 3.x/4.x, AbstractPartitionAssignor) compute,
 * so a group mixing kfork and Java members gets the same assignment
 * whichever of them is leader.
 *
 * The rules, from the Java source:
 *  - Members are ordered as Java's MemberInfo: those with a
 *    group.instance.id first, by instance id; then the others by member
 *    id.  Strings compare as java.lang.String.compareTo does (UTF-16 code
 *    units, which differs from UTF-8 byte order only beyond U+FFFF).
 *  - Topics: the union of all subscriptions, duplicates ignored; a topic
 *    whose partition count is unknown or 0 is skipped.  Partitions are
 *    0..count-1.
 *  - range: per topic, among the members subscribed to it (in member
 *    order), q = P / c and r = P % c; each takes a contiguous run from the
 *    lowest unassigned partition, the first r taking q + 1.
 *  - roundrobin: all members in member order form a circle; every
 *    partition of every topic (topics sorted, partitions ascending) goes
 *    to the next member subscribed to its topic, then the circle moves
 *    one past it.
 *
 * Not implemented: Java 3.5+'s rack-aware pre-pass of `range` (KIP-881).
 * Java runs it only when some member of a topic sent a non-empty RackId
 * AND the leader's metadata gives replica racks that overlap the member
 * racks AND not every partition of the topic has the same rack set.
 * kfork sends no RackId; when no Java member sets client.rack either,
 * Java takes the non-rack path and agrees with this file.  When some Java
 * member does set it, a Java leader's assignment can differ from ours;
 * both are valid, since every member takes whatever the leader sent.
 *
 * cooperative-sticky (KIP-429) is in sticky.c, which says how far it
 * follows Java's CooperativeStickyAssignor: exactly when every member
 * subscribes to the same topics (tests/kafka/assignor-diff.sh checks it
 * against the Java client's own), valid and balanced otherwise.
 *
 * Pure logic: no I/O, no logging.  Results are deterministic whatever the
 * input order (member ids are unique per the coordinator).
 */
#ifndef KF_ASSIGNOR_H
#define KF_ASSIGNOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "proto_group.h"

enum kf_assignor_id {
	KF_ASSIGNOR_RANGE = 0,              /* "range" */
	KF_ASSIGNOR_ROUNDROBIN = 1,         /* "roundrobin" */
	KF_ASSIGNOR_COOPERATIVE_STICKY = 2, /* "cooperative-sticky" */
};

#define KF_ASSIGNOR_COUNT 3

/*
 * One group member as the leader sees it in the JoinGroup response.  The
 * caller passes them in the response's order: cooperative-sticky, like
 * Java's, can depend on it (see sticky.c).
 */
struct kf_assignor_member {
	const char *member_id;                       /* never NULL */
	const char *group_instance_id;               /* NULL: dynamic member */
	const struct kf_consumer_subscription *sub;  /* NULL: subscribes to nothing */
};

/*
 * Partition count of topic in the leader's metadata; 0 or negative when
 * the topic is unknown (it is then skipped, as Java does).  Called once
 * per distinct subscribed topic.
 */
typedef int32_t (*kf_assignor_partitions_fn)(void *arg, const char *topic);

/* The protocol name of an assignor ("range", "roundrobin",
 * "cooperative-sticky"); NULL for an id out of range. */
const char *kf_assignor_name(enum kf_assignor_id id);

/*
 * The assignor called `name` (case-sensitive, as Java matches it): for the
 * config, and for the leader, with the ProtocolName the coordinator chose
 * in JoinGroup.  KF_OK, or KF_EUNSUPP when the name is not one of ours
 * (Java's leader fails with "Coordinator selected invalid assignment
 * protocol" then: treat as fatal).
 */
int kf_assignor_lookup(const char *name, enum kf_assignor_id *id);

/*
 * The assignor supports the cooperative rebalance protocol (KIP-429):
 * members keep the partitions they own across a rebalance, and the
 * leader's assignment never hands a partition to a new owner in the same
 * rebalance that takes it from the old one.
 */
bool kf_assignor_cooperative(enum kf_assignor_id id);

/*
 * JoinGroup's Protocols when one assignor is configured, in preference
 * order: an eager `configured` first, then the other eager assignors kfork
 * knows, so the group can still agree with Java members configured for one
 * of those; cooperative-sticky alone (an eager one beside it would make
 * the member eager, as Java decides).  Writes at most KF_ASSIGNOR_COUNT
 * names (static strings) to names and returns their count, or KF_EUNSUPP
 * when `configured` is unknown.
 */
int kf_assignor_protocols(const char *configured, const char *names[KF_ASSIGNOR_COUNT]);

/*
 * Run assignor id over members[0..n) and write out[i], members[i]'s
 * assignment, for every i, empty ones included (AssignedPartitions with
 * no element, UserData null), ready for kf_consumer_assignment_encode.
 * Within an assignment topics are in sorted order, each topic's
 * partitions ascending.
 *
 * Everything out[] points to (arrays, topic name copies) is allocated in
 * a, which the caller frees; members and the subscriptions may be freed
 * as soon as this returns.  Scratch memory is freed before returning.
 * KF_OK, KF_ENOMEM, or KF_EUNSUPP for an unknown id.
 */
int kf_assignor_assign(enum kf_assignor_id id, const struct kf_assignor_member *members,
		       size_t n, kf_assignor_partitions_fn partitions, void *arg,
		       struct kf_arena *a, struct kf_consumer_assignment *out);

/*
 * java.lang.String.compareTo for UTF-8 strings: negative, 0, positive.
 * Exposed for the tests and for anything else that must sort as Java
 * does.  Malformed UTF-8 compares as U+FFFD per maximal ill-formed
 * subsequence, as Java's decoder substitutes it.
 */
int kf_assignor_java_strcmp(const char *a, const char *b);

#endif
