/* runtime/tok_encode.c -- text -> ids, the `tokenizers` library's pipeline:
 * added tokens are cut out of the raw text (leftmost-longest), the rest is
 * normalized, cut again at normalized added tokens, pre-tokenized into
 * words, and each word is merged by BPE; a template adds special tokens.
 *
 * One idea: BPE merges ids with a min-heap of (rank, position) exactly as
 * the library does (lowest rank first, leftmost among equals, stale
 * entries skipped), and each distinct word is merged once per thread: the
 * cache turns most of a corpus into hash lookups.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_impl.h"

typedef struct { size_t off, len; int first; } piece;

typedef struct { char *p; size_t n, cap; } sbuf;
typedef struct { piece *p; size_t n, cap; } plist;

#define CACHE_SLOTS (1u << 15)
#define CACHE_MAXWORD 256
#define CACHE_POOL (1u << 22)

struct rt_tok_state {
  const rt_tok *t;
  char err[256];
  sbuf fix, norm, a, b;          /* repaired text, normalized, pre-tokenizer ping-pong */
  plist pa, pb;
  /* BPE scratch */
  int32_t *sc, *sprev, *snext;
  uint32_t *slen;
  size_t scap;
  struct hent { uint32_t rank, pos; int32_t id; } *heap;
  size_t hcap;
  /* the word cache: slot -> offset into pool (+1); entry = u32 word length,
   * u32 id count, word bytes, ids */
  uint32_t *cslot;
  unsigned char *cpool;
  size_t cused;
  int nocache;
  int32_t **ids;
  size_t *len, *cap;
};

/* ---- buffers ------------------------------------------------------------------- */

static int sb_need(rt_tok_state *s, sbuf *b, size_t n) {
  if (n <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < n) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    snprintf(s->err, sizeof s->err, "out of memory");
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static int sb_add(rt_tok_state *s, sbuf *b, const char *d, size_t n) {
  if (sb_need(s, b, b->n + n + 1)) return -1;
  if (n) memcpy(b->p + b->n, d, n); /* d may be NULL when n is 0 */
  b->n += n;
  return 0;
}

static int pl_add(rt_tok_state *s, plist *l, size_t off, size_t len, int first) {
  if (!len) return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    piece *p = realloc(l->p, cap * sizeof *p);
    if (!p) {
      snprintf(s->err, sizeof s->err, "out of memory");
      return -1;
    }
    l->p = p;
    l->cap = cap;
  }
  l->p[l->n++] = (piece){off, len, first};
  return 0;
}

static int emit(rt_tok_state *s, int32_t id) {
  if (*s->len == *s->cap) {
    size_t cap = *s->cap ? 2 * *s->cap : 256;
    int32_t *p = realloc(*s->ids, cap * sizeof *p);
    if (!p) {
      snprintf(s->err, sizeof s->err, "out of memory");
      return -1;
    }
    *s->ids = p;
    *s->cap = cap;
  }
  (*s->ids)[(*s->len)++] = id;
  return 0;
}

rt_tok_state *rt_tok_state_new(const rt_tok *t) {
  rt_tok_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->t = t;
  return s;
}

void rt_tok_state_free(rt_tok_state *s) {
  if (!s) return;
  free(s->fix.p);
  free(s->norm.p);
  free(s->a.p);
  free(s->b.p);
  free(s->pa.p);
  free(s->pb.p);
  free(s->sc);
  free(s->sprev);
  free(s->snext);
  free(s->slen);
  free(s->heap);
  free(s->cslot);
  free(s->cpool);
  free(s);
}

const char *rt_tok_error(const rt_tok_state *s) { return s->err; }

/* ---- BPE ----------------------------------------------------------------------------- */

static uint64_t whash(const char *k, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, k + i, 8);
    h = (h ^ v) * 0x100000001B3ULL;
    h ^= h >> 32;
  }
  for (; i < n; i++) h = (h ^ (unsigned char)k[i]) * 0x100000001B3ULL;
  return h ^ (h >> 31);
}

static const unsigned char *cache_get(rt_tok_state *s, const char *w, size_t n, uint32_t **slot) {
  for (uint64_t h = whash(w, n);; h++) {
    uint32_t *sl = &s->cslot[h & (CACHE_SLOTS - 1)];
    if (!*sl) {
      *slot = sl;
      return NULL;
    }
    const unsigned char *e = s->cpool + *sl - 1;
    uint32_t wl;
    memcpy(&wl, e, 4);
    if (wl == n && !memcmp(e + 8, w, n)) return e;
  }
}

