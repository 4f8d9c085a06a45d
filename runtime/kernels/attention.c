/* runtime/kernels/attention.c -- fused attention (the flash_attention pass):
 * tiled online-softmax forward and FlashAttention-2 backward, reading q, k,
 * v in their [B, T, heads, head_dim] layout, so no permute, no expanded kv
 * heads and no [T, T] scores or probabilities ever exist.
 *
 * The idea: a query block's softmax needs only its running max m and sum l;
 * each key block rescales what is already accumulated by exp(m_old - m_new)
 * [Milakov & Gimelshein 2018; Dao 2023]. The forward keeps each row's
 * log-sum-exp (m + log l), so the backward recomputes P = exp(S - lse)
 * tile by tile instead of storing it.
 *
 * Tiles: a query block of `block` rows by a key block of `block` keys, on
 * the stack (block <= RT_ATTN_MAXBLK). The products on a tile (S = Q K^T,
 * O += P V, and the backward's four) are small BLAS calls with the rows'
 * stride H*D (or Hkv*D) as leading dimension: at head_dim 64 and block 64
 * they ran 3-4x faster than the same template with `omp simd` loops
 * (bench/kernels/bench_attention.c).
 *
 * Threads and determinism: the forward's tasks are (batch, head, query
 * block), independent, each written by one thread. The backward's tasks
 * are (batch, kv head): one task owns that kv head's dK and dV rows and the
 * dQ rows of the query heads it serves, and accumulates over heads, query
 * blocks and key blocks in one fixed order; so no result depends on the
 * thread count, and there are no atomics. Causal tiles wholly above the
 * diagonal are never visited. */
#include "gemm.h"
#include "kern.h"

/* the tile edge actually used */
static inline int64_t attn_block(int64_t block) {
  return block < 1 ? 1 : block > RT_ATTN_MAXBLK ? RT_ATTN_MAXBLK : block;
}

#define KERN_TMPL "attention_tmpl.h"
#include "instantiate.h"
