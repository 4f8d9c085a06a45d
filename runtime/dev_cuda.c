/* runtime/dev_cuda.c -- `--device cuda`: the driver API and cuBLASLt,
 * loaded at run time (cuda_load.c).
 *
 * One idea: everything that can be decided before the first step is: the
 * module is loaded from the embedded image that fits the GPU (its own
 * cubin, else PTX the driver compiles), every kernel's function handle is
 * looked up, and every product site gets its cuBLASLt descriptors, layouts
 * and algorithm once, so a step is only launches and products on one
 * stream, ready to be captured into a CUDA graph. Every driver and
 * cuBLASLt call goes through CU() / LT(), which name the call, its error
 * and the line, mark the device failed, and never let a step continue
 * past the failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>

#include "cuda_api.h"
#include "dev.h"
#include "rt_internal.h"

#define GUARD 4096

typedef struct Site { /* one product site's cuBLASLt state */
  rt_cublasLtMatmulDesc_t op;
  rt_cublasLtMatrixLayout_t a, b, c;
  rt_cublasLtMatmulAlgo_t algo;
  int ready;
} Site;

typedef struct Graph {
  rt_CUgraph g;
  rt_CUgraphExec x;
} Graph;

typedef struct Cuda {
  const rt_cuda_api *cu;
  const rt_cublaslt_api *lt;
  rt_CUdevice dev;
  rt_CUcontext ctx;
  rt_CUstream s;
  rt_CUmodule mod;
  rt_CUfunction *fn;
  rt_cublasLtHandle_t h;
  Site *site;
  rt_CUdeviceptr mem;
  size_t free_before, free_after, total;
  int cc, image; /* compute capability (90), image used */
  int capturing;
} Cuda;

static Cuda *C(rt_dev *d) { return d->impl; }

/* The checked wrapper of every driver call. */
static int cu_check(rt_dev *d, rt_CUresult e, const char *call, int line) {
  if (e == 0) return 0;
  const char *name = NULL, *str = NULL;
  Cuda *c = C(d);
  if (c && c->cu) {
    c->cu->cuGetErrorName(e, &name);
    c->cu->cuGetErrorString(e, &str);
  }
  rt_dev_fail(d, "%s failed: %s (%s) [dev_cuda.c:%d]", call, name ? name : "?",
              str ? str : "no description", line);
  return -1;
}
#define CU(call) cu_check(d, c->cu->call, #call, __LINE__)

static int lt_check(rt_dev *d, rt_cublasStatus_t s, const char *call, const char *site, int line) {
  if (s == 0) return 0;
  const char *name = C(d)->lt->cublasLtGetStatusName(s);
  rt_dev_fail(d, "%s failed: %s%s%s [dev_cuda.c:%d]", call, name ? name : "?", site ? " at " : "",
              site ? site : "", line);
  return -1;
}
#define LT(call, site) lt_check(d, c->lt->call, #call, site, __LINE__)

static int lt_type(rt_dt t) {
  return t == RT_DT_F64    ? RT_CUDA_R_64F
         : t == RT_DT_BF16 ? RT_CUDA_R_16BF
         : t == RT_DT_F16  ? RT_CUDA_R_16F
                           : RT_CUDA_R_32F;
}

static int layout(rt_dev *d, rt_cublasLtMatrixLayout_t *l, rt_dt t, int64_t rows, int64_t cols,
                  int64_t ld, int64_t batch, int64_t stride, const char *site) {
  Cuda *c = C(d);
  if (LT(cublasLtMatrixLayoutCreate(l, lt_type(t), (uint64_t)rows, (uint64_t)cols, ld), site))
    return -1;
  if (batch > 1) {
    int32_t n = (int32_t)batch;
    if (LT(cublasLtMatrixLayoutSetAttribute(*l, RT_LT_LAYOUT_BATCH_COUNT, &n, sizeof n), site) ||
        LT(cublasLtMatrixLayoutSetAttribute(*l, RT_LT_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                            sizeof stride),
           site))
      return -1;
  }
  return 0;
}