static void cache_put(rt_tok_state *s, uint32_t *slot, const char *w, size_t n,
                      const int32_t *ids, uint32_t nids) {
  size_t need = (8 + n + 4 * (size_t)nids + 3) & ~(size_t)3;
  if (s->cused + need > CACHE_POOL || s->cused / 16 > CACHE_SLOTS / 2) {
    /* full: start over (the cache only saves time) */
    memset(s->cslot, 0, CACHE_SLOTS * sizeof *s->cslot);
    s->cused = 0;
    uint32_t *sl2;
    cache_get(s, w, n, &sl2);
    slot = sl2;
  }
  unsigned char *e = s->cpool + s->cused;
  uint32_t wl = (uint32_t)n;
  memcpy(e, &wl, 4);
  memcpy(e + 4, &nids, 4);
  memcpy(e + 8, w, n);
  if (nids) memcpy(e + 8 + n, ids, 4 * (size_t)nids);
  *slot = (uint32_t)s->cused + 1;
  s->cused += need;
}

static int sym_need(rt_tok_state *s, size_t n) {
  if (n <= s->scap) return 0;
  size_t cap = s->scap ? s->scap : 64;
  while (cap < n) cap *= 2;
  int32_t *c = realloc(s->sc, cap * sizeof *c);
  if (c) s->sc = c;
  int32_t *p = c ? realloc(s->sprev, cap * sizeof *p) : NULL;
  if (p) s->sprev = p;
  int32_t *x = p ? realloc(s->snext, cap * sizeof *x) : NULL;
  if (x) s->snext = x;
  uint32_t *l = x ? realloc(s->slen, cap * sizeof *l) : NULL;
  if (l) s->slen = l;
  struct hent *h = l ? realloc(s->heap, cap * sizeof *h) : NULL;
  if (!h) {
    snprintf(s->err, sizeof s->err, "out of memory");
    return -1;
  }
  s->heap = h;
  s->scap = s->hcap = cap;
  return 0;
}

/* min-heap on (rank, pos) */
static int hless(const struct hent *a, const struct hent *b) {
  return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void hpush(struct hent *h, size_t *n, struct hent e) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!hless(&e, &h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = e;
}

static struct hent hpop(struct hent *h, size_t *n) {
  struct hent top = h[0], last = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && hless(&h[c + 1], &h[c])) c++;
    if (!hless(&h[c], &last)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n) h[i] = last;
  return top;
}

/* Pushes the merge of symbol i with its next, if there is one. */
static void pair_push(rt_tok_state *s, size_t *hn, int32_t i) {
  int32_t j = s->snext[i];
  if (j < 0) return;
  uint32_t rank;
  int32_t id = tok_merge(s->t, s->sc[i], s->sc[j], &rank);
  if (id >= 0) hpush(s->heap, hn, (struct hent){rank, (uint32_t)i, id});
}

