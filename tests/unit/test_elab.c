/* tests/unit/test_elab.c -- elaboration of GPT-2 from stdlib/gpt2.ft: the
 * parameter list must be exactly Hugging Face GPT-2's (names, shapes, order),
 * the parameter count must follow the closed formula, the attention
 * composites must be tagged, and the graph must end in logits and loss.
 */
#include "test_elab_util.h"

#define V 256
#define C 64
#define L 2
#define H 4
#define CTX 32
#define B 2
#define TT 16

static void test_gpt2_params(void) {
  Elab e;
  elab(&e,
       "use gpt2\n"
       "model = gpt2.gpt2(vocab: 256, ctx: 32, layers: 2, heads: 4, dim: 64)\n"
       "weights = init(seed: 7)\n"
       "data train = text(\"x.txt\", tokenizer: bytes, seq: 16, batch: 2)\n");
  CHECK(e.g != NULL, "gpt2 elaborates: %s", e.diags);
  if (!e.g) {
    elab_done(&e);
    return;
  }
  IrGraph *g = e.g;
  CHECK(ir_verify(g, stdout) == 0, "verifies");
  /* The expected Hugging Face list, in state-dict order. */
  char names[64][64];
  int64_t shapes[64][2];
  int ranks[64], n = 0;
#define P1(nm, a) (snprintf(names[n], 64, "%s", nm), shapes[n][0] = a, ranks[n++] = 1)
#define P2(nm, a, b) (snprintf(names[n], 64, "%s", nm), shapes[n][0] = a, shapes[n][1] = b, ranks[n++] = 2)
  char nm[64];
  P2("wte.weight", V, C);
  P2("wpe.weight", CTX, C);
  for (int l = 0; l < L; l++) {
#define NM(s) (snprintf(nm, sizeof nm, "h.%d.%s", l, s), nm)
    P1(NM("ln_1.weight"), C);
    P1(NM("ln_1.bias"), C);
    P2(NM("attn.c_attn.weight"), C, 3 * C);
    P1(NM("attn.c_attn.bias"), 3 * C);
    P2(NM("attn.c_proj.weight"), C, C);
    P1(NM("attn.c_proj.bias"), C);
    P1(NM("ln_2.weight"), C);
    P1(NM("ln_2.bias"), C);
    P2(NM("mlp.c_fc.weight"), C, 4 * C);
    P1(NM("mlp.c_fc.bias"), 4 * C);
    P2(NM("mlp.c_proj.weight"), 4 * C, C);
    P1(NM("mlp.c_proj.bias"), C);
  }
  P1("ln_f.weight", C);
  P1("ln_f.bias", C);
  CHECK(n == 2 + 12 * L + 2, "expected list size");
  int k = 0;
  int64_t total = 0;
  for (int i = 0; i < g->n; i++) {
    const IrNode *p = &g->nodes[i];
    if (p->op != IR_PARAM) continue;
    total += ir_numel(&p->shape);
    if (k < n) {
      CHECK(!strcmp(p->name, names[k]), "param %d is %s, want %s", k, p->name, names[k]);
      int ok = p->shape.rank == ranks[k] && p->shape.d[0] == shapes[k][0] &&
               (ranks[k] == 1 || p->shape.d[1] == shapes[k][1]);
      CHECK(ok, "%s has shape %s", p->name, shp(g, i));
      CHECK(p->no_decay == (ranks[k] == 1), "%s no_decay %d", p->name, p->no_decay);
      CHECK(p->trainable && p->role == IR_ROLE_PARAM && p->dtype == IR_F32, "%s flags", p->name);
    }
    k++;
  }
  CHECK(k == n, "%d params, want %d", k, n);
  int64_t want = (int64_t)V * C + (int64_t)CTX * C + (int64_t)L * (12 * C * C + 13 * C) + 2 * C;
  CHECK(total == want, "total params %lld, want %lld", (long long)total, (long long)want);
  /* initializers: GPT-2's scaled residual projections */
  int cp = find_node(g, "h.1.attn.c_proj.weight");
  CHECK(cp >= 0 && g->nodes[cp].init == INIT_NORMAL &&
            g->nodes[cp].init_arg > 0.02 / 2.0001 && g->nodes[cp].init_arg < 0.02 / 1.9999,
        "c_proj std 0.02/sqrt(2*layers)");
  int wpe = find_node(g, "wpe.weight");
  CHECK(wpe >= 0 && g->nodes[wpe].init_arg == 0.01, "wpe std");
  int lnw = find_node(g, "ln_f.weight");
  CHECK(lnw >= 0 && g->nodes[lnw].init == INIT_ONES, "ln weight ones");
  /* inputs, logits, loss */
  CHECK(g->tokens >= 0 && g->nodes[g->tokens].dtype == IR_I32 && !strcmp(shp(g, g->tokens), "[2,16]"), "tokens");
  CHECK(g->targets >= 0 && !strcmp(shp(g, g->targets), "[2,16]"), "targets");
  CHECK(g->logits >= 0 && !strcmp(shp(g, g->logits), "[2,16,256]"), "logits %s", shp(g, g->logits));
  CHECK(g->loss >= 0 && !strcmp(shp(g, g->loss), "[1]") && g->nodes[g->loss].op == IR_CROSS_ENTROPY, "loss");
  /* tied embedding: wte is read by the gather and by the output matmul (tb) */
  int wte = find_node(g, "wte.weight");
  const IrNode *lg = &g->nodes[g->logits];
  CHECK(lg->op == IR_MATMUL && lg->in[1] == wte && lg->ia[1] == 1 && lg->ia[0] == 0, "logits = x @ wte^T");
  int emb = 0, wpe_slice = 0;
  for (int i = 0; i < g->n; i++) {
    if (g->nodes[i].op == IR_EMBEDDING && g->nodes[i].in[0] == wte) emb++;
    if (g->nodes[i].op == IR_SLICE && g->nodes[i].in[0] == wpe) wpe_slice = i;
  }
  CHECK(emb == 1, "one gather of wte");
  CHECK(wpe_slice && !strcmp(shp(g, wpe_slice), "[16,64]"), "wpe.weight[0:T] is a slice");
  /* attention composites */
  CHECK(g->ngroups == L, "%d attention groups", g->ngroups);
  for (int grp = 0; grp < g->ngroups; grp++) {
    int cnt = 0, mask = 0, sm = 0, mm = 0;
    for (int i = 0; i < g->n; i++) {
      const IrNode *x = &g->nodes[i];
      if (x->group != grp) continue;
      cnt++;
      CHECK(x->composite && !strcmp(x->composite, "attention"), "composite name");
      if (x->op == IR_CAUSAL_MASK) {
        mask++;
        CHECK(x->fa[0] < -1e300, "mask fill is -inf");
      }
      if (x->op == IR_SOFTMAX) sm++;
      if (x->op == IR_MATMUL) {
        mm++;
        if (mm == 1) CHECK(x->ia[1] == 1 && !strcmp(shp(g, i), "[2,4,16,16]"), "scores q k^T %s", shp(g, i));
      }
      if (x->op == IR_SCALE) CHECK(x->fa[0] == 0.25, "1/sqrt(head_dim 16)");
    }
    CHECK(cnt == 9 && mask == 1 && sm == 1 && mm == 2, "group %d: %d nodes", grp, cnt);
  }
  /* transposes feeding matmuls fold; no other permutes exist in GPT-2 */
  for (int i = 0; i < g->n; i++)
    if (g->nodes[i].op == IR_PERMUTE) CHECK(g->nodes[i].group >= 0, "stray permute %%%d", i);
  /* readable names and spans into the module files */
  int q = find_node(g, "h.1.attn.q");
  CHECK(q >= 0 && !strcmp(shp(g, q), "[2,16,4,16]"), "h.1.attn.q %s", shp(g, q));
  CHECK(q >= 0 && strstr(g->nodes[q].span.file->path, "gpt2.ft") && g->nodes[q].span.line == 10,
        "q's span is gpt2.ft:10");
  CHECK(find_node(g, "h.0.mlp.c_fc") >= 0 && find_node(g, "ln_f") >= 0, "scope names");
  CHECK(e.r.init_seed == 7 && e.r.seed == 1337 && e.r.init_path == NULL, "weights = init(seed: 7)");
  elab_done(&e);
}

