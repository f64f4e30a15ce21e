#!/usr/bin/env bash
# Chaos: the network between kforkd and the brokers.  kforkd runs in a
# network namespace of its own, devbroker in another, joined by a veth
# pair and nothing else:
#
#   kforkd ns: kforkd -> proxy 127.0.0.1:PORT --veth--> 10.232.0.2:PORT
#   broker ns:                  socat 10.232.0.2:PORT -> devbroker 127.0.0.1:PORT
#
# one forwarding per devbroker port, so the addresses the brokers advertise
# (127.0.0.1:PORT) lead kforkd over the veth (tls-consume.sh does the
# same).  Faults go on kforkd's veth with tc: a delay (100 ms), packet loss
# (LONG), then a full partition for longer than session_timeout_ms
# (6000 ms -> 12 s, LONG 15 s).  Checks: with the delay records flow and the group
# stays stable; during the partition, once the session must have expired,
# kforkd is not "stable", dispatches and commits nothing; commits never
# cover an unfinished record; after healing it rejoins and drains, and
# every record is processed (chaos_end).  kforkctl works from the host
# namespace (the control socket is a unix socket in $T).
#
# tc netem is used when the kernel has it (sch_netem).  Without it the
# same faults are made with what is there, and the script says so: the
# proxy in kforkd's namespace delays kforkd -> broker data by the same
# 100 ms; loss is congestion loss from a tbf with a tiny queue on both
# veth ends; the partition is a tbf whose bucket is smaller than any
# packet (every packet dropped, silently, as netem loss 100% does).
# Needs root, ip (netns), tc, socat and python3; otherwise exit 77.
set -euo pipefail
NAME=net
skip() { echo "SKIP: $NAME: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, tc)"
for tool in ip tc socat python3; do
	command -v "$tool" > /dev/null || skip "needs $tool"
done
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ -x "$KFORKCTL" ] || { echo "no kforkctl at $KFORKCTL" >&2; exit 99; }

tag=$$
nsk=kf-net-k-$tag
nsb=kf-net-b-$tag
vk=kfk$tag
vb=kfb$tag
PIDS=()
net_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null || true; done
	ip netns del "$nsk" 2> /dev/null || true
	ip netns del "$nsb" 2> /dev/null || true
}
at_exit net_cleanup
ip netns add "$nsk" 2> /dev/null || skip "ip netns add failed (no network namespaces here)"
ip netns add "$nsb"
ip -n "$nsk" link set lo up
ip -n "$nsb" link set lo up
ip link add "$vk" type veth peer name "$vb"
ip link set "$vk" netns "$nsk"
ip link set "$vb" netns "$nsb"
ip -n "$nsk" addr add 10.232.0.1/24 dev "$vk"
ip -n "$nsb" addr add 10.232.0.2/24 dev "$vb"
ip -n "$nsk" link set "$vk" up
ip -n "$nsb" link set "$vb" up
tc -n "$nsk" qdisc show dev "$vk" > /dev/null 2>&1 || skip "tc cannot see the veth"

if tc -n "$nsk" qdisc add dev "$vk" root netem delay 1ms 2> /dev/null; then
	tc -n "$nsk" qdisc del dev "$vk" root
	NETEM=1
	echo "$NAME: faults with tc netem"
else
	NETEM=0
	echo "$NAME: no tc netem in this kernel: delay in the proxy, loss and partition with tbf"
fi

# The forwarder in kforkd's namespace: per port, 127.0.0.1:PORT ->
# 10.232.0.2:PORT; data from kforkd waits the delay (ms) in $T/delay_ms.
cat > "$T/proxy.py" <<'EOF'
import asyncio, sys, time
target, ctl, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]
delay = 0.0

async def watch():
    global delay
    while True:
        try:
            with open(ctl) as f:
                delay = float(f.read().strip() or 0) / 1000
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.1)

async def pipe(r, w, delayed):
    q = asyncio.Queue()
    async def writer():
        while True:
            due, data = await q.get()
            if data is None:
                break
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            w.write(data)
            await w.drain()
    wt = asyncio.ensure_future(writer())
    try:
        while True:
            data = await r.read(65536)
            if not data:
                break
            q.put_nowait((time.monotonic() + (delay if delayed else 0), data))
    except OSError:
        pass
    q.put_nowait((0, None))
    try:
        await wt
    except OSError:
        pass
    w.close()

async def handle(cr, cw, port):
    try:
        ur, uw = await asyncio.open_connection(target, port)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pipe(cr, uw, True), pipe(ur, cw, False), return_exceptions=True)

async def main():
    for p in ports:
        await asyncio.start_server(lambda r, w, p=p: handle(r, w, p), "127.0.0.1", p)
    print("ready", flush=True)
    await watch()

