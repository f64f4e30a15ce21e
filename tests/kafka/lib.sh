# Real Apache Kafka brokers for the tests, on 127.0.0.1. Source it from a
# bash test (set -euo pipefail is fine), alone or after
# tests/integration/common.sh: the cleanup then runs through its at_exit,
# otherwise through an EXIT trap of our own (chained to one already set).
#
#   kafka_start [VERSION] [--brokers N] [--security MODE] [--broker-prop K=V]...
#       fetch VERSION (default $KAFKA_VERSION, else 4.4.0) with fetch.sh and
#       start N brokers (default 1) in a new temporary directory; KRaft
#       (combined broker+controller nodes, N voters) from 3.3 on, ZooKeeper
#       before. MODE: plain (default), ssl, mtls, sasl_plaintext, sasl_ssl;
#       only the client listener uses it. Returns once every broker answers;
#       exits 99 (printing the logs' tails) if that fails within
#       $KAFKA_START_TIMEOUT seconds (90). If Maven Central cannot be
#       reached it exits 99 too, or 77 (skip) when KAFKA_SKIP_OFFLINE=1.
#       Sets and exports:
#         KAFKA_BOOTSTRAP           client listeners, host:port,host:port...
#         KAFKA_INTERNAL_BOOTSTRAP  the PLAINTEXT inter-broker listeners
#         KAFKA_VERSION KAFKA_LIBS KAFKA_DIR KAFKA_SECURITY KAFKA_BROKERS
#         KAFKA_PID_LIST            broker pids, space separated, broker 1
#                                   first (KAFKA_PIDS is the same as an array,
#                                   not exported: bash cannot)
#         KAFKA_CONTROLLERS         the controller listeners, KRaft only
#         KAFKA_ZK_PID KAFKA_ZK_CONNECT   ZooKeeper mode only
#         KAFKA_CLIENT_PROPS        client properties for the Java tools
#         KAFKA_CA                  CA certificate (PEM), TLS modes
#         KAFKA_CLIENT_CERT KAFKA_CLIENT_KEY   client certificate, mtls
#         KAFKA_SASL_USER KAFKA_SASL_PASSWORD KAFKA_SASL_MECHANISM  SASL modes
#         KAFKA_RF                  min(3, N): the replication factor used
#         KAFKA_START_MS            how long the start took
#   kafka_stop            SIGKILL the clients of kafka_bg, SIGTERM every
#                         process started, SIGKILL after
#                         $KAFKA_STOP_TIMEOUT s (20), remove KAFKA_DIR unless
#                         KAFKA_KEEP is set. Runs at exit by itself.
#   kafka_bg PID          a client the test started in the background (a
#                         peer consumer, an oracle) after kafka_start:
#                         kafka_stop (at exit too) SIGKILLs and reaps it if
#                         it still runs
#   kafka_kill_broker ID  SIGKILL broker ID (1..N)
#   kafka_restart_broker ID   stop broker ID if it runs, start it again and
#                         wait until it and the others (but those killed
#                         with kafka_kill_broker) answer and see each other
#   kafka_tool CLASS ARGS...  run a Kafka tool class (a full name, or a short
#                         one: topics, console-producer, console-consumer,
#                         configs, consumer-groups, broker-api-versions,
#                         get-offsets, delete-records, metadata-quorum,
#                         producer-perf, consumer-perf, storage). With a
#                         --bootstrap-server/--broker-list argument and a
#                         security mode, it adds the tool's client config
#                         option with $KAFKA_CLIENT_PROPS unless one is given.
#   kafka_class NAME      print the full class name of a short tool name
#   kafka_topic_create TOPIC PARTITIONS [RF [ARGS...]]
#   kafka_produce TOPIC [ARGS...]     produce stdin's lines (acks=all,
#                         idempotent)
#   kafka_consume TOPIC COUNT [ARGS...]   print COUNT values from the start
#   kafka_client_props [MECHANISM]    rewrite KAFKA_CLIENT_PROPS (SASL: PLAIN,
#                         SCRAM-SHA-256 or SCRAM-SHA-512)
#   kafka_oracle SUBCOMMAND ARGS...   the oracle with the cluster's settings
#   kafka_drained GROUP TOPIC DIR     committed offsets = end offsets (oracle)
#   kafka_assigned GROUP CLIENTID     the broker lists that member of GROUP
#                         with partitions (oracle group; for wait_for)
#   kafka_ver_ge A B      version A >= B
#
# For the kforkd scripts (tests/kafka/kforkd-*.sh), which source
# tests/lib/kforkd.sh too (kf_conf, kf_start, kf_get ...: member M's files
# in $KF_DIR):
#   kafka_kforkd_conf M GROUP TOPIC WORKERS [KAFKA]
#                         kf_conf for these brokers ($KAFKA_BOOTSTRAP): file
#                         handler into $KF_DIR/out-M (made here), session
#                         10 s, rebalance 20 s, shutdown 30 s, client id
#                         kfork-M (or $KF_CLIENT_ID), log level
#                         $KF_KAFKA_LOG_LEVEL (info); KAFKA: more keys of
#                         the kafka group (isolation, security = { ... }, ...)
#   kafka_kforkd_stop M   SIGTERM to M; fails the test unless it exits 0
#                         within 60 s
#
# Tuning: KAFKA_JAVA (java), KAFKA_BROKER_JVM_OPTS, KAFKA_TOOL_JVM_OPTS,
# KAFKA_TOOL_TIMEOUT (180 s), KAFKA_CONSUME_TIMEOUT_MS (60000),
# KF_KAFKA_CACHE (see fetch.sh). Call kafka_start in the test's own shell,
# not in $(...): the pids must stay children of that shell. A script that
# the test runs may source this file too and use kafka_tool and the other
# client helpers on the same brokers (through the exported variables); its
# kafka_stop stops and removes nothing of them.

