/* compiler/pass.h -- the pass API: the graph IR and every function a pass
 * rewrites it with. Public: `make install` puts it (with ops.def and
 * span.h) under include/ftc/, and the built-in passes of compiler/passes/
 * use nothing else, so a plugin can do whatever a built-in does.
 *
 * One idea: a pass is a descriptor (name, typed parameters, facts with
 * reasons, stage, run) plus a rewrite of ONE static graph whose nodes are
 * plain structs in one array. A pass walks that array, matches nodes by op
 * and scope name, appends new nodes (ir_new/ir_add), points readers at them
 * (ir_replace_uses) and marks what it replaced dead (ir_kill). It may leave
 * readers pointing at later nodes: after every pass the manager puts the
 * array back into dependency order (ir_sort), re-checks every shape and
 * runs the verifier, and refuses a pass whose graph does not pass it.
 *
 * Node pointers are not stable: ir_new may move the array, so keep ids
 * and copy what you need from a node before adding one. Ownership: a graph
 * owns its nodes and the strings ir_strdup returns; a Pass descriptor and
 * everything it points to is borrowed and must outlive the compile.
 *
 * Plugins: a shared object that defines FTC_PLUGIN(...) (see the end of
 * this file and examples/passes/). ftc refuses one built against another
 * FTC_PASS_ABI or another layout of the structs below.
 */
#ifndef FTC_COMPILER_PASS_H
#define FTC_COMPILER_PASS_H

#include <stdint.h>
#include <stdio.h>
#include "span.h" /* Span, Diag, diag_at: report at the recipe's text */

/* Bumped whenever a struct, enum or function of this header changes
 * meaning (ops are only ever appended to ops.def). */
#define FTC_PASS_ABI 3

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
#define IR_MAXIN 9 /* flash_attention_bwd reads nine */
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
  int follows;      /* -1, or the node this one is scheduled right after once
                       ready (a collective next to its producer; sched.c) */
  const char *layer; /* the repeat item whose `for` iteration made the node
                        ("h.3"; one string per item, so pointers compare),
                        NULL outside repeat loops (checkpoint's segments) */
} IrNode;

struct Recipe;

