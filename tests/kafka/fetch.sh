#!/bin/bash
# fetch.sh VERSION: put the jars of Apache Kafka VERSION (broker, tools, an
# SLF4J binding, ZooKeeper for ZooKeeper-mode releases) in
#   ${KF_KAFKA_CACHE:-$HOME/.cache/kfork}/kafka-VERSION/libs
# and print that directory. Maven fetches them from Maven Central (through
# ~/.m2 like any Maven build); a later run finds the completion marker and
# does nothing.
#
# Exit status: 0 done, 2 Maven Central could not be reached, 1 any other
# failure (bad version, no mvn, artifact missing, ...).
#
# Environment: KF_KAFKA_CACHE (cache root), KF_MVN (mvn command),
# KF_MVN_ARGS (extra mvn arguments, e.g. "-s settings.xml" or
# "-Dmaven.repo.local=DIR"), KF_ZOOKEEPER_VERSION (the ZooKeeper to add when
# the broker's own dependencies bring none; 3.5.9 by default).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=${1:-}
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	echo "usage: fetch.sh VERSION (e.g. 4.4.0)" >&2
	exit 1
fi

cache=${KF_KAFKA_CACHE:-$HOME/.cache/kfork}
dest=$cache/kafka-$version
if [ -f "$dest/.complete" ]; then
	echo "$dest/libs"
	exit 0
fi

mvn=${KF_MVN:-mvn}
if ! command -v "$mvn" >/dev/null; then
	echo "fetch.sh: no $mvn: install maven (Debian: apt-get install maven)" >&2
	exit 1
fi

# ver_ge A B: version A >= B
ver_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

mkdir -p "$cache"
# Parallel test runs fetch the same version once: the second waits here and
# then sees the marker.
exec 9>"$cache/.kafka-$version.lock"
flock 9
if [ -f "$dest/.complete" ]; then
	echo "$dest/libs"
	exit 0
fi

