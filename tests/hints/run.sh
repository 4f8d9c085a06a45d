#!/bin/sh
# tests/hints/run.sh -- golden messages for the mistakes of a first hour
# that are not recipe diagnostics (those are tests/diag): a misspelt ftc
# command or option, trainer flag or trainer command gets "did you mean"; a plan
# larger than the machine's memory is refused before anything is allocated,
# by the trainer and marked by `ftc plan`; a recipe without an optimizer
# builds with a warning naming the default (the one the trainer then uses),
# one that names its optimizer builds silently; data shorter than one window
# says how many tokens it needs, in ftc (when the file exists) and in the
# trainer. Each case's stdout+stderr must equal tests/hints/NAME.out, with
# the work directory written W and this machine's memory written MEM.
# UPDATE=1 rewrites the goldens. Ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
H=$SRC/tests/hints
W=$BUILD/hints
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
W=$(cd "$W" && pwd -P)
FTC_STDLIB=$SRC/stdlib; export FTC_STDLIB

# golden NAME EXPECTED-EXIT COMMAND...: runs in $W
golden() {
  name=$1 want=$2; shift 2
  (cd "$W" && "$@") > "$W/$name.raw" 2>&1; rc=$?
  sed -e "s|$W|W|g" -e 's/has [0-9.]* [KMGT]*i*B of memory/has MEM of memory/' \
    "$W/$name.raw" > "$W/$name.out"
  [ "${UPDATE:-0}" = 1 ] && cp "$W/$name.out" "$H/$name.out"
  if [ "$rc" != "$want" ]; then
    bad "$name: exit $rc, expected $want"; sed 's/^/  | /' "$W/$name.out" | head -8
  elif ! diff -u "$H/$name.out" "$W/$name.out" > "$W/$name.diff"; then
    bad "$name: output differs from tests/hints/$name.out"; head -20 "$W/$name.diff"
  else
    ok "$name"
  fi
}

cp "$H/small.ft" "$H/huge.ft" "$W/"
awk 'BEGIN { for (i = 0; i < 100; i++) printf "the quick brown fox %d. ", i }' > "$W/data.txt"
"$FTC" build "$W/small.ft" -o "$W/small" > "$W/build.log" 2>&1 &&
  "$FTC" build "$W/huge.ft" -o "$W/huge" >> "$W/build.log" 2>&1
check "build the small and the huge trainer" [ $? = 0 ]

(cd "$W" && ./small --help) > "$W/small.help" 2>&1
golden ftc_command 2 "$FTC" chek small.ft
(cd "$W" && "$FTC" plan small.ft --jsn) > "$W/opt.out" 2>&1
check "ftc plan --jsn: exit 2, did you mean '--json'" sh -c "[ $? = 2 ] && head -n 1 '$W/opt.out' | grep -q \"^ftc plan: unknown option '--jsn' (did you mean '--json'?)\""
(cd "$W" && "$FTC" check --max-error 3 small.ft) > "$W/opt2.out" 2>&1
check "ftc check --max-error: did you mean '--max-errors'" grep -q "did you mean '--max-errors'" "$W/opt2.out"
golden build_default_optimizer 0 "$FTC" build small.ft -o small2
check "the trainer uses the default the warning names" \
  grep -q 'optimizer adamw (lr 0.0003, betas (0.9, 0.999), eps 1e-08, weight decay 0);' "$W/small.help"
sed 's/^  steps 1$/  steps 1\n  optimizer sgd(lr: 0.1)/' "$W/small.ft" > "$W/named.ft"
golden build_named_optimizer 0 "$FTC" build named.ft -o named
golden trainer_flag 2 ./small --step 10
golden trainer_command 2 ./small samples --prompt x
golden trainer_flag_value 2 ./small --steps ten
golden trainer_command_late 2 ./small --threads 1 sample
golden memory_trainer 1 ./huge
golden memory_eval 1 ./huge eval
"$FTC" plan "$W/huge.ft" > "$W/plan.txt" 2>&1
check "ftc plan of the huge recipe still prints the plan (exit 0)" [ $? = 0 ]
check "ftc plan marks that the arena does not fit" grep -q "this machine's memory .*does NOT fit" "$W/plan.txt"
"$FTC" plan "$W/small.ft" --json > "$W/small.json"
check "plan --json names the machine's memory" grep -q '"machine_memory_bytes": [1-9]' "$W/small.json"

# Data shorter than one window: 40 bytes for seq 64 at split 0.9.
head -c 40 "$W/data.txt" > "$W/short.txt"
sed 's/"data.txt"/"short.txt"/' "$W/small.ft" > "$W/short.ft"
golden short_data_plan 1 "$FTC" plan short.ft
golden short_data_trainer 1 ./small --data short.txt

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
