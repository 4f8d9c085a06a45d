/* lang/check.c -- the expression half of ast_check (definitions are in
 * check_defs.c): values, name lookup, and matching calls to signatures.
 *
 * One idea: every expression evaluates to a coarse Val -- a number, a
 * string, a tensor, a model, a model instance, a repeat block, a module, a
 * built-in -- and every call, whatever its callee (op, model, preset, pass,
 * optimizer), is matched against one Sig (positional then named, defaults),
 * so "missing argument", "unknown argument" and "wrong type" are written
 * once. A Val of kind V_ERR means "already reported": it is compatible with
 * everything, so one mistake yields one diagnostic, not a cascade.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

const char *const vk_names[] = {
    "nothing", "error", "value", "int", "float", "bool", "string", "tensor", "list",
    "tuple", "module", "model", "preset", "model instance", "repeat block",
    "repeat element", "built-in", "data source"};

Val ck_mk(VKind k) {
  Val v = {k, NULL, NULL, NULL};
  return v;
}

void ck_names_add(Names *ns, const char *s) {
  if (!s) return;
  if (ns->n + 2 > ns->cap) {
    int cap = ns->cap ? 2 * ns->cap : 32;
    const char **nv = realloc(ns->v, (size_t)cap * sizeof *nv);
    if (!nv) return;
    ns->v = nv;
    ns->cap = cap;
  }
  ns->v[ns->n++] = s;
  ns->v[ns->n] = NULL;
}

void ck_suggest(Ck *ck, const char *name, Names *ns) {
  const char *s = ns->v && !ck->mute ? diag_suggest(name, ns->v) : NULL;
  if (s) {
    Span none = {0};
    diag_at(ck->d, DIAG_NOTE, none, "did you mean '%s'?", s);
  }
  free(ns->v);
  ns->v = NULL;
  ns->n = ns->cap = 0;
}


void ck_push(Ck *ck, const char *name, Val v) {
  if (!name) return;
  if (ck->nsc == ck->capsc) {
    int cap = ck->capsc ? 2 * ck->capsc : 64;
    Entry *ne = realloc(ck->sc, (size_t)cap * sizeof *ne);
    if (!ne) return;
    ck->sc = ne;
    ck->capsc = cap;
  }
  ck->sc[ck->nsc].name = name;
  ck->sc[ck->nsc].v = v;
  ck->nsc++;
}

/* ---- files, modules and top-level names ----------------------------------- */

static AstFileRec *module_rec(Ck *ck, AstFileRec *f, const char *name) {
  int used = 0;
  for (int i = 0; i < f->root->nkids; i++) {
    const AstNode *u = f->root->kids[i];
    if (u->kind == AST_USE && u->name) {
      const char *m = u->str ? strrchr(u->str, '/') : NULL;
      m = m ? m + 1 : u->str ? u->str : u->name;
      size_t n = strlen(m);
      if (n > 3 && !strcmp(m + n - 3, ".ft")) n -= 3;
      if (strlen(name) == n && !strncmp(m, name, n)) used = 1;
    }
  }
  if (!used) return NULL;
  for (int i = 0; i < ck->c->nfiles; i++) {
    AstFileRec *r = ck->c->files[i];
    if (r->modname && !strcmp(r->modname, name) && r->root) return r;
  }
  return (AstFileRec *)-1; /* used, but not loaded (already reported) */
}

/* Quietly resolves a callee (NAME or module.NAME) in file f. */
Val ck_resolve_in(Ck *ck, AstFileRec *f, const AstNode *e, int depth) {
  if (depth > 16) return ck_mk(V_ANY);
  if (e->kind == AST_NAME) {
    Val v = ck_top_val(ck, f, e->name, 1, depth);
    if (v.k != V_NONE) return v;
    AstFileRec *m = module_rec(ck, f, e->name);
    if (m == (AstFileRec *)-1) return ck_mk(V_ERR);
    if (m) {
      Val mv = ck_mk(V_MODULE);
      mv.file = m;
      return mv;
    }
    return ck_mk(V_NONE);
  }
  if (e->kind == AST_MEMBER && e->kids[0]->kind == AST_NAME) {
    AstFileRec *m = module_rec(ck, f, e->kids[0]->name);
    if (m == (AstFileRec *)-1) return ck_mk(V_ERR);
    if (m) return ck_top_val(ck, m, e->name, 1, depth);
  }
  return ck_mk(V_NONE);
}

