#!/bin/sh
# tests/diag/run.sh -- golden diagnostics: `ftc check tests/diag/X.ft` must
# print exactly tests/diag/X.err on stderr and exit 1 (every file here has
# mistakes; helpers used by them live in tests/diag/lib/).
# Env: FTC (the ftc binary), SRC (repo root). UPDATE=1 rewrites the goldens.
: "${FTC:?set FTC to the ftc binary}" "${SRC:?set SRC to the repo root}"
cd "$SRC" || exit 3
FTC_STDLIB="$SRC/stdlib"; export FTC_STDLIB
pass=0; fail=0
tmp=$(mktemp) || exit 3
trap 'rm -f "$tmp"' EXIT
for f in tests/diag/*.ft; do
  golden=${f%.ft}.err
  "$FTC" check "$f" 2> "$tmp" > /dev/null; rc=$?
  if [ "${UPDATE:-0}" = 1 ]; then cp "$tmp" "$golden"; fi
  if [ $rc != 1 ]; then
    echo "FAIL $f: exit $rc, expected 1"; fail=$((fail + 1))
  elif ! [ -f "$golden" ]; then
    echo "FAIL $f: no golden $golden (run with UPDATE=1)"; fail=$((fail + 1))
  elif ! diff -u "$golden" "$tmp" > /dev/null; then
    echo "FAIL $f: stderr differs from $golden:"; diff -u "$golden" "$tmp" | head -40
    fail=$((fail + 1))
  else
    pass=$((pass + 1))
  fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
