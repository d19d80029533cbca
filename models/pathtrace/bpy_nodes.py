"""Materials for the Blender side (runs inside Blender's Python; bpy only, no numpy).

Every surface material routes its base colour and roughness through one shared node group,
"RM_Weather", whose Value nodes (wet, snow, night) are set once per weather before rendering. The
engine pass sets them all to 0. Only shading changes with the weather, never geometry, so depth,
normals and motion are the same for the engine frame and every target.
"""

from __future__ import annotations

from typing import Any

import bpy

WEATHER_GROUP = "RM_Weather"
WEATHER_KEYS = ("wet", "snow", "night")


def link(nt: Any, a: Any, b: Any) -> None:
    """Link two sockets of `nt`; raises where Blender refuses silently (links.new returns None, e.g.
    for a socket of another tree)."""
    if nt.links.new(a, b) is None:
        raise RuntimeError(f"node link refused: {a.node.name}.{a.name} -> {b.node.name}.{b.name} in {nt.name}")


_link = link


def _math(nt: Any, op: str, a: Any = None, b: Any = None, clamp: bool = False) -> Any:
    n = nt.nodes.new("ShaderNodeMath")
    n.operation = op
    n.use_clamp = clamp
    for i, v in enumerate((a, b)):
        if v is None:
            continue
        if isinstance(v, (int, float)):
            n.inputs[i].default_value = float(v)
        else:
            _link(nt, v, n.inputs[i])
    return n.outputs[0]


def _map_range(nt: Any, v: Any, lo: float, hi: float) -> Any:
    n = nt.nodes.new("ShaderNodeMapRange")
    n.clamp = True
    _link(nt, v, n.inputs["Value"])
    n.inputs["From Min"].default_value = lo
    n.inputs["From Max"].default_value = hi
    return n.outputs["Result"]


def _mix_rgb(nt: Any, fac: Any, a: Any, b: Any) -> Any:
    n = nt.nodes.new("ShaderNodeMixRGB")
    n.blend_type = "MIX"
    _link(nt, fac, n.inputs["Fac"])
    for sock, v in ((n.inputs["Color1"], a), (n.inputs["Color2"], b)):
        if isinstance(v, tuple):
            sock.default_value = v
        else:
            _link(nt, v, sock)
    return n.outputs["Color"]


