/* compiler/codegen/cg_cuda.c -- the CUDA generator: the planned graph ->
 * a kernel module (CUDA C for NVRTC, the same text for the emulator), the
 * launch-argument structs, and the device program's host code.
 *
 * One idea: the schedule and the plan are the CPU backend's, unchanged.
 * Each node the CPU backend calls a kernel for becomes a "site" -- a small
 * host function of rt_dev_launch / rt_dev_gemm calls at the same arena
 * offsets -- so the two backends can run in lockstep (`trainer devcheck`)
 * and a checkpoint is the same bytes on either. Past the arena the
 * generator plans a tail: reduction scratch, the cuBLASLt workspace, the
 * optimizer's tensor table and per-step scalars. Everything is commented
 * with the IR node and .ft line it came from, and the output depends only
 * on the graph, plan and recipe. An op without a CUDA emitter yet makes
 * the build CPU-only with a warning, never a failed build.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../back.h"
#include "cg_cuda.h"
#include "cuda_build.h"
#include "config.h"

#define S(x) ((long long)(x))
#define ALIGN(x) (((x) + 255) & ~(int64_t)255)

static const char *base_name(const char *path) {
  const char *s = path ? strrchr(path, '/') : NULL;
  return s ? s + 1 : (path ? path : "?");
}

static int no_code(IrOp op) {
  return op == IR_RESHAPE || op == IR_INPUT || op == IR_PARAM || op == IR_SCRATCH || op == IR_AFTER;
}

static void describe(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  char sb[128];
  int len = snprintf(c->what, sizeof c->what, "%%%d %s %s%s%s", id, ir_ops[n->op].name,
                     back_shape_str(&n->shape, sb, sizeof sb), n->name ? " " : "",
                     n->name ? n->name : "");
  if (n->span.file && len > 0 && (size_t)len < sizeof c->what)
    snprintf(c->what + len, sizeof c->what - (size_t)len, " (%s:%d)", base_name(n->span.file->path),
             n->span.line);
}

/* The emitter for an op, or NULL when none exists yet. */
typedef int (*Emit)(Cu *c, int id);
static Emit emitter(IrOp op) {
  switch (op) {
  case IR_FILL:
  case IR_ACC_GRAD:
  case IR_ADD:
  case IR_SUB:
  case IR_MUL:
  case IR_DIV:
  case IR_SCALE:
  case IR_GELU:
  case IR_SILU:
  case IR_GELU_BWD:
  case IR_SILU_BWD:
  case IR_CAUSAL_MASK:
  case IR_ROPE:
  case IR_EMBEDDING:
    return cu_emit_elem;
  case IR_LAYER_NORM:
  case IR_RMS_NORM:
  case IR_LAYER_NORM_BWD_X:
  case IR_RMS_NORM_BWD_X:
  case IR_LAYER_NORM_BWD_W:
  case IR_RMS_NORM_BWD_W:
  case IR_SOFTMAX:
  case IR_SOFTMAX_BWD:
    return cu_emit_norm;
  case IR_CROSS_ENTROPY:
  case IR_CROSS_ENTROPY_BWD:
  case IR_LM_HEAD_CE:
    return cu_emit_loss;
  case IR_PERMUTE:
  case IR_SLICE:
  case IR_SLICE_BWD:
  case IR_CONCAT:
  case IR_SUM:
  case IR_MEAN:
  case IR_SUM_TO:
  case IR_BROADCAST:
  case IR_EXPAND:
  case IR_EXPAND_BWD:
  case IR_EMBEDDING_BWD:
    return cu_emit_layout;
  case IR_MATMUL:
    return cu_emit_matmul;
  case IR_FLASH_ATTENTION:
  case IR_FLASH_ATTENTION_BWD:
    return cu_emit_attention;
  default:
    return NULL;
  }
}

