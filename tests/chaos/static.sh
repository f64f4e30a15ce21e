#!/usr/bin/env bash
# Chaos: static membership (kafka.group_instance_id, KIP-345).  Three
# kforkd with distinct instance ids in one group; a rolling restart while
# records flow: each member in turn is stopped (kforkctl stop) and started
# again well within session_timeout_ms (short: one member; LONG: each,
# twice).  A static member does not send LeaveGroup, rejoins under its
# instance id, and a broker that knows the id hands it its old assignment
# without a rebalance, so the claim is:
# zero rebalances (the generation of the members that stayed unchanged,
# their counters.rebalances unchanged, no "rejoining" in their logs), and
# nothing lost.
#
# librdkafka 2.0.2's mock (devbroker) does NOT implement static
# membership: rd_kafka_mock_handle_JoinGroup reads GroupInstanceId (v5+)
# and drops it; rd_kafka_mock_cgrp_member_add knows only member ids, so the
# restarted member (a new process: member id "") is a new member, its
# JoinGroup starts a rebalance, and the old member id lingers until its
# session expires (a second rebalance).  What the mock can show is checked
# (JoinGroup v5 is used, no LeaveGroup on stop, restart within the session
# timeout, every record processed, committed = watermarks, commits safe);
# the zero-rebalance claim is reported as XFAIL with the evidence when
# the generation moved and the broker is devbroker, and is a real check
# (PASS/FAIL) against a broker where STATIC_BROKER_HAS_KIP345=1.
#
# With CHAOS_BROKER=kafka (tests/kafka/kforkd-static.sh) it runs on real
# Apache Kafka, where it is a real check, also against the coordinator's
# own log (no "Preparing to rebalance", the member "Replacing previously
# mapped"); a static leader that comes back is told to skip the
# assignment (KIP-814) and must; and a second kforkd with an instance id
# in use is fenced: the broker gives the id to the newest, so the older
# one exits 1 with FENCED_INSTANCE_ID and the other goes on.
set -euo pipefail
NAME=static
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ -x "$KFORKCTL" ] || { echo "no kforkctl at $KFORKCTL" >&2; exit 99; }

G=grp-static
TOPIC=st
NP=6
MEMBERS="s1 s2 s3"
# Real Kafka refuses sessions under group.min.session.timeout.ms (6 s).
if [ "${CHAOS_BROKER:-}" = kafka ]; then
	SESSION_MS=${STATIC_SESSION_MS:-10000}
	: "${STATIC_BROKER_HAS_KIP345:=1}"
else
	SESSION_MS=${STATIC_SESSION_MS:-3000}
fi
# Short: one member restarted (each restart costs the mock's rebalances,
# see above); LONG: each member in turn, twice.
if [ "$LONG" = 1 ]; then ROUNDS=2; PER=3000; RESTART=$MEMBERS; else ROUNDS=1; PER=1000; RESTART=s2; fi
XFAILED=0
xfail() { XFAILED=$((XFAILED + 1)); echo "XFAIL: $*"; }

member() {
	mkdir -p "$T/out-$1"
	kf_conf "$1" $G $TOPIC 2 "{ type = \"file\"; dir = \"$T/out-$1\"; }" \
		"group_instance_id = \"inst-$1\";"
	# A short session: the mock holds each rebalance session - 1 s.
	sed -i "s/session_timeout_ms = 6000/session_timeout_ms = $SESSION_MS/" "$T/$1.conf"
	kf_start "$1"
}

# all_stable: every member stable in one generation, all NP partitions
# assigned once.
all_stable() {
	local m gens='' parts=''
	for m in $MEMBERS; do
		kf_stable "$m" || return 1
		gens+="$(kf_get "$m" 'd["generation"]') "
		parts+="$(kf_get "$m" '" ".join(str(a["partition"]) for a in d["assignment"])') "
	done
	[ "$(tr ' ' '\n' <<< "$gens" | grep . | sort -u | wc -l)" = 1 ] &&
		[ "$(tr ' ' '\n' <<< "$parts" | grep . | sort -n | paste -sd' ')" = "$(seq -s' ' 0 $((NP - 1)))" ]
}
outs() { echo "$T"/out-*/worker-*.log; }
gen_of() { kf_get "$1" 'd["generation"]'; }
reb_of() { kf_get "$1" 'd["counters"]["rebalances"]'; }

