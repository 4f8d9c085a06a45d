/* runtime/safetensors_write.c -- writing safetensors files atomically.
 *
 * One idea: a file that is being replaced is never half-written. The new
 * file goes to PATH.tmp.PID, is fsync'ed, then renamed over PATH and the
 * directory is fsync'ed; any failure removes the temp file and leaves the
 * old PATH as it was. The header is padded with spaces so the data block
 * starts 8-byte aligned (as the Rust reference writer does). Every file
 * carries its checksums (safetensors_crc.c). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_internal.h"

int64_t rt_st_fail_after = -1;

typedef struct {
  char *s;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 4096) + n;
    char *ns = realloc(b->s, cap);
    if (!ns) {
      b->oom = 1;
      return;
    }
    b->s = ns;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) RT_FMT(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  sb_put(b, tmp, (size_t)(k < (int)sizeof tmp ? k : (int)sizeof tmp - 1));
}

/* s as the inside of a JSON string */
static void sb_jesc(sbuf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      sb_put(b, e, 2);
    } else if (c < 0x20) {
      sb_printf(b, "\\u%04x", c);
    } else {
      sb_put(b, (const char *)&c, 1);
    }
  }
}

static void sb_jstr(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  sb_jesc(b, s);
  sb_put(b, "\"", 1);
}

typedef struct {
  int fd;
  const char *path;
  int64_t written, total; /* total: the file's size, for FTC_FAULT */
} wfile;

/* n bytes at file offset off (the test hook fails any write reaching
 * past rt_st_fail_after bytes, as a full disk would). */
static int wr_at(wfile *w, const void *buf, size_t n, int64_t off) {
  const unsigned char *b = buf;
  while (n > 0) {
    size_t k = n > (1u << 30) ? (1u << 30) : n;
    if (rt_st_fail_after >= 0 && off + (int64_t)k > rt_st_fail_after) {
      rt_err("%s: write failed: %s (simulated)", w->path, strerror(ENOSPC));
      return -1;
    }
    ssize_t got = pwrite(w->fd, b, k, (off_t)off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      rt_err("%s: write failed: %s", w->path, got < 0 ? strerror(errno) : "no progress");
      return -1;
    }
    b += got;
    n -= (size_t)got;
    off += got;
  }
  return 0;
}

/* appends */
static int wr(wfile *w, const void *buf, size_t n) {
  if (wr_at(w, buf, n, w->written) != 0) return -1;
  w->written += (int64_t)n;
  rt_fault_write(2 * w->written >= w->total); /* FTC_FAULT=kill@write:N (tests) */
  return 0;
}

/* Writes the tensor's bytes, continuing *crc over them. */
static int write_tensor(wfile *w, const rt_st_out *t, int64_t numel, uint32_t *crc) {
  size_t ss = rt_dtype_size(t->src);
  if ((t->dtype == ST_F32 && t->src == RT_F32) || (t->dtype == ST_F64 && t->src == RT_F64)) {
    *crc = rt_crc32c(*crc, t->data, (size_t)numel * ss);
    return wr(w, t->data, (size_t)numel * ss);
  }
  if (t->dtype != ST_F32 && t->dtype != ST_F64) {
    rt_err("%s: tensor '%s': cannot write dtype %s", w->path, t->name,
           rt_st_dtype_name(t->dtype));
    return -1;
  }
  unsigned char buf[8192];
  int es = rt_st_dtype_size(t->dtype), per = (int)sizeof buf / es;
  for (int64_t i = 0; i < numel; i += per) {
    int64_t k = numel - i < per ? numel - i : per;
    for (int64_t j = 0; j < k; j++) {
      double v = t->src == RT_F64 ? ((const double *)t->data)[i + j]
                                  : ((const float *)t->data)[i + j];
      if (t->dtype == ST_F32) {
        float x = (float)v;
        memcpy(buf + j * 4, &x, 4);
      } else {
        memcpy(buf + j * 8, &v, 8);
      }
    }
    *crc = rt_crc32c(*crc, buf, (size_t)(k * es));
    if (wr(w, buf, (size_t)(k * es)) != 0) return -1;
  }
  return 0;
}

static int fsync_dir(const char *path) {
  char *dir = strdup(path);
  if (!dir) return -1;
  char *slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = 0;
  else if (slash) *slash = 0;
  else strcpy(dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  int rc = 0;
  if (fd < 0 || fsync(fd) != 0) {
    /* Some filesystems refuse fsync on directories; the rename is done. */
    rc = 0;
  }
  if (fd >= 0) close(fd);
  free(dir);
  return rc;
}

static void put_hex8(char *p, uint32_t v) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 7; i >= 0; i--, v >>= 4) p[i] = hex[v & 15];
}

