/* runtime/json.c -- the JSON reader (json.h): RFC 8259, strict.
 *
 * One idea: a recursive-descent parser that writes nodes into one arena and
 * collects each container's children on a shared stack, so a container's
 * child array is allocated once at its exact size; parents and indexes are
 * filled in as children are placed, which is what lets rt_json_path name
 * any value. Strings must be valid UTF-8 (escapes included: a lone
 * surrogate is an error), as Hugging Face's own reader demands.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_DEPTH 256
#define BLOCK (1 << 16)

typedef struct blk { struct blk *next; size_t used, cap; } blk;

struct rt_json_doc {
  blk *blocks;
  rt_json *root;
};

typedef struct {
  rt_json_doc *d;
  const char *p, *end, *start;
  char *err;
  size_t errcap;
  int failed;
  rt_json **stack;        /* children being collected, all levels */
  const char **kstack;
  size_t *klstack;
  size_t sn, scap;
  char *sbuf;             /* string scratch */
  size_t sbcap;
  const char *lp;         /* pos_of's last position, its line and column */
  int pl, pc;
} jp;

static void *alloc(jp *j, size_t n) {
  n = (n + 15) & ~(size_t)15;
  blk *b = j->d->blocks;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > BLOCK ? n : BLOCK;
    b = malloc(sizeof(blk) + 16 + cap);
    if (!b) return NULL;
    b->next = j->d->blocks;
    b->used = 0;
    b->cap = cap;
    j->d->blocks = b;
  }
  void *p = (char *)(b + 1) + 16 + b->used;
  p = (void *)(((uintptr_t)p) & ~(uintptr_t)15);
  b->used += n;
  return p;
}

/* Line and column of `at`; positions asked for only move forward while
 * parsing, so the count resumes from the last one (linear overall). */
static void pos_of(jp *j, const char *at, int *line, int *col) {
  if (at < j->lp) {
    j->lp = j->start;
    j->pl = j->pc = 1;
  }
  for (; j->lp < at && j->lp < j->end; j->lp++) {
    if (*j->lp == '\n') {
      j->pl++;
      j->pc = 1;
    } else {
      j->pc++;
    }
  }
  *line = j->pl;
  *col = j->pc;
}

