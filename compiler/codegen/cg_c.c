/* compiler/codegen/cg_c.c -- the C code generator: the trainer's source for the CPU
 * backend.
 *
 * One idea: the plan already fixed every byte, so the generated program is
 * straight-line code: forward() and backward() are one kernel call per
 * scheduled node with constant arena offsets and sizes (each commented with
 * the node, its op and the .ft line it came from), followed by tables (the
 * parameters, the plan, the recipe's settings) that rt_main() interprets.
 * Output depends only on the graph, plan and recipe, never on addresses,
 * time or environment, so the same recipe gives byte-identical C; a content
 * hash (FNV-1a 64 of the text without its own line) names the program.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../back.h"
#include "config.h"

typedef struct Cg {
  const IrGraph *g;
  const Recipe *r;
  const Plan *p;
  FILE *o;
  const char *sfx; /* "f32" or "f64" */
  int *row;        /* per node: its row in params[] (parameters), else -1 */
} Cg;

#define HASH_MARK "@@FTC_HASH@@\n"

static void cstr(FILE *o, const char *s) {
  if (!s) {
    fputs("NULL", o);
    return;
  }
  fputc('"', o);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(o, "\\%c", c);
    else if (c == '\n') fputs("\\n", o);
    else if (c < 0x20 || c >= 0x7f) fprintf(o, "\\%03o", c);
    else fputc(c, o);
  }
  fputc('"', o);
}

/* a double as C text that reads back exactly */
static const char *dbl(double v, char *buf, size_t cap) {
  if (isinf(v)) snprintf(buf, cap, "%sINFINITY", v < 0 ? "-" : "");
  else if (isnan(v)) snprintf(buf, cap, "NAN");
  else {
    snprintf(buf, cap, "%.17g", v);
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", cap - strlen(buf) - 1);
  }
  return buf;
}

static const char *base(const char *path) {
  const char *s = path ? strrchr(path, '/') : NULL;
  return s ? s + 1 : (path ? path : "?");
}

static int64_t off(const Cg *c, int id) { return c->p->offset[id]; }
static const IrShape *sh(const Cg *c, int id) { return &c->g->nodes[id].shape; }
static int64_t numel(const Cg *c, int id) { return ir_numel(sh(c, id)); }
static int64_t lastd(const Cg *c, int id) { return sh(c, id)->d[sh(c, id)->rank - 1]; }

/* product of dims [from, to) */
static int64_t prod(const IrShape *s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= s->d[i];
  return p;
}

static void comment(const Cg *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  char sb[128];
  fprintf(c->o, "  /* %%%d %s %s%s", id, ir_ops[n->op].name,
          back_shape_str(&n->shape, sb, sizeof sb), n->name ? " " : "");
  if (n->name) fputs(n->name, c->o);
  if (n->span.file) fprintf(c->o, "  (%s:%d)", base(n->span.file->path), n->span.line);
  fputs(" */\n", c->o);
}

/* The parameter a collective node is about (passes/zero.c): GRAD_SYNC reads
 * its gradient, COMM_WAIT that GRAD_SYNC, PARAM_GATHER the parameter and
 * GATHER_WAIT that gather. Its row in params[] (emit_params' order). */
static int param_row(const Cg *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  if (n->op == IR_COMM_WAIT || n->op == IR_GATHER_WAIT) n = &c->g->nodes[n->in[0]];
  int x = n->in[0];
  int param = n->op == IR_GRAD_SYNC ? c->g->nodes[x].grad_of : x;
  return param >= 0 ? c->row[param] : -1;
}

#define F(id) (long long)off(c, id)
#define LL(x) (long long)(x)

/* A gradient accumulates over a step's micro-batches (passes/accumulate.c):
 * it writes on the first (ctx->micro == 0) and adds on the others. From
 * zero stage 2 on, whole gradients are temporaries that every backward
 * writes afresh: the reduce-scatter adds into the slice (runtime/dist.c). */
static int micro(const Cg *c, int id) {
  return c->g->nodes[id].role == IR_ROLE_GRAD && c->g->zero_stage < 2;
}

/* An accumulating node (ir_op_accumulates) adds into its accumulator's
 * bytes; the planner runs it in place there, else the value is copied in
 * first (added, when a gradient's later micro-batch). */
static void acc_init(const Cg *c, int id, int acc) {
  if (micro(c, id))
    fprintf(c->o, "  if (ctx->micro) rt_add_%s(F(%lld), F(%lld), F(%lld), %lld, %lld);\n  else ",
            c->sfx, F(id), F(id), F(acc), LL(numel(c, id)), LL(numel(c, id)));
  if (off(c, id) != off(c, acc) || micro(c, id))
    fprintf(c->o, "%srt_copy_%s(F(%lld), F(%lld), %lld);\n", micro(c, id) ? "" : "  ", c->sfx,
            F(id), F(acc), LL(numel(c, id)));
}

/* The kernel of a scatter-add op (embedding_bwd, slice_bwd): its _acc form
 * when it adds into an accumulator, chosen at run time for a gradient. */
