"""Writes a `kind: diffusion` package made by the RealMaster method toolkit (models/method), for tests.

The chain is the toolkit's own: a tiny random Wan base (make-tiny's WanPipeline; a test fixture, not
a model) -> train-iclora (a few LoRA steps on samples/city_pan's clear targets) -> distill-steps
(progressive, K = 2) -> export (ONNX graphs, manifest, parity). Only the Wan base is built (no VACE or
image editor: the C++ bridge and bench tests need just the package). The package is regenerated on
every run into OUT/package (OUT/work holds the stages' folders), so it always comes from the current
toolkit code. ctest runs this as the fixture of the C++ diffusion test.

    python tests/python/make_method_package.py --out build/test-method-package
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "samples" / "city_pan"
SIZE = "64x32"


def build(out: Path) -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(1)
    from models.method import cli, tiny

    work = out / "work"
    pkg = out / "package"
    for d in (work, pkg):
        if d.exists():
            shutil.rmtree(d)
    base = work / "wan"
    tiny.wan_pipeline(0).save_pretrained(base)
    (base / "TINY_RANDOM_TEST_FIXTURE.txt").write_text(
        "Tiny random Wan built from configs by models/method/tiny.py: a test fixture, not a model.\n")
    common = ["--threads", "1", "--device", "cpu"]
    stages = [
        ["train-iclora", "--base", base, "--data", CLIP, "--weather", "clear", "--out", work / "lora", "--window", 5,
         "--size", SIZE, "--rank", 4, "--lr", 3e-3, "--steps", 2, "--checkpoint-every", 2, "--max-text-tokens", 16],
        ["distill-steps", "--base", base, "--lora", work / "lora" / "lora", "--data", CLIP, "--out", work / "dist",
         "--size", SIZE, "--k", 2, "--teacher-steps", 4, "--iters-per-round", 1, "--rank", 4],
        ["export", "--distilled", work / "dist", "--out", pkg, "--size", SIZE, "--clip", CLIP,
         "--name", "method-tiny-test-fixture"],
    ]
    for argv in stages:
        rc = cli.main([str(a) for a in [*argv, *common]])
        if rc != 0:
            raise SystemExit(f"make_method_package: stage {argv[0]} failed (exit {rc})")
    return pkg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    t0 = time.monotonic()
    pkg = build(args.out.resolve())
    print(f"make_method_package: {pkg} in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
