/*
 * proto: the schema walker (see proto.h).  The message schemas live in
 * proto_msgs.c and proto_group.c, the table of them in proto_apis.c; this
 * file knows nothing about any one API.
 *
 * Decoding is strict about lengths and lenient about nulls: a null where the
 * schema says a field is not nullable becomes "" or an empty array, so code
 * reading a decoded response never meets NULL where the protocol promised a
 * value.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int kf_proto_req_header_version(const struct kf_api *api, int16_t ver)
{
	return kf_proto_flexible(api, ver) ? 2 : 1;
}

int kf_proto_resp_header_version(const struct kf_api *api, int16_t ver)
{
	/* KIP-511: ApiVersions responses keep header v0 so that a client can
	 * always parse the broker's answer to a version it did not support. */
	if (api->key == KF_API_API_VERSIONS)
		return 0;
	return kf_proto_flexible(api, ver) ? 1 : 0;
}

static bool field_in(const struct kf_field *f, int16_t ver)
{
	return ver >= f->vmin && ver <= f->vmax;
}

size_t kf_proto_type_size(uint8_t t, const struct kf_schema *sub)
{
	switch (t) {
	case KF_T_BOOL: case KF_T_I8: return 1;
	case KF_T_I16: case KF_T_U16: return 2;
	case KF_T_I32: case KF_T_U32: return 4;
	case KF_T_I64: return 8;
	case KF_T_F64: return sizeof(double);
	case KF_T_UUID: return sizeof(struct kf_uuid);
	case KF_T_STRING: return sizeof(char *);
	case KF_T_BYTES: case KF_T_RECORDS: return sizeof(struct kf_bytes);
	case KF_T_STRUCT: return sub->size;
	case KF_T_ARRAY: return sizeof(struct kf_array);
	case KF_T_NSTRUCT: return sizeof(void *);
	}
	return 0;
}

/* Least bytes one element of type t takes on the wire. */
static size_t wire_min(uint8_t t, bool flex)
{
	switch (t) {
	case KF_T_BOOL: case KF_T_I8: return 1;
	case KF_T_I16: case KF_T_U16: return 2;
	case KF_T_I32: case KF_T_U32: return 4;
	case KF_T_I64: case KF_T_F64: return 8;
	case KF_T_UUID: return 16;
	case KF_T_STRING: return flex ? 1 : 2;
	case KF_T_BYTES: case KF_T_RECORDS: case KF_T_ARRAY: return flex ? 1 : 4;
	}
	return 1;
}

static int64_t int_get(uint8_t t, const void *p)
{
	switch (t) {
	case KF_T_BOOL: case KF_T_I8: return *(const int8_t *)p;
	case KF_T_I16: return *(const int16_t *)p;
	case KF_T_U16: return *(const uint16_t *)p;
	case KF_T_I32: return *(const int32_t *)p;
	case KF_T_U32: return *(const uint32_t *)p;
	case KF_T_I64: return *(const int64_t *)p;
	}
	return 0;
}

static void int_put(uint8_t t, void *p, int64_t v)
{
	switch (t) {
	case KF_T_BOOL: case KF_T_I8: *(int8_t *)p = (int8_t)v; break;
	case KF_T_I16: *(int16_t *)p = (int16_t)v; break;
	case KF_T_U16: *(uint16_t *)p = (uint16_t)v; break;
	case KF_T_I32: *(int32_t *)p = (int32_t)v; break;
	case KF_T_U32: *(uint32_t *)p = (uint32_t)v; break;
	case KF_T_I64: *(int64_t *)p = v; break;
	}
}

static bool is_int(uint8_t t)
{
	return t <= KF_T_I64 && t != KF_T_F64;
}

void kf_proto_defaults(const struct kf_schema *s, void *obj)
{
	for (uint16_t i = 0; i < s->nfields; i++) {
		const struct kf_field *f = &s->fields[i];
		void *p = (char *)obj + f->off;
		if (is_int(f->type))
			int_put(f->type, p, f->dflt);
		else if (f->type == KF_T_STRUCT)
			kf_proto_defaults(f->sub, p);
		else if (f->type == KF_T_BYTES || f->type == KF_T_RECORDS)
			((struct kf_bytes *)p)->len = f->dflt == -1 ? -1 : 0;
		else if (f->type == KF_T_ARRAY)
			((struct kf_array *)p)->n = f->dflt == -1 ? -1 : 0;
		else if (f->type == KF_T_NSTRUCT)
			*(void **)p = NULL;
	}
}

