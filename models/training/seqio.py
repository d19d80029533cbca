"""Reading (and, for tests, writing) sequence folders as docs/formats.md defines them (version 1).

Every problem with the input raises DataError, whose message names the problem and the fix; the
command-line tools print it and exit with status 2.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SEQUENCE_FORMAT = "realmaster-sequence"
SEQUENCE_VERSION = 1
DEPTH_SCALE = 10.0
_PATTERN = re.compile(r"\{frame(?::0?(\d+))?\}")


class DataError(Exception):
    """Bad input data or arguments: `problem` says what is wrong, `fix` what to do about it."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}\n  fix: {fix}")
        self.problem = problem
        self.fix = fix


def format_pattern(pattern: str, frame: int) -> str:
    """Expand `{frame:04}` (any zero-padded width) or `{frame}` in a sequence.json path pattern."""

    def sub(m: re.Match[str]) -> str:
        width = int(m.group(1)) if m.group(1) else 0
        return f"{frame:0{width}d}" if width else str(frame)

    return _PATTERN.sub(sub, pattern)


# ---------------------------------------------------------------------------------------------
# Image file I/O


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float32)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.maximum(np.asarray(c, dtype=np.float32), 0.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1.0 / 2.4) - 0.055).astype(np.float32)


def read_png_u8(path: Path) -> np.ndarray:
    """RGB uint8 [H, W, 3]; alpha is dropped, grey and palette images are expanded."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I"):
                a = np.asarray(im, dtype=np.float32) / 65535.0
                a = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
                return np.repeat(a[:, :, None], 3, axis=2)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise DataError(f"missing image {path}", "re-render the sequence or fix the pattern in sequence.json")
    except OSError as e:
        raise DataError(f"cannot decode PNG {path}: {e}", "re-render the file; it is truncated or not a PNG")


def write_png_u8(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").save(path)


def read_exr(path: Path) -> dict[str, np.ndarray]:
    """All channels of a single-part EXR as float32 [H, W] arrays, keyed by channel name."""
    import OpenEXR

    if not path.is_file():
        raise DataError(f"missing EXR {path}", "re-render the sequence or fix the pattern in sequence.json")
    try:
        with OpenEXR.File(str(path), separate_channels=True) as f:
            return {k: np.asarray(v.pixels, dtype=np.float32) for k, v in f.channels().items()}
    except Exception as e:  # the binding raises plain RuntimeError/OSError for corrupt files
        raise DataError(f"cannot decode EXR {path}: {e}", "re-render the file; it is truncated or not an EXR")


def write_exr(path: Path, channels: dict[str, np.ndarray]) -> None:
    import OpenEXR

    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    data = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in channels.items()}
    with OpenEXR.File(header, data) as f:
        f.write(str(path))


def _channels(path: Path, chans: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    missing = [n for n in names if n not in chans]
    if missing:
        raise DataError(
            f"{path} lacks channel(s) {', '.join(missing)} (has {', '.join(sorted(chans)) or 'none'})",
            "write the channels docs/formats.md names for this plane",
        )
    return np.stack([chans[n] for n in names], axis=-1)


def encode_depth(z: np.ndarray, depth_scale: float = DEPTH_SCALE) -> np.ndarray:
    """Depth tensor encoding 1 / (1 + z / scale); 0 where z is not finite (sky, missing)."""
    z = np.asarray(z, dtype=np.float32)
    ok = np.isfinite(z)
    zc = np.where(ok, np.maximum(z, 0.0), 0.0)
    return np.where(ok, 1.0 / (1.0 + zc / depth_scale), 0.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Sequence folders


@dataclass
class Sequence:
    root: Path
    width: int
    height: int
    fps: float
    frame_count: int
    color_pattern: str
    color_encoding: str
    depth_pattern: str | None
    normals_pattern: str | None
    motion_pattern: str | None
    targets: dict[str, str]
    cuts: list[int]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def split(self) -> str:
        return str(self.meta.get("split", "train"))

    def shot_start(self, i: int) -> bool:
        return i == 0 or i in self.cuts

    def path(self, pattern: str, i: int) -> Path:
        return self.root / format_pattern(pattern, i)

    def _check_size(self, path: Path, a: np.ndarray) -> np.ndarray:
        if a.shape[0] != self.height or a.shape[1] != self.width:
            raise DataError(
                f"{path} is {a.shape[1]}x{a.shape[0]} but {self.root / 'sequence.json'} says "
                f"{self.width}x{self.height}",
                "re-render the sequence so every frame has the size sequence.json declares",
            )
        return a

    def load_color_u8(self, i: int) -> np.ndarray:
        """Current frame as sRGB uint8 [H, W, 3] (linear EXR color is encoded to sRGB and clipped)."""
        p = self.path(self.color_pattern, i)
        if self.color_encoding == "png_srgb":
            return self._check_size(p, read_png_u8(p))
        rgb = _channels(p, read_exr(p), ("R", "G", "B"))
        srgb = linear_to_srgb(np.nan_to_num(rgb, nan=0.0, posinf=1.0))
        return self._check_size(p, np.clip(np.round(srgb * 255.0), 0, 255).astype(np.uint8))

    def load_target_u8(self, weather: str, i: int) -> np.ndarray:
        p = self.path(self.targets[weather], i)
        return self._check_size(p, read_png_u8(p))

    def load_depth_z(self, i: int) -> np.ndarray | None:
        if self.depth_pattern is None:
            return None
        p = self.path(self.depth_pattern, i)
        return self._check_size(p, _channels(p, read_exr(p), ("Z",))[..., 0])

    def load_normals(self, i: int) -> np.ndarray | None:
        if self.normals_pattern is None:
            return None
        p = self.path(self.normals_pattern, i)
        n = np.nan_to_num(_channels(p, read_exr(p), ("R", "G", "B")), nan=0.0, posinf=0.0, neginf=0.0)
        return self._check_size(p, n)

    def load_motion(self, i: int) -> np.ndarray | None:
        """Motion [H, W, 2] in pixels towards the previous frame; all zero at frame 0 and at cuts."""
        if self.motion_pattern is None:
            return None
        if self.shot_start(i):
            return np.zeros((self.height, self.width, 2), np.float32)
        p = self.path(self.motion_pattern, i)
        m = np.nan_to_num(_channels(p, read_exr(p), ("R", "G")), nan=0.0, posinf=0.0, neginf=0.0)
        return self._check_size(p, m)

    def all_paths(self) -> list[Path]:
        pats = [self.color_pattern] + [p for p in (self.depth_pattern, self.normals_pattern, self.motion_pattern) if p]
        pats += list(self.targets.values())
        return [self.path(p, i) for p in pats for i in range(self.frame_count)]

    def check_files(self) -> None:
        """Every referenced file exists and the first color frame has the declared size."""
        for p in self.all_paths():
            if not p.is_file():
                raise DataError(
                    f"sequence {self.root} is incomplete: {p} is missing",
                    "re-render the sequence (realmaster-samples) or fix frame_count / the patterns in sequence.json",
                )
        self.load_color_u8(0)


def _req(d: dict, key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    if key not in d:
        raise DataError(f"{where}: required field '{key}' is missing", "write sequence.json as docs/formats.md shows")
    v = d[key]
    if not isinstance(v, kind) or isinstance(v, bool):
        raise DataError(f"{where}: field '{key}' has the wrong type ({type(v).__name__})", "see docs/formats.md")
    return v


def _plane(d: dict, key: str, where: Path) -> str | None:
    if key not in d or d[key] is None:
        return None
    v = d[key]
    if not isinstance(v, dict) or not isinstance(v.get("pattern"), str):
        raise DataError(f"{where}: '{key}' must be an object with a string 'pattern'", "see docs/formats.md")
    return str(v["pattern"])


def load_sequence(root: Path | str) -> Sequence:
    """Parse and validate sequence.json (not the frames; see Sequence.check_files)."""
    root = Path(root)
    sj = root / "sequence.json"
    if not sj.is_file():
        raise DataError(f"{root} is not a sequence folder (no sequence.json)", "point at a folder made by realmaster-samples")
    try:
        d = json.loads(sj.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"cannot parse {sj}: {e}", "fix or re-render sequence.json")
    if not isinstance(d, dict):
        raise DataError(f"{sj} is not a JSON object", "write sequence.json as docs/formats.md shows")
    if d.get("format") != SEQUENCE_FORMAT:
        raise DataError(f"{sj}: format is {d.get('format')!r}, expected {SEQUENCE_FORMAT!r}", "see docs/formats.md")
    if d.get("version") != SEQUENCE_VERSION:
        raise DataError(
            f"{sj}: version {d.get('version')!r} is not supported (this tool reads version {SEQUENCE_VERSION})",
            "re-render the sequence with a matching realmaster-samples",
        )
    width = _req(d, "width", int, sj)
    height = _req(d, "height", int, sj)
    frames = _req(d, "frame_count", int, sj)
    fps = float(_req(d, "fps", (int, float), sj))
    if width <= 0 or height <= 0 or frames <= 0 or not math.isfinite(fps) or fps <= 0:
        raise DataError(f"{sj}: width, height, frame_count and fps must be positive", "fix sequence.json")
    color = _req(d, "color", dict, sj)
    cpat = color.get("pattern")
    enc = color.get("encoding", "png_srgb")
    if not isinstance(cpat, str):
        raise DataError(f"{sj}: color.pattern is missing", "see docs/formats.md")
    if enc not in ("png_srgb", "exr_linear"):
        raise DataError(f"{sj}: color.encoding {enc!r} is unknown", "use 'png_srgb' or 'exr_linear'")
    targets = d.get("targets") or {}
    if not isinstance(targets, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in targets.items()):
        raise DataError(f"{sj}: targets must map prompt names to path patterns", "see docs/formats.md")
    cuts = d.get("cuts") or []
    if not isinstance(cuts, list) or not all(isinstance(c, int) and 0 <= c < frames for c in cuts):
        raise DataError(f"{sj}: cuts must be frame indices below frame_count", "fix sequence.json")
    meta = d.get("meta") or {}
    if not isinstance(meta, dict):
        raise DataError(f"{sj}: meta must be an object", "fix sequence.json")
    if d.get("depth") and d["depth"].get("convention", "view_z") != "view_z":
        raise DataError(f"{sj}: depth convention {d['depth'].get('convention')!r} is unknown", "write view_z depth")
    if d.get("motion") and d["motion"].get("convention", "pixels_to_previous") != "pixels_to_previous":
        raise DataError(
            f"{sj}: motion convention {d['motion'].get('convention')!r} is unknown", "write pixels_to_previous motion"
        )
    return Sequence(
        root=root,
        width=width,
        height=height,
        fps=fps,
        frame_count=frames,
        color_pattern=cpat,
        color_encoding=enc,
        depth_pattern=_plane(d, "depth", sj),
        normals_pattern=_plane(d, "normals", sj),
        motion_pattern=_plane(d, "motion", sj),
        targets={str(k): str(v) for k, v in targets.items()},
        cuts=sorted(set(int(c) for c in cuts)),
        meta=meta,
    )


def sun_views(seq: Sequence, look: str = "engine") -> np.ndarray:
    """Per frame, the unit vector towards the sun of `look` in the view space of the clip's normals
    (x right, y up, z towards the camera): [frames, 3] float32. Path-traced clips record the sun
    (meta.sun, world space) and their cameras (render_info.json; an engine-look variant shares its
    clip's)."""
    sun = seq.meta.get("sun", {}).get(look)
    info_path = _cameras(seq)
    if sun is None or not info_path.is_file():
        raise DataError(
            f"{seq.name} records no sun for {look!r} (meta.sun) or no camera matrices ({info_path})",
            "path-traced clips only; run models/pathtrace/describe.py on clips rendered before it was recorded",
        )
    return _to_view(info_path, seq.frame_count, sun)


def up_views(seq: Sequence) -> np.ndarray:
    """Per frame, the world's up direction (z) in the view space of the clip's normals: [frames, 3]."""
    info_path = _cameras(seq)
    if not info_path.is_file():
        raise DataError(f"{seq.name} has no camera matrices ({info_path})", "path-traced clips only")
    return _to_view(info_path, seq.frame_count, [0.0, 0.0, 1.0])


def light_inputs(seq: Sequence, dim: int) -> np.ndarray:
    """What a student with `sun_dim` = `dim` reads after the prompt, per frame: [frames, dim] (3 =
    the engine look's sun in view space, 6 = that and the world's up direction)."""
    if dim not in (3, 6):
        raise ValueError(f"a student reads 3 or 6 light values (got {dim})")
    # the clip's own per-frame light (what the runtime feeds), e.g. the sample renderer's clips,
    # which have no render_info.json; path-traced clips give the same from meta.sun and cameras
    recorded = json.loads((seq.root / "sequence.json").read_text()).get("light")
    if recorded is not None and "sun" not in seq.meta:
        light = np.concatenate([np.asarray(recorded["sun"], np.float32), np.asarray(recorded["up"], np.float32)], 1)
        return light[:, :dim]
    return sun_views(seq) if dim == 3 else np.concatenate([sun_views(seq), up_views(seq)], 1)


def _cameras(seq: Sequence) -> Path:
    """The render_info.json with the clip's camera matrices (an engine-look variant's clip's)."""
    folder = seq.root.parent / seq.meta["look_of"] if seq.meta.get("look_of") else seq.root
    return folder / "render_info.json"


def _to_view(info_path: Path, frames: int, v: list[float]) -> np.ndarray:
    rot = np.asarray(json.loads(info_path.read_text())["matrices"], np.float64)[:, :3, :3]  # world from camera
    if rot.shape[0] < frames:
        raise DataError(f"{info_path} has {rot.shape[0]} camera matrices for {frames} frames", "render the clip again")
    return np.einsum("fij,i->fj", rot[:frames], np.asarray(v, np.float64)).astype(np.float32)


def find_sequences(paths: list[Path | str]) -> list[Sequence]:
    """Each path is a sequence folder or a folder whose direct subfolders are sequence folders."""
    out: list[Sequence] = []
    for p in map(Path, paths):
        if not p.exists():
            raise DataError(f"data path {p} does not exist", "render the data first (realmaster-samples training --out DIR)")
        if (p / "sequence.json").is_file():
            out.append(load_sequence(p))
            continue
        subs = sorted(s for s in p.iterdir() if s.is_dir() and (s / "sequence.json").is_file()) if p.is_dir() else []
        if not subs:
            raise DataError(f"{p} holds no sequence folders (no */sequence.json)", "pass a folder of rendered sequences")
        out.extend(load_sequence(s) for s in subs)
    return out


def write_sequence_json(root: Path, d: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sequence.json").write_text(json.dumps(d, indent=2))
