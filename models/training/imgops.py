"""Image operations shared by data preparation and evaluation (numpy, full frames).

Edge map: the runtime's Canny-style edge passes (rust/realmaster/src/gpu/preprocess/edges_gradient.wgsl, edges_nms.wgsl,
edges_hysteresis.wgsl; CPU reference rust/realmaster/src/reference/edges.rs) re-implemented with
its default EdgeParams. Exact agreement is not required: the runtime computes edges on the GPU
after resampling to the model resolution, training computes them on the rendered frames.

1. colour cue: L = sRGB-encode(Rec.709 luma of the LINEAR colour), i.e. the luminance of the
   frame as displayed; Sobel / 4 (a unit step scores 1), strength |grad L|;
2. depth cue: Sobel / 4 of ln(max(z, 1e-6)) (relative depth change), strength |grad ln z| / 0.25;
3. normal cue: structure tensor of the three normal channels' Sobel / 4 gradients; its largest
   eigenvalue / 2 (= 1 - cos of the crease angle) / 0.3, direction = that eigenvector;
4. each pixel keeps the strongest cue; its direction is binned with tan(22.5 deg) splits into
   left/right, up/down, (+1,+1) and (+1,-1) diagonals; all borders clamp to the edge pixel;
5. non-maximum suppression: strength > the neighbour ahead and >= the one behind (outside the image
   counts as 0), then weak >= LOW (0.08), strong >= HIGH (0.2);
6. hysteresis: at most 64 Jacobi steps of "weak with a strong 8-neighbour becomes strong"; the
   edge map is 1 on strong pixels, 0 elsewhere.
"""

from __future__ import annotations

import numpy as np

