#!/usr/bin/env bash
# pyenv.sh [DIR]: a Python venv in DIR (default
# ${BUILDDIR:-.}/tests/kafka/venv) with the pinned packages of
# tests/kafka/requirements.txt, made once (again when the requirements
# change).  Prints the venv's python.  Exit 2 when PyPI cannot be reached
# (a test then skips with exit 77, or fails, as it chooses); 1 on other
# failures.  Needs python3 with the venv module (Debian: python3-venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
req=$here/requirements.txt
dir=${1:-${BUILDDIR:-.}/tests/kafka/venv}
stamp=$dir/.requirements
py=${KF_PYTHON:-/usr/bin/python3}
[ -x "$py" ] || py=$(command -v python3)
if [ -x "$dir/bin/python" ] && cmp -s "$req" "$stamp"; then
	echo "$dir/bin/python"
	exit 0
fi
mkdir -p "$(dirname "$dir")"
exec 9> "$dir.lock"
flock 9
if [ -x "$dir/bin/python" ] && cmp -s "$req" "$stamp"; then
	echo "$dir/bin/python"
	exit 0
fi
rm -rf "$dir"
if ! "$py" -m venv "$dir" > "$dir.log" 2>&1; then
	echo "pyenv.sh: $py -m venv failed (Debian: apt-get install python3-venv): $(tail -n 2 "$dir.log")" >&2
	exit 1
fi
if ! "$dir/bin/pip" install --disable-pip-version-check -q -r "$req" >> "$dir.log" 2>&1; then
	if grep -qiE "connection|resolve|network|timed out|No matching distribution" "$dir.log"; then
		echo "pyenv.sh: PyPI cannot be reached: $(grep -iE 'connection|resolve|network|timed out|No matching' "$dir.log" | tail -n 1)" >&2
		rm -rf "$dir"
		exit 2
	fi
	echo "pyenv.sh: pip install failed: $(tail -n 3 "$dir.log")" >&2
	rm -rf "$dir"
	exit 1
fi
cp "$req" "$stamp"
echo "$dir/bin/python"
