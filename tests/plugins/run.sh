#!/bin/sh
# tests/plugins/run.sh -- pass plugins and the public pass API (pass.h).
#
# The example plugin (examples/passes/scale_residual.c, built by make):
# listed by `ftc passes --plugin`, its rewrite visible with `ftc graph
# --after`, and a tiny GPT-2 built with it trains to exactly the losses of
# the same model with the branch scaling written by hand (sr_explicit.ft),
# which differ from the unscaled model's. It compiles against the installed
# headers alone (pass.h, ops.def, span.h). Bad plugins are refused with a
# message naming them and exit 1: no entry symbol, another ABI, a missing
# file, and rewrites the verifier rejects (a wrong shape, a dead node still
# read), each message saying what the verifier found. Every function pass.h
# declares is exported by ftc (plugins link against it). One line per
# check; ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/plugins
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
losses() { grep -o '"loss": [^,}]*' "$1"; }
PLUG=$BUILD/examples/passes/scale_residual.so
CC=${CC:-cc}

awk 'BEGIN { srand(7); for (i = 0; i < 20000; i++) printf "%c", 97 + int(rand() * rand() * 26) }' \
  > "$W/pattern.txt"
cp "$SRC/tests/plugins/sr_explicit.ft" "$SRC/tests/plugins/sr_plugin.ft" "$W/"
sed '/^passes {/,$d' "$W/sr_plugin.ft" > "$W/sr_none.ft"

# -- the example --------------------------------------------------------------
check "make built the example plugin ($PLUG)" [ -f "$PLUG" ]
"$FTC" passes --plugin "$PLUG" > "$W/passes.txt" 2>&1
check "ftc passes --plugin lists scale_residual as an implemented plugin pass" \
  grep -q "^scale_residual  \[before autodiff, implemented, plugin $PLUG\]" "$W/passes.txt"
check "... with its typed parameters" grep -q 'param factor: float = 0.5' "$W/passes.txt"

"$FTC" graph "$W/sr_plugin.ft" --plugin "$PLUG" --after scale_residual --text > "$W/after.txt" 2>&1
ns=$(grep -c '= scale(%[0-9]*) s=0.5 ' "$W/after.txt")
nr=$(grep -c '= add(%[0-9]*, %[0-9]*) .*"x"' "$W/after.txt")
check "ftc graph --after scale_residual: 4 branch scales (2 layers x attn, mlp): $ns" [ "$ns" = 4 ]
# every scale is read by a residual add, and the array is in dependency order again
awk '/= scale\(.*s=0.5/ { s[$1] = 1 } /= add\(/ { for (k in s) if (index($0, k ",") || index($0, k ")")) n++ }
     END { exit n != 4 }' "$W/after.txt"
check "... each read by a residual add" [ $? = 0 ]
"$FTC" graph "$W/sr_plugin.ft" --plugin "$PLUG" --after autodiff --text > "$W/ad.txt" 2>&1
check "ftc graph --after autodiff shows the gradients" grep -q ' grad "grad.wte.weight"' "$W/ad.txt"
"$FTC" graph "$W/sr_plugin.ft" --plugin "$PLUG" --after lora > /dev/null 2> "$W/after_bad.err"; rc=$?
expect "ftc graph --after a pass the recipe does not run: exit 1, says so (exit $rc)" \
  '[ $rc = 1 ] && grep -q "no pass .lora. runs for" "$W/after_bad.err"'

for v in explicit plugin none; do
  "$FTC" build "$W/sr_$v.ft" --plugin "$PLUG" -o "$W/sr_$v" > "$W/sr_$v.build" 2>&1 &&
    "$W/sr_$v" --out "$W/sr_$v.run" --quiet > "$W/sr_$v.log" 2>&1
done
losses "$W/sr_explicit.run/metrics.jsonl" > "$W/e.l" 2>/dev/null
losses "$W/sr_plugin.run/metrics.jsonl" > "$W/p.l" 2>/dev/null
losses "$W/sr_none.run/metrics.jsonl" > "$W/n.l" 2>/dev/null
expect "plugin-scaled GPT-2 trains 10 steps to the hand-scaled model's losses, bit for bit" \
  '[ "$(wc -l < "$W/p.l")" = 10 ] && cmp -s "$W/e.l" "$W/p.l"'
expect "... which are not the unscaled model's" '[ -s "$W/n.l" ] && ! cmp -s "$W/n.l" "$W/p.l"'
pp=$("$FTC" plan "$W/sr_plugin.ft" --plugin "$PLUG" --json --verify | sed -n 's/.*"peak_bytes": \([0-9]*\).*/\1/p')
check "ftc plan --plugin --verify plans it ($pp bytes)" [ -n "$pp" ]

{ sed '/^passes {/,$d' "$W/sr_plugin.ft"; printf 'passes {\n  scale_residual(factor: 0)\n}\n'; } > "$W/zero.ft"
"$FTC" build "$W/zero.ft" --plugin "$PLUG" -o "$W/x" > /dev/null 2> "$W/zero.err"; rc=$?
expect "scale_residual(factor: 0) is refused at the argument (exit $rc)" '[ $rc = 1 ] &&
  grep -q "zero.ft:[0-9]*:18: error: scale_residual: factor must be a positive number" "$W/zero.err"'
