/* lang/sig.h -- private to lang/: parsed signatures (built-ins, passes and
 * model formals all become the same SigParam list) and the built-in table.
 *
 * One idea: a parameter's type is a bit mask plus an optional list of
 * literal names, so "float", "int|all" and "fp32|bf16|fp16" are checked by
 * the same two tests.
 */
#ifndef FTC_LANG_SIG_H
#define FTC_LANG_SIG_H

#include "ast.h"

enum {
  T_INT = 1 << 0, T_FLOAT = 1 << 1, T_BOOL = 1 << 2, T_STRING = 1 << 3,
  T_TENSOR = 1 << 4, T_LIST = 1 << 5, T_TUPLE = 1 << 6, T_NAME = 1 << 7,
  T_ANY = 1 << 8,
  /* categories: a built-in of that kind, by name or call */
  T_TOKENIZER = 1 << 9, T_OPTIMIZER = 1 << 10, T_SCHEDULE = 1 << 11,
  T_INIT = 1 << 12, T_SOURCE = 1 << 13, T_DATA = 1 << 14,
};

typedef enum {
  CAT_OP, CAT_NUM, CAT_INIT, CAT_WEIGHTS, CAT_SOURCE, CAT_TOKENIZER,
  CAT_OPTIMIZER, CAT_SCHEDULE, CAT_SETTING, CAT_PASS, CAT_COUNT
} BuiltinCat;

#define SIG_MAX_PARAMS 16

typedef struct SigParam {
  char name[32];
  unsigned mask;       /* T_* bits */
  char syms[64];       /* "|fp32|bf16|" literal names allowed, or "" */
  int required;
} SigParam;

typedef struct Sig {
  int n;
  SigParam p[SIG_MAX_PARAMS];
} Sig;

typedef struct Builtin {
  BuiltinCat cat;
  AstSig sig;
} Builtin;

extern const Builtin sig_builtins[];
extern const int sig_nbuiltins;
extern const char *const sig_cat_names[CAT_COUNT];

/* Parses "a: int, b: float = 1" into s; returns 0, or -1 if malformed. */
int sig_parse(const char *params, Sig *s);
/* Parses one type spelling ("int", "fp32|bf16") into a mask and symbols. */
void sig_type(const char *text, size_t len, SigParam *p);
const Builtin *sig_builtin(const char *name, BuiltinCat cat);
/* The fallback pass table (the PASS lines), NULL-name terminated. */
const AstSig *sig_default_passes(void);
/* "int", "float or string", ... for messages. */
void sig_mask_name(unsigned mask, const char *syms, char *buf, size_t size);

#endif
