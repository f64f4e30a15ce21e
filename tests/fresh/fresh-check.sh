#!/usr/bin/env bash
# make fresh-check: prove that `./quickstart test` installs everything it
# needs on a fresh Debian 12.  Not part of make check or CI: it needs root,
# the network and 20-30 minutes.
#
#   tests/fresh/fresh-check.sh [SRCDIR]     (make fresh-check passes it)
#
# 1. debootstrap --variant=minbase bookworm into $FRESH_DIR/root;
# 2. git clone of SRCDIR's HEAD into /root/kfork in that tree (committed
#    files only: no build files, no uncommitted work);
# 3. proc, sysfs, a minimal /dev (devpts, tmpfs /dev/shm for the rings'
#    shm_open), a tmpfs /run (ip netns needs /run/netns) and resolv.conf,
#    then `./quickstart test` in the chroot as root;
# 4. prints the packages quickstart installed and the test summary, and
#    exits with quickstart's status.
#
# Everything is mounted in a private mount namespace of its own (the script
# re-executes itself under unshare), so nothing leaks into the host even if
# the script is killed; it is also unmounted at exit, processes left in the
# chroot are killed, and the tree is removed unless FRESH_KEEP=1.
#
# Environment:
#   FRESH_DIR       work directory (default: mktemp -d /var/tmp/kf-fresh-XXXXXX);
#                   the chroot is FRESH_DIR/root, quickstart's output
#                   FRESH_DIR/quickstart.log
#   FRESH_MIRROR    Debian mirror (default http://deb.debian.org/debian)
#   FRESH_SECURITY  security mirror (default http://deb.debian.org/debian-security)
#   FRESH_CACHE     where .debs are kept between runs, for debootstrap and
#                   for quickstart's apt-get (default /var/cache/kfork-fresh;
#                   empty: no cache)
#   FRESH_KEEP=1    keep FRESH_DIR (unmounted) at the end
#
# shellcheck disable=SC2317  # cleanup and its helpers run from the EXIT trap
set -euo pipefail

die() { printf 'fresh-check: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> fresh-check: %s\n' "$*"; }

[ "$(id -u)" -eq 0 ] ||
	die "must run as root: debootstrap, mount and chroot need it (try: sudo make fresh-check)"

src=${1:-$(dirname "$0")/../..}
src=$(cd "$src" && pwd)
git -C "$src" rev-parse --verify -q HEAD > /dev/null ||
	die "$src: not a git repository with a commit (the check clones HEAD)"

# Mounts go into a private mount namespace: they vanish with it.
if [ -z "${FRESH_IN_NS:-}" ]; then
	command -v unshare > /dev/null || die "unshare (util-linux) is missing"
	FRESH_IN_NS=1 exec unshare --mount --propagation private -- \
		bash "$0" "$src"
fi

mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
security=${FRESH_SECURITY:-http://deb.debian.org/debian-security}
cache=${FRESH_CACHE-/var/cache/kfork-fresh}
suite=bookworm
t0=$(date +%s)

if [ -n "${FRESH_DIR:-}" ]; then
	mkdir -p "$FRESH_DIR"
	work=$(cd "$FRESH_DIR" && pwd)
else
	work=$(mktemp -d /var/tmp/kf-fresh-XXXXXX)
fi
tree=$work/root
log=$work/quickstart.log
[ ! -e "$tree" ] || die "$tree already exists: remove it or choose another FRESH_DIR"

elapsed() { echo "$(( $(date +%s) - t0 ))s"; }

# Mount points below $tree, deepest first.
mounts_below() {
	awk -v t="$tree" '$5 == t || index($5, t "/") == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r
}

# Processes whose root directory is in the tree (anything a test left).
procs_inside() {
	local p r
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2> /dev/null) || continue
		case $r in
		"$tree" | "$tree"/*) echo "${p#/proc/}" ;;
		esac
	done
}

# Long steps run in the background, so that a signal interrupts `wait` at
# once instead of waiting for the step to end.  Under setsid (which does
# not fork here: a background job is no group leader) the step is a
# process group of its own that cleanup can kill whole: debootstrap
# survives SIGTERM and runs outside the chroot.
bg=
run_bg() {
	"$@" &
	bg=$!
	wait "$bg"
}

cleanup() {
	local rc=$? pids m left
	trap - EXIT INT TERM HUP
	set +e
	if [ -n "$bg" ] && kill -0 "$bg" 2> /dev/null; then
		kill -TERM -- -"$bg" 2> /dev/null || kill -TERM "$bg"
		sleep 2
		kill -KILL -- -"$bg" 2> /dev/null
	fi
	pids=$(procs_inside)
	if [ -n "$pids" ]; then
		echo "fresh-check: killing processes left in the chroot: ${pids//$'\n'/ }" >&2
		# shellcheck disable=SC2086
		kill -TERM $pids 2> /dev/null
		sleep 2
		pids=$(procs_inside)
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -KILL $pids 2> /dev/null
		sleep 1
	fi
	for m in $(mounts_below); do
		umount "$m" 2> /dev/null || umount -l "$m"
	done
	left=$(mounts_below)
	if [ -n "$left" ]; then
		echo "fresh-check: still mounted, not removing $work: ${left//$'\n'/ }" >&2
	elif [ "${FRESH_KEEP:-}" = 1 ]; then
		echo "fresh-check: kept $work (FRESH_KEEP=1)"
	else
		# Only what this script made: FRESH_DIR may hold other things.
		rm -rf --one-file-system "$tree" "$work/debootstrap.log" "$log" \
			"$work/packages.before" "$work/packages.after"
		rmdir "$work" 2> /dev/null
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- 1. debootstrap

if ! command -v debootstrap > /dev/null; then
	step "installing debootstrap on this machine"
	DEBIAN_FRONTEND=noninteractive apt-get update -q ||
		die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap ||
		die "cannot install debootstrap"
fi

step "debootstrap --variant=minbase $suite $tree $mirror"
dbs_cache=()
if [ -n "$cache" ]; then
	mkdir -p "$cache/debootstrap" "$cache/apt/partial"
	dbs_cache=(--cache-dir="$cache/debootstrap")
fi
run_bg setsid debootstrap --variant=minbase "${dbs_cache[@]}" "$suite" "$tree" "$mirror" \
	> "$work/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
echo "done in $(elapsed)"

# What a Debian 12 installation has beyond debootstrap: the updates and
# security suites, an /etc/hosts with localhost.
cat > "$tree/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
[ -s "$tree/etc/hosts" ] || cat > "$tree/etc/hosts" <<EOF
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
EOF
# Packages must not start services on the host from inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$tree/usr/sbin/policy-rc.d"
chmod 755 "$tree/usr/sbin/policy-rc.d"

# ---- 2. a clean clone

step "git clone $src (HEAD $(git -C "$src" rev-parse --short HEAD)) into /root/kfork"
git clone -q --no-hardlinks "$src" "$tree/root/kfork" || die "git clone failed"

# ---- 3. mounts

step "mounting the tree on itself, proc, sys, dev, dev/pts, dev/shm, run"
# The chroot's / must be a mount point, as on a real system: ip netns exec
# does mount --make-rslave / in its new mount namespace (EINVAL otherwise).
mount --bind "$tree" "$tree"
mount -t proc proc "$tree/proc"
mount -t sysfs sysfs "$tree/sys"
mount -t tmpfs -o mode=755,nosuid dev "$tree/dev"
for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
	read -r name major minor <<< "$n"
	mknod -m 666 "$tree/dev/$name" c "$major" "$minor"
done
mkdir "$tree/dev/pts" "$tree/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$tree/dev/pts"
ln -s pts/ptmx "$tree/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$tree/dev/shm"
ln -s /proc/self/fd "$tree/dev/fd"
ln -s /proc/self/fd/0 "$tree/dev/stdin"
ln -s /proc/self/fd/1 "$tree/dev/stdout"
ln -s /proc/self/fd/2 "$tree/dev/stderr"
# /run is a tmpfs on Debian; ip netns add makes /run/netns a shared mount.
mount -t tmpfs -o mode=755,nosuid,nodev run "$tree/run"
mkdir -m 1777 "$tree/run/lock"
if [ -n "$cache" ]; then
	mount --bind "$cache/apt" "$tree/var/cache/apt/archives"
fi
rm -f "$tree/etc/resolv.conf"
cp -L /etc/resolv.conf "$tree/etc/resolv.conf"

# ---- 4. quickstart test

dpkg_list() {
	# shellcheck disable=SC2016
	chroot "$tree" dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' |
		awk '$1 == "ii" { print $2 }' | sort
}
dpkg_list > "$work/packages.before"

step "chroot $tree: cd /root/kfork && ./quickstart test (output also in $log)"
t1=$(date +%s)
quickstart() {
	# pipefail: the status is quickstart's
	chroot "$tree" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -c 'cd /root/kfork && exec ./quickstart test' < /dev/null 2>&1 |
		tee "$log"
}
rc=0
run_bg quickstart || rc=$?
qs_time=$(( $(date +%s) - t1 ))

dpkg_list > "$work/packages.after"
new=$(comm -13 "$work/packages.before" "$work/packages.after")

step "summary"
echo "quickstart asked apt-get for:"
sed -n 's/^==> installing: /  /p' "$log"
echo "apt-get installed $(echo "$new" | grep -c .) packages in all:"
echo "$new" | tr '\n' ' ' | fold -s -w 76 | sed 's/^/  /'
echo
echo "test summary:"
awk '/^# TOTAL:/, /^# ERROR:/ { print "  " $0 }' "$log"
grep -E '^(FAIL|ERROR|XPASS|SKIP):' "$log" | sed 's/^/  /' || true
grep -E '^quickstart: FAILED' "$log" | sed 's/^/  /' || true
# The tree goes away at exit: show the end of each failed test's log.
find "$tree/root/kfork/build" -name '*.trs' 2> /dev/null | sort |
	while read -r trs; do
		grep -qE '^:test-result: (FAIL|ERROR)' "$trs" || continue
		trs=${trs%.trs}.log
		printf '\n----- %s -----\n' "${trs#"$tree"}"
		tail -n 30 "$trs"
	done
echo "quickstart test: exit $rc after ${qs_time}s; fresh-check total $(elapsed)"
exit "$rc"
