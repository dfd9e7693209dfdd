#!/usr/bin/env bash
# rt vs Restate in the same time window: A, B, A, B ... for ROUNDS rounds (fresh servers each
# time), then a per-round-ratio table (compare.py). The host's speed drifts: only compare
# figures taken this way.
#
#   ROUNDS=3 SCALE=0.5 bench/compare.sh            # results under bench/results/<timestamp>/
#   ONLY="greet_c1 greet_c32" ROUNDS=3 bench/compare.sh
# env: ROUNDS (3), SCALE (0.5), ONLY, PARTITIONS, DIR (output dir, default
#      bench/results/<UTC timestamp>, git-ignored), SNAPSHOT (1: copy runtime/ + sdk/ first and
#      run all rounds from the copy), RESTATE_ANCHOR_DIR (where bench/restate.sh installs
#      Restate; default ~/.cache/rt-anchor), plus run_rt.sh/run_restate.sh env.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${ROUNDS:-3}
export SCALE=${SCALE:-0.5}
DIR=${DIR:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)   # the round scripts get absolute paths
. "$HERE/rt_lib.sh"
# every round runs the same rt code even if the working tree changes meanwhile
if [ -z "${RT_SRC:-}" ] && [ "${SNAPSHOT:-1}" = 1 ]; then
  RT_SRC=$(rt_snapshot)
  trap 'rm -rf "$RT_SRC"' EXIT
fi
export RT_SRC
rt_version_json | tee "$DIR/rt-version.json" >&2
echo "results in $DIR" >&2
for r in $(seq 1 "$ROUNDS"); do
  echo "=== round $r: rt" >&2
  OUT=$DIR/rt.jsonl TAGS="round=$r" "$HERE/run_rt.sh" > "$DIR/rt-round$r.out" 2>&1 \
    || echo "round $r rt: non-zero exit (see $DIR/rt-round$r.out)" >&2
  echo "=== round $r: restate" >&2
  OUT=$DIR/restate.jsonl TAGS="round=$r" "$HERE/run_restate.sh" > "$DIR/restate-round$r.out" 2>&1 \
    || echo "round $r restate: non-zero exit (see $DIR/restate-round$r.out)" >&2
done
"$HERE/../.venv/bin/python" "$HERE/compare.py" "$DIR/rt.jsonl" "$DIR/restate.jsonl" | tee "$DIR/summary.md"
