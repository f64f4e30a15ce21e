#!/usr/bin/env bash
# kforkd beside other consumers on devbroker (run by `make compare`, not by
# make check).  It prints two markdown tables and fails only if a consumer
# does not drain (part 1) or stops before its time (part 2).
#
# Part 1, drain: one topic of COMPARE_N records (default 1 M; 8 partitions,
# 100-byte values, lz4, keys=seq), produced before any consumer starts.
# Each consumer, in its own group and one after another (2 shared cores),
# drains it from the beginning with no processing; the time runs from its
# start until the group's committed offsets equal the high watermarks
# (read by devbroker).  kforkd with 1, 2 and 4 noop workers, kcat -G,
# confluent-kafka and kafka-python (compare_*.py; 500 ms auto commit like
# kforkd's commit_interval_ms).  CPU from /proc/PID/stat (drain-lib.sh);
# kcat exits by itself at the end (-e) and runs under time(1).
#
# Part 2, heavy processing: every record costs 50 ms of CPU, on both cores:
# kforkd with 2 burn-handler workers; confluent-kafka and kafka-python as 2
# processes each in one group, burning the same 50 ms in a pure-Python
# loop that holds the GIL (compare_common.py).  Each uses its documented
# defaults but session timeout 6 s.
#   sparse: one record every COMPARE_SPARSE_EVERY s (4) to the next of 8
#           partitions for COMPARE_SPARSE_S s (60).  The three consumers run
#           at the same time, each in its own group, on the same records
#           (they burn 150 ms per 4 s together, so they do not compete).
#   dense:  a backlog of COMPARE_DENSE_N records (4000, 8 partitions, more
#           than 2 cores can burn through in the run), each consumer in
#           turn for COMPARE_DENSE_S s (75) from its start.
# Counted: rebalances (kforkd: counters.rebalances = generations joined;
# Python: on_assign/on_revoke calls of both processes), commit failures
# (kforkd: counters.commit_failures; confluent-kafka: on_commit errors;
# kafka-python: its "commit failed" log lines, the only way its auto commit
# reports them), duplicates (kforkd: records_done minus the committed
# records after `kforkctl quiet`; Python: repeated lines of their output
# files), records/s = distinct records processed / run time.
#
# Environment: COMPARE_N, COMPARE_PARTS ("1 2", or one of them),
# COMPARE_SPARSE_S, COMPARE_SPARSE_EVERY, COMPARE_DENSE_N, COMPARE_DENSE_S,
# COMPARE_KEEP=1 keeps the logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/drain-lib.sh"
KFORKD=${KFORKD:-$BUILDDIR/supervisor/kforkd}
KFORKCTL=${KFORKCTL:-$BUILDDIR/supervisor/kforkctl}
KCAT=${KCAT:-kcat}
PY=${BENCH_PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the source tree
[ -x "$KFORKD" ] || { echo "no kforkd at $KFORKD" >&2; exit 99; }
N=${COMPARE_N:-1000000}
PARTS=${COMPARE_PARTS:-1 2}
SPARSE_S=${COMPARE_SPARSE_S:-60}
SPARSE_EVERY=${COMPARE_SPARSE_EVERY:-4}
DENSE_N=${COMPARE_DENSE_N:-4000}
DENSE_S=${COMPARE_DENSE_S:-75}
BURN_US=50000
SESSION_MS=6000
P=8
TIMEOUT_MS=600000

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kf-compare.XXXXXX")
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}
cleanup() {
	stop_all
	if [ -n "${COMPARE_KEEP:-}" ] || [ "$FAILED" -ne 0 ]; then
		echo "logs kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}
at_exit cleanup

has_py() { "$PY" -c "import $1" 2>/dev/null; }
HAVE_CK=false HAVE_KP=false
has_py confluent_kafka && HAVE_CK=true ||
	echo "NOTE: $PY has no confluent_kafka (Debian python3-confluent-kafka): skipped"
has_py kafka && has_py lz4 && HAVE_KP=true ||
	echo "NOTE: $PY has no kafka or lz4 (Debian python3-kafka python3-lz4): kafka-python skipped"

machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "$(uname -srm), ${cpu:-unknown CPU}, $(nproc) cores," \
		"$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
}
header() {
	echo "Command: \`make compare\` (tests/bench/compare.sh); $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "Load average at start: $LOAD0; machine: $(machine)"
	echo "Versions: confluent-kafka $($HAVE_CK && "$PY" -c 'import confluent_kafka as c; print(c.version()[0], "on librdkafka", c.libversion()[0])' || echo -)," \
		"kafka-python $($HAVE_KP && "$PY" -c 'import kafka; print(kafka.__version__)' || echo -)," \
		"kcat $("$KCAT" -V 2>/dev/null | awk '/^Version/ { print $2 }')"
}

