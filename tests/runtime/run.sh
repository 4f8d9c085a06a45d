#!/bin/sh
# tests/runtime/run.sh -- the trainer as a process: a hand-written trainer
# (bigram_trainer.c: the model of bigram.h + libftrt) is compiled and run
# through the command line: help, training with plan vs measured memory,
# metrics.jsonl, Ctrl-C saves and --resume continues, shards from
# `ftc data text2shards`, bad files name the file, --device cuda, sampling,
# gradcheck. Prints "N passed, N failed".
: "${BUILD:?}" "${SRC:?}"
CC=${CC:-cc}
T=$(mktemp -d /tmp/ftc-rt.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # description, command...
  d=$1; shift
  if "$@"; then ok; else bad "$d"; fi
}

# compile like ftc build does: the flags configure recorded (sanitizers too)
cflags=$(sed -n 's/^#define FTC_CFLAGS "\(.*\)"$/\1/p' "$BUILD/config.h" 2>/dev/null)
libs=$(sed -n 's/^#define FTC_RT_LIBS "\(.*\)"$/\1/p' "$BUILD/config.h" 2>/dev/null)
if ! $CC ${cflags:--std=c11 -O1} -fopenmp -I"$SRC/runtime" -I"$BUILD" \
     "$SRC/tests/runtime/bigram_trainer.c" "$BUILD/libftrt.a" ${libs:--lopenblas -fopenmp -lm} \
     -o "$T/trainer" 2> "$T/cc.log"; then
  cat "$T/cc.log"; echo "0 passed, 1 failed"; exit 1
fi
TR=$T/trainer
awk 'BEGIN { srand(3); split("the cat sat on the mat. |a dog ran far. |hello world! |abc abc abc ", w, "|");
  for (i = 0; i < 3000; i++) printf "%s", w[int(rand() * 4) + 1] }' > "$T/text.txt"

# help and usage errors
"$TR" "$T/text.txt" "$T/o" --help > "$T/help" 2>&1
check "help exits 0" [ $? = 0 ]
check "help lists commands and plan" grep -q "gradcheck" "$T/help"
check "help says batch is compiled in" grep -q "batch and seq are compiled in" "$T/help"
"$TR" "$T/text.txt" "$T/o" --device cuda > "$T/cuda" 2>&1
check "--device cuda exits 2" [ $? = 2 ]
check "--device cuda message" grep -q "built without CUDA support" "$T/cuda"

# training: loss falls, memory measured equals the plan (to alignment)
"$TR" "$T/text.txt" "$T/run" --steps 30 --log-every 10 > "$T/train" 2>&1
check "train exits 0" [ $? = 0 ]
check "metrics has 30 step lines" [ "$(grep -c '"loss"' "$T/run/metrics.jsonl")" = 30 ]
check "metrics has val_loss" grep -q '"val_loss"' "$T/run/metrics.jsonl"
check "weights written" [ -s "$T/run/model.safetensors" ]
planned=$(sed -n 's/.*planned [^(]*(\([0-9]*\) B).*/\1/p' "$T/train")
measured=$(sed -n 's/.*measured [^(]*(\([0-9]*\) B).*/\1/p' "$T/train")
check "plan ($planned) and measured ($measured) agree to 64 bytes" \
  [ -n "$measured" ] && [ $((planned - measured)) -ge 0 ] && [ $((planned - measured)) -lt 64 ]
first=$(sed -n '1s/.*"loss": \([0-9.]*\).*/\1/p' "$T/run/metrics.jsonl")
last=$(grep '"loss"' "$T/run/metrics.jsonl" | tail -n 1 | sed 's/.*"loss": \([0-9.]*\).*/\1/')
check "loss falls ($first -> $last)" awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 1) }'

# Ctrl-C: finish the step, checkpoint, exit 0; --resume continues
"$TR" "$T/text.txt" "$T/int" --steps 100000000 --log-every 100000 > "$T/int.log" 2>&1 &
pid=$!
# signal only once the loop runs (handlers installed): a step is logged
for i in $(seq 1 100); do
  [ -s "$T/int/metrics.jsonl" ] && break
  sleep 0.2
done
kill -INT $pid
wait $pid
check "Ctrl-C exits 0" [ $? = 0 ]
check "Ctrl-C message" grep -q "interrupted at step" "$T/int.log"
check "Ctrl-C checkpoint" [ -s "$T/int/ckpt.safetensors" ]
n=$(sed -n 's/.*interrupted at step \([0-9]*\).*/\1/p' "$T/int.log")
"$TR" "$T/text.txt" "$T/int" --resume --steps $((n + 3)) --quiet > "$T/res.log" 2>&1
check "resume after Ctrl-C" [ $? = 0 ]
check "resume appended 3 steps" [ "$(grep -c '"loss"' "$T/int/metrics.jsonl")" = $((n + 3)) ]

# bad files: a clear message naming the file, exit 1, nothing overwritten
cp "$T/run/ckpt.safetensors" "$T/good"
head -c 1000 "$T/good" > "$T/run/ckpt.safetensors"
"$TR" "$T/text.txt" "$T/run" --resume --steps 40 > "$T/corrupt" 2>&1
check "corrupt checkpoint exits 1" [ $? = 1 ]
check "corrupt checkpoint named" grep -q "ckpt.safetensors" "$T/corrupt"
check "corrupt checkpoint kept" [ "$(wc -c < "$T/run/ckpt.safetensors")" = 1000 ]
"$TR" "$T/nope.txt" "$T/x" > "$T/missing" 2>&1
check "missing data exits 1" [ $? = 1 ]
check "missing data named" grep -q "nope.txt" "$T/missing"

