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
typedef int rt_CUresult; /* 0 = CUDA_SUCCESS */
typedef int rt_CUdevice;
typedef unsigned long long rt_CUdeviceptr;
typedef struct CUctx_st *rt_CUcontext;
typedef struct CUmod_st *rt_CUmodule;
typedef struct CUfunc_st *rt_CUfunction;
typedef struct CUstream_st *rt_CUstream;
typedef struct CUevent_st *rt_CUevent;
typedef struct CUgraph_st *rt_CUgraph;
typedef struct CUgraphExec_st *rt_CUgraphExec;

enum {
  RT_CUDA_ERROR_STUB_LIBRARY = 34,
  RT_CUDA_ERROR_NO_DEVICE = 100,
  RT_CU_ATTR_MULTIPROCESSOR_COUNT = 16,
  RT_CU_ATTR_CC_MAJOR = 75,
  RT_CU_ATTR_CC_MINOR = 76,
  RT_CU_ATTR_SMEM_OPTIN = 97,      /* max opt-in shared memory per block */
  RT_CU_FUNC_MAX_DYNAMIC_SMEM = 8, /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
  RT_CU_STREAM_NON_BLOCKING = 1,
  RT_CU_CAPTURE_THREAD_LOCAL = 1, /* CU_STREAM_CAPTURE_MODE_THREAD_LOCAL */
  RT_CU_EVENT_DEFAULT = 0,
};
/* cuLaunchKernel's `extra`: the arguments as one packed buffer */
#define RT_CU_LAUNCH_PARAM_BUFFER_POINTER ((void *)0x01)
#define RT_CU_LAUNCH_PARAM_BUFFER_SIZE ((void *)0x02)
#define RT_CU_LAUNCH_PARAM_END ((void *)0x00)

typedef struct rt_cuda_api {
  rt_CUresult (*cuInit)(unsigned flags);
  rt_CUresult (*cuDriverGetVersion)(int *v);
  rt_CUresult (*cuGetErrorName)(rt_CUresult e, const char **s);
  rt_CUresult (*cuGetErrorString)(rt_CUresult e, const char **s);
  rt_CUresult (*cuDeviceGetCount)(int *n);
  rt_CUresult (*cuDeviceGet)(rt_CUdevice *d, int ordinal);
  rt_CUresult (*cuDeviceGetName)(char *name, int len, rt_CUdevice d);
  rt_CUresult (*cuDeviceGetAttribute)(int *v, int attr, rt_CUdevice d);
  rt_CUresult (*cuDeviceTotalMem)(size_t *bytes, rt_CUdevice d); /* _v2 */
  rt_CUresult (*cuDevicePrimaryCtxRetain)(rt_CUcontext *c, rt_CUdevice d);
  rt_CUresult (*cuDevicePrimaryCtxRelease)(rt_CUdevice d); /* _v2 */
  rt_CUresult (*cuCtxSetCurrent)(rt_CUcontext c);
  rt_CUresult (*cuMemGetInfo)(size_t *free_b, size_t *total_b); /* _v2 */
  rt_CUresult (*cuMemAlloc)(rt_CUdeviceptr *p, size_t n);       /* _v2 */
  rt_CUresult (*cuMemFree)(rt_CUdeviceptr p);                   /* _v2 */
  rt_CUresult (*cuMemHostAlloc)(void **p, size_t n, unsigned flags);
  rt_CUresult (*cuMemFreeHost)(void *p);
  rt_CUresult (*cuMemcpyHtoDAsync)(rt_CUdeviceptr dst, const void *src, size_t n, rt_CUstream s);
  rt_CUresult (*cuMemcpyDtoHAsync)(void *dst, rt_CUdeviceptr src, size_t n, rt_CUstream s);
  rt_CUresult (*cuMemcpyDtoDAsync)(rt_CUdeviceptr dst, rt_CUdeviceptr src, size_t n, rt_CUstream s);
  rt_CUresult (*cuMemsetD8Async)(rt_CUdeviceptr p, unsigned char v, size_t n, rt_CUstream s);
  rt_CUresult (*cuModuleLoadData)(rt_CUmodule *m, const void *image);
  rt_CUresult (*cuModuleUnload)(rt_CUmodule m);
  rt_CUresult (*cuModuleGetFunction)(rt_CUfunction *f, rt_CUmodule m, const char *name);
  rt_CUresult (*cuFuncSetAttribute)(rt_CUfunction f, int attr, int value);
  rt_CUresult (*cuLaunchKernel)(rt_CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                unsigned by, unsigned bz, unsigned smem, rt_CUstream s,
                                void **params, void **extra);
  rt_CUresult (*cuStreamCreate)(rt_CUstream *s, unsigned flags);
  rt_CUresult (*cuStreamDestroy)(rt_CUstream s); /* _v2 */
  rt_CUresult (*cuStreamSynchronize)(rt_CUstream s);
  rt_CUresult (*cuStreamBeginCapture)(rt_CUstream s, int mode); /* _v2 */
  rt_CUresult (*cuStreamEndCapture)(rt_CUstream s, rt_CUgraph *g);
  rt_CUresult (*cuGraphInstantiateWithFlags)(rt_CUgraphExec *e, rt_CUgraph g,
                                             unsigned long long fl);
  rt_CUresult (*cuGraphLaunch)(rt_CUgraphExec e, rt_CUstream s);
  rt_CUresult (*cuGraphExecDestroy)(rt_CUgraphExec e);
  rt_CUresult (*cuGraphDestroy)(rt_CUgraph g);
  rt_CUresult (*cuEventCreate)(rt_CUevent *e, unsigned flags);
  rt_CUresult (*cuEventRecord)(rt_CUevent e, rt_CUstream s);
  rt_CUresult (*cuEventSynchronize)(rt_CUevent e);
  rt_CUresult (*cuEventElapsedTime)(float *ms, rt_CUevent a, rt_CUevent b);
  rt_CUresult (*cuEventDestroy)(rt_CUevent e); /* _v2 */
} rt_cuda_api;

