/* tests/unit/test_kernels.c -- every forward kernel of runtime/kernels.h
 * against a naive reference written here in double, on random inputs of
 * awkward sizes (1, odd, larger than the parallel threshold), for f64
 * (tight tolerance) and f32 (float tolerance); in-place variants where the
 * header allows them (bitwise equal to out of place); and thread-count
 * determinism (1 vs 2 threads bitwise equal) for every non-BLAS kernel,
 * backward ones included. Gradients are checked in test_kernels_grad.c. */
#include "test_kernels_util.h"

/* tolerances: f64 kernels vs double reference; f32 kernels vs the same
 * reference (inputs are float-representable, so only float rounding and
 * the fast exp, ~2 ulp, separate them) */
#define A64 1e-12
#define R64 1e-10
#define A32 2e-6
#define R32 2e-5

/* Run a f32 call with 1 thread and with 2; outputs must match bitwise. */
#define DET(what, out, nelem, call)                                      \
  do {                                                                   \
    float *keep_ = ALLOC(float, (nelem));                                \
    rt_set_threads(1);                                                   \
    call;                                                                \
    memcpy(keep_, (out), (size_t)(nelem) * sizeof(float));               \
    rt_set_threads(2);                                                   \
    call;                                                                \
    same_bits(what " threads 1 vs 2", keep_, (out),                      \
              (size_t)(nelem) * sizeof(float));                          \
  } while (0)

static const int64_t NS[] = {1, 3, 17, 1000, 40001};

static void t_fill_copy_scale(void) {
  for (size_t k = 0; k < sizeof NS / sizeof *NS; k++) {
    int64_t n = NS[k];
    ctx("n=%lld", (long long)n);
    double *x = rnd(n, -3, 3), *ref = ALLOC(double, n), *y = ALLOC(double, n);
    float *xf = f32of(x, n), *yf = ALLOC(float, n);
    for (int64_t i = 0; i < n; i++) ref[i] = 0.25;
    rt_fill_f64(y, n, 0.25);
    rt_fill_f32(yf, n, 0.25);
    CMP64("fill", ref, y, n, 0, 0);
    CMP32("fill", ref, yf, n, 0, 0);
    rt_copy_f64(y, x, n);
    rt_copy_f32(yf, xf, n);
    CMP64("copy", x, y, n, 0, 0);
    CMP32("copy", x, yf, n, 0, 0);
    for (int64_t i = 0; i < n; i++) ref[i] = x[i] * -1.5;
    rt_scale_f64(y, x, n, -1.5);
    rt_scale_f32(yf, xf, n, -1.5);
    CMP64("scale", ref, y, n, A64, R64);
    CMP32("scale", ref, yf, n, A32, R32);
    rt_scale_f32(xf, xf, n, -1.5); /* in place */
    same_bits("scale in place", xf, yf, (size_t)n * sizeof(float));
    t_free_all();
  }
}

static void t_binary(void) {
  const int64_t cases[][2] = {{1, 1}, {7, 7}, {7, 1}, {12, 3}, {33, 11},
                              {40000, 40000}, {40000, 1}, {38400, 768}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    int64_t n = cases[k][0], nb = cases[k][1];
    ctx("n=%lld nb=%lld", (long long)n, (long long)nb);
    double *a = rnd(n, -2, 2), *b = rnd(nb, 0.5, 2), *ref = ALLOC(double, n);
    double *y = ALLOC(double, n);
    float *af = f32of(a, n), *bf = f32of(b, nb), *yf = ALLOC(float, n);
    float *ip = ALLOC(float, n);
    for (int op = 0; op < 4; op++) {
      static const char *names[] = {"add", "sub", "mul", "div"};
      void (*k64[])(double *, const double *, const double *, int64_t,
                    int64_t) = {rt_add_f64, rt_sub_f64, rt_mul_f64, rt_div_f64};
      void (*k32[])(float *, const float *, const float *, int64_t,
                    int64_t) = {rt_add_f32, rt_sub_f32, rt_mul_f32, rt_div_f32};
      for (int64_t i = 0; i < n; i++) {
        double u = a[i], v = b[i % nb];
        ref[i] = op == 0 ? u + v : op == 1 ? u - v : op == 2 ? u * v : u / v;
      }
      k64[op](y, a, b, n, nb);
      k32[op](yf, af, bf, n, nb);
      CMP64(names[op], ref, y, n, A64, R64);
      CMP32(names[op], ref, yf, n, A32, R32);
      memcpy(ip, af, (size_t)n * sizeof(float));
      k32[op](ip, ip, bf, n, nb);
      same_bits("binary in place", ip, yf, (size_t)n * sizeof(float));
      DET("binary", yf, n, k32[op](yf, af, bf, n, nb));
    }
    t_free_all();
  }
}