static int bpe_word(rt_tok_state *s, const char *w, size_t n) {
  const rt_tok *t = s->t;
  uint32_t *slot = NULL;
  if (!s->cslot && !s->nocache) { /* made on first use; without memory, no cache */
    s->cslot = calloc(CACHE_SLOTS, sizeof *s->cslot);
    s->cpool = malloc(CACHE_POOL);
    s->nocache = !s->cslot || !s->cpool;
  }
  if (n <= CACHE_MAXWORD && !s->nocache) {
    const unsigned char *e = cache_get(s, w, n, &slot);
    if (e) {
      uint32_t k;
      memcpy(&k, e + 4, 4);
      for (uint32_t i = 0; i < k; i++) {
        int32_t id;
        memcpy(&id, e + 8 + n + 4 * (size_t)i, 4);
        if (emit(s, id)) return -1;
      }
      return 0;
    }
  }
  if (t->ignore_merges) {
    int32_t id = tok_map_get(t, &t->vocab, w, n);
    if (id >= 0) return emit(s, id);
  }
  /* symbols: one per unit (a byte, or a character), with byte fallback and
   * unknown handling as the library does */
  if (sym_need(s, 4 * n + 1)) return -1;
  int32_t ns = 0;
  int prev_unk = 0;
  for (size_t i = 0; i < n;) {
    size_t ul = 1;
    int32_t id;
    if (t->byte_level) {
      id = t->unit_id[(unsigned char)w[i]];
    } else {
      uint32_t cp;
      ul = (size_t)rt_utf8_dec((const unsigned char *)w + i, n - i, &cp);
      id = tok_map_get(t, &t->vocab, w + i, ul);
    }
    if (id < 0 && t->byte_fallback) {
      int all = 1;
      for (size_t k = 0; k < ul; k++) all &= t->fallback[(unsigned char)w[i + k]] >= 0;
      if (all) {
        for (size_t k = 0; k < ul; k++) {
          s->sc[ns] = t->fallback[(unsigned char)w[i + k]];
          s->slen[ns++] = 1;
        }
        prev_unk = 0;
        i += ul;
        continue;
      }
    }
    if (id < 0) {
      if (t->unk >= 0 && !(t->fuse_unk && prev_unk)) {
        s->sc[ns] = t->unk;
        s->slen[ns++] = (uint32_t)ul;
      }
      prev_unk = t->unk >= 0;
      i += ul;
      continue;
    }
    prev_unk = 0;
    s->sc[ns] = id;
    s->slen[ns++] = (uint32_t)ul;
    i += ul;
  }
  for (int32_t i = 0; i < ns; i++) {
    s->sprev[i] = i - 1;
    s->snext[i] = i + 1 < ns ? i + 1 : -1;
  }
  size_t hn = 0;
  for (int32_t i = 0; i + 1 < ns; i++) pair_push(s, &hn, i);
  while (hn) {
    struct hent top = hpop(s->heap, &hn);
    int32_t i = (int32_t)top.pos, j = s->snext[i];
    if (!s->slen[i] || j < 0) continue;
    uint32_t rank;
    if (tok_merge(t, s->sc[i], s->sc[j], &rank) != top.id) continue; /* stale */
    s->sc[i] = top.id;
    s->slen[i] += s->slen[j];
    s->slen[j] = 0;
    s->snext[i] = s->snext[j];
    if (s->snext[j] >= 0) s->sprev[s->snext[j]] = i;
    if (s->sprev[i] >= 0) pair_push(s, &hn, s->sprev[i]);
    pair_push(s, &hn, i);
  }
  size_t first = *s->len;
  for (int32_t i = 0; i < ns; i = s->snext[i] < 0 ? ns : s->snext[i])
    if (s->slen[i] && emit(s, s->sc[i])) return -1;
  if (slot) cache_put(s, slot, w, n, *s->len > first ? *s->ids + first : NULL,
                      (uint32_t)(*s->len - first));
  return 0;
}

/* ---- pre-tokenization ----------------------------------------------------------------- */

/* The matches of op's pattern in p, as the library's split does them:
 * segments covering p, each a match or not (inverted on request). */
typedef struct { size_t a, b; int m; } seg;

static int find(rt_tok_state *s, const pre_op *op, const char *p, size_t n, size_t from,
                size_t *ms, size_t *me) {
  if (op->re) {
    int r = rt_re_find(op->re, p, n, from, ms, me);
    if (r < 0) snprintf(s->err, sizeof s->err, "a pre-tokenizer pattern backtracked too much");
    return r;
  }
  for (size_t i = from; i + op->litlen <= n; i++)
    if (!memcmp(p + i, op->lit, op->litlen)) {
      *ms = i;
      *me = i + op->litlen;
      return 1;
    }
  return 0;
}

