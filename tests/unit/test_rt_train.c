/* tests/unit/test_rt_train.c -- libftrt end to end on a hand-made model
 * (tests/runtime/bigram.h): training lowers the loss, --resume replays the
 * same losses bitwise, gradcheck passes (and catches a broken backward),
 * failed checkpoint writes keep the old file, bad files and flags give the
 * documented exit codes, weights load by Hugging Face name. */
#include "test_rt_util.h"
#include "../runtime/bigram.h"
#include "rt_internal.h"

/* Losses of the step lines of a metrics.jsonl, in order. */
static int read_losses(const char *path, double *out, int max) {
  long n;
  unsigned char *b = slurp(path, &n);
  if (!b) return -1;
  int k = 0;
  for (char *line = strtok((char *)b, "\n"); line && k < max; line = strtok(NULL, "\n")) {
    char *p = strstr(line, "\"loss\": ");
    if (p) out[k++] = strtod(p + 8, NULL);
  }
  free(b);
  return k;
}

static void make_text(const char *path) {
  const char *w[] = {"the cat sat on the mat. ", "a dog ran far. ", "hello world! ",
                     "abc abc abc "};
  FILE *f = fopen(path, "w");
  uint64_t s = 7;
  for (int i = 0; i < 2000; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    fputs(w[(s >> 33) % 4], f);
  }
  fclose(f);
}

