/* runtime/kernels/norm.c -- layer_norm and rms_norm, forward and backward:
 * one template, instantiated for float and double. */
#include "kern.h"

#define KERN_TMPL "norm_tmpl.h"
#include "instantiate.h"
