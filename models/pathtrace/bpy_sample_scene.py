"""Blender entry point: `blender -b --factory-startup -P bpy_sample_scene.py -- --spec SPEC.json`.

Path-traces targets of a scene exported by the project's own sample renderer
(`realmaster-samples export-scene`, samples/renderer/src/export.rs): the same triangles, albedos,
moving objects, street lights, sun and cameras that renderer drew its engine frames with, lit per
weather exactly as the path-traced teacher lights its own scenes (bpy_weather). Writes
  <weather>/NNNN.exr   Cycles with GI + Denoising Albedo / Normal
  camera.json          timing and the panoramas used
into the spec's raw folder. The engine frames and G-buffers stay the sample renderer's own, so the
pair is "frames of a renderer the student never saw, path-traced target".

Materials follow the sample renderer's ids (mesh.rs): its engine look is flat albedo plus a window
grid on facades (shaders/common.wgsl window_cell), which is rebuilt here in nodes so the windows
land on the same pixels.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bpy  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

import bpy_nodes as nodes  # noqa: E402
import bpy_weather  # noqa: E402
from bpy_render import clear_scene, log, render_frames, run_main  # noqa: E402

# material name -> (roughness, metallic, exposed to rain, clearcoat, glows at night)
MATERIALS = {
    "ground": (0.9, 0.0, 1.0, 0.0, 0.0),
    "road": (0.75, 0.0, 1.0, 0.0, 0.0),
    "sidewalk": (0.8, 0.0, 1.0, 0.0, 0.0),
    "facade": (0.8, 0.0, 0.0, 0.0, 0.0),
    "roof": (0.7, 0.0, 0.0, 0.0, 0.0),
    "car_paint": (0.3, 0.0, 0.0, 1.0, 0.0),
    "glass": (0.05, 0.0, 0.0, 0.0, 0.0),
    "foliage": (0.7, 0.0, 0.0, 0.0, 0.0),
    "wood": (0.7, 0.0, 0.0, 0.0, 0.0),
    "metal": (0.35, 1.0, 0.0, 0.0, 0.0),
    "lamp": (0.3, 0.0, 0.0, 0.0, 6.0),
    "cloth": (0.85, 0.0, 0.0, 0.0, 0.0),
    "terrain": (0.9, 0.0, 1.0, 0.0, 0.0),
    "rock": (0.8, 0.0, 0.0, 0.0, 0.0),
    "water": (0.05, 0.0, 0.0, 0.0, 0.0),
    "mountain": (0.9, 0.0, 0.0, 0.0, 0.0),
    "marking": (0.6, 0.0, 1.0, 0.0, 0.0),
    "skin": (0.6, 0.0, 0.0, 0.0, 0.0),
    "tire": (0.9, 0.0, 0.0, 0.0, 0.0),
}
WINDOW_ALBEDO = (0.10, 0.13, 0.17)  # the sim shader's window colour (linear)


def to_blender(p: list[float] | tuple[float, ...]) -> Vector:
    """The sample renderer's y-up world (x, y, z) as Blender's z-up (x, -z, y): a rotation."""
    return Vector((p[0], -p[2], p[1]))


def read_vertices(path: str) -> array:
    a = array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a


def window_mask(nt, m):  # type: ignore[no-untyped-def]
    """1 inside a window of the facade grid (3 m bays, 3.2 m floors) on walls, as the sim draws it."""
    geo = nt.nodes.new("ShaderNodeNewGeometry")
    pos = nt.nodes.new("ShaderNodeSeparateXYZ")
    nodes.link(nt, geo.outputs["Position"], pos.inputs[0])
    nrm = nt.nodes.new("ShaderNodeSeparateXYZ")
    nodes.link(nt, geo.outputs["Normal"], nrm.inputs[0])
    # the renderer's facade_uv: (p.z, p.y) on walls facing +-x, else (p.x, p.y); its z is -y here
    x_wall = m(m(nrm.outputs["X"], "ABSOLUTE"), "GREATER_THAN", 0.5)
    neg_y = m(pos.outputs["Y"], "MULTIPLY", -1.0)
    u = m(m(neg_y, "MULTIPLY", x_wall), "ADD", m(pos.outputs["X"], "MULTIPLY", m(1.0, "SUBTRACT", x_wall)))
    v = pos.outputs["Z"]
    fu = m(m(u, "DIVIDE", 3.0), "FRACT")
    fv = m(m(v, "DIVIDE", 3.2), "FRACT")
    ground = m(m(m(v, "DIVIDE", 3.2), "FLOOR"), "LESS_THAN", 0.5)

    def inside(f, lo: float, hi: float):  # type: ignore[no-untyped-def]
        return m(m(f, "GREATER_THAN", lo), "MULTIPLY", m(f, "LESS_THAN", hi))

    shop = m(inside(fu, 0.08, 0.92), "MULTIPLY", inside(fv, 0.12, 0.78))
    upper = m(inside(fu, 0.24, 0.76), "MULTIPLY", inside(fv, 0.3, 0.84))
    win = m(m(shop, "MULTIPLY", ground), "ADD", m(upper, "MULTIPLY", m(1.0, "SUBTRACT", ground)))
    wall = m(m(nrm.outputs["Z"], "ABSOLUTE"), "LESS_THAN", 0.5)
    # a hash of the cell lights about 40 % of windows at night
    cell = nt.nodes.new("ShaderNodeCombineXYZ")
    nodes.link(nt, m(m(u, "DIVIDE", 3.0), "FLOOR"), cell.inputs[0])
    nodes.link(nt, m(m(v, "DIVIDE", 3.2), "FLOOR"), cell.inputs[1])
    noise = nt.nodes.new("ShaderNodeTexWhiteNoise")
    noise.noise_dimensions = "3D"
    nodes.link(nt, cell.outputs[0], noise.inputs["Vector"])
    lit = m(noise.outputs["Value"], "GREATER_THAN", 0.6)
    return m(win, "MULTIPLY", wall), lit


def material(name: str):  # type: ignore[no-untyped-def]
    """Principled through the shared weather group, base colour from the vertex albedo."""
    rough, metal, exposed, coat, glow = MATERIALS[name]
    mat = bpy.data.materials.new("rm_" + name)
    mat.use_nodes = True
    nt = mat.node_tree
    for n in list(nt.nodes):
        nt.nodes.remove(n)

    def m(a, op: str, b=None):  # type: ignore[no-untyped-def]
        """A math node: m(x, "ADD", y), or unary m(x, "ABSOLUTE"); numbers become constants."""
        return nodes._math(nt, op, a, b)

    out = nt.nodes.new("ShaderNodeOutputMaterial")
    bsdf = nt.nodes.new("ShaderNodeBsdfPrincipled")
    nodes.link(nt, bsdf.outputs[0], out.inputs["Surface"])
    bsdf.inputs["Metallic"].default_value = metal
    bsdf.inputs["Clearcoat"].default_value = coat
    grp = nodes.weather_node(nt)
    night = grp.outputs["Night"]
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = "albedo"
    col = attr.outputs["Color"]
    rough_out = None
    if name == "facade":
        win, lit = window_mask(nt, m)
        mix = nt.nodes.new("ShaderNodeMixRGB")
        nodes.link(nt, win, mix.inputs["Fac"])
        nodes.link(nt, col, mix.inputs["Color1"])
        mix.inputs["Color2"].default_value = (*WINDOW_ALBEDO, 1.0)
        col = mix.outputs["Color"]
        rough_out = m(m(win, "MULTIPLY", 0.05 - rough), "ADD", rough)
        bsdf.inputs["Emission"].default_value = (1.0, 0.72, 0.42, 1.0)
        strength = m(m(win, "MULTIPLY", lit), "MULTIPLY", m(night, "MULTIPLY", 4.0))
        nodes.link(nt, strength, bsdf.inputs["Emission Strength"])
    elif glow > 0:
        nodes.link(nt, col, bsdf.inputs["Emission"])
        nodes.link(nt, m(night, "MULTIPLY", glow), bsdf.inputs["Emission Strength"])
    nodes.link(nt, col, grp.inputs["Color"])
    if rough_out is None:
        grp.inputs["Roughness"].default_value = rough
    else:
        nodes.link(nt, rough_out, grp.inputs["Roughness"])
    grp.inputs["Exposed"].default_value = exposed
    nodes.link(nt, grp.outputs["Color"], bsdf.inputs["Base Color"])
    nodes.link(nt, grp.outputs["Roughness"], bsdf.inputs["Roughness"])
    return mat


def mesh_object(scene, name: str, verts: array, names: list[str], mats: dict):  # type: ignore[no-untyped-def]
    """One object from a vertex stream (8 floats per vertex, 3 vertices per triangle)."""
    n = len(verts) // 8
    coords = [tuple(to_blender(verts[i * 8 : i * 8 + 3])) for i in range(n)]
    faces = [(i, i + 1, i + 2) for i in range(0, n - n % 3, 3)]
    me = bpy.data.meshes.new(name)
    me.from_pydata(coords, [], faces)
    ids = sorted({int(verts[f[0] * 8 + 6] + 0.5) for f in faces})
    slot = {}
    for k in ids:
        mname = names[k]
        if mname not in mats:
            mats[mname] = material(mname)
        slot[k] = len(me.materials)
        me.materials.append(mats[mname])
    me.polygons.foreach_set("material_index", [slot[int(verts[f[0] * 8 + 6] + 0.5)] for f in faces])
    col = me.color_attributes.new("albedo", "FLOAT_COLOR", "CORNER")
    rgba = []
    for loop in me.loops:
        i = loop.vertex_index * 8
        rgba.extend((verts[i + 3], verts[i + 4], verts[i + 5], 1.0))
    col.data.foreach_set("color", rgba)
    me.update()
    ob = bpy.data.objects.new(name, me)
    scene.collection.objects.link(ob)
    return ob


def add_camera(scene, spec: dict, header: dict):  # type: ignore[no-untyped-def]
    cd = bpy.data.cameras.new("cam")
    cd.sensor_fit = "VERTICAL"
    cd.sensor_height = 24.0
    cd.lens = 12.0 / math.tan(math.radians(header["fovy_deg"]) / 2.0)
    cd.clip_start = header.get("near", 0.1)
    cd.clip_end = 5000.0
    cam = bpy.data.objects.new("cam", cd)
    scene.collection.objects.link(cam)
    scene.camera = cam
    for f, c in enumerate(header["cameras"]):
        fwd = to_blender(c["forward"]).normalized()
        up = to_blender(c["up"]).normalized()
        right = fwd.cross(up).normalized()
        # Blender cameras look along local -Z with local +Y up
        rot = Matrix((right, up, -fwd)).transposed()
        cam.matrix_world = Matrix.Translation(to_blender(c["eye"])) @ rot.to_4x4()
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)
    for fc in cam.animation_data.action.fcurves:
        for kp in fc.keyframe_points:
            kp.interpolation = "CONSTANT"
    return cam


def main() -> None:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    spec = json.load(open(argv[argv.index("--spec") + 1]))
    src = spec["scene_dir"]
    raw = spec["raw"]
    header = json.load(open(os.path.join(src, "scene.json")))
    clear_scene()
    scene = bpy.context.scene
    scene.render.resolution_x = header["width"]
    scene.render.resolution_y = header["height"]
    scene.render.resolution_percentage = 100
    scene.render.fps = int(round(header["fps"]))
    n = int(header["frames"])
    scene.frame_start, scene.frame_end = 0, n - 1
    t0 = time.time()
    names = header["materials"]
    mats: dict = {}
    mesh_object(scene, "static", read_vertices(os.path.join(src, header["static"])), names, mats)
    # moving objects: one object per frame, rendered only on its frame
    for f, fname in enumerate(header["dynamic"]):
        verts = read_vertices(os.path.join(src, fname))
        if not verts:
            continue
        ob = mesh_object(scene, f"dynamic_{f:04d}", verts, names, mats)
        for k in sorted({0, max(f - 1, 0), f, f + 1, n}):
            ob.hide_render = k != f
            ob.keyframe_insert("hide_render", frame=k)
    lamps = []
    for i, light in enumerate(header["lights"]):
        ld = bpy.data.lights.new(f"lamp{i}", "POINT")
        rgb = light["color"]
        peak = max(max(rgb), 1e-6)
        ld.color = tuple(c / peak for c in rgb)
        ld.shadow_soft_size = 0.15
        lo = bpy.data.objects.new(f"lamp{i}", ld)
        lo.location = to_blender(light["pos"])
        scene.collection.objects.link(lo)
        lamps.append(lo)
    add_camera(scene, spec, header)
    rng = random.Random(int(header.get("seed", 0)))
    light = bpy_weather.Lighting(scene, rng, tuple(to_blender(header["focus"])), spec.get("hdri_dir"))
    # the engine's sun: the lamp shines from (sin a cos e, -cos a cos e, sin e) for azimuth a
    sun = to_blender(header["sun_dir"])
    light.azimuth = math.atan2(sun.x, -sun.y)
    elev = float(header["sun_elevation_deg"])
    weathers = dict(bpy_weather.WEATHERS)
    for k, p in weathers.items():
        if p["elev"] == bpy_weather.ENGINE_SUN_ELEV:  # daytime lamps stand where the engine's sun is
            weathers[k] = dict(p, elev=elev)
    bpy_weather.WEATHERS.update(weathers)
    log(f"sample scene {header['scene']}/{header['variant']} built in {time.time() - t0:.1f} s "
        f"({len(bpy.data.objects)} objects, {len(mats)} materials)")
    info: dict = {"timing": {}, "sun_azimuth_rad": light.azimuth, "sun_elevation_deg": elev}
    bpy_weather.setup_cycles(scene, spec["samples"], 4, spec.get("threads", 1))
    for wname in spec["weathers"]:
        light.weather(wname, lamps, [])
        info["timing"][wname] = render_frames(scene, n, os.path.join(raw, wname, "{:04d}.exr"), wname)
    info["hdris"] = sorted(light.used_hdris)
    with open(os.path.join(raw, "camera.json"), "w") as f:
        json.dump(info, f)
    log("done")


if __name__ == "__main__":
    run_main(main)
