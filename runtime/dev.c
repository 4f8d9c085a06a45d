/* runtime/dev.c -- the device-independent half of devices: names, probing,
 * opening, the checked failure path, the calls of ftdev.h, and the 16-bit
 * float conversions the GEMM emulation and the tests share.
 *
 * One idea: the generated host code calls rt_dev_launch / rt_dev_gemm and
 * never learns which device runs them; after a failure every call returns
 * at once, so a step that went wrong unwinds to the training loop, which
 * reports it and exits 3. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_api.h"
#include "dev.h"
#include "rt_internal.h"

int rt_dev_parse(const char *s, rt_device_kind *kind, int *ordinal) {
  *ordinal = 0;
  if (!strcmp(s, "cpu"))
    *kind = RT_DEVICE_CPU;
  else if (!strcmp(s, "emu"))
    *kind = RT_DEVICE_EMU;
  else if (!strcmp(s, "cuda"))
    *kind = RT_DEVICE_CUDA;
  else if (!strncmp(s, "cuda:", 5)) {
    char *end;
    long v = strtol(s + 5, &end, 10);
    if (!s[5] || *end || v < 0 || v > 1024) return -1;
    *kind = RT_DEVICE_CUDA;
    *ordinal = (int)v;
  } else
    return -1;
  return 0;
}

const char *rt_dev_kind_name(rt_device_kind k) {
  return k == RT_DEVICE_CUDA ? "cuda" : k == RT_DEVICE_EMU ? "emu" : "cpu";
}

int rt_dev_probe(rt_device_kind k, int ordinal) {
  if (k != RT_DEVICE_CUDA) return 0;
  char why[512];
  const rt_cuda_api *cu = rt_cuda_load(why, sizeof why);
  if (!cu) {
    rt_err("--device cuda: no CUDA driver on this machine (%s); use --device cpu, or "
           "--device emu to run the CUDA step on the CPU",
           why);
    return -1;
  }
  rt_CUresult e = cu->cuInit(0);
  if (e == RT_CUDA_ERROR_STUB_LIBRARY) {
    rt_err("--device cuda: the libcuda found is the CUDA toolkit's stub, not a driver (no "
           "NVIDIA driver installed); use --device cpu or --device emu");
    return -1;
  }
  int n = 0;
  if (e == 0) e = cu->cuDeviceGetCount(&n);
  if (e != 0 || n == 0) {
    const char *name = NULL;
    if (e != 0) cu->cuGetErrorName(e, &name);
    rt_err("--device cuda: no usable GPU (%s); use --device cpu or --device emu",
           e == 0 ? "the driver reports 0 devices"
           : name ? name
                  : "cuInit failed");
    return -1;
  }
  if (ordinal >= n) {
    rt_err("--device cuda:%d: this machine has %d GPU%s (cuda:0%s)", ordinal, n, n == 1 ? "" : "s",
           n > 1 ? " .. cuda:N-1" : "");
    return -1;
  }
  char lwhy[512];
  if (!rt_cublaslt_load(lwhy, sizeof lwhy)) {
    rt_err("--device cuda: cuBLASLt is missing (%s); install the CUDA toolkit's "
           "libcublasLt or set CUDA_HOME",
           lwhy);
    return -1;
  }
  return 0;
}

rt_dev *rt_dev_open(rt_device_kind k, int ordinal, const rt_dev_program *prog) {
  rt_dev *d = rt_xcalloc(1, sizeof *d, "device");
  if (!d) return NULL;
  d->ops = k == RT_DEVICE_CUDA ? &rt_dev_cuda_ops : &rt_dev_emu_ops;
  d->prog = prog;
  d->ordinal = ordinal;
  if (d->ops->open(d) != 0) {
    free(d);
    return NULL;
  }
  return d;
}

void rt_dev_close(rt_dev *d) {
  if (!d) return;
  d->ops->close(d);
  free(d->epi_apart);
  free(d);
}

void rt_dev_fail(rt_dev *d, const char *fmt, ...) {
  if (d->failed) return;
  d->failed = 1;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  rt_err("device %s: %s", d->ops->name, msg);
}

/* ---- the calls of the generated host code --------------------------------- */
unsigned char *rt_dev_base(rt_dev *d) { return d->base; }

