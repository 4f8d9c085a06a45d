/* runtime/verify.c -- `./trainer verify [FILE|DIR ...]`: checks checkpoints,
 * weights, exports and token shards without training.
 *
 * One idea: verifying is loading without keeping: the same readers the
 * trainer uses (rt_st_open, rt_shard_parse) check structure and checksums,
 * and every tensor's bytes are read once, so a file that verifies is one
 * that loads. With no argument it checks what a run in --out wrote: the
 * checkpoint, the kept checkpoints (--keep) and model.safetensors.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

static int verify_shard(const rt_model *m, const char *path) {
  unsigned char *buf;
  int64_t n, count;
  const unsigned char *tok;
  int elem;
  if (rt_read_file(path, &buf, &n) != 0) return -1;
  int rc = rt_shard_parse(path, buf, n, m->data.vocab, &tok, &elem, &count);
  if (rc == 0)
    printf("%s: ok (token shard, %lld tokens of %d bytes, %s)\n", path, (long long)count, elem,
           buf[28] & RT_SHARD_HAS_CRC ? "checksum verified"
                                      : "no checksum in this older shard: structure only");
  free(buf);
  return rc;
}

static int verify_st(const rt_model *m, const char *path) {
  rt_st_file f;
  if (rt_st_open(&f, path) != 0) return -1;
  int bad = rt_st_verify(&f);
  if (bad == 0) {
    int64_t bytes = f.size - f.data_start;
    char b[32];
    rt_fmt_bytes(b, sizeof b, (double)bytes);
    const char *kind = rt_st_meta(&f, "ftrt.kind"), *step = rt_st_meta(&f, "ftrt.step");
    const char *hash = rt_st_meta(&f, "ftrt.recipe_hash");
    printf("%s: ok (%s%s%s, %d tensors, %s, %s", path, kind ? kind : "safetensors",
           step ? ", step " : "", step ? step : "", f.n, b,
           f.checksummed ? "every checksum verified"
                         : "no checksums in this file: structure only");
    if (kind && !strcmp(kind, "checkpoint") && m->hash)
      printf("; %s", hash && !strcmp(hash, m->hash) ? "this trainer can resume it"
                                                    : "written by another program");
    printf(")\n");
  } else if (bad > 0) {
    rt_err("%s: %d of %d tensors failed their checksum", path, bad, f.n);
  }
  rt_st_close(&f);
  return bad == 0 ? 0 : -1;
}

static int verify_one(const rt_model *m, const char *path) {
  unsigned char head[8] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) {
    rt_err("%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  size_t got = fread(head, 1, sizeof head, f);
  fclose(f);
  if (got == 8 && !memcmp(head, RT_SHARD_MAGIC, 8)) return verify_shard(m, path);
  return verify_st(m, path);
}

/* What a run leaves in dir: checkpoint, kept checkpoints, weights. */
static int verify_dir(const rt_model *m, const char *dir, int *nfiles) {
  int bad = 0;
  const char *names[2] = {"ckpt.safetensors", "model.safetensors"};
  for (int i = 0; i < 2; i++) {
    char *p = rt_path_join(dir, names[i]);
    if (p && rt_file_exists(p)) {
      (*nfiles)++;
      bad += verify_one(m, p) != 0;
    }
    free(p);
  }
  int64_t *steps;
  int n = rt_ckpt_kept(dir, &steps);
  for (int i = 0; i < n; i++) {
    char *p = rt_ckpt_kept_path(dir, steps[i]);
    if (!p) continue;
    (*nfiles)++;
    bad += verify_one(m, p) != 0;
    free(p);
  }
  free(steps);
  return bad;
}

int rt_cmd_verify(const rt_model *m, const rt_opts *o) {
  int bad = 0, nfiles = 0;
  if (o->nfiles == 0) {
    bad = verify_dir(m, o->train.out_dir, &nfiles);
    if (nfiles == 0) {
      rt_err("%s: no checkpoint or weights to verify (give files: %s verify FILE...)",
             o->train.out_dir, rt_progname);
      return 1;
    }
  }
  for (int i = 0; i < o->nfiles; i++) {
    if (rt_is_dir(o->files[i])) {
      int before = nfiles;
      bad += verify_dir(m, o->files[i], &nfiles);
      if (nfiles == before) {
        rt_err("%s: no checkpoint or weights in this directory", o->files[i]);
        bad++;
      }
    } else {
      nfiles++;
      bad += verify_one(m, o->files[i]) != 0;
    }
  }
  if (nfiles > 1) printf("%d of %d files verified\n", nfiles - bad, nfiles);
  return bad ? 1 : 0;
}
