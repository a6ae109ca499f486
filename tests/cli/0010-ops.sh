#!/usr/bin/env bash
# Operating wiredup: help for every command agrees with what the parser
# accepts and with the man page; the man page renders cleanly and is
# installed by cmake --install; metrics.* keys are validated (a typo or a bad
# address exits 2 naming the key, a busy port exits 1 naming it); secrets
# never appear in `config --print`, in error lines or in librdkafka's debug
# log; every log line has the contract format.
. "$(dirname "$0")/helpers.sh"
MAN=$WD_SOURCE_DIR/docs/wiredup.1
PY=/usr/bin/python3

# ---- help: every option a command's help lists is one it accepts
t_expect_exit 0 "--help" -- "$WIREDUP" --help
for c in run eval demo config; do
  t_grep "$T_OUT" "^  $c " "--help lists $c"
done
for c in run eval demo config; do
  t_expect_exit 0 "$c --help" -- "$WIREDUP" $c --help || continue
  cp "$T_OUT" "$T_TMP/help.$c"
  t_expect_exit 0 "$c -h" -- "$WIREDUP" $c -h
  cmp -s "$T_OUT" "$T_TMP/help.$c" && t_pass "$c -h = --help" || t_fail "$c -h differs from --help"
  # the Usage line and the option table ("  -c, --config FILE  ...")
  opts=$( { grep '^Usage:' "$T_TMP/help.$c"; grep -E '^  -' "$T_TMP/help.$c" | cut -c1-23; } |
    grep -oE '(^|[ [(,])--?[a-zA-Z][a-z-]*' | sed 's/^[ [(,]//' | sort -u)
  [ -n "$opts" ] || t_fail "$c --help lists no options"
  for o in $opts; do
    case $o in -h|--help) continue ;; esac
    # a value that makes every option stop before doing real work
    "$WIREDUP" $c "$o" "$T_TMP/none=1" </dev/null >/dev/null 2>"$T_TMP/opt.err"
    if grep -qF "unknown option '$o'" "$T_TMP/opt.err"; then
      t_fail "$c --help lists $o but $c rejects it: $(head -1 "$T_TMP/opt.err")"
    fi
    grep -qF -- "${o//-/\\-}" "$MAN" || t_fail "man page does not mention $c option $o"
  done
  grep -qE "^\.B(R)? wiredup $c|^\.B $c$" "$MAN" || t_fail "man page has no $c command"
done
t_pass "help options accepted and in the man page"
# help wins over a broken config
t_expect_exit 0 "help beats a bad -c" -- "$WIREDUP" run -c "$T_TMP/none.json" --help

# ---- man page: renders without warnings, installed by cmake --install
if command -v groff >/dev/null; then
  groff -man -Tutf8 -ww -z "$MAN" 2>"$T_TMP/groff.err"
  [ -s "$T_TMP/groff.err" ] && t_fail "groff warnings: $(head -5 "$T_TMP/groff.err")" || t_pass "man page renders cleanly"
fi
for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS CONFIGURATION METRICS "EXIT STATUS" SIGNALS FILES EXAMPLES; do
  grep -q "^\.SH \"\?$s\"\?$" "$MAN" || t_fail "man page lacks section $s"
done
if [ -n "${WD_BUILD_DIR:-}" ] && [ -f "$WD_BUILD_DIR/cmake_install.cmake" ]; then
  t_expect_exit 0 "cmake --install" -- cmake --install "$WD_BUILD_DIR" --prefix "$T_TMP/inst"
  [ -f "$T_TMP/inst/share/man/man1/wiredup.1" ] && t_pass "man page installed to share/man/man1" ||
    t_fail "no share/man/man1/wiredup.1 under the install prefix"
  [ -x "$T_TMP/inst/bin/wiredup" ] && t_pass "binary installed" || t_fail "no bin/wiredup"
fi

# ---- metrics.* keys
t_expect_exit 2 "typo'd metrics key" -- "$WIREDUP" run --set metrics.lisen=:9464 &&
  t_grep "$T_ERR" "metrics\.lisen.*metrics\.listen" "names the key and suggests the right one"
echo '{"metrics": {"listn": "127.0.0.1:9464"}}' >"$T_TMP/typo.json"
t_expect_exit 2 "typo'd key in a file" -- "$WIREDUP" run -c "$T_TMP/typo.json" &&
  t_grep "$T_ERR" "metrics\.listn" "names the nested key"
for bad in 9464 127.0.0.1: 127.0.0.1:99999 ::1:9464 localhost:http; do
  t_expect_exit 2 "metrics.listen=$bad" -- "$WIREDUP" run --set "metrics.listen=$bad" &&
    t_grep "$T_ERR" "^level=error msg=\"metrics\.listen: " "error names metrics.listen"
