#!/usr/bin/env bash
# kforkd against real Apache Kafka ($KAFKA_VERSION, default 4.4.0), started
# by tests/kafka/lib.sh on loopback.  Kafka's own Java client (the oracle,
# tests/kafka/oracle) creates the topics, produces the records and reads
# the committed offsets back: kfork's code is never the judge.
#
#   1. codecs     kf_probe reads topics written with every codec, keys and
#                 headers, and checks every record.
#   2. drain      kforkd, 4 file workers, drains N records (default 200,000)
#                 from 8 partitions: every record once, in order per
#                 partition; committed offsets (oracle) = end offsets.
#                 Then records with a null key and a null value.
#   3. members    a second kforkd joins while records flow, then leaves;
#                 the first restarts at exactly the committed offsets.
#   4. recreate   the topic is deleted and created again while kforkd runs
#                 (brokers with topic ids, 2.8+): a warning, its old
#                 offsets dropped, the new records consumed from offset 0.
#   5. throttle   a consumer_byte_rate quota on kforkd's client id: kforkd
#                 slows down, reports the throttle time (status, metrics),
#                 logs no error, sends no request storm.
#   6. broker down  the broker is killed: kforkctl status shows it down
#                 with the last error and when, and kforkd does not spin.
#
# KAFKA_DRAIN_N overrides N.  With KF_KAFKA_RESULTS=FILE, one line goes to
# FILE: "VERSION PASS|FAIL API=version ..." (the README's table).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/lib.sh"
. "$here/../lib/kforkd.sh"
PROBE=${PROBE:-$BUILDDIR/tests/integration/kf_probe}
for b in "$KFORKCTL" "$PROBE"; do
	[ -x "$b" ] || { echo "no $b" >&2; exit 99; }
done
N=${KAFKA_DRAIN_N:-200000}
P=8

# kforkd member M: $tmp/M.conf, M.log, M.sock and its output $tmp/out-M
# (kafka_kforkd_conf, tests/lib/kforkd.sh)
kf_tmpdir kafka KF_KAFKA_KEEP
tmp=$KF_DIR

kafka_start "${KAFKA_VERSION:-4.4.0}"
V=$KAFKA_VERSION
oracle() { kafka_oracle "$@"; }

drained() { kafka_drained "$1" "$2" "$tmp"; }

# --- 1. every codec through kf_probe
probe_args=()
for codec in none gzip snappy lz4 zstd; do
	oracle create-topic "codec-$codec" --partitions 3 --replication 1 > /dev/null
	oracle produce "codec-$codec" --count 3000 --codec "$codec" --keys seq --batch 50 > /dev/null
	probe_args+=(-t "codec-$codec:seq")
done
oracle create-topic codec-nokeys --partitions 2 --replication 1 > /dev/null
oracle produce codec-nokeys --count 1000 --codec zstd --keys none > /dev/null
probe_args+=(-t codec-nokeys:none)
if "$PROBE" -b "$KAFKA_BOOTSTRAP" -w 60 "${probe_args[@]}" > "$tmp/probe.log" 2>&1; then
	pass "kf_probe: every codec (none gzip snappy lz4 zstd), keys and headers checked: $(grep -c '^topic' "$tmp/probe.log") topics"
else
	fail "kf_probe: $(grep -E '^topic|FAILED|error' "$tmp/probe.log" | head -10)"
fi

# --- 2. kforkd drains N records
oracle create-topic drain --partitions $P --replication 1 > /dev/null
t0=$(now_ms)
oracle produce drain --count "$N" --codec lz4 --keys seq --batch 200 > /dev/null
echo "oracle produced $N records in $(($(now_ms) - t0)) ms"
kafka_kforkd_conf a drain-g drain 4
t0=$(now_ms)
kf_start a
if wait_for 300 drained drain-g drain; then
	pass "kforkd drained $N records from $P partitions in $WAITED_MS ms (committed = end offsets, by Kafka's client)"
else
	fail "kforkd did not drain in 300 s: committed $(tr '\n' ' ' < "$tmp/committed"), ends $(tr '\n' ' ' < "$tmp/ends")"
fi
if out=$(python3 "$here/check_output.py" --topic drain --ends "$tmp/ends" --once --ordered "$tmp/out-a"); then
	pass "drain output: $out"
else
	fail "drain output: $out"
fi
kf_status a > "$tmp/a.status.json"
versions=$(python3 - "$tmp/a.status.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
b = [x for x in d["brokers"] if x["state"] == "ready"]
print(" ".join("%s=%s" % kv for kv in sorted(b[0]["api_versions"].items())) if b else "")
PY
)
echo "negotiated with Kafka $V: $versions"
# The versions kforkd sent, from its own log lines at info.
grep -E "ApiVersions v[0-9]+:" "$tmp/a.log" | head -n 1 || true