/* ------------------------------------------------------------ encoding */

static void enc_struct(struct kf_wr *wr, const struct kf_schema *s, int16_t ver, bool flex,
		       const void *obj);

static void enc_value(struct kf_wr *wr, uint8_t t, const struct kf_schema *sub, bool nullable,
		      bool flex, int16_t ver, const void *p)
{
	switch (t) {
	case KF_T_BOOL: kf_wr_i8(wr, *(const int8_t *)p ? 1 : 0); break;
	case KF_T_I8: kf_wr_i8(wr, *(const int8_t *)p); break;
	case KF_T_I16: case KF_T_U16: kf_wr_i16(wr, (int16_t)int_get(t, p)); break;
	case KF_T_I32: case KF_T_U32: kf_wr_i32(wr, (int32_t)int_get(t, p)); break;
	case KF_T_I64: kf_wr_i64(wr, *(const int64_t *)p); break;
	case KF_T_F64: {
		uint64_t u;
		memcpy(&u, p, 8);
		kf_wr_i64(wr, (int64_t)u);
		break;
	}
	case KF_T_UUID: kf_wr_raw(wr, p, 16); break;
	case KF_T_STRING: {
		const char *str = *(const char *const *)p;
		if (!str && !nullable)
			str = "";
		int32_t len = str ? (int32_t)strlen(str) : -1;
		if (flex)
			kf_wr_compact_string(wr, str, len);
		else
			kf_wr_string(wr, str, len);
		break;
	}
	case KF_T_BYTES: case KF_T_RECORDS: {
		const struct kf_bytes *b = p;
		int32_t len = b->len;
		const uint8_t *bp = b->p;
		if (len < 0 && !nullable)
			len = 0;
		if (len > 0 && !bp)
			len = 0;
		if (flex)
			kf_wr_compact_bytes(wr, bp ? bp : (const uint8_t *)"", len);
		else
			kf_wr_bytes(wr, bp ? bp : (const uint8_t *)"", len);
		break;
	}
	case KF_T_STRUCT: enc_struct(wr, sub, ver, flex, p); break;
	case KF_T_ARRAY: break; /* handled by enc_field */
	}
}

static void enc_field(struct kf_wr *wr, const struct kf_field *f, int16_t ver, bool flex,
		      const void *obj)
{
	const void *p = (const char *)obj + f->off;
	bool nullable = ver >= f->null_min;
	if (f->type == KF_T_NSTRUCT) {
		const void *sp = *(const void *const *)p;
		kf_wr_i8(wr, sp ? 1 : -1);
		if (sp)
			enc_struct(wr, f->sub, ver, flex, sp);
		return;
	}
	if (f->type != KF_T_ARRAY) {
		enc_value(wr, f->type, f->sub, nullable, flex, ver, p);
		return;
	}
	const struct kf_array *a = p;
	int32_t n = a->n;
	if (n < 0 && !nullable)
		n = 0;
	if (n > 0 && !a->v)
		n = 0;
	kf_wr_array_len(wr, flex, n);
	size_t es = kf_proto_type_size(f->elem, f->sub);
	for (int32_t i = 0; i < n; i++)
		enc_value(wr, f->elem, f->sub, false, flex, ver, (const char *)a->v + (size_t)i * es);
}

/* A tagged field is written only when it differs from its default. */
static bool is_default(const struct kf_field *f, const void *obj)
{
	const void *p = (const char *)obj + f->off;
	if (is_int(f->type))
		return int_get(f->type, p) == f->dflt;
	switch (f->type) {
	case KF_T_STRING: return *(const char *const *)p == NULL;
	case KF_T_BYTES: case KF_T_RECORDS: return ((const struct kf_bytes *)p)->len <= 0;
	case KF_T_ARRAY: return ((const struct kf_array *)p)->n <= 0;
	case KF_T_NSTRUCT: return *(const void *const *)p == NULL;
	case KF_T_UUID: {
		static const struct kf_uuid zero;
		return memcmp(p, &zero, sizeof(zero)) == 0;
	}
	case KF_T_STRUCT:
		for (uint16_t i = 0; i < f->sub->nfields; i++)
			if (!is_default(&f->sub->fields[i], p))
				return false;
		return true;
	}
	return true;
}

