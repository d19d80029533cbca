"""Scene building inside Blender: city street, suburb road, landscape road; cars, people, lamps.

Runs in Blender's Python (bpy + bmesh, no numpy). Every random choice comes from the clip's
seeded `random.Random`, so a seed gives the same layout every time. Roads run along +Y.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

import bmesh
import bpy
from mathutils import Matrix, Vector

import bpy_nodes as nodes

from plan import VARIANTS  # noqa: E402  (the last variant of each kind is held-out only)


@dataclass
class Mover:
    obj: Any
    start: tuple[float, float, float]
    velocity: tuple[float, float, float]
    heading: float
    limbs: list[tuple[Any, float, float]] = field(default_factory=list)  # (object, amplitude, phase)
    stride: float = 0.0  # walking phase per metre


@dataclass
class Layout:
    lane: Callable[[float], float]
    road_half: float
    focus: tuple[float, float, float]
    movers: list[Mover] = field(default_factory=list)
    lamps: list[Any] = field(default_factory=list)  # point lights, on at night
    headlights: list[Any] = field(default_factory=list)  # spot lights, on at night / in fog / rain
    assets_used: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# mesh helpers


def new_object(name: str, bm: Any, mat: Any, color: tuple[float, float, float] | None = None) -> Any:
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    me.materials.append(mat)
    ob = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(ob)
    if color is not None:
        ob.color = (*color, 1.0)
    return ob


def box_bm(bm: Any, lo: tuple[float, float, float], hi: tuple[float, float, float]) -> None:
    c = [(a + b) / 2 for a, b in zip(lo, hi)]
    s = [b - a for a, b in zip(lo, hi)]
    m = Matrix.Translation(c) @ Matrix.Diagonal((*s, 1.0))
    bmesh.ops.create_cube(bm, size=1.0, matrix=m)


def box(name: str, lo: tuple, hi: tuple, mat: Any, color: tuple | None = None) -> Any:
    bm = bmesh.new()
    box_bm(bm, lo, hi)
    return new_object(name, bm, mat, color)


def cylinder_bm(bm: Any, base: tuple, radius: float, height: float, segs: int = 10, radius2: float | None = None) -> None:
    m = Matrix.Translation((base[0], base[1], base[2] + height / 2))
    bmesh.ops.create_cone(
        bm, cap_ends=True, segments=segs, radius1=radius, radius2=radius if radius2 is None else radius2,
        depth=height, matrix=m,
    )


def sphere_bm(bm: Any, c: tuple, r: float, subdiv: int = 2, squash: float = 1.0) -> None:
    m = Matrix.Translation(c) @ Matrix.Diagonal((1.0, 1.0, squash, 1.0))
    bmesh.ops.create_icosphere(bm, subdivisions=subdiv, radius=r, matrix=m)


def smooth(ob: Any) -> None:
    for p in ob.data.polygons:
        p.use_smooth = True


# ---------------------------------------------------------------------------------------------
# materials


def materials(rng: random.Random, kind: str, variant: str) -> dict[str, Any]:
    S = nodes.surface
    return {
        "asphalt": S("asphalt", (0.085, 0.085, 0.09), 0.75, exposed=1.0, noise_scale=1.3, noise_amount=0.35),
        "marking": S("marking", (0.8, 0.8, 0.75), 0.5, exposed=1.0),
        "sidewalk": S("sidewalk", (0.42, 0.41, 0.39), 0.8, exposed=1.0, noise_scale=3.0, noise_amount=0.25),
        "curb": S("curb", (0.55, 0.55, 0.53), 0.7),
        "facade": S(
            "facade", (1.0, 1.0, 1.0), 0.8, use_object_color=True, noise_scale=2.0, noise_amount=0.18,
            windows={"spacing": 3.2 if variant != "oldtown" else 2.6, "floor": 3.3},
        ),
        "house": S(
            "house", (1.0, 1.0, 1.0), 0.85, use_object_color=True, noise_scale=4.0, noise_amount=0.12,
            windows={"spacing": 4.0, "floor": 2.9, "ground": 0.8},
        ),
        "roof": S("roof", (1.0, 1.0, 1.0), 0.7, use_object_color=True, noise_scale=8.0, noise_amount=0.2),
        "grass": S("grass", (0.16, 0.26, 0.07), 0.9, exposed=0.4, noise_scale=0.6, noise_amount=0.4),
        "dirt": S("dirt", (0.3, 0.24, 0.17), 0.95, exposed=1.0, noise_scale=1.5, noise_amount=0.35),
        "rock": S("rock", (0.38, 0.37, 0.35), 0.85, noise_scale=1.5, noise_amount=0.4),
        "bark": S("bark", (0.2, 0.14, 0.09), 0.9),
        "leaves": S("leaves", (1.0, 1.0, 1.0), 0.7, use_object_color=True, noise_scale=3.0, noise_amount=0.35),
        "metal": S("metal", (0.25, 0.26, 0.27), 0.4, metallic=0.8),
        "lampglass": S("lampglass", (0.9, 0.9, 0.85), 0.2, emission=(1.0, 0.78, 0.5), emission_night=25.0),
        "cloth": S("cloth", (1.0, 1.0, 1.0), 0.8, use_object_color=True),
        "skin": S("skin", (1.0, 1.0, 1.0), 0.6, use_object_color=True),
        "carpaint": S("carpaint", (1.0, 1.0, 1.0), 0.3, use_object_color=True, clearcoat=0.8),
        "tyre": S("tyre", (0.03, 0.03, 0.03), 0.8),
        "headlamp": S("headlamp", (0.9, 0.9, 0.9), 0.1, emission=(1.0, 0.95, 0.85), emission_night=30.0),
        "taillamp": S("taillamp", (0.5, 0.02, 0.02), 0.2, emission=(1.0, 0.05, 0.02), emission_night=12.0),
        "water": S("water", (0.02, 0.05, 0.07), 0.03, exposed=0.0),
    }


# ---------------------------------------------------------------------------------------------
# props


def street_lamp(name: str, x: float, y: float, z0: float, side: float, mats: dict, layout: Layout) -> None:
    bm = bmesh.new()
    cylinder_bm(bm, (x, y, z0), 0.08, 6.0, 8, 0.06)
    box_bm(bm, (x - 0.04, y - 0.04, z0 + 5.9), (x - side * 1.3, y + 0.04, z0 + 6.0))
    new_object(name + "_pole", bm, mats["metal"])
    hx = x - side * 1.3
    box(name + "_head", (hx - 0.25, y - 0.15, z0 + 5.75), (hx + 0.25, y + 0.15, z0 + 5.9), mats["lampglass"])
    ld = bpy.data.lights.new(name + "_light", "POINT")
    ld.energy = 0.0
    ld.color = (1.0, 0.78, 0.5)
    ld.shadow_soft_size = 0.15
    lo = bpy.data.objects.new(name + "_light", ld)
    lo.location = (hx, y, z0 + 5.6)
    bpy.context.scene.collection.objects.link(lo)
    layout.lamps.append(lo)


def tree(name: str, x: float, y: float, z0: float, rng: random.Random, mats: dict, scale: float = 1.0, conifer: bool = False) -> None:
    bm = bmesh.new()
    h = rng.uniform(2.0, 3.5) * scale
    cylinder_bm(bm, (x, y, z0), 0.14 * scale, h, 7, 0.09 * scale)
    new_object(name + "_trunk", bm, mats["bark"])
    bm = bmesh.new()
    green = (rng.uniform(0.1, 0.2), rng.uniform(0.22, 0.35), rng.uniform(0.05, 0.1))
    if conifer:
        for k in range(3):
            cylinder_bm(bm, (x, y, z0 + h * 0.5 + k * 1.3 * scale), (1.6 - 0.4 * k) * scale, 2.4 * scale, 9, 0.05)
    else:
        for _ in range(rng.randint(2, 4)):
            c = (x + rng.uniform(-0.8, 0.8) * scale, y + rng.uniform(-0.8, 0.8) * scale, z0 + h + rng.uniform(0.2, 1.4) * scale)
            sphere_bm(bm, c, rng.uniform(1.1, 1.8) * scale, 2, 0.85)
        for v in bm.verts:  # lumpy crown, from the seed
            v.co += v.normal * rng.uniform(-0.18, 0.18) * scale
    ob = new_object(name + "_crown", bm, mats["leaves"], green)
    smooth(ob)


def person(name: str, x: float, y: float, z0: float, heading: float, speed: float, rng: random.Random, mats: dict) -> Mover:
    root = bpy.data.objects.new(name, None)
    bpy.context.scene.collection.objects.link(root)
    root.location = (x, y, z0)
    root.rotation_euler = (0.0, 0.0, heading)
    shirt = rng.choice([(0.6, 0.1, 0.1), (0.1, 0.2, 0.5), (0.8, 0.7, 0.2), (0.15, 0.15, 0.15), (0.9, 0.9, 0.88), (0.2, 0.4, 0.25)])
    pants = rng.choice([(0.08, 0.1, 0.2), (0.1, 0.1, 0.1), (0.35, 0.3, 0.22)])
    skin = rng.choice([(0.8, 0.6, 0.45), (0.55, 0.38, 0.25), (0.35, 0.22, 0.14), (0.9, 0.72, 0.6)])
    s = rng.uniform(0.92, 1.08)

    def part(pname: str, build: Callable[[Any], None], mat: str, color: tuple, pivot: tuple) -> Any:
        bm = bmesh.new()
        build(bm)
        ob = new_object(f"{name}_{pname}", bm, mats[mat], color)
        smooth(ob)
        ob.parent = root
        ob.location = pivot
        return ob

    part("torso", lambda bm: cylinder_bm(bm, (0, 0, 0), 0.18 * s, 0.62 * s, 10, 0.15 * s), "cloth", shirt, (0, 0, 0.88 * s))
    part("head", lambda bm: sphere_bm(bm, (0, 0, 0), 0.11 * s, 2, 1.15), "skin", skin, (0, 0, 1.66 * s))
    limbs = []
    for side in (-1, 1):
        leg = part(f"leg{side}", lambda bm: cylinder_bm(bm, (0, 0, -0.88 * s), 0.075 * s, 0.88 * s, 8, 0.085 * s), "cloth", pants, (side * 0.09 * s, 0, 0.9 * s))
        arm = part(f"arm{side}", lambda bm: cylinder_bm(bm, (0, 0, -0.62 * s), 0.045 * s, 0.62 * s, 8, 0.055 * s), "cloth", shirt, (side * 0.23 * s, 0, 1.46 * s))
        limbs.append((leg, 0.45, 0.0 if side > 0 else math.pi))
        limbs.append((arm, 0.35, math.pi if side > 0 else 0.0))
    v = (-math.sin(heading) * speed, math.cos(heading) * speed, 0.0)
    return Mover(root, (x, y, z0), v, heading, limbs, stride=math.pi / (0.75 * s))


# ---------------------------------------------------------------------------------------------
# cars


def _parse_obj(path: str) -> tuple[list, list, list]:
    verts: list = []
    uvs: list = []
    faces: list = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] == "v":
                verts.append(tuple(float(a) for a in p[1:4]))
            elif p[0] == "vt":
                uvs.append((float(p[1]), float(p[2])))
            elif p[0] == "f":
                fv = []
                for t in p[1:]:
                    q = t.split("/")
                    fv.append((int(q[0]) - 1, int(q[1]) - 1 if len(q) > 1 and q[1] else -1))
                faces.append(fv)
    return verts, uvs, faces


def _mesh_from_obj(name: str, path: str, scale: float, offset: tuple, rot_x: float = 0.0) -> Any:
    verts, uvs, faces = _parse_obj(path)
    rot = Matrix.Rotation(rot_x, 3, "X")
    vs = [tuple(Vector(offset) + rot @ (Vector(v) * scale)) for v in verts]
    me = bpy.data.meshes.new(name)
    me.from_pydata(vs, [], [[a for a, _ in f] for f in faces])
    if uvs:
        uvl = me.uv_layers.new(name="UVMap")
        k = 0
        for f in faces:
            for _, t in f:
                uvl.data[k].uv = uvs[t] if t >= 0 else (0.0, 0.0)
                k += 1
    me.validate()
    return me


class CarLibrary:
    """Trigger Rally cars (OBJ + PNG livery) when their folder exists; box cars otherwise."""

    def __init__(self, car_dirs: list[str], mats: dict, layout: Layout) -> None:
        self.mats = mats
        self.layout = layout
        self.models: list[tuple[str, Any, Any, list, float, tuple]] = []
        for d in car_dirs:
            try:
                self.models.append(self._load(d))
                layout.assets_used.append("trigger-rally-data:vehicles/" + d.rstrip("/").split("/")[-1])
            except Exception as e:  # a broken asset folder must not stop the clip
                print(f"pathtrace: car {d} not loaded ({e}); using a procedural car", flush=True)
        if not self.models:
            layout.fallbacks.append("cars: procedural box cars (no car meshes: --gpl-assets not given or trigger-rally-data missing)")

    def _load(self, d: str) -> tuple[str, Any, Any, list, float, tuple]:
        import os
        import re

        name = os.path.basename(d.rstrip("/"))
        spec = open(os.path.join(d, name + ".vehicle")).read()
        body = re.search(r'<part[^>]*pos="([^"]+)"[^>]*scale="([^"]+)"', spec, re.S)
        assert body is not None
        bpos = tuple(float(a) for a in body.group(1).split(","))
        bscale = float(body.group(2))
        wheels = [tuple(float(a) for a in m.group(1).split(",")) + (float(m.group(2)),)
                  for m in re.finditer(r'<wheel[^>]*pos="([^"]+)"[^>]*radius="([^"]+)"', spec)]
        body_me = _mesh_from_obj(name, os.path.join(d, name + ".obj"), bscale, bpos)
        wverts, _, _ = _parse_obj(os.path.join(d, name + "_wheel.obj"))
        wr = max(math.hypot(v[1], v[2]) for v in wverts)
        radius = wheels[0][3] if wheels else 0.3
        wheel_me = _mesh_from_obj(name + "_wheel", os.path.join(d, name + "_wheel.obj"), radius / wr, (0, 0, 0))
        mat = nodes.surface("car_" + name, roughness=0.35, image=os.path.join(d, name + ".png"), clearcoat=0.6)
        body_me.materials.append(mat)
        wheel_me.materials.append(mat)
        for me in (body_me, wheel_me):
            for p in me.polygons:
                p.use_smooth = True
        lift = -min(w[2] for w in wheels) + radius if wheels else 0.4
        ys = [v.co.y for v in body_me.vertices]
        xs = [abs(v.co.x) for v in body_me.vertices]
        zs = [v.co.z for v in body_me.vertices]
        # lamps sit on the body's own bounds (front/back, 55% of the half width, 22% up), as boxes deep
        # enough to reach into a rounded nose or tail
        bounds = (max(ys), min(ys), 0.55 * max(xs), min(zs) + 0.22 * (max(zs) - min(zs)))
        return name, body_me, wheel_me, wheels, lift, bounds

    def place(self, name: str, x: float, y: float, z0: float, heading: float, rng: random.Random) -> Any:
        root = bpy.data.objects.new(name, None)
        bpy.context.scene.collection.objects.link(root)
        root.location = (x, y, z0)
        root.rotation_euler = (0.0, 0.0, heading)
        if self.models:
            mname, body_me, wheel_me, wheels, lift, bounds = rng.choice(self.models)
            b = bpy.data.objects.new(name + "_body", body_me)
            bpy.context.scene.collection.objects.link(b)
            b.parent = root
            b.location = (0, 0, lift)
            for i, w in enumerate(wheels):
                wo = bpy.data.objects.new(f"{name}_wheel{i}", wheel_me)
                bpy.context.scene.collection.objects.link(wo)
                wo.parent = root
                wo.location = (w[0], w[1], w[2] + lift)
                if w[0] < 0:
                    wo.rotation_euler = (0, 0, math.pi)
            front, back, half, lamp_z = bounds[0] - 0.04, bounds[1] + 0.04, bounds[2], bounds[3] + lift
        else:
            color = rng.choice([(0.6, 0.05, 0.05), (0.05, 0.1, 0.35), (0.8, 0.8, 0.8), (0.05, 0.05, 0.05), (0.3, 0.32, 0.3)])
            b = box(name + "_body", (-0.85, -2.1, 0.35), (0.85, 2.1, 1.05), self.mats["carpaint"], color)
            cab = box(name + "_cabin", (-0.75, -1.1, 1.05), (0.75, 0.9, 1.5), self.mats["carpaint"], color)
            for o in (b, cab):
                o.parent = root
            for i, (wx, wy) in enumerate(((-0.8, 1.3), (0.8, 1.3), (-0.8, -1.3), (0.8, -1.3))):
                bm = bmesh.new()
                bmesh.ops.create_cone(bm, cap_ends=True, segments=12, radius1=0.34, radius2=0.34, depth=0.24,
                                      matrix=Matrix.Translation((wx, wy, 0.34)) @ Matrix.Rotation(math.pi / 2, 4, "Y"))
                w = new_object(f"{name}_wheel{i}", bm, self.mats["tyre"])
                w.parent = root
            front, back, half, lamp_z = 2.1, -2.1, 0.65, 0.75
        for sx in (-1, 1):
            hl = box(f"{name}_hl{sx}", (sx * half - 0.13, front - 0.3, lamp_z), (sx * half + 0.13, front - 0.02, lamp_z + 0.09), self.mats["headlamp"])
            tl = box(f"{name}_tl{sx}", (sx * half - 0.13, back + 0.02, lamp_z + 0.1), (sx * half + 0.13, back + 0.3, lamp_z + 0.19), self.mats["taillamp"])
            hl.parent = root
            tl.parent = root
            sd = bpy.data.lights.new(f"{name}_spot{sx}", "SPOT")
            sd.energy = 0.0
            sd.spot_size = math.radians(55)
            sd.spot_blend = 0.4
            sd.shadow_soft_size = 0.05
            sd.color = (1.0, 0.95, 0.85)
            so = bpy.data.objects.new(f"{name}_spot{sx}", sd)
            bpy.context.scene.collection.objects.link(so)
            so.parent = root
            so.location = (sx * half, front + 0.1, lamp_z + 0.05)
            so.rotation_euler = (math.radians(-84), 0, 0)  # -Z (the spot axis) turned to +Y, slightly down
            self.layout.headlights.append(so)
        return root


# ---------------------------------------------------------------------------------------------
# scenes


def _traffic(layout: Layout, cars: CarLibrary, rng: random.Random, lanes: list[tuple[float, int]], parked: list[float], z0: float, n_moving: int, people_x: list[float], n_people: int, mats: dict) -> None:
    for i in range(n_moving):
        lx, d = rng.choice(lanes)
        y = rng.uniform(-10, 60)
        heading = 0.0 if d > 0 else math.pi
        x = layout.lane(y) + lx
        root = cars.place(f"car{i}", x, y, z0, heading, rng)
        speed = rng.uniform(5.0, 11.0)
        layout.movers.append(Mover(root, (x, y, z0), (0.0, d * speed, 0.0), heading))
    for i, px in enumerate(parked):
        y = rng.uniform(-10, 70)
        cars.place(f"parked{i}", layout.lane(y) + px, y, z0, rng.choice((0.0, math.pi)), rng)
    for i in range(n_people):
        px = rng.choice(people_x)
        y = rng.uniform(-5, 55)
        heading = rng.choice((0.0, math.pi)) + rng.uniform(-0.1, 0.1)
        layout.movers.append(person(f"person{i}", layout.lane(y) + px, y, z0 + (0.15 if abs(px) > 0 else 0), heading, rng.uniform(1.1, 1.6), rng, mats))


def build_city(rng: random.Random, variant: str, cars: CarLibrary, mats: dict, layout: Layout) -> None:
    rh, sw = 5.0, 4.0
    box("road", (-rh, -80, -0.1), (rh, 180, 0.0), mats["asphalt"])
    for s in (-1, 1):
        box(f"sidewalk{s}", (min(s * rh, s * (rh + sw)), -80, -0.1), (max(s * rh, s * (rh + sw)), 180, 0.15), mats["sidewalk"])
    bm = bmesh.new()
    for y in range(-78, 178, 9):
        box_bm(bm, (-0.08, y, 0.0), (0.08, y + 3.5, 0.006))
    for s in (-1, 1):
        box_bm(bm, (s * (rh - 0.3) - 0.07, -80, 0.0), (s * (rh - 0.3) + 0.07, 180, 0.006))
    cy = rng.uniform(30, 50)
    for k in range(10):
        box_bm(bm, (-rh + 0.4 + k * 0.95, cy, 0.0), (-rh + 0.4 + k * 0.95 + 0.5, cy + 3.0, 0.006))
    new_object("markings", bm, mats["marking"])
    palette = {
        "downtown": [(0.55, 0.55, 0.58), (0.7, 0.68, 0.62), (0.35, 0.38, 0.42), (0.6, 0.5, 0.4), (0.8, 0.8, 0.78)],
        "oldtown": [(0.72, 0.55, 0.4), (0.8, 0.72, 0.55), (0.6, 0.35, 0.25), (0.85, 0.8, 0.7), (0.55, 0.5, 0.45)],
        "harbor": [(0.45, 0.3, 0.25), (0.5, 0.52, 0.5), (0.7, 0.62, 0.5), (0.3, 0.35, 0.4), (0.62, 0.6, 0.55)],
    }[variant]
    hr = {"downtown": (14, 42), "oldtown": (8, 15), "harbor": (6, 20)}[variant]
    for s in (-1, 1):
        y = -70.0
        i = 0
        while y < 170:
            w = rng.uniform(8, 18)
            d = rng.uniform(10, 16)
            h = rng.uniform(*hr)
            x0 = s * (rh + sw + rng.uniform(0.0, 0.6))
            lo = (min(x0, x0 + s * d), y, 0.0)
            hi = (max(x0, x0 + s * d), y + w - rng.uniform(0.0, 0.8), h)
            box(f"bld{s}_{i}", lo, hi, mats["facade"], rng.choice(palette))
            y += w
            i += 1
    for k, y in enumerate(range(-60, 160, 22)):
        for s in (-1, 1):
            street_lamp(f"lamp{s}_{k}", s * (rh + 0.5), y + (11 if s > 0 else 0), 0.15, s, mats, layout)
    for k in range(rng.randint(3, 6)):
        s = rng.choice((-1, 1))
        tree(f"tree{k}", s * (rh + 2.8), rng.uniform(-20, 80), 0.15, rng, mats, 0.8)
    _traffic(layout, cars, rng, [(-2.4, -1), (2.4, 1)], [s * 4.0 for s in rng.choices((-1, 1), k=rng.randint(3, 6))], 0.0, rng.randint(3, 5), [s * (rh + rng.uniform(0.8, 3.2)) for s in (-1, 1, -1, 1)], rng.randint(4, 8), mats)


def build_suburb(rng: random.Random, variant: str, cars: CarLibrary, mats: dict, layout: Layout) -> None:
    rh = 3.5
    box("road", (-rh, -80, -0.1), (rh, 180, 0.0), mats["asphalt"])
    for s in (-1, 1):
        box(f"verge{s}", (min(s * rh, s * 60), -80, -0.1), (max(s * rh, s * 60), 180, 0.05), mats["grass"])
        box(f"walk{s}", (min(s * (rh + 1.5), s * (rh + 3.0)), -80, 0.0), (max(s * (rh + 1.5), s * (rh + 3.0)), 180, 0.08), mats["sidewalk"])
    bm = bmesh.new()
    for y in range(-78, 178, 8):
        box_bm(bm, (-0.07, y, 0.0), (0.07, y + 3.0, 0.006))
    new_object("markings", bm, mats["marking"])
    walls = {"maple": [(0.85, 0.82, 0.75), (0.75, 0.6, 0.45), (0.6, 0.65, 0.7), (0.9, 0.88, 0.85)],
             "birch": [(0.95, 0.95, 0.92), (0.7, 0.75, 0.65), (0.8, 0.7, 0.6)],
             "cedar": [(0.55, 0.4, 0.3), (0.65, 0.6, 0.5), (0.4, 0.45, 0.4), (0.8, 0.78, 0.7)]}[variant]
    roofs = [(0.25, 0.12, 0.1), (0.2, 0.2, 0.22), (0.4, 0.25, 0.18), (0.15, 0.15, 0.15)]
    for s in (-1, 1):
        y = -70.0
        i = 0
        while y < 170:
            w = rng.uniform(8, 12)
            d = rng.uniform(7, 10)
            h = rng.uniform(3.0, 6.0)
            x0 = s * (rh + rng.uniform(9, 13))
            lo = (min(x0, x0 + s * d), y, 0.0)
            hi = (max(x0, x0 + s * d), y + w, h)
            box(f"house{s}_{i}", lo, hi, mats["house"], rng.choice(walls))
            bm = bmesh.new()
            ridge = h + rng.uniform(1.5, 3.0)
            xm = (lo[0] + hi[0]) / 2
            v = [bm.verts.new(p) for p in (
                (lo[0] - 0.4, y - 0.4, h), (hi[0] + 0.4, y - 0.4, h), (xm, y - 0.4, ridge),
                (lo[0] - 0.4, y + w + 0.4, h), (hi[0] + 0.4, y + w + 0.4, h), (xm, y + w + 0.4, ridge))]
            for f in ((0, 1, 2), (5, 4, 3), (0, 2, 5, 3), (1, 4, 5, 2), (0, 3, 4, 1)):
                bm.faces.new([v[k] for k in f])
            bmesh.ops.recalc_face_normals(bm, faces=bm.faces)
            new_object(f"roof{s}_{i}", bm, mats["roof"], rng.choice(roofs))
            if rng.random() < 0.8:
                tree(f"tree{s}_{i}", s * (rh + rng.uniform(4.0, 7.5)), y + rng.uniform(0, w), 0.05, rng, mats, rng.uniform(0.8, 1.3), rng.random() < 0.3)
            y += w + rng.uniform(3, 8)
            i += 1
    for k, y in enumerate(range(-60, 160, 30)):
        s = 1 if k % 2 else -1
        street_lamp(f"lamp{k}", s * (rh + 0.8), y, 0.05, s, mats, layout)
    _traffic(layout, cars, rng, [(-1.7, -1), (1.7, 1)], [s * 2.6 for s in rng.choices((-1, 1), k=rng.randint(1, 3))], 0.0, rng.randint(1, 3), [s * (rh + 2.25) for s in (-1, 1)], rng.randint(2, 5), mats)


def build_landscape(rng: random.Random, variant: str, cars: CarLibrary, mats: dict, layout: Layout) -> None:
    amp, per = rng.uniform(4, 12), rng.uniform(60, 120)
    ph = rng.uniform(0, 6.28)
    lane = lambda y: amp * math.sin(y / per + ph) - amp * math.sin(ph)  # noqa: E731
    layout.lane = lane
    rh = 3.5
    hills = [(rng.uniform(0.02, 0.06), rng.uniform(0.02, 0.06), rng.uniform(0, 6.28), rng.uniform(2, 6)) for _ in range(4)]
    hscale = {"meadow": 0.8, "alpine": 2.2, "coast": 0.6}[variant]

    def height(x: float, y: float) -> float:
        d = abs(x - lane(y))
        t = min(1.0, max(0.0, (d - rh - 2.0) / 25.0))
        t = t * t * (3 - 2 * t)
        hh = sum(a * math.sin(fx * x + ph0) * math.cos(fy * y - ph0) for fx, fy, ph0, a in hills)
        if variant == "coast" and x - lane(y) < -30:
            hh -= 8.0
        return t * hscale * (hh + 4.0) - 0.05

    bm = bmesh.new()
    n, size = 90, 260.0
    grid = {}
    for j in range(n + 1):
        for i in range(n + 1):
            x = -size / 2 + size * i / n
            y = -60 + size * j / n
            grid[i, j] = bm.verts.new((x, y, height(x, y)))
    for j in range(n):
        for i in range(n):
            bm.faces.new((grid[i, j], grid[i + 1, j], grid[i + 1, j + 1], grid[i, j + 1]))
    ob = new_object("terrain", bm, mats["grass" if variant != "alpine" else "grass"])
    smooth(ob)
    # road strip following the lane
    bm = bmesh.new()
    prev = None
    for k in range(0, 241):
        y = -60 + k
        row = (bm.verts.new((lane(y) - rh, y, 0.02)), bm.verts.new((lane(y) + rh, y, 0.02)))
        if prev:
            bm.faces.new((prev[0], prev[1], row[1], row[0]))
        prev = row
    new_object("road", bm, mats["asphalt"])
    bm = bmesh.new()
    for y in range(-58, 178, 8):
        x0, x1 = lane(y), lane(y + 3)
        v = [bm.verts.new(p) for p in ((x0 - 0.07, y, 0.026), (x0 + 0.07, y, 0.026), (x1 + 0.07, y + 3, 0.026), (x1 - 0.07, y + 3, 0.026))]
        bm.faces.new(v)
    new_object("markings", bm, mats["marking"])
    bm = bmesh.new()
    prev = None
    for s in (-1, 1):
        prev = None
        for k in range(0, 241):
            y = -60 + k
            row = (bm.verts.new((lane(y) + s * rh, y, 0.022)), bm.verts.new((lane(y) + s * (rh + 0.9), y, height(lane(y) + s * (rh + 0.9), y) + 0.03)))
            if prev:
                bm.faces.new((prev[0], prev[1], row[1], row[0]) if s < 0 else (prev[1], prev[0], row[0], row[1]))
            prev = row
    new_object("shoulder", bm, mats["dirt"])
    if variant == "coast":
        box("sea", (-130, -60, -2.5), (-40, 200, -2.4), mats["water"])
    conifer = variant == "alpine"
    for k in range(rng.randint(35, 60)):
        y = rng.uniform(-30, 150)
        x = lane(y) + rng.choice((-1, 1)) * rng.uniform(rh + 4, 60)
        z = height(x, y)
        if z < -1:
            continue
        tree(f"tree{k}", x, y, z - 0.1, rng, mats, rng.uniform(0.9, 1.6), conifer or rng.random() < 0.2)
    for k in range(rng.randint(6, 14)):
        y = rng.uniform(-20, 140)
        x = lane(y) + rng.choice((-1, 1)) * rng.uniform(rh + 3, 40)
        bm = bmesh.new()
        r = rng.uniform(0.4, 2.0)
        sphere_bm(bm, (x, y, height(x, y)), r, 2, rng.uniform(0.5, 0.9))
        for v in bm.verts:
            v.co += v.normal * rng.uniform(-0.25, 0.25) * r
        new_object(f"rock{k}", bm, mats["rock"])
    if variant == "alpine":
        for k in range(5):
            bm = bmesh.new()
            x = rng.choice((-1, 1)) * rng.uniform(150, 300)
            cylinder_bm(bm, (x, rng.uniform(150, 400), -5), rng.uniform(80, 140), rng.uniform(60, 120), 24, 2.0)
            for v in bm.verts:
                v.co += v.normal * rng.uniform(-4, 4)
            new_object(f"mountain{k}", bm, mats["rock"])
    _traffic(layout, cars, rng, [(-1.7, -1), (1.7, 1)], [], 0.0, rng.randint(1, 3), [s * (rh + 0.6) for s in (-1, 1)], rng.randint(0, 2), mats)


def build(kind: str, variant: str, rng: random.Random, car_dirs: list[str]) -> Layout:
    if variant not in VARIANTS[kind]:
        raise ValueError(f"variant {variant!r} is not one of {VARIANTS[kind]}")
    layout = Layout(lane=lambda y: 0.0, road_half={"city": 5.0, "suburb": 3.5, "landscape": 3.5}[kind], focus=(0, 0, 0))
    mats = materials(rng, kind, variant)
    cars = CarLibrary(car_dirs, mats, layout)
    {"city": build_city, "suburb": build_suburb, "landscape": build_landscape}[kind](rng, variant, cars, mats, layout)
    movers_near = [m for m in layout.movers if -5 < m.start[1] < 40]
    if movers_near:
        m = rng.choice(movers_near)
        layout.focus = (m.start[0], m.start[1], 1.0)
    else:
        y = rng.uniform(5, 30)
        layout.focus = (layout.lane(y), y, 1.0)
    return layout


def animate(layout: Layout, frames: int, fps: float) -> None:
    """Keyframe every mover on every frame (linear), limbs swinging with the distance walked."""
    for f in range(frames):
        t = f / fps
        for m in layout.movers:
            p = [m.start[k] + m.velocity[k] * t for k in range(3)]
            m.obj.location = p
            m.obj.keyframe_insert("location", frame=f)
            dist = math.hypot(m.velocity[0], m.velocity[1]) * t
            for ob, amp, phase in m.limbs:
                ob.rotation_euler = (amp * math.sin(dist * m.stride + phase), 0.0, 0.0)
                ob.keyframe_insert("rotation_euler", frame=f)
    for ob in bpy.data.objects:
        ad = ob.animation_data
        if ad and ad.action:
            for fc in ad.action.fcurves:
                for kp in fc.keyframe_points:
                    kp.interpolation = "LINEAR"
