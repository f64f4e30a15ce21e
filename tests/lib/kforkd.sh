# kforkd for the scripts that run it: tests/integration/kforkd-*.sh,
# initscript.sh, tls-consume.sh, tests/kafka/kforkd-*.sh (through
# tests/kafka/lib.sh's kafka_kforkd_conf), tests/chaos/lib.sh,
# tests/bench/bench-drain.sh, compare.sh, soak.sh and etc/examples/demo.sh.
# One kforkd is a member M: its config, control
# socket and log are $KF_DIR/M.conf, $KF_DIR/M.sock and $KF_DIR/M.log, its
# pid KPID[M].  Source it after tests/integration/common.sh, then call
# kf_tmpdir or set KF_DIR (a directory of the caller's); sourcing starts
# nothing and sets no trap.  KFORKD and KFORKCTL default to the build's
# ($BUILDDIR, or the current directory); no kforkd there: exit 99.
#
#   kf_tmpdir NAME KEEP [failed]
#                           KF_DIR = a new ${TMPDIR:-/tmp}/kf-NAME.XXXXXX,
#                           removed at exit (at_exit of common.sh) unless
#                           the variable named KEEP is set or, with
#                           "failed", a check failed: "logs kept in DIR".
#                           The caller may point KF_DIR at a directory
#                           inside it later: the one made is removed
#   kf_conf M GROUP TOPIC WORKERS HANDLER [KAFKA] [WORKERS_EXTRA]
#                           write M.conf (aside, then renamed: a reload
#                           never reads half a file); HANDLER is e.g.
#                           `{ type = "file"; dir = "..."; }`, KAFKA and
#                           WORKERS_EXTRA are more lines for those groups.
#                           The keys the scripts vary come from variables
#                           (default): SESSION_MS (6000), REBALANCE_MS
#                           (10000), KF_COMMIT_MS (500), KF_CLIENT_ID
#                           (kforkd-M), KF_DISPATCH (partition), KF_NICE
#                           (0), KF_SHUTDOWN_MS (10000), KF_LOG_LEVEL
#                           (info; the chaos scenarios call it
#                           KF_CHAOS_LOG_LEVEL), KF_LOG, all the log group
#                           holds (level = "KF_LOG_LEVEL";), KF_CONTROL, more
#                           control keys (none)
#   kf_start M              start kforkd -c M.conf in the background, its
#                           output appended to M.log, under $KFORKD_WRAP if
#                           set (e.g. "setsid", "ip netns exec NS"); the
#                           first start registers kf_cleanup with at_exit
#                           (tests/integration/common.sh) when there is one
#   kf_alive M              kforkd M is running
#   kf_workers M            the pids of M's workers (its children), a line each
#   kf_kill M [SIG] [SECS]  signal M (default KILL), then kf_end M SECS
#   kf_stop M [SECS]        kforkctl stop (SIGTERM when kforkctl fails),
#                           then kf_end M SECS; 0 when kforkctl answered and
#                           kforkd exited 0, else kforkctl's exit status
#                           when it failed, else kforkd's.  KF_CTL_RC and
#                           KF_CTL_OUT are kforkctl's exit status and output
#   kf_end M [SECS]         wait up to SECS (default 30) for M to exit, then
#                           SIGKILL it; reap it.  KF_EXIT is its exit status,
#                           KF_KILLED 1 when it took the SIGKILL
#   kf_gone PID SECS        0 once PID has exited, 1 when it still runs
#                           SECS later
#   kf_cleanup              SIGKILL and reap every member still running
#   kf_ctl M CMD...         kforkctl CMD... on M's control socket
#   kf_status M             the status JSON (fails when kforkd does not answer)
#   kf_get M EXPR...        each EXPR, a Python expression over M's status,
#                           printed a line each (see kf_json); fails when
#                           kforkd does not answer or an EXPR fails
#   kf_json JSON EXPR...    the same over a status already read: d is the
#                           status, its keys are names too and an object's
#                           keys attributes (state, counters.rebalances,
#                           sum(x.lag for x in assignment)), a the
#                           assignment by partition (one topic); an EXPR
#                           that fails prints "error: ..." (exit 1)
#   kf_true M EXPR          M answers and EXPR is true (for wait_for)
#   kf_stable M             M answers and its state is "stable"
#   kf_running M COUNT      M answers and has COUNT workers, each running
#                           with a pid
#   out_check TOPIC FILES.. "MISSING DUPLICATES LINES": the file handler's
#                           output in FILES against the high watermarks HW
#                           (tests/integration/common.sh's watermarks); the
#                           duplicated "PARTITION OFFSET" pairs go to
#                           $KF_DUPS_FILE when it is set
#   covered TOPIC WHAT FILES...
#                           pass when every offset below HW is in FILES, fail
#                           otherwise (pass and fail of common.sh); DUPS =
#                           the duplicate count
#
# etc/examples/demo.sh sources it from the source tree, without
# common.sh: what it uses (kf_conf, kf_start, kf_stop, kf_gone) needs
# neither common.sh nor anything built under tests/.
# shellcheck shell=bash disable=SC2034
KFORKD=${KFORKD:-${BUILDDIR:-$(pwd)}/supervisor/kforkd}
KFORKCTL=${KFORKCTL:-${BUILDDIR:-$(pwd)}/supervisor/kforkctl}
[ -x "$KFORKD" ] || { echo "no kforkd at $KFORKD" >&2; exit 99; }

