/* compiler/pass.c -- the pass manager: registry, typed arguments, mixture
 * checks and stage-ordered execution of a recipe's `passes { }` block.
 *
 * One idea: a pass is only a descriptor (name, typed params with defaults,
 * requires/conflicts/before facts with reasons, stage, run). The manager
 * never knows a pass by name: it checks the recipe's list against the
 * descriptors' facts (every error at the recipe span, with the reason)
 * before any pass runs, then runs each stage's passes in recipe order.
 */
#include <stdlib.h>
#include <string.h>
#include "back.h"

/* built-in passes, one file each in compiler/passes/ */
extern const Pass pass_dce, pass_checkpoint, pass_lora, pass_qlora, pass_zero,
    pass_fuse_optimizer, pass_flash_attention, pass_hift, pass_mixed_precision,
    pass_accumulate, pass_fuse_lm_head_ce;

#define MAXPASSES 64
#define MAXPARAMS 16
#define MAXLIST 32

static const Pass *registry[MAXPASSES] = {
    &pass_checkpoint,     &pass_lora, &pass_qlora,           &pass_zero,
    &pass_fuse_optimizer, &pass_flash_attention, &pass_hift, &pass_mixed_precision,
    &pass_accumulate,     &pass_dce,             &pass_fuse_lm_head_ce,
};
static const char *origin[MAXPASSES]; /* the plugin file a pass came from; NULL = built in */
static int nregistry = 11;

const Pass *const *pass_list(int *n) {
  *n = nregistry;
  return registry;
}

const Pass *pass_find(const char *name) {
  for (int i = 0; i < nregistry; i++)
    if (strcmp(registry[i]->name, name) == 0) return registry[i];
  return NULL;
}

const char *pass_origin(const Pass *p) {
  for (int i = 0; i < nregistry; i++)
    if (registry[i] == p) return origin[i];
  return NULL;
}

int pass_register_from(const Pass *p, const char *from) {
  if (!p || !p->name || pass_find(p->name) || nregistry == MAXPASSES) return -1;
  origin[nregistry] = from;
  registry[nregistry++] = p;
  return 0;
}

int pass_register(const Pass *p) { return pass_register_from(p, NULL); }

/* ---- signatures for ast_check ------------------------------------------ */

static const char *type_name(PassParamType t) {
  switch (t) {
  case PP_INT: return "int";
  case PP_FLOAT: return "float";
  case PP_BOOL: return "bool";
  case PP_STRING: return "string";
  case PP_NAME: return "name";
  }
  return "any";
}

static AstSig sigs[MAXPASSES + 1];
static char sig_text[MAXPASSES][512];

const AstSig *ftc_pass_sigs(void) {
  for (int i = 0; i < nregistry; i++) {
    const Pass *p = registry[i];
    char *t = sig_text[i];
    size_t k = 0, cap = sizeof sig_text[i];
    t[0] = 0;
    for (const PassParam *pp = p->params; pp && pp->name && k < cap; pp++) {
      k += (size_t)snprintf(t + k, cap - k, "%s%s: %s", k ? ", " : "", pp->name,
                            type_name(pp->type));
      if (pp->def && k < cap) k += (size_t)snprintf(t + k, cap - k, " = %s", pp->def);
    }
    sigs[i] = (AstSig){p->name, t, p->doc};
  }
  sigs[nregistry] = (AstSig){NULL, NULL, NULL};
  return sigs;
}

/* ---- arguments ---------------------------------------------------------- */

typedef struct PassVal {
  int set;
  int64_t i;
  double f;
  const char *s;
} PassVal;

struct PassUse;
struct PassArgs {
  const Pass *pass;
  Span span;
  PassVal v[MAXPARAMS];
  Span vspan[MAXPARAMS];     /* each argument's text (the call's for a default) */
  char sbuf[MAXPARAMS][256]; /* defaults' string values (unquoted) */
  const struct PassUse *uses; /* the whole passes block (pass_listed) */
  int nuses;
};

static int param_index(const Pass *p, const char *name) {
  for (int i = 0; p->params && p->params[i].name; i++)
    if (strcmp(p->params[i].name, name) == 0) return i;
  return -1;
}

static const PassVal *val(const PassArgs *a, const char *name, PassParamType *t) {
  int i = param_index(a->pass, name);
  if (i < 0) {
    fprintf(stderr, "ftc: internal: pass '%s' has no parameter '%s'\n", a->pass->name, name);
    abort();
  }
  *t = a->pass->params[i].type;
  return &a->v[i];
}

