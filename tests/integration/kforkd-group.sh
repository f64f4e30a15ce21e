#!/usr/bin/env bash
# kforkd in a consumer group, against devbroker (3 brokers):
#  1. three kforkd in one group, 12 partitions, records produced before and
#     while they run: 4 partitions each; one is killed with SIGKILL and the
#     other two take its partitions within session_timeout_ms + a margin;
#  2. the same with a graceful stop (kforkctl stop) of one member: no record
#     is processed twice;
#  3. a mixed group, one kforkd and one kcat -G (librdkafka), 8 partitions:
#     4 each, the union of both outputs covers every record;
#  4. one kforkd draining while each group error its response can carry is
#     injected into Heartbeat, JoinGroup and OffsetCommit, and
#     NOT_LEADER_OR_FOLLOWER into Fetch: "stable" again after each;
#  5. the same for SyncGroup, then the coordinator down for 3 s and up,
#     the coordinator moved, 200 ms RTT on every broker.
# 4 and 5 run in child processes, each with its own devbroker, beside 1-3.
# Every scenario ends with: each (partition, offset) below the high
# watermark is in the file handlers' output at least once, and the group's
# committed offsets, read by devbroker's librdkafka consumer, equal the
# watermarks.  Member state and assignment come from `kforkctl status`.
# Checks that a rebalance made by a mock bug can break are XFAIL when it
# happened (see mock_races).
# KFORKD_GROUP_SCENARIOS picks scenarios (default "1 2 3 4 5"),
# KFORKD_GROUP_PARALLEL those run in child processes (default "4 5"),
# KF_GROUP_KEEP keeps the temp dirs, KF_GROUP_LOG_LEVEL sets kforkd's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/../lib/kforkd.sh"
[ -x "$KFORKCTL" ] || { echo "no kforkctl at $KFORKCTL" >&2; exit 99; }
SCENARIOS=${KFORKD_GROUP_SCENARIOS:-"1 2 3 4 5"}
SESSION_MS=6000
# The 2.0.2 mock holds a rebalance of a group that was stable for
# session_timeout_ms - 1000 before it elects a leader, and checks sessions
# about once a second: a member's partitions move at most
# session + (session - 1 s) + 1 s + a sync after its death.
TAKEOVER_MS=$((SESSION_MS + SESSION_MS + 2000))

kf_tmpdir grp KF_GROUP_KEEP failed
tmp=$KF_DIR
kcat_pid=
kill_kcat() {
	[ -n "$kcat_pid" ] || return 0
	kill -KILL "$kcat_pid" 2>/dev/null || true
	wait "$kcat_pid" 2>/dev/null || true
}
at_exit kill_kcat

# member NAME GROUP TOPIC: start a kforkd (2 file-handler workers) whose
# config, log, socket and output are $tmp/NAME.{conf,log,sock}, $tmp/out-NAME.
member() {
	mkdir -p "$tmp/out-$1"
	KF_LOG_LEVEL=${KF_GROUP_LOG_LEVEL:-info} kf_conf "$1" "$2" "$3" 2 "{ type = \"file\"; dir = \"$tmp/out-$1\"; }"
	kf_start "$1"
}

# minfo NAME: "STATE GENERATION P,P,..." (partitions sorted) from
# kforkctl status; fails when kforkd does not answer.  Polled often, so
# read with grep and sed (the JSON is one line; the top-level "state" is
# the one left after the two arrays are cut out); status_json_ok checks
# the whole object with python3 once.
minfo() {
	local js
	js=$(kf_status "$1") || return 1
	minfo_parse "$js"
}
minfo_parse() {
	local js=$1 top st gen ps
	top=$(sed -e 's/"assignment": *\[[^]]*\]//' -e 's/"workers": *\[[^]]*\]//' <<< "$js")
	st=$(grep -o '"state": *"[a-z]*"' <<< "$top" | head -1 | sed 's/.*"\([a-z]*\)"$/\1/')
	gen=$(grep -o '"generation": *-*[0-9]*' <<< "$top" | head -1 | sed 's/.*: *//')
	ps=$(grep -o '"partition": *[0-9]*' <<< "$js" | sed 's/.*: *//' | sort -n | paste -sd, -)
	echo "${st:-?} ${gen:-?} ${ps:--}"
}

