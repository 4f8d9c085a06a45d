#!/bin/sh
# tests/integrity/run.sh -- checksummed checkpoints as a user meets them:
# `verify` checks what a run wrote; one flipped bit in a tensor, in the
# metadata or in a token shard is named (file and tensor) and refused;
# --keep K keeps the last K checkpoints and --resume falls back to the
# newest one that verifies, reaching the uninterrupted run's final weights
# byte for byte; with nothing valid left it refuses; files without
# checksums (older trainers, other tools) still load, with a warning.
# One line per check; ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/integrity
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
ST="python3 $SRC/tests/integrity/stfile.py"
command -v python3 > /dev/null || { echo "python3 missing: skipped"; exit 77; }
has() { grep -q -- "$2" "$1" || { echo "  ($1 lacks: $2)"; sed 's/^/  | /' "$1" | head -8; return 1; }; }
injected=0; detected=0
corrupt() { injected=$((injected + 1)); }
caught() { detected=$((detected + 1)); }

. "$SRC/tests/integrity/tiny.sh"
tiny_build "$W"
T=$W/tiny
cd "$W" || exit 1

# -- 1. an uninterrupted run keeps its last 3 checkpoints, all verified ----
"$T" --out r1 --keep 3 --quiet > r1.log 2>&1
check "12 steps with --keep 3 and save every 2" test $? = 0
check "kept steps 8, 10, 12" test -f r1/ckpt.step00000008.safetensors -a -f r1/ckpt.step00000010.safetensors -a -f r1/ckpt.step00000012.safetensors
check "older kept steps removed" test ! -e r1/ckpt.step00000006.safetensors -a ! -e r1/ckpt.step00000002.safetensors
"$T" verify --out r1 > v1.log 2>&1
check "verify (what --out holds): exit 0" test $? = 0
check "verify checked 5 files" has v1.log "5 of 5 files verified"
check "verify says the checksums were checked" has v1.log "ckpt.safetensors: ok (checkpoint, step 12, .* every checksum verified; this trainer can resume it)"
check "model.safetensors carries checksums" has v1.log "model.safetensors: ok (weights, step 12, 16 tensors"
"$T" verify r1/model.safetensors r1/ckpt.step00000008.safetensors > v2.log 2>&1
check "verify FILE FILE: exit 0" test $? = 0

# -- 2. a flipped bit in the latest checkpoint: named, then the fallback ----
"$T" --out r2 --keep 3 --stop-at 10 --quiet > /dev/null 2>&1
TN=h.0.attn.c_attn.weight
$ST flip r2/ckpt.safetensors $TN; corrupt
"$T" verify r2/ckpt.safetensors > v3.log 2>&1
rc=$?
check "verify of the flipped checkpoint: exit 1" test $rc = 1
check "... names the file and the tensor" has v3.log "r2/ckpt.safetensors: tensor '$TN': checksum mismatch"
[ $rc = 1 ] && caught
"$T" --out r2 --keep 3 --resume > r2.log 2>&1
check "--resume with a corrupt latest checkpoint: exit 0" test $? = 0
check "... names the corrupt tensor" has r2.log "r2/ckpt.safetensors: tensor '$TN': checksum mismatch"
check "... and says it resumed from step 8 (step 10's kept name is the same file)" \
  has r2.log "resuming from r2/ckpt.step00000008.safetensors at step 8, the newest kept checkpoint that verifies"
check "... reaching the uninterrupted run's final weights, byte for byte" cmp -s r1/model.safetensors r2/model.safetensors
check "... and its checkpoint" cmp -s r1/ckpt.safetensors r2/ckpt.safetensors
check "metrics.jsonl has each step once" test "$(grep -c '"loss"' r2/metrics.jsonl)" = 12

# -- 3. without --keep there is nothing to fall back to: refused -----------
"$T" --out r3 --stop-at 10 --quiet > /dev/null 2>&1
$ST flip r3/ckpt.safetensors h.0.mlp.c_fc.weight 5; corrupt
cp r3/ckpt.safetensors flipped.ckpt
"$T" --out r3 --resume > r3.log 2>&1
rc=$?
check "--resume of a lone corrupt checkpoint: exit 1" test $rc = 1
check "... names the tensor" has r3.log "tensor 'h.0.mlp.c_fc.weight': checksum mismatch"
check "... refuses to resume" has r3.log "refusing to resume"
check "... and leaves the file as it was" cmp -s flipped.ckpt r3/ckpt.safetensors
check "no step ran" test ! -e r3/model.safetensors
[ $rc = 1 ] && caught

