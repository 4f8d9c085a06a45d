#!/bin/sh
# tests/cuda/run.sh -- the CUDA backend proven without a GPU: every generated
# kernel of the stdlib models and example recipes compiles with NVRTC for
# sm_80 and sm_90 (and a rebuild reads them from the kernel cache); every op
# of the CUDA step, run alone under --device emu, matches the CPU backend
# (`trainer devcheck`, f32 1e-5 and f64 1e-12 relative to each tensor's
# scale); 20 steps of a tiny GPT-2 and a tiny LLaMA under emu (plain, with
# flash_attention, every optimizer) give the CPU backend's losses to 1e-4;
# checkpoints move between devices; eval and sampling agree; --device cuda
# without a GPU is one line and exit 3. Skips (77) with the reason where ftc
# was configured without the CUDA toolkit. Ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
. "$SRC/tests/lib.sh"
if ! grep -q '^#define HAVE_CUDA 1' "$BUILD/config.h"; then
  echo "CUDA tests skipped: ftc was configured without the CUDA toolkit (NVRTC, cuBLASLt headers"
  echo "and libraries under --with-cuda=DIR, default /usr/local/cuda); the CPU backend is tested"
  exit 77
fi
W=$BUILD/cuda
rm -rf "$W" && mkdir -p "$W/tmp" || exit 1
# trainers here carry device code (tests/run.sh builds CPU-only by default);
# a fresh kernel cache, so NVRTC really runs
export TMPDIR="$W/tmp" FTC_CACHE_DIR="$W/cache" FTC_ARCH=sm_90
P="the quick brown fox jumps over the lazy dog. "
awk -v p="$P" 'BEGIN { for (i = 0; i < 200; i++) printf "%s", p }' > "$W/pattern.txt"
cp "$SRC"/tests/cuda/*.ft "$W/"
build() { # name, recipe, ftc build args...
  _b=$1; _r=$2; shift 2
  if FTC_BUILD_STATS=1 "$FTC" build "$_r" -o "$W/$_b" "$@" > "$W/$_b.build" 2>&1; then return 0; fi
  bad "ftc build $_b $*:"; sed 's/^/  | /' "$W/$_b.build" | head -20; return 1
}
# losses of a metrics file, one per line (steps and evals)
losses() { grep -o '"\(val_\)\{0,1\}loss": [^,}]*' "$1" | sed 's/.*: //'; }
# every line of $1 within $3 (relative) of the same line of $2, same count
all_close() {
  [ "$(wc -l < "$1")" = "$(wc -l < "$2")" ] && [ -s "$1" ] || return 1
  paste "$1" "$2" | awk -v t="$3" '{ d = $1 - $2; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2;
    if (!($1 ~ /^-?[0-9]/) || d > t * m) bad = 1 } END { exit bad }'
}

# -- 1. NVRTC: the stdlib models at real shapes and the example recipes -------
# (once: the sanitizer build of ftc runs the same NVRTC on the same text)
t0=$(date +%s)
if grep -q '^#define FTC_SANITIZE 1' "$BUILD/config.h"; then
  echo "note: sanitizer build: the NVRTC builds of the full-size models run in the plain suite"
else
build gpt2_small "$W/gpt2_small.ft" --arch sm_80,sm_90 &&
  check "GPT-2 124M: every kernel compiles with NVRTC for sm_80 and sm_90" \
    grep -q "2 images compiled, 0 cached" "$W/gpt2_small.build"
build llama_7b "$W/llama_7b.ft" --arch sm_80,sm_90 &&
  check "LLaMA 7B shapes (head dim 128, GQA off): every kernel compiles for sm_80 and sm_90" \
    grep -q "2 images compiled, 0 cached" "$W/llama_7b.build"
for ex in "$SRC"/examples/*.ft; do
  e=$(basename "$ex" .ft)
  if ! FTC_ARCH=none "$FTC" build "$ex" -o "$W/ex_cpu" > "$W/ex_$e.cpu" 2>&1; then
    echo "note: examples/$e.ft does not build yet on any backend (skipped): $(head -n 1 "$W/ex_$e.cpu")"
    continue
  fi
  if FTC_BUILD_STATS=1 "$FTC" build "$ex" -o "$W/ex_$e" --arch sm_80,sm_90 > "$W/ex_$e.build" 2>&1
  then
    check "examples/$e.ft: every kernel compiles for sm_80 and sm_90" \
      grep -q "2 images compiled" "$W/ex_$e.build"
  else # an op the generator refuses: one clear line, exit 1
    check "examples/$e.ft refused for the device, saying why: $(sed -n 's/.*error: //p' "$W/ex_$e.build" | head -n 1 | cut -c1-90)" \
      grep -q "error: --arch sm_80,sm_90: no CUDA kernel for op" "$W/ex_$e.build"
  fi
done
echo "NVRTC builds took $(( $(date +%s) - t0 )) s"
t0=$(date +%s)
build gpt2_small_again "$W/gpt2_small.ft" --arch sm_80,sm_90 &&
  check "a rebuild with unchanged kernels reads both images from the kernel cache" \
    grep -q "0 images compiled, 2 cached" "$W/gpt2_small_again.build"
echo "cached rebuild of GPT-2 124M took $(( $(date +%s) - t0 )) s"
check "same recipe, same trainer binary (cubins included)" cmp -s "$W/gpt2_small" "$W/gpt2_small_again"
"$W/gpt2_small" --help > "$W/help.out" 2>&1
check "the trainer lists its embedded images" grep -q "for sm_80, sm_90, compute_90" "$W/help.out"
fi
"$FTC" build --help > "$W/ftc_help.out" 2>&1
check "ftc build --help describes --arch" grep -q -- "--arch sm_80,sm_90" "$W/ftc_help.out"
"$FTC" build "$W/gpt2_tiny.ft" -o "$W/x" --arch sm_70 > "$W/arch.err" 2>&1
check "--arch sm_70 is refused with the rule" sh -c "[ $? = 2 ] && grep -q 'NN >= 75' '$W/arch.err'"

# -- 2. no GPU: one line, exit 3 -------------------------------------------------
build gpt2 "$W/gpt2_tiny.ft" || { echo "$pass passed, $fail failed"; exit 1; }
"$W/gpt2" --help > "$W/help.out" 2>&1
check "the trainer's --help describes --device cuda and emu" \
  sh -c "grep -q -- '--device D' '$W/help.out' && grep -q 'emu (the' '$W/help.out'"
"$W/gpt2" --device cuda --out "$W/nogpu" > "$W/nogpu.out" 2> "$W/nogpu.err"; rc=$?
check "--device cuda without a driver exits 3 (got $rc)" [ $rc = 3 ]
check "... with exactly one line on stderr, naming the driver" \
  sh -c "[ \$(wc -l < '$W/nogpu.err') = 1 ] && grep -q 'no CUDA driver' '$W/nogpu.err'"
check "... and nothing trained" [ ! -e "$W/nogpu/metrics.jsonl" ]
CUDA_DIR=$(sed -n 's/^#define FTC_CUDA_DIR "\(.*\)"/\1/p' "$BUILD/config.h")
if [ -e "$CUDA_DIR/lib64/stubs/libcuda.so" ]; then
  LD_LIBRARY_PATH="$CUDA_DIR/lib64/stubs" "$W/gpt2" --device cuda > /dev/null 2> "$W/stub.err"; rc=$?
  check "--device cuda with the toolkit's stub libcuda exits 3, one line" \
    sh -c "[ $rc = 3 ] && [ \$(wc -l < '$W/stub.err') = 1 ] && grep -q stub '$W/stub.err'"
fi
"$W/gpt2" --device tpu > /dev/null 2> "$W/tpu.err"
check "--device tpu is a usage error naming the devices" sh -c "[ $? = 2 ] && grep -q 'cpu, cuda, cuda:N, emu' '$W/tpu.err'"
"$W/gpt2" gradcheck --device emu > /dev/null 2> "$W/gc.err"
check "gradcheck --device emu is refused (gradcheck is the CPU's)" [ $? = 2 ]

# -- 3. op by op: every site of the step under emu against the CPU -------------
# The union of the ops checked must be every op the CUDA generator emits.
: > "$W/ops.seen"
devcheck() { # name recipe [build args]: build and run devcheck --device emu
  n=$1; r=$2; shift 2
  build "dc_$n" "$r" "$@" || return
  "$W/dc_$n" devcheck --device emu --threads 1 > "$W/dc_$n.out" 2>&1; rc=$?
  res=$(tail -n 1 "$W/dc_$n.out")
  if [ $rc = 0 ] && grep -q " 0 failed" "$W/dc_$n.out"; then ok "devcheck $n $*: $res"
  else bad "devcheck $n $* (exit $rc): $res"; grep -E "OVER|error" "$W/dc_$n.out" | head -8 | sed 's/^/  | /'; fi
  sed -n '/^op /,/passed/p' "$W/dc_$n.out" | awk 'NR > 1 && NF > 3 && !/ passed, / { print $1 }' |
    tr '+' '\n' >> "$W/ops.seen" # a fused site names its ops a+b
}
for r in gpt2_2layer llama_tiny flash_attention_gpt2 flash_attention_llama flash_attention_full \
         flash_attention_long attention_gqa attention_long lm_head_untied cross_entropy \
         elementwise concat sum mean slice permute; do
  devcheck "$r" "$SRC/tests/ops/$r.ft"
done
devcheck gpt2_f64 "$SRC/tests/ops/gpt2_2layer.ft" --dtype f64
devcheck llama_f64 "$SRC/tests/ops/flash_attention_llama.ft" --dtype f64
# passes on main that change the step: checkpoint's recomputation in the
# backward (the forward's ops again, at the segment's offsets)
for r in gpt2_2layer flash_attention_llama; do
  sed "s#\"\\.\\./data/#\"$SRC/tests/data/#" "$SRC/tests/ops/$r.ft" | awk '
    { print } /^passes {/ { print "  checkpoint(every: 1)"; p = 1 }
    END { if (!p) print "passes {\n  checkpoint(every: 1)\n}" }' > "$W/ck_$r.ft"
  devcheck "ck_$r" "$W/ck_$r.ft"
done
# what the generator emits: the ops its emitter() names
# (compiler/codegen/cg_cuda.c); every other op of ops.def but leaves, views
# and workspaces is refused (below: an error with --arch, else a CPU-only
# trainer), never run as something else
sed -n '/^static Emit emitter/,/^}/s/.*case IR_\([A-Z_0-9]*\):.*/\1/p' \
  "$SRC/compiler/codegen/cg_cuda.c" | LC_ALL=C sort -u > "$W/ops.enum"