typedef struct IrGraph {
  IrNode *nodes;
  int n, cap;
  int tokens, targets; /* INPUT nodes (i32 [B,T]) */
  int logits;          /* [B,T,V] (or [B*T,V]) */
  int loss;            /* scalar [1] */
  int ngroups;
  void *arena;         /* names and other strings (ir.c) */
  struct Recipe *recipe; /* the recipe's settings (below); NULL for a graph
                            built by hand. A pass reads them, and sets only
                            the ones it owns. */
  int zero_stage;      /* passes/zero.c: 0 none (or plain data parallel); 1
                          state, 2 + gradients, 3 + parameters sharded */
  const char *notes;   /* what the passes did, one line each (ir_note);
                          `ftc plan` prints them */
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
 * Every other op's shape and dtype are computed from its inputs. A new
 * node is a forward activation (role ACT, phase FWD) until the caller says
 * otherwise. */
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
/* Checks the whole graph: arities, that inputs exist and are live, ranks,
 * dtypes, roles, unique parameter names, and that every live node's stored
 * shape and dtype are what its op's shape rule gives for its inputs. Prints
 * one line per problem to `err` (may be NULL) and returns 0 or -1. */
int ir_verify(const IrGraph *g, FILE *err);
void ir_dump(const IrGraph *g, FILE *out);        /* one node per line */
void ir_dot(const IrGraph *g, FILE *out);         /* Graphviz DOT */
/* The gradient node of a param (after autodiff), or -1. */
int ir_grad_of(const IrGraph *g, int param);

/* ---- walking and matching --------------------------------------------- */

/* Every live node, in id order: IR_FOR_LIVE(g, id) { ... } */
#define IR_FOR_LIVE(g, id)                                                    \
  for (int id = 0; id < (g)->n; id++)                                         \
    if (!(g)->nodes[id].dead)
/* 1 when `id` is a live node of op `op` (any op when op == IR_OP_COUNT). */
int ir_is(const IrGraph *g, int id, IrOp op);
/* Input k of node id when that input is a live node of op `op` (any op
 * when op == IR_OP_COUNT), else -1: chains read as nested calls,
 * `int mm = ir_in(g, ir_in(g, loss, 0, IR_RESHAPE), 0, IR_MATMUL)` (an id
 * of -1 gives -1). */
int ir_in(const IrGraph *g, int id, int k, IrOp op);
/* The live nodes that read `id` (each once), the first `max` into `out`
 * (may be NULL); returns how many there are. The runtime also reads
 * g->loss and g->logits, which no node does: check those ids yourself. */
int ir_users(const IrGraph *g, int id, int *out, int max);
/* The live parameter named `name`, or -1. */
int ir_find_param(const IrGraph *g, const char *name);
/* Glob match of a scope name: '*' any run of characters (dots included),
 * '?' one character, '|' separates alternatives ("*.attn.*|*.mlp.*"). */
int ir_glob(const char *pattern, const char *name);
/* The layer a scope name belongs to: N for "h.N.…" or "layers.N.…" (any
 * "<word>.<number>." prefix of a repeat block), else -1. */
int ir_layer_of(const char *name);

/* ---- inserting and replacing ------------------------------------------ */

/* A new parameter (role PARAM, a leaf): its name must be unique (it is a
 * checkpoint key). Returns its id, or -1 after reporting at `sp`. */
int ir_param_new(IrGraph *g, Diag *d, Span sp, const char *name, IrShape shape,
                 IrDtype dtype, int trainable, IrInit init, double init_arg);
/* Every live reader of `old` except `keep` (-1: none) reads `with` instead;
 * g->loss and g->logits follow too. Returns the number of inputs changed.
 * Readers may now come before `with` in the array: the pass manager sorts
 * after the pass (or call ir_sort). */
int ir_replace_uses(IrGraph *g, int old, int with, int keep);
/* Marks a node dead: schedule and plan skip it (nothing live may read it). */
void ir_kill(IrGraph *g, int id);
/* Puts the node array back into dependency order (a node after its
 * inputs; otherwise the order of (phase, id) is kept) and renumbers every
 * reference. Does nothing when the order already holds. 0, or -1 after
 * printing to `err` when the graph has a cycle. Ids held across it are
 * stale. */
int ir_sort(IrGraph *g, FILE *err);
/* Renumbers the nodes in a given order: order[k] (a permutation of
 * 0..n-1) becomes node k and every id is remapped. 0, or -1 (nothing
 * changed) when a node would come before one of its inputs. */
int ir_permute_nodes(IrGraph *g, const int *order);
/* Appends a line (printf-style, no newline) to g->notes: what a pass did
 * and what it saved, printed by `ftc plan` under "passes:". */
void ir_note(IrGraph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- recomputation in the backward (recompute.c) ----------------------
 * The one mechanism for giving up a kept activation (checkpoint uses it;
 * any policy only has to choose what to drop). drop[i] != 0 marks forward
 * node i as not kept for the backward: every backward node that reads it
 * (or a view of it) reads a clone instead, made in the backward phase from
 * clones of dropped inputs and the kept originals of the others; a cloned
 * node's scratch inputs are cloned with it. Each clone is placed right
 * before its first reader (the graph is renumbered; ids held are stale).
 * Run after autodiff. Returns the number of nodes added, or -1 after a
 * diagnostic. */
int recompute(IrGraph *g, const char *drop, Diag *d);
/* Bytes of forward tensors (views excluded) that live backward nodes read:
 * what the step keeps for its backward, at each node's own dtype. */
int64_t recompute_kept_bytes(const IrGraph *g);
/* Re-infers the shape and dtype of every live node in dependency order
 * (after a pass changed an input's shape or dtype). 0, or -1 after
 * reporting at the first node whose inputs no longer fit. */
int ir_reinfer(IrGraph *g, Diag *d);

/* ---- the recipe's settings (from the `data` and `train` blocks) -------- */

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
  const char *tokenizer_path; /* bpe("tokenizer.json"), NULL for bytes */
  int opt_given;           /* the train block names an optimizer (else the
                              default AdamW, which ftc build warns about) */
  int accum;               /* micro-batches per update by default (>= 1): the
                              train setting `accumulate N` or the pass */
  Span accum_span;         /* where the train block set it (file NULL: not) */
} Recipe;

/* ---- a pass: typed parameters, facts, the descriptor ------------------- */

typedef enum { PP_INT, PP_FLOAT, PP_BOOL, PP_STRING, PP_NAME } PassParamType;
/* PP_NAME: a bare word such as `bf16` (read with pass_str). */
typedef struct PassParam {
  const char *name;
  PassParamType type;
  const char *def;     /* default, as .ft text, or NULL = required */
  const char *doc;
  const char *choices; /* PP_NAME/PP_STRING: the allowed values, '|'
                          separated ("sgd|adamw|adalomo"), or NULL = any;
                          the manager refuses others at their span */
} PassParam;

typedef struct PassArgs PassArgs; /* parsed arguments (pass.c) */
int64_t pass_int(const PassArgs *a, const char *name);
double pass_float(const PassArgs *a, const char *name);
const char *pass_str(const PassArgs *a, const char *name);
int pass_bool(const PassArgs *a, const char *name);
Span pass_span(const PassArgs *a);     /* the pass's call in the recipe */
/* The argument's own text in the recipe (the call's when it was left to
 * its default): where a range error belongs. */
Span pass_arg_span(const PassArgs *a, const char *name);
/* 1 when another pass of that name is in the recipe's passes block (for
 * a pass that changes what it does next to another). */
int pass_listed(const PassArgs *a, const char *other);

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
  /* The rewrite: 0, or -1 after reporting through `d` (at pass_span or a
   * node's span). NULL = declared but not implemented yet. */
  int (*run)(IrGraph *g, const PassArgs *a, Diag *d);
} Pass;

