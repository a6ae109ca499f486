#!/usr/bin/env bash
# File mode: every bad line is reported with its line number and skipped; the
# run goes on, exits 0, and good lines around bad ones all get results.
. "$(dirname "$0")/helpers.sh"

in=$T_TMP/in.jsonl
{
  echo '{"id":"a1","body":"The port authority said on Monday that dock workers would return to work after a three day strike over pay and shift patterns."}'
  echo 'this is not json'
  echo '{"id":"a2","body":"truncated'
  echo '[1,2,3]'
  echo '{"body":"no id here at all"}'
  echo '{"id":null,"body":"null id"}'
  echo '{"id":{"x":1},"body":"object id"}'
  echo '{"id":"a3"}'
  echo '{"id":"a4","body":42}'
  printf '{"id":"a5","body":"bad \xff\xfe utf8"}\n'
  echo '{"id":"a6","body":"ok","published_at":"yesterday"}'
  echo ''
  echo '{"id":"a7","body":"The port authority said on Monday that dock workers would return to work after a three-day strike over pay and shift patterns."}'
  echo '{"id":8,"body":"integer ids are fine","published_at":1700000000000}'
  python3 -c 'print("{\"id\":\"big\",\"body\":\"" + "x "*3000 + "\"}")'
  echo '{"id":"a9","body":"مرحبا بالعالم 🌍 right-to-left and emoji are valid"}'
} > "$in"

t_expect_exit 0 "run over bad lines exits 0" -- "$WIREDUP" run --input "$in" --set input.max_bytes=4KiB
for n in 2 3 4 5 6 7 8 9 10 15; do
  t_grep "$T_ERR" "line=$n( |$)" "line $n reported"
done
t_grep "$T_ERR" "line=2 .*not valid JSON" "reason: not JSON"
t_grep "$T_ERR" "line=4 .*not a JSON object" "reason: not an object"
t_grep "$T_ERR" "line=5 .*missing id" "reason: missing id"
t_grep "$T_ERR" "line=8 .*missing text" "reason: missing text"
t_grep "$T_ERR" "line=9 .*not a string" "reason: text not a string"
t_grep "$T_ERR" "line=10 .*UTF-8" "reason: not UTF-8"
# a bad timestamp is optional data gone wrong: a warning, and the record is processed
t_grep "$T_ERR" 'msg="ignored bad timestamp" id=a6 .*RFC 3339' "bad timestamp warned"
t_grep "$T_OUT" '"id":"a6",.*"published_at":null' "bad timestamp treated as absent"
t_grep "$T_ERR" "line=15 .*max_bytes" "reason: too large"
t_no_grep "$T_ERR" "line=12( |$)" "blank line not reported"
t_grep "$T_ERR" 'msg="file mode done".*records=5 invalid=10' "summary counts"
[ "$(wc -l < "$T_OUT")" -eq 5 ] && t_pass "5 results" || t_fail "want 5 result lines, got $(wc -l < "$T_OUT")"
t_grep "$T_OUT" '"id":"a7","cluster_id":"a1","duplicate_of":"a1"' "a7 joins a1 across bad lines"
t_grep "$T_OUT" '"id":"8",.*"published_at":"2023-11-14T22:13:20Z"' "integer id and epoch ms"
t_grep "$T_OUT" '"id":"a9"' "RTL + emoji processed"

# a line of 2 MB is skipped without being buffered, then processing goes on
python3 -c 'import sys; sys.stdout.write("{\"id\":\"huge\",\"body\":\"" + "y"*2000000 + "\"}\n{\"id\":\"after\",\"body\":\"still here\"}\n")' > "$T_TMP/huge.jsonl"
t_expect_exit 0 "oversized line" -- "$WIREDUP" run --input "$T_TMP/huge.jsonl"
t_grep "$T_ERR" "line=1 .*exceeds input.max_bytes" "oversized line reported"
t_grep "$T_OUT" '"id":"after"' "line after it processed"

# redelivered id: the stored answer again, never a match with itself
printf '%s\n' '{"id":"r1","body":"alpha beta gamma delta epsilon zeta eta theta iota kappa"}' \
              '{"id":"r1","body":"alpha beta gamma delta epsilon zeta eta theta iota kappa"}' > "$T_TMP/dup.jsonl"
t_expect_exit 0 "duplicate id" -- "$WIREDUP" run --input "$T_TMP/dup.jsonl"
[ "$(grep -c '"id":"r1","cluster_id":"r1","duplicate_of":null' "$T_OUT")" -eq 2 ] \
  && t_pass "same answer twice" || t_fail "duplicate id answers differ: $(cat "$T_OUT")"
t_done