KAFKA_HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${KAFKA_JAVA:=java}"
# A small heap and a quick-starting JVM: tests run several brokers on two
# cores; C1 alone halves the CPU a broker burns while it starts.
: "${KAFKA_BROKER_JVM_OPTS:=-Xms64m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}"
: "${KAFKA_TOOL_JVM_OPTS:=-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}"
KAFKA_PIDS=()
KAFKA_ZK_PID=
_KAFKA_BG=()
_KAFKA_HOSTS_OPT=
_KAFKA_TOOL_LOG=
_KAFKA_LOGGING=
_KAFKA_KEY_PASS=kfork-tls
# a KAFKA_DIR from the environment is used, never removed: only the one
# that kafka_start made here is
KAFKA_DIR=${KAFKA_DIR:-}
_KAFKA_OWN_DIR=
_KAFKA_HOOKED=
_KAFKA_DOWN=

# kafka_ver_ge A B: version A >= B
kafka_ver_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

_kafka_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# _kafka_die MSG: print MSG and the tails of the logs, exit 99 (hard error)
_kafka_die() {
	echo "kafka: $*" >&2
	local f
	if [ -n "$KAFKA_DIR" ] && [ -d "$KAFKA_DIR" ]; then
		for f in "$KAFKA_DIR"/*/server.log "$KAFKA_DIR"/*/stdout.log "$KAFKA_DIR"/zk/zookeeper.log; do
			[ -s "$f" ] || continue
			echo "---- tail of ${f#"$KAFKA_DIR"/}" >&2
			tail -n 25 "$f" >&2
		done
	fi
	exit 99
}

_kafka_hook() {
	[ -z "$_KAFKA_HOOKED" ] || return 0
	_KAFKA_HOOKED=1
	if declare -F at_exit >/dev/null; then
		at_exit kafka_stop
		return 0
	fi
	# Keep an EXIT trap the test already has: run ours first.
	local prev words
	prev=$(trap -p EXIT)
	if [ -n "$prev" ]; then
		# trap -p prints: trap -- 'COMMAND' EXIT
		eval "words=(${prev#trap })"
		# shellcheck disable=SC2064 # expand the old command now
		trap "kafka_stop; ${words[1]}" EXIT
	else
		trap kafka_stop EXIT
	fi
}

# _kafka_log_opt KIND BASE: write BASE-log4j.properties in the syntax of the
# log4j (1 or 2) that the release uses and print the JVM option that loads
# it; KIND is file (everything from INFO up to BASE.log) or stderr (warnings
# only, for the tools).
_kafka_log_opt() {
	local kind=$1 base=$2
	if [ "$_KAFKA_LOGGING" = log4j2 ]; then
		if [ "$kind" = file ]; then
			cat >"$base-log4j.properties" <<-EOF
				status = warn
				appender.file.type = File
				appender.file.name = file
				appender.file.fileName = $base.log
				appender.file.layout.type = PatternLayout
				appender.file.layout.pattern = [%d] %p %m (%c)%n
				rootLogger.level = info
				rootLogger.appenderRef.file.ref = file
			EOF
		else
			cat >"$base-log4j.properties" <<-EOF
				status = warn
				appender.err.type = Console
				appender.err.name = err
				appender.err.target = SYSTEM_ERR
				appender.err.layout.type = PatternLayout
				appender.err.layout.pattern = [%d] %p %m (%c)%n
				rootLogger.level = warn
				rootLogger.appenderRef.err.ref = err
			EOF
		fi
		echo "-Dlog4j2.configurationFile=$base-log4j.properties"
	else
		if [ "$kind" = file ]; then
			cat >"$base-log4j.properties" <<-EOF
				log4j.rootLogger=INFO, file
				log4j.appender.file=org.apache.log4j.FileAppender
				log4j.appender.file.File=$base.log
				log4j.appender.file.layout=org.apache.log4j.PatternLayout
				log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
			EOF
		else
			cat >"$base-log4j.properties" <<-EOF
				log4j.rootLogger=WARN, err
				log4j.appender.err=org.apache.log4j.ConsoleAppender
				log4j.appender.err.Target=System.err
				log4j.appender.err.layout=org.apache.log4j.PatternLayout
				log4j.appender.err.layout.ConversionPattern=[%d] %p %m (%c)%n
			EOF
		fi
		echo "-Dlog4j.configuration=file:$base-log4j.properties"
	fi
}

