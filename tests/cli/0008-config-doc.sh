#!/usr/bin/env bash
# The configuration reference in docs/configuration.md is generated from the
# property table in pipeline/config.c; fail when someone changed a key or
# default and did not regenerate it (scripts/gen-config-doc.sh), and when
# config/wiredup.json disagrees with the built-in defaults.
. "$(dirname "$0")/helpers.sh"

if WIREDUP=$WIREDUP DOC=$WD_SOURCE_DIR/docs/configuration.md \
    "$WD_SOURCE_DIR/scripts/gen-config-doc.sh" --check >"$T_TMP/doc.err" 2>&1; then
  t_pass "docs/configuration.md reference is current"
else
  t_fail "docs/configuration.md reference out of date (run scripts/gen-config-doc.sh): $(head -c 800 "$T_TMP/doc.err")"
fi

# The sample config must resolve to exactly the defaults.
t_expect_exit 0 "config --print with defaults" -- "$WIREDUP" config --print &&
  cp "$T_OUT" "$T_TMP/defaults"
t_expect_exit 0 "config --print with config/wiredup.json" -- \
  "$WIREDUP" config -c "$WD_SOURCE_DIR/config/wiredup.json" --print &&
  cp "$T_OUT" "$T_TMP/sample"
if cmp -s "$T_TMP/defaults" "$T_TMP/sample"; then
  t_pass "config/wiredup.json equals the built-in defaults"
else
  t_fail "config/wiredup.json differs from the defaults: $(diff "$T_TMP/defaults" "$T_TMP/sample" | head -20)"
fi
t_done