static void unprepare(Cuda *c, Site *s) {
  if (s->op) c->lt->cublasLtMatmulDescDestroy(s->op);
  if (s->a) c->lt->cublasLtMatrixLayoutDestroy(s->a);
  if (s->b) c->lt->cublasLtMatrixLayoutDestroy(s->b);
  if (s->c) c->lt->cublasLtMatrixLayoutDestroy(s->c);
  memset(s, 0, sizeof *s);
}

/* Descriptors, layouts and an algorithm for one product site. A product
 * whose epilogue cuBLASLt has no algorithm for is prepared plain, and its
 * epilogue runs as a kernel after it (d->epi_apart, dev.c). */
static int prepare(rt_dev *d, int gi, const rt_gemm *g, Site *s) {
  Cuda *c = C(d);
  const int f64 = g->type_cd == RT_DT_F64;
  const char *w = g->site;
  /* FTC_CUDA_TF32=1: fp32 products on the tensor cores (TF32 inputs, fp32
   * accumulation) -- faster, and no longer the CPU's results to 1e-5 */
  const char *tf = getenv("FTC_CUDA_TF32");
  const int compute = f64                      ? RT_CUBLAS_COMPUTE_64F
                      : tf && !strcmp(tf, "1") ? RT_CUBLAS_COMPUTE_32F_FAST_TF32
                                               : RT_CUBLAS_COMPUTE_32F;
  if (LT(cublasLtMatmulDescCreate(&s->op, compute, f64 ? RT_CUDA_R_64F : RT_CUDA_R_32F), w))
    return -1;
  int32_t ta = g->ta ? RT_CUBLAS_OP_T : RT_CUBLAS_OP_N,
          tb = g->tb ? RT_CUBLAS_OP_T : RT_CUBLAS_OP_N;
  if (LT(cublasLtMatmulDescSetAttribute(s->op, RT_LT_DESC_TRANSA, &ta, sizeof ta), w) ||
      LT(cublasLtMatmulDescSetAttribute(s->op, RT_LT_DESC_TRANSB, &tb, sizeof tb), w))
    return -1;
  if (g->epi != RT_EPI_NONE) {
    uint32_t epi = g->epi == RT_EPI_BIAS            ? RT_LT_EPI_BIAS
                   : g->epi == RT_EPI_GELU_AUX_BIAS ? RT_LT_EPI_GELU_AUX_BIAS
                   : g->epi == RT_EPI_BGRADA        ? RT_LT_EPI_BGRADA
                                                    : RT_LT_EPI_BGRADB;
    void *bias = d->base + g->bias_off;
    int32_t bt = lt_type(g->type_cd);
    if (LT(cublasLtMatmulDescSetAttribute(s->op, RT_LT_DESC_EPILOGUE, &epi, sizeof epi), w) ||
        LT(cublasLtMatmulDescSetAttribute(s->op, RT_LT_DESC_BIAS_POINTER, &bias, sizeof bias), w) ||
        LT(cublasLtMatmulDescSetAttribute(s->op, RT_LT_DESC_BIAS_DATA_TYPE, &bt, sizeof bt), w))
      return -1;
    if (g->epi == RT_EPI_GELU_AUX_BIAS) {
      void *aux = d->base + g->aux_off;
      int64_t ld = g->aux_ld;
      if (LT(cublasLtMatmulDescSetAttribute(s->op, RT_LT_DESC_EPILOGUE_AUX_POINTER, &aux,
                                            sizeof aux),
             w) ||
          LT(cublasLtMatmulDescSetAttribute(s->op, RT_LT_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld), w))
        return -1;
    }
  }
  if (layout(d, &s->a, g->type_ab, g->ta ? g->k : g->m, g->ta ? g->m : g->k, g->lda, g->batch,
             g->stride_a, w) ||
      layout(d, &s->b, g->type_ab, g->tb ? g->n : g->k, g->tb ? g->k : g->n, g->ldb, g->batch,
             g->stride_b, w) ||
      layout(d, &s->c, g->type_cd, g->m, g->n, g->ldc, g->batch, g->stride_c, w))
    return -1;
  rt_cublasLtMatmulPreference_t pref;
  if (LT(cublasLtMatmulPreferenceCreate(&pref), w)) return -1;
  uint64_t wsb = (uint64_t)d->prog->ws_bytes;
  rt_cublasLtMatmulHeuristicResult_t res;
  int got = 0;
  /* the pointers' real alignment: cuBLASLt assumes 256 bytes otherwise */
  uint32_t al = g->align > 0 ? (uint32_t)(g->align < 256 ? g->align : 256) : 4;
  int rc =
      LT(cublasLtMatmulPreferenceSetAttribute(pref, RT_LT_PREF_MAX_WORKSPACE_BYTES, &wsb,
                                              sizeof wsb),
         w) ||
      LT(cublasLtMatmulPreferenceSetAttribute(pref, RT_LT_PREF_MIN_ALIGNMENT_A_BYTES, &al, 4), w) ||
      LT(cublasLtMatmulPreferenceSetAttribute(pref, RT_LT_PREF_MIN_ALIGNMENT_B_BYTES, &al, 4), w) ||
      LT(cublasLtMatmulPreferenceSetAttribute(pref, RT_LT_PREF_MIN_ALIGNMENT_C_BYTES, &al, 4), w) ||
      LT(cublasLtMatmulPreferenceSetAttribute(pref, RT_LT_PREF_MIN_ALIGNMENT_D_BYTES, &al, 4), w);
  /* not through LT(): a refusal of an epilogue is not a failure yet */
  rt_cublasStatus_t hs = rc ? 0
                            : c->lt->cublasLtMatmulAlgoGetHeuristic(c->h, s->op, s->a, s->b, s->c,
                                                                    s->c, pref, 1, &res, &got);
  c->lt->cublasLtMatmulPreferenceDestroy(pref);
  if (rc) return -1;
  if ((hs != 0 || got < 1) && g->epi != RT_EPI_NONE &&
      (g->epi == RT_EPI_BIAS ? d->prog->k_epi_bias : d->prog->k_epi_bgrad) >= 0) {
    rt_gemm plain = *g;
    plain.epi = RT_EPI_NONE;
    unprepare(c, s);
    if (!d->epi_apart &&
        !(d->epi_apart = rt_xcalloc((size_t)d->prog->ngemms + 1, 1, "epilogue flags")))
      return -1;
    d->epi_apart[gi] = 1;
    rt_warn("device cuda: cuBLASLt has no algorithm with the %s epilogue for %s: it runs as a "
            "kernel after the product",
            g->epi == RT_EPI_BIAS ? "bias" : "bias-gradient", w);
    return prepare(d, gi, &plain, s);
  }
  if (hs != 0) {
    lt_check(d, hs, "cublasLtMatmulAlgoGetHeuristic", w, __LINE__);
    return -1;
  }
  if (got < 1) {
    rt_dev_fail(d, "cuBLASLt has no algorithm for the product at %s (m %lld n %lld k %lld)", w,
                (long long)g->m, (long long)g->n, (long long)g->k);
    return -1;
  }
  s->algo = res.algo;
  s->ready = 1;
  return 0;
}