def weather_group() -> Any:
    """The shared group: (Color, Roughness, Exposed) -> (Color, Roughness) under wet/snow."""
    if WEATHER_GROUP in bpy.data.node_groups:
        return bpy.data.node_groups[WEATHER_GROUP]
    g = bpy.data.node_groups.new(WEATHER_GROUP, "ShaderNodeTree")
    g.inputs.new("NodeSocketColor", "Color")
    g.inputs.new("NodeSocketFloat", "Roughness")
    g.inputs.new("NodeSocketFloat", "Exposed")  # 1 for ground that collects puddles
    g.outputs.new("NodeSocketColor", "Color")
    g.outputs.new("NodeSocketFloat", "Roughness")
    # The night value for emitters: a material must read it from its group node, because a link
    # from a socket inside this group into a material's tree is refused (links.new returns None).
    g.outputs.new("NodeSocketFloat", "Night")
    gi = g.nodes.new("NodeGroupInput")
    go = g.nodes.new("NodeGroupOutput")
    vals = {}
    for k in WEATHER_KEYS:
        v = g.nodes.new("ShaderNodeValue")
        v.name = k
        v.outputs[0].default_value = 0.0
        vals[k] = v.outputs[0]
    geo = g.nodes.new("ShaderNodeNewGeometry")
    sep = g.nodes.new("ShaderNodeSeparateXYZ")
    _link(g, geo.outputs["Normal"], sep.inputs[0])
    noise = g.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 0.35
    noise.inputs["Detail"].default_value = 4.0
    _link(g, geo.outputs["Position"], noise.inputs["Vector"])
    fine = g.nodes.new("ShaderNodeTexNoise")
    fine.inputs["Scale"].default_value = 4.0
    fine.inputs["Detail"].default_value = 2.0
    _link(g, geo.outputs["Position"], fine.inputs["Vector"])
    # snow on up-facing surfaces, patchy at the edges of its slope range
    up = _map_range(g, sep.outputs["Z"], 0.45, 0.8)
    patch = _map_range(g, _math(g, "ADD", fine.outputs["Fac"], _math(g, "MULTIPLY", up, 0.4)), 0.45, 0.6)
    snow = _math(g, "MULTIPLY", _math(g, "MULTIPLY", up, patch), vals["snow"])
    # wetness darkens and smooths everything; puddles on exposed ground
    wet = vals["wet"]
    darken = _math(g, "SUBTRACT", 1.0, _math(g, "MULTIPLY", wet, 0.45))
    mul = g.nodes.new("ShaderNodeVectorMath")
    mul.operation = "SCALE"
    _link(g, gi.outputs["Color"], mul.inputs[0])
    _link(g, darken, mul.inputs["Scale"])
    rough_wet = _math(g, "MULTIPLY", gi.outputs["Roughness"], _math(g, "SUBTRACT", 1.0, _math(g, "MULTIPLY", wet, 0.7)))
    puddle = _math(
        g, "MULTIPLY", _math(g, "MULTIPLY", _map_range(g, noise.outputs["Fac"], 0.52, 0.56), gi.outputs["Exposed"]), wet
    )
    col = _mix_rgb(g, _math(g, "MULTIPLY", puddle, 0.55), mul.outputs[0], (0.0, 0.0, 0.0, 1.0))
    rough = _math(g, "ADD", _math(g, "MULTIPLY", rough_wet, _math(g, "SUBTRACT", 1.0, puddle)), _math(g, "MULTIPLY", puddle, 0.02))
    col = _mix_rgb(g, snow, col, (0.86, 0.88, 0.92, 1.0))
    rough = _math(g, "ADD", _math(g, "MULTIPLY", rough, _math(g, "SUBTRACT", 1.0, snow)), _math(g, "MULTIPLY", snow, 0.6))
    _link(g, col, go.inputs["Color"])
    _link(g, rough, go.inputs["Roughness"])
    _link(g, vals["night"], go.inputs["Night"])
    return g


def set_weather_values(**values: float) -> None:
    g = weather_group()
    for k in WEATHER_KEYS:
        g.nodes[k].outputs[0].default_value = float(values.get(k, 0.0))


def weather_node(nt: Any) -> Any:
    """The shared weather group as a node of material tree `nt`; its "Night" output drives emitters."""
    grp = nt.nodes.new("ShaderNodeGroup")
    grp.node_tree = weather_group()
    return grp


