"""Raw Blender output -> a sequence folder in the project's conventions (docs/formats.md).

- depth: Cycles' Depth pass is already the distance along the camera axis; the background
  (1e10) becomes SKY_DEPTH, as the sample renderer writes it (meta.sky_depth).
- normals: Cycles' Normal pass is world space; rotated into view space (x right, y up, z towards the
  camera) with the frame's camera matrix and flipped where a back face was hit, so every normal
  faces the camera. 0 on the sky.
- motion: Cycles' Vector pass holds previous-minus-current raster position (x right, y UP) in its
  first two channels; ours points from the current pixel to where it was in the previous frame
  with y DOWN, so motion = (X, -Y). The background has no vector: sky motion comes from the two
  cameras' rotations (points at infinity). 0 at frame 0 and at cuts.
- targets: Cycles HDR radiance, denoised with Open Image Denoise (pyoidn; albedo + normal guides)
  when it imports, then one exposure per clip and weather (so frames stay temporally consistent),
  a filmic curve (ACES fit) and the sRGB transfer function. The exposure follows the engine look's:
  a clip whose engine frames are darker (dark asphalt, shade) gets a darker target, by the same
  factor in every weather, so the student can read a target's brightness off its input.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("pathtrace")

SKY_DEPTH = 10000.0
LAYER = "ViewLayer."
# Exposure keys per weather: the log-average luminance (before the filmic curve) of a clip whose
# engine look has the log-average ENGINE_REF; other clips scale with their engine look.
KEYS = {"clear": 0.2, "golden_hour": 0.2, "night": 0.035, "fog": 0.26, "rain": 0.15, "snow": 0.24}
# median log-average luminance (linear) of the engine look over the training clips; ACES(0.2) ~ 0.30
ENGINE_REF = 0.3


def read_layers(path: Path) -> dict[str, np.ndarray]:
    import OpenEXR

    with OpenEXR.File(str(path), separate_channels=True) as f:
        return {k: np.asarray(v.pixels, dtype=np.float32) for k, v in f.channels().items()}


def _stack(ch: dict[str, np.ndarray], layer: str, comps: str) -> np.ndarray:
    return np.stack([ch[f"{LAYER}{layer}.{c}"] for c in comps], axis=-1)


def write_exr(path: Path, channels: dict[str, np.ndarray], half: bool) -> None:
    import OpenEXR

    path.parent.mkdir(parents=True, exist_ok=True)
    comp = OpenEXR.ZIP_COMPRESSION  # smaller than PIZ for these planes, also in half float
    header = {"compression": comp, "type": OpenEXR.scanlineimage}
    dt = np.float16 if half else np.float32
    data = {k: np.ascontiguousarray(v, dtype=dt) for k, v in channels.items()}
    with OpenEXR.File(header, data) as f:
        f.write(str(path))


def quantize(depth: np.ndarray, normals: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Round the planes so that half-float EXRs of committed samples compress well: depth to 1/1000
    relative, normals to 1/512, motion to 1/32 pixel (all far below what the runtime resolves)."""
    step = np.exp2(np.floor(np.log2(np.maximum(depth, 1e-3))) - 10)
    d = np.round(depth / step) * step
    n = np.round(normals * 512.0) / 512.0
    lim = 4.0 * max(motion.shape[:2])
    m = np.round(np.clip(np.nan_to_num(motion, nan=0.0, posinf=lim, neginf=-lim), -lim, lim) * 32.0) / 32.0
    return d.astype(np.float32), n.astype(np.float32), m.astype(np.float32)


