/* tests/unit/test_kernels_grad.c -- every backward kernel (and every kernel
 * that serves as one: rope with sign -1, causal_mask with fill 0, slice_bwd,
 * expand_bwd, broadcast, sum_to, embedding_bwd, matmul with transposes,
 * permute by the inverse) against central finite differences in float64.
 *
 * For y = f(x) and a random dy, the gradient of L(x) = sum(dy * f(x)) is
 * what the backward kernel returns; each component is checked against
 * (L(x + h e_i) - L(x - h e_i)) / 2h, h = 1e-5 (truncation ~h^2, rounding
 * ~1e-16/h: both ~1e-10), tolerance 1e-7 + 1e-6 |g|. The f32 backward is
 * then held to the same finite-difference gradient with float tolerance,
 * 2e-4 + 2e-4 |g| (f32 vs f64 agreement). Sizes are small and odd. */
#include "test_kernels_util.h"

typedef struct G {
  int64_t a, b, c, d;       /* sizes, meaning per op */
  double *w, *bias, *other; /* other operands (double, float-representable) */
  int32_t *idx;
  double p;                 /* eps, theta, scale */
  int64_t shape[6];
  int perm[6], rank;
} G;

typedef struct Op {
  const char *name;
  int64_t (*nx)(const G *), (*ny)(const G *);
  void (*fwd)(const G *, const double *x, double *y);
  void (*bwd64)(const G *, const double *x, const double *dy, double *gx);
  void (*bwd32)(const G *, const float *x, const float *dy, float *gx);
} Op;

static float *F(const double *x, int64_t n) { return f32of(x, n); }

static int64_t rows_c(const G *g) { return g->a * g->b; }
static int64_t cols(const G *g) { return g->b; }

