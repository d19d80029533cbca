"""Lighting and render settings per pass, inside Blender: engine look, G-buffer, path-traced weathers."""

from __future__ import annotations

import math
import os
import random
from typing import Any

import bpy

import bpy_nodes as nodes
import looks

HDRI_DIR = "/usr/share/blender/datafiles/studiolights/world"

# weather -> HDRI (one per weather, so a prompt has one light colour in every clip), its saturation
# and cap (overcast weathers desaturate the panorama and cap its sun), HDRI strength, sun lamp
# elevation (deg), strength, colour and angular size, fog density, wet, snow, night.
# Every sun shares the engine look's azimuth, and the panorama is turned so that its own sun stands
# there too: shadows in a target fall where the engine frame has them, and the daytime lamps share
# the engine's elevation. Only golden hour moves the sun, down to the sunrise panorama's (~8 deg).
ENGINE_SUN_ELEV = 48.0  # the city panorama's sun stands at ~47.6 deg
WEATHERS: dict[str, dict[str, Any]] = {
    "clear": dict(cap=1000000.0, sat=1.0, hdri="city", env=1.0, elev=ENGINE_SUN_ELEV, sun=0.0, sun_color=(1.0, 0.96, 0.9), angle=1.0, fog=0.0, wet=0, snow=0, night=0),
    "golden_hour": dict(cap=1000000.0, sat=1.15, hdri="sunrise", env=0.7, elev=8.0, sun=2.5, sun_color=(1.0, 0.5, 0.22), angle=1.5, fog=0.002, wet=0, snow=0, night=0),
    "night": dict(cap=1000000.0, sat=1.0, hdri="night", env=0.2, elev=ENGINE_SUN_ELEV, sun=0.03, sun_color=(0.6, 0.7, 1.0), angle=0.5, fog=0.0, wet=0, snow=0, night=1),
    "fog": dict(cap=2.0, sat=0.4, hdri="city", env=1.0, elev=ENGINE_SUN_ELEV, sun=0.6, sun_color=(1.0, 0.97, 0.92), angle=3.0, fog=0.05, wet=0.2, snow=0, night=0),
    "rain": dict(cap=1.0, sat=0.25, hdri="city", env=0.6, elev=ENGINE_SUN_ELEV, sun=0.0, sun_color=(0.8, 0.85, 0.9), angle=20.0, fog=0.012, wet=1.0, snow=0, night=0.3),
    "snow": dict(cap=2.5, sat=0.45, hdri="city", env=1.0, elev=ENGINE_SUN_ELEV, sun=0.8, sun_color=(0.95, 0.97, 1.0), angle=5.0, fog=0.006, wet=0, snow=1.0, night=0),
}
ALL_WEATHERS = tuple(sorted(WEATHERS))


