/* compiler/main.c -- the ftc command line: finds the subcommand and hands it
 * the rest of the arguments. Every command lives in its own cmd_*.c file. */
#include <stdio.h>
#include <string.h>

#include "ast.h"
#include "cmd.h"
#include "config.h"

typedef struct Command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  {"check",  cmd_check,  "check a recipe: parse, names, arguments (exit 1 on errors)"},
  {"fmt",    cmd_fmt,    "format recipes canonically (-w in place, --check for CI)"},
  {"ast",    cmd_ast,    "print a recipe's syntax tree"},
  {"plan",   cmd_plan,   "print the static memory plan (--json)"},
  {"build",  cmd_build,  "compile a recipe into a standalone trainer (-o TRAINER)"},
  {"graph",  cmd_graph,  "write the forward graph (--backward: with gradients) as Graphviz DOT"},
  {"passes", cmd_passes, "list the optimization passes, their parameters and facts"},
  {"data",   cmd_data,   "prepare data (text2shards: text -> token shards)"},
  {"tokenize", cmd_tokenize, "encode/decode text with a Hugging Face tokenizer.json"},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *out) {
  fprintf(out,
          "usage: ftc COMMAND [ARGS]    (ftc COMMAND --help for its options)\n\n"
          "ftc compiles a .ft fine-tuning recipe into a standalone trainer.\n\n"
          "commands:\n");
  for (int i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(out,
          "\nexit codes: 0 success, 1 errors in the input, 2 usage error,\n"
          "            3 I/O or internal error\n"
          "environment: FTC_STDLIB overrides the stdlib directory\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    usage(stdout);
    return EXIT_OK;
  }
  if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
    printf("ftc %s\n", FTC_VERSION);
    return EXIT_OK;
  }
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(name, commands[i].name))
      return commands[i].run(argc - 1, argv + 1);
  const char *names[NCOMMANDS + 1];
  for (int i = 0; i < NCOMMANDS; i++) names[i] = commands[i].name;
  names[NCOMMANDS] = NULL;
  const char *s = diag_suggest(name, names);
  if (s) {
    fprintf(stderr, "ftc: unknown command '%s' (did you mean 'ftc %s'?)\n", name, s);
    return EXIT_USAGE;
  }
  fprintf(stderr, "ftc: unknown command '%s'\n", name);
  usage(stderr);
  return EXIT_USAGE;
}
