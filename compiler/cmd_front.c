/* compiler/cmd_front.c -- the front-end subcommands: `ftc check`, `ftc fmt`
 * and `ftc ast` (exit codes in cmd.h: 0 ok, 1 input errors, 2 usage, 3 I/O).
 *
 * One idea: these commands are thin -- lang/ does the work -- but fmt never
 * writes a file it cannot prove equivalent: the formatted text is parsed
 * again and its tree compared with the original before anything is written.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream, fileno, fsync */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ast.h"
#include "cmd.h"
#include "driver.h"

/* The compiler's pass registry as signatures (compiler/pass.c). This weak
 * default lets the front-end link without it; lang's own table is used then. */
__attribute__((weak)) const AstSig *ftc_pass_sigs(void) { return NULL; }
int pass_load_plugin(const char *path); /* compiler/plugin.c */


static int readable(const char *cmd, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "ftc %s: cannot read '%s': %s\n", cmd, path, strerror(errno));
    return 0;
  }
  fclose(f);
  return 1;
}

/* ---- ftc check ------------------------------------------------------------ */

static void check_usage(FILE *out) {
  fprintf(out,
          "usage: ftc check [--max-errors N] [--plugin P.so]... FILE.ft\n\n"
          "Parses FILE.ft and every file it uses, checks names, arguments, types,\n"
          "duplicate definitions, train settings and passes (--plugin: also a pass\n"
          "plugin's), then elaborates the model and runs the passes and the plan,\n"
          "so anything `ftc plan` rejects is reported here with the same message.\n"
          "Needs no data file. Warns about settings that are legal but almost\n"
          "surely wrong and about named data or weights files that do not exist.\n"
          "A library of models (no model, data or train) gets the name checks.\n"
          "Diagnostics go to stderr as FILE:LINE:COL: error|warning: MESSAGE.\n\n"
          "exit codes: 0 valid, 1 errors reported, 2 usage error, 3 unreadable file\n");
}

int cmd_check(int argc, char **argv) {
  const char *path = NULL;
  int max_errors = 20;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      check_usage(stdout);
      return EXIT_OK;
    } else if (!strcmp(argv[i], "--max-errors") && i + 1 < argc) {
      max_errors = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--plugin") && i + 1 < argc) {
      if (pass_load_plugin(argv[++i]) < 0) return EXIT_INPUT;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      cmd_unknown_option("check", argv[i], "--max-errors --plugin --help");
      check_usage(stderr);
      return EXIT_USAGE;
    } else if (path) {
      fprintf(stderr, "ftc check: one file at a time\n");
      return EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    check_usage(stderr);
    return EXIT_USAGE;
  }
  if (!readable("check", path)) return EXIT_IO;
  /* the whole pipeline `ftc plan` runs, so check finds what plan rejects
   * with the same diagnostic (driver.c, DRV_CHECK) */
  DrvOpts o = {.path = path, .stop = DRV_CHECK, .dtype_override = -1,
               .max_errors = max_errors > 0 ? max_errors : 20};
  Drv d;
  int rc = drv_compile(&o, &d);
  drv_free(&d);
  return rc;
}

/* ---- ftc fmt ---------------------------------------------------------------- */

static void fmt_usage(FILE *out) {
  fprintf(out,
          "usage: ftc fmt [-w] [--check] FILE.ft...\n\n"
          "Prints each file in canonical layout (two-space indent, one construct\n"
          "per line, canonical spacing, comments kept, at most one blank line).\n"
          "  -w        rewrite the files in place (only those that change)\n"
          "  --check   print the names of files that are not canonical; change nothing\n\n"
          "exit codes: 0 ok (--check: all canonical), 1 syntax errors or (--check)\n"
          "some file would change, 2 usage error, 3 I/O error\n");
}

/* Text of the tree without spans: two trees with equal shapes mean the same. */
static char *shape_of(const AstNode *n) {
  char *s = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&s, &len);
  if (!m) return NULL;
  ast_dump_shape(n, m);
  fclose(m);
  return s;
}

static int write_file(const char *path, const char *text, size_t len) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16);
  if (!tmp) return -1;
  snprintf(tmp, plen + 16, "%s.fmt-tmp", path);
  FILE *f = fopen(tmp, "wb");
  int ok = f && fwrite(text, 1, len, f) == len;
  if (f) ok = (fflush(f) == 0) && (fsync(fileno(f)) == 0) && ok;
  if (f && fclose(f) != 0) ok = 0;
  if (ok && rename(tmp, path) != 0) ok = 0;
  if (!ok) {
    fprintf(stderr, "ftc fmt: cannot write '%s': %s\n", path, strerror(errno));
    remove(tmp);
  }
  free(tmp);
  return ok ? 0 : -1;
}

