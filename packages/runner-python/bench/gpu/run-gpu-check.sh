#!/usr/bin/env bash
# GPU check of @inferkit/runner-python's transformers adapter, without Node.js.
#   packages/runner-python/bench/gpu/run-gpu-check.sh OUTDIR
# Needs python3 with torch (CUDA) and transformers (+ tokenizers); no network. Writes
# OUTDIR/runner-python-gpu.md (+ .json, + gpu-check.log). Hard limit: 85 s wall clock.
# Env: PYTHON (interpreter, default python3), DEVICE (default cuda), BUDGET (seconds, default 75).
set -u
OUT=${1:?usage: run-gpu-check.sh OUTDIR}
mkdir -p "$OUT"
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
# No downloads and no telemetry: everything is built locally.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
timeout -k 5 85 "$PY" -u "$HERE/gpu_check.py" --out "$OUT" --device "${DEVICE:-cuda}" --budget "${BUDGET:-75}" \
  > "$OUT/gpu-check.log" 2>&1
rc=$?
cat "$OUT/gpu-check.log" | tail -n 20
if [ ! -s "$OUT/runner-python-gpu.md" ]; then
  {
    echo "# runner-python on a GPU: transformers adapter through the bridge"
    echo
    echo "**The check did not produce results** (exit code $rc; 124 = killed by the 85 s timeout)."
    echo
    echo '```'
    tail -n 60 "$OUT/gpu-check.log"
    echo '```'
  } > "$OUT/runner-python-gpu.md"
elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  printf '\n**Killed by the 85 s timeout (exit code %s)**; the checks above are those that finished.\n' "$rc" \
    >> "$OUT/runner-python-gpu.md"
fi
exit $rc
