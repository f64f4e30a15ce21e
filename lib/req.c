/*
 * req: requests in flight on their owner's list (see req.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "proto.h"
#include "proto_msgs.h"
#include "req.h"

void *kf_req_new(struct kf_req_list *l, void *owner, size_t size, size_t off)
{
	char *block = calloc(1, size);
	if (!block)
		return NULL;
	struct kf_req *r = (struct kf_req *)(void *)(block + off);
	r->owner = owner;
	r->list = l;
	r->off = off;
	kf_arena_init(&r->arena);
	r->next = l->head;
	if (l->head)
		l->head->prev = r;
	l->head = r;
	return block;
}

static void unlink_req(struct kf_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		r->list->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->list = NULL;
}

void kf_req_free(struct kf_req *r)
{
	if (!r)
		return;
	if (r->list)
		unlink_req(r);
	kf_arena_free(&r->arena);
	free((char *)r - r->off);
}

void kf_req_detach_all(struct kf_req_list *l, void (*each)(struct kf_req *r))
{
	struct kf_req *r = l->head;
	l->head = NULL;
	while (r) {
		struct kf_req *next = r->next;
		r->owner = NULL;
		r->list = NULL;
		r->prev = r->next = NULL;
		if (each)
			each(r);
		r = next;
	}
}

void *kf_req_alloc(struct kf_req *r, size_t size)
{
	void *p = kf_arena_alloc(&r->arena, size);
	r->nomem = r->nomem || !p;
	return p;
}

char *kf_req_strdup(struct kf_req *r, const char *s)
{
	if (!s)
		return NULL;
	char *d = kf_arena_strndup(&r->arena, s, strlen(s));
	r->nomem = r->nomem || !d;
	return d;
}

void *kf_req_array(struct kf_req *r, const struct kf_schema *s, void *obj, const char *field,
		   int32_t n)
{
	void *v = kf_proto_array_new(s, obj, field, n, &r->arena);
	r->nomem = r->nomem || !v;
	return v;
}

/* ------------------------------------------------------------ Metadata */

int kf_req_metadata(struct kf_req *r, struct kf_metadata_req *md, const char *const *topics,
		    int n)
{
	kf_proto_defaults(kf_api_metadata.req, md);
	struct kf_metadata_req_topic *ts = kf_req_array(r, kf_api_metadata.req, md, "Topics", n);
	for (int i = 0; ts && i < n; i++)
		ts[i].name = kf_req_strdup(r, topics[i]);
	md->allow_auto_topic_creation = 0;
	return kf_req_nomem(r) ? KF_ENOMEM : KF_OK;
}

const struct kf_metadata_resp_topic *kf_req_metadata_topic(const struct kf_metadata_resp *md,
							    const char *topic)
{
	for (int32_t i = 0; i < md->topics.n; i++) {
		const struct kf_metadata_resp_topic *t =
			&KF_AT(md->topics, struct kf_metadata_resp_topic, i);
		if (t->name && strcmp(t->name, topic) == 0)
			return t;
	}
	return NULL;
}
