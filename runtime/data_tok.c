/* runtime/data_tok.c -- `text(path, tokenizer: bpe("tokenizer.json"))`:
 * the trainer tokenizes the text file at start-up with the runtime's
 * tokenizer (tokenizer.h).
 *
 * One idea: the whole file is one text, encoded exactly as the `tokenizers`
 * library's encode(text) would (no post-processor tokens), so the token
 * stream does not depend on how the file is cut; the tokens then replace
 * the bytes in the loader, which reads u32 tokens like a shard's.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"
#include "tokenizer.h"

int rt_data_tokenize(rt_data *d, const char *tokenizer_path) {
  rt_tok *t = rt_tok_load(tokenizer_path);
  if (!t) return -1;
  int rc = -1;
  if (rt_tok_vocab_size(t) > d->vocab) {
    rt_err("%s: %d tokens, but the model's vocabulary has %d (rebuild the trainer)",
           tokenizer_path, rt_tok_vocab_size(t), d->vocab);
    rt_tok_free(t);
    return -1;
  }
  rt_tok_state *s = rt_tok_state_new(t);
  int32_t *ids = NULL;
  size_t len = 0, cap = 0;
  if (!s) {
    rt_err("%s: out of memory", tokenizer_path);
  } else if (rt_tok_encode(s, (const char *)d->buf, (size_t)d->n, 0, &ids, &len, &cap) != 0) {
    rt_err("%s: tokenizing with %s: %s", d->path, tokenizer_path, rt_tok_error(s));
  } else {
    free(d->buf);
    d->buf = (unsigned char *)ids; /* int32 little-endian = u32 tokens */
    ids = NULL;
    d->tok = d->buf;
    d->elem = 4;
    d->n = (int64_t)len;
    rc = 0;
  }
  free(ids);
  rt_tok_state_free(s);
  rt_tok_free(t);
  return rc;
}
