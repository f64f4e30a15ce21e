/*
 * asg: one member's own assignment (see asg.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "asg.h"
#include "err.h"
#include "proto_group.h"

void kf_asg_init(struct kf_asg *a)
{
	kf_arena_init(&a->arena);
	a->tps = NULL;
	a->n = 0;
}

void kf_asg_free(struct kf_asg *a)
{
	kf_arena_free(&a->arena);
	a->tps = NULL;
	a->n = 0;
}

void kf_asg_move(struct kf_asg *dst, struct kf_asg *src)
{
	kf_asg_free(dst);
	*dst = *src;
	kf_asg_init(src);
}

int kf_asg_decode(struct kf_asg *a, const struct kf_bytes *b)
{
	struct kf_consumer_assignment asg;
	uint8_t *p;
	int rc, n = 0;

	if (b->len <= 0)
		return KF_OK; /* nothing assigned */
	p = kf_arena_alloc(&a->arena, (size_t)b->len);
	if (!p)
		return KF_ENOMEM;
	memcpy(p, b->p, (size_t)b->len);
	rc = kf_consumer_assignment_decode(p, (size_t)b->len, &a->arena, &asg, NULL);
	if (rc != KF_OK) {
		kf_asg_free(a);
		return rc;
	}
	for (int32_t i = 0; i < asg.assigned_partitions.n; i++)
		n += KF_AT(asg.assigned_partitions, struct kf_consumer_topic_partitions, i).partitions.n;
	a->tps = kf_arena_alloc(&a->arena, (size_t)(n + 1) * sizeof(*a->tps));
	if (!a->tps) {
		kf_asg_free(a);
		return KF_ENOMEM;
	}
	for (int32_t i = 0; i < asg.assigned_partitions.n; i++) {
		struct kf_consumer_topic_partitions *tp =
			&KF_AT(asg.assigned_partitions, struct kf_consumer_topic_partitions, i);

		for (int32_t j = 0; j < tp->partitions.n; j++) {
			struct kf_group_tp *t = &a->tps[a->n++];

			t->topic = tp->topic;
			t->partition = KF_AT(tp->partitions, int32_t, j);
			t->offset = -1;
		}
	}
	return KF_OK;
}

static int tp_cmp(const struct kf_group_tp *a, const struct kf_group_tp *b)
{
	int c = strcmp(a->topic, b->topic);

	if (c)
		return c;
	return (a->partition > b->partition) - (a->partition < b->partition);
}

static int tp_ptr_cmp(const void *va, const void *vb)
{
	return tp_cmp(*(const struct kf_group_tp *const *)va, *(const struct kf_group_tp *const *)vb);
}

/* Pointers to tps[0..n), sorted; NULL when out of memory. */
static const struct kf_group_tp **sorted(const struct kf_group_tp *tps, int n)
{
	const struct kf_group_tp **v = malloc((size_t)(n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (int i = 0; i < n; i++)
		v[i] = &tps[i];
	qsort(v, (size_t)n, sizeof(*v), tp_ptr_cmp);
	return v;
}

int kf_asg_diff(struct kf_asg *nw, const struct kf_asg *old, struct kf_asg *revoked,
		int *nadded)
{
	const struct kf_group_tp **sn = sorted(nw->tps, nw->n);
	const struct kf_group_tp **so = sorted(old->tps, old->n);
	struct kf_group_tp *added = NULL, *kept;
	int i = 0, j = 0, na = 0, nk = 0, nr = 0, rc = KF_ENOMEM;

	if (!sn || !so)
		goto done;
	added = malloc((size_t)(2 * nw->n + 1) * sizeof(*added));
	kept = added + nw->n;
	revoked->tps = kf_arena_alloc(&revoked->arena, (size_t)(old->n + 1) * sizeof(*revoked->tps));
	if (!added || !revoked->tps)
		goto done;
	while (i < nw->n || j < old->n) {
		int c = i == nw->n ? 1 : j == old->n ? -1 : tp_cmp(sn[i], so[j]);

		if (c <= 0 && i > 0 && tp_cmp(sn[i - 1], sn[i]) == 0) {
			i++; /* listed twice: keep it once */
		} else if (c < 0) {
			added[na++] = *sn[i++];
		} else if (c == 0) {
			kept[nk++] = *sn[i++];
			j++;
		} else {
			struct kf_group_tp *r = &revoked->tps[nr];

			*r = *so[j++];
			r->topic = kf_arena_strndup(&revoked->arena, r->topic, strlen(r->topic));
			if (!r->topic)
				goto done;
			nr++;
		}
	}
	memcpy(nw->tps, added, (size_t)na * sizeof(*added));
	memcpy(nw->tps + na, kept, (size_t)nk * sizeof(*kept));
	nw->n = na + nk;
	revoked->n = nr;
	*nadded = na;
	rc = KF_OK;
done:
	if (rc != KF_OK)
		kf_asg_free(revoked);
	free(sn);
	free(so);
	free(added);
	return rc;
}

int kf_asg_owned(const struct kf_group_tp *tps, int n, struct kf_arena *arena,
		 struct kf_array *out)
{
	const struct kf_group_tp **v;
	struct kf_consumer_topic_partitions *e = NULL;
	int nt = 0;

	out->v = NULL;
	out->n = 0;
	if (n <= 0)
		return KF_OK;
	v = sorted(tps, n);
	if (v)
		e = kf_arena_alloc(arena, (size_t)n * sizeof(*e));
	for (int i = 0; e && i < n; i++) {
		if (nt == 0 || strcmp(e[nt - 1].topic, v[i]->topic) != 0) {
			int k = i;

			while (k < n && strcmp(v[k]->topic, v[i]->topic) == 0)
				k++;
			e[nt].topic = (char *)v[i]->topic;
			e[nt].partitions.n = 0;
			e[nt].partitions.v = kf_arena_alloc(arena, (size_t)(k - i) * sizeof(int32_t));
			if (!e[nt++].partitions.v)
				e = NULL;
		}
		if (e)
			KF_AT(e[nt - 1].partitions, int32_t, e[nt - 1].partitions.n++) = v[i]->partition;
	}
	free(v);
	if (!e)
		return KF_ENOMEM;
	out->v = e;
	out->n = nt;
	return KF_OK;
}
