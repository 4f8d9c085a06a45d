/* runtime/kernels/gather.c -- see gather_tmpl.h: one template, instantiated for
 * float and double. */
#include "kern.h"

#define T float
#define S f32
#include "gather_tmpl.h"
#undef T
#undef S

#define T double
#define S f64
#include "gather_tmpl.h"
#undef T
#undef S
