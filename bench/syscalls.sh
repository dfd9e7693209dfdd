#!/usr/bin/env bash
# Syscalls per request of rt's Python process (strace -c -f, all threads) for one scenario.
# strace slows the process a lot, so batching differs from an unobserved run: use the counts,
# not the timings.   ONLY=greet_c32 bench/syscalls.sh
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rt_lib.sh"
trap 'rt_stop' EXIT
rt_start || exit 1
for s in ${ONLY:-greet_c32}; do
  strace -c -f -q -p "$RT_PID" -o "/tmp/rt-strace.$$" &
  ST=$!
  sleep 1
  rm -f /tmp/rt-strace-load.$$
  OUT=/tmp/rt-strace-load.$$ BASE=$BASE ONLY=$s SCALE=${SCALE:-0.25} CHECK=0 "$HERE/suite.sh" > /dev/null
  kill -INT $ST; wait $ST
  n=$("$VENV/bin/python" -c "import json,sys; print(sum(json.loads(l)['ok'] for l in open(sys.argv[1]) if '\"rps\"' in l))" /tmp/rt-strace-load.$$)
  echo "== $s: $n measured requests (+ warm-up); syscalls of rt's Python process (all threads)"
  awk -v n="$n" 'NR>2 && $NF!="total" && $4 ~ /^[0-9]+$/ { printf "  %-16s %8.2f /req\n", $NF, $4/n } $NF=="total" { printf "  %-16s %8.2f /req\n", "TOTAL", $3/n }' "/tmp/rt-strace.$$" | sort -k2 -rn | head -20
  rm -f "/tmp/rt-strace.$$" /tmp/rt-strace-load.$$
done
