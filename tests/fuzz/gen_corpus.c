/*
 * gen_corpus: writes the seed corpora of the fuzz targets (`make
 * fuzz-corpus`), so the committed seeds are reproducible rather than
 * opaque blobs.
 *
 *	gen_corpus OUTDIR      writes OUTDIR/{response,request,batch,codec}/
 *
 * response, request: one message per API and version in the API table (proto_apis.c) (for
 * requests only the first, last and flexible-boundary versions), with every
 * field set to a non-default value and every array one element long, so
 * tagged fields and nested structures are present; Fetch's Records hold a
 * real record batch.  batch: RecordBatch v2 in every codec, a transaction
 * with its control batches, legacy v0/v1 message sets plain and wrapped.
 * codec: data compressed by each codec, in the framings Kafka clients write.
 * Every file starts with the selector bytes its target expects (see the
 * comment atop each fuzz_*.c).
 */
#include "config.h"

#include <errno.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "codec.h"
#include "crc32c.h"
#include "proto.h"
#include "proto_apis.h"
#include "proto_msgs.h"
#include "wire.h"

static const char *outdir;
static int nfiles;

static void die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s\n", what);
	exit(1);
}

static void write_seed(const char *target, const char *name, const uint8_t *sel, size_t nsel,
		       const uint8_t *p, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) == -1 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(sel, 1, nsel, f) != nsel || fwrite(p, 1, len, f) != len || fclose(f))
		die(path);
	nfiles++;
}

/* ------------------------------------------------------------ record batches */

struct rec {
	const char *key;   /* NULL: null key */
	const char *value; /* NULL: null value */
	int nheaders;      /* header i has key "h<i>", a null value when i is odd */
};

static const struct rec recs3[] = {
	{ "k0", "value zero", 0 },
	{ NULL, "value one, null key", 2 },
	{ "k2", NULL, 1 },
};

static void wr_varbytes(struct kf_wr *w, const char *s)
{
	if (!s) {
		kf_wr_varint(w, -1);
		return;
	}
	kf_wr_varint(w, (int32_t)strlen(s));
	kf_wr_raw(w, s, strlen(s));
}

/* The records section of a v2 batch: length-prefixed records. */
static void v2_records(struct kf_wr *w, const struct rec *r, int n)
{
	for (int i = 0; i < n; i++) {
		struct kf_wr body;
		kf_wr_init(&body);
		kf_wr_i8(&body, 0);           /* attributes */
		kf_wr_varlong(&body, i * 10); /* timestamp delta */
		kf_wr_varint(&body, i);       /* offset delta */
		wr_varbytes(&body, r[i].key);
		wr_varbytes(&body, r[i].value);
		kf_wr_varint(&body, r[i].nheaders);
		for (int h = 0; h < r[i].nheaders; h++) {
			char hk[16];
			snprintf(hk, sizeof(hk), "h%d", h);
			wr_varbytes(&body, hk);
			wr_varbytes(&body, h % 2 ? NULL : "hv");
		}
		kf_wr_varint(w, (int32_t)body.len);
		kf_wr_raw(w, body.buf, body.len);
		kf_wr_free(&body);
	}
}

struct v2 {
	int64_t base_offset;
	int codec;
	bool transactional;
	int control;        /* -1 no, else the control type */
	int64_t producer_id;
	const struct rec *recs;
	int nrecs;
};