/* Appends to `out` the pieces of one piece of `src` split by op. */
static int split_piece(rt_tok_state *s, const pre_op *op, const char *src, const piece *pc,
                       plist *out, int behavior, int invert) {
  const char *p = src + pc->off;
  size_t n = pc->len, prev = 0, from = 0, ms, me;
  seg sg[2];
  /* stream the segments, folding them by behavior as they come */
  size_t cur_a = 0, cur_b = 0;
  int have = 0, prev_match = 0;
#define FLUSH()                                                                           \
  do {                                                                                    \
    if (have && pl_add(s, out, pc->off + cur_a, cur_b - cur_a, pc->first && cur_a == 0)) \
      return -1;                                                                          \
    have = 0;                                                                             \
  } while (0)
  for (;;) {
    int r = from <= n ? find(s, op, p, n, from, &ms, &me) : 0;
    if (r < 0) return -1;
    int ns = 0;
    if (r && me == ms) { /* an empty match splits nothing */
      uint32_t cp;
      from = ms < n ? ms + (size_t)rt_utf8_dec((const unsigned char *)p + ms, n - ms, &cp) : n + 1;
      continue;
    }
    if (r) {
      if (prev != ms) sg[ns++] = (seg){prev, ms, 0};
      sg[ns++] = (seg){ms, me, 1};
      prev = from = me;
    } else if (prev < n) {
      sg[ns++] = (seg){prev, n, 0};
      prev = n;
    }
    for (int k = 0; k < ns; k++) {
      seg g = sg[k];
      if (invert) g.m = !g.m;
      switch (behavior) {
      case SB_REMOVED:
        if (!g.m && pl_add(s, out, pc->off + g.a, g.b - g.a, pc->first && g.a == 0)) return -1;
        break;
      case SB_ISOLATED:
        if (pl_add(s, out, pc->off + g.a, g.b - g.a, pc->first && g.a == 0)) return -1;
        break;
      case SB_CONTIGUOUS:
        /* runs of segments of one kind join (so inverting changes nothing,
         * as in the library) */
        if (have && g.m == prev_match) {
          cur_b = g.b;
        } else {
          FLUSH();
          cur_a = g.a;
          cur_b = g.b;
          have = 1;
        }
        prev_match = g.m;
        break;
      case SB_MERGED_PREV:
        if (g.m && !prev_match && have) {
          cur_b = g.b;
        } else {
          FLUSH();
          cur_a = g.a;
          cur_b = g.b;
          have = 1;
        }
        prev_match = g.m;
        break;
      case SB_MERGED_NEXT:
        /* a match starts a piece that takes the non-match after it */
        if (!g.m && prev_match && have) {
          cur_b = g.b;
        } else {
          FLUSH();
          cur_a = g.a;
          cur_b = g.b;
          have = 1;
        }
        prev_match = g.m;
        break;
      }
    }
    if (!r) break;
  }
  FLUSH();
#undef FLUSH
  return 0;
}

/* One pre-tokenizer op over the pieces of (src, in) into (dst, out). */
static int pre_apply(rt_tok_state *s, const pre_op *op, sbuf *src, plist *in, sbuf *dst,
                     plist *out) {
  out->n = 0;
  if (op->kind == PT_SPLIT) {
    for (size_t i = 0; i < in->n; i++)
      if (split_piece(s, op, src->p, &in->p[i], out, op->behavior, op->invert)) return -1;
    return 1; /* pieces refer to src */
  }
  dst->n = 0;
  for (size_t i = 0; i < in->n; i++) {
    const piece *pc = &in->p[i];
    const char *p = src->p + pc->off;
    size_t start = dst->n;
    if (op->kind == PT_BYTELEVEL) {
      if (op->add_prefix_space && p[0] != ' ' && sb_add(s, dst, " ", 1)) return -1;
      if (sb_add(s, dst, p, pc->len)) return -1;
    } else { /* METASPACE: spaces become the replacement, maybe one in front */
      int lead = pc->len >= (size_t)op->repl_len && !memcmp(p, op->repl, (size_t)op->repl_len);
      if (!lead && pc->len && p[0] == ' ') lead = 1; /* becomes one below */
      if ((op->prepend == 2 || (op->prepend == 1 && pc->first)) && !lead &&
          sb_add(s, dst, op->repl, (size_t)op->repl_len))
        return -1;
      for (size_t k = 0; k < pc->len; k++)
        if (p[k] == ' ' ? sb_add(s, dst, op->repl, (size_t)op->repl_len) : sb_add(s, dst, p + k, 1))
          return -1;
    }
    piece np = {start, dst->n - start, pc->first};
    int want_split = op->kind == PT_BYTELEVEL ? op->use_regex : op->split;
    if (!want_split) {
      if (pl_add(s, out, np.off, np.len, np.first)) return -1;
      continue;
    }
    pre_op sp = {.kind = PT_SPLIT};
    if (op->kind == PT_BYTELEVEL) {
      sp.re = op->re;
      sp.behavior = SB_ISOLATED;
    } else {
      sp.lit = (char *)op->repl;
      sp.litlen = (size_t)op->repl_len;
      sp.behavior = SB_MERGED_NEXT;
    }
    if (split_piece(s, &sp, dst->p, &np, out, sp.behavior, 0)) return -1;
  }
  return 0; /* pieces refer to dst */
}

