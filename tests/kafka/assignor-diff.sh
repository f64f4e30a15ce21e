#!/bin/bash
# kfork's partition assignors against the Java client's own, scenario by
# scenario: tests/kafka/assign_diff.py simulates consumer groups through
# rebalances and compares tests/kafka/kf_assign's answers with the
# oracle's (`oracle.sh assign`, the kafka-clients jar's RangeAssignor,
# RoundRobinAssignor and CooperativeStickyAssignor).  No broker: the
# assignors are pure functions of the JoinGroup members and the metadata.
# make check-kafka runs it once, before the version matrix.
#
#   ASSIGN_SEED (1), ASSIGN_GROUPS (500), ASSIGN_ROUNDS (8)
set -euo pipefail

src=$(cd "$(dirname "$0")" && pwd)
BUILDDIR=${BUILDDIR:-$(pwd)}
export BUILDDIR
kf=$BUILDDIR/tests/kafka/kf_assign
[ -x "$kf" ] || { echo "no $kf (make tests/kafka/kf_assign)" >&2; exit 99; }
command -v java > /dev/null || { echo "assignor-diff: no java: skipped"; exit 77; }

exec python3 "$src/assign_diff.py" --kf "$kf" --oracle "$src/oracle/oracle.sh" \
	--seed "${ASSIGN_SEED:-1}" --groups "${ASSIGN_GROUPS:-500}" --rounds "${ASSIGN_ROUNDS:-8}"