def surface(
    name: str,
    color: tuple[float, float, float] = (0.5, 0.5, 0.5),
    roughness: float = 0.6,
    metallic: float = 0.0,
    exposed: float = 0.0,
    use_object_color: bool = False,
    image: str | None = None,
    noise_scale: float = 0.0,
    noise_amount: float = 0.0,
    windows: dict | None = None,
    emission: tuple[float, float, float] | None = None,
    emission_night: float = 0.0,
    clearcoat: float = 0.0,
) -> Any:
    """A Principled material through the weather group.

    Base colour = image (UV) or `color`, times the object's colour when use_object_color, varied by
    a noise texture (noise_scale/amount). `windows` ({"spacing", "floor"}) draws a window grid on
    facades from object coordinates; windows glow at night. `emission` glows at night only.
    """
    if name in bpy.data.materials:
        return bpy.data.materials[name]
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    nt = m.node_tree
    for n in list(nt.nodes):
        nt.nodes.remove(n)
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    bsdf = nt.nodes.new("ShaderNodeBsdfPrincipled")
    _link(nt, bsdf.outputs[0], out.inputs["Surface"])
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Clearcoat"].default_value = clearcoat
    grp = weather_node(nt)
    night = grp.outputs["Night"]
    if image:
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(image, check_existing=True)
        col: Any = tex.outputs["Color"]
    else:
        rgb = nt.nodes.new("ShaderNodeRGB")
        rgb.outputs[0].default_value = (*color, 1.0)
        col = rgb.outputs[0]
    if use_object_color:
        info = nt.nodes.new("ShaderNodeObjectInfo")
        mix = nt.nodes.new("ShaderNodeMixRGB")
        mix.blend_type = "MULTIPLY"
        mix.inputs["Fac"].default_value = 1.0
        _link(nt, col, mix.inputs["Color1"])
        _link(nt, info.outputs["Color"], mix.inputs["Color2"])
        col = mix.outputs["Color"]
    if noise_amount > 0:
        tc = nt.nodes.new("ShaderNodeTexCoord")
        nz = nt.nodes.new("ShaderNodeTexNoise")
        nz.inputs["Scale"].default_value = noise_scale
        nz.inputs["Detail"].default_value = 6.0
        _link(nt, tc.outputs["Object"], nz.inputs["Vector"])
        fac = _math(nt, "ADD", 1.0 - noise_amount, _math(nt, "MULTIPLY", nz.outputs["Fac"], 2.0 * noise_amount))
        sc = nt.nodes.new("ShaderNodeVectorMath")
        sc.operation = "SCALE"
        _link(nt, col, sc.inputs[0])
        _link(nt, fac, sc.inputs["Scale"])
        col = sc.outputs[0]
    rough: Any = roughness
    emit_strength: Any = None
    if windows:
        tc = nt.nodes.new("ShaderNodeTexCoord")
        sep = nt.nodes.new("ShaderNodeSeparateXYZ")
        _link(nt, tc.outputs["Object"], sep.inputs[0])
        u = _math(nt, "ADD", sep.outputs["X"], sep.outputs["Y"])
        fu = _math(nt, "FRACT", _math(nt, "DIVIDE", u, windows["spacing"]))
        fv = _math(nt, "FRACT", _math(nt, "DIVIDE", sep.outputs["Z"], windows["floor"]))
        inside_u = _math(nt, "MULTIPLY", _math(nt, "GREATER_THAN", fu, 0.22), _math(nt, "LESS_THAN", fu, 0.78))
        inside_v = _math(nt, "MULTIPLY", _math(nt, "GREATER_THAN", fv, 0.3), _math(nt, "LESS_THAN", fv, 0.85))
        above = _math(nt, "GREATER_THAN", sep.outputs["Z"], windows.get("ground", 1.2))
        win = _math(nt, "MULTIPLY", _math(nt, "MULTIPLY", inside_u, inside_v), above)
        col = _mix_rgb(nt, win, col, (0.05, 0.07, 0.09, 1.0))
        rough = _math(nt, "ADD", _math(nt, "MULTIPLY", win, 0.05 - roughness), roughness)
        # about 40% of windows are lit at night, chosen by a cell hash
        cell = nt.nodes.new("ShaderNodeTexWhiteNoise")
        cell.noise_dimensions = "3D"
        comb = nt.nodes.new("ShaderNodeCombineXYZ")
        _link(nt, _math(nt, "FLOOR", _math(nt, "DIVIDE", u, windows["spacing"])), comb.inputs[0])
        _link(nt, _math(nt, "FLOOR", _math(nt, "DIVIDE", sep.outputs["Z"], windows["floor"])), comb.inputs[1])
        _link(nt, comb.outputs[0], cell.inputs["Vector"])
        lit = _math(nt, "GREATER_THAN", cell.outputs["Value"], 0.6)
        emit_strength = _math(nt, "MULTIPLY", _math(nt, "MULTIPLY", win, lit), _math(nt, "MULTIPLY", night, 4.0))
        bsdf.inputs["Emission"].default_value = (1.0, 0.72, 0.42, 1.0)
    if emission is not None:
        bsdf.inputs["Emission"].default_value = (*emission, 1.0)
        emit_strength = _math(nt, "MULTIPLY", night, emission_night)
    if emit_strength is not None:
        _link(nt, emit_strength, bsdf.inputs["Emission Strength"])
    _link(nt, col, grp.inputs["Color"])
    if isinstance(rough, float):
        grp.inputs["Roughness"].default_value = rough
    else:
        _link(nt, rough, grp.inputs["Roughness"])
    grp.inputs["Exposed"].default_value = exposed
    _link(nt, grp.outputs["Color"], bsdf.inputs["Base Color"])
    _link(nt, grp.outputs["Roughness"], bsdf.inputs["Roughness"])
    return m
