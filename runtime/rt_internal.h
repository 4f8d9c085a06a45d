/* runtime/rt_internal.h -- libftrt's private header: the pieces of the
 * trainer (flags, arena, data, safetensors, checkpoints, optimizer, schedule,
 * metrics) and the one struct that ties them together, rt_run.
 *
 * One idea: every function that can fail prints one clear message naming
 * the file (or flag) and returns -1; only rt_main turns that into an exit
 * code. Nothing here calls exit(), so tests can drive rt_main repeatedly.
 */
#ifndef FTC_RUNTIME_RT_INTERNAL_H
#define FTC_RUNTIME_RT_INTERNAL_H

#include <stdio.h>
#include <stdint.h>
#include <stddef.h>
#include "ftrt.h"

#define RT_FMT(a, b) __attribute__((format(printf, a, b)))

/* ---- messages and checked helpers (util.c) ---------------------------- */
extern const char *rt_progname;           /* prefix of every message */
void rt_err(const char *fmt, ...) RT_FMT(1, 2);  /* "PROG: error: ..." */
void rt_warn(const char *fmt, ...) RT_FMT(1, 2); /* "PROG: warning: ..." */
void *rt_xmalloc(size_t n, const char *what);    /* NULL + message on failure */
void *rt_xcalloc(size_t n, size_t size, const char *what);
/* Reads a whole file; *buf is owned by the caller (free). */
int rt_read_file(const char *path, unsigned char **buf, int64_t *n);
int rt_file_exists(const char *path);
int rt_mkdir_p(const char *dir);          /* 0 ok; message on failure */
char *rt_path_join(const char *dir, const char *file); /* owned */
double rt_now(void);                      /* monotonic seconds */
size_t rt_dtype_size(rt_dtype d);

/* ---- deterministic RNG (util.c): splitmix64 ---------------------------- */
typedef struct rt_rng { uint64_t s; } rt_rng;
void rt_rng_seed(rt_rng *r, uint64_t seed);
uint64_t rt_rng_next(rt_rng *r);
double rt_rng_uniform(rt_rng *r);         /* [0, 1) with 53 bits */
double rt_rng_normal(rt_rng *r);          /* Box-Muller, one value per call */
uint64_t rt_hash_str(const char *s, uint64_t h); /* FNV-1a, chainable */

/* ---- resolved settings: the recipe with flags applied (main.c) -------- */
typedef struct rt_opts {
  const char *cmd;                        /* train, eval, sample, gradcheck */
  rt_train_cfg train;
  rt_data_cfg data;
  const char *init_path;
  int resume, threads, quiet;
  int64_t stop_at;                        /* stop (and save) after this step */
  const char *prompt;                     /* sample */
  int64_t ntokens;
  double temperature;
  int top_k;
  uint64_t sample_seed;
  double tol, atol, eps;                  /* gradcheck */
  int64_t samples;
  int keep;                               /* --keep K: checkpoints kept */
  int nonfinite_skip;                     /* --nonfinite skip (else stop) */
  int64_t max_skips;                      /* --max-skips N */
  double spike_sigma;                     /* --spike-sigma K, 0 = off */
  char **files;                           /* verify FILE... (argv) */
  int nfiles;
  int64_t arena_extra;                    /* bytes after the plan (ZeRO shards) */
  int64_t accum;                          /* micro-batches per update (>= 1) */
  int accum_given;                        /* --accumulate was given (a resume
                                             keeps the checkpoint's otherwise) */
  int device, device_ordinal;             /* rt_device_kind (dev.h), cuda:N */
} rt_opts;

/* ---- the arena (arena.c) ---------------------------------------------- */
typedef struct rt_arena {
  unsigned char *mem;                     /* aligned block, bytes + guard */
  int64_t bytes, guard;
} rt_arena;
int rt_arena_open(rt_arena *a, int64_t bytes);
int rt_arena_open_mirror(rt_arena *a, int64_t bytes); /* a device run's host copy */
void rt_arena_fill_canary(rt_arena *a);   /* before weights are written */
int64_t rt_arena_high_water(const rt_arena *a); /* highest changed byte + 1 */
int rt_arena_guard_ok(const rt_arena *a);
void rt_arena_close(rt_arena *a);
int64_t rt_proc_kib(const char *field);  /* "VmHWM", "VmRSS" in KiB; -1 */

