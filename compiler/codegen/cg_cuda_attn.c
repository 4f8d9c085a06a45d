/* compiler/codegen/cg_cuda_attn.c -- the flash_attention kernels: the
 * forward (online softmax) and FlashAttention-2's backward, causal or not,
 * grouped-query heads, f32 or f64, any head dim up to 128.
 *
 * One idea: a warp is a query row (forward, dQ) or a key row (dK, dV), and
 * a tile of 32 keys (or queries) is the warp's width: lane j scores the
 * row against key j of the tile, the warp's max and sum update the online
 * softmax, and the probabilities go through shared memory so every lane
 * can add p_j * V[j] for the output dims it owns (d = lane + 32 t). No
 * [Tq, Tk] matrix exists anywhere; the log-sum-exp of each row is kept
 * for the backward, which recomputes P = exp(S - lse). dQ is computed by
 * query rows and dK, dV by key rows in two kernels, each output owned by
 * one warp -- no atomics, the same bits every run (the CPU backward
 * serializes over kv heads for the same reason). Tiles of K and V (Q and
 * dO for the key side) sit in dynamic shared memory, padded by one element
 * per row against bank conflicts. The math is scalar FMA: correct and
 * emulated everywhere; a tensor-core version is the GPU session's to write
 * and time (docs/cuda.md).
 */
#include <stdlib.h>
#include <string.h>

#include "cg_cuda.h"

#define S(x) ((long long)(x))
#define NW 8 /* warps (rows) per block */

typedef struct Att {
  int64_t B, Tq, Tk, H, Hkv, D, causal;
  double scale;
} Att;

static Att att_of(const Cu *c, int id, int bwd) {
  const IrNode *n = &c->g->nodes[id];
  const IrShape *q = &c->g->nodes[n->in[bwd]].shape, *k = &c->g->nodes[n->in[bwd + 1]].shape;
  Att a = {q->d[0], q->d[1], k->d[1], q->d[2], k->d[2], q->d[3], n->ia[0] != 0, n->fa[0]};
  return a;
}

/* $0 D, $1 H, $2 Hkv, $3 Tq, $4 Tk, $5 causal, $6 DT (dims per lane),
 * $7 DP (padded row), $8 Tk - Tq, $9 H / Hkv */
static char *fill(Cu *c, const char *t, const char *name, const Att *a) {
  char v[10][32];
  snprintf(v[0], 32, "%lld", S(a->D));
  snprintf(v[1], 32, "%lld", S(a->H));
  snprintf(v[2], 32, "%lld", S(a->Hkv));
  snprintf(v[3], 32, "%lld", S(a->Tq));
  snprintf(v[4], 32, "%lld", S(a->Tk));
  snprintf(v[5], 32, "%lld", S(a->causal));
  snprintf(v[6], 32, "%lld", S((a->D + 31) / 32));
  snprintf(v[7], 32, "%lld", S(a->D + 1));
  snprintf(v[8], 32, "%lld", S(a->Tk - a->Tq));
  snprintf(v[9], 32, "%lld", S(a->H / a->Hkv));
  const char *argv[] = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
  return cu_tmpl(c, t, name, argv, 10);
}

/* Shared by the forward and dQ kernels (string pieces of their text): a
 * warp's query row, the keys the block's last row sees, and one tile of 32
 * keys of K and V into shared memory (zero past Tk). */
#define ROW_HEAD                                                                                   \
  "  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;\n"                                   \
  "  const i64 h = blockIdx.y, b = blockIdx.z, g = h / $9;\n"                                      \
  "  const i64 i0 = (i64)blockIdx.x * NW, i = i0 + w;\n"                                           \
  "  const int live = i < $3;\n"                                                                   \
  "  const $T *kb = k + b * $4 * $2 * $0 + g * $0, *vb = v + b * $4 * $2 * $0 + g * $0;\n"
#define KEY_END "  const i64 kend = $5 ? FTC_MIN((i64)$4, FTC_MIN(i0 + NW, (i64)$3) + $8) : $4;\n"
#define KV_TILE                                                                                    \
  "    __syncthreads();\n"                                                                         \
  "    for (int e = threadIdx.x; e < 32 * $0; e += blockDim.x) {\n"                                \
  "      const int r = e / $0, d = e % $0;\n"                                                      \
  "      const int in = j0 + r < $4;\n"                                                            \
  "      Ks[r * $7 + d] = in ? kb[(j0 + r) * $2 * $0 + d] : ($T)0;\n"                              \
  "      Vs[r * $7 + d] = in ? vb[(j0 + r) * $2 * $0 + d] : ($T)0;\n"                              \
  "    }\n"                                                                                        \
  "    __syncthreads();\n"

