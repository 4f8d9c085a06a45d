# tests/venv.sh -- the one virtualenv every suite that needs a real peer
# library uses (torch, transformers, safetensors, peft, tokenizers from
# PyPI), sourced by tests/*/run.sh and bench scripts:
#   . "$SRC/tests/venv.sh"; venv_need torch transformers || exit 77
# It lives at ${FTC_VENV:-$HOME/.cache/ftc/venv}, is made on first use and
# reused after; installs are serialized with flock, so suites running side
# by side never pip into it at once. venv_need prints why it cannot, and
# the caller skips (exit 77): a machine without PyPI still passes.
VENV=${FTC_VENV:-$HOME/.cache/ftc/venv}
PY=$VENV/bin/python
# Every package any suite imports: installed together, so the first suite
# that needs the venv makes the whole of it (one pip resolve, not five).
VENV_PACKAGES="torch transformers safetensors peft tokenizers"

venv_have() { "$PY" -c "import $(echo "$@" | tr ' ' ',')" > /dev/null 2>&1; }

venv_need() { # module...
  venv_have "$@" && return 0
  mkdir -p "$(dirname "$VENV")"
  log=${BUILD:-/tmp}/venv.log
  (
    flock 9
    venv_have "$@" && exit 0
    echo "venv: making $VENV ($VENV_PACKAGES)" >&2
    { [ -x "$PY" ] || python3 -m venv "$VENV"; } > "$log" 2>&1 || exit 1
    timeout 900 "$PY" -m pip install -q --disable-pip-version-check $VENV_PACKAGES >> "$log" 2>&1
    venv_have "$@"
  ) 9> "$(dirname "$VENV")/.venv.lock"
  rc=$?
  [ $rc = 0 ] || echo "skipped: no virtualenv with $* at $VENV (python3 -m venv or pip failed, e.g. no network; see $log)"
  return $rc
}