/* Pre-tokenizes text[0..n) and merges every word. */
static int words(rt_tok_state *s, const char *text, size_t n, int first) {
  const rt_tok *t = s->t;
  sbuf *src = &s->a, *dst = &s->b;
  plist *in = &s->pa, *out = &s->pb;
  src->n = 0;
  in->n = 0;
  if (sb_add(s, src, text, n) || pl_add(s, in, 0, n, first)) return -1;
  for (int k = 0; k < t->npre; k++) {
    int r = pre_apply(s, &t->pre[k], src, in, dst, out);
    if (r < 0) return -1;
    plist *pl = in;
    in = out;
    out = pl;
    if (r == 0) {
      sbuf *sb = src;
      src = dst;
      dst = sb;
    }
  }
  for (size_t i = 0; i < in->n; i++)
    if (bpe_word(s, src->p + in->p[i].off, in->p[i].len)) return -1;
  return 0;
}

/* ---- normalization ---------------------------------------------------------------------- */

static int is_space(const char *p, size_t n, size_t *len) {
  uint32_t cp;
  *len = (size_t)rt_utf8_dec((const unsigned char *)p, n, &cp);
  return (rt_uc_class(cp) & RT_UC_S) != 0;
}

/* Normalizes in place in s->norm. */
static int normalize(rt_tok_state *s) {
  const rt_tok *t = s->t;
  for (int k = 0; k < t->nnorm; k++) {
    const norm_op *op = &t->norm[k];
    sbuf *b = &s->norm;
    if (op->kind == NM_PREPEND) {
      if (!b->n) continue;
      if (sb_need(s, b, b->n + op->plen + 1)) return -1;
      memmove(b->p + op->plen, b->p, b->n);
      memcpy(b->p, op->pat, op->plen);
      b->n += op->plen;
    } else if (op->kind == NM_STRIP) {
      size_t a = 0, e = b->n, l;
      while (op->left && a < e && is_space(b->p + a, e - a, &l)) a += l;
      if (op->right)
        while (e > a) {
          size_t q = e - 1;
          while (q > a && ((unsigned char)b->p[q] & 0xC0) == 0x80) q--;
          if (!is_space(b->p + q, e - q, &l)) break;
          e = q;
        }
      if (e > a) memmove(b->p, b->p + a, e - a);
      b->n = e - a;
    } else { /* REPLACE: every match, left to right */
      sbuf *o = &s->a;
      o->n = 0;
      size_t from = 0, ms, me;
      pre_op fake = {.re = op->re, .lit = op->pat, .litlen = op->plen};
      for (;;) {
        int r = find(s, &fake, b->p, b->n, from, &ms, &me);
        if (r < 0) return -1;
        if (!r) break;
        if (sb_add(s, o, b->p + from, ms - from) || sb_add(s, o, op->with, op->wlen)) return -1;
        if (me == ms) { /* empty match: keep one character and go on */
          uint32_t cp;
          if (ms >= b->n) {
            from = ms;
            break;
          }
          size_t l = (size_t)rt_utf8_dec((const unsigned char *)b->p + ms, b->n - ms, &cp);
          if (sb_add(s, o, b->p + ms, l)) return -1;
          me = ms + l;
        }
        from = me;
      }
      if (sb_add(s, o, b->p + from, b->n - from)) return -1;
      sbuf sw = *b;
      *b = *o;
      *o = sw;
    }
  }
  return 0;
}

/* ---- added tokens ------------------------------------------------------------------------ */

static int word_char(const char *p, size_t n, int before) {
  /* the character just before p+n (before) or at p (after) */
  if (!n) return 0;
  uint32_t cp;
  if (before) {
    size_t q = n - 1;
    while (q > 0 && ((unsigned char)p[q] & 0xC0) == 0x80) q--;
    rt_utf8_dec((const unsigned char *)p + q, n - q, &cp);
  } else {
    rt_utf8_dec((const unsigned char *)p, n, &cp);
  }
  return (rt_uc_class(cp) & RT_UC_W) != 0;
}

