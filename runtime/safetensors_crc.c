/* runtime/safetensors_crc.c -- the checksums inside every safetensors file
 * the trainer writes (checkpoints, weights, exports, shards of them).
 *
 * One idea: a checksum that lives in the file's own __metadata__ keeps the
 * file a plain safetensors file that any reader accepts, and covers all of
 * it: "ftrt.crc32c.<tensor>" is the CRC-32C of the tensor's descriptor
 * (name, dtype, shape, data offsets) followed by its bytes, and
 * "ftrt.crc32c" is the sum of the CRC-32Cs of every other metadata
 * "key\0value\0" pair (a sum, so another tool may reorder the pairs). A
 * flipped byte anywhere but the header's padding is named: the metadata,
 * or the tensor. Files without these keys (other tools, older trainers)
 * load as before, unverified.
 */
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

int rt_st_is_crc_key(const char *key) {
  size_t n = strlen(RT_ST_CRC_KEY);
  return !strncmp(key, RT_ST_CRC_KEY, n) && (key[n] == 0 || key[n] == '.');
}

static uint32_t crc_i64(uint32_t c, int64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)v >> (8 * i));
  return rt_crc32c(c, b, 8);
}

uint32_t rt_st_tensor_seed(const char *name, rt_st_dtype dt, int rank, const int64_t *shape,
                           int64_t begin, int64_t end) {
  const char *d = rt_st_dtype_name(dt);
  uint32_t c = rt_crc32c(0, name, strlen(name) + 1);
  c = rt_crc32c(c, d, strlen(d) + 1);
  c = crc_i64(c, rank);
  for (int i = 0; i < rank; i++) c = crc_i64(c, shape[i]);
  c = crc_i64(c, begin);
  return crc_i64(c, end);
}

uint32_t rt_st_meta_sum(char *const *kv, int nmeta) {
  uint32_t sum = 0;
  for (int i = 0; i < nmeta; i++) {
    if (rt_st_is_crc_key(kv[2 * i])) continue;
    uint32_t c = rt_crc32c(0, kv[2 * i], strlen(kv[2 * i]) + 1);
    sum += rt_crc32c(c, kv[2 * i + 1], strlen(kv[2 * i + 1]) + 1);
  }
  return sum;
}

static int parse_hex8(const char *s, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 8; i++) {
    char c = s[i];
    int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (h < 0) return -1;
    v = v << 4 | (uint32_t)h;
  }
  if (s[8]) return -1;
  *out = v;
  return 0;
}

int rt_st_crc_attach(rt_st_file *f) {
  const char *sum = rt_st_meta(f, RT_ST_CRC_KEY);
  size_t kn = strlen(RT_ST_CRC_KEY);
  uint32_t want;
  int tensor_keys = 0;
  for (int i = 0; i < f->nmeta; i++) {
    const char *k = f->meta[2 * i], *v = f->meta[2 * i + 1];
    if (!rt_st_is_crc_key(k) || !k[kn]) continue;
    tensor_keys++;
    rt_st_tensor *t = (rt_st_tensor *)rt_st_find(f, k + kn + 1);
    if (!t) {
      rt_err("%s: corrupt header: a checksum for tensor '%s', which the file does not hold",
             f->path, k + kn + 1);
      return -1;
    }
    if (parse_hex8(v, &t->crc) != 0) {
      rt_err("%s: corrupt header: tensor '%s' has checksum \"%s\" (8 hex digits expected)",
             f->path, t->name, v);
      return -1;
    }
    t->has_crc = 1;
  }
  if (!sum) {
    if (tensor_keys) {
      rt_err("%s: corrupt header: tensor checksums without the metadata checksum '%s'",
             f->path, RT_ST_CRC_KEY);
      return -1;
    }
    return 0; /* not written by ftrt: nothing to verify */
  }
  uint32_t got = rt_st_meta_sum(f->meta, f->nmeta);
  if (parse_hex8(sum, &want) != 0 || want != got) {
    rt_err("%s: metadata checksum mismatch (stored %s, computed %08x): the header is "
           "corrupt", f->path, sum, got);
    return -1;
  }
  for (int i = 0; i < f->n; i++)
    if (!f->t[i].has_crc) {
      rt_err("%s: corrupt header: tensor '%s' has no checksum", f->path, f->t[i].name);
      return -1;
    }
  f->checksummed = 1;
  return 0;
}

int rt_st_crc_check(const rt_st_file *f, const rt_st_tensor *t, uint32_t got) {
  if (!t->has_crc || t->crc == got) return 0;
  rt_err("%s: tensor '%s': checksum mismatch (stored crc32c %08x, data %08x): the file is "
         "corrupt", f->path, t->name, t->crc, got);
  return -1;
}

int rt_st_verify(const rt_st_file *f) {
  enum { CHUNK = 1 << 20 };
  unsigned char *buf = rt_xmalloc(CHUNK, "read buffer");
  if (!buf) return -1;
  int bad = 0;
  for (int i = 0; i < f->n; i++) {
    const rt_st_tensor *t = &f->t[i];
    uint32_t c = rt_st_tensor_seed(t->name, t->dtype, t->rank, t->shape, t->begin, t->end);
    for (int64_t off = t->begin; off < t->end; off += CHUNK) {
      int64_t k = t->end - off < CHUNK ? t->end - off : CHUNK;
      if (rt_st_pread(f, buf, k, f->data_start + off) != 0) {
        free(buf);
        return -1;
      }
      c = rt_crc32c(c, buf, (size_t)k);
    }
    if (rt_st_crc_check(f, t, c) != 0) bad++;
  }
  free(buf);
  return bad;
}
