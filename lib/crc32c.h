/*
 * crc32c: CRC-32C (Castagnoli), the checksum of RecordBatch v2, and CRC-32
 * (IEEE) for the legacy MessageSet v0/v1.
 *
 * kf_crc32c() uses the SSE4.2 crc32 instruction when the CPU has it (picked
 * once, at first use) and a slicing-by-8 table otherwise.  Both variants are
 * exported so tests can check them against each other on any machine.
 *
 * All functions take the running CRC of the bytes before buf (0 to start)
 * and return the CRC including buf: the usual pre/post inversion is done
 * inside, so kf_crc32c(kf_crc32c(0, a, n), b, m) == CRC of a||b.
 * All are thread-safe, including the first call.
 */
#ifndef KF_CRC32C_H
#define KF_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint32_t kf_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t kf_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* The SSE4.2 variant; where kf_crc32c_hw_available() is false (no SSE4.2,
 * or not x86-64) it computes the same value in software. */
uint32_t kf_crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool kf_crc32c_hw_available(void);

/* CRC-32 (IEEE 802.3, zlib's crc32) for MessageSet v0/v1. */
uint32_t kf_crc32(uint32_t crc, const void *buf, size_t len);

#endif