/* Adds a pass to the registry (what loading a plugin does); the descriptor
 * is borrowed. Returns 0, or -1 if the name is taken or the registry full. */
int pass_register(const Pass *p);
/* The registered pass of that name (built-in or plugin), or NULL. */
const Pass *pass_find(const char *name);

/* ---- plugins ------------------------------------------------------------
 * A plugin is a shared object (cc -shared -fPIC -I<prefix>/include/ftc)
 * that ends with
 *     FTC_PLUGIN(&my_pass, &my_other_pass);
 * `ftc build|plan|graph|passes --plugin ./mine.so` loads it (dlopen), checks
 * the ABI and layout recorded here against its own, and registers its
 * passes; a recipe then names them in passes { } like built-ins. */
typedef struct FtcPlugin {
  int abi;                      /* FTC_PASS_ABI the plugin was built with */
  unsigned node_size, graph_size, recipe_size, op_count; /* layout check */
  const Pass *const *passes;    /* NULL-terminated */
} FtcPlugin;
#define FTC_PLUGIN_ENTRY "ftc_pass_plugin"
#define FTC_PLUGIN(...)                                                       \
  const FtcPlugin *ftc_pass_plugin(void);                                     \
  const FtcPlugin *ftc_pass_plugin(void) {                                    \
    static const Pass *const list[] = {__VA_ARGS__, NULL};                    \
    static const FtcPlugin p = {FTC_PASS_ABI,         sizeof(IrNode),         \
                                sizeof(IrGraph),      sizeof(Recipe),         \
                                IR_OP_COUNT,          list};                  \
    return &p;                                                                \
  }

#endif
