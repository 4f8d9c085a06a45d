/* compiler/codegen/cg_cuda.h -- the CUDA generator's parts, shared by its
 * files: cg_cuda.c walks the schedule and writes the device program;
 * cg_cuda_{elem,norm,loss,layout,gemm,attn,optim}.c each emit the kernels
 * and host calls of one family of ops; cg_cuda_kern.c keeps the kernel
 * table; nvrtc.c compiles the module.
 *
 * One idea: a kernel is TEXT plus a parameter list. Emitters write a
 * kernel's source with its shape constants baked in (so the compiler can
 * unroll and strength-reduce) and register it by name; identical kernels
 * from different nodes (every layer of a model) are one kernel. Parameters
 * are only pointers, `i64` and `double`, eight bytes each, so the packed
 * argument buffer of a launch is exactly a C struct of the same fields on
 * every side: the host code fills it, cuLaunchKernel copies it, and the
 * emulator's trampoline unpacks it. The host side of a node is a "site"
 * function: a few rt_dev_launch / rt_dev_gemm calls at fixed arena offsets.
 */
#ifndef FTC_COMPILER_CG_CUDA_H
#define FTC_COMPILER_CG_CUDA_H

#include <stdio.h>
#include "../ir.h"

#define CU_BLOCK 256 /* threads of a block unless a kernel says */
#define CU_MAXKERN 4096
#define CU_MAXGEMM 4096

typedef struct CuKernel {
  char *name;    /* C identifier, unique in the module */
  char *params;  /* "float *y, const float *x, i64 n" */
  char *text;    /* the whole definition, comment included */
  int sync;      /* barriers / warp collectives: fibers in emu */
  unsigned smem; /* dynamic shared memory bytes */
  int uses;      /* launch sites that use it */
  char *first;   /* the first site's description */
} CuKernel;

/* One cuBLASLt product site (ftdev.h's rt_gemm, as the generator sees it) */
typedef struct CuGemm {
  int ta, tb;
  int64_t m, n, k, lda, ldb, ldc, batch, sa, sb, sc;
  int type_ab, type_cd; /* rt_dt values */
  double alpha, beta;
  int epi; /* rt_epi */
  int64_t bias_off, aux_off, aux_ld;
  char *site;
  int64_t align;            /* the largest power of two (<= 256) dividing every
                               pointer of its calls; 0 until the first call */
} CuGemm;

typedef struct Cu {
  const IrGraph *g;
  const Recipe *r;
  const Plan *p;
  FILE *host; /* site functions (device.c) */
  CuKernel *k;
  int nk;
  CuGemm *gm;
  int ngm;
  int64_t scratch;     /* reduction scratch the step needs, bytes */
  int64_t scratch_off; /* where it starts (after the arena) */
  const char *T;       /* float element type: "float" or "double" */
  int f64;
  char what[512]; /* the current site: "%12 gelu [..] name (f.ft:3)" */
  int err;
  /* cuBLASLt epilogues (cg_cuda_gemm.c: cu_plan_epilogues): per node */
  int *skip;    /* its work is done by another node's site */
  int *bias_of; /* MATMUL: the bias node it adds (RT_EPI_BIAS, writing
                   into add_of's output) or the bias-gradient node it
                   writes (RT_EPI_BGRADA); -1 */
  int *add_of;  /* MATMUL fused with a bias: the ADD node */
  int *chain_prev; /* an elementwise node fused with the one before it
                      (cg_cuda_fuse.c), else -1 */
} Cu;

