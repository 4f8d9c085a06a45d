/* lang/check_defs.c -- the definition half of ast_check: top-level items,
 * models (formals, members, repeat blocks, forward), train settings, passes,
 * and duplicate definitions.
 *
 * One idea: a forward sees a stack of names pushed in reverse priority --
 * members, then formals, then locals -- and lookup scans from the top, so
 * the documented resolution order is just push order.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- definitions ------------------------------------------------------------- */

/* Reports `it` if an earlier node of `seen` has its name. */
static void dup_check(Ck *ck, const AstNode **seen, int n, const AstNode *it, const char *what) {
  if (!it->name) return;
  for (int i = 0; i < n; i++)
    if (seen[i]->name && !strcmp(seen[i]->name, it->name)) {
      ERR(ck, it->span, "%s '%s' is already defined", what, it->name);
      if (!ck->mute)
        diag_at(ck->d, DIAG_NOTE, seen[i]->span, "first definition of '%s' is here", it->name);
      return;
    }
}

static const AstNode **seen_new(int n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(AstNode *)); }

static void check_formals(Ck *ck, const AstNode *params, int forward) {
  const AstNode **seen = seen_new(params->nkids);
  Sig s;
  ck_formals_sig(params, forward, &s);
  for (int i = 0; i < params->nkids; i++) {
    const AstNode *f = params->kids[i];
    dup_check(ck, seen, i, f, "parameter");
    seen[i] = f;
    const AstNode *ty = f->kids[0];
    Val v = ck_mk(V_ANY);
    if (ty && ty->kind == AST_TENSOR_TYPE) {
      static const char *const dtypes[] = {"i32", "f32", "f64", "bf16", "f16", NULL};
      int ok = 0;
      for (int k = 0; dtypes[k]; k++) ok |= !strcmp(dtypes[k], ty->name);
      if (!ok) {
        ERR(ck, ty->span, "unknown element type '%s' (i32 f32 f64 bf16 f16)", ty->name);
        Names ns = {0};
        for (int k = 0; dtypes[k]; k++) ck_names_add(&ns, dtypes[k]);
        ck_suggest(ck, ty->name, &ns);
      }
      if (!forward) ERR(ck, ty->span, "tensor types are only for forward's parameters");
      for (int k = 0; k < ty->nkids; k++)
        if (ty->kids[k]->kind == AST_NAME) {
          Val dv = ck_mk(V_INT);
          ck_push(ck, ty->kids[k]->name, dv);
        } else {
          ck_eval(ck, ty->kids[k]);
        }
      v = ck_mk(V_TENSOR);
    } else if (ty) {
      static const char *const types[] = {"int", "float", "bool", "string", "size", "tensor", NULL};
      int ok = 0;
      for (int k = 0; types[k]; k++) ok |= !strcmp(types[k], ty->name);
      if (!ok) {
        ERR(ck, ty->span, "unknown type '%s' (int float bool string size tensor)", ty->name);
        Names ns = {0};
        for (int k = 0; types[k]; k++) ck_names_add(&ns, types[k]);
        ck_suggest(ck, ty->name, &ns);
        v = ck_mk(V_ERR);
      } else {
        unsigned m = i < SIG_MAX_PARAMS ? s.p[i].mask : T_ANY;
        v = ck_mk(m & T_FLOAT ? V_FLOAT : m & T_INT ? V_INT : m & T_BOOL ? V_BOOL
               : m & T_STRING ? V_STRING : m & T_TENSOR ? V_TENSOR : V_ANY);
      }
    } else if (forward && !f->kids[1]) {
      v = ck_mk(V_TENSOR);
    }
    if (f->kids[1] && i < SIG_MAX_PARAMS) {
      char what[80];
      snprintf(what, sizeof what, "the default of '%s'", f->name);
      SigParam p = s.p[i];
      snprintf(p.name, sizeof p.name, "value");
      if (v.k == V_ERR) p.mask = T_ANY;
      ck_check_arg(ck, &p, f->kids[1], what);
      if (!ty) v = ck_eval(ck, f->kids[1]);
    }
    ck_push(ck, f->name, v);
  }
  free(seen);
}

