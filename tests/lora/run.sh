#!/bin/sh
# tests/lora/run.sh -- lora(rank, alpha, dropout, target) against the base.
# Tiny GPT-2 (c_attn, c_proj, c_fc adapted) and LLaMA (all seven
# projections): the first loss equals the base model's exactly (B starts
# at zero); only the adapters get gradients and optimizer state (the plan's
# bytes, to the byte); float64 gradients of every adapter pass the
# finite-difference check with B nonzero; 20 steps train the adapters and
# leave every base tensor bitwise unchanged; stop and resume gives the same
# losses bitwise; checkpoint + lora and accumulate + lora give lora's losses
# (1e-5); mistakes are refused at the recipe's span.
# One line per check; ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/lora
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
export OMP_NUM_THREADS=1
losses() { grep -o '"loss": [^,}]*' "$1" | sed 's/"loss": //'; }
jnum() { sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p" "$1"; }
same_losses() { # a.jsonl b.jsonl tol: 20 losses each, within tol (relative)
  losses "$1" > "$W/a.l"; losses "$2" > "$W/b.l"
  [ "$(wc -l < "$W/a.l")" = 20 ] && [ "$(wc -l < "$W/b.l")" = 20 ] &&
    paste "$W/a.l" "$W/b.l" | awk -v t="$3" '{ d = $1 - $2; if (d < 0) d = -d
      m = $2 < 0 ? -$2 : $2; if (!(d <= t * m)) bad = 1 } END { exit bad }'
}
awk 'BEGIN { srand(5); for (i = 0; i < 20000; i++) printf "%c", 97 + int(rand() * rand() * 26) }' \
  > "$W/pattern.txt"
GL='lora(rank: 4, alpha: 8, target: "c_attn|c_proj|c_fc")'
LL='lora(rank: 4, alpha: 8, target: "q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj")'
cp "$SRC/tests/passes/fa_gpt2.ft" "$W/gbase.ft"
cp "$SRC/tests/passes/fa_llama.ft" "$W/lbase.ft"
printf 'passes {\n  %s\n}\n' "$GL" | cat "$W/gbase.ft" - > "$W/glora.ft"
printf 'passes {\n  %s\n}\n' "$LL" | cat "$W/lbase.ft" - > "$W/llora.ft"
printf 'passes {\n  %s\n  checkpoint(every: 1)\n}\n' "$GL" | cat "$W/gbase.ft" - > "$W/gck.ft"
sed 's/batch: 4,/batch: 2,/; s/^  steps 20$/  steps 20\n  accumulate 2/' "$W/gbase.ft" |
  { cat; printf 'passes {\n  %s\n}\n' "$GL"; } > "$W/gacc.ft"
for r in gbase glora lbase llora gck gacc; do
  "$FTC" build "$W/$r.ft" -o "$W/$r" > "$W/$r.build" 2>&1 ||
    { bad "ftc build $r.ft:"; sed 's/^/  | /' "$W/$r.build" | head -8; }
done
"$FTC" build "$W/glora.ft" --dtype f64 -o "$W/glora64" > "$W/glora64.build" 2>&1 ||
  bad "ftc build glora.ft --dtype f64"
train() { # name flags...
  r=$1; shift
  "$W/$r" --out "$W/$r.run" "$@" > "$W/$r.log" 2>&1 || bad "$r: training failed (exit $?)"
}
train gbase --steps 1; train lbase --steps 1 # the bases: their first loss
train glora; train gck; train gacc
train llora --steps 8

# -- step 0: the base model's output ------------------------------------------------
for m in g l; do
  b=$(losses "$W/${m}base.run/metrics.jsonl" | head -1); a=$(losses "$W/${m}lora.run/metrics.jsonl" | head -1)
  check "$m: first loss with the adapters = the base model's ($a = $b)" [ -n "$a" -a "$a" = "$b" ]
  a20=$(losses "$W/${m}lora.run/metrics.jsonl" | tail -1)
  check "$m: the adapters train (loss $a -> $a20)" \
    awk -v a="$a" -v b="$a20" 'BEGIN { exit !(b < a - 0.05) }'
done

# -- only the adapters train: the plan --------------------------------------------------
# GPT-2 C=64, 2 layers: c_attn 64->192, attn.c_proj 64->64, c_fc 64->256, mlp.c_proj 256->64
n=$(( 2 * 4 * ((64 + 192) + (64 + 64) + (64 + 256) + (256 + 64)) ))
"$FTC" plan "$W/glora.ft" --json > "$W/glora.plan"
"$FTC" plan "$W/glora.ft" > "$W/glora.plan.txt"
check "ftc plan: $n trainable parameters (the adapters)" grep -q "(${n} trainable)" "$W/glora.plan.txt"
check "gradients: $((4 * n)) B, the adapters' only" [ "$(jnum "$W/glora.plan" grads)" = $((4 * n)) ]
check "optimizer state: $((8 * n)) B (AdamW's two slots of the adapters)" \
  [ "$(jnum "$W/glora.plan" optimizer_state)" = $((8 * n)) ]
