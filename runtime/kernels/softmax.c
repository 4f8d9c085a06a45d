/* runtime/kernels/softmax.c -- softmax and cross-entropy, forward and
 * backward: one template, instantiated for float and double. */
#include "kern.h"

#define T float
#define S f32
#include "softmax_tmpl.h"
#undef T
#undef S

#define T double
#define S f64
#include "softmax_tmpl.h"
#undef T
#undef S
