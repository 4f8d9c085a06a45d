/* compiler/elab/expr.c -- expressions: name resolution, constant
 * arithmetic, operators on tensors, member access, indexing and slicing.
 *
 * The idea: one evaluator serves every context (module presets, model
 * formals, parameter shapes, forward bodies). What differs is the Scope:
 * which names are visible and whether tensors may be made. Numbers fold at
 * once (an integer / an integer is an integer and must divide exactly, so
 * `dim / heads` can size a tensor); tensor expressions append nodes whose
 * span is the operator's text.
 */
#include <math.h>
#include <string.h>

#include "elaborate.h"

const IrShape *el_shape(El *E, int id) { return &E->g->nodes[id].shape; }

int el_op_attr(El *E, Span sp, IrOp op, const int *in, int nin, const int64_t *ia, double fa0,
               const IrShape *shape, const int *perm) {
  IrGraph *g = E->g;
  int id = ir_new(g, op, in, nin, sp);
  IrNode *n = &g->nodes[id];
  if (ia) memcpy(n->ia, ia, sizeof n->ia);
  n->fa[0] = fa0;
  if (shape) n->shape = *shape;
  if (perm) memcpy(n->perm, perm, sizeof n->perm);
  if (ir_infer(g, E->d, id) != 0) {
    g->n--;
    return -1;
  }
  return id;
}

int el_op(El *E, Span sp, IrOp op, const int *in, int nin) {
  return el_op_attr(E, sp, op, in, nin, NULL, 0, NULL, NULL);
}

/* ---- names ------------------------------------------------------------ */

static Value eval_let(El *E, Module *m, const AstNode *let) {
  for (int i = 0; i < m->nevaluating; i++)
    if (m->evaluating[i] == let) {
      el_error(E, let->span, "'%s' is defined in terms of itself", let->name);
      return v_err();
    }
  const AstNode **ev = el_alloc(E, (size_t)(m->nevaluating + 1) * sizeof *ev);
  if (m->nevaluating) memcpy(ev, m->evaluating, (size_t)m->nevaluating * sizeof *ev);
  ev[m->nevaluating] = let;
  const AstNode **saved = m->evaluating;
  m->evaluating = ev;
  m->nevaluating++;
  Scope top = {.mod = m};
  Value v = let->nkids > 0 && let->kids[0] ? el_eval(E, &top, let->kids[0]) : v_err();
  m->nevaluating--;
  m->evaluating = saved;
  return v;
}

/* Models and bindings defined at the top of a module's file. */
static int module_item(El *E, Module *m, const char *name, Value *out) {
  const AstNode *f = m->file;
  for (int i = 0; i < f->nkids; i++) {
    const AstNode *it = f->kids[i];
    if (!it || !it->name || strcmp(it->name, name)) continue;
    if (it->kind == AST_MODEL) {
      *out = (Value){.k = V_MODEL, .def = it, .p = m};
      return 1;
    }
    if (it->kind == AST_LET) {
      *out = eval_let(E, m, it);
      return 1;
    }
  }
  return 0;
}

/* `use gpt2` or `use "dir/x.ft"` (visible as x). */
static int module_ns(El *E, Module *m, const char *name, Value *out) {
  const AstNode *f = m->file;
  for (int i = 0; i < f->nkids; i++) {
    const AstNode *it = f->kids[i];
    if (!it || it->kind != AST_USE || !it->name) continue;
    const char *base = strrchr(it->name, '/');
    base = base ? base + 1 : it->name;
    size_t len = strlen(base);
    if (len > 3 && !strcmp(base + len - 3, ".ft")) len -= 3;
    if (strcmp(it->name, name) && (strlen(name) != len || strncmp(base, name, len))) continue;
    AstNode *file = ast_module(E->ctx, it->name);
    if (!file) return 0;
    *out = (Value){.k = V_MODULE, .p = el_module(E, name, file)};
    return 1;
  }
  return 0;
}