static void test_presets(void) {
  Elab e;
  elab(&e,
       "use gpt2\n"
       "model = gpt2.small(ctx: 32, vocab: 256, layers: 1)\n"
       "data train = text(\"x.txt\", seq: 8, batch: 1)\n");
  CHECK(e.g, "small preset: %s", e.diags);
  if (e.g) {
    int w = find_node(e.g, "h.0.attn.c_attn.weight");
    CHECK(!strcmp(shp(e.g, w), "[768,2304]"), "small dim 768: %s", shp(e.g, w));
    CHECK(find_node(e.g, "h.1.ln_1.weight") < 0, "layers override");
    int q = find_node(e.g, "h.0.attn.attention.q");
    CHECK(!strcmp(shp(e.g, q), "[1,12,8,64]"), "12 heads: %s", shp(e.g, q));
  }
  elab_done(&e);
  elab(&e,
       "use gpt2\n"
       "tiny = gpt2.medium(ctx: 16, vocab: 256)\n"
       "model = tiny(layers: 1)\n"
       "data train = text(\"x.txt\", seq: 16, batch: 1)\n");
  CHECK(e.g, "preset of a preset: %s", e.diags);
  if (e.g) {
    int q = find_node(e.g, "h.0.attn.attention.q");
    CHECK(!strcmp(shp(e.g, q), "[1,16,16,64]"), "medium: 16 heads of 64: %s", shp(e.g, q));
    CHECK(!strcmp(shp(e.g, find_node(e.g, "wpe.weight")), "[16,1024]"), "ctx kept through presets");
  }
  elab_done(&e);
}

