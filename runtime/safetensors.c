/* runtime/safetensors.c -- reading and writing the safetensors format:
 * 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *  "__metadata__": {"key": "value"}}, then the data block.
 *
 * One idea: trust nothing in the file. The header is parsed by a strict
 * little JSON reader and every tensor is checked against the file (dtype
 * known, size = numel * dtype size, inside the data block, no overlaps)
 * before any byte is used, so a bad file is an error naming the file and
 * the tensor, never a crash; a file with checksums is verified as it is
 * read (safetensors_crc.c). (Writing: safetensors_write.c.) */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_internal.h"

static const struct { const char *name; int size; } dtypes[ST_NDTYPES] = {
  [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1}, [ST_I8] = {"I8", 1},
  [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
  [ST_I16] = {"I16", 2}, [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
  [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4},
  [ST_F32] = {"F32", 4}, [ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8},
  [ST_U64] = {"U64", 8},
};

const char *rt_st_dtype_name(rt_st_dtype d) { return d < ST_NDTYPES ? dtypes[d].name : "?"; }
int rt_st_dtype_size(rt_st_dtype d) { return d < ST_NDTYPES ? dtypes[d].size : 0; }

/* ---- a strict JSON reader for the header ------------------------------ */

typedef struct {
  const char *s, *path;
  int64_t i, n;
  int failed;
} jp;

static int jfail(jp *p, const char *fmt, ...) RT_FMT(2, 3);
static int jfail(jp *p, const char *fmt, ...) {
  if (p->failed) return -1;
  p->failed = 1;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  rt_err("%s: bad safetensors header: %s (at header byte %lld)", p->path, msg,
         (long long)p->i);
  return -1;
}

static void jws(jp *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                         p->s[p->i] == '\n' || p->s[p->i] == '\r'))
    p->i++;
}

static int jeat(jp *p, char c) {
  jws(p);
  if (p->i < p->n && p->s[p->i] == c) {
    p->i++;
    return 0;
  }
  return jfail(p, "expected '%c'", c);
}

static int jpeek(jp *p) {
  jws(p);
  return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int jhex4(jp *p, unsigned *out) {
  if (p->i + 4 > p->n) return jfail(p, "short \\u escape");
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexval((unsigned char)p->s[p->i++]);
    if (h < 0) return jfail(p, "bad \\u escape");
    v = v << 4 | (unsigned)h;
  }
  *out = v;
  return 0;
}

