#!/usr/bin/env bash
# kforkd against a secured real Apache Kafka ($KAFKA_VERSION, default
# 4.4.0; TLS needs 2.7+, SASL on KRaft 3.5+): for each listener the harness
# can start, kforkd drains and Kafka's client (the oracle) reads the
# commits back.
#
#   ssl              server verification on (the CA of the harness)
#   mtls             the same with a client certificate
#   sasl_plaintext   PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
#   sasl_ssl         SCRAM-SHA-512 over TLS
#
# What must be refused, for good: a CA that did not sign the broker's
# certificate, an address the certificate does not name (127.0.0.2,
# through a relay to the broker: its certificate names 127.0.0.1 and
# localhost), a wrong password, an unknown user.  Each gives one error
# line, the state auth_failed (the daemon's and the broker's) with the
# reason as last_error in kforkctl status, and then no further attempt
# for $KF_SECURE_QUIET_S seconds (20): one connection in kforkd's debug
# log, one "Failed authentication" in the broker's.  A SIGHUP with the
# setting corrected then connects and drains.
#
# Re-authentication (KIP-368): the SASL brokers run with
# connections.max.reauth.ms=3000.  kforkd consumes for $KF_SECURE_SOAK_S
# seconds (60) while the oracle produces, over SCRAM-SHA-512 on
# sasl_plaintext and on sasl_ssl: its connections stay the same TCP
# connections throughout (ss), the broker's own log counts the
# re-authentications on them (kafka.network.Processor at TRACE, set
# through the broker-loggers config) and has no expired-session
# disconnect; generation and rebalance count stay; every record reaches
# the handler once and the commits reach the end offsets (oracle).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/lib.sh"
. "$here/../lib/kforkd.sh"
[ -x "$KFORKCTL" ] || { echo "no $KFORKCTL" >&2; exit 99; }
V=${KAFKA_VERSION:-4.4.0}
if ! kafka_ver_ge "$V" 3.5.0; then
	echo "SKIP: the secure listeners need Kafka 3.5 or newer here (PEM stores, SCRAM users at format time)"
	exit 77
fi
QUIET=${KF_SECURE_QUIET_S:-20}
SOAK=${KF_SECURE_SOAK_S:-60}
REAUTH_MS=3000

# kforkd NAME: $tmp/NAME.conf, NAME.log, NAME.sock, its output $tmp/out-NAME
# (kafka_kforkd_conf, tests/lib/kforkd.sh)
kf_tmpdir secure KF_KAFKA_KEEP
tmp=$KF_DIR
oracle() { kafka_oracle "$@"; }
broker_log() { cat "$KAFKA_DIR"/broker*/server.log; }

# conf NAME BOOTSTRAP TOPIC SECURITY_BLOCK [LEVEL]: write NAME's config
# (one worker, group NAME-g)
conf() {
	KAFKA_BOOTSTRAP=$2 KF_KAFKA_LOG_LEVEL=${5:-info} \
		kafka_kforkd_conf "$1" "$1-g" "$3" 1 "security = { $4 };"
}

# status NAME: kforkctl status into NAME.json
status() { kf_status "$1" > "$tmp/$1.json"; }

# js NAME EXPR: an expression on the status (d), printed (kf_json)
js() { kf_json "$(cat "$tmp/$1.json")" "$2"; }

# caught_up NAME: in the status, stable and committed = high watermark on
# every partition (the oracle has the last word afterwards)
caught_up() {
	status "$1" && [ "$(js "$1" 'd["state"] == "stable" and len(d["assignment"]) > 0 and all(a["committed"] is not None and a["committed"] == a["high_watermark"] for a in d["assignment"])')" = True ]
}

# drained NAME TOPIC: kforkd's status says so, then the oracle: the
# committed offsets of NAME-g are the end offsets ($tmp/ends)
drained() {
	wait_for 90 caught_up "$1" && wait_for 60 kafka_drained "$1-g" "$2" "$tmp"
}

# run NAME SECURITY_BLOCK: kforkd drains 2000 records of topic NAME
run() {
	local name=$1 sec=$2
	oracle create-topic "$name" --partitions 2 --replication 1 > /dev/null
	oracle produce "$name" --count 2000 --keys seq > /dev/null
	conf "$name" "$KAFKA_BOOTSTRAP" "$name" "$sec"
	kf_start "$name"
	if drained "$name" "$name"; then
		pass "$name: kforkd drained 2000 records over $KAFKA_SECURITY, commits read back by Kafka's client"
	else
		fail "$name: not drained: $(grep -E ' (warn|error) ' "$tmp/$name.log" | head -n 3)"
	fi
	kafka_kforkd_stop "$name"
}