static Value lookup(El *E, Scope *sc, const char *name, Span sp, int quiet) {
  Value *v;
  Value out;
  if ((v = env_get(sc->locals, name))) return *v;
  if ((v = env_get(sc->formals, name))) return *v;
  if (sc->self && (v = env_get(&sc->self->members, name))) return *v;
  if (sc->mod && module_item(E, sc->mod, name, &out)) return out;
  if (sc->mod && module_ns(E, sc->mod, name, &out)) return out;
  if (!strcmp(name, "all")) return (Value){.k = V_ALL};
  const Builtin *b = el_builtin(name);
  if (b) return (Value){.k = V_BUILTIN, .p = (void *)b};
  if (quiet) return (Value){.k = V_NONE};
  if (sc->symbols) return (Value){.k = V_SYM, .s = name};
  /* Suggest from everything visible here. */
  const char *cand[256];
  int k = 0;
  Env *envs[3] = {sc->locals, sc->formals, sc->self ? &sc->self->members : NULL};
  for (int e = 0; e < 3; e++)
    for (int i = 0; envs[e] && i < envs[e]->n && k < 200; i++) cand[k++] = envs[e]->b[i].name;
  for (int i = 0; sc->mod && i < sc->mod->file->nkids && k < 230; i++) {
    const AstNode *it = sc->mod->file->kids[i];
    if (it && it->name && (it->kind == AST_MODEL || it->kind == AST_LET || it->kind == AST_USE))
      cand[k++] = it->name;
  }
  for (const char *const *bn = el_builtin_names(); *bn && k < 255; bn++) cand[k++] = *bn;
  cand[k] = NULL;
  const char *s = diag_suggest(name, cand);
  el_error(E, sp, "unknown name '%s'%s%s%s", name, s ? " (did you mean '" : "", s ? s : "",
           s ? "'?)" : "");
  return v_err();
}

Value el_lookup(El *E, Scope *sc, const char *name, Span sp) { return lookup(E, sc, name, sp, 0); }

/* ---- operators -------------------------------------------------------- */

static int suffix_of(const IrShape *b, const IrShape *a) {
  if (b->rank > a->rank) return 0;
  for (int i = 1; i <= b->rank; i++)
    if (b->d[b->rank - i] != a->d[a->rank - i]) return 0;
  return 1;
}

Value el_tensor_binop(El *E, Span sp, IrOp op, const char *sym, int a, int b) {
  (void)sym;
  int commutative = op == IR_ADD || op == IR_MUL;
  if (!suffix_of(el_shape(E, b), el_shape(E, a)) && commutative &&
      suffix_of(el_shape(E, a), el_shape(E, b))) {
    int t = a;
    a = b;
    b = t;
  }
  int in[2] = {a, b};
  int id = el_op(E, sp, op, in, 2);
  return id < 0 ? v_err() : v_tensor(id);
}

static Value scale(El *E, Span sp, int x, double s) {
  int id = el_op_attr(E, sp, IR_SCALE, &x, 1, NULL, s, NULL, NULL);
  return id < 0 ? v_err() : v_tensor(id);
}

/* int / int is an int (shapes: `dim / heads * kv_heads`), so it must be
 * exact: the error names the operands and points at the recipe argument
 * that gave one of them (`heads: 3`), with the division as a note. */
static Value int_div(El *E, const AstNode *e, Value a, Value b) {
  if (a.i % b.i == 0) return v_int(a.i / b.i);
  const AstNode *x = e->kids[0], *y = e->kids[1];
  const char *na = x->kind == AST_NAME ? x->name : "", *nb = y->kind == AST_NAME ? y->name : "";
  if (e->span.file == E->root)
    el_error(E, e->span, "%s%s%lld is not divisible by %s%s%lld (an integer / an integer "
             "must divide exactly; write %lld.0 / %lld for a fraction)", na, *na ? " " : "",
             (long long)a.i, nb, *nb ? " " : "", (long long)b.i, (long long)a.i, (long long)b.i);
  else
    el_error_from(E, e->span, &a, &b, "%s%s%lld is not divisible by %s%s%lld", na,
                  *na ? " " : "", (long long)a.i, nb, *nb ? " " : "", (long long)b.i);
  return v_err();
}

static Value num_binop(El *E, const AstNode *e, const char *op, Value a, Value b) {
  Span sp = e->span;
  if (a.k == V_INT && b.k == V_INT) {
    switch (op[0]) {
    case '+': return v_int(a.i + b.i);
    case '-': return v_int(a.i - b.i);
    case '*': return v_int(a.i * b.i);
    case '/':
      if (b.i == 0) break;
      return int_div(E, e, a, b);
    }
  } else {
    double x = v_num(&a), y = v_num(&b);
    switch (op[0]) {
    case '+': return v_float(x + y);
    case '-': return v_float(x - y);
    case '*': return v_float(x * y);
    case '/':
      if (y == 0) break;
      return v_float(x / y);
    }
  }
  if (op[0] == '/') el_error(E, sp, "division by zero");
  else el_error(E, sp, "'%s' is not defined on numbers", op);
  return v_err();
}

