#!/bin/sh
# tests/dist/run.sh -- data parallel and ZeRO over MPI ranks on this machine
# (mpirun --oversubscribe): 2 and 4 ranks at per-rank batch 4/N give the
# losses of 1 rank at batch 4 (plain data parallel, zero stage 1, stage 2),
# every rank's measured arena equals its plan and `ftc plan --ranks N`,
# with --accumulate 2 at 2 ranks x batch 1 as well (stages 0-3), a checkpoint
# saved at 4 ranks resumes at 2 (the same trainer: 2 micro-batches) and at 1
# with the losses of the
# uninterrupted run, a rank killed with SIGKILL mid-step ends the job within
# the timeout with a message naming it and the previous checkpoint resumes,
# and launches that cannot work are refused with the reason.
# Tolerances: float64 builds agree to 1e-9 relative (only the summation
# order of the gradients differs); one float32 run is held to 1e-5.
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
. "$SRC/tests/lib.sh"
W=$BUILD/dist
rm -rf "$W" && mkdir -p "$W" || exit 1
# root may run MPI jobs here (CI runs as root); sanitizer builds: Open MPI's
# own allocations are not ours to report
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
MPIRUN="mpirun --oversubscribe"
losses() { grep -o '"loss": [^,}]*' "$1" | sed 's/"loss": //'; }
# every loss of $1 within $3 (relative) of the same step's in $2, 10 of them
same_losses() {
  [ "$(losses "$1" | wc -l)" = "$(losses "$2" | wc -l)" ] || return 1
  losses "$1" > "$W/a.l"; losses "$2" > "$W/b.l"
  paste "$W/a.l" "$W/b.l" | awk -v t="$3" '{ d = $1 - $2; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2
    if (!(d <= t * m)) bad = 1 } END { exit bad }'
}

P="the quick brown fox jumps over the lazy dog. "
awk -v p="$P" 'BEGIN { for (i = 0; i < 400; i++) printf "%s", p }' > "$W/pattern.txt"
# recipe NAME BATCH PASSES: a tiny GPT-2, 10 steps of AdamW with clipping
recipe() {
  cat > "$W/$1.ft" <<EOF
use gpt2
model = gpt2.gpt2(vocab: 256, ctx: 16, layers: 2, heads: 2, dim: 16)
weights = init(seed: 1)
data train = text("pattern.txt", tokenizer: bytes, seq: 16, batch: $2, split: 0.9)
train {
  steps 10
  optimizer adamw(lr: 1e-2, betas: (0.9, 0.95), weight_decay: 0.1)
  schedule cosine(warmup: 2, min_lr: 1e-3)
  clip 1.0
  log every 1
  seed 1
}
$3
EOF
}
build() { # name batch passes [dtype]
  recipe "$1" "$2" "$3"
  if ! "$FTC" build "$W/$1.ft" --dtype "${4:-f64}" -o "$W/$1" > "$W/$1.build" 2>&1; then
    bad "ftc build $1:"; sed 's/^/  | /' "$W/$1.build" | head; echo "$pass passed, $fail failed"; exit 1
  fi
}
build ref 4 ""
if ! grep -q '^#define HAVE_MPI 1' "$BUILD/config.h"; then
  # a build without MPI: one process trains, several ranks say what is missing
  OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=2 "$W/ref" --out "$W/nompi" > "$W/nompi.log" 2>&1
  check "without MPI, a 2-rank launch is refused (exit $?) with the reason" \
    grep -q "built without MPI, which distributed CPU runs need" "$W/nompi.log"
  echo "dist: $pass passed, $fail failed (this build has no MPI: the rest skipped)"
  [ $fail = 0 ]; exit
fi
command -v mpirun > /dev/null || { echo "dist: skipped: no mpirun (apt-get install openmpi-bin)"; exit 77; }
for n in 2 4; do
  b=$((4 / n))
  build dp_$n $b ""
  build z1_$n $b "passes { zero(stage: 1) }"
  build z2_$n $b "passes { zero(stage: 2) }"
  build z3_$n $b "passes { zero(stage: 3) }"
done
build z2_1 4 "passes { zero(stage: 2) }"
build f32ref 4 "" f32
build f32z2_4 1 "passes { zero(stage: 2) }" f32
ok "ftc build of 14 trainers (data parallel, zero 1, 2 and 3; f64 and f32)"