static Val let_val(Ck *ck, AstFileRec *f, const AstNode *let, int depth) {
  const AstNode *e = let->kids[0];
  switch (e->kind) {
  case AST_INT: return ck_mk(V_INT);
  case AST_FLOAT: return ck_mk(V_FLOAT);
  case AST_STRING: return ck_mk(V_STRING);
  case AST_BOOL: return ck_mk(V_BOOL);
  case AST_CALL: {
    Val cv = ck_resolve_in(ck, f, e->kids[0], depth + 1);
    if (cv.k == V_MODEL || cv.k == V_PRESET) {
      Val v = ck_mk(V_PRESET);
      v.def = let;
      v.file = f;
      return v;
    }
    return ck_mk(V_ANY);
  }
  default: return ck_mk(V_ANY);
  }
}

Val ck_top_val(Ck *ck, AstFileRec *f, const char *name, int lets, int depth) {
  for (int i = 0; i < f->root->nkids; i++) {
    const AstNode *it = f->root->kids[i];
    if (!it->name || strcmp(it->name, name)) continue;
    Val v = ck_mk(V_NONE);
    v.def = it;
    v.file = f;
    if (it->kind == AST_MODEL) {
      v.k = V_MODEL;
      return v;
    }
    if (lets && it->kind == AST_LET) return let_val(ck, f, it, depth);
    if (lets && it->kind == AST_DATA) {
      v.k = V_DATA;
      return v;
    }
  }
  return ck_mk(V_NONE);
}

/* The model a preset (LET name = Model(...)) stands for, or V_ERR. */
Val ck_preset_model(Ck *ck, Val p, int depth) {
  for (; p.k == V_PRESET && depth < 16; depth++)
    p = ck_resolve_in(ck, p.file, p.def->kids[0]->kids[0], depth);
  return p.k == V_MODEL ? p : ck_mk(V_ERR);
}

static void top_names(AstFileRec *f, int lets, Names *ns) {
  for (int i = 0; i < f->root->nkids; i++) {
    const AstNode *it = f->root->kids[i];
    if (it->kind == AST_MODEL || (lets && (it->kind == AST_LET || it->kind == AST_DATA)) ||
        it->kind == AST_USE)
      ck_names_add(ns, it->name);
  }
}

/* ---- name lookup ------------------------------------------------------------ */

static Val lookup(Ck *ck, const AstNode *n) {
  const char *name = n->name;
  for (int i = ck->nsc - 1; i >= 0; i--)
    if (!strcmp(ck->sc[i].name, name)) return ck->sc[i].v;
  Val v = ck_resolve_in(ck, ck->file, n, 0);
  if (v.k == V_PRESET && !ck->top) v.k = V_NONE; /* bindings are top-level only */
  if (v.k == V_DATA && !ck->top) v.k = V_NONE;
  if (v.k != V_NONE) return v;
  for (int c = 0; c < CAT_COUNT; c++)
    if (ck->cats & (1u << c)) {
      const Builtin *b = sig_builtin(name, (BuiltinCat)c);
      if (b) {
        Val bv = ck_mk(V_BUILTIN);
        bv.b = b;
        return bv;
      }
    }
  for (int c = 0; c < CAT_SETTING; c++)
    if (sig_builtin(name, (BuiltinCat)c)) {
      ERR(ck, n->span, "'%s' is %s %s and cannot be used here", name,
          c == CAT_OP || c == CAT_INIT || c == CAT_OPTIMIZER ? "an" : "a", sig_cat_names[c]);
      return ck_mk(V_ERR);
    }
  ERR(ck, n->span, "unknown name '%s'", name);
  Names ns = {0};
  for (int i = 0; i < ck->nsc; i++) ck_names_add(&ns, ck->sc[i].name);
  top_names(ck->file, ck->top, &ns);
  for (int i = 0; i < sig_nbuiltins; i++)
    if (ck->cats & (1u << sig_builtins[i].cat)) ck_names_add(&ns, sig_builtins[i].sig.name);
  ck_suggest(ck, name, &ns);
  return ck_mk(V_ERR);
}

