#!/usr/bin/env bash
# Chaos: every group API kforkd uses answers each family of its documented
# error codes (KAFKA-PROTOCOL.md "Error reactions"), injected with
# devbroker's `errors APIKEY CODE 1` (and `broker-errors` for delays):
#
#   coordinator  NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE: find it again;
#                COORDINATOR_LOAD_IN_PROGRESS: back off, same coordinator
#   membership   REBALANCE_IN_PROGRESS: rejoin; ILLEGAL_GENERATION: rejoin
#                keeping the member id; UNKNOWN_MEMBER_ID: rejoin with a new one
#   transport    _TRANSPORT: the broker closes the connection
#   timeout      a response delayed past kforkd's request timeout
#   fatal        GROUP_AUTHORIZATION_FAILED, INVALID_SESSION_TIMEOUT, ...:
#                kforkd logs "api N failed with NAME (CODE): cannot continue
#                in group G", drains, and exits with status 1
#
# One lane per API (FindCoordinator 10, JoinGroup 11, SyncGroup 14,
# Heartbeat 12, OffsetCommit 8, OffsetFetch 9, LeaveGroup 13) plus two
# fatal lanes; each lane runs in a child process with a devbroker of its
# own (cluster-wide injections then reach only its kforkd).  A retriable
# sub-case passes when the reaction's log line appears, the injected error
# was used, kforkd is stable again, nothing was committed past an
# unfinished record, and committed == watermarks with every record
# processed.  Short: one code per family; LONG: every documented code on
# every API.  ERRORS_LANES picks lanes (default all).
set -euo pipefail
NAME=errors
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ -x "$KFORKCTL" ] || { echo "no kforkctl at $KFORKCTL" >&2; exit 99; }

ALL_LANES="fc join sync hb commit fetch leave fatal-a fatal-b"
TOPIC=t
NP=4
SESSION_MS=3000

# The documented reaction of kforkd to CODE on API, as a log line to find
# (and REACT_NOT, a line that must not appear).
ename() {
	case $1 in
	-195) echo _TRANSPORT ;;
	14) echo COORDINATOR_LOAD_IN_PROGRESS ;;
	15) echo COORDINATOR_NOT_AVAILABLE ;;
	16) echo NOT_COORDINATOR ;;
	22) echo ILLEGAL_GENERATION ;;
	23) echo INCONSISTENT_GROUP_PROTOCOL ;;
	24) echo INVALID_GROUP_ID ;;
	25) echo UNKNOWN_MEMBER_ID ;;
	26) echo INVALID_SESSION_TIMEOUT ;;
	27) echo REBALANCE_IN_PROGRESS ;;
	29) echo TOPIC_AUTHORIZATION_FAILED ;;
	30) echo GROUP_AUTHORIZATION_FAILED ;;
	35) echo UNSUPPORTED_VERSION ;;
	81) echo GROUP_MAX_SIZE_REACHED ;;
	82) echo FENCED_INSTANCE_ID ;;
	*) echo "$1" ;;
	esac
}

reaction() {
	local api=$1 code=$2 n
	n=$(ename "$code")
	REACT_NOT=
	[ "$code" = -195 ] && n="connection closed"
	case $api:$code in
	10:*) REACT="FindCoordinator: $n, retrying" ;;
	*:-195 | *:15 | *:16) REACT="unusable ($n), rediscovering" ;;
	12:14) REACT="heartbeat: $n"; REACT_NOT=rediscovering ;;
	8:14) REACT="commit $TOPIC/[0-9]* at [0-9]*: $n"; REACT_NOT=rediscovering ;;
	*:14) REACT="api $api: $n, retrying"; REACT_NOT=rediscovering ;;
	11:27) REACT="api 11: $n, retrying" ;;
	8:27 | 8:22 | 8:25) REACT="commit rejected by rebalance ($n)" ;;
	*:27 | *:22 | *:25) REACT="rejoining ($n)" ;;
	*) REACT="$n" ;;
	esac
}

