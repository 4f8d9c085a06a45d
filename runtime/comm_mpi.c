/* runtime/comm_mpi.c -- the MPI engine of the collective layer: CPU ranks
 * started by mpirun or srun, on the system's MPI (Debian: Open MPI).
 *
 * One idea: every collective is MPI's own nonblocking one (MPI_Iallreduce,
 * MPI_Ireduce_scatter, MPI_Iallgatherv, MPI_Ibcast) on the arena's bytes,
 * and the communicator returns errors instead of aborting, so the layer
 * above can name what failed. A build without MPI keeps the same entry
 * points and says that distributed runs need it.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm.h"
#include "config.h"
#include "rt_internal.h"

#if HAVE_MPI
#include <mpi.h>

_Static_assert(sizeof(MPI_Request) <= sizeof(void *), "MPI_Request fits a handle");

typedef struct mpi_impl {
  MPI_Comm comm;
  int we_init;            /* we called MPI_Init (so we finalize) */
  int *counts, *displs;   /* scratch for the v-collectives, world each */
} mpi_impl;

static mpi_impl *impl(rt_comm *c) { return c->impl; }
static MPI_Datatype dt(rt_dtype t) { return t == RT_F64 ? MPI_DOUBLE : MPI_FLOAT; }

static int failed(rt_comm *c, int rc, const char *call, const rt_comm_req *q) {
  if (rc == MPI_SUCCESS) return 0;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  rt_err("rank %d: %s for the %s%s%s failed: %s", c->rank, call, q ? q->what : "collective",
         q && q->name ? " of " : "", q && q->name ? q->name : "", msg);
  return -1;
}

static int start(rt_comm_req *q, MPI_Request r) {
  memcpy(&q->h, &r, sizeof r);
  q->active = 1;
  return 0;
}

static int fits_int(rt_comm *c, int64_t n, const rt_comm_req *q) {
  if (n <= INT_MAX) return 1;
  rt_err("rank %d: the %s of %s has %lld elements, more than one MPI call takes", c->rank,
         q->what, q->name ? q->name : "a buffer", (long long)n);
  return 0;
}

static int m_allreduce(rt_comm *c, void *buf, int64_t n, rt_dtype t, rt_comm_req *q) {
  MPI_Request r;
  if (!fits_int(c, n, q)) return -1;
  if (failed(c, MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, dt(t), MPI_SUM, impl(c)->comm, &r),
             "MPI_Iallreduce", q))
    return -1;
  return start(q, r);
}

static int fill_v(rt_comm *c, const int64_t *counts, const int64_t *displs, rt_comm_req *q) {
  for (int i = 0; i < c->world; i++) {
    if (!fits_int(c, counts[i], q) || !fits_int(c, displs[i], q)) return -1;
    impl(c)->counts[i] = (int)counts[i];
    impl(c)->displs[i] = (int)displs[i];
  }
  return 0;
}

static int m_reduce_scatter(rt_comm *c, const void *send, void *recv, const int64_t *counts,
                            const int64_t *displs, rt_dtype t, rt_comm_req *q) {
  MPI_Request r;
  if (fill_v(c, counts, displs, q) != 0) return -1;
  for (int i = 1; i < c->world; i++) /* MPI's parts are back to back in rank order */
    if (displs[i] != displs[i - 1] + counts[i - 1]) {
      rt_err("internal error: reduce-scatter parts of %s are not contiguous", q->name);
      return -1;
    }
  if (failed(c, MPI_Ireduce_scatter((const char *)send + 0, recv, impl(c)->counts, dt(t),
                                    MPI_SUM, impl(c)->comm, &r),
             "MPI_Ireduce_scatter", q))
    return -1;
  return start(q, r);
}

static int m_allgather(rt_comm *c, void *buf, const int64_t *counts, const int64_t *displs,
                       rt_dtype t, rt_comm_req *q) {
  MPI_Request r;
  if (fill_v(c, counts, displs, q) != 0) return -1;
  if (failed(c, MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, impl(c)->counts,
                                impl(c)->displs, dt(t), impl(c)->comm, &r),
             "MPI_Iallgatherv", q))
    return -1;
  return start(q, r);
}

