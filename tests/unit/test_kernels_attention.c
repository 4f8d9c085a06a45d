/* tests/unit/test_kernels_attention.c -- the fused attention kernels
 * (runtime/kernels/attention.c, the flash_attention pass):
 *  - forward output and log-sum-exp against a direct float64 reference
 *    (every score, a plain softmax), f64 and f32, over awkward shapes: T
 *    not a multiple of the block, block 1, block larger than T or than
 *    RT_ATTN_MAXBLK, grouped-query and multi-query heads, Tq < Tk;
 *  - the forward against the unfused composite built from the other
 *    kernels (permute, expand, matmul, scale, causal_mask, softmax), which
 *    pins the grouped-query head mapping to the composite's;
 *  - the backward (dq, dk, dv) against central finite differences of
 *    L = sum(dout * forward) in float64, then f32 against the same;
 *  - 1, 2 and 3 threads give bitwise the same forward and backward (as in
 *    test_kernels: more threads than this machine's cores only
 *    oversubscribe), also when the backward splits query tiles into chunks
 *    with partial dk/dv sums (planned `threads` > batch x kv heads);
 *  - the workspace is all the kernels need: it starts as NaN (nothing may
 *    be read before it is written) and the test runs with a 256 KiB thread
 *    stack (setenv OMP_STACKSIZE before the first parallel region).
 * Every case runs with the micro-kernels of this build's vector width; the
 * Makefile also builds this test as test_kernels_attention_avx2 and _sse2
 * (-mno-avx512f, -mno-avx), so every width is tested on any x86 machine. */
#include "test_kernels_util.h"

typedef struct Case {
  int64_t B, Tq, Tk, H, Hkv, D;
  int causal;
  int64_t block;
  int64_t threads; /* the plan's thread slots (the pass's `threads`) */
} Case;

static const Case cases[] = {
    {2, 5, 5, 2, 2, 4, 1, 2, 0},      /* T = 2 blocks + 1 */
    {1, 70, 70, 4, 2, 8, 1, 16, 0},   /* grouped-query, several blocks */
    {2, 7, 7, 3, 1, 5, 0, 3, 0},      /* multi-query, not causal */
    {1, 3, 9, 2, 2, 4, 1, 4, 0},      /* Tq < Tk: query i sees keys <= i + 6 */
    {1, 4, 6, 2, 1, 3, 0, 64, 0},     /* block larger than T */
    {1, 33, 33, 1, 1, 16, 1, 1, 0},   /* block 1 */
    {1, 20, 20, 2, 2, 4, 1, 1000, 0}, /* block clamped to RT_ATTN_MAXBLK */
    {2, 130, 130, 2, 2, 64, 1, 64, 0},/* GPT-2's head_dim, a partial last block */
    {1, 9, 9, 4, 4, 6, 0, 4, 0},
    {1, 37, 37, 4, 1, 16, 1, 8, 4},  /* multi-query, 4 backward chunks */
    {2, 22, 30, 4, 2, 8, 1, 4, 8},   /* Tq < Tk, 4 chunks of unequal tiles */
    {1, 20, 20, 2, 2, 84, 0, 8, 3},  /* head dim 84: vectors and a scalar tail */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static int64_t nq(const Case *c) { return c->B * c->Tq * c->H * c->D; }
static int64_t nk(const Case *c) { return c->B * c->Tk * c->Hkv * c->D; }
static int64_t nl(const Case *c) { return c->B * c->H * c->Tq; }
static double scale_of(const Case *c) { return 1.0 / sqrt((double)c->D); }
static int64_t threads_of(const Case *c) { return c->threads ? c->threads : 2; }

/* A workspace of the planned size, NaN throughout (nothing may be read
 * before the kernel writes it). One per direction, kept across calls
 * (finite differences call the forward thousands of times). */
static void *ws_buf[2];
static size_t ws_cap[2];
static void *ws_of(const Case *c, int bwd, size_t esize) {
  const rt_attn_ws w =
      rt_attn_ws_layout(c->B, c->Tq, c->Tk, c->Hkv, c->D, c->block, threads_of(c), bwd);
  const size_t bytes = (size_t)w.total * esize;
  if (bytes > ws_cap[bwd]) {
    free(ws_buf[bwd]);
    ws_buf[bwd] = malloc(bytes);
    ws_cap[bwd] = bytes;
    if (!ws_buf[bwd]) exit(3);
  }
  for (int64_t i = 0; i < w.total; i++)
    if (esize == sizeof(double)) ((double *)ws_buf[bwd])[i] = NAN;
    else ((float *)ws_buf[bwd])[i] = NAN;
  return ws_buf[bwd];
}

#define FWD(S, T, c, o, l, q, k, v)                                                              \
  rt_flash_attention_##S(o, l, ws_of(c, 0, sizeof(T)), q, k, v, (c)->B, (c)->Tq, (c)->Tk,      \
                         (c)->H, (c)->Hkv, (c)->D, (c)->causal, scale_of(c), (c)->block,         \
                         threads_of(c))