member_conf() {
	local m=$1 group=$2 extra=${3:-}
	mkdir -p "$T/out-$m"
	# A short session ($SESSION_MS): the 2.0.2 mock holds every rejoin of
	# a stable group for session_timeout_ms - 1 s.
	REBALANCE_MS=5000 kf_conf "$m" "$group" $TOPIC 2 "{ type = \"file\"; dir = \"$T/out-$m\"; }" "$extra"
}

log_since() { tail -n +"$(($2 + 1))" "$T/$1.log"; }
# outs [M]: the output files of member M (default e)
outs() { echo "$T/out-${1:-e}"/worker-*.log; }

# ------------------------------------------------------ retriable lanes
# hit API CODE [TRIGGER...]: inject CODE once for API, run the devbroker
# commands TRIGGER (what makes kforkd send API soon), produce records,
# then check the reaction and the recovery.
hit() {
	local api=$1 code=$2 what mark mid0 mid1
	shift 2
	what="$LANE: api $api $(ename "$code")"
	reaction "$api" "$code"
	mark=$(wc -l < "$T/e.log")
	mid0=$(kf_get e 'd["member_id"]')
	db errors "$api" "$code" 1
	local c
	for c in "$@"; do db $c; done
	db produce $TOPIC 400 keys=seq
	react_seen() { log_since e "$mark" | grep -q -- "$REACT"; }
	if ! wait_for 25 react_seen; then
		fail "$what: no \"$REACT\" in the log within 25 s"
		log_since e "$mark" | tail -15
		return
	fi
	if [ -n "$REACT_NOT" ] && log_since e "$mark" | grep -q -- "$REACT_NOT"; then
		fail "$what: \"$REACT_NOT\" in the log: $(log_since e "$mark" | grep -m1 -- "$REACT_NOT")"
	fi
	if ! wait_for 40 kf_stable e; then
		fail "$what: not stable again within 40 s (state $(kf_get e 'd["state"]' || echo '?'))"
		return
	fi
	commit_safe "$G" $TOPIC $NP "$what" $(outs) || true
	mid1=$(kf_get e 'd["member_id"]')
	case $code in
	22) [ "$mid1" = "$mid0" ] && pass "$what: member id kept ($mid1)" ||
		fail "$what: member id changed $mid0 -> $mid1 (ILLEGAL_GENERATION keeps it)" ;;
	25) [ "$mid1" != "$mid0" ] && pass "$what: new member id ($mid0 -> $mid1)" ||
		fail "$what: member id still $mid0 (UNKNOWN_MEMBER_ID resets it)" ;;
	esac
	watermarks $TOPIC $NP
	if ! wait_for 30 committed_is_hw "$G" $TOPIC $NP; then
		fail "$what: committed ${COMMITTED[*]}, watermarks ${HW[*]}"
		return
	fi
	db clear-errors
	if [ "$DB_REPLY" != "ok 0" ]; then
		fail "$what: the injected error was not used ($DB_REPLY pending)"
		return
	fi
	pass "$what: \"$(log_since e "$mark" | grep -m1 -- "$REACT" | cut -d' ' -f3- | cut -c1-90)\", stable, committed = watermarks ($TOTAL)"
}

# delay API MS [TRIGGER...]: one response of API delayed by MS (broker 1).
delay() {
	local api=$1 ms=$2 pat=$3 what mark
	shift 3
	what="$LANE: api $api answered after $ms ms"
	mark=$(wc -l < "$T/e.log")
	db broker-errors 1 "$api" 0 1 "$ms"
	local c
	for c in "$@"; do db $c; done
	db produce $TOPIC 400 keys=seq
	seen() { log_since e "$mark" | grep -q -- "$pat"; }
	if ! wait_for $((ms / 1000 + 20)) seen; then
		fail "$what: no \"$pat\" in the log"
		log_since e "$mark" | tail -15
		return
	fi
	if ! wait_for 40 kf_stable e; then
		fail "$what: not stable again within 40 s"
		return
	fi
	commit_safe "$G" $TOPIC $NP "$what" $(outs) || true
	watermarks $TOPIC $NP
	if wait_for 30 committed_is_hw "$G" $TOPIC $NP; then
		pass "$what: \"$(log_since e "$mark" | grep -m1 -- "$pat" | cut -d' ' -f3- | cut -c1-90)\", stable, committed = watermarks ($TOTAL)"
	else
		fail "$what: committed ${COMMITTED[*]}, watermarks ${HW[*]}"
	fi
}

