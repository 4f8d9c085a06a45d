/* bench/kernels/sgemm_proto.h -- PROTOTYPE, not part of the runtime: our own
 * fp32 GEMM (Goto/BLIS style) for AVX2 + FMA, measured against rt_matmul_f32
 * (OpenMP row/column split + single-threaded OpenBLAS 0.3.21) by
 * bench_sgemm.c. Verdict (2-core Zen 3, Nov 2025): parity, not the >= 5%
 * that would justify replacing OpenBLAS, so it is NOT integrated.
 *   - GPT-2 124M step mix, 2 threads, best of 8 undisturbed runs: rt
 *     4810 ms vs this 4805 ms (1.001x); other quiet runs 0.96x-1.02x.
 *     Per-layer shapes 0.93x-1.07x, lm-head 0.95x-1.07x; batched attention
 *     (48 x 256x256x64, 256x64x256, one thread per item) 1.15x-1.28x.
 *   - Trainer (bench/gpt2_124m.ft, 3 steps, matmul / lm_head_ce GFLOP/s,
 *     back to back): OpenBLAS 149.7 / 138.3, this 146.8 / 135.1.
 *   - One thread, other core busy: OpenBLAS 7-12% faster (82-88 vs 75-85
 *     GFLOP/s); the 6x16 kernel alone reaches 87-97 (peak ~93-97).
 * What it does have: results are bitwise the same for any thread count
 * (rt_matmul_f32 today is not: its row split changes OpenBLAS's edge
 * tiles; 2-10% of the elements differ between 1 and 2 threads).
 *
 * y[M,N] = op(a)[M,K] @ op(b)[K,N] (+ y when add), row-major, any ta/tb;
 * K = 0 is the caller's (nothing is written).
 *   micro-kernel  6x16 (12 ymm accumulators), broadcast A, 2 loads of B;
 *                 beta folded into its store; edge tiles via a scratch tile
 *   packing       A: 6-row micro-panels [kc][6] (8x8 transposes when a is
 *                 row-major); B: 16-column panels [kc][16], zero-padded
 *   blocking      kc <= 384 (K split evenly), 144 rows of A per pack (L2),
 *                 B blocks of <= 13 MiB (L3), K in chunks when it is long
 *   threads       one packed B block SHARED by the team, packed lazily by
 *                 whichever thread first needs a group of 4 panels; row
 *                 units handed out from one atomic counter; no barrier
 *                 (see "the team" below)
 *
 * Determinism: every element of y is, per K block in order, a sum over k
 * in order (FMA into a register from 0) added to y (stored for the first
 * block without add). That chain does not depend on which thread runs the
 * tile or on how M is cut into units, so results are thread-count free. */
#include <immintrin.h>
#include <sched.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef SG_MC
#define SG_MC 144 /* rows of A packed at once (L2) */
#endif
#ifndef SG_KC
#define SG_KC 384 /* K per packed block, at most (B micro-panel 24 KiB, L1) */
#endif
#define SG_MR 6
#define SG_NR 16

/* ---- scratch: per thread, grown on demand, kept for the process ---- */
typedef struct {
  float *p;
  size_t cap;
} SgBuf;
static _Thread_local SgBuf sg_abuf, sg_bbuf;

static float *sg_get(SgBuf *b, size_t n) {
  if (b->cap < n) {
    free(b->p);
    n = (n + 1023) & ~(size_t)1023;
    b->p = aligned_alloc(64, n * sizeof(float));
    b->cap = n;
    if (!b->p) abort();
  }
  return b->p;
}

/* ---- packing ---- */
/* 8x8 transpose of r[0..7] in place (lanes: r[i][j] -> r[j][i]) */
static inline __attribute__((always_inline)) void sg_tr8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]),
         t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]),
         t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]),
         t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
         u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
         u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
         u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* A rows i0..i0+mc, k p0..p0+kc -> micro-panels [kc][6], zero-padded rows.
 * dst needs 2 floats of slack past the end (8-wide stores of 6 values). */
