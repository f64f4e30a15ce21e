/*
 * assignor: range and roundrobin as Java computes them (see assignor.h).
 *
 * Both assignors reduce to "who owns partition p of topic t": the work is
 * done on an owner table with one entry per partition of every assignable
 * topic, filled in topic order, then turned into one
 * kf_consumer_assignment per member.  Members are referred to by their
 * position in Java's member order ("slot"); out[] is written in the
 * caller's order.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assignor.h"
#include "assignor_run.h"

static const char *const assignor_names[KF_ASSIGNOR_COUNT] = {
	[KF_ASSIGNOR_RANGE] = "range",
	[KF_ASSIGNOR_ROUNDROBIN] = "roundrobin",
	[KF_ASSIGNOR_COOPERATIVE_STICKY] = "cooperative-sticky",
};

bool kf_assignor_cooperative(enum kf_assignor_id id)
{
	return id == KF_ASSIGNOR_COOPERATIVE_STICKY;
}

const char *kf_assignor_name(enum kf_assignor_id id)
{
	if ((unsigned)id >= KF_ASSIGNOR_COUNT)
		return NULL;
	return assignor_names[id];
}

int kf_assignor_lookup(const char *name, enum kf_assignor_id *id)
{
	if (!name)
		return KF_EUNSUPP;
	for (unsigned i = 0; i < KF_ASSIGNOR_COUNT; i++) {
		if (strcmp(name, assignor_names[i]) == 0) {
			*id = (enum kf_assignor_id)i;
			return KF_OK;
		}
	}
	return KF_EUNSUPP;
}

int kf_assignor_protocols(const char *configured, const char *names[KF_ASSIGNOR_COUNT])
{
	enum kf_assignor_id first;
	int n = 0;

	if (kf_assignor_lookup(configured, &first) != KF_OK)
		return KF_EUNSUPP;
	names[n++] = assignor_names[first];
	if (kf_assignor_cooperative(first))
		return n; /* anything eager beside it would make the member eager */
	for (unsigned i = 0; i < KF_ASSIGNOR_COUNT; i++)
		if (i != (unsigned)first && !kf_assignor_cooperative((enum kf_assignor_id)i))
			names[n++] = assignor_names[i];
	return n;
}

/* ------------------------------------------------------------ Java strings */

/*
 * Next code point of a NUL-terminated UTF-8 string (*pp not at the NUL).
 * Ill-formed input gives U+FFFD for each maximal subpart of a valid
 * sequence (Unicode 3.9, "U+FFFD substitution of maximal subparts"), the
 * practice Java's UTF-8 decoder follows when it builds a String.
 */
static uint32_t utf8_next(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	unsigned c = *p++;
	unsigned need, lo = 0x80, hi = 0xbf;
	uint32_t cp;

	if (c < 0x80) {
		*pp = p;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;      /* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f;      /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;      /* nothing past U+10FFFF */
	} else {
		*pp = p;
		return 0xfffd;
	}
	for (unsigned i = 0; i < need; i++) {
		/* The terminating NUL is below lo, so this stops there. */
		if (*p < lo || *p > hi) {
			*pp = p;
			return 0xfffd;
		}
		cp = cp << 6 | (*p & 0x3f);
		p++;
		lo = 0x80;
		hi = 0xbf;
	}
	*pp = p;
	return cp;
}

/* The first UTF-16 code unit of a code point. */
static uint32_t utf16_lead(uint32_t cp)
{
	return cp < 0x10000 ? cp : 0xd800 + ((cp - 0x10000) >> 10);
}

/*
 * Java compares Strings by UTF-16 code unit, so U+E000..U+FFFF sort after
 * every supplementary character (whose lead unit is a surrogate,
 * 0xD800..0xDBFF), unlike UTF-8 byte order.  Two supplementary characters
 * with the same lead unit differ in the trail unit, which orders as the
 * code point does.  A string that is a prefix of the other sorts first.
 */
int kf_assignor_java_strcmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a;
	const unsigned char *q = (const unsigned char *)b;

	for (;;) {
		uint32_t x, y, ux, uy;

		if (!*p || !*q)
			return (*p != 0) - (*q != 0);
		x = utf8_next(&p);
		y = utf8_next(&q);
		if (x == y)
			continue;
		ux = utf16_lead(x);
		uy = utf16_lead(y);
		if (ux != uy)
			return ux < uy ? -1 : 1;
		return x < y ? -1 : 1;
	}
}