int64_t pass_int(const PassArgs *a, const char *name) {
  PassParamType t;
  const PassVal *v = val(a, name, &t);
  return t == PP_FLOAT ? (int64_t)v->f : v->i;
}
double pass_float(const PassArgs *a, const char *name) {
  PassParamType t;
  const PassVal *v = val(a, name, &t);
  return t == PP_FLOAT ? v->f : (double)v->i;
}
int pass_bool(const PassArgs *a, const char *name) { return pass_int(a, name) != 0; }
const char *pass_str(const PassArgs *a, const char *name) {
  PassParamType t;
  return val(a, name, &t)->s;
}
Span pass_span(const PassArgs *a) { return a->span; }
Span pass_arg_span(const PassArgs *a, const char *name) {
  PassParamType t;
  return a->vspan[val(a, name, &t) - a->v];
}

/* Is `v` one of the '|'-separated `choices`? */
static int is_choice(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *p = choices;;) {
    const char *e = strchr(p, '|');
    if (!e) e = p + strlen(p);
    if ((size_t)(e - p) == n && !strncmp(p, v, n)) return 1;
    if (!*e) return 0;
    p = e + 1;
  }
}

/* A PP_NAME/PP_STRING value outside the parameter's choices: reported at
 * the argument, with the choices and the nearest one. */
static int check_choice(const PassArgs *a, int i, Diag *d) {
  const PassParam *pp = &a->pass->params[i];
  const char *v = a->v[i].s;
  if (!pp->choices || !v || is_choice(pp->choices, v)) return 0;
  const char *cands[16];
  char buf[256];
  int n = 0;
  snprintf(buf, sizeof buf, "%s", pp->choices);
  for (char *t = strtok(buf, "|"); t && n < 15; t = strtok(NULL, "|")) cands[n++] = t;
  cands[n] = NULL;
  const char *s = diag_suggest(v, cands);
  if (s)
    diag_at(d, DIAG_ERROR, a->vspan[i], "pass '%s': %s must be one of %s, not '%s' (did you mean '%s'?)",
            a->pass->name, pp->name, pp->choices, v, s);
  else
    diag_at(d, DIAG_ERROR, a->vspan[i], "pass '%s': %s must be one of %s, not '%s'", a->pass->name,
            pp->name, pp->choices, v);
  return -1;
}

/* A default written as .ft text ("8", "0.1", "true", "\"*\"", "bf16"). */
static int parse_default(PassArgs *a, int i, const PassParam *pp) {
  const char *d = pp->def;
  PassVal *v = &a->v[i];
  char *end = NULL;
  switch (pp->type) {
  case PP_INT: v->i = strtoll(d, &end, 10); break;
  case PP_FLOAT: v->f = strtod(d, &end); break;
  case PP_BOOL:
    v->i = strcmp(d, "true") == 0;
    end = (char *)d + strlen(d);
    break;
  case PP_STRING:
  case PP_NAME: {
    size_t n = strlen(d);
    if (n >= 2 && d[0] == '"' && d[n - 1] == '"') {
      d++;
      n -= 2;
    }
    if (n >= sizeof a->sbuf[i]) n = sizeof a->sbuf[i] - 1;
    memcpy(a->sbuf[i], d, n);
    a->sbuf[i][n] = 0;
    v->s = a->sbuf[i];
    end = (char *)pp->def + strlen(pp->def);
    break;
  }
  }
  if (end && *end) {
    fprintf(stderr, "ftc: internal: pass '%s': bad default '%s' for '%s'\n", a->pass->name,
            pp->def, pp->name);
    return -1;
  }
  v->set = 1;
  return 0;
}

