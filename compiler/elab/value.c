/* compiler/elab/value.c -- the elaborator's plumbing: one arena for
 * everything it allocates, values, flat environments, module records,
 * argument binding and scope-path names.
 *
 * The idea: elaboration is short-lived and its values point into each
 * other freely (instances hold environments that hold instances), so none
 * of it is freed piecemeal; one chunked arena owns it all and is dropped in
 * one call when the graph is done.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "elaborate.h"

typedef struct ElChunk {
  struct ElChunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
} ElChunk;

void *el_alloc(El *E, size_t n) {
  n = (n + 15) & ~(size_t)15;
  ElChunk *c = E->arena;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    ElChunk *nc = malloc(sizeof(ElChunk) + cap);
    if (!nc) {
      fprintf(stderr, "ftc: out of memory (elaboration)\n");
      exit(3);
    }
    nc->next = c;
    nc->used = 0;
    nc->cap = cap;
    E->arena = c = nc;
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

const char *el_strdup(El *E, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = el_alloc(E, n);
  memcpy(p, s, n);
  return p;
}

void el_arena_free(El *E) {
  ElChunk *c = E->arena;
  while (c) {
    ElChunk *next = c->next;
    free(c);
    c = next;
  }
  E->arena = NULL;
}

void el_error(El *E, Span sp, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_at(E->d, DIAG_ERROR, sp, "%s", msg);
}

void el_error_from(El *E, Span site, const Value *a, const Value *b, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const Value *by = b && b->at.file && b->at.file == E->root ? b
                    : a && a->at.file && a->at.file == E->root ? a : NULL;
  if (!by || (by->at.line == site.line && by->at.col == site.col && by->at.file == site.file)) {
    diag_at(E->d, DIAG_ERROR, site, "%s", msg);
    return;
  }
  diag_at(E->d, DIAG_ERROR, by->at, "%s", msg);
  diag_at(E->d, DIAG_NOTE, site, "needed here");
}

/* ---- values ----------------------------------------------------------- */

Value v_err(void) { return (Value){.k = V_ERR}; }
Value v_int(int64_t i) { return (Value){.k = V_INT, .i = i}; }
Value v_float(double f) { return (Value){.k = V_FLOAT, .f = f}; }
Value v_tensor(int id) { return (Value){.k = V_TENSOR, .i = id}; }

const char *v_kind_name(const Value *v) {
  static const char *const names[] = {
      [V_ERR] = "error", [V_NONE] = "nothing", [V_INT] = "an int", [V_FLOAT] = "a float",
      [V_BOOL] = "a bool", [V_STR] = "a string", [V_ALL] = "`all`", [V_TENSOR] = "a tensor",
      [V_LIST] = "a list", [V_MODULE] = "a module", [V_MODEL] = "a model definition",
      [V_SPEC] = "a model", [V_INST] = "a model instance", [V_REPEAT] = "a repeat block",
      [V_BUILTIN] = "a built-in function", [V_SYM] = "a word"};
  return names[v->k];
}

int v_is_num(const Value *v) { return v->k == V_INT || v->k == V_FLOAT; }
double v_num(const Value *v) { return v->k == V_INT ? (double)v->i : v->f; }

int v_as_int(const Value *v, int64_t *out) {
  if (v->k == V_INT) {
    *out = v->i;
    return 1;
  }
  if (v->k == V_FLOAT && v->f == (double)(int64_t)v->f && v->f > -9e18 && v->f < 9e18) {
    *out = (int64_t)v->f;
    return 1;
  }
  return 0;
}

/* ---- environments: small flat maps, newest binding wins --------------- */

Env *env_new(El *E) { return el_alloc(E, sizeof(Env)); }