static void enc_struct(struct kf_wr *wr, const struct kf_schema *s, int16_t ver, bool flex,
		       const void *obj)
{
	uint32_t ntags = 0;
	for (uint16_t i = 0; i < s->nfields; i++) {
		const struct kf_field *f = &s->fields[i];
		if (!field_in(f, ver))
			continue;
		if (f->tag >= 0) {
			if (flex && !is_default(f, obj))
				ntags++;
			continue;
		}
		enc_field(wr, f, ver, flex, obj);
	}
	if (!flex)
		return;
	kf_wr_uvarint(wr, ntags);
	/* Tags go out in ascending order whatever the table order. */
	for (int tag = 0, done = 0; done < (int)ntags && tag < 128; tag++) {
		for (uint16_t i = 0; i < s->nfields; i++) {
			const struct kf_field *f = &s->fields[i];
			if (f->tag != tag || !field_in(f, ver) || is_default(f, obj))
				continue;
			struct kf_wr tmp;
			kf_wr_init(&tmp);
			enc_field(&tmp, f, ver, flex, obj);
			kf_wr_uvarint(wr, (uint64_t)tag);
			kf_wr_uvarint(wr, tmp.len);
			kf_wr_raw(wr, tmp.buf, tmp.len);
			if (tmp.err)
				wr->err = tmp.err;
			kf_wr_free(&tmp);
			done++;
		}
	}
}

int kf_proto_encode(struct kf_wr *wr, const struct kf_schema *s, int16_t ver, bool flex,
		    const void *obj)
{
	enc_struct(wr, s, ver, flex, obj);
	return wr->err;
}

int kf_proto_encode_request(struct kf_wr *wr, const struct kf_api *api, int16_t ver,
			    int32_t corr_id, const char *client_id, const void *obj)
{
	if (ver < api->vmin || ver > api->vmax)
		return KF_EUNSUPP;
	bool flex = kf_proto_flexible(api, ver);
	size_t size_off = kf_wr_i32(wr, 0);
	kf_wr_i16(wr, api->key);
	kf_wr_i16(wr, ver);
	kf_wr_i32(wr, corr_id);
	/* ClientId keeps its int16 length even in header v2. */
	kf_wr_string(wr, client_id, client_id ? (int32_t)strlen(client_id) : -1);
	if (flex)
		kf_wr_uvarint(wr, 0);
	enc_struct(wr, api->req, ver, flex, obj);
	if (wr->err)
		return wr->err;
	kf_wr_patch_i32(wr, size_off, (int32_t)(wr->len - size_off - 4));
	return KF_OK;
}

/* ------------------------------------------------------------ decoding */

struct dec {
	struct kf_rd *rd;
	struct kf_arena *arena;
	int16_t ver;
	bool flex;
	const char *failed; /* innermost field that failed */
};

static void dec_struct(struct dec *d, const struct kf_schema *s, void *obj);

static void dec_fail(struct dec *d, int err, const char *what)
{
	kf_rd_fail(d->rd, err, what);
}

