/* compiler/plan/fit.h -- the memory planner's free-block allocator (fit.c):
 * deterministic best fit over one growing arena, blocks coalesced on
 * release, O(log n) per call. */
#ifndef FTC_PLAN_FIT_H
#define FTC_PLAN_FIT_H

#include <stdint.h>

typedef struct Fit {
  struct FitNode *v; /* node pool; free blocks live in two treaps over it */
  int n, cap;
  int *freeids, nfree; /* pool slots to reuse */
  int root[2];         /* by offset, by (size, offset) */
  int count;           /* free blocks now */
  int64_t top;         /* end of the highest byte ever handed out */
} Fit;

/* An empty arena whose first byte for placing is `top`. */
#define FIT_INIT(top) ((Fit){NULL, 0, 0, NULL, 0, {-1, -1}, 0, (top)})

/* The offset of `need` bytes: the smallest free block that holds them
 * (lowest offset among equal sizes), else the top of the arena, taking in
 * a free block that ends there. -1 when out of memory. */
int64_t fit_alloc(Fit *f, int64_t need);

/* Returns [off, off+size) to the free blocks, merged with free neighbours.
 * 0, or -1 when out of memory. */
int fit_release(Fit *f, int64_t off, int64_t size);

void fit_free(Fit *f);

#endif
