/* compiler/elab/elaborate.c -- the entry point: a checked recipe AST -> the
 * forward graph (inputs, params, logits, loss) and the Recipe settings
 * (`data`, `weights`, `train`).
 *
 * The idea: the recipe's top level is read like a configuration, the model
 * like a program. Settings are evaluated with the same evaluator as
 * everything else, in a scope where bare words (`bytes`, `adamw(...)`,
 * `train.val`) stay symbols for the setting to interpret, so arithmetic in
 * settings works and every error still points at the recipe's text. The
 * data block fixes B and T; the entry model is instantiated at the empty
 * scope path and its forward run on the tokens input; the trainer's loss
 * (cross-entropy against the shifted targets) is appended here.
 */
#include <stdlib.h>
#include <string.h>

#include "elaborate.h"
#include "ftrt.h"

/* ---- small readers ---------------------------------------------------- */

static int get_int(El *E, const Value *v, Span sp, const char *what, int64_t lo, int64_t *out) {
  if (v_as_int(v, out) && *out >= lo) return 0;
  if (v->k == V_INT) el_error(E, sp, "%s must be at least %lld, got %lld", what, (long long)lo, (long long)v->i);
  else el_error(E, sp, "%s must be an integer >= %lld, got %s", what, (long long)lo, v_kind_name(v));
  return -1;
}

static int get_num(El *E, const Value *v, Span sp, const char *what, double lo, double *out) {
  if (v_is_num(v) && v_num(v) >= lo) {
    *out = v_num(v);
    return 0;
  }
  if (v_is_num(v)) el_error(E, sp, "%s must be at least %g, got %g", what, lo, v_num(v));
  else el_error(E, sp, "%s must be a number, got %s", what, v_kind_name(v));
  return -1;
}

/* Binds the arguments of a symbol call (`adamw(lr: 1e-3)`); a bare word
 * has none. */
static int bind_sym(El *E, Scope *sc, const Value *sym, const char *const *names, int n, int nreq,
                    Value *out, Span *sp, Span at) {
  if (sym->def) return el_bind(E, sc, sym->def, sym->s, names, n, nreq, out, sp);
  for (int i = 0; i < n; i++) {
    out[i] = (Value){.k = V_NONE};
    sp[i] = at;
  }
  if (nreq) {
    el_error(E, at, "%s: missing argument '%s'", sym->s, names[0]);
    return -1;
  }
  return 0;
}

/* A path written in the recipe resolves against the recipe's directory,
 * made absolute now, so the compiler and the trainer find the same file
 * from any working directory (paths given as trainer flags are the
 * user's, relative to where they run it). */
const char *el_resolve_path(El *E, const char *p) {
  if (p[0] == '/') return ast_strdup(E->ctx, p);
  char buf[8192];
  snprintf(buf, sizeof buf, "%s%s%s", E->root_dir,
           E->root_dir[0] && strcmp(E->root_dir, "/") ? "/" : "", p);
  return ast_strdup(E->ctx, buf);
}

/* ---- recipe defaults ------------------------------------------------- */

static void recipe_defaults(El *E, Recipe *r, const AstNode *root) {
  memset(r, 0, sizeof *r);
  const char *path = root->span.file && root->span.file->path ? root->span.file->path : "recipe.ft";
  r->path = path;
  const char *slash = strrchr(path, '/');
  char dir[4096] = "";
  if (slash && (size_t)(slash - path) < sizeof dir) {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = 0;
    if (slash == path) strcpy(dir, "/");
  }
  char *abs = realpath(dir[0] ? dir : ".", NULL);
  E->root_dir = ast_strdup(E->ctx, abs ? abs : dir);
  free(abs);
  r->dir = E->root_dir;
  const char *base = slash ? slash + 1 : path;
  char out[512];
  size_t len = strlen(base);
  if (len > 3 && !strcmp(base + len - 3, ".ft")) len -= 3;
  snprintf(out, sizeof out, "runs/%.*s", (int)len, base);
  r->out_dir = ast_strdup(E->ctx, out);
  r->data_kind = DATA_TEXT;
  r->split = 0.9;
  r->steps = 1000;
  r->opt = OPT_ADAMW;
  r->lr = 3e-4;
  r->beta1 = 0.9;
  r->beta2 = 0.999;
  r->eps = 1e-8;
  r->sched = SCHED_CONSTANT;
  r->eval_batches = 8;
  r->seed = 1337;
  r->accum = 1;
  r->log_every = 1;
  r->dtype = IR_F32;
}

