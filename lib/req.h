/*
 * req: a request in flight that belongs to an owner (the consumer group,
 * the fetcher).
 *
 * kf_conn_send encodes a request struct only once the connection is
 * ready, so the struct and everything it points to must outlive the call:
 * they live in one heap object with an arena, freed once the answer (or
 * the failure) has been handled.  The owner keeps its requests on a list;
 * when it goes away it detaches them all, and an answer that comes later
 * finds no owner (kf_req_owner() is NULL) and only frees its request.
 *
 * The owner's request type embeds a struct kf_req; KF_REQ_NEW allocates
 * the whole of it and KF_REQ_OF finds it again from the embedded struct.
 * Strings and arrays the request points to come from kf_req_strdup,
 * kf_req_alloc and kf_req_array, which remember a failed allocation: the
 * builder checks kf_req_nomem() once, before sending.
 *
 * Nothing here blocks or calls back; like the loop, single-threaded.
 */
#ifndef KF_REQ_H
#define KF_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

struct kf_schema;
struct kf_metadata_req;
struct kf_metadata_resp;
struct kf_metadata_resp_topic;
struct kf_req_list;

struct kf_req {
	void *owner;                /* NULL once detached */
	struct kf_req_list *list;   /* NULL once detached */
	struct kf_req *prev, *next;
	struct kf_arena arena;      /* everything the request struct points to */
	size_t off;                 /* where this sits in the block kf_req_new allocated */
	bool nomem;                 /* an allocation for the request failed */
};

/* An owner's requests in flight; all zero is an empty list. */
struct kf_req_list {
	struct kf_req *head;        /* the newest */
};

/*
 * A zeroed block of size bytes with a struct kf_req at offset off (the
 * owner's request type: use KF_REQ_NEW), first on l, for owner.  Returns
 * the block, or NULL when out of memory; kf_req_free frees it.
 */
void *kf_req_new(struct kf_req_list *l, void *owner, size_t size, size_t off);
#define KF_REQ_NEW(l, owner, type, member) \
	((type *)kf_req_new((l), (owner), sizeof(type), offsetof(type, member)))
/* The owner's request that embeds r as member. */
#define KF_REQ_OF(r, type, member) ((type *)(void *)((char *)(r) - offsetof(type, member)))

/* Take r off its list (unless detached), free its arena and its block. */
void kf_req_free(struct kf_req *r);

/* The owner, or NULL once the owner went away. */
static inline void *kf_req_owner(const struct kf_req *r)
{
	return r->owner;
}

/*
 * The owner goes away: every request on l leaves it, detached, so that
 * its answer only frees it.  each (NULL: none) then runs on each one, e.g.
 * to drop a caller's callback, and may kf_req_free it.  l is empty after.
 */
void kf_req_detach_all(struct kf_req_list *l, void (*each)(struct kf_req *r));

/* Zeroed memory in r's arena; NULL, and r marked, when out of memory. */
void *kf_req_alloc(struct kf_req *r, size_t size);
/* A copy of s in r's arena; NULL for a NULL s (no failure), or NULL and r
 * marked when out of memory. */
char *kf_req_strdup(struct kf_req *r, const char *s);
/* kf_proto_array_new in r's arena: NULL, and r marked, when out of memory
 * (or for a field s does not have). */
void *kf_req_array(struct kf_req *r, const struct kf_schema *s, void *obj, const char *field,
		   int32_t n);

/* An allocation for r failed: it is incomplete and must not be sent. */
static inline bool kf_req_nomem(const struct kf_req *r)
{
	return r->nomem;
}

/* ------------------------------------------------------------ Metadata */

/*
 * Metadata is the request both owners send (the group for its
 * coordinator's address and the leader's partition counts, the fetcher
 * for partition leaders): md, a zeroed struct in r, becomes a request for
 * the n topics (copied into r's arena, in that order) that creates none.
 * KF_OK or KF_ENOMEM (r marked).
 */
int kf_req_metadata(struct kf_req *r, struct kf_metadata_req *md, const char *const *topics,
		    int n);
/* The first entry of a Metadata answer named topic, or NULL. */
const struct kf_metadata_resp_topic *kf_req_metadata_topic(const struct kf_metadata_resp *md,
							    const char *topic);

#endif
