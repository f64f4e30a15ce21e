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
. "$here/../lib/kforkd.sh"
P=6

kf_tmpdir reload KF_RELOAD_KEEP
tmp=$KF_DIR
db_start 3
mkdir -p "$tmp/A" "$tmp/B"

# GROUP TOPIC COUNT DIR, with NICE, RING and DISPATCH if set; KF_LOG is the
# log group's keys.
conf() {
	KF_COMMIT_MS=300 KF_NICE=${NICE:-0} KF_DISPATCH=${DISPATCH:-partition} \
		kf_conf kforkd "$1" "$2" "$3" "{ type = \"file\"; dir = \"$tmp/$4\"; }" "" \
		"ring_bytes = ${RING:-16777216};"
}

hup() { kill -HUP "${KPID[kforkd]}"; }

status() { kf_get kforkd "$@"; }  # EXPR... (tests/lib/kforkd.sh)
PIDS='" ".join(str(w.pid) for w in workers)'
WSTATES='" ".join(w.state for w in workers)'
# The partitions' states, each once, sorted.
STATES='" ".join(sorted({x.state for x in assignment}))'

# Wait until the status says EXPR (python, d = the status) or fail.
wait_status() {  # WHAT SECONDS EXPR
	local i
	for i in $(seq $(($2 * 5))); do
		kf_true kforkd "$3" && return 0
		sleep 0.2
	done
	fail "$1: not within $2 s: $(kf_status kforkd | head -c 600)"
	return 1
}
# drained TOPIC: a condition for wait_status: every partition of TOPIC
# committed up to the broker's high watermark, read now from devbroker (the
# status's own watermark may be one fetch old).
drained() {
	watermarks "$1" $P
	echo 'd["state"] in ("stable", "quiet") and len(d["assignment"]) == '"$P"' and all(x["topic"] == "'"$1"'" for x in d["assignment"]) and sum(x["committed"] or 0 for x in d["assignment"]) == '"$TOTAL"
}

db topic t1 $P
db topic t2 $P
db produce t1 20000 codec=lz4 keys=seq
conf g1 t1 2 A
kf_start kforkd
wait_status "first drain" 60 "$(drained t1)" && pass "2 workers drained t1"
reb=$(status counters.rebalances)

# --- an invalid file keeps the running config
cp "$tmp/kforkd.conf" "$tmp/good.conf"
printf 'kafka = {\n  bootstrap = "x";\n  group = 7;\n};\n' > "$tmp/kforkd.conf"
hup
sleep 0.5
err=$(status config.last_reload_error)
case $err in
"$tmp/kforkd.conf:3:"*) pass "SIGHUP with an invalid file: last_reload_error = $err" ;;
*) fail "last_reload_error after a bad SIGHUP: $err" ;;
esac
set +e
out=$(kf_ctl kforkd reload 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] && [[ $out == *"kforkd.conf:3:"* ]] && pass "kforkctl reload of an invalid file: exit 1, $out" ||
	fail "kforkctl reload of an invalid file: exit $rc, $out"
db produce t1 3000 codec=lz4 keys=seq
wait_status "drain with the old config" 30 "$(drained t1)" && pass "still consuming with the old config"
mv "$tmp/good.conf" "$tmp/kforkd.conf"
kf_ctl kforkd reload > "$tmp/reload.out" || fail "good reload: exit $?"
[ "$(status config.last_reload_error)" = None ] && pass "a good reload clears last_reload_error ($(cat "$tmp/reload.out"))" ||
	fail "last_reload_error not cleared"

# --- what a reload does, key by key: log.level at once, log.file at the
# next start (the running value stays, so changing it back is no change)
KF_LOG="level = \"debug\"; file = \"$tmp/other.log\";" conf g1 t1 2 A
out=$(kf_ctl kforkd reload)
[ "$out" = "at once: log.level; next start: log.file" ] &&
	grep -q "reload: log.file takes effect only when kforkd starts again" "$tmp/kforkd.log" &&
	[ ! -e "$tmp/other.log" ] && pass "log.level now, log.file at the next start: $(echo $out)" ||
	fail "reload of log.level and log.file: $out"
KF_LOG="level = \"info\";" conf g1 t1 2 A
out=$(kf_ctl kforkd reload)
[ "$out" = "at once: log.level" ] && pass "log.file back as it was: no change to it" ||
	fail "second reload: $out"

# --- worker count 2 -> 6 -> 1 while records flow
db produce t1 20000 codec=lz4 keys=seq
conf g1 t1 6 A
hup
wait_status "6 workers" 20 'len(d["workers"]) == 6 and all(w["state"] == "running" for w in d["workers"])' &&
	pass "reload to 6 workers: $(status "$WSTATES")"
