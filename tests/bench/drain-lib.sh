# Shared by the end-to-end benchmarks (compare.sh, bench-drain.sh), on
# devbroker, or on real Kafka when DRAIN_ORACLE is set: the path of
# tests/kafka/oracle/oracle.sh, with tests/kafka/as-devbroker.sh sourced
# (its db and watermarks) and DRAIN_TMP a directory for the waiter's files.
# Source tests/integration/common.sh first (db, pass, fail); this file
# starts nothing by itself.  It gives:
#
#   ticks PID               utime+stime+cutime+cstime of PID in clock ticks
#                           (0 when it is gone)
#   tree_ticks PID          ticks of PID plus those of its live children
#   hwm_kib PID             VmHWM (peak RSS) of PID in KiB
#   rss_kib PID             VmRSS of PID in KiB
#   anon_kib PID            RssAnon of PID in KiB (private memory)
#   make_topic NAME P N [PRODUCE_OPTS...]
#                           create the topic, produce N records (default
#                           options codec=lz4 size=100 keys=seq), check that
#                           the mock dropped nothing (every log start is 0)
#                           and the watermarks add up to N; sets TOTAL and
#                           WANT ("ok HW0 HW1 ...", what `db committed`
#                           answers once the group has consumed it all); on
#                           Kafka also the file DRAIN_TMP/NAME.ends
#                           ("PARTITION HW" lines)
#   drain_prepare GROUP TOPIC
#                           on Kafka: start the waiter, the oracle's
#                           wait-committed (one JVM polling the group's
#                           committed offsets with Kafka's AdminClient every
#                           0.1 s), and return once it is ready, before the
#                           consumer starts; on devbroker nothing
#   drain_wait GROUP TOPIC P PID T0 TIMEOUT_MS
#                           poll the group's committed offsets every 0.1 s
#                           (devbroker: `db committed`; Kafka: the waiter's
#                           answer) until they are WANT, PID exits (on Kafka,
#                           and 10 s later) or the time is up; then read
#                           PID's CPU, SIGTERM it and reap it.
#                           Sets DRAIN_OK (true/false), DRAIN_MS (from T0),
#                           DRAIN_FIRST_MS (the group's first commit, about
#                           when it had joined), DRAIN_TICKS (its CPU and
#                           its children's, read while it still ran: when it
#                           exits by itself, the caller measures it, e.g. by
#                           time(1)), DRAIN_HWM_KIB (VmHWM of PID),
#                           DRAIN_ANON_KIB (its RssAnon then: VmHWM also
#                           counts shared memory it touched, e.g. rings)
#                           and DRAIN_RSS_KIB (VmRSS then)
#   cpu_per_m TICKS RECORDS CPU seconds per million records, 2 decimals
#
# CPU comes from /proc/PID/stat: the process (all its threads), its live
# children and the children it has reaped, so a supervisor and its workers
# are counted together.
# shellcheck shell=bash disable=SC2034
CLK=$(getconf CLK_TCK)

ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	# Field 2, the command name, may hold spaces: cut after its ')'.
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $((${12} + ${13} + ${14} + ${15}))
}

tree_ticks() {
	local t c
	t=$(ticks "$1")
	for c in $(pgrep -P "$1"); do
		t=$((t + $(ticks "$c")))
	done
	echo "$t"
}