static void sg_pack_a(int ta, const float *a, int64_t lda, int64_t i0, int64_t mc,
                      int64_t p0, int64_t kc, float *restrict dst) {
  const int64_t mf = mc / SG_MR * SG_MR; /* rows in full panels */
  if (ta) { /* op(a)[r,k] = a[k*lda + r]: row k of a is contiguous in r */
    for (int64_t k = 0; k < kc; k++) {
      const float *s = a + (p0 + k) * lda + i0;
      for (int64_t i = 0; i < mf; i += SG_MR) memcpy(dst + i * kc + k * SG_MR, s + i, 24);
    }
  } else { /* op(a)[r,k] = a[r*lda + k]: 8x8 transposes, rows 6 and 7 zero */
    for (int64_t i = 0; i < mf; i += SG_MR) {
      const float *s = a + (i0 + i) * lda + p0;
      float *d = dst + i * kc;
      int64_t k = 0;
      for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
        for (int q = 0; q < SG_MR; q++) r[q] = _mm256_loadu_ps(s + q * lda + k);
        r[6] = r[7] = _mm256_setzero_ps();
        sg_tr8(r);
        for (int q = 0; q < 8; q++) _mm256_storeu_ps(d + (k + q) * SG_MR, r[q]);
      }
      for (; k < kc; k++)
        for (int q = 0; q < SG_MR; q++) d[k * SG_MR + q] = s[q * lda + k];
    }
  }
  if (mf < mc) { /* the last, partial panel */
    float *d = dst + mf * kc;
    const int64_t m = mc - mf;
    for (int64_t k = 0; k < kc; k++)
      for (int64_t q = 0; q < SG_MR; q++)
        d[k * SG_MR + q] = q >= m ? 0.0f
                           : ta   ? a[(p0 + k) * lda + i0 + mf + q]
                                  : a[(i0 + mf + q) * lda + p0 + k];
  }
}

/* B k p0..p0+kc, columns j0..j0+nc -> micro-panels [kc][16], zero-padded */
static void sg_pack_b(int tb, const float *b, int64_t ldb, int64_t p0, int64_t kc,
                      int64_t j0, int64_t nc, float *restrict dst) {
  const int64_t nf = nc / SG_NR * SG_NR; /* columns in full panels */
  if (!tb) { /* op(b)[k,c] = b[k*ldb + c]: rows read in order */
    for (int64_t k = 0; k < kc; k++) {
      const float *s = b + (p0 + k) * ldb + j0;
      _mm_prefetch((const char *)(s + 8 * ldb), _MM_HINT_T0);
      for (int64_t j = 0; j < nf; j += SG_NR) {
        float *d = dst + j * kc + k * SG_NR;
        _mm256_store_ps(d, _mm256_loadu_ps(s + j));
        _mm256_store_ps(d + 8, _mm256_loadu_ps(s + j + 8));
      }
    }
  } else { /* op(b)[k,c] = b[c*ldb + k]: 8x8 transposes */
    for (int64_t j = 0; j < nf; j += SG_NR) {
      const float *s = b + (j0 + j) * ldb + p0;
      float *d = dst + j * kc;
      int64_t k = 0;
      for (; k + 8 <= kc; k += 8)
        for (int h = 0; h < 2; h++) {
          __m256 r[8];
          for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(s + (h * 8 + q) * ldb + k);
          sg_tr8(r);
          for (int q = 0; q < 8; q++) _mm256_store_ps(d + (k + q) * SG_NR + h * 8, r[q]);
        }
      for (; k < kc; k++)
        for (int q = 0; q < SG_NR; q++) d[k * SG_NR + q] = s[q * ldb + k];
    }
  }
  if (nf < nc) { /* the last, partial panel */
    float *d = dst + nf * kc;
    const int64_t n = nc - nf;
    for (int64_t k = 0; k < kc; k++)
      for (int64_t q = 0; q < SG_NR; q++)
        d[k * SG_NR + q] = q >= n ? 0.0f
                           : tb   ? b[(j0 + nf + q) * ldb + p0 + k]
                                  : b[(p0 + k) * ldb + j0 + nf + q];
  }
}

