#!/usr/bin/env python3
"""Train the student on rendered sequence folders (CPU, channels_last, random crops; fp32 or bf16 autocast).

  python models/training/train.py --config smoke --data data/train --workdir out/train-smoke
  python models/training/train.py --config full  --data data/train --workdir out/train-full

Checkpoints go to WORKDIR/checkpoints/step_NNNNNNN.pt every --checkpoint-every steps (written to a
temporary file, fsynced, then renamed, so a crash never leaves a half checkpoint). Running the same
command again resumes from the newest checkpoint (weights, optimizer, step, RNG states); batches
depend only on (seed, step), so the resumed run trains exactly as an uninterrupted one would.
SIGINT/SIGTERM finish the current step, write a checkpoint and exit with status 130.
Errors in arguments or data print what is wrong and how to fix it and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import time
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from data import parse_weather_variants, parse_weather_weights
from seqio import DataError, find_sequences

EXIT_DATA = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class TrainConfig:
    name: str
    steps: int
    batch: int  # pairs per step (2x as many images)
    crop: int
    lr: float
    warmup: int
    checkpoint_every: int
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 1234
    # bf16 autocast by default: measured 2.9 vs 5.1 s/step (fp32) for the full config on the 2-core
    # AVX512-BF16 build machine. fp32 stays selectable for CPUs without bf16 support.
    precision: str = "bf16"
    # Realism (models/training/realism.py): VGG16 perceptual distance to the paired target on the
    # current frames, and a Projected-GAN discriminator (frozen EfficientNet-Lite0) that compares
    # output crops with real-photo crops (--real-photos), switched on after gan_start steps.
    perceptual: float = 0.0
    gan: float = 0.0
    gan_start: int = 0
    # Which weights the adversarial gradient reaches: "all", or "detail" (only the affine head's
    # full-resolution detail branch: the colour transform keeps to the paired losses, the GAN works
    # on texture). Measured in docs/photoreal.md (stage 15).
    gan_params: str = "all"
    # 0: the adversarial term pulls every pixel alike. > 0: each pixel's pull is weighted by
    # min(1, local |Laplacian| of the paired target / gan_texture) (realism.texture_weight), so it adds
    # texture where the target has texture and leaves smooth targets (fog, sky) to the paired losses.
    gan_texture: float = 0.0
    # Comma list of the weathers whose outputs the adversarial term pulls ("" = every weather): the
    # prompts whose path-traced targets are no nearer real photographs than the engine frames are
    # (docs/photoreal.md, stage 69) get the pull, the rest keep to the paired losses alone.
    gan_weathers: str = ""
    # Comma list of the real-photo scene tags the discriminator's real crops come from ("" = every
    # photo): "outdoor" matches the card's KID reference since stage 71 (docs/photoreal.md).
    gan_real_scenes: str = ""
    d_lr: float = 2e-4
    # On 2 CPU cores the frozen VGG16/EfficientNet passes cost more than the student: the realism terms
    # see `realism_batch` of the current frames every `realism_every` steps, weighted up by that factor
    # so the expected gradient is the same.
    realism_batch: int = 4
    realism_every: int = 2
    # share of pairs re-exposed by one linear gain (data.DataConfig.exposure_aug)
    exposure_aug: float = 0.0
    # engine-look variants' targets re-exposed by the look's brightness over its clip's
    # (data.DataConfig.look_exposure_match)
    look_exposure_match: bool = False
    # share of pairs whose engine frames get a white-balance shift (data.DataConfig.white_balance_aug)
    white_balance_aug: float = 0.0
    # share of pairs whose surfaces change colour, frames and target alike (data.DataConfig.albedo_aug)
    albedo_aug: float = 0.0
    # comma-separated weathers never recoloured by it (data.DataConfig.albedo_aug_skip)
    albedo_aug_skip: str = ""
    # comma-separated weather=weight: how often each weather's pairs are drawn relative to the
    # others, absent = 1 (data.DataConfig.weather_weights)
    weather_weights: str = ""
    # WEATHER=VARIANT: that weather's pairs only from look variants <clip>__VARIANT (data.variant_items)
    weather_variant: str = ""
    # weight of the Sobel-gradient term (losses.LossWeights.edge); its default is the losses' default
    edge: float = 0.5
    # weight of the temporal term (losses.LossWeights.temporal: the output's change along the motion
    # vectors held to the target's); its default is the losses' default
    temporal: float = 0.5
    # weight of the local detail-energy term (losses.sharpness_loss; 0 = off): as much fine detail
    # per 8x8 window as the target has, wherever in the window it lies
    sharpness: float = 0.0


CONFIGS: dict[str, TrainConfig] = {
    "smoke": TrainConfig("smoke", steps=6, batch=2, crop=32, lr=2e-3, warmup=2, checkpoint_every=2),
    # 1.5-3 s/step on 2 cores (bf16, depending on what else runs): 1600 steps of 96 px crops take 30-70 minutes.
    "full": TrainConfig("full", steps=1600, batch=8, crop=96, lr=2e-3, warmup=100, checkpoint_every=100),
    # Path-traced pairs (models/pathtrace) plus the realism losses.
    "photoreal": TrainConfig(
        "photoreal", steps=2400, batch=8, crop=96, lr=2e-3, warmup=100, checkpoint_every=100,
        perceptual=0.05, gan=0.01, gan_start=600, realism_batch=4, realism_every=2,
    ),
}

# Student architectures (model.StudentConfig); the ablation table in the model card compares them.
ARCHS: dict[str, dict[str, Any]] = {
    "unet-prev": {"use_prev": True, "head": "residual"},  # the first shipped student
    "unet": {"use_prev": False, "head": "residual"},
    "affine": {"use_prev": False, "head": "affine"},
    # the affine head's transforms on a bilateral grid of 8 bins (HDRNet's slicing); --init-from an
    # affine student starts it with every bin at that student's transform (model.lift_to_grid)
    "affine-grid": {"use_prev": False, "head": "affine", "grid_bins": 8},
    # the affine student with a global path (HDRNet's): --init-from an affine student starts it as
    # that student (the path's last layer zero)
    "affine-global": {"use_prev": False, "head": "affine", "global_context": True},
    # the affine student without the U-Net's levels below quarter resolution; --init-from an affine
    # student whose deep path died computes that student's output (model.prune_deep_path)
    "affine-shallow": {"use_prev": False, "head": "affine", "deep_path": False},
    # experimental, PyTorch only (the runtime has no sun input yet): affine-global reading the
    # engine's sun in view space beside the prompt (model.StudentConfig.sun_dim); --init-from an
    # affine-global student starts it as that student (model.lift_sun)
    "affine-global-sun": {"use_prev": False, "head": "affine", "global_context": True, "sun_dim": 3},
    # experimental likewise: the sun and the world's up direction read per pixel as N.sun and N.up
    # beside the inputs (model.StudentConfig.light_planes; their weights from zero, model.lift_sun)
    "affine-global-light": {"use_prev": False, "head": "affine", "global_context": True, "sun_dim": 6, "light_planes": True},
}
DEFAULT_ARCH = "affine"

# Settings that may change between a run and its resumption without changing the result.
RESUME_FREE = {"checkpoint_every"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="full", help="preset (default: full)")
    ap.add_argument("--data", type=Path, action="append", help="sequence folder or folder of them (repeatable; default data/train)")
    ap.add_argument("--workdir", type=Path, required=True, help="checkpoints, run.json and log.jsonl go here")
    ap.add_argument("--arch", choices=sorted(ARCHS), default=DEFAULT_ARCH, help=f"student architecture (default {DEFAULT_ARCH})")
    ap.add_argument("--steps", type=int, help="override the preset's total steps (0 with --init-from: save the lifted or pruned student untrained)")
    ap.add_argument("--batch", type=int, help="override pairs per step")
    ap.add_argument("--crop", type=int, help="override crop size (multiple of 16)")
    ap.add_argument("--lr", type=float, help="override peak learning rate")
    ap.add_argument("--seed", type=int, help="override seed")
    ap.add_argument("--precision", choices=["bf16", "fp32"], help="bf16 autocast (default) or fp32")
    ap.add_argument("--checkpoint-every", type=int, help="override checkpoint interval in steps")
    ap.add_argument("--perceptual", type=float, help="override the VGG16 perceptual loss weight (0 = off)")
    ap.add_argument("--gan", type=float, help="override the adversarial loss weight (0 = off; needs --real-photos)")
    ap.add_argument("--edge", type=float, help="override the edge (Sobel gradient) loss weight (default 0.5)")
    ap.add_argument("--temporal", type=float, help="override the temporal loss weight (the output's frame-to-frame change held to the target's; default 0.5)")
    ap.add_argument("--sharpness", type=float, help="weight of the detail-energy loss (the output's mean |Laplacian| per 8x8 window held to the target's; default 0 = off)")
    ap.add_argument("--gan-start", type=int, help="override the step the adversarial loss starts at")
    ap.add_argument(
        "--gan-params",
        choices=("all", "detail"),
        help="weights the adversarial gradient reaches: all, or only the detail branch (--arch affine)",
    )
    ap.add_argument(
        "--gan-texture",
        type=float,
        help="weight the adversarial term per pixel by min(1, the target's local |Laplacian| / this scale) "
        "(0 = uniform, the default; 0.03 ~ the 70th percentile of the path-traced targets' texture)",
    )
    ap.add_argument(
        "--gan-weathers",
        help="comma list of the weathers whose outputs the adversarial term pulls (default: every weather)",
    )
    ap.add_argument(
        "--gan-real-scenes",
        help="comma list of the real-photo scene tags (outdoor, indoor, close-up) the discriminator's real crops come from (default: every photo)",
    )
    ap.add_argument("--exposure-aug", type=float, help="share of pairs re-exposed by one linear gain of 2^U(-3, 0.5) (0 = off)")
    ap.add_argument(
        "--look-exposure-match",
        action="store_true",
        default=None,
        help="re-expose each engine-look variant's targets (<clip>__lookN) by the look's engine brightness over its clip's, "
        "the teacher's own exposure rule, so the looks teach grade and not exposure (sun variants keep theirs)",
    )
    ap.add_argument("--white-balance-aug", type=float, help="share of pairs whose engine frames (not the target) get red and blue gains of 2^U(-0.4, 0.4) (0 = off)")
    ap.add_argument("--albedo-aug", type=float, help="share of pairs whose engine frames, previous output and target get the same per-channel gains 2^(U(-1, 1) - mean), as if the surfaces had other colours (0 = off)")
    ap.add_argument("--albedo-aug-skip", help="comma-separated weathers whose pairs --albedo-aug never recolours (targets that are not albedo x light, e.g. fog,snow)")
    ap.add_argument("--real-photos", type=Path, help="real-photo cache (realphotos.py extract) for the discriminator")
    ap.add_argument("--init-from", type=Path, help="start from this checkpoint's weights, or an exported package's (folder or model.onnx; same --arch; a fine-tune: new optimizer, step 0)")
    ap.add_argument("--reinit-deep", action="store_true", help="after --init-from, give the U-Net a fresh deep path (below the quarter-resolution level) with up1 at zero, keeping the output: revives a student whose deep path died (docs/photoreal.md, stage 28)")
    ap.add_argument("--light-gain", type=float, default=1.0, help="--arch affine-global-light: factor on the N.sun and N.up planes, which under Adam is that factor on their weights' learning rate (default 1)")
    ap.add_argument("--kept-lr-scale", type=float, default=1.0, help="with --init-from: learning-rate factor for the weights outside the deep path (the deep path, fresh with --reinit-deep or lifted, and the global path train at --lr; default 1)")
    ap.add_argument("--weathers", help="comma-separated subset of target weathers (default: all in the data)")
    ap.add_argument(
        "--weather-variant",
        help="comma-separated WEATHER=VARIANT: take that weather's pairs only from the look variants <clip>__VARIANT "
        "passed in --data, e.g. golden_hour=sun8 (the engine under golden hour's own sun; models.pathtrace --engine-sun-elev 8)",
    )
    ap.add_argument("--weather-weights", help="comma-separated WEATHER=WEIGHT: draw those weathers' pairs that much more often than the others' (weight 1), e.g. golden_hour=3")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    ap.add_argument("--keep", type=int, default=3, help="checkpoints to keep (default 3)")
    ap.add_argument("--stop-after", type=int, default=0, help="stop (with a checkpoint) after this many steps in this invocation")
    ap.add_argument("--fresh", action="store_true", help="start over even if WORKDIR has checkpoints (they are deleted)")
    ap.add_argument("--log-every", type=int, default=10)
    args = ap.parse_args(argv)
    for name in ("steps", "batch", "crop", "checkpoint_every", "keep", "log_every"):
        v = getattr(args, name)
        if v is not None and v <= 0 and not (name == "steps" and v == 0 and args.init_from is not None):
            ap.error(f"--{name.replace('_', '-')} must be positive (got {v}; 0 only with --init-from: the initialised student, untrained)")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        ap.error(f"--lr must be a positive number (got {args.lr})")
    if args.crop is not None and args.crop % 16:
        ap.error(f"--crop must be a multiple of 16 (got {args.crop}); the model needs H and W divisible by 16")
    if args.stop_after < 0 or args.threads < 0:
        ap.error("--stop-after and --threads must not be negative")
    for name in ("perceptual", "gan", "edge", "temporal", "sharpness", "gan_texture"):
        v = getattr(args, name)
        if v is not None and not (math.isfinite(v) and v >= 0):
            ap.error(f"--{name.replace('_', '-')} must be a non-negative number (got {v})")
    if args.exposure_aug is not None and not (0.0 <= args.exposure_aug <= 1.0):
        ap.error(f"--exposure-aug must be between 0 and 1 (got {args.exposure_aug})")
    if args.white_balance_aug is not None and not (0.0 <= args.white_balance_aug <= 1.0):
        ap.error(f"--white-balance-aug must be between 0 and 1 (got {args.white_balance_aug})")
    if args.albedo_aug is not None and not (0.0 <= args.albedo_aug <= 1.0):
        ap.error(f"--albedo-aug must be between 0 and 1 (got {args.albedo_aug})")
    if args.gan_start is not None and args.gan_start < 0:
        ap.error(f"--gan-start must not be negative (got {args.gan_start})")
    if args.weather_weights is not None:
        try:
            weights = parse_weather_weights(args.weather_weights)
        except ValueError as e:
            ap.error(f"--weather-weights: {e}")
        if args.weathers:
            unknown = sorted(set(weights) - {w.strip() for w in args.weathers.split(",")})
            if unknown:
                ap.error(f"--weather-weights names {', '.join(unknown)}, which --weathers leaves out")
    if args.weather_variant is not None:
        try:
            parse_weather_variants(args.weather_variant)
        except ValueError as e:
            ap.error(f"--weather-variant: {e}")
    return args


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    cfg = CONFIGS[args.config]
    over: dict[str, Any] = {}
    for k in ("steps", "batch", "crop", "lr", "seed", "precision", "checkpoint_every", "perceptual", "gan", "gan_start", "gan_params", "gan_texture", "gan_weathers", "gan_real_scenes", "exposure_aug", "look_exposure_match", "white_balance_aug", "albedo_aug", "edge", "temporal", "sharpness"):
        # (realism_batch / realism_every stay the preset's)
        v = getattr(args, k)
        if v is not None:
            over[k] = v
    if args.albedo_aug_skip is not None:
        over["albedo_aug_skip"] = ",".join(w.strip() for w in args.albedo_aug_skip.split(",") if w.strip())
    if args.weather_weights is not None:
        # one spelling per setting (sorted, weight 1 dropped), so a resumed run compares equal
        weights = parse_weather_weights(args.weather_weights)
        over["weather_weights"] = ",".join(f"{w}={v:g}" for w, v in sorted(weights.items()) if v != 1.0)
    if args.weather_variant is not None:
        over["weather_variant"] = ",".join(f"{w}={v}" for w, v in sorted(parse_weather_variants(args.weather_variant).items()))
    cfg = replace(cfg, **over)
    if cfg.warmup >= cfg.steps:
        cfg = replace(cfg, warmup=max(1, cfg.steps // 10))
    return cfg


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, p))))


# ---------------------------------------------------------------------------------------------
# Checkpoints


def ckpt_dir(workdir: Path) -> Path:
    return workdir / "checkpoints"


def list_checkpoints(workdir: Path) -> list[Path]:
    d = ckpt_dir(workdir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob("step_*.pt") if p.name[5:-3].isdigit())


def atomic_save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def weights_from_package(package: Path, model) -> tuple[dict, Any, str]:
    """`model`'s state dict from the exported package `package` (its model.onnx), carried over
    the changes a fine-tune may make to the package's student: the sun's inputs added (at zero
    weight), the deep path pruned, the affine transform lifted to grid bins and a global path (at
    zero). Returns the weights, the unpruned student where the deep path was pruned (to check the
    pruning on a batch) or None, and how the weights were carried (for the log)."""
    from export import package_weights
    from model import Student, lift_sun, lift_to_grid, prune_deep_path

    model_cfg = model.cfg
    try:
        return package_weights(package, model), None, ""
    except DataError:
        if model_cfg.sun_dim:
            plain = Student(replace(model_cfg, sun_dim=0, light_planes=False, light_gain=1.0))
            plain.load_state_dict(package_weights(package, plain))
            return lift_sun(plain.state_dict(), model), None, ", reading the sun from now on"
        if not model_cfg.deep_path:
            full = Student(replace(model_cfg, deep_path=True))
            full.load_state_dict(package_weights(package, full))
            return prune_deep_path(full.state_dict(), model), full, " without its deep path"
        if model_cfg.grid_bins == 1 and not model_cfg.global_context:
            raise
        # a plain affine package: its transform in every bin, the global path at zero
        flat = Student(replace(model_cfg, grid_bins=1, global_context=False))
        how = f", lifted to {model_cfg.grid_bins} grid bin(s), global path {model_cfg.global_context}"
        return lift_to_grid(package_weights(package, flat), model), None, how


def save_checkpoint(workdir: Path, step: int, model, opt, run: dict, keep: int, disc=None, opt_d=None) -> Path:
    import torch

    state = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "disc": disc.state_dict() if disc is not None else None,
        "opt_d": opt_d.state_dict() if opt_d is not None else None,
        "run": run,
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
        },
    }
    d = ckpt_dir(workdir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"step_{step:07d}.pt"
    atomic_save(state, path)
    for old in list_checkpoints(workdir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_latest_checkpoint(workdir: Path) -> dict | None:
    """Newest checkpoint that loads; an unreadable one (disk trouble) falls back to the one before."""
    import torch

    for p in reversed(list_checkpoints(workdir)):
        try:
            state = torch.load(p, map_location="cpu", weights_only=False)
            state["path"] = str(p)
            return state
        except Exception as e:  # noqa: BLE001 - any load failure means: try the older one
            print(f"warning: checkpoint {p} is unreadable ({e}); trying an older one", file=sys.stderr)
    return None


# ---------------------------------------------------------------------------------------------


def run_record(cfg: TrainConfig, model_cfg: dict, weathers: list[str], seqs: list) -> dict:
    return {
        "train": asdict(cfg),
        "model": model_cfg,
        "weathers": weathers,
        "sequences": sorted(s.name for s in seqs),
        # For the model card (not compared on resume): where the data came from and what it shows.
        "generators": sorted({str(s.meta.get("generator", "unknown")) for s in seqs}),
        "assets": sorted({a for s in seqs for a in s.meta.get("assets", [])}),
    }


def check_resumable(old: dict, new: dict, workdir: Path) -> None:
    diffs = []
    # A setting added after a run was recorded had its default then.
    train_defaults = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    for section in ("train", "model"):
        for k in sorted(set(old.get(section, {})) | set(new[section])):
            if k in RESUME_FREE:
                continue
            was = old.get(section, {}).get(k, train_defaults.get(k) if section == "train" else None)
            if was != new[section].get(k):
                diffs.append(f"{section}.{k}: {was!r} -> {new[section].get(k)!r}")
    for k in ("weathers", "sequences"):
        if old.get(k) != new[k]:
            diffs.append(f"{k} changed")
    # How the run started (absent = off / 1 / from scratch); resuming from other weights would mix
    # two runs' records, and one package named by two paths is the same start.
    def start(run: dict) -> dict:
        return {**{k: run.get(k) for k in ("reinit_deep", "kept_lr_scale")},
                "init_from": None if run.get("init_from") is None else Path(run["init_from"]).resolve()}

    was, now = start(old), start(new)
    diffs += [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in was if was[k] != now[k]]
    if diffs:
        raise DataError(
            f"{workdir} holds a run with different settings ({'; '.join(diffs)})",
            "resume with the same arguments and data, use a new --workdir, or pass --fresh to start over",
        )


def trim_log(path: Path, step: int) -> None:
    """Drop log lines of steps after the checkpoint being resumed (they are trained again)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if int(json.loads(line)["step"]) <= step:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash
    path.write_text("".join(k + "\n" for k in keep))


