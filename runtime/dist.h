/* runtime/dist.h -- data parallelism and ZeRO in the trainer: what the
 * training loop calls when it runs as one of several ranks, or with
 * optimizer state / gradients sharded (dist.c, ckpt_shard.c).
 *
 * One idea: the recipe's batch is per rank and a step's global batch is
 * world * batch rows of the data RNG (data.c's rule), so N ranks at batch
 * B compute what one rank at batch N*B does; gradients are summed by the
 * collectives and averaged in the update (gscale = 1/N), and each rank
 * updates only the slice of every tensor it owns (rt_shard_range).
 */
#ifndef FTC_RUNTIME_DIST_H
#define FTC_RUNTIME_DIST_H

#include "comm.h"
#include "rt_internal.h"

typedef struct rt_dist {
  rt_comm *comm;          /* NULL with one rank */
  rt_launch l;
  int rank, world, stage, nslots, nparams;
  int64_t *lo, *cnt;      /* per param: this rank's shard */
  int64_t *counts, *displs; /* per param, world each: every rank's part */
  int64_t *s_off[2];      /* per param: optimizer state shard (stage >= 1) */
  int64_t *g_off;         /* per param: gradient shard (stage >= 2) */
  int64_t *p_off;         /* per param: parameter shard (stage 3) */
  rt_comm_req *greq;      /* per param: its outstanding all-gather (stage 3) */
  rt_comm_req *req;       /* per param: its outstanding collective */
  double *part;           /* per param: sum of squares of its update */
  int *owner;             /* per param: the bucket (first param) it went in */
  int *by_off;            /* params by gradient address */
  int pend;               /* the open bucket's first param, -1 none */
  int64_t pend_lo, pend_hi, bucket_cap; /* its bytes; FTC_BUCKET_MB */
  int nflush;             /* all-reduces started this step */
  const rt_model *m;
  unsigned char *arena;
  int64_t region_off, region_bytes; /* the shards, after the planned arena */
  int kill_rank;          /* FTC_FAULT_KILL=RANK:STEP (tests): SIGKILL */
  int64_t kill_step;
} rt_dist;

/* Bytes of rank `rank`'s shard region for world `world` (0 when nothing is
 * sharded); offs (nparams * (nslots + 1), may be NULL) gets each block's
 * offset from the region start: slot-major states, then gradients. */
int64_t rt_dist_region(const rt_model *m, int nslots, int rank, int world, int64_t *offs);

/* Before the arena: launch detection, the engine, the shard layout; sets
 * o->arena_extra and quiets ranks > 0. *out = NULL when training is plain
 * single-process. alone (eval, sample): one process whatever the launcher
 * says, and only for stage 3 (whose parameters live in the slices). -1
 * after a message. */
int rt_dist_open(rt_dist **out, const rt_model *m, rt_opts *o, int alone);
void rt_dist_attach(rt_dist *d, rt_run *r);   /* after rt_run_open */
/* eval and sample: rt_run_open plus, for a stage-3 trainer, the slices of
 * one process (rt_run_close closes them) */
int rt_dist_run_open(rt_run *r, const rt_model *m, const rt_opts *o);
void rt_dist_close(rt_dist *d);
void rt_dist_zero_state(rt_run *r);

/* The loop's hooks (the rows of this rank's micro-batches: accum.c). */
/* after the backward: gradients synchronized, the loss averaged over ranks,
 * and a stop requested on any rank made everyone's (*stop). -1 = failed. */
int rt_dist_after_backward(rt_run *r, double *loss, int *stop);
/* the optimizer step on this rank's shards (+ gathering the updated
 * weights); returns the gradient norm of the averaged gradient */
int rt_dist_update(rt_run *r, double lr, int64_t t, double *norm);
/* Stage 3: this rank's slice of param i (NULL when not sharded). */
void *rt_dist_param_slice(const rt_run *r, int i, int64_t *lo, int64_t *cnt);
/* Stage 3: every parameter whole (gathered, owned: free each and the
 * array), collective; *out = NULL when the arena holds them. */
int rt_dist_full_weights(rt_run *r, void ***out);
/* planned bytes of this rank: the plan's arena plus its shard region */
int64_t rt_dist_planned(const rt_run *r);

/* Sharded checkpoints (ckpt_shard.c): each rank writes its shards, rank 0
 * the weights and the index (ckpt.safetensors), which names the files. */
int rt_dist_ckpt_save(rt_run *r, const char *path);
/* Loads a plain or a sharded checkpoint at this run's world size. */
int rt_dist_ckpt_load(rt_run *r, const char *path);
/* 1 when path looks like a sharded checkpoint's index (its header names
 * shards), else 0; says nothing (the loader checks the file). */
int rt_dist_ckpt_sharded(const char *path);

#endif
