/* runtime/json.h -- a JSON reader for the files ftc takes from the Hugging
 * Face world: tokenizer.json, config.json, safetensors index files, JSONL
 * instruction data.
 *
 * One idea: parse once into a read-only tree whose nodes know their parent
 * and their key or index, so a loader that finds a bad value can name it by
 * its path in the document ("model.vocab[\"ab\"]", "added_tokens[3].id")
 * without carrying context around. The parser takes bytes (no file), so it
 * is fuzzable as it is; every error is a message, never a crash.
 * Ownership: rt_json_parse returns a document that owns every node and
 * string; rt_json_free releases all of it.
 */
#ifndef FTC_RUNTIME_JSON_H
#define FTC_RUNTIME_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum { RT_JNULL, RT_JBOOL, RT_JNUM, RT_JSTR, RT_JARR, RT_JOBJ } rt_jtype;

typedef struct rt_json rt_json;
struct rt_json {
  rt_jtype t;
  int b;                  /* RT_JBOOL */
  double num;             /* RT_JNUM */
  int integral;           /* RT_JNUM written without fraction or exponent */
  int64_t i;              /* RT_JNUM when integral and in range */
  const char *s;          /* RT_JSTR: NUL-terminated (may also hold NULs) */
  size_t len;             /* its length in bytes */
  rt_json **kids;         /* RT_JARR items / RT_JOBJ values, n of them */
  const char **keys;      /* RT_JOBJ: the key of each value */
  size_t *klen;
  int n;
  const rt_json *parent;  /* NULL at the root */
  int idx;                /* position in the parent */
  int line, col;          /* where the value starts (1-based) */
};

typedef struct rt_json_doc rt_json_doc;

/* Parses n bytes. On error returns NULL and writes "LINE:COL: what" into
 * err. Depth is limited (nesting beyond 256 levels is an error). */
rt_json_doc *rt_json_parse(const char *text, size_t n, char *err, size_t errcap);
const rt_json *rt_json_root(const rt_json_doc *d);
void rt_json_free(rt_json_doc *d);

/* Object member by key (NULL when absent or v is not an object). */
const rt_json *rt_json_get(const rt_json *v, const char *key);
/* v's path from the root, e.g. `model.vocab["a b"]` or `added_tokens[3]`
 * ("(root)" for the root); written into buf, returned. */
const char *rt_json_path(const rt_json *v, char *buf, size_t cap);
const char *rt_json_type_name(rt_jtype t);
/* Integer value in [lo, hi]: 0 ok, -1 not (wrong type, fraction, range). */
int rt_json_int(const rt_json *v, int64_t lo, int64_t hi, int64_t *out);

#endif