/* ---- weights = init(seed: N) | load("file") ---------------------------- */

static int do_weights(El *E, Scope *sc, const AstNode *let, int *init_seed_set) {
  const AstNode *x = let->kids[0];
  Value v = el_eval(E, sc, x);
  if (v.k == V_ERR) return -1;
  Value a;
  Span sp;
  static const char *const nseed[] = {"seed"}, *const npath[] = {"path"};
  if (v.k == V_SYM && !strcmp(v.s, "init")) {
    if (bind_sym(E, sc, &v, nseed, 1, 0, &a, &sp, x->span)) return -1;
    int64_t seed;
    if (a.k != V_NONE) {
      if (get_int(E, &a, sp, "init: seed", 0, &seed)) return -1;
      E->r->init_seed = (uint64_t)seed;
      *init_seed_set = 1;
    }
    return 0;
  }
  if (v.k == V_SYM && !strcmp(v.s, "load")) {
    if (bind_sym(E, sc, &v, npath, 1, 1, &a, &sp, x->span)) return -1;
    if (a.k != V_STR) {
      el_error(E, sp, "load: the path must be a string, got %s", v_kind_name(&a));
      return -1;
    }
    E->r->init_path = el_resolve_path(E, a.s);
    return 0;
  }
  el_error(E, x->span, "weights must be init(seed: N) or load(\"file.safetensors\")");
  return -1;
}

/* ---- data NAME = text(...) | shards(...) ------------------------------ */

/* When the data already exists, a file too short for one training window
 * is an error now rather than at the trainer's start (which says the same). */
static void short_data(El *E, const Recipe *r, const char *written, Span at) {
  int64_t have = rt_data_count(r->data_kind == DATA_SHARDS, r->data_path);
  int64_t need = rt_data_needed(r->seq, r->split);
  if (have < 0 || have >= need) return;
  el_error(E, at, "%s: %lld tokens, too few for one training window: seq %d needs %d tokens "
           "(seq + 1) in the training part, so the data needs at least %lld at split %g",
           written, (long long)have, r->seq, r->seq + 1, (long long)need, r->split);
}

