# Shared by the chaos scenarios (tests/chaos/*.sh).  Source it after
# setting NAME; it sources tests/integration/common.sh (devbroker, pass/fail,
# at_exit, now_ms, wait_for, committed) and gives:
#
#   T                       the scenario's temp dir (kept when a check failed
#                           or KF_CHAOS_KEEP is set, removed otherwise)
#   LONG                    1 under `make chaos` (CHAOS_LONG=1), else 0: the
#                           make check version of a scenario is a short one
#   kf_conf, kf_start, kf_stop, kf_kill, kf_alive, kf_workers, kf_status,
#   kf_get, kf_stable, kf_running, out_check, covered
#                           from tests/lib/kforkd.sh, on $T: member M's
#                           config, socket and log are $T/M.conf, $T/M.sock
#                           and $T/M.log; its log level is
#                           $KF_CHAOS_LOG_LEVEL (info)
#   watermarks TOPIC P      HW (array) and TOTAL (tests/integration/common.sh)
#   drained GROUP TOPIC P SECS WHAT
#                           pass when committed == HW within SECS
#   commit_safe GROUP TOPIC P WHAT FILES...
#                           every committed offset covers only records that
#                           FILES already hold (nothing committed past an
#                           unfinished record); call it while records flow.
#                           A FILE that is a directory stands for every file
#                           in it, listed after the commits are read: an
#                           exec handler writes one file per process, and a
#                           restarted one a new file
#   safe_check GROUP TOPIC P WHAT FILES...
#                           commit_safe, but at most every 2 s and spaced by
#                           4 times what the last one took (it reads every
#                           output file: seconds once they hold a million
#                           lines); SAFE_CALLS and SAFE_BAD count them
#   chaos_end M GROUP TOPIC P SECS FILES...
#                           the end every scenario checks: kforkctl status
#                           answers, committed == HW, every record at least
#                           once, duplicates counted
#   chaos_finish M          the last lines of a scenario of one member M:
#                           kforkctl stop (pass when kforkd exits 0), M's
#                           last warn and error lines when a check failed,
#                           summary
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
. "$here/../lib/kforkd.sh"
LONG=${CHAOS_LONG:-0}

kf_tmpdir "chaos-${NAME:-x}" KF_CHAOS_KEEP failed
T=$KF_DIR

committed_is_hw() { committed "$@" && [ "${COMMITTED[*]}" = "${HW[*]}" ]; }

drained() {
	watermarks "$2" "$3"
	if wait_for "$4" committed_is_hw "$1" "$2" "$3"; then
		pass "$5: committed = watermarks ($TOTAL records) after $WAITED_MS ms"
	else
		fail "$5: committed ${COMMITTED[*]}, watermarks ${HW[*]}"
	fi
}

commit_safe() {
	local group=$1 topic=$2 np=$3 what=$4 bad
	shift 4
	committed "$group" "$topic" "$np"
	# The files are read (and directories listed) after the commits: they
	# only grow, so whatever a commit covers must be in them already.
	bad=$(for f; do if [ -d "$f" ]; then cat "$f"/*; else cat "$f"; fi; done 2>/dev/null |
		awk -v t="$topic" -v c="${COMMITTED[*]}" '
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

chaos_finish() {
	if kf_stop "$1"; then
		pass "kforkctl stop: kforkd exit 0"
	else
		fail "kforkd exit status $? after kforkctl stop"
	fi
	[ "$FAILED" = 0 ] || grep -E ' (warn|error) ' "$T/$1.log" | tail -20 || true
	summary
}

# Last, so that its db, db_start and watermarks replace devbroker's.
if [ "${CHAOS_BROKER:-devbroker}" = kafka ]; then
	KAFKA_DB_BROKERS=${CHAOS_KAFKA_BROKERS:-1}
	KAFKA_DB_ARGS=(${CHAOS_KAFKA_ARGS[@]+"${CHAOS_KAFKA_ARGS[@]}"})
	. "$here/../kafka/as-devbroker.sh"
fi
