/* runtime/kernels/matmul_causal.c -- batched matrix products with causal
 * (lower-triangular) structure, for attention.
 *
 * The idea: in causal attention, scores are only needed on and below the
 * diagonal and probabilities are zero above it, so each product is cut into
 * blocks and only the ones the triangle touches go to BLAS (a bit over half
 * the FLOPs at T >> RT_CAUSAL_BLK): row blocks for a triangular result,
 * recursive halving for a triangular operand. Diagonal blocks go through a
 * small scratch block, so the result is exactly
 *   RT_TRI_OUT: y = tril(op(a) @ op(b))     (M == N; above the diagonal 0,
 *               or y unchanged there when accumulating)
 *   RT_TRI_A:   y = op(tril(a)) @ op(b)     (a stored [M,M]; its stored
 *               upper triangle is never read)
 * Threads: OpenMP over the batch (batch * heads), BLAS single-threaded as
 * in matmul.c. */
#include <omp.h>
#include <string.h>
#include "gemm.h"
#include "kern.h"

/* Rows per block: small enough to skip most of the upper triangle, big
 * enough that each BLAS call still runs near full speed (32 and 64 measured
 * alike on 48 x 256x256x64, about 1.15-1.4x over rt_matmul, CPU time). */
#ifndef RT_CAUSAL_BLK
#define RT_CAUSAL_BLK 32
#endif

#define KERN_TMPL "matmul_causal_tmpl.h"
#include "instantiate.h"
