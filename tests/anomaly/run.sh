#!/bin/sh
# tests/anomaly/run.sh -- non-finite steps and loss spikes, as a user meets
# them: a NaN in the weights names the step and the first op whose output
# went non-finite (by a diagnostic re-run, or FTC_CHECK_FINITE=1), stops with
# the last checkpoint kept; --nonfinite skip skips and goes on up to
# --max-skips (counted across --resume); a finite loss with a non-finite
# gradient norm is caught before the update; a loss spike is a warning in
# the progress line and metrics.jsonl, judged identically after --resume;
# the progress line shows ETA and FLOP/s with the fraction of the peak.
# Faults come from FTC_FAULT (runtime/fault.c). One line per check.
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/anomaly
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
command -v python3 > /dev/null || { echo "python3 missing: skipped"; exit 77; }
ST="python3 $SRC/tests/integrity/stfile.py"
has() { grep -q -- "$2" "$1" || { echo "  ($1 lacks: $2)"; sed 's/^/  | /' "$1" | head -8; return 1; }; }
. "$SRC/tests/integrity/tiny.sh"
tiny_build "$W"
T=$W/tiny
cd "$W" || exit 1
unset FTC_FAULT FTC_CHECK_FINITE

# -- 1. a NaN weight: the step and the first op are named ---------------------
"$T" --out r0 --steps 2 --quiet > /dev/null 2>&1
$ST poison r0/model.safetensors poison.safetensors h.0.mlp.c_fc.weight
OP="matmul(h.0.ln_2, h.0.mlp.c_fc.weight) \[4,16,64\] (forward, nn.ft:9): 4096 of 4096 values non-finite"
"$T" --init poison.safetensors --out r1 --quiet > /dev/null 2> r1.err; rc=$?
expect "NaN weights: exit 1, 'loss is nan at step 1'" '[ $rc = 1 ] && has r1.err "loss is nan at step 1"'
check "... names the first non-finite op (a diagnostic re-run of the step)" has r1.err "first non-finite output in the step: %[0-9]* $OP"
check "... and stops without writing a checkpoint" test ! -e r1/ckpt.safetensors
FTC_CHECK_FINITE=1 "$T" --init poison.safetensors --out r2 --quiet > /dev/null 2> r2.err; rc=$?
expect "FTC_CHECK_FINITE=1: the same op, found while the step runs" '[ $rc = 1 ] && has r2.err "$OP"'
FTC_CHECK_FINITE=1 "$T" --out r3 --steps 4 --quiet > /dev/null 2> r3.err; rc=$?
expect "FTC_CHECK_FINITE=1 on a healthy run: no false alarm (the causal mask's -inf is meant)" \
  '[ $rc = 0 ] && ! grep -q "non-finite" r3.err'

# -- 2. stop keeps the last checkpoint ------------------------------------------
"$T" --out r4 --stop-at 4 --quiet > /dev/null 2>&1
cp r4/ckpt.safetensors r4.kept
FTC_FAULT=nan@step:6 "$T" --out r4 --resume --quiet > /dev/null 2> r4.err; rc=$?
expect "NaN loss at step 6 after resuming at 4: exit 1, step named" '[ $rc = 1 ] && has r4.err "loss is nan at step 6"'
check "... the step-4 checkpoint is untouched" cmp -s r4.kept r4/ckpt.safetensors
FTC_FAULT=nangrad@step:3 "$T" --out r5 --quiet > /dev/null 2> r5.err; rc=$?
expect "finite loss, NaN gradient (clip on): 'gradient norm is nan at step 3', exit 1" \
  '[ $rc = 1 ] && has r5.err "gradient norm is nan at step 3"'
check "... caught before the update (no 'weights in memory are already changed')" \
  sh -c "! grep -q 'already changed' r5.err"

# -- 3. skip, up to --max-skips, counted across resume --------------------------
FTC_FAULT=nan@step:3,nan@step:9 "$T" --out s1 --nonfinite skip --quiet > /dev/null 2> s1.err; rc=$?
expect "--nonfinite skip: NaN at steps 3 and 9 skipped, run completes (exit 0)" \
  '[ $rc = 0 ] && [ -s s1/model.safetensors ]'
