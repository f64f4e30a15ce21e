#!/usr/bin/env bash
# Reloading kforkd's config while records flow (SIGHUP and kforkctl reload),
# against devbroker, one kforkd with file-handler workers:
#   - an invalid file: the running config stays, status shows
#     last_reload_error with FILE:LINE, kforkctl reload exits 1; the next
#     good reload clears it;
#   - workers.count 2 -> 6 -> 1: no rebalance, the status lists the workers;
#   - the handler changed (file dir A -> dir B): every worker is replaced,
#     one at a time, no rebalance, new records land in B;
#   - quiet / resume: no record taken while quiet, heartbeats go on;
#   - the group and topic changed: drain, commit, leave, join the new group
#     on the new topic;
#   - a reload sent while workers are being replaced is queued, then applied;
#   - workers.ring_bytes and workers.dispatch changed while records flow;
# and at the end every record of both topics is in the handlers' output at
# least once and both groups committed their high watermarks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
KFORKD=${KFORKD:-$BUILDDIR/supervisor/kforkd}
KFORKCTL=${KFORKCTL:-$BUILDDIR/supervisor/kforkctl}
[ -x "$KFORKD" ] || { echo "no kforkd at $KFORKD" >&2; exit 99; }
P=6

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kf-reload.XXXXXX")
kpid=
cleanup() {
	if [ -n "$kpid" ]; then
		kill -KILL "$kpid" 2>/dev/null || true
		wait "$kpid" 2>/dev/null || true
	fi
	if [ -n "${KF_RELOAD_KEEP:-}" ]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
at_exit cleanup
db_start 3
mkdir -p "$tmp/A" "$tmp/B"

conf() {  # GROUP TOPIC COUNT DIR
	cat > "$tmp/kforkd.conf.new" <<EOF
kafka = {
  bootstrap = "$BOOTSTRAP";
  group = "$1";
  topics = [ "$2" ];
  session_timeout_ms = 6000;
  heartbeat_interval_ms = 1000;
  rebalance_timeout_ms = 10000;
  commit_interval_ms = 300;
};
workers = {
  count = $3;
  nice = ${NICE:-0};
  ring_bytes = ${RING:-16777216};
  dispatch = "${DISPATCH:-partition}";
  shutdown_timeout_ms = 10000;
  handler = { type = "file"; dir = "$tmp/$4"; };
};
control = { socket = "$tmp/ctl.sock"; };
${EXTRA:-}
EOF
	mv "$tmp/kforkd.conf.new" "$tmp/kforkd.conf"
}

status() {  # FIELD...
	"$KFORKCTL" -s "$tmp/ctl.sock" status > "$tmp/status.json" || return 1
	python3 - "$tmp/status.json" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for f in sys.argv[2:]:
    if f == "lag":
        print(sum(x["lag"] if x["lag"] is not None else 10**9 for x in d["assignment"]))
    elif f == "nparts":
        print(len(d["assignment"]))
    elif f == "pids":
        print(" ".join(str(w["pid"]) for w in d["workers"]))
    elif f == "wstates":
        print(" ".join(w["state"] for w in d["workers"]))
    else:
        v = d
        for k in f.split("."):
            v = v[k]
        print("null" if v is None else v)
PY
}

# The partitions' states in the status, each once, sorted.
status_states() {
	"$KFORKCTL" -s "$tmp/ctl.sock" status |
		python3 -c 'import json,sys; print(" ".join(sorted({x["state"] for x in json.load(sys.stdin)["assignment"]})))'
}

# Wait until the status says EXPR (python, d = the status) or fail.
wait_status() {  # WHAT SECONDS EXPR
	local i
	for i in $(seq $(($2 * 5))); do
		if "$KFORKCTL" -s "$tmp/ctl.sock" status > "$tmp/w.json" 2>/dev/null &&
			python3 -c "import json,sys; d=json.load(open('$tmp/w.json')); sys.exit(0 if ($3) else 1)"; then
			return 0
		fi
		sleep 0.2
	done
	fail "$1: not within $2 s: $(cat "$tmp/w.json" 2>/dev/null | head -c 600)"
	return 1
}
# drained TOPIC: a condition for wait_status: every partition of TOPIC
# committed up to the broker's high watermark, read now from devbroker (the
# status's own watermark may be one fetch old).
drained() {
	local p sum=0
	for p in $(seq 0 $((P - 1))); do
		db hwm "$1" "$p"
		sum=$((sum + ${DB_REPLY##* }))
	done
	echo 'd["state"] in ("stable", "quiet") and len(d["assignment"]) == '"$P"' and all(x["topic"] == "'"$1"'" for x in d["assignment"]) and sum(x["committed"] or 0 for x in d["assignment"]) == '"$sum"
}

db topic t1 $P
db topic t2 $P
db produce t1 20000 codec=lz4 keys=seq
conf g1 t1 2 A
"$KFORKD" -c "$tmp/kforkd.conf" > "$tmp/kforkd.log" 2>&1 &
kpid=$!
wait_status "first drain" 60 "$(drained t1)" && pass "2 workers drained t1"
reb=$(status counters.rebalances)

# --- an invalid file keeps the running config
cp "$tmp/kforkd.conf" "$tmp/good.conf"
printf 'kafka = {\n  bootstrap = "x";\n  group = 7;\n};\n' > "$tmp/kforkd.conf"
kill -HUP "$kpid"
sleep 0.5
err=$(status config.last_reload_error)
case $err in
"$tmp/kforkd.conf:3:"*) pass "SIGHUP with an invalid file: last_reload_error = $err" ;;
*) fail "last_reload_error after a bad SIGHUP: $err" ;;
esac
set +e
out=$("$KFORKCTL" -s "$tmp/ctl.sock" reload 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] && [[ $out == *"kforkd.conf:3:"* ]] && pass "kforkctl reload of an invalid file: exit 1, $out" ||
	fail "kforkctl reload of an invalid file: exit $rc, $out"
db produce t1 3000 codec=lz4 keys=seq
wait_status "drain with the old config" 30 "$(drained t1)" && pass "still consuming with the old config"
mv "$tmp/good.conf" "$tmp/kforkd.conf"
"$KFORKCTL" -s "$tmp/ctl.sock" reload > "$tmp/reload.out" || fail "good reload: exit $?"
[ "$(status config.last_reload_error)" = null ] && pass "a good reload clears last_reload_error ($(cat "$tmp/reload.out"))" ||
	fail "last_reload_error not cleared"

# --- what a reload does, key by key: log.level at once, log.file at the
# next start (the running value stays, so changing it back is no change)
EXTRA="log = { level = \"debug\"; file = \"$tmp/other.log\"; };" conf g1 t1 2 A
out=$("$KFORKCTL" -s "$tmp/ctl.sock" reload)
[ "$out" = "at once: log.level; next start: log.file" ] &&
	grep -q "reload: log.file takes effect only when kforkd starts again" "$tmp/kforkd.log" &&
	[ ! -e "$tmp/other.log" ] && pass "log.level now, log.file at the next start: $(echo $out)" ||
	fail "reload of log.level and log.file: $out"
EXTRA="log = { level = \"info\"; };" conf g1 t1 2 A
out=$("$KFORKCTL" -s "$tmp/ctl.sock" reload)
[ "$out" = "at once: log.level" ] && pass "log.file back as it was: no change to it" ||
	fail "second reload: $out"

# --- worker count 2 -> 6 -> 1 while records flow
db produce t1 20000 codec=lz4 keys=seq
conf g1 t1 6 A
kill -HUP "$kpid"
wait_status "6 workers" 20 'len(d["workers"]) == 6 and all(w["state"] == "running" for w in d["workers"])' &&
	pass "reload to 6 workers: $(status wstates)"
db produce t1 20000 codec=lz4 keys=seq
conf g1 t1 1 A
kill -HUP "$kpid"
wait_status "1 worker" 30 'len(d["workers"]) == 1' && pass "reload to 1 worker: $(status wstates)"
wait_status "drain after resizing" 60 "$(drained t1)" && pass "drained after 2 -> 6 -> 1"
[ "$(status counters.rebalances)" = "$reb" ] && pass "no rebalance for worker count changes" ||
	fail "rebalances $(status counters.rebalances), was $reb"

# --- handler change: rolling replacement, new records land in B
conf g1 t1 3 A
"$KFORKCTL" -s "$tmp/ctl.sock" reload > /dev/null
wait_status "3 workers" 20 'len(d["workers"]) == 3 and all(w["state"] == "running" for w in d["workers"])'
pids_a=$(status pids)
db produce t1 30000 codec=lz4 keys=seq
conf g1 t1 3 B
"$KFORKCTL" -s "$tmp/ctl.sock" reload > "$tmp/reload.out"
echo "reload said: $(tr '\n' ' ' < "$tmp/reload.out")"
wait_status "rolling replacement" 60 'len(d["workers"]) == 3 and all(w["state"] == "running" for w in d["workers"])' || true
for _ in $(seq 100); do grep -q "reload: workers replaced" "$tmp/kforkd.log" && break; sleep 0.2; done
pids_b=$(status pids)
same=$(comm -12 <(tr ' ' '\n' <<< "$pids_a" | sort) <(tr ' ' '\n' <<< "$pids_b" | sort) | wc -l)
if grep -q "reload: workers replaced" "$tmp/kforkd.log" && [ "$same" = 0 ]; then
	pass "handler change: every worker replaced ($pids_a -> $pids_b)"
else
	fail "handler change: pids $pids_a -> $pids_b"
fi
db produce t1 3000 codec=lz4 keys=seq
wait_status "drain after the handler change" 60 "$(drained t1)" && pass "drained after the handler change"
newb=$(cat "$tmp"/B/worker-*.log 2>/dev/null | wc -l)
[ "$newb" -ge 3000 ] && pass "the new handler wrote $newb records to B" || fail "only $newb records in B"
[ "$(status counters.rebalances)" = "$reb" ] && pass "no rebalance for the handler change" ||
	fail "rebalances $(status counters.rebalances), was $reb"

# --- quiet and resume
"$KFORKCTL" -s "$tmp/ctl.sock" quiet > /dev/null
wait_status "quiet" 10 'd["state"] == "quiet"' && pass "kforkctl quiet: state quiet"
done0=$(status counters.records_done)
hb0=$(status counters.heartbeats)
db produce t1 5000 codec=lz4 keys=seq
sleep 3
done1=$(status counters.records_done)
hb1=$(status counters.heartbeats)
[ "$done1" = "$done0" ] && [ "$hb1" -gt "$hb0" ] &&
	pass "quiet: no record taken in 3 s, heartbeats $hb0 -> $hb1" ||
	fail "quiet: records_done $done0 -> $done1, heartbeats $hb0 -> $hb1"
grep -q "quiet: the workers are idle and what they did is committed" "$tmp/kforkd.log" &&
	[ "$(status_states)" = "blocked" ] && pass "quiet: idle and committed, every partition blocked" ||
	fail "quiet: log or partition states: $(status_states)"
"$KFORKCTL" -s "$tmp/ctl.sock" resume > /dev/null
wait_status "drain after resume" 30 "$(drained t1)" && pass "resume: the 5000 records consumed"
[ "$(status_states)" = "fetching" ] && pass "resume: every partition fetching" ||
	fail "resume: partition states $(status_states)"

# --- a reload that comes while workers are being replaced is queued, then
# applied: workers.nice changes (a rolling replacement), then the count
NICE=1 conf g1 t1 3 B
kill -HUP "$kpid"
sleep 0.3
conf g1 t1 2 B
kill -HUP "$kpid"
if wait_status "the queued reload" 30 'len(d["workers"]) == 2' &&
	grep -q "SIGHUP: queued until the worker replacement" "$tmp/kforkd.log"; then
	pass "a reload during a worker replacement was queued, then applied (2 workers)"
else
	fail "no queued reload applied: $(grep -c queued "$tmp/kforkd.log") queued lines, workers: $(status wstates)"
fi

# --- ring size (a rolling replacement gives each worker a new ring) and
# dispatch mode (held until the workers are idle, then swapped), while
# records flow: nothing lost, no rebalance
db produce t1 20000 codec=lz4 keys=seq
RING=1048576 conf g1 t1 2 B
kill -HUP "$kpid"
for _ in $(seq 150); do [ "$(grep -c 'a new ring of 1048576 bytes' "$tmp/kforkd.log")" -ge 2 ] && break; sleep 0.2; done
n=$(grep -c 'a new ring of 1048576 bytes' "$tmp/kforkd.log" || true)
[ "$n" -ge 2 ] && pass "workers.ring_bytes: $n workers got a 1 MiB ring" || fail "workers.ring_bytes: $n new rings"
db produce t1 20000 codec=lz4 keys=seq
DISPATCH=key RING=1048576 conf g1 t1 2 B
kill -HUP "$kpid"
for _ in $(seq 150); do grep -q 'reload: dispatching by key' "$tmp/kforkd.log" && break; sleep 0.2; done
grep -q 'reload: dispatching by key' "$tmp/kforkd.log" && pass "workers.dispatch: now by key" ||
	fail "workers.dispatch: no switch in the log"
wait_status "drain after ring and dispatch changes" 60 "$(drained t1)" &&
	pass "drained after the ring and dispatch changes"
[ "$(status counters.rebalances)" = "$reb" ] && pass "no rebalance for ring and dispatch changes" ||
	fail "rebalances $(status counters.rebalances), was $reb"

# --- Kafka settings: a new group on a new topic
db produce t2 20000 codec=lz4 keys=seq
conf g2 t2 3 B
kill -HUP "$kpid"
wait_status "the new group" 60 'd["group"] == "g2" and '"$(drained t2)" &&
	pass "group and topic change: drained t2 as g2"
gen=$(status counters.rebalances)
[ "$gen" -gt "$reb" ] && pass "rejoined: $gen generations in all" || fail "rebalances $gen"

"$KFORKCTL" -s "$tmp/ctl.sock" stop
rc=0
wait "$kpid" || rc=$?
kpid=
[ $rc -eq 0 ] && pass "kforkctl stop: exit 0" || fail "kforkd exit status $rc"

# --- nothing lost: every record of t1 and t2, and both groups committed all
parts=$(seq -s, 0 $((P - 1)))
for gt in g1:t1 g2:t2; do
	g=${gt%:*} t=${gt#*:}
	hw=()
	for p in $(seq 0 $((P - 1))); do
		db hwm "$t" "$p"
		read -r _ _ h <<< "$DB_REPLY"
		hw+=("$h")
	done
	db committed "$g" "$t" "$parts"
	[ "$DB_REPLY" = "ok ${hw[*]}" ] && pass "$g committed the watermarks of $t: ${hw[*]}" ||
		fail "$g on $t: committed ${DB_REPLY#ok }, watermarks ${hw[*]}"
	missing=$(cat "$tmp"/A/worker-*.log "$tmp"/B/worker-*.log | awk -v t="$t" -v hw="${hw[*]}" '
		BEGIN { n = split(hw, h, " ") }
		$1 == t { seen[$2 " " $3] = 1 }
		END { m = 0; for (p = 0; p < n; p++) for (o = 0; o < h[p + 1]; o++) if (!((p " " o) in seen)) m++; print m }')
	[ "$missing" = 0 ] && pass "every record of $t in the handlers' output" ||
		fail "$missing records of $t missing"
done
if [ "$FAILED" -ne 0 ]; then
	echo "--- kforkd log (warnings and errors, last 40)"
	grep -E ' (warn|error) ' "$tmp/kforkd.log" | tail -40 || true
fi
summary