class Lighting:
    """Sun, world and fog volume of one clip; switches between the engine look and the weathers."""

    def __init__(
        self, scene: Any, rng: random.Random, focus: tuple[float, float, float], hdri_dir: str | None, pano_turn_deg: float = 0.0
    ) -> None:
        self.scene = scene
        self.pano_turn = math.radians(pano_turn_deg)
        self.hdri_dir = hdri_dir if hdri_dir and os.path.isdir(hdri_dir) else None
        self.azimuth = rng.uniform(0, 2 * math.pi)
        sd = bpy.data.lights.new("sun", "SUN")
        self.sun = bpy.data.objects.new("sun", sd)
        scene.collection.objects.link(self.sun)
        self.world = bpy.data.worlds.new("world")
        scene.world = self.world
        self.world.use_nodes = True
        nt = self.world.node_tree
        for n in list(nt.nodes):
            nt.nodes.remove(n)
        self.bg = nt.nodes.new("ShaderNodeBackground")
        out = nt.nodes.new("ShaderNodeOutputWorld")
        nt.links.new(self.bg.outputs[0], out.inputs["Surface"])
        self.env = nt.nodes.new("ShaderNodeTexEnvironment")
        tc = nt.nodes.new("ShaderNodeTexCoord")
        self.mapping = nt.nodes.new("ShaderNodeMapping")
        # Camera rays see only a small cap around the panorama's zenith: their direction is squeezed
        # towards straight up ((0.05 x, 0.05 y, 1), ~3 deg), so no photographed skyline, crane or tree
        # (some reach 45 deg and more) shows where the engine frame has open sky, while the sky keeps the
        # panorama's colour; every other ray (the lighting) sees the panorama as is.
        sep = nt.nodes.new("ShaderNodeSeparateXYZ")
        nt.links.new(tc.outputs["Generated"], sep.inputs[0])
        comb = nt.nodes.new("ShaderNodeCombineXYZ")
        for axis in ("X", "Y"):
            squeeze = nt.nodes.new("ShaderNodeMath")
            squeeze.operation = "MULTIPLY"
            nt.links.new(sep.outputs[axis], squeeze.inputs[0])
            squeeze.inputs[1].default_value = 0.05
            nt.links.new(squeeze.outputs[0], comb.inputs[axis])
        comb.inputs["Z"].default_value = 1.0
        norm = nt.nodes.new("ShaderNodeVectorMath")
        norm.operation = "NORMALIZE"
        nt.links.new(comb.outputs[0], norm.inputs[0])
        path = nt.nodes.new("ShaderNodeLightPath")
        pick = nt.nodes.new("ShaderNodeMixRGB")
        pick.use_clamp = False
        nt.links.new(path.outputs["Is Camera Ray"], pick.inputs["Fac"])
        nt.links.new(tc.outputs["Generated"], pick.inputs["Color1"])
        nt.links.new(norm.outputs[0], pick.inputs["Color2"])
        nt.links.new(pick.outputs["Color"], self.mapping.inputs["Vector"])
        nt.links.new(self.mapping.outputs[0], self.env.inputs["Vector"])
        # overcast weathers desaturate the panorama and cap its sun (no hard sun shadows)
        self.sat = nt.nodes.new("ShaderNodeHueSaturation")
        nt.links.new(self.env.outputs["Color"], self.sat.inputs["Color"])
        self.cap = nt.nodes.new("ShaderNodeVectorMath")
        self.cap.operation = "MINIMUM"
        nt.links.new(self.sat.outputs["Color"], self.cap.inputs[0])
        self.images: dict[str, Any] = {}
        self.pano_sun_x: dict[str, float] = {}  # u of each panorama's sun
        # fog: a homogeneous volume box around the scene (rendered only in the weathers that use it)
        import bmesh
        from mathutils import Matrix

        bm = bmesh.new()
        bmesh.ops.create_cube(bm, size=1.0, matrix=Matrix.Translation((focus[0], focus[1], 30.0)) @ Matrix.Diagonal((500, 500, 70, 1)))
        me = bpy.data.meshes.new("fog")
        bm.to_mesh(me)
        bm.free()
        self.fog = bpy.data.objects.new("fog", me)
        scene.collection.objects.link(self.fog)
        fm = bpy.data.materials.new("fog")
        fm.use_nodes = True
        fnt = fm.node_tree
        for n in list(fnt.nodes):
            fnt.nodes.remove(n)
        vol = fnt.nodes.new("ShaderNodeVolumePrincipled")
        fo = fnt.nodes.new("ShaderNodeOutputMaterial")
        fnt.links.new(vol.outputs[0], fo.inputs["Volume"])
        vol.inputs["Color"].default_value = (0.85, 0.88, 0.92, 1.0)
        vol.inputs["Anisotropy"].default_value = 0.3
        self.fog_volume = vol
        me.materials.append(fm)
        self.fog.visible_camera = True
        self.fog.hide_render = True
        self.used_hdris: set[str] = set()

    def sun_azimuth(self) -> float:
        """World azimuth (atan2(y, x), radians) of the direction towards the sun lamp."""
        # the lamp shines along its local -Z: towards it is (sin a cos e, -cos a cos e, sin e)
        return self.azimuth - math.pi / 2

    def toward_sun(self, elev_deg: float) -> list[float]:
        """World-space unit vector towards a sun at `elev_deg` on this clip's azimuth (where `_sun`
        points the lamp from)."""
        a, e = self.azimuth, math.radians(elev_deg)
        return [round(v, 6) for v in (math.sin(a) * math.cos(e), -math.cos(a) * math.cos(e), math.sin(e))]

    @staticmethod
    def engine_elevation(look: dict | None) -> float:
        """The engine sun's elevation (deg): the canonical 48, or a `looks.sun_look` variant's."""
        return float((look or {}).get("sun_elevation_deg", ENGINE_SUN_ELEV))

    def sun_record(self, weathers: list[str], look: dict | None = None) -> dict[str, list[float]]:
        """Where the sun stands for the engine look and for each weather's target (world space,
        towards the sun; weathers with an overcast sky keep its direction with a dim or no lamp)."""
        out = {"engine": self.toward_sun(self.engine_elevation(look))}
        out.update({w: self.toward_sun(WEATHERS[w]["elev"]) for w in weathers})
        return out

    def _align_panorama(self, name: str, image: Any) -> None:
        """Turn the panorama so that its brightest texel (its sun) lies at the sun lamp's azimuth."""
        if name not in self.pano_sun_x:
            from array import array

            w, h = image.size
            px = array("f", bytes(4 * w * h * 4))
            image.pixels.foreach_get(px)  # Blender's Python here has no numpy
            lum = [0.2126 * px[i] + 0.7152 * px[i + 1] + 0.0722 * px[i + 2] for i in range(0, len(px), 4)]
            self.pano_sun_x[name] = (max(range(len(lum)), key=lum.__getitem__) % w + 0.5) / w
        # Cycles' equirectangular lookup: u = 0.5 - atan2(y, x) / 2pi
        pano_az = (0.5 - self.pano_sun_x[name]) * 2 * math.pi
        # the Mapping node rotates the lookup direction: world azimuth phi reads the texel at phi + rot
        self.mapping.inputs["Rotation"].default_value = (0, 0, pano_az - self.sun_azimuth() - self.pano_turn)

    def _sun(self, elev_deg: float, strength: float, color: tuple, angle_deg: float) -> None:
        e = math.radians(elev_deg)
        # sun light shines along its local -Z
        self.sun.rotation_euler = (math.pi / 2 - e, 0.0, self.azimuth)
        self.sun.data.energy = strength
        self.sun.data.color = color
        self.sun.data.angle = math.radians(angle_deg)

    def engine(self, eevee: bool, look: dict | None = None) -> None:
        """The rasterized look: a hard sun, a flat ambient sky colour, dry materials, lights off.
        `look` (looks.engine_look) varies the sun's strength, tint and softness and the sky colour."""
        lk = {**looks.CANONICAL, **(look or {})}
        self._sun(self.engine_elevation(look), lk["sun_strength"], tuple(lk["sun_color"]), lk["sun_angle_deg"])
        self.bg.inputs["Strength"].default_value = lk["sky_strength"]
        self.bg.inputs["Color"].default_value = (*lk["sky_color"], 1.0)
        for link in list(self.world.node_tree.links):
            if link.to_node == self.bg:
                self.world.node_tree.links.remove(link)
        self.fog.hide_render = True
        nodes.set_weather_values()
        for ob in bpy.data.objects:
            if ob.type == "LIGHT" and ob != self.sun:
                ob.data.energy = 0.0
                ob.hide_render = True  # EEVEE would still render their shadow maps

    def weather(self, name: str, lamps: list, headlights: list) -> None:
        p = WEATHERS[name]
        self._sun(p["elev"], p["sun"], p["sun_color"], p["angle"])
        hd = p["hdri"]
        path = os.path.join(self.hdri_dir, hd + ".exr") if self.hdri_dir else None
        nt = self.world.node_tree
        if path and os.path.isfile(path):
            if hd not in self.images:
                self.images[hd] = bpy.data.images.load(path, check_existing=True)
            self.env.image = self.images[hd]
            self._align_panorama(hd, self.images[hd])
            if not any(l.to_node == self.bg for l in nt.links):
                nt.links.new(self.cap.outputs[0], self.bg.inputs["Color"])
            self.sat.inputs["Saturation"].default_value = p["sat"]
            self.cap.inputs[1].default_value = (p["cap"],) * 3
            self.bg.inputs["Strength"].default_value = p["env"]
            self.used_hdris.add(hd)
        else:
            for link in list(nt.links):
                if link.to_node == self.bg:
                    nt.links.remove(link)
            sky = {"night": (0.005, 0.007, 0.015), "golden_hour": (0.8, 0.5, 0.3), "fog": (0.6, 0.62, 0.65), "rain": (0.3, 0.32, 0.35), "snow": (0.6, 0.63, 0.68)}
            self.bg.inputs["Color"].default_value = (*sky.get(name, (0.35, 0.5, 0.8)), 1.0)
            self.bg.inputs["Strength"].default_value = 1.0
        self.fog.hide_render = p["fog"] <= 0
        self.fog_volume.inputs["Density"].default_value = p["fog"]
        nodes.set_weather_values(wet=p["wet"], snow=p["snow"], night=p["night"])
        night = p["night"]
        for ob in bpy.data.objects:
            if ob.type == "LIGHT":
                ob.hide_render = False
        for lo in lamps:
            lo.data.energy = 900.0 * night
        for so in headlights:
            so.data.energy = 350.0 * max(night, 0.5 if name == "fog" else 0.0)


