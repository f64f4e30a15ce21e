#!/usr/bin/env bash
# Chaos: kforkd's workers SIGKILLed at random, one every 200 ms, while one
# kforkd (4 file-handler workers, 8 partitions) drains 200,000 records
# (1,000,000 with CHAOS_LONG=1): half a backlog produced before it starts,
# half produced while the kills go on.  Checks: kforkd never dies, logs
# each death and respawns the worker (log lines and the status's restarts
# against the kills), the group never rebalances (one generation),
# nothing is committed past a record no worker finished, and chaos_end:
# committed = watermarks, every record at least once.
NAME=workers-kill
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

P=8
W=4
N=$((LONG ? 1000000 : 200000))
G=chaos-wk
TP=wk


db_start 1
db topic $TP $P
BACKLOG=$((N / 2))
t0=$(now_ms)
db produce $TP $BACKLOG codec=lz4 keys=seq
echo "produced a backlog of $BACKLOG records in $(($(now_ms) - t0)) ms"

mkdir -p "$T/out"
KF_CHAOS_LOG_LEVEL=debug kf_conf m $G $TP $W "{ type = \"file\"; dir = \"$T/out\"; }" "fetch_max_wait_ms = 20;"
t0=$(now_ms)
kf_start m
kpid=${KPID[m]}
if wait_for 30 kf_stable m; then
	pass "stable with $P partitions $WAITED_MS ms after the start"
else
	fail "not stable 30 s after the start: $(kf_status m | head -c 300)"
fi

# kforkd drains 200,000 records in about a second on this machine, faster
# than devbroker produces them: so the records come while the workers die.
# A killer in the background SIGKILLs a random worker every 200 ms (one
# line per kill in $T/kills) while this shell produces a chunk every 100 ms
# (8 s for the short version, 20 s for the long one),
# calling commit_safe every 2 s or so; once all are produced the kills go on
# until the group committed the watermarks (or 10 minutes went by).
killer() {
	local pids victim
	while kill -0 "$kpid" 2>/dev/null; do
		mapfile -t pids < <(pgrep -P "$kpid" || true)
		if [ "${#pids[@]}" -gt 0 ]; then
			victim=${pids[RANDOM % ${#pids[@]}]}
			if kill -KILL "$victim" 2>/dev/null; then
				echo "kill $victim" >> "$T/kills"
			else
				echo "miss $victim" >> "$T/kills"
			fi
		fi
		sleep 0.2
	done
	echo "kforkd gone $(now_ms)" >> "$T/kills"
}
killer_pid=
stop_killer() {
	[ -n "$killer_pid" ] || return 0
	kill "$killer_pid" 2>/dev/null || true
	wait "$killer_pid" 2>/dev/null || true
	killer_pid=
}
at_exit stop_killer
: > "$T/kills"
CHUNK=$((LONG ? 5000 : 2500))
produced=$BACKLOG
t0=$(now_ms)
end=$((t0 + 600000))
killer &
killer_pid=$!
while [ $produced -lt $N ]; do
	step=$(now_ms)
	db produce $TP $CHUNK codec=lz4 keys=seq
	produced=$((produced + CHUNK))
	left=$((100 - ($(now_ms) - step)))
	[ $left -le 0 ] || sleep "0.$(printf %03d $left)"
	safe_check $G $TP $P "$NAME (produced $produced)" "$T"/out/worker-*.log
done
echo "produced $N records in $(($(now_ms) - t0)) ms"
watermarks $TP $P
[ "$TOTAL" = "$N" ] || fail "watermarks add up to $TOTAL, not $N"
while (($(now_ms) < end)) && kf_alive m; do
	safe_check $G $TP $P "$NAME (draining)" "$T"/out/worker-*.log
	committed_is_hw $G $TP $P && break
	sleep 0.5
done
stop_killer
# kforkd drains about 200,000 records a second here: only the kills that
# land while a worker holds records make redeliveries (information).
busy=$(grep -c "killed by signal 9 (Killed) after [0-9.]* s; respawning, [1-9]" "$T/m.log" || true)
echo "$busy kills found records in the worker's hands"
kills=$(grep -c '^kill' "$T/kills" || true)
misses=$(grep -c '^miss' "$T/kills" || true)
died=$(grep '^kforkd gone' "$T/kills" || true)
took=$(($(now_ms) - t0))
echo "$kills workers killed in $took ms ($misses were gone already)"

if [ -z "$died" ] && [ "${KPID[m]}" = "$kpid" ] && kf_alive m; then
	pass "kforkd (pid $kpid) alive through $kills worker kills"
else
	fail "kforkd died during the kills (after $kills)"
fi
[ "$SAFE_BAD" = 0 ] && [ "$SAFE_CALLS" -ge 2 ] && pass "commit_safe held at all $SAFE_CALLS checks while workers died" ||
	fail "commit_safe: $SAFE_BAD of $SAFE_CALLS checks failed"
[ "$kills" -ge 10 ] && pass "$kills workers killed during the drain" ||
	fail "only $kills workers killed: the drain ended too soon for the test to mean anything"

chaos_end m $G $TP $P 60 "$T"/out/worker-*.log

nw=$(kf_get m 'len([w for w in d["workers"] if w["state"] == "running" and w["pid"]])')
if wait_for 40 kf_running m $W; then
	pass "all $W workers running again"
else
	fail "workers not all running: $(kf_get m 'd["workers"]')"
fi
# Each death is logged (the log is at debug level for this): "worker N
# (pid P) killed by signal 9 (Killed) after S s; respawning ..." at warn,
# or the same without "; respawning" at debug for a worker killed before
# it proved itself (the crash-loop path: only its entry is logged at
# warn).  Each respawn is a new "worker N: pid P running handler" line.  A
# kill can land on a worker that had died and was not reaped yet: a few
# kills may be no death.
deaths=$(grep -c "pool: worker [0-9]* (pid [0-9]*) killed by signal 9 (Killed) after " "$T/m.log" || true)
loops=$(grep -c "crashloop (killed by signal 9" "$T/m.log" || true)
starts=$(grep -c "worker [0-9]*: pid [0-9]* running handler" "$T/m.log" || true)
restarts=$(kf_get m 'sum(w["restarts"] for w in d["workers"])')
echo "log: $deaths deaths, $loops entries into a crash loop, $starts worker starts; status: $restarts restarts"
if [ "$deaths" -le "$kills" ] && [ $((kills - deaths)) -le $((kills / 20 + 1)) ]; then
	pass "kforkd logged $deaths worker deaths for $kills kills"
else
	fail "kforkd logged $deaths worker deaths for $kills kills"
fi
if [ "$restarts" = "$deaths" ] && [ "$starts" = $((W + deaths)) ]; then
	pass "each death respawned: status restarts $restarts, $starts worker starts in the log"
else
	fail "status restarts $restarts, $starts worker starts in the log, for $deaths deaths (want $deaths and $((W + deaths)))"
fi
reb=$(kf_get m 'd["counters"]["rebalances"]')
[ "$reb" = 1 ] && pass "no rebalance: counters.rebalances = 1" ||
	fail "counters.rebalances = $reb, want 1"
done_n=$(kf_get m 'd["counters"]["records_done"]')
[ "$done_n" -ge "$N" ] && pass "records_done $done_n >= $N" || fail "records_done $done_n < $N"
echo "$NAME: $kills kills, $DUPS duplicates, ${took} ms, $nw workers running at the end of the drain"
chaos_finish m
