/* runtime/tok_decode.c -- ids -> text through the decoder chain of
 * tokenizer.json (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace).
 *
 * One idea: like the library, decoders transform a list of token strings,
 * one op after the other, and the result is their concatenation (or, with
 * no decoder at all, the tokens joined by spaces). The list lives in one
 * byte buffer with (offset, length) entries, rebuilt by each op.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "tok_impl.h"

typedef struct { size_t off, len; } span;
typedef struct {
  char *p;
  size_t n, cap;
  span *t;
  size_t nt, tcap;
} tlist;

static int put(tlist *l, const char *s, size_t n) {
  if (l->n + n + 1 > l->cap) {
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->n + n + 1) cap *= 2;
    char *p = realloc(l->p, cap);
    if (!p) return -1;
    l->p = p;
    l->cap = cap;
  }
  if (n) memcpy(l->p + l->n, s, n); /* s may be NULL when n is 0 */
  l->n += n;
  return 0;
}

/* ends the token begun at `start` */
static int close_tok(tlist *l, size_t start) {
  if (l->nt == l->tcap) {
    size_t cap = l->tcap ? 2 * l->tcap : 64;
    span *t = realloc(l->t, cap * sizeof *t);
    if (!t) return -1;
    l->t = t;
    l->tcap = cap;
  }
  l->t[l->nt++] = (span){start, l->n - start};
  return 0;
}

static void tl_free(tlist *l) {
  free(l->p);
  free(l->t);
}