static void test_recipe_settings(void) {
  Elab e;
  elab(&e,
       "use gpt2\n"
       "model = gpt2.gpt2(vocab: 256, ctx: 16, layers: 1, heads: 2, dim: 8)\n"
       "weights = load(\"w/init.safetensors\")\n"
       "data train = text(\"data/t.txt\", tokenizer: bytes, seq: 16, batch: 3, split: 0.8)\n"
       "train {\n"
       "  steps 2 * 300\n"
       "  optimizer adamw(lr: 3e-3, betas: (0.9, 0.95), eps: 1e-6, weight_decay: 0.1)\n"
       "  schedule cosine(warmup: 50, min_lr: 3e-4)\n"
       "  clip 1.0\n"
       "  precision fp32\n"
       "  accumulate 1\n"
       "  eval every 100 on train.val\n"
       "  eval_batches 4\n"
       "  save every 300 to \"runs/x\"\n"
       "  log every 10\n"
       "  seed 42\n"
       "}\n");
  CHECK(e.g, "settings recipe: %s", e.diags);
  Recipe *r = &e.r;
  char want[256];
  snprintf(want, sizeof want, "%s/data/t.txt", e.dir);
  CHECK(r->data_path && !strcmp(r->data_path, want), "data path %s", r->data_path);
  snprintf(want, sizeof want, "%s/w/init.safetensors", e.dir);
  CHECK(r->init_path && !strcmp(r->init_path, want), "init path %s", r->init_path);
  CHECK(r->data_kind == DATA_TEXT && r->batch == 3 && r->seq == 16 && r->vocab == 256 && r->split == 0.8, "data");
  CHECK(r->steps == 600 && r->opt == OPT_ADAMW && r->lr == 3e-3 && r->beta1 == 0.9 && r->beta2 == 0.95 &&
            r->eps == 1e-6 && r->weight_decay == 0.1, "optimizer");
  CHECK(r->sched == SCHED_COSINE && r->warmup == 50 && r->min_lr == 3e-4 && r->clip == 1.0, "schedule");
  snprintf(want, sizeof want, "%s/runs/x", e.dir);
  CHECK(!strcmp(r->out_dir, want), "save to %s: against the recipe's directory", r->out_dir);
  CHECK(r->dir && !strcmp(r->dir, e.dir), "recipe dir %s", r->dir);
  CHECK(r->eval_every == 100 && r->eval_batches == 4 && r->save_every == 300 &&
            r->log_every == 10 && r->seed == 42 && r->init_seed == 42 && r->dtype == IR_F32, "rest");
  elab_done(&e);

  elab(&e,
       "use gpt2\n"
       "model = gpt2.gpt2(vocab: 256, ctx: 16, layers: 1, heads: 2, dim: 8)\n"
       "data train = text(\"t.txt\", seq: 4, batch: 1)\n"
       "train { optimizer sgd(lr: 0.1, momentum: 0.9) }\n");
  r = &e.r;
  CHECK(e.g && r->opt == OPT_SGD && r->lr == 0.1 && r->momentum == 0.9, "sgd");
  CHECK(r->steps == 1000 && r->sched == SCHED_CONSTANT && r->warmup == 0 && r->clip == 0 &&
            r->eval_every == 0 && r->eval_batches == 8 && r->save_every == 0 && r->seed == 1337 &&
            r->log_every == 1 && r->split == 0.9 && r->weight_decay == 0 && !strcmp(r->out_dir, "runs/recipe"),
        "defaults");
  elab_done(&e);
}

