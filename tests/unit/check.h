/* tests/unit/check.h -- the one assertion macro of the unit tests: a failed
 * CHECK prints file:line, the condition and a formatted reason, counts, and
 * the test goes on; check_exit() turns the count into the exit code. */
#ifndef FTC_TESTS_CHECK_H
#define FTC_TESTS_CHECK_H

#include <stdio.h>

static int check_failures;
#define CHECK(cond, ...)                                             \
  do {                                                               \
    if (!(cond)) {                                                   \
      check_failures++;                                              \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
      printf(__VA_ARGS__);                                           \
      printf("\n");                                                  \
    }                                                                \
  } while (0)

/* Prints "NAME: ok" or "NAME: N check(s) failed"; returns the exit code. */
static inline int check_exit(const char *name) {
  if (check_failures) printf("%s: %d check(s) failed\n", name, check_failures);
  else printf("%s: ok\n", name);
  return check_failures ? 1 : 0;
}

#endif
