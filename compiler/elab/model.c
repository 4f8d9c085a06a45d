/* compiler/elab/model.c -- models: specs (a definition with bound
 * arguments, i.e. presets), instances (with their parameters, submodules and
 * repeat items), and forward calls, which run the forward's statements.
 *
 * The idea: an instance is created once, eagerly, with its whole subtree,
 * so every parameter becomes exactly one PARAM node named by its scope path
 * (Hugging Face names fall out of the member names: h.0.attn.c_attn.weight),
 * in declaration order. A forward call then only reads those nodes, so a
 * parameter used twice (GPT-2's tied wte) is still one node. Forward calls
 * of submodules are inlined: their nodes keep the spans of the module's own
 * file, and the names of their scope.
 */
#include <string.h>

#include "elaborate.h"

#define MAX_DEPTH 64

static const AstNode *params_of(const AstNode *def) {
  return def && def->nkids > 0 && def->kids[0] && def->kids[0]->kind == AST_PARAMS ? def->kids[0] : NULL;
}

static const char *model_name(const AstNode *def) { return def && def->name ? def->name : "model"; }

/* Checks (and converts) a value against a formal's declared scalar type. */
static int check_formal(El *E, const AstNode *formal, Value *v, Span sp, const char *who) {
  const AstNode *ty = formal->nkids > 0 ? formal->kids[0] : NULL;
  if (!ty || ty->kind != AST_NAME || !ty->name || v->k == V_ERR) return v->k == V_ERR ? -1 : 0;
  const char *t = ty->name;
  int64_t i;
  Span at = v->at; /* a converted value keeps its origin */
  if (!strcmp(t, "int") || !strcmp(t, "size")) {
    if (v_as_int(v, &i)) {
      *v = v_int(i);
      v->at = at;
      return 0;
    }
  } else if (!strcmp(t, "float")) {
    if (v_is_num(v)) {
      *v = v_float(v_num(v));
      v->at = at;
      return 0;
    }
  } else if (!strcmp(t, "bool")) {
    if (v->k == V_BOOL) return 0;
  } else if (!strcmp(t, "string")) {
    if (v->k == V_STR) return 0;
  } else {
    return 0; /* other types are not checked here */
  }
  if (v->k == V_FLOAT)
    el_error(E, sp, "%s: argument '%s' must be %s %s, got %g", who, formal->name,
             strcmp(t, "int") ? "a" : "an", t, v->f);
  else
    el_error(E, sp, "%s: argument '%s' must be %s %s, got %s", who, formal->name,
             strcmp(t, "int") ? "a" : "an", t, v_kind_name(v));
  return -1;
}

/* ---- specs ------------------------------------------------------------ */

Value el_spec_call(El *E, Scope *sc, const Value *callee, const AstNode *call) {
  Spec *s = el_alloc(E, sizeof *s);
  if (callee->k == V_SPEC) {
    const Spec *old = callee->p;
    *s = *old;
    s->args = el_alloc(E, (size_t)(s->nformals + 1) * sizeof(Value));
    memcpy(s->args, old->args, (size_t)s->nformals * sizeof(Value));
  } else {
    s->def = callee->def;
    s->mod = callee->p;
    const AstNode *ps = params_of(s->def);
    s->nformals = ps ? ps->nkids : 0;
    s->args = el_alloc(E, (size_t)(s->nformals + 1) * sizeof(Value));
    for (int i = 0; i < s->nformals; i++) s->args[i] = (Value){.k = V_NONE};
  }
  s->span = call->span;
  const AstNode *ps = params_of(s->def);
  int n = s->nformals;
  const char **names = el_alloc(E, (size_t)(n + 1) * sizeof *names);
  for (int i = 0; i < n; i++) names[i] = ps->kids[i] && ps->kids[i]->name ? ps->kids[i]->name : "?";
  Value *vals = el_alloc(E, (size_t)(n + 1) * sizeof *vals);
  Span *sps = el_alloc(E, (size_t)(n + 1) * sizeof *sps);
  if (el_bind(E, sc, call, model_name(s->def), names, n, 0, vals, sps)) return v_err();
  for (int i = 0; i < n; i++) {
    if (vals[i].k == V_NONE) continue; /* keep the preset's value */
    if (check_formal(E, ps->kids[i], &vals[i], sps[i], model_name(s->def))) return v_err();
    s->args[i] = vals[i];
  }
  return (Value){.k = V_SPEC, .p = s};
}

