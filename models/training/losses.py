"""Training losses (PyTorch, NCHW, values in sRGB 0..1). Computed in float32 outside autocast.

total = L1 + w_ssim (1 - SSIM) + w_temporal temporal + w_edge edge
  temporal: the prediction for t-1 warped onto t with frame t's motion vectors, compared with the
            prediction for t where the pixel was visible in both frames (valid mask from depth
            reprojection); the target's own change over the same warp is subtracted, so real changes
            in the target (falling rain, snow) are not penalised, only flicker the target lacks.
  edge:     L1 between Sobel gradients (gx, gy) of output and target luminance, weighted up on
            the input's edge map so structure of the game frame is kept.
  sharpness (off unless weighted): L1 between the output's and the target's local detail energy,
            the mean |Laplacian| of luma over 8x8 windows (stride 4). Unlike the per-pixel terms
            it does not ask for detail at the target's exact positions, which a student cannot
            always predict and so averages into blur; it asks for as much detail in each window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LUMA = (0.2126, 0.7152, 0.0722)


@dataclass(frozen=True)
class LossWeights:
    ssim: float = 0.2
    temporal: float = 0.5
    edge: float = 0.5
    edge_boost: float = 4.0
    sharpness: float = 0.0


def luminance(x: torch.Tensor) -> torch.Tensor:
    return x[:, 0:1] * LUMA[0] + x[:, 1:2] * LUMA[1] + x[:, 2:3] * LUMA[2]


def sobel(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel / 4 of [N, 1, H, W] with clamp-to-edge borders (same scale as imgops.sobel)."""
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=y.dtype, device=y.device) / 4.0
    w = torch.stack([k, k.t()])[:, None]
    g = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), w)
    return g[:, 0:1], g[:, 1:2]


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Mean SSIM with a uniform window (reflect-padded), constants for a 0..1 range."""
    c1, c2 = 0.01**2, 0.03**2
    pad = window // 2

    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), window, stride=1)

    mu_a, mu_b = pool(a), pool(b)
    var_a = pool(a * a) - mu_a**2
    var_b = pool(b * b) - mu_b**2
    cov = pool(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean()


def warp(img: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """out(p) = img(p + motion(p)), bilinear, border-clamped; motion [N, 2, H, W] in pixels."""
    n, _, h, w = img.shape
    ys = torch.arange(h, dtype=img.dtype, device=img.device).view(1, h, 1)
    xs = torch.arange(w, dtype=img.dtype, device=img.device).view(1, 1, w)
    sx = xs + motion[:, 0]
    sy = ys + motion[:, 1]
    grid = torch.stack([2.0 * sx / max(w - 1, 1) - 1.0, 2.0 * sy / max(h - 1, 1) - 1.0], dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def temporal_loss(
    out_prev: torch.Tensor,
    out_cur: torch.Tensor,
    tgt_prev: torch.Tensor,
    tgt_cur: torch.Tensor,
    motion: torch.Tensor,
    valid: torch.Tensor,
    weight: torch.Tensor,
) -> torch.Tensor:
    d_out = out_cur - warp(out_prev, motion)
    d_tgt = tgt_cur - warp(tgt_prev, motion)
    m = valid * weight.view(-1, 1, 1, 1)
    return ((d_out - d_tgt).abs() * m).sum() / (3.0 * m.sum() + 1e-6)


def edge_loss(out: torch.Tensor, target: torch.Tensor, input_edges: torch.Tensor, boost: float) -> torch.Tensor:
    ox, oy = sobel(luminance(out))
    tx, ty = sobel(luminance(target))
    w = 1.0 + boost * input_edges
    return (((ox - tx).abs() + (oy - ty).abs()) * w).sum() / w.sum()


def laplacian(y: torch.Tensor) -> torch.Tensor:
    """4-neighbour Laplacian of [N, 1, H, W] with clamp-to-edge borders (the metric's, evaluate.sharpness)."""
    p = F.pad(y, (1, 1, 1, 1), mode="replicate")
    return p[:, :, :-2, 1:-1] + p[:, :, 2:, 1:-1] + p[:, :, 1:-1, :-2] + p[:, :, 1:-1, 2:] - 4.0 * y


def detail_energy(img: torch.Tensor, window: int = 8) -> torch.Tensor:
    """Mean |Laplacian| of the luma over window x window patches, stride window / 2: [N, 1, h, w]."""
    return F.avg_pool2d(laplacian(luminance(img)).abs(), window, stride=max(1, window // 2))


def sharpness_loss(out: torch.Tensor, target: torch.Tensor, window: int = 8) -> torch.Tensor:
    """L1 between the output's and the target's local detail energy (too little and too much alike).
    The output is clamped to the displayable range first: detail beyond it never reaches a screen."""
    return (detail_energy(out.clamp(0.0, 1.0), window) - detail_energy(target, window)).abs().mean()


def trust_target(target: torch.Tensor, weight: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """The target where weight is 1, the (detached, clamped) prediction where it is 0: every paired
    term then sees no error and gives no gradient on untrusted pixels, without masking each term."""
    return weight * target + (1.0 - weight) * raw.detach().float().clamp(0.0, 1.0)


def total_loss(
    raw: torch.Tensor, batch: dict[str, torch.Tensor], window: int, lw: LossWeights
) -> tuple[torch.Tensor, dict[str, float]]:
    """raw: [2B, 3, H, W] unclamped predictions for the batch layout of data.TrainingData.batch."""
    raw = raw.float()
    target = batch["target"]
    b = raw.shape[0] // 2
    l1 = (raw - target).abs().mean()
    s = ssim(raw, target)
    cur_edges = batch["edges"][:, window - 1 : window]
    e = edge_loss(raw, target, cur_edges, lw.edge_boost)
    t = temporal_loss(raw[:b], raw[b:], target[:b], target[b:], batch["motion"], batch["valid"], batch["temporal_weight"])
    total = l1 + lw.ssim * (1.0 - s) + lw.temporal * t + lw.edge * e
    terms = [("l1", l1), ("ssim", s), ("temporal", t), ("edge", e)]
    if lw.sharpness > 0:
        sh = sharpness_loss(raw, target)
        total = total + lw.sharpness * sh
        terms.append(("sharpness", sh))
    parts = {k: float(v.detach()) for k, v in (*terms, ("total", total))}
    return total, parts