# sampling is deterministic with a seed, greedy with temperature 0
"$TR" "$T/text.txt" "$T/run" sample --init "$T/run/model.safetensors" --prompt "the " --tokens 30 --seed 5 > "$T/s1" 2>/dev/null
"$TR" "$T/text.txt" "$T/run" sample --init "$T/run/model.safetensors" --prompt "the " --tokens 30 --seed 5 > "$T/s2" 2>/dev/null
check "sample deterministic" cmp -s "$T/s1" "$T/s2"
check "sample starts with the prompt" grep -q "^the " "$T/s1"

# gradcheck in float64
BIGRAM_F64=1 "$TR" "$T/text.txt" "$T/g" gradcheck > "$T/gc" 2>&1
check "gradcheck f64 passes" [ $? = 0 ]

# shards from `ftc data text2shards`
if [ -x "${FTC:-}" ]; then
  "$FTC" data text2shards "$T/text.txt" -o "$T/text.bin" > "$T/ftcdata" 2>&1
  check "ftc data text2shards" [ $? = 0 ]
  BIGRAM_SHARDS=1 "$TR" "$T/text.bin" "$T/sh" --steps 5 --quiet > "$T/sh.log" 2>&1
  check "train on shards" [ $? = 0 ]
  "$FTC" data text2shards "$T/text.txt" -o "$T/text32.bin" --dtype u32 > /dev/null 2>&1
  check "u32 shard is twice the tokens" [ $(( $(wc -c < "$T/text32.bin") - 32 )) = \
    $(( 2 * ($(wc -c < "$T/text.bin") - 32) )) ]
  head -c 500 "$T/text.bin" > "$T/trunc.bin"
  BIGRAM_SHARDS=1 "$TR" "$T/trunc.bin" "$T/sh2" --steps 5 > "$T/trunc.log" 2>&1
  check "truncated shard exits 1" [ $? = 1 ]
  check "truncated shard named" grep -q "trunc.bin: truncated" "$T/trunc.log"
  "$FTC" data text2shards "$T/none.txt" -o "$T/none.bin" > "$T/none.log" 2>&1
  check "ftc data: missing input exits 1" [ $? = 1 ]
  check "ftc data: no output left behind" [ ! -e "$T/none.bin" ]
fi

# A GPT-2 trainer compiled by ftc: plan = measurement, bitwise resume,
# float64 gradcheck of a whole 2-layer model.
if [ -x "${FTC:-}" ]; then
  cat > "$T/gpt.ft" <<'FT'
use gpt2
model = gpt2.gpt2(vocab: 256, ctx: 16, layers: 2, heads: 2, dim: 16)
weights = init(seed: 1)
data train = text("text.txt", tokenizer: bytes, seq: 16, batch: 2, split: 0.9)
train {
  steps 6
  optimizer adamw(lr: 1e-2, betas: (0.9, 0.95), weight_decay: 0.1)
  schedule cosine(warmup: 2, min_lr: 1e-3)
  clip 1.0
  eval every 3 on train.val
  log every 1
  seed 7
}
FT
  if "$FTC" build "$T/gpt.ft" -o "$T/gpt" > "$T/gpt.build" 2>&1; then
    ok
    "$T/gpt" --out "$T/gA" > "$T/gA.log" 2>&1
    check "gpt trains" [ $? = 0 ]
    planned=$(sed -n 's/.*planned [^(]*(\([0-9]*\) B).*/\1/p' "$T/gA.log")
    measured=$(sed -n 's/.*measured [^(]*(\([0-9]*\) B).*/\1/p' "$T/gA.log")
    check "gpt plan ($planned) = measured ($measured) to 64 bytes" \
      [ -n "$measured" ] && [ $((planned - measured)) -ge 0 ] && [ $((planned - measured)) -lt 64 ]
    "$T/gpt" --out "$T/gB" --stop-at 3 --quiet > /dev/null 2>&1 &&
      "$T/gpt" --out "$T/gB" --resume --quiet > /dev/null 2>&1
    check "gpt resume runs" [ $? = 0 ]
    check "gpt resumed checkpoint is bitwise the uninterrupted one" \
      cmp -s "$T/gA/ckpt.safetensors" "$T/gB/ckpt.safetensors"
    check "gpt resumed losses are the uninterrupted ones" [ "$(grep -o '"loss": [^,]*' "$T/gA/metrics.jsonl")" = \
      "$(grep -o '"loss": [^,]*' "$T/gB/metrics.jsonl")" ]
    "$T/gpt" sample --out "$T/gA" --prompt "the" --tokens 8 --temperature 0 > "$T/gs" 2>&1
    check "gpt sample" [ $? = 0 ]
  else
    bad "ftc build of a 2-layer GPT-2 failed:"; tail -n 5 "$T/gpt.build"
  fi
  if "$FTC" build "$T/gpt.ft" --dtype f64 -o "$T/gpt64" > "$T/gpt64.build" 2>&1; then
    "$T/gpt64" gradcheck --samples 8 > "$T/gc64" 2>&1
    rc=$?
    check "float64 gradcheck of a 2-layer GPT-2" [ $rc = 0 ]
    [ $rc = 0 ] || tail -n 30 "$T/gc64"
  else
    bad "ftc build --dtype f64 failed:"; tail -n 5 "$T/gpt64.build"
  fi
fi

echo "runtime: $pass passed, $fail failed"
[ $fail = 0 ]
