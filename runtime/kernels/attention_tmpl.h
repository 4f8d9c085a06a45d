/* runtime/kernels/attention_tmpl.h -- template for the fused attention
 * forward and backward (included by attention.c with T and S defined).
 * Layout: q, o, dq, dout [B, Tq, H, D]; k, v, dk, dv [B, Tk, Hkv, D];
 * lse [B, H, Tq]. Query head h uses kv head h / (H / Hkv) (the composite's
 * repeat_interleave). Causal: query i sees keys j <= i + Tk - Tq. */

/* Keys of a tile that row r (absolute query i) may see: the first `lim`
 * of n keys starting at j0 (all n when not causal; 0 when none). */
static inline int64_t L(attn_lim)(int causal, int64_t i, int64_t off, int64_t j0, int64_t n) {
  if (!causal) return n;
  int64_t lim = i + off - j0 + 1;
  return lim < 0 ? 0 : lim > n ? n : lim;
}

void FN(flash_attention)(T *o, T *lse, const T *q, const T *k, const T *v, int64_t B,
                         int64_t Tq, int64_t Tk, int64_t H, int64_t Hkv, int64_t D, int causal,
                         double scale, int64_t block) {
  if (B <= 0 || Tq <= 0 || Tk <= 0 || H <= 0 || Hkv <= 0 || D <= 0) return;
  const int64_t bs = attn_block(block), nqb = (Tq + bs - 1) / bs, reps = H / Hkv;
  const int64_t off = Tk - Tq, ldq = H * D, ldk = Hkv * D, ntask = B * H * nqb;
  const T sc = (T)scale;
  /* heaviest (last, under causal) query blocks first: dynamic scheduling
   * balances the triangle; results do not depend on who runs a task */
#pragma omp parallel for schedule(dynamic, 1) if (ntask > 1 && B * H * Tq * Tk * D >= RT_PAR_MIN)
  for (int64_t t = 0; t < ntask; t++) {
    const int64_t b = t / (H * nqb), h = (t / nqb) % H, i0 = (nqb - 1 - t % nqb) * bs;
    const int64_t m = Tq - i0 < bs ? Tq - i0 : bs, g = h / reps;
    const T *qi = q + (b * Tq + i0) * ldq + h * D;
    const T *kb = k + b * Tk * ldk + g * D, *vb = v + b * Tk * ldk + g * D;
    T *oi = o + (b * Tq + i0) * ldq + h * D;
    T *li = lse + (b * H + h) * Tq + i0;
    int64_t kend = causal ? i0 + m + off : Tk; /* keys the last row sees */
    if (kend > Tk) kend = Tk;
    T s[bs * bs], mx[bs];
    double sum[bs];
    for (int64_t r = 0; r < m; r++) {
      mx[r] = (T)-INFINITY;
      sum[r] = 0;
      memset(oi + r * ldq, 0, (size_t)D * sizeof(T));
    }
    for (int64_t j0 = 0; j0 < kend; j0 += bs) {
      const int64_t n = kend - j0 < bs ? kend - j0 : bs;
      L(gemm)(0, 1, m, n, D, sc, qi, ldq, kb + j0 * ldk, ldk, (T)0, s, n);
      for (int64_t r = 0; r < m; r++) {
        T *sr = s + r * n;
        const int64_t lim = L(attn_lim)(causal, i0 + r, off, j0, n);
        if (lim == 0) { /* nothing visible in this tile: P row = 0 */
          memset(sr, 0, (size_t)n * sizeof(T));
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
        if (mnew != mx[r]) { /* rescale what is accumulated (0 the first time) */
          const T a = L(kexp)(mx[r] - mnew);
          T *orow = oi + r * ldq;
#pragma omp simd
          for (int64_t d = 0; d < D; d++) orow[d] *= a;
          sum[r] *= (double)a;
          mx[r] = mnew;
        }
        sum[r] += (double)ps;
      }
      L(gemm)(0, 0, m, D, n, (T)1, s, n, vb + j0 * ldk, ldk, (T)1, oi, ldq);
    }
    for (int64_t r = 0; r < m; r++) {
      const T inv = (T)(1.0 / sum[r]);
      T *orow = oi + r * ldq;
#pragma omp simd
      for (int64_t d = 0; d < D; d++) orow[d] *= inv;
      li[r] = (T)((double)mx[r] + log(sum[r]));
    }
  }
}

void FN(flash_attention_bwd)(T *dq, T *dk, T *dv, const T *dout, const T *q, const T *k,
                             const T *v, const T *o, const T *lse, int64_t B, int64_t Tq,
                             int64_t Tk, int64_t H, int64_t Hkv, int64_t D, int causal,
                             double scale, int64_t block) {
  if (B <= 0 || Tq <= 0 || Tk <= 0 || H <= 0 || Hkv <= 0 || D <= 0) return;
  const int64_t bs = attn_block(block), reps = H / Hkv;
  const int64_t off = Tk - Tq, ldq = H * D, ldk = Hkv * D, ntask = B * Hkv;
  const T sc = (T)scale;
#pragma omp parallel for schedule(dynamic, 1) if (ntask > 1 && B * H * Tq * Tk * D >= RT_PAR_MIN)
  for (int64_t t = 0; t < ntask; t++) {
    const int64_t b = t / Hkv, g = t % Hkv;
    const T *kb = k + b * Tk * ldk + g * D, *vb = v + b * Tk * ldk + g * D;
    T *dkb = dk + b * Tk * ldk + g * D, *dvb = dv + b * Tk * ldk + g * D;
    T s[bs * bs], dp[bs * bs], dl[bs];
    for (int64_t j = 0; j < Tk; j++) {
      memset(dkb + j * ldk, 0, (size_t)D * sizeof(T));
      memset(dvb + j * ldk, 0, (size_t)D * sizeof(T));
    }
    for (int64_t h = g * reps; h < (g + 1) * reps; h++) {
      for (int64_t i = 0; i < Tq; i++) memset(dq + (b * Tq + i) * ldq + h * D, 0, (size_t)D * sizeof(T));
      for (int64_t i0 = 0; i0 < Tq; i0 += bs) {
        const int64_t m = Tq - i0 < bs ? Tq - i0 : bs;
        const int64_t row = (b * Tq + i0) * ldq + h * D;
        const T *qi = q + row, *doi = dout + row, *oi = o + row;
        const T *li = lse + (b * H + h) * Tq + i0;
        T *dqi = dq + row;
        /* D_i = rowsum(dO * O) */
        for (int64_t r = 0; r < m; r++) {
          const T *a = doi + r * ldq, *c = oi + r * ldq;
          double acc = 0;
#pragma omp simd reduction(+ : acc)
          for (int64_t d = 0; d < D; d++) acc += (double)a[d] * (double)c[d];
          dl[r] = (T)acc;
        }
        int64_t kend = causal ? i0 + m + off : Tk;
        if (kend > Tk) kend = Tk;
        for (int64_t j0 = 0; j0 < kend; j0 += bs) {
          const int64_t n = kend - j0 < bs ? kend - j0 : bs;
          const T *kj = kb + j0 * ldk, *vj = vb + j0 * ldk;
          /* P = exp(scale Q K^T - lse), 0 where masked */
          L(gemm)(0, 1, m, n, D, sc, qi, ldq, kj, ldk, (T)0, s, n);
          for (int64_t r = 0; r < m; r++) {
            T *sr = s + r * n;
            const int64_t lim = L(attn_lim)(causal, i0 + r, off, j0, n);
            const T lr = li[r];
#pragma omp simd
            for (int64_t c = 0; c < lim; c++) sr[c] = L(kexp)(sr[c] - lr);
            for (int64_t c = lim; c < n; c++) sr[c] = 0;
          }
          /* dV_j += P^T dO_i; dP = dO_i V_j^T */
          L(gemm)(1, 0, n, D, m, (T)1, s, n, doi, ldq, (T)1, dvb + j0 * ldk, ldk);
          L(gemm)(0, 1, m, n, D, (T)1, doi, ldq, vj, ldk, (T)0, dp, n);
          /* dS = P * (dP - D_i) */
          for (int64_t r = 0; r < m; r++) {
            T *pr = dp + r * n;
            const T *sr = s + r * n;
            const T dr = dl[r];
#pragma omp simd
            for (int64_t c = 0; c < n; c++) pr[c] = sr[c] * (pr[c] - dr);
          }
          /* dQ_i += scale dS K_j; dK_j += scale dS^T Q_i */
          L(gemm)(0, 0, m, D, n, sc, dp, n, kj, ldk, (T)1, dqi, ldq);
          L(gemm)(1, 0, n, D, m, sc, dp, n, qi, ldq, (T)1, dkb + j0 * ldk, ldk);
        }
      }
    }
  }
}
