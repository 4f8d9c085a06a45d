/* compiler/codegen/nvrtc.c -- the generated kernel module through NVRTC,
 * one image per GPU architecture, with a kernel cache.
 *
 * One idea: a compiled image is a pure function of (module text, target,
 * NVRTC version, options), so it is cached under the SHA-256 of exactly
 * those: a rebuild with unchanged kernels reads files instead of running
 * the compiler, and a changed kernel, NVRTC or option can never reuse a
 * stale image. The architectures compile in parallel (NVRTC is thread
 * safe for separate programs). NVRTC itself is loaded at run time
 * (runtime/cuda_load.c), like the driver in the trainer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/cuda_api.h"
#include "cuda_build.h"

/* ---- architectures ------------------------------------------------------------- */
int nvrtc_parse_archs(const char *s, int *arch, int max) {
  if (!strcmp(s, "none")) return 0;
  int n = 0;
  for (const char *p = s; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char one[32];
    int v = 0;
    char *end = NULL;
    if (len > 3 && len < sizeof one) {
      memcpy(one, p, len);
      one[len] = 0;
      if (!strncmp(one, "sm_", 3)) v = (int)strtol(one + 3, &end, 10);
    }
    if (!end || *end || v < 75 || v > 200) {
      fprintf(stderr,
              "ftc build: --arch takes sm_NN[,sm_NN...] with NN >= 75 (e.g. sm_80,sm_90) "
              "or none; '%.*s' is not one\n",
              (int)len, p);
      return -1;
    }
    int dup = 0;
    for (int i = 0; i < n; i++) dup |= arch[i] == v;
    if (!dup) {
      if (n == max) {
        fprintf(stderr, "ftc build: --arch names more than %d architectures\n", max);
        return -1;
      }
      int i = n++;
      while (i > 0 && arch[i - 1] > v) {
        arch[i] = arch[i - 1];
        i--;
      }
      arch[i] = v;
    }
    p = e ? e + 1 : p + len;
  }
  if (n == 0) {
    fprintf(stderr, "ftc build: --arch is empty\n");
    return -1;
  }
  return n;
}

/* ---- one architecture ---------------------------------------------------------- */
typedef struct Job {
  const rt_nvrtc_api *nv;
  const char *module, *name, *dir, *cache;
  char version[32];
  int arch, ptx; /* ptx: also the compute_ PTX of this arch */
  CuImage img[2];
  int nimg, rc, cached;
  char *log;
} Job;

#define NVRTC_OPTS "--std=c++17 -lineinfo"

static int put(Job *j, const char *file, const char *key, const void *data, size_t n, int arch) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", j->dir, file);
  if (cache_write(path, data, n) != 0) {
    fprintf(stderr, "ftc: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (key && j->cache[0]) {
    snprintf(path, sizeof path, "%s/%s", j->cache, key);
    cache_write(path, data, n); /* best effort: a full disk only costs a recompile */
  }
  CuImage *im = &j->img[j->nimg++];
  im->arch = arch;
  snprintf(im->file, sizeof im->file, "%s", file);
  im->size = (int64_t)n;
  return 0;
}

static void key_of(const Job *j, const char *kind, char *out, size_t n) {
  Sha256 s;
  char hex[65];
  sha256_init(&s);
  sha256_add(&s, j->module, strlen(j->module));
  sha256_add(&s, "\0", 1);
  sha256_add(&s, j->version, strlen(j->version));
  sha256_add(&s, "\0" NVRTC_OPTS, sizeof NVRTC_OPTS);
  sha256_hex(&s, hex);
  snprintf(out, n, "%s-%s_%d.%s", hex, kind, j->arch, !strcmp(kind, "sm") ? "cubin" : "ptx");
}

