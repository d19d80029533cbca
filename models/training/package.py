"""Model package manifest (docs/formats.md, version 1): writing and validating.

validate_package() checks what the runtime checks at load: format/version, sha256 of every file
in "files", the generated text encoder against generated.lock.json (when present), presets
dimension, and the ONNX graph's real inputs/outputs against the manifest (names, ranks, channels).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

MANIFEST_FORMAT = "realmaster-model"
MANIFEST_VERSION = 1
TEXT_ENCODER_FILES = ("text_encoder.onnx", "vocab.txt")
GENERATED_BY = "make text-encoder"

INPUT_ROLES = [
    ("frames", "frames"),
    ("edges", "edges"),
    ("depth", "depth"),
    ("normals", "normals"),
    ("prev", "previous_output"),
    ("prompt", "prompt_embedding"),
    ("light", "light"),
]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(
    package_dir: Path,
    *,
    name: str,
    model_version: str,
    description: str,
    window: int,
    default_size: tuple[int, int],
    prompt_dim: int,
    default_preset: str,
    max_tokens: int,
    input_names: tuple[str, ...] = tuple(n for n, _ in INPUT_ROLES if n != "light"),
    exposure: dict[str, Any] | None = None,
    upsample: dict[str, Any] | None = None,
) -> dict[str, Any]:
    roles = dict(INPUT_ROLES)
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "name": name,
        "model_version": model_version,
        "license": "MIT OR Apache-2.0",
        "description": description,
        "kind": "student",
        "files": {f: sha256_file(package_dir / f) for f in ("model.onnx", "presets.json")},
        "generated": {f: GENERATED_BY for f in TEXT_ENCODER_FILES},
        "graph": "model.onnx",
        "resolution": {"mode": "dynamic", "multiple_of": 16, "default": list(default_size)},
        "window": window,
        "color": {"space": "srgb", "range": [0.0, 1.0]},
        "depth_scale": 10.0,
        "precision": "fp32",
        "inputs": [{"name": n, "role": roles[n]} for n in input_names],
        "outputs": [{"name": "rgb", "role": "rgb"}],
        "prompt": {
            "dim": prompt_dim,
            "presets": "presets.json",
            "default": default_preset,
            "text_encoder": {
                "graph": "text_encoder.onnx",
                "vocab": "vocab.txt",
                "max_tokens": max_tokens,
                "generated_by": GENERATED_BY,
            },
        },
    }
    if exposure is not None:
        manifest["exposure"] = exposure
    if upsample is not None:
        manifest["upsample"] = upsample
    return manifest


# The runtime's guided-upsample ridge range and default, and its edge-aware ridge factor's range
# (reference/guided_upsample.rs).
MIN_EPS, MAX_EPS, DEFAULT_EPS = 1e-6, 1.0, 1e-3
MIN_EDGE_RIDGE, MAX_EDGE_RIDGE = 1.0, 1000.0


def _preset_values(spec: str, presets: list[str], what: str, lo: float, hi: float) -> dict[str, float]:
    """`PRESET=VALUE,...` with every PRESET one of `presets` and every VALUE in lo..hi."""
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in presets:
            raise ValueError(f"{item!r} is not PRESET={what.upper()} with PRESET one of {', '.join(presets)}")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"{item!r}: the {what} {value!r} is not a number") from None
        if not lo <= v <= hi:
            raise ValueError(f"{item!r}: a {what} must be in {lo:g}..{hi:g}")
        out[name] = v
    return out


def upsample_section(spec: str, presets: list[str], edge_ridge: float | None = None,
                     edge_aware: str = "") -> dict[str, Any] | None:
    """The manifest's `upsample` section (docs/formats.md) from `PRESET=RIDGE,...` (each prompt
    preset's guided-upsample ridge; presets not named keep the runtime's default), the edge-aware
    fit's ridge factor on the model input's edges (None: not edge-aware) and `PRESET=WEIGHT,...`
    (how edge-aware each preset is, 0..1; empty with a factor: every preset). None when all are
    empty. Raises ValueError naming the bad entry."""
    if edge_ridge is not None and not MIN_EDGE_RIDGE <= edge_ridge <= MAX_EDGE_RIDGE:
        raise ValueError(f"the edge ridge factor {edge_ridge:g} must be in {MIN_EDGE_RIDGE:g}..{MAX_EDGE_RIDGE:g}")
    weights = _preset_values(edge_aware, presets, "weight", 0.0, 1.0)
    if weights and edge_ridge is None:
        raise ValueError("edge-aware weights need the edge ridge factor (the ridge's factor on the edges they weight)")
    eps = _preset_values(spec, presets, "ridge", MIN_EPS, MAX_EPS)
    if not eps and edge_ridge is None:
        return None
    section: dict[str, Any] = {"eps": eps, "default_eps": DEFAULT_EPS}
    if edge_ridge is not None:
        section["edge_ridge"] = float(edge_ridge)
        if weights:
            section["edge_aware"] = weights
    return section


def _channels(role: str, window: int) -> int | None:
    return {"frames": 3 * window, "edges": window, "depth": 1, "normals": 3, "previous_output": 3, "rgb": 3}.get(role)


def validate_package(package_dir: Path | str, require_generated: bool = False) -> list[str]:
    """Problems found (empty when the package is valid)."""
    import onnx

    d = Path(package_dir)
    probs: list[str] = []
    try:
        m = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        return [f"cannot read manifest.json: {e}"]
    if m.get("format") != MANIFEST_FORMAT or m.get("version") != MANIFEST_VERSION:
        probs.append(f"format/version is {m.get('format')!r}/{m.get('version')!r}")
    for key in ("name", "model_version", "license", "description", "kind", "files", "graph", "resolution", "window", "color", "inputs", "outputs"):
        if key not in m:
            probs.append(f"missing field {key}")
    if probs:
        return probs
    for f, sha in m["files"].items():
        p = d / f
        if not p.is_file():
            probs.append(f"listed file {f} is missing")
        elif sha256_file(p) != sha:
            probs.append(f"sha256 of {f} does not match the manifest")
    if m["graph"] not in m["files"]:
        probs.append("graph is not listed in files")
    gen = m.get("generated", {})
    lock_path = d / "generated.lock.json"
    if lock_path.is_file():
        lock = json.loads(lock_path.read_text()).get("files", {})
        for f in gen:
            if f not in lock:
                probs.append(f"generated file {f} is not in generated.lock.json")
            elif not (d / f).is_file():
                probs.append(f"generated file {f} is missing (run make text-encoder)")
            elif sha256_file(d / f) != lock[f]:
                probs.append(f"generated file {f} does not match generated.lock.json")
    elif require_generated and gen:
        probs.append("generated.lock.json is missing (run make text-encoder)")
    res = m["resolution"]
    if res.get("mode") == "dynamic":
        mult = int(res.get("multiple_of", 0))
        dw, dh = res.get("default", [0, 0])
        if mult <= 0 or dw % mult or dh % mult:
            probs.append(f"resolution default {res.get('default')} is not a multiple of {mult}")
    elif res.get("mode") != "fixed":
        probs.append(f"resolution mode {res.get('mode')!r} is unknown")
    window = int(m["window"])
    if m["kind"] == "student":
        roles = [i["role"] for i in m["inputs"]]
        # previous_output is optional: students without the feedback input are a function of the frames.
        for r in ("frames",):
            if r not in roles:
                probs.append(f"student input role {r} is missing")
    prompt = m.get("prompt")
    if m.get("upsample") is not None and not prompt:
        probs.append("the manifest has an upsample section but no prompt presets for its ridges to name")
    if prompt:
        try:
            pj = json.loads((d / prompt["presets"]).read_text())
            dim = int(prompt["dim"])
            if int(pj["dim"]) != dim:
                probs.append(f"presets.json dim {pj['dim']} differs from prompt.dim {dim}")
            for k, v in pj["presets"].items():
                if len(v) != dim:
                    probs.append(f"preset {k} has {len(v)} values, expected {dim}")
            if prompt.get("default") not in pj["presets"]:
                probs.append(f"default preset {prompt.get('default')!r} is not in presets.json")
            ups = m.get("upsample")
            if ups is not None:
                ridges = {**ups.get("eps", {}), "(default)": ups.get("default_eps", DEFAULT_EPS)}
                for k, v in ridges.items():
                    if k != "(default)" and k not in pj["presets"]:
                        probs.append(f"upsample.eps names {k!r}, which is not in presets.json")
                    if not (isinstance(v, (int, float)) and MIN_EPS <= v <= MAX_EPS):
                        probs.append(f"upsample ridge {k} is {v!r}; it must be in {MIN_EPS:g}..{MAX_EPS:g}")
                er = ups.get("edge_ridge")
                if er is not None and not (isinstance(er, (int, float)) and MIN_EDGE_RIDGE <= er <= MAX_EDGE_RIDGE):
                    probs.append(f"upsample.edge_ridge is {er!r}; it must be in {MIN_EDGE_RIDGE:g}..{MAX_EDGE_RIDGE:g} (or absent)")
                for k, v in (ups.get("edge_aware") or {}).items():
                    if k not in pj["presets"]:
                        probs.append(f"upsample.edge_aware names {k!r}, which is not in presets.json")
                    if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                        probs.append(f"upsample.edge_aware {k} is {v!r}; it must be in 0..1")
                if ups.get("edge_aware") is not None and er is None:
                    probs.append("upsample.edge_aware is set without upsample.edge_ridge")
        except (OSError, ValueError, KeyError, TypeError) as e:
            probs.append(f"cannot read presets: {e}")
    if probs:
        return probs
    g = onnx.load(str(d / m["graph"]), load_external_data=False)
    ins = {i.name: i for i in g.graph.input}
    outs = {o.name: o for o in g.graph.output}
    for spec, table, kind in [(m["inputs"], ins, "input"), (m["outputs"], outs, "output")]:
        if len(spec) != len(table):
            probs.append(f"manifest lists {len(spec)} {kind}s, the graph has {len(table)}")
        for s in spec:
            vi = table.get(s["name"])
            if vi is None:
                probs.append(f"graph has no {kind} named {s['name']}")
                continue
            if vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
                probs.append(f"{kind} {s['name']} is not float32")
            dims = vi.type.tensor_type.shape.dim
            want_c = _channels(s["role"], window)
            if s["role"] == "prompt_embedding":
                if len(dims) != 2 or (dims[1].HasField("dim_value") and dims[1].dim_value != int(prompt["dim"])):
                    probs.append(f"{kind} {s['name']} should be [1, {prompt['dim']}]")
            elif s["role"] == "light":
                if len(dims) != 2 or (dims[1].HasField("dim_value") and dims[1].dim_value != 6):
                    probs.append(f"{kind} {s['name']} should be [1, 6] (sun then up, view space)")
            elif want_c is not None:
                if len(dims) != 4:
                    probs.append(f"{kind} {s['name']} should be rank 4 (NCHW)")
                elif dims[1].HasField("dim_value") and dims[1].dim_value != want_c:
                    probs.append(f"{kind} {s['name']} has {dims[1].dim_value} channels, expected {want_c}")
                elif res.get("mode") == "dynamic" and (dims[2].HasField("dim_value") or dims[3].HasField("dim_value")):
                    probs.append(f"{kind} {s['name']} has a fixed H/W but the manifest says dynamic")
    return probs