static void t_matmul(void) {
  /* batch, M, N, K; then odd sizes around a GEMM's blocking (M not a
   * multiple of 6 or 8, N not of 16, K tiny or longer than a K block),
   * and products big enough to be split over threads: by rows (150x131)
   * and by columns (24x1100, N >= 4M) */
  const int64_t cases[][4] = {{1, 1, 1, 1},      {1, 3, 5, 7},     {3, 4, 1, 9},
                              {2, 17, 13, 5},    {1, 64, 70, 33},  {1, 7, 13, 5},
                              {1, 97, 131, 67},  {1, 50, 37, 1},   {1, 19, 33, 1000},
                              {2, 13, 17, 450},  {1, 150, 131, 400}, {1, 24, 1100, 80}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
    for (int v = 0; v < 16; v++) {
      int64_t B = cases[k][0], M = cases[k][1], N = cases[k][2], K = cases[k][3];
      int ta = v & 1, tb = (v >> 1) & 1, shared = (v >> 2) & 1, acc = v >> 3;
      ctx("B=%lld M=%lld N=%lld K=%lld ta=%d tb=%d shared_b=%d acc=%d",
          (long long)B, (long long)M, (long long)N, (long long)K, ta, tb,
          shared, acc);
      int64_t sa = M * K, sb = shared ? 0 : K * N;
      double *a = rnd(B * M * K, -1, 1), *b = rnd(shared ? K * N : B * K * N, -1, 1);
      double *y0 = rnd(B * M * N, -1, 1), *ref = dup64(y0, B * M * N);
      for (int64_t bi = 0; bi < B; bi++)
        for (int64_t i = 0; i < M; i++)
          for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t p = 0; p < K; p++) {
              double av = ta ? a[bi * sa + p * M + i] : a[bi * sa + i * K + p];
              double bv = tb ? b[bi * sb + j * K + p] : b[bi * sb + p * N + j];
              s += av * bv;
            }
            ref[(bi * M + i) * N + j] = (acc ? ref[(bi * M + i) * N + j] : 0) + s;
          }
      double *y = dup64(y0, B * M * N);
      float *yf = f32of(y0, B * M * N);
      rt_matmul_f64(y, a, b, B, M, N, K, ta, tb, sa, sb, acc);
      rt_matmul_f32(yf, f32of(a, B * M * K), f32of(b, shared ? K * N : B * K * N),
                    B, M, N, K, ta, tb, sa, sb, acc);
      CMP64("matmul", ref, y, B * M * N, A64, R64);
      /* float rounding grows with the length K of each sum */
      CMP32("matmul", ref, yf, B * M * N, 1e-5 + 2e-7 * (double)K, 1e-5);
      t_free_all();
    }
}

/* rt_matmul_causal against the same reference with the triangle applied:
 * RT_TRI_OUT keeps only j <= i of the product (0 above, or the accumulator);
 * RT_TRI_A reads only the stored lower triangle of a (NaN above proves it).
 * Sizes straddle the 32-row block: 1, 7, 33, 65, 130. */
static void t_matmul_causal(void) {
  const int64_t Ts[] = {1, 7, 33, 65, 130}, Ds[] = {1, 5, 64};
  for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
    for (size_t di = 0; di < sizeof Ds / sizeof *Ds; di++)
      for (int v = 0; v < 32; v++) {
        int64_t Tn = Ts[ti], D = Ds[di], B = (v & 16) ? 3 : 1;
        int ta = v & 1, tb = (v >> 1) & 1, acc = (v >> 2) & 1;
        int tri = (v >> 3) & 1 ? RT_TRI_A : RT_TRI_OUT;
        int64_t M = Tn, N = tri == RT_TRI_OUT ? Tn : D, K = tri == RT_TRI_OUT ? D : Tn;
        int shared = B > 1 && tb; /* exercise sb = 0 too */
        ctx("T=%lld D=%lld B=%lld ta=%d tb=%d acc=%d tri=%d shared_b=%d", (long long)Tn,
            (long long)D, (long long)B, ta, tb, acc, tri, shared);
        int64_t sa = M * K, sb = shared ? 0 : K * N;
        double *a = rnd(B * M * K, -1, 1), *b = rnd(shared ? K * N : B * K * N, -1, 1);
        double *y0 = rnd(B * M * N, -1, 1), *ref = dup64(y0, B * M * N);
        for (int64_t bi = 0; bi < B; bi++)
          for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
              double s = 0;
              for (int64_t p = 0; p < K; p++) {
                /* stored a[r][c]: r = p, c = i when transposed */
                int64_t r = ta ? p : i, c = ta ? i : p, ld = ta ? M : K;
                double av = tri == RT_TRI_A && c > r ? 0 : a[bi * sa + r * ld + c];
                double bv = tb ? b[bi * sb + j * K + p] : b[bi * sb + p * N + j];
                s += av * bv;
              }
              double *o = &ref[(bi * M + i) * N + j];
              if (tri == RT_TRI_OUT && j > i) *o = acc ? *o : 0;
              else *o = (acc ? *o : 0) + s;
            }
        if (tri == RT_TRI_A) /* never read */
          for (int64_t bi = 0; bi < B; bi++)
            for (int64_t r = 0; r < M; r++)
              for (int64_t c = r + 1; c < K; c++) a[bi * sa + r * K + c] = NAN;
        double *y = dup64(y0, B * M * N);
        float *yf = f32of(y0, B * M * N);
        rt_matmul_causal_f64(y, a, b, B, M, N, K, ta, tb, sa, sb, acc, tri);
        rt_matmul_causal_f32(yf, f32of(a, B * M * K),
                             f32of(b, shared ? K * N : B * K * N), B, M, N, K, ta, tb,
                             sa, sb, acc, tri);
        CMP64("matmul_causal", ref, y, B * M * N, A64, R64);
        CMP32("matmul_causal", ref, yf, B * M * N, 1e-4, 1e-5);
        t_free_all();
      }
}

