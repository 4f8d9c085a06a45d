/* runtime/ftrt.h -- libftrt's public header: what a generated trainer hands
 * the runtime, and what the runtime does with it.
 *
 * One idea: the compiler knows everything static (every tensor's offset in
 * one arena, every kernel call in order), so the generated trainer is a table
 * (rt_model) plus two functions (forward, backward). The runtime owns the
 * rest: flags, the arena (allocated once), data, optimizer, schedule,
 * checkpoints, metrics, sampling, gradient checks. Nothing allocates inside
 * a step.
 */
#ifndef FTC_RUNTIME_FTRT_H
#define FTC_RUNTIME_FTRT_H

#include <stdint.h>
#include <stddef.h>
#include "kernels.h"

#define RT_MAXRANK 6

typedef enum { RT_F32 = 0, RT_F64 = 1 } rt_dtype;
typedef enum { RT_INIT_NONE, RT_INIT_ZEROS, RT_INIT_ONES, RT_INIT_NORMAL, RT_INIT_UNIFORM } rt_init;
typedef enum { RT_OPT_SGD, RT_OPT_ADAGRAD, RT_OPT_ADAMW } rt_opt;
typedef enum { RT_SCHED_CONSTANT, RT_SCHED_LINEAR, RT_SCHED_COSINE } rt_sched;
typedef enum { RT_DATA_TEXT, RT_DATA_SHARDS } rt_data_kind;

/* One parameter tensor. Offsets are bytes into the arena; -1 = none. */
typedef struct rt_param {
  const char *name;       /* Hugging Face name, e.g. "h.0.attn.c_attn.weight" */
  int rank;
  int64_t shape[RT_MAXRANK];
  int64_t numel;
  int64_t off;            /* weights */
  int64_t grad_off;       /* gradient (trainable only) */
  int64_t state_off[2];   /* optimizer state: SGD momentum / AdaGrad sum /
                             AdamW m and v; -1 when unused */
  int trainable;
  int no_decay;
  rt_init init;
  double init_arg;
} rt_param;

typedef struct rt_train_cfg {
  int64_t steps;
  rt_opt opt;
  double lr, momentum, beta1, beta2, eps, weight_decay;
  rt_sched sched;
  int64_t warmup;
  double min_lr;
  double clip;            /* 0 = off */
  int64_t eval_every, eval_batches, save_every, log_every;
  const char *out_dir;
  uint64_t seed;
} rt_train_cfg;

typedef struct rt_data_cfg {
  rt_data_kind kind;
  const char *path;       /* text file or shard file */
  int batch, seq, vocab;
  double split;           /* training fraction */
  const char *tokenizer;  /* text: tokenizer.json, NULL = bytes */
} rt_data_cfg;

/* Planned memory, printed next to the measured figures. */
typedef struct rt_plan_info {
  int64_t arena_bytes;
  int64_t params, grads, optstate, inputs, activations, temps; /* at peak */
  int64_t peak_live;
  const char *peak_op;
} rt_plan_info;

struct rt_ctx;
struct rt_dev_program;
typedef void (*rt_step_fn)(struct rt_ctx *c, unsigned char *arena);

typedef struct rt_model {
  const char *recipe;     /* source recipe path (for messages) */
  const char *hash;       /* content hash of the generated program */
  rt_dtype dtype;
  rt_plan_info plan;
  const rt_param *params;
  int nparams;
  int64_t tokens_off, targets_off; /* i32 [batch, seq] */
  int64_t logits_off;     /* [batch, seq, vocab], valid after forward; -1 when
                             the lm-head is fused with the loss (no logits) */
  int64_t loss_off;       /* scalar, valid after forward */
  rt_step_fn forward;     /* computes loss (and logits) */
  /* With logits_off = -1 (fused lm-head + cross-entropy), a row's logits
   * are x[row] @ op(w), computed by the sampler: x [batch*seq, head_c] at
   * head_x_off (valid after forward), w at head_w_off, stored [vocab,
   * head_c] when head_wt = 1, else [head_c, vocab]. */
  int64_t head_x_off, head_w_off, head_c;
  int head_wt;
  rt_step_fn backward;    /* after forward: writes every trainable grad */
  rt_train_cfg train;
  rt_data_cfg data;
  const char *init_path;  /* weights file from the recipe, or NULL */
  const char *recipe_dir; /* the recipe's directory at build time: the
                             compiler resolved the recipe's relative paths
                             (data, load, save to) against it; flags are
                             relative to the working directory */
  const char *model_name; /* the entry model's definition (gpt2, llama):
                             --help names its weights' family */
  /* data parallel and ZeRO (runtime/dist.c; compiler/passes/zero.c) */
  int zero_stage;         /* 0 = plain data parallel; 1, 2, 3 (shards) */
  int grad_sync_nodes;    /* 1: the backward starts each gradient's collective
                             itself (rt_dist_grad_sync/wait in the schedule) */
  double step_flops;      /* floating-point work of one training step (the
                             matrix products and attention), 0 = unknown */
  int accumulate;         /* micro-batches per update by default (>= 1); every
                             gradient writes on micro-batch 0 and adds on the
                             others (rt_ctx.micro), so --accumulate can change it */
  /* the CUDA step (ftdev.h) when ftc built device code, else NULL */
  const struct rt_dev_program *dev;
  const char *no_device;  /* without dev: why (an op without a CUDA kernel yet, ...) */
} rt_model;

