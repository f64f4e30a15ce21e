/*
 * assignor_run: what assignor.c (range, roundrobin, the run and its output)
 * shares with sticky.c (cooperative-sticky).  Private to the two.
 *
 * Every assignor fills one owner table: an entry per partition of every
 * assignable topic, topics in Java's sorted order, partitions ascending;
 * partition p of topic t is entry topics[t].base + p.  assignor.c turns the
 * table into one kf_consumer_assignment per member.
 */
#ifndef KF_ASSIGNOR_RUN_H
#define KF_ASSIGNOR_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assignor.h"

#define NO_OWNER UINT32_MAX /* a partition nobody takes (this time) */

struct slot {
	const struct kf_assignor_member *m;
	size_t idx; /* in the caller's members[] and out[]: JoinGroup order */
};

struct topic {
	const char *name;  /* points into a subscription */
	char *copy;        /* the name in the caller's arena */
	int32_t nparts;
	size_t base;       /* first entry in run.owner */
	size_t nsubs;      /* members subscribed to it */
};

struct run {
	size_t n;            /* members */
	struct slot *slots;  /* n, in Java member order (see assignor.h) */
	struct topic *topics;
	size_t nt;           /* assignable topics, sorted */
	bool *sub;           /* nt * n: sub[t * n + s], slot s subscribes to topic t */
	uint32_t *owner;     /* one slot per partition, topic by topic */
	size_t nparts;
};

/* The index in r->topics of topic `name`, or -1 when it is not assignable. */
ptrdiff_t kf_assignor_topic(const struct run *r, const char *name);

/* java.lang.String.hashCode of a UTF-8 string (NULL as ""). */
uint32_t kf_assignor_java_hash(const char *s);

/* cooperative-sticky (sticky.c): fill r->owner.  KF_OK or KF_ENOMEM. */
int kf_sticky_assign(struct run *r);

#endif
