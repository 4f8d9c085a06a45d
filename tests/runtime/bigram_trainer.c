/* tests/runtime/bigram_trainer.c -- the bigram model of bigram.h as a
 * standalone trainer binary (what ftc build would produce), for the CLI
 * tests in tests/runtime/run.sh. Usage: bigram_trainer DATA OUT [args...]
 * (BIGRAM_F64=1 in the environment: the float64 variant; BIGRAM_SHARDS=1:
 * DATA is a token shard). */
#include <stdlib.h>

#include "bigram.h"

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *f64 = getenv("BIGRAM_F64");
  bigram_setup(f64 && *f64 == '1' ? RT_F64 : RT_F32, argv[1], argv[2]);
  const char *sh = getenv("BIGRAM_SHARDS");
  if (sh && *sh == '1') bg_model.data.kind = RT_DATA_SHARDS;
  argv[2] = argv[0];
  return rt_main(&bg_model, argc - 2, argv + 2);
}
