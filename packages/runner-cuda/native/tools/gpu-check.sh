#!/usr/bin/env bash
# The runner-cuda GPU check: builds the engine with the CUDA backend and the harness, then runs
#   0. every CUDA op against the CPU backend (../tests/test_backend_ops.cpp, NMSE per op),
#   1. CUDA vs CPU backend parity on the tiny test models (F32, BF16, F16), and on the tiny GGUF
#      models in each block type (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, the Q4_K_M mix),
#   2. parity against Hugging Face transformers on the F32 tiny test models (Llama, Qwen2, Qwen3),
#   3. poison recovery through a planted out-of-bounds kernel, by replacing the engine's process,
#   3b. the prefix cache and the penalties on CUDA (and time to first token with a shared prefix),
#   4. the Llama-3.2-1B-shaped bench (inferkit and transformers eager, same GPU, same run),
#   5. checks 1, 2 and 4 again with INFERKIT_CUDA_EXPERIMENTAL=1 (kernels not yet proven here),
#   6. the kernel workbench (dev/cuda: validate, then time),
# and writes OUTDIR/results.md, OUTDIR/results.json and OUTDIR/gpu-check.log. Needs a CUDA GPU,
# nvcc, CMake, ninja and python3 with numpy, torch and transformers; no Node.js, no network.
#
#   packages/runner-cuda/native/tools/gpu-check.sh OUTDIR
#
# Every stage runs even when an earlier one failed; a failure is recorded in the results, and
# the exit code is the number of failed stages. Env: TOTAL_LIMIT (seconds, default 400), BUILD_DIR, WORK_DIR, CUDA_ARCH (default 90),
# JOBS, PYTHON, SKIP_PYTHON_BRIDGE=1 (skip runner-python's own GPU check), BENCH_TINY=1 (a toy-sized
# bench model, for a dry run of the script on a machine without a GPU).
set -u
OUT=${1:?usage: gpu-check.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
NATIVE=$(cd "$HERE/.." && pwd)
PKG=$(cd "$NATIVE/.." && pwd)
REPO=$(cd "$PKG/../.." && pwd)
BUILD=${BUILD_DIR:-/tmp/inferkit-gpu-build}
WORK=${WORK_DIR:-/tmp/inferkit-gpu-work}
ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-$(nproc)}
PY=${PYTHON:-python3}
LOG="$OUT/gpu-check.log"
mkdir -p "$WORK" "$BUILD"
export OUT HERE BUILD WORK ARCH JOBS PY
: > "$LOG"
: > "$WORK/stages.tsv"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 PYTHONUNBUFFERED=1
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
FAILED=0
T_START=$(date +%s)

# stage NAME TIMEOUT_S CMD...: runs CMD with its output in the log, records exit code and time.
# No stage may run past the script's overall deadline (TOTAL_LIMIT seconds, default 400, minus
# a reserve for the summary): its limit shrinks, and a stage with no time left is skipped (124).
TOTAL_LIMIT=${TOTAL_LIMIT:-400}
stage() {
  local name=$1 limit=$2
  shift 2
  local t0 t1 rc left
  left=$(( TOTAL_LIMIT - 15 - ($(date +%s) - T_START) ))
  if [ "$left" -lt 5 ]; then
    echo "=== [$name] skipped: the ${TOTAL_LIMIT}s budget is spent" | tee -a "$LOG"
    printf '%s\t%d\t%s\n' "$name" 124 0 >> "$WORK/stages.tsv"
    FAILED=$((FAILED + 1))
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  t0=$(date +%s.%N)
  echo "=== [$name] $* (limit ${limit}s, +$(( $(date +%s) - T_START ))s)" | tee -a "$LOG"
  if declare -F "$1" >/dev/null; then  # a function of this script: run it in a child bash
    timeout -k 5 "$limit" bash -c "$(declare -f "$1"); $(printf '%q ' "$@")" >> "$LOG" 2>&1
  else
    timeout -k 5 "$limit" "$@" >> "$LOG" 2>&1
  fi
  rc=$?
  t1=$(date +%s.%N)
  printf '%s\t%d\t%s\n' "$name" "$rc" "$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")" >> "$WORK/stages.tsv"
  echo "=== [$name] exit $rc" | tee -a "$LOG"
  [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
  return 0
}

env_json() {
  "$PY" - "$WORK/env.json" <<'EOF'
import json, subprocess, sys, datetime
def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as e:
        return f"unavailable ({e})"
env = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
env["gpu"] = run("nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader")
env["driver"] = run("nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader")
env["compute_mode"] = run("nvidia-smi", "--query-gpu=compute_mode", "--format=csv,noheader")
env["nvcc"] = run("nvcc", "--version").splitlines()[-1] if run("nvcc", "--version") else "?"
try:
    import torch
    env["torch"] = torch.__version__
except Exception as e:
    env["torch"] = f"unavailable ({e})"
try:
    import transformers
    env["transformers"] = transformers.__version__
except Exception as e:
    env["transformers"] = f"unavailable ({e})"
json.dump(env, open(sys.argv[1], "w"), indent=1)
print(env)
EOF
}

build() {
  cmake -S "$HERE" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DINFERKIT_CUDA_FAULT_INJECTION=ON &&
    ninja -C "$BUILD" -j "$JOBS"
}

