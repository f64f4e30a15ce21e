#!/usr/bin/env bash
# Static membership (KIP-345) on real Apache Kafka ($KAFKA_VERSION, 2.3+):
# tests/chaos/static.sh with CHAOS_BROKER=kafka, long form (each of three
# kforkd restarted twice).  There its zero-rebalance claim is a real check,
# read from the group coordinator's own log as well as from the members,
# and a second kforkd with an instance id already in use is fenced.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
V=${KAFKA_VERSION:-4.4.0}
if ! kafka_ver_ge "$V" 2.3.0; then
	echo "SKIP: static membership needs Kafka 2.3 or newer"
	exit 77
fi
rc=0
CHAOS_BROKER=kafka CHAOS_LONG=${CHAOS_LONG:-1} KAFKA_VERSION=$V bash "$here/../chaos/static.sh" || rc=$?
if [ -n "${KF_KAFKA_RESULTS:-}" ]; then
	echo "$V $([ $rc = 0 ] && echo PASS || echo FAIL) static membership: rolling restarts, 0 rebalances, fencing" >> "$KF_KAFKA_RESULTS"
fi
exit $rc
