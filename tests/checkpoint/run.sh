#!/bin/sh
# tests/checkpoint/run.sh -- the checkpoint pass (activation recomputation)
# against the unrewritten step, on a tiny GPT-2 and a tiny LLaMA (GQA, RoPE;
# the recipes of tests/passes):
# - float64 gradients of the first batch (`./trainer grads`) equal the
#   un-checkpointed build's to 1e-10 relative, with every: 1, every: 2 and
#   together with flash_attention; a differing batch is told apart (the
#   comparison can fail);
# - float32 losses over 20 AdamW steps equal to 1e-5 relative; the
#   measured arena equals `ftc plan`; resume stays bitwise;
# - GPT-2 124M at B4 T256: activations kept for the backward at least 3x
#   lower with every: 1, and a smaller arena (plan only);
# - budget: a budget between "nothing" and "everything" checkpoints only
#   some layers and fits; one below the smallest possible is refused at the
#   pass with the smallest budget that fits, which then builds;
# - argument errors at the recipe's span; a model without repeat layers is
#   warned; `ftc passes` lists it as implemented.
# One line per check; ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/checkpoint
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
loss_at() { sed -n "s/^{\"step\": $2, \"loss\": \([^,]*\),.*/\1/p" "$1"; }
losses() { grep -o '"loss": [^,}]*' "$1"; }
jnum() { sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p" "$1"; }
stclose() { python3 "$SRC/tests/passes/st_close.py" "$@"; }
awk 'BEGIN { srand(5); for (i = 0; i < 20000; i++) printf "%c", 97 + int(rand() * rand() * 26) }' \
  > "$W/pattern.txt"
cp "$SRC/tests/passes/fa_gpt2.ft" "$SRC/tests/passes/fa_llama.ft" "$W/"
with() { # recipe, variant name, passes-block lines
  { cat "$W/$1.ft"; printf 'passes {\n%s\n}\n' "$3"; } > "$W/$1_$2.ft"
}
build() { # recipe (without .ft), extra ftc flags...
  r=$1; shift
  "$FTC" build "$W/$r.ft" -o "$W/$r$X" "$@" > "$W/$r$X.build" 2>&1 ||
    { bad "ftc build $r.ft $*:"; sed 's/^/  | /' "$W/$r$X.build" | head -8; return 1; }
}

# -- float64 gradients ----------------------------------------------------------
with fa_gpt2 ck "  checkpoint"
with fa_gpt2 ck2 "  checkpoint(every: 2)"
with fa_gpt2 fa "  flash_attention"
with fa_gpt2 fack "  flash_attention
  checkpoint"
with fa_llama ck "  checkpoint"
X=.f64
for r in fa_gpt2 fa_gpt2_ck fa_gpt2_ck2 fa_gpt2_fa fa_gpt2_fack fa_llama fa_llama_ck; do
  build $r --dtype f64 && "$W/$r.f64" grads --out "$W/$r.g" > "$W/$r.g.log" 2>&1 ||
    bad "$r: ./trainer grads"
done
for p in "fa_gpt2 fa_gpt2_ck every: 1" "fa_gpt2 fa_gpt2_ck2 every: 2" \
         "fa_gpt2_fa fa_gpt2_fack with flash_attention" "fa_llama fa_llama_ck llama, every: 1"; do
  set -- $p; a=$1; b=$2; shift 2
  r=$(stclose "$W/$a.g/grads.safetensors" "$W/$b.g/grads.safetensors" 1e-10)
  check "float64 gradients, checkpoint $* = unrewritten: $r" \
    stclose "$W/$a.g/grads.safetensors" "$W/$b.g/grads.safetensors" 1e-10
done
"$W/fa_gpt2_ck.f64" grads --seed 2 --out "$W/seed2.g" > /dev/null 2>&1
r=$(stclose "$W/fa_gpt2.g/grads.safetensors" "$W/seed2.g/grads.safetensors" 1e-10)
check "... and another batch's gradients are told apart ($r)" \
  sh -c '! python3 "$1" "$2" "$3" 1e-10 > /dev/null' - "$SRC/tests/passes/st_close.py" \
  "$W/fa_gpt2.g/grads.safetensors" "$W/seed2.g/grads.safetensors"

# -- float32 training -------------------------------------------------------------
X=
for r in fa_gpt2 fa_gpt2_ck fa_llama fa_llama_ck; do
  build $r --emit-c "$W/$r.c" && "$W/$r" --out "$W/$r.run" > "$W/$r.log" 2>&1 ||
    bad "$r: trains"
done
for m in fa_gpt2 fa_llama; do
  a=$(loss_at "$W/${m}_ck.run/metrics.jsonl" 20); b=$(loss_at "$W/$m.run/metrics.jsonl" 20)
  check "$m: step-20 loss checkpointed $a = unrewritten $b (rel 1e-5)" close "$a" "$b" 1e-5
  losses "$W/$m.run/metrics.jsonl" > "$W/$m.l"; losses "$W/${m}_ck.run/metrics.jsonl" > "$W/${m}_ck.l"
  check "$m: all 20 losses equal" eval '[ "$(wc -l < "$W/$m.l")" = 20 ] && cmp -s "$W/$m.l" "$W/${m}_ck.l"'
  "$FTC" plan "$W/${m}_ck.ft" --json --verify > "$W/${m}_ck.plan" 2>&1
  "$FTC" plan "$W/$m.ft" --json > "$W/$m.plan" 2>&1
  pk=$(jnum "$W/${m}_ck.plan" peak_bytes); p0=$(jnum "$W/$m.plan" peak_bytes)
  meas=$(sed -n 's/^memory: arena planned .* measured [^(]*(\([0-9]*\) B).*/\1/p' "$W/${m}_ck.log")
  check "$m: checkpointed plan $pk B (unrewritten $p0) = measured arena $meas B (to 64 B)" \
    eval '[ -n "$meas" ] && [ $((pk - meas)) -ge 0 ] && [ $((pk - meas)) -lt 64 ] && [ "$pk" -lt "$p0" ]'
  n=$(grep -c '^  /\* %[0-9]* [a-z_]* \[[0-9,]*\] recompute\.' "$W/${m}_ck.c")
  check "$m: the generated backward recomputes ($n recompute calls)" [ "$n" -gt 10 ]
done
"$W/fa_gpt2_ck" --out "$W/res" --steps 6 --stop-at 3 --quiet > /dev/null 2>&1 &&
  "$W/fa_gpt2_ck" --out "$W/res" --steps 6 --resume --quiet > /dev/null 2>&1
"$W/fa_gpt2_ck" --out "$W/full" --steps 6 --quiet > /dev/null 2>&1
losses "$W/res/metrics.jsonl" > "$W/res.l"; losses "$W/full/metrics.jsonl" > "$W/full.l"
check "checkpointed run resumed at step 3 gives the same 6 losses" \
  eval '[ "$(wc -l < "$W/full.l")" = 6 ] && cmp -s "$W/res.l" "$W/full.l"'

# -- GPT-2 124M at B4 T256: the plan -----------------------------------------------
sed -n '/^passes/q;p' "$SRC/bench/gpt2_124m.ft" > "$W/g124.ft"
with g124 ck "  checkpoint(every: 1)"
"$FTC" plan "$W/g124.ft" --json > "$W/g124.plan" 2>&1
"$FTC" plan "$W/g124_ck.ft" --json > "$W/g124_ck.plan" 2>&1
a0=$(jnum "$W/g124.plan" activations); a1=$(jnum "$W/g124_ck.plan" activations)
p0=$(jnum "$W/g124.plan" peak_bytes); p1=$(jnum "$W/g124_ck.plan" peak_bytes)
check "124M B4 T256: activations kept for backward $a0 -> $a1 B, at least 3x lower" \
  eval '[ -n "$a1" ] && [ "$a1" -gt 0 ] && [ $((a0 / a1)) -ge 3 ]'
check "124M B4 T256: arena $p0 -> $p1 B" eval '[ -n "$p1" ] && [ "$p1" -lt "$p0" ]'
check "124M: ftc plan says what checkpoint did" \
  grep -q '"passes": \["checkpoint: 12 of 12 layers recomputed in the backward, in 12 segments' "$W/g124_ck.plan"

# -- budget ------------------------------------------------------------------------
with fa_gpt2 b1 "  checkpoint(budget: 1000)"
"$FTC" plan "$W/fa_gpt2_b1.ft" > /dev/null 2> "$W/b1.err"; rc=$?
least=$(sed -n 's/.*the smallest budget that fits is budget: \([0-9]*\)$/\1/p' "$W/b1.err")
check "budget: 1000 is refused at the pass with the smallest budget that fits ($least)" \
  eval '[ $rc = 1 ] && [ -n "$least" ] &&
  grep -q "fa_gpt2_b1.ft:[0-9]*:3: error: checkpoint: no choice of layers keeps the activations within the budget of 1000 bytes" "$W/b1.err"'
with fa_gpt2 bl "  checkpoint(budget: $least)"
X=; build fa_gpt2_bl && check "... and budget: $least builds" true
"$FTC" plan "$W/fa_gpt2_bl.ft" --json > "$W/bl.plan"
check "... recomputing both layers" grep -q '"checkpoint: 2 of 2 layers' "$W/bl.plan"
# between: the step with layer 0 checkpointed keeps less than without
with g124 bm "  checkpoint(budget: 500000000)"
"$FTC" plan "$W/g124_bm.ft" --json > "$W/bm.plan" 2>&1
nl=$(sed -n 's/.*"checkpoint: \([0-9]*\) of 12 layers.*/\1/p' "$W/bm.plan")
kept=$(sed -n 's/.*kept for backward [^>]*-> \([0-9.]*\) MiB.*/\1/p' "$W/bm.plan")
check "124M budget: 500000000 checkpoints $nl of 12 layers, keeping $kept MiB (fits)" \
  eval '[ -n "$nl" ] && [ "$nl" -gt 0 ] && [ "$nl" -lt 12 ] &&
  awk -v k="$kept" "BEGIN { exit !(k * 1048576 <= 500000000) }"'

# -- arguments, a model without layers, the listing ---------------------------------
for a in "every: 0" "budget: -5" "every: 2, budget: 100"; do
  with fa_gpt2 arg "  checkpoint($a)"
  "$FTC" build "$W/fa_gpt2_arg.ft" -o "$W/x" > /dev/null 2> "$W/arg.err"; rc=$?
  check "checkpoint($a) is refused at its span (exit $rc): $(sed -n 's/.*error: //p' "$W/arg.err")" \
    eval '[ $rc = 1 ] && grep -q "fa_gpt2_arg.ft:[0-9]*:[0-9]*: error: checkpoint: " "$W/arg.err"'
done
{ cat "$SRC/tests/passes/flat.ft"; printf 'passes {\n  checkpoint\n}\n'; } > "$W/flat.ft"
"$FTC" build "$W/flat.ft" -o "$W/flat" > /dev/null 2> "$W/flat.err"; rc=$?
check "a model without repeat layers builds and is warned (exit $rc)" eval '[ $rc = 0 ] &&
  grep -q "flat.ft:[0-9]*:[0-9]*: warning: checkpoint: the model has no repeat layers" "$W/flat.err"'
"$FTC" passes > "$W/passes.txt"
check "ftc passes: checkpoint implemented, with every and budget" \
  eval 'grep -q "^checkpoint  \[after autodiff, implemented\]" "$W/passes.txt" &&
  grep -q "param budget: int = 0" "$W/passes.txt"'

echo "checkpoint: $pass passed, $fail failed"
[ "$fail" = 0 ] && rm -rf "$W"
[ "$fail" = 0 ]
