/* runtime/kernels/attention_tmpl.h -- template for the fused attention
 * forward and backward (included by attention.c with T and S defined).
 * Layout: q, o, dq, dout [B, Tq, H, D]; k, v, dk, dv [B, Tk, Hkv, D];
 * lse [B, H, Tq]; ws the planned workspace (rt_attn_ws_layout). Query head
 * h uses kv head h / (H / Hkv) (the composite's repeat_interleave).
 * Causal: query i sees keys j <= i + Tk - Tq. */

#include "attention_tile.h"

/* Keys of a tile that row r (absolute query i) may see: the first `lim`
 * of n keys starting at j0 (all n when not causal; 0 when none). */
static inline int64_t L(attn_lim)(int causal, int64_t i, int64_t off, int64_t j0, int64_t n) {
  if (!causal) return n;
  int64_t lim = i + off - j0 + 1;
  return lim < 0 ? 0 : lim > n ? n : lim;
}

/* Keys the rows i0 .. i0+m-1 see at all. */
static inline int64_t L(attn_kend)(int causal, int64_t i0, int64_t m, int64_t off, int64_t Tk) {
  const int64_t e = causal ? i0 + m + off : Tk;
  return e < 0 ? 0 : e > Tk ? Tk : e;
}

/* Threads for one call: at most one per slot, one when the call is small
 * (a call has two or three barriers: below about a million multiply-adds
 * a team costs more than it saves). */
static int L(attn_threads)(const rt_attn_ws *w, int64_t ntask, double work) {
  int64_t n = omp_get_max_threads();
  if (n > w->slots) n = w->slots;
  if (n > ntask) n = ntask;
  return work < 64.0 * RT_PAR_MIN || n < 1 ? 1 : (int)n;
}

/* Packs the key tiles of x ([B, Tk, Hkv, D]) into dst once per call, each
 * tile (b, g, j) by one thread: transposed (keys along the lanes, D rows of
 * kb, zero past the last key) when `tr`, else row-major (bk rows of ld). */
static void L(attn_pack)(T *dst, const T *x, int tr, int64_t B, int64_t Tk, int64_t Hkv,
                         int64_t D, const rt_attn_ws *w) {
  const int64_t ldk = Hkv * D, kb = w->kb, bk = w->bk, ld = w->ld;
#pragma omp for schedule(static) nowait
  for (int64_t t = 0; t < B * Hkv * w->nkb; t++) {
    const int64_t b = t / (Hkv * w->nkb), g = (t / w->nkb) % Hkv, j0 = (t % w->nkb) * bk;
    const int64_t n = Tk - j0 < bk ? Tk - j0 : bk;
    T *tile = dst + t * (tr ? D * kb : bk * ld);
    const T *x0 = x + (b * Tk + j0) * ldk + g * D;
    if (!tr) {
      for (int64_t c = 0; c < n; c++) memcpy(tile + c * ld, x0 + c * ldk, (size_t)D * sizeof(T));
      continue;
    }
    /* a row of the tile gathers one element of each key: the key rows stay
     * in L1 while the stores run contiguous */
    for (int64_t d = 0; d < D; d++) {
      T *tr_d = tile + d * kb;
      for (int64_t c = 0; c < n; c++) tr_d[c] = x0[c * ldk + d];
      for (int64_t c = n; c < kb; c++) tr_d[c] = 0;
    }
  }
}

/* m rows of x (row stride ldx) times f into dst (row stride ld) */
static inline void L(attn_rows)(T *dst, int64_t ld, const T *x, int64_t ldx, int64_t m,
                                int64_t D, T f) {
  for (int64_t r = 0; r < m; r++) {
    const T *xr = x + r * ldx;
    T *yr = dst + r * ld;
#pragma omp simd
    for (int64_t d = 0; d < D; d++) yr[d] = xr[d] * f;
  }
}