static void t_embedding(void) {
  const int64_t cases[][3] = {{1, 1, 1}, {5, 3, 7}, {300, 50, 129}, {64, 1000, 96}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    int64_t n = cases[k][0], V = cases[k][1], C = cases[k][2];
    ctx("n=%lld V=%lld C=%lld", (long long)n, (long long)V, (long long)C);
    double *tab = rnd(V * C, -1, 1), *dy = rnd(n * C, -1, 1);
    int32_t *idx = rndidx(n, V);
    double *ref = ALLOC(double, n * C), *y = ALLOC(double, n * C);
    float *yf = ALLOC(float, n * C), *tf = f32of(tab, V * C);
    for (int64_t i = 0; i < n; i++)
      for (int64_t c = 0; c < C; c++) ref[i * C + c] = tab[idx[i] * C + c];
    rt_embedding_f64(y, tab, idx, n, C);
    rt_embedding_f32(yf, tf, idx, n, C);
    CMP64("embedding", ref, y, n * C, 0, 0);
    CMP32("embedding", ref, yf, n * C, 0, 0);
    double *dref = ALLOC(double, V * C), *dt = rnd(V * C, -1, 1);
    float *dtf = f32of(dt, V * C);
    for (int64_t i = 0; i < n; i++)
      for (int64_t c = 0; c < C; c++) dref[idx[i] * C + c] += dy[i * C + c];
    rt_embedding_bwd_f64(dt, dy, idx, n, C, V);
    float *dyf = f32of(dy, n * C);
    rt_embedding_bwd_f32(dtf, dyf, idx, n, C, V);
    CMP64("embedding_bwd", dref, dt, V * C, A64, R64);
    CMP32("embedding_bwd", dref, dtf, V * C, A32, R32);
    DET("embedding_bwd", dtf, V * C, rt_embedding_bwd_f32(dtf, dyf, idx, n, C, V));
    /* the accumulating form adds into what is there (here: the result
     * above), so the reference doubles */
    for (int64_t i = 0; i < V * C; i++) dref[i] *= 2;
    rt_embedding_bwd_acc_f64(dt, dy, idx, n, C, V);
    rt_embedding_bwd_acc_f32(dtf, dyf, idx, n, C, V);
    CMP64("embedding_bwd_acc", dref, dt, V * C, A64, R64);
    CMP32("embedding_bwd_acc", dref, dtf, V * C, A32, R32);
    t_free_all();
  }
}

/* reference row statistics for the norms */
static void ref_norm(double *y, const double *x, const double *w,
                     const double *b, int64_t rows, int64_t C, double eps,
                     int centered) {
  for (int64_t r = 0; r < rows; r++) {
    const double *xr = x + r * C;
    double m = 0, v = 0;
    if (centered) {
      for (int64_t c = 0; c < C; c++) m += xr[c];
      m /= C;
    }
    for (int64_t c = 0; c < C; c++) v += (xr[c] - m) * (xr[c] - m);
    double rs = 1 / sqrt(v / C + eps);
    for (int64_t c = 0; c < C; c++)
      y[r * C + c] = (xr[c] - m) * rs * w[c] + (b ? b[c] : 0);
  }
}

static const int64_t RC[][2] = {{1, 1}, {1, 7}, {5, 1}, {3, 33}, {7, 768},
                                {37, 1001}, {1100, 24}};

static void t_norms(void) {
  for (size_t k = 0; k < sizeof RC / sizeof *RC; k++) {
    int64_t R = RC[k][0], C = RC[k][1], n = R * C;
    ctx("rows=%lld C=%lld", (long long)R, (long long)C);
    /* offset mean: stats must survive a large common mode in f32 */
    double *x = rnd(n, 9, 11), *w = rnd(C, -2, 2), *b = rnd(C, -1, 1);
    double *dy = rnd(n, -1, 1);
    double *ref = ALLOC(double, n), *y = ALLOC(double, n);
    float *xf = f32of(x, n), *wf = f32of(w, C), *bf = f32of(b, C);
    float *yf = ALLOC(float, n), *dyf = f32of(dy, n), *dwf = ALLOC(float, C);
    ref_norm(ref, x, w, b, R, C, 1e-5, 1);
    rt_layer_norm_f64(y, x, w, b, R, C, 1e-5);
    rt_layer_norm_f32(yf, xf, wf, bf, R, C, 1e-5);
    CMP64("layer_norm", ref, y, n, 1e-10, 1e-9);
    CMP32("layer_norm", ref, yf, n, 1e-4, 1e-4);
    DET("layer_norm", yf, n, rt_layer_norm_f32(yf, xf, wf, bf, R, C, 1e-5));
    DET("layer_norm_bwd_x", yf, n,
        rt_layer_norm_bwd_x_f32(yf, dyf, xf, wf, R, C, 1e-5));
    DET("layer_norm_bwd_w", dwf, C,
        rt_layer_norm_bwd_w_f32(dwf, dyf, xf, R, C, 1e-5));
    ref_norm(ref, x, w, NULL, R, C, 1e-6, 0);
    rt_rms_norm_f64(y, x, w, R, C, 1e-6);
    rt_rms_norm_f32(yf, xf, wf, R, C, 1e-6);
    CMP64("rms_norm", ref, y, n, A64, R64);
    CMP32("rms_norm", ref, yf, n, A32, R32);
    DET("rms_norm", yf, n, rt_rms_norm_f32(yf, xf, wf, R, C, 1e-6));
    DET("rms_norm_bwd_x", yf, n,
        rt_rms_norm_bwd_x_f32(yf, dyf, xf, wf, R, C, 1e-6));
    DET("rms_norm_bwd_w", dwf, C,
        rt_rms_norm_bwd_w_f32(dwf, dyf, xf, R, C, 1e-6));
    t_free_all();
  }
}