# status_json_ok NAME: the status is one JSON object with the documented
# keys, and python3 reads the same as minfo_parse.
status_json_ok() {
	local js py
	js=$(kf_ctl "$1" status 2>&1) || { echo "kforkctl: $js"; return 1; }
	py=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
for k in ("state", "group", "member_id", "generation", "assignment", "workers", "counters", "config"):
	assert k in d, "no " + k
for a in d["assignment"]:
	for k in ("topic", "partition", "position", "committed", "high_watermark", "lag", "worker", "paused"):
		assert k in a, "assignment: no " + k
ps = sorted(a["partition"] for a in d["assignment"])
print(d["state"], d["generation"], ",".join(map(str, ps)) or "-")' "$js" 2>&1) || true
	echo "$py"
	[ "$py" = "$(minfo_parse "$js")" ]
}

# split_ok EXPECTED NAME...: every member stable in the same generation,
# EXPECTED partitions each (0 = any), together every partition 0..P-1 once.
# MINFO holds "NAME=P,P,..." for each.
split_ok() {
	local each=$1 p=$2 n info st gen ps g0='' all=''
	shift 2
	MINFO=
	for n in "$@"; do
		info=$(minfo "$n") || return 1
		read -r st gen ps <<< "$info"
		[ "$st" = stable ] || return 1
		[ -z "$g0" ] || [ "$gen" = "$g0" ] || return 1
		g0=$gen
		[ "$ps" != - ] || ps=
		if [ "$each" -gt 0 ] && [ "$(tr ',' '\n' <<< "$ps" | grep -c .)" -ne "$each" ]; then
			return 1
		fi
		MINFO+="$n=[$ps] "
		all+="${ps:+$ps,}"
	done
	[ "$(tr ',' '\n' <<< "$all" | grep . | sort -n | tr '\n' ' ')" = "$(seq -s ' ' 0 $((p - 1))) " ]
}

# parts NAME: the member's partitions, from the last split_ok.
parts() { sed -n "s/.*\b$1=\[\([^]]*\)\].*/\1/p" <<< "$MINFO"; }

is_stable() { [ "$(minfo "$1" | cut -d' ' -f1)" = stable ]; }

# committed_ok GROUP TOPIC P: the committed offsets equal the HW that
# watermarks (common.sh) read last.
committed_ok() {
	db committed "$1" "$2" "$(seq -s, 0 $(($3 - 1)))"
	[ "$DB_REPLY" = "ok ${HW[*]}" ]
}

# drained GROUP TOPIC P SECONDS WHAT: wait until committed == watermarks.
drained() {
	watermarks "$2" "$3"
	if wait_for "$4" committed_ok "$1" "$2" "$3"; then
		pass "$5: committed = watermarks ($TOTAL records) after $WAITED_MS ms"
	else
		fail "$5: committed $DB_REPLY, watermarks ok ${HW[*]}"
	fi
}

# out_check and covered (tests/lib/kforkd.sh): the duplicated "PARTITION
# OFFSET" pairs go to $tmp/dups.
KF_DUPS_FILE=$tmp/dups

# stop_member NAME [kill]: graceful stop through kforkctl (exit 0 expected)
# or SIGKILL.
stop_member() {
	if [ "${2:-}" = kill ]; then
		kf_kill "$1"
		return 0
	fi
	kf_stop "$1" || true
	# KFORKCTL.md says "ok"; kforkctl prints what follows the answer's
	# "ok" line, which is nothing for stop.
	if [ "$KF_CTL_RC" -eq 0 ] && [ "$KF_EXIT" -eq 0 ] && { [ -z "$KF_CTL_OUT" ] || [ "$KF_CTL_OUT" = ok ]; }; then
		pass "member $1: kforkctl stop (exit 0), kforkd exit 0"
	else
		fail "member $1: kforkctl stop -> '$KF_CTL_OUT', exit $KF_CTL_RC; kforkd exit $KF_EXIT"
	fi
}

show() { echo "--- $1.log (tail)"; tail -"${2:-30}" "$tmp/$1.log"; }

