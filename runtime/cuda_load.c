/* runtime/cuda_load.c -- dlopen of the CUDA driver, cuBLASLt and NVRTC into
 * the tables of cuda_api.h.
 *
 * One idea: a table is filled from a list of (field offset, exported
 * symbol) pairs, so the versioned names the libraries really export
 * (cuMemAlloc_v2, cuStreamBeginCapture_v2, ...) are written once, here, and
 * a library without one of them is refused with the symbol's name instead
 * of crashing at the first call. Libraries are looked up by soname first
 * (the dynamic loader's path, LD_LIBRARY_PATH), then in $CUDA_HOME and the
 * toolkit configure found (config.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cuda_api.h"

typedef struct Sym {
  size_t off;
  const char *name;
} Sym;

/* Opens the first of `names` that loads (bare sonames, then each in the
 * toolkit's lib64). why[] gets the last dlerror. */
static void *open_lib(const char *const *names, char *why, size_t n) {
  const char *home = getenv("CUDA_HOME");
  const char *dirs[] = {NULL, home && *home ? home : NULL, FTC_CUDA_DIR};
  char path[4096];
  snprintf(why, n, "not found");
  for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
    if (d > 0 && !dirs[d]) continue;
    for (const char *const *s = names; *s; s++) {
      if (d == 0)
        snprintf(path, sizeof path, "%s", *s);
      else
        snprintf(path, sizeof path, "%s/lib64/%s", dirs[d], *s);
      void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
      if (h) return h;
      const char *e = dlerror(); /* the plain soname's reason reads best */
      if (d == 0 && s == names && e) snprintf(why, n, "%s", e);
    }
  }
  return NULL;
}

static int fill(void *lib, void *table, const Sym *syms, size_t nsyms, const char *libname,
                char *why, size_t n) {
  for (size_t i = 0; i < nsyms; i++) {
    void *f = dlsym(lib, syms[i].name);
    if (!f) {
      snprintf(why, n, "%s has no symbol %s (too old a version?)", libname, syms[i].name);
      return -1;
    }
    memcpy((char *)table + syms[i].off, &f, sizeof f);
  }
  return 0;
}

#define S(T, field, sym)                                                                           \
  { offsetof(T, field), sym }

