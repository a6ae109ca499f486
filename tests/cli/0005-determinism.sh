#!/usr/bin/env bash
# The same input gives byte-identical output on every run, from a file or stdin,
# and the clusters of the bundled sample match its labels.
. "$(dirname "$0")/helpers.sh"

sample=$WD_SOURCE_DIR/config/sample-articles.jsonl
t_expect_exit 0 "run 1" -- "$WIREDUP" run --input "$sample" --output "$T_TMP/a.jsonl"
t_expect_exit 0 "run 2 (stdin)" -- sh -c "\"$WIREDUP\" run --input - < \"$sample\" > \"$T_TMP/b.jsonl\""
cmp -s "$T_TMP/a.jsonl" "$T_TMP/b.jsonl" && t_pass "identical output" || t_fail "outputs differ"
[ "$(wc -l < "$T_TMP/a.jsonl")" -eq "$(grep -c . "$sample")" ] && t_pass "one result per article" \
  || t_fail "result count $(wc -l < "$T_TMP/a.jsonl") != articles $(grep -c . "$sample")"

# every result keeps to the contract's schema
python3 - "$T_TMP/a.jsonl" <<'PY' && t_pass "schema" || t_fail "schema"
import json, sys
seen = {}
story = {}   # cluster id -> its story id
for n, line in enumerate(open(sys.argv[1]), 1):
    r = json.loads(line)
    keys = ["id","cluster_id","duplicate_of","similarity","cluster_size","story_id",
            "source","published_at","line"]
    assert list(r) == keys, (n, list(r))
    assert r["line"] == n
    if r["duplicate_of"] is None:
        assert r["cluster_id"] == r["id"] and r["similarity"] == 0 and r["cluster_size"] == 1, r
    else:
        assert r["duplicate_of"] in seen, r          # an earlier article
        assert seen[r["duplicate_of"]] == r["cluster_id"], r
        assert 0 < r["similarity"] <= 1 and r["cluster_size"] >= 2, r
    # a cluster keeps one story, named by an article seen by then
    assert story.setdefault(r["cluster_id"], r["story_id"]) == r["story_id"], r
    assert r["story_id"] == r["id"] or r["story_id"] in seen, r
    seen[r["id"]] = r["cluster_id"]
PY

t_expect_exit 0 "eval on the sample" -- "$WIREDUP" eval --input "$sample" --json
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s["ari"] >= 0.9 and s["docs"] > 0 else 1)' "$T_OUT" \
  && t_pass "sample clusters agree with labels: $(cat "$T_OUT")" || t_fail "sample eval: $(cat "$T_OUT")"
t_done
