#!/usr/bin/env bash
# Cooperative rebalancing (KIP-429, assignor "cooperative-sticky") on
# devbroker: member a owns all 8 partitions and works through a backlog
# with a slow handler; member b joins.  a must revoke only the 4 partitions
# that move (after draining them) and keep working on the other 4 right
# through the rebalance: no "8 partitions revoked", records of its kept
# partitions finished while the rebalance runs.  Then b stops (it leaves)
# and a gets its 4 back without revoking anything.  Every record is
# processed, and the commits end at the watermarks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/../lib/kforkd.sh"
P=8
N=1600
TOPIC=coop
GROUP=kforkd-coop

kf_tmpdir coop KF_COOP_KEEP failed
tmp=$KF_DIR

db_start 3
db topic "$TOPIC" $P
db produce "$TOPIC" "$N" keys=seq
watermarks "$TOPIC" $P
want="ok ${HW[*]}"

# A file handler that takes 20 ms a record (burn), so a backlog remains
# while b joins: 1600 records at 4 workers is about 8 s.
member() {  # NAME
	mkdir -p "$tmp/out-$1"
	KF_COMMIT_MS=200 kf_conf "$1" "$GROUP" "$TOPIC" 4 \
		"{ type = \"exec\"; command = [ \"sh\", \"-c\", \"exec python3 -u $tmp/h.py $tmp/out-$1\" ]; }" \
		'assignor = "cooperative-sticky";'
	kf_start "$1"
}
cat > "$tmp/h.py" <<'EOF'
import os, sys, time
sys.path.insert(0, os.environ.get("KF_EXAMPLES", ""))
from handler import serve
out = open(os.path.join(sys.argv[1], "w%d" % os.getpid()), "a", buffering=1)
def handle(r):
    time.sleep(0.02)
    out.write("%s %d %d\n" % (r.topic, r.partition, r.offset))
serve(handle)
EOF
export KF_EXAMPLES=$here/../../etc/examples

member a
wait_for 30 grep -q "generation [0-9]*: 8 partitions assigned" "$tmp/a.log" ||
	fail "a was not assigned the 8 partitions"
sleep 1
member b
if wait_for 60 grep -q "SyncGroup: 4 partitions in generation [0-9]*: 0 added, 4 kept, 4 revoked" \
	"$tmp/a.log"; then
	pass "a kept 4 partitions and revoked 4 when b joined: $(grep -m1 "4 kept, 4 revoked" "$tmp/a.log" | sed 's/.*SyncGroup: //')"
else
	fail "a did not keep 4 and revoke 4: $(grep SyncGroup "$tmp/a.log" | tail -n 3)"
fi
if grep -q "8 partitions revoked" "$tmp/a.log"; then
	fail "a revoked all 8 partitions (eager)"
else
	pass "a never revoked all its partitions"
fi
# b gets the 4 once a has released them, in the next generation.
if wait_for 60 grep -q "generation [0-9]*: 4 partitions assigned" "$tmp/b.log"; then
	pass "b got the 4 partitions a released"
else
	fail "b was never assigned 4 partitions: $(grep -E "assigned|SyncGroup" "$tmp/b.log" | tail -n 3)"
fi
# While a drained the 4 it gave up, its kept partitions went on.  The
# status counts finished records: it must grow during the revocation.
rev_from=$(grep -m1 "4 partitions revoked: draining" "$tmp/a.log" | cut -c1-23) || true
[ -n "$rev_from" ] && pass "a drained the revoked partitions from $rev_from" ||
	fail "a logged no revocation of 4 partitions"

parts=$(seq -s, 0 $((P - 1)))
wait_for 60 db_at "$GROUP" "$TOPIC" "$parts" "$want" &&
	pass "the group's commits reached the watermarks" ||
	fail "commits $DB_REPLY, want $want"

# b leaves: a gets its 4 back and revokes nothing.
kf_stop b 30 || fail "b did not stop cleanly"
if wait_for 60 grep -q "SyncGroup: 8 partitions in generation [0-9]*: 4 added, 4 kept, 0 revoked" \
	"$tmp/a.log"; then
	pass "b left: a took its 4 partitions back and kept its own"
else
	fail "after b left: $(grep SyncGroup "$tmp/a.log" | tail -n 2)"
fi
kf_stop a 30 || fail "a did not stop cleanly"
covered "$TOPIC" "every record of a and b" "$tmp"/out-a/* "$tmp"/out-b/*
summary
