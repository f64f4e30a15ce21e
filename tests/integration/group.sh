#!/usr/bin/env bash
# The consumer-group member (supervisor/group.c, driven by group_driver)
# against devbroker:
#  1. one member gets all 4 partitions, commits 10,20,30,40, and devbroker's
#     own consumer reads exactly those back; a second run sees them as the
#     committed offsets in its assignment;
#  2. two members split 4 partitions 2/2; one leaves (LeaveGroup) and the
#     other gets all 4 within a few seconds;
#  3. two members again; one is killed with SIGKILL and the other gets all
#     4 after the session timeout (6 s);
#  4. injected errors: Heartbeat REBALANCE_IN_PROGRESS -> rejoin, stable
#     again; the coordinator moved -> rediscovered, still stable;
#     FindCoordinator COORDINATOR_NOT_AVAILABLE twice -> retried, joined;
#     a revocation that outlasts the rebalance timeout -> joins anyway;
#     the coordinator down past the session, then moved -> the new one
#     found without waiting out a request timeout on the dead one;
#  5. a static member (group.instance.id) stops without LeaveGroup;
#  6. new partitions: two members subscribe to gm1 (2 partitions) and gm2,
#     which the brokers do not know yet; gm2 then appears with 2
#     partitions, the leader notices within metadata_max_age_ms (1 s
#     here), rejoins, and both members get their share of gm2 in exactly
#     one more rebalance.  librdkafka 2.0.2's mock cannot add partitions to
#     a topic, and its Metadata v0..v2 creates every unknown topic it is
#     asked about, so gm2 is hidden with devbroker's topic-error command
#     (UNKNOWN_TOPIC_OR_PART, then 0); without that command the case is
#     skipped.
# Heartbeat gaps (longest time between two sends while stable, 500 ms
# interval) are printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
DRIVER=${GROUP_DRIVER:-$BUILDDIR/tests/integration/group_driver}
[ -x "$DRIVER" ] || { echo "no group_driver at $DRIVER" >&2; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kf-group.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "${KF_GROUP_KEEP:-}" ]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
at_exit cleanup

# The 2.0.2 mock completes a SyncGroup round as soon as the leader's
# assignments arrive: a follower whose SyncGroup comes after the leader's
# (by a millisecond) gets INVALID_REQUEST, backs off and joins again, which
# costs one more generation and a rebalance delay (session_timeout_ms - 1 s)
# (rdkafka_mock_cgrp.c, rd_kafka_mock_cgrp_sync_check; tests/devbroker/
# README.md).  A real broker answers that SyncGroup with the assignment.
# As in kforkd-group.sh, a timing or split check such a mock-made round can
# break is reported as XFAIL (not counted as a failure) when the refusal
# did happen in its window, with the count as evidence, and as FAIL
# otherwise.
XFAILED=0
xfail() { XFAILED=$((XFAILED + 1)); echo "XFAIL: $*"; }
declare -A MARK=()
# sync_refused NAME FROM: SyncGroup INVALID_REQUEST answers in NAME's log
# from line FROM on.
sync_refused() { tail -n +"$2" "$tmp/$1.log" | grep -c 'api 14: INVALID_REQUEST' || true; }
mark_logs() {
	local n
	for n in "$@"; do MARK[$n]=$(wc -l < "$tmp/$n.log"); done
}
# mock_races NAME...: SyncGroup INVALID_REQUEST answers since mark_logs (or
# since the member started).
mock_races() {
	local n c=0
	for n in "$@"; do c=$((c + $(sync_refused "$n" $((${MARK[$n]:-0} + 1))))); done
	echo $c
}
# fail_or_xfail MEMBERS WHAT: a check failed; XFAIL when the mock refused
# a SyncGroup of one of MEMBERS (space-separated) since their marks.
fail_or_xfail() {
	local races
	# shellcheck disable=SC2086
	races=$(mock_races $1)
	if [ "$races" -gt 0 ]; then
		xfail "$2, after $races extra round(s) made by the mock's SyncGroup INVALID_REQUEST"
	else
		fail "$2"
	fi
}

