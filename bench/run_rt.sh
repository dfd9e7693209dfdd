#!/usr/bin/env bash
# Start a fresh rt (`rt dev bench/services.py --fresh`), run the anchor scenarios, stop rt.
#
#   bench/run_rt.sh                                  # all scenarios once, results in bench/results/rt.jsonl
#   ONLY="greet_c1 greet_c32" SCALE=0.5 bench/run_rt.sh
#
# env: PARTITIONS (8), RT_INGRESS_PORT (18080), RT_ADMIN_PORT (19070), OUT, RUNS, ONLY, SCALE,
#      TAGS, CHECK (see suite.sh), SERIAL_CHECK (1: also run check_counter.py at the end),
#      KEEP_STATE (1: keep the state dir; it is printed), WARMUP_S (un-measured mixed load
#      before the scenarios, default 20; 0 = none), RT_SRC (run a snapshot of runtime/ + sdk/,
#      see rt_lib.sh; compare.sh makes one so all rounds run the same code).
# Durability: rt dev's Kafka is one KRaft broker (RF=1, producer acks=all + idempotence, no
# fsync per write: the OS page cache, Kafka's default); Redis AOF appendfsync everysec.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rt_lib.sh
. "$HERE/rt_lib.sh"
OUT=${OUT:-$HERE/results/rt.jsonl}
mkdir -p "$(dirname "$OUT")"
export OUT
trap 'rt_stop' EXIT
rt_start || exit 1
echo "{\"event\": \"start\", \"system\": \"rt\", \"endpoint\": $RT_ENDPOINT, \"partitions\": $PARTITIONS, \"redis_appendfsync\": \"everysec\", \"ts\": \"$(date -u +%FT%TZ)\"}" >> "$OUT"
rt_version_json | tee -a "$OUT" >&2
warm_up "$BASE"
BASE=$BASE CPU_ARGS="$RT_CPU_ARGS" TAGS="system=rt partitions=$PARTITIONS ${TAGS:-}" \
  "$HERE/suite.sh"
rc=0
if [ "${SERIAL_CHECK:-1}" = 1 ]; then
  "$VENV/bin/python" "$HERE/check_counter.py" --base "$BASE" -n 500 -c 32 | tee -a "$OUT" || rc=1
fi
rt_log_problems
exit $rc
