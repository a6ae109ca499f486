#!/usr/bin/env bash
# Golden file-mode runs: tests/golden/<case>.in.jsonl must give exactly
# <case>.out.jsonl. Regenerate deliberately with scripts/regen-golden.sh and
# review the diff: a change here is a change in every user's cluster ids.
. "$(dirname "$0")/helpers.sh"

n=0
for in in "$WD_SOURCE_DIR"/tests/golden/*.in.jsonl; do
  [ -e "$in" ] || continue
  case_name=$(basename "$in" .in.jsonl)
  want=${in%.in.jsonl}.out.jsonl
  t_expect_exit 0 "golden $case_name runs" -- "$WIREDUP" run --input "$in" || continue
  if diff -u "$want" "$T_OUT" > "$T_TMP/diff"; then
    t_pass "golden $case_name matches"
  else
    t_fail "golden $case_name differs: $(head -40 "$T_TMP/diff")"
  fi
  n=$((n + 1))
done
[ "$n" -gt 0 ] && t_pass "$n golden cases" || t_fail "no golden cases found"
t_done
