/* compiler/codegen/cg_cuda_gemm.c -- matrix products: cuBLASLt descriptors
 * for the plain ones, a generated tiled kernel for the causal ones.
 *
 * One idea: the IR's products are row-major (y = op(a) @ op(b)); cuBLASLt
 * is column-major, and a row-major matrix read column-major is its
 * transpose, so y^T = op(b)^T op(a)^T is ONE column-major call with the
 * operands swapped: cuBLASLt's A is b, its B is a, m = N, n = M. Every
 * product becomes a descriptor (shapes, leading dimensions, batch strides,
 * types, beta, epilogue) that the CUDA device hands to cuBLASLt and the
 * emulator runs on the CPU BLAS -- the same descriptor, so a wrong
 * leading dimension shows up under --device emu. Products with causal
 * structure (IR_TRI_*, attention without flash_attention) keep their exact
 * CPU semantics, which cuBLASLt has no mode for, in a 16 x 16 tiled kernel
 * that skips the tiles the triangle makes zero.
 */
#include <stdlib.h>
#include <string.h>

#include "../back.h"
#include "cg_cuda.h"

#define S(x) ((long long)(x))

static CuGemm mm_desc(const Cu *c, int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t batch,
                      int64_t sa, int64_t sb, double beta) {
  CuGemm g;
  memset(&g, 0, sizeof g);
  g.ta = tb; /* cuBLASLt's A is b: b [K,N] row-major = [N,K] col-major */
  g.tb = ta; /* its B is a: a [M,K] row-major = [K,M] col-major */
  g.m = N;
  g.n = M;
  g.k = K;
  g.lda = tb ? K : N;
  g.ldb = ta ? M : K;
  g.ldc = N;
  g.batch = batch;
  g.sa = sb;
  g.sb = sa;
  g.sc = M * N;
  g.type_ab = g.type_cd = c->f64 ? 1 : 0; /* RT_DT_F64 : RT_DT_F32 */
  g.alpha = 1.0;
  g.beta = beta;
  g.bias_off = g.aux_off = g.aux_ld = -1;
  return g;
}

int cu_mm(Cu *c, int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t batch, int64_t sa,
          int64_t sb, double beta) {
  CuGemm g = mm_desc(c, ta, tb, M, N, K, batch, sa, sb, beta);
  return cu_gemm(c, &g);
}

void cu_mm_call(Cu *c, int g, int64_t y, int64_t a, int64_t b) {
  cu_call_gemm(c, g, b, a, y);
}

/* y[b] = op(a[b]) @ op(b[b]) with causal structure tri (IR_TRI_OUT: output
 * lower-triangular; IR_TRI_A: the stored a lower-triangular), exactly as
 * runtime/kernels/matmul_causal_tmpl.h defines them. */
