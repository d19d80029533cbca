"""Runs make_test_models.py and checks every package with onnxruntime against numpy references."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_test_models as mtm  # noqa: E402

H, W = 8, 12


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    subprocess.run([sys.executable, str(HERE / "make_test_models.py"), "--out", str(out)], check=True)
    assert (out / "COMPLETE").exists()
    return out


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def feeds(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = mtm.WINDOW
    prompt = np.zeros((1, mtm.PROMPT_DIM), np.float32)
    prompt[0, :3] = [0.2, -0.4, 0.6]
    return {
        "frames": rng.random((1, 3 * t, H, W), dtype=np.float32),
        "edges": np.zeros((1, t, H, W), np.float32),
        "depth": np.full((1, 1, H, W), 0.5, np.float32),
        "normals": np.zeros((1, 3, H, W), np.float32),
        "prev": rng.random((1, 3, H, W), dtype=np.float32),
        "prompt": prompt,
    }


def current(f: dict[str, np.ndarray]) -> np.ndarray:
    return f["frames"][:, 3 * (mtm.WINDOW - 1):]


def run_student(pkg: Path, f: dict[str, np.ndarray]) -> np.ndarray:
    s = session(pkg / "model.onnx")
    return s.run(["rgb"], {i.name: f[i.name] for i in s.get_inputs()})[0]


@pytest.mark.parametrize("name", ["identity", "blur", "colormap", "prompt_tint", "prompt_pooled",
                                  "diffusion_ideal", "diffusion_drift"])
def test_manifest_hashes_match(out: Path, name: str) -> None:
    pkg = out / name
    manifest = json.loads((pkg / "manifest.json").read_text())
    assert manifest["format"] == "realmaster-model" and manifest["version"] == 1
    for file, sha in manifest["files"].items():
        assert hashlib.sha256((pkg / file).read_bytes()).hexdigest() == sha, file
    lock = pkg / "generated.lock.json"
    if lock.exists():
        for file, sha in json.loads(lock.read_text())["files"].items():
            assert hashlib.sha256((pkg / file).read_bytes()).hexdigest() == sha, file


def test_identity(out: Path) -> None:
    f = feeds(1)
    np.testing.assert_array_equal(run_student(out / "identity", f), current(f))


def test_blur(out: Path) -> None:
    f = feeds(2)
    padded = np.pad(current(f), ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    want = sum(padded[:, :, dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3)) / 9.0
    np.testing.assert_allclose(run_student(out / "blur", f), want, atol=1e-6)


def test_colormap(out: Path) -> None:
    f = feeds(3)
    m = np.asarray(mtm.COLOR_MATRIX, np.float32)
    want = np.einsum("oc,nchw->nohw", m, current(f)) + np.asarray(mtm.COLOR_BIAS, np.float32)[None, :, None, None]
    np.testing.assert_allclose(run_student(out / "colormap", f), np.clip(want, 0, 1), atol=1e-6)


def test_prompt_tint(out: Path) -> None:
    f = feeds(4)
    want = current(f) + 0.5 * f["prompt"][0, :3][None, :, None, None]
    np.testing.assert_allclose(run_student(out / "prompt_tint", f), want, atol=1e-6)


def test_text_encoders_agree_with_the_formula(out: Path) -> None:
    ids = np.array([[2, 12, 23, 7, 3] + [0] * 11], np.int64)
    mask = (np.arange(16) < 5).astype(np.int64)[None]
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    table = mtm.embedding_table(len(mtm.VOCAB), mtm.PROMPT_DIM)
    want = table[ids[0, :5]].mean(axis=0)
    states = session(out / "prompt_tint" / "text_encoder.onnx").run(None, inputs)[0]
    assert states.shape == (1, 16, mtm.PROMPT_DIM)
    np.testing.assert_allclose(states[0, :5].mean(axis=0), want, atol=1e-6)
    pooled = session(out / "prompt_pooled" / "text_encoder.onnx").run(None, inputs)[0]
    np.testing.assert_allclose(pooled[0], want, atol=1e-6)
    vocab = (out / "prompt_tint" / "vocab.txt").read_text().splitlines()
    assert vocab[:4] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def test_diffusion_ideal_sampler_reconstructs_the_frame(out: Path) -> None:
    pkg = out / "diffusion_ideal"
    manifest = json.loads((pkg / "manifest.json").read_text())
    shift = manifest["diffusion"]["shift"]
    sigmas = [shift * s / (1 + (shift - 1) * s) for s in manifest["diffusion"]["sigmas"]] + [0.0]
    f = feeds(5)
    cond = session(pkg / "vae_encoder.onnx").run(None, {"frames": f["frames"]})[0]
    x = np.random.default_rng(0).standard_normal(cond.shape).astype(np.float32) * sigmas[0]
    den = session(pkg / "denoiser.onnx")
    for k in range(len(sigmas) - 1):
        v = den.run(None, {"x": x, "sigma": np.array([sigmas[k]], np.float32), "cond": cond, "prompt": f["prompt"]})[0]
        x = x + (sigmas[k + 1] - sigmas[k]) * v
    rgb = session(pkg / "vae_decoder.onnx").run(None, {"latents": x})[0]
    np.testing.assert_allclose(rgb, current(f), atol=1e-5)


def test_bad_variants_have_their_defect(out: Path) -> None:
    bad = out / "bad"
    m = json.loads((bad / "bad_sha" / "manifest.json").read_text())
    assert hashlib.sha256((bad / "bad_sha" / "model.onnx").read_bytes()).hexdigest() != m["files"]["model.onnx"]
    assert "normals" not in {i.name for i in session(bad / "missing_input" / "model.onnx").get_inputs()}
    assert "albedo" in {i.name for i in session(bad / "extra_input" / "model.onnx").get_inputs()}
    frames = [i for i in session(bad / "wrong_dims" / "model.onnx").get_inputs() if i.name == "frames"][0]
    assert frames.shape[1] == 9
    with pytest.raises(Exception):
        session(bad / "truncated" / "model.onnx")
    m = json.loads((bad / "truncated" / "manifest.json").read_text())
    assert hashlib.sha256((bad / "truncated" / "model.onnx").read_bytes()).hexdigest() == m["files"]["model.onnx"]
    roles = [i["role"] for i in json.loads((bad / "unknown_role" / "manifest.json").read_text())["inputs"]]
    assert "albedo" in roles


def test_deterministic_output(tmp_path: Path, out: Path) -> None:
    mtm.main(["--out", str(tmp_path)])
    for name in ["identity", "blur", "prompt_tint", "diffusion_drift"]:
        a = json.loads((out / name / "manifest.json").read_text())["files"]
        b = json.loads((tmp_path / name / "manifest.json").read_text())["files"]
        assert a == b, name
