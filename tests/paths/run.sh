#!/bin/sh
# tests/paths/run.sh -- where paths resolve, as README's "Your first recipe"
# says: a path written in a recipe (data, load, save to) is relative to the
# recipe's directory, recorded when ftc builds it and shown by --help, so
# the trainer finds the same files from any working directory; a path
# given as a trainer flag (--data, --init, --out), and the default output
# runs/NAME, are relative to the current directory. Each rule is checked
# from three working directories: the recipe's parent, the recipe's own
# directory and an unrelated one. Also: a directory of shards as data.
# One line per check; ends "N passed, N failed".
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
W=$BUILD/paths
rm -rf "$W" && mkdir -p "$W/proj/sub/data" "$W/proj/sub/w" "$W/elsewhere" || exit 1
. "$SRC/tests/lib.sh"
W=$(cd "$W" && pwd -P)

awk 'BEGIN { for (i = 0; i < 300; i++) printf "the quick brown fox %d. ", i }' > "$W/proj/sub/data/t.txt"
model='model = gpt2.gpt2(vocab: 256, ctx: 16, layers: 1, heads: 2, dim: 16)'
data='data train = text("data/t.txt", tokenizer: bytes, seq: 8, batch: 2)'
# rel.ft: init, saves to "runs/x"; load.ft: loads "w/init.safetensors",
# saves to "out/l"; plain.ft: no `save to` (the default runs/plain).
printf 'use gpt2\n%s\nweights = init(seed: 1)\n%s\ntrain {\n  steps 2\n  save every 2 to "runs/x"\n}\n' \
  "$model" "$data" > "$W/proj/sub/rel.ft"
printf 'use gpt2\n%s\nweights = load("w/init.safetensors")\n%s\ntrain {\n  steps 2\n  save to "out/l"\n}\n' \
  "$model" "$data" > "$W/proj/sub/load.ft"
printf 'use gpt2\n%s\nweights = init(seed: 1)\n%s\ntrain {\n  steps 1\n}\n' \
  "$model" "$data" > "$W/proj/sub/plain.ft"

# Built three ways: from the parent with a relative path, from the recipe's
# directory, from elsewhere with an absolute path.
(cd "$W/proj" && "$FTC" build sub/rel.ft -o "$W/rel") > "$W/b1.log" 2>&1 &&
  (cd "$W/proj/sub" && "$FTC" build load.ft -o "$W/load") > "$W/b2.log" 2>&1 &&
  (cd "$W/elsewhere" && "$FTC" build "$W/proj/sub/plain.ft" -o "$W/plain") > "$W/b3.log" 2>&1
check "ftc build from three directories" [ $? = 0 ]

"$W/rel" --help > "$W/help.txt" 2>&1
check "--help shows the recorded recipe directory" grep -q "recorded at build time: $W/proj/sub\$" "$W/help.txt"
check "--help says flags are relative to the current directory" grep -q "given as flags (--data, --init, --out) are relative to the current" "$W/help.txt"

n=0
for wd in "$W/proj" "$W/proj/sub" "$W/elsewhere"; do
  n=$((n + 1))
  rm -rf "$W/proj/sub/runs" "$W/proj/sub/out"
  (cd "$wd" && "$W/rel" --quiet) > "$W/r$n.log" 2>&1
  check "run $n: recipe data found from $wd (exit 0)" [ $? = 0 ]
  check "run $n: save to \"runs/x\" lands beside the recipe" [ -s "$W/proj/sub/runs/x/model.safetensors" ]
  check "run $n: and not in the working directory" test ! -e "$wd/runs/x" -o "$wd" = "$W/proj/sub"
  cp "$W/proj/sub/runs/x/model.safetensors" "$W/proj/sub/w/init.safetensors"
  (cd "$wd" && "$W/load" --steps 1) > "$W/l$n.log" 2>&1
  check "run $n: load(\"w/init.safetensors\") found from $wd" grep -q "loaded .*$W/proj/sub/w/init.safetensors" "$W/l$n.log"
  check "run $n: save to \"out/l\" beside the recipe" [ -s "$W/proj/sub/out/l/model.safetensors" ]
  (cd "$wd" && rm -rf runs/plain && "$W/plain" --quiet) > "$W/p$n.log" 2>&1
  check "run $n: no save to: runs/plain in the working directory" [ -s "$wd/runs/plain/model.safetensors" ]
done

# Flags are the user's: relative to where the trainer runs.
awk 'BEGIN { for (i = 0; i < 300; i++) printf "a different text %d. ", i }' > "$W/elsewhere/mine.txt"
mkdir -p "$W/elsewhere/w2" && cp "$W/proj/sub/w/init.safetensors" "$W/elsewhere/w2/i.safetensors"
(cd "$W/elsewhere" && "$W/rel" --steps 1 --data mine.txt --init w2/i.safetensors --out o) > "$W/f.log" 2>&1
check "flags: --data, --init, --out relative to the current directory (exit 0)" [ $? = 0 ]
check "flags: --data mine.txt read from there" grep -q "data mine.txt" "$W/f.log"
check "flags: --init read from there" grep -q "loaded .*w2/i.safetensors" "$W/f.log"
check "flags: --out o written there" [ -s "$W/elsewhere/o/model.safetensors" ]
(cd "$W/proj" && "$W/rel" --steps 1 --data mine.txt --out o) > "$W/f2.log" 2>&1
check "flags: --data mine.txt is not looked up beside the recipe (exit 1)" [ $? = 1 ]
check "flags: the message names the path as given" grep -q "mine.txt: cannot open" "$W/f2.log"

# A missing recipe file is named with the directory it was looked up in.
mv "$W/proj/sub/data/t.txt" "$W/proj/sub/data/t.moved"
(cd "$W/elsewhere" && "$W/rel" --quiet) > "$W/m.log" 2>&1
check "missing recipe data: exit 1" [ $? = 1 ]
check "missing recipe data: named with the recipe's directory" grep -q "$W/proj/sub/data/t.txt: cannot open" "$W/m.log"
mv "$W/proj/sub/data/t.moved" "$W/proj/sub/data/t.txt"

# shards("dir", ...): a directory of shards, in name order.
mkdir -p "$W/proj/sub/sh"
head -c 2000 "$W/proj/sub/data/t.txt" > "$W/a.txt"; tail -c 2000 "$W/proj/sub/data/t.txt" > "$W/b.txt"
"$FTC" data text2shards "$W/b.txt" -o "$W/proj/sub/sh/001.bin" > /dev/null &&
  "$FTC" data text2shards "$W/a.txt" -o "$W/proj/sub/sh/000.bin" > /dev/null
sed 's|text("data/t.txt", tokenizer: bytes,|shards("sh",|' "$W/proj/sub/plain.ft" > "$W/proj/sub/sh.ft"
"$FTC" build "$W/proj/sub/sh.ft" -o "$W/sh" > "$W/sh.build" 2>&1 &&
  (cd "$W/elsewhere" && "$W/sh" --out sh-out) > "$W/sh.log" 2>&1
check "shards(\"sh\"): a directory of shards trains (exit 0)" [ $? = 0 ]
check "shards(\"sh\"): all 4000 tokens of both shards" grep -q "(3600 train / 400 val tokens)" "$W/sh.log"
echo junk > "$W/proj/sub/sh/002.txt"
(cd "$W/elsewhere" && "$W/sh" --out sh-out) > "$W/sh2.log" 2>&1
check "shards(\"sh\"): a stray file is an error naming it" grep -q "sh/002.txt: not a token shard" "$W/sh2.log"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
