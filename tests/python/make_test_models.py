#!/usr/bin/env python3
"""Writes tiny, deterministic RealMaster model packages for the runtime's tests.

Every package follows docs/formats.md (manifest.json + ONNX graphs + presets.json, sha256 of every
file). The graphs are small enough to reason about exactly, so the Rust tests can compare the
runtime's output against a plain reference:

  good packages (OUT/<name>/)
    identity        rgb = the current (newest) frame of `frames`
    blur            rgb = 3x3 box blur of the current frame, edge pixels clamped (Pad edge + Conv)
    colormap        rgb = clip(M @ rgb + b, 0, 1), a fixed warm grade (1x1 Conv + Clip)
    prompt_tint     rgb = current + 0.5 * prompt[0:3]; text encoder (token states) listed as generated
    prompt_pooled   same graph; text encoder with a pooled output, listed in files
    light_tint      rgb = current + 0.5 * sun + 0.25 * up (the `light` input: [1, 6], sun then up)
    diffusion_ideal flow-matching package whose denoiser predicts v = (x - cond) / sigma, so the
                    sampler must land exactly on decode(encode(frames)) = the current frame
    diffusion_drift denoiser v = x - cond, so the result depends on the noise and the schedule
  bad packages (OUT/bad/<name>/): bad_sha, missing_input, extra_input, wrong_dims, truncated,
    unknown_role, generated_tampered

The text encoder's embedding table is analytic (see `embedding_table`) so tests can recompute it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
WINDOW = 2
PROMPT_DIM = 8
MAX_TOKENS = 16
MULTIPLE_OF = 4
DEFAULT_SIZE = [16, 16]

# Unnormalised on purpose: the runtime must L2-normalise presets when it loads them.
PRESETS: dict[str, list[float]] = {
    "clear": [1.0, 0.8, 0.2, 0.1, 0.0, 0.0, 0.0, 0.5],
    "rain": [-0.4, -0.1, 0.6, 0.3, 0.2, 0.0, 0.0, 0.1],
    "night": [-0.8, -0.8, -0.2, 0.0, 0.0, 0.4, 0.1, 0.0],
}

# A warm grade: rows are output R, G, B.
COLOR_MATRIX = [[1.10, 0.05, 0.00], [0.02, 1.00, 0.00], [0.00, 0.05, 0.85]]
COLOR_BIAS = [0.03, 0.01, -0.02]

VOCAB: list[str] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "a", "city", "street", "at", "in", "clear", "rain", "night", "fog", "snow",
    "sunny", "day", "wet", "cafe", "photo", "real", "##s", "##y", "##ing", "##istic",
    ",", ".", "!", "-",
]

SIGMAS_IDEAL = [1.0, 0.75, 0.5, 0.25]
SHIFT_IDEAL = 3.0
TIMESTEPS_DRIFT = [1000.0, 600.0, 300.0]
SHIFT_DRIFT = 2.0


def embedding_table(vocab_size: int, dim: int) -> np.ndarray:
    """E[i, j] = sin(0.37 (i+1)(j+1)) + 0.1 cos(1.3 (i+1)); the Rust tests use the same formula."""
    i = np.arange(vocab_size, dtype=np.float64)[:, None] + 1.0
    j = np.arange(dim, dtype=np.float64)[None, :] + 1.0
    return (np.sin(0.37 * i * j) + 0.1 * np.cos(1.3 * i)).astype(np.float32)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def f32_input(name: str, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def save_model(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_test_models")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def const(name: str, values: Any, dtype: Any = np.int64) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


# ---------------------------------------------------------------------------------------------
# Student graphs. All take the full input set (frames, edges, depth, normals, prev, prompt); the
# ones they do not need are declared but unused, which ONNX Runtime accepts.


def student_inputs(window: int, frames_channels: int | None = None, roles: list[str] | None = None) -> list[onnx.ValueInfoProto]:
    c = frames_channels if frames_channels is not None else 3 * window
    all_inputs = {
        "frames": f32_input("frames", [1, c, "H", "W"]),
        "edges": f32_input("edges", [1, window, "H", "W"]),
        "depth": f32_input("depth", [1, 1, "H", "W"]),
        "normals": f32_input("normals", [1, 3, "H", "W"]),
        "prev": f32_input("prev", [1, 3, "H", "W"]),
        "prompt": f32_input("prompt", [1, PROMPT_DIM]),
    }
    names = roles if roles is not None else list(all_inputs)
    return [all_inputs[n] for n in names]


def current_frame_nodes(window: int, out: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Slice the newest frame (the last 3 channels) out of `frames`."""
    inits = [
        const("cur_starts", [3 * (window - 1)]),
        const("cur_ends", [3 * window]),
        const("cur_axes", [1]),
    ]
    nodes = [helper.make_node("Slice", ["frames", "cur_starts", "cur_ends", "cur_axes"], [out])]
    return nodes, inits


