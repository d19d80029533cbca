"""The in-context (IC) Wan denoiser and the pieces every later stage shares.

Latent layout. Wan's VAE maps T = 4k+1 frames [1, 3, T, H, W] in [-1, 1] to F = k+1 latent frames
[1, C, F, H/8, W/8], normalised with the VAE's latents_mean/std. The runtime's diffusion contract
(docs/formats.md) passes latents as [1, C·F, h, w] (channel-major: index c·F + f); `pack`/`unpack`
convert.

In-context conditioning (IC-LoRA). The rendered clip's latents `cond` and the noisy target latents
`x` are concatenated along the frame axis, [cond | x] -> [1, C, 2F, h, w], so the transformer sees
them as one token sequence (context frames first, then targets; RoPE numbers them 0..2F-1). Every
context token gets timestep 0 (clean), every target token sigma·1000, through Wan's per-token
timestep path (the one Wan2.2 TI2V uses). The velocity of the target tokens is the output; the
flow-matching loss is taken on them only.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2"]


def pack(z: torch.Tensor) -> torch.Tensor:
    b, c, f, h, w = z.shape
    return z.reshape(b, c * f, h, w)


def unpack(z: torch.Tensor, channels: int) -> torch.Tensor:
    b, cf, h, w = z.shape
    return z.reshape(b, channels, cf // channels, h, w)


def shift_sigma(s: Any, shift: float) -> Any:
    """Flow-matching time shift, as the runtime applies it (rust/realmaster/src/model/diffusion.rs)."""
    return shift * s / (1 + (shift - 1) * s)


def sigma_grid(steps: int, shift: float) -> list[float]:
    """The runtime's schedule for `steps` uniform base sigmas: shifted, then a final 0."""
    return [float(shift_sigma(1.0 - j / steps, shift)) for j in range(steps)] + [0.0]


def runtime_noise(seed: int, n: int) -> np.ndarray:
    """The runtime's seeded noise (SplitMix64 + Box-Muller, diffusion.rs gaussian_noise), bit for bit."""
    mask = (1 << 64) - 1
    state = seed & mask
    out = np.empty(n + 1, np.float32)
    i = 0

    def nxt() -> int:
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    while i < n:
        u1 = ((nxt() >> 11) + 1.0) / float(1 << 53)
        u2 = ((nxt() >> 11) + 1.0) / float(1 << 53)
        r = math.sqrt(-2.0 * math.log(u1))
        t = 2.0 * math.pi * u2
        out[i] = np.float32(r * math.cos(t))
        out[i + 1] = np.float32(r * math.sin(t))
        i += 2
    return out[:n]