static int do_data(El *E, Scope *sc, const AstNode *data, Span *seq_span) {
  Recipe *r = E->r;
  const AstNode *x = data->nkids > 0 ? data->kids[0] : NULL;
  if (!x) return -1;
  Value v = el_eval(E, sc, x);
  if (v.k == V_ERR) return -1;
  if (v.k != V_SYM || !v.def || (strcmp(v.s, "text") && strcmp(v.s, "shards"))) {
    el_error(E, x->span, "data source must be text(path, ...) or shards(path, ...)");
    return -1;
  }
  static const char *const names[] = {"path", "tokenizer", "seq", "batch", "split", "vocab"};
  Value a[6];
  Span sp[6];
  if (el_bind(E, sc, v.def, v.s, names, 6, 1, a, sp)) return -1;
  int rc = 0;
  r->data_kind = !strcmp(v.s, "text") ? DATA_TEXT : DATA_SHARDS;
  if (a[0].k != V_STR) {
    el_error(E, sp[0], "%s: the path must be a string, got %s", v.s, v_kind_name(&a[0]));
    rc = -1;
  } else {
    r->data_path = el_resolve_path(E, a[0].s);
  }
  /* tokenizer: bytes (vocab 256) or bpe("tokenizer.json") (its vocabulary) */
  if (a[1].k == V_NONE || (a[1].k == V_SYM && !a[1].def && !strcmp(a[1].s, "bytes"))) {
    if (a[1].k != V_NONE || r->data_kind == DATA_TEXT) r->vocab = 256;
  } else if (a[1].k == V_SYM && !strcmp(a[1].s, "bpe")) {
    if (el_tokenizer(E, sc, &a[1], sp[1]) < 0) rc = -1;
    else if (r->data_kind != DATA_TEXT) {
      el_error(E, sp[1], "%s: shards are already tokenized; give the tokenizer to `ftc data "
               "text2shards --tokenizer` instead", v.s);
      rc = -1;
    }
  } else {
    el_error(E, sp[1], "%s: unknown tokenizer (expected bytes)", v.s);
    rc = -1;
  }
  int64_t i;
  const char *req[] = {"seq", "batch"};
  for (int k = 0; k < 2; k++) {
    if (a[2 + k].k == V_NONE) {
      el_error(E, v.def->span, "%s: missing argument '%s'", v.s, req[k]);
      rc = -1;
    } else if (get_int(E, &a[2 + k], sp[2 + k], req[k], 1, &i)) {
      rc = -1;
    } else if (i > (1 << 24)) {
      el_error(E, sp[2 + k], "%s %lld is too large", req[k], (long long)i);
      rc = -1;
    } else if (k == 0) {
      r->seq = (int)i;
    } else {
      r->batch = (int)i;
    }
  }
  *seq_span = sp[2];
  if (a[4].k != V_NONE) {
    double s;
    if (get_num(E, &a[4], sp[4], "split", 0, &s)) rc = -1;
    else if (s <= 0 || s > 1) {
      el_error(E, sp[4], "split must be in (0, 1], got %g", s);
      rc = -1;
    } else {
      r->split = s;
    }
  }
  if (rc == 0) short_data(E, r, a[0].s, sp[0]);
  if (a[5].k != V_NONE) {
    if (get_int(E, &a[5], sp[5], "vocab", 2, &i)) rc = -1;
    else if (r->vocab && r->vocab != i) {
      el_error(E, sp[5], "vocab %lld does not match the tokenizer's %d", (long long)i, r->vocab);
      rc = -1;
    } else {
      r->vocab = (int)i;
    }
  }
  return rc;
}

/* ---- train { settings } ---------------------------------------------- */

static int do_optimizer(El *E, Scope *sc, const Value *v, Span at) {
  Recipe *r = E->r;
  static const char *const adamw[] = {"lr", "betas", "eps", "weight_decay"};
  static const char *const sgd[] = {"lr", "momentum", "weight_decay"};
  static const char *const adagrad[] = {"lr", "eps", "weight_decay"};
  Value a[4];
  Span sp[4];
  if (v->k != V_SYM) goto bad;
  if (!strcmp(v->s, "adamw")) {
    if (bind_sym(E, sc, v, adamw, 4, 0, a, sp, at)) return -1;
    r->opt = OPT_ADAMW;
    if (a[0].k != V_NONE && get_num(E, &a[0], sp[0], "lr", 0, &r->lr)) return -1;
    if (a[1].k != V_NONE) {
      const VList *l = a[1].k == V_LIST ? a[1].p : NULL;
      if (!l || l->n != 2 || !v_is_num(&l->v[0]) || !v_is_num(&l->v[1]) || v_num(&l->v[0]) < 0 ||
          v_num(&l->v[0]) >= 1 || v_num(&l->v[1]) < 0 || v_num(&l->v[1]) >= 1) {
        el_error(E, sp[1], "betas must be two numbers in [0, 1), e.g. (0.9, 0.95)");
        return -1;
      }
      r->beta1 = v_num(&l->v[0]);
      r->beta2 = v_num(&l->v[1]);
    }
    if (a[2].k != V_NONE && get_num(E, &a[2], sp[2], "eps", 0, &r->eps)) return -1;
    if (a[3].k != V_NONE && get_num(E, &a[3], sp[3], "weight_decay", 0, &r->weight_decay)) return -1;
    return 0;
  }
  if (!strcmp(v->s, "sgd")) {
    if (bind_sym(E, sc, v, sgd, 3, 0, a, sp, at)) return -1;
    r->opt = OPT_SGD;
    if (a[0].k != V_NONE && get_num(E, &a[0], sp[0], "lr", 0, &r->lr)) return -1;
    if (a[1].k != V_NONE && get_num(E, &a[1], sp[1], "momentum", 0, &r->momentum)) return -1;
    if (a[2].k != V_NONE && get_num(E, &a[2], sp[2], "weight_decay", 0, &r->weight_decay)) return -1;
    return 0;
  }
  if (!strcmp(v->s, "adagrad")) {
    if (bind_sym(E, sc, v, adagrad, 3, 0, a, sp, at)) return -1;
    r->opt = OPT_ADAGRAD;
    r->eps = 1e-10; /* AdaGrad's usual epsilon (lang/builtins.def) */
    if (a[0].k != V_NONE && get_num(E, &a[0], sp[0], "lr", 0, &r->lr)) return -1;
    if (a[1].k != V_NONE && get_num(E, &a[1], sp[1], "eps", 0, &r->eps)) return -1;
    if (a[2].k != V_NONE && get_num(E, &a[2], sp[2], "weight_decay", 0, &r->weight_decay)) return -1;
    return 0;
  }
bad:
  el_error(E, at, "unknown optimizer (expected adamw(...), sgd(...) or adagrad(...))");
  return -1;
}

