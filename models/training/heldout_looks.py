"""Held-out engine looks: score packages on engine frames drawn with looks no student trained on.

    python models/training/heldout_looks.py render --out DIR
    python models/training/heldout_looks.py score --out DIR BASE=models/realmaster-student CAND=out/cand/pkg

`render` copies the committed held-out path-traced clips (samples/heldout_pathtrace_*, 8 frames each)
into DIR under their plan names and re-renders only their engine frames with two engine-look variants
each (`python -m models.pathtrace ... --engine-looks 2`: the looks' seeds are the held-out clips', so
no training variant shares one; G-buffers and targets are the clip's). About 90 s on 2 cores.

`score` runs `realmaster eval` (cinematic, each weather's preset) on every `__look` folder in DIR for
each NAME=PACKAGE and prints one markdown row per package: pairs beating pass-through, by >= 3 dB,
mean PSNR, edge F >= the target's, and pairs above the first package. Scores are kept in
DIR/scores_NAME.json (delete it to re-score a package that changed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from seqio import DataError

ROOT = Path(__file__).resolve().parents[2]
CLIPS = ("heldout_pathtrace_harbor_orbit", "heldout_pathtrace_coast_orbit", "heldout_pathtrace_cedar_crane")
HELDOUT_SEED = 1  # the committed held-out clips' --seed (models/pathtrace/DATA_CARD.md)
FIELDS = ("psnr", "psnr_passthrough", "edge_f", "edge_f_target")


def plan_args(clip: Path) -> tuple[str, list[str]]:
    """The plan name and generator arguments that re-create a committed held-out clip (models/pathtrace/plan.py)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from models.pathtrace.plan import clip_seed, plan_clip

    meta = json.loads((clip / "sequence.json").read_text()).get("meta", {})
    try:
        index = int(meta["seed"]) - clip_seed(HELDOUT_SEED, "heldout", 0)
        p = plan_clip(index, "heldout", HELDOUT_SEED, scene=meta["scene"], camera=meta["camera"])
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{clip}/sequence.json has no usable meta ({e})", "use the committed samples/heldout_pathtrace_* clips") from e
    if meta.get("split") != "heldout" or not 0 <= index < 500000 or (p.seed, p.variant) != (meta["seed"], meta.get("variant")):
        raise DataError(f"{clip} is not a held-out clip of seed {HELDOUT_SEED}", "use the committed samples/heldout_pathtrace_* clips")
    return p.name, ["--start", str(p.index), "--clips", "1", "--scene", p.scene, "--camera", p.camera]


def render(out: Path, samples: Path, workers: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for c in CLIPS:
        clip = samples / c
        if not clip.is_dir():
            raise DataError(f"{clip} does not exist", "run from the repository root (the held-out clips are committed in samples/)")
        name, extra = plan_args(clip)
        if not (out / name).exists():
            shutil.copytree(clip, out / name)
        cmd = [sys.executable, "-m", "models.pathtrace", "--out", str(out), "--split", "heldout", "--seed", str(HELDOUT_SEED),
               *extra, "--frames", "8", "--size", "256x144", "--samples", "8", "--half", "--engine-looks", "2",
               "--workers", str(workers)]
        subprocess.run(cmd, check=True, cwd=ROOT)


def score(out: Path, name: str, package: Path, realmaster: Path) -> dict[str, dict]:
    cache = out / f"scores_{name}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    looks = sorted(p for p in out.glob("*__look*") if p.is_dir())
    if not looks:
        raise DataError(f"{out} has no engine-look folders", f"run: heldout_looks.py render --out {out}")
    rows: dict[str, dict] = {}
    for seq in looks:
        r = subprocess.run([str(realmaster), "eval", str(seq), "--model", str(package), "--model-size", "256x144", "--json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise DataError(f"realmaster eval {seq} with {package} failed: {r.stderr.strip()[-400:]}",
                            "check the package (realmaster doctor --model PKG) and REALMASTER_ORT_LIB")
        for w in json.loads(r.stdout)["weathers"]:
            rows[f"{seq.name}/{w['weather']}"] = {k: w[k] for k in FIELDS}
    cache.write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def counts(rows: dict[str, dict], base: dict[str, dict] | None) -> dict:
    v = list(rows.values())
    return {
        "pairs": len(v),
        "beats": sum(r["psnr"] > r["psnr_passthrough"] for r in v),
        "ge3": sum(r["psnr"] - r["psnr_passthrough"] >= 3.0 for r in v),
        "mean": sum(r["psnr"] for r in v) / max(len(v), 1),
        "edge_f": sum(r["edge_f"] >= r["edge_f_target"] for r in v),
        "above_base": None if base is None else sum(r["psnr"] > base[k]["psnr"] for k, r in rows.items() if k in base),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="copy the held-out clips and render two engine-look variants of each")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--samples", type=Path, default=ROOT / "samples")
    r.add_argument("--workers", type=int, default=2)
    s = sub.add_parser("score", help="score packages on the rendered variants")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--realmaster", type=Path, default=ROOT / "target" / "release" / "realmaster")
    s.add_argument("packages", nargs="+", help="NAME=PACKAGE; the first is the base")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "render":
            render(args.out, args.samples, args.workers)
            return 0
        specs = []
        for spec in args.packages:
            name, _, path = spec.partition("=")
            if not path:
                ap.error(f"package {spec!r}: write NAME=PACKAGE")
            specs.append((name, Path(path)))
        if not args.realmaster.is_file():
            raise DataError(f"{args.realmaster} does not exist", "cargo build --release --bin realmaster (or pass --realmaster)")
        scored = [(n, score(args.out, n, p, args.realmaster)) for n, p in specs]
        base = scored[0][1]
        print("| held-out engine looks | pairs | beats pass-through | by >= 3 dB | mean PSNR | edge F >= target's | above base |")
        print("|---|---|---|---|---|---|---|")
        for i, (n, rows) in enumerate(scored):
            c = counts(rows, None if i == 0 else base)
            above = "-" if c["above_base"] is None else c["above_base"]
            print(f"| {n} | {c['pairs']} | {c['beats']} | {c['ge3']} | {c['mean']:.2f} | {c['edge_f']} | {above} |")
        return 0
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