kafka_class() {
	local c
	case "$1" in
	*.*) echo "$1"; return 0 ;;
	topics) set -- org.apache.kafka.tools.TopicCommand kafka.admin.TopicCommand ;;
	console-producer) set -- org.apache.kafka.tools.ConsoleProducer kafka.tools.ConsoleProducer ;;
	console-consumer) set -- org.apache.kafka.tools.consumer.ConsoleConsumer kafka.tools.ConsoleConsumer ;;
	configs) set -- org.apache.kafka.tools.ConfigCommand kafka.admin.ConfigCommand ;;
	consumer-groups) set -- org.apache.kafka.tools.consumer.group.ConsumerGroupCommand kafka.admin.ConsumerGroupCommand ;;
	broker-api-versions) set -- org.apache.kafka.tools.BrokerApiVersionsCommand kafka.admin.BrokerApiVersionsCommand ;;
	get-offsets) set -- org.apache.kafka.tools.GetOffsetShell kafka.tools.GetOffsetShell ;;
	delete-records) set -- org.apache.kafka.tools.DeleteRecordsCommand kafka.admin.DeleteRecordsCommand ;;
	metadata-quorum) set -- org.apache.kafka.tools.MetadataQuorumCommand ;;
	producer-perf) set -- org.apache.kafka.tools.ProducerPerformance ;;
	consumer-perf) set -- org.apache.kafka.tools.ConsumerPerformance kafka.tools.ConsumerPerformance ;;
	storage) set -- org.apache.kafka.tools.StorageTool kafka.tools.StorageTool ;;
	*) echo "kafka_class: unknown tool $1" >&2; return 1 ;;
	esac
	for c in "$@"; do
		if grep -qxF "$c" "$KAFKA_LIBS/../classes.txt"; then
			echo "$c"
			return 0
		fi
	done
	echo "kafka_class: Kafka $KAFKA_VERSION has none of $*" >&2
	return 1
}

# _kafka_attach: what the JVMs need beyond the exported variables, from
# KAFKA_LIBS and KAFKA_DIR; so a script that the test starts can source this
# file and use kafka_tool on the same brokers.
_kafka_attach() {
	_KAFKA_LOGGING=$(sed -n 's/^logging=//p' "$KAFKA_LIBS/../info")
	_KAFKA_TOOL_LOG=$(_kafka_log_opt stderr "$KAFKA_DIR/tools")
	_KAFKA_HOSTS_OPT=
	if [ -f "$KAFKA_DIR/hosts" ]; then
		_KAFKA_HOSTS_OPT=-Djdk.net.hosts.file=$KAFKA_DIR/hosts
	fi
}

# _kafka_java ARGS...: a tool JVM with the fetched jars, warnings to stderr
# (killed after $KAFKA_TOOL_TIMEOUT s, 180 by default: a tool that hangs
# must not hang the test)
_kafka_java() {
	[ -n "$_KAFKA_TOOL_LOG" ] || _kafka_attach
	# --foreground: in the test's process group, so that Ctrl-C reaches it
	# shellcheck disable=SC2086 # the option strings are lists of words
	timeout --foreground -k 5 "${KAFKA_TOOL_TIMEOUT:-180}" "$KAFKA_JAVA" $KAFKA_TOOL_JVM_OPTS $_KAFKA_HOSTS_OPT \
		"$_KAFKA_TOOL_LOG" -cp "$KAFKA_LIBS/*" "$@"
}

kafka_tool() {
	[ -n "${KAFKA_LIBS:-}" ] || { echo "kafka_tool: call kafka_start first" >&2; return 1; }
	local cls flag a net=''
	cls=$(kafka_class "$1") || return 1
	shift
	for a in "$@"; do
		case "$a" in
		--bootstrap-server | --broker-list) net=1 ;;
		--command-config | --producer.config | --consumer.config | --admin.config) net= ; break ;;
		esac
	done
	if [ -n "$net" ] && [ "${KAFKA_SECURITY:-plain}" != plain ]; then
		case "${cls##*.}" in
		ConsoleProducer | ProducerPerformance) flag=--producer.config ;;
		ConsoleConsumer | ConsumerPerformance) flag=--consumer.config ;;
		*) flag=--command-config ;;
		esac
		# 4.2 (KIP-1147) names it --command-config everywhere, and the old
		# name prints a deprecation notice to stdout, among the records
		! kafka_ver_ge "$KAFKA_VERSION" 4.2.0 || flag=--command-config
		set -- "$@" "$flag" "$KAFKA_CLIENT_PROPS"
	fi
	_kafka_java "$cls" "$@"
}

