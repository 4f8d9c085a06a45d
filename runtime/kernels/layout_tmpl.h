/* runtime/kernels/layout_tmpl.h -- template for data movement and
 * reductions over an axis: permute, slice (+bwd), concat, expand (+bwd),
 * reduce, sum_to, broadcast (included by layout.c with T and S defined).
 *
 * Axis ops see their tensor as [outer, n, inner], so one loop nest serves
 * every axis. permute first drops size-1 dims and merges dims that stay
 * adjacent, so [B,T,H,D]->[B,H,T,D] becomes row copies of D elements, and a
 * permute that moves the innermost dim becomes a tiled 2-D transpose. */

#define RT_PERM_MAXRANK 8
#define RT_TILE 32

/* y = x[:, start:start+len, :] */
void FN(slice)(T *y, const T *x, int64_t outer, int64_t n, int64_t inner,
               int64_t start, int64_t len) {
  const int64_t run = len * inner;
  if (outer == 1) {
    FN(copy)(y, x + start * inner, run);
    return;
  }
#pragma omp parallel for RT_OMP_IF(outer * run) schedule(static)
  for (int64_t o = 0; o < outer; o++)
    memcpy(y + o * run, x + (o * n + start) * inner, (size_t)run * sizeof(T));
}

void FN(slice_bwd)(T *dx, const T *dy, int64_t outer, int64_t n,
                   int64_t inner, int64_t start, int64_t len) {
  const int64_t run = len * inner, row = n * inner;
#pragma omp parallel for RT_OMP_IF(outer * row) schedule(static)
  for (int64_t o = 0; o < outer; o++) {
    T *d = dx + o * row;
    memset(d, 0, (size_t)(start * inner) * sizeof(T));
    memcpy(d + start * inner, dy + o * run, (size_t)run * sizeof(T));
    memset(d + start * inner + run, 0,
           (size_t)(row - start * inner - run) * sizeof(T));
  }
}

void FN(slice_bwd_acc)(T *dx, const T *dy, int64_t outer, int64_t n,
                       int64_t inner, int64_t start, int64_t len) {
  const int64_t run = len * inner, row = n * inner;
#pragma omp parallel for RT_OMP_IF(outer * run) schedule(static)
  for (int64_t o = 0; o < outer; o++) {
    T *d = dx + o * row + start * inner;
    const T *s = dy + o * run;
#pragma omp simd
    for (int64_t i = 0; i < run; i++) d[i] += s[i];
  }
}

void FN(concat)(T *y, const T *a, const T *b, int64_t outer, int64_t na,
                int64_t nb, int64_t inner) {
  const int64_t ra = na * inner, rb = nb * inner;
#pragma omp parallel for RT_OMP_IF(outer * (ra + rb)) schedule(static)
  for (int64_t o = 0; o < outer; o++) {
    memcpy(y + o * (ra + rb), a + o * ra, (size_t)ra * sizeof(T));
    memcpy(y + o * (ra + rb) + ra, b + o * rb, (size_t)rb * sizeof(T));
  }
}

/* y[o, k*reps + r, :] = x[o, k, :] */
void FN(expand)(T *y, const T *x, int64_t outer, int64_t n, int64_t reps,
                int64_t inner) {
  const int64_t items = outer * n;
#pragma omp parallel for RT_OMP_IF(items * reps * inner) schedule(static)
  for (int64_t it = 0; it < items; it++)
    for (int64_t r = 0; r < reps; r++)
      memcpy(y + (it * reps + r) * inner, x + it * inner,
             (size_t)inner * sizeof(T));
}

