#!/usr/bin/env bash
# kfork demo: the Python example handler on a backlog, end to end.
#
#   etc/examples/demo.sh          (./quickstart demo builds first, then runs this)
#
# Starts devbroker (the test broker, 3 brokers on 127.0.0.1), creates a
# topic of 6 partitions and produces 200,000 records into it, then runs
# kforkd with 4 workers, each feeding etc/examples/handler.py through the
# exec handler.  A progress line (records/s, done, lag, heartbeats, workers)
# is read from `kforkctl status` 4 times a second until every partition's
# committed offset is its high watermark.  The summary checks the committed
# offsets against the high watermarks as devbroker reads them (not as kforkd
# reports them).  Everything is stopped and removed at the end, and on
# Ctrl-C.  Needs no root: the control socket is in the temp dir.
#
# Environment:
#   KF_BUILDDIR          the build directory (default: build/ in the source tree)
#   KF_DEMO_RECORDS      records to produce (default 200000)
#   KF_DEMO_PARTITIONS   partitions of the topic (default 6)
#   KF_DEMO_WORKERS      kforkd workers (default 4)
#   KF_DEMO_TIMEOUT      seconds to wait for the lag to reach 0 (default 300)
#   KF_DEMO_KEEP=1       keep the temp dir (config, kforkd's log)
# Exit status: 0 when every committed offset equals its high watermark and
# no record failed; 1 otherwise; 2 when something is missing.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${KF_BUILDDIR:-$top/build}
builddir=$(cd "$builddir" 2>/dev/null && pwd) || {
	echo "demo: no build directory at ${KF_BUILDDIR:-$top/build}" >&2
	exit 2
}
N=${KF_DEMO_RECORDS:-200000}
P=${KF_DEMO_PARTITIONS:-6}
W=${KF_DEMO_WORKERS:-4}
TIMEOUT=${KF_DEMO_TIMEOUT:-300}
TOPIC=demo
GROUP=kfork-demo
DEVBROKER=$builddir/tests/devbroker/devbroker
KFORKD=$builddir/supervisor/kforkd
KFORKCTL=$builddir/supervisor/kforkctl
HANDLER=$top/etc/examples/handler.py

for f in "$DEVBROKER" "$KFORKD" "$KFORKCTL"; do
	[ -x "$f" ] && continue
	echo "demo: $f is missing: run ./quickstart demo, or make (and make" \
		"tests/devbroker/devbroker) in $builddir" >&2
	exit 2
done
command -v python3 >/dev/null || { echo "demo: python3 is missing" >&2; exit 2; }
# kforkd's config, start and graceful stop: the source tree's shell library
# (a plain file, nothing under tests/ needs to be built).
lib=$top/tests/lib/kforkd.sh
[ -r "$lib" ] || { echo "demo: $lib is missing: run it from a kfork source tree" >&2; exit 2; }
# shellcheck source=../../tests/lib/kforkd.sh
. "$lib"

say() { printf '%s\n' "$*"; }

