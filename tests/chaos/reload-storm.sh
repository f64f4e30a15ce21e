#!/usr/bin/env bash
# Chaos: a storm of reloads.  One kforkd (file handler, 6 partitions) gets
# 50 SIGHUPs in 10 s (100 in 20 s with CHAOS_LONG=1), each after the config
# file was replaced (atomically) by one with another worker count (cycling
# 2, 3, 1, 4) and the file handler's dir alternating between out-a and
# out-b, while records flow: a backlog before, a chunk after each SIGHUP.
# A reload that comes during a rolling replacement is queued by design
# (README "Reloading the config"): the final state must be the last file's.
# Checks: kforkd alive at every step; kforkctl status answers during the
# storm; at the end last_reload_error is null, counters.rebalances = 1 (no
# rebalance for worker or handler changes), the workers are the last
# file's count, all running, and records produced after the storm land in
# the last file's dir only; nothing committed past an unfinished record;
# then one more handler change, with the first replaced worker SIGKILLed
# at its start: the replacement still replaces every worker; chaos_end
# over out-a and out-b.
NAME=reload-storm
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

P=6
G=chaos-rs
TP=rs
HUPS=$((LONG ? 100 : 50))
CHUNK=$((LONG ? 4000 : 2000))
COUNTS=(2 3 1 4)
DIRS=(a b)
mkdir -p "$T/out-a" "$T/out-b"


db_start 1
db topic $TP $P
db produce $TP $((LONG ? 200000 : 50000)) codec=lz4 keys=seq

# One config file per (count, dir); each SIGHUP follows an atomic rename
# of one of them over m.conf, so kforkd never reads a half-written file
# (a queued reload reads the file when it is applied, not when it came).
for c in "${COUNTS[@]}"; do
	for d in "${DIRS[@]}"; do
		kf_conf m $G $TP "$c" "{ type = \"file\"; dir = \"$T/out-$d\"; }" "fetch_max_wait_ms = 20;"
		mv "$T/m.conf" "$T/v-$c-$d.conf"
	done
done
use_conf() { cp "$T/v-$1-$2.conf" "$T/m.conf.tmp" && mv "$T/m.conf.tmp" "$T/m.conf"; }
use_conf 4 a
kf_start m
kpid=${KPID[m]}
if wait_for 30 kf_stable m; then
	pass "stable $WAITED_MS ms after the start"
else
	fail "not stable 30 s after the start: $(kf_status m | head -c 300)"
fi
reb0=$(kf_get m 'd["counters"]["rebalances"]')

