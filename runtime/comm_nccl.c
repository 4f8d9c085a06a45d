/* runtime/comm_nccl.c -- the NCCL engine of the collective layer: GPU ranks.
 *
 * One idea: NCCL and the CUDA driver are loaded with dlopen, so one trainer
 * binary runs where neither exists (CPU ranks use MPI) and picks them up
 * where they do. The few NCCL types used are declared here from NCCL's
 * documented ABI (tests/unit/test_comm.c checks them against nccl.h when
 * the toolkit is installed). A collective is enqueued on the rank's stream
 * and followed by an event; waiting polls the event, so the layer's
 * deadline applies to NCCL too, and a timeout aborts the communicator
 * (ncclCommAbort) instead of leaving a kernel spinning. The unique id goes
 * through MPI when mpirun/srun started the ranks, else through the TCP
 * rendezvous (torchrun-style variables); each rank takes the GPU numbered
 * by its local rank (modulo the GPUs it sees).
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm.h"
#include "rt_internal.h"

/* ---- the ABI: NCCL 2.x (nccl.h) and the CUDA driver (cuda.h) ------------ */
typedef int nccl_result;
typedef void *nccl_comm;
typedef struct { char internal[128]; } nccl_unique_id;
enum { NCCL_FLOAT32 = 7, NCCL_FLOAT64 = 8, NCCL_SUM = 0, NCCL_UINT8 = 1 };
enum { NCCL_SUCCESS = 0, NCCL_IN_PROGRESS = 7 };
typedef int cu_result;
typedef void *cu_context, *cu_stream, *cu_event;
enum { CU_SUCCESS = 0, CU_ERROR_NOT_READY = 600 };

typedef struct nccl_api {
  void *lib, *cuda;
  nccl_result (*GetVersion)(int *);
  nccl_result (*GetUniqueId)(nccl_unique_id *);
  nccl_result (*CommInitRank)(nccl_comm *, int, nccl_unique_id, int);
  nccl_result (*CommDestroy)(nccl_comm);
  nccl_result (*CommAbort)(nccl_comm);
  nccl_result (*CommGetAsyncError)(nccl_comm, nccl_result *);
  const char *(*GetErrorString)(nccl_result);
  nccl_result (*AllReduce)(const void *, void *, size_t, int, int, nccl_comm, cu_stream);
  nccl_result (*Reduce)(const void *, void *, size_t, int, int, int, nccl_comm, cu_stream);
  nccl_result (*Broadcast)(const void *, void *, size_t, int, int, nccl_comm, cu_stream);
  nccl_result (*GroupStart)(void);
  nccl_result (*GroupEnd)(void);
  cu_result (*cuInit)(unsigned);
  cu_result (*cuDeviceGetCount)(int *);
  cu_result (*cuDeviceGet)(int *, int);
  cu_result (*cuDevicePrimaryCtxRetain)(cu_context *, int);
  cu_result (*cuCtxSetCurrent)(cu_context);
  cu_result (*cuStreamCreate)(cu_stream *, unsigned);
  cu_result (*cuEventCreate)(cu_event *, unsigned);
  cu_result (*cuEventRecord)(cu_event, cu_stream);
  cu_result (*cuEventQuery)(cu_event);
} nccl_api;

static nccl_api api;
static const char *load_error;

#define SYM(lib, field, name)                                      \
  do {                                                             \
    *(void **)&api.field = dlsym(lib, name);                       \
    if (!api.field) {                                              \
      load_error = "a symbol is missing: " name;                   \
      return -1;                                                   \
    }                                                              \
  } while (0)

static int load_nccl(void) {
  if (api.lib) return 0;
  if (load_error) return -1;
  void *l = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!l) l = dlopen("libnccl.so", RTLD_NOW | RTLD_LOCAL);
  if (!l) {
    load_error = "libnccl.so.2 not found (install NCCL, or put its lib directory on "
                 "LD_LIBRARY_PATH)";
    return -1;
  }
  SYM(l, GetVersion, "ncclGetVersion");
  SYM(l, GetUniqueId, "ncclGetUniqueId");
  SYM(l, CommInitRank, "ncclCommInitRank");
  SYM(l, CommDestroy, "ncclCommDestroy");
  SYM(l, CommAbort, "ncclCommAbort");
  SYM(l, CommGetAsyncError, "ncclCommGetAsyncError");
  SYM(l, GetErrorString, "ncclGetErrorString");
  SYM(l, AllReduce, "ncclAllReduce");
  SYM(l, Reduce, "ncclReduce");
  SYM(l, Broadcast, "ncclBroadcast");
  SYM(l, GroupStart, "ncclGroupStart");
  SYM(l, GroupEnd, "ncclGroupEnd");
  api.lib = l;
  return 0;
}