static void acc_kernel(const Cg *c, const char *op, int static_acc, int id) {
  if (static_acc) fprintf(c->o, "  rt_%s_acc_%s(", op, c->sfx);
  else if (micro(c, id))
    fprintf(c->o, "  (ctx->micro ? rt_%s_acc_%s : rt_%s_%s)(", op, c->sfx, op, c->sfx);
  else fprintf(c->o, "  rt_%s_%s(", op, c->sfx);
}

static int emit_node(const Cg *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  FILE *o = c->o;
  const char *S = c->sfx;
  const int *in = n->in;
  char d1[64];
  comment(c, id);
  switch (n->op) {
  case IR_FILL:
    fprintf(o, "  rt_fill_%s(F(%lld), %lld, %s);\n", S, F(id), LL(numel(c, id)),
            dbl(n->fa[0], d1, sizeof d1));
    break;
  case IR_EMBEDDING:
    fprintf(o, "  rt_embedding_%s(F(%lld), F(%lld), I(%lld), %lld, %lld);\n", S, F(id),
            F(in[0]), F(in[1]), LL(numel(c, in[1])), LL(lastd(c, in[0])));
    break;
  case IR_MATMUL: {
    const BackMatmul mm = back_matmul(c->g, id);
    const int ta = mm.ta, tb = mm.tb;
    const int64_t M = mm.M, N = mm.N, K = mm.K, batch = mm.batch, sa = mm.sa, sb = mm.sb;
    int accum = n->nin == 3, tri = (int)n->ia[2];
    if (accum) acc_init(c, id, in[2]);
    const char *beta = accum ? "1" : micro(c, id) ? "ctx->micro != 0" : "0";
    if (tri) { /* causal structure; IR_TRI_* equal the runtime's RT_TRI_* */
      fprintf(o, "  rt_matmul_causal_%s(F(%lld), F(%lld), F(%lld), %lld, %lld, %lld, %lld, %d, "
                 "%d, %lld, %lld, %s, %d);\n",
              S, F(id), F(in[0]), F(in[1]), LL(batch), LL(M), LL(N), LL(K), ta, tb, LL(sa),
              LL(sb), beta, tri);
      break;
    }
    fprintf(o, "  rt_matmul_%s(F(%lld), F(%lld), F(%lld), %lld, %lld, %lld, %lld, %d, %d, "
               "%lld, %lld, %s);\n",
            S, F(id), F(in[0]), F(in[1]), LL(batch), LL(M), LL(N), LL(K), ta, tb, LL(sa),
            LL(sb), beta);
    break;
  }
  case IR_ADD:
  case IR_SUB:
  case IR_MUL:
  case IR_DIV:
    fprintf(o, "  rt_%s_%s(F(%lld), F(%lld), F(%lld), %lld, %lld);\n", ir_ops[n->op].name, S,
            F(id), F(in[0]), F(in[1]), LL(numel(c, id)), LL(numel(c, in[1])));
    break;
  case IR_SCALE:
    if (n->fa[0] == 1.0)
      fprintf(o, "  rt_copy_%s(F(%lld), F(%lld), %lld);\n", S, F(id), F(in[0]),
              LL(numel(c, id)));
    else
      fprintf(o, "  rt_scale_%s(F(%lld), F(%lld), %lld, %s);\n", S, F(id), F(in[0]),
              LL(numel(c, id)), dbl(n->fa[0], d1, sizeof d1));
    break;
  case IR_LAYER_NORM:
    fprintf(o, "  rt_layer_norm_%s(F(%lld), F(%lld), F(%lld), F(%lld), %lld, %lld, %s);\n", S,
            F(id), F(in[0]), F(in[1]), F(in[2]), LL(numel(c, id) / lastd(c, id)),
            LL(lastd(c, id)), dbl(n->fa[0], d1, sizeof d1));
    break;
  case IR_RMS_NORM:
    fprintf(o, "  rt_rms_norm_%s(F(%lld), F(%lld), F(%lld), %lld, %lld, %s);\n", S, F(id),
            F(in[0]), F(in[1]), LL(numel(c, id) / lastd(c, id)), LL(lastd(c, id)),
            dbl(n->fa[0], d1, sizeof d1));
    break;
  case IR_GELU:
  case IR_SILU:
    fprintf(o, "  rt_%s_%s(F(%lld), F(%lld), %lld);\n", ir_ops[n->op].name, S, F(id), F(in[0]),
            LL(numel(c, id)));
    break;
  case IR_GELU_BWD:
  case IR_SILU_BWD:
    fprintf(o, "  rt_%s_%s(F(%lld), F(%lld), F(%lld), %lld);\n", ir_ops[n->op].name, S, F(id),
            F(in[0]), F(in[1]), LL(numel(c, id)));
    break;
  case IR_SOFTMAX:
    fprintf(o, "  rt_softmax_%s(F(%lld), F(%lld), %lld, %lld);\n", S, F(id), F(in[0]),
            LL(numel(c, id) / lastd(c, id)), LL(lastd(c, id)));
    break;
  case IR_SOFTMAX_BWD:
    fprintf(o, "  rt_softmax_bwd_%s(F(%lld), F(%lld), F(%lld), %lld, %lld);\n", S, F(id),
            F(in[0]), F(in[1]), LL(numel(c, id) / lastd(c, id)), LL(lastd(c, id)));
    break;
  case IR_CAUSAL_MASK: {
    const IrShape *y = sh(c, id);
    int64_t Tq = y->d[y->rank - 2], Tk = y->d[y->rank - 1];
    fprintf(o, "  rt_causal_mask_%s(F(%lld), F(%lld), %lld, %lld, %lld, %s);\n", S, F(id),
            F(in[0]), LL(ir_numel(y) / (Tq * Tk)), LL(Tq), LL(Tk), dbl(n->fa[0], d1, sizeof d1));
    break;
  }
  case IR_ROPE: {
    const IrShape *y = sh(c, id);
    fprintf(o, "  rt_rope_%s(F(%lld), F(%lld), %lld, %lld, %lld, %lld, %s, %d);\n", S, F(id),
            F(in[0]), LL(y->d[0]), LL(y->d[1]), LL(y->d[2]), LL(y->d[3]),
            dbl(n->fa[0], d1, sizeof d1), n->ia[0] < 0 ? -1 : 1);
    break;
  }
  case IR_CROSS_ENTROPY:
    fprintf(o, "  rt_cross_entropy_%s(F(%lld), F(%lld), I(%lld), %lld, %lld);\n", S, F(id),
            F(in[0]), F(in[1]), LL(numel(c, in[0]) / lastd(c, in[0])), LL(lastd(c, in[0])));
    break;
  case IR_CROSS_ENTROPY_BWD:
    fprintf(o, "  rt_cross_entropy_bwd_%s(F(%lld), F(%lld), F(%lld), I(%lld), %lld, %lld);\n", S,
            F(id), F(in[0]), F(in[1]), F(in[2]), LL(numel(c, in[1]) / lastd(c, in[1])),
            LL(lastd(c, in[1])));
    break;
  case IR_RESHAPE:
    fprintf(o, "  /* (a view of %%%d: no code) */\n", in[0]);
    break;
  case IR_PERMUTE: {
    const IrShape *x = sh(c, in[0]);
    fprintf(o, "  {\n    static const int64_t shape[%d] = {", x->rank);
    for (int i = 0; i < x->rank; i++) fprintf(o, "%s%lld", i ? ", " : "", LL(x->d[i]));
    fprintf(o, "};\n    static const int perm[%d] = {", x->rank);
    for (int i = 0; i < x->rank; i++) fprintf(o, "%s%d", i ? ", " : "", n->perm[i]);
    fprintf(o, "};\n    rt_permute_%s(F(%lld), F(%lld), %d, shape, perm);\n  }\n", S, F(id),
            F(in[0]), x->rank);
    break;
  }
  case IR_SLICE:
  case IR_SLICE_BWD: {
    /* both see the full tensor as [outer, n, inner] around the axis */
    const IrShape *full = n->op == IR_SLICE ? sh(c, in[0]) : sh(c, id);
    int ax = (int)n->ia[0];
    int accum = n->op == IR_SLICE_BWD && n->nin == 2;
    if (accum) acc_init(c, id, in[1]);
    if (n->op == IR_SLICE_BWD) acc_kernel(c, "slice_bwd", accum, id);
    else fprintf(o, "  rt_slice_%s(", S);
    fprintf(o, "F(%lld), F(%lld), %lld, %lld, %lld, %lld, %lld);\n", F(id), F(in[0]),
            LL(prod(full, 0, ax)), LL(full->d[ax]),
            LL(prod(full, ax + 1, full->rank)), LL(n->ia[1]), LL(n->ia[2]));
    break;
  }
  case IR_CONCAT: {
    const IrShape *a = sh(c, in[0]), *b = sh(c, in[1]);
    int ax = (int)n->ia[0];
    fprintf(o, "  rt_concat_%s(F(%lld), F(%lld), F(%lld), %lld, %lld, %lld, %lld);\n", S, F(id),
            F(in[0]), F(in[1]), LL(prod(a, 0, ax)), LL(a->d[ax]), LL(b->d[ax]),
            LL(prod(a, ax + 1, a->rank)));
    break;
  }
  case IR_SUM:
  case IR_MEAN:
  case IR_BROADCAST: {
    /* the full (unreduced) tensor as [outer, n, inner] */
    const IrShape *full = n->op == IR_BROADCAST ? sh(c, id) : sh(c, in[0]);
    int ax = (int)n->ia[0];
    int64_t outer = 1, cnt = ir_numel(full), inner = 1;
    if (ax >= 0) {
      outer = prod(full, 0, ax);
      cnt = full->d[ax];
      inner = prod(full, ax + 1, full->rank);
    }
    double scale = n->op == IR_SUM ? 1.0 : n->op == IR_MEAN ? 1.0 / (double)cnt : n->fa[0];
    fprintf(o, "  rt_%s_%s(F(%lld), F(%lld), %lld, %lld, %lld, %s);\n",
            n->op == IR_BROADCAST ? "broadcast" : "reduce", S, F(id), F(in[0]), LL(outer),
            LL(cnt), LL(inner), dbl(scale, d1, sizeof d1));
    break;
  }
  case IR_EXPAND:
  case IR_EXPAND_BWD: {
    const IrShape *x = n->op == IR_EXPAND ? sh(c, in[0]) : sh(c, id);
    int ax = (int)n->ia[0];
    fprintf(o, "  rt_%s_%s(F(%lld), F(%lld), %lld, %lld, %lld, %lld);\n", ir_ops[n->op].name, S,
            F(id), F(in[0]), LL(prod(x, 0, ax)), LL(x->d[ax]), LL(n->ia[1]),
            LL(prod(x, ax + 1, x->rank)));
    break;
  }
  case IR_EMBEDDING_BWD:
    if (n->nin == 3) acc_init(c, id, in[2]);
    acc_kernel(c, "embedding_bwd", n->nin == 3, id);
    fprintf(o, "F(%lld), F(%lld), I(%lld), %lld, %lld, %lld);\n", F(id), F(in[0]), F(in[1]),
            LL(numel(c, in[1])), LL(lastd(c, id)), LL(sh(c, id)->d[0]));
    break;
  case IR_ACC_GRAD:
    fprintf(o, "  if (ctx->micro) rt_add_%s(F(%lld), F(%lld), F(%lld), %lld, %lld);\n"
               "  else rt_copy_%s(F(%lld), F(%lld), %lld);\n",
            S, F(id), F(id), F(in[0]), LL(numel(c, id)), LL(numel(c, id)), S, F(id), F(in[0]),
            LL(numel(c, id)));
    break;
  case IR_SUM_TO:
    fprintf(o, "  rt_sum_to_%s(F(%lld), F(%lld), %lld, %lld);\n", S, F(id), F(in[0]),
            LL(numel(c, in[0])), LL(numel(c, id)));
    break;
  case IR_LAYER_NORM_BWD_X:
  case IR_RMS_NORM_BWD_X:
    fprintf(o, "  rt_%s_%s(F(%lld), F(%lld), F(%lld), F(%lld), %lld, %lld, %s);\n",
            ir_ops[n->op].name, S, F(id), F(in[0]), F(in[1]), F(in[2]),
            LL(numel(c, id) / lastd(c, id)), LL(lastd(c, id)), dbl(n->fa[0], d1, sizeof d1));
    break;
  case IR_LAYER_NORM_BWD_W:
  case IR_RMS_NORM_BWD_W:
    fprintf(o, "  rt_%s_%s(F(%lld), F(%lld), F(%lld), %lld, %lld, %s);\n", ir_ops[n->op].name, S,
            F(id), F(in[0]), F(in[1]), LL(numel(c, in[1]) / lastd(c, in[1])),
            LL(lastd(c, in[1])), dbl(n->fa[0], d1, sizeof d1));
    break;
  case IR_LM_HEAD_CE: {
    /* the gradients only when a backward follows (rt_ctx.no_grads) */
    int64_t C = lastd(c, in[0]), N = numel(c, in[0]) / C, V = lastd(c, in[3]);
    fprintf(o, "  rt_lm_head_ce_%s(F(%lld), ctx->no_grads ? NULL : F(%lld), ", S, F(id),
            F(in[4]));
    if (n->ia[1]) fputs("NULL, ", o);
    else fprintf(o, "ctx->no_grads ? NULL : F(%lld), ", F(in[5]));
    fprintf(o, "F(%lld), F(%lld), I(%lld), %lld, %lld, %lld, %d, F(%lld), %lld);\n", F(in[0]),
            F(in[1]), F(in[2]), LL(N), LL(C), LL(V), n->ia[0] != 0, F(in[3]),
            LL(sh(c, in[3])->d[0]));
    break;
  }
  case IR_FLASH_ATTENTION:
  case IR_FLASH_ATTENTION_BWD: {
    /* q [B,Tq,H,D], k [B,Tk,Hkv,D]; the backward's operands start at 1;
     * the workspace is the last input */
    int bwd = n->op == IR_FLASH_ATTENTION_BWD, i0 = bwd;
    const IrShape *qs = sh(c, in[i0]), *ks = sh(c, in[i0 + 1]);
    if (bwd)
      fprintf(o, "  rt_flash_attention_bwd_%s(F(%lld), F(%lld), F(%lld), F(%lld), F(%lld), "
                 "F(%lld), F(%lld), F(%lld), F(%lld), F(%lld), ",
              S, F(id), F(in[6]), F(in[7]), F(in[8]), F(in[0]), F(in[1]), F(in[2]), F(in[3]),
              F(in[4]), F(in[5]));
    else
      fprintf(o, "  rt_flash_attention_%s(F(%lld), F(%lld), F(%lld), F(%lld), F(%lld), F(%lld), ",
              S, F(id), F(in[3]), F(in[4]), F(in[0]), F(in[1]), F(in[2]));
    fprintf(o, "%lld, %lld, %lld, %lld, %lld, %lld, %d, %s, %lld, %lld);\n", LL(qs->d[0]),
            LL(qs->d[1]), LL(ks->d[1]), LL(qs->d[2]), LL(ks->d[2]), LL(qs->d[3]),
            n->ia[0] != 0, dbl(n->fa[0], d1, sizeof d1), LL(n->ia[1]), LL(n->ia[2]));
    break;
  }
  case IR_SCRATCH:
    fputs("  /* (a planned workspace: no code) */\n", o);
    break;
  case IR_AFTER:
    fprintf(o, "  /* (%%%d as written by %%%d: no code) */\n", in[0], in[1]);
    break;
  case IR_GRAD_SYNC:
    fprintf(o, "  rt_dist_grad_sync(ctx, %d, F(%lld));\n", param_row(c, id), F(in[0]));
    break;
  case IR_COMM_WAIT:
    fprintf(o, "  rt_dist_grad_wait(ctx, %d);\n", param_row(c, id));
    break;
  case IR_PARAM_GATHER:
    fprintf(o, "  rt_dist_param_gather(ctx, %d, F(%lld));\n", param_row(c, id), F(id));
    break;
  case IR_GATHER_WAIT:
    fprintf(o, "  rt_dist_param_wait(ctx, %d);\n", param_row(c, id));
    break;
  case IR_INPUT:
  case IR_PARAM:
    break;
  default:
    fprintf(stderr, "ftc: internal: no C emission for op %d\n", (int)n->op);
    return -1;
  }
  return 0;
}