static int do_schedule(El *E, Scope *sc, const Value *v, Span at) {
  Recipe *r = E->r;
  static const char *const names[] = {"warmup", "min_lr"};
  Value a[2];
  Span sp[2];
  if (v->k != V_SYM || (strcmp(v->s, "constant") && strcmp(v->s, "linear") && strcmp(v->s, "cosine"))) {
    el_error(E, at, "unknown schedule (expected constant, linear(...) or cosine(...))");
    return -1;
  }
  r->sched = !strcmp(v->s, "constant") ? SCHED_CONSTANT : !strcmp(v->s, "linear") ? SCHED_LINEAR
                                                                                   : SCHED_COSINE;
  if (bind_sym(E, sc, v, names, r->sched == SCHED_CONSTANT ? 1 : 2, 0, a, sp, at)) return -1;
  if (a[0].k != V_NONE && get_int(E, &a[0], sp[0], "warmup", 0, &r->warmup)) return -1;
  if (r->sched != SCHED_CONSTANT && a[1].k != V_NONE && get_num(E, &a[1], sp[1], "min_lr", 0, &r->min_lr))
    return -1;
  return 0;
}

/* Clauses `every N`, `on X`, `to "dir"`; `allowed` lists those that fit. */
static int do_clauses(El *E, Scope *sc, const AstNode *s, const char *allowed, int64_t *every,
                      const char *data_name) {
  for (int i = 1; i < s->nkids; i++) {
    const AstNode *c = s->kids[i];
    if (!c || c->kind != AST_CLAUSE || !c->name || c->nkids < 1) return -1;
    if (!strstr(allowed, c->name)) {
      el_error(E, c->span, "%s takes no '%s' clause", s->name, c->name);
      return -1;
    }
    Value v = el_eval(E, sc, c->kids[0]);
    if (v.k == V_ERR) return -1;
    if (!strcmp(c->name, "every")) {
      if (get_int(E, &v, c->kids[0]->span, "every", 1, every)) return -1;
    } else if (!strcmp(c->name, "on")) {
      char want[256];
      snprintf(want, sizeof want, "%s.val", data_name ? data_name : "train");
      if (v.k != V_SYM || strcmp(v.s, want)) {
        el_error(E, c->kids[0]->span, "eval can only run on the validation split '%s'", want);
        return -1;
      }
    } else if (!strcmp(c->name, "to")) {
      if (v.k != V_STR) {
        el_error(E, c->kids[0]->span, "save to: expected a directory string, got %s", v_kind_name(&v));
        return -1;
      }
      E->r->out_dir = el_resolve_path(E, v.s);
    }
  }
  return 0;
}

