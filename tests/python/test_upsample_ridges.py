"""A package's guided-upsample ridge per prompt (package.upsample_section, manifest `upsample`), which
the runtime scales the user's ridge by (rust/realmaster/src/model/upsample_ridges.rs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "training"))

from package import build_manifest, upsample_section, validate_package  # noqa: E402

PRESETS = ["clear", "fog", "night", "rain", "snow"]


def test_the_section_names_each_ridge_and_keeps_the_default() -> None:
    assert upsample_section("fog=3e-2, rain=1e-2,snow=0.01", PRESETS) == {
        "eps": {"fog": 3e-2, "rain": 1e-2, "snow": 1e-2},
        "default_eps": 1e-3,
    }
    assert upsample_section("", PRESETS) is None


def test_the_edge_aware_factor_is_written_and_checked() -> None:
    assert upsample_section("rain=1e-2", PRESETS, 2.0) == {
        "eps": {"rain": 1e-2},
        "default_eps": 1e-3,
        "edge_ridge": 2.0,
    }
    # The factor alone makes a section; out of range is refused.
    assert upsample_section("", PRESETS, 3.0) == {"eps": {}, "default_eps": 1e-3, "edge_ridge": 3.0}
    for bad in (0.5, 2000.0):
        with pytest.raises(ValueError, match="edge ridge factor"):
            upsample_section("", PRESETS, bad)
    # Per-preset weights (stage 67: night only).
    assert upsample_section("rain=1e-2", PRESETS, 2.0, "night=1")["edge_aware"] == {"night": 1.0}
    with pytest.raises(ValueError, match="need the edge ridge factor"):
        upsample_section("", PRESETS, None, "night=1")
    with pytest.raises(ValueError, match="PRESET=WEIGHT"):
        upsample_section("", PRESETS, 2.0, "dusk=1")
    with pytest.raises(ValueError, match="must be in 0..1"):
        upsample_section("", PRESETS, 2.0, "night=1.5")


@pytest.mark.parametrize(
    "spec, words",
    [("sleet=1e-2", "PRESET one of clear"), ("fog", "PRESET=RIDGE"), ("fog=x", "not a number"), ("fog=2", "must be in"), ("fog=0", "must be in")],
)
def test_bad_ridges_are_refused_naming_the_entry(spec: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        upsample_section(spec, PRESETS)


def test_validation_refuses_a_ridge_for_an_unknown_preset_or_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"x")
    (tmp_path / "presets.json").write_text(json.dumps({"dim": 2, "presets": {"clear": [1, 0], "fog": [0, 1]}}))
    kw = dict(name="s", model_version="0.0.1", description="d", window=2, default_size=(64, 32), prompt_dim=2, default_preset="clear", max_tokens=8)
    assert "upsample" not in build_manifest(tmp_path, **kw)
    m = build_manifest(tmp_path, **kw, upsample={"eps": {"sleet": 1e-2, "fog": 5.0}, "default_eps": 1e-3})
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    probs = validate_package(tmp_path)
    assert any("'sleet'" in p for p in probs), probs
    assert any("fog is 5.0" in p for p in probs), probs
    m["upsample"] = {"eps": {}, "default_eps": 1e-3, "edge_ridge": 0.2, "edge_aware": {"sleet": 1.0, "fog": 2.0}}
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    probs = validate_package(tmp_path)
    assert any("upsample.edge_ridge is 0.2" in p for p in probs), probs
    assert any("edge_aware names 'sleet'" in p for p in probs), probs
    assert any("edge_aware fog is 2.0" in p for p in probs), probs
