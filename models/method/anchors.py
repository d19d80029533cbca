"""Stage 1, anchors: the first and last frame of each clip edited by an image-edit pipeline, per weather.

Default editor: QwenImageEditPipeline; any diffusers image-edit pipeline folder works (`--editor
PATH`, loaded with DiffusionPipeline.from_pretrained; it must take `image=` and `prompt=`). Output:
OUT/<clip>/<weather>/{first,last}.png and anchors.json (prompt, seed, frame indices); finished
clips are skipped, so a rerun resumes. One Ray task per clip with --ray-address.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import common


def load_pipeline(path: Path, device: str, dtype: str):  # noqa: ANN201
    """A local diffusers pipeline folder. Qwen2-VL processors are read without torchvision."""
    from diffusers import DiffusionPipeline

    kwargs: dict[str, Any] = {"torch_dtype": common.torch_dtype(dtype)}
    proc = Path(path) / "processor"
    if (proc / "preprocessor_config.json").exists():
        from .tiny_qwen import load_processor

        kwargs["processor"] = load_processor(proc)
    pipe = DiffusionPipeline.from_pretrained(str(path), local_files_only=True, **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


@contextlib.contextmanager
def condition_area(pipe: Any, pixels: int | None) -> Iterator[None]:
    """Qwen-Image-Edit resizes the input image to a ~1 MP condition; `pixels` overrides that area."""
    import sys

    mod = sys.modules.get(type(pipe).__module__)
    orig = getattr(mod, "calculate_dimensions", None)
    if pixels is None or orig is None:
        yield
        return
    mod.calculate_dimensions = lambda _area, ratio: orig(pixels, ratio)  # type: ignore[union-attr]
    try:
        yield
    finally:
        mod.calculate_dimensions = orig  # type: ignore[union-attr]


def edit_clip(job: dict[str, Any]) -> dict[str, Any]:
    import torch
    from PIL import Image

    common.set_threads(job.get("threads"))
    out = Path(job["out"]) / job["clip_name"]
    done = out / "anchors.json"
    if done.exists() and not job["force"]:
        return {"clip": job["clip_name"], "skipped": True}
    clip = common.load_clip(Path(job["clip"]), job["frames"], tuple(job["size"]), job["start"], job["stride"])
    pipe = load_pipeline(Path(job["editor"]), common.device_of(job["device"]), job["dtype"])
    w, h = clip.size
    record: dict[str, Any] = {"clip": str(clip.root), "frames": clip.indices, "size": [w, h],
                              "editor": str(job["editor"]), "steps": job["steps"], "weathers": {}}
    for wi, weather in enumerate(job["weathers"]):
        prompt = job["prompts"][weather]
        seeds = {}
        for which, k in (("first", 0), ("last", len(clip.indices) - 1)):
            seed = int(job["seed"]) * 1000 + wi * 2 + (k > 0)
            kwargs: dict[str, Any] = {"image": Image.fromarray(clip.color[k]), "prompt": prompt, "height": h,
                                      "width": w, "num_inference_steps": job["steps"], "output_type": "np",
                                      "generator": torch.Generator("cpu").manual_seed(seed)}
            if "true_cfg_scale" in pipe.__call__.__code__.co_varnames:
                kwargs["true_cfg_scale"] = job["cfg"]
            with condition_area(pipe, job.get("condition_pixels")), torch.inference_mode():
                img = pipe(**kwargs).images[0]
            common.write_png(out / weather / f"{which}.png", common.to_u8(np.asarray(img)))
            seeds[which] = seed
        record["weathers"][weather] = {"prompt": prompt, "seeds": seeds}
    common.write_json(done, record)
    return {"clip": job["clip_name"], "skipped": False, "weathers": list(record["weathers"])}


def run(args: Any) -> int:
    size = common.parse_size(args.size)
    common.check_frames(args.frames)
    prompts = common.load_prompts(args.prompts, common.EDIT_PROMPTS)
    missing = [w for w in args.weathers if w not in prompts]
    if missing:
        raise common.StageError(f"no prompt for weather(s) {missing}; add them with --prompts FILE")
    jobs = [{"clip": str(c), "clip_name": Path(c).name, "out": str(args.out), "editor": str(args.editor),
             "weathers": args.weathers, "prompts": prompts, "frames": args.frames, "start": args.start,
             "stride": args.stride, "size": list(size), "steps": args.steps, "cfg": args.cfg, "seed": args.seed,
             "device": args.device, "dtype": args.dtype, "threads": args.threads, "force": args.force,
             "condition_pixels": args.condition_pixels} for c in args.clips]
    results = common.fan_out(edit_clip, jobs, args.ray_address, num_gpus=args.gpus_per_task)
    common.record_run(Path(args.out), "anchors", vars(args), results)
    for r in results:
        common.log.info("anchors: %s", r)
    return 0