/* ---- micro-kernel: c[6,16] (+)= a[kc][6] @ b[kc][16] ---- */
static inline __attribute__((always_inline)) void
sg_kern(int64_t kc, const float *restrict a, const float *restrict b, float *c,
        int64_t ldc, int add) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
         c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int r = 0; r < SG_MR; r++) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0),
                                  _mm_prefetch((const char *)(c + r * ldc + 15), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 x;
#define SG_ROW(r, v0, v1)              \
  x = _mm256_broadcast_ss(a + (r));    \
  v0 = _mm256_fmadd_ps(x, b0, v0);     \
  v1 = _mm256_fmadd_ps(x, b1, v1)
    SG_ROW(0, c00, c01); SG_ROW(1, c10, c11); SG_ROW(2, c20, c21);
    SG_ROW(3, c30, c31); SG_ROW(4, c40, c41); SG_ROW(5, c50, c51);
#undef SG_ROW
    a += SG_MR;
    b += SG_NR;
  }
#define SG_ST(r, v0, v1)                                                              \
  do {                                                                                \
    float *q = c + (r) * ldc;                                                         \
    if (add) {                                                                        \
      _mm256_storeu_ps(q, _mm256_add_ps(_mm256_loadu_ps(q), v0));                     \
      _mm256_storeu_ps(q + 8, _mm256_add_ps(_mm256_loadu_ps(q + 8), v1));             \
    } else {                                                                          \
      _mm256_storeu_ps(q, v0);                                                        \
      _mm256_storeu_ps(q + 8, v1);                                                    \
    }                                                                                 \
  } while (0)
  SG_ST(0, c00, c01); SG_ST(1, c10, c11); SG_ST(2, c20, c21);
  SG_ST(3, c30, c31); SG_ST(4, c40, c41); SG_ST(5, c50, c51);
#undef SG_ST
}

/* one packed A block [mc, kc] times packed B columns [kc, nc] into c */
static void sg_macro(int64_t mc, int64_t nc, int64_t kc, const float *ap, const float *bp,
                     float *c, int64_t ldc, int add) {
  for (int64_t j = 0; j < nc; j += SG_NR) {
    const int64_t n = nc - j < SG_NR ? nc - j : SG_NR;
    const float *bj = bp + j * kc;
    for (int64_t i = 0; i < mc; i += SG_MR) {
      const int64_t m = mc - i < SG_MR ? mc - i : SG_MR;
      float *cij = c + i * ldc + j;
      if (m == SG_MR && n == SG_NR) {
        if (add) sg_kern(kc, ap + i * kc, bj, cij, ldc, 1);
        else sg_kern(kc, ap + i * kc, bj, cij, ldc, 0);
      } else { /* edge tile: full tile into scratch, then the valid part */
        float t[SG_MR * SG_NR] __attribute__((aligned(32)));
        sg_kern(kc, ap + i * kc, bj, t, SG_NR, 0);
        for (int64_t r = 0; r < m; r++)
          for (int64_t q = 0; q < n; q++)
            cij[r * ldc + q] = add ? cij[r * ldc + q] + t[r * SG_NR + q] : t[r * SG_NR + q];
      }
    }
  }
}

