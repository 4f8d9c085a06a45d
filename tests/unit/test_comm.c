/* tests/unit/test_comm.c -- the collective layer's parts that need no second
 * machine: launch detection from each launcher's variables (and bad ones),
 * ZeRO's split of a tensor, the TCP rendezvous between forked processes
 * (the id arrives intact; a missing rank 0 and a missing rank each fail
 * within the deadline with a message naming rank and address), and the
 * NCCL engine: its declared ABI against the toolkit's nccl.h, the library
 * loaded with dlopen, and a clean refusal where no GPU is. MPI collectives
 * run in tests/dist (mpirun). */
#include "test_rt_util.h"
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "comm.h"
#include "config.h"
#include "rt_internal.h"

static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                             "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_RANK", "PMI_SIZE",
                             "MPI_LOCALRANKID", "PMIX_RANK", "PMIX_SIZE", "SLURM_PROCID",
                             "SLURM_NTASKS", "SLURM_LOCALID", "RANK", "WORLD_SIZE",
                             "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "FTC_COMM_TIMEOUT"};

static void clear_env(void) {
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
}

static void launch_detection(void) {
  rt_launch l;
  clear_env();
  CHECK(rt_launch_detect(&l) == 0 && l.how == RT_LAUNCH_SINGLE && l.world == 1 && l.rank == 0,
        "no launcher: one rank");
  CHECK(l.timeout == 300, "default timeout 300 s, got %g", l.timeout);
  setenv("OMPI_COMM_WORLD_RANK", "3", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
  CHECK(rt_launch_detect(&l) == 0 && l.how == RT_LAUNCH_MPIRUN && l.rank == 3 && l.world == 4 &&
            l.local_rank == 1, "mpirun");
  clear_env();
  setenv("SLURM_PROCID", "5", 1);
  setenv("SLURM_NTASKS", "8", 1);
  setenv("SLURM_LOCALID", "1", 1);
  CHECK(rt_launch_detect(&l) == 0 && l.how == RT_LAUNCH_SLURM && l.rank == 5 && l.world == 8 &&
            l.local_rank == 1, "srun");
  clear_env();
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("MASTER_ADDR", "10.1.2.3", 1);
  CHECK(rt_launch_detect(&l) == 0 && l.how == RT_LAUNCH_TORCHRUN && l.rank == 1 &&
            l.world == 2 && !strcmp(l.master_addr, "10.1.2.3") && l.master_port == 29500,
        "torchrun-style, default port");
  setenv("MASTER_PORT", "70000", 1);
  CHECK(rt_launch_detect(&l) == -1, "a port above 65535 is refused");
  setenv("MASTER_PORT", "1234", 1);
  setenv("RANK", "2", 1);
  CHECK(rt_launch_detect(&l) == -1, "RANK >= WORLD_SIZE is refused");
  setenv("RANK", "x", 1);
  CHECK(rt_launch_detect(&l) == -1, "a non-number is refused");
  clear_env();
  setenv("WORLD_SIZE", "2", 1);
  CHECK(rt_launch_detect(&l) == -1, "WORLD_SIZE without RANK is refused");
  clear_env();
  setenv("FTC_COMM_TIMEOUT", "-3", 1);
  CHECK(rt_launch_detect(&l) == -1, "a negative timeout is refused");
  setenv("FTC_COMM_TIMEOUT", "2.5", 1);
  CHECK(rt_launch_detect(&l) == 0 && l.timeout == 2.5, "FTC_COMM_TIMEOUT");
  clear_env();
}

static void shard_split(void) {
  int64_t ns[] = {0, 1, 5, 7, 100, 50257};
  int ws[] = {1, 2, 3, 4, 8, 64};
  for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
    for (size_t b = 0; b < sizeof ws / sizeof *ws; b++) {
      int64_t next = 0, s = (ns[a] + ws[b] - 1) / ws[b];
      int ok = 1;
      for (int r = 0; r < ws[b]; r++) {
        int64_t lo, cnt;
        rt_shard_range(ns[a], r, ws[b], &lo, &cnt);
        if (lo != next || cnt < 0 || cnt > s || (r == 0 && cnt != s)) ok = 0;
        next = lo + cnt;
      }
      CHECK(ok && next == ns[a], "split of %lld over %d ranks covers it once, rank 0 largest",
            (long long)ns[a], ws[b]);
    }
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  socklen_t len = sizeof sa;
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&sa, sizeof sa);
  getsockname(fd, (struct sockaddr *)&sa, &len);
  close(fd);
  return ntohs(sa.sin_port);
}

static rt_launch tcp_launch(int rank, int world, int port, double timeout) {
  rt_launch l;
  memset(&l, 0, sizeof l);
  l.how = RT_LAUNCH_TORCHRUN;
  l.rank = rank;
  l.world = world;
  snprintf(l.master_addr, sizeof l.master_addr, "127.0.0.1");
  l.master_port = port;
  l.timeout = timeout;
  return l;
}

