"""sun_view_ceiling.py: the view rays follow the normals' convention (visible surfaces face them on
a committed clip), a glow around the sun is recovered only by the family that reads the rays, and
the tool runs end to end on committed clips."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "training"))

import sun_view_ceiling as svc  # noqa: E402
from seqio import _cameras, load_sequence  # noqa: E402

COAST = ROOT / "samples" / "heldout_pathtrace_coast_orbit"


def test_rays_are_unit_and_point_where_the_pixels_are() -> None:
    info = {"fx": 100.0, "fy": 100.0, "cx": 8.0, "cy": 4.0}
    v = svc.view_rays(info, 8, 16).reshape(8, 16, 3)
    assert np.allclose(np.linalg.norm(v, axis=-1), 1.0)
    assert (v[..., 2] < 0).all()  # into the scene: the camera looks down -z
    assert v[4, 15, 0] > 0 > v[4, 0, 0]  # right of centre: +x
    assert v[0, 8, 1] > 0 > v[7, 8, 1]  # the top row: +y
    # intrinsics recorded at another size scale with the frame
    assert np.allclose(svc.view_rays({"fx": 200.0, "fy": 200.0, "cx": 16.0, "cy": 8.0}, 8, 16), v.reshape(-1, 3))


def test_visible_surfaces_face_the_rays_on_a_committed_clip() -> None:
    seq = load_sequence(COAST)
    info = json.loads(_cameras(seq).read_text())
    n = seq.load_normals(0).reshape(-1, 3).astype(np.float64)
    h, w = seq.load_color_u8(0).shape[:2]
    v = svc.view_rays(info, h, w)
    has = np.linalg.norm(n, axis=1) > 0.5
    facing = (n[has] * v[has]).sum(1) < 0.05
    assert has.mean() > 0.5
    assert facing.mean() > 0.95, facing.mean()


def synthetic(seed: int, n: int = 6000) -> svc.Pixels:
    rng = np.random.default_rng(seed)
    unit = lambda: (lambda a: a / np.linalg.norm(a, axis=1, keepdims=True))(rng.normal(size=(n, 3)))  # noqa: E731
    normals, rays = unit(), unit()
    sun = np.array([0.0, 0.14, -0.99])
    sun /= np.linalg.norm(sun)
    rgb = rng.uniform(0.05, 0.9, (n, 3))
    glow = np.maximum(rays @ sun, 0.0) ** 16
    target = np.clip(rgb * 0.6 + 0.4 * glow[:, None] * np.array([1.0, 0.6, 0.3]), 0.0, 1.0)
    return svc.Pixels(rgb, normals, rng.uniform(0.0, 2.0, n), normals @ sun, normals[:, 2], rays @ sun, rays[:, 1], target)


def test_a_glow_around_the_sun_is_recovered_only_with_the_rays() -> None:
    train, held = [synthetic(1), synthetic(2)], synthetic(3)
    score = {f: svc.psnr(svc.features(held, f) @ svc.fit(train, f), held.target) for f in svc.FAMILIES}
    assert score["view"] > 45.0, score
    assert score["nsun"] < score["view"] - 15.0, score


def test_the_tool_runs_on_committed_clips(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    rc = svc.main(
        [
            str(ROOT / "samples" / "heldout_pathtrace_harbor_orbit"),
            "--fit-on",
            str(COAST),
            "--fit-on",
            str(ROOT / "samples" / "heldout_pathtrace_cedar_crane"),
            "--stride",
            "20",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    (row,) = json.loads(out.read_text())
    assert set(svc.FAMILIES) <= set(row)
    assert all(np.isfinite(row[f]) for f in svc.FAMILIES)


def test_a_clip_without_the_prompt_is_refused(capsys) -> None:
    rc = svc.main([str(COAST), "--fit-on", str(COAST), "--weather", "sandstorm"])
    assert rc == 2
    assert "sandstorm" in capsys.readouterr().err


def test_engine_frames_come_from_the_named_variant(tmp_path: Path, capsys) -> None:
    import shutil

    from PIL import Image

    base = tmp_path / "set" / "c"
    shutil.copytree(COAST, base)
    var = tmp_path / "set" / "c__dim"
    shutil.copytree(COAST, var)
    seq = json.loads((var / "sequence.json").read_text())
    seq["meta"]["look_of"] = "c"
    (var / "sequence.json").write_text(json.dumps(seq))
    for png in (var / "color").glob("*.png"):
        Image.eval(Image.open(png).convert("RGB"), lambda v: v // 2).save(png)
    rows = {}
    for name in (None, "dim"):
        out = tmp_path / f"{name}.json"
        extra = ["--engine-variant", name] if name else []
        assert svc.main([str(tmp_path / "set"), "--fit-on", str(tmp_path / "set"), "--stride", "20", "--json", str(out), *extra]) == 0
        (rows[name],) = json.loads(out.read_text())  # the variant is not scored as a clip of its own
    assert rows["dim"]["pass_through"] < rows[None]["pass_through"] - 1.0
    assert svc.main([str(base), "--fit-on", str(base), "--engine-variant", "sun8"]) == 2
    assert "no sun8 variant" in capsys.readouterr().err
