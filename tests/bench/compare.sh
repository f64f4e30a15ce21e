#!/usr/bin/env bash
# kforkd beside other consumers (run by `make compare`, not by make check),
# on devbroker (default) or, with COMPARE_BROKER=kafka, on real Apache Kafka
# ($KAFKA_VERSION, default 4.4.0: one broker, KRaft, loopback;
# tests/kafka/lib.sh through tests/kafka/as-devbroker.sh).  It prints
# markdown tables and fails only if a consumer does not drain (part 1) or
# a process stops before its time or does not stop cleanly (parts 2, 3);
# never on a figure.
#
# Peers, each in its own group on the same records:
#   devbroker: kcat -G, confluent-kafka and kafka-python of Debian
#              (/usr/bin/python3: python3-confluent-kafka, python3-kafka,
#              python3-lz4)
#   kafka:     kcat -G; confluent-kafka and kafka-python as pinned in
#              tests/kafka/requirements.txt (the venv of tests/kafka/pyenv.sh);
#              kafka-python 2.0.2 of Debian; Kafka's Java KafkaConsumer
#              (kafka-clients 4.4.0: the oracle's bench-consume, JIT up to C2)
#
# Part 1, drain: one topic of COMPARE_N records (default 1 M; 8 partitions,
# 100-byte values, lz4, keys=seq), produced before any consumer starts.
# Each consumer, one after another (2 shared cores), drains it from the
# beginning with no processing; the time runs from its start until the
# group's committed offsets equal the end offsets, as the broker says:
# devbroker's own answer, or on Kafka the oracle's wait-committed (Kafka's
# AdminClient, polling every 0.1 s in one JVM started before the consumer).
# kforkd with 1, 2 and 4 noop workers, kcat -G, then the peers (500 ms auto
# commit like kforkd's commit_interval_ms).  CPU from /proc/PID/stat
# (drain-lib.sh); kcat exits by itself at the end (-e) and runs under
# time(1).
#
# Part 2, heavy processing: every record costs 50 ms of CPU, on both cores:
# kforkd with 2 burn-handler workers; every other peer as 2 processes in
# one group, burning the same 50 ms in its poll loop (Python: a pure-Python
# loop that holds the GIL, compare_common.py; Java: a loop on the thread's
# CPU time).  Each uses its documented defaults but session timeout 6 s.
#   sparse: one record every COMPARE_SPARSE_EVERY s (4) to the next of 8
#           partitions for COMPARE_SPARSE_S s (60).  The consumers run at
#           the same time, each in its own group, on the same records.
#   dense:  a backlog of COMPARE_DENSE_N records (4000, 8 partitions, more
#           than 2 cores can burn through in the run), each consumer in
#           turn for COMPARE_DENSE_S s (75) from its start.
#
# Part 3, the seed case (default on Kafka only): a handler that stays
# COMPARE_SEED_HOLD_MS (8000) inside one C call that keeps the GIL
# (compare_common.hold_gil: usleep through ctypes.PyDLL), longer than the
# session timeout (6 s; heartbeat interval 1 s).  One record every
# COMPARE_SEED_EVERY s (4) to the next of 8 partitions for COMPARE_SEED_S
# s (60), every consumer at once, each in its own group; then up to
# COMPARE_SEED_TAIL_S s (60) for them to finish.  kforkd runs the same
# Python function as an exec handler (seed_handler.py, 2 workers); the
# Python peers call it in their poll loop (2 processes each); the Java
# consumer sleeps that long in its poll loop (Java has no GIL).
#
# Counted in parts 2 and 3: rebalances (kforkd: counters.rebalances =
# generations joined; the others: on_assign calls of both processes; on
# Kafka also the group coordinator's log: generations and members it
# dropped for a missed session), commit failures (kforkd:
# counters.commit_failures; confluent-kafka: on_commit errors; kafka-python
# and Java: the "commit ... failed" lines their auto commit logs, the only
# way they report them), duplicates (part 2 kforkd: records_done minus the
# committed records after `kforkctl quiet`; otherwise repeated lines of the
# output files), records/s = distinct records processed / run time.
#
# Environment: COMPARE_BROKER (devbroker|kafka), KAFKA_VERSION, COMPARE_N,
# COMPARE_PARTS ("1 2" on devbroker, "1 2 3" on Kafka), COMPARE_SPARSE_S,
# COMPARE_SPARSE_EVERY, COMPARE_DENSE_N, COMPARE_DENSE_S, COMPARE_SEED_S,
# COMPARE_SEED_EVERY, COMPARE_SEED_HOLD_MS, COMPARE_SEED_TAIL_S,
# COMPARE_KEEP=1 keeps the logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/drain-lib.sh"
. "$here/../lib/kforkd.sh"
export BUILDDIR
KCAT=${KCAT:-kcat}
PY=${BENCH_PYTHON:-/usr/bin/python3}   # Debian's
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the source tree
BROKER=${COMPARE_BROKER:-devbroker}
case $BROKER in
devbroker) PARTS=${COMPARE_PARTS:-1 2} ;;
kafka) PARTS=${COMPARE_PARTS:-1 2 3} ;;
*) echo "COMPARE_BROKER must be devbroker or kafka" >&2; exit 99 ;;
esac
N=${COMPARE_N:-1000000}
SPARSE_S=${COMPARE_SPARSE_S:-60}
SPARSE_EVERY=${COMPARE_SPARSE_EVERY:-4}
DENSE_N=${COMPARE_DENSE_N:-4000}
DENSE_S=${COMPARE_DENSE_S:-75}
SEED_S=${COMPARE_SEED_S:-60}
SEED_EVERY=${COMPARE_SEED_EVERY:-4}
SEED_HOLD_MS=${COMPARE_SEED_HOLD_MS:-8000}
SEED_TAIL_S=${COMPARE_SEED_TAIL_S:-60}
SEED_HB_MS=1000
BURN_US=50000
SESSION_MS=6000
P=8
TIMEOUT_MS=600000

