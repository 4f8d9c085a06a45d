/* compiler/rewrite.c -- the graph-rewrite half of the pass API (pass.h):
 * matching helpers, new parameters, rewiring, and putting the node array
 * back into dependency order.
 *
 * One idea: a pass only appends nodes and rewires readers, never inserts
 * in the middle of the array, so node ids stay valid for the whole pass;
 * the order a rewire may break (a reader before the node it now reads) is
 * restored once, afterwards, by ir_sort: a stable topological sort keyed
 * like the scheduler's (phase, id), which renumbers every reference.
 */
#include <stdlib.h>
#include <string.h>
#include "back.h"

int ir_is(const IrGraph *g, int id, IrOp op) {
  if (id < 0 || id >= g->n || g->nodes[id].dead) return 0;
  return op == IR_OP_COUNT || g->nodes[id].op == op;
}

int ir_in(const IrGraph *g, int id, int k, IrOp op) {
  if (id < 0 || id >= g->n || k < 0 || k >= g->nodes[id].nin) return -1;
  int s = g->nodes[id].in[k];
  return ir_is(g, s, op) ? s : -1;
}

int ir_users(const IrGraph *g, int id, int *out, int max) {
  int k = 0, cnt = 0;
  for (int i = 0; i < g->n; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->dead) continue;
    for (int j = 0; j < n->nin; j++)
      if (n->in[j] == id) {
        if (out && k < max) out[k++] = i;
        cnt++;
        break;
      }
  }
  return cnt;
}

int ir_find_param(const IrGraph *g, const char *name) {
  for (int i = 0; i < g->n; i++) {
    const IrNode *n = &g->nodes[i];
    if (!n->dead && n->op == IR_PARAM && n->name && !strcmp(n->name, name)) return i;
  }
  return -1;
}

/* one alternative [p, pe) against the whole of s */
static int glob1(const char *p, const char *pe, const char *s) {
  const char *star = NULL, *back = NULL;
  while (*s) {
    if (p < pe && (*p == '?' || *p == *s)) {
      p++;
      s++;
    } else if (p < pe && *p == '*') {
      star = p++;
      back = s;
    } else if (star) {
      p = star + 1;
      s = ++back;
    } else {
      return 0;
    }
  }
  while (p < pe && *p == '*') p++;
  return p == pe;
}

int ir_glob(const char *pattern, const char *name) {
  if (!pattern || !name) return 0;
  for (const char *p = pattern;;) {
    const char *e = strchr(p, '|');
    if (!e) e = p + strlen(p);
    if (glob1(p, e, name)) return 1;
    if (!*e) return 0;
    p = e + 1;
  }
}

int ir_layer_of(const char *name) {
  if (!name) return -1;
  for (const char *p = name; *p; p++) {
    if (*p != '.' || p[1] < '0' || p[1] > '9') continue;
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (*end == '.' || *end == 0) return (int)v;
  }
  return -1;
}

int ir_param_new(IrGraph *g, Diag *d, Span sp, const char *name, IrShape shape, IrDtype dtype,
                 int trainable, IrInit init, double init_arg) {
  if (!name || ir_find_param(g, name) >= 0) {
    diag_at(d, DIAG_ERROR, sp, "a parameter named '%s' exists already", name ? name : "(null)");
    return -1;
  }
  int id = ir_new(g, IR_PARAM, NULL, 0, sp);
  IrNode *n = &g->nodes[id];
  n->shape = shape;
  n->dtype = dtype;
  n->role = IR_ROLE_PARAM;
  n->name = ir_strdup(g, name);
  n->trainable = trainable;
  n->init = init;
  n->init_arg = init_arg;
  return ir_infer(g, d, id) < 0 ? -1 : id;
}

int ir_replace_uses(IrGraph *g, int old, int with, int keep) {
  int k = 0;
  for (int i = 0; i < g->n; i++) {
    IrNode *n = &g->nodes[i];
    if (n->dead || i == keep || i == with) continue;
    for (int j = 0; j < n->nin; j++)
      if (n->in[j] == old) {
        n->in[j] = with;
        k++;
      }
  }
  if (g->loss == old) g->loss = with;
  if (g->logits == old) g->logits = with;
  return k;
}

void ir_kill(IrGraph *g, int id) {
  if (id >= 0 && id < g->n) g->nodes[id].dead = 1;
}

static int in_order(const IrGraph *g) {
  for (int i = 0; i < g->n; i++)
    for (int j = 0; j < g->nodes[i].nin; j++)
      if (g->nodes[i].in[j] >= i) return 0;
  return 1;
}

static int remap(const int *to, int id) { return id >= 0 ? to[id] : id; }

int ir_permute_nodes(IrGraph *g, const int *order) {
  int *to = malloc(sizeof(int) * ((size_t)g->n + 1));
  IrNode *nodes = malloc(sizeof(IrNode) * ((size_t)g->cap + 1));
  int ok = to && nodes;
  for (int i = 0; ok && i < g->n; i++) to[i] = -1;
  for (int k = 0; ok && k < g->n; k++) {
    if (order[k] < 0 || order[k] >= g->n || to[order[k]] >= 0) ok = 0;
    else to[order[k]] = k;
  }
  for (int k = 0; ok && k < g->n; k++) {
    IrNode *x = &nodes[k];
    *x = g->nodes[order[k]];
    for (int j = 0; j < x->nin; j++)
      if ((x->in[j] = to[x->in[j]]) >= k) ok = 0;
    if (x->grad_of >= 0 && x->grad_of < g->n) x->grad_of = to[x->grad_of];
    if (x->follows >= 0 && x->follows < g->n) x->follows = to[x->follows];
  }
  if (ok) {
    g->tokens = remap(to, g->tokens);
    g->targets = remap(to, g->targets);
    g->logits = remap(to, g->logits);
    g->loss = remap(to, g->loss);
    free(g->nodes);
    g->nodes = nodes;
    nodes = NULL;
  }
  free(nodes);
  free(to);
  return ok ? 0 : -1;
}

int ir_sort(IrGraph *g, FILE *err) {
  if (in_order(g)) return 0;
  int n = 0;
  int *order = sched_topo_all(g, &n, err);
  if (!order) return -1;
  int rc = n == g->n ? ir_permute_nodes(g, order) : -1;
  if (rc < 0 && err) fprintf(err, "ftc: out of memory sorting the graph\n");
  free(order);
  return rc;
}

int ir_reinfer(IrGraph *g, Diag *d) {
  int n = 0;
  int *order = sched_topo(g, &n, stderr);
  if (!order) return -1;
  int rc = 0;
  for (int k = 0; k < n && rc == 0; k++) {
    IrNode *x = &g->nodes[order[k]];
    if (ir_ops[x->op].kind == OPK_LEAF) continue;
    /* inference computes shape and dtype only; the rest is the node's */
    IrRole role = x->role;
    IrPhase phase = x->phase;
    int grad_of = x->grad_of;
    if (ir_infer(g, d, order[k]) < 0) rc = -1;
    x = &g->nodes[order[k]];
    x->role = role;
    x->phase = phase;
    x->grad_of = grad_of;
  }
  free(order);
  return rc;
}
