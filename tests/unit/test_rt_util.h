/* tests/unit/test_rt_util.h -- small helpers shared by the test_rt_*.c
 * runtime tests: a failure counter, temp directories, file helpers and a
 * way to call rt_main with a literal argument list. */
#ifndef FTC_TESTS_RT_UTIL_H
#define FTC_TESTS_RT_UTIL_H

#define _POSIX_C_SOURCE 200809L
#pragma GCC diagnostic ignored "-Wunused-function" /* each test uses a subset */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftrt.h"

#include "check.h"

static char tmp_root[256];

static void tmp_init(const char *name) {
  snprintf(tmp_root, sizeof tmp_root, "/tmp/%s.XXXXXX", name);
  if (!mkdtemp(tmp_root)) {
    perror("mkdtemp");
    exit(3);
  }
}

/* A path inside the temp dir; rotating static buffers. */
static const char *tp(const char *name) {
  static char buf[8][512];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_root, name);
  return buf[k];
}

static void tmp_cleanup(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  if (system(cmd) != 0) printf("warning: could not remove %s\n", tmp_root);
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(3);
  }
}

/* Whole file, owned; *n its size. NULL when missing. */
static unsigned char *slurp(const char *path, long *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)*n + 1);
  if (fread(b, 1, (size_t)*n, f) != (size_t)*n) *n = -1;
  fclose(f);
  b[*n > 0 ? *n : 0] = 0;
  return b;
}

static int same_file(const char *a, const char *b) {
  long na, nb;
  unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
  int same = x && y && na == nb && memcmp(x, y, (size_t)na) == 0;
  free(x);
  free(y);
  return same;
}

/* rt_main(m, "prog", args...) with a NULL-terminated list. */
static int run_main(const rt_model *m, ...) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = (char *)"trainer";
  va_list ap;
  va_start(ap, m);
  for (char *s; (s = va_arg(ap, char *)) != NULL && argc < 63;) argv[argc++] = s;
  va_end(ap);
  argv[argc] = NULL;
  fflush(stdout);
  return rt_main(m, argc, argv);
}

static int count_files_with(const char *dir, const char *needle) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, needle)) n++;
  closedir(d);
  return n;
}

#endif