# member NAME GROUP TOPIC [ARGS...]: start a driver in the background; its
# pid goes to PID_<NAME>, its output to $tmp/NAME.log (its mark for
# mock_races at the start).
member() {
	local name=$1 group=$2 topic=$3
	shift 3
	"$DRIVER" -b "$BOOTSTRAP" -g "$group" -t "$topic" -s 6000 -h 500 -r 10000 "$@" \
		> "$tmp/$name.log" 2>&1 &
	pids+=($!)
	printf -v "PID_$name" '%s' $!
	MARK[$name]=0
}

# The last assignment line of a member's log.
last_assigned() { grep '^assigned' "$tmp/$1.log" | tail -1 || true; }
# has_n NAME N: the member's last assignment holds N partitions.
has_n() { last_assigned "$1" | grep -q " n=$2 "; }
parts() { last_assigned "$1" | tr ' ' '\n' | grep '/' | sed 's/@.*//' | sort; }
gen_of() { last_assigned "$1" | grep -o 'gen=[0-9]*' | cut -d= -f2; }
# split_n N NAME...: each member's last assignment holds N partitions, all
# of the same generation.  A member the mock refused in a generation still
# shows the one before, so this waits for a round that every member
# completed (has_n alone can see one member's new generation next to the
# other's stale one, and the group still rebalancing).
split_n() {
	local n=$1 g m
	shift
	g=$(gen_of "$1")
	for m in "$@"; do
		has_n "$m" "$n" && [ -n "$g" ] && [ "$(gen_of "$m")" = "$g" ] || return 1
	done
}

# stop NAME [SIGNAL]: signal the member and wait for it.
stop() {
	local pid_var="PID_$1" rc=0
	kill "-${2:-TERM}" "${!pid_var}" 2>/dev/null || true
	{ wait "${!pid_var}"; } 2>/dev/null || rc=$?
	return $rc
}

show() { echo "--- $1.log"; tail -40 "$tmp/$1.log"; }

db_start 3

# ---------------------------------------------------------------- 1. commit
db topic gt1 4
if timeout 60 "$DRIVER" -b "$BOOTSTRAP" -g g1 -t gt1 -c 10,20,30,40 -x 0 > "$tmp/c1.log" 2>&1 &&
	grep -q '^assigned gen=[0-9]* n=4 ' "$tmp/c1.log" && grep -q '^commit ok n=4' "$tmp/c1.log" &&
	grep -q '^left' "$tmp/c1.log"; then
	pass "one member: all 4 partitions, commit ok, left"
else
	show c1
	fail "one member: all 4 partitions, commit ok, left"
fi
db committed g1 gt1 0,1,2,3
if [ "$DB_REPLY" = "ok 10 20 30 40" ]; then
	pass "devbroker reads the committed offsets: $DB_REPLY"
else
	fail "devbroker reads the committed offsets: $DB_REPLY (want ok 10 20 30 40)"
fi
if timeout 60 "$DRIVER" -b "$BOOTSTRAP" -g g1 -t gt1 -x 0 > "$tmp/c2.log" 2>&1 &&
	grep -q '^assigned .* gt1/0@10 gt1/1@20 gt1/2@30 gt1/3@40$' "$tmp/c2.log"; then
	pass "OffsetFetch on the next join: $(last_assigned c2)"
else
	show c2
	fail "OffsetFetch on the next join"
fi

# ---------------------------------------------------------------- 2. leave
db topic gt2 4
member A g2 gt2 -D 1000
wait_for 20 has_n A 4 || { show A; fail "member A alone gets 4"; }
mark_logs A
member B g2 gt2
if wait_for 40 split_n 2 A B &&
	[ "$( (parts A; parts B) | sort -u | wc -l)" -eq 4 ]; then
	pass "two members split 4 partitions: A [$(parts A | xargs)] B [$(parts B | xargs)] in generation $(gen_of A) ($(mock_races A B) refused SyncGroups)"
else
	show A; show B
	fail_or_xfail "A B" "two members split 4 partitions 2/2"
fi
t0=$(now_ms)
if stop B TERM && grep -q '^left' "$tmp/B.log"; then
	if wait_for 15 has_n A 4; then
		pass "B left (LeaveGroup): A has all 4 after $(($(now_ms) - t0)) ms"
	else
		show A; show B
		fail_or_xfail "A B" "B left: A gets all 4 within 15 s"
	fi
else
	show A; show B
	fail "B left: stopped with LeaveGroup"
fi

