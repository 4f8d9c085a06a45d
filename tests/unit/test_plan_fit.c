/* tests/unit/test_plan_fit.c -- the planner's free-block allocator
 * (compiler/plan/fit.c) against the plain linear best-fit it replaced.
 *
 * What must hold: over long random sequences of allocations and releases
 * (sizes in a few classes, so ties and coalescing happen often), fit.c
 * returns exactly the offsets of a linear scan over an offset-sorted list
 * (smallest block that fits, lowest offset among equals; else the top,
 * absorbing a free block that ends there), and the arena top agrees. Plans
 * stay byte-identical because of this.
 */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "plan/fit.h"

/* the reference: the planner's former free list */
typedef struct { int64_t off, size; } Blk;
typedef struct { Blk b[100000]; int n; int64_t top; } Ref;

static int64_t ref_alloc(Ref *f, int64_t need) {
  int best = -1;
  for (int i = 0; i < f->n; i++)
    if (f->b[i].size >= need && (best < 0 || f->b[i].size < f->b[best].size)) best = i;
  if (best >= 0) {
    int64_t off = f->b[best].off;
    f->b[best].off += need;
    f->b[best].size -= need;
    if (f->b[best].size == 0) {
      memmove(&f->b[best], &f->b[best + 1], sizeof(Blk) * (size_t)(f->n - best - 1));
      f->n--;
    }
    return off;
  }
  if (f->n > 0 && f->b[f->n - 1].off + f->b[f->n - 1].size == f->top) {
    int64_t off = f->b[--f->n].off;
    f->top = off + need;
    return off;
  }
  int64_t off = f->top;
  f->top += need;
  return off;
}

static void ref_release(Ref *f, int64_t off, int64_t size) {
  int i = 0;
  while (i < f->n && f->b[i].off < off) i++;
  memmove(&f->b[i + 1], &f->b[i], sizeof(Blk) * (size_t)(f->n - i));
  f->b[i] = (Blk){off, size};
  f->n++;
  if (i + 1 < f->n && f->b[i].off + f->b[i].size == f->b[i + 1].off) {
    f->b[i].size += f->b[i + 1].size;
    memmove(&f->b[i + 1], &f->b[i + 2], sizeof(Blk) * (size_t)(f->n - i - 2));
    f->n--;
  }
  if (i > 0 && f->b[i - 1].off + f->b[i - 1].size == f->b[i].off) {
    f->b[i - 1].size += f->b[i].size;
    memmove(&f->b[i], &f->b[i + 1], sizeof(Blk) * (size_t)(f->n - i - 1));
    f->n--;
  }
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void run(int steps, int classes, int64_t base) {
  static Ref ref;
  ref.n = 0;
  ref.top = base;
  Fit fit = FIT_INIT(base);
  int64_t (*live)[2] = malloc(sizeof *live * (size_t)steps);
  int nlive = 0, mismatches = 0;
  for (int s = 0; s < steps && mismatches < 5; s++) {
    /* allocate a little more often than release, so the arena grows and
     * fragments; drain towards the end so coalescing is exercised fully */
    int alloc = s < steps * 3 / 4 ? next() % 5 < 3 : nlive == 0;
    if (alloc) {
      int64_t need = 64 * (int64_t)(1 + next() % (uint64_t)classes);
      int64_t a = ref_alloc(&ref, need), b = fit_alloc(&fit, need);
      if (a != b) {
        mismatches++;
        CHECK(a == b, "step %d: alloc %lld at %lld, reference %lld", s, (long long)need,
              (long long)b, (long long)a);
      }
      live[nlive][0] = a;
      live[nlive][1] = need;
      nlive++;
    } else if (nlive > 0) {
      int k = (int)(next() % (uint64_t)nlive);
      ref_release(&ref, live[k][0], live[k][1]);
      CHECK(fit_release(&fit, live[k][0], live[k][1]) == 0, "release failed");
      live[k][0] = live[nlive - 1][0];
      live[k][1] = live[nlive - 1][1];
      nlive--;
    }
    if (ref.n != fit.count) {
      mismatches++;
      CHECK(ref.n == fit.count, "step %d: %d free blocks, reference %d", s, fit.count, ref.n);
    }
  }
  CHECK(ref.top == fit.top, "top %lld, reference %lld", (long long)fit.top, (long long)ref.top);
  free(live);
  fit_free(&fit);
}

int main(void) {
  run(20000, 3, 0);       /* few sizes: many exact ties */
  run(20000, 40, 4096);   /* many sizes, a persistent prefix below */
  run(50000, 1000, 64);   /* mostly distinct sizes */
  /* empty arena: grows from the start */
  Fit f = FIT_INIT(128);
  CHECK(fit_alloc(&f, 64) == 128 && fit_alloc(&f, 64) == 192 && f.top == 256, "growth");
  CHECK(fit_release(&f, 192, 64) == 0 && fit_alloc(&f, 128) == 192 && f.top == 320,
        "a free block at the top is absorbed when growing");
  fit_free(&f);
  return check_exit("test_plan_fit");
}