def rgb_output() -> onnx.ValueInfoProto:
    return f32_input("rgb", [1, 3, "H", "W"])


def identity_graph(window: int, frames_channels: int | None = None, roles: list[str] | None = None,
                   extra: list[onnx.ValueInfoProto] | None = None) -> onnx.GraphProto:
    nodes, inits = current_frame_nodes(window, "rgb")
    inputs = student_inputs(window, frames_channels, roles) + (extra or [])
    return helper.make_graph(nodes, "identity", inputs, [rgb_output()], initializer=inits)


def blur_graph(window: int) -> onnx.GraphProto:
    nodes, inits = current_frame_nodes(window, "cur")
    inits += [
        const("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
        const("box", np.full((3, 1, 3, 3), 1.0 / 9.0), np.float32),
    ]
    nodes += [
        helper.make_node("Pad", ["cur", "pads"], ["padded"], mode="edge"),
        helper.make_node("Conv", ["padded", "box"], ["rgb"], group=3, kernel_shape=[3, 3]),
    ]
    return helper.make_graph(nodes, "blur", student_inputs(window), [rgb_output()], initializer=inits)


def colormap_graph(window: int) -> onnx.GraphProto:
    nodes, inits = current_frame_nodes(window, "cur")
    inits += [
        const("cm_w", np.asarray(COLOR_MATRIX).reshape(3, 3, 1, 1), np.float32),
        const("cm_b", COLOR_BIAS, np.float32),
        const("lo", 0.0, np.float32),
        const("hi", 1.0, np.float32),
    ]
    nodes += [
        helper.make_node("Conv", ["cur", "cm_w", "cm_b"], ["graded"], kernel_shape=[1, 1]),
        helper.make_node("Clip", ["graded", "lo", "hi"], ["rgb"]),
    ]
    return helper.make_graph(nodes, "colormap", student_inputs(window), [rgb_output()], initializer=inits)


def scaled_graph(window: int, factor: float) -> onnx.GraphProto:
    """rgb = factor x the current frame: x1e6 or NaN make the absurd outputs of a broken model."""
    nodes, inits = current_frame_nodes(window, "cur")
    inits += [const("factor", factor, np.float32)]
    nodes += [helper.make_node("Mul", ["cur", "factor"], ["rgb"])]
    return helper.make_graph(nodes, "scaled", student_inputs(window), [rgb_output()], initializer=inits)


def prompt_tint_graph(window: int) -> onnx.GraphProto:
    nodes, inits = current_frame_nodes(window, "cur")
    inits += [
        const("p_starts", [0]),
        const("p_ends", [3]),
        const("p_axes", [1]),
        const("p_shape", [1, 3, 1, 1]),
        const("half", 0.5, np.float32),
    ]
    nodes += [
        helper.make_node("Slice", ["prompt", "p_starts", "p_ends", "p_axes"], ["p3"]),
        helper.make_node("Reshape", ["p3", "p_shape"], ["p4"]),
        helper.make_node("Mul", ["p4", "half"], ["tint"]),
        helper.make_node("Add", ["cur", "tint"], ["rgb"]),
    ]
    return helper.make_graph(nodes, "prompt_tint", student_inputs(window), [rgb_output()], initializer=inits)


def light_tint_graph(window: int) -> onnx.GraphProto:
    """rgb = current + 0.5 * light[0:3] + 0.25 * light[3:6]: the sun and the up direction show."""
    nodes, inits = current_frame_nodes(window, "cur")
    inits += [
        const("s_starts", [0]), const("s_ends", [3]), const("u_starts", [3]), const("u_ends", [6]),
        const("l_axes", [1]), const("l_shape", [1, 3, 1, 1]),
        const("half", 0.5, np.float32), const("quarter", 0.25, np.float32),
    ]
    nodes += [
        helper.make_node("Slice", ["light", "s_starts", "s_ends", "l_axes"], ["sun3"]),
        helper.make_node("Slice", ["light", "u_starts", "u_ends", "l_axes"], ["up3"]),
        helper.make_node("Reshape", ["sun3", "l_shape"], ["sun4"]),
        helper.make_node("Reshape", ["up3", "l_shape"], ["up4"]),
        helper.make_node("Mul", ["sun4", "half"], ["sun_t"]),
        helper.make_node("Mul", ["up4", "quarter"], ["up_t"]),
        helper.make_node("Add", ["cur", "sun_t"], ["cur_s"]),
        helper.make_node("Add", ["cur_s", "up_t"], ["rgb"]),
    ]
    inputs = student_inputs(window, roles=["frames", "edges", "depth", "normals", "prompt"]) + [f32_input("light", [1, 6])]
    return helper.make_graph(nodes, "light_tint", inputs, [rgb_output()], initializer=inits)


# ---------------------------------------------------------------------------------------------
# Text encoder: embedding lookup. `pooled=False` returns token states [1, L, D] (the runtime
# mean-pools over the attention mask); `pooled=True` does the masked mean inside the graph.


def text_encoder_graph(pooled: bool) -> onnx.GraphProto:
    table = embedding_table(len(VOCAB), PROMPT_DIM)
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "L"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "L"])
    types = helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, [1, "L"])
    inits = [numpy_helper.from_array(table, "embedding")]
    nodes = [helper.make_node("Gather", ["embedding", "input_ids"], ["states"], axis=0)]
    if pooled:
        inits += [const("unsq_axes", [2]), const("sum_axes", [1])]
        nodes += [
            helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask_f", "unsq_axes"], ["mask3"]),
            helper.make_node("Mul", ["states", "mask3"], ["masked"]),
            helper.make_node("ReduceSum", ["masked", "sum_axes"], ["total"], keepdims=0),
            helper.make_node("ReduceSum", ["mask_f", "sum_axes"], ["count"], keepdims=1),
            helper.make_node("Div", ["total", "count"], ["sentence_embedding"]),
        ]
        out = f32_input("sentence_embedding", [1, PROMPT_DIM])
    else:
        nodes += [helper.make_node("Identity", ["states"], ["last_hidden_state"])]
        out = f32_input("last_hidden_state", [1, "L", PROMPT_DIM])
    return helper.make_graph(nodes, "text_encoder", [ids, mask, types], [out], initializer=inits)


