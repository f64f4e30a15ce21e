#!/usr/bin/env bash
# Soak test (run by `make soak`, not by make check): kforkd consumes a
# steady stream for SOAK_MINUTES (default 30) while its workers are killed
# and its config reloaded, and must neither grow nor lose anything.
#
# Every second devbroker produces SOAK_RATE records (default 2000; lz4,
# 100-byte values) round-robin into SOAK_P partitions (16: at 2000/s for
# 30 minutes that is 225,000 records a partition, kept far below the
# mock's retention of 100000 batches; the 5 MiB limit may drop old
# batches, which the check below reports, but only long after kforkd
# committed them: the lag stays at about a second of traffic).
# kforkd (noop handler, 2 workers) consumes them.  At +5, +25 and +45 s of
# every minute a random worker gets SIGKILL; at +35 s the config is
# rewritten with the other worker count (2 <-> 3) and kforkd gets SIGHUP.
# At the end of every minute it prints the supervisor's VmRSS, its open
# fds, heartbeat_max_gap_ms, records_done, worker restarts and the lag
# (kforkctl status).
#
# At the end production stops, and it fails when:
#   - kforkd died, or a reload was refused (config.last_reload_error);
#   - the group's committed offsets (read by devbroker) do not reach the
#     high watermarks within 120 s;
#   - records_done is below the number of records produced (each record
#     is done at least once; a killed worker's records are done again);
#   - RSS or fds grew: for each worker count, the last sample is more than
#     SOAK_RSS_TOL_KIB (1024) KiB + 5% (RSS) or SOAK_FD_TOL (2) fds above
#     the first one after the warm-up minute.  Both depend on the number
#     of workers (the supervisor maps every worker's ring), so only
#     samples with equal counts are compared.
# The RSS and fd checks need at least 5 minutes; with fewer they are
# printed but not judged.
NAME=soak
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../chaos/lib.sh"
set -euo pipefail
MINUTES=${SOAK_MINUTES:-30}
RATE=${SOAK_RATE:-2000}
P=${SOAK_P:-16}
RSS_TOL=${SOAK_RSS_TOL_KIB:-1024}
FD_TOL=${SOAK_FD_TOL:-2}
GROUP=soak
TOPIC=soak

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
nfds() { ls "/proc/$1/fd" | wc -l; }

conf() {  # WORKERS
	kf_conf m "$GROUP" "$TOPIC" "$1" '{ type = "noop"; }'
}

echo "soak: $MINUTES minutes, $RATE records/s into $P partitions; $(date -u '+%Y-%m-%d %H:%M UTC');" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
db_start 3
db topic "$TOPIC" "$P"
workers=2
conf $workers
kf_start m
stable() { [ "$(kf_get m 'd["state"]' 2>/dev/null)" = stable ]; }
wait_for 30 stable ||
	{ fail "kforkd not stable in 30 s"; tail -20 "$T/m.log"; exit 1; }
pid=${KPID[m]}