sed -n 's/^OP(\([A-Z_0-9]*\), *"\([a-z_0-9]*\)".*/\1 \2/p' "$SRC/compiler/ops.def" | LC_ALL=C sort > "$W/ops.def"
LC_ALL=C join "$W/ops.enum" "$W/ops.def" | awk '{ print $2 }' | sort -u > "$W/ops.all"
refused=$(LC_ALL=C join -v 2 "$W/ops.enum" "$W/ops.def" | awk '{ print $2 }' |
  grep -v -x -E 'input|param|reshape|scratch|after' | tr '\n' ' ')
echo "  (ops the CUDA generator refuses: ${refused:-none})"
sort -u "$W/ops.seen" > "$W/ops.got"
missing=$(comm -23 "$W/ops.all" "$W/ops.got" | tr '\n' ' ')
check "every op of the CUDA step was checked under emu ($(wc -l < "$W/ops.got") ops${missing:+; missing: $missing})" \
  [ -z "$missing" ]

# ops without a CUDA kernel yet (the collectives of zero): an error with
# --arch, else a CPU-only trainer whose --device error names the op
{ sed '/^train {/,$d' "$W/gpt2_tiny.ft"; printf 'train {\n  steps 2\n  optimizer sgd(lr: 1e-2)\n}\n'
  printf 'passes {\n  zero(stage: 1)\n}\n'; } > "$W/zero.ft"