# ---------------------------------------------------------------------------------------------
# Diffusion graphs: latents are 3 channels at the input resolution.


def vae_encoder_graph(window: int) -> onnx.GraphProto:
    nodes, inits = current_frame_nodes(window, "cur")
    inits += [const("two", 2.0, np.float32), const("one", 1.0, np.float32)]
    nodes += [
        helper.make_node("Mul", ["cur", "two"], ["scaled"]),
        helper.make_node("Sub", ["scaled", "one"], ["latents"]),
    ]
    inputs = [f32_input("frames", [1, 3 * window, "H", "W"])]
    return helper.make_graph(nodes, "vae_encoder", inputs, [f32_input("latents", [1, 3, "H", "W"])], initializer=inits)


def denoiser_graph(divide_by_sigma: bool) -> onnx.GraphProto:
    inputs = [
        f32_input("x", [1, 3, "h", "w"]),
        f32_input("sigma", [1]),
        f32_input("cond", [1, 3, "h", "w"]),
        f32_input("prompt", [1, PROMPT_DIM]),
    ]
    nodes = [helper.make_node("Sub", ["x", "cond"], ["diff" if divide_by_sigma else "v"])]
    if divide_by_sigma:
        nodes.append(helper.make_node("Div", ["diff", "sigma"], ["v"]))
    return helper.make_graph(nodes, "denoiser", inputs, [f32_input("v", [1, 3, "h", "w"])])


def vae_decoder_graph() -> onnx.GraphProto:
    inits = [const("one", 1.0, np.float32), const("half", 0.5, np.float32)]
    nodes = [
        helper.make_node("Add", ["latents", "one"], ["shifted"]),
        helper.make_node("Mul", ["shifted", "half"], ["rgb"]),
    ]
    return helper.make_graph(nodes, "vae_decoder", [f32_input("latents", [1, 3, "h", "w"])], [rgb_output()], initializer=inits)


# ---------------------------------------------------------------------------------------------
# Manifests.


