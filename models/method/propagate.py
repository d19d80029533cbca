"""Stage 2, propagate: VACE on Wan carries the anchors' look through the clip, guided by edge maps.

The control video is the render's edge maps (models/training/imgops.py: the runtime's recipe), white
on black. VACE's masked frame conditioning keeps the two anchors: the first and last frames of the
conditioning video are the edited anchors with mask 0 (keep), the frames between are edge maps
with mask 1 (generate under that control). Output per clip: a sequence folder (docs/formats.md)
with the engine frames as color/ and the photoreal clip per weather as targets/<weather>/, which
train-iclora and models/training read. Finished clips are skipped; one Ray task per clip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import common


def control_video(clip: common.Clip, first: np.ndarray, last: np.ndarray) -> tuple[list[Any], list[Any]]:
    """(video, mask) PIL lists for WanVACEPipeline: anchors kept at both ends, edges between."""
    from PIL import Image

    n = len(clip.indices)
    video, mask = [], []
    h, w = clip.color.shape[1:3]
    for i in range(n):
        if i == 0 or i == n - 1:
            video.append(Image.fromarray(first if i == 0 else last))
            mask.append(Image.new("L", (w, h), 0))
        else:
            e = (clip.edges[i] * 255).astype(np.uint8)
            video.append(Image.fromarray(np.repeat(e[..., None], 3, axis=2)))
            mask.append(Image.new("L", (w, h), 255))
    return video, mask


def propagate_clip(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    from .anchors import load_pipeline

    common.set_threads(job.get("threads"))
    out = Path(job["out"]) / job["clip_name"]
    if (out / "sequence.json").exists() and not job["force"]:
        return {"clip": job["clip_name"], "skipped": True}
    anchors_dir = Path(job["anchors"]) / job["clip_name"]
    rec = common.read_json(anchors_dir / "anchors.json")
    w, h = rec["size"]
    frames = rec["frames"]
    stride = frames[1] - frames[0] if len(frames) > 1 else 1
    clip = common.load_clip(Path(rec["clip"]), len(frames), (w, h), frames[0], stride)
    pipe = load_pipeline(Path(job["vace"]), common.device_of(job["device"]), job["dtype"])
    targets: dict[str, np.ndarray] = {}
    seeds: dict[str, int] = {}
    for wi, weather in enumerate(job["weathers"] or list(rec["weathers"])):
        import seqio  # models/training, on the path through common

        first = seqio.read_png_u8(anchors_dir / weather / "first.png")
        last = seqio.read_png_u8(anchors_dir / weather / "last.png")
        video, mask = control_video(clip, first, last)
        seed = int(job["seed"]) * 1000 + wi
        with torch.inference_mode():
            res = pipe(prompt=job["prompts"][weather], video=video, mask=mask, height=h, width=w,
                       num_frames=len(frames), num_inference_steps=job["steps"], guidance_scale=job["cfg"],
                       conditioning_scale=job["conditioning_scale"], max_sequence_length=job["max_text_tokens"],
                       generator=torch.Generator("cpu").manual_seed(seed), output_type="np")
        targets[weather] = common.to_u8(res.frames[0])
        seeds[weather] = seed
    common.write_paired_sequence(out, clip, targets, {
        "generator": "models.method propagate", "vace": str(job["vace"]), "seeds": seeds,
        "prompts": {w: job["prompts"][w] for w in targets}, "anchors": str(anchors_dir)})
    return {"clip": job["clip_name"], "skipped": False, "weathers": list(targets)}


def run(args: Any) -> int:
    prompts = common.load_prompts(args.prompts, common.VIDEO_PROMPTS)
    clips = sorted(p.name for p in Path(args.anchors).iterdir() if (p / "anchors.json").exists())
    if not clips:
        raise common.StageError(f"{args.anchors}: no finished anchors (run the anchors stage first)")
    jobs = [{"clip_name": c, "anchors": str(args.anchors), "out": str(args.out), "vace": str(args.vace),
             "weathers": args.weathers, "prompts": prompts, "steps": args.steps, "cfg": args.cfg,
             "conditioning_scale": args.conditioning_scale, "max_text_tokens": args.max_text_tokens,
             "seed": args.seed, "device": args.device, "dtype": args.dtype, "threads": args.threads,
             "force": args.force} for c in clips]
    results = common.fan_out(propagate_clip, jobs, args.ray_address, num_gpus=args.gpus_per_task)
    common.record_run(Path(args.out), "propagate", vars(args), results)
    for r in results:
        common.log.info("propagate: %s", r)
    return 0