static int fail(jp *j, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(jp *j, const char *at, const char *fmt, ...) {
  if (j->failed) return -1;
  j->failed = 1;
  int l, c;
  pos_of(j, at, &l, &c);
  int k = snprintf(j->err, j->errcap, "%d:%d: ", l, c);
  va_list ap;
  va_start(ap, fmt);
  if (k >= 0 && (size_t)k < j->errcap) vsnprintf(j->err + k, j->errcap - (size_t)k, fmt, ap);
  va_end(ap);
  return -1;
}

static void ws(jp *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int push(jp *j, rt_json *v, const char *k, size_t kl) {
  if (j->sn == j->scap) {
    size_t cap = j->scap ? 2 * j->scap : 256;
    rt_json **s = realloc(j->stack, cap * sizeof *s);
    if (s) j->stack = s;
    const char **ks = s ? realloc(j->kstack, cap * sizeof *ks) : NULL;
    if (ks) j->kstack = ks;
    size_t *kl2 = ks ? realloc(j->klstack, cap * sizeof *kl2) : NULL;
    if (!kl2) return fail(j, j->p, "out of memory");
    j->klstack = kl2;
    j->scap = cap;
  }
  j->stack[j->sn] = v;
  j->kstack[j->sn] = k;
  j->klstack[j->sn] = kl;
  j->sn++;
  return 0;
}

static int sb_put(jp *j, size_t at, const char *s, size_t n) {
  if (at + n + 1 > j->sbcap) {
    size_t cap = j->sbcap ? j->sbcap : 256;
    while (cap < at + n + 1) cap *= 2;
    char *b = realloc(j->sbuf, cap);
    if (!b) return fail(j, j->p, "out of memory");
    j->sbuf = b;
    j->sbcap = cap;
  }
  memcpy(j->sbuf + at, s, n);
  return 0;
}

static int hex4(jp *j, unsigned *out) {
  if (j->end - j->p < 4) return fail(j, j->p, "truncated \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = j->p[i];
    int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (h < 0) return fail(j, j->p + i, "bad hex digit in \\u escape");
    v = v * 16 + (unsigned)h;
  }
  j->p += 4;
  *out = v;
  return 0;
}

/* Length of a valid UTF-8 sequence at s (max n bytes), 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (!len || c > 0xF4 || (size_t)len > n) return 0;
  for (int i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && s[1] < 0xA0) return 0;             /* overlong */
  if (c == 0xED && s[1] >= 0xA0) return 0;            /* surrogate */
  if (c == 0xF0 && s[1] < 0x90) return 0;             /* overlong */
  if (c == 0xF4 && s[1] >= 0x90) return 0;            /* > U+10FFFF */
  return len;
}

static size_t put_utf8(char *o, unsigned cp) {
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

/* A string at j->p (the opening quote); *out in the arena. */
static int string(jp *j, const char **out, size_t *olen) {
  const char *open = j->p++;
  size_t n = 0;
  for (;;) {
    /* copy a run of plain bytes at once */
    const char *q = j->p;
    while (q < j->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20 &&
           (unsigned char)*q < 0x80)
      q++;
    if (q > j->p) {
      if (sb_put(j, n, j->p, (size_t)(q - j->p))) return -1;
      n += (size_t)(q - j->p);
      j->p = q;
    }
    if (j->p >= j->end) return fail(j, open, "unterminated string");
    unsigned char c = (unsigned char)*j->p;
    if (c == '"') {
      j->p++;
      break;
    }
    if (c < 0x20) return fail(j, j->p, "control character 0x%02x in a string (escape it)", c);
    if (c >= 0x80) {
      int l = utf8_len((const unsigned char *)j->p, (size_t)(j->end - j->p));
      if (!l) return fail(j, j->p, "invalid UTF-8 in a string");
      if (sb_put(j, n, j->p, (size_t)l)) return -1;
      n += (size_t)l;
      j->p += l;
      continue;
    }
    /* backslash */
    const char *esc = j->p++;
    if (j->p >= j->end) return fail(j, esc, "unterminated escape");
    char e = *j->p++, ch;
    unsigned cp;
    switch (e) {
    case '"': ch = '"'; break;
    case '\\': ch = '\\'; break;
    case '/': ch = '/'; break;
    case 'b': ch = '\b'; break;
    case 'f': ch = '\f'; break;
    case 'n': ch = '\n'; break;
    case 'r': ch = '\r'; break;
    case 't': ch = '\t'; break;
    case 'u': {
      if (hex4(j, &cp)) return -1;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(j, esc, "lone low surrogate \\u%04X", cp);
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
          return fail(j, esc, "high surrogate \\u%04X without its low half", cp);
        j->p += 2;
        if (hex4(j, &lo)) return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
          return fail(j, esc, "high surrogate \\u%04X followed by \\u%04X", cp, lo);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      char u[4];
      size_t ul = put_utf8(u, cp);
      if (sb_put(j, n, u, ul)) return -1;
      n += ul;
      continue;
    }
    default: return fail(j, esc, "unknown escape \\%c", e);
    }
    if (sb_put(j, n, &ch, 1)) return -1;
    n++;
  }
  char *s = alloc(j, n + 1);
  if (!s) return fail(j, open, "out of memory");
  if (n) memcpy(s, j->sbuf, n);
  s[n] = 0;
  *out = s;
  *olen = n;
  return 0;
}

static int number(jp *j, rt_json *v) {
  const char *s = j->p, *q = s;
  if (q < j->end && *q == '-') q++;
  if (q >= j->end || !(*q >= '0' && *q <= '9')) return fail(j, s, "invalid number");
  if (*q == '0') q++;
  else
    while (q < j->end && *q >= '0' && *q <= '9') q++;
  int integral = 1;
  if (q < j->end && *q == '.') {
    integral = 0;
    q++;
    if (q >= j->end || !(*q >= '0' && *q <= '9')) return fail(j, s, "invalid number");
    while (q < j->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < j->end && (*q == 'e' || *q == 'E')) {
    integral = 0;
    q++;
    if (q < j->end && (*q == '+' || *q == '-')) q++;
    if (q >= j->end || !(*q >= '0' && *q <= '9')) return fail(j, s, "invalid number");
    while (q < j->end && *q >= '0' && *q <= '9') q++;
  }
  char buf[64];
  size_t len = (size_t)(q - s);
  if (len >= sizeof buf) {
    /* a very long literal: strtod on a copy */
    char *t = malloc(len + 1);
    if (!t) return fail(j, s, "out of memory");
    memcpy(t, s, len);
    t[len] = 0;
    v->num = strtod(t, NULL);
    free(t);
    integral = 0; /* too long to be an exact integer of ours */
  } else {
    memcpy(buf, s, len);
    buf[len] = 0;
    v->num = strtod(buf, NULL);
    if (integral) {
      errno = 0;
      long long x = strtoll(buf, NULL, 10);
      if (errno) integral = 0;
      else v->i = x;
    }
  }
  v->t = RT_JNUM;
  v->integral = integral;
  j->p = q;
  return 0;
}

static int value(jp *j, rt_json *v, int depth);

static int lit(jp *j, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n)) return fail(j, j->p, "invalid literal");
  j->p += n;
  return 0;
}

/* The children pushed since `base` become v's kids (and keys). */
static int settle(jp *j, rt_json *v, size_t base, int obj) {
  size_t n = j->sn - base;
  if (n > (size_t)0x7fffffff) return fail(j, j->p, "too many members");
  v->n = (int)n;
  if (n) {
    v->kids = alloc(j, n * sizeof *v->kids);
    if (!v->kids) return fail(j, j->p, "out of memory");
    memcpy(v->kids, j->stack + base, n * sizeof *v->kids);
    if (obj) {
      v->keys = alloc(j, n * sizeof *v->keys);
      v->klen = alloc(j, n * sizeof *v->klen);
      if (!v->keys || !v->klen) return fail(j, j->p, "out of memory");
      memcpy(v->keys, j->kstack + base, n * sizeof *v->keys);
      memcpy(v->klen, j->klstack + base, n * sizeof *v->klen);
    }
    for (size_t i = 0; i < n; i++) {
      v->kids[i]->parent = v;
      v->kids[i]->idx = (int)i;
    }
  }
  j->sn = base;
  return 0;
}

static int container(jp *j, rt_json *v, int depth, int obj) {
  const char *open = j->p++;
  if (depth >= MAX_DEPTH) return fail(j, open, "nested deeper than %d levels", MAX_DEPTH);
  v->t = obj ? RT_JOBJ : RT_JARR;
  size_t base = j->sn;
  ws(j);
  if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
    j->p++;
    return settle(j, v, base, obj);
  }
  for (;;) {
    const char *k = NULL;
    size_t kl = 0;
    ws(j);
    if (obj) {
      if (j->p >= j->end || *j->p != '"') return fail(j, j->p, "expected a key string");
      if (string(j, &k, &kl)) return -1;
      ws(j);
      if (j->p >= j->end || *j->p != ':') return fail(j, j->p, "expected ':' after a key");
      j->p++;
      ws(j);
    }
    rt_json *c = alloc(j, sizeof *c);
    if (!c) return fail(j, j->p, "out of memory");
    memset(c, 0, sizeof *c);
    if (value(j, c, depth + 1) || push(j, c, k, kl)) return -1;
    ws(j);
    if (j->p >= j->end) return fail(j, open, "unterminated %s", obj ? "object" : "array");
    if (*j->p == ',') {
      j->p++;
      continue;
    }
    if (*j->p == (obj ? '}' : ']')) {
      j->p++;
      return settle(j, v, base, obj);
    }
    return fail(j, j->p, "expected ',' or '%c'", obj ? '}' : ']');
  }
}

