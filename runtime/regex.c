/* runtime/regex.c -- the regular expressions of tokenizer.json: the
 * pre-tokenizer split patterns (GPT-2's, LLaMA-3's, ...) and Replace
 * patterns, with the semantics of the Oniguruma engine the `tokenizers`
 * library uses: leftmost-first (Perl-style) matching over code points.
 *
 * One idea: a small backtracking machine. The pattern compiles to
 * instructions (char, class, split with a preferred branch, jump, lookahead,
 * match); a search tries each start position and follows the preferred
 * branches first, which is exactly the priority order Oniguruma's
 * alternation and greedy quantifiers give. Supported: literals and escapes,
 * classes with ranges, \p{L} \p{N} \s (and their negations), `.`, groups
 * (?: ) and (?i: ), lookahead (?= ) (?! ), alternation and the quantifiers
 * * + ? {m} {m,} {m,n} (greedy or lazy). Anything else is a compile error
 * that says which construct, never a silent difference.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

enum { I_CHAR, I_ANY, I_CLASS, I_SPLIT, I_JMP, I_LOOK, I_MATCH, I_BOS, I_EOS };
#define REP_INF (-1)

typedef struct { uint32_t lo, hi; int prop, neg; } citem; /* prop: class flags, else range */
typedef struct { citem *it; int n, neg, icase; } rclass;
typedef struct { int op, a, b, icase; uint32_t cp; } rinst;

struct rt_re {
  rinst *code;
  int n, cap;
  rclass *cls;
  int ncls;
};

/* ---- parsing: pattern -> tree -------------------------------------------- */

enum { N_CHAR, N_ANY, N_CLASS, N_CAT, N_ALT, N_REP, N_LOOK, N_BOS, N_EOS, N_EMPTY };
typedef struct rnode rnode;
struct rnode {
  int k, icase, neg, min, max, greedy, cls;
  uint32_t cp;
  rnode **kids;
  int n;
};

typedef struct {
  const char *p, *end, *start;
  char *err;
  size_t errcap;
  int failed;
  rt_re *re;
  rnode **all;           /* every node, for freeing */
  int nall, capall;
  int depth;
} rp;

