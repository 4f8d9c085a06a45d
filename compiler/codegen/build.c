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
#include "cuda_build.h"

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

/* Starts the C compiler in dir; returns its pid, or -1. */
static pid_t start_cc(char **argv, const char *dir) {
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
  return pid;
}

static int wait_cc(pid_t pid, const char *cc) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      fprintf(stderr, "ftc: waiting for the C compiler: %s\n", strerror(errno));
      return -1;
    }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (WIFEXITED(st))
    fprintf(stderr, "ftc: the C compiler '%s' failed (exit %d)\n", cc, WEXITSTATUS(st));
  else
    fprintf(stderr, "ftc: the C compiler '%s' was killed (signal %d)\n", cc,
            WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return -1;
}

/* An object's cache key: the compile command, the source, every header it
 * may include (the generated ones beside it and the runtime's), the
 * compiler binary's identity and ftc's version. */
static void object_key(char **argv, int n, const char *dir, const char *inc, const char *src,
                       char out[80]) {
  static const char *const headers[] = {"kernel_args.h", "kernels.cu", NULL};
  static const char *const rt[] = {"ftrt.h", "kernels.h", "ftdev.h", "cuda_emu.h", NULL};
  Sha256 h;
  char path[PATH_MAX + 64], hex[65];
  sha256_init(&h);
  sha256_add(&h, FTC_VERSION, sizeof FTC_VERSION);
  for (int i = 0; i < n; i++)
    if (strncmp(argv[i], "-ffile-prefix-map=", 18)) sha256_add(&h, argv[i], strlen(argv[i]) + 1);
  /* the compiler itself: its resolved path's size and time */
  const char *p = getenv("PATH");
  for (const char *s = p; s && *s && !strchr(argv[0], '/');) {
    const char *e = strchr(s, ':');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    struct stat st;
    snprintf(path, sizeof path, "%.*s/%s", (int)len, s, argv[0]);
    if (stat(path, &st) == 0) {
      sha256_add(&h, &st.st_size, sizeof st.st_size);
      sha256_add(&h, &st.st_mtime, sizeof st.st_mtime);
      break;
    }
    s = e ? e + 1 : s + len;
  }
  const char *const *lists[2] = {headers, rt};
  const char *dirs[2] = {dir, inc};
  for (int l = 0; l < 2; l++)
    for (const char *const *f = lists[l]; *f; f++) {
      size_t len = 0;
      snprintf(path, sizeof path, "%s/%s", dirs[l], *f);
      char *t = cache_read(path, &len);
      sha256_add(&h, *f, strlen(*f) + 1);
      if (t) sha256_add(&h, t, len);
      free(t);
    }
  snprintf(path, sizeof path, "%s/%s", dir, src);
  size_t len = 0;
  char *t = cache_read(path, &len);
  if (t) sha256_add(&h, t, len);
  free(t);
  sha256_hex(&h, hex);
  snprintf(out, 80, "%s.o", hex);
}

static int from_cache(const char *cache, const char *key, const char *dir, const char *obj) {
  char path[2 * PATH_MAX];
  size_t n = 0;
  snprintf(path, sizeof path, "%s/%s", cache, key);
  char *t = cache_read(path, &n);
  if (!t) return -1;
  snprintf(path, sizeof path, "%s/%s", dir, obj);
  int rc = cache_write(path, t, n);
  free(t);
  return rc;
}

static void to_cache(const char *cache, const char *key, const char *dir, const char *obj) {
  char path[2 * PATH_MAX];
  size_t n = 0;
  snprintf(path, sizeof path, "%s/%s", dir, obj);
  char *t = cache_read(path, &n);
  if (!t) return;
  snprintf(path, sizeof path, "%s/%s", cache, key);
  cache_write(path, t, n); /* best effort */
  free(t);
}

/* The files a build writes into its temp directory (removed after). */
typedef struct Files {
  char path[16][PATH_MAX + 32];
  int n;
} Files;

static int put_file(Files *f, const char *dir, const char *name, const char *text, size_t len) {
  if (f->n == 16) return -1;
  snprintf(f->path[f->n], sizeof f->path[0], "%s/%s", dir, name);
  if (write_file(f->path[f->n], text, len) < 0) return -1;
  f->n++;
  return 0;
}

/* The CUDA step: kernels.cu (NVRTC'd to images), kernel_args.h, emu.c and
 * device.c in dir. Returns 1 = written, 0 = no device code (why_not says
 * why, for the trainer's --device error; a message said so when one was
 * due), -1 = error. A graph with an op the CUDA generator cannot emit yet
 * is an error when --arch asked for device code, else a warning and a
 * CPU-only trainer: never a device step that computes something else. */
