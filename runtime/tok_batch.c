/* runtime/tok_batch.c -- encoding many documents on all cores.
 *
 * One idea: documents are independent, so blocks of them go to threads
 * dynamically (long and short documents balance out), each thread with its
 * own state (word cache and scratch); every block keeps its ids apart and
 * the blocks are joined in order, so the result is exactly the one-by-one
 * encoding whatever the thread count.
 */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

#define BLOCK_DOCS 64

typedef struct { int32_t *ids; size_t len, cap; int failed; } blk;

int rt_tok_encode_batch(const rt_tok *t, const rt_tok_text *docs, size_t n, int add_special,
                        int threads, int32_t **ids, size_t **off, char *err, size_t errcap) {
  size_t nb = (n + BLOCK_DOCS - 1) / BLOCK_DOCS;
  blk *b = calloc(nb ? nb : 1, sizeof *b);
  size_t *o = malloc((n + 1) * sizeof *o);
  if (!b || !o) {
    free(b);
    free(o);
    snprintf(err, errcap, "out of memory");
    return -1;
  }
  if (threads <= 0) threads = omp_get_max_threads();
  int failed = 0;
  char first_err[256] = "";
#pragma omp parallel num_threads(threads)
  {
    rt_tok_state *s = rt_tok_state_new(t);
    if (!s) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(dynamic, 1)
    for (size_t k = 0; k < nb; k++) {
      if (!s || failed) continue;
      size_t d0 = k * BLOCK_DOCS, d1 = d0 + BLOCK_DOCS < n ? d0 + BLOCK_DOCS : n;
      for (size_t d = d0; d < d1; d++) {
        /* document d's end, relative to its block, in o[d + 1] for now */
        if (rt_tok_encode(s, docs[d].s, docs[d].n, add_special, &b[k].ids, &b[k].len, &b[k].cap)) {
#pragma omp critical(tok_batch_err)
          if (!failed) {
            failed = 1;
            snprintf(first_err, sizeof first_err, "document %zu: %s", d, rt_tok_error(s));
          }
          break;
        }
        o[d + 1] = b[k].len;
      }
    }
    rt_tok_state_free(s);
  }
  int32_t *all = NULL;
  if (!failed) {
    size_t total = 0;
    for (size_t k = 0; k < nb; k++) total += b[k].len;
    all = malloc((total ? total : 1) * sizeof *all);
    if (!all) {
      failed = 1;
      snprintf(first_err, sizeof first_err, "out of memory");
    } else {
      size_t at = 0;
      o[0] = 0;
      for (size_t k = 0; k < nb; k++) {
        size_t d0 = k * BLOCK_DOCS, d1 = d0 + BLOCK_DOCS < n ? d0 + BLOCK_DOCS : n;
        for (size_t d = d0; d < d1; d++) o[d + 1] += at;
        if (b[k].len) memcpy(all + at, b[k].ids, b[k].len * sizeof *all);
        at += b[k].len;
      }
    }
  } else if (!first_err[0]) {
    snprintf(first_err, sizeof first_err, "out of memory");
  }
  for (size_t k = 0; k < nb; k++) free(b[k].ids);
  free(b);
  if (failed) {
    free(o);
    free(all);
    snprintf(err, errcap, "%s", first_err);
    return -1;
  }
  if (n == 0) o[0] = 0;
  *ids = all;
  *off = o;
  return 0;
}
