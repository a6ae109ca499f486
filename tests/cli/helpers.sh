# Shared by tests/cli/*.sh (kcat tests/ style). Source it first.
set -u
: "${WIREDUP:?WIREDUP must point at the wiredup binary}"
: "${WD_SOURCE_DIR:?}"
T_NAME=$(basename "$0" .sh)
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wd-$T_NAME.XXXXXX")
trap 'rm -rf "$T_TMP"' EXIT
T_FAILS=0

t_fail() { echo "FAIL [$T_NAME]: $*" >&2; T_FAILS=$((T_FAILS + 1)); }
t_pass() { echo "ok   [$T_NAME]: $*" >&2; }

# t_expect_exit CODE DESC -- CMD...   runs CMD, keeps stdout/stderr in $T_OUT/$T_ERR
t_expect_exit() {
  local want=$1 desc=$2; shift 3
  T_OUT=$T_TMP/out; T_ERR=$T_TMP/err
  "$@" >"$T_OUT" 2>"$T_ERR"; local got=$?
  if [ "$got" -ne "$want" ]; then
    t_fail "$desc: exit $got, want $want; stderr: $(head -c 600 "$T_ERR")"
    return 1
  fi
  t_pass "$desc"
}

# t_grep FILE REGEX DESC
t_grep() {
  if grep -qE -- "$2" "$1"; then t_pass "$3"; else t_fail "$3: /$2/ not in: $(head -c 600 "$1")"; fi
}
t_no_grep() {
  if grep -qE -- "$2" "$1"; then t_fail "$3: /$2/ found"; else t_pass "$3"; fi
}

t_done() {
  if [ "$T_FAILS" -ne 0 ]; then echo "$T_NAME: $T_FAILS failed" >&2; exit 1; fi
  echo "$T_NAME: all passed" >&2; exit 0
}