/* The embedded image for this GPU: its own cubin, else the newest PTX
 * not newer than the GPU. */
static int pick_image(const rt_dev_program *p, int cc) {
  int best = -1;
  for (int i = 0; i < p->nimages; i++)
    if (p->images[i].arch == cc) return i;
  for (int i = 0; i < p->nimages; i++) {
    int a = p->images[i].arch;
    if (a < 0 && -a <= cc && (best < 0 || -a > -p->images[best].arch)) best = i;
  }
  return best;
}

static void cuda_close(rt_dev *d);

static int cuda_open(rt_dev *d) {
  char why[512];
  Cuda *c = rt_xcalloc(1, sizeof *c, "CUDA device");
  if (!c) return -1;
  d->impl = c;
  const rt_dev_program *p = d->prog;
  c->cu = rt_cuda_load(why, sizeof why);
  c->lt = c->cu ? rt_cublaslt_load(why, sizeof why) : NULL;
  if (!c->cu || !c->lt) {
    rt_err("--device cuda: %s", why);
    goto fail;
  }
  if (CU(cuInit(0)) || CU(cuDeviceGet(&c->dev, d->ordinal)) ||
      CU(cuDevicePrimaryCtxRetain(&c->ctx, c->dev)) || CU(cuCtxSetCurrent(c->ctx)))
    goto fail;
  int maj = 0, min = 0, sms = 0, optin = 0;
  char name[100] = "?";
  if (CU(cuDeviceGetAttribute(&maj, RT_CU_ATTR_CC_MAJOR, c->dev)) ||
      CU(cuDeviceGetAttribute(&min, RT_CU_ATTR_CC_MINOR, c->dev)) ||
      CU(cuDeviceGetAttribute(&sms, RT_CU_ATTR_MULTIPROCESSOR_COUNT, c->dev)) ||
      CU(cuDeviceGetAttribute(&optin, RT_CU_ATTR_SMEM_OPTIN, c->dev)) ||
      CU(cuDeviceGetName(name, sizeof name, c->dev)) || CU(cuDeviceTotalMem(&c->total, c->dev)))
    goto fail;
  c->cc = maj * 10 + min;
  if (CU(cuMemGetInfo(&c->free_before, &c->total)) ||
      CU(cuStreamCreate(&c->s, RT_CU_STREAM_NON_BLOCKING)))
    goto fail;
  c->image = pick_image(p, c->cc);
  if (c->image < 0) {
    rt_err("--device cuda: %s is sm_%d, and this trainer carries no kernels it can run "
           "(rebuild with ftc build --arch sm_%d)",
           name, c->cc, c->cc);
    goto fail;
  }
  if (CU(cuModuleLoadData(&c->mod, p->images[c->image].data))) goto fail;
  c->fn = rt_xcalloc((size_t)(p->nkernels ? p->nkernels : 1), sizeof *c->fn, "kernel table");
  if (!c->fn) goto fail;
  for (int k = 0; k < p->nkernels; k++) {
    if (CU(cuModuleGetFunction(&c->fn[k], c->mod, p->kernels[k].name))) goto fail;
    if (p->kernels[k].smem > 48 * 1024) {
      if ((int)p->kernels[k].smem > optin) {
        rt_dev_fail(d, "kernel %s needs %u bytes of shared memory; %s allows %d",
                    p->kernels[k].name, p->kernels[k].smem, name, optin);
        goto fail;
      }
      if (CU(cuFuncSetAttribute(c->fn[k], RT_CU_FUNC_MAX_DYNAMIC_SMEM, (int)p->kernels[k].smem)))
        goto fail;
    }
  }
  /* ONE allocation: arena + tail + a guard the first step must not touch */
  if (CU(cuMemAlloc(&c->mem, (size_t)p->bytes + GUARD))) goto fail;
  d->base = (unsigned char *)(uintptr_t)c->mem;
  if (CU(cuMemsetD8Async(c->mem, 0xFF, (size_t)p->bytes + GUARD, c->s))) goto fail;
  if (LT(cublasLtCreate(&c->h), NULL)) goto fail;
  c->site = rt_xcalloc((size_t)(p->ngemms ? p->ngemms : 1), sizeof *c->site, "product sites");
  if (!c->site) goto fail;
  for (int i = 0; i < p->ngemms; i++)
    if (prepare(d, i, &p->gemms[i], &c->site[i]) != 0) goto fail;
  if (CU(cuStreamSynchronize(c->s)) || CU(cuMemGetInfo(&c->free_after, &c->total))) goto fail;
  int drv = 0;
  c->cu->cuDriverGetVersion(&drv);
  snprintf(d->name, sizeof d->name, "cuda:%d %s (sm_%d, %d SMs, driver %d.%d, %s %s)", d->ordinal,
           name, c->cc, sms, drv / 1000, drv % 1000 / 10,
           p->images[c->image].arch > 0 ? "cubin" : "PTX",
           p->images[c->image].arch > 0 ? "built for it" : "compiled by the driver");
  return 0;
fail:
  d->failed = 1;
  cuda_close(d);
  return -1;
}

