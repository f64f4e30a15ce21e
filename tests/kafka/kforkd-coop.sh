#!/usr/bin/env bash
# Cooperative rebalancing (KIP-429) on real Apache Kafka ($KAFKA_VERSION,
# 2.4+): kforkd members with assignor "cooperative-sticky" share a classic
# group with Kafka's Java KafkaConsumer using its CooperativeStickyAssignor.
#
#   1. kforkd a (4 exec workers, 10 ms a record) owns all 8 partitions of a
#      backlog; Java java1 joins, takes 1,000 records and leaves; kforkd b
#      joins and stays.  a, the leader, runs kfork's cooperative-sticky.
#   2. A second group: Java java2 starts first and leads (its own
#      assignor computes every assignment); kforkd c joins, then java2
#      leaves after 1,500 records.
#   3. The upgrade path while records arrive: kforkd d and e on range
#      reload, one after the other, to [ cooperative-sticky, range ], then
#      to cooperative-sticky; a third member then joins cooperatively.
#
# Checks: no kforkd ever revokes everything; each rebalance takes from a
# member only what moves (a: 4 kept and 4 revoked when java1 joins); a and
# c finish records of the partitions they keep while the rebalance runs;
# the broker describes the group with protocol cooperative-sticky and
# every kind of member; every record is processed (kforkd's and Java's
# outputs), duplicates only at handovers; the commits end at the end
# offsets (read by the oracle).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/lib.sh"
. "$here/../lib/kforkd.sh"
V=${KAFKA_VERSION:-4.4.0}
if ! kafka_ver_ge "$V" 2.4.0; then
	echo "SKIP: cooperative rebalancing needs Kafka 2.4 or newer"
	exit 77
fi
N=${COOP_N:-3000}
P=8

kf_tmpdir kcoop KF_KAFKA_KEEP failed
tmp=$KF_DIR
kafka_start "$V"
oracle() { kafka_oracle "$@"; }

cat > "$tmp/h.py" <<'EOF'
import os, sys, time
sys.path.insert(0, os.environ["KF_EXAMPLES"])
from handler import serve
out = open(os.path.join(sys.argv[1], "w%d" % os.getpid()), "a", buffering=1)
def handle(r):
    time.sleep(0.01)
    out.write("%s %d %d %.3f\n" % (r.topic, r.partition, r.offset, time.time()))
serve(handle)
EOF
export KF_EXAMPLES=$here/../../etc/examples

declare -A PID=()
# kf NAME GROUP TOPIC: a kforkd member, assignor $ASSIGNOR
# (cooperative-sticky), slow handler; again on a running member: a new
# config, reloaded
ASSIGNOR='"cooperative-sticky"'
kf() {
	mkdir -p "$tmp/out-$1"
	BOOTSTRAP=$KAFKA_BOOTSTRAP SESSION_MS=10000 REBALANCE_MS=30000 KF_SHUTDOWN_MS=30000 \
		KF_CLIENT_ID=kfork-$1 KF_COMMIT_MS=300 kf_conf "$1" "$2" "$3" 4 \
		"{ type = \"exec\"; command = [ \"python3\", \"$tmp/h.py\", \"$tmp/out-$1\" ]; }" \
		"assignor = $ASSIGNOR;"
	if kf_alive "$1"; then
		kf_ctl "$1" reload > /dev/null || fail "$1: reload refused"
	else
		kf_start "$1"
	fi
}
# jmember NAME GROUP TOPIC MAX: Kafka's KafkaConsumer, cooperative-sticky,
# 10 ms a record, commits, leaves after MAX records
jmember() {
	mkdir -p "$tmp/$1"
	oracle consume "$3" --group "$2" --assignor cooperative-sticky --commit --max "$4" \
		--idle-ms 30000 --sleep-ms 10 --max-poll-records 20 --check seq --format offsets --client-id "$1" \
		--out "$tmp/$1/offsets" > "$tmp/$1/stats" 2> "$tmp/$1/log" &
	PID[$1]=$!
	kafka_bg $!
}
reap() {
	local rc=0
	wait "${PID[$1]}" || rc=$?
	[ $rc = 0 ] || fail "$1 exited $rc: $(tail -n 3 "$tmp/$1/log")"
}
# Records of partitions M keeps, finished between two log lines of M.
finished_between() {  # M FROM_TS TO_TS
	awk -v a="$2" -v b="$3" '$4 >= a && $4 <= b' "$tmp/out-$1"/w* 2>/dev/null | wc -l
}
log_ts() {  # M PATTERN: the epoch seconds of the first log line with it
	local l
	l=$(grep -m1 -E "$2" "$KF_DIR/$1.log") || return 1
	date -d "$(cut -c1-24 <<< "$l")" +%s.%N
}
# Every revocation M made is one a SyncGroup announced (cooperative), with
# the same count: never the eager "revoke everything before joining".
never_eager() {
	local sync drain
	sync=$(grep -oE "SyncGroup: .* [0-9]+ revoked" "$KF_DIR/$1.log" | grep -oE "[0-9]+ revoked" |
		grep -v "^0 " | cut -d' ' -f1 | paste -sd' ') || true
	drain=$(grep -oE "[0-9]+ partitions revoked: draining" "$KF_DIR/$1.log" | cut -d' ' -f1 |
		paste -sd' ') || true
	if [ "$sync" = "$drain" ]; then
		pass "$1: every revocation was a cooperative one (${drain:-none})"
	else
		fail "$1: revocations ${drain:-none}, announced by SyncGroup: ${sync:-none}"
	fi
}
outputs() {  # TOPIC DIRS...: every output as "TOPIC P O" lines
	local t=$1 d
	shift
	for d; do
		cat "$d"/w* 2>/dev/null | cut -d' ' -f1-3 || true
		if [ -f "$d/offsets" ]; then awk -v t="$t" '{ print t, $1, $2 }' "$d/offsets"; fi
	done
}
check_all() {  # GROUP TOPIC DIRS...
	local g=$1 t=$2
	shift 2
	if wait_for 120 kafka_drained "$g" "$t" "$tmp"; then
		pass "$g: the committed offsets are the end offsets"
	else
		fail "$g: committed $(tr '\n' ' ' < "$tmp/committed"), ends $(tr '\n' ' ' < "$tmp/ends")"
	fi
	# the end offsets as the watermarks out_check wants
	HW=()
	local p
	for p in $(seq 0 $((P - 1))); do
		HW+=("$(awk -v p="$p" '$1 == p { print $2 }' "$tmp/ends")")
	done
	outputs "$t" "$@" > "$tmp/all-$t"
	covered "$t" "$g: kforkd and Java" "$tmp/all-$t"
}