static int rfail(rp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rfail(rp *r, const char *fmt, ...) {
  if (r->failed) return -1;
  r->failed = 1;
  int k = snprintf(r->err, r->errcap, "at offset %d: ", (int)(r->p - r->start));
  va_list ap;
  va_start(ap, fmt);
  if (k >= 0 && (size_t)k < r->errcap) vsnprintf(r->err + k, r->errcap - (size_t)k, fmt, ap);
  va_end(ap);
  return -1;
}

static rnode *mk(rp *r, int k) {
  if (r->nall == r->capall) {
    int cap = r->capall ? 2 * r->capall : 64;
    rnode **a = realloc(r->all, (size_t)cap * sizeof *a);
    if (!a) return NULL;
    r->all = a;
    r->capall = cap;
  }
  rnode *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  r->all[r->nall++] = n;
  n->k = k;
  return n;
}

static int add_kid(rnode *p, rnode *c) {
  rnode **k = realloc(p->kids, (size_t)(p->n + 1) * sizeof *k);
  if (!k) return -1;
  p->kids = k;
  p->kids[p->n++] = c;
  return 0;
}

static int next_cp(rp *r, uint32_t *cp) {
  if (r->p >= r->end) return rfail(r, "unexpected end of the pattern");
  size_t left = (size_t)(r->end - r->p);
  size_t ok = rt_utf8_valid_prefix((const unsigned char *)r->p, left < 4 ? left : 4);
  if (ok == 0) return rfail(r, "invalid UTF-8 in the pattern");
  r->p += rt_utf8_dec((const unsigned char *)r->p, left, cp);
  return 0;
}

static int hexnum(rp *r, int digits, uint32_t *out) {
  uint32_t v = 0;
  int braced = digits < 0, i = 0;
  if (braced) {
    if (r->p >= r->end || *r->p != '{') return rfail(r, "expected '{' in a hex escape");
    r->p++;
  }
  for (; r->p < r->end && (braced ? *r->p != '}' : i < digits); i++, r->p++) {
    char c = *r->p;
    int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (h < 0 || i >= 8) return rfail(r, "bad hex escape");
    v = v * 16 + (uint32_t)h;
  }
  if (braced) {
    if (r->p >= r->end) return rfail(r, "unterminated \\x{...}");
    r->p++;
  } else if (i < digits) {
    return rfail(r, "short hex escape");
  }
  if (v > 0x10FFFF) return rfail(r, "code point out of range");
  *out = v;
  return 0;
}

/* A property name after \p / \P: L, N (and their long names). */
static int prop(rp *r, int *flags) {
  if (r->p >= r->end || *r->p != '{') return rfail(r, "expected '{' after \\p");
  const char *s = ++r->p;
  while (r->p < r->end && *r->p != '}') r->p++;
  if (r->p >= r->end) return rfail(r, "unterminated \\p{...}");
  size_t n = (size_t)(r->p++ - s);
  if ((n == 1 && *s == 'L') || (n == 6 && !memcmp(s, "Letter", 6))) *flags = RT_UC_L;
  else if ((n == 1 && *s == 'N') || (n == 6 && !memcmp(s, "Number", 6))) *flags = RT_UC_N;
  else return rfail(r, "unsupported property \\p{%.*s} (supported: L, N)", (int)n, s);
  return 0;
}

/* An escape after '\'. Either a code point (*cp, returns 0) or a class
 * item (*it, returns 1). */
static int escape(rp *r, uint32_t *cp, citem *it) {
  if (r->p >= r->end) return rfail(r, "pattern ends with a backslash");
  char c = *r->p++;
  memset(it, 0, sizeof *it);
  switch (c) {
  case 'n': *cp = '\n'; return 0;
  case 'r': *cp = '\r'; return 0;
  case 't': *cp = '\t'; return 0;
  case 'f': *cp = '\f'; return 0;
  case 'v': *cp = '\v'; return 0;
  case 'a': *cp = 7; return 0;
  case 'e': *cp = 27; return 0;
  case '0': *cp = 0; return 0;
  case 'x': return hexnum(r, r->p < r->end && *r->p == '{' ? -1 : 2, cp);
  case 'u': return hexnum(r, 4, cp);
  case 's': it->prop = RT_UC_S; return 1;
  case 'S': it->prop = RT_UC_S; it->neg = 1; return 1;
  case 'p':
  case 'P':
    if (prop(r, &it->prop)) return -1;
    it->neg = c == 'P';
    return 1;
  default:
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      r->p--;
      return rfail(r, "unsupported escape \\%c", c);
    }
    *cp = (unsigned char)c;
    return 0;
  }
}

static int cls_add(rclass *c, citem it) {
  citem *a = realloc(c->it, (size_t)(c->n + 1) * sizeof *a);
  if (!a) return -1;
  c->it = a;
  c->it[c->n++] = it;
  return 0;
}

static int new_class(rp *r, rclass **out) {
  *out = NULL;
  rclass *a = realloc(r->re->cls, (size_t)(r->re->ncls + 1) * sizeof *a);
  if (!a) return rfail(r, "out of memory");
  r->re->cls = a;
  *out = &a[r->re->ncls];
  memset(*out, 0, sizeof **out);
  return r->re->ncls++;
}

static rnode *bracket(rp *r, int icase) {
  r->p++; /* '[' */
  rclass *c;
  int id = new_class(r, &c);
  if (id < 0) return NULL;
  c->icase = icase;
  if (r->p < r->end && *r->p == '^') {
    c->neg = 1;
    r->p++;
  }
  int first = 1;
  for (;;) {
    if (r->p >= r->end) {
      rfail(r, "unterminated character class");
      return NULL;
    }
    if (*r->p == ']' && !first) {
      r->p++;
      break;
    }
    first = 0;
    if (*r->p == '[') {
      rfail(r, "nested character classes are not supported");
      return NULL;
    }
    if (*r->p == '&' && r->p + 1 < r->end && r->p[1] == '&') {
      rfail(r, "class intersection (&&) is not supported");
      return NULL;
    }
    uint32_t lo;
    citem it = {0};
    int e = 0;
    if (*r->p == '\\') {
      r->p++;
      if ((e = escape(r, &lo, &it)) < 0) return NULL;
    } else if (next_cp(r, &lo)) {
      return NULL;
    }
    if (e == 1) {
      if (cls_add(c, it)) return NULL;
      continue;
    }
    uint32_t hi = lo;
    if (r->p + 1 < r->end && *r->p == '-' && r->p[1] != ']') {
      r->p++;
      if (*r->p == '\\') {
        r->p++;
        if ((e = escape(r, &hi, &it)) < 0) return NULL;
        if (e == 1) {
          rfail(r, "a class cannot end a range");
          return NULL;
        }
      } else if (next_cp(r, &hi)) {
        return NULL;
      }
      if (hi < lo) {
        rfail(r, "range out of order in a character class");
        return NULL;
      }
    }
    if (cls_add(c, (citem){lo, hi, 0, 0})) return NULL;
  }
  rnode *n = mk(r, N_CLASS);
  if (n) n->cls = id;
  return n;
}

