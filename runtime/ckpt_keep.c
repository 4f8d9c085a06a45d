/* runtime/ckpt_keep.c -- the last K checkpoints (--keep K), and --resume
 * from the newest one that verifies.
 *
 * One idea: DIR/ckpt.safetensors stays the checkpoint (written atomically,
 * as before); with --keep K each save also gives it a second name,
 * DIR/ckpt.stepNNNNNNNN.safetensors, by a hard link (no second write), so
 * the older steps are still there when a later save replaces the main
 * name. Resuming tries the main name first and then the kept steps,
 * newest first, until one passes every check of rt_ckpt_load (structure,
 * checksums, program hash); it says which it took and why.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_internal.h"

#define KEPT_PREFIX "ckpt.step"
#define KEPT_SUFFIX ".safetensors"

/* "ckpt.step00000040.safetensors" -> 40; -1 for any other name (sharded
 * checkpoints' "ckpt.stepN.rankR-of-W.safetensors" included). */
static int64_t kept_step(const char *name) {
  size_t np = strlen(KEPT_PREFIX), ns = strlen(KEPT_SUFFIX), n = strlen(name);
  if (n <= np + ns || strncmp(name, KEPT_PREFIX, np) || strcmp(name + n - ns, KEPT_SUFFIX))
    return -1;
  int64_t v = 0;
  for (size_t i = np; i < n - ns; i++) {
    if (name[i] < '0' || name[i] > '9' || v > INT64_MAX / 10 - 9) return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

char *rt_ckpt_kept_path(const char *dir, int64_t step) {
  char name[64];
  snprintf(name, sizeof name, KEPT_PREFIX "%08lld" KEPT_SUFFIX, (long long)step);
  return rt_path_join(dir, name);
}

static int desc(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

int rt_ckpt_kept(const char *dir, int64_t **steps) {
  *steps = NULL;
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int64_t s = kept_step(e->d_name);
    if (s < 0) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      int64_t *ns = realloc(*steps, sizeof *ns * (size_t)cap);
      if (!ns) break;
      *steps = ns;
    }
    (*steps)[n++] = s;
  }
  closedir(d);
  if (n > 0) qsort(*steps, (size_t)n, sizeof **steps, desc);
  return n;
}

static void remove_kept(const char *dir, int64_t step, const char *why) {
  char *p = rt_ckpt_kept_path(dir, step);
  if (p && unlink(p) != 0 && errno != ENOENT)
    rt_warn("%s: cannot remove (%s): %s", p, why, strerror(errno));
  free(p);
}

int rt_ckpt_keep(rt_run *r, const char *ckpt_path) {
  int keep = r->o.keep;
  const char *dir = r->o.train.out_dir;
  if (keep <= 1) return 0;
  char *p = rt_ckpt_kept_path(dir, r->step);
  if (!p) return -1;
  if (unlink(p) != 0 && errno != ENOENT) rt_warn("%s: cannot replace: %s", p, strerror(errno));
  int rc = 0;
  if (link(ckpt_path, p) != 0) {
    /* no hard links here (some network and FUSE file systems): a copy */
    if (rt_ckpt_save(r, p) != 0) {
      rt_warn("%s: could not keep this checkpoint; only %s holds step %lld", p, ckpt_path,
              (long long)r->step);
      rc = -1;
    }
  }
  free(p);
  int64_t *steps;
  int n = rt_ckpt_kept(dir, &steps), kept = 0;
  for (int i = 0; i < n; i++) {
    if (steps[i] > r->step) remove_kept(dir, steps[i], "a step of an abandoned run");
    else if (++kept > keep) remove_kept(dir, steps[i], "older than --keep");
  }
  free(steps);
  return rc;
}

static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

int rt_ckpt_resume(rt_run *r, const char *ckpt_path) {
  const char *dir = r->o.train.out_dir;
  int have_main = rt_file_exists(ckpt_path);
  if (have_main && rt_ckpt_load(r, ckpt_path) == 0) {
    if (!r->o.quiet) printf("resumed from %s at step %lld\n", ckpt_path, (long long)r->step);
    return 0;
  }
  int64_t *steps;
  int n = rt_ckpt_kept(dir, &steps), rc = -1, ntried = have_main;
  char *tried = NULL; /* the kept file that is the main one (one inode) */
  for (int i = 0; i < n && rc != 0; i++) {
    char *p = rt_ckpt_kept_path(dir, steps[i]);
    if (!p) break;
    if (have_main && same_file(p, ckpt_path)) {
      free(tried);
      tried = p;
      continue;
    }
    ntried++;
    if (rt_ckpt_load(r, p) == 0) {
      rc = 0;
      if (have_main)
        rt_warn("%s failed its checks (above); resuming from %s at step %lld, the newest "
                "kept checkpoint that verifies", ckpt_path, p, (long long)r->step);
      else
        rt_warn("%s is missing; resuming from %s at step %lld, the newest kept checkpoint "
                "that verifies", ckpt_path, p, (long long)r->step);
    }
    free(p);
  }
  free(tried);
  free(steps);
  if (rc != 0) {
    if (!have_main && n == 0)
      rt_err("%s: no checkpoint to resume from", ckpt_path);
    else
      rt_err("%s: no checkpoint in %s passes its checks (%d tried, reasons above); "
             "refusing to resume. `%s verify` checks each file; start fresh without --resume",
             ckpt_path, dir, ntried, rt_progname);
  }
  return rc;
}
