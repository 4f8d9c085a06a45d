#!/bin/sh
# tests/fuzz/run.sh SECONDS -- builds the fuzz targets with clang (libFuzzer
# + ASan + UBSan) and runs each for half of SECONDS (default 60) on a copy of
# its seed corpus: the parser (tests/fuzz/corpus) and the tokenizer.json
# loader (tests/fuzz/corpus_tokenizer). Crash inputs land in $BUILD/fuzz/.
# Env: SRC (repo root, default .), BUILD (build dir, default $SRC/build).
# Exit: 0 no finding, 1 a finding (crash, leak, timeout, property), 3 setup.
secs=${1:-60}
SRC=${SRC:-.}; SRC=$(cd "$SRC" && pwd) || exit 3
BUILD=${BUILD:-$SRC/build}
out=$BUILD/fuzz; mkdir -p "$out/gen" "$out/work" || exit 3
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)"; exit 3; }
# generated scanner/parser and a config.h for a self-contained build
bison -d -o "$out/gen/parser.c" "$SRC/lang/parser.y" || exit 3
flex -o "$out/gen/lexer.c" --header-file="$out/gen/lexer.h" "$SRC/lang/lexer.l" || exit 3
if [ -f "$BUILD/config.h" ]; then cp "$BUILD/config.h" "$out/gen/config.h"
else printf '#define FTC_SRCDIR "%s"\n#define FTC_VERSION "fuzz"\n' "$SRC" > "$out/gen/config.h"; fi
"$CLANG" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$out/gen" -I"$SRC/lang" -Wno-unused-function \
  "$SRC/tests/fuzz/fuzz_parse.c" "$SRC"/lang/*.c "$out/gen/parser.c" "$out/gen/lexer.c" \
  -o "$out/fuzz_parse" -lm || { echo "fuzz: build failed"; exit 3; }
R=$SRC/runtime
"$CLANG" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -D_POSIX_C_SOURCE=200809L -I"$R" "$SRC/tests/fuzz/fuzz_tokenizer.c" "$R/json.c" "$R/unicode.c" \
  "$R/regex.c" "$R/tok_load.c" "$R/tok_encode.c" "$R/tok_decode.c" "$R/util.c" \
  -o "$out/fuzz_tokenizer" -lm -lpthread || { echo "fuzz: build failed (tokenizer)"; exit 3; }
cp "$SRC"/tests/fuzz/corpus/* "$out/work/" 2>/dev/null
mkdir -p "$out/work_tok" && cp "$SRC"/tests/fuzz/corpus_tokenizer/* "$out/work_tok/" 2>/dev/null
cd "$out" || exit 3
half=$(( (secs + 1) / 2 ))
pass=0; fail=0
run() { # target corpus log [flags]
  t=$1; c=$2; log=$3; shift 3
  ./$t -max_total_time="$half" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/" \
    -print_final_stats=1 "$@" $c > "$out/$log" 2>&1
  rc=$?
  tail -n 6 "$out/$log"
  if [ $rc = 0 ]; then echo "fuzz: $t: no findings in ${half}s"; pass=$((pass + 1))
  else echo "fuzz: $t: FINDING (exit $rc); see $out/$log and $out/crash-* / leak-* / timeout-*"
    fail=$((fail + 1)); fi
}
run fuzz_parse work fuzz.log -max_len=8192 -dict="$SRC/tests/fuzz/ft.dict"
run fuzz_tokenizer work_tok fuzz_tokenizer.log -max_len=4096
echo "$pass passed, $fail failed"
[ $fail = 0 ]