/* layer norm: a rows, b cols */
static void ln_fx(const G *g, const double *x, double *y) {
  rt_layer_norm_f64(y, x, g->w, g->bias, g->a, g->b, g->p);
}
static void ln_bx64(const G *g, const double *x, const double *dy, double *gx) {
  rt_layer_norm_bwd_x_f64(gx, dy, x, g->w, g->a, g->b, g->p);
}
static void ln_bx32(const G *g, const float *x, const float *dy, float *gx) {
  rt_layer_norm_bwd_x_f32(gx, dy, x, F(g->w, g->b), g->a, g->b, g->p);
}
static void ln_fw(const G *g, const double *w, double *y) {
  rt_layer_norm_f64(y, g->other, w, g->bias, g->a, g->b, g->p);
}
static void ln_bw64(const G *g, const double *w, const double *dy, double *gw) {
  rt_layer_norm_bwd_w_f64(gw, dy, g->other, g->a, g->b, g->p);
}
static void ln_bw32(const G *g, const float *w, const float *dy, float *gw) {
  rt_layer_norm_bwd_w_f32(gw, dy, F(g->other, g->a * g->b), g->a, g->b, g->p);
}
static void ln_fb(const G *g, const double *b, double *y) {
  rt_layer_norm_f64(y, g->other, g->w, b, g->a, g->b, g->p);
}
static void sumto_b64(const G *g, const double *b, const double *dy, double *gb) {
  rt_sum_to_f64(gb, dy, g->a * g->b, g->b);
}
static void sumto_b32(const G *g, const float *b, const float *dy, float *gb) {
  rt_sum_to_f32(gb, dy, g->a * g->b, g->b);
}
/* rms norm */
static void rms_fx(const G *g, const double *x, double *y) {
  rt_rms_norm_f64(y, x, g->w, g->a, g->b, g->p);
}
static void rms_bx64(const G *g, const double *x, const double *dy, double *gx) {
  rt_rms_norm_bwd_x_f64(gx, dy, x, g->w, g->a, g->b, g->p);
}
static void rms_bx32(const G *g, const float *x, const float *dy, float *gx) {
  rt_rms_norm_bwd_x_f32(gx, dy, x, F(g->w, g->b), g->a, g->b, g->p);
}
static void rms_fw(const G *g, const double *w, double *y) {
  rt_rms_norm_f64(y, g->other, w, g->a, g->b, g->p);
}
static void rms_bw64(const G *g, const double *w, const double *dy, double *gw) {
  rt_rms_norm_bwd_w_f64(gw, dy, g->other, g->a, g->b, g->p);
}
static void rms_bw32(const G *g, const float *w, const float *dy, float *gw) {
  rt_rms_norm_bwd_w_f32(gw, dy, F(g->other, g->a * g->b), g->a, g->b, g->p);
}
/* elementwise activations: n = a*b */
static void gelu_f(const G *g, const double *x, double *y) { rt_gelu_f64(y, x, g->a * g->b); }
static void gelu_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_gelu_bwd_f64(gx, dy, x, g->a * g->b);
}
static void gelu_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_gelu_bwd_f32(gx, dy, x, g->a * g->b);
}
static void silu_f(const G *g, const double *x, double *y) { rt_silu_f64(y, x, g->a * g->b); }
static void silu_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_silu_bwd_f64(gx, dy, x, g->a * g->b);
}
static void silu_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_silu_bwd_f32(gx, dy, x, g->a * g->b);
}
/* softmax: backward takes y = softmax(x) */
static void sm_f(const G *g, const double *x, double *y) { rt_softmax_f64(y, x, g->a, g->b); }
static void sm_b64(const G *g, const double *x, const double *dy, double *gx) {
  double *y = ALLOC(double, g->a * g->b);
  rt_softmax_f64(y, x, g->a, g->b);
  rt_softmax_bwd_f64(gx, dy, y, g->a, g->b);
}
static void sm_b32(const G *g, const float *x, const float *dy, float *gx) {
  float *y = ALLOC(float, g->a * g->b);
  rt_softmax_f32(y, x, g->a, g->b);
  rt_softmax_bwd_f32(gx, dy, y, g->a, g->b);
}
/* cross-entropy: x = logits [a, b], y = loss [1], dy = dloss */
static int64_t one(const G *g) { return 1; }
static void ce_f(const G *g, const double *x, double *y) {
  rt_cross_entropy_f64(y, x, g->idx, g->a, g->b);
}
static void ce_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_cross_entropy_bwd_f64(gx, dy, x, g->idx, g->a, g->b);
}
static void ce_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_cross_entropy_bwd_f32(gx, dy, x, g->idx, g->a, g->b);
}
/* rope on [a, b, c, d] = [B, T, H, D]; backward = sign -1 */
static int64_t n4(const G *g) { return g->a * g->b * g->c * g->d; }
static void rope_f(const G *g, const double *x, double *y) {
  rt_rope_f64(y, x, g->a, g->b, g->c, g->d, g->p, 1);
}
static void rope_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_rope_f64(gx, dy, g->a, g->b, g->c, g->d, g->p, -1);
}
static void rope_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_rope_f32(gx, dy, g->a, g->b, g->c, g->d, g->p, -1);
}
/* causal mask [a, b, c] = [batch, Tq, Tk]; finite fill so L stays finite */
static int64_t n3(const G *g) { return g->a * g->b * g->c; }
static void cm_f(const G *g, const double *x, double *y) {
  rt_causal_mask_f64(y, x, g->a, g->b, g->c, -3.0);
}
static void cm_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_causal_mask_f64(gx, dy, g->a, g->b, g->c, 0.0);
}
static void cm_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_causal_mask_f32(gx, dy, g->a, g->b, g->c, 0.0);
}
/* embedding: table [c = V, b = C], a indices */
static int64_t tab_n(const G *g) { return g->c * g->b; }
static void emb_f(const G *g, const double *t, double *y) {
  rt_embedding_f64(y, t, g->idx, g->a, g->b);
}
static void emb_b64(const G *g, const double *t, const double *dy, double *gt) {
  rt_embedding_bwd_f64(gt, dy, g->idx, g->a, g->b, g->c);
}
static void emb_b32(const G *g, const float *t, const float *dy, float *gt) {
  rt_embedding_bwd_f32(gt, dy, g->idx, g->a, g->b, g->c);
}
/* slice of x [a, b, c] (outer, n, inner): start d, len 2 */
static int64_t sl_ny(const G *g) { return g->a * 2 * g->c; }
static void sl_f(const G *g, const double *x, double *y) {
  rt_slice_f64(y, x, g->a, g->b, g->c, g->d, 2);
}
static void sl_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_slice_bwd_f64(gx, dy, g->a, g->b, g->c, g->d, 2);
}
static void sl_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_slice_bwd_f32(gx, dy, g->a, g->b, g->c, g->d, 2);
}
/* concat(x [a, b, c], other [a, d, c]) wrt x: the gradient is a slice */
static int64_t cat_ny(const G *g) { return g->a * (g->b + g->d) * g->c; }
static void cat_f(const G *g, const double *x, double *y) {
  rt_concat_f64(y, x, g->other, g->a, g->b, g->d, g->c);
}
static void cat_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_slice_f64(gx, dy, g->a, g->b + g->d, g->c, 0, g->b);
}
static void cat_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_slice_f32(gx, dy, g->a, g->b + g->d, g->c, 0, g->b);
}
/* expand x [a, b, c] by d */
static int64_t exp_ny(const G *g) { return n3(g) * g->d; }
static void ex_f(const G *g, const double *x, double *y) {
  rt_expand_f64(y, x, g->a, g->b, g->d, g->c);
}
static void ex_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_expand_bwd_f64(gx, dy, g->a, g->b, g->d, g->c);
}
static void ex_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_expand_bwd_f32(gx, dy, g->a, g->b, g->d, g->c);
}
/* reduce x [a, b, c] over b with scale p; backward = broadcast */
static int64_t red_ny(const G *g) { return g->a * g->c; }
static void red_f(const G *g, const double *x, double *y) {
  rt_reduce_f64(y, x, g->a, g->b, g->c, g->p);
}
static void red_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_broadcast_f64(gx, dy, g->a, g->b, g->c, g->p);
}
static void red_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_broadcast_f32(gx, dy, g->a, g->b, g->c, g->p);
}
/* add(other [a*b], x [b]) wrt the broadcast operand: backward = sum_to;
 * mul wrt the full operand: backward = mul by the other */
