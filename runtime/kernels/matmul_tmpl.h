/* runtime/kernels/matmul_tmpl.h -- template for rt_matmul (included by
 * matmul.c with T and S defined). op(a) is [M,K]: stored [M,K] (lda = K) or,
 * transposed, [K,M] (lda = M); likewise op(b) [K,N] from [K,N] or [N,K].
 * Threads: OpenMP splits the work (rows or columns of one big product, or
 * the batch) and every piece is a single-threaded BLAS call -- matmul.c. */

/* y[M,N] (+)= op(a) @ op(b) split over the OpenMP team. Each thread's BLAS
 * call packs its own copy of the operand it does not split, so the split
 * runs along the side that keeps the shared operand small: rows usually,
 * columns when op(b) is much wider than op(a) is tall (the lm-head's
 * x @ E^T: splitting rows would stream all of E once per thread). */
static void L(gemm_split)(int ta, int tb, int64_t M, int64_t N, int64_t K,
                          const T *a, int64_t lda, const T *b, int64_t ldb,
                          T beta, T *y) {
  int nt = omp_get_max_threads();
  const int cols = N >= 4 * M && N >= 64 * nt;
  /* small products are not worth waking the team */
  if (nt <= 1 || (double)M * N * K < 2e6 || (!cols && M < 2 * nt)) {
    L(gemm)(ta, tb, M, N, K, (T)1, a, lda, b, ldb, beta, y, N);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t D = cols ? N : M;
    /* column pieces are multiples of 16 (whole vectors for the kernel) */
    const int64_t q = cols ? 16 : 1, units = (D + q - 1) / q;
    int64_t i0 = units * t / n * q, i1 = units * (t + 1) / n * q;
    if (i1 > D) i1 = D;
    if (i0 < i1 && cols) /* column c of op(b): b + c stored plain, b + c*ldb transposed */
      L(gemm)(ta, tb, M, i1 - i0, K, (T)1, a, lda, tb ? b + i0 * ldb : b + i0, ldb, beta,
              y + i0, N);
    else if (i0 < i1) /* row r of op(a): a + r*lda stored plain, a + r transposed */
      L(gemm)(ta, tb, i1 - i0, N, K, (T)1, ta ? a + i0 : a + i0 * lda, lda, b, ldb,
              beta, y + i0 * N, N);
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
    L(gemm_split)(ta, tb, batch * M, N, K, a, lda, b, ldb, beta, y);
    return;
  }
#pragma omp parallel for schedule(static) if (batch > 1)
  for (int64_t i = 0; i < batch; i++)
    L(gemm)(ta, tb, M, N, K, (T)1, a + i * sa, lda, b + i * sb, ldb, beta,
            y + i * M * N, N);
}
