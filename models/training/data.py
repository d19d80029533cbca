"""Training batches: random crops from sequence folders, built exactly like the runtime's inputs.

For a frame t of a clip and a weather w, one sample holds (tensor roles of docs/formats.md):
  frames   the last T=window sim frames, oldest first; slots before the shot start repeat its first frame
  edges    imgops.edge_map of each of those frames (color + that frame's depth and normals; the
           runtime's edge recipe, see imgops.py)
  depth    1 / (1 + z / 10) of frame t, 0 where absent
  normals  view-space normals of frame t, 0 where absent
  prev     stand-in for the runtime's reprojected previous output (teacher forcing): the previous
           TARGET frame warped onto frame t with frame t's motion vectors; with probability
           p_prev_sim the previous SIM frame warped instead (what the runtime shows when the model
           has not produced an output yet), and at a shot start the current frame itself
  prompt   the weather's preset embedding, or one of its paraphrases' (p_paraphrase)
  target   targets/<w>/t
  target_weight  1 where the target is trusted, 0 on the sky of clips whose target sky is flawed
A batch holds B pairs (t-1, t) over the same crop, stacked as [previous frames..., current frames...],
so the temporal loss can warp the prediction for t-1 onto t. Pairs whose t starts a shot get a
temporal weight of 0 (the "previous" half then repeats frame t). Each batch depends only on
(seed, step), so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import imgops

# the teacher's filmic curve (models/pathtrace), which refilm_u8 undoes and applies again
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
from models.pathtrace.postprocess import aces_fit, aces_fit_inverse  # noqa: E402
from prompts import PromptTable  # noqa: E402
from seqio import DataError, Sequence, encode_depth, light_inputs, linear_to_srgb, srgb_to_linear  # noqa: E402


@dataclass(frozen=True)
class DataConfig:
    crop: int
    batch: int
    window: int = 2
    p_prev_sim: float = 0.15
    p_paraphrase: float = 0.3
    hflip: bool = True
    # Probability that a pair is re-exposed: one linear-light gain of 2^U(EXPOSURE_EV) on its engine
    # frames, previous output and target, so a darker (or brighter) game than the training renders
    # asks for the same look at its own exposure (teacher v2 sets a target's exposure relative to the
    # engine frame's). Edges stay the stored frame's (their depth and normal parts do not change).
    exposure_aug: float = 0.0
    # Probability that a pair's engine frames (not its target) get a white-balance shift: gains
    # 2^U(WHITE_BALANCE_EV) on red and on blue in linear light. Another engine's frames carry another
    # ambient and sky tint than the training renders; a student that saw only one tint learns a fixed
    # colour correction and over-corrects the others (the sample renderer's asphalt came out brown).
    white_balance_aug: float = 0.0
    # Probability that a pair's surfaces change colour: the same per-channel linear gains on its
    # engine frames, previous output and target (2^(e_c - mean e), e_c ~ U(ALBEDO_EV): chroma only,
    # brightness is the exposure augmentation's). A diffuse surface is albedo x light in both the
    # engine frame and the target, so the look's per-channel ratio to the frame is unchanged; the
    # student sees object colours the training scenes lack (a large saturated red roof came out
    # green at golden hour) with the answer they imply.
    albedo_aug: float = 0.0
    # Weathers whose targets are not albedo x light (fog's airlight and snow cover do not take the
    # surface's colour): their pairs are never recoloured.
    albedo_aug_skip: tuple[str, ...] = ()
    # How often each weather's pairs are drawn relative to the others (absent = 1): a look the student
    # does worst on (golden hour, docs/photoreal.md) can get more of the steps without new renders.
    weather_weights: tuple[tuple[str, float], ...] = ()
    # WEATHER -> NAME: that weather's pairs come only from look variants <clip>__NAME (e.g.
    # golden_hour -> sun8: the engine under golden hour's own sun, models.pathtrace --engine-sun-elev)
    weather_variants: tuple[tuple[str, str], ...] = ()
    # Values appended to each frame's prompt embedding (model.StudentConfig.sun_dim): 3 = its
    # engine-look sun in view space, 6 = that and the world's up direction (seqio.light_inputs).
    sun_input: int = 0
    # Engine-look variants (<clip>__lookN, models.pathtrace --engine-looks) share their clip's targets,
    # which the teacher exposed for the clip's own engine brightness: a look rendered a stop darker
    # asks the student to lift it a stop, against what the exposure augmentation teaches. True: each
    # look's targets are re-exposed as the teacher would have exposed them for that look (look_target_gain),
    # so the looks teach grade and not exposure. Sun variants (--engine-sun-elev) keep theirs.
    look_exposure_match: bool = False


EXPOSURE_EV = (-3.0, 0.5)
WHITE_BALANCE_EV = (-0.4, 0.4)
ALBEDO_EV = (-1.0, 1.0)


def rebalance_srgb(x: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """sRGB 0..1 [..., 3] -> linear, times per-channel gains, clipped, -> sRGB 0..1 (float32)."""
    return linear_to_srgb(np.clip(srgb_to_linear(x) * gains, 0.0, 1.0)).astype(np.float32)


def regain_srgb(x: np.ndarray, gain: float) -> np.ndarray:
    """sRGB 0..1 -> linear, times gain, clipped, -> sRGB 0..1 (float32)."""
    return linear_to_srgb(np.clip(srgb_to_linear(x) * gain, 0.0, 1.0))


def look_target_gain(seq: Sequence) -> float:
    """The gain on a look variant's targets (before the filmic curve) that the teacher's exposure rule
    gives it: postprocess.clip_exposure scales a clip's targets with its engine frames' log-average
    luminance, so a look's is its own over its clip's (meta engine_log_average of both). 1 for a clip
    that is not a look and for a sun variant, whose targets are the ones lit by its own sun."""
    look = seq.meta.get("engine_look")
    base = seq.meta.get("look_of")
    if not base or not isinstance(look, dict) or "sun_elevation_deg" in look:
        return 1.0
    base_json = seq.root.parent / str(base) / "sequence.json"
    try:
        own = float(seq.meta["engine_log_average"])
        ref = float(json.loads(base_json.read_text())["meta"]["engine_log_average"])
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise DataError(
            f"{seq.root.name} is a look of {base}, but the two engine brightnesses cannot be read ({type(e).__name__}: {e})",
            f"keep the look beside its clip (a link to {base} in {seq.root.parent}) and render both with models.pathtrace 0.2.1 or later",
        ) from e
    if not (math.isfinite(own) and math.isfinite(ref) and own > 0 and ref > 0):
        raise DataError(f"{seq.root.name}: engine_log_average {own} against its clip's {ref}", "render the look and its clip again (models.pathtrace)")
    return own / ref


def refilm_u8(srgb: np.ndarray, gain: float) -> np.ndarray:
    """An 8-bit sRGB target re-exposed as the teacher exposes: its filmic curve (the pathtrace
    post-process's ACES fit) undone, the linear light times `gain`, the curve and sRGB again."""
    x = aces_fit_inverse(srgb_to_linear(srgb.astype(np.float64) / 255.0))
    out = linear_to_srgb(aces_fit(x * gain))
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


@dataclass
class FrameData:
    color: np.ndarray  # uint8 [H, W, 3] sRGB
    depth: np.ndarray | None  # float16 [H, W] encoded depth
    normals: np.ndarray | None  # float16 [H, W, 3]
    motion: np.ndarray  # float32 [H, W, 2] (zeros when the sequence has none)
    edges: np.ndarray  # uint8 [H, W] 0/1


class FrameStore:
    """Loads frames lazily and keeps them (uint8 colors, float16 depth/normals, float32 motion) for the run."""

    def __init__(self, seqs: list[Sequence], target_gains: list[float] | None = None) -> None:
        self.seqs = seqs
        # per sequence, the re-exposure of its targets (look_target_gain; 1 = as stored)
        self.target_gains = target_gains or [1.0] * len(seqs)
        self._frames: dict[tuple[int, int], FrameData] = {}
        self._targets: dict[tuple[int, str, int], np.ndarray] = {}

    def frame(self, si: int, i: int) -> FrameData:
        key = (si, i)
        fd = self._frames.get(key)
        if fd is None:
            s = self.seqs[si]
            color = s.load_color_u8(i)
            z = s.load_depth_z(i)
            depth = encode_depth(z) if z is not None else None
            normals = s.load_normals(i)
            motion = s.load_motion(i)
            if motion is None:
                motion = np.zeros((s.height, s.width, 2), np.float32)
            edges = imgops.edge_map(color.astype(np.float32) / 255.0, z, normals).astype(np.uint8)
            # float16 keeps depth/normals at ~1e-3 precision and the cache at ~1.3 MB per 256x144 frame.
            fd = FrameData(
                color,
                depth.astype(np.float16) if depth is not None else None,
                normals.astype(np.float16) if normals is not None else None,
                motion,
                edges,
            )
            self._frames[key] = fd
        return fd

    def target(self, si: int, weather: str, i: int) -> np.ndarray:
        key = (si, weather, i)
        t = self._targets.get(key)
        if t is None:
            t = self.seqs[si].load_target_u8(weather, i)
            if self.target_gains[si] != 1.0:
                t = refilm_u8(t, self.target_gains[si])
            self._targets[key] = t
        return t


def shot_start_of(seq: Sequence, t: int) -> int:
    return max([0] + [c for c in seq.cuts if c <= t])


def window_frames(seq: Sequence, t: int, window: int) -> list[int]:
    """Frame indices of the window ending at t, oldest first, clamped to the shot start."""
    s0 = shot_start_of(seq, t)
    return [max(s0, t - (window - 1 - k)) for k in range(window)]


def validate_training_set(seqs: list[Sequence], weathers: list[str] | None, crop: int) -> list[str]:
    """Check the sequences can feed training; returns the weathers to train on."""
    if not seqs:
        raise DataError("no training sequences (none has meta.split 'train')", "render some: realmaster-samples training --out data/train --clips N")
    if crop <= 0 or crop % 16:
        raise DataError(f"crop {crop} is not a positive multiple of 16", "pass --crop 64, 96, 128, ...")
    available: set[str] = set()
    for s in seqs:
        if not s.targets:
            raise DataError(f"sequence {s.root} has no targets", "render training data with targets (realmaster-samples training)")
        if min(s.width, s.height) < crop:
            raise DataError(
                f"sequence {s.root} is {s.width}x{s.height}, smaller than the {crop}px crop",
                "pass a smaller --crop (multiple of 16) or render larger frames",
            )
        available |= set(s.targets)
    chosen = sorted(available) if not weathers else list(weathers)
    missing = [w for w in chosen if w not in available]
    if missing:
        raise DataError(
            f"no training sequence has targets for {', '.join(missing)} (available: {', '.join(sorted(available))})",
            "pass --weathers with names from the targets of sequence.json",
        )
    for s in seqs:
        s.check_files()
    return chosen


def parse_weather_weights(text: str) -> dict[str, float]:
    """`golden_hour=3,clear=2` -> {"golden_hour": 3.0, "clear": 2.0}; a ValueError naming the bad part."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.strip()
        try:
            w = float(value) if eq else float("nan")
        except ValueError:
            w = float("nan")
        if not name or not math.isfinite(w) or w <= 0:
            raise ValueError(f"{part!r} is not WEATHER=WEIGHT with a positive weight (e.g. golden_hour=3)")
        if name in out:
            raise ValueError(f"{name} is given twice")
        out[name] = w
    return out


def parse_weather_variants(text: str) -> dict[str, str]:
    """`golden_hour=sun8` -> {"golden_hour": "sun8"}; a ValueError naming the bad part."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, eq, variant = (x.strip() for x in part.partition("="))
        if not name or not eq or not variant:
            raise ValueError(f"{part!r} is not WEATHER=VARIANT (e.g. golden_hour=sun8)")
        if name in out:
            raise ValueError(f"{name} is given twice")
        out[name] = variant
    return out


def variant_items(seqs: list[Sequence], weathers: list[str], variants: dict[str, str]) -> list[tuple[int, str]]:
    """The (sequence, weather) pairs to train on. A weather in `variants` takes its pairs only from
    the look variants named `<clip>__<variant>` (and those give no other weather's); the rest
    from every sequence with the target, as without it."""
    def tag(s: Sequence) -> str | None:
        name = s.root.name
        return name.rsplit("__", 1)[1] if s.meta.get("look_of") and "__" in name else None

    items = []
    for si, s in enumerate(seqs):
        for w in weathers:
            if w not in s.targets:
                continue
            want = variants.get(w)
            if (want is None and tag(s) not in variants.values()) or (want is not None and tag(s) == want):
                items.append((si, w))
    for w, v in variants.items():
        if w in weathers and not any(x == w for _, x in items):
            raise DataError(
                f"no look variant __{v} has a {w} target among the training sequences",
                f"render them (python -m models.pathtrace ... --engine-sun-elev 8 for sun8) and pass their folders to --data",
            )
    return items


def item_probabilities(items: list[tuple[int, str]], weathers: list[str], weights: dict[str, float]) -> np.ndarray | None:
    """Per (sequence, weather) item, its chance of being drawn (None: uniform). Each weather's pairs
    share its weight's part of the draws in proportion to how many pairs it has, as without weights."""
    unknown = sorted(set(weights) - set(weathers))
    if unknown:
        raise DataError(
            f"weather weights name {', '.join(unknown)}, not among the weathers trained ({', '.join(weathers)})",
            "use the weathers' names from the targets of sequence.json (or --weathers)",
        )
    w = np.array([weights.get(weather, 1.0) for _, weather in items], np.float64)
    if np.all(w == w[0]):
        return None
    return w / w.sum()


class TrainingData:
    def __init__(self, seqs: list[Sequence], weathers: list[str], prompts: PromptTable, cfg: DataConfig) -> None:
        self.seqs = seqs
        self.weathers = list(weathers)
        self.cfg = cfg
        self.prompts = prompts
        gains = [look_target_gain(s) for s in seqs] if cfg.look_exposure_match else None
        self.store = FrameStore(seqs, gains)
        self.items = variant_items(seqs, weathers, dict(cfg.weather_variants))
        if not self.items:
            raise DataError("no (sequence, weather) pair to train on", "check --weathers against the sequences' targets")
        self.item_p = item_probabilities(self.items, weathers, dict(cfg.weather_weights))
        self.suns = [light_inputs(s, cfg.sun_input) for s in seqs] if cfg.sun_input else None

    def draw_item(self, rng: np.random.Generator) -> tuple[int, str]:
        """One (sequence, weather) pair: uniform, or by `weather_weights` where they differ."""
        if self.item_p is None:
            # (the draw every run before weather weights made: unweighted runs keep their exact batches)
            return self.items[int(rng.integers(len(self.items)))]
        return self.items[int(rng.choice(len(self.items), p=self.item_p))]

    def _prev(self, si: int, t: int, weather: str, rng: np.random.Generator) -> np.ndarray:
        seq = self.seqs[si]
        cur = self.store.frame(si, t)
        if seq.shot_start(t):
            return cur.color.astype(np.float32) / 255.0
        src = self.store.frame(si, t - 1).color if rng.random() < self.cfg.p_prev_sim else self.store.target(si, weather, t - 1)
        warped, _ = imgops.warp_backward(src.astype(np.float32) / 255.0, cur.motion)
        return warped

    def _sample(self, si: int, t: int, weather: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Full-frame HWC arrays of one sample."""
        seq = self.seqs[si]
        idx = window_frames(seq, t, self.cfg.window)
        fr = [self.store.frame(si, i) for i in idx]
        cur = fr[-1]
        h, w = seq.height, seq.width
        return {
            "frames": np.concatenate([f.color.astype(np.float32) / 255.0 for f in fr], axis=2),
            "edges": np.stack([f.edges.astype(np.float32) for f in fr], axis=2),
            "depth": (cur.depth.astype(np.float32) if cur.depth is not None else np.zeros((h, w), np.float32))[..., None],
            "normals": cur.normals.astype(np.float32) if cur.normals is not None else np.zeros((h, w, 3), np.float32),
            "prev": self._prev(si, t, weather, rng),
            "target": self.store.target(si, weather, t).astype(np.float32) / 255.0,
            "target_weight": self._target_weight(si, cur),
        }

    def _target_weight(self, si: int, cur: FrameData) -> np.ndarray:
        """1 where the target is trusted. Clips whose target sky shows the HDRI's own photographed
        skyline (meta camera_sky full_panorama or sky_only, early generator faults) have sky pixels at 0:
        the engine frame has no such buildings, so learning them would teach the student to paint them."""
        seq = self.seqs[si]
        h, w = seq.height, seq.width
        # full_panorama: the whole photographed skyline; sky_only: its upper part (cranes, tall trees
        # still reach into it); zenith_cap (current generator): a flat sky, trusted.
        if seq.meta.get("camera_sky") not in ("full_panorama", "sky_only") or cur.depth is None:
            return np.ones((h, w, 1), np.float32)
        sky_z = float(seq.meta.get("sky_depth", 10000.0))
        return (cur.depth.astype(np.float32) > encode_depth(np.float32(sky_z * 0.5)))[..., None].astype(np.float32)

    def batch(self, seed: int, step: int) -> dict[str, np.ndarray]:
        """NCHW float32 arrays; the first B rows are frame t-1 of each pair, the last B frame t."""
        rng = np.random.default_rng([seed, step])
        c = self.cfg.crop
        prev_rows: list[dict[str, np.ndarray]] = []
        cur_rows: list[dict[str, np.ndarray]] = []
        motion, valid, tw, prompt = [], [], [], []
        weather_id: list[int] = []
        sun_prev: list[np.ndarray] = []
        sun_cur: list[np.ndarray] = []
        for _ in range(self.cfg.batch):
            si, weather = self.draw_item(rng)
            seq = self.seqs[si]
            t = int(rng.integers(seq.frame_count))
            y0 = int(rng.integers(seq.height - c + 1))
            x0 = int(rng.integers(seq.width - c + 1))
            flip = self.cfg.hflip and bool(rng.random() < 0.5)
            start = seq.shot_start(t)
            # Without motion vectors the pair cannot be aligned: no temporal term for it.
            no_temporal = start or seq.motion_pattern is None
            tp = t if start else t - 1
            a = self._sample(si, tp, weather, rng)
            b = self._sample(si, t, weather, rng)
            # (no draw at all when off, so runs without it keep their exact batches)
            if self.cfg.exposure_aug > 0 and rng.random() < self.cfg.exposure_aug:
                gain = float(2.0 ** rng.uniform(*EXPOSURE_EV))
                for d in (a, b):
                    for k in ("frames", "prev", "target"):
                        d[k] = regain_srgb(d[k], gain)
            if self.cfg.white_balance_aug > 0 and rng.random() < self.cfg.white_balance_aug:
                ev = rng.uniform(*WHITE_BALANCE_EV, size=2)
                gains = np.array([2.0 ** ev[0], 1.0, 2.0 ** ev[1]], np.float32)
                # the window's frames are stacked on the channel axis: one gain triple per frame
                for d in (a, b):
                    for k in ("frames", "prev"):
                        x = d[k]
                        d[k] = rebalance_srgb(x.reshape(*x.shape[:-1], -1, 3), gains).reshape(x.shape)
            if self.cfg.albedo_aug > 0 and weather not in self.cfg.albedo_aug_skip and rng.random() < self.cfg.albedo_aug:
                ev = rng.uniform(*ALBEDO_EV, size=3)
                gains = (2.0 ** (ev - ev.mean())).astype(np.float32)
                for d in (a, b):
                    for k in ("frames", "prev", "target"):
                        x = d[k]
                        d[k] = rebalance_srgb(x.reshape(*x.shape[:-1], -1, 3), gains).reshape(x.shape)
            cur = self.store.frame(si, t)
            if no_temporal:
                vm = np.zeros((seq.height, seq.width), np.float32)
            else:
                pd = self.store.frame(si, t - 1).depth
                vm = imgops.valid_history_mask(
                    cur.motion,
                    cur.depth.astype(np.float32) if cur.depth is not None else None,
                    pd.astype(np.float32) if pd is not None else None,
                )
            # The loss warps the t-1 prediction of this crop only: the source must land inside it.
            ys, xs = np.mgrid[0 : seq.height, 0 : seq.width].astype(np.float32)
            sx, sy = xs + cur.motion[..., 0], ys + cur.motion[..., 1]
            vm = vm * ((sx >= x0) & (sx <= x0 + c - 1) & (sy >= y0) & (sy <= y0 + c - 1))
            extra = {"motion": cur.motion, "valid": vm[..., None]}
            rows = []
            for d in (a, b, extra):
                rows.append({k: _crop_flip(k, v, y0, x0, c, flip) for k, v in d.items()})
            prev_rows.append(rows[0])
            cur_rows.append(rows[1])
            motion.append(rows[2]["motion"])
            valid.append(rows[2]["valid"])
            tw.append(0.0 if no_temporal else 1.0)
            prompt.append(self.prompts.sample(weather, rng, self.cfg.p_paraphrase))
            weather_id.append(self.weathers.index(weather))
            if self.suns is not None:
                # each half its own frame's sun; a mirrored crop mirrors its x
                flip_x = np.tile(np.array([-1.0 if flip else 1.0, 1.0, 1.0], np.float32), self.cfg.sun_input // 3)
                sun_prev.append(self.suns[si][tp] * flip_x)
                sun_cur.append(self.suns[si][t] * flip_x)
        out = {k: np.stack([r[k] for r in prev_rows + cur_rows]) for k in cur_rows[0]}
        out["prompt"] = np.concatenate([np.stack(prompt), np.stack(prompt)]).astype(np.float32)
        if self.suns is not None:
            out["prompt"] = np.concatenate([out["prompt"], np.stack(sun_prev + sun_cur)], axis=1).astype(np.float32)
        out["motion"] = np.stack(motion)
        out["valid"] = np.stack(valid)
        out["temporal_weight"] = np.asarray(tw, np.float32)
        # each row's weather as its index in `weathers` (both halves), for terms that act on some only
        out["weather_id"] = np.asarray(weather_id + weather_id, np.int64)
        return out


def _crop_flip(key: str, a: np.ndarray, y0: int, x0: int, c: int, flip: bool) -> np.ndarray:
    """Crop an HWC array and return it CHW; a horizontal flip mirrors x-vector components too."""
    a = a[y0 : y0 + c, x0 : x0 + c]
    if flip:
        a = a[:, ::-1].copy()
        if key in ("normals", "motion"):
            a[..., 0] = -a[..., 0]
    return np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32)
