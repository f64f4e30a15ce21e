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
 * One crc32 instruction per 8 bytes.  Its latency (3 cycles) rather than the
 * memory bounds the speed; a 3-way interleave would be faster but needs a
 * CRC-combine step, not worth it at Kafka batch sizes.
 */
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
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
