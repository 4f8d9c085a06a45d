/* runtime/suggest.h -- "did you mean": the closest candidate to a misspelt
 * name, or NULL when none is close enough to be a likely typo.
 *
 * Header-only and dependency-free because two layers need it and neither
 * links the other: the front-end (lang/diag.c's diag_suggest, also built
 * alone by the fuzzer) and the trainer's flag parser (runtime/main.c).
 *
 * One idea: the optimal-string-alignment distance (a swap of two adjacent
 * letters counts one edit), accepted when it is at most a third of the
 * name's length (at least 1) and smaller than the name itself. */
#ifndef FTC_RUNTIME_SUGGEST_H
#define FTC_RUNTIME_SUGGEST_H

#include <string.h>

static inline int suggest_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 64 || m > 64) return 1000;
  int dp[65][65];
  for (size_t i = 0; i <= n; i++) dp[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) dp[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      int cost = a[i - 1] != b[j - 1];
      int v = dp[i - 1][j] + 1;
      if (dp[i][j - 1] + 1 < v) v = dp[i][j - 1] + 1;
      if (dp[i - 1][j - 1] + cost < v) v = dp[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          dp[i - 2][j - 2] + 1 < v)
        v = dp[i - 2][j - 2] + 1;
      dp[i][j] = v;
    }
  return dp[n][m];
}

/* The candidate (NULL-terminated list) closest to name, other than name. */
static inline const char *suggest_closest(const char *name, const char *const *cands) {
  const char *best = NULL;
  int bestd = 1000;
  int limit = ((int)strlen(name) + 2) / 3;
  if (limit < 1) limit = 1;
  for (int i = 0; cands && cands[i]; i++) {
    if (!strcmp(cands[i], name)) continue;
    int dd = suggest_distance(name, cands[i]);
    if (dd < bestd) {
      bestd = dd;
      best = cands[i];
    }
  }
  return bestd <= limit && bestd < (int)strlen(name) ? best : NULL;
}

#endif