/* Runs fn's rendezvous in a child with stderr to `err`; returns its status. */
static pid_t spawn(rt_launch l, const char *err, const unsigned char *want) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  unsigned char blob[128] = {0};
  int rc = rt_rdzv_share(&l, blob, sizeof blob);
  _exit(rc != 0 ? 2 : want && memcmp(blob, want, sizeof blob) ? 3 : 0);
}

static int status_of(pid_t p) {
  int st = 0;
  waitpid(p, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

static int file_has(const char *path, const char *needle) {
  unsigned char *buf;
  int64_t n;
  if (rt_read_file(path, &buf, &n) != 0) return 0;
  buf = realloc(buf, (size_t)n + 1);
  buf[n] = 0;
  int has = strstr((char *)buf, needle) != NULL;
  if (!has) printf("  (%s says: %s)\n", path, buf);
  free(buf);
  return has;
}

static void rendezvous(void) {
  unsigned char id[128];
  for (int i = 0; i < 128; i++) id[i] = (unsigned char)(i * 7 + 1);
  int port = free_port();
  pid_t kids[3];
  for (int r = 1; r <= 3; r++) kids[r - 1] = spawn(tcp_launch(r, 4, port, 10), tp("rd.err"), id);
  rt_launch l0 = tcp_launch(0, 4, port, 10);
  unsigned char mine[128];
  memcpy(mine, id, sizeof id);
  CHECK(rt_rdzv_share(&l0, mine, sizeof mine) == 0, "rank 0 hands out the id");
  int all = 1;
  for (int k = 0; k < 3; k++) all &= status_of(kids[k]) == 0;
  CHECK(all, "ranks 1-3 receive the same 128 bytes");

  /* rank 1 alone: nobody listens */
  port = free_port();
  double t0 = rt_now();
  pid_t p = spawn(tcp_launch(1, 2, port, 0.6), tp("r1.err"), NULL);
  int st = status_of(p);
  double took = rt_now() - t0;
  CHECK(st == 2 && took < 5, "rank 1 without rank 0 fails (status %d) in %.1f s", st, took);
  char want[128];
  snprintf(want, sizeof want, "rank 1: cannot reach the rendezvous at 127.0.0.1:%d", port);
  CHECK(file_has(tp("r1.err"), want), "the message names the rank and the address");

  /* rank 0 waiting for ranks 1 and 2, only 1 comes */
  port = free_port();
  pid_t p1 = spawn(tcp_launch(1, 3, port, 1.5), tp("k1.err"), NULL);
  p = spawn(tcp_launch(0, 3, port, 1.0), tp("r0.err"), NULL);
  CHECK(status_of(p) == 2, "rank 0 gives up at its deadline");
  status_of(p1);
  CHECK(file_has(tp("r0.err"), "missing rank(s) 2"), "rank 0 names the missing rank");
}

/* The values comm_nccl.c declares, against the toolkit's header text. */
static void nccl_abi(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/include/nccl.h", FTC_CUDA_DIR);
  if (!rt_file_exists(path)) {
    printf("  (no %s: ABI check skipped)\n", path);
    return;
  }
  const char *needles[] = {"NCCL_UNIQUE_ID_BYTES 128", "ncclInProgress              =  7",
                           "ncclSum        = 0", "ncclUint8      = 1", "ncclFloat32    = 7",
                           "ncclFloat64    = 8"};
  for (size_t i = 0; i < sizeof needles / sizeof *needles; i++)
    CHECK(file_has(path, needles[i]), "nccl.h declares %s as comm_nccl.c does", needles[i]);
  const char *why = NULL;
  int v = rt_nccl_version(&why);
  if (v < 0) {
    printf("  (NCCL not loadable here: %s)\n", why);
    return;
  }
  CHECK(v >= 20000, "libnccl.so.2 loaded by dlopen reports version %d", v);
  rt_launch l = tcp_launch(0, 1, 0, 5);
  l.how = RT_LAUNCH_SINGLE;
  int fd = dup(2), null = open("/dev/null", O_WRONLY);
  dup2(null, 2);
  rt_comm *c = rt_comm_open(&l, RT_COMM_NCCL);
  dup2(fd, 2);
  if (c) {
    printf("  (a GPU is present: one NCCL rank opened)\n");
    rt_comm_close(c);
  } else {
    printf("  (no usable GPU: the NCCL engine refused cleanly)\n");
  }
}

int main(void) {
  tmp_init("test_comm");
  launch_detection();
  shard_split();
  rendezvous();
  nccl_abi();
  tmp_cleanup();
  return check_exit("test_comm");
}
