#!/usr/bin/env bash
# Installs what the project needs on a machine that has only Rust, gcc and Python, from the package
# registries only (Debian, PyPI, crates.io). Idempotent: a second run does nothing that is not needed.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# Software Vulkan (lavapipe) for machines without a GPU, the C++ toolchain pieces, ffmpeg for video I/O.
for p in mesa-vulkan-drivers libvulkan1 cmake libgtest-dev clang-format ffmpeg; do
  have_pkg "$p" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Python environment: ONNX Runtime (its shared library is what the Rust runtime loads), onnx for the
# test graphs, numpy, pytest.
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import onnxruntime, onnx, numpy, pytest" 2>/dev/null || \
   ! cmp -s requirements.txt .venv/.requirements.installed; then
  echo "setup: installing Python packages (requirements.txt)"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r requirements.txt
  cp requirements.txt .venv/.requirements.installed
fi
echo "setup: ok"