static int do_setting(El *E, Scope *sc, const AstNode *s, const char *data_name) {
  static const char *const known[] = {"steps", "optimizer", "schedule", "clip", "precision",
                                      "accumulate", "eval", "eval_batches", "save", "log",
                                      "seed", NULL};
  Recipe *r = E->r;
  const char *n = s->name ? s->name : "";
  const AstNode *vx = s->nkids > 0 ? s->kids[0] : NULL;
  int clauses_only = !strcmp(n, "eval") || !strcmp(n, "save") || !strcmp(n, "log");
  int k;
  for (k = 0; known[k] && strcmp(known[k], n); k++) {}
  if (!known[k]) {
    const char *sug = diag_suggest(n, known);
    el_error(E, s->span, "unknown train setting '%s'%s%s%s", n, sug ? " (did you mean '" : "",
             sug ? sug : "", sug ? "'?)" : "");
    return -1;
  }
  if (clauses_only) {
    if (vx) {
      el_error(E, vx->span, "%s takes no value, only clauses (e.g. `%s every 100`)", n, n);
      return -1;
    }
    int64_t every = 0;
    const char *allowed = !strcmp(n, "eval") ? "every on" : !strcmp(n, "save") ? "every to" : "every";
    if (do_clauses(E, sc, s, allowed, &every, data_name)) return -1;
    if (!strcmp(n, "eval")) r->eval_every = every;
    else if (!strcmp(n, "save")) r->save_every = every;
    else if (every) r->log_every = every;
    return 0;
  }
  if (!vx) {
    el_error(E, s->span, "%s needs a value", n);
    return -1;
  }
  if (s->nkids > 1) {
    el_error(E, s->kids[1]->span, "%s takes no clauses", n);
    return -1;
  }
  Value v = el_eval(E, sc, vx);
  if (v.k == V_ERR) return -1;
  Span at = vx->span;
  int64_t i;
  if (!strcmp(n, "steps")) return get_int(E, &v, at, "steps", 1, &r->steps);
  if (!strcmp(n, "optimizer")) {
    r->opt_given = 1;
    return do_optimizer(E, sc, &v, at);
  }
  if (!strcmp(n, "schedule")) return do_schedule(E, sc, &v, at);
  if (!strcmp(n, "clip")) return get_num(E, &v, at, "clip", 0, &r->clip);
  if (!strcmp(n, "eval_batches")) return get_int(E, &v, at, "eval_batches", 1, &r->eval_batches);
  if (!strcmp(n, "seed")) {
    if (get_int(E, &v, at, "seed", 0, &i)) return -1;
    r->seed = (uint64_t)i;
    return 0;
  }
  if (!strcmp(n, "precision")) {
    const char *p = v.k == V_SYM && !v.def ? v.s : v.k == V_STR ? v.s : NULL;
    if (!p || (strcmp(p, "fp32") && strcmp(p, "bf16") && strcmp(p, "fp16"))) {
      el_error(E, at, "precision must be fp32, bf16 or fp16");
      return -1;
    }
    if (strcmp(p, "fp32")) {
      el_error(E, at, "precision %s is not supported on this backend yet (only fp32)", p);
      return -1;
    }
    return 0;
  }
  if (!strcmp(n, "accumulate")) {
    if (get_int(E, &v, at, "accumulate", 1, &i)) return -1;
    if (i > 1 << 20) {
      el_error(E, at, "accumulate %lld: at most %d micro-batches per update", (long long)i, 1 << 20);
      return -1;
    }
    r->accum = (int)i; /* the same as passes { accumulate(steps: N) } */
    r->accum_span = at;
    return 0;
  }
  return 0;
}

/* ---- the entry model -------------------------------------------------- */