/* ---- calls ---------------------------------------------------------------- */


/* Formals of a model or forward as a Sig. */
void ck_formals_sig(const AstNode *params, int forward, Sig *s) {
  s->n = 0;
  for (int i = 0; params && i < params->nkids && s->n < SIG_MAX_PARAMS; i++) {
    const AstNode *f = params->kids[i];
    SigParam *p = &s->p[s->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", f->name);
    const AstNode *ty = f->kids[0], *def = f->kids[1];
    if (ty && ty->kind == AST_TENSOR_TYPE)
      p->mask = T_TENSOR;
    else if (ty)
      sig_type(ty->name, strlen(ty->name), p);
    else if (def && def->kind == AST_INT)
      p->mask = T_INT;
    else if (def && def->kind == AST_FLOAT)
      p->mask = T_FLOAT | T_INT;
    else if (def && def->kind == AST_STRING)
      p->mask = T_STRING;
    else if (def && def->kind == AST_BOOL)
      p->mask = T_BOOL;
    else
      p->mask = forward ? T_ANY : T_ANY;
    p->required = def == NULL;
  }
}

/* Matches a call's arguments (kids[1..]) against s. */
static void match(Ck *ck, const Sig *s, const char *what, const AstNode *call, int named_only) {
  int given[SIG_MAX_PARAMS] = {0};
  int pos = 0, seen_named = 0;
  for (int i = 1; i < call->nkids; i++) {
    const AstNode *a = call->kids[i];
    if (!a || a->kind != AST_ARG) continue;
    int idx = -1;
    if (a->name) {
      seen_named = 1;
      for (int k = 0; k < s->n; k++)
        if (!strcmp(s->p[k].name, a->name)) idx = k;
      if (idx < 0) {
        ERR(ck, a->span, "unknown argument '%s' to %s", a->name, what);
        Names ns = {0};
        for (int k = 0; k < s->n; k++) ck_names_add(&ns, s->p[k].name);
        ck_suggest(ck, a->name, &ns);
        ck_eval(ck, a->kids[0]);
        continue;
      }
    } else if (named_only) {
      ERR(ck, a->span, "%s takes named arguments only", what);
      continue;
    } else if (seen_named) {
      ERR(ck, a->span, "positional argument after named arguments");
      continue;
    } else if (pos >= s->n) {
      ERR(ck, a->span, "too many arguments to %s (it takes %d)", what, s->n);
      ck_eval(ck, a->kids[0]);
      continue;
    } else {
      idx = pos++;
    }
    if (given[idx]) {
      ERR(ck, a->span, "argument '%s' given twice", s->p[idx].name);
      continue;
    }
    given[idx] = 1;
    ck_check_arg(ck, &s->p[idx], a->kids[0], what);
  }
  for (int k = 0; k < s->n; k++)
    if (s->p[k].required && !given[k])
      ERR(ck, call->span, "missing argument '%s' in call to %s", s->p[k].name, what);
}

void ck_match_builtin(Ck *ck, const AstSig *sig, const char *kind, const AstNode *call) {
  Sig s;
  char what[96];
  snprintf(what, sizeof what, "%s '%s'", kind, sig->name);
  if (sig_parse(sig->params, &s) < 0) {
    ERR(ck, call->span, "internal: malformed signature of %s", what);
    return;
  }
  if (call->kind == AST_CALL) {
    match(ck, &s, what, call, 0);
    return;
  }
  for (int k = 0; k < s.n; k++) /* used by bare name: nothing may be required */
    if (s.p[k].required) {
      ERR(ck, call->span, "%s needs argument '%s', e.g. %s(%s: ...)", what, s.p[k].name,
          sig->name, s.p[k].name);
      return;
    }
}

static int in_syms(const char *syms, const char *name) {
  size_t n = strlen(name);
  for (const char *s = syms; (s = strstr(s, name)) != NULL; s++)
    if (s[-1] == '|' && s[n] == '|') return 1;
  return 0;
}

static int compatible(unsigned m, VKind k) {
  switch (k) {
  case V_INT: return (m & (T_INT | T_FLOAT)) != 0;
  case V_FLOAT: return (m & T_FLOAT) != 0;
  case V_BOOL: return (m & T_BOOL) != 0;
  case V_STRING: return (m & T_STRING) != 0;
  case V_TENSOR: return (m & T_TENSOR) != 0;
  case V_LIST: return (m & T_LIST) != 0;
  case V_TUPLE: return (m & T_TUPLE) != 0;
  default: return 0;
  }
}

static void check_data_ref(Ck *ck, const AstNode *e) {
  const AstNode *base = e->kind == AST_MEMBER ? e->kids[0] : e;
  if (e->kind == AST_MEMBER && strcmp(e->name, "train") && strcmp(e->name, "val")) {
    ERR(ck, e->span, "a data source has the splits 'train' and 'val', not '%s'", e->name);
    return;
  }
  if (base->kind != AST_NAME) {
    ERR(ck, e->span, "expected a data split such as train.val");
    return;
  }
  Val v = ck_top_val(ck, ck->file, base->name, 1, 0);
  if (v.k == V_DATA) return;
  ERR(ck, base->span, "unknown data source '%s'", base->name);
  Names ns = {0};
  const char *first = NULL;
  for (int i = 0; i < ck->file->root->nkids; i++)
    if (ck->file->root->kids[i]->kind == AST_DATA) {
      ck_names_add(&ns, ck->file->root->kids[i]->name);
      if (!first) first = ck->file->root->kids[i]->name;
    }
  if (e == base && first && (!strcmp(base->name, "val") || !strcmp(base->name, "train"))) {
    /* a split written without its source: `on val` */
    Span none = {0};
    if (!ck->mute) diag_at(ck->d, DIAG_NOTE, none, "did you mean '%s.%s'?", first, base->name);
    free(ns.v);
    return;
  }
  ck_suggest(ck, base->name, &ns);
}

void ck_check_arg(Ck *ck, const SigParam *p, const AstNode *e, const char *what) {
  unsigned m = p->mask;
  if (!e || e->kind == AST_ERROR) return;
  static const struct { unsigned bit; BuiltinCat cat; } cats[] = {
      {T_TOKENIZER, CAT_TOKENIZER}, {T_OPTIMIZER, CAT_OPTIMIZER},
      {T_SCHEDULE, CAT_SCHEDULE}, {T_INIT, CAT_INIT}, {T_SOURCE, CAT_SOURCE}};
  for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++) {
    if (!(m & cats[i].bit)) continue;
    const AstNode *nm = e->kind == AST_NAME                                   ? e
                        : e->kind == AST_CALL && e->kids[0]->kind == AST_NAME ? e->kids[0]
                                                                              : NULL;
    const char *cn = sig_cat_names[cats[i].cat];
    const Builtin *b = nm ? sig_builtin(nm->name, cats[i].cat) : NULL;
    if (b) {
      ck_match_builtin(ck, &b->sig, cn, e);
      return;
    }
    if (m & ~cats[i].bit) continue;
    Names ns = {0};
    for (int k = 0; k < sig_nbuiltins; k++)
      if (sig_builtins[k].cat == cats[i].cat) ck_names_add(&ns, sig_builtins[k].sig.name);
    if (nm) {
      ERR(ck, nm->span, "unknown %s '%s'", cn, nm->name);
      ck_suggest(ck, nm->name, &ns);
    } else {
      ERR(ck, e->span, "expected %s %s such as %s", cats[i].cat == CAT_OPTIMIZER || cats[i].cat == CAT_INIT ? "an" : "a", cn, ns.v ? ns.v[0] : "?");
      free(ns.v);
    }
    return;
  }
  if (m & T_DATA) {
    check_data_ref(ck, e);
    return;
  }
  char want[128];
  if (p->syms[0] && e->kind == AST_NAME) {
    if (in_syms(p->syms, e->name)) return;
    if (!(m & ~(unsigned)T_NAME)) {
      sig_mask_name(m, p->syms, want, sizeof want);
      ERR(ck, e->span, "'%s' is not %s", e->name, want);
      Names ns = {0};
      char buf[64];
      snprintf(buf, sizeof buf, "%s", p->syms);
      for (char *s = strtok(buf, "|"); s; s = strtok(NULL, "|")) ck_names_add(&ns, s);
      ck_suggest(ck, e->name, &ns);
      return;
    }
  }
  if ((m & T_NAME) && e->kind == AST_NAME) return;
  Val v = ck_eval(ck, e);
  if (v.k == V_ERR || v.k == V_ANY || (m & T_ANY) || compatible(m, v.k)) return;
  sig_mask_name(m, p->syms, want, sizeof want);
  if (!strcmp(p->name, "value"))
    ERR(ck, e->span, "%s must be %s, got %s", what, want, vk_names[v.k]);
  else
    ERR(ck, e->span, "argument '%s' of %s must be %s, got %s", p->name, what, want,
        vk_names[v.k]);
}