# --- cleanup: kforkd (kforkctl stop, then signals), devbroker, the temp dir.
# Both run in sessions of their own (setsid), so a Ctrl-C in the terminal
# reaches only this script: it stops kforkd first, while the broker is still
# there to take its last commit and LeaveGroup, then the broker.
tmp=
dbpid=
mpid=
stopped=()
stop_kforkd() {
	# kforkctl stop (SIGTERM when it fails), SIGKILL after 30 s
	[ -n "${KPID[kforkd]:-}" ] || return 0
	kf_stop kforkd 30 || true
	stopped+=(kforkd)
}
stop_devbroker() {
	[ -n "$dbpid" ] || return 0
	# EOF on its stdin makes devbroker exit 0.
	# shellcheck disable=SC1083
	[ -z "${DB[1]:-}" ] || exec {DB[1]}>&- 2>/dev/null || true
	kf_gone "$dbpid" 10 || {
		kill -TERM "$dbpid" 2>/dev/null || true
		kf_gone "$dbpid" 5 || kill -KILL "$dbpid" 2>/dev/null || true
	}
	wait "$dbpid" 2>/dev/null || true
	dbpid=
	stopped+=(devbroker)
}
cleanup() {
	if [ -n "$mpid" ]; then
		kill -TERM "$mpid" 2>/dev/null || true
		wait "$mpid" 2>/dev/null || true
		mpid=
	fi
	stop_kforkd
	stop_devbroker
	[ -n "$tmp" ] || return 0
	if [ -n "${KF_DEMO_KEEP:-}" ]; then
		say "kept $tmp (kforkd.conf, kforkd.log)"
	else
		rm -rf "$tmp"
		local what=
		if [ ${#stopped[@]} -gt 0 ]; then
			what=$(printf '%s and ' "${stopped[@]}")
			what="${what% and } stopped, "
		fi
		say "cleaned up: $what$tmp removed"
	fi
	tmp=
}
on_signal() {  # SIG: clean up, then die of the signal, as the caller expects
	trap - EXIT INT TERM HUP
	printf '\ndemo: interrupted, stopping\n'
	cleanup
	kill -"$1" $$
}
trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kf-demo.XXXXXX")
KF_DIR=$tmp

# --- devbroker: one command a line on its stdin, one answer a line.
db() {
	echo "$*" >&"${DB[1]}"
	if ! read -r -t 120 DB_REPLY <&"${DB[0]}"; then
		say "demo: devbroker did not answer: $*" >&2
		exit 1
	fi
	case "$DB_REPLY" in
	ok*) ;;
	*) say "demo: devbroker: $* -> $DB_REPLY" >&2; exit 1 ;;
	esac
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
read_hwm() {  # hwm (array): the high watermarks of $TOPIC, from devbroker
	local p h
	hwm=()
	for p in $(seq 0 $((P - 1))); do
		db hwm "$TOPIC" "$p"
		read -r _ _ h <<< "$DB_REPLY"
		hwm+=("$h")
	done
}

coproc DB { exec setsid "$DEVBROKER" -b 3 2>"$tmp/devbroker.log"; }
dbpid=$DB_PID
read -r -t 20 BOOTSTRAP <&"${DB[0]}" || {
	say "demo: devbroker did not start: $(cat "$tmp/devbroker.log")" >&2
	exit 1
}
say "devbroker (pid $dbpid): 3 brokers at $BOOTSTRAP"
db topic "$TOPIC" "$P"
t0=$(date +%s%N)
db produce "$TOPIC" "$N" codec=lz4 size=100 keys=seq
read_hwm
say "topic \"$TOPIC\": $P partitions, $N records produced in $(ms_since "$t0") ms" \
	"(lz4, 100-byte values, keys k<offset>)"

# --- kforkd: 4 workers, each running handler.py through the exec handler;
# $tmp/kforkd.conf, .log and .sock (the workers at kforkd's default nice).
KF_CLIENT_ID=kforkd KF_DISPATCH=key KF_NICE=5 kf_conf kforkd "$GROUP" "$TOPIC" "$W" \
	"{ type = \"exec\"; command = [ \"python3\", \"$HANDLER\" ]; window = 64; }"
t0=$(date +%s%N)
KFORKD_WRAP=setsid kf_start kforkd
say "kforkd (pid ${KPID[kforkd]}): $W workers, each running: python3 $HANDLER"
say "  (config and log in $tmp; progress from kforkctl status)"

# --- progress, 4 times a second, until the lag is 0 on every partition.
# One python3 process for the whole loop: the workers need the CPU more.
# In the background, so that a signal to this script is handled at once
# (a trap waits for a foreground command to end; it interrupts `wait`).
python3 - "$KFORKCTL" "$tmp/kforkd.sock" "${KPID[kforkd]}" "$t0" "$TIMEOUT" "$tmp/final.json" \
	"${hwm[*]}" <<'PY' &
import collections, json, subprocess, sys, time

ctl, sock, kpid, t0, timeout, final = sys.argv[1:7]
kpid, t0, timeout = int(kpid), int(t0) / 1e9, float(timeout)
hwm = [int(x) for x in sys.argv[7].split()]
total = sum(hwm)
tty = sys.stdout.isatty()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def status():
    try:
        r = subprocess.run([ctl, "-s", sock, "status"], capture_output=True,
                           text=True, timeout=5)
        return json.loads(r.stdout) if r.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError):
        return None


