#!/usr/bin/env bash
# Broker failover: kforkd against a 3-broker Apache Kafka cluster
# ($KAFKA_VERSION, default 4.4.0; KRaft from 3.3, ZooKeeper before)
# started by tests/kafka/lib.sh on loopback.  A topic of 12 partitions,
# replication factor 3, min.insync.replicas 2.  Kafka's own client (the
# oracle) produces with acks=all, first N records, then all along in a
# background loop, and is the judge: committed offsets, end offsets,
# leaders and the group coordinator come from Kafka and its tools, never
# from kforkd.  Two kforkd members (3 file workers each) drain the topic
# while:
#
#   1. leader       a broker that leads partitions of the topic and is not
#                   the group coordinator is SIGKILLed: both members' status
#                   shows it down (not ready, last_error); the commits of
#                   the partitions it led go on past the kill (so they were
#                   fetched from their new leaders); no rebalance.  Then it
#                   is restarted and back in sync.
#   2. coordinator  the group coordinator is SIGKILLed: status shows it
#                   down; both members find the coordinator Kafka names
#                   next, and the commits go on.  Then it is restarted.
#   3. rolling      each broker in turn is restarted (SIGTERM: a controlled
#                   shutdown), back and in sync before the next.
#
# The kills hit a drain in full swing: the members are quieted until a
# backlog builds up, resumed, and the broker killed at once.  After phases
# 1-2 and again after phase 3 the producer stops and: the group's committed
# offsets equal the end offsets; every record is in the output, intact;
# the duplicates lie within the disruptions' uncommitted windows, and are
# no more than those windows hold.  A disruption's window runs, per
# partition, from the offset committed just before it (oracle) to the last
# offset delivered once it is over: both members stable, everything
# delivered by then committed (oracle), and no new generation meanwhile,
# so no later restart can go back before its end.  A rebalance outside
# every window fails the test.  kforkd never exits, and stops cleanly.
#
# KAFKA_FAILOVER_N: records produced before kforkd starts (200,000);
# KAFKA_FAILOVER_BACKLOG: the backlog before a kill (60,000).  Kafka before
# 2.2 exits 77 (see below).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/lib.sh"
. "$here/../lib/kforkd.sh"
[ -x "$KFORKCTL" ] || { echo "no $KFORKCTL" >&2; exit 99; }
V=${KAFKA_VERSION:-4.4.0}
N=${KAFKA_FAILOVER_N:-200000}
BACKLOG=${KAFKA_FAILOVER_BACKLOG:-60000}
P=12
T=fo
G=fo-g
SIZE=32
# The oracle predicts each record's offset from the end offsets; before
# 2.2 a new leader answers ListOffsets with a high watermark that may lag
# behind records written before the failover (KIP-207 added
# OFFSET_NOT_AVAILABLE for that), so records land past their predicted
# offset and the checks cannot tell them apart.
if ! kafka_ver_ge "$V" 2.2.0; then
	echo "SKIP: Kafka $V: ListOffsets may answer a stale high watermark after a leader change (before KIP-207, 2.2)"
	exit 77
fi
t_start=$(now_ms)

# the members a and b: $tmp/a.conf, a.log, a.sock and their output
# $tmp/out-a (kafka_kforkd_conf, tests/lib/kforkd.sh)
kf_tmpdir failover KF_KAFKA_KEEP
tmp=$KF_DIR
prod_pid=

kafka_start "$V" --brokers 3
oracle() { kafka_oracle "$@"; }

alive() { kf_alive a && kf_alive b; }

ctl() { kf_ctl "$1" "$2" > /dev/null; }

