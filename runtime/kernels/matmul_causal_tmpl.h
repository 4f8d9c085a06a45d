/* runtime/kernels/matmul_causal_tmpl.h -- template for rt_matmul_causal
 * (included by matmul_causal.c with T and S defined). See matmul_causal.c
 * for the contract; here only the block bookkeeping.
 *
 * op(a) rows r0..r1 start at a + r0 (stored transposed) or a + r0*lda; op(b)
 * columns c.. start at b + c*ldb (transposed) or b + c, and op(b) rows k..
 * at b + k (transposed) or b + k*ldb. `scr` holds one diagonal block. */

/* One product of the batch, y [M,N]. */
static void L(causal_one)(T *y, const T *a, const T *b, int64_t M, int64_t N,
                          int64_t K, int ta, int tb, int tri, int accumulate,
                          T *scr) {
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  const T beta = accumulate ? (T)1 : (T)0;
  for (int64_t r0 = 0; r0 < M; r0 += RT_CAUSAL_BLK) {
    const int64_t r1 = r0 + RT_CAUSAL_BLK < M ? r0 + RT_CAUSAL_BLK : M, m = r1 - r0;
    T *yb = y + r0 * N;
    if (tri == RT_TRI_OUT) { /* M == N: columns 0..r1 of these rows */
      const T *ar = ta ? a + r0 : a + r0 * lda;
      if (r0 > 0) L(gemmx)(ta, tb, m, r0, K, ar, lda, b, ldb, beta, yb, N);
      /* the diagonal block goes through scr: its upper part must not land */
      L(gemmx)(ta, tb, m, m, K, ar, lda, tb ? b + r0 * ldb : b + r0, ldb, (T)0, scr, m);
      for (int64_t i = 0; i < m; i++) {
        T *yr = yb + i * N + r0;
        const T *sr = scr + i * m;
        if (accumulate)
          for (int64_t j = 0; j <= i; j++) yr[j] += sr[j];
        else {
          for (int64_t j = 0; j <= i; j++) yr[j] = sr[j];
          for (int64_t j = r0 + i + 1; j < N; j++) yb[i * N + j] = (T)0;
        }
      }
      continue;
    }
    /* RT_TRI_A, M == K: copy the stored diagonal block with its upper part
     * zeroed, so the stored upper triangle of a is never read */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < m; j++)
        scr[i * m + j] = j <= i ? a[(r0 + i) * lda + r0 + j] : (T)0;
    const T *bd = tb ? b + r0 : b + r0 * ldb; /* op(b) rows r0..r1 */
    if (!ta) { /* op(a) = a: row i uses k <= i */
      T bt = beta;
      if (r0 > 0) {
        L(gemmx)(0, tb, m, N, r0, a + r0 * lda, lda, b, ldb, beta, yb, N);
        bt = (T)1;
      }
      L(gemmx)(0, tb, m, N, m, scr, m, bd, ldb, bt, yb, N);
    } else { /* op(a) = a^T: row i uses k >= i */
      L(gemmx)(1, tb, m, N, m, scr, m, bd, ldb, beta, yb, N);
      if (r1 < K)
        L(gemmx)(1, tb, m, N, K - r1, a + r1 * lda + r0, lda,
                 tb ? b + r1 : b + r1 * ldb, ldb, (T)1, yb, N);
    }
  }
}

void FN(matmul_causal)(T *y, const T *a, const T *b, int64_t batch, int64_t M,
                       int64_t N, int64_t K, int ta, int tb, int64_t sa,
                       int64_t sb, int accumulate, int tri) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  if (K <= 0 || (tri != RT_TRI_OUT && tri != RT_TRI_A)) {
    /* nothing triangular left to exploit (or no flag): the plain product */
    FN(matmul)(y, a, b, batch, M, N, K, ta, tb, sa, sb, accumulate);
    return;
  }
#pragma omp parallel for schedule(static) if (batch > 1)
  for (int64_t i = 0; i < batch; i++) {
    T scr[RT_CAUSAL_BLK * RT_CAUSAL_BLK];
    L(causal_one)(y + i * M * N, a + i * sa, b + i * sb, M, N, K, ta, tb, tri,
                  accumulate, scr);
  }
}