# --- 1: kforkd leads
G=coop-g1 T=coop1
oracle create-topic $T --partitions $P --replication 1 > /dev/null
oracle produce $T --count "$N" --keys seq --batch 100 > /dev/null
oracle end-offsets $T > "$tmp/ends"
kf a $G $T
wait_for 60 grep -qE "generation [0-9]+: 8 partitions assigned" "$KF_DIR/a.log" ||
	fail "a was not assigned the 8 partitions: $(tail -n 3 "$KF_DIR/a.log")"
jmember java1 $G $T 1000
if wait_for 90 grep -qE "SyncGroup: 4 partitions in generation [0-9]+: 0 added, 4 kept, 4 revoked" "$KF_DIR/a.log"; then
	pass "java1 joined: a kept 4 partitions and revoked 4"
else
	fail "a did not keep 4 and revoke 4: $(grep SyncGroup "$KF_DIR/a.log" | tail -n 3)"
fi
# a went on with its 4 while it drained the other 4 and the group
# rebalanced again to hand them to java1: where an eager group stops
# everything, from the first SyncGroup to the second.
wait_for 60 grep -qE "SyncGroup: 4 partitions in generation [0-9]+: 0 added, 4 kept, 0 revoked" "$KF_DIR/a.log" ||
	fail "a never settled with 4 partitions"
t0=$(log_ts a "4 kept, 4 revoked") || t0=
t1=$(log_ts a "4 kept, 0 revoked") || t1=
if [ -n "$t0" ] && [ -n "$t1" ]; then
	n=$(finished_between a "$t0" "$t1")
	[ "$n" -gt 0 ] && pass "a finished $n records of its kept partitions during the two-step rebalance ($(python3 -c "print(int(($t1 - $t0) * 1000))") ms)" ||
		fail "a finished nothing during the rebalance"
else
	fail "no cooperative rebalance in a's log"
fi
described() {
	oracle group $G > "$tmp/group1" 2>/dev/null &&
		grep -q "^assignor cooperative-sticky" "$tmp/group1" && grep -q "client java1 " "$tmp/group1"
}
wait_for 60 described && pass "the broker describes $G with cooperative-sticky, kforkd and Java in it" ||
	fail "$G: $(tr '\n' ' ' < "$tmp/group1")"
kf b $G $T
reap java1
jparts=$(cut -d' ' -f1 "$tmp/java1/offsets" | sort -un | paste -sd' ')
[ -n "$jparts" ] && pass "java1 took its 1000 records from partitions $jparts" ||
	fail "java1 took nothing: $(cat "$tmp/java1/stats" 2>/dev/null)"
check_all $G $T "$tmp/out-a" "$tmp/out-b" "$tmp/java1"
never_eager a
never_eager b
kf_stop a 60 || fail "a did not stop cleanly"
kf_stop b 60 || fail "b did not stop cleanly"