kafka_topic_create() {
	local topic=$1 parts=$2 rf=${3:-$KAFKA_RF}
	shift 2
	[ $# -eq 0 ] || shift
	# TopicCommand learnt --bootstrap-server in 2.2
	if kafka_ver_ge "$KAFKA_VERSION" 2.2.0; then
		kafka_tool topics --bootstrap-server "$KAFKA_BOOTSTRAP" --create \
			--topic "$topic" --partitions "$parts" --replication-factor "$rf" "$@"
	else
		kafka_tool topics --zookeeper "$KAFKA_ZK_CONNECT" --create \
			--topic "$topic" --partitions "$parts" --replication-factor "$rf" "$@"
	fi
}

kafka_produce() {
	local topic=$1 flag=--bootstrap-server prop=--producer-property
	shift
	# the console producer took --broker-list only, before 2.5
	kafka_ver_ge "$KAFKA_VERSION" 2.5.0 || flag=--broker-list
	kafka_ver_ge "$KAFKA_VERSION" 4.2.0 && prop=--command-property
	# idempotent: a retry after a broker failure must not write a record
	# twice (the default only from 3.0 on). stdout: only prompts (">" per
	# line before 2.5).
	# (--request-required-acks: before 3.x the tool sets acks from it after
	# reading the properties)
	kafka_tool console-producer "$flag" "$KAFKA_BOOTSTRAP" --topic "$topic" \
		--request-required-acks all "$prop" enable.idempotence=true "$@" >/dev/null
}

kafka_consume() {
	local topic=$1 count=$2
	shift 2
	kafka_tool console-consumer --bootstrap-server "$KAFKA_BOOTSTRAP" \
		--topic "$topic" --from-beginning --max-messages "$count" \
		--timeout-ms "${KAFKA_CONSUME_TIMEOUT_MS:-60000}" "$@"
}

kafka_client_props() {
	local mech=${1:-${KAFKA_SASL_MECHANISM:-SCRAM-SHA-256}} f=$KAFKA_DIR/client.properties
	local module=org.apache.kafka.common.security.scram.ScramLoginModule
	[ "$mech" != PLAIN ] || module=org.apache.kafka.common.security.plain.PlainLoginModule
	{
		echo "# client settings for --security $KAFKA_SECURITY"
		case "$KAFKA_SECURITY" in
		plain) echo "security.protocol=PLAINTEXT" ;;
		ssl | mtls) echo "security.protocol=SSL" ;;
		sasl_plaintext) echo "security.protocol=SASL_PLAINTEXT" ;;
		sasl_ssl) echo "security.protocol=SASL_SSL" ;;
		esac
		case "$KAFKA_SECURITY" in
		ssl | mtls | sasl_ssl)
			echo "ssl.truststore.type=PEM"
			echo "ssl.truststore.location=$KAFKA_CA"
			;;
		esac
		if [ "$KAFKA_SECURITY" = mtls ]; then
			echo "ssl.keystore.type=PEM"
			echo "ssl.keystore.location=$KAFKA_DIR/tls/client.pem"
			echo "ssl.key.password=$_KAFKA_KEY_PASS"
		fi
		case "$KAFKA_SECURITY" in
		sasl_*)
			echo "sasl.mechanism=$mech"
			echo "sasl.jaas.config=$module required username=\"$KAFKA_SASL_USER\" password=\"$KAFKA_SASL_PASSWORD\";"
			export KAFKA_SASL_MECHANISM=$mech
			;;
		esac
	} >"$f"
	export KAFKA_CLIENT_PROPS=$f
}

# _kafka_certs: a test CA, a broker certificate for 127.0.0.1/localhost and
# a client certificate, PEM, in $KAFKA_DIR/tls
_kafka_certs() {
	local d=$KAFKA_DIR/tls name
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=kfork-test-ca \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$d/broker.ext"
	printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
	for name in broker client; do
		openssl req -newkey rsa:2048 -nodes -subj "/CN=kfork-$name" \
			-keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null
		openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
			-set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$d/$name.ext" \
			-out "$d/$name.crt" 2>/dev/null
		# Kafka's PEM key store: key and chain. Before 3.x Kafka wants the
		# key encrypted, and can decrypt only the PBES1 schemes (not
		# OpenSSL's default PBES2); name.key stays plain for C clients.
		openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -passout "pass:$_KAFKA_KEY_PASS" \
			-in "$d/$name.key" -out "$d/$name.enc.key"
		cat "$d/$name.enc.key" "$d/$name.crt" >"$d/$name.pem"
	done
	export KAFKA_CA=$d/ca.pem
	if [ "$KAFKA_SECURITY" = mtls ]; then
		export KAFKA_CLIENT_CERT=$d/client.crt KAFKA_CLIENT_KEY=$d/client.key
	fi
}

# _kafka_client_listener_props: the broker settings for the client listener
_kafka_client_listener_props() {
	local p=listener.name.client
	case "$KAFKA_SECURITY" in
	ssl | mtls | sasl_ssl)
		echo "$p.ssl.keystore.type=PEM"
		echo "$p.ssl.keystore.location=$KAFKA_DIR/tls/broker.pem"
		echo "$p.ssl.key.password=$_KAFKA_KEY_PASS"
		echo "$p.ssl.truststore.type=PEM"
		echo "$p.ssl.truststore.location=$KAFKA_CA"
		echo "$p.ssl.client.auth=$([ "$KAFKA_SECURITY" = mtls ] && echo required || echo none)"
		;;
	esac
	case "$KAFKA_SECURITY" in
	sasl_*)
		echo "$p.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
		echo "$p.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER=\"$KAFKA_SASL_PASSWORD\";"
		echo "$p.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
		echo "$p.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
		;;
	esac
}

