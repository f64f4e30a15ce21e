/*
 * sticky: the cooperative-sticky assignor (KIP-429), as the Java client's
 * CooperativeStickyAssignor computes it (AbstractStickyAssignor, Kafka
 * 3.5 to 4.x, without racks).
 *
 * 1. Previous owners.  Each member's owned partitions come from its
 *    Subscription (OwnedPartitions, v1+) and its generation from the
 *    Subscription's GenerationId (v2+) or, below v2, from the UserData the
 *    assignor writes (one int32); none is -1.  When two members claim a
 *    partition, the higher generation keeps it; the same generation means
 *    neither does ("claimed by multiple previous owners").  Partitions of
 *    topics nobody can be assigned are dropped.
 * 2. When every member subscribes to the same topics (the usual case, and
 *    the only one where Java's result can be matched: see 4), Java's
 *    constrained algorithm: with P partitions and N members, min = P / N,
 *    max = ceil(P / N), and P % N members may hold max.  Walking the
 *    members in the order Java's HashMap iterates them, each keeps up to
 *    max (while members at max are still wanted) or min of what it owned,
 *    sorted by partition number then topic; the rest is revoked.  The
 *    partitions left over go round-robin, in topic and partition order, to
 *    the members below min (sorted by member id), then to those at min.
 * 3. Cooperative: a partition that goes to a new owner while its previous
 *    owner gives it up (or that several owners claimed) is left out of this
 *    assignment.  The previous owner revokes it and rejoins, and the next
 *    rebalance hands it on.  So no partition has two owners at any time.
 * 4. When subscriptions differ, Java's general algorithm depends on the
 *    iteration order of hash sets of partitions throughout; kfork does not
 *    reproduce it.  Instead: keep every owned partition the member still
 *    subscribes to, give each unassigned partition (those with the fewest
 *    possible consumers first) to the subscriber holding the fewest, then
 *    move partitions, the largest gap first, from a member to a subscriber
 *    holding two or more fewer until none can move.  The result is valid, balanced and sticky,
 *    and every member takes whatever the leader sends, so a mixed group
 *    works whichever member leads; Java's leader may pick other partitions.
 *
 * Java's HashMap order: the leader's maps of members are HashMaps filled
 * in JoinGroup order, so they iterate by bucket, (h ^ h >>> 16) & (cap -
 * 1) with h = String.hashCode of the member id and cap the smallest power
 * of two from 16 with N <= cap * 3 / 4, and in JoinGroup order within a
 * bucket.  (A bucket of 8 or more members changes the table; with random
 * member ids that does not happen in practice, and the result is still
 * valid, only perhaps not Java's.)
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assignor_run.h"

struct sticky {
	struct run *r;
	uint32_t cap;           /* the size of Java's HashMap table for n members */
	uint32_t *hm;           /* slots in Java HashMap iteration order */
	uint32_t *byid;         /* slots by member id (Collections.sort) */
	int32_t *gen;           /* each slot's generation, -1 for none */
	uint32_t *claim;        /* per partition: who claimed it last, as Java tracks it */
	uint32_t *holder;       /* per partition: its valid previous owner */
	bool *multi;            /* per partition: claimed by several in one generation */
	uint32_t *revoked_from; /* per partition: who had to give it up */
	bool *transfer;         /* per partition: goes to a new owner next time */
	uint32_t *count;        /* per slot: partitions assigned */
	uint32_t *owned;        /* per slot, its valid owned partitions, ... */
	size_t *owned_at;       /* ... slot s's are owned[owned_at[s] .. owned_at[s + 1]) */
};

static void sticky_free(struct sticky *k)
{
	free(k->hm);
	free(k->byid);
	free(k->gen);
	free(k->claim);
	free(k->holder);
	free(k->multi);
	free(k->revoked_from);
	free(k->transfer);
	free(k->count);
	free(k->owned);
	free(k->owned_at);
}

/* ------------------------------------------------------------ orders */

/* The topic of partition index g. */
static size_t topic_of(const struct run *r, size_t g)
{
	size_t lo = 0, hi = r->nt;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (r->topics[mid].base <= g)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}


static uint32_t bucket(const struct slot *s, uint32_t cap)
{
	uint32_t h = kf_assignor_java_hash(s->m->member_id);

	return (h ^ h >> 16) & (cap - 1);
}

