/* runtime/kernels.h -- CPU kernels the generated trainer calls, one per IR op
 * (compiler/ops.def). Every kernel exists for float (_f32) and double (_f64,
 * used by the gradient checks); both are instantiated from one template per
 * file in runtime/kernels/. Kernels never allocate; they are multi-threaded
 * with OpenMP; matrix products go to OpenBLAS. Output may alias an input only
 * where a comment says "in place ok". Shapes are passed flattened: `rows`
 * = product of all but the last dim, `C` = last dim.
 */
#ifndef FTC_RUNTIME_KERNELS_H
#define FTC_RUNTIME_KERNELS_H

#include <stdint.h>

#define RT_KERNELS(T, S)                                                      \
  /* y = v */                                                                 \
  void rt_fill_##S(T *y, int64_t n, double v);                                \
  void rt_copy_##S(T *y, const T *x, int64_t n);                              \
  /* y = a (op) b, b broadcast: b[i % nb]; nb divides n. in place ok (y=a) */ \
  void rt_add_##S(T *y, const T *a, const T *b, int64_t n, int64_t nb);       \
  void rt_sub_##S(T *y, const T *a, const T *b, int64_t n, int64_t nb);       \
  void rt_mul_##S(T *y, const T *a, const T *b, int64_t n, int64_t nb);       \
  void rt_div_##S(T *y, const T *a, const T *b, int64_t n, int64_t nb);       \
  void rt_scale_##S(T *y, const T *x, int64_t n, double s); /* in place ok */ \
  /* y[b] = op(a[b]) @ op(b[b]) for b < batch; op(a) is [M,K], op(b) [K,N];   \
   * ta/tb: stored transposed; sa/sb: batch strides in elements (0 = shared); \
   * accumulate: y += instead of y =. */                                      \
  void rt_matmul_##S(T *y, const T *a, const T *b, int64_t batch, int64_t M,  \
                     int64_t N, int64_t K, int ta, int tb, int64_t sa,        \
                     int64_t sb, int accumulate);                             \
  /* rt_matmul with causal structure (tri: RT_TRI_OUT: y = tril(op(a)@op(b)),\
   * M == N, 0 above the diagonal or y kept there when accumulating;         \
   * RT_TRI_A: y = op(tril(a)) @ op(b), a stored [M,M], its stored upper     \
   * part never read; other tri: rt_matmul). Costs about half at M >> 32. */ \
  void rt_matmul_causal_##S(T *y, const T *a, const T *b, int64_t batch,     \
                            int64_t M, int64_t N, int64_t K, int ta, int tb, \
                            int64_t sa, int64_t sb, int accumulate, int tri); \
  /* y[i,:] = table[idx[i],:], idx in [0,V) (checked by the loader) */        \
  void rt_embedding_##S(T *y, const T *table, const int32_t *idx, int64_t n,  \
                        int64_t C);                                           \
  /* dtable = 0; dtable[idx[i],:] += dy[i,:] */                               \
  void rt_embedding_bwd_##S(T *dtable, const T *dy, const int32_t *idx,       \
                            int64_t n, int64_t C, int64_t V);                 \
  /* the accumulating form: dtable[idx[i],:] += dy[i,:] (no zeroing) */      \
  void rt_embedding_bwd_acc_##S(T *dtable, const T *dy, const int32_t *idx,   \
                                int64_t n, int64_t C, int64_t V);             \
  /* y[j] = sum_i x[i*m + j], j < m (reduce leading dims); n = elements of   \
   * x, a multiple of m (as in rt_add: n, nb) */                              \
  void rt_sum_to_##S(T *y, const T *x, int64_t n, int64_t m);                 \
  void rt_layer_norm_##S(T *y, const T *x, const T *w, const T *b,            \
                         int64_t rows, int64_t C, double eps);                \
  void rt_layer_norm_bwd_x_##S(T *dx, const T *dy, const T *x, const T *w,    \
                               int64_t rows, int64_t C, double eps);          \
  /* dw[c] = sum_r dy[r,c] * xhat[r,c] */                                     \
  void rt_layer_norm_bwd_w_##S(T *dw, const T *dy, const T *x, int64_t rows,  \
                               int64_t C, double eps);                        \
  void rt_rms_norm_##S(T *y, const T *x, const T *w, int64_t rows, int64_t C, \
                       double eps);                                           \
  void rt_rms_norm_bwd_x_##S(T *dx, const T *dy, const T *x, const T *w,      \
                             int64_t rows, int64_t C, double eps);            \
  void rt_rms_norm_bwd_w_##S(T *dw, const T *dy, const T *x, int64_t rows,    \
                             int64_t C, double eps);                          \
  /* gelu: tanh approximation (GPT-2). gelu, silu and their backward are     \
   * in place ok (y = x; dx = dy or dx = x) */                                \
  void rt_gelu_##S(T *y, const T *x, int64_t n);                              \
  void rt_gelu_bwd_##S(T *dx, const T *dy, const T *x, int64_t n);            \
  void rt_silu_##S(T *y, const T *x, int64_t n);                              \
  void rt_silu_bwd_##S(T *dx, const T *dy, const T *x, int64_t n);            \
  /* numerically stable, over the last dim; in place ok */                    \
  void rt_softmax_##S(T *y, const T *x, int64_t rows, int64_t C);             \
  /* dx = y * (dy - sum(dy * y)); in place ok (dx = dy) */                   \
  void rt_softmax_bwd_##S(T *dx, const T *dy, const T *y, int64_t rows,       \
                          int64_t C);                                         \
  /* x: [batch, Tq, Tk] (Tk >= Tq, query i sits at key Tk-Tq+i); keys after  \
   * the query get `fill` (-inf forward, 0 backward); in place ok */          \
  void rt_causal_mask_##S(T *y, const T *x, int64_t batch, int64_t Tq,        \
                          int64_t Tk, double fill);                           \
  /* x: [B,T,H,D]; rotate-half RoPE (pairs i, i+D/2) at position t with       \
   * angle t*theta^(-2i/D); sign=-1 applies the inverse (the backward).      \
   * In place ok. */                                                         \
  void rt_rope_##S(T *y, const T *x, int64_t B, int64_t Tn, int64_t H,        \
                   int64_t D, double theta, int sign);                        \
  /* loss[0] = mean over rows with target >= 0 of -log softmax(logits)[t]    \
   * (rows with target < 0 are ignored: padding; 0 if no row counts). The     \
   * backward gives ignored rows a zero gradient; in place ok (dlogits =      \
   * logits). */                                                             \
  void rt_cross_entropy_##S(T *loss, const T *logits, const int32_t *tgt,     \
                            int64_t N, int64_t V);                            \
  void rt_cross_entropy_bwd_##S(T *dlogits, const T *dloss,                   \
                                const T *logits, const int32_t *tgt,          \
                                int64_t N, int64_t V);                        \
  /* Fused lm-head + cross-entropy: logits = x[N,C] @ op(w) (wt = 1: w is   \
   * [V,C], y = x w^T; 0: [C,V]) computed R rows at a time into ws[R,V],    \
   * never whole; loss as rt_cross_entropy. Unless dx is NULL it also       \
   * writes the loss's gradients (seed 1) dx[N,C] and, unless dw is NULL,  \
   * dw (w's shape), from the same chunks. */                             \
  void rt_lm_head_ce_##S(T *loss, T *dx, T *dw, const T *x, const T *w,       \
                         const int32_t *tgt, int64_t N, int64_t C, int64_t V, \
                         int wt, T *ws, int64_t R);                           \
  /* y = permute(x, perm): shape = x's dims, y's dim i = x's dim perm[i];    \
   * rank <= 8 */                                                            \
  void rt_permute_##S(T *y, const T *x, int rank, const int64_t *shape,       \
                      const int *perm);                                       \
  /* x viewed as [outer, n, inner]; y = x[:, start:start+len, :] */           \
  void rt_slice_##S(T *y, const T *x, int64_t outer, int64_t n,               \
                    int64_t inner, int64_t start, int64_t len);               \
  /* the reverse: dx = zeros [outer,n,inner], dx[:, start:start+len, :] = dy */\
  void rt_slice_bwd_##S(T *dx, const T *dy, int64_t outer, int64_t n,         \
                        int64_t inner, int64_t start, int64_t len);           \
  /* the accumulating form: dx[:, start:start+len, :] += dy */              \
  void rt_slice_bwd_acc_##S(T *dx, const T *dy, int64_t outer, int64_t n,     \
                            int64_t inner, int64_t start, int64_t len);       \
  /* y [outer, na+nb, inner] = cat(a [outer,na,inner], b [outer,nb,inner]) */ \
  void rt_concat_##S(T *y, const T *a, const T *b, int64_t outer, int64_t na, \
                     int64_t nb, int64_t inner);                              \
  /* x [outer, n, inner] -> y [outer, inner] = scale * sum over n */          \
  void rt_reduce_##S(T *y, const T *x, int64_t outer, int64_t n,              \
                     int64_t inner, double scale);                            \
  /* y [outer, n, inner] = scale * x [outer, inner] repeated over n */        \
  void rt_broadcast_##S(T *y, const T *x, int64_t outer, int64_t n,           \
                        int64_t inner, double scale);                         \
  /* x [outer, n, inner] -> y [outer, n*reps, inner], each slice repeated     \
   * reps times in a row (repeat_interleave, for grouped-query attention) */  \
  void rt_expand_##S(T *y, const T *x, int64_t outer, int64_t n,              \
                     int64_t reps, int64_t inner);                            \
  void rt_expand_bwd_##S(T *dx, const T *dy, int64_t outer, int64_t n,        \
                         int64_t reps, int64_t inner);                        \
  /* sum of squares (for gradient clipping) */                                \
  double rt_sumsq_##S(const T *x, int64_t n);

