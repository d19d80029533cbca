"""The teacher's exposure rule as a package states it (export.exposure_rule, manifest `exposure`),
which the runtime's exposure lock (rust/realmaster/src/model/exposure.rs) holds a student to."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "training"))
sys.path.insert(0, str(ROOT))

import export as texport  # noqa: E402
from models.pathtrace import postprocess as pp  # noqa: E402
from package import build_manifest  # noqa: E402

WEATHERS = ["clear", "fog", "golden_hour", "night", "rain", "snow"]


def test_a_student_of_the_path_tracer_states_its_rule_and_others_do_not() -> None:
    rule = texport.exposure_rule({"generators": ["realmaster-pathtrace 0.2.1"]}, WEATHERS)
    assert rule is not None
    assert rule["tone_curve"] == "aces-fit" and rule["engine_ref"] == pp.ENGINE_REF
    assert rule["keys"] == {w: pp.KEYS[w] for w in WEATHERS}
    assert rule["default_key"] == pp.KEYS["clear"]
    # targets from another generator, or from mixed ones, were not exposed by this rule
    for gens in (["realmaster-samples 0.3.0"], ["realmaster-pathtrace 0.2.1", "realmaster-samples 0.3.0"], []):
        assert texport.exposure_rule({"generators": gens}, WEATHERS) is None
    # a weather the teacher has no key for gets its default, as clip_exposure does
    assert texport.exposure_rule({"generators": ["realmaster-pathtrace 0.2.1"]}, ["sandstorm"])["keys"] == {"sandstorm": pp.KEYS["clear"]}


def test_the_manifest_carries_the_section_only_when_given(tmp_path: Path) -> None:
    for f in ("model.onnx", "presets.json"):
        (tmp_path / f).write_bytes(b"x")
    kw = dict(name="s", model_version="0.0.1", description="d", window=2, default_size=(64, 32), prompt_dim=4, default_preset="clear", max_tokens=8)
    assert "exposure" not in build_manifest(tmp_path, **kw)
    rule = texport.exposure_rule({"generators": ["realmaster-pathtrace 0.2.1"]}, WEATHERS)
    assert build_manifest(tmp_path, exposure=rule, **kw)["exposure"] == rule


def test_the_teachers_targets_meet_the_rule_the_manifest_states() -> None:
    """What the lock assumes: a target's scene-linear log-average (its 8-bit sRGB undone through
    the filmic curve) is key x engine log-average / engine_ref."""
    rng = np.random.default_rng(7)
    engine = rng.uniform(0.05, 0.9, size=(36, 64, 3)).astype(np.float32)  # sRGB 0..1
    engine_avg = pp.log_average(pp.luminance(pp.srgb_to_linear(engine)))
    # scene light whose exposures stay inside the teacher's clamp (0.05..50) for every weather
    radiance = (0.1 * np.exp(rng.normal(0.0, 1.0, size=(36, 64, 3)))).astype(np.float32)
    rule = texport.exposure_rule({"generators": ["realmaster-pathtrace 0.2.1"]}, WEATHERS)
    for w in WEATHERS:
        exposure = pp.clip_exposure(w, engine_avg, pp.log_average(pp.luminance(radiance)))
        target8 = np.round(pp.linear_to_srgb(pp.aces_fit(radiance * exposure)) * 255) / 255
        scene = pp.aces_fit_inverse(pp.srgb_to_linear(target8))
        got = pp.log_average(pp.luminance(scene))
        want = rule["keys"][w] * engine_avg / rule["engine_ref"]
        assert abs(np.log(got / want)) < 0.03, (w, got, want)