BackMatmul back_matmul(const IrGraph *g, int id) {
  const IrNode *n = &g->nodes[id];
  const IrShape *a = &g->nodes[n->in[0]].shape, *b = &g->nodes[n->in[1]].shape, *y = &n->shape;
  BackMatmul m = {n->ia[0] != 0, n->ia[1] != 0, y->d[y->rank - 2], y->d[y->rank - 1], 0, 0, 0, 0};
  m.K = m.ta ? a->d[a->rank - 2] : a->d[a->rank - 1];
  m.batch = ir_numel(y) / (m.M * m.N);
  m.sa = a->rank > 2 ? m.M * m.K : 0;
  m.sb = b->rank > 2 ? m.K * m.N : 0;
  if (m.batch > 1 && m.sb == 0 && !m.ta && m.sa != 0 && !n->ia[2]) {
    /* a shared 2-D b: the batch is just more rows of one product */
    m.M *= m.batch;
    m.batch = 1;
    m.sa = 0;
  }
  return m;
}

/* Ops that emit no kernel call (no profiler site around them). */
static int no_code(IrOp op) {
  return op == IR_RESHAPE || op == IR_INPUT || op == IR_PARAM || op == IR_SCRATCH ||
         op == IR_AFTER;
}

/* Floating-point work of one call, for the profiler's GFLOP/s column. */
static double node_flops(const Cg *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  if (n->op == IR_LM_HEAD_CE) /* logits, dx and dw GEMMs (training) */
    return 6.0 * (double)numel(c, n->in[0]) * (double)lastd(c, n->in[3]);
  if (n->op == IR_FLASH_ATTENTION || n->op == IR_FLASH_ATTENTION_BWD) {
    /* 2 products of 2*D flops per visible (query, key) pair forward, 5 backward */
    int bwd = n->op == IR_FLASH_ATTENTION_BWD;
    const IrShape *q = sh(c, n->in[bwd]), *k = sh(c, n->in[bwd + 1]);
    int64_t Tq = q->d[1], Tk = k->d[1];
    double pairs = (double)Tq * (double)Tk;
    if (n->ia[0]) pairs = (double)Tq * (double)(Tk - Tq) + 0.5 * (double)Tq * (double)(Tq + 1);
    return (bwd ? 10.0 : 4.0) * (double)q->d[0] * (double)q->d[2] * pairs * (double)q->d[3];
  }
  if (n->op != IR_MATMUL) return 0;
  const IrShape *a = sh(c, n->in[0]), *y = sh(c, id);
  int64_t K = n->ia[0] ? a->d[a->rank - 2] : a->d[a->rank - 1];
  return 2.0 * (double)ir_numel(y) * (double)K;
}

