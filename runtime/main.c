/* runtime/main.c -- rt_main: the trainer's command line. Parses the command
 * and flags over the recipe's settings, then runs train, eval, sample or
 * gradcheck.
 *
 * One idea: the recipe is the default and a flag is an override; the
 * resolved settings (rt_opts) are the only thing the commands read, so
 * `--help` can print exactly what a run would use. Exit codes: 0 ok,
 * 1 bad input (files, data, checkpoints), 2 usage, 3 I/O failure. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "rt_internal.h"
#include "suggest.h"

static const char *opt_name(rt_opt o) {
  return o == RT_OPT_SGD ? "sgd" : o == RT_OPT_ADAGRAD ? "adagrad" : "adamw";
}
static const char *sched_name(rt_sched s) {
  return s == RT_SCHED_CONSTANT ? "constant" : s == RT_SCHED_LINEAR ? "linear" : "cosine";
}

/* The weights' naming family, from the entry model's definition. */
static const char *family(const rt_model *m) {
  const char *n = m->model_name;
  if (!n) return "this model's";
  if (!strcmp(n, "gpt2")) return "GPT-2";
  if (!strcmp(n, "llama")) return "LLaMA";
  return n;
}

static void help(const rt_model *m, const rt_opts *o) {
  const rt_train_cfg *t = &o->train;
  const rt_plan_info *p = &m->plan;
  char b[8][32];
  printf("usage: %s [COMMAND] [FLAGS]\n\n"
         "A standalone trainer compiled by ftc from %s (program hash %s).\n\n"
         "commands:\n"
         "  train       train the model (the default)\n"
         "  eval        print the validation loss of the trained weights\n"
         "  sample      generate text: --prompt TEXT --tokens N [--temperature T]\n"
         "              [--top-k K] [--seed S]; temperature 0 = greedy\n"
         "  gradcheck   compare backward() with finite differences [--tol REL]\n"
         "              [--atol ABS] [--eps X] [--samples N per tensor] (exit 1 when\n"
         "              over; tight in float64 builds, loose in float32)\n"
         "  verify      check checkpoints, weights and token shards (structure and\n"
         "              checksums) without training: verify [FILE|DIR...]; none =\n"
         "              what --out holds (exit 1 when any fails)\n"
         "  grads       write the gradients of the first training batch to\n"
         "              DIR/grads.safetensors (compare two builds of a recipe)\n"
         "  devcheck    run every call of the CUDA step alone on --device (emu or\n"
         "              cuda) from the CPU's inputs and compare it with the CPU\n"
         "              backend, op by op [--tol REL] (exit 1 when over)\n"
         "  help        this text (also --help, -h)\n\n"
         "flags (override the recipe):\n"
         "  --steps N        total optimizer steps (%lld)\n"
         "  --lr X           peak learning rate (%g)\n"
         "  --out DIR        output directory: ckpt.safetensors, model.safetensors,\n"
         "                   metrics.jsonl (%s)\n"
         "  --seed S         seed for init, data order and sampling (%llu)\n"
         "  --init FILE      start from weights in FILE.safetensors (Hugging Face %s\n"
         "                   names, e.g. %s)%s%s%s\n"
         "  --resume         continue from DIR/ckpt.safetensors, bitwise identical;\n"
         "                   if it fails its checks, from the newest kept one that passes\n"
         "  --keep K         keep the last K checkpoints (DIR/ckpt.stepN.safetensors)\n"
         "                   so a corrupt latest one can fall back (1)\n"
         "  --nonfinite P    a non-finite loss or gradient norm: stop (default; the\n"
         "                   last checkpoint is kept) or skip the update and go on\n"
         "  --max-skips N    with --nonfinite skip, stop after N skipped steps (10)\n"
         "  --spike-sigma K  warn when the loss is K standard deviations above its\n"
         "                   running mean, 0 = never (6)\n"
         "  --data FILE      training data (%s)\n"
         "  --eval-every N   validation every N steps, 0 = never (%lld)\n"
         "  --eval-batches N validation batches per eval (%lld)\n"
         "  --save-every N   checkpoint every N steps, 0 = only at the end (%lld)\n"
         "  --log-every N    progress line every N steps (%lld)\n"
         "  --stop-at N      stop after step N and checkpoint (the schedule still\n"
         "                   runs to --steps)\n"
         "  --device D       cpu (the default), cuda or cuda:N (an NVIDIA GPU: the\n"
         "                   generated CUDA kernels and cuBLASLt, loaded at run time;\n"
         "                   exit 3 with one line where there is none) or emu (the\n"
         "                   same CUDA step run on the CPU: a slow test device)%s\n"
         "  --threads N      kernel and BLAS threads, 0 = all cores\n"
         "  --accumulate N   micro-batches per update: each step trains on N x batch\n"
         "                   rows at the memory of one batch (%lld)\n"
         "  --quiet          no progress lines\n"
         "  batch and seq are compiled in (batch %d, seq %d): change the recipe and\n"
         "  rebuild to change them.\n\n"
         "ranks: under mpirun or srun each process is one rank (batch is per rank);\n"
         "  env FTC_COMM_TIMEOUT (s, 300), FTC_BUCKET_MB (25); docs/distributed.md\n\n"
         "paths: those written in the recipe (data, load, save to) are relative to\n"
         "  its directory, recorded at build time: %s\n"
         "  Those given as flags (--data, --init, --out) are relative to the current\n"
         "  directory, and so is the default output runs/NAME.\n\n"
         "exit codes: 0 done (also after Ctrl-C, which saves a checkpoint first);\n"
         "  1 bad input (data, weights, checkpoint, gradcheck over tolerance);\n"
         "  2 usage error (unknown command or flag, bad value); 3 I/O failure.\n\n",
         rt_progname, m->recipe ? m->recipe : "?", m->hash ? m->hash : "?",
         (long long)t->steps, t->lr, t->out_dir, (unsigned long long)t->seed,
         family(m), m->nparams > 0 ? m->params[0].name : "?", m->init_path ? " (recipe: " : "", m->init_path ? m->init_path : "",
         m->init_path ? ")" : "", o->data.path ? o->data.path : "none",
         (long long)t->eval_every, (long long)(t->eval_batches > 0 ? t->eval_batches : 8),
         (long long)t->save_every, (long long)t->log_every,
         m->dev ? "" : "; this trainer was built without device code", (long long)o->accum,
         m->data.batch, m->data.seq, m->recipe_dir ? m->recipe_dir : "(not recorded)");
  printf("recipe settings: %s data %s, vocab %d, split %g; optimizer %s (lr %g",
         m->data.kind == RT_DATA_TEXT ? "text" : "shards", m->data.path ? m->data.path : "?",
         m->data.vocab, m->data.split, opt_name(t->opt), t->lr);
  if (t->opt == RT_OPT_SGD) printf(", momentum %g", t->momentum);
  if (t->opt == RT_OPT_ADAMW) printf(", betas (%g, %g)", t->beta1, t->beta2);
  if (t->opt != RT_OPT_SGD) printf(", eps %g", t->eps);
  printf(", weight decay %g); schedule %s (warmup %lld, min_lr %g); clip %g; %s\n",
         t->weight_decay, sched_name(t->sched), (long long)t->warmup, t->min_lr, t->clip,
         m->dtype == RT_F64 ? "float64" : "float32");
  rt_fmt_bytes(b[0], 32, (double)p->arena_bytes);
  rt_fmt_bytes(b[1], 32, (double)p->params);
  rt_fmt_bytes(b[2], 32, (double)p->grads);
  rt_fmt_bytes(b[3], 32, (double)p->optstate);
  rt_fmt_bytes(b[4], 32, (double)p->activations);
  rt_fmt_bytes(b[5], 32, (double)p->temps);
  rt_fmt_bytes(b[6], 32, (double)p->inputs);
  int64_t np = 0;
  for (int i = 0; i < m->nparams; i++) np += m->params[i].numel;
  printf("plan: %lld parameters in %d tensors; arena %s = params %s + grads %s + "
         "optimizer %s + inputs %s + activations %s + temporaries %s at the peak (%s)\n",
         (long long)np, m->nparams, b[0], b[1], b[2], b[3], b[6], b[4], b[5],
         p->peak_op ? p->peak_op : "?");
  if (m->dev) {
    const rt_dev_program *d = m->dev;
    printf("device code: %d CUDA kernels and %d cuBLASLt products for", d->nkernels, d->ngemms);
    for (int i = 0; i < d->nimages; i++)
      printf("%s %s_%d", i ? "," : "", d->images[i].arch > 0 ? "sm" : "compute",
             d->images[i].arch > 0 ? d->images[i].arch : -d->images[i].arch);
    printf(" (PTX: compiled by the driver on newer GPUs); device memory %lld B\n",
           (long long)d->bytes);
  }
}

