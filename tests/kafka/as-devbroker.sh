# Real Apache Kafka in place of devbroker, for scripts written against
# devbroker's commands (tests/chaos/lib.sh with CHAOS_BROKER=kafka,
# tests/bench/compare.sh with COMPARE_BROKER=kafka).  Source it after
# tests/integration/common.sh and after any devbroker version of
# `watermarks`: it sources tests/kafka/lib.sh and replaces
#
#   db_start [N]        kafka_start $KAFKA_VERSION (default 4.4.0) with
#                       KAFKA_DB_BROKERS brokers (default 1; N, devbroker's
#                       broker count, is ignored) and the extra kafka_start
#                       arguments in the array KAFKA_DB_ARGS; sets and
#                       exports BOOTSTRAP
#   db_stop             kafka_stop
#   db topic NAME P [RF]
#   db produce TOPIC COUNT [codec=C] [keys=K] [size=B] [batch=N] [partition=P]
#   db hwm TOPIC P      "ok 0 HW" (the log start is taken as 0)
#   db committed GROUP TOPIC P,P,...
#                       devbroker's answers in DB_REPLY, through Kafka's own
#                       client (the oracle, tests/kafka/oracle): one JVM per
#                       call.  Any other devbroker command (error injection)
#                       exits 99: such a scenario stays on devbroker.
#   watermarks TOPIC P  HW (array, partitions 0..P-1) and TOTAL, from one
#                       oracle call
#
# committed (tests/integration/common.sh) goes through `db committed`.
# shellcheck shell=bash
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
KAFKA_DB_ARGS=(${KAFKA_DB_ARGS[@]+"${KAFKA_DB_ARGS[@]}"})

db_start() {
	kafka_start "${KAFKA_VERSION:-4.4.0}" --brokers "${KAFKA_DB_BROKERS:-1}" ${KAFKA_DB_ARGS[@]+"${KAFKA_DB_ARGS[@]}"}
	BOOTSTRAP=$KAFKA_BOOTSTRAP
	export BOOTSTRAP
	echo "Kafka $KAFKA_VERSION at $BOOTSTRAP"
}

db_stop() { kafka_stop; }

db() {
	local cmd=$1 a args=()
	shift
	case $cmd in
	topic)
		kafka_oracle create-topic "$1" --partitions "$2" --replication "${3:-$KAFKA_RF}" > /dev/null
		DB_REPLY=ok ;;
	produce)
		args=("$1" --count "$2")
		for a in "${@:3}"; do
			case $a in
			codec=* | keys=* | size=* | batch=* | partition=*) args+=("--${a%%=*}" "${a#*=}") ;;
			*) echo "db produce: $a is not for a real broker" >&2; exit 99 ;;
			esac
		done
		kafka_oracle produce "${args[@]}" > /dev/null
		DB_REPLY=ok ;;
	hwm)
		DB_REPLY="ok 0 $(kafka_oracle end-offsets "$1" | awk -v p="$2" '$1 == p { print $2 }')" ;;
	committed)
		DB_REPLY="ok $(kafka_oracle committed "$1" "$2" | awk -v ps=",$3," 'index(ps, "," $1 ",") { printf "%s ", $2 }')"
		DB_REPLY=${DB_REPLY% } ;;
	*)
		echo "db $cmd: devbroker only (this script runs on real Kafka)" >&2
		exit 99 ;;
	esac
}

watermarks() {
	local p h
	HW=()
	TOTAL=0
	while read -r p h; do
		[ "$p" -lt "$2" ] || continue
		HW+=("$h")
		TOTAL=$((TOTAL + h))
	done < <(kafka_oracle end-offsets "$1")
}
