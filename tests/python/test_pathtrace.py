"""Path-traced teacher data (models/pathtrace): a tiny clip renders through Blender and keeps the
project's conventions (motion warps t-1 onto t, unit normals facing the camera, depth = distance
along the camera axis); Ray renders two clips; a finished clip is skipped; bad arguments exit 2.

Needs Debian's blender (make setup installs it) and ray + pyoidn from requirements-pathtrace.txt.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models" / "training"))

import imgops  # noqa: E402
import seqio  # noqa: E402

from models.pathtrace import describe, generate, looks, plan, postprocess  # noqa: E402

if shutil.which("blender") is None and not os.environ.get("REALMASTER_BLENDER"):
    pytest.fail("blender is not installed: run make setup (Debian package 'blender')", pytrace=False)

TINY = ["--frames", "3", "--size", "64x36", "--samples", "2", "--scene", "city", "--seed", "11"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pt")
    rc = generate.main(["--out", str(out), "--clips", "1", "--camera", "pan", "--probe", "6.0"] + TINY)
    assert rc == 0
    (clip,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return clip


def test_tiny_clip_loads_with_seqio(tiny: Path) -> None:
    s = seqio.load_sequence(tiny)
    s.check_files()
    assert (s.width, s.height, s.frame_count) == (64, 36, 3)
    assert sorted(s.targets) == sorted(plan.WEATHERS)
    assert s.split == "train" and s.meta["scene"] == "city" and s.meta["camera"] == "pan"
    assert s.meta["engine"] in ("eevee", "cycles_direct")
    for w in s.targets:
        t = s.load_target_u8(w, 1)
        assert t.shape == (36, 64, 3) and t.std() > 2.0, w
    # weathers differ from each other and from the engine look
    means = {w: s.load_target_u8(w, 1).astype(np.float32).mean((0, 1)) for w in s.targets}
    assert means["night"].mean() < means["clear"].mean()
    assert np.abs(means["snow"] - means["night"]).max() > 5


def test_default_assets_are_license_compatible(tiny: Path) -> None:
    """Without --gpl-assets no GPL-2+ car is rendered (weights trained on the data are MIT/Apache)."""
    meta = json.loads((tiny / "sequence.json").read_text())["meta"]
    assert meta["asset_policy"] == "permissive"
    assert not [a for a in meta["assets"] if a.startswith("trigger-rally-data")]
    assert any("procedural" in f for f in meta["fallbacks"])


def test_motion_warps_previous_frame_onto_current(tiny: Path) -> None:
    s = seqio.load_sequence(tiny)
    assert np.all(s.load_motion(0) == 0)
    for i in (1, 2):
        prev = s.load_color_u8(i - 1).astype(np.float32) / 255
        cur = s.load_color_u8(i).astype(np.float32) / 255
        m = s.load_motion(i)
        assert np.abs(m).max() > 0.5  # the camera moved
        warped, _ = imgops.warp_backward(prev, m)
        valid = imgops.valid_history_mask(
            m, seqio.encode_depth(s.load_depth_z(i)), seqio.encode_depth(s.load_depth_z(i - 1))
        ) > 0.5
        assert valid.mean() > 0.6
        e_warp = np.abs(warped - cur)[valid].mean()
        e_raw = np.abs(prev - cur)[valid].mean()
        assert e_warp < 0.4 * e_raw, (i, e_warp, e_raw)
        # the opposite y sign (Blender's y-up convention) must be clearly worse
        flipped, _ = imgops.warp_backward(prev, m * np.array([1.0, -1.0], np.float32))
        if np.abs(m[..., 1]).mean() > 0.3:
            assert e_warp < np.abs(flipped - cur)[valid].mean()


def test_motion_equals_static_reprojection_through_depth(tiny: Path) -> None:
    # unproject each pixel with its depth and the current camera, project into the previous camera:
    # for static geometry (most pixels) that is exactly the stored motion
    s = seqio.load_sequence(tiny)
    info = json.loads((tiny / "render_info.json").read_text())
    for f in (1, 2):
        z = s.load_depth_z(f).astype(np.float64)
        m = s.load_motion(f)
        p = postprocess.view_dirs(info, s.height, s.width) * z[..., None]
        mc, mp = np.asarray(info["matrices"][f]), np.asarray(info["matrices"][f - 1])
        q = (p @ mc[:3, :3].T + mc[:3, 3] - mp[:3, 3]) @ mp[:3, :3]
        px = info["cx"] + info["fx"] * q[..., 0] / -q[..., 2] - 0.5
        py = info["cy"] - info["fy"] * q[..., 1] / -q[..., 2] - 0.5
        ys, xs = np.mgrid[0 : s.height, 0 : s.width]
        err = np.hypot(px - xs - m[..., 0], py - ys - m[..., 1])[z < postprocess.SKY_DEPTH]
        assert np.median(err) < 1e-3 and np.mean(err < 0.01) > 0.8, (f, np.median(err))


def test_normals_unit_and_facing_camera(tiny: Path) -> None:
    s = seqio.load_sequence(tiny)
    info = json.loads((tiny / "render_info.json").read_text())
    for i in range(s.frame_count):
        n = s.load_normals(i)
        z = s.load_depth_z(i)
        geo = z < postprocess.SKY_DEPTH
        assert geo.mean() > 0.3
        length = np.linalg.norm(n, axis=-1)
        assert np.abs(length[geo] - 1).max() < 2e-3
        assert np.all(length[~geo] == 0)
        d = postprocess.view_dirs(info, s.height, s.width)
        assert ((n * -d).sum(-1)[geo] > 0).mean() > 0.99


def test_depth_is_distance_along_camera_axis(tiny: Path) -> None:
    s = seqio.load_sequence(tiny)
    info = json.loads((tiny / "render_info.json").read_text())
    probe = info["probe"]
    assert probe and abs(probe["distance"] - 6.0) < 1e-6
    z = s.load_depth_z(0)
    h, w = z.shape
    centre = z[h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2]
    np.testing.assert_allclose(centre, 6.0, rtol=0.01)
    # off-centre pixels on the board: view-axis distance is still 6 (not the ray length)
    np.testing.assert_allclose(z[h // 2, w // 2 + 6], 6.0, rtol=0.01)
    n = s.load_normals(0)[h // 2, w // 2]
    np.testing.assert_allclose(n, [0, 0, 1], atol=0.02)
    # the same point from the camera matrix: distance along the camera's -Z axis
    m = np.asarray(info["matrices"][0])
    fwd = -m[:3, 2] / np.linalg.norm(m[:3, 2])
    assert abs(float(np.dot(np.asarray(probe["center"]) - m[:3, 3], fwd)) - 6.0) < 1e-3


def test_resume_skips_finished_clip(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stamp = (tiny / "sequence.json").stat().st_mtime_ns
    rc = generate.main(["--out", str(tiny.parent), "--clips", "1", "--camera", "pan", "--probe", "6.0"] + TINY)
    assert rc == 0
    assert (tiny / "sequence.json").stat().st_mtime_ns == stamp
    r = generate.render_clip({"name": tiny.name}, {"out": str(tiny.parent)})
    assert r["status"] == "skipped"


def test_ray_local_renders_two_clips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    import ray

    from models.pathtrace import assets

    # also the fallback path: without trigger-rally-data the cars are procedural, and meta says so
    monkeypatch.setattr(assets, "TRIGGER_ZIP", tmp_path / "absent" / "data.zip")

    args = ["--out", str(tmp_path), "--clips", "2", "--frames", "2", "--size", "32x18", "--samples", "1",
            "--weathers", "clear", "--engine", "cycles", "--ray-address", "local", "--workers", "2", "--seed", "5"]
    try:
        assert generate.main(args) == 0
    finally:
        ray.shutdown()
    seqs = seqio.find_sequences([tmp_path])
    assert len(seqs) == 2
    assert {s.meta["engine"] for s in seqs} == {"cycles_direct"}
    assert all(any("procedural" in f for f in s.meta["fallbacks"]) and not s.meta["assets"] for s in seqs)
    for s in seqs:
        s.check_files()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "models.pathtrace", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--size", "64by36"], "--size"),
        (["--weathers", "clear,sunny"], "sunny"),
        (["--split", "train", "--camera", "orbit"], "held-out"),
        (["--clips", "0"], "--clips"),
        (["--split", "val"], "invalid choice"),
        (["--engine-looks", "17"], "--engine-looks"),
        (["--engine-sun-elev", "0"], "--engine-sun-elev"),
    ],
)
def test_bad_args_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    r = _cli("--out", str(tmp_path / "o"), *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "error" in r.stderr


SUN_CHECK = """
import json, random, sys
import bpy
sys.path.insert(0, sys.argv[-2])
import bpy_weather
light = bpy_weather.Lighting(bpy.context.scene, random.Random(5), (0.0, 0.0, 0.0), None)
rec = light.sun_record(list(bpy_weather.WEATHERS))
got = {}
light.engine(False)
bpy.context.view_layer.update()
got["engine"] = list(light.sun.matrix_world.col[2][:3])
for w in bpy_weather.WEATHERS:
    light.weather(w, [], [])
    bpy.context.view_layer.update()
    got[w] = list(light.sun.matrix_world.col[2][:3])
