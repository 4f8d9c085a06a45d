/* lang/check.h -- private to lang/check*.c: the checker's values, state and
 * the helpers shared by expression checks (check.c) and definition checks
 * (check_defs.c).
 *
 * One idea: every expression evaluates to a coarse Val; V_ERR means
 * "already reported" and is compatible with everything, so one mistake gives
 * one diagnostic.
 */
#ifndef FTC_LANG_CHECK_H
#define FTC_LANG_CHECK_H

#include "ps.h"
#include "sig.h"

typedef enum {
  V_NONE, V_ERR, V_ANY, V_INT, V_FLOAT, V_BOOL, V_STRING, V_TENSOR, V_LIST, V_TUPLE,
  V_MODULE, V_MODEL, V_PRESET, V_INST, V_REPEAT, V_ELEM, V_BUILTIN, V_DATA
} VKind;


typedef struct Val {
  VKind k;
  const AstNode *def; /* MODEL (V_MODEL, V_INST), LET (V_PRESET), REPEAT, DATA */
  AstFileRec *file;   /* where def lives; the module for V_MODULE */
  const Builtin *b;
} Val;

typedef struct Entry {
  const char *name;
  Val v;
} Entry;

typedef struct Ck {
  AstCtx *c;
  Diag *d;
  const AstSig *passes;
  AstFileRec *file;
  Entry *sc;
  int nsc, capsc;
  unsigned cats; /* 1 << BuiltinCat visible by name here */
  int top;       /* top-level bindings and data visible */
  int forward;   /* inside a forward block */
  int mute;      /* re-walking something already checked: report nothing */
} Ck;

typedef struct Names { /* a growable list of candidate names */
  const char **v;
  int n, cap;
} Names;

extern const char *const vk_names[];

#define ERR(ck, sp, ...) ((ck)->mute ? (void)0 : diag_at((ck)->d, DIAG_ERROR, (sp), __VA_ARGS__))

Val ck_mk(VKind k);
void ck_names_add(Names *ns, const char *s);
/* Prints "did you mean" for the closest of ns (if any) and frees ns. */
void ck_suggest(Ck *ck, const char *name, Names *ns);
void ck_push(Ck *ck, const char *name, Val v);
Val ck_top_val(Ck *ck, AstFileRec *f, const char *name, int lets, int depth);
Val ck_resolve_in(Ck *ck, AstFileRec *f, const AstNode *e, int depth);
Val ck_preset_model(Ck *ck, Val p, int depth);
Val ck_eval(Ck *ck, const AstNode *n);
Val ck_eval_call(Ck *ck, const AstNode *n);
void ck_check_arg(Ck *ck, const SigParam *p, const AstNode *e, const char *what);
void ck_match_builtin(Ck *ck, const AstSig *sig, const char *kind, const AstNode *call);
void ck_formals_sig(const AstNode *params, int forward, Sig *s);
int ck_numeric(VKind k);

#endif