# ---------------------------------------------------------------- 3. kill -9
# B is killed once both members hold their 2 partitions in one
# generation: no rebalance is left running, so only the session timeout
# can give A all 4.
mark_logs A
member B g2 gt2
if wait_for 40 split_n 2 A B; then
	t0=$(now_ms)
	stop B KILL || true
	if wait_for 30 has_n A 4; then
		ms=$(($(now_ms) - t0))
		if [ "$ms" -ge 3000 ]; then
			pass "B killed: A has all 4 after $ms ms (session 6000 ms; $(mock_races A B) refused SyncGroups before)"
		else
			fail_or_xfail "A B" "B killed: A has all 4 after only $ms ms, before the session could expire"
		fi
	else
		show A
		fail_or_xfail "A B" "B killed: A gets all 4 after the session timeout"
	fi
else
	show A; show B
	fail_or_xfail "A B" "B rejoined for the kill test"
fi

# ---------------------------------------------------------------- 4. errors
status() {
	local pid_var="PID_$1"
	kill -USR1 "${!pid_var}"
	sleep 0.3
	grep -A1 '^status' "$tmp/$1.log" | tail -2 | xargs
}
n_assigned() { grep -c '^assigned' "$tmp/$1.log" || true; }
more_assigned() { [ "$(n_assigned "$1")" -gt "$2" ] && has_n "$1" 4; }
more_assigned_n() { [ "$(n_assigned "$1")" -gt "$2" ] && has_n "$1" "$3"; }

before=$(n_assigned A)
db errors 12 27 1
if wait_for 15 more_assigned A "$before" &&
	grep -q 'heartbeat: REBALANCE_IN_PROGRESS' "$tmp/A.log" &&
	grep -q 'rejoining (REBALANCE_IN_PROGRESS)' "$tmp/A.log" &&
	grep -q '^revoke done' "$tmp/A.log"; then
	sleep 1
	st=$(status A)
	case "$st" in
	*state=stable*) pass "Heartbeat REBALANCE_IN_PROGRESS: rejoined, stable ($st)" ;;
	*) fail "Heartbeat REBALANCE_IN_PROGRESS: not stable after rejoining ($st)" ;;
	esac
else
	show A
	fail "Heartbeat REBALANCE_IN_PROGRESS: rejoin"
fi

old=$(grep -o 'coordinator is node [0-9]*' "$tmp/A.log" | tail -1 | awk '{print $4}')
new=$((old % 3 + 1))
db coordinator group g2 "$new"
moved() {
	grep -q 'heartbeat: NOT_COORDINATOR' "$tmp/A.log" &&
		grep -q "coordinator is node $new" "$tmp/A.log"
}
if wait_for 15 moved; then
	sleep 2
	st=$(status A)
	hb0=$(echo "$st" | grep -o 'heartbeats=[0-9]*' | cut -d= -f2)
	sleep 1.5
	st=$(status A)
	hb1=$(echo "$st" | grep -o 'heartbeats=[0-9]*' | cut -d= -f2)
	case "$st" in
	*state=stable*)
		if [ "$hb1" -gt "$hb0" ]; then
			pass "coordinator moved $old -> $new: rediscovered, stable, heartbeats flow ($st)"
		else
			fail "coordinator moved: heartbeats stopped ($hb0 -> $hb1)"
		fi ;;
	*) fail "coordinator moved: not stable ($st)" ;;
	esac
else
	show A
	fail "coordinator moved $old -> $new: rediscovered"
fi

db topic gt3 2
db errors 10 15 2
if timeout 60 "$DRIVER" -b "$BOOTSTRAP" -g g3 -t gt3 -x 0 > "$tmp/C.log" 2>&1 &&
	grep -q '^assigned gen=[0-9]* n=2 ' "$tmp/C.log" &&
	[ "$(grep -c 'FindCoordinator: COORDINATOR_NOT_AVAILABLE, retrying' "$tmp/C.log")" -eq 2 ]; then
	pass "FindCoordinator COORDINATOR_NOT_AVAILABLE x2: retried, joined"
else
	show C
	fail "FindCoordinator COORDINATOR_NOT_AVAILABLE x2: retried, joined"
fi

db errors 11 79 1
if timeout 60 "$DRIVER" -b "$BOOTSTRAP" -g g3 -t gt3 -x 0 > "$tmp/M.log" 2>&1 &&
	grep -q 'MEMBER_ID_REQUIRED, joining again' "$tmp/M.log" &&
	grep -q '^assigned gen=[0-9]* n=2 ' "$tmp/M.log"; then
	pass "JoinGroup MEMBER_ID_REQUIRED: joined again at once, assigned"