# _kafka_launch ID: start broker ID from its directory; its pid goes into
# KAFKA_PIDS[ID-1]
_kafka_launch() {
	local d=$KAFKA_DIR/broker$1
	# shellcheck disable=SC2086 # the option string is a list of words
	(cd "$d" && exec "$KAFKA_JAVA" $KAFKA_BROKER_JVM_OPTS $_KAFKA_HOSTS_OPT "$(_kafka_log_opt file "$d/server")" \
		-Dkafka.logs.dir="$d" -cp "$KAFKA_LIBS/*" kafka.Kafka "$d/server.properties") \
		</dev/null >"$d/stdout.log" 2>&1 &
	KAFKA_PIDS[$1 - 1]=$!
	KAFKA_PID_LIST=${KAFKA_PIDS[*]}
	export KAFKA_PID_LIST
}

# _kafka_wait_ready WHAT: wait until every broker that is not down on
# purpose (kafka_kill_broker) answers and sees all of those, or die
_kafka_wait_ready() {
	local end pid i up=() internal=() addrs=()
	IFS=, read -r -a internal <<<"$KAFKA_INTERNAL_BOOTSTRAP"
	for i in "${!KAFKA_PIDS[@]}"; do
		if [[ " $_KAFKA_DOWN " != *" $((i + 1)) "* ]]; then
			up+=("$i")
			addrs+=("${internal[$i]}")
		fi
	done
	end=$(($(date +%s) + ${KAFKA_START_TIMEOUT:-90}))
	while :; do
		for i in "${up[@]}"; do
			pid=${KAFKA_PIDS[$i]}
			kill -0 "$pid" 2>/dev/null || _kafka_die "$1: broker $((i + 1)) (pid $pid) exited"
		done
		if [ -n "$KAFKA_ZK_PID" ] && ! kill -0 "$KAFKA_ZK_PID" 2>/dev/null; then
			_kafka_die "$1: ZooKeeper (pid $KAFKA_ZK_PID) exited"
		fi
		python3 "$KAFKA_HARNESS/probe.py" brokers "${#up[@]}" "${addrs[@]}" \
			2>"$KAFKA_DIR/probe.err" && return 0
		[ "$(date +%s)" -lt "$end" ] ||
			_kafka_die "$1: not ready after ${KAFKA_START_TIMEOUT:-90} s: $(tr '\n' ' ' <"$KAFKA_DIR/probe.err")"
		sleep 0.3
	done
}

