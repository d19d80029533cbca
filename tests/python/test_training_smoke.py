"""Training tooling (models/training): smoke run end to end, resume, bad input, building blocks.

Each test makes its own small deterministic sequence folders (synth.py writes the exact
docs/formats.md layout: PNG color/targets, EXR depth/normals/motion). Needs requirements-train.txt
(torch, OpenEXR, Pillow); skipped when those are not installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

# The training deps are part of the test environment (make setup installs them): a missing one is a
# collection error, not a skip.
import OpenEXR  # noqa: E402,F401
import PIL  # noqa: E402,F401
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "models" / "training"
sys.path.insert(0, str(TRAINING))

import data as tdata  # noqa: E402
import export as texport  # noqa: E402
import imgops  # noqa: E402
import train as ttrain  # noqa: E402
from model import Student, StudentConfig, count_parameters, example_inputs, lift_sun, lift_to_grid, prune_deep_path, reinit_deep_path, watch_deep_path  # noqa: E402
from package import validate_package  # noqa: E402
from prompts import BANK_PATH, all_texts, load_bank, load_prompts, prompt_table  # noqa: E402
from seqio import DataError, find_sequences, load_sequence, sun_views  # noqa: E402
from synth import write_synthetic_sequence  # noqa: E402

ENV = {**os.environ, "PYTHONHASHSEED": "0"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("seqs")
    write_synthetic_sequence(d / "train_a", frames=6, cut=3, weathers=("clear", "fog"), split="train", seed=1)
    write_synthetic_sequence(d / "train_b", frames=5, cut=None, weathers=("clear", "fog"), split="train", seed=2)
    write_synthetic_sequence(d / "held", frames=4, cut=2, weathers=("clear", "fog"), split="heldout", seed=3)
    return d


def smoke_args(data: Path, work: Path, *extra: str) -> list[str]:
    return ["--config", "smoke", "--data", str(data), "--workdir", str(work), "--threads", "2", *extra]


# ---------------------------------------------------------------------------------------------
# End to end


def train_cli(dataset: Path, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    """train.py as a user runs it, on the smoke data set."""
    return subprocess.run(
        [sys.executable, str(TRAINING / "train.py"), *smoke_args(dataset, workdir, *extra)],
        capture_output=True, text=True, env=ENV, timeout=300,
    )


def test_smoke_train_export_evaluate(dataset: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    t0 = time.time()
    r = subprocess.run(
        [sys.executable, str(TRAINING / "train.py"), *smoke_args(dataset, work)],
        capture_output=True, text=True, env=ENV, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "done: 6 steps" in r.stdout
    assert [p.name for p in ttrain.list_checkpoints(work)][-1] == "step_0000006.pt"
    summary = json.loads((work / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["it_s"] > 0
    log = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in log] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(x["total"]) for x in log)

    pkg = tmp_path / "pkg"
    assert texport.main(["--workdir", str(work), "--out", str(pkg)]) == 0
    assert validate_package(pkg) == []
    manifest = json.loads((pkg / "manifest.json").read_text())
    assert manifest["kind"] == "student" and manifest["window"] == 2
    assert manifest["resolution"] == {"mode": "dynamic", "multiple_of": 16, "default": [512, 288]}
    # The default student has no feedback of its own output (see model.py: that loop drifts).
    assert [i["role"] for i in manifest["inputs"]] == ["frames", "edges", "depth", "normals", "prompt_embedding"]
    presets = json.loads((pkg / "presets.json").read_text())
    assert presets["dim"] == 384 and sorted(presets["presets"]) == ["clear", "fog"]
    assert (pkg / "MODEL_CARD.md").read_text().count("## Licenses") == 1
    # The package's weights read back from its model.onnx are the checkpoint's, and a new run can
    # start from the package (its checkpoint gone); its lineage.json lists the stage.
    ckpt_model, _ = texport.load_student(work, None)
    back = texport.package_weights(pkg, Student(ckpt_model.cfg))
    for k, v in ckpt_model.state_dict().items():
        assert torch.equal(back[k], v), k
    lin = json.loads((pkg / "lineage.json").read_text())
    assert lin["complete"] and [st["train"]["steps"] for st in lin["stages"]] == [6]
    r2 = train_cli(dataset, tmp_path / "work2", "--init-from", str(pkg), "--steps", "2")
    assert r2.returncode == 0 and "initialised from the package" in r2.stdout, r2.stdout + r2.stderr
    # The same package grows into a bilateral-grid student (every bin starts as its transform).
    r3 = train_cli(dataset, tmp_path / "work3", "--arch", "affine-grid", "--init-from", str(pkg), "--steps", "2")
    assert r3.returncode == 0 and "lifted to 8 grid bin(s)" in r3.stdout, r3.stdout + r3.stderr
    assert json.loads((tmp_path / "work3" / "run.json").read_text())["model"]["grid_bins"] == 8
    pkg3 = tmp_path / "pkg3"
    assert texport.main(["--workdir", str(tmp_path / "work3"), "--out", str(pkg3)]) == 0
    assert validate_package(pkg3) == []
    # ... and into a student with the global path (exported with dynamic sizes like the others).
    r4 = train_cli(dataset, tmp_path / "work4", "--arch", "affine-global", "--init-from", str(pkg), "--steps", "2")
    assert r4.returncode == 0 and "global path True" in r4.stdout, r4.stdout + r4.stderr
    assert json.loads((tmp_path / "work4" / "run.json").read_text())["model"]["global_context"] is True
    pkg4 = tmp_path / "pkg4"
    # ... exported with a guided-upsample ridge for one of its prompts (manifest `upsample`).
    w0 = json.loads((tmp_path / "work4" / "run.json").read_text())["weathers"][0]
    assert texport.main(["--workdir", str(tmp_path / "work4"), "--out", str(pkg4), "--upsample-eps", f"{w0}=1e-2"]) == 0
    assert validate_package(pkg4) == []
    assert json.loads((pkg4 / "manifest.json").read_text())["upsample"] == {"eps": {w0: 1e-2}, "default_eps": 1e-3}
    assert texport.main(["--workdir", str(tmp_path / "work4"), "--out", str(tmp_path / "pkg4b"), "--upsample-eps", "sandstorm=1e-2"]) == 2
    # A shallow student from the package: refused, since this package's deep path is alive.
    r5 = train_cli(dataset, tmp_path / "work5", "--arch", "affine-shallow", "--init-from", str(pkg), "--steps", "0")
    assert r5.returncode == 2 and "live deep path" in r5.stderr, r5.stdout + r5.stderr
    # A fresh deep path with the kept weights held back; the factor needs --init-from.
    r6 = train_cli(dataset, tmp_path / "work6", "--init-from", str(pkg), "--reinit-deep", "--kept-lr-scale", "0.25", "--steps", "2")
    assert r6.returncode == 0 and "deep path re-initialised" in r6.stdout, r6.stdout + r6.stderr
    run6 = json.loads((tmp_path / "work6" / "run.json").read_text())
    assert run6["reinit_deep"] is True and run6["kept_lr_scale"] == 0.25
    r7 = train_cli(dataset, tmp_path / "work7", "--kept-lr-scale", "0.25", "--steps", "2")
    assert r7.returncode == 2 and "--kept-lr-scale without --init-from" in r7.stderr, r7.stdout + r7.stderr
    r8 = train_cli(dataset, tmp_path / "work8", "--arch", "affine-shallow", "--init-from", str(pkg), "--kept-lr-scale", "0.25", "--steps", "2")
    assert r8.returncode == 2 and "--kept-lr-scale with --arch affine-shallow" in r8.stderr, r8.stdout + r8.stderr
    r9 = train_cli(dataset, tmp_path / "work9", "--light-gain", "10", "--steps", "2")
    assert r9.returncode == 2 and "--light-gain 10.0 with --arch affine" in r9.stderr and "affine-global-light" in r9.stderr, r9.stdout + r9.stderr

    # ONNX Runtime vs PyTorch on a real batch from the data (not only random inputs).
    import onnxruntime as ort

    model, _ = texport.load_student(work, None)
    seqs = [s for s in find_sequences([dataset]) if s.split == "train"]
    td = tdata.TrainingData(seqs, ["clear", "fog"], prompt_table(["clear", "fog"]), tdata.DataConfig(crop=32, batch=1))
    b = td.batch(seed=5, step=0)
    names = ["frames", "edges", "depth", "normals", "prev", "prompt"]
    feed = {n: np.ascontiguousarray(b[n][1:2]) for n in names}
    with torch.no_grad():
        ref = model(*[torch.from_numpy(feed[n]) for n in names]).numpy()
    sess = ort.InferenceSession(str(pkg / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: v for n, v in feed.items() if n in model.cfg.input_names})[0]
    assert got.shape == (1, 3, 32, 32)
    assert float(np.abs(got - ref).max()) < 1e-4
    assert got.min() >= 0.0 and got.max() <= 1.0
    grid_model, _ = texport.load_student(tmp_path / "work3", None)
    with torch.no_grad():
        grid_ref = grid_model(*[torch.from_numpy(feed[n]) for n in names]).numpy()
    grid_sess = ort.InferenceSession(str(pkg3 / "model.onnx"), providers=["CPUExecutionProvider"])
    grid_got = grid_sess.run(None, {n: v for n, v in feed.items() if n in grid_model.cfg.input_names})[0]
    assert float(np.abs(grid_got - grid_ref).max()) < 1e-4

    # A tampered file must fail validation (the runtime refuses such a package too).
    raw = (pkg / "presets.json").read_bytes()
    (pkg / "presets.json").write_bytes(raw.replace(b"[", b"[ ", 1))
    assert any("sha256" in p for p in validate_package(pkg))
    (pkg / "presets.json").write_bytes(raw)

    out = tmp_path / "eval"
    import evaluate as tevaluate

    assert tevaluate.main(["--package", str(pkg), "--data", str(dataset), "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["sequences"] == ["held"]
    for w in ("clear", "fog", "all"):
        r = m["per_weather"][w]
        assert r["frames"] == (4 if w != "all" else 8)
        assert 0 < r["psnr"] < 99 and 0 < r["ssim"] <= 1
        assert r["warp_err_output"] is not None and 0 <= r["edge_f_output"] <= 1
    assert "| fog |" in (out / "metrics.md").read_text()
    # Speed belongs in benchmarks, not assertions: a loaded machine must not fail this test.
    print(f"smoke train + export + evaluate: {time.time() - t0:.0f} s")


# ---------------------------------------------------------------------------------------------
# Resume


def final_weights(work: Path) -> dict:
    state = ttrain.load_latest_checkpoint(work)
    assert state is not None
    return state


def test_resume_matches_uninterrupted_run(dataset: Path, tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert ttrain.main(smoke_args(dataset, a, "--steps", "4")) == 0
    assert ttrain.main(smoke_args(dataset, b, "--steps", "4", "--stop-after", "1")) == 0
    assert [p.name for p in ttrain.list_checkpoints(b)] == ["step_0000001.pt"]
    assert ttrain.main(smoke_args(dataset, b, "--steps", "4")) == 0
    assert "resuming from" in capsys.readouterr().out
    sa, sb = final_weights(a), final_weights(b)
    assert sa["step"] == sb["step"] == 4
    for k, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k]), k
    log = [json.loads(line)["step"] for line in (b / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4]
    # Nothing left to do: a third run only reports completion and keeps the speed record.
    summary = (b / "summary.json").read_text()
    assert ttrain.main(smoke_args(dataset, b, "--steps", "4")) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert final_weights(b)["step"] == 4 and (b / "summary.json").read_text() == summary


def test_sigterm_saves_checkpoint_and_resumes(dataset: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    args = [sys.executable, str(TRAINING / "train.py"), *smoke_args(dataset, work, "--steps", "500", "--checkpoint-every", "1000")]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    assert p.stdout is not None
    # Wait for the first finished step, then interrupt.
    for line in p.stdout:
        if line.startswith("step 1/500"):
            break
    p.send_signal(signal.SIGTERM)
    out = p.communicate(timeout=120)[0]
    assert p.returncode == ttrain.EXIT_INTERRUPTED, out
    ck = ttrain.list_checkpoints(work)
    assert len(ck) == 1
    stopped = int(ck[0].name[5:12])
    assert stopped >= 1
    assert not list((work / "checkpoints").glob(".*.tmp"))
    assert ttrain.main(smoke_args(dataset, work, "--steps", "500", "--checkpoint-every", "1000", "--stop-after", "1")) == 0
    assert final_weights(work)["step"] == stopped + 1


REAL_SUBSET = TRAINING / "realphotos"  # the committed real-photo test subset (real_photos.json)


def test_realism_terms_train_and_resume_exactly(dataset: Path, tmp_path: Path) -> None:
    """Perceptual + adversarial terms run, the discriminator's state is checkpointed, and a resumed
    run equals an uninterrupted one (the real-photo crops depend only on seed and step)."""
    extra = ("--steps", "3", "--perceptual", "0.1", "--gan", "0.1", "--gan-start", "0", "--real-photos", str(REAL_SUBSET))
    a, b = tmp_path / "a", tmp_path / "b"
    assert ttrain.main(smoke_args(dataset, a, *extra)) == 0
    assert ttrain.main(smoke_args(dataset, b, *extra, "--stop-after", "1")) == 0
    assert ttrain.main(smoke_args(dataset, b, *extra)) == 0
    sa, sb = final_weights(a), final_weights(b)
    assert sa["disc"] is not None and sa["opt_d"] is not None
    for k, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k]), k
    for k, v in sa["disc"].items():
        assert torch.equal(v, sb["disc"][k]), k
    log = [json.loads(line) for line in (a / "log.jsonl").read_text().splitlines()]
    # realism_every = 2: steps 0 and 2 (log steps 1 and 3) carry the realism terms.
    assert "perceptual" in log[0] and "g_adv" in log[0] and "d_adv" in log[0]
    assert "perceptual" not in log[1]
    # The discriminator trained: its heads moved away from their initial values.
    import realism

    fresh = realism.ProjectedDiscriminator(seed=sa["run"]["train"]["seed"]).state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in sa["disc"].items() if k.startswith("heads."))


def test_gan_on_the_detail_branch_leaves_the_colour_transform_to_the_paired_losses() -> None:
    """--gan-params detail: the adversarial gradient reaches the detail branch's weights and no
    other (the trunk and the colour-transform head get exactly the paired losses' gradient)."""
    torch.manual_seed(0)
    model = Student(StudentConfig(**ttrain.ARCHS["affine"]))
    cfg = ttrain.replace(ttrain.CONFIGS["smoke"], gan=0.5, gan_start=0, realism_every=1, realism_batch=1)
    detail = {id(p) for p in model.detail_parameters()}
    assert detail and len(detail) < len(list(model.parameters()))
    inputs = example_inputs(model.cfg, 32, 32, n=2)

    def grads(adv: str) -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        realism = ttrain.Realism(cfg, REAL_SUBSET, model.detail_parameters() if adv == "detail" else None)
        raw = model.forward_raw(*inputs)
        loss = (raw - 0.5).abs().mean()
        if adv != "off":
            loss = loss + realism.generator_terms(raw, {}, 0, {"total": 0.0})
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    paired, only_detail, everywhere = grads("off"), grads("detail"), grads("all")
    names = {id(p): n for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        if id(p) in detail:
            continue
        if n in paired:
            assert torch.equal(only_detail[n], paired[n]), n
    moved = [names[i] for i in detail if not torch.equal(only_detail[names[i]], paired[names[i]])]
    assert moved, "the adversarial term changed no detail-branch gradient"
    # Unrestricted, it also reaches the trunk.
    assert any(not torch.equal(everywhere[n], paired[n]) for n in paired if n not in {names[i] for i in detail})


def test_gan_texture_weight_leaves_smooth_targets_to_the_paired_losses() -> None:
    """--gan-texture: where the paired target is flat, the adversarial term adds no gradient; where it
    has texture, it does."""
    torch.manual_seed(0)
    model = Student(StudentConfig(**ttrain.ARCHS["affine"]))
    cfg = ttrain.replace(ttrain.CONFIGS["smoke"], gan=0.5, gan_start=0, realism_every=1, realism_batch=1, gan_texture=0.03)
    inputs = example_inputs(model.cfg, 32, 32, n=2)
    flat = torch.full((4, 3, 32, 32), 0.5)
    checker = flat.clone()
    checker[..., ::2, :] = 0.1  # stripes: texture everywhere

    def grads(target: torch.Tensor | None) -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        raw = model.forward_raw(*inputs)
        loss = (raw - 0.5).abs().mean()
        if target is not None:
            loss = loss + ttrain.Realism(cfg, REAL_SUBSET).generator_terms(raw, {"target": target}, 0, {"total": 0.0})
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    paired, smooth, textured = grads(None), grads(flat), grads(checker)
    assert all(torch.equal(smooth[n], paired[n]) for n in paired)
    assert any(not torch.equal(textured[n], paired[n]) for n in paired)


def test_gan_weathers_pull_only_the_named_weathers() -> None:
    """--gan-weathers: a current row of another weather adds no adversarial gradient; a row of a
    named weather does."""
    torch.manual_seed(0)
    model = Student(StudentConfig(**ttrain.ARCHS["affine"]))
    cfg = ttrain.replace(ttrain.CONFIGS["smoke"], gan=0.5, gan_start=0, realism_every=1, realism_batch=1, gan_weathers="fog")
    inputs = example_inputs(model.cfg, 32, 32, n=2)

    def grads(weather: int | None) -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        raw = model.forward_raw(*inputs)
        loss = (raw - 0.5).abs().mean()
        if weather is not None:
            realism = ttrain.Realism(cfg, REAL_SUBSET, weathers=["clear", "fog"])
            batch = {"weather_id": torch.full((raw.shape[0],), weather, dtype=torch.int64)}
            loss = loss + realism.generator_terms(raw, batch, 0, {"total": 0.0})
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    paired, clear, fog = grads(None), grads(0), grads(1)
    assert all(torch.equal(clear[n], paired[n]) for n in paired)
    assert any(not torch.equal(fog[n], paired[n]) for n in paired)


#: Two steps with the adversarial term on from the start, against the committed real photos.
GAN_SMOKE = ("--steps", "2", "--gan", "0.1", "--gan-start", "0", "--real-photos", str(REAL_SUBSET))


def test_gan_weathers_train_end_to_end_and_refuse_unknown_names(dataset: Path, tmp_path: Path, capsys) -> None:
    assert ttrain.main(smoke_args(dataset, tmp_path / "ok", *GAN_SMOKE, "--gan-weathers", "fog")) == 0
    assert final_weights(tmp_path / "ok")["run"]["train"]["gan_weathers"] == "fog"
    assert ttrain.main(smoke_args(dataset, tmp_path / "bad", *GAN_SMOKE, "--gan-weathers", "fog,sleet")) == 2
    err = capsys.readouterr().err
    assert "sleet" in err and "not among the weathers trained" in err


def test_gan_real_scenes_choose_the_discriminators_photos(dataset: Path, tmp_path: Path, capsys) -> None:
    """--gan-real-scenes: the real crops come from the photos of those scene tags only; a tag that
    is not one is refused before training."""
    index = json.loads((REAL_SUBSET / "index.json").read_text())["images"]
    cfg = ttrain.replace(ttrain.CONFIGS["smoke"], gan=0.1, gan_real_scenes="outdoor")
    realism = ttrain.Realism(cfg, REAL_SUBSET, weathers=["clear"])
    assert len(realism.real.images) == sum(e["scene"] == "outdoor" for e in index) < len(index)
    assert ttrain.main(smoke_args(dataset, tmp_path / "ok", *GAN_SMOKE, "--gan-real-scenes", "outdoor")) == 0
    assert final_weights(tmp_path / "ok")["run"]["train"]["gan_real_scenes"] == "outdoor"
    assert ttrain.main(smoke_args(dataset, tmp_path / "bad", *GAN_SMOKE, "--gan-real-scenes", "street")) == 2
    err = capsys.readouterr().err
    assert "--gan-real-scenes: unknown scene tag(s) street" in err and "outdoor, indoor, close-up" in err


def test_gan_params_detail_needs_the_affine_head(dataset: Path, tmp_path: Path, capsys) -> None:
    extra = ("--gan", "0.1", "--gan-params", "detail", "--real-photos", str(REAL_SUBSET), "--arch", "unet")
    assert ttrain.main(smoke_args(dataset, tmp_path / "w", *extra)) == 2
    assert "detail branch" in capsys.readouterr().err


def test_gan_without_real_photos_is_a_clear_error(dataset: Path, tmp_path: Path, capsys) -> None:
    assert ttrain.main(smoke_args(dataset, tmp_path / "w", "--gan", "0.1", "--real-photos", str(tmp_path / "none"))) == 2
    assert "real photographs" in capsys.readouterr().err


def test_unreadable_newest_checkpoint_falls_back(dataset: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "w"
    assert ttrain.main(smoke_args(dataset, work, "--steps", "4")) == 0
    ck = ttrain.list_checkpoints(work)
    assert [p.name for p in ck] == ["step_0000002.pt", "step_0000004.pt"]
    ck[-1].write_bytes(b"not a checkpoint")
    state = ttrain.load_latest_checkpoint(work)
    assert state is not None and state["step"] == int(ck[-2].name[5:12])
    assert "unreadable" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Bad arguments and data


@pytest.mark.parametrize(
    "extra",
    [["--crop", "30"], ["--steps", "0"], ["--lr", "-1"], ["--config", "huge"], ["--batch", "-2"], ["--edge", "-0.5"], ["--edge", "nan"], ["--temporal", "-1"], ["--sharpness", "-1"],
     ["--weather-weights", "fog"], ["--weather-weights", "fog=0"], ["--weather-weights", "fog=x"], ["--weather-weights", "fog=2,fog=3"],
     ["--weathers", "clear", "--weather-weights", "fog=2"]],
)
def test_bad_arguments_exit_2(dataset: Path, tmp_path: Path, extra: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        ttrain.main(smoke_args(dataset, tmp_path / "w", *extra))
    assert e.value.code == 2


def run_train_expect_error(data: Path, work: Path, capsys, *extra: str) -> str:
    assert ttrain.main(smoke_args(data, work, *extra)) == ttrain.EXIT_DATA
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "fix:" in err
    return err


def test_missing_data_dir(tmp_path: Path, capsys) -> None:
    err = run_train_expect_error(tmp_path / "nope", tmp_path / "w", capsys)
    assert "does not exist" in err


def test_folder_without_sequences(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert "no sequence folders" in run_train_expect_error(tmp_path / "empty", tmp_path / "w", capsys)


def test_missing_frame_file(tmp_path: Path, capsys) -> None:
    s = write_synthetic_sequence(tmp_path / "d" / "s", frames=4, cut=None, weathers=("clear",))
    (s / "motion" / "0002.exr").unlink()
    err = run_train_expect_error(tmp_path / "d", tmp_path / "w", capsys)
    assert "motion/0002.exr is missing" in err


def test_inconsistent_sequence_json(tmp_path: Path, capsys) -> None:
    s = write_synthetic_sequence(tmp_path / "d" / "s", frames=3, cut=None, weathers=("clear",))
    d = json.loads((s / "sequence.json").read_text())
    d["width"] = 80
    (s / "sequence.json").write_text(json.dumps(d))
    assert "is 64x48 but" in run_train_expect_error(tmp_path / "d", tmp_path / "w", capsys)
    d["width"] = 64
    d["format"] = "something-else"
    (s / "sequence.json").write_text(json.dumps(d))
    assert "expected 'realmaster-sequence'" in run_train_expect_error(tmp_path / "d", tmp_path / "w", capsys)
    d["format"] = "realmaster-sequence"
    d["cuts"] = [7]
    (s / "sequence.json").write_text(json.dumps(d))
    assert "cuts" in run_train_expect_error(tmp_path / "d", tmp_path / "w", capsys)
    (s / "sequence.json").write_text("{not json")
    assert "cannot parse" in run_train_expect_error(tmp_path / "d", tmp_path / "w", capsys)


def test_crop_larger_than_frames_and_missing_targets(tmp_path: Path, capsys) -> None:
    write_synthetic_sequence(tmp_path / "d" / "s", frames=3, cut=None, weathers=("clear",))
    assert "smaller than the 64px crop" in run_train_expect_error(tmp_path / "d", tmp_path / "w", capsys, "--crop", "64")
    assert "no training sequence has targets for snow" in run_train_expect_error(
        tmp_path / "d", tmp_path / "w", capsys, "--weathers", "snow")
    write_synthetic_sequence(tmp_path / "e" / "s", frames=3, cut=None, weathers=())
    assert "has no targets" in run_train_expect_error(tmp_path / "e", tmp_path / "w", capsys)


def test_resume_with_different_settings_is_refused(dataset: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "w"
    assert ttrain.main(smoke_args(dataset, work, "--steps", "2")) == 0
    err = run_train_expect_error(dataset, work, capsys, "--steps", "2", "--lr", "0.01")
    assert "different settings" in err and "train.lr" in err
    # --fresh starts over instead.
    assert ttrain.main(smoke_args(dataset, work, "--steps", "2", "--lr", "0.01", "--fresh")) == 0


@pytest.mark.parametrize("weight", ["edge", "temporal"])
def test_loss_weight_is_recorded_and_a_run_from_before_it_existed_resumes(dataset: Path, tmp_path: Path, capsys, weight: str) -> None:
    work = tmp_path / "w"
    assert ttrain.main(smoke_args(dataset, work, "--steps", "4", "--stop-after", "2")) == 0
    assert json.loads((work / "run.json").read_text())["train"][weight] == 0.5
    # A checkpoint recorded before the setting existed had the default: it resumes.
    (ckpt,) = ttrain.list_checkpoints(work)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    del state["run"]["train"][weight]
    torch.save(state, ckpt)
    assert ttrain.main(smoke_args(dataset, work, "--steps", "4")) == 0
    assert "resuming from" in capsys.readouterr().out
    # Another weight is another run.
    err = run_train_expect_error(dataset, work, capsys, "--steps", "4", f"--{weight}", "2")
    assert f"train.{weight}: 0.5 -> 2.0" in err


def first_steps(dataset: Path, tmp_path: Path, *extra: str) -> tuple[dict, dict]:
    """The first step's log of a default smoke run (tmp_path/a) and of one with `extra` (tmp_path/b):
    same seed, same first batch and weights."""
    firsts = []
    for name, args in (("a", []), ("b", list(extra))):
        assert ttrain.main(smoke_args(dataset, tmp_path / name, "--steps", "1", *args)) == 0
        firsts.append(json.loads((tmp_path / name / "log.jsonl").read_text().splitlines()[0]))
    return firsts[0], firsts[1]


def test_temporal_weight_reaches_the_loss(dataset: Path, tmp_path: Path) -> None:
    # The first step's total differs by exactly the extra weight times the temporal term.
    a, b = first_steps(dataset, tmp_path, "--temporal", "2")
    assert a["temporal"] == pytest.approx(b["temporal"], abs=1e-5) and a["temporal"] > 0
    assert b["total"] - a["total"] == pytest.approx(1.5 * a["temporal"], abs=3e-5)


def test_sharpness_weight_reaches_the_loss_and_is_recorded(dataset: Path, tmp_path: Path) -> None:
    a, b = first_steps(dataset, tmp_path, "--sharpness", "2")
    assert "sharpness" not in a and b["sharpness"] > 0
    assert b["total"] - a["total"] == pytest.approx(2.0 * b["sharpness"], abs=3e-5)
    assert json.loads((tmp_path / "a" / "run.json").read_text())["train"]["sharpness"] == 0.0
    assert json.loads((tmp_path / "b" / "run.json").read_text())["train"]["sharpness"] == 2.0


def test_sharpness_loss_asks_for_detail_per_window_not_per_pixel() -> None:
    from losses import detail_energy, sharpness_loss

    g = torch.Generator().manual_seed(0)
    target = 0.5 + 0.2 * (torch.rand(2, 3, 48, 48, generator=g) - 0.5)
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(target, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    # the same texture two pixels over: wrong at every pixel, right in every window
    shifted = torch.roll(target, shifts=2, dims=3)
    assert sharpness_loss(target, target) == 0.0
    assert float(sharpness_loss(blurred, target)) > 0.5 * float(detail_energy(target).mean())
    assert float(sharpness_loss(shifted, target)) < 0.1 * float(sharpness_loss(blurred, target))
    assert float((shifted - target).abs().mean()) > float((blurred - target).abs().mean())
    # its gradient adds detail to the blurred output: a small step along it raises the energy
    x = blurred.clone().requires_grad_(True)
    sharpness_loss(x, target).backward()
    stepped = (blurred - 0.05 * x.grad / x.grad.abs().max()).detach()
    assert float(detail_energy(stepped).mean()) > float(detail_energy(blurred).mean())
    # beyond the displayable range detail does not count
    assert float(sharpness_loss(torch.ones_like(target) + torch.rand(2, 3, 48, 48, generator=g), torch.ones_like(target))) == 0.0


def test_export_and_evaluate_bad_input(dataset: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "w").mkdir()
    assert texport.main(["--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "p")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    import evaluate as tevaluate

    assert tevaluate.main(["--package", str(tmp_path / "w"), "--data", str(dataset), "--out", str(tmp_path / "e")]) == 2
    assert "not a model package" in capsys.readouterr().err
    assert tevaluate.main(["--package", str(tmp_path / "w"), "--data", str(dataset), "--split", "x", "--out", str(tmp_path / "e")]) == 2
    assert "meta.split 'x'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Building blocks


def test_edge_map_step_line_and_geometry() -> None:
    img = np.zeros((20, 24, 3), np.float32)
    img[:, 12:] = 1.0
    e = imgops.edge_map(img)
    cols = np.nonzero(e.any(axis=0))[0]
    assert len(cols) == 1 and cols[0] in (11, 12), cols  # one pixel thick, at the step
    assert e[:, cols[0]].all()
    assert imgops.edge_map(np.full((16, 16, 3), 0.5, np.float32)).sum() == 0
    # Depth alone makes an edge where color has none.
    flat = np.full((16, 16, 3), 0.5, np.float32)
    z = np.full((16, 16), 4.0, np.float32)
    z[8:] = 30.0
    assert imgops.edge_map(flat, z).any(axis=1).sum() == 1
    # A receding floor (depth growing smoothly by 2 % per row) is no edge.
    assert imgops.edge_map(flat, 5.0 * 1.02 ** np.mgrid[0:16, 0:16][0].astype(np.float32)).sum() == 0
    # Normals crease too.
    n = np.zeros((16, 16, 3), np.float32)
    n[..., 2] = 1.0
    n[:, 8:] = (0.7071, 0.0, 0.7071)
    assert imgops.edge_map(flat, None, n).any(axis=0).sum() == 1


def test_hysteresis_keeps_connected_weak_edges_only() -> None:
    state = np.zeros((5, 12), np.uint8)
    state[2, 0:3] = imgops.STRONG
    state[2, 3:7] = imgops.WEAK  # connected to the strong seed
    state[2, 9:11] = imgops.WEAK  # isolated
    e = imgops.hysteresis(state)
    assert e[2, 0:7].all() and not e[2, 9:11].any()
    # Bounded like the GPU passes: each step grows one pixel.
    assert imgops.hysteresis(state, max_iters=2)[2, 0:5].all() and not imgops.hysteresis(state, max_iters=2)[2, 5]


def test_nms_keeps_one_pixel_of_a_plateau_and_thresholds() -> None:
    mag = np.zeros((3, 8), np.float32)
    mag[:, 3:5] = 0.5  # two-pixel plateau across x
    mag[:, 6] = 0.1  # weak ridge
    st = imgops.non_max_suppression(mag, np.zeros((3, 8), np.int32))
    assert (st[:, 3:5] == imgops.STRONG).sum(axis=1).tolist() == [1, 1, 1]
    assert (st[:, 6] == imgops.WEAK).all()


def test_warp_and_disocclusion_mask() -> None:
    rng = np.random.default_rng(0)
    prev = rng.random((10, 12, 3)).astype(np.float32)
    motion = np.zeros((10, 12, 2), np.float32)
    motion[..., 0] = -2.0  # content moved 2 px right: it was 2 px to the left
    w, inside = imgops.warp_backward(prev, motion)
    assert np.allclose(w[:, 2:], prev[:, :-2], atol=1e-6)
    assert inside[:, :2].sum() == 0 and inside[:, 2:].all()
    d_cur = np.full((10, 12), 0.5, np.float32)
    d_prev = d_cur.copy()
    d_prev[:, 4] = 0.9  # something near the camera was there before: disoccluded now at x = 6
    m = imgops.valid_history_mask(motion, d_cur, d_prev)
    assert m[:, 6].sum() == 0 and m[:, 8].all() and m[:, :2].sum() == 0


def test_batches_are_deterministic_and_follow_the_contract(dataset: Path) -> None:
    seqs = [s for s in find_sequences([dataset]) if s.split == "train"]
    td = tdata.TrainingData(seqs, ["clear", "fog"], prompt_table(["clear", "fog"]), tdata.DataConfig(crop=32, batch=3))
    b1, b2 = td.batch(7, 3), td.batch(7, 3)
    for k in b1:
        assert np.array_equal(b1[k], b2[k]), k
    assert not np.array_equal(td.batch(7, 4)["frames"], b1["frames"])
    assert b1["frames"].shape == (6, 6, 32, 32) and b1["edges"].shape == (6, 2, 32, 32)
    assert b1["depth"].shape == (6, 1, 32, 32) and b1["prompt"].shape == (6, 384)
    assert set(np.unique(b1["edges"])) <= {0.0, 1.0}
    assert 0.0 < b1["depth"].max() <= 1.0
    assert np.allclose(np.linalg.norm(b1["prompt"], axis=1), 1.0, atol=1e-4)
    # Window slots before a shot start repeat the first frame; prev is the current frame there.
    s = seqs[0]
    assert tdata.window_frames(s, 3, 2) == [3, 3] and tdata.window_frames(s, 4, 2) == [3, 4]
    rng = np.random.default_rng(0)
    smp = td._sample(0, 3, "fog", rng)
    assert np.array_equal(smp["frames"][..., :3], smp["frames"][..., 3:])
    assert np.allclose(smp["prev"], smp["frames"][..., 3:])
    # Away from a cut, prev is the previous target warped with this frame's motion.
    td2 = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(crop=32, batch=1, p_prev_sim=0.0))
    smp = td2._sample(0, 2, "fog", rng)
    tgt1 = s.load_target_u8("fog", 1).astype(np.float32) / 255.0
    expect, _ = imgops.warp_backward(tgt1, s.load_motion(2))
    assert np.allclose(smp["prev"], expect, atol=1e-6)


def test_exposure_augmentation_is_one_linear_gain_per_pair(dataset: Path) -> None:
    """--exposure-aug re-exposes a pair by one linear-light gain on its engine frames, previous output
    and target (the crop and everything else stay as without it); off, batches are unchanged."""
    seqs = [s for s in find_sequences([dataset]) if s.split == "train"]
    cfg = dict(crop=32, batch=1, p_prev_sim=0.0)
    plain = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg)).batch(5, 2)
    off = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg, exposure_aug=0.0)).batch(5, 2)
    aug = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg, exposure_aug=1.0)).batch(5, 2)
    for k in plain:
        assert np.array_equal(plain[k], off[k]), k
    for k in ("edges", "depth", "normals", "motion", "valid"):  # (the prompt's paraphrase draw comes later)
        assert np.array_equal(plain[k], aug[k]), k

    from seqio import srgb_to_linear

    ratios = []
    for k in ("frames", "prev", "target"):
        a, b = (srgb_to_linear(x).astype(np.float64) for x in (plain[k], aug[k]))
        ok = (a > 0.02) & (b < 0.98)  # away from black and from clipping
        assert ok.sum() > 100, k
        ratios.append(b[ok] / a[ok])
    r = np.concatenate(ratios)
    assert 2.0 ** -3.0 - 1e-3 <= np.median(r) <= 2.0 ** 0.5 + 1e-3
    assert np.abs(r / np.median(r) - 1.0).max() < 1e-3, "one gain for the whole pair"
    assert abs(np.median(r) - 1.0) > 1e-3, "the pair was re-exposed"


def _look_variant(base: Path, name: str, gain: float, look: dict) -> Path:
    """A look variant of `base` beside it, as models.pathtrace writes one: its engine frames `gain`
    times the clip's in linear light, the clip's planes and targets, meta look_of / engine_look and
    both clips' engine_log_average."""
    import shutil

    from PIL import Image
    from seqio import linear_to_srgb, srgb_to_linear

    seq = base.parent / name
    shutil.copytree(base, seq)
    for png in sorted((seq / "color").glob("*.png")):
        x = srgb_to_linear(np.asarray(Image.open(png).convert("RGB"), np.float64) / 255.0)
        Image.fromarray(np.round(linear_to_srgb(np.clip(x * gain, 0, 1)) * 255).astype(np.uint8)).save(png)
    for folder, avg in ((base, 0.2), (seq, 0.2 * gain)):
        d = json.loads((folder / "sequence.json").read_text())
        d["meta"]["engine_log_average"] = avg
        if folder == seq:
            d["meta"].update(look_of=base.name, engine_look=look)
        (folder / "sequence.json").write_text(json.dumps(d))
    return seq


def test_look_exposure_match_re_exposes_a_looks_targets_as_the_teacher_would(tmp_path: Path) -> None:
    """--look-exposure-match: a look rendered darker than its clip gets its clip's targets re-exposed by
    the look's engine brightness over the clip's, before the filmic curve (the teacher's rule); its
    engine frames, the clip's own pairs and a sun variant's stay as stored; off, nothing changes."""
    base = write_synthetic_sequence(tmp_path / "train_a", frames=4, cut=None, weathers=("clear",), split="train", seed=4)
    dark = _look_variant(base, "train_a__look1", 0.5, {"sun_strength": 1.6})
    _look_variant(base, "train_a__sun8", 0.3, {"sun_elevation_deg": 8.0})
    seqs = {s.root.name: s for s in find_sequences([tmp_path])}
    assert tdata.look_target_gain(seqs["train_a"]) == 1.0
    assert tdata.look_target_gain(seqs["train_a__look1"]) == pytest.approx(0.5)
    assert tdata.look_target_gain(seqs["train_a__sun8"]) == 1.0

    cfg = dict(crop=32, batch=2, p_prev_sim=0.0)

    def batch(names: list[str], match: bool) -> dict[str, np.ndarray]:
        chosen = [seqs[n] for n in names]
        return tdata.TrainingData(chosen, ["clear"], prompt_table(["clear"]), tdata.DataConfig(**cfg, look_exposure_match=match)).batch(3, 1)

    for names in (["train_a"], ["train_a__sun8"]):
        plain, matched = batch(names, False), batch(names, True)
        for k in plain:
            assert np.array_equal(plain[k], matched[k]), (names, k)
    plain, matched = batch(["train_a__look1"], False), batch(["train_a__look1"], True)
    for k in plain:
        if k not in ("target", "prev"):
            assert np.array_equal(plain[k], matched[k]), k
    # undo sRGB and the filmic curve: the matched target's scene light is half the stored one's
    from models.pathtrace.postprocess import aces_fit_inverse
    from seqio import srgb_to_linear

    def scene_light(x: np.ndarray) -> np.ndarray:
        return aces_fit_inverse(srgb_to_linear(x.astype(np.float64)))

    s, m = scene_light(plain["target"]), scene_light(matched["target"])
    ok = (plain["target"] > 0.15) & (plain["target"] < 0.85)
    assert ok.sum() > 500
    assert np.median(m[ok] / s[ok]) == pytest.approx(0.5, abs=0.02)
    assert matched["target"].mean() < plain["target"].mean() - 0.03, "the darker look asks for a darker picture"
    # an 8-bit round trip at gain 1 keeps every value
    t = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    assert np.abs(tdata.refilm_u8(t, 1.0).astype(int) - t).max() <= 1

    # a look whose clip is not beside it: a clear error naming the fix, before any training
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "train_a__look1").symlink_to(dark, target_is_directory=True)
    with pytest.raises(DataError, match="(?s)look of train_a.*keep the look beside its clip"):
        tdata.look_target_gain(find_sequences([lone])[0])


def test_look_exposure_match_is_recorded_and_another_setting_is_another_run(dataset: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "w"
    assert ttrain.main(smoke_args(dataset, work, "--steps", "4", "--stop-after", "2", "--look-exposure-match")) == 0
    assert json.loads((work / "run.json").read_text())["train"]["look_exposure_match"] is True
    err = run_train_expect_error(dataset, work, capsys, "--steps", "4")
    assert "train.look_exposure_match: True -> False" in err


def test_white_balance_augmentation_shifts_the_engine_frames_only(dataset: Path) -> None:
    """--white-balance-aug gives a pair's engine frames (both window frames, both pairs) one red and
    one blue gain in linear light, green unchanged; the target and the crop stay as without it."""
    seqs = [s for s in find_sequences([dataset]) if s.split == "train"]
    cfg = dict(crop=32, batch=1, p_prev_sim=0.0)
    plain = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg)).batch(5, 2)
    aug = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg, white_balance_aug=1.0)).batch(5, 2)
    for k in ("target", "edges", "depth", "normals", "motion", "valid"):
        assert np.array_equal(plain[k], aug[k]), k

    from seqio import srgb_to_linear

    a, b = (srgb_to_linear(x).astype(np.float64) for x in (plain["frames"], aug["frames"]))
    n, c = a.shape[:2]
    a, b = a.reshape(n, c // 3, 3, -1), b.reshape(n, c // 3, 3, -1)
    gains = []
    for ch in range(3):
        ok = (a[:, :, ch] > 0.02) & (b[:, :, ch] < 0.98) & (b[:, :, ch] > 1e-4)
        r = b[:, :, ch][ok] / a[:, :, ch][ok]
        assert np.abs(r / np.median(r) - 1.0).max() < 2e-3, f"one gain per channel (channel {ch})"
        gains.append(float(np.median(r)))
    assert abs(gains[1] - 1.0) < 1e-3, "green is the reference"
    for g in (gains[0], gains[2]):
        assert 2.0 ** -0.4 - 1e-3 <= g <= 2.0 ** 0.4 + 1e-3
    assert max(abs(gains[0] - 1.0), abs(gains[2] - 1.0)) > 1e-3, "the frames were rebalanced"


def test_albedo_augmentation_recolours_frames_and_target_alike(dataset: Path) -> None:
    """--albedo-aug gives a pair's engine frames, previous output and target the same per-channel
    gains in linear light, with a geometric mean of 1 (chroma only); G-buffers and crop unchanged."""
    seqs = [s for s in find_sequences([dataset]) if s.split == "train"]
    cfg = dict(crop=32, batch=1, p_prev_sim=0.0)
    plain = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg)).batch(5, 2)
    aug = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg, albedo_aug=1.0)).batch(5, 2)
    for k in ("edges", "depth", "normals", "motion", "valid"):
        assert np.array_equal(plain[k], aug[k]), k

    from seqio import srgb_to_linear

    gains = np.zeros((3, 3))
    for i, k in enumerate(("frames", "prev", "target")):
        a, b = (srgb_to_linear(x).astype(np.float64) for x in (plain[k], aug[k]))
        n, c = a.shape[:2]
        a, b = a.reshape(n, c // 3, 3, -1), b.reshape(n, c // 3, 3, -1)
        for ch in range(3):
            ok = (a[:, :, ch] > 0.02) & (b[:, :, ch] < 0.98) & (b[:, :, ch] > 1e-4)
            assert ok.sum() > 50, (k, ch)
            r = b[:, :, ch][ok] / a[:, :, ch][ok]
            assert np.abs(r / np.median(r) - 1.0).max() < 2e-3, f"one gain per channel ({k}, channel {ch})"
            gains[i, ch] = np.median(r)
    assert np.abs(gains / gains[0] - 1.0).max() < 2e-3, "the same gains on frames, previous output and target"
    assert abs(np.log2(gains[0]).mean()) < 2e-3, "chroma only: the gains' geometric mean is 1"
    assert np.all(np.abs(np.log2(gains[0])) <= 4.0 / 3.0 + 1e-3)
    assert np.abs(gains[0] - 1.0).max() > 1e-2, "the pair was recoloured"


def test_albedo_augmentation_skips_the_named_weathers(dataset: Path) -> None:
    """--albedo-aug-skip: pairs of a skipped weather are never recoloured (the same batch as without
    the augmentation), the others are."""
    seqs = [s for s in find_sequences([dataset]) if s.split == "train"]
    cfg = dict(crop=32, batch=2, p_prev_sim=0.0)
    plain = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg)).batch(5, 2)
    skipped = tdata.TrainingData(
        seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg, albedo_aug=1.0, albedo_aug_skip=("fog",))
    ).batch(5, 2)
    for k in plain:
        assert np.array_equal(plain[k], skipped[k]), k
    other = tdata.TrainingData(
        seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(**cfg, albedo_aug=1.0, albedo_aug_skip=("snow",))
    ).batch(5, 2)
    assert not np.array_equal(plain["target"], other["target"])


