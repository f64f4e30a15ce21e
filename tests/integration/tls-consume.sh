#!/usr/bin/env bash
# A full consume over TLS.  devbroker only speaks plaintext on 127.0.0.1, so
# the test builds two network namespaces joined by a veth pair:
#
#   client ns: kf_probe --TLS--> socat OPENSSL-LISTEN 127.0.0.1:PORT
#                                  | TCP over the veth
#   broker ns:            socat 10.231.0.2:PORT --> devbroker 127.0.0.1:PORT
#
# for each of devbroker's ports, so the addresses the brokers advertise
# (127.0.0.1:PORT) lead the client to a TLS listener.  kf_probe bootstraps,
# follows the advertised addresses, verifies the certificate (IP SAN
# 127.0.0.1, our own CA) and fetches every record; plaintext and an
# untrusted CA must fail.  Then kforkd drains a topic over TLS only.  Needs root (namespaces), ip, socat and openssl:
# otherwise it is skipped, saying why.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
. "$here/../lib/kforkd.sh"
PROBE=${PROBE:-$BUILDDIR/tests/integration/kf_probe}

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
for tool in ip socat openssl; do
	command -v "$tool" >/dev/null || skip "needs $tool"
done

tag=$$
nsc=kf-tls-c-$tag
nsb=kf-tls-b-$tag
kf_tmpdir tls KF_TLS_KEEP
tmp=$KF_DIR
socat_pids=()

cleanup() {
	local p
	for p in "${socat_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${socat_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	ip netns del "$nsc" 2>/dev/null || true
	ip netns del "$nsb" 2>/dev/null || true
}
at_exit cleanup

# Certificates: a CA, a server certificate for IP 127.0.0.1 signed by it,
# and a second CA the client must not trust.
(
	cd "$tmp"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
		-subj "/CN=kfork test CA" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
		-subj "/CN=127.0.0.1" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out server.pem -days 2 -extfile san.ext 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 \
		-subj "/CN=other CA" 2>/dev/null
)

ip netns add "$nsc"
ip netns add "$nsb"
ip -n "$nsc" link set lo up
ip -n "$nsb" link set lo up
ip link add "kfc$tag" type veth peer name "kfb$tag"
ip link set "kfc$tag" netns "$nsc"
ip link set "kfb$tag" netns "$nsb"
ip -n "$nsc" addr add 10.231.0.1/24 dev "kfc$tag"
ip -n "$nsb" addr add 10.231.0.2/24 dev "kfb$tag"
ip -n "$nsc" link set "kfc$tag" up
ip -n "$nsb" link set "kfb$tag" up

DEVBROKER_WRAP="ip netns exec $nsb" db_start 3

for hp in ${BOOTSTRAP//,/ }; do
	port=${hp##*:}
	ip netns exec "$nsb" socat "TCP-LISTEN:$port,bind=10.231.0.2,fork,reuseaddr" \
		"TCP:127.0.0.1:$port" &
	socat_pids+=($!)
	ip netns exec "$nsc" socat \
		"OPENSSL-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr,cert=$tmp/server.pem,key=$tmp/server.key,verify=0" \
		"TCP:10.231.0.2:$port" &
	socat_pids+=($!)
done
# The listeners are up once a TLS handshake through the first one works.
first=${BOOTSTRAP%%,*}
for i in $(seq 50); do
	if echo | ip netns exec "$nsc" openssl s_client -connect "$first" -CAfile "$tmp/ca.pem" \
		-verify_return_error >/dev/null 2>&1; then
		break
	fi
	sleep 0.1
done

db topic tls-a 3
db produce tls-a 3000 codec=lz4 size=100 keys=seq
db topic tls-b 2
db produce tls-b 1000 codec=zstd size=1024 keys=mod:5

out=$tmp/probe.out
if ip netns exec "$nsc" "$PROBE" -b "$BOOTSTRAP" -T "$tmp/ca.pem" -w 60 \
	-t tls-a:seq -t tls-b:mod:5 > "$out" 2>&1; then
	pass "every record over TLS, 3 brokers via their advertised addresses ($(tail -1 "$out"))"
else
	cat "$out"
	fail "every record over TLS"
fi

if ip netns exec "$nsc" "$PROBE" -b "$BOOTSTRAP" -T "$tmp/other.pem" -w 5 -t tls-a:seq \
	> "$out" 2>&1; then
	fail "a broker certificate from an untrusted CA is refused"
elif grep -q 'certificate verify failed' "$out"; then
	pass "a broker certificate from an untrusted CA is refused"
else
	cat "$out"
	fail "a broker certificate from an untrusted CA is refused with a verify error"
fi

if ip netns exec "$nsc" "$PROBE" -b "$BOOTSTRAP" -w 5 -t tls-a:seq > "$out" 2>&1; then
	fail "plaintext to a TLS listener fails"
else
	pass "plaintext to a TLS listener fails"
fi

# kforkd itself over TLS only: joins a group through the TLS listeners,
# drains tls-a with file-handler workers and commits the high watermarks.
mkdir "$tmp/out"
KF_COMMIT_MS=300 kf_conf kforkd kf-tls tls-a 2 "{ type = \"file\"; dir = \"$tmp/out\"; }" \
	"security = { protocol = \"ssl\"; ca_file = \"$tmp/ca.pem\"; };"
KFORKD_WRAP="ip netns exec $nsc" kf_start kforkd
want=ok
for p in 0 1 2; do
	db hwm tls-a $p
	want="$want ${DB_REPLY##* }"
done
drained=false
wait_for 60 db_at kf-tls tls-a 0,1,2 "$want" && drained=true
lines=$(cat "$tmp"/out/worker-*.log 2>/dev/null | wc -l)
if $drained && [ "$lines" -ge 3000 ]; then
	pass "kforkd over TLS: 3000 records handled, committed ${want#ok }"
else
	tail -20 "$tmp/kforkd.log"
	fail "kforkd over TLS: committed ${DB_REPLY#ok }, want ${want#ok }, $lines lines"
fi
kf_kill kforkd TERM
[ "$KF_EXIT" -eq 0 ] && pass "kforkd over TLS: SIGTERM, exit 0" || fail "kforkd over TLS: exit $KF_EXIT"

db_stop
summary
