/* tests/unit/test_plan_passes.c -- the pass manager: a registered plugin
 * pass with typed parameters runs with its defaults and given values, in
 * recipe order within its stage; requires/conflicts/before facts and bad
 * arguments are diagnostics at the recipe with the reason; the registry is
 * exported as AstSig signatures.
 */
#include "test_autodiff_util.h"
#include "test_pass_util.h"

static int runs[8], nruns;
static int64_t seen_k;
static double seen_f;
static char seen_buf[64];
static const char *seen_s; /* copied: argument strings live during run() */

static int run_a(IrGraph *g, const PassArgs *a, Diag *d) {
  (void)g;
  (void)d;
  runs[nruns++] = 1;
  seen_k = pass_int(a, "k");
  seen_f = pass_float(a, "f");
  snprintf(seen_buf, sizeof seen_buf, "%s", pass_str(a, "s"));
  seen_s = seen_buf;
  return 0;
}
static int run_b(IrGraph *g, const PassArgs *a, Diag *d) {
  (void)g;
  (void)a;
  (void)d;
  runs[nruns++] = 2;
  return 0;
}

static const PassParam pa_params[] = {{"k", PP_INT, "3", "an int", NULL},
                                      {"f", PP_FLOAT, "0.5", "a float", NULL},
                                      {"s", PP_STRING, "\"*\"", "a string", NULL},
                                      {0}};
static const PassFact pa_requires[] = {{"test_b", "test_a reads what test_b writes"}, {0}};
static const char *const pa_before[] = {"test_b", NULL};
static const Pass pass_a = {"test_a", "A test pass.", pa_params, pa_requires, NULL, pa_before,
                            IR_PHASE_FWD, run_a};
static const PassParam none[] = {{0}};
static const PassFact pb_conflicts[] = {{"test_c", "they disagree"}, {0}};
static const Pass pass_b = {"test_b", "Another.", none, NULL, pb_conflicts, NULL, IR_PHASE_FWD,
                            run_b};
static const Pass pass_c = {"test_c", "A third.", none, NULL, NULL, NULL, IR_PHASE_BWD, run_b};

/* Runs `passes { body }`'s forward stage on G, counting the test passes' runs. */
static int run_block(const char *body, char **out) {
  nruns = 0;
  return run_passes(G, "t.ft", body, out);
}

static void expect_error(const char *body, const char *msg) {
  char *out = NULL;
  int rc = run_block(body, &out);
  CHECK(rc == -1, "'%s' was accepted", body);
  CHECK(out && strstr(out, msg), "'%s': wanted \"%s\", got:\n%s", body, msg, out ? out : "");
  CHECK(nruns == 0, "'%s': a pass ran despite errors", body);
  free(out);
}

int main(void) {
  G = ir_graph_new();
  CHECK(pass_register(&pass_a) == 0 && pass_register(&pass_b) == 0 &&
            pass_register(&pass_c) == 0, "register failed");
  CHECK(pass_register(&pass_a) == -1, "a duplicate name was registered");
  CHECK(pass_find("test_a") == &pass_a && pass_find("lora") != NULL, "pass_find");

  char *out = NULL;
  int rc = run_block("test_a test_b", &out);
  CHECK(rc == 0, "valid list rejected:\n%s", out);
  CHECK(nruns == 2 && runs[0] == 1 && runs[1] == 2, "order of runs wrong (%d)", nruns);
  CHECK(seen_k == 3 && seen_f == 0.5 && seen_s && !strcmp(seen_s, "*"), "defaults wrong");
  free(out);
  rc = run_block("test_a(7, s: \"x.*\", f: 2) test_b", &out);
  CHECK(rc == 0 && seen_k == 7 && seen_f == 2.0 && seen_s && !strcmp(seen_s, "x.*"), "args wrong:\n%s", out);
  free(out);

  expect_error("test_a", "t.ft:2:3: error: pass 'test_a' requires 'test_b': test_a reads");
  expect_error("test_b test_a", "pass 'test_a' must come before 'test_b'");
  expect_error("test_b test_c", "t.ft:2:10: error: pass 'test_c' cannot be combined with 'test_b': "
                                "they disagree");
  expect_error("test_a(k: \"no\") test_b", "argument 'k' of pass 'test_a' must be an int");
  expect_error("test_a(z: 1) test_b", "pass 'test_a' has no parameter 'z'");
  expect_error("test_a(1, 2, \"a\", 4) test_b", "takes at most 3 arguments");
  expect_error("test_b test_b", "pass 'test_b' is listed twice");
  expect_error("lorra", "unknown pass 'lorra' (did you mean 'lora'?)");
  expect_error("hift", "pass 'hift' needs argument 'groups'");
  expect_error("qlora(rank: 4)", "pass 'qlora' is not implemented yet");

  /* the signatures ast_check sees */
  const AstSig *s = ftc_pass_sigs();
  int found = 0;
  for (; s->name; s++)
    if (!strcmp(s->name, "lora")) {
      found = 1;
      CHECK(strstr(s->params, "rank: int = 8") && strstr(s->params, "target: string = \""),
            "lora signature: %s", s->params);
    }
  CHECK(found, "lora missing from the signatures");

  /* lang's fallback table (builtins.def: what lang-only tools such as the
   * fuzzer check passes against) must say what the registry says */
  for (s = ftc_pass_sigs(); s->name; s++) {
    if (!strncmp(s->name, "test_", 5)) continue; /* registered by this test */
    const AstSig *f = ast_default_passes();
    while (f->name && strcmp(f->name, s->name)) f++;
    CHECK(f->name, "pass '%s' is missing from lang/builtins.def", s->name);
    if (f->name)
      CHECK(!strcmp(f->params, s->params), "builtins.def says %s(%s), the registry %s(%s)",
            s->name, f->params, s->name, s->params);
  }
  for (const AstSig *f = ast_default_passes(); f->name; f++) {
    s = ftc_pass_sigs();
    while (s->name && strcmp(s->name, f->name)) s++;
    CHECK(s->name, "lang/builtins.def lists pass '%s', which the registry lacks", f->name);
  }
  ir_graph_free(G);
  return check_exit("test_plan_passes");
}
