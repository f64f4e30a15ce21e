/*
 * bench_batch: record batch decode throughput beside the raw codec.
 *
 * For each codec and record size it builds 16 batches of 1000 records
 * (tests/unit/batch_build.c's kfb_pattern: key "k<offset>", value
 * "TOPIC/PART/OFFSET " repeated to the record size with 10% of its bytes
 * replaced by random ones, so the codecs compress about 3-6x rather than
 * absurdly), then times
 *   decode  kf_batch_next + kf_batch_record_next over every record, CRC-32C
 *           verified, touching each record's value length;
 *   raw     the codec library alone on the same compressed records sections
 *           (ZSTD_decompressStream, LZ4_decompress_safe per frame block,
 *           snappy_uncompress per xerial chunk, inflate), or memcpy of the
 *           batches for "none";
 * best of 7 runs of about 0.05 s of CPU time each, decode and raw
 * alternating.  MB/s counts decompressed record
 * bytes (the records sections as they are before compression).  It only
 * prints; nothing here passes or fails.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "batch.h"
#include "batch_build.h"
#include "codec.h"

#define NBATCH 16
#define NREC 1000
#define RUNS 7
#define V2_HEADER 61

struct input {
	struct kf_wr w;
	size_t at[NBATCH + 1]; /* batch starts, and the end */
	size_t raw_bytes;      /* uncompressed records sections */
	uint8_t *out;          /* scratch for the raw decoders */
	size_t out_cap;
};

static double now(void)
{
	struct timespec ts;
	/* CPU time, not wall time: on a shared machine being descheduled is
	 * the largest noise, and this is single-threaded work. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void build(struct input *in, int codec, size_t value_size)
{
	struct kf_wr plain;
	uint32_t seed = 42, pseed = 42;

	kf_wr_init(&in->w);
	kf_wr_init(&plain);
	for (int i = 0; i < NBATCH; i++) {
		in->at[i] = kfb_pattern(&in->w, codec, (int64_t)i * NREC, NREC, value_size,
					"bench", 0, 10, &seed);
		if (in->at[i] == (size_t)-1) {
			fprintf(stderr, "bench_batch: cannot build a %s batch\n",
				kf_codec_name(codec));
			exit(1);
		}
		/* The same content uncompressed, for the byte count. */
		kfb_pattern(&plain, KF_CODEC_NONE, (int64_t)i * NREC, NREC, value_size, "bench", 0,
			    10, &pseed);
	}
	in->at[NBATCH] = in->w.len;
	in->raw_bytes = plain.len - NBATCH * V2_HEADER;
	in->out_cap = plain.len;
	in->out = malloc(in->out_cap);
	kf_wr_free(&plain);
}

/* One pass of the real decode; returns the records seen. */
static long decode_pass(struct kf_batch_iter *it, const struct input *in)
{
	struct kf_batch b;
	struct kf_record r;
	long n = 0, sum = 0;
	int rc;

	kf_batch_iter_reset(it, in->w.buf, in->w.len, 0);
	while ((rc = kf_batch_next(it, &b)) == 1) {
		while ((rc = kf_batch_record_next(it, &r)) == 1) {
			sum += r.value_len;
			n++;
		}
		if (rc < 0)
			break;
	}
	if (rc < 0 || sum == 0) {
		fprintf(stderr, "bench_batch: decode failed: %s\n", kf_batch_iter_error(it));
		exit(1);
	}
	return n;
}

static size_t raw_zstd(ZSTD_DCtx *d, const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	ZSTD_inBuffer ib = { p, len, 0 };
	ZSTD_outBuffer ob = { out, cap, 0 };
	ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
	while (ib.pos < ib.size) {
		size_t ret = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(ret))
			return 0;
		if (ret == 0)
			break;
	}
	return ob.pos;
}

/* Kafka's LZ4 frame as kf_compress writes it (FLG 0x60: no checksums). */
static size_t raw_lz4(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	size_t pos = 7, o = 0;
	while (pos + 4 <= len) {
		uint32_t bs = le32(p + pos);
		pos += 4;
		if (bs == 0)
			break;
		if (bs & 0x80000000u) {
			bs &= 0x7fffffffu;
			memcpy(out + o, p + pos, bs);
			o += bs;
		} else {
			int n = LZ4_decompress_safe((const char *)p + pos, (char *)out + o, (int)bs,
						    (int)(cap - o));
			if (n < 0)
				return 0;
			o += (size_t)n;
		}
		pos += bs;
	}
	return o;
}

static size_t raw_snappy(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	size_t pos = 16, o = 0;
	while (pos + 4 <= len) {
		size_t clen = be32(p + pos), n = cap - o;
		pos += 4;
		const char *in = (const char *)p + pos;
		if (snappy_uncompress(in, clen, (char *)out + o, &n) != SNAPPY_OK)
			return 0;
		o += n;
		pos += clen;
	}
	return o;
}

static size_t raw_gzip(z_stream *z, const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	inflateReset(z);
	z->next_in = (Bytef *)p;
	z->avail_in = (uInt)len;
	z->next_out = out;
	z->avail_out = (uInt)cap;
	if (inflate(z, Z_FINISH) != Z_STREAM_END)
		return 0;
	return cap - z->avail_out;
}

