/* runtime/kernels/layout.c -- see layout_tmpl.h: one template, instantiated for
 * float and double. */
#include "kern.h"

#define T float
#define S f32
#include "layout_tmpl.h"
#undef T
#undef S

#define T double
#define S f64
#include "layout_tmpl.h"
#undef T
#undef S
