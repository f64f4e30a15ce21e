#!/usr/bin/env bash
# kforkd end to end against devbroker: 3 brokers, a topic of 8 partitions
# with N records (lz4, 100 bytes, seq keys); kforkd with 4 file-handler
# workers drains it until every partition's committed offset is its high
# watermark, then SIGTERM must exit 0, and the workers' files must hold
# every (partition, offset) below the watermark at least once.
# Also: kforkd -t on a good config (exit 0) and a bad one (FILE:LINE, exit 1).
# KFORKD_DRAIN_N overrides N (default 200000).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
KFORKD=${KFORKD:-$BUILDDIR/supervisor/kforkd}
[ -x "$KFORKD" ] || { echo "no kforkd at $KFORKD" >&2; exit 99; }
N=${KFORKD_DRAIN_N:-200000}
P=8
TOPIC=drain
GROUP=kforkd-drain

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kf-drain.XXXXXX")
kpid=
cleanup() {
	if [ -n "$kpid" ]; then
		kill -KILL "$kpid" 2>/dev/null || true
		wait "$kpid" 2>/dev/null || true
	fi
	if [ -n "${KF_DRAIN_KEEP:-}" ]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
at_exit cleanup

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

db_start 3
mkdir "$tmp/out"
cat > "$tmp/kforkd.conf" <<EOF
kafka = {
  bootstrap = "$BOOTSTRAP";
  group = "$GROUP";
  topics = [ "$TOPIC" ];
  session_timeout_ms = 6000;
  heartbeat_interval_ms = 1000;
  rebalance_timeout_ms = 10000;
  commit_interval_ms = 500;
};
workers = {
  count = 4;
  dispatch = "partition";
  nice = 0;
  shutdown_timeout_ms = 10000;
  handler = { type = "file"; dir = "$tmp/out"; };
};
log = { level = "info"; };
EOF
if "$KFORKD" -t -c "$tmp/kforkd.conf" > "$tmp/good.out" 2>&1; then
	pass "kforkd -t on a good config: exit 0"
else
	fail "kforkd -t on a good config: $(cat "$tmp/good.out")"
fi

db topic "$TOPIC" $P
t0=$(date +%s%N)
db produce "$TOPIC" "$N" codec=lz4 size=100 keys=seq
echo "produced $N records in $((($(date +%s%N) - t0) / 1000000)) ms"
hwm=()
total=0
for p in $(seq 0 $((P - 1))); do
	db hwm "$TOPIC" "$p"
	read -r _ _ h <<< "$DB_REPLY"
	hwm+=("$h")
	total=$((total + h))
done
want="ok ${hwm[*]}"
echo "high watermarks: ${hwm[*]} (total $total)"
[ "$total" -eq "$N" ] || fail "watermarks add up to $total, not $N"

t0=$(date +%s%N)
"$KFORKD" -c "$tmp/kforkd.conf" > "$tmp/kforkd.log" 2>&1 &
kpid=$!
parts=$(seq -s, 0 $((P - 1)))
end=$((t0 / 1000000 + 120000))
drained=false
ta=
while (($(date +%s%N) / 1000000 < end)); do
	kill -0 "$kpid" 2>/dev/null || break
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

kill -TERM "$kpid" 2>/dev/null || true
set +e
wait "$kpid"
rc=$?
set -e
kpid=
if [ $rc -eq 0 ]; then
	pass "kforkd exits 0 after SIGTERM"
else
	fail "kforkd exit status $rc after SIGTERM"
fi
grep -q "left the group" "$tmp/kforkd.log" && pass "kforkd left the group" ||
	fail "no LeaveGroup in the log"

# Every (partition, offset) below the watermark at least once.
missing=$(cat "$tmp"/out/worker-*.log | awk -v t="$TOPIC" -v hw="${hwm[*]}" '
	BEGIN { n = split(hw, h, " ") }
	$1 == t { seen[$2 " " $3] = 1 }
	END {
		m = 0
		for (p = 0; p < n; p++)
			for (o = 0; o < h[p + 1]; o++)
				if (!((p " " o) in seen)) { if (m < 5) print "missing " p " " o; m++ }
		print m
	}' | tail -1)
lines=$(cat "$tmp"/out/worker-*.log | wc -l)
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
conf2() {  # NAME: a config writing to $tmp/out-NAME
	mkdir -p "$tmp/out-$1"
	sed "s|dir = \"$tmp/out\"|dir = \"$tmp/out-$1\"|" "$tmp/kforkd.conf" > "$tmp/$1.conf"
}
conf2 a
conf2 b
"$KFORKD" -c "$tmp/a.conf" > "$tmp/a.log" 2>&1 &
apid=$!
bpid=
kill2() {
	local p
	for p in $apid $bpid; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
at_exit kill2
for _ in $(seq 200); do
	grep -q "partitions assigned" "$tmp/a.log" && break
	sleep 0.1
done
db produce "$TOPIC" "$N2" codec=lz4 size=100 keys=seq
"$KFORKD" -c "$tmp/b.conf" > "$tmp/b.log" 2>&1 &
bpid=$!
hwm2=()
for p in $(seq 0 $((P - 1))); do
	db hwm "$TOPIC" "$p"
	read -r _ _ h <<< "$DB_REPLY"
	hwm2+=("$h")
done
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
	pid=$apid; [ $who = b ] && pid=$bpid
	kill -TERM "$pid" 2>/dev/null || true
	set +e
	wait "$pid"
	rc=$?
	set -e
	[ $rc -eq 0 ] && pass "member $who exits 0 after SIGTERM" || fail "member $who exit status $rc"
done
apid= bpid=
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