def show(line, last=False):
    if tty:
        sys.stdout.write("\r" + line + "\033[K" + ("\n" if last else ""))
    else:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    window = collections.deque()  # (time, records_done)
    plain_at = 0.0
    joined = None
    seen = t0  # the last status that was not yet stable
    while True:
        began = time.time()
        if began - t0 > timeout:
            show("the lag did not reach 0 in %g s" % timeout, True)
            return 1
        if not alive(kpid):
            show("kforkd exited", True)
            return 1
        d = status()
        now = time.time()  # kforkctl may be slow to start on a busy machine
        if d is None:
            time.sleep(0.25)
            continue
        c = d["counters"]
        a = d["assignment"]
        done = c["records_done"]
        # records/s over the last second or more: from the newest sample
        # that is at least a second old (a slow kforkctl leaves gaps).
        window.append((now, done))
        while len(window) > 2 and now - window[1][0] >= 1.0:
            window.popleft()
        dt = now - window[0][0]
        rate = (done - window[0][1]) / dt if dt > 0 else 0.0
        # Before its first commit a partition's lag is all of it.
        lag = sum(x["lag"] if x["lag"] is not None and x["committed"] is not None
                  else hwm[x["partition"]] - (x["committed"] or 0) for x in a)
        if not a:
            lag = total
        if joined is None:
            if d["state"] == "stable" and a:
                joined = seen - t0  # early rather than late: rates stay low
            else:
                seen = now
        running = sum(1 for w in d["workers"] if w["state"] == "running")
        line = ("%5.1f s  %7s records/s  done %s/%s  lag %s  heartbeats %d"
                "  workers %d/%d running  %s" %
                (now - t0, "{:,.0f}".format(rate), "{:,}".format(done),
                 "{:,}".format(total), "{:,}".format(lag), c["heartbeats"],
                 running, len(d["workers"]), d["state"]))
        committed = {x["partition"]: x["committed"] for x in a}
        finished = (d["state"] == "stable" and
                    all(committed.get(p) == h for p, h in enumerate(hwm)))
        if finished:
            show(line, True)
            d["demo"] = {"elapsed": now - t0, "joined": joined}
            with open(final, "w") as f:
                json.dump(d, f)
            return 0
        if tty or now - plain_at >= 2.0:
            show(line)
            plain_at = now
        time.sleep(max(0.0, 0.25 - (time.time() - began)))


sys.exit(main())
PY
mpid=$!
rc=0
wait "$mpid" || rc=$?
mpid=
if [ $rc -ne 0 ]; then
	say "demo: FAILED; the end of kforkd's log:"
	tail -n 30 "$tmp/kforkd.log"
	exit 1
fi

# --- summary: the broker's committed offsets and watermarks, not kforkd's.
parts=$(seq -s, 0 $((P - 1)))
db committed "$GROUP" "$TOPIC" "$parts"
committed=${DB_REPLY#ok }
read_hwm
t1=$(date +%s%N)
stop_kforkd
if [ "$KF_CTL_RC" -ne 0 ]; then
	kstop="kforkctl stop: exit $KF_CTL_RC"
elif [ "$KF_KILLED" = 1 ]; then
	kstop="kforkd did not exit in 30 s"
else
	kstop="exit $KF_EXIT"
fi
stop_ms=$(ms_since "$t1")
python3 - "$tmp/final.json" "$N" "$committed" "${hwm[*]}" "$kstop" "$stop_ms" <<'PY'
import json, sys

d = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
committed = [int(x) for x in sys.argv[3].split()]
hwm = [int(x) for x in sys.argv[4].split()]
kstop, stop_ms = sys.argv[5], int(sys.argv[6])
c, demo = d["counters"], d["demo"]
ok = True
f = "{:,}".format
print()
print("summary")
print("  records      %s produced, %s done by %d Python workers, %s failed" %
      (f(n), f(c["records_done"]), len(d["workers"]), f(c["records_failed"])))
elapsed, joined = demo["elapsed"], demo["joined"]
print("  duration     %.1f s from kforkd's start to lag 0" % elapsed)
if joined is not None and elapsed - joined > 0.05:
    # devbroker's group coordinator holds the first join about 3 s.
    print("               (%.1f s joining the group, %.1f s consuming)" %
          (joined, elapsed - joined))
    print("  throughput   %s records/s while consuming, %s from the start" %
          (f(round(n / (elapsed - joined))), f(round(n / elapsed))))
else:
    print("  throughput   %s records/s" % f(round(n / elapsed)))
print("  partition    committed   high watermark")
for p, (cm, hw) in enumerate(zip(committed, hwm)):
    good = cm == hw
    ok = ok and good
    print("  %9d  %11s  %15s   %s" % (p, f(cm), f(hw), "OK" if good else "MISMATCH"))
print("  heartbeats   %d%s" % (c["heartbeats"], "" if c["heartbeats"] < 2 else
      ", longest gap between two: %s ms (heartbeat_max_gap_ms)" %
      f(c["heartbeat_max_gap_ms"])))
print("  rebalances   %d" % c["rebalances"])
print("  commits      %d (%d failed)" % (c["commits"], c["commit_failures"]))
print("  kforkd       kforkctl stop: %s after %d ms" % (kstop, stop_ms))
if c["records_failed"] or kstop != "exit 0" or sum(hwm) != n:
    ok = False
print("result: %s" % ("OK: every partition's committed offset is its high watermark"
                      if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
