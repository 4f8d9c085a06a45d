/* runtime/peak.c -- the machine's peak floating-point rate, the denominator
 * of the progress line's "% of peak".
 *
 * One idea: peak = threads x clock x FLOPs per cycle per core, where the
 * last is what the core's widest fused multiply-add units retire each
 * cycle: two FMA pipes of the widest vector (AVX-512 on Intel server
 * cores: 2 x 16 floats x 2 = 64; AVX2, and AVX-512 on AMD, which splits it
 * into two 256-bit halves: 32; AVX without FMA: 16; otherwise SSE: 8),
 * halved for float64. It is an estimate (turbo, narrower parts, shared
 * cores), so the line says "est."; FTC_PEAK_FLOPS=N replaces it with a
 * measured or published figure.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

static double clock_ghz(void) {
  FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "r");
  double khz = 0;
  if (f) {
    if (fscanf(f, "%lf", &khz) != 1) khz = 0;
    fclose(f);
    if (khz > 0) return khz / 1e6;
  }
  f = fopen("/proc/cpuinfo", "r");
  if (!f) return 0;
  char line[256];
  double mhz = 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "cpu MHz", 7)) {
      const char *c = strchr(line, ':');
      if (c) mhz = atof(c + 1);
      break;
    }
  fclose(f);
  return mhz / 1e3;
}

static int flops_per_cycle(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return __builtin_cpu_is("intel") ? 64 : 32;
  if (__builtin_cpu_supports("fma")) return 32;
  if (__builtin_cpu_supports("avx")) return 16;
  return 8;
#else
  return 8; /* unknown architecture: one 128-bit multiply-add per cycle */
#endif
}

double rt_peak_flops(int threads, rt_dtype dt, const char **how) {
  const char *e = getenv("FTC_PEAK_FLOPS");
  if (e && atof(e) > 0) {
    *how = "FTC_PEAK_FLOPS";
    return atof(e);
  }
  double ghz = clock_ghz();
  *how = "est.";
  if (!(ghz > 0) || threads <= 0) return 0;
  double p = (double)threads * ghz * 1e9 * flops_per_cycle();
  return dt == RT_F64 ? p / 2 : p;
}