/* The longest added token (of the given kind) at p, or NULL. */
static const added_tok *added_at(const rt_tok *t, const char *p, size_t n, int normalized) {
  const added_tok *best = NULL;
  for (int i = 0; i < t->nadded; i++) {
    const added_tok *a = &t->added[i];
    if (a->normalized != normalized || !a->mlen || a->mlen > n || (best && a->mlen <= best->mlen))
      continue;
    if (!memcmp(p, a->m, a->mlen)) best = a;
  }
  return best;
}

static int segment(rt_tok_state *s, const char *p, size_t n, int first);

/* Cuts text at the added tokens of one kind; the gaps go on to `next`. */
static int split_added(rt_tok_state *s, const char *p, size_t n, int normalized, int first) {
  const rt_tok *t = s->t;
  size_t start = 0; /* start of the pending gap */
  for (size_t i = 0; i < n;) {
    if (!t->first_byte[normalized][(unsigned char)p[i]]) {
      i++;
      continue;
    }
    const added_tok *a = added_at(t, p + i, n - i, normalized);
    if (!a) {
      i++;
      continue;
    }
    size_t ms = i, me = i + a->mlen, l;
    i = me; /* the matches do not overlap, whether this one is used or not */
    if (a->single_word && ((ms > 0 && word_char(p, ms, 1)) || (me < n && word_char(p + me, n - me, 0))))
      continue;
    if (a->lstrip) {
      size_t q = ms;
      while (q > start) {
        size_t b = q - 1;
        while (b > start && ((unsigned char)p[b] & 0xC0) == 0x80) b--;
        if (!is_space(p + b, q - b, &l)) break;
        q = b;
      }
      ms = q;
    }
    if (a->rstrip)
      while (me < n && is_space(p + me, n - me, &l)) me += l;
    if (ms > start) {
      int r = normalized ? words(s, p + start, ms - start, first && start == 0)
                         : segment(s, p + start, ms - start, first && start == 0);
      if (r) return -1;
    }
    if (emit(s, a->id)) return -1;
    start = i = me;
  }
  if (start >= n) return 0;
  return normalized ? words(s, p + start, n - start, first && start == 0)
                    : segment(s, p + start, n - start, first && start == 0);
}

/* A stretch of raw text between non-normalized added tokens. */
static int segment(rt_tok_state *s, const char *p, size_t n, int first) {
  if (!s->t->nnorm) return split_added(s, p, n, 1, first);
  s->norm.n = 0;
  if (sb_add(s, &s->norm, p, n) || normalize(s)) return -1;
  /* split_added reads s->norm while words() uses the other buffers */
  sbuf keep = s->norm;
  s->norm = (sbuf){0};
  int rc = split_added(s, keep.p, keep.n, 1, first);
  free(s->norm.p);
  s->norm = keep;
  return rc;
}

int tok_normalized(const rt_tok *t, const char *p, size_t n, char **out, size_t *olen) {
  rt_tok_state *s = rt_tok_state_new(t);
  if (!s) return -1;
  int rc = sb_add(s, &s->norm, p, n) || normalize(s);
  if (!rc) {
    *out = s->norm.p;
    *olen = s->norm.n;
    s->norm.p = NULL;
  }
  rt_tok_state_free(s);
  return rc ? -1 : 0;
}

int rt_tok_encode(rt_tok_state *s, const char *text, size_t n, int add_special, int32_t **ids,
                  size_t *len, size_t *cap) {
  const rt_tok *t = s->t;
  s->err[0] = 0;
  s->ids = ids;
  s->len = len;
  s->cap = cap;
  if (rt_utf8_valid_prefix((const unsigned char *)text, n) != n) {
    if (sb_need(s, &s->fix, 3 * n + 1)) return -1;
    s->fix.n = rt_utf8_repair((const unsigned char *)text, n, (unsigned char *)s->fix.p);
    text = s->fix.p;
    n = s->fix.n;
  }
  for (int i = 0; add_special && i < t->npost_pre; i++)
    if (emit(s, t->post_pre[i])) return -1;
  /* the repaired text lives in s->fix, which nothing below reuses */
  if (split_added(s, text, n, 0, 1)) return -1;
  for (int i = 0; add_special && i < t->npost_post; i++)
    if (emit(s, t->post_post[i])) return -1;
  return 0;
}