/* The inputs the emitters read, optional ones included. An op another
 * pass or issue extends with an input the emitters do not know (segments
 * of packed examples, positions, ...), attributes with a new meaning or
 * tensors of another dtype (mixed precision) is refused (why), never run
 * as the old op; an extra SCRATCH input is a CPU workspace the device
 * kernels do without. */
static int known_inputs(IrOp op) {
  switch (op) {
  case IR_FILL: return 0;
  case IR_SCALE: case IR_GELU: case IR_SILU: case IR_CAUSAL_MASK: case IR_ROPE: case IR_SOFTMAX:
  case IR_ACC_GRAD:
  case IR_PERMUTE: case IR_SLICE: case IR_SUM: case IR_MEAN: case IR_SUM_TO: case IR_BROADCAST:
  case IR_EXPAND: case IR_EXPAND_BWD:
    return 1;
  case IR_ADD: case IR_SUB: case IR_MUL: case IR_DIV: case IR_GELU_BWD: case IR_SILU_BWD:
  case IR_EMBEDDING: case IR_RMS_NORM: case IR_SOFTMAX_BWD: case IR_CROSS_ENTROPY:
  case IR_CONCAT: case IR_LAYER_NORM_BWD_W: case IR_RMS_NORM_BWD_W:
  case IR_SLICE_BWD: /* + acc */
    return 2;
  case IR_LAYER_NORM: case IR_LAYER_NORM_BWD_X: case IR_RMS_NORM_BWD_X: case IR_CROSS_ENTROPY_BWD:
  case IR_MATMUL: case IR_EMBEDDING_BWD: /* + acc */
    return 3;
  case IR_FLASH_ATTENTION: return 4;
  case IR_LM_HEAD_CE: return 6;
  case IR_FLASH_ATTENTION_BWD: return 8;
  default: return 0;
  }
}

static int unknown_variant(const Cu *c, const IrNode *n, char *why, size_t cap) {
  for (int k = known_inputs(n->op); k < n->nin; k++)
    if (c->g->nodes[n->in[k]].op != IR_SCRATCH) {
      snprintf(why, cap, "no CUDA kernel for op %s with %d inputs yet", ir_ops[n->op].name, n->nin);
      return 1;
    }
  for (int k = -1; k < n->nin; k++) { /* the float type (f32 or --dtype f64) or i32 indices */
    IrDtype t = k < 0 ? n->dtype : c->g->nodes[n->in[k]].dtype;
    if (t != IR_F32 && t != IR_F64 && t != IR_I32) {
      snprintf(why, cap, "no CUDA kernel for op %s with %s tensors yet", ir_ops[n->op].name,
               ir_dtype_name(t));
      return 1;
    }
  }
  if (n->op == IR_ROPE && n->ia[1] != 0) { /* Hugging Face rope scaling */
    snprintf(why, cap, "no CUDA kernel for op rope with scaling yet");
    return 1;
  }
  return 0;
}

/* The regions a site writes (devcheck compares them): the node, and what
 * the fused ops also write into their scratch inputs. */
static void outputs(const Cu *c, int id, int64_t off[3], int64_t bytes[3]) {
  const IrNode *n = &c->g->nodes[id];
  int ids[3] = {id, -1, -1};
  if (n->op == IR_MATMUL && c->bias_of[id] >= 0 && c->add_of[id] < 0)
    ids[1] = c->bias_of[id]; /* the fused bias gradient */
  if (n->op == IR_LM_HEAD_CE) {
    ids[1] = n->in[4];
    if (!n->ia[1]) ids[2] = n->in[5];
  } else if (n->op == IR_FLASH_ATTENTION) {
    ids[1] = n->in[3];
  } else if (n->op == IR_FLASH_ATTENTION_BWD) {
    ids[1] = n->in[6];
    ids[2] = n->in[7];
  }
  for (int k = 0; k < 3; k++) {
    const IrNode *m = ids[k] >= 0 ? &c->g->nodes[ids[k]] : NULL;
    int ok = m && (m->dtype == IR_F32 || m->dtype == IR_F64);
    off[k] = ok ? cu_off(c, ids[k]) : -1;
    bytes[k] = ok ? cu_numel(c, ids[k]) * cu_esz(c) : 0;
  }
}

