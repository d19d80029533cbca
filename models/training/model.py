"""The student network: a small pixel-unshuffle U-Net with FiLM prompt conditioning.

Inputs are exactly the tensor roles of docs/formats.md (model package, tensor layouts):

    frames  [N, 3T, H, W]  last T frames, oldest first, sRGB 0..1
    edges   [N, T, H, W]   0/1 edge maps of those frames
    depth   [N, 1, H, W]   1 / (1 + z / depth_scale), 0 where absent
    normals [N, 3, H, W]   view-space unit normals, 0 where absent
    prev    [N, 3, H, W]   previous output reprojected onto the current frame (only when
                           ``use_prev``; see below)
    prompt  [N, 384]       L2-normalised prompt embedding

Output ``rgb`` [N, 3, H, W] in sRGB 0..1. H and W must be multiples of 16 (one pixel-unshuffle by 2,
then three stride-2 stages). Two heads:

``residual`` (the first shipped student): a residual over the current frame from a pixel-shuffle
    head at half resolution. It can change every pixel freely, so under an L1/SSIM objective it
    regresses towards a soft mean and shows 2x2 blocks.
``affine``: the look as a per-pixel affine colour transform of the current frame (3x3 matrix +
    offset, predicted at quarter resolution and bilinearly upsampled, HDRNet-style), plus a detail
    residual from a full-resolution guide path. The transform is smooth, so every edge and texture of
    the frame passes through at full resolution: the base cannot blur; only the small detail branch
    can add (rain streaks, snow) or remove structure. With ``grid_bins`` > 1 the transforms live on a
    bilateral grid (HDRNet's slicing): each quarter-resolution cell holds one transform per bin of a
    learned per-pixel coordinate, and each full-resolution pixel interpolates the two bins around its
    own coordinate. Without the grid, a pixel on one side of an edge inside a cell gets a bilinear
    blend of both surfaces' transforms: a halo along edges where the look changes sharply (snow on a
    roof against the road, lit windows at night).

``use_prev`` feeds the reprojected previous OUTPUT back in. Trained with the previous target
(teacher forcing), that loop drifts at run time: the network partly copies its input ``prev``, so
any bias of its own output (brighter, hazier) is fed back and compounds frame after frame, and each
frame's bilinear reprojection of ``prev`` blurs it further and smears copies along the motion.
Students without it are a function of the engine's frames alone (window T) and cannot drift;
temporal steadiness comes from the window and the runtime's clamped temporal accumulation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from losses import luminance

MULTIPLE_OF = 16
PROMPT_DIM = 384
INPUT_NAMES = ("frames", "edges", "depth", "normals", "prev", "prompt")
# A student with light planes takes the engine's sun and up as a graph input of its own (role
# "light": [1, 6], view space), not as the prompt's tail: the runtime blends prompts, never light.
LIGHT_INPUT = "light"
LIGHT_DIM = 6
OUTPUT_NAMES = ("rgb",)
HEADS = ("residual", "affine")


@dataclass(frozen=True)
class StudentConfig:
    window: int = 2
    widths: tuple[int, int, int, int] = (32, 48, 80, 112)
    blocks: tuple[int, int, int, int] = (1, 1, 1, 1)
    film_hidden: int = 128
    prompt_dim: int = PROMPT_DIM
    # Defaults describe the first shipped student, so older checkpoints load unchanged.
    use_prev: bool = True
    head: str = "residual"
    guide_width: int = 8
    # Affine head only: luminance-like bins of a bilateral grid of colour transforms (1 = no grid:
    # one transform per quarter-resolution pixel, bilinearly upsampled).
    grid_bins: int = 1
    # A global path (HDRNet's): the bottleneck's features averaged over the frame feed back into
    # it, so a frame-wide grade can depend on the whole frame, not only on the convolutions' reach.
    global_context: bool = False
    # False: no U-Net levels below the quarter resolution (DEEP_PATH): dec1 takes enc1's output
    # alone. A student whose deep path died (watch_deep_path) computes the same without it
    # (prune_deep_path), at about three quarters of the cost.
    deep_path: bool = True
    # Experimental (not in the runtime's contract): the engine look's sun as a unit vector in the
    # view space of the normals, appended to the prompt embedding the FiLM layers read (0 = none,
    # 3 = on). The engine knows its sun; the golden-hour targets keep its azimuth with a low sun.
    sun_dim: int = 0
    # Experimental: the prompt's tail is the sun and the world's up direction in view space
    # (sun_dim 6), read as two per-pixel planes beside the inputs, N.sun and N.up (from them a
    # convolution has N.L for any sun of the same azimuth, e.g. golden hour's low one); the FiLM
    # layers then read the prompt alone.
    light_planes: bool = False
    # With light_planes: a constant factor on the N.sun and N.up planes. Under Adam, whose step on a
    # weight does not depend on its gradient's scale, k times the input is k times the learning rate
    # of the weights that read it (and k times less weight for the same output): new inputs lifted
    # at zero beside trained ones can then catch up (stage 40's stayed a tenth of the old ones').
    light_gain: float = 1.0

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"head {self.head!r} is not one of {HEADS}")
        if self.global_context and not self.deep_path:
            raise ValueError("the global path sits at the bottleneck: a student without the deep path has none")
        if not self.light_gain > 0 or (self.light_gain != 1.0 and not self.light_planes):
            raise ValueError(f"light_gain {self.light_gain}: a positive factor on the light planes, only with light_planes")
        if self.grid_bins < 1 or (self.grid_bins > 1 and self.head != "affine"):
            raise ValueError(f"grid_bins {self.grid_bins}: a bilateral grid needs the affine head and at least 1 bin")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["blocks"] = list(self.blocks)
        if self.grid_bins == 1:
            del d["grid_bins"]  # absent = 1, so the records of students without a grid stay as they were
        if not self.global_context:
            del d["global_context"]  # absent = False, likewise
        if self.deep_path:
            del d["deep_path"]  # absent = True, likewise
        if not self.sun_dim:
            del d["sun_dim"]  # absent = 0, likewise
        if not self.light_planes:
            del d["light_planes"]  # absent = False, likewise
        if self.light_gain == 1.0:
            del d["light_gain"]  # absent = 1, likewise
        return d

    @staticmethod
    def from_dict(d: dict) -> "StudentConfig":
        return StudentConfig(
            window=int(d["window"]),
            widths=tuple(int(x) for x in d["widths"]),  # type: ignore[arg-type]
            blocks=tuple(int(x) for x in d["blocks"]),  # type: ignore[arg-type]
            film_hidden=int(d["film_hidden"]),
            prompt_dim=int(d["prompt_dim"]),
            use_prev=bool(d.get("use_prev", True)),
            head=str(d.get("head", "residual")),
            guide_width=int(d.get("guide_width", 8)),
            grid_bins=int(d.get("grid_bins", 1)),
            global_context=bool(d.get("global_context", False)),
            deep_path=bool(d.get("deep_path", True)),
            sun_dim=int(d.get("sun_dim", 0)),
            light_planes=bool(d.get("light_planes", False)),
            light_gain=float(d.get("light_gain", 1.0)),
        )

    @property
    def in_channels(self) -> int:
        # frames 3T + edges T + depth 1 + normals 3 (+ prev 3) (+ N.sun, N.up)
        return 4 * self.window + 4 + (3 if self.use_prev else 0) + (2 if self.light_planes else 0)

    @property
    def film_dim(self) -> int:
        """What the FiLM layers read: the prompt embedding, and the sun unless it is read per pixel."""
        return self.prompt_dim + (0 if self.light_planes else self.sun_dim)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The graph's inputs, in order (``prev`` only for students that feed their output back,
        ``light`` only for students with light planes)."""
        base = tuple(n for n in INPUT_NAMES if n != "prev" or self.use_prev)
        return base + ((LIGHT_INPUT,) if self.reads_light_input else ())

    @property
    def reads_light_input(self) -> bool:
        """The runtime can feed this student the engine's light: sun and up as per-pixel planes."""
        return self.light_planes and self.sun_dim == LIGHT_DIM