static int device_files(const Drv *d, const BuildOpts *bo, const char *dir, Files *files,
                        char *why_not, size_t cap) {
  int arch[8];
  const char *want = bo->arch ? bo->arch : getenv("FTC_ARCH");
  if (!want || !*want) want = HAVE_CUDA ? "sm_90" : "none";
  int narch = nvrtc_parse_archs(want, arch, 8);
  if (narch < 0) return -1;
  snprintf(why_not, cap, HAVE_CUDA ? "it was built with --arch none"
                                   : "its ftc was configured without the CUDA toolkit");
  if (narch == 0) return 0;
  if (!HAVE_CUDA && bo->arch) {
    fprintf(stderr, "ftc build: --arch %s: this ftc was configured without the CUDA toolkit "
                    "(./configure --with-cuda=DIR)\n", want);
    return -1;
  }
  if (!HAVE_CUDA) return 0;
  CuOut co;
  int rc = cg_cuda(d->g, &d->r, d->plan, &co);
  if (rc > 0 && bo->arch) {
    fprintf(stderr, "ftc build: error: --arch %s: %s; build without --arch (or with --arch "
                    "none) for a trainer that runs on --device cpu only\n", want, co.why);
    rc = -2;
  } else if (rc != 0) {
    fprintf(stderr, "ftc build: %s%s%s\n", rc > 0 ? "warning: " : "", co.why,
            rc > 0 ? ": this trainer runs on --device cpu only" : "");
  }
  if (rc > 0) snprintf(why_not, cap, "%s", co.why);
  if (rc != 0) {
    cu_out_free(&co);
    return rc > 0 ? 0 : rc == -2 ? -2 : -1;
  }
  CuImage img[16];
  NvrtcStats st = {0};
  int nimg = -1;
  if (bo->emit_cuda && write_file(bo->emit_cuda, co.module, strlen(co.module)) < 0) goto fail;
  if (put_file(files, dir, "kernels.cu", co.module, strlen(co.module)) < 0 ||
      put_file(files, dir, "kernel_args.h", co.args_h, strlen(co.args_h)) < 0 ||
      put_file(files, dir, "emu.c", co.emu, strlen(co.emu)) < 0)
    goto fail;
  nimg = nvrtc_compile(co.module, "kernels.cu", arch, narch, dir, img, 16, &st);
  if (nimg < 0) goto fail;
  for (int i = 0; i < nimg; i++) { /* for the cleanup */
    if (files->n == 16) goto fail;
    snprintf(files->path[files->n++], sizeof files->path[0], "%s/%s", dir, img[i].file);
  }
  char *dev = NULL;
  size_t dlen = 0;
  FILE *f = open_memstream(&dev, &dlen);
  if (!f) goto fail;
  int bad = cg_cuda_device_c(&co, img, nimg, f);
  if (fclose(f) != 0 || bad || put_file(files, dir, "device.c", dev, dlen) < 0) {
    free(dev);
    goto fail;
  }
  free(dev);
  if (getenv("FTC_BUILD_STATS"))
    fprintf(stderr, "ftc build: %d kernels, %d products; NVRTC %s: %d image%s compiled, %d cached "
                    "(%.2f s)\n", co.nkernels, co.ngemms, st.version, st.compiled,
            st.compiled == 1 ? "" : "s", st.cached, st.seconds);
  cu_out_free(&co);
  return 1;
fail:
  cu_out_free(&co);
  return -1;
}

