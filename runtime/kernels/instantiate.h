/* runtime/kernels/instantiate.h -- stamps a kernel template out twice, for
 * float (_f32) and double (_f64). A kernel file defines KERN_TMPL (and
 * optionally KERN_TMPL2) to its template header and includes this file, so
 * the f32 and f64 kernels can never drift apart. Deliberately no include
 * guard: every kernel file includes it once. */
#define T float
#define S f32
#include KERN_TMPL
#ifdef KERN_TMPL2
#include KERN_TMPL2
#endif
#undef T
#undef S

#define T double
#define S f64
#include KERN_TMPL
#ifdef KERN_TMPL2
#include KERN_TMPL2
#endif
#undef T
#undef S
