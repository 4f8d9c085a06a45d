/* runtime/tok_load.c -- tokenizer.json -> rt_tok (tok_impl.h).
 *
 * One idea: validate everything at load, so encoding never meets a bad
 * table. Each section (model, added_tokens, normalizer, pre_tokenizer,
 * post_processor, decoder) is read by one function that either fills its
 * part or reports the JSON path of the first value it cannot accept, with
 * what it expected; a variant ftc does not implement is named together
 * with the variants it does, never silently skipped.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rt_internal.h"
#include "tok_impl.h"

uint32_t rt_tok_byte_char[256];
static int16_t char_byte_lo[512]; /* code points < 512 -> byte, -1 */

/* GPT-2's alphabet: printable Latin-1 bytes stand for themselves, the
 * others are shifted to 256 + n in byte order. */
static void alphabet_init(void) {
  static int done;
  if (done) return;
  int n = 0;
  for (int b = 0; b < 256; b++) {
    int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    rt_tok_byte_char[b] = keep ? (uint32_t)b : (uint32_t)(256 + n++);
  }
  for (int i = 0; i < 512; i++) char_byte_lo[i] = -1;
  for (int b = 0; b < 256; b++) char_byte_lo[rt_tok_byte_char[b]] = (int16_t)b;
  done = 1;
}

int rt_tok_char_byte(uint32_t cp) { return cp < 512 ? char_byte_lo[cp] : -1; }

/* ---- hashing ------------------------------------------------------------- */

static uint64_t hash_bytes(const char *k, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 0x100000001B3ULL;
  return h ^ (h >> 29);
}

int32_t tok_map_get(const rt_tok *t, const tok_map *m, const char *k, size_t n) {
  if (!m->slot) return -1;
  for (uint64_t i = hash_bytes(k, n);; i++) {
    uint32_t s = m->slot[i & m->mask];
    if (!s) return -1;
    int32_t id = (int32_t)s - 1;
    if (t->klen[id] == n && !memcmp(t->key[id], k, n)) return id;
  }
}

static int map_put(rt_tok *t, tok_map *m, int32_t id) {
  for (uint64_t i = hash_bytes(t->key[id], t->klen[id]);; i++) {
    uint32_t *s = &m->slot[i & m->mask];
    if (!*s) {
      *s = (uint32_t)id + 1;
      return 0;
    }
    int32_t o = (int32_t)*s - 1;
    if (t->klen[o] == t->klen[id] && !memcmp(t->key[o], t->key[id], t->klen[id])) return -1;
  }
}

static uint64_t hash_pair(uint64_t k) { return (k * 0x9E3779B97F4A7C15ULL) >> 17; }

int32_t tok_merge(const rt_tok *t, int32_t a, int32_t b, uint32_t *rank) {
  if (!t->mkey) return -1;
  uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
  for (uint64_t i = hash_pair(k);; i++) {
    uint32_t j = (uint32_t)(i & t->mmask);
    if (t->mnew[j] < 0) return -1;
    if (t->mkey[j] == k) {
      *rank = t->mrank[j];
      return t->mnew[j];
    }
  }
}

/* ---- messages -------------------------------------------------------------- */

typedef struct {
  char *err;
  size_t cap;
  int failed;
} ld;

static int bad(ld *l, const rt_json *v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(ld *l, const rt_json *v, const char *fmt, ...) {
  if (l->failed) return -1;
  l->failed = 1;
  char path[256];
  int k = snprintf(l->err, l->cap, "%s: ", rt_json_path(v, path, sizeof path));
  va_list ap;
  va_start(ap, fmt);
  if (k >= 0 && (size_t)k < l->cap) vsnprintf(l->err + k, l->cap - (size_t)k, fmt, ap);
  va_end(ap);
  return -1;
}

/* A member of obj; `what` = the expected type; NULL/JSON null when
 * optional and absent. */
static const rt_json *member(ld *l, const rt_json *obj, const char *key, rt_jtype want,
                             int required, int *err) {
  const rt_json *v = rt_json_get(obj, key);
  if (!v || v->t == RT_JNULL) {
    if (required) {
      *err = 1;
      if (!v) {
        char path[256];
        if (!l->failed)
          snprintf(l->err, l->cap, "%s%s%s: missing", obj->parent ? rt_json_path(obj, path, sizeof path) : "",
                   obj->parent ? "." : "", key);
        l->failed = 1;
      } else {
        bad(l, v, "expected %s, got null", rt_json_type_name(want));
      }
    }
    return NULL;
  }
  if (v->t != want) {
    *err = 1;
    bad(l, v, "expected %s, got %s", rt_json_type_name(want), rt_json_type_name(v->t));
    return NULL;
  }
  return v;
}

static int flag(ld *l, const rt_json *obj, const char *key, int def, int *out) {
  int e = 0;
  const rt_json *v = member(l, obj, key, RT_JBOOL, 0, &e);
  if (e) return -1;
  *out = v ? v->b : def;
  return 0;
}

static char *dup(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = 0;
  }
  return d;
}

