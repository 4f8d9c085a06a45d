/* compiler/cmd_back.c -- the back-end commands: `ftc plan`, `ftc build`,
 * `ftc graph` and `ftc passes`.
 *
 * One idea: each command is argument parsing plus one call into the shared
 * pipeline (driver.c) and one printer; they differ only in where they stop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "back.h"
#include "cmd.h"
#include "driver.h"
#include "codegen/cuda_build.h"

typedef struct Args {
  const char *file, *out, *emit_c, *after, *emit_cuda, *arch;
  int json, keep, backward, verify, dtype, text, ranks;
  int no_file_ok; /* ftc passes: no recipe */
} Args;

/* parse()'s result as an exit code: 1 printed help, -1 usage, -2 a bad plugin */
static int parse_exit(int pr) { return pr > 0 ? EXIT_OK : pr == -2 ? EXIT_INPUT : EXIT_USAGE; }

static int parse_dtype(const char *s) {
  if (!strcmp(s, "f32")) return IR_F32;
  if (!strcmp(s, "f64")) return IR_F64;
  return -2;
}

/* Is `opt` one of the blank-separated words of `allowed`? */
static int has_opt(const char *allowed, const char *opt) {
  size_t n = strlen(opt);
  for (const char *p = allowed; (p = strstr(p, opt)) != NULL; p += n)
    if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
  return 0;
}

void cmd_unknown_option(const char *cmd, const char *opt, const char *allowed) {
  char buf[256], *words[32];
  int n = 0;
  snprintf(buf, sizeof buf, "%s", allowed);
  for (char *w = strtok(buf, " "); w && n < 31; w = strtok(NULL, " ")) words[n++] = w;
  words[n] = NULL;
  const char *s = diag_suggest(opt, (const char *const *)words);
  if (s) fprintf(stderr, "ftc %s: unknown option '%s' (did you mean '%s'?)\n", cmd, opt, s);
  else fprintf(stderr, "ftc %s: unknown option '%s'\n", cmd, opt);
}

/* Shared option parsing; `allowed` lists the options this command takes. */
static int parse(int argc, char **argv, const char *allowed, Args *a, const char *usage) {
  int no_file_ok = a->no_file_ok;
  memset(a, 0, sizeof *a);
  a->no_file_ok = no_file_ok;
  a->dtype = -1;
  a->ranks = 1;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    int takes = 0;
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
      fputs(usage, stdout);
      return 1;
    }
    if (s[0] != '-' || !strcmp(s, "-")) {
      if (a->file) {
        fprintf(stderr, "ftc %s: one recipe at a time ('%s' and '%s')\n%s", argv[0], a->file, s,
                usage);
        return -1;
      }
      a->file = s;
      continue;
    }
    if (!has_opt(allowed, s)) {
      cmd_unknown_option(argv[0], s, allowed);
      fputs(usage, stderr);
      return -1;
    }
    if (!strcmp(s, "-o") || !strcmp(s, "--dtype") || !strcmp(s, "--emit-c") ||
        !strcmp(s, "--plugin") || !strcmp(s, "--after") || !strcmp(s, "--ranks") ||
        !strcmp(s, "--emit-cuda") || !strcmp(s, "--arch"))
      takes = 1;
    if (takes && i + 1 >= argc) {
      fprintf(stderr, "ftc %s: option '%s' needs a value\n%s", argv[0], s, usage);
      return -1;
    }
    if (!strcmp(s, "--json")) a->json = 1;
    else if (!strcmp(s, "--keep")) a->keep = 1;
    else if (!strcmp(s, "--backward")) a->backward = 1;
    else if (!strcmp(s, "--verify")) a->verify = 1;
    else if (!strcmp(s, "--text")) a->text = 1;
    else if (!strcmp(s, "--after")) a->after = argv[++i];
    else if (!strcmp(s, "--plugin")) {
      /* loaded at once: the recipe's check needs the plugin's passes */
      if (pass_load_plugin(argv[++i]) < 0) return -2;
    }
    else if (!strcmp(s, "-o")) a->out = argv[++i];
    else if (!strcmp(s, "--emit-c")) a->emit_c = argv[++i];
    else if (!strcmp(s, "--ranks")) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 1 || v > 1 << 20) {
        fprintf(stderr, "ftc %s: --ranks takes a count >= 1, not '%s'\n", argv[0], argv[i]);
        return -1;
      }
      a->ranks = (int)v;
    }
    else if (!strcmp(s, "--emit-cuda")) a->emit_cuda = argv[++i];
    else if (!strcmp(s, "--arch")) a->arch = argv[++i];
    else if (!strcmp(s, "--dtype")) {
      a->dtype = parse_dtype(argv[++i]);
      if (a->dtype == -2) {
        fprintf(stderr, "ftc %s: --dtype takes f32 or f64, not '%s'\n", argv[0], argv[i]);
        return -1;
      }
    }
  }
  if (!a->file && !a->no_file_ok) {
    fprintf(stderr, "ftc %s: no recipe given\n%s", argv[0], usage);
    return -1;
  }
  return 0;
}

