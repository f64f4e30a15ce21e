#!/usr/bin/env bash
# End-to-end drain benchmark on devbroker (run by `make bench-drain`, not by
# make check; it prints figures and fails only if something does not drain).
#
# A topic of P partitions holds N records (100 bytes, lz4, keys=seq), all
# produced before any consumer starts.  Each consumer, in its own group and
# one after another (2 shared cores), drains it from the beginning; the time
# runs from its start until the group's committed offsets equal the high
# watermarks.  Consumers: kforkd (2 noop workers), kcat -G and a
# confluent-kafka loop (both librdkafka; the last is skipped when the
# system python3 has no confluent_kafka).  CPU seconds are read from
# /proc/PID/stat when the drain is complete: utime+stime of the process
# (all its threads), plus its live children, plus the children it reaped;
# kcat exits by itself (-e, see run_kcat) and is measured by time(1).
# The supervisor's peak RSS is its VmHWM at that point.
#
# Then a second, larger topic (BENCH_DRAIN_BIG records, same records per
# partition, so more partitions) is drained by kforkd, to show that the
# supervisor's peak RSS does not grow with the backlog, and by kcat, whose
# group join is a smaller part of its time there.
#
# The mock keeps at most 5 MiB or 100000 batches per partition: devbroker
# batches 1000 records, so 125000 lz4 records of 100 bytes per partition
# are 125 batches; the script checks that every log start offset is still 0
# and fails otherwise (records would have been dropped).
#
# Environment: BENCH_DRAIN_N (default 1000000), BENCH_DRAIN_P (8),
# BENCH_DRAIN_BIG (10000000; 0 skips it), BENCH_DRAIN_PER_PART for the big
# topic's records per partition (125000), BENCH_DRAIN_KEEP=1 keeps logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/drain-lib.sh"
. "$here/../lib/kforkd.sh"
KCAT=${KCAT:-kcat}
PY=${BENCH_PYTHON:-/usr/bin/python3}
N=${BENCH_DRAIN_N:-1000000}
P=${BENCH_DRAIN_P:-8}
BIG=${BENCH_DRAIN_BIG:-10000000}
PER=${BENCH_DRAIN_PER_PART:-125000}
TIMEOUT_MS=600000

kf_tmpdir bench-drain BENCH_DRAIN_KEEP
tmp=$KF_DIR
cpid=
kill_consumer() {
	[ -n "$cpid" ] || return 0
	kill -KILL "$cpid" 2>/dev/null || true
	wait "$cpid" 2>/dev/null || true
}
at_exit kill_consumer
ROWS=()

# drain NAME GROUP TOPIC PARTS: $cpid is running; wait until GROUP's
# committed offsets are WANT (drain_wait stops it), then record a row.
drain() {
	local name=$1 tk rss=-
	drain_wait "$2" "$3" "$4" "$cpid" "$T0" "$TIMEOUT_MS"
	cpid=
	tk=$DRAIN_TICKS
	[ "$name" != kforkd ] || rss=$(awk -v k="$DRAIN_HWM_KIB" 'BEGIN { printf "%.1f", k / 1024 }')
	# A consumer that exits by itself ran under time(1): its figures.
	if [ -s "$tmp/$name.time" ]; then
		tk=$(awk -v hz="$CLK" '{ printf "%d", ($1 + $2) * hz }' "$tmp/$name.time")
		rm -f "$tmp/$name.time"
	fi
	if ! $DRAIN_OK; then
		fail "$name did not drain $3 in $((TIMEOUT_MS / 1000)) s: committed $DRAIN_REPLY, want $WANT"
		return
	fi
	pass "$name drained $TOTAL records in $DRAIN_MS ms (first commit after $DRAIN_FIRST_MS ms)"
	ROWS+=("$(awk -v n="$name" -v r="$TOTAL" -v ms="$DRAIN_MS" -v tk="$tk" -v hz="$CLK" -v rss="$rss" -v f="$DRAIN_FIRST_MS" 'BEGIN {
		s = ms / 1000; cpu = tk / hz
		printf "%-16s %10d %8.2f %10.0f %14.2f %14s %10.2f", n, r, s, r / s, cpu / (r / 1e6), rss, (ms - f) / 1000 }')")
}

# kforkd is member GROUP ($tmp/GROUP.conf, .log); drain_wait stops it and
# reaps it, like the other consumers: its pid is cpid, not kf_start's.
run_kforkd() {  # NAME GROUP TOPIC PARTS
	kf_conf "$2" "$2" "$3" 2 '{ type = "noop"; }'
	T0=$(now_ms)
	"$KFORKD" -c "$tmp/$2.conf" > "$tmp/$2.log" 2>&1 &
	cpid=$!
	drain "$1" "$2" "$3" "$4"
}

# kcat's -X auto.commit.interval.ms lands in its topic config only (see
# -X dump): the group commits every 5 s, which would round its time up to
# a multiple of 5 s.  So it runs with -e, exits when every partition is at
# its end, and its close commits the final offsets; CPU comes from time(1),
# which it runs under.
run_kcat() {  # TOPIC PARTS
	local tm=()
	[ ! -x /usr/bin/time ] || tm=(/usr/bin/time -f '%U %S' -o "$tmp/kcat.time")
	T0=$(now_ms)
	"${tm[@]}" "$KCAT" -b "$BOOTSTRAP" -G "bench-kcat-$1" -o beginning -q -e -f '' \
		-X enable.auto.commit=true -X auto.commit.interval.ms=500 \
		"$1" > /dev/null 2> "$tmp/kcat.log" &
	cpid=$!
	drain kcat "bench-kcat-$1" "$1" "$2"
}

run_confluent() {  # TOPIC PARTS
	if ! "$PY" -c 'import confluent_kafka' 2>/dev/null; then
		echo "NOTE: $PY has no confluent_kafka (Debian python3-confluent-kafka): confluent-kafka skipped"
		return
	fi
	T0=$(now_ms)
	"$PY" "$here/drain_confluent.py" "$BOOTSTRAP" bench-confluent "$1" \
		> /dev/null 2> "$tmp/confluent.log" &
	cpid=$!
	drain confluent-kafka bench-confluent "$1" "$2"
}

db_start 3
make_topic drain "$P" "$N"
run_kforkd kforkd bench-kforkd drain "$P"
run_kcat drain "$P"
run_confluent drain "$P"

if [ "$BIG" -gt 0 ]; then
	PB=$(((BIG + PER - 1) / PER))
	make_topic drainbig "$PB" "$BIG"
	run_kforkd kforkd bench-kforkd-big drainbig "$PB"
	# Beside it, kcat: on 1 M records its join is most of its time.
	run_kcat drainbig "$PB"
fi

echo
printf "%-16s %10s %8s %10s %14s %14s %10s\n" consumer records seconds records/s "CPU s per M" "peak RSS MiB" "after 1st"
for r in "${ROWS[@]}"; do echo "$r"; done
echo "(after 1st: seconds from the group's first commit to the last one; for kforkd (500 ms"
echo " commit interval) about the drain without the join, for kcat (5 s auto commit, final"
echo " commit on close) not;"
echo " CPU: utime+stime of the process and its children, $(nproc) cores;" \
	"peak RSS: the kforkd supervisor's VmHWM; topics: $N records in $P partitions" \
	"$([ "$BIG" -gt 0 ] && echo "and $BIG in $PB partitions ")(lz4, 100-byte values))"
if [ "$FAILED" -ne 0 ] && [ -f "$tmp/bench-kforkd.log" ]; then
	echo "--- kforkd log (tail)"
	tail -20 "$tmp/bench-kforkd.log"
fi
summary