static void check_members(Ck *ck, const AstNode *owner, const char *what);

static void check_member(Ck *ck, const AstNode *m) {
  switch (m->kind) {
  case AST_PARAM: {
    const AstNode *shape = m->kids[0];
    for (int i = 0; i < shape->nkids; i++) {
      Val v = ck_eval(ck, shape->kids[i]);
      if (!(v.k == V_INT || v.k == V_ERR || v.k == V_ANY))
        ERR(ck, shape->kids[i]->span, "a dimension must be an integer, got %s", vk_names[v.k]);
    }
    if (m->kids[1]) {
      SigParam p = {"value", T_INIT, "", 1};
      char what[80];
      snprintf(what, sizeof what, "the initializer of '%s'", m->name);
      ck_check_arg(ck, &p, m->kids[1], what);
    }
    break;
  }
  case AST_SUBMODULE: {
    const AstNode *call = m->kids[0];
    if (call->kind != AST_CALL) break;
    Val f = ck_eval(ck, call->kids[0]);
    if (f.k == V_MODEL || f.k == V_PRESET) {
      ck_eval_call(ck, call);
    } else if (f.k != V_ERR && f.k != V_ANY) {
      ERR(ck, call->kids[0]->span, "a member must be created from a model, not from a %s",
          f.k == V_BUILTIN ? sig_cat_names[f.b->cat] : vk_names[f.k]);
    }
    break;
  }
  case AST_REPEAT: {
    Val v = ck_eval(ck, m->kids[0]);
    if (!(v.k == V_INT || v.k == V_ERR || v.k == V_ANY))
      ERR(ck, m->kids[0]->span, "a repeat count must be an integer, got %s", vk_names[v.k]);
    check_members(ck, m, "member");
    break;
  }
  default: break;
  }
}

static void check_block(Ck *ck, const AstNode *block) {
  for (int i = 0; i < block->nkids; i++) {
    const AstNode *s = block->kids[i];
    if (s->kind == AST_ASSIGN) {
      Val v = ck_eval(ck, s->kids[0]);
      if (v.k != V_TENSOR && v.k != V_ERR && v.k != V_ANY && !ck_numeric(v.k))
        ERR(ck, s->kids[0]->span, "forward can only compute tensors and numbers, not a %s",
            vk_names[v.k]);
      ck_push(ck, s->name, v.k == V_ERR ? ck_mk(V_ANY) : v);
    } else if (s->kind == AST_FOR) {
      Val r = ck_eval(ck, s->kids[0]);
      if (r.k != V_REPEAT && r.k != V_ERR && r.k != V_ANY)
        ERR(ck, s->kids[0]->span, "'for' needs a repeat block, got %s", vk_names[r.k]);
      int mark = ck->nsc;
      Val e = r.k == V_REPEAT ? r : ck_mk(V_ANY);
      if (e.k == V_REPEAT) e.k = V_ELEM;
      ck_push(ck, s->name, e);
      check_block(ck, s->kids[1]);
      ck->nsc = mark;
    } else if (s->kind == AST_RETURN) {
      ck_eval(ck, s->kids[0]);
    }
  }
}

static void push_members(Ck *ck, const AstNode *model) {
  for (int i = 1; i < model->nkids; i++) {
    const AstNode *m = model->kids[i];
    if (!m->name) continue;
    Val v = ck_mk(V_ANY);
    if (m->kind == AST_PARAM) v = ck_mk(V_TENSOR);
    if (m->kind == AST_REPEAT) {
      v = ck_mk(V_REPEAT);
      v.def = m;
      v.file = ck->file;
    }
    if (m->kind == AST_SUBMODULE && m->kids[0]->kind == AST_CALL) {
      v = ck_resolve_in(ck, ck->file, m->kids[0]->kids[0], 0);
      if (v.k == V_PRESET) v = ck_preset_model(ck, v, 0);
      v = v.k == V_MODEL ? (v.k = V_INST, v) : ck_mk(V_ANY);
    }
    ck_push(ck, m->name, v);
  }
}

