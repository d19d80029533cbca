"""Average the weights of students that share a starting point (a weight-space ensemble).

A fine-tune gains on what it trained for and may lose on data unlike its training set; averaging
its weights with the model it started from (WiSE-FT, Wortsman et al. 2022) or with other fine-tunes
of that model (model soups) is known to keep much of the gain and of the original's robustness,
at no cost at run time: the result is one student of the same size. Works only for students
fine-tuned from one shared checkpoint (they sit in one basin); averaging unrelated runs gives noise.

    python models/training/soup.py --out out/w56l/step_0000000.pt \\
        models/realmaster-student=0.5 out/s54l=0.25 out/s54l2/checkpoints/step_0002000.pt=0.25

Each ingredient is a step_*.pt checkpoint, a training workdir (its newest checkpoint) or an exported
package; `=WEIGHT` sets its share (default: equal shares; shares are normalised to sum to 1). The
soup has the architecture of the first checkpoint or workdir given (of the first package where
there are only packages); a package of a narrower student is carried into it as train.py's
--init-from carries one (the sun's inputs at zero weight, grid bins, global path). Write the
result anywhere and export it with export.py --checkpoint.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from seqio import DataError


@dataclass(frozen=True)
class Ingredient:
    path: Path
    weight: float


def parse_ingredient(text: str) -> Ingredient:
    """PATH or PATH=WEIGHT (a path may itself hold '=': the last one splits, if a number follows)."""
    path, weight = text, 1.0
    if "=" in text:
        head, tail = text.rsplit("=", 1)
        try:
            weight = float(tail)
            path = head
        except ValueError:
            pass
    if not (math.isfinite(weight) and weight > 0):
        raise argparse.ArgumentTypeError(f"{text}: the weight must be a positive number (got {weight})")
    return Ingredient(Path(path), weight)


def is_package(path: Path) -> bool:
    return (path.is_dir() and (path / "model.onnx").is_file()) or path.suffix == ".onnx"


def load_checkpoint(path: Path) -> dict:
    """A checkpoint file, or a workdir's newest checkpoint."""
    import torch

    from train import load_latest_checkpoint

    if path.is_dir():
        state = load_latest_checkpoint(path)
        if state is None:
            raise DataError(f"{path} holds no checkpoint and no model.onnx", "pass a training workdir, a step_*.pt or a model package folder")
        return state
    if not path.is_file():
        raise DataError(f"ingredient {path} does not exist", "pass a training workdir, a step_*.pt or a model package folder")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file: name it rather than show pickle's trace
        raise DataError(f"{path} is not a readable checkpoint ({e})", "pass a step_*.pt written by train.py") from e


def package_stage(path: Path) -> dict:
    """The last training stage an exported package records (its lineage.json), settings included."""
    pkg = path if path.is_dir() else path.parent
    lin = pkg / "lineage.json"
    if not lin.is_file():
        raise DataError(f"package {pkg} has no lineage.json, so its architecture is unknown", "put a checkpoint (or workdir) of the soup's architecture first")
    stages = json.loads(lin.read_text()).get("stages") or []
    if not stages or "model" not in stages[-1]:
        raise DataError(f"{lin} records no stage", "put a checkpoint (or workdir) of the soup's architecture first")
    return stages[-1]


def package_version(path: Path) -> str | None:
    """The package's model_version (its folder may later hold another version: the recipe keeps this one)."""
    manifest = (path if path.is_dir() else path.parent) / "manifest.json"
    try:
        return json.loads(manifest.read_text()).get("model_version")
    except (OSError, ValueError):
        return None


def make_soup(ingredients: list[Ingredient]) -> dict:
    """The averaged student as a checkpoint dict (step 0, no optimizer state) whose run record is
    the first checkpoint's (or the first package's last stage) with the recipe under "soup"."""
    import torch

    from model import Student, StudentConfig
    from train import weights_from_package

    if len(ingredients) < 2:
        raise DataError("a soup needs at least two ingredients", "pass two or more checkpoints, workdirs or packages")
    loaded: list[tuple[Ingredient, dict | None]] = [(ing, None if is_package(ing.path) else load_checkpoint(ing.path)) for ing in ingredients]
    first_ckpt = next((state for _, state in loaded if state is not None), None)
    if first_ckpt is not None:
        cfg_dict = first_ckpt["run"]["model"]
        run = copy.deepcopy(first_ckpt["run"])
    else:
        run = copy.deepcopy(package_stage(ingredients[0].path))
        cfg_dict = run["model"]
    target = Student(StudentConfig.from_dict(cfg_dict))
    want = target.state_dict()  # the soup's names, shapes and dtypes
    total = sum(ing.weight for ing in ingredients)
    acc: dict[str, torch.Tensor] = {}
    exact: dict[str, torch.Tensor] = {}
    recipe = []
    for ing, state in loaded:
        share = ing.weight / total
        if state is None:
            weights, _, how = weights_from_package(ing.path, target)
            recipe.append({"source": str(ing.path), "weight": share, "kind": "package", "version": package_version(ing.path), "carried": how.lstrip(", ") or None})
        else:
            if state["run"]["model"] != cfg_dict:
                raise DataError(
                    f"{ing.path} holds a student with other settings than the soup's (the first checkpoint's)",
                    "average checkpoints of one --arch; pass a narrower student as its exported package, which is carried into the soup's architecture",
                )
            weights = state["model"]
            recipe.append({"source": str(ing.path), "weight": share, "kind": "checkpoint", "step": int(state.get("step", 0)), "init_from": state["run"].get("init_from")})
        if set(weights) != set(want):
            raise DataError(f"{ing.path}: its weights do not match the soup's student", "average students of one architecture")
        for k, v in weights.items():
            if v.shape != want[k].shape:
                raise DataError(f"{ing.path}: weight {k} has shape {tuple(v.shape)}, the soup's {tuple(want[k].shape)}", "average students of one architecture")
            if v.is_floating_point():
                acc[k] = acc.get(k, torch.zeros(v.shape, dtype=torch.float64)) + share * v.double()
            elif k not in exact:
                exact[k] = v.clone()
            elif not torch.equal(exact[k], v):
                raise DataError(f"{ing.path}: integer buffer {k} differs between ingredients", "average students of one architecture and settings")
    soup = {k: (acc[k].to(want[k].dtype) if k in acc else exact[k]) for k in want}
    target.load_state_dict(soup)  # the averaged weights make a valid student of that architecture
    run["soup"] = recipe
    return {"step": 0, "model": soup, "optimizer": None, "disc": None, "opt_d": None, "run": run, "rng": None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ingredients", nargs="+", type=parse_ingredient, metavar="PATH[=WEIGHT]", help="checkpoints, workdirs or packages with their shares")
    ap.add_argument("--out", type=Path, required=True, help="the checkpoint to write (export it with export.py --checkpoint)")
    args = ap.parse_args(argv)
    from model_card import soup_ingredient
    from train import atomic_save

    try:
        state = make_soup(args.ingredients)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(state, args.out)
    shares = ", ".join(soup_ingredient(r) for r in state["run"]["soup"])
    print(f"wrote {args.out}: {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

