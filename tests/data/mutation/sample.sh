#!/usr/bin/env bash
# A sample script exercising every shell operator.
set -euo pipefail

LIMIT="${LIMIT:-3}"

check() {
    local count="$1"
    if [ "$count" -eq 0 ]; then
        echo "empty"  # a comment with | pipe and exit 1
        return 1
    fi
    if [[ -z "${NAME:-}" ]]; then
        return 2
    fi
    [ "$count" -gt 5 ] && echo "big"
    total=$(( count + 1 ))
    echo "$total"
}

status=$(cat status.txt | tr -d ' ')
if [ "$status" = "done" ]; then
    echo 'finished | ok'
fi
grep -q "READY" log.txt || exit 3
cd /tmp || exit 1
ls -l | sort 2>&1 | head -n 5 2>&1
cat <<EOF
if [ x -eq 1 ]; then exit 1; fi