# The kforkd of parts 2 and 3 are members of tests/lib/kforkd.sh, named
# after their group: $tmp/GROUP.conf, .log and .sock.
kf_tmpdir compare COMPARE_KEEP failed
tmp=$KF_DIR
# shellcheck disable=SC2034 # drain-lib.sh uses it
DRAIN_TMP=$tmp
PIDS=() # what else runs: the peers, kcat, part 1's kforkd
stop_all() {
	local p
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}
at_exit stop_all

if [ "$BROKER" = kafka ]; then
	. "$here/../kafka/as-devbroker.sh"
	DRAIN_ORACLE=$here/../kafka/oracle/oracle.sh
	# Build the oracle now, not inside the first timed row.
	"$DRAIN_ORACLE" warmup > /dev/null 2>&1 ||
		{ echo "the oracle does not build: $(tail -n 5 "$BUILDDIR/tests/kafka/oracle/build.log" 2>/dev/null)" >&2; exit 99; }
fi

# ------------------------------------------------------------- peers
# PEERS: ids in table order; PLABEL, PPY (python) and PSCRIPT per id.
PEERS=()
declare -A PLABEL=() PPY=() PSCRIPT=()
VERSIONS=
add_py_peer() {  # ID PYTHON SCRIPT LABEL_SUFFIX MODULE...
	local id=$1 py=$2 script=$3 sfx=$4 m v
	shift 4
	for m in "$@"; do
		if ! "$py" -c "import $m" 2>/dev/null; then
			echo "NOTE: $py has no $m: $id skipped"
			return 0
		fi
	done
	case $script in
	compare_confluent.py)
		# version() is (str, int) up to 2.x, a str in newer releases
		v=$("$py" -c 'import confluent_kafka as c; v = c.version(); print("confluent-kafka %s (librdkafka %s)" % (v[0] if isinstance(v, tuple) else v, c.libversion()[0]))') ;;
	*)
		v=$("$py" -c 'import kafka; print("kafka-python", kafka.__version__)') ;;
	esac
	PEERS+=("$id")
	PLABEL[$id]="$v$sfx"
	PPY[$id]=$py
	PSCRIPT[$id]=$script
	VERSIONS+="${VERSIONS:+, }$v$sfx"
}
if [ "$BROKER" = kafka ]; then
	VPY=
	rc=0
	VPY=$(bash "$here/../kafka/pyenv.sh") || rc=$?
	if [ $rc = 0 ]; then
		add_py_peer ck "$VPY" compare_confluent.py "" confluent_kafka
		add_py_peer kp "$VPY" compare_kafkapython.py "" kafka lz4
	else
		echo "NOTE: no venv (tests/kafka/pyenv.sh exit $rc): confluent-kafka and kafka-python of PyPI skipped"
	fi
	add_py_peer kpdeb /usr/bin/python3 compare_kafkapython.py " (Debian)" kafka lz4
	PEERS+=(java)
	PLABEL[java]="Java KafkaConsumer (kafka-clients 4.4.0)"
	VERSIONS+="${VERSIONS:+, }${PLABEL[java]} on $(java -version 2>&1 | head -n 1 | tr -d '"')"
else
	add_py_peer ck "$PY" compare_confluent.py "" confluent_kafka
	add_py_peer kp "$PY" compare_kafkapython.py "" kafka lz4
fi
VERSIONS+=", kcat $("$KCAT" -V 2>/dev/null | awk '/^Version/ { print $2 }')"
# The Java consumer: oracle.sh's JVM (serial GC, 256 MiB heap) but with the
# whole JIT (oracle.sh stops at C1 for its short runs).
JAVA_OPTS="-XX:TieredStopAtLevel=4"

machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "$(uname -srm), ${cpu:-unknown CPU}, $(nproc) cores," \
		"$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
}
broker_desc() {
	if [ "$BROKER" = kafka ]; then
		echo "Apache Kafka $KAFKA_VERSION, $KAFKA_BROKERS broker, $(sed -n 's/^mode=//p' "$KAFKA_LIBS/../info" | sed 's/kraft/KRaft/; s/zookeeper/ZooKeeper/'), loopback"
	else
		echo "devbroker (librdkafka 2.0.2's mock cluster, 3 brokers), loopback"
	fi
}
# the settings given, for the tables' header (before kafka_start exports
# KAFKA_VERSION itself)
ENVS=$(env | grep -E '^(COMPARE_[A-Z_]+|KAFKA_VERSION)=' | grep -vE '^COMPARE_(BROKER|KEEP)=' | sort | tr '\n' ' ' || true)
# what kforkd was built from, when the run started
KF_DESCRIBE=$(git -C "$here/../.." describe --always --dirty 2>/dev/null || echo '?')
header() {
	local envs=$ENVS
	echo "Command: \`make compare$([ "$BROKER" = devbroker ] || echo " COMPARE_BROKER=kafka")\`${envs:+ with ${envs% }} (tests/bench/compare.sh); $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "Broker: $(broker_desc). Load average at start: $LOAD0; machine: $(machine)"
	echo "Versions: kforkd $KF_DESCRIBE, $VERSIONS"
}

# kforkd_conf FILE GROUP TOPIC WORKERS HANDLER [KAFKA_EXTRA]: kforkd's
# defaults but the session timeout (kf_conf sets more keys)
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

# wait_pid PID SECS: its exit status, or 124 after SIGKILL when it is still
# there after SECS
wait_pid() {
	local end=$(($(now_ms) + $2 * 1000)) rc=0
	while kill -0 "$1" 2>/dev/null && (($(now_ms) < end)); do sleep 0.2; done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
		return 124
	fi
	wait "$1" || rc=$?
	return $rc
}

mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
load1() { cut -d" " -f1 /proc/loadavg; }

# ------------------------------------------------------------- part 1
ROWS1=()
row1() {  # NAME TICKS RSS_KIB NOTE
	local s
	if ! $DRAIN_OK; then
		fail "$1 did not drain $N records in $((TIMEOUT_MS / 1000)) s: committed $DRAIN_REPLY, want $WANT"
		ROWS1+=("| $1 | $ROW_LOAD | did not drain | | | | | $4 |")
		return
	fi
	pass "$1 drained $TOTAL records in $DRAIN_MS ms"
	s=$(awk -v ms="$DRAIN_MS" 'BEGIN { printf "%.2f", ms / 1000 }')
	ROWS1+=("| $1 | $ROW_LOAD | $s | $(awk -v n="$TOTAL" -v ms="$DRAIN_MS" 'BEGIN { printf "%.0f", n / (ms / 1000) }') | $(cpu_per_m "$2" "$TOTAL") | $(mib "$3") | $(awk -v a="$DRAIN_FIRST_MS" 'BEGIN { printf "%.2f", a / 1000 }') | $4 |")
}

drain_kforkd() {  # WORKERS
	local g=cmp-kforkd-$1 t0
	ROW_LOAD=$(load1)
	kforkd_conf "$tmp/$g.conf" "$g" drain "$1" '{ type = "noop"; }' 'commit_interval_ms = 500;'
	drain_prepare "$g" drain
	t0=$(now_ms)
	"$KFORKD" -c "$tmp/$g.conf" > "$tmp/$g.log" 2>&1 &
	PIDS+=($!)
	drain_wait "$g" drain $P $! "$t0" $TIMEOUT_MS
	row1 "kforkd, $1 noop worker$([ "$1" = 1 ] || echo s)" "$DRAIN_TICKS" "$DRAIN_HWM_KIB" \
		"$(awk -v a="$DRAIN_ANON_KIB" 'BEGIN { printf "the supervisor; its RssAnon at the end %.1f MiB: the rest is the workers\x27 shared rings", a / 1024 }')"
}

# kcat -G commits every 5 s whatever -X auto.commit.interval.ms says (that
# lands in its topic config): with -e it exits at the end of every
# partition and its close commits the rest.
drain_kcat() {
	local g=cmp-kcat t0 tk tm=() rss=0
	ROW_LOAD=$(load1)
	[ ! -x /usr/bin/time ] || tm=(/usr/bin/time -f '%U %S %M' -o "$tmp/kcat.time")
	drain_prepare "$g" drain
	t0=$(now_ms)
	"${tm[@]}" "$KCAT" -b "$BOOTSTRAP" -G "$g" -o beginning -q -e -f '' drain \
		> /dev/null 2> "$tmp/kcat.log" &
	PIDS+=($!)
	drain_wait "$g" drain $P $! "$t0" $TIMEOUT_MS
	tk=$DRAIN_TICKS
	if [ -s "$tmp/kcat.time" ]; then
		tk=$(awk -v hz="$CLK" '{ printf "%d", ($1 + $2) * hz }' "$tmp/kcat.time")
		rss=$(awk '{ print $3 }' "$tmp/kcat.time")
	fi
	row1 "kcat -G (librdkafka $("$KCAT" -V 2>/dev/null | sed -n 's/.*librdkafka \([0-9.]*\).*/\1/p'))" \
		"$tk" "$rss" "exits at the end (-e), commits on close"
}