static const char fwd_text[] =
    "{\n"
    "  /* block: NW query rows (a warp each) of head h of batch b */\n"
    "  FTC_DYN_SMEM($T, sm);\n"
    "  $T *Ks = sm, *Vs = Ks + 32 * $7, *Qs = Vs + 32 * $7, *Ps = Qs + NW * $0;\n" ROW_HEAD
    "  if (live)\n"
    "    for (int d = lane; d < $0; d += 32) Qs[w * $0 + d] = q[((b * $3 + i) * $1 + h) * $0 + "
    "d];\n"
    "  $T o[$6];\n"
    "  for (int t = 0; t < $6; t++) o[t] = 0;\n"
    "  $T m = $NINF;\n"
    "  double l = 0;\n" KEY_END "  for (i64 j0 = 0; j0 < kend; j0 += 32) {\n" KV_TILE
    "    if (!live) continue;\n"
    "    const i64 j = j0 + lane;\n"
    "    const int vis = j < $4 && (!$5 || j <= i + $8);\n"
    "    $T s = 0;\n"
    "    for (int d = 0; d < $0; d++) s += Qs[w * $0 + d] * Ks[lane * $7 + d];\n"
    "    s = vis ? s * ($T)scale : $NINF;\n"
    "    const $T mt = $WMAX(s), mn = $FMAX(m, mt);\n"
    "    if (mn == $NINF) continue; /* nothing visible yet */\n"
    "    const $T p = vis ? $EXP(s - mn) : ($T)0, corr = $EXP(m - mn);\n"
    "    l = l * (double)corr + (double)$WSUM(p);\n"
    "    Ps[w * 32 + lane] = p;\n"
    "    __syncwarp();\n"
    "    for (int t = 0; t < $6; t++) {\n"
    "      const int d = lane + 32 * t;\n"
    "      $T acc = o[t] * corr;\n"
    "      if (d < $0)\n"
    "        for (int jj = 0; jj < 32; jj++) acc += Ps[w * 32 + jj] * Vs[jj * $7 + d];\n"
    "      o[t] = acc;\n"
    "    }\n"
    "    __syncwarp();\n"
    "    m = mn;\n"
    "  }\n"
    "  if (!live) return;\n"
    "  const $T inv = ($T)(1.0 / l);\n"
    "  for (int t = 0; t < $6; t++) {\n"
    "    const int d = lane + 32 * t;\n"
    "    if (d < $0) out[((b * $3 + i) * $1 + h) * $0 + d] = o[t] * inv;\n"
    "  }\n"
    "  if (lane == 0) lse[(b * $1 + h) * $3 + i] = ($T)((double)m + log(l));\n"
    "}\n";

/* D_i = sum_d dO[i,d] O[i,d] per (b, h, i), a warp per row */
static const char dot_text[] =
    "{\n"
    "  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;\n"
    "  const i64 row = (i64)blockIdx.x * NW + w; /* (b * Tq + i) * H + h */\n"
    "  if (row >= (i64)$0 * 0 + nrows) return;\n"
    "  double s = 0;\n"
    "  for (int d = lane; d < $0; d += 32) s += (double)dout[row * $0 + d] * (double)out[row * $0 "
    "+ d];\n"
    "  s = ftc_warp_sum(s);\n"
    "  const i64 h = row % $1, bi = row / $1, b = bi / $3, i = bi % $3;\n"
    "  if (lane == 0) dv[(b * $1 + h) * $3 + i] = ($T)s;\n"
    "}\n";