static void dec_value(struct dec *d, uint8_t t, const struct kf_schema *sub, void *p)
{
	struct kf_rd *rd = d->rd;
	switch (t) {
	case KF_T_BOOL: *(int8_t *)p = kf_rd_i8(rd) != 0; break;
	case KF_T_I8: *(int8_t *)p = kf_rd_i8(rd); break;
	case KF_T_I16: case KF_T_U16: int_put(t, p, (uint16_t)kf_rd_i16(rd)); break;
	case KF_T_I32: *(int32_t *)p = kf_rd_i32(rd); break;
	case KF_T_U32: *(uint32_t *)p = kf_rd_u32(rd); break;
	case KF_T_I64: *(int64_t *)p = kf_rd_i64(rd); break;
	case KF_T_F64: {
		uint64_t u = (uint64_t)kf_rd_i64(rd);
		memcpy(p, &u, 8);
		break;
	}
	case KF_T_UUID: {
		const uint8_t *b = kf_rd_raw(rd, 16, "uuid");
		if (b)
			memcpy(p, b, 16);
		break;
	}
	case KF_T_STRING: {
		const uint8_t *b;
		int32_t len = d->flex ? kf_rd_compact_string(rd, &b) : kf_rd_string(rd, &b);
		char **out = p;
		*out = NULL;
		if (!kf_rd_ok(rd))
			break;
		/* Nullability is applied by dec_field; here null stays NULL. */
		if (len >= 0) {
			*out = kf_arena_strndup(d->arena, b, (size_t)len);
			if (!*out)
				dec_fail(d, KF_ENOMEM, "string");
		}
		break;
	}
	case KF_T_BYTES: case KF_T_RECORDS: {
		struct kf_bytes *out = p;
		out->len = d->flex ? kf_rd_compact_bytes(rd, &out->p) : kf_rd_bytes(rd, &out->p);
		break;
	}
	case KF_T_STRUCT: dec_struct(d, sub, p); break;
	case KF_T_ARRAY: break; /* handled by dec_field */
	}
}

static void dec_field(struct dec *d, const struct kf_field *f, void *obj)
{
	void *p = (char *)obj + f->off;
	bool nullable = d->ver >= f->null_min;
	if (f->type == KF_T_NSTRUCT) {
		void **sp = p;
		*sp = NULL;
		if (kf_rd_i8(d->rd) < 0 || !kf_rd_ok(d->rd))
			goto out;
		*sp = kf_arena_alloc(d->arena, f->sub->size);
		if (!*sp)
			dec_fail(d, KF_ENOMEM, "struct");
		else
			dec_struct(d, f->sub, *sp);
	} else if (f->type != KF_T_ARRAY) {
		dec_value(d, f->type, f->sub, p);
		if (f->type == KF_T_STRING && !nullable && *(char **)p == NULL && kf_rd_ok(d->rd))
			*(char **)p = kf_arena_strndup(d->arena, "", 0);
		if (f->type == KF_T_BYTES && !nullable && ((struct kf_bytes *)p)->len < 0)
			((struct kf_bytes *)p)->len = 0;
	} else {
		struct kf_array *a = p;
		int32_t n = kf_rd_array_len(d->rd, d->flex, wire_min(f->elem, d->flex));
		a->v = NULL;
		a->n = (n < 0 && !nullable) ? 0 : n;
		if (n > 0) {
			size_t es = kf_proto_type_size(f->elem, f->sub);
			a->v = kf_arena_alloc(d->arena, (size_t)n * es);
			if (!a->v) {
				dec_fail(d, KF_ENOMEM, "array");
				a->n = 0;
			}
			for (int32_t i = 0; i < n && kf_rd_ok(d->rd); i++)
				dec_value(d, f->elem, f->sub, (char *)a->v + (size_t)i * es);
		}
	}
out:
	if (!kf_rd_ok(d->rd) && !d->failed)
		d->failed = f->name;
}

static void dec_tags(struct dec *d, const struct kf_schema *s, void *obj)
{
	struct kf_rd *rd = d->rd;
	uint32_t n = kf_rd_uvarint(rd);
	if (n > kf_rd_left(rd) / 2) {
		dec_fail(d, KF_ESHORT, "tagged fields");
		return;
	}
	int64_t last = -1;
	for (uint32_t i = 0; i < n && kf_rd_ok(rd); i++) {
		uint32_t tag = kf_rd_uvarint(rd);
		uint32_t size = kf_rd_uvarint(rd);
		const uint8_t *b = kf_rd_raw(rd, size, "tagged field");
		if (!b)
			return;
		if ((int64_t)tag <= last) {
			dec_fail(d, KF_EPROTO, "tagged field order");
			return;
		}
		last = tag;
		const struct kf_field *f = NULL;
		for (uint16_t j = 0; j < s->nfields; j++)
			if (s->fields[j].tag == (int64_t)tag && field_in(&s->fields[j], d->ver))
				f = &s->fields[j];
		if (!f)
			continue; /* unknown tags are skipped */
		struct kf_rd sub;
		kf_rd_init(&sub, b, size);
		struct dec sd = *d;
		sd.rd = &sub;
		dec_field(&sd, f, obj);
		if (!kf_rd_ok(&sub)) {
			dec_fail(d, sub.err, sub.err_what);
			d->failed = sd.failed;
			return;
		}
	}
}