/* 0 unchanged, 1 changed (or would change), -1 input errors, -2 I/O. */
static int fmt_one(const char *path, int write, int check) {
  if (!readable("fmt", path)) return -2;
  Diag *d = diag_new(stderr, 20);
  AstCtx *c = ast_ctx_new(d, NULL);
  AstNode *root = ast_parse_file(c, path);
  int rc = 0;
  char *out = NULL, *s1 = NULL, *s2 = NULL;
  size_t outlen = 0;
  if (diag_errors(d)) {
    rc = -1;
    goto done;
  }
  FILE *m = open_memstream(&out, &outlen);
  if (!m) {
    rc = -2;
    goto done;
  }
  ast_format(c, root, m);
  fclose(m);
  /* Prove the layout kept the meaning before showing or writing it. */
  AstNode *again = ast_parse_string(c, path, out, outlen);
  s1 = shape_of(root);
  s2 = shape_of(again);
  if (diag_errors(d) || !s1 || !s2 || strcmp(s1, s2)) {
    fprintf(stderr, "ftc fmt: internal error: formatting '%s' would change its meaning; "
                    "nothing written\n", path);
    rc = -2;
    goto done;
  }
  const SrcFile *src = root->span.file;
  int changed = src->len != outlen || memcmp(src->text, out, outlen) != 0;
  rc = changed;
  if (check) {
    if (changed) printf("%s\n", path);
  } else if (write) {
    if (changed && write_file(path, out, outlen) < 0) rc = -2;
  } else {
    fwrite(out, 1, outlen, stdout);
  }
done:
  free(out);
  free(s1);
  free(s2);
  ast_ctx_free(c);
  diag_free(d);
  return rc;
}

int cmd_fmt(int argc, char **argv) {
  int write = 0, check = 0, nfiles = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fmt_usage(stdout);
      return EXIT_OK;
    } else if (!strcmp(argv[i], "-w")) {
      write = 1;
    } else if (!strcmp(argv[i], "--check")) {
      check = 1;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      cmd_unknown_option("fmt", argv[i], "-w --check --help");
      fmt_usage(stderr);
      return EXIT_USAGE;
    } else {
      nfiles++;
    }
  }
  if (!nfiles || (write && check)) {
    if (write && check) fprintf(stderr, "ftc fmt: -w and --check exclude each other\n");
    fmt_usage(stderr);
    return EXIT_USAGE;
  }
  int rc = EXIT_OK;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1]) continue;
    int r = fmt_one(argv[i], write, check);
    if (r == -2) rc = EXIT_IO;
    else if (r == -1 && rc == EXIT_OK) rc = EXIT_INPUT;
    else if (r == 1 && check && rc == EXIT_OK) rc = EXIT_INPUT;
  }
  return rc;
}

/* ---- ftc ast ---------------------------------------------------------------- */

static void ast_usage(FILE *out) {
  fprintf(out,
          "usage: ftc ast [--no-spans] FILE.ft\n\n"
          "Prints the syntax tree of FILE.ft (uses are not followed), one node per\n"
          "line: KIND [name] [literal] LINE:COL-LINE:COL, indented by depth; '-'\n"
          "marks an empty optional child.\n\n"
          "exit codes: 0 ok, 1 syntax errors (the tree is still printed), 2 usage,\n"
          "3 unreadable file\n");
}

int cmd_ast(int argc, char **argv) {
  const char *path = NULL;
  int spans = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      ast_usage(stdout);
      return EXIT_OK;
    } else if (!strcmp(argv[i], "--no-spans")) {
      spans = 0;
    } else if ((argv[i][0] == '-' && argv[i][1]) || path) {
      fprintf(stderr, "ftc ast: unexpected argument '%s'\n", argv[i]);
      ast_usage(stderr);
      return EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    ast_usage(stderr);
    return EXIT_USAGE;
  }
  if (!readable("ast", path)) return EXIT_IO;
  Diag *d = diag_new(stderr, 20);
  AstCtx *c = ast_ctx_new(d, NULL);
  AstNode *root = ast_parse_file(c, path);
  if (spans) ast_dump(root, stdout);
  else ast_dump_shape(root, stdout);
  int errors = diag_errors(d);
  ast_ctx_free(c);
  diag_free(d);
  return errors ? EXIT_INPUT : EXIT_OK;
}
