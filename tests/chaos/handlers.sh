#!/usr/bin/env bash
# Chaos: exec handlers (README "Handlers") that misbehave, three
# sub-cases side by side, each a kforkd of its own (2 workers, window 16)
# with its own group and topic (4 partitions, 1,500 records each; 10,000
# with CHAOS_LONG=1):
#   stall    the command sleeps on some records (the first time only) past
#            workers.stall_timeout_ms = 3000: the pool kills the worker,
#            respawns it, and the record comes again;
#   exit     the command exits with status 1 after every 500th record,
#            before it answers it: the worker starts it again and sends the
#            unanswered records again;
#   garbage  the command writes a line that is not an answer for some
#            records (the first time only): the worker kills it, starts it
#            again and sends the unanswered records again.
# The handler is a small python3 script ($T/h.py) that appends "TOPIC
# PARTITION OFFSET" to a file of its own per process, flushes, then
# answers ok; what it did wrong it notes in $T/marks-CASE/ (one file per
# record for stall and garbage, one line per exit).  Checks for each: the
# exact log lines kforkd or the worker wrote (one per misdeed), the worker
# or the command started again that many times, each record it misbehaved
# on processed again, nothing committed past an unfinished record, no
# rebalance, and chaos_end.
NAME=handlers
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

P=4
W=2
R=$((LONG ? 10000 : 1500))         # records per partition
STALL_EVERY=$((LONG ? 2000 : 1000)) # stall: partitions 0 and 2, offset % this == 500
GARBAGE_EVERY=700                   # garbage: offset % 700 == 350
EXIT_AFTER=500
CASES="stall exit garbage"

cat > "$T/h.py" <<'EOF'
# An exec handler that misbehaves on purpose: h.py MODE OUT MARKS
import os, sys, time

mode, out, marks = sys.argv[1], sys.argv[2], sys.argv[3]
stall_every, garbage_every, exit_after = (int(x) for x in sys.argv[4:7])
inp = sys.stdin.buffer
log = open(os.path.join(out, "h-%d.log" % os.getpid()), "a")


