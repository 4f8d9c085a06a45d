/* tests/unit/test_cuda_api.c -- runtime/cuda_api.h (ftc's own declarations
 * of the CUDA driver API, cuBLASLt and NVRTC, loaded with dlopen) against
 * the toolkit's real headers: every constant and every struct layout the
 * runtime relies on. Skips (77) where ftc was configured without CUDA. */
#include <stddef.h>
#include <stdio.h>

#include "check.h"
#include "config.h"
#if HAVE_CUDA
#include <cublasLt.h>
#include <cuda.h>
#include <nvrtc.h>
#endif
#include "cuda_api.h"

int main(void) {
#if !HAVE_CUDA
  printf("test_cuda_api: skipped (ftc was configured without the CUDA toolkit)\n");
  return 77;
#else
#define SAME(a, b)                                                                                 \
  CHECK((long long)(a) == (long long)(b), "%s = %lld, the header says %lld", #a, (long long)(a),   \
        (long long)(b))
  SAME(RT_CUDA_ERROR_STUB_LIBRARY, CUDA_ERROR_STUB_LIBRARY);
  SAME(RT_CUDA_ERROR_NO_DEVICE, CUDA_ERROR_NO_DEVICE);
  SAME(RT_CU_ATTR_MULTIPROCESSOR_COUNT, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  SAME(RT_CU_ATTR_CC_MAJOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
  SAME(RT_CU_ATTR_CC_MINOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
  SAME(RT_CU_ATTR_SMEM_OPTIN, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
  SAME(RT_CU_FUNC_MAX_DYNAMIC_SMEM, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
  SAME(RT_CU_STREAM_NON_BLOCKING, CU_STREAM_NON_BLOCKING);
  SAME(RT_CU_CAPTURE_THREAD_LOCAL, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  SAME(RT_CU_EVENT_DEFAULT, CU_EVENT_DEFAULT);
  CHECK(RT_CU_LAUNCH_PARAM_BUFFER_POINTER == CU_LAUNCH_PARAM_BUFFER_POINTER, "buffer pointer");
  CHECK(RT_CU_LAUNCH_PARAM_BUFFER_SIZE == CU_LAUNCH_PARAM_BUFFER_SIZE, "buffer size");
  CHECK(RT_CU_LAUNCH_PARAM_END == CU_LAUNCH_PARAM_END, "param end");
  SAME(sizeof(rt_CUdeviceptr), sizeof(CUdeviceptr));
  SAME(sizeof(rt_CUresult), sizeof(CUresult));
  SAME(sizeof(rt_CUdevice), sizeof(CUdevice));

  SAME(RT_CUDA_R_32F, CUDA_R_32F);
  SAME(RT_CUDA_R_64F, CUDA_R_64F);
  SAME(RT_CUDA_R_16F, CUDA_R_16F);
  SAME(RT_CUDA_R_16BF, CUDA_R_16BF);
  SAME(RT_CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F);
  SAME(RT_CUBLAS_COMPUTE_64F, CUBLAS_COMPUTE_64F);
  SAME(RT_CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_32F_FAST_TF32);
  SAME(RT_CUBLAS_OP_N, CUBLAS_OP_N);
  SAME(RT_CUBLAS_OP_T, CUBLAS_OP_T);
  SAME(RT_LT_DESC_TRANSA, CUBLASLT_MATMUL_DESC_TRANSA);
  SAME(RT_LT_DESC_TRANSB, CUBLASLT_MATMUL_DESC_TRANSB);
  SAME(RT_LT_DESC_EPILOGUE, CUBLASLT_MATMUL_DESC_EPILOGUE);
  SAME(RT_LT_DESC_BIAS_POINTER, CUBLASLT_MATMUL_DESC_BIAS_POINTER);
  SAME(RT_LT_DESC_BIAS_BATCH_STRIDE, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE);
  SAME(RT_LT_DESC_EPILOGUE_AUX_POINTER, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER);
  SAME(RT_LT_DESC_EPILOGUE_AUX_LD, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD);
  SAME(RT_LT_DESC_EPILOGUE_AUX_BATCH_STRIDE, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE);
  SAME(RT_LT_DESC_BIAS_DATA_TYPE, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE);
  SAME(RT_LT_LAYOUT_BATCH_COUNT, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT);
  SAME(RT_LT_LAYOUT_STRIDED_BATCH_OFFSET, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET);
  SAME(RT_LT_EPI_DEFAULT, CUBLASLT_EPILOGUE_DEFAULT);
  SAME(RT_LT_EPI_BIAS, CUBLASLT_EPILOGUE_BIAS);
  SAME(RT_LT_EPI_GELU_AUX_BIAS, CUBLASLT_EPILOGUE_GELU_AUX_BIAS);
  SAME(RT_LT_EPI_BGRADA, CUBLASLT_EPILOGUE_BGRADA);
  SAME(RT_LT_EPI_BGRADB, CUBLASLT_EPILOGUE_BGRADB);
  SAME(RT_LT_PREF_MAX_WORKSPACE_BYTES, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES);
  SAME(RT_LT_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES);
  SAME(RT_LT_PREF_MIN_ALIGNMENT_B_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES);
  SAME(RT_LT_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES);
  SAME(RT_LT_PREF_MIN_ALIGNMENT_D_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES);
  SAME(sizeof(rt_cublasLtMatmulAlgo_t), sizeof(cublasLtMatmulAlgo_t));
  SAME(sizeof(rt_cublasLtMatmulHeuristicResult_t), sizeof(cublasLtMatmulHeuristicResult_t));
  SAME(offsetof(rt_cublasLtMatmulHeuristicResult_t, workspaceSize),
       offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize));
  SAME(offsetof(rt_cublasLtMatmulHeuristicResult_t, state),
       offsetof(cublasLtMatmulHeuristicResult_t, state));
  SAME(offsetof(rt_cublasLtMatmulHeuristicResult_t, wavesCount),
       offsetof(cublasLtMatmulHeuristicResult_t, wavesCount));
  SAME(sizeof(rt_cublasStatus_t), sizeof(cublasStatus_t));
  SAME(sizeof(rt_nvrtcResult), sizeof(nvrtcResult));

  /* the loaders find NVRTC and cuBLASLt of this toolkit (no GPU needed) */
  char why[512];
  CHECK(rt_nvrtc_load(why, sizeof why) != NULL, "NVRTC loads: %s", why);
  CHECK(rt_cublaslt_load(why, sizeof why) != NULL, "cuBLASLt loads: %s", why);
  return check_exit("test_cuda_api");
#endif
}
