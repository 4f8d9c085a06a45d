/* runtime/kernels/attention_tile.h -- the tile products of the fused
 * attention, register-blocked (included by attention_tmpl.h with T and S
 * defined; ATT_VB, the vector width in bytes, comes from attention.c).
 *
 * One idea: every product the forward and backward need is one of two
 * shapes, and each keeps a block of the result in registers while it
 * streams the reduction dimension from L1:
 *   tile_abt  s[r][c] = sum_d a[r,d] bt[d][c]   (S = Q K^T, dP = dO V^T):
 *             `bt` is a packed, transposed key tile (keys along the vector
 *             lanes, padded to RT_ATTN_KPAD), `a` rows are read in place;
 *             MRA rows x NVA vectors of accumulators.
 *   tile_ab   c[r][:] (= 0 | *= alpha[r]) += sum_k a(r,k) b[k][:]
 *             (O += P V, dV += P^T dO, dK += dS^T Q, dQ += dS K): `b` rows
 *             and `c` rows are read in place along the head dimension
 *             (contiguous), a(r,k) = a[r*ars + k*aks] broadcast, so P and
 *             dS serve untransposed and transposed; MRB rows x NVB vectors.
 * The vectors are GCC vector types of ATT_VB bytes, so the one source is
 * AVX-512, AVX2 or SSE2 code by the compiler's target (compile-time
 * dispatch: the runtime is built with -march=native). Rows past the tile's
 * end read a valid row and are not stored, so the register block never
 * shrinks; head dims that are no multiple of the vector width finish with
 * a scalar loop. */

typedef T L(vec) __attribute__((vector_size(ATT_VB), aligned(sizeof(T))));
#define NL ((int64_t)(ATT_VB / sizeof(T))) /* lanes of a vector */
#define VLOAD(p) (*(const L(vec) *)(p))
#define VSTORE(p, x) (*(L(vec) *)(p) = (x))

/* register blocks: 32 vector registers with AVX-512, 16 otherwise */
#if ATT_VB == 64
#define MRA 8
#define NVB 4
#else
#define MRA 6
#define NVB 2
#endif
#define NVA 2
#define MRB 6

/* s[r*lds + c] = sum_d a[r*lda + d] * bt[d*kb + c], r < m, c < nc (nc a
 * multiple of NVA*NL, which divides RT_ATTN_KPAD) */
static void L(tile_abt)(T *s, int64_t lds, const T *a, int64_t lda, int64_t m, const T *bt,
                        int64_t kb, int64_t nc, int64_t D) {
  for (int64_t r0 = 0; r0 < m; r0 += MRA) {
    const T *ar[MRA];
    for (int r = 0; r < MRA; r++) ar[r] = a + (r0 + r < m ? r0 + r : m - 1) * lda;
    for (int64_t c0 = 0; c0 < nc; c0 += NVA * NL) {
      L(vec) acc[MRA][NVA];
#pragma GCC unroll 16
      for (int r = 0; r < MRA; r++)
        for (int v = 0; v < NVA; v++) acc[r][v] = (L(vec)){0};
      const T *b = bt + c0;
      for (int64_t d = 0; d < D; d++, b += kb) {
        L(vec) bv[NVA];
        for (int v = 0; v < NVA; v++) bv[v] = VLOAD(b + v * NL);
#pragma GCC unroll 16
        for (int r = 0; r < MRA; r++) {
          const T x = ar[r][d];
          for (int v = 0; v < NVA; v++) acc[r][v] += x * bv[v];
        }
      }
#pragma GCC unroll 16
      for (int r = 0; r < MRA; r++)
        if (r0 + r < m)
          for (int v = 0; v < NVA; v++) VSTORE(s + (r0 + r) * lds + c0 + v * NL, acc[r][v]);
    }
  }
}

/* One register block of tile_ab: rows r0.. (MRB of them, the last valid
 * row repeated past m), nv vectors of the head dimension from d0. */
static inline __attribute__((always_inline)) void L(tile_ab_blk)(
    T *c, int64_t ldc, int64_t m, int64_t r0, int64_t d0, const int nv, const T *a,
    int64_t ars, int64_t aks, int64_t K, const T *b, int64_t ldb, const T *alpha, int zero) {
  const T *ar[MRB];
  L(vec) acc[MRB][NVB];
#pragma GCC unroll 16
  for (int r = 0; r < MRB; r++) {
    const int64_t row = r0 + r < m ? r0 + r : m - 1;
    ar[r] = a + row * ars;
    for (int v = 0; v < nv; v++) {
      if (zero) acc[r][v] = (L(vec)){0};
      else if (alpha) acc[r][v] = alpha[row] * VLOAD(c + row * ldc + d0 + v * NL);
      else acc[r][v] = VLOAD(c + row * ldc + d0 + v * NL);
    }
  }
  const T *bk = b + d0;
  for (int64_t k = 0; k < K; k++, bk += ldb) {
    L(vec) bv[NVB];
    for (int v = 0; v < nv; v++) bv[v] = VLOAD(bk + v * NL);
#pragma GCC unroll 16
    for (int r = 0; r < MRB; r++) {
      const T x = ar[r][k * aks];
      for (int v = 0; v < nv; v++) acc[r][v] += x * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MRB; r++)
    if (r0 + r < m)
      for (int v = 0; v < nv; v++) VSTORE(c + (r0 + r) * ldc + d0 + v * NL, acc[r][v]);
}

/* c[r*ldc + d] = (zero ? 0 : alpha ? alpha[r] c : c) + sum_k a[r*ars + k*aks]
 * b[k*ldb + d] for r < m, d < D */
static void L(tile_ab)(T *c, int64_t ldc, int64_t m, const T *a, int64_t ars, int64_t aks,
                       int64_t K, const T *b, int64_t ldb, int64_t D, const T *alpha, int zero) {
  const int64_t dv = D / NL * NL; /* the vector part of the head dimension */
  for (int64_t r0 = 0; r0 < m; r0 += MRB) {
    int64_t d0 = 0;
    for (; d0 + NVB * NL <= dv; d0 += NVB * NL)
      L(tile_ab_blk)(c, ldc, m, r0, d0, NVB, a, ars, aks, K, b, ldb, alpha, zero);
    for (; d0 < dv; d0 += NL)
      L(tile_ab_blk)(c, ldc, m, r0, d0, 1, a, ars, aks, K, b, ldb, alpha, zero);
  }
  if (dv == D) return;
  for (int64_t r = 0; r < m; r++) { /* the scalar tail of the head dimension */
    T *cr = c + r * ldc;
    for (int64_t d = dv; d < D; d++) {
      T acc = zero ? (T)0 : alpha ? alpha[r] * cr[d] : cr[d];
      for (int64_t k = 0; k < K; k++) acc += a[r * ars + k * aks] * b[k * ldb + d];
      cr[d] = acc;
    }
  }
}

#undef NL
#undef VLOAD
#undef VSTORE
#undef MRA
#undef NVA
#undef MRB
#undef NVB
