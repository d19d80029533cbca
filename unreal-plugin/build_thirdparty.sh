#!/usr/bin/env bash
# Prepares the RealMaster plugin's third-party files for Linux (run on the Linux build machine):
#   1. builds the Rust static library (cargo, release profile) and collects the cxx sources that the
#      RealMaster module compiles with the engine's toolchain (cmake/realmaster_cargo_build.cmake);
#   2. stages them into Source/ThirdParty/RealMasterLibrary/{Include,Source,Lib/Linux};
#   3. copies ONNX Runtime into Binaries/ThirdParty/RealMasterLibrary/Linux;
#   4. optionally copies a model package into Models/.
#
# usage: unreal-plugin/build_thirdparty.sh [--ort /path/libonnxruntime.so.1.x.y] [--model DIR] [--profile release|dev]
# Defaults: --ort from $REALMASTER_ORT_LIB, else the project's .venv (a CPU build of ONNX Runtime; for
# CUDA/TensorRT use Microsoft's onnxruntime-linux-x64-gpu release and its provider libraries).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PLUGIN="$ROOT/unreal-plugin/RealMaster"
LIBRARY="$PLUGIN/Source/ThirdParty/RealMasterLibrary"
BINARIES="$PLUGIN/Binaries/ThirdParty/RealMasterLibrary/Linux"

PROFILE=release
ORT="${REALMASTER_ORT_LIB:-}"
MODEL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ort) ORT="$2"; shift 2 ;;
    --model) MODEL="$2"; shift 2 ;;
    --profile) PROFILE="$2"; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ -z "$ORT" ]; then
  ORT="$(ls "$ROOT"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n1 || true)"
fi
if [ -z "$ORT" ] || [ ! -f "$ORT" ]; then
  echo "error: no ONNX Runtime library found (fix: pass --ort /path/to/libonnxruntime.so.1.x.y or run scripts/setup.sh)" >&2
  exit 1
fi

GEN="$ROOT/build/unreal-thirdparty"
echo "== cargo build -p realmaster-ffi ($PROFILE) and cxx sources -> $GEN"
cmake -DCARGO=cargo -DPROFILE="$PROFILE" -DTARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}" -DOUT="$GEN" \
  -DSOURCE_DIR="$ROOT" -P "$ROOT/cmake/realmaster_cargo_build.cmake"
STATICLIB="$(head -n1 "$GEN/staticlib-path.txt")"

echo "== staging into $LIBRARY"
rm -rf "$LIBRARY/Include" "$LIBRARY/Source" "$LIBRARY/Lib/Linux"
mkdir -p "$LIBRARY/Include" "$LIBRARY/Source" "$LIBRARY/Lib/Linux"
cp -R "$GEN/include/." "$LIBRARY/Include/"
cp -R "$ROOT/cpp-bridge/include/realmaster" "$LIBRARY/Include/"
cp -R "$GEN/src" "$GEN/cxx" "$LIBRARY/Source/"
cp "$STATICLIB" "$LIBRARY/Lib/Linux/librealmaster_ffi.a"

echo "== ONNX Runtime $ORT -> $BINARIES"
rm -rf "$BINARIES"
mkdir -p "$BINARIES"
cp "$ORT" "$BINARIES/"
cp "$ORT" "$BINARIES/libonnxruntime.so"
# GPU builds (onnxruntime-linux-x64-gpu) load their execution providers from the same folder.
for provider in "$(dirname "$ORT")"/libonnxruntime_providers_*.so; do
  [ -f "$provider" ] && cp "$provider" "$BINARIES/"
done

if [ -n "$MODEL" ]; then
  if [ ! -f "$MODEL/manifest.json" ]; then
    echo "error: $MODEL has no manifest.json (fix: pass a model package folder, see docs/formats.md)" >&2
    exit 1
  fi
  echo "== model $MODEL -> $PLUGIN/Models/$(basename "$MODEL")"
  mkdir -p "$PLUGIN/Models"
  rm -rf "$PLUGIN/Models/$(basename "$MODEL")"
  cp -R "$MODEL" "$PLUGIN/Models/"
fi
echo "== done: copy unreal-plugin/RealMaster into <Project>/Plugins/ and build the project"
