/* runtime/rdzv.c -- the TCP rendezvous of torchrun-style launches: rank 0
 * listens at MASTER_ADDR:MASTER_PORT and hands a small blob (the NCCL
 * unique id) to every other rank. It carries no training data: NCCL does.
 *
 * One idea: everything has the launch's deadline (poll with a timeout,
 * connect retried until then), and the failure message says which rank
 * could not reach which address, or which ranks never arrived.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"
#include "rt_internal.h"

static int ms_left(double deadline) {
  double s = deadline - rt_now();
  return s <= 0 ? 0 : (int)(s * 1000) + 1;
}

/* Reads or writes exactly n bytes before the deadline. */
static int xfer(int fd, void *buf, size_t n, int out, double deadline) {
  char *p = buf;
  while (n > 0) {
    struct pollfd pf = {fd, (short)(out ? POLLOUT : POLLIN), 0};
    int left = ms_left(deadline);
    if (left == 0 || poll(&pf, 1, left) <= 0) return -1;
    ssize_t k = out ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
    if (k <= 0) {
      if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      return -1;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static int resolve(const rt_launch *l, struct addrinfo **ai, int passive) {
  char port[16];
  snprintf(port, sizeof port, "%d", l->master_port);
  struct addrinfo hint = {0};
  hint.ai_family = AF_UNSPEC;
  hint.ai_socktype = SOCK_STREAM;
  hint.ai_flags = passive ? AI_PASSIVE : 0;
  int rc = getaddrinfo(l->master_addr, port, &hint, ai);
  if (rc != 0) {
    rt_err("rank %d: cannot resolve MASTER_ADDR %s: %s", l->rank, l->master_addr,
           gai_strerror(rc));
    return -1;
  }
  return 0;
}

static int serve(const rt_launch *l, void *blob, size_t bytes, double deadline) {
  struct addrinfo *ai;
  if (resolve(l, &ai, 1) != 0) return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM, 0), one = 1, rc = -1, joined = 0;
  int *peer = calloc((size_t)l->world, sizeof *peer);
  if (fd < 0 || !peer) goto done;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, l->world) != 0) {
    rt_err("rank 0: cannot listen at %s:%d for the rendezvous: %s", l->master_addr,
           l->master_port, strerror(errno));
    goto done;
  }
  while (joined < l->world - 1) {
    struct pollfd pf = {fd, POLLIN, 0};
    int left = ms_left(deadline);
    if (left == 0 || poll(&pf, 1, left) <= 0) break;
    int c = accept(fd, NULL, NULL);
    if (c < 0) continue;
    int32_t r = -1;
    if (xfer(c, &r, sizeof r, 0, deadline) != 0 || r <= 0 || r >= l->world || peer[r]) {
      close(c);
      continue;
    }
    peer[r] = c;
    joined++;
  }
  if (joined < l->world - 1) {
    char miss[512];
    size_t k = 0;
    miss[0] = 0;
    for (int r = 1; r < l->world && k + 16 < sizeof miss; r++)
      if (!peer[r]) k += (size_t)snprintf(miss + k, sizeof miss - k, "%s%d", k ? ", " : "", r);
    rt_err("rank 0: only %d of %d ranks reached the rendezvous at %s:%d within %.0f s "
           "(FTC_COMM_TIMEOUT); missing rank(s) %s", joined + 1, l->world, l->master_addr,
           l->master_port, l->timeout, miss);
    goto done;
  }
  rc = 0;
  for (int r = 1; r < l->world; r++)
    if (xfer(peer[r], blob, bytes, 1, deadline) != 0) {
      rt_err("rank 0: rank %d left the rendezvous at %s:%d before it got the id", r,
             l->master_addr, l->master_port);
      rc = -1;
    }
done:
  for (int r = 1; peer && r < l->world; r++)
    if (peer[r]) close(peer[r]);
  free(peer);
  if (fd >= 0) close(fd);
  freeaddrinfo(ai);
  return rc;
}

static int join(const rt_launch *l, void *blob, size_t bytes, double deadline) {
  struct addrinfo *ai;
  if (resolve(l, &ai, 0) != 0) return -1;
  int err = 0;
  for (;;) {
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      int32_t r = l->rank;
      if (xfer(fd, &r, sizeof r, 1, deadline) == 0 && xfer(fd, blob, bytes, 0, deadline) == 0) {
        close(fd);
        freeaddrinfo(ai);
        return 0;
      }
      err = ETIMEDOUT;
    } else {
      err = errno;
    }
    if (fd >= 0) close(fd);
    if (ms_left(deadline) == 0) break;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  freeaddrinfo(ai);
  rt_err("rank %d: cannot reach the rendezvous at %s:%d (rank 0) within %.0f s "
         "(FTC_COMM_TIMEOUT): %s; is rank 0 running, and are MASTER_ADDR and MASTER_PORT "
         "the same on every rank?", l->rank, l->master_addr, l->master_port, l->timeout,
         strerror(err));
  return -1;
}

int rt_rdzv_share(const rt_launch *l, void *blob, size_t bytes) {
  if (l->world <= 1) return 0;
  double deadline = rt_now() + l->timeout;
  return l->rank == 0 ? serve(l, blob, bytes, deadline) : join(l, blob, bytes, deadline);
}
