"""Record where the sun stands in clips rendered before the generator wrote it (meta.sun, and the
runtime's per-frame `light` in view space).

    .venv/bin/python models/pathtrace/describe.py DIR [DIR...]

Each DIR is a sequence folder or a folder of them. For a path-traced clip without `meta.sun`, Blender
rebuilds its scene from the clip's own record (seed, scene, variant, camera, size, frames; nothing is
rendered, a few seconds a clip) and the sun directions are written into its sequence.json only when
the rebuilt cameras match the clip's render_info.json: the same matrices mean the same random draws,
so the same sun. An engine-look variant takes its clip's record. Clips that already have it, and
clips of other generators, are left as they are. Exit 0 when every clip has its sun afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import generate  # type: ignore[no-redef]
    import postprocess  # type: ignore[no-redef]
else:
    from . import generate, postprocess

# Rebuilt camera matrices further than this from the recorded ones mean the scene was not rebuilt as rendered.
MATCH_TOLERANCE = 1e-4


def clip_folders(dirs: list[Path]) -> list[Path]:
    out = []
    for d in dirs:
        if (d / "sequence.json").is_file():
            out.append(d)
        elif d.is_dir():
            out += sorted(p.parent for p in d.glob("*/sequence.json"))
    return out


def rebuilt(seq: dict, name: str, work: Path) -> dict:
    """camera.json of the clip's scene rebuilt by Blender from its record (nothing rendered)."""
    meta = seq["meta"]
    clip = {k: meta[k] for k in ("scene", "variant", "camera", "seed", "split")}
    clip["name"] = name
    opts = {
        "frames": seq["frame_count"], "width": seq["width"], "height": seq["height"], "samples": meta.get("samples", 1),
        "weathers": sorted(seq.get("targets", {})), "engine": meta["engine"], "threads": 1,
        "loop": bool(meta.get("loop")), "gpl_assets": meta.get("asset_policy") == "gpl",
    }
    raw = work / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    spec = dict(generate.clip_spec(clip, opts, raw), describe_only=True)
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    # no frame is drawn, so no display is needed whatever the clip's engine look was
    cmd = generate.blender_command(spec_path, "cycles_direct", 1)
    with open(work / "blender.log", "w") as logf:
        rc = subprocess.call(cmd, stdout=logf, stderr=subprocess.STDOUT)
    if rc != 0 or not (raw / "camera.json").is_file():
        tail = (work / "blender.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"blender failed to rebuild {name} (exit {rc}):\n{tail}")
    return json.loads((raw / "camera.json").read_text())


def add_light(folder: Path, seq: dict) -> bool:
    """Write the runtime's per-frame `light` (postprocess.view_light) from meta.sun and the clip's
    cameras, if the clip has both and no light yet; True when written."""
    meta = seq.get("meta", {})
    sun = meta.get("sun", {}).get("engine")
    cams = (folder.parent / meta["look_of"] if meta.get("look_of") else folder) / "render_info.json"
    if "light" in seq or sun is None or not cams.is_file():
        return False
    seq["light"] = postprocess.view_light(sun, json.loads(cams.read_text())["matrices"], int(seq["frame_count"]))
    (folder / "sequence.json").write_text(json.dumps(seq, indent=2))
    return True


def describe(folder: Path) -> str:
    """Give one clip its meta.sun and light; returns what happened (raises RuntimeError when it cannot)."""
    path = folder / "sequence.json"
    seq = json.loads(path.read_text())
    meta = seq.get("meta", {})
    if "sun" in meta:
        return "has it" + (", light written" if add_light(folder, seq) else "")
    gen = str(meta.get("generator", ""))
    if not gen.startswith("realmaster-pathtrace") or "sample-renderer scene" in gen:
        # the sample renderer's scenes (sample_targets.py) are not built from a seed here
        return f"skipped (generator {gen!r}: not a scene this generator builds from a seed)"
    if meta.get("look_of"):
        base = json.loads((folder.parent / meta["look_of"] / "sequence.json").read_text())["meta"]
        if "sun" not in base:
            raise RuntimeError(f"{folder.name}: its clip {meta['look_of']} has no sun yet (describe it first)")
        meta["sun"] = base["sun"]
        path.write_text(json.dumps(seq, indent=2))
        add_light(folder, seq)
        return f"from {meta['look_of']}"
    info = json.loads((folder / "render_info.json").read_text())
    if generate.blender_exe() is None:
        raise RuntimeError("blender is not installed (make setup installs it)")
    with tempfile.TemporaryDirectory(prefix="describe-") as tmp:
        cam = rebuilt(seq, folder.name, Path(tmp))
    want, got = np.asarray(info["matrices"], np.float64), np.asarray(cam["matrices"], np.float64)
    diff = float(np.abs(want - got).max()) if want.shape == got.shape else float("inf")
    if diff > MATCH_TOLERANCE:
        raise RuntimeError(
            f"{folder.name}: the rebuilt cameras differ from render_info.json by {diff:.3g} (the scene was not "
            "rebuilt as rendered, e.g. another generator version or --pano-turn/--gpl-assets): nothing written"
        )
    meta["sun"] = cam["sun"]
    path.write_text(json.dumps(seq, indent=2))
    add_light(folder, seq)
    return f"written (cameras match to {diff:.1e})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="sequence folders, or folders of them")
    a = ap.parse_args(argv)
    folders = clip_folders(a.dirs)
    if not folders:
        print(f"error: no sequence folder (with sequence.json) in {', '.join(map(str, a.dirs))}\n"
              "  fix: pass the folders the generator wrote", file=sys.stderr)
        return 2
    # clips before their engine-look variants
    folders.sort(key=lambda f: ("__look" in f.name, f.name))
    failed = 0
    for f in folders:
        try:
            print(f"{f.name}: {describe(f)}", flush=True)
        except KeyError as e:
            failed += 1
            print(f"error: {f.name}: its sequence.json or render_info.json lacks {e} (not the generator's output?)\n"
                  "  fix: regenerate the clip with models/pathtrace, which records its sun", file=sys.stderr, flush=True)
        except (RuntimeError, OSError, ValueError) as e:
            failed += 1
            print(f"error: {e}\n  fix: regenerate the clip with models/pathtrace, which records its sun",
                  file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