static void cuda_close(rt_dev *d) {
  Cuda *c = C(d);
  if (!c) return;
  const rt_dev_program *p = d->prog;
  if (c->cu) {
    if (c->s) c->cu->cuStreamSynchronize(c->s);
    if (c->site)
      for (int i = 0; i < p->ngemms; i++) unprepare(c, &c->site[i]);
    if (c->h) c->lt->cublasLtDestroy(c->h);
    if (c->mem) c->cu->cuMemFree(c->mem);
    if (c->mod) c->cu->cuModuleUnload(c->mod);
    if (c->s) c->cu->cuStreamDestroy(c->s);
    if (c->ctx) c->cu->cuDevicePrimaryCtxRelease(c->dev);
  }
  free(c->site);
  free(c->fn);
  free(c);
  d->impl = NULL;
}

static void cuda_launch(rt_dev *d, int k, const unsigned g[3], const unsigned b[3],
                        const void *args, size_t n) {
  Cuda *c = C(d);
  size_t size = n;
  void *extra[] = {RT_CU_LAUNCH_PARAM_BUFFER_POINTER, (void *)args, RT_CU_LAUNCH_PARAM_BUFFER_SIZE,
                   &size, RT_CU_LAUNCH_PARAM_END};
  CU(cuLaunchKernel(c->fn[k], g[0], g[1], g[2], b[0], b[1], b[2], d->prog->kernels[k].smem, c->s,
                    NULL, extra));
}