void rt_dev_launch(rt_dev *d, int k, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, const void *args, size_t argsz) {
  if (d->failed) return;
  if (k < 0 || k >= d->prog->nkernels) {
    rt_dev_fail(d, "internal error: kernel %d of %d launched", k, d->prog->nkernels);
    return;
  }
  const unsigned g[3] = {gx, gy, gz}, b[3] = {bx, by, bz};
  if (gx == 0 || gy == 0 || gz == 0) return; /* empty tensors */
  d->ops->launch(d, k, g, b, args, argsz);
}

/* A product's epilogue as a kernel after the plain product (ftdev.h:
 * k_epi_bias, k_epi_bgrad; their parameters are these structs' fields). */
static void epilogue_apart(rt_dev *d, int g, const void *A, void *D) {
  const rt_dev_program *p = d->prog;
  const rt_gemm *m = &p->gemms[g];
  if (m->epi == RT_EPI_BIAS && p->k_epi_bias >= 0) {
    struct {
      void *d;
      const void *bias;
      int64_t m, n, ldc, batch, sc;
    } a = {D, d->base + m->bias_off, m->m, m->n, m->ldc, m->batch, m->stride_c};
    int64_t t = m->m * m->n * m->batch, gx = (t + 255) / 256;
    rt_dev_launch(d, p->k_epi_bias, (unsigned)(gx > 8192 ? 8192 : gx), 1, 1, 256, 1, 1, &a,
                  sizeof a);
  } else if (m->epi == RT_EPI_BGRADA && p->k_epi_bgrad >= 0) {
    struct {
      void *bias;
      const void *A;
      int64_t m, k, lda, ta;
    } a = {d->base + m->bias_off, A, m->m, m->k, m->lda, m->ta};
    rt_dev_launch(d, p->k_epi_bgrad, (unsigned)((m->m + 255) / 256), 1, 1, 256, 1, 1, &a, sizeof a);
  } else {
    rt_dev_fail(d, "product %s: epilogue %d has no kernel to run apart", m->site, (int)m->epi);
  }
}

void rt_dev_gemm(rt_dev *d, int g, const void *A, const void *B, void *D) {
  if (d->failed) return;
  if (g < 0 || g >= d->prog->ngemms) {
    rt_dev_fail(d, "internal error: product %d of %d called", g, d->prog->ngemms);
    return;
  }
  const int apart = d->epi_apart && d->epi_apart[g];
  d->ops->gemm(d, g, A, B, D, apart);
  if (apart) epilogue_apart(d, g, A, D);
}

void rt_dev_copy(rt_dev *d, void *dst, const void *src, int64_t bytes) {
  if (d->failed || bytes <= 0 || dst == src) return;
  d->ops->copy(d, dst, src, bytes);
}

void rt_dev_memset(rt_dev *d, void *dst, int byte, int64_t bytes) {
  if (d->failed || bytes <= 0) return;
  d->ops->fill(d, dst, byte, bytes);
}

/* ---- 16-bit floats ------------------------------------------------------------ */
float rt_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t rt_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float rt_f16_to_f32(uint16_t h) {
  uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
  if (e == 0x1f)
    u = s | 0x7f800000u | (m << 13);
  else if (e != 0)
    u = s | ((e + 112) << 23) | (m << 13);
  else if (m == 0)
    u = s;
  else { /* subnormal: normalize */
    e = 113;
    while (!(m & 0x400)) {
      m <<= 1;
      e--;
    }
    u = s | (e << 23) | ((m & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t rt_f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint32_t s = (u >> 16) & 0x8000, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(s | 0x7e00);  /* NaN */
  if (a >= 0x477ff000u) return (uint16_t)(s | 0x7c00); /* rounds to inf */
  if (a < 0x38800000u) {                               /* subnormal or 0 */
    if (a < 0x33000000u) return (uint16_t)s;           /* below half the smallest */
    uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000;
    int shift = 126 - (int)e; /* value = v * 2^-24 with v = m >> shift */
    uint32_t v = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (v & 1))) v++;
    return (uint16_t)(s | v);
  }
  uint32_t v = ((a >> 13) - (112u << 10)), rem = a & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (v & 1))) v++;
  return (uint16_t)(s | v);
}