static int tri_kernel(Cu *c, int id, int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t batch,
                      int64_t sa, int64_t sb, int acc, int tri) {
  const IrNode *n = &c->g->nodes[id];
  char name[128], args[256], v[8][32];
  snprintf(name, sizeof name, "matmul_tri%s_%s%s_m%lld_n%lld_k%lld%s_%s",
           tri == IR_TRI_OUT ? "out" : "a", ta ? "t" : "n", tb ? "t" : "n", S(M), S(N), S(K),
           acc ? "_acc" : "", c->f64 ? "f64" : "f32");
  snprintf(v[0], 32, "%lld", S(M));
  snprintf(v[1], 32, "%lld", S(N));
  snprintf(v[2], 32, "%lld", S(K));
  snprintf(v[3], 32, "%lld", S(ta ? M : K)); /* lda */
  snprintf(v[4], 32, "%lld", S(tb ? K : N)); /* ldb */
  snprintf(v[5], 32, "%d", ta);
  snprintf(v[6], 32, "%d", tb);
  snprintf(v[7], 32, "%d", acc);
  const char *argv[] = {
      v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], tri == IR_TRI_OUT ? "1" : "0"};
  char doc[160];
  snprintf(doc, sizeof doc, "y = %s over [%lld x %lld] tiles (causal; exact CPU semantics)",
           tri == IR_TRI_OUT ? "tril(op(a) @ op(b))" : "op(tril(a)) @ op(b)", S(M), S(N));
  int k = cu_kernel_tmpl(
      c, name, doc, "$T *y, const $T *a, const $T *b, i64 sa, i64 sb",
      "{\n"
      "  /* tile (ti, tj) of 16 x 16 outputs; threads (ty, tx) */\n"
      "  __shared__ $T As[16][17], Bs[16][17];\n"
      "  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;\n"
      "  const i64 i0 = (i64)blockIdx.y * 16, j0 = (i64)blockIdx.x * 16, bt = blockIdx.z;\n"
      "  const $T *ab = a + bt * sa, *bb = b + bt * sb;\n"
      "  const i64 i = i0 + ty, j = j0 + tx;\n"
      "  $T *yp = y + bt * (i64)$0 * $1 + i * $1 + j;\n"
      "  const int out_tri = $8;\n"
      "  if (out_tri && j0 > i0 + 15) { /* wholly above the diagonal */\n"
      "    if (!$7 && i < $0 && j < $1) *yp = ($T)0;\n"
      "    return;\n"
      "  }\n"
      "  /* the k range the triangle leaves: op(tril(a)) is zero for k > i (a)\n"
      "   * or k < i (a^T) */\n"
      "  i64 k0 = 0, k1 = $2;\n"
      "  if (!out_tri && !$5) k1 = FTC_MIN(k1, i0 + 16);\n"
      "  if (!out_tri && $5) k0 = i0 & ~(i64)15;\n"
      "  $T s = 0;\n"
      "  for (i64 kt = k0; kt < k1; kt += 16) {\n"
      "    const i64 ka = kt + tx, kb = kt + ty;\n"
      "    $T av = 0, bv = 0;\n"
      "    if (i < $0 && ka < $2) {\n"
      "      av = $5 ? ab[ka * $3 + i] : ab[i * $3 + ka];\n"
      "      if (!out_tri && ($5 ? ka < i : ka > i)) av = 0;\n"
      "    }\n"
      "    if (kb < $2 && j < $1) bv = $6 ? bb[j * $4 + kb] : bb[kb * $4 + j];\n"
      "    As[ty][tx] = av;\n"
      "    Bs[ty][tx] = bv;\n"
      "    __syncthreads();\n"
      "    for (int q = 0; q < 16; q++) s += As[ty][q] * Bs[q][tx];\n"
      "    __syncthreads();\n"
      "  }\n"
      "  if (i >= $0 || j >= $1) return;\n"
      "  if (out_tri && j > i) {\n"
      "    if (!$7) *yp = ($T)0;\n"
      "    return;\n"
      "  }\n"
      "  *yp = $7 ? *yp + s : s;\n"
      "}\n",
      argv, 9, 1, 0);
  snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), %lld, %lld", S(cu_off(c, id)),
           S(cu_off(c, n->in[0])), S(cu_off(c, n->in[1])), S(sa), S(sb));
  cu_launch(c, k, (N + 15) / 16, (M + 15) / 16, batch, 256, args);
  return k < 0 ? -1 : 0;
}

/* The plan's positions and reader counts of every node. */
static int *positions(const Cu *c) {
  int *pos = malloc(sizeof(int) * (size_t)(c->g->n + 1));
  if (!pos) return NULL;
  for (int i = 0; i < c->g->n; i++) pos[i] = -1;
  for (int k = 0; k < c->p->norder; k++) pos[c->p->order[k]] = k;
  return pos;
}

/* A plain product whose result only `user` reads: no causal structure, no
 * accumulator, 2-D (or flattened) b, and not the graph's output. */
static int plain_single_use(const Cu *c, int m, int user) {
  const IrGraph *g = c->g;
  const IrNode *n = &g->nodes[m];
  if (n->op != IR_MATMUL || n->dead || n->nin != 2 || n->ia[2] || n->dtype != g->nodes[user].dtype)
    return 0;
  if (m == g->logits || m == g->loss) return 0;
  for (int i = 0; i < g->n; i++) {
    const IrNode *r = &g->nodes[i];
    if (r->dead || i == user) continue;
    for (int k = 0; k < r->nin; k++)
      if (r->in[k] == m) return 0;
  }
  return 1;
}

