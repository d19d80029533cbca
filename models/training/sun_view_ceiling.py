"""Whether the view ray's angle to the sun explains a prompt's light: one shared per-pixel map, fitted
on training clips and scored on held-out ones, with and without it.

Golden hour's targets show the low sun's glow in the sky and haze around it and backlit surfaces
facing the camera, all functions of the angle between each pixel's view ray and the sun, which
the surface normals alone do not give (stages 39, 40 and 46 fed the student N.sun and N.up). Each
family is a least-squares map from per-pixel regressors to the target colour, fitted once on the
`--fit-on` clips' pixels (every `--stride`th) and scored on every pixel of each held-out clip:

- `gbuffer`: grade_ceiling.py's (the colour's squares and products, colour times the view-space
  normal and times log depth);
- `nsun`: `gbuffer` plus colour times max(0, N.sun) and times N.up for the target's own sun
  (meta.sun[prompt]);
- `view`: `nsun` plus colour times max(0, V.sun), its 4th and 16th powers (a glow that narrows
  towards the sun), V.up and max(0, -V.sun) (looking away from the sun), and log depth times the
  glow terms (haze grows with distance), V the pixel's unit view ray from the recorded intrinsics.

Out of sample, unlike grade_ceiling.py's `shared` maps: what a held-out clip gains is what the
inputs carry in general, not what a map tuned to it reaches.

    python models/training/sun_view_ceiling.py --fit-on data/pathtrace/train samples/heldout_pathtrace_*
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grade_ceiling  # noqa: E402
from grade_ceiling import psnr  # noqa: E402
from seqio import DataError, Sequence, _cameras, find_sequences, load_sequence, sun_views, up_views  # noqa: E402

FAMILIES = ("gbuffer", "nsun", "view")


def view_rays(info: dict, height: int, width: int) -> np.ndarray:
    """Per pixel, the unit view ray in the normals' view space (x right, y up, z towards the
    camera), from the intrinsics render_info.json records (fx, fy, cx, cy at the render's size;
    scaled when the frames are another size): [height * width, 3]."""
    fx, fy, cx, cy = (float(info[k]) for k in ("fx", "fy", "cx", "cy"))
    sx, sy = width / (2.0 * cx), height / (2.0 * cy)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    v = np.stack([(xs + 0.5 - cx * sx) / (fx * sx), -(ys + 0.5 - cy * sy) / (fy * sy), -np.ones_like(xs)], -1)
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).reshape(-1, 3)


@dataclass
class Pixels:
    """One clip's pixels over its frames (rows), with what the families read."""

    rgb: np.ndarray  # engine frame, sRGB in [0, 1]
    normals: np.ndarray  # view space
    log_depth: np.ndarray  # log10 of view z, clipped to [-1, 3]
    n_sun: np.ndarray
    n_up: np.ndarray
    v_sun: np.ndarray
    v_up: np.ndarray
    target: np.ndarray


def load(seq: Sequence, weather: str, stride: int = 1, engine: Sequence | None = None) -> Pixels:
    """Every `stride`th pixel of every frame of `seq` (path-traced clips: they record their sun
    and cameras); the engine frames are `engine`'s where given (a look variant of `seq`)."""
    if weather not in seq.targets:
        raise DataError(f"{seq.name} has no {weather!r} target", "pick a prompt every clip was rendered with")
    suns = sun_views(seq, weather).astype(np.float64)
    ups = up_views(seq).astype(np.float64)
    info = json.loads(_cameras(seq).read_text())
    parts: list[list[np.ndarray]] = [[] for _ in range(8)]
    if engine is not None and engine.frame_count != seq.frame_count:
        raise DataError(f"{engine.name} has {engine.frame_count} frames, {seq.name} {seq.frame_count}", "render the variant with the clip's --frames")
    for i in range(seq.frame_count):
        rgb = (engine or seq).load_color_u8(i)
        h, w = rgb.shape[:2]
        normals, z = seq.load_normals(i), seq.load_depth_z(i)
        if normals is None or z is None:
            raise DataError(f"{seq.name} frame {i} has no normals or depth", "path-traced clips carry both")
        n = normals.reshape(-1, 3).astype(np.float64)
        v = view_rays(info, h, w)
        cols = [
            rgb.reshape(-1, 3).astype(np.float64) / 255.0,
            n,
            np.log10(np.clip(z.reshape(-1).astype(np.float64), 0.1, 1000.0)),
            n @ suns[i],
            n @ ups[i],
            v @ suns[i],
            v @ ups[i],
            seq.load_target_u8(weather, i).reshape(-1, 3).astype(np.float64) / 255.0,
        ]
        for p, c in zip(parts, cols):
            p.append(c[::stride])
    return Pixels(*(np.concatenate(p) for p in parts))