#define BWD(S, T, c, dq, dk, dv, dout, q, k, v, o, l)                                            \
  rt_flash_attention_bwd_##S(dq, dk, dv, ws_of(c, 1, sizeof(T)), dout, q, k, v, o, l, (c)->B,  \
                             (c)->Tq, (c)->Tk, (c)->H, (c)->Hkv, (c)->D, (c)->causal,          \
                             scale_of(c), (c)->block, threads_of(c))

/* o and lse straight from the definition, in double */
static void ref_fwd(const Case *c, const double *q, const double *k, const double *v, double *o,
                    double *lse) {
  const int64_t reps = c->H / c->Hkv, off = c->Tk - c->Tq;
  double *s = ALLOC(double, c->Tk);
  for (int64_t b = 0; b < c->B; b++)
    for (int64_t h = 0; h < c->H; h++)
      for (int64_t i = 0; i < c->Tq; i++) {
        const double *qi = q + ((b * c->Tq + i) * c->H + h) * c->D;
        const int64_t n = c->causal ? i + off + 1 : c->Tk;
        double m = -INFINITY, z = 0;
        for (int64_t j = 0; j < n; j++) {
          const double *kj = k + ((b * c->Tk + j) * c->Hkv + h / reps) * c->D;
          double dot = 0;
          for (int64_t d = 0; d < c->D; d++) dot += qi[d] * kj[d];
          s[j] = dot * scale_of(c);
          if (s[j] > m) m = s[j];
        }
        for (int64_t j = 0; j < n; j++) z += exp(s[j] - m);
        double *oi = o + ((b * c->Tq + i) * c->H + h) * c->D;
        for (int64_t d = 0; d < c->D; d++) oi[d] = 0;
        for (int64_t j = 0; j < n; j++) {
          const double *vj = v + ((b * c->Tk + j) * c->Hkv + h / reps) * c->D;
          const double p = exp(s[j] - m) / z;
          for (int64_t d = 0; d < c->D; d++) oi[d] += p * vj[d];
        }
        lse[(b * c->H + h) * c->Tq + i] = m + log(z);
      }
}

static void t_forward(void) {
  for (int t = 0; t < NCASES; t++) {
    const Case *c = &cases[t];
    ctx("case %d: B=%lld Tq=%lld Tk=%lld H=%lld Hkv=%lld D=%lld causal=%d block=%lld", t,
        (long long)c->B, (long long)c->Tq, (long long)c->Tk, (long long)c->H,
        (long long)c->Hkv, (long long)c->D, c->causal, (long long)c->block);
    double *q = rnd(nq(c), -2, 2), *k = rnd(nk(c), -2, 2), *v = rnd(nk(c), -1, 1);
    double *ro = ALLOC(double, nq(c)), *rl = ALLOC(double, nl(c));
    ref_fwd(c, q, k, v, ro, rl);
    double *o = ALLOC(double, nq(c)), *l = ALLOC(double, nl(c));
    FWD(f64, double, c, o, l, q, k, v);
    CMP64("flash_attention out", ro, o, nq(c), 1e-12, 1e-10);
    CMP64("flash_attention lse", rl, l, nl(c), 1e-12, 1e-12);
    float *of = ALLOC(float, nq(c)), *lf = ALLOC(float, nl(c));
    FWD(f32, float, c, of, lf, f32of(q, nq(c)), f32of(k, nk(c)), f32of(v, nk(c)));
    CMP32("flash_attention out", ro, of, nq(c), 2e-6, 2e-5);
    CMP32("flash_attention lse", rl, lf, nl(c), 2e-6, 2e-6);
    t_free_all();
  }
}

/* The unfused composite, as elaboration builds it, from the other kernels:
 * permute to [B,H,T,D], expand kv heads, q k^T, scale, mask, softmax, @ v,
 * permute back. */