LUMA = (0.2126, 0.7152, 0.0722)
LOW = 0.08
HIGH = 0.2
DEPTH_RELATIVE = 0.25
NORMAL_CREASE = 0.3
HYSTERESIS_MAX_ITERS = 64
_TAN_22_5 = 0.41421357


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.maximum(c, 0.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1.0 / 2.4) - 0.055)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """[H, W, 3] sRGB-encoded 0..1 -> perceptual luminance [H, W] (luma of the linear colour, re-encoded)."""
    lin = _srgb_to_linear(rgb.astype(np.float32))
    y = lin[..., 0] * LUMA[0] + lin[..., 1] * LUMA[1] + lin[..., 2] * LUMA[2]
    return _linear_to_srgb(np.clip(y, 0.0, 1.0)).astype(np.float32)


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a[y + dy, x + dx] with clamp-to-edge, for |dy|, |dx| <= 1."""
    p = np.pad(a, ((1, 1), (1, 1)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    h, w = a.shape[:2]
    return p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def _shift_zero(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a[y + dy, x + dx], 0 outside the image."""
    p = np.pad(a, ((1, 1), (1, 1)) + ((0, 0),) * (a.ndim - 2), mode="constant")
    h, w = a.shape[:2]
    return p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def sobel(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel / 4 on [H, W] or [H, W, C] (per channel), clamp-to-edge borders."""
    sx = _shift(a, -1, 1) + 2.0 * _shift(a, 0, 1) + _shift(a, 1, 1)
    sx = sx - (_shift(a, -1, -1) + 2.0 * _shift(a, 0, -1) + _shift(a, 1, -1))
    sy = _shift(a, 1, -1) + 2.0 * _shift(a, 1, 0) + _shift(a, 1, 1)
    sy = sy - (_shift(a, -1, -1) + 2.0 * _shift(a, -1, 0) + _shift(a, -1, 1))
    return (sx * 0.25).astype(np.float32), (sy * 0.25).astype(np.float32)


def dir_bin(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """0: left/right, 1: up/down, 2: (+1,+1)/(-1,-1), 3: (+1,-1)/(-1,+1)."""
    ax, ay = np.abs(gx), np.abs(gy)
    diag = np.where((gx > 0) == (gy > 0), 2, 3)
    return np.where(ay <= ax * _TAN_22_5, 0, np.where(ax <= ay * _TAN_22_5, 1, diag)).astype(np.int32)


def gradient(
    rgb: np.ndarray, depth_z: np.ndarray | None = None, normals: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(strength, direction bin) per pixel: the strongest of the colour, depth and normal cues."""
    gx, gy = sobel(luminance(rgb))
    mag = np.hypot(gx, gy)
    if depth_z is not None:
        # Non-finite depth (sky) would make NaN gradients; treat it as very far away.
        z = np.where(np.isfinite(depth_z), depth_z, 1e6).astype(np.float32)
        dx, dy = sobel(np.log(np.maximum(z, 1e-6)))
        dm = np.hypot(dx, dy) / DEPTH_RELATIVE
        take = dm > mag
        mag, gx, gy = np.where(take, dm, mag), np.where(take, dx, gx), np.where(take, dy, gy)
    if normals is not None:
        nx, ny = sobel(normals.astype(np.float32))
        jxx = (nx * nx).sum(-1)
        jyy = (ny * ny).sum(-1)
        jxy = (nx * ny).sum(-1)
        half = 0.5 * (jxx - jyy)
        lam = 0.5 * (jxx + jyy) + np.sqrt(half * half + jxy * jxy)
        nm = 0.5 * lam / NORMAL_CREASE
        v1x, v1y = jxy, lam - jxx
        v2x, v2y = lam - jyy, jxy
        first = v1x * v1x + v1y * v1y > v2x * v2x + v2y * v2y
        ex, ey = np.where(first, v1x, v2x), np.where(first, v1y, v2y)
        take = nm > mag
        mag, gx, gy = np.where(take, nm, mag), np.where(take, ex, gx), np.where(take, ey, gy)
    return mag.astype(np.float32), dir_bin(gx, gy)


NONE, WEAK, STRONG = 0, 1, 2


def non_max_suppression(mag: np.ndarray, bins: np.ndarray, low: float = LOW, high: float = HIGH) -> np.ndarray:
    """State per pixel: 0 none, 1 weak, 2 strong."""
    keep = np.zeros(mag.shape, bool)
    for b, (dy, dx) in {0: (0, 1), 1: (1, 0), 2: (1, 1), 3: (-1, 1)}.items():
        ahead = _shift_zero(mag, dy, dx)
        behind = _shift_zero(mag, -dy, -dx)
        keep |= (bins == b) & (mag > ahead) & (mag >= behind)
    return np.where(keep & (mag >= high), STRONG, np.where(keep & (mag >= low), WEAK, NONE)).astype(np.uint8)


def hysteresis(state: np.ndarray, max_iters: int = HYSTERESIS_MAX_ITERS) -> np.ndarray:
    """Grow strong edges into 8-connected weak pixels; returns the 0/1 edge map."""
    weak = state == WEAK
    strong = state == STRONG
    for _ in range(max_iters):
        near = np.zeros_like(strong)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    near |= _shift_zero(strong, dy, dx)
        grown = strong | (weak & near)
        if np.array_equal(grown, strong):
            break
        strong = grown
    return strong.astype(np.float32)


def edge_map(rgb: np.ndarray, depth_z: np.ndarray | None = None, normals: np.ndarray | None = None) -> np.ndarray:
    """0/1 edge map [H, W] of an sRGB frame [H, W, 3] (0..1) plus optional view depth z and normals."""
    mag, bins = gradient(rgb, depth_z, normals)
    return hysteresis(non_max_suppression(mag, bins))


# ---------------------------------------------------------------------------------------------
# Motion-vector warping and disocclusion


def warp_backward(prev: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reproject `prev` [H, W, C] onto the current frame: out(p) = prev(p + motion(p)), bilinear.

    Returns (warped, inside) where inside is 1 where the source point lies in the frame; outside
    points sample the clamped border (the runtime's reprojection does the same).
    """
    h, w = prev.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sx = xs + motion[..., 0]
    sy = ys + motion[..., 1]
    inside = ((sx >= -0.5) & (sx <= w - 0.5) & (sy >= -0.5) & (sy <= h - 0.5)).astype(np.float32)
    sx = np.clip(sx, 0.0, w - 1.0)
    sy = np.clip(sy, 0.0, h - 1.0)
    x0 = np.floor(sx).astype(np.int32)
    y0 = np.floor(sy).astype(np.int32)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (sx - x0)[..., None] if prev.ndim == 3 else sx - x0
    fy = (sy - y0)[..., None] if prev.ndim == 3 else sy - y0
    p = prev.astype(np.float32)
    top = p[y0, x0] * (1 - fx) + p[y0, x1] * fx
    bot = p[y1, x0] * (1 - fx) + p[y1, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32), inside


DISOCCLUSION_REL_TOL = 0.1


def valid_history_mask(
    motion: np.ndarray, depth_enc_cur: np.ndarray | None, depth_enc_prev: np.ndarray | None
) -> np.ndarray:
    """1 where the pixel was visible in the previous frame (source inside the frame and, with depth,
    the reprojected previous depth agrees with the current one within DISOCCLUSION_REL_TOL of the
    view distance); 0 at disocclusions. Bilinear depth sampling across a depth edge gives a blended
    value that fails the test, so silhouettes are conservatively marked invalid."""
    if depth_enc_prev is None or depth_enc_cur is None:
        _, inside = warp_backward(np.zeros(motion.shape[:2], np.float32), motion)
        return inside
    dprev, inside = warp_backward(depth_enc_prev, motion)
    # Compare view distances z = scale (1/d - 1); encoded 0 means no depth (sky): equal if both 0.
    eps = 1e-6
    zc = 1.0 / np.maximum(depth_enc_cur, eps) - 1.0
    zp = 1.0 / np.maximum(dprev, eps) - 1.0
    both_sky = (depth_enc_cur < 1e-4) & (dprev < 1e-4)
    close = np.abs(zc - zp) <= DISOCCLUSION_REL_TOL * np.maximum(zc, 1e-3)
    return (inside * (close | both_sky)).astype(np.float32)
