#!/usr/bin/env bash
# The case kfork exists for: heavy processing must never cost group
# membership.  Against devbroker, with session_timeout_ms = 6000 and
# heartbeat_interval_ms = 1000:
#   heavy:  4 burn-handler workers (50 ms of CPU per record) keep both cores
#           at 100% for HEAVY_S seconds (default 60) with a backlog the
#           whole time: zero rebalances after the first join, zero commit
#           failures, heartbeat_max_gap_ms under 1300 (read from kforkctl
#           status and printed), commits keep moving.
#   sparse: one record every 8 s for SPARSE_S seconds (default 60): no
#           rebalance, every record committed soon after it arrives.
# Not a speed test: the bounds are protocol deadlines with a wide margin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/../lib/kforkd.sh"
HEAVY_S=${HEAVY_S:-60}
SPARSE_S=${SPARSE_S:-60}
P=8

kf_tmpdir heavy KF_HEAVY_KEEP
tmp=$KF_DIR

db_start 3

# NAME GROUP TOPIC WORKERS HANDLER; the workers at kforkd's default nice (5).
conf() { KF_COMMIT_MS=1000 KF_SHUTDOWN_MS=5000 KF_NICE=5 kf_conf "$@"; }

# Status fields for kf_get: the sums over the assignment.
LAG_SUM='sum(x.lag or 0 for x in assignment)'
COMMITTED_SUM='sum(x.committed or 0 for x in assignment)'

wait_stable() {  # NAME
	for _ in $(seq 300); do
		kf_true "$1" 'state == "stable" and len(assignment) > 0' && return 0
		sleep 0.1
	done
	return 1
}

stop_kforkd() {  # NAME
	local rc=0
	kf_stop "$1" || rc=$?
	[ $rc -eq 0 ] && pass "$1: kforkctl stop, exit 0" || fail "$1: exit status $rc"
}

# CPU busy share of the whole machine between two /proc/stat samples.
cpu_sample() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6; exit }' /proc/stat; }

# ---------------------------------------------------------------- heavy
db topic heavy $P
db produce heavy 4000 size=100
conf heavy kf-heavy heavy 4 '{ type = "burn"; usec = 50000; }'
kf_start heavy
wait_stable heavy || { fail "heavy: not stable in 30 s"; tail -20 "$tmp/heavy.log"; exit 1; }
read -r reb0 <<< "$(kf_get heavy counters.rebalances)"
read -r b0 i0 <<< "$(cpu_sample)"
t_end=$(($(date +%s) + HEAVY_S))
maxgap=0 commits_seen=() bad=
while [ "$(date +%s)" -lt "$t_end" ]; do
	sleep 5
	kf_alive heavy || { bad="kforkd died"; break; }
	mapfile -t v < <(kf_get heavy counters.rebalances counters.commit_failures \
		counters.heartbeat_max_gap_ms "$COMMITTED_SUM" state "$LAG_SUM")
	echo "  heavy: state ${v[4]}, rebalances ${v[0]}, commit failures ${v[1]}," \
		"heartbeat max gap ${v[2]} ms, committed ${v[3]}, lag ${v[5]}"
	maxgap=${v[2]}
	commits_seen+=("${v[3]}")
	[ "${v[0]}" = "$reb0" ] || bad="rebalanced (${v[0]} generations, $reb0 at start)"
	[ "${v[1]}" = 0 ] || bad="${v[1]} commit failures"
	[ "${v[4]}" = stable ] || bad="state ${v[4]}"
	[ -z "$bad" ] || break
done
read -r b1 i1 <<< "$(cpu_sample)"
busy=$(((b1 - b0) * 100 / (b1 - b0 + i1 - i0 + 1)))
lag=$(kf_get heavy "$LAG_SUM")
echo "heavy: machine CPU busy ${busy}% over ${HEAVY_S} s; heartbeat_max_gap_ms $maxgap; lag left $lag"
if [ -z "$bad" ]; then
	pass "heavy: ${HEAVY_S} s of 4 burning workers, no rebalance, no commit failure"
else
	fail "heavy: $bad"
fi
if [ "$maxgap" -gt 0 ] && [ "$maxgap" -lt 1300 ]; then
	pass "heavy: heartbeat_max_gap_ms $maxgap < 1300"
else
	fail "heavy: heartbeat_max_gap_ms $maxgap"