static int hexv(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "<0xAB>" -> 0xAB, else -1 */
static int byte_token(const char *s, size_t n) {
  if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
  int a = hexv(s[3]), b = hexv(s[4]);
  return a < 0 || b < 0 ? -1 : a * 16 + b;
}

/* Appends bytes as text, invalid UTF-8 replaced (from_utf8_lossy). */
static int put_lossy(tlist *o, const unsigned char *b, size_t n) {
  if (rt_utf8_valid_prefix(b, n) == n) return put(o, (const char *)b, n);
  unsigned char *fix = malloc(3 * n + 1);
  if (!fix) return -1;
  size_t m = rt_utf8_repair(b, n, fix);
  int rc = put(o, (const char *)fix, m);
  free(fix);
  return rc;
}

static int apply(const dec_op *op, const tlist *in, tlist *o) {
  o->n = o->nt = 0;
  switch (op->kind) {
  case DC_FUSE: {
    for (size_t i = 0; i < in->nt; i++)
      if (put(o, in->p + in->t[i].off, in->t[i].len)) return -1;
    return close_tok(o, 0);
  }
  case DC_BYTELEVEL: {
    /* every token's characters back to bytes (a token with a character
     * outside the alphabet keeps its UTF-8), then one lossy string */
    unsigned char *b = malloc(in->n + 1);
    if (!b) return -1;
    size_t m = 0;
    for (size_t i = 0; i < in->nt; i++) {
      const char *s = in->p + in->t[i].off;
      size_t n = in->t[i].len, m0 = m, k = 0;
      int ok = 1;
      while (k < n) {
        uint32_t cp;
        k += (size_t)rt_utf8_dec((const unsigned char *)s + k, n - k, &cp);
        int v = rt_tok_char_byte(cp);
        if (v < 0) {
          ok = 0;
          break;
        }
        b[m++] = (unsigned char)v;
      }
      if (!ok) {
        m = m0;
        memcpy(b + m, s, n);
        m += n;
      }
    }
    int rc = put_lossy(o, b, m) || close_tok(o, 0);
    free(b);
    return rc;
  }
  case DC_BYTEFALLBACK: {
    /* runs of <0xXX> tokens become their bytes as one token, or one U+FFFD
     * per byte when they are not valid UTF-8 */
    for (size_t i = 0; i < in->nt;) {
      size_t start = o->n;
      if (byte_token(in->p + in->t[i].off, in->t[i].len) < 0) {
        if (put(o, in->p + in->t[i].off, in->t[i].len) || close_tok(o, start)) return -1;
        i++;
        continue;
      }
      size_t j = i;
      while (j < in->nt && byte_token(in->p + in->t[j].off, in->t[j].len) >= 0) j++;
      unsigned char *bytes = malloc(j - i);
      if (!bytes) return -1;
      for (size_t k = i; k < j; k++)
        bytes[k - i] = (unsigned char)byte_token(in->p + in->t[k].off, in->t[k].len);
      size_t nb = j - i;
      int rc = 0;
      if (rt_utf8_valid_prefix(bytes, nb) == nb) {
        rc = put(o, (const char *)bytes, nb);
      } else {
        for (size_t k = 0; k < nb && !rc; k++) rc = put(o, "\xEF\xBF\xBD", 3);
      }
      free(bytes);
      if (rc) return -1;
      if (close_tok(o, start)) return -1;
      i = j;
    }
    return 0;
  }
  default:
    break;
  }
  for (size_t i = 0; i < in->nt; i++) {
    const char *s = in->p + in->t[i].off;
    size_t n = in->t[i].len, start = o->n;
    if (op->kind == DC_REPLACE) {
      for (size_t k = 0; k < n;) {
        if (k + op->plen <= n && !memcmp(s + k, op->pat, op->plen)) {
          if (put(o, op->with, op->wlen)) return -1;
          k += op->plen;
        } else {
          if (put(o, s + k, 1)) return -1;
          k++;
        }
      }
    } else if (op->kind == DC_STRIP) {
      size_t a = 0, e = n;
      for (int c = 0; c < op->start && a < e; c++) {
        uint32_t cp;
        int l = rt_utf8_dec((const unsigned char *)s + a, e - a, &cp);
        if (cp != op->strip_cp) break;
        a += (size_t)l;
      }
      for (int c = 0; c < op->stop && e > a; c++) {
        size_t q = e - 1;
        while (q > a && ((unsigned char)s[q] & 0xC0) == 0x80) q--;
        uint32_t cp;
        rt_utf8_dec((const unsigned char *)s + q, e - q, &cp);
        if (cp != op->strip_cp) break;
        e = q;
      }
      if (put(o, s + a, e - a)) return -1;
    } else { /* METASPACE: the replacement becomes a space, and none in
                the first token when a prefix was prepended */
      size_t rl = (size_t)op->repl_len;
      for (size_t k = 0; k < n;) {
        if (k + rl <= n && !memcmp(s + k, op->repl, rl)) {
          if (!(i == 0 && op->prepend != 0) && put(o, " ", 1)) return -1;
          k += rl;
        } else {
          if (put(o, s + k, 1)) return -1;
          k++;
        }
      }
    }
    if (close_tok(o, start)) return -1;
  }
  return 0;
}

int rt_tok_decode(const rt_tok *t, const int32_t *ids, size_t n, int skip_special, char **out,
                  size_t *len, size_t *cap) {
  tlist a = {0}, b = {0};
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    int32_t id = ids[i];
    if (id < 0 || id >= t->nvocab || !t->str[id]) {
      rc = -1;
      break;
    }
    if (skip_special && t->special && t->special[id]) continue;
    size_t start = a.n;
    rc = put(&a, t->str[id], t->slen[id]) || close_tok(&a, start);
  }
  for (int k = 0; k < t->ndec && !rc; k++) {
    rc = apply(&t->dec[k], &a, &b);
    tlist sw = a;
    a = b;
    b = sw;
  }
  /* the result: the tokens concatenated (joined by spaces without a decoder) */
  for (size_t i = 0; i < a.nt && !rc; i++) {
    size_t need = *len + a.t[i].len + 2;
    if (need > *cap) {
      size_t c = *cap ? *cap : 256;
      while (c < need) c *= 2;
      char *p = realloc(*out, c);
      if (!p) {
        rc = -1;
        break;
      }
      *out = p;
      *cap = c;
    }
    if (i && !t->ndec) (*out)[(*len)++] = ' ';
    if (a.t[i].len) memcpy(*out + *len, a.p + a.t[i].off, a.t[i].len);
    *len += a.t[i].len;
  }
  if (!rc && *len + 1 > *cap) {
    char *p = realloc(*out, *len + 1);
    if (p) {
      *out = p;
      *cap = *len + 1;
    } else {
      rc = -1;
    }
  }
  if (!rc) (*out)[*len] = 0;
  tl_free(&a);
  tl_free(&b);
  return rc;
}
