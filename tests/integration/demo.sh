#!/usr/bin/env bash
# The demo (etc/examples/demo.sh, what `./quickstart demo` runs) on a smaller
# backlog: KF_DEMO_RECORDS records (default 20000) through the Python
# example handler.  It must exit 0 with "result: OK" and an OK line for each
# of its 6 partitions, print plain progress lines (stdout is not a
# terminal here: no \r), and leave no devbroker, kforkd or temp dir behind.
# Then a Ctrl-C (SIGINT to the script) while kforkd runs: it must stop
# both, remove its temp dir and die of SIGINT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
DEMO=$here/../../etc/examples/demo.sh
export KF_BUILDDIR=$BUILDDIR
export KF_DEMO_RECORDS=${KF_DEMO_RECORDS:-20000}
export KF_DEMO_TIMEOUT=120
[ -x "$BUILDDIR/supervisor/kforkd" ] || { echo "no kforkd in $BUILDDIR" >&2; exit 99; }

out=$(mktemp "${TMPDIR:-/tmp}/kf-demo-test.XXXXXX")
bg=
cleanup() {
	if [ -n "$bg" ]; then
		kill -TERM "$bg" 2>/dev/null || true
		wait "$bg" 2>/dev/null || true
	fi
	rm -f "$out"
}
at_exit cleanup

# What the demo left behind: its processes (from "... (pid N)" lines) and
# its temp dir (from the "config and log in DIR" line).
leftovers() {
	local pid dir
	for pid in $(sed -n 's/^\(devbroker\|kforkd\) (pid \([0-9]*\)).*/\2/p' "$out"); do
		! kill -0 "$pid" 2>/dev/null || echo "pid $pid still running"
	done
	dir=$(sed -n 's/.*config and log in \([^;]*\);.*/\1/p' "$out")
	[ -n "$dir" ] || echo "no temp dir named"
	[ -z "$dir" ] || [ ! -e "$dir" ] || echo "$dir still there"
}

# --- a full run
t0=$(date +%s%N)
set +e
"$DEMO" > "$out" 2>&1
rc=$?
set -e
ms=$((($(date +%s%N) - t0) / 1000000))
cat "$out"
if [ $rc -eq 0 ] && grep -q '^result: OK' "$out"; then
	pass "demo with $KF_DEMO_RECORDS records: exit 0, result OK, in $ms ms"
else
	fail "demo: exit $rc"
fi
oks=$(grep -cE '^ +[0-9]+ +[0-9,]+ +[0-9,]+ +OK$' "$out" || true)
if [ "$oks" -eq 6 ] && ! grep -q MISMATCH "$out"; then
	pass "summary: committed = high watermark on all 6 partitions"
else
	fail "summary: $oks partitions OK"
fi
if grep -q "done $(python3 -c "print('{:,}'.format($KF_DEMO_RECORDS))")/" "$out" &&
	grep -q 'records/s.*heartbeats.*workers [0-9]/4 running' "$out" &&
	! grep -q $'\r' "$out"; then
	pass "plain progress lines (not a terminal), the last with every record done"
else
	fail "progress lines: $(grep records/s "$out" | tail -2)"
fi
left=$(leftovers)
if [ -z "$left" ]; then
	pass "nothing left behind (devbroker, kforkd, temp dir)"
else
	fail "left behind: $left"
fi

# --- Ctrl-C while kforkd runs.  A background job starts with SIGINT
# ignored, and bash cannot trap a signal ignored at entry: give the demo
# the default disposition back, as a terminal's shell would.
python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$DEMO" > "$out" 2>&1 &
bg=$!
for _ in $(seq 300); do
	grep -q 'records/s' "$out" && break
	kill -0 "$bg" 2>/dev/null || break
	sleep 0.1
done
kill -INT "$bg"
set +e
wait "$bg"
rc=$?
set -e
bg=
left=$(leftovers)
if [ $rc -eq 130 ] && grep -q 'demo: interrupted' "$out" && [ -z "$left" ]; then
	pass "SIGINT: died of SIGINT, kforkd and devbroker stopped, temp dir removed"
else
	fail "SIGINT: exit $rc, left behind: $left; output: $(cat "$out")"
fi
summary
