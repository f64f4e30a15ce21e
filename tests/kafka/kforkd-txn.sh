#!/usr/bin/env bash
# Transactions on real Apache Kafka ($KAFKA_VERSION, default 4.4.0):
# kforkd with isolation = "read_committed" hands its workers exactly the
# committed records and never reads past the last stable offset; with
# read_uncommitted every data record and never a control record.  Kafka's
# Java client (the oracle) writes the transactions and is the judge.
#
# Two kforkd (read_committed, group txn-rc; read_uncommitted, group
# txn-ru; 4 file workers each) are started on an empty 8-partition topic,
# then the oracle writes:
#   - 800 plain records (idempotent, no transaction), 100 a partition;
#   - one committed and one aborted transaction (partitions 3 and 4);
#   - two transactions left OPEN, on partitions 2 and 5;
#   - txn-mix: KAFKA_TXN_COUNT (300) transactions of 20 records spread
#     over the 8 partitions, every 3rd aborted.
# While the two are open: kforkd rc has delivered everything below the
# last stable offset (its commits = the LSO that Kafka reports, its records
# = what Kafka's read_committed consumer reads meanwhile) and nothing at
# or after the open transactions' first offsets.  Then the one on 2 is
# committed (its records arrive) and the one on 5 aborted (they never do).
# At the end:
#   - rc's records = Kafka's read_committed consumer's = the oracle's
#     committed records, each once, in order per partition;
#   - ru's records = Kafka's read_uncommitted consumer's (every data
#     record), no offset of a commit/abort marker among them;
#   - both groups' commits (read by Kafka's client) = the high watermarks,
#     past the trailing markers and aborted transactions;
#   - a third kforkd (read_committed) started afterwards with small fetch
#     sizes, so that aborted transactions span fetches, reads the same.
# With KF_KAFKA_RESULTS=FILE, one line goes to FILE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/lib.sh"
. "$here/../lib/kforkd.sh"
P=8
TXNS=${KAFKA_TXN_COUNT:-300}
PER=20
EVERY=3
T=txn

# kforkd member M: $tmp/M.conf, M.log, M.sock and its output $tmp/out-M
# (kafka_kforkd_conf, tests/lib/kforkd.sh)
kf_tmpdir txn KF_KAFKA_KEEP
tmp=$KF_DIR

kafka_start "${KAFKA_VERSION:-4.4.0}"
V=$KAFKA_VERSION
t_start=$(now_ms)
oracle() { kafka_oracle "$@"; }

# seen NAME: the (partition, offset) pairs NAME's workers got, sorted, once
seen() {
	cat "$tmp/out-$1"/worker-*.log 2>/dev/null | awk -v t="$T" '$1 == t {print $2, $3}' |
		sort -k1,1n -k2,2n -u
}
sorted() { sort -k1,1n -k2,2n "$@"; }
# range P FIRST LAST: "P OFFSET" lines
range() { seq "$2" "$3" | sed "s/^/$1 /"; }
# differ A B: the first lines in which the two files differ
differ() {
	comm -3 <(sort "$1") <(sort "$2") | head -n 5 | tr '\t\n' '  '
}

# lso_reached GROUP: the group's commits = the last stable offsets
lso_reached() {
	oracle end-offsets "$T" --isolation read_committed > "$tmp/lso" 2>/dev/null &&
		oracle committed "$1" "$T" > "$tmp/committed" 2>/dev/null &&
		cmp -s "$tmp/lso" "$tmp/committed"
}

# open_txn NAME PARTITION COUNT: a transaction left open, the oracle's
# stdin a fifo on fd open_NAME; "open FIRST LAST" in $tmp/NAME.out
open_txn() {
	local fd
	mkfifo "$tmp/$1.fifo"
	exec {fd}<> "$tmp/$1.fifo"
	eval "open_$1=$fd"
	"$KAFKA_HARNESS/oracle/oracle.sh" txn --bootstrap "$KAFKA_BOOTSTRAP" --config "$KAFKA_CLIENT_PROPS" \
		"$T" commit --partition "$2" --count "$3" --open --txn-timeout-ms 600000 --keys seq \
		< "$tmp/$1.fifo" > "$tmp/$1.out" 2> "$tmp/$1.err" &
	kafka_bg $!
	eval "pid_$1=$!"
	wait_for 120 grep -q '^open ' "$tmp/$1.out" ||
		{ fail "open transaction $1: $(cat "$tmp/$1.out" "$tmp/$1.err")"; exit 1; }
}