# Null keys and values (and the header) reach the workers as null.
oracle create-topic nulls --partitions 1 --replication 1 > /dev/null
oracle produce-null nulls --partition 0 --count 200 > /dev/null
kafka_kforkd_conf n nulls-g nulls 1
kf_start n
if wait_for 60 drained nulls-g nulls &&
	[ "$(awk '$1 == "nulls" && $4 == "-" && $5 == "-" {n++} END {print n + 0}' "$tmp/out-n"/worker-*.log)" -eq 200 ]; then
	pass "200 records with null key and null value handed to the worker as null, committed"
else
	fail "null records: $(head -n 3 "$tmp/out-n"/worker-*.log)"
fi
kafka_kforkd_stop n

# --- 3. a second member joins and leaves; a restart resumes at the commit
kafka_kforkd_conf b drain-g drain 2
kf_start b
oracle produce drain --count 20000 --keys seq > /dev/null
if wait_for 60 grep -q "partitions assigned" "$tmp/b.log" && wait_for 120 drained drain-g drain; then
	pass "two members drained 20000 more records (b got $(grep -o 'generation [0-9]*: [0-9]* partitions assigned' "$tmp/b.log" | tail -n 1))"
else
	fail "two members did not drain: $(tr '\n' ' ' < "$tmp/committed") vs $(tr '\n' ' ' < "$tmp/ends")"
fi
kafka_kforkd_stop b
if grep -q "left the group" "$tmp/b.log"; then pass "b left the group"; else fail "b: no LeaveGroup"; fi
oracle produce drain --count 20000 --keys seq > /dev/null
if wait_for 120 drained drain-g drain; then
	pass "a alone drained 20000 more after b left"
else
	fail "a did not take b's partitions back"
fi
kafka_kforkd_stop a
oracle committed drain-g drain > "$tmp/before-restart"
oracle produce drain --count 5000 --keys seq > /dev/null
mv "$tmp/a.log" "$tmp/a.log.1"
kf_start a
wait_for 60 drained drain-g drain || true
resumed=$(grep -o 'drain/[0-9]*: starting at committed offset [0-9]*' "$tmp/a.log" |
	sed 's|drain/\([0-9]*\): starting at committed offset \([0-9]*\)|\1 \2|' | sort -n)
if [ "$resumed" = "$(sort -n "$tmp/before-restart")" ]; then
	pass "restart resumed every partition at the offset Kafka's client reads as committed"
else
	fail "restart offsets: $(echo "$resumed" | tr '\n' ' ') vs committed $(tr '\n' ' ' < "$tmp/before-restart")"
fi
if out=$(python3 "$here/check_output.py" --topic drain --ends "$tmp/ends" "$tmp/out-a" "$tmp/out-b"); then
	pass "every record of the three phases processed: $out"
else
	fail "three phases: $out"
fi

# --- 4. the topic deleted and created again under the same name
if kafka_ver_ge "$V" 2.8.0; then
	oracle create-topic phoenix --partitions 2 --replication 1 > /dev/null
	oracle produce phoenix --count 500 --keys seq > /dev/null
	kafka_kforkd_conf r phoenix-g phoenix 1 "metadata_max_age_ms = 3000;"
	kf_start r
	wait_for 60 drained phoenix-g phoenix || fail "phoenix: first drain"
	oracle delete-topic phoenix > /dev/null
	sleep 2
	oracle create-topic phoenix --partitions 2 --replication 1 > /dev/null
	oracle produce phoenix --count 100 --keys seq > /dev/null
	if wait_for 60 grep -q "topic phoenix was deleted and created again" "$tmp/r.log" &&
		wait_for 60 drained phoenix-g phoenix; then
		pass "topic deleted and created again: $(grep -o 'topic phoenix was deleted.*' "$tmp/r.log" | head -n 1); new records committed"
	else
		fail "re-created topic: $(grep -E 'phoenix|warn|error' "$tmp/r.log" | tail -n 8)"
	fi
	# 500 records of the old topic, then the new one's 100 from offset 0
	seen=$(cat "$tmp/out-r"/worker-*.log | awk '$1 == "phoenix"' | wc -l)
	starts=$(grep -c "phoenix/[01]: starting at earliest offset 0" "$tmp/r.log" || true)
	if [ "$starts" -eq 4 ] && [ "$seen" -ge 600 ]; then
		pass "the new topic's partitions started at offset 0 ($seen records of both topics seen)"
	else
		fail "the new topic's partitions did not start over: $(grep 'starting at' "$tmp/r.log" | tail -n 4)"
	fi
	kafka_kforkd_stop r
