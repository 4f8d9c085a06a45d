/* runtime/kernels/lm_head_tmpl.h -- template for the fused lm-head +
 * cross-entropy, forward and backward (included by softmax.c after
 * softmax_tmpl.h, whose row helpers it shares, with T and S defined).
 *
 * One idea: a row's logits are needed only briefly, so they are made R rows
 * at a time (one GEMM through rt_matmul into the planned workspace ws[R,V])
 * and consumed at once: the forward keeps each row's lse - logit[target];
 * the backward turns the chunk into dlogits = g * (softmax - onehot) in
 * place and feeds two GEMMs, dx rows = dlogits @ op(w)^T and dw += the
 * chunk's outer products. The loss adds row terms into the same RT_NCHUNK
 * fixed partial sums, in the same order, as rt_cross_entropy, so with the
 * same logits the two losses are bit-identical. No allocation: the only
 * scratch is ws (and a small stack block of row losses). */

#define LMH_BLK 256 /* row losses gathered per parallel sweep */

void FN(lm_head_ce)(T *loss, const T *x, const T *w, const int32_t *tgt,
                    int64_t N, int64_t C, int64_t V, int wt, T *ws,
                    int64_t R) {
  double part[RT_NCHUNK] = {0};
  double rl[LMH_BLK];
  const int64_t cs = (N + RT_NCHUNK - 1) / RT_NCHUNK;
  const int64_t count = L(count_targets)(tgt, N);
  if (R > LMH_BLK) R = LMH_BLK; /* ws holds at least this many rows */
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t rows = r0 + R < N ? R : N - r0;
    FN(matmul)(ws, x + r0 * C, w, 1, rows, V, C, 0, wt, 0, 0, 0);
#pragma omp parallel for RT_OMP_IF(rows * V) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
      const int32_t t = tgt[r0 + i];
      rl[i] = 0;
      if (t < 0) continue;
      const T *xr = ws + i * V;
      T m;
      const double z = L(row_max_sum)(xr, V, &m);
      rl[i] = (double)m + log(z) - (double)xr[t];
    }
    for (int64_t i = 0; i < rows; i++)
      if (tgt[r0 + i] >= 0) part[(r0 + i) / cs] += rl[i];
  }
  double s = 0;
  for (int k = 0; k < RT_NCHUNK; k++) s += part[k];
  loss[0] = count ? (T)(s / (double)count) : (T)0;
}

void FN(lm_head_ce_bwd)(T *dw, T *dx, const T *dloss, const T *x, const T *w,
                        const int32_t *tgt, int64_t N, int64_t C, int64_t V,
                        int wt, T *ws, int64_t R) {
  const int64_t count = L(count_targets)(tgt, N);
  const double g = count ? (double)dloss[0] / (double)count : 0.0;
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t rows = r0 + R < N ? R : N - r0;
    const T *xc = x + r0 * C;
    FN(matmul)(ws, xc, w, 1, rows, V, C, 0, wt, 0, 0, 0);
#pragma omp parallel for RT_OMP_IF(rows * V) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
      T *dr = ws + i * V;
      const int32_t t = tgt[r0 + i];
      if (t < 0) {
        memset(dr, 0, (size_t)V * sizeof(T));
        continue;
      }
      L(row_softmax)(dr, dr, V, g);
      dr[t] -= (T)g;
    }
    /* dx rows = dlogits @ op(w)^T: w [V,C] is already [K=V, C]; [C,V] is transposed */
    FN(matmul)(dx + r0 * C, ws, w, 1, rows, C, V, 0, !wt, 0, 0, 0);
    /* dw (+)= dlogits^T @ xc ([V,C]) or xc^T @ dlogits ([C,V]) */
    if (wt)
      FN(matmul)(dw, ws, xc, 1, V, C, rows, 1, 0, 0, 0, r0 > 0);
    else
      FN(matmul)(dw, xc, ws, 1, C, V, rows, 1, 0, 0, 0, r0 > 0);
  }
  if (N <= 0) memset(dw, 0, (size_t)(V * C) * sizeof(T));
}

#undef LMH_BLK
