"""Clip planning: which scene, variant and camera each clip index gets, from the split and seed.

Train and held-out splits are disjoint by construction:
- scene variants: the last variant of each scene kind is held-out only (bpy_scene.VARIANTS);
- camera paths: pan/dolly/turn/cut in training, orbit/crane held-out only;
- cars: cordo_* and evo_* in training, fox_* held-out only (assets.py);
- seeds: train clip i uses seed*1_000_003 + i, held-out clip i uses seed*1_000_003 + 500_000 + i.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

# The camera paths' names live with the paths (camera_paths.py, which the Blender side imports flat).
if __package__ in (None, ""):
    from camera_paths import EXTRA_TRAIN_CAMERAS, HELDOUT_CAMERAS, TRAIN_CAMERAS  # noqa: F401
else:
    from .camera_paths import EXTRA_TRAIN_CAMERAS, HELDOUT_CAMERAS, TRAIN_CAMERAS  # noqa: F401

SCENES = ("city", "suburb", "landscape")
VARIANTS = {
    "city": ("downtown", "oldtown", "harbor"),
    "suburb": ("maple", "birch", "cedar"),
    "landscape": ("meadow", "alpine", "coast"),
}
WEATHERS = ("clear", "fog", "golden_hour", "night", "rain", "snow")


@dataclass
class ClipPlan:
    index: int
    split: str
    scene: str
    variant: str
    camera: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.split}_{self.index:04d}_{self.scene}_{self.variant}_{self.camera}"

    def to_dict(self) -> dict:
        return asdict(self)


def clip_seed(base: int, split: str, i: int) -> int:
    return base * 1_000_003 + (500_000 if split == "heldout" else 0) + i


def plan_clip(i: int, split: str, base_seed: int, scene: str | None = None, camera: str | None = None) -> ClipPlan:
    seed = clip_seed(base_seed, split, i)
    rng = random.Random(seed ^ 0x5EED)
    kind = scene or SCENES[i % len(SCENES)]
    variants = VARIANTS[kind]
    variant = variants[-1] if split == "heldout" else rng.choice(variants[:-1])
    cams = HELDOUT_CAMERAS if split == "heldout" else TRAIN_CAMERAS
    cam = camera or cams[(i // len(SCENES)) % len(cams)]
    return ClipPlan(i, split, kind, variant, cam, seed)


def plan(clips: int, split: str, base_seed: int, start: int = 0, scene: str | None = None, camera: str | None = None) -> list[ClipPlan]:
    return [plan_clip(i, split, base_seed, scene, camera) for i in range(start, start + clips)]