/* ---- the parameter lists --------------------------------------------------- */
typedef struct Param {
  char type[96], name[48];
} Param;

/* "const float *__restrict__ x, i64 n" -> (type, name) pairs; every type
 * must be 8 bytes: a pointer, i64 or double (cg_cuda.h). */
static int params_of(const CuKernel *k, Param *p, int max) {
  int n = 0;
  const char *s = k->params;
  while (*s && n < max) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    char one[160];
    if (len >= sizeof one) return -1;
    memcpy(one, s, len);
    one[len] = 0;
    char *end = one + strlen(one);
    while (end > one && isspace((unsigned char)end[-1])) *--end = 0;
    char *nm = end;
    while (nm > one && (isalnum((unsigned char)nm[-1]) || nm[-1] == '_')) nm--;
    char *t = one;
    while (isspace((unsigned char)*t)) t++;
    if (nm == one || !*nm || strlen(nm) >= sizeof p[n].name) return -1;
    snprintf(p[n].name, sizeof p[n].name, "%s", nm);
    *nm = 0;
    /* drop __restrict__: it qualifies the kernel's view, not the struct */
    char *r;
    while ((r = strstr(t, "__restrict__")) != NULL) memmove(r, r + 12, strlen(r + 12) + 1);
    end = t + strlen(t);
    while (end > t && isspace((unsigned char)end[-1])) *--end = 0;
    if (strlen(t) >= sizeof p[n].type) return -1;
    snprintf(p[n].type, sizeof p[n].type, "%s", t);
    int ptr = strchr(p[n].type, '*') != NULL;
    if (!ptr && strcmp(p[n].type, "i64") && strcmp(p[n].type, "double")) {
      fprintf(stderr, "ftc: internal: kernel %s parameter %s has type %s (pointers, i64, double)\n",
              k->name, p[n].name, p[n].type);
      return -1;
    }
    n++;
    s = e ? e + 1 : s + len;
  }
  return n;
}

/* ---- the whole program --------------------------------------------------- */
void cu_out_free(CuOut *o) {
  free(o->module);
  free(o->args_h);
  free(o->emu);
  free(o->host);
  free(o->program);
  memset(o, 0, sizeof *o);
}

static void cu_free(Cu *c) {
  for (int i = 0; i < c->nk; i++) {
    free(c->k[i].name);
    free(c->k[i].params);
    free(c->k[i].text);
    free(c->k[i].first);
  }
  for (int i = 0; i < c->ngm; i++) free(c->gm[i].site);
  free(c->k);
  free(c->gm);
  free(c->skip);
  free(c->bias_of);
  free(c->add_of);
  free(c->chain_prev);
}

static char *text_of(FILE *f, char **buf) {
  if (fclose(f) != 0) {
    free(*buf);
    *buf = NULL;
  }
  return *buf;
}

