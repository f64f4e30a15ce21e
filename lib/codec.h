/*
 * codec: the compression codecs of Kafka record batches.
 *
 * Kafka's framings, not the libraries' defaults:
 *   gzip    RFC 1952 gzip stream (zlib inflate with gzip header).
 *   snappy  either xerial framing (magic "\x82SNAPPY\0", version, compat,
 *           then [int32 BE length][raw snappy block]...), as the Java client
 *           writes it, or one raw snappy block; told apart by the magic.
 *   lz4     the LZ4 frame format (magic 0x184D2204) with Kafka's quirk: magic
 *           v0 batches may carry the "broken" header checksum older clients
 *           computed over the magic too; both are accepted.  Block and
 *           content checksums (XXH32) are verified when present.
 *   zstd    a zstd frame, decoded by streaming: the content size may be
 *           unknown.
 *
 * Decompression writes into a caller-owned, reusable buffer and never grows
 * it past max_out: a decompression bomb is KF_ETOOBIG, not an OOM.  (Exact
 * bound on out->cap: max_out for snappy and none, max_out + 1 for gzip and
 * zstd, max_out + the frame's block size (64 KiB..4 MiB) for lz4; a buffer
 * that was already bigger is kept, not shrunk.)
 *
 * Also accepted, as the Java consumer does: concatenated gzip members,
 * concatenated zstd frames (and skippable frames), concatenated lz4 frames,
 * concatenated xerial streams, lz4 frames with linked (dependent) blocks.
 * Rejected: anything after the last member/frame (KF_EPROTO), empty input
 * for every codec but none (KF_EPROTO), lz4 dictionary ids and frame
 * versions other than 1 (KF_EUNSUPP).  A xerial stream cut between two
 * chunks is a valid shorter stream: only the batch's own CRC catches that.
 */
#ifndef KF_CODEC_H
#define KF_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum kf_codec {
	KF_CODEC_NONE = 0,
	KF_CODEC_GZIP = 1,
	KF_CODEC_SNAPPY = 2,
	KF_CODEC_LZ4 = 3,
	KF_CODEC_ZSTD = 4,
};

/* "none", "gzip", "snappy", "lz4", "zstd"; "?" for anything else. */
const char *kf_codec_name(int codec);
/* The codec named name, or -1. */
int kf_codec_by_name(const char *name);

/* A growable output buffer; zero-initialise, reuse, kf_codec_buf_free. */
struct kf_codec_buf {
	uint8_t *p;
	size_t len; /* bytes of output */
	size_t cap; /* bytes allocated */
};
void kf_codec_buf_free(struct kf_codec_buf *b);

/*
 * Decompress in[0..in_len) into out (out->len is reset first).  Returns
 * KF_OK; KF_ETOOBIG when the output would exceed max_out bytes; KF_EPROTO
 * (or KF_ECRC for an LZ4 checksum) for corrupt input; KF_EUNSUPP for an
 * unknown codec; KF_ENOMEM.  On error, errbuf (when not NULL) gets a short
 * reason such as "lz4: block checksum mismatch" (always "<codec>: ...",
 * "codec: ..." for an unknown codec), and out->len is unspecified.
 * Thread-safe: zstd keeps one decoder context per thread, freed when the
 * thread exits.
 */
int kf_decompress(int codec, const uint8_t *in, size_t in_len, size_t max_out,
		  struct kf_codec_buf *out, char *errbuf, size_t errlen);

/*
 * Compress in into out (reset first) in the framing the Java producer writes
 * (xerial for snappy, the LZ4 frame with a correct header checksum).  For
 * tests, benchmarks and tools; kforkd itself only decompresses.  Framings:
 * gzip at zlib's default level; snappy xerial with 32 KiB chunks; lz4 FLG
 * 0x60 BD 0x40 (64 KiB independent blocks, no checksums, no content size,
 * incompressible blocks stored raw), as KafkaLZ4BlockOutputStream writes;
 * zstd level 3 without a content size, as zstd-jni's stream writes.
 * Returns KF_OK, KF_ENOMEM, KF_EUNSUPP or KF_ERR.
 */
int kf_compress(int codec, const uint8_t *in, size_t in_len, struct kf_codec_buf *out);

#endif
