#!/bin/sh
# examples/demo.sh BUILD -- the README's first run: builds the tiny GPT recipe,
# trains it on the Debian fortunes (no download), prints a sample.
set -e
B=${1:-build}
mkdir -p examples/data
if [ ! -s examples/data/fortunes.txt ]; then
  # fortune files separate entries with '%' lines; keep the text only
  for f in /usr/share/games/fortunes/*; do
    case $f in *.dat|*.u8) continue;; esac
    [ -f "$f" ] && grep -v '^%$' "$f"
  done > examples/data/fortunes.txt || true
  if [ ! -s examples/data/fortunes.txt ]; then
    echo "demo: no fortunes found (apt-get install fortunes-min fortunes)" >&2; exit 1
  fi
fi
echo "demo: $(wc -c < examples/data/fortunes.txt) bytes of fortunes"
"$B/ftc" build examples/tiny_gpt.ft -o "$B/tiny_gpt"
"$B/tiny_gpt" --out runs/tiny_gpt
"$B/tiny_gpt" sample --out runs/tiny_gpt --prompt "The " --tokens 200 --temperature 0.8 --top-k 40 --seed 7