static inline int64_t sg_min(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- the team ----
 * Work items are (block, row unit) pairs claimed in order from one atomic
 * counter. A block is B[kb, nc] (kb rows of K: all of K unless it is long,
 * nc columns), packed lazily into one of two buffers: the first thread that
 * needs a group of SG_PG 16-column panels packs it (a state word per
 * group), others wait for it or use it. So there is no barrier: a thread
 * waits only for a group being packed, for block b-2 to be finished before
 * block b reuses its buffer, and (K split in chunks) for the same rows of
 * the previous chunk. A row unit runs over the block's whole kb, so its
 * rows of y belong to one thread per block and y's sum over K keeps one
 * order. A one-block product shrinks its units toward the end of M
 * (guided), so threads finish together; several blocks use fixed units. */
#ifndef SG_BMAX
#define SG_BMAX (3328 * 1024) /* floats of packed B per buffer (13 MiB): every
                               * per-layer GPT-2 124M product is one block */
#endif
#define SG_UMAX 256 /* row units at most */
#ifndef SG_PG
#define SG_PG 4 /* B panels claimed and packed together */
#endif

typedef struct {
  int ta, tb, add0, nt;
  int64_t M, N, K, lda, ldb, ldc;
  const float *a, *b;
  float *c;
  int64_t nc, kb, kc, nkb, nblk; /* block shape, K block; K chunks; blocks */
  int64_t npan, npc, nu;         /* panels per K block; K blocks per chunk; units */
  int64_t ub[SG_UMAX + 1];     /* unit u is rows ub[u]..ub[u+1] */
  float *bb[2];                /* B buffers */
  int64_t *pst[2];             /* panel states: 2b+1 packing, 2b+2 ready (block b) */
  int64_t *udone[2];           /* last block done, per unit */
  int64_t next;                /* item counter */
} SgPlan;

static inline void sg_spin(int64_t *n) {
  _mm_pause();
  if (++*n % 1024 == 0) sched_yield(); /* the other thread may share our core */
}

/* panel (pc, j) of block b, packed by us if nobody did yet; panels are
 * claimed and packed SG_PG at a time (longer runs of each row of B) */
static const float *sg_panel(SgPlan *p, int64_t b, int64_t pc, int64_t j) {
  const int s = (int)(b & 1);
  const int64_t k0 = (b % p->nkb) * p->kb, jc = (b / p->nkb) * p->nc;
  const int64_t kb = sg_min(p->kb, p->K - k0), nc = sg_min(p->nc, p->N - jc);
  const int64_t kc = sg_min(p->kc, kb - pc * p->kc);
  float *blk = p->bb[s] + pc * p->kc * p->npan * SG_NR;
  const int64_t g = j / SG_PG, ngrp = (p->npan + SG_PG - 1) / SG_PG;
  int64_t *st = &p->pst[s][pc * ngrp + g], v, n = 0;
  while ((v = __atomic_load_n(st, __ATOMIC_ACQUIRE)) != 2 * b + 2) {
    if (v == 2 * b + 1) { sg_spin(&n); continue; }
    if (__atomic_compare_exchange_n(st, &v, 2 * b + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
      const int64_t c0 = g * SG_PG * SG_NR;
      sg_pack_b(p->tb, p->b, p->ldb, k0 + pc * p->kc, kc, jc + c0,
                sg_min(SG_PG * SG_NR, nc - c0), blk + c0 * kc);
      __atomic_store_n(st, 2 * b + 2, __ATOMIC_RELEASE);
      break;
    }
  }
  return blk + j * SG_NR * kc;
}

static void sg_item(SgPlan *p, int64_t b, int64_t u, float *ap) {
  const int64_t k0 = (b % p->nkb) * p->kb, jc = (b / p->nkb) * p->nc;
  const int64_t kb = sg_min(p->kb, p->K - k0), nc = sg_min(p->nc, p->N - jc);
  const int64_t npan = (nc + SG_NR - 1) / SG_NR;
  /* threads start their panel sweep at different panels, so each packs
   * a different part of a fresh block */
  const int64_t j0 = (u % p->nt) * npan / p->nt / SG_PG * SG_PG;
  for (int64_t pc = 0; pc * p->kc < kb; pc++) {
    const int64_t kc = sg_min(p->kc, kb - pc * p->kc);
    const int add = p->add0 || k0 + pc > 0;
    for (int64_t i0 = p->ub[u]; i0 < p->ub[u + 1]; i0 += SG_MC) {
      const int64_t mc = sg_min(SG_MC, p->ub[u + 1] - i0);
      sg_pack_a(p->ta, p->a, p->lda, i0, mc, k0 + pc * p->kc, kc, ap);
      for (int64_t jj = 0; jj < npan; jj++) {
        const int64_t j = (j0 + jj) % npan;
        sg_macro(mc, sg_min(SG_NR, nc - j * SG_NR), kc, ap, sg_panel(p, b, pc, j),
                 p->c + i0 * p->ldc + jc + j * SG_NR, p->ldc, add);
      }
    }
  }
}

static void sg_team(SgPlan *p) {
  float *ap = sg_get(&sg_abuf, (size_t)SG_MC * p->kc + 16);
  const int64_t total = p->nblk * p->nu;
  int64_t ready = 1; /* blocks < ready may use their buffer */
  for (;;) {
    const int64_t it = p->nt > 1 ? __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED) : p->next++;
    if (it >= total) break;
    const int64_t b = it / p->nu, u = it % p->nu;
    int64_t n = 0;
    /* block b reuses block b-2's buffer: all of b-2 must be done */
    for (; ready < b; ready++)
      for (int64_t v = 0; v < p->nu; v++)
        while (__atomic_load_n(&p->udone[(ready - 1) & 1][v], __ATOMIC_ACQUIRE) < ready - 1)
          sg_spin(&n);
    /* K in chunks: our rows of the previous chunk first (the sum's order) */
    if (b % p->nkb)
      while (__atomic_load_n(&p->udone[(b - 1) & 1][u], __ATOMIC_ACQUIRE) < b - 1) sg_spin(&n);
    sg_item(p, b, u, ap);
    __atomic_store_n(&p->udone[b & 1][u], b, __ATOMIC_RELEASE);
  }
}

/* public entry: y (+)= op(a) @ op(b); inside a parallel region it runs on the
 * calling thread alone, outside it uses the whole team for big products */
static void sg_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *a,
                    int64_t lda, const float *b, int64_t ldb, int add, float *c,
                    int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  if ((double)M * N * K < 2e6 || M < 2 * SG_MR * nt) nt = 1;
  SgPlan p = {.ta = ta, .tb = tb, .add0 = add, .nt = nt, .M = M, .N = N, .K = K,
              .lda = lda, .ldb = ldb, .ldc = ldc, .a = a, .b = b, .c = c};
  /* B block: all of K unless K is long (then chunks of whole KC blocks that
   * fit with all columns); columns split evenly into as few blocks as fit */
  const int64_t Np = (N + SG_NR - 1) / SG_NR * SG_NR;
  p.kb = K;
  if (K > 4096) {
    p.kb = SG_BMAX / Np / SG_KC * SG_KC;
    p.kb = p.kb < SG_KC ? SG_KC : p.kb > K ? K : p.kb;
  }
  int64_t ncb = (p.kb * Np + SG_BMAX - 1) / SG_BMAX;
  p.nc = ((Np + ncb - 1) / ncb + SG_NR - 1) / SG_NR * SG_NR;
  ncb = (N + p.nc - 1) / p.nc;
  p.nkb = (K + p.kb - 1) / p.kb;
  p.nblk = ncb * p.nkb;
  p.npan = p.nc / SG_NR;
  /* K blocks of a chunk: equal, multiples of 8, about SG_KC at most */
  p.npc = (p.kb + SG_KC - 1) / SG_KC;
  p.kc = ((p.kb + p.npc - 1) / p.npc + 7) / 8 * 8;
  p.npc = (p.kb + p.kc - 1) / p.kc;
  /* row units: one block: guided (a 1/(2 nt) share of what is left,
   * 36 rows at least) so threads finish together; several blocks: fixed
   * units, the team flows from block to block without waiting. Units of
   * whole 6-row panels, 2*SG_MC rows at most; one thread: SG_MC rows */
  const int64_t fixed = ((M + 2 * nt - 1) / (2 * nt) + SG_MR - 1) / SG_MR * SG_MR;
  int64_t r = 0, nu = 0;
  while (r < M) {
    int64_t sz = nt == 1 ? SG_MC : p.nblk > 1 ? fixed : (M - r + 2 * nt - 1) / (2 * nt);
    sz = (sz + SG_MR - 1) / SG_MR * SG_MR;
    sz = sz < 36 ? 36 : sz > 2 * SG_MC ? 2 * SG_MC : sz;
    if (nu == SG_UMAX - 1 || sz > M - r) sz = M - r;
    p.ub[nu++] = r;
    r += sz;
  }
  p.ub[nu] = M;
  p.nu = nu;
  /* scratch: two B buffers, panel states and unit flags */
  const size_t bsz = (size_t)(p.npc * p.kc * p.nc), nst = (size_t)(p.npc * p.npan);
  float *w = sg_get(&sg_bbuf, 2 * bsz + (2 * nst + 2 * (size_t)nu) * 2);
  p.bb[0] = w, p.bb[1] = w + bsz;
  p.pst[0] = (int64_t *)(w + 2 * bsz), p.pst[1] = p.pst[0] + nst;
  p.udone[0] = p.pst[1] + nst, p.udone[1] = p.udone[0] + nu;
  memset(p.pst[0], 0, 2 * nst * sizeof(int64_t));
  for (int64_t u = 0; u < 2 * nu; u++) p.udone[0][u] = -1;
  if (nt == 1) {
    sg_team(&p);
    return;
  }
#pragma omp parallel num_threads(nt)
  sg_team(&p);
}