# --- 2: Java leads
G=coop-g2 T=coop2
oracle create-topic $T --partitions $P --replication 1 > /dev/null
oracle produce $T --count "$N" --keys seq --batch 100 > /dev/null
jmember java2 $G $T 1500
wait_for 90 kafka_assigned $G java2 || fail "java2 got no partitions"
kf c $G $T
# java2's assignor withholds what java2 must give up first (c gets
# nothing in the first generation), java2 revokes and rejoins, and the
# next generation hands it to c: while java2 is still there.
wait_for 90 grep -qE "SyncGroup: 4 partitions in generation [0-9]+: 4 added, 0 kept, 0 revoked" "$KF_DIR/c.log" &&
	pass "c got 4 partitions from java2's assignment, java2 kept 4: $(grep -E "SyncGroup" "$KF_DIR/c.log" | head -n 2 | sed 's/.*SyncGroup: //' | paste -sd';')" ||
	fail "c did not get its half from java2: $(grep SyncGroup "$KF_DIR/c.log" | tail -n 3)"
reap java2
if wait_for 90 grep -qE "SyncGroup: 8 partitions in generation [0-9]+: [1-8] added, [0-7] kept, 0 revoked" "$KF_DIR/c.log"; then
	pass "java2 left: c took its partitions and kept its own"
else
	fail "after java2 left: $(grep SyncGroup "$KF_DIR/c.log" | tail -n 2)"
fi
check_all $G $T "$tmp/out-c" "$tmp/java2"
never_eager c
kf_stop c 60 || fail "c did not stop cleanly"

# --- 3: the upgrade path from range while records flow, as Java
# documents it: each member from range to [ cooperative-sticky, range ]
# (still eager), then each to cooperative-sticky alone; here by reloads,
# each a restart of that member's Kafka side.
G=coop-g3 T=coop3
oracle create-topic $T --partitions $P --replication 1 > /dev/null
oracle produce $T --count "$N" --keys seq --every-ms 8 > /dev/null 2>&1 &
kafka_bg $!
PRODUCER=$!
ASSIGNOR='"range"'
kf d $G $T
kf e $G $T
stable_with() {  # M [PROTOCOL]: stable with partitions (in a group of PROTOCOL)
	kf_true "$1" "state == 'stable' and len(assignment) > 0" &&
		grep -q "protocol ${2:-}" <(grep "JoinGroup" "$KF_DIR/$1.log" | tail -n 1)
}
step() {  # ASSIGNOR PROTOCOL WHAT
	local m
	ASSIGNOR=$1
	for m in d e; do
		kf $m $G $T
		sleep 2 # the reload has begun
		wait_for 90 stable_with d && wait_for 90 stable_with e ||
			fail "$3: the group did not settle after $m's reload"
	done
	wait_for 90 stable_with d "$2, " && wait_for 90 stable_with e "$2, " &&
		pass "$3: both members reloaded one after the other, the group on $2" ||
		fail "$3: the group is not on $2: $(grep JoinGroup "$KF_DIR/d.log" | tail -n 1)"
}
wait_for 90 stable_with d range && wait_for 90 stable_with e range || fail "range: no stable group"
step '[ "cooperative-sticky", "range" ]' cooperative-sticky "step 1 (eager with cooperative-sticky)"
step '"cooperative-sticky"' cooperative-sticky "step 2 (cooperative)"
# Cooperative now: a third member takes its share without the others
# stopping.
ASSIGNOR='"cooperative-sticky"'
kf f $G $T
wait_for 90 grep -qE "SyncGroup: [1-8] partitions in generation [0-9]+: [1-8] added" "$KF_DIR/f.log" &&
	pass "after the upgrade f joined and got partitions: $(grep SyncGroup "$KF_DIR/f.log" | tail -n 1 | sed 's/.*SyncGroup: //')" ||
	fail "f got nothing: $(grep SyncGroup "$KF_DIR/f.log" | tail -n 2)"
n=$(grep -chE "[0-9]+ kept, [1-8] revoked" "$KF_DIR/d.log" "$KF_DIR/e.log" | paste -sd+ | bc)
[ "$n" -gt 0 ] && pass "d and e gave f partitions by cooperative revocations ($n)" ||
	fail "no cooperative revocation in d's and e's logs"
grep -h "INCONSISTENT_GROUP_PROTOCOL" "$KF_DIR"/[def].log && fail "a member was refused for its protocols" ||
	pass "no member was refused for its protocols during the upgrade"
wait "$PRODUCER" || fail "the producer failed"
check_all $G $T "$tmp/out-d" "$tmp/out-e" "$tmp/out-f"
for m in d e f; do
	kf_stop $m 60 || fail "$m did not stop cleanly"
done

if [ -n "${KF_KAFKA_RESULTS:-}" ]; then
	echo "$V $([ "$FAILED" -eq 0 ] && echo PASS || echo FAIL) cooperative-sticky: kforkd and Java in one group, each leading; the upgrade from range" >> "$KF_KAFKA_RESULTS"
fi
summary