declare -gA KPID=()
KF_HOOKED=
KF_CTL_RC=0
KF_CTL_OUT=
KF_EXIT=0
KF_KILLED=0

kf_tmpdir() {
	KF_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kf-$1.XXXXXX")
	KF_TMPDIR=$KF_DIR
	KF_KEEP=$2
	KF_KEEP_FAILED=${3:-}
	at_exit kf_tmpdir_end
}

kf_tmpdir_end() {
	if [ -n "${!KF_KEEP:-}" ] || { [ -n "$KF_KEEP_FAILED" ] && [ "$FAILED" -ne 0 ]; }; then
		echo "logs kept in $KF_TMPDIR"
	else
		rm -rf "$KF_TMPDIR"
	fi
}

kf_conf() {
	local m=$1 group=$2 topic=$3 workers=$4 handler=$5 kafka=${6:-} wextra=${7:-}
	local log=${KF_LOG:-"level = \"${KF_LOG_LEVEL:-${KF_CHAOS_LOG_LEVEL:-info}}\";"}
	cat > "$KF_DIR/$m.conf.new" <<-EOF
	kafka = {
	  bootstrap = "$BOOTSTRAP";
	  group = "$group";
	  topics = [ "$topic" ];
	  client_id = "${KF_CLIENT_ID:-kforkd-$m}";
	  session_timeout_ms = ${SESSION_MS:-6000};
	  heartbeat_interval_ms = 1000;
	  rebalance_timeout_ms = ${REBALANCE_MS:-10000};
	  commit_interval_ms = ${KF_COMMIT_MS:-500};
	  $kafka
	};
	workers = {
	  count = $workers;
	  dispatch = "${KF_DISPATCH:-partition}";
	  nice = ${KF_NICE:-0};
	  shutdown_timeout_ms = ${KF_SHUTDOWN_MS:-10000};
	  handler = $handler;
	  $wextra
	};
	log = { $log };
	control = { socket = "$KF_DIR/$m.sock"; ${KF_CONTROL:+$KF_CONTROL }};
	EOF
	mv "$KF_DIR/$m.conf.new" "$KF_DIR/$m.conf"
}

kf_start() {
	if [ -z "$KF_HOOKED" ] && declare -F at_exit > /dev/null; then
		# Registered after the caller's own cleanup, so it runs first:
		# kforkd is gone before its directory is removed.
		at_exit kf_cleanup
		KF_HOOKED=1
	fi
	# shellcheck disable=SC2086
	${KFORKD_WRAP:-} "$KFORKD" -c "$KF_DIR/$1.conf" >> "$KF_DIR/$1.log" 2>&1 &
	KPID[$1]=$!
}

kf_alive() { [ -n "${KPID[$1]:-}" ] && kill -0 "${KPID[$1]}" 2>/dev/null; }

kf_workers() { pgrep -P "${KPID[$1]}" || true; }

