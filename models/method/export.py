"""Stage 5, export: the step-reduced IC-LoRA model as a `kind: diffusion` runtime package.

Graphs (docs/formats.md, rust/realmaster/src/model/diffusion.rs):
- vae_encoder.onnx: frames [1, 3T, H, W] (the runtime's window, sRGB 0..1) -> cond [1, C·F, h, w],
  the engine clip's normalised Wan latents: the in-context tokens;
- denoiser.onnx: x, sigma [1], cond -> v: the merged, distilled transformer with [cond | x] in
  context, cond at timestep 0; the prompt's text embedding is baked in (one package per look);
- vae_decoder.onnx: latents -> rgb [1, 3, H, W], the window's last frame.
The manifest carries the K-step schedule (base sigmas + shift; the runtime shifts them and appends
0). Parity: each graph under ONNX Runtime against PyTorch on the same inputs, and the whole K-step
sampler with the runtime's own noise; the maxima go to parity.json and the stage fails above --tol.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import common, wan


PRESETS = Path(__file__).resolve().parents[1] / "realmaster-student" / "presets.json"


def build_modules(base: Path, transformer_dir: Path, schedule: dict[str, Any], window: int,
                  looks: dict[str, str], presets: dict[str, list[float]], dev: str = "cpu"
                  ) -> tuple[wan.Encoder, wan.PackedDenoiser, wan.Decoder]:
    """`looks`: weather -> Wan prompt; each weather's key is its runtime preset embedding."""
    codec = wan.VaeCodec(wan.load_vae(base), window).to(dev).eval()
    names = list(looks)
    texts = wan.encode_text(base, [looks[n] for n in names], int(schedule["max_text_tokens"]), dev)
    keys = torch.tensor([presets[n] for n in names], dtype=torch.float32)
    tr = wan.load_transformer(transformer_dir, None).to(dev).eval().requires_grad_(False)
    den = wan.PackedDenoiser(wan.ICDenoiser(tr, texts[:1]), codec.z_dim, keys, texts).eval()
    return wan.Encoder(codec).eval(), den, wan.Decoder(codec).eval()


def _export(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], names: list[str], out_name: str,
            path: Path, opset: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad():
        prog = torch.onnx.export(module, inputs, input_names=names, output_names=[out_name], dynamo=True,
                                 opset_version=opset, verbose=False)
    prog.save(str(tmp))
    if Path(str(tmp) + ".data").exists():
        raise common.StageError(f"{path.name} needs external data (>2 GB): export at fp16 or split the graph")
    tmp.replace(path)


def ort_session(path: Path, provider: str = "cpu"):  # noqa: ANN201
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    eps = ["CUDAExecutionProvider", "CPUExecutionProvider"] if provider == "cuda" else ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), opts, providers=eps)


def runtime_sigmas(schedule: dict[str, Any]) -> list[float]:
    return [float(np.float32(wan.shift_sigma(np.float32(s), np.float32(schedule["shift"]))))
            for s in schedule["sigmas"] if s > 0] + [0.0]


def ort_sample(sessions: dict[str, Any], frames: np.ndarray, sigmas: list[float], seed: int,
               prompt: np.ndarray) -> np.ndarray:
    """The runtime's per-frame computation under ONNX Runtime (encoder, Euler over the denoiser, decoder)."""
    enc, den, dec = sessions["vae_encoder"], sessions["denoiser"], sessions["vae_decoder"]
    cond = enc.run(None, {enc.get_inputs()[0].name: frames})[0]
    x = wan.runtime_noise(seed, cond.size).reshape(cond.shape) * np.float32(sigmas[0])
    for k in range(len(sigmas) - 1):
        v = den.run(None, {"x": x, "sigma": np.array([sigmas[k]], np.float32), "cond": cond, "prompt": prompt})[0]
        x = x + np.float32(sigmas[k + 1] - sigmas[k]) * v
    return dec.run(None, {dec.get_inputs()[0].name: x})[0]