/* dx[o, k, :] = sum_r dy[o, k*reps + r, :], r in order */
void FN(expand_bwd)(T *dx, const T *dy, int64_t outer, int64_t n,
                    int64_t reps, int64_t inner) {
  const int64_t items = outer * n;
#pragma omp parallel for RT_OMP_IF(items * reps * inner) schedule(static)
  for (int64_t it = 0; it < items; it++) {
    T *d = dx + it * inner;
    const T *s = dy + it * reps * inner;
    if (reps <= 0) {
      memset(d, 0, (size_t)inner * sizeof(T));
      continue;
    }
    memcpy(d, s, (size_t)inner * sizeof(T));
    for (int64_t r = 1; r < reps; r++) {
      const T *sr = s + r * inner;
#pragma omp simd
      for (int64_t j = 0; j < inner; j++) d[j] += sr[j];
    }
  }
}

/* y [outer, inner] = scale * sum over n of x [outer, n, inner], summed in
 * double in index order. Small outputs with a long n (a full sum, a bias
 * gradient of width < 64) split n into RT_NCHUNK fixed chunks, the partial
 * sums on the stack; otherwise each thread owns whole output blocks. */
void FN(reduce)(T *y, const T *x, int64_t outer, int64_t n, int64_t inner,
                double scale) {
  const int64_t outs = outer * inner;
  if (outs <= RT_CBLK && n >= 2 * RT_NCHUNK) {
    double part[RT_NCHUNK][RT_CBLK];
    const int64_t cs = (n + RT_NCHUNK - 1) / RT_NCHUNK;
#pragma omp parallel for RT_OMP_IF(outs * n) schedule(static)
    for (int k = 0; k < RT_NCHUNK; k++) {
      const int64_t lo = k * cs, hi = lo + cs < n ? lo + cs : n;
      for (int64_t o = 0; o < outer; o++) {
        double *p = part[k] + o * inner;
        for (int64_t j = 0; j < inner; j++) p[j] = 0;
        if (inner == 1) {
          double acc = 0;
#pragma omp simd reduction(+ : acc)
          for (int64_t i = lo; i < hi; i++) acc += (double)x[o * n + i];
          p[0] = acc;
          continue;
        }
        for (int64_t i = lo; i < hi; i++) {
          const T *xr = x + (o * n + i) * inner;
          for (int64_t j = 0; j < inner; j++) p[j] += (double)xr[j];
        }
      }
    }
    for (int64_t j = 0; j < outs; j++) {
      double s = 0;
      for (int k = 0; k < RT_NCHUNK; k++) s += part[k][j];
      y[j] = (T)(s * scale);
    }
    return;
  }
  if (inner == 1) {
#pragma omp parallel for RT_OMP_IF(outer * n) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
      double acc = 0;
      const T *xr = x + o * n;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < n; i++) acc += (double)xr[i];
      y[o] = (T)(acc * scale);
    }
    return;
  }
  const int64_t nblk = (inner + RT_CBLK - 1) / RT_CBLK;
#pragma omp parallel for RT_OMP_IF(outs * n) schedule(static)
  for (int64_t it = 0; it < outer * nblk; it++) {
    const int64_t o = it / nblk, c0 = (it % nblk) * RT_CBLK;
    const int64_t nc = inner - c0 < RT_CBLK ? inner - c0 : RT_CBLK;
    double acc[RT_CBLK];
    for (int64_t j = 0; j < nc; j++) acc[j] = 0;
    for (int64_t i = 0; i < n; i++) {
      const T *xr = x + (o * n + i) * inner + c0;
#pragma omp simd
      for (int64_t j = 0; j < nc; j++) acc[j] += (double)xr[j];
    }
    for (int64_t j = 0; j < nc; j++) y[o * inner + c0 + j] = (T)(acc[j] * scale);
  }
}

/* n = number of elements of x, a multiple of m */
void FN(sum_to)(T *y, const T *x, int64_t n, int64_t m) {
  FN(reduce)(y, x, 1, m ? n / m : 0, m, 1.0);
}