static const Sym cuda_syms[] = {
    S(rt_cuda_api, cuInit, "cuInit"),
    S(rt_cuda_api, cuDriverGetVersion, "cuDriverGetVersion"),
    S(rt_cuda_api, cuGetErrorName, "cuGetErrorName"),
    S(rt_cuda_api, cuGetErrorString, "cuGetErrorString"),
    S(rt_cuda_api, cuDeviceGetCount, "cuDeviceGetCount"),
    S(rt_cuda_api, cuDeviceGet, "cuDeviceGet"),
    S(rt_cuda_api, cuDeviceGetName, "cuDeviceGetName"),
    S(rt_cuda_api, cuDeviceGetAttribute, "cuDeviceGetAttribute"),
    S(rt_cuda_api, cuDeviceTotalMem, "cuDeviceTotalMem_v2"),
    S(rt_cuda_api, cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
    S(rt_cuda_api, cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"),
    S(rt_cuda_api, cuCtxSetCurrent, "cuCtxSetCurrent"),
    S(rt_cuda_api, cuMemGetInfo, "cuMemGetInfo_v2"),
    S(rt_cuda_api, cuMemAlloc, "cuMemAlloc_v2"),
    S(rt_cuda_api, cuMemFree, "cuMemFree_v2"),
    S(rt_cuda_api, cuMemHostAlloc, "cuMemHostAlloc"),
    S(rt_cuda_api, cuMemFreeHost, "cuMemFreeHost"),
    S(rt_cuda_api, cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"),
    S(rt_cuda_api, cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"),
    S(rt_cuda_api, cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"),
    S(rt_cuda_api, cuMemsetD8Async, "cuMemsetD8Async"),
    S(rt_cuda_api, cuModuleLoadData, "cuModuleLoadData"),
    S(rt_cuda_api, cuModuleUnload, "cuModuleUnload"),
    S(rt_cuda_api, cuModuleGetFunction, "cuModuleGetFunction"),
    S(rt_cuda_api, cuFuncSetAttribute, "cuFuncSetAttribute"),
    S(rt_cuda_api, cuLaunchKernel, "cuLaunchKernel"),
    S(rt_cuda_api, cuStreamCreate, "cuStreamCreate"),
    S(rt_cuda_api, cuStreamDestroy, "cuStreamDestroy_v2"),
    S(rt_cuda_api, cuStreamSynchronize, "cuStreamSynchronize"),
    S(rt_cuda_api, cuStreamBeginCapture, "cuStreamBeginCapture_v2"),
    S(rt_cuda_api, cuStreamEndCapture, "cuStreamEndCapture"),
    S(rt_cuda_api, cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags"),
    S(rt_cuda_api, cuGraphLaunch, "cuGraphLaunch"),
    S(rt_cuda_api, cuGraphExecDestroy, "cuGraphExecDestroy"),
    S(rt_cuda_api, cuGraphDestroy, "cuGraphDestroy"),
    S(rt_cuda_api, cuEventCreate, "cuEventCreate"),
    S(rt_cuda_api, cuEventRecord, "cuEventRecord"),
    S(rt_cuda_api, cuEventSynchronize, "cuEventSynchronize"),
    S(rt_cuda_api, cuEventElapsedTime, "cuEventElapsedTime"),
    S(rt_cuda_api, cuEventDestroy, "cuEventDestroy_v2"),
};

static const Sym lt_syms[] = {
    S(rt_cublaslt_api, cublasLtCreate, "cublasLtCreate"),
    S(rt_cublaslt_api, cublasLtDestroy, "cublasLtDestroy"),
    S(rt_cublaslt_api, cublasLtGetVersion, "cublasLtGetVersion"),
    S(rt_cublaslt_api, cublasLtGetStatusName, "cublasLtGetStatusName"),
    S(rt_cublaslt_api, cublasLtMatmulDescCreate, "cublasLtMatmulDescCreate"),
    S(rt_cublaslt_api, cublasLtMatmulDescDestroy, "cublasLtMatmulDescDestroy"),
    S(rt_cublaslt_api, cublasLtMatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute"),
    S(rt_cublaslt_api, cublasLtMatrixLayoutCreate, "cublasLtMatrixLayoutCreate"),
    S(rt_cublaslt_api, cublasLtMatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy"),
    S(rt_cublaslt_api, cublasLtMatrixLayoutSetAttribute, "cublasLtMatrixLayoutSetAttribute"),
    S(rt_cublaslt_api, cublasLtMatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate"),
    S(rt_cublaslt_api, cublasLtMatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy"),
    S(rt_cublaslt_api, cublasLtMatmulPreferenceSetAttribute,
      "cublasLtMatmulPreferenceSetAttribute"),
    S(rt_cublaslt_api, cublasLtMatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic"),
    S(rt_cublaslt_api, cublasLtMatmul, "cublasLtMatmul"),
};

static const Sym nvrtc_syms[] = {
    S(rt_nvrtc_api, nvrtcGetErrorString, "nvrtcGetErrorString"),
    S(rt_nvrtc_api, nvrtcVersion, "nvrtcVersion"),
    S(rt_nvrtc_api, nvrtcCreateProgram, "nvrtcCreateProgram"),
    S(rt_nvrtc_api, nvrtcDestroyProgram, "nvrtcDestroyProgram"),
    S(rt_nvrtc_api, nvrtcCompileProgram, "nvrtcCompileProgram"),
    S(rt_nvrtc_api, nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize"),
    S(rt_nvrtc_api, nvrtcGetProgramLog, "nvrtcGetProgramLog"),
    S(rt_nvrtc_api, nvrtcGetCUBINSize, "nvrtcGetCUBINSize"),
    S(rt_nvrtc_api, nvrtcGetCUBIN, "nvrtcGetCUBIN"),
    S(rt_nvrtc_api, nvrtcGetPTXSize, "nvrtcGetPTXSize"),
    S(rt_nvrtc_api, nvrtcGetPTX, "nvrtcGetPTX"),
};
#undef S

/* One loader per library: the table once loaded, else NULL and why. */
#define LOADER(fn, T, syms, label, ...)                                                            \
  const T *fn(char *why, size_t n) {                                                               \
    static T table;                                                                                \
    static int loaded;                                                                             \
    static const char *const names[] = {__VA_ARGS__, NULL};                                        \
    if (loaded) return &table;                                                                     \
    void *lib = open_lib(names, why, n);                                                           \
    if (!lib) return NULL;                                                                         \
    if (fill(lib, &table, syms, sizeof syms / sizeof syms[0], label, why, n)) {                    \
      dlclose(lib);                                                                                \
      return NULL;                                                                                 \
    }                                                                                              \
    loaded = 1;                                                                                    \
    return &table;                                                                                 \
  }

LOADER(rt_cuda_load, rt_cuda_api, cuda_syms, "libcuda", "libcuda.so.1", "libcuda.so")
LOADER(rt_cublaslt_load, rt_cublaslt_api, lt_syms, "libcublasLt", "libcublasLt.so.13",
       "libcublasLt.so.12", "libcublasLt.so")
LOADER(rt_nvrtc_load, rt_nvrtc_api, nvrtc_syms, "libnvrtc", "libnvrtc.so.13", "libnvrtc.so.12",
       "libnvrtc.so")
