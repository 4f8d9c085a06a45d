/* runtime/kernels/softmax.c -- softmax and cross-entropy, forward and
 * backward, and the fused lm-head + cross-entropy (lm_head_tmpl.h, which
 * shares the row helpers): one template each, instantiated for float and
 * double. */
#include "kern.h"

#define T float
#define S f32
#include "softmax_tmpl.h"
#include "lm_head_tmpl.h"
#undef T
#undef S

#define T double
#define S f64
#include "softmax_tmpl.h"
#include "lm_head_tmpl.h"
#undef T
#undef S
