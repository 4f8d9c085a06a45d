/* runtime/comm.c -- launch detection and the engine-independent half of the
 * collective layer: opening an engine, waiting with a deadline, blocking
 * helpers, and the messages that name a missing peer.
 *
 * One idea: every launcher people use already tells a process its rank and
 * the world size through the environment (mpirun, srun, torchrun), so the
 * trainer needs no flag for it; and a wait is a poll loop with a clock, so
 * a dead peer becomes a message after FTC_COMM_TIMEOUT seconds, not a hang.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"
#include "rt_internal.h"

const char *rt_launcher_name(rt_launcher h) {
  switch (h) {
  case RT_LAUNCH_SINGLE: return "none";
  case RT_LAUNCH_MPIRUN: return "mpirun";
  case RT_LAUNCH_SLURM: return "srun";
  case RT_LAUNCH_TORCHRUN: return "torchrun-style variables";
  }
  return "?";
}

/* An environment integer >= min, or -2 when unset; -1 + message when bad. */
static int env_int(const char *name, int min) {
  const char *v = getenv(name);
  if (!v || !*v) return -2;
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (*end || errno || x < min || x > 1 << 24) {
    rt_err("environment %s=\"%s\" is not an integer >= %d", name, v, min);
    return -1;
  }
  return (int)x;
}

/* rank, world, local rank from three variables; 1 found, 0 absent, -1 bad */
static int from_env(rt_launch *l, const char *rk, const char *ws, const char *lr) {
  int r = env_int(rk, 0), w = env_int(ws, 1), loc = lr ? env_int(lr, 0) : -2;
  if (r == -1 || w == -1 || loc == -1) return -1;
  if (r == -2 && w == -2) return 0;
  if (r < 0 || w < 0) {
    rt_err("environment: %s and %s must be set together", rk, ws);
    return -1;
  }
  if (r >= w) {
    rt_err("environment: %s=%d is not below %s=%d", rk, r, ws, w);
    return -1;
  }
  l->rank = r;
  l->world = w;
  l->local_rank = loc >= 0 ? loc : 0;
  return 1;
}

int rt_launch_detect(rt_launch *l) {
  memset(l, 0, sizeof *l);
  l->how = RT_LAUNCH_SINGLE;
  l->world = 1;
  l->timeout = 300;
  const char *t = getenv("FTC_COMM_TIMEOUT");
  if (t && *t) {
    char *end;
    double v = strtod(t, &end);
    if (*end || !(v > 0)) {
      rt_err("environment FTC_COMM_TIMEOUT=\"%s\" is not a positive number of seconds", t);
      return -1;
    }
    l->timeout = v;
  }
  int f;
  if ((f = from_env(l, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                    "OMPI_COMM_WORLD_LOCAL_RANK")) != 0 ||
      (f = from_env(l, "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID")) != 0 ||
      (f = from_env(l, "PMIX_RANK", "PMIX_SIZE", NULL)) != 0) {
    if (f < 0) return -1;
    l->how = RT_LAUNCH_MPIRUN;
    return 0;
  }
  if ((f = from_env(l, "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")) != 0) {
    if (f < 0) return -1;
    l->how = RT_LAUNCH_SLURM;
    return 0;
  }
  if ((f = from_env(l, "RANK", "WORLD_SIZE", "LOCAL_RANK")) != 0) {
    if (f < 0) return -1;
    l->how = RT_LAUNCH_TORCHRUN;
    const char *a = getenv("MASTER_ADDR");
    int port = env_int("MASTER_PORT", 1);
    if (port == -1) return -1;
    snprintf(l->master_addr, sizeof l->master_addr, "%s", a && *a ? a : "127.0.0.1");
    l->master_port = port > 0 ? port : 29500;
    if (port > 65535) {
      rt_err("environment MASTER_PORT=%d is not a TCP port", port);
      return -1;
    }
    return 0;
  }
  return 0;
}

/* ---- communicators ------------------------------------------------------ */

