"""How much of a path-traced target per-pixel maps of the engine frame and its G-buffers reach.

For each clip and prompt this fits families of per-pixel maps to the target by least squares over
the clip's frames, on the target itself (an oracle), and reports their PSNR next to pass-through's:

- `affine`: one colour matrix and offset (a global grade);
- `quadratic`: a global grade with the colour's squares and products (tone curves, saturation);
- `gbuffer`: `quadratic` plus the colour times the view-space normal and times log depth (what the
  student's inputs give at a pixel);
- `sun` (golden hour only): `gbuffer` plus the colour times max(0, N.L) for the target's low sun
  (8 deg up) at the best of 24 azimuths: what knowing that sun's direction would add, without the
  shadows it casts.

Each family is fitted two ways: on one clip (`own`: per-clip coefficients, as if the map knew the
clip) and on all the clips given at once (`shared`: one map for every clip, as one student is).
A student sees neighbourhoods, not one pixel, so these are not bounds on it; they show how much of
a prompt's target is light the engine frame does not carry. PSNR is over all of a clip's pixels at
once (`realmaster eval` averages per frame; within 0.05 dB on the committed clips).

    python models/training/grade_ceiling.py samples/heldout_pathtrace_* samples/heldout_downtown_orbit_pathtraced
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seqio import DataError, Sequence, find_sequences  # noqa: E402

FAMILIES = ("affine", "quadratic", "gbuffer", "sun")
SUN_ELEVATION_DEG = 8.0  # models/pathtrace/bpy_weather.py: WEATHERS["golden_hour"]["elev"]
SUN_WEATHER = "golden_hour"  # the one prompt whose sun is not where the engine frame's is
AZIMUTH_STEP_DEG = 15


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two images with values in [0, 1] (the prediction clipped to that range)."""
    mse = float(np.mean((np.clip(a, 0.0, 1.0) - b) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def camera_rotations(seq: Sequence) -> list[np.ndarray] | None:
    """Per frame, the camera-to-world rotation from render_info.json (None without one)."""
    info = seq.root / "render_info.json"
    if not info.is_file():
        return None
    mats = json.loads(info.read_text()).get("matrices")
    if not mats or len(mats) < seq.frame_count:
        return None
    return [np.asarray(m, np.float64)[:3, :3] for m in mats]


def sun_direction(azimuth_deg: float, elevation_deg: float = SUN_ELEVATION_DEG) -> np.ndarray:
    """Unit vector towards the sun, world z up."""
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


@dataclass
class Clip:
    """One clip's pixels over all its frames: rows = pixels."""

    name: str
    rgb: np.ndarray  # engine frame, sRGB in [0, 1]
    view_normals: np.ndarray | None  # x right, y up, z towards the camera
    world_normals: np.ndarray | None  # via the camera matrices (Blender's camera axes are the same)
    log_depth: np.ndarray | None  # log10 of view z, clipped to [-1, 3]
    targets: dict[str, np.ndarray]


def load_clip(seq: Sequence, weathers: list[str]) -> Clip:
    rgb, vn, wn, dz = [], [], [], []
    rots = camera_rotations(seq)
    for i in range(seq.frame_count):
        rgb.append(seq.load_color_u8(i).reshape(-1, 3).astype(np.float64) / 255.0)
        n = seq.load_normals(i)
        if n is not None:
            vn.append(n.reshape(-1, 3).astype(np.float64))
            if rots is not None:
                wn.append(vn[-1] @ rots[i].T)
        z = seq.load_depth_z(i)
        if z is not None:
            dz.append(np.log10(np.clip(z.reshape(-1).astype(np.float64), 0.1, 1000.0)))
    full = seq.frame_count
    targets = {
        w: np.concatenate([seq.load_target_u8(w, i).reshape(-1, 3) for i in range(full)]).astype(np.float64) / 255.0
        for w in weathers
    }
    return Clip(
        name=seq.name,
        rgb=np.concatenate(rgb),
        view_normals=np.concatenate(vn) if len(vn) == full else None,
        world_normals=np.concatenate(wn) if len(wn) == full else None,
        log_depth=np.concatenate(dz) if len(dz) == full else None,
        targets=targets,
    )


def features(clip: Clip, family: str, sun: np.ndarray | None = None) -> np.ndarray | None:
    """Per-pixel regressors of one family (None where the clip lacks what the family needs)."""
    r, g, b = clip.rgb[:, 0], clip.rgb[:, 1], clip.rgb[:, 2]
    one = np.ones_like(r)
    cols = [r, g, b, one]
    if family != "affine":
        cols += [r * r, g * g, b * b, r * g, r * b, g * b]
    if family in ("gbuffer", "sun"):
        if clip.view_normals is None or clip.log_depth is None:
            return None
        for k in range(3):
            cols += [c * clip.view_normals[:, k] for c in (r, g, b, one)]
        cols += [c * clip.log_depth for c in (r, g, b, one)]
    if family == "sun":
        if clip.world_normals is None or sun is None:
            return None
        lit = np.maximum(clip.world_normals @ sun, 0.0)
        cols += [c * lit for c in (r, g, b, one)]
    return np.stack(cols, axis=1)


def fit(xs: list[np.ndarray], ys: list[np.ndarray]) -> np.ndarray:
    """Least-squares coefficients over all the given clips' pixels."""
    coef, *_ = np.linalg.lstsq(np.concatenate(xs), np.concatenate(ys), rcond=None)
    return coef


def best_sun(clip: Clip, weather: str) -> tuple[np.ndarray, float] | None:
    """The low sun's azimuth that lets the `sun` family fit this clip's target best."""
    if clip.world_normals is None:
        return None
    best = None
    for az in range(0, 360, AZIMUTH_STEP_DEG):
        sun = sun_direction(az)
        x = features(clip, "sun", sun)
        if x is None:
            return None
        p = psnr(x @ fit([x], [clip.targets[weather]]), clip.targets[weather])
        if best is None or p > best[0]:
            best = (p, sun, float(az))
    return None if best is None else (best[1], best[2])


def ceilings(clips: list[Clip], weather: str) -> list[dict]:
    """Per clip: pass-through, and each family fitted on this clip alone (`own`) and on all the
    clips together (`shared`: one map for every clip, as one student is)."""
    suns = {c.name: best_sun(c, weather) if weather == SUN_WEATHER else None for c in clips}
    rows = [{"clip": c.name, "weather": weather, "pass_through": psnr(c.rgb, c.targets[weather])} for c in clips]
    for fam in FAMILIES:
        if fam == "sun" and weather != SUN_WEATHER:
            continue
        xs = []
        for c in clips:
            s = suns[c.name]
            xs.append(features(c, fam, None if s is None else s[0]))
        have = [(c, x) for c, x in zip(clips, xs) if x is not None]
        if not have:
            continue
        shared = fit([x for _, x in have], [c.targets[weather] for c, _ in have])
        for row, c, x in zip(rows, clips, xs):
            if x is None:
                continue
            y = c.targets[weather]
            row[f"{fam}_own"] = psnr(x @ fit([x], [y]), y)
            row[f"{fam}_shared"] = psnr(x @ shared, y)
            if fam == "sun":
                row["sun_azimuth_deg"] = suns[c.name][1]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sequences", nargs="+", type=Path, help="sequence folders (or folders of them) with targets")
    ap.add_argument("--weathers", help="comma-separated prompts (default: every target the clip has)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    try:
        seqs = find_sequences(args.sequences)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wanted = args.weathers.split(",") if args.weathers else sorted(set.intersection(*(set(q.targets) for q in seqs)))
    missing = [f"{q.root}: {w}" for q in seqs for w in wanted if w not in q.targets]
    if missing:
        print(f"error: targets missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    clips = [load_clip(q, wanted) for q in seqs]
    rows = []
    cols = [f"{f} {m}" for f in FAMILIES for m in ("own", "shared")]
    print("| clip | prompt | pass-through | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    for weather in wanted:
        for r in ceilings(clips, weather):
            rows.append(r)
            cells = " | ".join(
                f"{r[k]:.2f} ({r[k] - r['pass_through']:+.2f})" if k in r else "-"
                for k in (f"{f}_{m}" for f in FAMILIES for m in ("own", "shared"))
            )
            print(f"| {r['clip']} | {weather} | {r['pass_through']:.2f} | {cells} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