json.dump({"recorded": rec, "lamp": got}, open(sys.argv[-1], "w"))
"""


def test_recorded_sun_is_where_the_lamp_stands(tmp_path: Path) -> None:
    # meta.sun's vectors are the sun lamp's own +Z axis (it shines along -Z) as Blender places it
    # for the engine look and for each weather
    script = tmp_path / "sun_check.py"
    script.write_text(SUN_CHECK)
    out = tmp_path / "sun.json"
    exe = generate.blender_exe()
    assert exe is not None
    r = subprocess.run([exe, "-b", "--factory-startup", "-P", str(script), "--", str(ROOT / "models" / "pathtrace"), str(out)],
                       capture_output=True, text=True, timeout=300)
    assert out.is_file(), r.stdout[-2000:] + r.stderr[-2000:]
    d = json.loads(out.read_text())
    assert sorted(d["recorded"]) == sorted(d["lamp"]) == sorted(["engine", *plan.WEATHERS])
    for look, v in d["recorded"].items():
        np.testing.assert_allclose(v, d["lamp"][look], atol=1e-5, err_msg=look)


def test_sun_is_recorded_in_view_space_of_the_normals(tiny: Path) -> None:
    # meta.sun: the engine look's sun 48 deg up, golden hour's 8 deg, one azimuth; seqio.sun_views
    # turns it into each frame's view space, where up-facing ground sees it at sin(48 deg)
    meta = json.loads((tiny / "sequence.json").read_text())["meta"]
    info = json.loads((tiny / "render_info.json").read_text())
    assert sorted(meta["sun"]) == sorted(["engine", *plan.WEATHERS])
    for look, v in meta["sun"].items():
        assert abs(np.linalg.norm(v) - 1) < 1e-5, look
    assert math.degrees(math.asin(meta["sun"]["engine"][2])) == pytest.approx(48.0, abs=1e-3)
    assert math.degrees(math.asin(meta["sun"]["golden_hour"][2])) == pytest.approx(8.0, abs=1e-3)
    e, g = np.asarray(meta["sun"]["engine"][:2]), np.asarray(meta["sun"]["golden_hour"][:2])
    assert float(e @ g) / (np.linalg.norm(e) * np.linalg.norm(g)) > 0.9999, "one azimuth"
    s = seqio.load_sequence(tiny)
    sun = seqio.sun_views(seqio.load_sequence(tiny), "engine")
    assert sun.shape == (s.frame_count, 3)
    rot = np.asarray(info["matrices"])[:, :3, :3]
    for f in range(s.frame_count):
        n = s.load_normals(f)
        ground = (n @ rot[f].T)[..., 2] > 0.999  # world normal straight up
        assert ground.sum() > 20
        np.testing.assert_allclose(n[ground] @ sun[f], math.sin(math.radians(48.0)), atol=3e-3)
    # sequence.json's `light` (what the runtime feeds a model): the same sun per frame, then the
    # world's up, in the view space of the normals
    light = json.loads((tiny / "sequence.json").read_text())["light"]
    assert light["space"] == "view" and len(light["sun"]) == len(light["up"]) == s.frame_count
    np.testing.assert_allclose(np.concatenate([light["sun"], light["up"]], 1), seqio.light_inputs(s, 6), atol=2e-6)


def test_describe_rebuilds_the_sun_of_an_older_clip(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a clip from before meta.sun gets the same sun from its scene rebuilt (cameras checked), and a
    # clip whose cameras the rebuild does not reproduce gets nothing
    old = tmp_path / tiny.name
    old.mkdir()
    for f in ("sequence.json", "render_info.json"):
        shutil.copyfile(tiny / f, old / f)
    d = json.loads((old / "sequence.json").read_text())
    want = d["meta"].pop("sun")
    (old / "sequence.json").write_text(json.dumps(d))
    light = d.pop("light")
    (old / "sequence.json").write_text(json.dumps(d))
    assert describe.main([str(tmp_path)]) == 0
    assert json.loads((old / "sequence.json").read_text())["meta"]["sun"] == want
    assert json.loads((old / "sequence.json").read_text())["light"] == light
    assert "written (cameras match" in capsys.readouterr().out
    assert describe.main([str(old)]) == 0 and "has it" in capsys.readouterr().out
    (old / "sequence.json").write_text(json.dumps(d))
    info = json.loads((old / "render_info.json").read_text())
    info["matrices"][1][0][3] += 0.5
    (old / "render_info.json").write_text(json.dumps(info))
    assert describe.main([str(old)]) == 1
    assert "differ from render_info.json" in capsys.readouterr().err
    assert "sun" not in json.loads((old / "sequence.json").read_text())["meta"]


def _log_lum_corr(a_u8: np.ndarray, b_u8: np.ndarray) -> float:
    la, lb = (np.log(postprocess.luminance(postprocess.srgb_to_linear(x / 255.0)) + 1e-3).ravel() for x in (a_u8, b_u8))
    return float(np.corrcoef(la, lb)[0, 1])


def test_clear_target_shares_the_engine_sun(tmp_path: Path) -> None:
    # The clear target's light is the city panorama's own sun, turned to the engine look's sun: its
    # shading follows the engine frame's far better than with the panorama turned half a circle away.
    corr = {}
    for turn in (0.0, 180.0):
        out = tmp_path / f"turn{turn:.0f}"
        args = ["--out", str(out), "--clips", "1", "--camera", "pan", "--frames", "1", "--size", "96x54",
                "--samples", "4", "--scene", "suburb", "--seed", "11", "--weathers", "clear", "--pano-turn", str(turn)]
        assert generate.main(args) == 0
        s = seqio.load_sequence(next(p for p in out.iterdir() if not p.name.startswith(".")))
        corr[turn] = _log_lum_corr(s.load_color_u8(0), s.load_target_u8("clear", 0))
    # measured: 0.91 aligned, 0.69 turned by 180 deg (0.80 by 90 deg)
    assert corr[0.0] > 0.85 and corr[0.0] > corr[180.0] + 0.1, corr


def test_exposure_follows_the_engine_look(tiny: Path) -> None:
    # a clip whose engine look is half as bright gets half the exposure for the same radiance
    assert postprocess.clip_exposure("clear", 0.15, 0.4) == pytest.approx(0.5 * postprocess.clip_exposure("clear", 0.3, 0.4))
    assert postprocess.clip_exposure("clear", postprocess.ENGINE_REF, 0.4) == pytest.approx(postprocess.KEYS["clear"] / 0.4)
    assert postprocess.clip_exposure("night", 0.3, 1e-9) == 50.0  # clamped, never infinite
    meta = json.loads((tiny / "sequence.json").read_text())["meta"]
    assert meta["teacher"] == 2 and sorted(meta["exposures"]) == sorted(plan.WEATHERS)
    s = seqio.load_sequence(tiny)
    eng = postprocess.engine_log_average([tiny / "color" / f"{f:04d}.png" for f in range(s.frame_count)])
    assert meta["engine_log_average"] == pytest.approx(eng, rel=1e-3)


def test_splits_are_disjoint() -> None:
    train = plan.plan(60, "train", 1)
    held = plan.plan(12, "heldout", 1)
    assert {(c.scene, c.variant) for c in train}.isdisjoint({(c.scene, c.variant) for c in held})
    assert {c.camera for c in train}.isdisjoint({c.camera for c in held})
    assert {c.seed for c in train}.isdisjoint({c.seed for c in held})
    assert [c.name for c in plan.plan(3, "train", 1)] == [c.name for c in train[:3]]


def test_sky_motion_matches_pure_rotation() -> None:
    # camera turned by a small yaw: points at infinity shift horizontally by ~ fx * tan(yaw)
    import math

    def mat(yaw: float) -> list[list[float]]:
        c, s = math.cos(yaw), math.sin(yaw)
        rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        rx = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])  # camera looking along +Y
        m = np.eye(4)
        m[:3, :3] = rz @ rx
        return m.tolist()

    cam = {"matrices": [mat(0.0), mat(0.02)], "fx": 100.0, "fy": 100.0, "cx": 32.0, "cy": 18.0}
    m = postprocess.sky_motion(cam, 1, 36, 64)
    # turning left (positive yaw) moves the scene right: the previous position is to the left
    assert abs(m[18, 32, 0] + 100 * math.tan(0.02)) < 0.05
    assert abs(m[18, 32, 1]) < 1e-3


def test_missing_asset_package_falls_back_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from models.pathtrace import assets

    with caplog.at_level("WARNING", logger="pathtrace"):
        assert assets.car_dirs("train", tmp_path / "no-such-data.zip") == []
    assert "procedural" in caplog.text
    if assets.TRIGGER_ZIP.is_file():  # the real cars: held-out families never appear in training
        tr = {Path(d).name.split("_")[0] for d in assets.car_dirs("train")}
        ho = {Path(d).name.split("_")[0] for d in assets.car_dirs("heldout")}
        assert tr and ho and tr.isdisjoint(ho)


@pytest.mark.parametrize("kind", ["pan", "dolly", "turn", "cut", "orbit", "crane", "overlook"])
def test_camera_paths_stay_over_the_street(kind: str) -> None:
    import random

    from models.pathtrace import camera_paths

    for seed in range(20):
        lane = lambda y: 0.0  # noqa: E731
        r = camera_paths.make_path(kind, random.Random(seed), 12, lane, 5.0, (2.4, 20.0, 1.0))
        assert len(r.poses) == 12
        for x, y, z, heading, pitch in r.poses:
            limit = 5.0 if kind in ("orbit", "overlook") else 9.0  # these stay over the carriageway
            assert abs(x) < limit and 1.0 < z < 6.0, (kind, seed, x, z)  # pavement ends at 9 m
        assert r.cuts == ([6] if kind == "cut" else [])
    loop = camera_paths.make_path("orbit", random.Random(0), 16, lambda y: 0.0, 5.0, (2.4, 20.0, 1.0), loop=True)
    a, b = loop.poses[0], loop.poses[-1]
    assert math.hypot(a[0] - b[0], a[1] - b[1]) < 3.0  # one step short of closing the loop


def test_overlook_looks_down_from_close_by_and_is_never_drawn() -> None:
    import random

    from models.pathtrace import camera_paths

    focus = (2.4, 20.0, 1.0)
    for seed in range(20):
        r = camera_paths.make_path("overlook", random.Random(seed), 8, lambda y: 0.0, 3.5, focus)
        for x, y, z, _heading, pitch in r.poses:
            assert math.hypot(x - focus[0], y - focus[1]) < 6.5 and 3.5 <= z <= 5.5
            assert math.degrees(pitch) < -20.0  # the street-level paths pitch -6..3 degrees
    # training clips drawn by index never get it, so a seed's data set is what it was
    drawn = {p.camera for p in plan.plan(40, "train", 0)}
    assert drawn == set(plan.TRAIN_CAMERAS)
    assert set(plan.EXTRA_TRAIN_CAMERAS) == set(camera_paths.EXTRA_TRAIN_CAMERAS)
    assert generate.validate(generate.build_parser().parse_args(["--out", "x", "--camera", "overlook"]))
    with pytest.raises(generate.ArgError, match="not a heldout camera path"):
        generate.validate(generate.build_parser().parse_args(["--out", "x", "--camera", "overlook", "--split", "heldout"]))


def test_engine_look_variant_shares_planes_and_targets(tiny: Path) -> None:
    # --engine-looks: only the engine frames are re-rendered with another look; the G-buffers and
    # path-traced targets are the clip's (same bytes), so every look maps to the same target.
    rc = generate.main(["--out", str(tiny.parent), "--clips", "1", "--camera", "pan", "--probe", "6.0", "--engine-looks", "1"] + TINY)
    assert rc == 0
    var = tiny.parent / looks.look_name(tiny.name, 1)
    s, b = seqio.load_sequence(var), seqio.load_sequence(tiny)
    s.check_files()
    assert s.meta["look_of"] == tiny.name and s.meta["engine_look"] == looks.engine_look(b.meta["seed"], 1)
    assert s.meta["exposures"] == b.meta["exposures"] and s.split == "train"
    for rel in ["depth/0001.exr", "normals/0002.exr", "motion/0001.exr", "targets/rain/0002.png"]:
        assert (var / rel).read_bytes() == (tiny / rel).read_bytes(), rel
    diff = np.abs(s.load_color_u8(1).astype(np.float32) - b.load_color_u8(1).astype(np.float32)).mean()
    assert diff > 1.0, diff  # another look, not a copy
    # the same geometry and camera: the look's edges sit where the clip's do
    assert _log_lum_corr(s.load_color_u8(1), b.load_color_u8(1)) > 0.7
    # resumable: a second run skips the finished variant
    stamp = (var / "sequence.json").stat().st_mtime_ns
    assert generate.main(["--out", str(tiny.parent), "--clips", "1", "--camera", "pan", "--probe", "6.0", "--engine-looks", "1"] + TINY) == 0
    assert (var / "sequence.json").stat().st_mtime_ns == stamp
    # a variant of another size than its clip is refused with the fix
    with pytest.raises(RuntimeError, match="--size"):
        generate.render_look(
            dict(plan.plan(1, "train", 11, 0, "city", "pan")[0].to_dict(), name=tiny.name),
            looks.engine_look(11, 2),
            looks.look_name(tiny.name, 2),
            {"out": str(tiny.parent), "width": 32, "height": 18, "frames": 3},
        )


def test_a_low_sun_engine_look_is_lit_from_the_golden_hour_sun(tiny: Path) -> None:
    # --engine-sun-elev 8: the canonical engine look under golden hour's sun (same azimuth, 8 deg):
    # its recorded engine sun is golden hour's, its shadows move, its planes and targets are the clip's
    rc = generate.main(["--out", str(tiny.parent), "--clips", "1", "--camera", "pan", "--probe", "6.0", "--engine-sun-elev", "8"] + TINY)
    assert rc == 0
    var = tiny.parent / looks.sun_look_name(tiny.name, 8.0)
    assert var.name == f"{tiny.name}__sun8"
    s, b = seqio.load_sequence(var), seqio.load_sequence(tiny)
    s.check_files()
    assert s.meta["look_of"] == tiny.name and s.meta["engine_look"] == looks.sun_look(8.0)
    np.testing.assert_allclose(s.meta["sun"]["engine"], b.meta["sun"]["golden_hour"], atol=1e-6)
    assert b.meta["sun"]["engine"] != b.meta["sun"]["golden_hour"]  # the clip's own stays at 48 deg
    # it pairs only with the target lit by its sun: the others' shadows fall elsewhere
    assert sorted(s.targets) == ["golden_hour"] and len(b.targets) > 1
    assert (var / "targets/golden_hour/0001.png").read_bytes() == (tiny / "targets/golden_hour/0001.png").read_bytes()
    # another light, not a copy (the same look and sun render the same bytes; this street is
    # mostly in the buildings' shade under either sun, so the change is small here)
    diff = np.abs(s.load_color_u8(1).astype(np.float32) - b.load_color_u8(1).astype(np.float32)).mean()
    assert diff > 0.1, diff
    assert _log_lum_corr(s.load_color_u8(1), b.load_color_u8(1)) > 0.5  # the same scene and camera


def test_sun_looks_are_the_canonical_look_at_another_elevation() -> None:
    lk = looks.sun_look(8.0)
    rest = {k: tuple(v) if isinstance(v, list) else v for k, v in lk.items() if k not in ("variant", "sun_elevation_deg")}
    assert rest == looks.CANONICAL
    assert lk["sun_elevation_deg"] == 8.0 and looks.sun_look_name("c", 8.0) == "c__sun8"
    assert looks.sun_look_name("c", 12.5) == "c__sun12.5"
    for bad in (0.0, -5.0, 91.0):
        with pytest.raises(ValueError):
            looks.sun_look(bad)


def test_engine_looks_are_seeded_and_in_range() -> None:
    a, b = looks.engine_look(123, 1), looks.engine_look(123, 1)
    assert a == b and looks.engine_look(123, 2) != a and looks.engine_look(124, 1) != a
    many = [looks.engine_look(s, k) for s in range(40) for k in (1, 2)]
    for lk in many:
        assert 0.5 * looks.CANONICAL["sun_strength"] < lk["sun_strength"] < 1.6 * looks.CANONICAL["sun_strength"]
        assert all(0.0 < c <= 1.0 for c in [*lk["sun_color"], *lk["sky_color"]])
        assert lk["view_transform"] in ("Standard", "Filmic") and lk["contrast"] in looks.FILMIC_LOOKS
        assert lk["view_transform"] == "Filmic" or lk["contrast"] == "None"
    # every switch takes both values over a data set's clips
    for key in ("soft_shadows", "ao", "bloom", "view_transform"):
        assert len({lk[key] for lk in many}) == 2, key
    with pytest.raises(ValueError):
        looks.engine_look(1, 0)
