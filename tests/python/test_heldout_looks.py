"""heldout_looks.py: plan names from the committed held-out clips, the counts, and clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "training"))

import heldout_looks  # noqa: E402
from seqio import DataError  # noqa: E402


def test_the_committed_clips_map_to_their_plan_names() -> None:
    names = [heldout_looks.plan_args(ROOT / "samples" / c) for c in heldout_looks.CLIPS]
    assert names[0] == ("heldout_0000_city_harbor_orbit", ["--start", "0", "--clips", "1", "--scene", "city", "--camera", "orbit"])
    assert names[1][0] == "heldout_0001_landscape_coast_orbit"
    assert names[2] == ("heldout_0002_suburb_cedar_crane", ["--start", "2", "--clips", "1", "--scene", "suburb", "--camera", "crane"])


def test_a_training_clip_is_refused(tmp_path: Path) -> None:
    clip = tmp_path / "c"
    clip.mkdir()
    meta = {"split": "train", "seed": 3, "scene": "city", "variant": "downtown", "camera": "pan"}
    (clip / "sequence.json").write_text(json.dumps({"meta": meta}))
    with pytest.raises(DataError, match="not a held-out clip"):
        heldout_looks.plan_args(clip)
    (clip / "sequence.json").write_text(json.dumps({"meta": {}}))
    with pytest.raises(DataError, match="no usable meta"):
        heldout_looks.plan_args(clip)


def row(psnr: float, passthrough: float, edge_f: float = 0.5) -> dict:
    return {"psnr": psnr, "psnr_passthrough": passthrough, "edge_f": edge_f, "edge_f_target": 0.4}


def test_counts() -> None:
    base = {"a__look1/clear": row(20.0, 18.0), "a__look1/fog": row(15.0, 16.0, 0.3)}
    cand = {"a__look1/clear": row(22.0, 18.0), "a__look1/fog": row(14.0, 16.0)}
    assert heldout_looks.counts(base, None) == {"pairs": 2, "beats": 1, "ge3": 0, "mean": 17.5, "edge_f": 1, "above_base": None}
    c = heldout_looks.counts(cand, base)
    assert (c["beats"], c["ge3"], c["edge_f"], c["above_base"]) == (1, 1, 2, 1)


def test_score_without_renders_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "realmaster"
    fake.write_text("")
    assert heldout_looks.main(["score", "--out", str(tmp_path), "--realmaster", str(fake), f"m={tmp_path}"]) == 2
    assert "no engine-look folders" in capsys.readouterr().err
