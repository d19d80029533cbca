"""Weight-space averages of students (models/training/soup.py): the arithmetic, the package
carried into a wider student, the run record and model card, and bad input."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "training"))

import export as texport  # noqa: E402
import soup  # noqa: E402
from model import Student, StudentConfig  # noqa: E402
from package import validate_package  # noqa: E402

# The shipped kinds: the affine student with its global path, and the same reading the sun as light planes.
PLAIN = StudentConfig(widths=(8, 8, 16, 16), film_hidden=16, use_prev=False, head="affine", global_context=True)
LIGHT = replace(PLAIN, sun_dim=6, light_planes=True, light_gain=10.0)
TRAIN = {"name": "smoke", "steps": 2, "batch": 1, "crop": 32, "lr": 1e-3, "warmup": 1, "weight_decay": 0.0, "grad_clip": 1.0, "seed": 0, "precision": "fp32"}


def student(cfg: StudentConfig, seed: int) -> Student:
    torch.manual_seed(seed)
    m = Student(cfg)
    with torch.no_grad():  # random everywhere, so a wrong share shows in every weight
        for p in m.parameters():
            p.normal_(0.0, 0.1)
    return m


def write_checkpoint(path: Path, model: Student, init_from: str | None = "base-package") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    run = {"train": TRAIN, "model": model.cfg.to_dict(), "weathers": ["clear"], "sequences": ["a"], "generators": [], "assets": [], "init_from": init_from}
    torch.save({"step": 7, "model": model.state_dict(), "optimizer": {}, "disc": None, "opt_d": None, "run": run, "rng": {}}, path)
    return path


def test_shares_are_normalised_and_every_weight_is_their_mix(tmp_path: Path) -> None:
    a, b = student(LIGHT, 1), student(LIGHT, 2)
    pa, pb = write_checkpoint(tmp_path / "a.pt", a), write_checkpoint(tmp_path / "b.pt", b)
    state = soup.make_soup([soup.parse_ingredient(f"{pa}=1"), soup.parse_ingredient(f"{pb}=3")])
    for k, v in a.state_dict().items():
        want = 0.25 * v.double() + 0.75 * b.state_dict()[k].double()
        assert torch.allclose(state["model"][k].double(), want, atol=1e-7), k
    assert [r["weight"] for r in state["run"]["soup"]] == [0.25, 0.75]
    assert state["run"]["model"] == LIGHT.to_dict() and state["step"] == 0
    # A student averaged with itself is itself (a workdir stands for its newest checkpoint).
    write_checkpoint(tmp_path / "work" / "checkpoints" / "step_0000007.pt", a)
    same = soup.make_soup([soup.parse_ingredient(str(pa)), soup.parse_ingredient(str(tmp_path / "work"))])
    for k, v in a.state_dict().items():
        assert torch.allclose(same["model"][k], v, atol=1e-7), k


def test_a_package_without_the_sun_joins_a_light_soup_at_zero_light_weight(tmp_path: Path) -> None:
    """WiSE-FT of a light fine-tune with the plain package it started from: the package's student
    is carried into the light architecture (its light inputs' weights at zero), so the soup's light
    weights are the fine-tune's times its share, and every other weight the plain mix."""
    base, tuned = student(PLAIN, 3), student(LIGHT, 4)
    pkg = tmp_path / "base"
    pkg.mkdir()
    texport.export_onnx(base, pkg / "model.onnx")
    ckpt = write_checkpoint(tmp_path / "tuned.pt", tuned)
    state = soup.make_soup([soup.Ingredient(pkg, 0.5), soup.Ingredient(ckpt, 0.5)])
    got, b, t = state["model"], base.state_dict(), tuned.state_dict()
    stem_in = b["stem.weight"].shape[1]
    assert t["stem.weight"].shape[1] > stem_in  # the light planes' extra input channels
    assert torch.allclose(got["stem.weight"][:, stem_in:], 0.5 * t["stem.weight"][:, stem_in:], atol=1e-7)
    assert torch.allclose(got["stem.weight"][:, :stem_in], 0.5 * (b["stem.weight"] + t["stem.weight"][:, :stem_in]), atol=1e-7)
    for k in b:
        if b[k].shape == t[k].shape:  # every weight the light planes do not widen
            assert torch.allclose(got[k], 0.5 * (b[k] + t[k]), atol=1e-7), k
    assert state["run"]["soup"][0]["kind"] == "package" and "sun" in state["run"]["soup"][0]["carried"]
    # The recipe keeps the package's version: its folder may hold another one later.
    assert state["run"]["soup"][0]["version"] is None  # this bare package has no manifest
    (pkg / "manifest.json").write_text(json.dumps({"model_version": "1.2.3"}))
    again = soup.make_soup([soup.Ingredient(pkg, 0.5), soup.Ingredient(ckpt, 0.5)])
    assert again["run"]["soup"][0]["version"] == "1.2.3"


def test_the_soup_exports_as_a_package_whose_card_names_the_recipe(tmp_path: Path, capsys) -> None:
    pa = write_checkpoint(tmp_path / "a.pt", student(LIGHT, 5), init_from=None)
    pb = write_checkpoint(tmp_path / "b.pt", student(LIGHT, 6), init_from=None)
    out = tmp_path / "soup.pt"
    assert soup.main(["--out", str(out), f"{pa}=0.5", f"{pb}=0.5"]) == 0
    pkg = tmp_path / "pkg"
    assert texport.main(["--checkpoint", str(out), "--out", str(pkg)]) == 0
    assert validate_package(pkg) == []
    card = (pkg / "MODEL_CARD.md").read_text()
    assert "weight-space average" in card and f"{pa} x 0.500" in card
    assert "(weight average of 2 students, no training of its own" in card  # the stage table says so too
    stages = json.loads((pkg / "lineage.json").read_text())["stages"]
    assert [r["source"] for r in stages[-1]["soup"]] == [str(pa), str(pb)]
    # The exported graph computes the averaged student.
    back = texport.package_weights(pkg, Student(LIGHT))
    saved = torch.load(out, weights_only=False)["model"]
    for k, v in saved.items():
        assert torch.equal(back[k], v), k


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    pa = write_checkpoint(tmp_path / "a.pt", student(LIGHT, 1))
    pp = write_checkpoint(tmp_path / "p.pt", student(PLAIN, 2))
    out = tmp_path / "x.pt"
    assert soup.main(["--out", str(out), str(pa), str(pp)]) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "exported package" in err
    assert soup.main(["--out", str(out), str(pa)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert soup.main(["--out", str(out), str(pa), str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert soup.main(["--out", str(out), str(pa), str(tmp_path / "junk.pt")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert not out.exists()
    for bad in ("=0", "=-1", "=nan"):
        with pytest.raises(SystemExit) as e:
            soup.main(["--out", str(out), str(pa), f"{pa}{bad}"])
        assert e.value.code == 2
    assert "positive number" in capsys.readouterr().err