/* ---- instances -------------------------------------------------------- */

static int make_param(El *E, Inst *owner, const AstNode *p, Scope *sc) {
  char sb[128];
  const AstNode *shp = p->nkids > 0 ? p->kids[0] : NULL;
  IrShape s = {0, {0}};
  if (!shp || shp->nkids < 1 || shp->nkids > IR_MAXRANK) {
    el_error(E, p->span, "param %s: needs 1 to %d dimensions", p->name, IR_MAXRANK);
    return -1;
  }
  for (int i = 0; i < shp->nkids; i++) {
    Value v = el_eval(E, sc, shp->kids[i]);
    if (v.k == V_ERR) return -1;
    int64_t dim;
    if (!v_as_int(&v, &dim) || dim <= 0) {
      if (v.k == V_FLOAT)
        el_error(E, shp->kids[i]->span, "param %s: dimension %d must be a positive integer, got %g",
                 p->name, i, v.f);
      else if (v.k == V_INT)
        el_error(E, shp->kids[i]->span, "param %s: dimension %d must be a positive integer, got %lld",
                 p->name, i, (long long)v.i);
      else
        el_error(E, shp->kids[i]->span, "param %s: dimension %d must be a positive integer, got %s",
                 p->name, i, v_kind_name(&v));
      return -1;
    }
    s.d[s.rank++] = dim;
  }
  IrInit init = INIT_NORMAL;
  double arg = 0.02; /* no initializer written: GPT-2's default std */
  const AstNode *in = p->nkids > 1 ? p->kids[1] : NULL;
  if (in) {
    const char *fn = in->kind == AST_NAME ? in->name
                   : in->kind == AST_CALL && in->kids[0] && in->kids[0]->kind == AST_NAME
                       ? in->kids[0]->name : NULL;
    if (fn && !strcmp(fn, "zeros")) init = INIT_ZEROS;
    else if (fn && !strcmp(fn, "ones")) init = INIT_ONES;
    else if (fn && in->kind == AST_CALL && (!strcmp(fn, "normal") || !strcmp(fn, "uniform"))) {
      static const char *const nstd[] = {"std"}, *const nbound[] = {"bound"};
      int normal = !strcmp(fn, "normal");
      Value v;
      Span vs;
      if (el_bind(E, sc, in, fn, normal ? nstd : nbound, 1, 1, &v, &vs)) return -1;
      if (!v_is_num(&v) || v_num(&v) < 0) {
        el_error(E, vs, "%s: expects a non-negative number, got %s", fn, v_kind_name(&v));
        return -1;
      }
      init = normal ? INIT_NORMAL : INIT_UNIFORM;
      arg = v_num(&v);
    } else {
      el_error(E, in->span, "param %s: unknown initializer (use normal(std), uniform(bound), "
               "zeros or ones)", p->name);
      return -1;
    }
    if ((init == INIT_ZEROS || init == INIT_ONES) && in->kind == AST_CALL && in->nkids > 1) {
      el_error(E, in->span, "%s takes no arguments", fn);
      return -1;
    }
  }
  const char *name = el_path(E, owner->path, p->name);
  IrGraph *g = E->g;
  int id = ir_new(g, IR_PARAM, NULL, 0, p->span);
  IrNode *n = &g->nodes[id];
  n->shape = s;
  n->dtype = E->dtype;
  n->role = IR_ROLE_PARAM;
  n->trainable = 1;
  n->no_decay = s.rank == 1; /* norm weights and biases */
  n->init = init;
  n->init_arg = init == INIT_NORMAL || init == INIT_UNIFORM ? arg : 0;
  n->name = ir_strdup(g, name);
  if (ir_infer(g, E->d, id)) {
    el_error(E, p->span, "param %s: bad shape %s", p->name, ir_shape_str(&s, sb, sizeof sb));
    return -1;
  }
  env_set(E, &owner->members, p->name, v_tensor(id));
  return 0;
}

static int make_members(El *E, Inst *owner, const AstNode *def, int from, Scope *sc);