/* The profiler's site table: one row per schedule position (runtime/prof.c). */
static double emit_sites(const Cg *c) {
  char sb[128], d1[64], src[160];
  double total = 0;
  fprintf(c->o, "/* profiler and FTC_CHECK_FINITE sites: node, op, name, shape, flops,\n"
                " * output offset, elements, float, backward, .ft line */\n"
                "static const rt_prof_site prof_sites[%d] = {\n", c->p->norder + 1);
  for (int k = 0; k < c->p->norder; k++) {
    int id = c->p->order[k];
    const IrNode *n = &c->g->nodes[id];
    double fl = node_flops(c, id);
    total += fl;
    fprintf(c->o, "  {%d, \"%s\", ", id, ir_ops[n->op].name);
    if (n->name || n->nin == 0) {
      cstr(c->o, n->name);
    } else { /* an unnamed node: its inputs' names say where it is */
      char lab[256];
      size_t k0 = 0;
      for (int i = 0; i < n->nin && k0 < sizeof lab; i++) {
        const char *in = c->g->nodes[n->in[i]].name;
        k0 += (size_t)snprintf(lab + k0, sizeof lab - k0, "%s%s", i ? ", " : "(", in ? in : "_");
      }
      if (k0 < sizeof lab) snprintf(lab + k0, sizeof lab - k0, ")");
      cstr(c->o, lab);
    }
    snprintf(src, sizeof src, "%s:%d", n->span.file ? base(n->span.file->path) : "?",
             n->span.line);
    fprintf(c->o, ", \"%s\", %s, %lld, %lld, %d, %d, ", back_shape_str(&n->shape, sb, sizeof sb),
            dbl(fl, d1, sizeof d1), F(id), LL(numel(c, id)),
            /* a causal mask writes -inf on purpose */
            n->dtype != IR_F32 && n->dtype != IR_F64 ? 0 : n->op == IR_CAUSAL_MASK ? 2 : 1,
            k >= c->p->nfwd);
    cstr(c->o, src);
    fprintf(c->o, "},\n");
  }
  fprintf(c->o, "  {-1, NULL, NULL, NULL, 0.0, 0, 0, 0, 0, NULL}\n};\n"
                "#define PB() if (prof) pt = rt_prof_now()\n"
                "#define PE(k) if (prof) rt_prof_end(k, pt)\n\n");
  return total;
}