static void cuda_gemm(rt_dev *d, int g, const void *A, const void *B, void *D, int plain) {
  (void)plain; /* a product run apart was prepared plain */
  Cuda *c = C(d);
  const rt_gemm *m = &d->prog->gemms[g];
  const Site *s = &c->site[g];
  void *ws = d->base + d->prog->ws_off;
  if (m->type_cd == RT_DT_F64) {
    double al = m->alpha, be = m->beta;
    LT(cublasLtMatmul(c->h, s->op, &al, A, s->a, B, s->b, &be, D, s->c, D, s->c, &s->algo, ws,
                      (size_t)d->prog->ws_bytes, c->s),
       m->site);
  } else {
    float al = (float)m->alpha, be = (float)m->beta;
    LT(cublasLtMatmul(c->h, s->op, &al, A, s->a, B, s->b, &be, D, s->c, D, s->c, &s->algo, ws,
                      (size_t)d->prog->ws_bytes, c->s),
       m->site);
  }
}

static void cuda_copy(rt_dev *d, void *dst, const void *src, int64_t n) {
  Cuda *c = C(d);
  CU(cuMemcpyDtoDAsync((rt_CUdeviceptr)(uintptr_t)dst, (rt_CUdeviceptr)(uintptr_t)src, (size_t)n,
                       c->s));
}

static void cuda_fill(rt_dev *d, void *dst, int byte, int64_t n) {
  Cuda *c = C(d);
  CU(cuMemsetD8Async((rt_CUdeviceptr)(uintptr_t)dst, (unsigned char)byte, (size_t)n, c->s));
}

static int cuda_upload(rt_dev *d, int64_t off, const void *src, int64_t n) {
  Cuda *c = C(d);
  if (d->failed) return -1;
  return CU(cuMemcpyHtoDAsync(c->mem + (rt_CUdeviceptr)off, src, (size_t)n, c->s));
}