static void check_members(Ck *ck, const AstNode *owner, const char *what) {
  const AstNode **seen = seen_new(owner->nkids);
  int nseen = 0;
  const AstNode *fw = NULL;
  for (int i = 1; i < owner->nkids; i++) {
    const AstNode *m = owner->kids[i];
    if (m->kind == AST_FORWARD) {
      if (owner->kind == AST_REPEAT) {
        ERR(ck, m->span, "a repeat block has no forward of its own; use 'for' in the model's forward");
      } else if (fw) {
        ERR(ck, m->span, "model '%s' has more than one forward", owner->name);
        diag_at(ck->d, DIAG_NOTE, fw->span, "first forward is here");
      }
      if (!fw) fw = m;
      continue;
    }
    dup_check(ck, seen, nseen, m, what);
    seen[nseen++] = m;
    check_member(ck, m);
  }
  free(seen);
  if (owner->kind != AST_MODEL || !fw) return;
  int mark = ck->nsc;
  push_members(ck, owner);
  ck->mute = 1; /* formals shadow members; they were checked already */
  check_formals(ck, owner->kids[0], 0);
  ck->mute = 0;
  int saved_cats = (int)ck->cats;
  ck->cats = (1u << CAT_OP) | (1u << CAT_NUM);
  ck->forward = 1;
  check_formals(ck, fw->kids[0], 1);
  check_block(ck, fw->kids[1]);
  ck->forward = 0;
  ck->cats = (unsigned)saved_cats;
  ck->nsc = mark;
}

static void check_model(Ck *ck, const AstNode *m) {
  int mark = ck->nsc;
  ck->top = 0;
  ck->cats = 1u << CAT_NUM;
  check_formals(ck, m->kids[0], 0);
  check_members(ck, m, "member");
  ck->nsc = mark;
  ck->top = 1;
}

static void check_train(Ck *ck, const AstNode *t) {
  const AstNode **seen = seen_new(t->nkids);
  Names all = {0};
  for (int i = 0; i < t->nkids; i++) {
    const AstNode *s = t->kids[i];
    dup_check(ck, seen, i, s, "setting");
    seen[i] = s;
    const Builtin *b = sig_builtin(s->name, CAT_SETTING);
    if (!b) {
      ERR(ck, s->span, "unknown train setting '%s'", s->name);
      for (int k = 0; k < sig_nbuiltins; k++)
        if (sig_builtins[k].cat == CAT_SETTING) ck_names_add(&all, sig_builtins[k].sig.name);
      ck_suggest(ck, s->name, &all);
      continue;
    }
    Sig sig;
    sig_parse(b->sig.params, &sig);
    char what[80];
    snprintf(what, sizeof what, "setting '%s'", s->name);
    int vi = -1;
    for (int k = 0; k < sig.n; k++)
      if (!strcmp(sig.p[k].name, "value")) vi = k;
    if (vi >= 0 && s->kids[0])
      ck_check_arg(ck, &sig.p[vi], s->kids[0], what);
    else if (vi >= 0)
      ERR(ck, s->span, "setting '%s' needs a value", s->name);
    else if (s->kids[0])
      ERR(ck, s->kids[0]->span, "setting '%s' takes no value, only clauses", s->name);
    int given[SIG_MAX_PARAMS] = {0};
    for (int c = 1; c < s->nkids; c++) {
      const AstNode *cl = s->kids[c];
      int k = -1;
      for (int j = 0; j < sig.n; j++)
        if (j != vi && !strcmp(sig.p[j].name, cl->name)) k = j;
      if (k < 0) {
        ERR(ck, cl->span, "setting '%s' takes no '%s' clause", s->name, cl->name);
        continue;
      }
      if (given[k]) {
        ERR(ck, cl->span, "clause '%s' given twice", cl->name);
        continue;
      }
      given[k] = 1;
      SigParam p = sig.p[k];
      char cw[96];
      snprintf(cw, sizeof cw, "'%s' of setting '%s'", cl->name, s->name);
      snprintf(p.name, sizeof p.name, "value");
      ck_check_arg(ck, &p, cl->kids[0], cw);
    }
    for (int k = 0; k < sig.n; k++)
      if (k != vi && sig.p[k].required && !given[k])
        ERR(ck, s->span, "setting '%s' needs the clause '%s'", s->name, sig.p[k].name);
  }
  free(seen);
}

