"""Stage 6, distill-student: the exported teacher package run over clips, written as student targets.

For every frame t of each clip, the package's window (the last T frames, oldest first, the oldest
repeated before the clip start; docs/formats.md) goes through the package's own graphs with the
runtime's sampler and seeded noise (export.ort_sample), and the decoded frame is written as
targets/<weather>/NNNN.png beside the engine frames at the package's size. models/training reads
the result like any sequence folder (`--data OUT`). Finished clips are skipped; one Ray task per clip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import common, export, wan


def teach_clip(job: dict[str, Any]) -> dict[str, Any]:
    import seqio

    common.set_threads(job.get("threads"))
    out = Path(job["out"]) / Path(job["clip"]).name
    if (out / "sequence.json").exists() and not job["force"]:
        return {"clip": out.name, "skipped": True}
    pkg = Path(job["package"])
    man = json.loads((pkg / "manifest.json").read_text())
    d = man["diffusion"]
    w, h = man["resolution"]["size"]
    window = int(man["window"])
    seq = seqio.load_sequence(Path(job["clip"]))
    n = min(seq.frame_count, job["frames"] or seq.frame_count)
    clip = common.load_clip(Path(job["clip"]), n, (w, h))
    sess = {"vae_encoder": export.ort_session(pkg / d["vae_encoder"], job["provider"]),
            "denoiser": export.ort_session(pkg / d["denoiser"], job["provider"]),
            "vae_decoder": export.ort_session(pkg / d["vae_decoder"], job["provider"])}
    sig = export.runtime_sigmas(d)
    bank = json.loads((pkg / man["prompt"]["presets"]).read_text())["presets"]
    prompt = np.asarray([bank[job["prompt"] or man["prompt"]["default"]]], np.float32)
    frames01 = clip.color.astype(np.float32) / 255.0
    outs = []
    start = 0
    for t in range(n):
        if t in seq.cuts:
            start = t
        idx = [max(start, t - window + 1 + i) for i in range(window)]
        win = frames01[idx].transpose(0, 3, 1, 2).reshape(1, 3 * window, h, w)
        rgb = export.ort_sample(sess, np.ascontiguousarray(win), sig, job["seed"], prompt)
        outs.append(common.to_u8(rgb[0].transpose(1, 2, 0)))
    weather = job["prompt"] or man["prompt"]["default"]
    common.write_paired_sequence(out, clip, {weather: np.stack(outs)},
                                 {"generator": "models.method distill-student", "teacher": str(pkg),
                                  "teacher_manifest_sha256": common.sha256_file(pkg / "manifest.json")})
    return {"clip": out.name, "skipped": False, "frames": n}


def run(args: Any) -> int:
    jobs = [{"clip": str(c), "out": str(args.out), "package": str(args.package), "prompt": args.prompt,
             "frames": args.frames, "seed": args.seed, "provider": args.provider, "threads": args.threads,
             "force": args.force} for c in args.clips]
    results = common.fan_out(teach_clip, jobs, args.ray_address, num_gpus=args.gpus_per_task)
    common.record_run(Path(args.out), "distill-student", vars(args), results)
    for r in results:
        common.log.info("distill-student: %s", r)
    return 0


__all__ = ["run", "teach_clip", "wan"]