static int cuda_download(rt_dev *d, void *dst, int64_t off, int64_t n) {
  Cuda *c = C(d);
  if (d->failed) return -1;
  if (CU(cuMemcpyDtoHAsync(dst, c->mem + (rt_CUdeviceptr)off, (size_t)n, c->s))) return -1;
  return CU(cuStreamSynchronize(c->s));
}

static int cuda_capture_begin(rt_dev *d) {
  Cuda *c = C(d);
  if (d->failed) return -1;
  return CU(cuStreamBeginCapture(c->s, RT_CU_CAPTURE_THREAD_LOCAL));
}

static int cuda_capture_end(rt_dev *d, void **graph) {
  Cuda *c = C(d);
  Graph *g = rt_xcalloc(1, sizeof *g, "graph");
  *graph = NULL;
  if (!g) return -1;
  /* end the capture even after a failed call, or the stream stays in it */
  rt_CUresult e = c->cu->cuStreamEndCapture(c->s, &g->g);
  if (cu_check(d, e, "cuStreamEndCapture(s, &g)", __LINE__) ||
      CU(cuGraphInstantiateWithFlags(&g->x, g->g, 0))) {
    if (g->g) c->cu->cuGraphDestroy(g->g);
    free(g);
    return -1;
  }
  *graph = g;
  return 0;
}

static int cuda_replay(rt_dev *d, void *graph) {
  Cuda *c = C(d);
  return CU(cuGraphLaunch(((Graph *)graph)->x, c->s));
}

static void cuda_graph_free(rt_dev *d, void *graph) {
  Cuda *c = C(d);
  Graph *g = graph;
  if (!g) return;
  if (c && c->cu) {
    if (g->x) c->cu->cuGraphExecDestroy(g->x);
    if (g->g) c->cu->cuGraphDestroy(g->g);
  }
  free(g);
}

/* What the device lost in free memory since before the context's first
 * allocation: arena + tail + cuBLASLt's and the module's own. */
static int64_t cuda_memory(rt_dev *d, char *desc, size_t n) {
  Cuda *c = C(d);
  int64_t used = (int64_t)c->free_before - (int64_t)c->free_after;
  snprintf(desc, n,
           "device free memory before %.0f MiB, after open %.0f MiB (of %.0f MiB): "
           "arena + workspace %lld B + scratch %lld B + cuBLASLt and module",
           c->free_before / 1048576.0, c->free_after / 1048576.0, c->total / 1048576.0,
           (long long)d->prog->ws_bytes, (long long)d->prog->scratch_bytes);
  return used;
}

/* The guard past the allocation, read back once; the high-water mark is
 * not measured on a GPU (it would cost a copy of the whole arena). */
static int64_t cuda_high_water(rt_dev *d, int *guard_ok) {
  Cuda *c = C(d);
  unsigned char g[GUARD];
  *guard_ok = 0;
  if (CU(cuMemcpyDtoHAsync(g, c->mem + (rt_CUdeviceptr)d->prog->bytes, GUARD, c->s)) ||
      CU(cuStreamSynchronize(c->s)))
    return -1;
  *guard_ok = 1;
  for (int i = 0; i < GUARD; i++)
    if (g[i] != 0xFF) *guard_ok = 0;
  return -1;
}

static int cuda_sync(rt_dev *d) {
  Cuda *c = C(d);
  return d->failed ? -1 : CU(cuStreamSynchronize(c->s));
}

const rt_dev_ops rt_dev_cuda_ops = {
    .name = "cuda",
    .open = cuda_open,
    .close = cuda_close,
    .launch = cuda_launch,
    .gemm = cuda_gemm,
    .copy = cuda_copy,
    .fill = cuda_fill,
    .upload = cuda_upload,
    .download = cuda_download,
    .capture_begin = cuda_capture_begin,
    .capture_end = cuda_capture_end,
    .replay = cuda_replay,
    .graph_free = cuda_graph_free,
    .memory = cuda_memory,
    .sync = cuda_sync,
    .high_water = cuda_high_water,
};
