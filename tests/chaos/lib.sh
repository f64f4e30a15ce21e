# Shared by the chaos scenarios (tests/chaos/*.sh).  Source it after
# setting NAME; it sources tests/integration/common.sh (devbroker, pass/fail,
# at_exit, now_ms, wait_for, committed) and gives:
#
#   T                       the scenario's temp dir (kept when a check failed
#                           or KF_CHAOS_KEEP is set, removed otherwise)
#   LONG                    1 under `make chaos` (CHAOS_LONG=1), else 0: the
#                           make check version of a scenario is a short one
#   kf_conf M GROUP TOPIC WORKERS HANDLER [KAFKA] [WORKERS_EXTRA]
#                           write $T/M.conf for member M: file HANDLER is
#                           `{ type = "file"; dir = "..."; }` etc., KAFKA and
#                           WORKERS_EXTRA are extra lines for those groups;
#                           control socket $T/M.sock; SESSION_MS and
#                           REBALANCE_MS override the timeouts (6000, 10000)
#   kf_start M              start kforkd -c $T/M.conf, log $T/M.log (appended),
#                           under $KFORKD_WRAP if set (e.g. "ip netns exec NS")
#   kf_kill M [SIG]         signal member M (default KILL) and reap it
#   kf_stop M               kforkctl stop, then wait: its exit status
#   kf_alive M              kforkd M is running
#   kf_workers M            the pids of M's workers (its children), one a line
#   kf_status M             the status JSON (fails when kforkd does not answer)
#   kf_get M PYEXPR         PYEXPR over the status as d, printed
#   kf_stable M             M answers and its state is "stable"
#   watermarks TOPIC P      HW (array) and TOTAL from devbroker
#   drained GROUP TOPIC P SECS WHAT
#                           pass when committed == HW within SECS
#   out_check TOPIC FILES.. "MISSING DUPLICATES LINES" against HW
#   covered TOPIC WHAT FILES...
#                           pass when every offset below HW is in FILES;
#                           DUPS = the duplicate count (printed)
#   commit_safe GROUP TOPIC P WHAT FILES...
#                           every committed offset covers only records that
#                           FILES already hold (nothing committed past an
#                           unfinished record); call it while records flow
#   safe_check GROUP TOPIC P WHAT FILES...
#                           commit_safe, but at most every 2 s and spaced by
#                           4 times what the last one took (it reads every
#                           output file: seconds once they hold a million
#                           lines); SAFE_CALLS and SAFE_BAD count them
#   chaos_end M GROUP TOPIC P SECS FILES...
#                           the end every scenario checks: kforkctl status
#                           answers, committed == HW, every record at least
#                           once, duplicates counted
#
# CHAOS_BROKER=kafka runs a scenario against real Apache Kafka
# ($KAFKA_VERSION, tests/kafka/lib.sh) instead of devbroker, through
# tests/kafka/as-devbroker.sh: db_start N starts one broker
# (CHAOS_KAFKA_BROKERS to change, CHAOS_KAFKA_ARGS more kafka_start
# arguments), and db, watermarks and committed go through Kafka's own client
# (the oracle).  Only the devbroker commands a real broker can do are there
# (topic, produce, hwm, committed); a scenario that injects errors stays on
# devbroker.
# shellcheck shell=bash
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../integration/common.sh"
KFORKD=${KFORKD:-$BUILDDIR/supervisor/kforkd}
KFORKCTL=${KFORKCTL:-$BUILDDIR/supervisor/kforkctl}
[ -x "$KFORKD" ] || { echo "no kforkd at $KFORKD" >&2; exit 99; }
LONG=${CHAOS_LONG:-0}

T=$(mktemp -d "${TMPDIR:-/tmp}/kf-chaos-${NAME:-x}.XXXXXX")
declare -A KPID=()
chaos_cleanup() {
	local m
	for m in "${!KPID[@]}"; do
		[ -n "${KPID[$m]}" ] || continue
		kill -KILL "${KPID[$m]}" 2>/dev/null || true
		wait "${KPID[$m]}" 2>/dev/null || true
	done
	if [ -n "${KF_CHAOS_KEEP:-}" ] || [ "$FAILED" -ne 0 ]; then
		echo "logs kept in $T"
	else
		rm -rf "$T"
	fi
}
at_exit chaos_cleanup

kf_conf() {
	local m=$1 group=$2 topic=$3 workers=$4 handler=$5 kafka=${6:-} wextra=${7:-}
	# Written aside and renamed: a reload never reads half a file.
	cat > "$T/$m.conf.new" <<-EOF
	kafka = {
	  bootstrap = "$BOOTSTRAP";
	  group = "$group";
	  topics = [ "$topic" ];
	  client_id = "kforkd-$m";
	  session_timeout_ms = ${SESSION_MS:-6000};
	  heartbeat_interval_ms = 1000;
	  rebalance_timeout_ms = ${REBALANCE_MS:-10000};
	  commit_interval_ms = 500;
	  $kafka
	};
	workers = {
	  count = $workers;
	  dispatch = "partition";
	  nice = 0;
	  shutdown_timeout_ms = 10000;
	  handler = $handler;
	  $wextra
	};
	log = { level = "${KF_CHAOS_LOG_LEVEL:-info}"; };
	control = { socket = "$T/$m.sock"; };
	EOF
	mv "$T/$m.conf.new" "$T/$m.conf"
}

