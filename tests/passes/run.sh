#!/bin/sh
# tests/passes/run.sh -- equivalence tests of graph-rewriting passes on real
# models: the same recipe built without and with the pass must train to the
# same losses, and the pass must do what it claims to the plan.
#
# flash_attention: a tiny GPT-2 (fa_gpt2.ft, default block 64 over seq 80)
# and a tiny LLaMA with grouped-query heads and RoPE (fa_llama.ft, block 16
# over seq 56). For each: the fused trainer has one flash_attention and one
# flash_attention_bwd call per layer and no softmax; step-1 loss equal to
# 1e-6 relative and step-20 loss to 1e-5 relative (f32, 20 AdamW steps;
# measured: equal in all 9 printed digits); float64 builds give the same
# losses at steps 1 and 3 (after two updates: the backward counts) to 1e-12; `ftc plan` peak_bytes smaller with the pass and
# equal to the fused trainer's measured arena; 1 and 2 threads give
# identical losses; sampling runs; block 128 in float64 trains with a
# 256 KiB thread stack. Then the pass's argument checks and its
# warning on a model without attention. One line per check; ends
# "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/passes
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
loss_at() { sed -n "s/^{\"step\": $2, \"loss\": \([^,]*\),.*/\1/p" "$1"; }
losses() { grep -o '"loss": [^,}]*' "$1"; }

# Some text with an uneven byte distribution (only its bytes matter).
awk 'BEGIN { srand(5); for (i = 0; i < 20000; i++) printf "%c", 97 + int(rand() * rand() * 26) }' \
  > "$W/pattern.txt"

# -- flash_attention on two model families -------------------------------------
fa_model() { # name (fa_gpt2 | fa_llama), the passes-block line, seq
  m=$1; P=$W/$m
  cp "$SRC/tests/passes/$m.ft" "$W/" || { bad "$m: recipe"; return; }
  { cat "$W/$m.ft"; printf 'passes {\n  %s\n}\n' "$2"; } > "$W/${m}_fa.ft"
  for v in "" _fa; do
    if ! "$FTC" build "$W/$m$v.ft" -o "$P$v" --emit-c "$P$v.c" > "$P$v.build" 2>&1; then
      bad "$m$v: ftc build:"; sed 's/^/  | /' "$P$v.build" | head -10; return
    fi
  done
  ok "$m: builds without and with $2"
  nf=$(grep -c 'rt_flash_attention_f32(' "$P""_fa.c"); nb=$(grep -c 'rt_flash_attention_bwd_f32(' "$P""_fa.c")
  ns=$(grep -c 'rt_softmax\|rt_causal_mask\|rt_expand' "$P""_fa.c"); n0=$(grep -c 'rt_softmax_f32(' "$P.c")
  check "$m: fused step has $nf flash_attention + $nb backward calls (2 layers), $ns softmax/mask/expand (unfused: $n0 softmax)" \
    [ "$nf" = 2 ] && [ "$nb" = 2 ] && [ "$ns" = 0 ] && [ "$n0" = 2 ]
  tu=$(grep -c "^  /\* %[0-9]* [a-z_]* \[[0-9,]*,$3,$3\]" "$P.c"); tf=$(grep -c "^  /\* %[0-9]* [a-z_]* \[[0-9,]*,$3,$3\]" "$P""_fa.c")
  check "$m: no [$3, $3] tensor in the fused step ($tf; unfused: $tu)" [ "$tf" = 0 ] && [ "$tu" -gt 0 ]

  "$P" --out "$W/$m.run" --log-every 1 > "$P.log" 2>&1
  "$P""_fa" --out "$W/${m}_fa.run" --log-every 1 > "$P""_fa.log" 2>&1
  check "$m: both trainers run 20 steps" [ $? = 0 ] && \
    [ "$(grep -c '"loss"' "$W/$m.run/metrics.jsonl")" = 20 ] && \
    [ "$(grep -c '"loss"' "$W/${m}_fa.run/metrics.jsonl")" = 20 ]
  a=$(loss_at "$W/${m}_fa.run/metrics.jsonl" 1); b=$(loss_at "$W/$m.run/metrics.jsonl" 1)
  check "$m: step-1 loss fused $a = unfused $b (rel 1e-6)" close "$a" "$b" 1e-6
  a=$(loss_at "$W/${m}_fa.run/metrics.jsonl" 20); b=$(loss_at "$W/$m.run/metrics.jsonl" 20)
  check "$m: step-20 loss fused $a = unfused $b (rel 1e-5)" close "$a" "$b" 1e-5

  pu=$("$FTC" plan "$W/$m.ft" --json | sed -n 's/.*"peak_bytes": \([0-9]*\).*/\1/p')
  pf=$("$FTC" plan "$W/${m}_fa.ft" --json --verify | sed -n 's/.*"peak_bytes": \([0-9]*\).*/\1/p')
  check "$m: plan peak_bytes smaller with the pass ($pf < $pu)" [ -n "$pf" ] && [ -n "$pu" ] && [ "$pf" -lt "$pu" ]
  meas=$(sed -n 's/^memory: arena planned .* measured [^(]*(\([0-9]*\) B).*/\1/p' "$P""_fa.log")
  check "$m: fused plan peak $pf = measured high-water $meas (to 64 B)" \
    [ -n "$meas" ] && [ $((pf - meas)) -ge 0 ] && [ $((pf - meas)) -lt 64 ]

  "$P""_fa" --out "$W/${m}_t1" --steps 3 --threads 1 --quiet > /dev/null 2>&1
  "$P""_fa" --out "$W/${m}_t2" --steps 3 --threads 2 --quiet > /dev/null 2>&1
  losses "$W/${m}_t1/metrics.jsonl" > "$W/${m}_t1.l"; losses "$W/${m}_t2/metrics.jsonl" > "$W/${m}_t2.l"
  check "$m: fused losses identical with 1 and 2 threads" [ -s "$W/${m}_t1.l" ] && cmp -s "$W/${m}_t1.l" "$W/${m}_t2.l"
  "$P""_fa" sample --out "$W/${m}_fa.run" --prompt "abc" --tokens 20 > "$W/$m.sample" 2>&1
  check "$m: the fused trainer samples" [ $? = 0 ]

  for v in "" _fa; do
    "$FTC" build "$W/$m$v.ft" --dtype f64 -o "$P$v.f64" > /dev/null 2>&1 &&
      "$P$v.f64" --out "$W/$m$v.f64.run" --steps 3 --quiet > /dev/null 2>&1
  done
  a=$(loss_at "$W/${m}_fa.f64.run/metrics.jsonl" 1); b=$(loss_at "$W/$m.f64.run/metrics.jsonl" 1)
  check "$m: float64 step-1 loss fused $a = unfused $b (rel 1e-12)" close "$a" "$b" 1e-12
  a=$(loss_at "$W/${m}_fa.f64.run/metrics.jsonl" 3); b=$(loss_at "$W/$m.f64.run/metrics.jsonl" 3)
  check "$m: float64 step-3 loss (after two updates) fused $a = unfused $b (rel 1e-12)" close "$a" "$b" 1e-12
}
fa_model fa_gpt2 "flash_attention" 80
fa_model fa_llama "flash_attention(block: 16)" 56

