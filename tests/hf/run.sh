#!/bin/sh
# tests/hf/run.sh -- interop with the real Hugging Face libraries: weights
# made by transformers load into ftc trainers and give the same loss; weights
# trained by ftc load into transformers and give the same loss; one AdamW
# step matches torch.optim.AdamW. For GPT-2 (GPT2LMHeadModel, tied head) and
# LLaMA (LlamaForCausalLM: RoPE, grouped-query attention, RMSNorm).
# The one idea: hf_ref.py recomputes exactly the windows the trainer sees.
# Needs the test virtualenv (tests/venv.sh: made on first use, a few
# minutes of pip); exit 77 (skipped) when that is impossible.
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
. "$SRC/tests/venv.sh"
venv_need torch transformers safetensors || exit 77
W=$BUILD/hf
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
ref() { OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error \
        HF_HUB_DISABLE_PROGRESS_BARS=1 "$PY" "$SRC/tests/hf/hf_ref.py" "$@" 2>> "$W/py.err"; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a ~ /^[0-9][0-9.]*([eE][-+]?[0-9]+)?$/ && a + 0 < b + 0) }'; }
jget() { sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p" "$1"; }

# Text the ftc side trains on; random bytes for evaluation (every byte value,
# so every embedding row matters).
awk 'BEGIN { srand(7); split("the cat sat on the mat. |a dog ran far. |hello world! |abc abc ", w, "|");
  for (i = 0; i < 3000; i++) printf "%s", w[int(rand() * 4) + 1] }' > "$W/text.txt"
"$PY" -c 'import random, sys; random.seed(11)
open(sys.argv[1], "wb").write(bytes(random.randrange(256) for _ in range(4160)))' "$W/rand.bin"
# AdamW data: split 0.5 of 130 bytes leaves exactly seq+1 = 65 train bytes, so
# every row of every batch is the same window, which torch can reproduce.
head -c 130 "$W/text.txt" > "$W/one.txt"