/* A `pattern`: {"String": "..."} or {"Regex": "..."}. */
static int pattern(ld *l, const rt_json *obj, char **lit, size_t *litlen, rt_re **re) {
  int e = 0;
  const rt_json *p = member(l, obj, "pattern", RT_JOBJ, 1, &e);
  if (e) return -1;
  const rt_json *s = rt_json_get(p, "String"), *r = rt_json_get(p, "Regex");
  if ((!s) == (!r) || (s ? s : r)->t != RT_JSTR)
    return bad(l, p, "expected {\"String\": \"...\"} or {\"Regex\": \"...\"}");
  *lit = NULL;
  *re = NULL;
  if (s) {
    if (!s->len) return bad(l, s, "an empty pattern");
    *lit = dup(s->s, s->len);
    *litlen = s->len;
    return *lit ? 0 : bad(l, s, "out of memory");
  }
  char msg[256];
  *re = rt_re_compile(r->s, r->len, msg, sizeof msg);
  return *re ? 0 : bad(l, r, "cannot use this regex: %s", msg);
}

static const char *type_of(ld *l, const rt_json *v) {
  int e = 0;
  const rt_json *t = member(l, v, "type", RT_JSTR, 1, &e);
  return e ? NULL : t->s;
}

/* ---- the model: BPE --------------------------------------------------------- */

static int grow_ids(rt_tok *t, int32_t n) {
  if (n <= t->nvocab) return 0;
  char **s = realloc(t->str, (size_t)n * sizeof *s);
  if (s) t->str = s;
  uint32_t *sl = s ? realloc(t->slen, (size_t)n * sizeof *sl) : NULL;
  if (sl) t->slen = sl;
  char **k = sl ? realloc(t->key, (size_t)n * sizeof *k) : NULL;
  if (k) t->key = k;
  uint32_t *kl = k ? realloc(t->klen, (size_t)n * sizeof *kl) : NULL;
  if (!kl) return -1;
  t->klen = kl;
  for (int32_t i = t->nvocab; i < n; i++) {
    t->str[i] = t->key[i] = NULL;
    t->slen[i] = t->klen[i] = 0;
  }
  t->nvocab = n;
  return 0;
}

/* The model key of a vocab string: itself, or for a byte-level model its
 * characters mapped back to bytes (NULL when one is outside the alphabet:
 * such a token is never produced by merging bytes). */
static char *model_key(const rt_tok *t, const char *s, size_t n, uint32_t *kn) {
  if (!t->byte_level) {
    *kn = (uint32_t)n;
    return dup(s, n);
  }
  char *k = malloc(n + 1);
  if (!k) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += (size_t)rt_utf8_dec((const unsigned char *)s + i, n - i, &cp);
    int b = rt_tok_char_byte(cp);
    if (b < 0) {
      free(k);
      return NULL;
    }
    k[o++] = (char)b;
  }
  k[o] = 0;
  *kn = (uint32_t)o;
  return k;
}

