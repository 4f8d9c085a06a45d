/* runtime/check_finite.c -- which op first produced a NaN or an Inf.
 *
 * One idea: the compiler already describes every kernel call of the step
 * as a profiler site, so the site table can also say where each call's
 * output lives (offset, elements, dtype). With FTC_CHECK_FINITE=1 every
 * output is scanned right after its call and the first site of the step
 * with a non-finite value is kept; the trainer names it (node, op, scope,
 * shape, forward or backward, the .ft line). Without the variable the
 * trainer can still ask (rt_finite_force) for one diagnostic re-run of a
 * step whose loss came out non-finite.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

static int env_on = -1, forced;
static const rt_prof_site *sites;
static int nsites;
static unsigned char *arena;
static rt_dtype dtype;
static int first = -1;
static int64_t first_bad, first_at;
static double first_val;

static int enabled(void) {
  if (env_on < 0) {
    const char *e = getenv("FTC_CHECK_FINITE");
    env_on = e && *e && strcmp(e, "0") != 0;
  }
  return env_on || forced;
}

int rt_finite_begin(const rt_prof_site *s, int n) {
  if (!enabled() || !arena) return 0;
  sites = s;
  nsites = n;
  return 1;
}

void rt_finite_after(int site) {
  if (!enabled() || !arena || first >= 0 || site < 0 || site >= nsites) return;
  const rt_prof_site *s = &sites[site];
  if (!s->out_float || s->out_numel <= 0) return;
  int64_t n = s->out_numel, bad = 0, at = n;
  int minf_ok = s->out_float == 2;
  /* bad: NaN, +inf, and -inf unless the op writes it on purpose */
#define SCAN(T)                                                              \
  do {                                                                       \
    const T *x = (const T *)(arena + s->out_off);                            \
    _Pragma("omp parallel for reduction(+ : bad) reduction(min : at) if (n > (1 << 16))") \
    for (int64_t i = 0; i < n; i++)                                          \
      if (!isfinite(x[i]) && !(minf_ok && x[i] < 0 && isinf(x[i]))) {        \
        bad++;                                                               \
        if (i < at) at = i;                                                  \
      }                                                                      \
    if (bad) first_val = (double)x[at];                                      \
  } while (0)
  if (dtype == RT_F64) SCAN(double);
  else SCAN(float);
#undef SCAN
  if (bad) {
    first = site;
    first_bad = bad;
    first_at = at;
  }
}

void rt_finite_setup(unsigned char *mem, rt_dtype dt) {
  arena = mem;
  dtype = dt;
}

int rt_finite_enabled(void) { return enabled(); }
void rt_finite_force(int on) { forced = on; }
void rt_finite_reset(void) { first = -1; }

int rt_finite_describe(char *buf, size_t cap) {
  if (first < 0 || !sites) return 0;
  const rt_prof_site *s = &sites[first];
  /* a scope name is quoted; an unnamed node's "(inputs)" follows the op */
  int args = s->name && s->name[0] == '(';
  snprintf(buf, cap,
           "%%%d %s%s%s%s %s (%s, %s): %lld of %lld values non-finite, the first at "
           "element %lld (%g)",
           s->node, s->op, !s->name ? "" : args ? "" : " '", s->name ? s->name : "",
           s->name && !args ? "'" : "", s->shape ? s->shape : "",
           s->bwd ? "backward" : "forward", s->src ? s->src : "?", (long long)first_bad,
           (long long)s->out_numel, (long long)first_at, first_val);
  return 1;
}
