#!/usr/bin/env bash
# valgrind memcheck over file-mode runs: the golden inputs, a file of hostile
# records (every reject path, 100,000-deep nesting, an oversized line), and a
# configuration error. Fails on any memcheck error or any "definitely lost"
# block. Skips (77) without valgrind or on a sanitizer build.
. "$WD_SOURCE_DIR/tests/cli/helpers.sh"
command -v valgrind >/dev/null || { echo "skip: valgrind not installed"; exit 77; }
[ -z "${WD_SANITIZE:-}" ] || { echo "skip: built with -fsanitize=$WD_SANITIZE"; exit 77; }

# vg DESC EXIT ARGS...: run wiredup under memcheck, want exit EXIT
vg() {
  local desc=$1 want=$2; shift 2
  local log=$T_TMP/vg.$((++VG_N)).log
  valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
    --num-callers=30 --log-file="$log" "$WIREDUP" "$@" >"$T_TMP/out" 2>"$T_TMP/err"
  local rc=$?
  if [ "$rc" -eq 99 ] || grep -qE 'definitely lost: [1-9]|ERROR SUMMARY: [1-9]' "$log"; then
    t_fail "$desc: memcheck: $(grep -E 'Invalid|uninitialised|definitely lost|ERROR SUMMARY' "$log" | head -n 5)"
    sed -n '1,80p' "$log" >&2
  elif [ "$rc" -ne "$want" ]; then
    t_fail "$desc: exit $rc, want $want: $(head -c 300 "$T_TMP/err")"
  elif ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
    t_fail "$desc: no memcheck summary in $log"
  else
    t_pass "$desc: no errors, nothing definitely lost"
  fi
}
VG_N=0

vg "golden sample" 0 run --input "$WD_SOURCE_DIR/tests/golden/sample.in.jsonl" --output /dev/null
t_grep "$T_TMP/err" 'msg="file mode done" records=47 ' "sample fully processed"
vg "golden edge cases" 0 run --input "$WD_SOURCE_DIR/tests/golden/edge.in.jsonl" --output /dev/null

python3 - "$T_TMP/hostile.jsonl" <<'PYEOF'
import json, sys
story = "dock workers return to work after a three day strike over pay " * 4
lines = [json.dumps({"id": "g1", "body": story, "published_at": "2025-06-01T10:00:00Z"}).encode(),
         b"not json", b'{"id":"t","body":"trunc', b"[1,2]", b'{"body":"no id"}',
         b'{"id":null,"body":"x"}', b'{"id":{"a":1},"body":"x"}', b'{"id":"m"}',
         b'{"id":"s","body":7}', b'{"id":"u","body":"\xff\xfe"}', b'{"id":"c","body":"a\x01"}',
         rb'{"id":"z\u0000","body":"x"}', b"[" * 100000 + b"]" * 100000,
         json.dumps({"id": "big", "body": "x" * 2000000}).encode(), b"",
         json.dumps({"id": "ts", "body": "bad timestamp", "published_at": "2017-02-30T00:00:00Z"}).encode(),
         json.dumps({"id": "g2", "body": story + " today", "source": "x"}).encode(),
         json.dumps({"id": "g1", "body": "redelivered"}).encode()]
open(sys.argv[1], "wb").write(b"\n".join(lines) + b"\n")
PYEOF
vg "hostile records" 0 run --input "$T_TMP/hostile.jsonl"
t_grep "$T_TMP/err" 'msg="file mode done" records=4 invalid=13 ' "hostile file: 4 processed, 13 reported"
vg "configuration error" 2 run --input "$T_TMP/hostile.jsonl" --set lsh.bands=7
t_done