# The 2.0.2 mock completes SyncGroup as soon as the leader's arrives and
# answers a follower's SyncGroup that comes after it (by a millisecond,
# with the group now Up) with INVALID_REQUEST; the member must join again,
# which costs a rebalance (session_timeout_ms - 1 s) and, since the mock
# refuses every OffsetCommit while the group is Joining, redelivers what
# the others processed since their last commit.  A real broker hands the
# late follower its assignment.  Checks that such a mock-made rebalance
# can break are reported as XFAIL (not counted as failures) when it did
# happen, with the evidence.
XFAILED=0
xfail() { XFAILED=$((XFAILED + 1)); echo "XFAIL: $*"; }
declare -A MARK=()
mark_logs() {
	local n
	for n in "$@"; do MARK[$n]=$(wc -l < "$tmp/$n.log"); done
}
# mock_races NAME...: SyncGroup INVALID_REQUEST answers since mark_logs.
mock_races() {
	local n c=0 k
	for n in "$@"; do
		k=$(tail -n +"$((MARK[$n] + 1))" "$tmp/$n.log" | grep -c "api 14: INVALID_REQUEST" || true)
		c=$((c + k))
	done
	echo $c
}

# split_missed N A B C: no 4/4/4 split in time: XFAIL when the members
# saw the mock's SyncGroup race (each costs a rebalance of ~5 s, and a run
# of them can outlast the wait), a failure otherwise.
split_missed() {
	local races what
	races=$(mock_races "$2" "$3" "$4")
	what="$1: no 4/4/4 split: $(for n in "$2" "$3" "$4"; do echo -n "$n: $(minfo $n) / "; done)"
	if [ "$races" -gt 0 ]; then
		xfail "$what after $races extra rebalances made by the mock's SyncGroup INVALID_REQUEST"
	else
		fail "$what"
	fi
}

# ------------------------------------------------- 1. three members, SIGKILL
scenario1() {
	local G=grp-kill T=kill P=12 took c_parts
	echo "=== 1: three members, one killed"
	db topic $T $P
	db produce $T 6000 keys=seq
	member a1 $G $T
	member b1 $G $T
	member c1 $G $T
	if wait_for 30 split_ok 4 $P a1 b1 c1; then
		pass "1: 12 partitions split 4/4/4 in $WAITED_MS ms: $MINFO"
		local js1
		if js1=$(status_json_ok c1); then
			pass "1: kforkctl status of c1 is a JSON object with the documented keys ($js1)"
		else
			fail "1: kforkctl status of c1: $js1"
		fi
	else
		split_missed 1 a1 b1 c1
	fi
	c_parts=$(parts c1)
	db produce $T 6000 keys=seq
	local t0 races
	mark_logs a1 b1
	t0=$(now_ms)
	stop_member c1 kill
	db produce $T 6000 keys=seq
	if wait_for 40 split_ok 6 $P a1 b1; then
		took=$(($(now_ms) - t0))
		races=$(mock_races a1 b1)
		if [ $took -le $TAKEOVER_MS ]; then
			pass "1: c1's partitions [$c_parts] taken over $took ms after SIGKILL (bound $TAKEOVER_MS): $MINFO"
		elif [ "$races" -gt 0 ]; then
			xfail "1: c1's partitions taken over $took ms after SIGKILL (bound $TAKEOVER_MS), after $races extra rebalances made by the mock's SyncGroup INVALID_REQUEST"
		else
			fail "1: c1's partitions taken over only $took ms after SIGKILL (bound $TAKEOVER_MS)"
		fi
	else
		fail "1: no 6/6 split after SIGKILL: a1: $(minfo a1), b1: $(minfo b1)"
	fi
	drained $G $T $P 30 "1: after SIGKILL"
	covered $T "1" "$tmp"/out-{a1,b1,c1}/worker-*.log
	# At-least-once: what c1 did not commit comes again (information).
	echo "1: $DUPS records processed twice, $(awk -v mine=",$c_parts," \
		'index(mine, "," $1 ",") == 0' "$tmp/dups" | wc -l) of them on partitions c1 did not own; refused commits: $(refused a1 b1)"
	stop_member a1
	stop_member b1
}