/* java.lang.String.hashCode: h = 31 * h + c over the UTF-16 code units. */
uint32_t kf_assignor_java_hash(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	uint32_t h = 0;

	while (*p) {
		uint32_t cp = utf8_next(&p);

		if (cp < 0x10000) {
			h = 31 * h + cp;
		} else {
			h = 31 * h + utf16_lead(cp);
			h = 31 * h + (0xdc00 + ((cp - 0x10000) & 0x3ff));
		}
	}
	return h;
}

/* ------------------------------------------------------------ ordering */

static const char *nz(const char *s)
{
	return s ? s : "";
}

/*
 * Java's MemberInfo.compareTo: static members (with group.instance.id)
 * before dynamic ones; static by instance id, dynamic by member id.  Ties
 * (never seen from a coordinator) fall back to member id, then input
 * position, so the sort is total.
 */
static int slot_cmp(const void *va, const void *vb)
{
	const struct slot *a = va, *b = vb;
	const char *ia = a->m->group_instance_id, *ib = b->m->group_instance_id;
	int c;

	if (ia && ib) {
		c = kf_assignor_java_strcmp(ia, ib);
		if (c)
			return c;
	} else if (ia) {
		return -1;
	} else if (ib) {
		return 1;
	}
	c = kf_assignor_java_strcmp(nz(a->m->member_id), nz(b->m->member_id));
	if (c)
		return c;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

static int name_cmp(const void *va, const void *vb)
{
	return kf_assignor_java_strcmp(*(const char *const *)va, *(const char *const *)vb);
}

/* ------------------------------------------------------------ the run */

static void run_free(struct run *r)
{
	free(r->slots);
	free(r->topics);
	free(r->sub);
	free(r->owner);
}

static size_t sub_ntopics(const struct kf_consumer_subscription *sub)
{
	if (!sub || sub->topics.n <= 0)
		return 0;
	return (size_t)sub->topics.n;
}

/*
 * The sorted, deduplicated union of the subscriptions, keeping the topics
 * that have partitions in the leader's metadata.
 */
static int collect_topics(struct run *r, kf_assignor_partitions_fn partitions, void *arg)
{
	const char **all;
	size_t na = 0, total = 0;

	for (size_t s = 0; s < r->n; s++)
		total += sub_ntopics(r->slots[s].m->sub);
	if (total == 0)
		return KF_OK;
	all = malloc(total * sizeof(*all));
	if (!all)
		return KF_ENOMEM;
	for (size_t s = 0; s < r->n; s++) {
		const struct kf_consumer_subscription *sub = r->slots[s].m->sub;

		for (size_t i = 0; i < sub_ntopics(sub); i++) {
			const char *t = KF_AT(sub->topics, char *, i);

			if (t)
				all[na++] = t;
		}
	}
	qsort(all, na, sizeof(*all), name_cmp);

	r->topics = calloc(na ? na : 1, sizeof(*r->topics));
	if (!r->topics) {
		free(all);
		return KF_ENOMEM;
	}
	for (size_t i = 0; i < na; i++) {
		int32_t np;

		if (i > 0 && name_cmp(&all[i - 1], &all[i]) == 0)
			continue;
		np = partitions(arg, all[i]);
		if (np <= 0)
			continue; /* no metadata: Java skips the topic */
		r->topics[r->nt].name = all[i];
		r->topics[r->nt].nparts = np;
		r->topics[r->nt].base = r->nparts;
		r->nparts += (size_t)np;
		r->nt++;
	}
	free(all);
	return KF_OK;
}

static int topic_key_cmp(const void *key, const void *elem)
{
	return kf_assignor_java_strcmp(key, ((const struct topic *)elem)->name);
}

ptrdiff_t kf_assignor_topic(const struct run *r, const char *name)
{
	const struct topic *t;

	if (!name || r->nt == 0)
		return -1;
	t = bsearch(name, r->topics, r->nt, sizeof(*r->topics), topic_key_cmp);
	return t ? t - r->topics : -1;
}

/* Fill the subscription matrix; unknown topics were dropped already. */
static int build_sub(struct run *r)
{
	if (r->nt == 0)
		return KF_OK;
	if (r->nt > SIZE_MAX / r->n)
		return KF_ENOMEM;
	r->sub = calloc(r->nt * r->n, sizeof(*r->sub));
	if (!r->sub)
		return KF_ENOMEM;
	for (size_t s = 0; s < r->n; s++) {
		const struct kf_consumer_subscription *sub = r->slots[s].m->sub;

		for (size_t i = 0; i < sub_ntopics(sub); i++) {
			ptrdiff_t t = kf_assignor_topic(r, KF_AT(sub->topics, char *, i));
			size_t ti;

			if (t < 0)
				continue;
			ti = (size_t)t;
			/* A topic listed twice counts once, as in Java. */
			if (!r->sub[ti * r->n + s]) {
				r->sub[ti * r->n + s] = true;
				r->topics[ti].nsubs++;
			}
		}
	}
	return KF_OK;
}

/*
 * range: per topic, its c subscribers in member order take contiguous
 * runs, the first P % c of them one partition more than P / c.  Java
 * (3.5+) gets there by letting each subscriber in turn take up to
 * q + (extra left ? 1 : 0) of the lowest unassigned partitions, which is
 * the same when the rack pass has not run.
 */
static void assign_range(struct run *r)
{
	for (size_t t = 0; t < r->nt; t++) {
		const bool *sub = r->sub + t * r->n;
		uint32_t *owner = r->owner + r->topics[t].base;
		size_t np = (size_t)r->topics[t].nparts, c = r->topics[t].nsubs;
		size_t q, extra, next = 0, i = 0;

		if (c == 0) /* cannot happen: the topic came from a subscription */
			continue;
		q = np / c;
		extra = np % c;
		for (size_t s = 0; s < r->n && next < np; s++) {
			size_t len;

			if (!sub[s])
				continue;
			len = q + (i < extra ? 1 : 0);
			for (size_t k = 0; k < len; k++)
				owner[next++] = (uint32_t)s;
			i++;
		}
	}
}

/*
 * roundrobin: Java's CircularIterator over the sorted members; for each
 * partition, skip members not subscribed to its topic, hand it to the
 * one reached, step past that one.  The position carries over from topic
 * to topic.
 */
static void assign_roundrobin(struct run *r)
{
	size_t pos = 0;

	for (size_t t = 0; t < r->nt; t++) {
		const bool *sub = r->sub + t * r->n;
		uint32_t *owner = r->owner + r->topics[t].base;

		if (r->topics[t].nsubs == 0) /* cannot happen, as in range */
			continue;
		for (int32_t p = 0; p < r->topics[t].nparts; p++) {
			while (!sub[pos])
				pos = (pos + 1) % r->n;
			owner[p] = (uint32_t)pos;
			pos = (pos + 1) % r->n;
		}
	}
}

enum walk_pass {
	WALK_COUNT_TOPICS = 0, /* cnt[s]: entries (topics) of slot s */
	WALK_COUNT_PARTS = 1,  /* each entry's topic and partition count */
	WALK_FILL = 2,         /* each entry's partitions */
};

/*
 * One walk over the owner table in topic order, partitions ascending, so
 * every assignment comes out sorted without a sort.  last[s] is the
 * topic (index + 1) slot s was last seen in, cnt[s] its entries so far:
 * a partition of a topic not seen yet for s opens s's next entry.
 */
static void walk(struct run *r, struct kf_consumer_assignment *out, size_t *last,
		 size_t *cnt, enum walk_pass pass)
{
	memset(last, 0, r->n * sizeof(*last));
	memset(cnt, 0, r->n * sizeof(*cnt));
	for (size_t t = 0; t < r->nt; t++) {
		for (int32_t p = 0; p < r->topics[t].nparts; p++) {
			uint32_t s = r->owner[r->topics[t].base + (size_t)p];
			struct kf_consumer_topic_partitions *e;
			bool opens;

			if (s == NO_OWNER)
				continue;
			opens = last[s] != t + 1;
			if (opens) {
				last[s] = t + 1;
				cnt[s]++;
			}
			if (pass == WALK_COUNT_TOPICS)
				continue;
			e = &KF_AT(out[r->slots[s].idx].assigned_partitions,
				   struct kf_consumer_topic_partitions, cnt[s] - 1);
			if (pass == WALK_COUNT_PARTS) {
				if (opens) {
					e->topic = r->topics[t].copy;
					e->partitions.n = 0;
				}
				e->partitions.n++;
			} else {
				KF_AT(e->partitions, int32_t, e->partitions.n++) = p;
			}
		}
	}
}

/*
 * Turn the owner table into out[]: count each member's topics, allocate
 * the entries, count each entry's partitions, allocate them, fill.
 */
static int build_output(struct run *r, struct kf_arena *a, struct kf_consumer_assignment *out)
{
	size_t *last = calloc(r->n, sizeof(*last));
	size_t *cnt = calloc(r->n, sizeof(*cnt));
	int rc = KF_ENOMEM;

	if (!last || !cnt)
		goto out_free;
	for (size_t s = 0; s < r->n; s++) {
		struct kf_consumer_assignment *o = &out[r->slots[s].idx];

		o->assigned_partitions.v = NULL;
		o->assigned_partitions.n = 0;
		o->user_data.p = NULL;
		o->user_data.len = -1;
	}
	for (size_t t = 0; t < r->nt; t++) {
		r->topics[t].copy = kf_arena_strndup(a, r->topics[t].name, strlen(r->topics[t].name));
		if (!r->topics[t].copy)
			goto out_free;
	}

	walk(r, out, last, cnt, WALK_COUNT_TOPICS);
	for (size_t s = 0; s < r->n; s++) {
		struct kf_array *ap = &out[r->slots[s].idx].assigned_partitions;

		if (cnt[s] == 0)
			continue;
		ap->v = kf_arena_alloc(a, cnt[s] * sizeof(struct kf_consumer_topic_partitions));
		if (!ap->v)
			goto out_free;
		ap->n = (int32_t)cnt[s];
	}

	walk(r, out, last, cnt, WALK_COUNT_PARTS);
	for (size_t s = 0; s < r->n; s++) {
		struct kf_array *ap = &out[r->slots[s].idx].assigned_partitions;

		for (int32_t i = 0; i < ap->n; i++) {
			struct kf_consumer_topic_partitions *e =
				&KF_AT(*ap, struct kf_consumer_topic_partitions, i);

			e->partitions.v = kf_arena_alloc(a, (size_t)e->partitions.n * sizeof(int32_t));
			if (!e->partitions.v)
				goto out_free;
			e->partitions.n = 0; /* WALK_FILL counts again as it fills */
		}
	}

	walk(r, out, last, cnt, WALK_FILL);
	rc = KF_OK;
out_free:
	free(last);
	free(cnt);
	return rc;
}

int kf_assignor_assign(enum kf_assignor_id id, const struct kf_assignor_member *members,
		       size_t n, kf_assignor_partitions_fn partitions, void *arg,
		       struct kf_arena *a, struct kf_consumer_assignment *out)
{
	struct run r = { .n = n };
	int rc;

	if ((unsigned)id >= KF_ASSIGNOR_COUNT)
		return KF_EUNSUPP;
	if (n == 0)
		return KF_OK;
	if (n > UINT32_MAX)
		return KF_ENOMEM;
	r.slots = malloc(n * sizeof(*r.slots));
	if (!r.slots)
		return KF_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r.slots[i].m = &members[i];
		r.slots[i].idx = i;
	}
	qsort(r.slots, n, sizeof(*r.slots), slot_cmp);

	rc = collect_topics(&r, partitions, arg);
	if (rc == KF_OK)
		rc = build_sub(&r);
	if (rc == KF_OK && r.nparts > 0) {
		r.owner = malloc(r.nparts * sizeof(*r.owner));
		if (!r.owner)
			rc = KF_ENOMEM;
		else
			memset(r.owner, 0xff, r.nparts * sizeof(*r.owner)); /* NO_OWNER */
	}
	if (rc == KF_OK) {
		if (id == KF_ASSIGNOR_RANGE)
			assign_range(&r);
		else if (id == KF_ASSIGNOR_ROUNDROBIN)
			assign_roundrobin(&r);
		else
			rc = kf_sticky_assign(&r);
	}
	if (rc == KF_OK)
		rc = build_output(&r, a, out);
	run_free(&r);
	return rc;
}