static rnode *alt(rp *r, int icase);

static rnode *group(rp *r, int icase) {
  r->p++; /* '(' */
  int look = 0, neg = 0;
  if (r->p < r->end && *r->p == '?') {
    r->p++;
    if (r->p < r->end && *r->p == ':') r->p++;
    else if (r->p < r->end && (*r->p == '=' || *r->p == '!')) {
      look = 1;
      neg = *r->p++ == '!';
    } else if (r->p + 1 < r->end && r->p[0] == 'i' && r->p[1] == ':') {
      icase = 1;
      r->p += 2;
    } else if (r->p + 1 < r->end && r->p[0] == 'i' && r->p[1] == ')') {
      rfail(r, "inline (?i) is not supported; use (?i:...)");
      return NULL;
    } else {
      rfail(r, "unsupported group (?%c", r->p < r->end ? *r->p : '?');
      return NULL;
    }
  }
  if (++r->depth > 64) {
    rfail(r, "groups nested too deeply");
    return NULL;
  }
  rnode *inner = alt(r, icase);
  r->depth--;
  if (!inner) return NULL;
  if (r->p >= r->end || *r->p != ')') {
    rfail(r, "missing ')'");
    return NULL;
  }
  r->p++;
  if (!look) return inner;
  rnode *n = mk(r, N_LOOK);
  if (!n || add_kid(n, inner)) return NULL;
  n->neg = neg;
  return n;
}

static rnode *atom(rp *r, int icase) {
  char c = *r->p;
  if (c == '(') return group(r, icase);
  if (c == '[') return bracket(r, icase);
  if (c == '.') {
    r->p++;
    return mk(r, N_ANY);
  }
  if (c == '^' || c == '$') {
    r->p++;
    return mk(r, c == '^' ? N_BOS : N_EOS);
  }
  if (c == '*' || c == '+' || c == '?' || c == '{') {
    rfail(r, "quantifier '%c' without anything to repeat", c);
    return NULL;
  }
  uint32_t cp;
  citem it;
  int e = 0;
  if (c == '\\') {
    r->p++;
    if ((e = escape(r, &cp, &it)) < 0) return NULL;
  } else if (next_cp(r, &cp)) {
    return NULL;
  }
  if (e == 1) {
    rclass *cl;
    int id = new_class(r, &cl);
    if (id < 0 || cls_add(cl, it)) return NULL;
    cl->icase = icase;
    rnode *n = mk(r, N_CLASS);
    if (n) n->cls = id;
    return n;
  }
  rnode *n = mk(r, N_CHAR);
  if (n) {
    n->cp = cp;
    n->icase = icase;
  }
  return n;
}

static int number(rp *r, int *out) {
  int v = 0, any = 0;
  while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
    v = v * 10 + (*r->p++ - '0');
    any = 1;
    if (v > 1000) return rfail(r, "repetition count over 1000");
  }
  *out = v;
  return any ? 0 : -1;
}

/* a possibly-empty node: a repetition of it with no upper bound could loop */
static int nullable(const rnode *n) {
  switch (n->k) {
  case N_CHAR: case N_ANY: case N_CLASS: return 0;
  case N_CAT:
    for (int i = 0; i < n->n; i++)
      if (!nullable(n->kids[i])) return 0;
    return 1;
  case N_ALT:
    for (int i = 0; i < n->n; i++)
      if (nullable(n->kids[i])) return 1;
    return 0;
  case N_REP: return n->min == 0 || nullable(n->kids[0]);
  default: return 1;
  }
}