/* y[o, k, :] = scale * x[o, :] */
void FN(broadcast)(T *y, const T *x, int64_t outer, int64_t n, int64_t inner,
                   double scale) {
  const T s = (T)scale;
  const int64_t items = outer * n;
#pragma omp parallel for RT_OMP_IF(items * inner) schedule(static)
  for (int64_t it = 0; it < items; it++) {
    T *yr = y + it * inner;
    const T *xr = x + (it / n) * inner;
#pragma omp simd
    for (int64_t j = 0; j < inner; j++) yr[j] = xr[j] * s;
  }
}

void FN(permute)(T *y, const T *x, int rank, const int64_t *shape,
                 const int *perm) {
  int64_t xs[RT_PERM_MAXRANK], od[RT_PERM_MAXRANK], os[RT_PERM_MAXRANK];
  int64_t total = 1;
  if (rank > RT_PERM_MAXRANK) { /* a compiler bug, not a user error */
    fprintf(stderr, "rt_permute: rank %d > %d\n", rank, RT_PERM_MAXRANK);
    abort();
  }
  for (int k = rank - 1; k >= 0; k--) {
    xs[k] = total;
    total *= shape[k];
  }
  if (total == 0) return;
  /* output dims with their x strides: drop size 1, merge adjacent runs */
  int r = 0;
  for (int i = 0; i < rank; i++) {
    int64_t d = shape[perm[i]], s = xs[perm[i]];
    if (d == 1) continue;
    if (r > 0 && os[r - 1] == s * d) {
      od[r - 1] *= d;
      os[r - 1] = s;
    } else {
      od[r] = d;
      os[r] = s;
      r++;
    }
  }
  if (r <= 1) { /* identity in memory order */
    FN(copy)(y, x, total);
    return;
  }
  if (os[r - 1] == 1) { /* rows of contiguous runs */
    const int64_t run = od[r - 1], rows = total / run;
#pragma omp parallel for RT_OMP_IF(total) schedule(static)
    for (int64_t row = 0; row < rows; row++) {
      int64_t rem = row, off = 0;
      for (int k = r - 2; k >= 0; k--) {
        off += (rem % od[k]) * os[k];
        rem /= od[k];
      }
      memcpy(y + row * run, x + off, (size_t)run * sizeof(T));
    }
    return;
  }
  /* innermost x dim moved: tiled transpose of dims p (smallest x stride)
   * and q = r-1 (innermost of y), looping over the other dims outside */
  int p = 0;
  for (int k = 1; k < r; k++)
    if (os[k] < os[p]) p = k;
  const int q = r - 1;
  int64_t ys[RT_PERM_MAXRANK];
  ys[q] = 1;
  for (int k = q - 1; k >= 0; k--) ys[k] = ys[k + 1] * od[k + 1];
  const int64_t np = od[p], nq = od[q];
  const int64_t tp = (np + RT_TILE - 1) / RT_TILE, tq = (nq + RT_TILE - 1) / RT_TILE;
  const int64_t nouter = total / (np * nq);
#pragma omp parallel for RT_OMP_IF(total) schedule(static)
  for (int64_t it = 0; it < nouter * tp * tq; it++) {
    int64_t o = it / (tp * tq), t = it % (tp * tq);
    const int64_t p0 = (t / tq) * RT_TILE, q0 = (t % tq) * RT_TILE;
    int64_t xo = 0, yo = 0;
    for (int k = q - 1; k >= 0; k--) {
      if (k == p) continue;
      int64_t ik = o % od[k];
      o /= od[k];
      xo += ik * os[k];
      yo += ik * ys[k];
    }
    const int64_t p1 = p0 + RT_TILE < np ? p0 + RT_TILE : np;
    const int64_t q1 = q0 + RT_TILE < nq ? q0 + RT_TILE : nq;
    for (int64_t ip = p0; ip < p1; ip++) {
      T *yr = y + yo + ip * ys[p];
      const T *xr = x + xo + ip * os[p];
      for (int64_t iq = q0; iq < q1; iq++) yr[iq] = xr[iq * os[q]];
    }
  }
}
