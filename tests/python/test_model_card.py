"""The model card follows a fine-tuned student's --init-from chain: weights carry what every earlier
stage saw, so a GPL-2+ asset in any stage (or a stage whose record is missing) marks the weights
NOT for release, and a clean chain is listed stage by stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "models" / "training"
sys.path.insert(0, str(TRAINING))

from model_card import lineage, write_model_card  # noqa: E402


def run_record(name: str, steps: int, assets: list[str], init_from: Path | None) -> dict:
    r = {
        "train": {"name": name, "steps": steps, "batch": 8, "crop": 96, "lr": 0.002, "warmup": 100,
                  "weight_decay": 1e-4, "grad_clip": 1.0, "seed": 1, "precision": "bf16",
                  "perceptual": 0.05, "gan": 0.01, "gan_start": 0},
        "model": {"window": 2, "widths": [8, 8, 8, 8], "blocks": [1, 1, 1, 1], "film_hidden": 8,
                  "prompt_dim": 384, "use_prev": False, "head": "affine", "guide_width": 8},
        "weathers": ["clear"],
        "sequences": ["train_0000"],
        "generators": ["realmaster-pathtrace 0.1.0"],
        "assets": assets,
    }
    if init_from is not None:
        r["init_from"] = str(init_from)
    return r


def make_chain(root: Path, first_assets: list[str]) -> dict:
    """Three workdirs: s1 (from scratch), s2 from s1, and the exported run from s2."""
    prev = None
    for i, assets in enumerate([first_assets, []]):
        wd = root / f"s{i + 1}"
        (wd / "checkpoints").mkdir(parents=True)
        (wd / "run.json").write_text(json.dumps(run_record("full" if i == 0 else "photoreal", 600, assets, prev)))
        prev = wd / "checkpoints" / "step_0000600.pt"
    return run_record("photoreal", 1500, [], prev)


def card(tmp: Path, run: dict) -> str:
    path = tmp / "MODEL_CARD.md"
    write_model_card(path, name="m", version="0.0.1", run=run, step=1500, params=1000,
                     onnx_check={"max_abs_diff": 1e-7, "per_size": {"96x64": 1e-7}}, nearest=[],
                     metrics=None, workdir=None)
    return path.read_text()


def test_clean_chain_is_listed_and_releasable(tmp_path: Path) -> None:
    run = make_chain(tmp_path, [])
    ancestors, missing = lineage(run)
    assert [a["train"]["name"] for a in ancestors] == ["full", "photoreal"] and not missing
    text = card(tmp_path, run)
    assert "| 3 (this export) | photoreal | 1500 |" in text
    assert "| 1 | full | 600 |" in text
    assert "NOT for release" not in text


def test_gpl_asset_in_an_earlier_stage_blocks_release(tmp_path: Path) -> None:
    run = make_chain(tmp_path, ["trigger-rally-data:vehicles/fox_wrc"])
    text = card(tmp_path, run)
    assert "NOT for release" in text
    assert "trigger-rally-data" in text


def test_missing_ancestor_record_blocks_release(tmp_path: Path) -> None:
    run = run_record("photoreal", 100, [], tmp_path / "gone" / "checkpoints" / "step_1.pt")
    ancestors, missing = lineage(run)
    assert not ancestors and missing
    assert "Lineage incomplete" in card(tmp_path, run)


def test_exposure_augmentation_is_stated_only_when_used(tmp_path: Path) -> None:
    run = run_record("photoreal", 100, [], None)
    text = card(tmp_path, run)
    assert "exposure augmentation" not in text
    assert "trained only at the training renders' own exposure" in text
    run["train"]["exposure_aug"] = 0.5
    text = card(tmp_path, run)
    assert "exposure augmentation (`--exposure-aug 0.5`): 50% of the pairs" in text
    assert "re-exposed between -3 and +0.5 EV" in text


def test_look_exposure_match_is_stated_only_when_used(tmp_path: Path) -> None:
    run = run_record("photoreal", 100, [], None)
    assert "exposure-matched" not in card(tmp_path, run)
    run["train"]["look_exposure_match"] = True
    assert "engine looks exposure-matched (`--look-exposure-match`)" in card(tmp_path, run)


def test_white_balance_augmentation_is_stated_only_when_used(tmp_path: Path) -> None:
    run = run_record("photoreal", 100, [], None)
    assert "white-balance augmentation" not in card(tmp_path, run)
    run["train"]["white_balance_aug"] = 0.5
    assert "white-balance augmentation (`--white-balance-aug 0.5`): 50% of the pairs" in card(tmp_path, run)


def test_albedo_augmentation_is_stated_only_when_used(tmp_path: Path) -> None:
    run = run_record("photoreal", 100, [], None)
    assert "surface-colour augmentation" not in card(tmp_path, run)
    run["train"]["albedo_aug"] = 0.5
    assert "surface-colour augmentation (`--albedo-aug 0.5`): 50% of the pairs" in card(tmp_path, run)
    assert "never for" not in card(tmp_path, run)
    run["train"]["albedo_aug_skip"] = "fog,snow"
    assert "(never for fog,snow)" in card(tmp_path, run)
    assert "weather weights" not in card(tmp_path, run)
    run["train"]["weather_weights"] = "golden_hour=3"
    assert "weather weights (`--weather-weights golden_hour=3`)" in card(tmp_path, run)


def test_engine_look_variants_are_counted_only_when_present(tmp_path: Path) -> None:
    run = run_record("photoreal", 100, [], None)
    assert "engine-look variants" not in card(tmp_path, run)
    run["sequences"] = ["train_0000_a", "train_0000_a__look1", "train_0000_a__look2", "train_0001_b"]
    assert "of those, 2 are engine-look variants" in card(tmp_path, run)


def test_overlook_clips_are_counted_only_when_present(tmp_path: Path) -> None:
    run = run_record("photoreal", 100, [], None)
    run["sequences"] = ["train_0000_a_pan", "train_0000_a_pan__look1"]
    assert "use the `overlook` camera" not in card(tmp_path, run)
    run["sequences"] += ["train_0100_b_overlook", "train_0100_b_overlook__look1"]
    assert "of those, 2 use the `overlook` camera" in card(tmp_path, run)


def test_lineage_through_an_exported_package(tmp_path: Path) -> None:
    """A run fine-tuned from a package (its checkpoint gone) takes the stages from its lineage.json;
    without that file, or with an incomplete one, the chain is incomplete."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    old = [run_record("full", 600, [], None), run_record("photoreal", 900, [], None)]
    (pkg / "lineage.json").write_text(json.dumps({"stages": old, "complete": True}))
    run = run_record("photoreal", 300, [], pkg)
    ancestors, missing = lineage(run)
    assert [a["train"]["steps"] for a in ancestors] == [600, 900] and not missing
    text = card(tmp_path, run)
    assert "| 3 (this export) | photoreal | 300 |" in text and "NOT for release" not in text
    (pkg / "lineage.json").write_text(json.dumps({"stages": old, "complete": False}))
    assert lineage(run)[1]
    (pkg / "lineage.json").unlink()
    assert lineage(run)[1] and "Lineage incomplete" in card(tmp_path, run)


