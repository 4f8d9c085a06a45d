/* runtime/kernels/matmul_tmpl.h -- template for rt_matmul (included by
 * matmul.c with T and S defined). op(a) is [M,K]: stored [M,K] (lda = K) or,
 * transposed, [K,M] (lda = M); likewise op(b) [K,N] from [K,N] or [N,K].
 * Threads: OpenMP splits the work (rows of one big product, or the batch)
 * and every piece is a single-threaded BLAS call -- see matmul.c. */

/* y[M,N] (+)= op(a) @ op(b), rows split over the OpenMP team. */
static void L(gemm_rows)(int ta, int tb, int64_t M, int64_t N, int64_t K,
                         const T *a, int64_t lda, const T *b, int64_t ldb,
                         T beta, T *y) {
  int nt = omp_get_max_threads();
  /* small products are not worth waking the team */
  if (nt <= 1 || (double)M * N * K < 2e6 || M < 2 * nt) {
    L(gemm)(ta, tb, M, N, K, a, lda, b, ldb, beta, y);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    int64_t chunk = (M + n - 1) / n, r0 = t * chunk, r1 = r0 + chunk;
    if (r1 > M) r1 = M;
    if (r0 < r1) /* row r of op(a): a + r*lda stored plain, a + r transposed */
      L(gemm)(ta, tb, r1 - r0, N, K, ta ? a + r0 : a + r0 * lda, lda, b, ldb,
              beta, y + r0 * N);
  }
}

void FN(matmul)(T *y, const T *a, const T *b, int64_t batch, int64_t M,
                int64_t N, int64_t K, int ta, int tb, int64_t sa, int64_t sb,
                int accumulate) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const T beta = accumulate ? (T)1 : (T)0;
  if (K <= 0) { /* empty sum: y = 0 (or unchanged when accumulating) */
    if (!accumulate) memset(y, 0, (size_t)(batch * M * N) * sizeof(T));
    return;
  }
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  if (batch == 1 || (sb == 0 && !ta && sa == M * K)) {
    /* one product; a shared b with plain a is one tall [batch*M, K] GEMM */
    L(gemm_rows)(ta, tb, batch * M, N, K, a, lda, b, ldb, beta, y);
    return;
  }
#pragma omp parallel for schedule(static) if (batch > 1)
  for (int64_t i = 0; i < batch; i++)
    L(gemm)(ta, tb, M, N, K, a + i * sa, lda, b + i * sb, ldb, beta,
            y + i * M * N);
}
