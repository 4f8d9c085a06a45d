/* compiler/back.h -- internal helpers shared by the back half of the
 * compiler (autodiff, passes, scheduler, planner, code generator, driver).
 *
 * One idea: every back-end stage walks the graph in the same dependency
 * order and asks the same questions (is this node a view? what does it
 * alias? how many bytes does it take in this build?), so those answers live
 * here once instead of being re-derived, slightly differently, per file.
 */
#ifndef FTC_COMPILER_BACK_H
#define FTC_COMPILER_BACK_H

#include "ir.h"

/* Node ids of all live (not dead) nodes in a dependency order: every node
 * after its inputs; ties broken by (phase, id), so the forward keeps program
 * order and the backward follows it. Returns a malloc'd array (caller
 * frees) and its length in *n, or NULL on a cycle (reported to `err`). */
int *sched_topo(const IrGraph *g, int *n, FILE *err);
/* The same over every node, dead ones included (ir_sort renumbers them all). */
int *sched_topo_all(const IrGraph *g, int *n, FILE *err);

/* The node a view finally aliases (follows chains of views); the node
 * itself when it is not a view. */
int back_view_base(const IrGraph *g, int id);

/* Element size of a node in a build whose float dtype is `fdt`: float
 * tensors (F32/F64) take the build dtype, everything else its own size. */
int back_elem_size(const IrNode *n, IrDtype fdt);

/* Shapes as text, "[16,128,384]" (into a caller buffer). */
const char *back_shape_str(const IrShape *s, char *buf, size_t cap);

/* A MATMUL node as one batched row-major product y[b] = op(a[b]) @ op(b[b]):
 * op(a) [M,K], op(b) [K,N], batch strides sa, sb in elements (0 = shared).
 * A 2-D b shared by a batched, untransposed a folds the batch into M (one
 * bigger product), except for causal products. (codegen/cg_c.c) */
typedef struct BackMatmul {
  int ta, tb;
  int64_t M, N, K, batch, sa, sb;
} BackMatmul;
BackMatmul back_matmul(const IrGraph *g, int id);

/* Optimizer state slots per trainable parameter for a recipe. */
int plan_state_slots(const Recipe *r);

/* compiler/plan/pack.c: places n items (size, lifetime [first, last] in
 * schedule positions, inclusive) at offsets >= base so that no two alive
 * at the same position overlap, largest first at the lowest free offset.
 * Sets each item's off; returns the end of the highest (-1: no memory). */
typedef struct PackItem {
  int64_t size;
  int first, last;
  int64_t off;
} PackItem;
int64_t plan_pack(PackItem *it, int n, int64_t base);

/* Verifier: no two tensors that are live at the same time overlap in the
 * arena (except an in-place output taking over its dying input). Prints
 * every violation to `err`; returns their count. */
int plan_verify(const IrGraph *g, const Plan *p, FILE *err);

/* the built-in passes the driver runs by default */
#include "passes/builtin.h"

#endif