def run(args: Any) -> int:
    common.set_threads(args.threads)
    out = Path(args.out)
    if (out / "manifest.json").exists() and not args.force:
        common.log.info("export: %s/manifest.json exists; --force re-exports", out)
        return 0
    dist = Path(args.distilled)
    schedule = common.read_json(dist / "schedule.json")
    base = Path(schedule["base"]) if args.base is None else Path(args.base)
    window = int(schedule["window"])
    w, h = common.parse_size(args.size)
    bank = common.read_json(Path(args.presets))
    prompts = common.load_prompts(args.prompts, common.VIDEO_PROMPTS)
    weathers = args.weathers or [schedule["weather"]]
    missing = [w for w in weathers if w not in bank["presets"] or w not in prompts]
    if missing:
        raise common.StageError(f"weather(s) {missing} have no preset embedding in {args.presets} or no prompt")
    looks = {w: (schedule["prompt"] if w == schedule["weather"] else prompts[w]) for w in weathers}
    enc, den, dec = build_modules(base, dist / "transformer", schedule, window, looks, bank["presets"])

    if out.exists() and args.force:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    frames = torch.rand(1, 3 * window, h, w, generator=gen)
    with torch.no_grad():
        cond = enc(frames)
    x = torch.randn(cond.shape, generator=gen)
    sigma = torch.tensor([0.7])
    prompt = torch.tensor([bank["presets"][weathers[0]]], dtype=torch.float32)
    _export(enc, (frames,), ["frames"], "cond", out / "vae_encoder.onnx", args.opset)
    _export(den, (x, sigma, cond, prompt), ["x", "sigma", "cond", "prompt"], "v", out / "denoiser.onnx", args.opset)
    _export(dec, (cond,), ["latents"], "rgb", out / "vae_decoder.onnx", args.opset)

    # Parity: graph by graph, then the whole K-step sampler on a real window if one is given.
    sess = {n: ort_session(out / f"{n}.onnx") for n in ("vae_encoder", "denoiser", "vae_decoder")}
    with torch.no_grad():
        ref = {"vae_encoder": cond.numpy(), "denoiser": den(x, sigma, cond, prompt).numpy(), "vae_decoder": dec(cond).numpy()}
    got = {"vae_encoder": sess["vae_encoder"].run(None, {"frames": frames.numpy()})[0],
           "denoiser": sess["denoiser"].run(None, {"x": x.numpy(), "sigma": sigma.numpy(), "cond": cond.numpy(),
                                                    "prompt": prompt.numpy()})[0],
           "vae_decoder": sess["vae_decoder"].run(None, {"latents": cond.numpy()})[0]}
    parity = {n: float(np.abs(ref[n] - got[n]).max()) for n in ref}
    sig = runtime_sigmas(schedule)
    if args.clip:
        clip = common.load_clip(Path(args.clip), window, (w, h))
        frames = torch.from_numpy(clip.color).float().div(255).permute(0, 3, 1, 2).reshape(1, 3 * window, h, w)
    noise = torch.from_numpy(wan.runtime_noise(args.seed, cond.numel()).reshape(cond.shape))
    with torch.no_grad():
        ref_rgb = dec(wan.sample(lambda a, b, c: den(a, b, c, prompt), enc(frames), sig, noise)).numpy()
    ort_rgb = ort_sample(sess, frames.numpy(), sig, args.seed, prompt.numpy())
    parity["sampler_rgb"] = float(np.abs(ref_rgb - ort_rgb).max())
    common.write_json(out / "parity.json", {"max_abs_diff": parity, "tol": args.tol, "sigmas": sig,
                                            "seed": args.seed})
    bad = {k: v for k, v in parity.items() if not v <= args.tol}
    if bad:
        raise common.StageError(f"ONNX-vs-PyTorch parity above {args.tol}: {bad}")

    fixture = (base / "TINY_RANDOM_TEST_FIXTURE.txt").exists()
    desc = (f"RealMaster IC-LoRA on Wan ({schedule['weather']}: {schedule['prompt']!r}), "
            f"{schedule['k']}-step ({schedule['recipe']}), window {window}.")
    if fixture:
        desc = "TEST FIXTURE ONLY: tiny random weights, not a model. " + desc
    common.write_json(out / "presets.json", {"dim": bank["dim"], "presets": bank["presets"]})
    files = ["vae_encoder.onnx", "denoiser.onnx", "vae_decoder.onnx", "presets.json"]
    manifest = {
        "format": "realmaster-model", "version": 1,
        "name": args.name, "model_version": args.model_version,
        "license": args.license, "description": desc, "kind": "diffusion",
        "files": {f: common.sha256_file(out / f) for f in files},
        "resolution": {"mode": "fixed", "size": [w, h]},
        "window": window,
        "color": {"space": "srgb", "range": [0.0, 1.0]},
        "depth_scale": 10.0,
        "precision": "fp32",
        "inputs": [{"name": "frames", "role": "frames"}, {"name": "prompt", "role": "prompt_embedding"}],
        "outputs": [{"name": "rgb", "role": "rgb"}],
        "diffusion": {"vae_encoder": files[0], "denoiser": files[1], "vae_decoder": files[2],
                      "sigmas": [float(s) for s in schedule["sigmas"]], "shift": float(schedule["shift"])},
        "prompt": {"dim": bank["dim"], "presets": "presets.json", "default": weathers[0]},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    common.write_json(out / "export.json", {"schedule": {k: v for k, v in schedule.items() if k != "rounds"},
                                            "distilled": str(dist), "base": str(base), "test_fixture": fixture,
                                            "looks": looks})
    common.record_run(out, "export", vars(args), [{"parity": parity}])
    common.log.info("export: %s (parity %s)", out, json.dumps(parity))
    return 0