produced=0 kills=0 reloads=0 minute=0 bad=
declare -a S_RSS=() S_FD=() S_W=()
t0=$(now_ms)
sec=0
printf '%6s %8s %5s %7s %11s %12s %8s %7s %7s\n' minute "RSS KiB" fds workers "hb gap ms" records_done restarts lag produced
while [ "$sec" -lt $((MINUTES * 60)) ]; do
	# One tick a second, on the wall clock from t0.
	sec=$((sec + 1))
	db produce "$TOPIC" "$RATE" codec=lz4 size=100 keys=seq
	produced=$((produced + RATE))
	if ! kf_alive m; then
		bad="kforkd died"
		break
	fi
	case $((sec % 60)) in
	5 | 25 | 45)
		mapfile -t ws < <(kf_workers m)
		if [ "${#ws[@]}" -gt 0 ]; then
			kill -KILL "${ws[RANDOM % ${#ws[@]}]}" 2>/dev/null && kills=$((kills + 1))
		fi
		;;
	35)
		workers=$((5 - workers))
		conf $workers
		kill -HUP "$pid"
		reloads=$((reloads + 1))
		;;
	0)
		minute=$((minute + 1))
		v=()
		read -r -a v <<< "$(kf_get m '" ".join(str(x) for x in [d["counters"]["heartbeat_max_gap_ms"],
			d["counters"]["records_done"], sum(w["restarts"] for w in d["workers"]),
			sum(a["lag"] or 0 for a in d["assignment"]), len(d["workers"]),
			d["config"]["last_reload_error"]])' 2>/dev/null)" || true
		S_RSS+=("$(rss_kib "$pid")")
		S_FD+=("$(nfds "$pid")")
		S_W+=("$workers")
		printf '%6d %8d %5d %7s %11s %12s %8s %7s %7d\n' "$minute" "${S_RSS[-1]}" "${S_FD[-1]}" \
			"$workers/${v[4]:-?}" "${v[0]:-?}" "${v[1]:-?}" "${v[2]:-?}" "${v[3]:-?}" "$produced"
		[ "${v[5]:-None}" = None ] || bad="reload refused: ${v[*]:5}"
		;;
	esac
	[ -z "$bad" ] || break
	wait_ms=$((t0 + sec * 1000 - $(now_ms)))
	[ "$wait_ms" -le 0 ] || sleep "$(awk -v m="$wait_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
done
echo "soak: produced $produced records, $kills worker SIGKILLs, $reloads SIGHUP reloads"
if [ -n "$bad" ]; then
	fail "soak: $bad after $sec s"
	tail -30 "$T/m.log"
	exit 1
fi
pass "soak: kforkd ran $MINUTES minutes through $kills worker kills and $reloads reloads"

drained "$GROUP" "$TOPIC" "$P" 120 "soak"
[ "$TOTAL" = "$produced" ] || fail "soak: watermarks add up to $TOTAL, produced $produced"
done_n=$(kf_get m 'd["counters"]["records_done"]')
if [ "$done_n" -ge "$produced" ]; then
	pass "soak: records_done $done_n >= produced $produced ($((done_n - produced)) done twice after kills)"
else
	fail "soak: records_done $done_n < produced $produced"
fi
low=0
for p in $(seq 0 $((P - 1))); do
	db hwm "$TOPIC" "$p"
	read -r _ lo _ <<< "$DB_REPLY"
	low=$((low + lo))
done
[ "$low" = 0 ] || echo "note: the mock's retention dropped $low old records (all committed before)"

n=${#S_RSS[@]}
if [ "$n" -lt 5 ]; then
	echo "soak: $n samples: too few to judge growth (RSS ${S_RSS[*]}; fds ${S_FD[*]})"
else
	# Minute 1 is the warm-up.  The supervisor maps every worker's ring,
	# so its RSS, like its fd count, depends on the number of workers:
	# compare samples taken with the same count.
	for w in 2 3; do
		fr='' lr='' ff='' lf=''
		for i in $(seq 1 $((n - 1))); do
			[ "${S_W[i]}" = "$w" ] || continue
			[ -n "$fr" ] || { fr=${S_RSS[i]}; ff=${S_FD[i]}; }
			lr=${S_RSS[i]}
			lf=${S_FD[i]}
		done
		[ -n "$fr" ] || continue
		lim=$((fr + RSS_TOL + fr / 20))
		if [ "$lr" -le "$lim" ]; then
			pass "soak: $w workers: RSS $fr KiB after warm-up, $lr KiB at the end (limit $lim)"
		else
			fail "soak: $w workers: RSS grew from $fr KiB to $lr KiB (limit $lim)"
		fi
		if [ "$lf" -le $((ff + FD_TOL)) ]; then
			pass "soak: $w workers: $ff fds after warm-up, $lf at the end"
		else
			fail "soak: $w workers: fds grew from $ff to $lf"
		fi
	done
fi
st=0
kf_stop m || st=$?
[ "$st" = 0 ] && pass "soak: kforkctl stop, exit 0" || fail "soak: kforkd exit status $st"
summary