/* ---- data (data.c) ----------------------------------------------------- */
#define RT_SHARD_MAGIC "FTCSHARD"
#define RT_SHARD_VERSION 1
#define RT_SHARD_HEADER 32
#define RT_SHARD_HAS_CRC 1u                /* header flags (bytes 28..31) */
typedef struct rt_data {
  const char *path;
  unsigned char *buf;                     /* owned: the file's tokens */
  const unsigned char *tok;               /* first token */
  int elem;                               /* bytes per token: 1 text, 2, 4 */
  int64_t n, ntrain;                      /* tokens; first ntrain are train */
  int batch, seq, vocab;
  rt_rng rng;                             /* the data position: RNG state ... */
  uint64_t batches;                       /* ... and batches drawn so far */
} rt_data;
int rt_data_open(rt_data *d, const rt_data_cfg *cfg, uint64_t seed);
/* One shard in buf[0..n): checks it all; tokens at *tok (data.c). */
int rt_shard_parse(const char *path, const unsigned char *buf, int64_t n, int vocab,
                   const unsigned char **tok, int *elem, int64_t *count);
/* A directory of shards, concatenated in name order, every file checked
 * (shard_dir.c). *buf is owned by the caller. */
int rt_shard_dir_load(const char *dir, int vocab, unsigned char **buf, int *elem, int64_t *n);
int rt_is_dir(const char *path);
/* One batch of d->batch rows: rt_data_rows(0, batch) then advance(batch). */
void rt_data_next(rt_data *d, int32_t *tokens, int32_t *targets);
/* The global-batch rule (accumulation and ranks, data.c): rows [row0,
 * row0+nrows) of the step's global batch, without moving the position;
 * rt_data_advance(global_rows) ends the step. Micro-batch i of rank r at
 * per-rank batch B with `accum` micro-batches reads row0 = (r*accum + i)*B. */
void rt_data_rows(const rt_data *d, int64_t row0, int nrows, int32_t *tokens,
                  int32_t *targets);
void rt_data_advance(rt_data *d, int64_t global_rows);
int64_t rt_data_val_batches(const rt_data *d); /* distinct val batches */
void rt_data_val(const rt_data *d, int64_t b, int32_t *tokens, int32_t *targets);
void rt_data_close(rt_data *d);
/* Text through a tokenizer.json (data_tok.c): replaces d's bytes by their
 * tokens (u32), checked against d->vocab. */
int rt_data_tokenize(rt_data *d, const char *tokenizer_path);

/* ---- safetensors (safetensors.c reads, safetensors_write.c writes) ----- */
typedef enum {
  ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16,
  ST_BF16, ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_NDTYPES
} rt_st_dtype;
#define RT_ST_MAXRANK 8
typedef struct rt_st_tensor {
  char *name;
  rt_st_dtype dtype;
  int rank;
  int64_t shape[RT_ST_MAXRANK];
  int64_t numel, begin, end;              /* offsets into the data block */
  uint32_t crc;                           /* stored checksum (has_crc) */
  int has_crc;
} rt_st_tensor;
typedef struct rt_st_file {
  char *path;
  int fd;
  int64_t size, data_start;
  rt_st_tensor *t;
  int n;
  char **meta;                            /* key, value, key, value, ... */
  int nmeta;
  int checksummed;                        /* carries ftrt.crc32c (verified) */
} rt_st_file;
const char *rt_st_dtype_name(rt_st_dtype d);
int rt_st_dtype_size(rt_st_dtype d);     /* bytes per element */
int rt_st_open(rt_st_file *f, const char *path);    /* validates everything */
const rt_st_tensor *rt_st_find(const rt_st_file *f, const char *name);
const char *rt_st_meta(const rt_st_file *f, const char *key);
/* Reads a float tensor converted to dtype `to` into dst (numel elements). */
int rt_st_read(const rt_st_file *f, const rt_st_tensor *t, rt_dtype to, void *dst);
void rt_st_close(rt_st_file *f);

