#!/usr/bin/env bash
# Profile the rt dev process (Python: ingress + processors + in-process handlers) under load with
# py-spy (pip install py-spy), one flame graph + collapsed stacks per scenario, and print the
# hottest functions (pyspy_top.py).
#
#   bench/profile_rt.sh                             # greet_c1 greet_c32 counter_1000k_c64
#   ONLY="greet_c32" SCALE=1 bench/profile_rt.sh
# env: ONLY, SCALE (1), RATE (py-spy samples/s, 200), PROF_DIR (bench/results/profile-<ts>),
#      PARTITIONS and ports as run_rt.sh.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rt_lib.sh"
PYSPY=${PYSPY:-$VENV/bin/py-spy}
ONLY=${ONLY:-greet_c1 greet_c32 counter_1000k_c64}
SCALE=${SCALE:-1}
RATE=${RATE:-200}
PROF_DIR=${PROF_DIR:-$HERE/results/profile-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$PROF_DIR"
trap 'rt_stop' EXIT
rt_start || exit 1
for s in $ONLY; do
  # py-spy samples until SIGINT; --gil: only samples holding the GIL (Python CPU time)
  "$PYSPY" record --pid "$RT_PID" --rate "$RATE" --format raw --gil --threads --nonblocking \
      -o "$PROF_DIR/$s.collapsed" > "$PROF_DIR/$s.pyspy.log" 2>&1 &
  SPY=$!
  sleep 1
  OUT=$PROF_DIR/load.jsonl BASE=$BASE CPU_ARGS="$RT_CPU_ARGS" ONLY=$s SCALE=$SCALE CHECK=0 \
    TAGS="system=rt profiled=py-spy" "$HERE/suite.sh" | grep -v calibration | cut -c1-400
  kill -INT "$SPY"; wait "$SPY"
  "$VENV/bin/python" "$HERE/pyspy_top.py" "$PROF_DIR/$s.collapsed" > "$PROF_DIR/$s.top.txt"
  echo "--- $s: $PROF_DIR/$s.top.txt"; head -45 "$PROF_DIR/$s.top.txt"
done
rt_log_problems