/* One pass of the raw codec over every batch's records section. */
static size_t raw_pass(int codec, struct input *in, ZSTD_DCtx *zd, z_stream *z)
{
	size_t total = 0;
	for (int i = 0; i < NBATCH; i++) {
		const uint8_t *b = in->w.buf + in->at[i];
		size_t blen = in->at[i + 1] - in->at[i];
		const uint8_t *p = b + V2_HEADER;
		size_t len = blen - V2_HEADER;
		switch (codec) {
		case KF_CODEC_NONE:
			memcpy(in->out + total, b, blen);
			total += blen - V2_HEADER;
			continue;
		case KF_CODEC_ZSTD:
			total += raw_zstd(zd, p, len, in->out, in->out_cap);
			break;
		case KF_CODEC_LZ4:
			total += raw_lz4(p, len, in->out, in->out_cap);
			break;
		case KF_CODEC_SNAPPY:
			total += raw_snappy(p, len, in->out, in->out_cap);
			break;
		case KF_CODEC_GZIP:
			total += raw_gzip(z, p, len, in->out, in->out_cap);
			break;
		}
	}
	/* Keep the compiler from dropping the copies. */
	__asm__ volatile("" : : "r"(in->out) : "memory");
	return total;
}

/* Passes per run so that one run lasts about 0.05 s. */
static int calibrate(double one_pass)
{
	int n = (int)(0.05 / (one_pass > 1e-7 ? one_pass : 1e-7));
	return n < 1 ? 1 : n;
}

static void bench(int codec, size_t value_size, bool verify_crc)
{
	struct input in;
	struct kf_batch_iter it;
	struct kf_batch_opts opts = { .verify_crc = verify_crc, .max_decompressed = 64 << 20 };
	ZSTD_DCtx *zd = ZSTD_createDCtx();
	z_stream z;
	double t, best_dec = 1e9, best_raw = 1e9;
	long nrec = 0;

	memset(&z, 0, sizeof(z));
	inflateInit2(&z, 16 + MAX_WBITS);
	build(&in, codec, value_size);
	kf_batch_iter_init(&it, &opts);

	t = now();
	nrec = decode_pass(&it, &in);
	int dec_passes = calibrate(now() - t);
	t = now();
	size_t got = raw_pass(codec, &in, zd, &z);
	if (got != in.raw_bytes) {
		fprintf(stderr, "bench_batch: raw %s gave %zu bytes, want %zu\n",
			kf_codec_name(codec), got, in.raw_bytes);
		exit(1);
	}
	int raw_passes = calibrate(now() - t);
	/* Alternate the two so a burst of load elsewhere hits both alike. */
	for (int run = 0; run < RUNS; run++) {
		t = now();
		for (int i = 0; i < dec_passes; i++)
			decode_pass(&it, &in);
		t = (now() - t) / dec_passes;
		if (t < best_dec)
			best_dec = t;
		t = now();
		for (int i = 0; i < raw_passes; i++)
			raw_pass(codec, &in, zd, &z);
		t = (now() - t) / raw_passes;
		if (t < best_raw)
			best_raw = t;
	}

	printf("%-6s%c %5zu B  %5.2fx  %7.2f M rec/s %8.1f MB/s   %-7s %8.1f MB/s   %5.2f\n",
	       kf_codec_name(codec), verify_crc ? ' ' : '*', value_size,
	       (double)in.raw_bytes / (double)in.w.len,
	       nrec / best_dec / 1e6, in.raw_bytes / best_dec / 1e6,
	       codec == KF_CODEC_NONE ? "memcpy" : "raw", in.raw_bytes / best_raw / 1e6,
	       best_dec / best_raw);
	kf_batch_iter_free(&it);
	kf_wr_free(&in.w);
	free(in.out);
	ZSTD_freeDCtx(zd);
	inflateEnd(&z);
}

/* bench_batch [CODEC [SIZE [nocrc]]]: all, or only the named codec and
 * value size (optionally without CRC verification, to see what it costs). */
int main(int argc, char **argv)
{
	static const int codecs[] = { KF_CODEC_NONE, KF_CODEC_LZ4, KF_CODEC_ZSTD, KF_CODEC_SNAPPY,
				      KF_CODEC_GZIP };
	static const size_t sizes[] = { 100, 1024 };
	bool crc = !(argc > 3 && strcmp(argv[3], "nocrc") == 0);

	printf("bench_batch: %d batches x %d records, CRC-32C verified (none*: not), best of %d\n",
	       NBATCH, NREC, RUNS);
	printf("codec   value   ratio     decode                     reference            "
	       "decode/ref time\n");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		if (argc > 2 && (size_t)atoi(argv[2]) != sizes[s])
			continue;
		for (size_t c = 0; c < sizeof(codecs) / sizeof(codecs[0]); c++)
			if (argc < 2 || kf_codec_by_name(argv[1]) == codecs[c])
				bench(codecs[c], sizes[s], crc);
		/* The record loop alone, without the CRC pass. */
		if (argc < 2)
			bench(KF_CODEC_NONE, sizes[s], false);
	}
	return 0;
}