# The background producer: batches of 20000 records (acks=all, the
# oracle's offset checks) until $tmp/prod.stop exists.  A batch that fails
# (a broker killed under it) is logged; the next one starts from the end
# offsets again, and check_output.py judges every record that was written.
producer_start() {
	rm -f "$tmp/prod.stop"
	(
		trap 'kill -TERM $jpid 2>/dev/null; wait $jpid 2>/dev/null; exit 0' TERM
		while [ ! -e "$tmp/prod.stop" ]; do
			oracle produce "$T" --count 20000 --keys seq --size $SIZE --codec lz4 \
				>> "$tmp/prod.out" 2>> "$tmp/prod.err" &
			jpid=$!
			rc=0
			wait $jpid || rc=$?
			echo "batch rc=$rc" >> "$tmp/prod.log"
		done
	) &
	prod_pid=$!
}
producer_stop() {
	[ -n "$prod_pid" ] || return 0
	touch "$tmp/prod.stop"
	wait "$prod_pid" 2>/dev/null || true
	prod_pid=
}
at_exit producer_stop

# Kafka's view, from its own tools
topics() { kafka_tool topics --bootstrap-server "$KAFKA_BOOTSTRAP" "$@"; }
leaders() { # "PARTITION LEADER" lines of topic $T
	topics --describe --topic "$T" 2>/dev/null |
		sed -n 's/.*Partition: *\([0-9]*\).*Leader: *\(-\?[0-9]*\).*/\1 \2/p'
}
coordinator() { # the group coordinator's node id
	kafka_tool consumer-groups --bootstrap-server "$KAFKA_BOOTSTRAP" --describe --group "$G" \
		--state 2>/dev/null | sed -n 's/.*:[0-9]* *(\([0-9]*\)).*/\1/p' | head -n 1
}
in_sync() { # no under-replicated partition (every topic, __consumer_offsets too)
	local out
	out=$(topics --describe --under-replicated-partitions 2>/dev/null) && [ -z "$out" ]
}

# snap FILE: per partition, 1 + the highest offset any worker delivered
# ("PARTITION OFFSET"); reads the output files incrementally
cat > "$tmp/snap.py" <<'PY'
import glob, json, os, sys
state_path, out_path, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    st = json.load(open(state_path))
except (OSError, ValueError):
    st = {"pos": {}, "max": {}}
for d in dirs:
    for path in sorted(glob.glob(os.path.join(d, "worker-*.log"))):
        pos = st["pos"].get(path, 0)
        with open(path, "rb") as f:
            f.seek(pos)
            data = f.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].split(b"\n"):
            parts = line.split()
            if len(parts) == 5:
                p, o = parts[1].decode(), int(parts[2])
                if o + 1 > st["max"].get(p, 0):
                    st["max"][p] = o + 1
        st["pos"][path] = pos + end
json.dump(st, open(state_path, "w"))
with open(out_path, "w") as f:
    for p in sorted(st["max"], key=int):
        f.write("%s %d\n" % (p, st["max"][p]))
PY
snap() { python3 "$tmp/snap.py" "$tmp/snap.state" "$1" "$tmp/out-a" "$tmp/out-b"; }

# sum_ge A B: every partition of A (PARTITION OFFSET) at or past B's offset
sum_ge() {
	awk 'NR == FNR {b[$1] = $2; next} {a[$1] = $2} END {for (p in b) if (a[p] + 0 < b[p] + 0) exit 1}' "$2" "$1"
}

committed_ge() { # committed_ge FILE: the group's commits reached FILE's offsets
	oracle committed "$G" "$T" > "$tmp/committed" 2>/dev/null && sum_ge "$tmp/committed" "$1"
}


# st_get NAME EXPR: a Python expression over NAME's status JSON (d)
st_get() { kf_get "$1" "$2" 2>/dev/null; }
# both_stable: both members stable, the 12 partitions between them
both_stable() {
	local na nb
	[ "$(st_get a 'd["state"]')" = stable ] && [ "$(st_get b 'd["state"]')" = stable ] &&
		na=$(st_get a 'len(d["assignment"])') && nb=$(st_get b 'len(d["assignment"])') &&
		[ $((na + nb)) -eq $P ]
}
gens() { echo "$(st_get a 'd["generation"]') $(st_get b 'd["generation"]')"; }