drain_peer() {  # ID
	local g=cmp-$1 t0
	ROW_LOAD=$(load1)
	drain_prepare "$g" drain
	t0=$(now_ms)
	if [ "$1" = java ]; then
		KF_ORACLE_JAVA_OPTS=$JAVA_OPTS "$DRAIN_ORACLE" bench-consume drain --group "$g" \
			--auto-commit-ms 500 --bootstrap "$BOOTSTRAP" > /dev/null 2> "$tmp/$g.log" &
	else
		"${PPY[$1]}" "$here/${PSCRIPT[$1]}" drain "$BOOTSTRAP" "$g" drain > /dev/null 2> "$tmp/$g.log" &
	fi
	PIDS+=($!)
	drain_wait "$g" drain $P $! "$t0" $TIMEOUT_MS
	row1 "${PLABEL[$1]}" "$DRAIN_TICKS" "$DRAIN_HWM_KIB" \
		"auto commit 500 ms, one $([ "$1" = java ] && echo JVM || echo process)"
}

part1() {
	local id
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	make_topic drain $P "$N"
	drain_kforkd 1
	drain_kforkd 2
	drain_kforkd 4
	drain_kcat
	for id in ${PEERS[@]+"${PEERS[@]}"}; do drain_peer "$id"; done
	echo
	echo "### Draining $N records (no processing)"
	echo
	header
	echo
	echo "| consumer | load avg | seconds | records/s | CPU s per M records | peak RSS (MiB) | first commit after (s) | note |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	printf '%s\n' "${ROWS1[@]}"
	echo
	echo "$N records, $P partitions, 100-byte values, lz4, on $(broker_desc); each consumer" \
		"in its own group, one after another; time from its start until the group's committed" \
		"offsets equal the end offsets ($([ "$BROKER" = kafka ] &&
			echo "read by Kafka's AdminClient every 0.1 s, the oracle's wait-committed" ||
			echo "read from devbroker every 0.1 s")); CPU: utime+stime of the process and its" \
		"children (kforkd: supervisor and workers); peak RSS: VmHWM of the process (kforkd: the" \
		"supervisor)."
	[ "$BROKER" = devbroker ] ||
		echo "The Java consumer is the oracle's bench-consume: KafkaConsumer of kafka-clients 4.4.0," \
			"classic group protocol, in a JVM with serial GC, 256 MiB heap and the whole JIT; its" \
			"time includes the JVM's start (about 1 s here, with a class data sharing archive)."
}

# ------------------------------------------------------------- parts 2, 3
# A running member: kforkd (one process) or two processes of a peer.
# start_member KIND GROUP TOPIC burn|hold
start_member() {
	local i
	ROW_LOAD=$(load1)
	case $1 in
	kforkd)
		if [ "$4" = burn ]; then
			kforkd_conf "$tmp/$2.conf" "$2" "$3" 2 "{ type = \"burn\"; usec = $BURN_US; }"
		else
			mkdir -p "$tmp/$2.d"
			kforkd_conf "$tmp/$2.conf" "$2" "$3" 2 \
				"{ type = \"exec\"; command = [ \"/usr/bin/python3\", \"$here/seed_handler.py\", \"$((SEED_HOLD_MS * 1000))\", \"$tmp/$2.d\" ]; }" \
				"heartbeat_interval_ms = $SEED_HB_MS;"
		fi
		kf_start "$2"
		;;
	java)
		local work=(--burn-us "$BURN_US")
		[ "$4" = burn ] || work=(--sleep-ms "$SEED_HOLD_MS" --heartbeat-ms "$SEED_HB_MS")
		for i in 1 2; do
			KF_ORACLE_JAVA_OPTS=$JAVA_OPTS "$DRAIN_ORACLE" bench-consume "$3" --group "$2" \
				"${work[@]}" --session-ms $SESSION_MS --out "$tmp/$2.$i.out" \
				--stats "$tmp/$2.$i.json" --client-id "$2-$i" --bootstrap "$BOOTSTRAP" \
				> /dev/null 2> "$tmp/$2.$i.log" &
			PY_PIDS[$2]="${PY_PIDS[$2]:-} $!"
			PIDS+=($!)
		done
		;;
	*)
		for i in 1 2; do
			if [ "$4" = burn ]; then
				"${PPY[$1]}" "$here/${PSCRIPT[$1]}" burn "$BOOTSTRAP" "$2" "$3" \
					"$tmp/$2.$i.out" "$tmp/$2.$i.json" $BURN_US $SESSION_MS \
					> /dev/null 2> "$tmp/$2.$i.log" &
			else
				"${PPY[$1]}" "$here/${PSCRIPT[$1]}" hold "$BOOTSTRAP" "$2" "$3" \
					"$tmp/$2.$i.out" "$tmp/$2.$i.json" $((SEED_HOLD_MS * 1000)) $SESSION_MS $SEED_HB_MS \
					> /dev/null 2> "$tmp/$2.$i.log" &
			fi
			PY_PIDS[$2]="${PY_PIDS[$2]:-} $!"
			PIDS+=($!)
		done
		;;
	esac
}