static rnode *quant(rp *r, rnode *a) {
  for (;;) {
    if (r->p >= r->end) return a;
    int min = 0, max = 0;
    char c = *r->p;
    if (c == '*') { min = 0; max = REP_INF; r->p++; }
    else if (c == '+') { min = 1; max = REP_INF; r->p++; }
    else if (c == '?') { min = 0; max = 1; r->p++; }
    else if (c == '{') {
      const char *save = r->p++;
      if (number(r, &min)) {
        if (r->failed) return NULL;
        r->p = save; /* not a quantifier: a literal '{' is not supported */
        rfail(r, "a literal '{' must be escaped");
        return NULL;
      }
      max = min;
      if (r->p < r->end && *r->p == ',') {
        r->p++;
        if (r->p < r->end && *r->p == '}') max = REP_INF;
        else if (number(r, &max)) {
          rfail(r, "bad {m,n} quantifier");
          return NULL;
        }
      }
      if (r->p >= r->end || *r->p != '}') {
        rfail(r, "bad {m,n} quantifier");
        return NULL;
      }
      r->p++;
      if (max != REP_INF && max < min) {
        rfail(r, "{m,n} with n < m");
        return NULL;
      }
    } else {
      return a;
    }
    int greedy = 1;
    if (r->p < r->end && *r->p == '?') {
      greedy = 0;
      r->p++;
    } else if (r->p < r->end && *r->p == '+') {
      rfail(r, "possessive quantifiers are not supported");
      return NULL;
    }
    if (max == REP_INF && nullable(a)) {
      rfail(r, "an unbounded repetition of something that can match nothing");
      return NULL;
    }
    rnode *n = mk(r, N_REP);
    if (!n || add_kid(n, a)) return NULL;
    n->min = min;
    n->max = max;
    n->greedy = greedy;
    a = n;
  }
}

static rnode *seq(rp *r, int icase) {
  rnode *s = mk(r, N_CAT);
  if (!s) return NULL;
  while (r->p < r->end && *r->p != '|' && *r->p != ')') {
    rnode *a = atom(r, icase);
    if (!a || !(a = quant(r, a)) || add_kid(s, a)) return NULL;
  }
  return s;
}

static rnode *alt(rp *r, int icase) {
  rnode *first = seq(r, icase);
  if (!first || r->p >= r->end || *r->p != '|') return first;
  rnode *a = mk(r, N_ALT);
  if (!a || add_kid(a, first)) return NULL;
  while (r->p < r->end && *r->p == '|') {
    r->p++;
    rnode *s = seq(r, icase);
    if (!s || add_kid(a, s)) return NULL;
  }
  return a;
}

/* ---- compiling: tree -> instructions -------------------------------------- */

static int emit(rt_re *re, int op) {
  if (re->n == re->cap) {
    int cap = re->cap ? 2 * re->cap : 64;
    rinst *c = realloc(re->code, (size_t)cap * sizeof *c);
    if (!c) return -1;
    re->code = c;
    re->cap = cap;
  }
  memset(&re->code[re->n], 0, sizeof re->code[0]);
  re->code[re->n].op = op;
  return re->n++;
}

static int gen(rt_re *re, const rnode *n);

/* `count` optional copies, nested: (x(x(x)?)?)? for greedy */
static int gen_opt(rt_re *re, const rnode *x, int count, int greedy) {
  int fix[1001], nf = 0;
  for (int i = 0; i < count; i++) {
    int s = emit(re, I_SPLIT);
    if (s < 0) return -1;
    fix[nf++] = s;
    re->code[s].a = greedy ? s + 1 : -1;
    re->code[s].b = greedy ? -1 : s + 1;
    if (gen(re, x)) return -1;
  }
  for (int i = 0; i < nf; i++) {
    if (greedy) re->code[fix[i]].b = re->n;
    else re->code[fix[i]].a = re->n;
  }
  return 0;
}