rt_comm *rt_comm_open(const rt_launch *l, rt_comm_engine e) {
  rt_comm *c = rt_xcalloc(1, sizeof *c, "communicator");
  if (!c) return NULL;
  c->engine = e;
  c->l = *l;
  c->rank = l->rank;
  c->world = l->world;
  int rc = e == RT_COMM_MPI ? rt_comm_mpi_open(c) : rt_comm_nccl_open(c);
  if (rc != 0) {
    free(c);
    return NULL;
  }
  return c;
}

void rt_comm_close(rt_comm *c) {
  if (!c) return;
  if (c->ops) c->ops->close(c);
  if (c->hosts)
    for (int r = 0; r < c->world; r++) free(c->hosts[r]);
  free(c->hosts);
  free(c);
}

void rt_comm_abort(rt_comm *c, int code) {
  fflush(stdout);
  fflush(stderr);
  if (c && c->ops) c->ops->abort(c, code);
  _exit(code);
}

static void peers(const rt_comm *c, char *buf, size_t cap) {
  size_t k = 0;
  buf[0] = 0;
  for (int r = 0; r < c->world && k + 1 < cap; r++) {
    if (r == c->rank) continue;
    k += (size_t)snprintf(buf + k, cap - k, "%srank %d on %s", k ? ", " : "", r,
                          c->hosts && c->hosts[r] ? c->hosts[r] : "?");
  }
}

int rt_comm_wait(rt_comm *c, rt_comm_req *q) {
  if (!q->active) return 0;
  double t0 = rt_now(), next_note = c->l.timeout / 4, signalled = -1;
  long spins = 0;
  for (;;) {
    int st = c->ops->test(c, q);
    if (st < 0) return -1;
    if (st > 0) {
      q->active = 0;
      return 0;
    }
    /* spin briefly (the common case is microseconds), then give the core
     * away: ranks may share cores (mpirun --oversubscribe) */
    if (++spins < 2000) {
      sched_yield();
      continue;
    }
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
    double waited = rt_now() - t0;
    char who[1024];
    /* a signal in a collective: the launcher is ending the job because a
     * peer died (or the user pressed Ctrl-C). Say so at once (the launcher
     * may kill us any moment), give the collective 2 s, then give up. */
    if (rt_signals_stop() && signalled < 0) {
      signalled = waited;
      peers(c, who, sizeof who);
      rt_warn("rank %d: a signal arrived while waiting for the %s%s%s; a peer may be gone "
              "(peers: %s)", c->rank, q->what, q->name ? " of " : "", q->name ? q->name : "",
              who);
    }
    if (signalled >= 0 && waited - signalled > 2.0) {
      rt_err("rank %d: stopped while waiting for the %s%s%s; no checkpoint is written "
             "mid-step", c->rank, q->what, q->name ? " of " : "", q->name ? q->name : "");
      return -1;
    }
    if (waited > next_note && waited < c->l.timeout) {
      rt_warn("rank %d: the %s%s%s has waited %.0f s (timeout %.0f s, FTC_COMM_TIMEOUT)",
              c->rank, q->what, q->name ? " of " : "", q->name ? q->name : "", waited,
              c->l.timeout);
      next_note += c->l.timeout / 4;
    }
    if (waited >= c->l.timeout) {
      peers(c, who, sizeof who);
      rt_err("rank %d: the %s%s%s did not complete within %.0f s (FTC_COMM_TIMEOUT): a peer "
             "has died or cannot be reached (peers: %s)", c->rank, q->what,
             q->name ? " of " : "", q->name ? q->name : "", c->l.timeout, who);
      return -1;
    }
  }
}

int rt_comm_allreduce(rt_comm *c, void *buf, int64_t n, rt_dtype t, const char *what) {
  rt_comm_req q = {0};
  q.what = "all-reduce";
  q.name = what;
  if (c->ops->allreduce(c, buf, n, t, &q) != 0) return -1;
  return rt_comm_wait(c, &q);
}

int rt_comm_bcast(rt_comm *c, void *buf, int64_t bytes, int root, const char *what) {
  rt_comm_req q = {0};
  q.what = "broadcast";
  q.name = what;
  if (c->ops->broadcast(c, buf, bytes, root, &q) != 0) return -1;
  return rt_comm_wait(c, &q);
}

int rt_comm_barrier(rt_comm *c, const char *what) {
  double one = 1;
  return rt_comm_allreduce(c, &one, 1, RT_F64, what);
}
