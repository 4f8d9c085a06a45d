/* runtime/prof.c -- the opt-in per-op profiler (env FTC_PROFILE=1).
 *
 * One idea: the generated step functions already call one kernel per
 * scheduled node, so timing is a clock read around each call, keyed by the
 * node's schedule position (a "site" the compiler describes in a static
 * table: node id, op, scope name, shape, flops). Off, a step pays one
 * predictable branch per call; on, the totals per op kind and per node print
 * to stderr when the process exits, with GFLOP/s for matrix products so a
 * slow GEMM shape stands out. The runtime adds its own sites (optimizer,
 * gradient norm) by name. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ftrt.h"

#define RT_PROF_EXTRA 8 /* named runtime sites (optimizer, grad norm, ...) */

static int state = -1; /* -1 unknown, 0 off, 1 on */
static const rt_prof_site *sites;
static int nsites;
static double *secs;      /* per site, then RT_PROF_EXTRA named ones */
static long long *calls;
static const char *extra_name[RT_PROF_EXTRA];
static double t_first = -1, t_last;
static void (*hook)(int site, void *ctx); /* rt_prof_hook: devcheck's lockstep */
static void *hook_ctx;

void rt_prof_hook(void (*fn)(int site, void *ctx), void *ctx) {
  hook = fn;
  hook_ctx = ctx;
}

double rt_prof_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct Row {
  const char *key;
  double s, flops;
  long long n;
  int site;
} Row;

static int row_desc(const void *a, const void *b) {
  const Row *x = a, *y = b;
  return x->s < y->s ? 1 : x->s > y->s ? -1 : 0;
}

static void report(void) {
  if (state != 1 || !secs || nsites < 0) return;
  size_t n = (size_t)nsites + RT_PROF_EXTRA;
  double total = 0;
  for (size_t i = 0; i < n; i++) total += secs[i];
  Row *kind = calloc(n, sizeof *kind), *node = calloc(n, sizeof *node);
  if (!kind || !node) {
    free(kind);
    free(node);
    return;
  }
  int nk = 0, nn = 0;
  for (int i = 0; i < (int)n; i++) {
    if (calls[i] == 0) continue;
    const char *op = i < nsites ? sites[i].op : extra_name[i - nsites];
    double fl = i < nsites ? sites[i].flops * (double)calls[i] : 0;
    int k = 0;
    while (k < nk && strcmp(kind[k].key, op) != 0) k++;
    if (k == nk) kind[nk++] = (Row){op, 0, 0, 0, -1};
    kind[k].s += secs[i];
    kind[k].flops += fl;
    kind[k].n += calls[i];
    node[nn++] = (Row){op, secs[i], fl, calls[i], i};
  }
  qsort(kind, (size_t)nk, sizeof *kind, row_desc);
  qsort(node, (size_t)nn, sizeof *node, row_desc);
  fprintf(stderr, "\nprofile (FTC_PROFILE): %.3f s in timed calls, %.3f s wall from the "
                  "first to the last\n", total, t_last - t_first);
  fprintf(stderr, "%-22s %10s %6s %8s %9s\n", "op", "seconds", "%", "calls", "GFLOP/s");
  for (int k = 0; k < nk; k++) {
    fprintf(stderr, "%-22s %10.3f %6.1f %8lld", kind[k].key, kind[k].s,
            100.0 * kind[k].s / (total > 0 ? total : 1), kind[k].n);
    if (kind[k].flops > 0) fprintf(stderr, " %9.1f", kind[k].flops / kind[k].s * 1e-9);
    fputc('\n', stderr);
  }
  const char *te = getenv("FTC_PROFILE_TOP"); /* rows of the per-call table */
  int want = te ? atoi(te) : 40, top = nn < want ? nn : want;
  fprintf(stderr, "\ntop %d calls by time (site = schedule position, %%node):\n", top);
  fprintf(stderr, "%5s %6s %-18s %-28s %-18s %9s %6s %9s\n", "site", "node", "op", "name",
          "shape", "ms/call", "%", "GFLOP/s");
  for (int k = 0; k < top; k++) {
    const Row *r = &node[k];
    const rt_prof_site *s = r->site < nsites ? &sites[r->site] : NULL;
    fprintf(stderr, "%5d %6d %-18s %-28.28s %-18.18s %9.3f %6.1f", r->site,
            s ? s->node : -1, r->key, s && s->name ? s->name : "", s && s->shape ? s->shape : "",
            1e3 * r->s / (double)r->n, 100.0 * r->s / (total > 0 ? total : 1));
    if (r->flops > 0) fprintf(stderr, " %9.1f", r->flops / r->s * 1e-9);
    fputc('\n', stderr);
  }
  free(kind);
  free(node);
  free(secs);
  free(calls);
  secs = NULL;
  calls = NULL;
}

static int enable(void) {
  const char *e = getenv("FTC_PROFILE");
  state = e && *e && strcmp(e, "0") != 0;
  return state;
}

int rt_prof_begin(const rt_prof_site *s, int n) {
  int check = rt_finite_begin(s, n); /* FTC_CHECK_FINITE uses the same hook */
  if (hook) return 1; /* devcheck's lockstep */
  if (state == 0) return check;
  if (state < 0 && !enable()) return check;
  if (!secs) {
    sites = s;
    nsites = n;
    secs = calloc((size_t)(n + RT_PROF_EXTRA), sizeof *secs);
    calls = calloc((size_t)(n + RT_PROF_EXTRA), sizeof *calls);
    if (!secs || !calls) {
      free(secs);
      free(calls);
      secs = NULL;
      calls = NULL;
      state = 0;
      return 0;
    }
    atexit(report);
  }
  return 1;
}

void rt_prof_end(int site, double t0) {
  rt_finite_after(site);
  if (hook) {
    hook(site, hook_ctx);
    return;
  }
  if (!secs || site < 0 || site >= nsites) return;
  double t = rt_prof_now();
  if (t_first < 0) t_first = t0;
  t_last = t;
  secs[site] += t - t0;
  calls[site]++;
}

int rt_prof_on(void) { return state == 1 && secs != NULL; }

void rt_prof_extra(const char *what, double t0) {
  if (!rt_prof_on()) return;
  int i = 0;
  while (i < RT_PROF_EXTRA && extra_name[i] && strcmp(extra_name[i], what) != 0) i++;
  if (i == RT_PROF_EXTRA) return;
  extra_name[i] = what;
  double t = rt_prof_now();
  t_last = t;
  secs[nsites + i] += t - t0;
  calls[nsites + i]++;
}