tmp=$(mktemp -d "$cache/.kafka-$version.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Killed (e.g. by a timeout): stop Maven before the temporary directory
# goes, or it would go on writing there.
mvn_pid=
on_signal() {
	if [ -n "$mvn_pid" ]; then
		kill "$mvn_pid" 2>/dev/null || true
		wait "$mvn_pid" 2>/dev/null || true
	fi
	echo "fetch.sh: interrupted; nothing cached for Kafka $version" >&2
	exit 1
}
trap on_signal INT TERM HUP
mkdir "$tmp/libs"
# Maven reads the pom from a copy so that the source tree may be read-only.
cp "$here/fetch-pom.xml" "$tmp/pom.xml"

# kafka_2.13 starts at 2.4.0
scala=2.13
ver_ge "$version" 2.4.0 || scala=2.12
props=(-Dkafka.version="$version" -Dkafka.scala="$scala")
# 3.x moved the console tools, TopicCommand and friends to kafka-tools.
ver_ge "$version" 3.0.0 && props+=(-Dkf.tools)
# Before 3.3 a broker needs ZooKeeper (KRaft was not production ready).
zk_mode=0
ver_ge "$version" 3.3.0 || zk_mode=1

# mvn_copy WHAT ARGS...: copy the resolved dependencies into $tmp/libs; on
# failure say what could not be fetched and exit 2 if the network is why.
mvn_copy() {
	local what=$1 log=$tmp/mvn.log rc=0
	shift
	# -U: retry artifacts whose earlier download failed (Maven caches the
	# failure otherwise, and a passing network outage would stick).
	# The plugin by its full name: no plugin-prefix look-up on the network,
	# and the same plugin version on every machine.
	# shellcheck disable=SC2086 # KF_MVN_ARGS is a list of words
	"$mvn" -B -U -ntp -f "$tmp/pom.xml" ${KF_MVN_ARGS:-} "$@" \
		org.apache.maven.plugins:maven-dependency-plugin:3.7.0:copy-dependencies \
		-DoutputDirectory="$tmp/libs" \
		-DincludeScope=runtime >"$log" 2>&1 &
	mvn_pid=$!
	wait "$mvn_pid" || rc=$?
	mvn_pid=
	[ "$rc" -eq 0 ] && return 0
	local artifact
	artifact=$(grep -oE '(transfer|find|resolve) artifact [^ ]+' "$log" |
		head -n1 | awk '{print $3}') || true
	: "${artifact:=$what}"
	if grep -qE 'Could not transfer|transfer failed|UnknownHostException|Connection refused|Network is unreachable|No route to host|timed out|Temporary failure in name resolution' "$log"; then
		echo "fetch.sh: cannot download $artifact: Maven Central could not be reached" >&2
		grep -E '^\[ERROR\]' "$log" | head -n3 >&2 || true
		exit 2
	fi
	if grep -q 'Could not find artifact' "$log"; then
		echo "fetch.sh: $artifact is not on Maven Central (is Kafka $version released?)" >&2
	else
		echo "fetch.sh: mvn failed fetching $artifact; its last lines:" >&2
		tail -n 20 "$log" >&2
	fi
	exit 1
}

echo "fetch.sh: downloading Kafka $version (kafka_$scala) with Maven..." >&2
mvn_copy "org.apache.kafka:kafka_$scala:$version" "${props[@]}"

# jar_version NAME: the version of libs/NAME-VERSION.jar, if there is one
jar_version() {
	local f
	for f in "$tmp/libs/$1"-[0-9]*.jar; do
		[ -e "$f" ] || return 0
		f=${f##*/}
		f=${f#"$1"-}
		echo "${f%.jar}"
		return 0
	done
}

extra=()
if [ "$zk_mode" = 1 ] && [ -z "$(jar_version zookeeper)" ]; then
	extra+=(-Dkf.zookeeper="${KF_ZOOKEEPER_VERSION:-3.5.9}")
fi

# The SLF4J binding: without one the broker writes no log at all. The
# binding has to match the logging backend that the release ships.
slf4j=$(jar_version slf4j-api)
log4j2=$(jar_version log4j-core)
binding=
if [ -n "$log4j2" ]; then
	# 4.x: log4j 2 (brought by kafka-tools' dependencies)
	if ver_ge "${slf4j:-1.7}" 2.0.0; then
		binding=org.apache.logging.log4j:log4j-slf4j2-impl:$log4j2
	else
		binding=org.apache.logging.log4j:log4j-slf4j-impl:$log4j2
	fi
	logging=log4j2
elif [ -n "$(jar_version slf4j-reload4j)" ] || [ -n "$(jar_version slf4j-log4j12)" ]; then
	logging=log4j # 3.x: kafka-tools brings slf4j-reload4j
elif ver_ge "${slf4j:-1.7.0}" 1.7.33; then
	binding=org.slf4j:slf4j-reload4j:$slf4j
	logging=log4j
else
	# 2.x: the core uses log4j 1.2 itself and declares no binding
	binding=org.slf4j:slf4j-log4j12:${slf4j:-1.7.25}
	logging=log4j
fi
if [ -n "$binding" ]; then
	IFS=: read -r bg ba bv <<<"$binding"
	extra+=(-Dkf.binding.group="$bg" -Dkf.binding.artifact="$ba" -Dkf.binding.version="$bv")
fi
if [ "${#extra[@]}" -gt 0 ]; then
	mvn_copy "${binding:-zookeeper}" "${props[@]}" "${extra[@]}"
fi

if [ "$logging" = log4j2 ] && [ -z "$(jar_version log4j-slf4j-impl)$(jar_version log4j-slf4j2-impl)" ]; then
	echo "fetch.sh: no log4j 2 SLF4J binding came with Kafka $version" >&2
	exit 1
fi
if [ "$zk_mode" = 1 ] && [ -z "$(jar_version zookeeper)" ]; then
	echo "fetch.sh: no ZooKeeper jar for Kafka $version" >&2
	exit 1
fi

# Which tool classes this release has: lib.sh picks e.g. TopicCommand's
# package from this list instead of starting a JVM to find out.
python3 - "$tmp/libs" >"$tmp/classes.txt" <<'EOF'
import glob, sys, zipfile
for jar in sorted(glob.glob(sys.argv[1] + "/kafka*.jar")):
    with zipfile.ZipFile(jar) as z:
        for n in z.namelist():
            if n.endswith(".class") and "$" not in n and (
                    n.startswith("kafka/") or n.startswith("org/apache/kafka/tools/")):
                print(n[:-6].replace("/", "."))
EOF

{
	echo "version=$version"
	echo "scala=$scala"
	echo "mode=$([ "$zk_mode" = 1 ] && echo zookeeper || echo kraft)"
	echo "logging=$logging"
	echo "zookeeper=$(jar_version zookeeper)"
} >"$tmp/info"
rm -f "$tmp/pom.xml" "$tmp/mvn.log"
chmod 755 "$tmp" # mktemp made it private
touch "$tmp/.complete"
# A directory left without a marker (e.g. by hand) is not a cache: replace it.
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
echo "fetch.sh: Kafka $version: $(find "$dest/libs" -name '*.jar' | wc -l) jars, $(du -sh "$dest/libs" | cut -f1)" >&2
echo "$dest/libs"
