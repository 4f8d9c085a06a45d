/* compiler/passes/lora.c -- low-rank adapters [Hu et al. 2021].
 *
 * One idea: a matched linear y = x @ W becomes y = x @ W + s * (x A^T) B^T
 * (s = alpha / rank) with every base parameter frozen and only A [rank, in]
 * and B [out, rank] trainable, so autodiff, the planner and the optimizer
 * see the adapters only: no gradient and no optimizer state for the base,
 * and no weight-gradient GEMM for a frozen weight. The adapter is one
 * matmul into [.., rank], a scale and a matmul that adds into the base's
 * output (its accumulator input), so nothing output-sized is added.
 *
 * A and B are stored as PEFT stores lora_A / lora_B (nn.Linear weights)
 * and named after the adapted module ("h.0.attn.c_attn.lora_A.weight"),
 * so export needs no transposes. A starts as PEFT's default
 * (kaiming_uniform with a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))), B as
 * zeros, so at step 0 the output is exactly the base model's.
 *
 * target: '|'-separated globs over module scopes (a weight's name without
 * ".weight"); an alternative with no '*', '?' or '.' names a module as
 * PEFT's target_modules do ("c_attn" matches "h.3.attn.c_attn").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../pass.h"

/* One '|' alternative [p, e) against a scope. */
static int match1(const char *p, const char *e, const char *scope) {
  char pat[256];
  size_t n = (size_t)(e - p);
  if (n == 0 || n + 3 > sizeof pat) return 0;
  int bare = !memchr(p, '*', n) && !memchr(p, '?', n) && !memchr(p, '.', n);
  size_t k = 0;
  if (bare) { /* a module name: any scope ending ".name" (or exactly name) */
    pat[k++] = '*';
    pat[k++] = '.';
  }
  memcpy(pat + k, p, n);
  pat[k + n] = 0;
  return ir_glob(pat, scope) || (bare && ir_glob(pat + 2, scope));
}

static int target_match(const char *target, const char *scope) {
  for (const char *p = target;;) {
    const char *e = strchr(p, '|');
    if (!e) e = p + strlen(p);
    if (match1(p, e, scope)) return 1;
    if (!*e) return 0;
    p = e + 1;
  }
}

/* The scope of a 2-D weight ("h.0.attn.c_attn" for "...c_attn.weight"),
 * copied into buf; NULL for anything else. */
static const char *weight_scope(const IrNode *x, char *buf, size_t n) {
  size_t len = x->name ? strlen(x->name) : 0;
  if (x->dead || x->op != IR_PARAM || x->role != IR_ROLE_PARAM || x->shape.rank != 2 ||
      len <= 7 || len - 7 >= n || strcmp(x->name + len - 7, ".weight"))
    return NULL;
  memcpy(buf, x->name, len - 7);
  buf[len - 7] = 0;
  return buf;
}

/* A matmul that reads w as a linear layer's weight: y = x @ op(w). */
static int is_linear_use(const IrGraph *g, int m, int w) {
  const IrNode *x = &g->nodes[m];
  return !x->dead && x->op == IR_MATMUL && x->nin == 2 && x->in[1] == w && x->in[0] != w &&
         x->ia[0] == 0 && x->ia[2] == IR_TRI_NONE;
}

/* New forward node `op` reading in[0..nin) with the matmul m's span and
 * layer; ia1 = transpose b (matmuls), f = the scale (SCALE). */
static int add_node(IrGraph *g, Diag *d, int m, IrOp op, const int *in, int nin, int ia1,
                    double f, const char *name) {
  Span sp = g->nodes[m].span;
  const char *layer = g->nodes[m].layer;
  int id = ir_new(g, op, in, nin, sp);
  if (id < 0) return -1;
  IrNode *x = &g->nodes[id];
  x->ia[1] = ia1;
  x->fa[0] = f;
  x->name = name;
  x->layer = layer;
  return ir_infer(g, d, id) < 0 ? -1 : id;
}

/* Adapts weight w (scope `scope`) at every linear use; 1 adapted, 0 not a
 * linear weight, -1 error. */
static int adapt(IrGraph *g, Diag *d, Span sp, int w, const char *scope, int64_t rank,
                 double scale, int64_t *added) {
  int nu = ir_users(g, w, NULL, 0);
  int *users = malloc(sizeof(int) * ((size_t)nu + 1)), rc = 0;
  if (!users) return -1;
  ir_users(g, w, users, nu);
  int tb = -1, a = -1, b = -1;
  for (int k = 0; k < nu && rc >= 0; k++) {
    int m = users[k];
    if (!is_linear_use(g, m, w)) continue;
    int t = (int)g->nodes[m].ia[1]; /* 1: w is [out, in] (nn.Linear), 0: [in, out] (Conv1D) */
    if (tb < 0) {
      tb = t;
      IrShape ws = g->nodes[w].shape;
      int64_t in = ws.d[t ? 1 : 0], out = ws.d[t ? 0 : 1];
      char name[320];
      IrDtype dt = g->nodes[w].dtype;
      snprintf(name, sizeof name, "%s.lora_A.weight", scope);
      a = ir_param_new(g, d, sp, ir_strdup(g, name), (IrShape){2, {rank, in}}, dt, 1,
                       INIT_UNIFORM, 1.0 / sqrt((double)in));
      snprintf(name, sizeof name, "%s.lora_B.weight", scope);
      b = a < 0 ? -1
                : ir_param_new(g, d, sp, ir_strdup(g, name), (IrShape){2, {out, rank}}, dt, 1,
                               INIT_ZEROS, 0);
      if (b < 0) {
        rc = -1;
        break;
      }
      *added += (in + out) * rank;
    }
    int x = g->nodes[m].in[0];
    const char *nm = ir_strdup(g, scope);
    int xa = add_node(g, d, m, IR_MATMUL, (int[]){x, a}, 2, 1, 0, nm);
    int xs = xa < 0 ? -1 : add_node(g, d, m, IR_SCALE, &xa, 1, 0, scale, nm);
    int y = xs < 0 ? -1 : add_node(g, d, m, IR_MATMUL, (int[]){xs, b, m}, 3, 1, 0, nm);
    if (y < 0) {
      rc = -1;
    } else {
      ir_replace_uses(g, m, y, y); /* y reads m: its accumulator */
      rc = 1;
    }
  }
  free(users);
  return rc;
}

