#!/usr/bin/env bash
# eval: output format, --json, --sweep, --label-field, on a small labelled set
# written here whose right answer is obvious.
. "$(dirname "$0")/helpers.sh"

story1="Dock workers at the northern port ended a three day strike on Monday after the union accepted a revised offer on pay and shift patterns, the port authority said."
story2="The central bank held its benchmark interest rate at four percent on Thursday, saying inflation was easing but remained above its target for the coming year."
story3="Firefighters battled a wildfire in the hills above the town for a second night as strong winds pushed the flames toward farms and hundreds of residents were evacuated."
{
  printf '{"id":"a","body":"%s","grp":"s1"}\n' "$story1"
  printf '{"id":"b","body":"%s","grp":"s2"}\n' "$story2"
  printf '{"id":"c","body":"<p>%s</p><p>Advertisement</p>","grp":"s1"}\n' "$story1"
  printf '{"id":"d","body":"%s","grp":"s3"}\n' "$story3"
  printf '{"id":"e","body":"%s Subscribe to our newsletter.","grp":"s2"}\n' "$story2"
  printf '{"id":"f","body":"%s","grp":"s3"}\n' "$story3"
} > "$T_TMP/l.jsonl"

t_expect_exit 0 "eval" -- "$WIREDUP" eval --input "$T_TMP/l.jsonl" --label-field grp
for k in ari pair_precision pair_recall pair_f1 clusters docs; do
  t_grep "$T_OUT" "^$k=" "prints $k"
done
t_grep "$T_OUT" "^ari=1\.0+$" "perfect clustering scores ari=1"
t_grep "$T_OUT" "^clusters=3$" "3 clusters"
t_grep "$T_OUT" "^docs=6$" "6 docs"

t_expect_exit 0 "eval --json" -- "$WIREDUP" eval --input "$T_TMP/l.jsonl" --label-field grp --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert set(d)=={"ari","pair_precision","pair_recall","pair_f1","clusters","docs"}' "$T_OUT" \
  && t_pass "--json keys" || t_fail "--json: $(cat "$T_OUT")"

# labels that disagree with the text must lower the score
sed 's/"grp":"s3"/"grp":"s1"/' "$T_TMP/l.jsonl" > "$T_TMP/wrong.jsonl"
t_expect_exit 0 "eval wrong labels" -- "$WIREDUP" eval --input "$T_TMP/wrong.jsonl" --label-field grp
t_no_grep "$T_OUT" "^ari=1\.0+$" "wrong labels score below 1"

t_expect_exit 0 "eval --sweep" -- "$WIREDUP" eval --input "$T_TMP/l.jsonl" --label-field grp --sweep
[ "$(grep -c '^threshold=' "$T_OUT")" -eq 19 ] && t_pass "19 sweep lines" || t_fail "sweep: $(cat "$T_OUT")"
t_grep "$T_OUT" "^threshold=0.5 ari=" "sweep line format"
t_done
