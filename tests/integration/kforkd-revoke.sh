#!/usr/bin/env bash
# Revocation past rebalance_timeout_ms: member a's workers hold records they
# will not finish for a minute (an exec handler that sleeps) when member b
# joins.  a must not hold the group up: after rebalance_timeout_ms it kills
# the workers still holding revoked records (they are respawned), commits
# what is done and rejoins; b gets its partitions and drains them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/../lib/kforkd.sh"
SRCDIR=$(cd "$here/../.." && pwd)

kf_tmpdir revoke KF_REVOKE_KEEP
tmp=$KF_DIR

cat > "$tmp/slow.py" <<EOF
import sys, time
sys.path.insert(0, "$SRCDIR/etc/examples")
from handler import serve
serve(lambda r: time.sleep(60))
EOF

db_start 3
db topic r 4
db produce r 40 keys=seq

member() {  # NAME HANDLER
	mkdir -p "$tmp/out-$1"
	REBALANCE_MS=3000 KF_COMMIT_MS=200 KF_SHUTDOWN_MS=1000 kf_conf "$1" g-revoke r 2 "$2"
	kf_start "$1"
}

member a '{ type = "exec"; command = [ "python3", "'"$tmp"'/slow.py" ]; }'
for _ in $(seq 100); do grep -q "4 partitions assigned" "$tmp/a.log" && break; sleep 0.1; done
sleep 1    # a's workers are inside their first records now
member b '{ type = "file"; dir = "'"$tmp"'/out-b"; }'

if grep -q . <(for _ in $(seq 150); do
	grep -m1 "SIGKILL (still busy with revoked partitions)" "$tmp/a.log" && break; sleep 0.2; done); then
	pass "a killed its workers still busy with revoked partitions after rebalance_timeout_ms"
else
	fail "no straggler kill in a's log"
fi
# b's share (range: 2 of the 4) drains; the records a's killed workers
# held are delivered to b if the partition went to b.
bparts=
for _ in $(seq 150); do
	bparts=$(kf_get b "','.join(str(x['partition']) for x in d['assignment'] if d['state'] == 'stable')") ||
		bparts=
	[ -n "$bparts" ] && break
	sleep 0.2
done
want=ok
for p in ${bparts//,/ }; do want="$want 10"; done
drained=false
for _ in $(seq 150); do
	[ -n "$bparts" ] || break
	db committed g-revoke r "$bparts"
	[ "$DB_REPLY" = "$want" ] && { drained=true; break; }
	sleep 0.2
done
if $drained; then
	pass "b drained its partitions [$bparts] (committed ${want#ok })"
else
	fail "b: partitions [$bparts], committed ${DB_REPLY:-?}"
fi
restarts=$(kf_get a "sum(w['restarts'] for w in d['workers'])")
[ "$restarts" -ge 1 ] && pass "a's killed workers were respawned ($restarts restarts)" ||
	fail "a: $restarts worker restarts"

for n in a b; do kf_ctl $n stop > /dev/null || true; done
for n in a b; do
	kf_end $n
	[ "$KF_EXIT" -eq 0 ] && pass "member $n: exit 0" || fail "member $n: exit $KF_EXIT"
done
[ "$FAILED" -eq 0 ] || grep -v debug "$tmp/a.log" | tail -30
summary
