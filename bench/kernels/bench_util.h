/* bench/kernels/bench_util.h -- what every kernel micro-benchmark needs: a
 * monotonic clock and deterministic, non-trivial input buffers. */
#ifndef FTC_BENCH_UTIL_H
#define FTC_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* n floats in [-1, 1), the same every run; exits on allocation failure. */
static float *buf(int64_t n) {
  float *p = malloc((size_t)n * sizeof(float));
  if (!p) {
    fprintf(stderr, "bench: out of memory\n");
    exit(3);
  }
  for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 7919 % 1000) / 500.0 - 1.0);
  return p;
}

#endif
