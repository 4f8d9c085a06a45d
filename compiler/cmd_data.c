/* compiler/cmd_data.c -- `ftc data`: prepares training data.
 *
 *   ftc data text2shards IN.txt -o OUT.bin [--dtype u16|u32]
 *
 * One idea: the shard is written by the runtime's own writer
 * (rt_shard_open/append/close in runtime/data.c), so the compiler and the
 * trainer can never disagree about the format. The tokenizer is the byte
 * tokenizer (token = byte, vocab 256); the file is streamed, never held
 * whole in memory. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "ftrt.h"

extern const char *rt_progname; /* runtime/util.c: prefix of its messages */

static void usage(FILE *out) {
  fprintf(out,
          "usage: ftc data text2shards IN.txt -o OUT.bin [--dtype u16|u32]\n\n"
          "Converts text to a token shard with the byte tokenizer (token = byte,\n"
          "vocab 256) for `data train = shards(\"OUT.bin\", ...)`. The shard header\n"
          "holds a magic, version, token size and count; the write is atomic.\n");
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
  const char *in = NULL, *out = NULL;
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
  return text2shards(in, out, elem);
}
