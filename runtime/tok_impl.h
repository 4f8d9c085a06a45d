/* runtime/tok_impl.h -- private to the tokenizer (tok_load.c, tok_encode.c,
 * tok_decode.c): the loaded tokenizer.json as tables.
 *
 * One idea: the pipeline is data. Each stage of tokenizer.json becomes a
 * flat list of small operations (normalizer ops, pre-tokenizer ops, decoder
 * ops) that the encoder and decoder interpret in order, so a Sequence is
 * just a longer list and every supported variant is one case of a switch.
 */
#ifndef FTC_RUNTIME_TOK_IMPL_H
#define FTC_RUNTIME_TOK_IMPL_H

#include "tokenizer.h"

/* bytes -> id, open addressing (keys live in the tokenizer's strings) */
typedef struct tok_map {
  uint32_t *slot;   /* id + 1, 0 = empty */
  uint32_t mask;
} tok_map;

enum { NM_PREPEND, NM_REPLACE, NM_STRIP };
typedef struct norm_op {
  int kind;
  char *pat, *with;      /* PREPEND: pat; REPLACE: literal pat (or re) -> with */
  size_t plen, wlen;
  rt_re *re;
  int left, right;       /* STRIP */
} norm_op;

enum { PT_SPLIT, PT_BYTELEVEL, PT_METASPACE };
enum { SB_REMOVED, SB_ISOLATED, SB_MERGED_PREV, SB_MERGED_NEXT, SB_CONTIGUOUS };
typedef struct pre_op {
  int kind;
  rt_re *re;             /* SPLIT (regex, or a literal compiled as one) */
  char *lit;             /* SPLIT literal pattern (re == NULL) */
  size_t litlen;
  int behavior, invert;
  int add_prefix_space, use_regex; /* BYTELEVEL */
  char repl[8];          /* METASPACE replacement character (UTF-8) */
  int repl_len;
  int prepend;           /* METASPACE: 0 never, 1 first, 2 always */
  int split;
} pre_op;

enum { DC_BYTELEVEL, DC_REPLACE, DC_BYTEFALLBACK, DC_FUSE, DC_STRIP, DC_METASPACE };
typedef struct dec_op {
  int kind;
  char *pat, *with;      /* REPLACE (literal) */
  size_t plen, wlen;
  uint32_t strip_cp;     /* STRIP: the character, how many at each end */
  int start, stop;
  char repl[8];          /* METASPACE */
  int repl_len, prepend;
} dec_op;

typedef struct added_tok {
  int32_t id;
  char *s;               /* the content, as in the file */
  size_t len;
  char *m;               /* what is matched: a normalized token's content
                            through the normalizer, else the content */
  size_t mlen;
  int single_word, lstrip, rstrip, normalized, special;
} added_tok;

struct rt_tok {
  int32_t nvocab;        /* largest id + 1, model and added tokens */
  char **str;            /* id -> token text as in the file (NULL = none) */
  uint32_t *slen;
  char **key;            /* id -> the model's key: the text, or for a
                            byte-level model its bytes (NULL = none) */
  uint32_t *klen;
  tok_map vocab;         /* model key bytes -> id */
  /* merges: (left id, right id) -> rank and merged id */
  uint64_t *mkey;
  uint32_t *mrank;
  int32_t *mnew;
  uint32_t mmask;
  int byte_level;        /* the model's alphabet is bytes (ByteLevel) */
  int32_t unit_id[256];  /* byte-level: id of each single byte, -1 none */
  int32_t fallback[256]; /* <0xXX> tokens, -1 none */
  int byte_fallback, fuse_unk, ignore_merges;
  int32_t unk;           /* -1 none */
  added_tok *added;
  int nadded;
  uint8_t *special;      /* id -> 1 for special added tokens (nvocab) */
  uint8_t first_byte[2][256]; /* added tokens starting with a byte [normalized] */
  norm_op *norm;
  int nnorm;
  pre_op *pre;
  int npre;
  dec_op *dec;
  int ndec;
  int32_t *post_pre, *post_post; /* TemplateProcessing: ids around $A */
  int npost_pre, npost_post;
  char desc[256];
};

/* the GPT-2 byte <-> character alphabet (tok_load.c) */
extern uint32_t rt_tok_byte_char[256];
int rt_tok_char_byte(uint32_t cp); /* -1 when cp is not one of them */

int32_t tok_map_get(const rt_tok *t, const tok_map *m, const char *k, size_t n);
/* s through the normalizer (tok_encode.c); *out owned (malloc). */
int tok_normalized(const rt_tok *t, const char *s, size_t n, char **out, size_t *olen);
/* id of the merge of (a, b), its rank in *rank; -1 when none */
int32_t tok_merge(const rt_tok *t, int32_t a, int32_t b, uint32_t *rank);

#endif