kf_gone() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

kf_end() {
	local pid=${KPID[$1]:-} secs=${2:-30} who="kforkd $1"
	KF_EXIT=0
	KF_KILLED=0
	[ -n "$pid" ] || return 0
	[ "$1" != kforkd ] || who=kforkd
	if ! kf_gone "$pid" "$secs"; then
		echo "$who (pid $pid) did not exit in $secs s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		KF_KILLED=1
	fi
	wait "$pid" 2>/dev/null || KF_EXIT=$?
	KPID[$1]=
}

kf_kill() {
	[ -n "${KPID[$1]:-}" ] || return 0
	kill "-${2:-KILL}" "${KPID[$1]}" 2>/dev/null || true
	kf_end "$1" "${3:-30}"
}

kf_stop() {
	KF_CTL_RC=0
	KF_CTL_OUT=
	[ -n "${KPID[$1]:-}" ] || return 0
	# A kforkctl that hangs must not hang the caller's cleanup.
	KF_CTL_OUT=$(timeout 10 "$KFORKCTL" -s "$KF_DIR/$1.sock" stop 2>&1) || KF_CTL_RC=$?
	[ "$KF_CTL_RC" -eq 0 ] || kill -TERM "${KPID[$1]}" 2>/dev/null || true
	kf_end "$1" "${2:-30}"
	[ "$KF_CTL_RC" -eq 0 ] || return "$KF_CTL_RC"
	return "$KF_EXIT"
}

kf_cleanup() {
	local m
	for m in "${!KPID[@]}"; do
		[ -n "${KPID[$m]}" ] || continue
		kill -KILL "${KPID[$m]}" 2>/dev/null || true
		wait "${KPID[$m]}" 2>/dev/null || true
		KPID[$m]=
	done
}

kf_ctl() { "$KFORKCTL" -s "$KF_DIR/$1.sock" "${@:2}"; }

kf_status() { kf_ctl "$1" status 2>/dev/null; }

# The status arrives on stdin (it can outgrow an argument); one python3
# for every EXPR, so that they read the same status.
KF_JSON_PY='
import json, sys

class Obj(dict):
    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None

d = json.load(sys.stdin, object_hook=Obj)
# Globals, not locals: a comprehension in an EXPR sees only globals.
names = dict(d)
names.update(d=d, a={x["partition"]: x for x in d.get("assignment") or []})
rc = 0
for e in sys.argv[1:]:
    try:
        print(eval(e, names))
    except Exception as x:
        print("error: %r" % x)
        rc = 1
sys.exit(rc)
'

kf_json() { printf '%s' "$1" | python3 -c "$KF_JSON_PY" "${@:2}"; }

kf_get() {
	local js
	js=$(kf_status "$1") || return 1
	kf_json "$js" "${@:2}"
}

kf_true() { [ "$(kf_get "$1" "bool($2)" 2>/dev/null)" = True ]; }

kf_stable() { [ "$(kf_get "$1" state 2>/dev/null)" = stable ]; }

kf_running() { kf_true "$1" "len(workers) == $2 and all(w.state == 'running' and w.pid for w in workers)"; }

out_check() {
	local topic=$1 f
	shift
	# A file handler line that a killed worker left torn stands alone, and
	# the next worker writes the whole line right after it: a line that the
	# next one begins with names no record for sure (its offset may be cut
	# short), so it is not counted.  Files end in a newline of their own.
	for f; do cat "$f" 2>/dev/null; echo; done | awk -v t="$topic" -v hw="${HW[*]}" \
		-v dups="${KF_DUPS_FILE:-}" '
		function take(line,   f) {
			split(line, f, " ")
			if (f[1] != t)
				return
			lines++
			if ((f[2] " " f[3]) in seen) {
				dup++
				if (dups != "") print f[2], f[3] > dups
			}
			seen[f[2] " " f[3]] = 1
		}
		BEGIN { n = split(hw, h, " "); if (dups != "") printf "" > dups }
		{
			if (NR > 1 && !(length(p) < length($0) && substr($0, 1, length(p)) == p))
				take(p)
			p = $0
		}
		END {
			if (NR > 0)
				take(p)
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
