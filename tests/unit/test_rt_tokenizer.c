/* tests/unit/test_rt_tokenizer.c -- the tokenizer's pieces without Python:
 * the JSON reader (values, paths, errors with line:col, surrogates, depth),
 * UTF-8 repair (Python's errors="replace"), the regex engine (leftmost-first
 * alternation, greedy and lazy quantifiers, lookahead, classes, case
 * folding, compile errors), a hand-made byte-level tokenizer (merges by
 * rank, added tokens, decode), and a mutation loop: thousands of damaged
 * tokenizer.json files must each load or fail with a message, never crash
 * (the sanitizer build runs this too). The library comparison is in
 * tests/tokenizer/run.sh. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"
#include "tokenizer.h"

static void json_tests(void) {
  char err[256], path[256];
  const char *doc = "{\"a\": [1, 2.5, -3e2, true, null, \"x\\u00e9\\ud83d\\ude00\"],\n"
                    " \"b c\": {\"d\": \"\"}, \"n\": 123456789012}";
  rt_json_doc *d = rt_json_parse(doc, strlen(doc), err, sizeof err);
  CHECK(d, "parses: %s", err);
  if (!d) return;
  const rt_json *r = rt_json_root(d), *a = rt_json_get(r, "a");
  CHECK(a && a->t == RT_JARR && a->n == 6, "array of 6");
  int64_t i;
  CHECK(rt_json_int(a->kids[0], 0, 10, &i) == 0 && i == 1, "integer");
  CHECK(rt_json_int(a->kids[1], 0, 10, &i) < 0 && a->kids[1]->num == 2.5, "2.5 is not an integer");
  CHECK(a->kids[2]->num == -300 && !a->kids[2]->integral, "exponent");
  CHECK(a->kids[3]->t == RT_JBOOL && a->kids[3]->b && a->kids[4]->t == RT_JNULL, "literals");
  CHECK(a->kids[5]->len == 7 && !memcmp(a->kids[5]->s, "x\xc3\xa9\xf0\x9f\x98\x80", 7),
        "escapes and a surrogate pair to UTF-8");
  const rt_json *e = rt_json_get(rt_json_get(r, "b c"), "d");
  CHECK(e && !strcmp(rt_json_path(e, path, sizeof path), "[\"b c\"].d"), "path %s", path);
  CHECK(!strcmp(rt_json_path(a->kids[5], path, sizeof path), "a[5]"), "path %s", path);
  CHECK(e->line == 2, "line of a value %d", e->line);
  CHECK(rt_json_int(rt_json_get(r, "n"), 0, INT64_MAX, &i) == 0 && i == 123456789012LL, "int64");
  rt_json_free(d);
  static const struct { const char *text, *err; } bad[] = {
      {"", "1:1: expected a value, found the end of the input"},
      {"{\"a\": 1,}", "1:9: expected a key string"},
      {"[1 2]", "1:4: expected ',' or ']'"},
      {"\"\\ud800\"", "1:2: high surrogate \\uD800 without its low half"},
      {"\"\\udc00\"", "1:2: lone low surrogate \\uDC00"},
      {"\"\xff\"", "1:2: invalid UTF-8 in a string"},
      {"\"a\nb\"", "1:3: control character 0x0a in a string (escape it)"},
      {"01", "1:2: unexpected text after the JSON value"},
      {"{\"a\":\n tru}", "2:2: invalid literal"},
      {"[1] x", "1:5: unexpected text after the JSON value"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    d = rt_json_parse(bad[k].text, strlen(bad[k].text), err, sizeof err);
    CHECK(!d && !strcmp(err, bad[k].err), "'%s': got '%s', want '%s'", bad[k].text, d ? "(parsed)" : err,
          bad[k].err);
    rt_json_free(d);
  }
  char deep[1200];
  memset(deep, '[', 600);
  memset(deep + 600, ']', 600);
  d = rt_json_parse(deep, 1200, err, sizeof err);
  CHECK(!d && strstr(err, "nested deeper than 256"), "depth limit: %s", err);
}

static void utf8_tests(void) {
  static const struct { const char *in, *out; } cases[] = {
      {"a\xff" "b", "a\xef\xbf\xbd" "b"},
      {"\xe2\x82", "\xef\xbf\xbd"},                     /* truncated: one U+FFFD */
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate: three */
      {"\xf0\x9f\x98", "\xef\xbf\xbd"},
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"ok \xc3\xa9", "ok \xc3\xa9"},
  };
  unsigned char out[64];
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    size_t n = rt_utf8_repair((const unsigned char *)cases[k].in, strlen(cases[k].in), out);
    CHECK(n == strlen(cases[k].out) && !memcmp(out, cases[k].out, n), "repair case %zu", k);
  }
}

