/* runtime/kernels/gather_tmpl.h -- template for the embedding gather, its
 * backward scatter-add, and rotary position embedding (included by
 * gather.c with T and S defined).
 *
 * embedding_bwd is deterministic without atomics: the vocabulary is cut in
 * RT_NCHUNK fixed blocks, one thread owns a block, zeroes it and adds the
 * rows of dy whose index falls in it, in index order. */

void FN(embedding)(T *y, const T *table, const int32_t *idx, int64_t n,
                   int64_t C) {
#pragma omp parallel for RT_OMP_IF(n * C) schedule(static)
  for (int64_t i = 0; i < n; i++)
    memcpy(y + i * C, table + (int64_t)idx[i] * C, (size_t)C * sizeof(T));
}

/* zero = 1: dtable = scatter(dy); zero = 0: dtable += scatter(dy) (the
 * accumulating form touches only the rows that idx names) */
static void L(embedding_scatter)(T *dtable, const T *dy, const int32_t *idx,
                                 int64_t n, int64_t C, int64_t V, int zero) {
  const int64_t vb = (V + RT_NCHUNK - 1) / RT_NCHUNK;
#pragma omp parallel for RT_OMP_IF((zero ? V * C : 0) + n * C) schedule(static)
  for (int k = 0; k < RT_NCHUNK; k++) {
    const int64_t v0 = k * vb, v1 = v0 + vb < V ? v0 + vb : V;
    if (v0 >= v1) continue;
    if (zero) memset(dtable + v0 * C, 0, (size_t)((v1 - v0) * C) * sizeof(T));
    for (int64_t i = 0; i < n; i++) {
      const int64_t v = idx[i];
      if (v < v0 || v >= v1) continue;
      T *d = dtable + v * C;
      const T *s = dy + i * C;
#pragma omp simd
      for (int64_t c = 0; c < C; c++) d[c] += s[c];
    }
  }
}

void FN(embedding_bwd)(T *dtable, const T *dy, const int32_t *idx, int64_t n,
                       int64_t C, int64_t V) {
  L(embedding_scatter)(dtable, dy, idx, n, C, V, 1);
}

void FN(embedding_bwd_acc)(T *dtable, const T *dy, const int32_t *idx,
                           int64_t n, int64_t C, int64_t V) {
  L(embedding_scatter)(dtable, dy, idx, n, C, V, 0);
}

#define RT_ROPE_CHUNK 128 /* pair frequencies computed per (b,t) at a time */

/* x [B,T,H,D], pairs (i, i+D/2), angle = sign * t * theta^(-2i/D):
 *   y_i = x_i cos - x_{i+h} sin,  y_{i+h} = x_{i+h} cos + x_i sin.
 * cos/sin are computed in double once per (b, t, i) and shared by the H
 * heads. Each pair is read before it is written, so y may alias x. An odd
 * D leaves its last element unrotated. */
void FN(rope)(T *y, const T *x, int64_t B, int64_t Tn, int64_t H, int64_t D,
              double theta, int sign) {
  const int64_t half = D / 2;
  const double lt = log(theta);
#pragma omp parallel for RT_OMP_IF(B * Tn * H * D) schedule(static)
  for (int64_t bt = 0; bt < B * Tn; bt++) {
    const double t = (double)(bt % Tn);
    T cs[RT_ROPE_CHUNK], sn[RT_ROPE_CHUNK];
    for (int64_t i0 = 0; i0 < half; i0 += RT_ROPE_CHUNK) {
      const int64_t ni = half - i0 < RT_ROPE_CHUNK ? half - i0 : RT_ROPE_CHUNK;
      for (int64_t i = 0; i < ni; i++) {
        double ang = sign * t * exp(-2.0 * (double)(i0 + i) / (double)D * lt);
        cs[i] = (T)cos(ang);
        sn[i] = (T)sin(ang);
      }
      for (int64_t h = 0; h < H; h++) {
        const T *xr = x + (bt * H + h) * D + i0;
        T *yr = y + (bt * H + h) * D + i0;
#pragma omp simd
        for (int64_t i = 0; i < ni; i++) {
          T a = xr[i], b = xr[i + half];
          yr[i] = a * cs[i] - b * sn[i];
          yr[i + half] = b * cs[i] + a * sn[i];
        }
      }
    }
    if (D & 1)
      for (int64_t h = 0; h < H; h++)
        y[(bt * H + h) * D + D - 1] = x[(bt * H + h) * D + D - 1];
  }
}
