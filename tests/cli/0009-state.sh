#!/usr/bin/env bash
# Durable state in file mode: a run over half A that checkpoints, then a run
# over half B that continues from it, answers exactly as one run over A+B.
# A truncated or bit-flipped checkpoint stops the start with exit 1 and a
# message naming the file; --fresh-state starts empty; a checkpoint made with
# other fingerprint settings is refused naming the key.
. "$(dirname "$0")/helpers.sh"

check_split() { # FILE: split in halves, compare with one run
  local f=$1 n h st=$T_TMP/st.$RANDOM
  n=$(grep -c . "$f"); h=$((n / 2))
  head -n "$h" "$f" >"$T_TMP/a.jsonl"
  tail -n +"$((h + 1))" "$f" >"$T_TMP/b.jsonl"
  "$WIREDUP" run --input "$f" 2>/dev/null | sed 's/,"line":[0-9]*//' >"$T_TMP/one"
  t_expect_exit 0 "$(basename "$f"): first half, checkpoint" -- \
    "$WIREDUP" run --set state.dir="$st" --input "$T_TMP/a.jsonl" --output "$T_TMP/a.out"
  t_grep "$T_ERR" 'msg="no checkpoint yet' "first run starts empty and says so"
  t_grep "$T_ERR" 'msg="checkpoint written"' "first run writes a checkpoint"
  t_expect_exit 0 "$(basename "$f"): second half from the checkpoint" -- \
    "$WIREDUP" run --set state.dir="$st" --input "$T_TMP/b.jsonl" --output "$T_TMP/b.out"
  t_grep "$T_ERR" 'msg="checkpoint loaded"' "second run loads it"
  cat "$T_TMP/a.out" "$T_TMP/b.out" | sed 's/,"line":[0-9]*//' >"$T_TMP/two"
  [ -s "$T_TMP/one" ] && cmp -s "$T_TMP/one" "$T_TMP/two" &&
    t_pass "$(basename "$f"): A then B equals A+B ($(grep -c . "$T_TMP/one") results)" ||
    t_fail "$(basename "$f"): split run differs: $(diff "$T_TMP/one" "$T_TMP/two" | head -5)"
  STATE=$st
}

check_split "$WD_SOURCE_DIR/tests/golden/sample.in.jsonl"
check_split "$WD_SOURCE_DIR/tests/golden/edge.in.jsonl"

ck=$STATE/wiredup.state
cp "$ck" "$T_TMP/good.state"
size=$(stat -c %s "$ck")
in=$WD_SOURCE_DIR/tests/golden/edge.in.jsonl

head -c $((size - 7)) "$T_TMP/good.state" >"$ck"
t_expect_exit 1 "truncated checkpoint refused" -- "$WIREDUP" run --set state.dir="$STATE" --input "$in"
t_grep "$T_ERR" "level=error msg=\"checkpoint $ck: truncated" "message names the file and says truncated"
[ -s "$T_OUT" ] && t_fail "no result may be written before the state is loaded" || t_pass "nothing written"

python3 - "$T_TMP/good.state" "$ck" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) * 2 // 3] ^= 0x10
open(sys.argv[2], "wb").write(b)
PY
t_expect_exit 1 "bit-flipped checkpoint refused" -- "$WIREDUP" run --set state.dir="$STATE" --input "$in"
t_grep "$T_ERR" "checkpoint $ck: checksum mismatch" "message names the file and the checksum"

t_expect_exit 0 "--fresh-state starts empty" -- \
  "$WIREDUP" run --set state.dir="$STATE" --fresh-state --input "$in" --output "$T_TMP/fresh.out"
t_grep "$T_ERR" 'msg="starting with empty state \(--fresh-state\)"' "fresh start is logged"
"$WIREDUP" run --input "$in" 2>/dev/null >"$T_TMP/plain.out"
cmp -s "$T_TMP/fresh.out" "$T_TMP/plain.out" && t_pass "fresh run answers as a run without state" ||
  t_fail "fresh run differs from a stateless run"
t_expect_exit 0 "the fresh run replaced the bad checkpoint" -- \
  "$WIREDUP" run --set state.dir="$STATE" --input "$in" --output /dev/null
t_grep "$T_ERR" 'msg="checkpoint loaded"' "replaced checkpoint loads"

t_expect_exit 1 "checkpoint of other settings refused" -- \
  "$WIREDUP" run --set state.dir="$STATE" --set minhash.seed=9 --input "$in"
t_grep "$T_ERR" 'settings differ: made with minhash.seed=1, config has 9' "names the key"

t_expect_exit 2 "--fresh-state is for run" -- "$WIREDUP" eval --input "$in" --fresh-state

# A checkpoint an earlier build wrote: golden/sample-a.v1.state is what
# wiredup at 1e77d64 wrote after the first 23 articles of sample.in.jsonl.
# It loads, and the other 24 articles get the answers one run over all 47
# gives (the layout, and what is kept of each article, did not change).
v1=$T_TMP/v1
mkdir -p "$v1" && cp "$WD_SOURCE_DIR/tests/golden/sample-a.v1.state" "$v1/wiredup.state"
sample=$WD_SOURCE_DIR/tests/golden/sample.in.jsonl
tail -n +24 "$sample" >"$T_TMP/v1b.jsonl"
t_expect_exit 0 "an earlier build's checkpoint loads" -- \
  "$WIREDUP" run --set state.dir="$v1" --input "$T_TMP/v1b.jsonl" --output "$T_TMP/v1b.out"
t_grep "$T_ERR" 'msg="checkpoint loaded".* articles=23' "all 23 of its articles loaded"
"$WIREDUP" run --input "$sample" 2>/dev/null | tail -n +24 | sed 's/,"line":[0-9]*//' >"$T_TMP/v1one"
sed 's/,"line":[0-9]*//' "$T_TMP/v1b.out" >"$T_TMP/v1two"
[ -s "$T_TMP/v1one" ] && cmp -s "$T_TMP/v1one" "$T_TMP/v1two" &&
  t_pass "after an earlier build's checkpoint: answers as one run ($(grep -c . "$T_TMP/v1one") results)" ||
  t_fail "after an earlier build's checkpoint: differs: $(diff "$T_TMP/v1one" "$T_TMP/v1two" | head -5)"
t_done