/* Returns an owned, NUL-terminated UTF-8 string (NULL on error). */
static char *jstring(jp *p) {
  if (jeat(p, '"') != 0) return NULL;
  char *out = rt_xmalloc((size_t)(p->n - p->i) + 1, "header string");
  if (!out) {
    p->failed = 1;
    return NULL;
  }
  size_t k = 0;
  for (;;) {
    if (p->i >= p->n) {
      jfail(p, "unterminated string");
      break;
    }
    unsigned char c = (unsigned char)p->s[p->i++];
    if (c == '"') {
      out[k] = 0;
      return out;
    }
    if (c < 0x20) {
      jfail(p, "control character in a string");
      break;
    }
    if (c != '\\') {
      out[k++] = (char)c;
      continue;
    }
    if (p->i >= p->n) {
      jfail(p, "unterminated escape");
      break;
    }
    c = (unsigned char)p->s[p->i++];
    unsigned u;
    switch (c) {
    case '"': case '\\': case '/': out[k++] = (char)c; continue;
    case 'b': out[k++] = '\b'; continue;
    case 'f': out[k++] = '\f'; continue;
    case 'n': out[k++] = '\n'; continue;
    case 'r': out[k++] = '\r'; continue;
    case 't': out[k++] = '\t'; continue;
    case 'u':
      if (jhex4(p, &u) != 0) break;
      if (u >= 0xD800 && u < 0xDC00) { /* surrogate pair */
        unsigned lo;
        if (p->i + 2 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
          jfail(p, "unpaired surrogate");
          break;
        }
        p->i += 2;
        if (jhex4(p, &lo) != 0) break;
        if (lo < 0xDC00 || lo > 0xDFFF) {
          jfail(p, "bad surrogate pair");
          break;
        }
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
      } else if (u >= 0xDC00 && u < 0xE000) {
        jfail(p, "unpaired surrogate");
        break;
      }
      if (u == 0) {
        jfail(p, "NUL in a string");
        break;
      }
      /* An escape is >= 6 input bytes, its UTF-8 <= 4: the buffer suffices. */
      if (u < 0x80) out[k++] = (char)u;
      else if (u < 0x800) {
        out[k++] = (char)(0xC0 | u >> 6);
        out[k++] = (char)(0x80 | (u & 63));
      } else if (u < 0x10000) {
        out[k++] = (char)(0xE0 | u >> 12);
        out[k++] = (char)(0x80 | (u >> 6 & 63));
        out[k++] = (char)(0x80 | (u & 63));
      } else {
        out[k++] = (char)(0xF0 | u >> 18);
        out[k++] = (char)(0x80 | (u >> 12 & 63));
        out[k++] = (char)(0x80 | (u >> 6 & 63));
        out[k++] = (char)(0x80 | (u & 63));
      }
      continue;
    default: jfail(p, "bad escape '\\%c'", c); break;
    }
    break;
  }
  free(out);
  return NULL;
}

static int jint(jp *p, int64_t *out) {
  jws(p);
  int64_t v = 0;
  int64_t start = p->i;
  while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
    if (v > (INT64_MAX - 9) / 10) return jfail(p, "integer too large");
    v = v * 10 + (p->s[p->i++] - '0');
  }
  if (p->i == start) return jfail(p, "expected a non-negative integer");
  if (p->i < p->n && (p->s[p->i] == '.' || p->s[p->i] == 'e' || p->s[p->i] == 'E'))
    return jfail(p, "expected an integer");
  *out = v;
  return 0;
}

static int jskip(jp *p, int depth) {
  if (depth > 64) return jfail(p, "nested too deeply");
  int c = jpeek(p);
  if (c == '"') {
    char *s = jstring(p);
    free(s);
    return s ? 0 : -1;
  }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    p->i++;
    if (jpeek(p) == close) {
      p->i++;
      return 0;
    }
    for (;;) {
      if (c == '{') {
        char *k = jstring(p);
        if (!k) return -1;
        free(k);
        if (jeat(p, ':') != 0) return -1;
      }
      if (jskip(p, depth + 1) != 0) return -1;
      int d = jpeek(p);
      if (d == ',') {
        p->i++;
        continue;
      }
      return jeat(p, close);
    }
  }
  /* numbers and literals: a run of their characters */
  int64_t start = p->i;
  while (p->i < p->n && strchr("+-.0123456789eEtruefalsn", p->s[p->i])) p->i++;
  if (p->i == start) return jfail(p, "expected a value");
  return 0;
}

static int jint_array(jp *p, int64_t *out, int max, int *count) {
  if (jeat(p, '[') != 0) return -1;
  *count = 0;
  if (jpeek(p) == ']') {
    p->i++;
    return 0;
  }
  for (;;) {
    if (*count >= max) return jfail(p, "too many dimensions (at most %d)", max);
    if (jint(p, &out[(*count)++]) != 0) return -1;
    int c = jpeek(p);
    if (c == ',') {
      p->i++;
      continue;
    }
    return jeat(p, ']');
  }
}

/* ---- the file ----------------------------------------------------------- */