# Java's auto commit reports a failure only as a WARN line of its
# ConsumerCoordinator: count those in FILE from byte FROM to byte TO
# (0 = the end), and name them.
java_cf() {
	local f=$1 from=$2 to=$3
	{ if [ "$to" = 0 ]; then tail -c +"$((from + 1))" "$f"; else head -c "$to" "$f" | tail -c +"$((from + 1))"; fi; } 2>/dev/null |
		grep -E 'WARN.*auto-commit of offsets.*failed' | sed -E 's/.*failed[^:]*: //' |
		awk '{ n++
			if (/group has already rebalanced/) e = "CommitFailedException"
			else if (/not aware of this member|UNKNOWN_MEMBER_ID/) e = "UnknownMemberIdException"
			else if (/generation/) e = "IllegalGenerationException"
			else if (/rebalanc/) e = "RebalanceInProgressException"
			else e = substr($0, 1, 40)
			names[e] = 1 }
			END { s = ""; for (e in names) s = s (s == "" ? "" : ",") e; print n + 0, (s == "" ? "-" : s) }'
}

# The group coordinator's own log (Kafka only): "GENERATIONS EXPIRED" for
# GROUP up to byte TO of the server log (0 = the end): the generations it
# completed and the members it dropped because their session ran out.
broker_says() {
	local f
	[ "$BROKER" = kafka ] || { echo "- -"; return; }
	f=$KAFKA_DIR/broker1/server.log
	{ if [ "$2" = 0 ]; then cat "$f"; else head -c "$2" "$f"; fi; } 2>/dev/null |
		awk -v g="$1" '
			index($0, "Stabilized group " g " generation ") { gen++ }
			index($0, " in group " g " has failed, removing it from the group") { dropped++ }
			END { print gen + 0, dropped + 0 }'
}
log_size() { if [ "$BROKER" = kafka ]; then wc -c < "$KAFKA_DIR/broker1/server.log"; else echo 0; fi; }

# signal_member KIND GROUP TOPIC: note what must be read while it runs and
# ask it to stop (Python, Java: SIGTERM; kforkd in part 2: `kforkctl
# quiet` first, see below; in part 3: `kforkctl stop`).
declare -A KF_V=() TERM_AT=() LOG_AT=() RES_OK_OF=()
signal_member() {
	local p i
	RES_OK_OF[$2]=${RES_OK_OF[$2]:-true}
	LOG_AT[$2]=$(log_size)
	case $1 in
	kforkd)
		kf_alive "$2" || RES_OK_OF[$2]=false
		KF_V[$2]=$(kf_get "$2" 'd["counters"]["rebalances"]' \
			'd["counters"]["commit_failures"]' 'd["counters"]["records_done"]' \
			'd["counters"]["heartbeat_max_gap_ms"]' \
			'sum(w["restarts"] for w in d["workers"])' | tr '\n' ' ') || RES_OK_OF[$2]=false
		kf_ctl "$2" stop > /dev/null || RES_OK_OF[$2]=false
		;;
	*)
		i=0
		for p in ${PY_PIDS[$2]}; do
			i=$((i + 1))
			kill -0 "$p" 2>/dev/null || RES_OK_OF[$2]=false
			TERM_AT[$2.$i]=$(wc -c < "$tmp/$2.$i.log")
			kill -TERM "$p" 2>/dev/null || true
		done
		;;
	esac
}

# reap_member KIND GROUP TOPIC: wait for it, then set RES_REB, RES_CF,
# RES_DUP, RES_DISTINCT, RES_OK from its output files and counters.
reap_member() {
	local p rc v js a1 a2 rv lost cf cfc ge names gnames i n e
	RES_OK=${RES_OK_OF[$2]:-true}
	case $1 in
	kforkd)
		kf_end "$2" 90
		[ "$KF_EXIT" = 0 ] || RES_OK=false
		read -r -a v <<< "${KF_V[$2]:-}"
		RES_REB="$((${v[0]:-1} - 1)) (one member, ${v[0]:-?} generation$([ "${v[0]:-}" = 1 ] || echo s); heartbeat max gap ${v[3]:-?} ms; worker restarts ${v[4]:-?})"
		RES_CF=${v[1]:-?}
		;;
	*)
		for p in ${PY_PIDS[$2]}; do
			rc=0
			wait_pid "$p" 90 || rc=$?
			[ $rc = 0 ] || RES_OK=false
		done
		js=$("$PY" - "$tmp/$2".*.json <<'PY'
import json, sys
st = [json.load(open(f)) for f in sys.argv[1:]]
print(" ".join(str(s["assigns"]) for s in st), sum(s["revokes"] for s in st),
      sum(s.get("lost", 0) for s in st),
      "%d+%d" % (sum(s.get("commit_failures", 0) for s in st), sum(s.get("commit_failures_at_close", 0) for s in st)),
      sum(s.get("group_errors", 0) for s in st),
      ",".join(sorted(set(e for s in st for e in s.get("errors", [])))) or "-",
      ",".join(sorted(set(e for s in st for e in s.get("group_error_names", [])))) or "-")
PY
		) || { js="0 0 0 0 0+0 0 - -"; RES_OK=false; }
		read -r a1 a2 rv lost cf ge names gnames <<< "$js"
		if [ "$1" = java ]; then
			# its log lines, split at the SIGTERM
			cf=0 cfc=0 names=
			for i in 1 2; do
				read -r n e <<< "$(java_cf "$tmp/$2.$i.log" 0 "${TERM_AT[$2.$i]:-0}")"
				cf=$((cf + n))
				[ "$e" = - ] || names+=",$e"
				read -r n e <<< "$(java_cf "$tmp/$2.$i.log" "${TERM_AT[$2.$i]:-0}" 0)"
				cfc=$((cfc + n))
				[ "$e" = - ] || names+=",$e"
			done
			names=$(tr ',' '\n' <<< "$names" | grep . | sort -u | paste -sd, - || true)
			cf="$cf+$cfc"
			: "${names:=-}"
		fi
		RES_REB="$((a1 + a2 - 2)) (on_assign $a1+$a2, on_revoke $rv$([ "$lost" = 0 ] || echo ", on_lost $lost")$([ "$ge" = 0 ] || echo "; poll() raised $ge times: $gnames"))"
		RES_CF="${cf%+*} during the run, ${cf#*+} at close"
		[ "$names" = - ] || RES_CF="$RES_CF ($names)"
		;;
	esac
	read -r RES_GEN RES_EXP <<< "$(broker_says "$2" "${LOG_AT[$2]:-0}")"
	if [ "$1" = kforkd ] && [ ! -d "$tmp/$2.d" ]; then
		return 0   # part 2: counted from its counters (stop_quiet_kforkd)
	fi
	read -r RES_DISTINCT RES_DUP <<< "$(cat "$tmp/$2".*.out "$tmp/$2".d/*.out 2>/dev/null |
		awk '{ k = $1 " " $2; if (k in s) d++; s[k] = 1 } END { print length(s) + 0, d + 0 }')"
}

