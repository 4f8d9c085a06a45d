/* tests/unit/test_kernels_util.h -- helpers shared by the kernel tests:
 * a seeded RNG, per-check scratch memory freed in one call, conversions
 * between float and double, and comparisons that print one line per
 * failure (naming the check, the sizes and the first bad element). */
#ifndef FTC_TEST_KERNELS_UTIL_H
#define FTC_TEST_KERNELS_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

static int t_fail, t_checks;
static char t_ctx[160]; /* what is being checked, for failure lines */

static void ctx(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t_ctx, sizeof t_ctx, fmt, ap);
  va_end(ap);
}

/* scratch: every t_alloc of a check is freed by t_free_all */
static void *t_mem[512];
static int t_nmem;
static void *t_alloc(size_t bytes) {
  if (t_nmem == 512) {
    fprintf(stderr, "test: too many scratch buffers\n");
    exit(3);
  }
  void *p = calloc(1, bytes ? bytes : 1);
  if (!p) {
    fprintf(stderr, "test: out of memory (%zu bytes)\n", bytes);
    exit(3);
  }
  return t_mem[t_nmem++] = p;
}
static void t_free_all(void) {
  while (t_nmem) free(t_mem[--t_nmem]);
}
#define ALLOC(T, n) ((T *)t_alloc((size_t)(n) * sizeof(T)))

static uint64_t t_rng = 0x9E3779B97F4A7C15ull;
static double urand(void) { /* splitmix64 -> [0, 1) */
  uint64_t z = (t_rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}
/* values rounded to float, so f32 and f64 kernels see the same inputs */
static double *rnd(int64_t n, double lo, double hi) {
  double *x = ALLOC(double, n);
  for (int64_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * urand());
  return x;
}
static inline float *f32of(const double *x, int64_t n) {
  float *y = ALLOC(float, n);
  for (int64_t i = 0; i < n; i++) y[i] = (float)x[i];
  return y;
}
static inline double *dup64(const double *x, int64_t n) {
  double *y = ALLOC(double, n);
  memcpy(y, x, (size_t)n * sizeof(double));
  return y;
}
static inline int32_t *rndidx(int64_t n, int64_t V) {
  int32_t *t = ALLOC(int32_t, n);
  for (int64_t i = 0; i < n; i++) t[i] = (int32_t)(urand() * (double)V);
  return t;
}

/* |got - want| <= atol + rtol |want| elementwise; one line on failure */
static int cmp_impl(const char *what, const double *want, const void *got,
                    int isf, int64_t n, double atol, double rtol) {
  t_checks++;
  for (int64_t i = 0; i < n; i++) {
    double g = isf ? (double)((const float *)got)[i] : ((const double *)got)[i];
    double w = want[i];
    if (!(fabs(g - w) <= atol + rtol * fabs(w))) {
      printf("FAIL %s %s [%s]: element %lld got %.9g want %.9g\n", what,
             isf ? "f32" : "f64", t_ctx, (long long)i, g, w);
      t_fail++;
      return 0;
    }
  }
  return 1;
}
#define CMP64(what, want, got, n, atol, rtol) \
  cmp_impl(what, want, got, 0, n, atol, rtol)
#define CMP32(what, want, got, n, atol, rtol) \
  cmp_impl(what, want, got, 1, n, atol, rtol)

/* bitwise equality (in place vs out of place, 1 vs 2 threads) */
static inline void same_bits(const char *what, const void *a, const void *b,
                      size_t bytes) {
  t_checks++;
  if (memcmp(a, b, bytes) != 0) {
    printf("FAIL %s [%s]: results differ bitwise\n", what, t_ctx);
    t_fail++;
  }
}

static int t_summary(const char *name) {
  t_free_all();
  /* "NAME: N passed, N failed": the line tests/run.sh adds up */
  printf("%s: %d passed, %d failed\n", name, t_checks - t_fail, t_fail);
  return t_fail ? 1 : 0;
}

#endif
