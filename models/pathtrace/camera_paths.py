"""Camera paths as per-frame poses (pure Python: imported by the Blender script and by tests).

A pose is (x, y, z, heading, pitch): heading 0 looks along +Y, positive headings turn left (towards
-X); pitch is positive upwards. Roads run along +Y; `lane(y)` gives the road centre's x at y.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable

Pose = tuple[float, float, float, float, float]

TRAIN_CAMERAS = ("pan", "dolly", "turn", "cut")
HELDOUT_CAMERAS = ("orbit", "crane")
# Training paths only given by name (--camera), never drawn for a clip index, so the clips a seed
# makes stay the same.
EXTRA_TRAIN_CAMERAS = ("overlook",)
ALL_CAMERAS = TRAIN_CAMERAS + HELDOUT_CAMERAS + EXTRA_TRAIN_CAMERAS


@dataclass
class PathResult:
    poses: list[Pose]
    cuts: list[int]
    look_at: tuple[float, float, float] | None = None


def heading_to(dx: float, dy: float) -> float:
    return math.atan2(-dx, dy)


def _look(p: tuple[float, float, float], t: tuple[float, float, float]) -> tuple[float, float]:
    dx, dy, dz = t[0] - p[0], t[1] - p[1], t[2] - p[2]
    return heading_to(dx, dy), math.atan2(dz, math.hypot(dx, dy))


def _pan(rng: random.Random, n: int, lane: Callable[[float], float], side: float, y0: float, h: float) -> list[Pose]:
    x = lane(y0) + side
    rate = math.radians(rng.uniform(1.2, 2.6)) * rng.choice((-1, 1))
    start = rng.uniform(-0.5, 0.5) - rate * n / 2 + (0.35 if side > 0 else -0.35)
    pitch = math.radians(rng.uniform(-6, 3))
    return [(x, y0, h, start + rate * i, pitch) for i in range(n)]


def _dolly(rng: random.Random, n: int, lane: Callable[[float], float], off: float, y0: float, h: float) -> list[Pose]:
    v = rng.uniform(0.3, 0.6)
    yaw_off = math.radians(rng.uniform(-12, 12))
    pitch = math.radians(rng.uniform(-5, 2))
    out = []
    for i in range(n):
        y = y0 + v * i
        slope = (lane(y + 1.0) - lane(y - 1.0)) / 2.0
        out.append((lane(y) + off, y, h, heading_to(slope, 1.0) + yaw_off, pitch))
    return out


def _turn(rng: random.Random, n: int, lane: Callable[[float], float], off: float, y0: float, h: float) -> list[Pose]:
    v = rng.uniform(0.25, 0.5)
    rate = math.radians(rng.uniform(1.5, 3.5)) * rng.choice((-1, 1))
    yaw = -rate * n / 3
    x, y = lane(y0) + off, y0
    pitch = math.radians(rng.uniform(-4, 2))
    out = []
    for _ in range(n):
        out.append((x, y, h, yaw, pitch))
        x += -math.sin(yaw) * v
        y += math.cos(yaw) * v
        yaw += rate
    return out


def make_path(
    kind: str,
    rng: random.Random,
    n: int,
    lane: Callable[[float], float],
    road_half: float,
    focus: tuple[float, float, float],
    loop: bool = False,
) -> PathResult:
    """Poses for `n` frames. `focus` is a point of interest (orbit and crane look at it)."""
    y0 = rng.uniform(-5.0, 25.0)
    h = rng.uniform(1.4, 3.2)
    if kind == "pan":
        side = rng.choice((-1, 1)) * (road_half + rng.uniform(0.5, 2.5))
        return PathResult(_pan(rng, n, lane, side, y0, h), [])
    if kind == "dolly":
        return PathResult(_dolly(rng, n, lane, rng.uniform(-road_half * 0.6, road_half * 0.6), y0, h), [])
    if kind == "turn":
        return PathResult(_turn(rng, n, lane, rng.uniform(-road_half * 0.5, road_half * 0.5), y0, h), [])
    if kind == "cut":
        k = max(1, n // 2)
        a = _dolly(rng, k, lane, rng.uniform(-road_half * 0.5, road_half * 0.5), y0, h)
        side = rng.choice((-1, 1)) * (road_half + rng.uniform(0.5, 2.0))
        b = _pan(rng, n - k, lane, side, y0 + rng.uniform(15.0, 30.0), rng.uniform(1.5, 4.0))
        return PathResult(a + b, [k] if n - k > 0 else [])
    if kind == "orbit":
        # an ellipse centred on the carriageway near the focus: narrow across the road (rx), long
        # along it (ry), so the camera never enters a building, a tree, a lamp post or a hillside;
        # `loop` closes the circle over the clip
        off = max(-1.0, min(1.0, focus[0] - lane(focus[1])))
        centre = (lane(focus[1]) + off, focus[1], 1.0)
        rx = max(1.5, road_half - 0.8 - abs(off))
        ry = rng.uniform(7.0, 12.0)
        a0 = rng.uniform(0, 2 * math.pi)
        w = (2 * math.pi / n) if loop else math.radians(rng.uniform(2.0, 3.5)) * rng.choice((-1, 1))
        hh = rng.uniform(2.0, 4.5)
        out = []
        for i in range(n):
            a = a0 + w * i
            y = centre[1] + ry * math.sin(a)
            p = (lane(y) + off + rx * math.cos(a), y, hh)
            yaw, pitch = _look(p, centre)
            out.append((p[0], p[1], p[2], yaw, pitch))
        return PathResult(out, [], centre)
    if kind == "crane":
        out = []
        x = lane(y0) + rng.choice((-1, 1)) * road_half * 0.5
        for i in range(n):
            p = (x, focus[1] - 14.0 + 0.15 * i, 1.5 + 0.25 * i)
            yaw, pitch = _look(p, focus)
            out.append((p[0], p[1], p[2], yaw, pitch))
        return PathResult(out, [], focus)
    if kind == "overlook":
        # a training view the four street-level paths never give: looking down from close by on
        # the point of interest (usually a car), so that saturated up-facing surfaces fill much of
        # the frame. On the carriageway (like orbit, it never enters a building), 2.5-4.5 m along
        # the road from the focus, 3.5-5.5 m up, drifting slowly away along the road; orbit and
        # crane stay held out.
        half = max(0.0, road_half - 0.8)
        side = focus[0] - lane(focus[1]) + rng.uniform(-1.5, 1.5)
        d = rng.uniform(2.5, 4.5) * rng.choice((-1, 1))
        hh = rng.uniform(3.5, 5.5)
        v = rng.uniform(0.03, 0.08) * (1 if d > 0 else -1)  # drifting away from the focus
        out = []
        for i in range(n):
            y = focus[1] + d + v * i
            p = (lane(y) + max(-half, min(half, side)), y, hh)
            yaw, pitch = _look(p, focus)
            out.append((p[0], p[1], p[2], yaw, pitch))
        return PathResult(out, [], focus)
    raise ValueError(f"unknown camera path {kind!r}; use one of {', '.join(ALL_CAMERAS)}")
