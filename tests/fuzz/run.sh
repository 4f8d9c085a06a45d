#!/bin/sh
# tests/fuzz/run.sh SECONDS -- builds the parser fuzz target with clang
# (libFuzzer + ASan + UBSan) and runs it for SECONDS (default 60) on a copy
# of the seed corpus tests/fuzz/corpus. Crash inputs land in $BUILD/fuzz/.
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
cp "$SRC"/tests/fuzz/corpus/* "$out/work/" 2>/dev/null
cd "$out" || exit 3
./fuzz_parse -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -dict="$SRC/tests/fuzz/ft.dict" -artifact_prefix="$out/" -print_final_stats=1 \
  work > "$out/fuzz.log" 2>&1
rc=$?
tail -n 15 "$out/fuzz.log"
if [ $rc = 0 ]; then echo "fuzz: no findings in ${secs}s"; echo "1 passed, 0 failed"; exit 0; fi
echo "fuzz: FINDING (exit $rc); see $out/fuzz.log and $out/crash-* / leak-* / timeout-*"
echo "0 passed, 1 failed"
exit 1