static const AstNode *find_forward(const AstNode *model) {
  for (int i = 1; i < model->nkids; i++)
    if (model->kids[i]->kind == AST_FORWARD) return model->kids[i];
  return NULL;
}

Val ck_eval_call(Ck *ck, const AstNode *n) {
  Val f = ck_eval(ck, n->kids[0]);
  char what[96];
  Sig s;
  switch (f.k) {
  case V_BUILTIN:
    ck_match_builtin(ck, &f.b->sig, sig_cat_names[f.b->cat], n);
    return ck_mk(f.b->cat == CAT_OP ? V_TENSOR : f.b->cat == CAT_NUM ? V_FLOAT : V_ANY);
  case V_MODEL:
  case V_PRESET: {
    if (ck->forward) {
      ERR(ck, n->kids[0]->span,
          "a model cannot be created inside forward; declare it as a member (name = %s(...))",
          f.def->name);
      return ck_mk(V_ERR);
    }
    Val m = f.k == V_MODEL ? f : ck_preset_model(ck, f, 0);
    if (m.k != V_MODEL) return ck_mk(V_ERR);
    snprintf(what, sizeof what, "%s '%s'", f.k == V_MODEL ? "model" : "preset", f.def->name);
    ck_formals_sig(m.def->kids[0], 0, &s);
    match(ck, &s, what, n, f.k == V_PRESET);
    m.k = V_INST;
    return m;
  }
  case V_INST: {
    const AstNode *fw = find_forward(f.def);
    if (!fw) {
      ERR(ck, n->span, "model '%s' has no forward to call", f.def->name);
      return ck_mk(V_ERR);
    }
    snprintf(what, sizeof what, "'%s' (forward of model '%s')",
             n->kids[0]->kind == AST_NAME ? n->kids[0]->name : n->kids[0]->name ? n->kids[0]->name : "?",
             f.def->name);
    ck_formals_sig(fw->kids[0], 1, &s);
    match(ck, &s, what, n, 0);
    return ck_mk(V_TENSOR);
  }
  case V_ERR:
  case V_ANY:
    for (int i = 1; i < n->nkids; i++)
      if (n->kids[i]->kind == AST_ARG) ck_eval(ck, n->kids[i]->kids[0]);
    return ck_mk(f.k);
  default:
    ERR(ck, n->kids[0]->span, "a %s cannot be called", vk_names[f.k]);
    if (f.k == V_MODULE && f.file && n->kids[0]->kind == AST_NAME && !ck->mute) {
      /* `llama(...)` for `llama.llama(...)`: name the module's model */
      const char *mod = n->kids[0]->name, *model = NULL;
      for (int i = 0; i < f.file->root->nkids && !model; i++) {
        const AstNode *it = f.file->root->kids[i];
        if (it->kind == AST_MODEL && it->name && !strcmp(it->name, mod)) model = it->name;
      }
      for (int i = 0; i < f.file->root->nkids && !model; i++) {
        const AstNode *it = f.file->root->kids[i];
        if (it->kind == AST_MODEL && it->name) model = it->name;
      }
      Span none = {0};
      if (model)
        diag_at(ck->d, DIAG_NOTE, none, "did you mean '%s.%s(...)'? (a module's models are "
                "called through it)", mod, model);
    }
    return ck_mk(V_ERR);
  }
}

