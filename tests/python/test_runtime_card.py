"""runtime_card.py: the ridge a card is made with is checked, and the card's text names it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "training"))

import runtime_card  # noqa: E402

SHIPPED = ROOT / "models" / "realmaster-student"


def test_a_ridge_outside_the_runtimes_range_is_refused_before_anything_runs(tmp_path: Path, capsys) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for f in ("manifest.json", "MODEL_CARD.md"):
        shutil.copy(SHIPPED / f, pkg / f)
    card_before = (pkg / "MODEL_CARD.md").read_text()
    code = runtime_card.main(["--package", str(pkg), "--realmaster", sys.executable, "--upsample-eps", "2"])
    err = capsys.readouterr().err
    assert code == 2
    assert "outside the runtime's range 1e-6..1" in err and "--upsample-eps 1e-5" in err
    assert not (pkg / "runtime_metrics.json").exists()
    assert (pkg / "MODEL_CARD.md").read_text() == card_before


def test_the_cards_text_names_the_ridge_its_runs_used() -> None:
    m = json.loads((SHIPPED / "runtime_metrics.json").read_text())
    for eps, shown in ((1e-3, "ridge 0.001"), (1e-5, "ridge 1e-05")):
        m["upsample_eps"] = eps
        text = runtime_card.section(m)
        # Once where the runs are described, once beside the sharpness it decides.
        assert text.count(shown) == 2, text


def test_the_cards_text_names_each_prompts_ridge_where_the_package_scaled_it() -> None:
    m = json.loads((SHIPPED / "runtime_metrics.json").read_text())
    m["upsample_eps"] = 1e-3
    for w in m["eval"]["weathers"]:
        w["upsample_eps"] = {"rain": 1e-2, "snow": 3e-3}.get(w["weather"], 1e-3)
    text = runtime_card.section(m)
    assert text.count("ridge 0.001, scaled per prompt by the package's (manifest `upsample`): rain 0.01, snow 0.003") == 2, text
    for w in m["eval"]["weathers"]:
        w.pop("upsample_eps")
    assert "scaled per prompt" not in runtime_card.section(m)


def test_the_cards_text_names_the_prompts_whose_fit_is_edge_aware() -> None:
    m = json.loads((SHIPPED / "runtime_metrics.json").read_text())
    m["upsample_eps"] = 1e-3
    for w in m["eval"]["weathers"]:
        w["upsample_edge_ridge"], w["upsample_edge_pull"] = (2.0, 1.0) if w["weather"] == "night" else (1.0, 0.0)
    text = runtime_card.section(m)
    assert text.count("edge-aware (manifest `upsample.edge_ridge` / `edge_aware`): night (the ridge 2x") == 2, text
    for w in m["eval"]["weathers"]:
        w["upsample_edge_pull"] = 0.0
    assert "edge-aware" not in runtime_card.section(m)


def test_the_cards_text_states_the_dark_frame_figure_when_it_was_scored() -> None:
    m = json.loads((SHIPPED / "runtime_metrics.json").read_text())
    m["upsample_eps"] = 1e-3  # a card from before runtime_card.py recorded the ridge: the default
    m["dark"] = None
    assert "re-exposed" not in runtime_card.section(m)
    m["dark"] = {"exposure_ev": -3.0, "weather": "clear", "psnr": 30.73, "psnr_passthrough": 28.85, "ssim": 0.9, "ssim_passthrough": 0.9,
                 "mean_output": 0.18, "mean_input": 0.19}
    text = runtime_card.section(m)
    assert "clear pairs with the engine frames and the targets re-exposed by -3 stops" in text
    assert "PSNR 30.73 dB against 28.85 for pass-through" in text


def test_the_kid_table_names_its_reference_and_shows_all_photos_beside_a_subset() -> None:
    m = json.loads((SHIPPED / "runtime_metrics.json").read_text())
    m["real"] = "data/realphotos"
    look = {"kid_engine_x1000": 400.0, "kid_all_engine_x1000": 410.0, "per_weather": {
        "clear": {"vgg_output": 0.1, "vgg_passthrough": 0.2, "kid_output_x1000": 390.0, "kid_target_x1000": 380.0,
                  "kid_all_output_x1000": 420.0, "kid_all_target_x1000": 430.0}}}
    m["tables"] = [{"name": "clip", "eval": {"weathers": []}, "look": look}]
    m["real_scenes"] = ["outdoor"]
    rows = runtime_card.kid_rows(m["tables"])
    assert rows[0].endswith("| target | all photos: output | engine frames | target |") and rows[1] == "|---" * 8 + "|"
    assert rows[2] == "| clip | clear | 390.0 | 400.0 | 380.0 | 420.0 | 410.0 | 430.0 |"
    assert "tagged outdoor (data/realphotos; the all-photo figures beside them)" in runtime_card.kid_reference(m)
    # A card from before stage 71: every photo, one set of columns.
    m["real_scenes"] = "all"
    for k in ("kid_all_engine_x1000",):
        look.pop(k)
    for k in ("kid_all_output_x1000", "kid_all_target_x1000"):
        look["per_weather"]["clear"].pop(k)
    assert runtime_card.kid_rows(m["tables"])[2] == "| clip | clear | 390.0 | 400.0 | 380.0 |"
    assert runtime_card.kid_reference(m) == "all real photographs (data/realphotos)"


def test_an_unknown_kid_reference_is_refused_before_anything_runs(tmp_path: Path, capsys) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for f in ("manifest.json", "MODEL_CARD.md"):
        shutil.copy(SHIPPED / f, pkg / f)
    code = runtime_card.main(["--package", str(pkg), "--realmaster", sys.executable, "--look",
                              "--real", str(ROOT / "models" / "training" / "realphotos"), "--real-scenes", "outdoors"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown scene tag(s) outdoors" in err and "outdoor, indoor, close-up" in err
    assert not (pkg / "runtime_metrics.json").exists()


def test_a_card_with_the_exposure_lock_needs_a_package_that_states_the_rule_and_says_so(tmp_path: Path, capsys) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    shutil.copy(SHIPPED / "MODEL_CARD.md", pkg / "MODEL_CARD.md")
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    manifest.pop("exposure", None)
    (pkg / "manifest.json").write_text(json.dumps(manifest))
    code = runtime_card.main(["--package", str(pkg), "--realmaster", sys.executable, "--exposure-lock"])
    err = capsys.readouterr().err
    assert code == 2 and "states no exposure rule" in err and "export the package again" in err
    assert not (pkg / "runtime_metrics.json").exists()
    m = json.loads((SHIPPED / "runtime_metrics.json").read_text())
    m["exposure_lock"] = False
    assert "exposure lock" not in runtime_card.section(m)
    m["exposure_lock"] = True
    assert "the exposure lock on" in runtime_card.section(m)


def test_a_card_may_borrow_the_timing_of_the_same_graph_only(tmp_path: Path, capsys) -> None:
    pkg, other = tmp_path / "pkg", tmp_path / "other"
    for d in (pkg, other):
        d.mkdir()
        (d / "model.onnx").write_bytes(b"the same graph")
        shutil.copy(SHIPPED / "manifest.json", d / "manifest.json")
    shipped = json.loads((SHIPPED / "runtime_metrics.json").read_text())
    (other / "runtime_metrics.json").write_text(json.dumps(shipped))
    got, why = runtime_card.borrowed_bench(pkg, other)
    assert why == "" and got is not None
    assert got["bench"] == shipped["bench"] and got["cpu"] == shipped["cpu"]
    # Where the timing was measured: the shipped card's own run, or the card it borrowed from
    # (0.13.2's card timed nothing: its graph is 0.13.1's).
    version = json.loads((SHIPPED / "manifest.json").read_text())["model_version"]
    assert got["source"] == (shipped.get("bench_from") or version)
    m = dict(shipped, bench_from="0.13.0")
    assert "timed in 0.13.0's card run, the same model.onnx" in runtime_card.section(m)
    assert "timed in" not in runtime_card.section(dict(shipped, bench_from=None))
    # Another graph's timing is refused before anything runs.
    (other / "model.onnx").write_bytes(b"another graph")
    shutil.copy(SHIPPED / "MODEL_CARD.md", pkg / "MODEL_CARD.md")
    code = runtime_card.main(["--package", str(pkg), "--realmaster", sys.executable, "--bench-from", str(other)])
    err = capsys.readouterr().err
    assert code == 2 and "is not this package's" in err and "leave out --bench-from" in err
    assert not (pkg / "runtime_metrics.json").exists()
