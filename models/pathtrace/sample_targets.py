"""Path-traced targets for a clip of the project's own sample renderer.

    .venv/bin/python -m models.pathtrace.sample_targets --sequence samples/heldout_downtown_orbit \
        --out samples/heldout_downtown_orbit_pathtraced --samples 8 --threads 2

The sample renderer (samples/renderer) draws the engine frames and G-buffers of the source sequence;
its own targets are a procedural grade of that renderer, not path-traced. This tool exports the
same clip's scene (`realmaster-samples export-scene`: triangles, albedos, moving objects, lights,
sun, cameras), path-traces it per weather in Blender with the teacher's lighting (bpy_weather:
CC0 panoramas turned to the engine's sun, fog, wet and snow materials, lit windows and lamps at
night), denoises and exposes the result as the teacher does (postprocess.py), and writes a new
sequence folder: the source's engine frames and planes, path-traced targets. The pair is the issue's
"clip from a renderer the model never trained on" with a path-traced target.

Bad arguments print `error: ...` / `fix: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import assets  # type: ignore[no-redef]
    import postprocess  # type: ignore[no-redef]
    from generate import ArgError, blender_exe  # type: ignore[no-redef]
else:
    from . import assets, postprocess
    from .generate import ArgError, blender_exe

log = logging.getLogger("pathtrace")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BPY_SCRIPT = HERE / "bpy_sample_scene.py"
GENERATOR = "realmaster-pathtrace 0.2.1 (sample-renderer scene)"
PLANES = ("color", "depth", "normals", "motion")


def samples_binary(explicit: str | None) -> Path:
    """The realmaster-samples binary: --samples-bin, else the workspace's release or debug build (release built if neither)."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ArgError(f"--samples-bin {p} does not exist", "pass the path of a built realmaster-samples binary")
        return p
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "realmaster-samples"
        if p.is_file():
            return p
    p = ROOT / "target" / "release" / "realmaster-samples"
    if not p.is_file():
        log.info("building realmaster-samples (cargo build --release -p realmaster-samples)")
        rc = subprocess.call(["cargo", "build", "--release", "-p", "realmaster-samples"], cwd=ROOT)
        if rc != 0 or not p.is_file():
            raise ArgError("could not build realmaster-samples", "run `cargo build --release -p realmaster-samples` and read its error")
    return p


def source_meta(seq: Path) -> dict:
    path = seq / "sequence.json"
    if not path.is_file():
        raise ArgError(f"{seq} has no sequence.json", "pass a sequence folder written by realmaster-samples")
    d = json.loads(path.read_text())
    meta = d.get("meta", {})
    if not str(meta.get("generator", "")).startswith("realmaster-samples"):
        raise ArgError(
            f"{seq} was not drawn by the sample renderer (meta.generator = {meta.get('generator')!r})",
            "pass a sequence of realmaster-samples (e.g. samples/heldout_downtown_orbit)",
        )
    for k in ("scene", "variant", "camera", "seed"):
        if k not in meta:
            raise ArgError(f"{path} lacks meta.{k}", "regenerate the sequence with realmaster-samples")
    return d


def export_scene(binary: Path, d: dict, out: Path) -> None:
    meta = d["meta"]
    cmd = [
        str(binary), "export-scene", "--scene", meta["scene"], "--variant", meta["variant"],
        "--camera", meta["camera"], "--frames", str(d["frame_count"]), "--width", str(d["width"]),
        "--height", str(d["height"]), "--fps", str(d["fps"]), "--seed", str(meta["seed"]), "--out", str(out),
    ]
    subprocess.run(cmd, check=True)