static void t_activations(void) {
  for (size_t k = 0; k < sizeof NS / sizeof *NS; k++) {
    int64_t n = NS[k];
    ctx("n=%lld", (long long)n);
    double *x = rnd(n, -8, 8), *dy = rnd(n, -1, 1);
    if (n > 3) x[0] = -100, x[1] = 100, x[2] = 0; /* saturation, zero */
    double *ref = ALLOC(double, n), *y = ALLOC(double, n);
    float *xf = f32of(x, n), *yf = ALLOC(float, n), *ip = ALLOC(float, n);
    float *dyf = f32of(dy, n);
    for (int64_t i = 0; i < n; i++) {
      double v = x[i];
      ref[i] = 0.5 * v * (1 + tanh(sqrt(2 / 3.14159265358979323846) *
                                   (v + 0.044715 * v * v * v)));
    }
    rt_gelu_f64(y, x, n);
    rt_gelu_f32(yf, xf, n);
    CMP64("gelu", ref, y, n, A64, R64);
    CMP32("gelu", ref, yf, n, A32, R32);
    memcpy(ip, xf, (size_t)n * sizeof(float));
    rt_gelu_f32(ip, ip, n);
    same_bits("gelu in place", ip, yf, (size_t)n * sizeof(float));
    DET("gelu", yf, n, rt_gelu_f32(yf, xf, n));
    DET("gelu_bwd", yf, n, rt_gelu_bwd_f32(yf, dyf, xf, n));
    for (int64_t i = 0; i < n; i++) ref[i] = x[i] / (1 + exp(-x[i]));
    rt_silu_f64(y, x, n);
    rt_silu_f32(yf, xf, n);
    CMP64("silu", ref, y, n, A64, R64);
    CMP32("silu", ref, yf, n, A32, R32);
    memcpy(ip, xf, (size_t)n * sizeof(float));
    rt_silu_f32(ip, ip, n);
    same_bits("silu in place", ip, yf, (size_t)n * sizeof(float));
    DET("silu", yf, n, rt_silu_f32(yf, xf, n));
    DET("silu_bwd", yf, n, rt_silu_bwd_f32(yf, dyf, xf, n));
    /* backward in place: dx = dy and dx = x */
    rt_gelu_bwd_f32(yf, dyf, xf, n);
    memcpy(ip, dyf, (size_t)n * sizeof(float));
    rt_gelu_bwd_f32(ip, ip, xf, n);
    same_bits("gelu_bwd in place dy", ip, yf, (size_t)n * sizeof(float));
    memcpy(ip, xf, (size_t)n * sizeof(float));
    rt_gelu_bwd_f32(ip, dyf, ip, n);
    same_bits("gelu_bwd in place x", ip, yf, (size_t)n * sizeof(float));
    t_free_all();
  }
}

/* NaN and infinities pass through the fast f32 exp without UB (the
 * sanitizer build checks that) and give the IEEE answers */
static void t_special(void) {
  float x[8] = {NAN, INFINITY, -INFINITY, 0, NAN, INFINITY, -INFINITY, 0}, y[8];
  ctx("special values");
  rt_gelu_f32(y, x, 8);
  t_checks++;
  if (!isnan(y[0]) || y[1] != INFINITY || y[3] != 0) {
    printf("FAIL gelu f32 [%s]: got %g %g %g\n", t_ctx, y[0], y[1], y[3]);
    t_fail++;
  }
  float r[4] = {0, -INFINITY, 1, -INFINITY};
  rt_softmax_f32(y, r, 1, 4);
  double want[4] = {1 / (1 + M_E), 0, M_E / (1 + M_E), 0};
  CMP32("softmax -inf", want, y, 4, 1e-7, 1e-6);
}

