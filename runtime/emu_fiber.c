/* runtime/emu_fiber.c -- how `--device emu` runs a CUDA kernel on the host:
 * blocks in parallel over the OpenMP team, the threads of a block as a loop
 * or as fibers.
 *
 * One idea: CUDA threads only ever wait for each other at a barrier, a
 * shuffle or a vote, so cooperative fibers that switch exactly there give
 * the same results as real threads: a block's fibers run one after the
 * other up to their next wait, and a scheduler releases a warp when all its
 * live lanes wait at a warp collective, and the block when all its live
 * threads wait at __syncthreads. A wait nobody can release (a barrier under
 * divergent control flow) is reported with the kernel's name: it would
 * hang or misbehave on a GPU too. Switching is a few instructions of
 * assembly on x86-64 and AArch64 (ucontext elsewhere), with AddressSanitizer
 * told about every stack switch. Stacks are mmap'd once per OS thread, with
 * a guard page each, and reused by every launch.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cuda_emu.h"
#include "emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#define EMU_STACK (256 << 10)
#else
#define EMU_STACK (64 << 10)
#endif

#if defined(__x86_64__) || defined(__aarch64__)
#define EMU_ASM 1
#else
#include <ucontext.h>
#endif

_Thread_local ftc_dim3 ftc_emu_tid, ftc_emu_bid, ftc_emu_bdim, ftc_emu_gdim;

/* ---- context switch ------------------------------------------------------- */
#ifdef EMU_ASM
/* void emu_switch(void **save_sp, void *to_sp): saves the callee-saved
 * registers on the current stack, stores sp, loads the other sp, restores
 * its registers and returns into it. */
void emu_switch(void **save, void *to);
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl emu_switch\n"
        ".type emu_switch,@function\n"
        "emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size emu_switch, .-emu_switch\n"
        ".section .note.GNU-stack,\"\",@progbits\n"
        ".text\n");
#else
__asm__(".text\n"
        ".globl emu_switch\n"
        ".type emu_switch,%function\n"
        "emu_switch:\n"
        "  sub sp, sp, #176\n"
        "  stp x19, x20, [sp, #0]\n  stp x21, x22, [sp, #16]\n  stp x23, x24, [sp, #32]\n"
        "  stp x25, x26, [sp, #48]\n  stp x27, x28, [sp, #64]\n  stp x29, x30, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n"
        "  mov x2, sp\n  str x2, [x0]\n  mov sp, x1\n"
        "  ldp x19, x20, [sp, #0]\n  ldp x21, x22, [sp, #16]\n  ldp x23, x24, [sp, #32]\n"
        "  ldp x25, x26, [sp, #48]\n  ldp x27, x28, [sp, #64]\n  ldp x29, x30, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  add sp, sp, #176\n"
        "  ret\n"
        ".size emu_switch, .-emu_switch\n"
        ".section .note.GNU-stack,\"\",%progbits\n"
        ".text\n");
#endif
#endif

enum { F_RUN, F_BAR, F_WBAR, F_DONE };

typedef struct Fiber {
  void *sp;
#ifndef EMU_ASM
  ucontext_t uc;
#endif
  unsigned char *stack; /* lowest usable byte */
  void *fake;           /* ASan's fake stack while switched out */
  ftc_dim3 tid;
  int state, lane, warp;
} Fiber;

/* One OS thread's emulator state: the block it runs and its fiber pool. */
typedef struct Emu {
  Fiber *f;
  int cap, n;
  unsigned char *stacks; /* cap * (EMU_STACK + page) */
  size_t page;
  int cur;    /* running fiber, -1 = scheduler (or loop mode) */
  int fibers; /* 1 while the block runs as fibers */
  void *sched_sp;
#ifndef EMU_ASM
  ucontext_t sched_uc;
#endif
  const void *sched_bottom;
  size_t sched_size;
  void *sched_fake;
  void (*fn)(const void *);
  const void *args;
  const char *name;
  uint64_t slot[32][32]; /* per warp, per lane: shuffle and vote values */
  unsigned char *smem;   /* dynamic shared memory of the block */
  size_t smem_cap;
} Emu;

static _Thread_local Emu *emu;

static void die(const char *what) {
  fprintf(stderr, "emu: kernel %s: %s\n", emu && emu->name ? emu->name : "?", what);
  abort();
}

static Emu *emu_get(void) {
  if (!emu) {
    emu = calloc(1, sizeof *emu);
    if (!emu) die("out of memory");
    emu->page = (size_t)sysconf(_SC_PAGESIZE);
    emu->cur = -1;
  }
  return emu;
}

