#!/bin/sh
# tests/accumulate/run.sh -- gradient accumulation against the large batch.
# The tiny GPT-2 of tests/passes at batch 8 (n*B) is the reference; batch 2
# with 4 micro-batches must give the same losses for 20 AdamW steps (1e-5
# relative; clipped, and unclipped), however n is given: the train setting
# `accumulate 4`, the pass `accumulate(steps: 4)`, or `--accumulate 4` at
# run time on a recipe without either. It plans the activations of batch 2
# (the measured arena equals the plan), resumes bitwise (with the
# checkpoint's n unless --accumulate says otherwise, which it warns
# about), and the mistakes are refused at the recipe's span.
# One line per check; ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/accumulate
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
losses() { grep -o '"loss": [^,}]*' "$1" | sed 's/"loss": //'; }
jnum() { sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p" "$1"; }
# every line of two loss columns within a relative tolerance, 20 of them
same_losses() { # a.jsonl b.jsonl tol
  losses "$1" > "$W/a.l"; losses "$2" > "$W/b.l"
  [ "$(wc -l < "$W/a.l")" = 20 ] && [ "$(wc -l < "$W/b.l")" = 20 ] &&
    paste "$W/a.l" "$W/b.l" | awk -v t="$3" '{ d = $1 - $2; if (d < 0) d = -d
      m = $2 < 0 ? -$2 : $2; if (!(d <= t * m)) bad = 1 } END { exit bad }'
}
worst() { paste "$W/a.l" "$W/b.l" | awk '{ d = $1 - $2; if (d < 0) d = -d; r = d / $2
  if (r > w) w = r } END { printf "%.2g", w }'; }
awk 'BEGIN { srand(5); for (i = 0; i < 20000; i++) printf "%c", 97 + int(rand() * rand() * 26) }' \
  > "$W/pattern.txt"
G=$SRC/tests/passes/fa_gpt2.ft
sed 's/batch: 4,/batch: 8,/' "$G" > "$W/big.ft"
sed 's/batch: 4,/batch: 2,/' "$G" > "$W/b2.ft"
sed 's/^  steps 20$/  steps 20\n  accumulate 4/' "$W/b2.ft" > "$W/acc.ft"
{ cat "$W/b2.ft"; printf 'passes {\n  accumulate(steps: 4)\n}\n'; } > "$W/accp.ft"
for v in big acc; do sed '/^  clip /d' "$W/$v.ft" > "$W/${v}_noclip.ft"; done
for r in big b2 acc accp big_noclip acc_noclip; do
  "$FTC" build "$W/$r.ft" -o "$W/$r" > "$W/$r.build" 2>&1 ||
    { bad "ftc build $r.ft:"; sed 's/^/  | /' "$W/$r.build" | head -8; }
done
check "the train setting's trainer says it takes 4 micro-batches" \
  sh -c '"$1" --help | grep -q -- "rows at the memory of one batch (4)"' - "$W/acc"

"$W/big" --out "$W/big.run" --quiet > "$W/big.log" 2>&1
"$W/acc" --out "$W/acc.run" > "$W/acc.log" 2>&1
"$W/accp" --out "$W/accp.run" --quiet > "$W/accp.log" 2>&1
"$W/b2" --out "$W/flag.run" --accumulate 4 --quiet > "$W/flag.log" 2>&1
"$W/b2" --out "$W/b2.run" --quiet > "$W/b2.log" 2>&1
"$W/big_noclip" --out "$W/bign.run" --quiet > "$W/bign.log" 2>&1
"$W/acc_noclip" --out "$W/accn.run" --quiet > "$W/accn.log" 2>&1
for v in acc accp flag; do
  ok=1; same_losses "$W/$v.run/metrics.jsonl" "$W/big.run/metrics.jsonl" 1e-5 || ok=0
  check "$v: batch 2 x 4 micro-batches = batch 8 over 20 steps (max rel $(worst), 1e-5)" [ $ok = 1 ]
done
ok=1; same_losses "$W/accn.run/metrics.jsonl" "$W/bign.run/metrics.jsonl" 1e-5 || ok=0
check "unclipped: batch 2 x 4 = batch 8 over 20 steps (max rel $(worst), 1e-5)" [ $ok = 1 ]
ok=1; same_losses "$W/b2.run/metrics.jsonl" "$W/big.run/metrics.jsonl" 1e-3 || ok=0
check "... and batch 2 alone is not (max rel $(worst))" [ $ok = 0 ]
check "the pass and --accumulate give the train setting's losses exactly" \
  eval 'losses "$W/acc.run/metrics.jsonl" > "$W/a.l" && losses "$W/accp.run/metrics.jsonl" > "$W/p.l" &&
        losses "$W/flag.run/metrics.jsonl" > "$W/f.l" && cmp -s "$W/a.l" "$W/p.l" && cmp -s "$W/a.l" "$W/f.l"'
check "the trainer says what it does" grep -q "batch 2 x 4 micro-batches x seq 80" "$W/acc.log"