db produce t1 20000 codec=lz4 keys=seq
conf g1 t1 1 A
hup
wait_status "1 worker" 30 'len(d["workers"]) == 1' && pass "reload to 1 worker: $(status "$WSTATES")"
wait_status "drain after resizing" 60 "$(drained t1)" && pass "drained after 2 -> 6 -> 1"
[ "$(status counters.rebalances)" = "$reb" ] && pass "no rebalance for worker count changes" ||
	fail "rebalances $(status counters.rebalances), was $reb"

# --- handler change: rolling replacement, new records land in B
conf g1 t1 3 A
kf_ctl kforkd reload > /dev/null
wait_status "3 workers" 20 'len(d["workers"]) == 3 and all(w["state"] == "running" for w in d["workers"])'
pids_a=$(status "$PIDS")
db produce t1 30000 codec=lz4 keys=seq
conf g1 t1 3 B
kf_ctl kforkd reload > "$tmp/reload.out"
echo "reload said: $(tr '\n' ' ' < "$tmp/reload.out")"
wait_status "rolling replacement" 60 'len(d["workers"]) == 3 and all(w["state"] == "running" for w in d["workers"])' || true
for _ in $(seq 100); do grep -q "reload: workers replaced" "$tmp/kforkd.log" && break; sleep 0.2; done
pids_b=$(status "$PIDS")
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
kf_ctl kforkd quiet > /dev/null
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
	[ "$(status "$STATES")" = "blocked" ] && pass "quiet: idle and committed, every partition blocked" ||
	fail "quiet: log or partition states: $(status "$STATES")"
kf_ctl kforkd resume > /dev/null
wait_status "drain after resume" 30 "$(drained t1)" && pass "resume: the 5000 records consumed"
[ "$(status "$STATES")" = "fetching" ] && pass "resume: every partition fetching" ||
	fail "resume: partition states $(status "$STATES")"

# --- a reload that comes while workers are being replaced is queued, then
# applied: workers.nice changes (a rolling replacement), then the count
NICE=1 conf g1 t1 3 B
hup
sleep 0.3
conf g1 t1 2 B
hup
if wait_status "the queued reload" 30 'len(d["workers"]) == 2' &&
	grep -q "SIGHUP: queued until the worker replacement" "$tmp/kforkd.log"; then
	pass "a reload during a worker replacement was queued, then applied (2 workers)"
else
	fail "no queued reload applied: $(grep -c queued "$tmp/kforkd.log") queued lines, workers: $(status "$WSTATES")"
fi

# --- ring size (a rolling replacement gives each worker a new ring) and
# dispatch mode (held until the workers are idle, then swapped), while
# records flow: nothing lost, no rebalance
db produce t1 20000 codec=lz4 keys=seq
RING=1048576 conf g1 t1 2 B
hup
for _ in $(seq 150); do [ "$(grep -c 'a new ring of 1048576 bytes' "$tmp/kforkd.log")" -ge 2 ] && break; sleep 0.2; done
n=$(grep -c 'a new ring of 1048576 bytes' "$tmp/kforkd.log" || true)
[ "$n" -ge 2 ] && pass "workers.ring_bytes: $n workers got a 1 MiB ring" || fail "workers.ring_bytes: $n new rings"
db produce t1 20000 codec=lz4 keys=seq
DISPATCH=key RING=1048576 conf g1 t1 2 B
hup
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
hup
wait_status "the new group" 60 'd["group"] == "g2" and '"$(drained t2)" &&
	pass "group and topic change: drained t2 as g2"
gen=$(status counters.rebalances)
[ "$gen" -gt "$reb" ] && pass "rejoined: $gen generations in all" || fail "rebalances $gen"

rc=0
kf_stop kforkd || rc=$?
[ $rc -eq 0 ] && pass "kforkctl stop: exit 0" || fail "kforkd exit status $rc"

# --- nothing lost: every record of t1 and t2, and both groups committed all
parts=$(seq -s, 0 $((P - 1)))
for gt in g1:t1 g2:t2; do
	g=${gt%:*} t=${gt#*:}
	watermarks "$t" $P
	db committed "$g" "$t" "$parts"
	[ "$DB_REPLY" = "ok ${HW[*]}" ] && pass "$g committed the watermarks of $t: ${HW[*]}" ||
		fail "$g on $t: committed ${DB_REPLY#ok }, watermarks ${HW[*]}"
	read -r missing _ <<< "$(out_check "$t" "$tmp"/A/worker-*.log "$tmp"/B/worker-*.log)"
	[ "$missing" = 0 ] && pass "every record of $t in the handlers' output" ||
		fail "$missing records of $t missing"
done
if [ "$FAILED" -ne 0 ]; then
	echo "--- kforkd log (warnings and errors, last 40)"
	grep -E ' (warn|error) ' "$tmp/kforkd.log" | tail -40 || true
fi
summary