/* Fiber stacks for n threads, each with a guard page below it. */
static void reserve(Emu *e, int n) {
  if (n <= e->cap) return;
  size_t each = EMU_STACK + e->page;
  if (e->stacks) munmap(e->stacks, (size_t)e->cap * each);
  free(e->f);
  e->stacks = mmap(NULL, (size_t)n * each, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  e->f = calloc((size_t)n, sizeof *e->f);
  if (e->stacks == MAP_FAILED || !e->f) die("cannot allocate fiber stacks");
  for (int i = 0; i < n; i++) {
    unsigned char *lo = e->stacks + (size_t)i * each;
    if (mprotect(lo, e->page, PROT_NONE) != 0) die("cannot protect a fiber stack");
    e->f[i].stack = lo + e->page;
  }
  e->cap = n;
}

static void set_current(Emu *e, int i) {
  e->cur = i;
  if (i >= 0) ftc_emu_tid = e->f[i].tid;
}

/* fiber -> scheduler; `done`: the fiber will never run again */
static void to_scheduler(Emu *e, int done) {
  Fiber *f = &e->f[e->cur];
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(done ? NULL : &f->fake, e->sched_bottom, e->sched_size);
#endif
  (void)done;
#ifdef EMU_ASM
  emu_switch(&f->sp, e->sched_sp);
#else
  swapcontext(&f->uc, &e->sched_uc);
#endif
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(f->fake, NULL, NULL);
#endif
}

static void fiber_main(void) {
  Emu *e = emu;
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(NULL, &e->sched_bottom, &e->sched_size);
#endif
  e->fn(e->args);
  e->f[e->cur].state = F_DONE;
  to_scheduler(e, 1);
  die("a finished fiber was resumed");
}

static void fiber_init(Emu *e, int i) {
  Fiber *f = &e->f[i];
  unsigned char *top = f->stack + EMU_STACK;
#ifdef EMU_ASM
#if defined(__x86_64__)
  /* emu_switch pops 6 registers and returns into fiber_main with the
   * stack as a call leaves it (rsp = 8 mod 16) */
  uintptr_t e16 = ((uintptr_t)top - 16) & ~(uintptr_t)15;
  void **s = (void **)e16;
  s[0] = (void *)fiber_main;
  s[1] = NULL;
  for (int k = 1; k <= 6; k++) s[-k] = NULL;
  f->sp = (void *)(s - 6);
#else
  uintptr_t t = ((uintptr_t)top - 16) & ~(uintptr_t)15;
  void **s = (void **)(t - 176);
  memset(s, 0, 176);
  s[11] = (void *)fiber_main; /* x30 */
  f->sp = s;
#endif
#else
  getcontext(&f->uc);
  f->uc.uc_stack.ss_sp = f->stack;
  f->uc.uc_stack.ss_size = EMU_STACK;
  f->uc.uc_link = NULL;
  makecontext(&f->uc, fiber_main, 0);
#endif
  f->state = F_RUN;
  f->fake = NULL;
}

/* scheduler -> fiber i, until it waits or finishes */
static void resume(Emu *e, int i) {
  Fiber *f = &e->f[i];
  set_current(e, i);
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(&e->sched_fake, f->stack, EMU_STACK);
#endif
#ifdef EMU_ASM
  emu_switch(&e->sched_sp, f->sp);
#else
  swapcontext(&e->sched_uc, &f->uc);
#endif
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(e->sched_fake, NULL, NULL);
#endif
  set_current(e, -1);
}

/* Runs the fibers of one block until all are done. */
static void run_fibers(Emu *e) {
  const int n = e->n, nwarps = (n + 31) / 32;
  for (int i = 0; i < n; i++) fiber_init(e, i);
  for (;;) {
    for (int i = 0; i < n; i++)
      if (e->f[i].state == F_RUN) resume(e, i);
    /* everyone waits or is done: release what can be released */
    int released = 0, live = 0, at_bar = 0;
    for (int w = 0; w < nwarps; w++) {
      int lo = w * 32, hi = lo + 32 < n ? lo + 32 : n, wl = 0, ww = 0;
      for (int i = lo; i < hi; i++) {
        wl += e->f[i].state != F_DONE;
        ww += e->f[i].state == F_WBAR;
      }
      if (wl > 0 && ww == wl) {
        for (int i = lo; i < hi; i++)
          if (e->f[i].state == F_WBAR) e->f[i].state = F_RUN;
        released = 1;
      }
    }
    if (released) continue;
    for (int i = 0; i < n; i++) {
      live += e->f[i].state != F_DONE;
      at_bar += e->f[i].state == F_BAR;
    }
    if (live == 0) return;
    if (at_bar != live)
      die("threads wait at different barriers or warp collectives (divergent "
          "__syncthreads/shuffle): this would hang or misbehave on a GPU");
    for (int i = 0; i < n; i++)
      if (e->f[i].state == F_BAR) e->f[i].state = F_RUN;
  }
}

/* ---- what kernels call ------------------------------------------------------ */
static Emu *in_fiber(const char *what) {
  Emu *e = emu;
  if (!e || !e->fibers || e->cur < 0) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "%s in a kernel the generator marked barrier-free "
             "(rt_dev_kernel.sync = 0)",
             what);
    die(msg);
  }
  return e;
}