# Part 2's kforkd: `kforkctl quiet` lets the workers finish what their
# rings hold (the whole backlog, with 100-byte records) and commit it;
# then records_done against the committed records gives the duplicates.
# Sets RES_TICKS and RES_DONE_NOW first (records/s counts records_done when
# the Python peers stop too), then stops it.
stop_quiet_kforkd() {  # GROUP TOPIC
	local qt c p v
	RES_OK_OF[$1]=true
	kf_alive "$1" || RES_OK_OF[$1]=false
	RES_TICKS=$(tree_ticks "${KPID[$1]}")
	RES_DONE_NOW=$(kf_get "$1" 'd["counters"]["records_done"]') || RES_OK_OF[$1]=false
	kf_ctl "$1" quiet > /dev/null || RES_OK_OF[$1]=false
	QS_LAST=
	qt=$(now_ms)
	wait_for 300 kf_quiet_settled "$1" || RES_OK_OF[$1]=false
	qt=$((($(now_ms) - qt) / 1000))
	signal_member kforkd "$1" "$2"
	reap_member kforkd "$1" "$2"
	read -r -a v <<< "${KF_V[$1]:-}"
	committed "$1" "$2" $P
	c=0
	for p in "${COMMITTED[@]}"; do [ "$p" -lt 0 ] || c=$((c + p)); done
	RES_REB="${RES_REB%)}; quiet took $qt s to finish what its rings held)"
	RES_DUP=$((${v[2]:-0} - c))
	RES_DISTINCT=$((RES_DONE_NOW - RES_DUP))
}

# stop_member KIND GROUP TOPIC (part 2): CPU, then stop and count.
stop_member() {
	local p
	if [ "$1" = kforkd ]; then
		stop_quiet_kforkd "$2" "$3"
		return
	fi
	RES_TICKS=0
	for p in ${PY_PIDS[$2]}; do RES_TICKS=$((RES_TICKS + $(ticks "$p"))); done
	signal_member "$1" "$2" "$3"
	reap_member "$1" "$2" "$3"
}

# Quiet and settled: nothing in flight, and records_done and the committed
# sum unchanged since the last look (1.5 s ago: commit_interval_ms 1000).
kf_quiet_settled() {
	local v now
	sleep 1.3
	mapfile -t v < <(kf_get "$1" 'd["state"]' 'sum(w["inflight"] for w in d["workers"])' \
		'sum(a["committed"] or 0 for a in d["assignment"])' 'd["counters"]["records_done"]')
	now="${v[2]:-x} ${v[3]:-y}"
	[ "${v[0]:-}" = quiet ] && [ "${v[1]:-1}" = 0 ] && [ "$now" = "$QS_LAST" ] && return 0
	QS_LAST=$now
	return 1
}

KINDS=(kforkd ${PEERS[@]+"${PEERS[@]}"})
declare -A PY_PIDS=() LABEL=([kforkd]="kforkd, 2 workers")
for id in ${PEERS[@]+"${PEERS[@]}"}; do
	LABEL[$id]="${PLABEL[$id]}, 2 $([ "$id" = java ] && echo JVMs || echo processes)"
