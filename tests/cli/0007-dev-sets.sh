#!/usr/bin/env bash
# Quality on the real development sets in ../shared/data (skipped when absent):
# issue 2's bar for the default config on reuters-rewrites-dev is ARI >= 0.97.
. "$(dirname "$0")/helpers.sh"

data=${WD_SHARED_DATA:-$WD_SOURCE_DIR/../shared/data}
f=$data/reuters-rewrites-dev.jsonl
if [ ! -r "$f" ]; then echo "skip: $f not present" >&2; exit 77; fi
t_expect_exit 0 "eval reuters-rewrites-dev" -- "$WIREDUP" eval --input "$f" --json
echo "reuters-rewrites-dev: $(cat "$T_OUT")" >&2
python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["ari"] >= 0.97 else 1)' "$T_OUT" \
  && t_pass "ARI >= 0.97" || t_fail "ARI below 0.97: $(cat "$T_OUT")"
t_done