# kforkd_conf FILE GROUP TOPIC WORKERS HANDLER [KAFKA_EXTRA]
kforkd_conf() {
	cat > "$1" <<EOF
kafka = {
  bootstrap = "$BOOTSTRAP";
  group = "$2";
  topics = [ "$3" ];
  session_timeout_ms = $SESSION_MS;
  ${6:-}
};
workers = {
  count = $4;
  nice = 0;
  handler = $5;
};
log = { level = "info"; };
control = { socket = "$tmp/$2.sock"; };
EOF
}

ctl() { "$KFORKCTL" -s "$tmp/$1.sock" "${@:2}"; }

# status_get GROUP PYEXPR...: each over the status JSON as d, one a line.
status_get() {
	local js
	js=$(ctl "$1" status 2>/dev/null) || return 1
	"$PY" - "$js" "${@:2}" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
for e in sys.argv[2:]:
    print(eval(e))
PY
}

# ------------------------------------------------------------- part 1
ROWS1=()
row1() {  # NAME TICKS NOTE
	local s
	if ! $DRAIN_OK; then
		fail "$1 did not drain $N records in $((TIMEOUT_MS / 1000)) s: committed $DRAIN_REPLY, want $WANT"
		ROWS1+=("| $1 | $ROW_LOAD | did not drain | | | | $3 |")
		return
	fi
	pass "$1 drained $TOTAL records in $DRAIN_MS ms"
	s=$(awk -v ms="$DRAIN_MS" 'BEGIN { printf "%.2f", ms / 1000 }')
	ROWS1+=("| $1 | $ROW_LOAD | $s | $(awk -v n="$TOTAL" -v ms="$DRAIN_MS" 'BEGIN { printf "%.0f", n / (ms / 1000) }') | $(cpu_per_m "$2" "$TOTAL") | $(awk -v a="$DRAIN_FIRST_MS" 'BEGIN { printf "%.2f", a / 1000 }') | $3 |")
}

drain_kforkd() {  # WORKERS
	local g=cmp-kforkd-$1 t0
	ROW_LOAD=$(cut -d" " -f1 /proc/loadavg)
	kforkd_conf "$tmp/$g.conf" "$g" drain "$1" '{ type = "noop"; }' 'commit_interval_ms = 500;'
	t0=$(now_ms)
	"$KFORKD" -c "$tmp/$g.conf" > "$tmp/$g.log" 2>&1 &
	PIDS+=($!)
	drain_wait "$g" drain $P $! "$t0" $TIMEOUT_MS
	row1 "kforkd, $1 noop worker$([ "$1" = 1 ] || echo s)" "$DRAIN_TICKS" \
		"$(awk -v k="$DRAIN_HWM_KIB" -v a="$DRAIN_ANON_KIB" 'BEGIN { printf "supervisor peak RSS %.1f MiB (RssAnon at the end %.1f MiB: the rest is the workers\x27 shared rings)", k / 1024, a / 1024 }')"
}

# kcat -G commits every 5 s whatever -X auto.commit.interval.ms says (that
# lands in its topic config): with -e it exits at the end of every
# partition and its close commits the rest.
drain_kcat() {
	local g=cmp-kcat t0 tk tm=()
	ROW_LOAD=$(cut -d" " -f1 /proc/loadavg)
	[ ! -x /usr/bin/time ] || tm=(/usr/bin/time -f '%U %S' -o "$tmp/kcat.time")
	t0=$(now_ms)
	"${tm[@]}" "$KCAT" -b "$BOOTSTRAP" -G "$g" -o beginning -q -e -f '' drain \
		> /dev/null 2> "$tmp/kcat.log" &
	PIDS+=($!)
	drain_wait "$g" drain $P $! "$t0" $TIMEOUT_MS
	tk=$DRAIN_TICKS
	[ ! -s "$tmp/kcat.time" ] ||
		tk=$(awk -v hz="$CLK" '{ printf "%d", ($1 + $2) * hz }' "$tmp/kcat.time")
	row1 "kcat -G (librdkafka $(kcat -V 2>/dev/null | sed -n 's/.*librdkafka \([0-9.]*\).*/\1/p'))" \
		"$tk" "exits at the end (-e), commits on close"
}

