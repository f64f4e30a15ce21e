#!/usr/bin/env bash
# Mixed groups on real Apache Kafka ($KAFKA_VERSION, default 4.4.0): kforkd
# shares one classic consumer group with Kafka's Java KafkaConsumer (the
# oracle's consume), confluent-kafka and kafka-python (pinned, from PyPI,
# in a venv: tests/kafka/requirements.txt, pyenv.sh; peer.py), first with
# the range assignor, then with roundrobin.  For each, 500,000 records
# (MIXED_N) arrive in five parts while the members come and go:
#
#   kforkd k1 | + confluent | + kafka-python | + Java (leaves after 40,000)
#   | + kforkd k2 | confluent leaves, a second Java joins (leaves after
#   30,000) | kafka-python leaves | drained by what is left
#
# Checks: the broker's own description of the group lists every kind of
# member at once; every member got records; every record was processed
# (the members' outputs: kforkd's file handler, the peers' and Java's
# "PARTITION OFFSET" files), and each is what the oracle wrote (the peers
# and Java check the contents); the group's committed offsets equal the
# end offsets (read by the oracle); duplicates are counted and printed,
# and bounded: a record is processed twice only at a handover, when its
# partition moved before its commit, so they may not exceed 500 (one batch
# of a peer) per partition handover.
#
# Exit 77 when PyPI cannot be reached for the venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/lib.sh"
. "$here/../lib/kforkd.sh"
N=${MIXED_N:-500000}
P=12
rc=0
PY=$(BUILDDIR=$BUILDDIR "$here/pyenv.sh") || rc=$?
case $rc in
0) ;;
2) echo "SKIP: PyPI cannot be reached for confluent-kafka and kafka-python"; exit 77 ;;
*) echo "pyenv.sh failed" >&2; exit 99 ;;
esac

# Each assignor A in $tmp/A, KF_DIR of its kforkd members
# (kafka_kforkd_conf, tests/lib/kforkd.sh): $tmp/A/k1.conf, k1.log, k1.sock,
# out-k1; a peer's or Java member's files in $tmp/A/NAME/ (those processes
# are kafka_bg clients).
kf_tmpdir mixed KF_KAFKA_KEEP failed
tmp=$KF_DIR
kafka_start "${KAFKA_VERSION:-4.4.0}"
V=$KAFKA_VERSION
oracle() { kafka_oracle "$@"; }
"$PY" -c 'import confluent_kafka, kafka; print("peers: confluent-kafka", confluent_kafka.version()[0], "(librdkafka", confluent_kafka.libversion()[0] + "), kafka-python", kafka.__version__)'

declare -A PID=()
# kf NAME: a kforkd member (2 file workers) in $G on $TOPIC with $A
kf() {
	KF_CLIENT_ID=kforkd-$1 kafka_kforkd_conf "$1" "$G" "$TOPIC" 2 "assignor = \"$A\";"
	kf_start "$1"
}
# peer NAME confluent|kafka-python
peer() {
	mkdir -p "$tmp/$A/$1"
	"$PY" "$here/peer.py" "$2" --bootstrap "$KAFKA_BOOTSTRAP" --group "$G" --topic "$TOPIC" \
		--assignor "$A" --client-id "$1" --out "$tmp/$A/$1/offsets" > "$tmp/$A/$1/stats" 2> "$tmp/$A/$1/log" &
	PID[$1]=$!
	kafka_bg $!
}
# java_member NAME MAX: Kafka's KafkaConsumer; leaves after MAX records
java_member() {
	mkdir -p "$tmp/$A/$1"
	oracle consume "$TOPIC" --group "$G" --assignor "$A" --commit --max "$2" --idle-ms 20000 \
		--check seq --format offsets --client-id "$1" --out "$tmp/$A/$1/offsets" \
		> "$tmp/$A/$1/stats" 2> "$tmp/$A/$1/log" &
	PID[$1]=$!
	kafka_bg $!
}
# leave NAME: SIGTERM (kforkd, the peers), wait for its exit 0
leave() {
	if [ -n "${KPID[$1]:-}" ]; then
		kafka_kforkd_stop "$1"
		return
	fi
	kill -TERM "${PID[$1]}" 2>/dev/null || true
	reap "$1"
}
# reap NAME: wait for a member's exit 0 (Java leaves by itself)
reap() {
	local rc=0
	wait "${PID[$1]}" || rc=$?
	[ $rc = 0 ] || fail "$A: $1 exited $rc: $(tail -n 3 "$tmp/$A/$1/log")"
}
part() { oracle produce "$TOPIC" --count $((N / 5)) --codec lz4 --keys seq --batch 100 > /dev/null; }
# the client ids of the group's members, as the broker describes them
members() { oracle group "$G" 2>/dev/null | awk '$1 == "member" { print $6 }' | sort | paste -sd' '; }
all_kinds() {
	SEEN_MEMBERS=$(members)
	[[ " $SEEN_MEMBERS " == *" kforkd-k1 "* && " $SEEN_MEMBERS " == *" confluent "* &&
		" $SEEN_MEMBERS " == *" kpy "* && " $SEEN_MEMBERS " == *" java1 "* ]]
}
# joined CLIENTID: wait until it has partitions, so that the records
# produced next are shared with it (the others drain a part in seconds)
joined() { wait_for 90 kafka_assigned "$G" "$1" || fail "$A: $1 got no partitions within 90 s"; }
drained() { kafka_drained "$G" "$TOPIC" "$tmp/$A"; }

