#!/usr/bin/env bash
# File mode under hostile records (issue 8), beyond 0003-bad-lines: every
# malformed line is reported on stderr with its line number and a reason, the
# run goes on and exits 0, and the good records around the bad ones get the
# same answers they get with no bad records at all.
. "$(dirname "$0")/helpers.sh"

in=$T_TMP/hostile.jsonl
good=$T_TMP/good.jsonl
# Each line: "BAD <reason regex> <record>", "GOOD <record>" or "BLANK <text>".
python3 - "$in" "$good" "$T_TMP/expect" <<'PYEOF'
import json, sys
story = ("The port authority said on Monday that dock workers would return to work "
         "after a three day strike over pay and shift patterns, ending a dispute that "
         "had left dozens of container ships waiting at anchor outside the harbour.")
other = ("Heavy rain flooded the main road into the old town on Tuesday night and the "
         "fire brigade pumped water out of forty homes while volunteers filled sandbags "
         "along the river bank until the early hours of the morning.")
arabic = ("قالت هيئة الميناء يوم الاثنين إن عمال الرصيف سيعودون إلى العمل بعد إضراب "
          "استمر ثلاثة أيام بسبب الأجور ونظام المناوبات مما أنهى نزاعا ترك عشرات السفن")
deep = 100000
G = lambda **kw: ("GOOD", None, json.dumps(kw, ensure_ascii=False).encode())
B = lambda why, raw: ("BAD", why, raw if isinstance(raw, bytes) else raw.encode())
lines = [
  G(id="g1", body=story, source="wire.example", published_at="2025-06-01T10:00:00Z"),
  # JSON that is not an object
  B("not a JSON object", '"just a string"'), B("not a JSON object", "42"),
  B("not a JSON object", "null"), B("not a JSON object", "true"),
  # truncated / not JSON
  B("not valid JSON", '{"id":"t1","body":"cut off in the mid'),
  B("not valid JSON", '{"id":"t2","body":"x",}'), B("not valid JSON", "<html>"),
  B("not valid JSON", '{"id":"t3","body":"x"} {"id":"t4"}'),
  # ids: missing, null, object, array, bool, empty, not an integer
  B("missing id", '{"body":"x"}'),
  B("not a string or integer", '{"id":null,"body":"x"}'),
  B("not a string or integer", '{"id":{"a":1},"body":"x"}'),
  B("not a string or integer", '{"id":["g1"],"body":"x"}'),
  B("not a string or integer", '{"id":true,"body":"x"}'),
  B("empty id", '{"id":"","body":"x"}'),
  B("not an integer", '{"id":1.5,"body":"x"}'),
  B("not an integer", '{"id":1e300,"body":"x"}'),
  # text: missing, null, not a string
  B("missing text", '{"id":"m1","title":"only a title"}'),
  B("missing text", '{"id":"m2","body":null}'),
  B("text field .*not a string", '{"id":"m3","body":{"p":"x"}}'),
  B("text field .*not a string", '{"id":"m4","body":["x"]}'),
  B("text field .*not a string", '{"id":"m5","body":false}'),
  G(id="g2", body=story.replace("three day", "three-day"), source="metro.example"),
  # invalid UTF-8: stray byte, overlong, surrogate, beyond U+10FFFF, truncated
  B("UTF-8", b'{"id":"u1","body":"caf\xe9"}'),
  B("UTF-8", b'{"id":"u2","body":"\xc0\xaf"}'),
  B("UTF-8", b'{"id":"u3","body":"\xed\xa0\x80"}'),
  B("UTF-8", b'{"id":"u4","body":"\xf4\x90\x80\x80"}'),
  B("UTF-8", b'{"id":"u5","body":"x"}\xe2\x82'),
  # raw control bytes (inside a string, between tokens) and \u0000
  B("raw control byte 0x01|raw control byte", b'{"id":"c1","body":"a\x01b"}'),
  B("raw control byte", b'{"id":"c2","body":"tab\tinside"}'),
  B("raw control byte", b'{"id":"c3",\x1f"body":"x"}'),
  B("u0000", rb'{"id":"c4\u0000x","body":"x"}'),
  # lone surrogate escapes are not text
  B("not valid JSON", r'{"id":"c5","body":"\ud800 lone"}'),
  # 100,000-deep nesting: arrays, objects, inside a field
  B("nested deeper than 1000", "[" * deep + "]" * deep),
  B("nested deeper than 1000", '{"a":' * deep + "1" + "}" * deep),
  B("nested deeper than 1000", '{"id":"n1","body":"x","extra":' + "[" * deep + "]" * deep + "}"),
  # over input.max_bytes (the default, 1MiB)
  B("exceeds input.max_bytes", json.dumps({"id": "big", "body": "word " * 220000})),
  ("BLANK", None, b""), ("BLANK", None, b"   \t "),
  G(id="g3", body=other, source="wire.example", published_at=1748772000000),
  # valid and unusual: emoji, right-to-left text, bidi controls, CJK
  G(id="rtl1", body=arabic, source="ar.example"),
  G(id="rtl2", body=arabic + " \u200fاليوم", source="ar2.example"),
  G(id="emoji", body="🚢⚓ 🌊🌊 👩‍👩‍👧 ✊🏽 \u202eevil override\u202c " + other),
  G(id="cjk", body="東京で大雨、道路が冠水 ประเทศไทย"),
  G(id=7, body="integer id " + other[:60]),
  # a record exactly at the limit is fine
  ("EXACT", None, None),
  G(id="g1", body="a different text under a known id"),
]
# the exact-size record: pad its text so the line is input.max_bytes bytes
limit = 1 << 20
base = json.dumps({"id": "exact", "body": ""})
lines[lines.index(("EXACT", None, None))] = G(id="exact", body="y" * (limit - len(base)))
assert len(lines[-2][2]) == limit
with open(sys.argv[1], "wb") as f, open(sys.argv[2], "wb") as g, open(sys.argv[3], "w") as e:
    for n, (kind, why, raw) in enumerate(lines, 1):
        f.write(raw + b"\n")
        if kind == "GOOD":
            g.write(raw + b"\n")
            e.write("GOOD %d %s\n" % (n, json.loads(raw)["id"]))
        elif kind == "BAD":
            e.write("BAD %d %s\n" % (n, why))
        else:
            e.write("BLANK %d\n" % n)
