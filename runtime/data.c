/* runtime/data.c -- training data: raw text as bytes (vocab 256) or
 * pre-tokenized shards (uint16/uint32 with a header, see ftrt.h), split
 * into a train part and a val part, and batches of random windows.
 *
 * One idea: the loader's whole position is (RNG state, batches drawn), two
 * integers, so a checkpoint restores it exactly. A batch row is a window of
 * seq+1 tokens starting at a random train offset: tokens = window[0:seq],
 * targets = window[1:seq+1]. Val batches are fixed, non-overlapping windows
 * of the val part, so every eval sees the same tokens. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_internal.h"

static uint64_t rd_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
static uint32_t rd_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t tok_at(const rt_data *d, int64_t i) {
  const unsigned char *p = d->tok + i * d->elem;
  switch (d->elem) {
  case 1: return p[0];
  case 2: return (uint32_t)p[0] | (uint32_t)p[1] << 8;
  default: return rd_u32(p);
  }
}

/* Checks one shard held in buf[0..n) (header, size, every token against
 * the vocabulary) and returns where its tokens start, their size and count. */
int rt_shard_parse(const char *path, const unsigned char *buf, int64_t n, int vocab,
                   const unsigned char **tok, int *elem_out, int64_t *count_out) {
  if (n < RT_SHARD_HEADER || memcmp(buf, RT_SHARD_MAGIC, 8) != 0) {
    rt_err("%s: not a token shard (missing the %s header; make one with "
           "`ftc data text2shards`)", path, RT_SHARD_MAGIC);
    return -1;
  }
  uint32_t ver = rd_u32(buf + 8), elem = rd_u32(buf + 12);
  uint64_t count = rd_u64(buf + 16);
  if (ver != RT_SHARD_VERSION) {
    rt_err("%s: shard format version %u, this trainer reads version %d", path,
           ver, RT_SHARD_VERSION);
    return -1;
  }
  if (elem != 2 && elem != 4) {
    rt_err("%s: bad token size %u in the shard header (2 or 4)", path, elem);
    return -1;
  }
  uint64_t have = (uint64_t)(n - RT_SHARD_HEADER);
  if (count > have / elem || have != count * elem) {
    rt_err("%s: truncated or corrupt shard: the header says %llu tokens of %u "
           "bytes but the file holds %llu bytes of tokens", path,
           (unsigned long long)count, elem, (unsigned long long)have);
    return -1;
  }
  /* bytes 24..31: CRC-32C of the tokens and flags (bit 0: it is set);
   * shards written before checksums have zeros there */
  uint32_t crc = rd_u32(buf + 24), flags = rd_u32(buf + 28);
  if (flags & ~(uint32_t)RT_SHARD_HAS_CRC) {
    rt_err("%s: corrupt shard header: unknown flags %#x", path, flags);
    return -1;
  }
  if (flags & RT_SHARD_HAS_CRC) {
    uint32_t got = rt_crc32c(0, buf + RT_SHARD_HEADER, (size_t)have);
    if (got != crc) {
      rt_err("%s: checksum mismatch in the token data (stored crc32c %08x, data %08x): "
             "the shard is corrupt", path, crc, got);
      return -1;
    }
  }
  rt_data d = {.tok = buf + RT_SHARD_HEADER, .elem = (int)elem};
  for (int64_t i = 0; i < (int64_t)count; i++) {
    uint32_t t = tok_at(&d, i);
    if (t >= (uint32_t)vocab) {
      rt_err("%s: token %u at position %lld is outside the vocabulary (%d)",
             path, t, (long long)i, vocab);
      return -1;
    }
  }
  *tok = d.tok;
  *elem_out = (int)elem;
  *count_out = (int64_t)count;
  return 0;
}

