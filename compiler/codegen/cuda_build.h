/* compiler/codegen/cuda_build.h -- what `ftc build` needs from the CUDA
 * generator (cg_cuda*.c) and from NVRTC (nvrtc.c).
 *
 * One idea: generation and compilation are separate steps with text in
 * between: cg_cuda() gives the kernel module, the launch structs, the
 * emulator's trampolines and the host code; nvrtc_compile() turns the
 * module into one image per architecture (through a cache keyed by the
 * module's hash, the architecture and NVRTC's version); cg_cuda_device_c()
 * then writes device.c with those images embedded. Ownership: a CuOut owns
 * its strings (cu_out_free).
 */
#ifndef FTC_COMPILER_CODEGEN_CUDA_BUILD_H
#define FTC_COMPILER_CODEGEN_CUDA_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "../ir.h"

typedef struct CuOut {
  char *module;  /* kernels.cu */
  char *args_h;  /* kernel_args.h */
  char *emu;     /* emu.c */
  char *host;    /* device.c up to the images */
  char *program; /* unused: kept for symmetry of cu_out_free */
  int nkernels, ngemms, nsites, nfwd, ntensors;
  int k_epi_bias, k_epi_bgrad; /* the epilogues-apart kernels, or -1 */
  int64_t arena_bytes, scratch_off, scratch_bytes, ws_off, ws_bytes, tensors_off, scalars_off,
      sumsq_off, bytes;
  char why[1024]; /* when cg_cuda returned 1 or -1 */
} CuOut;

/* 0 = generated; 1 = this graph has no CUDA form yet (why[] says which op:
 * build a CPU-only trainer); -1 = error. */
int cg_cuda(const IrGraph *g, const Recipe *r, const Plan *p, CuOut *out);
void cu_out_free(CuOut *o);

/* One compiled image: arch 90 = sm_90 cubin, -90 = compute_90 PTX. */
typedef struct CuImage {
  int arch;
  char file[64]; /* in the build directory: "sm_90.cubin", "compute_90.ptx" */
  int64_t size;  /* bytes, without the NUL device.c appends */
} CuImage;

int cg_cuda_device_c(const CuOut *o, const CuImage *img, int nimg, FILE *f);

/* ---- the build cache (cache.c) ---------------------------------------------------- */
typedef struct Sha256 {
  uint32_t h[8];
  uint64_t len;
  unsigned char buf[64];
  size_t n;
} Sha256;
void sha256_init(Sha256 *s);
void sha256_add(Sha256 *s, const void *data, size_t n);
void sha256_hex(Sha256 *s, char out[65]); /* the digest as 64 hex digits */
/* The cache directory for `kind` ("kernels", "objects"), created:
 * $FTC_CACHE_DIR/kind, else $XDG_CACHE_HOME/ftc/kind, else
 * ~/.cache/ftc/kind; "" when FTC_CACHE_DIR=off or it cannot be created. */
void cache_dir(const char *kind, char *out, size_t n);
char *cache_read(const char *path, size_t *n);                 /* owned, or NULL */
int cache_write(const char *path, const void *data, size_t n); /* atomic; 0 ok */

/* "sm_80,sm_90" -> architectures (80, 90), sorted, unique; "none" -> 0
 * archs (no device code). Returns the count, or -1 with a message. */
int nvrtc_parse_archs(const char *s, int *arch, int max);
/* Compiles `module` for each arch (a cubin each) plus PTX of the newest,
 * into files in dir; fills img (at most max). Uses the cache's "kernels"
 * (cache_dir). Returns the image
 * count, or -1 with the compiler's log printed. stats (or NULL) gets the
 * seconds spent and cache hits. */
typedef struct NvrtcStats {
  double seconds;
  int compiled, cached;
  char version[32];
} NvrtcStats;
int nvrtc_compile(const char *module, const char *name, const int *arch, int narch, const char *dir,
                  CuImage *img, int max, NvrtcStats *stats);

#endif
