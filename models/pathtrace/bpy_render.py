"""Blender entry point: `blender -b --factory-startup -P bpy_render.py -- --spec SPEC.json`.

Builds the clip's scene from its seed, animates cars, people and the camera, and renders into the
spec's raw folder:
  engine/NNNN.png   the engine look (EEVEE, or Cycles direct light only when EEVEE cannot run);
                    with `engine_only` (a look variant, looks.py) nothing else but camera.json
  gbuf/NNNN.exr     Cycles, 1 sample at the pixel centre: Depth (Z), Normal (world), Vector
  <weather>/NNNN.exr  path-traced target (Cycles with GI) + Denoising Albedo / Normal
  camera.json       per-frame camera matrices and intrinsics, assets, fallbacks, probe
Post-processing into a sequence folder happens outside Blender (postprocess.py).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bpy  # noqa: E402
from mathutils import Euler  # noqa: E402

import bpy_scene  # noqa: E402
import bpy_weather  # noqa: E402
import camera_paths  # noqa: E402


def log(msg: str) -> None:
    print(f"pathtrace[blender]: {msg}", flush=True)


def clear_scene() -> None:
    for ob in list(bpy.data.objects):
        bpy.data.objects.remove(ob, do_unlink=True)
    for coll in (bpy.data.meshes, bpy.data.materials, bpy.data.lights, bpy.data.cameras):
        for d in list(coll):
            coll.remove(d)


def add_camera(scene, spec: dict, path: camera_paths.PathResult):  # type: ignore[no-untyped-def]
    cd = bpy.data.cameras.new("cam")
    cd.lens = spec.get("lens_mm", 24.0)
    cd.sensor_fit = "HORIZONTAL"
    cd.sensor_width = 36.0
    cd.clip_start = 0.1
    cd.clip_end = 5000.0
    cam = bpy.data.objects.new("cam", cd)
    scene.collection.objects.link(cam)
    scene.camera = cam
    for f, (x, y, z, heading, pitch) in enumerate(path.poses):
        cam.location = (x, y, z)
        cam.rotation_euler = Euler((math.pi / 2 + pitch, 0.0, heading), "XYZ")
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)
    for fc in cam.animation_data.action.fcurves:
        for kp in fc.keyframe_points:
            kp.interpolation = "LINEAR" if not path.cuts else "CONSTANT"
    return cam


def add_probe(scene, cam, dist: float) -> dict:  # type: ignore[no-untyped-def]
    """A flat board facing the camera at frame 0, `dist` metres ahead on its axis (for the depth test)."""
    import bmesh
    from mathutils import Matrix, Vector

    scene.frame_set(0)
    mw = cam.matrix_world.copy()
    fwd = -(mw.to_3x3() @ Vector((0, 0, 1)))
    c = mw.translation + fwd * dist
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.0, matrix=Matrix.Diagonal((3.0, 3.0, 0.05, 1.0)))
    me = bpy.data.meshes.new("probe")
    bm.to_mesh(me)
    bm.free()
    me.materials.append(bpy.data.materials["marking"])
    ob = bpy.data.objects.new("probe", me)
    scene.collection.objects.link(ob)
    ob.matrix_world = Matrix.Translation(c + fwd * 0.025) @ mw.to_3x3().to_4x4()
    return {"center": list(c), "normal": list(-fwd), "distance": dist}


def render_frames(scene, frames: int, pattern: str, what: str, animation: bool = False) -> float:  # type: ignore[no-untyped-def]
    t0 = time.time()
    if animation:
        # one render job for all frames: EEVEE then sets up once (about 2x faster than stills here);
        # Blender names the files <folder>/NNNN.<ext> itself
        scene.frame_start, scene.frame_end = 0, frames - 1
        scene.render.filepath = os.path.dirname(pattern) + os.sep
        scene.render.use_file_extension = True
        bpy.ops.render.render(animation=True)
        dt = time.time() - t0
        log(f"{what}: {frames} frames in {dt:.1f} s ({dt / frames:.2f} s/frame)")
        return dt
    for f in range(frames):
        scene.frame_set(f)
        scene.render.filepath = pattern.format(f)
        bpy.ops.render.render(write_still=True)
    dt = time.time() - t0
    log(f"{what}: {frames} frames in {dt:.1f} s ({dt / frames:.2f} s/frame)")
    return dt


def main() -> None:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    spec = json.load(open(argv[argv.index("--spec") + 1]))
    raw = spec["raw"]
    rng = random.Random(spec["seed"])
    clear_scene()
    scene = bpy.context.scene
    scene.render.resolution_x = spec["width"]
    scene.render.resolution_y = spec["height"]
    scene.render.resolution_percentage = 100
    scene.render.fps = int(round(spec["fps"]))
    scene.frame_start = 0
    scene.frame_end = spec["frames"] - 1
    t0 = time.time()
    layout = bpy_scene.build(spec["scene"], spec["variant"], rng, spec.get("car_dirs", []))
    bpy_scene.animate(layout, spec["frames"], spec["fps"])
    path = camera_paths.make_path(
        spec["camera"], rng, spec["frames"], layout.lane, layout.road_half, layout.focus, spec.get("loop", False)
    )
    cam = add_camera(scene, spec, path)
    probe = add_probe(scene, cam, float(spec["probe"])) if spec.get("probe") else None
    light = bpy_weather.Lighting(scene, rng, layout.focus, spec.get("hdri_dir"), spec.get("pano_turn", 0.0))
    log(f"scene {spec['scene']}/{spec['variant']} camera {spec['camera']} built in {time.time() - t0:.1f} s "
        f"({len(bpy.data.objects)} objects)")
    cams = []
    for f in range(spec["frames"]):
        scene.frame_set(f)
        cams.append([list(r) for r in cam.matrix_world])
    w = spec["width"]
    fx = cam.data.lens / cam.data.sensor_width * w
    info = {
        "matrices": cams, "fx": fx, "fy": fx, "cx": w / 2.0, "cy": spec["height"] / 2.0,
        "cuts": path.cuts, "assets": sorted(set(layout.assets_used)), "fallbacks": layout.fallbacks,
        "probe": probe, "timing": {}, "sun": light.sun_record(spec["weathers"], spec.get("engine_look")),
    }
    if spec.get("describe_only"):  # the scene, cameras and sun of an existing clip, nothing rendered
        with open(os.path.join(raw, "camera.json"), "w") as f:
            json.dump(info, f)
        log("done (described, nothing rendered)")
        return
    threads = spec.get("threads", 1)
    n = spec["frames"]
    # engine look (a look variant's parameters, when the spec has one)
    look = spec.get("engine_look")
    light.engine(spec["engine"] == "eevee", look)
    if spec["engine"] == "eevee":
        bpy_weather.setup_eevee(scene, threads, look)
    else:
        bpy_weather.setup_engine_cycles(scene, threads, look)
    info["timing"]["engine"] = render_frames(
        scene, n, os.path.join(raw, "engine", "{:04d}.png"), "engine", animation=spec["engine"] == "eevee"
    )
    if spec.get("engine_only"):  # a look variant: the clip's G-buffers and targets already exist
        with open(os.path.join(raw, "camera.json"), "w") as f:
            json.dump(info, f)
        log("done (engine look only)")
        return
    # G-buffer
    bpy_weather.setup_cycles(scene, 1, 0, threads, gbuffer=True)
    info["timing"]["gbuffer"] = render_frames(scene, n, os.path.join(raw, "gbuf", "{:04d}.exr"), "gbuffer")
    # targets
    bpy_weather.setup_cycles(scene, spec["samples"], 4, threads)
    for wname in spec["weathers"]:
        light.weather(wname, layout.lamps, layout.headlights)
        info["timing"][wname] = render_frames(scene, n, os.path.join(raw, wname, "{:04d}.exr"), wname)
    info["hdris"] = sorted(light.used_hdris)
    with open(os.path.join(raw, "camera.json"), "w") as f:
        json.dump(info, f)
    log("done")


def run_main(main) -> None:  # type: ignore[no-untyped-def]
    """Run a Blender entry point: a traceback and exit code 3 on any error (Blender itself would exit 0)."""
    try:
        main()
    except Exception:
        import traceback

        traceback.print_exc()
        sys.stdout.flush()
        os._exit(3)
    sys.stdout.flush()


if __name__ == "__main__":
    run_main(main)