def test_weather_weights_set_how_often_each_weather_is_drawn(dataset: Path) -> None:
    """--weather-weights: a weather weighted 4 gets 4/5 of the draws against one weighted 1; equal
    weights draw as no weights do (the same batches); a weight for a weather not trained is a
    clear error."""
    seqs = [s for s in find_sequences([dataset]) if s.split == "train"]
    ws = ["clear", "fog"]

    def data(weights: tuple[tuple[str, float], ...] = ()) -> tdata.TrainingData:
        return tdata.TrainingData(seqs, ws, prompt_table(ws), tdata.DataConfig(crop=32, batch=2, weather_weights=weights))

    rng = np.random.default_rng(7)
    draws = [data((("fog", 4.0),)).draw_item(rng)[1] for _ in range(4000)]
    share = draws.count("fog") / len(draws)
    assert abs(share - 0.8) < 0.03, share
    plain, even = data().batch(5, 2), data((("fog", 2.0), ("clear", 2.0))).batch(5, 2)
    for k in plain:
        assert np.array_equal(plain[k], even[k]), k
    with pytest.raises(tdata.DataError, match="snow, not among the weathers trained"):
        data((("snow", 2.0),))


def test_a_weather_variant_takes_that_weathers_pairs_only_from_its_variants() -> None:
    """--weather-variant golden_hour=sun8: golden hour's pairs come from the <clip>__sun8 look
    variants alone and those give no other weather's; other look variants and clips keep theirs."""
    from types import SimpleNamespace

    def seq(name: str, targets: tuple[str, ...], look_of: str | None = None) -> SimpleNamespace:
        return SimpleNamespace(root=Path("/d") / name, meta={"look_of": look_of} if look_of else {}, targets=dict.fromkeys(targets, "p"))

    seqs = [
        seq("a", ("clear", "golden_hour")),
        seq("a__look1", ("clear", "golden_hour"), "a"),
        seq("a__sun8", ("golden_hour",), "a"),
        seq("b", ("clear", "golden_hour")),
    ]
    ws = ["clear", "golden_hour"]
    assert tdata.variant_items(seqs, ws, {}) == [(0, "clear"), (0, "golden_hour"), (1, "clear"), (1, "golden_hour"), (2, "golden_hour"), (3, "clear"), (3, "golden_hour")]
    assert tdata.variant_items(seqs, ws, {"golden_hour": "sun8"}) == [(0, "clear"), (1, "clear"), (2, "golden_hour"), (3, "clear")]
    with pytest.raises(tdata.DataError, match="no look variant __sun9 has a golden_hour target"):
        tdata.variant_items(seqs, ws, {"golden_hour": "sun9"})
    assert tdata.parse_weather_variants(" golden_hour=sun8 ,") == {"golden_hour": "sun8"}
    for bad in ("golden_hour", "golden_hour=", "=sun8", "golden_hour=sun8,golden_hour=sun9"):
        with pytest.raises(ValueError):
            tdata.parse_weather_variants(bad)