static int input_node(El *E, Span sp, const char *name) {
  IrGraph *g = E->g;
  int id = ir_new(g, IR_INPUT, NULL, 0, sp);
  IrNode *n = &g->nodes[id];
  n->shape = (IrShape){2, {E->B, E->T}};
  n->dtype = IR_I32;
  n->role = IR_ROLE_INPUT;
  n->name = ir_strdup(g, name);
  return ir_infer(g, E->d, id) ? -1 : id;
}

static int formal_int(Inst *in, const char *name, int64_t *out) {
  Value *v = env_get(in->formals, name);
  return v && v_as_int(v, out);
}

static int build_model(El *E, Scope *sc, const AstNode *let, Span seq_span) {
  IrGraph *g = E->g;
  Recipe *r = E->r;
  const AstNode *x = let->kids[0];
  Value v = el_eval(E, sc, x);
  if (v.k == V_ERR) return -1;
  if (v.k == V_MODEL) {
    AstNode fake = {.kind = AST_CALL, .span = x->span, .nkids = 1};
    v = el_spec_call(E, sc, &v, &fake);
    if (v.k == V_ERR) return -1;
  }
  if (v.k != V_SPEC) {
    el_error(E, x->span, "model must be a model, e.g. gpt2.small(ctx: 256), got %s", v_kind_name(&v));
    return -1;
  }
  Inst *inst = el_instantiate(E, v.p, "", x->span);
  if (!inst) return -1;
  r->model_name = inst->def->name ? ast_strdup(E->ctx, inst->def->name) : NULL;
  int64_t ctx, vocab;
  int rc = 0;
  if (formal_int(inst, "ctx", &ctx) && r->seq > ctx) {
    el_error(E, seq_span, "seq %d is longer than the model's context (ctx = %lld)", r->seq, (long long)ctx);
    rc = -1;
  }
  /* a bpe tokenizer's vocabulary may be padded in the model (never short) */
  int padded_ok = r->tokenizer_path != NULL;
  if (formal_int(inst, "vocab", &vocab) && r->vocab && vocab != r->vocab &&
      !(padded_ok && vocab > r->vocab)) {
    el_error(E, x->span, "the model's vocab is %lld but the tokenizer has %d tokens", (long long)vocab,
             r->vocab);
    rc = -1;
  }
  if (rc) return -1;
  const AstNode *fw = NULL;
  for (int i = 1; i < inst->def->nkids; i++)
    if (inst->def->kids[i] && inst->def->kids[i]->kind == AST_FORWARD) fw = inst->def->kids[i];
  if (!fw) {
    el_error(E, x->span, "model '%s' has no forward", inst->def->name ? inst->def->name : "?");
    return -1;
  }
  const AstNode *ps = fw->nkids > 0 ? fw->kids[0] : NULL;
  int nreq = 0;
  for (int i = 0; ps && i < ps->nkids; i++)
    if (ps->kids[i] && !(ps->kids[i]->nkids > 1 && ps->kids[i]->kids[1])) nreq++;
  if (!ps || ps->nkids < 1 || nreq > 1) {
    el_error(E, fw->span, "the entry model's forward must take one argument, tokens: i32[B, T]");
    return -1;
  }
  Span tsp = ps->kids[0]->span;
  g->tokens = input_node(E, tsp, "tokens");
  g->targets = input_node(E, tsp, "targets");
  if (g->tokens < 0 || g->targets < 0) return -1;
  Value tok = v_tensor(g->tokens);
  Span xsp = x->span;
  Value out = el_forward(E, inst, &tok, &xsp, 1, x->span);
  if (out.k == V_ERR) return -1;
  char sb[128];
  const IrShape *ls = out.k == V_TENSOR ? el_shape(E, (int)out.i) : NULL;
  if (!ls || ls->rank != 3 || ls->d[0] != E->B || ls->d[1] != E->T) {
    el_error(E, fw->span, "the entry model's forward must return logits [B, T, vocab] with B = %lld, "
             "T = %lld; got %s", (long long)E->B, (long long)E->T,
             ls ? ir_shape_str(ls, sb, sizeof sb) : v_kind_name(&out));
    return -1;
  }
  int64_t V = ls->d[2];
  if (r->vocab && V != r->vocab && !(padded_ok && V > r->vocab)) {
    el_error(E, x->span, "the model's logits have %lld classes but the tokenizer has %d tokens",
             (long long)V, r->vocab);
    return -1;
  }
  r->vocab = (int)V;
  g->logits = (int)out.i;
  if (!g->nodes[g->logits].name) g->nodes[g->logits].name = ir_strdup(g, "logits");
  /* The trainer's objective: mean cross-entropy over all B*T positions. */
  IrShape fl = {2, {E->B * E->T, V}}, ft = {1, {E->B * E->T}};
  int lf = el_op_attr(E, x->span, IR_RESHAPE, &g->logits, 1, NULL, 0, &fl, NULL);
  int tf = lf < 0 ? -1 : el_op_attr(E, x->span, IR_RESHAPE, &g->targets, 1, NULL, 0, &ft, NULL);
  if (tf < 0) return -1;
  g->nodes[lf].name = ir_strdup(g, "logits_flat");
  g->nodes[tf].name = ir_strdup(g, "targets_flat");
  int in[2] = {lf, tf};
  g->loss = el_op(E, x->span, IR_CROSS_ENTROPY, in, 2);
  if (g->loss < 0) return -1;
  g->nodes[g->loss].name = ir_strdup(g, "loss");
  return 0;
}