/* A LLaMA-style block: RMSNorm, bias-free linears (transposed weights),
 * RoPE, grouped-query attention, SwiGLU. */
static void test_gqa(void) {
  Elab e;
  elab(&e,
       "use nn\n"
       "model Tiny(vocab: int = 256, dim: int = 32, heads: int = 4, kv_heads: int = 2) {\n"
       "  embed_tokens = nn.Embedding(vocab, dim)\n"
       "  norm = nn.RMSNorm(dim)\n"
       "  q_proj = nn.Linear(dim, dim)\n"
       "  k_proj = nn.Linear(dim, dim / heads * kv_heads)\n"
       "  v_proj = nn.Linear(dim, dim / heads * kv_heads)\n"
       "  gate = nn.Linear(dim, 64)\n"
       "  up = nn.Linear(dim, 64)\n"
       "  down = nn.Linear(64, dim)\n"
       "  lm_head = nn.Linear(dim, vocab)\n"
       "  forward(tokens: i32[B, T]) {\n"
       "    x = embed_tokens(tokens)\n"
       "    h = norm(x)\n"
       "    q = rope(split_heads(q_proj(h), heads))\n"
       "    k = rope(split_heads(k_proj(h), kv_heads), theta: 500000.0)\n"
       "    v = split_heads(v_proj(h), kv_heads)\n"
       "    x = x + merge_heads(attention(q, k, v, causal: true))\n"
       "    x = x + down(silu(gate(x)) * up(x))\n"
       "    return lm_head(x)\n"
       "  }\n"
       "}\n"
       "model = Tiny()\n"
       "data train = text(\"t.txt\", seq: 8, batch: 2)\n");
  CHECK(e.g, "gqa model: %s", e.diags);
  if (e.g) {
    IrGraph *g = e.g;
    int expands = 0, ropes = 0;
    for (int i = 0; i < g->n; i++) {
      if (g->nodes[i].op == IR_EXPAND) {
        expands++;
        CHECK(g->nodes[i].ia[0] == 1 && g->nodes[i].ia[1] == 2 && g->nodes[i].group == 0 &&
                  !strcmp(shp(g, i), "[2,4,8,8]"), "expand kv heads %s", shp(g, i));
      }
      if (g->nodes[i].op == IR_ROPE) ropes++;
      if (g->nodes[i].op == IR_PERMUTE) CHECK(g->nodes[i].group == 0, "transpose(weight) folded");
    }
    CHECK(expands == 2 && ropes == 2, "expands %d ropes %d", expands, ropes);
    int k = find_node(g, "k");
    CHECK(k >= 0 && g->nodes[k].op == IR_ROPE && g->nodes[k].fa[0] == 500000.0, "rope theta");
    int kp = find_node(g, "k_proj");
    CHECK(kp >= 0 && g->nodes[kp].op == IR_MATMUL && g->nodes[kp].ia[1] == 1 && !strcmp(shp(g, kp), "[2,8,16]"),
          "linear = x @ W^T");
    CHECK(!strcmp(shp(g, find_node(g, "k_proj.weight")), "[16,32]"), "Linear weight is [out, in]");
    CHECK(!strcmp(shp(g, g->logits), "[2,8,256]"), "logits");
    CHECK(ir_verify(g, stdout) == 0, "verifies");
  }
  elab_done(&e);
}

