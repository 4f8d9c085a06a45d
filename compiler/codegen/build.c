/* compiler/codegen/build.c -- `ftc build`: generated C -> a linked trainer binary.
 *
 * One idea: reproducibility comes from giving the C compiler nothing that
 * varies. The source is written as "trainer.c" in a fresh temp directory
 * and compiled from inside it (and with -ffile-prefix-map), so neither the
 * random directory name nor the time reaches the binary: the same recipe
 * and compiler give the same bytes. The runtime comes from the install
 * (<bin>/../lib/libftrt.a, <bin>/../include/ftc) when ftc is installed, or
 * from the build tree it was configured in.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../back.h"
#include "../cmd.h"
#include "config.h"
#include "../driver.h"

#define MAXARGS 96

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* Runtime library and header directory (see the head comment). */
static void runtime_paths(char *lib, char *inc, size_t cap) {
  if (ftc_beside_exe(lib, cap, "../lib/libftrt.a") == 0 &&
      ftc_beside_exe(inc, cap, "../include/ftc") == 0 && exists(lib))
    return;
  const char *bd = getenv("FTC_BUILDDIR");
  snprintf(lib, cap, "%s/libftrt.a", bd && *bd ? bd : FTC_BUILDDIR);
  snprintf(inc, cap, "%s/runtime", FTC_SRCDIR);
}

/* Splits `s` on blanks into argv (copies into `store`). */
static int split(const char *s, char **argv, int n, int max, char *store, size_t cap) {
  size_t k = 0;
  while (*s && n < max) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) break;
    argv[n++] = store + k;
    while (*s && *s != ' ' && *s != '\t' && k + 1 < cap) store[k++] = *s++;
    if (k + 1 >= cap) break;
    store[k++] = 0;
  }
  return n;
}

static int write_file(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "ftc: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  int bad = fwrite(text, 1, len, f) != len;
  if (fclose(f) != 0) bad = 1;
  if (bad) {
    fprintf(stderr, "ftc: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

static int run_cc(char **argv, const char *dir) {
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "ftc: cannot start the C compiler: %s\n", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    if (chdir(dir) != 0) {
      fprintf(stderr, "ftc: cannot enter %s: %s\n", dir, strerror(errno));
      _exit(127);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "ftc: cannot run the C compiler '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      fprintf(stderr, "ftc: waiting for the C compiler: %s\n", strerror(errno));
      return -1;
    }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (WIFEXITED(st))
    fprintf(stderr, "ftc: the C compiler '%s' failed (exit %d)\n", argv[0], WEXITSTATUS(st));
  else
    fprintf(stderr, "ftc: the C compiler '%s' was killed (signal %d)\n", argv[0],
            WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return -1;
}

int build_trainer(const Drv *d, const char *out, const char *emit_c, int keep) {
  char *text = NULL, dir[PATH_MAX], src[PATH_MAX + 16], absout[PATH_MAX];
  char lib[PATH_MAX], inc[PATH_MAX], incflag[PATH_MAX + 4], mapflag[2 * PATH_MAX + 32];
  char store[4096];
  size_t len = 0;
  int rc = EXIT_IO, made_dir = 0;
  FILE *m = open_memstream(&text, &len);
  if (!m) {
    fprintf(stderr, "ftc: out of memory\n");
    return EXIT_IO;
  }
  int cg = cg_c_trainer(d->g, &d->r, d->plan, m);
  if (fclose(m) != 0 || cg != 0) {
    fprintf(stderr, "ftc: code generation failed\n");
    goto done;
  }
  if (emit_c && write_file(emit_c, text, len) < 0) goto done;

  /* absolute output path: the compiler runs in the temp directory */
  if (out[0] == '/') {
    snprintf(absout, sizeof absout, "%s", out);
  } else {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
      fprintf(stderr, "ftc: cannot get the current directory: %s\n", strerror(errno));
      goto done;
    }
    if ((size_t)snprintf(absout, sizeof absout, "%s/%s", cwd, out) >= sizeof absout) {
      fprintf(stderr, "ftc: output path too long: %s\n", out);
      goto done;
    }
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/ftc-build-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    fprintf(stderr, "ftc: cannot create a temp directory %s: %s\n", dir, strerror(errno));
    goto done;
  }
  made_dir = 1;
  snprintf(src, sizeof src, "%s/trainer.c", dir);
  if (write_file(src, text, len) < 0) goto done;

  runtime_paths(lib, inc, sizeof lib);
  if (!exists(lib)) {
    fprintf(stderr, "ftc: the runtime library %s is missing (run make, or install ftc)\n", lib);
    goto done;
  }
  snprintf(incflag, sizeof incflag, "-I%s", inc);
  snprintf(mapflag, sizeof mapflag, "-ffile-prefix-map=%s=.", dir);
  char *argv[MAXARGS];
  int n = 0;
  const char *cc = getenv("FTC_CC");
  n = split(cc && *cc ? cc : FTC_CC, argv, n, MAXARGS - 16, store, 1024);
  /* the flags configure recorded: -O2, and the sanitizers in such builds
   * (the runtime library was compiled with them) */
  n = split(FTC_CFLAGS, argv, n, MAXARGS - 16, store + 1024, 1024);
  argv[n++] = incflag;
  argv[n++] = mapflag;
  argv[n++] = "trainer.c";
  argv[n++] = "-o";
  argv[n++] = absout;
  argv[n++] = lib;
  n = split(FTC_RT_LIBS, argv, n, MAXARGS - 1, store + 2048, sizeof store - 2048);
  argv[n] = NULL;
  if (run_cc(argv, dir) < 0) {
    fprintf(stderr, "ftc: the generated source is kept in %s\n", src);
    keep = 1;
    goto done;
  }
  rc = EXIT_OK;
done:
  if (made_dir) {
    if (keep) {
      if (rc == EXIT_OK) fprintf(stderr, "ftc: build directory kept: %s\n", dir);
    } else {
      if (unlink(src) != 0 && errno != ENOENT)
        fprintf(stderr, "ftc: cannot remove %s: %s\n", src, strerror(errno));
      if (rmdir(dir) != 0) fprintf(stderr, "ftc: cannot remove %s: %s\n", dir, strerror(errno));
    }
  }
  free(text);
  return rc;
}