hwm_kib() { awk '/^VmHWM:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null; }
anon_kib() { awk '/^RssAnon:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null; }
rss_kib() { awk '/^VmRSS:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null; }

make_topic() {
	local name=$1 parts=$2 n=$3 t0 p lo h his=()
	shift 3
	[ $# -gt 0 ] || set -- codec=lz4 size=100 keys=seq
	db topic "$name" "$parts"
	t0=$(now_ms)
	db produce "$name" "$n" "$@"
	echo "produced $n records into $name ($parts partitions, $*) in $(($(now_ms) - t0)) ms"
	if [ -n "${DRAIN_ORACLE:-}" ]; then
		watermarks "$name" "$parts"
		if [ "$TOTAL" -ne "$n" ]; then
			fail "$name: end offsets add up to $TOTAL, not $n"
			summary
			exit 1
		fi
		: > "$DRAIN_TMP/$name.ends"
		for p in "${!HW[@]}"; do echo "$p ${HW[$p]}" >> "$DRAIN_TMP/$name.ends"; done
		WANT="ok ${HW[*]}"
		return 0
	fi
	TOTAL=0
	for p in $(seq 0 $((parts - 1))); do
		db hwm "$name" "$p"
		read -r _ lo h <<< "$DB_REPLY"
		if [ "$lo" -ne 0 ]; then
			fail "$name/$p: log start $lo: the mock dropped records (retention)"
			summary
			exit 1
		fi
		his+=("$h")
		TOTAL=$((TOTAL + h))
	done
	if [ "$TOTAL" -ne "$n" ]; then
		fail "$name: watermarks add up to $TOTAL, not $n"
		summary
		exit 1
	fi
	WANT="ok ${his[*]}"
}

DRAIN_WAITER=
drain_prepare() {
	[ -n "${DRAIN_ORACLE:-}" ] || return 0
	local f=$DRAIN_TMP/$1.wait
	"$DRAIN_ORACLE" wait-committed "$1" "$2" --ends "$DRAIN_TMP/$2.ends" --interval-ms 100 \
		--timeout-s 3600 --bootstrap "$BOOTSTRAP" > "$f" 2> "$f.err" &
	DRAIN_WAITER=$!
	waiter_ready() { grep -q '^ready' "$f" || ! kill -0 "$DRAIN_WAITER" 2>/dev/null; }
	wait_for 120 waiter_ready || true
	if ! grep -q '^ready' "$f"; then
		echo "drain_prepare: the oracle's wait-committed did not start: $(cat "$f.err")" >&2
		exit 99
	fi
}

# drain_measure PID TICKS: DRAIN_TICKS and DRAIN_{HWM,ANON,RSS}_KIB of the
# consumer now; once it has exited, TICKS (the last seen) and no memory.
drain_measure() {
	local pid=$1
	DRAIN_TICKS=$2
	DRAIN_HWM_KIB=0
	DRAIN_ANON_KIB=0
	DRAIN_RSS_KIB=0
	if kill -0 "$pid" 2>/dev/null; then
		DRAIN_TICKS=$(tree_ticks "$pid")
		DRAIN_HWM_KIB=$(hwm_kib "$pid")
		DRAIN_ANON_KIB=$(anon_kib "$pid")
		DRAIN_RSS_KIB=$(rss_kib "$pid")
	fi
}

# drain_wait on Kafka: the waiter (drain_prepare) judges; the shell only
# watches PID and reads its CPU while it runs.
drain_wait_kafka() {
	local group=$1 pid=$2 t0=$3 limit=$4 f=$DRAIN_TMP/$1.wait alive tk=0 gone=
	DRAIN_OK=false
	while (($(now_ms) < t0 + limit)); do
		alive=true
		kill -0 "$pid" 2>/dev/null || alive=false
		! $alive || tk=$(tree_ticks "$pid")
		if grep -q '^drained' "$f"; then
			DRAIN_OK=true
			break
		fi
		kill -0 "$DRAIN_WAITER" 2>/dev/null || break
		# a consumer that exits by itself (kcat -e) has committed by then;
		# give the waiter 10 s to see it
		$alive || gone=${gone:-$(now_ms)}
		[ -z "$gone" ] || (($(now_ms) < gone + 10000)) || break
		sleep 0.1
	done
	DRAIN_MS=$(($(now_ms) - t0))
	DRAIN_FIRST_MS=$DRAIN_MS
	if $DRAIN_OK; then
		DRAIN_MS=$(($(awk '$1 == "drained" { print $3 }' "$f") - t0))
		DRAIN_FIRST_MS=$(($(awk '$1 == "first-commit" { print $3 }' "$f") - t0))
	fi
	drain_measure "$pid" "$tk"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if kill -0 "$DRAIN_WAITER" 2>/dev/null; then
		kill -TERM "$DRAIN_WAITER" 2>/dev/null || true
	fi
	wait "$DRAIN_WAITER" 2>/dev/null || true
	DRAIN_WAITER=
	DRAIN_REPLY="$(tr '\n' ' ' < "$f")"
}

drain_wait() {
	if [ -n "${DRAIN_ORACLE:-}" ]; then
		drain_wait_kafka "$1" "$4" "$5" "$6"
		return
	fi
	local group=$1 topic=$2 np=$3 pid=$4 t0=$5 limit=$6 parts none alive tk=0
	parts=$(seq -s, 0 $((np - 1)))
	none="ok$(printf ' -1%.0s' $(seq "$np"))"
	DRAIN_OK=false
	DRAIN_FIRST_MS=
	while (($(now_ms) < t0 + limit)); do
		alive=true
		kill -0 "$pid" 2>/dev/null || alive=false
		! $alive || tk=$(tree_ticks "$pid")
		db committed "$group" "$topic" "$parts"
		[ -n "$DRAIN_FIRST_MS" ] || [ "$DB_REPLY" = "$none" ] ||
			DRAIN_FIRST_MS=$(($(now_ms) - t0))
		if [ "$DB_REPLY" = "$WANT" ]; then
			DRAIN_OK=true
			break
		fi
		$alive || break
		sleep 0.1
	done
	DRAIN_MS=$(($(now_ms) - t0))
	: "${DRAIN_FIRST_MS:=$DRAIN_MS}"
	drain_measure "$pid" "$tk"
	DRAIN_REPLY=$DB_REPLY
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cpu_per_m() { awk -v t="$1" -v n="$2" -v hz="$CLK" 'BEGIN { printf "%.2f", t / hz / (n / 1e6) }'; }