int build_trainer(const Drv *d, const char *out, const BuildOpts *bo) {
  char *text = NULL, dir[PATH_MAX], absout[PATH_MAX];
  char lib[PATH_MAX], inc[PATH_MAX], incflag[PATH_MAX + 4], mapflag[2 * PATH_MAX + 32];
  char store[4096];
  size_t len = 0;
  int rc = EXIT_IO, made_dir = 0, keep = bo->keep;
  Files files = {.n = 0};
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
  if (bo->emit_c && write_file(bo->emit_c, text, len) < 0) goto done;

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
  if (put_file(&files, dir, "trainer.c", text, len) < 0) goto done;
  char why_not[1100], why_def[1200];
  int device = device_files(d, bo, dir, &files, why_not, sizeof why_not);
  if (device == -2) rc = EXIT_INPUT;
  if (device < 0) goto done;
  /* the reason a trainer has no CUDA step, for its --device error */
  size_t wl = (size_t)snprintf(why_def, sizeof why_def, "-DFTC_NO_DEVICE_WHY=\"");
  for (const char *w = why_not; *w && wl < sizeof why_def - 2; w++)
    if (*w != '"' && *w != '\\') why_def[wl++] = *w;
  why_def[wl++] = '"';
  why_def[wl] = 0;

  runtime_paths(lib, inc, sizeof lib);
  if (!exists(lib)) {
    fprintf(stderr, "ftc: the runtime library %s is missing (run make, or install ftc)\n", lib);
    goto done;
  }
  snprintf(incflag, sizeof incflag, "-I%s", inc);
  snprintf(mapflag, sizeof mapflag, "-ffile-prefix-map=%s=.", dir);
  const char *cc = getenv("FTC_CC");
  cc = cc && *cc ? cc : FTC_CC;
  /* each source to an object (cached, in parallel), then one link */
  const char *units[3] = {"trainer.c", "device.c", "emu.c"};
  const int nunits = device > 0 ? 3 : 1;
  char objcache[PATH_MAX], key[3][80];
  pid_t pid[3] = {-1, -1, -1};
  int bad = 0;
  cache_dir("objects", objcache, sizeof objcache);
  for (int u = 0; u < nunits; u++) {
    char *argv[MAXARGS], obj[32];
    int n = 0;
    n = split(cc, argv, n, MAXARGS - 20, store, 1024);
    /* the flags configure recorded: -O2, and the sanitizers in such builds
     * (the runtime library was compiled with them) */
    n = split(FTC_CFLAGS, argv, n, MAXARGS - 20, store + 1024, 1024);
    argv[n++] = incflag;
    argv[n++] = mapflag;
    argv[n++] = device > 0 ? "-DFTC_WITH_DEVICE" : why_def;
    argv[n++] = "-c";
    argv[n++] = (char *)units[u];
    snprintf(obj, sizeof obj, "%.*s.o", (int)strlen(units[u]) - 2, units[u]);
    argv[n++] = "-o";
    argv[n++] = obj;
    argv[n] = NULL;
    if (files.n == 16) goto done;
    snprintf(files.path[files.n++], sizeof files.path[0], "%s/%s", dir, obj);
    object_key(argv, n, dir, inc, units[u], key[u]);
    if (objcache[0] && from_cache(objcache, key[u], dir, obj) == 0) continue;
    pid[u] = start_cc(argv, dir);
    if (pid[u] < 0) bad = 1;
  }
  for (int u = 0; u < nunits; u++) {
    if (pid[u] < 0) continue;
    if (wait_cc(pid[u], cc) != 0) bad = 1;
    else if (objcache[0]) {
      char obj[32];
      snprintf(obj, sizeof obj, "%.*s.o", (int)strlen(units[u]) - 2, units[u]);
      to_cache(objcache, key[u], dir, obj);
    }
  }
  if (!bad) {
    char *argv[MAXARGS];
    int n = 0;
    n = split(cc, argv, n, MAXARGS - 20, store, 1024);
    n = split(FTC_CFLAGS, argv, n, MAXARGS - 20, store + 1024, 1024);
    for (int u = 0; u < nunits; u++) argv[n++] = strrchr(files.path[files.n - nunits + u], '/') + 1;
    argv[n++] = "-o";
    argv[n++] = absout;
    argv[n++] = lib;
    n = split(FTC_RT_LIBS, argv, n, MAXARGS - 1, store + 2048, sizeof store - 2048);
    argv[n] = NULL;
    pid_t lp = start_cc(argv, dir);
    bad = lp < 0 || wait_cc(lp, cc) != 0;
  }
  if (bad) {
    fprintf(stderr, "ftc: the generated source is kept in %s\n", dir);
    keep = 1;
    goto done;
  }
  rc = EXIT_OK;
done:
  if (made_dir) {
    if (keep) {
      if (rc == EXIT_OK) fprintf(stderr, "ftc: build directory kept: %s\n", dir);
    } else {
      for (int i = 0; i < files.n; i++)
        if (unlink(files.path[i]) != 0 && errno != ENOENT)
          fprintf(stderr, "ftc: cannot remove %s: %s\n", files.path[i], strerror(errno));
      if (rmdir(dir) != 0) fprintf(stderr, "ftc: cannot remove %s: %s\n", dir, strerror(errno));
    }
  }
  free(text);
  return rc;
}
