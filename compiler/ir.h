/* compiler/ir.h -- the compiler layer in one look: graph IR, the recipe's
 * training settings, the pass API, the schedule/memory plan and the code
 * generator entry points.
 *
 * One idea: a recipe becomes ONE static graph. Every tensor is a node with a
 * fixed shape, a role (param, input, activation, gradient, optimizer state)
 * and the source span of the .ft text that made it; forward, backward and
 * (later) fused optimizer updates are all nodes of the same graph, so passes,
 * the scheduler and the planner see the whole step at once. Nodes produce
 * exactly one tensor. Ownership: a graph owns its nodes, their input arrays
 * and names (ir_graph_free releases everything).
 */
#ifndef FTC_COMPILER_IR_H
#define FTC_COMPILER_IR_H

#include <stdint.h>
#include <stdio.h>
#include "../lang/ast.h"

/* ---- ops -------------------------------------------------------------- */

typedef enum { OPK_LEAF, OPK_VIEW, OPK_ELEMWISE, OPK_KERNEL } IrOpKind;

typedef enum {
#define OP(e, name, arity, kind) IR_##e,
#include "ops.def"
#undef OP
  IR_OP_COUNT
} IrOp;

typedef struct IrOpInfo {
  const char *name;
  int arity; /* -1 variadic */
  IrOpKind kind;
} IrOpInfo;
extern const IrOpInfo ir_ops[IR_OP_COUNT];

/* ---- tensors ---------------------------------------------------------- */

typedef enum { IR_F32, IR_F64, IR_I32, IR_BF16, IR_F16, IR_DTYPE_COUNT } IrDtype;
int ir_dtype_size(IrDtype t);
const char *ir_dtype_name(IrDtype t);

#define IR_MAXRANK 6
#define IR_MAXIN 8 /* flash_attention_bwd reads eight */
typedef struct IrShape {
  int rank;
  int64_t d[IR_MAXRANK];
} IrShape;
int64_t ir_numel(const IrShape *s);
/* "[4,128,128]" into buf (n bytes); returns buf. */
char *ir_shape_str(const IrShape *s, char *buf, size_t n);

typedef enum {
  IR_ROLE_ACT,      /* forward activation or temporary */
  IR_ROLE_INPUT,    /* tokens / targets, filled by the data loader */
  IR_ROLE_PARAM,    /* weights (trainable or frozen) */
  IR_ROLE_GRAD,     /* gradient of a trainable parameter (persistent) */
  IR_ROLE_BWD,      /* backward temporary */
  IR_ROLE_OPTSTATE, /* optimizer state (planned, updated by the runtime) */
  IR_ROLE_COUNT
} IrRole;

typedef enum { IR_PHASE_FWD, IR_PHASE_BWD, IR_PHASE_OPT } IrPhase;

typedef enum { INIT_NONE, INIT_ZEROS, INIT_ONES, INIT_NORMAL, INIT_UNIFORM } IrInit;

typedef struct IrNode {
  IrOp op;
  IrDtype dtype;
  IrShape shape;
  int in[IR_MAXIN]; /* input node ids; nin used */
  int nin;
  int64_t ia[4];    /* integer attributes, meaning per op (ops.def) */
  double fa[2];     /* float attributes */
  int perm[IR_MAXRANK];
  IrRole role;
  IrPhase phase;
  const char *name; /* scope path: params use Hugging Face names
                       ("h.0.attn.c_attn.weight"); activations a readable
                       path ("h.0.attn.q") or NULL */
  Span span;        /* .ft text that produced the node */
  /* parameters */
  int trainable;    /* PARAM: gets a gradient and optimizer state */
  int no_decay;     /* PARAM: excluded from weight decay (norms, biases) */
  IrInit init;      /* PARAM initializer */
  double init_arg;  /* std for NORMAL, bound for UNIFORM */
  /* autodiff / passes */
  int grad_of;      /* GRAD/BWD: node this is the gradient of, else -1 */
  int group;        /* composite instance id (e.g. one attention), else -1 */
  const char *composite; /* "attention" for nodes of that composite, or NULL */
  int dead;         /* removed by a pass; skipped by schedule and plan */
} IrNode;