/* Members of a model (kids[1..]) or a repeat block (kids[1..]). */
static Val member_of(Ck *ck, const AstNode *owner, AstFileRec *f, const AstNode *n) {
  for (int i = 1; i < owner->nkids; i++) {
    const AstNode *m = owner->kids[i];
    if (!m->name || strcmp(m->name, n->name)) continue;
    Val v = ck_mk(V_ANY);
    v.file = f;
    v.def = m;
    if (m->kind == AST_PARAM) return ck_mk(V_TENSOR);
    if (m->kind == AST_REPEAT) {
      v.k = V_REPEAT;
      return v;
    }
    if (m->kind == AST_SUBMODULE && m->kids[0]->kind == AST_CALL) {
      Val mv = ck_resolve_in(ck, f, m->kids[0]->kids[0], 0);
      if (mv.k == V_PRESET) mv = ck_preset_model(ck, mv, 0);
      if (mv.k == V_MODEL) mv.k = V_INST;
      return mv.k == V_INST ? mv : ck_mk(V_ERR);
    }
    return ck_mk(V_ERR);
  }
  ERR(ck, n->span, "%s '%s' has no member '%s'", owner->kind == AST_MODEL ? "model" : "repeat block",
      owner->name, n->name);
  Names ns = {0};
  for (int i = 1; i < owner->nkids; i++) ck_names_add(&ns, owner->kids[i]->name);
  ck_suggest(ck, n->name, &ns);
  return ck_mk(V_ERR);
}

