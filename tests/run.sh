#!/bin/sh
# tests/run.sh -- the test runner behind `make check`.
# Runs every unit-test binary in $BUILD/tests and every tests/*/run.sh suite
# script. A unit binary counts as one test (exit 0 pass, 77 skip, else fail);
# a suite script that prints "N passed, N failed" lines has them added up
# (else its exit code counts as one test). Ends with the summary line CI reads.
: "${BUILD:?}" "${SRC:?}" "${FTC:?}"
export BUILD SRC FTC
# Trainers are built CPU-only unless a suite asks for device code (the CUDA
# suite does): NVRTC and the emulator's compile would only slow the others.
export FTC_ARCH="${FTC_ARCH:-none}"
pass=0; fail=0; skip=0; failed=""
log=$BUILD/test-logs; rm -rf "$log"; mkdir -p "$log"

run_one() { # name, command...
  name=$1; shift
  out=$log/$(echo "$name" | tr '/' '_').log
  start=$(date +%s)
  "$@" > "$out" 2>&1; rc=$?
  secs=$(( $(date +%s) - start ))
  counts=$(grep -E '^([A-Za-z0-9_-]+: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
  if [ -n "$counts" ]; then
    p=$(echo "$counts" | sed -E 's/^([A-Za-z0-9_-]+: )?([0-9]+) passed.*/\2/')
    f=$(echo "$counts" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    s=$(echo "$counts" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    [ $rc != 0 ] && [ "$f" = 0 ] && f=1
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    st="$p passed, $f failed"
  elif [ $rc = 0 ]; then pass=$((pass + 1)); st=ok
  elif [ $rc = 77 ]; then skip=$((skip + 1)); st=skipped
  else fail=$((fail + 1)); st="FAILED (exit $rc)"; fi
  case $st in *FAILED*|*[1-9]" failed") failed="$failed $name"; echo "---- $name: $st (${secs}s)"; sed 's/^/  | /' "$out" | tail -n 40;;
    *) echo "  $name: $st (${secs}s)";; esac
}

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  case $t in *.d|*.o) continue;; esac
  run_one "unit/$(basename "$t")" "$t"
done
for s in "$SRC"/tests/*/run.sh; do
  [ -f "$s" ] || continue
  d=$(basename "$(dirname "$s")")
  [ "$d" = fuzz ] && continue
  run_one "$d" sh "$s"
done
if [ "${FUZZ:-no}" = yes ] && [ -f "$SRC/tests/fuzz/run.sh" ]; then
  run_one fuzz sh "$SRC/tests/fuzz/run.sh" "${FUZZ_SECONDS:-30}"
fi
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