static int make_submodule(El *E, Inst *owner, const AstNode *m, Scope *sc) {
  const AstNode *call = m->nkids > 0 ? m->kids[0] : NULL;
  if (!call) return -1;
  Value v = el_eval(E, sc, call);
  if (v.k == V_ERR) return -1;
  if (v.k == V_MODEL) { /* `x = Model` without parentheses: no arguments */
    AstNode fake = {.kind = AST_CALL, .span = call->span, .nkids = 1};
    v = el_spec_call(E, sc, &v, &fake);
    if (v.k == V_ERR) return -1;
  }
  if (v.k != V_SPEC) {
    el_error(E, call->span, "member '%s' must be a model, got %s", m->name, v_kind_name(&v));
    return -1;
  }
  Inst *child = el_instantiate(E, v.p, el_path(E, owner->path, m->name), call->span);
  if (!child) return -1;
  env_set(E, &owner->members, m->name, (Value){.k = V_INST, .p = child});
  return 0;
}

static int make_repeat(El *E, Inst *owner, const AstNode *r, Scope *sc) {
  if (r->nkids < 1 || !r->kids[0]) return -1;
  Value cv = el_eval(E, sc, r->kids[0]);
  if (cv.k == V_ERR) return -1;
  int64_t count;
  if (!v_as_int(&cv, &count) || count < 0 || count > 100000) {
    el_error(E, r->kids[0]->span, "repeat %s: the count must be a non-negative integer, got %s",
             r->name, v_kind_name(&cv));
    return -1;
  }
  Repeat *rep = el_alloc(E, sizeof *rep);
  rep->n = (int)count;
  rep->items = el_alloc(E, (size_t)(count + 1) * sizeof *rep->items);
  const char *base = el_path(E, owner->path, r->name);
  for (int i = 0; i < count; i++) {
    char idx[24];
    snprintf(idx, sizeof idx, "%d", i);
    Inst *it = el_alloc(E, sizeof *it);
    it->def = r;
    it->mod = owner->mod;
    it->path = el_path(E, base, idx);
    it->formals = owner->formals;
    it->span = r->span;
    if (make_members(E, it, r, 1, sc)) return -1;
    rep->items[i] = it;
  }
  env_set(E, &owner->members, r->name, (Value){.k = V_REPEAT, .p = rep});
  return 0;
}

static int make_members(El *E, Inst *owner, const AstNode *def, int from, Scope *sc) {
  for (int i = from; i < def->nkids; i++) {
    const AstNode *m = def->kids[i];
    if (!m) continue;
    int rc = 0;
    switch (m->kind) {
    case AST_PARAM: rc = make_param(E, owner, m, sc); break;
    case AST_SUBMODULE: rc = make_submodule(E, owner, m, sc); break;
    case AST_REPEAT: rc = make_repeat(E, owner, m, sc); break;
    case AST_FORWARD: break;
    case AST_ERROR: rc = -1; break;
    default:
      el_error(E, m->span, "%s is not allowed in a model body", ast_kind_names[m->kind]);
      rc = -1;
    }
    if (rc) return -1;
  }
  return 0;
}

Inst *el_instantiate(El *E, const Spec *s, const char *path, Span sp) {
  const char *who = model_name(s->def);
  if (E->depth >= MAX_DEPTH) {
    el_error(E, sp, "models nested more than %d deep (does '%s' contain itself?)", MAX_DEPTH, who);
    return NULL;
  }
  Inst *in = el_alloc(E, sizeof *in);
  in->def = s->def;
  in->mod = s->mod;
  in->path = path;
  in->formals = env_new(E);
  in->span = sp;
  const AstNode *ps = params_of(s->def);
  Scope fs = {.mod = s->mod, .formals = in->formals};
  for (int i = 0; i < s->nformals; i++) {
    const AstNode *f = ps->kids[i];
    if (!f || !f->name) return NULL;
    Value v = s->args[i];
    Span vs = sp;
    if (v.k == V_NONE) {
      const AstNode *def = f->nkids > 1 ? f->kids[1] : NULL;
      if (!def) {
        el_error(E, sp, "%s: missing argument '%s'", who, f->name);
        return NULL;
      }
      v = el_eval(E, &fs, def); /* defaults see the formals before them */
      vs = def->span;
      if (v.k == V_ERR || check_formal(E, f, &v, vs, who)) return NULL;
    }
    env_set(E, in->formals, f->name, v);
  }
  E->depth++;
  int rc = make_members(E, in, s->def, 1, &fs);
  E->depth--;
  return rc ? NULL : in;
}

/* ---- forward ---------------------------------------------------------- */

static const AstNode *forward_of(const AstNode *def) {
  for (int i = 1; def && i < def->nkids; i++)
    if (def->kids[i] && def->kids[i]->kind == AST_FORWARD) return def->kids[i];
  return NULL;
}

