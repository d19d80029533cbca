#!/usr/bin/env python3
"""Measure an exported package through the Rust runtime and add the results to its model card.

  python models/training/runtime_card.py --package models/realmaster-student

Runs `realmaster eval` on held-out sequences (every weather each has targets for) and
`realmaster bench` at several model sizes on the CPU EP, writes PACKAGE/runtime_metrics.json and
replaces the "Through the Rust runtime" section of PACKAGE/MODEL_CARD.md. The first --sequence is
the regression sequence: the shipped model's test (rust/realmaster/tests/student_model.rs) re-runs
its evaluation and compares it with runtime_metrics.json, so the card's numbers are checked on
every test run. With --look, every sequence is also rendered through `realmaster render` per
weather and the frames are scored in Python: VGG16 perceptual distance to the target (output and
pass-through) and KID of output, engine and target patches against real photographs (--real).
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


LOOK_COLS = (
    "| sequence | weather | PSNR out / pass | SSIM out / pass | VGG dist out / pass | sharpness out / target |"
    " edge F out / target | warp err out / target | ghost edges | PSNR slope dB/frame |"
)


def look_rows(tables: list[dict]) -> list[str]:
    rows = [LOOK_COLS, "|---|---|---|---|---|---|---|---|---|---|"]
    for t in tables:
        look = t.get("look", {})
        for w in t["eval"]["weathers"]:
            lw = look.get("per_weather", {}).get(w["weather"], {})
            vgg = f"{lw['vgg_output']:.3f} / {lw['vgg_passthrough']:.3f}" if lw else "n/a"
            ratio = w["sharpness"] / max(w["sharpness_target"], 1e-12)
            rows.append(
                f"| {t['name']} | {w['weather']} | {w['psnr']:.2f} / {w['psnr_passthrough']:.2f} | {w['ssim']:.3f} / {w['ssim_passthrough']:.3f}"
                f" | {vgg} | {w['sharpness']:.4f} / {w['sharpness_target']:.4f} ({ratio:.2f}x) | {w['edge_f']:.3f} / {w['edge_f_target']:.3f}"
                f" | {w['warp_error']:.4f} / {w['warp_error_target']:.4f} | {w['ghost_edges']:.3f} | {w['psnr_slope']:+.3f} |"
            )
    return rows


def kid_rows(tables: list[dict]) -> list[str]:
    both = any("kid_all_engine_x1000" in (t.get("look") or {}) for t in tables)
    head = "| sequence | weather | KID x1000 output | engine frames | target |"
    if both:
        head += " all photos: output | engine frames | target |"
    rows = [head, "|---" * (8 if both else 5) + "|"]
    for t in tables:
        look = t.get("look")
        if not look:
            continue
        for w, lw in look["per_weather"].items():
            r = f"| {t['name']} | {w} | {lw['kid_output_x1000']:.1f} | {look['kid_engine_x1000']:.1f} | {lw['kid_target_x1000']:.1f} |"
            if both:
                r += f" {lw['kid_all_output_x1000']:.1f} | {look['kid_all_engine_x1000']:.1f} | {lw['kid_all_target_x1000']:.1f} |"
            rows.append(r)
    return rows


def kid_reference(m: dict) -> str:
    """The card's KID reference in words: the photos its counts compare with."""
    scenes = m.get("real_scenes")
    if not scenes or scenes == "all":
        return f"all real photographs ({m.get('real', '?')})"
    return f"the real photographs tagged {', '.join(scenes)} ({m.get('real', '?')}; the all-photo figures beside them)"