static void composite(const Case *c, const double *q, const double *k, const double *v,
                      double *o) {
  const int64_t B = c->B, Tq = c->Tq, Tk = c->Tk, H = c->H, Hkv = c->Hkv, D = c->D;
  static const int perm[4] = {0, 2, 1, 3};
  const int64_t qs[4] = {B, Tq, H, D}, ks[4] = {B, Tk, Hkv, D}, cs[4] = {B, H, Tq, D};
  double *qp = ALLOC(double, nq(c)), *kp = ALLOC(double, nk(c)), *vp = ALLOC(double, nk(c));
  double *ke = ALLOC(double, B * H * Tk * D), *ve = ALLOC(double, B * H * Tk * D);
  double *s = ALLOC(double, B * H * Tq * Tk), *ctxv = ALLOC(double, nq(c));
  rt_permute_f64(qp, q, 4, qs, perm);
  rt_permute_f64(kp, k, 4, ks, perm);
  rt_permute_f64(vp, v, 4, ks, perm);
  rt_expand_f64(ke, kp, B, Hkv, H / Hkv, Tk * D);
  rt_expand_f64(ve, vp, B, Hkv, H / Hkv, Tk * D);
  rt_matmul_f64(s, qp, ke, B * H, Tq, Tk, D, 0, 1, Tq * D, Tk * D, 0);
  rt_scale_f64(s, s, B * H * Tq * Tk, scale_of(c));
  if (c->causal) rt_causal_mask_f64(s, s, B * H, Tq, Tk, -INFINITY);
  rt_softmax_f64(s, s, B * H * Tq, Tk);
  rt_matmul_f64(ctxv, s, ve, B * H, Tq, D, Tk, 0, 0, Tq * Tk, Tk * D, 0);
  rt_permute_f64(o, ctxv, 4, cs, perm);
}

static void t_composite(void) {
  for (int t = 0; t < NCASES; t++) {
    const Case *c = &cases[t];
    ctx("composite, case %d", t);
    double *q = rnd(nq(c), -2, 2), *k = rnd(nk(c), -2, 2), *v = rnd(nk(c), -1, 1);
    double *ro = ALLOC(double, nq(c)), *o = ALLOC(double, nq(c)), *l = ALLOC(double, nl(c));
    composite(c, q, k, v, ro);
    FWD(f64, double, c, o, l, q, k, v);
    CMP64("flash_attention vs composite", ro, o, nq(c), 1e-12, 1e-10);
    t_free_all();
  }
}

/* L = sum(dout * o(q, k, v)) */
static double loss_of(const Case *c, const double *q, const double *k, const double *v,
                      const double *dout, double *o, double *l) {
  FWD(f64, double, c, o, l, q, k, v);
  double s = 0;
  for (int64_t i = 0; i < nq(c); i++) s += dout[i] * o[i];
  return s;
}

static void fd(const Case *c, double *x, int64_t n, const double *q, const double *k,
               const double *v, const double *dout, double *o, double *l, double *g) {
  const double h = 1e-5;
  for (int64_t i = 0; i < n; i++) {
    const double keep = x[i];
    x[i] = keep + h;
    const double lp = loss_of(c, q, k, v, dout, o, l);
    x[i] = keep - h;
    const double lm = loss_of(c, q, k, v, dout, o, l);
    x[i] = keep;
    g[i] = (lp - lm) / (2 * h);
  }
}