typedef struct IrGraph {
  IrNode *nodes;
  int n, cap;
  int tokens, targets; /* INPUT nodes (i32 [B,T]) */
  int logits;          /* [B,T,V] (or [B*T,V]) */
  int loss;            /* scalar [1] */
  int ngroups;
  void *arena;         /* names and other strings (ir.c) */
} IrGraph;

IrGraph *ir_graph_new(void);
void ir_graph_free(IrGraph *g);
/* Appends a node (inputs copied) and returns its id. The shape is inferred
 * by shape.c; on a shape error it reports at `sp` through `d` and returns -1. */
int ir_add(IrGraph *g, Diag *d, Span sp, IrOp op, const int *in, int nin);
/* For callers that set attributes before inference: ir_new + ir_infer.
 * Ops whose result shape is an attribute take the shape the caller stored
 * in the node and ir_infer only checks it: INPUT, PARAM, FILL (any shape),
 * RESHAPE (numel must match; one dim may be -1 and is resolved),
 * EMBEDDING_BWD, SUM_TO, BROADCAST, SLICE_BWD (the shape to restore).
 * Every other op's shape and dtype are computed from its inputs. */
int ir_new(IrGraph *g, IrOp op, const int *in, int nin, Span sp);
int ir_infer(IrGraph *g, Diag *d, int id);      /* 0 ok, -1 reported error */
int ir_has_shape_rule(IrOp op);                  /* shape.c has a rule for op */
/* MATMUL, EMBEDDING_BWD and SLICE_BWD take an optional extra last input, an
 * accumulator of the result's shape: y = op(...) + acc (autodiff sums
 * gradient contributions this way; the planner runs them in place). */
int ir_op_accumulates(IrOp op);
/* MATMUL ia[2], causal structure of attention (runtime rt_matmul_causal):
 * IR_TRI_OUT: y = tril(op(a) @ op(b)) over the last two dims (square; 0
 * above the diagonal); IR_TRI_A: y = op(tril(a)) @ op(b) (a's last two dims
 * square; its stored upper triangle is ignored). Autodiff keeps them exact. */
enum { IR_TRI_NONE = 0, IR_TRI_OUT = 1, IR_TRI_A = 2 };
const char *ir_strdup(IrGraph *g, const char *s);
int ir_verify(const IrGraph *g, FILE *err);       /* 0 ok */
void ir_dump(const IrGraph *g, FILE *out);        /* one node per line */
void ir_dot(const IrGraph *g, FILE *out);         /* Graphviz DOT */

/* ---- recipe settings (from the `data` and `train` blocks) ------------- */

typedef enum { OPT_SGD, OPT_ADAGRAD, OPT_ADAMW } OptKind;
typedef enum { SCHED_CONSTANT, SCHED_LINEAR, SCHED_COSINE } SchedKind;
typedef enum { DATA_TEXT, DATA_SHARDS } DataKind;

typedef struct Recipe {
  const char *path;        /* the .ft file */
  /* data */
  DataKind data_kind;
  const char *data_path;   /* absolute when written relative: see dir */
  int batch, seq;
  double split;            /* fraction used for training; rest is val */
  int vocab;               /* tokenizer vocabulary (bytes: 256) */
  /* train */
  int64_t steps;
  OptKind opt;
  double lr, momentum, beta1, beta2, eps, weight_decay;
  SchedKind sched;
  int64_t warmup;
  double min_lr;
  double clip;             /* global-norm clip, 0 = off */
  int64_t eval_every, eval_batches;
  int64_t save_every;
  const char *out_dir;     /* `save to` (resolved like data_path), or the
                              default runs/NAME, relative to the trainer's cwd */
  uint64_t seed;
  int64_t log_every;
  IrDtype dtype;           /* compute dtype of the build (F32; F64 for gradcheck) */
  const char *init_path;   /* weights = load("...") or NULL for init(seed) */
  uint64_t init_seed;      /* weights = init(seed: N); defaults to seed */
  const char *dir;         /* the recipe's directory, absolute: the paths
                              written in the recipe (data, load, save to)
                              are resolved against it at build time */
  const char *model_name;  /* the entry model's definition (gpt2, llama) */
} Recipe;

