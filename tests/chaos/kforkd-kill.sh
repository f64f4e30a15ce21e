#!/usr/bin/env bash
# Chaos: kforkd itself SIGKILLed mid-drain (once; 3 times with
# CHAOS_LONG=1), 4 file-handler workers, 8 partitions, 200,000 records
# (1,000,000 long): a quarter a backlog, the rest produced while it runs.
# Each kill comes once part of the records are committed, on every
# partition, and records are still coming.  Checks at each kill: every
# worker of the killed kforkd (pids taken before the kill) is gone within
# 2 s (PR_SET_PDEATHSIG); the committed offsets, read right after, are
# where the next kforkd starts: for each partition the first offset the
# new run writes is exactly the committed one (the file handler appends
# to the same files, so the output is split at the kill by byte offsets).
# Then chaos_end: committed = watermarks, every record at least once.
NAME=kforkd-kill
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

P=8
W=4
N=$((LONG ? 1000000 : 200000))
K=$((LONG ? 3 : 1))
CHUNK=$((LONG ? 5000 : 2500))
G=chaos-kk
TP=kk
OUT=$T/out


db_start 1
db topic $TP $P
db produce $TP $((N / 4)) codec=lz4 keys=seq
produced=$((N / 4))
mkdir -p "$OUT"
kf_conf m $G $TP $W "{ type = \"file\"; dir = \"$OUT\"; }" "fetch_max_wait_ms = 20;"
kf_start m

# produce_to TARGET: a chunk every 100 ms until TARGET records are
# produced; commit_safe every 2 s or so meanwhile.
produce_to() {
	local step left
	while [ $produced -lt "$1" ]; do
		step=$(now_ms)
		db produce $TP $CHUNK codec=lz4 keys=seq
		produced=$((produced + CHUNK))
		safe_check $G $TP $P "$NAME (produced $produced)" "$OUT"/worker-*.log
		left=$((100 - ($(now_ms) - step)))
		[ $left -le 0 ] || sleep "0.$(printf %03d $left)"
	done
}

# marks: the size of each output file now (MARK_<i>), i.e. where the next
# run's lines begin.
declare -A MARK=()
take_marks() {
	local i
	for i in $(seq 0 $((W - 1))); do
		MARK[$1.$i]=$(stat -c %s "$OUT/worker-$i.log" 2>/dev/null || echo 0)
	done
}

# first_offsets FROM TO: per partition, the lowest offset written between
# the marks FROM and TO (TO "end": to the end of the files), "-" for none.
first_offsets() {
	local i a b
	for i in $(seq 0 $((W - 1))); do
		[ -f "$OUT/worker-$i.log" ] || continue
		a=${MARK[$1.$i]}
		if [ "$2" = end ]; then
			b=$(stat -c %s "$OUT/worker-$i.log")
		else
			b=${MARK[$2.$i]}
		fi
		[ "$b" -gt "$a" ] || continue
		dd if="$OUT/worker-$i.log" iflag=skip_bytes,count_bytes skip="$a" \
			count=$((b - a)) bs=1M status=none
	done | awk -v t=$TP -v np=$P '
		$1 == t && (!($2 in lo) || $3 + 0 < lo[$2]) { lo[$2] = $3 + 0 }
		END { for (p = 0; p < np; p++) printf "%s%s", (p in lo) ? lo[p] : "-", p < np - 1 ? " " : "\n" }'
}

# progress BASE...: every partition committed past BASE (the offsets the
# current run started from).
progress() {
	local p base=("$@")
	committed $G $TP $P
	for p in $(seq 0 $((P - 1))); do
		[ "${COMMITTED[$p]}" -gt "${base[$p]}" ] || return 1
	done
}

# gone PID...: no such process any more (a zombie left to init counts).
gone() {
	local pid st
	for pid in "$@"; do
		st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || continue
		[ "$st" = Z ] || return 1
	done
}

declare -a START=()
for p in $(seq 0 $((P - 1))); do START+=(-1); done
take_marks 0
kills=0
declare -a CK=()  # "C0 C1 ..." committed at kill k
for k in $(seq 1 $K); do
	produce_to $((N / 4 + (N * 3 / 4) * k / (K + 1)))
	if ! wait_for 60 progress "${START[@]}"; then
		fail "kill $k: no commit on every partition within 60 s: committed ${COMMITTED[*]}"
		break
	fi
	# kforkd keeps up with the producer and commits every 500 ms: a
	# burst just before the kill leaves records processed and not yet
	# committed, or not yet processed.
	db produce $TP $((CHUNK * 4)) codec=lz4 keys=seq
	produced=$((produced + CHUNK * 4))
	mapfile -t wpids < <(kf_workers m)
	kf_kill m KILL
	kills=$k
	if [ "${#wpids[@]}" = $W ] && wait_for 2 gone "${wpids[@]}"; then
		pass "kill $k: the $W workers (${wpids[*]}) gone $WAITED_MS ms after kforkd's SIGKILL"
	else
		fail "kill $k: workers ${wpids[*]} (want $W) not all gone 2 s after kforkd's SIGKILL: $(ps -o pid=,stat= -p "${wpids[*]// /,}" 2>/dev/null | tr '\n' ';')"
	fi
	committed $G $TP $P
	CK[$k]="${COMMITTED[*]}"
	watermarks $TP $P
	sum=0
	for c in "${COMMITTED[@]}"; do sum=$((sum + c)); done
	if [ $sum -gt 0 ] && [ $sum -lt $TOTAL ]; then
		pass "kill $k mid-drain: $sum of $TOTAL records committed (${COMMITTED[*]})"
	else
		fail "kill $k not mid-drain: $sum of $TOTAL records committed"
	fi
	take_marks $k
	START=("${COMMITTED[@]}")
	kf_start m
	echo "kill $k: kforkd started again (pid ${KPID[m]}), expected to start at ${CK[$k]}"
done
produce_to $N
watermarks $TP $P
[ "$TOTAL" = "$N" ] || fail "watermarks add up to $TOTAL, not $N"

chaos_end m $G $TP $P 90 "$OUT"/worker-*.log

# Each run after a kill started exactly at what was committed at the kill.
for k in $(seq 1 $kills); do
	if [ $k -lt $kills ]; then to=$((k + 1)); else to=end; fi
	got=$(first_offsets $k $to)
	if [ "$got" = "${CK[$k]}" ]; then
		pass "run $((k + 1)) started every partition at the offset committed at kill $k: $got"
	else
		fail "run $((k + 1)) first offsets $got, committed at kill $k: ${CK[$k]}"
	fi
done
reb=$(kf_get m 'd["counters"]["rebalances"]')
echo "$NAME: $kills kills, $DUPS duplicates, $SAFE_CALLS commit_safe checks; last run joined $reb generations"
chaos_finish m