static void t_backward(void) {
  for (int t = 0; t < NCASES; t++) {
    const Case *c = &cases[t];
    if (nq(c) > 4096) continue; /* finite differences cost 2 forwards per element */
    ctx("backward, case %d: B=%lld Tq=%lld Tk=%lld H=%lld Hkv=%lld D=%lld causal=%d block=%lld",
        t, (long long)c->B, (long long)c->Tq, (long long)c->Tk, (long long)c->H,
        (long long)c->Hkv, (long long)c->D, c->causal, (long long)c->block);
    double *q = rnd(nq(c), -1.5, 1.5), *k = rnd(nk(c), -1.5, 1.5), *v = rnd(nk(c), -1, 1);
    double *dout = rnd(nq(c), -1, 1);
    double *o = ALLOC(double, nq(c)), *l = ALLOC(double, nl(c));
    double *fq = ALLOC(double, nq(c)), *fk = ALLOC(double, nk(c)), *fv = ALLOC(double, nk(c));
    fd(c, q, nq(c), q, k, v, dout, o, l, fq);
    fd(c, k, nk(c), q, k, v, dout, o, l, fk);
    fd(c, v, nk(c), q, k, v, dout, o, l, fv);
    loss_of(c, q, k, v, dout, o, l);
    double *dq = ALLOC(double, nq(c)), *dk = ALLOC(double, nk(c)), *dv = ALLOC(double, nk(c));
    /* garbage in the outputs: the kernel must overwrite, not accumulate */
    for (int64_t i = 0; i < nk(c); i++) dk[i] = dv[i] = 7.0;
    BWD(f64, double, c, dq, dk, dv, dout, q, k, v, o, l);
    CMP64("flash_attention_bwd dq", fq, dq, nq(c), 1e-7, 1e-6);
    CMP64("flash_attention_bwd dk", fk, dk, nk(c), 1e-7, 1e-6);
    CMP64("flash_attention_bwd dv", fv, dv, nk(c), 1e-7, 1e-6);
    /* f32: its own forward's o and lse, held to the f64 finite differences */
    float *qf = f32of(q, nq(c)), *kf = f32of(k, nk(c)), *vf = f32of(v, nk(c));
    float *df = f32of(dout, nq(c)), *of = ALLOC(float, nq(c)), *lf = ALLOC(float, nl(c));
    FWD(f32, float, c, of, lf, qf, kf, vf);
    float *dqf = ALLOC(float, nq(c)), *dkf = ALLOC(float, nk(c)), *dvf = ALLOC(float, nk(c));
    for (int64_t i = 0; i < nk(c); i++) dkf[i] = dvf[i] = 7.0f;
    BWD(f32, float, c, dqf, dkf, dvf, df, qf, kf, vf, of, lf);
    CMP32("flash_attention_bwd dq", fq, dqf, nq(c), 2e-4, 2e-4);
    CMP32("flash_attention_bwd dk", fk, dkf, nk(c), 2e-4, 2e-4);
    CMP32("flash_attention_bwd dv", fv, dvf, nk(c), 2e-4, 2e-4);
    t_free_all();
  }
}

/* the same bits whatever the thread count (and the planned slots: a
 * kernel planned for 8 threads may run on 1, 2 or 3) */
static void t_threads(void) {
  /* big enough for a team (attn_threads: >= 64 RT_PAR_MIN multiply-adds) */
  static const Case dc[] = {{2, 140, 140, 4, 2, 16, 1, 16, 8},
                            {3, 90, 90, 2, 2, 32, 0, 8, 2},
                            {1, 200, 200, 4, 1, 64, 1, 64, 8},
                            {1, 300, 300, 2, 2, 64, 1, 32, 3}};
  for (size_t t = 0; t < sizeof dc / sizeof dc[0]; t++) {
    const Case *c = &dc[t];
    ctx("threads, case %zu", t);
    float *q = f32of(rnd(nq(c), -2, 2), nq(c)), *k = f32of(rnd(nk(c), -2, 2), nk(c));
    float *v = f32of(rnd(nk(c), -1, 1), nk(c)), *dout = f32of(rnd(nq(c), -1, 1), nq(c));
    float *o[3], *l[3], *dq[3], *dk[3], *dv[3];
    for (int n = 0; n < 3; n++) {
      o[n] = ALLOC(float, nq(c));
      l[n] = ALLOC(float, nl(c));
      dq[n] = ALLOC(float, nq(c));
      dk[n] = ALLOC(float, nk(c));
      dv[n] = ALLOC(float, nk(c));
      rt_set_threads(n + 1);
      FWD(f32, float, c, o[n], l[n], q, k, v);
      BWD(f32, float, c, dq[n], dk[n], dv[n], dout, q, k, v, o[n], l[n]);
    }
    rt_set_threads(0);
    const size_t bq = (size_t)nq(c) * sizeof(float), bk = (size_t)nk(c) * sizeof(float);
    for (int n = 1; n < 3; n++) {
      ctx("threads, case %zu: 1 vs %d threads", t, n + 1);
      same_bits("flash_attention out", o[0], o[n], bq);
      same_bits("flash_attention lse", l[0], l[n], (size_t)nl(c) * sizeof(float));
      same_bits("flash_attention_bwd dq", dq[0], dq[n], bq);
      same_bits("flash_attention_bwd dk", dk[0], dk[n], bk);
      same_bits("flash_attention_bwd dv", dv[0], dv[n], bk);
    }
    t_free_all();
  }
}

int main(void) {
  /* tiles live in the workspace, not on the stack: a small stack is enough
   * (read when the OpenMP runtime starts, i.e. before any kernel runs) */
  setenv("OMP_STACKSIZE", "256K", 1);
  t_forward();
  t_composite();
  t_backward();
  t_threads();
  return t_summary("kernels-attention");
}
