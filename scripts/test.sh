#!/usr/bin/env bash
# Every test of the project: Rust (unit, integration, shader validation), Python, C++ (ctest), formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
export REALMASTER_ORT_LIB="${REALMASTER_ORT_LIB:-$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n1)}"
echo "== cargo test"
cargo test --workspace --release 2>&1
if [ -d tests/python ]; then
  echo "== pytest"
  .venv/bin/python -m pytest -q tests/python
fi
echo "== all tests passed"
