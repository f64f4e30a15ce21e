#!/bin/sh
# oracle.sh SUBCOMMAND ARGS... : run the oracle (Kafka's own Java client; see
# README.md here), building it first when its jar is missing or older than
# its sources.  The build goes to ${KF_ORACLE_DIR:-${BUILDDIR:-$PWD}/tests/kafka/oracle};
# it needs Java 17 and Maven, which fetches kafka-clients on first use.
#
#   KF_ORACLE_LOG=info     more client logging on stderr (default warn)
#   KF_ORACLE_JAVA_OPTS    extra JVM options
set -e

src=$(cd "$(dirname "$0")" && pwd)
out=${KF_ORACLE_DIR:-${BUILDDIR:-$PWD}/tests/kafka/oracle}
jar=$out/oracle.jar
jsa=$out/oracle.jsa
cp="$jar:$out/deps/*"
# C1 only and the serial collector: these runs are short, start time counts.
jvm="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xlog:cds=off -Xlog:cds+dynamic=off"
log=-Dorg.slf4j.simpleLogger.defaultLogLevel=${KF_ORACLE_LOG:-warn}

stale() {
	[ ! -f "$jar" ] || [ ! -d "$out/deps" ] ||
		[ -n "$(find "$src/pom.xml" "$src/src" -newer "$jar" 2>/dev/null | head -n 1)" ]
}

if stale || [ ! -f "$jsa" ]; then
	mkdir -p "$out"
	exec 9>"$out/.build.lock" # one build at a time; who waited finds it done
	flock 9
	if stale; then
		rm -rf "$out/deps" "$jsa"
		if ! mvn -q -B -f "$src/pom.xml" -Dkf.out="$out" package >"$out/build.log" 2>&1; then
			cat "$out/build.log" >&2
			echo "oracle.sh: building the oracle failed (log: $out/build.log)" >&2
			exit 2
		fi
		touch "$jar"
	fi
	if [ ! -f "$jsa" ]; then
		# A class data sharing archive of what the clients load makes
		# every later start faster.  Written aside and renamed: a
		# truncated archive crashes the JVM.
		# shellcheck disable=SC2086
		java $jvm -XX:ArchiveClassesAtExit="$jsa.$$" -cp "$cp" kfork.oracle.Oracle warmup \
			>/dev/null 2>&1 || true
		if [ -s "$jsa.$$" ]; then mv -f "$jsa.$$" "$jsa"; else rm -f "$jsa.$$"; fi
	fi
	exec 9>&-
fi

share=
[ -f "$jsa" ] && share=-XX:SharedArchiveFile=$jsa
# shellcheck disable=SC2086
exec java $jvm $share "$log" ${KF_ORACLE_JAVA_OPTS-} -cp "$cp" kfork.oracle.Oracle "$@"