# -- 4. metadata: the step, the data position --------------------------------
"$T" --out r4 --stop-at 6 --quiet > /dev/null 2>&1
for key in ftrt.step ftrt.data_rng format; do
  cp r4/ckpt.safetensors m.ckpt
  $ST flip-meta m.ckpt $key; corrupt
  "$T" verify m.ckpt > m.log 2>&1; rc=$?
  expect "flipped metadata '$key': verify exit 1, 'metadata checksum mismatch'" \
    '[ $rc = 1 ] && has m.log "m.ckpt: metadata checksum mismatch"'
  [ $rc = 1 ] && caught
done

# -- 5. every kept checkpoint corrupt: refused, with the count -------------
"$T" --out r5 --keep 2 --stop-at 10 --quiet > /dev/null 2>&1
$ST flip r5/ckpt.safetensors $TN; corrupt
$ST flip r5/ckpt.step00000008.safetensors h.0.ln_1.weight; corrupt
"$T" --out r5 --keep 2 --resume > r5.log 2>&1
rc=$?
check "all kept checkpoints corrupt: exit 1" test $rc = 1
check "... both named" has r5.log "ckpt.step00000008.safetensors: tensor 'h.0.ln_1.weight': checksum mismatch"
check "... 'no checkpoint passes its checks (2 tried'" has r5.log "no checkpoint in r5 passes its checks (2 tried"
[ $rc = 1 ] && detected=$((detected + 2))
"$T" verify --out r5 > v5.log 2>&1
rc=$?
expect "verify of the directory: exit 1, '0 of 3 files verified' (ckpt, kept 8 and 10)" \
  '[ $rc = 1 ] && has v5.log "0 of 3 files verified"'

# -- 6. files without checksums still load ---------------------------------
"$T" --out r6 --stop-at 6 --quiet > /dev/null 2>&1
$ST strip r6/ckpt.safetensors stripped && mv stripped r6/ckpt.safetensors
"$T" --out r6 --resume --quiet > r6.log 2>&1
check "a checkpoint without checksums resumes" test $? = 0
check "... with a warning that it is not verified" has r6.log "has no checksums"
check "... to the same final weights" cmp -s r1/model.safetensors r6/model.safetensors
"$T" verify r6/model.safetensors > v6.log 2>&1
check "verify of a fresh model: ok" test $? = 0

# -- 7. weights for --init, eval and sample are verified too ----------------
cp r1/model.safetensors bad-model.safetensors
$ST flip bad-model.safetensors wte.weight; corrupt
"$T" --init bad-model.safetensors --out r7 --steps 2 > r7.log 2>&1; rc=$?
expect "--init from a corrupt file: exit 1, tensor named" \
  '[ $rc = 1 ] && has r7.log "bad-model.safetensors: tensor .wte.weight.: checksum mismatch"'
[ $rc = 1 ] && caught
mkdir -p r8 && cp bad-model.safetensors r8/model.safetensors
"$T" eval --out r8 > r8.log 2>&1; rc=$?
expect "eval of corrupt trained weights: exit 1" '[ $rc = 1 ] && has r8.log "checksum mismatch"'
"$T" sample --out r8 --prompt "the " --tokens 4 > r9.log 2>&1; rc=$?
expect "sample from corrupt trained weights: exit 1" '[ $rc = 1 ] && has r9.log "checksum mismatch"'

# -- 8. token shards carry a checksum ---------------------------------------
"$FTC" data text2shards data.txt -o data.bin > /dev/null 2>&1
"$T" verify data.bin > s1.log 2>&1; rc=$?
expect "verify of a fresh shard: ok, checksum verified" \
  '[ $rc = 0 ] && has s1.log "data.bin: ok (token shard, 9000 tokens of 2 bytes, checksum verified)"'
python3 -c "
import sys; f = open('data.bin', 'r+b'); f.seek(32 + 2 * 100); c = f.read(1)[0]
f.seek(32 + 2 * 100); f.write(bytes([c ^ 1]))"
corrupt
"$T" verify data.bin > s2.log 2>&1; rc=$?
expect "a changed token inside the vocabulary: verify exit 1, checksum named" \
  '[ $rc = 1 ] && has s2.log "data.bin: checksum mismatch in the token data"'
[ $rc = 1 ] && caught
"$T" verify missing.safetensors > s3.log 2>&1; rc=$?
expect "verify of a missing file: exit 1, named" '[ $rc = 1 ] && has s3.log "missing.safetensors: cannot open"'

echo "integrity: $injected corruptions injected, $detected detected"
check "every injected corruption was detected ($detected of $injected)" test "$detected" = "$injected"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