static void v2_batch(struct kf_wr *w, const struct v2 *b)
{
	struct kf_wr recs;
	struct kf_codec_buf packed = { 0 };
	int n = b->nrecs;
	kf_wr_init(&recs);
	if (b->control >= 0) {
		/* key: version, type; value: version, coordinator epoch */
		kf_wr_varint(&recs, 1 + 1 + 1 + 1 + 4 + 1 + 6 + 1);
		kf_wr_i8(&recs, 0);
		kf_wr_varlong(&recs, 0);
		kf_wr_varint(&recs, 0);
		kf_wr_varint(&recs, 4);
		kf_wr_i16(&recs, 0);
		kf_wr_i16(&recs, (int16_t)b->control);
		kf_wr_varint(&recs, 6);
		kf_wr_i16(&recs, 0);
		kf_wr_i32(&recs, 3);
		kf_wr_varint(&recs, 0);
		n = 1;
	} else {
		v2_records(&recs, b->recs, n);
	}
	const uint8_t *rp = recs.buf;
	size_t rlen = recs.len;
	if (b->codec != KF_CODEC_NONE) {
		if (kf_compress(b->codec, recs.buf, recs.len, &packed) != KF_OK)
			die("kf_compress");
		rp = packed.p;
		rlen = packed.len;
	}
	int16_t attrs = (int16_t)(b->codec | (b->transactional ? 0x10 : 0) |
				  (b->control >= 0 ? 0x20 : 0));
	kf_wr_i64(w, b->base_offset);
	size_t len_off = kf_wr_i32(w, 0);
	kf_wr_i32(w, 0);  /* partition leader epoch */
	kf_wr_i8(w, 2);   /* magic */
	size_t crc_off = kf_wr_i32(w, 0);
	kf_wr_i16(w, attrs);
	kf_wr_i32(w, n - 1);
	kf_wr_i64(w, 1700000000000);
	kf_wr_i64(w, 1700000000000 + (n - 1) * 10);
	kf_wr_i64(w, b->producer_id);
	kf_wr_i16(w, b->producer_id >= 0 ? 1 : -1);
	kf_wr_i32(w, b->producer_id >= 0 ? 0 : -1);
	kf_wr_i32(w, n);
	kf_wr_raw(w, rp, rlen);
	if (!kf_wr_ok(w))
		die("out of memory");
	kf_wr_patch_i32(w, len_off, (int32_t)(w->len - len_off - 4));
	kf_wr_patch_i32(w, crc_off, (int32_t)kf_crc32c(0, w->buf + crc_off + 4,
						       w->len - crc_off - 4));
	kf_codec_buf_free(&packed);
	kf_wr_free(&recs);
}

/* A legacy message; the CRC-32 covers magic to the end. */
static void legacy_msg(struct kf_wr *w, int magic, int64_t offset, int codec, const char *key,
		       const uint8_t *value, int32_t vlen)
{
	kf_wr_i64(w, offset);
	size_t size_off = kf_wr_i32(w, 0);
	size_t crc_off = kf_wr_i32(w, 0);
	kf_wr_i8(w, (int8_t)magic);
	kf_wr_i8(w, (int8_t)codec);
	if (magic == 1)
		kf_wr_i64(w, 1600000000000 + offset);
	kf_wr_bytes(w, key, key ? (int32_t)strlen(key) : -1);
	kf_wr_bytes(w, value, vlen);
	if (!kf_wr_ok(w))
		die("out of memory");
	kf_wr_patch_i32(w, size_off, (int32_t)(w->len - size_off - 4));
	kf_wr_patch_i32(w, crc_off, (int32_t)kf_crc32(0, w->buf + crc_off + 4,
						      w->len - crc_off - 4));
}

static void legacy_plain(struct kf_wr *w, int magic, int64_t base, int n)
{
	for (int i = 0; i < n; i++) {
		char v[32];
		snprintf(v, sizeof(v), "legacy v%d #%d", magic, i);
		legacy_msg(w, magic, base + i, 0, i % 2 ? NULL : "key", (const uint8_t *)v,
			   (int32_t)strlen(v));
	}
}

/* A compressed wrapper: v1 inner offsets are relative and the wrapper
 * carries the last inner offset; v0 inner offsets are absolute. */
static void legacy_wrapped(struct kf_wr *w, int magic, int codec, int64_t base, int n)
{
	struct kf_wr inner;
	struct kf_codec_buf packed = { 0 };
	kf_wr_init(&inner);
	legacy_plain(&inner, magic, magic == 1 ? 0 : base, n);
	if (kf_compress(codec, inner.buf, inner.len, &packed) != KF_OK)
		die("kf_compress");
	legacy_msg(w, magic, base + n - 1, codec, NULL, packed.p, (int32_t)packed.len);
	kf_codec_buf_free(&packed);
	kf_wr_free(&inner);
}

/* Selector bytes of fuzz_batch: options, then the aborted transactions. */
static void batch_seed(const char *name, uint8_t opts, const uint8_t *aborted, int naborted,
		       const struct kf_wr *w)
{
	uint8_t sel[2 + 6];
	sel[0] = opts;
	sel[1] = (uint8_t)naborted;
	memcpy(sel + 2, aborted, 2 * (size_t)naborted);
	write_seed("batch", name, sel, 2 + 2 * (size_t)naborted, w->buf, w->len);
}

