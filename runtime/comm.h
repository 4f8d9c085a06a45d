/* runtime/comm.h -- the collective layer: who the ranks are (launch) and
 * the four collectives data parallelism and ZeRO need, on two real engines:
 * MPI for CPU ranks (comm_mpi.c) and NCCL for GPU ranks (comm_nccl.c).
 *
 * One idea: a collective is started (asynchronous, on arena buffers) and
 * later waited for, and every wait has a deadline. A peer that died or
 * cannot be reached turns into one message naming this rank, the peer's
 * rank and host, and the collective, never a hang. No data moves through
 * anything but the engines; the TCP rendezvous (rdzv.c) only hands the
 * NCCL unique id to ranks started without MPI (torchrun-style variables).
 */
#ifndef FTC_RUNTIME_COMM_H
#define FTC_RUNTIME_COMM_H

#include <stdint.h>
#include <stddef.h>
#include "ftrt.h"

/* ---- launch: rank and world from the launcher's environment ----------- */
typedef enum {
  RT_LAUNCH_SINGLE,   /* no launcher: one rank, no engine */
  RT_LAUNCH_MPIRUN,   /* OMPI_COMM_WORLD_* (Open MPI's mpirun) or PMI_* */
  RT_LAUNCH_SLURM,    /* srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID */
  RT_LAUNCH_TORCHRUN  /* RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT */
} rt_launcher;

typedef struct rt_launch {
  rt_launcher how;
  int rank, world, local_rank;
  char master_addr[256];  /* torchrun-style rendezvous, else empty */
  int master_port;
  double timeout;         /* seconds a collective or the rendezvous may take
                             (FTC_COMM_TIMEOUT, default 300) */
} rt_launch;
/* Fills *l from the environment; -1 + message when it is inconsistent
 * (e.g. RANK >= WORLD_SIZE). */
int rt_launch_detect(rt_launch *l);
const char *rt_launcher_name(rt_launcher h);

/* ---- communicators ----------------------------------------------------- */
typedef enum { RT_COMM_MPI, RT_COMM_NCCL } rt_comm_engine;
typedef enum { RT_RED_SUM } rt_red_op;

/* An outstanding collective; what names it in a timeout message. */
typedef struct rt_comm_req {
  void *h;                /* engine handle (MPI_Request / CUDA event) */
  const char *what;       /* "all-reduce", "reduce-scatter", ... */
  const char *name;       /* tensor name or NULL */
  int active;
} rt_comm_req;

typedef struct rt_comm rt_comm;
typedef struct rt_comm_ops {
  /* in place: buf[0..n) = sum over ranks */
  int (*allreduce)(rt_comm *c, void *buf, int64_t n, rt_dtype t, rt_comm_req *q);
  /* send[0..sum(counts)) summed over ranks; rank r receives the part at
   * displs[r] (counts[r] elements) into recv */
  int (*reduce_scatter)(rt_comm *c, const void *send, void *recv, const int64_t *counts,
                        const int64_t *displs, rt_dtype t, rt_comm_req *q);
  /* in place: rank r's part buf[displs[r] .. +counts[r]) goes to every rank */
  int (*allgather)(rt_comm *c, void *buf, const int64_t *counts, const int64_t *displs,
                   rt_dtype t, rt_comm_req *q);
  int (*broadcast)(rt_comm *c, void *buf, int64_t bytes, int root, rt_comm_req *q);
  /* 1 done, 0 still running, -1 failed (message printed) */
  int (*test)(rt_comm *c, rt_comm_req *q);
  void (*close)(rt_comm *c);
  void (*abort)(rt_comm *c, int code);
} rt_comm_ops;

struct rt_comm {
  rt_comm_engine engine;
  const rt_comm_ops *ops;
  void *impl;
  rt_launch l;
  int rank, world;
  char **hosts;           /* per rank "host (pid N)", for messages */
};

/* Opens the engine for the launch (MPI for CPU ranks): NULL + message when
 * this build or machine cannot (e.g. a build without MPI). Collective. */
rt_comm *rt_comm_open(const rt_launch *l, rt_comm_engine e);
void rt_comm_close(rt_comm *c);
/* Waits for q with the launch's deadline; on a timeout prints which
 * collective and which peers, and returns -1. */
int rt_comm_wait(rt_comm *c, rt_comm_req *q);
/* Blocking helpers built on start + wait. */
int rt_comm_allreduce(rt_comm *c, void *buf, int64_t n, rt_dtype t, const char *what);
int rt_comm_bcast(rt_comm *c, void *buf, int64_t bytes, int root, const char *what);
int rt_comm_barrier(rt_comm *c, const char *what);
/* Ends every rank of the job after a failure elsewhere (never returns). */
void rt_comm_abort(rt_comm *c, int code);

/* Engines (comm_mpi.c, comm_nccl.c): fill c->ops/impl or print why not. */
int rt_comm_mpi_open(rt_comm *c);
int rt_comm_nccl_open(rt_comm *c);
int rt_comm_have_mpi(void);              /* 1 when built with MPI */

/* NCCL through dlopen (comm_nccl.c): the library's version as 22304, or -1
 * with *why set when libnccl.so.2 cannot be loaded. */
int rt_nccl_version(const char **why);

/* ---- rendezvous (rdzv.c): rank 0 listens at master_addr:master_port and
 * sends `bytes` of blob (the NCCL unique id) to every other rank; all ranks
 * return once everyone has it. Deadline l->timeout. 0 ok, -1 + message. */
int rt_rdzv_share(const rt_launch *l, void *blob, size_t bytes);

#endif