check "ftc plan says what lora did" \
  grep -q "lora: 8 weights adapted (rank 4, alpha 8), $n trainable parameters" "$W/glora.plan.txt"
meas=$(sed -n 's/^memory: arena planned .* measured [^(]*(\([0-9]*\) B).*/\1/p' "$W/glora.log")
p=$(jnum "$W/glora.plan" arena_bytes)
check "arena planned $p B = measured $meas B (to 64 B)" \
  eval '[ -n "$meas" ] && [ $((p - meas)) -ge 0 ] && [ $((p - meas)) -lt 64 ]'

# -- gradients (float64, finite differences), with B trained to nonzero --------------
"$W/glora64" --out "$W/g64.run" --steps 5 --quiet > /dev/null 2>&1
"$W/glora64" gradcheck --init "$W/g64.run/model.safetensors" > "$W/gc.log" 2>&1
check "float64 gradcheck of all 16 adapters after 5 steps (exit $?)" \
  eval 'grep -q "all gradients within tolerance" "$W/gc.log" && [ "$(grep -c "lora_[AB].weight .* ok$" "$W/gc.log")" = 16 ]'

# -- the base is frozen ------------------------------------------------------------------
"$W/glora" --out "$W/s1" --stop-at 1 --quiet > /dev/null 2>&1
python3 - "$W/s1/ckpt.safetensors" "$W/glora.run/model.safetensors" > "$W/frozen.txt" 2>&1 <<'PY'
import json, struct, sys
def load(path): # name -> raw bytes of each tensor
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head, data = json.loads(f.read(n)), f.read()
    return {k: data[t["data_offsets"][0]:t["data_offsets"][1]]
            for k, t in head.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
base = [k for k in b if "lora_" not in k]
lb = [k for k in b if k.endswith("lora_B.weight")]
same = all(a[k] == b[k] for k in base)
moved = all(a[k] != b[k] and any(b[k]) for k in lb)
print(len(base), "base tensors", "bitwise unchanged" if same else "CHANGED", "and", len(lb),
      "lora_B", "trained" if moved else "NOT trained")
sys.exit(0 if same and moved and len(base) == 28 and len(lb) == 8 else 1)
PY
rc=$?
check "20 steps: $(cat "$W/frozen.txt")" [ $rc = 0 ]

# -- resume -------------------------------------------------------------------------------
"$W/glora" --out "$W/res" --stop-at 7 --quiet > /dev/null 2>&1 &&
  "$W/glora" --out "$W/res" --resume --quiet > /dev/null 2>&1
check "stopped at step 7 and resumed: the same 20 losses, bit for bit" \
  eval 'losses "$W/res/metrics.jsonl" > "$W/r.l" && losses "$W/glora.run/metrics.jsonl" > "$W/a.l" &&
        [ "$(wc -l < "$W/r.l")" = 20 ] && cmp -s "$W/r.l" "$W/a.l"'

# -- mixtures -----------------------------------------------------------------------------
check "checkpoint + lora: lora's 20 losses (1e-5)" \
  same_losses "$W/gck.run/metrics.jsonl" "$W/glora.run/metrics.jsonl" 1e-5
check "accumulate + lora: batch 2 x 2 micro-batches = lora at batch 4 (1e-5)" \
  same_losses "$W/gacc.run/metrics.jsonl" "$W/glora.run/metrics.jsonl" 1e-5

# -- mistakes -----------------------------------------------------------------------------
bad_recipe() { # name pass-line: builds, must fail
  printf 'passes {\n  %s\n}\n' "$2" | cat "$W/gbase.ft" - > "$W/$1.ft"
  "$FTC" build "$W/$1.ft" -o "$W/x" > /dev/null 2> "$W/$1.err"
}
bad_recipe none 'lora(target: "q_proj")'; rc=$?
check "a target that matches nothing is refused at it (exit $rc)" \
  eval '[ $rc = 1 ] && grep -q "none.ft:[0-9]*:[0-9]*: error: lora: target \"q_proj\" matches none of the model.s 10 weight matrices (in the layers they look like .h.0.attn.c_attn." "$W/none.err"'
bad_recipe rank0 'lora(rank: 0)'; rc=$?
check "rank: 0 is refused (exit $rc)" \
  eval '[ $rc = 1 ] && grep -q "rank0.ft:[0-9]*:[0-9]*: error: lora: rank must be between 1" "$W/rank0.err"'
bad_recipe wte 'lora(target: "wpe")'; rc=$?
check "an embedding table is not a linear layer (exit $rc)" \
  eval '[ $rc = 1 ] && grep -q "wte.ft:[0-9]*:[0-9]*: error: lora: target \"wpe\" matches wpe, which no matmul reads as a linear layer.s weight" "$W/wte.err"'
"$FTC" passes > "$W/passes.txt"
check "ftc passes: lora implemented" grep -q '^lora .*implemented' "$W/passes.txt"

echo "lora: $pass passed, $fail failed"
[ "$fail" = 0 ] && rm -rf "$W"
[ "$fail" = 0 ]