# backlog_ge N: at least N records produced and not committed (oracle)
backlog_ge() {
	kafka_drained "$G" "$T" "$tmp" ||
		[ "$(awk 'NR == FNR {c[$1] = $2 < 0 ? 0 : $2; next} {s += $2 - c[$1]} END {print s}' \
			"$tmp/committed" "$tmp/ends")" -ge "$1" ]
}

# The disruption windows ("PARTITION FIRST END" lines in $tmp/windows).
# window_open NAME: no new generation since the last window closed; the
# commits before the disruption.
window_open() {
	local g
	g=$(gens)
	if [ "$g" != "$(cat "$tmp/gens")" ]; then
		fail "$1: a rebalance outside the disruptions: generations $(cat "$tmp/gens") -> $g"
	fi
	oracle committed "$G" "$T" > "$tmp/win.$1.from"
}
# window_close NAME: both members stable, everything delivered by then
# committed, and the generations the same throughout: the window ends at
# what was delivered.
window_close() {
	local g i ok=
	for i in 1 2 3 4 5; do
		if ! wait_for 120 both_stable; then
			fail "$1: the members are not stable again within 120 s"
			return
		fi
		g=$(gens)
		snap "$tmp/win.$1.to"
		if ! wait_for 120 committed_ge "$tmp/win.$1.to"; then
			fail "$1: the commits did not reach what was delivered within 120 s: $(tr '\n' ' ' < "$tmp/committed")"
			return
		fi
		if [ "$(gens)" = "$g" ]; then ok=1; break; fi
	done
	[ -n "$ok" ] || { fail "$1: the generations kept changing"; return; }
	echo "$g" > "$tmp/gens"
	awk 'NR == FNR {from[$1] = $2 < 0 ? 0 : $2; next} {print $1, from[$1] + 0, $2}' \
		"$tmp/win.$1.from" "$tmp/win.$1.to" > "$tmp/win.$1"
	cat "$tmp/win.$1" >> "$tmp/windows"
	echo "$1: window of $(awk '{s += $3 - $2} END {print s}' "$tmp/win.$1") records (generations $g)"
}

# with_backlog NAME: quiet both members until the producer has written
# $BACKLOG records they have not taken, open the window, resume: the
# disruption that follows hits a drain in full swing
with_backlog() {
	ctl a quiet
	ctl b quiet
	wait_for 120 backlog_ge "$BACKLOG" || fail "$1: no backlog of $BACKLOG records within 120 s"
	window_open "$1"
	ctl a resume
	ctl b resume
}

# dead_in_status NAME NODE: NAME's status lists NODE as not ready, with an error
dead_in_status() {
	kf_status "$1" > "$tmp/$1.st.json" &&
		python3 - "$tmp/$1.st.json" "$2" <<'PY'
import json, sys
b = [x for x in json.load(open(sys.argv[1]))["brokers"] if x["node"] == int(sys.argv[2])]
sys.exit(0 if b and b[0]["state"] != "ready" and b[0]["last_error"] else 1)
PY
}
show_node() {
	python3 -c 'import json, sys
b = [x for x in json.load(open(sys.argv[1]))["brokers"] if x["node"] == int(sys.argv[2])][0]
print("node %d %s, last_error %r at %s" % (b["node"], b["state"], b["last_error"], b["last_error_at"]))' "$1" "$2"
}