def test_the_shipped_package_carries_its_lineage() -> None:
    pkg = ROOT / "models" / "realmaster-student"
    d = json.loads((pkg / "lineage.json").read_text())
    assert d["complete"] and len(d["stages"]) >= 6
    run = run_record("photoreal", 1, [], pkg)
    ancestors, missing = lineage(run)
    assert not missing and all(a.get("assets") == [] for a in ancestors)


def test_the_card_holds_the_data_cards_splits_and_licenses(tmp_path: Path) -> None:
    text = card(tmp_path, run_record("photoreal", 100, [], None))
    assert "## Data card" in text
    assert "### Scenes and splits" in text and "### Assets and licenses" in text
    assert "held-out split never shares with training" in text
    assert "| HDR panoramas city, night, sunrise" in text


def test_a_data_card_without_a_section_is_a_clear_error(tmp_path: Path) -> None:
    import pytest
    from model_card import data_card_sections
    from seqio import DataError

    dc = tmp_path / "DATA_CARD.md"
    dc.write_text("# Data card\n\n## Scenes and splits\n\nsplits\n\n## Checks\n\nchecks\n")
    assert data_card_sections(dc, ("Scenes and splits",)) == ["### Scenes and splits", "", "splits", ""]
    with pytest.raises(DataError, match="no section 'Assets and licenses'"):
        data_card_sections(dc)
    with pytest.raises(DataError, match="is missing"):
        data_card_sections(tmp_path / "nope.md")