# -- memory: one micro-batch's activations -------------------------------------------
"$FTC" plan "$W/big.ft" --json > "$W/big.plan"
"$FTC" plan "$W/acc.ft" --json --verify > "$W/acc.plan"
"$FTC" plan "$W/accp.ft" --json > "$W/accp.plan"
a8=$(jnum "$W/big.plan" activations); a2=$(jnum "$W/acc.plan" activations)
p8=$(jnum "$W/big.plan" peak_bytes); p2=$(jnum "$W/acc.plan" peak_bytes)
check "activations kept for backward: batch 8 $a8 B, 2 x 4 micro-batches $a2 B (at least 3.5x less)" \
  eval '[ -n "$a2" ] && [ "$a2" -gt 0 ] && [ $((a8 * 10 / a2)) -ge 35 ]'
meas=$(sed -n 's/^memory: arena planned .* measured [^(]*(\([0-9]*\) B).*/\1/p' "$W/acc.log")
check "arena $p2 B (batch 8: $p8 B) = measured $meas B (to 64 B)" \
  eval '[ -n "$meas" ] && [ $((p2 - meas)) -ge 0 ] && [ $((p2 - meas)) -lt 64 ] && [ "$p2" -lt "$p8" ]'
check "ftc plan says what accumulate does" \
  grep -q '"passes": \["accumulate: 4 micro-batches per update' "$W/accp.plan"

# -- resume ------------------------------------------------------------------------------
"$W/acc" --out "$W/res" --stop-at 7 --quiet > /dev/null 2>&1 &&
  "$W/acc" --out "$W/res" --resume --quiet > "$W/res.log" 2>&1
check "stopped at step 7 and resumed: the same 20 losses, bit for bit" \
  eval 'losses "$W/res/metrics.jsonl" > "$W/r.l" && losses "$W/acc.run/metrics.jsonl" > "$W/a.l" &&
        [ "$(wc -l < "$W/r.l")" = 20 ] && cmp -s "$W/r.l" "$W/a.l"'
"$W/b2" --out "$W/res3" --accumulate 4 --stop-at 7 --quiet > /dev/null 2>&1 &&
  "$W/b2" --out "$W/res3" --resume > "$W/res3.log" 2>&1
check "stopped with --accumulate 4, resumed without: the checkpoint's 4 micro-batches (it says so)" \
  grep -q "its steps took 8 rows (the global batch); 1 rank x batch 2 take them in 4 micro-batches" "$W/res3.log"
check "... and the same 20 losses, bit for bit" \
  eval 'losses "$W/res3/metrics.jsonl" > "$W/r.l" && [ "$(wc -l < "$W/r.l")" = 20 ] && cmp -s "$W/r.l" "$W/a.l"'
"$W/acc" --out "$W/res2" --stop-at 3 --quiet > /dev/null 2>&1
"$W/acc" --out "$W/res2" --resume --accumulate 2 --quiet > /dev/null 2> "$W/res2.err"
check "resumed with another --accumulate: warned that the global batch differs" \
  grep -q "the checkpoint's steps took 4 micro-batches of 2 rows, this run takes 2" "$W/res2.err"

# -- mistakes ------------------------------------------------------------------------------
{ cat "$W/acc.ft"; printf 'passes {\n  accumulate(steps: 2)\n}\n'; } > "$W/two.ft"
"$FTC" build "$W/two.ft" -o "$W/x" > /dev/null 2> "$W/two.err"; rc=$?
check "accumulate(steps: 2) against the train block's accumulate 4 is refused at both (exit $rc)" \
  eval '[ $rc = 1 ] && grep -q "two.ft:[0-9]*:[0-9]*: error: accumulate: steps: 2 disagrees with the train block.s .accumulate 4." "$W/two.err" &&
        grep -q "two.ft:[0-9]*:[0-9]*: note: set here" "$W/two.err"'
{ cat "$W/b2.ft"; printf 'passes {\n  accumulate(steps: 0)\n}\n'; } > "$W/zero.ft"
"$FTC" build "$W/zero.ft" -o "$W/x" > /dev/null 2> "$W/zero.err"; rc=$?
check "accumulate(steps: 0) is refused at the argument (exit $rc)" \
  eval '[ $rc = 1 ] && grep -q "zero.ft:[0-9]*:[0-9]*: error: accumulate: steps must be between 1 and" "$W/zero.err"'
sed 's/^  accumulate 4$/  accumulate 0/' "$W/acc.ft" > "$W/zset.ft"
"$FTC" build "$W/zset.ft" -o "$W/x" > /dev/null 2> "$W/zset.err"; rc=$?
check "the train setting accumulate 0 is refused (exit $rc)" \
  eval '[ $rc = 1 ] && grep -q "zset.ft:[0-9]*:[0-9]*: error: " "$W/zset.err"'
"$W/b2" --accumulate 0 --steps 1 --out "$W/x.run" > /dev/null 2> "$W/flag0.err"; rc=$?
check "--accumulate 0 is a usage error (exit $rc)" eval '[ $rc = 2 ] && grep -q -- "--accumulate" "$W/flag0.err"'
"$FTC" passes > "$W/passes.txt"
check "ftc passes: accumulate implemented" grep -q '^accumulate  \[after autodiff, implemented\]' "$W/passes.txt"

echo "accumulate: $pass passed, $fail failed"
[ "$fail" = 0 ] && rm -rf "$W"
[ "$fail" = 0 ]