else
	echo "SKIP: topic deleted and created again (Kafka $V has no topic ids)"
fi

# --- 5. a broker quota throttles kforkd
oracle create-topic quota --partitions 2 --replication 1 > /dev/null
oracle produce quota --count 30000 --size 100 --keys seq > /dev/null
# quota RATE|--remove: on kforkd's client id; AdminClient's quota API from
# 2.6, Kafka's config tool through ZooKeeper before
quota() {
	if kafka_ver_ge "$V" 2.6.0; then
		if [ "$1" = --remove ]; then
			oracle quota --client-id kfork-q --remove
		else
			oracle quota --client-id kfork-q --consumer-byte-rate "$1"
		fi
	elif [ "$1" = --remove ]; then
		kafka_tool configs --zookeeper "$KAFKA_ZK_CONNECT" --alter --entity-type clients \
			--entity-name kfork-q --delete-config consumer_byte_rate
	else
		kafka_tool configs --zookeeper "$KAFKA_ZK_CONNECT" --alter --entity-type clients \
			--entity-name kfork-q --add-config "consumer_byte_rate=$1"
	fi
}
quota 300000 > /dev/null
sleep 2 # quotas reach the broker through its metadata (or ZooKeeper)
kafka_kforkd_conf q quota-g quota 1 "fetch_max_bytes = 65536; fetch_partition_max_bytes = 32768;"
t0=$(now_ms)
kf_start q
if wait_for 120 drained quota-g quota; then
	ms=$(($(now_ms) - t0))
	kf_status q > "$tmp/q.status.json"
	thr=$(python3 -c 'import json, sys; print(sum(b["throttled_ms"] for b in json.load(open(sys.argv[1]))["brokers"]))' "$tmp/q.status.json")
	metric=$(kf_ctl q metrics | awk '/^kfork_broker_throttle_seconds_total/ {s += $2} END {print s + 0}')
	reqs=$(kf_ctl q metrics | awk '/^kfork_fetch_requests_total/ {print $2}')
	errs=$(grep -cE ' (error|warn) ' "$tmp/q.log" || true)
	echo "quota drain: ${ms} ms, throttled ${thr} ms (metric ${metric} s), ${reqs:-?} Fetch requests, $errs warn/error lines"
	if [ "$thr" -gt 1000 ] && grep -q "throttled by the broker" "$tmp/q.log" && [ "$errs" -eq 0 ] &&
		[ "${reqs:-0}" -gt 0 ] && [ "${reqs:-0}" -lt $((ms / 20)) ]; then
		pass "throttled by a consumer_byte_rate quota: ${thr} ms throttle reported, no warning or error, ${reqs} Fetch requests in ${ms} ms"
	else
		fail "throttle: ${thr} ms, ${reqs:-?} requests in ${ms} ms, $errs warn/error lines: $(grep -E ' (error|warn) ' "$tmp/q.log" | head -n 3)"
	fi
else
	fail "quota: did not drain in 120 s"
fi
quota --remove > /dev/null || true
kafka_kforkd_stop q

# --- 6. the broker goes away: status says so, no reconnect storm
kafka_kforkd_conf d down-g drain 1
kf_start d
wait_for 60 grep -q "partitions assigned" "$tmp/d.log" || fail "d: no assignment"
kafka_stop
t0=$(now_ms)
down_status() {
	kf_status d > "$tmp/d.status.json" 2>/dev/null &&
		python3 - "$tmp/d.status.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["brokers"]
sys.exit(0 if b and all(x["state"] != "ready" and x["last_error"] for x in b
                        if x["state"] != "unused") else 1)
PY
}
if wait_for 30 down_status; then
	pass "broker down: status shows $(python3 -c 'import json, sys; b = json.load(open(sys.argv[1]))["brokers"][0]; print("node %d %s, last_error %r at %s" % (b["node"], b["state"], b["last_error"], b["last_error_at"]))' "$tmp/d.status.json")"
else
	fail "broker down: status $(cat "$tmp/d.status.json")"
fi
sleep 20
lines=$(awk -v t="$(date -u -d @$((t0 / 1000)) +%H:%M:%S)" 'substr($1, 12, 8) >= t' "$tmp/d.log" | wc -l)
if [ "$lines" -lt 120 ]; then
	pass "broker down for 20 s: $lines log lines, no reconnect storm"
else
	fail "broker down for 20 s: $lines log lines"
fi
kafka_kforkd_stop d

if [ -n "${KF_KAFKA_RESULTS:-}" ]; then
	echo "$V $([ "$FAILED" -eq 0 ] && echo PASS || echo FAIL) $versions" >> "$KF_KAFKA_RESULTS"
fi
summary