static const char dq_text[] =
    "{\n"
    "  FTC_DYN_SMEM($T, sm);\n"
    "  $T *Ks = sm, *Vs = Ks + 32 * $7, *Qs = Vs + 32 * $7, *Os = Qs + NW * $0, *Ps = Os + NW * "
    "$0;\n" ROW_HEAD "  $T li = 0, di = 0;\n"
    "  if (live) {\n"
    "    for (int d = lane; d < $0; d += 32) {\n"
    "      Qs[w * $0 + d] = q[((b * $3 + i) * $1 + h) * $0 + d];\n"
    "      Os[w * $0 + d] = dout[((b * $3 + i) * $1 + h) * $0 + d];\n"
    "    }\n"
    "    li = lse[(b * $1 + h) * $3 + i];\n"
    "    di = dvec[(b * $1 + h) * $3 + i];\n"
    "  }\n"
    "  $T dq[$6];\n"
    "  for (int t = 0; t < $6; t++) dq[t] = 0;\n" KEY_END
    "  for (i64 j0 = 0; j0 < kend; j0 += 32) {\n" KV_TILE "    if (!live) continue;\n"
    "    const i64 j = j0 + lane;\n"
    "    const int vis = j < $4 && (!$5 || j <= i + $8);\n"
    "    $T s = 0, dp = 0;\n"
    "    for (int d = 0; d < $0; d++) {\n"
    "      s += Qs[w * $0 + d] * Ks[lane * $7 + d];\n"
    "      dp += Os[w * $0 + d] * Vs[lane * $7 + d];\n"
    "    }\n"
    "    const $T p = vis ? $EXP(s * ($T)scale - li) : ($T)0;\n"
    "    Ps[w * 32 + lane] = p * (dp - di); /* dS */\n"
    "    __syncwarp();\n"
    "    for (int t = 0; t < $6; t++) {\n"
    "      const int d = lane + 32 * t;\n"
    "      if (d < $0)\n"
    "        for (int jj = 0; jj < 32; jj++) dq[t] += Ps[w * 32 + jj] * Ks[jj * $7 + d];\n"
    "    }\n"
    "    __syncwarp();\n"
    "  }\n"
    "  if (!live) return;\n"
    "  for (int t = 0; t < $6; t++) {\n"
    "    const int d = lane + 32 * t;\n"
    "    if (d < $0) dqo[((b * $3 + i) * $1 + h) * $0 + d] = dq[t] * ($T)scale;\n"
    "  }\n"
    "}\n";

static const char dkv_text[] =
    "{\n"
    "  /* block: NW keys (a warp each) of kv head g of batch b; every query\n"
    "   * head of the group and every query that sees them */\n"
    "  FTC_DYN_SMEM($T, sm);\n"
    "  $T *Qs = sm, *Os = Qs + 32 * $7, *Kw = Os + 32 * $7, *Vw = Kw + NW * $0;\n"
    "  $T *Ls = Vw + NW * $0, *Ds = Ls + 32, *Ps = Ds + 32, *Ss = Ps + NW * 32;\n"
    "  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;\n"
    "  const i64 g = blockIdx.y, b = blockIdx.z;\n"
    "  const i64 j0 = (i64)blockIdx.x * NW, j = j0 + w;\n"
    "  const int live = j < $4;\n"
    "  if (live)\n"
    "    for (int d = lane; d < $0; d += 32) {\n"
    "      Kw[w * $0 + d] = k[((b * $4 + j) * $2 + g) * $0 + d];\n"
    "      Vw[w * $0 + d] = v[((b * $4 + j) * $2 + g) * $0 + d];\n"
    "    }\n"
    "  $T dk[$6], dvv[$6];\n"
    "  for (int t = 0; t < $6; t++) dk[t] = dvv[t] = 0;\n"
    "  /* the first query that sees key j0 */\n"
    "  const i64 qbeg = $5 ? FTC_MAX((i64)0, j0 - $8) & ~(i64)31 : 0;\n"
    "  for (i64 h = g * $9; h < (g + 1) * $9; h++)\n"
    "    for (i64 q0 = qbeg; q0 < $3; q0 += 32) {\n"
    "      __syncthreads();\n"
    "      for (int e = threadIdx.x; e < 32 * $0; e += blockDim.x) {\n"
    "        const int r = e / $0, d = e % $0;\n"
    "        const int in = q0 + r < $3;\n"
    "        Qs[r * $7 + d] = in ? q[((b * $3 + q0 + r) * $1 + h) * $0 + d] : ($T)0;\n"
    "        Os[r * $7 + d] = in ? dout[((b * $3 + q0 + r) * $1 + h) * $0 + d] : ($T)0;\n"
    "      }\n"
    "      if (threadIdx.x < 32) {\n"
    "        const int in = q0 + threadIdx.x < $3;\n"
    "        Ls[threadIdx.x] = in ? lse[(b * $1 + h) * $3 + q0 + threadIdx.x] : ($T)0;\n"
    "        Ds[threadIdx.x] = in ? dvec[(b * $1 + h) * $3 + q0 + threadIdx.x] : ($T)0;\n"
    "      }\n"
    "      __syncthreads();\n"
    "      if (!live) continue;\n"
    "      const i64 i = q0 + lane; /* this lane's query */\n"
    "      const int vis = i < $3 && (!$5 || j <= i + $8);\n"
    "      $T s = 0, dp = 0;\n"
    "      for (int d = 0; d < $0; d++) {\n"
    "        s += Qs[lane * $7 + d] * Kw[w * $0 + d];\n"
    "        dp += Os[lane * $7 + d] * Vw[w * $0 + d];\n"
    "      }\n"
    "      const $T p = vis ? $EXP(s * ($T)scale - Ls[lane]) : ($T)0;\n"
    "      Ps[w * 32 + lane] = p;\n"
    "      Ss[w * 32 + lane] = p * (dp - Ds[lane]);\n"
    "      __syncwarp();\n"
    "      for (int t = 0; t < $6; t++) {\n"
    "        const int d = lane + 32 * t;\n"
    "        if (d < $0)\n"
    "          for (int ii = 0; ii < 32; ii++) {\n"
    "            dvv[t] += Ps[w * 32 + ii] * Os[ii * $7 + d];\n"
    "            dk[t] += Ss[w * 32 + ii] * Qs[ii * $7 + d];\n"
    "          }\n"
    "      }\n"
    "      __syncwarp();\n"
    "    }\n"
    "  if (!live) return;\n"
    "  for (int t = 0; t < $6; t++) {\n"
    "    const int d = lane + 32 * t;\n"
    "    if (d < $0) {\n"
    "      dko[((b * $4 + j) * $2 + g) * $0 + d] = dk[t] * ($T)scale;\n"
    "      dvo[((b * $4 + j) * $2 + g) * $0 + d] = dvv[t];\n"
    "    }\n"
    "  }\n"
    "}\n";

