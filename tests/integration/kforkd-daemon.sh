#!/usr/bin/env bash
# kforkd as a daemon, started as root with user = "nobody": -d returns once
# it runs, -p writes the pid file (a second start refuses), kforkd and its
# workers run as nobody, the log file is reopened on USR1 after a rename,
# kforkctl stop removes the pid file and the socket.  Root only (skipped
# otherwise).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/../lib/kforkd.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (to switch users)"; exit 77; }
id nobody > /dev/null 2>&1 || { echo "SKIP: no user nobody"; exit 77; }
NOBODY=$(id -u nobody)

# The config is kforkd's own (user, a log file, the socket in a directory
# of nobody's) and the daemon is no child of this shell: kf_conf and
# kf_start do not fit.
kf_tmpdir daemon KF_DAEMON_KEEP
tmp=$KF_DIR
chmod 755 "$tmp"
mkdir "$tmp/run" "$tmp/log" "$tmp/out"
chown nobody "$tmp/run" "$tmp/log" "$tmp/out"
pid=
kill_daemon() { [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true; }
at_exit kill_daemon

db_start 1
db topic d 2
db produce d 1000 keys=seq
cat > "$tmp/kforkd.conf" <<EOF
kafka = { bootstrap = "$BOOTSTRAP"; group = "g-daemon"; topics = [ "d" ];
          session_timeout_ms = 6000; heartbeat_interval_ms = 1000; commit_interval_ms = 200; };
workers = { count = 2; nice = 0; handler = { type = "file"; dir = "$tmp/out"; }; };
log = { file = "$tmp/log/kforkd.log"; };
user = "nobody";
control = { socket = "$tmp/run/ctl.sock"; };
EOF
chmod 644 "$tmp/kforkd.conf"

t0=$(date +%s%N)
if "$KFORKD" -d -p "$tmp/run/kforkd.pid" -c "$tmp/kforkd.conf" > "$tmp/start.out" 2>&1; then
	pass "kforkd -d: exit 0 after $((($(date +%s%N) - t0) / 1000000)) ms"
else
	fail "kforkd -d: exit $?: $(cat "$tmp/start.out")"
	exit 1
fi
pid=$(cat "$tmp/run/kforkd.pid")
kill -0 "$pid" && pass "pid file names a live process ($pid)" || fail "pid file: $pid"
# Double fork: a session of its own, not its leader (it can never get a
# controlling terminal), no terminal, cwd /.
sid=$(ps -o sid= -p "$pid" | tr -d ' ')
tty=$(ps -o tty= -p "$pid" | tr -d ' ')
if [ "$sid" != "$(ps -o sid= -p $$ | tr -d ' ')" ] && [ "$sid" != "$pid" ] && [ "$tty" = "?" ] &&
	[ "$(readlink "/proc/$pid/cwd")" = / ]; then
	pass "daemon: a new session it does not lead, no terminal, cwd /"
else
	fail "daemon: sid $sid, tty $tty, cwd $(readlink "/proc/$pid/cwd")"
fi

uid_of() { awk '/^Uid:/ { print $2 }' "/proc/$1/status"; }
workers=$(pgrep -P "$pid" | tr '\n' ' ')
bad=
for p in $pid $workers; do [ "$(uid_of "$p")" = "$NOBODY" ] || bad="$bad $p"; done
if [ -z "$bad" ] && [ -n "$workers" ]; then
	pass "kforkd and its workers ($workers) run as nobody"
else
	fail "not running as nobody:$bad (workers: $workers)"
fi

if "$KFORKD" -d -p "$tmp/run/kforkd.pid" -c "$tmp/kforkd.conf" > "$tmp/second.out" 2>&1; then
	fail "a second start with the same pid file: exit 0"
elif grep -q "already running as pid $pid" "$tmp/second.out"; then
	pass "a second start refuses: $(tail -1 "$tmp/second.out" | cut -c1-100)"
else
	fail "a second start: $(cat "$tmp/second.out")"
fi

for _ in $(seq 100); do
	db committed g-daemon d 0,1
	[ "$DB_REPLY" = "ok 500 500" ] && break
	sleep 0.2
done
[ "$DB_REPLY" = "ok 500 500" ] && pass "the daemon consumed and committed d" ||
	fail "committed ${DB_REPLY#ok }"

mv "$tmp/log/kforkd.log" "$tmp/log/kforkd.log.1"
kill -USR1 "$pid"
for _ in $(seq 50); do [ -s "$tmp/log/kforkd.log" ] && break; sleep 0.1; done
if grep -q "log file reopened" "$tmp/log/kforkd.log" 2>/dev/null &&
	! grep -q "log file reopened" "$tmp/log/kforkd.log.1"; then
	pass "USR1: new lines land in the new file"
else
	fail "USR1: new file: $(head -2 "$tmp/log/kforkd.log" 2>&1)"
fi

"$KFORKCTL" -s "$tmp/run/ctl.sock" stop
if ! kf_gone "$pid" 10; then
	fail "kforkd still running after kforkctl stop"
else
	pass "kforkctl stop: the daemon exited"
	pid=
fi
[ ! -e "$tmp/run/kforkd.pid" ] && [ ! -e "$tmp/run/ctl.sock" ] &&
	pass "pid file and socket removed at exit" || fail "left: $(ls "$tmp/run")"
grep -q "left the group" "$tmp/log/kforkd.log" && pass "left the group (log)" ||
	fail "no LeaveGroup in the log"
summary
