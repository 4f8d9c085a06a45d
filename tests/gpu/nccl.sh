#!/bin/sh
# tests/gpu/nccl.sh -- the GPU part of issue 17 (distributed), for the GPU
# runner (tests/gpu/run, issue 15) to call where GPUs are: the NCCL engine
# on one rank, then on one rank per GPU under mpirun (when there are two or
# more GPUs and MPI), then the same through the torchrun-style rendezvous
# (RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT). Exit 77 without a GPU.
# Usage: BUILD=build SRC=. sh tests/gpu/nccl.sh
: "${BUILD:?}" "${SRC:?}"
. "$SRC/tests/lib.sh"
command -v nvidia-smi > /dev/null 2>&1 || { echo "nccl: skipped: no GPU"; exit 77; }
W=$BUILD/gpu-nccl
mkdir -p "$W" || exit 1
CC=${CC:-cc}
MPIF=$(mpicc --showme:compile 2>/dev/null) MPIL=$(mpicc --showme:link 2>/dev/null)
if ! $CC -O2 -I"$BUILD" -I"$SRC/runtime" $MPIF "$SRC/tests/gpu/nccl_ranks.c" "$BUILD/libftrt.a" \
     -lopenblas -fopenmp -lm -ldl $MPIL -o "$W/nccl_ranks" > "$W/cc.log" 2>&1; then
  bad "build nccl_ranks:"; sed 's/^/  | /' "$W/cc.log" | head; echo "$pass passed, $fail failed"; exit 1
fi
"$W/nccl_ranks" > "$W/one.log" 2>&1; rc=$?
[ $rc = 77 ] && { cat "$W/one.log"; exit 77; }
check "one NCCL rank: all-reduce, uneven reduce-scatter, all-gather" grep -q "rank 0 of 1: ok" "$W/one.log"
ngpu=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$ngpu" -ge 2 ]; then
  if command -v mpirun > /dev/null; then
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -n "$ngpu" "$W/nccl_ranks" > "$W/mpi.log" 2>&1
    check "$ngpu NCCL ranks under mpirun (id over MPI)" [ "$(grep -c ': ok' "$W/mpi.log")" = "$ngpu" ]
  fi
  port=$((29500 + $$ % 1000)); pids=""
  for r in $(seq 0 $((ngpu - 1))); do
    RANK=$r LOCAL_RANK=$r WORLD_SIZE=$ngpu MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      "$W/nccl_ranks" > "$W/tr$r.log" 2>&1 & pids="$pids $!"
  done
  for p in $pids; do wait "$p"; done
  check "$ngpu NCCL ranks with torchrun-style variables (id over the rendezvous)" \
    [ "$(cat "$W"/tr*.log | grep -c ': ok')" = "$ngpu" ]
else
  echo "nccl: one GPU: the several-rank runs need two or more"
fi
echo "nccl: $pass passed, $fail failed"
[ $fail = 0 ]
