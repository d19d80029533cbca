#!/usr/bin/env python3
"""Side-by-side picture of a rendered sequence: engine frames, RealMaster output and, when the
sequence has them, the path-traced target frames for the same prompt.

  .venv/bin/python scripts/side_by_side.py --sequence samples/heldout_pathtrace_x \
      --output out/demo-heldout/frames --weather clear --out out/demo-heldout/side_by_side.png

Rows: engine (top), output, target (if the sequence has targets for --weather); columns: --columns
frames spread evenly over the clip. Each row is labelled on its left. Errors print what is wrong and
how to fix it and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def fail(msg: str, fix: str) -> int:
    print(f"error: {msg}\nfix: {fix}", file=sys.stderr)
    return 2


def frame_path(root: Path, pattern: str, i: int) -> Path:
    # sequence.json patterns use "{frame:04}"; Python's format needs "{frame:04d}".
    return root / pattern.replace("{frame:04}", f"{i:04d}")


def load(p: Path) -> np.ndarray:
    return np.asarray(Image.open(p).convert("RGB"))


def label(img: np.ndarray, text: str) -> np.ndarray:
    pad = np.full((img.shape[0], 92, 3), 24, np.uint8)
    im = Image.fromarray(np.concatenate([pad, img], 1))
    ImageDraw.Draw(im).text((6, img.shape[0] // 2 - 6), text, fill=(230, 230, 230))
    return np.asarray(im)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequence", type=Path, required=True, help="the sequence folder that was rendered")
    ap.add_argument("--output", type=Path, required=True, help="the folder of rendered frames (NNNN.png)")
    ap.add_argument("--weather", default="clear", help="prompt the output was rendered with (target row)")
    ap.add_argument("--columns", type=int, default=4)
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    a = ap.parse_args(argv)
    if a.columns < 1:
        return fail("--columns must be at least 1", "pass --columns 4")
    try:
        desc = json.loads((a.sequence / "sequence.json").read_text())
    except (OSError, ValueError) as e:
        return fail(f"cannot read {a.sequence / 'sequence.json'}: {e}", "pass a sequence folder (docs/formats.md)")
    n = int(desc["frame_count"])
    picks = sorted({round(k * (n - 1) / max(1, a.columns - 1)) for k in range(a.columns)}) if n > 1 else [0]
    rows: list[tuple[str, list[Path]]] = [
        ("engine", [frame_path(a.sequence, desc["color"]["pattern"], i) for i in picks]),
        ("RealMaster", [a.output / f"{i:04d}.png" for i in picks]),
    ]
    target = desc.get("targets", {}).get(a.weather)
    if target:
        rows.append((f"target\n({a.weather})", [frame_path(a.sequence, target, i) for i in picks]))
    missing = [str(p) for _, ps in rows for p in ps if not p.is_file()]
    if missing:
        return fail(f"missing frames: {', '.join(missing[:3])}", "render the sequence first (realmaster render SEQ --out DIR)")
    strips = [label(np.concatenate([load(p) for p in ps], 1), name) for name, ps in rows]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(f".{a.out.name}.tmp.png")
    Image.fromarray(np.concatenate(strips, 0)).save(tmp)
    os.replace(tmp, a.out)  # never a half-written picture
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
