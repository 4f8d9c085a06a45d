/* tests/unit/test_autodiff_util.h -- building small graphs by hand for the
 * autodiff and planner tests (no recipe, no elaboration): one helper per
 * kind of node, a Recipe with test settings, and a check macro.
 */
#ifndef TEST_AUTODIFF_UTIL_H
#define TEST_AUTODIFF_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "back.h"

#include "check.h"

static IrGraph *G;
static Diag *D;

static inline IrShape t_shape(int rank, ...) {
  IrShape s = {rank, {0}};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) s.d[i] = va_arg(ap, int);
  va_end(ap);
  return s;
}

static inline int t_leaf(IrOp op, const char *name, IrShape s, IrDtype dt) {
  int id = ir_new(G, op, NULL, 0, (Span){0});
  IrNode *n = &G->nodes[id];
  n->shape = s;
  n->dtype = dt;
  n->name = ir_strdup(G, name);
  n->role = op == IR_PARAM ? IR_ROLE_PARAM : IR_ROLE_INPUT;
  if (ir_infer(G, D, id) < 0) abort();
  return id;
}

/* a trainable parameter initialised N(0, 0.5) (or ones) */
static inline int t_param(const char *name, IrShape s, int trainable, IrInit init) {
  int id = t_leaf(IR_PARAM, name, s, IR_F32);
  G->nodes[id].trainable = trainable;
  G->nodes[id].init = init;
  G->nodes[id].init_arg = 0.5;
  return id;
}

/* any op; attributes set before inference */
static inline int t_op(IrOp op, int a, int b, int c, int64_t ia0, int64_t ia1, int64_t ia2,
                double fa0) {
  int in[3] = {a, b, c}, nin = 0;
  while (nin < 3 && in[nin] >= 0) nin++;
  int id = ir_new(G, op, in, nin, (Span){0});
  IrNode *n = &G->nodes[id];
  n->ia[0] = ia0;
  n->ia[1] = ia1;
  n->ia[2] = ia2;
  n->fa[0] = fa0;
  if (ir_infer(G, D, id) < 0) {
    printf("t_op: %s failed to infer\n", ir_ops[op].name);
    abort();
  }
  return id;
}
#define T1(op, a) t_op(op, a, -1, -1, 0, 0, 0, 0)
#define T2(op, a, b) t_op(op, a, b, -1, 0, 0, 0, 0)

static inline int t_reshape(int x, IrShape s) {
  int id = ir_new(G, IR_RESHAPE, &x, 1, (Span){0});
  G->nodes[id].shape = s;
  if (ir_infer(G, D, id) < 0) abort();
  return id;
}

static inline int t_permute(int x, int rank, const int *perm) {
  int id = ir_new(G, IR_PERMUTE, &x, 1, (Span){0});
  for (int i = 0; i < rank; i++) G->nodes[id].perm[i] = perm[i];
  if (ir_infer(G, D, id) < 0) abort();
  return id;
}

static inline void t_recipe(Recipe *r, IrDtype dt, int batch, int seq, int vocab) {
  memset(r, 0, sizeof *r);
  r->path = "hand-built";
  r->data_kind = DATA_TEXT;
  r->batch = batch;
  r->seq = seq;
  r->split = 0.9;
  r->vocab = vocab;
  r->steps = 1;
  r->opt = OPT_ADAMW;
  r->lr = 1e-3;
  r->beta1 = 0.9;
  r->beta2 = 0.95;
  r->eps = 1e-8;
  r->sched = SCHED_CONSTANT;
  r->log_every = 1;
  r->out_dir = "/tmp/ftc-test-out";
  r->seed = 7;
  r->dtype = dt;
}

/* tokens/targets [B,T] and an embedding of the tokens: x [B,T,C] */
static inline int t_start(int B, int T, int V, int C, int *wte) {
  G->tokens = t_leaf(IR_INPUT, "tokens", t_shape(2, B, T), IR_I32);
  G->targets = t_leaf(IR_INPUT, "targets", t_shape(2, B, T), IR_I32);
  *wte = t_param("wte.weight", t_shape(2, V, C), 1, INIT_NORMAL);
  return T2(IR_EMBEDDING, *wte, G->tokens);
}

/* logits = x @ wte^T reshaped [B*T,V]; loss = cross_entropy (+ extra) */
static inline void t_finish(int x, int wte, int B, int T, int V, int extra) {
  int lg = t_op(IR_MATMUL, x, wte, -1, 0, 1, 0, 0);
  G->logits = t_reshape(lg, t_shape(2, B * T, V));
  int tg = t_reshape(G->targets, t_shape(1, B * T));
  int ce = T2(IR_CROSS_ENTROPY, G->logits, tg);
  G->loss = extra >= 0 ? T2(IR_ADD, ce, extra) : ce;
}

#endif
