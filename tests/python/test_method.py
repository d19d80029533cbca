"""The RealMaster method toolkit (models/method) end to end on tiny random models built from configs.

anchors (Qwen-Image-Edit) -> propagate (WanVACE, edge maps, Ray local) -> train-iclora (peft LoRA on
Wan) -> distill-steps (progressive, K = 2) -> export (kind: diffusion package, ONNX parity) ->
`realmaster render` twice (byte-identical) -> distill-student. The tiny models are fixtures, not
models. Nothing downloads. Runs on CPU with one torch thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

from models.method import cli, common, iclora, tiny, wan  # noqa: E402

CLIP = ROOT / "samples" / "city_pan"
SIZE = "64x32"
K = 2


def method(*argv: str) -> None:
    assert cli.main([str(a) for a in argv]) == 0, argv


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    w = tmp_path_factory.mktemp("method")
    p = {k: w / k for k in ("tiny", "anchors", "prop", "lora", "dist", "pkg", "student")}
    method("make-tiny", "--out", p["tiny"])
    common_args = ["--threads", "1", "--device", "cpu"]
    method("anchors", CLIP, "--out", p["anchors"], "--editor", p["tiny"] / "image_edit", "--frames", 5, "--size", SIZE,
           "--steps", 2, "--cfg", 1, "--condition-pixels", 4096, "--dtype", "fp32", "--ray-address", "local",
           *common_args)
    method("propagate", "--anchors", p["anchors"], "--out", p["prop"], "--vace", p["tiny"] / "wan_vace", "--steps", 2,
           "--cfg", 1, "--max-text-tokens", 16, "--dtype", "fp32", "--ray-address", "local", *common_args)
    method("train-iclora", "--base", p["tiny"] / "wan", "--data", p["prop"] / "city_pan", "--out", p["lora"],
           "--window", 5, "--rank", 4, "--lr", 3e-3, "--steps", 6, "--checkpoint-every", 3, "--max-text-tokens", 16,
           *common_args)
    method("distill-steps", "--base", p["tiny"] / "wan", "--lora", p["lora"] / "lora", "--data", p["prop"] / "city_pan",
           "--out", p["dist"], "--k", K, "--teacher-steps", 4 * K, "--iters-per-round", 4, "--rank", 4, "--lr", 1e-3,
           *common_args)
    method("export", "--distilled", p["dist"], "--out", p["pkg"], "--size", SIZE, "--clip", CLIP,
           "--name", "tiny-test-fixture", *common_args)
    method("distill-student", CLIP, "--package", p["pkg"], "--out", p["student"], "--frames", 3, "--threads", 1)
    try:
        import ray

        ray.shutdown()
    except ImportError:
        pass
    return p


def test_anchors_and_propagate_write_records_and_paired_clip(chain: dict[str, Path]) -> None:
    rec = json.loads((chain["anchors"] / "city_pan" / "anchors.json").read_text())
    assert rec["frames"] == [0, 1, 2, 3, 4] and rec["weathers"]["rain"]["prompt"]
    assert set(rec["weathers"]["rain"]["seeds"]) == {"first", "last"}
    import seqio

    seq = seqio.load_sequence(chain["prop"] / "city_pan")
    assert (seq.width, seq.height, seq.frame_count) == (64, 32, 5) and "rain" in seq.targets
    assert seq.load_target_u8("rain", 4).shape == (32, 64, 3)
    # a rerun skips finished clips (resume)
    method("anchors", CLIP, "--out", chain["anchors"], "--editor", chain["tiny"] / "image_edit", "--frames", 5,
           "--size", SIZE, "--dtype", "fp32", "--device", "cpu")
    runs = json.loads((chain["anchors"] / "run.json").read_text())["runs"]
    assert runs[-1]["results"][0]["skipped"] is True


def test_control_video_keeps_anchors_and_uses_runtime_edges(chain: dict[str, Path]) -> None:
    import imgops
    from models.method.propagate import control_video

    clip = common.load_clip(CLIP, 5, (64, 32))
    first = np.zeros((32, 64, 3), np.uint8)
    last = np.full((32, 64, 3), 255, np.uint8)
    video, mask = control_video(clip, first, last)
    assert np.asarray(mask[0]).max() == 0 and np.asarray(mask[4]).max() == 0 and np.asarray(mask[2]).min() == 255
    assert np.array_equal(np.asarray(video[0]), first) and np.array_equal(np.asarray(video[4]), last)
    assert clip.edges[2].sum() > 0
    # the edge maps are models/training/imgops.edge_map (the runtime's recipe) on the resized frame
    import seqio

    seq = seqio.load_sequence(CLIP)
    ref = imgops.edge_map(clip.color[2].astype(np.float32) / 255.0,
                          common._resize(seq.load_depth_z(2), (64, 32), nearest=True),
                          common._resize(seq.load_normals(2), (64, 32), nearest=True))
    assert np.array_equal(np.asarray(video[2])[..., 0] > 127, ref > 0.5)


def _tiny_den(rank: int = 4) -> tuple[wan.ICDenoiser, torch.nn.Module]:
    tr = tiny.wan_transformer(1)
    model = wan.add_lora(tr, rank)
    text = torch.randn(1, 8, tiny.TEXT_DIM, generator=torch.Generator().manual_seed(0))
    return wan.ICDenoiser(model, text), model


def _windows() -> iclora.Windows:
    g = torch.Generator().manual_seed(1)
    return iclora.Windows(torch.randn(2, tiny.Z_DIM, 2, 4, 8, generator=g), torch.randn(2, tiny.Z_DIM, 2, 4, 8, generator=g))


def test_in_context_tokens_present_and_unnoised() -> None:
    den, _ = _tiny_den()
    data = _windows()
    batch = iclora.flow_batch(data, torch.tensor([0]), torch.Generator().manual_seed(3), 3.0, sigma=0.5)
    den.record = True
    with torch.no_grad():
        v = den(batch["x"], batch["sigma"], batch["cond"])
    seen = den.last_inputs
    f = batch["x"].shape[2]
    assert v.shape == batch["x"].shape
    assert torch.equal(seen["hidden_states"][:, :, :f], data.ctx[:1])  # clean engine latents, first
    assert torch.equal(seen["hidden_states"][:, :, f:], batch["x"])  # then the noisy targets
    assert not torch.allclose(batch["x"], data.tgt[:1])
    n = den.tokens(batch["x"])
    assert seen["timestep"].shape == (1, 2 * n)
    assert torch.all(seen["timestep"][:, :n] == 0)
    assert torch.allclose(seen["timestep"][:, n:], batch["sigma"] * 1000)


def test_only_lora_changes_and_loss_falls_on_fixed_batch() -> None:
    den, model = _tiny_den()
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    trainable = [k for k, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in k for k in trainable)
    batch = iclora.flow_batch(_windows(), torch.tensor([0, 1]), torch.Generator().manual_seed(5), 3.0)
    opt = torch.optim.AdamW([p for p in den.parameters() if p.requires_grad], lr=3e-2)
    losses = []
    for _ in range(30):
        loss = iclora.flow_loss(den, batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0], losses
    for k, p in model.named_parameters():
        if "lora_" not in k:
            assert torch.equal(before[k], p.detach()), f"base weight {k} changed"
    assert any(not torch.equal(before[k], p.detach()) for k, p in model.named_parameters() if "lora_B" in k)


def test_train_iclora_checkpoints_and_resumes(chain: dict[str, Path]) -> None:
    train = json.loads((chain["lora"] / "train.json").read_text())
    assert len(train["losses"]) == 6 and train["rank"] == 4
    assert (chain["lora"] / "checkpoints" / "step-3" / "state.pt").exists()
    out = chain["lora"].parent / "lora_resume"
    import shutil

    shutil.copytree(chain["lora"] / "checkpoints", out / "checkpoints")
    shutil.rmtree(out / "checkpoints" / "step-6")
    method("train-iclora", "--base", chain["tiny"] / "wan", "--data", chain["prop"] / "city_pan", "--out", out,
           "--window", 5, "--rank", 4, "--lr", 3e-3, "--steps", 6, "--checkpoint-every", 3, "--max-text-tokens", 16,
           "--threads", 1, "--device", "cpu")
    resumed = json.loads((out / "train.json").read_text())
    assert len(resumed["losses"]) == 3  # steps 4..6 only
    assert np.allclose(resumed["losses"], train["losses"][3:], rtol=1e-4, atol=1e-6)


def test_distill_steps_reaches_k(chain: dict[str, Path]) -> None:
    s = json.loads((chain["dist"] / "schedule.json").read_text())
    assert s["k"] == K and len(s["sigmas"]) == K and [r["student_steps"] for r in s["rounds"]] == [2 * K, K]
    assert wan.sigma_grid(K, s["shift"])[:-1] == pytest.approx([wan.shift_sigma(x, s["shift"]) for x in s["sigmas"]])


def test_export_parity_and_manifest(chain: dict[str, Path]) -> None:
    par = json.loads((chain["pkg"] / "parity.json").read_text())
    assert all(v < 1e-3 for v in par["max_abs_diff"].values()), par
    assert len(par["sigmas"]) == K + 1
    man = json.loads((chain["pkg"] / "manifest.json").read_text())
    assert man["kind"] == "diffusion" and man["description"].startswith("TEST FIXTURE")
    assert len(man["diffusion"]["sigmas"]) == K
    for f, h in man["files"].items():
        assert common.sha256_file(chain["pkg"] / f) == h


def test_runtime_noise_is_the_runtimes() -> None:
    # First values of diffusion.rs gaussian_noise(0, ..): same algorithm, checked for stability.
    a = wan.runtime_noise(7, 20001)
    assert np.array_equal(a, wan.runtime_noise(7, 20001)) and abs(a.mean()) < 0.03 and abs(a.var() - 1) < 0.05


def _binary() -> Path | None:
    if os.environ.get("REALMASTER_BIN"):  # a realmaster built elsewhere (e.g. another CARGO_TARGET_DIR)
        return Path(os.environ["REALMASTER_BIN"])
    cands = [ROOT / "target" / d / "realmaster" for d in ("debug", "release")]
    cands = [c for c in cands if c.exists()]
    return max(cands, key=lambda c: c.stat().st_mtime) if cands else None


def _runtime() -> tuple[Path, dict[str, str]]:
    """The realmaster binary and an environment that points it at the venv's ONNX Runtime."""
    exe = _binary()
    if exe is None:
        pytest.skip("realmaster is not built (cargo build -p realmaster-cli)")
    env = dict(os.environ)
    libs = sorted((ROOT / ".venv").glob("lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*"))
    if libs:
        env.setdefault("REALMASTER_ORT_LIB", str(libs[0]))
    return exe, env


