#!/usr/bin/env python3
"""KID (Kernel Inception Distance, Binkowski et al. 2018) between image patches and real-photo patches.

  python models/training/kid.py --images samples/city_pan --real data/realphotos
  python models/training/kid.py --images out/demo/frames --images samples/landscape_dolly --real data/realphotos --json out/kid.json

Protocol (fixed so numbers compare across runs):
  1. every image is resized (area filter, never enlarged) so its short side is --short-side px (default 144,
     the bundled samples' frame height, so engine frames are used at their own pixels);
  2. --per-image random crops of --patch px (default 128) are taken from it (seeded; a folder's images are
     read in sorted order, so the crops depend only on the files and --seed);
  3. each crop is resized to 224 px and described by the frozen ImageNet EfficientNet-Lite0's 1280-d globally
     averaged head features (realism.EfficientNetLite0Features; the Inception network of the original KID
     is not obtainable from the package registries, so numbers are not comparable to published KIDs);
  4. KID = unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
     --subsets random subsets of --subset-size patches from each side (mean and std reported).
KID is ~0 (it can be slightly negative: the estimator is unbiased) when both sides come from one
distribution and grows as they differ. Lower = closer to the real photographs.

--scenes outdoor compares with the photos of that scene tag only (index.json's "scene": outdoor, indoor,
close-up); the model card's count uses the outdoor ones, the kind of scene its clips show (docs/photoreal.md,
stage 71).

--images takes a sequence folder (its color/ frames), a folder of PNG/JPEG files, or a real-photo cache
(repeatable: all are pooled). --real takes the cache written by realphotos.py --out (or any image folder).
Output: JSON on stdout (and --json FILE). Errors print `error:` and `fix:` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realphotos import SCENES, DataError, find_images, load_images, parse_scenes, scene_files  # noqa: E402

EXIT_DATA = 2


def resize_short(img: np.ndarray, short: int):
    """uint8 HxWx3 -> float32 tensor [3, h, w] in 0..1 with short side `short` (area filter; never enlarged)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)
    h, w = t.shape[1:]
    s = short / min(h, w)
    if s < 1.0:
        t = F.interpolate(t[None], size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")[0]
    return t


def random_patches(images: Sequence[np.ndarray], patch: int = 128, per_image: int = 8, short: int = 144, seed: int = 0):
    """[len(images) * per_image, 3, patch, patch] float32 crops (see the protocol in the module doc)."""
    import torch

    if patch < 32:
        raise DataError(f"--patch {patch} is too small", "use at least 32 px")
    rng = np.random.default_rng(seed)
    out = []
    for img in images:
        t = resize_short(img, short)
        h, w = t.shape[1:]
        if min(h, w) < patch:
            raise DataError(f"an image of {w}x{h} px (after resizing to short side {short}) is smaller than --patch {patch}", "lower --patch or raise --short-side")
        for _ in range(per_image):
            y = int(rng.integers(0, h - patch + 1))
            x = int(rng.integers(0, w - patch + 1))
            out.append(t[:, y : y + patch, x : x + patch])
    return torch.stack(out)


class KIDFeatures:
    """Frozen ImageNet EfficientNet-Lite0 pooled head features (1280-d) of sRGB 0..1 patches."""

    def __init__(self, size: int = 224) -> None:
        from realism import EfficientNetLite0Features

        import torch

        # fp32 (a metric, not training); the network runs channels_last internally.
        self.net = EfficientNetLite0Features()
        self.size = size

    def __call__(self, x, batch: int = 64) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from realism import check_images

        check_images(x, "KID patches", min_size=32)
        feats = []
        with torch.inference_mode():
            for i in range(0, x.shape[0], batch):
                b = x[i : i + batch].float()
                if b.shape[2:] != (self.size, self.size):
                    b = F.interpolate(b, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
                feats.append(self.net.pooled(b).double().numpy())
        return np.concatenate(feats)


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel (x.y/d + 1)^3."""
    d = x.shape[1]
    m, n = x.shape[0], y.shape[0]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean()
    )


def kid(fx: np.ndarray, fy: np.ndarray, subsets: int = 50, subset_size: int = 100, seed: int = 0) -> tuple[float, float]:
    """KID mean and std over `subsets` random subsets of min(subset_size, len(fx), len(fy)) features per side."""
    if fx.ndim != 2 or fy.ndim != 2 or fx.shape[1] != fy.shape[1]:
        raise ValueError(f"feature arrays must be [N, D] with the same D, got {fx.shape} and {fy.shape}")
    m = min(subset_size, fx.shape[0], fy.shape[0])
    if m < 2:
        raise DataError(f"KID needs at least 2 patches per side, got {fx.shape[0]} and {fy.shape[0]}", "pass more images or raise --per-image")
    rng = np.random.default_rng(seed)
    vals = [mmd2_unbiased(fx[rng.choice(fx.shape[0], m, replace=False)], fy[rng.choice(fy.shape[0], m, replace=False)]) for _ in range(subsets)]
    return float(np.mean(vals)), float(np.std(vals))


def image_list(folders: Sequence[Path]) -> list[np.ndarray]:
    imgs: list[np.ndarray] = []
    for f in folders:
        imgs += load_images(Path(f))
    return imgs


def real_features(real: Path, feats: KIDFeatures, patch: int, per_image: int, short: int, seed: int,
                  scenes: tuple[str, ...] | None = None) -> tuple[np.ndarray, int]:
    """Features of the real-photo patches (those tagged with `scenes`, or all), cached in the real folder
    (kid_features_<key>.npy) when it is writable; the key covers the protocol, the scenes and every file's
    name, size and mtime (the key of every photo is the one it had before scenes existed)."""
    import hashlib

    files = scene_files(real, scenes)
    key = [patch, per_image, short, seed, feats.size, [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]]
    if scenes is not None:
        key.append(list(scenes))
    cache = real / f"kid_features_{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}.npy"
    if cache.is_file():
        return np.load(cache), len(files)
    imgs = load_images(real, scenes)
    fy = feats(random_patches(imgs, patch, per_image, short, seed))
    try:
        np.save(cache, fy)
    except OSError:
        pass  # read-only folder: recompute next time
    return fy, len(imgs)


def score(
    images: Sequence[Path],
    real: Path,
    patch: int = 128,
    per_image: int = 4,
    real_per_image: int = 8,
    short: int = 144,
    subsets: int = 50,
    subset_size: int = 100,
    seed: int = 0,
    features: KIDFeatures | None = None,
    scenes: tuple[str, ...] | None = None,
    also: Sequence[tuple[str, ...] | None] = (),
) -> dict:
    """KID of `images` against the real photos tagged `scenes` (None = all); `also`: more references scored
    on the same patches' features (result "also": one {"real_scenes", "kid_x1000", "kid_std"} each)."""
    feats = features or KIDFeatures()
    fake_imgs = image_list(images)
    fx = feats(random_patches(fake_imgs, patch, per_image, short, seed))

    def against(sc: tuple[str, ...] | None) -> tuple[float, float, int, int]:
        fy, n = real_features(Path(real), feats, patch, real_per_image, short, seed + 1, sc)
        return (*kid(fx, fy, subsets, subset_size, seed), n, int(fy.shape[0]))

    mean, std, n_real, n_real_patches = against(scenes)
    extra = []
    for sc in also:
        m, sd, _, _ = against(sc)
        extra.append({"real_scenes": list(sc) if sc else "all", "kid_x1000": round(m * 1000.0, 3), "kid_std": sd})
    return {
        "kid_mean": mean,
        "kid_std": std,
        "kid_x1000": round(mean * 1000.0, 3),
        "images": [str(p) for p in images],
        "real": str(real),
        "real_scenes": list(scenes) if scenes else "all",
        "n_images": len(fake_imgs),
        "n_patches": int(fx.shape[0]),
        "n_real_images": n_real,
        "n_real_patches": n_real_patches,
        "protocol": {
            "features": "EfficientNet-Lite0 ImageNet, 1280-d pooled head, 224 px input",
            "short_side": short,
            "patch": patch,
            "per_image": per_image,
            "real_per_image": real_per_image,
            "subsets": subsets,
            "subset_size": min(subset_size, int(fx.shape[0]), n_real_patches),
            "seed": seed,
        },
        **({"also": extra} if also else {}),
    }


def export_onnx(path: Path, size: int = 224) -> None:
    """The KID feature network as ONNX: input `image` [N, 3, size, size] sRGB 0..1 -> `features` [N, 1280]."""
    import torch

    from realism import EfficientNetLite0Features

    net = EfficientNetLite0Features()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.f = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.f.pooled(x)

    m = Pooled().eval()
    x = torch.rand(1, 3, size, size)
    torch.onnx.export(m, (x,), str(path), input_names=["image"], output_names=["features"], dynamic_axes={"image": {0: "n"}, "features": {0: "n"}}, opset_version=18, dynamo=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, action="append", help="sequence folder, folder of PNG/JPEG, or cache (repeatable; pooled)")
    ap.add_argument("--real", type=Path, default=Path("data/realphotos"), help="real-photo cache (realphotos.py --out; default data/realphotos)")
    ap.add_argument("--scenes", default=None, help=f"compare only with the real photos of these scene tags (comma-separated: {', '.join(SCENES)}; default all)")
    ap.add_argument("--patch", type=int, default=128, help="crop size in px (default 128)")
    ap.add_argument("--short-side", type=int, default=144, help="images are first resized to this short side (default 144)")
    ap.add_argument("--per-image", type=int, default=4, help="crops per scored image (default 4)")
    ap.add_argument("--real-per-image", type=int, default=8, help="crops per real photo (default 8)")
    ap.add_argument("--subsets", type=int, default=50)
    ap.add_argument("--subset-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    ap.add_argument("--json", type=Path, help="also write the result here")
    ap.add_argument("--export-onnx", type=Path, help="write the feature network as ONNX to this path and exit")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.export_onnx:
        export_onnx(args.export_onnx)
        print(f"wrote {args.export_onnx}")
        return 0
    if not args.images:
        ap.error("--images is required (a sequence folder or a folder of PNG/JPEG images)")
    for name in ("patch", "short_side", "per_image", "real_per_image", "subsets", "subset_size"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} must be positive")
    from realism import RealismError

    try:
        scenes = parse_scenes(args.scenes)
        scene_files(args.real, scenes)  # fail early, before any features are computed
        for f in args.images:
            if not f.is_dir():
                raise DataError(f"{f} is not a folder", "pass a sequence folder (with color/) or a folder of PNG/JPEG images")
            find_images(f)
        res = score(args.images, args.real, args.patch, args.per_image, args.real_per_image, args.short_side, args.subsets, args.subset_size, args.seed, scenes=scenes)
    except DataError as e:
        print(f"error: {e}\nfix: {e.fix}", file=sys.stderr)
        return EXIT_DATA
    except RealismError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DATA
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
