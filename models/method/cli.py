"""RealMaster method toolkit: anchors -> propagate -> train-iclora -> distill-steps -> export -> distill-student.

    python -m models.method <stage> --help

Every stage reads local weights only (diffusers folders by path; nothing downloads) and resumes:
finished outputs are skipped, training continues from its newest checkpoint. See models/method/README.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import common


def _common(p: argparse.ArgumentParser, ray: bool = False) -> None:
    p.add_argument("--out", type=Path, required=True, help="output folder (created; reruns resume in it)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="redo finished outputs")
    p.add_argument("--prompts", type=Path, help="JSON {weather: prompt} overriding the built-in prompts")
    if ray:
        p.add_argument("--ray-address", help="'local' (a Ray on this machine) or a cluster address; "
                                             "without it clips run one after another in this process")
        p.add_argument("--gpus-per-task", type=float, default=0.0, help="GPUs each Ray task reserves")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m models.method", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="stage", required=True)

    p = sub.add_parser("make-tiny", help="TEST FIXTURE: save tiny random Wan / WanVACE / Qwen-Image-Edit folders")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("make-small", help="a small Wan base: random-init transformer, VAE fitted on the clips")
    _common(p)
    p.add_argument("--data", nargs="+", type=Path, required=True, help="sequence folders (colour and targets)")
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--z-dim", type=int, default=16)
    p.add_argument("--vae-dim", type=int, default=16, help="the VAE's base channel count")
    p.add_argument("--vae-spatial", type=int, default=8, choices=[4, 8],
                   help="VAE compression: 8 (8x8 spatial, 4x temporal, as Wan2.1) or 4 (4x4, 2x temporal)")
    p.add_argument("--size", help="resize the clips to WxH first (the package's size; default: as stored)")
    p.add_argument("--vae-steps", type=int, default=2000)
    p.add_argument("--vae-minutes", type=float, default=0.0, help="stop fitting the VAE after this long (0: no limit)")
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--crop", default="128x64", help="VAE training crop WxH (multiples of 8)")

    p = sub.add_parser("anchors", help="edit each clip's first and last frame per weather (image-edit pipeline)")
    _common(p, ray=True)
    p.add_argument("clips", nargs="+", type=Path, help="sequence folders")
    p.add_argument("--editor", type=Path, required=True, help="local diffusers image-edit pipeline folder "
                                                               "(Qwen-Image-Edit by default in the README)")
    p.add_argument("--weathers", nargs="+", default=["rain"])
    p.add_argument("--frames", type=int, default=81, help="clip length, 4k+1 (Wan)")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--stride", type=int, default=1, help="take every n-th frame")
    p.add_argument("--size", default="832x480", help="working size WxH (multiples of 16)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--cfg", type=float, default=4.0, help="true_cfg_scale (Qwen-Image-Edit)")
    p.add_argument("--condition-pixels", type=int, help="area of the editor's condition image (default: "
                                                        "the pipeline's own, ~1 MP for Qwen-Image-Edit)")
    p.add_argument("--dtype", default="bf16", choices=["fp32", "bf16", "fp16"])

    p = sub.add_parser("propagate", help="VACE on Wan: edge maps as control, anchors as first/last frame")
    _common(p, ray=True)
    p.add_argument("--anchors", type=Path, required=True, help="the anchors stage's --out")
    p.add_argument("--vace", type=Path, required=True, help="local WanVACEPipeline folder")
    p.add_argument("--weathers", nargs="*", help="default: every weather the anchors have")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--cfg", type=float, default=5.0)
    p.add_argument("--conditioning-scale", type=float, default=1.0)
    p.add_argument("--max-text-tokens", type=int, default=512)
    p.add_argument("--dtype", default="bf16", choices=["fp32", "bf16", "fp16"])

    p = sub.add_parser("train-iclora", help="LoRA on the Wan transformer, engine clip as clean in-context tokens")
    _common(p)
    p.add_argument("--base", type=Path, required=True, help="local WanPipeline folder (vae/, transformer/, "
                                                            "text_encoder/, tokenizer/)")
    p.add_argument("--transformer-subfolder", default="transformer",
                   help="transformer (TI2V-5B, Wan2.1) or transformer_2 (Wan2.2 A14B low-noise expert)")
    p.add_argument("--data", nargs="+", type=Path, required=True, help="paired sequence folders (propagate's "
                                                                       "clips, or any with targets/<weather>)")
    p.add_argument("--weather", default="rain")
    p.add_argument("--window", type=int, default=5, help="frames per training window, 4k+1 (= the package's T)")
    p.add_argument("--window-stride", type=int, default=4)
    p.add_argument("--size", help="resize windows to WxH (default: the sequence's size)")
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--shift", type=float, default=3.0)
    p.add_argument("--max-text-tokens", type=int, default=512)
    p.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=10)

    p = sub.add_parser("distill-steps", help="progressive distillation of the merged model to K steps")
    _common(p)
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--lora", type=Path, required=True, help="train-iclora's OUT/lora")
    p.add_argument("--transformer-subfolder", default=None)
    p.add_argument("--data", nargs="+", type=Path, required=True)
    p.add_argument("--weather", default=None, help="default: the LoRA's")
    p.add_argument("--window", type=int, default=0, help="default: the LoRA's")
    p.add_argument("--window-stride", type=int, default=4)
    p.add_argument("--size")
    p.add_argument("--k", type=int, default=4, help="student steps: 1, 2 or 4 (8 allowed)")
    p.add_argument("--teacher-steps", type=int, default=32, help="K times a power of two")
    p.add_argument("--iters-per-round", type=int, default=500)
    p.add_argument("--rank", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--shift", type=float, default=3.0)
    p.add_argument("--max-text-tokens", type=int, default=0, help="default: the LoRA's")

    p = sub.add_parser("export", help="ONNX vae_encoder/denoiser/vae_decoder as a kind: diffusion package")
    _common(p)
    p.add_argument("--distilled", type=Path, required=True, help="distill-steps' --out")
    p.add_argument("--base", type=Path, help="default: the one distill-steps used")
    p.add_argument("--size", required=True, help="the package's fixed input size WxH")
    p.add_argument("--clip", type=Path, help="a sequence folder for the end-to-end sampler parity check")
    p.add_argument("--name", default="realmaster-iclora")
    p.add_argument("--model-version", default="0.1.0")
    p.add_argument("--license", default="Apache-2.0")
    p.add_argument("--weathers", nargs="*", help="looks in the prompt bank (default: the distilled one's weather)")
    p.add_argument("--presets", type=Path, default=Path(__file__).resolve().parents[1] / "realmaster-student" / "presets.json",
                   help="the runtime's preset embeddings (keys of the prompt bank)")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--tol", type=float, default=1e-3, help="largest ONNX-vs-PyTorch difference allowed")

    p = sub.add_parser("distill-student", help="run the exported teacher over clips: student training targets")
    _common(p, ray=True)
    p.add_argument("clips", nargs="+", type=Path)
    p.add_argument("--package", type=Path, required=True)
    p.add_argument("--prompt", help="preset of the package to run (default: its default); names targets/<prompt>/")
    p.add_argument("--frames", type=int, default=0, help="first N frames (0: all)")
    p.add_argument("--provider", default="cpu", choices=["cpu", "cuda"])
    return ap


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="method: %(message)s", stream=sys.stderr)
    args = parser().parse_args(argv)
    try:
        if args.stage == "make-tiny":
            from . import tiny

            tiny.save_all(args.out, args.seed)
            return 0
        from . import anchors, distill, export, iclora, propagate, small, student

        stage = {"anchors": anchors, "propagate": propagate, "train-iclora": iclora, "distill-steps": distill,
                 "export": export, "distill-student": student, "make-small": small}[args.stage]
        return stage.run(args)
    except common.StageError as e:
        print(f"method {args.stage}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