static int load_cuda(void) {
  if (api.cuda) return 0;
  void *l = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!l) {
    load_error = "libcuda.so.1 (the NVIDIA driver) not found";
    return -1;
  }
  SYM(l, cuInit, "cuInit");
  SYM(l, cuDeviceGetCount, "cuDeviceGetCount");
  SYM(l, cuDeviceGet, "cuDeviceGet");
  SYM(l, cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  SYM(l, cuCtxSetCurrent, "cuCtxSetCurrent");
  SYM(l, cuStreamCreate, "cuStreamCreate_v2");
  SYM(l, cuEventCreate, "cuEventCreate");
  SYM(l, cuEventRecord, "cuEventRecord");
  SYM(l, cuEventQuery, "cuEventQuery");
  api.cuda = l;
  return 0;
}

int rt_nccl_version(const char **why) {
  int v = 0;
  if (load_nccl() != 0 || api.GetVersion(&v) != NCCL_SUCCESS) {
    if (why) *why = load_error ? load_error : "ncclGetVersion failed";
    return -1;
  }
  return v;
}

/* ---- the engine ---------------------------------------------------------- */
#define NEVENTS 256

typedef struct nccl_impl {
  nccl_comm comm;
  cu_stream stream;
  cu_event ev[NEVENTS];   /* reused round-robin: one per outstanding request */
  int next_ev;
  int device;
} nccl_impl;

static nccl_impl *impl(rt_comm *c) { return c->impl; }
static int ndt(rt_dtype t) { return t == RT_F64 ? NCCL_FLOAT64 : NCCL_FLOAT32; }
static size_t esz(rt_dtype t) { return t == RT_F64 ? 8 : 4; }

static int nfail(rt_comm *c, nccl_result rc, const char *call, const rt_comm_req *q) {
  if (rc == NCCL_SUCCESS || rc == NCCL_IN_PROGRESS) return 0;
  rt_err("rank %d (GPU %d): %s for the %s%s%s failed: %s", c->rank, impl(c)->device, call,
         q ? q->what : "setup", q && q->name ? " of " : "", q && q->name ? q->name : "",
         api.GetErrorString(rc));
  return -1;
}

static int finish(rt_comm *c, rt_comm_req *q) {
  nccl_impl *m = impl(c);
  cu_event e = m->ev[m->next_ev];
  m->next_ev = (m->next_ev + 1) % NEVENTS;
  if (api.cuEventRecord(e, m->stream) != CU_SUCCESS) {
    rt_err("rank %d: cuEventRecord after the %s failed", c->rank, q->what);
    return -1;
  }
  q->h = e;
  q->active = 1;
  return 0;
}

static int n_allreduce(rt_comm *c, void *buf, int64_t n, rt_dtype t, rt_comm_req *q) {
  if (nfail(c, api.AllReduce(buf, buf, (size_t)n, ndt(t), NCCL_SUM, impl(c)->comm,
                             impl(c)->stream), "ncclAllReduce", q))
    return -1;
  return finish(c, q);
}

/* parts of any size: one ncclReduce to each owner, grouped into one launch */
static int n_reduce_scatter(rt_comm *c, const void *send, void *recv, const int64_t *counts,
                            const int64_t *displs, rt_dtype t, rt_comm_req *q) {
  api.GroupStart();
  for (int r = 0; r < c->world; r++)
    if (counts[r] > 0 &&
        nfail(c, api.Reduce((const char *)send + (size_t)displs[r] * esz(t), recv,
                            (size_t)counts[r], ndt(t), NCCL_SUM, r, impl(c)->comm,
                            impl(c)->stream), "ncclReduce", q)) {
      api.GroupEnd();
      return -1;
    }
  if (nfail(c, api.GroupEnd(), "ncclGroupEnd", q)) return -1;
  return finish(c, q);
}

static int n_allgather(rt_comm *c, void *buf, const int64_t *counts, const int64_t *displs,
                       rt_dtype t, rt_comm_req *q) {
  api.GroupStart();
  for (int r = 0; r < c->world; r++) {
    char *p = (char *)buf + (size_t)displs[r] * esz(t);
    if (counts[r] > 0 && nfail(c, api.Broadcast(p, p, (size_t)counts[r], ndt(t), r,
                                                impl(c)->comm, impl(c)->stream),
                               "ncclBroadcast", q)) {
      api.GroupEnd();
      return -1;
    }
  }
  if (nfail(c, api.GroupEnd(), "ncclGroupEnd", q)) return -1;
  return finish(c, q);
}