# -- flash_attention's tiles live in the planned workspace, not on the stack:
# the largest block in float64 trains with a 256 KiB worker stack (the tiles
# of the kernel before the workspace needed 2 x 128^2 doubles there)
{ cat "$SRC/tests/passes/fa_gpt2.ft"; printf 'passes {\n  flash_attention(block: 128)\n}\n'; } \
  > "$W/fa_stack.ft"
"$FTC" build "$W/fa_stack.ft" --dtype f64 -o "$W/fa_stack" > "$W/fa_stack.build" 2>&1 &&
  OMP_STACKSIZE=256K "$W/fa_stack" --out "$W/fa_stack.run" --steps 2 --threads 2 --quiet \
    > "$W/fa_stack.log" 2>&1
check "flash_attention(block: 128), float64, trains with OMP_STACKSIZE=256K (exit $?)" \
  [ "$(grep -c '"loss"' "$W/fa_stack.run/metrics.jsonl" 2> /dev/null)" = 2 ]

# -- flash_attention: arguments and what it leaves alone ------------------------
for b in 0 129; do
  { cat "$SRC/tests/passes/fa_gpt2.ft"; printf 'passes {\n  flash_attention(block: %s)\n}\n' "$b"; } \
    > "$W/block$b.ft"
  "$FTC" build "$W/block$b.ft" -o "$W/x" > /dev/null 2> "$W/block$b.err"; rc=$?
  check "flash_attention(block: $b) is refused at its span (exit $rc)" [ $rc = 1 ] && \
    grep -q "block$b.ft:[0-9]*:[0-9]*: error: flash_attention: block must be between 1 and 128" "$W/block$b.err"
done
{ cat "$SRC/tests/passes/fa_gpt2.ft"; printf 'passes {\n  flash_attention(threads: 0)\n}\n'; } \
  > "$W/threads0.ft"
"$FTC" build "$W/threads0.ft" -o "$W/x" > /dev/null 2> "$W/threads0.err"; rc=$?
check "flash_attention(threads: 0) is refused at its span (exit $rc)" [ $rc = 1 ] && \
  grep -q "threads0.ft:[0-9]*:[0-9]*: error: flash_attention: threads must be between 1 and 1024" "$W/threads0.err"
{ cat "$SRC/tests/passes/flat.ft"; printf 'passes {\n  flash_attention\n}\n'; } > "$W/noattn.ft"
"$FTC" build "$W/noattn.ft" -o "$W/noattn" > /dev/null 2> "$W/noattn.err"; rc=$?
check "a model without attention builds with the pass (exit $rc) and is warned" [ $rc = 0 ] && \
  grep -q "noattn.ft:[0-9]*:[0-9]*: warning: flash_attention: the model has no attention to fuse" "$W/noattn.err"
"$FTC" graph "$W/fa_gpt2_fa.ft" --backward > "$W/fa.dot" 2>&1
check "ftc graph shows the fused nodes and no softmax" \
  grep -q 'flash_attention_bwd' "$W/fa.dot" && ! grep -q 'softmax' "$W/fa.dot"
"$FTC" passes > "$W/passes.txt"
check "ftc passes: flash_attention implemented, with its block and threads parameters" \
  grep -q '^flash_attention  \[before autodiff, implemented\]' "$W/passes.txt" && \
  grep -q 'param block: int = 64' "$W/passes.txt" && grep -q 'param threads: int = 8' "$W/passes.txt"

echo "passes: $pass passed, $fail failed"
[ "$fail" = 0 ] && rm -rf "$W"
[ "$fail" = 0 ]
