#!/bin/sh
# tests/ops/run.sh -- float64 finite-difference gradient checks, one recipe
# per op (plus a whole 2-layer GPT-2 and a tiny LLaMA): each tests/ops/*.ft
# is built with `ftc build --dtype f64` and run as `trainer gradcheck`,
# which compares every analytic gradient with central differences of the
# loss and exits non-zero over tolerance. Prints "N passed, N failed".
: "${FTC:?}" "${SRC:?}"
T=$(mktemp -d /tmp/ftc-ops.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
for f in "$SRC"/tests/ops/*.ft; do
  name=$(basename "$f" .ft)
  if ! "$FTC" build "$f" --dtype f64 -o "$T/$name" > "$T/$name.log" 2>&1; then
    echo "FAIL: $name: ftc build"; sed 's/^/  | /' "$T/$name.log"; fail=$((fail + 1)); continue
  fi
  if "$T/$name" gradcheck --threads 1 --samples 16 > "$T/$name.out" 2>&1; then
    pass=$((pass + 1)); echo "ok: $name"
  else
    echo "FAIL: $name: gradcheck"; sed 's/^/  | /' "$T/$name.out"; fail=$((fail + 1))
  fi
  rm -f "$T/$name"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