static int value(jp *j, rt_json *v, int depth) {
  ws(j);
  if (j->p >= j->end) return fail(j, j->p, "expected a value, found the end of the input");
  pos_of(j, j->p, &v->line, &v->col);
  switch (*j->p) {
  case '{': return container(j, v, depth, 1);
  case '[': return container(j, v, depth, 0);
  case '"':
    v->t = RT_JSTR;
    return string(j, &v->s, &v->len);
  case 't': v->t = RT_JBOOL; v->b = 1; return lit(j, "true");
  case 'f': v->t = RT_JBOOL; return lit(j, "false");
  case 'n': v->t = RT_JNULL; return lit(j, "null");
  default:
    if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) return number(j, v);
    return fail(j, j->p, "unexpected character '%c'", *j->p >= 0x20 && *j->p < 0x7f ? *j->p : '?');
  }
}

void rt_json_free(rt_json_doc *d) {
  if (!d) return;
  for (blk *b = d->blocks, *nx; b; b = nx) {
    nx = b->next;
    free(b);
  }
  free(d);
}

rt_json_doc *rt_json_parse(const char *text, size_t n, char *err, size_t errcap) {
  rt_json_doc *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, errcap, "out of memory");
    return NULL;
  }
  jp j = {.d = d, .p = text, .end = text + n, .start = text, .err = err, .errcap = errcap,
          .lp = text, .pl = 1, .pc = 1};
  d->root = alloc(&j, sizeof *d->root);
  int rc = -1;
  if (d->root) {
    memset(d->root, 0, sizeof *d->root);
    rc = value(&j, d->root, 0);
    if (!rc) {
      ws(&j);
      if (j.p < j.end) rc = fail(&j, j.p, "unexpected text after the JSON value");
    }
  } else {
    fail(&j, text, "out of memory");
  }
  free(j.stack);
  free(j.kstack);
  free(j.klstack);
  free(j.sbuf);
  if (rc) {
    rt_json_free(d);
    return NULL;
  }
  return d;
}