died=
st_ok=0
st_bad=0
st_max=0
t0=$(now_ms)
for i in $(seq 0 $((HUPS - 1))); do
	step=$(now_ms)
	c=${COUNTS[i % ${#COUNTS[@]}]}
	d=${DIRS[i % ${#DIRS[@]}]}
	use_conf "$c" "$d"
	if ! kill -HUP "$kpid" 2>/dev/null || ! kf_alive m; then
		died="before SIGHUP $((i + 1))"
		break
	fi
	db produce $TP $CHUNK codec=lz4 keys=seq
	if ((i % 5 == 2)); then
		s0=$(now_ms)
		if kf_status m > /dev/null; then
			st_ok=$((st_ok + 1))
		else
			st_bad=$((st_bad + 1))
		fi
		s1=$(($(now_ms) - s0))
		[ $s1 -le $st_max ] || st_max=$s1
	fi
	safe_check $G $TP $P "$NAME (after $((i + 1)) SIGHUPs)" "$T"/out-[ab]/worker-*.log
	left=$((200 - ($(now_ms) - step)))
	[ $left -le 0 ] || sleep "0.$(printf %03d $left)"
done
storm_ms=$(($(now_ms) - t0))
final_c=$c
final_d=$d
echo "$((i + 1)) SIGHUPs in $storm_ms ms; the last file: $final_c workers, out-$final_d"
if [ -z "$died" ] && kf_alive m && [ "${KPID[m]}" = "$kpid" ]; then
	pass "kforkd (pid $kpid) alive through $HUPS SIGHUPs"
else
	fail "kforkd died ${died:-after the storm}"
fi
if [ $st_bad = 0 ] && [ $st_ok -ge $((HUPS / 5)) ]; then
	pass "kforkctl status answered $st_ok times during the storm (slowest $st_max ms)"
else
	fail "kforkctl status during the storm: $st_ok answers, $st_bad failures"
fi

# Settled: no rolling replacement under way (each "replacing" has its
# "workers replaced"), the last file's worker count, every worker running.
settled() {
	[ "$(grep -c 'reload: replacing' "$T/m.log")" = "$(grep -c 'reload: workers replaced' "$T/m.log")" ] &&
		kf_running m "$final_c"
}
if wait_for 60 settled; then
	pass "settled $WAITED_MS ms after the storm: $final_c workers running"
else
	fail "not settled 60 s after the storm: $(kf_get m 'd["workers"]')"
fi
applied=$(grep -c "kforkd: reload: " "$T/m.log" || true)
queued=$(grep -c "queued until the" "$T/m.log" || true)
echo "log: $applied reloads applied, $queued queued"

# Records produced now go to the last file's dir only, from its workers.
watermarks $TP $P
hw0=("${HW[@]}")
db produce $TP 6000 codec=lz4 keys=seq
drained $G $TP $P 30 "$NAME: after the storm"
other=a
[ "$final_d" = b ] || other=b
late() {
	cat "$@" 2>/dev/null | awk -v t=$TP -v hw="${hw0[*]}" '
		BEGIN { split(hw, h, " ") } $1 == t && $3 >= h[$2 + 1] { n++ } END { print n + 0 }'
}
in_final=$(late "$T/out-$final_d"/worker-*.log)
in_other=$(late "$T/out-$other"/worker-*.log)
beyond=0
for f in "$T/out-$final_d"/worker-*.log; do
	n=${f##*/worker-}
	n=${n%.log}
	[ "$n" -lt "$final_c" ] || beyond=$((beyond + $(late "$f")))
done
if [ "$in_final" -ge 6000 ] && [ "$in_other" = 0 ] && [ "$beyond" = 0 ]; then
	pass "the 6000 records produced after the storm went to out-$final_d ($in_final lines), workers 0..$((final_c - 1)) only"
else
	fail "after the storm: $in_final lines in out-$final_d, $in_other in out-$other, $beyond from workers >= $final_c"
fi

# One more reload, to the other dir: worker 0 is SIGKILLed from outside as
# soon as the rolling replacement restarted it, before it stayed up a
# second (the pool counts that as a failed start).  The replacement must go
# on: every worker ends up with the new handler.
pid0=$(kf_get m 'd["workers"][0]["pid"]')
mark=$(wc -l < "$T/m.log")
use_conf "$final_c" "$other"
mapfile -t seen < <(pgrep -P "$kpid" || true)
kill -HUP "$kpid"
# Found with pgrep, fast enough to be inside that second on a loaded
# machine: the replacement first starts an extra worker (a new child while
# pid0 lives), then SIGTERMs worker 0 and respawns it: the newest child
# that came after pid0 went.
new0() {
	local kids k
	mapfile -t kids < <(pgrep -P "$kpid" || true)
	gone0=1
	for k in "${kids[@]}"; do
		[ "$k" != "$pid0" ] || gone0=0
	done
	p0=
	for k in "${kids[@]}"; do
		[[ " ${seen[*]} " != *" $k "* ]] || continue
		if [ $gone0 = 0 ]; then
			seen+=("$k")     # the extra worker
		elif [ -z "$p0" ] || [ "$k" -gt "$p0" ]; then
			p0=$k
		fi
	done
	[ -n "$p0" ]
}
p0=
t_end=$(($(now_ms) + 20000))
until new0 || (($(now_ms) > t_end)); do sleep 0.02; done
if [ -n "$p0" ]; then
	kill -KILL "$p0" 2>/dev/null || true
	hit() { tail -n +$((mark + 1)) "$T/m.log" | grep -q "worker 0: starting -> crashloop (killed by signal 9"; }
	wait_for 5 hit && pass "worker 0 (pid $p0) killed at its start during the replacement" ||
		fail "worker 0 (pid $p0): no crash-loop entry after the kill (killed too late?)"
else
	fail "worker 0 not restarted within 20 s of the reload to out-$other"
fi
if wait_for 60 settled; then
	pass "settled again $WAITED_MS ms after the reload to out-$other"
else
	fail "not settled 60 s after the reload to out-$other: $(kf_get m 'd["workers"]')"
fi
watermarks $TP $P
hw0=("${HW[@]}")
db produce $TP 6000 codec=lz4 keys=seq
drained $G $TP $P 30 "$NAME: after the reload to out-$other"
in_new=$(late "$T/out-$other"/worker-*.log)
in_old=$(late "$T/out-$final_d"/worker-*.log)
if [ "$in_new" -ge 6000 ] && [ "$in_old" = 0 ]; then
	pass "every worker replaced despite the kill: the next 6000 records went to out-$other ($in_new lines)"
else
	fail "after the reload to out-$other and the kill: $in_new lines there, $in_old still in out-$final_d ($(tail -n +$((mark + 1)) "$T/m.log" | grep -c 'does not start') \"does not start\" lines)"
fi
err=$(kf_get m 'd["config"]["last_reload_error"]')
[ "$err" = None ] && pass "last_reload_error is null" || fail "last_reload_error: $err"
reb=$(kf_get m 'd["counters"]["rebalances"]')
[ "$reb" = 1 ] && [ "$reb0" = 1 ] && pass "no rebalance: counters.rebalances = 1" ||
	fail "counters.rebalances = $reb (was $reb0 before the storm), want 1"

chaos_end m $G $TP $P 30 "$T"/out-[ab]/worker-*.log
chaos_finish m