typedef struct rt_st_out {
  const char *name;
  rt_st_dtype dtype;                      /* ST_F32 or ST_F64 ... */
  rt_dtype src;                           /* the data's dtype (converted) */
  int rank;
  const int64_t *shape;
  const void *data;
} rt_st_out;
/* Writes atomically (temp file, fsync, rename, fsync dir); meta is
 * key, value pairs. On failure the old file at `path` is untouched. */
int rt_st_write(const char *path, const rt_st_out *t, int n,
                const char *const *meta, int nmeta);
extern int64_t rt_st_fail_after;          /* test hook: fail after N bytes */

/* ---- checksums (crc32c.c, safetensors_crc.c) ---------------------------
 * Every file rt_st_write makes carries, in __metadata__, "ftrt.crc32c" (a
 * sum over the other metadata pairs) and "ftrt.crc32c.<tensor>" for each
 * tensor (over its name, dtype, shape, offsets and bytes). rt_st_open
 * checks the metadata sum, rt_st_read each tensor it reads. */
uint32_t rt_crc32c(uint32_t crc, const void *buf, size_t n); /* chainable */
uint32_t rt_crc32c_soft(uint32_t crc, const void *buf, size_t n); /* tests */
#define RT_ST_CRC_KEY "ftrt.crc32c"
int rt_st_is_crc_key(const char *key);
/* the checksum of a tensor's descriptor, which its bytes continue */
uint32_t rt_st_tensor_seed(const char *name, rt_st_dtype dt, int rank,
                           const int64_t *shape, int64_t begin, int64_t end);
uint32_t rt_st_meta_sum(char *const *kv, int nmeta); /* skips crc keys */
int rt_st_crc_attach(rt_st_file *f);      /* rt_st_open's checks */
/* 0 when `got` is t's stored checksum (or it has none), else a message
 * naming the file and the tensor and -1. */
int rt_st_crc_check(const rt_st_file *f, const rt_st_tensor *t, uint32_t got);
/* Reads every tensor and checks its checksum: the number that fail (each
 * named), or -1 on a read error. */
int rt_st_verify(const rt_st_file *f);
/* n bytes at file offset off (message naming the file on failure) */
int rt_st_pread(const rt_st_file *f, void *buf, int64_t n, int64_t off);

/* ---- anomalies (anomaly.c, check_finite.c, fault.c) -------------------- */
typedef struct rt_anomaly {
  int skip;                               /* policy: skip the update, else stop */
  int64_t max_skips, skipped;             /* skipped: so far (checkpointed) */
  int skipped_now;                        /* this step was skipped */
  double sigma;                           /* spike threshold, 0 = off */
  double mean, var;                       /* loss EMA statistics (checkpointed) */
  int64_t n;
  double spike;                           /* this step's excess in sd, 0 = none */
} rt_anomaly;
void rt_anomaly_init(rt_anomaly *a, const rt_opts *o);
/* Loss spike test; updates the statistics with a normal loss. Returns the
 * excess in standard deviations, 0 when the loss is not a spike. */
double rt_spike(rt_anomaly *a, double loss);
/* check_finite.c: the arena and dtype to scan; reset per step; the first
 * non-finite site as text (0 when none); forcing a diagnostic re-run. */
void rt_finite_setup(unsigned char *arena, rt_dtype dt);
void rt_finite_reset(void);
int rt_finite_enabled(void);
void rt_finite_force(int on);
int rt_finite_describe(char *buf, size_t cap);
/* fault.c: FTC_FAULT hooks for the fault-injection suites */
struct rt_run;
void rt_fault_step(struct rt_run *r, int64_t step, double *loss);
void rt_fault_write(int half);            /* -1 at the start of a file */
void rt_fault_eval(void);
/* peak.c: the machine's estimated peak FLOP/s for `threads` threads of the
 * build's dtype (FTC_PEAK_FLOPS overrides), and how it was found */
