#!/bin/sh
# tests/tokenizer/run.sh -- ftc's tokenizer.json against the real `tokenizers`
# library: tokenizers of each kind (GPT-2, LLaMA-3, LLaMA-2 legacy and
# Metaspace, every split behaviour, more normalizers), trained by the library
# on the Debian fortunes, must give identical ids (with and without the
# post-processor's special tokens) and identical decodes on every fortune
# line, random UTF-8, invalid bytes, emoji, long whitespace runs and every
# added token in context; byte-level decoding gives the text back; thread
# counts do not change ids; malformed files are clear errors naming the JSON
# path. Needs the test virtualenv (tests/venv.sh) and the fortunes.
: "${FTC:?}" "${BUILD:?}" "${SRC:?}"
. "$SRC/tests/venv.sh"
venv_need tokenizers || exit 77
ls /usr/share/games/fortunes/fortunes > /dev/null 2>&1 ||
  { echo "skipped: no /usr/share/games/fortunes (apt-get install fortunes)"; exit 77; }
W=$BUILD/tokenizer
rm -rf "$W" && mkdir -p "$W" || exit 1
. "$SRC/tests/lib.sh"

kinds=$("$PY" "$SRC/tests/tokenizer/tok_ref.py" make "$W" 2> "$W/py.err")
[ -n "$kinds" ] || { bad "tok_ref.py make"; sed 's/^/  | /' "$W/py.err" | tail; echo "tokenizer: $pass passed, $fail failed"; exit 1; }

# the first differing line of two files, with its input
diffline() { # mine ref texts
  awk 'NR == FNR { a[FNR] = $0; next } a[FNR] != $0 { print "  line " FNR ": ftc: " substr(a[FNR], 1, 160); print "  line " FNR ": ref: " substr($0, 1, 160); exit }' "$1" "$2"
}
for k in $kinds; do
  case $k in gpt2|llama3|llama2|llama2_metaspace) T=$W/texts.bin;; *) T=$W/small.bin;; esac
  n=$(grep -c '' "$W/$k.ids")
  "$FTC" tokenize "$W/$k.json" "$T" --lines > "$W/$k.ftc.ids" 2> "$W/$k.err"
  if cmp -s "$W/$k.ftc.ids" "$W/$k.ids"; then ok "$k: ids of $n lines equal the library's"
  else bad "$k: ids differ from the library's"; diffline "$W/$k.ftc.ids" "$W/$k.ids"; sed 's/^/  | /' "$W/$k.err" | head -3; fi
  "$FTC" tokenize "$W/$k.json" "$T" --lines --no-special > "$W/$k.ftc.raw.ids" 2>> "$W/$k.err"
  check "$k: ids without the post-processor's tokens equal too" cmp -s "$W/$k.ftc.raw.ids" "$W/$k.raw.ids"
  "$FTC" tokenize "$W/$k.json" "$W/$k.ids" --decode > "$W/$k.ftc.dec" 2>> "$W/$k.err"
  if cmp -s "$W/$k.ftc.dec" "$W/$k.dec"; then ok "$k: decodes equal the library's"
  else bad "$k: decodes differ"; diffline "$W/$k.ftc.dec" "$W/$k.dec"; fi
done

# byte-level tokenizers are lossless: decode(encode(text)) = the text (its
# invalid bytes as U+FFFD), on the fortunes and random text
for k in gpt2 llama3; do
  "$FTC" tokenize "$W/$k.json" "$W/plain.bin" --lines --no-special > "$W/$k.plain.ids" 2>&1
  "$FTC" tokenize "$W/$k.json" "$W/$k.plain.ids" --decode > "$W/$k.round" 2>&1
  check "$k: decode(encode(text)) gives every line back" cmp -s "$W/$k.round" "$W/plain.fixed"
done

# the thread count does not change ids
"$FTC" tokenize "$W/llama3.json" "$W/small.bin" --lines --threads 1 > "$W/t1.ids" 2>&1
"$FTC" tokenize "$W/llama3.json" "$W/small.bin" --lines --threads 3 > "$W/t3.ids" 2>&1
check "ids with 1 and 3 threads are identical" cmp -s "$W/t1.ids" "$W/t3.ids"
# the whole file as one text (not lines) equals the library's too
"$FTC" tokenize "$W/gpt2.json" /usr/share/games/fortunes/fortunes --no-special > "$W/whole.ids" 2>&1
"$PY" -c 'import sys; from tokenizers import Tokenizer
t = Tokenizer.from_file(sys.argv[1]); s = open(sys.argv[2], "rb").read().decode("utf-8", "replace")
print(" ".join(map(str, t.encode(s, add_special_tokens=False).ids)))' "$W/gpt2.json" \
  /usr/share/games/fortunes/fortunes > "$W/whole.ref" 2>> "$W/py.err"
check "a whole file as one text: ids equal the library's" cmp -s "$W/whole.ids" "$W/whole.ref"