static void dec_struct(struct dec *d, const struct kf_schema *s, void *obj)
{
	for (uint16_t i = 0; i < s->nfields && kf_rd_ok(d->rd); i++) {
		const struct kf_field *f = &s->fields[i];
		if (!field_in(f, d->ver) || f->tag >= 0) {
			/* Absent in this version (or tagged and not sent): default. */
			void *p = (char *)obj + f->off;
			if (is_int(f->type))
				int_put(f->type, p, f->dflt);
			else if (f->type == KF_T_STRUCT)
				kf_proto_defaults(f->sub, p);
			else if (f->type == KF_T_BYTES || f->type == KF_T_RECORDS)
				((struct kf_bytes *)p)->len = -1;
			else if (f->type == KF_T_ARRAY)
				((struct kf_array *)p)->n = 0;
			else if (f->type == KF_T_NSTRUCT)
				*(void **)p = NULL;
			continue;
		}
		dec_field(d, f, obj);
	}
	if (d->flex && kf_rd_ok(d->rd))
		dec_tags(d, s, obj);
}

int kf_proto_decode(struct kf_rd *rd, const struct kf_schema *s, int16_t ver, bool flex,
		    struct kf_arena *arena, void *obj)
{
	struct dec d = { rd, arena, ver, flex, NULL };
	dec_struct(&d, s, obj);
	return rd->err;
}

int32_t kf_proto_peek_corr_id(const uint8_t *buf, size_t len)
{
	if (len < 4)
		return -1;
	return (int32_t)((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3]);
}

int kf_proto_decode_response(const uint8_t *buf, size_t len, const struct kf_api *api,
			     int16_t ver, struct kf_arena *arena, void *obj, int32_t *corr_id,
			     char *err, size_t errlen)
{
	struct kf_rd rd;
	kf_rd_init(&rd, buf, len);
	bool flex = kf_proto_flexible(api, ver);
	*corr_id = kf_rd_i32(&rd);
	if (kf_proto_resp_header_version(api, ver) == 1)
		kf_rd_skip_tags(&rd);
	struct dec d = { &rd, arena, ver, flex, NULL };
	if (kf_rd_ok(&rd))
		dec_struct(&d, api->resp, obj);
	else
		d.failed = "header";
	/* Trailing bytes are tolerated: a newer broker may know more than we
	 * asked for only in tagged fields, but a plain surplus is suspicious
	 * enough to be worth a debug line, not a failure. */
	if (rd.err && err)
		snprintf(err, errlen, "%s v%d response: %s reading %s (%s) at byte %zu of %zu",
			 api->name, ver, kf_strerror(rd.err), d.failed ? d.failed : "?",
			 rd.err_what ? rd.err_what : "?", rd.err_pos, len);
	return rd.err;
}

/* ------------------------------------------------------------ building */

static const struct kf_field *find_field(const struct kf_schema *s, const char *name);

const struct kf_schema *kf_proto_sub(const struct kf_schema *s, const char *field)
{
	const struct kf_field *f = find_field(s, field);
	return f ? f->sub : NULL;
}

void *kf_proto_array_new(const struct kf_schema *s, void *obj, const char *field, int32_t n,
			 struct kf_arena *arena)
{
	const struct kf_field *f = find_field(s, field);
	if (!f || f->type != KF_T_ARRAY || n < 0)
		return NULL;
	size_t es = kf_proto_type_size(f->elem, f->sub);
	void *v = kf_arena_alloc(arena, (size_t)(n ? n : 1) * es);
	if (!v)
		return NULL;
	if (f->elem == KF_T_STRUCT)
		for (int32_t i = 0; i < n; i++)
			kf_proto_defaults(f->sub, (char *)v + (size_t)i * es);
	struct kf_array *a = (struct kf_array *)((char *)obj + f->off);
	a->v = v;
	a->n = n;
	return v;
}

/* ------------------------------------------------------------ paths */

struct path_tok {
	char name[64];
	long index; /* -1 none */
	bool count; /* "Name#" */
};

