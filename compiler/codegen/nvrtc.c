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

/* ---- SHA-256 (FIPS 180-4) ------------------------------------------------------ */
typedef struct Sha {
  uint32_t h[8];
  uint64_t len;
  unsigned char buf[64];
  size_t n;
} Sha;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(Sha *s, const unsigned char *p) {
  uint32_t w[64], a[8];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  memcpy(a, s->h, sizeof a);
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = a[7] + (ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25)) +
                  ((a[4] & a[5]) ^ (~a[4] & a[6])) + K256[i] + w[i];
    uint32_t t2 = (ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22)) +
                  ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
    memmove(a + 1, a, 7 * sizeof a[0]);
    a[4] += t1;
    a[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++) s->h[i] += a[i];
}

static void sha_init(Sha *s) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, h0, sizeof h0);
  s->len = 0;
  s->n = 0;
}

static void sha_add(Sha *s, const void *data, size_t n) {
  const unsigned char *p = data;
  s->len += n;
  while (n > 0) {
    size_t k = 64 - s->n < n ? 64 - s->n : n;
    memcpy(s->buf + s->n, p, k);
    s->n += k;
    p += k;
    n -= k;
    if (s->n == 64) {
      sha_block(s, s->buf);
      s->n = 0;
    }
  }
}

/* the digest as 64 hex digits */
static void sha_hex(Sha *s, char out[65]) {
  uint64_t bits = s->len * 8;
  unsigned char pad = 0x80, z = 0, lb[8];
  sha_add(s, &pad, 1);
  while (s->n != 56) sha_add(s, &z, 1);
  for (int i = 0; i < 8; i++) lb[i] = (unsigned char)(bits >> (56 - 8 * i));
  sha_add(s, lb, 8);
  for (int i = 0; i < 8; i++) snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

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
      fprintf(stderr, "ftc build: --arch takes sm_NN[,sm_NN...] with NN >= 75 (e.g. sm_80,sm_90) "
                      "or none; '%.*s' is not one\n", (int)len, p);
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

/* ---- files ---------------------------------------------------------------------- */
static int write_all(const char *path, const void *data, size_t n) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return -1;
  int bad = fwrite(data, 1, n, f) != n;
  if (fclose(f) != 0) bad = 1;
  if (bad || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long len = ftell(f);
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) != NULL) {
      if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
      } else {
        *n = (size_t)len;
      }
    }
  }
  fclose(f);
  return buf;
}

static int mkdirs(const char *dir) {
  char p[4096];
  snprintf(p, sizeof p, "%s", dir);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
      *s = '/';
    }
  return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The cache directory, or "" when off or unavailable. */
static void cache_dir(char *out, size_t n) {
  const char *e = getenv("FTC_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
  out[0] = 0;
  if (e && !strcmp(e, "off")) return;
  if (e && *e) snprintf(out, n, "%s", e);
  else if (x && *x) snprintf(out, n, "%s/ftc/kernels", x);
  else if (h && *h) snprintf(out, n, "%s/.cache/ftc/kernels", h);
  if (out[0] && mkdirs(out) != 0) out[0] = 0; /* a cache we cannot write is no cache */
}

/* ---- one architecture ---------------------------------------------------------- */
typedef struct Job {
  const rt_nvrtc_api *nv;
  const char *module, *name, *dir, *cache;
  char version[32];
  int arch, ptx;          /* ptx: also the compute_ PTX of this arch */
  CuImage img[2];
  int nimg, rc, cached;
  char *log;
} Job;

#define NVRTC_OPTS "--std=c++17 -lineinfo"

static int put(Job *j, const char *file, const char *key, const void *data, size_t n, int arch) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", j->dir, file);
  if (write_all(path, data, n) != 0) {
    fprintf(stderr, "ftc: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (key && j->cache[0]) {
    snprintf(path, sizeof path, "%s/%s", j->cache, key);
    write_all(path, data, n); /* best effort: a full disk only costs a recompile */
  }
  CuImage *im = &j->img[j->nimg++];
  im->arch = arch;
  snprintf(im->file, sizeof im->file, "%s", file);
  im->size = (int64_t)n;
  return 0;
}

static void key_of(const Job *j, const char *kind, char *out, size_t n) {
  Sha s;
  char hex[65];
  sha_init(&s);
  sha_add(&s, j->module, strlen(j->module));
  sha_add(&s, "\0", 1);
  sha_add(&s, j->version, strlen(j->version));
  sha_add(&s, "\0" NVRTC_OPTS, sizeof NVRTC_OPTS);
  sha_hex(&s, hex);
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
    char *b1 = read_all(p1, &n1), *b2 = j->ptx ? read_all(p2, &n2) : NULL;
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

int nvrtc_compile(const char *module, const char *name, const int *arch, int narch,
                  const char *dir, CuImage *img, int max, NvrtcStats *st) {
  char why[512], cache[4096];
  double t0 = now();
  const rt_nvrtc_api *nv = rt_nvrtc_load(why, sizeof why);
  if (!nv) {
    fprintf(stderr, "ftc build: NVRTC is not available (%s); build with --arch none for a "
                    "CPU-only trainer\n", why);
    return -1;
  }
  int maj = 0, min = 0;
  nv->nvrtcVersion(&maj, &min);
  cache_dir(cache, sizeof cache);
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
      fprintf(stderr, "ftc build: NVRTC %d.%d could not compile the generated kernels for sm_%d "
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
