# Shared by the integration tests: start devbroker, talk to it, stop it.
# Source it; it sets BOOTSTRAP and DEVBROKER_PID, and a trap that stops devbroker
# by its pid however the test ends.
#   db_start [BROKERS]      start devbroker with BROKERS brokers (default 3)
#   db CMD...               send one command, fail the test unless "ok ..."
#                           (the answer is in $DB_REPLY)
#   db_try CMD...           the same, but an "error" answer is not fatal
#   db_stop                 close its stdin and wait for it to exit
#   committed GROUP TOPIC P COMMITTED (array): the offsets GROUP committed
#                           on partitions 0..P-1 (-1 = none), from devbroker
#   watermarks TOPIC P      HW (array): the high watermarks of partitions
#                           0..P-1, from devbroker, and TOTAL, their sum
#   now_ms                  milliseconds since the epoch
#   wait_for SECS CMD...    poll CMD every 0.2 s until it succeeds (0) or
#                           SECS pass (1); WAITED_MS says how long it took

# make check runs from the build dir; scripts live in the source dir.
: "${BUILDDIR:=$(pwd)}"
DEVBROKER=${DEVBROKER:-$BUILDDIR/tests/devbroker/devbroker}
PASSED=0
FAILED=0

# Cleanups run at exit, last registered first: tests call at_exit instead of
# setting their own EXIT trap (db_start registers db_kill this way).
EXIT_HOOKS=()
at_exit() { EXIT_HOOKS=("$1" "${EXIT_HOOKS[@]}"); }
run_exit_hooks() {
	local h
	for h in "${EXIT_HOOKS[@]}"; do
		$h || true
	done
}
trap run_exit_hooks EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

wait_for() {
	local t0 end
	t0=$(now_ms)
	end=$((t0 + $1 * 1000))
	shift
	while :; do
		if "$@"; then
			WAITED_MS=$(($(now_ms) - t0))
			return 0
		fi
		(($(now_ms) < end)) || break
		sleep 0.2
	done
	WAITED_MS=$(($(now_ms) - t0))
	return 1
}

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
summary() {
	echo "$(basename "$0" .sh): $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

db_start() {
	[ -x "$DEVBROKER" ] || { echo "no devbroker at $DEVBROKER" >&2; exit 99; }
	# DEVBROKER_WRAP runs it under a wrapper, e.g. "ip netns exec NS".
	# shellcheck disable=SC2086
	coproc DB { exec ${DEVBROKER_WRAP:-} "$DEVBROKER" -b "${1:-3}"; }
	# bash unsets DB_PID when the coprocess ends: keep our own copy.
	DEVBROKER_PID=$DB_PID
	at_exit db_kill
	if ! read -r -t 20 BOOTSTRAP <&"${DB[0]}"; then
		echo "devbroker did not print its bootstrap list" >&2
		exit 99
	fi
	export BOOTSTRAP
	echo "devbroker pid $DEVBROKER_PID at $BOOTSTRAP"
}

db_try() {
	echo "$*" >&"${DB[1]}"
	if ! read -r -t 120 DB_REPLY <&"${DB[0]}"; then
		echo "devbroker did not answer: $*" >&2
		exit 99
	fi
	case "$DB_REPLY" in ok*) return 0 ;; *) return 1 ;; esac
}

db() {
	db_try "$@" || { echo "devbroker: $* -> $DB_REPLY" >&2; exit 99; }
}

db_stop() {
	[ -n "${DEVBROKER_PID:-}" ] || return 0
	[ -z "${DB[1]:-}" ] || exec {DB[1]}>&- 2>/dev/null || true
	local i
	for i in $(seq 50); do
		kill -0 "$DEVBROKER_PID" 2>/dev/null || break
		sleep 0.1
	done
	db_kill
}

db_kill() {
	[ -n "${DEVBROKER_PID:-}" ] || return 0
	if kill -0 "$DEVBROKER_PID" 2>/dev/null; then
		kill -TERM "$DEVBROKER_PID" 2>/dev/null || true
		sleep 0.5
		kill -KILL "$DEVBROKER_PID" 2>/dev/null || true
	fi
	wait "$DEVBROKER_PID" 2>/dev/null || true
	DEVBROKER_PID=
}

# db_at GROUP TOPIC PARTS WANT: the group's committed offsets of PARTS
# ("0,1,2") are WANT ("ok O0 O1 O2"); DB_REPLY has them.  For wait_for.
db_at() {
	db committed "$1" "$2" "$3"
	[ "$DB_REPLY" = "$4" ]
}

committed() {
	db committed "$1" "$2" "$(seq -s, 0 $(($3 - 1)))"
	# shellcheck disable=SC2206
	COMMITTED=(${DB_REPLY#ok})
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
