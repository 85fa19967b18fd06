#!/usr/bin/env bash
# Scale: record and follow a 1,000,000-point sweep (issue 10, item 16). Prints the wall time and
# peak RSS of `launch --detach` (recording, the first submissions, the snapshot) and the peak
# RSS of the background follower after it has followed the sweep for a while; then cancels.
#
#   bash benches/scale.sh            # 1,000,000 points
#   POINTS=100000 bash benches/scale.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
POINTS=${POINTS:-1000000}
FOLLOW_SECONDS=${FOLLOW_SECONDS:-20}
BIN=${BSWEEP:-$ROOT/target/release/bsweep}
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release -q)
W=$(mktemp -d)
trap 'pkill -f "home $W/h --quiet resume" 2>/dev/null || true; rm -rf "$W"' EXIT
seeds=$(( POINTS / 100000 ))
[ "$seeds" -ge 1 ] || { echo "POINTS must be a multiple of 100000" >&2; exit 2; }
cat >"$W/big.toml" <<TOML
name = "big"
command = "sleep 600; echo {lr} {depth} {wd} {seed}"
[grid]
lr = { logspace = [1e-5, 1e-1, 100] }
depth = { start = 1, stop = 101 }
wd = { linspace = [0.0, 0.1, 10] }
seed = { start = 0, stop = $seeds }
[local]
concurrency = 4
TOML
/usr/bin/time -f "launch --detach of $POINTS points: %e s wall, peak RSS %M KB" \
    "$BIN" --home "$W/h" -q launch "$W/big.toml" --yes --detach 2>&1 | grep -E "launch --detach|error" || true
sleep "$FOLLOW_SECONDS"
pid=$(pgrep -f "home $W/h --quiet resume" | head -1)
if [ -n "$pid" ]; then
    echo "background follower after ${FOLLOW_SECONDS} s: peak RSS $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") KB"
else
    echo "no background follower found" >&2
fi
/usr/bin/time -f "status (from the follower's snapshot): %e s wall, peak RSS %M KB" \
    "$BIN" --home "$W/h" status big >/dev/null
"$BIN" --home "$W/h" cancel big >/dev/null