static int parse_tensor(jp *p, rt_st_tensor *t) {
  int have_dtype = 0, have_shape = 0, have_off = 0;
  if (jeat(p, '{') != 0) return -1;
  if (jpeek(p) == '}') return jfail(p, "tensor '%s' has no fields", t->name);
  for (;;) {
    char *k = jstring(p);
    if (!k) return -1;
    if (jeat(p, ':') != 0) {
      free(k);
      return -1;
    }
    int rc = 0;
    if (!strcmp(k, "dtype")) {
      char *d = jstring(p);
      if (!d) rc = -1;
      else {
        int found = -1;
        for (int i = 0; i < ST_NDTYPES; i++)
          if (!strcmp(dtypes[i].name, d)) found = i;
        if (found < 0) rc = jfail(p, "tensor '%s': unknown dtype \"%s\"", t->name, d);
        t->dtype = (rt_st_dtype)found;
        free(d);
        have_dtype = 1;
      }
    } else if (!strcmp(k, "shape")) {
      rc = jint_array(p, t->shape, RT_ST_MAXRANK, &t->rank);
      have_shape = 1;
    } else if (!strcmp(k, "data_offsets")) {
      int64_t o[2];
      int cnt = 0;
      rc = jint_array(p, o, 2, &cnt);
      if (!rc && cnt != 2) rc = jfail(p, "tensor '%s': data_offsets needs 2 numbers", t->name);
      t->begin = o[0];
      t->end = o[1];
      have_off = 1;
    } else {
      rc = jskip(p, 1);
    }
    free(k);
    if (rc) return -1;
    int c = jpeek(p);
    if (c == ',') {
      p->i++;
      continue;
    }
    if (jeat(p, '}') != 0) return -1;
    break;
  }
  if (!have_dtype || !have_shape || !have_off)
    return jfail(p, "tensor '%s' lacks %s", t->name,
                 !have_dtype ? "\"dtype\"" : !have_shape ? "\"shape\"" : "\"data_offsets\"");
  return 0;
}

static int parse_meta(jp *p, rt_st_file *f) {
  if (jeat(p, '{') != 0) return -1;
  if (jpeek(p) == '}') {
    p->i++;
    return 0;
  }
  for (;;) {
    char *k = jstring(p);
    if (!k) return -1;
    if (jeat(p, ':') != 0 || jpeek(p) != '"') {
      free(k);
      return jfail(p, "__metadata__ values must be strings");
    }
    char *v = jstring(p);
    if (!v) {
      free(k);
      return -1;
    }
    char **nm = realloc(f->meta, sizeof(char *) * (size_t)(2 * f->nmeta + 2));
    if (!nm) {
      free(k);
      free(v);
      return jfail(p, "out of memory");
    }
    f->meta = nm;
    f->meta[2 * f->nmeta] = k;
    f->meta[2 * f->nmeta + 1] = v;
    f->nmeta++;
    int c = jpeek(p);
    if (c == ',') {
      p->i++;
      continue;
    }
    return jeat(p, '}');
  }
}

static int parse_header(jp *p, rt_st_file *f) {
  if (jeat(p, '{') != 0) return -1;
  if (jpeek(p) == '}') {
    p->i++;
  } else {
    for (;;) {
      char *k = jstring(p);
      if (!k) return -1;
      if (jeat(p, ':') != 0) {
        free(k);
        return -1;
      }
      if (!strcmp(k, "__metadata__")) {
        free(k);
        if (parse_meta(p, f) != 0) return -1;
      } else {
        if (rt_st_find(f, k)) {
          jfail(p, "tensor '%s' appears twice", k);
          free(k);
          return -1;
        }
        rt_st_tensor *nt = realloc(f->t, sizeof *nt * (size_t)(f->n + 1));
        if (!nt) {
          free(k);
          return jfail(p, "out of memory");
        }
        f->t = nt;
        memset(&f->t[f->n], 0, sizeof *nt);
        f->t[f->n].name = k;
        f->n++;
        if (parse_tensor(p, &f->t[f->n - 1]) != 0) return -1;
      }
      int c = jpeek(p);
      if (c == ',') {
        p->i++;
        continue;
      }
      if (jeat(p, '}') != 0) return -1;
      break;
    }
  }
  if (jpeek(p) != -1) return jfail(p, "trailing characters after the header object");
  return 0;
}