fi
n=${#commits_seen[@]}
if [ "$n" -ge 2 ] && [ "${commits_seen[$((n - 1))]}" -gt "${commits_seen[0]}" ] && [ "$lag" -gt 0 ]; then
	pass "heavy: commits kept moving (${commits_seen[0]} -> ${commits_seen[$((n - 1))]}) with a backlog left"
else
	fail "heavy: committed ${commits_seen[*]}, lag $lag"
fi
[ "$busy" -ge 90 ] || echo "note: the machine was only ${busy}% busy (other load?)"
# The same gaps as a histogram in the metrics: all of them at most 2 s.
kf_ctl heavy metrics > "$tmp/metrics.txt"
hist=$(awk '/^kfork_heartbeat_gap_seconds_bucket\{le="2"\}/ { le2 = $2 }
	/^kfork_heartbeat_gap_seconds_bucket\{le="\+Inf"\}/ { inf = $2 }
	/^kfork_heartbeat_gap_seconds_count/ { n = $2 }
	END { print le2 + 0, inf + 0, n + 0 }' "$tmp/metrics.txt")
read -r le2 inf cnt <<< "$hist"
if [ "$cnt" -gt 10 ] && [ "$le2" = "$cnt" ] && [ "$inf" = "$cnt" ]; then
	pass "heavy: heartbeat gap histogram: all $cnt gaps <= 2 s"
else
	fail "heavy: heartbeat gap histogram le=2: $le2, +Inf: $inf, count: $cnt"
fi
stop_kforkd heavy
# What kforkd last committed is what the broker holds.
db committed kf-heavy heavy "$(seq -s, 0 $((P - 1)))"
sum=0
for o in ${DB_REPLY#ok }; do [ "$o" -ge 0 ] && sum=$((sum + o)); done
if [ "$sum" -ge "${commits_seen[$((n - 1))]}" ]; then
	pass "heavy: the broker holds $sum committed records (>= the last status)"
else
	fail "heavy: broker committed $sum < status ${commits_seen[$((n - 1))]}"
fi

# ---------------------------------------------------------------- sparse
db topic sparse 2
conf sparse kf-sparse sparse 2 '{ type = "noop"; }'
kf_start sparse
wait_stable sparse || { fail "sparse: not stable in 30 s"; tail -20 "$tmp/sparse.log"; exit 1; }
read -r reb0 <<< "$(kf_get sparse counters.rebalances)"
sent=0 late=0 bad=
t_end=$(($(date +%s) + SPARSE_S))
while [ "$(date +%s)" -lt "$t_end" ]; do
	db produce sparse 1
	sent=$((sent + 1))
	ok=false
	for _ in $(seq 40); do   # committed within 4 s (commit_interval_ms = 1000)
		sleep 0.1
		[ "$(kf_get sparse "$COMMITTED_SUM")" = "$sent" ] && { ok=true; break; }
	done
	$ok || late=$((late + 1))
	sleep 7.5
done
mapfile -t v < <(kf_get sparse counters.rebalances counters.heartbeats counters.heartbeat_max_gap_ms \
	"$COMMITTED_SUM" state)
echo "sparse: $sent records, one every 8 s; rebalances ${v[0]} (at start $reb0)," \
	"heartbeats ${v[1]}, max gap ${v[2]} ms, committed ${v[3]}, state ${v[4]}"
if [ "${v[0]}" = "$reb0" ] && [ "${v[4]}" = stable ]; then
	pass "sparse: no rebalance in $SPARSE_S s"
else
	fail "sparse: rebalances ${v[0]} (start $reb0), state ${v[4]}"
fi
if [ "$late" = 0 ] && [ "${v[3]}" = "$sent" ]; then
	pass "sparse: each of the $sent records committed within 4 s"
else
	fail "sparse: $late records not committed within 4 s; committed ${v[3]} of $sent"
fi
[ "${v[2]}" -lt 1300 ] && pass "sparse: heartbeat_max_gap_ms ${v[2]}" ||
	fail "sparse: heartbeat_max_gap_ms ${v[2]}"
stop_kforkd sparse

if [ "$FAILED" -ne 0 ]; then
	for f in heavy sparse; do echo "--- $f log (tail)"; tail -30 "$tmp/$f.log" 2>/dev/null || true; done
fi
summary
