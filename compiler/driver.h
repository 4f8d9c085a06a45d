/* compiler/driver.h -- the compile pipeline shared by `ftc plan`, `build`
 * and `graph`: load -> ast_check (with the pass signatures) -> elaborate ->
 * forward passes -> autodiff -> backward passes -> dce -> plan.
 *
 * One idea: every command runs the same stages and stops where it has what
 * it needs, so a recipe that plans also builds, and a diagnostic printed by
 * one command is printed identically by the others.
 */
#ifndef FTC_COMPILER_DRIVER_H
#define FTC_COMPILER_DRIVER_H

#include "ir.h"

typedef enum {
  DRV_FORWARD,  /* stop after the forward passes (ftc graph) */
  DRV_BACKWARD, /* through autodiff, backward passes and dce */
  DRV_PLAN,     /* and the memory plan */
  DRV_CHECK,    /* ftc check: the whole pipeline of DRV_PLAN for a recipe,
                   names only for a library module (no model, data, train
                   or passes), plus warnings for missing data/weights files */
} DrvStop;

typedef struct DrvOpts {
  const char *path;       /* the recipe */
  DrvStop stop;
  int dtype_override;     /* -1 = recipe's, else an IrDtype (F32/F64) */
  int verify;             /* run ir_verify after every stage, plan_verify */
  const char *after;      /* stop right after this pass or stage (ftc graph
                             --after): a pass of the recipe, fuse_lm_head_ce,
                             autodiff or dce; NULL = run `stop` through */
  int max_errors;         /* errors collected before giving up; 0 = 20 */
} DrvOpts;

/* Everything a compile produced; drv_free releases all of it. */
typedef struct Drv {
  Diag *diag;
  AstCtx *ast;
  AstNode *root;
  IrGraph *g;
  Recipe r;
  Plan *plan;
} Drv;

/* Returns an exit code (cmd.h): 0, 1 (diagnostics printed), 3 (I/O or
 * internal). `out` is filled as far as the pipeline got; free it always. */
int drv_compile(const DrvOpts *o, Drv *out);
void drv_free(Drv *d);

/* compiler/codegen/build.c: generates the trainer's C for a planned graph
 * (and, with the CUDA toolkit, its CUDA step: kernels through NVRTC for
 * `arch`, embedded) and links it with the runtime into `out`. */
typedef struct BuildOpts {
  const char *emit_c;     /* also write the generated C here (or NULL) */
  const char *emit_cuda;  /* also write the kernel module here (or NULL) */
  const char *arch;       /* "sm_80,sm_90", "none"; NULL = $FTC_ARCH or sm_90 */
  int keep;               /* keep the temp build directory (printed) */
} BuildOpts;
/* Returns an exit code (cmd.h). */
int build_trainer(const Drv *d, const char *out, const BuildOpts *bo);

#endif