static Val eval_member(Ck *ck, const AstNode *n) {
  Val b = ck_eval(ck, n->kids[0]);
  switch (b.k) {
  case V_MODULE: {
    Val v = ck_top_val(ck, b.file, n->name, 1, 0);
    if (v.k != V_NONE) return v;
    ERR(ck, n->span, "module '%s' has no '%s'", b.file->modname ? b.file->modname : "?", n->name);
    Names ns = {0};
    top_names(b.file, 1, &ns);
    ck_suggest(ck, n->name, &ns);
    return ck_mk(V_ERR);
  }
  case V_INST: return member_of(ck, b.def, b.file, n);
  case V_ELEM: return member_of(ck, b.def, b.file, n);
  case V_DATA:
    if (strcmp(n->name, "train") && strcmp(n->name, "val")) {
      ERR(ck, n->span, "a data source has the splits 'train' and 'val', not '%s'", n->name);
      return ck_mk(V_ERR);
    }
    return b;
  case V_ERR:
  case V_ANY: return b;
  default:
    ERR(ck, n->span, "a %s has no members ('.%s')", vk_names[b.k], n->name);
    return ck_mk(V_ERR);
  }
}

int ck_numeric(VKind k) { return k == V_INT || k == V_FLOAT; }

Val ck_eval(Ck *ck, const AstNode *n) {
  if (!n) return ck_mk(V_ERR);
  switch (n->kind) {
  case AST_INT: return ck_mk(V_INT);
  case AST_FLOAT: return ck_mk(V_FLOAT);
  case AST_STRING: return ck_mk(V_STRING);
  case AST_BOOL: return ck_mk(V_BOOL);
  case AST_LIST:
  case AST_TUPLE:
    for (int i = 0; i < n->nkids; i++) ck_eval(ck, n->kids[i]);
    return ck_mk(n->kind == AST_LIST ? V_LIST : V_TUPLE);
  case AST_NAME: return lookup(ck, n);
  case AST_CALL: return ck_eval_call(ck, n);
  case AST_MEMBER: return eval_member(ck, n);
  case AST_UNOP: {
    Val a = ck_eval(ck, n->kids[0]);
    if (ck_numeric(a.k) || a.k == V_TENSOR || a.k == V_ERR || a.k == V_ANY) return a;
    ERR(ck, n->kids[0]->span, "unary '-' needs a number or a tensor, got %s", vk_names[a.k]);
    return ck_mk(V_ERR);
  }
  case AST_BINOP: {
    Val a = ck_eval(ck, n->kids[0]), b = ck_eval(ck, n->kids[1]);
    int matmul = n->name[0] == '@';
    const AstNode *bad = NULL;
    VKind bk = V_NONE;
    if (!(ck_numeric(a.k) || a.k == V_TENSOR || a.k == V_ERR || a.k == V_ANY) ||
        (matmul && ck_numeric(a.k)))
      bad = n->kids[0], bk = a.k;
    else if (!(ck_numeric(b.k) || b.k == V_TENSOR || b.k == V_ERR || b.k == V_ANY) ||
             (matmul && ck_numeric(b.k)))
      bad = n->kids[1], bk = b.k;
    if (bad) {
      ERR(ck, bad->span, "operator '%s' needs %s, got %s", n->name,
          matmul ? "tensors" : "numbers or tensors", vk_names[bk]);
      return ck_mk(V_ERR);
    }
    if (a.k == V_ERR || b.k == V_ERR) return ck_mk(V_ERR);
    if (a.k == V_TENSOR || b.k == V_TENSOR || matmul) return ck_mk(V_TENSOR);
    if (a.k == V_ANY || b.k == V_ANY) return ck_mk(V_ANY);
    return ck_mk(a.k == V_INT && b.k == V_INT ? V_INT : V_FLOAT);
  }
  case AST_INDEX: {
    Val b = ck_eval(ck, n->kids[0]);
    for (int i = 1; i < n->nkids; i++) {
      const AstNode *ix = n->kids[i];
      if (ix->kind == AST_SLICE) {
        for (int k = 0; k < 2; k++)
          if (ix->kids[k]) {
            Val v = ck_eval(ck, ix->kids[k]);
            if (!(ck_numeric(v.k) || v.k == V_ERR || v.k == V_ANY))
              ERR(ck, ix->kids[k]->span, "slice bounds must be integers, got %s", vk_names[v.k]);
          }
      } else {
        Val v = ck_eval(ck, ix);
        if (!(ck_numeric(v.k) || v.k == V_TENSOR || v.k == V_ERR || v.k == V_ANY))
          ERR(ck, ix->span, "an index must be an integer or a tensor of ids, got %s",
              vk_names[v.k]);
      }
    }
    if (b.k == V_TENSOR || b.k == V_ERR || b.k == V_ANY) return ck_mk(b.k == V_ERR ? V_ERR : V_TENSOR);
    ERR(ck, n->kids[0]->span, "a %s cannot be indexed", vk_names[b.k]);
    return ck_mk(V_ERR);
  }
  case AST_ERROR: return ck_mk(V_ERR);
  default: return ck_mk(V_ANY);
  }
}

