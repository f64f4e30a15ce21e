#!/usr/bin/env bash
# The fetcher (supervisor/fetcher.c, driven by fetcher_driver) against
# devbroker, after a broker-less self-test (fetcher_driver -S: hand-built
# batches through kf_fetcher_feed).  Five topics, one per codec, 4 partitions each, drained from
# offset 0 with every record checked exactly once:
#  1. a consumer that answers KF_EAGAIN every 97th record and pauses a
#     partition itself every 251st (resumed by a timer), plus slot 0 seeked
#     past the end: OFFSET_OUT_OF_RANGE -> ListOffsets(-2) -> seek;
#  2. the same drain while Fetch errors are injected (NOT_LEADER_OR_FOLLOWER,
#     UNKNOWN_TOPIC_OR_PARTITION, a top-level-free backoff code) and
#     partition leaders move;
#  3. the leader of every partition goes down mid-drain, and the
#     leadership moves: no Fetch waits on the dead broker;
#  4. read_committed on transactional records (the mock writes no markers
#     and filters nothing: all records arrive, IsolationLevel 1 accepted).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
DRIVER=${FETCHER_DRIVER:-$BUILDDIR/tests/integration/fetcher_driver}
[ -x "$DRIVER" ] || { echo "no fetcher_driver at $DRIVER" >&2; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kf-fetcher.XXXXXX")
dpid=
cleanup() {
	if [ -n "$dpid" ]; then
		kill -KILL "$dpid" 2>/dev/null || true
		wait "$dpid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
at_exit cleanup

show() { echo "--- $1"; tail -30 "$1"; }

# counter NAME FILE: the value of NAME on the driver's counters line.
counter() { sed -n "s/^counters.* $1 \([0-9]*\).*/\1/p" "$2"; }

# ---------------------------------------------------------------- 0. self-test
if "$DRIVER" -S > "$tmp/self.log" 2>&1; then
	pass "self-test: control/aborted/compacted skips, EAGAIN, corrupt batch, error codes"
else
	fail "self-test"
	show "$tmp/self.log"
fi

db_start 3

N=2000
topics=()
for spec in none:none gzip:seq snappy:mod:7 lz4:seq zstd:none; do
	codec=${spec%%:*}
	keys=${spec#*:}
	db topic "fc-$codec" 4
	db produce "fc-$codec" $N codec="$codec" keys="$keys" batch=40
	topics+=(-t "fc-$codec:4:$N:$keys")
done

# ---------------------------------------------------------------- 1. drain
log=$tmp/drain.log
if timeout 120 "$DRIVER" -b "$BOOTSTRAP" -w 90 -e 97 -p 251 -r 20 -o "${topics[@]}" > "$log" 2>&1 &&
	[ "$(counter eagain "$log")" -gt 0 ] && [ "$(counter out_of_range "$log")" -ge 1 ]; then
	pass "drain 5 codecs x 4 partitions, EAGAIN/pause/resume, out-of-range reset"
	grep -E '^(topic|counters)' "$log"
else
	fail "drain"
	show "$log"
fi

# ---------------------------------------------------------------- 2. errors + leader moves
log=$tmp/moves.log
"$DRIVER" -b "$BOOTSTRAP" -w 90 -e 50 -r 300 "${topics[@]}" > "$log" 2>&1 &
dpid=$!
for _ in $(seq 200); do
	grep -q '^draining' "$log" && break
	sleep 0.05
done
db errors 1 6 3
sleep 0.3
db leader fc-none 0 2
db leader fc-gzip 1 3
sleep 0.3
db errors 1 3 2
db leader fc-lz4 2 1
sleep 0.3
db errors 1 6 2
db leader fc-zstd 3 2
db leader fc-none 0 3
sleep 0.3
db errors 1 7 1
db leader fc-snappy 0 1
# The moves must land while the driver is still draining, with time left
# for fetches after them.
sleep 0.5
running=0
kill -0 "$dpid" 2>/dev/null && running=1
rc=0
wait "$dpid" || rc=$?
dpid=
leaders_ok=1
for want in fc-none/0:3 fc-gzip/1:3 fc-lz4/2:1 fc-zstd/3:2; do
	grep -q "^leader ${want%:*} ${want#*:}\$" "$log" || leaders_ok=0
done
if [ "$rc" -eq 0 ] && [ "$running" -eq 1 ] && [ "$leaders_ok" -eq 1 ] &&
	[ "$(counter part_errors "$log")" -gt 0 ] && [ "$(counter metadata "$log")" -ge 2 ]; then
	pass "drain under injected Fetch errors and leader moves"
	grep -E '^(topic|counters)' "$log"
else
	fail "errors and leader moves (rc $rc, running $running, leaders_ok $leaders_ok)"
	show "$log"
fi
db clear-errors

# ------------------------------------------------- 3. the leader goes down
# Every partition's leader, broker 2, goes down mid-drain (connections
# closed, new ones refused) and the leadership moves a second later.  A
# Fetch must not wait on the dead broker's connection for its timeout
# (-T: 300 s here) while the metadata names new leaders: the drain ends
# within the driver's deadline (-w 60).
db topic fc-dead 3
db produce fc-dead 999 keys=seq batch=20
for p in 0 1 2; do db leader fc-dead $p 2; done
log=$tmp/dead.log
"$DRIVER" -b "$BOOTSTRAP" -w 60 -T 300000 -e 50 -r 300 -t fc-dead:3:999:seq > "$log" 2>&1 &
dpid=$!
for _ in $(seq 200); do
	grep -q '^draining' "$log" && break
	sleep 0.05
done
db down 2
sleep 1
db leader fc-dead 0 1
db leader fc-dead 1 3
db leader fc-dead 2 1
running=0
kill -0 "$dpid" 2>/dev/null && running=1
rc=0
wait "$dpid" || rc=$?
dpid=
db up 2
if [ "$rc" -eq 0 ] && [ "$running" -eq 1 ] && grep -q '^leader fc-dead/1 3$' "$log"; then
	pass "leader down mid-drain: the partitions moved to the new leaders, no Fetch stuck on the dead one"
	grep -E '^(topic|counters)' "$log"
else
	fail "leader down (rc $rc, running $running)"
	show "$log"
fi

# ---------------------------------------------------------------- 4. read_committed
db topic fc-txn 1
db txn fc-txn 0 5 commit
db txn fc-txn 0 3 abort
db txn fc-txn 0 4 commit
log=$tmp/txn.log
if timeout 60 "$DRIVER" -b "$BOOTSTRAP" -w 30 -c -t fc-txn:1:12:seq > "$log" 2>&1; then
	pass "read_committed fetch (mock: no markers, all 12 records)"
	grep -E '^(topic|counters)' "$log"
else
	fail "read_committed"
	show "$log"
fi

db_stop
summary
