/* runtime/kernels/elementwise.c -- fill, copy, broadcast binary ops, scale,
 * gelu, silu (+ backward), causal mask, sum of squares: one template,
 * instantiated for float and double. */
#include "kern.h"

#define T float
#define S f32
#include "elementwise_tmpl.h"
#undef T
#undef S

#define T double
#define S f64
#include "elementwise_tmpl.h"
#undef T
#undef S
