"""Third-party assets from Debian packages: found, unpacked once into a cache, or reported missing.

- trigger-rally-data: rally cars (OBJ + MTL + PNG livery + .vehicle with wheel positions) inside
  /usr/share/games/trigger-rally/data.zip. GPL-2+ (debian/copyright, "Files: data/data.zip").
- blender-data: the HDR panoramas in /usr/share/blender/datafiles/studiolights/world (CC0).
Where a package is absent the generator still runs with procedural stand-ins, and says so in the
log and in each clip's meta.fallbacks.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

log = logging.getLogger("pathtrace")

TRIGGER_ZIP = Path("/usr/share/games/trigger-rally/data.zip")
HDRI_DIR = Path("/usr/share/blender/datafiles/studiolights/world")
# Car models by family; the "fox" family is reserved for the held-out split.
TRAIN_CAR_FAMILIES = ("cordo", "evo")
HELDOUT_CAR_FAMILIES = ("fox",)
LIVERIES = ("kitcar", "super500", "wrc")


def cache_dir() -> Path:
    base = os.environ.get("REALMASTER_PATHTRACE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "realmaster-pathtrace"
    )
    return Path(base)


def car_dirs(split: str, zip_path: Path | None = None) -> list[str]:
    """Unpacked car folders for `split` ([] and a warning when trigger-rally-data is missing)."""
    zip_path = TRIGGER_ZIP if zip_path is None else zip_path
    if not zip_path.is_file():
        log.warning("trigger-rally-data not installed (%s missing): cars are procedural boxes", zip_path)
        return []
    fams = HELDOUT_CAR_FAMILIES if split == "heldout" else TRAIN_CAR_FAMILIES
    names = [f"{f}_{v}" for f in fams for v in LIVERIES]
    out = []
    root = cache_dir() / "trigger-rally"
    with zipfile.ZipFile(zip_path) as z:
        members = set(z.namelist())
        for name in names:
            d = root / name
            files = [f"{name}.obj", f"{name}.png", f"{name}.vehicle", f"{name}_wheel.obj"]
            if not all(f"vehicles/{name}/{f}" in members for f in files):
                continue
            if not all((d / f).is_file() for f in files):
                tmp = root / f".{name}.{os.getpid()}"
                tmp.mkdir(parents=True, exist_ok=True)
                for f in files:
                    (tmp / f).write_bytes(z.read(f"vehicles/{name}/{f}"))
                try:
                    os.replace(tmp, d)
                except OSError:  # another worker unpacked it first
                    for f in files:
                        (tmp / f).unlink(missing_ok=True)
                    tmp.rmdir()
            out.append(str(d))
    return out


def hdri_dir() -> str | None:
    if HDRI_DIR.is_dir():
        return str(HDRI_DIR)
    log.warning("blender-data HDRIs not found (%s): targets are lit by a flat sky colour", HDRI_DIR)
    return None
