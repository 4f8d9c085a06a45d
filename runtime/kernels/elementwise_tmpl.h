/* runtime/kernels/elementwise_tmpl.h -- template for elementwise kernels
 * (included by elementwise.c with T and S defined). Same-index maps only, so
 * every kernel is safe in place (the planner runs OPK_ELEMWISE ops in place);
 * that is why these loops use `omp simd` (which asserts no loop-carried
 * dependence) instead of restrict. */

void FN(fill)(T *y, int64_t n, double v) {
  const T tv = (T)v;
#pragma omp parallel for simd RT_OMP_IF(n) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = tv;
}

void FN(copy)(T *y, const T *x, int64_t n) {
  if (y == x || n <= 0) return;
  /* chunked memcpy: memory bound, let libc pick the best moves */
  const int64_t blk = 1 << 16;
  const int64_t nblk = (n + blk - 1) / blk;
#pragma omp parallel for RT_OMP_IF(n) schedule(static)
  for (int64_t k = 0; k < nblk; k++) {
    int64_t lo = k * blk, len = n - lo < blk ? n - lo : blk;
    memcpy(y + lo, x + lo, (size_t)len * sizeof(T));
  }
}

/* y = a OP b[i % nb]: three shapes of loop so the inner one is always a
 * plain vectorizable stride-1 loop (no modulo per element). */
#define RT_BINARY(name, OP)                                                  \
  void FN(name)(T *y, const T *a, const T *b, int64_t n, int64_t nb) {       \
    if (nb == n) {                                                           \
      _Pragma("omp parallel for simd RT_OMP_IF(n) schedule(static)")         \
      for (int64_t i = 0; i < n; i++) y[i] = a[i] OP b[i];                   \
    } else if (nb == 1) {                                                    \
      const T s = b[0];                                                      \
      _Pragma("omp parallel for simd RT_OMP_IF(n) schedule(static)")         \
      for (int64_t i = 0; i < n; i++) y[i] = a[i] OP s;                      \
    } else {                                                                 \
      const int64_t rows = n / nb;                                           \
      _Pragma("omp parallel for RT_OMP_IF(n) schedule(static)")              \
      for (int64_t r = 0; r < rows; r++) {                                   \
        T *yr = y + r * nb;                                                  \
        const T *ar = a + r * nb;                                            \
        _Pragma("omp simd")                                                  \
        for (int64_t j = 0; j < nb; j++) yr[j] = ar[j] OP b[j];              \
      }                                                                      \
    }                                                                        \
  }
RT_BINARY(add, +)
RT_BINARY(sub, -)
RT_BINARY(mul, *)
RT_BINARY(div, /)
#undef RT_BINARY

void FN(scale)(T *y, const T *x, int64_t n, double s) {
  const T ts = (T)s;
#pragma omp parallel for simd RT_OMP_IF(n) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * ts;
}

/* gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed
 * as x * sigmoid(2u) (the same function: 0.5 (1 + tanh u) = 1/(1 + e^-2u)),
 * one exp and one division per element. */
void FN(gelu)(T *y, const T *x, int64_t n) {
  const T k0 = (T)RT_SQRT_2_OVER_PI, k1 = (T)RT_GELU_K;
#pragma omp parallel for simd RT_OMP_IF_HEAVY(n) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    T v = x[i];
    T u = k0 * (v + k1 * v * v * v);
    y[i] = v / ((T)1 + L(kexp)((T)-2 * u));
  }
}

/* d gelu/dx = s + 2 x s (1 - s) du/dx, s = sigmoid(2u),
 * du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2). dx may alias dy or x. */
void FN(gelu_bwd)(T *dx, const T *dy, const T *x, int64_t n) {
  const T k0 = (T)RT_SQRT_2_OVER_PI, k1 = (T)RT_GELU_K;
#pragma omp parallel for simd RT_OMP_IF_HEAVY(n) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    T v = x[i];
    T s = (T)1 / ((T)1 + L(kexp)((T)-2 * k0 * (v + k1 * v * v * v)));
    T du = k0 * ((T)1 + (T)3 * k1 * v * v);
    dx[i] = dy[i] * (s + (T)2 * v * s * ((T)1 - s) * du);
  }
}

/* silu(x) = x * sigmoid(x); the exp argument is -x, which kexp clamps, so
 * sigmoid is exactly 0 or 1 far out instead of NaN. */
void FN(silu)(T *y, const T *x, int64_t n) {
#pragma omp parallel for simd RT_OMP_IF_HEAVY(n) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    T v = x[i];
    y[i] = v / ((T)1 + L(kexp)(-v));
  }
}

/* d silu/dx = s (1 + x (1 - s)), s = sigmoid(x) */
void FN(silu_bwd)(T *dx, const T *dy, const T *x, int64_t n) {
#pragma omp parallel for simd RT_OMP_IF_HEAVY(n) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    T v = x[i];
    T s = (T)1 / ((T)1 + L(kexp)(-v));
    dx[i] = dy[i] * (s * ((T)1 + v * ((T)1 - s)));
  }
}

/* Rows of [batch*Tq, Tk]; query i sits at key Tk-Tq+i, keys after it get
 * `fill`. In place ok (then only the masked tail is written). */
void FN(causal_mask)(T *y, const T *x, int64_t batch, int64_t Tq, int64_t Tk,
                     double fill) {
  const T f = (T)fill;
  const int64_t rows = batch * Tq;
#pragma omp parallel for RT_OMP_IF(rows * Tk) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t i = r % Tq, keep = Tk - Tq + i + 1;
    if (keep < 0) keep = 0;
    if (keep > Tk) keep = Tk;
    T *yr = y + r * Tk;
    const T *xr = x + r * Tk;
    if (yr != xr) memcpy(yr, xr, (size_t)keep * sizeof(T));
    for (int64_t j = keep; j < Tk; j++) yr[j] = f;
  }
}

/* Sum of squares in double, over RT_NCHUNK fixed chunks (deterministic). */
double FN(sumsq)(const T *x, int64_t n) {
  double part[RT_NCHUNK];
  const int64_t cs = (n + RT_NCHUNK - 1) / RT_NCHUNK;
#pragma omp parallel for RT_OMP_IF(n) schedule(static)
  for (int k = 0; k < RT_NCHUNK; k++) {
    int64_t lo = k * cs, hi = lo + cs < n ? lo + cs : n;
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = lo; i < hi; i++) acc += (double)x[i] * (double)x[i];
    part[k] = acc;
  }
  double s = 0;
  for (int k = 0; k < RT_NCHUNK; k++) s += part[k];
  return s;
}
