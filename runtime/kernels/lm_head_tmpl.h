/* runtime/kernels/lm_head_tmpl.h -- template for the fused lm-head +
 * cross-entropy (included by softmax.c after softmax_tmpl.h, whose row
 * helpers it shares, with T and S defined).
 *
 * One idea: a row's logits are needed only briefly, so they are made R rows
 * at a time (one GEMM through rt_matmul into the planned workspace ws[R,V])
 * and consumed at once: each row gives its loss term lse - logit[target]
 * and, when gradients are wanted, becomes dlogits = (softmax - onehot) /
 * count in place (the loss is the step's output: its seed gradient is 1),
 * which feeds two GEMMs right away, dx rows = dlogits @ op(w)^T and dw +=
 * the chunk's outer products. So training costs the unfused three GEMMs and
 * the [N,V] logits never exist. The loss adds row terms into the same
 * RT_NCHUNK fixed partial sums, in the same order, as rt_cross_entropy, so
 * with the same logits the two losses are bit-identical. No allocation: the
 * only scratch is ws (and a small stack block of row terms). */

#define LMH_BLK RT_LM_HEAD_MAXROWS /* rows per chunk at most (row terms on the stack) */

void FN(lm_head_ce)(T *loss, T *dx, T *dw, const T *x, const T *w,
                    const int32_t *tgt, int64_t N, int64_t C, int64_t V,
                    int wt, T *ws, int64_t R) {
  double part[RT_NCHUNK] = {0};
  double rl[LMH_BLK];
  const int64_t cs = (N + RT_NCHUNK - 1) / RT_NCHUNK;
  const int64_t count = L(count_targets)(tgt, N);
  const double g = count ? 1.0 / (double)count : 0.0;
  if (R > LMH_BLK) R = LMH_BLK; /* the pass refuses more (kernels.h) */
  if (R < 1) R = 1;
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t rows = r0 + R < N ? R : N - r0;
    const T *xc = x + r0 * C;
    FN(matmul)(ws, xc, w, 1, rows, V, C, 0, wt, 0, 0, 0);
#pragma omp parallel for RT_OMP_IF(rows * V) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
      const int32_t t = tgt[r0 + i];
      T *xr = ws + i * V;
      rl[i] = 0;
      if (t < 0) {
        if (dx) memset(xr, 0, (size_t)V * sizeof(T));
        continue;
      }
      T m;
      const double z = L(row_max_sum)(xr, V, &m);
      rl[i] = (double)m + log(z) - (double)xr[t];
      if (!dx) continue;
      /* softmax from the same max and sum, scaled by 1/count */
      const T f = (T)(g / z);
#pragma omp simd
      for (int64_t c = 0; c < V; c++) xr[c] = L(kexp)(xr[c] - m) * f;
      xr[t] -= (T)g;
    }
    for (int64_t i = 0; i < rows; i++)
      if (tgt[r0 + i] >= 0) part[(r0 + i) / cs] += rl[i];
    if (!dx) continue;
    /* dx rows = dlogits @ op(w)^T: w [V,C] is already [K=V, C]; [C,V] is
     * the transposed one */
    FN(matmul)(dx + r0 * C, ws, w, 1, rows, C, V, 0, !wt, 0, 0, 0);
    /* dw (+)= dlogits^T @ xc ([V,C]) or xc^T @ dlogits ([C,V]) */
    if (dw && wt)
      FN(matmul)(dw, ws, xc, 1, V, C, rows, 1, 0, 0, 0, r0 > 0);
    else if (dw)
      FN(matmul)(dw, xc, ws, 1, C, V, rows, 1, 0, 0, 0, r0 > 0);
  }
  if (dw && N <= 0) memset(dw, 0, (size_t)(V * C) * sizeof(T));
  double s = 0;
  for (int k = 0; k < RT_NCHUNK; k++) s += part[k];
  loss[0] = count ? (T)(s / (double)count) : (T)0;
}

#undef LMH_BLK