/* `transpose(w)` written directly as an operand of `@`: fold it into the
 * matmul's transpose flag instead of materializing a permute. */
static const AstNode *transposed_operand(El *E, Scope *sc, const AstNode *e) {
  if (!e || e->kind != AST_CALL || e->nkids != 2 || !e->kids[0] || e->kids[0]->kind != AST_NAME ||
      strcmp(e->kids[0]->name, "transpose"))
    return NULL;
  const AstNode *arg = e->kids[1];
  if (!arg || arg->kind != AST_ARG || arg->name || arg->nkids < 1 || !arg->kids[0]) return NULL;
  Value f = lookup(E, sc, "transpose", e->span, 1);
  if (f.k != V_BUILTIN || strcmp(((const Builtin *)f.p)->name, "transpose")) return NULL;
  return arg->kids[0];
}

static Value eval_matmul(El *E, Scope *sc, const AstNode *e) {
  const AstNode *xa = transposed_operand(E, sc, e->kids[0]);
  const AstNode *xb = transposed_operand(E, sc, e->kids[1]);
  Value a = el_eval(E, sc, xa ? xa : e->kids[0]);
  Value b = el_eval(E, sc, xb ? xb : e->kids[1]);
  if (a.k == V_ERR || b.k == V_ERR) return v_err();
  if (a.k != V_TENSOR || b.k != V_TENSOR) {
    el_error(E, e->span, "'@' needs two tensors, got %s and %s", v_kind_name(&a), v_kind_name(&b));
    return v_err();
  }
  int in[2] = {(int)a.i, (int)b.i};
  int64_t ia[4] = {xa != NULL, xb != NULL, 0, 0};
  int id = el_op_attr(E, e->span, IR_MATMUL, in, 2, ia, 0, NULL, NULL);
  return id < 0 ? v_err() : v_tensor(id);
}

static Value eval_binop(El *E, Scope *sc, const AstNode *e) {
  if (e->nkids < 2 || !e->kids[0] || !e->kids[1]) return v_err();
  const char *op = e->name ? e->name : "?";
  if (!strcmp(op, "@")) return eval_matmul(E, sc, e);
  Value a = el_eval(E, sc, e->kids[0]);
  Value b = el_eval(E, sc, e->kids[1]);
  if (a.k == V_ERR || b.k == V_ERR) return v_err();
  if (v_is_num(&a) && v_is_num(&b)) return num_binop(E, e, op, a, b);
  IrOp iop = op[0] == '+' ? IR_ADD : op[0] == '-' ? IR_SUB : op[0] == '*' ? IR_MUL : IR_DIV;
  if (a.k == V_TENSOR && b.k == V_TENSOR) return el_tensor_binop(E, e->span, iop, op, (int)a.i, (int)b.i);
  if (a.k == V_TENSOR && v_is_num(&b)) {
    if (op[0] == '*') return scale(E, e->span, (int)a.i, v_num(&b));
    if (op[0] == '/' && v_num(&b) != 0) return scale(E, e->span, (int)a.i, 1.0 / v_num(&b));
  }
  if (v_is_num(&a) && b.k == V_TENSOR && op[0] == '*') return scale(E, e->span, (int)b.i, v_num(&a));
  if ((a.k == V_TENSOR || b.k == V_TENSOR) && (v_is_num(&a) || v_is_num(&b)))
    el_error(E, e->span, "'%s' of a tensor and a number is not supported (only tensor * number "
             "and tensor / number)", op);
  else
    el_error(E, e->span, "'%s' is not defined on %s and %s", op, v_kind_name(&a), v_kind_name(&b));
  return v_err();
}

static Value eval_unop(El *E, Scope *sc, const AstNode *e) {
  if (e->nkids < 1 || !e->kids[0]) return v_err();
  Value a = el_eval(E, sc, e->kids[0]);
  if (a.k == V_ERR) return a;
  if (a.k == V_INT) return v_int(-a.i);
  if (a.k == V_FLOAT) return v_float(-a.f);
  if (a.k == V_TENSOR) return scale(E, e->span, (int)a.i, -1.0);
  el_error(E, e->span, "unary '-' is not defined on %s", v_kind_name(&a));
  return v_err();
}

/* ---- member access ---------------------------------------------------- */