/* all matches of a pattern, "a-b a-b ..." byte offsets */
static void matches(const char *pat, const char *text, const char *want) {
  char err[256], got[512] = "";
  rt_re *re = rt_re_compile(pat, strlen(pat), err, sizeof err);
  CHECK(re, "compile %s: %s", pat, err);
  if (!re) return;
  size_t from = 0, n = strlen(text), ms, me, k = 0;
  while (from <= n && rt_re_find(re, text, n, from, &ms, &me) == 1) {
    k += (size_t)snprintf(got + k, sizeof got - k, "%s%zu-%zu", k ? " " : "", ms, me);
    from = me > ms ? me : me + 1;
  }
  CHECK(!strcmp(got, want), "/%s/ on '%s': got '%s', want '%s'", pat, text, got, want);
  rt_re_free(re);
}

static void regex_tests(void) {
  rt_uc_init();
  matches("a|ab", "ab", "0-1");                 /* leftmost-first, not longest */
  matches("ab|a", "ab", "0-2");
  matches("a+", "caaab", "1-4");
  matches("a+?", "aa", "0-1 1-2");
  matches("a{2,3}", "aaaaaaa", "0-3 3-6");
  matches("x{2}", "xxx", "0-2");
  matches("\\s+(?!\\S)|\\s+", "a   b", "1-3 3-4");
  matches("(?i:'s|'t)", "'S 't 'x '\xc5\xbf", "0-2 3-5 9-12");
  matches("[^\\s\\p{L}]+", "ab, 12!", "2-3 4-7");
  matches("\\p{N}{1,3}", "12345", "0-3 3-5");
  matches("[a-c\\-]", "b-d", "0-1 1-2");
  matches("\\p{L}+", "h\xc3\xa9llo w", "0-6 7-8");
  matches("(?=b)", "ab", "1-1");
  matches(".", "a\nb", "0-1 2-3");
  matches("\\x41\\u00e9", "A\xc3\xa9", "0-3");
  static const char *const bad[] = {"(a", "a)", "[a", "a**", "(?<=a)", "\\p{Lu}", "a{3,1}",
                                    "(?:a*)*", "\\q", "[[a]]", "a{x}", "(?i)a"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    char err[256] = "";
    rt_re *re = rt_re_compile(bad[k], strlen(bad[k]), err, sizeof err);
    CHECK(!re && err[0], "/%s/ should not compile", bad[k]);
    rt_re_free(re);
  }
}

/* A byte-level tokenizer by hand: bytes a b c and merges ab (rank 0), bc
 * (rank 1), abc (rank 2); so "abc" -> ab + c -> abc; "bcab" -> bc ab. */
static const char tiny[] =
    "{\"added_tokens\": [{\"id\": 7, \"content\": \"<|e|>\", \"special\": true, \"normalized\": false}],"
    " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},"
    " \"decoder\": {\"type\": \"ByteLevel\"},"
    " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"\\u0120\": 3,"
    " \"ab\": 4, \"bc\": 5, \"abc\": 6}, \"merges\": [\"a b\", [\"b\", \"c\"], \"ab c\"]}}";

