/* compiler/plan/fit.c -- the planner's free arena blocks: best fit and
 * coalescing in O(log n) per operation.
 *
 * One idea: every free block sits in two treaps over one node pool, one
 * ordered by offset (neighbours, for coalescing, and the highest block)
 * and one by (size, offset) (the smallest block that fits, lowest offset
 * first). That is exactly the choice a linear best-fit scan over an
 * offset-sorted list makes, so plans are the same bytes; only the cost
 * changes. A deep graph leaves thousands of free fragments behind during
 * the backward (2291 at 8000 GPT-2 layers), which made the scan quadratic.
 */
#include <stdlib.h>
#include "fit.h"

enum { BY_OFF = 0, BY_SIZE = 1 };

typedef struct FitNode {
  int64_t off, size;
  int l[2], r[2]; /* children in each treap, -1 for none */
  uint32_t pri;   /* heap priority, shared by both treaps */
} FitNode;

/* a < b in treap t */
static int less(const FitNode *a, const FitNode *b, int t) {
  if (t == BY_SIZE && a->size != b->size) return a->size < b->size;
  return a->off < b->off;
}

/* Splits treap `x` into keys < k (*a) and >= k (*b). */
static void split(FitNode *v, int x, const FitNode *k, int t, int *a, int *b) {
  if (x < 0) {
    *a = *b = -1;
    return;
  }
  if (less(&v[x], k, t)) {
    split(v, v[x].r[t], k, t, &v[x].r[t], b);
    *a = x;
  } else {
    split(v, v[x].l[t], k, t, a, &v[x].l[t]);
    *b = x;
  }
}

/* Joins treaps whose keys all compare a < b. */
static int merge(FitNode *v, int a, int b, int t) {
  if (a < 0) return b;
  if (b < 0) return a;
  if (v[a].pri > v[b].pri) {
    v[a].r[t] = merge(v, v[a].r[t], b, t);
    return a;
  }
  v[b].l[t] = merge(v, a, v[b].l[t], t);
  return b;
}

static void insert(Fit *f, int x, int t) {
  int a, b;
  split(f->v, f->root[t], &f->v[x], t, &a, &b);
  f->root[t] = merge(f->v, merge(f->v, a, x, t), b, t);
}

/* Unlinks node x (present) from treap t. */
static void erase(Fit *f, int x, int t) {
  FitNode *v = f->v;
  int *link = &f->root[t];
  while (*link != x) link = less(&v[x], &v[*link], t) ? &v[*link].l[t] : &v[*link].r[t];
  *link = merge(v, v[x].l[t], v[x].r[t], t);
}

static int add_block(Fit *f, int64_t off, int64_t size) {
  int x;
  if (f->nfree > 0) {
    x = f->freeids[--f->nfree];
  } else {
    if (f->n == f->cap) {
      int nc = f->cap ? f->cap * 2 : 64;
      FitNode *nv = realloc(f->v, sizeof(FitNode) * (size_t)nc);
      int *nf = realloc(f->freeids, sizeof(int) * (size_t)nc);
      if (nv) f->v = nv;
      if (nf) f->freeids = nf;
      if (!nv || !nf) return -1;
      f->cap = nc;
    }
    x = f->n++;
  }
  /* a fixed pseudo-random priority per slot (xorshift of the index):
   * balanced on average, and the same tree every run */
  uint32_t h = (uint32_t)x * 2654435761u + 0x9e3779b9u;
  h ^= h << 13;
  h ^= h >> 17;
  h ^= h << 5;
  f->v[x] = (FitNode){off, size, {-1, -1}, {-1, -1}, h};
  insert(f, x, BY_OFF);
  insert(f, x, BY_SIZE);
  f->count++;
  return 0;
}

static void drop_block(Fit *f, int x) {
  erase(f, x, BY_OFF);
  erase(f, x, BY_SIZE);
  f->freeids[f->nfree++] = x;
  f->count--;
}

int64_t fit_alloc(Fit *f, int64_t need) {
  /* the smallest block of size >= need, lowest offset among equals */
  int best = -1;
  for (int x = f->root[BY_SIZE]; x >= 0;) {
    if (f->v[x].size >= need) {
      best = x;
      x = f->v[x].l[BY_SIZE];
    } else {
      x = f->v[x].r[BY_SIZE];
    }
  }
  if (best >= 0) {
    int64_t off = f->v[best].off, rest = f->v[best].size - need;
    drop_block(f, best);
    if (rest > 0 && add_block(f, off + need, rest) < 0) return -1;
    return off;
  }
  /* no block fits: grow at the top, starting inside a free block there */
  int hi = f->root[BY_OFF];
  while (hi >= 0 && f->v[hi].r[BY_OFF] >= 0) hi = f->v[hi].r[BY_OFF];
  if (hi >= 0 && f->v[hi].off + f->v[hi].size == f->top) {
    int64_t off = f->v[hi].off;
    drop_block(f, hi);
    f->top = off + need;
    return off;
  }
  int64_t off = f->top;
  f->top += need;
  return off;
}

int fit_release(Fit *f, int64_t off, int64_t size) {
  /* neighbours by offset: the last block below off and the first above */
  int below = -1, above = -1;
  for (int x = f->root[BY_OFF]; x >= 0;) {
    if (f->v[x].off < off) {
      below = x;
      x = f->v[x].r[BY_OFF];
    } else {
      above = x;
      x = f->v[x].l[BY_OFF];
    }
  }
  if (above >= 0 && off + size == f->v[above].off) {
    size += f->v[above].size;
    drop_block(f, above);
  }
  if (below >= 0 && f->v[below].off + f->v[below].size == off) {
    off = f->v[below].off;
    size += f->v[below].size;
    drop_block(f, below);
  }
  return add_block(f, off, size);
}

void fit_free(Fit *f) {
  free(f->v);
  free(f->freeids);
  *f = (Fit){0};
}
