#!/usr/bin/env python3
"""Architecture ablation: score several training runs on the same held-out data and time them.

  python models/training/ablation.py --run unet-prev=out/abl/unet-prev --run affine=out/abl/affine \
      --data data/pathtrace/heldout --data samples/heldout_downtown_orbit --out out/ablation

For each run (its newest checkpoint) and each --data set (sequences with meta.split = heldout, or any
sequence folder given directly), evaluate.py's frame-by-frame evaluation in PyTorch gives PSNR/SSIM
against the targets next to pass-through, warping error, edge F and sharpness; then the student is
exported to ONNX and its forward pass timed with ONNX Runtime's CPU EP at 256x144, 512x288 and
1280x720 (median of --repeats). Writes OUT/ablation.json and OUT/ablation.md (the model card's table).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from seqio import DataError, find_sequences

SIZES = ((256, 144), (512, 288), (1280, 720))


def time_forward(model, threads: int, repeats: int) -> dict[str, float]:
    """The student exported to ONNX, timed on ONNX Runtime's CPU EP at SIZES (median ms, one warm-up)."""
    from export import export_onnx
    from forward_speed import time_ort

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.onnx"
        export_onnx(model, p)
        ms = time_ort(p, "CPUExecutionProvider", SIZES, threads, 1, repeats, model.cfg)["host_arrays"]
        return {k: round(v, 1) for k, v in ms.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", required=True, help="NAME=WORKDIR (repeatable)")
    ap.add_argument("--data", type=Path, action="append", required=True, help="held-out sequence folder or folder of them (repeatable)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads for the timing (default 2)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    runs = []
    for r in args.run:
        name, sep, wd = r.partition("=")
        if not sep or not name or not wd:
            ap.error(f"--run takes NAME=WORKDIR, got {r!r}")
        runs.append((name, Path(wd)))
    try:
        return ablate(runs, args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def ablate(runs: list[tuple[str, Path]], args: argparse.Namespace) -> int:
    import torch

    from evaluate import TorchRunner, evaluate_sequence, summarize
    from export import load_student
    from model import count_parameters
    from prompts import load_bank, load_prompts

    torch.set_num_threads(args.threads)
    sets = []
    for d in args.data:
        seqs = find_sequences([d])
        held = [s for s in seqs if s.split == "heldout"] or seqs
        if not held:
            raise DataError(f"{d} holds no sequence", "pass held-out sequence folders")
        sets.append((d.name, held))
    ws, _, _ = load_prompts()
    bank = load_bank()
    result: dict = {"runs": {}, "data": {n: sorted(s.name for s in ss) for n, ss in sets}}
    for name, wd in runs:
        model, state = load_student(wd, None)
        runner = TorchRunner(model)
        entry: dict = {"workdir": str(wd), "step": int(state["step"]), "params": count_parameters(model), "config": model.cfg.to_dict(), "sets": {}}
        for set_name, seqs in sets:
            parts = []
            for s in seqs:
                for w in s.targets:
                    if w in state["run"]["weathers"]:
                        parts.append(evaluate_sequence(s, w, runner, bank[ws[w].prompt], 0))
            entry["sets"][set_name] = summarize(parts)
            print(f"{name} on {set_name}: {json.dumps(entry['sets'][set_name])}", flush=True)
        entry["ms"] = time_forward(model, args.threads, args.repeats)
        result["runs"][name] = entry
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "ablation.md").write_text(table(result) + "\n")
    print(table(result))
    return 0


def table(result: dict) -> str:
    sets = list(result["data"])
    head = "| student | params | steps |" + "".join(
        f" {s}: PSNR (pass) | SSIM | sharpness vs target | edge F (target) | warp err (target) |" for s in sets
    ) + " ms 256x144 | 512x288 | 1280x720 |"
    rows = [head, "|" + "---|" * (3 + 5 * len(sets) + 3)]
    for name, e in result["runs"].items():
        cells = [name, f"{e['params']:,}", str(e["step"])]
        for s in sets:
            r = e["sets"][s]
            cells += [
                f"{r['psnr']:.2f} ({r['psnr_base']:.2f})",
                f"{r['ssim']:.3f}",
                f"{r['sharpness'] / max(r['sharpness_target'], 1e-12):.2f}x",
                f"{r['edge_f_output']:.3f} ({r['edge_f_target']:.3f})",
                f"{r['warp_err_output']:.4f} ({r['warp_err_target']:.4f})",
            ]
        cells += [f"{e['ms'][f'{w}x{h}']:.0f}" for w, h in SIZES]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