typedef struct {
  int argc, i;
  char **argv;
  const char *flag;
} args;

/* The value of the current flag: "--f=v" or "--f v". NULL = usage error. */
static const char *value(args *a, const char *eq) {
  if (eq) return eq + 1;
  if (a->i + 1 >= a->argc) {
    rt_err("%s needs a value (see --help)", a->flag);
    return NULL;
  }
  return a->argv[++a->i];
}

static int to_i64(const char *flag, const char *s, int64_t min, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || errno || v < min) {
    rt_err("%s: expected an integer >= %lld, got \"%s\"", flag, (long long)min, s);
    return -1;
  }
  *out = v;
  return 0;
}

static int to_f64(const char *flag, const char *s, double min, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (!*s || *end || errno || !(v >= min)) {
    rt_err("%s: expected a number >= %g, got \"%s\"", flag, min, s);
    return -1;
  }
  *out = v;
  return 0;
}

static const char *const commands[] = {"train",  "eval",     "sample", "gradcheck", "grads",
                                       "verify", "devcheck", "help",   NULL};
/* Every flag parse() accepts (for "did you mean"; tests/docs checks that
 * --help and docs/runtime.md list the same ones). */
static const char *const flags[] = {
    "--help", "--quiet", "--resume", "--steps", "--stop-at", "--lr", "--out", "--data",
    "--init", "--prompt", "--eval-every", "--save-every", "--eval-batches", "--log-every",
    "--tokens", "--samples", "--temperature", "--tol", "--atol", "--eps", "--top-k",
    "--threads", "--seed", "--device", "--keep", "--nonfinite", "--max-skips",
    "--spike-sigma", "--accumulate", NULL};

