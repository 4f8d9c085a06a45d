/* runtime/unicode.c -- what the tokenizer needs of Unicode: UTF-8 decoding,
 * repair of invalid UTF-8, and the character classes of pre-tokenizer
 * patterns (\p{L}, \p{N}, \s, case folding of ASCII letters).
 *
 * One idea: the classes come from the `tokenizers` library's own regex
 * engine (tools/gen_unicode.py wrote unicode_tab.h), expanded once into a
 * two-level table (a block index per 256 code points, shared blocks), so a
 * lookup is two loads and ftc's classes are exactly the library's.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "unicode_tab.h"

#define NBLOCKS (0x110000 >> 8)

static uint16_t uc_stage1[NBLOCKS];
static uint8_t *uc_stage2;           /* nblocks * 256 */
static pthread_once_t uc_once = PTHREAD_ONCE_INIT;

static void uc_build(void) {
  uint8_t *flat = calloc(0x110000, 1), *blocks = malloc((size_t)NBLOCKS * 256);
  if (!flat || !blocks) abort(); /* 1.1 MB at start-up; nothing sensible to do */
  for (size_t i = 0; i < sizeof uc_ranges / sizeof uc_ranges[0]; i++)
    memset(flat + uc_ranges[i].lo, uc_ranges[i].f, uc_ranges[i].hi - uc_ranges[i].lo + 1);
  int nb = 0;
  for (int b = 0; b < NBLOCKS; b++) {
    int k;
    for (k = 0; k < nb; k++)
      if (!memcmp(blocks + (size_t)k * 256, flat + (size_t)b * 256, 256)) break;
    if (k == nb) memcpy(blocks + (size_t)nb++ * 256, flat + (size_t)b * 256, 256);
    uc_stage1[b] = (uint16_t)k;
  }
  free(flat);
  uc_stage2 = realloc(blocks, (size_t)nb * 256);
  if (!uc_stage2) uc_stage2 = blocks;
}

void rt_uc_init(void) { pthread_once(&uc_once, uc_build); }

int rt_uc_class(uint32_t cp) {
  if (cp >= 0x110000) return 0;
  return uc_stage2[(size_t)uc_stage1[cp >> 8] * 256 + (cp & 255)];
}

int rt_uc_fold_eq(uint32_t cp, uint32_t c) {
  if (cp == c) return 1;
  if (c < 128) {
    uint32_t lc = c | 0x20;
    if (lc >= 'a' && lc <= 'z') {
      if ((cp | 0x20) == lc && cp < 128) return 1;
      for (size_t i = 0; i < sizeof uc_folds / sizeof uc_folds[0]; i++)
        if (uc_folds[i].cp == cp && (uint32_t)uc_folds[i].letter == lc) return 1;
    }
  }
  return 0;
}

/* Decodes the code point at s (valid UTF-8 assumed, n >= 1); returns its
 * length. A sequence cut short by n reads as U+FFFD. */
int rt_utf8_dec(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned c = s[0];
  int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if ((size_t)len > n) {
    *cp = 0xFFFD;
    return (int)n;
  }
  switch (len) {
  case 1: *cp = c; break;
  case 2: *cp = (c & 0x1F) << 6 | (s[1] & 0x3F); break;
  case 3: *cp = (c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F); break;
  default:
    *cp = (c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 |
          (s[3] & 0x3F);
  }
  return len;
}

int rt_utf8_enc(uint32_t cp, char *o) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63));
    o[2] = (char)(0x80 | (cp & 63));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
  o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
  return 4;
}

/* Length of the valid sequence at s, or -(length of its maximal subpart:
 * the longest prefix of a valid sequence, at least 1) when invalid. */
static int seq_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  int len;
  unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) { len = 3; lo = 0xA0; }
  else if (c == 0xED) { len = 3; hi = 0x9F; }
  else if (c >= 0xE1 && c <= 0xEF) len = 3;
  else if (c == 0xF0) { len = 4; lo = 0x90; }
  else if (c == 0xF4) { len = 4; hi = 0x8F; }
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else return -1;
  for (int i = 1; i < len; i++) {
    if ((size_t)i >= n) return -i;
    unsigned b = s[i];
    if (i == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return -i;
  }
  return len;
}

size_t rt_utf8_valid_prefix(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int l = seq_len(s + i, n - i);
    if (l < 0) return i;
    i += (size_t)l;
  }
  return n;
}

size_t rt_utf8_repair(const unsigned char *s, size_t n, unsigned char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    int l = s[i] < 0x80 ? 1 : seq_len(s + i, n - i);
    if (l > 0) {
      memcpy(out + o, s + i, (size_t)l);
      o += (size_t)l;
      i += (size_t)l;
    } else {
      memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD per maximal subpart */
      o += 3;
      i += (size_t)-l;
    }
  }
  return o;
}
