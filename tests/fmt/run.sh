#!/bin/sh
# tests/fmt/run.sh -- the formatter's contract on every stdlib and example
# file (and on tests/fmt/*.ft, whose canonical form is tests/fmt/*.out):
#   1. fmt output parses to the same tree as the input (ftc ast --no-spans),
#   2. fmt is idempotent: fmt(fmt(x)) == fmt(x),
#   3. the shipped files are already canonical (ftc fmt --check).
# Env: FTC (the ftc binary), SRC (repo root). UPDATE=1 rewrites *.out.
: "${FTC:?set FTC to the ftc binary}" "${SRC:?set SRC to the repo root}"
cd "$SRC" || exit 3
FTC_STDLIB="$SRC/stdlib"; export FTC_STDLIB
pass=0; fail=0
dir=$(mktemp -d) || exit 3
trap 'rm -rf "$dir"' EXIT
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
for f in stdlib/*.ft examples/*.ft tests/fmt/*.ft; do
  "$FTC" fmt "$f" > "$dir/once.ft" || { bad "$f: ftc fmt failed"; continue; }
  "$FTC" fmt "$dir/once.ft" > "$dir/twice.ft" || { bad "$f: fmt of the output failed"; continue; }
  if cmp -s "$dir/once.ft" "$dir/twice.ft"; then ok; else
    bad "$f: not idempotent"; diff -u "$dir/once.ft" "$dir/twice.ft" | head -20; fi
  "$FTC" ast --no-spans "$f" > "$dir/a1" && "$FTC" ast --no-spans "$dir/once.ft" > "$dir/a2"
  if cmp -s "$dir/a1" "$dir/a2"; then ok; else
    bad "$f: formatting changed the tree"; diff -u "$dir/a1" "$dir/a2" | head -20; fi
  case $f in
    tests/fmt/*)
      [ "${UPDATE:-0}" = 1 ] && cp "$dir/once.ft" "${f%.ft}.out"
      if cmp -s "$dir/once.ft" "${f%.ft}.out"; then ok; else
        bad "$f: output differs from ${f%.ft}.out"; diff -u "${f%.ft}.out" "$dir/once.ft" | head -20; fi;;
    *)
      if out=$("$FTC" fmt --check "$f") && [ -z "$out" ]; then ok; else
        bad "$f: not canonical (ftc fmt -w $f)"; fi;;
  esac
done
# --check names a file that would change and exits 1
printf 'x   =  1\n' > "$dir/ugly.ft"
out=$("$FTC" fmt --check "$dir/ugly.ft"); rc=$?
if [ $rc = 1 ] && [ "$out" = "$dir/ugly.ft" ]; then ok; else bad "fmt --check on a non-canonical file: rc=$rc out=$out"; fi
# -w rewrites in place, and the result is canonical
"$FTC" fmt -w "$dir/ugly.ft" && [ "$(cat "$dir/ugly.ft")" = "x = 1" ] && ok || bad "fmt -w did not rewrite"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
