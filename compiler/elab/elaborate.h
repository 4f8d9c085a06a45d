/* compiler/elab/elaborate.h -- private to the elaborator (the .c files of compiler/elab/):
 * the values of the small interpreter that runs a checked AST and emits the
 * forward graph, its scopes and its helpers.
 *
 * The idea: elaboration is evaluation. Numbers are folded, models are
 * instantiated into trees of instances that own their parameter nodes, and
 * a forward "call" simply evaluates the forward's statements, so tensors
 * are node ids and every op evaluated appends one node. Nothing survives
 * elaboration except the graph and the Recipe: every value, environment and
 * instance lives in one arena (El.arena) freed at the end.
 *
 * Files: elaborate.c (entry, recipe settings, data), value.c
 * (arena, values, environments, argument binding, names), expr.c
 * (expressions, constant arithmetic, operators), ops.c (built-in
 * tensor ops, attention), model.c (model specs, instances,
 * params, forward calls, statements).
 */
#ifndef FTC_COMPILER_ELABORATE_H
#define FTC_COMPILER_ELABORATE_H

#include "../ir.h"

typedef enum {
  V_ERR,     /* an error was reported; propagate */
  V_NONE,    /* no value (an unbound optional argument) */
  V_INT, V_FLOAT, V_BOOL, V_STR,
  V_ALL,     /* the word `all` (sum/mean axis) */
  V_TENSOR,  /* i = node id */
  V_LIST,    /* list or tuple: p = VList */
  V_MODULE,  /* a `use`d namespace: p = Module */
  V_MODEL,   /* a model definition: def = MODEL node, p = its Module */
  V_SPEC,    /* a model with bound arguments (a preset): p = Spec */
  V_INST,    /* a model instance or one repeat item: p = Inst */
  V_REPEAT,  /* a repeat's instances: p = Repeat */
  V_BUILTIN, /* a built-in op or function: p = Builtin */
  V_SYM,     /* recipe settings only: a bare word or a call of one
                (`bytes`, `adamw(...)`, `train.val`): s = the word, def = its
                AST (the CALL when called) for the setting to interpret */
} VKind;

typedef struct Value {
  VKind k;
  int64_t i;
  double f;
  const char *s;
  void *p;
  const AstNode *def;
  Span at;   /* the argument that passed this value in (`heads: 3`), set by
                the first binding only, so a value the recipe gives keeps
                pointing at the recipe while stdlib passes it on; .file NULL
                when it never was an argument */
} Value;

typedef struct VList { int n; Value *v; } VList;

typedef struct Binding { const char *name; Value v; } Binding;
typedef struct Env { Binding *b; int n, cap; } Env;

typedef struct Module Module;
struct Module {
  const char *name;    /* as `use`d ("gpt2"), NULL for the recipe */
  const AstNode *file; /* FILE node */
  Module *next;
  const AstNode **evaluating; /* LETs being evaluated (cycle guard) */
  int nevaluating;
};

typedef struct Spec {
  const AstNode *def;  /* MODEL */
  Module *mod;
  Value *args;         /* one per formal, V_NONE = unbound */
  int nformals;
  Span span;           /* the call that made it (errors about the model) */
} Spec;

typedef struct Inst Inst;
struct Inst {
  const AstNode *def;  /* MODEL, or REPEAT for one repeat item */
  Module *mod;
  const char *path;    /* scope path, "" for the entry model */
  Env *formals;        /* bound model formals (a repeat item shares its parent's) */
  Env members;         /* params (tensors), submodules (insts), repeats */
  Span span;           /* the call or member that instantiated it */
};

typedef struct Repeat { int n; Inst **items; } Repeat;

/* Where names resolve (see el_lookup for the order). */
typedef struct Scope {
  Module *mod;
  Env *locals;   /* forward locals and forward formals, or NULL */
  Env *formals;  /* the model's formals, or NULL */
  Inst *self;    /* the model whose members are visible, or NULL */
  int forward;   /* 1 inside a forward: tensor ops allowed */
  int symbols;   /* recipe settings: unknown words become V_SYM */
} Scope;

typedef struct El {
  AstCtx *ctx;
  Diag *d;
  IrGraph *g;
  Recipe *r;
  void *arena;
  Module *mods;
  int depth;         /* instantiation / call nesting (recursion guard) */
  int64_t B, T;      /* batch and sequence of the build */
  IrDtype dtype;
  const char *root_dir; /* directory of the recipe, for relative paths */
  const SrcFile *root;  /* the recipe's own text (el_error_from) */
  int in_layer;      /* inside a `for` over a repeat: nodes are tagged there */
} El;

