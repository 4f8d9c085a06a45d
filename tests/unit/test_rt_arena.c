/* tests/unit/test_rt_arena.c -- the arena's measured high-water mark and
 * guard: untouched memory measures 0, the highest written byte sets the
 * mark, a write past the plan breaks the guard. */
#include "test_rt_util.h"
#include "rt_internal.h"

int main(void) {
  rt_arena a;
  CHECK(rt_arena_open(&a, 1000) == 0, "open");
  rt_arena_fill_canary(&a);
  CHECK(rt_arena_high_water(&a) == 0, "untouched: %lld", (long long)rt_arena_high_water(&a));
  CHECK(rt_arena_guard_ok(&a), "guard intact");
  a.mem[10] = 0;
  CHECK(rt_arena_high_water(&a) == 11, "byte 10 -> 11");
  float x = 1.5f;
  memcpy(a.mem + 500, &x, 4);
  CHECK(rt_arena_high_water(&a) == 504, "float at 500 -> %lld", (long long)rt_arena_high_water(&a));
  a.mem[999] = 1;
  CHECK(rt_arena_high_water(&a) == 1000, "last byte");
  CHECK(rt_arena_guard_ok(&a), "guard still intact");
  a.mem[1000 + 7] = 0;
  CHECK(!rt_arena_guard_ok(&a), "write past the plan detected");
  rt_arena_close(&a);
  CHECK(rt_arena_open(&a, 0) == 0 && rt_arena_high_water(&a) == 0, "empty arena");
  rt_arena_close(&a);
  CHECK(rt_proc_kib("VmHWM") > 0, "peak RSS readable");
  return check_exit("test_rt_arena");
}
