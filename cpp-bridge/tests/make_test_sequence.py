#!/usr/bin/env python3
"""Writes a tiny color-only sequence folder (docs/formats.md, version 1) for the C++ host test.

Standard library only (PNG written with zlib), so any Python 3 can run it from ctest. Frames are
a gradient that moves one pixel per frame, with a camera cut halfway. With --light, sequence.json
also records a light per frame (light_for_frame: the C++ test Io.SequenceLightComesBack computes
the same vectors).
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import zlib
from pathlib import Path


def png_rgb8(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + r for r in rows)  # filter type 0 per row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def frame_rows(width: int, height: int, t: int) -> list[bytes]:
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            row += bytes(((x + t) * 255 // max(1, width - 1) % 256, y * 255 // max(1, height - 1), (x * y + 40 * t) % 256))
        rows.append(bytes(row))
    return rows


def light_for_frame(i: int) -> tuple[list[float], list[float]]:
    """Frame i's sun (turning 30 degrees a frame, 53 degrees up) and up (tilting 0.05 rad a frame),
    unit vectors in the view space of the normals (x right, y up, z towards the camera)."""
    phi = math.radians(30.0 * i)
    sun = [0.6 * math.sin(phi), 0.8, 0.6 * math.cos(phi)]
    t = 0.05 * i
    up = [0.0, math.cos(t), -math.sin(t)]
    return sun, up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--light", action="store_true", help="record a light per frame (sequence.json \"light\")")
    args = ap.parse_args()

    color = args.out / "color"
    color.mkdir(parents=True, exist_ok=True)
    for i in range(args.frames):
        (color / f"{i:04}.png").write_bytes(png_rgb8(args.width, args.height, frame_rows(args.width, args.height, i)))
    desc = {
        "format": "realmaster-sequence",
        "version": 1,
        "width": args.width,
        "height": args.height,
        "fps": 24.0,
        "frame_count": args.frames,
        "color": {"pattern": "color/{frame:04}.png", "encoding": "png_srgb"},
        "cuts": [args.frames // 2],
        "meta": {"scene": "cpp-bridge-test", "camera": "pan", "seed": 0, "split": "test"},
    }
    if args.light:
        lights = [light_for_frame(i) for i in range(args.frames)]
        desc["light"] = {"space": "view", "sun": [s for s, _ in lights], "up": [u for _, u in lights]}
    (args.out / "sequence.json").write_text(json.dumps(desc, indent=2) + "\n")
    print(f"wrote {args.frames} frames to {args.out}")


if __name__ == "__main__":
    main()