static int compile(const Args *a, DrvStop stop, Drv *d) {
  DrvOpts o = {a->file, stop, a->dtype, a->verify, a->after, 0};
#ifdef FTC_VERIFY_DEFAULT
  o.verify = 1;
#endif
  if (getenv("FTC_VERIFY")) o.verify = 1;
  return drv_compile(&o, d);
}

int cmd_plan(int argc, char **argv) {
  static const char usage[] =
      "usage: ftc plan FILE.ft [--json] [--dtype f32|f64] [--ranks N] [--verify]\n"
      "                [--plugin P.so]...\n"
      "  Prints the static memory plan: bytes of parameters, gradients, optimizer\n"
      "  state, inputs, activations kept for the backward and temporaries at the\n"
      "  live peak, the peak and the op where it occurs, and the arena the trainer\n"
      "  allocates, beside this machine's memory. --json prints one JSON object:\n"
      "  arena_bytes (allocated once; peak_bytes is the same number, kept for old\n"
      "  scripts), live_peak_bytes (bytes live at the peak), peak_index (the peak\n"
      "  op, 1-based: \"op 67 of 185\"), machine_memory_bytes (-1 = unknown).\n"
      "  --ranks N adds the memory of each of N data-parallel ranks (zero shards\n"
      "  the state, gradients, parameters; docs/distributed.md): rank_* in JSON.\n"
      "  --plugin loads a pass plugin (repeatable; docs/passes.md).\n";
  Args a = {0};
  int pr = parse(argc, argv, "--json --dtype --verify --plugin --ranks", &a, usage);
  if (pr) return parse_exit(pr);
  Drv d;
  int rc = compile(&a, DRV_PLAN, &d);
  if (rc == EXIT_OK) {
    if (a.json) plan_print_json(d.g, &d.r, d.plan, a.ranks, stdout);
    else plan_print(d.g, &d.r, d.plan, a.ranks, stdout);
    if (fflush(stdout) != 0) {
      fprintf(stderr, "ftc plan: cannot write the output: %s\n", strerror(errno));
      rc = EXIT_IO;
    }
  }
  drv_free(&d);
  return rc;
}

static const char *default_out(const char *file, char *buf, size_t cap) {
  const char *b = strrchr(file, '/');
  b = b ? b + 1 : file;
  snprintf(buf, cap, "%s", b);
  char *dot = strrchr(buf, '.');
  if (dot && !strcmp(dot, ".ft")) *dot = 0;
  if (!strcmp(buf, b)) strncat(buf, ".bin", cap - strlen(buf) - 1);
  return buf;
}