/* ---- text helpers (cg_cuda_kern.c) ---------------------------------------- */
/* printf into a fresh malloc'd string (NULL on OOM, c->err set) */
char *cu_str(Cu *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a double as C text that reads back exactly (INFINITY, NAN too) */
const char *cu_dbl(double v, char *buf, size_t cap);
/* Expands a kernel template: $T (element type), $A (accumulator type:
 * double), $F (literal suffix f or nothing), $EXP $LOG $SQRT $TANH $FMAX
 * $FMIN $FABS $COS $SIN (the element type's math), $NINF (its -inf),
 * $NAME, and $0..$9 from
 * argv. Returns malloc'd text. */
char *cu_tmpl(Cu *c, const char *tmpl, const char *name, const char *const *argv, int argc);

/* Registers a kernel (or finds the identical one): returns its index, or
 * -1 (c->err). `body` is the text after the parameter list's ')' (the
 * braces included); `doc` one comment line. */
int cu_kernel(Cu *c, const char *name, const char *doc, const char *params, const char *body,
              int sync, unsigned smem);
/* cu_kernel for a template: expands `params` and `body` (cu_tmpl with
 * argv) and registers the kernel. */
int cu_kernel_tmpl(Cu *c, const char *name, const char *doc, const char *params, const char *body,
                   const char *const *argv, int argc, int sync, unsigned smem);
/* Host code: launch kernel k over a grid of blocks with `args` (the
 * struct initializer, in parameter order). */
void cu_launch(Cu *c, int k, int64_t gx, int64_t gy, int64_t gz, int bx, const char *args);
/* A grid-stride map kernel: `expr` (template text) runs for each i < n
 * with the parameters `params`; registers it and launches it with args. */
int cu_map(Cu *c, const char *name, const char *doc, const char *params, const char *expr,
           int64_t n, const char *args);
/* Host code: a product site (registered, deduplicated). */
int cu_gemm(Cu *c, const CuGemm *g);
void cu_call_gemm(Cu *c, int g, int64_t A, int64_t B, int64_t D); /* arena offsets */
/* The IR's row-major product y[M,N] = op(a)[M,K] @ op(b)[K,N] (batched at
 * element strides sa, sb; y += when beta = 1) as a product site, and its
 * call with the operands as host expressions (cg_cuda_gemm.c). */
int cu_mm(Cu *c, int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t batch, int64_t sa,
          int64_t sb, double beta);
void cu_mm_call(Cu *c, int g, int64_t y, int64_t a, int64_t b);

/* ---- node emitters ------------------------------------------------------------ */
int64_t cu_numel(const Cu *c, int id);
int64_t cu_lastd(const Cu *c, int id);
int64_t cu_off(const Cu *c, int id);
int64_t cu_esz(const Cu *c); /* element bytes of float tensors */
/* asks for `bytes` of reduction scratch for the current site; returns its
 * arena offset (the scratch is shared: sites run one after the other) */
int64_t cu_scratch(Cu *c, int64_t bytes);

int cu_emit_elem(Cu *c, int id);   /* cg_cuda_elem.c */
int cu_emit_norm(Cu *c, int id);   /* cg_cuda_norm.c */
int cu_emit_loss(Cu *c, int id);   /* cg_cuda_loss.c */
int cu_emit_layout(Cu *c, int id); /* cg_cuda_layout.c */
int cu_emit_matmul(Cu *c, int id); /* cg_cuda_gemm.c */
/* Finds products whose bias add or bias gradient cuBLASLt can fuse
 * (fills skip, bias_of, add_of); 0 or -1. */
int cu_plan_epilogues(Cu *c);
/* Finds chains of elementwise ops to run as one kernel (after the
 * epilogues: fills skip, chain_prev), and emits a chain at its last node
 * (cg_cuda_fuse.c). */
int cu_plan_chains(Cu *c);
int cu_emit_chain(Cu *c, int last);
int cu_emit_attention(Cu *c, int id); /* cg_cuda_attn.c */
/* the optimizer's update and sum-of-squares sites (cg_cuda_optim.c):
 * writes the tensor table and the two site functions; returns the number
 * of blocks of partial sums it needs, or -1 */
int64_t cu_emit_optim(Cu *c, FILE *o, int64_t *ntensors);
/* the device copy of `bytes` from node `src` to node `dst` (no-op when
 * they share storage) */
void cu_copy(Cu *c, int64_t dst_off, int64_t src_off, int64_t bytes);

/* The kernel module's common prelude (block reductions, 16-bit floats,
 * portability macros for NVRTC and the emulator). */
extern const char cu_prelude[];

#endif