static int gen(rt_re *re, const rnode *n) {
  int i, s = -1;
  switch (n->k) {
  case N_CHAR:
    if ((i = emit(re, I_CHAR)) < 0) return -1;
    re->code[i].cp = n->cp;
    re->code[i].icase = n->icase;
    return 0;
  case N_ANY: return emit(re, I_ANY) < 0 ? -1 : 0;
  case N_BOS: return emit(re, I_BOS) < 0 ? -1 : 0;
  case N_EOS: return emit(re, I_EOS) < 0 ? -1 : 0;
  case N_CLASS:
    if ((i = emit(re, I_CLASS)) < 0) return -1;
    re->code[i].a = n->cls;
    return 0;
  case N_CAT:
    for (int k = 0; k < n->n; k++)
      if (gen(re, n->kids[k])) return -1;
    return 0;
  case N_ALT: {
    int jumps[512], nj = 0;
    s = -1;
    if (n->n > 512) return -1;
    for (int k = 0; k < n->n; k++) {
      if (k < n->n - 1) {
        if ((s = emit(re, I_SPLIT)) < 0) return -1;
        re->code[s].a = s + 1;
      }
      if (gen(re, n->kids[k])) return -1;
      if (k < n->n - 1) {
        if ((jumps[nj++] = emit(re, I_JMP)) < 0) return -1;
        re->code[s].b = re->n;
      }
    }
    for (int k = 0; k < nj; k++) re->code[jumps[k]].a = re->n;
    return 0;
  }
  case N_REP: {
    const rnode *x = n->kids[0];
    for (int k = 0; k < n->min; k++)
      if (gen(re, x)) return -1;
    if (n->max != REP_INF) return gen_opt(re, x, n->max - n->min, n->greedy);
    /* L: split(body, out); body; jmp L */
    if ((s = emit(re, I_SPLIT)) < 0 || gen(re, x)) return -1;
    if ((i = emit(re, I_JMP)) < 0) return -1;
    re->code[i].a = s;
    re->code[s].a = n->greedy ? s + 1 : re->n;
    re->code[s].b = n->greedy ? re->n : s + 1;
    return 0;
  }
  case N_LOOK: {
    /* look(neg) a=start of sub-program, b=after it; sub ends in MATCH */
    if ((s = emit(re, I_LOOK)) < 0 || gen(re, n->kids[0]) || emit(re, I_MATCH) < 0) return -1;
    re->code[s].a = s + 1;
    re->code[s].b = re->n;
    re->code[s].icase = n->neg;
    return 0;
  }
  default: return -1;
  }
}

void rt_re_free(rt_re *re) {
  if (!re) return;
  for (int i = 0; i < re->ncls; i++) free(re->cls[i].it);
  free(re->cls);
  free(re->code);
  free(re);
}

rt_re *rt_re_compile(const char *pat, size_t n, char *err, size_t errcap) {
  rt_re *re = calloc(1, sizeof *re);
  if (!re) {
    snprintf(err, errcap, "out of memory");
    return NULL;
  }
  rp r = {.p = pat, .end = pat + n, .start = pat, .err = err, .errcap = errcap, .re = re};
  rnode *root = alt(&r, 0);
  if (root && r.p < r.end) {
    rfail(&r, "unbalanced ')'");
    root = NULL;
  }
  if (root && (gen(re, root) || emit(re, I_MATCH) < 0)) {
    if (!r.failed) rfail(&r, "pattern too large");
    root = NULL;
  }
  if (!root && !r.failed) rfail(&r, "out of memory");
  for (int i = 0; i < r.nall; i++) {
    free(r.all[i]->kids);
    free(r.all[i]);
  }
  free(r.all);
  if (!root) {
    rt_re_free(re);
    return NULL;
  }
  return re;
}

/* ---- matching ----------------------------------------------------------- */

static int class_has(const rclass *c, uint32_t cp) {
  int f = -1;
  for (int i = 0; i < c->n; i++) {
    const citem *it = &c->it[i];
    int in;
    if (it->prop) {
      if (f < 0) f = rt_uc_class(cp);
      in = (f & it->prop) != 0;
      if (it->neg) in = !in;
    } else {
      in = cp >= it->lo && cp <= it->hi;
    }
    if (in) return 1;
  }
  return 0;
}

