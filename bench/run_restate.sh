#!/usr/bin/env bash
# The same scenarios against the real Restate 1.7.12 + restate-sdk 1.2.0 serving
# bench/services.py (bench/restate.sh installs both on first use into RESTATE_ANCHOR_DIR,
# default ~/.cache/rt-anchor). Restate listens on 8080/9070, its SDK (hypercorn) on 9080: those
# ports must be free. Durability: Restate fsyncs every log write.
#
#   bench/run_restate.sh            # env as run_rt.sh (OUT defaults to bench/results/restate.jsonl;
#                                   # WARMUP_S of un-measured load first, as for rt)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
A=${RESTATE_ANCHOR_DIR:-$HOME/.cache/rt-anchor}
export RESTATE_ANCHOR_DIR=$A
OUT=${OUT:-$HERE/results/restate.jsonl}
mkdir -p "$(dirname "$OUT")"
export OUT
trap '"$HERE/restate.sh" stop' EXIT
"$HERE/restate.sh" start || exit 1
echo "{\"event\": \"start\", \"system\": \"restate\", \"ts\": \"$(date -u +%FT%TZ)\"}" >> "$OUT"
BENCH_DIR=$HERE VENV=$HERE/../.venv
. "$HERE/rt_lib.sh"   # for warm_up only
warm_up http://127.0.0.1:8080
BASE=http://127.0.0.1:8080 \
  CPU_ARGS="--cpu-pid server=$(cat "$A/server.pid") --cpu-pid sdk=$(cat "$A/sdk.pid")" \
  TAGS="system=restate ${TAGS:-}" "$HERE/suite.sh"
rc=0
if [ "${SERIAL_CHECK:-1}" = 1 ]; then
  "$HERE/../.venv/bin/python" "$HERE/check_counter.py" --base http://127.0.0.1:8080 -n 500 -c 32 | tee -a "$OUT" || rc=1
fi
exit $rc
