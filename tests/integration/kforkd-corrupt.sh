#!/usr/bin/env bash
# kforkd and a corrupt record batch: the error belongs to that partition only.
# devbroker (3 brokers), a topic of 4 partitions; N records, then one damaged
# batch in partition 2 (devbroker's "corrupt", a flipped byte behind the
# CRC-32C by default), then N2 more records.  kforkd with 2 file-handler
# workers must:
#   - commit partitions 0, 1, 3 up to their high watermarks,
#   - commit partition 2 up to the damaged batch's base offset (every record
#     before it done, none at or after it handed to a worker),
#   - log one error line naming the topic, partition 2 and that offset,
#   - show partition 2 "paused": true with a "paused_reason" in
#     `kforkctl status`, the others not paused,
#   - stay alive, and exit 0 on `kforkctl stop`.
# KFORKD_CORRUPT_HOW picks the damage (crc, overrun, count, codec, truncate; default
# crc); KFORKD_CORRUPT_N overrides N (default 20000).  With crc and codec
# no record of the batch can be trusted, so partition 2 stops at the
# batch's base offset.  With overrun and count the CRC is right and the
# records before the malformed spot are intact: kforkd delivers them and
# stops at the first record it cannot read (the batch's last record for
# overrun, the missing one after the 10 present for count).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/../lib/kforkd.sh"
[ -x "$KFORKCTL" ] || { echo "no kforkctl at $KFORKCTL" >&2; exit 99; }
N=${KFORKD_CORRUPT_N:-20000}
N2=$((N / 2))
HOW=${KFORKD_CORRUPT_HOW:-crc}
P=4
BAD=2
TOPIC=corrupt
GROUP=kforkd-corrupt

kf_tmpdir corrupt KF_CORRUPT_KEEP
tmp=$KF_DIR

# check WHAT GOT WANT
check() { if [ "$2" = "$3" ]; then pass "$1: $2"; else fail "$1: $2, want $3"; fi; }

db_start 3
db topic "$TOPIC" $P
db produce "$TOPIC" "$N" codec=lz4 keys=seq
db corrupt "$TOPIC" $BAD "$HOW"
read -r _ base <<< "$DB_REPLY"
case $HOW in
overrun) stop=$((base + 9)) ;;	# devbroker's batch has 10 records
count) stop=$((base + 10)) ;;
*) stop=$base ;;
esac
echo "corrupt batch ($HOW) in $TOPIC/$BAD at offset $base, kforkd must stop at $stop"
db produce "$TOPIC" "$N2" codec=lz4 keys=seq
watermarks "$TOPIC" $P
echo "high watermarks: ${HW[*]}"
w=("${HW[@]}")
w[$BAD]=$stop
want="ok ${w[*]}"

mkdir "$tmp/out"
kf_conf kforkd "$GROUP" "$TOPIC" 2 "{ type = \"file\"; dir = \"$tmp/out\"; }"
kf_start kforkd
parts=$(seq -s, 0 $((P - 1)))
end=$(($(date +%s) + 120))
done_=false
while (($(date +%s) < end)); do
	kf_alive kforkd || break
	db committed "$GROUP" "$TOPIC" "$parts"
	if [ "$DB_REPLY" = "$want" ]; then
		done_=true
		break
	fi
	sleep 0.2
done
if $done_; then
	pass "committed = watermarks for 0,1,3 and $stop for $BAD ($DB_REPLY)"
else
	fail "committed $DB_REPLY after 120 s, want $want"
fi
# Nothing moves later: two more commit intervals.
sleep 1.2
db committed "$GROUP" "$TOPIC" "$parts"
if [ "$DB_REPLY" = "$want" ]; then
	pass "still committed $DB_REPLY a second later"
else
	fail "committed moved to $DB_REPLY, want $want"
fi

if kf_alive kforkd; then
	pass "kforkd still running"
else
	fail "kforkd exited"
fi

# A stopped partition must not be refetched in a loop: kforkd's own CPU
# time (utime + stime, in clock ticks) over 2 idle seconds.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/${KPID[kforkd]}/stat" 2>/dev/null || echo 0; }
c0=$(cpu_ticks)
sleep 2
c1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
ms=$(((c1 - c0) * 1000 / hz))
if [ "$ms" -le 200 ]; then
	pass "kforkd idle: $ms ms of CPU in 2 s"
else
	fail "kforkd busy while idle: $ms ms of CPU in 2 s"
fi