# auth_failed NAME: the daemon and every broker entry in auth_failed
auth_failed() {
	status "$1" && [ "$(js "$1" 'd["state"] == "auth_failed" and len(d["brokers"]) > 0 and all(b["state"] == "auth_failed" and b["last_error"] for b in d["brokers"])')" = True ]
}

# refused TOPIC 'NAME|BOOTSTRAP|WORD|SECURITY|FIXED_BOOTSTRAP|FIXED_SECURITY[|FIX]'...
# Start one kforkd per case at once (debug log) on the broker running now;
# each must end in auth_failed with WORD in the reason, and then try no
# more for $QUIET s: one connection attempt in its log, one error line and
# no warning; the broker logs one failed authentication per case.  Then
# each gets the fixed settings (after the shell command FIX, if any) by
# SIGHUP and must drain TOPIC.
refused() {
	local topic=$1 c name boot word sec fboot fsec fix n0 n1 names=() ok=1
	shift
	n0=$(broker_log | grep -c "Failed authentication with" || true)
	for c in "$@"; do
		IFS='|' read -r name boot word sec fboot fsec fix <<< "$c"
		names+=("$name")
		conf "$name" "$boot" "$topic" "$sec" debug
		kf_start "$name"
	done
	for name in "${names[@]}"; do
		if ! wait_for 60 auth_failed "$name"; then
			fail "$name: not in auth_failed: $(cat "$tmp/$name.json" 2>/dev/null) $(grep -E ' (warn|error) ' "$tmp/$name.log" | head -n 3)"
			ok=
		fi
	done
	[ -n "$ok" ] || return 0
	sleep "$QUIET" # any retry would show now (the backoff was 100 ms .. 10 s)
	n1=$(broker_log | grep -c "Failed authentication with" || true)
	for c in "$@"; do
		IFS='|' read -r name boot word sec fboot fsec fix <<< "$c"
		local log=$tmp/$name.log errs warns attempts err
		status "$name" || true
		errs=$(grep -c ' error ' "$log" || true)
		warns=$(grep -c ' warn ' "$log" || true)
		attempts=$(grep -c 'conn: .*: down -> resolving' "$log" || true)
		err=$(js "$name" 'd["brokers"][0]["last_error"]')
		if [ "$(js "$name" 'd["state"]')" = auth_failed ] && [ "$errs" -eq 1 ] && [ "$warns" -eq 0 ] &&
			[ "$attempts" -eq 1 ] && grep ' error ' "$log" | grep -qiE "$word" &&
			grep ' error ' "$log" | grep -q "not retrying" && grep -qiE "$word" <<< "$err"; then
			pass "$name refused for good: 1 connection attempt and 1 error line in $QUIET s, status auth_failed: \"$err\""
		else
			fail "$name: state $(js "$name" 'd["state"]'), $attempts attempts, $errs error and $warns warn lines, last_error \"$err\": $(grep -E ' (warn|error) ' "$log" | head -n 3)"
		fi
	done
	if [ $((n1 - n0)) -eq $# ]; then
		pass "broker: $((n1 - n0)) failed authentications for $# refused kforkd in $QUIET s"
	else
		fail "broker: $((n1 - n0)) failed authentications for $# refused kforkd, want $#"
	fi
	for c in "$@"; do
		IFS='|' read -r name boot word sec fboot fsec fix <<< "$c"
		[ -z "$fix" ] || eval "$fix"
		conf "$name" "$fboot" "$topic" "$fsec" debug
		kill -HUP "${KPID[$name]}"
	done
	for c in "$@"; do
		IFS='|' read -r name boot word sec fboot fsec fix <<< "$c"
		if drained "$name" "$topic" && [ "$(grep -c ' error ' "$tmp/$name.log" || true)" -eq 1 ] &&
			{ [ -z "$fix" ] || grep -q "connecting again with the settings read anew" "$tmp/$name.log"; }; then
			pass "$name: after SIGHUP with the setting fixed${fix:+ in place (config unchanged)}, kforkd drained $topic (oracle)"
		else
			fail "$name: not drained after the fix: $(grep -E ' (warn|error) ' "$tmp/$name.log" | tail -n 3)"
		fi
		kafka_kforkd_stop "$name"
	done
}

# trace_processor: kafka.network.Processor at TRACE on every broker: its
# "Begin re-authentication" and "Disconnecting expired channel" lines
trace_processor() {
	local i
	for ((i = 1; i <= KAFKA_BROKERS; i++)); do
		kafka_tool configs --bootstrap-server "$KAFKA_BOOTSTRAP" --entity-type broker-loggers \
			--entity-name "$i" --alter --add-config kafka.network.Processor=TRACE > "$tmp/loggers.out" 2>&1 ||
			{ fail "broker-loggers: $(tail -n 3 "$tmp/loggers.out")"; return 1; }
	done
}

# ports NAME: local ports of NAME's established connections to the brokers
ports() {
	local p=${KPID[$1]} a port
	IFS=, read -r -a a <<< "$KAFKA_BOOTSTRAP"
	for port in "${a[@]}"; do
		ss -tnpH state established "( dport = :${port##*:} )" | grep "pid=$p," |
			awk '{ n = split($3, x, ":"); print x[n] }'
	done | sort -n | paste -s -d ' '
}

# soak NAME SECURITY_BLOCK: re-authentication while records flow (see top)
soak() {
	local name=$1 sec=$2 g0 r0 a0 p0 l0 k0 g1 r1 a1 p1 batches=0 end
	oracle create-topic "$name" --partitions 2 --replication 1 > /dev/null
	oracle produce "$name" --count 500 --keys seq > /dev/null
	conf "$name" "$KAFKA_BOOTSTRAP" "$name" "$sec"
	kf_start "$name"
	if ! wait_for 90 caught_up "$name"; then
		fail "$name: never caught up: $(grep -E ' (warn|error) ' "$tmp/$name.log" | head -n 3)"
		kafka_kforkd_stop "$name"
		return 0
	fi
	g0=$(js "$name" 'd["generation"]')
	r0=$(js "$name" 'd["counters"]["rebalances"]')
	a0=$(js "$name" 'sum(b["reauths"] for b in d["brokers"])')
	p0=$(ports "$name")
	l0=$(broker_log | wc -l)
	k0=$(wc -l < "$tmp/$name.log")
	end=$((SECONDS + SOAK))
	while [ "$SECONDS" -lt "$end" ]; do
		oracle produce "$name" --count 100 --keys seq > /dev/null
		batches=$((batches + 1))
	done
	p1=$(ports "$name")
	if drained "$name" "$name"; then
		pass "$name: drained $((500 + 100 * batches)) records produced over ${SOAK} s (oracle)"
	else
		fail "$name: not drained after the soak"
	fi
	status "$name" || true
	g1=$(js "$name" 'd["generation"]')
	r1=$(js "$name" 'd["counters"]["rebalances"]')
	a1=$(js "$name" 'sum(b["reauths"] for b in d["brokers"])')
	local reauths=$((a1 - a0)) seen=0 port bl kl
	bl=$(broker_log | tail -n +"$((l0 + 1))")
	kl=$(tail -n +"$((k0 + 1))" "$tmp/$name.log")
	for port in $p0; do
		seen=$((seen + $(grep "Begin re-authentication" <<< "$bl" | grep -c -- "-127.0.0.1:$port-" || true)))
	done
	if [ "$reauths" -gt 10 ] && [ "$seen" -gt 10 ]; then
		pass "$name: $reauths re-authentications in the status, $seen in the broker's log on kforkd's connections"
	else
		fail "$name: $reauths re-authentications in the status, $seen in the broker's log (want > 10)"
	fi
	if [ -n "$p0" ] && [ "$p0" = "$p1" ] &&
		! grep -qE "expired channel|Failed authentication" <<< "$bl" &&
		! grep -qE " (warn|error) |connected after|closed by broker" <<< "$kl"; then
		pass "$name: the same connections (ports $p0) throughout, no expired-session disconnect, no warning"
	else
		fail "$name: connections $p0 -> $p1; broker: $(grep -E "expired channel|Failed authentication" <<< "$bl" | head -n 2); kforkd: $(grep -E " (warn|error) |connected after|closed by broker" <<< "$kl" | head -n 3)"
	fi
	if [ "$g1" = "$g0" ] && [ "$r1" = "$r0" ]; then
		pass "$name: no rebalance (generation $g0, rebalances $r0)"
	else
		fail "$name: generation $g0 -> $g1, rebalances $r0 -> $r1"
	fi
	local out
	if out=$(python3 "$here/check_output.py" --topic "$name" --ends "$tmp/ends" --keys seq \
		--once "$tmp/out-$name"); then
		pass "$name: every record in the handler's output once: $out"
	else
		fail "$name: output: $out"
	fi
	kafka_kforkd_stop "$name"
}

# --- TLS, server verification on
kafka_start "$V" --security ssl
run ssl "protocol = \"ssl\"; ca_file = \"$KAFKA_CA\";"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/other.key" -out "$tmp/other.pem" \
	-days 2 -subj /CN=other-ca > /dev/null 2>&1
# An address the certificate does not name: 127.0.0.2 (all of 127/8 is
# loopback on Linux), relayed to the broker, which listens on 127.0.0.1.
relay=
if python3 -c 'import socket; socket.socket().bind(("127.0.0.2", 0))' 2> /dev/null; then
	cat > "$tmp/relay.py" <<'EOF'
import socket, sys, threading
host, port = sys.argv[2].rsplit(":", 1)
ls = socket.socket()
ls.bind((sys.argv[1], 0))
ls.listen(16)
print(ls.getsockname()[1], flush=True)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = ls.accept()
    u = socket.create_connection((host, int(port)))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
EOF
	python3 "$tmp/relay.py" 127.0.0.2 "$KAFKA_BOOTSTRAP" > "$tmp/relay.port" &
	kafka_bg $! # stopped with these brokers
	wait_for 10 test -s "$tmp/relay.port" && relay=127.0.0.2:$(head -n 1 "$tmp/relay.port")
fi
oracle create-topic fixed-ssl --partitions 2 --replication 1 > /dev/null
oracle produce fixed-ssl --count 200 --keys seq > /dev/null
ssl_ok="protocol = \"ssl\"; ca_file = \"$KAFKA_CA\";"
# untrusted: fixed in place, the config file unchanged: the reload alone
# makes kforkd read the CA file again
cp "$tmp/other.pem" "$tmp/ca-in-place.pem"
in_place="protocol = \"ssl\"; ca_file = \"$tmp/ca-in-place.pem\";"
cases=("untrusted|$KAFKA_BOOTSTRAP|certificate verify failed|$in_place|$KAFKA_BOOTSTRAP|$in_place|cp \"\$KAFKA_CA\" \"\$tmp/ca-in-place.pem\"")
if [ -n "$relay" ]; then
	cases+=("hostname|$relay|certificate verify failed: IP address mismatch|$ssl_ok|$KAFKA_BOOTSTRAP|$ssl_ok")
else
	echo "NOTE: 127.0.0.2 cannot be bound here: no host name mismatch case (the TLS unit suite has one)"
fi
refused fixed-ssl "${cases[@]}"
kafka_stop

# --- mutual TLS
kafka_start "$V" --security mtls
run mtls "protocol = \"ssl\"; ca_file = \"$KAFKA_CA\"; cert_file = \"$KAFKA_CLIENT_CERT\"; key_file = \"$KAFKA_CLIENT_KEY\";"
kafka_stop

# --- SASL over plaintext, each mechanism; what must be refused; then
# SCRAM-SHA-512 across many re-authentications
kafka_start "$V" --security sasl_plaintext --broker-prop "connections.max.reauth.ms=$REAUTH_MS"
printf '%s\n' "$KAFKA_SASL_PASSWORD" > "$tmp/password"
printf 'not-the-password\n' > "$tmp/wrong"
chmod 600 "$tmp/password" "$tmp/wrong"
sasl() { echo "protocol = \"$1\"; sasl_mechanism = \"$2\"; username = \"$3\"; password_file = \"$4\";${5:+ ca_file = \"$5\";}"; }
for mech in PLAIN SCRAM-SHA-256; do
	kafka_client_props "$mech"
	run "sasl-${mech,,}" "$(sasl sasl_plaintext "$mech" "$KAFKA_SASL_USER" "$tmp/password")"
done
kafka_client_props SCRAM-SHA-512
oracle create-topic fixed-sasl --partitions 2 --replication 1 > /dev/null
oracle produce fixed-sasl --count 200 --keys seq > /dev/null
refused fixed-sasl \
	"wrong-password|$KAFKA_BOOTSTRAP|SASL_AUTHENTICATION_FAILED|$(sasl sasl_plaintext SCRAM-SHA-512 "$KAFKA_SASL_USER" "$tmp/wrong")|$KAFKA_BOOTSTRAP|$(sasl sasl_plaintext SCRAM-SHA-512 "$KAFKA_SASL_USER" "$tmp/password")" \
	"unknown-user|$KAFKA_BOOTSTRAP|SASL_AUTHENTICATION_FAILED|$(sasl sasl_plaintext SCRAM-SHA-256 nobody-here "$tmp/password")|$KAFKA_BOOTSTRAP|$(sasl sasl_plaintext SCRAM-SHA-256 "$KAFKA_SASL_USER" "$tmp/password")"
trace_processor && soak sasl-scram-sha-512 "$(sasl sasl_plaintext SCRAM-SHA-512 "$KAFKA_SASL_USER" "$tmp/password")"
kafka_stop

# --- SASL over TLS, across many re-authentications
kafka_start "$V" --security sasl_ssl --broker-prop "connections.max.reauth.ms=$REAUTH_MS"
kafka_client_props SCRAM-SHA-512
trace_processor && soak sasl-ssl "$(sasl sasl_ssl SCRAM-SHA-512 "$KAFKA_SASL_USER" "$tmp/password" "$KAFKA_CA")"
kafka_stop

summary
