/* tests/unit/test_rt_data.c -- the data loader: train/val split, windows
 * (targets = tokens shifted by one), seeded determinism, the saved position,
 * token shards (u16/u32 round trip through the writer) and bad shards
 * (truncated, bad magic, token outside the vocabulary); a directory of
 * shards read in name order with every file checked, and the token counts
 * the compiler checks a window against. */
#include "test_rt_util.h"
#include "rt_internal.h"
#include <sys/stat.h>

enum { B = 3, T = 8 };

int main(void) {
  tmp_init("test_rt_data");
  /* text: bytes i % 251, so every window is checkable */
  static unsigned char text[1000];
  for (int i = 0; i < 1000; i++) text[i] = (unsigned char)(i % 251);
  write_bytes(tp("t.txt"), text, sizeof text);
  rt_data_cfg cfg = {RT_DATA_TEXT, tp("t.txt"), B, T, 256, 0.9};
  rt_data d, e;
  CHECK(rt_data_open(&d, &cfg, 42) == 0, "open text");
  CHECK(d.n == 1000 && d.ntrain == 900, "split %lld / %lld", (long long)d.ntrain, (long long)d.n);
  int32_t tok[B * T], tgt[B * T], tok2[B * T], tgt2[B * T];
  int ok_windows = 1;
  for (int k = 0; k < 50; k++) {
    rt_data_next(&d, tok, tgt);
    for (int b = 0; b < B; b++) {
      /* recover the start: token value = pos % 251; train positions < 900 */
      for (int t = 0; t < T; t++) {
        if (tgt[b * T + t] != (tok[b * T + t] + 1) % 251) ok_windows = 0;
        if (t && tok[b * T + t] != (tok[b * T + t - 1] + 1) % 251) ok_windows = 0;
      }
    }
  }
  CHECK(ok_windows, "windows are contiguous and targets are shifted by one");
  CHECK(d.batches == 50, "batches counted");
  /* determinism + restoring the position */
  CHECK(rt_data_open(&e, &cfg, 42) == 0, "open again");
  rt_data_next(&e, tok, tgt);
  rt_rng saved = e.rng;
  rt_data_next(&e, tok, tgt);
  rt_data_next(&e, tok2, tgt2);
  e.rng = saved;
  rt_data_next(&e, tok, tgt);
  int same = 1;
  rt_data_next(&e, tok, tgt);
  for (int i = 0; i < B * T; i++) same &= tok[i] == tok2[i] && tgt[i] == tgt2[i];
  CHECK(same, "restored RNG state replays the same batches");
  rt_data_close(&e);
  cfg.path = tp("t.txt");
  CHECK(rt_data_open(&e, &cfg, 43) == 0, "other seed");
  rt_data_next(&e, tok2, tgt2);
  rt_data_close(&d);
  CHECK(rt_data_open(&d, &cfg, 42) == 0, "seed 42");
  rt_data_next(&d, tok, tgt);
  same = 1;
  for (int i = 0; i < B * T; i++) same &= tok[i] == tok2[i];
  CHECK(!same, "another seed gives other batches");
  rt_data_close(&e);
  /* the global-batch rule: rows of a batch of 2B drawn in two halves (two
   * micro-batches, or two ranks) equal one draw of 2B rows, and both loaders
   * are at the same position afterwards */
  {
    rt_data_cfg c2 = cfg;
    c2.batch = 2 * B;
    rt_data w, h;
    CHECK(rt_data_open(&w, &c2, 9) == 0 && rt_data_open(&h, &cfg, 9) == 0, "open for rows");
    int32_t wt[2 * B * T], wg[2 * B * T], ht[2 * B * T], hg[2 * B * T];
    int eq = 1;
    for (int step = 0; step < 3; step++) {
      rt_data_next(&w, wt, wg);
      rt_data_rows(&h, B, B, ht + B * T, hg + B * T); /* order does not matter */
      rt_data_rows(&h, 0, B, ht, hg);
      rt_data_advance(&h, 2 * B);
      for (int i = 0; i < 2 * B * T; i++) eq &= wt[i] == ht[i] && wg[i] == hg[i];
    }
    CHECK(eq, "micro-batches of a global batch read the rows one batch of 2B reads");
    CHECK(w.rng.s == h.rng.s && w.batches == h.batches, "same position after the split");
    rt_data_close(&w);
    rt_data_close(&h);
  }
  /* val windows: from the val part only, fixed */
  int64_t vb = rt_data_val_batches(&d);
  CHECK(vb == ((100 - 1) / T + B - 1) / B, "val batches %lld", (long long)vb);
  rt_data_val(&d, 0, tok, tgt);
  CHECK(tok[0] == 900 % 251 && tok[T] == (900 + T) % 251, "val windows start at the split");
  rt_data_val(&d, 0, tok2, tgt2);
  CHECK(!memcmp(tok, tok2, sizeof tok), "val deterministic");
  rt_data_close(&d);
  /* split too big for a window; split 1.0 has no val */
  cfg.split = 0.005;
  CHECK(rt_data_open(&d, &cfg, 1) != 0, "train part smaller than a window");
  cfg.split = 1.0;
  CHECK(rt_data_open(&d, &cfg, 1) == 0 && rt_data_val_batches(&d) == 0, "no val part");
  rt_data_close(&d);
  cfg.vocab = 100;
  CHECK(rt_data_open(&d, &cfg, 1) != 0, "byte text needs vocab >= 256");
  cfg.path = tp("missing.txt");
  cfg.vocab = 256;
  CHECK(rt_data_open(&d, &cfg, 1) != 0, "missing file");

  /* shards: u16 and u32 round trips */
  static uint32_t toks[500];
  for (int i = 0; i < 500; i++) toks[i] = (uint32_t)(i * 7 % 300);
  for (int elem = 2; elem <= 4; elem += 2) {
    rt_shard_writer *w = rt_shard_open(tp("s.bin"), elem);
    CHECK(w != NULL, "shard open");
    CHECK(rt_shard_append(w, toks, 200) == 0 && rt_shard_append(w, toks + 200, 300) == 0,
          "append");
    CHECK(rt_shard_close(w) == 0, "close");
    rt_data_cfg sc = {RT_DATA_SHARDS, tp("s.bin"), B, T, 300, 0.8};
    CHECK(rt_data_open(&d, &sc, 5) == 0, "open shard u%d", elem * 8);
    CHECK(d.n == 500 && d.ntrain == 400 && d.elem == elem, "shard header");
    rt_data_val(&d, 0, tok, tgt);
    CHECK(tok[0] == (int32_t)toks[400] && tgt[0] == (int32_t)toks[401] &&
              tok[T - 1] == (int32_t)toks[400 + T - 1], "shard tokens");
    rt_data_close(&d);
    sc.vocab = 299;
    CHECK(rt_data_open(&d, &sc, 5) != 0, "token 299 outside a 299 vocabulary");
  }
  rt_shard_writer *w = rt_shard_open(tp("big.bin"), 2);
  uint32_t big = 70000;
  CHECK(rt_shard_append(w, &big, 1) != 0, "u16 overflow refused");
  rt_shard_abort(w);
  CHECK(count_files_with(tmp_root, ".tmp.") == 0 && count_files_with(tmp_root, "big") == 0,
        "abort leaves nothing");
  CHECK(rt_shard_open(tp("x.bin"), 3) == NULL, "bad token size");
  /* truncated and corrupt shards */
  long n;
  unsigned char *s = slurp(tp("s.bin"), &n);
  rt_data_cfg sc = {RT_DATA_SHARDS, tp("cut.bin"), B, T, 300, 0.8};
  write_bytes(tp("cut.bin"), s, (size_t)n - 3);
  CHECK(rt_data_open(&d, &sc, 5) != 0, "truncated shard");
  write_bytes(tp("cut.bin"), s, 20);
  CHECK(rt_data_open(&d, &sc, 5) != 0, "header only");
  s[0] = 'X';
  write_bytes(tp("cut.bin"), s, (size_t)n);
  CHECK(rt_data_open(&d, &sc, 5) != 0, "bad magic");
  s[0] = 'F';
  s[8] = 9;
  write_bytes(tp("cut.bin"), s, (size_t)n);
  CHECK(rt_data_open(&d, &sc, 5) != 0, "bad version");
  s[8] = 1;
  s[23] = 0x80; /* count's top byte: absurd size */
  write_bytes(tp("cut.bin"), s, (size_t)n);
  CHECK(rt_data_open(&d, &sc, 5) != 0, "absurd count");
  free(s);

  /* a directory of shards: concatenated in name order (written out of
   * order here), every file checked, one token size */
  CHECK(mkdir(tp("dir"), 0777) == 0, "mkdir");
  const char *parts[3] = {"dir/b-001.bin", "dir/a-000.bin", "dir/c-002.bin"};
  const int from[3] = {100, 0, 300}, len[3] = {200, 100, 200};
  for (int i = 0; i < 3; i++) {
    rt_shard_writer *sw = rt_shard_open(tp(parts[i]), 2);
    CHECK(sw && rt_shard_append(sw, toks + from[i], len[i]) == 0 && rt_shard_close(sw) == 0,
          "write %s", parts[i]);
  }
  char dir[512];
  snprintf(dir, sizeof dir, "%s", tp("dir")); /* tp's buffers rotate */
  rt_data_cfg dc = {RT_DATA_SHARDS, dir, B, T, 300, 1.0};
  CHECK(rt_data_open(&d, &dc, 5) == 0, "open a shard directory");
  int in_order = d.n == 500 && d.elem == 2;
  for (int64_t i = 0; in_order && i < 500; i++)
    in_order = ((const uint16_t *)d.tok)[i] == toks[i];
  CHECK(in_order, "the directory's tokens are its shards in name order (n %lld)", (long long)d.n);
  rt_data_close(&d);
  CHECK(rt_data_count(1, dir) == 500 && rt_data_count(1, tp("s.bin")) == 500 &&
            rt_data_count(0, tp("t.txt")) == 1000 && rt_data_count(0, tp("none")) == -1,
        "token counts of a directory, a shard, a text file, a missing file");
  CHECK(rt_data_needed(T, 1.0) == T + 1 && rt_data_needed(T, 0.9) == 10 &&
            rt_data_needed(128, 0.95) == 136,
        "tokens needed for one window (%lld, %lld, %lld)", (long long)rt_data_needed(T, 1.0),
        (long long)rt_data_needed(T, 0.9), (long long)rt_data_needed(128, 0.95));
  write_bytes(tp("dir/d-003.txt"), "not a shard", 11);
  CHECK(rt_data_open(&d, &dc, 5) != 0, "a stray file in the directory is an error");
  CHECK(rt_data_count(1, dir) == -1, "and makes the count unknown");
  remove(tp("dir/d-003.txt"));
  rt_shard_writer *sw = rt_shard_open(tp("dir/d-003.bin"), 4);
  CHECK(sw && rt_shard_append(sw, toks, 10) == 0 && rt_shard_close(sw) == 0, "u32 shard");
  CHECK(rt_data_open(&d, &dc, 5) != 0, "mixed token sizes are an error");
  remove(tp("dir/d-003.bin"));
  write_bytes(tp("dir/.hidden"), "x", 1);
  CHECK(rt_data_open(&d, &dc, 5) == 0 && d.n == 500, "hidden files are not shards");
  rt_data_close(&d);
  dc.vocab = 250;
  CHECK(rt_data_open(&d, &dc, 5) != 0, "every shard's tokens are checked against the vocab");
  CHECK(mkdir(tp("empty"), 0777) == 0, "mkdir empty");
  dc.path = tp("empty");
  dc.vocab = 300;
  CHECK(rt_data_open(&d, &dc, 5) != 0, "an empty directory is an error");

  tmp_cleanup();
  return check_exit("test_rt_data");
}