int rt_data_open(rt_data *d, const rt_data_cfg *cfg, uint64_t seed) {
  memset(d, 0, sizeof *d);
  d->path = cfg->path;
  d->batch = cfg->batch;
  d->seq = cfg->seq;
  d->vocab = cfg->vocab;
  if (!cfg->path || !*cfg->path) {
    rt_err("no data file (give one with --data FILE)");
    return -1;
  }
  if (cfg->batch <= 0 || cfg->seq <= 0) {
    rt_err("%s: invalid batch %d / seq %d", cfg->path, cfg->batch, cfg->seq);
    return -1;
  }
  if (cfg->kind == RT_DATA_SHARDS && rt_is_dir(cfg->path)) {
    /* a directory of shards: their tokens in name order, headers dropped */
    if (rt_shard_dir_load(cfg->path, d->vocab, &d->buf, &d->elem, &d->n) != 0) return -1;
    d->tok = d->buf;
  } else if (rt_read_file(cfg->path, &d->buf, &d->n) != 0) {
    return -1;
  } else if (cfg->kind == RT_DATA_TEXT && cfg->tokenizer) {
    if (rt_data_tokenize(d, cfg->tokenizer) != 0) goto fail; /* data_tok.c */
  } else if (cfg->kind == RT_DATA_TEXT) {
    if (d->vocab < 256) {
      rt_err("%s: byte-level text needs a vocabulary of at least 256 (model has %d)",
             cfg->path, d->vocab);
      goto fail;
    }
    d->elem = 1;
    d->tok = d->buf;
  } else if (rt_shard_parse(d->path, d->buf, d->n, d->vocab, &d->tok, &d->elem, &d->n) != 0) {
    goto fail;
  }
  double split = cfg->split > 0 && cfg->split <= 1 ? cfg->split : 1.0;
  d->ntrain = (int64_t)((double)d->n * split);
  if (d->ntrain < (int64_t)d->seq + 1) {
    rt_err("%s: %lld tokens, too few for one training window: seq %d needs %d tokens "
           "(seq + 1) in the training part, so the data needs at least %lld at split %g",
           cfg->path, (long long)d->n, d->seq, d->seq + 1,
           (long long)rt_data_needed(d->seq, split), split);
    goto fail;
  }
  rt_rng_seed(&d->rng, seed ^ 0xda7a5eed0f5eedULL);
  return 0;
fail:
  rt_data_close(d);
  return -1;
}

static void fill_row(const rt_data *d, int64_t start, int32_t *tokens, int32_t *targets) {
  for (int t = 0; t < d->seq; t++) {
    tokens[t] = (int32_t)tok_at(d, start + t);
    targets[t] = (int32_t)tok_at(d, start + t + 1);
  }
}

/* The global batch rule shared by gradient accumulation and data-parallel
 * ranks: a step's global batch of G rows is G consecutive draws of the data
 * RNG (row i = draw i), so any split of it, micro-batch i of rank r reading
 * rows (r * accum + i) * B .. +B, reads exactly the windows one process at
 * batch G would. splitmix64 advances by a constant per draw, so reading
 * rows [row0, row0+n) starts from the step's state moved row0 draws on. */
#define RT_RNG_GAMMA 0x9e3779b97f4a7c15ULL

void rt_data_rows(const rt_data *d, int64_t row0, int nrows, int32_t *tokens,
                  int32_t *targets) {
  uint64_t nstart = (uint64_t)(d->ntrain - d->seq); /* starts 0 .. ntrain-seq-1 */
  rt_rng g = {d->rng.s + (uint64_t)row0 * RT_RNG_GAMMA};
  for (int b = 0; b < nrows; b++) {
    int64_t start = (int64_t)(rt_rng_next(&g) % nstart);
    fill_row(d, start, tokens + (int64_t)b * d->seq, targets + (int64_t)b * d->seq);
  }
}

void rt_data_advance(rt_data *d, int64_t global_rows) {
  d->rng.s += (uint64_t)global_rows * RT_RNG_GAMMA;
  d->batches++;
}

void rt_data_next(rt_data *d, int32_t *tokens, int32_t *targets) {
  rt_data_rows(d, 0, d->batch, tokens, targets);
  rt_data_advance(d, d->batch);
}

static int64_t val_windows(const rt_data *d) {
  int64_t nval = d->n - d->ntrain;
  return nval >= d->seq + 1 ? (nval - 1) / d->seq : 0;
}

int64_t rt_data_val_batches(const rt_data *d) {
  int64_t w = val_windows(d);
  return w ? (w + d->batch - 1) / d->batch : 0;
}