static int load_bpe(ld *l, rt_tok *t, const rt_json *m) {
  int e = 0;
  const rt_json *dropout = rt_json_get(m, "dropout");
  if (dropout && dropout->t != RT_JNULL) return bad(l, dropout, "BPE dropout is not supported (null expected)");
  const char *unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix"};
  for (int i = 0; i < 2; i++) {
    const rt_json *v = rt_json_get(m, unsupported[i]);
    if (v && v->t != RT_JNULL && !(v->t == RT_JSTR && v->len == 0))
      return bad(l, v, "not supported (null expected)");
  }
  if (flag(l, m, "fuse_unk", 0, &t->fuse_unk) || flag(l, m, "byte_fallback", 0, &t->byte_fallback) ||
      flag(l, m, "ignore_merges", 0, &t->ignore_merges))
    return -1;
  const rt_json *vocab = member(l, m, "vocab", RT_JOBJ, 1, &e);
  if (e) return -1;
  int32_t maxid = -1;
  for (int i = 0; i < vocab->n; i++) {
    int64_t id;
    if (rt_json_int(vocab->kids[i], 0, (1 << 30) - 1, &id))
      return bad(l, vocab->kids[i], "expected a token id (an integer from 0), got %s",
                 rt_json_type_name(vocab->kids[i]->t));
    if (id > maxid) maxid = (int32_t)id;
  }
  if (grow_ids(t, maxid + 1)) return bad(l, vocab, "out of memory");
  uint32_t cap = 16;
  while (cap < 2 * (uint32_t)vocab->n + 16) cap *= 2;
  t->vocab.slot = calloc(cap, sizeof *t->vocab.slot);
  t->vocab.mask = cap - 1;
  if (!t->vocab.slot) return bad(l, vocab, "out of memory");
  for (int i = 0; i < vocab->n; i++) {
    int32_t id = (int32_t)vocab->kids[i]->i;
    if (t->str[id]) return bad(l, vocab->kids[i], "id %d is used twice", id);
    t->str[id] = dup(vocab->keys[i], vocab->klen[i]);
    t->slen[id] = (uint32_t)vocab->klen[i];
    if (!t->str[id]) return bad(l, vocab, "out of memory");
    uint32_t kn;
    char *k = model_key(t, t->str[id], t->slen[id], &kn);
    if (!k) continue; /* byte-level token outside the alphabet (or no memory: never found) */
    t->key[id] = k;
    t->klen[id] = kn;
    if (map_put(t, &t->vocab, id)) return bad(l, vocab->kids[i], "two tokens have the same bytes");
  }
  for (int b = 0; b < 256; b++) {
    char k[8];
    snprintf(k, sizeof k, "<0x%02X>", b);
    t->fallback[b] = t->byte_fallback ? tok_map_get(t, &t->vocab, k, 6) : -1;
    char c = (char)b;
    t->unit_id[b] = t->byte_level ? tok_map_get(t, &t->vocab, &c, 1) : -1;
  }
  t->unk = -1;
  const rt_json *unk = member(l, m, "unk_token", RT_JSTR, 0, &e);
  if (e) return -1;
  if (unk) {
    /* the unk token is found by its text (not mapped) */
    for (int32_t i = 0; i < t->nvocab && t->unk < 0; i++)
      if (t->str[i] && t->slen[i] == unk->len && !memcmp(t->str[i], unk->s, unk->len)) t->unk = i;
    if (t->unk < 0) return bad(l, unk, "the unk token '%s' is not in model.vocab", unk->s);
  }
  /* merges: ["a b", ...] or [["a", "b"], ...], rank = position */
  const rt_json *merges = member(l, m, "merges", RT_JARR, 0, &e);
  if (e) return -1;
  int nm = merges ? merges->n : 0;
  cap = 16;
  while (cap < 2 * (uint32_t)nm + 16) cap *= 2;
  t->mkey = malloc(cap * sizeof *t->mkey);
  t->mrank = malloc(cap * sizeof *t->mrank);
  t->mnew = malloc(cap * sizeof *t->mnew);
  if (!t->mkey || !t->mrank || !t->mnew) return bad(l, m, "out of memory");
  t->mmask = cap - 1;
  for (uint32_t i = 0; i < cap; i++) t->mnew[i] = -1;
  /* token text -> id for the merges: a map over the stored text */
  tok_map bytext = {calloc(t->vocab.mask + 1, sizeof(uint32_t)), t->vocab.mask};
  char **savek = t->key;
  uint32_t *savekl = t->klen;
  t->key = t->str;
  t->klen = t->slen;
  int rc = bytext.slot ? 0 : bad(l, m, "out of memory");
  for (int32_t i = 0; !rc && i < t->nvocab; i++)
    if (t->str[i]) map_put(t, &bytext, i);
  for (int i = 0; !rc && i < nm; i++) {
    const rt_json *it = merges->kids[i];
    const char *a, *b;
    size_t an, bn;
    if (it->t == RT_JSTR) {
      const char *sp = memchr(it->s, ' ', it->len);
      if (!sp || memchr(sp + 1, ' ', it->len - (size_t)(sp + 1 - it->s))) {
        rc = bad(l, it, "a merge must be two tokens separated by one space");
        break;
      }
      a = it->s;
      an = (size_t)(sp - it->s);
      b = sp + 1;
      bn = it->len - an - 1;
    } else if (it->t == RT_JARR && it->n == 2 && it->kids[0]->t == RT_JSTR && it->kids[1]->t == RT_JSTR) {
      a = it->kids[0]->s;
      an = it->kids[0]->len;
      b = it->kids[1]->s;
      bn = it->kids[1]->len;
    } else {
      rc = bad(l, it, "a merge must be \"a b\" or [\"a\", \"b\"]");
      break;
    }
    int32_t ia = tok_map_get(t, &bytext, a, an), ib = tok_map_get(t, &bytext, b, bn);
    char *ab = malloc(an + bn + 1);
    if (!ab) {
      rc = bad(l, it, "out of memory");
      break;
    }
    memcpy(ab, a, an);
    memcpy(ab + an, b, bn);
    int32_t iab = tok_map_get(t, &bytext, ab, an + bn);
    free(ab);
    if (ia < 0 || ib < 0 || iab < 0) {
      rc = bad(l, it, "'%.*s' is not in model.vocab", (int)(ia < 0 ? an : ib < 0 ? bn : an + bn),
               ia < 0 ? a : ib < 0 ? b : a);
      if (ia >= 0 && ib >= 0) {
        char path[256];
        snprintf(l->err, l->cap, "%s: the merged token '%.*s%.*s' is not in model.vocab",
                 rt_json_path(it, path, sizeof path), (int)an, a, (int)bn, b);
      }
      break;
    }
    uint64_t k = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
    for (uint64_t h = hash_pair(k);; h++) {
      uint32_t j = (uint32_t)(h & t->mmask);
      if (t->mnew[j] < 0) {
        t->mkey[j] = k;
        t->mrank[j] = (uint32_t)i;
        t->mnew[j] = iab;
        break;
      }
      if (t->mkey[j] == k) break; /* a repeated merge keeps its first rank */
    }
  }
  free(bytext.slot);
  t->key = savek;
  t->klen = savekl;
  return rc;
}

