#!/usr/bin/env bash
# Checks that an emulation can fail: applies one textual mutation to a generated kernel source
# (the engine's tree is not touched), rebuilds the emulation from it and runs it; a mutation the
# emulation does not reject is reported as SURVIVED.
#   mutate.sh <build dir of this CMake project> <generated file> <emulation> '<old text>' '<new text>' [args...]
# EMU_CXXFLAGS=-fsanitize=thread builds it under ThreadSanitizer (a reported race fails the run).
# e.g. mutate.sh /tmp/emu decode_persistent.cu emu_decode 'done == static_cast<unsigned>(sl.splits - 1)' \
#        'done == static_cast<unsigned>(sl.splits - 2)' llama-1row-splits
set -euo pipefail
build=$1 file=$2 emu=$3 old=$4 new=$5
shift 5
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$build/generated" "$work/gen"
python3 - "$work/gen/$file" "$old" "$new" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"mutation text found {text.count(old)} times in {path} (need exactly once)")
open(path, "w").write(text.replace(old, new))
PY
${CXX:-g++} ${EMU_CXXFLAGS:-} -std=c++17 -O2 -fno-strict-aliasing -Wno-unknown-pragmas -pthread -I"$work/gen" -I"$here" -I"$here/.." \
  "$here/$emu.cpp" "$here/emu_shim.cpp" -o "$work/$emu"
if EMU_DEADLOCK_SECONDS=${EMU_DEADLOCK_SECONDS:-60} "$work/$emu" "$@" >"$work/log" 2>&1; then
  tail -3 "$work/log"
  echo "SURVIVED: the emulation passed with the mutation"
  exit 1
fi
grep -E "FAIL|deadlock|bad|ERROR|WARNING: ThreadSanitizer" "$work/log" | head -4 || tail -4 "$work/log"
echo "KILLED: the emulation failed with the mutation"