def test_sections_kept_beside_the_card_survive_a_new_export(tmp_path: Path) -> None:
    run = run_record("photoreal", 100, [], None)
    assert "## On a GPU" not in card(tmp_path, run)
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "b_gpu.md").write_text("## On a GPU\n\n| a | b |\n")
    (tmp_path / "card" / "a_ablation.md").write_text("## Ablation\n\ntable\n")
    text = card(tmp_path, run)
    assert text.index("## Ablation") < text.index("## On a GPU") < text.index("## Limits")
    assert text.index("## Prompts") < text.index("## Ablation")


def test_exporting_a_run_again_into_the_package_it_started_from_keeps_its_lineage(tmp_path: Path) -> None:
    """A run fine-tuned from package P and exported into P: a second export must not list it twice."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    first = run_record("full", 600, [], None)
    (pkg / "lineage.json").write_text(json.dumps({"stages": [first], "complete": True}))
    run = run_record("photoreal", 1000, [], pkg)
    run["sequences"] = ["train_0000_a", "train_0100_b_overlook"]
    ancestors, missing = lineage(run)
    assert [a["train"]["name"] for a in ancestors] == ["full"] and not missing
    # the first export replaced P's lineage with [first, run]; exporting the same run again reads that
    (pkg / "lineage.json").write_text(json.dumps({"stages": [first, run], "complete": True}))
    ancestors, missing = lineage(run)
    assert [a["train"]["name"] for a in ancestors] == ["full"] and not missing
    # another run from the same package (other data) keeps the package's last stage as an ancestor
    other = run_record("photoreal", 500, [], pkg)
    assert [a["train"]["name"] for a in lineage(other)[0]] == ["full", "photoreal"]


def test_a_pruning_stage_is_named_and_the_training_settings_are_the_last_trained_stages(tmp_path: Path) -> None:
    trained = make_chain(tmp_path, [])
    wd = tmp_path / "s3"
    (wd / "checkpoints").mkdir(parents=True)
    (wd / "run.json").write_text(json.dumps(trained))
    pruned = run_record("photoreal", 0, [], wd / "checkpoints" / "step_0001500.pt")
    pruned["model"]["deep_path"] = False
    text = card(tmp_path, pruned)
    assert "| 4 (this export) | photoreal (deep path pruned, no training) | 0 |" in text
    assert "this export: stage 4, stage 3's student without its deep path" in text
    assert "config photoreal: 1500 steps (exported at step 1500)" in text  # stage 3's settings
    assert "one stride-2 stage" in text and "three stride-2 stages" not in text
    assert "NOT for release" not in text
    plain = card(tmp_path, trained)
    assert "deep path pruned" not in plain and "three stride-2 stages" in plain


def test_a_revived_deep_path_is_stated(tmp_path: Path) -> None:
    run = make_chain(tmp_path, [])
    assert "deep path re-initialised" not in card(tmp_path, run)
    run["reinit_deep"] = True
    run["kept_lr_scale"] = 0.25
    assert "(`--reinit-deep`: up1 at zero, so the output was unchanged at its first step); the weights kept from the stage before at lr x 0.25" in card(tmp_path, run)
    assert "the weights outside them at lr x" not in card(tmp_path, run)  # said once, in the line above


def test_a_deep_path_trained_faster_than_the_rest_is_stated(tmp_path: Path) -> None:
    run = make_chain(tmp_path, [])
    assert "the weights outside them" not in card(tmp_path, run)
    run["kept_lr_scale"] = 0.25  # --kept-lr-scale without --reinit-deep (0.9.0's stage)
    text = card(tmp_path, run)
    assert "- the deep path and global path at the lr above, the weights outside them at lr x 0.25" in text
    assert "deep path re-initialised" not in text


def test_the_global_path_is_stated_only_when_present(tmp_path: Path) -> None:
    run = make_chain(tmp_path, [])
    assert "a global path at the bottleneck" not in card(tmp_path, run)
    run["model"]["global_context"] = True
    assert "- a global path at the bottleneck: its features averaged over the frame" in card(tmp_path, run)


def test_the_loss_weights_are_the_runs_own_and_the_sharpness_term_is_stated_only_when_used(tmp_path: Path) -> None:
    run = run_record("photoreal", 100, [], None)
    text = card(tmp_path, run)
    # a record from before the weights were settings had the defaults
    assert "+ 0.5 temporal (" in text and "+ 0.5 edge (" in text and "sharpness (" not in text
    run["train"].update(temporal=0.25, edge=1.0, sharpness=2.0)
    text = card(tmp_path, run)
    assert "+ 0.25 temporal (" in text and "+ 1.0 edge (" in text
    assert "+ 2.0 sharpness (the output's mean |Laplacian| per 8x8 window vs the target's)" in text