SEQ=64 BATCH=4 NB=4
recipe() { # family, file, data, optimizer line, schedule
  if [ "$1" = gpt2 ]; then
    m='use gpt2
model = gpt2.gpt2(vocab: 256, ctx: 64, layers: 2, heads: 4, dim: 64)'
  else
    m='use llama
model = llama.llama(vocab: 256, dim: 64, n_layers: 2, heads: 4, kv_heads: 2,
                    hidden: 128, eps: 1e-5, theta: 500000.0)'
  fi
  cat > "$2" <<FT
$m
weights = init(seed: 1)
data train = text("$3", tokenizer: bytes, seq: $SEQ, batch: $BATCH, split: 0.5)
train {
  steps 60
  optimizer $4
  schedule $5
  eval every 30 on train.val
  eval_batches $NB
  log every 10
  seed 5
}
FT
}
LR=0.003 B1=0.9 B2=0.95 EPS=1e-8 WD=0.1
for fam in gpt2 llama; do
  recipe $fam "$W/t_$fam.ft" text.txt "adamw(lr: 3e-3, betas: (0.9, 0.95), weight_decay: 0.1)" \
    "cosine(warmup: 5, min_lr: 3e-4)"
  recipe $fam "$W/t_${fam}_step.ft" one.txt \
    "adamw(lr: $LR, betas: ($B1, $B2), eps: $EPS, weight_decay: $WD)" constant
  for r in t_$fam t_${fam}_step; do
    if ! "$FTC" build "$W/$r.ft" -o "$W/$r" > "$W/$r.build" 2>&1; then
      bad "ftc build $r.ft:"; sed 's/^/  | /' "$W/$r.build" | head; continue
    fi
  done
  TR=$W/t_$fam
  [ -x "$TR" ] && [ -x "$W/t_${fam}_step" ] || continue

  # ftc's side first, then transformers' side in one python start-up.
  ref init $fam "$W/$fam.hf" 1
  check "$fam: transformers save_pretrained wrote model.safetensors" [ -s "$W/$fam.hf/model.safetensors" ]
  # (a) transformers -> ftc: the same random weights on the same val windows
  # (random bytes: every embedding row matters; then text)
  ftc_a=$("$TR" eval --init "$W/$fam.hf/model.safetensors" --data "$W/rand.bin" \
          --eval-batches $NB 2> "$W/$fam.a.err" | sed -n 's/^val_loss //p')
  ftc_t=$("$TR" eval --init "$W/$fam.hf/model.safetensors" --eval-batches $NB 2>> "$W/$fam.a.err" |
          sed -n 's/^val_loss //p')
  # (b) ftc -> transformers: ftc trains, transformers loads model.safetensors
  "$TR" --out "$W/$fam.run" --quiet > /dev/null 2> "$W/$fam.b.err"
  check "$fam: ftc trains 60 steps" [ $? = 0 ]
  ftc_b=$("$TR" eval --out "$W/$fam.run" 2>> "$W/$fam.b.err" | sed -n 's/^val_loss //p')
  # (c) one AdamW step (and a second forward) from the HF init on the one window
  "$W/t_${fam}_step" --out "$W/$fam.s1" --init "$W/$fam.hf/model.safetensors" --steps 1 \
    --eval-every 0 --quiet > /dev/null 2> "$W/$fam.c.err"
  "$W/t_${fam}_step" --out "$W/$fam.s2" --init "$W/$fam.hf/model.safetensors" --steps 2 \
    --eval-every 0 --quiet > /dev/null 2>> "$W/$fam.c.err"
  ref eval $fam "$W/$fam.hf" "$W/rand.bin" 0.5 $SEQ $BATCH $NB \
    + eval $fam "$W/$fam.hf" "$W/text.txt" 0.5 $SEQ $BATCH $NB \
    + eval $fam "$W/$fam.run/model.safetensors" "$W/text.txt" 0.5 $SEQ $BATCH $NB \
    + adamw $fam "$W/$fam.hf" "$W/one.txt" $SEQ $BATCH $LR $B1 $B2 $EPS $WD \
      "$W/$fam.s1/model.safetensors" > "$W/$fam.ref"
  hf_a=$(sed -n 1p "$W/$fam.ref"); hf_t=$(sed -n 2p "$W/$fam.ref"); hf_b=$(sed -n 3p "$W/$fam.ref")
  sed -n 4p "$W/$fam.ref" > "$W/$fam.adamw.json"
  check "$fam: HF init -> ftc eval on random bytes $ftc_a = transformers $hf_a (rel 1e-5)" close "$ftc_a" "$hf_a" 1e-5
  check "$fam: HF init -> ftc eval on text $ftc_t = transformers $hf_t (rel 1e-5)" close "$ftc_t" "$hf_t" 1e-5
  check "$fam: ftc-trained weights in transformers: $hf_b = ftc eval $ftc_b (rel 1e-5)" close "$hf_b" "$ftc_b" 1e-5
  check "$fam: ... and training did something (val $ftc_b < 3.5)" below "$ftc_b" 3.5
  l1=$(sed -n 's/^{"step": 1, "loss": \([^,]*\),.*/\1/p' "$W/$fam.s2/metrics.jsonl")
  l2=$(sed -n 's/^{"step": 2, "loss": \([^,]*\),.*/\1/p' "$W/$fam.s2/metrics.jsonl")
  t1=$(jget "$W/$fam.adamw.json" loss1); t2=$(jget "$W/$fam.adamw.json" loss2)
  check "$fam: AdamW step 1 loss ftc $l1 = torch $t1 (rel 1e-5)" close "$l1" "$t1" 1e-5
  check "$fam: AdamW step 2 loss ftc $l2 = torch $t2 (rel 1e-4)" close "$l2" "$t2" 1e-4
  md=$(jget "$W/$fam.adamw.json" max_diff); off=$(jget "$W/$fam.adamw.json" off_by_1pct_lr)
  n=$(jget "$W/$fam.adamw.json" elements); z=$(jget "$W/$fam.adamw.json" zero_grad_elements)
  check "$fam: weights after one AdamW step: $off of $n elements differ from torch by > 1% of lr (max $md; $z with |grad| < 1e-6 not compared)" \
    [ "$off" = 0 ] && [ "${n:-0}" -gt 0 ]
done
[ "$fail" != 0 ] && [ -s "$W/py.err" ] && { echo "python stderr:"; tail -n 15 "$W/py.err" | sed 's/^/  | /'; }
echo "hf: $pass passed, $fail failed"
[ "$fail" = 0 ] && rm -rf "$W"
[ "$fail" = 0 ]