static const AstNode *find_forward(El *E, Inst *inst, Span sp) {
  if (inst->def->kind != AST_MODEL) {
    el_error(E, sp, "'%s' is a repeat item, not a model: call one of its members", inst->path);
    return NULL;
  }
  const AstNode *fw = forward_of(inst->def);
  if (!fw) el_error(E, sp, "model '%s' has no forward", model_name(inst->def));
  return fw;
}

Value el_forward_call(El *E, Scope *sc, Inst *inst, const AstNode *call) {
  const AstNode *fw = find_forward(E, inst, call->span);
  if (!fw) return v_err();
  const AstNode *ps = params_of(fw);
  int n = ps ? ps->nkids : 0, nreq = 0;
  const char **names = el_alloc(E, (size_t)(n + 1) * sizeof *names);
  for (int i = 0; i < n; i++) {
    names[i] = ps->kids[i] && ps->kids[i]->name ? ps->kids[i]->name : "?";
    if (ps->kids[i] && !(ps->kids[i]->nkids > 1 && ps->kids[i]->kids[1])) nreq = i + 1;
  }
  Value *vals = el_alloc(E, (size_t)(n + 1) * sizeof *vals);
  Span *sps = el_alloc(E, (size_t)(n + 1) * sizeof *sps);
  if (el_bind(E, sc, call, model_name(inst->def), names, n, nreq, vals, sps)) return v_err();
  return el_forward(E, inst, vals, sps, n, call->span);
}

/* `tokens: i32[B, T]`: checks the tensor and binds dimension names. */
static int bind_tensor_formal(El *E, Scope *sc, const AstNode *f, Value v, Span vs) {
  const AstNode *ty = f->kids[0];
  char sb[128];
  if (v.k != V_TENSOR) {
    el_error(E, vs, "argument '%s' must be a tensor, got %s", f->name, v_kind_name(&v));
    return -1;
  }
  const IrNode *x = &E->g->nodes[v.i];
  const char *want = ty->name ? ty->name : "";
  if ((!strcmp(want, "i32") && x->dtype != IR_I32) || (want[0] == 'f' && x->dtype == IR_I32)) {
    el_error(E, vs, "argument '%s' must be %s, got %s", f->name, want, ir_dtype_name(x->dtype));
    return -1;
  }
  if (ty->nkids && ty->nkids != x->shape.rank) {
    el_error(E, vs, "argument '%s' must have %d dims, got %s", f->name, ty->nkids,
             ir_shape_str(&x->shape, sb, sizeof sb));
    return -1;
  }
  for (int i = 0; i < ty->nkids; i++) {
    const AstNode *de = ty->kids[i];
    if (!de) return -1;
    int64_t actual = x->shape.d[i], want_d;
    if (de->kind == AST_NAME && !env_get(sc->locals, de->name) && !env_get(sc->formals, de->name)) {
      env_set(E, sc->locals, de->name, v_int(actual)); /* binds B, T */
      continue;
    }
    Value dv = el_eval(E, sc, de);
    if (dv.k == V_ERR) return -1;
    if (!v_as_int(&dv, &want_d) || want_d != actual) {
      el_error(E, vs, "argument '%s' has shape %s: dim %d should be %s", f->name,
               ir_shape_str(&x->shape, sb, sizeof sb), i, de->kind == AST_NAME ? de->name : "as declared");
      return -1;
    }
  }
  return 0;
}

/* 0 = fell off the end, 1 = returned (*ret set), -1 = error reported. */
static int exec_block(El *E, Scope *sc, const AstNode *blk, Value *ret);