asyncio.run(main())
EOF
echo 0 > "$T/delay_ms"

# kforkd runs in its namespace; `ip netns exec` execs it, so KPID is its pid.
printf '#!/bin/sh\nexec ip netns exec %s %q "$@"\n' "$nsk" "$KFORKD" > "$T/kforkd-ns"
chmod +x "$T/kforkd-ns"
KFORKD=$T/kforkd-ns

DEVBROKER_WRAP="ip netns exec $nsb" db_start 3
ports=()
for hp in ${BOOTSTRAP//,/ }; do
	port=${hp##*:}
	ports+=("$port")
	ip netns exec "$nsb" socat "TCP-LISTEN:$port,bind=10.232.0.2,fork,reuseaddr" \
		"TCP:127.0.0.1:$port" 2>> "$T/socat.err" &
	PIDS+=($!)
done
ip netns exec "$nsk" python3 "$T/proxy.py" 10.232.0.2 "$T/delay_ms" "${ports[@]}" \
	> "$T/proxy.out" 2>&1 &
PIDS+=($!)
proxy_ready() { grep -q ready "$T/proxy.out"; }
wait_for 10 proxy_ready || { echo "the proxy did not start: $(cat "$T/proxy.out")" >&2; exit 99; }
# The path works once a TCP connection through it reaches devbroker.
reach() {
	ip netns exec "$nsk" python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
s.sendall(b"\0\0\0\x0a\0\x12\0\0\0\0\0\x01\xff\xff")
sys.exit(0 if len(s.recv(4)) == 4 else 1)' "${ports[0]}" 2> /dev/null
}
wait_for 10 reach || { echo "devbroker not reachable from kforkd's namespace" >&2; exit 99; }
pass "devbroker (3 brokers) reachable from kforkd's namespace over the veth only"

# ------------------------------------------------------------ faults
qdisc() { tc -n "$1" qdisc replace dev "$2" root "${@:3}"; }
qdisc_off() {
	tc -n "$nsk" qdisc del dev "$vk" root 2> /dev/null || true
	tc -n "$nsb" qdisc del dev "$vb" root 2> /dev/null || true
	echo 0 > "$T/delay_ms"
}
fault_delay() {
	if [ $NETEM = 1 ]; then qdisc "$nsk" "$vk" netem delay 100ms; else echo 100 > "$T/delay_ms"; fi
}
fault_loss() {
	if [ $NETEM = 1 ]; then
		qdisc "$nsk" "$vk" netem loss 5%
	else
		qdisc "$nsk" "$vk" tbf rate 2mbit burst 3000 limit 6000
		qdisc "$nsb" "$vb" tbf rate 2mbit burst 3000 limit 6000
	fi
}
fault_partition() {
	if [ $NETEM = 1 ]; then qdisc "$nsk" "$vk" netem loss 100%; else qdisc "$nsk" "$vk" tbf rate 8bit burst 1 limit 1; fi
}
# The partition really drops everything: no new connection gets through.
if fault_partition && ! reach && ! reach; then
	pass "the partition fault stops every connection (checked before kforkd starts)"
else
	fail "the partition fault lets connections through"
fi
qdisc_off
wait_for 10 reach || true

# ------------------------------------------------------------ the member
G=grp-net
TOPIC=net
NP=4
SESSION_MS=6000
if [ "$LONG" = 1 ]; then PER=20000; else PER=2000; fi
mkdir -p "$T/out-k"
kf_conf k $G $TOPIC 2 "{ type = \"file\"; dir = \"$T/out-k\"; }"
outs() { echo "$T"/out-k/worker-*.log; }
st() { kf_get k 'd["state"]' 2> /dev/null || echo '?'; }
cnt() { kf_get k "d[\"counters\"][\"$1\"]"; }
is_stable() { [ "$(st)" = stable ]; }

db topic $TOPIC $NP
db produce $TOPIC $PER keys=seq
kf_start k
if wait_for 30 is_stable; then
	pass "kforkd stable in its namespace ($WAITED_MS ms)"
else
	fail "kforkd not stable: $(st); $(tail -5 "$T/k.log")"
fi
drained $G $TOPIC $NP 30 "before the faults"

# phase WHAT FAULT: records flow under FAULT; stable throughout, drained.
phase() {
	local what=$1 unstable=0
	"$2"
	db produce $TOPIC $PER keys=seq
	watermarks $TOPIC $NP
	for _ in $(seq 6); do
		is_stable || unstable=$((unstable + 1))
		commit_safe $G $TOPIC $NP "$what" $(outs) || true
		sleep 0.5
	done
	if wait_for 60 committed_is_hw $G $TOPIC $NP; then
		pass "$what: committed = watermarks ($TOTAL records) $WAITED_MS ms after the checks"
	else
		fail "$what: committed ${COMMITTED[*]}, watermarks ${HW[*]}"
	fi
	[ $unstable = 0 ] && pass "$what: stable at every one of 6 looks" ||
		fail "$what: not stable at $unstable of 6 looks ($(st))"
	qdisc_off
}
phase "delay 100 ms" fault_delay
[ "$LONG" = 1 ] && phase "loss" fault_loss

# ------------------------------------------------------------ partition
if [ "$LONG" = 1 ]; then PART_S=15; else PART_S=12; fi
mark=$(wc -l < "$T/k.log")
db produce $TOPIC $PER keys=seq
# Some records in flight when the network goes.
sleep 0.3
hb0=$(cnt heartbeats)
t_part=$(now_ms)
fault_partition
db produce $TOPIC $PER keys=seq
# The last heartbeat kforkd got answered came before the partition, so
# its session is over by then + session timeout; allow one heartbeat
# interval and a second for the check to run.
expired_by=$((t_part + SESSION_MS + 2000))
while (($(now_ms) < expired_by)); do
	commit_safe $G $TOPIC $NP "partition" $(outs) || true
	sleep 0.5
done
hb1=$(cnt heartbeats)
d1=$(cnt records_dispatched)
committed $G $TOPIC $NP
c1="${COMMITTED[*]}"
s1=$(st)
if grep -q "out of the group\|session expired" <(tail -n +"$((mark + 1))" "$T/k.log"); then
	pass "partition: kforkd saw its session expire: \"$(tail -n +"$((mark + 1))" "$T/k.log" | grep -m1 'out of the group\|session expired' | cut -d' ' -f3-)\""
else
	fail "partition: no session expiry in the log $((expired_by - t_part)) ms into the partition"
fi
# It gives the partitions up when the session ends, not at the next
# heartbeat tick after that: "no heartbeat succeeded for X ms" with X just
# over the session timeout.
late=$(tail -n +"$((mark + 1))" "$T/k.log" | sed -n 's/.*no heartbeat succeeded for \([0-9]*\) ms.*/\1/p' | head -1)
if [ -n "$late" ] && [ "$late" -lt $((SESSION_MS + 300)) ]; then
	pass "partition: out of the group ${late} ms after the last answered heartbeat (session $SESSION_MS ms)"
else
	fail "partition: out of the group ${late:-?} ms after the last answered heartbeat (session $SESSION_MS ms, want < $((SESSION_MS + 300)))"
fi
bad=0
while (($(now_ms) < t_part + PART_S * 1000)); do
	commit_safe $G $TOPIC $NP "partition" $(outs) || true
	[ "$(st)" != stable ] || bad=$((bad + 1))
	sleep 0.5
done
d2=$(cnt records_dispatched)
hb2=$(cnt heartbeats)
committed $G $TOPIC $NP
c2="${COMMITTED[*]}"
if [ "$s1" != stable ] && [ $bad = 0 ]; then
	pass "partition: state \"$s1\" (not stable) from the session expiry to the heal"
else
	fail "partition: state \"$s1\" at the expiry, stable at $bad later looks"
fi
if [ "$d1" = "$d2" ]; then
	pass "partition: no record dispatched after the session expired ($d1)"
else
	fail "partition: records_dispatched grew from $d1 to $d2 after the session expired"
fi
if [ "$c1" = "$c2" ]; then
	pass "partition: nothing committed after the session expired ($c1)"
else
	fail "partition: committed moved from $c1 to $c2 after the session expired"
fi
if [ "$hb1" = "$hb2" ]; then
	pass "partition: no heartbeat answered after the session expired (answered: $hb0 at the partition, $hb1 at the expiry, $hb2 at the heal)"
else
	fail "partition: heartbeats answered after the session expired: $hb1 -> $hb2"
fi

qdisc_off
t_heal=$(now_ms)
if wait_for 60 is_stable; then
	pass "healed: stable again $WAITED_MS ms after the partition ended"
else
	fail "healed: not stable 60 s after the partition ended ($(st))"
fi
db produce $TOPIC $PER keys=seq
commit_safe $G $TOPIC $NP "after healing" $(outs) || true
chaos_end k $G $TOPIC $NP 60 $(outs)
commit_safe $G $TOPIC $NP "at the end" $(outs) && pass "commits never covered an unfinished record"
rc=0
kf_stop k || rc=$?
[ $rc = 0 ] && pass "kforkctl stop: exit 0" || fail "kforkd exit $rc"
echo "$NAME: partition of $PART_S s, rejoined $((($(now_ms) - t_heal) / 1000)) s after the heal at most"
db_stop
summary