/* Elaboration: a loaded, checked AST -> the forward graph (inputs, params,
 * logits, loss) and the recipe settings. Errors (shapes, values) are
 * reported at the .ft span. Returns NULL after reporting. */
IrGraph *elaborate(AstCtx *c, AstNode *root, Diag *d, Recipe *out);

/* Reverse-mode autodiff: appends backward nodes; every trainable PARAM gets
 * one IR_ROLE_GRAD node (grad_of = the param). Returns 0 or -1. */
int autodiff(IrGraph *g, Diag *d);
/* The gradient node of a param, or -1. */
int ir_grad_of(const IrGraph *g, int param);

/* ---- passes ----------------------------------------------------------- */

typedef enum { PP_INT, PP_FLOAT, PP_BOOL, PP_STRING, PP_NAME } PassParamType;
/* PP_NAME: a bare word such as `bf16` (read with pass_str) */
typedef struct PassParam {
  const char *name;
  PassParamType type;
  const char *def;  /* default, as .ft text, or NULL = required */
  const char *doc;
} PassParam;

typedef struct PassArgs PassArgs; /* parsed arguments; pass.c */
int64_t pass_int(const PassArgs *a, const char *name);
double pass_float(const PassArgs *a, const char *name);
const char *pass_str(const PassArgs *a, const char *name);
int pass_bool(const PassArgs *a, const char *name);
Span pass_span(const PassArgs *a); /* the pass's call in the recipe */

typedef struct PassFact {
  const char *other;   /* another pass's name */
  const char *reason;  /* one sentence shown to the user */
} PassFact;

typedef struct Pass {
  const char *name;
  const char *doc;          /* one paragraph */
  const PassParam *params;  /* terminated by {0} */
  const PassFact *requires; /* terminated by {0} */
  const PassFact *conflicts;/* terminated by {0} */
  const char *const *before;/* passes this must run before, NULL-terminated */
  IrPhase stage;            /* runs after elaboration (FWD) or autodiff (BWD) */
  int (*run)(IrGraph *g, const PassArgs *a, Diag *d);
} Pass;

/* The registry: built-ins from compiler/passes/ plus loaded plugins. */
const Pass *const *pass_list(int *n);
const Pass *pass_find(const char *name);
/* Adds a pass (a plugin) to the registry; the descriptor is borrowed and
 * must outlive every use. Returns 0, or -1 if the name is taken or full. */
int pass_register(const Pass *p);
/* The registry as signatures for ast_check (name == NULL terminates). */
const AstSig *ftc_pass_sigs(void);
/* Checks a recipe's `passes { ... }` against the registry and the facts;
 * diagnostics point at the recipe. Runs the passes of `stage` in order. */
int pass_run_stage(IrGraph *g, const AstNode *passes_block, IrPhase stage, Diag *d);
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
void plan_print(const IrGraph *g, const Recipe *r, const Plan *p, FILE *out);
void plan_print_json(const IrGraph *g, const Recipe *r, const Plan *p, FILE *out);

/* ---- code generation --------------------------------------------------- */

/* Writes the trainer's C source: kernel calls in schedule order (each
 * commented with its node and .ft line), the parameter table and the recipe
 * settings, ending in main() -> rt_main(). Deterministic output. */
int cg_c_trainer(const IrGraph *g, const Recipe *r, const Plan *p, FILE *out);

#endif
