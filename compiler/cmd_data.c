/* compiler/cmd_data.c -- `ftc data`: prepares training data.
 *
 *   ftc data text2shards IN.txt -o OUT.bin [--dtype u16|u32] [--tokenizer T.json]
 *
 * One idea: the shard is written by the runtime's own writer
 * (rt_shard_open/append/close in runtime/data.c), so the compiler and the
 * trainer can never disagree about the format. Without --tokenizer the
 * tokens are the bytes (vocab 256) and the file is streamed, never held
 * whole in memory; with one, the whole file is one text for the runtime's
 * tokenizer (runtime/tokenizer.h), as `text(..., tokenizer: bpe(...))`
 * would read it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ftrt.h"
#include "rt_internal.h" /* rt_read_file */
#include "tokenizer.h"


static void usage(FILE *out) {
  fprintf(out,
          "usage: ftc data text2shards IN.txt -o OUT.bin [--dtype u16|u32]\n"
          "                            [--tokenizer TOKENIZER.json]\n\n"
          "Converts text to a token shard for `data train = shards(\"OUT.bin\", ...)`:\n"
          "with the byte tokenizer (token = byte, vocab 256), or with a Hugging Face\n"
          "tokenizer.json (the whole file as one text; u32 tokens when the vocabulary\n"
          "does not fit u16). The shard header holds a magic, version, token size and\n"
          "count; the write is atomic.\n");
}

static int text2shards(const char *in, const char *out, int elem) {
  FILE *f = fopen(in, "rb");
  if (!f) {
    fprintf(stderr, "ftc data: error: %s: cannot open: %s\n", in, strerror(errno));
    return EXIT_INPUT;
  }
  rt_shard_writer *w = rt_shard_open(out, elem);
  if (!w) {
    fclose(f);
    return EXIT_IO;
  }
  unsigned char buf[1 << 15];
  uint32_t tok[1 << 15];
  long long total = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < n; i++) tok[i] = buf[i];
    if (rt_shard_append(w, tok, (int64_t)n) != 0) {
      rt_shard_abort(w);
      fclose(f);
      return EXIT_IO;
    }
    total += (long long)n;
  }
  if (ferror(f)) {
    fprintf(stderr, "ftc data: error: %s: read failed: %s\n", in, strerror(errno));
    rt_shard_abort(w);
    fclose(f);
    return EXIT_INPUT;
  }
  fclose(f);
  if (rt_shard_close(w) != 0) return EXIT_IO;
  printf("%s: %lld tokens (u%d, byte vocabulary 256) from %s\n", out, total, elem * 8, in);
  return EXIT_OK;
}

static int text2shards_bpe(const char *in, const char *out, int elem, const char *tok_path) {
  rt_tok *t = rt_tok_load(tok_path);
  if (!t) return EXIT_INPUT;
  unsigned char *buf = NULL;
  int64_t n = 0;
  int rc = EXIT_OK;
  if (rt_read_file(in, &buf, &n) != 0) {
    rt_tok_free(t);
    return EXIT_INPUT;
  }
  if (rt_tok_vocab_size(t) > 65536) elem = 4;
  rt_tok_state *s = rt_tok_state_new(t);
  int32_t *ids = NULL;
  size_t len = 0, cap = 0;
  if (!s || rt_tok_encode(s, (const char *)buf, (size_t)n, 0, &ids, &len, &cap) != 0) {
    fprintf(stderr, "ftc data: error: %s: %s\n", in, s ? rt_tok_error(s) : "out of memory");
    rc = EXIT_INPUT;
  } else {
    rt_shard_writer *w = rt_shard_open(out, elem);
    if (!w) rc = EXIT_IO;
    else if (rt_shard_append(w, (const uint32_t *)ids, (int64_t)len) != 0) {
      rt_shard_abort(w);
      rc = EXIT_IO;
    } else if (rt_shard_close(w) != 0) {
      rc = EXIT_IO;
    } else {
      printf("%s: %zu tokens (u%d, %s) from %s\n", out, len, elem * 8, rt_tok_describe(t), in);
    }
  }
  free(ids);
  free(buf);
  rt_tok_state_free(s);
  rt_tok_free(t);
  return rc;
}

int cmd_data(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : EXIT_OK;
  }
  rt_progname = "ftc data";
  if (strcmp(argv[1], "text2shards")) {
    fprintf(stderr, "ftc data: error: unknown action '%s' (text2shards)\n", argv[1]);
    return EXIT_USAGE;
  }
  const char *in = NULL, *out = NULL, *tok = NULL;
  int elem = 2;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) {
      out = argv[++i];
    } else if (!strcmp(a, "--dtype") && i + 1 < argc) {
      const char *d = argv[++i];
      if (!strcmp(d, "u16")) elem = 2;
      else if (!strcmp(d, "u32")) elem = 4;
      else {
        fprintf(stderr, "ftc data: error: --dtype must be u16 or u32, not '%s'\n", d);
        return EXIT_USAGE;
      }
    } else if (!strcmp(a, "--tokenizer") && i + 1 < argc) {
      tok = argv[++i];
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return EXIT_OK;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "ftc data: error: unknown or incomplete option '%s'\n", a);
      return EXIT_USAGE;
    } else if (!in) {
      in = a;
    } else {
      fprintf(stderr, "ftc data: error: one input file only ('%s')\n", a);
      return EXIT_USAGE;
    }
  }
  if (!in || !out) {
    usage(stderr);
    return EXIT_USAGE;
  }
  return tok ? text2shards_bpe(in, out, elem, tok) : text2shards(in, out, elem);
}