drain_py() {  # NAME SCRIPT
	local g=cmp-$1 t0
	ROW_LOAD=$(cut -d" " -f1 /proc/loadavg)
	t0=$(now_ms)
	"$PY" "$here/$2" drain "$BOOTSTRAP" "$g" drain > /dev/null 2> "$tmp/$g.log" &
	PIDS+=($!)
	drain_wait "$g" drain $P $! "$t0" $TIMEOUT_MS
	row1 "$1" "$DRAIN_TICKS" "auto commit 500 ms, one process"
}

part1() {
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	make_topic drain $P "$N"
	drain_kforkd 1
	drain_kforkd 2
	drain_kforkd 4
	drain_kcat
	! $HAVE_CK || drain_py confluent-kafka compare_confluent.py
	! $HAVE_KP || drain_py kafka-python compare_kafkapython.py
	echo
	echo "### Draining $N records (no processing)"
	echo
	header
	echo
	echo "| consumer | load avg | seconds | records/s | CPU s per M records | first commit after (s) | note |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
	printf '%s\n' "${ROWS1[@]}"
	echo
	echo "$N records, $P partitions, 100-byte values, lz4, on devbroker (librdkafka's mock" \
		"cluster, 3 brokers); each consumer in its own group, one after another; time from" \
		"its start until the group's committed offsets equal the high watermarks; CPU:" \
		"utime+stime of the process and its children (kforkd: supervisor and workers)."
}

# ------------------------------------------------------------- part 2
# A running member: kforkd (one process) or two Python processes.
start_member() {  # KIND GROUP TOPIC
	local i
	ROW_LOAD=$(cut -d" " -f1 /proc/loadavg)
	case $1 in
	kforkd)
		kforkd_conf "$tmp/$2.conf" "$2" "$3" 2 "{ type = \"burn\"; usec = $BURN_US; }"
		"$KFORKD" -c "$tmp/$2.conf" > "$tmp/$2.log" 2>&1 &
		KF_PID[$2]=$!
		PIDS+=($!)
		;;
	*)
		for i in 1 2; do
			"$PY" "$here/compare_$1.py" burn "$BOOTSTRAP" "$2" "$3" \
				"$tmp/$2.$i.out" "$tmp/$2.$i.json" $BURN_US $SESSION_MS \
				> /dev/null 2> "$tmp/$2.$i.log" &
			PY_PIDS[$2]="${PY_PIDS[$2]:-} $!"
			PIDS+=($!)
		done
		;;
	esac
}