/* ---- cuBLASLt ---------------------------------------------------------------- */
typedef int rt_cublasStatus_t; /* 0 = CUBLAS_STATUS_SUCCESS */
typedef struct cublasLtContext *rt_cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque *rt_cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque *rt_cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque *rt_cublasLtMatmulPreference_t;
typedef struct {
  uint64_t data[8];
} rt_cublasLtMatmulAlgo_t;
typedef struct {
  rt_cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  rt_cublasStatus_t state;
  float wavesCount;
  int reserved[4];
} rt_cublasLtMatmulHeuristicResult_t;

enum {
  /* cudaDataType */
  RT_CUDA_R_32F = 0,
  RT_CUDA_R_64F = 1,
  RT_CUDA_R_16F = 2,
  RT_CUDA_R_16BF = 14,
  /* cublasComputeType_t */
  RT_CUBLAS_COMPUTE_32F = 68,
  RT_CUBLAS_COMPUTE_64F = 70,
  RT_CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
  RT_CUBLAS_OP_N = 0,
  RT_CUBLAS_OP_T = 1,
  /* cublasLtMatmulDescAttributes_t */
  RT_LT_DESC_TRANSA = 3,
  RT_LT_DESC_TRANSB = 4,
  RT_LT_DESC_EPILOGUE = 7,
  RT_LT_DESC_BIAS_POINTER = 8,
  RT_LT_DESC_BIAS_BATCH_STRIDE = 10,
  RT_LT_DESC_EPILOGUE_AUX_POINTER = 11,
  RT_LT_DESC_EPILOGUE_AUX_LD = 12,
  RT_LT_DESC_EPILOGUE_AUX_BATCH_STRIDE = 13,
  RT_LT_DESC_BIAS_DATA_TYPE = 26,
  /* cublasLtMatrixLayoutAttribute_t */
  RT_LT_LAYOUT_BATCH_COUNT = 5,
  RT_LT_LAYOUT_STRIDED_BATCH_OFFSET = 6,
  /* cublasLtEpilogue_t */
  RT_LT_EPI_DEFAULT = 1,
  RT_LT_EPI_BIAS = 4,
  RT_LT_EPI_GELU_AUX_BIAS = 32 | 128 | 4,
  RT_LT_EPI_BGRADA = 256,
  RT_LT_EPI_BGRADB = 512,
  /* cublasLtMatmulPreferenceAttributes_t */
  RT_LT_PREF_MAX_WORKSPACE_BYTES = 1,
  RT_LT_PREF_MIN_ALIGNMENT_A_BYTES = 5,
  RT_LT_PREF_MIN_ALIGNMENT_B_BYTES = 6,
  RT_LT_PREF_MIN_ALIGNMENT_C_BYTES = 7,
  RT_LT_PREF_MIN_ALIGNMENT_D_BYTES = 8,
};

