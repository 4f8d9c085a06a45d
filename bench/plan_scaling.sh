#!/bin/sh
# bench/plan_scaling.sh -- compile time against graph size: `ftc plan` and
# `ftc build --emit-c` (C generation, no C compiler) of GPT-2 recipes from
# 250 to 8000 layers, each the best of a few runs.
#
# One idea: a deep model is the same block repeated, so the ops of the
# schedule grow linearly with the layers and so should every stage; the
# table's last column (microseconds per scheduled op) stays flat when they
# do and grows when something is quadratic.
#
# usage: bench/plan_scaling.sh [--layers "250 500 1000 2000 4000 8000"] [--runs N]
#                              [--no-build]
# env:   FTC=path/to/ftc (default build/ftc); FTC_BASE=another ftc to time
#        side by side (e.g. one built from an older commit).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
FTC=${FTC:-$root/build/ftc}
layers="250 500 1000 2000 4000 8000"
runs=3
build=1
while [ $# -gt 0 ]; do
  case $1 in
    --layers) layers=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "usage: bench/plan_scaling.sh [--layers LIST] [--runs N] [--no-build]" >&2; exit 2 ;;
  esac
done
[ -x "$FTC" ] || { echo "plan_scaling.sh: no ftc at $FTC (make first)" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/ftc-plan-scaling.XXXXXX")
trap 'rm -rf "$T"' EXIT

now() { date +%s%N; }
# best wall time in seconds of `runs` runs of the command
best() {
  b=""
  i=0
  while [ $i -lt "$runs" ]; do
    t0=$(now)
    "$@" > /dev/null 2>&1 || { echo fail; return; }
    t=$(( $(now) - t0 ))
    if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
    i=$((i + 1))
  done
  awk -v t="$b" 'BEGIN { printf "%.3f", t / 1e9 }'
}

echo "# $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1 /proc/loadavg)"
echo "# GPT-2 (vocab 256, ctx 64, dim 32, 2 heads), AdamW; best of $runs runs"
printf '%-7s %-8s %-9s %-9s %-9s %s\n' layers ops plan_s build_s base_plan us/op
for L in $layers; do
  f=$T/L$L.ft
  cat > "$f" <<EOF
use gpt2
model = gpt2.gpt2(vocab: 256, ctx: 64, layers: $L, heads: 2, dim: 32)
weights = init(seed: 1)
data train = text("x.txt", tokenizer: bytes, seq: 64, batch: 2)
train {
  steps 10
  optimizer adamw(lr: 1e-3)
}
EOF
  ops=$("$FTC" plan "$f" 2>/dev/null | sed -n 's/.*peak at op [0-9]* of \([0-9]*\).*/\1/p')
  p=$(best "$FTC" plan "$f")
  b=-
  [ $build = 1 ] && b=$(best env FTC_CC=true "$FTC" build "$f" -o "$T/x" --emit-c "$T/x.c")
  base=-
  [ -n "${FTC_BASE:-}" ] && base=$(best "$FTC_BASE" plan "$f")
  us=$(awk -v p="$p" -v n="${ops:-0}" 'BEGIN { if (n > 0 && p != "fail") printf "%.2f", p * 1e6 / n; else print "-" }')
  printf '%-7s %-8s %-9s %-9s %-9s %s\n' "$L" "${ops:--}" "$p" "$b" "$base" "$us"
done
