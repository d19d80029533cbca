"""make-small: a small Wan base (random-init transformer, fitted VAE) for training a small real model.

The method's stages expect a WanPipeline folder (vae/, transformer/, text_encoder/, tokenizer/). With no
published weights on the machine, this builds one from small configs: the transformer and the text
encoder stay at their seeded random init (train-iclora and distill-steps train the transformer through
LoRA; the text conditioning is one fixed embedding per look), and the Wan VAE — which the method keeps
frozen — is first fitted as an autoencoder on the clips' frames (engine colour and every target), on
random crops of T-frame windows, so that its latents carry the picture. Everything after that is the
ordinary method: `train-iclora --base OUT ...`, `distill-steps`, `export`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import common, tiny, wan

SMALL_TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=16, text_dim=tiny.TEXT_DIM,
                         freq_dim=64, ffn_dim=256, num_layers=4, cross_attn_norm=True,
                         qk_norm="rms_norm_across_heads", rope_max_seq_len=64)


def small_vae(z_dim: int, base_dim: int, seed: int, spatial: int = 8) -> torch.nn.Module:
    """Wan's VAE, small: 8x spatial / 4x temporal (Wan2.1's factors) or 4x spatial / 2x temporal."""
    from diffusers import AutoencoderKLWan

    if spatial not in (4, 8):
        raise common.StageError(f"--vae-spatial must be 4 or 8, not {spatial}")
    tiny.seed_all(seed)
    dims, temporal = ([1, 2, 2, 2], [False, True, True]) if spatial == 8 else ([1, 2, 2], [False, True])
    return AutoencoderKLWan(base_dim=base_dim, z_dim=z_dim, dim_mult=dims, num_res_blocks=1,
                            temperal_downsample=temporal,
                            latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim)


def _windows(seq_dirs: list[Path], window: int, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Every T-frame window of every clip's colour and targets (resized to `size`), [T, H, W, 3] uint8."""
    import seqio

    out = []
    for d in seq_dirs:
        seq = seqio.load_sequence(d)
        streams = [seq.load_color_u8] + [lambda i, w=w: seq.load_target_u8(w, i) for w in seq.targets]
        for load in streams:
            frames = [load(i) if size is None else common._resize(load(i), size) for i in range(seq.frame_count)]
            for s in range(0, seq.frame_count - window + 1):
                out.append(np.stack(frames[s:s + window]))
    if not out:
        raise common.StageError(f"no clip with {window} frames among {[str(d) for d in seq_dirs]}")
    return out


def fit_vae(vae: torch.nn.Module, wins: list[np.ndarray], steps: int, crop: tuple[int, int], lr: float,
            seed: int, minutes: float) -> list[float]:
    vae.train().requires_grad_(True)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    cw, ch = crop
    losses: list[float] = []
    t0 = time.monotonic()
    for step in range(steps):
        w = wins[int(rng.integers(len(wins)))]
        _, h, wd, _ = w.shape
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, wd - cw + 1))
        v = torch.from_numpy(w[:, y:y + ch, x:x + cw]).float().div(127.5).sub(1.0).permute(3, 0, 1, 2)[None]
        post = vae.encode(v).latent_dist
        rec = vae.decode(post.mode()).sample
        kl = 0.5 * torch.mean(post.mean ** 2 + post.var - 1.0 - post.logvar)
        loss = torch.mean(torch.abs(rec - v)) + torch.mean((rec - v) ** 2) + 1e-6 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 25 == 0:
            common.log.info("make-small: vae step %d loss %.4f (%.0f s)", step + 1, np.mean(losses[-25:]),
                            time.monotonic() - t0)
        if minutes and time.monotonic() - t0 > minutes * 60:
            common.log.info("make-small: vae time budget reached at step %d", step + 1)
            break
    return losses


@torch.no_grad()
def latent_stats(vae: torch.nn.Module, wins: list[np.ndarray], n: int) -> tuple[list[float], list[float]]:
    vae.eval()
    zs = []
    for w in wins[:: max(1, len(wins) // n)][:n]:
        v = torch.from_numpy(w).float().div(127.5).sub(1.0).permute(3, 0, 1, 2)[None]
        zs.append(vae.encode(v).latent_dist.mode())
    z = torch.cat(zs).transpose(0, 1).reshape(zs[0].shape[1], -1)
    return z.mean(1).tolist(), z.std(1).clamp_min(1e-3).tolist()


def run(args: Any) -> int:
    from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

    common.set_threads(args.threads)
    out = Path(args.out)
    if (out / "model_index.json").exists() and not args.force:
        common.log.info("make-small: %s exists; --force rebuilds", out)
        return 0
    common.check_frames(args.window)
    crop = common.parse_size(args.crop)
    size = common.parse_size(args.size) if args.size else None
    wins = _windows([Path(d) for d in args.data], args.window, size)
    common.log.info("make-small: %d windows for the VAE", len(wins))
    t0 = time.monotonic()
    vae = small_vae(args.z_dim, args.vae_dim, args.seed, args.vae_spatial)
    losses = fit_vae(vae, wins, args.vae_steps, crop, args.vae_lr, args.seed, args.vae_minutes)
    mean, std = latent_stats(vae, wins, 32)
    vae.register_to_config(latents_mean=mean, latents_std=std)
    vae_s = time.monotonic() - t0
    tiny.seed_all(args.seed + 1)
    tr = WanTransformer3DModel(**SMALL_TRANSFORMER, in_channels=args.z_dim, out_channels=args.z_dim)
    tok = tiny.word_tokenizer()
    pipe = WanPipeline(tokenizer=tok, text_encoder=tiny.umt5_encoder(len(tok), args.seed), vae=vae.eval(),
                       transformer=tr.eval(), scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))
    pipe.save_pretrained(out)
    codec = wan.VaeCodec(vae, args.window)
    with torch.no_grad():
        psnr = []
        for w in wins[:: max(1, len(wins) // 16)][:16]:
            v = torch.from_numpy(w).float().div(255.0).permute(3, 0, 1, 2)[None]
            rec = codec.decode_video(codec.encode_video(v))
            psnr.append(float(10 * torch.log10(1.0 / torch.mean((rec[:, :, -4:] - v[:, :, -4:]) ** 2))))
    common.write_json(out / "small.json", {
        "what": "small Wan base: transformer and text encoder at seeded random init, VAE fitted here",
        "transformer": {**SMALL_TRANSFORMER, "in_channels": args.z_dim},
        "vae": {"z_dim": args.z_dim, "base_dim": args.vae_dim, "spatial": args.vae_spatial, "size": args.size, "steps": len(losses), "seconds": round(vae_s, 1),
                "crop": list(crop), "final_loss": float(np.mean(losses[-25:])), "recon_psnr_db": float(np.mean(psnr))},
        "windows": len(wins)})
    common.log.info("make-small: VAE %d steps in %.0f s, reconstruction %.2f dB", len(losses), vae_s, np.mean(psnr))
    common.record_run(out, "make-small", vars(args), [{"vae_steps": len(losses), "recon_psnr_db": float(np.mean(psnr))}])
    return 0