def test_weather_weights_for_a_weather_the_data_lacks_stop_before_training(dataset: Path, tmp_path: Path, capsys) -> None:
    err = run_train_expect_error(dataset, tmp_path / "w", capsys, "--weather-weights", "golden_hour=3")
    assert "golden_hour, not among the weathers trained" in err
    assert not (tmp_path / "w" / "checkpoints").exists()


def test_flawed_sky_is_not_learned(dataset: Path) -> None:
    """Clips marked camera_sky=full_panorama trust their target only below the sky depth, and the
    paired losses give no gradient on the untrusted pixels."""
    from losses import LossWeights, total_loss, trust_target

    seqs = [s for s in find_sequences([dataset]) if s.split == "train"]
    td = tdata.TrainingData(seqs, ["fog"], prompt_table(["fog"]), tdata.DataConfig(crop=32, batch=2))
    rng = np.random.default_rng(0)
    assert np.all(td._sample(0, 1, "fog", rng)["target_weight"] == 1.0)
    z = seqs[0].load_depth_z(1)
    far = float(np.median(z))
    seqs[0].meta.update(camera_sky="full_panorama", sky_depth=1.9 * far)  # "sky": the median depth and beyond
    w = td._sample(0, 1, "fog", rng)["target_weight"][..., 0]
    assert 0.1 < w.mean() < 0.9
    assert np.array_equal(w == 1.0, z < 0.95 * far)
    b = {k: torch.from_numpy(v) for k, v in td.batch(3, 0).items()}
    assert b["target_weight"].shape == (4, 1, 32, 32)
    raw = torch.rand(4, 3, 32, 32, requires_grad=True)
    b["target"] = trust_target(b["target"], b["target_weight"], raw)
    loss, _ = total_loss(raw, b, 2, LossWeights(temporal=0.0))
    loss.backward()
    g = raw.grad.abs().sum(1, keepdim=True)
    # Away from trusted pixels (beyond twice the SSIM window radius) the paired terms see the
    # prediction itself: no pull at all.
    interior = torch.nn.functional.max_pool2d(b["target_weight"], 15, stride=1, padding=7) == 0
    assert interior.sum() > 20
    assert g[interior].max() < 1e-3 * g[b["target_weight"] == 1].mean()


