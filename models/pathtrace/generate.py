"""Teacher-data generator: Blender scenes -> sequence folders with path-traced targets per weather.

    .venv/bin/python -m models.pathtrace --out DIR --clips N --frames F --size 256x144 \
        --samples S --workers N [--ray-address ADDR|local] [--split train|heldout] --seed K \
        [--engine-looks N]

One Blender process per clip (`blender -b --factory-startup -P bpy_render.py -- --spec ...`, under
xvfb-run when EEVEE draws the engine look). A clip renders into DIR/.tmp-<name>/ and is renamed to
DIR/<name>/ when complete, so an interrupted run resumes where it stopped: finished clips (with a
sequence.json) are skipped. `--engine-looks N` adds N variants per clip that only re-render the
engine frames with another look (looks.py), into DIR/<name>__look<k>/. Bad arguments print `error: ...` / `fix: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import assets  # type: ignore[no-redef]
    import looks  # type: ignore[no-redef]
    import plan as planmod  # type: ignore[no-redef]
    import postprocess  # type: ignore[no-redef]
else:
    from . import assets, looks, postprocess
    from . import plan as planmod

log = logging.getLogger("pathtrace")
HERE = Path(__file__).resolve().parent
BPY_SCRIPT = HERE / "bpy_render.py"


class ArgError(Exception):
    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def blender_exe() -> str | None:
    return os.environ.get("REALMASTER_BLENDER") or shutil.which("blender")


def pick_engine(requested: str) -> str:
    """'eevee' when a virtual display (xvfb-run) is available, else Cycles direct light."""
    if requested == "cycles":
        return "cycles_direct"
    if shutil.which("xvfb-run"):
        return "eevee"
    if requested == "eevee":
        raise ArgError("--engine eevee needs xvfb-run (EEVEE cannot draw without a display)", "install xvfb or pass --engine auto")
    log.warning("xvfb-run not found: the engine look falls back to Cycles with direct light only")
    return "cycles_direct"


def blender_command(spec_path: Path, engine: str, threads: int) -> list[str]:
    exe = blender_exe()
    assert exe is not None
    cmd = [exe, "-b", "--factory-startup", "-t", str(threads), "-P", str(BPY_SCRIPT), "--", "--spec", str(spec_path)]
    if engine == "eevee":
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 640x480x24"] + cmd
    return cmd


def clip_spec(clip: dict, opts: dict, raw: Path) -> dict:
    """The Blender script's spec for one clip (bpy_render.py reads it)."""
    return {
        "scene": clip["scene"], "variant": clip["variant"], "camera": clip["camera"], "seed": clip["seed"],
        "split": clip["split"], "frames": opts["frames"], "width": opts["width"], "height": opts["height"],
        "fps": 24.0, "samples": opts["samples"], "weathers": opts["weathers"], "engine": opts["engine"],
        "raw": str(raw), "hdri_dir": assets.hdri_dir(),
        "car_dirs": assets.car_dirs(clip["split"]) if opts.get("gpl_assets") else [],
        "asset_policy": "gpl" if opts.get("gpl_assets") else "permissive",
        "threads": opts["threads"], "loop": opts.get("loop", False), "probe": opts.get("probe"),
        "pano_turn": opts.get("pano_turn", 0.0), "denoise": opts.get("denoise", True), "lens_mm": 24.0,
    }