/* ---- added tokens ------------------------------------------------------------ */

static int load_added(ld *l, rt_tok *t, const rt_json *root) {
  int e = 0;
  const rt_json *a = member(l, root, "added_tokens", RT_JARR, 0, &e);
  if (e) return -1;
  if (!a || !a->n) return 0;
  t->added = calloc((size_t)a->n, sizeof *t->added);
  if (!t->added) return bad(l, a, "out of memory");
  for (int i = 0; i < a->n; i++) {
    const rt_json *o = a->kids[i];
    if (o->t != RT_JOBJ) return bad(l, o, "expected an object");
    added_tok *k = &t->added[t->nadded++];
    int64_t id;
    const rt_json *idv = member(l, o, "id", RT_JNUM, 1, &e);
    if (e) return -1;
    if (rt_json_int(idv, 0, (1 << 30) - 1, &id)) return bad(l, idv, "expected a token id (an integer from 0)");
    const rt_json *c = member(l, o, "content", RT_JSTR, 1, &e);
    if (e) return -1;
    if (!c->len) return bad(l, c, "an added token cannot be empty");
    if (!rt_utf8_valid_prefix((const unsigned char *)c->s, 1)) return bad(l, c, "invalid UTF-8");
    k->id = (int32_t)id;
    k->s = dup(c->s, c->len);
    k->len = c->len;
    if (!k->s) return bad(l, c, "out of memory");
    if (flag(l, o, "single_word", 0, &k->single_word) || flag(l, o, "lstrip", 0, &k->lstrip) ||
        flag(l, o, "rstrip", 0, &k->rstrip) || flag(l, o, "normalized", 1, &k->normalized) ||
        flag(l, o, "special", 0, &k->special))
      return -1;
    if (grow_ids(t, k->id + 1)) return bad(l, o, "out of memory");
    free(t->str[k->id]); /* the added token's text wins, as in the library */
    t->str[k->id] = dup(k->s, k->len);
    t->slen[k->id] = (uint32_t)k->len;
    if (!t->str[k->id]) return bad(l, o, "out of memory");
  }
  t->special = calloc((size_t)t->nvocab, 1);
  if (!t->special) return bad(l, a, "out of memory");
  for (int i = 0; i < t->nadded; i++) t->special[t->added[i].id] = (uint8_t)t->added[i].special;
  return 0;
}

/* ---- normalizer ---------------------------------------------------------------- */

static const char *const norm_names = "Sequence, Prepend, Replace, Strip";

static int load_norm(ld *l, rt_tok *t, const rt_json *n, int depth) {
  if (!n || n->t == RT_JNULL) return 0;
  if (n->t != RT_JOBJ) return bad(l, n, "expected an object or null");
  const char *ty = type_of(l, n);
  if (!ty) return -1;
  int e = 0;
  if (!strcmp(ty, "Sequence")) {
    const rt_json *s = member(l, n, "normalizers", RT_JARR, 1, &e);
    if (e) return -1;
    if (depth > 8) return bad(l, n, "Sequence nested too deeply");
    for (int i = 0; i < s->n; i++)
      if (load_norm(l, t, s->kids[i], depth + 1)) return -1;
    return 0;
  }
  /* the op joins the table first, so rt_tok_free releases a half-read one */
  norm_op *grown = realloc(t->norm, (size_t)(t->nnorm + 1) * sizeof *grown);
  if (!grown) return bad(l, n, "out of memory");
  t->norm = grown;
  norm_op *op = &t->norm[t->nnorm++];
  memset(op, 0, sizeof *op);
  if (!strcmp(ty, "Prepend")) {
    const rt_json *p = member(l, n, "prepend", RT_JSTR, 1, &e);
    if (e) return -1;
    op->kind = NM_PREPEND;
    op->pat = dup(p->s, p->len);
    op->plen = p->len;
  } else if (!strcmp(ty, "Replace")) {
    const rt_json *c = member(l, n, "content", RT_JSTR, 1, &e);
    if (e || pattern(l, n, &op->pat, &op->plen, &op->re)) return -1;
    op->kind = NM_REPLACE;
    op->with = dup(c->s, c->len);
    op->wlen = c->len;
  } else if (!strcmp(ty, "Strip")) {
    op->kind = NM_STRIP;
    if (flag(l, n, "strip_left", 0, &op->left) || flag(l, n, "strip_right", 0, &op->right)) return -1;
  } else {
    return bad(l, n, "normalizer type '%s' is not supported (supported: %s)", ty, norm_names);
  }
  return 0;
}