void rt_data_val(const rt_data *d, int64_t b, int32_t *tokens, int32_t *targets) {
  int64_t w = val_windows(d);
  for (int r = 0; r < d->batch; r++) {
    int64_t k = (b * d->batch + r) % w; /* wraps when the val part is small */
    fill_row(d, d->ntrain + k * d->seq, tokens + (int64_t)r * d->seq,
             targets + (int64_t)r * d->seq);
  }
}

void rt_data_close(rt_data *d) {
  free(d->buf);
  d->buf = NULL;
  d->tok = NULL;
}

/* ---- shard writer ------------------------------------------------------ */

struct rt_shard_writer {
  char *path, *tmp;
  FILE *f;
  int elem;
  uint64_t count;
  uint32_t crc; /* of the token bytes written so far */
};

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static int write_header(rt_shard_writer *w) {
  unsigned char h[RT_SHARD_HEADER] = {0};
  memcpy(h, RT_SHARD_MAGIC, 8);
  put_u32(h + 8, RT_SHARD_VERSION);
  put_u32(h + 12, (uint32_t)w->elem);
  put_u64(h + 16, w->count);
  put_u32(h + 24, w->crc);
  put_u32(h + 28, RT_SHARD_HAS_CRC);
  if (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(h, 1, sizeof h, w->f) != sizeof h) {
    rt_err("%s: write failed: %s", w->tmp, strerror(errno));
    return -1;
  }
  return 0;
}

rt_shard_writer *rt_shard_open(const char *path, int elem_bytes) {
  if (elem_bytes != 2 && elem_bytes != 4) {
    rt_err("%s: token size must be 2 (u16) or 4 (u32), not %d", path, elem_bytes);
    return NULL;
  }
  rt_shard_writer *w = rt_xcalloc(1, sizeof *w, "shard writer");
  if (!w) return NULL;
  w->elem = elem_bytes;
  w->path = strdup(path);
  w->tmp = rt_xmalloc(strlen(path) + 32, "path");
  if (!w->path || !w->tmp) goto fail;
  snprintf(w->tmp, strlen(path) + 32, "%s.tmp.%ld", path, (long)getpid());
  w->f = fopen(w->tmp, "wb");
  if (!w->f) {
    rt_err("%s: cannot create: %s", w->tmp, strerror(errno));
    goto fail;
  }
  if (write_header(w) != 0) {
    rt_shard_abort(w);
    return NULL;
  }
  return w;
fail:
  free(w->path);
  free(w->tmp);
  free(w);
  return NULL;
}

int rt_shard_append(rt_shard_writer *w, const uint32_t *tok, int64_t n) {
  unsigned char buf[4096];
  int per = (int)sizeof buf / w->elem;
  for (int64_t i = 0; i < n;) {
    int k = 0;
    for (; k < per && i < n; k++, i++) {
      if (w->elem == 2 && tok[i] > 0xFFFF) {
        rt_err("%s: token %u does not fit in u16 (use --dtype u32)", w->path, tok[i]);
        return -1;
      }
      for (int b = 0; b < w->elem; b++)
        buf[k * w->elem + b] = (unsigned char)(tok[i] >> (8 * b));
    }
    w->crc = rt_crc32c(w->crc, buf, (size_t)k * (size_t)w->elem);
    if (fwrite(buf, (size_t)w->elem, (size_t)k, w->f) != (size_t)k) {
      rt_err("%s: write failed: %s", w->tmp, strerror(errno));
      return -1;
    }
    w->count += (uint64_t)k;
  }
  return 0;
}

void rt_shard_abort(rt_shard_writer *w) {
  if (!w) return;
  if (w->f) fclose(w->f);
  unlink(w->tmp);
  free(w->path);
  free(w->tmp);
  free(w);
}

int rt_shard_close(rt_shard_writer *w) {
  if (write_header(w) != 0 || fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) {
    rt_err("%s: cannot write: %s", w->tmp, strerror(errno));
    rt_shard_abort(w);
    return -1;
  }
  int rc = fclose(w->f);
  w->f = NULL;
  if (rc != 0 || rename(w->tmp, w->path) != 0) {
    rt_err("%s: cannot finish writing: %s", w->path, strerror(errno));
    rt_shard_abort(w);
    return -1;
  }
  free(w->path);
  free(w->tmp);
  free(w);
  return 0;
}
