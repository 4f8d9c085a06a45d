/* runtime/kernels/softmax_tmpl.h -- template for softmax and cross-entropy,
 * forward and backward (included by softmax.c with T and S defined).
 *
 * Stability: every row subtracts its max before exp, and cross-entropy works
 * with log-sum-exp, lse = max + log(sum exp(x - max)), so no exp overflows
 * and the loss of a confident correct row is ~0, not log(1 - tiny). Sums of
 * exps and of losses are in double. The f32 exp is kexp_f32 (kern.h), which
 * vectorizes. Rows are independent, so they are the unit of parallel work;
 * the loss mean sums RT_NCHUNK fixed row chunks in order (deterministic). */

/* One pass over a row for its max m and s = sum exp(x - m) (the loss needs
 * no exps stored): blocks of RT_SUMBLK (in L1) get their max, the running
 * sum is rescaled when the max grows (online softmax), then the block's
 * exps are summed in T and added in double. A row of 50257 logits is read
 * from memory once. */
static inline double L(row_max_sum)(const T *x, int64_t C, T *pm) {
  T m = (T)-INFINITY;
  double s = 0;
  for (int64_t c0 = 0; c0 < C; c0 += RT_SUMBLK) {
    const int64_t c1 = c0 + RT_SUMBLK < C ? c0 + RT_SUMBLK : C;
    T bm = x[c0];
#pragma omp simd reduction(max : bm)
    for (int64_t c = c0; c < c1; c++) bm = x[c] > bm ? x[c] : bm;
    if (bm > m) {
      s *= exp((double)m - (double)bm); /* m = -inf the first time: s = 0 */
      m = bm;
    }
    if (m == (T)-INFINITY) continue; /* everything so far is -inf */
    T bs = 0;
#pragma omp simd reduction(+ : bs)
    for (int64_t c = c0; c < c1; c++) bs += L(kexp)(x[c] - m);
    s += (double)bs;
  }
  *pm = m;
  return s;
}

static inline T L(row_max)(const T *x, int64_t C) {
  T m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t c = 1; c < C; c++) m = x[c] > m ? x[c] : m;
  return m;
}

/* y = exp(x - max) and its sum; then y *= k/sum. Three passes, but the exp,
 * the costly part, runs once per element; the row is in L2 (a 50257-logit
 * row is 200 KB) for the second and third. y may alias x. */
static inline void L(row_softmax)(T *y, const T *x, int64_t C, double k) {
  const T m = L(row_max)(x, C);
  double s = 0;
  for (int64_t c0 = 0; c0 < C; c0 += RT_SUMBLK) {
    const int64_t c1 = c0 + RT_SUMBLK < C ? c0 + RT_SUMBLK : C;
    T bs = 0;
#pragma omp simd reduction(+ : bs)
    for (int64_t c = c0; c < c1; c++) {
      T e = L(kexp)(x[c] - m);
      y[c] = e;
      bs += e;
    }
    s += (double)bs;
  }
  const T f = (T)(k / s);
#pragma omp simd
  for (int64_t c = 0; c < C; c++) y[c] *= f;
}

void FN(softmax)(T *y, const T *x, int64_t rows, int64_t C) {
  if (C <= 0) return;
#pragma omp parallel for RT_OMP_IF(rows * C) schedule(static)
  for (int64_t r = 0; r < rows; r++) L(row_softmax)(y + r * C, x + r * C, C, 1.0);
}

/* dx = y * (dy - sum(dy * y)); dx may alias dy */
void FN(softmax_bwd)(T *dx, const T *dy, const T *y, int64_t rows,
                     int64_t C) {
#pragma omp parallel for RT_OMP_IF(rows * C) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T *dyr = dy + r * C, *yr = y + r * C;
    T *dxr = dx + r * C;
    double dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t c = 0; c < C; c++) dot += (double)dyr[c] * (double)yr[c];
    const T td = (T)dot;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) dxr[c] = yr[c] * (dyr[c] - td);
  }
}

static int64_t L(count_targets)(const int32_t *tgt, int64_t N) {
  int64_t n = 0;
  for (int64_t i = 0; i < N; i++) n += tgt[i] >= 0;
  return n;
}

/* loss[0] = mean over rows with tgt >= 0 of lse(row) - row[tgt]; 0 if no
 * row counts. */
void FN(cross_entropy)(T *loss, const T *logits, const int32_t *tgt,
                       int64_t N, int64_t V) {
  double part[RT_NCHUNK];
  const int64_t cs = (N + RT_NCHUNK - 1) / RT_NCHUNK;
  const int64_t count = L(count_targets)(tgt, N);
  /* dynamic: with few rows, only the first chunks have work */
#pragma omp parallel for RT_OMP_IF(N * V) schedule(dynamic, 1)
  for (int k = 0; k < RT_NCHUNK; k++) {
    double acc = 0;
    for (int64_t i = k * cs; i < (k + 1) * cs && i < N; i++) {
      if (tgt[i] < 0) continue;
      const T *xr = logits + i * V;
      T m;
      const double z = L(row_max_sum)(xr, V, &m);
      acc += (double)m + log(z) - (double)xr[tgt[i]];
    }
    part[k] = acc;
  }
  double s = 0;
  for (int k = 0; k < RT_NCHUNK; k++) s += part[k];
  loss[0] = count ? (T)(s / (double)count) : (T)0;
}

/* dlogits = dloss/count * (softmax(logits) - onehot(tgt)) for counted rows,
 * 0 for rows with tgt < 0. Each pass of row_softmax reads x[c] before
 * writing dlogits[c], so dlogits may alias logits. */
void FN(cross_entropy_bwd)(T *dlogits, const T *dloss, const T *logits,
                           const int32_t *tgt, int64_t N, int64_t V) {
  const int64_t count = L(count_targets)(tgt, N);
  const double g = count ? (double)dloss[0] / (double)count : 0.0;
#pragma omp parallel for RT_OMP_IF(N * V) schedule(static)
  for (int64_t i = 0; i < N; i++) {
    const T *xr = logits + i * V;
    T *dr = dlogits + i * V;
    if (tgt[i] < 0) {
      memset(dr, 0, (size_t)V * sizeof(T));
      continue;
    }
    L(row_softmax)(dr, xr, V, g);
    dr[tgt[i]] -= (T)g;
  }
}
