/*
 * arena: see arena.h.  Chunks grow geometrically so a large response costs
 * few mallocs; a request bigger than a chunk gets a chunk of its own.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

struct kf_arena_chunk {
	struct kf_arena_chunk *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

void kf_arena_init(struct kf_arena *a)
{
	a->head = NULL;
	a->total = 0;
}

void *kf_arena_alloc(struct kf_arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size == 0)
		size = 16;
	struct kf_arena_chunk *c = a->head;
	if (!c || c->size - c->used < size) {
		size_t csize = c ? c->size * 2 : 4096;
		if (csize > (1u << 20))
			csize = 1u << 20;
		if (csize < size)
			csize = size;
		if (csize > SIZE_MAX - sizeof(*c))
			return NULL;
		c = malloc(sizeof(*c) + csize);
		if (!c)
			return NULL;
		c->size = csize;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += size;
	a->total += size;
	memset(p, 0, size);
	return p;
}

char *kf_arena_strndup(struct kf_arena *a, const void *p, size_t len)
{
	char *s = kf_arena_alloc(a, len + 1);
	if (s && len)
		memcpy(s, p, len);
	return s;
}

void kf_arena_free(struct kf_arena *a)
{
	struct kf_arena_chunk *c = a->head;
	while (c) {
		struct kf_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	kf_arena_init(a);
}
