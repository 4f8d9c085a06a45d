/* compiler/cmd.h -- the ftc subcommands. Each takes the argument vector with
 * argv[0] = the subcommand name and returns the process exit code:
 *   0 success, 1 errors in the input (diagnostics printed), 2 usage error,
 *   3 I/O or internal error. */
#ifndef FTC_COMPILER_CMD_H
#define FTC_COMPILER_CMD_H

enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_IO = 3 };

int cmd_check(int argc, char **argv);  /* compiler/cmd_front.c */
int cmd_fmt(int argc, char **argv);
int cmd_ast(int argc, char **argv);
int cmd_plan(int argc, char **argv);   /* compiler/cmd_back.c */
int cmd_build(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_passes(int argc, char **argv);
int cmd_data(int argc, char **argv);   /* compiler/cmd_data.c */
int cmd_tokenize(int argc, char **argv); /* compiler/cmd_tokenize.c */

/* "ftc CMD: unknown option 'X'" with the closest of `allowed` (blank-
 * separated options) as a "did you mean" (compiler/cmd_back.c). */
void cmd_unknown_option(const char *cmd, const char *opt, const char *allowed);

#endif