static void check_passes(Ck *ck, const AstNode *ps) {
  if (!ck->passes) return;
  for (int i = 0; i < ps->nkids; i++) {
    const AstNode *e = ps->kids[i];
    const AstNode *nm = e->kind == AST_CALL ? e->kids[0] : e;
    if (nm->kind != AST_NAME) continue;
    const AstSig *sig = NULL;
    for (const AstSig *p = ck->passes; p->name; p++)
      if (!strcmp(p->name, nm->name)) sig = p;
    if (!sig) {
      ERR(ck, nm->span, "unknown pass '%s'", nm->name);
      Names ns = {0};
      for (const AstSig *p = ck->passes; p->name; p++) ck_names_add(&ns, p->name);
      ck_suggest(ck, nm->name, &ns);
      continue;
    }
    ck_match_builtin(ck, sig, "pass", e);
  }
}

static void check_file(Ck *ck, AstFileRec *f) {
  ck->file = f;
  ck->nsc = 0;
  ck->top = 1;
  const AstNode *root = f->root;
  const AstNode **seen = seen_new(root->nkids);
  int nseen = 0;
  const AstNode *train = NULL, *passes = NULL;
  for (int i = 0; i < root->nkids; i++) {
    const AstNode *it = root->kids[i];
    ck->cats = (1u << CAT_NUM) | (1u << CAT_WEIGHTS);
    switch (it->kind) {
    case AST_LET:
    case AST_MODEL:
    case AST_DATA:
      dup_check(ck, seen, nseen, it, it->kind == AST_MODEL ? "model" : it->kind == AST_DATA ? "data source" : "name");
      seen[nseen++] = it;
      break;
    default: break;
    }
    switch (it->kind) {
    case AST_LET: ck_eval(ck, it->kids[0]); break;
    case AST_MODEL: check_model(ck, it); break;
    case AST_DATA: {
      SigParam p = {"value", T_SOURCE, "", 1};
      ck_check_arg(ck, &p, it->kids[0], "a data source");
      break;
    }
    case AST_TRAIN:
      if (train) {
        ERR(ck, it->span, "more than one train block");
        diag_at(ck->d, DIAG_NOTE, train->span, "first train block is here");
      }
      train = it;
      ck->cats = 1u << CAT_NUM;
      check_train(ck, it);
      break;
    case AST_PASSES:
      if (passes) {
        ERR(ck, it->span, "more than one passes block");
        diag_at(ck->d, DIAG_NOTE, passes->span, "first passes block is here");
      }
      passes = it;
      check_passes(ck, it);
      break;
    default: break;
    }
  }
  free(seen);
}

int ast_check(AstCtx *c, AstNode *root, const AstSig *passes) {
  Ck ck = {0};
  ck.c = c;
  ck.d = c->diag;
  ck.passes = passes;
  int before = diag_errors(c->diag);
  /* The root first, then the modules it loaded, each once. */
  AstFileRec *rootrec = root ? ps_file_rec(c, root->span.file) : NULL;
  if (rootrec && rootrec->root) check_file(&ck, rootrec);
  for (int i = 0; i < c->nfiles; i++)
    if (c->files[i] != rootrec && c->files[i]->root && c->files[i]->modname)
      check_file(&ck, c->files[i]);
  free(ck.sc);
  return diag_errors(c->diag) - before;
}