else
	show M
	fail "JoinGroup MEMBER_ID_REQUIRED: joined again"
fi

# A commit refused by a rebalance is reported, not retried blindly; the
# member rejoins and its next commit (next assignment) goes through.
db errors 8 27 1
if timeout 60 "$DRIVER" -b "$BOOTSTRAP" -g g3 -t gt3 -c 5,6 -x 0 > "$tmp/R.log" 2>&1 &&
	grep -q '^commit failed rejected by rebalance' "$tmp/R.log" &&
	grep -q 'rejoining (REBALANCE_IN_PROGRESS)' "$tmp/R.log" &&
	grep -q '^commit ok n=2' "$tmp/R.log" && db committed g3 gt3 0,1 && [ "$DB_REPLY" = "ok 5 6" ]; then
	pass "OffsetCommit REBALANCE_IN_PROGRESS: reported as rejected by rebalance, rejoined, committed ($DB_REPLY)"
else
	show R
	fail "OffsetCommit REBALANCE_IN_PROGRESS: rejected, rejoined, committed"
fi

if stop A TERM && grep -q '^left' "$tmp/A.log"; then
	pass "A left cleanly: $(grep '^stats' "$tmp/A.log" | tail -1)"
else
	show A
	fail "A left cleanly"
fi

# FENCED_INSTANCE_ID on a heartbeat is fatal, with a message naming it
# (the only member left: errors hit the next Heartbeat of any member).
member F g5 gt3 -i fenced-1
if wait_for 20 has_n F 2; then
	db errors 12 82 1
	rc=0
	pid_var=PID_F
	wait_for 10 grep -q '^fatal' "$tmp/F.log" || kill -KILL "${!pid_var}"
	{ wait "${!pid_var}"; } 2>/dev/null || rc=$?
	if [ "$rc" -eq 1 ] && grep -q '^fatal .*FENCED_INSTANCE_ID.*"fenced-1"' "$tmp/F.log"; then
		pass "Heartbeat FENCED_INSTANCE_ID: fatal ($(grep '^fatal' "$tmp/F.log"))"
	else
		show F
		fail "Heartbeat FENCED_INSTANCE_ID: fatal, exit 1 (rc $rc)"
	fi
else
	show F
	fail "member F joined"
fi

# A caller that never finishes revoking: after the rebalance timeout
# (3 s here) the member joins anyway.
member T g6 gt3 -r 3000 -D 60000
if wait_for 20 has_n T 2; then
	before=$(n_assigned T)
	db errors 12 27 1
	if wait_for 20 more_assigned_n T "$before" 2 &&
		grep -q 'revocation not done within rebalance timeout 3000 ms' "$tmp/T.log"; then
		pass "revocation past the rebalance timeout: joined anyway, assigned again"
	else
		show T
		fail "revocation past the rebalance timeout: joined anyway"
	fi
else
	show T
	fail "member T joined"
fi
stop T TERM || true

# The coordinator goes down (devbroker's "down": connections closed, new
# ones refused) and stays the coordinator past the session, as a killed
# Kafka broker does until the controller fences it; then the group moves.
# Requests must not wait on the dead coordinator's connection for their
# timeout (the JoinGroup's is the rebalance timeout, 60 s, plus 5 s):
# the member finds the new coordinator and is assigned again.
member K g7 gt3 -r 60000
if wait_for 20 has_n K 2; then
	dead=$(grep -o 'coordinator is node [0-9]*' "$tmp/K.log" | tail -1 | awk '{print $4}')
	before=$(n_assigned K)
	db down "$dead"
	if wait_for 30 grep -q 'rejoining (session expired)' "$tmp/K.log"; then
		sleep 1
		db coordinator group g7 $((dead % 3 + 1))
		if wait_for 30 more_assigned_n K "$before" 2; then
			pass "coordinator $dead down past the session, then moved: $(grep -o 'coordinator is node [0-9]*' "$tmp/K.log" | tail -1), assigned again"
		else
			show K
			fail "coordinator down, then moved: not assigned again within 30 s"
		fi
	else
		show K
		fail "coordinator down: the session did not end"
	fi
	db up "$dead"
else
	show K
	fail "member K joined"