"$FTC" build "$W/zero.ft" -o "$W/zero_arch" --arch sm_90 > "$W/zero_arch.err" 2>&1; rc=$?
check "an op without a CUDA kernel (zero's grad_sync) with --arch: exit 1 naming it (got $rc)" \
  sh -c "[ $rc = 1 ] && grep -q 'error: --arch sm_90: no CUDA kernel for op grad_sync' '$W/zero_arch.err' && [ ! -e '$W/zero_arch' ]"
"$FTC" build "$W/zero.ft" -o "$W/zero_def" > "$W/zero_def.err" 2>&1; rc=$?
check "... without --arch: a warning and a CPU-only trainer (exit $rc)" \
  sh -c "[ $rc = 0 ] && grep -q 'warning: no CUDA kernel for op grad_sync' '$W/zero_def.err'"
"$W/zero_def" --device emu --out "$W/zero_run" > /dev/null 2> "$W/zero_emu.err"; rc=$?
check "... whose --device emu is a usage error naming the op (exit $rc)" \
  sh -c "[ $rc = 2 ] && grep -q 'built without CUDA support (no CUDA kernel for op grad_sync' '$W/zero_emu.err'"
"$W/zero_def" --steps 1 --out "$W/zero_run" --quiet > /dev/null 2>&1
check "... and trains on the CPU" [ $? = 0 ]
RANK=0 LOCAL_RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 \
  "$W/gpt2" --device emu --out "$W/ranks" > /dev/null 2> "$W/ranks.err"; rc=$?
