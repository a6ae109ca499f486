#!/usr/bin/env bash
# Bad config keys and values exit 2 with one line naming the key; good ones apply.
. "$(dirname "$0")/helpers.sh"

echo '{}' > "$T_TMP/empty.json"
t_expect_exit 0 "empty config is valid" -- "$WIREDUP" config -c "$T_TMP/empty.json" --print

t_expect_exit 2 "unknown --set key" -- "$WIREDUP" config --print --set lsh.bandz=4 && t_grep "$T_ERR" "lsh\.bandz" "names the key"
t_expect_exit 2 "bad integer" -- "$WIREDUP" config --print --set lsh.bands=many && t_grep "$T_ERR" "lsh\.bands" "names the key"
t_expect_exit 2 "bands must divide num_perm" -- "$WIREDUP" config --print --set lsh.bands=7 && t_grep "$T_ERR" "lsh\.bands.*minhash\.num_perm" "says why"
t_expect_exit 2 "threshold out of range" -- "$WIREDUP" config --print --set cluster.threshold=1.5 && t_grep "$T_ERR" "cluster\.threshold" "names the key"
t_expect_exit 2 "bad enum" -- "$WIREDUP" config --print --set log.level=loud && t_grep "$T_ERR" "log\.level" "names the key"
[ "$(wc -l < "$T_ERR")" -eq 1 ] && t_pass "one error line" || t_fail "expected one error line, got: $(cat "$T_ERR")"

echo '{"shingle": {"sise": 4}}' > "$T_TMP/typo.json"
t_expect_exit 2 "typo in file" -- "$WIREDUP" run -c "$T_TMP/typo.json" --input /dev/null && t_grep "$T_ERR" "shingle\.sise" "names the nested key"
echo '{"lsh": {"bands": 16,}}' > "$T_TMP/syntax.json"
t_expect_exit 2 "JSON syntax error" -- "$WIREDUP" run -c "$T_TMP/syntax.json" --input /dev/null && t_grep "$T_ERR" "syntax.json" "names the file"
t_expect_exit 2 "missing config file" -- "$WIREDUP" run -c "$T_TMP/none.json" --input /dev/null && t_grep "$T_ERR" "none.json" "names the file"

# --set beats the file, whatever the order on the command line
echo '{"shingle": {"size": 4}}' > "$T_TMP/k4.json"
t_expect_exit 0 "--set overrides -c" -- "$WIREDUP" config --set shingle.size=3 -c "$T_TMP/k4.json" --print
t_grep "$T_OUT" '"size": *3' "shingle.size is 3"

# secrets never printed
t_expect_exit 0 "kafka pass-through" -- "$WIREDUP" config --print --set kafka.sasl.password=hunter2 --set kafka.security.protocol=SASL_SSL
t_no_grep "$T_OUT" "hunter2" "password masked"
t_grep "$T_OUT" "SASL_SSL" "other kafka keys shown"

# the sample config is complete and valid
t_expect_exit 0 "config/wiredup.json loads" -- "$WIREDUP" config -c "$WD_SOURCE_DIR/config/wiredup.json" --print
t_done
