/* lang/load.c -- reading files and resolving `use`: stdlib modules and
 * relative paths, each file loaded once, cycles reported with their chain.
 *
 * One idea: files are keyed by their canonical path (realpath), and a file
 * is marked `loading` while its own uses are being resolved; meeting a file
 * that is still loading means the chain of uses has closed a cycle, and the
 * chain is exactly the stack of files being loaded.
 */
#define _DEFAULT_SOURCE /* realpath, readlink */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ps.h"

#define MAX_USE_DEPTH 64
#define MAX_FILE_SIZE ((size_t)64 << 20)

static Span no_span(void) {
  Span s = {0};
  return s;
}

static void report(AstCtx *c, const AstNode *at, const char *fmt, const char *a,
                   const char *b) {
  diag_at(c->diag, DIAG_ERROR, at ? at->span : no_span(), fmt, a, b);
}

/* Reads a whole file; on failure reports (at `at`, or without a position)
 * and returns NULL. The result is malloc'd. */
static char *read_all(AstCtx *c, const char *path, const AstNode *at, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    report(c, at, "cannot read '%s': %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (n == cap) {
      if (cap >= MAX_FILE_SIZE) {
        report(c, at, "cannot read '%s': %s", path, "file larger than 64 MiB");
        free(buf);
        fclose(f);
        return NULL;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) break;
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (!buf || ferror(f)) {
    report(c, at, "cannot read '%s': %s", path, buf ? strerror(errno) : "out of memory");
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *len = n;
  return buf;
}

static AstNode *empty_file(AstCtx *c, AstFileRec *r) {
  AstNode *n = ast_alloc(c, sizeof *n);
  n->kind = AST_FILE;
  n->span.file = r->src;
  n->span.line = n->span.col = n->span.end_line = n->span.end_col = 1;
  r->root = n;
  return n;
}

AstNode *ast_parse_file(AstCtx *c, const char *path) {
  size_t len = 0;
  char *text = read_all(c, path, NULL, &len);
  AstFileRec *r = ps_new_file(c, path, text ? text : "", text ? len : 0);
  free(text);
  if (!text) return empty_file(c, r);
  return ps_parse(c, r);
}

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int ftc_beside_exe(char *buf, size_t cap, const char *rel) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return -1;
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (!slash) return -1;
  *slash = 0;
  int k = snprintf(buf, cap, "%s/%s", exe, rel);
  return k > 0 && (size_t)k < cap ? 0 : -1;
}

/* The stdlib directory: the ctx's, FTC_STDLIB, next to the installed binary,
 * or the source tree's. */
static const char *stdlib_dir(AstCtx *c, char *buf, size_t size) {
  if (c->stdlib_dir) return c->stdlib_dir;
  const char *env = getenv("FTC_STDLIB");
  if (env && *env) return env;
  struct stat st;
  if (ftc_beside_exe(buf, size, "../share/ftc/stdlib") == 0 && stat(buf, &st) == 0 &&
      S_ISDIR(st.st_mode))
    return buf;
  return FTC_SRCDIR "/stdlib";
}

/* dir of `path` joined with `name` ("x.ft" when path has no directory). */
static void sibling(char *out, size_t size, const char *path, const char *name) {
  const char *slash = strrchr(path, '/');
  if (name[0] == '/' || !slash)
    snprintf(out, size, "%s", name);
  else
    snprintf(out, size, "%.*s/%s", (int)(slash - path), path, name);
}

static const char *module_name(AstCtx *c, const AstNode *use) {
  if (!use->str) return use->name;
  const char *base = strrchr(use->str, '/');
  base = base ? base + 1 : use->str;
  size_t n = strlen(base);
  if (n > 3 && !strcmp(base + n - 3, ".ft")) n -= 3;
  char *m = ast_alloc(c, n + 1);
  memcpy(m, base, n);
  return m;
}

static AstFileRec *load(AstCtx *c, const char *path, AstFileRec *from, const AstNode *use,
                        AstFileRec **stack, int depth);

/* "did you mean" for a missing module: the .ft files beside the using file
 * and in the stdlib, by name without .ft. */
static void suggest_module(AstCtx *c, const char *name, const char *beside, const char *stdlib) {
  char names[64][64];
  const char *cands[65];
  int n = 0;
  const char *dirs[2] = {beside, stdlib};
  for (int d = 0; d < 2; d++) {
    DIR *dp = opendir(dirs[d]);
    struct dirent *e;
    while (dp && n < 64 && (e = readdir(dp))) {
      size_t len = strlen(e->d_name);
      if (len < 4 || len > 60 || strcmp(e->d_name + len - 3, ".ft")) continue;
      memcpy(names[n], e->d_name, len - 3);
      names[n][len - 3] = 0;
      cands[n] = names[n];
      n++;
    }
    if (dp) closedir(dp);
  }
  cands[n] = NULL;
  const char *s = diag_suggest(name, cands);
  if (s) diag_at(c->diag, DIAG_NOTE, no_span(), "did you mean 'use %s'?", s);
}

static void load_uses(AstCtx *c, AstFileRec *r, AstFileRec **stack, int depth) {
  AstNode *root = r->root;
  for (int i = 0; i < root->nkids; i++) {
    AstNode *u = root->kids[i];
    if (u->kind != AST_USE || !u->name) continue;
    char path[PATH_MAX + 256], sd[PATH_MAX];
    if (u->str) {
      sibling(path, sizeof path, r->src->path, u->str);
    } else {
      char name[300];
      snprintf(name, sizeof name, "%s.ft", u->name);
      sibling(path, sizeof path, r->src->path, name);
      if (!file_exists(path)) {
        const char *dir = stdlib_dir(c, sd, sizeof sd);
        int k = snprintf(path, sizeof path, "%s/%s", dir, name);
        if (k < 0 || (size_t)k >= sizeof path || !file_exists(path)) {
          diag_at(c->diag, DIAG_ERROR, u->span,
                  "cannot find module '%s' (no %s next to this file or in the stdlib)", u->name,
                  name);
          char here[PATH_MAX];
          sibling(here, sizeof here, r->src->path, ".");
          suggest_module(c, u->name, here, dir);
          continue;
        }
      }
    }
    AstFileRec *m = load(c, path, r, u, stack, depth + 1);
    if (m && !m->modname) m->modname = module_name(c, u);
  }
}

static AstFileRec *load(AstCtx *c, const char *path, AstFileRec *from, const AstNode *use,
                        AstFileRec **stack, int depth) {
  char real[PATH_MAX];
  if (!realpath(path, real)) {
    report(c, use, "cannot read '%s': %s", path, strerror(errno));
    return NULL;
  }
  for (int i = 0; i < c->nfiles; i++) {
    AstFileRec *r = c->files[i];
    if (!r->key || strcmp(r->key, real)) continue;
    if (r->loading) {
      /* The chain: from the first file of the cycle down to `from`. */
      char chain[2048];
      size_t len = 0;
      int start = 0;
      while (start < depth && stack[start] != r) start++;
      for (int k = start; k < depth && len < sizeof chain; k++)
        len += (size_t)snprintf(chain + len, sizeof chain - len, "%s -> ", stack[k]->src->path);
      if (len < sizeof chain) snprintf(chain + len, sizeof chain - len, "%s", r->src->path);
      report(c, use, "use cycle: %s%s", chain, "");
      return NULL;
    }
    return r;
  }
  if (depth >= MAX_USE_DEPTH) {
    report(c, use, "uses nested more than %s levels deep at '%s'", "64", path);
    return NULL;
  }
  size_t len = 0;
  char *text = read_all(c, path, use, &len);
  if (!text) return NULL;
  AstFileRec *r = ps_new_file(c, path, text, len);
  free(text);
  r->key = ast_strdup(c, real);
  if (from) {
    r->src->included_from = from->src;
    r->src->include_line = use->span.line;
    r->src->include_col = use->span.col;
  }
  r->loading = 1;
  stack[depth] = r;
  ps_parse(c, r);
  load_uses(c, r, stack, depth);
  r->loading = 0;
  return r;
}

AstNode *ast_load(AstCtx *c, const char *path) {
  AstFileRec *stack[MAX_USE_DEPTH + 1];
  AstFileRec *r = load(c, path, NULL, NULL, stack, 0);
  if (r) return r->root;
  return empty_file(c, ps_new_file(c, path, "", 0));
}

AstNode *ast_module(AstCtx *c, const char *name) {
  for (int i = 0; i < c->nfiles; i++)
    if (c->files[i]->modname && !strcmp(c->files[i]->modname, name)) return c->files[i]->root;
  return NULL;
}
