#!/usr/bin/env bash
# kforkd end to end against devbroker: 3 brokers, a topic of 8 partitions
# with N records (lz4, 100 bytes, seq keys); kforkd with 4 file-handler
# workers drains it until every partition's committed offset is its high
# watermark; kforkctl status must show it (state stable, lag 0 everywhere,
# every record done); kforkctl stop must exit it with 0, and the workers'
# files must hold every (partition, offset) below the watermark at least
# once.
# Also: kforkd -t on a good config (exit 0) and a bad one (FILE:LINE, exit 1).
# KFORKD_DRAIN_N overrides N (default 200000).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/../lib/kforkd.sh"
N=${KFORKD_DRAIN_N:-200000}
P=8
TOPIC=drain
GROUP=kforkd-drain

kf_tmpdir drain KF_DRAIN_KEEP
tmp=$KF_DIR

# --- kforkd -t
cat > "$tmp/bad.conf" <<EOF
kafka = {
  bootstrap = "127.0.0.1:1";
  group = "g";
  topics = [ "t" ];
  assignor = "sticky-nonsense";
};
EOF
set +e
"$KFORKD" -t -c "$tmp/bad.conf" > "$tmp/bad.out" 2> "$tmp/bad.err"
rc=$?
set -e
if [ $rc -eq 1 ] && grep -q "^$tmp/bad.conf:5: " "$tmp/bad.err"; then
	pass "kforkd -t on a bad config: exit 1, $(cat "$tmp/bad.err")"
else
	fail "kforkd -t on a bad config: exit $rc, stderr: $(cat "$tmp/bad.err")"
fi

# --- nothing listening at the bootstrap address: the status says so
DEAD=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$tmp/dead.conf" <<EOF
kafka = { bootstrap = "127.0.0.1:$DEAD"; group = "g"; topics = [ "t" ]; };
workers = { count = 1; handler = { type = "noop"; }; };
control = { socket = "$tmp/dead.sock"; };
EOF
kf_start dead
dead_status() {
	kf_status dead > "$tmp/dead.json" &&
	python3 - "$tmp/dead.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["brokers"]
ok = (len(b) == 1 and b[0]["node"] == -1 and b[0]["state"] != "ready"
      and "refused" in (b[0]["last_error"] or "") and b[0]["last_error_at"])
print("%s, last_error: %s" % (b[0]["state"], b[0]["last_error"]) if b else "no brokers")
sys.exit(0 if ok else 1)
PY
}
if wait_for 15 dead_status > "$tmp/dead.out"; then
	pass "kforkctl status with the broker unreachable: bootstrap address $(tail -n 1 "$tmp/dead.out")"
else
	fail "status with the broker unreachable: $(cat "$tmp/dead.json")"
fi
kf_kill dead TERM

db_start 3
mkdir "$tmp/out"
MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KF_CONTROL="metrics_listen = \"127.0.0.1:$MPORT\";" \
	kf_conf kforkd "$GROUP" "$TOPIC" 4 "{ type = \"file\"; dir = \"$tmp/out\"; }"
if "$KFORKD" -t -c "$tmp/kforkd.conf" > "$tmp/good.out" 2>&1; then
	pass "kforkd -t on a good config: exit 0"
else
	fail "kforkd -t on a good config: $(cat "$tmp/good.out")"
fi

db topic "$TOPIC" $P
t0=$(date +%s%N)
db produce "$TOPIC" "$N" codec=lz4 size=100 keys=seq
echo "produced $N records in $((($(date +%s%N) - t0) / 1000000)) ms"
watermarks "$TOPIC" $P
hwm=("${HW[@]}")
want="ok ${hwm[*]}"
echo "high watermarks: ${hwm[*]} (total $TOTAL)"
[ "$TOTAL" -eq "$N" ] || fail "watermarks add up to $TOTAL, not $N"

t0=$(date +%s%N)
kf_start kforkd
parts=$(seq -s, 0 $((P - 1)))
end=$((t0 / 1000000 + 120000))
drained=false
ta=
while (($(date +%s%N) / 1000000 < end)); do
	kf_alive kforkd || break
	[ -n "$ta" ] || ! grep -q "partitions assigned" "$tmp/kforkd.log" || ta=$(date +%s%N)
	db committed "$GROUP" "$TOPIC" "$parts"
	if [ "$DB_REPLY" = "$want" ]; then
		drained=true
		break
	fi
	sleep 0.2
done
ms=$((($(date +%s%N) - t0) / 1000000))
if $drained; then
	pass "kforkd drained $N records from $P partitions in $ms ms, $((($(date +%s%N) - ${ta:-$t0}) / 1000000)) ms after the assignment (committed = watermarks)"
else
	fail "kforkd did not drain in 120 s: committed $DB_REPLY, want $want"
fi

