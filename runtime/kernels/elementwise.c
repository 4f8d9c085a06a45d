/* runtime/kernels/elementwise.c -- fill, copy, broadcast binary ops, scale,
 * gelu, silu (+ backward), causal mask, sum of squares: one template,
 * instantiated for float and double. */
#include "kern.h"

#define KERN_TMPL "elementwise_tmpl.h"
#include "instantiate.h"