static void t_softmax(void) {
  const int64_t cases[][2] = {{1, 1}, {3, 5}, {4, 257}, {30, 2000}, {3, 50257}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    int64_t R = cases[k][0], C = cases[k][1], n = R * C;
    ctx("rows=%lld C=%lld", (long long)R, (long long)C);
    double *x = rnd(n, -10, 10), *ref = ALLOC(double, n), *y = ALLOC(double, n);
    for (int64_t c = 0; c < C; c++) x[c] = (float)(x[c] + 1e4); /* huge */
    for (int64_t r = 0; r < R; r++) {
      double m = -INFINITY, s = 0;
      for (int64_t c = 0; c < C; c++) m = fmax(m, x[r * C + c]);
      for (int64_t c = 0; c < C; c++) s += exp(x[r * C + c] - m);
      for (int64_t c = 0; c < C; c++) ref[r * C + c] = exp(x[r * C + c] - m) / s;
    }
    float *xf = f32of(x, n), *yf = ALLOC(float, n), *ip = ALLOC(float, n);
    float *dyf = f32of(rnd(n, -1, 1), n);
    rt_softmax_f64(y, x, R, C);
    rt_softmax_f32(yf, xf, R, C);
    CMP64("softmax", ref, y, n, A64, R64);
    CMP32("softmax", ref, yf, n, 1e-8, R32);
    memcpy(ip, xf, (size_t)n * sizeof(float));
    rt_softmax_f32(ip, ip, R, C);
    same_bits("softmax in place", ip, yf, (size_t)n * sizeof(float));
    DET("softmax", yf, n, rt_softmax_f32(yf, xf, R, C));
    float *sm = ALLOC(float, n);
    memcpy(sm, yf, (size_t)n * sizeof(float));
    DET("softmax_bwd", yf, n, rt_softmax_bwd_f32(yf, dyf, sm, R, C));
    memcpy(ip, dyf, (size_t)n * sizeof(float));
    rt_softmax_bwd_f32(ip, ip, sm, R, C);
    same_bits("softmax_bwd in place", ip, yf, (size_t)n * sizeof(float));
    t_free_all();
  }
}

