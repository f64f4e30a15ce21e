/*
 * arena: a bump allocator for decoded responses.  Everything a decoder
 * allocates for one response lives in one arena and is freed at once with
 * kf_arena_free(); nothing allocated here is freed on its own.
 */
#ifndef KF_ARENA_H
#define KF_ARENA_H

#include <stddef.h>

struct kf_arena_chunk;

struct kf_arena {
	struct kf_arena_chunk *head;
	size_t total; /* bytes handed out, for limits and tests */
};

void kf_arena_init(struct kf_arena *a);
/* Zeroed, 16-byte aligned memory owned by the arena; NULL when out of memory. */
void *kf_arena_alloc(struct kf_arena *a, size_t size);
/* A NUL-terminated copy of len bytes of p, owned by the arena. */
char *kf_arena_strndup(struct kf_arena *a, const void *p, size_t len);
/* Free every allocation; the arena can be used again. */
void kf_arena_free(struct kf_arena *a);

#endif