# -- 1. equal losses ------------------------------------------------------------
"$W/ref" --out "$W/ref.out" --threads 1 > "$W/ref.log" 2>&1
check "1 rank at batch 4 trains 10 steps" [ $? = 0 -a "$(losses "$W/ref.out/metrics.jsonl" | wc -l)" = 10 ]
for v in dp z1 z2 z3; do
  for n in 2 4; do
    $MPIRUN -n $n "$W/${v}_$n" --out "$W/${v}_$n.out" --threads 1 > "$W/${v}_$n.log" 2>&1
    check "$v: $n ranks at batch $((4 / n)) exit 0" [ $? = 0 ]
    check "$v: $n ranks give 1 rank's losses at batch 4 (1e-9 rel, 10 steps)" \
      same_losses "$W/${v}_$n.out/metrics.jsonl" "$W/ref.out/metrics.jsonl" 1e-9
  done
done
"$W/f32ref" --out "$W/f32ref.out" --threads 1 > /dev/null 2>&1
$MPIRUN -n 4 "$W/f32z2_4" --out "$W/f32z2_4.out" --threads 1 > "$W/f32z2_4.log" 2>&1
check "float32: zero 2 on 4 ranks within 1e-5 of 1 rank" \
  same_losses "$W/f32z2_4.out/metrics.jsonl" "$W/f32ref.out/metrics.jsonl" 1e-5
check "rank 0 names the launch" grep -q "batch 1 x 4 ranks (mpirun), ZeRO stage 2" "$W/z2_4.log"
# buckets: the 28 gradients lie back to back, so one all-reduce of 25 MiB
# carries them all; FTC_BUCKET_MB=0 sends each alone, with the same losses
check "data parallel: 28 gradients in 1 bucketed all-reduce" \
  grep -q "gradients: 28 tensors in 1 all-reduce " "$W/dp_2.log"
check "zero 1 (collectives in the schedule): the same" \
  grep -q "gradients: 28 tensors in 1 all-reduce " "$W/z1_2.log"
FTC_BUCKET_MB=0 $MPIRUN -n 2 "$W/z1_2" --out "$W/nb" --threads 1 > "$W/nb.log" 2>&1
check "FTC_BUCKET_MB=0: 28 all-reduces" grep -q "gradients: 28 tensors in 28 all-reduces" "$W/nb.log"
check "... and the same losses" same_losses "$W/nb/metrics.jsonl" "$W/ref.out/metrics.jsonl" 1e-9
check "only rank 0 logs steps" [ "$(grep -c '^step' "$W/z2_4.log")" = 10 ]
# accumulate: 2 ranks x batch 1 x 2 micro-batches read the 4 rows of the
# global batch (data.c's rule); at stages 0-1 the collectives run after the
# last micro-batch, at 2-3 each reduce-scatter adds into the slice
for v in dp z1 z2 z3; do
  $MPIRUN -n 2 "$W/${v}_4" --out "$W/${v}_acc" --threads 1 --accumulate 2 > "$W/${v}_acc.log" 2>&1
  check "$v: 2 ranks x batch 1 x --accumulate 2 give 1 rank's losses at batch 4 (exit $?, 1e-9)" \
    same_losses "$W/${v}_acc/metrics.jsonl" "$W/ref.out/metrics.jsonl" 1e-9
done
check "... and the trainer says how" grep -q "batch 1 x 2 micro-batches x 2 ranks (mpirun), ZeRO stage 2" "$W/z2_acc.log"

# -- 2. memory: every rank's measured arena = its plan = ftc plan --ranks N -----
for v in z1 z2 z3 dp; do
  for n in 2 4; do
    log=$W/${v}_$n.log
    plan=$("$FTC" plan "$W/${v}_$n.ft" --dtype f64 --ranks $n --json |
           sed -n 's/.*"rank_arena_bytes": \([0-9]*\).*/\1/p')
    r0=$(sed -n 's/^memory (rank 0 of .*arena planned .*(\([0-9]*\) B), measured.*/\1/p' "$log")
    check "$v x$n: ftc plan --ranks $n ($plan B) = rank 0's planned arena ($r0 B)" \
      [ -n "$plan" -a "$plan" = "$r0" ]
    agree=$(sed -n 's/^memory (rank \([0-9]*\) of .*planned .*(\([0-9]*\) B), measured .*(\([0-9]*\) B);.*/\1 \2 \3/p' "$log" |
            awk '{ d = $2 - $3; if (d >= 0 && d < 64) n++ } END { print n + 0 }')
    check "$v x$n: all $n ranks measure their planned arena (to 64 B)" [ "$agree" = $n ]
  done
