#!/usr/bin/env python3
"""Evaluate the student on held-out sequences, run frame by frame the way the runtime runs it.

  python models/training/evaluate.py --package models/realmaster-student --data data/train --out out/eval
  python models/training/evaluate.py --workdir out/train-full --data data/train --out out/eval

For every sequence with meta.split = heldout (see --split) and every weather it has targets for,
the model sees the window of frames, their edge maps, depth, normals, its own previous output
reprojected with the motion vectors (the current frame at shot starts) and the weather's preset.
Per weather it reports:
  PSNR / SSIM of the output vs the target, next to the pass-through baseline (input frame vs target);
  temporal warping error: mean |x_t - warp(x_{t-1})| over pixels visible in both frames (motion
    vectors + depth-reprojection disocclusion mask), for the output, the target and the input;
  edge F-score: edges of the output vs edges of the input frame (1-pixel tolerance), next to the
    target's own F-score (how much of the game's structure the reference keeps).
  sharpness: the output's mean |Laplacian| of luma over the target's.
These score the network's own output at the clip's size. `realmaster eval` scores the frame the
runtime shows (temporal accumulation, then the guided upsample, which keeps the engine frame's fine
detail where the model-size picture is nearly flat), so its sharpness is higher and its PSNR a
little lower (docs/photoreal.md, "The guided upsample's ridge").
Writes OUT/metrics.json and OUT/metrics.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

import imgops
from data import window_frames
from seqio import DataError, Sequence, encode_depth, find_sequences, light_inputs


def _dilate(e: np.ndarray) -> np.ndarray:
    out = e.astype(bool).copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out |= imgops._shift(e.astype(bool), dy, dx)
    return out


def edge_counts(pred: np.ndarray, ref: np.ndarray) -> tuple[int, int, int, int]:
    """(matched pred, total pred, matched ref, total ref) with a 1-pixel tolerance."""
    p, r = pred.astype(bool), ref.astype(bool)
    return int((p & _dilate(r)).sum()), int(p.sum()), int((r & _dilate(p)).sum()), int(r.sum())


def f_score(c: list[int]) -> float:
    prec = c[0] / c[1] if c[1] else 0.0
    rec = c[2] / c[3] if c[3] else 0.0
    return 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0


def sharpness(img: np.ndarray) -> float:
    """Mean |Laplacian| (4-neighbour, clamp-to-edge) of the luma; the runtime's metrics::sharpness."""
    y = img[..., 0] * 0.2126 + img[..., 1] * 0.7152 + img[..., 2] * 0.0722
    p = np.pad(y, 1, mode="edge")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4.0 * y
    return float(np.abs(lap).mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 99.0 if mse <= 1e-10 else 10.0 * math.log10(1.0 / mse)


def ssim_np(a: np.ndarray, b: np.ndarray) -> float:
    import torch

    from losses import ssim

    ta = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
    tb = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[None]
    return float(ssim(ta, tb))


class TorchRunner:
    def __init__(self, model) -> None:
        self.model = model
        self.window = model.cfg.window

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        from model import INPUT_NAMES

        with torch.no_grad():
            # Students without prev ignore that argument.
            return self.model(*[torch.from_numpy(inputs[n]) for n in INPUT_NAMES]).numpy()


class OrtRunner:
    def __init__(self, package: Path) -> None:
        import onnxruntime as ort

        m = json.loads((package / "manifest.json").read_text())
        self.window = int(m["window"])
        self.sess = ort.InferenceSession(str(package / m["graph"]), providers=["CPUExecutionProvider"])
        self.names = {i["role"]: i["name"] for i in m["inputs"]}

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        role = {"frames": "frames", "edges": "edges", "depth": "depth", "normals": "normals", "prev": "previous_output", "prompt": "prompt_embedding"}
        # Only the inputs the graph has (a student without previous_output has no prev).
        return self.sess.run(None, {self.names[role[k]]: v for k, v in inputs.items() if role[k] in self.names})[0]


def _pad16(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    ph, pw = (-h) % 16, (-w) % 16
    if not (ph or pw):
        return a
    return np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="edge")


def _nchw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(_pad16(a).transpose(2, 0, 1)[None], dtype=np.float32)


def evaluate_sequence(seq: Sequence, weather: str, runner, prompt: np.ndarray, max_frames: int, sun: np.ndarray | None = None) -> dict:
    """`sun`: per frame, the engine's sun in view space, appended to the prompt (students that read it)."""
    h, w = seq.height, seq.width
    n = min(seq.frame_count, max_frames) if max_frames else seq.frame_count
    colors, depths, normals, motions, edges = {}, {}, {}, {}, {}

    def frame(i: int):
        if i not in colors:
            colors[i] = seq.load_color_u8(i).astype(np.float32) / 255.0
            z = seq.load_depth_z(i)
            depths[i] = encode_depth(z) if z is not None else None
            normals[i] = seq.load_normals(i)
            m = seq.load_motion(i)
            motions[i] = m if m is not None else np.zeros((h, w, 2), np.float32)
            edges[i] = imgops.edge_map(colors[i], z, normals[i])
        return colors[i]

    acc = {"psnr": [], "ssim": [], "psnr_base": [], "ssim_base": [], "sharpness": [], "sharpness_target": []}
    warp_sum = {"output": 0.0, "target": 0.0, "input": 0.0}
    warp_px = 0.0
    e_out = [0, 0, 0, 0]
    e_tgt = [0, 0, 0, 0]
    prev_out = prev_tgt = None
    for t in range(n):
        idx = window_frames(seq, t, runner.window)
        cur = frame(t)
        for i in idx:
            frame(i)
        start = seq.shot_start(t) or prev_out is None
        prev = cur if start else imgops.warp_backward(prev_out, motions[t])[0]
        inputs = {
            "frames": _nchw(np.concatenate([colors[i] for i in idx], axis=2)),
            "edges": _nchw(np.stack([edges[i] for i in idx], axis=2)),
            "depth": _nchw((depths[t] if depths[t] is not None else np.zeros((h, w), np.float32))[..., None]),
            "normals": _nchw(normals[t] if normals[t] is not None else np.zeros((h, w, 3), np.float32)),
            "prev": _nchw(prev),
            "prompt": (prompt if sun is None else np.concatenate([prompt, sun[t]]))[None].astype(np.float32),
        }
        out = runner(inputs)[0].transpose(1, 2, 0)[:h, :w]
        tgt = seq.load_target_u8(weather, t).astype(np.float32) / 255.0
        acc["psnr"].append(psnr(out, tgt))
        acc["ssim"].append(ssim_np(out, tgt))
        acc["psnr_base"].append(psnr(cur, tgt))
        acc["ssim_base"].append(ssim_np(cur, tgt))
        acc["sharpness"].append(sharpness(out))
        acc["sharpness_target"].append(sharpness(tgt))
        if not seq.shot_start(t) and t > 0:
            mask = imgops.valid_history_mask(motions[t], depths[t], depths[t - 1])[..., None]
            for key, now, before in (("output", out, prev_out), ("target", tgt, prev_tgt), ("input", cur, colors[t - 1])):
                warped, _ = imgops.warp_backward(before, motions[t])
                warp_sum[key] += float((np.abs(now - warped) * mask).sum())
            warp_px += 3.0 * float(mask.sum())
        in_e = imgops.edge_map(cur)
        for c, x in ((e_out, out), (e_tgt, tgt)):
            for k, v in enumerate(edge_counts(imgops.edge_map(x), in_e)):
                c[k] += v
        prev_out, prev_tgt = out, tgt
    return {"frames": n, "acc": acc, "warp_sum": warp_sum, "warp_px": warp_px, "edges_out": e_out, "edges_target": e_tgt}


def summarize(parts: list[dict]) -> dict:
    acc: dict[str, list[float]] = {}
    ws = {"output": 0.0, "target": 0.0, "input": 0.0}
    px = 0.0
    eo, et = [0, 0, 0, 0], [0, 0, 0, 0]
    for p in parts:
        for k, v in p["acc"].items():
            acc.setdefault(k, []).extend(v)
        for k in ws:
            ws[k] += p["warp_sum"][k]
        px += p["warp_px"]
        eo = [a + b for a, b in zip(eo, p["edges_out"])]
        et = [a + b for a, b in zip(et, p["edges_target"])]
    r = {k: round(float(np.mean(v)), 4) for k, v in acc.items()}
    r["frames"] = sum(p["frames"] for p in parts)
    for k in ws:
        r[f"warp_err_{k}"] = round(ws[k] / px, 5) if px else None
    r["edge_f_output"] = round(f_score(eo), 4)
    r["edge_f_target"] = round(f_score(et), 4)
    return r


def table_md(per: dict[str, dict]) -> str:
    rows = [
        "| weather | frames | PSNR out | PSNR pass-through | SSIM out | SSIM pass-through | warp err out | warp err target | warp err input | edge F out | edge F target | sharpness out / target |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v, d: "n/a" if v is None else f"{v:.{d}f}"  # noqa: E731
    for w, r in per.items():
        rows.append(
            f"| {w} | {r['frames']} | {fmt(r['psnr'], 2)} | {fmt(r['psnr_base'], 2)} | {fmt(r['ssim'], 3)} | "
            f"{fmt(r['ssim_base'], 3)} | {fmt(r['warp_err_output'], 4)} | {fmt(r['warp_err_target'], 4)} | "
            f"{fmt(r['warp_err_input'], 4)} | {fmt(r['edge_f_output'], 3)} | {fmt(r['edge_f_target'], 3)} | "
            f"{r['sharpness'] / max(r['sharpness_target'], 1e-12):.2f} |"
        )
    return "\n".join(rows)


NOTES = (
    "PSNR (dB) and SSIM (7x7 uniform window) against the weather's target; pass-through = the game frame "
    "itself. Warp err = mean |x_t - warp(x_{t-1})| (sRGB 0..1) over pixels visible in both frames (renderer "
    "motion vectors, depth-reprojection disocclusion mask); lower is steadier, and the target's own value is "
    "the reference. Edge F = F-score of Canny-style edges of the frame vs edges of the game frame (1 px "
    "tolerance); the target column shows how much structure the reference itself keeps. Every figure is the "
    "network's own output; the runtime's frame (`realmaster eval`) adds its compositor."
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--package", type=Path, help="model package (runs model.onnx with ONNX Runtime)")
    src.add_argument("--workdir", type=Path, help="training workdir (newest checkpoint, PyTorch)")
    src.add_argument("--checkpoint", type=Path, help="checkpoint file (PyTorch)")
    ap.add_argument("--data", type=Path, action="append", help="sequence folder(s) (default data/train)")
    ap.add_argument("--split", default="heldout", help="meta.split to evaluate (default heldout)")
    ap.add_argument("--out", type=Path, required=True, help="folder for metrics.json and metrics.md")
    ap.add_argument("--weathers", help="comma-separated subset")
    ap.add_argument("--max-frames", type=int, default=0, help="evaluate at most this many frames per sequence")
    args = ap.parse_args(argv)
    if args.max_frames < 0:
        ap.error("--max-frames must not be negative")
    try:
        return evaluate(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def evaluate(args: argparse.Namespace) -> int:
    seqs = [s for s in find_sequences(args.data or [Path("data/train")]) if s.split == args.split]
    if not seqs:
        raise DataError(f"no sequence has meta.split {args.split!r}", "render held-out clips or pass --split")
    if args.package is not None:
        if not (args.package / "manifest.json").is_file():
            raise DataError(f"{args.package} is not a model package (no manifest.json)", "pass the folder export.py wrote")
        runner = OrtRunner(args.package)
        pj = json.loads((args.package / "presets.json").read_text())
        presets = {k: np.asarray(v, np.float32) for k, v in pj["presets"].items()}
        source = f"package {args.package}"
    else:
        from export import load_student
        from prompts import load_bank, load_prompts

        model, state = load_student(args.workdir, args.checkpoint)
        runner = TorchRunner(model)
        ws_, _, _ = load_prompts()
        bank = load_bank()
        presets = {w: bank[ws_[w].prompt] for w in state["run"]["weathers"]}
        source = f"checkpoint {state['path']}"
    wanted = args.weathers.split(",") if args.weathers else None
    per_weather: dict[str, list[dict]] = {}
    for s in seqs:
        s.check_files()
        for w in s.targets:
            if w not in presets or (wanted and w not in wanted):
                continue
            print(f"evaluating {s.name} / {w}", flush=True)
            cfg = getattr(getattr(runner, "model", None), "cfg", None)
            sun = light_inputs(s, cfg.sun_dim) if cfg is not None and cfg.sun_dim else None
            per_weather.setdefault(w, []).append(evaluate_sequence(s, w, runner, presets[w], args.max_frames, sun))
    if not per_weather:
        raise DataError("no held-out sequence has targets for the model's weathers", "check --weathers and the data")
    per = {w: summarize(p) for w, p in sorted(per_weather.items())}
    per["all"] = summarize([x for p in per_weather.values() for x in p])
    result = {
        "source": source,
        "split": args.split,
        "sequences": sorted(s.name for s in seqs),
        "per_weather": per,
        "table_md": table_md(per),
        "notes_md": NOTES,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "metrics.md").write_text(result["table_md"] + "\n\n" + NOTES + "\n")
    print(result["table_md"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
