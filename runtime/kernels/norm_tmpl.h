/* runtime/kernels/norm_tmpl.h -- template for layer_norm and rms_norm,
 * forward and backward (included by norm.c with T and S defined).
 *
 * Row statistics are two-pass (mean, then centred squares) in double, so
 * f32 rows with a large mean keep their variance. The weight gradients are
 * reductions over rows; they run over tiles of rows: the tile's statistics
 * go to bounded stack arrays (parallel over rows), then each column block
 * is accumulated by one thread in row order (parallel over columns). No
 * scratch, and the same bits for any thread count. */

/* centered: layer norm (mean, variance); else rms norm (mean 0, x^2). */
static inline void L(row_stats)(const T *x, int64_t C, double eps,
                                int centered, double *mean, double *rstd) {
  double m = 0;
  if (centered) {
#pragma omp simd reduction(+ : m)
    for (int64_t c = 0; c < C; c++) m += (double)x[c];
    m /= (double)C;
  }
  double v = 0;
#pragma omp simd reduction(+ : v)
  for (int64_t c = 0; c < C; c++) {
    double d = (double)x[c] - m;
    v += d * d;
  }
  *mean = m;
  *rstd = 1.0 / sqrt(v / (double)C + eps);
}

void FN(layer_norm)(T *y, const T *x, const T *w, const T *b, int64_t rows,
                    int64_t C, double eps) {
#pragma omp parallel for RT_OMP_IF(rows * C) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T *xr = x + r * C;
    T *yr = y + r * C;
    double m, rs;
    L(row_stats)(xr, C, eps, 1, &m, &rs);
    const T tm = (T)m, trs = (T)rs;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - tm) * trs * w[c] + b[c];
  }
}

void FN(rms_norm)(T *y, const T *x, const T *w, int64_t rows, int64_t C,
                  double eps) {
#pragma omp parallel for RT_OMP_IF(rows * C) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T *xr = x + r * C;
    T *yr = y + r * C;
    double m, rs;
    L(row_stats)(xr, C, eps, 0, &m, &rs);
    const T trs = (T)rs;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * trs * w[c];
  }
}

/* layer norm: g = dy*w, xhat = (x-mean)*rstd,
 *   dx = rstd * (g - mean(g) - xhat * mean(g*xhat)) */
void FN(layer_norm_bwd_x)(T *dx, const T *dy, const T *x, const T *w,
                          int64_t rows, int64_t C, double eps) {
#pragma omp parallel for RT_OMP_IF(rows * C) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T *xr = x + r * C, *dyr = dy + r * C;
    T *dxr = dx + r * C;
    double m, rs;
    L(row_stats)(xr, C, eps, 1, &m, &rs);
    double sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t c = 0; c < C; c++) {
      double g = (double)dyr[c] * (double)w[c];
      sg += g;
      sgx += g * ((double)xr[c] - m);
    }
    const T tm = (T)m, trs = (T)rs;
    const T a = (T)(sg / (double)C), bb = (T)(sgx * rs / (double)C);
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      T xh = (xr[c] - tm) * trs;
      dxr[c] = trs * (dyr[c] * w[c] - a - xh * bb);
    }
  }
}

/* rms norm: g = dy*w, dx = rstd*g - x * rstd^3 * mean(g*x) */
void FN(rms_norm_bwd_x)(T *dx, const T *dy, const T *x, const T *w,
                        int64_t rows, int64_t C, double eps) {
#pragma omp parallel for RT_OMP_IF(rows * C) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T *xr = x + r * C, *dyr = dy + r * C;
    T *dxr = dx + r * C;
    double m, rs;
    L(row_stats)(xr, C, eps, 0, &m, &rs);
    double sgx = 0;
#pragma omp simd reduction(+ : sgx)
    for (int64_t c = 0; c < C; c++)
      sgx += (double)dyr[c] * (double)w[c] * (double)xr[c];
    const T trs = (T)rs, k = (T)(rs * rs * rs * sgx / (double)C);
#pragma omp simd
    for (int64_t c = 0; c < C; c++) dxr[c] = trs * dyr[c] * w[c] - xr[c] * k;
  }
}

#define RT_NORM_TILE 1024 /* rows whose statistics sit on the stack at once */

/* dw[c] = sum_r dy[r,c] * xhat[r,c] (xhat = (x-mean)*rstd; mean 0 for rms) */
static void L(norm_bwd_w)(T *dw, const T *dy, const T *x, int64_t rows,
                          int64_t C, double eps, int centered) {
  double mean[RT_NORM_TILE], rstd[RT_NORM_TILE];
  const int64_t nblk = (C + RT_CBLK - 1) / RT_CBLK;
  if (rows <= 0) {
    memset(dw, 0, (size_t)C * sizeof(T));
    return;
  }
#pragma omp parallel RT_OMP_IF(rows * C)
  for (int64_t r0 = 0; r0 < rows; r0 += RT_NORM_TILE) {
    const int64_t nr = rows - r0 < RT_NORM_TILE ? rows - r0 : RT_NORM_TILE;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < nr; i++)
      L(row_stats)(x + (r0 + i) * C, C, eps, centered, &mean[i], &rstd[i]);
    /* implicit barrier: all statistics of the tile are ready */
#pragma omp for schedule(static)
    for (int64_t kb = 0; kb < nblk; kb++) {
      const int64_t c0 = kb * RT_CBLK;
      const int64_t nc = C - c0 < RT_CBLK ? C - c0 : RT_CBLK;
      double acc[RT_CBLK];
      for (int64_t j = 0; j < nc; j++) acc[j] = r0 ? (double)dw[c0 + j] : 0.0;
      for (int64_t i = 0; i < nr; i++) {
        const T *xr = x + (r0 + i) * C + c0, *dyr = dy + (r0 + i) * C + c0;
        const double m = mean[i], rs = rstd[i];
#pragma omp simd
        for (int64_t j = 0; j < nc; j++)
          acc[j] += (double)dyr[j] * (((double)xr[j] - m) * rs);
      }
      for (int64_t j = 0; j < nc; j++) dw[c0 + j] = (T)acc[j];
    }
    /* implicit barrier before the next tile overwrites mean/rstd */
  }
}

void FN(layer_norm_bwd_w)(T *dw, const T *dy, const T *x, int64_t rows,
                          int64_t C, double eps) {
  L(norm_bwd_w)(dw, dy, x, rows, C, eps, 1);
}

void FN(rms_norm_bwd_w)(T *dw, const T *dy, const T *x, int64_t rows,
                        int64_t C, double eps) {
  L(norm_bwd_w)(dw, dy, x, rows, C, eps, 0);
}
