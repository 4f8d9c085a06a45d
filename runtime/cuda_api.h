/* runtime/cuda_api.h -- the parts of the CUDA driver API, cuBLASLt and
 * NVRTC that ftc uses, as tables of function pointers filled by dlopen.
 *
 * One idea: nothing links against a CUDA library. A trainer (and ftc
 * itself, for NVRTC) loads them when a device is asked for, so one binary
 * starts on a machine without a GPU, a driver or a toolkit, and says in one
 * line which library or call is missing. The declarations below are written
 * from NVIDIA's public API documentation, not copied from its headers; the
 * unit test test_cuda_api checks every constant and struct size against the
 * real headers wherever the toolkit is installed, so the two cannot drift.
 * Ownership: rt_*_load fills a table and keeps the library open for the
 * life of the process (loading is idempotent and thread-unsafe: call it
 * before starting threads).
 */
#ifndef FTC_RUNTIME_CUDA_API_H
#define FTC_RUNTIME_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

/* ---- driver API ----------------------------------------------------------- */
typedef int CUresult;               /* 0 = CUDA_SUCCESS */
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;

enum {
  RT_CUDA_ERROR_STUB_LIBRARY = 34,
  RT_CUDA_ERROR_NO_DEVICE = 100,
  RT_CU_ATTR_MULTIPROCESSOR_COUNT = 16,
  RT_CU_ATTR_CC_MAJOR = 75,
  RT_CU_ATTR_CC_MINOR = 76,
  RT_CU_ATTR_SMEM_OPTIN = 97,        /* max opt-in shared memory per block */
  RT_CU_FUNC_MAX_DYNAMIC_SMEM = 8,   /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
  RT_CU_STREAM_NON_BLOCKING = 1,
  RT_CU_CAPTURE_THREAD_LOCAL = 1,    /* CU_STREAM_CAPTURE_MODE_THREAD_LOCAL */
  RT_CU_EVENT_DEFAULT = 0,
};
/* cuLaunchKernel's `extra`: the arguments as one packed buffer */
#define RT_CU_LAUNCH_PARAM_BUFFER_POINTER ((void *)0x01)
#define RT_CU_LAUNCH_PARAM_BUFFER_SIZE ((void *)0x02)
#define RT_CU_LAUNCH_PARAM_END ((void *)0x00)

typedef struct rt_cuda_api {
  CUresult (*cuInit)(unsigned flags);
  CUresult (*cuDriverGetVersion)(int *v);
  CUresult (*cuGetErrorName)(CUresult e, const char **s);
  CUresult (*cuGetErrorString)(CUresult e, const char **s);
  CUresult (*cuDeviceGetCount)(int *n);
  CUresult (*cuDeviceGet)(CUdevice *d, int ordinal);
  CUresult (*cuDeviceGetName)(char *name, int len, CUdevice d);
  CUresult (*cuDeviceGetAttribute)(int *v, int attr, CUdevice d);
  CUresult (*cuDeviceTotalMem)(size_t *bytes, CUdevice d);          /* _v2 */
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *c, CUdevice d);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice d);                 /* _v2 */
  CUresult (*cuCtxSetCurrent)(CUcontext c);
  CUresult (*cuMemGetInfo)(size_t *free_b, size_t *total_b);         /* _v2 */
  CUresult (*cuMemAlloc)(CUdeviceptr *p, size_t n);                  /* _v2 */
  CUresult (*cuMemFree)(CUdeviceptr p);                              /* _v2 */
  CUresult (*cuMemHostAlloc)(void **p, size_t n, unsigned flags);
  CUresult (*cuMemFreeHost)(void *p);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr dst, const void *src, size_t n, CUstream s);
  CUresult (*cuMemcpyDtoHAsync)(void *dst, CUdeviceptr src, size_t n, CUstream s);
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s);
  CUresult (*cuMemsetD8Async)(CUdeviceptr p, unsigned char v, size_t n, CUstream s);
  CUresult (*cuModuleLoadData)(CUmodule *m, const void *image);
  CUresult (*cuModuleUnload)(CUmodule m);
  CUresult (*cuModuleGetFunction)(CUfunction *f, CUmodule m, const char *name);
  CUresult (*cuFuncSetAttribute)(CUfunction f, int attr, int value);
  CUresult (*cuLaunchKernel)(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                             unsigned bx, unsigned by, unsigned bz, unsigned smem,
                             CUstream s, void **params, void **extra);
  CUresult (*cuStreamCreate)(CUstream *s, unsigned flags);
  CUresult (*cuStreamDestroy)(CUstream s);                           /* _v2 */
  CUresult (*cuStreamSynchronize)(CUstream s);
  CUresult (*cuStreamBeginCapture)(CUstream s, int mode);            /* _v2 */
  CUresult (*cuStreamEndCapture)(CUstream s, CUgraph *g);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *e, CUgraph g, unsigned long long fl);
  CUresult (*cuGraphLaunch)(CUgraphExec e, CUstream s);
  CUresult (*cuGraphExecDestroy)(CUgraphExec e);
  CUresult (*cuGraphDestroy)(CUgraph g);
  CUresult (*cuEventCreate)(CUevent *e, unsigned flags);
  CUresult (*cuEventRecord)(CUevent e, CUstream s);
  CUresult (*cuEventSynchronize)(CUevent e);
  CUresult (*cuEventElapsedTime)(float *ms, CUevent a, CUevent b);
  CUresult (*cuEventDestroy)(CUevent e);                             /* _v2 */
} rt_cuda_api;

