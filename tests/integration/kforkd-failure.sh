#!/usr/bin/env bash
# A record its handler cannot process, with both workers.on_failure
# settings, against devbroker: an exec handler (the Python example's
# serve()) that answers "fail" for f/0 offset 50 (a fail is final; retry
# answers are what max_retries counts).
#   pause: after max_retries the partition stops at that record: its
#          committed offset stays 50 (the record is never committed past),
#          status shows it paused with the reason, one error line names it,
#          the other partition is committed to its watermark.
#   skip:  the record is logged at error level with its coordinates, and
#          both partitions are committed to their watermarks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/../lib/kforkd.sh"
SRCDIR=$(cd "$here/../.." && pwd)

kf_tmpdir fail KF_FAIL_KEEP
tmp=$KF_DIR

cat > "$tmp/poison.py" <<EOF
import os, sys
sys.path.insert(0, "$SRCDIR/etc/examples")
from handler import serve
out = open("$tmp/out-%d.log" % os.getpid(), "a")
def handle(r):
    if r.partition == 0 and r.offset == 50:
        raise ValueError("poison record")
    out.write("%s %d %d\n" % (r.topic, r.partition, r.offset))
    out.flush()
serve(handle)
EOF

db_start 3
db topic f 2
db produce f 200 keys=seq
want="ok 100 100"

run() {  # NAME ON_FAILURE
	KF_COMMIT_MS=200 kf_conf "$1" "g-$1" f 2 \
		"{ type = \"exec\"; command = [ \"python3\", \"$tmp/poison.py\" ]; }" "" \
		"max_retries = 2; retry_backoff_ms = 10; on_failure = \"$2\";"
	kf_start "$1"
}

stop() {  # NAME
	if kf_stop "$1"; then
		pass "$1: kforkctl stop, exit 0"
	else
		fail "$1: kforkctl exit $KF_CTL_RC ($KF_CTL_OUT), kforkd exit status $KF_EXIT"
	fi
}

wait_committed() {  # GROUP WANT
	for _ in $(seq 150); do
		db committed "$1" f 0,1
		[ "$DB_REPLY" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

# ---- pause
run pause pause
if wait_committed g-pause "ok 50 100"; then
	pass "pause: committed 50 (before the failed record) and 100"
else
	fail "pause: committed ${DB_REPLY#ok }, want 50 100"
fi
sleep 1.5
db committed g-pause f 0,1
[ "$DB_REPLY" = "ok 50 100" ] && pass "pause: still 50 later: never committed past the failed record" ||
	fail "pause: committed ${DB_REPLY#ok } later"
p0=$(kf_get pause '[(x["paused"], x["paused_reason"]) for x in d["assignment"] if x["partition"] == 0][0]')
st=$(kf_get pause '[x["state"] for x in sorted(d["assignment"], key=lambda x: x["partition"])]')
[ "$st" = "['stopped', 'fetching']" ] && pass "pause: states $st" || fail "pause: states $st"
p1=$(kf_get pause '[x["paused"] for x in d["assignment"] if x["partition"] == 1][0]')
failed=$(kf_get pause 'd["counters"]["records_failed"]')
case $p0 in
"(True, 'offset 50 failed after 1 attempts: ValueError: poison record"*"on_failure = \"pause\")')")
	pass "pause: status shows f/0 paused: $p0" ;;
*) fail "pause: status of f/0: $p0" ;;
esac
[ "$p1" = False ] && [ "$failed" = 1 ] && pass "pause: f/1 not paused, records_failed 1" ||
	fail "pause: f/1 paused $p1, records_failed $failed"
n=$(grep -c ' error .*f/0: offset 50 failed after 1 attempts: ValueError: poison record.*partition stopped' "$tmp/pause.log" || true)
[ "$n" = 1 ] && pass "pause: one error line names f/0 offset 50" || fail "pause: $n error lines"
stop pause

# ---- skip
rm -f "$tmp"/out-*.log
run skip skip
if wait_committed g-skip "$want"; then
	pass "skip: both partitions committed to 100"
else
	fail "skip: committed ${DB_REPLY#ok }, want 100 100"
fi
if grep -q ' error .*f/0 offset 50 failed after 1 attempts: ValueError: poison record; skipped' "$tmp/skip.log"; then
	pass "skip: the failed record logged at error level with its coordinates"
else
	fail "skip: no error line for f/0 offset 50"
fi
got=$(cat "$tmp"/out-*.log | sort -u | wc -l)
[ "$got" = 199 ] && pass "skip: the handler took the 199 other records" || fail "skip: $got records handled"
stop skip

[ "$FAILED" -eq 0 ] || tail -20 "$tmp/pause.log" "$tmp/skip.log"
summary