/* Parse the next path element from *path; returns false on syntax error. */
static bool next_tok(const char **path, struct path_tok *t)
{
	const char *s = *path;
	size_t n = 0;
	while (*s && *s != '.' && *s != '[' && *s != '#') {
		if (n + 1 >= sizeof(t->name))
			return false;
		t->name[n++] = *s++;
	}
	t->name[n] = 0;
	t->index = -1;
	t->count = false;
	if (*s == '[') {
		char *end;
		errno = 0;
		t->index = strtol(s + 1, &end, 10);
		if (errno || end == s + 1 || *end != ']' || t->index < 0)
			return false;
		s = end + 1;
	} else if (*s == '#') {
		t->count = true;
		s++;
	}
	if (*s == '.')
		s++;
	else if (*s)
		return false;
	*path = s;
	return n > 0;
}

static const struct kf_field *find_field(const struct kf_schema *s, const char *name)
{
	for (uint16_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].name, name) == 0)
			return &s->fields[i];
	return NULL;
}

static void hex(char *out, size_t outlen, const uint8_t *p, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 3 <= outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%02x", p[i]);
	if (o < outlen)
		out[o] = 0;
}

static int fmt_value(uint8_t t, const void *p, char *out, size_t outlen)
{
	if (is_int(t)) {
		snprintf(out, outlen, "%" PRId64, int_get(t, p));
		return KF_OK;
	}
	switch (t) {
	case KF_T_F64: snprintf(out, outlen, "%g", *(const double *)p); return KF_OK;
	case KF_T_UUID: hex(out, outlen, p, 16); return KF_OK;
	case KF_T_STRING: {
		const char *s = *(const char *const *)p;
		snprintf(out, outlen, "%s", s ? s : "null");
		return KF_OK;
	}
	case KF_T_BYTES: case KF_T_RECORDS: {
		const struct kf_bytes *b = p;
		if (b->len < 0)
			snprintf(out, outlen, "null");
		else
			hex(out, outlen, b->p, (size_t)b->len);
		if (b->len == 0 && outlen)
			out[0] = 0;
		return KF_OK;
	}
	}
	return KF_EPROTO;
}

int kf_proto_get(const struct kf_schema *s, const void *obj, const char *path, char *out,
		 size_t outlen)
{
	struct path_tok t;
	while (next_tok(&path, &t)) {
		const struct kf_field *f = find_field(s, t.name);
		if (!f)
			return KF_EPROTO;
		const void *p = (const char *)obj + f->off;
		if (t.count) {
			if (f->type != KF_T_ARRAY || *path)
				return KF_EPROTO;
			snprintf(out, outlen, "%d", ((const struct kf_array *)p)->n);
			return KF_OK;
		}
		uint8_t type = f->type;
		if (t.index >= 0) {
			const struct kf_array *a = p;
			if (type != KF_T_ARRAY || t.index >= a->n)
				return KF_EPROTO;
			type = f->elem;
			p = (const char *)a->v + (size_t)t.index * kf_proto_type_size(type, f->sub);
		} else if (type == KF_T_ARRAY) {
			if (*path)
				return KF_EPROTO;
			const struct kf_array *a = p;
			if (a->n < 0)
				snprintf(out, outlen, "null");
			else
				snprintf(out, outlen, "[%d]", a->n);
			return KF_OK;
		}
		if (type == KF_T_NSTRUCT) {
			/* "null", or "{}" when present; a path into a null one fails */
			p = *(const void *const *)p;
			if (!*path) {
				snprintf(out, outlen, "%s", p ? "{}" : "null");
				return KF_OK;
			}
			if (!p)
				return KF_EPROTO;
			type = KF_T_STRUCT;
		}
		if (!*path)
			return fmt_value(type, p, out, outlen);
		if (type != KF_T_STRUCT)
			return KF_EPROTO;
		s = f->sub;
		obj = p;
	}
	return KF_EPROTO;
}

static int unhex(const char *v, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		if (sscanf(v + 2 * i, "%2x", &b) != 1)
			return KF_EPROTO;
		out[i] = (uint8_t)b;
	}
	return KF_OK;
}

