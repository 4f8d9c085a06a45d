/* lang/sig.c -- the built-in table (from builtins.def) and the parser of
 * signature text ("rank: int = 8, target: string = \"*\"").
 *
 * One idea: signatures stay text in the tables -- readable, shared with the
 * compiler's pass registry -- and are parsed on use into a fixed-size Sig,
 * so no table needs an initializer function or allocation.
 */
#include <string.h>

#include "sig.h"

const Builtin sig_builtins[] = {
#define B(cat, name, params, doc) {CAT_##cat, {name, params, doc}},
#include "builtins.def"
#undef B
};
const int sig_nbuiltins = (int)(sizeof sig_builtins / sizeof sig_builtins[0]);

const char *const sig_cat_names[CAT_COUNT] = {
    "op", "function", "initializer", "weights source", "data source", "tokenizer",
    "optimizer", "schedule", "setting", "pass"};

static AstSig default_passes[sizeof sig_builtins / sizeof sig_builtins[0] + 1];

const AstSig *sig_default_passes(void) {
  if (!default_passes[0].name) {
    int n = 0;
    for (int i = 0; i < sig_nbuiltins; i++)
      if (sig_builtins[i].cat == CAT_PASS) default_passes[n++] = sig_builtins[i].sig;
  }
  return default_passes;
}

const AstSig *ast_default_passes(void) { return sig_default_passes(); }

const Builtin *sig_builtin(const char *name, BuiltinCat cat) {
  for (int i = 0; i < sig_nbuiltins; i++)
    if (sig_builtins[i].cat == cat && !strcmp(sig_builtins[i].sig.name, name))
      return &sig_builtins[i];
  return NULL;
}

static const struct { const char *name; unsigned mask; } type_names[] = {
    {"int", T_INT}, {"size", T_INT}, {"float", T_FLOAT | T_INT}, {"bool", T_BOOL},
    {"string", T_STRING}, {"tensor", T_TENSOR}, {"list", T_LIST | T_TUPLE},
    {"tuple", T_TUPLE | T_LIST}, {"name", T_NAME}, {"any", T_ANY},
    {"tokenizer", T_TOKENIZER}, {"optimizer", T_OPTIMIZER}, {"schedule", T_SCHEDULE},
    {"init", T_INIT}, {"source", T_SOURCE}, {"data", T_DATA},
};

void sig_type(const char *text, size_t len, SigParam *p) {
  p->mask = 0;
  p->syms[0] = 0;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && text[j] != '|') j++;
    size_t a = i, b = j;
    while (a < b && text[a] == ' ') a++;
    while (b > a && text[b - 1] == ' ') b--;
    unsigned m = 0;
    for (size_t k = 0; k < sizeof type_names / sizeof type_names[0]; k++)
      if (strlen(type_names[k].name) == b - a && !strncmp(type_names[k].name, text + a, b - a))
        m = type_names[k].mask;
    if (m) {
      p->mask |= m;
    } else if (b > a) {
      size_t used = strlen(p->syms);
      if (used == 0 && sizeof p->syms > 1) strcpy(p->syms, "|"), used = 1;
      if (used + (b - a) + 2 < sizeof p->syms) {
        memcpy(p->syms + used, text + a, b - a);
        p->syms[used + (b - a)] = '|';
        p->syms[used + (b - a) + 1] = 0;
      }
    }
    i = j + 1;
  }
  if (!p->mask && !p->syms[0]) p->mask = T_ANY;
}

int sig_parse(const char *params, Sig *s) {
  s->n = 0;
  const char *p = params ? params : "";
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    if (s->n == SIG_MAX_PARAMS) return -1;
    /* one parameter: up to the next comma outside brackets and quotes */
    const char *end = p;
    int depth = 0, quote = 0;
    for (; *end; end++) {
      if (quote) {
        if (*end == '\\' && end[1]) end++;
        else if (*end == '"') quote = 0;
      } else if (*end == '"') quote = 1;
      else if (*end == '(' || *end == '[') depth++;
      else if (*end == ')' || *end == ']') depth--;
      else if (*end == ',' && depth == 0) break;
    }
    SigParam *sp = &s->p[s->n++];
    memset(sp, 0, sizeof *sp);
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *eq = memchr(p, '=', (size_t)(end - p));
    const char *name_end = colon ? colon : eq ? eq : end;
    while (name_end > p && name_end[-1] == ' ') name_end--;
    size_t nlen = (size_t)(name_end - p);
    if (nlen == 0 || nlen >= sizeof sp->name) return -1;
    memcpy(sp->name, p, nlen);
    if (colon && (!eq || colon < eq))
      sig_type(colon + 1, (size_t)((eq ? eq : end) - colon - 1), sp);
    else
      sp->mask = T_ANY;
    sp->required = eq == NULL;
    p = end;
  }
  return 0;
}

void sig_mask_name(unsigned mask, const char *syms, char *buf, size_t size) {
  static const struct { unsigned bit; const char *name; } names[] = {
      {T_FLOAT, "float"}, {T_INT, "int"}, {T_BOOL, "bool"}, {T_STRING, "string"},
      {T_TENSOR, "tensor"}, {T_LIST, "list"}, {T_TUPLE, "tuple"}, {T_NAME, "name"},
      {T_TOKENIZER, "tokenizer"}, {T_OPTIMIZER, "optimizer"}, {T_SCHEDULE, "schedule"},
      {T_INIT, "initializer"}, {T_SOURCE, "data source"}, {T_DATA, "data split"},
  };
  size_t len = 0;
  buf[0] = 0;
  if (mask & T_FLOAT) mask &= ~(unsigned)T_INT; /* "float" already admits ints */
  if (mask & T_LIST) mask &= ~(unsigned)T_TUPLE;
  for (size_t i = 0; i < sizeof names / sizeof names[0] && len < size; i++)
    if (mask & names[i].bit)
      len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? " or " : "", names[i].name);
  if (syms && syms[0] && len < size) {
    /* |a|b| -> a, b */
    len += (size_t)snprintf(buf + len, size - len, "%s", len ? " or " : "one of ");
    for (const char *s = syms + 1; *s && len + 2 < size; s++) {
      if (*s == '|') {
        if (s[1]) buf[len++] = ',', buf[len++] = ' ';
      } else {
        buf[len++] = *s;
      }
    }
    buf[len < size ? len : size - 1] = 0;
  }
  if (!buf[0]) snprintf(buf, size, "any value");
}