static void encode_is(rt_tok *t, const char *text, const char *want) {
  rt_tok_state *s = rt_tok_state_new(t);
  int32_t *ids = NULL;
  size_t len = 0, cap = 0;
  char got[256] = "";
  CHECK(rt_tok_encode(s, text, strlen(text), 1, &ids, &len, &cap) == 0, "encode");
  for (size_t i = 0, k = 0; i < len; i++)
    k += (size_t)snprintf(got + k, sizeof got - k, "%s%d", i ? " " : "", ids[i]);
  CHECK(!strcmp(got, want), "'%s' -> '%s', want '%s'", text, got, want);
  char *out = NULL;
  size_t olen = 0, ocap = 0;
  CHECK(rt_tok_decode(t, ids, len, 0, &out, &olen, &ocap) == 0 && !strcmp(out, text),
        "decode gives '%s' back (got '%s')", text, out ? out : "");
  free(out);
  free(ids);
  rt_tok_state_free(s);
}

static void tokenizer_tests(void) {
  char err[512];
  rt_tok *t = rt_tok_parse(tiny, sizeof tiny - 1, err, sizeof err);
  CHECK(t, "the tiny tokenizer loads: %s", err);
  if (!t) return;
  encode_is(t, "abc", "6");
  encode_is(t, "bcab", "5 4");
  encode_is(t, "ab<|e|>c ab", "4 7 2 3 4");
  encode_is(t, "", "");
  CHECK(rt_tok_vocab_size(t) == 8 && rt_tok_id(t, "<|e|>") == 7 && rt_tok_is_special(t, 7),
        "vocab and specials");
  int32_t bad_id = 99;
  char *out = NULL;
  size_t ol = 0, oc = 0;
  CHECK(rt_tok_decode(t, &bad_id, 1, 1, &out, &ol, &oc) < 0, "an id out of range is an error");
  free(out);
  rt_tok_free(t);

  /* mutations: flipped bytes, cuts, spliced JSON fragments */
  static const char *const frags[] = {"null", "[", "]", "{", "}", "\"", ",", "-1", "1e999",
                                      "\"\\ud800\"", "{\"type\": \"Sequence\"}", "[[[]]]", "\"x\"",
                                      "true", "0.5", "\"Regex\"", "\"(\"", ":"};
  char buf[sizeof tiny + 64];
  unsigned long long rng = 16;
  int loaded = 0, failed = 0, silent = 0;
  for (int k = 0; k < 3000; k++) {
    size_t n = sizeof tiny - 1;
    memcpy(buf, tiny, n);
    int muts = 1 + k % 3;
    for (int m = 0; m < muts; m++) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      if (n == 0) break;
      size_t at = (size_t)(rng >> 33) % n;
      switch ((rng >> 20) % 3) {
      case 0: buf[at] = (char)(rng >> 40); break;
      case 1: n = at; break;
      default: {
        const char *f = frags[(rng >> 44) % (sizeof frags / sizeof frags[0])];
        size_t fl = strlen(f);
        if (n + fl < sizeof buf) {
          memmove(buf + at + fl, buf + at, n - at);
          memcpy(buf + at, f, fl);
          n += fl;
        }
      }
      }
    }
    err[0] = 0;
    t = rt_tok_parse(buf, n, err, sizeof err);
    if (t) {
      loaded++;
      rt_tok_state *s = rt_tok_state_new(t);
      int32_t *ids = NULL;
      size_t len = 0, cap = 0;
      rt_tok_encode(s, "abc cab <|e|>", 13, 1, &ids, &len, &cap);
      free(ids);
      rt_tok_state_free(s);
      rt_tok_free(t);
    } else {
      failed++;
      silent += !err[0];
    }
  }
  CHECK(silent == 0, "%d damaged files failed without a message", silent);
  CHECK(loaded > 0 && failed > 0, "mutations: %d loaded, %d refused", loaded, failed);
  printf("mutations: %d loaded, %d refused with a message\n", loaded, failed);
}

int main(void) {
  json_tests();
  utf8_tests();
  regex_tests();
  tokenizer_tests();
  return check_exit("test_rt_tokenizer");
}