check "ranks on a device are refused (no collectives on the device step yet; exit $rc)" \
  sh -c "[ $rc = 1 ] && grep -q 'ranks on a device are not supported yet' '$W/ranks.err'"
"$W/gpt2" --device emu --accumulate 2 --steps 1 --out "$W/acc" > /dev/null 2> "$W/acc.err"; rc=$?
check "micro-batches on a device are refused (its gradients are written, not added; exit $rc)" \
  sh -c "[ $rc = 3 ] && grep -q 'micro-batches per update (accumulate) are not supported on a device' '$W/acc.err'"

# -- 4. whole runs: 20 steps under emu = the CPU backend's losses --------------
build llama "$W/llama_tiny.ft"
for m in gpt2 llama; do
  { cat "$W/${m}_tiny.ft"; printf 'passes {\n  flash_attention\n}\n'; } > "$W/${m}_fa.ft"
done
sed 's/optimizer adamw(lr: 1e-2, betas: (0.9, 0.95), weight_decay: 0.1)/optimizer sgd(lr: 3e-2, momentum: 0.9, weight_decay: 0.01)/' "$W/gpt2_tiny.ft" > "$W/gpt2_sgd.ft"
sed 's/optimizer adamw(lr: 1e-2, betas: (0.9, 0.95), weight_decay: 0.1)/optimizer adagrad(lr: 3e-2)/' "$W/llama_tiny.ft" > "$W/llama_adagrad.ft"
build gpt2_fa "$W/gpt2_fa.ft"; build llama_fa "$W/llama_fa.ft"
build gpt2_sgd "$W/gpt2_sgd.ft"; build llama_adagrad "$W/llama_adagrad.ft"
for m in gpt2 llama gpt2_fa llama_fa gpt2_sgd llama_adagrad; do
  "$W/$m" --out "$W/r_${m}_cpu" --threads 1 --quiet > /dev/null 2>&1
  "$W/$m" --out "$W/r_${m}_emu" --threads 1 --quiet --device emu > "$W/r_${m}_emu.log" 2>&1; rc=$?
  losses "$W/r_${m}_cpu/metrics.jsonl" > "$W/$m.cpu"; losses "$W/r_${m}_emu/metrics.jsonl" > "$W/$m.emu"
  check "$m: 20 steps + 2 evals under emu (exit $rc) = CPU losses to 1e-4 ($(tail -n 1 "$W/$m.cpu") vs $(tail -n 1 "$W/$m.emu"))" \
    all_close "$W/$m.emu" "$W/$m.cpu" 1e-4
