/* runtime/dev.h -- libftrt's devices: what `--device cuda` and `--device
 * emu` implement behind the calls of ftdev.h, and how a run uses them.
 *
 * One idea: a device is a table of operations on ONE allocation (the plan's
 * arena plus the CUDA generator's tail) and an in-order stream of work.
 * The host keeps its own copy of the arena (rt_run.arena) and the two meet
 * at a few points only: parameters and optimizer state go up before the
 * first step, the
 * step's tokens go up and its loss comes down each step, and parameters
 * and optimizer state come down before anything on the host reads them
 * (checkpoints, weights, sampling). Every device call is checked; a failure
 * prints one line and makes the device `failed`, after which every call is
 * a no-op and the run stops at the end of the step with exit code 3.
 */
#ifndef FTC_RUNTIME_DEV_H
#define FTC_RUNTIME_DEV_H

#include <stddef.h>
#include <stdint.h>
#include "ftdev.h"

typedef enum { RT_DEVICE_CPU = 0, RT_DEVICE_CUDA, RT_DEVICE_EMU } rt_device_kind;

typedef struct rt_dev_ops {
  const char *name;
  int (*open)(rt_dev *d); /* allocate prog->bytes, load kernels */
  void (*close)(rt_dev *d);
  void (*launch)(rt_dev *d, int k, const unsigned g[3], const unsigned b[3], const void *args,
                 size_t n);
  /* plain = 1: the product without its epilogue (dev.c runs it apart) */
  void (*gemm)(rt_dev *d, int g, const void *A, const void *B, void *D, int plain);
  void (*copy)(rt_dev *d, void *dst, const void *src, int64_t n);
  void (*fill)(rt_dev *d, void *dst, int byte, int64_t n);
  /* host <-> device at byte offsets; both return when the host buffer may
   * be reused / read (download waits for the stream) */
  int (*upload)(rt_dev *d, int64_t off, const void *src, int64_t n);
  int (*download)(rt_dev *d, void *dst, int64_t off, int64_t n);
  /* graphs: begin recording the calls that follow; end gives the graph;
   * replay runs it in stream order */
  int (*capture_begin)(rt_dev *d);
  int (*capture_end)(rt_dev *d, void **graph);
  int (*replay)(rt_dev *d, void *graph);
  void (*graph_free)(rt_dev *d, void *graph);
  /* measured memory the device holds for this run, and how it splits */
  int64_t (*memory)(rt_dev *d, char *desc, size_t n);
  /* waits until the stream has run everything queued (the profiler) */
  int (*sync)(rt_dev *d);
  /* emu only: the highest arena byte written (canary), guard intact */
  int64_t (*high_water)(rt_dev *d, int *guard_ok);
} rt_dev_ops;

struct rt_dev {
  const rt_dev_ops *ops;
  const rt_dev_program *prog;
  unsigned char *base; /* device address of offset 0 */
  int ordinal;         /* cuda:N */
  int failed;          /* sticky: a call failed (printed) */
  unsigned char *epi_apart; /* per product: its epilogue runs as a kernel after
                               the plain product (the backend refused it, or
                               FTC_EMU_EPILOGUE_APART=1 under emu); NULL = none */
  void *impl;          /* the backend's state */
  char name[160];      /* for the startup line */
};

extern const rt_dev_ops rt_dev_cuda_ops, rt_dev_emu_ops;

/* "cpu", "cuda", "cuda:N", "emu" -> kind and ordinal; -1 = unknown */
int rt_dev_parse(const char *s, rt_device_kind *kind, int *ordinal);
const char *rt_dev_kind_name(rt_device_kind k);
/* Can this machine run the kind at all (library, driver, a GPU)? Prints
 * one line naming what is missing and returns -1. */
int rt_dev_probe(rt_device_kind k, int ordinal);
/* A device for the program (NULL after printing why). */
rt_dev *rt_dev_open(rt_device_kind k, int ordinal, const rt_dev_program *prog);
void rt_dev_close(rt_dev *d);
/* Marks the device failed after printing "device: what" once. */
void rt_dev_fail(rt_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* bf16 / f16 <-> f32, round to nearest even (the GPU's conversions) */
float rt_bf16_to_f32(uint16_t h);
uint16_t rt_f32_to_bf16(float f);
float rt_f16_to_f32(uint16_t h);
uint16_t rt_f32_to_f16(float f);

#endif
