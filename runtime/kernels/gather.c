/* runtime/kernels/gather.c -- see gather_tmpl.h: one template, instantiated for
 * float and double. */
#include "kern.h"

#define KERN_TMPL "gather_tmpl.h"
#include "instantiate.h"
