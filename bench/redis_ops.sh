#!/usr/bin/env bash
# Redis commands (and round trips) per request for rt: INFO commandstats of rt dev's Redis
# before/after one scenario.  ONLY=greet_c32 SCALE=0.5 bench/redis_ops.sh
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rt_lib.sh"
trap 'rt_stop' EXIT
rt_start || exit 1
PORT=$("$VENV/bin/python" -c "import json,sys;print(json.load(open(sys.argv[1]))['redis_url'].rsplit(':',1)[1].split('/')[0])" "$RT_STATE_DIR/dev.json")
for s in ${ONLY:-greet_c32 counter_1000k_c64}; do
  rm -f /tmp/rt-redis-load.$$
  redis-cli -p "$PORT" INFO commandstats > /tmp/rt-redis-before.$$
  OUT=/tmp/rt-redis-load.$$ BASE=$BASE ONLY=$s SCALE=${SCALE:-0.5} CHECK=0 "$HERE/suite.sh" > /dev/null
  redis-cli -p "$PORT" INFO commandstats > /tmp/rt-redis-after.$$
  "$VENV/bin/python" - "$s" /tmp/rt-redis-before.$$ /tmp/rt-redis-after.$$ /tmp/rt-redis-load.$$ <<'PY'
import json, re, sys
label, before, after, load = sys.argv[1:]
def parse(p):
    out = {}
    for line in open(p):
        m = re.match(r"cmdstat_(\S+):calls=(\d+),usec=(\d+)", line)
        if m:
            out[m[1]] = (int(m[2]), int(m[3]))
    return out
b, a = parse(before), parse(after)
n = sum(json.loads(l)["ok"] for l in open(load) if '"rps"' in l)
print(f"== {label}: {n} requests")
tot = 0
for k in sorted(a, key=lambda k: -(a[k][0] - b.get(k, (0, 0))[0])):
    calls = a[k][0] - b.get(k, (0, 0))[0]
    usec = a[k][1] - b.get(k, (0, 0))[1]
    if calls:
        tot += calls
        print(f"  {k:12s} {calls / n:6.2f}/req  {usec / max(calls,1):6.1f} us/call")
print(f"  total        {tot / n:6.2f} Redis commands per request (incl. those run inside EVALSHA scripts)")
PY
done
rm -f /tmp/rt-redis-*.$$