# What the broker says (real Kafka only: its group coordinator's log):
# broker_mark remembers where the logs end; broker_says WHAT checks that
# since then the coordinator logged no rebalance of $G ("Preparing to
# rebalance group") and that it replaced the restarted member's id under
# its instance id ("Replacing previously mapped member").
declare -A BLOG_AT=()
broker_mark() {
	local f
	[ "${CHAOS_BROKER:-}" = kafka ] || return 0
	for f in "$KAFKA_DIR"/*/server.log; do BLOG_AT[$f]=$(wc -c < "$f"); done
}
broker_new() {
	local f
	for f in "$KAFKA_DIR"/*/server.log; do tail -c +"$((${BLOG_AT[$f]:-0} + 1))" "$f"; done
}
broker_says() {
	local reb rep
	[ "${CHAOS_BROKER:-}" = kafka ] || return 0
	reb=$(broker_new | grep -c "Preparing to rebalance group $G " || true)
	# the wording of 3.x's GroupMetadataManager, then 2.x's GroupCoordinator
	rep=$(broker_new | grep -cE "Static member with groupInstanceId=inst-[^ ]* and unknown member id joins group $G in Stable state. Replacing|Static member Some\(inst-[^)]*\) of group $G with unknown member id rejoins" || true)
	if [ "$reb" = 0 ] && [ "$rep" -ge 1 ]; then
		pass "$1: the coordinator replaced the static member's id without a rebalance (its log: $rep replaced, 0 rebalances)"
	else
		fail "$1: the coordinator's log: $reb rebalances of $G, $rep static members replaced: $(broker_new | grep -m1 "Preparing to rebalance group $G " | cut -c1-300)"
	fi
}

db_start 3
db topic $TOPIC $NP
db produce $TOPIC $PER keys=seq
for m in $MEMBERS; do member "$m"; done
if wait_for 40 all_stable; then
	pass "3 static members stable in generation $(gen_of s1) with all $NP partitions ($WAITED_MS ms)"
else
	fail "3 static members not stable: $(for m in $MEMBERS; do echo -n "$m $(kf_get $m 'd["state"], d["generation"]' || echo '?') / "; done)"
fi
for m in $MEMBERS; do
	if v=$(grep -m1 -o "JoinGroup v[5-9]: generation" "$T/$m.log"); then
		pass "$m: ${v%:*} (v5 is the first version with GroupInstanceId)"
	else
		fail "$m: no JoinGroup v5+ in its log: $(grep -m1 'JoinGroup v' "$T/$m.log" || echo none)"
	fi
done
watermarks $TOPIC $NP
wait_for 30 committed_is_hw $G $TOPIC $NP || true

declare -A GEN0 REB0 MARK
moved=0
evidence=
for r in $(seq "$ROUNDS"); do
	for m in $RESTART; do
		stayers=$(tr ' ' '\n' <<< "$MEMBERS" | grep -vx "$m" | paste -sd' ')
		for s in $stayers; do
			GEN0[$s]=$(gen_of "$s")
			REB0[$s]=$(reb_of "$s")
			MARK[$s]=$(wc -l < "$T/$s.log")
		done
		db produce $TOPIC $PER keys=seq
		mark_m=$(wc -l < "$T/$m.log")
		t0=$(now_ms)
		rc=0
		broker_mark
		kf_stop "$m" || rc=$?
		member "$m"
		# on real Kafka: until it is back in the group; devbroker's mock
		# rebalances for it, so there until it runs again
		[ "${CHAOS_BROKER:-}" != kafka ] || wait_for 60 kf_stable "$m" || true
		gap=$(($(now_ms) - t0))
		[ $rc = 0 ] || fail "round $r: $m: kforkd exit $rc on kforkctl stop"
		if [ $gap -lt $SESSION_MS ]; then
			pass "round $r: $m stopped and started again$([ "${CHAOS_BROKER:-}" != kafka ] || echo ", back in the group,") in $gap ms (session $SESSION_MS ms)"
		else
			fail "round $r: $m took $gap ms to stop, start and rejoin (session $SESSION_MS ms)"
		fi
		# KIP-814 (JoinGroup v9): a static leader back in a stable group
		# is told to skip the assignment and keep the one there is
		if tail -n +"$((mark_m + 1))" "$T/$m.log" | grep -q "JoinGroup v9: .*, leader ("; then
			if tail -n +"$((mark_m + 1))" "$T/$m.log" | grep -q "SkipAssignment"; then
				pass "round $r: $m came back as the leader and kept the assignment (SkipAssignment)"
			else
				fail "round $r: $m came back as the leader and assigned again despite SkipAssignment"
			fi
		fi
		if tail -n +"$((mark_m + 1))" "$T/$m.log" | grep -q "LeaveGroup"; then
			fail "round $r: $m sent LeaveGroup on stop (a static member must not)"
		else
			pass "round $r: $m did not send LeaveGroup on stop"
		fi
		db produce $TOPIC $PER keys=seq
		commit_safe $G $TOPIC $NP "round $r, $m restarted" $(outs) || true
		if ! wait_for 60 all_stable; then
			fail "round $r: not all stable 60 s after $m restarted"
			continue
		fi
		commit_safe $G $TOPIC $NP "round $r, $m restarted" $(outs) || true
		for s in $stayers; do
			g1=$(gen_of "$s")
			rb=$(($(reb_of "$s") - REB0[$s]))
			rj=$(tail -n +"$((MARK[$s] + 1))" "$T/$s.log" | grep -c "rejoining" || true)
			if [ "$g1" = "${GEN0[$s]}" ] && [ $rb = 0 ] && [ "$rj" = 0 ]; then
				pass "round $r: $s stayed in generation $g1 while $m restarted (0 rebalances)"
			else
				moved=$((moved + 1))
				evidence="$s: generation ${GEN0[$s]} -> $g1, rebalances +$rb, $rj rejoins ($(tail -n +"$((MARK[$s] + 1))" "$T/$s.log" | grep -m1 'rejoining' | cut -d' ' -f4-))"
				if [ "${STATIC_BROKER_HAS_KIP345:-0}" = 1 ]; then
					fail "round $r: $evidence while $m restarted"
				else
					xfail "round $r: zero rebalances: $evidence while $m restarted; the 2.0.2 mock ignores GroupInstanceId"
				fi
			fi
		done
		broker_says "round $r, $m restarted"
	done
