#!/bin/sh
# tests/build/run.sh -- `ftc build/plan/graph/passes` as commands: the same
# recipe gives byte-identical C and an identical binary (also from another
# directory), plan --json agrees with the generated program, the pass
# manager rejects bad mixtures at the recipe line with the reason, and an
# unimplemented pass says so. Prints "N passed, N failed".
: "${FTC:?}" "${SRC:?}"
T=$(mktemp -d /tmp/ftc-build.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { d=$1; shift; if "$@"; then ok; else bad "$d"; fi; }
has() { grep -q -- "$2" "$1" || { echo "  ($1 lacks: $2)"; sed 's/^/  | /' "$1" | head -20; return 1; }; }

R=$SRC/tests/ops/gpt2_2layer.ft
# -- determinism ---------------------------------------------------------
check "build 1" "$FTC" build "$R" -o "$T/a" --emit-c "$T/a.c"
check "build 2" "$FTC" build "$R" -o "$T/b" --emit-c "$T/b.c"
check "same C twice" cmp -s "$T/a.c" "$T/b.c"
check "same binary twice" cmp -s "$T/a" "$T/b"
mkdir -p "$T/elsewhere"
check "build from another dir" sh -c "cd '$T/elsewhere' && '$FTC' build '$R' -o c --emit-c c.c"
check "same C from another dir" cmp -s "$T/a.c" "$T/elsewhere/c.c"
check "same binary from another dir" cmp -s "$T/a" "$T/elsewhere/c"
check "program hash in the C" grep -q '#define FTC_PROGRAM_HASH "fnv1a64:[0-9a-f]\{16\}"' "$T/a.c"
check "calls commented with .ft lines" grep -q '/\* %[0-9]* layer_norm .*(nn.ft:[0-9]*) \*/' "$T/a.c"
"$FTC" build "$R" --dtype f64 --emit-c "$T/d.c" -o "$T/d" 2>/dev/null
check "f64 build calls _f64 kernels" sh -c "grep -q rt_matmul_f64 '$T/d.c' && ! grep -q _f32 '$T/d.c'"
check "f32 and f64 programs differ in hash" sh -c "! cmp -s '$T/a.c' '$T/d.c'"
check "trainer --help names the hash" sh -c "'$T/a' --help | grep -q fnv1a64"

# -- plan ------------------------------------------------------------------
"$FTC" plan "$R" --json > "$T/plan.json" 2> "$T/plan.err"
check "plan --json exit 0" test $? = 0
check "plan --json has peak_bytes" has "$T/plan.json" '"peak_bytes": [0-9]'
for k in params grads optimizer_state inputs activations temporaries peak_op; do
  check "plan --json has $k" has "$T/plan.json" "\"$k\": "
done
arena=$(sed -n 's/.*"peak_bytes": \([0-9]*\).*/\1/p' "$T/plan.json")
check "plan peak = generated arena" grep -q "arena_bytes = $arena," "$T/a.c"
"$FTC" plan "$R" > "$T/plan.txt"
check "plan text" has "$T/plan.txt" "optimizer state"
check "plan names the peak op" has "$T/plan.txt" "peak at op"
pi=$(sed -n 's/.*"peak_index": \([0-9]*\).*/\1/p' "$T/plan.json")
check "plan --json peak_index ($pi) is the text's 1-based 'op N of M'" grep -q "peak at op $pi of " "$T/plan.txt"
live=$(sed -n 's/.*"live_peak_bytes": \([0-9]*\).*/\1/p' "$T/plan.json")
check "plan --json live_peak_bytes ($live) <= arena_bytes ($arena)" test -n "$live" -a "$live" -le "$arena"
check "plan --json arena_bytes = peak_bytes" grep -q "\"arena_bytes\": $arena," "$T/plan.json"
check "plan --verify" sh -c "\"$FTC\" plan \"$R\" --verify --json > /dev/null"
check "plan of llama --verify" sh -c "\"$FTC\" plan \"$SRC/tests/ops/llama_tiny.ft\" --verify --json > /dev/null"

# -- graph -----------------------------------------------------------------
"$FTC" graph "$R" > "$T/f.dot"; check "graph exit 0" test $? = 0
check "graph is DOT" has "$T/f.dot" "digraph"
"$FTC" graph "$R" --backward > "$T/b.dot"
check "backward graph is larger" test "$(wc -l < "$T/b.dot")" -gt "$(wc -l < "$T/f.dot")"

# -- passes ----------------------------------------------------------------
"$FTC" passes > "$T/passes.txt"; check "passes exit 0" test $? = 0
for p in checkpoint lora qlora zero fuse_optimizer flash_attention hift mixed_precision accumulate dce; do
  check "passes lists $p" grep -q "^$p  \[" "$T/passes.txt"
done
check "passes shows params" has "$T/passes.txt" "param rank: int = 8"
check "passes shows conflicts" has "$T/passes.txt" "conflicts with accumulate"
check "passes shows status" has "$T/passes.txt" "not implemented yet"

B=$SRC/tests/build
"$FTC" build "$B/not_implemented.ft" -o "$T/x" 2> "$T/ni.err"
check "unimplemented pass: exit 1" test $? = 1
check "unimplemented pass: message at its line" has "$T/ni.err" "not_implemented.ft:7:[0-9]*: error: pass 'qlora' is not implemented yet"
"$FTC" plan "$B/not_implemented.ft" 2> "$T/ni2.err" > /dev/null
check "unimplemented pass: plan exit 1" test $? = 1
"$FTC" build "$B/bad_mixture.ft" -o "$T/x" 2> "$T/bm.err"
check "bad mixture: exit 1" test $? = 1
check "bad mixture: reason at the line" has "$T/bm.err" "bad_mixture.ft:8:[0-9]*: error: pass 'accumulate' cannot be combined with 'fuse_optimizer': the fused update"
"$FTC" plan "$B/bad_args.ft" 2> "$T/ba.err" > /dev/null
check "bad args: exit 1" test $? = 1
check "bad args: type" has "$T/ba.err" "bad_args.ft:7:[0-9]*: error: argument 'every' of pass 'checkpoint' must be int"
check "bad args: missing" has "$T/ba.err" "bad_args.ft:8:[0-9]*: error: missing argument 'groups'"
"$FTC" plan "$B/bad_order.ft" 2> "$T/bo.err" > /dev/null
check "bad order: exit 1" test $? = 1
check "bad order: before fact" has "$T/bo.err" "bad_order.ft:8:[0-9]*: error: pass 'checkpoint' must come before 'zero'"
check "bad order: conflict" has "$T/bo.err" "bad_order.ft:9:[0-9]*: error: pass 'hift' cannot be combined with 'zero': hift keeps"
check "bad order: reported once" test "$(grep -c 'cannot be combined' "$T/bo.err")" = 1

# -- usage -------------------------------------------------------------------
"$FTC" build 2> /dev/null; check "build without a recipe: usage (2)" test $? = 2
"$FTC" plan "$R" --dtype f16 2> /dev/null; check "bad --dtype: usage (2)" test $? = 2
"$FTC" plan "$T/missing.ft" 2> "$T/miss.err"; rc=$?
check "missing recipe: exit 1 or 3" test $rc = 1 -o $rc = 3
check "missing recipe: names the file" has "$T/miss.err" "missing.ft"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