static void addb_f(const G *g, const double *x, double *y) {
  rt_add_f64(y, g->other, x, g->a * g->b, g->b);
}
static void mul_f(const G *g, const double *x, double *y) {
  rt_mul_f64(y, x, g->w, g->a * g->b, g->b);
}
static void mul_b64(const G *g, const double *x, const double *dy, double *gx) {
  rt_mul_f64(gx, dy, g->w, g->a * g->b, g->b);
}
static void mul_b32(const G *g, const float *x, const float *dy, float *gx) {
  rt_mul_f32(gx, dy, F(g->w, g->b), g->a * g->b, g->b);
}
/* permute: backward = permute of dy by the inverse permutation */
static int64_t pn(const G *g) {
  int64_t n = 1;
  for (int i = 0; i < g->rank; i++) n *= g->shape[i];
  return n;
}
static void perm_f(const G *g, const double *x, double *y) {
  rt_permute_f64(y, x, g->rank, g->shape, g->perm);
}
static void perm_inv(const G *g, int64_t *ys, int *inv) {
  for (int i = 0; i < g->rank; i++) {
    ys[i] = g->shape[g->perm[i]];
    inv[g->perm[i]] = i;
  }
}
static void perm_b64(const G *g, const double *x, const double *dy, double *gx) {
  int64_t ys[6];
  int inv[6];
  perm_inv(g, ys, inv);
  rt_permute_f64(gx, dy, g->rank, ys, inv);
}
static void perm_b32(const G *g, const float *x, const float *dy, float *gx) {
  int64_t ys[6];
  int inv[6];
  perm_inv(g, ys, inv);
  rt_permute_f32(gx, dy, g->rank, ys, inv);
}
/* matmul y [M=a, N=b] = A [a, c] @ B [c, b]; wrt A: dA = dY @ B^T (B is
 * `other`, stored as given); wrt B: dB = A^T @ dY (A is `w`) */
