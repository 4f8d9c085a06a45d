#!/bin/sh
# tests/docs/run.sh -- the docs say what the tool does. Every recipe in
# README.md, docs/*.md and examples/ plans and builds with ftc, unless it
# shows a feature that tests/docs/waiting.txt lists (then it must fail with
# that feature's "not supported yet" error only, also with each such feature
# left out in turn, README's Status must name the feature, and the feature's
# probe must still fail: when it lands, this test says to remove the
# marker). A passes { } or train { } fragment is planned inside a small
# GPT-2 recipe; model snippets in the docs check. Every diagnostic shown in
# the docs is the real output of `ftc check` on the file it names.
# docs/runtime.md lists exactly the flags and commands of `./trainer
# --help`; both give the exit codes; --init names the model's own family;
# README's table lists exactly the commands of `ftc --help`, and its
# `ftc graph` row says what the default prints. (README's first recipe is
# run as written by tests/first.) Ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/docs
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"
FTC_STDLIB=$SRC/stdlib; export FTC_STDLIB
WAIT=$SRC/tests/docs/waiting.txt

# -- the waiting list: named in README's Status, and still waiting ----------
sed -n '/^## Status/,/^## /p' "$SRC/README.md" > "$W/status.md"
base='use gpt2
model = gpt2.gpt2(vocab: 256, ctx: 16, layers: 1, heads: 2, dim: 16)
data train = text("t.txt", tokenizer: TOK, seq: 8, batch: 2)
train {
  SETTING
}
passes {
  PASS
}'
grep -v '^#' "$WAIT" | while IFS='|' read -r name text err probe; do
  check "waiting '$name': README's Status names it" grep -q -F -- "\`$name" "$W/status.md"
  tok=bytes setting='steps 1' apass=dce
  case $probe in
    tokenizer:*) tok=${probe#tokenizer:};;
    train:*) setting=${probe#train:};;
    pass:*) apass=${probe#pass:};;
  esac
  p=$W/probe-$(echo "$name" | tr -c 'a-z0-9_\n' '_').ft
  printf '%s\n' "$base" | sed -e "s|TOK|$tok|" -e "s|SETTING|$setting|" -e "s|PASS|$apass|" > "$p"
  "$FTC" plan "$p" > /dev/null 2> "$p.err"; rc=$?
  if [ $rc = 0 ]; then
    bad "waiting '$name': its probe plans now: the feature landed, so remove it from tests/docs/waiting.txt and README's Status"
  elif grep -q -E -- "$err" "$p.err"; then ok "waiting '$name': still fails with its error"
  else bad "waiting '$name': the probe fails differently (update tests/docs/waiting.txt):"; sed 's/^/  | /' "$p.err" | head -5
  fi
done > "$W/waiting.log"
cat "$W/waiting.log"
pass=$((pass + $(grep -c '^ok' "$W/waiting.log"))); fail=$((fail + $(grep -c '^FAIL' "$W/waiting.log")))

# -- every recipe: plans and builds, or fails only for what it waits for ----
# matched FILE: the waiting features (name|text|err) FILE uses; comments
# aside (a comment may name a feature the recipe does not use)
matched() {
  sed 's/#.*//' "$1" > "$1.code"
  grep -v '^#' "$WAIT" | while IFS='|' read -r name text err probe; do
    [ -n "$name" ] && grep -q -E -- "$text" "$1.code" && echo "$name|$text|$err"
  done
}
# verdict FILE LABEL BUILD: FILE plans (and builds when BUILD is 1) if it
# uses no waiting feature, else it fails with its features' errors only
verdict() {
  f=$1 label=$2 errs="" names=""
  matched "$f" > "$f.waits"
  while IFS='|' read -r name text err; do errs="$errs|$err"; names="$names, $name"; done < "$f.waits"
  # a tokenizer the recipe names is stood in for by a tiny byte-level BPE
  # (tests/docs/tokenizer.json; the model's vocabulary may be larger)
  for t in $(grep -o 'bpe("[^"]*")' "$f" | sed 's/^bpe("//; s/")$//'); do
    [ -f "$(dirname "$f")/$t" ] || cp "$SRC/tests/docs/tokenizer.json" "$(dirname "$f")/$t"
  done
  "$FTC" plan "$f" > "$f.plan" 2> "$f.err"; rc=$?
  if [ -z "$errs" ]; then
    if [ $rc = 0 ] && { [ "$3" = 0 ] || "$FTC" build "$f" -o "$f.trainer" > "$f.build" 2>&1; }; then
      ok "$label: plans$([ "$3" = 1 ] && echo ' and builds')"
    else bad "$label: does not plan and build:"; cat "$f.err" "$f.build" 2>/dev/null | sed 's/^/  | /' | head -8; fi
    return
  fi
  others=$(grep ': error: ' "$f.err" | grep -v -E -- "${errs#|}")
  if [ $rc = 1 ] && [ -z "$others" ] && grep -q ': error: ' "$f.err"; then ok "$label: waits for${names#,}"
  elif [ $rc = 0 ]; then bad "$label: plans although it matches waiting features${names#,}"
  else bad "$label: fails for more than${names#,}:"; echo "$others" | sed 's/^/  | /' | head -5; fi
}
# recipe FILE LABEL: its verdict; and as ftc stops at the first stage that
# fails, one waiting feature may hide another error (a mixture the rules
# refuse, a typo): so the recipe without each of its features in turn (the
# lines that write it) must fail for the others only, or plan.
recipe() {
  verdict "$1" "$2" 1
  k=0
  cp "$1.waits" "$1.all-waits"
  while IFS='|' read -r name text err; do
    k=$((k + 1))
    grep -v -E -- "$text" "$1" > "${1%.ft}-without$k.ft"
    verdict "${1%.ft}-without$k.ft" "$2 without $name" 0
  done < "$1.all-waits"
}
frame='use gpt2
model = gpt2.gpt2(vocab: 256, ctx: 64, layers: 2, heads: 2, dim: 32)
data train = text("t.txt", tokenizer: bytes, seq: 64, batch: 2)'
n=0
for doc in "$SRC/README.md" "$SRC"/docs/*.md; do
  rel=${doc#"$SRC"/}
  # split the fenced blocks into files: block K of the doc
  awk -v out="$W/b" -v tag="$(echo "$rel" | tr '/.' '__')" '
    /^```/ { if (inb) { close(f); inb = 0 } else { k++; f = out "-" tag "-" k ".txt"; inb = 1; printf "" > f }; next }
    inb { print > f }' "$doc"
  for b in "$W"/b-$(echo "$rel" | tr '/.' '__')-*.txt; do
    [ -f "$b" ] || continue
    k=${b##*-}; k=${k%.txt}
    first=$(head -n 1 "$b")
    if echo "$first" | grep -q -E '^[^ ]+\.ft:[0-9]+:[0-9]+: error: '; then
      # a diagnostic: the real output of ftc check on the file it names
      # (README's must name a file of the repo; the docs' may show output
      # of a file they only describe, which is then not checked)
      file=${first%%:*}
      if [ ! -f "$SRC/$file" ] && [ "$rel" != README.md ]; then
        echo "note: $rel block $k shows output for $file, not a file here: not checked"; continue
      fi
      (cd "$SRC" && "$FTC" check "$file") > /dev/null 2> "$b.real"
      if diff -u "$b" "$b.real" > "$b.diff"; then ok "$rel block $k: the diagnostic is ftc check's output for $file"
      else bad "$rel block $k: the diagnostic differs from ftc check $file:"; head -20 "$b.diff"; fi
    elif grep -q -E '^ *(model|weights) *=|^data ' "$b"; then
      n=$((n + 1)); cp "$b" "$W/doc$n.ft"; recipe "$W/doc$n.ft" "$rel block $k (recipe)"
    elif grep -q -E '^(passes|train) \{' "$b" && ! grep -q -v -E '^(passes|train) \{|^  |^\}|^#|^$' "$b"; then
      # a fragment (a passes or train block): planned inside a small recipe
      n=$((n + 1)); { printf '%s\n' "$frame"; cat "$b"; } > "$W/doc$n.ft"
      recipe "$W/doc$n.ft" "$rel block $k (fragment)"
    elif grep -q -E '^model [A-Za-z_]+\(' "$b"; then
      cp "$b" "$W/snippet$k.ft"
      if "$FTC" check "$W/snippet$k.ft" > /dev/null 2> "$W/snippet$k.err"; then ok "$rel block $k: the model snippet checks"
      else bad "$rel block $k: the model snippet does not check:"; sed 's/^/  | /' "$W/snippet$k.err" | head -5; fi
    fi
  done
done
check "the docs hold recipes (found $n)" [ "$n" -ge 3 ]
for e in "$SRC"/examples/*.ft; do
  cp "$e" "$W/ex-$(basename "$e")"
  recipe "$W/ex-$(basename "$e")" "examples/$(basename "$e")"
done

# -- the trainer's --help and docs/runtime.md --------------------------------
"$FTC" build "$SRC/examples/tiny_llama.ft" -o "$W/llama" > /dev/null 2>&1 &&
  "$FTC" build "$SRC/examples/tiny_gpt.ft" -o "$W/gpt" > /dev/null 2>&1
check "build the two example trainers" [ $? = 0 ]
"$W/llama" --help > "$W/help.txt" 2>&1
"$W/gpt" --help > "$W/gpt-help.txt" 2>&1
grep -o -E -- '--[a-z][a-z-]*' "$W/help.txt" | sort -u > "$W/help.flags"
grep -E '^\| `--' "$SRC/docs/runtime.md" | grep -o -E -- '^\| `--[a-z][a-z-]*' | sed 's/^| `//' | sort -u > "$W/doc.flags"
if diff "$W/doc.flags" "$W/help.flags" > "$W/flags.diff"; then ok "docs/runtime.md's flag table and --help list the same $(wc -l < "$W/help.flags") flags"
else bad "docs/runtime.md (<) and --help (>) list different flags:"; sed 's/^/  | /' "$W/flags.diff"; fi
# the commands: --help's "commands:" list and runtime.md's synopsis (its
# first block, `./trainer CMD ...` lines, `[train]` the default)
sed -n '/^commands:/,/^$/p' "$W/help.txt" | grep -E '^  [a-z]' | awk '{print $1}' | sort -u > "$W/help.cmds"
awk '/^```/ { if (++k == 2) exit; next } k == 1' "$SRC/docs/runtime.md" |
  sed -n -E 's/^\.\/trainer \[?([a-z]+).*/\1/p' | sort -u > "$W/doc.cmds"
if [ -s "$W/help.cmds" ] && diff "$W/doc.cmds" "$W/help.cmds" > "$W/cmds.diff"; then
  ok "docs/runtime.md's synopsis and --help list the same $(wc -l < "$W/help.cmds") commands"
else bad "docs/runtime.md's synopsis (<) and --help (>) list different commands:"; sed 's/^/  | /' "$W/cmds.diff"; fi
for c in 0 1 2 3; do
  check "exit code $c in --help" grep -q -E "(codes: |; +|^ +)$c " "$W/help.txt"
  check "exit code $c in docs/runtime.md" grep -q -E "^\| $c \|" "$SRC/docs/runtime.md"
done
check "--init names LLaMA in a LLaMA trainer" grep -q "Hugging Face LLaMA" "$W/help.txt"
check "--init names GPT-2 in a GPT-2 trainer" grep -q "Hugging Face GPT-2" "$W/gpt-help.txt"
check "--init in a LLaMA trainer does not say GPT-2" sh -c "! grep -q 'GPT-2' '$W/help.txt'"

# -- ftc's commands: README's "Using ftc" table lists every one ------------
"$FTC" --help | sed -n '/^commands:/,/^$/p' | grep -E '^  [a-z]' | awk '{print $1}' | sort -u > "$W/ftc.cmds"
grep -o -E '^\| `ftc [a-z0-9-]+' "$SRC/README.md" | sed 's/.* //' | sort -u > "$W/readme.cmds"
if [ -s "$W/ftc.cmds" ] && diff "$W/readme.cmds" "$W/ftc.cmds" > "$W/ftc-cmds.diff"; then
  ok "README's table and ftc --help list the same $(wc -l < "$W/ftc.cmds") ftc commands"
else bad "README's table (<) and ftc --help (>) list different ftc commands:"; sed 's/^/  | /' "$W/ftc-cmds.diff"; fi

# -- ftc graph: README says what the default prints --------------------------
row=$(grep -F '| `ftc graph' "$SRC/README.md")
check "README's ftc graph row: forward by default, --backward adds the rest" \
  sh -c "echo '$row' | grep -q 'forward graph' && echo '$row' | grep -q -- '--backward'"
"$FTC" graph "$SRC/examples/tiny_gpt.ft" > "$W/f.dot" && "$FTC" graph "$SRC/examples/tiny_gpt.ft" --backward > "$W/b.dot"
check "ftc graph prints the forward only by default" [ "$(wc -l < "$W/b.dot")" -gt "$(wc -l < "$W/f.dot")" ]

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