def test_runtime_renders_package_deterministically(chain: dict[str, Path], tmp_path: Path) -> None:
    exe, env = _runtime()
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}"
        r = subprocess.run([str(exe), "render", str(CLIP), "--model", str(chain["pkg"]), "--out", str(out),
                            "--frames", "3", "--no-video", "--ep", "cpu"], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        assert "3 enhanced" in r.stderr + r.stdout
        outs.append(b"".join((out / "frames" / f"{k:04}.png").read_bytes() for k in range(3)))
    assert outs[0] == outs[1]


def test_bench_reports_denoiser_steps_and_vae_timings(chain: dict[str, Path]) -> None:
    exe, env = _runtime()
    args = [str(exe), "bench", str(CLIP), "--model", str(chain["pkg"]), "--frames", "3", "--warmup", "1", "--ep", "cpu"]
    r = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    d = rep["diffusion"]
    assert d["steps"] == K
    for key in ("denoiser_step", "denoiser_total", "vae_encoder", "vae_decoder"):
        assert set(d[key]) >= {"median", "p95"} and 0 < d[key]["median"] <= d[key]["p95"], (key, d)
    # the graphs run inside the inference stage; one step is a K-th of the denoiser's time
    inference = dict(rep["stages"])["inference"]["median"]
    assert d["vae_encoder"]["median"] + d["vae_decoder"]["median"] < inference * 1.5
    assert d["denoiser_step"]["median"] <= d["denoiser_total"]["median"]
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"K = {K}" in r.stdout and "denoiser, per step" in r.stdout and "vae decoder" in r.stdout


def test_make_small_builds_a_base_the_stages_load(tmp_path: Path) -> None:
    out = tmp_path / "small"
    method("make-small", "--data", CLIP, "--out", out, "--size", "64x32", "--crop", "32x16", "--vae-spatial", 4,
           "--vae-dim", 4, "--z-dim", 4, "--vae-steps", 2, "--threads", 1, "--device", "cpu")
    rec = json.loads((out / "small.json").read_text())
    assert rec["vae"]["steps"] == 2 and rec["vae"]["spatial"] == 4 and np.isfinite(rec["vae"]["recon_psnr_db"])
    codec = wan.VaeCodec(wan.load_vae(out), 5)
    z = codec.encode_video(torch.rand(1, 3, 5, 32, 64))
    assert z.shape == (1, 4, 3, 8, 16)  # 4x4 spatial, 5 frames -> 3 latent frames
    # the latent statistics were measured and stored in the VAE config
    assert codec.std.flatten().tolist() != [1.0] * 4
    tr = wan.load_transformer(out, "transformer")
    assert tr.config.in_channels == 4 and tr.config.num_layers == 4
    assert wan.encode_text(out, ["a photo of the city"], 8).shape == (1, 8, tiny.TEXT_DIM)


def test_distill_student_writes_a_training_sequence(chain: dict[str, Path]) -> None:
    import seqio

    seq = seqio.load_sequence(chain["student"] / "city_pan")
    assert seq.frame_count == 3 and list(seq.targets) == ["rain"]
    t = seq.load_target_u8("rain", 2)
    assert t.shape == (32, 64, 3) and t.std() > 0
