/* runtime/kernels/norm.c -- layer_norm and rms_norm, forward and backward:
 * one template, instantiated for float and double. */
#include "kern.h"

#define T float
#define S f32
#include "norm_tmpl.h"
#undef T
#undef S

#define T double
#define S f64
#include "norm_tmpl.h"
#undef T
#undef S