/* ---- cuBLASLt ---------------------------------------------------------------- */
typedef int cublasStatus_t;                /* 0 = CUBLAS_STATUS_SUCCESS */
typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque *cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque *cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque *cublasLtMatmulPreference_t;
typedef struct { uint64_t data[8]; } cublasLtMatmulAlgo_t;
typedef struct {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
} cublasLtMatmulHeuristicResult_t;

enum {
  /* cudaDataType */
  RT_CUDA_R_32F = 0, RT_CUDA_R_64F = 1, RT_CUDA_R_16F = 2, RT_CUDA_R_16BF = 14,
  /* cublasComputeType_t */
  RT_CUBLAS_COMPUTE_32F = 68, RT_CUBLAS_COMPUTE_64F = 70,
  RT_CUBLAS_OP_N = 0, RT_CUBLAS_OP_T = 1,
  /* cublasLtMatmulDescAttributes_t */
  RT_LT_DESC_TRANSA = 3, RT_LT_DESC_TRANSB = 4, RT_LT_DESC_EPILOGUE = 7,
  RT_LT_DESC_BIAS_POINTER = 8, RT_LT_DESC_BIAS_BATCH_STRIDE = 10,
  RT_LT_DESC_EPILOGUE_AUX_POINTER = 11, RT_LT_DESC_EPILOGUE_AUX_LD = 12,
  RT_LT_DESC_EPILOGUE_AUX_BATCH_STRIDE = 13, RT_LT_DESC_BIAS_DATA_TYPE = 26,
  /* cublasLtMatrixLayoutAttribute_t */
  RT_LT_LAYOUT_BATCH_COUNT = 5, RT_LT_LAYOUT_STRIDED_BATCH_OFFSET = 6,
  /* cublasLtEpilogue_t */
  RT_LT_EPI_DEFAULT = 1, RT_LT_EPI_BIAS = 4, RT_LT_EPI_GELU_AUX_BIAS = 32 | 128 | 4,
  RT_LT_EPI_BGRADA = 256, RT_LT_EPI_BGRADB = 512,
  /* cublasLtMatmulPreferenceAttributes_t */
  RT_LT_PREF_MAX_WORKSPACE_BYTES = 1,
};