def setup_cycles(scene: Any, samples: int, bounces: int, threads: int, gbuffer: bool = False) -> None:
    scene.render.engine = "CYCLES"
    c = scene.cycles
    c.device = "CPU"
    c.samples = samples
    c.use_adaptive_sampling = not gbuffer
    c.adaptive_threshold = 0.03
    c.use_denoising = False
    c.max_bounces = bounces
    c.diffuse_bounces = min(bounces, 3)
    c.glossy_bounces = min(bounces, 3)
    c.transmission_bounces = min(bounces, 4)
    c.volume_bounces = 1 if bounces else 0
    c.transparent_max_bounces = 8
    c.caustics_reflective = False
    c.caustics_refractive = False
    c.sample_clamp_indirect = 8.0
    c.filter_width = 0.01 if gbuffer else 1.5
    c.seed = 0
    c.use_animated_seed = not gbuffer
    scene.render.threads_mode = "FIXED"
    scene.render.threads = max(1, threads)
    scene.render.use_motion_blur = False
    scene.render.film_transparent = False
    scene.render.use_persistent_data = True
    vl = scene.view_layers[0]
    vl.use_pass_z = gbuffer
    vl.use_pass_normal = gbuffer
    vl.use_pass_vector = gbuffer
    vl.cycles.denoising_store_passes = not gbuffer
    s = scene.render.image_settings
    s.file_format = "OPEN_EXR_MULTILAYER"
    s.color_depth = "32"
    s.exr_codec = "ZIP"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"