fi
stop K TERM || true

# ---------------------------------------------------------------- 5. static
db topic gt4 2
member S g4 gt4 -i static-1
if wait_for 20 has_n S 2 && stop S TERM && grep -q '^left' "$tmp/S.log" &&
	! grep -q 'LeaveGroup' "$tmp/S.log"; then
	pass "static member: joined with an instance id, stopped without LeaveGroup"
else
	show S
	fail "static member: stopped without LeaveGroup"
fi

# ---------------------------------------------------------------- 6. new partitions
# The mock's late-follower refusals (top of file) each cost one more
# generation here: they are counted from the logs, not hidden.
rebalances() { grep '^stats' "$tmp/$1.log" | tail -1 | grep -o 'rebalances=[0-9]*' | cut -d= -f2; }
# settled N: both members hold N partitions of the same generation.
settled() { split_n "$1" P Q; }
db topic gm1 2
db topic gm2 2
if db_try topic-error gm2 UNKNOWN_TOPIC_OR_PART; then
	member P g7 gm1 -t gm2 -m 1000
	member Q g7 gm1 -t gm2 -m 1000
	if wait_for 40 settled 1; then
		# Two checks of unchanged counts: no rejoin.
		sleep 2.5
		if grep -q 'partition count' "$tmp/P.log" "$tmp/Q.log" || ! settled 1; then
			show P; show Q
			fail "new partitions: a rejoin before anything changed"
		fi
		rP=$(rebalances P) rQ=$(rebalances Q) g0=$(gen_of P)
		lP=$(($(wc -l < "$tmp/P.log") + 1)) lQ=$(($(wc -l < "$tmp/Q.log") + 1))
		t0=$(now_ms)
		db topic-error gm2 0
		if wait_for 40 settled 2 &&
			[ "$( (parts P; parts Q) | sort -u | xargs)" = "gm1/0 gm1/1 gm2/0 gm2/1" ]; then
			ms=$(($(now_ms) - t0))
			sleep 2.5 # two more checks: the new counts are the snapshot now
			line=$(grep -h 'topic gm2: partition count 0 -> 2; rejoining' "$tmp/P.log" "$tmp/Q.log" || true)
			nP=$(rebalances P) nQ=$(rebalances Q) g1=$(gen_of P)
			k=$(($(sync_refused P "$lP") + $(sync_refused Q "$lQ")))
			what="P [$(parts P | xargs)] Q [$(parts Q | xargs)] after $ms ms, generation $g0 -> $g1, rebalances P $rP -> $nP, Q $rQ -> $nQ"
			if [ "$(echo "$line" | grep -c rejoining)" -ne 1 ] || ! settled 2; then
				show P; show Q
				fail "topic gm2 appeared: one leader log line and stable (got: $line)"
			elif [ "$k" -eq 0 ] && [ "$g1" -eq $((g0 + 1)) ] &&
				[ "$nP" -eq $((rP + 1)) ] && [ "$nQ" -eq $((rQ + 1)) ]; then
				pass "topic gm2 appeared: the leader logged it and rejoined, exactly one rebalance: $what"
			elif [ "$k" -gt 0 ] && [ "$g1" -eq $((g0 + 1 + k)) ]; then
				pass "topic gm2 appeared: the leader logged it and rejoined: $what ($k more round(s): the mock refused a follower SyncGroup that came after the leader's)"
			elif [ "$k" -gt 0 ]; then
				xfail "topic gm2 appeared: one rebalance + one per refused SyncGroup ($k): $what"
			else
				show P; show Q
				fail "topic gm2 appeared: one rebalance: $what"
			fi
		else
			show P; show Q
			fail "topic gm2 appeared: both members get one of its partitions within 40 s"
		fi
	else
		show P; show Q
		fail "new partitions: P and Q split gm1"
	fi
	stop P TERM || true
	stop Q TERM || true
else
	echo "SKIP: new partitions: devbroker has no topic-error command ($DB_REPLY)"
fi

echo "heartbeat gaps (interval 500 ms):"
grep -h '^stats' "$tmp"/*.log | grep -o 'heartbeat_max_gap_ms=[0-9]*' | sort -t= -k2 -n | tail -3

db_stop
[ "$XFAILED" = 0 ] || echo "$XFAILED checks not counted (XFAIL): the mock's SyncGroup race, see above"
summary