def check_pruning(full, pruned, batch: dict) -> None:
    """A student pruned of its deep path must compute what it was pruned from: the deep path dead
    on a training batch and the outputs equal to float rounding, else a clear error (pruning a
    live path changes the student)."""
    import torch

    from model import watch_deep_path

    seen = watch_deep_path(full)
    with torch.no_grad():
        a, b = full.forward_raw(*model_inputs(batch)), pruned.forward_raw(*model_inputs(batch))
    diff = float((a - b).abs().max())
    if seen.get("alive", 1.0) > 0.0 or diff > 1e-5:  # float rounding: convolution algorithms differ by memory layout
        raise DataError(
            f"--arch affine-shallow: the student in --init-from has a live deep path (share alive {seen.get('alive', 1.0):.3f}, "
            f"output change {diff:.2e} on a training batch); pruning it would change the student",
            "train it with --arch affine (or --reinit-deep), or prune only students whose deep path died",
        )
    print(f"deep path pruned exactly: dead on a training batch (share alive 0), outputs equal (max diff {diff:.1e})")


def to_torch(batch: dict[str, np.ndarray]):
    import torch

    return {k: torch.from_numpy(v) for k, v in batch.items()}


MODEL_INPUTS = ("frames", "edges", "depth", "normals", "prev", "prompt")