done

# A second kforkd with s1's instance id (real Kafka only: the mock ignores
# instance ids).  On the classic protocol the broker gives the id to the
# one that joins last: it takes s1's place and partitions without a
# rebalance, and s1's next heartbeat gets FENCED_INSTANCE_ID.  The fenced
# one must stop with an error that names it (exit 1); the other goes on.
if [ "${CHAOS_BROKER:-}" = kafka ]; then
	mkdir -p "$T/out-dup"
	kf_conf dup $G $TOPIC 2 "{ type = \"file\"; dir = \"$T/out-dup\"; }" \
		"group_instance_id = \"inst-s1\";"
	sed -i "s/session_timeout_ms = 6000/session_timeout_ms = $SESSION_MS/" "$T/dup.conf"
	broker_mark
	kf_start dup
	one_exited() { ! kf_alive s1 || ! kf_alive dup; }
	if wait_for 60 one_exited; then
		if kf_alive s1; then gone=dup stays=s1; else gone=s1 stays=dup; fi
		rc=0
		wait "${KPID[$gone]}" || rc=$?
		KPID[$gone]=
		line=$(grep "error .*FENCED_INSTANCE_ID" "$T/$gone.log" || true)
		if [ "$rc" = 1 ] && [ -n "$line" ] && [ "$(wc -l <<< "$line")" = 1 ]; then
			pass "same instance id twice: $gone was fenced and exited 1 after $WAITED_MS ms: ${line#* * }"
		else
			fail "same instance id twice: $gone exited $rc without naming FENCED_INSTANCE_ID: $(tail -n 3 "$T/$gone.log")"
		fi
		sleep 5
		if kf_alive "$stays" && kf_stable "$stays"; then
			pass "same instance id twice: $stays keeps running, stable"
		else
			fail "same instance id twice: $stays is not running and stable"
		fi
		broker_says "same instance id twice"
	else
		fail "same instance id twice: both still run after 60 s"
		stays=s1
	fi
	[ "$stays" = s1 ] || MEMBERS="s2 s3 dup"
	db produce $TOPIC $PER keys=seq
fi

chaos_end s2 $G $TOPIC $NP 30 $(outs)
# Where the duplicates come from: the mock refuses every OffsetCommit while
# the group is Joining (a broker accepts the current generation's), so
# each rebalance redelivers what was processed since the last periodic
# commit, and its SyncGroup race (kforkd-group.sh) adds rebalances.
for m in $MEMBERS; do
	echo "$m: $(grep -c 'commit rejected by rebalance' "$T/$m.log" || true) commits refused by a rebalance," \
		"$(grep -c 'api 14: INVALID_REQUEST' "$T/$m.log" || true) SyncGroup INVALID_REQUEST (mock race)," \
		"$(grep -c 'SyncGroup: [0-9]* partitions' "$T/$m.log" || true) generations joined"
done
for m in $MEMBERS; do
	rc=0
	kf_stop "$m" || rc=$?
	[ $rc = 0 ] || fail "$m: exit $rc at the end"
done
[ "$XFAILED" = 0 ] || echo "$XFAILED checks not counted (XFAIL): librdkafka 2.0.2's mock has no static membership (rd_kafka_mock_cgrp_member_add never sees GroupInstanceId), so every restart rebalances"
db_stop
summary