class ResBlock(nn.Module):
    """conv-act-conv with identity skip; the second conv starts at zero so a fresh block is identity."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(x)))


class Stage(nn.Module):
    """A few residual blocks followed by FiLM (per-channel scale and shift from the prompt)."""

    def __init__(self, ch: int, n_blocks: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[ResBlock(ch) for _ in range(n_blocks)])
        self.ch = ch

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        x = self.blocks(x)
        return x * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]


class Student(nn.Module):
    def __init__(self, cfg: StudentConfig = StudentConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        w0, w1, w2, w3 = cfg.widths
        b0, b1, b2, b3 = cfg.blocks
        self.stem = nn.Conv2d(cfg.in_channels * 4, w0, 3, padding=1)
        self.enc0 = Stage(w0, b0)
        self.down1 = nn.Conv2d(w0, w1, 3, stride=2, padding=1)
        self.enc1 = Stage(w1, b1)
        if cfg.deep_path:
            self.down2 = nn.Conv2d(w1, w2, 3, stride=2, padding=1)
            self.enc2 = Stage(w2, b2)
            self.down3 = nn.Conv2d(w2, w3, 3, stride=2, padding=1)
            self.mid = Stage(w3, b3)
            if cfg.global_context:
                # Per-channel shift of the bottleneck from its frame-wide mean; the last layer starts
                # at zero, so a student lifted from one without this path computes the same output.
                self.glob1 = nn.Linear(w3, w3)
                self.glob2 = nn.Linear(w3, w3)
                nn.init.zeros_(self.glob2.weight)
                nn.init.zeros_(self.glob2.bias)
            self.up2 = nn.Conv2d(w3, w2, 3, padding=1)
            self.dec2 = Stage(w2, 1)
            self.up1 = nn.Conv2d(w2, w1, 3, padding=1)
        self.dec1 = Stage(w1, 1)
        self.up0 = nn.Conv2d(w1, w0, 3, padding=1)
        self.dec0 = Stage(w0, 1)
        if cfg.head == "residual":
            # 3 channels x 4 sub-pixels, shuffled back to full resolution.
            self.head = nn.Conv2d(w0, 12, 3, padding=1)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        else:
            g = cfg.guide_width
            # 3x3 colour matrix (as a change from identity) + offset per quarter-resolution pixel,
            # one per grid bin.
            self.coeffs = nn.Conv2d(w1, 12 * cfg.grid_bins, 3, padding=1)
            nn.init.zeros_(self.coeffs.weight)
            nn.init.zeros_(self.coeffs.bias)
            if cfg.grid_bins > 1:
                # Per-pixel slicing coordinate (HDRNet's guide): a full-resolution pixel takes the
                # transforms of the bins near its own value, so two surfaces that meet inside one
                # quarter-resolution cell (a red roof on grey asphalt) keep their own transforms
                # instead of a bilinear blend of both, which shows as a halo along the edge.
                # The coordinate starts as the pixel's luma (HDRNet's guide starts near luminance
                # too): a learned coordinate starting at one constant would leave every pixel in
                # the same two bins, whose shared gradients keep the bins alike.
                self.slice1 = nn.Conv2d(cfg.in_channels, g, 1)
                self.slice2 = nn.Conv2d(g, 1, 1)
                nn.init.zeros_(self.slice2.weight)
                nn.init.zeros_(self.slice2.bias)
            # Full-resolution guide: sees the frame's own pixels, so detail lands on its edges.
            # Few channels at full resolution: this path is most of the cost per output pixel.
            self.guide1 = nn.Conv2d(cfg.in_channels, g, 3, padding=1)
            self.guide2 = nn.Conv2d(g, g, 3, padding=1)
            self.detail_proj = nn.Conv2d(w0, g, 1)
            self.detail1 = nn.Conv2d(2 * g, g, 3, padding=1)
            self.detail2 = nn.Conv2d(g, 3, 3, padding=1)
            nn.init.zeros_(self.detail2.weight)
            nn.init.zeros_(self.detail2.bias)
        self.film_stages: list[Stage] = (
            [self.enc0, self.enc1, self.enc2, self.mid, self.dec2, self.dec1, self.dec0]
            if cfg.deep_path
            else [self.enc0, self.enc1, self.dec1, self.dec0]
        )
        film_out = sum(2 * s.ch for s in self.film_stages)
        self.film = nn.Sequential(
            nn.Linear(cfg.film_dim, cfg.film_hidden), nn.SiLU(), nn.Linear(cfg.film_hidden, film_out)
        )
        # Start with no modulation: training decides how much each prompt changes each stage.
        nn.init.zeros_(self.film[2].weight)
        nn.init.zeros_(self.film[2].bias)

    def _film_params(self, prompt: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        p = self.film(prompt)
        out = []
        i = 0
        for s in self.film_stages:
            out.append((p[:, i : i + s.ch], p[:, i + s.ch : i + 2 * s.ch]))
            i += 2 * s.ch
        return out

    def detail_parameters(self) -> list:
        """The affine head's full-resolution detail branch: its own weights (the guide convolutions,
        the projection of the trunk's features, the detail convolutions), not the shared trunk's."""
        if self.cfg.head == "residual":
            raise ValueError("a residual-head student has no detail branch")
        mods = (self.guide1, self.guide2, self.detail_proj, self.detail1, self.detail2)
        return [p for m in mods for p in m.parameters()]

    def forward_raw(
        self,
        frames: torch.Tensor,
        edges: torch.Tensor,
        depth: torch.Tensor,
        normals: torch.Tensor,
        prev: torch.Tensor,
        prompt: torch.Tensor,
    ) -> torch.Tensor:
        """Unclamped prediction (the losses use it so a saturated pixel still gets a gradient)."""
        t = self.cfg.window
        current = frames[:, 3 * (t - 1) : 3 * t]
        parts = [frames, edges, depth, normals] + ([prev] if self.cfg.use_prev else [])
        x = torch.cat(parts, dim=1)
        # Centre the 0..1 inputs; normals are already in -1..1.
        centred = [x[:, : 4 * t + 1] * 2.0 - 1.0, x[:, 4 * t + 1 : 4 * t + 4]]
        if self.cfg.use_prev:
            centred.append(x[:, 4 * t + 4 :] * 2.0 - 1.0)
        if self.cfg.light_planes:
            light = prompt[:, self.cfg.prompt_dim :].to(normals.dtype)
            for k in (0, 3):  # N.sun, N.up
                centred.append(self.cfg.light_gain * (normals * light[:, k : k + 3, None, None]).sum(1, keepdim=True))
            prompt = prompt[:, : self.cfg.prompt_dim]
        x = torch.cat(centred, 1)
        film = self._film_params(prompt)
        full = x
        x = F.pixel_unshuffle(x, 2)
        s0 = self.enc0(F.silu(self.stem(x)), *film[0])
        s1 = self.enc1(F.silu(self.down1(s0)), *film[1])
        if self.cfg.deep_path:
            s2 = self.enc2(F.silu(self.down2(s1)), *film[2])
            m = self.mid(F.silu(self.down3(s2)), *film[3])
            if self.cfg.global_context:
                m = m + self.glob2(F.silu(self.glob1(m.mean(dim=(2, 3)))))[:, :, None, None]
            d2 = self.dec2(F.silu(self.up2(F.interpolate(m, scale_factor=2.0, mode="nearest"))) + s2, *film[4])
            d1 = self.dec1(F.silu(self.up1(F.interpolate(d2, scale_factor=2.0, mode="nearest"))) + s1, *film[5])
        else:
            d1 = self.dec1(s1, *film[-2])
        d0 = self.dec0(F.silu(self.up0(F.interpolate(d1, scale_factor=2.0, mode="nearest"))) + s0, *film[-1])
        if self.cfg.head == "residual":
            residual = F.pixel_shuffle(self.head(d0), 2)
            return current + residual.to(current.dtype)
        h, w = current.shape[-2:]
        c = F.interpolate(self.coeffs(d1), size=(h, w), mode="bilinear", align_corners=False).to(current.dtype)
        if self.cfg.grid_bins > 1:
            c = self._slice(c, current, full)
        # out_i = sum_j (delta_ij + a_ij) cur_j + b_i
        a = c[:, :9].unflatten(1, (3, 3))
        base = current + (a * current.unsqueeze(1)).sum(2) + c[:, 9:12]
        g = F.silu(self.guide2(F.silu(self.guide1(full))))
        up = F.interpolate(self.detail_proj(d0), size=(h, w), mode="bilinear", align_corners=False)
        detail = self.detail2(F.silu(self.detail1(torch.cat([g, up.to(g.dtype)], 1))))
        return base + detail.to(current.dtype)

    def slice_coordinate(self, current: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
        """[N, 1, H, W] in 0..1: the current frame's luma plus a learned correction of at most 0.5."""
        luma = luminance(current)
        shift = 0.5 * torch.tanh(self.slice2(F.silu(self.slice1(full))))
        return (luma + shift.to(luma.dtype)).clamp(0.0, 1.0)

    def _slice(self, grid: torch.Tensor, current: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
        """[N, 12 * bins, H, W] transforms (bin-major) -> [N, 12, H, W]: per pixel, the linear
        interpolation between the two bins around its slicing coordinate (tent weights sum to 1)."""
        n_bins = self.cfg.grid_bins
        z = self.slice_coordinate(current, full).to(grid.dtype) * (n_bins - 1)
        centres = torch.arange(n_bins, dtype=grid.dtype, device=grid.device).view(1, n_bins, 1, 1)
        weights = F.relu(1.0 - (z - centres).abs())
        return (grid.unflatten(1, (n_bins, 12)) * weights.unsqueeze(2)).sum(1)

    def forward(
        self,
        frames: torch.Tensor,
        edges: torch.Tensor,
        depth: torch.Tensor,
        normals: torch.Tensor,
        prev: torch.Tensor,
        prompt: torch.Tensor,
    ) -> torch.Tensor:
        return torch.clamp(self.forward_raw(frames, edges, depth, normals, prev, prompt), 0.0, 1.0)


class GraphNoPrev(nn.Module):
    """A student without ``prev`` with exactly its graph inputs (``cfg.input_names``), for export."""

    READS_LIGHT = False

    def __init__(self, student: Student) -> None:
        super().__init__()
        if student.cfg.use_prev or student.cfg.reads_light_input != self.READS_LIGHT:
            light = "with" if self.READS_LIGHT else "without"
            raise ValueError(f"{type(self).__name__} wraps students without the prev input and {light} the light input")
        self.student = student
        self.cfg = student.cfg

    def forward(
        self, frames: torch.Tensor, edges: torch.Tensor, depth: torch.Tensor, normals: torch.Tensor, prompt: torch.Tensor
    ) -> torch.Tensor:
        # The student ignores prev when its config has none; the current frame fills the argument.
        return self.student(frames, edges, depth, normals, frames[:, :3], prompt)


class GraphNoPrevLight(GraphNoPrev):
    """A student without ``prev`` that reads the light: the graph's ``light`` input ([N, 6], sun
    then up) goes back on the prompt's tail, where the student was trained to find it."""

    READS_LIGHT = True

    def forward(  # type: ignore[override]
        self,
        frames: torch.Tensor,
        edges: torch.Tensor,
        depth: torch.Tensor,
        normals: torch.Tensor,
        prompt: torch.Tensor,
        light: torch.Tensor,
    ) -> torch.Tensor:
        return super().forward(frames, edges, depth, normals, torch.cat([prompt, light], 1))


def graph_module(student: Student) -> nn.Module:
    """What export traces: the student itself, or its wrapper without prev and/or with light."""
    cfg = student.cfg
    if cfg.sun_dim and not cfg.reads_light_input:
        raise ValueError("only students with light planes (sun and up, --arch affine-global-light) read a light input the runtime feeds")
    if cfg.reads_light_input:
        if cfg.use_prev:
            raise ValueError("a student with both prev and light inputs has no export wrapper")
        return GraphNoPrevLight(student)
    return student if cfg.use_prev else GraphNoPrev(student)


def lift_to_grid(state: dict[str, torch.Tensor], model: "Student") -> dict[str, torch.Tensor]:
    """A student's weights as `model`'s, where `model` adds to it a bilateral grid of `grid_bins`
    bins and/or the global path: every bin starts as the old transform and the global path keeps
    `model`'s initialisation (its last layer zero), so the lifted student computes exactly the old
    one's output whatever its slicing guide says; fine-tuning then lets the bins and the path
    differ."""
    n_bins = model.cfg.grid_bins
    want = model.state_dict()
    out = {}
    for k, v in want.items():
        if k in ("coeffs.weight", "coeffs.bias") and k in state and state[k].shape[0] * n_bins == v.shape[0]:
            out[k] = state[k].repeat(n_bins, *([1] * (state[k].dim() - 1))).to(v.dtype)
        elif k.startswith(("slice", "glob")) and k not in state:
            out[k] = v.clone()
        elif k in state and state[k].shape == v.shape:
            out[k] = state[k].to(v.dtype)
        else:
            raise ValueError(f"weight {k}: {tuple(state[k].shape) if k in state else 'missing'} cannot become {tuple(v.shape)}")
    extra = sorted(set(state) - set(want))
    if extra:
        raise ValueError(f"weights {extra[:3]} have no place in a {n_bins}-bin grid student")
    return out


def lift_sun(state: dict[str, torch.Tensor], model: "Student") -> dict[str, torch.Tensor]:
    """A student's weights as `model`'s, where `model` also reads the sun (`sun_dim` more FiLM
    inputs, or two more input planes with `light_planes`): those inputs' weights start at zero, so
    the lifted student computes the old output."""
    want = model.state_dict()
    out = {}
    for k, v in want.items():
        if k not in state:
            raise ValueError(f"weight {k} is missing")
        if k in ("film.0.weight", "stem.weight", "guide1.weight", "slice1.weight") and state[k].shape[1] < v.shape[1]:
            # the new inputs come last (in the stem, 4 channels each: it reads them pixel-unshuffled)
            extra = torch.zeros(v.shape[0], v.shape[1] - state[k].shape[1], *v.shape[2:], dtype=v.dtype)
            out[k] = torch.cat([state[k].to(v.dtype), extra], 1)
        elif state[k].shape == v.shape:
            out[k] = state[k].to(v.dtype)
        else:
            raise ValueError(f"weight {k}: {tuple(state[k].shape)} cannot become {tuple(v.shape)}")
    return out


# The U-Net below the quarter-resolution level: everything between enc1's output and dec1's input.
DEEP_PATH = ("down2", "enc2", "down3", "mid", "glob1", "glob2", "up2", "dec2", "up1")
# up1's pre-activation below this passes no gradient through its SiLU (silu'(-20) ~ 4e-8): where
# every value is below it, the deep path adds nothing to the output and never learns again.
DEAD_BELOW = -20.0


def watch_deep_path(model: "Student") -> dict[str, float]:
    """Record, at every forward pass, the share of up1's outputs above DEAD_BELOW (in the returned
    dict's "alive"): 0 means the deep path has died. The shipped students 0.2.0 to 0.7.0 have 0 (their
    activations grow ~10x a layer below the quarter-resolution level; up1's outputs lie below -200)."""
    seen: dict[str, float] = {}
    if not model.cfg.deep_path:
        return seen  # nothing to watch

    def hook(_mod: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        with torch.no_grad():
            seen["alive"] = float((out.detach() > DEAD_BELOW).float().mean())

    model.up1.register_forward_hook(hook)
    return seen


def reinit_deep_path(model: "Student", seed: int) -> None:
    """Give `model` a fresh deep path (a new student's initialisation of DEEP_PATH, from `seed`)
    with up1 at zero, keeping every other weight: SiLU(0) = 0, so the output is the same as with a
    dead deep path, and gradients reach it again (SiLU'(0) = 1/2)."""
    if not model.cfg.deep_path:
        raise ValueError("this student has no deep path to re-initialise")
    torch.manual_seed(seed)
    fresh = Student(model.cfg)
    with torch.no_grad():
        for name in DEEP_PATH:
            if hasattr(model, name):
                getattr(model, name).load_state_dict(getattr(fresh, name).state_dict())
        model.up1.weight.zero_()
        model.up1.bias.zero_()


def prune_deep_path(state: dict[str, torch.Tensor], model: "Student") -> dict[str, torch.Tensor]:
    """A student's weights as `model`'s, a student without the deep path (`deep_path=False`): the
    deep path's weights dropped and the FiLM rows of its stages removed. Exact where the deep path
    was dead: up1's SiLU gave -0.0 or +0.0 everywhere, and s1 + 0 = s1."""
    if model.cfg.deep_path:
        raise ValueError("prune_deep_path makes a student without the deep path: pass one built with deep_path=False")
    full = Student(replace(model.cfg, deep_path=True))
    # FiLM rows: per stage gamma then beta, in film_stages order.
    keep_rows, row = [], 0
    for stage in full.film_stages:
        rows = list(range(row, row + 2 * stage.ch))
        if not any(stage is getattr(full, n, None) for n in DEEP_PATH):
            keep_rows += rows
        row += 2 * stage.ch
    want = model.state_dict()
    out = {}
    for k, v in want.items():
        if k not in state:
            raise ValueError(f"weight {k} is missing from the student to prune")
        src = state[k]
        if k in ("film.2.weight", "film.2.bias"):
            src = src[keep_rows]
        if tuple(src.shape) != tuple(v.shape):
            raise ValueError(f"weight {k}: {tuple(src.shape)} cannot become {tuple(v.shape)}")
        out[k] = src.to(v.dtype)
    return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def example_inputs(cfg: StudentConfig, h: int, w: int, n: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Plausible random inputs of the right shapes and ranges (export tracing and checks)."""
    g = torch.Generator().manual_seed(seed)
    t = cfg.window
    frames = torch.rand(n, 3 * t, h, w, generator=g)
    edges = (torch.rand(n, t, h, w, generator=g) > 0.9).float()
    depth = torch.rand(n, 1, h, w, generator=g)
    normals = F.normalize(torch.randn(n, 3, h, w, generator=g), dim=1)
    prev = torch.rand(n, 3, h, w, generator=g)
    prompt = F.normalize(torch.randn(n, cfg.prompt_dim, generator=g), dim=1)
    for _ in range(cfg.sun_dim // 3):  # unit vectors: the sun (and the up direction)
        prompt = torch.cat([prompt, F.normalize(torch.randn(n, 3, generator=g), dim=1)], 1)
    return frames, edges, depth, normals, prev, prompt


def graph_inputs(cfg: StudentConfig, h: int, w: int, n: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """``example_inputs`` restricted to the graph's inputs (``cfg.input_names``)."""
    full = dict(zip(INPUT_NAMES, example_inputs(cfg, h, w, n, seed)))
    if cfg.reads_light_input:
        full[LIGHT_INPUT] = full["prompt"][:, cfg.prompt_dim :]
        full["prompt"] = full["prompt"][:, : cfg.prompt_dim]
    return tuple(full[k] for k in cfg.input_names)