static int exec_stmt(El *E, Scope *sc, const AstNode *s, Value *ret) {
  switch (s->kind) {
  case AST_ASSIGN: {
    int first = E->g->n;
    if (s->nkids < 1) return -1;
    Value v = el_eval(E, sc, s->kids[0]);
    if (v.k == V_ERR) return -1;
    el_name(E, v, first, sc->self->path, s->name);
    env_set(E, sc->locals, s->name, v);
    return 0;
  }
  case AST_FOR: {
    if (s->nkids < 2 || !s->kids[0] || !s->kids[1]) return -1;
    Value it = el_eval(E, sc, s->kids[0]);
    if (it.k == V_ERR) return -1;
    if (it.k != V_REPEAT && it.k != V_LIST) {
      el_error(E, s->kids[0]->span, "for: cannot iterate over %s (expected a repeat block)",
               v_kind_name(&it));
      return -1;
    }
    int n = it.k == V_REPEAT ? ((Repeat *)it.p)->n : ((VList *)it.p)->n;
    for (int i = 0; i < n; i++) {
      Value item = it.k == V_REPEAT ? (Value){.k = V_INST, .p = ((Repeat *)it.p)->items[i]}
                                    : ((VList *)it.p)->v[i];
      env_set(E, sc->locals, s->name, item);
      /* the outermost loop over a repeat tags what each item computes
       * (IrNode.layer): the segments activation checkpointing recomputes */
      int tag = it.k == V_REPEAT && !E->in_layer, first = E->g->n;
      E->in_layer += tag;
      int rc = exec_block(E, sc, s->kids[1], ret);
      E->in_layer -= tag;
      if (tag) {
        const char *path = ir_strdup(E->g, ((Repeat *)it.p)->items[i]->path);
        for (int k = first; k < E->g->n; k++)
          if (!E->g->nodes[k].layer) E->g->nodes[k].layer = path;
      }
      if (rc) return rc;
    }
    return 0;
  }
  case AST_RETURN:
    if (s->nkids < 1 || !s->kids[0]) return -1;
    *ret = el_eval(E, sc, s->kids[0]);
    return ret->k == V_ERR ? -1 : 1;
  case AST_ERROR: return -1;
  default:
    el_error(E, s->span, "%s is not a statement", ast_kind_names[s->kind]);
    return -1;
  }
}

static int exec_block(El *E, Scope *sc, const AstNode *blk, Value *ret) {
  if (!blk) return -1;
  if (blk->kind != AST_BLOCK) return exec_stmt(E, sc, blk, ret);
  for (int i = 0; i < blk->nkids; i++) {
    if (!blk->kids[i]) return -1;
    int rc = exec_stmt(E, sc, blk->kids[i], ret);
    if (rc) return rc;
  }
  return 0;
}

Value el_forward(El *E, Inst *inst, Value *args, Span *spans, int nargs, Span call_sp) {
  const AstNode *fw = find_forward(E, inst, call_sp);
  if (!fw) return v_err();
  if (E->depth >= MAX_DEPTH) {
    el_error(E, call_sp, "forward calls nested more than %d deep", MAX_DEPTH);
    return v_err();
  }
  const AstNode *ps = params_of(fw);
  int n = ps ? ps->nkids : 0;
  Scope sc = {.mod = inst->mod, .locals = env_new(E), .formals = inst->formals, .self = inst,
              .forward = 1};
  for (int i = 0; i < n; i++) {
    const AstNode *f = ps->kids[i];
    if (!f || !f->name) return v_err();
    Value v = i < nargs ? args[i] : (Value){.k = V_NONE};
    Span vs = i < nargs ? spans[i] : call_sp;
    if (v.k == V_NONE) {
      const AstNode *def = f->nkids > 1 ? f->kids[1] : NULL;
      if (!def) {
        el_error(E, call_sp, "%s: missing argument '%s'", model_name(inst->def), f->name);
        return v_err();
      }
      v = el_eval(E, &sc, def);
      if (v.k == V_ERR) return v;
    }
    if (f->nkids > 0 && f->kids[0] && f->kids[0]->kind == AST_TENSOR_TYPE) {
      if (bind_tensor_formal(E, &sc, f, v, vs)) return v_err();
    } else if (check_formal(E, f, &v, vs, model_name(inst->def))) {
      return v_err();
    }
    env_set(E, sc.locals, f->name, v);
  }
  int first = E->g->n;
  Value ret = {.k = V_NONE};
  int errors = diag_errors(E->d);
  E->depth++;
  int rc = exec_block(E, &sc, fw->nkids > 1 ? fw->kids[1] : NULL, &ret);
  E->depth--;
  if (rc < 0) {
    /* An error inside a stdlib model's forward points into the module's
     * file; say which instance got there and from where, innermost first. */
    if (diag_errors(E->d) > errors && inst->path && inst->path[0])
      diag_at(E->d, DIAG_NOTE, call_sp, "in '%s' (%s), called here", inst->path,
              model_name(inst->def));
    return v_err();
  }
  if (rc == 0) {
    el_error(E, fw->span, "the forward of '%s' does not return a value", model_name(inst->def));
    return v_err();
  }
  el_name(E, ret, first, inst->path, NULL);
  return ret;
}