void FN(flash_attention)(T *o, T *lse, T *ws, const T *q, const T *k, const T *v, int64_t B,
                         int64_t Tq, int64_t Tk, int64_t H, int64_t Hkv, int64_t D, int causal,
                         double scale, int64_t block, int64_t threads) {
  if (B <= 0 || Tq <= 0 || Tk <= 0 || H <= 0 || Hkv <= 0 || D <= 0) return;
  const rt_attn_ws w = rt_attn_ws_layout(B, Tq, Tk, Hkv, D, block, threads, 0);
  const int64_t reps = H / Hkv, off = Tk - Tq, ldq = H * D;
  const int64_t nqb = w.nqb, bq = w.bq, bk = w.bk, kb = w.kb, ld = w.ld, ntask = B * H * nqb;
  const int nth = L(attn_threads)(&w, ntask, (double)(B * H) * (double)Tq * (double)Tk * D);
#pragma omp parallel num_threads(nth) if (nth > 1)
  {
    L(attn_pack)(ws + w.kt, k, 1, B, Tk, Hkv, D, &w);
    L(attn_pack)(ws + w.rows, v, 0, B, Tk, Hkv, D, &w);
#pragma omp barrier
    /* the slot: score tile, scaled query tile, output accumulator, then per
     * row alpha, max and a double sum */
    T *s = ws + w.slot0 + omp_get_thread_num() * w.slot, *qt = s + bq * kb, *acc = qt + bq * ld;
    T *alpha = acc + bq * ld, *mx = alpha + bq;
    double *sum = (double *)(mx + bq);
    /* heaviest (last, under causal) query tiles first: dynamic scheduling
     * balances the triangle; no result depends on who runs a task */
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < ntask; t++) {
      const int64_t b = t / (H * nqb), h = (t / nqb) % H, i0 = (nqb - 1 - t % nqb) * bq;
      const int64_t m = Tq - i0 < bq ? Tq - i0 : bq, g = h / reps;
      const T *kt = ws + w.kt + (b * Hkv + g) * w.nkb * D * kb;
      const T *vr = ws + w.rows + (b * Hkv + g) * w.nkb * bk * ld;
      T *oi = o + (b * Tq + i0) * ldq + h * D, *li = lse + (b * H + h) * Tq + i0;
      const int64_t kend = L(attn_kend)(causal, i0, m, off, Tk);
      /* scores straight from (scale q) k^T */
      L(attn_rows)(qt, ld, q + (b * Tq + i0) * ldq + h * D, ldq, m, D, (T)scale);
      for (int64_t r = 0; r < m; r++) {
        mx[r] = (T)-INFINITY;
        sum[r] = 0;
      }
      for (int64_t j0 = 0; j0 < kend; j0 += bk, kt += D * kb, vr += bk * ld) {
        const int64_t n = kend - j0 < bk ? kend - j0 : bk;
        L(tile_abt)(s, kb, qt, ld, m, kt, kb, rt_attn_up_(n, RT_ATTN_KPAD), D);
        for (int64_t r = 0; r < m; r++) {
          T *sr = s + r * kb;
          const int64_t lim = L(attn_lim)(causal, i0 + r, off, j0, n);
          if (lim == 0) { /* nothing visible in this tile: P row = 0 */
            memset(sr, 0, (size_t)n * sizeof(T));
            alpha[r] = 1;
            continue;
          }
          T bm = sr[0];
#pragma omp simd reduction(max : bm)
          for (int64_t c = 1; c < lim; c++) bm = sr[c] > bm ? sr[c] : bm;
          const T mnew = bm > mx[r] ? bm : mx[r];
          T ps = 0;
#pragma omp simd reduction(+ : ps)
          for (int64_t c = 0; c < lim; c++) {
            const T p = L(kexp)(sr[c] - mnew);
            sr[c] = p;
            ps += p;
          }
          for (int64_t c = lim; c < n; c++) sr[c] = 0;
          alpha[r] = L(kexp)(mx[r] - mnew); /* 0 the first time (mx = -inf) */
          sum[r] = sum[r] * (double)alpha[r] + (double)ps;
          mx[r] = mnew;
        }
        /* acc = alpha acc + P V (acc = P V on the first tile) */
        L(tile_ab)(acc, ld, m, s, kb, 1, n, vr, ld, D, alpha, j0 == 0);
      }
      for (int64_t r = 0; r < m; r++) {
        if (kend == 0) { /* no key visible: o = 0 */
          memset(oi + r * ldq, 0, (size_t)D * sizeof(T));
          li[r] = (T)-INFINITY;
          continue;
        }
        L(attn_rows)(oi + r * ldq, ldq, acc + r * ld, ld, 1, D, (T)(1.0 / sum[r]));
        li[r] = (T)((double)mx[r] + log(sum[r]));
      }
    }
  }
}

