/* runtime/kernels/layout.c -- see layout_tmpl.h: one template, instantiated for
 * float and double. */
#include "kern.h"

#define KERN_TMPL "layout_tmpl.h"
#include "instantiate.h"