done
p1=$("$FTC" plan "$W/z2_4.ft" --dtype f64 --json | sed -n 's/.*"rank_arena_bytes": \([0-9]*\).*/\1/p')
p4=$("$FTC" plan "$W/z2_4.ft" --dtype f64 --ranks 4 --json | sed -n 's/.*"rank_arena_bytes": \([0-9]*\).*/\1/p')
check "zero 2: a rank of 4 plans less than a single rank ($p4 < $p1 B)" [ "${p4:-0}" -lt "${p1:-0}" ]
p3=$("$FTC" plan "$W/z3_4.ft" --dtype f64 --ranks 4 --json | sed -n 's/.*"rank_arena_bytes": \([0-9]*\).*/\1/p')
check "zero 3: less again ($p3 < $p4 B)" [ "${p3:-0}" -lt "${p4:-0}" ]
"$FTC" plan "$W/z2_4.ft" --ranks 4 > "$W/plan.txt"
check "ftc plan --ranks prints the per-rank table" grep -q "per rank of 4 (zero stage 2" "$W/plan.txt"
"$FTC" passes > "$W/passes.txt"
check "ftc passes lists zero as implemented" grep -q "^zero .*implemented" "$W/passes.txt"

# -- 3. saved at 4 ranks, resumed at 2 and 1 ------------------------------------
$MPIRUN -n 4 "$W/z2_4" --out "$W/rs" --threads 1 --stop-at 5 > "$W/rs.log" 2>&1
check "4 ranks stop at step 5 with a sharded checkpoint" \
  [ $? = 0 -a -s "$W/rs/ckpt.safetensors" -a -s "$W/rs/ckpt.step00000005.rank3-of-4.safetensors" ]
cp -r "$W/rs" "$W/rs2"; cp -r "$W/rs" "$W/rs1"; cp -r "$W/rs" "$W/rsx"
$MPIRUN -n 2 "$W/z2_2" --out "$W/rs2" --threads 1 --resume > "$W/rs2.log" 2>&1
check "resumed at 2 ranks (batch 2): exit 0, resharded" [ $? = 0 ] && grep -q "resharded the optimizer state from 4 to 2 ranks" "$W/rs2.log"
check "4 -> 2 ranks: steps 1-10 equal the uninterrupted 4-rank run (1e-9)" \
  same_losses "$W/rs2/metrics.jsonl" "$W/z2_4.out/metrics.jsonl" 1e-9
"$W/z2_1" --out "$W/rs1" --threads 1 --resume > "$W/rs1.log" 2>&1
check "resumed at 1 rank (batch 4): exit 0" [ $? = 0 ]
check "4 -> 1 rank: steps 1-10 equal the uninterrupted 4-rank run (1e-9)" \
  same_losses "$W/rs1/metrics.jsonl" "$W/z2_4.out/metrics.jsonl" 1e-9
check "the 2-rank resume wrote 2 shards and removed the 4 old ones" \
  [ -s "$W/rs2/ckpt.step00000010.rank1-of-2.safetensors" -a ! -e "$W/rs2/ckpt.step00000005.rank0-of-4.safetensors" ]
cp -r "$W/rs" "$W/rsy"
$MPIRUN -n 2 "$W/z2_4" --out "$W/rsx" --threads 1 --resume > "$W/rsx.log" 2>&1
check "the same trainer on 2 ranks keeps the global batch of 4 with 2 micro-batches (exit $?)" \
  grep -q "its steps took 4 rows (the global batch); 2 ranks x batch 1 take them in 2 micro-batches" "$W/rsx.log"
check "... and continues the uninterrupted 4-rank run (1e-9)" \
  same_losses "$W/rsx/metrics.jsonl" "$W/z2_4.out/metrics.jsonl" 1e-9
$MPIRUN -n 3 "$W/z2_4" --out "$W/rsy" --threads 1 --resume > "$W/rsy.log" 2>&1
rc=$?
check "on 3 ranks (4 rows do not split in 3) it is refused (exit $rc)" [ $rc != 0 ]
check "... with the reason and the way out" \
  grep -q "took 4 rows per step (its global batch) and this run takes 3 (3 ranks x batch 1).*resume on 4 ranks" "$W/rsy.log"