int cg_cuda(const IrGraph *g, const Recipe *r, const Plan *p, CuOut *out) {
  memset(out, 0, sizeof *out);
  if (r->dtype != IR_F32 && r->dtype != IR_F64) {
    snprintf(out->why, sizeof out->why, "the CUDA backend builds f32 and f64 trainers");
    return 1;
  }
  Cu c;
  memset(&c, 0, sizeof c);
  c.g = g;
  c.r = r;
  c.p = p;
  c.f64 = r->dtype == IR_F64;
  c.T = c.f64 ? "double" : "float";
  c.scratch_off = ALIGN(p->arena_bytes);
  c.k = calloc(CU_MAXKERN, sizeof *c.k);
  c.gm = calloc(CU_MAXGEMM, sizeof *c.gm);
  c.skip = calloc((size_t)g->n + 1, sizeof *c.skip);
  c.bias_of = malloc(((size_t)g->n + 1) * sizeof *c.bias_of);
  c.add_of = malloc(((size_t)g->n + 1) * sizeof *c.add_of);
  c.chain_prev = malloc(((size_t)g->n + 1) * sizeof *c.chain_prev);
  int *mm_of = malloc(((size_t)g->n + 1) * sizeof *mm_of); /* ADD -> its fused product */
  if (!c.skip || !c.bias_of || !c.add_of || !c.chain_prev || !mm_of) {
    free(mm_of);
    mm_of = NULL;
    c.err = 1;
  }
  for (int i = 0; mm_of && i < g->n; i++)
    c.bias_of[i] = c.add_of[i] = c.chain_prev[i] = mm_of[i] = -1;
  if (mm_of && (cu_plan_epilogues(&c) != 0 || cu_plan_chains(&c) != 0)) c.err = 1;
  for (int i = 0; mm_of && i < g->n; i++)
    if (c.add_of[i] >= 0) mm_of[c.add_of[i]] = i;
  char *hbuf = NULL, *sbuf = NULL;
  size_t hlen = 0, slen = 0;
  c.host = open_memstream(&hbuf, &hlen);
  FILE *sites = open_memstream(&sbuf, &slen);
  int rc = -1, nsites = 0, nfwd = 0;
  if (!c.k || !c.gm || !c.host || !sites || c.err) goto done;
  for (int i = 0; i < g->n; i++) { /* ops.def: a PARAM's ia[0] is hift's group */
    if (g->nodes[i].dead || g->nodes[i].op != IR_PARAM || g->nodes[i].ia[0] == 0) continue;
    describe(&c, i);
    snprintf(out->why, sizeof out->why, "no CUDA optimizer for hift's parameter groups yet "
             "(it updates every parameter every step; %s)", c.what);
    rc = 1;
    goto done;
  }
  for (int k = 0; k < p->norder; k++) { /* fused or not: every node's variant is known */
    const IrNode *n = &g->nodes[p->order[k]];
    char variant[160];
    if (no_code(n->op) || !emitter(n->op) || !unknown_variant(&c, n, variant, sizeof variant))
      continue;
    describe(&c, p->order[k]);
    snprintf(out->why, sizeof out->why, "%s (%s)", variant, c.what);
    rc = 1;
    goto done;
  }
  fprintf(sites, "/* the step's call sites in schedule order: last position, op, node,\n"
                 " * regions written (devcheck compares them), dtype */\n"
                 "static const rt_dev_site sites[] = {\n");
  FILE *fns = NULL;
  char *fbuf = NULL;
  size_t flen = 0;
  fns = open_memstream(&fbuf, &flen);
  if (!fns) goto done;
  fprintf(fns, "static const rt_dev_site_fn site_fns[] = {\n");
  for (int k = 0; k < p->norder; k++) {
    const int id = p->order[k];
    const IrNode *n = &g->nodes[id];
    if (no_code(n->op) || c.skip[id]) continue; /* a fused node: another site does it */
    Emit e = emitter(n->op);
    int eid = id;
    if (mm_of[id] >= 0) { /* an add absorbing its product: the product with bias */
      e = cu_emit_matmul;
      eid = mm_of[id];
    } else if (c.chain_prev[id] >= 0) { /* the end of a fused elementwise chain */
      e = cu_emit_chain;
    }
    describe(&c, id);
    if (!e) {
      snprintf(out->why, sizeof out->why, "no CUDA kernel for op %s yet (%s)", ir_ops[n->op].name,
               c.what);
      rc = 1;
      fclose(fns);
      free(fbuf);
      goto done;
    }
    fprintf(c.host,
            "/* %s */\nstatic void site_%d(rt_dev *d, unsigned char *B, int no_grads) {\n"
            "  (void)d; (void)B; (void)no_grads;\n",
            c.what, k);
    if (e(&c, eid) != 0 || c.err) {
      fclose(fns);
      free(fbuf);
      snprintf(out->why, sizeof out->why, "CUDA code generation failed at %s", c.what);
      goto done;
    }
    fprintf(c.host, "}\n\n");
    int64_t off[3], bytes[3];
    outputs(&c, id, off, bytes);
    /* the site's op: a fused site names every op it does, in order */
    char opname[256] = "";
    if (c.chain_prev[id] >= 0) {
      int ch[64], nc = 0;
      for (int j = id; j >= 0 && nc < 64; j = c.chain_prev[j]) ch[nc++] = j;
      for (int j = nc - 1; j >= 0; j--)
        snprintf(opname + strlen(opname), sizeof opname - strlen(opname), "%s%s",
                 j < nc - 1 ? "+" : "", ir_ops[g->nodes[ch[j]].op].name);
    } else if (mm_of[id] >= 0) {
      snprintf(opname, sizeof opname, "matmul+add");
    } else if (n->op == IR_MATMUL && c.bias_of[id] >= 0) {
      snprintf(opname, sizeof opname, "matmul+sum_to");
    } else {
      snprintf(opname, sizeof opname, "%s", ir_ops[n->op].name);
    }
    fprintf(sites, "  {%d, \"%s\", \"", k, opname);
    for (const char *s = c.what; *s; s++) fputc(*s == '"' || *s == '\\' ? '\'' : *s, sites);
    fprintf(sites, "\", {%lld, %lld, %lld}, {%lld, %lld, %lld}, %s},\n", S(off[0]), S(off[1]),
            S(off[2]), S(bytes[0]), S(bytes[1]), S(bytes[2]), c.f64 ? "RT_DT_F64" : "RT_DT_F32");
    fprintf(fns, "  site_%d,\n", k);
    nsites++;
    if (k < p->nfwd) nfwd = nsites;
  }
  if (nsites == 0) fprintf(sites, "  {0, NULL, NULL, {-1, -1, -1}, {0, 0, 0}, RT_DT_F32}\n");
  fprintf(sites, "};\n\n");
  if (nsites == 0) fprintf(fns, "  NULL\n");
  fprintf(fns, "};\n\n");
  /* the epilogues as kernels, for a cuBLASLt that refuses one (ftdev.h) */
  int k_bias = -1, k_bgrad = -1;
  for (int i = 0; i < c.ngm; i++)
    if (c.gm[i].epi != 0 && k_bias < 0) {
      char nb[64], ng[64];
      snprintf(c.what, sizeof c.what, "a product whose epilogue cuBLASLt refuses (rt_dev_gemm)");
      snprintf(nb, sizeof nb, "epi_bias_%s", c.f64 ? "f64" : "f32");
      snprintf(ng, sizeof ng, "epi_bgrad_%s", c.f64 ? "f64" : "f32");
      k_bias = cu_kernel_tmpl(&c, nb, "the bias epilogue apart: D[i + j ldc] += bias[i]",
                              "$T *d, const $T *bias, i64 m, i64 n, i64 ldc, i64 batch, i64 sc",
                              "{\n"
                              "  for (i64 e = FTC_GID; e < m * n * batch; e += FTC_GSTRIDE) {\n"
                              "    const i64 b = e / (m * n), r = e % (m * n);\n"
                              "    d[b * sc + r % m + r / m * ldc] += bias[r % m];\n"
                              "  }\n"
                              "}\n",
                              NULL, 0, 0, 0);
      k_bgrad = cu_kernel_tmpl(
          &c, ng, "the bias-gradient epilogue apart: bias = row sums of op(A)",
          "$T *bias, const $T *a, i64 m, i64 k, i64 lda, i64 ta",
          "{\n"
          "  for (i64 i = FTC_GID; i < m; i += FTC_GSTRIDE) {\n"
          "    double s = 0;\n"
          "    for (i64 c = 0; c < k; c++) s += (double)(ta ? a[c + i * lda] : a[i + c * lda]);\n"
          "    bias[i] = ($T)s;\n"
          "  }\n"
          "}\n",
          NULL, 0, 0, 0);
    }
  out->k_epi_bias = k_bias;
  out->k_epi_bgrad = k_bgrad;
  int64_t ntensors = 0;
  int64_t nch = cu_emit_optim(&c, c.host, &ntensors);
  if (fclose(fns) != 0 || nch < 0 || c.err) {
    free(fbuf);
    snprintf(out->why, sizeof out->why, "CUDA code generation failed (optimizer)");
    goto done;
  }
  /* the tail past the arena */
  out->arena_bytes = p->arena_bytes;
  out->scratch_off = c.scratch_off;
  out->scratch_bytes = ALIGN(c.scratch);
  out->ws_off = c.scratch_off + out->scratch_bytes;
  out->ws_bytes = p->arena_bytes >= (1LL << 30) ? 32LL << 20 : 4LL << 20;
  out->tensors_off = out->ws_off + out->ws_bytes;
  out->scalars_off = out->tensors_off + ALIGN(ntensors * 56 > 0 ? ntensors * 56 : 56);
  out->sumsq_off = out->scalars_off + 256;
  out->bytes = out->sumsq_off + 256;
  out->nkernels = c.nk;
  out->ngemms = c.ngm;
  out->nsites = nsites;
  out->nfwd = nfwd;
  out->ntensors = (int)ntensors;

  /* the module */
  char *mbuf = NULL, *abuf = NULL, *ebuf = NULL;
  size_t mlen = 0, alen = 0, elen = 0;
  FILE *m = open_memstream(&mbuf, &mlen), *a = open_memstream(&abuf, &alen),
       *em = open_memstream(&ebuf, &elen);
  if (!m || !a || !em) goto done;
  fprintf(m,
          "/* CUDA kernels generated by ftc %s from %s -- do not edit.\n"
          " * %d kernels for %d call sites of the step (and the optimizer). NVRTC compiles\n"
          " * this text for the GPU; --device emu compiles it for the host after\n"
          " * runtime/cuda_emu.h. Each kernel names the first node that uses it and the\n"
          " * .ft line that node came from. */\n\n%s",
          FTC_VERSION, base_name(r->path), c.nk, nsites, cu_prelude);
  fprintf(a, "/* Launch arguments of the kernels in kernels.cu, generated by ftc -- do not\n"
             " * edit. One struct per kernel: its parameters in order, eight bytes each,\n"
             " * so the struct is the packed buffer cuLaunchKernel takes. */\n"
             "#ifndef FTC_KERNEL_ARGS_H\n#define FTC_KERNEL_ARGS_H\n"
             "typedef long long i64;\n\nenum {\n");
  for (int i = 0; i < c.nk; i++) fprintf(a, "  K_%s = %d,\n", c.k[i].name, i);
  fprintf(a, "  K_COUNT = %d\n};\n\n", c.nk);
  fprintf(em, "/* --device emu: the kernel module compiled for the host, generated by ftc\n"
              " * -- do not edit. Each trampoline unpacks a launch's argument struct and\n"
              " * runs one thread of its kernel (runtime/emu_fiber.c decides which). */\n"
              "#include \"cuda_emu.h\"\n#include \"kernels.cu\"\n#include \"kernel_args.h\"\n\n");
  for (int i = 0; i < c.nk && !c.err; i++) {
    const CuKernel *k = &c.k[i];
    Param pr[24];
    int np = params_of(k, pr, 24);
    if (np < 0) {
      c.err = 1;
      break;
    }
    fprintf(m, "/* %s\n * (%d site%s) */\n%s\n", k->first, k->uses, k->uses == 1 ? "" : "s",
            k->text);
    fprintf(a, "struct ka_%s {\n", k->name);
    for (int j = 0; j < np; j++) fprintf(a, "  %s %s;\n", pr[j].type, pr[j].name);
    if (np == 0) fprintf(a, "  i64 unused;\n");
    fprintf(a, "};\n");
    fprintf(em,
            "void ftc_emu_%s(const void *p);\nvoid ftc_emu_%s(const void *p) {\n"
            "  const struct ka_%s *a = (const struct ka_%s *)p;\n  %s(",
            k->name, k->name, k->name, k->name, k->name);
    for (int j = 0; j < np; j++) fprintf(em, "%sa->%s", j ? ", " : "", pr[j].name);
    fprintf(em, ");\n  (void)a;\n}\n");
  }
  fprintf(a, "\n#endif\n");
  out->module = text_of(m, &mbuf);
  out->args_h = text_of(a, &abuf);
  out->emu = text_of(em, &ebuf);

  /* the host part of device.c: everything but the images and the program */
  fprintf(sites, "%s", fbuf);
  free(fbuf);
  fprintf(sites, "/* kernels: name, the emulator's trampoline, barriers (fibers), dynamic\n"
                 " * shared memory */\n");
  for (int i = 0; i < c.nk; i++) fprintf(sites, "void ftc_emu_%s(const void *p);\n", c.k[i].name);
  fprintf(sites, "static const rt_dev_kernel kernels[] = {\n");
  for (int i = 0; i < c.nk; i++)
    fprintf(sites, "  {\"%s\", ftc_emu_%s, %d, %u},\n", c.k[i].name, c.k[i].name, c.k[i].sync,
            c.k[i].smem);
  if (c.nk == 0) fprintf(sites, "  {NULL, NULL, 0, 0}\n");
  fprintf(sites, "};\n\n/* cuBLASLt product sites (column-major: D[m,n] = op(A) op(B)) */\n"
                 "static const rt_gemm gemms[] = {\n");
  for (int i = 0; i < c.ngm; i++) {
    const CuGemm *q = &c.gm[i];
    char d1[64], d2[64];
    fprintf(sites,
            "  {%d, %d, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %d, %d, %s, "
            "%s, %d, %lld, %lld, %lld,\n   \"",
            q->ta, q->tb, S(q->m), S(q->n), S(q->k), S(q->lda), S(q->ldb), S(q->ldc), S(q->batch),
            S(q->sa), S(q->sb), S(q->sc), q->type_ab, q->type_cd, cu_dbl(q->alpha, d1, 64),
            cu_dbl(q->beta, d2, 64), q->epi, S(q->bias_off), S(q->aux_off), S(q->aux_ld));
    for (const char *s = q->site; *s; s++) fputc(*s == '"' || *s == '\\' ? '\'' : *s, sites);
    fprintf(sites, "\", %lld},\n", S(q->align));
  }
  if (c.ngm == 0) fprintf(sites, "  {0}\n");
  fprintf(sites, "};\n\n");
  char *body = text_of(c.host, &hbuf);
  c.host = NULL;
  char *tables = text_of(sites, &sbuf);
  sites = NULL;
  if (!body || !tables || !out->module || !out->args_h || !out->emu || c.err) {
    free(body);
    free(tables);
    goto done;
  }
  out->host = cu_str(&c,
                     "/* Device program generated by ftc %s from %s -- do not edit.\n"
                     " * Host code of the CUDA step: one site function per scheduled node (the\n"
                     " * node and .ft line in its comment), launching the kernels of kernels.cu\n"
                     " * and the cuBLASLt products of gemms[] at the plan's arena offsets; the\n"
                     " * same code drives --device cuda and --device emu (runtime/ftdev.h). */\n"
                     "#include <math.h>\n#include <stddef.h>\n#include \"ftdev.h\"\n"
                     "#include \"kernel_args.h\"\n\n"
                     "/* device memory: the plan's arena [0, %lld), then the tail */\n"
                     "#define FTC_SCRATCH_OFF %lld  /* reduction scratch, %lld B */\n"
                     "#define FTC_WS_OFF %lld       /* cuBLASLt workspace, %lld B */\n"
                     "#define FTC_TENSORS_OFF %lld  /* the optimizer's tensor table */\n"
                     "#define FTC_SCALARS_OFF %lld  /* rt_opt_scalars of the step */\n"
                     "#define FTC_SUMSQ_OFF %lld    /* sum of g^2 (double) */\n"
                     "#define FTC_DEVICE_BYTES %lld\n"
                     "#define D(off) ((void *)(B + (off)))\n\n%s%s",
                     FTC_VERSION, base_name(r->path), S(p->arena_bytes), S(out->scratch_off),
                     S(out->scratch_bytes), S(out->ws_off), S(out->ws_bytes), S(out->tensors_off),
                     S(out->scalars_off), S(out->sumsq_off), S(out->bytes), body, tables);
  free(body);
  free(tables);
  if (!out->host) goto done;
  rc = 0;
done:
  if (c.host) fclose(c.host), free(hbuf);
  if (sites) fclose(sites), free(sbuf);
  cu_free(&c);
  free(mm_of);
  if (rc < 0) {
    cu_out_free(out);
    if (!out->why[0]) snprintf(out->why, sizeof out->why, "CUDA code generation failed");
    return -1;
  }
  if (rc > 0) {
    char why[sizeof out->why];
    memcpy(why, out->why, sizeof why);
    cu_out_free(out);
    memcpy(out->why, why, sizeof why);
  }
  return rc;
}

