/* tests/fuzz/fuzz_tokenizer.c -- libFuzzer target for the tokenizer.json
 * loader (runtime/json.c, regex.c, tok_load.c) and, when an input loads,
 * the encoder and decoder on text made of the same bytes.
 *
 * One idea: a loader that takes bytes can be fuzzed as it is; every input
 * must either load or fail with a message, and a loaded tokenizer must
 * encode anything (invalid UTF-8 included) and decode what it produced.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  err[0] = 0;
  rt_tok *t = rt_tok_parse((const char *)data, size, err, sizeof err);
  if (!t) {
    if (!err[0]) abort(); /* a refusal must say why */
    return 0;
  }
  rt_tok_state *s = rt_tok_state_new(t);
  int32_t *ids = NULL;
  size_t len = 0, cap = 0;
  if (s && rt_tok_encode(s, (const char *)data, size < 512 ? size : 512, 1, &ids, &len, &cap) == 0) {
    char *out = NULL;
    size_t ol = 0, oc = 0;
    if (rt_tok_decode(t, ids, len, 0, &out, &ol, &oc) != 0) abort(); /* its own ids decode */
    free(out);
  }
  free(ids);
  rt_tok_state_free(s);
  rt_tok_free(t);
  return 0;
}