static Value eval_member(El *E, Scope *sc, const AstNode *e) {
  if (e->nkids < 1 || !e->kids[0] || !e->name) return v_err();
  Value base = el_eval(E, sc, e->kids[0]);
  if (base.k == V_ERR) return base;
  Value out, *v;
  if (base.k == V_MODULE) {
    Module *m = base.p;
    if (module_item(E, m, e->name, &out)) return out;
    el_error(E, e->span, "module '%s' has no model or binding '%s'", m->name ? m->name : "?", e->name);
    return v_err();
  }
  if (base.k == V_INST) {
    Inst *in = base.p;
    if ((v = env_get(&in->members, e->name))) return *v;
    if (in->def->kind == AST_MODEL && (v = env_get(in->formals, e->name))) return *v;
    const char *cand[64];
    int k = 0;
    for (int i = 0; i < in->members.n && k < 63; i++) cand[k++] = in->members.b[i].name;
    cand[k] = NULL;
    const char *s = diag_suggest(e->name, cand);
    el_error(E, e->span, "'%s' has no member '%s'%s%s%s", *in->path ? in->path : "the model",
             e->name, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
    return v_err();
  }
  if (base.k == V_SYM && !base.def) { /* train.val */
    char buf[256];
    snprintf(buf, sizeof buf, "%s.%s", base.s, e->name);
    return (Value){.k = V_SYM, .s = el_strdup(E, buf)};
  }
  el_error(E, e->span, "%s has no members (looking up '%s')", v_kind_name(&base), e->name);
  return v_err();
}

/* ---- indexing and slicing -------------------------------------------- */

static int int_of(El *E, Scope *sc, const AstNode *x, int64_t *out, const char *what) {
  Value v = el_eval(E, sc, x);
  if (v.k == V_ERR) return -1;
  if (!v_as_int(&v, out)) {
    el_error(E, x->span, "%s must be an integer, got %s", what, v_kind_name(&v));
    return -1;
  }
  return 0;
}

static Value slice_tensor(El *E, Scope *sc, const AstNode *e, int x) {
  char sb[128];
  IrShape s0 = *el_shape(E, x);
  int nidx = e->nkids - 1;
  if (nidx > s0.rank) {
    el_error(E, e->span, "%d indices for a tensor of shape %s", nidx, ir_shape_str(&s0, sb, sizeof sb));
    return v_err();
  }
  int drop[IR_MAXRANK] = {0}, ndrop = 0;
  for (int ax = 0; ax < nidx; ax++) {
    const AstNode *ix = e->kids[ax + 1];
    if (!ix) return v_err();
    int64_t dim = s0.d[ax], lo, hi;
    if (ix->kind == AST_SLICE) {
      lo = 0;
      hi = dim;
      if (ix->nkids > 0 && ix->kids[0] && int_of(E, sc, ix->kids[0], &lo, "a slice bound")) return v_err();
      if (ix->nkids > 1 && ix->kids[1] && int_of(E, sc, ix->kids[1], &hi, "a slice bound")) return v_err();
      if (lo < 0) lo += dim;
      if (hi < 0) hi += dim;
    } else {
      if (int_of(E, sc, ix, &lo, "an index")) return v_err();
      if (lo < 0) lo += dim;
      hi = lo + 1;
      drop[ax] = 1;
      ndrop++;
    }
    if (lo < 0 || hi > dim || lo >= hi) {
      el_error(E, ix->span, "slice: %lld:%lld is out of range for dim %d of %s", (long long)lo,
               (long long)hi, ax, ir_shape_str(&s0, sb, sizeof sb));
      return v_err();
    }
    if (lo == 0 && hi == dim) continue; /* full range: nothing to do */
    int64_t ia[4] = {ax, lo, hi - lo, 0};
    x = el_op_attr(E, ix->span, IR_SLICE, &x, 1, ia, 0, NULL, NULL);
    if (x < 0) return v_err();
  }
  if (ndrop) {
    IrShape s = {0, {0}};
    const IrShape *cur = el_shape(E, x);
    for (int i = 0; i < cur->rank; i++)
      if (!drop[i]) s.d[s.rank++] = cur->d[i];
    if (s.rank == 0) s = (IrShape){1, {1}};
    x = el_op_attr(E, e->span, IR_RESHAPE, &x, 1, NULL, 0, &s, NULL);
    if (x < 0) return v_err();
  }
  return v_tensor(x);
}

static Value eval_index(El *E, Scope *sc, const AstNode *e) {
  if (e->nkids < 2 || !e->kids[0]) return v_err();
  Value base = el_eval(E, sc, e->kids[0]);
  if (base.k == V_ERR) return base;
  if (base.k == V_TENSOR) {
    /* table[ids]: a gather when the only index is an integer tensor. */
    if (e->nkids == 2 && e->kids[1] && e->kids[1]->kind != AST_SLICE) {
      Value ix = el_eval(E, sc, e->kids[1]);
      if (ix.k == V_ERR) return ix;
      if (ix.k == V_TENSOR) {
        int in[2] = {(int)base.i, (int)ix.i};
        int id = el_op(E, e->span, IR_EMBEDDING, in, 2);
        return id < 0 ? v_err() : v_tensor(id);
      }
    }
    return slice_tensor(E, sc, e, (int)base.i);
  }
  if ((base.k == V_REPEAT || base.k == V_LIST) && e->nkids == 2 && e->kids[1] &&
      e->kids[1]->kind != AST_SLICE) {
    int64_t i;
    if (int_of(E, sc, e->kids[1], &i, "an index")) return v_err();
    int n = base.k == V_REPEAT ? ((Repeat *)base.p)->n : ((VList *)base.p)->n;
    if (i < 0) i += n;
    if (i < 0 || i >= n) {
      el_error(E, e->kids[1]->span, "index %lld is out of range (%d items)", (long long)i, n);
      return v_err();
    }
    if (base.k == V_LIST) return ((VList *)base.p)->v[i];
    return (Value){.k = V_INST, .p = ((Repeat *)base.p)->items[i]};
  }
  el_error(E, e->span, "cannot index %s", v_kind_name(&base));
  return v_err();
}

/* ---- calls ------------------------------------------------------------ */

static Value eval_call(El *E, Scope *sc, const AstNode *e) {
  if (e->nkids < 1 || !e->kids[0]) return v_err();
  Value f = el_eval(E, sc, e->kids[0]);
  if (f.k == V_ERR) return f;
  if (f.k == V_BUILTIN) {
    const Builtin *b = f.p;
    if (b->tensor_op && !sc->forward) {
      el_error(E, e->span, "'%s' works on tensors and can only be used inside a forward", b->name);
      return v_err();
    }
    int n = 0;
    while (n < 6 && b->params[n]) n++;
    Value a[6];
    Span sp[6];
    if (el_bind(E, sc, e, b->name, b->params, n, b->nreq, a, sp)) return v_err();
    return b->fn(E, sc, e, a, sp);
  }
  if (f.k == V_MODEL || f.k == V_SPEC) {
    if (sc->forward) {
      el_error(E, e->span, "models are instantiated as members (`name = Model(...)`), not "
               "inside a forward");
      return v_err();
    }
    return el_spec_call(E, sc, &f, e);
  }
  if (f.k == V_SYM && f.def == NULL) /* adamw(...), bpe("x"): the setting reads it */
    return (Value){.k = V_SYM, .s = f.s, .def = e};
  if (f.k == V_INST) {
    if (!sc->forward) {
      el_error(E, e->span, "a model instance can only be called inside a forward");
      return v_err();
    }
    return el_forward_call(E, sc, f.p, e);
  }
  el_error(E, e->kids[0]->span, "%s is not callable", v_kind_name(&f));
  return v_err();
}

/* ---- the evaluator ---------------------------------------------------- */

Value el_eval(El *E, Scope *sc, const AstNode *e) {
  if (!e) return v_err();
  switch (e->kind) {
  case AST_INT: return v_int(e->ival);
  case AST_FLOAT: return v_float(e->fval);
  case AST_BOOL: return (Value){.k = V_BOOL, .i = e->ival != 0};
  case AST_STRING: return (Value){.k = V_STR, .s = e->str ? e->str : ""};
  case AST_NAME: return el_lookup(E, sc, e->name, e->span);
  case AST_BINOP: return eval_binop(E, sc, e);
  case AST_UNOP: return eval_unop(E, sc, e);
  case AST_CALL: return eval_call(E, sc, e);
  case AST_MEMBER: return eval_member(E, sc, e);
  case AST_INDEX: return eval_index(E, sc, e);
  case AST_LIST:
  case AST_TUPLE: {
    VList *l = el_alloc(E, sizeof *l);
    l->v = el_alloc(E, (size_t)(e->nkids ? e->nkids : 1) * sizeof(Value));
    for (int i = 0; i < e->nkids; i++) {
      l->v[i] = el_eval(E, sc, e->kids[i]);
      if (l->v[i].k == V_ERR) return v_err();
    }
    l->n = e->nkids;
    return (Value){.k = V_LIST, .p = l};
  }
  case AST_ERROR: return v_err(); /* the parser reported it */
  default:
    el_error(E, e->span, "%s is not an expression", ast_kind_names[e->kind]);
    return v_err();
  }
}