"$FTC" check "$W/sr_plugin.ft" --plugin "$PLUG" > /dev/null 2>&1
check "ftc check --plugin accepts the recipe" [ $? = 0 ]
"$FTC" build "$W/sr_plugin.ft" -o "$W/x" > /dev/null 2> "$W/noplug.err"; rc=$?
expect "without --plugin its pass is unknown (exit $rc)" '[ $rc = 1 ] &&
  grep -q "unknown pass .scale_residual." "$W/noplug.err"'

# the installed headers are enough to build a plugin
mkdir -p "$W/prefix/include/ftc"
cp "$SRC/compiler/pass.h" "$SRC/compiler/ops.def" "$SRC/lang/span.h" "$W/prefix/include/ftc/"
$CC -std=c11 -Wall -Wextra -Werror -shared -fPIC -I"$W/prefix/include/ftc" \
  "$SRC/examples/passes/scale_residual.c" -o "$W/sr_installed.so" > "$W/cc.log" 2>&1
check "the example compiles against the installed headers alone, -Wall -Wextra -Werror" [ $? = 0 ]
"$FTC" passes --plugin "$W/sr_installed.so" > /dev/null 2>&1
check "... and loads" [ $? = 0 ]

# every function of the public API is in ftc's dynamic symbol table
fns=$(sed -n 's/^[A-Za-z][A-Za-z0-9_ ]*[ *]\([a-z][a-z0-9_]*\)(.*/\1/p' "$SRC/compiler/pass.h" | sort -u)
nm -D --defined-only "$FTC" 2>/dev/null | awk '{print $NF}' | sort -u > "$W/exported.txt"
missing=""
for f in $fns diag_at ir_ops; do grep -qx "$f" "$W/exported.txt" || missing="$missing $f"; done
expect "ftc exports every function of pass.h ($(echo $fns | wc -w) of them)${missing:+; missing:$missing}" \
  '[ -z "$missing" ] && [ -n "$fns" ]'

# -- bad plugins ---------------------------------------------------------------
for b in noentry abi rewrite; do
  $CC -std=c11 -shared -fPIC -I"$SRC/compiler" -I"$SRC/lang" "$SRC/tests/plugins/bad_$b.c" \
    -o "$W/bad_$b.so" > "$W/bad_$b.cc" 2>&1 || bad "bad_$b.c compiles"
done
"$FTC" passes --plugin "$W/bad_noentry.so" > /dev/null 2> "$W/noentry.err"; rc=$?
expect "a plugin without the entry symbol is refused by name (exit $rc)" '[ $rc = 1 ] &&
  grep -q "bad_noentry.so is not an ftc pass plugin: it has no entry symbol .ftc_pass_plugin." "$W/noentry.err"'
"$FTC" build "$W/sr_plugin.ft" --plugin "$W/bad_abi.so" -o "$W/x" > /dev/null 2> "$W/abi.err"; rc=$?
expect "a plugin for another ABI is refused by name (exit $rc)" '[ $rc = 1 ] &&
  grep -q "the pass plugin .*bad_abi.so was built for pass ABI [0-9]*, this ftc has ABI [0-9]*" "$W/abi.err"'
"$FTC" passes --plugin "$W/nothere.so" > /dev/null 2> "$W/nothere.err"; rc=$?
expect "a missing plugin file is refused by name (exit $rc)" '[ $rc = 1 ] &&
  grep -q "cannot load the pass plugin .*nothere.so" "$W/nothere.err"'
for how in shape dead; do
  { sed '/^passes {/,$d' "$W/sr_plugin.ft"; printf 'passes {\n  bad_rewrite(how: %s)\n}\n' $how; } > "$W/br_$how.ft"
  "$FTC" build "$W/br_$how.ft" --plugin "$W/bad_rewrite.so" -o "$W/x" > /dev/null 2> "$W/br_$how.err"
  echo $? > "$W/br_$how.rc"
done
expect "a rewrite leaving a wrong shape is refused: exit 1, names the plugin and the node" \
  '[ "$(cat "$W/br_shape.rc")" = 1 ] && grep -q "br_shape.ft:[0-9]*:3: error: pass .bad_rewrite. (plugin .*bad_rewrite.so) left a graph the verifier rejects: ir_verify: %[0-9]* layer_norm h.0.ln_1: shape: it says f32.4,64,128. but its inputs give f32.4,64,64." "$W/br_shape.err"'
expect "a rewrite killing a node still read is refused, saying which" \
  '[ "$(cat "$W/br_dead.rc")" = 1 ] && grep -q "left a graph the verifier rejects: ir_verify: %[0-9]* matmul: reads %[0-9]*, which is dead" "$W/br_dead.err"'
expect "no plugin made anything crash (no core, no sanitizer report)" \
  '! grep -q "Sanitizer\|Segmentation\|core dumped" "$W"/*.err'

echo "plugins: $pass passed, $fail failed"
[ "$fail" = 0 ] && rm -rf "$W"
[ "$fail" = 0 ]
