"""Compare candidate students by their runtime cards (runtime_metrics.json from runtime_card.py --look).

    python models/training/compare_cards.py --base models/realmaster-student CAND=out/cand/pkg ...

Prints one markdown row per package with the counts docs/photoreal.md's candidate tables use, over
the (clip, prompt) pairs whose targets are path-traced (every table but the sample renderer's
procedural-grade clip): beats pass-through, by >= 3 dB, mean PSNR, edge F >= the target's, VGG
distance below pass-through's, KID below the engine frames', warping error <= 1.1x the target's,
the runtime frame's sharpness >= 0.9x the target's (and the median ratio), pairs above the base; the
mean PSNR of the sample renderer's pairs (both of its clips); the guided upsample's ridge the
card was made with ("-" for cards made before runtime_card.py recorded it, all at the default 1e-3);
and the dark-frame figure (runtime_card.py --dark: the first clip re-exposed, model minus
pass-through PSNR; "-" for cards made before it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from seqio import DataError

PROCEDURAL = "heldout_downtown_orbit"  # the sample renderer's own grade: not a path-traced target
SAMPLE_RENDERER = ("heldout_downtown_orbit", "heldout_downtown_orbit_pathtraced")


def card(package: Path) -> dict:
    """A package's runtime card (its runtime_metrics.json, or that file itself)."""
    path = package / "runtime_metrics.json" if package.is_dir() else package
    if not path.is_file():
        raise DataError(f"{path} does not exist", "score the package first: runtime_card.py --package PKG --look ...")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not JSON ({e})", "re-run runtime_card.py on the package") from e


def pairs(m: dict) -> dict[tuple[str, str], dict]:
    """(clip, weather) -> the eval figures merged with the look figures, from a runtime card."""
    out = {}
    ridge = m.get("upsample_eps")  # cards made before runtime_card.py recorded it: the default
    for t in m["tables"]:
        look = t.get("look") or {}
        for w in t["eval"]["weathers"]:
            row = dict(w)
            lw = (look.get("per_weather") or {}).get(w["weather"])
            if lw:
                row.update(lw)
                row["kid_engine_x1000"] = look["kid_engine_x1000"]
                if "kid_all_engine_x1000" in look:
                    row["kid_all_engine_x1000"] = look["kid_all_engine_x1000"]
            row["upsample_eps"] = ridge
            out[(t["name"], w["weather"])] = row
    return out


def dark_gain(m: dict) -> str | None:
    """A runtime card's dark-frame figure as "+X.XX at -3 EV" (model minus pass-through), or None."""
    d = m.get("dark")
    return None if not d else f"{d['psnr'] - d['psnr_passthrough']:+.2f} at {d['exposure_ev']:+g} EV"


def counts(p: dict[tuple[str, str], dict], base: dict[tuple[str, str], dict] | None) -> dict:
    pt = {k: v for k, v in p.items() if k[0] != PROCEDURAL}
    n = len(pt)
    look = [v for v in pt.values() if "vgg_output" in v]
    sr = [v["psnr"] for k, v in p.items() if k[0] in SAMPLE_RENDERER]
    sharp = [v["sharpness"] / max(v["sharpness_target"], 1e-12) for v in pt.values()]
    ridges = {v["upsample_eps"] for v in p.values()}
    return {
        "pairs": n,
        "beats": sum(v["psnr"] > v["psnr_passthrough"] for v in pt.values()),
        "ge3": sum(v["psnr"] - v["psnr_passthrough"] >= 3.0 for v in pt.values()),
        "mean": sum(v["psnr"] for v in pt.values()) / max(n, 1),
        "edge_f": sum(v["edge_f"] >= v["edge_f_target"] for v in pt.values()),
        "vgg": sum(v["vgg_output"] < v["vgg_passthrough"] for v in look) if look else None,
        "kid": sum(v["kid_output_x1000"] < v["kid_engine_x1000"] for v in look) if look else None,
        # Against all photos, where the card's reference is a subset of them (runtime_card.py --real-scenes).
        "kid_all": sum(v["kid_all_output_x1000"] < v["kid_all_engine_x1000"] for v in look)
        if look and all("kid_all_output_x1000" in v for v in look) else None,
        "warp": sum(v["warp_error"] <= 1.1 * v["warp_error_target"] for v in pt.values()),
        "sharp": sum(r >= 0.9 for r in sharp),
        "sharp_median": statistics.median(sharp) if sharp else None,
        "ridge": ridges.pop() if len(ridges) == 1 else None,
        "above_base": None if base is None else sum(v["psnr"] > base[k]["psnr"] for k, v in pt.items() if k in base),
        "sample_renderer_mean": sum(sr) / len(sr) if sr else None,
    }


def kid_reference(m: dict) -> str:
    """The photos a runtime card's KID count compares with: "all", or its scene tags (runtime_card.py --real-scenes)."""
    scenes = m.get("real_scenes")
    return "all" if not scenes or scenes == "all" else ",".join(scenes)


def kid_cell(c: dict) -> str:
    if c["kid"] is None:
        return "-"
    ref = c.get("kid_ref", "all")
    return f"{c['kid']} ({ref}" + (f"; all photos {c['kid_all']})" if c.get("kid_all") is not None else ")")


def row(name: str, c: dict) -> str:
    def f(x, fmt="{}"):
        return "-" if x is None else fmt.format(x)

    return (
        f"| {name} | {c['beats']} | {c['ge3']} | {c['mean']:.2f} | {c['edge_f']} | {f(c['vgg'])} | {kid_cell(c)} | {c['warp']} "
        f"| {c['sharp']}, {f(c['sharp_median'], '{:.2f}')} | {f(c['above_base'])} | {f(c['sample_renderer_mean'], '{:.2f}')} "
        f"| {f(c['ridge'], '{:g}')} | {f(c.get('dark'))} |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, required=True, help="the shipped package (or its runtime_metrics.json)")
    ap.add_argument("candidates", nargs="*", help="NAME=PACKAGE (or NAME=runtime_metrics.json)")
    ap.add_argument("--pairs", action="store_true", help="also print every pair's PSNR against the base's")
    args = ap.parse_args(argv)
    try:
        return compare(args, ap)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def compare(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    base_card = card(args.base)
    base = pairs(base_card)
    print("| package | beats pass-through | by >= 3 dB | mean PSNR | edge F >= target's | VGG < pass-through | KID < engine | warp <= 1.1x"
          " | sharpness >= 0.9x, median | above base | sample renderer mean PSNR | ridge | dark frame over pass-through |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ref = kid_reference(base_card)
    print(row(f"{args.base} (base)", {**counts(base, None), "dark": dark_gain(base_card), "kid_ref": ref}))
    for spec in args.candidates:
        name, _, path = spec.partition("=")
        if not path:
            ap.error(f"candidate {spec!r}: write NAME=PACKAGE")
        cand_card = card(Path(path))
        cand = pairs(cand_card)
        cref = kid_reference(cand_card)
        if cref != ref:
            print(f"warning: {name}'s KID count compares with {cref} photos, the base's with {ref}: re-run one card"
                  " with the other's runtime_card.py --real-scenes to compare them", file=sys.stderr)
        print(row(name, {**counts(cand, base), "dark": dark_gain(cand_card), "kid_ref": cref}))
        if args.pairs:
            for k, v in sorted(cand.items()):
                b = base.get(k)
                print(f"    {k[0]:36s} {k[1]:11s} {v['psnr']:.2f} (pass {v['psnr_passthrough']:.2f}, base {b['psnr'] if b else float('nan'):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
