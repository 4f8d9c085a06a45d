/* runtime/metrics.c -- the progress line and DIR/metrics.jsonl.
 *
 * One idea: the JSONL file is the machine record (one object per step and
 * per eval, flushed each time so a killed run keeps its history); the
 * terminal line is for people and may be throttled by `log every N`. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "rt_internal.h"

void rt_fmt_bytes(char *buf, size_t n, double b) {
  const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int k = 0;
  while (b >= 1024 && k < 4) {
    b /= 1024;
    k++;
  }
  snprintf(buf, n, k ? "%.1f %s" : "%.0f %s", b, u[k]);
}

static void fmt_eta(char *buf, size_t n, double s) {
  if (!(s >= 0) || s > 1e8) snprintf(buf, n, "?");
  else if (s < 60) snprintf(buf, n, "%.0fs", s);
  else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
  else snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

/* On resume, drop records after the checkpoint's step (a run that died
 * after its last checkpoint logged steps that will now be replayed). */
static int truncate_after(const char *path, int64_t step) {
  unsigned char *buf;
  int64_t n;
  if (!rt_file_exists(path)) return 0;
  if (rt_read_file(path, &buf, &n) != 0) return -1;
  size_t keep = 0;
  for (size_t i = 0; i < (size_t)n;) {
    char *nl = memchr(buf + i, '\n', (size_t)n - i);
    size_t end = nl ? (size_t)(nl - (char *)buf) + 1 : (size_t)n;
    const char *st = strstr((char *)buf + i, "\"step\": ");
    if (!st || (const unsigned char *)st >= buf + end ||
        strtoll(st + 8, NULL, 10) > step)
      break;
    keep = end;
    i = end;
  }
  int rc = 0;
  if (keep < (size_t)n) {
    FILE *f = fopen(path, "r+");
    rc = f && ftruncate(fileno(f), (off_t)keep) == 0 ? 0 : -1;
    if (f) fclose(f);
    if (rc) rt_err("%s: cannot truncate to step %lld: %s", path, (long long)step,
                   strerror(errno));
  }
  free(buf);
  return rc;
}

int rt_metrics_open(rt_metrics *mt, const char *out_dir, int append, int quiet,
                    int64_t first_step) {
  memset(mt, 0, sizeof *mt);
  mt->quiet = quiet;
  mt->first_step = first_step;
  mt->t_start = rt_now();
  mt->path = rt_path_join(out_dir, "metrics.jsonl");
  if (!mt->path) return -1;
  if (append && truncate_after(mt->path, first_step) != 0) {
    free(mt->path);
    mt->path = NULL;
    return -1;
  }
  mt->jsonl = fopen(mt->path, append ? "a" : "w");
  if (!mt->jsonl) {
    rt_err("%s: cannot open for writing: %s", mt->path, strerror(errno));
    free(mt->path);
    mt->path = NULL;
    return -1;
  }
  return 0;
}

/* digits: 9 round-trips a float, 17 a double (losses compare bitwise). */
static void json_num(FILE *f, double v, int digits) {
  if (isfinite(v)) fprintf(f, "%.*g", digits, v);
  else fprintf(f, "null"); /* JSON has no NaN */
}

/* Wall-clock seconds since the epoch: runs resumed later line up in time. */
static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rt_metrics_step(rt_metrics *mt, const rt_run *r, int64_t step, double loss, double lr,
                     double ms, int print) {
  const rt_model *m = r->m;
  double tok = (double)m->data.batch * m->data.seq * (double)r->o.accum; /* one update's */
  double tps = ms > 0 ? tok / (ms / 1000.0) : 0;
  double fps = ms > 0 && m->step_flops > 0 ? m->step_flops / (ms / 1000.0) : 0;
  int64_t rss = rt_proc_kib("VmRSS");
  if (mt->jsonl) {
    fprintf(mt->jsonl, "{\"step\": %lld, \"loss\": ", (long long)step);
    json_num(mt->jsonl, loss, m->dtype == RT_F64 ? 17 : 9);
    fprintf(mt->jsonl, ", \"lr\": %.6g, \"tokens_per_s\": %.1f, \"ms\": %.2f, \"grad_norm\": ",
            lr, tps, ms);
    json_num(mt->jsonl, r->last_norm, 6);
    fprintf(mt->jsonl, ", \"time\": %.3f, \"rss_bytes\": %lld", wall(),
            (long long)(rss > 0 ? rss * 1024 : 0));
    if (fps > 0) fprintf(mt->jsonl, ", \"flops_per_s\": %.4g", fps);
    if (r->an.spike > 0) fprintf(mt->jsonl, ", \"spike_sd\": %.2f", r->an.spike);
    if (r->an.skipped_now) fprintf(mt->jsonl, ", \"skipped\": true");
    fprintf(mt->jsonl, "}\n");
    fflush(mt->jsonl);
  }
  if (r->an.spike > 0 && !mt->quiet) print = 1; /* a spike always shows */
  if (!print || mt->quiet) return;
  double now = rt_now();
  int64_t done = step - mt->first_step;
  double avg = done > 0 ? (now - mt->t_start) / (double)done : 0;
  char eta[32], mem[32];
  fmt_eta(eta, sizeof eta, avg * (double)(r->o.train.steps - step));
  rt_fmt_bytes(mem, sizeof mem, rss > 0 ? (double)rss * 1024 : (double)m->plan.arena_bytes);
  int w = snprintf(NULL, 0, "%lld", (long long)r->o.train.steps);
  printf("step %*lld/%lld | loss %.4f | lr %.3e | %8.0f tok/s | %7.1f ms/step | mem %s | eta %s",
         w, (long long)step, (long long)r->o.train.steps, loss, lr, tps, ms, mem, eta);
  if (fps > 0) {
    printf(" | %.3g GFLOP/s", fps * 1e-9);
    if (mt->peak > 0)
      printf(" (%.0f%% of %s peak %.3g)", 100.0 * fps / mt->peak, mt->peak_how, mt->peak * 1e-9);
  }
  if (r->an.spike > 0) printf(" | warning: loss spike, %.1f sd above its running mean", r->an.spike);
  if (r->an.skipped_now) printf(" | skipped (non-finite)");
  printf("\n");
  fflush(stdout);
}

void rt_metrics_eval(rt_metrics *mt, int64_t step, double val_loss) {
  if (mt->jsonl) {
    fprintf(mt->jsonl, "{\"step\": %lld, \"val_loss\": ", (long long)step);
    json_num(mt->jsonl, val_loss, 9);
    fprintf(mt->jsonl, "}\n");
    fflush(mt->jsonl);
  }
  if (!mt->quiet) {
    printf("step %lld | val_loss %.4f\n", (long long)step, val_loss);
    fflush(stdout);
  }
}

void rt_metrics_close(rt_metrics *mt) {
  if (mt->jsonl && fclose(mt->jsonl) != 0)
    rt_warn("%s: close failed: %s", mt->path, strerror(errno));
  mt->jsonl = NULL;
  free(mt->path);
  mt->path = NULL;
}
