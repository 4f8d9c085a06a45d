/* compiler/elab/settings_lint.c -- warnings for settings that are legal but
 * almost surely wrong: a warmup as long as the run, eval or save intervals
 * longer than it, a learning rate above 1 for an adaptive optimizer, a
 * schedule that ends above its peak, evaluation without validation data;
 * and, for `ftc check`, named data or weights files that do not exist.
 *
 * One idea: elaboration has already reduced the recipe to numbers (Recipe),
 * so each rule is one comparison; the AST is only consulted to point the
 * warning at the text that set the value (the argument, the clause, or the
 * setting), so the user sees the line to change.
 */
#include <string.h>
#include <sys/stat.h>
#include "elaborate.h"

static const AstNode *find_kind(const AstNode *root, AstKind k) {
  for (int i = 0; root && i < root->nkids; i++)
    if (root->kids[i] && root->kids[i]->kind == k) return root->kids[i];
  return NULL;
}

static const AstNode *setting(const AstNode *root, const char *name) {
  const AstNode *t = find_kind(root, AST_TRAIN);
  for (int i = 0; t && i < t->nkids; i++)
    if (t->kids[i] && t->kids[i]->kind == AST_SETTING && t->kids[i]->name &&
        !strcmp(t->kids[i]->name, name))
      return t->kids[i];
  return NULL;
}

/* The value of named argument `arg` of the call `x`, or NULL. */
static const AstNode *call_arg(const AstNode *x, const char *arg) {
  if (!x || x->kind != AST_CALL) return NULL;
  for (int i = 1; i < x->nkids; i++)
    if (x->kids[i] && x->kids[i]->kind == AST_ARG && x->kids[i]->name &&
        !strcmp(x->kids[i]->name, arg) && x->kids[i]->nkids > 0)
      return x->kids[i]->kids[0];
  return NULL;
}

/* Where setting `name`'s argument `arg` (or its clause `arg`) was
 * written; the setting itself, or the train block, or the file. */
static Span where(const AstNode *root, const char *name, const char *arg) {
  const AstNode *s = setting(root, name);
  if (!s) {
    const AstNode *t = find_kind(root, AST_TRAIN);
    return t ? t->span : root->span;
  }
  const AstNode *v = s->nkids > 0 ? call_arg(s->kids[0], arg) : NULL;
  if (v) return v->span;
  for (int i = 1; i < s->nkids; i++)
    if (s->kids[i] && s->kids[i]->kind == AST_CLAUSE && s->kids[i]->name &&
        !strcmp(s->kids[i]->name, arg) && s->kids[i]->nkids > 0 && s->kids[i]->kids[0])
      return s->kids[i]->kids[0]->span;
  return s->span;
}

static int exists(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0;
}

void el_lint_settings(const AstNode *root, const Recipe *r, Diag *d, int files) {
  /* in the order a train block usually lists them */
  if (r->lr > 1.0 && (r->opt == OPT_ADAMW || r->opt == OPT_ADAGRAD))
    diag_at(d, DIAG_WARNING, where(root, "optimizer", "lr"),
            "learning rate %g is above 1 for %s, which moves each weight by about lr per "
            "step: training will almost surely diverge", r->lr,
            r->opt == OPT_ADAMW ? "adamw" : "adagrad");
  if (r->warmup > 0 && r->warmup >= r->steps)
    diag_at(d, DIAG_WARNING, where(root, "schedule", "warmup"),
            "warmup %lld is not shorter than the run (steps %lld): the learning rate never "
            "reaches its peak %g", (long long)r->warmup, (long long)r->steps, r->lr);
  if (r->sched != SCHED_CONSTANT && r->min_lr > r->lr)
    diag_at(d, DIAG_WARNING, where(root, "schedule", "min_lr"),
            "min_lr %g is above the peak learning rate %g: the schedule rises instead of "
            "decaying", r->min_lr, r->lr);
  if (r->eval_every > r->steps)
    diag_at(d, DIAG_WARNING, where(root, "eval", "every"),
            "eval every %lld is longer than the run (steps %lld): no evaluation will run",
            (long long)r->eval_every, (long long)r->steps);
  else if (r->eval_every > 0 && r->split >= 1.0)
    diag_at(d, DIAG_WARNING, where(root, "eval", "every"),
            "eval every %lld, but split %g leaves no validation data: every eval is skipped",
            (long long)r->eval_every, r->split);
  if (r->save_every > r->steps)
    diag_at(d, DIAG_WARNING, where(root, "save", "every"),
            "save every %lld is longer than the run (steps %lld): only the final checkpoint "
            "is written", (long long)r->save_every, (long long)r->steps);
  if (!files) return;
  const AstNode *data = find_kind(root, AST_DATA);
  if (r->data_path && !exists(r->data_path)) {
    const AstNode *x = data && data->nkids > 0 ? data->kids[0] : NULL;
    const AstNode *p = x && x->kind == AST_CALL && x->nkids > 1 && x->kids[1] &&
                               x->kids[1]->nkids > 0 ? x->kids[1]->kids[0] : NULL;
    diag_at(d, DIAG_WARNING, p ? p->span : data ? data->span : root->span,
            "data file %s does not exist yet (the trainer needs it, or --data FILE)",
            r->data_path);
  }
  if (r->init_path && !exists(r->init_path)) {
    Span at = root->span;
    for (int i = 0; i < root->nkids; i++) {
      const AstNode *it = root->kids[i];
      if (it && it->kind == AST_LET && it->name && !strcmp(it->name, "weights") &&
          it->nkids > 0 && it->kids[0])
        at = it->kids[0]->span;
    }
    diag_at(d, DIAG_WARNING, at,
            "weights file %s does not exist yet (the trainer needs it, or --init FILE)",
            r->init_path);
  }
}