check "... each skip named as a warning" has s1.err "loss is nan at step 9; .*skipping this step's update (2 of at most 10"
check "... metrics.jsonl marks the 2 skipped steps" test "$(grep -c '"skipped": true' s1/metrics.jsonl)" = 2
FTC_FAULT=nan@step:3,nan@step:9 "$T" --out s2 --nonfinite skip --stop-at 6 --quiet > /dev/null 2>&1
FTC_FAULT=nan@step:3,nan@step:9 "$T" --out s2 --nonfinite skip --resume --quiet > /dev/null 2>&1
check "stop at 6 and resume: the same final weights as without the stop" cmp -s s1/model.safetensors s2/model.safetensors
FTC_FAULT=nan@step:3,nan@step:9 "$T" --out s3 --nonfinite skip --max-skips 1 --stop-at 6 --quiet > /dev/null 2>&1
FTC_FAULT=nan@step:3,nan@step:9 "$T" --out s3 --nonfinite skip --max-skips 1 --resume --quiet > /dev/null 2> s3.err; rc=$?
expect "--max-skips 1: the skip before the checkpoint counts after --resume (exit 1 at step 9)" \
  '[ $rc = 1 ] && has s3.err "loss is nan at step 9.*--max-skips reached"'
FTC_FAULT=nan@step:2,nan@step:3,nan@step:4 "$T" --out s4 --nonfinite skip --max-skips 2 --quiet > /dev/null 2> s4.err; rc=$?
expect "three NaN steps, --max-skips 2: stops at step 4 (exit 1)" '[ $rc = 1 ] && has s4.err "step 4.*--max-skips reached"'

# -- 4. loss spikes ---------------------------------------------------------------
FTC_FAULT=spike@step:30 "$T" --out k1 --steps 40 --log-every 100 > k1.log 2> k1.err; rc=$?
expect "a 50x loss at step 30: the run goes on (exit 0)" '[ $rc = 0 ]'
check "... the progress line for step 30 shows the warning (despite log every 100)" \
  has k1.log "^step 30/40 | loss .*| warning: loss spike, [0-9.]* sd above its running mean"
check "... metrics.jsonl has spike_sd on step 30 only" \
  test "$(grep -c '"spike_sd"' k1/metrics.jsonl)" = 1 -a "$(grep '"spike_sd"' k1/metrics.jsonl | sed 's/.*"step": \([0-9]*\),.*/\1/')" = 30
sd1=$(grep '"spike_sd"' k1/metrics.jsonl | sed 's/.*"spike_sd": \([0-9.]*\).*/\1/')
FTC_FAULT=spike@step:30 "$T" --out k2 --steps 40 --stop-at 25 --quiet > /dev/null 2>&1
FTC_FAULT=spike@step:30 "$T" --out k2 --steps 40 --resume --quiet > /dev/null 2>&1
sd2=$(grep '"spike_sd"' k2/metrics.jsonl | sed 's/.*"spike_sd": \([0-9.]*\).*/\1/')
check "after --resume at 25 the spike is judged the same ($sd1 = $sd2 sd)" test -n "$sd1" -a "$sd1" = "$sd2"
"$T" --out k3 --steps 40 --quiet > /dev/null 2>&1
check "a normal 40-step run has no spike warning" sh -c "! grep -q spike_sd k3/metrics.jsonl"
FTC_FAULT=spike@step:30 "$T" --out k4 --steps 40 --spike-sigma 0 --quiet > /dev/null 2>&1
check "--spike-sigma 0 turns the warning off" sh -c "! grep -q spike_sd k4/metrics.jsonl"

# -- 5. the progress line -----------------------------------------------------------
FTC_PEAK_FLOPS=1e12 "$T" --out p1 --steps 4 --log-every 1 > p1.log 2>&1
check "progress line: ETA, GFLOP/s and % of the peak (FTC_PEAK_FLOPS)" \
  has p1.log "^step 4/4 | .* | eta [0-9]*s | [0-9.e+]* GFLOP/s ([0-9]*% of FTC_PEAK_FLOPS peak 1e+03)"
check "metrics.jsonl: time, rss_bytes, flops_per_s per step" \
  has p1/metrics.jsonl '"time": [0-9.]*, "rss_bytes": [1-9][0-9]*, "flops_per_s": [0-9.e+]*}'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