# The status JSON, checked field by field against what we know.  The broker
# applies a commit before kforkd reads its answer: give the answer a moment.
check_status() {
kf_status kforkd > "$tmp/status.json" || return 1
python3 - "$tmp/status.json" "$GROUP" "$TOPIC" "$N" "${hwm[*]}" "$tmp/kforkd.conf" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
group, topic, n, hwm, path = sys.argv[2], sys.argv[3], int(sys.argv[4]), \
    [int(x) for x in sys.argv[5].split()], sys.argv[6]
bad = []
def want(what, got, exp):
    if got != exp:
        bad.append("%s: %r, want %r" % (what, got, exp))
want("state", d["state"], "stable")
want("group", d["group"], group)
want("member_id set", bool(d["member_id"]), True)
want("generation >= 1", d["generation"] >= 1, True)
a = sorted(d["assignment"], key=lambda x: x["partition"])
want("partitions", [x["partition"] for x in a], list(range(len(hwm))))
for x in a:
    p = x["partition"]
    for k in ("position", "committed", "high_watermark"):
        want("p%d %s" % (p, k), x[k], hwm[p])
    want("p%d lag" % p, x["lag"], 0)
    want("p%d topic" % p, x["topic"], topic)
    want("p%d paused" % p, (x["paused"], x["paused_reason"]), (False, None))
    want("p%d worker in range" % p, 0 <= x["worker"] < 4, True)
w = d["workers"]
want("workers", [x["id"] for x in w], [0, 1, 2, 3])
want("workers running", {x["state"] for x in w}, {"running"})
want("processed", sum(x["processed"] for x in w), n)
want("inflight", sum(x["inflight"] for x in w), 0)
c = d["counters"]
want("records_done", c["records_done"], n)
want("records_dispatched", c["records_dispatched"], n)
want("rebalances", c["rebalances"], 1)
want("commits > 0", c["commits"] > 0, True)
want("commit_failures", c["commit_failures"], 0)
want("heartbeat gap", 0 < c["heartbeat_max_gap_ms"] < 1500 or c["heartbeats"] < 2, True)
want("config path", d["config"]["path"], path)
want("no reload error", d["config"]["last_reload_error"], None)
b = d["brokers"]
want("brokers", sorted(x["node"] for x in b), [1, 2, 3])
for x in b:
    if x["state"] != "unused":
        want("broker %d state" % x["node"], x["state"], "ready")
        want("broker %d up_since" % x["node"], bool(x["up_since"]), True)
        # devbroker (librdkafka 2.0.2's mock) speaks Fetch v11, OffsetCommit v7
        want("broker %d Fetch version" % x["node"], x["api_versions"].get("Fetch"), 11)
        want("broker %d OffsetCommit version" % x["node"],
             x["api_versions"].get("OffsetCommit"), 7)
want("some broker ready", any(x["state"] == "ready" for x in b), True)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}
for _ in $(seq 10); do check_status > "$tmp/status.bad" && break; sleep 0.3; done
if check_status; then
	pass "kforkctl status: stable, $P partitions at lag 0, $N records done by 4 workers"
else
	fail "kforkctl status disagrees (above); JSON: $(cat "$tmp/status.json")"
fi
# The same numbers as Prometheus text, over HTTP and from kforkctl metrics.
if python3 - "$MPORT" "$N" "$P" <<'PY'
import sys, urllib.request, urllib.error
port, n, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=5).read().decode()
samples = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
           if l and not l.startswith("#")}
bad = []
def want(k, v):
    if samples.get(k) != v:
        bad.append("%s = %r, want %r" % (k, samples.get(k), v))
want("kfork_records_done_total", n)
want('kfork_state{state="stable"}', 1)
want('kfork_state{state="rebalancing"}', 0)
want("kfork_rebalances_total", 1)
up = [k for k in samples if k.startswith("kfork_broker_up{")]
if len(up) != 3 or not any(samples[k] == 1 for k in up):
    bad.append("broker_up: %r" % {k: samples[k] for k in up})
lags = [k for k in samples if k.startswith("kfork_partition_lag{")]
if len(lags) != parts or any(samples[k] != 0 for k in lags):
    bad.append("partition lags: %r" % {k: samples[k] for k in lags})
done = sum(v for k, v in samples.items() if k.startswith("kfork_worker_records_done_total{"))
if done != n:
    bad.append("worker done sum %r" % done)
try:
    urllib.request.urlopen("http://127.0.0.1:%s/nope" % port, timeout=5)
    bad.append("/nope answered 200")
except urllib.error.HTTPError as e:
    if e.code != 404:
        bad.append("/nope: %d" % e.code)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
then
	pass "GET /metrics: records done, state, lag 0 on $P partitions; 404 elsewhere"
else
	fail "GET /metrics disagrees (above)"