# a recipe with tokenizer: bpe(...): the trainer tokenizes the text itself;
# the same tokens pre-tokenized by `ftc data text2shards --tokenizer` give
# the same losses, and a model vocabulary smaller than the tokenizer's is a
# diagnostic at the recipe
F=/usr/share/games/fortunes/fortunes
for src in "text(\"$F\", tokenizer: bpe(\"llama3.json\")" "shards(\"f.bin\""; do
  n=$(echo "$src" | cut -c1-4)
  cat > "$W/r_$n.ft" <<FT
use llama
model = llama.llama(vocab: 4112, dim: 32, n_layers: 1, heads: 2, kv_heads: 1, hidden: 64)
weights = init(seed: 1)
data train = $src, seq: 32, batch: 2)
train {
  steps 3
  optimizer adamw(lr: 1e-3)
}
FT
done
"$FTC" data text2shards "$F" -o "$W/f.bin" --tokenizer "$W/llama3.json" > "$W/shard.out" 2>&1
"$FTC" build "$W/r_text.ft" -o "$W/r_text" > "$W/r.out" 2>&1 && "$FTC" build "$W/r_shar.ft" -o "$W/r_shar" >> "$W/r.out" 2>&1 &&
  "$W/r_text" --out "$W/run_text" --quiet >> "$W/r.out" 2>&1 && "$W/r_shar" --out "$W/run_shar" --quiet >> "$W/r.out" 2>&1
check "bpe(...) in a recipe: trains 3 steps" [ $? = 0 ]
l1=$(grep -o '"loss": [^,]*' "$W/run_text/metrics.jsonl" | tr '\n' ' ')
l2=$(grep -o '"loss": [^,]*' "$W/run_shar/metrics.jsonl" | tr '\n' ' ')
check "text with bpe(...) and its text2shards shard give the same losses ($l1)" [ -n "$l1" ] && [ "$l1" = "$l2" ]
sed 's/vocab: 4112/vocab: 4000/' "$W/r_text.ft" > "$W/r_small.ft"
"$FTC" check "$W/r_small.ft" > /dev/null 2>&1; "$FTC" plan "$W/r_small.ft" > "$W/r_small.err" 2>&1
check "a model vocab smaller than the tokenizer's is a diagnostic" grep -q "r_small.ft:2:9: error: the model's vocab is 4000 but the tokenizer has 4101 tokens" "$W/r_small.err"

# malformed tokenizer.json: one clear error naming the file and the JSON path
bad_json() { # name, python edit of the dict d (or "raw:TEXT"), expected message part
  case $2 in
    raw:*) printf '%s' "${2#raw:}" > "$W/bad_$1.json";;
    *) "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); exec(sys.argv[2]); json.dump(d, open(sys.argv[3], "w"))' \
         "$W/llama2.json" "$2" "$W/bad_$1.json";;
  esac
  echo hi | "$FTC" tokenize "$W/bad_$1.json" > /dev/null 2> "$W/bad_$1.err"; rc=$?
  if [ $rc = 1 ] && grep -qF -- "$3" "$W/bad_$1.err" && grep -qF "bad_$1.json" "$W/bad_$1.err"; then
    ok "malformed ($1): $(cat "$W/bad_$1.err")"
  else bad "malformed ($1): exit $rc, wanted '$3':"; sed 's/^/  | /' "$W/bad_$1.err"; fi
}
bad_json truncated 'raw:{"model": {"type": "BPE", "vocab": {"a": 0' 'not valid JSON: 1:36: unterminated object'
bad_json empty 'raw:' 'not valid JSON: 1:1: expected a value'
bad_json vocab_id 'd["model"]["vocab"]["<s>"] = "one"' 'model.vocab["<s>"]: expected a token id'
bad_json merge 'd["model"]["merges"][5] = ["zzzq", "x"]' "model.merges[5]: 'zzzq' is not in model.vocab"
bad_json normalizer 'd["normalizer"] = {"type": "NFKD"}' "normalizer: normalizer type 'NFKD' is not supported (supported: Sequence, Prepend, Replace, Strip)"
bad_json regex 'd["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated", "invert": False}' 'pre_tokenizer.pattern.Regex: cannot use this regex: at offset 2: unsupported group (?<'
bad_json added 'd["added_tokens"][1]["id"] = -3' 'added_tokens[1].id: expected a token id'
bad_json model 'd["model"]["type"] = "Unigram"' "model.type: model type 'Unigram' is not supported (BPE only)"
bad_json nomodel 'del d["model"]' 'model: missing'
bad_json decoder 'd["decoder"]["decoders"][3]["start"] = "x"' 'decoder.decoders[3].start: expected start: a count'

[ "$fail" != 0 ] && [ -s "$W/py.err" ] && { echo "python stderr:"; tail -n 15 "$W/py.err" | sed 's/^/  | /'; }
echo "tokenizer: $pass passed, $fail failed"
[ "$fail" = 0 ] && rm -rf "$W"
[ "$fail" = 0 ]