PYEOF

t_expect_exit 0 "hostile file exits 0" -- "$WIREDUP" run --input "$in"
cp "$T_OUT" "$T_TMP/hostile.out"; cp "$T_ERR" "$T_TMP/hostile.err"
nbad=0 ngood=0
while read -r kind n why; do
  case $kind in
    BAD)
      nbad=$((nbad + 1))
      t_grep "$T_TMP/hostile.err" "msg=\"skipped invalid record\" line=$n reason=.*($why)" "line $n: $why" ;;
    GOOD)
      ngood=$((ngood + 1))
      t_grep "$T_TMP/hostile.out" "\"line\":$n}\$" "line $n ($why) processed"
      t_no_grep "$T_TMP/hostile.err" "line=$n( |\$)" "line $n not reported" ;;
    BLANK)
      t_no_grep "$T_TMP/hostile.err" "line=$n( |\$)" "blank line $n not reported" ;;
  esac
done < "$T_TMP/expect"
t_grep "$T_TMP/hostile.err" "msg=\"file mode done\".* invalid=$nbad " "summary counts $nbad invalid"
[ "$(wc -l < "$T_TMP/hostile.out")" -eq "$ngood" ] && t_pass "$ngood results" ||
  t_fail "want $ngood results, got $(wc -l < "$T_TMP/hostile.out")"