/* kernel text with NW, the warp max/sum of the element type, and $0.. */
static int att_kernel(Cu *c, const char *kind, const char *doc, const char *params,
                      const char *text, const Att *a, unsigned smem) {
  char name[160];
  snprintf(name, sizeof name, "flash_%s_d%lld_h%lld_kv%lld_q%lld_k%lld%s_%s", kind, S(a->D),
           S(a->H), S(a->Hkv), S(a->Tq), S(a->Tk), a->causal ? "_causal" : "",
           c->f64 ? "f64" : "f32");
  char *t1 = cu_str(c, "%s", text);
  /* the warp reductions and the block shape are not math names: replace
   * them before the template pass */
  char *p;
  while (t1 && (p = strstr(t1, "$WMAX")) != NULL) {
    char *n2 =
        cu_str(c, "%.*s%s%s", (int)(p - t1), t1, c->f64 ? "ftc_warp_max" : "ftc_warp_maxf", p + 5);
    free(t1);
    t1 = n2;
  }
  while (t1 && (p = strstr(t1, "$WSUM")) != NULL) {
    char *n2 =
        cu_str(c, "%.*s%s%s", (int)(p - t1), t1, c->f64 ? "ftc_warp_sum" : "ftc_warp_sumf", p + 5);
    free(t1);
    t1 = n2;
  }
  while (t1 && (p = strstr(t1, "NW")) != NULL) {
    char *n2 = cu_str(c, "%.*s%d%s", (int)(p - t1), t1, NW, p + 2);
    free(t1);
    t1 = n2;
  }
  char *body = t1 ? fill(c, t1, name, a) : NULL;
  char *pr = cu_tmpl(c, params, name, NULL, 0);
  int k = cu_kernel(c, name, doc, pr, body, 1, smem);
  free(t1);
  free(body);
  free(pr);
  return k;
}