/* ---- entry ------------------------------------------------------------ */

IrGraph *elaborate(AstCtx *c, AstNode *root, Diag *d, Recipe *out) {
  El E = {.ctx = c, .d = d, .r = out, .dtype = IR_F32, .root = root->span.file};
  int errs0 = diag_errors(d);
  recipe_defaults(&E, out, root);
  E.g = ir_graph_new();
  Module *rm = el_module(&E, NULL, root);
  Scope top = {.mod = rm};
  Scope sym = {.mod = rm, .symbols = 1};
  const AstNode *model = NULL, *weights = NULL, *data = NULL, *train = NULL;
  for (int i = 0; i < root->nkids; i++) {
    const AstNode *it = root->kids[i];
    if (!it) continue;
    if (it->kind == AST_LET && it->name && it->nkids > 0 && it->kids[0]) {
      if (!strcmp(it->name, "model")) model = it;
      else if (!strcmp(it->name, "weights")) weights = it;
    } else if (it->kind == AST_DATA) {
      if (data) el_error(&E, it->span, "only one data source is supported yet");
      else data = it;
    } else if (it->kind == AST_TRAIN) {
      if (train) el_error(&E, it->span, "only one train block is allowed");
      else train = it;
    }
  }
  int init_seed_set = 0;
  if (weights) do_weights(&E, &sym, weights, &init_seed_set);
  Span seq_span = root->span;
  int data_ok = 0;
  if (data) data_ok = do_data(&E, &sym, data, &seq_span) == 0;
  else el_error(&E, root->span, "the recipe has no data source (`data train = text(...)`): "
                "batch and seq size the graph");
  for (int i = 0; train && i < train->nkids; i++)
    if (train->kids[i] && train->kids[i]->kind == AST_SETTING)
      do_setting(&E, &sym, train->kids[i], data ? data->name : NULL);
  if (!init_seed_set) out->init_seed = out->seed;
  if (!model)
    el_error(&E, root->span, "the recipe has no `model = ...` (e.g. model = gpt2.small(ctx: 256))");
  else if (data_ok) {
    E.B = out->batch;
    E.T = out->seq;
    build_model(&E, &top, model, seq_span);
  }
  IrGraph *g = E.g;
  el_arena_free(&E);
  if (diag_errors(d) > errs0) {
    ir_graph_free(g);
    return NULL;
  }
  g->recipe = out; /* passes read the settings through the graph */
  return g;
}