static int64_t mm_na(const G *g) { return g->a * g->c; }
static int64_t mm_nb(const G *g) { return g->c * g->b; }
static int64_t mm_ny(const G *g) { return g->a * g->b; }
static void mmA_f(const G *g, const double *A, double *y) {
  rt_matmul_f64(y, A, g->other, 1, g->a, g->b, g->c, 0, 0, 0, 0, 0);
}
static void mmA_b64(const G *g, const double *A, const double *dy, double *gA) {
  rt_matmul_f64(gA, dy, g->other, 1, g->a, g->c, g->b, 0, 1, 0, 0, 0);
}
static void mmA_b32(const G *g, const float *A, const float *dy, float *gA) {
  rt_matmul_f32(gA, dy, F(g->other, mm_nb(g)), 1, g->a, g->c, g->b, 0, 1, 0, 0, 0);
}
static void mmB_f(const G *g, const double *B, double *y) {
  rt_matmul_f64(y, g->w, B, 1, g->a, g->b, g->c, 0, 0, 0, 0, 0);
}
static void mmB_b64(const G *g, const double *B, const double *dy, double *gB) {
  rt_matmul_f64(gB, g->w, dy, 1, g->c, g->b, g->a, 1, 0, 0, 0, 0);
}
static void mmB_b32(const G *g, const float *B, const float *dy, float *gB) {
  rt_matmul_f32(gB, F(g->w, mm_na(g)), dy, 1, g->c, g->b, g->a, 1, 0, 0, 0, 0);
}

static void fd_check(const Op *op, G *g, double lo, double hi) {
  const int64_t nx = op->nx(g), ny = op->ny(g);
  const double h = 1e-5;
  double *x = rnd(nx, lo, hi), *dy = rnd(ny, -1, 1), *y = ALLOC(double, ny);
  double *gk = ALLOC(double, nx);
  op->bwd64(g, x, dy, gk);
  double *fd = ALLOC(double, nx);
  for (int64_t i = 0; i < nx; i++) {
    double keep = x[i], lp = 0, lm = 0;
    x[i] = keep + h;
    op->fwd(g, x, y);
    for (int64_t j = 0; j < ny; j++) lp += dy[j] * y[j];
    x[i] = keep - h;
    op->fwd(g, x, y);
    for (int64_t j = 0; j < ny; j++) lm += dy[j] * y[j];
    x[i] = keep;
    fd[i] = (lp - lm) / (2 * h);
  }
  CMP64(op->name, fd, gk, nx, 1e-7, 1e-6);
  float *g32 = ALLOC(float, nx);
  op->bwd32(g, F(x, nx), F(dy, ny), g32);
  CMP32(op->name, fd, g32, nx, 2e-4, 2e-4);
}

