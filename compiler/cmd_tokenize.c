/* compiler/cmd_tokenize.c -- `ftc tokenize`: a Hugging Face tokenizer.json
 * from the command line, through the runtime's tokenizer (the one trainers
 * and `ftc data` use).
 *
 *   ftc tokenize TOKENIZER.json [FILE]          ids of the whole text
 *   ftc tokenize TOKENIZER.json --lines [FILE]  one line of ids per line
 *   ftc tokenize TOKENIZER.json --decode [FILE] ids (a line each) -> text
 *
 * One idea: the command is a thin shell over rt_tok_encode_batch and
 * rt_tok_decode, so what it prints is what training sees; --stats times
 * the encoding alone (no I/O), which is the figure the benchmark compares.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "ftrt.h"
#include "tokenizer.h"

extern const char *rt_progname;

static void usage(FILE *out) {
  fprintf(out,
          "usage: ftc tokenize TOKENIZER.json [FILE] [--lines] [--decode] [--no-special]\n"
          "                    [--keep-special] [--threads N] [--stats]\n\n"
          "Encodes FILE (default stdin) with a Hugging Face tokenizer.json and prints\n"
          "the ids, space-separated. --lines encodes each line as its own text (without\n"
          "its newline) and prints one line of ids per line, in parallel over --threads\n"
          "(0 = all cores). --decode reads lines of ids and prints their text\n"
          "(special tokens dropped unless --keep-special). --no-special leaves out the\n"
          "tokens the post-processor adds (e.g. LLaMA's <s>). --stats prints the\n"
          "tokenizer, token count and encode speed to stderr.\n");
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int read_all(const char *path, char **buf, size_t *n) {
  FILE *f = path ? fopen(path, "rb") : stdin;
  if (!f) {
    fprintf(stderr, "ftc tokenize: error: %s: cannot open: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 1 << 16, len = 0;
  char *b = malloc(cap);
  for (;;) {
    if (!b) break;
    if (len == cap) {
      char *nb = realloc(b, cap * 2);
      if (!nb) {
        free(b);
        b = NULL;
        break;
      }
      b = nb;
      cap *= 2;
    }
    size_t k = fread(b + len, 1, cap - len, f);
    len += k;
    if (k == 0) break;
  }
  int err = ferror(f);
  if (path) fclose(f);
  if (!b || err) {
    fprintf(stderr, "ftc tokenize: error: %s: %s\n", path ? path : "stdin",
            b ? "read failed" : "out of memory");
    free(b);
    return -1;
  }
  *buf = b;
  *n = len;
  return 0;
}

static void put_ids(const int32_t *ids, size_t n, FILE *out) {
  char buf[16];
  for (size_t i = 0; i < n; i++) {
    int k = sizeof buf;
    uint32_t v = (uint32_t)ids[i];
    buf[--k] = 0;
    do buf[--k] = (char)('0' + v % 10); while ((v /= 10));
    if (i) putc(' ', out);
    fputs(buf + k, out);
  }
  putc('\n', out);
}

static int decode(const rt_tok *t, char *text, size_t n, int keep_special) {
  int32_t *ids = NULL;
  size_t cap = 0, len = 0, ocap = 0;
  char *out = NULL;
  int rc = EXIT_OK, line = 0;
  for (size_t i = 0; i < n && rc == EXIT_OK;) {
    size_t e = i;
    while (e < n && text[e] != '\n') e++;
    line++;
    size_t k = 0;
    for (size_t j = i; j < e;) {
      while (j < e && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r')) j++;
      if (j >= e) break;
      char *end;
      errno = 0;
      long v = strtol(text + j, &end, 10);
      if (end == text + j || errno || v < 0 || v > INT32_MAX ||
          (end < text + e && *end != ' ' && *end != '\t' && *end != '\r')) {
        fprintf(stderr, "ftc tokenize: error: line %d: expected token ids (integers)\n", line);
        rc = EXIT_INPUT;
        break;
      }
      if (k == cap) {
        cap = cap ? 2 * cap : 256;
        int32_t *p = realloc(ids, cap * sizeof *p);
        if (!p) {
          rc = EXIT_IO;
          break;
        }
        ids = p;
      }
      ids[k++] = (int32_t)v;
      j = (size_t)(end - text);
    }
    if (rc != EXIT_OK) break;
    len = 0;
    if (rt_tok_decode(t, ids, k, !keep_special, &out, &len, &ocap)) {
      fprintf(stderr, "ftc tokenize: error: line %d: an id is outside the vocabulary (%d tokens)\n",
              line, rt_tok_vocab_size(t));
      rc = EXIT_INPUT;
      break;
    }
    fwrite(out, 1, len, stdout);
    putchar('\n');
    i = e + 1;
  }
  free(ids);
  free(out);
  return rc;
}

int cmd_tokenize(int argc, char **argv) {
  const char *tok_path = NULL, *in = NULL;
  int lines = 0, dec = 0, special = 1, keep_special = 0, threads = 0, stats = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return EXIT_OK;
    } else if (!strcmp(a, "--lines")) lines = 1;
    else if (!strcmp(a, "--decode")) dec = 1;
    else if (!strcmp(a, "--no-special")) special = 0;
    else if (!strcmp(a, "--keep-special")) keep_special = 1;
    else if (!strcmp(a, "--stats")) stats = 1;
    else if (!strcmp(a, "--threads") && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 0 || v > 4096) {
        fprintf(stderr, "ftc tokenize: error: --threads needs a count, not '%s'\n", argv[i]);
        return EXIT_USAGE;
      }
      threads = (int)v;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "ftc tokenize: error: unknown or incomplete option '%s'\n", a);
      return EXIT_USAGE;
    } else if (!tok_path) tok_path = a;
    else if (!in) in = a;
    else {
      fprintf(stderr, "ftc tokenize: error: one input file only ('%s')\n", a);
      return EXIT_USAGE;
    }
  }
  if (!tok_path) {
    usage(stderr);
    return EXIT_USAGE;
  }
  rt_progname = "ftc tokenize";
  double t0 = now();
  rt_tok *t = rt_tok_load(tok_path);
  if (!t) return EXIT_INPUT;
  double t_load = now() - t0;
  char *text = NULL;
  size_t n = 0;
  int rc = EXIT_OK;
  if (read_all(in, &text, &n)) {
    rt_tok_free(t);
    return EXIT_IO;
  }
  if (dec) {
    rc = decode(t, text, n, keep_special);
    free(text);
    rt_tok_free(t);
    return rc;
  }
  /* documents: the whole text, or each line */
  size_t nd = 0, dcap = 1;
  rt_tok_text *docs = malloc(sizeof *docs);
  if (lines) {
    for (size_t i = 0; docs && i < n;) {
      size_t e = i;
      while (e < n && text[e] != '\n') e++;
      if (nd == dcap) {
        dcap *= 2;
        rt_tok_text *d = realloc(docs, dcap * sizeof *d);
        if (!d) {
          free(docs);
          docs = NULL;
          break;
        }
        docs = d;
      }
      docs[nd++] = (rt_tok_text){text + i, e - i};
      i = e + 1;
    }
  } else if (docs) {
    docs[nd++] = (rt_tok_text){text, n};
  }
  int32_t *ids = NULL;
  size_t *off = NULL;
  char err[512];
  double t1 = now();
  if (!docs) {
    fprintf(stderr, "ftc tokenize: error: out of memory\n");
    rc = EXIT_IO;
  } else if (rt_tok_encode_batch(t, docs, nd, special, threads, &ids, &off, err, sizeof err)) {
    fprintf(stderr, "ftc tokenize: error: %s: %s\n", in ? in : "stdin", err);
    rc = EXIT_INPUT;
  }
  double t_enc = now() - t1;
  if (rc == EXIT_OK) {
    for (size_t d = 0; d < nd; d++) put_ids(ids + off[d], off[d + 1] - off[d], stdout);
    if (stats)
      fprintf(stderr, "%s: %s; %zu bytes, %zu texts -> %zu tokens; load %.3f s, encode %.3f s "
              "= %.2f MB/s\n", tok_path, rt_tok_describe(t), n, nd, nd ? off[nd] : 0, t_load,
              t_enc, t_enc > 0 ? (double)n / t_enc / 1e6 : 0.0);
  }
  if (fflush(stdout) != 0) rc = EXIT_IO;
  free(ids);
  free(off);
  free(docs);
  free(text);
  rt_tok_free(t);
  return rc;
}
