#!/usr/bin/env bash
# bench/cpu_gpt2.sh -- ftc's CPU benchmark: GPT-2 training tokens/s and peak
# RSS, ftc's trainer side by side with PyTorch CPU peers, one command.
#
# One idea: every configuration (ftc trainer or PyTorch peer, per shape) runs
# in its own fresh process with the same threads, model, optimizer (AdamW
# lr 3e-4, betas (0.9, 0.95), eps 1e-8, wd 0.1), batch and fp32, and reports
# one JSON line (median tokens/s after warm-up, peak RSS); bench/report.py
# joins those lines into a table with ftc/peer ratios. A runner that is
# missing or fails is reported as unavailable and the others still run.
#
# Shapes:  small = L6 H6 C384, B8 T256;  124m = L12 H12 C768, B4 T256; vocab 50257
#          t256, t1024, t4096 = small's width at T = 256, 1024, 4096 with 4096
#          tokens per step (B16, B4, B1): the sequence-length sweep (--sweep)
#          (tiny = L2 H2 C64, B2 T64: a seconds-long smoke test of the harness).
# Runners: ftc                 build/ftc build bench/gpt2_<shape>.ft, run the trainer
#          ftc-composite       the same recipe without its passes block: attention as
#                              the unfused composite instead of flash_attention
#          debian-*            /usr/bin/python3 with Debian's python3-torch (BLAS =
#                              whatever libblas.so.3 points at; OpenBLAS expected)
#          pypi-*              PyPI torch + transformers in the shared test virtualenv
#                              (tests/venv.sh: $FTC_VENV or ~/.cache/ftc/venv, made on
#                              first use; ~3 GB of wheels, CUDA included)
#          *-hf-*              transformers' GPT2LMHeadModel; *-plain-*: own module
#          *-explicit / -sdpa  materialized attention / fused SDPA; *-compile: torch.compile
#
# ftc runs with FTC_PROFILE=1: the table shows the fused attention's GFLOP/s
# (flash_attention + its backward, the profiler's flops over their seconds)
# and its share of the step next to the ratios.
# --repeat N runs every shape N times, ftc and the peers interleaved (the
# order reversed every other round); the table gives each runner's median
# and each ratio's median (and range) over the rounds, ftc and the peer
# paired by round.
#
# usage: bench/cpu_gpt2.sh [--shapes "small 124m" | --sweep] [--steps N] [--warmup W]
#                          [--threads T] [--peers a,b,...] [--repeat N] [--no-ftc]
#                          [--no-venv]
# env:   FTC=path/to/ftc (default build/ftc)
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shapes="small 124m"
steps=3
warmup=2
threads=2
run_ftc=1
make_venv=1
repeat=1
peers="ftc-composite,debian-plain-explicit,pypi-hf-explicit,pypi-hf-sdpa,pypi-plain-explicit,pypi-plain-sdpa,pypi-plain-explicit-compile,pypi-hf-sdpa-compile"
sweep_peers="pypi-plain-explicit-compile,pypi-plain-sdpa-compile,debian-plain-explicit"
peers_set=0

die() { echo "cpu_gpt2.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=${2:?}; shift 2 ;;
    --sweep) shapes="t256 t1024 t4096"; [ $peers_set = 1 ] || peers=$sweep_peers; shift ;;
    --repeat) repeat=${2:?}; shift 2 ;;
    --steps) steps=${2:?}; shift 2 ;;
    --warmup) warmup=${2:?}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    --peers) peers=${2:?}; peers_set=1; shift 2 ;;
    --no-ftc) run_ftc=0; shift ;;
    --no-venv) make_venv=0; shift ;;
    -h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

ftc=${FTC:-$root/build/ftc}
# shellcheck source=../tests/venv.sh
. "$root/tests/venv.sh"  # VENV, PY, venv_have, venv_need
shard=$here/data/random_50257.bin
stamp=$(date +%Y%m%d-%H%M%S)
out=$here/runs/$stamp
results=$out/results.jsonl
mkdir -p "$out" "$here/data" || die "cannot create $out"
: > "$results" || die "cannot write $results"
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads

# A plain python3 with only the standard library, for bookkeeping.
py=$(command -v python3 || echo /usr/bin/python3)

shape_args() {  # shape -> torch_gpt2.py / report.py arguments
  case "$1" in
    small) echo "--layers 6 --heads 6 --dim 384 --vocab 50257 --batch 8 --seq 256" ;;
    124m)  echo "--layers 12 --heads 12 --dim 768 --vocab 50257 --batch 4 --seq 256" ;;
    t256)  echo "--layers 6 --heads 6 --dim 384 --vocab 50257 --batch 16 --seq 256" ;;
    t1024) echo "--layers 6 --heads 6 --dim 384 --vocab 50257 --batch 4 --seq 1024" ;;
    t4096) echo "--layers 6 --heads 6 --dim 384 --vocab 50257 --batch 1 --seq 4096" ;;
    tiny)  echo "--layers 2 --heads 2 --dim 64 --vocab 50257 --batch 2 --seq 64" ;;  # smoke test
    *) die "unknown shape '$1' (small, 124m, t256, t1024, t4096, tiny)" ;;
  esac
}

# recipe SHAPE: the shape's recipe. The sweep shapes are gpt2_small.ft with
# ctx, seq and batch replaced, written next to it (its data path is
# relative to bench/).
recipe_of() {
  case "$1" in
    t*[0-9]) set -- "$1" "${1#t}" "$(shape_args "$1" | sed 's/.*--batch \([0-9]*\).*/\1/')"
             sed -e "s/ctx: 256/ctx: $2/" -e "s/seq: 256, batch: 8/seq: $2, batch: $3/" \
               "$here/gpt2_small.ft" > "$here/.gpt2_$1.ft" && echo "$here/.gpt2_$1.ft" ;;
    *) echo "$here/gpt2_$1.ft" ;;
  esac
}

# record SHAPE PEER LOG: tag the JSON line on stdin (or the log's last line as
# the error when there is none) with the round and append it to the results.
record() {
  "$py" "$here/report.py" record "$1" "$2" "$3" --round "$round" >> "$results"
}

fail() {  # fail SHAPE PEER MESSAGE
  echo "{\"error\": \"$3\"}" | record "$1" "$2" /dev/null
}

echo "== ftc CPU benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "vector flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_bf16|avx512_vnni|amx_tile)$' | tr '\n' ' ')"
echo "threads $threads, warm-up $warmup + timed $steps steps per run; logs and JSON in $out"
if command -v update-alternatives > /dev/null; then
  echo "libblas.so.3 -> $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo '?')"
fi

# ---- the peers' prerequisites ------------------------------------------
have_debian=1
/usr/bin/python3 -c 'import torch' 2> /dev/null || have_debian=0
have_pypi=1
if ! venv_have torch transformers; then
  have_pypi=0
  case ",$peers," in *,pypi-*) if [ $make_venv = 1 ]; then
    echo "making $VENV (PyPI torch + transformers, about 3 GB of wheels)..."
    BUILD=$out venv_need torch transformers && have_pypi=1
  fi ;; esac
fi