static int class_match(const rclass *c, uint32_t cp) {
  int in = class_has(c, cp);
  if (!in && c->icase) {
    /* the other cases of cp: ASCII letters, and the two non-ASCII code
     * points that fold to one (U+017F long s, U+212A Kelvin sign) */
    uint32_t alts[3];
    int na = 0;
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z' && cp < 128) alts[na++] = cp ^ 0x20;
    if ((cp | 0x20) == 's') alts[na++] = 0x17F;
    if ((cp | 0x20) == 'k') alts[na++] = 0x212A;
    if (cp == 0x17F) { alts[na++] = 's'; alts[na++] = 'S'; }
    if (cp == 0x212A) { alts[na++] = 'k'; alts[na++] = 'K'; }
    for (int i = 0; i < na && !in; i++) in = class_has(c, alts[i]);
  }
  return c->neg ? !in : in;
}

typedef struct { int pc; size_t pos; } bt;

/* Runs the program from pc at pos; returns 1 and *end on a match, 0 none,
 * -1 over budget. Leftmost-first: the preferred branch is tried first. */
static int run(const rt_re *re, const unsigned char *s, size_t n, int pc0, size_t pos0,
               size_t *end, long *budget, int depth) {
  bt stack_local[64], *st = stack_local;
  int cap = 64, sp = 0, rc = 0;
  int pc = pc0;
  size_t pos = pos0;
  for (;;) {
    if (--*budget < 0) {
      rc = -1;
      break;
    }
    const rinst *in = &re->code[pc];
    int ok = 1;
    uint32_t cp = 0;
    int len = 0;
    switch (in->op) {
    case I_MATCH:
      *end = pos;
      rc = 1;
      goto out;
    case I_JMP:
      pc = in->a;
      continue;
    case I_SPLIT:
      if (sp == cap) {
        bt *ns = malloc((size_t)cap * 2 * sizeof *ns);
        if (!ns) {
          rc = -1;
          goto out;
        }
        memcpy(ns, st, (size_t)sp * sizeof *st);
        if (st != stack_local) free(st);
        st = ns;
        cap *= 2;
      }
      st[sp++] = (bt){in->b, pos};
      pc = in->a;
      continue;
    case I_BOS: ok = pos == 0; break;
    case I_EOS: ok = pos == n; break;
    case I_LOOK: {
      size_t e;
      if (depth > 8) {
        rc = -1;
        goto out;
      }
      int m = run(re, s, n, in->a, pos, &e, budget, depth + 1);
      if (m < 0) {
        rc = -1;
        goto out;
      }
      ok = in->icase ? !m : m; /* icase holds "negative" */
      if (ok) {
        pc = in->b;
        continue;
      }
      break;
    }
    default:
      if (pos >= n) {
        ok = 0;
        break;
      }
      len = rt_utf8_dec(s + pos, n - pos, &cp);
      if (in->op == I_ANY) ok = cp != '\n';
      else if (in->op == I_CHAR) ok = in->icase ? rt_uc_fold_eq(cp, in->cp) || rt_uc_fold_eq(in->cp, cp) : cp == in->cp;
      else ok = class_match(&re->cls[in->a], cp);
      if (ok) {
        pos += (size_t)len;
        pc++;
        continue;
      }
    }
    if (ok) {
      pc++;
      continue;
    }
    if (sp == 0) break;
    sp--;
    pc = st[sp].pc;
    pos = st[sp].pos;
  }
out:
  if (st != stack_local) free(st);
  return rc;
}

int rt_re_find(const rt_re *re, const char *s, size_t n, size_t from, size_t *ms, size_t *me) {
  const unsigned char *u = (const unsigned char *)s;
  long budget = 1L << 26;
  for (size_t p = from; p <= n;) {
    size_t e;
    int m = run(re, u, n, 0, p, &e, &budget, 0);
    if (m < 0) return -1;
    if (m) {
      *ms = p;
      *me = e;
      return 1;
    }
    if (p == n) break;
    uint32_t cp;
    p += (size_t)rt_utf8_dec(u + p, n - p, &cp);
  }
  return 0;
}
