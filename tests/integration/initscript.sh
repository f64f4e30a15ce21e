#!/usr/bin/env bash
# The LSB init script, etc/init.d/kforkd, run from the source tree as root
# against devbroker.  It installs nothing: a defaults file in a temp dir
# (KFORKD_DEFAULTS) points the script at the build's kforkd, a config, a
# pid file and a control socket in that dir.
#   configtest: 0 on a good config, 1 and FILE:LINE on a broken one
#   status before start: 3
#   start: 0, pid file, LOGDIR made, a daemon (not our child) that
#     consumes and commits
#   start again: 0, same pid, still one supervisor
#   reload: HUP, the process stays; with a broken config: refused (6),
#     nothing signalled
#   etc/logrotate.d/kforkd (paths replaced, forced): a new log file that
#     kforkd writes to after its SIGUSR1 (skipped without logrotate)
#   restart: a new pid, the old one gone
#   kill -9 (a crash): status 1 (pid file left), start works again
#   a pid file naming a live process that is not kforkd: start works
#   stop: 0, in less than the shutdown timeout, pid file, supervisor and
#     workers gone; status 3; stop again 0
# Needs kforkd -d and -p; says so and fails when kforkd --help lists them
# not.  Skipped (77) unless root, or without start-stop-daemon.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
INIT=$here/../../etc/init.d/kforkd
TOPIC=initd
GROUP=kforkd-initd
P=4
N=2000

if [ "$(id -u)" -ne 0 ]; then
	echo "initscript.sh: the init script starts kforkd as root: skipped"
	exit 77
fi
if ! command -v start-stop-daemon > /dev/null; then
	echo "initscript.sh: no start-stop-daemon (Debian package dpkg): skipped"
	exit 77
fi
# After the skips: it exits 99 when there is no kforkd.
. "$here/../lib/kforkd.sh"
[ -r "$INIT" ] || { echo "no init script at $INIT" >&2; exit 99; }

# The init script runs "kforkd -d -p PIDFILE -c CONFIG": without those
# options every start fails, so say what is missing once and stop.
missing=
help=$("$KFORKD" --help 2>&1 || true)
for o in -d -p; do
	grep -qE -- "(^|[[:space:],])$o([[:space:],]|$)" <<< "$help" || missing="$missing $o"
done
if [ -n "$missing" ]; then
	echo "FAIL: kforkd --help lists no$missing: the init script needs -d (daemonize;"
	echo "      the parent exits 0 once the daemon runs) and -p FILE (pid file)."
	echo "kforkd --help says:"
	echo "$help"
	exit 1
fi

KFORKD_REAL=$(readlink -f "$KFORKD")
kf_tmpdir initd KF_INITD_KEEP failed
tmp=$KF_DIR
cleanup() {
	# Whatever the init script left running: every process of this
	# config, by pid (the supervisor first, so the workers follow it).
	local p
	for p in $(config_pids); do kill -KILL "$p" 2> /dev/null || true; done
	[ -z "${sleeper:-}" ] || { kill -KILL "$sleeper" 2> /dev/null || true; }
}
at_exit cleanup

# Every live process running the build's kforkd with our config (the
# supervisor and its forked workers).
config_pids() {
	local d
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/exe" 2> /dev/null)" = "$KFORKD_REAL" ] || continue
		tr '\0' ' ' < "$d/cmdline" 2> /dev/null | grep -qF -- "$tmp/kforkd.conf" || continue
		echo "${d#/proc/}"
	done
}

# The supervisors among them: those whose parent is not one of them.
supervisors() {
	local all p pp
	all=" $(config_pids | tr '\n' ' ') "
	for p in $all; do
		pp=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2> /dev/null) || continue
		case "$all" in *" $pp "*) ;; *) echo "$p" ;; esac
	done
}

# A process that exists and is not a zombie (the daemon's parent is init,
# which may take a moment to reap it).
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2> /dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

pidfile_pid() { cat "$tmp/run/kforkd.pid" 2> /dev/null || true; }

# init DEFAULTS ACTION: run the init script; its output goes to
# $tmp/init.out (and the log), its exit status to $rc.
init() {
	local defaults=$1
	shift
	set +e
	KFORKD_DEFAULTS=$defaults SYSTEMCTL_SKIP_REDIRECT=1 \
		timeout 120 sh "$INIT" "$@" > "$tmp/init.out" 2>&1
	rc=$?
	set -e
	echo "  \$ init.d/kforkd $* -> $rc: $(tr '\n' ' ' < "$tmp/init.out")"
}

# check WHAT WANT: pass when $rc is WANT.
check_rc() {
	if [ "$rc" -eq "$2" ]; then pass "$1: exit $rc"; else fail "$1: exit $rc, want $2"; fi
}

