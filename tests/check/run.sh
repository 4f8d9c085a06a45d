#!/bin/sh
# tests/check/run.sh -- `ftc check` runs the whole pipeline `ftc plan` does:
# for every recipe in the tree, check and plan agree on the exit code and
# print the same errors (check adds only warnings about data or weights
# files that are not there); heads that do not divide the width and data
# shorter than a window are found by check; a library module gets the name
# checks; legal-but-wrong settings give the golden warnings (NAME.err) with
# exit 0, from check, plan and the trainer. UPDATE=1 rewrites the goldens.
# One line per check; ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/check
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
cd "$SRC" || exit 1
FTC_STDLIB="$SRC/stdlib"; export FTC_STDLIB
# drops the warnings about files that do not exist (3 lines each)
no_file_warnings() {
  awk '/: warning: (data|weights) file .* does not exist yet/ { skip = 3 } skip > 0 { skip--; next } { print }' "$1"
}

# -- 1. check = plan, recipe by recipe ---------------------------------------
same=0; differ=""
n=0
for f in $(find examples tests bench -name '*.ft' ! -path 'tests/fuzz/*' ! -path 'tests/diag/lib/*' | sort); do
  n=$((n + 1))
  "$FTC" check "$f" > /dev/null 2> "$W/c.err"; crc=$?
  "$FTC" plan "$f" > /dev/null 2> "$W/p.err"; prc=$?
  no_file_warnings "$W/c.err" > "$W/c2.err"
  if [ $crc = $prc ] && cmp -s "$W/c2.err" "$W/p.err"; then same=$((same + 1))
  else differ="$differ $f(check $crc, plan $prc)"; fi
done
check "check and plan agree (exit code and errors) on $same of $n recipes${differ:+; differ:$differ}" \
  test "$same" = "$n"

"$FTC" check tests/elab/err_heads.ft > /dev/null 2> "$W/heads.err"; rc=$?
expect "heads that do not divide the width: check exits 1 with elaboration's error" \
  '[ $rc = 1 ] && grep -q "split_heads: dim 8 of \[2,8,8\] is not divisible by heads 3" "$W/heads.err"'
"$FTC" check tests/check/short_data.ft > /dev/null 2> "$W/short.err"; rc=$?
expect "data shorter than one window: check exits 1 at the data path" \
  '[ $rc = 1 ] && grep -q "short_data.ft:8:19: error: short.txt: 10 tokens, too few" "$W/short.err"'
"$FTC" check stdlib/gpt2.ft > /dev/null 2> "$W/lib.err"; rc=$?
expect "a library module (stdlib/gpt2.ft): names checked, exit 0, silent" '[ $rc = 0 ] && [ ! -s "$W/lib.err" ]'
"$FTC" check tests/diag/unknown_name.ft > /dev/null 2>&1
check "name errors still stop check first (exit 1)" test $? = 1

# -- 2. warnings: goldens, exit 0 ----------------------------------------------
for f in tests/check/warn_*.ft; do
  g=${f%.ft}.err
  "$FTC" check "$f" > /dev/null 2> "$W/w.err"; rc=$?
  sed "s|$SRC/||g" "$W/w.err" > "$W/w2.err"
  [ "${UPDATE:-0}" = 1 ] && cp "$W/w2.err" "$g"
  expect "$f: exit 0 with the golden warnings" '[ $rc = 0 ] && diff -u "$g" "$W/w2.err"'
done
"$FTC" plan tests/check/warn_settings.ft > /dev/null 2> "$W/wp.err"; rc=$?
expect "plan prints the settings warnings too (5) and succeeds" \
  '[ $rc = 0 ] && [ "$(grep -c ": warning: " "$W/wp.err")" = 5 ]'
"$FTC" plan tests/check/warn_noval.ft > /dev/null 2> "$W/wn.err"
check "plan does not warn about a missing weights file (only check does)" \
  sh -c "! grep -q 'does not exist' '$W/wn.err'"
# with the files present, check is silent
mkdir -p "$W/ok" && cp tests/check/warn_noval.ft tests/check/warn.txt "$W/ok/" &&
  sed -i 's/split: 1.0/split: 0.9/' "$W/ok/warn_noval.ft" && : > "$W/ok/no-such-weights.safetensors"
"$FTC" check "$W/ok/warn_noval.ft" > /dev/null 2> "$W/ok.err"; rc=$?
expect "files present, split 0.9, sgd lr 5 (not adaptive): no warning" '[ $rc = 0 ] && [ ! -s "$W/ok.err" ]'

# -- 3. the trainer warns about what its flags changed -----------------------
. "$SRC/tests/integrity/tiny.sh"
tiny_build "$W"
"$W/tiny" --out "$W/run" --steps 2 --lr 2 --quiet > /dev/null 2> "$W/t.err"; rc=$?
expect "trainer --steps 2 --lr 2: runs (exit 0) and warns about warmup, eval and lr" \
  '[ $rc = 0 ] && grep -q "warmup 2 is not shorter than the run (--steps 2)" "$W/t.err" &&
   grep -q "eval every 4 is longer than the run" "$W/t.err" && grep -q "learning rate 2 is above 1 for adamw" "$W/t.err"'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
