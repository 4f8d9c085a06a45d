/* lang/diag.c -- diagnostics: `file:line:col: level: message`, the source
 * line with a caret/underline under the span, the chain of `use`s that led
 * to the file, a cap on the number of errors, and "did you mean" lookups.
 *
 * One idea: a Span carries its SrcFile, and the SrcFile keeps its text and
 * who included it, so any stage can report against the recipe's own text
 * with nothing but a span.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ps.h"
#include "../runtime/suggest.h"

struct Diag {
  FILE *out;
  int max_errors;
  int errors;
  int muted; /* the last error was over the cap: drop its notes too */
};

Diag *diag_new(FILE *out, int max_errors) {
  Diag *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->out = out;
  d->max_errors = max_errors > 0 ? max_errors : 20;
  return d;
}

void diag_free(Diag *d) { free(d); }

int diag_errors(const Diag *d) { return d->errors; }

/* Start of line `line` (1-based) in f, and its length without newline. */
static const char *line_at(const SrcFile *f, int line, size_t *len) {
  const char *p = f->text, *end = f->text + f->len;
  for (int l = 1; l < line && p < end; p++)
    if (*p == '\n') l++;
  if (p > end) p = end;
  const char *e = p;
  while (e < end && *e != '\n') e++;
  if (e > p && e[-1] == '\r') e--;
  *len = (size_t)(e - p);
  return p;
}

static void show_source(FILE *out, Span sp) {
  size_t len;
  const char *text = line_at(sp.file, sp.line, &len);
  fprintf(out, "%5d | ", sp.line);
  fwrite(text, 1, len, out);
  fputs("\n      | ", out);
  int col = sp.col < 1 ? 1 : sp.col;
  if ((size_t)col > len + 1) col = (int)len + 1;
  for (int i = 1; i < col; i++) fputc(text[i - 1] == '\t' ? '\t' : ' ', out);
  int end = sp.end_line > sp.line ? (int)len + 1 : sp.end_col;
  if (end > (int)len + 1) end = (int)len + 1;
  fputc('^', out);
  for (int i = col + 1; i < end; i++) fputc('~', out);
  fputc('\n', out);
}

void diag_at(Diag *d, DiagLevel lvl, Span sp, const char *fmt, ...) {
  if (lvl == DIAG_ERROR) {
    d->errors++;
    if (d->errors > d->max_errors) {
      if (d->errors == d->max_errors + 1)
        fprintf(d->out, "ftc: error: too many errors (%d), stopping here\n", d->max_errors);
      d->muted = 1;
      return;
    }
    d->muted = 0;
  } else if (d->muted) {
    return;
  } else if (lvl == DIAG_WARNING) {
    d->muted = 0;
  }
  static const char *const names[] = {"error", "warning", "note"};
  if (sp.file)
    fprintf(d->out, "%s:%d:%d: %s: ", sp.file->path, sp.line, sp.col, names[lvl]);
  else if (lvl == DIAG_NOTE)
    fputs("note: ", d->out);
  else
    fprintf(d->out, "ftc: %s: ", names[lvl]);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(d->out, fmt, ap);
  va_end(ap);
  fputc('\n', d->out);
  if (!sp.file) return;
  show_source(d->out, sp);
  if (lvl == DIAG_NOTE) return;
  for (const SrcFile *f = sp.file; f->included_from; f = f->included_from)
    fprintf(d->out, "note: included from %s:%d:%d\n", f->included_from->path, f->include_line,
            f->include_col);
}

const char *diag_suggest(const char *name, const char *const *cands) {
  return suggest_closest(name, cands);
}

/* ---- spans ---------------------------------------------------------------- */

Span ps_span_join(Span a, Span b) {
  a.end_line = b.end_line;
  a.end_col = b.end_col;
  return a;
}

Span ps_after(Span s) {
  s.line = s.end_line;
  s.col = s.end_col;
  s.end_col = s.col + 1;
  return s;
}

void ps_span_text(Span s, char *buf, size_t size) {
  buf[0] = 0;
  if (!s.file || size < 8) return;
  size_t len;
  const char *line = line_at(s.file, s.line, &len);
  size_t from = s.col > 1 ? (size_t)s.col - 1 : 0;
  if (from > len) from = len;
  size_t to = s.end_line > s.line ? len : (size_t)(s.end_col > 1 ? s.end_col - 1 : 0);
  if (to > len) to = len;
  if (to < from) to = from;
  size_t n = to - from;
  if (n > size - 1) {
    snprintf(buf, size, "%.*s...", (int)(size - 4), line + from);
    return;
  }
  memcpy(buf, line + from, n);
  buf[n] = 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)buf[i] < 0x20) buf[i] = '?';
}
