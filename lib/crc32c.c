/*
 * crc32c: CRC-32C (Castagnoli) in software and with SSE4.2, and CRC-32 via
 * zlib.
 *
 * The software variant is slicing-by-8: eight 256-entry tables built once
 * (pthread_once), eight input bytes per step.  The hardware variant is the
 * SSE4.2 crc32 instruction, compiled with a target attribute so the rest of
 * the library needs no -msse4.2 and still runs on CPUs without it; which one
 * kf_crc32c() uses is decided on first call and cached.
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <zlib.h>

#include "crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* Castagnoli polynomial 0x1EDC6F41, bit-reflected. */
#define CRC32C_POLY 0x82f63b78u

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_table_once = PTHREAD_ONCE_INIT;

/*
 * table[0] is the classic byte-at-a-time table; table[k][b] is the CRC of
 * byte b followed by k zero bytes, so eight lookups advance eight bytes.
 */
static void crc32c_table_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int i = 0; i < 8; i++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc32c_table[0][b] = c;
	}
	for (int k = 1; k < 8; k++)
		for (int b = 0; b < 256; b++) {
			uint32_t c = crc32c_table[k - 1][b];
			crc32c_table[k][b] = (c >> 8) ^ crc32c_table[0][c & 0xff];
		}
}

/* Little-endian load independent of host byte order and alignment. */
static inline uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

uint32_t kf_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint32_t (*t)[256] = (const uint32_t (*)[256])crc32c_table;
	const uint8_t *p = buf;

	pthread_once(&crc32c_table_once, crc32c_table_init);
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = load_le32(p) ^ crc;
		uint32_t hi = load_le32(p + 4);
		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
		      t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
		      t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
		      t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
/*
 * The crc32 instruction has a latency of 3 cycles but a throughput of one
 * per cycle, so three independent streams over three adjacent blocks run
 * about three times as fast as one.  The three partial CRCs are then joined
 * with the CRC's linearity: the register after A||B equals the register
 * after A, advanced over |B| zero bytes, xor the register after B started
 * from 0.  Advancing over a fixed STRIDE of zeros is a linear map on 32 bits,
 * applied with four table lookups (shift_table, built once).
 */
#define STRIDE 1024

static uint32_t shift_table[4][256];
static pthread_once_t shift_table_once = PTHREAD_ONCE_INIT;

/* The register after STRIDE zero bytes, from state c (bitwise, slow). */
static uint32_t shift_slow(uint32_t c)
{
	for (int i = 0; i < STRIDE * 8; i++)
		c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
	return c;
}

static void shift_table_init(void)
{
	uint32_t basis[32];
	for (int i = 0; i < 32; i++)
		basis[i] = shift_slow(1u << i);
	for (int k = 0; k < 4; k++)
		for (uint32_t b = 0; b < 256; b++) {
			uint32_t v = 0;
			for (int i = 0; i < 8; i++)
				if (b & (1u << i))
					v ^= basis[8 * k + i];
			shift_table[k][b] = v;
		}
}

static inline uint32_t shift_stride(uint32_t c)
{
	return shift_table[0][c & 0xff] ^ shift_table[1][(c >> 8) & 0xff] ^
	       shift_table[2][(c >> 16) & 0xff] ^ shift_table[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	if (len >= 3 * STRIDE)
		pthread_once(&shift_table_once, shift_table_init);
	while (len >= 3 * STRIDE) {
		uint64_t c1 = 0, c2 = 0;
		for (size_t i = 0; i < STRIDE; i += 8) {
			uint64_t w0, w1, w2;
			memcpy(&w0, p + i, 8);
			memcpy(&w1, p + STRIDE + i, 8);
			memcpy(&w2, p + 2 * STRIDE + i, 8);
			c = _mm_crc32_u64(c, w0);
			c1 = _mm_crc32_u64(c1, w1);
			c2 = _mm_crc32_u64(c2, w2);
		}
		c = shift_stride((uint32_t)c) ^ (uint32_t)c1;
		c = shift_stride((uint32_t)c) ^ (uint32_t)c2;
		p += 3 * STRIDE;
		len -= 3 * STRIDE;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8); /* aligned here; memcpy keeps it strictly legal */
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

static bool cpu_has_sse42(void)
{
	__builtin_cpu_init(); /* needed if we run before constructors did */
	return __builtin_cpu_supports("sse4.2");
}
#endif

bool kf_crc32c_hw_available(void)
{
#if defined(__x86_64__)
	/* 0 unknown, 1 no, 2 yes; racing first callers store the same value. */
	static int have;
	int h = __atomic_load_n(&have, __ATOMIC_RELAXED);
	if (h == 0) {
		h = cpu_has_sse42() ? 2 : 1;
		__atomic_store_n(&have, h, __ATOMIC_RELAXED);
	}
	return h == 2;
#else
	return false;
#endif
}

/* Falls back to software where the instruction is missing, so a wrong call
 * gives a right answer instead of SIGILL. */
uint32_t kf_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (kf_crc32c_hw_available())
		return crc32c_sse42(crc, buf, len);
#endif
	return kf_crc32c_sw(crc, buf, len);
}

typedef uint32_t (*crc32c_fn)(uint32_t crc, const void *buf, size_t len);

static crc32c_fn crc32c_select(void)
{
#if defined(__x86_64__)
	if (kf_crc32c_hw_available())
		return crc32c_sse42;
#endif
	return kf_crc32c_sw;
}

uint32_t kf_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/*
	 * Threads that race on the first call all pick the same function, so
	 * relaxed ordering is enough: the pointer is the only shared state
	 * (the software tables have their own pthread_once).
	 */
	static crc32c_fn impl;
	crc32c_fn f = __atomic_load_n(&impl, __ATOMIC_RELAXED);
	if (!f) {
		f = crc32c_select();
		__atomic_store_n(&impl, f, __ATOMIC_RELAXED);
	}
	return f(crc, buf, len);
}

/* zlib's crc32 takes a uInt length: feed it in chunks.  len 0 returns crc
 * unchanged (zlib would return 0 for a NULL buffer). */
uint32_t kf_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uLong c = crc;

	while (len) {
		uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)c;
}