# check_all WHAT: stop the producer, wait for the drain, check the output
check_all() {
	local out
	producer_stop
	if wait_for 300 kafka_drained "$G" "$T" "$tmp"; then
		awk '{s += $2} END {print s}' "$tmp/ends" > "$tmp/total"
		pass "$1: drained: committed = end offsets (oracle), $(cat "$tmp/total") records"
	else
		fail "$1: not drained in 300 s: committed $(tr '\n' ' ' < "$tmp/committed"), ends $(tr '\n' ' ' < "$tmp/ends")"
	fi
	if out=$(python3 "$here/check_output.py" --topic "$T" --ends "$tmp/ends" \
		--dups-within "$tmp/windows" "$tmp/out-a" "$tmp/out-b"); then
		pass "$1: every record at least once, intact; duplicates within the windows: $out"
	else
		fail "$1: $out"
	fi
	if alive; then pass "$1: both kforkd still running"; else fail "$1: a kforkd exited"; fi
	echo "producer batches: $(grep -c 'batch rc=0' "$tmp/prod.log" || true) ok, $(grep -c 'batch rc=[1-9]' "$tmp/prod.log" || true) failed"
	grep '^oracle: ' "$tmp/prod.err" | sort | uniq -c | head -n 5 || true
}

# logs_since LINE_a LINE_b PATTERN [MAX]: new log lines of a and b matching
# (but the refused periodic commits, one a commit interval)
logs_since() {
	{ tail -n +"$1" "$tmp/a.log" | sed 's/^/a: /'; tail -n +"$2" "$tmp/b.log" | sed 's/^/b: /'; } |
		grep -E "$3" | grep -v 'commit of' | head -n "${4:-8}" || true
}
nlines() { wc -l < "$tmp/$1.log"; }

# --- setup
oracle create-topic "$T" --partitions $P --replication 3 --config min.insync.replicas=2 > /dev/null
t0=$(now_ms)
oracle produce "$T" --count "$N" --keys seq --size $SIZE --codec lz4 > /dev/null
echo "oracle produced $N records (acks=all, RF 3, min.insync.replicas 2) in $(($(now_ms) - t0)) ms"
: > "$tmp/windows"
kafka_kforkd_conf a "$G" "$T" 3
kafka_kforkd_conf b "$G" "$T" 3
kf_start a
kf_start b
if wait_for 120 kafka_drained "$G" "$T" "$tmp"; then
	pass "two members (3 file workers each) drained the first $N records in $WAITED_MS ms"
else
	fail "the first $N records not drained in 120 s: $(tr '\n' ' ' < "$tmp/committed")"
fi
wait_for 60 both_stable || fail "the two members are not stable"
gens > "$tmp/gens"
producer_start