/* ---- pre-tokenizer ---------------------------------------------------------------- */

/* GPT-2's pattern, which ByteLevel(use_regex: true) splits with */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int metaspace(ld *l, const rt_json *n, char *repl, int *repl_len, int *prepend) {
  int e = 0;
  const rt_json *r = member(l, n, "replacement", RT_JSTR, 1, &e);
  if (e) return -1;
  uint32_t cp;
  if (!r->len || r->len > 4 || rt_utf8_dec((const unsigned char *)r->s, r->len, &cp) != (int)r->len)
    return bad(l, r, "expected one character");
  memcpy(repl, r->s, r->len);
  *repl_len = (int)r->len;
  const rt_json *ps = member(l, n, "prepend_scheme", RT_JSTR, 0, &e);
  if (e) return -1;
  if (ps) {
    if (!strcmp(ps->s, "never")) *prepend = 0;
    else if (!strcmp(ps->s, "first")) *prepend = 1;
    else if (!strcmp(ps->s, "always")) *prepend = 2;
    else return bad(l, ps, "expected \"always\", \"first\" or \"never\"");
  } else {
    int aps;
    if (flag(l, n, "add_prefix_space", 1, &aps)) return -1;
    *prepend = aps ? 2 : 0;
  }
  return 0;
}

static const char *const pre_names = "Sequence, ByteLevel, Split, Metaspace";

