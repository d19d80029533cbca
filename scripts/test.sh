#!/usr/bin/env bash
# Every test of the project: Rust (unit, integration, shader validation), Python, C++ (ctest), formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
export REALMASTER_ORT_LIB="${REALMASTER_ORT_LIB:-$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n1)}"
# A one-shot build gains nothing from incremental caches (~2 GB under target/debug/incremental).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
if cargo fmt --version >/dev/null 2>&1; then
  echo "== cargo fmt --check"
  cargo fmt --all -- --check
else
  echo "== cargo fmt: rustfmt is not installed with this toolchain; Rust formatting not checked"
fi
echo "== cargo test"
cargo test --workspace 2>&1
# The criterion benches run once each in test mode, so they cannot rot (timings: cargo bench).
# --workspace keeps the feature set of the run above, so no dependency is rebuilt.
cargo test --workspace --benches 2>&1
# ---- Bevy: the plugin on Bevy's own device, headless (lavapipe without a GPU) ----
# A workspace of its own: Bevy 0.20.1 declares rust-version 1.97.1, built with --ignore-rust-version.
echo "== Bevy plugin (rust/realmaster-bevy)"
(
  cd rust/realmaster-bevy
  if cargo fmt --version >/dev/null 2>&1; then cargo fmt -- --check; fi
  cargo test --ignore-rust-version --locked 2>&1
  # The example app: a street scene with and without the plugin, its cost per frame as a ratio to
  # Bevy's own frame (a debug build on this machine's adapter; see the README's figures).
  cargo run --ignore-rust-version --locked --example street -- --frames 20 --mode cinematic --out ../../out/bevy 2>&1 |
    grep -v '^\[INFO\]'
)
# ---- C++: bridge, host, GoogleTest suite, plugin helpers (CMake + ctest), then clang-format ----
# Debug = cargo's dev profile, so CMake reuses what `cargo test` just built in target/debug.
echo "== cmake + ctest (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
echo "== clang-format"
# Skips what unreal-plugin/build_thirdparty.sh stages into the plugin (generated, not ours).
find cpp-bridge unreal-plugin \( -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) -not -path '*/Generated/*' \
  -not -path 'unreal-plugin/RealMaster/Source/ThirdParty/RealMasterLibrary/Include/*' \
  -not -path 'unreal-plugin/RealMaster/Source/ThirdParty/RealMasterLibrary/Source/*' -print0 |
  xargs -0 clang-format --dry-run --Werror
# ---- end C++ ----
if [ -d tests/python ]; then
  echo "== pytest"
  .venv/bin/python -m pytest -q tests/python
fi
echo "== all tests passed"