/* The query tiles [*qa, *qb) of backward chunk c: tiles in order, cut where
 * the running count of (query tile, key tile) pairs passes c/nchunk of all,
 * so chunks cost about the same under the causal triangle too. *kend: the
 * keys the chunk sees. */
static void L(attn_chunk)(const rt_attn_ws *w, int causal, int64_t off, int64_t Tq, int64_t Tk,
                          int64_t c, int64_t *qa, int64_t *qb, int64_t *kend) {
  int64_t total = 0, run = 0;
  for (int64_t it = 0; it < w->nqb; it++) {
    const int64_t i0 = it * w->bq, m = Tq - i0 < w->bq ? Tq - i0 : w->bq;
    total += (L(attn_kend)(causal, i0, m, off, Tk) + w->bk - 1) / w->bk;
  }
  *qa = *qb = w->nqb;
  for (int64_t it = 0; it < w->nqb; it++) {
    const int64_t i0 = it * w->bq, m = Tq - i0 < w->bq ? Tq - i0 : w->bq;
    const int64_t ch = total ? run * w->nchunk / total : 0;
    if (ch == c && *qa == w->nqb) *qa = it;
    if (ch > c) {
      *qb = it;
      break;
    }
    run += (L(attn_kend)(causal, i0, m, off, Tk) + w->bk - 1) / w->bk;
  }
  if (*qa > *qb) *qa = *qb;
  const int64_t last = *qb * w->bq < Tq ? *qb * w->bq : Tq; /* the chunk's rows end here */
  *kend = *qa < *qb ? L(attn_kend)(causal, *qa * w->bq, last - *qa * w->bq, off, Tk) : 0;
}