typedef struct rt_cublaslt_api {
  rt_cublasStatus_t (*cublasLtCreate)(rt_cublasLtHandle_t *h);
  rt_cublasStatus_t (*cublasLtDestroy)(rt_cublasLtHandle_t h);
  size_t (*cublasLtGetVersion)(void);
  const char *(*cublasLtGetStatusName)(rt_cublasStatus_t s);
  rt_cublasStatus_t (*cublasLtMatmulDescCreate)(rt_cublasLtMatmulDesc_t *d, int compute,
                                                int scale_type);
  rt_cublasStatus_t (*cublasLtMatmulDescDestroy)(rt_cublasLtMatmulDesc_t d);
  rt_cublasStatus_t (*cublasLtMatmulDescSetAttribute)(rt_cublasLtMatmulDesc_t d, int attr,
                                                      const void *buf, size_t n);
  rt_cublasStatus_t (*cublasLtMatrixLayoutCreate)(rt_cublasLtMatrixLayout_t *l, int type,
                                                  uint64_t rows, uint64_t cols, int64_t ld);
  rt_cublasStatus_t (*cublasLtMatrixLayoutDestroy)(rt_cublasLtMatrixLayout_t l);
  rt_cublasStatus_t (*cublasLtMatrixLayoutSetAttribute)(rt_cublasLtMatrixLayout_t l, int attr,
                                                        const void *buf, size_t n);
  rt_cublasStatus_t (*cublasLtMatmulPreferenceCreate)(rt_cublasLtMatmulPreference_t *p);
  rt_cublasStatus_t (*cublasLtMatmulPreferenceDestroy)(rt_cublasLtMatmulPreference_t p);
  rt_cublasStatus_t (*cublasLtMatmulPreferenceSetAttribute)(rt_cublasLtMatmulPreference_t p,
                                                            int attr, const void *buf, size_t n);
  rt_cublasStatus_t (*cublasLtMatmulAlgoGetHeuristic)(
      rt_cublasLtHandle_t h, rt_cublasLtMatmulDesc_t op, rt_cublasLtMatrixLayout_t a,
      rt_cublasLtMatrixLayout_t b, rt_cublasLtMatrixLayout_t c, rt_cublasLtMatrixLayout_t d,
      rt_cublasLtMatmulPreference_t pref, int want, rt_cublasLtMatmulHeuristicResult_t *res,
      int *got);
  rt_cublasStatus_t (*cublasLtMatmul)(
      rt_cublasLtHandle_t h, rt_cublasLtMatmulDesc_t op, const void *alpha, const void *A,
      rt_cublasLtMatrixLayout_t ad, const void *B, rt_cublasLtMatrixLayout_t bd, const void *beta,
      const void *C, rt_cublasLtMatrixLayout_t cd, void *D, rt_cublasLtMatrixLayout_t dd,
      const rt_cublasLtMatmulAlgo_t *algo, void *ws, size_t ws_bytes, rt_CUstream s);
} rt_cublaslt_api;

/* ---- NVRTC -------------------------------------------------------------- */
typedef int rt_nvrtcResult; /* 0 = NVRTC_SUCCESS */
typedef struct _nvrtcProgram *rt_nvrtcProgram;
typedef struct rt_nvrtc_api {
  const char *(*nvrtcGetErrorString)(rt_nvrtcResult r);
  rt_nvrtcResult (*nvrtcVersion)(int *major, int *minor);
  rt_nvrtcResult (*nvrtcCreateProgram)(rt_nvrtcProgram *p, const char *src, const char *name,
                                       int nheaders, const char *const *headers,
                                       const char *const *include_names);
  rt_nvrtcResult (*nvrtcDestroyProgram)(rt_nvrtcProgram *p);
  rt_nvrtcResult (*nvrtcCompileProgram)(rt_nvrtcProgram p, int nopt, const char *const *opts);
  rt_nvrtcResult (*nvrtcGetProgramLogSize)(rt_nvrtcProgram p, size_t *n);
  rt_nvrtcResult (*nvrtcGetProgramLog)(rt_nvrtcProgram p, char *log);
  rt_nvrtcResult (*nvrtcGetCUBINSize)(rt_nvrtcProgram p, size_t *n);
  rt_nvrtcResult (*nvrtcGetCUBIN)(rt_nvrtcProgram p, char *cubin);
  rt_nvrtcResult (*nvrtcGetPTXSize)(rt_nvrtcProgram p, size_t *n);
  rt_nvrtcResult (*nvrtcGetPTX)(rt_nvrtcProgram p, char *ptx);
} rt_nvrtc_api;

/* Load the library and every symbol (cuda_load.c). Return the table, or
 * NULL with one line in why[] naming what is missing (the library and the
 * paths tried, or the symbol). The first successful load is kept. */
const rt_cuda_api *rt_cuda_load(char *why, size_t n);
const rt_cublaslt_api *rt_cublaslt_load(char *why, size_t n);
const rt_nvrtc_api *rt_nvrtc_load(char *why, size_t n);

#endif