class VaeCodec(nn.Module):
    """Wan VAE with the runtime's tensor layouts: frames [1, 3T, H, W] in [0, 1] <-> packed latents."""

    def __init__(self, vae: nn.Module, window: int) -> None:
        super().__init__()
        self.vae = vae
        self.window = window
        cfg = vae.config
        self.z_dim = int(cfg.z_dim)
        self.register_buffer("mean", torch.tensor(cfg.latents_mean, dtype=torch.float32).view(1, -1, 1, 1, 1))
        self.register_buffer("std", torch.tensor(cfg.latents_std, dtype=torch.float32).view(1, -1, 1, 1, 1))

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """[B, 3, T, H, W] in [0, 1] -> normalised latents [B, C, F, h, w] (the posterior's mode)."""
        z = self.vae.encode(video * 2.0 - 1.0).latent_dist.mode()
        return (z - self.mean) / self.std

    def decode_video(self, z: torch.Tensor) -> torch.Tensor:
        x = self.vae.decode(z * self.std + self.mean).sample
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0)

    def frames_to_video(self, frames: torch.Tensor) -> torch.Tensor:
        b, c3, h, w = frames.shape
        return frames.reshape(b, c3 // 3, 3, h, w).permute(0, 2, 1, 3, 4)


class Encoder(nn.Module):
    """ONNX vae_encoder: frames [1, 3T, H, W] -> cond [1, C·F, h, w]."""

    def __init__(self, codec: VaeCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return pack(self.codec.encode_video(self.codec.frames_to_video(frames)))


class Decoder(nn.Module):
    """ONNX vae_decoder: packed latents -> the window's last frame [1, 3, H, W] in [0, 1]."""

    def __init__(self, codec: VaeCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.codec.decode_video(unpack(latents, self.codec.z_dim))[:, :, -1]


class ICDenoiser(nn.Module):
    """Velocity of the target latents given the clean in-context latents (see the module doc)."""

    def __init__(self, transformer: nn.Module, text: torch.Tensor) -> None:
        super().__init__()
        self.transformer = transformer
        self.register_buffer("text", text.float())
        self.patch = tuple(transformer.config.patch_size) if hasattr(transformer, "config") else (1, 2, 2)
        self.last_inputs: dict[str, torch.Tensor] | None = None  # for tests: what the transformer saw
        self.record = False

    def tokens(self, z: torch.Tensor) -> int:
        pt, ph, pw = self.patch
        return (z.shape[2] // pt) * (z.shape[3] // ph) * (z.shape[4] // pw)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor,
                text: torch.Tensor | None = None) -> torch.Tensor:
        """x, cond [B, C, F, h, w]; sigma [B] in [0, 1]; text [1, L, D] (default: the baked one)."""
        b = x.shape[0]
        n = self.tokens(x)
        hidden = torch.cat([cond, x], dim=2)
        t = torch.cat([torch.zeros(b, n, dtype=x.dtype, device=x.device),
                       (sigma.to(x.dtype) * 1000.0).view(b, 1).expand(b, n)], dim=1)
        if self.record:
            self.last_inputs = {"hidden_states": hidden.detach(), "timestep": t.detach()}
        text = (self.text if text is None else text).to(x.dtype).expand(b, -1, -1)
        out = self.transformer(hidden_states=hidden, timestep=t, encoder_hidden_states=text, return_dict=False)[0]
        return out[:, :, x.shape[2]:]


class PackedDenoiser(nn.Module):
    """ONNX denoiser: x [1, C·F, h, w], sigma [1], cond [1, C·F, h, w], prompt [1, D] -> v [1, C·F, h, w].

    The prompt bank maps the runtime's prompt embedding (the project's 384-d text space: presets or
    its text encoder) onto Wan's text conditioning: weights = softmax(sharpness · cos(prompt, key_w))
    over the exported looks w, text = Σ weights · text_w (each look's UMT5 embedding, precomputed).
    With one look the weight is 1 and the prompt has no effect.
    """

    def __init__(self, ic: ICDenoiser, channels: int, keys: torch.Tensor, texts: torch.Tensor,
                 sharpness: float = 20.0) -> None:
        super().__init__()
        self.ic = ic
        self.channels = channels
        self.register_buffer("keys", torch.nn.functional.normalize(keys.float(), dim=-1))  # [W, D]
        self.register_buffer("texts", texts.float())  # [W, L, Dt]
        self.sharpness = sharpness

    def text_for(self, prompt: torch.Tensor) -> torch.Tensor:
        p = torch.nn.functional.normalize(prompt.float(), dim=-1)
        wts = torch.softmax(self.sharpness * (p @ self.keys.t()), dim=-1)  # [1, W]
        return torch.einsum("bw,wld->bld", wts, self.texts)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        text = self.text_for(prompt)
        return pack(self.ic(unpack(x, self.channels), sigma, unpack(cond, self.channels), text))


@torch.no_grad()
def sample(den: Any, cond: torch.Tensor, sigmas: list[float], noise: torch.Tensor) -> torch.Tensor:
    """The runtime's Euler sampler: x = noise·σ0, x += (σk+1 − σk)·v(x, σk, cond)."""
    x = noise * sigmas[0]
    for k in range(len(sigmas) - 1):
        v = den(x, torch.tensor([sigmas[k]], dtype=x.dtype, device=x.device), cond)
        x = x + (sigmas[k + 1] - sigmas[k]) * v
    return x


# ---------------------------------------------------------------------------------------------
# Loading a base (a local WanPipeline folder: vae/, transformer/, text_encoder/, tokenizer/)


def load_vae(base: Path, dtype: torch.dtype = torch.float32) -> nn.Module:
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan.from_pretrained(str(base), subfolder="vae", torch_dtype=dtype,
                                            local_files_only=True).eval().requires_grad_(False)


def load_transformer(path: Path, subfolder: str | None, dtype: torch.dtype = torch.float32) -> nn.Module:
    from diffusers import WanTransformer3DModel

    kw = {"subfolder": subfolder} if subfolder else {}
    return WanTransformer3DModel.from_pretrained(str(path), torch_dtype=dtype, local_files_only=True, **kw).eval()


@torch.no_grad()
def encode_text(base: Path, prompts: list[str], max_tokens: int, device: str = "cpu") -> torch.Tensor:
    """Wan's text conditioning: UMT5 last hidden state, zeroed after the prompt's tokens, [N, L, D]."""
    from transformers import AutoTokenizer, UMT5EncoderModel

    tok = AutoTokenizer.from_pretrained(str(base), subfolder="tokenizer", local_files_only=True)
    enc = UMT5EncoderModel.from_pretrained(str(base), subfolder="text_encoder", local_files_only=True).eval().to(device)
    clean = [re.sub(r"\s+", " ", p).strip() for p in prompts]
    t = tok(clean, padding="max_length", max_length=max_tokens, truncation=True, add_special_tokens=True,
            return_attention_mask=True, return_tensors="pt")
    mask = t.attention_mask.to(device)
    h = enc(t.input_ids.to(device), mask).last_hidden_state
    return (h * mask[..., None]).float().cpu()


def add_lora(transformer: nn.Module, rank: int, alpha: float | None = None) -> nn.Module:
    """peft LoRA on the attention and FFN projections; every other weight frozen."""
    from peft import LoraConfig, get_peft_model

    transformer.requires_grad_(False)
    cfg = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=LORA_TARGETS, init_lora_weights=True)
    return get_peft_model(transformer, cfg)


def load_lora(transformer: nn.Module, lora_dir: Path) -> nn.Module:
    from peft import PeftModel

    return PeftModel.from_pretrained(transformer, str(lora_dir))


def merge(peft_model: nn.Module) -> nn.Module:
    return peft_model.merge_and_unload()