double rt_peak_flops(int threads, rt_dtype dt, const char **how);

/* ---- the run: everything a command works with ------------------------- */
typedef struct rt_run {
  const rt_model *m;
  rt_opts o;
  rt_arena arena;
  rt_ctx ctx;
  rt_data data;
  int have_data;
  int64_t step;                           /* optimizer updates done */
  size_t esz;                             /* bytes per element (f32/f64) */
  double last_lr, last_norm;
  struct rt_dist *dist;                   /* ranks and shards (dist.c), or NULL */
  rt_anomaly an;                          /* non-finite policy, spike stats */
  struct rt_devrun *dev;                  /* --device cuda|emu (device.c) */
} rt_run;
/* A non-finite loss or gradient norm at `step`: names it (and the first
 * non-finite op when the weights are intact), then 1 = skip the update and
 * go on, -1 = stop (anomaly.c). */
int rt_nonfinite(rt_run *r, int64_t step, const char *what, double v, int weights_intact);

int rt_run_open(rt_run *r, const rt_model *m, const rt_opts *o); /* arena */
void rt_run_close(rt_run *r);
static inline void *rt_at(const rt_run *r, int64_t off) { return r->arena.mem + off; }
double rt_loss(const rt_run *r);          /* the scalar at loss_off */

/* ---- the step on a device (device.c); on the CPU these call the
 * generated step directly. Return 0, or -1 after a device failure. -------- */
int rt_device_open(rt_run *r);            /* --device cuda|emu: attach */
void rt_device_close(rt_run *r);
int rt_step_forward(rt_run *r);           /* loss at loss_off on the host */
int rt_step_backward(rt_run *r);
double rt_device_optim_step(rt_run *r, double lr, double gscale, int64_t t);
double rt_device_grad_norm(rt_run *r);
int rt_device_sync_host(rt_run *r);       /* params + optimizer state down */
int rt_device_pull(rt_run *r, int64_t off, int64_t bytes); /* a region down */
int rt_device_report(rt_run *r);          /* after the first step */
/* devcheck: the whole host arena up, then call site s alone */
int rt_device_run_site(rt_run *r, int s);
int rt_device_read(rt_run *r, void *dst, int64_t off, int64_t bytes);
const char *rt_device_name(const rt_run *r);
int rt_cmd_devcheck(const rt_model *m, const rt_opts *o);

/* ---- weights and checkpoints (ckpt.c) ---------------------------------- */
void rt_weights_init(rt_run *r);          /* rt_param init, seeded per name */
void rt_optstate_zero(rt_run *r);
int rt_weights_load(rt_run *r, const char *path);   /* HF names */
int rt_weights_save(rt_run *r, const char *path);   /* F32, HF names */
/* the same from data[i] per parameter (zero stage 3's gathered weights) */
int rt_weights_save_from(rt_run *r, const char *path, void *const *data);
int rt_ckpt_save(rt_run *r, const char *path);
int rt_ckpt_load(rt_run *r, const char *path);
/* rt_ckpt_save plus extra metadata pairs (key, value, ...; at most 16) */
int rt_ckpt_save_meta(rt_run *r, const char *path, const char *const *extra, int nextra);
/* A checkpoint's unsigned metadata value; -1 + message naming the file. */
int rt_ckpt_meta_u64(const rt_st_file *f, const char *key, uint64_t *out);
/* The newest trained weights in out_dir (model.safetensors or
 * ckpt.safetensors, by the step in their metadata): *path owned, NULL when
 * there are none. -1 when a file exists but cannot be read. */
int rt_find_trained(const char *out_dir, char **path);
/* ckpt_keep.c: with --keep K > 1, gives the checkpoint just saved a second
 * name DIR/ckpt.stepNNNNNNNN.safetensors and removes kept steps beyond K
 * (and any newer than this step). rt_ckpt_resume loads ckpt_path, else the
 * newest kept checkpoint that passes rt_ckpt_load, saying which. */
