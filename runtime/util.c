/* runtime/util.c -- messages, checked file helpers and the seeded RNG.
 *
 * One idea: the RNG is splitmix64, one 64-bit word of state, so the exact
 * position of every random stream (weights init, data sampling, sampling)
 * can be saved in a checkpoint as a single number and restored bitwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rt_internal.h"

const char *rt_progname = "trainer";

static void vmsg(const char *kind, const char *fmt, va_list ap) {
  fflush(stdout);
  fprintf(stderr, "%s: %s: ", rt_progname, kind);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void rt_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg("error", fmt, ap);
  va_end(ap);
}

void rt_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg("warning", fmt, ap);
  va_end(ap);
}

void *rt_xmalloc(size_t n, const char *what) {
  void *p = malloc(n ? n : 1);
  if (!p) rt_err("out of memory allocating %zu bytes for %s", n, what);
  return p;
}

void *rt_xcalloc(size_t n, size_t size, const char *what) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) rt_err("out of memory allocating %zu x %zu bytes for %s", n, size, what);
  return p;
}

int rt_read_file(const char *path, unsigned char **buf, int64_t *n) {
  *buf = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    rt_err("%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    rt_err("%s: not a regular file", path);
    fclose(f);
    return -1;
  }
  unsigned char *b = rt_xmalloc((size_t)st.st_size + 1, path);
  if (!b) {
    fclose(f);
    return -1;
  }
  size_t got = fread(b, 1, (size_t)st.st_size, f);
  if (got != (size_t)st.st_size || ferror(f)) {
    rt_err("%s: read failed (%zu of %lld bytes)", path, got, (long long)st.st_size);
    free(b);
    fclose(f);
    return -1;
  }
  fclose(f);
  b[got] = 0;
  *buf = b;
  *n = (int64_t)got;
  return 0;
}

int rt_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int rt_mkdir_p(const char *dir) {
  char *p = rt_xmalloc(strlen(dir) + 1, "path");
  if (!p) return -1;
  strcpy(p, dir);
  for (char *s = p + 1;; s++) {
    char c = *s;
    if (c == '/' || c == 0) {
      *s = 0;
      if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        rt_err("%s: cannot create directory: %s", p, strerror(errno));
        free(p);
        return -1;
      }
      *s = c;
      if (!c) break;
    }
  }
  struct stat st;
  int ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
  if (!ok) rt_err("%s: not a directory", dir);
  free(p);
  return ok ? 0 : -1;
}

char *rt_path_join(const char *dir, const char *file) {
  size_t a = strlen(dir), b = strlen(file);
  char *p = rt_xmalloc(a + b + 2, "path");
  if (!p) return NULL;
  memcpy(p, dir, a);
  size_t k = a;
  if (a && dir[a - 1] != '/') p[k++] = '/';
  memcpy(p + k, file, b + 1);
  return p;
}

double rt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t rt_dtype_size(rt_dtype d) { return d == RT_F64 ? 8 : 4; }

void rt_rng_seed(rt_rng *r, uint64_t seed) { r->s = seed; }

uint64_t rt_rng_next(rt_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double rt_rng_uniform(rt_rng *r) {
  return (double)(rt_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double rt_rng_normal(rt_rng *r) {
  /* 1 - u lies in (0, 1], so the log is finite. */
  double u1 = 1.0 - rt_rng_uniform(r), u2 = rt_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t rt_hash_str(const char *s, uint64_t h) {
  if (!h) h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}