int cu_plan_epilogues(Cu *c) {
  const IrGraph *g = c->g;
  int *pos = positions(c);
  if (!pos) return -1;
  if (getenv("FTC_NO_EPILOGUES")) { /* A/B checks: every product alone */
    free(pos);
    return 0;
  }
  for (int id = 0; id < g->n; id++) {
    const IrNode *n = &g->nodes[id];
    if (n->dead || pos[id] < 0) continue;
    /* y = x @ W + b: the product runs right before the add, which writes in
     * place over it, and reads only the product and a row of its width */
    if (n->op == IR_ADD) {
      const int m = n->in[0], b = n->in[1];
      const IrShape *ms = &g->nodes[m].shape, *bs = &g->nodes[b].shape;
      if (pos[m] == pos[id] - 1 && plain_single_use(c, m, id) &&
          c->p->offset[m] == c->p->offset[id] && bs->rank == 1 && bs->d[0] == ms->d[ms->rank - 1] &&
          ir_numel(bs) < ir_numel(ms)) {
        c->skip[m] = 1;
        c->bias_of[m] = b;
        c->add_of[m] = id;
      }
    }
    /* dW = x^T @ dy with db = sum_to(dy) earlier: the product's epilogue
     * sums dy over rows (BGRADA) into db, unless db is read in between */
    if (n->op == IR_MATMUL && n->ia[0] && !n->ia[1] && !n->ia[2] && n->nin == 2 &&
        g->nodes[n->in[0]].shape.rank == 2 && g->nodes[n->in[1]].shape.rank == 2) {
      const int dy = n->in[1];
      const int64_t N = n->shape.d[1];
      for (int s = 0; s < g->n; s++) {
        const IrNode *t = &g->nodes[s];
        if (t->dead || t->op != IR_SUM_TO || pos[s] < 0 || pos[s] >= pos[id] || c->skip[s] ||
            ir_numel(&t->shape) != N || t->dtype != n->dtype)
          continue;
        int src = t->in[0];
        while (g->nodes[src].op == IR_RESHAPE) src = g->nodes[src].in[0];
        int base = dy;
        while (g->nodes[base].op == IR_RESHAPE) base = g->nodes[base].in[0];
        if (src != base) continue;
        int early = 0; /* a reader of db before the product */
        for (int r = 0; r < g->n && !early; r++)
          for (int k = 0; k < g->nodes[r].nin; k++)
            if (!g->nodes[r].dead && g->nodes[r].in[k] == s && pos[r] < pos[id]) early = 1;
        if (early) continue;
        c->skip[s] = 1;
        c->bias_of[id] = s;
        break;
      }
    }
  }
  free(pos);
  return 0;
}

int cu_emit_matmul(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  const BackMatmul mm = back_matmul(c->g, id);
  const int ta = mm.ta, tb = mm.tb;
  const int64_t M = mm.M, N = mm.N, K = mm.K, batch = mm.batch, sa = mm.sa, sb = mm.sb;
  const int acc = n->nin == 3, tri = (int)n->ia[2];
  if (acc) cu_copy(c, cu_off(c, id), cu_off(c, n->in[2]), cu_numel(c, id) * cu_esz(c));
  if (tri) return tri_kernel(c, id, ta, tb, M, N, K, batch, sa, sb, acc, tri);
  if (K == 0) { /* nothing to multiply: y = 0 (or the accumulator) */
    if (!acc)
      fprintf(c->host, "  rt_dev_memset(d, D(%lld), 0, %lld);\n", S(cu_off(c, id)),
              S(cu_numel(c, id) * cu_esz(c)));
    return 0;
  }
  int g;
  int64_t yoff = cu_off(c, id);
  if (c->bias_of[id] >= 0) { /* a fused epilogue (cu_plan_epilogues) */
    CuGemm e = mm_desc(c, ta, tb, M, N, K, batch, sa, sb, acc ? 1.0 : 0.0);
    e.epi = c->add_of[id] >= 0 ? 1 /* RT_EPI_BIAS */ : 3 /* RT_EPI_BGRADA */;
    e.bias_off = cu_off(c, c->bias_of[id]);
    if (c->add_of[id] >= 0) yoff = cu_off(c, c->add_of[id]);
    g = cu_gemm(c, &e);
  } else {
    g = cu_mm(c, ta, tb, M, N, K, batch, sa, sb, acc ? 1.0 : 0.0);
  }
  cu_mm_call(c, g, yoff, cu_off(c, n->in[0]), cu_off(c, n->in[1]));
  return g < 0 ? -1 : 0;
}
