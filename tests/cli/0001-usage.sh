#!/usr/bin/env bash
# Help, version and usage errors: exit codes 0 and 2, messages on stderr.
. "$(dirname "$0")/helpers.sh"

t_expect_exit 0 "--help" -- "$WIREDUP" --help && t_grep "$T_OUT" "Usage: wiredup COMMAND" "--help text"
t_expect_exit 0 "--version" -- "$WIREDUP" --version && t_grep "$T_OUT" "^wiredup [0-9]+\.[0-9]+" "version line"
for c in run replay eval demo config; do
  t_expect_exit 0 "$c --help" -- "$WIREDUP" $c --help && t_grep "$T_OUT" "Usage: wiredup $c" "$c usage"
done
t_expect_exit 2 "no command" -- "$WIREDUP"
t_expect_exit 2 "unknown command" -- "$WIREDUP" frobnicate && t_grep "$T_ERR" "unknown command 'frobnicate'" "names the command"
t_expect_exit 2 "unknown option" -- "$WIREDUP" run --input - --bogus && t_grep "$T_ERR" "unknown option '--bogus'" "names the option"
t_expect_exit 2 "missing value" -- "$WIREDUP" run --input && t_grep "$T_ERR" "needs a value" "says what is missing"
t_expect_exit 2 "eval without input" -- "$WIREDUP" eval && t_grep "$T_ERR" "--input is required" "eval needs --input"
t_expect_exit 1 "missing input file" -- "$WIREDUP" run --input "$T_TMP/nope.jsonl" && t_grep "$T_ERR" "nope.jsonl" "names the file"
# replay: the command line is checked before any broker is contacted
t_expect_exit 2 "replay without --from" -- "$WIREDUP" replay --until-end &&
  t_grep "$T_ERR" "exactly one of --from-beginning" "replay needs a start"
t_expect_exit 2 "replay with two --from" -- "$WIREDUP" replay --from-beginning --from-offsets 0:1 &&
  t_grep "$T_ERR" "exactly one of" "one start only"
t_expect_exit 2 "replay bad timestamp" -- "$WIREDUP" replay --from-timestamp yesterday &&
  t_grep "$T_ERR" "'yesterday' is not an RFC 3339 time" "names the value"
t_expect_exit 2 "replay bad offsets" -- "$WIREDUP" replay --from-offsets 0:5,x:1 &&
  t_grep "$T_ERR" "entry 2 \\('x:1'\\)" "names the entry"
t_expect_exit 2 "replay repeated partition" -- "$WIREDUP" replay --from-offsets 1:5,1:7 &&
  t_grep "$T_ERR" "partition 1 given twice" "names the partition"
t_expect_exit 2 "replay --input" -- "$WIREDUP" replay --from-beginning --input x &&
  t_grep "$T_ERR" "unknown option '--input'" "file mode options are not replay's"
t_done