lane_start() {
	G=grp-$LANE
	db topic $TOPIC $NP
	db produce $TOPIC 1000 keys=seq
	member_conf e "$G"
	kf_start e
	watermarks $TOPIC $NP
	if wait_for 30 kf_stable e && wait_for 30 committed_is_hw "$G" $TOPIC $NP; then
		pass "$LANE: stable and drained ($WAITED_MS ms)"
	else
		fail "$LANE: not stable: $(kf_get e 'd["state"]' || echo no answer)"
		return 1
	fi
}

lane_end() {
	kf_alive e && pass "$LANE: kforkd alive after every injection" || fail "$LANE: kforkd died"
	chaos_end e "$G" $TOPIC $NP 30 $(outs)
	local rc=0
	kf_stop e || rc=$?
	[ $rc = 0 ] && pass "$LANE: kforkctl stop, exit 0" || fail "$LANE: kforkd exit $rc"
}

# Codes per family: the short run takes the first of each list.
pick() { if [ "$LONG" = 1 ]; then echo "$@"; else echo "$1"; fi; }

lane_fc() {
	local c
	lane_start || return
	# A Heartbeat NOT_COORDINATOR makes kforkd look for the coordinator.
	for c in $(pick 15 16 14) -195; do
		hit 10 "$c" "errors 12 16 1"
	done
	delay 10 11000 "FindCoordinator: timed out, retrying" "errors 12 16 1"
	lane_end
}

lane_join() {
	local c
	lane_start || return
	# A Heartbeat REBALANCE_IN_PROGRESS makes kforkd join again.
	for c in $(pick 16 15 14) $(pick 27 25) -195; do
		hit 11 "$c" "errors 12 27 1"
	done
	[ "$LONG" = 1 ] && delay 11 11000 "unusable (timed out), rediscovering" "errors 12 27 1"
	lane_end
}

lane_sync() {
	local c
	lane_start || return
	for c in $(pick 16 15 14) $(pick 22 27 25) -195; do
		hit 14 "$c" "errors 12 27 1"
	done
	lane_end
}

lane_hb() {
	local c
	lane_start || return
	for c in $(pick 16 15 14) $(pick 25 27 22) -195; do
		hit 12 "$c"
	done
	# A Heartbeat answered after the session timeout: the session ends
	# locally, the coordinator's connection is dropped with the stale
	# request on it, and the member rejoins on a fresh one.  (Rejoining on
	# the old connection made the 2.0.2 mock abort: it stops reading a
	# connection while it holds a JoinGroup, assertion !member->resp in
	# rd_kafka_mock_cgrp_member_add.)
	delay 12 4500 "no heartbeat succeeded for [0-9]* ms (session $SESSION_MS ms): out of the group"
	lane_end
}

lane_commit() {
	local c
	lane_start || return
	for c in $(pick 16 15 14) $(pick 27 22 25) -195; do
		hit 8 "$c"
	done
	# An OffsetCommit answered after 31 s (its timeout is 30 s): the
	# heartbeats wait behind it on the coordinator's connection, so the
	# session expires first and the connection is dropped (see lane_hb).
	[ "$LONG" = 1 ] && delay 8 31000 "no heartbeat succeeded for [0-9]* ms (session $SESSION_MS ms): out of the group"
	lane_end
}

