#!/usr/bin/env python3
"""One engine frame under every prompt: renders a sequence once per prompt with the shipped model
(`realmaster render`, cinematic) and lays frame --frame of each next to the engine frame.

  .venv/bin/python scripts/prompt_sheet.py --sequence samples/city_pan --frame 12 --out docs/prompts.png

Prompts: the six presets and one free-text prompt (--free). Errors print what is wrong and how to
fix it and exit with status 2.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ["clear", "fog", "golden_hour", "night", "rain", "snow"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequence", type=Path, default=Path("samples/city_pan"))
    ap.add_argument("--frame", type=int, default=12)
    ap.add_argument("--free", default="foggy morning", help="a free-text prompt shown after the presets")
    ap.add_argument("--model", type=Path, default=Path("models/realmaster-student"))
    ap.add_argument("--realmaster", type=Path, default=ROOT / "target" / "release" / "realmaster")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    seq = a.sequence if a.sequence.is_absolute() else ROOT / a.sequence
    engine = seq / "color" / f"{a.frame:04d}.png"
    if not engine.is_file():
        print(f"error: {engine} does not exist\nfix: pass a sequence folder and a frame it has", file=sys.stderr)
        return 2
    if not a.realmaster.is_file():
        print(f"error: {a.realmaster} does not exist\nfix: cargo build --release --bin realmaster", file=sys.stderr)
        return 2
    tiles = [("engine", Image.open(engine).convert("RGB"))]
    with tempfile.TemporaryDirectory(prefix="realmaster-prompts-") as tmp:
        for p in PRESETS + [a.free]:
            out = Path(tmp) / p.replace(" ", "_")
            subprocess.run(
                [str(a.realmaster), "render", str(seq), "--model", str(a.model), "--prompt", p, "--out", str(out),
                 "--frames", str(a.frame + 1), "--no-video", "--force"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            label = p if p in PRESETS else f'"{p}"'
            tiles.append((label, Image.open(out / "frames" / f"{a.frame:04d}.png").convert("RGB")))
    w, h = tiles[0][1].size
    cols = 4
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * w, rows * (h + 16)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, (label, im) in enumerate(tiles):
        x, y = (i % cols) * w, (i // cols) * (h + 16)
        draw.text((x + 4, y + 2), label, fill=(230, 230, 230))
        sheet.paste(im, (x, y + 16))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(a.out, optimize=True)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