@pytest.mark.parametrize("arch", sorted(ttrain.ARCHS))
def test_model_size_range_and_dynamic_shapes(arch: str) -> None:
    cfg = StudentConfig(**ttrain.ARCHS[arch])
    m = Student(cfg).eval()
    # the shallow student keeps a quarter of the weights (no levels below quarter resolution)
    lo, hi = (800_000, 1_300_000) if cfg.deep_path else (200_000, 350_000)
    assert lo <= count_parameters(m) <= hi
    for h, w in ((16, 32), (48, 80)):
        inp = example_inputs(cfg, h, w)
        with torch.no_grad():
            y = m(*inp)
        assert y.shape == (1, 3, h, w)
        # A fresh model is the identity on the current frame (residual / transform start at zero).
        assert torch.allclose(y, inp[0][:, 3:6].clamp(0, 1))


def perturbed(cfg: StudentConfig, seed: int) -> Student:
    """A fresh student is the identity; perturbed weights make comparisons between students mean something."""
    torch.manual_seed(seed)
    m = Student(cfg).eval()
    for p in m.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    return m


def test_grid_student_lifted_from_an_affine_one_computes_its_output() -> None:
    flat = perturbed(StudentConfig(**ttrain.ARCHS["affine"]), seed=4)
    grid = perturbed(StudentConfig(**ttrain.ARCHS["affine-grid"]), seed=5)
    grid.load_state_dict(lift_to_grid(flat.state_dict(), grid))
    inp = example_inputs(flat.cfg, 48, 64, n=2, seed=1)
    with torch.no_grad():
        a, b = flat.forward_raw(*inp), grid.forward_raw(*inp)
    assert float((a - b).abs().max()) < 1e-5
    assert float((a - inp[0][:, 3:6]).abs().mean()) > 1e-2  # the perturbed transform is not the identity
    # weights of another shape (a residual-head student's) are refused, not silently dropped
    with pytest.raises(ValueError, match="no place|cannot become"):
        lift_to_grid(Student(StudentConfig(**ttrain.ARCHS["unet"])).state_dict(), grid)


