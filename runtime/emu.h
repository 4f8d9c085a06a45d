/* runtime/emu.h -- the host side of `--device emu` (emu_fiber.c): run one
 * kernel launch of a module compiled against cuda_emu.h.
 *
 * One idea: a launch is a function per thread plus its packed arguments;
 * the emulator only decides in which order threads run (emu_fiber.c). */
#ifndef FTC_RUNTIME_EMU_H
#define FTC_RUNTIME_EMU_H

/* Runs fn(args) for every thread of the grid: blocks in parallel over the
 * OpenMP team, threads as a loop (sync = 0) or as fibers (sync = 1: the
 * kernel has barriers or warp collectives). smem: dynamic shared bytes. A
 * kernel that waits where no other thread can release it is reported with
 * `name` and aborts (a compiler bug, never a user error). */
void rt_emu_run(const char *name, void (*fn)(const void *), const void *args, int sync,
                const unsigned grid[3], const unsigned block[3], unsigned smem);

#endif