static int n_broadcast(rt_comm *c, void *buf, int64_t bytes, int root, rt_comm_req *q) {
  if (nfail(c, api.Broadcast(buf, buf, (size_t)bytes, NCCL_UINT8, root, impl(c)->comm,
                             impl(c)->stream), "ncclBroadcast", q))
    return -1;
  return finish(c, q);
}

static int n_test(rt_comm *c, rt_comm_req *q) {
  cu_result r = api.cuEventQuery(q->h);
  if (r == CU_SUCCESS) return 1;
  if (r != CU_ERROR_NOT_READY) {
    rt_err("rank %d: the GPU reported error %d during the %s", c->rank, r, q->what);
    return -1;
  }
  nccl_result async = NCCL_SUCCESS;
  api.CommGetAsyncError(impl(c)->comm, &async);
  return nfail(c, async, "NCCL (asynchronous error)", q) ? -1 : 0;
}

static void n_close(rt_comm *c) {
  if (impl(c) && impl(c)->comm) api.CommDestroy(impl(c)->comm);
  free(c->impl);
  c->impl = NULL;
}

static void n_abort(rt_comm *c, int code) {
  if (impl(c) && impl(c)->comm) api.CommAbort(impl(c)->comm);
  _exit(code);
}

static const rt_comm_ops nccl_ops = {n_allreduce, n_reduce_scatter, n_allgather, n_broadcast,
                                     n_test,      n_close,          n_abort};

/* The unique id from rank 0 to everyone: over MPI when an MPI launcher
 * started us (a short-lived MPI communicator), else the TCP rendezvous. */
static int share_id(rt_comm *c, nccl_unique_id *id) {
  if (c->l.how == RT_LAUNCH_TORCHRUN) return rt_rdzv_share(&c->l, id, sizeof *id);
  rt_comm *m = rt_comm_open(&c->l, RT_COMM_MPI);
  if (!m) return -1;
  int rc = rt_comm_bcast(m, id, sizeof *id, 0, "NCCL unique id");
  c->hosts = m->hosts; /* keep the names for messages */
  m->hosts = NULL;
  rt_comm_close(m);
  return rc;
}

int rt_comm_nccl_open(rt_comm *c) {
  if (load_nccl() != 0 || load_cuda() != 0) {
    rt_err("rank %d: GPU ranks need NCCL: %s", c->rank, load_error);
    return -1;
  }
  int ndev = 0, dev = 0;
  if (api.cuInit(0) != CU_SUCCESS || api.cuDeviceGetCount(&ndev) != CU_SUCCESS || ndev < 1) {
    rt_err("rank %d: no CUDA device is usable on this machine (cuInit failed)", c->rank);
    return -1;
  }
  nccl_impl *m = rt_xcalloc(1, sizeof *m, "NCCL state");
  if (!m) return -1;
  m->device = c->l.local_rank % ndev;
  c->impl = m;
  cu_context ctx;
  if (api.cuDeviceGet(&dev, m->device) != CU_SUCCESS ||
      api.cuDevicePrimaryCtxRetain(&ctx, dev) != CU_SUCCESS ||
      api.cuCtxSetCurrent(ctx) != CU_SUCCESS || api.cuStreamCreate(&m->stream, 1) != CU_SUCCESS) {
    rt_err("rank %d: cannot set up GPU %d (local rank %d)", c->rank, m->device,
           c->l.local_rank);
    free(m);
    c->impl = NULL;
    return -1;
  }
  for (int i = 0; i < NEVENTS; i++)
    if (api.cuEventCreate(&m->ev[i], 2 /* CU_EVENT_DISABLE_TIMING */) != CU_SUCCESS) {
      rt_err("rank %d: cannot create CUDA events", c->rank);
      free(m);
      c->impl = NULL;
      return -1;
    }
  nccl_unique_id id;
  memset(&id, 0, sizeof id);
  if (c->rank == 0 && nfail(c, api.GetUniqueId(&id), "ncclGetUniqueId", NULL)) goto fail;
  if (c->world > 1 && share_id(c, &id) != 0) goto fail;
  if (nfail(c, api.CommInitRank(&m->comm, c->world, id, c->rank), "ncclCommInitRank", NULL))
    goto fail;
  c->ops = &nccl_ops;
  return 0;
fail:
  free(m);
  c->impl = NULL;
  return -1;
}