int main(void) {
  tmp_init("test_rt_train");
  const char *text = tp("text.txt");
  make_text(text);
  char dA[512], dB[512], dC[512];
  snprintf(dA, sizeof dA, "%s", tp("A"));
  snprintf(dB, sizeof dB, "%s", tp("B"));
  snprintf(dC, sizeof dC, "%s", tp("C"));
  bigram_setup(RT_F32, text, dA);
  const rt_model *m = &bg_model;

  /* flags */
  CHECK(run_main(m, "--help", NULL) == 0, "--help");
  CHECK(run_main(m, "--device", "cuda", NULL) == 2, "--device cuda is a usage error");
  CHECK(run_main(m, "--batch", "8", NULL) == 2, "--batch is compiled in");
  CHECK(run_main(m, "--bogus", NULL) == 2, "unknown flag");
  CHECK(run_main(m, "--steps", "x", NULL) == 2, "bad number");
  CHECK(run_main(m, "--data", tp("missing.txt"), "--quiet", NULL) == 1, "missing data file");

  /* A: 20 uninterrupted steps. */
  CHECK(run_main(m, "--steps", "20", "--quiet", NULL) == 0, "train A");
  double la[64], lb[64];
  char pa[600], pb[600];
  snprintf(pa, sizeof pa, "%s/metrics.jsonl", dA);
  snprintf(pb, sizeof pb, "%s/metrics.jsonl", dB);
  int na = read_losses(pa, la, 64);
  CHECK(na == 20, "A logged %d steps", na);
  CHECK(na == 20 && la[19] < la[0] - 1.5, "loss fell: %g -> %g", la[0], la[na > 0 ? na - 1 : 0]);

  /* B: 10 steps, stop, resume to 20: the same losses bitwise. */
  CHECK(run_main(m, "--steps", "20", "--stop-at", "10", "--out", dB, "--quiet", NULL) == 0,
        "train B first half");
  CHECK(read_losses(pb, lb, 64) == 10, "B stopped at 10");
  CHECK(run_main(m, "--steps", "20", "--resume", "--out", dB, "--quiet", NULL) == 0, "resume B");
  int nb = read_losses(pb, lb, 64);
  CHECK(nb == 20, "B logged %d steps", nb);
  for (int i = 0; i < 20 && i < nb && i < na; i++)
    CHECK(la[i] == lb[i], "step %d: uninterrupted %.9g, resumed %.9g", i + 1, la[i], lb[i]);
  char ca[600], cb[600], mb[600];
  snprintf(ca, sizeof ca, "%s/ckpt.safetensors", dA);
  snprintf(cb, sizeof cb, "%s/ckpt.safetensors", dB);
  snprintf(mb, sizeof mb, "%s/model.safetensors", dB);
  CHECK(same_file(ca, cb), "final checkpoints identical");

  /* Resuming from an older checkpoint drops the metrics logged after it. */
  {
    char dF[512], pf[600], cf[600];
    snprintf(dF, sizeof dF, "%s", tp("F"));
    snprintf(pf, sizeof pf, "%s/metrics.jsonl", dF);
    snprintf(cf, sizeof cf, "%s/ckpt.safetensors", dF);
    CHECK(run_main(m, "--steps", "20", "--stop-at", "10", "--out", dF, "--quiet", NULL) == 0, "F1");
    long nk;
    unsigned char *k10 = slurp(cf, &nk);
    CHECK(run_main(m, "--steps", "20", "--stop-at", "15", "--resume", "--out", dF, "--quiet",
                   NULL) == 0, "F2");
    write_bytes(cf, k10, (size_t)nk);
    free(k10);
    CHECK(run_main(m, "--steps", "20", "--resume", "--out", dF, "--quiet", NULL) == 0, "F3");
    double lf[64];
    int nf = read_losses(pf, lf, 64);
    CHECK(nf == 20, "F logged %d steps", nf);
    for (int i = 0; i < 20 && i < nf && i < na; i++)
      CHECK(la[i] == lf[i], "F step %d: %.9g vs %.9g", i + 1, la[i], lf[i]);
  }

  /* eval and sample use the trained weights */
  CHECK(run_main(m, "eval", "--out", dB, NULL) == 0, "eval");
  CHECK(run_main(m, "sample", "--out", dB, "--prompt", "the c", "--tokens", "20",
                 "--temperature", "0", NULL) == 0, "greedy sample");
  CHECK(run_main(m, "sample", "--out", dB, "--tokens", "20", "--top-k", "5", "--seed", "3",
                 NULL) == 0, "top-k sample");

  /* A failed checkpoint write leaves the old checkpoint intact. */
  long n0;
  unsigned char *before = slurp(cb, &n0);
  rt_st_fail_after = 1000;
  CHECK(run_main(m, "--steps", "25", "--resume", "--out", dB, "--quiet", NULL) == 3,
        "failed save exits 3");
  rt_st_fail_after = -1;
  long n1;
  unsigned char *after = slurp(cb, &n1);
  CHECK(before && after && n0 == n1 && !memcmp(before, after, (size_t)n0),
        "checkpoint unchanged after a failed write");
  CHECK(count_files_with(dB, ".tmp.") == 0, "no temp files left");
  free(before);
  free(after);

  /* A checkpoint from another recipe is refused. */
  bg_model.hash = "some-other-recipe";
  CHECK(run_main(m, "--steps", "25", "--resume", "--out", dB, "--quiet", NULL) == 1,
        "hash mismatch refused");
  bg_model.hash = "bigram-f32-v1";

  /* A truncated checkpoint: clear error, file untouched. */
  long nc;
  unsigned char *ck = slurp(cb, &nc);
  write_bytes(cb, ck, (size_t)nc / 2);
  CHECK(run_main(m, "--steps", "25", "--resume", "--out", dB, "--quiet", NULL) == 1,
        "truncated checkpoint refused");
  long nt;
  unsigned char *tr = slurp(cb, &nt);
  CHECK(nt == nc / 2, "truncated checkpoint not overwritten");
  free(tr);
  write_bytes(cb, ck, (size_t)nc);
  free(ck);

  /* Weights by Hugging Face name, with a "transformer." prefix and extra
   * buffers; wrong shapes and missing tensors name the file and tensor. */
  {
    static float wte[BG_V * BG_V], bias[BG_V], mask[4];
    for (int i = 0; i < BG_V * BG_V; i++) wte[i] = (float)((i * 37) % 11) * 0.01f;
    int64_t s2[2] = {BG_V, BG_V}, s1[1] = {BG_V}, sm[1] = {4}, bad[2] = {BG_V, 2};
    rt_st_out t[3] = {{"transformer.wte.weight", ST_F32, RT_F32, 2, s2, wte},
                      {"transformer.lm_head.bias", ST_F32, RT_F32, 1, s1, bias},
                      {"h.0.attn.bias", ST_F32, RT_F32, 1, sm, mask}};
    CHECK(rt_st_write(tp("hf.safetensors"), t, 3, NULL, 0) == 0, "write hf file");
    CHECK(run_main(m, "eval", "--init", tp("hf.safetensors"), NULL) == 0, "eval --init hf");
    CHECK(run_main(m, "--init", tp("hf.safetensors"), "--out", dC, "--steps", "2", "--quiet",
                   NULL) == 0, "train from --init");
    t[0].shape = bad;
    CHECK(rt_st_write(tp("bad.safetensors"), t, 3, NULL, 0) == 0, "write bad file");
    CHECK(run_main(m, "eval", "--init", tp("bad.safetensors"), NULL) == 1, "wrong shape");
    CHECK(rt_st_write(tp("missing.safetensors"), t + 1, 2, NULL, 0) == 0, "write file");
    CHECK(run_main(m, "eval", "--init", tp("missing.safetensors"), NULL) == 1, "missing tensor");
    CHECK(run_main(m, "eval", "--init", tp("nope.safetensors"), NULL) == 1, "missing file");
  }
  CHECK(run_main(m, "eval", "--init", mb, NULL) == 0, "model.safetensors loads back");

  /* gradcheck: float32 with loose tolerance, float64 tight, broken check_failures. */
  CHECK(run_main(m, "gradcheck", NULL) == 0, "gradcheck f32");
  bigram_setup(RT_F64, text, dA);
  CHECK(run_main(m, "gradcheck", "--tol", "1e-6", NULL) == 0, "gradcheck f64");
  bg_break_backward = 1;
  CHECK(run_main(m, "gradcheck", NULL) == 1, "gradcheck catches a wrong gradient");
  bg_break_backward = 0;

  /* float64 resume exactness too, with SGD momentum. */
  bg_model.train.opt = RT_OPT_SGD;
  bg_model.train.momentum = 0.9;
  bg_model.train.lr = 0.5;
  char dD[512], dE[512];
  snprintf(dD, sizeof dD, "%s", tp("D"));
  snprintf(dE, sizeof dE, "%s", tp("E"));
  CHECK(run_main(m, "--steps", "12", "--out", dD, "--quiet", NULL) == 0, "sgd D");
  CHECK(run_main(m, "--steps", "12", "--stop-at", "5", "--out", dE, "--quiet", NULL) == 0, "E1");
  CHECK(run_main(m, "--steps", "12", "--resume", "--out", dE, "--quiet", NULL) == 0, "E2");
  snprintf(pa, sizeof pa, "%s/metrics.jsonl", dD);
  snprintf(pb, sizeof pb, "%s/metrics.jsonl", dE);
  na = read_losses(pa, la, 64);
  nb = read_losses(pb, lb, 64);
  CHECK(na == 12 && nb == 12, "sgd steps %d %d", na, nb);
  for (int i = 0; i < 12 && i < na && i < nb; i++)
    CHECK(la[i] == lb[i], "sgd step %d: %.17g vs %.17g", i + 1, la[i], lb[i]);
  CHECK(na == 12 && la[11] < la[0], "sgd lowers the loss");

  tmp_cleanup();
  return check_exit("test_rt_train");
}