# ---- ftc ------------------------------------------------------------------
run_ftc_shape() {  # SHAPE [ftc-composite]
  local shape=$1 label=${2:-ftc} recipe log=$out/$1-${2:-ftc}.r$round.log
  local trainer=$out/gpt2_$1.${2:-ftc}.trainer
  if [ $run_ftc = 0 ]; then return; fi
  recipe=$(recipe_of "$shape") || { fail "$shape" "$label" "cannot write the $shape recipe"; return; }
  if [ "$label" = ftc-composite ]; then  # the recipe minus its passes block, next to it
    sed '/^passes {/,/^}/d' "$recipe" > "$here/.gpt2_$1.composite.ft" ||
      { fail "$shape" "$label" "cannot write $here/.gpt2_$1.composite.ft"; return; }
    recipe=$here/.gpt2_$1.composite.ft
  fi
  if [ ! -x "$ftc" ]; then fail "$shape" "$label" "ftc not built: $ftc (./configure && make)"; return; fi
  if [ ! -s "$shard" ]; then
    "$py" "$here/make_shard.py" "$shard" --vocab 50257 > "$out/shard.log" 2>&1 ||
      { fail "$shape" "$label" "cannot write $shard"; return; }
  fi
  if [ ! -x "$trainer" ] && ! "$ftc" build "$recipe" -o "$trainer" > "$log" 2>&1; then
    fail "$shape" "$label" "ftc build $recipe failed (see $log)"; return
  fi
  # From bench/, so the recipe's data/random_50257.bin resolves either way;
  # with the profiler on (its table at the end of the log).
  local rundir=$out/$label-$shape.r$round
  (cd "$here" && FTC_PROFILE=1 /usr/bin/time -f '%M %e %U %S' -o "$out/$shape-$label.rss" \
     "$trainer" --steps $((warmup + steps)) --out "$rundir" --threads "$threads") >> "$log" 2>&1
  local rc=$?
  # The trainer saves weights and optimizer state at the end (1.5 GB at
  # 124m): not needed for a benchmark, so they don't pile up in runs/.
  rm -f "$rundir"/*.safetensors
  if [ $rc != 0 ]; then fail "$shape" "$label" "trainer exited $rc (see $log)"; return; fi
  local rss util
  # /usr/bin/time: peak RSS (KiB), elapsed, user, system seconds.
  read -r rss util < <(tail -n 1 "$out/$shape-$label.rss" |
    awk '{ printf "%s %.2f\n", $1, ($2 > 0 ? ($3 + $4) / $2 : 0) }')
  # shellcheck disable=SC2046
  "$py" "$here/report.py" ftc "$rundir/metrics.jsonl" --warmup "$warmup" \
    $(shape_args "$shape" | sed 's/--layers [0-9]* --heads [0-9]* --dim [0-9]* --vocab [0-9]* //') \
    --rss-kb "${rss:-0}" --cpu-util "${util:-0}" --label "$label" --profile "$log" 2>> "$log" |
    record "$shape" "$label" "$log"
}

# ---- PyTorch peers ---------------------------------------------------------
run_peer() {  # SHAPE PEER
  local shape=$1 peer=$2 log=$out/$1-$2.r$round.log python args
  case "$peer" in
    ftc-composite) run_ftc_shape "$shape" ftc-composite; return ;;
    debian-*) [ $have_debian = 1 ] || { fail "$shape" "$peer" "python3-torch not installed (apt-get install python3-torch)"; return; }
              python=/usr/bin/python3 ;;
    pypi-*)   [ $have_pypi = 1 ] || { fail "$shape" "$peer" "no PyPI torch in $VENV"; return; }
              python=$PY ;;
    *) die "unknown peer '$peer'" ;;
  esac
  case "$peer" in
    *-hf-*) args="--impl hf" ;;
    *-plain-*) args="--impl plain" ;;
    *) die "peer '$peer' names no impl (hf, plain)" ;;
  esac
  case "$peer" in
    *-sdpa*) args="$args --attn sdpa" ;;
    *) args="$args --attn explicit" ;;
  esac
  case "$peer" in *-compile) args="$args --compile" ;; esac
  # shellcheck disable=SC2046,SC2086
  "$python" "$here/torch_gpt2.py" $(shape_args "$shape") $args --steps "$steps" \
    --warmup $([ "${peer%-compile}" != "$peer" ] && echo $((warmup + 1)) || echo "$warmup") \
    --threads "$threads" 2> "$log" | record "$shape" "$peer" "$log"
}

round=1
while [ $round -le "$repeat" ]; do
  for shape in $shapes; do
    shape_args "$shape" > /dev/null
    echo "-- $shape, round $round of $repeat: $(shape_args "$shape")"
    order="ftc ${peers//,/ }"
    # every other round the peers first: neither side always gets the
    # machine's quieter (or noisier) start
    [ $((round % 2)) = 0 ] && order="$(echo "$order" | tr ' ' '\n' | tac | tr '\n' ' ')"
    for peer in $order; do
      if [ "$peer" = ftc ]; then run_ftc_shape "$shape"; else run_peer "$shape" "$peer"; fi
    done
  done
  round=$((round + 1))
done

echo
"$py" "$here/report.py" table "$results"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine disturbs timings)"