static void *compile_one(void *arg) {
  Job *j = arg;
  char ck[160], pk[160], cf[64], pf[64];
  key_of(j, "sm", ck, sizeof ck);
  key_of(j, "compute", pk, sizeof pk);
  snprintf(cf, sizeof cf, "sm_%d.cubin", j->arch);
  snprintf(pf, sizeof pf, "compute_%d.ptx", j->arch);
  j->rc = -1;
  if (j->cache[0]) { /* both from the cache, or compile */
    char p1[4200], p2[4200];
    size_t n1 = 0, n2 = 0;
    snprintf(p1, sizeof p1, "%s/%s", j->cache, ck);
    snprintf(p2, sizeof p2, "%s/%s", j->cache, pk);
    char *b1 = cache_read(p1, &n1), *b2 = j->ptx ? cache_read(p2, &n2) : NULL;
    if (b1 && n1 > 0 && (!j->ptx || (b2 && n2 > 0))) {
      int bad = put(j, cf, NULL, b1, n1, j->arch) || (j->ptx && put(j, pf, NULL, b2, n2, -j->arch));
      free(b1);
      free(b2);
      j->cached = 1;
      j->rc = bad ? -1 : 0;
      return NULL;
    }
    free(b1);
    free(b2);
  }
  rt_nvrtcProgram prog;
  if (j->nv->nvrtcCreateProgram(&prog, j->module, j->name, 0, NULL, NULL) != 0) {
    j->log = strdup("nvrtcCreateProgram failed");
    return NULL;
  }
  char archopt[32];
  snprintf(archopt, sizeof archopt, "-arch=sm_%d", j->arch);
  const char *opts[] = {archopt, "--std=c++17", "-lineinfo"};
  rt_nvrtcResult r = j->nv->nvrtcCompileProgram(prog, 3, opts);
  size_t ls = 0;
  j->nv->nvrtcGetProgramLogSize(prog, &ls);
  if (ls > 1 && (j->log = malloc(ls)) != NULL) j->nv->nvrtcGetProgramLog(prog, j->log);
  if (r == 0) {
    size_t n = 0;
    char *buf = NULL;
    if (j->nv->nvrtcGetCUBINSize(prog, &n) == 0 && n > 0 && (buf = malloc(n)) != NULL &&
        j->nv->nvrtcGetCUBIN(prog, buf) == 0 && put(j, cf, ck, buf, n, j->arch) == 0)
      j->rc = 0;
    free(buf);
    buf = NULL;
    if (j->rc == 0 && j->ptx) {
      j->rc = -1;
      /* PTX text without its NUL: device.c appends one */
      if (j->nv->nvrtcGetPTXSize(prog, &n) == 0 && n > 1 && (buf = malloc(n)) != NULL &&
          j->nv->nvrtcGetPTX(prog, buf) == 0 && put(j, pf, pk, buf, strlen(buf), -j->arch) == 0)
        j->rc = 0;
      free(buf);
    }
  } else if (!j->log) {
    j->log = strdup(j->nv->nvrtcGetErrorString(r));
  }
  j->nv->nvrtcDestroyProgram(&prog);
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int nvrtc_compile(const char *module, const char *name, const int *arch, int narch, const char *dir,
                  CuImage *img, int max, NvrtcStats *st) {
  char why[512], cache[4096];
  double t0 = now();
  const rt_nvrtc_api *nv = rt_nvrtc_load(why, sizeof why);
  if (!nv) {
    fprintf(stderr,
            "ftc build: NVRTC is not available (%s); build with --arch none for a "
            "CPU-only trainer\n",
            why);
    return -1;
  }
  int maj = 0, min = 0;
  nv->nvrtcVersion(&maj, &min);
  cache_dir("kernels", cache, sizeof cache);
  Job *jobs = calloc((size_t)narch, sizeof *jobs);
  pthread_t *th = calloc((size_t)narch, sizeof *th);
  int *started = calloc((size_t)narch, sizeof *started);
  int n = -1;
  if (!jobs || !th || !started) goto done;
  for (int i = 0; i < narch; i++) {
    Job *j = &jobs[i];
    j->nv = nv;
    j->module = module;
    j->name = name;
    j->dir = dir;
    j->cache = cache;
    j->arch = arch[i];
    j->ptx = i == narch - 1; /* PTX of the newest: newer GPUs compile it */
    snprintf(j->version, sizeof j->version, "%d.%d", maj, min);
    started[i] = narch > 1 && pthread_create(&th[i], NULL, compile_one, j) == 0;
    if (!started[i]) compile_one(j);
  }
  n = 0;
  for (int i = 0; i < narch; i++) {
    if (started[i]) pthread_join(th[i], NULL);
    Job *j = &jobs[i];
    if (j->rc != 0) {
      fprintf(stderr,
              "ftc build: NVRTC %d.%d could not compile the generated kernels for sm_%d "
              "(an ftc bug; --emit-cuda FILE.cu writes the source):\n%s\n",
              maj, min, j->arch, j->log ? j->log : "(no log)");
      n = -1;
    }
    for (int k = 0; k < j->nimg && n >= 0; k++) {
      if (n == max) {
        n = -1;
        break;
      }
      img[n++] = j->img[k];
    }
    if (st) {
      st->compiled += !j->cached;
      st->cached += j->cached;
    }
  }
done:
  if (jobs)
    for (int i = 0; i < narch; i++) free(jobs[i].log);
  free(jobs);
  free(th);
  free(started);
  if (st) {
    st->seconds = now() - t0;
    snprintf(st->version, sizeof st->version, "%d.%d", maj, min);
  }
  return n;
}
