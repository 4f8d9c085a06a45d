/* runtime/tokenizer.h -- Hugging Face tokenizer.json in C: byte-level BPE
 * (GPT-2, LLaMA-3 style split patterns) and SentencePiece-style BPE with
 * byte fallback (LLaMA-2), with their normalizers, pre-tokenizers,
 * decoders, post-processors and added/special tokens. No Python at run
 * time; ids equal the `tokenizers` library's (tests/tokenizer).
 *
 * One idea: every stage of the library's pipeline (added-token split ->
 * normalize -> pre-tokenize -> BPE -> post-process) is reproduced on
 * plain byte strings, with the byte-level alphabet kept as raw bytes (the
 * vocabulary is mapped back to bytes once at load), so BPE merges ids,
 * never strings, and each distinct word is merged once per thread (cache).
 *
 * Also here: Unicode helpers (unicode.c) and the regex engine (regex.c) the
 * pre-tokenizer patterns need.
 */
#ifndef FTC_RUNTIME_TOKENIZER_H
#define FTC_RUNTIME_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* ---- Unicode (unicode.c) ------------------------------------------------ */
/* \p{L}, \p{N}, \s, and word characters (those a single_word added token
 * may not touch) */
enum { RT_UC_L = 1, RT_UC_N = 2, RT_UC_S = 4, RT_UC_W = 8 };
void rt_uc_init(void);                    /* builds the class table once */
int rt_uc_class(uint32_t cp);             /* RT_UC_* bits (after rt_uc_init) */
int rt_uc_fold_eq(uint32_t cp, uint32_t c); /* cp matches c ignoring case */
int rt_utf8_dec(const unsigned char *s, size_t n, uint32_t *cp); /* valid input */
int rt_utf8_enc(uint32_t cp, char *out);  /* 1..4 bytes */
size_t rt_utf8_valid_prefix(const unsigned char *s, size_t n);
/* Replaces each invalid sequence by U+FFFD (one per maximal subpart, as
 * Python's errors="replace"); out needs 3*n bytes. Returns its length. */
size_t rt_utf8_repair(const unsigned char *s, size_t n, unsigned char *out);

/* ---- regular expressions (regex.c) -------------------------------------- */
typedef struct rt_re rt_re;
rt_re *rt_re_compile(const char *pat, size_t n, char *err, size_t errcap);
void rt_re_free(rt_re *re);
/* The leftmost match starting at or after `from`: 1 (*ms, *me), 0 none,
 * -1 the pattern backtracked past its budget. s must be valid UTF-8. */
int rt_re_find(const rt_re *re, const char *s, size_t n, size_t from, size_t *ms, size_t *me);

/* ---- the tokenizer -------------------------------------------------------- */
typedef struct rt_tok rt_tok;
typedef struct rt_tok_state rt_tok_state; /* per-thread cache and scratch */

/* Loads tokenizer.json. On error returns NULL after printing one message
 * that names the file and the JSON path of the bad value. */
rt_tok *rt_tok_load(const char *path);
/* The same from bytes (fuzzable): the message goes into err. */
rt_tok *rt_tok_parse(const char *json, size_t n, char *err, size_t errcap);
void rt_tok_free(rt_tok *t);

int32_t rt_tok_vocab_size(const rt_tok *t);    /* largest id + 1 */
int32_t rt_tok_id(const rt_tok *t, const char *token); /* -1 when absent */
/* The token's text as stored (byte-level tokens in their mapped form). */
const char *rt_tok_token(const rt_tok *t, int32_t id);
int rt_tok_is_special(const rt_tok *t, int32_t id);
const char *rt_tok_describe(const rt_tok *t); /* one line: kind, vocab, ... */

rt_tok_state *rt_tok_state_new(const rt_tok *t);
void rt_tok_state_free(rt_tok_state *s);

/* Encodes n bytes of text (invalid UTF-8 is replaced by U+FFFD first) and
 * appends the ids to *ids (grown with realloc; *len and *cap updated).
 * add_special: apply the post-processor (e.g. LLaMA's leading <s>).
 * Returns 0, or -1 with a message in the state (rt_tok_error). */
int rt_tok_encode(rt_tok_state *s, const char *text, size_t n, int add_special, int32_t **ids,
                  size_t *len, size_t *cap);
const char *rt_tok_error(const rt_tok_state *s);
/* Many documents at once over `threads` OpenMP threads (0 = all), one
 * state per thread; the ids of document i are ids[off[i] .. off[i+1]).
 * *ids and *off are owned by the caller (free). Same ids as one by one. */
typedef struct rt_tok_text { const char *s; size_t n; } rt_tok_text;
int rt_tok_encode_batch(const rt_tok *t, const rt_tok_text *docs, size_t n, int add_special,
                        int threads, int32_t **ids, size_t **off, char *err, size_t errcap);
/* Decodes ids to text (appended to *out, NUL-terminated; grown with
 * realloc). skip_special drops special tokens, as the library's default.
 * Returns 0, or -1 when an id is outside the vocabulary. */
int rt_tok_decode(const rt_tok *t, const int32_t *ids, size_t n, int skip_special, char **out,
                  size_t *len, size_t *cap);

#endif