# stop_member KIND GROUP TOPIC: stop it and set RES_REB, RES_CF, RES_DUP,
# RES_DISTINCT, RES_OK.
stop_member() {
	local p rc v js reb qt c
	RES_OK=true
	case $1 in
	kforkd)
		kill -0 "${KF_PID[$2]}" 2>/dev/null || RES_OK=false
		RES_TICKS=$(tree_ticks "${KF_PID[$2]}")
		# records/s from records_done now, when the Python peers stop too.
		RES_DONE_NOW=$(status_get "$2" 'd["counters"]["records_done"]') || RES_OK=false
		# Quiet: the workers finish what their rings hold (the whole
		# backlog, with 100-byte records) and it commits; then records_done
		# against the committed records gives the duplicates.
		ctl "$2" quiet > /dev/null || RES_OK=false
		QS_LAST=
		qt=$(now_ms)
		wait_for 300 kf_quiet_settled "$2" || RES_OK=false
		qt=$((($(now_ms) - qt) / 1000))
		mapfile -t v < <(status_get "$2" 'd["counters"]["rebalances"]' \
			'd["counters"]["commit_failures"]' 'd["counters"]["records_done"]' \
			'd["counters"]["heartbeat_max_gap_ms"]' \
			'sum(w["restarts"] for w in d["workers"])')
		ctl "$2" stop > /dev/null || true
		rc=0
		wait "${KF_PID[$2]}" || rc=$?
		[ $rc = 0 ] || RES_OK=false
		committed "$2" "$3" $P
		c=0
		for p in "${COMMITTED[@]}"; do [ "$p" -lt 0 ] || c=$((c + p)); done
		RES_REB="$((${v[0]:-1} - 1)) (one member, ${v[0]:-?} generation; heartbeat max gap ${v[3]:-?} ms; worker restarts ${v[4]:-?}; quiet took $qt s to finish what its rings held)"
		RES_CF=${v[1]:-?}
		RES_DUP=$((${v[2]:-0} - c))
		RES_DISTINCT=$((RES_DONE_NOW - RES_DUP))
		;;
	*)
		RES_TICKS=0
		for p in ${PY_PIDS[$2]}; do RES_TICKS=$((RES_TICKS + $(ticks "$p"))); done
		for p in ${PY_PIDS[$2]}; do
			kill -0 "$p" 2>/dev/null || RES_OK=false
			kill -TERM "$p" 2>/dev/null || true
		done
		for p in ${PY_PIDS[$2]}; do wait "$p" 2>/dev/null || RES_OK=false; done
		js=$("$PY" - "$tmp/$2".*.json <<'PY'
import json, sys
st = [json.load(open(f)) for f in sys.argv[1:]]
print(" ".join(str(s["assigns"]) for s in st), sum(s["revokes"] for s in st),
      "%d+%d" % (sum(s["commit_failures"] for s in st), sum(s.get("commit_failures_at_close", 0) for s in st)),
      sum(s["group_errors"] for s in st),
      ",".join(sorted(set(e for s in st for e in s.get("errors", [])))) or "-",
      ",".join(sorted(set(e for s in st for e in s.get("group_error_names", [])))) or "-")
PY
		) || { js="0 0 0 0 0 - -"; RES_OK=false; }
		read -r a1 a2 rv cf ge names gnames <<< "$js"
		reb=$((a1 + a2 - 2))
		RES_REB="$reb (on_assign $a1+$a2, on_revoke $rv$([ "$ge" = 0 ] || echo "; poll() raised $ge times: $gnames"))"
		RES_CF="${cf%+*} during the run, ${cf#*+} at close"
		[ "$names" = - ] || RES_CF="$RES_CF ($names)"
		read -r RES_DISTINCT RES_DUP <<< "$(cat "$tmp/$2".*.out 2>/dev/null |
			awk '{ k = $1 " " $2; if (k in s) d++; s[k] = 1 } END { print length(s) + 0, d + 0 }')"
		;;
	esac
}

# Quiet and settled: nothing in flight, and records_done and the committed
# sum unchanged since the last look (1.5 s ago: commit_interval_ms 1000).
kf_quiet_settled() {
	local v now
	sleep 1.3
	mapfile -t v < <(status_get "$1" 'd["state"]' 'sum(w["inflight"] for w in d["workers"])' \
		'sum(a["committed"] or 0 for a in d["assignment"])' 'd["counters"]["records_done"]')
	now="${v[2]:-x} ${v[3]:-y}"
	[ "${v[0]:-}" = quiet ] && [ "${v[1]:-1}" = 0 ] && [ "$now" = "$QS_LAST" ] && return 0
	QS_LAST=$now
	return 1
}

KINDS=(kforkd)
declare -A KF_PID=() PY_PIDS=() LABEL=(
	[kforkd]="kforkd, 2 burn workers"
	[confluent]="confluent-kafka, 2 processes"
	[kafkapython]="kafka-python, 2 processes")
ROWS2=()
row2() {  # CASE KIND SECONDS PRODUCED
	local rate
	rate=$(awk -v n="$RES_DISTINCT" -v s="$3" -v t="$RES_TICKS" -v hz="$CLK" 'BEGIN {
		cpu = t / hz
		printf "%.1f | %.2f | %s", n / s, cpu / s, (cpu > 0 ? sprintf("%.1f", n / cpu) : "-") }')
	ROWS2+=("| $1 | ${LABEL[$2]} | $ROW_LOAD | $RES_REB | $RES_CF | $RES_DUP | $RES_DISTINCT of $4 | $rate |")
	if $RES_OK; then
		pass "$1 ${LABEL[$2]}: processed $RES_DISTINCT of $4, $RES_DUP duplicates"
	else
		fail "$1 ${LABEL[$2]}: a process stopped early or did not stop cleanly (logs in $tmp)"
	fi
}