/* rt_matmul_causal structure codes (the MATMUL node's ia[2], ops.def) */
#define RT_TRI_OUT 1 /* output lower-triangular */
#define RT_TRI_A 2   /* operand a (stored) lower-triangular */

RT_KERNELS(float, f32)
RT_KERNELS(double, f64)

/* Threads used by kernels and BLAS (0 = all cores). */
void rt_set_threads(int n);
int rt_get_threads(void);

/* Rows per chunk of rt_lm_head_ce at most (its per-row loss terms live on
 * the calling thread's stack: 32 KiB) */
#define RT_LM_HEAD_MAXROWS 4096

/* Fused attention (compiler/passes/flash_attention.c; kernels/attention.c).
 * q, o, dq, dout [B, Tq, H, D]; k, v, dk, dv [B, Tk, Hkv, D] (Hkv divides H:
 * query head h uses kv head h / (H / Hkv)); lse [B, H, Tq]. causal: query i
 * sees keys j <= i + Tk - Tq (Tq <= Tk). o = softmax(scale q k^T) v, tiled
 * `block` queries by `block` keys (clamped to 1..RT_ATTN_MAXBLK) with an
 * online softmax; lse gets each row's log-sum-exp of the scaled scores. The
 * backward (FlashAttention-2) recomputes the probabilities from lse and
 * writes dq, dk and dv (no accumulation into them). Neither keeps a
 * [Tq, Tk] matrix.
 *
 * ws is the planned workspace (a SCRATCH input, rt_attn_ws_layout's
 * `total` elements): K and V packed into tiles once per call, the
 * backward's dk/dv sums, and one slot of tiles per thread, so nothing of
 * size `block` lives on a thread's stack. At most
 * `threads` threads run a call (each owns a slot). Results do not depend on
 * the thread count: the work is split by sizes and `threads` only. */
