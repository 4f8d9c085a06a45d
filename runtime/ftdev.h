/* runtime/ftdev.h -- what a CUDA-enabled trainer hands the runtime: the
 * device program (kernels, cuBLASLt call descriptors, embedded cubins, the
 * device step functions), and the few calls its generated host code makes.
 *
 * One idea: the generated host code is the same for every device. It is a
 * straight line of rt_dev_launch / rt_dev_gemm calls with arena offsets
 * fixed by the plan; a device is a table of functions behind those calls.
 * `--device cuda` sends them to the driver API and cuBLASLt, `--device emu`
 * runs the same kernels compiled for the host (cuda_emu.h) and the same
 * GEMM descriptors on the CPU BLAS, so a CUDA trainer can be checked
 * against the CPU backend on any machine. Memory layout on the device: the
 * plan's arena at offset 0, then a tail the CUDA generator plans (reduction
 * scratch, cuBLASLt workspace, the optimizer's tensor table and per-step
 * scalars), all in ONE allocation.
 */
#ifndef FTC_RUNTIME_FTDEV_H
#define FTC_RUNTIME_FTDEV_H

#include <stddef.h>
#include <stdint.h>

typedef struct rt_dev rt_dev;

/* element types of GEMM operands */
typedef enum { RT_DT_F32 = 0, RT_DT_F64 = 1, RT_DT_BF16 = 2, RT_DT_F16 = 3 } rt_dt;

/* cuBLASLt epilogues the generator fuses into a product */
typedef enum {
  RT_EPI_NONE = 0,
  RT_EPI_BIAS,          /* D = AB + bias[row of D] */
  RT_EPI_GELU_AUX_BIAS, /* aux = AB + bias; D = gelu(aux) (tanh form) */
  RT_EPI_BGRADA,        /* D = AB; bias[row of D] = sum over k of A (op(A) rows) */
  RT_EPI_BGRADB,        /* D = AB; bias[col of D] = sum over k of op(B) cols */
} rt_epi;

/* One product site, in cuBLASLt's column-major terms:
 *   D[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C   (C = D)
 * for `batch` matrices at the given element strides. The row-major
 * product y = a @ b of the IR is D = y^T = b^T a^T (the generator swaps
 * the operands). Pointers come with the call; bias and aux are arena
 * offsets fixed at build time. */
typedef struct rt_gemm {
  int ta, tb; /* op(A) = A^T, op(B) = B^T */
  int64_t m, n, k, lda, ldb, ldc;
  int64_t batch, stride_a, stride_b, stride_c;
  rt_dt type_ab, type_cd; /* operands, result */
  double alpha, beta;
  rt_epi epi;
  int64_t bias_off, aux_off, aux_ld; /* -1 = none */
  const char *site;                  /* "%12 matmul h.0.attn.c_attn (gpt2.ft:20)" */
  int64_t align;                     /* every A, B, D pointer of its calls is aligned to
                                        this many bytes (0 = unknown: 4) */
} rt_gemm;

/* One kernel of the module. `emu` runs one thread of it on the host
 * (cuda_emu.h) from the packed argument buffer; `sync` says whether it
 * uses barriers or warp collectives (then threads run as fibers, else as a
 * loop); `smem` is its dynamic shared memory in bytes. */
typedef struct rt_dev_kernel {
  const char *name;
  void (*emu)(const void *args);
  int sync;
  unsigned smem;
} rt_dev_kernel;

/* A compiled module for one architecture: arch = 90 for an sm_90 cubin,
 * -90 for compute_90 PTX (the driver compiles it for newer chips). */
typedef struct rt_dev_image {
  int arch;
  const unsigned char *data;
  size_t size;
} rt_dev_image;

/* One trainable tensor for the multi-tensor optimizer kernels (uploaded
 * into the device tail once). Offsets in bytes; -1 = none. */
