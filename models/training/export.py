#!/usr/bin/env python3
"""Export a trained student to a model package (docs/formats.md) and check it.

  python models/training/export.py --workdir out/train-full --out models/realmaster-student \
      [--metrics out/eval/metrics.json]

Writes model.onnx (torch.onnx.export, dynamo, opset 18, dynamic H/W in multiples of 16),
presets.json (the weathers' preset prompt embeddings), manifest.json, MODEL_CARD.md and
lineage.json (every training stage behind the weights, so a later run can --init-from the
package and its card still names all the data the weights saw); then
runs ONNX Runtime against PyTorch at several sizes and fails if the max abs difference exceeds
--tolerance. The text encoder files (text_encoder.onnx, vocab.txt) are produced separately by
make_text_encoder.py --package-dir OUT and listed under "generated" in the manifest.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from seqio import DataError

CHECK_SIZES = [(64, 96), (144, 256), (256, 256)]  # (H, W)


def load_student(workdir: Path | None, checkpoint: Path | None):
    import torch

    from model import Student, StudentConfig
    from train import load_latest_checkpoint

    if checkpoint is not None:
        if not checkpoint.is_file():
            raise DataError(f"checkpoint {checkpoint} does not exist", "pass a step_*.pt from WORKDIR/checkpoints")
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        state["path"] = str(checkpoint)
    else:
        assert workdir is not None
        state = load_latest_checkpoint(workdir)
        if state is None:
            raise DataError(f"{workdir} holds no checkpoint", "train first (train.py --workdir ...) or pass --checkpoint")
    run = state["run"]
    model = Student(StudentConfig.from_dict(run["model"]))
    model.load_state_dict(state["model"])
    model = model.to(memory_format=torch.contiguous_format).eval()
    return model, state


LINEAGE = "lineage.json"


def package_weights(package: Path, model) -> dict:
    """The state dict of a student exported to `package` (its model.onnx initializers, named
    `student.<parameter>`), checked against `model`: every parameter present with its shape and
    nothing else. Lets a run fine-tune the shipped weights when the checkpoint is gone."""
    import onnx
    import torch
    from onnx import numpy_helper

    path = package / "model.onnx" if package.is_dir() else package
    if not path.is_file():
        raise DataError(f"{path} does not exist", "pass a model package folder (with model.onnx) or a step_*.pt checkpoint")
    graph = onnx.load(str(path)).graph
    found = {i.name.removeprefix("student."): numpy_helper.to_array(i) for i in graph.initializer if i.name.startswith("student.")}
    want = model.state_dict()
    missing = sorted(set(want) - set(found))
    extra = sorted(set(found) - set(want))
    bad = [k for k in want if k in found and tuple(found[k].shape) != tuple(want[k].shape)]
    if missing or extra or bad:
        raise DataError(
            f"{path} does not hold this student's weights (missing {missing[:3]}, unexpected {extra[:3]}, other shapes {bad[:3]})",
            "pass the --arch the package was trained with",
        )
    return {k: torch.from_numpy(np.array(found[k])).to(want[k].dtype) for k in want}


def stage_record(run: dict) -> dict:
    """What a package keeps of one training stage (for the model card's lineage and licences)."""
    keep = ("train", "model", "generators", "assets", "weathers", "init_from", "reinit_deep", "kept_lr_scale", "soup")
    rec = {k: run[k] for k in keep if k in run}
    rec["sequences"] = list(run.get("sequences", []))
    return rec


def export_onnx(model, path: Path) -> None:
    import torch

    # torchvision is not needed; silence the exporter's note that its ops are not registered.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)

    from model import OUTPUT_NAMES, graph_inputs, graph_module

    hb = torch.export.Dim("h16", min=1, max=256)
    wb = torch.export.Dim("w16", min=1, max=256)
    hw = {2: 16 * hb, 3: 16 * wb}
    names = model.cfg.input_names
    dyn = {n: (None if n in ("prompt", "light") else hw) for n in names}
    tmp = path.with_name(f".{path.name}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        # The exporter warns that the derived axis names 16*h16/16*w16 are shared by all inputs: intended.
        warnings.filterwarnings("ignore", message=".*axis name.*")
        torch.onnx.export(
            graph_module(model).eval(),
            graph_inputs(model.cfg, 64, 96),
            str(tmp),
            dynamo=True,
            opset_version=18,
            input_names=list(names),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=dyn,
            external_data=False,
            verbose=False,
        )
    os.replace(tmp, path)


def compare_with_torch(model, onnx_path: Path, sizes=CHECK_SIZES) -> dict:
    import onnxruntime as ort
    import torch

    from model import example_inputs, graph_inputs, graph_module

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    per = {}
    for i, (h, w) in enumerate(sizes):
        inp = example_inputs(model.cfg, h, w, seed=100 + i)
        with torch.no_grad():
            ref = model(*inp).numpy()
        # The same values as the graph takes them (the light split off the prompt's tail).
        feed = {n: t.numpy() for n, t in zip(model.cfg.input_names, graph_inputs(model.cfg, h, w, seed=100 + i))}
        with torch.no_grad():
            wrapped = graph_module(model)(*[torch.from_numpy(v) for v in feed.values()]).numpy()
        if not np.array_equal(wrapped, ref):
            raise RuntimeError(f"the export wrapper changes the student's output at {h}x{w}")
        got = sess.run(None, feed)[0]
        if got.shape != ref.shape:
            raise RuntimeError(f"ONNX output shape {got.shape} != PyTorch {ref.shape} at {h}x{w}")
        d = float(np.abs(got - ref).max())
        per[f"{w}x{h}"] = d
        worst = max(worst, d)
    return {"max_abs_diff": worst, "per_size": per}


def describe(cfg) -> str:
    if cfg.head == "affine":
        look = "a per-pixel affine colour transform of the current frame plus a full-resolution detail residual"
        if cfg.grid_bins > 1:
            look = look.replace("transform", f"transform (sliced per pixel from a {cfg.grid_bins}-bin bilateral grid)", 1)
        if cfg.global_context:
            look += ", the bottleneck shifted by its frame-wide mean (a global path)"
        if not cfg.deep_path:
            look += " (U-Net levels down to quarter resolution only)"
    else:
        look = "a residual over the current frame"
    feedback = "its own reprojected previous output" if cfg.use_prev else "no feedback of its own output"
    light = (
        ", the frame's light (sun and up in view space, read as N.sun and N.up planes)" if cfg.reads_light_input else ""
    )
    return (
        "Real-time student (pixel-unshuffle U-Net with FiLM prompt conditioning) that turns game frames into "
        f"photoreal frames for a weather prompt; predicts {look}; inputs: frames, edges, depth, normals, "
        f"prompt{light}, {feedback}."
    )


def exposure_rule(run: dict, weathers: list[str]) -> dict | None:
    """The manifest's `exposure` section (docs/formats.md): the path tracer's rule for how bright a
    target is against its engine frame (postprocess.clip_exposure), which the runtime's exposure
    lock holds the output to. Only where every training target was made under it."""
    gens = [str(g) for g in run.get("generators") or []]
    if not gens or not all(g.startswith("realmaster-pathtrace") for g in gens):
        return None
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    from models.pathtrace.postprocess import ENGINE_REF, KEYS

    default = KEYS.get("clear", 0.2)
    return {
        "tone_curve": "aces-fit",
        "engine_ref": ENGINE_REF,
        "keys": {w: KEYS.get(w, default) for w in weathers},
        "default_key": default,
    }


def write_presets(out: Path, weathers: list[str]) -> tuple[dict, str]:
    from make_text_encoder import atomic_write_text
    from prompts import load_bank, load_prompts

    ws, default, _ = load_prompts()
    bank = load_bank()
    presets = {w: [round(float(x), 7) for x in bank[ws[w].prompt]] for w in weathers}
    atomic_write_text(out / "presets.json", json.dumps({"dim": 384, "presets": presets}) + "\n")
    return presets, default if default in weathers else weathers[0]


def nearest_rows(presets: dict) -> list[dict]:
    from make_text_encoder import nearest_table
    from prompts import load_bank, load_prompts

    _, _, checks = load_prompts()
    bank = load_bank()
    checks = {t: w for t, w in checks.items() if t in bank and w in presets}
    if not checks:
        return []
    q = np.stack([bank[t] for t in checks])
    return nearest_table(checks, {k: np.asarray(v, np.float32) for k, v in presets.items()}, q)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--workdir", type=Path, help="training workdir (newest checkpoint is exported)")
    src.add_argument("--checkpoint", type=Path, help="a specific checkpoint file")
    ap.add_argument("--out", type=Path, required=True, help="model package folder to write")
    ap.add_argument("--name", default="realmaster-student")
    ap.add_argument("--model-version", default="0.1.0")
    ap.add_argument("--metrics", type=Path, help="metrics.json from evaluate.py, for the model card")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max abs ONNX-vs-PyTorch difference allowed")
    ap.add_argument("--upsample-eps", default="",
                    help="the guided upsample's ridge per prompt preset, PRESET=RIDGE,... (0.13.1: rain=1e-2,snow=3e-3,"
                         " stage 65); presets not named keep the runtime's default 1e-3")
    ap.add_argument("--upsample-edge-ridge", type=float, default=None,
                    help="the guided upsample's edge-aware fit: the ridge's factor on the model input's edges, 1..1000,"
                         " with the ridge pulled toward the look's gain off them (stages 66-67); default: not edge-aware")
    ap.add_argument("--upsample-edge-aware", default="",
                    help="how edge-aware each prompt preset's fit is, PRESET=WEIGHT,... in 0..1 (0.13.2: night=1 with --upsample-edge-ridge 2);"
                         " presets not named 0; empty with --upsample-edge-ridge: every preset 1")
    args = ap.parse_args(argv)
    try:
        return export(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def export(args: argparse.Namespace) -> int:
    import torch

    from model import count_parameters
    from model_card import write_model_card
    from package import build_manifest, upsample_section, validate_package

    torch.manual_seed(0)
    model, state = load_student(args.workdir, args.checkpoint)
    run = state["run"]
    try:
        upsample = upsample_section(args.upsample_eps, list(run["weathers"]), args.upsample_edge_ridge,
                                    args.upsample_edge_aware)
    except ValueError as e:
        raise DataError(f"--upsample-eps / --upsample-edge-ridge / --upsample-edge-aware: {e}",
                        "pass e.g. --upsample-eps rain=1e-2,snow=3e-3 --upsample-edge-ridge 2 --upsample-edge-aware night=1") from None
    if model.cfg.sun_dim and not model.cfg.reads_light_input:
        raise DataError(
            "this student reads the sun through its FiLM layers only (--arch affine-global-sun), which the runtime does not feed",
            "export students with light planes (--arch affine-global-light: sun and up as the graph's light input) or without the sun",
        )
    metrics = None
    if args.metrics is not None:
        if not args.metrics.is_file():
            raise DataError(f"metrics file {args.metrics} does not exist", "run evaluate.py first or leave out --metrics")
        metrics = json.loads(args.metrics.read_text())
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out / "model.onnx")
    check = compare_with_torch(model, out / "model.onnx")
    print(f"ONNX Runtime vs PyTorch: max abs diff {check['max_abs_diff']:.2e} ({check['per_size']})")
    if not check["max_abs_diff"] <= args.tolerance:
        print(f"error: ONNX output differs from PyTorch by more than {args.tolerance}", file=sys.stderr)
        return 1
    presets, default = write_presets(out, run["weathers"])
    manifest = build_manifest(
        out,
        name=args.name,
        model_version=args.model_version,
        description=describe(model.cfg),
        window=model.cfg.window,
        default_size=(512, 288),
        prompt_dim=model.cfg.prompt_dim,
        default_preset=default,
        max_tokens=32,
        input_names=model.cfg.input_names,
        exposure=exposure_rule(run, run["weathers"]),
        upsample=upsample,
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    from model_card import lineage

    # read before this export replaces OUT's lineage.json (a run fine-tuned from OUT itself)
    ancestors, missing = lineage(run)
    write_model_card(
        out / "MODEL_CARD.md",
        name=args.name,
        version=args.model_version,
        run=run,
        step=int(state["step"]),
        params=count_parameters(model),
        onnx_check=check,
        nearest=nearest_rows(presets),
        metrics=metrics,
        workdir=args.workdir,
    )
    (out / LINEAGE).write_text(json.dumps({
        "stages": [stage_record(r) for r in ancestors + [run]],
        "complete": not missing,
    }, indent=1) + "\n")
    probs = validate_package(out)
    if probs:
        print("error: the written package does not validate:\n  " + "\n  ".join(probs), file=sys.stderr)
        return 1
    print(f"wrote model package {out} (step {state['step']}, {count_parameters(model)} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