# stage 3: the weights are sharded too; resumed at 2 ranks and by the plain
# 1-rank trainer (no zero), which assembles whole tensors from the slices
$MPIRUN -n 4 "$W/z3_4" --out "$W/s3" --threads 1 --stop-at 5 > "$W/s3.log" 2>&1
check "zero 3: 4 ranks stop at step 5" [ $? = 0 -a -s "$W/s3/ckpt.step00000005.rank0-of-4.safetensors" ]
cp -r "$W/s3" "$W/s3b"; cp -r "$W/s3" "$W/s3c"
$MPIRUN -n 2 "$W/z3_2" --out "$W/s3b" --threads 1 --resume > "$W/s3b.log" 2>&1
check "zero 3: 4 -> 2 ranks equals the uninterrupted run (1e-9)" \
  same_losses "$W/s3b/metrics.jsonl" "$W/z3_4.out/metrics.jsonl" 1e-9
"$W/ref" --out "$W/s3c" --threads 1 --resume > "$W/s3c.log" 2>&1
check "zero 3 at 4 ranks -> the plain 1-rank trainer equals it too (1e-9)" \
  same_losses "$W/s3c/metrics.jsonl" "$W/z3_4.out/metrics.jsonl" 1e-9
"$W/z3_2" eval --out "$W/z3_4.out" > "$W/ev3.out" 2>&1
"$W/ref" eval --out "$W/z3_4.out" > "$W/evr.out" 2>&1
check "zero 3's model.safetensors (gathered): its eval = the plain trainer's" \
  [ -n "$(grep val_loss "$W/ev3.out")" ] && cmp -s "$W/ev3.out" "$W/evr.out"

# -- 4. a rank killed mid-step ----------------------------------------------------
t0=$(date +%s)
FTC_COMM_TIMEOUT=20 FTC_FAULT_KILL=1:5 $MPIRUN -n 2 "$W/z2_2" --out "$W/k" --threads 1 \
  --save-every 2 > "$W/k.log" 2>&1
rc=$?; took=$(( $(date +%s) - t0 ))
check "rank 1 SIGKILLed in step 5: the job fails (exit $rc) within the 20 s timeout (${took} s)" \
  [ $rc != 0 -a $took -lt 20 ]
check "... the launcher names the rank that died" grep -q "rank 1 .* exited on signal 9" "$W/k.log"
# the survivor speaks when it is inside a collective before mpirun ends it
# (timing: under ASan it is often still computing)
check "... rank 0, if it got to speak, names its lost peer and host" \
  sh -c "! grep -q 'rank 0: a signal arrived' '$W/k.log' || grep -q 'rank 0: .*peers: rank 1 on ' '$W/k.log'"
check "the last checkpoint is step 4's" [ -s "$W/k/ckpt.step00000004.rank1-of-2.safetensors" ]
$MPIRUN -n 2 "$W/z2_2" --out "$W/k" --threads 1 --resume > "$W/k2.log" 2>&1
check "the previous checkpoint loads and resumes (exit $?)" grep -q "resumed from .* at step 4" "$W/k2.log"
check "... to the uninterrupted run's losses (1e-9)" \
  same_losses "$W/k/metrics.jsonl" "$W/z2_2.out/metrics.jsonl" 1e-9

# -- 5. launches that cannot work ------------------------------------------------
RANK=0 WORLD_SIZE=2 "$W/dp_2" --out "$W/tr" > "$W/tr.log" 2>&1
check "torchrun-style variables on CPU ranks: refused (exit $?)" \
  grep -q "CPU ranks communicate through MPI; start them with mpirun or srun" "$W/tr.log"
OMPI_COMM_WORLD_RANK=4 OMPI_COMM_WORLD_SIZE=2 "$W/dp_2" --out "$W/tr" > "$W/tr2.log" 2>&1
check "an inconsistent launcher environment is refused" grep -q "is not below" "$W/tr2.log"
"$W/z2_2" gradcheck > "$W/gc.log" 2>&1
check "gradcheck of a zero 2 trainer is refused with the reason (exit $?)" grep -q "which zero(stage: 2) frees" "$W/gc.log"
echo "dist: $pass passed, $fail failed"
[ $fail = 0 ]
