"""Engine-look variants: the same clip drawn by other "engines" (domain randomisation of the input).

Every clip's engine frames come from one EEVEE setup (a hard 48 deg sun, one flat sky colour, no
ambient occlusion, a plain sRGB transfer), so the student only ever sees one rasterizer's look, and
a renderer it never trained on (the project's own sample renderer) reads as out of distribution.
A look variant re-renders only the engine frames of a finished clip with seeded changes that real
engines differ in: sun strength and tint, shadow softness, ambient (sky) colour and strength,
screen-space ambient occlusion, bloom, and the view transform (Standard or Filmic, with a contrast
look). The sun keeps the engine's direction, so shadows still fall where the targets have them;
geometry, G-buffers and path-traced targets are shared with the clip, so every variant maps to the
same targets (the student learns the photoreal look independent of the engine's grade).

Pure Python (no bpy): generate.py picks the parameters; bpy_weather applies them inside Blender.
"""

from __future__ import annotations

import random

# The canonical look: every clip's own engine frames (bpy_weather applies it where a variant is absent).
CANONICAL = {
    "sun_strength": 3.2,
    "sun_color": (1.0, 0.97, 0.92),
    "sun_angle_deg": 0.2,
    "sky_color": (0.42, 0.55, 0.75),
    "sky_strength": 1.0,
    "soft_shadows": False,
    "ao": False,
    "bloom": False,
    "view_transform": "Standard",
    "contrast": "None",
}

# Filmic's contrast looks as Blender 3.4 names them.
FILMIC_LOOKS = ("None", "Medium Low Contrast", "Medium High Contrast", "High Contrast")


def look_seed(clip_seed: int, k: int) -> int:
    """Seed of variant k >= 1 of a clip; independent of the scene's own random stream."""
    return (clip_seed * 7919 + k * 104_729) ^ 0x10_0C


def _mix(a: tuple, b: tuple, t: float) -> list:
    return [round(x + (y - x) * t, 4) for x, y in zip(a, b)]  # lists: the look round-trips through JSON


def engine_look(clip_seed: int, k: int) -> dict:
    """Parameters of engine-look variant `k` (1, 2, ...) of the clip with seed `clip_seed`."""
    if k < 1:
        raise ValueError(f"look variant {k}: variants count from 1 (0 is the canonical look)")
    rng = random.Random(look_seed(clip_seed, k))
    warm, cool = (1.0, 0.86, 0.7), (0.86, 0.92, 1.0)
    tint = rng.uniform(-1.0, 1.0)
    sun_color = _mix(CANONICAL["sun_color"], warm if tint > 0 else cool, abs(tint) * 0.7)
    # ambient: the canonical blue sky, greyed or warmed by a random amount
    sky_target = rng.choice([(0.55, 0.55, 0.55), (0.62, 0.55, 0.45), (0.35, 0.5, 0.85)])
    sky_color = _mix(CANONICAL["sky_color"], sky_target, rng.uniform(0.0, 0.8))
    filmic = rng.random() < 0.5
    return {
        "variant": k,
        "sun_strength": round(CANONICAL["sun_strength"] * rng.uniform(0.55, 1.5), 4),
        "sun_color": sun_color,
        "sun_angle_deg": round(rng.choice([0.2, rng.uniform(1.0, 6.0)]), 3),
        "sky_color": sky_color,
        "sky_strength": round(rng.uniform(0.45, 1.7), 4),
        "soft_shadows": rng.random() < 0.5,
        "ao": rng.random() < 0.5,
        "bloom": rng.random() < 0.3,
        "view_transform": "Filmic" if filmic else "Standard",
        "contrast": rng.choice(FILMIC_LOOKS) if filmic else "None",
    }


def look_name(clip_name: str, k: int) -> str:
    """Folder name of variant k of a clip (a sibling of the clip's own folder)."""
    return f"{clip_name}__look{k}"


def sun_look(elevation_deg: float) -> dict:
    """The canonical look with the engine's sun at another elevation on the clip's azimuth: what a
    game that renders its own time of day draws (golden hour's targets put the sun at 8 deg, the
    canonical engine frame at 48: their shadows fall in different places). Unlike the seeded
    variants it pairs only with the targets lit by the same sun (postprocess.write_look)."""
    if not 0.0 < elevation_deg <= 90.0:
        raise ValueError(f"sun elevation {elevation_deg} deg: pass a value in (0, 90]")
    # lists, not tuples: the look round-trips through JSON (meta.engine_look)
    canonical = {k: list(v) if isinstance(v, tuple) else v for k, v in CANONICAL.items()}
    return {**canonical, "variant": sun_variant(elevation_deg), "sun_elevation_deg": float(elevation_deg)}


def sun_variant(elevation_deg: float) -> str:
    """The variant tag (and folder suffix) of `sun_look(elevation_deg)`."""
    return f"sun{elevation_deg:g}"


def sun_look_name(clip_name: str, elevation_deg: float) -> str:
    """Folder name of a clip's `sun_look` variant (a sibling of the clip's own folder)."""
    return f"{clip_name}__{sun_variant(elevation_deg)}"