#define OPT_CRC 1
#define OPT_BIG 2
#define OPT_FETCH(o) ((uint8_t)((o) << 2))

static void gen_batches(void)
{
	static const char *const cname[] = { "none", "gzip", "snappy", "lz4", "zstd" };
	struct kf_wr w;
	char name[64];

	for (int c = KF_CODEC_NONE; c <= KF_CODEC_ZSTD; c++) {
		kf_wr_init(&w);
		v2_batch(&w, &(struct v2){ 0, c, false, -1, -1, recs3, 3 });
		snprintf(name, sizeof(name), "v2-%s", cname[c]);
		batch_seed(name, OPT_CRC | OPT_BIG, NULL, 0, &w);
		kf_wr_free(&w);
	}

	/* Three batches, the last cut off as at a Fetch size limit; read from
	 * offset 4, inside the second. */
	kf_wr_init(&w);
	v2_batch(&w, &(struct v2){ 0, KF_CODEC_NONE, false, -1, -1, recs3, 3 });
	v2_batch(&w, &(struct v2){ 3, KF_CODEC_LZ4, false, -1, -1, recs3, 2 });
	size_t cut = w.len;
	v2_batch(&w, &(struct v2){ 5, KF_CODEC_NONE, false, -1, -1, recs3, 3 });
	w.len = cut + 30;
	batch_seed("v2-partial", OPT_CRC | OPT_BIG | OPT_FETCH(4), NULL, 0, &w);
	kf_wr_free(&w);

	/* read_committed: producer 7 aborts, producer 8 commits. */
	static const uint8_t aborted[] = { 7, 10 };
	kf_wr_init(&w);
	v2_batch(&w, &(struct v2){ 10, KF_CODEC_NONE, true, -1, 7, recs3, 2 });
	v2_batch(&w, &(struct v2){ 12, KF_CODEC_NONE, true, -1, 8, recs3, 1 });
	v2_batch(&w, &(struct v2){ 13, KF_CODEC_NONE, true, 0, 7, NULL, 0 });
	v2_batch(&w, &(struct v2){ 14, KF_CODEC_ZSTD, true, -1, 8, recs3, 3 });
	v2_batch(&w, &(struct v2){ 17, KF_CODEC_NONE, true, 1, 8, NULL, 0 });
	v2_batch(&w, &(struct v2){ 18, KF_CODEC_NONE, false, -1, -1, recs3, 1 });
	batch_seed("v2-txn", OPT_CRC | OPT_BIG | OPT_FETCH(11), aborted, 1, &w);
	kf_wr_free(&w);

	/* Over a 512-byte decompression limit. */
	static const struct rec big[] = {
		{ "big", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	};
	const struct rec bigs[] = { big[0], big[0], big[0], big[0], big[0], big[0] };
	kf_wr_init(&w);
	v2_batch(&w, &(struct v2){ 0, KF_CODEC_GZIP, false, -1, -1, bigs, 6 });
	batch_seed("v2-gzip-over-limit", OPT_CRC, NULL, 0, &w);
	kf_wr_free(&w);

	/* A bad CRC, read with and without verification. */
	kf_wr_init(&w);
	v2_batch(&w, &(struct v2){ 0, KF_CODEC_NONE, false, -1, -1, recs3, 3 });
	w.buf[w.len - 1] ^= 1;
	batch_seed("v2-badcrc-verify", OPT_CRC | OPT_BIG, NULL, 0, &w);
	batch_seed("v2-badcrc-noverify", OPT_BIG, NULL, 0, &w);
	kf_wr_free(&w);

	for (int magic = 0; magic <= 1; magic++) {
		kf_wr_init(&w);
		legacy_plain(&w, magic, 5, 3);
		snprintf(name, sizeof(name), "v%d-plain", magic);
		batch_seed(name, OPT_CRC | OPT_BIG | OPT_FETCH(6), NULL, 0, &w);
		kf_wr_free(&w);
		for (int c = KF_CODEC_GZIP; c <= KF_CODEC_LZ4; c++) {
			kf_wr_init(&w);
			legacy_wrapped(&w, magic, c, 20, 4);
			legacy_wrapped(&w, magic, c, 24, 2);
			snprintf(name, sizeof(name), "v%d-%s", magic, cname[c]);
			batch_seed(name, OPT_CRC | OPT_BIG | OPT_FETCH(21), NULL, 0, &w);
			kf_wr_free(&w);
		}
	}

	/* After a message format upgrade a partition holds both. */
	kf_wr_init(&w);
	legacy_plain(&w, 1, 0, 2);
	v2_batch(&w, &(struct v2){ 2, KF_CODEC_SNAPPY, false, -1, -1, recs3, 3 });
	batch_seed("mixed-v1-v2", OPT_CRC | OPT_BIG, NULL, 0, &w);
	kf_wr_free(&w);
}

/* ------------------------------------------------------------ codecs */

static void codec_seed(const char *name, int codec, const void *p, size_t len)
{
	uint8_t sel = (uint8_t)codec;
	write_seed("codec", name, &sel, 1, p, len);
}

static void gen_codecs(void)
{
	static const char *const cname[] = { "none", "gzip", "snappy", "lz4", "zstd" };
	size_t tlen = 40 << 10;
	char *text = malloc(tlen);
	if (!text)
		die("out of memory");
	for (size_t o = 0, i = 0; o < tlen; i++)
		o += (size_t)snprintf(text + o, tlen - o, "record %zu value %zu; ", i, i * i % 977);
	char name[64];

	/* 1 KiB through kf_compress; snappy beyond 32 KiB needs two chunks. */
	for (int c = KF_CODEC_NONE; c <= KF_CODEC_ZSTD; c++) {
		struct kf_codec_buf b = { 0 };
		size_t n = c == KF_CODEC_SNAPPY ? tlen - 1 : 1024;
		if (kf_compress(c, (const uint8_t *)text, n, &b) != KF_OK)
			die("kf_compress");
		snprintf(name, sizeof(name), "%s", cname[c]);
		codec_seed(name, c, b.p, b.len);
		kf_codec_buf_free(&b);
		if (kf_compress(c, (const uint8_t *)"", 0, &b) != KF_OK)
			die("kf_compress");
		snprintf(name, sizeof(name), "%s-empty", cname[c]);
		codec_seed(name, c, b.p, b.len);
		kf_codec_buf_free(&b);
	}

	/* One raw snappy block, as some non-Java producers send. */
	size_t slen = snappy_max_compressed_length(1024);
	char *s = malloc(slen);
	if (!s || snappy_compress(text, 1024, s, &slen) != SNAPPY_OK)
		die("snappy_compress");
	codec_seed("snappy-raw", KF_CODEC_SNAPPY, s, slen);
	free(s);

	/* An LZ4 frame with content size and block and content checksums. */
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.contentSize = 1024;
	prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	size_t llen = LZ4F_compressFrameBound(1024, &prefs);
	char *l = malloc(llen);
	if (!l)
		die("out of memory");
	llen = LZ4F_compressFrame(l, llen, text, 1024, &prefs);
	if (LZ4F_isError(llen))
		die("LZ4F_compressFrame");
	codec_seed("lz4-checksums", KF_CODEC_LZ4, l, llen);
	free(l);

	/* A zstd frame that states its content size (single-shot API). */
	size_t zlen = ZSTD_compressBound(1024);
	char *z = malloc(zlen);
	if (!z)
		die("out of memory");
	zlen = ZSTD_compress(z, zlen, text, 1024, 3);
	if (ZSTD_isError(zlen))
		die("ZSTD_compress");
	codec_seed("zstd-sized", KF_CODEC_ZSTD, z, zlen);
	free(z);
	free(text);
}

/* ------------------------------------------------------------ messages */

struct filler {
	struct kf_arena *arena;
	struct kf_wr records; /* a record batch for every RECORDS field */
	int seq;              /* makes values differ from field to field */
};

static void fill_struct(struct filler *fl, const struct kf_schema *s, void *obj);

static void fill_value(struct filler *fl, uint8_t t, const struct kf_schema *sub, void *p)
{
	int v = ++fl->seq % 100 + 1;
	switch (t) {
	case KF_T_BOOL: *(int8_t *)p = 1; break;
	case KF_T_I8: *(int8_t *)p = (int8_t)v; break;
	case KF_T_I16: *(int16_t *)p = (int16_t)v; break;
	case KF_T_U16: *(uint16_t *)p = (uint16_t)v; break;
	case KF_T_I32: *(int32_t *)p = v; break;
	case KF_T_U32: *(uint32_t *)p = (uint32_t)v; break;
	case KF_T_I64: *(int64_t *)p = v; break;
	case KF_T_F64: *(double *)p = v / 4.0; break;
	case KF_T_UUID: memset(p, v, sizeof(struct kf_uuid)); break;
	case KF_T_STRING: {
		char str[16];
		snprintf(str, sizeof(str), "s%d", v);
		*(char **)p = kf_arena_strndup(fl->arena, str, strlen(str));
		break;
	}
	case KF_T_BYTES: {
		struct kf_bytes *b = p;
		b->p = (const uint8_t *)"\x00\x01\x02";
		b->len = 3;
		break;
	}
	case KF_T_RECORDS: {
		struct kf_bytes *b = p;
		b->p = fl->records.buf;
		b->len = (int32_t)fl->records.len;
		break;
	}
	case KF_T_STRUCT: fill_struct(fl, sub, p); break;
	case KF_T_NSTRUCT:
		*(void **)p = kf_arena_alloc(fl->arena, sub->size);
		if (!*(void **)p)
			die("out of memory");
		fill_struct(fl, sub, *(void **)p);
		break;
	}
}

static void fill_struct(struct filler *fl, const struct kf_schema *s, void *obj)
{
	kf_proto_defaults(s, obj);
	for (uint16_t i = 0; i < s->nfields; i++) {
		const struct kf_field *f = &s->fields[i];
		void *p = (char *)obj + f->off;
		if (f->type != KF_T_ARRAY) {
			fill_value(fl, f->type, f->sub, p);
			continue;
		}
		struct kf_array *a = p;
		size_t es = kf_proto_type_size(f->elem, f->sub);
		a->v = kf_arena_alloc(fl->arena, es);
		if (!a->v)
			die("out of memory");
		a->n = 1;
		fill_value(fl, f->elem, f->sub, a->v);
	}
}

/* Encode schema s filled in, with an optional response header. */
static void gen_message(const char *target, const struct kf_api *api, int16_t ver,
			const struct kf_schema *s, bool resp_header, struct filler *fl)
{
	struct kf_arena arena;
	struct kf_wr w;
	bool flex = kf_proto_flexible(api, ver);
	void *obj = calloc(1, s->size);
	if (!obj)
		die("out of memory");
	kf_arena_init(&arena);
	kf_wr_init(&w);
	fl->arena = &arena;
	fl->seq = 0;
	fill_struct(fl, s, obj);
	if (resp_header) {
		kf_wr_i32(&w, 1); /* correlation id */
		if (kf_proto_resp_header_version(api, ver) == 1)
			kf_wr_uvarint(&w, 0);
	}
	if (kf_proto_encode(&w, s, ver, flex, obj) != KF_OK)
		die("kf_proto_encode");
	char name[64];
	snprintf(name, sizeof(name), "%s-v%d", api->name, ver);
	uint8_t sel[2] = { (uint8_t)api->key, (uint8_t)ver };
	write_seed(target, name, sel, 2, w.buf, w.len);
	kf_wr_free(&w);
	kf_arena_free(&arena);
	free(obj);
}

static void gen_messages(void)
{
	struct filler fl;
	kf_wr_init(&fl.records);
	v2_batch(&fl.records, &(struct v2){ 0, KF_CODEC_NONE, false, -1, -1, recs3, 3 });

	size_t n;
	const struct kf_api *const *apis = kf_proto_apis(&n);
	for (size_t i = 0; i < n; i++) {
		const struct kf_api *api = apis[i];
		for (int16_t v = api->vmin; v <= api->vmax; v++) {
			gen_message("response", api, v, api->resp, true, &fl);
			if (v == api->vmin || v == api->vmax || v == api->flex_min ||
			    v == api->flex_min - 1)
				gen_message("request", api, v, api->req, false, &fl);
		}
	}
	kf_wr_free(&fl.records);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) == -1 && errno != EEXIST)
		die(outdir);
	gen_messages();
	gen_batches();
	gen_codecs();
	printf("gen_corpus: %d files in %s\n", nfiles, outdir);
	return 0;
}