/* The header holds every checksum (safetensors_crc.c): the metadata's sum
 * is known up front; each tensor's is written as 8 placeholder digits,
 * filled in once its bytes have streamed out, and the header (same length)
 * is written again before the file is synced and renamed. One pass over
 * the data, however large. */
int rt_st_write(const char *path, const rt_st_out *t, int n, const char *const *meta,
                int nmeta) {
  sbuf h = {0};
  size_t *crc_at = rt_xcalloc((size_t)(n > 0 ? n : 1), sizeof *crc_at, "header");
  uint32_t *crc = rt_xcalloc((size_t)(n > 0 ? n : 1), sizeof *crc, "header");
  char *tmp = NULL;
  wfile w = {-1, NULL, 0, 0};
  int rc = -1;
  if (!crc_at || !crc) goto done;
  for (int i = 0; i < nmeta; i++)
    if (rt_st_is_crc_key(meta[2 * i])) {
      rt_err("%s: internal error: metadata key '%s' is reserved for checksums", path,
             meta[2 * i]);
      goto done;
    }
  char sum[9] = {0};
  put_hex8(sum, rt_st_meta_sum((char *const *)meta, nmeta));
  sb_put(&h, "{\"__metadata__\":{", 17);
  for (int i = 0; i < nmeta; i++) {
    sb_jstr(&h, meta[2 * i]);
    sb_put(&h, ":", 1);
    sb_jstr(&h, meta[2 * i + 1]);
    sb_put(&h, ",", 1);
  }
  sb_put(&h, "\"" RT_ST_CRC_KEY "\":\"", strlen(RT_ST_CRC_KEY) + 4);
  sb_put(&h, sum, 8);
  sb_put(&h, "\"", 1);
  for (int i = 0; i < n; i++) {
    sb_put(&h, ",\"" RT_ST_CRC_KEY ".", strlen(RT_ST_CRC_KEY) + 3);
    sb_jesc(&h, t[i].name);
    sb_put(&h, "\":\"", 3);
    crc_at[i] = h.n;
    sb_put(&h, "00000000\"", 9);
  }
  sb_put(&h, "}", 1);
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    int64_t numel = 1;
    for (int d = 0; d < t[i].rank; d++) numel *= t[i].shape[d];
    sb_put(&h, ",", 1);
    sb_jstr(&h, t[i].name);
    sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", rt_st_dtype_name(t[i].dtype));
    for (int d = 0; d < t[i].rank; d++)
      sb_printf(&h, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
    int64_t end = off + numel * rt_st_dtype_size(t[i].dtype);
    sb_printf(&h, "],\"data_offsets\":[%lld,%lld]}", (long long)off, (long long)end);
    crc[i] = rt_st_tensor_seed(t[i].name, t[i].dtype, t[i].rank, t[i].shape, off, end);
    off = end;
  }
  sb_put(&h, "}", 1);
  while ((8 + h.n) % 8) sb_put(&h, " ", 1); /* data block 8-aligned */
  if (h.oom) {
    rt_err("%s: out of memory building the header", path);
    goto done;
  }
  size_t tl = strlen(path) + 32;
  tmp = rt_xmalloc(tl, "path");
  if (!tmp) goto done;
  snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
  rt_fault_write(-1);
  w = (wfile){open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644), tmp, 0, 8 + (int64_t)h.n + off};
  if (w.fd < 0) {
    rt_err("%s: cannot create: %s", tmp, strerror(errno));
    goto done;
  }
  unsigned char lenb[8];
  for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
  if (wr(&w, lenb, 8) != 0 || wr(&w, h.s, h.n) != 0) goto done;
  for (int i = 0; i < n; i++) {
    int64_t numel = 1;
    for (int d = 0; d < t[i].rank; d++) numel *= t[i].shape[d];
    if (write_tensor(&w, &t[i], numel, &crc[i]) != 0) goto done;
    put_hex8(h.s + crc_at[i], crc[i]);
  }
  if (n > 0 && wr_at(&w, h.s, h.n, 8) != 0) goto done;
  if (fsync(w.fd) != 0) {
    rt_err("%s: fsync failed: %s", tmp, strerror(errno));
    goto done;
  }
  int cr = close(w.fd);
  w.fd = -1;
  if (cr != 0) {
    rt_err("%s: close failed: %s", tmp, strerror(errno));
    goto done;
  }
  if (rename(tmp, path) != 0) {
    rt_err("%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    goto done;
  }
  fsync_dir(path);
  rc = 0;
done:
  if (w.fd >= 0) close(w.fd);
  if (rc != 0 && tmp) unlink(tmp);
  free(tmp);
  free(h.s);
  free(crc_at);
  free(crc);
  return rc;
}
