#!/usr/bin/env bash
# bench/gpu.sh -- ftc's GPU benchmark: GPT-2 124M full fine-tuning at B16
# T1024 (AdamW) and GPT-2 774M at the largest batch ftc's plan fits in 120
# GiB, ftc's trainer side by side with PyTorch eager and torch.compile on the
# same GPU in the same run. Reports tokens/s, MFU and peak memory.
#
# One idea: every configuration runs in its own process on the same shapes
# and optimizer, prints tokens/s over the steps after warm-up and its peak
# device memory, and one table joins them. ftc's trainers come prebuilt in
# the bundle tests/gpu/run --prepare makes (the GPU machine cannot build
# them); PyTorch is the machine's own (2.11 on the H200 image).
#
# Precision: ftc's CUDA step is fp32 today (bf16 waits for the
# mixed_precision pass); it runs with FTC_CUDA_TF32=1 (TF32 products,
# fp32 storage and accumulation). The peers run fp32+TF32 (the same
# arithmetic) and bf16 autocast with fused AdamW (what people use). MFU is
# model FLOPs (6 N + 12 L C T per token, N = parameters) over the GPU's
# dense bf16 peak (H100/H200 SXM: 989 TFLOP/s; FTC_PEAK_TFLOPS overrides).
#
# usage: bench/gpu.sh [--bundle DIR] [--quick] [--steps N] [--shapes "124m 774m"]
#   --quick: 124M only, fewer steps, no torch.compile of 774M (tests/gpu/run)
set -u
bundle=""
quick=0
steps=20
shapes="124m 774m"
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=${2:?}; shift 2 ;;
    --quick) quick=1; shift ;;
    --steps) steps=${2:?}; shift 2 ;;
    --shapes) shapes=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
[ -z "$bundle" ] && { [ -x "$here/bin/gpt2" ] && bundle=$here || bundle=$here/../gpu; }
bundle=$(cd "$bundle" 2>/dev/null && pwd) || { echo "gpu.sh: no bundle (tests/gpu/run --prepare)"; exit 2; }
[ -d "$bundle/lib" ] || (cd "$bundle" && tar xzf lib.tar.gz) || exit 2
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
torch_py=$bundle/torch_gpt2.py
[ -f "$torch_py" ] || torch_py=$here/torch_gpt2.py
peak=${FTC_PEAK_TFLOPS:-989}
[ $quick = 1 ] && { shapes=124m; steps=10; }
W=$bundle/w/bench
mkdir -p "$W"
res=$W/results.tsv
: > "$res"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)

# model FLOPs per token for GPT-2 of L layers, width C, N params, context T
flops_per_token() { awk -v n="$1" -v l="$2" -v c="$3" -v t="$4" 'BEGIN { printf "%.6g", 6 * n + 12 * l * c * t }'; }

for s in $shapes; do
  case $s in
    124m) L=12; H=12; C=768 ;;
    774m) L=36; H=20; C=1280 ;;
    *) echo "gpu.sh: unknown shape $s"; continue ;;
  esac
  B=$(cat "$bundle/bench_$s.batch" 2>/dev/null || echo 16)
  T=1024
  # -- ftc ------------------------------------------------------------------------
  t=$bundle/bin/bench_$s
  if [ -x "$t" ]; then
    FTC_CUDA_TF32=1 timeout 600 "$t" --device cuda --steps $((steps + 5)) --out "$W/ftc_$s" \
      --log-every 1 > "$W/ftc_$s.log" 2>&1
    tps=$(grep -o '"tokens_per_s": [0-9.]*' "$W/ftc_$s/metrics.jsonl" 2>/dev/null | tail -n "$steps" |
          sed 's/.*: //' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
    mem=$(sed -n 's/^device memory: planned .*, measured \([0-9.]* [KMG]iB\).*/\1/p' "$W/ftc_$s.log")
    np=$(sed -n 's/^plan: \([0-9]*\) parameters.*/\1/p' <("$t" --help 2>/dev/null))
    printf "%s\tftc fp32+tf32 (flash_attention, graphs)\t%s\t%s\t%s\t%s\n" "$s B$B" "${tps:-failed}" \
      "${mem:-?}" "${np:-0}" "$L $C $T" >> "$res"
  fi
  # -- PyTorch peers ------------------------------------------------------------------
  for cfg in "fp32+tf32 eager|--precision tf32" "bf16 eager|--precision bf16" \
             "bf16 torch.compile|--precision bf16 --compile"; do
    name=${cfg%%|*}; args=${cfg#*|}
    [ $quick = 1 ] && [ "$s" = 774m ] && case $args in *compile*) continue ;; esac
    timeout 600 python3 "$torch_py" --device cuda --impl hf --attn sdpa --fused \
      --layers $L --heads $H --dim $C --batch "$B" --seq $T --steps "$steps" --threads 8 \
      $args > "$W/torch_${s}_${name// /_}.json" 2> "$W/torch_${s}_${name// /_}.err"
    j=$(tail -n 1 "$W/torch_${s}_${name// /_}.json")
    tps=$(echo "$j" | sed -n 's/.*"tokens_per_s": \([0-9.]*\).*/\1/p')
    mem=$(echo "$j" | sed -n 's/.*"gpu_peak_mb": \([0-9.]*\).*/\1 MiB/p')
    np=$(echo "$j" | sed -n 's/.*"params": \([0-9]*\).*/\1/p')
    printf "%s\ttorch %s (HF GPT2, SDPA, fused AdamW)\t%s\t%s\t%s\t%s\n" "$s B$B" "$name" \
      "${tps:-failed}" "${mem:-?}" "${np:-0}" "$L $C $T" >> "$res"
  done
done

{
  echo "GPU benchmark ($(date -u +%Y-%m-%d), ${gpu:-unknown GPU}; MFU vs ${peak} TFLOP/s dense bf16)"
  echo
  echo "| shape | runner | tokens/s | MFU | peak device memory |"
  echo "|---|---|---:|---:|---:|"
  while IFS=$'\t' read -r shape runner tps mem np lct; do
    set -- $lct
    fpt=$(flops_per_token "${np:-0}" "$1" "$2" "$3")
    mfu=$(awk -v t="$tps" -v f="$fpt" -v p="$peak" 'BEGIN { if (t ~ /^[0-9.]+$/ && f > 0) printf "%.1f%%", 100 * t * f / (p * 1e12); else print "-" }')
    echo "| $shape | $runner | $tps | $mfu | $mem |"
  done < "$res"
} | tee "$bundle/bench.md"
