#!/usr/bin/env bash
# Revocation past rebalance_timeout_ms: member a's workers hold records they
# will not finish for a minute (an exec handler that sleeps) when member b
# joins.  a must not hold the group up: after rebalance_timeout_ms it kills
# the workers still holding revoked records (they are respawned), commits
# what is done and rejoins; b gets its partitions and drains them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
KFORKD=${KFORKD:-$BUILDDIR/supervisor/kforkd}
KFORKCTL=${KFORKCTL:-$BUILDDIR/supervisor/kforkctl}
[ -x "$KFORKD" ] || { echo "no kforkd at $KFORKD" >&2; exit 99; }
SRCDIR=$(cd "$here/../.." && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kf-revoke.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "${KF_REVOKE_KEEP:-}" ]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
at_exit cleanup

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
	cat > "$tmp/$1.conf" <<EOF
kafka = { bootstrap = "$BOOTSTRAP"; group = "g-revoke"; topics = [ "r" ];
          session_timeout_ms = 6000; heartbeat_interval_ms = 1000;
          rebalance_timeout_ms = 3000; commit_interval_ms = 200; };
workers = { count = 2; nice = 0; shutdown_timeout_ms = 1000; handler = $2; };
control = { socket = "$tmp/$1.sock"; };
EOF
	"$KFORKD" -c "$tmp/$1.conf" > "$tmp/$1.log" 2>&1 &
	pids+=($!)
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
	"$KFORKCTL" -s "$tmp/b.sock" status > "$tmp/b.json" 2>/dev/null &&
		bparts=$(python3 -c "import json; d = json.load(open('$tmp/b.json')); print(','.join(str(x['partition']) for x in d['assignment'] if d['state'] == 'stable'))")
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
restarts=$("$KFORKCTL" -s "$tmp/a.sock" status |
	python3 -c "import json, sys; print(sum(w['restarts'] for w in json.load(sys.stdin)['workers']))")
[ "$restarts" -ge 1 ] && pass "a's killed workers were respawned ($restarts restarts)" ||
	fail "a: $restarts worker restarts"

for n in a b; do "$KFORKCTL" -s "$tmp/$n.sock" stop > /dev/null || true; done
for i in "${!pids[@]}"; do
	rc=0
	wait "${pids[$i]}" || rc=$?
	[ $rc -eq 0 ] && pass "member $i: exit 0" || fail "member $i: exit $rc"
done
pids=()
[ "$FAILED" -eq 0 ] || grep -v debug "$tmp/a.log" | tail -30
summary