static void t_cross_entropy(void) {
  const int64_t cases[][2] = {{1, 1}, {1, 5}, {9, 7}, {70, 301}, {5, 50257}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
    for (int ign = 0; ign < 3; ign++) { /* none, some, all rows ignored */
      int64_t N = cases[k][0], V = cases[k][1];
      ctx("N=%lld V=%lld ignore=%d", (long long)N, (long long)V, ign);
      double *x = rnd(N * V, -6, 6);
      for (int64_t c = 0; c < V; c++) x[c] = (float)(x[c] + 3e3); /* stability */
      int32_t *t = rndidx(N, V);
      for (int64_t i = 0; i < N; i++)
        if (ign == 2 || (ign == 1 && i % 3 == 1)) t[i] = -1;
      double s = 0;
      int64_t cnt = 0;
      for (int64_t i = 0; i < N; i++) {
        if (t[i] < 0) continue;
        double m = -INFINITY, z = 0;
        for (int64_t c = 0; c < V; c++) m = fmax(m, x[i * V + c]);
        for (int64_t c = 0; c < V; c++) z += exp(x[i * V + c] - m);
        s += m + log(z) - x[i * V + t[i]];
        cnt++;
      }
      double ref = cnt ? s / cnt : 0, l64;
      float l32, *xf = f32of(x, N * V), *dl = ALLOC(float, N * V);
      rt_cross_entropy_f64(&l64, x, t, N, V);
      rt_cross_entropy_f32(&l32, xf, t, N, V);
      CMP64("cross_entropy", &ref, &l64, 1, A64, R64);
      CMP32("cross_entropy", &ref, &l32, 1, 1e-5, 1e-5);
      DET("cross_entropy", &l32, 1, rt_cross_entropy_f32(&l32, xf, t, N, V));
      float one = 1.0f;
      DET("cross_entropy_bwd", dl, N * V,
          rt_cross_entropy_bwd_f32(dl, &one, xf, t, N, V));
      rt_cross_entropy_bwd_f32(xf, &one, xf, t, N, V); /* in place */
      same_bits("cross_entropy_bwd in place", xf, dl,
                (size_t)(N * V) * sizeof(float));
      t_free_all();
    }
}

/* rt_lm_head_ce: the loss equals rt_cross_entropy of the whole logits for
 * any chunk size, and a chunk of R rows uses all R rows of the workspace
 * (a cap inside the kernel once silently halved the requested 512). */
static void t_lm_head_ce(void) {
  const int64_t N = 600, C = 8, V = 37;
  const int64_t rs[] = {1, 7, 256, 300, 600};
  double *x = rnd(N * C, -1, 1), *w = rnd(V * C, -1, 1), *lg = ALLOC(double, N * V);
  int32_t *t = rndidx(N, V);
  rt_matmul_f64(lg, x, w, 1, N, V, C, 0, 1, 0, 0, 0);
  double ref;
  rt_cross_entropy_f64(&ref, lg, t, N, V);
  for (size_t k = 0; k < sizeof rs / sizeof *rs; k++) {
    const int64_t R = rs[k];
    ctx("lm_head_ce N=%lld R=%lld", (long long)N, (long long)R);
    double *ws = ALLOC(double, R * V), *dx = ALLOC(double, N * C), *dw = ALLOC(double, V * C);
    for (int64_t i = 0; i < R * V; i++) ws[i] = NAN;
    double l;
    rt_lm_head_ce_f64(&l, NULL, NULL, x, w, t, N, C, V, 1, ws, R);
    CMP64("lm_head_ce loss", &ref, &l, 1, A64, R64);
    t_checks++;
    if (isnan(ws[(R - 1) * V])) {
      printf("FAIL lm_head_ce [%s]: workspace row %lld unused\n", t_ctx, (long long)(R - 1));
      t_fail++;
    }
    rt_lm_head_ce_f64(&l, dx, dw, x, w, t, N, C, V, 1, ws, R);
    CMP64("lm_head_ce loss (with gradients)", &ref, &l, 1, A64, R64);
  }
  t_free_all();
}

static void t_causal_mask(void) {
  const int64_t cases[][3] = {{1, 1, 1}, {2, 3, 3}, {3, 2, 5}, {4, 130, 130}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    int64_t B = cases[k][0], Tq = cases[k][1], Tk = cases[k][2], n = B * Tq * Tk;
    ctx("B=%lld Tq=%lld Tk=%lld", (long long)B, (long long)Tq, (long long)Tk);
    double *x = rnd(n, -1, 1), *ref = ALLOC(double, n), *y = ALLOC(double, n);
    for (int64_t b = 0; b < B; b++)
      for (int64_t i = 0; i < Tq; i++)
        for (int64_t j = 0; j < Tk; j++) {
          int64_t e = (b * Tq + i) * Tk + j;
          ref[e] = j > Tk - Tq + i ? -1e9 : x[e];
        }
    float *xf = f32of(x, n), *yf = ALLOC(float, n);
    rt_causal_mask_f64(y, x, B, Tq, Tk, -1e9);
    rt_causal_mask_f32(yf, xf, B, Tq, Tk, -1e9);
    CMP64("causal_mask", ref, y, n, 0, 0);
    CMP32("causal_mask", ref, yf, n, 0, 1e-7);
    rt_causal_mask_f32(xf, xf, B, Tq, Tk, -1e9);
    same_bits("causal_mask in place", xf, yf, (size_t)n * sizeof(float));
    DET("causal_mask", yf, n, rt_causal_mask_f32(yf, xf, B, Tq, Tk, -1e9));
    rt_causal_mask_f32(yf, xf, B, Tq, Tk, -INFINITY); /* fill -inf works */
    t_checks++;
    if (Tq > 1 && !(isinf(yf[Tk - 1]) && yf[Tk - 1] < 0)) {
      printf("FAIL causal_mask [%s]: -inf fill missing\n", t_ctx);
      t_fail++;
    }
    t_free_all();
  }
}

static void t_rope(void) {
  const int64_t cases[][4] = {{1, 1, 1, 2}, {2, 5, 3, 8}, {1, 3, 2, 7},
                              {2, 64, 4, 64}, {1, 2, 1, 300}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    int64_t B = cases[k][0], Tn = cases[k][1], H = cases[k][2], D = cases[k][3];
    int64_t n = B * Tn * H * D, h = D / 2;
    ctx("B=%lld T=%lld H=%lld D=%lld", (long long)B, (long long)Tn,
        (long long)H, (long long)D);
    double *x = rnd(n, -1, 1), *ref = dup64(x, n), *y = ALLOC(double, n);
    for (int64_t b = 0; b < B; b++)
      for (int64_t t = 0; t < Tn; t++)
        for (int64_t hh = 0; hh < H; hh++)
          for (int64_t i = 0; i < h; i++) {
            int64_t o = ((b * Tn + t) * H + hh) * D;
            double ang = t * pow(500.0, -2.0 * i / D);
            ref[o + i] = x[o + i] * cos(ang) - x[o + i + h] * sin(ang);
            ref[o + i + h] = x[o + i + h] * cos(ang) + x[o + i] * sin(ang);
          }
    float *xf = f32of(x, n), *yf = ALLOC(float, n), *ip = ALLOC(float, n);
    rt_rope_f64(y, x, B, Tn, H, D, 500.0, 1);
    rt_rope_f32(yf, xf, B, Tn, H, D, 500.0, 1);
    CMP64("rope", ref, y, n, A64, R64);
    CMP32("rope", ref, yf, n, A32, R32);
    rt_rope_f64(y, y, B, Tn, H, D, 500.0, -1); /* inverse, in place */
    CMP64("rope inverse", x, y, n, 1e-12, 1e-12);
    memcpy(ip, xf, (size_t)n * sizeof(float));
    rt_rope_f32(ip, ip, B, Tn, H, D, 500.0, 1);
    same_bits("rope in place", ip, yf, (size_t)n * sizeof(float));
    DET("rope", yf, n, rt_rope_f32(yf, xf, B, Tn, H, D, 500.0, 1));
    t_free_all();
  }
}

/* naive permute: walk y in order, decode the index, read x */
static void ref_permute(double *y, const double *x, int rank,
                        const int64_t *shape, const int *perm) {
  int64_t xs[8], total = 1;
  for (int k = rank - 1; k >= 0; k--) xs[k] = total, total *= shape[k];
  for (int64_t e = 0; e < total; e++) {
    int64_t rem = e, off = 0;
    for (int i = rank - 1; i >= 0; i--) {
      int64_t d = shape[perm[i]];
      off += (rem % d) * xs[perm[i]];
      rem /= d;
    }
    y[e] = x[off];
  }
}

static void t_permute(void) {
  static const struct { int rank; int64_t shape[6]; int perm[6]; } cs[] = {
      {1, {7}, {0}},
      {2, {3, 5}, {1, 0}},
      {2, {70, 45}, {1, 0}},
      {4, {2, 9, 3, 8}, {0, 2, 1, 3}},   /* [B,T,H,D] -> [B,H,T,D] */
      {4, {4, 64, 12, 64}, {0, 2, 1, 3}},
      {4, {2, 3, 9, 8}, {0, 2, 1, 3}},   /* and back */
      {4, {2, 9, 3, 8}, {0, 2, 3, 1}},   /* k^T: inner dim moves */
      {4, {3, 1, 5, 1}, {3, 2, 0, 1}},   /* size-1 dims */
      {5, {2, 3, 4, 5, 3}, {4, 0, 3, 1, 2}},
      {3, {33, 40, 17}, {2, 1, 0}},
  };
  for (size_t k = 0; k < sizeof cs / sizeof *cs; k++) {
    int64_t n = 1;
    for (int i = 0; i < cs[k].rank; i++) n *= cs[k].shape[i];
    ctx("case %zu n=%lld", k, (long long)n);
    double *x = rnd(n, -1, 1), *ref = ALLOC(double, n), *y = ALLOC(double, n);
    float *xf = f32of(x, n), *yf = ALLOC(float, n);
    ref_permute(ref, x, cs[k].rank, cs[k].shape, cs[k].perm);
    rt_permute_f64(y, x, cs[k].rank, cs[k].shape, cs[k].perm);
    rt_permute_f32(yf, xf, cs[k].rank, cs[k].shape, cs[k].perm);
    CMP64("permute", ref, y, n, 0, 0);
    CMP32("permute", ref, yf, n, 0, 0);
    DET("permute", yf, n,
        rt_permute_f32(yf, xf, cs[k].rank, cs[k].shape, cs[k].perm));
    t_free_all();
  }
}

/* slice, slice_bwd, concat, expand, expand_bwd, reduce, sum_to, broadcast */
static void t_axis(void) {
  const int64_t cs[][3] = {{1, 1, 1}, {1, 5, 1}, {3, 4, 5}, {2, 300, 1},
                           {1, 1000, 3}, {64, 37, 40}, {5, 2, 4000}};
  for (size_t k = 0; k < sizeof cs / sizeof *cs; k++) {
    int64_t O = cs[k][0], N = cs[k][1], I = cs[k][2], n = O * N * I;
    int64_t st = N / 3, len = N - st - (N > 2);
    ctx("outer=%lld n=%lld inner=%lld", (long long)O, (long long)N, (long long)I);
    double *x = rnd(n, -1, 1), *ref = ALLOC(double, 4 * n + 3 * O * I);
    double *y = ALLOC(double, 4 * n + 3 * O * I);
    float *xf = f32of(x, n), *yf = ALLOC(float, 4 * n + 3 * O * I);
    /* slice */
    for (int64_t o = 0; o < O; o++)
      for (int64_t i = 0; i < len * I; i++)
        ref[o * len * I + i] = x[(o * N + st) * I + i];
    rt_slice_f64(y, x, O, N, I, st, len);
    rt_slice_f32(yf, xf, O, N, I, st, len);
    CMP64("slice", ref, y, O * len * I, 0, 0);
    CMP32("slice", ref, yf, O * len * I, 0, 0);
    DET("slice", yf, O * len * I, rt_slice_f32(yf, xf, O, N, I, st, len));
    /* slice_bwd of x viewed as [O, N, I] into [O, N+3, I] at offset 2 */
    memset(ref, 0, sizeof(double) * (size_t)(O * (N + 3) * I));
    for (int64_t o = 0; o < O; o++)
      for (int64_t i = 0; i < N * I; i++)
        ref[(o * (N + 3) + 2) * I + i] = x[o * N * I + i];
    rt_slice_bwd_f64(y, x, O, N + 3, I, 2, N);
    rt_slice_bwd_f32(yf, xf, O, N + 3, I, 2, N);
    CMP64("slice_bwd", ref, y, O * (N + 3) * I, 0, 0);
    CMP32("slice_bwd", ref, yf, O * (N + 3) * I, 0, 0);
    DET("slice_bwd", yf, O * (N + 3) * I,
        rt_slice_bwd_f32(yf, xf, O, N + 3, I, 2, N));
    /* slice_bwd_acc adds into the slice only: the slice doubles */
    for (int64_t o = 0; o < O; o++)
      for (int64_t i = 0; i < N * I; i++) ref[(o * (N + 3) + 2) * I + i] *= 2;
    rt_slice_bwd_acc_f64(y, x, O, N + 3, I, 2, N);
    rt_slice_bwd_acc_f32(yf, xf, O, N + 3, I, 2, N);
    CMP64("slice_bwd_acc", ref, y, O * (N + 3) * I, 0, 0);
    CMP32("slice_bwd_acc", ref, yf, O * (N + 3) * I, 0, 0);
    /* concat of x [O,N,I] with its first `st` slots of n (as b [O,st,I]) */
    double *b = rnd(O * st * I, -1, 1);
    float *bf = f32of(b, O * st * I);
    for (int64_t o = 0; o < O; o++) {
      for (int64_t i = 0; i < N * I; i++) ref[o * (N + st) * I + i] = x[o * N * I + i];
      for (int64_t i = 0; i < st * I; i++)
        ref[(o * (N + st) + N) * I + i] = b[o * st * I + i];
    }
    rt_concat_f64(y, x, b, O, N, st, I);
    rt_concat_f32(yf, xf, bf, O, N, st, I);
    CMP64("concat", ref, y, O * (N + st) * I, 0, 0);
    CMP32("concat", ref, yf, O * (N + st) * I, 0, 0);
    DET("concat", yf, O * (N + st) * I, rt_concat_f32(yf, xf, bf, O, N, st, I));
    /* expand by 3, and its backward */
    for (int64_t o = 0; o < O; o++)
      for (int64_t j = 0; j < N; j++)
        for (int64_t r = 0; r < 3; r++)
          for (int64_t i = 0; i < I; i++)
            ref[((o * N + j) * 3 + r) * I + i] = x[(o * N + j) * I + i];
    rt_expand_f64(y, x, O, N, 3, I);
    rt_expand_f32(yf, xf, O, N, 3, I);
    CMP64("expand", ref, y, 3 * n, 0, 0);
    CMP32("expand", ref, yf, 3 * n, 0, 0);
    DET("expand", yf, 3 * n, rt_expand_f32(yf, xf, O, N, 3, I));
    {
      double *dy = rnd(3 * n, -1, 1);
      float *dyf = f32of(dy, 3 * n);
      for (int64_t it = 0; it < O * N; it++)
        for (int64_t i = 0; i < I; i++)
          ref[it * I + i] = dy[(it * 3) * I + i] + dy[(it * 3 + 1) * I + i] +
                            dy[(it * 3 + 2) * I + i];
      rt_expand_bwd_f64(y, dy, O, N, 3, I);
      rt_expand_bwd_f32(yf, dyf, O, N, 3, I);
      CMP64("expand_bwd", ref, y, n, A64, R64);
      CMP32("expand_bwd", ref, yf, n, A32, R32);
      DET("expand_bwd", yf, n, rt_expand_bwd_f32(yf, dyf, O, N, 3, I));
    }
    /* reduce over n with a scale (mean), and sum_to over the leading dims */
    for (int64_t o = 0; o < O; o++)
      for (int64_t i = 0; i < I; i++) {
        double s = 0;
        for (int64_t j = 0; j < N; j++) s += x[(o * N + j) * I + i];
        ref[o * I + i] = s / N;
      }
    rt_reduce_f64(y, x, O, N, I, 1.0 / N);
    rt_reduce_f32(yf, xf, O, N, I, 1.0 / N);
    CMP64("reduce", ref, y, O * I, A64, R64);
    CMP32("reduce", ref, yf, O * I, A32, R32);
    DET("reduce", yf, O * I, rt_reduce_f32(yf, xf, O, N, I, 1.0 / N));
    for (int64_t i = 0; i < I; i++) {
      double s = 0;
      for (int64_t j = 0; j < O * N; j++) s += x[j * I + i];
      ref[i] = s;
    }
    rt_sum_to_f64(y, x, n, I);
    rt_sum_to_f32(yf, xf, n, I);
    CMP64("sum_to", ref, y, I, A64, R64);
    CMP32("sum_to", ref, yf, I, 1e-5, R32);
    DET("sum_to", yf, I, rt_sum_to_f32(yf, xf, n, I));
    /* broadcast x [O, I] (first O*I of x) over N, scaled */
    for (int64_t o = 0; o < O; o++)
      for (int64_t j = 0; j < N; j++)
        for (int64_t i = 0; i < I; i++)
          ref[(o * N + j) * I + i] = 0.5 * x[o * I + i];
    rt_broadcast_f64(y, x, O, N, I, 0.5);
    rt_broadcast_f32(yf, xf, O, N, I, 0.5);
    CMP64("broadcast", ref, y, n, 0, 0);
    CMP32("broadcast", ref, yf, n, 0, 0);
    DET("broadcast", yf, n, rt_broadcast_f32(yf, xf, O, N, I, 0.5));
    t_free_all();
  }
}

static void t_sumsq(void) {
  for (size_t k = 0; k < sizeof NS / sizeof *NS; k++) {
    int64_t n = NS[k];
    ctx("n=%lld", (long long)n);
    double *x = rnd(n, -2, 2), ref = 0;
    for (int64_t i = 0; i < n; i++) ref += x[i] * x[i];
    double g64 = rt_sumsq_f64(x, n);
    float *xf = f32of(x, n);
    double g32 = rt_sumsq_f32(xf, n);
    CMP64("sumsq", &ref, &g64, 1, A64, R64);
    CMP64("sumsq(f32 input)", &ref, &g32, 1, A64, R64); /* double accumulate */
    rt_set_threads(1);
    double d1 = rt_sumsq_f32(xf, n);
    rt_set_threads(2);
    double d2 = rt_sumsq_f32(xf, n);
    same_bits("sumsq threads 1 vs 2", &d1, &d2, sizeof d1);
    t_free_all();
  }
}

int main(void) {
  t_fill_copy_scale();
  t_binary();
  t_matmul();
  t_matmul_causal();
  t_embedding();
  t_norms();
  t_activations();
  t_special();
  t_softmax();
  t_cross_entropy();
  t_lm_head_ce();
  t_causal_mask();
  t_rope();
  t_permute();
  t_axis();
  t_sumsq();
  return t_summary("kernels");
}