def render(spec: dict, workdir: Path, threads: int) -> None:
    exe = blender_exe()
    if exe is None:
        raise ArgError("blender not found", "install Debian's blender (make setup does) or set REALMASTER_BLENDER")
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    cmd = [exe, "-b", "--factory-startup", "-t", str(threads), "-P", str(BPY_SCRIPT), "--", "--spec", str(spec_path)]
    with open(workdir / "blender.log", "w") as logf:
        rc = subprocess.call(cmd, stdout=logf, stderr=subprocess.STDOUT)
    if rc != 0 or not (Path(spec["raw"]) / "camera.json").is_file():
        tail = (workdir / "blender.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"blender failed (exit {rc}); log {workdir / 'blender.log'}:\n{tail}")


def write_targets(raw: Path, src: Path, dst: Path, d: dict, weathers: list[str], denoise: bool) -> dict:
    """Copy the source's engine frames and planes, add the exposed path-traced targets; returns exposures."""
    n = d["frame_count"]
    for part in PLANES:
        shutil.copytree(src / part, dst / part, dirs_exist_ok=True)
    oidn = postprocess._denoiser() if denoise else None
    engine_avg = postprocess.engine_log_average([dst / "color" / f"{f:04d}.png" for f in range(n)])
    exposures = {}
    for w in weathers:
        frames = [postprocess.target_linear(raw, w, f, oidn) for f in range(n)]
        lum = np.concatenate([postprocess.luminance(x).ravel() for x in frames])
        exposure = postprocess.clip_exposure(w, engine_avg, postprocess.log_average(lum))
        exposures[w] = round(exposure, 5)
        for f, x in enumerate(frames):
            postprocess.write_png(dst / "targets" / w / f"{f:04d}.png", postprocess.linear_to_srgb(postprocess.aces_fit(x * exposure)))
    return {"exposures": exposures, "engine_log_average": round(engine_avg, 5), "denoiser": "oidn" if oidn is not None else "none"}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequence", type=Path, required=True, help="a sequence folder drawn by realmaster-samples")
    ap.add_argument("--out", type=Path, required=True, help="new sequence folder (engine frames + path-traced targets)")
    ap.add_argument("--weathers", default="all", help=f"comma-separated subset of {','.join(postprocess.KEYS)} or all")
    ap.add_argument("--samples", type=int, default=8, help="Cycles samples per pixel (default 8, as the teacher; denoised)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples-bin", help="realmaster-samples binary (default: target/release, built if missing)")
    ap.add_argument("--no-denoise", action="store_true", help="skip Open Image Denoise (pyoidn)")
    ap.add_argument("--force", action="store_true", help="replace --out if it exists")
    ap.add_argument("--keep-work", type=Path, help="keep the exported scene, raw renders and Blender log here")
    return ap


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    a = build_parser().parse_args(argv)
    try:
        d = source_meta(a.sequence)
        weathers = list(postprocess.KEYS) if a.weathers == "all" else [w.strip() for w in a.weathers.split(",") if w.strip()]
        bad = [w for w in weathers if w not in postprocess.KEYS]
        if bad or not weathers:
            raise ArgError(f"unknown weather(s) {bad or a.weathers!r}", f"choose from {', '.join(postprocess.KEYS)} or all")
        if a.samples < 1:
            raise ArgError(f"--samples {a.samples} must be at least 1", "pass e.g. --samples 32")
        if a.out.resolve() == a.sequence.resolve():
            raise ArgError("--out is the source sequence", "write the path-traced pair to a new folder")
        if a.out.exists() and any(a.out.iterdir()) and not a.force:
            raise ArgError(f"--out {a.out} exists and is not empty", "pass --force to replace it, or choose another folder")
        binary = samples_binary(a.samples_bin)
    except ArgError as e:
        print(f"error: {e.problem}\nfix: {e.fix}", file=sys.stderr)
        return 2
    t0 = time.time()
    work = a.keep_work or Path(tempfile.mkdtemp(prefix="rm_sample_pt_"))
    work.mkdir(parents=True, exist_ok=True)
    scene_dir, raw = work / "scene", work / "raw"
    raw.mkdir(exist_ok=True)
    spec = {"scene_dir": str(scene_dir), "raw": str(raw), "samples": a.samples, "weathers": weathers,
            "threads": a.threads, "hdri_dir": assets.hdri_dir()}
    try:
        export_scene(binary, d, scene_dir)
        render(spec, work, a.threads)
    except ArgError as e:
        print(f"error: {e.problem}\nfix: {e.fix}", file=sys.stderr)
        return 2
    except (subprocess.CalledProcessError, RuntimeError) as e:
        # nothing was written to --out; the work folder keeps the scene, raw renders and Blender's log
        print(f"error: {e}\nfix: read the log above (kept in {work}) and rerun", file=sys.stderr)
        return 1
    tmp = a.out.with_name(f".tmp-{a.out.name}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    post = write_targets(raw, a.sequence, tmp, d, weathers, not a.no_denoise)
    info = json.loads((raw / "camera.json").read_text())
    out = dict(d)
    out["targets"] = {w: f"targets/{w}/{{frame:04}}.png" for w in weathers}
    meta = dict(d["meta"])
    meta.update({
        "engine": meta.get("generator"), "generator": GENERATOR, "split": "heldout", "teacher": 2,
        "targets": "path-traced (Cycles, the sample renderer's exported scene)",
        "source_sequence": a.sequence.name, "samples": a.samples, "hdris": info.get("hdris", []),
        "asset_policy": "permissive", "camera_sky": "zenith_cap",
        **post,
    })
    out["meta"] = meta  # the source's `light` (the renderer writes it) comes along with `d`
    (tmp / "sequence.json").write_text(json.dumps(out, indent=2))
    if a.out.exists():
        shutil.rmtree(a.out)
    tmp.rename(a.out)
    if a.keep_work is None:
        shutil.rmtree(work, ignore_errors=True)
    log.info("wrote %s (%d frames x %d weathers) in %.0f s", a.out, d["frame_count"], len(weathers), time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