static int emit_step(const Cg *c, const char *name, int from, int to) {
  fprintf(c->o, "static void %s(rt_ctx *ctx, unsigned char *arena) {\n  (void)ctx;\n"
                "  const int prof = rt_prof_begin(prof_sites, %d);\n  double pt = 0;\n"
                "  (void)pt;\n", name, c->p->norder);
  for (int k = from; k < to; k++) {
    int id = c->p->order[k], code = !no_code(c->g->nodes[id].op);
    if (code) fputs("  PB();\n", c->o);
    if (emit_node(c, id) < 0) return -1;
    if (code) fprintf(c->o, "  PE(%d);\n", k);
  }
  fprintf(c->o, "}\n\n");
  return 0;
}

static const char *init_name(IrInit i) {
  switch (i) {
  case INIT_ZEROS: return "RT_INIT_ZEROS";
  case INIT_ONES: return "RT_INIT_ONES";
  case INIT_NORMAL: return "RT_INIT_NORMAL";
  case INIT_UNIFORM: return "RT_INIT_UNIFORM";
  default: return "RT_INIT_NONE";
  }
}

static int emit_params(const Cg *c) {
  const IrGraph *g = c->g;
  char d1[64];
  int np = 0;
  /* each parameter's gradient node, found in one sweep (ir_grad_of per
   * parameter would be quadratic in a deep model) */
  int *grad = malloc(sizeof(int) * ((size_t)g->n + 1));
  if (!grad) return -1;
  for (int i = 0; i < g->n; i++) grad[i] = -1;
  for (int i = g->n - 1; i >= 0; i--) {
    const IrNode *n = &g->nodes[i];
    if (!n->dead && n->role == IR_ROLE_GRAD && n->grad_of >= 0 && n->grad_of < g->n)
      grad[n->grad_of] = i;
  }
  fprintf(c->o, "/* name, rank, shape, numel, weights, grad, optimizer state, trainable,\n"
                " * no_decay, init */\nstatic const rt_param params[] = {\n");
  for (int i = 0; i < g->n; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->dead || n->op != IR_PARAM || n->role != IR_ROLE_PARAM) continue;
    int gr = n->trainable ? grad[i] : -1;
    fprintf(c->o, "  {");
    cstr(c->o, n->name);
    fprintf(c->o, ", %d, {", n->shape.rank);
    for (int k = 0; k < n->shape.rank; k++)
      fprintf(c->o, "%s%lld", k ? ", " : "", LL(n->shape.d[k]));
    fprintf(c->o, "}, %lld, %lld, %lld, {%lld, %lld}, %d, %d, %s, %s},\n", LL(ir_numel(&n->shape)),
            F(i), LL(gr >= 0 ? off(c, gr) : -1), LL(c->p->state_off[2 * i]),
            LL(c->p->state_off[2 * i + 1]), n->trainable ? 1 : 0, n->no_decay ? 1 : 0,
            init_name(n->init), dbl(n->init_arg, d1, sizeof d1));
    np++;
  }
  free(grad);
  if (np == 0) fprintf(c->o, "  {0}\n");
  fprintf(c->o, "};\n\n");
  return np;
}