#define RT_ATTN_MAXBLK 128     /* the largest tile edge the pass accepts */
#define RT_ATTN_MAXTHREADS 1024 /* the most slots the pass plans */
#define RT_ATTN_KPAD 32        /* key tiles are padded to this many lanes */

typedef struct rt_attn_ws {
  int64_t bq, bk;    /* query rows and keys per tile */
  int64_t kb;        /* bk rounded up to RT_ATTN_KPAD: a packed K^T tile's row */
  int64_t ld;        /* D rounded up to 16: a packed row-major tile's row */
  int64_t nqb, nkb;  /* query and key tiles */
  int64_t slots;     /* threads with their own tiles */
  int64_t nchunk;    /* backward: query-tile chunks, each with its own dk/dv sums */
  int64_t kt, vt;    /* packed K^T and (backward) V^T tiles: D rows of kb keys */
  int64_t rows;      /* packed row-major tiles, bk keys of ld: V (forward), K (backward) */
  int64_t part;      /* backward: dk, dv sums per chunk, [nchunk][2][B][Hkv][Tk][ld] */
  int64_t slot0, slot; /* offset of slot 0; elements per slot */
  int64_t total;     /* elements of the whole workspace */
} rt_attn_ws;

static inline int64_t rt_attn_up_(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* The workspace of one forward (bwd = 0) or backward (bwd = 1) call. The
 * compiler plans `total` elements from it; the kernels find their regions
 * by it. Every region starts at a multiple of 16 elements (64 bytes for
 * f32). */
static inline rt_attn_ws rt_attn_ws_layout(int64_t B, int64_t Tq, int64_t Tk, int64_t Hkv,
                                           int64_t D, int64_t block, int64_t threads,
                                           int bwd) {
  rt_attn_ws w;
  int64_t blk = block < 1 ? 1 : block > RT_ATTN_MAXBLK ? RT_ATTN_MAXBLK : block;
  w.bq = blk < Tq ? blk : Tq > 0 ? Tq : 1;
  w.bk = blk < Tk ? blk : Tk > 0 ? Tk : 1;
  w.kb = rt_attn_up_(w.bk, RT_ATTN_KPAD);
  w.ld = rt_attn_up_(D, 16);
  w.nqb = (Tq + w.bq - 1) / w.bq;
  w.nkb = (Tk + w.bk - 1) / w.bk;
  w.slots = threads < 1 ? 1 : threads > RT_ATTN_MAXTHREADS ? RT_ATTN_MAXTHREADS : threads;
  /* enough backward tasks (batch x kv heads x chunks) for every slot */
  int64_t bh = B * Hkv > 0 ? B * Hkv : 1;
  w.nchunk = bwd ? (w.slots + bh - 1) / bh : 1;
  if (w.nchunk > w.nqb) w.nchunk = w.nqb > 0 ? w.nqb : 1;
  const int64_t tiles = B * Hkv * w.nkb * D * w.kb; /* a multiple of RT_ATTN_KPAD */
  const int64_t rtiles = B * Hkv * w.nkb * w.bk * w.ld;
  w.kt = 0;
  w.vt = tiles;
  w.rows = w.vt + (bwd ? tiles : 0);
  w.part = w.rows + rt_attn_up_(rtiles, 16);
  w.slot0 = w.part + (bwd ? w.nchunk * 2 * B * Hkv * Tk * w.ld : 0);
  /* per slot: the score tile (and the backward's dP tile); the query tile,
   * the output (backward: dQ) accumulator (and dO); row statistics, some
   * kept in double */
  w.slot = rt_attn_up_((bwd ? 2 : 1) * w.bq * w.kb + (bwd ? 3 : 2) * w.bq * w.ld + 4 * w.bq, 16);
  w.total = w.slot0 + w.slots * w.slot;
  return w;
}

#define RT_ATTN_KERNELS(T, S)                                                  \
  void rt_flash_attention_##S(T *o, T *lse, T *ws, const T *q, const T *k,     \
                              const T *v, int64_t B, int64_t Tq, int64_t Tk,  \
                              int64_t H, int64_t Hkv, int64_t D, int causal,  \
                              double scale, int64_t block, int64_t threads);  \
  void rt_flash_attention_bwd_##S(T *dq, T *dk, T *dv, T *ws, const T *dout,  \
                                  const T *q, const T *k, const T *v,         \
                                  const T *o, const T *lse, int64_t B,        \
                                  int64_t Tq, int64_t Tk, int64_t H,          \
                                  int64_t Hkv, int64_t D, int causal,         \
                                  double scale, int64_t block,                \
                                  int64_t threads);
RT_ATTN_KERNELS(float, f32)
RT_ATTN_KERNELS(double, f64)

#endif