typedef struct rt_dev_tensor {
  int64_t w, g, s0, s1;
  int64_t n;
  int64_t decay;  /* 1: weight decay applies */
  int64_t chunk0; /* first chunk of this tensor in the launch */
} rt_dev_tensor;

/* Per-step optimizer scalars, computed on the host exactly as the CPU
 * optimizer computes them and uploaded before each update (so a captured
 * graph replays with the new values). */
typedef struct rt_opt_scalars {
  double lr, gscale, wd, mom, b1, b2, eps, step, rbc2, keep;
} rt_opt_scalars;

/* One call site of the step (forward sites, then backward sites, in
 * schedule order): what it computes and up to three regions it writes,
 * so `devcheck` can run it alone and compare it with the CPU. */
typedef struct rt_dev_site {
  int pos;                          /* last schedule position it covers */
  const char *op;                   /* IR op (of the last node it covers) */
  const char *what;                 /* "%12 gelu [4,32,256] h.0.mlp.act (gpt2.ft:31)" */
  int64_t out_off[3], out_bytes[3]; /* -1 = unused */
  rt_dt dtype;                      /* of the outputs */
} rt_dev_site;

/* A site's host code: launches and products for one node (or a fused
 * group), on arena base B; no_grads: eval/sampling (fused kernels skip
 * gradient work). */
typedef void (*rt_dev_site_fn)(rt_dev *d, unsigned char *B, int no_grads);

/* Everything device-side a trainer carries (generated device.c). */
typedef struct rt_dev_program {
  const char *source; /* the kernel module's name, for messages */
  const rt_dev_image *images;
  int nimages;
  const rt_dev_kernel *kernels;
  int nkernels;
  const rt_gemm *gemms;
  int ngemms;
  int64_t arena_bytes;                /* the plan's arena, at offset 0 */
  int64_t bytes;                      /* the whole device allocation */
  int64_t ws_off, ws_bytes;           /* cuBLASLt workspace */
  int64_t scratch_off, scratch_bytes; /* reduction partials */
  int64_t tensors_off;                /* rt_dev_tensor[ntensors] */
  int64_t scalars_off;                /* rt_opt_scalars */
  int64_t sumsq_off;                  /* double: sum of g^2 of the last update */
  const rt_dev_tensor *tensors;
  int ntensors;
  /* the step: sites[0, nfwd) are the forward, [nfwd, nsites) the backward */
  const rt_dev_site *sites;
  const rt_dev_site_fn *site_fn;
  int nsites, nfwd;
  /* the optimizer update (also writes sum of g^2 to sumsq_off) and the
   * sum of g^2 alone (clipping needs it before the update) */
  rt_dev_site_fn update, sumsq;
  /* kernels that do a product's epilogue after a plain product, for a
   * cuBLASLt that refuses it (-1 = the module has none):
   * epi_bias(D, bias, m, n, ldc, batch, stride_c): D[i + j ldc] += bias[i];
   * epi_bgrad(bias, A, m, k, lda, ta): bias[i] = sum over k of op(A)[i, :] */
  int k_epi_bias, k_epi_bgrad;
} rt_dev_program;

/* ---- calls of the generated host code ---------------------------------- */
/* The device address of arena offset 0 (device pointers are plain values
 * to the host code: it never dereferences them). */
unsigned char *rt_dev_base(rt_dev *d);
/* Launch kernel k with a grid and block, dynamic shared bytes, and the
 * arguments packed as the kernel's parameter list (a C struct). */
void rt_dev_launch(rt_dev *d, int k, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, const void *args, size_t argsz);
/* Run product site g with these operands (device addresses). */
void rt_dev_gemm(rt_dev *d, int g, const void *A, const void *B, void *D);
/* Device-to-device copy and byte fill, in stream order. */
void rt_dev_copy(rt_dev *d, void *dst, const void *src, int64_t bytes);
void rt_dev_memset(rt_dev *d, void *dst, int byte, int64_t bytes);

#endif