# ---------------------------------------- 2. three members, graceful stop
# The 2.0.2 mock answers OffsetCommit with REBALANCE_IN_PROGRESS while the
# group is Joining (rd_kafka_mock_cgrp_check_state; a Kafka broker accepts
# the current generation's commit while preparing a rebalance), so a
# survivor's revocation commit is refused whenever a join or a leave starts
# a rebalance, and what it processed since its last periodic commit comes
# again.  The mock also completes SyncGroup as soon as the leader's arrives
# and answers a follower's later SyncGroup with INVALID_REQUEST (state Up),
# which costs one more rebalance.  So the survivors are left with nothing
# uncommitted when c2 stops: records go to c2's partitions only, c2 is
# stopped while it works on them, and the rest is produced once the two
# survivors are stable.  No record produced after the first drain may be
# processed twice; before it (the start-up rebalances) at-least-once holds.
scenario2() {
	local G=grp-stop T=stop P=12 c_parts p late=0 early=0
	echo "=== 2: three members, one stopped by kforkctl"
	db topic $T $P
	db produce $T 6000 keys=seq
	member a2 $G $T
	member b2 $G $T
	member c2 $G $T
	if wait_for 30 split_ok 4 $P a2 b2 c2; then
		pass "2: 12 partitions split 4/4/4 in $WAITED_MS ms: $MINFO"
	else
		split_missed 2 a2 b2 c2
	fi
	c_parts=$(parts c2)
	drained $G $T $P 30 "2: before the stop"
	local hw0=("${HW[@]}")
	# Small batches: the mock returns one batch per partition and Fetch,
	# so c2 is still at work when the stop arrives.
	for p in ${c_parts//,/ }; do
		db produce $T 1000 keys=seq batch=10 partition="$p"
	done
	c2_busy() { cat "$tmp"/out-c2/worker-*.log | awk -v hw="${hw0[*]}" \
		'BEGIN { split(hw, h, " ") } $3 >= h[$2 + 1] { n++ } END { exit !(n > 0) }'; }
	wait_for 10 c2_busy || true
	mark_logs a2 b2
	stop_member c2
	local c2n
	c2n=$(cat "$tmp"/out-c2/worker-*.log | awk -v hw="${hw0[*]}" \
		'BEGIN { split(hw, h, " ") } $3 >= h[$2 + 1] { n++ } END { print n + 0 }')
	echo "c2 processed $c2n of the 4000 records produced to its partitions before it stopped"
	if wait_for 30 split_ok 6 $P a2 b2; then
		pass "2: c2's partitions [$c_parts] taken over $WAITED_MS ms after its exit: $MINFO"
	else
		fail "2: no 6/6 split after the stop: a2: $(minfo a2), b2: $(minfo b2)"
	fi
	db produce $T 6000 keys=seq
	drained $G $T $P 30 "2: after the graceful stop"
	covered $T "2" "$tmp"/out-{a2,b2,c2}/worker-*.log
	while read -r p o; do
		if [ "$o" -ge "${hw0[$p]}" ]; then late=$((late + 1)); else early=$((early + 1)); fi
	done < "$tmp/dups"
	# The hand-over itself: nothing c2 processed is processed again by
	# a survivor.
	local both
	both=$(awk -v hw="${hw0[*]}" -v c2="$tmp/out-c2/" '
		BEGIN { split(hw, h, " ") }
		$3 >= h[$2 + 1] { k = $2 " " $3; if (index(FILENAME, c2) == 1) c[k] = 1; else s[k] = 1 }
		END { for (k in c) if (k in s) n++; print n + 0 }' \
		"$tmp"/out-c2/worker-*.log "$tmp"/out-{a2,b2}/worker-*.log)
	if [ "$both" = 0 ]; then
		pass "2: the survivors started where c2 stopped: none of its $c2n records processed again"
	else
		fail "2: $both records processed by c2 were processed again by a survivor"
	fi
	local races
	races=$(mock_races a2 b2)
	if [ "$late" = 0 ]; then
		pass "2: no record produced after the first drain processed twice ($early duplicates before it; refused commits: $(refused a2 b2 c2))"
	elif [ "$races" -gt 0 ]; then
		xfail "2: $late records produced after the first drain processed twice, after $races extra rebalances made by the mock's SyncGroup INVALID_REQUEST (refused commits: $(refused a2 b2 c2))"
	else
		fail "2: $late records produced after the first drain processed twice (partitions: $(awk '{ print $1 }' "$tmp/dups" | sort -n | uniq -c | tr -s ' ' | tr '\n' ';')); refused commits: $(refused a2 b2 c2)"
	fi
	stop_member a2
	stop_member b2
}

# refused NAME...: "NAME=COUNT" of OffsetCommits refused by a rebalance.
refused() {
	local n
	for n in "$@"; do
		echo -n "$n=$(grep -c "commit rejected by rebalance" "$tmp/$n.log" || true) "
	done
}

# -------------------------------------------- 3. mixed group with kcat -G
scenario3() {
	local G=grp-mixed T=mixed P=8 kparts k_of_cat
	echo "=== 3: one kforkd and one kcat -G"
	command -v kcat > /dev/null || { fail "3: kcat is not installed"; return; }
	db topic $T $P
	db produce $T 4000 keys=seq
	member m3 $G $T
	kcat -G $G -b "$BOOTSTRAP" -o beginning -X partition.assignment.strategy=range \
		-X session.timeout.ms=$SESSION_MS -X heartbeat.interval.ms=1000 \
		-u -f '%t %p %o\n' $T > "$tmp/kcat.out" 2> "$tmp/kcat.err" &
	kcat_pid=$!
	kcat_parts() {
		grep "rebalanced .*assigned:" "$tmp/kcat.err" | tail -1 |
			grep -o "$T \[[0-9]*\]" | tr -dc '0-9\n' | sort -n | paste -sd,
	}
	mixed_ok() {
		local info st gen ps
		info=$(minfo m3) || return 1
		read -r st gen ps <<< "$info"
		k_of_cat=$(kcat_parts)
		[ "$st" = stable ] && [ "$(tr ',' '\n' <<< "$ps" | grep -c .)" = 4 ] &&
			[ "$(tr ',' '\n' <<< "$k_of_cat" | grep -c .)" = 4 ] &&
			[ "$(echo "$ps,$k_of_cat" | tr ',' '\n' | sort -n | paste -sd,)" = "$(seq -s, 0 $((P - 1)))" ] &&
			kparts=$ps
	}
	if wait_for 30 mixed_ok; then
		pass "3: kforkd got [$kparts], kcat got [$k_of_cat] ($WAITED_MS ms)"
	else
		fail "3: no 4/4 split: kforkd $(minfo m3), kcat [$(kcat_parts)]"
	fi
	db produce $T 4000 keys=seq
	watermarks $T $P
	# kcat's records, per partition, must be exactly its own partitions.
	kcat_done() {
		local p
		for p in ${k_of_cat//,/ }; do
			[ "$(awk -v t=$T -v p="$p" '$1 == t && $2 == p' "$tmp/kcat.out" | wc -l)" -ge "${HW[$p]}" ] || return 1
		done
	}
	if wait_for 30 kcat_done; then
		pass "3: kcat consumed its partitions [$k_of_cat] up to the watermarks"
	else
		fail "3: kcat did not consume its partitions: $(cut -d' ' -f2 "$tmp/kcat.out" | sort -n | uniq -c | tr -s ' ' | tr '\n' ';')"
	fi
	local stray
	stray=$(awk -v mine=",$k_of_cat," 'index(mine, "," $2 ",") == 0' "$tmp/kcat.out" | wc -l)
	[ "$stray" = 0 ] && pass "3: kcat printed records of its own partitions only" ||
		fail "3: kcat printed $stray records of kforkd's partitions"
	# kcat commits on close; then kforkd owns all 8.
	kill -TERM "$kcat_pid" 2>/dev/null || true
	wait "$kcat_pid" 2>/dev/null || true
	kcat_pid=
	if wait_for 30 split_ok 8 $P m3; then
		pass "3: kcat left, kforkd took all 8 partitions ($WAITED_MS ms)"
	else
		fail "3: kforkd did not take all 8 after kcat left: $(minfo m3)"
	fi
	drained $G $T $P 30 "3: mixed group"
	cp "$tmp/kcat.out" "$tmp/out-m3/kcat.log"
	covered $T "3: kforkd + kcat" "$tmp"/out-m3/*.log
	stop_member m3
}

# ------------------------------------- 4 and 5. errors while one drains
# disturb WHAT PATTERN CMD...: run the devbroker commands CMD (or "sleep
# S"), produce more records, then wait until a log line written since
# matches PATTERN ("-": none expected), until the member is stable again,
# and until committed = watermarks; devbroker must have used every
# injected error (clear-errors finds none pending).
E_G=grp-err
E_T=err
E_P=4
disturb() {
	local what=$1 pat=$2 mark t0 c
	shift 2
	mark=$(wc -l < "$tmp/e.log")
	t0=$(now_ms)
	for c in "$@"; do
		case $c in
		sleep\ *) $c ;;
		*) db $c ;;
		esac
	done
	db produce $E_T 400 keys=seq
	seen() { [ "$pat" = - ] || tail -n +"$((mark + 1))" "$tmp/e.log" | grep -q -- "$pat"; }
	if ! wait_for 20 seen; then
		fail "$what: no \"$pat\" in the log within 20 s"
		return
	fi
	if ! wait_for 40 is_stable e; then
		fail "$what: not stable again 40 s after it: $(minfo e)"
		return
	fi
	watermarks $E_T $E_P
	if ! wait_for 30 committed_ok $E_G $E_T $E_P; then
		fail "$what: committed $DB_REPLY, watermarks ok ${HW[*]}"
		return
	fi
	db clear-errors
	if [ "$DB_REPLY" != "ok 0" ]; then
		fail "$what: injected errors still pending: $DB_REPLY"
		return
	fi
	local line=
	[ "$pat" = - ] || line=" ($(tail -n +"$((mark + 1))" "$tmp/e.log" | grep -m1 -- "$pat" | cut -d' ' -f3- | cut -c1-80))"
	pass "$what: stable and committed = watermarks $(($(now_ms) - t0)) ms later$line"
}

# inject WHAT APIKEY CODE [CMD...]: one error for APIKEY, then CMD.
inject() {
	local what=$1 api=$2 code=$3
	shift 3
	disturb "$what" "$(err_name "$code")" "errors $api $code 1" "$@"
}

err_name() {
	case $1 in
	6) echo NOT_LEADER_OR_FOLLOWER ;;
	15) echo COORDINATOR_NOT_AVAILABLE ;;
	16) echo NOT_COORDINATOR ;;
	22) echo ILLEGAL_GENERATION ;;
	25) echo UNKNOWN_MEMBER_ID ;;
	27) echo REBALANCE_IN_PROGRESS ;;
	*) echo "$1" ;;
	esac
}

# A member "e" of its own group on a topic of 4 partitions, drained.
drain_member() {
	db topic $E_T $E_P
	db produce $E_T 2000 keys=seq
	member e $E_G $E_T
	if wait_for 30 split_ok $E_P $E_P e; then
		pass "$1: member stable with all $E_P partitions ($WAITED_MS ms)"
	else
		fail "$1: member not stable: $(minfo e)"
		return 1
	fi
	drained $E_G $E_T $E_P 30 "$1: initial drain"
}

# Error codes: each API gets the group errors its response can carry.
# JoinGroup has no generation (no ILLEGAL_GENERATION); Fetch goes to
# partition leaders, not to the coordinator, so only the leadership error
# applies to it.  JoinGroup and SyncGroup errors need a join: a Heartbeat
# REBALANCE_IN_PROGRESS queued after them starts one.
scenario4() {
	local c
	echo "=== 4: Heartbeat, JoinGroup, OffsetCommit, Fetch errors while one member drains"
	drain_member 4 || return
	for c in 27 16 15 25 22; do
		inject "4: Heartbeat $(err_name $c)" 12 $c
	done
	for c in 27 16 15 25; do
		inject "4: JoinGroup $(err_name $c)" 11 $c "errors 12 27 1"
	done
	for c in 27 16 15 25 22; do
		inject "4: OffsetCommit $(err_name $c)" 8 $c
	done
	inject "4: Fetch NOT_LEADER_OR_FOLLOWER" 1 6
	covered $E_T "4" "$tmp"/out-e/worker-*.log
	stop_member e
}

scenario5() {
	local c coord other
	echo "=== 5: SyncGroup errors, broker down, coordinator moved, 200 ms RTT"
	drain_member 5 || return
	for c in 27 16 15 25 22; do
		inject "5: SyncGroup $(err_name $c)" 14 $c "errors 12 27 1"
	done
	coord=$(sed -n 's/.*coordinator is node \([0-9]*\).*/\1/p' "$tmp/e.log" | tail -1)
	other=$((coord % 3 + 1))
	disturb "5: coordinator (broker $coord) down 3 s, then up" "/${coord}[a-z ]*: connected after" \
		"down $coord" "sleep 3" "up $coord"
	disturb "5: coordinator moved from broker $coord to $other" "coordinator is node $other" \
		"coordinator group $E_G $other"
	disturb "5: 200 ms RTT on every broker" - "rtt -1 200"
	db rtt -1 0
	# The coordinator holds a JoinGroup for as long as the rebalance
	# takes (up to rebalance_timeout_ms): a member must not expire its own
	# session meanwhile (its heartbeats wait behind the JoinGroup).
	local mark
	mark=$(wc -l < "$tmp/e.log")
	disturb "5: a JoinGroup answered after 8 s (session 6 s)" "rejoining (REBALANCE_IN_PROGRESS)" \
		"broker-errors $other 11 0 1 8000" "errors 12 27 1"
	if tail -n +"$((mark + 1))" "$tmp/e.log" | grep -q "out of the group"; then
		fail "5: the member expired its own session while its JoinGroup was held"
	else
		pass "5: no session expiry of its own while its JoinGroup was held"
	fi
	covered $E_T "5" "$tmp"/out-e/worker-*.log
	stop_member e
}

# Scenarios 4 and 5 spend most of their time waiting for the mock's
# rebalance delay and inject errors for the whole cluster: each runs in a
# child process with a devbroker of its own, while this one runs the rest.
declare -A CHILD=()
kill_children() {
	local s
	for s in "${!CHILD[@]}"; do
		kill -TERM "${CHILD[$s]}" 2>/dev/null || true
		wait "${CHILD[$s]}" 2>/dev/null || true
	done
}
at_exit kill_children
inline=
for s in $SCENARIOS; do
	if [ -z "${KF_GROUP_CHILD:-}" ] && [ "$(wc -w <<< "$SCENARIOS")" -gt 1 ] &&
		[[ " ${KFORKD_GROUP_PARALLEL-4 5} " == *" $s "* ]]; then
		KF_GROUP_CHILD=1 KFORKD_GROUP_SCENARIOS=$s bash "$0" > "$tmp/child-$s.out" 2>&1 &
		CHILD[$s]=$!
	else
		inline+=" $s"
	fi
done
t_start=$(now_ms)
if [ -n "$inline" ]; then
	db_start 3
	for s in $inline; do
		"scenario$s"
	done
	db_stop
	# Sanitizer builds: kforkd and its workers log to the member logs.
	san=$(grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$tmp"/*.log || true)
	if [ -z "$san" ]; then
		pass "scenarios$inline: no sanitizer report in the member logs"
	else
		fail "sanitizer reports in: $san"
		grep -h -A12 "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" $san | head -60
	fi
fi
for s in $(printf '%s\n' "${!CHILD[@]}" | sort); do
	rc=0
	wait "${CHILD[$s]}" || rc=$?
	unset "CHILD[$s]"
	echo "--- scenario $s (child process, exit $rc)"
	grep -v '^kforkd-group: \|^all scenarios: \|checks not counted' "$tmp/child-$s.out" || true
	n=$(grep -c '^PASS:' "$tmp/child-$s.out" || true)
	PASSED=$((PASSED + n))
	n=$(grep -c '^FAIL:' "$tmp/child-$s.out" || true)
	FAILED=$((FAILED + n))
	[ "$n" -gt 0 ] || [ "$rc" -eq 0 ] || fail "scenario $s: child exit status $rc"
	n=$(grep -c '^XFAIL:' "$tmp/child-$s.out" || true)
	XFAILED=$((XFAILED + n))
done
echo "all scenarios: $((($(now_ms) - t_start) / 1000)) s"

if [ "$FAILED" -ne 0 ] && [ -n "$inline" ]; then
	for f in "$tmp"/*.log; do show "$(basename "$f" .log)" 25; done
fi
[ "$XFAILED" = 0 ] || echo "$XFAILED checks not counted (XFAIL): the mock's SyncGroup race, see above"
summary
