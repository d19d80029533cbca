#!/usr/bin/env bash
# Realtime soak through the C++ host: replays a sequence at its fps for SECONDS (default 1800) in
# realtime mode, samples resident memory (VmRSS) and mappings every 5 s, then prints start, end and
# the least-squares slope, and the dropped-frame count. Not part of the test command (it runs for
# half an hour); the leak tests in the test command hold the same property in counts.
#
#   scripts/soak_host.sh [SECONDS] [SEQUENCE] [LOG]     (build/ must hold realmaster_host: cmake)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-1800}"
SEQ="${2:-samples/city_pan}"
LOG="${3:-out/soak/soak.log}"
mkdir -p "$(dirname "$LOG")"
export REALMASTER_ORT_LIB="${REALMASTER_ORT_LIB:-$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n1)}"
HOST="${REALMASTER_HOST:-build/realmaster_host}"
[ -x "$HOST" ] || { echo "error: $HOST not found (fix: cmake -S . -B build && cmake --build build)"; exit 1; }
nice -n 10 "$HOST" --sequence "$SEQ" --out "$(dirname "$LOG")" --model "${MODEL:-models/realmaster-student}" --mode realtime --ep cpu \
  --soak-seconds "$SECONDS_TO_RUN" | tee "$LOG"
python3 - "$LOG" <<'PY'
import sys
rows = [l.split()[1:] for l in open(sys.argv[1]) if l.startswith("soak: ") and l.split()[1][0].isdigit()]
t = [float(r[0]) for r in rows]; rss = [int(r[1]) / 1024 for r in rows]; maps = [int(r[2]) for r in rows]
# Skip the first minute (warm-up: JIT, allocator pools) for the slope.
w = [i for i, x in enumerate(t) if x >= 60] or list(range(len(t)))
tx = [t[i] for i in w]; ry = [rss[i] for i in w]
n = len(tx); mt = sum(tx) / n; mr = sum(ry) / n
den = sum((x - mt) ** 2 for x in tx) or 1.0
slope = sum((x - mt) * (y - mr) for x, y in zip(tx, ry)) / den
last = rows[-1]
print(f"soak summary: {t[-1]:.0f} s, RSS start {rss[0]:.1f} MB, after warm-up {ry[0]:.1f} MB, end {rss[-1]:.1f} MB, "
      f"slope {slope * 3600:.2f} MB/hour ({slope * 1024:.3f} KB/s); mappings {maps[0]} -> {maps[-1]}; "
      f"submitted {last[3]}, output {last[4]}, dropped {last[5]}, inferences {last[6]}")
PY