workbench() {
  local rc=0 p
  for p in "$BUILD"/workbench/*; do
    [ -x "$p" ] || continue
    echo "== $(basename "$p")"
    timeout -k 2 60 "$p"
    local prc=$?
    [ "$prc" -eq 0 ] || { echo "FAIL $(basename "$p") exit $prc"; rc=1; }
  done
  return $rc
}

stage env 60 env_json
stage build 420 build
H="$BUILD/gpu_harness"
TINY="$WORK/tiny"
BENCH="$WORK/bench-llama-3.2-1b"
BENCH_SHAPE=llama-3.2-1b
[ -n "${BENCH_TINY:-}" ] && BENCH_SHAPE=tiny

stage tiny-models 120 "$PY" "$PKG/scripts/gen_tiny_models.py" "$TINY"
PARITY_DIRS=()
for m in llama-gqa llama-gqa-bf16 llama-gqa-f16 qwen2-bias qwen3-qknorm llama3-rope mistral-sharded qwen2-mqa-hd64; do
  [ -d "$TINY/$m" ] && PARITY_DIRS+=("$TINY/$m")
done
# F32 models only: the transformers reference is compared at f32 tolerances.
HF_DIRS=()
for m in llama-gqa qwen2-bias qwen3-qknorm llama3-rope qwen2-mqa-hd64; do
  [ -d "$TINY/$m" ] && HF_DIRS+=("$TINY/$m")
done
stage hf-reference 240 "$PY" "$PKG/scripts/reference_forward.py" --engine transformers --parity "${HF_DIRS[@]}"
stage backend-ops 120 "$BUILD/test_backend_ops" --require-cuda
stage parity-backends 240 "$H" parity-backends "$WORK/parity_backends.json" "${PARITY_DIRS[@]}"
stage parity-hf 180 "$H" parity-hf "$WORK/parity_hf.json" "${HF_DIRS[@]}"
GGUF="$WORK/gguf"
stage gguf-models 120 "$PY" "$PKG/scripts/gen_gguf_models.py" "$GGUF"
GGUF_FILES=()
for m in llama qwen2 qwen3; do
  for t in f16 q8_0 q4_0 q4_k q5_k q6_k q4_k_m; do
    [ -f "$GGUF/$m-$t.gguf" ] && GGUF_FILES+=("$GGUF/$m-$t.gguf")
  done
done
# The block-type kernels are experimental until this stage has passed on a GPU.
stage parity-gguf 180 env INFERKIT_CUDA_EXPERIMENTAL=1 "$H" parity-backends "$WORK/parity_gguf.json" "${GGUF_FILES[@]}"
stage poison 120 "$H" poison "$WORK/poison.json" "$TINY/llama-gqa"
stage prefix-penalties 120 "$H" prefix-penalties "$WORK/prefix_penalties.json" "${PARITY_DIRS[@]}"
stage bench-model 240 "$PY" "$PKG/scripts/bench_model.py" "$BENCH" --shape "$BENCH_SHAPE"
stage bench 240 "$H" bench "$WORK/bench.json" "$BENCH/hf" 2048 128
stage prefix-ttft 90 "$H" prefix-ttft "$WORK/prefix_ttft.json" "$BENCH/hf"
# The same checks with the kernels that have not yet passed this harness
# (INFERKIT_CUDA_EXPERIMENTAL=1), under short limits: a kernel that hangs must not eat the budget
# of the stages after it.
X=(env INFERKIT_CUDA_EXPERIMENTAL=1)
stage parity-backends-experimental 60 "${X[@]}" "$H" parity-backends "$WORK/parity_backends_experimental.json" "${PARITY_DIRS[@]}"
stage parity-hf-experimental 45 "${X[@]}" "$H" parity-hf "$WORK/parity_hf_experimental.json" "${HF_DIRS[@]}"
stage bench-experimental 90 "${X[@]}" "$H" bench "$WORK/bench_experimental.json" "$BENCH/hf" 2048 128
stage hf-bench 300 "$PY" "$HERE/hf_bench.py" "$BENCH/hf" "$WORK/hf_bench.json"
if [ "${SKIP_PYTHON_BRIDGE:-0}" != 1 ] && [ -f "$REPO/packages/runner-python/bench/gpu/run-gpu-check.sh" ]; then
  stage runner-python-bridge 100 bash "$REPO/packages/runner-python/bench/gpu/run-gpu-check.sh" "$OUT/python"
fi
stage workbench 240 workbench
cp "$WORK/stages.tsv" "$WORK/stages.final.tsv" 2>/dev/null
sed -n '/^=== \[workbench\]/,/^=== \[workbench\] exit/p' "$LOG" > "$WORK/workbench.txt"


if "$PY" "$HERE/summarize.py" "$WORK" "packages/runner-cuda/native/tools/gpu-check.sh OUTDIR" >> "$LOG" 2>&1; then
  cp "$WORK/results.md" "$WORK/results.json" "$OUT/"
else
  # Keep the raw reports rather than nothing.
  for f in "$WORK"/*.json "$WORK"/stages.tsv; do [ -f "$f" ] && { echo "### $(basename "$f")"; cat "$f"; echo; }; done \
    > "$OUT/raw-reports.txt"
  FAILED=$((FAILED + 1))
fi
echo "=== done in $(( $(date +%s) - T_START ))s, $FAILED failed stage(s); results in $OUT" | tee -a "$LOG"
[ -f "$OUT/results.md" ] && cat "$OUT/results.md"
exit "$FAILED"
