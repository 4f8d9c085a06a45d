/* runtime/kernels/softmax.c -- softmax and cross-entropy, forward and
 * backward, and the fused lm-head + cross-entropy (lm_head_tmpl.h, which
 * shares the row helpers): one template each, instantiated for float and
 * double. */
#include "kern.h"

#define KERN_TMPL "softmax_tmpl.h"
#define KERN_TMPL2 "lm_head_tmpl.h"
#include "instantiate.h"