int rt_ckpt_keep(rt_run *r, const char *ckpt_path);
int rt_ckpt_resume(rt_run *r, const char *ckpt_path);
int rt_ckpt_kept(const char *dir, int64_t **steps); /* count, newest first */
char *rt_ckpt_kept_path(const char *dir, int64_t step); /* owned */

/* ---- optimizer and schedule (optim.c, sched.c) ------------------------- */
double rt_sched_lr(const rt_train_cfg *c, int64_t step); /* step >= 1 */
double rt_grad_norm(const rt_run *r);
/* One update of every trainable parameter; t = update number (1-based).
 * Returns the sum of squares of the (unscaled) gradients it read: without
 * clipping, sqrt of it is the step's gradient norm at no extra pass. */
double rt_optim_step(rt_run *r, double lr, double grad_scale, int64_t t);
/* The per-tensor update, exposed for tests. s0/s1 may be NULL if unused.
 * Returns sum(g^2) over the tensor. */
double rt_optim_update_f32(const rt_train_cfg *c, float *w, const float *g,
                         float *s0, float *s1, int64_t n, double lr,
                         double gscale, int64_t t, int decay);
double rt_optim_update_f64(const rt_train_cfg *c, double *w, const double *g,
                         double *s0, double *s1, int64_t n, double lr,
                         double gscale, int64_t t, int decay);
int rt_optim_nslots(rt_opt o, double momentum);
const char *rt_optim_slot_name(rt_opt o, int slot);

/* ---- metrics (metrics.c) ------------------------------------------------ */
typedef struct rt_metrics {
  FILE *jsonl;
  char *path;
  double t_start;
  int64_t first_step;
  int quiet;
  double peak;                            /* machine FLOP/s (peak.c), 0 = unknown */
  const char *peak_how;
} rt_metrics;
int rt_metrics_open(rt_metrics *mt, const char *out_dir, int append, int quiet,
                    int64_t first_step);
void rt_metrics_step(rt_metrics *mt, const rt_run *r, int64_t step, double loss,
                     double lr, double ms, int print);
void rt_metrics_eval(rt_metrics *mt, int64_t step, double val_loss);
void rt_metrics_close(rt_metrics *mt);
void rt_fmt_bytes(char *buf, size_t n, double bytes);

/* ---- commands ---------------------------------------------------------- */
int rt_cmd_train(const rt_model *m, const rt_opts *o);
int rt_cmd_eval(const rt_model *m, const rt_opts *o);
int rt_cmd_sample(const rt_model *m, const rt_opts *o);
int rt_cmd_gradcheck(const rt_model *m, const rt_opts *o);
int rt_cmd_verify(const rt_model *m, const rt_opts *o);  /* verify.c */
int rt_cmd_grads(const rt_model *m, const rt_opts *o);
void rt_warn_settings(const rt_opts *o); /* settings_warn.c: flags can make a
                                            recipe's settings unsound */
/* Shared by train and eval: mean loss over the val batches. */
double rt_eval_loss(rt_run *r);
/* Loads the weights a command starts from: --init, else the recipe's file,
 * else the seeded init (want_trained: look in out_dir first). */
int rt_setup_weights(rt_run *r, int want_trained);

/* ---- one update's gradients (accum.c) ---------------------------------- */
/* Forward and backward over the step's o.accum micro-batches (this rank's
 * rows of the global batch), the gradients summed in place; ends the step
 * in the data loader. *loss gets the mean loss of the micro-batches.
 * 0, or -1 when the device failed (said). */
int rt_step_grads(rt_run *r, double *loss);
/* On resume: when the checkpoint's global batch of gb rows (0: unknown) is
 * not this run's, takes the micro-batches per rank that keep it at world
 * ranks, unless --accumulate chose the count or gb is not a multiple of
 * world * batch. Returns 0 when this run now takes gb rows, -1 when not
 * (the caller says so); speaks only on rank 0 (lead). */
int rt_accum_resume(rt_run *r, const char *path, uint64_t gb, int world, int lead);

/* ---- signals (signals.c) ----------------------------------------------- */
void rt_signals_install(void);
void rt_signals_restore(void);
int rt_signals_stop(void);                /* a stop was requested */

#endif