done
FTC_GRAPHS=0 "$W/gpt2" --out "$W/r_nograph" --threads 1 --quiet --device emu > /dev/null 2>&1
losses "$W/r_nograph/metrics.jsonl" > "$W/nograph.emu"
check "graphs replayed (default) and direct calls (FTC_GRAPHS=0) give the same bits" \
  cmp -s "$W/nograph.emu" "$W/gpt2.emu"
FTC_EMU_EPILOGUE_APART=1 "$W/gpt2" --out "$W/r_apart" --threads 1 --quiet --device emu > /dev/null 2>&1
losses "$W/r_apart/metrics.jsonl" > "$W/apart.emu"
check "bias and bias-gradient epilogues run apart (a cuBLASLt refusing them) give the same bits" \
  cmp -s "$W/apart.emu" "$W/gpt2.emu"
"$W/gpt2" --steps 3 --out "$W/r_mem" --device emu --threads 1 > "$W/r_mem.log" 2>&1
check "startup line: device memory planned vs measured" grep -q "^device memory: planned .* measured" "$W/r_mem.log"
planned=$(sed -n 's/^device arena: planned .* (\([0-9]*\) B), measured .* (\([0-9]*\) B)$/\1 \2/p' "$W/r_mem.log")
check "device arena measured <= planned ($planned)" \
  awk -v p="$planned" 'BEGIN { split(p, a, " "); exit !(a[1] > 0 && a[2] > 0 && a[2] <= a[1]) }'

# -- 5. checkpoints, eval, sampling across devices -------------------------------
"$W/llama" --out "$W/x_emu" --stop-at 10 --device emu --threads 1 --quiet > /dev/null 2>&1 &&
  "$W/llama" --out "$W/x_emu" --resume --threads 1 --quiet > "$W/x_emu.log" 2>&1
check "a checkpoint written under emu resumes on the CPU" [ $? = 0 ]
losses "$W/x_emu/metrics.jsonl" > "$W/x_emu.l"
check "... and the 20 steps match the CPU run to 1e-4" all_close "$W/x_emu.l" "$W/llama.cpu" 1e-4
"$W/llama" --out "$W/x_cpu" --stop-at 10 --threads 1 --quiet > /dev/null 2>&1 &&
  "$W/llama" --out "$W/x_cpu" --resume --device emu --threads 1 --quiet > /dev/null 2>&1
check "a CPU checkpoint resumes under emu" [ $? = 0 ]
losses "$W/x_cpu/metrics.jsonl" > "$W/x_cpu.l"
check "... and the 20 steps match the CPU run to 1e-4" all_close "$W/x_cpu.l" "$W/llama.cpu" 1e-4
"$W/gpt2" eval --out "$W/r_gpt2_cpu" > "$W/ev_cpu" 2>&1
"$W/gpt2" eval --out "$W/r_gpt2_cpu" --device emu > "$W/ev_emu" 2>&1
check "eval under emu = eval on the CPU ($(tail -n 1 "$W/ev_emu"))" \
  close "$(sed -n 's/^val_loss //p' "$W/ev_emu")" "$(sed -n 's/^val_loss //p' "$W/ev_cpu")" 1e-5
"$W/gpt2" sample --out "$W/r_gpt2_cpu" --prompt "the quick" --tokens 40 --temperature 0 > "$W/s_cpu" 2>&1
"$W/gpt2" sample --out "$W/r_gpt2_cpu" --prompt "the quick" --tokens 40 --temperature 0 --device emu > "$W/s_emu" 2>&1
check "greedy sampling under emu = on the CPU" \
  sh -c "[ -n \"\$(tail -n 1 '$W/s_cpu')\" ] && [ \"\$(tail -n 1 '$W/s_cpu')\" = \"\$(tail -n 1 '$W/s_emu')\" ]"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
