#!/bin/bash
# The real-Kafka harness itself: start Kafka $KAFKA_VERSION (default 4.4.0)
# with $KAFKA_BROKERS brokers (1) and --security $KAFKA_SECURITY (plain),
# create a topic, produce 100 records with the console producer, read them
# back with the console consumer, stop, and check that nothing is left.
# With several brokers it also kills one, produces, and restarts it.
# KAFKA_SMOKE_STANDALONE=1 runs without tests/integration/common.sh, to
# check that lib.sh installs its own exit trap.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "${KAFKA_SMOKE_STANDALONE:-}" = 1 ]; then
	PASSED=0
	FAILED=0
	pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
	fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
	summary() {
		echo "harness-smoke: $PASSED passed, $FAILED failed"
		[ "$FAILED" -eq 0 ]
	}
else
	# shellcheck source=../integration/common.sh
	. "$here/../integration/common.sh"
fi
# shellcheck source=lib.sh
. "$here/lib.sh"

brokers=${KAFKA_BROKERS:-1}
security=${KAFKA_SECURITY:-plain}
topic=smoke
work=$(mktemp -d "${TMPDIR:-/tmp}/kfork-smoke.XXXXXX")
cleanup_work() { rm -rf "$work"; }
if declare -F at_exit >/dev/null; then at_exit cleanup_work; fi

kafka_start "${KAFKA_VERSION:-4.4.0}" --brokers "$brokers" --security "$security"
pass "kafka $KAFKA_VERSION started: $brokers broker(s), $security, ready in $KAFKA_START_MS ms"

# what to check once it is stopped
all_pids="$KAFKA_PID_LIST ${KAFKA_ZK_PID:-}"
all_addrs="${KAFKA_BOOTSTRAP//,/ } ${KAFKA_INTERNAL_BOOTSTRAP//,/ } ${KAFKA_CONTROLLERS:+${KAFKA_CONTROLLERS//,/ }} ${KAFKA_ZK_CONNECT:-}"
dir=$KAFKA_DIR

for pid in $KAFKA_PID_LIST; do
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
	echo "broker pid $pid: RSS $((rss / 1024)) MiB"
done

# TLS: a plain OpenSSL client (as kfork's) verifies the broker's certificate
# for 127.0.0.1 against KAFKA_CA, presenting the client certificate in mtls.
case "$security" in
ssl | mtls | sasl_ssl)
	cert=()
	[ "$security" != mtls ] || cert=(-cert "$KAFKA_CLIENT_CERT" -key "$KAFKA_CLIENT_KEY")
	if openssl s_client -connect "${KAFKA_BOOTSTRAP%%,*}" -CAfile "$KAFKA_CA" \
		-verify_return_error -verify_ip 127.0.0.1 ${cert[@]+"${cert[@]}"} \
		</dev/null >"$work/s_client.out" 2>&1 &&
		grep -q 'Verify return code: 0 (ok)' "$work/s_client.out"; then
		pass "openssl verifies the broker certificate against KAFKA_CA"
	else
		fail "openssl s_client: $(tail -n 5 "$work/s_client.out")"
	fi
	;;
esac

if kafka_topic_create "$topic" 3 >"$work/create.out" 2>&1; then
	pass "topic $topic created (3 partitions, replication factor $KAFKA_RF)"
else
	fail "creating topic $topic: $(tail -n 5 "$work/create.out")"
fi

if seq 1 100 | kafka_produce "$topic" >"$work/produce.out" 2>&1; then
	pass "produced 100 records with $(kafka_class console-producer)"
else
	fail "producing: $(tail -n 5 "$work/produce.out")"
fi

expect=100
if [ "$brokers" -gt 1 ]; then
	# failover: with one broker gone, acks=all still succeeds (min ISR 2)
	kafka_kill_broker "$brokers"
	if seq 101 110 | kafka_produce "$topic" >"$work/produce2.out" 2>&1; then
		pass "produced 10 more records with broker $brokers killed"
	else
		fail "producing with broker $brokers killed: $(tail -n 5 "$work/produce2.out")"
	fi
	kafka_restart_broker "$brokers"
	pass "broker $brokers restarted (pids now $KAFKA_PID_LIST)"
	all_pids="$all_pids $KAFKA_PID_LIST"
	expect=110
fi

if kafka_consume "$topic" "$expect" --group "smoke-$$" >"$work/consumed" 2>"$work/consume.err"; then
	:
fi
if [ "$(sort -n "$work/consumed" | tr '\n' ' ')" = "$(seq 1 "$expect" | tr '\n' ' ')" ]; then
	pass "consumed the $expect records back with $(kafka_class console-consumer)"
else
	fail "consumed $(wc -l <"$work/consumed") records ($(sort -u "$work/consumed" | wc -l) distinct), want 1..$expect: $(tail -n 5 "$work/consume.err")"
fi

# SASL: every mechanism logs in, a wrong password does not.
# mTLS: a client without a certificate is turned away.
bad=$work/bad.properties
case "$security" in
sasl_*)
	for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
		kafka_client_props "$mech"
		if kafka_tool topics --bootstrap-server "$KAFKA_BOOTSTRAP" --list 2>"$work/list.err" | grep -qx "$topic"; then
			pass "SASL $mech login as $KAFKA_SASL_USER lists the topic"
		else
			fail "SASL $mech: $(tail -n 5 "$work/list.err")"
		fi
	done
	sed 's/password="[^"]*"/password="wrong"/' "$KAFKA_CLIENT_PROPS" >"$bad"
	;;
mtls) grep -v '^ssl.keystore' "$KAFKA_CLIENT_PROPS" >"$bad" ;;
esac
if [ -f "$bad" ]; then
	if kafka_tool topics --bootstrap-server "$KAFKA_BOOTSTRAP" --list \
		--command-config "$bad" >"$work/bad.out" 2>&1; then
		fail "a client with bad credentials was let in"
	elif grep -qiE 'authentication|handshake' "$work/bad.out"; then
		pass "a client with bad credentials is refused: $(grep -oiE '[a-z]*(authentication|handshake)[a-z]*' "$work/bad.out" | head -n1)"
	else
		fail "a client with bad credentials failed otherwise: $(tail -n 3 "$work/bad.out")"
	fi
fi

t0=$(date +%s%N)
kafka_stop
echo "stopped in $((($(date +%s%N) - t0) / 1000000)) ms"
left=
for pid in $all_pids; do
	if kill -0 "$pid" 2>/dev/null; then left="$left $pid"; fi
done
if [ -z "$left" ] && ! pgrep -f -- "$dir" >/dev/null; then
	pass "every process stopped"
else
	fail "still running:$left $(pgrep -af -- "$dir" || true)"
fi
# shellcheck disable=SC2086 # a list of addresses
if open=$(python3 "$here/probe.py" listening $all_addrs); then
	pass "no port left listening ($(echo $all_addrs | wc -w) checked)"
else
	fail "still listening: $open"
fi
if [ ! -e "$dir" ]; then
	pass "KAFKA_DIR removed"
else
	fail "$dir is still there"
fi

cleanup_work
summary