# close_txn NAME commit|abort: send it, wait for the oracle ("committed
# FIRST LAST" / "aborted FIRST LAST" in $tmp/NAME.out)
close_txn() {
	local fd pid rc=0
	eval "fd=\$open_$1 pid=\$pid_$1"
	echo "$2" >&"$fd"
	exec {fd}>&-
	wait "$pid" || rc=$?
	[ $rc -eq 0 ] || fail "oracle txn $1 exited $rc: $(cat "$tmp/$1.err")"
}

# --- kforkd first, on the empty topic
oracle create-topic "$T" --partitions $P --replication 1 > /dev/null
kafka_kforkd_conf rc txn-rc "$T" 4 'isolation = "read_committed";'
kafka_kforkd_conf ru txn-ru "$T" 4 'isolation = "read_uncommitted";'
kf_start rc
kf_start ru
for n in rc ru; do
	wait_for 60 grep -q "partitions assigned" "$tmp/$n.log" || { fail "$n: no assignment"; exit 1; }
done

# --- the records: plain, one committed, one aborted, two open, the mix
t0=$(now_ms)
oracle produce "$T" --count 800 --keys seq > "$tmp/plain.out"
oracle txn "$T" commit --partition 3 --count 30 --keys seq > "$tmp/c1.out"
oracle txn "$T" abort --partition 4 --count 30 --keys seq > "$tmp/a1.out"
open_txn o1 2 40 # committed later
open_txn o2 5 40 # aborted later
read -r _ o1_first o1_last < "$tmp/o1.out"
read -r _ o2_first o2_last < "$tmp/o2.out"
oracle txn-mix "$T" --partitions $P --txns "$TXNS" --per-txn $PER --abort-every $EVERY \
	--seed 7 --keys seq --expect "$tmp/mix.expect" > "$tmp/mix.out"
mix_ms=$(($(now_ms) - t0))
read -r _ _ _ _ _ mix_a _ mix_r _ _ < <(grep '^txns ' "$tmp/mix.out")
echo "oracle: $(cat "$tmp/c1.out" "$tmp/a1.out" "$tmp/o1.out" "$tmp/o2.out" | tr '\n' ' ')"
echo "oracle txn-mix: $(grep '^txns ' "$tmp/mix.out") in $mix_ms ms"

# --- while o1 and o2 are open: rc stops at the last stable offset
oracle end-offsets "$T" > "$tmp/hwm.open"
if wait_for 180 lso_reached txn-rc; then
	pass "read_committed with 2 transactions open: commits reached the last stable offsets ($(tr '\n' ' ' < "$tmp/lso")) in $WAITED_MS ms"
else
	fail "read_committed: commits $(tr '\n' ' ' < "$tmp/committed") vs LSO $(tr '\n' ' ' < "$tmp/lso")"
fi
lso2=$(awk '$1 == 2 {print $2}' "$tmp/lso")
lso5=$(awk '$1 == 5 {print $2}' "$tmp/lso")
hwm2=$(awk '$1 == 2 {print $2}' "$tmp/hwm.open")
hwm5=$(awk '$1 == 5 {print $2}' "$tmp/hwm.open")
if [ "$lso2" = "$o1_first" ] && [ "$lso5" = "$o2_first" ] &&
	[ "$hwm2" -gt "$((o1_last + 1))" ] && [ "$hwm5" -gt "$((o2_last + 1))" ]; then
	pass "Kafka's LSO is the open transactions' first offset (2: $lso2 < high watermark $hwm2, 5: $lso5 < $hwm5)"
else
	fail "LSO 2: $lso2 (open at $o1_first, hwm $hwm2), 5: $lso5 (open at $o2_first, hwm $hwm5)"
fi
sleep 3 # several more fetches (fetch_max_wait_ms 500) at the LSO
seen rc > "$tmp/rc.open"
oracle consume "$T" --isolation read_committed --format offsets --out "$tmp/java-rc.open" > /dev/null
sorted -o "$tmp/java-rc.open" "$tmp/java-rc.open"
past=$(awk -v a="$o1_first" -v b="$o2_first" '($1 == 2 && $2 >= a) || ($1 == 5 && $2 >= b)' "$tmp/rc.open" | wc -l)
if [ "$past" -eq 0 ] && cmp -s "$tmp/rc.open" "$tmp/java-rc.open"; then
	pass "while open: nothing at or after offset $o1_first of partition 2 nor $o2_first of 5; the $(wc -l < "$tmp/rc.open") records = Kafka's read_committed consumer's"