done
t_expect_exit 2 "health_timeout too small" -- "$WIREDUP" config --print --set metrics.health_timeout=5ms &&
  t_grep "$T_ERR" "metrics\.health_timeout" "names the key"
t_expect_exit 0 "metrics off" -- "$WIREDUP" config --print --set metrics.listen=
t_grep "$T_OUT" '"listen": ""' "empty listen printed"

# A port someone else holds: exit 1, naming the key, before touching Kafka.
"$PY" - "$WIREDUP" >"$T_TMP/busy.out" 2>&1 <<'EOF'
import socket, subprocess, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
port = s.getsockname()[1]
p = subprocess.run([sys.argv[1], "run", "--set", "metrics.listen=127.0.0.1:%d" % port,
                    "--set", "kafka.bootstrap.servers=127.0.0.1:1"],
                   capture_output=True, text=True, timeout=20)
print("rc=%d" % p.returncode)
print(p.stderr)
EOF
t_grep "$T_TMP/busy.out" "^rc=1$" "busy metrics port exits 1"
t_grep "$T_TMP/busy.out" 'msg="metrics\.listen: cannot listen on 127\.0\.0\.1:[0-9]+: Address already in use"' "says which key and why"
t_no_grep "$T_TMP/busy.out" "stream mode started" "fails before starting the consumer"

# ---- secrets: never printed, never logged
SECRETS=(kafka.sasl.password kafka.ssl.key.password kafka.ssl.keystore.password
         kafka.sasl.oauthbearer.client.secret kafka.my.api.secret)
args=()
for k in "${SECRETS[@]}"; do args+=(--set "$k=S3cr3t-${k//./-}"); done
t_expect_exit 0 "config --print with secrets" -- "$WIREDUP" config --print "${args[@]}" --set kafka.sasl.username=alice
t_no_grep "$T_OUT" "S3cr3t" "no secret value printed"
for k in "${SECRETS[@]}"; do
  t_grep "$T_OUT" "\"${k#kafka.}\": \"\\*\\*\\*\"" "$k printed as ***"
done
t_grep "$T_OUT" '"sasl.username": "alice"' "non-secret kafka keys shown"
t_expect_exit 0 "production example loads" -- "$WIREDUP" config -c "$WD_SOURCE_DIR/config/production.example.json" --print
t_grep "$T_OUT" '"sasl.password": "\*\*\*"' "production example password masked"
t_grep "$T_OUT" '"security.protocol": "SASL_SSL"' "production example is SASL_SSL"

# An error about another key does not echo the secrets given with it.
t_expect_exit 2 "bad key beside a secret" -- "$WIREDUP" run --set metrics.listen= --set kafka.sasl.password=S3cr3t-pw --set kafka.no.such.key=1
t_grep "$T_ERR" "kafka\.no\.such\.key" "names the bad key"
t_no_grep "$T_ERR" "S3cr3t" "secret not in the error"

# librdkafka's configuration dump (debug=conf) goes through our log and
# keeps the passwords out; every line is in the contract format. Its own
# state directory: a checkpoint left in the working directory by another
# build must not decide this test.
timeout --preserve-status -s TERM 3 "$WIREDUP" run --set metrics.listen= --set log.level=debug \
  --set state.dir="$T_TMP/state" \
  --set kafka.bootstrap.servers=127.0.0.1:1 --set kafka.debug=conf,security \
  --set kafka.security.protocol=SASL_SSL --set kafka.sasl.mechanisms=PLAIN \
  --set kafka.sasl.username=alice --set kafka.sasl.password=S3cr3t-pw \
  --set kafka.ssl.key.password=S3cr3t-key >/dev/null 2>"$T_TMP/debug.log"
rc=$?
[ $rc -eq 0 ] && t_pass "debug run stops cleanly on SIGTERM" || t_fail "debug run exited $rc"
t_grep "$T_TMP/debug.log" 'component=rdkafka .*fac=CONF' "librdkafka's config dump is routed through our log"
t_grep "$T_TMP/debug.log" 'sasl\.mechanisms = PLAIN' "the dump is there"
t_no_grep "$T_TMP/debug.log" "S3cr3t" "no secret in the debug log"
bad=$(grep -cvE '^level=(debug|info|warn|error) msg=("([^"\\]|\\.)*"|[^ ]+)( [a-z_.]+=("([^"\\]|\\.)*"|[^ "]*))*$' "$T_TMP/debug.log")
[ "$bad" -eq 0 ] && t_pass "every log line is level=... msg=... key=value" ||
  t_fail "$bad lines not in the log format, e.g.: $(grep -vE '^level=(debug|info|warn|error) msg=' "$T_TMP/debug.log" | head -2)"
t_done
