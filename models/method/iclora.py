"""Stage 3, train-iclora: a LoRA on Wan's transformer that maps rendered clips to their photoreal clips.

Data: paired sequence folders (propagate's output, or any sequence folder with targets/<weather>/),
cut into windows of T = 4k+1 frames; the VAE (frozen) encodes engine and target windows once.
Model: the base transformer, frozen, with a peft LoRA (rank 32 by default) on its attention and FFN
projections, run as wan.ICDenoiser: engine latents are clean in-context tokens (timestep 0) beside
the noisy targets x_σ = (1 − σ)·x0 + σ·ε; loss = MSE(v, ε − x0) on the target tokens only.
Scale-out: accelerate (`accelerate launch` or `torchrun --nproc-per-node N -m models.method
train-iclora ...`; each rank draws its own windows). Resume: OUT/checkpoints/step-N holds the LoRA,
the optimiser and the step; a rerun continues from the newest one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import common, wan


@dataclass
class Windows:
    """Encoded training windows for one weather: engine (context) and target latents [N, C, F, h, w]."""

    ctx: torch.Tensor
    tgt: torch.Tensor


def window_starts(n_frames: int, window: int, stride: int) -> list[int]:
    return list(range(0, n_frames - window + 1, max(1, stride)))


@torch.no_grad()
def encode_windows(codec: wan.VaeCodec, seq_dirs: list[Path], weather: str, window: int, stride: int,
                   size: tuple[int, int] | None, device: str) -> Windows:
    import seqio

    ctx, tgt = [], []
    for d in seq_dirs:
        seq = seqio.load_sequence(d)
        if weather not in seq.targets:
            continue
        sz = size or (seq.width, seq.height)
        for s in window_starts(seq.frame_count, window, stride):
            eng = np.stack([common._resize(seq.load_color_u8(i), sz) for i in range(s, s + window)])
            tar = np.stack([common._resize(seq.load_target_u8(weather, i), sz) for i in range(s, s + window)])
            for a, dst in ((eng, ctx), (tar, tgt)):
                v = torch.from_numpy(a).float().div(255.0).permute(3, 0, 1, 2)[None].to(device)
                dst.append(codec.encode_video(v).cpu())
    if not ctx:
        raise common.StageError(f"no sequence among {[str(d) for d in seq_dirs]} has targets for {weather!r} "
                                f"with {window} frames")
    return Windows(torch.cat(ctx), torch.cat(tgt))


def flow_batch(w: Windows, idx: torch.Tensor, gen: torch.Generator, shift: float,
               sigma: float | None = None) -> dict[str, torch.Tensor]:
    """Clean context, noisy targets at shifted-uniform σ, and the velocity target ε − x0."""
    x0 = w.tgt[idx]
    eps = torch.randn(x0.shape, generator=gen)
    u = torch.rand(len(idx), generator=gen) if sigma is None else torch.full((len(idx),), sigma)
    s = wan.shift_sigma(u, shift)
    sb = s.view(-1, 1, 1, 1, 1)
    return {"cond": w.ctx[idx], "x": (1 - sb) * x0 + sb * eps, "sigma": s, "v": eps - x0}


def flow_loss(den: wan.ICDenoiser, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    v = den(batch["x"], batch["sigma"], batch["cond"])
    return torch.mean((v.float() - batch["v"].float()) ** 2)


def lora_params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: p for k, p in model.named_parameters() if p.requires_grad}


def latest_checkpoint(out: Path) -> Path | None:
    cks = sorted((out / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    cks = [c for c in cks if (c / "state.pt").exists()]
    return cks[-1] if cks else None


def run(args: Any) -> int:
    from accelerate import Accelerator

    common.set_threads(args.threads)
    out = Path(args.out)
    acc = Accelerator(mixed_precision=args.mixed_precision, cpu=args.device == "cpu")
    dev = str(acc.device)
    common.check_frames(args.window)
    size = common.parse_size(args.size) if args.size else None
    prompts = common.load_prompts(args.prompts, common.VIDEO_PROMPTS)
    if (out / "lora" / "adapter_config.json").exists() and not args.force:
        common.log.info("train-iclora: %s/lora exists (finished); --force retrains", out)
        return 0

    codec = wan.VaeCodec(wan.load_vae(Path(args.base)), args.window).to(dev)
    data = encode_windows(codec, [Path(p) for p in args.data], args.weather, args.window, args.window_stride,
                          size, dev)
    del codec
    text = wan.encode_text(Path(args.base), [prompts[args.weather]], args.max_text_tokens, dev)
    transformer = wan.load_transformer(Path(args.base), args.transformer_subfolder)
    if args.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    model = wan.add_lora(transformer, args.rank)
    den = wan.ICDenoiser(model, text)
    opt = torch.optim.AdamW([p for p in den.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.0)
    den, opt = acc.prepare(den, opt)

    step = 0
    ck = latest_checkpoint(out)
    if ck is not None and not args.force:
        st = torch.load(ck / "state.pt", map_location="cpu", weights_only=False)
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, st["lora"])
        opt.load_state_dict(st["optimizer"])
        step = st["step"]
        common.log.info("train-iclora: resuming from %s (step %d)", ck, step)

    losses: list[float] = []
    n = len(data.ctx)
    while step < args.steps:
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step * 101 + acc.process_index)
        idx = torch.randint(0, n, (args.batch,), generator=gen)
        batch = {k: v.to(dev) for k, v in flow_batch(data, idx, gen, args.shift).items()}
        with acc.autocast():
            loss = flow_loss(den, batch)
        acc.backward(loss)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        losses.append(float(loss.detach()))
        if step % args.log_every == 0:
            common.log.info("train-iclora: step %d loss %.5f", step, np.mean(losses[-args.log_every:]))
        if acc.is_main_process and (step % args.checkpoint_every == 0 or step == args.steps):
            from peft import get_peft_model_state_dict

            ckd = out / "checkpoints" / f"step-{step}"
            ckd.mkdir(parents=True, exist_ok=True)
            tmp = ckd / "state.pt.tmp"
            torch.save({"lora": get_peft_model_state_dict(acc.unwrap_model(den).transformer),
                        "optimizer": opt.state_dict(), "step": step}, tmp)
            tmp.replace(ckd / "state.pt")
    acc.wait_for_everyone()
    if acc.is_main_process:
        acc.unwrap_model(den).transformer.save_pretrained(str(out / "lora"))
        common.write_json(out / "train.json", {
            "base": str(args.base), "weather": args.weather, "prompt": prompts[args.weather], "rank": args.rank,
            "window": args.window, "steps": args.steps, "lr": args.lr, "shift": args.shift,
            "windows": n, "latent_shape": list(data.ctx.shape[1:]), "losses": losses,
            "max_text_tokens": args.max_text_tokens, "transformer_subfolder": args.transformer_subfolder})
        common.record_run(out, "train-iclora", vars(args), [{"steps": step, "final_loss": losses[-1] if losses else None}])
    return 0