/* The run-time context the step functions receive. */
typedef struct rt_ctx {
  const rt_model *m;
  unsigned char *arena;
  int threads;
  int no_grads;           /* 1: no backward follows this forward (eval,
                             sampling): fused kernels skip gradient work */
  struct rt_dist *dist;   /* ranks and shards (runtime/dist.c), or NULL */
  int micro, nmicro;      /* this forward/backward is micro-batch `micro` of the
                             step's `nmicro` (runtime/accum.c): gradients write
                             on 0 and add on the others */
} rt_ctx;

/* Collectives placed in the schedule by the zero pass (runtime/dist.c):
 * param's gradient is complete, start its all-reduce (or reduce-scatter
 * into this rank's shard); wait for it. No-ops without ranks or shards. */
void rt_dist_grad_sync(rt_ctx *c, int param, void *grad);
void rt_dist_grad_wait(rt_ctx *c, int param);
/* zero stage 3: start gathering param's slices into out (the whole
 * tensor); wait for it. */
void rt_dist_param_gather(rt_ctx *c, int param, void *out);
void rt_dist_param_wait(rt_ctx *c, int param);

/* ZeRO's split of a tensor of n elements over w ranks: rank r owns
 * elements [lo, lo + cnt), ceil(n / w) each, the last ones fewer or none. */
static inline void rt_shard_range(int64_t n, int r, int w, int64_t *lo, int64_t *cnt) {
  int64_t s = (n + w - 1) / w, a = (int64_t)r * s;
  if (a > n) a = n;
  *lo = a;
  *cnt = n - a < s ? n - a : s;
}

/* The trainer's main: parses flags (see ./trainer --help) and runs the
 * chosen command (train, sample, eval, gradcheck). Returns the exit code. */
int rt_main(const rt_model *m, int argc, char **argv);

/* Token shards (runtime/data.c), the format `ftc data text2shards` writes
 * and `data x = shards(...)` reads. Little-endian: 8 bytes "FTCSHARD",
 * u32 version (1), u32 bytes per token (2 = uint16, 4 = uint32), u64 token
 * count, u32 CRC-32C of the token bytes, u32 flags (bit 0: the CRC is
 * set; older shards have 0 there and are not checked); then the tokens.
 * Written atomically (temp file, fsync, rename). Functions print a message
 * naming the file on error. */
typedef struct rt_shard_writer rt_shard_writer;
rt_shard_writer *rt_shard_open(const char *path, int elem_bytes); /* NULL = error */
int rt_shard_append(rt_shard_writer *w, const uint32_t *tok, int64_t n); /* 0 ok */
int rt_shard_close(rt_shard_writer *w);  /* 0 ok; frees w either way */
void rt_shard_abort(rt_shard_writer *w); /* removes the temp file, frees w */
/* `shards(path)` is one shard file or a directory of them, read in name
 * order (runtime/shard_dir.c). For checks before a run: the tokens a data
 * source holds (text: its bytes; shards: the headers' counts), -1 when it
 * is missing or unreadable (no message); and the fewest tokens that leave
 * one training window of seq + 1 at `split`. */
int64_t rt_data_count(int shards, const char *path);
int64_t rt_data_needed(int seq, double split);
/* The memory this process can have: physical RAM, or a smaller cgroup
 * limit; -1 when unknown (runtime/arena.c). The trainer refuses a plan
 * larger than it before allocating; `ftc plan` prints it beside the plan. */
int64_t rt_machine_memory(void);

/* Opt-in per-op profiler (runtime/prof.c), on when env FTC_PROFILE is set
 * (and not "0"). The generated step functions describe every kernel call
 * as a site and time it; the table (per op kind, top calls, GFLOP/s of the
 * matrix products) prints to stderr at exit. Off, each call costs one
 * branch. */
typedef struct rt_prof_site {
  int node;               /* IR node id */
  const char *op;         /* kernel / IR op name */
  const char *name;       /* scope path or NULL */
  const char *shape;      /* output shape */
  double flops;           /* per call (matmul: 2*M*N*K*batch), 0 = not counted */
  /* for FTC_CHECK_FINITE=1 (runtime/check_finite.c): the call's output */
  int64_t out_off, out_numel; /* arena bytes offset, elements */
  int out_float;          /* 1: elements of the build's float dtype, 2: the same
                             where -inf is meant (a causal mask); 0: not checked */
  int bwd;                /* 1: in backward() */
  const char *src;        /* "gpt2.ft:12", the .ft line the node came from */
} rt_prof_site;
int rt_prof_begin(const rt_prof_site *sites, int n); /* 1 when profiling */
double rt_prof_now(void);
void rt_prof_end(int site, double t0);
int rt_prof_on(void);
void rt_prof_extra(const char *what, double t0);     /* runtime-side sites */
/* Instead of timing, call fn(site) after every generated call (devcheck
 * runs the CPU step in lockstep with a device this way); NULL = off. */
void rt_prof_hook(void (*fn)(int site, void *ctx), void *ctx);

/* FTC_CHECK_FINITE=1 (runtime/check_finite.c): after every call of the step
 * functions, its output is scanned for NaN/Inf; the first site found in a
 * step is kept for the trainer's message. Off, it costs nothing more than
 * the profiler's branch. */
int rt_finite_begin(const rt_prof_site *sites, int n); /* 1 when checking */
void rt_finite_after(int site);

#endif