/* A built-in: fixed formals (the first `nreq` required), positional first. */
typedef struct Builtin Builtin;
typedef Value (*BuiltinFn)(El *E, Scope *sc, const AstNode *call, Value *a, Span *sp);
struct Builtin {
  const char *name;
  int nreq;
  const char *params[6];
  BuiltinFn fn;
  int tensor_op;     /* only valid inside a forward */
};

/* ---- value.c ------------------------------------------------ */
void *el_alloc(El *E, size_t n);           /* zeroed, freed with the arena */
const char *el_strdup(El *E, const char *s);
void el_arena_free(El *E);
void el_error(El *E, Span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An error caused by values that arguments passed in (a model's `heads: 3`):
 * reported at the first of a, b (either may be NULL) whose argument is in
 * the recipe itself, with `site` (often a stdlib line) as a note; at `site`
 * when neither is. */
void el_error_from(El *E, Span site, const Value *a, const Value *b, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
Value v_err(void);
Value v_int(int64_t i);
Value v_float(double f);
Value v_tensor(int id);
const char *v_kind_name(const Value *v);
int v_is_num(const Value *v);
double v_num(const Value *v);
/* An integer-valued number (INT, or a FLOAT that is exactly integral). */
int v_as_int(const Value *v, int64_t *out);
Env *env_new(El *E);
void env_set(El *E, Env *e, const char *name, Value v);
Value *env_get(Env *e, const char *name);
Module *el_module(El *E, const char *name, const AstNode *file);
/* Binds a call's arguments to `names` (positional then named): out[i] is
 * V_NONE where not given, sp[i] the argument's span (the call's if absent).
 * Reports unknown/duplicate/missing arguments naming `who`. 0 or -1. */
int el_bind(El *E, Scope *sc, const AstNode *call, const char *who, const char *const *names,
            int n, int nreq, Value *out, Span *sp);
/* Scope path of a child: "a.b" + "c" -> "a.b.c"; "" + "c" -> "c". */
const char *el_path(El *E, const char *parent, const char *name);
/* Names a fresh tensor (id >= first) that has no name yet. */
void el_name(El *E, Value v, int first, const char *path, const char *local);

/* ---- expr.c ------------------------------------------------- */
Value el_eval(El *E, Scope *sc, const AstNode *e);
Value el_lookup(El *E, Scope *sc, const char *name, Span sp);
/* Node helpers: appends an op with attributes, checks its shape. -1 = error. */
int el_op(El *E, Span sp, IrOp op, const int *in, int nin);
int el_op_attr(El *E, Span sp, IrOp op, const int *in, int nin, const int64_t *ia, double fa0,
               const IrShape *shape, const int *perm);
const IrShape *el_shape(El *E, int id);
/* Tensor binary op with suffix broadcasting (commutative ops reorder). */
Value el_tensor_binop(El *E, Span sp, IrOp op, const char *sym, int a, int b);

/* ---- ops.c -------------------------------------------------- */
const Builtin *el_builtin(const char *name);
const char *const *el_builtin_names(void);

/* ---- data.c (and elaborate.c) -------------------------------- */
const char *el_resolve_path(El *E, const char *p); /* relative to the recipe */
/* tokenizer: bpe("tokenizer.json"): loads it (diagnostic at `at` on error),
 * sets the recipe's vocab and tokenizer path. 0 or -1. */
int el_tokenizer(El *E, Scope *sc, const Value *sym, Span at);

/* ---- model.c ------------------------------------------------ */
/* A model definition or preset called with arguments -> a new Spec. */
Value el_spec_call(El *E, Scope *sc, const Value *callee, const AstNode *call);
/* Instantiates a spec at `path` (creates its params). NULL on error. */
Inst *el_instantiate(El *E, const Spec *s, const char *path, Span sp);
/* Calls an instance's forward with the call's arguments. */
Value el_forward_call(El *E, Scope *sc, Inst *inst, const AstNode *call);
/* Runs an instance's forward with already evaluated arguments. */
Value el_forward(El *E, Inst *inst, Value *args, Span *spans, int nargs, Span call_sp);

#endif
