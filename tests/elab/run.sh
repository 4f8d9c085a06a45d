#!/bin/sh
# tests/elab/run.sh -- golden tests of elaboration: each NAME.ft here is
# elaborated and its IR dump (or its diagnostics) compared with NAME.expected.
# UPDATE=1 rewrites the expected files (review the diff).
: "${BUILD:?}" "${SRC:?}"
here=$SRC/tests/elab
tmp=$(mktemp -d) || exit 3
trap 'rm -rf "$tmp"' EXIT
cflags=$(sed -n 's/^#define FTC_CFLAGS "\(.*\)"/\1/p' "$BUILD/config.h")
libs=$(sed -n 's/^#define FTC_RT_LIBS "\(.*\)"/\1/p' "$BUILD/config.h")
cc=$(sed -n 's/^#define FTC_CC "\(.*\)"/\1/p' "$BUILD/config.h")
# shellcheck disable=SC2086
if ! ${cc:-cc} $cflags -I"$BUILD" -I"$SRC/compiler" -I"$SRC/lang" "$here/elab_dump.c" \
    "$BUILD/libftc.a" "$BUILD/liblang.a" "$BUILD/libftrt.a" $libs -o "$tmp/elab_dump"; then
  echo "0 passed, 1 failed"; exit 1
fi
pass=0; fail=0
cd "$here" || exit 3
for t in *.ft; do
  name=${t%.ft}
  "$tmp/elab_dump" "$SRC/stdlib" "$t" 2>&1 | sed "s|$SRC/||g" > "$tmp/$name.out"
  if [ "${UPDATE:-0}" = 1 ]; then cp "$tmp/$name.out" "$name.expected"; fi
  if diff -u "$name.expected" "$tmp/$name.out" > "$tmp/$name.diff" 2>&1; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); echo "FAIL elab/$name"; head -n 30 "$tmp/$name.diff"
  fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
