/* tests/unit/test_rt_checksum.c -- checksums in safetensors files and
 * token shards (runtime/crc32c.c, safetensors_crc.c, data.c).
 *
 * What must hold: CRC-32C gives the standard check value, chains, and the
 * hardware and table paths agree at every length and alignment; a file
 * rt_st_write makes carries a checksum for its metadata and every tensor;
 * flipping any single byte of such a file (every position, three bit
 * patterns) is caught by rt_st_open, rt_st_read or rt_st_verify, never
 * accepted; a file without checksums (another tool's) still loads; stray
 * or missing checksum keys are refused; a shard's token checksum catches a
 * changed token that is still inside the vocabulary.
 */
#include "test_rt_util.h"
#include <fcntl.h>
#include "rt_internal.h"

static int quiet_fd = -1, saved_fd = -1;
/* rt_err messages of the thousands of expected failures go to /dev/null */
static void mute(int on) {
  fflush(stderr);
  if (on) {
    if (quiet_fd < 0) quiet_fd = open("/dev/null", O_WRONLY);
    saved_fd = dup(2);
    dup2(quiet_fd, 2);
  } else if (saved_fd >= 0) {
    dup2(saved_fd, 2);
    close(saved_fd);
    saved_fd = -1;
  }
}

static void test_crc(void) {
  CHECK(rt_crc32c(0, "123456789", 9) == 0xE3069283u, "check value %08x",
        rt_crc32c(0, "123456789", 9));
  CHECK(rt_crc32c_soft(0, "123456789", 9) == 0xE3069283u, "table check value");
  CHECK(rt_crc32c(0, "", 0) == 0, "empty");
  unsigned char buf[300];
  uint64_t s = 7;
  for (size_t i = 0; i < sizeof buf; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    buf[i] = (unsigned char)(s >> 56);
  }
  int bad = 0;
  for (size_t off = 0; off < 9; off++)
    for (size_t n = 0; n + off <= sizeof buf; n += 7) {
      uint32_t a = rt_crc32c(0, buf + off, n), b = rt_crc32c_soft(0, buf + off, n);
      uint32_t c = rt_crc32c(rt_crc32c(0, buf + off, n / 3), buf + off + n / 3, n - n / 3);
      if (a != b || a != c) bad++;
    }
  CHECK(bad == 0, "%d hardware/table/chained disagreements", bad);
  /* long buffers take the three-chain path (blocks of 3 x 4096 bytes) */
  size_t big = 1 << 16;
  unsigned char *b = malloc(big);
  for (size_t i = 0; i < big; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    b[i] = (unsigned char)(s >> 56);
  }
  const size_t lens[] = {12287, 12288, 12289, 24576 + 5, 40000, 65536 - 9};
  bad = 0;
  for (size_t off = 0; off < 9; off++)
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++)
      if (rt_crc32c(0x1234, b + off, lens[k]) != rt_crc32c_soft(0x1234, b + off, lens[k])) bad++;
  CHECK(bad == 0, "%d long-buffer disagreements", bad);
  free(b);
}

/* Is the file refused somewhere between open and verifying every tensor? */
static int refused(const char *path) {
  rt_st_file f;
  if (rt_st_open(&f, path) != 0) return 1;
  int bad = rt_st_verify(&f) != 0;
  static float dst[64];
  for (int i = 0; i < f.n && !bad; i++)
    if (f.t[i].numel <= 64 && (f.t[i].dtype == ST_F32 || f.t[i].dtype == ST_F64))
      bad = rt_st_read(&f, &f.t[i], RT_F32, dst) != 0;
  rt_st_close(&f);
  return bad;
}

