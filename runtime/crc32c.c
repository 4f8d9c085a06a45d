/* runtime/crc32c.c -- CRC-32C (Castagnoli), the checksum of every tensor
 * the trainer writes and of token shards.
 *
 * One idea: CRC-32C detects every burst error up to 32 bits and any odd
 * number of flipped bits, x86-64 computes it in hardware (SSE4.2 crc32,
 * 8 bytes per instruction) and elsewhere a sliced table does 8 bytes per
 * step, so checking a checkpoint costs a small fraction of reading it.
 * The value chains like zlib's crc32: crc(a||b) = rt_crc32c(rt_crc32c(0,
 * a), b). Polynomial 0x1EDC6F41 (reflected 0x82F63B78); crc("123456789")
 * is 0xE3069283.
 */
#include <string.h>

#include "rt_internal.h"

static uint32_t table[8][256];
static int hw; /* the CPU has SSE4.2's crc32 */

static void make_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int s = 1; s < 8; s++) table[s][i] = (table[s - 1][i] >> 8) ^ table[0][table[s - 1][i] & 255];
}

static uint32_t crc_soft(uint32_t c, const unsigned char *p, size_t n) {
  while (n > 0 && ((uintptr_t)p & 7)) {
    c = (c >> 8) ^ table[0][(c ^ *p++) & 255];
    n--;
  }
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    w ^= c; /* little-endian: the CRC meets the first four bytes */
    c = table[7][w & 255] ^ table[6][(w >> 8) & 255] ^ table[5][(w >> 16) & 255] ^
        table[4][(w >> 24) & 255] ^ table[3][(w >> 32) & 255] ^ table[2][(w >> 40) & 255] ^
        table[1][(w >> 48) & 255] ^ table[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ table[0][(c ^ *p++) & 255];
  return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define RT_CRC_HW 1
/* The crc32 instruction has a latency of 3 cycles and a throughput of 1, so
 * one chain of them runs at a third of the speed the unit allows: three
 * chains run over three consecutive blocks, and the three values are joined
 * by shifting the first two over the bytes that follow them. Appending n
 * zero bytes is linear in the CRC register, so "shift over one block" is a
 * table per register byte (shift_blk, filled in make_tables). */
#define BLK 4096
static uint32_t shift_blk[4][256];

__attribute__((target("sse4.2"))) static uint32_t zeros_hw(uint32_t c, size_t n) {
  uint64_t c64 = c;
  for (size_t i = 0; i < n / 8; i++) c64 = __builtin_ia32_crc32di(c64, 0);
  return (uint32_t)c64;
}

static void make_shift(void) {
  uint32_t col[32]; /* the shift applied to each single bit of the register */
  for (int b = 0; b < 32; b++) col[b] = zeros_hw(1u << b, BLK);
  for (int k = 0; k < 4; k++)
    for (int v = 0; v < 256; v++) {
      uint32_t x = 0;
      for (int b = 0; b < 8; b++)
        if (v >> b & 1) x ^= col[8 * k + b];
      shift_blk[k][v] = x;
    }
}

static uint32_t shift(uint32_t c) {
  return shift_blk[0][c & 255] ^ shift_blk[1][c >> 8 & 255] ^ shift_blk[2][c >> 16 & 255] ^
         shift_blk[3][c >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const unsigned char *p,
                                                         size_t n) {
  while (n > 0 && ((uintptr_t)p & 7)) {
    c = __builtin_ia32_crc32qi(c, *p++);
    n--;
  }
  while (n >= 3 * BLK) {
    uint64_t a = c, b = 0, d = 0, w0, w1, w2;
    for (size_t i = 0; i < BLK; i += 8) {
      memcpy(&w0, p + i, 8);
      memcpy(&w1, p + BLK + i, 8);
      memcpy(&w2, p + 2 * BLK + i, 8);
      a = __builtin_ia32_crc32di(a, w0);
      b = __builtin_ia32_crc32di(b, w1);
      d = __builtin_ia32_crc32di(d, w2);
    }
    c = shift(shift((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)d;
    p += 3 * BLK;
    n -= 3 * BLK;
  }
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
    p += 8;
    n -= 8;
  }
  c = (uint32_t)c64;
  while (n-- > 0) c = __builtin_ia32_crc32qi(c, *p++);
  return c;
}
#endif

__attribute__((constructor)) static void crc_init(void) {
  make_tables();
#ifdef RT_CRC_HW
  hw = __builtin_cpu_supports("sse4.2");
  if (hw) make_shift();
#endif
}

uint32_t rt_crc32c(uint32_t crc, const void *buf, size_t n) {
  uint32_t c = ~crc;
#ifdef RT_CRC_HW
  if (hw) return ~crc_hw(c, buf, n);
#endif
  return ~crc_soft(c, buf, n);
}

uint32_t rt_crc32c_soft(uint32_t crc, const void *buf, size_t n) {
  return ~crc_soft(~crc, buf, n);
}
