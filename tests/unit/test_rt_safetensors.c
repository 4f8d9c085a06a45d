/* tests/unit/test_rt_safetensors.c -- the safetensors reader and writer:
 * round trip with metadata, dtype conversion (F16, BF16, F64), and every
 * kind of bad file (truncated, bad JSON, bad offsets, overlaps, unknown
 * dtype) is an error, never a crash. */
#include "test_rt_util.h"
#include "rt_internal.h"

/* Writes 8-byte length + header + data verbatim. */
static void raw_file(const char *path, const char *header, const void *data, size_t n) {
  size_t hl = strlen(header);
  unsigned char *b = malloc(8 + hl + n);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, header, hl);
  if (n) memcpy(b + 8 + hl, data, n);
  write_bytes(path, b, 8 + hl + n);
  free(b);
}

static int opens(const char *path) {
  rt_st_file f;
  int rc = rt_st_open(&f, path);
  if (rc == 0) rt_st_close(&f);
  return rc == 0;
}

int main(void) {
  tmp_init("test_rt_st");
  /* round trip: f32 as F32, f64 as F64 and f64 -> F32 */
  float a[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
  double d[3] = {0.1, -1e300, 3};
  int64_t sa[2] = {2, 3}, sd[1] = {3}, s0[1] = {0};
  rt_st_out t[4] = {{"a", ST_F32, RT_F32, 2, sa, a},
                    {"d", ST_F64, RT_F64, 1, sd, d},
                    {"d32", ST_F32, RT_F64, 1, sd, d},
                    {"we\"ird\\name", ST_F32, RT_F32, 1, s0, a}};
  const char *meta[] = {"format", "pt", "note", "line\nbreak \"quoted\""};
  CHECK(rt_st_write(tp("rt.safetensors"), t, 4, meta, 2) == 0, "write");
  long n;
  unsigned char *raw = slurp(tp("rt.safetensors"), &n);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | raw[i];
  CHECK((8 + hl) % 8 == 0, "data block aligned (header %llu)", (unsigned long long)hl);
  free(raw);
  rt_st_file f;
  CHECK(rt_st_open(&f, tp("rt.safetensors")) == 0, "open");
  CHECK(f.n == 4, "4 tensors, got %d", f.n);
  CHECK(rt_st_meta(&f, "note") && !strcmp(rt_st_meta(&f, "note"), "line\nbreak \"quoted\""),
        "metadata escapes");
  const rt_st_tensor *ta = rt_st_find(&f, "a");
  CHECK(ta && ta->rank == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && ta->dtype == ST_F32,
        "a's header");
  float ra[6];
  double rd[3], r32[3];
  CHECK(ta && rt_st_read(&f, ta, RT_F32, ra) == 0 && !memcmp(ra, a, sizeof a), "a's data");
  CHECK(rt_st_read(&f, rt_st_find(&f, "d"), RT_F64, rd) == 0 && !memcmp(rd, d, sizeof d),
        "d's data exact");
  CHECK(rt_st_read(&f, rt_st_find(&f, "d32"), RT_F64, r32) == 0 && r32[0] == (double)0.1f &&
            r32[2] == 3.0, "d32 rounded to float");
  CHECK(rt_st_find(&f, "we\"ird\\name") != NULL, "escaped name");
  rt_st_close(&f);

  /* F16 / BF16 conversion: 1.0, -2.0, 0.5, smallest subnormal; bf16 1.0, -3.0 */
  unsigned char h[12] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x01, 0x00,
                         0x80, 0x3f, 0x40, 0xc0};
  raw_file(tp("half.safetensors"),
           "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]}}", h, 12);
  CHECK(rt_st_open(&f, tp("half.safetensors")) == 0, "open half");
  float hv[4], bv[2];
  CHECK(rt_st_read(&f, rt_st_find(&f, "h"), RT_F32, hv) == 0, "read F16");
  CHECK(hv[0] == 1 && hv[1] == -2 && hv[2] == 0.5f && hv[3] == 5.9604644775390625e-8f,
        "F16 values %g %g %g %g", hv[0], hv[1], hv[2], hv[3]);
  CHECK(rt_st_read(&f, rt_st_find(&f, "b"), RT_F32, bv) == 0 && bv[0] == 1 && bv[1] == -3,
        "BF16 values %g %g", bv[0], bv[1]);
  rt_st_close(&f);

  /* integer tensors parse but are not float weights */
  raw_file(tp("int.safetensors"), "{\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
           h, 8);
  CHECK(rt_st_open(&f, tp("int.safetensors")) == 0, "open int");
  CHECK(rt_st_read(&f, rt_st_find(&f, "i"), RT_F32, hv) != 0, "I64 refused as weights");
  rt_st_close(&f);

  /* bad files */
  struct { const char *name, *header; size_t data; } bad[] = {
      {"bad json", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],", 4},
      {"not an object", "[1,2]", 0},
      {"trailing", "{} x", 0},
      {"unknown dtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
      {"size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4},
      {"past the end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4},
      {"reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4},
      {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8},
      {"duplicate", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
      {"no shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4},
      {"negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4},
      {"float dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4},
      {"huge dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4},
      {"huge numel", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", 4},
      {"meta not string", "{\"__metadata__\":{\"k\":1}}", 0},
      {"bad escape", "{\"a\\q\":{}}", 0},
      {"lone surrogate", "{\"\\ud800\":{}}", 0},
      {"deep", "{\"a\":{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", 0},
      {"unterminated", "{\"abc", 0},
      {"too many dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4},
  };
  unsigned char zeros[16] = {0};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    raw_file(tp("bad.safetensors"), bad[i].header, zeros, bad[i].data);
    CHECK(!opens(tp("bad.safetensors")), "%s must be rejected", bad[i].name);
  }
  /* header length beyond the file, tiny files, truncations of a good file */
  write_bytes(tp("tiny.safetensors"), "\x10\0\0", 3);
  CHECK(!opens(tp("tiny.safetensors")), "3-byte file");
  CHECK(!opens(tp("none.safetensors")), "missing file");
  raw = slurp(tp("rt.safetensors"), &n);
  for (long cut = 0; cut < n; cut += (cut < 64 ? 1 : 13)) {
    write_bytes(tp("cut.safetensors"), raw, (size_t)cut);
    CHECK(!opens(tp("cut.safetensors")), "truncated at %ld of %ld opens", cut, n);
  }
  /* random corruption never crashes (run under ASan in --enable-sanitize) */
  uint64_t s = 99;
  for (int k = 0; k < 300; k++) {
    unsigned char *c = malloc((size_t)n);
    memcpy(c, raw, (size_t)n);
    for (int j = 0; j < 4; j++) {
      s = s * 6364136223846793005ULL + 1;
      c[(s >> 33) % (uint64_t)n] = (unsigned char)(s >> 20);
    }
    write_bytes(tp("fuzz.safetensors"), c, (size_t)n);
    if (rt_st_open(&f, tp("fuzz.safetensors")) == 0) {
      static double buf[64];
      for (int i = 0; i < f.n; i++)
        if (f.t[i].numel <= 64) rt_st_read(&f, &f.t[i], RT_F64, buf);
      rt_st_close(&f);
    }
    free(c);
  }
  free(raw);

  /* a failed write keeps the old file and leaves no temp file */
  CHECK(rt_st_write(tp("keep.safetensors"), t, 2, NULL, 0) == 0, "write keep");
  long k0;
  unsigned char *k0b = slurp(tp("keep.safetensors"), &k0);
  rt_st_fail_after = 40;
  CHECK(rt_st_write(tp("keep.safetensors"), t + 1, 1, NULL, 0) != 0, "simulated failure");
  rt_st_fail_after = -1;
  long k1;
  unsigned char *k1b = slurp(tp("keep.safetensors"), &k1);
  CHECK(k0 == k1 && !memcmp(k0b, k1b, (size_t)k0), "old file intact");
  CHECK(count_files_with(tmp_root, ".tmp.") == 0, "no temp file left");
  free(k0b);
  free(k1b);
  CHECK(rt_st_write(tp("no/such/dir/x.safetensors"), t, 1, NULL, 0) != 0, "bad directory");

  tmp_cleanup();
  return check_exit("test_rt_safetensors");
}