lane_fetch() {
	local c
	lane_start || return
	for c in $(pick 14 16 15) -195; do
		hit 9 "$c" "errors 12 27 1"
	done
	# An OffsetFetch answered after 31 s (its timeout is 30 s): the
	# heartbeats wait behind it on the same connection, so the session
	# expires first (a broker answers a connection in order too).
	[ "$LONG" = 1 ] && delay 9 31000 "no heartbeat succeeded for [0-9]* ms (session $SESSION_MS ms): out of the group" "errors 12 27 1"
	lane_end
}

# LeaveGroup: a member that drained is stopped while LeaveGroup fails; it
# still exits 0 (the commit went first) and logs the answer.
leave_case() {
	local code=$1 ms=${2:-} what m rc=0
	m=l$((++NLEAVE))
	G=grp-leave-$m
	what="$LANE: LeaveGroup $(ename "$code")${ms:+ after $ms ms}"
	member_conf "$m" "$G"
	kf_start "$m"
	db produce $TOPIC 400 keys=seq
	watermarks $TOPIC $NP
	if ! { wait_for 30 kf_stable "$m" && wait_for 30 committed_is_hw "$G" $TOPIC $NP; }; then
		fail "$what: not stable and drained: $(kf_get "$m" 'd["state"]' || echo no answer)"
		kf_kill "$m"
		return
	fi
	if [ -n "$ms" ]; then
		db broker-errors 1 13 0 1 "$ms"
	else
		db errors 13 "$code" 1
	fi
	local t0
	t0=$(now_ms)
	kf_stop "$m" || rc=$?
	local took=$(($(now_ms) - t0)) pat
	if [ -n "$ms" ]; then pat=-
	elif [ "$code" = -195 ]; then pat="LeaveGroup: connection closed"
	else pat="LeaveGroup: $(ename "$code")"; fi
	# A LeaveGroup answered late: kforkd gives it 5 s (its own timer or
	# the request timeout, whichever fires first), then exits.
	if [ -n "$ms" ] && [ $rc = 0 ] && [ $took -ge 4500 ] && [ $took -lt 9000 ]; then
		pass "$what: exit 0 after $took ms (LeaveGroup given 5 s)"
	elif [ -z "$ms" ] && [ $rc = 0 ] && grep -q -- "$pat" "$T/$m.log" && [ $took -lt 12000 ]; then
		pass "$what: exit 0 after $took ms, \"$(grep -m1 -- "$pat" "$T/$m.log" | cut -d' ' -f3-)\""
	else
		fail "$what: exit $rc after $took ms; log: $(grep -m1 'LeaveGroup\|did not finish' "$T/$m.log" || echo none)"
	fi
	[ -n "$ms" ] || { db clear-errors; [ "$DB_REPLY" = "ok 0" ] || fail "$what: error not used"; }
	covered $TOPIC "$what" $(outs "$m")
	committed "$G" $TOPIC $NP
	[ "${COMMITTED[*]}" = "${HW[*]}" ] && pass "$what: committed = watermarks" ||
		fail "$what: committed ${COMMITTED[*]}, watermarks ${HW[*]}"
}

lane_leave() {
	local c
	NLEAVE=0
	db topic $TOPIC $NP
	db produce $TOPIC 600 keys=seq
	for c in $(pick 16 15) $(pick 25) -195; do
		leave_case "$c"
	done
	leave_case 0 6000
}

