#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz (corpus/<harness>/NAME): small inputs
written for wiredup that reach the interesting paths of each harness. Run it
again after changing it; the files are committed. The first byte of every
input is the harness's option byte (see the harness's header comment)."""
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))

def write(harness, name, flags, payload):
    d = os.path.join(here, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([flags]) + payload)

def rec(**kw):
    return json.dumps(kw, ensure_ascii=False)

# ---- decode: JSON Lines through the engine --------------------------------
K5 = 4 << 5  # shingle.size 5
story = ("The port authority said on Monday that dock workers would return to "
         "work after a three day strike over pay and shift patterns, ending a "
         "dispute that had left dozens of ships waiting offshore.")
wd = {
  "articles": "\n".join([
      rec(id="a1", title="Dock strike ends", body=story, source="wire.example",
          published_at="2025-06-01T10:00:00Z"),
      rec(id="a2", body=story.replace("three day", "three-day"), source="metro.example",
          published_at="2025-06-01T10:05:00+02:00"),
      rec(id=3, body="<p>Completely different: the &quot;city&quot; council</p>"
          "<p>voted 7&ndash;2 to build a bridge.</p>", published_at=1748772000000),
      rec(id="a1", body=story)]),
  "hostile": "\n".join([
      'this is not json', '{"id":"t","body":"truncated', '[1,2,3]', '"just a string"',
      '42', 'null', '{}', '{"body":"no id"}', '{"id":null,"body":"x"}',
      '{"id":{"x":1},"body":"x"}', '{"id":[1],"body":"x"}', '{"id":true,"body":"x"}',
      '{"id":"","body":"x"}', '{"id":1.5,"body":"x"}', '{"id":1e300,"body":"x"}',
      '{"id":"m"}', '{"id":"n","body":null}', '{"id":"s","body":42}',
      '{"id":"o","body":{"a":1}}', '{"id":"x","body":"ok"} trailing', '',
      '{"id":"dup","id":"dup2","body":"two ids"}']),
  "timestamps": "\n".join(rec(id="t%d" % i, body="timestamps %d" % i, published_at=v)
      for i, v in enumerate([
          "2017-03-31T18:24:00Z", "2017-03-31T18:24:00.123456+05:30", "2017-03-31t18:24:00z",
          "2017-03-31 18:24:00-08:00", "2016-12-31T23:59:60Z", "2017-02-30T00:00:00Z",
          "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2017-13-01T00:00:00Z",
          "2017-03-31T18:24:00", "yesterday", "", 0, -1, 1700000000000,
          253402300800000, -2208988800001, 1.5, 1e20, True, [1], {"a": 1}, None])),
  "escapes": "\n".join([
      r'{"id":"a\u0000b","body":"nul in id"}', r'{"id":"e","body":"nul \u0000 in text"}',
      r'{"id":"s","body":"pair \ud83d\ude00 ok"}', r'{"id":"l","body":"lone \ud800 high"}',
      r'{"id":"q","body":"lone \udc00 low"}', r'{"id":"c","body":"ctl \u0001\u001f\u007f"}',
      '{"id":"r","body":"raw \x01\x02 control"}',
      rec(id="rtl", body="مرحبا بالعالم \u200f right-to-left \u202e override 🌍 👩‍👩‍👧"),
      rec(id="cjk", body="東京で地震があった。ประเทศไทย ສະບາຍດີ"),
      rec(id="\"quoted\\id\n", body="id with escapes")]),
  "deep": '{"id":"d","body":"x","n":' + "[" * 1500 + "]" * 1500 + "}\n" +
          "[" * 3000 + "\n" + '{"id":"after","body":"still here"}',
}
for name, text in wd.items():
    write("decode", name, K5, text)
write("decode", "keyed", K5 | 16 | 1 | 2, "\n".join([
    "k1\t" + rec(body=story), "k2\t" + rec(id="ignored", body=story),
    "\t" + rec(id="nokey", body="empty key"), "k\x00z\t" + rec(body="nul in key"),
    "k3\t" + rec(body="x", published_at="2025-06-01T10:00:00Z")]))
write("decode", "small-max", K5 | 8 | 4,
      rec(id="big", body="word " * 300) + "\n" + rec(id="fits", body="<b>html</b> off"))
write("decode", "k1", 0, rec(id="one", body="a") + "\n" + rec(id="two", body="a b"))

# ---- text: normalise + boilerplate + shingle ------------------------------
wt = {
  "html": "<html><head><title>T</title><style>p{}</style><script>var a='<p>';</script></head>"
          "<body><div class=\"a>b\">Caf&eacute; &amp; bar &#8212; &#x263A; &#150; &bogus; &amp"
          "</div><!-- comment --><p>Read more</p><br/>Facebook Twitter Email Print"
          "<ul><li>one</li><li>two &lt;LOR&gt; <LOR> <X.N></li></ul> a < b</body></html>",
  "wire": "NEW YORK, March 3 (Reuters) - Shr 1.20 dlrs vs 1.05 dlrs\n    Net 393,000 vs "
          "5bn revs 4th qtr, up 9.223 pct from U.S. Corp\n    Reporting by Jane Doe; "
          "Editing by John Roe\nhard\nwrapped line",
  "scripts": "Ελληνικά ΣΊΣΥΦΟΣ straße ﬁnance Ⅻ ①\nكتاب كِتابٌ یہ ہے ۱۲۳ ٤٥٦ ـــ\n"
             "東京タワー ひらがな ภาษาไทย ພາສາລາວ ភាសាខ្មែរ မြန်မာ\nnaïve cafe\u0301 "
             "zero\u200bwidth soft\u00adhyphen ZW\u200dJ",
  "typography": "\u201cQuoted\u201d \u2018it\u2019s\u2019 \u2014 dash \u2013 \u2026 "
                "5\u2032 6\u2033 \u00bd 100% per cent colour centre organize analyse",
  "boiler": "We use cookies to improve your experience\nStory continues below "
            "this advertisement the real story text goes on and on\n"
            "Subscribe to our daily news newsletter\nCopyright 2025 All rights reserved\n"
            "Breaking news\nShare Tweet Email",
  "invalid": b"bad \xff\xfe bytes \xc0\xaf overlong \xed\xa0\x80 surrogate \xf4\x90\x80\x80 big"
             b" trunc \xe2\x82".decode("latin-1"),
}
for name, text in wt.items():
    payload = text.encode("latin-1") if name == "invalid" else text
    write("text", name, 4 << 3, payload)
write("text", "phrases", 4 << 3,
      "^the real\n~goes on\n=wrapped line\n@hard\nsubscribe * to * our\n***\n*\n^\n=\n"
      "@two words\n\x00" + wt["boiler"] + "\n" + wt["wire"])
write("text", "no-builtin", 128 | 1 | 2 | 4, wt["html"])
write("text", "k16", 15 << 3, " ".join("w%d" % i for i in range(40)))
write("text", "k1", 0, "a a a b b a")

# ---- config: JSON file and --set ------------------------------------------
with open(os.path.join(here, "..", "..", "config", "wiredup.json"), "rb") as f:
    write("config", "wiredup-json", 0, f.read())
write("config", "empty-object", 0, "{}")
write("config", "nested", 0, json.dumps({
    "lsh.bands": 32, "input": {"fields.text": ["title", "body"], "max_bytes": 65536},
    "kafka": {"bootstrap.servers": "h:9092", "sasl": {"password": "s3cret"},
              "linger.ms": 5, "enable.idempotence": True, "x": 1.5},
    "cluster": {"threshold": 0.45}, "log": {"level": "debug"}}))
write("config", "errors", 0, '{"lsh": {"bandz": 3}, "x": [1,2,}')
write("config", "bom", 0, b"\xef\xbb\xbf{\"shingle\": {\"size\": 3}}".decode("latin-1").encode("latin-1"))
write("config", "set-lines", 1, "\n".join([
    "lsh.bands=32", "minhash.num_perm=256", "input.max_bytes=64KiB",
    "input.fields.text=title,body", 'normalize.boilerplate.phrases=["^a","~b"]',
    "normalize.html=off", "kafka.bootstrap.servers=h:1", "kafka.sasl.password=x",
    "cluster.threshold=0.5", "log.level=warn", "minhash.method=mix", "nokey", "=v",
    "lsh.bands=", "shingle.size=17", "kafka=1", "output.topic=\u00e9t\u00e9"]))
write("config", "both", 2, '{"minhash": {"num_perm": 64}}\x00lsh.bands=16\nlsh.bands=7')
write("config", "units", 3, "\n".join([
    "4096", "64KiB", "1MiB", "1.5MiB", "2GiB", "10MB", "0", "-1", "9223372036854775807",
    "500ms", "30s", "1h30m", "7d", "1.5s", "72h", "  5 m", "1e3", "KiB", ""]))