fi
kf_ctl kforkd metrics > "$tmp/metrics.txt" || fail "kforkctl metrics: exit $?"
grep -qx "kfork_records_done_total $N" "$tmp/metrics.txt" &&
	pass "kforkctl metrics: kfork_records_done_total $N" ||
	fail "kforkctl metrics: $(grep records_done_total "$tmp/metrics.txt")"

if [ "$(stat -c %a "$tmp/kforkd.sock")" = 600 ]; then
	pass "control socket mode 0600"
else
	fail "control socket mode $(stat -c %a "$tmp/kforkd.sock")"
fi

kf_stop kforkd || true
[ "$KF_CTL_RC" -eq 0 ] || fail "kforkctl stop: exit $KF_CTL_RC: $KF_CTL_OUT"
if [ "$KF_EXIT" -eq 0 ]; then
	pass "kforkd exits 0 after kforkctl stop"
else
	fail "kforkd exit status $KF_EXIT after kforkctl stop"
fi
if [ ! -e "$tmp/kforkd.sock" ]; then
	pass "control socket removed at exit"
else
	fail "control socket left behind"
fi
grep -q "left the group" "$tmp/kforkd.log" && pass "kforkd left the group" ||
	fail "no LeaveGroup in the log"

# Every (partition, offset) below the watermark at least once.
HW=("${hwm[@]}")
read -r missing _ lines <<< "$(out_check "$TOPIC" "$tmp"/out/worker-*.log)"
if [ "$missing" = 0 ]; then
	pass "file handler output: every offset below the watermarks present ($lines lines)"
else
	fail "file handler output: $missing offsets missing ($lines lines)"
fi
# --- Phase 2: restart from the committed offsets, then a second member
# joins while records are in flight: the first one's partitions are
# revoked (drained, then committed) and split between the two.  devbroker
# was seen answering the revocation's OffsetCommit with
# REBALANCE_IN_PROGRESS (a Kafka broker accepts the current generation's
# commit while preparing a rebalance), and then the revoked records are
# delivered again: at-least-once is checked, not the absence of duplicates.
N2=$((N / 2))
for m in a b; do  # the same config, writing to $tmp/out-NAME, no metrics
	mkdir -p "$tmp/out-$m"
	kf_conf $m "$GROUP" "$TOPIC" 4 "{ type = \"file\"; dir = \"$tmp/out-$m\"; }"
done
kf_start a
for _ in $(seq 200); do
	grep -q "partitions assigned" "$tmp/a.log" && break
	sleep 0.1
done
db produce "$TOPIC" "$N2" codec=lz4 size=100 keys=seq
kf_start b
watermarks "$TOPIC" $P
hwm2=("${HW[@]}")
want2="ok ${hwm2[*]}"
t0=$(date +%s%N)
end=$((t0 / 1000000 + 120000))
drained=false
while (($(date +%s%N) / 1000000 < end)); do
	db committed "$GROUP" "$TOPIC" "$parts"
	if [ "$DB_REPLY" = "$want2" ] && grep -q "partitions assigned" "$tmp/b.log"; then
		drained=true
		break
	fi
	sleep 0.2
done
if $drained; then
	pass "two members drained $N2 more records with a rebalance ($(grep -c "revoked" "$tmp/a.log") revocations on the first)"
else
	fail "two members did not drain: committed $DB_REPLY, want $want2"
fi
for who in a b; do
	kf_kill $who TERM
	[ "$KF_EXIT" -eq 0 ] && pass "member $who exits 0 after SIGTERM" || fail "member $who exit status $KF_EXIT"
done
missing=$(cat "$tmp"/out-a/worker-*.log "$tmp"/out-b/worker-*.log 2>/dev/null | awk -v t="$TOPIC" \
	-v lo="${hwm[*]}" -v hw="${hwm2[*]}" '
	BEGIN { n = split(hw, h, " "); split(lo, l, " ") }
	$1 == t { if (($2 " " $3) in seen) dup++; seen[$2 " " $3] = 1; if ($3 < l[$2 + 1]) old++ }
	END {
		m = 0
		for (p = 0; p < n; p++)
			for (o = l[p + 1]; o < h[p + 1]; o++)
				if (!((p " " o) in seen)) m++
		print m + 0, old + 0, dup + 0
	}')
dups=${missing##* }
missing=${missing% *}
if [ "$missing" = "0 0" ]; then
	pass "phase 2 output: every new offset present, nothing below the old commit ($dups redelivered)"
else
	fail "phase 2 output: missing/redelivered-old = $missing"
fi

if [ "$FAILED" -ne 0 ]; then
	for f in a b; do echo "--- member $f log (tail)"; tail -20 "$tmp/$f.log" 2>/dev/null || true; done
	echo "--- kforkd log (tail)"
	tail -40 "$tmp/kforkd.log"
fi
summary