kafka_start() {
	local version='' n=1 sec=plain props=() t0 libs rc i
	t0=$(_kafka_now_ms)
	while [ $# -gt 0 ]; do
		case "$1" in
		--brokers) n=$2; shift 2 ;;
		--security) sec=$2; shift 2 ;;
		--broker-prop) props+=("$2"); shift 2 ;;
		-*) _kafka_die "kafka_start: unknown option $1" ;;
		*) version=$1; shift ;;
		esac
	done
	[ ${#KAFKA_PIDS[@]} -eq 0 ] || _kafka_die "kafka_start: already running; kafka_stop first"
	[[ $n =~ ^[1-9]$ ]] || _kafka_die "kafka_start: --brokers takes 1..9"
	case "$sec" in
	plain | ssl | mtls | sasl_plaintext | sasl_ssl) ;;
	*) _kafka_die "kafka_start: --security takes plain, ssl, mtls, sasl_plaintext or sasl_ssl" ;;
	esac
	# nothing left from an earlier kafka_start in this shell
	unset KAFKA_CONTROLLERS KAFKA_ZK_CONNECT KAFKA_CA KAFKA_CLIENT_CERT KAFKA_CLIENT_KEY \
		KAFKA_SASL_USER KAFKA_SASL_PASSWORD
	KAFKA_VERSION=${version:-${KAFKA_VERSION:-4.4.0}}
	export KAFKA_VERSION KAFKA_SECURITY=$sec KAFKA_BROKERS=$n
	# The harness writes PEM key stores (Kafka 2.7+) and SCRAM users at
	# format time (KRaft 3.5+); older brokers would need JKS files and more.
	if [ "$sec" != plain ] && ! kafka_ver_ge "$KAFKA_VERSION" 2.7.0; then
		_kafka_die "kafka_start: --security $sec needs Kafka 2.7 or newer (PEM key stores); $KAFKA_VERSION supports plain only here"
	fi

	rc=0
	libs=$("$KAFKA_HARNESS/fetch.sh" "$KAFKA_VERSION") || rc=$?
	if [ "$rc" -eq 2 ] && [ "${KAFKA_SKIP_OFFLINE:-}" = 1 ]; then
		echo "kafka: Maven Central unreachable: skipping" >&2
		exit 77
	fi
	[ "$rc" -eq 0 ] || _kafka_die "kafka_start: could not fetch Kafka $KAFKA_VERSION"
	export KAFKA_LIBS=$libs
	local mode
	mode=$(sed -n 's/^mode=//p' "$libs/../info")
	if [ "$mode" = kraft ] && [[ $sec == sasl_* ]] && ! kafka_ver_ge "$KAFKA_VERSION" 3.5.0; then
		_kafka_die "kafka_start: SASL/SCRAM users in KRaft need Kafka 3.5 or newer"
	fi

	_kafka_hook
	KAFKA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kfork-kafka.XXXXXX")
	export KAFKA_DIR
	_KAFKA_OWN_DIR=$KAFKA_DIR
	if [[ $(sed -n 's/^zookeeper=//p' "$libs/../info") == 3.4.* ]]; then
		# The ZooKeeper 3.4 client (Kafka < 2.4) takes the host from the text
		# of an unresolved InetSocketAddress; Java 14+ prints that as
		# "127.0.0.1/<unresolved>:PORT" and the client then never connects
		# (ZOOKEEPER-3779). A hosts file of our own resolves that name too.
		printf '127.0.0.1 localhost %s 127.0.0.1/<unresolved>\n' "$(hostname)" >"$KAFKA_DIR/hosts"
	fi
	_kafka_attach

	local rf=$((n < 3 ? n : 3)) ports=() cl=() in=() ctl=() voters='' zkport
	export KAFKA_RF=$rf
	mapfile -t ports < <(python3 "$KAFKA_HARNESS/probe.py" free-ports $((3 * n + 1)))
	for ((i = 1; i <= n; i++)); do
		cl+=("127.0.0.1:${ports[3 * i - 3]}")
		in+=("127.0.0.1:${ports[3 * i - 2]}")
		ctl+=("127.0.0.1:${ports[3 * i - 1]}")
		voters+=${voters:+,}$i@${ctl[i - 1]}
	done
	zkport=${ports[3 * n]}
	KAFKA_BOOTSTRAP=$(IFS=,; echo "${cl[*]}")
	KAFKA_INTERNAL_BOOTSTRAP=$(IFS=,; echo "${in[*]}")
	export KAFKA_BOOTSTRAP KAFKA_INTERNAL_BOOTSTRAP
	if [ "$mode" = kraft ]; then
		KAFKA_CONTROLLERS=$(IFS=,; echo "${ctl[*]}")
		export KAFKA_CONTROLLERS
	fi

	if [ "$sec" != plain ]; then
		case "$sec" in ssl | mtls | sasl_ssl) _kafka_certs ;; esac
		if [[ $sec == sasl_* ]]; then
			export KAFKA_SASL_USER=kfork KAFKA_SASL_PASSWORD=kfork-secret
		fi
	fi
	kafka_client_props "${KAFKA_SASL_MECHANISM:-SCRAM-SHA-256}"

	local proto
	case "$sec" in
	plain) proto=PLAINTEXT ;;
	ssl | mtls) proto=SSL ;;
	sasl_plaintext) proto=SASL_PLAINTEXT ;;
	sasl_ssl) proto=SASL_SSL ;;
	esac

	if [ "$mode" = zookeeper ]; then
		local z=$KAFKA_DIR/zk
		mkdir -p "$z/data"
		export KAFKA_ZK_CONNECT=127.0.0.1:$zkport
		cat >"$z/zk.cfg" <<-EOF
			dataDir=$z/data
			clientPort=$zkport
			clientPortAddress=127.0.0.1
			tickTime=2000
			maxClientCnxns=0
			# 3.5+ would open an HTTP admin server on 8080
			admin.enableServer=false
		EOF
		# shellcheck disable=SC2086 # the option string is a list of words
		(cd "$z" && exec "$KAFKA_JAVA" $KAFKA_BROKER_JVM_OPTS "$(_kafka_log_opt file "$z/zookeeper")" \
			-Dzookeeper.admin.enableServer=false -Dzookeeper.4lw.commands.whitelist='*' \
			-cp "$KAFKA_LIBS/*" \
			org.apache.zookeeper.server.ZooKeeperServerMain "$z/zk.cfg") \
			</dev/null >"$z/stdout.log" 2>&1 &
		KAFKA_ZK_PID=$!
		export KAFKA_ZK_PID
		local end=$(($(date +%s) + 30))
		until ! python3 "$KAFKA_HARNESS/probe.py" listening "$KAFKA_ZK_CONNECT" >/dev/null; do
			kill -0 "$KAFKA_ZK_PID" 2>/dev/null || _kafka_die "ZooKeeper exited"
			[ "$(date +%s)" -lt "$end" ] || _kafka_die "ZooKeeper does not listen on $KAFKA_ZK_CONNECT"
			sleep 0.2
		done
		if [[ $sec == sasl_* ]]; then
			# ZooKeeper mode keeps SCRAM credentials in ZooKeeper
			_kafka_java "$(kafka_class configs)" --zookeeper "$KAFKA_ZK_CONNECT" --alter \
				--entity-type users --entity-name "$KAFKA_SASL_USER" --add-config \
				"SCRAM-SHA-256=[password=$KAFKA_SASL_PASSWORD],SCRAM-SHA-512=[password=$KAFKA_SASL_PASSWORD]" \
				>"$z/scram.log" 2>&1 || _kafka_die "adding SCRAM users: $(cat "$z/scram.log")"
		fi
	fi

	local d p cid='' fmt_pids=()
	if [ "$mode" = kraft ]; then
		# the cluster id: 16 random bytes in URL-safe base64, as Kafka's
		# random-uuid prints, without starting a JVM for it
		cid=$(python3 -c 'import base64,os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"): break
print(s)')
	fi
	for ((i = 1; i <= n; i++)); do
		d=$KAFKA_DIR/broker$i
		mkdir -p "$d/data"
		{
			echo "# broker $i of $n, Kafka $KAFKA_VERSION, $mode mode"
			if [ "$mode" = kraft ]; then
				echo "process.roles=broker,controller"
				echo "node.id=$i"
				echo "controller.quorum.voters=$voters"
				echo "controller.listener.names=CONTROLLER"
				echo "listeners=CLIENT://${cl[i - 1]},INTERNAL://${in[i - 1]},CONTROLLER://${ctl[i - 1]}"
				echo "listener.security.protocol.map=CLIENT:$proto,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
			else
				echo "broker.id=$i"
				echo "zookeeper.connect=$KAFKA_ZK_CONNECT"
				echo "zookeeper.connection.timeout.ms=30000"
				# a killed broker's id stays taken until its session expires
				# (18 s by default from 2.5 on): kafka_restart_broker waits
				echo "zookeeper.session.timeout.ms=6000"
				# the last broker standing, or brokers stopped together,
				# cannot hand their partitions over and would retry that for
				# 3 x 5 s before they stop
				echo "controlled.shutdown.max.retries=1"
				echo "controlled.shutdown.retry.backoff.ms=1000"
				echo "listeners=CLIENT://${cl[i - 1]},INTERNAL://${in[i - 1]}"
				echo "listener.security.protocol.map=CLIENT:$proto,INTERNAL:PLAINTEXT"
			fi
			echo "advertised.listeners=CLIENT://${cl[i - 1]},INTERNAL://${in[i - 1]}"
			echo "inter.broker.listener.name=INTERNAL"
			echo "log.dirs=$d/data"
			echo "offsets.topic.replication.factor=$rf"
			echo "transaction.state.log.replication.factor=$rf"
			echo "transaction.state.log.min.isr=$((rf > 1 ? 2 : 1))"
			echo "default.replication.factor=$rf"
			echo "min.insync.replicas=$((rf > 1 ? 2 : 1))"
			echo "group.initial.rebalance.delay.ms=0"
			_kafka_client_listener_props
			# the test's own settings come last and win
			for p in ${props[@]+"${props[@]}"}; do echo "$p"; done
		} >"$d/server.properties"
		if [ "$mode" = kraft ]; then
			local scram=()
			if [[ $sec == sasl_* ]]; then
				scram=(--add-scram "SCRAM-SHA-256=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]"
					--add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]")
			fi
			# format the nodes in parallel: a JVM start each
			_kafka_java "$(kafka_class storage)" format -t "$cid" -c "$d/server.properties" \
				${scram[@]+"${scram[@]}"} >"$d/format.log" 2>&1 &
			fmt_pids+=($!)
		fi
	done
	for i in "${!fmt_pids[@]}"; do
		wait "${fmt_pids[$i]}" || _kafka_die "formatting broker $((i + 1)): $(cat "$KAFKA_DIR/broker$((i + 1))/format.log")"
	done

	for ((i = 1; i <= n; i++)); do
		_kafka_launch "$i"
	done
	_kafka_wait_ready "kafka_start"
	KAFKA_START_MS=$(($(_kafka_now_ms) - t0))
	export KAFKA_START_MS
	echo "kafka $KAFKA_VERSION at $KAFKA_BOOTSTRAP (pids ${KAFKA_PIDS[*]}${KAFKA_ZK_PID:+, zookeeper $KAFKA_ZK_PID}) in $KAFKA_START_MS ms"
}