# The good records get the answers they get alone (without the "line" field,
# which differs): the bad ones around them changed nothing.
t_expect_exit 0 "good records alone" -- "$WIREDUP" run --input "$good"
sed 's/,"line":[0-9]*}$/}/' "$T_OUT" > "$T_TMP/alone"
sed 's/,"line":[0-9]*}$/}/' "$T_TMP/hostile.out" > "$T_TMP/mixed"
if cmp -s "$T_TMP/alone" "$T_TMP/mixed"; then t_pass "same answers with and without bad records"
else t_fail "answers differ: $(diff "$T_TMP/alone" "$T_TMP/mixed" | head -n 6)"; fi
# ... and they are the right answers
t_grep "$T_TMP/mixed" '"id":"g2","cluster_id":"g1","duplicate_of":"g1"' "g2 joins g1 across 22 bad lines"
t_grep "$T_TMP/mixed" '"id":"g3","cluster_id":"g3","duplicate_of":null' "g3 is a story of its own"
t_grep "$T_TMP/mixed" '"id":"rtl2","cluster_id":"rtl1","duplicate_of":"rtl1"' "right-to-left near-duplicate found"
t_grep "$T_TMP/mixed" '"id":"emoji","cluster_id":"g3"' "emoji + bidi override text still matches its story"
t_grep "$T_TMP/mixed" '"id":"exact",' "a record of exactly input.max_bytes is processed"
t_grep "$T_TMP/mixed" '"id":"g3",.*"published_at":"2025-06-01T10:00:00Z"' "epoch ms timestamp"
# a duplicate id gets the stored answer again, whatever its text now says
[ "$(grep -c '"id":"g1","cluster_id":"g1","duplicate_of":null,"similarity":0,"cluster_size":1,' "$T_TMP/mixed")" -eq 2 ] &&
  t_pass "duplicate id: stored answer repeated" || t_fail "duplicate id answered differently"

# Timestamps: malformed or out of range is optional data gone wrong: the
# record is processed as if it had none (warning with its id), never dropped.
python3 - "$T_TMP/ts.jsonl" <<'PYEOF'
import json, sys
bad = ["yesterday", "", "2017-02-30T00:00:00Z", "2100-02-29T00:00:00Z", "2017-13-01T00:00:00Z",
       "2017-03-31T18:24:00", "2017-03-31T25:00:00Z", "1899-12-31T23:59:59Z",
       253402300800000, -2208988800001, 1e300, 1.5, True, [2017], {"y": 2017}]
good = [("2016-02-29T12:00:00Z", "2016-02-29T12:00:00Z"),
        ("2017-03-31T18:24:00.5+05:30", "2017-03-31T12:54:00.500Z"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"), (0, "1970-01-01T00:00:00Z"),
        ("1900-01-01T00:00:00Z", "1900-01-01T00:00:00Z")]
with open(sys.argv[1], "w") as f:
    for i, v in enumerate(bad):
        f.write(json.dumps({"id": "bad%d" % i, "body": "timestamp test %d" % i, "published_at": v}) + "\n")
    for i, (v, _) in enumerate(good):
        f.write(json.dumps({"id": "ok%d" % i, "body": "timestamp ok %d" % i, "published_at": v}) + "\n")
with open(sys.argv[1] + ".want", "w") as f:
    f.write("%d\n" % len(bad))
    for i, (_, want) in enumerate(good):
        f.write("ok%d %s\n" % (i, want))
PYEOF
t_expect_exit 0 "timestamps" -- "$WIREDUP" run --input "$T_TMP/ts.jsonl"
nts=$(head -n 1 "$T_TMP/ts.jsonl.want")
[ "$(grep -c 'msg="ignored bad timestamp" id=bad' "$T_ERR")" -eq "$nts" ] &&
  t_pass "$nts bad timestamps warned" || t_fail "want $nts timestamp warnings: $(head -c 800 "$T_ERR")"
[ "$(grep -c '"id":"bad[0-9]*",.*"published_at":null' "$T_OUT")" -eq "$nts" ] &&
  t_pass "bad timestamps processed as absent" || t_fail "bad timestamps: $(grep bad "$T_OUT" | head -n 3)"
t_no_grep "$T_ERR" "skipped invalid record" "no record dropped for its timestamp"
tail -n +2 "$T_TMP/ts.jsonl.want" | while read -r id want; do
  grep -q "\"id\":\"$id\",.*\"published_at\":\"$want\"" "$T_OUT" || echo "$id $want"
done > "$T_TMP/ts.miss"
[ -s "$T_TMP/ts.miss" ] && t_fail "timestamps parsed wrong: $(cat "$T_TMP/ts.miss")" || t_pass "valid timestamps in UTC"
t_done