int cg_cuda_device_c(const CuOut *o, const CuImage *img, int nimg, FILE *f) {
  fputs(o->host, f);
  fprintf(f, "/* the module compiled by NVRTC, embedded (arch > 0: sm_ cubin; < 0: compute_\n"
             " * PTX, NUL-terminated, for the driver to compile on newer GPUs) */\n");
  for (int i = 0; i < nimg; i++)
    fprintf(f,
            "__asm__(\".section .rodata\\n.balign 64\\n.type ftc_image_%d, @object\\n"
            "ftc_image_%d:\\n.incbin \\\"%s\\\"\\n.byte 0\\n.previous\\n\");\n"
            "extern const unsigned char ftc_image_%d[];\n",
            i, i, img[i].file, i);
  fprintf(f, "static const rt_dev_image images[] = {\n");
  for (int i = 0; i < nimg; i++)
    fprintf(f, "  {%d, ftc_image_%d, %lld}, /* %s */\n", img[i].arch, i, S(img[i].size),
            img[i].file);
  if (nimg == 0) fprintf(f, "  {0, NULL, 0}\n");
  fprintf(f,
          "};\n\nconst rt_dev_program ftc_dev_program = {\n"
          "  .source = \"kernels.cu\",\n  .images = images,\n  .nimages = %d,\n"
          "  .kernels = kernels,\n  .nkernels = %d,\n  .gemms = gemms,\n  .ngemms = %d,\n"
          "  .arena_bytes = %lld,\n  .bytes = FTC_DEVICE_BYTES,\n"
          "  .ws_off = FTC_WS_OFF,\n  .ws_bytes = %lld,\n"
          "  .scratch_off = FTC_SCRATCH_OFF,\n  .scratch_bytes = %lld,\n"
          "  .tensors_off = FTC_TENSORS_OFF,\n  .scalars_off = FTC_SCALARS_OFF,\n"
          "  .sumsq_off = FTC_SUMSQ_OFF,\n  .tensors = tensors,\n  .ntensors = %d,\n"
          "  .sites = sites,\n  .site_fn = site_fns,\n  .nsites = %d,\n  .nfwd = %d,\n"
          "  .update = site_update,\n  .sumsq = site_sumsq,\n"
          "  .k_epi_bias = %d,\n  .k_epi_bgrad = %d,\n};\n",
          nimg, o->nkernels, o->ngemms, S(o->arena_bytes), S(o->ws_bytes), S(o->scratch_bytes),
          o->ntensors, o->nsites, o->nfwd, o->k_epi_bias, o->k_epi_bgrad);
  return ferror(f) ? -1 : 0;
}