static int is_cmd(const char *s) {
  for (int i = 0; commands[i]; i++)
    if (!strcmp(s, commands[i])) return 1;
  return 0;
}

/* " (did you mean X?)" or "" */
static const char *hint(char *buf, size_t cap, const char *got, const char *const *cands) {
  const char *s = suggest_closest(got, cands);
  if (!s) return "";
  snprintf(buf, cap, " (did you mean '%s'?)", s);
  return buf;
}

/* Returns 0, or an exit code (2 usage, -1 = help printed: exit 0). */
static int parse(const rt_model *m, int argc, char **argv, rt_opts *o) {
  memset(o, 0, sizeof *o);
  o->cmd = "train";
  o->train = m->train;
  o->data = m->data;
  if (!o->train.out_dir || !*o->train.out_dir) o->train.out_dir = "out";
  if (o->train.log_every <= 0) o->train.log_every = 1;
  o->ntokens = 200;
  o->temperature = 0.8;
  o->max_skips = 10;
  o->spike_sigma = 6;
  o->accum = m->accumulate > 0 ? m->accumulate : 1;
  int sample_seed_set = 0, want_help = 0;
  args a = {argc, 1, argv, NULL};
  if (argc > 1 && is_cmd(argv[1])) {
    o->cmd = argv[1];
    a.i = 2;
  }
  char hb[96];
  for (; a.i < argc; a.i++) {
    char *arg = argv[a.i];
    if (strncmp(arg, "--", 2) && strcmp(arg, "-h") && !strcmp(o->cmd, "verify")) {
      /* verify's files, one run of arguments (o->files points into argv) */
      if (o->nfiles == 0) o->files = argv + a.i;
      else if (o->files + o->nfiles != argv + a.i) {
        rt_err("verify: give the files together, before or after the flags");
        return 2;
      }
      o->nfiles++;
      continue;
    }
    if (strncmp(arg, "--", 2) && strcmp(arg, "-h")) {
      if (a.i == 1 && suggest_closest(arg, commands))
        rt_err("unknown command \"%s\"%s", arg, hint(hb, sizeof hb, arg, commands));
      else if (is_cmd(arg))
        rt_err("the command goes first: %s %s [FLAGS]", rt_progname, arg);
      else
        rt_err("unexpected argument \"%s\" (commands go first; see --help)", arg);
      return 2;
    }
    char name[64];
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (len >= sizeof name) len = sizeof name - 1;
    memcpy(name, arg, len);
    name[len] = 0;
    a.flag = name;
    const char *v = NULL;
    int64_t iv;
    int rc = 0;
#define VAL() ((v = value(&a, eq)) ? 0 : -1)
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) want_help = 1;
    else if (!strcmp(name, "--quiet")) o->quiet = 1;
    else if (!strcmp(name, "--resume")) o->resume = 1;
    else if (!strcmp(name, "--max-skips")) rc = VAL() || to_i64(name, v, 0, &o->max_skips);
    else if (!strcmp(name, "--spike-sigma")) rc = VAL() || to_f64(name, v, 0, &o->spike_sigma);
    else if (!strcmp(name, "--nonfinite")) {
      if (VAL()) return 2;
      if (strcmp(v, "stop") && strcmp(v, "skip")) {
        rt_err("--nonfinite: expected stop or skip, got \"%s\"", v);
        return 2;
      }
      o->nonfinite_skip = !strcmp(v, "skip");
    } else if (!strcmp(name, "--keep")) {
      rc = VAL() || to_i64(name, v, 1, &iv);
      o->keep = rc ? 1 : (int)(iv > 1 << 20 ? 1 << 20 : iv);
    }
    else if (!strcmp(name, "--steps")) rc = VAL() || to_i64(name, v, 0, &o->train.steps);
    else if (!strcmp(name, "--stop-at")) rc = VAL() || to_i64(name, v, 1, &o->stop_at);
    else if (!strcmp(name, "--accumulate")) {
      rc = VAL() || to_i64(name, v, 1, &o->accum);
      if (!rc && o->accum > 1 << 20) o->accum = 1 << 20;
      o->accum_given = 1;
    }
    else if (!strcmp(name, "--lr")) rc = VAL() || to_f64(name, v, 0, &o->train.lr);
    else if (!strcmp(name, "--out")) rc = VAL() || !(o->train.out_dir = v);
    else if (!strcmp(name, "--data")) rc = VAL() || !(o->data.path = v);
    else if (!strcmp(name, "--init")) rc = VAL() || !(o->init_path = v);
    else if (!strcmp(name, "--prompt")) rc = VAL() || !(o->prompt = v);
    else if (!strcmp(name, "--eval-every")) rc = VAL() || to_i64(name, v, 0, &o->train.eval_every);
    else if (!strcmp(name, "--save-every")) rc = VAL() || to_i64(name, v, 0, &o->train.save_every);
    else if (!strcmp(name, "--eval-batches")) rc = VAL() || to_i64(name, v, 1, &o->train.eval_batches);
    else if (!strcmp(name, "--log-every")) rc = VAL() || to_i64(name, v, 1, &o->train.log_every);
    else if (!strcmp(name, "--tokens")) rc = VAL() || to_i64(name, v, 0, &o->ntokens);
    else if (!strcmp(name, "--samples")) rc = VAL() || to_i64(name, v, 1, &o->samples);
    else if (!strcmp(name, "--temperature")) rc = VAL() || to_f64(name, v, 0, &o->temperature);
    else if (!strcmp(name, "--tol")) rc = VAL() || to_f64(name, v, 0, &o->tol);
    else if (!strcmp(name, "--atol")) rc = VAL() || to_f64(name, v, 0, &o->atol);
    else if (!strcmp(name, "--eps")) rc = VAL() || to_f64(name, v, 0, &o->eps);
    else if (!strcmp(name, "--top-k")) {
      rc = VAL() || to_i64(name, v, 0, &iv);
      o->top_k = rc ? 0 : (int)(iv > 1 << 30 ? 1 << 30 : iv);
    } else if (!strcmp(name, "--threads")) {
      rc = VAL() || to_i64(name, v, 0, &iv);
      o->threads = rc ? 0 : (int)(iv > 4096 ? 4096 : iv);
    } else if (!strcmp(name, "--seed")) {
      rc = VAL() || to_i64(name, v, 0, &iv);
      if (!rc) o->train.seed = o->sample_seed = (uint64_t)iv;
      sample_seed_set = 1;
    } else if (!strcmp(name, "--device")) {
      rt_device_kind k;
      if (VAL()) return 2;
      if (rt_dev_parse(v, &k, &o->device_ordinal) != 0) {
        rt_err("--device: unknown device \"%s\" (cpu, cuda, cuda:N, emu)", v);
        return 2;
      }
      if (k != RT_DEVICE_CPU && !m->dev) {
        rt_err("--device %s: this trainer was built without CUDA support (%s); use --device cpu",
               v, m->no_device ? m->no_device
                               : "its ftc found no CUDA toolkit, or it was built with --arch none");
        return 2;
      }
      o->device = (int)k;
    } else if (!strcmp(name, "--batch") || !strcmp(name, "--seq")) {
      rt_err("%s: batch and seq are compiled into this trainer (batch %d, seq %d); "
             "change them in the recipe and rebuild", name, m->data.batch, m->data.seq);
      return 2;
    } else {
      const char *h = hint(hb, sizeof hb, name, flags);
      rt_err("unknown flag %s%s", name, *h ? h : " (see --help)");
      return 2;
    }
#undef VAL
    if (rc) return 2;
  }
  if (!sample_seed_set) o->sample_seed = o->train.seed;
  if (want_help || !strcmp(o->cmd, "help")) {
    help(m, o);
    return -1;
  }
  return 0;
}