static void test_file(void) {
  float a[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
  double d[3] = {0.1, -1e300, 3};
  int64_t sa[2] = {2, 3}, sd[1] = {3}, s0[1] = {0};
  rt_st_out t[4] = {{"h.0.w", ST_F32, RT_F32, 2, sa, a},
                    {"d", ST_F64, RT_F64, 1, sd, d},
                    {"d32", ST_F32, RT_F64, 1, sd, d},
                    {"empty", ST_F32, RT_F32, 1, s0, a}};
  const char *meta[] = {"format", "pt", "ftrt.step", "40"};
  CHECK(rt_st_write(tp("c.safetensors"), t, 4, meta, 2) == 0, "write");
  rt_st_file f;
  CHECK(rt_st_open(&f, tp("c.safetensors")) == 0, "open");
  CHECK(f.checksummed, "the file carries checksums");
  for (int i = 0; i < f.n; i++) CHECK(f.t[i].has_crc, "tensor %s has a checksum", f.t[i].name);
  CHECK(rt_st_verify(&f) == 0, "verifies");
  double rd[3];
  float ra[6];
  CHECK(rt_st_read(&f, rt_st_find(&f, "d"), RT_F64, rd) == 0 && !memcmp(rd, d, sizeof d),
        "read d");
  CHECK(rt_st_read(&f, rt_st_find(&f, "d"), RT_F32, ra) == 0, "read d converted");
  rt_st_close(&f);

  /* every single-byte change is refused */
  long n;
  unsigned char *raw = slurp(tp("c.safetensors"), &n);
  const unsigned char pats[3] = {0x01, 0x10, 0x80};
  int missed = 0, tried = 0;
  mute(1);
  for (long i = 0; i < n; i++)
    for (int p = 0; p < 3; p++) {
      raw[i] ^= pats[p];
      write_bytes(tp("flip.safetensors"), raw, (size_t)n);
      raw[i] ^= pats[p];
      tried++;
      if (!refused(tp("flip.safetensors"))) {
        if (missed++ < 5) {
          mute(0);
          printf("FAIL: byte %ld ^ %#x accepted ('%c')\n", i, pats[p],
                 raw[i] >= 32 && raw[i] < 127 ? raw[i] : '?');
          mute(1);
        }
      }
    }
  mute(0);
  CHECK(missed == 0, "%d of %d single-byte changes accepted", missed, tried);
  printf("checksums: %d single-byte corruptions injected, %d detected\n", tried, tried - missed);

  /* a data flip names the tensor at read time (the loader's path) */
  long at = n - 1; /* the last byte of the last non-empty tensor, d32 */
  raw[at] ^= 0x40;
  write_bytes(tp("data.safetensors"), raw, (size_t)n);
  raw[at] ^= 0x40;
  CHECK(rt_st_open(&f, tp("data.safetensors")) == 0, "header still fine");
  mute(1);
  CHECK(rt_st_read(&f, rt_st_find(&f, "d32"), RT_F32, ra) != 0, "read refuses d32");
  CHECK(rt_st_read(&f, rt_st_find(&f, "h.0.w"), RT_F32, ra) == 0, "other tensors read");
  CHECK(rt_st_verify(&f) == 1, "verify counts one bad tensor");
  mute(0);
  rt_st_close(&f);
  free(raw);

  /* written by another tool: no checksums, loads unverified */
  const char *plain = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  unsigned char b[8 + 128] = {0};
  size_t hl = strlen(plain);
  b[0] = (unsigned char)hl;
  memcpy(b + 8, plain, hl);
  write_bytes(tp("plain.safetensors"), b, 8 + hl + 4);
  CHECK(rt_st_open(&f, tp("plain.safetensors")) == 0 && !f.checksummed, "plain file opens");
  CHECK(rt_st_read(&f, rt_st_find(&f, "a"), RT_F32, ra) == 0, "plain file reads");
  rt_st_close(&f);
  /* tensor checksums without the metadata sum, a checksum for no tensor */
  const char *stray[] = {
      "{\"__metadata__\":{\"ftrt.crc32c.a\":\"00000000\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
      "{\"__metadata__\":{\"ftrt.crc32c\":\"00000000\",\"ftrt.crc32c.b\":\"00000000\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
      "{\"__metadata__\":{\"ftrt.crc32c\":\"00000000\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"};
  mute(1);
  for (int i = 0; i < 3; i++) {
    hl = strlen(stray[i]);
    memset(b, 0, sizeof b);
    b[0] = (unsigned char)hl;
    memcpy(b + 8, stray[i], hl);
    write_bytes(tp("stray.safetensors"), b, 8 + hl + 4);
    CHECK(rt_st_open(&f, tp("stray.safetensors")) != 0, "stray checksum keys %d refused", i);
  }
  /* the writer keeps its keys to itself */
  const char *bad_meta[] = {"ftrt.crc32c.x", "1"};
  CHECK(rt_st_write(tp("r.safetensors"), t, 1, bad_meta, 1) != 0, "reserved key refused");
  mute(0);
}

static void test_shard(void) {
  rt_shard_writer *w = rt_shard_open(tp("s.bin"), 2);
  uint32_t tok[500];
  for (int i = 0; i < 500; i++) tok[i] = (uint32_t)(i * 7 % 250);
  CHECK(w && rt_shard_append(w, tok, 500) == 0 && rt_shard_close(w) == 0, "write shard");
  long n;
  unsigned char *raw = slurp(tp("s.bin"), &n);
  const unsigned char *tp0;
  int elem;
  int64_t cnt;
  CHECK(raw && raw[28] == 1, "flags say the checksum is set");
  CHECK(rt_shard_parse("s.bin", raw, n, 250, &tp0, &elem, &cnt) == 0 && cnt == 500, "parses");
  raw[RT_SHARD_HEADER + 10] ^= 1; /* token 5 -> another in-vocabulary token */
  mute(1);
  CHECK(rt_shard_parse("s.bin", raw, n, 250, &tp0, &elem, &cnt) != 0, "changed token refused");
  raw[RT_SHARD_HEADER + 10] ^= 1;
  raw[29] = 2; /* unknown flag */
  CHECK(rt_shard_parse("s.bin", raw, n, 250, &tp0, &elem, &cnt) != 0, "unknown flag refused");
  mute(0);
  /* an older shard: no flag, no checksum, still read */
  memset(raw + 24, 0, 8);
  raw[RT_SHARD_HEADER + 10] ^= 1;
  CHECK(rt_shard_parse("s.bin", raw, n, 250, &tp0, &elem, &cnt) == 0, "old shard parses");
  free(raw);
}

int main(void) {
  tmp_init("test_rt_crc");
  test_crc();
  test_file();
  test_shard();
  tmp_cleanup();
  return check_exit("test_rt_checksum");
}