static int load_pre(ld *l, rt_tok *t, const rt_json *n, int depth, int *mapped) {
  if (!n || n->t == RT_JNULL) return 0;
  if (n->t != RT_JOBJ) return bad(l, n, "expected an object or null");
  const char *ty = type_of(l, n);
  if (!ty) return -1;
  int e = 0;
  if (!strcmp(ty, "Sequence")) {
    const rt_json *s = member(l, n, "pretokenizers", RT_JARR, 1, &e);
    if (e) return -1;
    if (depth > 8) return bad(l, n, "Sequence nested too deeply");
    for (int i = 0; i < s->n; i++)
      if (load_pre(l, t, s->kids[i], depth + 1, mapped)) return -1;
    return 0;
  }
  /* the op joins the table first, so rt_tok_free releases a half-read one */
  pre_op *grown = realloc(t->pre, (size_t)(t->npre + 1) * sizeof *grown);
  if (!grown) return bad(l, n, "out of memory");
  t->pre = grown;
  pre_op *op = &t->pre[t->npre++];
  memset(op, 0, sizeof *op);
  char msg[256];
  if (!strcmp(ty, "ByteLevel")) {
    op->kind = PT_BYTELEVEL;
    if (flag(l, n, "add_prefix_space", 1, &op->add_prefix_space) ||
        flag(l, n, "use_regex", 1, &op->use_regex))
      return -1;
    if (op->use_regex && !(op->re = rt_re_compile(gpt2_pattern, sizeof gpt2_pattern - 1, msg, sizeof msg)))
      return bad(l, n, "internal: %s", msg);
  } else if (!strcmp(ty, "Split") || !strcmp(ty, "Metaspace")) {
    if (*mapped)
      return bad(l, n, "a %s after ByteLevel is not supported (it would see byte-level "
                 "characters)", ty);
    if (!strcmp(ty, "Split")) {
      op->kind = PT_SPLIT;
      if (pattern(l, n, &op->lit, &op->litlen, &op->re) || flag(l, n, "invert", 0, &op->invert)) return -1;
      const rt_json *b = member(l, n, "behavior", RT_JSTR, 1, &e);
      if (e) return -1;
      static const char *const beh[] = {"Removed", "Isolated", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
      op->behavior = -1;
      for (int i = 0; i < 5; i++)
        if (!strcmp(b->s, beh[i])) op->behavior = i;
      if (op->behavior < 0)
        return bad(l, b, "expected Removed, Isolated, MergedWithPrevious, MergedWithNext or "
                   "Contiguous");
    } else {
      op->kind = PT_METASPACE;
      if (metaspace(l, n, op->repl, &op->repl_len, &op->prepend) || flag(l, n, "split", 1, &op->split))
        return -1;
    }
  } else {
    return bad(l, n, "pre_tokenizer type '%s' is not supported (supported: %s)", ty, pre_names);
  }
  if (op->kind == PT_BYTELEVEL) {
    *mapped = 1;
    t->byte_level = 1;
  }
  return 0;
}

/* ---- post-processor ------------------------------------------------------------- */

static int push_id(int32_t **a, int *n, int32_t id) {
  int32_t *b = realloc(*a, (size_t)(*n + 1) * sizeof *b);
  if (!b) return -1;
  *a = b;
  b[(*n)++] = id;
  return 0;
}

static int load_post(ld *l, rt_tok *t, const rt_json *n, int depth) {
  if (!n || n->t == RT_JNULL) return 0;
  if (n->t != RT_JOBJ) return bad(l, n, "expected an object or null");
  const char *ty = type_of(l, n);
  if (!ty) return -1;
  int e = 0;
  if (!strcmp(ty, "ByteLevel")) return 0; /* offsets only: ids unchanged */
  if (!strcmp(ty, "Sequence")) {
    const rt_json *s = member(l, n, "processors", RT_JARR, 1, &e);
    if (e) return -1;
    if (depth > 8) return bad(l, n, "Sequence nested too deeply");
    for (int i = 0; i < s->n; i++)
      if (load_post(l, t, s->kids[i], depth + 1)) return -1;
    return 0;
  }
  if (t->npost_pre || t->npost_post) return bad(l, n, "a second template processor");
  if (!strcmp(ty, "RobertaProcessing") || !strcmp(ty, "BertProcessing")) {
    const rt_json *cls = member(l, n, "cls", RT_JARR, 1, &e), *sep = e ? NULL : member(l, n, "sep", RT_JARR, 1, &e);
    if (e) return -1;
    int64_t ci, si;
    if (cls->n != 2 || rt_json_int(cls->kids[1], 0, t->nvocab - 1, &ci)) return bad(l, cls, "expected [token, id]");
    if (sep->n != 2 || rt_json_int(sep->kids[1], 0, t->nvocab - 1, &si)) return bad(l, sep, "expected [token, id]");
    if (push_id(&t->post_pre, &t->npost_pre, (int32_t)ci) ||
        push_id(&t->post_post, &t->npost_post, (int32_t)si))
      return bad(l, n, "out of memory");
    return 0;
  }
  if (strcmp(ty, "TemplateProcessing"))
    return bad(l, n, "post_processor type '%s' is not supported (supported: TemplateProcessing, "
               "ByteLevel, RobertaProcessing, BertProcessing, Sequence)", ty);
  const rt_json *single = member(l, n, "single", RT_JARR, 1, &e);
  const rt_json *specials = e ? NULL : member(l, n, "special_tokens", RT_JOBJ, 0, &e);
  if (e) return -1;
  int seen_a = 0;
  for (int i = 0; i < single->n; i++) {
    const rt_json *it = single->kids[i];
    const rt_json *st = rt_json_get(it, "SpecialToken"), *sq = rt_json_get(it, "Sequence");
    if (sq) {
      const rt_json *id = rt_json_get(sq, "id");
      if (!id || id->t != RT_JSTR || strcmp(id->s, "A") || seen_a)
        return bad(l, it, "expected the sequence $A once");
      seen_a = 1;
      continue;
    }
    const rt_json *name = st ? rt_json_get(st, "id") : NULL;
    if (!name || name->t != RT_JSTR) return bad(l, it, "expected {\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": ...}");
    const rt_json *def = specials ? rt_json_get(specials, name->s) : NULL;
    const rt_json *ids = def ? rt_json_get(def, "ids") : NULL;
    if (!ids || ids->t != RT_JARR) return bad(l, name, "'%s' is not in special_tokens", name->s);
    for (int k = 0; k < ids->n; k++) {
      int64_t v;
      if (rt_json_int(ids->kids[k], 0, (1 << 30) - 1, &v)) return bad(l, ids->kids[k], "expected a token id");
      if (push_id(seen_a ? &t->post_post : &t->post_pre, seen_a ? &t->npost_post : &t->npost_pre,
                  (int32_t)v))
        return bad(l, n, "out of memory");
    }
  }
  if (!seen_a) return bad(l, single, "the template has no $A");
  return 0;
}

/* ---- decoder ----------------------------------------------------------------------- */

static const char *const dec_names = "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace";

static int load_dec(ld *l, rt_tok *t, const rt_json *n, int depth) {
  if (!n || n->t == RT_JNULL) return 0;
  if (n->t != RT_JOBJ) return bad(l, n, "expected an object or null");
  const char *ty = type_of(l, n);
  if (!ty) return -1;
  int e = 0;
  if (!strcmp(ty, "Sequence")) {
    const rt_json *s = member(l, n, "decoders", RT_JARR, 1, &e);
    if (e) return -1;
    if (depth > 8) return bad(l, n, "Sequence nested too deeply");
    for (int i = 0; i < s->n; i++)
      if (load_dec(l, t, s->kids[i], depth + 1)) return -1;
    return 0;
  }
  /* the op joins the table first, so rt_tok_free releases a half-read one */
  dec_op *grown = realloc(t->dec, (size_t)(t->ndec + 1) * sizeof *grown);
  if (!grown) return bad(l, n, "out of memory");
  t->dec = grown;
  dec_op *op = &t->dec[t->ndec++];
  memset(op, 0, sizeof *op);
  if (!strcmp(ty, "ByteLevel")) op->kind = DC_BYTELEVEL;
  else if (!strcmp(ty, "ByteFallback")) op->kind = DC_BYTEFALLBACK;
  else if (!strcmp(ty, "Fuse")) op->kind = DC_FUSE;
  else if (!strcmp(ty, "Replace")) {
    rt_re *re;
    const rt_json *c = member(l, n, "content", RT_JSTR, 1, &e);
    if (e || pattern(l, n, &op->pat, &op->plen, &re)) return -1;
    if (re) {
      rt_re_free(re);
      return bad(l, n, "a Regex pattern in a Replace decoder is not supported (String only)");
    }
    op->kind = DC_REPLACE;
    op->with = dup(c->s, c->len);
    op->wlen = c->len;
  } else if (!strcmp(ty, "Strip")) {
    const rt_json *c = member(l, n, "content", RT_JSTR, 1, &e);
    if (e) return -1;
    int64_t a, b;
    const rt_json *sa = rt_json_get(n, "start"), *sb = rt_json_get(n, "stop");
    if (rt_json_int(sa, 0, 1 << 20, &a)) return bad(l, sa ? sa : n, "expected start: a count");
    if (rt_json_int(sb, 0, 1 << 20, &b)) return bad(l, sb ? sb : n, "expected stop: a count");
    if (!c->len || rt_utf8_dec((const unsigned char *)c->s, c->len, &op->strip_cp) != (int)c->len)
      return bad(l, c, "expected one character");
    op->kind = DC_STRIP;
    op->start = (int)a;
    op->stop = (int)b;
  } else if (!strcmp(ty, "Metaspace")) {
    op->kind = DC_METASPACE;
    if (metaspace(l, n, op->repl, &op->repl_len, &op->prepend)) return -1;
  } else {
    return bad(l, n, "decoder type '%s' is not supported (supported: %s)", ty, dec_names);
  }
  return 0;
}

/* ---- entry ------------------------------------------------------------------------- */

void rt_tok_free(rt_tok *t) {
  if (!t) return;
  for (int32_t i = 0; i < t->nvocab; i++) {
    if (t->key) free(t->key[i]);
    if (t->str) free(t->str[i]);
  }
  free(t->str);
  free(t->slen);
  free(t->key);
  free(t->klen);
  free(t->vocab.slot);
  free(t->mkey);
  free(t->mrank);
  free(t->mnew);
  for (int i = 0; i < t->nadded; i++) {
    free(t->added[i].s);
    free(t->added[i].m);
  }
  free(t->added);
  free(t->special);
  for (int i = 0; i < t->nnorm; i++) {
    free(t->norm[i].pat);
    free(t->norm[i].with);
    rt_re_free(t->norm[i].re);
  }
  free(t->norm);
  for (int i = 0; i < t->npre; i++) {
    free(t->pre[i].lit);
    rt_re_free(t->pre[i].re);
  }
  free(t->pre);
  for (int i = 0; i < t->ndec; i++) {
    free(t->dec[i].pat);
    free(t->dec[i].with);
  }
  free(t->dec);
  free(t->post_pre);
  free(t->post_post);
  free(t);
}

rt_tok *rt_tok_parse(const char *json, size_t n, char *err, size_t errcap) {
  alphabet_init();
  rt_uc_init();
  char jerr[256];
  rt_json_doc *doc = rt_json_parse(json, n, jerr, sizeof jerr);
  if (!doc) {
    snprintf(err, errcap, "not valid JSON: %s", jerr);
    return NULL;
  }
  const rt_json *root = rt_json_root(doc);
  ld l = {err, errcap, 0};
  rt_tok *t = calloc(1, sizeof *t);
  int rc = t ? 0 : -1;
  int mapped = 0, e = 0;
  if (!t) snprintf(err, errcap, "out of memory");
  else if (root->t != RT_JOBJ) rc = bad(&l, root, "expected an object");
  if (!rc) {
    /* the pre-tokenizer first: it decides whether the vocabulary is byte-level */
    rc = load_pre(&l, t, rt_json_get(root, "pre_tokenizer"), 0, &mapped);
  }
  const rt_json *m = rc ? NULL : member(&l, root, "model", RT_JOBJ, 1, &e);
  if (!rc && e) rc = -1;
  if (!rc) {
    const rt_json *ty = rt_json_get(m, "type");
    if (ty && (ty->t != RT_JSTR || strcmp(ty->s, "BPE")))
      rc = ty->t == RT_JSTR ? bad(&l, ty, "model type '%s' is not supported (BPE only)", ty->s)
                            : bad(&l, ty, "expected a string");
  }
  if (!rc) rc = load_bpe(&l, t, m);
  if (!rc) rc = load_added(&l, t, root);
  if (!rc) rc = load_norm(&l, t, rt_json_get(root, "normalizer"), 0);
  if (!rc) rc = load_post(&l, t, rt_json_get(root, "post_processor"), 0);
  if (!rc) rc = load_dec(&l, t, rt_json_get(root, "decoder"), 0);
  /* normalized added tokens are matched in normalized text, by their own
   * normalized form */
  for (int i = 0; !rc && i < t->nadded; i++) {
    added_tok *k = &t->added[i];
    if (k->normalized && t->nnorm) rc = tok_normalized(t, k->s, k->len, &k->m, &k->mlen);
    else if (!(k->m = dup(k->s, k->len))) rc = -1;
    else k->mlen = k->len;
    if (rc) {
      snprintf(err, errcap, "out of memory");
    } else if (k->normalized && t->nnorm) {
      /* the library keeps (and decodes) the normalized form */
      char *d = dup(k->m, k->mlen);
      if (!d) rc = -1;
      free(t->str[k->id]);
      t->str[k->id] = d;
      t->slen[k->id] = (uint32_t)k->mlen;
    }
    if (!rc && k->mlen) t->first_byte[k->normalized][(unsigned char)k->m[0]] = 1;
  }
  for (int i = 0; !rc && i < t->npost_pre + t->npost_post; i++) {
    int32_t id = i < t->npost_pre ? t->post_pre[i] : t->post_post[i - t->npost_pre];
    if (id >= t->nvocab || !t->str[id])
      rc = bad(&l, rt_json_get(root, "post_processor"), "token id %d is not in the vocabulary", id);
  }
  if (!rc) {
    int nspecial = 0;
    for (int i = 0; i < t->nadded; i++) nspecial += t->added[i].special;
    snprintf(t->desc, sizeof t->desc, "%s BPE, %d tokens (%d added, %d special)%s%s",
             t->byte_level ? "byte-level" : t->byte_fallback ? "byte-fallback" : "character",
             t->nvocab, t->nadded, nspecial, t->nnorm ? ", normalizer" : "",
             t->npost_pre + t->npost_post ? ", template" : "");
  }
  rt_json_free(doc);
  if (rc) {
    rt_tok_free(t);
    return NULL;
  }
  return t;
}

rt_tok *rt_tok_load(const char *path) {
  unsigned char *buf;
  int64_t n;
  if (rt_read_file(path, &buf, &n) != 0) return NULL;
  char err[512];
  rt_tok *t = rt_tok_parse((const char *)buf, (size_t)n, err, sizeof err);
  free(buf);
  if (!t) rt_err("%s: %s", path, err);
  return t;
}

int32_t rt_tok_vocab_size(const rt_tok *t) { return t->nvocab; }
const char *rt_tok_describe(const rt_tok *t) { return t->desc; }

int32_t rt_tok_id(const rt_tok *t, const char *token) {
  size_t n = strlen(token);
  for (int i = 0; i < t->nadded; i++)
    if (t->added[i].len == n && !memcmp(t->added[i].s, token, n)) return t->added[i].id;
  for (int32_t i = 0; i < t->nvocab; i++)
    if (t->str[i] && t->slen[i] == n && !memcmp(t->str[i], token, n)) return i;
  return -1;
}

const char *rt_tok_token(const rt_tok *t, int32_t id) {
  return id >= 0 && id < t->nvocab ? t->str[id] : NULL;
}

int rt_tok_is_special(const rt_tok *t, int32_t id) {
  return t->special && id >= 0 && id < t->nvocab && t->special[id];
}
