/* runtime/kernels/matmul_tmpl.h -- template for rt_matmul (included by
 * matmul.c with T and S defined). op(a) is [M,K]: stored [M,K] (lda = K) or,
 * transposed, [K,M] (lda = M); likewise op(b) [K,N] from [K,N] or [N,K]. */

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
  if (batch > 1 && sb == 0 && !ta && sa == M * K) {
    L(gemm)(0, tb, batch * M, N, K, a, lda, b, ldb, beta, y);
    return;
  }
  for (int64_t i = 0; i < batch; i++)
    L(gemm)(ta, tb, M, N, K, a + i * sa, lda, b + i * sb, ldb, beta,
            y + i * M * N);
}