def model_inputs(batch: dict) -> list:
    """The network runs channels_last (faster CPU convolutions); the losses stay contiguous NCHW."""
    import torch

    return [batch[k].contiguous(memory_format=torch.channels_last) if batch[k].dim() == 4 else batch[k] for k in MODEL_INPUTS]


def gan_weather_ids(names: str, weathers: list[str]) -> list[int] | None:
    """`names` (a comma list; empty = every weather) as indices into `weathers`; DataError on a name
    that is not trained."""
    chosen = [w.strip() for w in names.split(",") if w.strip()]
    if not chosen:
        return None
    unknown = sorted(set(chosen) - set(weathers))
    if unknown:
        raise DataError(
            f"--gan-weathers names {', '.join(unknown)}, not among the weathers trained ({', '.join(weathers)})",
            "name weathers from the targets of sequence.json (or leave --gan-weathers out: every weather)",
        )
    return sorted(weathers.index(w) for w in set(chosen))


class Realism:
    """The realism terms of the objective (perceptual and adversarial), off when their weights are 0.

    Perceptual: VGG16 distance between the current frames' outputs and their targets (relu1_2..relu3_3;
    the deeper layers cost most and matter least at 96 px). Adversarial: the generator term pushes the
    current frames' outputs towards real-photo statistics; the discriminator then takes one step on
    real-photo crops vs the (detached) outputs. Real crops depend only on (seed, step), so resuming is exact.
    """

    def __init__(self, cfg: TrainConfig, real_photos: Path | None, adv_params: list | None = None, weathers: list[str] | None = None) -> None:
        """`adv_params`: the only weights the adversarial gradient may reach (None = all of them).
        `weathers`: the trained weathers in the data's order (its batches' `weather_id`), which
        `cfg.gan_weathers` names a subset of."""
        import torch

        self.cfg = cfg
        self.adv_params = adv_params
        # indices (into `weathers`) of the weathers the adversarial term acts on; None = every one
        self.gan_ids = gan_weather_ids(cfg.gan_weathers, weathers or [])
        self.perc = self.disc = self.opt_d = self.real = None
        if cfg.perceptual > 0:
            from realism import VGGPerceptual

            self.perc = VGGPerceptual(layers=("relu1_2", "relu2_2", "relu3_3"))
        if cfg.gan > 0:
            import realphotos
            from realism import ProjectedDiscriminator

            if real_photos is None or not Path(real_photos).is_dir():
                raise DataError(
                    f"the adversarial loss needs real photographs (--real-photos {real_photos})",
                    "extract them: python models/training/realphotos.py extract --out CACHE, then pass --real-photos CACHE (or --gan 0)",
                )
            # An empty folder or too few photos of the chosen tags: the loader's own error, with its fix.
            try:
                scenes = realphotos.parse_scenes(cfg.gan_real_scenes or None)
                self.real = realphotos.RealPatches(Path(real_photos), scenes)
            except realphotos.DataError as e:
                raise DataError(f"--gan-real-scenes: {e}" if cfg.gan_real_scenes else str(e), e.fix) from e
            self.disc = ProjectedDiscriminator(seed=cfg.seed)
            self.opt_d = torch.optim.Adam(self.disc.trainable_parameters(), lr=cfg.d_lr, betas=(0.0, 0.99))

    def load(self, state: dict) -> None:
        if self.disc is not None and state.get("disc") is not None:
            self.disc.load_state_dict(state["disc"])
            self.opt_d.load_state_dict(state["opt_d"])

    def _on(self, step: int) -> bool:
        return step % max(1, self.cfg.realism_every) == 0

    def _adv_on(self, step: int) -> bool:
        return self.disc is not None and step >= self.cfg.gan_start and self._on(step)

    def _current(self, raw):
        b = raw.shape[0] // 2
        return raw[b : b + min(b, self.cfg.realism_batch)]

    def _adv_rows(self, batch: dict, n: int):
        """Which of the first `n` current rows the adversarial term acts on (a bool tensor), or None
        for all of them."""
        if self.gan_ids is None:
            return None
        import torch

        b = batch["weather_id"].shape[0] // 2
        ids = batch["weather_id"][b : b + n]
        return torch.isin(ids, torch.as_tensor(self.gan_ids, dtype=ids.dtype))

    def generator_terms(self, raw, batch: dict, step: int, parts: dict):
        import torch

        total = torch.zeros((), dtype=torch.float32)
        if not self._on(step):
            return total
        b = raw.shape[0] // 2
        cur = self._current(raw).clamp(0.0, 1.0)
        k = float(max(1, self.cfg.realism_every))
        if self.perc is not None:
            p = self.perc(cur, batch["target"][b : b + cur.shape[0]])
            total = total + k * self.cfg.perceptual * p
            parts["perceptual"] = float(p.detach())
        adv_on = self._adv_on(step)
        rows = self._adv_rows(batch, cur.shape[0]) if adv_on else None
        if adv_on and (rows is None or bool(rows.any())):
            weight = None
            if self.cfg.gan_texture > 0:
                from realism import texture_weight

                weight = texture_weight(batch["target"][b : b + cur.shape[0]], self.cfg.gan_texture)
            if rows is not None:
                # the other weathers' rows weigh 0: their patches lose their pull (the mean still
                # runs over every row, so the term's scale per pulled patch stays the same)
                mask = rows.to(torch.float32).view(-1, 1, 1, 1)
                weight = mask.expand(-1, 1, *cur.shape[2:]) if weight is None else weight * mask
            g = self.disc.g_loss(cur, weight)
            parts["g_adv"] = float(g.detach())
            adv = k * self.cfg.gan * g
            if self.adv_params is None:
                total = total + adv
            else:
                # Its gradient on the chosen weights only, straight into their .grad (the caller
                # cleared the gradients before the forward pass; its backward adds the rest).
                grads = torch.autograd.grad(adv, self.adv_params, retain_graph=True, allow_unused=True)
                for p, gp in zip(self.adv_params, grads):
                    if gp is not None:
                        p.grad = gp if p.grad is None else p.grad + gp
                parts["total"] += float(adv.detach())
        parts["total"] += float(total.detach())
        return total

    def discriminator_step(self, raw, batch: dict, step: int, parts: dict) -> None:
        if not self._adv_on(step):
            return
        fake = self._current(raw).detach().float().clamp(0.0, 1.0)
        rows = self._adv_rows(batch, fake.shape[0])
        if rows is not None:
            # it learns to tell real photographs from the outputs the generator term pulls
            if not bool(rows.any()):
                return
            fake = fake[rows]
        real = self.real.sample(fake.shape[0], fake.shape[-1], seed=self.cfg.seed, step=step)
        d = self.disc.d_loss(real, fake)
        self.opt_d.zero_grad(set_to_none=True)
        d.backward()
        self.opt_d.step()
        parts["d_adv"] = float(d.detach())