# ------------------------------------------------------------ fatal lanes
# fatal_case API CODE [EXTRA]: a fresh member whose API gets CODE (pushed
# before it starts: every request of that key is its own).  Expect the
# error line, a drain, exit status 1, nothing committed past an unfinished
# record, and the injected error used.
fatal_case() {
	local api=$1 code=$2 extra=${3:-} m what rc=0 pat
	m=f$((++NFATAL))
	G=grp-fatal-$m
	what="$LANE: api $api $(ename "$code")"
	member_conf "$m" "$G" "$extra"
	db produce $TOPIC 400 keys=seq
	db errors "$api" "$code" 1
	if [ "$code" = 82 ]; then
		pat="FENCED_INSTANCE_ID: another member joined with group_instance_id \"[^ ]*\" and took its place"
	else
		pat="group: $G: api $api failed with $(ename "$code") ($code): cannot continue in group $G"
	fi
	kf_start "$m"
	local pid=${KPID[$m]} t0
	t0=$(now_ms)
	exited() { ! kill -0 "$pid" 2>/dev/null; }
	if ! wait_for 30 exited; then
		fail "$what: kforkd still running 30 s after the error (state $(kf_get "$m" 'd["state"]' || echo '?'))"
		kf_kill "$m"
		return
	fi
	wait "$pid" || rc=$?
	KPID[$m]=
	if [ $rc = 1 ] && grep -q -- "$pat" "$T/$m.log"; then
		pass "$what: exit 1 after $(($(now_ms) - t0)) ms with \"$(grep -m1 -- "$pat" "$T/$m.log" | cut -d' ' -f3-)\""
	else
		fail "$what: exit $rc, log: $(grep -m2 'fatal\|cannot continue\|FENCED' "$T/$m.log" | tr '\n' '|')"
	fi
	commit_safe "$G" $TOPIC $NP "$what" $(outs "$m") && pass "$what: nothing committed past an unfinished record (${COMMITTED[*]})"
	db clear-errors
	[ "$DB_REPLY" = "ok 0" ] || fail "$what: the injected error was not used ($DB_REPLY)"
}

lane_fatal-a() {
	local c
	NFATAL=0
	db topic $TOPIC $NP
	fatal_case 10 30
	for c in $(pick 26 23 24 81 35 30 29); do
		fatal_case 11 "$c"
	done
	fatal_case 14 30
	if [ "$LONG" = 1 ]; then
		fatal_case 11 82 'group_instance_id = "i1";'
		fatal_case 14 82 'group_instance_id = "i2";'
	fi
}

lane_fatal-b() {
	NFATAL=100
	db topic $TOPIC $NP
	fatal_case 12 30
	fatal_case 8 30
	fatal_case 9 30
	if [ "$LONG" = 1 ]; then
		fatal_case 12 82 'group_instance_id = "i3";'
		fatal_case 8 82 'group_instance_id = "i4";'
	fi
}

# ------------------------------------------------------------ driver
if [ -n "${ERRORS_LANE:-}" ]; then
	LANE=$ERRORS_LANE
	db_start 1
	"lane_$LANE"
	db_stop
	summary
	exit
fi

t_start=$(now_ms)
declare -A CHILD=()
kill_children() {
	local l
	for l in "${!CHILD[@]}"; do
		kill -TERM "${CHILD[$l]}" 2>/dev/null || true
		wait "${CHILD[$l]}" 2>/dev/null || true
	done
}
at_exit kill_children
for l in ${ERRORS_LANES:-$ALL_LANES}; do
	ERRORS_LANE=$l bash "$0" > "$T/lane-$l.out" 2>&1 &
	CHILD[$l]=$!
done
for l in ${ERRORS_LANES:-$ALL_LANES}; do
	rc=0
	wait "${CHILD[$l]}" || rc=$?
	unset "CHILD[$l]"
	echo "--- lane $l (exit $rc)"
	grep -v "^$NAME: [0-9]* passed" "$T/lane-$l.out" || true
	n=$(grep -c '^PASS:' "$T/lane-$l.out" || true)
	PASSED=$((PASSED + n))
	n=$(grep -c '^FAIL:' "$T/lane-$l.out" || true)
	FAILED=$((FAILED + n))
	[ "$n" -gt 0 ] || [ $rc = 0 ] || fail "lane $l: exit status $rc"
done
echo "$NAME: all lanes in $((($(now_ms) - t_start) / 1000)) s"
summary