#define OP(nm, nx, ny, f, b) \
  { nm, nx, ny, f, b##64, b##32 }

int main(void) {
  static const Op ops[] = {
      OP("layer_norm_bwd_x", rows_c, rows_c, ln_fx, ln_bx),
      OP("layer_norm_bwd_w", cols, rows_c, ln_fw, ln_bw),
      OP("sum_to (layer_norm bias)", cols, rows_c, ln_fb, sumto_b),
      OP("rms_norm_bwd_x", rows_c, rows_c, rms_fx, rms_bx),
      OP("rms_norm_bwd_w", cols, rows_c, rms_fw, rms_bw),
      OP("gelu_bwd", rows_c, rows_c, gelu_f, gelu_b),
      OP("silu_bwd", rows_c, rows_c, silu_f, silu_b),
      OP("softmax_bwd", rows_c, rows_c, sm_f, sm_b),
      OP("sum_to (add broadcast)", cols, rows_c, addb_f, sumto_b),
      OP("mul (mul backward)", rows_c, rows_c, mul_f, mul_b),
  };
  /* row-shaped ops: (rows, C) pairs, awkward */
  static const int64_t rc[][2] = {{1, 1}, {1, 6}, {4, 1}, {3, 7}, {5, 16}};
  for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
    for (size_t s = 0; s < sizeof rc / sizeof *rc; s++) {
      G g = {.a = rc[s][0], .b = rc[s][1], .p = 1e-5};
      ctx("rows=%lld C=%lld", (long long)g.a, (long long)g.b);
      g.w = rnd(g.b, -2, 2);
      g.bias = rnd(g.b, -1, 1);
      g.other = rnd(g.a * g.b, -2, 3);
      fd_check(&ops[k], &g, -3, 3);
      t_free_all();
    }

  /* cross-entropy with some rows ignored (target -1), none, and all */
  static const Op ce = OP("cross_entropy_bwd", rows_c, one, ce_f, ce_b);
  static const int64_t ces[][2] = {{1, 1}, {1, 5}, {6, 9}, {4, 33}};
  for (size_t s = 0; s < sizeof ces / sizeof *ces; s++)
    for (int ign = 0; ign < 3; ign++) {
      G g = {.a = ces[s][0], .b = ces[s][1]};
      ctx("N=%lld V=%lld ignore=%d", (long long)g.a, (long long)g.b, ign);
      g.idx = rndidx(g.a, g.b);
      for (int64_t i = 0; i < g.a; i++)
        if (ign == 2 || (ign == 1 && i % 2 == 0)) g.idx[i] = -1;
      fd_check(&ce, &g, -4, 4);
      t_free_all();
    }

  /* 4-D / 3-D shaped ops: (a, b, c, d) as each op reads them */
  static const struct { Op op; int64_t s[4]; double p; } shaped[] = {
      {OP("rope (sign -1)", n4, n4, rope_f, rope_b), {2, 5, 3, 8}, 10000.0},
      {OP("rope (sign -1)", n4, n4, rope_f, rope_b), {1, 3, 2, 7}, 50.0},
      {OP("causal_mask (fill 0)", n3, n3, cm_f, cm_b), {2, 3, 5, 0}, 0},
      {OP("causal_mask (fill 0)", n3, n3, cm_f, cm_b), {1, 4, 4, 0}, 0},
      {OP("embedding_bwd", tab_n, rows_c, emb_f, emb_b), {9, 3, 5, 0}, 0},
      {OP("embedding_bwd", tab_n, rows_c, emb_f, emb_b), {1, 1, 1, 0}, 0},
      {OP("slice_bwd", n3, sl_ny, sl_f, sl_b), {3, 5, 2, 1}, 0},
      {OP("slice_bwd", n3, sl_ny, sl_f, sl_b), {1, 2, 1, 0}, 0},
      {OP("slice (concat backward)", n3, cat_ny, cat_f, cat_b), {2, 3, 4, 2}, 0},
      {OP("expand_bwd", n3, exp_ny, ex_f, ex_b), {2, 3, 5, 2}, 0},
      {OP("expand_bwd", n3, exp_ny, ex_f, ex_b), {1, 1, 1, 4}, 0},
      {OP("broadcast (reduce backward)", n3, red_ny, red_f, red_b), {3, 4, 5, 0}, 0.25},
      {OP("broadcast (reduce backward)", n3, red_ny, red_f, red_b), {1, 200, 1, 0}, 1.0},
      {OP("matmul dA = dY B^T", mm_na, mm_ny, mmA_f, mmA_b), {3, 5, 7, 0}, 0},
      {OP("matmul dB = A^T dY", mm_nb, mm_ny, mmB_f, mmB_b), {3, 5, 7, 0}, 0},
      {OP("matmul dA = dY B^T", mm_na, mm_ny, mmA_f, mmA_b), {1, 1, 1, 0}, 0},
  };
  for (size_t k = 0; k < sizeof shaped / sizeof *shaped; k++) {
    G g = {.a = shaped[k].s[0], .b = shaped[k].s[1], .c = shaped[k].s[2],
           .d = shaped[k].s[3], .p = shaped[k].p};
    ctx("a=%lld b=%lld c=%lld d=%lld", (long long)g.a, (long long)g.b,
        (long long)g.c, (long long)g.d);
    g.idx = rndidx(g.a, g.c ? g.c : 1);
    g.other = rnd(g.a * (g.b + g.d + 1) * (g.c + 1), -1, 1);
    g.w = rnd(g.a * g.c + 1, -1, 1);
    fd_check(&shaped[k].op, &g, -2, 2);
    t_free_all();
  }

  /* permute: backward is the inverse permutation */
  static const struct { int rank; int64_t shape[6]; int perm[6]; } ps[] = {
      {2, {3, 4}, {1, 0}},
      {4, {2, 3, 2, 4}, {0, 2, 1, 3}},
      {4, {2, 3, 2, 4}, {0, 2, 3, 1}},
      {3, {1, 5, 3}, {2, 0, 1}},
  };
  static const Op pop = OP("permute (inverse)", pn, pn, perm_f, perm_b);
  for (size_t k = 0; k < sizeof ps / sizeof *ps; k++) {
    G g = {.rank = ps[k].rank};
    memcpy(g.shape, ps[k].shape, sizeof g.shape);
    memcpy(g.perm, ps[k].perm, sizeof g.perm);
    ctx("case %zu", k);
    fd_check(&pop, &g, -1, 1);
    t_free_all();
  }
  return t_summary("kernels-grad");
}
