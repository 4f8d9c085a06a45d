/* runtime/kernels/attention.c -- fused attention (the flash_attention pass):
 * tiled online-softmax forward and FlashAttention-2 backward, reading q, k,
 * v in their [B, T, heads, head_dim] layout, so no permute, no expanded kv
 * heads and no [T, T] scores or probabilities ever exist.
 *
 * The idea: a query tile's softmax needs only its running max m and sum l;
 * each key tile rescales what is already accumulated by exp(m_old - m_new)
 * [Milakov & Gimelshein 2018; Dao 2023]. The forward keeps each row's
 * log-sum-exp (m + log l), so the backward recomputes P = exp(S - lse)
 * tile by tile instead of storing it.
 *
 * Speed: K (and in the backward V) is packed once per call into transposed
 * tiles, keys along the vector lanes, so S = Q K^T and dP = dO V^T stream
 * contiguous tiles; the other four products read rows of q, k, dout and the
 * result in place along the head dimension. All six run in register-blocked
 * micro-kernels (attention_tile.h) written with GCC vector types: AVX-512,
 * AVX2 or SSE2 by the build's -march (compile-time dispatch). Small BLAS
 * calls per tile, the earlier design, paid a call and a pack per product
 * and read K/V rows at a stride of whole token rows (~40 GFLOP/s at T=1024).
 *
 * Memory: every tile lives in the planned workspace (the SCRATCH input ws,
 * rt_attn_ws_layout in kernels.h): the packed tiles, the backward's partial
 * sums and one slot per thread, so a small thread stack is enough.
 *
 * Threads and determinism: forward tasks are (batch, head, query tile),
 * each written by one thread. Backward tasks are (batch, kv head, chunk of
 * query tiles): a task owns the dq rows of its chunk for the query heads of
 * its kv head, and sums its dk, dv contributions over heads, query tiles
 * and key tiles in one fixed order into dk, dv (chunk 0) or a partial copy
 * of its own; the partials are added in chunk order at the end. The number
 * of chunks comes from the sizes and the planned `threads`, never from the
 * threads running, so no result depends on the thread count, and there are
 * no atomics. Causal tiles wholly above the diagonal are never visited. */
#include <omp.h>
#include "kern.h"

/* a*b + c in the micro-kernels as one FMA (ISO C mode turns contraction
 * off; every product here is an accumulation) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

/* vector width of the micro-kernels, bytes: the build target's widest */
#if defined(__AVX512F__)
#define ATT_VB 64
#elif defined(__AVX__)
#define ATT_VB 32
#else
#define ATT_VB 16
#endif

#define KERN_TMPL "attention_tmpl.h"
#include "instantiate.h"