# _kafka_term_wait PID...: SIGTERM, then SIGKILL what is left after
# KAFKA_STOP_TIMEOUT seconds; reap them
_kafka_term_wait() {
	local pid end alive
	[ $# -gt 0 ] || return 0
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	end=$(($(date +%s) + ${KAFKA_STOP_TIMEOUT:-20}))
	while :; do
		alive=
		for pid in "$@"; do
			if kill -0 "$pid" 2>/dev/null; then alive=1; fi
		done
		if [ -z "$alive" ] || [ "$(date +%s)" -ge "$end" ]; then break; fi
		sleep 0.2
	done
	for pid in "$@"; do
		if kill -0 "$pid" 2>/dev/null; then
			echo "kafka: pid $pid ignored SIGTERM for ${KAFKA_STOP_TIMEOUT:-20} s: SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
}

kafka_bg() { _KAFKA_BG+=("$1"); }

kafka_stop() {
	local pids=() pid
	for pid in ${_KAFKA_BG[@]+"${_KAFKA_BG[@]}"}; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	_KAFKA_BG=()
	for pid in ${KAFKA_PIDS[@]+"${KAFKA_PIDS[@]}"}; do
		[ -z "$pid" ] || pids+=("$pid")
	done
	_kafka_term_wait ${pids[@]+"${pids[@]}"}
	# ZooKeeper after the brokers: without it they would hang
	if [ -n "$KAFKA_ZK_PID" ]; then
		_kafka_term_wait "$KAFKA_ZK_PID"
	fi
	KAFKA_PIDS=()
	KAFKA_ZK_PID=
	_KAFKA_DOWN=
	export KAFKA_PID_LIST=
	if [ -n "$_KAFKA_OWN_DIR" ] && [ -z "${KAFKA_KEEP:-}" ]; then
		rm -rf "$_KAFKA_OWN_DIR"
	elif [ -n "$_KAFKA_OWN_DIR" ]; then
		echo "kafka: kept $_KAFKA_OWN_DIR" >&2
	fi
	_KAFKA_OWN_DIR=
	KAFKA_DIR=
	_KAFKA_TOOL_LOG=
}

_kafka_check_id() {
	if ! [[ ${1:-} =~ ^[1-9]$ ]] || [ "$1" -gt "${#KAFKA_PIDS[@]}" ]; then
		_kafka_die "no broker ${1:-} (brokers: 1..${#KAFKA_PIDS[@]})"
	fi
}

kafka_kill_broker() {
	_kafka_check_id "${1:-}"
	local pid=${KAFKA_PIDS[$1 - 1]}
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	_KAFKA_DOWN="$_KAFKA_DOWN $1"
	echo "kafka: killed broker $1 (pid $pid)"
}

kafka_restart_broker() {
	_kafka_check_id "${1:-}"
	local pid=${KAFKA_PIDS[$1 - 1]} t0
	t0=$(_kafka_now_ms)
	if kill -0 "$pid" 2>/dev/null; then
		_kafka_term_wait "$pid"
	fi
	wait "$pid" 2>/dev/null || true
	if [ -n "$KAFKA_ZK_PID" ]; then
		# After a SIGKILL the old registration lives on until its ZooKeeper
		# session expires, and a broker that finds its id registered exits.
		local end rc
		end=$(($(date +%s) + 30))
		while :; do
			rc=0
			python3 "$KAFKA_HARNESS/probe.py" zk-ephemeral "$KAFKA_ZK_CONNECT" "/brokers/ids/$1" || rc=$?
			[ "$rc" -ne 0 ] || [ "$(date +%s)" -ge "$end" ] || { sleep 0.3; continue; }
			[ "$rc" -ne 2 ] || _kafka_die "kafka_restart_broker $1: cannot ask ZooKeeper"
			[ "$rc" -eq 1 ] || _kafka_die "kafka_restart_broker $1: /brokers/ids/$1 still registered after 30 s"
			break
		done
	fi
	_kafka_launch "$1"
	_KAFKA_DOWN=$(echo "$_KAFKA_DOWN" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ' || true)
	_kafka_wait_ready "kafka_restart_broker $1"
	echo "kafka: broker $1 back (pid ${KAFKA_PIDS[$1 - 1]}) in $(($(_kafka_now_ms) - t0)) ms"
}

# kafka_oracle SUBCOMMAND ARGS...: the oracle (Kafka's Java client, see
# oracle/README.md) against the running brokers, with their client settings
kafka_oracle() {
	"$KAFKA_HARNESS/oracle/oracle.sh" "$1" --bootstrap "$KAFKA_BOOTSTRAP" \
		--config "$KAFKA_CLIENT_PROPS" "${@:2}"
}

kafka_assigned() {
	kafka_oracle group "$1" 2>/dev/null |
		awk -v c="$2" '$1 == "member" && $6 == c && $10 != "-" { f = 1 } END { exit !f }'
}

# kafka_drained GROUP TOPIC DIR: the group's committed offsets equal the
# topic's end offsets, both read by the oracle (kept in DIR/committed and
# DIR/ends)
kafka_drained() {
	kafka_oracle end-offsets "$2" >"$3/ends" 2>/dev/null &&
		kafka_oracle committed "$1" "$2" >"$3/committed" 2>/dev/null &&
		cmp -s "$3/ends" "$3/committed"
}

kafka_kforkd_conf() {
	mkdir -p "$KF_DIR/out-$1"
	BOOTSTRAP=$KAFKA_BOOTSTRAP SESSION_MS=10000 REBALANCE_MS=20000 KF_SHUTDOWN_MS=30000 \
		KF_CLIENT_ID=${KF_CLIENT_ID:-kfork-$1} KF_LOG_LEVEL=${KF_KAFKA_LOG_LEVEL:-info} \
		kf_conf "$1" "$2" "$3" "$4" "{ type = \"file\"; dir = \"$KF_DIR/out-$1\"; }" "${5:-}"
}

kafka_kforkd_stop() {
	kf_kill "$1" TERM 60
	[ "$KF_EXIT" -eq 0 ] ||
		fail "$1: kforkd exited $KF_EXIT after SIGTERM: $(tail -n 3 "$KF_DIR/$1.log" | tr '\n' ' ')"
}
