#!/bin/sh
# tests/first/run.sh -- README's "Your first recipe", run as it is written:
# its shell blocks line by line in an empty directory, its recipe saved
# where the text says to write it, with `ftc` on PATH. Only the run length
# changes, so the suite stays short on a shared machine: every trainer line
# gets --steps STEPS and --threads 1, --stop-at N becomes STEPS/2, sample's
# --tokens N becomes 16. Checks what the README's comments
# promise: check and plan succeed and plan shows this machine's memory,
# the trainer writes metrics, checkpoints and weights where the recipe's
# `save ... to` says (relative to the recipe), sample prints text, eval a
# validation loss, and the stopped-and-resumed run ends with bitwise the
# weights of the uninterrupted one. Ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/first
rm -rf "$W" && mkdir -p "$W/blocks" "$W/run" || exit 1
. "$SRC/tests/lib.sh"
FTC_STDLIB=$SRC/stdlib; export FTC_STDLIB
bin=$W/bin; mkdir -p "$bin" && ln -s "$FTC" "$bin/ftc"
PATH=$bin:$PATH; export PATH
STEPS=8

sed -n '/^## Your first recipe/,/^## [^Y]/p' "$SRC/README.md" > "$W/section.md"
awk -v out="$W/blocks/b" '
  /^```/ { if (inb) { close(f); inb = 0 } else { k++; f = sprintf("%s%02d", out, k); inb = 1; printf "" > f }; next }
  inb { print > f }' "$W/section.md"
recipe=$(grep -o -E 'write `[^`]+\.ft`' "$W/section.md" | head -n 1 | sed -E 's/write `(.*)`/\1/')
check "README's first recipe names the file to write ($recipe)" [ -n "$recipe" ]
nb=$(ls "$W/blocks" | wc -l)
check "the section has a setup, a recipe and a session block ($nb)" [ "$nb" -ge 3 ]

# The recipe's output directory: its `save ... to`, relative to the recipe.
out=""
i=0
for b in "$W"/blocks/b*; do
  if grep -q -E '^ *model *=' "$b"; then
    mkdir -p "$W/run/$(dirname "$recipe")" && cp "$b" "$W/run/$recipe"
    to=$(grep -o -E ' to "[^"]+"' "$b" | sed -E 's/ to "(.*)"/\1/')
    out=$(dirname "$recipe")/$to
    continue
  fi
  # a shell block: each line, comments and blank lines aside
  sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$b" > "$b.sh"
  while IFS= read -r line; do
    i=$((i + 1))
    case ${line%% *} in
      *trainer) line=$(echo "$line" | sed -E -e "s/--stop-at [0-9]+/--stop-at $((STEPS / 2))/" \
        -e 's/--tokens [0-9]+/--tokens 16/')" --steps $STEPS --threads 1";;
    esac
    (cd "$W/run" && sh -c "$line") > "$W/out$i.txt" 2>&1 < /dev/null; rc=$?
    if [ $rc = 0 ]; then ok "\$ $line"; else bad "\$ $line: exit $rc"; sed 's/^/  | /' "$W/out$i.txt" | tail -5; fi
    # kept by command: ftc-plan.txt, trainer-sample.txt, trainer-eval.txt, ...
    cp "$W/out$i.txt" "$W/$(echo "$line" | awk '{ n = $1; sub(/.*\//, "", n); if ($2 ~ /^[a-z]/) n = n "-" $2; print n }').txt"
    # the uninterrupted run's weights, before --stop-at and --resume
    [ "$line" = "${line%% *} --steps $STEPS --threads 1" ] && [ -n "$out" ] && cp "$W/run/$out/model.safetensors" "$W/full.safetensors" 2>/dev/null
  done < "$b.sh"
done

check "the recipe says where it saves ($out)" [ -n "$out" ]
check "ftc plan shows this machine's memory" grep -q "this machine's memory" "$W/ftc-plan.txt"
for f in metrics.jsonl ckpt.safetensors model.safetensors; do
  check "the trainer wrote $out/$f" [ -s "$W/run/$out/$f" ]
done
prompt=$(sed -n 's/.*--prompt "\([^"]*\)".*/\1/p' "$W"/blocks/b*.sh | head -n 1)
check "sample continued the prompt '$prompt'" sh -c "[ -n '$prompt' ] && LC_ALL=C grep -q '^$prompt.' '$W/trainer-sample.txt'"
check "eval printed a validation loss" grep -q -E '^val_loss [0-9]' "$W/trainer-eval.txt"
check "the uninterrupted run's weights were kept" [ -s "$W/full.safetensors" ]
check "stopped at step $((STEPS / 2)), resumed: bitwise the uninterrupted run's weights" \
  cmp -s "$W/full.safetensors" "$W/run/$out/model.safetensors"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
