/* compiler/elab/data.c -- the recipe's data sources beyond raw bytes: the
 * bpe("tokenizer.json") tokenizer (read at compile time: its vocabulary
 * sizes the model's embedding and logits).
 *
 * One idea: the compiler reads the same tokenizer.json with the runtime's
 * own loader (runtime/tok_load.c) that the trainer uses, so a file the
 * compiler accepts is a file the trainer can use, and a bad one is a
 * diagnostic at the recipe's span naming the JSON path.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elaborate.h"
#include "tokenizer.h"

/* A whole file; NULL with *why set on failure. */
static char *slurp(const char *path, size_t *n, const char **why) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    *why = strerror(errno);
    return NULL;
  }
  char *b = NULL;
  long len = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
    b = malloc((size_t)len + 1);
  if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) {
    *why = b ? "read failed" : "out of memory";
    free(b);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *n = (size_t)len;
  return b;
}

int el_tokenizer(El *E, Scope *sc, const Value *sym, Span at) {
  static const char *const names[] = {"path"};
  Value a;
  Span sp;
  if (!sym->def || el_bind(E, sc, sym->def, "bpe", names, 1, 1, &a, &sp)) {
    if (!sym->def) el_error(E, at, "bpe: missing argument 'path' (bpe(\"tokenizer.json\"))");
    return -1;
  }
  if (a.k != V_STR) {
    el_error(E, sp, "bpe: the path must be a string, got %s", v_kind_name(&a));
    return -1;
  }
  const char *path = el_resolve_path(E, a.s), *why = NULL;
  size_t n;
  char *text = slurp(path, &n, &why);
  if (!text) {
    el_error(E, sp, "bpe: cannot read %s: %s", path, why);
    return -1;
  }
  char err[512];
  rt_tok *t = rt_tok_parse(text, n, err, sizeof err);
  free(text);
  if (!t) {
    el_error(E, sp, "bpe: %s: %s", path, err);
    return -1;
  }
  E->r->vocab = rt_tok_vocab_size(t);
  E->r->tokenizer_path = path;
  rt_tok_free(t);
  return 0;
}