static const char *opt_enum(OptKind k) {
  return k == OPT_ADAMW ? "RT_OPT_ADAMW" : k == OPT_ADAGRAD ? "RT_OPT_ADAGRAD" : "RT_OPT_SGD";
}
static const char *sched_enum(SchedKind k) {
  return k == SCHED_COSINE ? "RT_SCHED_COSINE"
         : k == SCHED_LINEAR ? "RT_SCHED_LINEAR" : "RT_SCHED_CONSTANT";
}

static void emit_model(const Cg *c, int np, double step_flops) {
  const Recipe *r = c->r;
  const Plan *p = c->p;
  const IrGraph *g = c->g;
  FILE *o = c->o;
  char d1[64], d2[64], d3[64], d4[64], d5[64], d6[64], peak[256] = "";
  if (p->norder > 0) {
    const IrNode *n = &g->nodes[p->order[p->peak_at]];
    snprintf(peak, sizeof peak, "%s %s (%s:%d)", ir_ops[n->op].name, n->name ? n->name : "",
             n->span.file ? base(n->span.file->path) : "?", n->span.line);
  }
  fprintf(o, "static const rt_model model = {\n  .recipe = ");
  cstr(o, r->path);
  fprintf(o, ",\n  .hash = FTC_PROGRAM_HASH,\n  .dtype = %s,\n",
          r->dtype == IR_F64 ? "RT_F64" : "RT_F32");
  fprintf(o, "  .plan = {.arena_bytes = %lld, .params = %lld, .grads = %lld, .optstate = %lld,\n"
             "           .inputs = %lld, .activations = %lld, .temps = %lld,\n"
             "           .peak_live = %lld, .peak_op = ",
          LL(p->arena_bytes), LL(p->cat_bytes[PLAN_PARAMS]), LL(p->cat_bytes[PLAN_GRADS]),
          LL(p->cat_bytes[PLAN_OPTSTATE]), LL(p->cat_bytes[PLAN_INPUTS]),
          LL(p->cat_bytes[PLAN_ACTIVATIONS]), LL(p->cat_bytes[PLAN_TEMPS]), LL(p->peak_live));
  cstr(o, peak);
  fprintf(o, "},\n  .params = params,\n  .nparams = %d,\n", np);
  fprintf(o, "  .tokens_off = %lld,\n  .targets_off = %lld,\n  .logits_off = %lld,\n"
             "  .loss_off = %lld,\n",
          LL(g->tokens >= 0 ? off(c, g->tokens) : -1),
          LL(g->targets >= 0 ? off(c, g->targets) : -1),
          LL(g->logits >= 0 ? off(c, g->logits) : -1), LL(g->loss >= 0 ? off(c, g->loss) : -1));
  if (g->logits < 0 && g->loss >= 0 && g->nodes[g->loss].op == IR_LM_HEAD_CE) {
    /* fused head: no logits; the sampler computes a row from x and w */
    const IrNode *h = &g->nodes[g->loss];
    fprintf(o, "  .head_x_off = %lld,\n  .head_w_off = %lld,\n  .head_c = %lld,\n"
               "  .head_wt = %d,\n",
            F(h->in[0]), F(h->in[1]), LL(lastd(c, h->in[0])), h->ia[0] != 0);
  }
  fprintf(o, "  .forward = forward,\n  .backward = backward,\n");
  fprintf(o, "  .train = {.steps = %lld, .opt = %s, .lr = %s, .momentum = %s,\n"
             "            .beta1 = %s, .beta2 = %s, .eps = %s, .weight_decay = %s,\n",
          LL(r->steps), opt_enum(r->opt), dbl(r->lr, d1, 64), dbl(r->momentum, d2, 64),
          dbl(r->beta1, d3, 64), dbl(r->beta2, d4, 64), dbl(r->eps, d5, 64),
          dbl(r->weight_decay, d6, 64));
  fprintf(o, "            .sched = %s, .warmup = %lld, .min_lr = %s, .clip = %s,\n"
             "            .eval_every = %lld, .eval_batches = %lld, .save_every = %lld,\n"
             "            .log_every = %lld, .out_dir = ",
          sched_enum(r->sched), LL(r->warmup), dbl(r->min_lr, d1, 64), dbl(r->clip, d2, 64),
          LL(r->eval_every), LL(r->eval_batches), LL(r->save_every), LL(r->log_every));
  cstr(o, r->out_dir);
  fprintf(o, ", .seed = %lluULL},\n", (unsigned long long)r->seed);
  fprintf(o, "  .data = {.kind = %s, .path = ",
          r->data_kind == DATA_SHARDS ? "RT_DATA_SHARDS" : "RT_DATA_TEXT");
  cstr(o, r->data_path);
  fprintf(o, ", .batch = %d, .seq = %d, .vocab = %d, .split = %s, .tokenizer = ", r->batch,
          r->seq, r->vocab, dbl(r->split, d1, 64));
  cstr(o, r->tokenizer_path);
  fprintf(o, "},\n");
  fprintf(o, "  .init_path = ");
  cstr(o, r->init_path);
  fprintf(o, ",\n  .recipe_dir = ");
  cstr(o, r->dir);
  fprintf(o, ",\n  .model_name = ");
  cstr(o, r->model_name);
  fprintf(o, ",\n");
  int sync = 0; /* passes/zero.c placed the gradient collectives */
  for (int i = 0; i < g->n; i++) sync |= !g->nodes[i].dead && g->nodes[i].op == IR_GRAD_SYNC;
  if (sync) fprintf(o, "  .zero_stage = %d,\n  .grad_sync_nodes = 1,\n", g->zero_stage);
  fprintf(o, "  .step_flops = %s,\n", dbl(step_flops, d1, 64));
  fprintf(o, "  .accumulate = %d,\n", r->accum > 0 ? r->accum : 1);
  fprintf(o, "  .dev = FTC_DEV_PROGRAM,\n  .no_device = FTC_NO_DEVICE_WHY,\n};\n\n");
}