def student_manifest(name: str, description: str, inputs: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "format": "realmaster-model",
        "version": 1,
        "name": name,
        "model_version": "0.0.1",
        "license": "MIT OR Apache-2.0",
        "description": description,
        "kind": "student",
        "files": {},
        "graph": "model.onnx",
        "resolution": {"mode": "dynamic", "multiple_of": MULTIPLE_OF, "default": DEFAULT_SIZE},
        "window": WINDOW,
        "color": {"space": "srgb", "range": [0.0, 1.0]},
        "depth_scale": 10.0,
        "precision": "fp32",
        "inputs": inputs if inputs is not None else [
            {"name": "frames", "role": "frames"},
            {"name": "edges", "role": "edges"},
            {"name": "depth", "role": "depth"},
            {"name": "normals", "role": "normals"},
            {"name": "prev", "role": "previous_output"},
            {"name": "prompt", "role": "prompt_embedding"},
        ],
        "outputs": [{"name": "rgb", "role": "rgb"}],
        "prompt": {"dim": PROMPT_DIM, "presets": "presets.json", "default": "clear"},
    }


def write_presets(pkg: Path) -> None:
    (pkg / "presets.json").write_text(json.dumps({"dim": PROMPT_DIM, "presets": PRESETS}, indent=1) + "\n")


def write_vocab(pkg: Path) -> None:
    (pkg / "vocab.txt").write_text("\n".join(VOCAB) + "\n")