/* stdlib/llama.ft: Hugging Face LLaMA names, untied lm_head, GQA. */
static void test_llama(void) {
  Elab e;
  elab(&e,
       "use llama\n"
       "model = llama.tiny(n_layers: 2)\n"
       "data train = text(\"x.txt\", seq: 16, batch: 2)\n");
  CHECK(e.g, "llama.tiny: %s", e.diags);
  if (e.g) {
    IrGraph *g = e.g;
    const int64_t Vv = 256, Cc = 128, Ll = 2, Hh = 4, KV = 2, F = 352;
    int64_t total = 0;
    int np = 0;
    for (int i = 0; i < g->n; i++)
      if (g->nodes[i].op == IR_PARAM) total += ir_numel(&g->nodes[i].shape), np++;
    int64_t kvdim = Cc / Hh * KV;
    int64_t want = 2 * Vv * Cc + Ll * (2 * Cc * Cc + 2 * Cc * kvdim + 3 * Cc * F + 2 * Cc) + Cc;
    CHECK(total == want, "llama params %lld, want %lld", (long long)total, (long long)want);
    CHECK(np == 1 + 9 * Ll + 2, "%d param tensors", np);
    static const char *const names[] = {"model.embed_tokens.weight",
                                        "model.layers.1.self_attn.k_proj.weight",
                                        "model.layers.0.post_attention_layernorm.weight",
                                        "model.layers.1.mlp.down_proj.weight", "model.norm.weight",
                                        "lm_head.weight"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      CHECK(find_node(g, names[i]) >= 0, "missing %s", names[i]);
    CHECK(!strcmp(shp(g, find_node(g, "model.layers.1.self_attn.k_proj.weight")), "[64,128]"), "k_proj [kv*hd, dim]");
    CHECK(!strcmp(shp(g, find_node(g, "model.layers.0.self_attn.attention.k_expanded")), "[2,4,16,32]"), "expanded k");
    CHECK(g->ngroups == 2 && !strcmp(shp(g, g->logits), "[2,16,256]"), "groups and logits");
    CHECK(ir_verify(g, stdout) == 0, "verifies");
  }
  elab_done(&e);
}

/* Errors are diagnostics at the right place, never crashes. */
static void test_errors(void) {
  static const struct { const char *text, *want; } cases[] = {
      {"use gpt2\nmodel = gpt2.small(ctx: 64)\ndata train = text(\"x\", seq: 64, batch: 2)\n",
       "recipe.ft:2:9: error: the model's vocab is 50257 but the tokenizer has 256 tokens"},
      {"use gpt2\nmodel = gpt2.gpt2(vocab: 256, ctx: 64, layers: 1, heads: 4, dim: 64)\n"
       "data train = text(\"x\", seq: 65, batch: 2)\n",
       "recipe.ft:3:24: error: seq 65 is longer than the model's context (ctx = 64)"},
      {"use gpt2\nmodel = gpt2.gpt2(vocab: 256, ctx: 64, layers: 1, heads: 3, dim: 64)\n"
       "data train = text(\"x\", seq: 8, batch: 2)\n",
       "recipe.ft:2:51: error: split_heads: dim 64 of [2,8,64] is not divisible by heads 3"},
      {"use gpt2\nmodel = gpt2.gpt2(vocab: 256, ctx: 64, layers: 1, heads: 4, dim: 64.5)\n"
       "data train = text(\"x\", seq: 8, batch: 2)\n",
       "recipe.ft:2:61: error: gpt2: argument 'dim' must be an int, got 64.5"},
      {"model M(d: int = 8) {\n  param w[d, d]\n  param e[256, d]\n  forward(tokens: i32[B, T]) {\n"
       "    x = e[tokens]\n    return (x @ w) @ e\n  }\n}\nmodel = M()\n"
       "data train = text(\"x\", seq: 4, batch: 2)\n",
       "recipe.ft:6:12: error: matmul: inner dimensions differ: [2,4,8] @ [256,8]"},
      {"model M(d: int = 8) {\n  param w[d, d]\n  forward(tokens: i32[B, T]) {\n    y = w\n  }\n}\n"
       "model = M()\ndata train = text(\"x\", seq: 4, batch: 2)\n",
       "recipe.ft:3:3: error: the forward of 'M' does not return a value"},
      {"model M(d: int = 8) {\n  param w[d, d]\n}\nmodel = M()\ndata train = text(\"x\", seq: 4, batch: 2)\n",
       "recipe.ft:4:9: error: model 'M' has no forward"},
      {"model M(d: int = 10) {\n  param w[d / 4]\n  forward(t: i32[B, T]) {\n    return w\n  }\n}\n"
       "model = M()\ndata train = text(\"x\", seq: 4, batch: 2)\n",
       "recipe.ft:2:11: error: d 10 is not divisible by 4"},
      {"model M(d: int = 10) {\n  param w[d * 0.25]\n  forward(t: i32[B, T]) {\n    return w\n  }\n}\n"
       "model = M()\ndata train = text(\"x\", seq: 4, batch: 2)\n",
       "recipe.ft:2:11: error: param w: dimension 0 must be a positive integer, got 2.5"},
      {"model M(d: int = 8) {\n  param w[256, d]\n  forward(tokens: i32[B, T]) {\n"
       "    return w\n  }\n}\nmodel = M()\ndata train = text(\"x\", seq: 4, batch: 2)\n",
       "recipe.ft:3:3: error: the entry model's forward must return logits [B, T, vocab] with B = 2, T = 4; got [256,8]"},
      {"model M(d: int = 8) {\n  param w[256, d]\n  forward(tokens: i32[B, T]) {\n"
       "    return w[tokens]\n  }\n}\nmodel = M()\ndata train = text(\"x\", seq: 4, batch: 2)\n",
       "recipe.ft:7:9: error: the model's logits have 8 classes but the tokenizer has 256 tokens"},
      {"use gpt2\nmodel = gpt2.small(vocab: 256, ctx: 8, layers: 1)\n"
       "data train = text(\"x\", tokenizer: bpe(\"t.json\"), seq: 8, batch: 1)\n",
       "recipe.ft:3:39: error: bpe: cannot read "},
      {"use gpt2\nmodel = gpt2.small(vocab: 256, ctx: 8, layers: 1)\n"
       "data train = text(\"x\", seq: 8, batch: 1)\ntrain {\n  precision bf16\n  accumulate 4\n}\n",
       "recipe.ft:5:13: error: precision bf16 is not supported on this backend yet (only fp32)"},
      {"use gpt2\nmodel = gpt2.small(vocab: 256, ctx: 8, layers: 1)\n"
       "data train = text(\"x\", seq: 8, batch: 1)\ntrain {\n  precision bf16\n  accumulate 0\n}\n",
       "recipe.ft:6:14: error: accumulate must be at least 1, got 0"},
      {"data train = text(\"x\", seq: 8, batch: 1)\n", "error: the recipe has no `model = ...`"},
      {"model M() {\n  sub = M()\n  forward(t) {\n    return t\n  }\n}\nmodel = M()\n"
       "data train = text(\"x\", seq: 8, batch: 1)\n",
       "error: models nested more than 64 deep"},
      {"model M(d: int = 8) {\n  param w[d, d]\n  forward(tokens: i32[B, T]) {\n"
       "    return w[0:9]\n  }\n}\nmodel = M()\ndata train = text(\"x\", seq: 4, batch: 2)\n",
       "recipe.ft:4:14: error: slice: 0:9 is out of range for dim 0 of [8,8]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Elab e;
    elab(&e, cases[i].text);
    CHECK(e.g == NULL, "case %zu should fail", i);
    CHECK(strstr(e.diags, cases[i].want), "case %zu: want \"%s\", got:\n%s", i, cases[i].want, e.diags);
    elab_done(&e);
  }
}

int main(void) {
  test_gpt2_params();
  test_presets();
  test_recipe_settings();
  test_gqa();
  test_llama();
  test_errors();
  return check_exit("test_elab");
}
