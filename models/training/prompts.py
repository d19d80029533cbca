"""Weather prompts (prompts.json) and their precomputed MiniLM embeddings (prompt_bank.json).

Training and export read embeddings from the bank so they do not need the 90 MB text model;
make_text_encoder.py --write-bank regenerates the bank from the same model the runtime's
text_encoder.onnx is exported from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqio import DataError

HERE = Path(__file__).resolve().parent
PROMPTS_PATH = HERE / "prompts.json"
BANK_PATH = HERE / "prompt_bank.json"
DIM = 384


@dataclass(frozen=True)
class Weather:
    name: str
    prompt: str
    paraphrases: tuple[str, ...]


def load_prompts(path: Path = PROMPTS_PATH) -> tuple[dict[str, Weather], str, dict[str, str]]:
    """(weathers by name, default weather, nearest-neighbour checks text -> expected weather)."""
    d = json.loads(path.read_text())
    ws = {
        k: Weather(k, str(v["prompt"]), tuple(str(p) for p in v.get("paraphrases", [])))
        for k, v in d["weathers"].items()
    }
    return ws, str(d["default"]), {str(k): str(v) for k, v in d.get("nearest_checks", {}).items()}


def all_texts(weathers: dict[str, Weather]) -> list[str]:
    out: list[str] = []
    for w in weathers.values():
        for t in (w.prompt, *w.paraphrases):
            if t not in out:
                out.append(t)
    return out


def load_bank(path: Path = BANK_PATH) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(
            f"prompt embedding bank {path} is missing",
            "run: .venv/bin/python models/training/make_text_encoder.py --write-bank",
        )
    d = json.loads(path.read_text())
    if int(d.get("dim", 0)) != DIM:
        raise DataError(f"{path} has dim {d.get('dim')}, expected {DIM}", "regenerate it with make_text_encoder.py --write-bank")
    return {k: np.asarray(v, dtype=np.float32) for k, v in d["embeddings"].items()}


@dataclass
class PromptTable:
    """Per weather: the canonical embedding and the paraphrase embeddings (rows L2-normalised)."""

    canonical: dict[str, np.ndarray]
    variants: dict[str, np.ndarray]

    def sample(self, weather: str, rng: np.random.Generator, p_paraphrase: float) -> np.ndarray:
        v = self.variants[weather]
        if len(v) and rng.random() < p_paraphrase:
            return v[int(rng.integers(len(v)))]
        return self.canonical[weather]


def prompt_table(weather_names: list[str], bank_path: Path = BANK_PATH, prompts_path: Path = PROMPTS_PATH) -> PromptTable:
    weathers, _, _ = load_prompts(prompts_path)
    unknown = [w for w in weather_names if w not in weathers]
    if unknown:
        raise DataError(
            f"target weather(s) {', '.join(unknown)} have no prompt in {prompts_path}",
            "add them to prompts.json and run make_text_encoder.py --write-bank, or pass --weathers to leave them out",
        )
    bank = load_bank(bank_path)
    canonical: dict[str, np.ndarray] = {}
    variants: dict[str, np.ndarray] = {}
    for w in weather_names:
        texts = (weathers[w].prompt, *weathers[w].paraphrases)
        missing = [t for t in texts if t not in bank]
        if missing:
            raise DataError(
                f"{bank_path} has no embedding for prompt(s) {missing}",
                "run: .venv/bin/python models/training/make_text_encoder.py --write-bank",
            )
        canonical[w] = bank[weathers[w].prompt]
        variants[w] = np.stack([bank[t] for t in weathers[w].paraphrases]) if weathers[w].paraphrases else np.zeros((0, DIM), np.float32)
    return PromptTable(canonical, variants)