@pytest.mark.parametrize("arch", ["affine-global-sun", "affine-global-light"])
def test_sun_student_lifted_from_one_without_computes_its_output(arch: str) -> None:
    """The sun's weights (FiLM inputs, or the N.sun and N.up planes' stem and guide weights) start
    at zero: whatever sun it is given, the lifted student computes its parent's output; weights of
    another shape are refused."""
    plain = perturbed(StudentConfig(**ttrain.ARCHS["affine-global"]), seed=4)
    sun = perturbed(StudentConfig(**ttrain.ARCHS[arch]), seed=5)
    sun.load_state_dict(lift_sun(plain.state_dict(), sun))
    inp = example_inputs(sun.cfg, 48, 64, n=2, seed=1)
    with torch.no_grad():
        a = plain.forward_raw(*inp[:5], inp[5][:, : plain.cfg.prompt_dim])
        b = sun.forward_raw(*inp)
    assert inp[5].shape[1] == plain.cfg.prompt_dim + sun.cfg.sun_dim
    assert float((a - b).abs().max()) < 1e-5
    # ... and once its sun weights move, the sun it is given changes the output
    other = inp[5].clone()
    other[:, -sun.cfg.sun_dim :] = -other[:, -sun.cfg.sun_dim :]
    with torch.no_grad():
        if sun.cfg.light_planes:
            sun.stem.weight[:, -8:] += 0.5
            sun.guide1.weight[:, -2:] += 0.5
        else:
            sun.film[0].weight[:, -3:] += 0.5
        c, d = sun.forward_raw(*inp), sun.forward_raw(*inp[:5], other)
    assert float((c - d).abs().mean()) > 1e-3
    with pytest.raises(ValueError, match="cannot become|missing"):
        lift_sun(Student(StudentConfig(**ttrain.ARCHS["unet"])).state_dict(), sun)