def view_transform(scene: Any, look: dict | None) -> None:
    """The look's view transform (Standard = plain sRGB, or Filmic) and Filmic's contrast look."""
    lk = {**looks.CANONICAL, **(look or {})}
    scene.view_settings.view_transform = lk["view_transform"]
    scene.view_settings.look = lk["contrast"]  # Blender 3.4 names the looks without a "Filmic - " prefix


def setup_eevee(scene: Any, threads: int, look: dict | None = None) -> None:
    """EEVEE for the engine look; `look` (looks.engine_look) may switch on soft shadows, ambient
    occlusion, bloom and the Filmic view transform with a contrast look."""
    lk = {**looks.CANONICAL, **(look or {})}
    scene.render.engine = "BLENDER_EEVEE"
    e = scene.eevee
    e.taa_render_samples = 4
    e.use_soft_shadows = bool(lk["soft_shadows"])
    e.shadow_cube_size = "512"
    e.shadow_cascade_size = "1024"
    e.use_gtao = bool(lk["ao"])
    e.gtao_distance = 1.5
    e.use_ssr = False
    e.use_bloom = bool(lk["bloom"])
    e.use_volumetric_lights = False
    scene.render.threads_mode = "FIXED"
    scene.render.threads = max(1, threads)
    scene.render.film_transparent = False
    view_transform(scene, lk)
    vl = scene.view_layers[0]
    vl.use_pass_z = False
    vl.use_pass_normal = False
    vl.use_pass_vector = False
    s = scene.render.image_settings
    s.file_format = "PNG"
    s.color_mode = "RGB"
    s.color_depth = "8"


def setup_engine_cycles(scene: Any, threads: int, look: dict | None = None) -> None:
    """Fallback engine look without a display: Cycles with direct light only, hard shadows (a
    look variant's view transform applies; its EEVEE effects do not)."""
    setup_cycles(scene, 8, 0, threads)
    view_transform(scene, look)
    scene.view_layers[0].cycles.denoising_store_passes = False
    scene.cycles.use_animated_seed = False
    s = scene.render.image_settings
    s.file_format = "PNG"
    s.color_mode = "RGB"
    s.color_depth = "8"