kf_start() {
	# shellcheck disable=SC2086
	${KFORKD_WRAP:-} "$KFORKD" -c "$T/$1.conf" >> "$T/$1.log" 2>&1 &
	KPID[$1]=$!
}

kf_alive() { [ -n "${KPID[$1]:-}" ] && kill -0 "${KPID[$1]}" 2>/dev/null; }

kf_kill() {
	[ -n "${KPID[$1]:-}" ] || return 0
	kill "-${2:-KILL}" "${KPID[$1]}" 2>/dev/null || true
	wait "${KPID[$1]}" 2>/dev/null || true
	KPID[$1]=
}

kf_stop() {
	local rc=0
	"$KFORKCTL" -s "$T/$1.sock" stop > /dev/null || return $?
	wait "${KPID[$1]}" || rc=$?
	KPID[$1]=
	return $rc
}

kf_workers() { pgrep -P "${KPID[$1]}" || true; }

kf_status() { "$KFORKCTL" -s "$T/$1.sock" status 2>/dev/null; }

kf_stable() { [ "$(kf_get "$1" 'd["state"]' 2>/dev/null)" = stable ]; }

kf_get() {
	local js
	js=$(kf_status "$1") || return 1
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$js" "$2"
}

watermarks() {
	local p h
	HW=()
	TOTAL=0
	for p in $(seq 0 $(($2 - 1))); do
		db hwm "$1" "$p"
		read -r _ _ h <<< "$DB_REPLY"
		HW+=("$h")
		TOTAL=$((TOTAL + h))
	done
}

committed_is_hw() { committed "$@" && [ "${COMMITTED[*]}" = "${HW[*]}" ]; }

drained() {
	watermarks "$2" "$3"
	if wait_for "$4" committed_is_hw "$1" "$2" "$3"; then
		pass "$5: committed = watermarks ($TOTAL records) after $WAITED_MS ms"
	else
		fail "$5: committed ${COMMITTED[*]}, watermarks ${HW[*]}"
	fi
}

out_check() {
	local topic=$1
	shift
	cat "$@" 2>/dev/null | awk -v t="$topic" -v hw="${HW[*]}" '
		BEGIN { n = split(hw, h, " ") }
		$1 == t {
			lines++
			if (($2 " " $3) in seen) dup++
			seen[$2 " " $3] = 1
		}
		END {
			m = 0
			for (p = 0; p < n; p++)
				for (o = 0; o < h[p + 1]; o++)
					if (!((p " " o) in seen)) m++
			print m, dup + 0, lines + 0
		}'
}

covered() {
	local topic=$1 what=$2 m d l
	shift 2
	read -r m d l <<< "$(out_check "$topic" "$@")"
	if [ "$m" = 0 ]; then
		pass "$what: every offset below the watermarks processed ($l lines, $d duplicates)"
	else
		fail "$what: $m offsets missing from the output ($l lines, $d duplicates)"
	fi
	DUPS=$d
}

commit_safe() {
	local group=$1 topic=$2 np=$3 what=$4 bad
	shift 4
	committed "$group" "$topic" "$np"
	# The files are read after the commits: they only grow, so whatever a
	# commit covers must be in them already.
	bad=$(cat "$@" 2>/dev/null | awk -v t="$topic" -v c="${COMMITTED[*]}" '
		BEGIN { n = split(c, k, " ") }
		$1 == t { seen[$2 " " $3] = 1 }
		END {
			for (p = 0; p < n; p++)
				for (o = 0; o < k[p + 1]; o++)
					if (!((p " " o) in seen)) { print p "@" o; exit }
		}')
	if [ -z "$bad" ]; then
		return 0
	fi
	fail "$what: committed ${COMMITTED[*]} covers $bad, which no worker finished"
	return 1
}

SAFE_NEXT=0
SAFE_CALLS=0
SAFE_BAD=0
safe_check() {
	local a b
	a=$(now_ms)
	((a >= SAFE_NEXT)) || return 0
	SAFE_CALLS=$((SAFE_CALLS + 1))
	commit_safe "$@" || SAFE_BAD=$((SAFE_BAD + 1))
	b=$(now_ms)
	SAFE_NEXT=$((b + ((b - a) * 4 > 2000 ? (b - a) * 4 : 2000)))
}

chaos_end() {
	local m=$1 group=$2 topic=$3 np=$4 secs=$5 st
	shift 5
	if st=$(kf_get "$m" 'd["state"]'); then
		pass "$NAME: kforkctl status answers (state $st)"
	else
		fail "$NAME: kforkctl status does not answer"
	fi
	drained "$group" "$topic" "$np" "$secs" "$NAME"
	covered "$topic" "$NAME" "$@"
	echo "$NAME: $DUPS duplicates"
}

# Last, so that its db, db_start and watermarks replace devbroker's.
if [ "${CHAOS_BROKER:-devbroker}" = kafka ]; then
	KAFKA_DB_BROKERS=${CHAOS_KAFKA_BROKERS:-1}
	KAFKA_DB_ARGS=(${CHAOS_KAFKA_ARGS[@]+"${CHAOS_KAFKA_ARGS[@]}"})
	. "$here/../kafka/as-devbroker.sh"
fi
