/* compiler/ir.h -- the compiler layer in one look: the graph IR and the
 * pass API (pass.h, public), the recipe's settings, elaboration, autodiff,
 * the pass manager, the schedule/memory plan and the code generator entry
 * points.
 *
 * One idea: a recipe becomes ONE static graph. Every tensor is a node with a
 * fixed shape, a role (param, input, activation, gradient, optimizer state)
 * and the source span of the .ft text that made it; forward, backward and
 * fused optimizer updates are all nodes of the same graph, so passes,
 * the scheduler and the planner see the whole step at once. The graph's
 * types and every function a pass rewrites it with live in pass.h, the one
 * header built-in passes and plugins share; this header adds what only the
 * compiler itself calls.
 */
#ifndef FTC_COMPILER_IR_H
#define FTC_COMPILER_IR_H

#include <stdint.h>
#include <stdio.h>
#include "pass.h"
#include "../lang/ast.h"

/* Elaboration: a loaded, checked AST -> the forward graph (inputs, params,
 * logits, loss) and the recipe settings. Errors (shapes, values) are
 * reported at the .ft span. Returns NULL after reporting. */
IrGraph *elaborate(AstCtx *c, AstNode *root, Diag *d, Recipe *out);

/* Warnings for settings that are legal but almost surely wrong (warmup as
 * long as the run, eval/save intervals longer than it, lr > 1 for an
 * adaptive optimizer, ...), each at the recipe text that set the value;
 * with `files`, also named data or weights files that do not exist
 * (ftc check). compiler/elab/settings_lint.c */
void el_lint_settings(const AstNode *root, const Recipe *r, Diag *d, int files);

/* Reverse-mode autodiff: appends backward nodes; every trainable PARAM gets
 * one IR_ROLE_GRAD node (grad_of = the param). Returns 0 or -1. */
int autodiff(IrGraph *g, Diag *d);

/* For ir_verify (shape.c): 0 when node id's stored shape and dtype are what
 * its op's rule gives for its inputs; else -1 and the reason in `why`. */
int ir_check_shape(const IrGraph *g, int id, char *why, size_t cap);

/* ---- the pass manager (pass.c) --------------------------------------- */

/* The registry: built-ins from compiler/passes/ plus loaded plugins. */
const Pass *const *pass_list(int *n);
const Pass *pass_find(const char *name);
/* The registry as signatures for ast_check (name == NULL terminates). */
const AstSig *ftc_pass_sigs(void);
/* Checks a recipe's `passes { ... }` against the registry and the facts;
 * diagnostics point at the recipe. Runs the passes of `stage` in order. */
int pass_run_stage(IrGraph *g, const AstNode *passes_block, IrPhase stage, Diag *d);
/* The same, stopping right after the pass named `stop_after` (then
 * *stopped = 1): what `ftc graph --after PASS` shows. */
int pass_run_stage_until(IrGraph *g, const AstNode *passes_block, IrPhase stage, Diag *d,
                         const char *stop_after, int *stopped);
/* Registers a plugin's pass, remembering the file it came from. */
int pass_register_from(const Pass *p, const char *from);
/* The plugin file a registered pass came from, or NULL (built in). */
const char *pass_origin(const Pass *p);
/* Loads a pass plugin (compiler/plugin.c): dlopen, the entry symbol, the
 * ABI and layout checks, registration. 0, or -1 after a message to stderr
 * that names the file and what is wrong with it. */
int pass_load_plugin(const char *path);
void pass_print_all(FILE *out);

/* ---- schedule and memory plan ----------------------------------------- */

typedef enum {
  PLAN_PARAMS, PLAN_GRADS, PLAN_OPTSTATE, PLAN_INPUTS, PLAN_ACTIVATIONS,
  PLAN_TEMPS, PLAN_CAT_COUNT
} PlanCat;

typedef struct Plan {
  int *order;          /* schedule: node ids in execution order */
  int norder;
  int nfwd;            /* order[0..nfwd) is the forward (loss) part */
  int64_t *offset;     /* per node: byte offset in the arena, -1 = none */
  int64_t *bytes;      /* per node: bytes (views alias their input) */
  int64_t arena_bytes; /* size of the one arena (max offset+size) */
  int64_t cat_bytes[PLAN_CAT_COUNT]; /* per category at the live peak */
  int64_t peak_live;   /* largest sum of live tensors at any op */
  int peak_at;         /* index into order where it occurs */
  /* added by the planner (back half): */
  int nslots;          /* optimizer state slots per trainable param (0..2) */
  int64_t *state_off;  /* per node: [2*id + slot] state offset, -1 = none */
  int *first, *last;   /* per node: live range as order indexes (persistent:
                          0 .. norder-1; not planned: -1) */
  int *inplace_of;     /* per node: the dying input it overwrites, or -1 */
} Plan;

Plan *plan_build(const IrGraph *g, const Recipe *r);
void plan_free(Plan *p);
/* ranks: also the memory of one rank of that many (data parallel, zero) */
void plan_print(const IrGraph *g, const Recipe *r, const Plan *p, int ranks, FILE *out);
void plan_print_json(const IrGraph *g, const Recipe *r, const Plan *p, int ranks, FILE *out);

/* ---- code generation --------------------------------------------------- */

/* Writes the trainer's C source: kernel calls in schedule order (each
 * commented with its node and .ft line), the parameter table and the recipe
 * settings, ending in main() -> rt_main(). Deterministic output. */
int cg_c_trainer(const IrGraph *g, const Recipe *r, const Plan *p, FILE *out);

#endif
