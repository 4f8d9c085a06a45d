# tests/lib.sh -- what the shell suites share (sourced by tests/*/run.sh):
# counting checks, one line per check, and number comparisons.
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
num='/^-?[0-9][0-9.]*([eE][-+]?[0-9]+)?$/'   # a finite number (not nan/inf)
# |a - b| <= tol * |b|, both finite numbers
close() { awk -v a="$1" -v b="$2" -v t="$3" \
  "BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(a ~ $num && b ~ $num && d <= t * m) }"; }
# expect DESC 'CONDITION': the whole shell condition (&&, ||, !, pipes) is
# the check; `check DESC [ a ] && [ b ]` would check only [ a ].
expect() { d=$1; shift; if eval "$*"; then ok "$d"; else bad "$d"; fi; }