void ftc_emu_syncthreads(void) {
  Emu *e = in_fiber("__syncthreads");
  e->f[e->cur].state = F_BAR;
  to_scheduler(e, 0);
}

void ftc_emu_syncwarp(void) {
  Emu *e = in_fiber("__syncwarp");
  e->f[e->cur].state = F_WBAR;
  to_scheduler(e, 0);
}

uint64_t ftc_emu_shfl(uint64_t v, int kind, int arg, int width) {
  Emu *e = in_fiber("a warp shuffle");
  const Fiber *f = &e->f[e->cur];
  const int w = f->warp, l = f->lane;
  if (width <= 0 || width > 32) width = 32;
  const int seg = l & ~(width - 1);
  int src = l;
  switch (kind) {
  case FTC_SHFL_IDX:
    src = seg + (arg & (width - 1));
    break;
  case FTC_SHFL_XOR:
    src = l ^ arg;
    break;
  case FTC_SHFL_UP:
    src = l - arg >= seg ? l - arg : l;
    break;
  case FTC_SHFL_DOWN:
    src = l + arg < seg + width ? l + arg : l;
    break;
  }
  /* a lane outside the block (partial last warp) or outside the segment
   * gives the caller's own value */
  if (src < 0 || src >= 32 || w * 32 + src >= e->n || (src & ~(width - 1)) != seg) src = l;
  e->slot[w][l] = v;
  ftc_emu_syncwarp();
  uint64_t r = e->slot[w][src];
  ftc_emu_syncwarp(); /* nobody overwrites a slot before all have read */
  return r;
}

unsigned ftc_emu_vote(int pred, int kind) {
  Emu *e = in_fiber("a warp vote");
  const Fiber *f = &e->f[e->cur];
  const int w = f->warp, lanes = e->n - w * 32 < 32 ? e->n - w * 32 : 32;
  e->slot[w][f->lane] = (uint64_t)(pred != 0);
  ftc_emu_syncwarp();
  unsigned bal = 0;
  for (int i = 0; i < lanes; i++)
    if (e->f[w * 32 + i].state != F_DONE && e->slot[w][i]) bal |= 1u << i;
  int live = 0;
  for (int i = 0; i < lanes; i++) live += e->f[w * 32 + i].state != F_DONE;
  ftc_emu_syncwarp();
  if (kind == FTC_VOTE_BALLOT) return bal;
  if (kind == FTC_VOTE_ANY) return bal != 0;
  return __builtin_popcount(bal) == live;
}

void *ftc_emu_dyn_smem(void) {
  Emu *e = emu;
  if (!e || !e->smem) die("dynamic shared memory used but none was launched with");
  return e->smem;
}

/* ---- a launch ------------------------------------------------------------------ */
static void run_block(Emu *e, unsigned bx, unsigned by, unsigned bz) {
  ftc_emu_bid = (ftc_dim3){bx, by, bz};
  const unsigned nx = ftc_emu_bdim.x, ny = ftc_emu_bdim.y;
  for (int i = 0; i < e->n; i++) {
    Fiber *f = &e->f[i];
    f->tid = (ftc_dim3){(unsigned)i % nx, ((unsigned)i / nx) % ny, (unsigned)i / (nx * ny)};
    f->lane = i % 32;
    f->warp = i / 32;
  }
  if (!e->fibers) {
    for (int i = 0; i < e->n; i++) {
      ftc_emu_tid = e->f[i].tid;
      e->fn(e->args);
    }
    return;
  }
  run_fibers(e);
}

void rt_emu_run(const char *name, void (*fn)(const void *), const void *args, int sync,
                const unsigned grid[3], const unsigned block[3], unsigned smem) {
  const int64_t nb = (int64_t)grid[0] * grid[1] * grid[2];
  const int nt = (int)(block[0] * block[1] * block[2]);
  if (nb <= 0 || nt <= 0) return;
#pragma omp parallel for schedule(dynamic, 1) if (nb > 1)
  for (int64_t b = 0; b < nb; b++) {
    Emu *e = emu_get();
    e->name = name;
    e->fn = fn;
    e->args = args;
    e->fibers = sync;
    e->n = nt;
    reserve(e, nt);
    if (smem > e->smem_cap) {
      free(e->smem);
      e->smem = malloc(smem);
      if (!e->smem) die("out of memory for dynamic shared memory");
      e->smem_cap = smem;
    }
    ftc_emu_gdim = (ftc_dim3){grid[0], grid[1], grid[2]};
    ftc_emu_bdim = (ftc_dim3){block[0], block[1], block[2]};
    unsigned char *keep = e->smem;
    if (smem == 0) e->smem = NULL; /* a kernel without it must not use it */
    run_block(e, (unsigned)(b % grid[0]), (unsigned)((b / grid[0]) % grid[1]),
              (unsigned)(b / ((int64_t)grid[0] * grid[1])));
    e->smem = keep;
  }
}
