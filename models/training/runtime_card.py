#!/usr/bin/env python3
"""Measure an exported package through the Rust runtime and add the results to its model card.

  python models/training/runtime_card.py --package models/realmaster-student

Runs `realmaster eval` on a held-out sequence (every weather it has targets for) and
`realmaster bench` at several model sizes on the CPU EP, writes PACKAGE/runtime_metrics.json and
replaces the "Through the Rust runtime" section of PACKAGE/MODEL_CARD.md. The shipped model's test
(rust/realmaster/tests/student_model.rs) re-runs the same evaluation and compares it with
runtime_metrics.json, so the card's numbers are checked on every test run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- runtime:begin -->", "<!-- runtime:end -->"
# Margins the regression test allows between a re-run and the card (same sequence, same EP): the
# GPU pre/post-processing runs on whatever adapter the machine has (lavapipe, a real GPU), whose
# float rounding differs slightly.
MARGINS = {"psnr_db": 0.3, "ssim": 0.01, "warp_error_rel": 0.2, "edge_f": 0.05}


def fail(msg: str, fix: str) -> int:
    print(f"error: {msg}\nfix: {fix}", file=sys.stderr)
    return 2


def run_json(cmd: list[str]) -> dict:
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "error")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def section(m: dict) -> str:
    ev = m["eval"]
    rows = [
        "| weather | PSNR dB | pass-through | SSIM | pass-through | warp error | target's | input's | edge F | target's |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in ev["weathers"]:
        rows.append(
            f"| {w['weather']} | {w['psnr']:.2f} | {w['psnr_passthrough']:.2f} | {w['ssim']:.4f} | {w['ssim_passthrough']:.4f}"
            f" | {w['warp_error']:.4f} | {w['warp_error_target']:.4f} | {w['warp_error_input']:.4f}"
            f" | {w['edge_f']:.3f} | {w['edge_f_target']:.3f} |"
        )
    bench = [
        "| model input | inference median ms | p95 ms | whole frame (cinematic) median ms | EP |",
        "|---|---|---|---|---|",
    ]
    for b in m["bench"]:
        bench.append(
            f"| {b['model_input'][0]}x{b['model_input'][1]} | {b['inference']['median']:.1f} | {b['inference']['p95']:.1f}"
            f" | {b['total']['median']:.1f} | {b['execution_provider']} |"
        )
    return "\n".join(
        [
            BEGIN,
            "## Through the Rust runtime",
            "",
            f"`realmaster eval {m['sequence']}` (cinematic mode, strength 1, each weather's preset, model input"
            f" {ev['model_size'][0]}x{ev['model_size'][1]}; GPU passes on {m['gpu']}, ONNX Runtime CPU EP). The full",
            "pipeline runs: GPU preprocessing, the model, guided upsampling and temporal accumulation. Warping",
            "error: mean |I_t - warp(I_t-1)| over pixels that are not disoccluded (renderer's motion vectors and",
            "depth). Edge F: F-score of the image's edges against the input frame's edges (1-pixel tolerance).",
            "",
            *rows,
            "",
            f"The test `cargo test -p realmaster --test student_model` re-runs this and requires every number to stay"
            f" within {MARGINS['psnr_db']} dB PSNR, {MARGINS['ssim']} SSIM, {int(MARGINS['warp_error_rel'] * 100)} % warping"
            f" error and {MARGINS['edge_f']} edge F of this table (runtime_metrics.json), and the model to beat the",
            "pass-through PSNR for every weather.",
            "",
            f"Inference time per frame through the Rust runtime (`realmaster bench`, input = model size, {m['bench_frames']}"
            f" frames after warm-up; {m['cpu']}, {m['cores']} cores):",
            "",
            *bench,
            END,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", type=Path, required=True, help="model package folder (with MODEL_CARD.md)")
    ap.add_argument("--realmaster", type=Path, default=ROOT / "target" / "release" / "realmaster", help="realmaster binary")
    ap.add_argument("--sequence", type=Path, default=Path("samples/heldout_downtown_orbit"), help="held-out sequence with targets (relative to the repo root)")
    ap.add_argument("--bench-sequence", type=Path, default=Path("samples/city_pan"))
    ap.add_argument("--sizes", default="256x256,512x288,1280x720", help="model input sizes to time")
    ap.add_argument("--frames", type=int, default=20, help="benchmark frames per size")
    args = ap.parse_args(argv)
    pkg = args.package.resolve()
    card = pkg / "MODEL_CARD.md"
    if not (pkg / "manifest.json").is_file() or not card.is_file():
        return fail(f"{pkg} has no manifest.json or MODEL_CARD.md", "export the package first (models/training/export.py)")
    if not args.realmaster.is_file():
        return fail(f"{args.realmaster} does not exist", "build it: cargo build --release --bin realmaster")
    if args.frames < 1:
        return fail("--frames must be at least 1", "pass --frames 20")
    sizes = []
    for s in args.sizes.split(","):
        try:
            w, h = (int(v) for v in s.lower().split("x"))
        except ValueError:
            return fail(f"bad size '{s}'", "pass sizes as WxH, comma-separated, e.g. 256x256,512x288")
        sizes.append((w, h))
    exe = str(args.realmaster)
    seq = (ROOT / args.sequence) if not args.sequence.is_absolute() else args.sequence
    bseq = (ROOT / args.bench_sequence) if not args.bench_sequence.is_absolute() else args.bench_sequence
    ev = run_json([exe, "eval", str(seq), "--model", str(pkg), "--ep", "cpu", "--json"])
    bench = []
    gpu = "?"
    for w, h in sizes:
        b = run_json(
            [exe, "bench", str(bseq), "--model", str(pkg), "--ep", "cpu", "--model-size", f"{w}x{h}",
             "--input-size", f"{w}x{h}", "--frames", str(args.frames), "--warmup", "3", "--json"]
        )
        st = dict((n, s) for n, s in b["stages"])
        bench.append({"model_input": b["model_input"], "inference": st["inference"], "total": st["total"],
                      "execution_provider": b["execution_provider"], "gpu": b["gpu"]})
        gpu = b["gpu"]
    rel = lambda p: str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)  # noqa: E731
    m = {
        "format": "realmaster-runtime-metrics",
        "version": 1,
        "sequence": rel(seq),
        "margins": MARGINS,
        "eval": ev,
        "bench": bench,
        "bench_frames": args.frames,
        "gpu": gpu,
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
    }
    m["eval"]["sequence"] = rel(seq)
    (pkg / "runtime_metrics.json").write_text(json.dumps(m, indent=2) + "\n")
    text = card.read_text()
    new = section(m)
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + new + text[b:]
    else:
        marker = "## ONNX export"
        text = text.replace(marker, new + "\n\n" + marker, 1) if marker in text else text + "\n" + new + "\n"
    card.write_text(text)
    print(f"wrote {pkg / 'runtime_metrics.json'} and updated {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