const rt_json *rt_json_root(const rt_json_doc *d) { return d ? d->root : NULL; }

const rt_json *rt_json_get(const rt_json *v, const char *key) {
  if (!v || v->t != RT_JOBJ) return NULL;
  size_t kl = strlen(key);
  for (int i = 0; i < v->n; i++)
    if (v->klen[i] == kl && !memcmp(v->keys[i], key, kl)) return v->kids[i];
  return NULL;
}

const char *rt_json_type_name(rt_jtype t) {
  static const char *const names[] = {"null", "a boolean", "a number", "a string", "an array",
                                      "an object"};
  return (unsigned)t < 6 ? names[t] : "?";
}

static int plain_key(const char *k, size_t n) {
  if (!n || (k[0] >= '0' && k[0] <= '9')) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

/* Appends v's path to buf[*k..cap). */
static void path_of(const rt_json *v, char *buf, size_t cap, size_t *k) {
  if (!v->parent) return;
  path_of(v->parent, buf, cap, k);
  if (*k >= cap) return;
  const rt_json *p = v->parent;
  int w;
  if (p->t == RT_JARR) {
    w = snprintf(buf + *k, cap - *k, "[%d]", v->idx);
  } else {
    const char *key = p->keys[v->idx];
    size_t kl = p->klen[v->idx];
    if (plain_key(key, kl)) {
      w = snprintf(buf + *k, cap - *k, "%s%.*s", *k ? "." : "", (int)kl, key);
    } else {
      /* quote the key, escaping what would confuse a reader; long keys cut */
      size_t o = *k;
      if (o < cap) buf[o++] = '[';
      if (o < cap) buf[o++] = '"';
      for (size_t i = 0; i < kl && i < 48 && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '"' || c == '\\') {
          buf[o++] = '\\';
          buf[o++] = (char)c;
        } else if (c < 0x20) {
          o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        } else {
          buf[o++] = (char)c;
        }
      }
      if (kl > 48 && o + 3 < cap) { memcpy(buf + o, "...", 3); o += 3; }
      if (o + 2 < cap) { buf[o++] = '"'; buf[o++] = ']'; }
      if (o < cap) buf[o] = 0;
      *k = o;
      return;
    }
  }
  if (w > 0) *k += (size_t)w;
  if (*k >= cap) *k = cap - 1;
}

const char *rt_json_path(const rt_json *v, char *buf, size_t cap) {
  if (!cap) return buf;
  buf[0] = 0;
  if (!v || !v->parent) {
    snprintf(buf, cap, "(root)");
    return buf;
  }
  size_t k = 0;
  path_of(v, buf, cap, &k);
  return buf;
}

int rt_json_int(const rt_json *v, int64_t lo, int64_t hi, int64_t *out) {
  if (!v || v->t != RT_JNUM || !v->integral || v->i < lo || v->i > hi) return -1;
  *out = v->i;
  return 0;
}