wait_gone() {  # PID SECONDS
	for _ in $(seq $(($2 * 10))); do
		alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

db_start 1
db topic "$TOPIC" $P
db produce "$TOPIC" $N size=100 keys=seq
parts=$(seq -s, 0 $((P - 1)))
watermarks "$TOPIC" $P
want="ok ${HW[*]}"

mkdir "$tmp/out" "$tmp/run" "$tmp/log"
# kforkd runs as the init script's daemon, not from kf_start.
KF_SHUTDOWN_MS=5000 KF_LOG="level = \"info\"; file = \"$tmp/log/kforkd.log\";" \
	kf_conf kforkd "$GROUP" "$TOPIC" 2 "{ type = \"file\"; dir = \"$tmp/out\"; }"
# A syntax error on line 2.
printf 'kafka = {\n  bootstrap = ;\n};\n' > "$tmp/bad.conf"
cat > "$tmp/default" <<EOF
DAEMON="$KFORKD"
CONFIG="$tmp/kforkd.conf"
PIDFILE="$tmp/run/kforkd.pid"
KFORKD_USER=""
LOGDIR="$tmp/newlog"
EOF
sed "s|^CONFIG=.*|CONFIG=\"$tmp/bad.conf\"|" "$tmp/default" > "$tmp/default-bad"
D=$tmp/default

# --- configtest, status before anything runs
init "$D" configtest
check_rc "configtest on a good config" 0
init "$tmp/default-bad" configtest
if [ "$rc" -eq 1 ] && grep -q "^$tmp/bad.conf:2: " "$tmp/init.out"; then
	pass "configtest on a broken config: exit 1 with FILE:LINE"
else
	fail "configtest on a broken config: exit $rc, want 1 and $tmp/bad.conf:2: ..."
fi
init "$D" status
check_rc "status before start" 3
init "$D" bogus
check_rc "an unknown action" 2

# --- start
init "$D" start
check_rc "start" 0
pid1=$(pidfile_pid)
if [ -n "$pid1" ] && alive "$pid1" &&
   [ "$(readlink "/proc/$pid1/exe")" = "$KFORKD_REAL" ]; then
	pass "start: pid file names a live kforkd ($pid1)"
else
	fail "start: pid file holds \"$pid1\", not a live kforkd"
fi
if [ "$(supervisors | tr '\n' ' ')" = "$pid1 " ]; then
	pass "start: one supervisor, the one in the pid file"
else
	fail "start: supervisors $(supervisors | tr '\n' ' '), pid file $pid1"
fi
ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid1/status" 2> /dev/null || echo "?")
sid=$(awk '{ print $6 }' "/proc/$pid1/stat" 2> /dev/null || echo "?")
if [ "$ppid" != $$ ] && [ "$sid" != "$(awk '{ print $6 }' /proc/$$/stat)" ]; then
	pass "start: kforkd is detached (parent $ppid, session $sid)"
else
	fail "start: kforkd not detached (parent $ppid, session $sid, ours $$)"
fi
init "$D" status
check_rc "status while running" 0
[ -d "$tmp/newlog" ] && pass "start: created LOGDIR" || fail "start: no LOGDIR $tmp/newlog"

# It consumes: the group's commits reach the watermarks.
wait_for 60 db_at "$GROUP" "$TOPIC" "$parts" "$want" &&
	pass "the daemon consumed and committed $N records" ||
	fail "the daemon did not commit: $DB_REPLY, want $want"
if st=$(kf_get kforkd state); then
	pass "kforkctl reaches the daemon ($st)"
else
	fail "kforkctl status: $(kf_ctl kforkd status 2>&1)"
fi

# --- start again: nothing new
init "$D" start
check_rc "start while running" 0
if [ "$(pidfile_pid)" = "$pid1" ] && [ "$(supervisors | tr '\n' ' ')" = "$pid1 " ]; then
	pass "start while running: still one supervisor, pid $pid1"
else
	fail "start while running: pid file $(pidfile_pid), supervisors $(supervisors | tr '\n' ' ')"
fi

# --- reload
init "$D" reload
check_rc "reload" 0
sleep 1
if alive "$pid1" && [ "$(pidfile_pid)" = "$pid1" ]; then
	pass "reload: kforkd $pid1 still runs after SIGHUP"
else
	fail "reload: kforkd $pid1 is gone after SIGHUP (no SIGHUP handler?)"
fi
init "$tmp/default-bad" reload
if [ "$rc" -eq 6 ] && alive "$pid1"; then
	pass "reload with a broken config: refused (exit 6), kforkd still runs"
else
	fail "reload with a broken config: exit $rc (want 6), kforkd alive: $(alive "$pid1" && echo yes || echo no)"
fi

# --- logrotate: etc/logrotate.d/kforkd with this test's paths, forced.
# kforkd must reopen its log on SIGUSR1: the next line (a reload's) lands
# in the new file, the old one is kept as kforkd.log.1.
if ! command -v logrotate > /dev/null; then
	echo "SKIP: logrotate is not installed (Debian package logrotate)"
elif alive "$pid1"; then
	sed -e "s|/var/log/kfork/|$tmp/log/|" -e "s|/run/kfork/kforkd.pid|$tmp/run/kforkd.pid|g" \
		-e "s|/usr/bin/kforkd|$KFORKD|g" "$here/../../etc/logrotate.d/kforkd" > "$tmp/logrotate.conf"
	set +e
	logrotate -f -s "$tmp/logrotate.state" "$tmp/logrotate.conf" > "$tmp/logrotate.out" 2>&1
	lrc=$?
	set -e
	sleep 0.5
	init "$D" reload
	for _ in $(seq 30); do
		[ -s "$tmp/log/kforkd.log" ] && break
		sleep 0.1
	done
	if [ $lrc -ne 0 ]; then
		fail "logrotate: exit $lrc: $(cat "$tmp/logrotate.out")"
	elif ! alive "$pid1"; then
		fail "logrotate: kforkd $pid1 died on SIGUSR1 (no handler?)"
	elif [ -s "$tmp/log/kforkd.log.1" ] && [ -s "$tmp/log/kforkd.log" ]; then
		pass "logrotate: kforkd.log.1 kept, new lines in a new kforkd.log (SIGUSR1 reopen)"
	else
		fail "logrotate: after rotation: $(find "$tmp/log" -type f -printf '%f:%s ')"
	fi
fi

# --- restart
if ! alive "$pid1"; then
	init "$D" start     # the reload killed it: go on with a fresh one
	pid1=$(pidfile_pid)
fi
init "$D" restart
check_rc "restart" 0
pid2=$(pidfile_pid)
if [ -n "$pid2" ] && [ "$pid2" != "$pid1" ] && alive "$pid2" &&
   ! alive "$pid1" && [ "$(supervisors | tr '\n' ' ')" = "$pid2 " ]; then
	pass "restart: new pid $pid2, old $pid1 gone"
else
	fail "restart: pid file $pid2 (old $pid1), supervisors $(supervisors | tr '\n' ' ')"
fi

# --- a crash: the pid file stays behind
kill -KILL "$pid2"
wait_gone "$pid2" 10 || true
init "$D" status
check_rc "status after kill -9 (pid file left)" 1
init "$D" start
check_rc "start after a crash" 0
pid3=$(pidfile_pid)
if [ -n "$pid3" ] && [ "$pid3" != "$pid2" ] && alive "$pid3"; then
	pass "start after a crash: runs as $pid3"
else
	fail "start after a crash: pid file $pid3"
fi

# --- a pid file naming a live process that is not kforkd (a reused pid)
init "$D" stop
check_rc "stop (before the stale pid file case)" 0
sleep 300 &
sleeper=$!
echo "$sleeper" > "$tmp/run/kforkd.pid"
init "$D" status
check_rc "status with a pid file naming another program" 1
init "$D" start
check_rc "start with a pid file naming another program" 0
pid4=$(pidfile_pid)
if [ -n "$pid4" ] && [ "$pid4" != "$sleeper" ] && alive "$sleeper" &&
   [ "$(readlink "/proc/$pid4/exe" 2> /dev/null)" = "$KFORKD_REAL" ]; then
	pass "start replaced the stale pid file ($pid4) and left process $sleeper alone"
else
	fail "start with a stale pid file: pid file $pid4, sleeper $sleeper"
fi
kill -KILL "$sleeper" 2> /dev/null || true
wait "$sleeper" 2> /dev/null || true
sleeper=

# --- stop
workers=$(config_pids | grep -vx "$pid4" | tr '\n' ' ' || true)
t0=$(date +%s%N)
init "$D" stop
ms=$((($(date +%s%N) - t0) / 1000000))
check_rc "stop" 0
if [ "$ms" -lt 5000 ]; then
	pass "stop took $ms ms (graceful: less than shutdown_timeout_ms)"
else
	fail "stop took $ms ms: waited for SIGKILL?"
fi
[ ! -e "$tmp/run/kforkd.pid" ] && pass "stop: pid file removed" || fail "stop: pid file left"
if ! alive "$pid4" && [ -z "$(config_pids)" ]; then
	pass "stop: supervisor $pid4 and workers ${workers:-(none seen)}gone"
else
	fail "stop: still running: $(config_pids | tr '\n' ' ')"
fi
[ ! -e "$tmp/kforkd.sock" ] && pass "stop: control socket removed" || fail "stop: control socket left"
init "$D" status
check_rc "status after stop" 3
init "$D" stop
check_rc "stop when stopped" 0

if [ "$FAILED" -ne 0 ] && [ -r "$tmp/log/kforkd.log" ]; then
	echo "--- kforkd log (tail)"
	tail -30 "$tmp/log/kforkd.log"
fi
summary