/* One argument value from the AST; reports a type error at its span. */
static int set_value(PassArgs *a, int i, const AstNode *e, Diag *d) {
  const PassParam *pp = &a->pass->params[i];
  PassVal *v = &a->v[i];
  int neg = 0;
  if (e->kind == AST_UNOP && e->name && strcmp(e->name, "-") == 0 && e->nkids == 1 && e->kids[0]) {
    neg = 1;
    e = e->kids[0];
  }
  switch (pp->type) {
  case PP_INT:
    if (e->kind == AST_INT) {
      v->i = neg ? -e->ival : e->ival;
      v->set = 1;
      return 0;
    }
    break;
  case PP_FLOAT:
    if (e->kind == AST_INT || e->kind == AST_FLOAT) {
      v->f = e->kind == AST_INT ? (double)e->ival : e->fval;
      if (neg) v->f = -v->f;
      v->set = 1;
      return 0;
    }
    break;
  case PP_BOOL:
    if (e->kind == AST_BOOL && !neg) {
      v->i = e->ival;
      v->set = 1;
      return 0;
    }
    break;
  case PP_STRING:
  case PP_NAME:
    if (!neg && (e->kind == AST_STRING || e->kind == AST_NAME)) {
      v->s = e->kind == AST_STRING ? e->str : e->name;
      v->set = 1;
      return 0;
    }
    break;
  }
  diag_at(d, DIAG_ERROR, e->span, "argument '%s' of pass '%s' must be %s %s", pp->name,
          a->pass->name, pp->type == PP_INT ? "an" : "a", type_name(pp->type));
  return -1;
}

static int parse_args(PassArgs *a, const AstNode *call, Diag *d) {
  int errs = 0, npos = 0, nparams = 0;
  while (a->pass->params && a->pass->params[nparams].name) nparams++;
  if (call->kind == AST_CALL) {
    for (int k = 1; k < call->nkids; k++) {
      const AstNode *arg = call->kids[k];
      if (!arg || arg->kind != AST_ARG || arg->nkids < 1 || !arg->kids[0]) continue;
      int i;
      if (arg->name) {
        i = param_index(a->pass, arg->name);
        if (i < 0) {
          diag_at(d, DIAG_ERROR, arg->span, "pass '%s' has no parameter '%s'", a->pass->name,
                  arg->name);
          errs++;
          continue;
        }
      } else {
        i = npos++;
        if (i >= nparams) {
          diag_at(d, DIAG_ERROR, arg->span, "pass '%s' takes at most %d argument%s",
                  a->pass->name, nparams, nparams == 1 ? "" : "s");
          errs++;
          continue;
        }
      }
      if (a->v[i].set) {
        diag_at(d, DIAG_ERROR, arg->span, "argument '%s' of pass '%s' given twice",
                a->pass->params[i].name, a->pass->name);
        errs++;
        continue;
      }
      a->vspan[i] = arg->span;
      if (set_value(a, i, arg->kids[0], d) < 0 || check_choice(a, i, d) < 0) errs++;
    }
  }
  for (int i = 0; i < nparams; i++) {
    if (a->v[i].set) continue;
    if (!a->pass->params[i].def) {
      diag_at(d, DIAG_ERROR, call->span, "pass '%s' needs argument '%s' (%s)", a->pass->name,
              a->pass->params[i].name, a->pass->params[i].doc ? a->pass->params[i].doc : "");
      errs++;
    } else {
      a->vspan[i] = call->span;
      if (parse_default(a, i, &a->pass->params[i]) < 0 || check_choice(a, i, d) < 0) errs++;
    }
  }
  return errs ? -1 : 0;
}

/* ---- the recipe's list -------------------------------------------------- */

typedef struct PassUse {
  const Pass *pass;
  const AstNode *node;
  PassArgs args;
} PassUse;

static const char *call_name(const AstNode *e) {
  if (e->kind == AST_NAME) return e->name;
  if (e->kind == AST_CALL && e->nkids > 0 && e->kids[0] && e->kids[0]->kind == AST_NAME)
    return e->kids[0]->name;
  return NULL;
}

static int find_use(const PassUse *u, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(u[i].pass->name, name) == 0) return i;
  return -1;
}

int pass_listed(const PassArgs *a, const char *other) {
  return a->uses && find_use(a->uses, a->nuses, other) >= 0;
}

static const char *stage_word(IrPhase s) {
  return s == IR_PHASE_FWD ? "before autodiff" : "after autodiff";
}

/* Resolves and checks the whole block; fills `u`. Reports when d != NULL
 * (the first stage); later stages re-resolve silently. */
