"""Shared pieces of the RealMaster method stages: clips, edge maps, run records, Ray fan-out, seeds.

Clips are read through models/training/seqio.py and edge maps come from models/training/imgops.py
(the runtime's edge recipe, the same one the student trains with): nothing here re-implements them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

_TRAINING = Path(__file__).resolve().parents[1] / "training"
if str(_TRAINING) not in sys.path:
    sys.path.insert(0, str(_TRAINING))

import imgops  # noqa: E402
import seqio  # noqa: E402

log = logging.getLogger("method")

# One instruction per weather: the image editor's prompt (anchors) and the video prompts (propagate,
# IC-LoRA). Users override them with --prompts FILE ({"rain": "...", ...}).
EDIT_PROMPTS: dict[str, str] = {
    "clear": "turn this into a photo of the city on a clear day, photoreal, real footage",
    "rain": "turn this into a photo of the city in heavy rain at dusk with wet ground, photoreal",
    "fog": "turn this into a photo of the city on a foggy morning, photoreal",
    "snow": "turn this into a photo of the city in snow, photoreal",
    "night": "turn this into a photo of the city at night with street lights, photoreal",
    "golden_hour": "turn this into a photo of the city at golden hour, photoreal",
}
VIDEO_PROMPTS: dict[str, str] = {w: p.replace("turn this into a ", "a ") for w, p in EDIT_PROMPTS.items()}


class StageError(Exception):
    """A problem the user can fix: printed as one line, exit status 2."""


def parse_size(s: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in s.lower().split("x"))
    except ValueError:
        raise StageError(f"--size {s!r}: expected WxH, e.g. 832x480") from None
    if w % 16 or h % 16 or w <= 0 or h <= 0:
        raise StageError(f"--size {s}: width and height must be positive multiples of 16 (VAE 8 x patch 2)")
    return w, h


def check_frames(n: int) -> int:
    if n < 1 or (n - 1) % 4:
        raise StageError(f"--frames {n}: Wan's VAE needs 4k+1 frames (1, 5, 9, ..., 81)")
    return n


def load_prompts(path: Path | None, base: dict[str, str]) -> dict[str, str]:
    prompts = dict(base)
    if path is not None:
        extra = json.loads(Path(path).read_text())
        if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
            raise StageError(f"{path}: expected a JSON object weather -> prompt text")
        prompts.update(extra)
    return prompts


def set_threads(n: int | None) -> None:
    import torch

    if n:
        torch.set_num_threads(n)


# ---------------------------------------------------------------------------------------------
# Clips


@dataclass
class Clip:
    """`frames` engine frames of a sequence folder, resized to the working size, with edge maps."""

    name: str
    root: Path
    indices: list[int]
    color: np.ndarray  # [N, H, W, 3] uint8
    edges: np.ndarray  # [N, H, W] float32 0/1

    @property
    def size(self) -> tuple[int, int]:
        return self.color.shape[2], self.color.shape[1]


def _resize(a: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    from PIL import Image

    if (a.shape[1], a.shape[0]) == size:
        return a
    if a.dtype == np.uint8:
        return np.asarray(Image.fromarray(a).resize(size, Image.NEAREST if nearest else Image.BILINEAR))
    chans = [np.asarray(Image.fromarray(a[..., c].astype(np.float32), mode="F").resize(size, Image.NEAREST))
             for c in range(a.shape[2])] if a.ndim == 3 else [
        np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize(size, Image.NEAREST))]
    return np.stack(chans, -1) if a.ndim == 3 else chans[0]


def load_clip(root: Path, frames: int, size: tuple[int, int] | None, start: int = 0, stride: int = 1) -> Clip:
    """Reads `frames` frames from `start` (every `stride`-th), resizes them, computes the edge maps.

    Edges use the runtime's recipe on the resized colour plus depth and normals where the sequence
    has them (the runtime computes them after resampling to the model size, so do we).
    """
    seq = seqio.load_sequence(root)
    idx = [start + i * stride for i in range(frames)]
    if idx[-1] >= seq.frame_count:
        raise StageError(f"{root}: needs frames {idx[0]}..{idx[-1]}, the sequence has {seq.frame_count}")
    size = size or (seq.width, seq.height)
    color, edges = [], []
    for i in idx:
        rgb = _resize(seq.load_color_u8(i), size)
        z = seq.load_depth_z(i)
        n = seq.load_normals(i)
        z = _resize(z, size, nearest=True) if z is not None else None
        n = _resize(n, size, nearest=True) if n is not None else None
        color.append(rgb)
        edges.append(imgops.edge_map(rgb.astype(np.float32) / 255.0, z, n).astype(np.float32))
    return Clip(seq.name, Path(root), idx, np.stack(color), np.stack(edges))


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Writes through a temporary name, so an interrupted stage never leaves a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    seqio.write_png_u8(tmp, rgb)
    os.replace(tmp, path)


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, np.float32) * 255.0), 0, 255).astype(np.uint8)


def write_json(path: Path, d: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(d, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_paired_sequence(out: Path, clip: Clip, targets: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """A sequence folder (docs/formats.md) holding the engine frames and one target clip per weather.

    models/training reads it like any sequence folder. Depth, normals and motion are not copied:
    they are optional there, and the working size usually differs from the source's.
    """
    n = len(clip.indices)
    for i in range(n):
        write_png(out / "color" / f"{i:04}.png", clip.color[i])
        for w, frames in targets.items():
            write_png(out / "targets" / w / f"{i:04}.png", frames[i])
    write_json(out / "sequence.json", {
        "format": "realmaster-sequence", "version": 1,
        "width": clip.size[0], "height": clip.size[1], "fps": 24.0, "frame_count": n,
        "color": {"pattern": "color/{frame:04}.png", "encoding": "png_srgb"},
        "targets": {w: f"targets/{w}/{{frame:04}}.png" for w in targets},
        "meta": {"source": str(clip.root), "source_frames": clip.indices, "split": "train", **meta},
    })


# ---------------------------------------------------------------------------------------------
# Run records and fan-out


def record_run(out: Path, stage: str, args: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """out/run.json: the stage, its arguments (seeds, prompts, weights paths) and per-item results."""
    prev = read_json(out / "run.json") if (out / "run.json").exists() else {"runs": []}
    prev["runs"].append({"stage": stage, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                         "args": dict(args),
                         "results": results})
    write_json(out / "run.json", prev)


def fan_out(fn: Callable[[dict[str, Any]], dict[str, Any]], jobs: list[dict[str, Any]], ray_address: str | None,
            num_gpus: float = 0.0) -> list[dict[str, Any]]:
    """One task per job: in this process without --ray-address, else one Ray task each.

    `local` starts a Ray instance on this machine (what the tests use); any other address joins a
    cluster, where every node needs this checkout and the weights at the same paths.
    """
    if not ray_address:
        return [fn(j) for j in jobs]
    import ray
    import ray.cloudpickle as cp

    # The code travels by value, so workers need not have this package on their import path.
    mods = [m for k, m in list(sys.modules.items()) if k.startswith("models.method") and k != "models.method"]
    for mod in [*mods, imgops, seqio]:
        cp.register_pickle_by_value(mod)
    if not ray.is_initialized():
        if ray_address == "local":
            ray.init(num_cpus=min(2, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        else:
            ray.init(address=ray_address, log_to_driver=False)
    task = ray.remote(num_cpus=1, num_gpus=num_gpus)(fn)
    return list(ray.get([task.remote(j) for j in jobs]))


def torch_dtype(name: str):  # noqa: ANN201
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def device_of(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