done
broker_cell() {  # the coordinator's view, Kafka only
	[ "$BROKER" = kafka ] || return 0
	echo "; broker: $RES_GEN generation$([ "$RES_GEN" = 1 ] || echo s), $RES_EXP member$([ "$RES_EXP" = 1 ] || echo s) dropped for a missed session"
}
ROWS2=()
row2() {  # CASE KIND SECONDS PRODUCED
	local rate lab=${LABEL[$2]}
	[ "$2" != kforkd ] || lab="kforkd, 2 burn workers"
	rate=$(awk -v n="$RES_DISTINCT" -v s="$3" -v t="$RES_TICKS" -v hz="$CLK" 'BEGIN {
		cpu = t / hz
		printf "%.1f | %.2f | %s", n / s, cpu / s, (cpu > 0 ? sprintf("%.1f", n / cpu) : "-") }')
	ROWS2+=("| $1 | $lab | $ROW_LOAD | ${RES_REB%)}$(broker_cell)) | $RES_CF | $RES_DUP | $RES_DISTINCT of $4 | $rate |")
	if $RES_OK; then
		pass "$1 $lab: processed $RES_DISTINCT of $4, $RES_DUP duplicates"
	else
		fail "$1 $lab: a process stopped early or did not stop cleanly (logs in $tmp)"
	fi
}

# sparse_produce TOPIC COUNT EVERY_S: COUNT records, one every EVERY_S s,
# to partitions 0, 1, ... in turn; returns when the last is written.
sparse_produce() {
	local i
	if [ "$BROKER" = kafka ]; then
		# one JVM for all of them (a start costs about a CPU second)
		"$DRAIN_ORACLE" produce "$1" --count "$2" --every-ms "$(($3 * 1000))" \
			--bootstrap "$BOOTSTRAP" > "$tmp/$1.produced" 2>&1 ||
			{ fail "producing to $1: $(cat "$tmp/$1.produced")"; summary; exit 1; }
		return
	fi
	for ((i = 0; i < $2; i++)); do
		((i == 0)) || sleep "$3"
		db produce "$1" 1 partition=$((i % P))
	done
}