int cmd_build(int argc, char **argv) {
  static const char usage[] =
      "usage: ftc build FILE.ft [-o TRAINER] [--dtype f32|f64] [--arch LIST]\n"
      "                 [--emit-c FILE.c] [--emit-cuda FILE.cu] [--keep] [--verify]\n"
      "                 [--plugin P.so]...\n"
      "  Compiles the recipe into one standalone trainer binary (default name: the\n"
      "  recipe's without .ft). --dtype f64 builds the float64 trainer for gradient\n"
      "  checks; --emit-c also writes the generated C; --keep keeps the build dir.\n"
      "  --plugin loads a pass plugin whose passes the recipe may name (repeatable).\n"
      "  Where ftc was configured with the CUDA toolkit the trainer also carries its\n"
      "  CUDA step (./trainer --device cuda|emu; the same binary runs --device cpu\n"
      "  on machines without a GPU or driver):\n"
      "    --arch sm_80,sm_90  GPU architectures to compile the generated kernels for\n"
      "                        with NVRTC (cubins embedded, plus PTX of the newest for\n"
      "                        later GPUs); default sm_90 (or $FTC_ARCH); none = a\n"
      "                        CPU-only trainer. Compiled kernels are cached\n"
      "                        ($FTC_CACHE_DIR, default ~/.cache/ftc/kernels).\n"
      "    --emit-cuda FILE.cu also write the generated CUDA C (each kernel names\n"
      "                        the IR node and .ft line it came from).\n"
      "  Environment: FTC_CC overrides the C compiler; FTC_BUILD_STATS=1 prints kernel\n"
      "  counts and NVRTC time.\n";
  Args a = {0};
  int pr = parse(argc, argv, "-o --dtype --emit-c --emit-cuda --arch --keep --verify --plugin",
                 &a, usage);
  if (pr) return parse_exit(pr);
  int archs[8];
  if (a.arch && nvrtc_parse_archs(a.arch, archs, 8) < 0) return EXIT_USAGE;
  char buf[4096];
  const char *out = a.out ? a.out : default_out(a.file, buf, sizeof buf);
  Drv d;
  int rc = compile(&a, DRV_PLAN, &d);
  if (rc == EXIT_OK && !d.r.opt_given) /* README "Your first recipe": why a warning */
    fprintf(stderr, "ftc build: warning: %s names no optimizer; the trainer uses the default "
            "adamw(lr: 3e-4, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0)\n", a.file);
  BuildOpts bo = {a.emit_c, a.emit_cuda, a.arch, a.keep};
  if (rc == EXIT_OK) rc = build_trainer(&d, out, &bo);
  drv_free(&d);
  return rc;
}

int cmd_graph(int argc, char **argv) {
  static const char usage[] =
      "usage: ftc graph FILE.ft [--backward | --after PASS] [--text] [-o FILE] [--verify]\n"
      "                 [--plugin P.so]...\n"
      "  Writes the forward graph (with --backward also the gradient graph) as\n"
      "  Graphviz DOT, to stdout or FILE. --after PASS shows the graph right after\n"
      "  that pass ran: any pass of the recipe's passes block, a plugin's, or a\n"
      "  stage of the pipeline (fuse_lm_head_ce, autodiff, dce). --text prints one\n"
      "  node per line instead (the IR dump). Render: dot -Tsvg FILE.dot > g.svg\n";
  Args a = {0};
  int pr = parse(argc, argv, "--backward --after --text -o --verify --plugin", &a, usage);
  if (pr) return parse_exit(pr);
  Drv d;
  int rc = compile(&a, a.backward || a.after ? DRV_BACKWARD : DRV_FORWARD, &d);
  if (rc == EXIT_OK) {
    FILE *f = a.out ? fopen(a.out, "w") : stdout;
    if (!f) {
      fprintf(stderr, "ftc graph: cannot write %s: %s\n", a.out, strerror(errno));
      rc = EXIT_IO;
    } else {
      if (a.text) ir_dump(d.g, f);
      else ir_dot(d.g, f);
      if ((a.out ? fclose(f) : fflush(f)) != 0) {
        fprintf(stderr, "ftc graph: cannot write %s: %s\n", a.out ? a.out : "stdout",
                strerror(errno));
        rc = EXIT_IO;
      }
    }
  }
  drv_free(&d);
  return rc;
}

int cmd_passes(int argc, char **argv) {
  static const char usage[] =
      "usage: ftc passes [--plugin P.so]...\n"
      "  Lists every pass: stage, whether it is implemented, where it comes from\n"
      "  (a plugin), its parameters with types and defaults, and its\n"
      "  requires/conflicts/before facts. --plugin loads a pass plugin first.\n";
  Args a = {.no_file_ok = 1};
  int pr = parse(argc, argv, "--plugin", &a, usage);
  if (pr) return parse_exit(pr);
  if (a.file) {
    fprintf(stderr, "ftc passes: unexpected argument '%s'\n%s", a.file, usage);
    return EXIT_USAGE;
  }
  printf("Passes run in two stages: before autodiff (on the forward graph) and after\n"
         "it (on the whole step), each in the order the recipe's passes { } lists them.\n\n");
  pass_print_all(stdout);
  return fflush(stdout) == 0 ? EXIT_OK : EXIT_IO;
}