int rt_main(const rt_model *m, int argc, char **argv) {
  if (argc > 0 && argv[0]) {
    const char *s = strrchr(argv[0], '/');
    rt_progname = s ? s + 1 : argv[0];
  }
  rt_opts o;
  int rc = parse(m, argc, argv, &o);
  if (rc == -1) return 0;
  if (rc) return rc;
  rt_set_threads(o.threads); /* 0 = all cores */
  if ((!strcmp(o.cmd, "gradcheck") || !strcmp(o.cmd, "grads")) && o.device != RT_DEVICE_CPU) {
    rt_err("%s runs on the CPU backend (compare a device with it: devcheck --device %s)", o.cmd,
           rt_dev_kind_name((rt_device_kind)o.device));
    return 2;
  }
  if (!strcmp(o.cmd, "devcheck") && o.device == RT_DEVICE_CPU) {
    rt_err("devcheck compares a device with the CPU backend: give --device emu or cuda");
    return 2;
  }
  if (rt_dev_probe((rt_device_kind)o.device, o.device_ordinal) != 0) return 3;
  if (!strcmp(o.cmd, "devcheck")) return rt_cmd_devcheck(m, &o);
  if (!strcmp(o.cmd, "eval")) return rt_cmd_eval(m, &o);
  if (!strcmp(o.cmd, "sample")) return rt_cmd_sample(m, &o);
  if (!strcmp(o.cmd, "gradcheck")) return rt_cmd_gradcheck(m, &o);
  if (!strcmp(o.cmd, "verify")) return rt_cmd_verify(m, &o);
  if (!strcmp(o.cmd, "grads")) return rt_cmd_grads(m, &o);
  return rt_cmd_train(m, &o);
}
