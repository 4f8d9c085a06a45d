/* runtime/arena.c -- the one planned allocation and its measured use.
 *
 * One idea: fill the arena with a canary byte before anything is written;
 * after a step, the highest byte that no longer holds the canary is the
 * measured high-water mark, and a guard region past the plan must still be
 * intact. The canary is 0xFF: as the top byte of a little-endian f32/f64 it
 * is a negative NaN, which no kernel writes, so a written value is never
 * mistaken for an untouched one at the boundary that matters. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_internal.h"

#define CANARY 0xFF
#define GUARD 4096

/* A number read from the first line of a file (cgroup limits); -1 if none. */
static int64_t file_number(const char *path) {
  char buf[64];
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0 || buf[0] < '0' || buf[0] > '9') return -1; /* also "max" */
  buf[n] = 0;
  return strtoll(buf, NULL, 10);
}

int64_t rt_machine_memory(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  int64_t m = pages > 0 && page > 0 ? (int64_t)pages * page : -1;
  /* a container's limit is the machine this process really has */
  int64_t cg[2] = {file_number("/sys/fs/cgroup/memory.max"),
                   file_number("/sys/fs/cgroup/memory/memory.limit_in_bytes")};
  for (int i = 0; i < 2; i++)
    if (cg[i] > 0 && (m < 0 || cg[i] < m)) m = cg[i];
  return m;
}

/* Before allocating: a plan larger than the machine's memory cannot run,
 * and saying so beats an allocation failure or a machine swapping to death. */
static int fits(int64_t bytes) {
  int64_t have = rt_machine_memory();
  if (have <= 0 || bytes <= have) return 1;
  char need[32], got[32];
  rt_fmt_bytes(need, sizeof need, (double)bytes);
  rt_fmt_bytes(got, sizeof got, (double)have);
  rt_err("the plan needs an arena of %s (%lld bytes) but this machine has %s of memory: "
         "make batch, seq or the model smaller (`ftc plan` shows where the bytes go)",
         need, (long long)bytes, got);
  return 0;
}

static int arena_open(rt_arena *a, int64_t bytes, int check_fit) {
  memset(a, 0, sizeof *a);
  if (bytes < 0) {
    rt_err("invalid arena size %lld", (long long)bytes);
    return -1;
  }
  if (check_fit && !fits(bytes)) return -1;
  size_t total = (size_t)bytes + GUARD;
  total = (total + 4095) & ~(size_t)4095;
  a->mem = aligned_alloc(4096, total);
  if (!a->mem) {
    rt_err("cannot allocate the %lld-byte arena the plan needs", (long long)bytes);
    return -1;
  }
  a->bytes = bytes;
  a->guard = (int64_t)(total - (size_t)bytes);
  memset(a->mem + bytes, CANARY, (size_t)a->guard);
  return 0;
}

int rt_arena_open(rt_arena *a, int64_t bytes) { return arena_open(a, bytes, 1); }

/* A device run's host copy: only parameters, optimizer state and the
 * step's inputs are ever written, and pages nobody writes are never
 * backed by memory, so it may be larger than the machine. */
int rt_arena_open_mirror(rt_arena *a, int64_t bytes) { return arena_open(a, bytes, 0); }

void rt_arena_fill_canary(rt_arena *a) { memset(a->mem, CANARY, (size_t)a->bytes); }

int64_t rt_arena_high_water(const rt_arena *a) {
  int64_t i = a->bytes;
  /* Word-wise from the top, then the exact byte. */
  while (i >= 8) {
    uint64_t w;
    memcpy(&w, a->mem + i - 8, 8);
    if (w != ~(uint64_t)0) break;
    i -= 8;
  }
  while (i > 0 && a->mem[i - 1] == CANARY) i--;
  return i;
}

int rt_arena_guard_ok(const rt_arena *a) {
  for (int64_t i = 0; i < a->guard; i++)
    if (a->mem[a->bytes + i] != CANARY) return 0;
  return 1;
}

void rt_arena_close(rt_arena *a) {
  free(a->mem);
  a->mem = NULL;
}

/* open/read into a stack buffer: no allocation, callable between steps. */
int64_t rt_proc_kib(const char *field) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  size_t fl = strlen(field);
  for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (!strncmp(p, field, fl) && p[fl] == ':') return strtoll(p + fl + 1, NULL, 10);
  return -1;
}