# --- 1. a partition leader that is not the coordinator
coord=$(coordinator)
leaders > "$tmp/leaders.1"
victim=$(awk -v c="$coord" '$2 != c {print $2}' "$tmp/leaders.1" | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
led=$(awk -v v="$victim" '$2 == v {print $1}' "$tmp/leaders.1" | tr '\n' ' ')
echo "coordinator: node $coord; killing node $victim, leader of partitions $led"
with_backlog leader
oracle committed "$G" "$T" > "$tmp/before.1"
la=$(nlines a) lb=$(nlines b)
kafka_kill_broker "$victim"
t_kill=$(now_ms)
if wait_for 60 dead_in_status a "$victim" && wait_for 30 dead_in_status b "$victim"; then
	pass "leader down: a's status: $(show_node "$tmp/a.st.json" "$victim"); b's: $(show_node "$tmp/b.st.json" "$victim")"
else
	fail "leader down: status $(cat "$tmp/a.st.json")"
fi
window_close leader
# the partitions it led: commits go past the offsets at the kill, so
# kforkd fetched them from their new leaders (the old one is dead)
moved() {
	oracle committed "$G" "$T" > "$tmp/committed" 2>/dev/null &&
		awk -v led=" $led" 'NR == FNR {b[$1] = $2; next} index(led, " " $1 " ") && $2 <= b[$1] {bad = 1} END {exit bad}' \
			"$tmp/before.1" "$tmp/committed"
}
if wait_for 120 moved; then
	leaders > "$tmp/leaders.2"
	pass "kforkd followed the new leaders of partitions $led: commits past the kill $(($(now_ms) - t_kill)) ms after it (oracle); leaders now $(awk -v led=" $led" 'index(led, " " $1 " ") {printf "%s:%s ", $1, $2}' "$tmp/leaders.2")"
else
	fail "the partitions of node $victim did not move on: $(tr '\n' ' ' < "$tmp/committed")"
fi
echo "kforkd's log lines:"
logs_since "$la" "$lb" "node $victim|broker $victim|/$victim|leader|NOT_LEADER|rejoin|lost" 12
alive || fail "a kforkd exited after the leader kill"
window_open leader-back
kafka_restart_broker "$victim"
wait_for 120 in_sync || fail "node $victim not back in sync within 120 s"
window_close leader-back

# --- 2. the group coordinator
coord=$(coordinator)
echo "killing the coordinator, node $coord (leader of partitions $(leaders | awk -v c="$coord" '$2 == c {printf "%s ", $1}'))"
with_backlog coord
la=$(nlines a) lb=$(nlines b)
kafka_kill_broker "$coord"
t_kill=$(now_ms)
if wait_for 30 dead_in_status a "$coord" && wait_for 30 dead_in_status b "$coord"; then
	pass "coordinator down: a's status: $(show_node "$tmp/a.st.json" "$coord"); b's: $(show_node "$tmp/b.st.json" "$coord")"
else
	fail "coordinator down: status $(cat "$tmp/a.st.json")"
fi
newcoord() {
	local c
	c=$(coordinator) && [ -n "$c" ] && [ "$c" != "$coord" ] && echo "$c" > "$tmp/newcoord"
}
found() {
	tail -n +"$la" "$tmp/a.log" | grep -q "coordinator is node $(cat "$tmp/newcoord")" &&
		tail -n +"$lb" "$tmp/b.log" | grep -q "coordinator is node $(cat "$tmp/newcoord")"
}
# found_after NAME LINE: ms from the kill to NAME's log line naming it
found_after() {
	local ts
	ts=$(tail -n +"$2" "$tmp/$1.log" | grep "coordinator is node $(cat "$tmp/newcoord")" | head -n 1 | cut -d' ' -f1)
	echo $(($(date -d "$ts" +%s%3N) - t_kill))
}
if wait_for 90 newcoord && wait_for 60 found; then
	pass "both members found the new coordinator, node $(cat "$tmp/newcoord") (as Kafka's tool names it): a $(found_after a "$la") ms, b $(found_after b "$lb") ms after the kill (their logs)"
else
	fail "coordinator: Kafka names $(cat "$tmp/newcoord" 2>/dev/null), kforkd: $(logs_since "$la" "$lb" coordinator)"
fi
window_close coord
echo "kforkd's log lines:"
logs_since "$la" "$lb" "coordinator|rejoin|lost|heartbeat|assigned|node $coord|broker $coord" 30
alive || fail "a kforkd exited after the coordinator kill"
window_open coord-back
kafka_restart_broker "$coord"
wait_for 120 in_sync || fail "node $coord not back in sync within 120 s"
window_close coord-back
check_all "leader and coordinator killed"

# --- 3. rolling restart
producer_start
la=$(nlines a) lb=$(nlines b)
for i in 1 2 3; do
	window_open "roll$i"
	kafka_restart_broker "$i"
	wait_for 120 in_sync || fail "rolling: node $i not back in sync within 120 s"
	window_close "roll$i"
	alive || fail "a kforkd exited in the rolling restart (node $i)"
done
pass "rolling restart of nodes 1, 2, 3 during the drain, each back in sync before the next"
echo "kforkd's log lines:"
logs_since "$la" "$lb" "NOT_|coordinator|rejoin|lost|left|Fetch to" 20
check_all "rolling restart"

echo "rebalances: a $(st_get a 'd["counters"]["rebalances"]'), b $(st_get b 'd["counters"]["rebalances"]')"
kafka_kforkd_stop a
kafka_kforkd_stop b
echo "time: $((($(now_ms) - t_start) / 1000)) s"
summary