# The log: error lines naming the bad partition and the batch's offset.
errs=$(grep -E "^[^ ]+ error " "$tmp/kforkd.log" || true)
named=$(grep -F "$TOPIC/$BAD:" <<< "$errs" | grep -cF "offset $base" || true)
others=$(grep -vF "$TOPIC/$BAD:" <<< "$errs" | grep -c . || true)
echo "--- error lines in kforkd's log:"
printf '%s\n' "$errs"
if [ "$named" -ge 1 ]; then
	pass "an error line names $TOPIC/$BAD and offset $base"
else
	fail "no error line names $TOPIC/$BAD and offset $base"
fi
if [ "$named" -eq 1 ]; then
	pass "exactly one error line for the corrupt batch"
else
	fail "$named error lines for the corrupt batch, want 1"
fi
if [ "$others" -eq 0 ]; then
	pass "no other error lines"
else
	fail "$others other error lines"
fi

# The status, one reading for every field.
if js=$(kf_status kforkd); then
	pass "kforkctl status: exit 0"
	mapfile -t v < <(kf_json "$js" '[(p, a[p]["paused"]) for p in sorted(a)]' \
		"a[$BAD].get('paused_reason')" \
		'[a[p].get("paused_reason") for p in sorted(a) if p != '$BAD']' \
		'[a[p]["committed"] for p in sorted(a)]' 'd["state"]')
	check "status: paused per partition" "${v[0]}" \
		"[(0, False), (1, False), (2, True), (3, False)]"
	reason=${v[1]}
	if [[ $reason == *"offset $base"* ]]; then
		pass "status: $TOPIC/$BAD paused_reason: $reason"
	else
		fail "status: $TOPIC/$BAD paused_reason '$reason' does not name offset $base"
	fi
	check "status: no reason on the others" "${v[2]}" "[None, None, None]"
	c=${want#ok }
	check "status: committed" "${v[3]}" "[${c// /, }]"
	check "status: state" "${v[4]}" "stable"
else
	fail "kforkctl status failed: $(kf_ctl kforkd status 2>&1)"
fi

# It keeps consuming the other partitions: more records everywhere.
db produce "$TOPIC" 400 codec=lz4 keys=seq
watermarks "$TOPIC" $P
w=("${HW[@]}")
w[$BAD]=$stop
want="ok ${w[*]}"
end=$(($(date +%s) + 60))
while (($(date +%s) < end)); do
	db committed "$GROUP" "$TOPIC" "$parts"
	[ "$DB_REPLY" = "$want" ] && break
	sleep 0.2
done
if [ "$DB_REPLY" = "$want" ]; then
	pass "100 more records a partition: committed $DB_REPLY"
else
	fail "100 more records a partition: committed $DB_REPLY, want $want"
fi

# The workers' files: every offset below the commit points, nothing of the
# bad partition at or after the corrupt batch.
got=$(cat "$tmp"/out/worker-*.log | awk -v t="$TOPIC" -v w="${want#ok }" -v bad=$BAD '
	BEGIN { n = split(w, c, " ") }
	$1 == t { seen[$2 " " $3] = 1; if ($2 == bad && $3 >= c[bad + 1]) past++ }
	END {
		m = 0
		for (p = 0; p < n; p++)
			for (o = 0; o < c[p + 1]; o++)
				if (!((p " " o) in seen)) m++
		print m + 0, past + 0
	}')
if [ "$got" = "0 0" ]; then
	pass "file handler output: every offset below the commit points, none from $stop on in $BAD"
else
	fail "file handler output: missing, past-the-batch = $got"
fi

# A graceful stop.
kf_stop kforkd 20 || true
# KFORKCTL.md says it prints "ok"; kforkctl.c prints what follows the
# answer's "ok" line, nothing for stop.  Either is accepted.
if [ "$KF_CTL_RC" -eq 0 ] && { [ -z "$KF_CTL_OUT" ] || [ "$KF_CTL_OUT" = ok ]; }; then
	pass "kforkctl stop: exit 0, '$KF_CTL_OUT'"
else
	fail "kforkctl stop: exit $KF_CTL_RC, '$KF_CTL_OUT', want exit 0"
fi
if [ "$KF_KILLED" = 1 ]; then
	fail "kforkd still running 20 s after kforkctl stop"
elif [ "$KF_EXIT" -eq 0 ]; then
	pass "kforkd exits 0 after kforkctl stop"
else
	fail "kforkd exit status $KF_EXIT after kforkctl stop"
fi
db committed "$GROUP" "$TOPIC" "$parts"
if [ "$DB_REPLY" = "$want" ]; then
	pass "committed after the stop: $DB_REPLY"
else
	fail "committed after the stop: $DB_REPLY, want $want"
fi

if [ "$FAILED" -ne 0 ]; then
	echo "--- kforkd log (tail)"
	tail -40 "$tmp/kforkd.log"
fi
summary