static int cmp_begin(const void *a, const void *b) {
  const rt_st_tensor *x = *(const rt_st_tensor *const *)a, *y = *(const rt_st_tensor *const *)b;
  return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int check_tensors(rt_st_file *f) {
  int64_t data = f->size - f->data_start;
  for (int i = 0; i < f->n; i++) {
    rt_st_tensor *t = &f->t[i];
    int64_t numel = 1;
    for (int d = 0; d < t->rank; d++) {
      if (t->shape[d] > 0 && numel > INT64_MAX / 16 / t->shape[d]) {
        rt_err("%s: tensor '%s': shape too large", f->path, t->name);
        return -1;
      }
      numel *= t->shape[d];
    }
    t->numel = numel;
    if (t->begin > t->end || t->end > data) {
      rt_err("%s: tensor '%s': data_offsets [%lld, %lld] lie outside the %lld-byte "
             "data block (truncated file?)", f->path, t->name, (long long)t->begin,
             (long long)t->end, (long long)data);
      return -1;
    }
    if (t->end - t->begin != numel * dtypes[t->dtype].size) {
      rt_err("%s: tensor '%s': %lld bytes for %lld elements of %s", f->path, t->name,
             (long long)(t->end - t->begin), (long long)numel, dtypes[t->dtype].name);
      return -1;
    }
  }
  rt_st_tensor **order = rt_xmalloc(sizeof *order * (size_t)(f->n ? f->n : 1), "header");
  if (!order) return -1;
  for (int i = 0; i < f->n; i++) order[i] = &f->t[i];
  qsort(order, (size_t)f->n, sizeof *order, cmp_begin);
  int rc = 0;
  for (int i = 1; i < f->n && !rc; i++)
    if (order[i]->begin < order[i - 1]->end && order[i]->end > order[i]->begin) {
      rt_err("%s: tensors '%s' and '%s' overlap", f->path, order[i - 1]->name,
             order[i]->name);
      rc = -1;
    }
  free(order);
  return rc;
}

static int pread_all(int fd, void *buf, int64_t n, int64_t off, const char *path) {
  unsigned char *b = buf;
  while (n > 0) {
    ssize_t k = pread(fd, b, (size_t)(n > (1 << 30) ? (1 << 30) : n), (off_t)off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      rt_err("%s: read failed at byte %lld: %s", path, (long long)off,
             k < 0 ? strerror(errno) : "unexpected end of file");
      return -1;
    }
    b += k;
    n -= k;
    off += k;
  }
  return 0;
}

int rt_st_open(rt_st_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  f->fd = -1;
  f->path = strdup(path);
  if (!f->path) {
    rt_err("out of memory");
    return -1;
  }
  f->fd = open(path, O_RDONLY);
  struct stat st;
  if (f->fd < 0 || fstat(f->fd, &st) != 0) {
    rt_err("%s: cannot open: %s", path, strerror(errno));
    goto fail;
  }
  f->size = st.st_size;
  unsigned char lenb[8];
  if (f->size < 8) {
    rt_err("%s: not a safetensors file (only %lld bytes)", path, (long long)f->size);
    goto fail;
  }
  if (pread_all(f->fd, lenb, 8, 0, path) != 0) goto fail;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | lenb[i];
  if (hlen > (uint64_t)(f->size - 8) || hlen > (100u << 20)) {
    rt_err("%s: not a safetensors file or truncated: header length %llu, file size %lld",
           path, (unsigned long long)hlen, (long long)f->size);
    goto fail;
  }
  char *h = rt_xmalloc(hlen + 1, path);
  if (!h) goto fail;
  if (pread_all(f->fd, h, (int64_t)hlen, 8, path) != 0) {
    free(h);
    goto fail;
  }
  h[hlen] = 0;
  jp p = {h, path, 0, (int64_t)hlen, 0};
  int rc = parse_header(&p, f);
  free(h);
  if (rc != 0) goto fail;
  f->data_start = 8 + (int64_t)hlen;
  if (check_tensors(f) != 0 || rt_st_crc_attach(f) != 0) goto fail;
  return 0;
fail:
  rt_st_close(f);
  return -1;
}

const rt_st_tensor *rt_st_find(const rt_st_file *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->t[i].name, name)) return &f->t[i];
  return NULL;
}