/* qsort_r comparators: arg is the struct sticky. */
static int hm_cmp(const void *va, const void *vb, void *arg)
{
	const struct sticky *k = arg;
	const struct slot *a = &k->r->slots[*(const uint32_t *)va];
	const struct slot *b = &k->r->slots[*(const uint32_t *)vb];
	uint32_t ba = bucket(a, k->cap), bb = bucket(b, k->cap);

	if (ba != bb)
		return ba < bb ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

static int id_cmp(const void *va, const void *vb, void *arg)
{
	const struct sticky *k = arg;
	const struct slot *a = &k->r->slots[*(const uint32_t *)va];
	const struct slot *b = &k->r->slots[*(const uint32_t *)vb];
	int c = kf_assignor_java_strcmp(a->m->member_id, b->m->member_id);

	return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

/* Partitions of one member sorted by partition number, then topic. */
static int part_first_cmp(const void *va, const void *vb, void *arg)
{
	const struct run *r = ((const struct sticky *)arg)->r;
	uint32_t ga = *(const uint32_t *)va, gb = *(const uint32_t *)vb;
	size_t ta = topic_of(r, ga), tb = topic_of(r, gb);
	int32_t pa = (int32_t)(ga - r->topics[ta].base);
	int32_t pb = (int32_t)(gb - r->topics[tb].base);

	if (pa != pb)
		return pa < pb ? -1 : 1;
	return (ta > tb) - (ta < tb);
}

static void orders(struct sticky *k)
{
	struct run *r = k->r;

	k->cap = 16;
	while (r->n > (size_t)k->cap / 4 * 3 && k->cap < (1u << 30))
		k->cap *= 2;
	for (uint32_t s = 0; s < r->n; s++)
		k->hm[s] = k->byid[s] = s;
	qsort_r(k->hm, r->n, sizeof(*k->hm), hm_cmp, k);
	qsort_r(k->byid, r->n, sizeof(*k->byid), id_cmp, k);
}

/* ------------------------------------------------------------ previous owners */

/* Subscription.generationId(): present from ConsumerProtocol v2, when >= 0. */
static int32_t sub_gen(const struct kf_consumer_subscription *sub)
{
	return sub && sub->generation_id >= 0 ? sub->generation_id : -1;
}

/* CooperativeStickyAssignor.memberData's generation. */
static int32_t member_gen(const struct kf_consumer_subscription *sub)
{
	const uint8_t *u;

	if (!sub)
		return -1;
	if (sub->generation_id >= 0)
		return sub->generation_id;
	if (sub->user_data.len < 0 || !sub->user_data.p)
		return -1;
	if (sub->user_data.len < 4)
		return -1; /* Java: unreadable UserData is DEFAULT_GENERATION */
	u = sub->user_data.p;
	return (int32_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]);
}

/* The partition index of topic/partition, or -1 when not assignable. */
static int64_t part_index(const struct run *r, const char *topic, int32_t p)
{
	ptrdiff_t t = kf_assignor_topic(r, topic);

	if (t < 0 || p < 0 || p >= r->topics[t].nparts)
		return -1;
	return (int64_t)(r->topics[t].base + (size_t)p);
}

/*
 * AbstractStickyAssignor.allSubscriptionsEqual: settle who validly owned
 * each partition, in HashMap order, and say whether every member
 * subscribes to the same topics.
 */
static bool previous_owners(struct sticky *k)
{
	struct run *r = k->r;
	const struct kf_consumer_subscription *ref = NULL;
	size_t ref_n = 0, set_n = 0;
	bool equal = true;

	for (size_t i = 0; i < r->n; i++) {
		uint32_t s = k->hm[i];
		const struct kf_consumer_subscription *sub = r->slots[s].m->sub;
		size_t nt = sub && sub->topics.n > 0 ? (size_t)sub->topics.n : 0;

		if (ref_n == 0) {
			/* Java's set: the first member's topics, each once. */
			ref = sub;
			ref_n = nt;
			for (size_t a = 0; a < ref_n; a++) {
				bool dup = false;

				for (size_t b = 0; b < a && !dup; b++)
					dup = strcmp(KF_AT(ref->topics, char *, a),
						     KF_AT(ref->topics, char *, b)) == 0;
				set_n += !dup;
			}
		} else if (equal) {
			/* Java: topics().size() == set.size() && set.containsAll(topics()) */
			if (nt != set_n)
				equal = false;
			for (size_t a = 0; a < nt && equal; a++) {
				bool found = false;

				for (size_t b = 0; b < ref_n && !found; b++)
					found = strcmp(KF_AT(sub->topics, char *, a),
						       KF_AT(ref->topics, char *, b)) == 0;
				equal = found;
			}
		}

		k->gen[s] = member_gen(sub);
		if (!sub)
			continue;
		for (int32_t e = 0; e < sub->owned_partitions.n; e++) {
			const struct kf_consumer_topic_partitions *tp =
				&KF_AT(sub->owned_partitions, struct kf_consumer_topic_partitions, e);

			for (int32_t j = 0; j < tp->partitions.n; j++) {
				int64_t g = part_index(r, tp->topic, KF_AT(tp->partitions, int32_t, j));
				uint32_t other;
				int32_t og;

				if (g < 0)
					continue;
				other = k->claim[g];
				k->claim[g] = s;
				if (other == NO_OWNER) {
					k->holder[g] = s;
					continue;
				}
				/* The other's generation as its Subscription gives
				 * it, as Java reads it. */
				og = sub_gen(r->slots[other].m->sub);
				if (k->gen[s] == og) {
					/* Nobody keeps it, but a later claimant is
					 * weighed against this one. */
					k->multi[g] = true;
					k->holder[g] = NO_OWNER;
				} else if (k->gen[s] > og) {
					k->holder[g] = s;
				} else {
					k->claim[g] = other;
				}
			}
		}
	}
	return equal;
}

/* Each slot's valid owned partitions, for the constrained path: held, not
 * claimed twice, sorted by partition number then topic. */
static void owned_lists(struct sticky *k)
{
	struct run *r = k->r;

	memset(k->owned_at, 0, (r->n + 1) * sizeof(*k->owned_at));
	for (size_t g = 0; g < r->nparts; g++)
		if (k->holder[g] != NO_OWNER && !k->multi[g])
			k->owned_at[k->holder[g] + 1]++;
	for (size_t s = 0; s < r->n; s++)
		k->owned_at[s + 1] += k->owned_at[s];
	/* count[] serves as the fill cursor here; it is reset after. */
	for (size_t g = 0; g < r->nparts; g++) {
		uint32_t s = k->holder[g];

		if (s != NO_OWNER && !k->multi[g])
			k->owned[k->owned_at[s] + k->count[s]++] = (uint32_t)g;
	}
	for (size_t s = 0; s < r->n; s++) {
		qsort_r(k->owned + k->owned_at[s], k->owned_at[s + 1] - k->owned_at[s],
			sizeof(*k->owned), part_first_cmp, k);
		k->count[s] = 0;
	}
}

static uint32_t give(struct sticky *k, size_t g, uint32_t s)
{
	k->r->owner[g] = s;
	return ++k->count[s];
}

/* ------------------------------------------------------------ all subscriptions equal */

/*
 * ConstrainedAssignmentBuilder without racks.  under[] is Java's
 * unfilledMembersWithUnderMinQuotaPartitions, walked by an iterator that
 * can remove the member it returned last; exact[] its
 * unfilledMembersWithExactlyMinQuotaPartitions, a queue.  Every member
 * enters exact[] at most twice (once from the owned pass, once on reaching
 * min), so 2n entries never wrap.
 */
static int constrained(struct sticky *k)
{
	struct run *r = k->r;
	size_t n = r->n, P = r->nparts;
	size_t minq = P / n, maxq = (P + n - 1) / n, want_over = P % n, over = 0;
	uint32_t *under = malloc(n * sizeof(*under));
	uint32_t *exact = malloc(2 * n * sizeof(*exact));
	size_t nu = 0, eh = 0, et = 0, it = 0;
	bool from_under;
	int rc = KF_OK;

	if (!under || !exact) {
		rc = KF_ENOMEM;
		goto out;
	}
	owned_lists(k);

	/* 1. Keep owned partitions, up to the quota. */
	for (size_t i = 0; i < n; i++) {
		uint32_t s = k->hm[i];
		const uint32_t *own = k->owned + k->owned_at[s];
		size_t no = k->owned_at[s + 1] - k->owned_at[s], keep;

		if (no < minq) {
			keep = no;
			under[nu++] = s;
		} else if (no >= maxq && over < want_over) {
			if (++over == want_over)
				eh = et = 0;
			keep = maxq;
		} else {
			keep = minq;
			if (over < want_over)
				exact[et++] = s;
		}
		for (size_t j = 0; j < no; j++) {
			if (j < keep)
				give(k, own[j], s);
			else
				k->revoked_from[own[j]] = s;
		}
	}

	/* 2. The rest round-robin: below min first, by member id, then at min. */
	qsort_r(under, nu, sizeof(*under), id_cmp, k);
	qsort_r(exact + eh, et - eh, sizeof(*exact), id_cmp, k);
	for (size_t g = 0; g < P; g++) {
		uint32_t s, got;

		if (r->owner[g] != NO_OWNER)
			continue;
		from_under = true;
		if (it < nu) {
			s = under[it++];
		} else if (nu == 0 && eh == et) {
			rc = KF_ERR; /* Java: "No more unfilled consumers to be assigned." */
			goto out;
		} else if (nu == 0) {
			s = exact[eh++];
			from_under = false;
		} else {
			it = 0;
			s = under[it++];
		}
		got = give(k, g, s);
		if ((k->revoked_from[g] != NO_OWNER && k->revoked_from[g] != s) || k->multi[g])
			k->transfer[g] = true;
		if (got == minq && from_under) {
			memmove(under + it - 1, under + it, (nu - it) * sizeof(*under));
			nu--;
			it--;
			exact[et++] = s;
		} else if (got == maxq) {
			over++;
		}
	}
out:
	free(under);
	free(exact);
	return rc;
}

/* ------------------------------------------------------------ different subscriptions */

/* The subscriber of topic t holding the fewest partitions, by member id
 * among equals; NO_OWNER when nobody subscribes. */
static uint32_t least_loaded(const struct sticky *k, size_t t)
{
	const struct run *r = k->r;
	uint32_t best = NO_OWNER;

	for (size_t i = 0; i < r->n; i++) {
		uint32_t s = k->byid[i];

		if (r->sub[t * r->n + s] && (best == NO_OWNER || k->count[s] < k->count[best]))
			best = s;
	}
	return best;
}

static int fewest_first_cmp(const void *va, const void *vb, void *arg)
{
	const struct run *r = ((const struct sticky *)arg)->r;
	uint32_t ga = *(const uint32_t *)va, gb = *(const uint32_t *)vb;
	size_t ca = r->topics[topic_of(r, ga)].nsubs;
	size_t cb = r->topics[topic_of(r, gb)].nsubs;

	if (ca != cb)
		return ca < cb ? -1 : 1;
	return (ga > gb) - (ga < gb);
}

/*
 * See the top of the file, 4.  The balancing moves, one at a time, the
 * partition whose owner holds the most more than the least loaded
 * subscriber of its topic, while that is two or more: the largest gap
 * first, so that a member subscribed to several topics passes partitions
 * to each in turn.  Each move lowers the sum of the squared counts, so the
 * loop ends; a move costs one pass over the partitions.
 */
static int general(struct sticky *k)
{
	struct run *r = k->r;
	uint32_t *todo = malloc(r->nparts * sizeof(*todo));
	uint32_t *least = malloc(r->nt * sizeof(*least));
	size_t ntodo = 0;

	if (!todo || !least) {
		free(todo);
		free(least);
		return KF_ENOMEM;
	}
	for (size_t g = 0; g < r->nparts; g++) {
		uint32_t s = k->holder[g];

		if (s != NO_OWNER && !k->multi[g] && r->sub[topic_of(r, g) * r->n + s])
			give(k, g, s);
		else
			todo[ntodo++] = (uint32_t)g;
	}
	qsort_r(todo, ntodo, sizeof(*todo), fewest_first_cmp, k);
	for (size_t i = 0; i < ntodo; i++) {
		uint32_t s = least_loaded(k, topic_of(r, todo[i]));

		if (s != NO_OWNER)
			give(k, todo[i], s);
	}

	for (;;) {
		size_t best = SIZE_MAX;
		uint32_t gap = 1;

		for (size_t t = 0; t < r->nt; t++)
			least[t] = least_loaded(k, t);
		for (size_t t = 0; t < r->nt; t++) {
			for (int32_t p = 0; p < r->topics[t].nparts; p++) {
				size_t g = r->topics[t].base + (size_t)p;
				uint32_t from = r->owner[g];

				if (from != NO_OWNER && least[t] != NO_OWNER &&
				    k->count[from] > k->count[least[t]] + gap) {
					gap = k->count[from] - k->count[least[t]];
					best = g;
				}
			}
		}
		if (best == SIZE_MAX)
			break;
		k->count[r->owner[best]]--;
		give(k, best, least[topic_of(r, best)]);
	}
	free(todo);
	free(least);
	return KF_OK;
}

/*
 * CooperativeStickyAssignor.computePartitionsTransferringOwnership, for
 * the general path: a partition is transferring when its new owner did not
 * list it as owned and some member that listed it does not get it.  The
 * owned lists here are the Subscriptions' own, before any validation.
 */
static void transfers_from_subscriptions(struct sticky *k)
{
	struct run *r = k->r;

	/* multi[] is free now: reuse it as "some member listed it and lost it". */
	memset(k->multi, 0, r->nparts * sizeof(*k->multi));
	memset(k->revoked_from, 0xff, r->nparts * sizeof(*k->revoked_from));
	for (size_t s = 0; s < r->n; s++) {
		const struct kf_consumer_subscription *sub = r->slots[s].m->sub;

		for (int32_t e = 0; sub && e < sub->owned_partitions.n; e++) {
			const struct kf_consumer_topic_partitions *tp =
				&KF_AT(sub->owned_partitions, struct kf_consumer_topic_partitions, e);

			for (int32_t j = 0; j < tp->partitions.n; j++) {
				int64_t g = part_index(r, tp->topic, KF_AT(tp->partitions, int32_t, j));

				if (g < 0)
					continue;
				if (r->owner[g] == s)
					k->revoked_from[g] = s; /* "the new owner listed it" */
				else
					k->multi[g] = true;
			}
		}
	}
	for (size_t g = 0; g < r->nparts; g++)
		k->transfer[g] = r->owner[g] != NO_OWNER && k->multi[g] &&
				 k->revoked_from[g] != r->owner[g];
}

/* ------------------------------------------------------------ entry */

int kf_sticky_assign(struct run *r)
{
	struct sticky k = { .r = r };
	size_t n = r->n, P = r->nparts;
	int rc;

	if (P == 0)
		return KF_OK;
	k.hm = malloc(n * sizeof(*k.hm));
	k.byid = malloc(n * sizeof(*k.byid));
	k.gen = malloc(n * sizeof(*k.gen));
	k.claim = malloc(P * sizeof(*k.claim));
	k.holder = malloc(P * sizeof(*k.holder));
	k.multi = calloc(P, sizeof(*k.multi));
	k.revoked_from = malloc(P * sizeof(*k.revoked_from));
	k.transfer = calloc(P, sizeof(*k.transfer));
	k.count = calloc(n, sizeof(*k.count));
	k.owned = malloc(P * sizeof(*k.owned));
	k.owned_at = malloc((n + 1) * sizeof(*k.owned_at));
	if (!k.hm || !k.byid || !k.gen || !k.claim || !k.holder || !k.multi ||
	    !k.revoked_from || !k.transfer || !k.count || !k.owned || !k.owned_at) {
		sticky_free(&k);
		return KF_ENOMEM;
	}
	memset(k.claim, 0xff, P * sizeof(*k.claim));
	memset(k.holder, 0xff, P * sizeof(*k.holder));
	memset(k.revoked_from, 0xff, P * sizeof(*k.revoked_from));

	orders(&k);
	if (previous_owners(&k)) {
		rc = constrained(&k);
	} else {
		rc = general(&k);
		if (rc == KF_OK)
			transfers_from_subscriptions(&k);
	}
	if (rc == KF_OK)
		for (size_t g = 0; g < P; g++)
			if (k.transfer[g])
				r->owner[g] = NO_OWNER;
	sticky_free(&k);
	return rc;
}
