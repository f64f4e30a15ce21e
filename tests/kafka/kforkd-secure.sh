#!/usr/bin/env bash
# kforkd against a secured real Apache Kafka ($KAFKA_VERSION, default
# 4.4.0; TLS needs 2.7+, SASL on KRaft 3.5+): for each listener the harness
# can start, kforkd drains 2000 records and Kafka's client (the oracle)
# reads the commits back.
#
#   ssl              server verification on (the CA of the harness)
#   mtls             the same with a client certificate
#   sasl_plaintext   PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
#   sasl_ssl         SCRAM-SHA-512 over TLS
#
# and what must fail, with one clear error line and the broker's
# last_error in kforkctl status: a wrong password, an unknown user, a CA
# that did not sign the broker's certificate.  (A host name the
# certificate does not name needs a second name for 127.0.0.1; the TLS
# unit suite covers it.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/common.sh"
. "$here/lib.sh"
KFORKD=${KFORKD:-$BUILDDIR/supervisor/kforkd}
KFORKCTL=${KFORKCTL:-$BUILDDIR/supervisor/kforkctl}
for b in "$KFORKD" "$KFORKCTL"; do
	[ -x "$b" ] || { echo "no $b" >&2; exit 99; }
done
V=${KAFKA_VERSION:-4.4.0}
if ! kafka_ver_ge "$V" 3.5.0; then
	echo "SKIP: the secure listeners need Kafka 3.5 or newer here (PEM stores, SCRAM users at format time)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kf-secure.XXXXXX")
kpid=
cleanup() {
	if [ -n "$kpid" ]; then
		kill -KILL "$kpid" 2>/dev/null || true
		wait "$kpid" 2>/dev/null || true
	fi
	if [ -n "${KF_KAFKA_KEEP:-}" ]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
at_exit cleanup
oracle() { kafka_oracle "$@"; }

# run NAME SECURITY_BLOCK: kforkd with that kafka.security block on topic
# NAME (2000 records); waits until the oracle reads the commits = the ends
run() {
	local name=$1 sec=$2
	mkdir -p "$tmp/$name/out"
	oracle create-topic "$name" --partitions 2 --replication 1 > /dev/null
	oracle produce "$name" --count 2000 --keys seq > /dev/null
	cat > "$tmp/$name/kforkd.conf" <<EOF
kafka = {
  bootstrap = "$KAFKA_BOOTSTRAP";
  group = "$name-g";
  topics = [ "$name" ];
  commit_interval_ms = 500;
  security = { $sec };
};
workers = { count = 1; handler = { type = "file"; dir = "$tmp/$name/out"; }; };
log = { level = "info"; };
control = { socket = "$tmp/$name/ctl.sock"; };
EOF
	"$KFORKD" -c "$tmp/$name/kforkd.conf" > "$tmp/$name/log" 2>&1 &
	kpid=$!
	if wait_for 60 kafka_drained "$name-g" "$name" "$tmp"; then
		pass "$name: kforkd drained 2000 records over $KAFKA_SECURITY, commits read back by Kafka's client"
	else
		fail "$name: not drained: $(grep -E ' (warn|error) ' "$tmp/$name/log" | head -n 3)"
	fi
	kill -TERM "$kpid"
	wait "$kpid" || fail "$name: kforkd exited $? after SIGTERM"
	kpid=
}

# refused NAME SECURITY_BLOCK WORD: kforkd must not get in; its log has an
# error line with WORD, and kforkctl status the broker's last_error
refused() {
	local name=$1 sec=$2 word=$3
	mkdir -p "$tmp/$name/out"
	cat > "$tmp/$name/kforkd.conf" <<EOF
kafka = {
  bootstrap = "$KAFKA_BOOTSTRAP";
  group = "$name-g";
  topics = [ "t" ];
  security = { $sec };
};
workers = { count = 1; handler = { type = "noop"; }; };
control = { socket = "$tmp/$name/ctl.sock"; };
EOF
	"$KFORKD" -c "$tmp/$name/kforkd.conf" > "$tmp/$name/log" 2>&1 &
	kpid=$!
	has_error() {
		"$KFORKCTL" -s "$tmp/$name/ctl.sock" status > "$tmp/$name/status.json" 2>/dev/null &&
			python3 - "$tmp/$name/status.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["brokers"]
sys.exit(0 if any(x["last_error"] and x["state"] != "ready" for x in b) else 1)
PY
	}
	if wait_for 30 has_error; then
		sleep 10 # time for retries to show in the log
		local err lines
		err=$(python3 -c 'import json, sys; print([x["last_error"] for x in json.load(open(sys.argv[1]))["brokers"] if x["last_error"]][0])' "$tmp/$name/status.json")
		lines=$(grep -cE ' (warn|error) ' "$tmp/$name/log" || true)
		if grep -qiE "$word" "$tmp/$name/log" && [ "$lines" -le 3 ]; then
			pass "$name refused: status last_error \"$err\"; $lines warn/error lines in 10 s"
		else
			fail "$name: $lines warn/error lines, none with /$word/: $(grep -E ' (warn|error) ' "$tmp/$name/log" | head -n 5)"
		fi
	else
		fail "$name: no broker error in the status: $(cat "$tmp/$name/status.json" 2>/dev/null)"
	fi
	kill -TERM "$kpid"
	wait "$kpid" || true
	kpid=
}

# --- TLS, server verification on
kafka_start "$V" --security ssl
run ssl "protocol = \"ssl\"; ca_file = \"$KAFKA_CA\";"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/other.key" -out "$tmp/other.pem" \
	-days 2 -subj /CN=other-ca > /dev/null 2>&1
refused untrusted "protocol = \"ssl\"; ca_file = \"$tmp/other.pem\";" "certificate|verify"
kafka_stop

# --- mutual TLS
kafka_start "$V" --security mtls
run mtls "protocol = \"ssl\"; ca_file = \"$KAFKA_CA\"; cert_file = \"$KAFKA_CLIENT_CERT\"; key_file = \"$KAFKA_CLIENT_KEY\";"
kafka_stop

# --- SASL over plaintext, each mechanism; then what must be refused
kafka_start "$V" --security sasl_plaintext
printf '%s\n' "$KAFKA_SASL_PASSWORD" > "$tmp/password"
printf 'not-the-password\n' > "$tmp/wrong"
chmod 600 "$tmp/password" "$tmp/wrong"
for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
	kafka_client_props "$mech"
	run "sasl-${mech,,}" "protocol = \"sasl_plaintext\"; sasl_mechanism = \"$mech\"; username = \"$KAFKA_SASL_USER\"; password_file = \"$tmp/password\";"
done
refused wrong-password "protocol = \"sasl_plaintext\"; sasl_mechanism = \"SCRAM-SHA-512\"; username = \"$KAFKA_SASL_USER\"; password_file = \"$tmp/wrong\";" \
	"authentication|sasl"
refused unknown-user "protocol = \"sasl_plaintext\"; sasl_mechanism = \"SCRAM-SHA-256\"; username = \"nobody-here\"; password_file = \"$tmp/password\";" \
	"authentication|sasl"
kafka_stop

# --- SASL over TLS
kafka_start "$V" --security sasl_ssl
kafka_client_props SCRAM-SHA-512
run sasl-ssl "protocol = \"sasl_ssl\"; ca_file = \"$KAFKA_CA\"; sasl_mechanism = \"SCRAM-SHA-512\"; username = \"$KAFKA_SASL_USER\"; password_file = \"$tmp/password\";"
kafka_stop

summary
