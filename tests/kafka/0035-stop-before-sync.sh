#!/bin/bash
# 0035-stop-before-sync: SIGTERM to a member that has joined its group
# (JoinGroup answered) but never synced (every SyncGroup refused): wiredup
# exits 0. librdkafka before 2.3.0 aborts destroying such a cooperative-sticky
# consumer (assertion `assignor_state', librdkafka issue 4312); this is how
# the never-elected cluster role of a topology instance was stopped, once in
# a while, in 0050 (issue 17).
. "$(dirname "$0")/helpers.sh"

start_broker --topic articles:2 --topic articles.clusters:2
broker_cmd errors SyncGroup 1024 REBALANCE_IN_PROGRESS

start_wiredup member --set log.level=debug --set kafka.debug=cgrp
for _ in $(seq 200); do # the mock answers a first JoinGroup after 3 s
  grep -q 'JoinGroup response: .*(no error)' "$T/member.log" && break
  sleep 0.1
done
grep -q 'JoinGroup response: .*(no error)' "$T/member.log" || fail "no JoinGroup answered in 20 s"
grep -q 'SyncGroup response: .*Rebalance' "$T/member.log" || sleep 1
grep -q 'msg="partitions assigned"' "$T/member.log" && fail "assigned: SyncGroup was not refused"
stop_wiredup "$WD_PID"
[ "$WD_RC" -eq 0 ] || fail "wiredup exited $WD_RC after SIGTERM before its first sync"
info "ok: stopped before its first sync, exit 0"