def test_the_light_gain_is_the_light_weights_scaled() -> None:
    """light_gain k on the N.sun and N.up planes: lifted at zero the student is its parent whatever
    k; with the light weights w it computes what a gain-1 student with weights k w does; it is
    recorded only when not 1, and refused without the planes."""
    cfg = StudentConfig(**ttrain.ARCHS["affine-global-light"])
    plain = perturbed(StudentConfig(**ttrain.ARCHS["affine-global"]), seed=4)
    one = perturbed(cfg, seed=5)
    ten = perturbed(replace(cfg, light_gain=10.0), seed=5)
    for m in (one, ten):
        m.load_state_dict(lift_sun(plain.state_dict(), m))
    inp = example_inputs(cfg, 48, 64, n=2, seed=1)
    with torch.no_grad():
        assert float((ten.forward_raw(*inp) - one.forward_raw(*inp)).abs().max()) < 1e-6
        ten.stem.weight[:, -8:] += 0.05
        ten.guide1.weight[:, -2:] += 0.05
        one.stem.weight[:, -8:] += 0.5
        one.guide1.weight[:, -2:] += 0.5
        a, b = ten.forward_raw(*inp), one.forward_raw(*inp)
        assert float((a - plain.forward_raw(*inp[:5], inp[5][:, : plain.cfg.prompt_dim])).abs().mean()) > 1e-3
        assert float((a - b).abs().max()) < 1e-4
    assert "light_gain" not in cfg.to_dict() and StudentConfig.from_dict(ten.cfg.to_dict()).light_gain == 10.0
    with pytest.raises(ValueError, match="light_gain"):
        StudentConfig(**ttrain.ARCHS["affine-global"], light_gain=10.0)