int cu_emit_attention(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  const int *in = n->in;
  const int bwd = n->op == IR_FLASH_ATTENTION_BWD;
  const Att a = att_of(c, id, bwd);
  const int64_t es = cu_esz(c), DP = a.D + 1;
  char args[320], d1[64];
  if (a.D > 128 || a.H % a.Hkv != 0) {
    fprintf(stderr,
            "ftc: the CUDA flash_attention kernels take head dims up to 128 and kv heads "
            "dividing the query heads (%s has %lld, %lld / %lld)\n",
            c->what, S(a.D), S(a.H), S(a.Hkv));
    return -1;
  }
  cu_dbl(a.scale, d1, sizeof d1);
  if (!bwd) {
    const unsigned smem = (unsigned)((2 * 32 * DP + NW * a.D + NW * 32) * es);
    int k = att_kernel(c, "fwd",
                       "out = softmax(scale q k^T) v per head, tiled by 32 keys with an online "
                       "softmax; lse = log-sum-exp per row",
                       "$T *__restrict__ out, $T *__restrict__ lse, const $T *__restrict__ q, "
                       "const $T *__restrict__ k, const $T *__restrict__ v, double scale",
                       fwd_text, &a, smem);
    snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), D(%lld), D(%lld), %s", S(cu_off(c, id)),
             S(cu_off(c, in[3])), S(cu_off(c, in[0])), S(cu_off(c, in[1])), S(cu_off(c, in[2])),
             d1);
    cu_launch(c, k, (a.Tq + NW - 1) / NW, a.H, a.B, 32 * NW, args);
    return k < 0 ? -1 : 0;
  }
  /* backward: D = rowsum(dO * O) to scratch, then dQ by rows, dK dV by keys */
  const int64_t nrows = a.B * a.Tq * a.H, dvec = cu_scratch(c, nrows * es);
  int k =
      att_kernel(c, "bwd_dot", "D[b,h,i] = sum over d of dO * O",
                 "$T *__restrict__ dv, const $T *__restrict__ dout, const $T *__restrict__ out, "
                 "i64 nrows",
                 dot_text, &a, 0);
  snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), %lld", S(dvec), S(cu_off(c, in[0])),
           S(cu_off(c, in[4])), S(nrows));
  cu_launch(c, k, (nrows + NW - 1) / NW, 1, 1, 32 * NW, args);
  unsigned smem = (unsigned)((2 * 32 * DP + 2 * NW * a.D + NW * 32) * es);
  k = att_kernel(c, "bwd_dq",
                 "dQ = scale dS K by query rows, dS = P (dP - D), P = exp(scale q k^T - lse)",
                 "$T *__restrict__ dqo, const $T *__restrict__ dout, const $T *__restrict__ q, "
                 "const $T *__restrict__ k, const $T *__restrict__ v, const $T *__restrict__ lse, "
                 "const $T *__restrict__ dvec, double scale",
                 dq_text, &a, smem);
  snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), D(%lld), D(%lld), D(%lld), D(%lld), %s",
           S(cu_off(c, id)), S(cu_off(c, in[0])), S(cu_off(c, in[1])), S(cu_off(c, in[2])),
           S(cu_off(c, in[3])), S(cu_off(c, in[5])), S(dvec), d1);
  cu_launch(c, k, (a.Tq + NW - 1) / NW, a.H, a.B, 32 * NW, args);
  smem = (unsigned)((2 * 32 * DP + 2 * NW * a.D + 64 + 2 * NW * 32) * es);
  k = att_kernel(c, "bwd_dkv",
                 "dK = scale dS^T Q, dV = P^T dO by key rows, all query heads of the group",
                 "$T *__restrict__ dko, $T *__restrict__ dvo, const $T *__restrict__ dout, "
                 "const $T *__restrict__ q, const $T *__restrict__ k, const $T *__restrict__ v, "
                 "const $T *__restrict__ lse, const $T *__restrict__ dvec, double scale",
                 dkv_text, &a, smem);
  snprintf(args, sizeof args,
           "D(%lld), D(%lld), D(%lld), D(%lld), D(%lld), D(%lld), D(%lld), D(%lld), %s",
           S(cu_off(c, in[6])), S(cu_off(c, in[7])), S(cu_off(c, in[0])), S(cu_off(c, in[1])),
           S(cu_off(c, in[2])), S(cu_off(c, in[3])), S(cu_off(c, in[5])), S(dvec), d1);
  cu_launch(c, k, (a.Tk + NW - 1) / NW, a.Hkv, a.B, 32 * NW, args);
  return c->err ? -1 : 0;
}