void FN(flash_attention_bwd)(T *dq, T *dk, T *dv, T *ws, const T *dout, const T *q, const T *k,
                             const T *v, const T *o, const T *lse, int64_t B, int64_t Tq,
                             int64_t Tk, int64_t H, int64_t Hkv, int64_t D, int causal,
                             double scale, int64_t block, int64_t threads) {
  if (B <= 0 || Tq <= 0 || Tk <= 0 || H <= 0 || Hkv <= 0 || D <= 0) return;
  const rt_attn_ws w = rt_attn_ws_layout(B, Tq, Tk, Hkv, D, block, threads, 1);
  const int64_t reps = H / Hkv, off = Tk - Tq, ldq = H * D, ldk = Hkv * D;
  const int64_t bq = w.bq, bk = w.bk, kb = w.kb, ld = w.ld, nch = w.nchunk;
  const int64_t ntask = B * Hkv * nch, psize = B * Hkv * Tk * ld; /* one partial sum */
  const T sc = (T)scale;
  const int nth = L(attn_threads)(&w, ntask, (double)(B * H) * (double)Tq * (double)Tk * D);
#pragma omp parallel num_threads(nth) if (nth > 1)
  {
    L(attn_pack)(ws + w.kt, k, 1, B, Tk, Hkv, D, &w);
    L(attn_pack)(ws + w.vt, v, 1, B, Tk, Hkv, D, &w);
    L(attn_pack)(ws + w.rows, k, 0, B, Tk, Hkv, D, &w);
#pragma omp barrier
    /* the slot: P, dP, the scaled query tile, the dO tile, the dQ
     * accumulator, then per row D_i = rowsum(dO * O) */
    T *s = ws + w.slot0 + omp_get_thread_num() * w.slot, *dp = s + bq * kb;
    T *qt = dp + bq * kb, *dot = qt + bq * ld, *acc = dot + bq * ld, *dl = acc + bq * ld;
    /* a task: batch b, kv head g, chunk c of query tiles. It owns dq of
     * those rows (all heads of g) and sums its dk, dv contributions into
     * partial sums of its own, added in chunk order below. */
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < ntask; t++) {
      const int64_t b = t / (Hkv * nch), g = (t / nch) % Hkv, c = t % nch;
      int64_t qa, qb, kmax;
      L(attn_chunk)(&w, causal, off, Tq, Tk, c, &qa, &qb, &kmax);
      T *dkb = ws + w.part + (2 * c * B * Hkv + b * Hkv + g) * Tk * ld, *dvb = dkb + psize;
      const T *ktb = ws + w.kt + (b * Hkv + g) * w.nkb * D * kb;
      const T *vtb = ws + w.vt + (b * Hkv + g) * w.nkb * D * kb;
      const T *krb = ws + w.rows + (b * Hkv + g) * w.nkb * bk * ld;
      memset(dkb, 0, (size_t)(kmax * ld) * sizeof(T));
      memset(dvb, 0, (size_t)(kmax * ld) * sizeof(T));
      for (int64_t it = qa; it < qb; it++) {
        const int64_t i0 = it * bq, m = Tq - i0 < bq ? Tq - i0 : bq;
        const int64_t kend = L(attn_kend)(causal, i0, m, off, Tk);
        for (int64_t h = g * reps; h < (g + 1) * reps; h++) {
          const int64_t row = (b * Tq + i0) * ldq + h * D;
          const T *doi = dout + row, *oi = o + row, *li = lse + (b * H + h) * Tq + i0;
          L(attn_rows)(qt, ld, q + row, ldq, m, D, sc);
          L(attn_rows)(dot, ld, doi, ldq, m, D, (T)1);
          for (int64_t r = 0; r < m; r++) { /* D_i = rowsum(dO * O) */
            const T *x = doi + r * ldq, *y = oi + r * ldq;
            double a = 0;
#pragma omp simd reduction(+ : a)
            for (int64_t d = 0; d < D; d++) a += (double)x[d] * (double)y[d];
            dl[r] = (T)a;
          }
          for (int64_t j0 = 0, jt = 0; j0 < kend; j0 += bk, jt++) {
            const int64_t n = kend - j0 < bk ? kend - j0 : bk, nc = rt_attn_up_(n, RT_ATTN_KPAD);
            /* P = exp((scale Q) K^T - lse), 0 where masked; dP = dO V^T */
            L(tile_abt)(s, kb, qt, ld, m, ktb + jt * D * kb, kb, nc, D);
            L(tile_abt)(dp, kb, dot, ld, m, vtb + jt * D * kb, kb, nc, D);
            for (int64_t r = 0; r < m; r++) {
              T *sr = s + r * kb, *pr = dp + r * kb;
              const int64_t lim = L(attn_lim)(causal, i0 + r, off, j0, n);
              const T lr = li[r], dr = dl[r];
              /* dS / scale = P (dP - D_i) */
#pragma omp simd
              for (int64_t x = 0; x < lim; x++) {
                const T p = L(kexp)(sr[x] - lr);
                sr[x] = p;
                pr[x] = p * (pr[x] - dr);
              }
              for (int64_t x = lim; x < n; x++) sr[x] = pr[x] = 0;
            }
            /* dV_j += P^T dO_i; dK_j += dS^T Q_i (Q_i scaled); dQ_i += dS K_j
             * (scaled once at the end) */
            L(tile_ab)(dvb + j0 * ld, ld, n, s, 1, kb, m, dot, ld, D, NULL, 0);
            L(tile_ab)(dkb + j0 * ld, ld, n, dp, 1, kb, m, qt, ld, D, NULL, 0);
            L(tile_ab)(acc, ld, m, dp, kb, 1, n, krb + jt * bk * ld, ld, D, NULL, j0 == 0);
          }
          if (kend == 0) memset(acc, 0, (size_t)(m * ld) * sizeof(T));
          L(attn_rows)(dq + row, ldq, acc, ld, m, D, sc);
        }
      }
    }
    /* dk, dv: the chunks' sums added in chunk order */
#pragma omp for schedule(static)
    for (int64_t t = 0; t < B * Tk; t++) {
      const int64_t b = t / Tk, j = t % Tk;
      T *yk = dk + t * ldk, *yv = dv + t * ldk;
      memset(yk, 0, (size_t)ldk * sizeof(T));
      memset(yv, 0, (size_t)ldk * sizeof(T));
      for (int64_t c = 0; c < nch; c++) {
        int64_t qa, qb, kmax;
        L(attn_chunk)(&w, causal, off, Tq, Tk, c, &qa, &qb, &kmax);
        if (j >= kmax) continue;
        for (int64_t g = 0; g < Hkv; g++) {
          const T *pk = ws + w.part + (2 * c * B * Hkv + b * Hkv + g) * Tk * ld + j * ld;
          const T *pv = pk + psize;
#pragma omp simd
          for (int64_t x = 0; x < D; x++) {
            yk[g * D + x] += pk[x];
            yv[g * D + x] += pv[x];
          }
        }
      }
    }
  }
}