def score_look(exe: str, pkg: Path, seq: Path, weathers: list[str], real: Path, work: Path, look_args: list[str],
               scenes: tuple[str, ...] | None = None) -> dict:
    """Render `seq` per weather through the runtime and score the frames in Python (VGG16, KID against the
    photos tagged `scenes`, and against all photos too when that is a subset: kid_all_*)."""
    import numpy as np
    import torch
    from PIL import Image

    import kid as kidmod
    from realism import VGGPerceptual
    from seqio import load_sequence

    s = load_sequence(seq)
    perc = VGGPerceptual().eval()
    feats = kidmod.KIDFeatures()

    def load(p: Path) -> torch.Tensor:
        return torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0).permute(2, 0, 1)[None]

    def kids(images: list[Path], prefix: str) -> dict:
        """KID x1000 against the reference and, where that is a subset, against all photos."""
        res = kidmod.score(images, real, features=feats, scenes=scenes, also=[None] if scenes is not None else [])
        r = {f"kid_{prefix}_x1000": res["kid_x1000"]}
        if scenes is not None:
            r[f"kid_all_{prefix}_x1000"] = res["also"][0]["kid_x1000"]
        return r

    out: dict = {**kids([seq], "engine"), "per_weather": {}}
    for w in weathers:
        d = work / f"{seq.name}-{w}"
        subprocess.run([exe, "render", str(seq), "--out", str(d), "--prompt", w, "--model", str(pkg), "--ep", "cpu",
                        "--no-video", *look_args], check=True, capture_output=True, env={**os.environ, "RUST_LOG": "error"})
        vo, vp = [], []
        tdir = work / f"{seq.name}-{w}-targets"
        tdir.mkdir(parents=True, exist_ok=True)
        for i in range(s.frame_count):
            o = load(d / "frames" / f"{i:04d}.png")
            tgt = torch.from_numpy(s.load_target_u8(w, i).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
            inp = torch.from_numpy(s.load_color_u8(i).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
            with torch.no_grad():
                vo.append(float(perc(o, tgt)))
                vp.append(float(perc(inp, tgt)))
            Image.fromarray(s.load_target_u8(w, i)).save(tdir / f"{i:04d}.png")
        out["per_weather"][w] = {
            "vgg_output": float(np.mean(vo)),
            "vgg_passthrough": float(np.mean(vp)),
            **kids([d / "frames"], "output"),
            **kids([tdir], "target"),
        }
    return out


def borrowed_bench(pkg: Path, other: Path) -> tuple[dict | None, str]:
    """The timing of `other`'s card, for a package whose graph is the same file (None and why not)."""
    from package import sha256_file

    card = other / "runtime_metrics.json"
    if not card.is_file():
        return None, f"--bench-from {other}: it has no runtime_metrics.json"
    if not (other / "model.onnx").is_file() or sha256_file(other / "model.onnx") != sha256_file(pkg / "model.onnx"):
        return None, f"--bench-from {other}: its model.onnx is not this package's, so its timing is not this package's"
    m = json.loads(card.read_text())
    if not m.get("bench"):
        return None, f"--bench-from {other}: its card has no timing"
    name = json.loads((other / "manifest.json").read_text()).get("model_version", other.name)
    # A card that borrowed its timing passes on where it was measured.
    return {"bench": m["bench"], "bench_frames": m["bench_frames"], "gpu": m["gpu"], "cpu": m["cpu"],
            "cores": m["cores"], "source": m.get("bench_from") or name}, ""


def ridge_text(m: dict) -> str:
    """The guided upsample's ridge the runs used: the session's, and each weather's where the
    package's per-prompt ridges (manifest `upsample`) made it another."""
    base = float(m["upsample_eps"])
    own = {w["weather"]: float(w["upsample_eps"]) for w in m["eval"]["weathers"] if "upsample_eps" in w}
    other = {w: e for w, e in own.items() if abs(e / base - 1.0) > 1e-4}
    text = f"{base:g}"
    if other:
        per = ", ".join(f"{w} {e:.3g}" for w, e in other.items())
        text += f", scaled per prompt by the package's (manifest `upsample`): {per}"
    aware = {w["weather"]: (float(w["upsample_edge_ridge"]), float(w["upsample_edge_pull"]))
             for w in m["eval"]["weathers"] if float(w.get("upsample_edge_pull", 0.0)) > 0.0}
    if aware:
        per = ", ".join(f"{w} (the ridge {r:g}x on the model input's edges, pulled {p:g} toward the look's gain off them)"
                        for w, (r, p) in aware.items())
        text += f"; edge-aware (manifest `upsample.edge_ridge` / `edge_aware`): {per}"
    return text


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
    look = []
    if len(m.get("tables", [])) > 0:
        look = [
            "",
            "### Held-out look, per prompt",
            "",
            "Every sequence below was never trained on (see the data card for the splits). Output = the whole",
            "runtime (`realmaster eval`/`render`, cinematic, strength 1, the weather's preset); pass = the engine",
            "frame itself. VGG dist: VGG16 perceptual distance to the target (relu1_2..relu4_3, unit-normalised",
            "features; lower is closer). Sharpness: mean |Laplacian| of luma. Ghost edges: fraction of the output's",
            "edges near neither an input nor a target edge. PSNR slope: least-squares trend over the clip.",
            f"The sharpness is the runtime's frame's: the guided upsample (ridge {ridge_text(m)}) keeps more of the",
            "engine frame's fine detail the larger its ridge, where the model-size picture is nearly flat; the network's",
            "own output is scored by evaluate.py (docs/photoreal.md, \"The guided upsample's ridge\").",
            "",
            *look_rows(m["tables"]),
        ]
        if any(t.get("look") for t in m["tables"]):
            look += [
                "",
                f"Realism: KID (x1000; EfficientNet-Lite0 features, models/training/kid.py) of 128 px patches against"
                f" {kid_reference(m)}; lower is closer to real photos.",
                "",
                *kid_rows(m["tables"]),
            ]
    return "\n".join(
        [
            BEGIN,
            "## Through the Rust runtime",
            "",
            f"`realmaster eval {m['sequence']}` (cinematic mode, strength 1, each weather's preset, model input"
            f" {ev['model_size'][0]}x{ev['model_size'][1]}, the guided upsample's ridge {ridge_text(m)}"
            f"{', the exposure lock on' if m.get('exposure_lock') else ''}; GPU passes on {m['gpu']}, ONNX Runtime CPU EP). The full",
            "pipeline runs: preprocessing, the model, temporal accumulation at model size, the guided upsample. Warping",
            "error: mean |I_t - warp(I_t-1)| over pixels that are not disoccluded (renderer's motion vectors and",
            "depth). Edge F: F-score of the image's edges against the input frame's edges (1-pixel tolerance).",
            "",
            *rows,
            "",
            f"The test `cargo test -p realmaster --test student_model` re-runs this and requires every number to stay"
            f" within {MARGINS['psnr_db']} dB PSNR, {MARGINS['ssim']} SSIM, {int(MARGINS['warp_error_rel'] * 100)} % warping"
            f" error and {MARGINS['edge_f']} edge F of this table (runtime_metrics.json), and the model to beat the",
            "pass-through PSNR for every weather.",
            *(
                [
                    "",
                    f"The same clip's {m['dark']['weather']} pairs with the engine frames and the targets re-exposed by"
                    f" {m['dark']['exposure_ev']:+g} stops alike (`realmaster eval --exposure`; an engine that renders that much darker):"
                    f" PSNR {m['dark']['psnr']:.2f} dB against {m['dark']['psnr_passthrough']:.2f} for pass-through"
                    f" (mean output {m['dark']['mean_output']:.4f}, input {m['dark']['mean_input']:.4f}, sRGB 0..1).",
                ]
                if m.get("dark")
                else []
            ),
            "",
            f"Inference time per frame through the Rust runtime (`realmaster bench`, input = model size, {m['bench_frames']}"
            f" frames after warm-up; {m['cpu']}, {m['cores']} cores"
            + (f"; timed in {m['bench_from']}'s card run, the same model.onnx" if m.get("bench_from") else "")
            + "):",
            "",
            *bench,
            *look,
            END,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", type=Path, required=True, help="model package folder (with MODEL_CARD.md)")
    ap.add_argument("--realmaster", type=Path, default=ROOT / "target" / "release" / "realmaster", help="realmaster binary")
    ap.add_argument("--sequence", type=Path, action="append", help="held-out sequence with targets, relative to the repo root (repeatable; the first is the regression test's; default samples/heldout_downtown_orbit)")
    ap.add_argument("--look", action="store_true", help="also render every sequence per weather and score VGG distance and KID")
    ap.add_argument("--real", type=Path, default=Path("data/realphotos"), help="real-photo cache for KID (realphotos.py extract)")
    ap.add_argument("--real-scenes", default="outdoor",
                    help="KID's reference: the real photos of these scene tags (comma-separated; 'all' = every photo). Default outdoor,"
                         " the kind of scene the held-out clips show (docs/photoreal.md, stage 71); the all-photo KID is scored beside it")
    ap.add_argument("--bench-sequence", type=Path, default=Path("samples/city_pan"))
    ap.add_argument("--sizes", default="256x144,256x256,512x288,1280x720", help="model input sizes to time")
    ap.add_argument("--frames", type=int, default=20, help="benchmark frames per size")
    ap.add_argument("--bench-from", type=Path, default=None,
                    help="take the timing table from this package's card instead of timing again: its model.onnx must be"
                         " this package's, byte for byte (a card scored beside other work, or a manifest-only release)")
    ap.add_argument("--upsample-eps", type=float, default=None,
                    help="the guided upsample's ridge for every run (default: the runtime's; recorded in the card, and the regression test uses it)")
    ap.add_argument("--exposure-lock", action="store_true",
                    help="every run with the runtime's exposure lock on (the package must state its teacher's rule; recorded in the card, and the regression test uses it)")
    ap.add_argument("--dark", type=float, default=-3.0,
                    help="also score the first sequence's clear pairs with the engine frames and targets re-exposed by this many stops"
                         " (`realmaster eval --exposure`; the shipped-model test's dark frame is -3; 0 skips)")
    args = ap.parse_args(argv)
    pkg = args.package.resolve()
    card = pkg / "MODEL_CARD.md"
    if not (pkg / "manifest.json").is_file() or not card.is_file():
        return fail(f"{pkg} has no manifest.json or MODEL_CARD.md", "export the package first (models/training/export.py)")
    if not args.realmaster.is_file():
        return fail(f"{args.realmaster} does not exist", "build it: cargo build --release --bin realmaster")
    if args.frames < 1:
        return fail("--frames must be at least 1", "pass --frames 20")
    if args.upsample_eps is not None and not (1e-6 <= args.upsample_eps <= 1.0):
        return fail(f"--upsample-eps {args.upsample_eps} is outside the runtime's range 1e-6..1", "pass e.g. --upsample-eps 1e-5")
    if args.look:
        import kid as kidmod

        try:
            scenes = kidmod.parse_scenes(args.real_scenes)
            kidmod.scene_files(args.real, scenes)
        except kidmod.DataError as e:
            return fail(str(e), e.fix)
    else:
        scenes = None
    bench_from = None
    if args.bench_from is not None:
        bench_from, why = borrowed_bench(pkg, args.bench_from.resolve())
        if bench_from is None:
            return fail(why, "time this package (leave out --bench-from), or name a package with the same model.onnx")
    if args.exposure_lock and "exposure" not in json.loads((pkg / "manifest.json").read_text()):
        return fail(f"{pkg}'s manifest states no exposure rule for --exposure-lock to hold", "export the package again (export.py states the rule for students of the path tracer), or leave out --exposure-lock")
    # The ridge and the lock are passed to every run only when asked for, so a default card follows
    # the runtime's defaults.
    look_args = [] if args.upsample_eps is None else ["--upsample-eps", repr(args.upsample_eps)]
    if args.exposure_lock:
        look_args.append("--exposure-lock")
    sizes = []
    for s in args.sizes.split(","):
        try:
            w, h = (int(v) for v in s.lower().split("x"))
        except ValueError:
            return fail(f"bad size '{s}'", "pass sizes as WxH, comma-separated, e.g. 256x256,512x288")
        sizes.append((w, h))
    exe = str(args.realmaster)
    seqs = [(ROOT / q) if not q.is_absolute() else q for q in (args.sequence or [Path("samples/heldout_downtown_orbit")])]
    seq = seqs[0]
    bseq = (ROOT / args.bench_sequence) if not args.bench_sequence.is_absolute() else args.bench_sequence
    tables = []
    for q in seqs:
        e = run_json([exe, "eval", str(q), "--model", str(pkg), "--ep", "cpu", "--json", *look_args])
        for w in e["weathers"]:
            w.pop("per_frame", None)  # kept out of the card; `realmaster eval --json` prints it
        t = {"name": q.name, "sequence": str(q.relative_to(ROOT)) if q.is_relative_to(ROOT) else str(q), "eval": e}
        if args.look:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="realmaster-look-") as tmp:
                t["look"] = score_look(exe, pkg, q, [w["weather"] for w in e["weathers"]], args.real, Path(tmp), look_args, scenes)
        tables.append(t)
        print(f"scored {q.name}", flush=True)
    ev = json.loads(json.dumps(tables[0]["eval"]))
    dark = None
    if args.dark != 0.0:
        names = [w["weather"] for w in ev["weathers"]]
        weather = "clear" if "clear" in names else names[0]
        d = run_json([exe, "eval", str(seq), "--model", str(pkg), "--ep", "cpu", "--json", "--weathers", weather,
                      "--exposure", repr(args.dark), *look_args])
        w = d["weathers"][0]
        dark = {"exposure_ev": d["exposure_ev"], "weather": weather, "psnr": w["psnr"], "psnr_passthrough": w["psnr_passthrough"],
                "ssim": w["ssim"], "ssim_passthrough": w["ssim_passthrough"],
                "mean_output": sum(f["mean_output"] for f in w["per_frame"]) / len(w["per_frame"]),
                "mean_input": sum(f["mean_input"] for f in w["per_frame"]) / len(w["per_frame"])}
        print(f"scored {seq.name} at {args.dark:+g} stops", flush=True)
    bench = [] if bench_from is None else bench_from["bench"]
    gpu = "?" if bench_from is None else bench_from["gpu"]
    for w, h in ([] if bench_from is not None else sizes):
        b = run_json(
            [exe, "bench", str(bseq), "--model", str(pkg), "--ep", "cpu", "--model-size", f"{w}x{h}",
             "--input-size", f"{w}x{h}", "--frames", str(args.frames), "--warmup", "3", "--json", *look_args]
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
        # What the runs used, as `realmaster eval` reports it (the runtime's default unless asked).
        "upsample_eps": ev["upsample_eps"],
        "exposure_lock": bool(ev.get("exposure_lock", False)),
        "eval": ev,
        "bench": bench,
        "bench_frames": args.frames if bench_from is None else bench_from["bench_frames"],
        "gpu": gpu,
        "cpu": cpu_name() if bench_from is None else bench_from["cpu"],
        "cores": os.cpu_count() if bench_from is None else bench_from["cores"],
        "bench_from": None if bench_from is None else bench_from["source"],
        "tables": tables,
        "real": str(args.real),
        "real_scenes": list(scenes) if scenes else "all",
        "dark": dark,
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
