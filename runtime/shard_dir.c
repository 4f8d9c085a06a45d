/* runtime/shard_dir.c -- a directory of token shards as one data source
 * (`shards("dir", ...)`), and the token count of a data source that the
 * compiler checks a recipe's window against before anything runs.
 *
 * One idea: a directory is its shards concatenated in byte order of their
 * names (so "000.bin", "001.bin", ... read in the order they were written),
 * and every file in it must be a valid shard of the same token size: a stray
 * or truncated file is an error naming it, never silently skipped. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rt_internal.h"

int rt_is_dir(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted, hidden files ("." first) left out; NULL-ended.
 * Owned: free each name and the array. NULL after a message. */
static char **list_dir(const char *dir, int *count) {
  DIR *dp = opendir(dir);
  if (!dp) {
    rt_err("%s: cannot open the shard directory: %s", dir, strerror(errno));
    return NULL;
  }
  char **names = NULL;
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(dp))) {
    if (e->d_name[0] == '.') continue;
    if (n + 1 >= cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = realloc(names, (size_t)cap * sizeof *nn);
      if (!nn) goto oom;
      names = nn;
    }
    if (!(names[n] = strdup(e->d_name))) goto oom;
    n++;
  }
  closedir(dp);
  if (!names && !(names = calloc(1, sizeof *names))) goto oom_closed;
  names[n] = NULL;
  qsort(names, (size_t)n, sizeof *names, by_name);
  *count = n;
  return names;
oom:
  closedir(dp);
oom_closed:
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  rt_err("%s: out of memory listing the shard directory", dir);
  return NULL;
}

static void free_names(char **names) {
  for (int i = 0; names && names[i]; i++) free(names[i]);
  free(names);
}

int rt_shard_dir_load(const char *dir, int vocab, unsigned char **buf, int *elem, int64_t *n) {
  *buf = NULL;
  *elem = 0;
  *n = 0;
  int count = 0, rc = -1;
  char **names = list_dir(dir, &count);
  if (!names) return -1;
  if (count == 0) {
    rt_err("%s: the shard directory holds no shards (make them with `ftc data text2shards`)",
           dir);
    free_names(names);
    return -1;
  }
  unsigned char *out = NULL;
  int64_t have = 0;
  for (int i = 0; i < count; i++) {
    char *path = rt_path_join(dir, names[i]);
    unsigned char *fb = NULL;
    int64_t fn = 0, cnt = 0;
    int e = 0;
    const unsigned char *tok;
    int ok = path && rt_read_file(path, &fb, &fn) == 0 &&
             rt_shard_parse(path, fb, fn, vocab, &tok, &e, &cnt) == 0;
    if (ok && *elem && e != *elem) {
      rt_err("%s: %d-byte tokens, but the shards before it in %s have %d-byte tokens "
             "(write them all with the same --dtype)", path, e, dir, *elem);
      ok = 0;
    }
    unsigned char *grown = ok ? realloc(out, (size_t)((have + cnt) * e) + 1) : NULL;
    if (ok && !grown) rt_err("%s: out of memory reading the shards", dir);
    if (grown) {
      out = grown;
      memcpy(out + have * e, tok, (size_t)(cnt * e));
      have += cnt;
      *elem = e;
    }
    free(fb);
    free(path);
    if (!grown) goto done;
  }
  *buf = out;
  *n = have;
  out = NULL;
  rc = 0;
done:
  free(out);
  free_names(names);
  return rc;
}

/* Header-only count of one shard; -1 when it is not one. */
static int64_t shard_count(const char *path) {
  unsigned char h[RT_SHARD_HEADER];
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t got = fread(h, 1, sizeof h, f);
  fclose(f);
  if (got != sizeof h || memcmp(h, RT_SHARD_MAGIC, 8) != 0) return -1;
  uint64_t c = 0;
  for (int i = 7; i >= 0; i--) c = c << 8 | h[16 + i];
  return c > (uint64_t)INT64_MAX ? -1 : (int64_t)c;
}

int64_t rt_data_count(int shards, const char *path) {
  struct stat st;
  if (!path || stat(path, &st) != 0) return -1;
  if (!shards) return S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
  if (!S_ISDIR(st.st_mode)) return shard_count(path);
  DIR *dp = opendir(path);
  if (!dp) return -1;
  int64_t total = 0;
  struct dirent *e;
  while ((e = readdir(dp)) && total >= 0) {
    if (e->d_name[0] == '.') continue;
    char *p = malloc(strlen(path) + strlen(e->d_name) + 2);
    if (!p) {
      total = -1;
      break;
    }
    sprintf(p, "%s/%s", path, e->d_name);
    int64_t c = shard_count(p);
    free(p);
    total = c < 0 ? -1 : total + c;
  }
  closedir(dp);
  return total;
}

int64_t rt_data_needed(int seq, double split) {
  if (!(split > 0 && split <= 1)) split = 1;
  int64_t n = (int64_t)((double)(seq + 1) / split);
  while ((int64_t)((double)n * split) < (int64_t)seq + 1) n++;
  while (n > 0 && (int64_t)((double)(n - 1) * split) >= (int64_t)seq + 1) n--;
  return n;
}
