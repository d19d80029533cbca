"""Stage 4, distill-steps: progressive distillation of the merged IC-LoRA model down to K steps.

Recipe: progressive distillation (Salimans & Ho, 2022) in its flow-matching form. The teacher runs
N0 = K·2^R Euler steps on the runtime's own shifted grid; each round trains a student (the teacher
plus a fresh LoRA, merged after the round) so that ONE Euler step over [σ_2i, σ_2i+2] lands where
the teacher's TWO steps land: v* = (x_2i+2 − x_2i) / (σ_2i+2 − σ_2i), loss ‖v_S(x_2i, σ_2i) − v*‖².
Each round halves the steps, R rounds reach K. Why this one: it needs no discriminator and no
auxiliary score network (DMD, adversarial) and no consistency-function reparameterisation (rCM),
it is deterministic, it keeps the exact Euler sampler and sigma grid the runtime runs (the student
is trained on precisely the steps it will take), and for a LoRA it costs little memory. Its known
weakness is softness at K = 1; DMD/adversarial fine-tuning on top is the documented next step.

Input: the base (WanPipeline folder) + train-iclora's LoRA, merged; the same paired windows.
Output: OUT/transformer/ (a diffusers WanTransformer3DModel folder, LoRA merged and distilled) and
OUT/schedule.json (K, base sigmas, shift) that export writes into the manifest. Resume: each finished
round is saved (OUT/rounds/round-r/) and skipped on a rerun.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import common, iclora, wan


def teacher_two_steps(teacher: wan.ICDenoiser, x: torch.Tensor, cond: torch.Tensor, sa: float, sb: float,
                      sc: float) -> torch.Tensor:
    """The velocity that takes x from σa to where two teacher Euler steps (σa→σb→σc) land."""
    with torch.no_grad():
        b = x.shape[0]
        xb = x + (sb - sa) * teacher(x, torch.full((b,), sa), cond)
        xc = xb + (sc - sb) * teacher(xb, torch.full((b,), sb), cond)
    return (xc - x) / (sc - sa)


def run(args: Any) -> int:
    common.set_threads(args.threads)
    out = Path(args.out)
    if args.k not in (1, 2, 4, 8):
        raise common.StageError("--k must be 1, 2, 4 or 8")
    if args.teacher_steps % args.k or (args.teacher_steps // args.k) & (args.teacher_steps // args.k - 1):
        raise common.StageError("--teacher-steps must be K times a power of two")
    if (out / "schedule.json").exists() and not args.force:
        common.log.info("distill-steps: %s/schedule.json exists (finished); --force redoes it", out)
        return 0
    train = common.read_json(Path(args.lora).parent / "train.json") if (Path(args.lora).parent / "train.json").exists() else {}
    base = Path(args.base)
    window = args.window or train.get("window", 5)
    max_tokens = args.max_text_tokens or train.get("max_text_tokens", 512)
    prompts = common.load_prompts(args.prompts, common.VIDEO_PROMPTS)
    weather = args.weather or train.get("weather", "rain")
    dev = common.device_of(args.device)
    size = common.parse_size(args.size) if args.size else None

    codec = wan.VaeCodec(wan.load_vae(base), window).to(dev)
    data = iclora.encode_windows(codec, [Path(p) for p in args.data], weather, window, args.window_stride, size, dev)
    del codec
    text = wan.encode_text(base, [prompts[weather]], max_tokens, dev)
    transformer = wan.load_transformer(base, args.transformer_subfolder or train.get("transformer_subfolder"))
    transformer = wan.merge(wan.load_lora(transformer, Path(args.lora))).to(dev)

    rounds = int(round(np.log2(args.teacher_steps // args.k)))
    steps = args.teacher_steps
    history: list[dict[str, Any]] = []
    for r in range(rounds):
        rdir = out / "rounds" / f"round-{r}"
        student_steps = steps // 2
        if (rdir / "done.json").exists() and not args.force:
            transformer = wan.load_transformer(rdir, None).to(dev)
            history.append(common.read_json(rdir / "done.json"))
            steps = student_steps
            common.log.info("distill-steps: round %d done before (%d steps), loaded", r, student_steps)
            continue
        teacher = wan.ICDenoiser(copy.deepcopy(transformer).requires_grad_(False), text).to(dev)
        student_model = wan.add_lora(copy.deepcopy(transformer), args.rank)
        student = wan.ICDenoiser(student_model, text).to(dev)
        opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=args.lr)
        grid = wan.sigma_grid(steps, args.shift)
        losses = []
        for it in range(args.iters_per_round):
            gen = torch.Generator().manual_seed(args.seed * 7919 + r * 100_003 + it)
            idx = torch.randint(0, len(data.ctx), (args.batch,), generator=gen)
            i = int(torch.randint(0, student_steps, (1,), generator=gen))
            sa, sb, sc = grid[2 * i], grid[2 * i + 1], grid[2 * i + 2]
            x0, cond = data.tgt[idx].to(dev), data.ctx[idx].to(dev)
            eps = torch.randn(x0.shape, generator=gen).to(dev)
            x = (1 - sa) * x0 + sa * eps
            target = teacher_two_steps(teacher, x, cond, sa, sb, sc)
            v = student(x, torch.full((x.shape[0],), sa, device=dev), cond)
            loss = torch.mean((v - target) ** 2)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
        transformer = wan.merge(student.transformer)
        transformer.save_pretrained(str(rdir))
        rec = {"round": r, "teacher_steps": steps, "student_steps": student_steps, "losses": losses}
        common.write_json(rdir / "done.json", rec)
        history.append(rec)
        common.log.info("distill-steps: round %d: %d -> %d steps, loss %.5f -> %.5f", r, steps, student_steps,
                        losses[0] if losses else float("nan"), losses[-1] if losses else float("nan"))
        steps = student_steps
    transformer.save_pretrained(str(out / "transformer"))
    schedule = {"k": args.k, "sigmas": [1.0 - j / args.k for j in range(args.k)], "shift": args.shift,
                "teacher_steps": args.teacher_steps, "recipe": "progressive distillation (flow-matching Euler)",
                "weather": weather, "prompt": prompts[weather], "window": window, "max_text_tokens": max_tokens,
                "base": str(base), "lora": str(args.lora), "rounds": history}
    common.write_json(out / "schedule.json", schedule)
    common.record_run(out, "distill-steps", vars(args), [{"k": args.k, "rounds": len(history)}])
    return 0