typedef struct rt_cublaslt_api {
  cublasStatus_t (*cublasLtCreate)(cublasLtHandle_t *h);
  cublasStatus_t (*cublasLtDestroy)(cublasLtHandle_t h);
  size_t (*cublasLtGetVersion)(void);
  const char *(*cublasLtGetStatusName)(cublasStatus_t s);
  cublasStatus_t (*cublasLtMatmulDescCreate)(cublasLtMatmulDesc_t *d, int compute, int scale_type);
  cublasStatus_t (*cublasLtMatmulDescDestroy)(cublasLtMatmulDesc_t d);
  cublasStatus_t (*cublasLtMatmulDescSetAttribute)(cublasLtMatmulDesc_t d, int attr,
                                                   const void *buf, size_t n);
  cublasStatus_t (*cublasLtMatrixLayoutCreate)(cublasLtMatrixLayout_t *l, int type,
                                               uint64_t rows, uint64_t cols, int64_t ld);
  cublasStatus_t (*cublasLtMatrixLayoutDestroy)(cublasLtMatrixLayout_t l);
  cublasStatus_t (*cublasLtMatrixLayoutSetAttribute)(cublasLtMatrixLayout_t l, int attr,
                                                     const void *buf, size_t n);
  cublasStatus_t (*cublasLtMatmulPreferenceCreate)(cublasLtMatmulPreference_t *p);
  cublasStatus_t (*cublasLtMatmulPreferenceDestroy)(cublasLtMatmulPreference_t p);
  cublasStatus_t (*cublasLtMatmulPreferenceSetAttribute)(cublasLtMatmulPreference_t p, int attr,
                                                         const void *buf, size_t n);
  cublasStatus_t (*cublasLtMatmulAlgoGetHeuristic)(
      cublasLtHandle_t h, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
      cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
      cublasLtMatmulPreference_t pref, int want, cublasLtMatmulHeuristicResult_t *res,
      int *got);
  cublasStatus_t (*cublasLtMatmul)(cublasLtHandle_t h, cublasLtMatmulDesc_t op,
                                   const void *alpha, const void *A, cublasLtMatrixLayout_t ad,
                                   const void *B, cublasLtMatrixLayout_t bd, const void *beta,
                                   const void *C, cublasLtMatrixLayout_t cd, void *D,
                                   cublasLtMatrixLayout_t dd, const cublasLtMatmulAlgo_t *algo,
                                   void *ws, size_t ws_bytes, CUstream s);
} rt_cublaslt_api;

/* ---- NVRTC -------------------------------------------------------------- */
typedef int nvrtcResult;                   /* 0 = NVRTC_SUCCESS */
typedef struct _nvrtcProgram *nvrtcProgram;
typedef struct rt_nvrtc_api {
  const char *(*nvrtcGetErrorString)(nvrtcResult r);
  nvrtcResult (*nvrtcVersion)(int *major, int *minor);
  nvrtcResult (*nvrtcCreateProgram)(nvrtcProgram *p, const char *src, const char *name,
                                    int nheaders, const char *const *headers,
                                    const char *const *include_names);
  nvrtcResult (*nvrtcDestroyProgram)(nvrtcProgram *p);
  nvrtcResult (*nvrtcCompileProgram)(nvrtcProgram p, int nopt, const char *const *opts);
  nvrtcResult (*nvrtcGetProgramLogSize)(nvrtcProgram p, size_t *n);
  nvrtcResult (*nvrtcGetProgramLog)(nvrtcProgram p, char *log);
  nvrtcResult (*nvrtcGetCUBINSize)(nvrtcProgram p, size_t *n);
  nvrtcResult (*nvrtcGetCUBIN)(nvrtcProgram p, char *cubin);
  nvrtcResult (*nvrtcGetPTXSize)(nvrtcProgram p, size_t *n);
  nvrtcResult (*nvrtcGetPTX)(nvrtcProgram p, char *ptx);
} rt_nvrtc_api;

/* Load the library and every symbol (cuda_load.c). Return the table, or
 * NULL with one line in why[] naming what is missing (the library and the
 * paths tried, or the symbol). The first successful load is kept. */
const rt_cuda_api *rt_cuda_load(char *why, size_t n);
const rt_cublaslt_api *rt_cublaslt_load(char *why, size_t n);
const rt_nvrtc_api *rt_nvrtc_load(char *why, size_t n);

#endif