def add_sun(seq_dir: Path, toward: list[float], turn_deg: float) -> np.ndarray:
    """Give a synthetic clip a recorded sun and cameras turning `turn_deg` a frame about the up
    axis; returns each frame's sun in view space as the turning camera sees it."""
    d = json.loads((seq_dir / "sequence.json").read_text())
    d["meta"]["sun"] = {"engine": toward}
    (seq_dir / "sequence.json").write_text(json.dumps(d))
    mats, want = [], []
    for f in range(d["frame_count"]):
        a = np.radians(turn_deg * f)
        # camera x and y axes in world: a camera looking along world -z turned about z
        r = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
        m = np.eye(4)
        m[:3, :3] = r
        mats.append(m.tolist())
        want.append(r.T @ np.asarray(toward))
    (seq_dir / "render_info.json").write_text(json.dumps({"matrices": mats}))
    return np.asarray(want, np.float32)


def test_sun_input_rides_with_the_prompt(tmp_path: Path) -> None:
    """--arch affine-global-sun: each half of a pair carries its own frame's view-space sun after
    the prompt embedding (mirrored crops mirror its x); a clip without a recorded sun is a clear
    error naming describe.py; an engine-look variant uses its clip's cameras."""
    d = tmp_path / "d"
    write_synthetic_sequence(d / "train_a", frames=5, cut=None, weathers=("clear",), split="train", seed=1)
    want = add_sun(d / "train_a", [0.6, 0.0, 0.8], 20.0)
    seq = load_sequence(d / "train_a")
    np.testing.assert_allclose(sun_views(seq), want, atol=1e-6)
    ws = ["clear"]
    td = tdata.TrainingData([seq], ws, prompt_table(ws), tdata.DataConfig(crop=32, batch=4, sun_input=3, p_prev_sim=0.0))
    b = td.batch(3, 1)
    plain = tdata.TrainingData([seq], ws, prompt_table(ws), tdata.DataConfig(crop=32, batch=4, p_prev_sim=0.0)).batch(3, 1)
    dim = plain["prompt"].shape[1]
    assert b["prompt"].shape == (8, dim + 3)
    np.testing.assert_array_equal(b["prompt"][:, :dim], plain["prompt"])
    suns = b["prompt"][:, dim:]
    for row in suns:
        # each row is one frame's sun, its x mirrored or not
        match = [np.abs(row * [s, 1, 1] - w).max() for w in want for s in (1.0, -1.0)]
        assert min(match) < 1e-5, row
    assert not np.allclose(suns[:4], suns[4:]), "frame t-1 and frame t see the sun turned"
    # sun_input 6: the world's up direction follows (a turn about it leaves it the view's up here)
    b6 = tdata.TrainingData([seq], ws, prompt_table(ws), tdata.DataConfig(crop=32, batch=4, sun_input=6, p_prev_sim=0.0)).batch(3, 1)
    np.testing.assert_array_equal(b6["prompt"][:, : dim + 3], b["prompt"])
    np.testing.assert_allclose(b6["prompt"][:, dim + 3 :], np.tile([0.0, 0.0, 1.0], (8, 1)), atol=1e-6)
    # an engine-look variant: its own folder has no cameras, its clip's are used
    write_synthetic_sequence(d / "train_a__look1", frames=5, cut=None, weathers=("clear",), split="train", seed=2)
    v = json.loads((d / "train_a__look1" / "sequence.json").read_text())
    v["meta"].update(look_of="train_a", sun={"engine": [0.6, 0.0, 0.8]})
    (d / "train_a__look1" / "sequence.json").write_text(json.dumps(v))
    np.testing.assert_allclose(sun_views(load_sequence(d / "train_a__look1")), want, atol=1e-6)
    write_synthetic_sequence(d / "train_b", frames=3, cut=None, weathers=("clear",), split="train", seed=3)
    with pytest.raises(DataError, match="describe.py"):
        tdata.TrainingData([load_sequence(d / "train_b")], ws, prompt_table(ws), tdata.DataConfig(crop=32, batch=2, sun_input=3))


def sun_clips(d: Path) -> Path:
    """Two small synthetic training clips with a recorded sun and turning cameras, in `d`."""
    for name in ("train_a", "train_b"):
        write_synthetic_sequence(d / name, frames=4, cut=None, weathers=("clear", "fog"), split="train", seed=len(name))
        add_sun(d / name, [0.0, -0.6, 0.8], 5.0)
    return d


def test_a_sun_student_is_not_exported(dataset: Path, tmp_path: Path, capsys) -> None:
    d = sun_clips(tmp_path / "d")
    work = tmp_path / "w"
    assert ttrain.main(smoke_args(d, work, "--arch", "affine-global-sun", "--steps", "2")) == 0
    assert texport.main(["--workdir", str(work), "--out", str(tmp_path / "pkg")]) == 2
    assert "FiLM layers only" in capsys.readouterr().err


def test_a_light_student_exports_with_a_light_input(dataset: Path, tmp_path: Path) -> None:
    """--arch affine-global-light exports: the graph takes `light` ([1, 6], sun then up) beside the
    prompt, the manifest gives it the role `light`, and the graph with the light as its own input
    computes what the student computes with it on the prompt's tail."""
    import onnxruntime as ort

    d = sun_clips(tmp_path / "d")
    work = tmp_path / "w"
    assert ttrain.main(smoke_args(d, work, "--arch", "affine-global-light", "--light-gain", "10", "--steps", "2")) == 0
    pkg = tmp_path / "pkg"
    assert texport.main(["--workdir", str(work), "--out", str(pkg)]) == 0
    m = json.loads((pkg / "manifest.json").read_text())
    assert m["inputs"][-1] == {"name": "light", "role": "light"}
    assert "prev" not in [i["name"] for i in m["inputs"]]
    assert validate_package(pkg) == []
    model, _ = texport.load_student(work, None)
    # perturb nothing: two steps from zero light weights; make the planes matter for the check
    with torch.no_grad():
        model.stem.weight.add_(0.05 * torch.randn_like(model.stem.weight))
    sess_path = tmp_path / "m.onnx"
    texport.export_onnx(model, sess_path)
    sess = ort.InferenceSession(str(sess_path), providers=["CPUExecutionProvider"])
    inp = example_inputs(model.cfg, 32, 48, seed=5)
    names = [i.name for i in sess.get_inputs()]
    assert names == ["frames", "edges", "depth", "normals", "prompt", "light"]
    feed = dict(zip(names, [t.numpy() for t in inp[:4]] + [inp[5][:, :-6].numpy(), inp[5][:, -6:].numpy()]))
    with torch.no_grad():
        want = model(*inp).numpy()
    got = sess.run(None, feed)[0]
    assert np.abs(got - want).max() < 1e-4
    # the light matters: another sun, another output
    feed["light"] = np.array([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]], np.float32)
    assert np.abs(sess.run(None, feed)[0] - got).max() > 1e-4


def test_a_light_student_with_a_gain_starts_from_a_global_package(dataset: Path, tmp_path: Path) -> None:
    """--arch affine-global-light --light-gain 10 --init-from an affine-global package: it trains
    (the package's weights read through a student without the planes, then lifted) and records its
    gain; its first step's loss is the package's own (the planes' weights start at zero)."""
    d = sun_clips(tmp_path / "d")
    base = tmp_path / "base"
    assert ttrain.main(smoke_args(d, base, "--arch", "affine-global", "--steps", "2")) == 0
    pkg = tmp_path / "pkg"
    assert texport.main(["--workdir", str(base), "--out", str(pkg)]) == 0
    first = {}
    for arch, extra in (("affine-global", []), ("affine-global-light", ["--light-gain", "10"])):
        work = tmp_path / arch
        assert ttrain.main(smoke_args(d, work, "--arch", arch, "--init-from", str(pkg), "--steps", "1", *extra)) == 0
        first[arch] = json.loads((work / "log.jsonl").read_text().splitlines()[0])["total"]
    assert json.loads((tmp_path / "affine-global-light" / "run.json").read_text())["model"]["light_gain"] == 10.0
    assert abs(first["affine-global-light"] - first["affine-global"]) < 1e-4 * first["affine-global"]


def test_global_student_lifted_from_an_affine_one_computes_its_output() -> None:
    """The global path starts at zero (the lifted student is the affine one); once trained, a
    change far away in the frame changes the output everywhere, which the convolutions alone
    cannot do beyond their reach."""
    flat = perturbed(StudentConfig(**ttrain.ARCHS["affine"]), seed=7)
    glob = Student(StudentConfig(**ttrain.ARCHS["affine-global"])).eval()
    glob.load_state_dict(lift_to_grid(flat.state_dict(), glob))
    inp = example_inputs(flat.cfg, 64, 256, n=1, seed=2)
    with torch.no_grad():
        assert float((flat.forward_raw(*inp) - glob.forward_raw(*inp)).abs().max()) < 1e-5
        glob.glob2.weight.add_(0.2 * torch.randn_like(glob.glob2.weight))
        far = [t.clone() for t in inp]
        far[0][..., 192:] = 1.0 - far[0][..., 192:]  # the frames' right quarter only
        near_flat = (flat.forward_raw(*far) - flat.forward_raw(*inp))[..., :48].abs().max()
        near_glob = (glob.forward_raw(*far) - glob.forward_raw(*inp))[..., :48].abs().max()
    assert float(near_flat) == 0.0  # beyond the convolutions' reach
    assert float(near_glob) > 1e-4