else
	fail "while open: $past records past the LSO; differs from Kafka's consumer: $(differ "$tmp/rc.open" "$tmp/java-rc.open")"
fi
lso_reached txn-rc || fail "after 3 s at the LSO the commits moved: $(tr '\n' ' ' < "$tmp/committed") vs $(tr '\n' ' ' < "$tmp/lso")"

# --- o1 committed, o2 aborted
close_txn o1 commit
close_txn o2 abort
if grep -qx "committed $o1_first $o1_last" "$tmp/o1.out" && grep -qx "aborted $o2_first $o2_last" "$tmp/o2.out"; then
	pass "open transactions closed: partition 2 $o1_first..$o1_last committed, partition 5 $o2_first..$o2_last aborted"
else
	fail "closing: $(cat "$tmp/o1.out" "$tmp/o2.out" | tr '\n' ' ')"
fi

# what read_committed must see: plain, c1, the mix's committed, o1
{
	while read -r p a b; do range "$p" "$a" "$b"; done < "$tmp/plain.out"
	read -r _ a b < "$tmp/c1.out"; range 3 "$a" "$b"
	cat "$tmp/mix.expect"
	range 2 "$o1_first" "$o1_last"
} | sorted > "$tmp/expect.rc"
plain_n=$(awk '{n += $3 - $2 + 1} END {print n}' "$tmp/plain.out")
data_n=$((plain_n + 30 + 30 + 40 + 40 + mix_r))
txns_n=$((TXNS + 4))
aborted_n=$((mix_a + 2))

for n in rc ru; do
	if wait_for 180 kafka_drained "txn-$n" "$T" "$tmp"; then
		pass "$n: commits (Kafka's client) = high watermarks ($(tr '\n' ' ' < "$tmp/ends")), past the trailing markers"
	else
		fail "$n: commits $(tr '\n' ' ' < "$tmp/committed") vs ends $(tr '\n' ' ' < "$tmp/ends")"
	fi
done
cp "$tmp/ends" "$tmp/hwm"
sleep 2 # anything kforkd would wrongly hand over after its last commit
oracle consume "$T" --isolation read_committed --format offsets --out "$tmp/java-rc" > "$tmp/java-rc.out"
oracle consume "$T" --isolation read_uncommitted --format offsets --out "$tmp/java-ru" > "$tmp/java-ru.out"
sorted -o "$tmp/java-rc" "$tmp/java-rc"
sorted -o "$tmp/java-ru" "$tmp/java-ru"

# --- read_committed: exactly the committed records
if out=$(python3 "$here/check_output.py" --topic "$T" --expect "$tmp/expect.rc" --once --ordered "$tmp/out-rc"); then
	pass "read_committed: $out"
else
	fail "read_committed: $out"
fi
seen rc > "$tmp/rc.seen"
if cmp -s "$tmp/rc.seen" "$tmp/java-rc" && cmp -s "$tmp/java-rc" "$tmp/expect.rc"; then
	pass "read_committed: kforkd's $(wc -l < "$tmp/rc.seen") records = Kafka's read_committed consumer's = the oracle's committed records"
else
	fail "read_committed vs Kafka's consumer: $(differ "$tmp/rc.seen" "$tmp/java-rc"); Kafka's vs the oracle's: $(differ "$tmp/java-rc" "$tmp/expect.rc")"
fi
o1_n=$(awk -v a="$o1_first" -v b="$o1_last" '$1 == 2 && $2 >= a && $2 <= b' "$tmp/rc.seen" | wc -l)
o2_n=$(awk -v a="$o2_first" -v b="$o2_last" '$1 == 5 && $2 >= a && $2 <= b' "$tmp/rc.seen" | wc -l)
if [ "$o1_n" -eq 40 ] && [ "$o2_n" -eq 0 ]; then
	pass "read_committed: the 40 records of the transaction committed late arrived, none of the one aborted late"
else
	fail "read_committed: $o1_n of o1's 40 records, $o2_n of o2's"
fi

