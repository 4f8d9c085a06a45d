# tests/integrity/tiny.sh -- sourced by the suites that train tiny.ft many
# times (integrity, anomaly, check, faults): `tiny_build DIR` writes
# DIR/tiny.ft and its data and builds DIR/tiny; on failure it prints the
# build log, the suite's counts, and exits.
tiny_build() {
  cp "$SRC/tests/integrity/tiny.ft" "$1/" &&
    awk 'BEGIN { for (i = 0; i < 200; i++) printf "the quick brown fox jumps over the lazy dog. " }' > "$1/data.txt"
  if ! "$FTC" build "$1/tiny.ft" -o "$1/tiny" > "$1/build.log" 2>&1; then
    bad "ftc build tiny.ft:"; sed 's/^/  | /' "$1/build.log" | head
    echo "$pass passed, $fail failed"; exit 1
  fi
}