def run_blender(spec: dict, tmp: Path, name: str, opts: dict) -> None:
    """Run bpy_render.py on `spec` (written into `tmp`); raises with the log's tail when it fails."""
    spec_path = tmp / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    cmd = blender_command(spec_path, opts["engine"], opts["threads"])
    if opts.get("nice"):
        cmd = ["nice", "-n", str(opts["nice"])] + cmd
    with open(tmp / "blender.log", "w") as logf:
        rc = subprocess.call(cmd, stdout=logf, stderr=subprocess.STDOUT)
    if rc != 0 or not (Path(spec["raw"]) / "camera.json").is_file():
        tail = (tmp / "blender.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"blender failed on {name} (exit {rc}); log {tmp / 'blender.log'}:\n{tail}")


def _fresh_tmp(out: Path, name: str) -> tuple[Path, Path, Path]:
    tmp = out / f".tmp-{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    raw, seq = tmp / "raw", tmp / "seq"
    for d in (raw, seq):
        d.mkdir(parents=True)
    return tmp, raw, seq


def _publish(tmp: Path, seq: Path, final: Path) -> None:
    if final.exists():  # an incomplete folder from elsewhere (no sequence.json): replace it
        shutil.rmtree(final)
    os.replace(seq, final)
    shutil.rmtree(tmp, ignore_errors=True)


def render_clip(clip: dict, opts: dict) -> dict:
    """Render one clip into opts['out']/<name>; skip it when it is already complete."""
    out = Path(opts["out"])
    name = clip["name"]
    final = out / name
    if (final / "sequence.json").is_file():
        return {"name": name, "status": "skipped"}
    tmp, raw, seq = _fresh_tmp(out, name)
    spec = clip_spec(clip, opts, raw)
    t0 = time.time()
    run_blender(spec, tmp, name, opts)
    t_blender = time.time() - t0
    postprocess.write_sequence(raw, seq, spec, half=opts.get("half", False))
    if opts.get("keep_log"):
        shutil.copyfile(tmp / "blender.log", seq / "blender.log")
    _publish(tmp, seq, final)
    dt = time.time() - t0
    return {"name": name, "status": "rendered", "seconds": round(dt, 1), "blender_seconds": round(t_blender, 1),
            "s_per_frame": round(dt / opts["frames"], 2)}


def render_look(clip: dict, look: dict, name: str, opts: dict) -> dict:
    """An engine-look variant of a finished clip into opts['out']/`name` (looks.py): only the engine
    frames are rendered; G-buffers and targets are the clip's (hard links where possible)."""
    out = Path(opts["out"])
    final = out / name
    if (final / "sequence.json").is_file():
        return {"name": name, "status": "skipped"}
    base = out / clip["name"]
    if not (base / "sequence.json").is_file():
        raise RuntimeError(f"{name}: its clip {base} is not rendered (render the clip first)")
    have = json.loads((base / "sequence.json").read_text())
    if (have["width"], have["height"], have["frame_count"]) != (opts["width"], opts["height"], opts["frames"]):
        raise RuntimeError(
            f"{name}: its clip is {have['width']}x{have['height']}, {have['frame_count']} frames, not "
            f"{opts['width']}x{opts['height']}, {opts['frames']} (pass the clip's --size and --frames)"
        )
    tmp, raw, seq = _fresh_tmp(out, name)
    spec = dict(clip_spec(clip, opts, raw), engine_only=True, engine_look=look, weathers=[])
    t0 = time.time()
    run_blender(spec, tmp, name, opts)
    postprocess.write_look(raw, seq, base, spec, look)
    _publish(tmp, seq, final)
    return {"name": name, "status": "rendered", "seconds": round(time.time() - t0, 1)}


def render_job(job: dict, opts: dict) -> dict:
    """One unit of work: a clip, or (with a "look" key) one of its engine-look variants, or (with
    "sun_elev") its canonical look under a sun at that elevation."""
    if job.get("sun_elev") is not None:
        e = float(job["sun_elev"])
        return render_look(job, looks.sun_look(e), looks.sun_look_name(job["name"], e), opts)
    if job.get("look"):
        k = int(job["look"])
        return render_look(job, looks.engine_look(job["seed"], k), looks.look_name(job["name"], k), opts)
    return render_clip(job, opts)


def parse_size(s: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in s.lower().split("x"))
    except ValueError:
        raise ArgError(f"--size {s!r} is not WIDTHxHEIGHT", "pass e.g. --size 256x144")
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise ArgError(f"--size {s} is out of range", "pass a width and height between 16 and 4096")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m models.pathtrace", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output folder (one sequence folder per clip)")
    p.add_argument("--clips", type=int, default=1)
    p.add_argument("--start", type=int, default=0, help="first clip index (clip names and seeds follow it)")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", default="256x144")
    p.add_argument("--samples", type=int, default=8, help="Cycles samples per pixel for the targets")
    p.add_argument("--workers", type=int, default=1, help="local Blender processes at once")
    p.add_argument("--threads", type=int, default=1, help="Blender threads per worker")
    p.add_argument("--ray-address", default=None, help="Ray cluster address ('auto', 'ray://...'), or 'local' for a local Ray")
    p.add_argument("--split", choices=("train", "heldout"), default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scene", choices=planmod.SCENES, default=None, help="only this scene kind")
    p.add_argument("--camera", default=None, help="force one camera path (train: pan, dolly, turn, cut, or overlook, which looks down on the point of interest from close by; heldout: orbit, crane)")
    p.add_argument("--weathers", default=",".join(planmod.WEATHERS), help="comma-separated target prompts")
    p.add_argument("--engine", choices=("auto", "eevee", "cycles"), default="auto", help="engine look renderer")
    p.add_argument("--loop", action="store_true", help="orbit closes a full circle over the clip")
    p.add_argument("--half", action="store_true", help="write depth/normals/motion as half-float EXR")
    p.add_argument("--no-denoise", action="store_true")
    p.add_argument(
        "--gpl-assets", action="store_true",
        help="also use GPL-2+ assets (trigger-rally-data's cars); off by default: weights trained on the data "
        "ship under MIT OR Apache-2.0, and copyleft training images are kept out of them (procedural cars instead)",
    )
    p.add_argument(
        "--engine-looks", type=int, default=0, metavar="N",
        help="also render N engine-look variants per clip (looks.py: other suns, skies, shadows, AO, bloom, "
        "tone curves; only the engine frames are rendered, G-buffers and targets are the clip's)",
    )
    p.add_argument(
        "--engine-sun-elev", type=float, default=None, metavar="DEG",
        help="also render each clip's canonical engine look with its sun at DEG degrees on the same azimuth "
        "(<clip>__sun<DEG>: what a game rendering its own time of day draws). It pairs only with the targets "
        "lit by that sun (golden hour's, at 8): the others' shadows fall elsewhere",
    )
    p.add_argument("--nice", type=int, default=0, help="run Blender under nice -n N")
    p.add_argument("--probe", type=float, default=None, help=argparse.SUPPRESS)
    # test hook: turn the panoramas DEG away from the engine's sun (tests check that aligned wins)
    p.add_argument("--pano-turn", type=float, default=0.0, help=argparse.SUPPRESS)
    return p


def validate(a: argparse.Namespace) -> dict:
    if a.clips < 1 or a.clips > 100000:
        raise ArgError(f"--clips {a.clips} is out of range", "pass at least 1")
    if a.frames < 1 or a.frames > 2000:
        raise ArgError(f"--frames {a.frames} is out of range", "pass 1 to 2000")
    if a.samples < 1 or a.samples > 4096:
        raise ArgError(f"--samples {a.samples} is out of range", "pass 1 to 4096")
    if a.workers < 1 or a.threads < 1:
        raise ArgError("--workers and --threads must be at least 1", "pass e.g. --workers 2 --threads 1")
    if not 0 <= a.engine_looks <= 16:
        raise ArgError(f"--engine-looks {a.engine_looks} is out of range", "pass 0 to 16")
    if a.engine_sun_elev is not None and not 0.0 < a.engine_sun_elev <= 90.0:
        raise ArgError(f"--engine-sun-elev {a.engine_sun_elev} is out of range", "pass an elevation in (0, 90] degrees, e.g. 8")
    w, h = parse_size(a.size)
    weathers = [x.strip() for x in a.weathers.split(",") if x.strip()]
    bad = [x for x in weathers if x not in planmod.WEATHERS]
    if bad or not weathers:
        raise ArgError(f"unknown weather(s) {', '.join(bad) or '(none)'}", f"use some of {', '.join(planmod.WEATHERS)}")
    cams = planmod.HELDOUT_CAMERAS if a.split == "heldout" else planmod.TRAIN_CAMERAS + planmod.EXTRA_TRAIN_CAMERAS
    if a.camera is not None and a.camera not in cams:
        raise ArgError(
            f"--camera {a.camera} is not a {a.split} camera path",
            f"use one of {', '.join(cams)} (orbit and crane are reserved for the held-out split)",
        )
    if blender_exe() is None:
        raise ArgError("blender is not installed", "run make setup (Debian package 'blender') or set REALMASTER_BLENDER")
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise ArgError(f"--out {out} exists and is not a folder", "pass a folder path")
    return {
        "out": str(out.resolve()), "frames": a.frames, "width": w, "height": h, "samples": a.samples,
        "weathers": weathers, "engine": pick_engine(a.engine), "threads": a.threads, "loop": a.loop,
        "half": a.half, "denoise": not a.no_denoise, "nice": a.nice, "probe": a.probe, "gpl_assets": a.gpl_assets,
        "pano_turn": a.pano_turn,
    }


def run_local(clips: list[dict], opts: dict, workers: int) -> list[dict]:
    results: list[dict] = []
    if workers == 1:
        for c in clips:
            r = render_job(c, opts)
            log.info("%s", json.dumps(r))
            results.append(r)
        return results
    with ProcessPoolExecutor(max_workers=workers) as ex:
        futs = {ex.submit(render_job, c, opts): c["name"] for c in clips}
        for fu in as_completed(futs):
            r = fu.result()
            log.info("%s", json.dumps(r))
            results.append(r)
    return results


def run_ray(clips: list[dict], opts: dict, address: str, workers: int) -> list[dict]:
    import ray

    # The task's code travels by value, so Ray workers need not import this package; every node
    # needs Blender and this folder (bpy_render.py) at the same path.
    import ray.cloudpickle as cp

    for mod in (sys.modules[render_clip.__module__], assets, looks, postprocess, planmod):
        cp.register_pickle_by_value(mod)
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False)
    task = ray.remote(num_cpus=opts["threads"])(render_job)
    refs = [task.remote(c, opts) for c in clips]
    results = []
    for r in ray.get(refs):
        log.info("%s", json.dumps(r))
        results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="pathtrace: %(message)s", stream=sys.stderr)
    a = build_parser().parse_args(argv)
    try:
        opts = validate(a)
    except ArgError as e:
        print(f"error: {e.problem}\n  fix: {e.fix}", file=sys.stderr)
        return 2
    Path(opts["out"]).mkdir(parents=True, exist_ok=True)
    plans = planmod.plan(a.clips, a.split, a.seed, a.start, a.scene, a.camera)
    clips = [dict(p.to_dict(), name=p.name) for p in plans]

    def done(name: str) -> bool:
        return (Path(opts["out"]) / name / "sequence.json").is_file()

    todo = [c for c in clips if not done(c["name"])]
    # look variants render after their clips (they reuse the clip's G-buffers and targets)
    variants = [dict(c, look=k) for c in clips for k in range(1, a.engine_looks + 1)]
    looks_todo = [v for v in variants if not done(looks.look_name(v["name"], v["look"]))]
    if a.engine_sun_elev is not None:
        e = a.engine_sun_elev
        looks_todo += [dict(c, sun_elev=e) for c in clips if not done(looks.sun_look_name(c["name"], e))]
    log.info("%d clips, %d already done, %d engine-look variants to render, engine %s, %s", len(clips),
             len(clips) - len(todo), len(looks_todo), opts["engine"],
             f"ray {a.ray_address}" if a.ray_address else f"{a.workers} local worker(s)")
    t0 = time.time()
    res: list[dict] = []
    try:
        for jobs in (todo, looks_todo):
            if not jobs:
                continue
            if a.ray_address:
                res += run_ray(jobs, opts, a.ray_address, a.workers)
            else:
                res += run_local(jobs, opts, a.workers)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    n = sum(1 for r in res if r["status"] == "rendered")
    if n:
        log.info("rendered %d clips and variants in %.0f s", n, time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