part2() {
	local k i t0 np
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	# sparse: all at once, each in its own group, the same records.
	db topic sparse $P
	for k in "${KINDS[@]}"; do start_member "$k" "cmp-sparse-$k" sparse burn; done
	np=$((SPARSE_S / SPARSE_EVERY))
	t0=$(now_ms)
	sparse_produce sparse "$np" "$SPARSE_EVERY"
	sleep 5   # time for the last record (50 ms) and a commit
	SP_S=$((($(now_ms) - t0) / 1000))
	for k in "${KINDS[@]}"; do
		stop_member "$k" "cmp-sparse-$k" sparse
		row2 sparse "$k" "$SP_S" "$np"
	done
	# dense: a backlog, one consumer after another.
	make_topic dense $P "$DENSE_N" size=100
	for k in "${KINDS[@]}"; do
		start_member "$k" "cmp-dense-$k" dense burn
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
	echo "| traffic | consumer | load avg | rebalances | commit failures | duplicates | records processed | records/s | cores used | records per CPU s |"
	echo "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${ROWS2[@]}"
	echo
	echo "sparse: $np records, one every $SPARSE_EVERY s to the next of $P partitions," \
		"all consumers at once, each in its own group (records/s over $SP_S s:" \
		"the rate the records came at). dense: a backlog of $DENSE_N records in $P partitions," \
		"each consumer alone for $DENSE_S s from its start (join included); 2 cores at 50 ms" \
		"a record can do at most 40 records/s. The cores are shared with other work, so" \
		"records/s depends on the share each got: cores used (CPU seconds of all its processes" \
		"over the run / run time) and records per CPU second (at most 20) show what it did" \
		"with its share."
	echo "Processing: kforkd's burn handler spins 50 ms of thread CPU time in C per record;" \
		"the Python peers spin the same 50 ms of thread CPU time in" \
		"$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import compare_common as c; print(c.BURN_WHAT.replace("USEC", "50 ms"))' "$here"),$([ "$BROKER" = devbroker ] ||
			echo " the Java consumer in a Java loop on its thread's CPU time,")" \
		"in their poll loop, one record at a time, then write \"partition offset seconds\" to their output file."
	echo "Settings: each client's documented defaults except the session timeout, 6 s:" \
		"kforkd heartbeat_interval_ms 3000, rebalance_timeout_ms 300000, commit_interval_ms 1000" \
		"(commits only finished records), and workers.nice 0 (default 5) so that its workers get" \
		"the shared cores on the same terms as the others; confluent-kafka (librdkafka) heartbeat.interval.ms 3000," \
		"max.poll.interval.ms 300000, auto commit every 5 s of offsets stored when poll() returns" \
		"a record; kafka-python heartbeat_interval_ms 3000 (background thread)," \
		"max_poll_interval_ms 300000, max_poll_records 500, auto commit every 5 s (of the positions" \
		"poll() has returned)$([ "$BROKER" = devbroker ] || echo "; Java heartbeat.interval.ms 3000 (background thread), max.poll.interval.ms 300000, max.poll.records 500, auto commit every 5 s inside poll() (of the positions the previous poll returned), range assignor, classic protocol")."
	echo "Rebalances: kforkd, counters.rebalances (generations joined) minus 1; the others," \
		"the on_assign calls of both processes minus 2 (each one's first). Forming a group of" \
		"two processes takes one rebalance when the second joins after the first was given" \
		"every partition (0 when they join together), so 0 or 1 is the two-process peers' floor$([ "$BROKER" = devbroker ] ||
			echo "; broker: the generations the group coordinator logged (\"Stabilized group\"; 2 is the floor of a group of two, 1 of kforkd) and the members it removed because their session ran out (\"has failed, removing it\"), both until the stop. The test broker has group.initial.rebalance.delay.ms=0 (tests/kafka/lib.sh; Kafka's default is 3000)")." \
		"Records processed: kforkd, records_done when the run ends (its rings still hold more:" \
		"duplicates are counted once those are done, after \`kforkctl quiet\`); the others, distinct" \
		"lines in the output files when they are stopped. Commit failures at close: stopping" \
		"both processes of a group at once, the one that leaves first starts a rebalance and" \
		"the other's last commit can fail."
	[ "$BROKER" = kafka ] ||
		echo "The test broker is not a real one: in librdkafka 2.0.2's mock a group that is" \
			"rebalancing answers OffsetCommit with REBALANCE_IN_PROGRESS and waits at most the session" \
			"timeout - 1 s (5 s) for its members to join again, where a real broker accepts commits of" \
			"the current generation until the new one starts and waits up to each member's rebalance" \
			"timeout (max.poll.interval.ms, 300 s); it also answers a SyncGroup that comes after the" \
			"leader's with INVALID_REQUEST, which kafka-python raises from poll() (counted, then polled" \
			"again). Run it with COMPARE_BROKER=kafka for figures without these."
}

# ------------------------------------------------------------- part 3
# seed_done: every group has done every record (distinct lines).
seed_done() {
	local k d
	for k in "${KINDS[@]}"; do
		d=$(cat "$tmp/cmp-seed-$k".*.out "$tmp/cmp-seed-$k".d/*.out 2>/dev/null |
			awk '{ s[$1 " " $2] = 1 } END { print length(s) + 0 }')
		[ "$d" -ge "$SEED_N" ] || return 1
	done
}

ROWS3=()
part3() {
	local k t0 tail_s
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	db topic seed $P
	for k in "${KINDS[@]}"; do start_member "$k" "cmp-seed-$k" seed hold; done
	SEED_N=$((SEED_S / SEED_EVERY))
	t0=$(now_ms)
	sparse_produce seed "$SEED_N" "$SEED_EVERY"
	tail_s=$(now_ms)
	wait_for "$SEED_TAIL_S" seed_done || true
	tail_s=$((($(now_ms) - tail_s) / 1000))
	SEED_RUN_S=$((($(now_ms) - t0) / 1000))
	# all asked to stop at once, then reaped
	for k in "${KINDS[@]}"; do signal_member "$k" "cmp-seed-$k" seed; done
	for k in "${KINDS[@]}"; do
		reap_member "$k" "cmp-seed-$k" seed
		ROWS3+=("| ${LABEL[$k]} | ${RES_REB%)}$(broker_cell)) | $RES_CF | $RES_DUP | $RES_DISTINCT of $SEED_N |")
		if $RES_OK; then
			pass "seed ${LABEL[$k]}: did $RES_DISTINCT of $SEED_N, $RES_DUP duplicates"
		else
			fail "seed ${LABEL[$k]}: a process stopped early or did not stop cleanly (logs in $tmp)"
		fi
	done
	PIDS=()
	echo
	echo "### The seed case: $((SEED_HOLD_MS / 1000)) s inside one C call that keeps the GIL, session timeout 6 s"
	echo
	header
	echo
	echo "| consumer | rebalances | commit failures | duplicates | records done |"
	echo "| --- | --- | --- | ---: | ---: |"
	printf '%s\n' "${ROWS3[@]}"
	echo
	echo "$SEED_N records, one every $SEED_EVERY s to the next of $P partitions, every consumer" \
		"at once, each in its own group; then until each had done every record, at most" \
		"$SEED_TAIL_S s (it took $tail_s s; $SEED_RUN_S s in all); then all were stopped at once," \
		"each finishing the record it held."
	echo "Each record costs $SEED_HOLD_MS ms of" \
		"$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import compare_common as c; print(c.HOLD_WHAT)' "$here")." \
		"kforkd runs it in an exec handler (tests/bench/seed_handler.py, etc/examples/handler.py's" \
		"protocol; 2 workers, one handler process each); the Python peers call the same" \
		"function in their poll loop, 2 processes per group$([ "$BROKER" = devbroker ] ||
			echo "; the Java consumer sleeps $SEED_HOLD_MS ms in its poll loop (Thread.sleep: Java has no GIL, its heartbeat thread runs on), 2 JVMs")."
	echo "Settings: session timeout 6000 ms and heartbeat interval 1000 ms for every consumer," \
		"the rest their defaults (max.poll.interval.ms and kforkd's rebalance_timeout_ms" \
		"300000, auto commit every 5 s; kforkd commit_interval_ms 1000, commits only finished records)." \
		"Rebalances and commit failures are counted as in the heavy-processing table (kforkd:" \
		"its counters; confluent-kafka: on_commit errors; kafka-python and Java: the failed" \
		"commits their auto commit logs); records done: distinct \"partition offset\" lines written" \
		"after the work of a record, duplicates: lines written again (kforkd's handler writes" \
		"such lines too)."
}

db_start 3
for part in $PARTS; do "part$part"; done
summary
