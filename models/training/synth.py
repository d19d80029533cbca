#!/usr/bin/env python3
"""Tiny synthetic sequence folders in the exact docs/formats.md layout, for tests and dry runs.

Three textured layers (background at 30 m, two boxes at 8 m and 4 m) slide at their own speeds, so
color, depth, normals and motion agree with each other (motion = minus the layer's velocity where
that layer is visible; zero at frame 0 and at the cut). Targets are simple per-weather transforms
of the color (fog by depth, darker night, rain streaks that change every frame). This is NOT the
training data (realmaster-samples renders that); it only exercises the code paths.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from seqio import write_exr, write_png_u8, write_sequence_json

WEATHERS = ("clear", "rain", "fog", "snow", "night", "golden_hour")


def _texture(x: np.ndarray, y: np.ndarray, base: tuple[float, float, float], freq: float) -> np.ndarray:
    s = 0.5 + 0.25 * np.sin(x * freq) * np.cos(y * freq * 0.7) + 0.25 * ((np.floor(x / 9) + np.floor(y / 7)) % 2)
    return np.clip(np.stack([base[0] * s, base[1] * s, base[2] * s], axis=-1), 0.0, 1.0)


def _target(weather: str, rgb: np.ndarray, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if weather == "clear":
        return np.clip((rgb - 0.5) * 1.15 + 0.52, 0, 1)
    if weather == "fog":
        f = np.exp(-z / 15.0)[..., None]
        return rgb * f + 0.75 * (1 - f)
    if weather == "night":
        return np.clip(rgb * np.array([0.25, 0.3, 0.45]), 0, 1)
    if weather == "golden_hour":
        return np.clip(rgb * np.array([1.1, 0.85, 0.6]) + 0.05, 0, 1)
    if weather == "snow":
        out = rgb * 0.8 + 0.15
        flakes = rng.random(rgb.shape[:2]) > 0.995
        out[flakes] = 1.0
        return np.clip(out, 0, 1)
    # rain: darker, with short vertical streaks at random places each frame
    out = rgb * 0.7
    streak = rng.random(rgb.shape[:2]) > 0.993
    for k in range(3):
        out[np.roll(streak, k, axis=0)] += 0.25
    return np.clip(out, 0, 1)


def write_synthetic_sequence(
    root: Path,
    width: int = 64,
    height: int = 48,
    frames: int = 6,
    cut: int | None = 3,
    weathers: tuple[str, ...] = ("clear", "fog"),
    split: str = "train",
    seed: int = 0,
) -> Path:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # Per shot: layer velocities (px/frame) and start offsets.
    shots = []
    for _ in range(2):
        shots.append(
            {
                "v": rng.uniform(-2.0, 2.0, size=(3, 2)).round(2),
                "o": rng.uniform(0, 40, size=(3, 2)),
            }
        )
    layers = [
        {"z": 30.0, "base": (0.5, 0.7, 0.9), "freq": 0.3, "normal": (0.0, 0.0, 1.0), "box": None},
        {"z": 8.0, "base": (0.8, 0.5, 0.3), "freq": 0.7, "normal": (0.3, 0.0, 0.954), "box": (0.2, 0.25, 0.35, 0.45)},
        {"z": 4.0, "base": (0.3, 0.8, 0.4), "freq": 1.1, "normal": (0.0, 0.4, 0.917), "box": (0.55, 0.4, 0.25, 0.35)},
    ]
    for i in range(frames):
        shot = 1 if (cut is not None and i >= cut) else 0
        t = i - (cut if shot else 0)
        rgb = np.zeros((height, width, 3), np.float32)
        z = np.zeros((height, width), np.float32)
        nrm = np.zeros((height, width, 3), np.float32)
        mot = np.zeros((height, width, 2), np.float32)
        for li, layer in enumerate(layers):
            v = shots[shot]["v"][li]
            off = shots[shot]["o"][li]
            lx = xs - v[0] * t - off[0]
            ly = ys - v[1] * t - off[1]
            if layer["box"] is None:
                mask = np.ones((height, width), bool)
            else:
                bx, by, bw, bh = layer["box"]
                # The box itself moves with the layer.
                cx = bx * width + v[0] * t
                cy = by * height + v[1] * t
                mask = (xs >= cx) & (xs < cx + bw * width) & (ys >= cy) & (ys < cy + bh * height)
            rgb[mask] = _texture(lx, ly, layer["base"], layer["freq"])[mask]
            z[mask] = layer["z"]
            nrm[mask] = layer["normal"]
            mot[mask] = (-v[0], -v[1]) if t > 0 else (0.0, 0.0)
        write_png_u8(root / f"color/{i:04d}.png", np.round(rgb * 255))
        write_exr(root / f"depth/{i:04d}.exr", {"Z": z})
        write_exr(root / f"normals/{i:04d}.exr", {"R": nrm[..., 0], "G": nrm[..., 1], "B": nrm[..., 2]})
        write_exr(root / f"motion/{i:04d}.exr", {"R": mot[..., 0], "G": mot[..., 1]})
        for w in weathers:
            write_png_u8(root / f"targets/{w}/{i:04d}.png", np.round(_target(w, rgb, z, rng) * 255))
    write_sequence_json(
        root,
        {
            "format": "realmaster-sequence",
            "version": 1,
            "width": width,
            "height": height,
            "fps": 24.0,
            "frame_count": frames,
            "color": {"pattern": "color/{frame:04}.png", "encoding": "png_srgb"},
            "depth": {"pattern": "depth/{frame:04}.exr", "convention": "view_z"},
            "normals": {"pattern": "normals/{frame:04}.exr", "space": "view"},
            "motion": {"pattern": "motion/{frame:04}.exr", "convention": "pixels_to_previous"},
            "targets": {w: f"targets/{w}/{{frame:04}}.png" for w in weathers},
            "cuts": [cut] if cut is not None else [],
            "meta": {"scene": "synthetic", "camera": "slide", "seed": seed, "split": split},
        },
    )
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--heldout", type=int, default=1, help="how many of the clips get meta.split 'heldout'")
    ap.add_argument("--size", type=int, nargs=2, default=(64, 48), metavar=("W", "H"))
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--weathers", default="clear,fog")
    args = ap.parse_args(argv)
    ws = tuple(args.weathers.split(","))
    for c in range(args.clips):
        split = "heldout" if c >= args.clips - args.heldout else "train"
        write_synthetic_sequence(
            args.out / f"clip_{c:03d}", args.size[0], args.size[1], args.frames, args.frames // 2, ws, split, seed=c
        )
    print(f"wrote {args.clips} clips to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