static int parse_value(uint8_t t, void *p, struct kf_arena *arena, const char *v)
{
	if (is_int(t)) {
		char *end;
		errno = 0;
		long long x;
		if (strcmp(v, "true") == 0)
			x = 1;
		else if (strcmp(v, "false") == 0)
			x = 0;
		else {
			x = strtoll(v, &end, 0);
			if (errno || *end || end == v)
				return KF_EPROTO;
		}
		int_put(t, p, x);
		return KF_OK;
	}
	switch (t) {
	case KF_T_F64: *(double *)p = strtod(v, NULL); return KF_OK;
	case KF_T_UUID:
		if (strlen(v) != 32)
			return KF_EPROTO;
		return unhex(v, p, 16);
	case KF_T_STRING:
		*(char **)p = strcmp(v, "null") == 0 ? NULL : kf_arena_strndup(arena, v, strlen(v));
		return KF_OK;
	case KF_T_BYTES: case KF_T_RECORDS: {
		struct kf_bytes *b = p;
		if (strcmp(v, "null") == 0) {
			b->p = NULL;
			b->len = -1;
			return KF_OK;
		}
		size_t n = strlen(v);
		if (n % 2)
			return KF_EPROTO;
		uint8_t *d = kf_arena_alloc(arena, n / 2 + 1);
		if (!d || unhex(v, d, n / 2))
			return KF_EPROTO;
		b->p = d;
		b->len = (int32_t)(n / 2);
		return KF_OK;
	}
	}
	return KF_EPROTO;
}

/* Grow (never shrink) array a to at least n elements. */
static int grow(struct kf_array *a, const struct kf_field *f, struct kf_arena *arena, long n)
{
	if (a->n >= n)
		return KF_OK;
	size_t es = kf_proto_type_size(f->elem, f->sub);
	void *nv = kf_arena_alloc(arena, (size_t)n * es);
	if (!nv)
		return KF_ENOMEM;
	if (a->n > 0)
		memcpy(nv, a->v, (size_t)a->n * es);
	if (f->elem == KF_T_STRUCT)
		for (long i = a->n < 0 ? 0 : a->n; i < n; i++)
			kf_proto_defaults(f->sub, (char *)nv + (size_t)i * es);
	a->v = nv;
	a->n = (int32_t)n;
	return KF_OK;
}

int kf_proto_set(const struct kf_schema *s, void *obj, struct kf_arena *arena,
		 const char *path, const char *value)
{
	struct path_tok t;
	while (next_tok(&path, &t)) {
		const struct kf_field *f = find_field(s, t.name);
		if (!f)
			return KF_EPROTO;
		void *p = (char *)obj + f->off;
		if (t.count) {
			if (f->type != KF_T_ARRAY || *path)
				return KF_EPROTO;
			struct kf_array *a = p;
			long n = strtol(value, NULL, 10);
			if (n < 0) {
				a->n = -1;
				a->v = NULL;
				return KF_OK;
			}
			if (a->n < 0)
				a->n = 0;
			if (n < a->n)
				a->n = (int32_t)n;
			return grow(a, f, arena, n);
		}
		uint8_t type = f->type;
		if (t.index >= 0) {
			struct kf_array *a = p;
			if (type != KF_T_ARRAY || grow(a, f, arena, t.index + 1))
				return KF_EPROTO;
			type = f->elem;
			p = (char *)a->v + (size_t)t.index * kf_proto_type_size(type, f->sub);
		} else if (type == KF_T_ARRAY) {
			return KF_EPROTO;
		}
		if (type == KF_T_NSTRUCT) {
			/* "null" clears it; "{}" or a path into it makes it present */
			void **sp = p;
			if (!*path && strcmp(value, "null") == 0) {
				*sp = NULL;
				return KF_OK;
			}
			if (!*sp) {
				*sp = kf_arena_alloc(arena, f->sub->size);
				if (!*sp)
					return KF_ENOMEM;
				kf_proto_defaults(f->sub, *sp);
			}
			if (!*path)
				return strcmp(value, "{}") == 0 ? KF_OK : KF_EPROTO;
			p = *sp;
			type = KF_T_STRUCT;
		}
		if (!*path)
			return parse_value(type, p, arena, value);
		if (type != KF_T_STRUCT)
			return KF_EPROTO;
		s = f->sub;
		obj = p;
	}
	return KF_EPROTO;
}