phase() {
	A=$1 TOPIC=mixed-$1 G=mixed-$1-g
	local t0 m res
	KF_DIR=$tmp/$A
	mkdir -p "$KF_DIR"
	oracle create-topic "$TOPIC" --partitions $P --replication 1 > /dev/null
	t0=$(now_ms)
	part
	kf k1
	peer confluent confluent
	part
	peer kpy kafka-python
	java_member java1 40000
	SEEN_MEMBERS=
	if wait_for 90 all_kinds; then
		pass "$A: the broker lists kforkd, confluent-kafka, kafka-python and Java in $G at once: $SEEN_MEMBERS"
	else
		fail "$A: the group never held every kind at once; last seen: $SEEN_MEMBERS"
	fi
	part
	kf k2
	joined kforkd-k2
	part
	leave confluent
	java_member java2 30000
	joined java2
	part
	leave kpy
	reap java1
	reap java2
	if wait_for 300 drained; then
		pass "$A: $N records drained by the group in $(($(now_ms) - t0)) ms: committed = end offsets (Kafka's client)"
	else
		fail "$A: not drained: committed $(tr '\n' ' ' < "$tmp/$A/committed"), ends $(tr '\n' ' ' < "$tmp/$A/ends")"
	fi
	leave k1
	leave k2
	# every member's records, "MEMBER PARTITION OFFSET"
	for m in k1 k2; do
		cat "$tmp/$A/out-$m"/worker-*.log | awk -v m="$m" '{ print m, $2, $3 }'
	done > "$tmp/$A/all"
	for m in confluent kpy java1 java2; do
		awk -v m="$m" '{ print m, $1, $2 }' "$tmp/$A/$m/offsets"
	done >> "$tmp/$A/all"
	if res=$(python3 - "$tmp/$A/all" "$tmp/$A/ends" <<'PY'
import collections, sys
ends = {int(p): int(o) for p, o in (l.split() for l in open(sys.argv[2]))}
count = collections.Counter()
owners = collections.defaultdict(set)
per = collections.Counter()
for line in open(sys.argv[1]):
    m, p, o = line.split()
    p, o = int(p), int(o)
    count[(p, o)] += 1
    owners[p].add(m)
    per[m] += 1
missing = sum(1 for p, e in ends.items() for o in range(e) if (p, o) not in count)
dups = sum(c - 1 for c in count.values() if c > 1)
handovers = sum(len(s) - 1 for s in owners.values())
print("%s; %d records, %d missing, %d duplicates, %d partition handovers"
      % (" ".join("%s=%d" % kv for kv in sorted(per.items())), sum(ends.values()), missing, dups, handovers))
ok = missing == 0 and dups <= 500 * max(handovers, 1) and len(per) == 6 and min(per.values()) > 0
sys.exit(0 if ok else 1)
PY
	); then
		pass "$A: every record processed: $res"
	else
		fail "$A: $res"
	fi
	for m in confluent kpy; do
		echo "$A: $m: $(cat "$tmp/$A/$m/stats")"
		grep -q '"bad_records": 0' "$tmp/$A/$m/stats" || fail "$A: $m got records that are not the oracle's"
	done
	for m in java1 java2; do echo "$A: $m: $(cat "$tmp/$A/$m/stats")"; done
	for m in k1 k2; do
		echo "$A: $m: $(grep -c 'SyncGroup: [0-9]* partitions' "$tmp/$A/$m.log") generations joined"
	done
}

phase range
phase roundrobin
if [ -n "${KF_KAFKA_RESULTS:-}" ]; then
	echo "$V $([ "$FAILED" -eq 0 ] && echo PASS || echo FAIL) mixed groups: kforkd, Java, confluent-kafka, kafka-python; range and roundrobin; $N records each" >> "$KF_KAFKA_RESULTS"
fi
summary