def write_png(path: Path, rgb01: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.clip(np.round(np.clip(rgb01, 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(a, "RGB").save(path, optimize=True)


def recompress_png(src: Path, dst: Path) -> None:
    """Lossless copy of Blender's PNG (written at low zlib effort) as a smaller RGB PNG."""
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im.convert("RGB").save(dst, optimize=True)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.maximum(c, 0.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1.0 / 2.4) - 0.055)


def aces_fit(x: np.ndarray) -> np.ndarray:
    """Narkowicz's ACES filmic fit, linear -> display-linear 0..1."""
    return np.clip((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0)


def aces_fit_inverse(y: np.ndarray) -> np.ndarray:
    """aces_fit undone: display-linear 0..1 -> the linear light x >= 0 it came from (1 maps to the
    curve's value there, ~7.2, not to the clipped light above it)."""
    y = np.clip(y, 0.0, 1.0)
    # y (2.43 x^2 + 0.59 x + 0.14) = 2.51 x^2 + 0.03 x: the quadratic's non-negative root
    a, b, c = 2.43 * y - 2.51, 0.59 * y - 0.03, 0.14 * y
    return (-b - np.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)


def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return xs, ys


def view_dirs(cam: dict, h: int, w: int) -> np.ndarray:
    """Unnormalised view-space ray directions [H, W, 3] through pixel centres (z = -1)."""
    xs, ys = pixel_grid(h, w)
    dx = (xs + 0.5 - cam["cx"]) / cam["fx"]
    dy = -(ys + 0.5 - cam["cy"]) / cam["fy"]
    return np.stack([dx, dy, -np.ones_like(dx)], axis=-1)


def sky_motion(cam: dict, f: int, h: int, w: int) -> np.ndarray:
    """Motion [H, W, 2] of points at infinity between frame f-1 and f (rotation only)."""
    r_cur = np.asarray(cam["matrices"][f], np.float64)[:3, :3]
    r_prev = np.asarray(cam["matrices"][f - 1], np.float64)[:3, :3]
    r_cur = r_cur / np.linalg.norm(r_cur, axis=0, keepdims=True)
    r_prev = r_prev / np.linalg.norm(r_prev, axis=0, keepdims=True)
    d = view_dirs(cam, h, w) @ (r_prev.T @ r_cur).T
    z = np.where(d[..., 2] < -1e-6, -d[..., 2], np.nan)
    px = cam["cx"] + cam["fx"] * d[..., 0] / z - 0.5
    py = cam["cy"] - cam["fy"] * d[..., 1] / z - 0.5
    xs, ys = pixel_grid(h, w)
    m = np.stack([px - xs, py - ys], axis=-1)
    return np.nan_to_num(m, nan=0.0).astype(np.float32)


def gbuffer(raw: Path, cam: dict, f: int, cuts: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(depth [H, W], view normals [H, W, 3], motion [H, W, 2]) of frame f."""
    ch = read_layers(raw / "gbuf" / f"{f:04d}.exr")
    z = ch[f"{LAYER}Depth.Z"].astype(np.float32)
    h, w = z.shape
    sky = ~np.isfinite(z) | (z > 1e8)
    depth = np.where(sky, SKY_DEPTH, z).astype(np.float32)
    r = np.asarray(cam["matrices"][f], np.float64)[:3, :3]
    r = r / np.linalg.norm(r, axis=0, keepdims=True)
    n = _stack(ch, "Normal", "XYZ").astype(np.float64) @ r  # = (R^T n) per pixel
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-8)
    facing = (n * view_dirs(cam, h, w)).sum(-1)  # > 0: normal points away from the camera
    n = np.where(facing[..., None] > 0, -n, n)
    n = np.where(sky[..., None], 0.0, n).astype(np.float32)
    if f == 0 or f in cuts:
        motion = np.zeros((h, w, 2), np.float32)
    else:
        v = _stack(ch, "Vector", "XY")
        motion = np.stack([v[..., 0], -v[..., 1]], axis=-1).astype(np.float32)
        motion = np.where(sky[..., None], sky_motion(cam, f, h, w), motion)
        # a point that was far outside the previous frame (or behind it) stays far outside, finitely
        lim = 4.0 * max(h, w)
        motion = np.clip(np.nan_to_num(motion, nan=0.0, posinf=lim, neginf=-lim), -lim, lim)
    return depth, n, motion


def _denoiser() -> Any:
    try:
        import pyoidn

        return pyoidn
    except Exception as e:  # the wheel or its shared library is missing
        log.warning("pyoidn unavailable (%s): targets are written without denoising", e)
        return None


def target_linear(raw: Path, weather: str, f: int, oidn: Any) -> np.ndarray:
    ch = read_layers(raw / weather / f"{f:04d}.exr")
    rgb = np.nan_to_num(_stack(ch, "Combined", "RGB"), nan=0.0, posinf=0.0).clip(0.0, 1e4)
    if oidn is None:
        return rgb
    alb = _stack(ch, "Denoising Albedo", "RGB").clip(0.0, 1.0)
    nrm = np.nan_to_num(_stack(ch, "Denoising Normal", "XYZ")).clip(-1.0, 1.0)
    out = oidn.denoise(
        np.ascontiguousarray(rgb, np.float32), np.ascontiguousarray(alb, np.float32),
        np.ascontiguousarray(nrm, np.float32), hdr=True,
    )
    return np.asarray(out, np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


def log_average(lum: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(np.clip(lum, 1e-4, None)))))


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, np.power((c + 0.055) / 1.055, 2.4))


def engine_log_average(color_pngs: list[Path]) -> float:
    """Log-average luminance (linear) of a clip's engine-look frames."""
    from PIL import Image

    lums = []
    for p in color_pngs:
        with Image.open(p) as im:
            srgb = np.asarray(im.convert("RGB"), np.float32) / 255.0
        lums.append(luminance(srgb_to_linear(srgb)).ravel())
    return log_average(np.concatenate(lums))


def clip_exposure(weather: str, engine_avg: float, target_avg: float) -> float:
    """Exposure that maps a clip's target to its weather's key, scaled by its engine look's brightness."""
    key = KEYS.get(weather, 0.2) * engine_avg / ENGINE_REF
    return float(np.clip(key / max(target_avg, 1e-4), 0.05, 50.0))


def view_light(sun: list[float], matrices: list, frames: int) -> dict:
    """sequence.json's `light` (docs/formats.md): per frame, the unit vector towards the engine
    look's sun and the world's up (z), in the view space of the normals; `matrices` are the
    frames' camera-to-world matrices (render_info.json), whose rotation's columns are the view axes."""
    rot = np.asarray(matrices, np.float64)[:frames, :3, :3]
    if rot.shape[0] < frames:
        raise ValueError(f"{rot.shape[0]} camera matrices for {frames} frames")

    def to_view(v: list[float]) -> list[list[float]]:
        out = np.einsum("fij,i->fj", rot, np.asarray(v, np.float64))
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return [[round(float(c), 6) for c in row] for row in out]

    return {"space": "view", "sun": to_view(sun), "up": to_view([0.0, 0.0, 1.0])}


def write_sequence(raw: Path, seq: Path, spec: dict, half: bool) -> dict:
    """Convert the raw render in `raw` into the sequence folder `seq`; returns sequence.json."""
    cam = json.loads((raw / "camera.json").read_text())
    n, w, h = spec["frames"], spec["width"], spec["height"]
    cuts = [int(c) for c in cam["cuts"]]
    (seq / "color").mkdir(parents=True, exist_ok=True)
    for f in range(n):
        recompress_png(raw / "engine" / f"{f:04d}.png", seq / "color" / f"{f:04d}.png")
        depth, normals, motion = gbuffer(raw, cam, f, cuts)
        if half:
            depth, normals, motion = quantize(depth, normals, motion)
        write_exr(seq / "depth" / f"{f:04d}.exr", {"Z": depth}, half)
        write_exr(seq / "normals" / f"{f:04d}.exr", {"R": normals[..., 0], "G": normals[..., 1], "B": normals[..., 2]}, half)
        write_exr(seq / "motion" / f"{f:04d}.exr", {"R": motion[..., 0], "G": motion[..., 1]}, half)
    oidn = _denoiser() if spec.get("denoise", True) else None
    engine_avg = engine_log_average([seq / "color" / f"{f:04d}.png" for f in range(n)])
    exposures = {}
    for wname in spec["weathers"]:
        frames = [target_linear(raw, wname, f, oidn) for f in range(n)]
        lum = np.concatenate([luminance(x).ravel() for x in frames])
        exposure = clip_exposure(wname, engine_avg, log_average(lum))
        exposures[wname] = round(exposure, 5)
        for f, x in enumerate(frames):
            write_png(seq / "targets" / wname / f"{f:04d}.png", linear_to_srgb(aces_fit(x * exposure)))
    meta = {
        "scene": spec["scene"], "variant": spec["variant"], "camera": spec["camera"], "seed": spec["seed"],
        "split": spec["split"], "generator": "realmaster-pathtrace 0.2.1", "sky_depth": SKY_DEPTH,
        "engine": spec["engine"], "samples": spec["samples"], "denoiser": "oidn" if oidn is not None else "none",
        "assets": cam["assets"], "hdris": cam.get("hdris", []), "fallbacks": cam["fallbacks"],
        "fov_deg": round(math.degrees(2 * math.atan(w / 2 / cam["fx"])), 3),
        "camera_sky": "zenith_cap",  # camera rays see a ~3 deg cap around the panorama's zenith
        # "permissive": only assets whose licenses allow MIT/Apache weights; "gpl": GPL-2+ cars too.
        "asset_policy": spec.get("asset_policy", "gpl"),
        # v2: one HDRI per weather turned to the engine's sun, exposure relative to the engine look
        "teacher": 2, "engine_log_average": round(engine_avg, 5), "exposures": exposures,
    }
    if "sun" in cam:
        # world-space unit vectors towards the sun: the engine look's and each weather's
        # (render_info.json's matrices turn them into each frame's view space: seqio.sun_views)
        meta["sun"] = cam["sun"]
    if spec.get("loop"):
        meta["loop"] = True
    d = {
        "format": "realmaster-sequence", "version": 1, "width": w, "height": h, "fps": float(spec["fps"]),
        "frame_count": n,
        "color": {"pattern": "color/{frame:04}.png", "encoding": "png_srgb"},
        "depth": {"pattern": "depth/{frame:04}.exr", "convention": "view_z"},
        "normals": {"pattern": "normals/{frame:04}.exr", "space": "view"},
        "motion": {"pattern": "motion/{frame:04}.exr", "convention": "pixels_to_previous"},
        "targets": {wn: f"targets/{wn}/{{frame:04}}.png" for wn in spec["weathers"]},
        "meta": meta,
    }
    if cuts:
        d["cuts"] = cuts
    if "sun" in cam:
        d["light"] = view_light(cam["sun"]["engine"], cam["matrices"], n)
    (seq / "sequence.json").write_text(json.dumps(d, indent=2))
    (seq / "render_info.json").write_text(json.dumps({"timing_s": cam["timing"], "probe": cam["probe"],
                                                       "fx": cam["fx"], "fy": cam["fy"], "cx": cam["cx"], "cy": cam["cy"],
                                                       "matrices": cam["matrices"]}, indent=1))
    return d


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # the variant shares the clip's planes: no second copy on disk
    except OSError:
        shutil.copyfile(src, dst)


def write_look(raw: Path, seq: Path, base: Path, spec: dict, look: dict) -> dict:
    """An engine-look variant of the clip in `base` into `seq`: the engine frames rendered into `raw`
    become color/; depth, normals, motion and targets are the clip's (hard links where the file
    system allows). The targets keep the clip's exposures, so every look maps to the same target; a
    sun variant (looks.sun_look) keeps only the targets lit by its own sun."""
    d = json.loads((base / "sequence.json").read_text())
    n = d["frame_count"]
    for f in range(n):
        recompress_png(raw / "engine" / f"{f:04d}.png", seq / "color" / f"{f:04d}.png")
    meta = d["meta"]
    meta["look_of"] = base.name
    meta["engine_look"] = look
    meta["engine"] = spec["engine"]
    cam = json.loads((raw / "camera.json").read_text())
    if "sun_elevation_deg" in look:
        # a sun variant's engine frames are lit from its own elevation: it pairs only with the
        # targets lit by that sun (golden hour's at 8 deg), whose shadows fall where its own do
        sun = cam.get("sun", {}).get("engine")
        if sun is None or "sun" not in meta:
            raise RuntimeError(f"{seq.name}: no recorded sun to pair the sun variant with (render its clip again)")
        meta["sun"]["engine"] = sun
        same = [w for w, v in meta["sun"].items() if w != "engine" and max(abs(a - b) for a, b in zip(v, sun)) < 1e-5]
        d["targets"] = {w: p for w, p in d.get("targets", {}).items() if w in same}
        matrices = json.loads((base / "render_info.json").read_text())["matrices"]
        d["light"] = view_light(sun, matrices, n)
    shared = [d[plane]["pattern"] for plane in ("depth", "normals", "motion")] + list(d.get("targets", {}).values())
    for pattern in shared:
        for f in range(n):
            rel = Path(pattern.format(frame=f))
            _link_or_copy(base / rel, seq / rel)
    # exposures stay the clip's (shared targets); this is the variant's own engine brightness
    meta["engine_log_average"] = round(engine_log_average([seq / "color" / f"{f:04d}.png" for f in range(n)]), 5)
    (seq / "sequence.json").write_text(json.dumps(d, indent=2))
    (seq / "render_info.json").write_text(json.dumps({"timing_s": cam["timing"], "look": look}, indent=1))
    return d


def requantize_folder(seq: Path) -> None:
    """Apply `quantize` + half-float to the planes of an existing sequence folder (in place)."""
    n = json.loads((seq / "sequence.json").read_text())["frame_count"]
    for f in range(n):
        d = read_layers(seq / "depth" / f"{f:04d}.exr")["Z"]
        nc = read_layers(seq / "normals" / f"{f:04d}.exr")
        mc = read_layers(seq / "motion" / f"{f:04d}.exr")
        depth, normals, motion = quantize(
            d, np.stack([nc["R"], nc["G"], nc["B"]], -1), np.stack([mc["R"], mc["G"]], -1)
        )
        write_exr(seq / "depth" / f"{f:04d}.exr", {"Z": depth}, True)
        write_exr(seq / "normals" / f"{f:04d}.exr", {"R": normals[..., 0], "G": normals[..., 1], "B": normals[..., 2]}, True)
        write_exr(seq / "motion" / f"{f:04d}.exr", {"R": motion[..., 0], "G": motion[..., 1]}, True)