static int run(IrGraph *g, const PassArgs *args, Diag *d) {
  int64_t rank = pass_int(args, "rank");
  double alpha = pass_float(args, "alpha"), drop = pass_float(args, "dropout");
  const char *target = pass_str(args, "target");
  if (rank < 1 || rank > 1 << 16) {
    diag_at(d, DIAG_ERROR, pass_arg_span(args, "rank"),
            "lora: rank must be between 1 and 65536, not %lld", (long long)rank);
    return -1;
  }
  if (!(drop >= 0 && drop < 1)) {
    diag_at(d, DIAG_ERROR, pass_arg_span(args, "dropout"),
            "lora: dropout is a probability in [0, 1), not %g", drop);
    return -1;
  }
  if (drop > 0) {
    diag_at(d, DIAG_ERROR, pass_arg_span(args, "dropout"),
            "lora: dropout on the adapter input is not implemented yet (use dropout: 0)");
    return -1;
  }
  int n0 = g->n, nadapt = 0, nlin = 0;
  int64_t base = 0, added = 0;
  char scope[256], seen[256] = "";
  for (int i = 0; i < n0; i++) {
    const IrNode *x = &g->nodes[i];
    if (x->dead || x->op != IR_PARAM || x->role != IR_ROLE_PARAM) continue;
    base += ir_numel(&x->shape);
    if (!weight_scope(x, scope, sizeof scope)) continue;
    nlin++;
    if (!seen[0] && ir_layer_of(scope) >= 0) snprintf(seen, sizeof seen, "%s", scope);
    if (!target_match(target, scope)) continue;
    int rc = adapt(g, d, pass_arg_span(args, "target"), i, scope, rank, alpha / (double)rank,
                   &added);
    if (rc < 0) return -1;
    if (rc == 0) {
      diag_at(d, DIAG_ERROR, pass_arg_span(args, "target"),
              "lora: target \"%s\" matches %s, which no matmul reads as a linear layer's weight",
              target, scope);
      return -1;
    }
    nadapt++;
  }
  if (nadapt == 0) {
    diag_at(d, DIAG_ERROR, pass_arg_span(args, "target"),
            "lora: target \"%s\" matches none of the model's %d weight matrices (in the "
            "layers they look like \"%s\"; a bare name such as c_attn or q_proj matches that "
            "module in every layer)", target, nlin, seen);
    return -1;
  }
  /* the base is frozen: only the adapters train */
  for (int i = 0; i < n0; i++)
    if (g->nodes[i].op == IR_PARAM && g->nodes[i].role == IR_ROLE_PARAM) g->nodes[i].trainable = 0;
  ir_note(g, "lora: %d weights adapted (rank %lld, alpha %g), %lld trainable parameters "
          "(%.2f%% of the frozen base's %lld)", nadapt, (long long)rank, alpha,
          (long long)added, base ? 100.0 * (double)added / (double)base : 0.0, (long long)base);
  return 0;
}

static const PassParam params[] = {
    {"rank", PP_INT, "8", "rank r of the adapters A [r, in] and B [out, r]", NULL},
    {"alpha", PP_FLOAT, "16", "scaling: the update is (alpha / rank) * x A^T B^T", NULL},
    {"dropout", PP_FLOAT, "0.0", "dropout on the adapter input", NULL},
    {"target", PP_STRING, "\"*.attn.*\"",
     "globs over module scopes ('|' = or; a bare name like c_attn matches that module)", NULL},
    {0}};
static const PassFact conflicts[] = {
    {"qlora", "qlora already adds the adapters over a quantized base; use one of the two"},
    {0}};
static const char *const before[] = {"mixed_precision", NULL};

const Pass pass_lora = {
    .name = "lora",
    .doc = "Low-rank adaptation: freezes the whole base model and adds trainable low-rank "
           "adapters A (PEFT's init) and B (zero) to the matched linear layers; only adapters "
           "get gradients and optimizer state, and at step 0 the output is the base's.",
    .params = params,
    .conflicts = conflicts,
    .before = before,
    .stage = IR_PHASE_FWD,
    .run = run,
};