def features(px: Pixels, family: str) -> np.ndarray:
    # grade_ceiling's `gbuffer` columns, then the sun's
    clip = grade_ceiling.Clip("", px.rgb, px.normals, None, px.log_depth, {})
    gbuffer = grade_ceiling.features(clip, "gbuffer")
    assert gbuffer is not None  # normals and depth are always given here
    r, g, b = px.rgb.T
    colour = (r, g, b, np.ones_like(r))
    cols: list[np.ndarray] = []
    if family in ("nsun", "view"):
        cols += [c * np.maximum(px.n_sun, 0.0) for c in colour] + [c * px.n_up for c in colour]
    if family == "view":
        glow = np.maximum(px.v_sun, 0.0)
        terms = (glow, glow**4, glow**16)
        for f in (*terms, px.v_up, np.maximum(-px.v_sun, 0.0)):
            cols += [c * f for c in colour]
        cols += [f * px.log_depth for f in terms]
    return np.concatenate([gbuffer, np.stack(cols, axis=1)], axis=1) if cols else gbuffer


def fit(train: list[Pixels], family: str) -> np.ndarray:
    x = np.concatenate([features(p, family) for p in train])
    y = np.concatenate([p.target for p in train])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef


def variant(seq: Sequence, name: str | None) -> Sequence | None:
    """`seq`'s sibling look variant <clip>__`name` (None without a name)."""
    if name is None:
        return None
    folder = seq.root.parent / f"{seq.root.name}__{name}"
    if not (folder / "sequence.json").is_file():
        raise DataError(f"{seq.name} has no {name} variant ({folder})", f"render it: python -m models.pathtrace ... --engine-sun-elev 8 (for {name})")
    return load_sequence(folder)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sequences", nargs="+", type=Path, help="held-out sequence folders (or folders of them)")
    ap.add_argument(
        "--fit-on", action="append", type=Path, required=True, help="a training sequence folder (or a folder of them); repeatable"
    )
    ap.add_argument("--weather", default="golden_hour")
    ap.add_argument("--stride", type=int, default=10, help="fit on every Nth pixel of the training clips")
    ap.add_argument(
        "--engine-variant",
        help="read each clip's engine frames from its sibling look variant <clip>__NAME (e.g. sun8, from "
        "models.pathtrace --engine-sun-elev 8: the engine under the target's own sun)",
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.stride < 1:
        ap.error(f"--stride must be at least 1 (got {args.stride})")
    try:
        # engine-look variants share their clip's targets: one copy of each clip's light
        train = [q for q in find_sequences(args.fit_on) if args.weather in q.targets and not q.meta.get("look_of")]
        held = find_sequences(args.sequences)
        if not train:
            raise DataError(f"no --fit-on clip has a {args.weather!r} target", "pass the path-traced training folders")
        held = [q for q in held if not q.meta.get("look_of")]
        train_px = [load(q, args.weather, args.stride, variant(q, args.engine_variant)) for q in train]
        maps = {f: fit(train_px, f) for f in FAMILIES}
        rows = []
        for q in held:
            px = load(q, args.weather, engine=variant(q, args.engine_variant))
            row = {"clip": q.name, "pass_through": psnr(px.rgb, px.target)}
            row.update({f: psnr(features(px, f) @ maps[f], px.target) for f in FAMILIES})
            rows.append(row)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    engine = f", engine frames from each clip's {args.engine_variant} variant" if args.engine_variant else ""
    print(f"{args.weather}: maps fitted on {len(train)} clips (every {args.stride}th pixel), scored on every pixel{engine}")
    print("| clip | pass-through | " + " | ".join(FAMILIES) + " |")
    print("|---|---|" + "---|" * len(FAMILIES))
    for r in rows + [{"clip": "mean", **{k: float(np.mean([x[k] for x in rows])) for k in ("pass_through", *FAMILIES)}}]:
        cells = " | ".join(f"{r[f]:.2f} ({r[f] - r['pass_through']:+.2f})" for f in FAMILIES)
        print(f"| {r['clip']} | {r['pass_through']:.2f} | {cells} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