void env_set(El *E, Env *e, const char *name, Value v) {
  for (int i = 0; i < e->n; i++)
    if (!strcmp(e->b[i].name, name)) {
      e->b[i].v = v;
      return;
    }
  if (e->n == e->cap) {
    int cap = e->cap ? e->cap * 2 : 8;
    Binding *nb = el_alloc(E, (size_t)cap * sizeof *nb);
    if (e->n) memcpy(nb, e->b, (size_t)e->n * sizeof *nb);
    e->b = nb;
    e->cap = cap;
  }
  e->b[e->n++] = (Binding){name, v};
}

Value *env_get(Env *e, const char *name) {
  if (!e) return NULL;
  for (int i = 0; i < e->n; i++)
    if (!strcmp(e->b[i].name, name)) return &e->b[i].v;
  return NULL;
}

Module *el_module(El *E, const char *name, const AstNode *file) {
  for (Module *m = E->mods; m; m = m->next)
    if (m->file == file) return m;
  Module *m = el_alloc(E, sizeof *m);
  m->name = name ? el_strdup(E, name) : NULL;
  m->file = file;
  m->next = E->mods;
  E->mods = m;
  return m;
}

/* ---- argument binding ------------------------------------------------- */

int el_bind(El *E, Scope *sc, const AstNode *call, const char *who, const char *const *names,
            int n, int nreq, Value *out, Span *sp) {
  int rc = 0, npos = 0;
  for (int i = 0; i < n; i++) {
    out[i] = (Value){.k = V_NONE};
    sp[i] = call->span;
  }
  for (int a = 1; a < call->nkids; a++) {
    const AstNode *arg = call->kids[a];
    if (!arg || arg->kind != AST_ARG || arg->nkids < 1 || !arg->kids[0]) {
      rc = -1; /* a parse error already reported */
      continue;
    }
    int slot = -1;
    if (!arg->name) {
      slot = npos++;
      if (slot >= n) {
        el_error(E, arg->span, "%s takes at most %d positional argument%s", who, n,
                 n == 1 ? "" : "s");
        rc = -1;
        continue;
      }
    } else {
      for (int i = 0; i < n; i++)
        if (!strcmp(names[i], arg->name)) slot = i;
      if (slot < 0) {
        const char *cand[16];
        int k = 0;
        for (int i = 0; i < n && k < 15; i++) cand[k++] = names[i];
        cand[k] = NULL;
        const char *s = diag_suggest(arg->name, cand);
        el_error(E, arg->span, "%s has no argument '%s'%s%s%s", who, arg->name,
                 s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        rc = -1;
        continue;
      }
    }
    if (out[slot].k != V_NONE) {
      el_error(E, arg->span, "%s: argument '%s' given twice", who, names[slot]);
      rc = -1;
      continue;
    }
    Value v = el_eval(E, sc, arg->kids[0]);
    if (v.k == V_ERR) {
      rc = -1;
      continue;
    }
    if (!v.at.file) v.at = arg->span; /* the first binding names the origin */
    out[slot] = v;
    sp[slot] = arg->span;
  }
  if (rc) return -1;
  for (int i = 0; i < nreq && i < n; i++)
    if (out[i].k == V_NONE) {
      el_error(E, call->span, "%s: missing argument '%s'", who, names[i]);
      rc = -1;
    }
  return rc;
}

/* ---- names ------------------------------------------------------------ */

const char *el_path(El *E, const char *parent, const char *name) {
  if (!parent || !*parent) return el_strdup(E, name);
  size_t a = strlen(parent), b = strlen(name);
  char *p = el_alloc(E, a + b + 2);
  memcpy(p, parent, a);
  p[a] = '.';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

void el_name(El *E, Value v, int first, const char *path, const char *local) {
  if (v.k != V_TENSOR || v.i < first || E->g->nodes[v.i].name) return;
  char buf[512];
  if (path && *path && local)
    snprintf(buf, sizeof buf, "%s.%s", path, local);
  else
    snprintf(buf, sizeof buf, "%s", local ? local : (path ? path : ""));
  if (buf[0]) E->g->nodes[v.i].name = ir_strdup(E->g, buf);
}
