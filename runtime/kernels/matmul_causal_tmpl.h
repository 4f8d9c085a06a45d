/* runtime/kernels/matmul_causal_tmpl.h -- template for rt_matmul_causal
 * (included by matmul_causal.c with T and S defined). See matmul_causal.c
 * for the contract; here only the block bookkeeping.
 *
 * Pointers: op(a) rows i.. start at a + i (stored transposed) or a + i*lda;
 * op(b) columns j.. at b + j*ldb (transposed) or b + j, and op(b) rows k..
 * at b + k (transposed) or b + k*ldb. `scr` holds one diagonal block. */

typedef struct {
  const T *a, *b;
  T *y;
  int64_t N, K, lda, ldb;
  int ta, tb, accumulate;
  T *scr;
} L(causal_job);

#define OPA_ROWS(j, i) ((j)->ta ? (j)->a + (i) : (j)->a + (i) * (j)->lda)
#define OPB_COLS(j, c) ((j)->tb ? (j)->b + (c) * (j)->ldb : (j)->b + (c))
#define OPB_ROWS(j, k) ((j)->tb ? (j)->b + (k) : (j)->b + (k) * (j)->ldb)

/* RT_TRI_OUT: row blocks of RT_CAUSAL_BLK; block rows r0..r1 need only
 * columns 0..r1 (zeros above the diagonal unless accumulating). */
static void L(causal_out)(const L(causal_job) *j, int64_t M) {
  const int64_t N = j->N;
  for (int64_t r0 = 0; r0 < M; r0 += RT_CAUSAL_BLK) {
    const int64_t r1 = r0 + RT_CAUSAL_BLK < M ? r0 + RT_CAUSAL_BLK : M, m = r1 - r0;
    T *yb = j->y + r0 * N;
    const T *ar = OPA_ROWS(j, r0);
    if (!j->accumulate) { /* one call for columns 0..r1, then zero above */
      L(gemm)(j->ta, j->tb, m, r1, j->K, (T)1, ar, j->lda, j->b, j->ldb, (T)0, yb, N);
      for (int64_t i = 0; i < m; i++)
        for (int64_t c = r0 + i + 1; c < N; c++) yb[i * N + c] = (T)0;
      continue;
    }
    if (r0 > 0) L(gemm)(j->ta, j->tb, m, r0, j->K, (T)1, ar, j->lda, j->b, j->ldb, (T)1, yb, N);
    /* accumulating: the diagonal block goes through scr, so its upper
     * part does not land on y */
    L(gemm)(j->ta, j->tb, m, m, j->K, (T)1, ar, j->lda, OPB_COLS(j, r0), j->ldb, (T)0, j->scr, m);
    for (int64_t i = 0; i < m; i++)
      for (int64_t c = 0; c <= i; c++) yb[i * N + r0 + c] += j->scr[i * m + c];
  }
}

/* RT_TRI_A on output rows i0..i0+n: the part of op(tril(a)) @ op(b) whose
 * k lies in the same range (the caller adds the rest). Halving keeps the
 * off-diagonal GEMMs big (one [n/2, n/2] block of a per level). */
static void L(causal_a)(const L(causal_job) *j, int64_t i0, int64_t n, T beta) {
  const int64_t N = j->N;
  T *yr = j->y + i0 * j->N;
  if (n <= RT_CAUSAL_BLK) {
    /* the stored diagonal block with its upper part zeroed: the stored
     * upper triangle of a is never read */
    for (int64_t i = 0; i < n; i++)
      for (int64_t c = 0; c < n; c++)
        j->scr[i * n + c] = c <= i ? j->a[(i0 + i) * j->lda + i0 + c] : (T)0;
    L(gemm)(j->ta, j->tb, n, N, n, (T)1, j->scr, n, OPB_ROWS(j, i0), j->ldb, beta, yr, N);
    return;
  }
  const int64_t h = n / 2;
  /* op(a) = a is lower: the bottom rows also use k in the top half;
   * op(a) = a^T is upper: the top rows also use k in the bottom half.
   * Either way the full block is a[i0+h.., i0..i0+h] (stored). */
  const T *blk = j->a + (i0 + h) * j->lda + i0;
  if (!j->ta) {
    L(causal_a)(j, i0, h, beta);
    L(gemm)(0, j->tb, n - h, N, h, (T)1, blk, j->lda, OPB_ROWS(j, i0), j->ldb, beta,
             yr + h * N, N);
    L(causal_a)(j, i0 + h, n - h, (T)1);
  } else {
    L(causal_a)(j, i0, h, beta);
    L(gemm)(1, j->tb, h, N, n - h, (T)1, blk, j->lda, OPB_ROWS(j, i0 + h), j->ldb, (T)1, yr, N);
    L(causal_a)(j, i0 + h, n - h, beta);
  }
}

#undef OPA_ROWS
#undef OPB_COLS
#undef OPB_ROWS

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
    L(causal_job) j = {a + i * sa, b + i * sb, y + i * M * N, N, K, ta ? M : K,
                       tb ? K : N, ta, tb, accumulate, scr};
    if (tri == RT_TRI_OUT) L(causal_out)(&j, M);
    else L(causal_a)(&j, 0, M, accumulate ? (T)1 : (T)0);
  }
}