def test_a_dead_deep_path_is_seen_and_revived_without_changing_the_output() -> None:
    """A deep path whose up1 outputs are all far below zero adds nothing and gets no gradient (the
    shipped 0.6.0 and 0.7.0 students'); watch_deep_path sees it, reinit_deep_path revives it with
    the output unchanged, and gradients reach it again."""
    m = perturbed(StudentConfig(**ttrain.ARCHS["affine"]), seed=8)
    seen = watch_deep_path(m)
    inp = example_inputs(m.cfg, 48, 64, n=2, seed=3)
    with torch.no_grad():
        m.forward_raw(*inp)
        assert seen["alive"] > 0.5  # a healthy path
        m.up1.bias.fill_(-1000.0)
        before = m.forward_raw(*inp)
    assert seen["alive"] == 0.0
    m.forward_raw(*inp).square().mean().backward()
    assert float(m.up1.weight.grad.abs().max()) == 0.0  # dead: no gradient
    m.zero_grad()
    reinit_deep_path(m, seed=1)
    out = m.forward_raw(*inp)
    assert seen["alive"] == 1.0
    assert torch.equal(out.detach(), before)
    out.square().mean().backward()
    assert float(m.up1.weight.grad.abs().max()) > 0.0


def test_a_dead_deep_path_is_pruned_exactly_and_a_live_one_is_refused() -> None:
    """Without its dead deep path a student computes the same output with a quarter of the
    parameters; check_pruning refuses a student whose deep path is alive."""
    full = perturbed(StudentConfig(**ttrain.ARCHS["affine"]), seed=9)
    shallow = Student(StudentConfig(**ttrain.ARCHS["affine-shallow"])).eval()
    inp = example_inputs(full.cfg, 48, 64, n=2, seed=4)
    batch = dict(zip(ttrain.MODEL_INPUTS, inp))
    shallow.load_state_dict(prune_deep_path(full.state_dict(), shallow))
    with pytest.raises(ttrain.DataError, match="live deep path"):
        ttrain.check_pruning(full, shallow, batch)
    with torch.no_grad():
        full.up1.bias.fill_(-1000.0)  # dead, as in the shipped 0.6.0 and 0.7.0
    shallow.load_state_dict(prune_deep_path(full.state_dict(), shallow))
    ttrain.check_pruning(full, shallow, batch)
    with torch.no_grad():
        assert torch.equal(full.forward_raw(*inp), shallow.forward_raw(*inp))
    assert count_parameters(shallow) < 0.3 * count_parameters(full)
    with pytest.raises(ValueError, match="deep_path=False"):
        prune_deep_path(full.state_dict(), full)


def test_grid_slicing_interpolates_between_the_bins_around_each_pixel() -> None:
    """Bin k offsets every channel by k: a pixel's offset is then its own slicing coordinate, read
    per full-resolution pixel (two pixels of one quarter-resolution cell get different transforms)."""
    grid = perturbed(StudentConfig(**ttrain.ARCHS["affine-grid"]), seed=6)
    n_bins = grid.cfg.grid_bins
    coeffs = torch.zeros(2, 12 * n_bins, 16, 24)
    for k in range(n_bins):
        coeffs[:, 12 * k + 9 : 12 * k + 12] = float(k)
    full = torch.randn(2, grid.cfg.in_channels, 16, 24)
    current = torch.rand(2, 3, 16, 24)
    with torch.no_grad():
        c = grid._slice(coeffs, current, full)
        z = grid.slice_coordinate(current, full) * (n_bins - 1)
        luma = 0.2126 * current[:, 0:1] + 0.7152 * current[:, 1:2] + 0.0722 * current[:, 2:3]
        fresh = Student(grid.cfg)  # before training the coordinate is the frame's luma
        assert torch.allclose(fresh.slice_coordinate(current, full), luma)
    assert c.shape == (2, 12, 16, 24)
    assert float(c[:, :9].abs().max()) == 0.0
    assert torch.allclose(c[:, 9:12], z.expand(-1, 3, -1, -1), atol=1e-5)
    assert float(z.std()) > 0.05  # the coordinate varies from pixel to pixel


def test_students_without_prev_ignore_it() -> None:
    """Without the feedback input, the output cannot depend on the previous output (no drift loop)."""
    torch.manual_seed(3)
    for arch in ("unet", "affine", "affine-grid"):
        m = Student(StudentConfig(**ttrain.ARCHS[arch])).eval()
        for p in m.parameters():  # a fresh model is the identity; perturb it so the check means something
            p.data.add_(0.05 * torch.randn_like(p))
        inp = list(example_inputs(m.cfg, 32, 48))
        with torch.no_grad():
            a = m(*inp)
            inp[4] = torch.rand_like(inp[4])
            b = m(*inp)
        assert torch.equal(a, b)
    m = Student(StudentConfig(**ttrain.ARCHS["unet-prev"])).eval()
    for p in m.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    inp = list(example_inputs(m.cfg, 32, 48))
    with torch.no_grad():
        a = m(*inp)
        inp[4] = torch.rand_like(inp[4])
        assert not torch.equal(a, m(*inp))


def test_prompt_bank_matches_prompts_json() -> None:
    weathers, default, checks = load_prompts()
    assert set(weathers) == {"clear", "rain", "fog", "snow", "night", "golden_hour"} and default in weathers
    bank = load_bank()
    for t in all_texts(weathers) + list(checks):
        assert t in bank, f"{t!r} missing from {BANK_PATH}: run make_text_encoder.py --write-bank"
        assert abs(float(np.linalg.norm(bank[t])) - 1.0) < 1e-4
    # Free-text prompts land on the expected preset.
    names = list(weathers)
    mat = np.stack([bank[weathers[n].prompt] for n in names])
    for text, want in checks.items():
        assert names[int(np.argmax(mat @ bank[text]))] == want, text


def test_wordpiece_fixture_is_consistent_with_vocab() -> None:
    fx = json.loads((ROOT / "tests" / "fixtures" / "wordpiece_cases.json").read_text())
    from make_text_encoder import package_info
    from package import sha256_file

    vocab_path = package_info()[0] / "vocab.txt"
    assert sha256_file(vocab_path) == fx["vocab_sha256"]
    vocab = {tok: i for i, tok in enumerate(vocab_path.read_text().split("\n"))}
    assert len(fx["cases"]) >= 15
    for c in fx["cases"]:
        assert c["ids"] == [vocab[t] for t in c["tokens"]], c["text"]
        assert c["ids"][0] == 101 and c["ids"][-1] == 102
        assert len(c["ids_max_tokens"]) <= fx["max_tokens"] and c["ids_max_tokens"][-1] == 102
    assert any(len(c["ids"]) > fx["max_tokens"] for c in fx["cases"])


def test_text_encoder_export() -> None:
    """The shipped package's text encoder, exported by make_text_encoder.py during setup (exporting
    it again here would cost another minute): files match the lock, ONNX Runtime agrees with the
    PyTorch encoder, and the tokenizer matches the WordPiece fixture the Rust tokenizer is tested on."""
    import onnxruntime as ort

    import make_text_encoder as mte

    pkg = ROOT / "models" / "realmaster-student"
    assert (pkg / "text_encoder.onnx").is_file(), "text encoder not generated: run `make text-encoder` (setup does)"
    assert mte.lock_matches(pkg)
    lock = json.loads((pkg / "generated.lock.json").read_text())
    assert lock["check"]["max_abs_diff_onnx_vs_torch"] < 1e-4
    loaded = mte.load_minilm()
    tok, _ = loaded
    texts = ["foggy morning", "heavy rain, wet streets", "a snowy winter street at night"]
    sess = ort.InferenceSession(str(pkg / "text_encoder.onnx"), providers=["CPUExecutionProvider"])
    diff = np.abs(mte.onnx_embed(sess, tok, texts) - mte.embed_texts(texts, loaded=loaded)).max()
    assert diff < 1e-4, diff
    fx = json.loads((ROOT / "tests" / "fixtures" / "wordpiece_cases.json").read_text())
    for c in fx["cases"]:
        assert tok(c["text"])["input_ids"] == c["ids"]


def test_a_resume_with_another_deep_path_setting_is_refused(tmp_path: Path) -> None:
    old = {"train": {"steps": 10}, "model": {"head": "affine"}, "weathers": ["clear"], "sequences": ["a"],
           "reinit_deep": True, "kept_lr_scale": 0.25}
    ttrain.check_resumable(old, dict(old), tmp_path)
    with pytest.raises(ttrain.DataError, match="kept_lr_scale"):
        ttrain.check_resumable(old, {**old, "kept_lr_scale": 0.5}, tmp_path)
    plain = {k: v for k, v in old.items() if k not in ("reinit_deep", "kept_lr_scale")}
    with pytest.raises(ttrain.DataError, match="reinit_deep"):
        ttrain.check_resumable(old, plain, tmp_path)


def test_a_resume_from_other_weights_is_refused(tmp_path: Path) -> None:
    old = {"train": {"steps": 10}, "model": {"head": "affine"}, "weathers": ["clear"], "sequences": ["a"],
           "init_from": str(tmp_path / "pkg")}
    ttrain.check_resumable(old, dict(old), tmp_path)
    # the same package named another way is the same start
    ttrain.check_resumable(old, {**old, "init_from": str(tmp_path / "x" / ".." / "pkg")}, tmp_path)
    with pytest.raises(ttrain.DataError, match="init_from"):
        ttrain.check_resumable(old, {**old, "init_from": str(tmp_path / "other")}, tmp_path)
    with pytest.raises(ttrain.DataError, match="init_from"):
        ttrain.check_resumable(old, {k: v for k, v in old.items() if k != "init_from"}, tmp_path)