# --- read_uncommitted: every data record, no marker
seen ru > "$tmp/ru.seen"
# the markers: every offset below the high watermark that Kafka's
# read_uncommitted consumer does not return
python3 - "$tmp/hwm" "$tmp/java-ru" > "$tmp/markers" <<'PY'
import sys
ends = dict(map(int, l.split()) for l in open(sys.argv[1]))
data = {tuple(map(int, l.split())) for l in open(sys.argv[2])}
for p in sorted(ends):
    for o in range(ends[p]):
        if (p, o) not in data:
            print(p, o)
PY
hit=$(sort "$tmp/markers" "$tmp/ru.seen" | uniq -d | wc -l)
marks_ok=1
# c1's and a1's markers follow their records; o1's and o2's come after
# the mix, at the high watermark they were closed at
read -r _ _ last < "$tmp/c1.out"
grep -qx "3 $((last + 1))" "$tmp/markers" || marks_ok=
read -r _ _ last < "$tmp/a1.out"
grep -qx "4 $((last + 1))" "$tmp/markers" || marks_ok=
grep -qx "2 $hwm2" "$tmp/markers" || marks_ok=
grep -qx "5 $hwm5" "$tmp/markers" || marks_ok=
if out=$(python3 "$here/check_output.py" --topic "$T" --expect "$tmp/java-ru" --once --ordered "$tmp/out-ru") &&
	cmp -s "$tmp/ru.seen" "$tmp/java-ru" && [ "$(wc -l < "$tmp/java-ru")" -eq "$data_n" ] &&
	[ "$hit" -eq 0 ] && [ -n "$marks_ok" ]; then
	pass "read_uncommitted: kforkd's records = Kafka's read_uncommitted consumer's = all $data_n data records; none of the $(wc -l < "$tmp/markers") marker offsets: $out"
else
	fail "read_uncommitted: $out; vs Kafka's: $(differ "$tmp/ru.seen" "$tmp/java-ru"); Kafka's: $(wc -l < "$tmp/java-ru") of $data_n; $hit markers delivered; markers where the oracle says: ${marks_ok:-no}"
fi
# no warning or error (but a fresh broker's coordinator still loading)
for n in rc ru; do
	errs=$(grep -E ' (error|warn) ' "$tmp/$n.log" | grep -cv COORDINATOR_LOAD_IN_PROGRESS || true)
	[ "$errs" -eq 0 ] || fail "$n: $errs warn/error lines: $(grep -E ' (error|warn) ' "$tmp/$n.log" | head -n 3)"
done
kafka_kforkd_stop rc
kafka_kforkd_stop ru

# --- a read_committed kforkd afterwards, with fetches that cut transactions
kafka_kforkd_conf late txn-late "$T" 4 'isolation = "read_committed"; fetch_max_bytes = 16384; fetch_partition_max_bytes = 2048;'
t0=$(now_ms)
kf_start late
if wait_for 180 kafka_drained txn-late "$T" "$tmp"; then
	late_ms=$(($(now_ms) - t0))
	sleep 1
	seen late > "$tmp/late.seen"
	if out=$(python3 "$here/check_output.py" --topic "$T" --expect "$tmp/expect.rc" --once --ordered "$tmp/out-late") &&
		cmp -s "$tmp/late.seen" "$tmp/java-rc"; then
		pass "read_committed from the start with 2 KiB partition fetches: = Kafka's read_committed consumer, commits = high watermarks, in $late_ms ms: $out"
	else
		fail "late read_committed: $out; vs Kafka's: $(differ "$tmp/late.seen" "$tmp/java-rc")"
	fi
else
	fail "late: commits $(tr '\n' ' ' < "$tmp/committed") vs ends $(tr '\n' ' ' < "$tmp/ends")"
fi
kafka_kforkd_stop late

total_s=$(( ($(now_ms) - t_start) / 1000 ))
echo "result: Kafka $V: $data_n records ($((data_n - $(wc -l < "$tmp/expect.rc"))) aborted), $txns_n transactions ($aborted_n aborted, 2 left open meanwhile), $(wc -l < "$tmp/markers") markers; $total_s s"
if [ -n "${KF_KAFKA_RESULTS:-}" ]; then
	echo "$V $([ "$FAILED" -eq 0 ] && echo PASS || echo FAIL) transactions: $data_n records, $txns_n txns, $aborted_n aborted" >> "$KF_KAFKA_RESULTS"
fi
summary
