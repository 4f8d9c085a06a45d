/* compiler/plan/sched.c -- the static schedule: one dependency order for the
 * whole training step, plus the small node facts the other back-end stages
 * share (view bases, element sizes, shape text).
 *
 * One idea: Kahn's algorithm with a priority queue keyed by (phase, id).
 * Elaboration appends nodes in program order and autodiff appends the
 * backward in reverse order of the forward, so the smallest ready key is
 * almost always "the next node as written": the forward runs in program
 * order and the backward after it, yet a pass that rewires a consumer to a
 * node appended later still gets a valid order.
 */
#include <stdlib.h>
#include <string.h>
#include "../back.h"

/* A node that `follows` another takes that node's key plus its depth in the
 * chain, so it runs as soon as it is ready after it (collectives right after
 * the gradient they send, waits right after the next collective). */
static long key_of(const IrGraph *g, int id) {
  int depth = 0;
  while (g->nodes[id].follows >= 0 && depth < 3) {
    id = g->nodes[id].follows;
    depth++;
  }
  return ((long)g->nodes[id].phase * (long)(g->n + 1) + id) * 4 + depth;
}

/* binary min-heap of node ids by key */
typedef struct Heap {
  int *v;
  int n;
  const IrGraph *g;
} Heap;

static void heap_push(Heap *h, int id) {
  int i = h->n++;
  h->v[i] = id;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (key_of(h->g, h->v[p]) <= key_of(h->g, h->v[i])) break;
    int t = h->v[p];
    h->v[p] = h->v[i];
    h->v[i] = t;
    i = p;
  }
}

static int heap_pop(Heap *h) {
  int top = h->v[0];
  h->v[0] = h->v[--h->n];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && key_of(h->g, h->v[l]) < key_of(h->g, h->v[m])) m = l;
    if (r < h->n && key_of(h->g, h->v[r]) < key_of(h->g, h->v[m])) m = r;
    if (m == i) break;
    int t = h->v[m];
    h->v[m] = h->v[i];
    h->v[i] = t;
    i = m;
  }
  return top;
}

static int *topo(const IrGraph *g, int *n, FILE *err, int with_dead) {
  int N = g->n;
  int *indeg = calloc((size_t)N + 1, sizeof(int));
  int *nuse = calloc((size_t)N + 1, sizeof(int));   /* consumer counts */
  int *start = calloc((size_t)N + 2, sizeof(int));  /* CSR of consumers */
  int *users = NULL, *order = malloc(sizeof(int) * ((size_t)N + 1));
  Heap h = {malloc(sizeof(int) * ((size_t)N + 1)), 0, g};
  int cnt = 0, total = 0;
  if (!indeg || !nuse || !start || !order || !h.v) goto fail;
  for (int i = 0; i < N; i++) {
    const IrNode *x = &g->nodes[i];
    if (x->dead && !with_dead) continue;
    total++;
    for (int k = 0; k < x->nin; k++) {
      int s = x->in[k];
      if (s < 0 || s >= N || (g->nodes[s].dead && !with_dead)) {
        if (err) fprintf(err, "ftc: internal: node %d uses %s node %d\n", i,
                         s < 0 || s >= N ? "missing" : "dead", s);
        goto fail;
      }
      indeg[i]++;
      nuse[s]++;
    }
  }
  for (int i = 0; i < N; i++) start[i + 1] = start[i] + nuse[i];
  users = malloc(sizeof(int) * ((size_t)start[N] + 1));
  if (!users) goto fail;
  memset(nuse, 0, sizeof(int) * (size_t)N);
  for (int i = 0; i < N; i++) {
    const IrNode *x = &g->nodes[i];
    if (x->dead && !with_dead) continue;
    for (int k = 0; k < x->nin; k++) users[start[x->in[k]] + nuse[x->in[k]]++] = i;
  }
  for (int i = 0; i < N; i++)
    if ((!g->nodes[i].dead || with_dead) && indeg[i] == 0) heap_push(&h, i);
  while (h.n > 0) {
    int id = heap_pop(&h);
    order[cnt++] = id;
    for (int u = start[id]; u < start[id + 1]; u++)
      if (--indeg[users[u]] == 0) heap_push(&h, users[u]);
  }
  if (cnt != total) {
    if (err) fprintf(err, "ftc: internal: the graph has a cycle (%d of %d nodes ordered)\n",
                     cnt, total);
    goto fail;
  }
  free(indeg);
  free(nuse);
  free(start);
  free(users);
  free(h.v);
  *n = cnt;
  return order;
fail:
  free(indeg);
  free(nuse);
  free(start);
  free(users);
  free(h.v);
  free(order);
  *n = 0;
  return NULL;
}

int *sched_topo(const IrGraph *g, int *n, FILE *err) { return topo(g, n, err, 0); }
int *sched_topo_all(const IrGraph *g, int *n, FILE *err) { return topo(g, n, err, 1); }

int back_view_base(const IrGraph *g, int id) {
  while (ir_ops[g->nodes[id].op].kind == OPK_VIEW && g->nodes[id].nin > 0)
    id = g->nodes[id].in[0];
  return id;
}

int back_elem_size(const IrNode *n, IrDtype fdt) {
  if (n->dtype == IR_F32 || n->dtype == IR_F64) return fdt == IR_F64 ? 8 : 4;
  switch (n->dtype) {
  case IR_I32: return 4;
  case IR_BF16:
  case IR_F16: return 2;
  default: return 4;
  }
}

const char *back_shape_str(const IrShape *s, char *buf, size_t cap) {
  size_t k = 0;
  if (cap == 0) return buf;
  buf[0] = 0;
  k += (size_t)snprintf(buf + k, cap - k, "[");
  for (int i = 0; i < s->rank && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? "," : "", (long long)s->d[i]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
  return buf;
}
