/*
 * walk: generic checks on a message decoded by the schema walker, shared by
 * fuzz_response and fuzz_request (see fuzz.h).  Driven by the schemas, so a
 * message added to proto_msgs.c is covered without a change here.
 */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "fuzz.h"

/* Elements per array kf_fuzz_paths looks at: paths cost a lookup each. */
#define PATH_ELEMS 2
#define PATH_MAX_LEN 512

/* The compiler may not drop reads whose result ends up here. */
static volatile uint8_t sink;

static void touch_value(uint8_t t, const struct kf_schema *sub, const void *p)
{
	uint8_t acc = 0;
	switch (t) {
	case KF_T_STRING: {
		const char *str = *(const char *const *)p;
		if (str)
			acc = (uint8_t)strlen(str);
		break;
	}
	case KF_T_BYTES: case KF_T_RECORDS: {
		const struct kf_bytes *b = p;
		KF_FUZZ_CHECK(b->len >= -1);
		KF_FUZZ_CHECK(b->len <= 0 || b->p);
		for (int32_t i = 0; i < b->len; i++)
			acc ^= b->p[i];
		break;
	}
	case KF_T_STRUCT:
		kf_fuzz_touch(sub, p);
		break;
	case KF_T_NSTRUCT:
		if (*(const void *const *)p)
			kf_fuzz_touch(sub, *(const void *const *)p);
		break;
	default:
		acc = *(const uint8_t *)p;
		break;
	}
	sink ^= acc;
}

void kf_fuzz_touch(const struct kf_schema *s, const void *obj)
{
	for (uint16_t i = 0; i < s->nfields; i++) {
		const struct kf_field *f = &s->fields[i];
		const void *p = (const char *)obj + f->off;
		if (f->type != KF_T_ARRAY) {
			touch_value(f->type, f->sub, p);
			continue;
		}
		const struct kf_array *a = p;
		KF_FUZZ_CHECK(a->n >= -1);
		KF_FUZZ_CHECK(a->n <= 0 || a->v);
		size_t es = kf_proto_type_size(f->elem, f->sub);
		for (int32_t j = 0; j < a->n; j++)
			touch_value(f->elem, f->sub, (const char *)a->v + (size_t)j * es);
	}
}

struct paths {
	const struct kf_schema *root;
	const void *obj;
	char path[PATH_MAX_LEN];
};

/* kf_proto_get at the current path must succeed, into any size of buffer. */
static void get_ok(struct paths *w)
{
	char out[80], tiny[2];
	KF_FUZZ_CHECK(kf_proto_get(w->root, w->obj, w->path, out, sizeof(out)) == KF_OK);
	KF_FUZZ_CHECK(memchr(out, 0, sizeof(out)));
	KF_FUZZ_CHECK(kf_proto_get(w->root, w->obj, w->path, tiny, sizeof(tiny)) == KF_OK);
	KF_FUZZ_CHECK(memchr(tiny, 0, sizeof(tiny)));
}

static void get_fails(struct paths *w)
{
	char out[80];
	KF_FUZZ_CHECK(kf_proto_get(w->root, w->obj, w->path, out, sizeof(out)) == KF_EPROTO);
}

static void paths_struct(struct paths *w, size_t plen, const struct kf_schema *s,
			 const void *obj);

/* Append to the path; false (and nothing to do) when it would not fit. */
static bool path_push(struct paths *w, size_t plen, size_t *nlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static bool path_push(struct paths *w, size_t plen, size_t *nlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(w->path + plen, sizeof(w->path) - plen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(w->path) - plen)
		return false;
	*nlen = plen + (size_t)n;
	return true;
}

static void paths_array(struct paths *w, size_t plen, const struct kf_field *f,
			const struct kf_array *a)
{
	size_t nlen;
	get_ok(w); /* "[n]" or "null" */
	if (path_push(w, plen, &nlen, "#")) {
		char out[16];
		KF_FUZZ_CHECK(kf_proto_get(w->root, w->obj, w->path, out, sizeof(out)) == KF_OK);
		KF_FUZZ_CHECK(strtol(out, NULL, 10) == a->n);
	}
	int32_t n = a->n < PATH_ELEMS ? a->n : PATH_ELEMS;
	size_t es = kf_proto_type_size(f->elem, f->sub);
	for (int32_t i = 0; i < n; i++) {
		if (!path_push(w, plen, &nlen, "[%d]", i))
			return;
		if (f->elem == KF_T_STRUCT)
			paths_struct(w, nlen, f->sub, (const char *)a->v + (size_t)i * es);
		else
			get_ok(w);
	}
	if (path_push(w, plen, &nlen, "[%d]", a->n < 0 ? 0 : a->n))
		get_fails(w);
}

static void paths_struct(struct paths *w, size_t plen, const struct kf_schema *s,
			 const void *obj)
{
	for (uint16_t i = 0; i < s->nfields; i++) {
		const struct kf_field *f = &s->fields[i];
		size_t nlen;
		if (!path_push(w, plen, &nlen, plen ? ".%s" : "%s", f->name))
			continue;
		const void *p = (const char *)obj + f->off;
		if (f->type == KF_T_ARRAY)
			paths_array(w, nlen, f, p);
		else if (f->type == KF_T_STRUCT)
			paths_struct(w, nlen, f->sub, p);
		else if (f->type == KF_T_NSTRUCT && *(const void *const *)p)
			paths_struct(w, nlen, f->sub, *(const void *const *)p);
		else
			get_ok(w);
	}
	w->path[plen] = 0;
}

void kf_fuzz_paths(const struct kf_schema *s, const void *obj)
{
	struct paths w = { .root = s, .obj = obj };
	paths_struct(&w, 0, s, obj);
	/* Paths that name nothing fail cleanly. */
	snprintf(w.path, sizeof(w.path), "NoSuchField");
	get_fails(&w);
	snprintf(w.path, sizeof(w.path), "%s[", s->fields[0].name);
	get_fails(&w);
}

void kf_fuzz_reencode(const struct kf_schema *s, int16_t ver, bool flex, const void *obj)
{
	struct kf_wr w1, w2;
	struct kf_arena arena;
	struct kf_rd rd;
	void *obj2 = calloc(1, s->size);
	KF_FUZZ_CHECK(obj2);
	kf_wr_init(&w1);
	kf_wr_init(&w2);
	kf_arena_init(&arena);

	KF_FUZZ_CHECK(kf_proto_encode(&w1, s, ver, flex, obj) == KF_OK);
	kf_rd_init(&rd, w1.buf, w1.len);
	int rc = kf_proto_decode(&rd, s, ver, flex, &arena, obj2);
	if (rc != KF_OK)
		fprintf(stderr, "re-decode of %s v%d: %s reading %s at %zu of %zu\n", s->name, ver,
			kf_strerror(rc), rd.err_what ? rd.err_what : "?", rd.err_pos, w1.len);
	KF_FUZZ_CHECK(rc == KF_OK);
	KF_FUZZ_CHECK(kf_rd_left(&rd) == 0);
	KF_FUZZ_CHECK(kf_proto_encode(&w2, s, ver, flex, obj2) == KF_OK);
	KF_FUZZ_CHECK(w1.len == w2.len);
	KF_FUZZ_CHECK(w1.len == 0 || memcmp(w1.buf, w2.buf, w1.len) == 0);

	kf_arena_free(&arena);
	kf_wr_free(&w2);
	kf_wr_free(&w1);
	free(obj2);
}