static int resolve(const AstNode *block, PassUse *u, int *nu, Diag *d) {
  int errs = 0;
  *nu = 0;
  if (!block) return 0;
  const char *names[MAXPASSES + 1];
  for (int i = 0; i < nregistry; i++) names[i] = registry[i]->name;
  names[nregistry] = NULL;
  for (int k = 0; k < block->nkids; k++) {
    const AstNode *e = block->kids[k];
    if (!e || e->kind == AST_ERROR) continue;
    const char *name = call_name(e);
    const Pass *p = name ? pass_find(name) : NULL;
    if (!p) {
      if (d) {
        const char *s = name ? diag_suggest(name, names) : NULL;
        if (s)
          diag_at(d, DIAG_ERROR, e->span, "unknown pass '%s' (did you mean '%s'?)", name, s);
        else
          diag_at(d, DIAG_ERROR, e->span, "unknown pass '%s' (`ftc passes` lists them)",
                  name ? name : "?");
      }
      errs++;
      continue;
    }
    if (find_use(u, *nu, p->name) >= 0) {
      if (d) diag_at(d, DIAG_ERROR, e->span, "pass '%s' is listed twice", p->name);
      errs++;
      continue;
    }
    if (*nu == MAXLIST) {
      if (d) diag_at(d, DIAG_ERROR, e->span, "too many passes (at most %d)", MAXLIST);
      errs++;
      break;
    }
    PassUse *pu = &u[(*nu)++];
    memset(pu, 0, sizeof *pu);
    pu->pass = p;
    pu->node = e;
    pu->args.pass = p;
    pu->args.span = e->span;
    if (parse_args(&pu->args, e, d) < 0) errs++;
  }
  if (!d) return errs ? -1 : 0;
  /* the facts */
  for (int i = 0; i < *nu; i++) {
    const Pass *p = u[i].pass;
    for (const PassFact *f = p->requires; f && f->other; f++)
      if (find_use(u, *nu, f->other) < 0) {
        diag_at(d, DIAG_ERROR, u[i].node->span, "pass '%s' requires '%s': %s", p->name,
                f->other, f->reason);
        errs++;
      }
    for (const PassFact *f = p->conflicts; f && f->other; f++) {
      int j = find_use(u, *nu, f->other);
      if (j < 0) continue;
      /* a pair declared on both sides is reported once, by the first */
      if (j < i) {
        int mutual = 0;
        for (const PassFact *g = u[j].pass->conflicts; g && g->other; g++)
          if (strcmp(g->other, p->name) == 0) mutual = 1;
        if (mutual) continue;
      }
      /* reported at the later of the two, naming it first */
      int later = i > j ? i : j, first = i > j ? j : i;
      diag_at(d, DIAG_ERROR, u[later].node->span, "pass '%s' cannot be combined with '%s': %s",
              u[later].pass->name, u[first].pass->name, f->reason);
      errs++;
    }
    for (const char *const *b = p->before; b && *b; b++) {
      int j = find_use(u, *nu, *b);
      if (j < 0) continue;
      const Pass *q = u[j].pass;
      if (p->stage > q->stage) {
        diag_at(d, DIAG_ERROR, u[i].node->span,
                "pass '%s' must run before '%s', but it runs %s and '%s' %s", p->name, q->name,
                stage_word(p->stage), q->name, stage_word(q->stage));
        errs++;
      } else if (p->stage == q->stage && j < i) {
        diag_at(d, DIAG_ERROR, u[i].node->span,
                "pass '%s' must come before '%s' in the passes block", p->name, q->name);
        errs++;
      }
    }
  }
  /* only a valid mixture is worth hearing what is missing from it */
  int valid = errs == 0;
  for (int i = 0; i < *nu && valid; i++)
    if (!u[i].pass->run) {
      diag_at(d, DIAG_ERROR, u[i].node->span, "pass '%s' is not implemented yet",
              u[i].pass->name);
      errs++;
    }
  return errs ? -1 : 0;
}

/* After each pass: the array back into dependency order, then the
 * verifier. A plugin's bad graph is the recipe's problem (reported at the
 * pass, naming the plugin and what the verifier found); a built-in's is an
 * internal error. */