const char *rt_st_meta(const rt_st_file *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++)
    if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
  return NULL;
}

static double half_to_double(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 0) v = (double)m / 16777216.0; /* 2^-24 */
  else if (e == 31) v = m ? (double)NAN : (double)INFINITY;
  else v = (1.0 + m / 1024.0) * (double)((int64_t)1 << e) / 32768.0;
  return s ? -v : v;
}

static double bf16_to_double(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, 4);
  return x;
}

int rt_st_pread(const rt_st_file *f, void *buf, int64_t n, int64_t off) {
  return pread_all(f->fd, buf, n, off, f->path);
}

int rt_st_read(const rt_st_file *f, const rt_st_tensor *t, rt_dtype to, void *dst) {
  rt_st_dtype d = t->dtype;
  if (d != ST_F32 && d != ST_F64 && d != ST_F16 && d != ST_BF16) {
    rt_err("%s: tensor '%s' has dtype %s; a float tensor (F32, F64, F16, BF16) is needed",
           f->path, t->name, dtypes[d].name);
    return -1;
  }
  int64_t off = f->data_start + t->begin;
  /* the checksum runs over the file's bytes, before any conversion */
  uint32_t crc = rt_st_tensor_seed(t->name, d, t->rank, t->shape, t->begin, t->end);
  if ((d == ST_F32 && to == RT_F32) || (d == ST_F64 && to == RT_F64)) {
    if (pread_all(f->fd, dst, t->end - t->begin, off, f->path) != 0) return -1;
    return rt_st_crc_check(f, t, rt_crc32c(crc, dst, (size_t)(t->end - t->begin)));
  }
  enum { CHUNK = 1 << 16 };
  int es = dtypes[d].size;
  unsigned char *buf = rt_xmalloc((size_t)CHUNK * (size_t)es, "conversion buffer");
  if (!buf) return -1;
  for (int64_t i = 0; i < t->numel; i += CHUNK) {
    int64_t k = t->numel - i < CHUNK ? t->numel - i : CHUNK;
    if (pread_all(f->fd, buf, k * es, off + i * es, f->path) != 0) {
      free(buf);
      return -1;
    }
    crc = rt_crc32c(crc, buf, (size_t)(k * es));
    for (int64_t j = 0; j < k; j++) {
      const unsigned char *q = buf + j * es;
      double v;
      if (d == ST_F32) {
        float x;
        memcpy(&x, q, 4);
        v = x;
      } else if (d == ST_F64) {
        memcpy(&v, q, 8);
      } else {
        uint16_t h = (uint16_t)(q[0] | q[1] << 8);
        v = d == ST_F16 ? half_to_double(h) : bf16_to_double(h);
      }
      if (to == RT_F64) ((double *)dst)[i + j] = v;
      else ((float *)dst)[i + j] = (float)v;
    }
  }
  free(buf);
  return rt_st_crc_check(f, t, crc);
}

void rt_st_close(rt_st_file *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  for (int i = 0; i < f->n; i++) free(f->t[i].name);
  free(f->t);
  for (int i = 0; i < 2 * f->nmeta; i++) free(f->meta[i]);
  free(f->meta);
  free(f->path);
  memset(f, 0, sizeof *f);
  f->fd = -1;
}