def finish(pkg: Path, manifest: dict[str, Any], files: list[str]) -> None:
    """Hash the listed files into the manifest and write it."""
    manifest["files"] = {f: sha256_file(pkg / f) for f in files}
    (pkg / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def make_student(out: Path, name: str, graph: onnx.GraphProto, description: str) -> Path:
    pkg = fresh_dir(out / name)
    save_model(graph, pkg / "model.onnx")
    write_presets(pkg)
    finish(pkg, student_manifest(name, description), ["model.onnx", "presets.json"])
    return pkg


def make_prompt_packages(out: Path) -> None:
    # Token-state encoder, listed as a generated file with a lock file beside it.
    pkg = fresh_dir(out / "prompt_tint")
    save_model(prompt_tint_graph(WINDOW), pkg / "model.onnx")
    write_presets(pkg)
    save_model(text_encoder_graph(pooled=False), pkg / "text_encoder.onnx")
    write_vocab(pkg)
    manifest = student_manifest("prompt_tint", "rgb = current + 0.5 * prompt[0:3]")
    manifest["prompt"]["text_encoder"] = {
        "graph": "text_encoder.onnx", "vocab": "vocab.txt", "max_tokens": MAX_TOKENS, "generated_by": "make text-encoder",
    }
    manifest["generated"] = {"text_encoder.onnx": "make text-encoder", "vocab.txt": "make text-encoder"}
    lock = {"files": {f: sha256_file(pkg / f) for f in ["text_encoder.onnx", "vocab.txt"]}}
    (pkg / "generated.lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    finish(pkg, manifest, ["model.onnx", "presets.json"])

    # Pooled encoder, shipped in `files`.
    pkg = fresh_dir(out / "prompt_pooled")
    save_model(prompt_tint_graph(WINDOW), pkg / "model.onnx")
    write_presets(pkg)
    save_model(text_encoder_graph(pooled=True), pkg / "text_encoder.onnx")
    write_vocab(pkg)
    manifest = student_manifest("prompt_pooled", "prompt_tint with a pooled text encoder")
    manifest["prompt"]["text_encoder"] = {"graph": "text_encoder.onnx", "vocab": "vocab.txt", "max_tokens": MAX_TOKENS}
    finish(pkg, manifest, ["model.onnx", "presets.json", "text_encoder.onnx", "vocab.txt"])


def make_diffusion(out: Path, name: str, divide_by_sigma: bool, schedule: dict[str, Any]) -> None:
    pkg = fresh_dir(out / name)
    save_model(vae_encoder_graph(WINDOW), pkg / "vae_encoder.onnx")
    save_model(denoiser_graph(divide_by_sigma), pkg / "denoiser.onnx")
    save_model(vae_decoder_graph(), pkg / "vae_decoder.onnx")
    write_presets(pkg)
    manifest = student_manifest(name, "tiny flow-matching test model", inputs=[
        {"name": "frames", "role": "frames"},
        {"name": "prompt", "role": "prompt_embedding"},
    ])
    manifest["kind"] = "diffusion"
    del manifest["graph"]
    manifest["diffusion"] = {"vae_encoder": "vae_encoder.onnx", "denoiser": "denoiser.onnx", "vae_decoder": "vae_decoder.onnx", **schedule}
    finish(pkg, manifest, ["vae_encoder.onnx", "denoiser.onnx", "vae_decoder.onnx", "presets.json"])


def make_bad(out: Path, good: Path) -> None:
    bad = out / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    identity = good / "identity"

    def copy_of(src: Path, name: str) -> Path:
        dst = bad / name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)
        return dst

    def rewrite_manifest(pkg: Path, edit: Any) -> None:
        manifest = json.loads((pkg / "manifest.json").read_text())
        edit(manifest)
        (pkg / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    pkg = copy_of(identity, "bad_sha")
    rewrite_manifest(pkg, lambda m: m["files"].__setitem__("model.onnx", hashlib.sha256(b"not this model").hexdigest()))

    pkg = copy_of(identity, "missing_input")
    save_model(identity_graph(WINDOW, roles=["frames", "edges", "depth", "prev", "prompt"]), pkg / "model.onnx")
    rewrite_manifest(pkg, lambda m: m["files"].__setitem__("model.onnx", sha256_file(pkg / "model.onnx")))

    pkg = copy_of(identity, "extra_input")
    save_model(identity_graph(WINDOW, extra=[f32_input("albedo", [1, 3, "H", "W"])]), pkg / "model.onnx")
    rewrite_manifest(pkg, lambda m: m["files"].__setitem__("model.onnx", sha256_file(pkg / "model.onnx")))

    pkg = copy_of(identity, "wrong_dims")
    save_model(identity_graph(WINDOW, frames_channels=9), pkg / "model.onnx")
    rewrite_manifest(pkg, lambda m: m["files"].__setitem__("model.onnx", sha256_file(pkg / "model.onnx")))

    pkg = copy_of(identity, "truncated")
    data = (pkg / "model.onnx").read_bytes()
    (pkg / "model.onnx").write_bytes(data[: int(len(data) * 0.6)])
    rewrite_manifest(pkg, lambda m: m["files"].__setitem__("model.onnx", sha256_file(pkg / "model.onnx")))

    pkg = copy_of(identity, "unknown_role")
    rewrite_manifest(pkg, lambda m: m["inputs"][3].__setitem__("role", "albedo"))

    pkg = copy_of(good / "prompt_tint", "generated_tampered")
    with (pkg / "vocab.txt").open("a") as f:
        f.write("tampered\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the packages into")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    make_student(out, "identity", identity_graph(WINDOW), "rgb = current frame")
    make_student(out, "blur", blur_graph(WINDOW), "rgb = 3x3 box blur of the current frame (edge clamp)")
    make_student(out, "colormap", colormap_graph(WINDOW), "rgb = clip(M @ rgb + b, 0, 1)")
    make_prompt_packages(out)
    pkg = fresh_dir(out / "light_tint")
    save_model(light_tint_graph(WINDOW), pkg / "model.onnx")
    write_presets(pkg)
    inputs = [{"name": n, "role": r} for n, r in
              [("frames", "frames"), ("edges", "edges"), ("depth", "depth"), ("normals", "normals"), ("prompt", "prompt_embedding"), ("light", "light")]]
    finish(pkg, student_manifest("light_tint", "rgb = current + 0.5 * sun + 0.25 * up", inputs), ["model.onnx", "presets.json"])
    make_diffusion(out, "diffusion_ideal", True, {"sigmas": SIGMAS_IDEAL, "shift": SHIFT_IDEAL})
    make_diffusion(out, "diffusion_drift", False, {"timesteps": TIMESTEPS_DRIFT, "shift": SHIFT_DRIFT})
    make_bad(out, out)
    # Valid packages whose outputs are absurd (model faults the runtime must refuse at run time).
    make_student(out / "faulty", "scaled_1e6", scaled_graph(WINDOW, 1.0e6), "rgb = 1e6 x current frame")
    make_student(out / "faulty", "nan_output", scaled_graph(WINDOW, float("nan")), "rgb = NaN everywhere")
    # Marker the Rust tests check so a half-written folder from an interrupted run is never reused.
    (out / "COMPLETE").write_text("ok\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
