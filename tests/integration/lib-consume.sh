#!/usr/bin/env bash
# lib/ against a real broker: kf_probe (a client built only on lib/)
# negotiates versions, reads metadata, finds a coordinator, lists offsets
# and fetches every record of topics produced with each codec from a
# 3-broker devbroker, verifying every key, value and header, with nothing
# missing or repeated; then again with injected errors and a broker down.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
PROBE=${PROBE:-$BUILDDIR/tests/integration/kf_probe}

db_start 3

topics=()
for codec in none gzip snappy lz4 zstd; do
	db topic "c-$codec" 3
	db produce "c-$codec" 3000 codec=$codec size=100 keys=seq
	topics+=(-t "c-$codec:seq")
done
db topic big 2
db produce big 2000 codec=lz4 size=1024 keys=mod:7
topics+=(-t big:mod:7)
db topic nokeys 1
db produce nokeys 500 codec=none size=10 keys=none
topics+=(-t nokeys:none)

if "$PROBE" -b "$BOOTSTRAP" -w 60 "${topics[@]}"; then
	pass "every codec, every record verified"
else
	fail "every codec, every record verified"
fi

# Fetch versions below the newest the broker speaks still decode.
for v in 4 7 10; do
	if "$PROBE" -b "$BOOTSTRAP" -w 60 -m "$v" -t c-zstd:seq -t big:mod:7 >/dev/null; then
		pass "Fetch capped at v$v"
	else
		fail "Fetch capped at v$v"
	fi
done

# Injected errors: NOT_LEADER_OR_FOLLOWER (6) on Fetch (1), then
# COORDINATOR_NOT_AVAILABLE (15) on FindCoordinator (10), then
# LEADER_NOT_AVAILABLE (5) on ListOffsets (2): the probe retries through.
db errors 1 6 3
db errors 10 15 2
db errors 2 5 2
if "$PROBE" -b "$BOOTSTRAP" -w 60 -t c-gzip:seq -t c-snappy:seq > "$BUILDDIR/probe-errors.out" &&
	grep -Eq ' [1-9][0-9]* retries' "$BUILDDIR/probe-errors.out"; then
	pass "injected request errors: retried and completed ($(tail -1 "$BUILDDIR/probe-errors.out"))"
else
	cat "$BUILDDIR/probe-errors.out"
	fail "injected request errors"
fi
rm -f "$BUILDDIR/probe-errors.out"

# A broker down while the probe runs: it backs off, reconnects once the
# broker is back, and completes.
db down 2
out=$BUILDDIR/probe-down.out
"$PROBE" -b "$BOOTSTRAP" -w 60 "${topics[@]}" > "$out" 2>&1 &
probe_pid=$!
sleep 2
db up 2
if wait "$probe_pid" && grep -q '/2: cannot connect' "$out" &&
	grep -q '/2: connected after' "$out"; then
	pass "broker 2 down for 2 s: reconnected and completed ($(tail -1 "$out"))"
else
	cat "$out"
	fail "broker 2 down for 2 s: refused, then reconnected and completed"
fi
rm -f "$out"

db_stop
summary