def train(args: argparse.Namespace) -> int:
    import torch

    from data import DataConfig, TrainingData, item_probabilities, validate_training_set
    from losses import LossWeights, total_loss, trust_target
    from model import DEEP_PATH, Student, StudentConfig, count_parameters, lift_to_grid, prune_deep_path, reinit_deep_path, watch_deep_path
    from prompts import prompt_table

    cfg = resolve_config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    all_seqs = find_sequences(args.data or [Path("data/train")])
    seqs = [s for s in all_seqs if s.split == "train"]
    weathers = validate_training_set(seqs, args.weathers.split(",") if args.weathers else None, cfg.crop)
    prompts = prompt_table(weathers)
    # checked against the data's weathers before any weights load
    weights = tuple(parse_weather_weights(cfg.weather_weights).items())
    item_probabilities([(0, w) for w in weathers], weathers, dict(weights))
    copyleft = sorted({a for s in seqs for a in s.meta.get("assets", []) if a.startswith("trigger-rally-data")})
    if copyleft:  # the model card's license section must say so; models/pathtrace renders without them by default
        print(
            f"warning: {sum(1 for s in seqs if s.meta.get('asset_policy') != 'permissive' and s.meta.get('assets'))} "
            f"training sequences show GPL-2+ assets ({', '.join(copyleft[:3])}...): weights trained on them may not "
            "ship under MIT/Apache; render with models/pathtrace's default (permissive) assets for a shipped model"
        )
    try:
        model_cfg = StudentConfig(**ARCHS[args.arch], light_gain=args.light_gain)
    except ValueError as e:
        raise DataError(f"--light-gain {args.light_gain} with --arch {args.arch}: {e}", "pass --light-gain only with --arch affine-global-light, and above 0") from e
    run = run_record(cfg, model_cfg.to_dict(), weathers, seqs)
    if args.init_from is not None:
        run["init_from"] = str(args.init_from)
    if args.reinit_deep:
        if not model_cfg.deep_path:
            raise DataError(f"--reinit-deep with --arch {args.arch}", "that student has no deep path; drop --reinit-deep")
        if args.init_from is None:
            raise DataError("--reinit-deep without --init-from", "a fresh student's deep path is already fresh: drop --reinit-deep, or pass --init-from")
        run["reinit_deep"] = True
    if args.kept_lr_scale != 1.0:
        if args.init_from is None:
            raise DataError("--kept-lr-scale without --init-from", "it scales the trained weights' learning rate against the deep path's: add --init-from PACKAGE")
        if not model_cfg.deep_path:
            raise DataError(f"--kept-lr-scale with --arch {args.arch}", "this student has no deep path to train apart from the rest: drop --kept-lr-scale")
        run["kept_lr_scale"] = args.kept_lr_scale

    workdir: Path = args.workdir
    if args.fresh:
        for p in list_checkpoints(workdir):
            p.unlink()
    state = load_latest_checkpoint(workdir)
    if state is not None:
        check_resumable(state["run"], run, workdir)

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = Student(model_cfg).to(memory_format=torch.channels_last)
    if args.kept_lr_scale != 1.0:  # checked above: a lifted student with a deep path
        # --kept-lr-scale S: the deep path and the global path in it (fresh with --reinit-deep, or revived
        # in a stage before) learn at --lr, the weights outside them at S times it (trained for many more
        # steps than the path)
        deep_ids = {id(p) for n in DEEP_PATH if hasattr(model, n) for p in getattr(model, n).parameters()}
        groups = [
            {"params": [p for p in model.parameters() if id(p) in deep_ids], "lr_scale": 1.0},
            {"params": [p for p in model.parameters() if id(p) not in deep_ids], "lr_scale": args.kept_lr_scale},
        ]
        opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    adv_params = None
    if cfg.gan_params == "detail":
        try:
            adv_params = model.detail_parameters()
        except ValueError as e:
            raise DataError(f"--gan-params detail: {e}", "train --arch affine, or use --gan-params all") from e
    realism = Realism(cfg, args.real_photos, adv_params, weathers)
    pruned_from = None  # the student this one was pruned from (checked below on a training batch)
    if args.init_from is not None and state is None:
        if args.init_from.is_dir() or args.init_from.suffix == ".onnx":
            # an exported package (its checkpoint may be gone): the weights from its model.onnx
            package_state, pruned_from, how = weights_from_package(args.init_from, model)
            model.load_state_dict(package_state)
            print(f"initialised from the package {args.init_from}{how}")
        elif not args.init_from.is_file():
            raise DataError(f"--init-from {args.init_from} does not exist", "pass a step_*.pt from another run's checkpoints/ or a model package folder")
        else:
            init = torch.load(args.init_from, map_location="cpu", weights_only=False)
            flat_cfg = replace(model_cfg, grid_bins=1, global_context=False).to_dict()
            if init["run"]["model"] == model_cfg.to_dict():
                model.load_state_dict(init["model"])
            elif (model_cfg.grid_bins > 1 or model_cfg.global_context) and init["run"]["model"] == flat_cfg:
                model.load_state_dict(lift_to_grid(init["model"], model))
            elif not model_cfg.deep_path and init["run"]["model"] == replace(model_cfg, deep_path=True).to_dict():
                pruned_from = Student(replace(model_cfg, deep_path=True))
                pruned_from.load_state_dict(init["model"])
                model.load_state_dict(prune_deep_path(init["model"], model))
            else:
                raise DataError(
                    f"--init-from {args.init_from} holds a {init['run']['model'].get('head')} student with other settings",
                    "pass the --arch that checkpoint was trained with (or affine into affine-grid, affine-global or affine-shallow)",
                )
            print(f"initialised from {args.init_from} (step {init['step']})")
    if args.reinit_deep and state is None:  # a resumed run keeps the revived path it has trained
        reinit_deep_path(model, cfg.seed)
        print("deep path re-initialised (up1 at zero: the output is unchanged)")
    deep = watch_deep_path(model)
    step = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        realism.load(state)
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        step = int(state["step"])
        print(f"resuming from {state['path']} at step {step}/{cfg.steps}")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    trim_log(workdir / "log.jsonl", step)

    data = TrainingData(seqs, weathers, prompts, DataConfig(crop=cfg.crop, batch=cfg.batch, window=model_cfg.window, exposure_aug=cfg.exposure_aug, look_exposure_match=cfg.look_exposure_match, white_balance_aug=cfg.white_balance_aug, albedo_aug=cfg.albedo_aug, albedo_aug_skip=tuple(w for w in cfg.albedo_aug_skip.split(",") if w), weather_weights=weights, weather_variants=tuple(parse_weather_variants(cfg.weather_variant).items()), sun_input=model_cfg.sun_dim))
    lw = LossWeights(edge=cfg.edge, temporal=cfg.temporal, sharpness=cfg.sharpness)
    if pruned_from is not None:
        check_pruning(pruned_from, model, to_torch(data.batch(cfg.seed, 0)))
    print(
        f"training {count_parameters(model)} parameters on {len(seqs)} sequences x {len(weathers)} weathers "
        f"({', '.join(weathers)}); config {cfg.name}: {cfg.steps} steps, batch {cfg.batch} pairs of {cfg.crop}px "
        f"crops, {cfg.precision}, {torch.get_num_threads()} threads"
    )
    if cfg.steps == 0 and state is None:
        # --steps 0: the initialised student as it is (a pruned or lifted package, no training)
        save_checkpoint(workdir, 0, model, opt, run, args.keep, realism.disc, realism.opt_d)
        print(f"--steps 0: saved the initialised student in {workdir / 'checkpoints'} (export it with export.py)")
        return 0
    stop = {"signal": None}

    def on_signal(signum, _frame):  # finish the step, then checkpoint and leave
        stop["signal"] = signum

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    log = open(workdir / "log.jsonl", "a")
    t_start = time.perf_counter()
    timed_steps = 0
    timed_since = None
    cpu_since = 0.0
    done_here = 0
    last_saved = step
    try:
        while step < cfg.steps:
            t0 = time.perf_counter()
            batch = to_torch(data.batch(cfg.seed, step))
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, step) * g.get("lr_scale", 1.0)
            opt.zero_grad(set_to_none=True)  # before the forward: the realism terms may write gradients
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                raw = model.forward_raw(*model_inputs(batch))
            batch["target"] = trust_target(batch["target"], batch["target_weight"], raw)
            loss, parts = total_loss(raw.float().contiguous(), batch, model_cfg.window, lw)
            loss = loss + realism.generator_terms(raw, batch, step, parts)
            if not math.isfinite(parts["total"]):
                raise RuntimeError(f"loss became {parts['total']} at step {step}; lower --lr or use --precision fp32")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            realism.discriminator_step(raw, batch, step, parts)
            step += 1
            done_here += 1
            dt = time.perf_counter() - t0
            if done_here == 1:
                timed_since = time.perf_counter()  # the first step pays for lazy loading and warm-up
                cpu_since = time.process_time()
            else:
                timed_steps += 1
            rate = timed_steps / (time.perf_counter() - timed_since) if timed_steps and timed_since else 1.0 / dt
            rec = {"step": step, "lr": lr_at(cfg, step - 1), "it_s": round(rate, 4), "sec": round(dt, 3), **{k: round(v, 5) for k, v in parts.items()}}
            if "alive" in deep:
                rec["deep_alive"] = round(deep["alive"], 4)
            log.write(json.dumps(rec) + "\n")
            if step % args.log_every == 0 or step == cfg.steps or done_here == 1:
                log.flush()
                extra = "".join(f" {k} {parts[k]:.4f}" for k in ("sharpness", "perceptual", "g_adv", "d_adv") if k in parts)
                alive = f"  deep path alive {rec['deep_alive']:.3f}" if "deep_alive" in rec else ""
                print(
                    f"step {step}/{cfg.steps}  loss {parts['total']:.4f} (l1 {parts['l1']:.4f} ssim {parts['ssim']:.3f} "
                    f"temporal {parts['temporal']:.4f} edge {parts['edge']:.4f}{extra}){alive}  {rate:.3f} it/s",
                    flush=True,
                )
            interrupted = stop["signal"] is not None or (args.stop_after and done_here >= args.stop_after)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or interrupted:
                save_checkpoint(workdir, step, model, opt, run, args.keep, realism.disc, realism.opt_d)
                last_saved = step
            if interrupted:
                why = "signal" if stop["signal"] is not None else f"--stop-after {args.stop_after}"
                print(f"stopped at step {step}/{cfg.steps} ({why}); checkpoint saved; run the same command to resume")
                return EXIT_INTERRUPTED if stop["signal"] is not None else 0
    finally:
        log.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    if done_here == 0:
        print(f"nothing to do: {workdir} already holds step {step}/{cfg.steps}")
        return 0
    elapsed = time.perf_counter() - t_start
    summary = {"steps": step, "last_checkpoint_step": last_saved, "seconds_this_run": round(elapsed, 1)}
    if timed_steps:
        summary["it_s"] = round(timed_steps / (time.perf_counter() - timed_since), 4)
        # CPU seconds per step: with other jobs on the machine, threads / this bounds the idle-machine rate.
        summary["cpu_s_per_step"] = round((time.process_time() - cpu_since) / timed_steps, 3)
        summary["threads"] = torch.get_num_threads()
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"done: {step} steps; {json.dumps(summary)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return train(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DATA


if __name__ == "__main__":
    sys.exit(main())
