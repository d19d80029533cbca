"""compare_cards.py: the candidate-table counts from runtime cards (made up here, small)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "training"))

import compare_cards  # noqa: E402


def pair(weather: str, psnr: float, passthrough: float, **over) -> dict:
    w = {"weather": weather, "psnr": psnr, "psnr_passthrough": passthrough, "edge_f": 0.8, "edge_f_target": 0.7,
         "warp_error": 0.010, "warp_error_target": 0.010, "sharpness": 0.10, "sharpness_target": 0.10}
    w.update(over)
    return w


def card(tmp: Path, name: str, tables: list[tuple[str, list[dict], dict | None]], ridge: float | None = None) -> Path:
    m = {"tables": [{"name": n, "eval": {"weathers": ws}, **({"look": look} if look else {})} for n, ws, look in tables]}
    if ridge is not None:
        m["upsample_eps"] = ridge
    d = tmp / name
    d.mkdir()
    (d / "runtime_metrics.json").write_text(json.dumps(m))
    return d


def test_counts_follow_the_candidate_table_rules(tmp_path: Path) -> None:
    look = {"kid_engine_x1000": 400.0, "per_weather": {
        "clear": {"vgg_output": 0.1, "vgg_passthrough": 0.2, "kid_output_x1000": 390.0, "kid_target_x1000": 300.0},
        "fog": {"vgg_output": 0.3, "vgg_passthrough": 0.2, "kid_output_x1000": 410.0, "kid_target_x1000": 300.0}}}
    base = card(tmp_path, "base", [
        ("heldout_pathtrace_a", [pair("clear", 24.0, 20.0), pair("fog", 19.0, 20.0, edge_f=0.5, warp_error=0.012, sharpness=0.08)], look),
        ("heldout_downtown_orbit", [pair("clear", 10.0, 30.0)], None),  # procedural grade: not counted
        ("heldout_downtown_orbit_pathtraced", [pair("clear", 22.0, 21.0, warp_error=0.011)], None),
    ])
    c = compare_cards.counts(compare_cards.pairs(compare_cards.card(base)), None)
    assert c["pairs"] == 3
    assert (c["beats"], c["ge3"], c["edge_f"], c["vgg"], c["kid"], c["warp"]) == (2, 1, 2, 1, 1, 2)
    assert c["sharp"] == 2 and abs(c["sharp_median"] - 1.0) < 1e-9  # 0.8x on the fog pair
    assert c["ridge"] is None  # a card from before the ridge was recorded
    assert abs(c["mean"] - (24.0 + 19.0 + 22.0) / 3) < 1e-9
    assert abs(c["sample_renderer_mean"] - 16.0) < 1e-9  # both of the sample renderer's clips
    cand = card(tmp_path, "cand", [
        ("heldout_pathtrace_a", [pair("clear", 24.5, 20.0), pair("fog", 18.0, 20.0)], None),
        ("heldout_downtown_orbit_pathtraced", [pair("clear", 22.0, 21.0)], None),
    ], ridge=1e-5)
    c2 = compare_cards.counts(compare_cards.pairs(compare_cards.card(cand)), compare_cards.pairs(compare_cards.card(base)))
    assert c2["above_base"] == 1 and c2["vgg"] is None and c2["kid"] is None and c2["ridge"] == 1e-5
    assert compare_cards.main(["--base", str(base), f"cand={cand}"]) == 0


def test_a_package_without_a_card_is_a_clear_error(tmp_path: Path, capsys) -> None:
    base = card(tmp_path, "base", [("heldout_pathtrace_harbor_orbit", [pair("clear", 25.0, 20.0)], None)])
    (tmp_path / "unscored").mkdir()
    assert compare_cards.main(["--base", str(base), f"X={tmp_path / 'unscored'}"]) == 2
    err = capsys.readouterr().err
    assert "runtime_metrics.json does not exist" in err and "runtime_card.py" in err
    (tmp_path / "unscored" / "runtime_metrics.json").write_text("{")
    assert compare_cards.main(["--base", str(base), f"X={tmp_path / 'unscored'}"]) == 2
    assert "is not JSON" in capsys.readouterr().err


def test_the_dark_frame_figure_is_shown_where_the_card_has_it(tmp_path: Path, capsys) -> None:
    base = card(tmp_path, "base", [("heldout_pathtrace_a", [pair("clear", 25.0, 20.0)], None)])
    cand = card(tmp_path, "cand", [("heldout_pathtrace_a", [pair("clear", 25.0, 20.0)], None)])
    m = json.loads((cand / "runtime_metrics.json").read_text())
    m["dark"] = {"exposure_ev": -3.0, "weather": "clear", "psnr": 29.59, "psnr_passthrough": 28.85}
    (cand / "runtime_metrics.json").write_text(json.dumps(m))
    assert compare_cards.dark_gain(compare_cards.card(base)) is None  # a card from before runtime_card.py --dark
    assert compare_cards.dark_gain(compare_cards.card(cand)) == "+0.74 at -3 EV"
    assert compare_cards.main(["--base", str(base), f"cand={cand}"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("| dark frame over pass-through |")
    assert out[2].endswith("| - |") and out[3].endswith("| +0.74 at -3 EV |")


def test_the_kid_count_names_its_reference_and_a_mismatch_is_flagged(tmp_path: Path, capsys) -> None:
    look = {"kid_engine_x1000": 400.0, "kid_all_engine_x1000": 380.0, "per_weather": {
        "clear": {"vgg_output": 0.1, "vgg_passthrough": 0.2, "kid_output_x1000": 390.0, "kid_target_x1000": 300.0,
                  "kid_all_output_x1000": 385.0, "kid_all_target_x1000": 300.0},
        "fog": {"vgg_output": 0.1, "vgg_passthrough": 0.2, "kid_output_x1000": 395.0, "kid_target_x1000": 300.0,
                "kid_all_output_x1000": 370.0, "kid_all_target_x1000": 300.0}}}
    new = card(tmp_path, "new", [("heldout_pathtrace_a", [pair("clear", 25.0, 20.0), pair("fog", 25.0, 20.0)], look)])
    m = json.loads((new / "runtime_metrics.json").read_text())
    m["real_scenes"] = ["outdoor"]
    (new / "runtime_metrics.json").write_text(json.dumps(m))
    c = compare_cards.counts(compare_cards.pairs(compare_cards.card(new)), None)
    assert (c["kid"], c["kid_all"]) == (2, 1)
    old_look = {"kid_engine_x1000": 400.0, "per_weather": {"clear": {"vgg_output": 0.1, "vgg_passthrough": 0.2, "kid_output_x1000": 390.0, "kid_target_x1000": 300.0}}}
    old = card(tmp_path, "old", [("heldout_pathtrace_a", [pair("clear", 25.0, 20.0)], old_look)])
    assert compare_cards.counts(compare_cards.pairs(compare_cards.card(old)), None)["kid_all"] is None
    assert compare_cards.main(["--base", str(new), f"old={old}"]) == 0
    cap = capsys.readouterr()
    assert "| 2 (outdoor; all photos 1) |" in cap.out.splitlines()[2]
    assert "| 1 (all) |" in cap.out.splitlines()[3]
    assert "old's KID count compares with all photos, the base's with outdoor" in cap.err