static int check_after(IrGraph *g, const PassUse *u, Diag *d) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return -1;
  int bad = ir_sort(g, f) < 0 || ir_verify(g, f) < 0;
  fclose(f);
  if (bad) {
    const char *from = pass_origin(u->pass);
    int nl = 0;
    for (const char *s = text; s && *s; s++) nl += *s == '\n';
    const char *first = text && *text ? text : "(no details)\n";
    if (from)
      diag_at(d, DIAG_ERROR, u->node->span,
              "pass '%s' (plugin %s) left a graph the verifier rejects: %.*s%s", u->pass->name,
              from, (int)strcspn(first, "\n"), first, nl > 1 ? " (and more below)" : "");
    else
      diag_at(d, DIAG_ERROR, u->node->span,
              "internal: pass '%s' left a graph the verifier rejects: %.*s", u->pass->name,
              (int)strcspn(first, "\n"), first);
    /* the rest of what the verifier found, a few lines of it */
    const char *s = strchr(first, '\n');
    for (int k = 0; s && s[1] && k < 8; k++) {
      fprintf(stderr, "  %.*s\n", (int)strcspn(s + 1, "\n"), s + 1);
      s = strchr(s + 1, '\n');
    }
  }
  free(text);
  return bad ? -1 : 0;
}

int pass_run_stage_until(IrGraph *g, const AstNode *passes_block, IrPhase stage, Diag *d,
                         const char *stop_after, int *stopped) {
  PassUse *u = calloc(MAXLIST, sizeof *u);
  int nu = 0, rc = 0;
  if (stopped) *stopped = 0;
  if (!u) {
    fprintf(stderr, "ftc: out of memory\n");
    return -1;
  }
  /* the first stage reports every problem of the mixture at once */
  if (resolve(passes_block, u, &nu, stage == IR_PHASE_FWD ? d : NULL) < 0) {
    free(u);
    return -1;
  }
  for (int i = 0; i < nu; i++) {
    u[i].args.uses = u;
    u[i].args.nuses = nu;
  }
  for (int i = 0; i < nu && rc == 0; i++) {
    if (u[i].pass->stage != stage) continue;
    if (!u[i].pass->run) {
      diag_at(d, DIAG_ERROR, u[i].node->span, "pass '%s' is not implemented yet",
              u[i].pass->name);
      rc = -1;
      break;
    }
    if (u[i].pass->run(g, &u[i].args, d) < 0 || diag_errors(d) > 0) rc = -1;
    else if (check_after(g, &u[i], d) < 0) rc = -1;
    if (rc == 0 && stop_after && !strcmp(stop_after, u[i].pass->name)) {
      if (stopped) *stopped = 1;
      break;
    }
  }
  free(u);
  return rc;
}

int pass_run_stage(IrGraph *g, const AstNode *passes_block, IrPhase stage, Diag *d) {
  return pass_run_stage_until(g, passes_block, stage, d, NULL, NULL);
}

/* ---- `ftc passes` ------------------------------------------------------- */

static void wrap(FILE *out, const char *indent, const char *text) {
  int col = 0;
  const char *s = text;
  fputs(indent, out);
  while (*s) {
    while (*s == ' ') s++;
    const char *e = s;
    while (*e && *e != ' ') e++;
    int w = (int)(e - s);
    if (col > 0 && col + 1 + w > 72) {
      fprintf(out, "\n%s", indent);
      col = 0;
    } else if (col > 0) {
      fputc(' ', out);
      col++;
    }
    fwrite(s, 1, (size_t)w, out);
    col += w;
    s = e;
  }
  fputc('\n', out);
}

void pass_print_all(FILE *out) {
  for (int i = 0; i < nregistry; i++) {
    const Pass *p = registry[i];
    fprintf(out, "%s  [%s, %s%s%s]\n", p->name,
            p->stage == IR_PHASE_FWD ? "before autodiff" : "after autodiff",
            p->run ? "implemented" : "not implemented yet", origin[i] ? ", plugin " : "",
            origin[i] ? origin[i] : "");
    if (p->doc) wrap(out, "    ", p->doc);
    for (const PassParam *pp = p->params; pp && pp->name; pp++)
      fprintf(out, "    param %s: %s%s%s  -- %s%s%s%s\n", pp->name, type_name(pp->type),
              pp->def ? " = " : " (required)", pp->def ? pp->def : "", pp->doc ? pp->doc : "",
              pp->choices ? " (" : "", pp->choices ? pp->choices : "", pp->choices ? ")" : "");
    for (const PassFact *f = p->requires; f && f->other; f++)
      fprintf(out, "    requires %s: %s\n", f->other, f->reason);
    for (const PassFact *f = p->conflicts; f && f->other; f++)
      fprintf(out, "    conflicts with %s: %s\n", f->other, f->reason);
    for (const char *const *b = p->before; b && *b; b++)
      fprintf(out, "    runs before %s\n", *b);
    fputc('\n', out);
  }
}