static uint64_t fnv1a(const char *s, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

int cg_c_trainer(const IrGraph *g, const Recipe *r, const Plan *p, FILE *out) {
  char *text = NULL;
  size_t len = 0;
  FILE *o = open_memstream(&text, &len);
  if (!o) {
    fprintf(stderr, "ftc: cannot generate code: out of memory\n");
    return -1;
  }
  Cg c = {g, r, p, o, r->dtype == IR_F64 ? "f64" : "f32", malloc(sizeof(int) * ((size_t)g->n + 1))};
  if (!c.row) {
    fclose(o);
    free(text);
    fprintf(stderr, "ftc: cannot generate code: out of memory\n");
    return -1;
  }
  for (int i = 0, k = 0; i < g->n; i++) /* emit_params' order */
    c.row[i] = !g->nodes[i].dead && g->nodes[i].op == IR_PARAM && g->nodes[i].role == IR_ROLE_PARAM
                   ? k++ : -1;
  fprintf(o, "/* Trainer generated by ftc %s from %s -- do not edit.\n", FTC_VERSION,
          base(r->path));
  fprintf(o, " * dtype %s; %d forward and %d backward ops; one arena of %lld bytes.\n"
             " * Every call names its IR node (%%id op [shape] scope) and the .ft line\n"
             " * it came from; offsets are bytes into the arena (see `ftc plan`). */\n",
          r->dtype == IR_F64 ? "f64" : "f32", p->nfwd, p->norder - p->nfwd,
          LL(p->arena_bytes));
  fprintf(o, "#include <math.h>\n#include <stdint.h>\n#include \"ftrt.h\"\n\n");
  fputs(HASH_MARK, o);
  fprintf(o, "\ntypedef %s T;\n", r->dtype == IR_F64 ? "double" : "float");
  fprintf(o, "#define F(off) ((T *)(arena + (off)))\n"
             "#define I(off) ((const int32_t *)(arena + (off)))\n\n");
  /* ftc build links the CUDA step (cg_cuda.c) with -DFTC_WITH_DEVICE */
  fprintf(o, "#ifdef FTC_WITH_DEVICE\nextern const struct rt_dev_program ftc_dev_program;\n"
             "#define FTC_DEV_PROGRAM (&ftc_dev_program)\n#else\n"
             "#define FTC_DEV_PROGRAM NULL\n#endif\n"
             "#ifndef FTC_NO_DEVICE_WHY /* else ftc build says why there is no device code */\n"
             "#define FTC_NO_DEVICE_WHY NULL\n#endif\n\n");
  double step_flops = emit_sites(&c);
  int rc = emit_step(&c, "forward", 0, p->nfwd);
  if (rc == 0) rc = emit_step(&c, "backward", p->nfwd, p->norder);
  int np = rc == 0 ? emit_params(&c) : 0;
  if (np < 0) rc = -1;
  if (rc == 0) emit_model(&c, np, step_flops);
  fprintf(o, "#ifndef FTC_NO_MAIN\nint main(int argc, char **argv) {\n"
             "  return rt_main(&model, argc, argv);\n}\n#endif\n");
  if (fclose(o) != 0 || !text) rc = -1;
  if (rc == 0) {
    char *mark = strstr(text, HASH_MARK);
    size_t pre = (size_t)(mark - text), ml = strlen(HASH_MARK);
    /* hash the program without its own hash line */
    uint64_t h = fnv1a(text, pre, 1469598103934665603ULL);
    h = fnv1a(mark + ml, len - pre - ml, h);
    if (fwrite(text, 1, pre, out) != pre ||
        fprintf(out, "#define FTC_PROGRAM_HASH \"fnv1a64:%016llx\"\n", (unsigned long long)h) < 0 ||
        fwrite(mark + ml, 1, len - pre - ml, out) != len - pre - ml)
      rc = -1;
  }
  free(c.row);
  free(text);
  return rc;
}