static int m_broadcast(rt_comm *c, void *buf, int64_t bytes, int root, rt_comm_req *q) {
  MPI_Request r;
  if (!fits_int(c, bytes, q)) return -1;
  if (failed(c, MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, impl(c)->comm, &r), "MPI_Ibcast",
             q))
    return -1;
  return start(q, r);
}

static int m_test(rt_comm *c, rt_comm_req *q) {
  MPI_Request r;
  int done = 0;
  memcpy(&r, &q->h, sizeof r);
  int rc = MPI_Test(&r, &done, MPI_STATUS_IGNORE);
  memcpy(&q->h, &r, sizeof r);
  if (failed(c, rc, "MPI_Test", q)) return -1;
  return done ? 1 : 0;
}

static void m_close(rt_comm *c) {
  mpi_impl *m = impl(c);
  if (!m) return;
  int fin = 0;
  MPI_Finalized(&fin);
  if (m->we_init && !fin) MPI_Finalize();
  free(m->counts);
  free(m->displs);
  free(m);
  c->impl = NULL;
}

static void m_abort(rt_comm *c, int code) {
  MPI_Abort(impl(c) ? impl(c)->comm : MPI_COMM_WORLD, code);
}

static const rt_comm_ops mpi_ops = {m_allreduce, m_reduce_scatter, m_allgather, m_broadcast,
                                    m_test,      m_close,          m_abort};

int rt_comm_have_mpi(void) { return 1; }

int rt_comm_mpi_open(rt_comm *c) {
  mpi_impl *m = rt_xcalloc(1, sizeof *m, "MPI state");
  if (!m) return -1;
  int init = 0, provided = 0;
  MPI_Initialized(&init);
  if (!init) {
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      rt_err("rank %d: MPI_Init failed (launched by %s)", c->rank,
             rt_launcher_name(c->l.how));
      free(m);
      return -1;
    }
    m->we_init = 1;
  }
  m->comm = MPI_COMM_WORLD;
  MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
  int r = 0, w = 0;
  MPI_Comm_rank(m->comm, &r);
  MPI_Comm_size(m->comm, &w);
  c->impl = m;
  c->ops = &mpi_ops;
  if (r != c->rank || w != c->world) {
    rt_err("rank %d: MPI says rank %d of %d but the launcher's environment says %d of %d",
           c->rank, r, w, c->rank, c->world);
    m_close(c);
    return -1;
  }
  m->counts = rt_xcalloc((size_t)w, sizeof(int), "MPI counts");
  m->displs = rt_xcalloc((size_t)w, sizeof(int), "MPI displacements");
  char me[64] = {0}, host[48] = "?";
  gethostname(host, sizeof host - 1);
  snprintf(me, sizeof me, "%s (pid %ld)", host, (long)getpid());
  char *all = rt_xcalloc((size_t)w, sizeof me, "host names");
  c->hosts = rt_xcalloc((size_t)w, sizeof *c->hosts, "host names");
  if (!m->counts || !m->displs || !all || !c->hosts ||
      MPI_Allgather(me, sizeof me, MPI_CHAR, all, sizeof me, MPI_CHAR, m->comm) != MPI_SUCCESS) {
    rt_err("rank %d: cannot exchange host names over MPI", c->rank);
    free(all);
    m_close(c);
    return -1;
  }
  for (int i = 0; i < w; i++) c->hosts[i] = strdup(all + (size_t)i * sizeof me);
  free(all);
  return 0;
}

#else /* !HAVE_MPI */

int rt_comm_have_mpi(void) { return 0; }

int rt_comm_mpi_open(rt_comm *c) {
  rt_err("rank %d of %d (launched by %s): this trainer was built without MPI, which "
         "distributed CPU runs need; install it (Debian: apt-get install libopenmpi-dev "
         "openmpi-bin), re-run ./configure and rebuild ftc and the trainer",
         c->rank, c->world, rt_launcher_name(c->l.how));
  return -1;
}

#endif