part2() {
	local k i t0
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	! $HAVE_CK || KINDS+=(confluent)
	! $HAVE_KP || KINDS+=(kafkapython)
	# sparse: all at once, each in its own group, the same records.
	db topic sparse $P
	for k in "${KINDS[@]}"; do start_member "$k" "cmp-sparse-$k" sparse; done
	t0=$(now_ms)
	i=0
	while (($(now_ms) < t0 + SPARSE_S * 1000)); do
		db produce sparse 1 partition=$((i % P))
		i=$((i + 1))
		sleep "$SPARSE_EVERY"
	done
	sleep 5   # time for the last record (50 ms) and a commit
	for k in "${KINDS[@]}"; do
		stop_member "$k" "cmp-sparse-$k" sparse
		row2 sparse "$k" "$((SPARSE_S + 5))" "$i"
	done
	# dense: a backlog, one consumer after another.
	make_topic dense $P "$DENSE_N" size=100
	for k in "${KINDS[@]}"; do
		start_member "$k" "cmp-dense-$k" dense
		sleep "$DENSE_S"
		stop_member "$k" "cmp-dense-$k" dense
		row2 dense "$k" "$DENSE_S" "$DENSE_N"
	done
	PIDS=()
	echo
	echo "### Heavy processing: 50 ms of CPU per record on both cores, session timeout 6 s"
	echo
	header
	echo
	echo "| traffic | consumer | load avg | rebalances after the first assignment | commit failures | duplicates | records processed | records/s | cores used | records per CPU s |"
	echo "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${ROWS2[@]}"
	echo
	echo "sparse: one record every $SPARSE_EVERY s to the next of $P partitions for $SPARSE_S s," \
		"the three consumers at once, each in its own group (records/s over $((SPARSE_S + 5)) s:" \
		"the rate the records came at). dense: a backlog of $DENSE_N records in $P partitions," \
		"each consumer alone for $DENSE_S s from its start (join included); 2 cores at 50 ms" \
		"a record can do at most 40 records/s. The cores are shared with other work, so" \
		"records/s depends on the share each got: cores used (CPU seconds of all its processes" \
		"over the run / run time) and records per CPU second (at most 20) show what it did" \
		"with its share."
	echo "Processing: kforkd's burn handler spins 50 ms of thread CPU time in C per record;" \
		"the Python peers spin the same 50 ms of thread CPU time in" \
		"$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import compare_common as c; print(c.BURN_WHAT.replace("USEC", "50 ms"))' "$here")," \
		"in their poll loop, one record at a time, then write \"partition offset seconds\" to their output file."
	echo "Settings: each client's documented defaults except the session timeout, 6 s:" \
		"kforkd heartbeat_interval_ms 3000, rebalance_timeout_ms 300000, commit_interval_ms 1000" \
		"(commits only finished records), and workers.nice 0 (default 5) so that its workers get" \
		"the shared cores on the same terms as the Python processes; confluent-kafka (librdkafka) heartbeat.interval.ms 3000," \
		"max.poll.interval.ms 300000, auto commit every 5 s of offsets stored when poll() returns" \
		"a record; kafka-python heartbeat_interval_ms 3000 (background thread)," \
		"max_poll_interval_ms 300000, max_poll_records 500, auto commit every 5 s (of the positions" \
		"poll() has returned)."
	echo "Rebalances after the first assignment: kforkd, counters.rebalances (generations joined)" \
		"minus 1; Python, the on_assign calls of both processes minus 2 (each one's first)." \
		"Records processed: kforkd, records_done when the run ends (its rings still hold more:" \
		"duplicates are counted once those are done, after \`kforkctl quiet\`); Python, distinct" \
		"lines in the output files when they are stopped."
	echo "The test broker is not a real one: in librdkafka 2.0.2's mock a group that is" \
		"rebalancing answers OffsetCommit with REBALANCE_IN_PROGRESS and waits at most the session" \
		"timeout - 1 s (5 s) for its members to join again, where a real broker accepts commits of" \
		"the current generation until the new one starts and waits up to each member's rebalance" \
		"timeout (max.poll.interval.ms, 300 s); it also answers a SyncGroup that comes after the" \
		"leader's with INVALID_REQUEST, which kafka-python raises from poll() (counted, then polled" \
		"again). The Python rows' extra rebalances, commit failures and duplicates come from the" \
		"rebalance when their second process joins, made worse by these; kforkd is one member and" \
		"has no such rebalance."
}

db_start 3
for part in $PARTS; do "part$part"; done
summary