def first_time(tag):
    """True for the one process that marks tag first."""
    try:
        os.close(os.open(os.path.join(marks, tag), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def answer(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


n = 0
while True:
    hdr = inp.readline()
    if not hdr:
        break
    topic, part, off, _ts, klen, vlen = hdr.split()
    body = inp.read(max(int(klen), 0) + max(int(vlen), 0) + 1)
    if len(body) != max(int(klen), 0) + max(int(vlen), 0) + 1 or body[-1:] != b"\n":
        sys.stderr.write("h.py: bad record framing after %r\n" % hdr)
        sys.exit(3)
    p, o = int(part), int(off)
    if (mode == "stall" and p % 2 == 0 and o % stall_every == 500 and
            first_time("stall-%d-%d" % (p, o))):
        time.sleep(120)     # the stall timeout kills the worker first
    log.write("%s %d %d\n" % (topic.decode(), p, o))
    log.flush()
    n += 1
    if mode == "exit" and n == exit_after:
        with open(os.path.join(marks, "exits"), "a") as f:
            f.write("%d %d\n" % (p, o))
        sys.exit(1)         # before the answer: the record comes again
    if (mode == "garbage" and o % garbage_every == garbage_every // 2 and
            first_time("garbage-%d-%d" % (p, o))):
        answer("this is not an answer")
        time.sleep(120)     # the worker kills it
    answer("ok")
EOF

db_start 1
for c in $CASES; do
	db topic "h-$c" $P
	db produce "h-$c" $((R * P)) codec=lz4 keys=seq
	mkdir -p "$T/out-$c" "$T/marks-$c"
	extra=
	[ $c != stall ] || extra="stall_timeout_ms = 3000;"
	kf_conf "$c" "chaos-h-$c" "h-$c" $W "{ type = \"exec\"; window = 16; command = [ \"python3\", \"$T/h.py\", \"$c\", \"$T/out-$c\", \"$T/marks-$c\", \"$STALL_EVERY\", \"$GARBAGE_EVERY\", \"$EXIT_AFTER\" ]; }" \
		"fetch_max_wait_ms = 100;" "$extra"
	kf_start "$c"
done

# commit_safe for each case about once a second until all are drained.
declare -A DONE=()
safe_calls=0
end=$(($(now_ms) + (LONG ? 600 : 120) * 1000))
t0=$(now_ms)
while (($(now_ms) < end)); do
	left=0
	for c in $CASES; do
		[ -z "${DONE[$c]:-}" ] || continue
		safe_calls=$((safe_calls + 1))
		commit_safe "chaos-h-$c" "h-$c" $P "$NAME $c" "$T/out-$c" || true
		watermarks "h-$c" $P
		if committed_is_hw "chaos-h-$c" "h-$c" $P; then
			DONE[$c]=$(($(now_ms) - t0))
			echo "$c: drained after ${DONE[$c]} ms"
		else
			left=$((left + 1))
		fi
	done
	[ $left -gt 0 ] || break
	sleep 1
done
echo "$safe_calls commit_safe checks"

# log_count CASE PATTERN: lines of CASE's kforkd log matching PATTERN.
log_count() { grep -c -- "$2" "$T/$1.log" || true; }
restarts() { kf_get "$1" 'sum(w["restarts"] for w in d["workers"])'; }
# again CASE P O: how often offset O of partition P was processed.
again() { cat "$T/out-$1"/h-*.log | awk -v p="$2" -v o="$3" '$2 == p && $3 == o { n++ } END { print n + 0 }'; }

for c in $CASES; do
	echo "=== $c"
	NAME="handlers: $c" chaos_end "$c" "chaos-h-$c" "h-$c" $P 30 "$T/out-$c"/h-*.log
	started=$(log_count "$c" "worker [0-9]*: exec: started python3, pid")
	case $c in
	stall)
		mapfile -t bad < <(ls "$T/marks-$c")
		n=${#bad[@]}
		# offsets 500, 500 + STALL_EVERY, ... below R on partitions 0 and 2
		want=$((2 * ((R - 500 + STALL_EVERY - 1) / STALL_EVERY)))
		[ "$n" = "$want" ] && pass "stall: the command stalled on $n records" ||
			fail "stall: the command stalled on $n records, want $want"
		k=$(log_count $c "pool: worker [0-9]* (pid [0-9]*) held a record for [0-9.]* s (stall_timeout_ms 3000): SIGKILL; the record will be delivered again")
		[ "$k" = "$n" ] && pass "stall: $k \"held a record for ... s (stall_timeout_ms 3000): SIGKILL\" lines" ||
			fail "stall: $k stall lines in the log for $n stalls"
		k=$(log_count $c "pool: worker [0-9]* (pid [0-9]*) killed by signal 9 (Killed) after [0-9.]* s; respawning")
		r=$(restarts $c)
		[ "$k" = "$n" ] && [ "$r" = "$n" ] && [ "$started" = $((W + n)) ] &&
			pass "stall: $k workers respawned (status restarts $r), $started commands started" ||
			fail "stall: $k respawn lines, status restarts $r, $started commands started (want $n, $n, $((W + n)))"
		;;
	exit)
		mapfile -t bad < <(sed 's/^/exit-/' "$T/marks-$c/exits" 2>/dev/null)
		n=${#bad[@]}
		[ "$n" -ge $((R * P / EXIT_AFTER - W)) ] && pass "exit: the command exited $n times" ||
			fail "exit: the command exited only $n times"
		k=$(log_count $c "worker [0-9]*: exec: command exited with status 1 with [0-9]* records unanswered")
		r=$(restarts $c)
		[ "$k" = "$n" ] && pass "exit: $k \"exec: command exited with status 1 with N records unanswered\" lines" ||
			fail "exit: $k exit lines in the log for $n exits"
		[ "$started" = $((W + n)) ] && [ "$r" = 0 ] &&
			pass "exit: the command started $started times ($W + $n), no worker restarted" ||
			fail "exit: $started commands started (want $((W + n))), worker restarts $r (want 0)"
		;;
	garbage)
		mapfile -t bad < <(ls "$T/marks-$c")
		n=${#bad[@]}
		want=$((P * ((R - 350 + GARBAGE_EVERY - 1) / GARBAGE_EVERY)))
		[ "$n" = "$want" ] && pass "garbage: the command wrote garbage for $n records" ||
			fail "garbage: the command wrote garbage for $n records, want $want"
		k=$(log_count $c "worker [0-9]*: exec: command wrote \"this is not an answer\", not ok, retry or fail with [0-9]* records unanswered")
		r=$(restarts $c)
		[ "$k" = "$n" ] && pass "garbage: $k \"exec: command wrote \\\"this is not an answer\\\", not ok, retry or fail\" lines" ||
			fail "garbage: $k garbage lines in the log for $n"
		[ "$started" = $((W + n)) ] && [ "$r" = 0 ] &&
			pass "garbage: the command started $started times ($W + $n), no worker restarted" ||
			fail "garbage: $started commands started (want $((W + n))), worker restarts $r (want 0)"
		;;
	esac
	# Each record it misbehaved on was processed again: the stalled ones
	# once (the line is written after the sleep), the others at least
	# twice (written, then not answered).
	short=
	for b in "${bad[@]}"; do
		if [ $c = exit ]; then
			read -r p o <<< "${b#exit-}"
		else
			IFS=- read -r _ p o <<< "$b"
		fi
		m=1
		[ $c = stall ] || m=2
		k=$(again $c "$p" "$o")
		[ "$k" -ge $m ] || short+=" $p@$o:$k"
	done
	[ -z "$short" ] && pass "$c: each of the ${#bad[@]} records delivered again" ||
		fail "$c: not delivered again:$short"
	failed_n=$(kf_get "$c" 'd["counters"]["records_failed"]')
	reb=$(kf_get "$c" 'd["counters"]["rebalances"]')
	[ "$reb" = 1 ] && [ "$failed_n" = 0 ] && pass "$c: no rebalance, no record failed" ||
		fail "$c: counters.rebalances = $reb (want 1), records_failed = $failed_n (want 0)"
	echo "$c: drained in ${DONE[$c]:-?} ms, $DUPS duplicates"
done
for c in $CASES; do
	if kf_stop "$c"; then
		pass "$c: kforkctl stop: kforkd exit 0"
	else
		fail "$c: kforkd exit status $? after kforkctl stop"
	fi
done
if [ "$FAILED" != 0 ]; then
	for c in $CASES; do
		echo "--- $c.log (warnings and errors)"
		grep -E ' (warn|error) ' "$T/$c.log" | tail -12 || true
	done
fi
summary
