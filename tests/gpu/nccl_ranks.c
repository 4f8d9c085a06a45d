/* tests/gpu/nccl_ranks.c -- the NCCL engine on real GPUs (run by
 * tests/gpu/nccl.sh where a GPU is; exit 77 elsewhere): each rank fills a
 * device buffer with rank-dependent values and checks all-reduce,
 * reduce-scatter with uneven parts and all-gather against the sums it
 * expects, through the same rt_comm calls the trainer makes. One process
 * = one rank (NCCL_ONE=1, no launcher), or one rank per GPU under mpirun
 * or torchrun-style variables. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "rt_internal.h"

typedef int (*mem_alloc_fn)(unsigned long long *, size_t);
typedef int (*copy_fn)(unsigned long long, const void *, size_t);
typedef int (*copy_back_fn)(void *, unsigned long long, size_t);

int main(void) {
  rt_launch l;
  if (rt_launch_detect(&l) != 0) return 1;
  l.timeout = 60;
  rt_comm *c = rt_comm_open(&l, RT_COMM_NCCL);
  if (!c) {
    printf("nccl_ranks: skipped: no NCCL rank could be opened here\n");
    return 77;
  }
  void *cu = dlopen("libcuda.so.1", RTLD_NOW);
  mem_alloc_fn alloc = cu ? (mem_alloc_fn)dlsym(cu, "cuMemAlloc_v2") : NULL;
  copy_fn h2d = cu ? (copy_fn)dlsym(cu, "cuMemcpyHtoD_v2") : NULL;
  copy_back_fn d2h = cu ? (copy_back_fn)dlsym(cu, "cuMemcpyDtoH_v2") : NULL;
  if (!alloc || !h2d || !d2h) return 1;
  enum { N = 1000 };
  int W = c->world, R = c->rank, bad = 0;
  float host[N], back[N];
  unsigned long long dev = 0, out = 0;
  if (alloc(&dev, sizeof host) || alloc(&out, sizeof host)) return 1;
  for (int i = 0; i < N; i++) host[i] = (float)(R + 1) * (float)(i % 7);
  h2d(dev, host, sizeof host);
  rt_comm_req q = {0};
  q.what = "all-reduce";
  if (c->ops->allreduce(c, (void *)dev, N, RT_F32, &q) || rt_comm_wait(c, &q)) return 1;
  d2h(back, dev, sizeof back);
  float tri = (float)W * (float)(W + 1) / 2;
  for (int i = 0; i < N; i++) bad += back[i] != tri * (float)(i % 7);
  /* uneven parts: rank r owns rt_shard_range's slice of N */
  int64_t counts[64], displs[64];
  for (int r = 0; r < W && r < 64; r++) rt_shard_range(N, r, W, &displs[r], &counts[r]);
  h2d(dev, host, sizeof host);
  q.what = "reduce-scatter";
  if (c->ops->reduce_scatter(c, (void *)dev, (void *)out, counts, displs, RT_F32, &q) ||
      rt_comm_wait(c, &q))
    return 1;
  d2h(back, out, (size_t)counts[R] * sizeof(float));
  for (int64_t i = 0; i < counts[R]; i++)
    bad += back[i] != tri * (float)((displs[R] + i) % 7);
  /* all-gather in place: each rank's slice holds its rank number */
  for (int i = 0; i < N; i++) host[i] = -1;
  for (int64_t i = 0; i < counts[R]; i++) host[displs[R] + i] = (float)R;
  h2d(dev, host, sizeof host);
  q.what = "all-gather";
  if (c->ops->allgather(c, (void *)dev, counts, displs, RT_F32, &q) || rt_comm_wait(c, &q))
    return 1;
  d2h(back, dev, sizeof back);
  for (int r = 0; r < W; r++)
    for (int64_t i = 0; i < counts[r]; i++) bad += back[displs[r] + i] != (float)r;
  printf("nccl_ranks: rank %d of %d: %s (NCCL %d)\n", R, W, bad ? "FAILED" : "ok",
         rt_nccl_version(NULL));
  rt_comm_close(c);
  return bad ? 1 : 0;
}
