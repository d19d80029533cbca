#!/usr/bin/env python3
"""Real photographs from installed Debian packages: a reviewed manifest and a resized cache for training/KID.

  # review what the packages hold (needs them installed) and rewrite models/training/real_photos.json:
  python models/training/realphotos.py --write-manifest
  # extract the kept images (short side 256 px, PNG) into an untracked cache:
  python models/training/realphotos.py --out data/realphotos        # same as: realphotos.py extract --out DIR

Sources (Debian 12; `apt-get install` them, nothing else is downloaded):
  opencv-doc                 /usr/share/doc/opencv-doc/examples/data/*.{jpg,png,avi}  (OpenCV's sample data)
  lomiri-wallpapers-16.04    /usr/share/backgrounds/*.jpg
  lomiri-wallpapers-20.04    /usr/share/backgrounds/*.jpg
  mate-backgrounds           /usr/share/backgrounds/mate/**
  plasma-workspace-wallpapers /usr/share/wallpapers/**

License policy (the project is MIT OR Apache-2.0; the trained weights ship under it):
  kept:     CC0, CC-BY-3.0/4.0, BSD, Apache-2.0, MIT/Expat — permissive; attribution is recorded here and
            in the model card.
  rejected: copyleft and share-alike (GPL-2+, LGPL-3, CC-BY-SA-3.0/4.0). Whether weights trained on
            them are an adaptation that must carry the same license is unsettled; the project would
            have to ship its model under GPL/CC-BY-SA to be safe, so they are left out (--allow-copyleft
            includes them for experiments only; the manifest then records that).
  OpenCV's sample data: Debian's copyright file covers samples/data under the project's
            Apache-2.0 AND BSD-3-Clause (Debian removed the images it judged non-free, e.g. lena.jpg);
            per-image provenance is not documented upstream. Kept on Debian's licensing, noted as such;
            the one press photo of an identifiable person (messi5.jpg) is left out.
Besides the license, each image is reviewed by eye (the table REVIEW below): only colour photographs are
kept; artwork, renders, logos, diagrams, grayscale images, calibration targets, deliberately degraded
images (motion blur / defocus tests) and duplicates (stereo/flow partners, other resolutions) are not.
vtest.avi (a fixed camera over a road with pedestrians, 795 frames) contributes 8 frames, 100 apart.

Exit status 2 with `error:` and `fix:` lines when a package or file is missing or changed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from package import sha256_file

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = Path(__file__).resolve().parent / "real_photos.json"
TEST_SUBSET = Path(__file__).resolve().parent / "realphotos"
DEFAULT_CACHE = ROOT / "data" / "realphotos"
EXIT_DATA = 2

PACKAGES = ("opencv-doc", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "mate-backgrounds", "plasma-workspace-wallpapers")
OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data/"
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".avi")

PERMISSIVE = re.compile(r"^(CC0-1\.0|CC-BY-[34]\.0|BSD-[23]-Clause|Apache-2\.0|Expat|MIT)( AND (CC0-1\.0|CC-BY-[34]\.0|BSD-[23]-Clause|Apache-2\.0|Expat|MIT))*$")
COPYLEFT = re.compile(r"(GPL|LGPL|CC-BY-SA)")

VTEST_FRAMES = tuple(range(0, 800, 100))  # vtest.avi has 795 frames

# Reviewed by eye (contact sheets of every file). Key: file name (opencv-doc, lomiri, mate) or wallpaper
# folder name (plasma). Value: (kind, scene or note). kind "photo" = a colour photograph usable as real data.
REVIEW: dict[str, tuple[str, str]] = {
    # opencv-doc samples/data
    "aero1.jpg": ("photo", "outdoor: aerial view of a town"),
    "aero3.jpg": ("photo", "outdoor: aerial view of a town"),
    "building.jpg": ("photo", "outdoor: office building, trees, lawn"),
    "home.jpg": ("photo", "outdoor: building facade against sky"),
    "leuvenA.jpg": ("photo", "outdoor: cobbled street, brick houses"),
    "leuvenB.jpg": ("photo", "outdoor: cobbled street, brick houses (second viewpoint)"),
    "graf1.png": ("photo", "outdoor: graffiti wall"),
    "graf3.png": ("duplicate", "graf1.png from another viewpoint"),
    "apple.jpg": ("photo", "close-up: apple"),
    "orange.jpg": ("photo", "close-up: orange"),
    "fruits.jpg": ("photo", "close-up: fruit"),
    "butterfly.jpg": ("photo", "close-up: butterfly on a leaf"),
    "squirrel_cls.jpg": ("photo", "outdoor close-up: squirrel on a branch"),
    "baboon.jpg": ("photo", "close-up: baboon (classic test image)"),
    "chicky_512.png": ("photo", "close-up: dog"),
    "board.jpg": ("photo", "close-up: circuit board"),
    "stuff.jpg": ("photo", "indoor: objects on a table"),
    "left.jpg": ("photo", "indoor: books (stereo left)"),
    "right.jpg": ("duplicate", "stereo partner of left.jpg"),
    "aloeL.jpg": ("photo", "indoor: aloe plant (Middlebury stereo left)"),
    "aloeR.jpg": ("duplicate", "stereo partner of aloeL.jpg"),
    "aloeGT.png": ("diagram", "disparity map"),
    "rubberwhale1.png": ("photo", "indoor: toys (Middlebury flow)"),
    "rubberwhale2.png": ("duplicate", "flow partner of rubberwhale1.png"),
    "ela_original.jpg": ("photo", "close-up: notebook"),
    "ela_modified.jpg": ("degraded", "edited copy of ela_original.jpg (forgery-detection sample)"),
    "licenseplate_motion.jpg": ("degraded", "deliberate motion blur (deblurring sample)"),
    "text_defocus.jpg": ("degraded", "defocused text (deblurring sample)"),
    "text_motion.jpg": ("degraded", "motion-blurred text (deblurring sample)"),
    "messi5.jpg": ("person", "press photo of an identifiable person; provenance undocumented"),
    "basketball1.png": ("grayscale", "grayscale frames"),
    "basketball2.png": ("grayscale", "grayscale frames"),
    "box.png": ("grayscale", "grayscale"),
    "box_in_scene.png": ("grayscale", "grayscale"),
    "sudoku.png": ("grayscale", "photo of a printed puzzle, nearly grayscale"),
    "ellipses.jpg": ("diagram", "synthetic"),
    "starry_night.jpg": ("artwork", "painting"),
    "Blender_Suzanne1.jpg": ("render", "3D render"),
    "Blender_Suzanne2.jpg": ("render", "3D render"),
    "blox.jpg": ("render", "3D render"),
    "smarties.png": ("render", "synthetic"),
    "HappyFish.jpg": ("artwork", "clip art"),
    "LinuxLogo.jpg": ("artwork", "logo"),
    "WindowsLogo.jpg": ("artwork", "logo"),
    "opencv-logo.png": ("artwork", "logo"),
    "opencv-logo-white.png": ("artwork", "logo"),
    "ml.png": ("artwork", "clip art"),
    "cards.png": ("artwork", "synthetic"),
    "chessboard.png": ("diagram", "calibration pattern"),
    "detect_blob.png": ("diagram", "synthetic shapes"),
    "digits.png": ("diagram", "handwritten digits"),
    "gradient.png": ("diagram", "synthetic"),
    "imageTextN.png": ("diagram", "text"),
    "imageTextR.png": ("diagram", "text"),
    "notes.png": ("diagram", "music notation"),
    "mask.png": ("diagram", "mask"),
    "templ.png": ("diagram", "mask"),
    "tmpl.png": ("diagram", "mask"),
    "pca_test1.jpg": ("diagram", "silhouettes"),
    "pic1.png": ("diagram", "synthetic shapes"),
    "pic2.png": ("diagram", "synthetic shapes"),
    "pic3.png": ("diagram", "synthetic shapes"),
    "pic4.png": ("diagram", "synthetic shapes"),
    "pic5.png": ("diagram", "synthetic shapes"),
    "pic6.png": ("diagram", "synthetic shapes"),
    "vtest.avi": ("video", "outdoor: fixed camera over a road with pedestrians and a van"),
    "tree.avi": ("degraded", "320x240 Cinepak video, overexposed"),
    "Megamind.avi": ("artwork", "animated film clip"),
    "Megamind_bugy.avi": ("artwork", "animated film clip"),
    # lomiri-wallpapers-16.04 / -20.04
    "aitzgorri_by_Aitzol_Berasategi.jpg": ("photo", "outdoor: mountain valley"),
    "friends_by_Aitzol_Berasategi.jpg": ("photo", "outdoor: dog at a doorway"),
    "life_by_Aitzol_Berasategi.jpg": ("photo", "outdoor: forest stream"),
    "picosdeeuropa_by_Aitzol_Berasategi.jpg": ("photo", "outdoor: mountain path"),
    "sunset_by_Aitzol_Berasategi.jpg": ("photo", "outdoor: sunset over hills"),
    "seeding_by_Clements_Engelhardt.jpg": ("photo", "outdoor close-up: dandelions"),
    "Picture_0B_by_freespace.jpg": ("photo", "close-up: fig on a plate"),
    "Picture_1A_by_freespace.jpg": ("photo", "close-up: paint brushes"),
    "Wine_by_Jakkub_Mede.jpg": ("photo", "indoor: room"),
    "umang_by_Abhishek_Mudgal.jpg": ("artwork", "abstract gradient"),
    "Bridge_by_Sander_Klootwijk.jpg": ("photo", "outdoor: bridge cables against sky"),
    "Dragonfly_by_Bolly.jpg": ("photo", "outdoor close-up: dragonfly"),
    "Kleiber_by_Lukas_Baubkus.jpg": ("photo", "outdoor close-up: bird on tree bark"),
    "free_by_Peter_Nerlich.jpg": ("photo", "close-up: bird, lamps"),
    "greentock_by_Peter_Nerlich.jpg": ("photo", "close-up: clock"),
    "analogpattern_by_Peter_Nerlich.jpg": ("photo", "close-up: texture"),
    "Infinite-Sea_by_Aury88.jpg": ("artwork", "composite of sky and sea"),
    "Fossa_by_Jasper_Roks.jpg": ("artwork", "abstract"),
    "Painting-Colors_by__herobrine7gamer.jpg": ("artwork", "abstract"),
    # mate-backgrounds
    "Aqua.jpg": ("photo", "close-up: water drop"),
    "Blinds.jpg": ("photo", "close-up: leaf"),
    "Dune.jpg": ("photo", "outdoor: dune grass"),
    "FreshFlower.jpg": ("photo", "close-up: flower"),
    "Garden.jpg": ("photo", "close-up: flower"),
    "GreenMeadow.jpg": ("photo", "close-up: grass"),
    "LadyBird.jpg": ("photo", "close-up: ladybird"),
    "RainDrops.jpg": ("photo", "close-up: leaf with rain drops"),
    "Storm.jpg": ("photo", "outdoor: road under storm clouds"),
    "TwoWings.jpg": ("photo", "close-up: seed"),
    "Wood.jpg": ("photo", "close-up: wood"),
    "YellowFlower.jpg": ("photo", "close-up: flower"),
    # plasma-workspace-wallpapers (folder names)
    "BytheWater": ("photo", "outdoor: boardwalk by water"),
    "ColdRipple": ("photo", "outdoor: pier in fog"),
    "ColorfulCups": ("photo", "close-up: cups"),
    "DarkestHour": ("photo", "outdoor: lake at dusk"),
    "EveningGlow": ("photo", "outdoor: boats at sunset"),
    "FallenLeaf": ("photo", "outdoor close-up: fallen leaves"),
    "Grey": ("photo", "outdoor: architecture"),
    "Kite": ("photo", "outdoor: kite in the sky"),
    "OneStandsOut": ("photo", "outdoor close-up: moss"),
    "Path": ("photo", "outdoor: forest path"),
    "summer_1am": ("photo", "outdoor: lake at night"),
}
for _i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14):
    REVIEW[f"left{_i:02d}.jpg"] = ("calibration", "grayscale chessboard calibration view")
    REVIEW[f"right{_i:02d}.jpg"] = ("calibration", "grayscale chessboard calibration view")
# Anything of mate-backgrounds' abstract/ and desktop/ folders and every other plasma wallpaper is artwork.
ARTWORK_DIRS = ("/usr/share/backgrounds/mate/abstract/", "/usr/share/backgrounds/mate/desktop/")


class DataError(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def apt_fix(packages: list[str]) -> str:
    return f"sudo apt-get install -y --no-install-recommends {' '.join(sorted(set(packages)))}"


# ---------------------------------------------------------------------------------------------
# Debian package metadata


def package_info(pkg: str) -> dict[str, Any] | None:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}\t${Installed-Size}", pkg], capture_output=True, text=True)
    if r.returncode != 0 or "install ok installed" not in r.stdout:
        return None
    _, version, size = r.stdout.split("\t")
    return {"version": version, "installed_size_kb": int(size or 0)}


def package_files(pkg: str) -> list[str]:
    r = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=True)
    return sorted(line for line in r.stdout.splitlines() if line.lower().endswith(IMAGE_EXT) and Path(line).is_file())


@dataclass
class Stanza:
    patterns: list[str]
    license: str
    copyright: str


def parse_dep5(path: Path) -> list[Stanza]:
    """Files stanzas of a machine-readable debian/copyright file (DEP-5), in order."""
    out: list[Stanza] = []
    for para in re.split(r"\n\s*\n", path.read_text(errors="replace")):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r"^([A-Za-z-]+):\s?(.*)$", line)
            if m and not line.startswith(" "):
                key = m.group(1)
                fields[key] = m.group(2).strip()
            elif key and line.startswith(" "):
                fields[key] += "\n" + line.strip()
        if "Files" in fields and "License" in fields:
            pats = fields["Files"].split()
            lic = fields["License"].splitlines()[0].strip()
            out.append(Stanza(pats, lic, " / ".join(s.strip() for s in fields.get("Copyright", "").splitlines() if s.strip())))
    return out


def upstream_path(pkg: str, installed: str) -> str:
    """The path a copyright file's Files patterns refer to: opencv-doc installs OpenCV's samples/ as
    /usr/share/doc/opencv-doc/examples/ (so samples/data/x.jpg falls under `Files: *`, not `data/*`)."""
    if pkg == "opencv-doc" and installed.startswith("/usr/share/doc/opencv-doc/examples/"):
        return "samples/" + installed[len("/usr/share/doc/opencv-doc/examples/") :]
    return installed


def license_for(installed: str, stanzas: list[Stanza]) -> Stanza | None:
    """The last Files stanza matching the installed path (DEP-5: the last match wins). Upstream paths
    differ from installed ones, so a pattern matches any trailing part of the path; a pattern whose
    directory does not occur in it (lomiri's 16.04/x.jpg) matches by its file name."""
    parts = installed.strip("/").split("/")
    if not installed.startswith("/"):  # already an upstream path: match it whole
        return next((st for st in reversed(stanzas) if any(fnmatch.fnmatchcase(installed, p) for p in st.patterns)), None)
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    hit = None
    for st in stanzas:
        for pat in st.patterns:
            if pat.startswith("debian/"):
                continue
            base = pat.rsplit("/", 1)[-1]
            if any(fnmatch.fnmatchcase(t, pat) for t in tails) or ("/" in pat and not any(c in base for c in "*?[") and base == parts[-1]):
                hit = st
    return hit


def plasma_metadata_license(installed: str) -> tuple[str | None, str | None, str | None]:
    """(wallpaper folder, license, author) from plasma's metadata.json (upstream per-wallpaper license)."""
    m = re.match(r"^/usr/share/wallpapers/([^/]+)/", installed)
    if not m:
        return None, None, None
    meta = Path("/usr/share/wallpapers") / m.group(1) / "metadata.json"
    lic = author = None
    if meta.is_file():
        kp = json.loads(meta.read_text()).get("KPlugin", {})
        lic = kp.get("License")
        author = ", ".join(a.get("Name", "") for a in kp.get("Authors", []))
    return m.group(1), lic, author


SPDX = {"LGPLv3": "LGPL-3.0", "GPLv2+": "GPL-2.0+", "CC-BY-SA-4.0": "CC-BY-SA-4.0"}


# ---------------------------------------------------------------------------------------------
# Review


def review_file(pkg: str, path: str, stanzas: list[Stanza], allow_copyleft: bool) -> dict[str, Any]:
    name = Path(path).name
    entry: dict[str, Any] = {"package": pkg, "path": path}
    st = license_for(upstream_path(pkg, path), stanzas)
    entry["license"] = st.license if st else None
    entry["copyright"] = st.copyright if st else None
    key = name
    if pkg == "plasma-workspace-wallpapers":
        folder, up_lic, author = plasma_metadata_license(path)
        key = folder or name
        if up_lic:
            entry["upstream_license"] = SPDX.get(up_lic, up_lic)
        if author:
            entry["author"] = author
    if pkg == "opencv-doc" and not path.startswith(OPENCV_DATA):
        raise AssertionError(path)
    kind, note = REVIEW.get(key, ("", ""))
    if not kind:
        if any(path.startswith(d) for d in ARTWORK_DIRS) or pkg == "plasma-workspace-wallpapers":
            kind, note = "artwork", "artwork / illustration"
        else:
            kind, note = "unreviewed", "not reviewed"
    entry["kind"] = kind
    entry["note"] = note
    kept, reason = True, "colour photograph, permissive license"
    lic_all = " ".join(x for x in (entry["license"], entry.get("upstream_license")) if x)
    if kind not in ("photo", "video"):
        kept, reason = False, {"duplicate": "duplicate", "degraded": "deliberately degraded / low quality", "person": "identifiable person", "calibration": "calibration target (grayscale)"}.get(kind, f"not a photograph ({kind})")
    if not entry["license"]:
        kept, reason = False, "no license found in the package's copyright file"
    elif COPYLEFT.search(lic_all):
        if allow_copyleft and kept:
            reason = "copyleft/share-alike license, included by --allow-copyleft (experiments only)"
        elif kept:
            kept, reason = False, f"license {lic_all}: copyleft/share-alike, see the policy"
    elif kept and not PERMISSIVE.match(entry["license"]):
        kept, reason = False, f"license {entry['license']} not in the permissive list"
    # Plasma ships each wallpaper in several sizes (and a screenshot): only the largest counts.
    entry["kept"] = kept
    entry["reason"] = reason
    return entry


#: The scene tags of a cache's index.json ("scene"), from each photo's reviewed note.
SCENES = ("outdoor", "indoor", "close-up")


def scene_of(note: str) -> str:
    return "outdoor" if note.startswith("outdoor") else ("indoor" if note.startswith("indoor") else "close-up")


def parse_scenes(text: str | None) -> tuple[str, ...] | None:
    """A comma list of scene tags as a tuple of known tags; None (every photo) for None, "" or "all"."""
    if text is None or text.strip() in ("", "all"):
        return None
    tags = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [t for t in tags if t not in SCENES]
    if unknown:
        raise DataError(f"unknown scene tag(s) {', '.join(unknown)}", f"pass a comma-separated subset of {', '.join(SCENES)}, or all")
    return tags


def scene_files(folder: Path, scenes: tuple[str, ...] | None) -> list[Path]:
    """The images of `folder`: every one, or those whose index.json scene is in `scenes` (at least two:
    fewer is no reference for KID or a discriminator)."""
    files = find_images(folder)
    if scenes is None:
        return files
    index = folder / "index.json"
    if not index.is_file():
        raise DataError(f"{folder} has no index.json, so its photos have no scene tags for {','.join(scenes)}",
                        f"extract the photos with realphotos.py (python models/training/realphotos.py extract --out {folder}), or choose every photo")
    keep = {e["file"] for e in json.loads(index.read_text())["images"] if e.get("scene") in scenes}
    files = [f for f in files if f.name in keep]
    if len(files) < 2:
        raise DataError(f"{folder} holds {len(files)} photo(s) tagged {','.join(scenes)}; at least 2 are needed", f"widen the tags ({', '.join(SCENES)}) or choose every photo")
    return files


def build_manifest(allow_copyleft: bool = False) -> dict[str, Any]:
    missing = [p for p in PACKAGES if package_info(p) is None]
    if missing:
        raise DataError(f"Debian packages not installed: {', '.join(missing)}", apt_fix(missing))
    packages: dict[str, Any] = {}
    images: list[dict[str, Any]] = []
    for pkg in PACKAGES:
        info = package_info(pkg)
        assert info is not None
        cfile = Path("/usr/share/doc") / pkg / "copyright"
        stanzas = parse_dep5(cfile)
        packages[pkg] = {**info, "copyright_file": str(cfile)}
        files = package_files(pkg)
        if pkg == "opencv-doc":
            files = [f for f in files if f.startswith(OPENCV_DATA) and "/" not in f[len(OPENCV_DATA):]]
        largest: dict[str, tuple[int, str]] = {}
        entries = []
        for f in files:
            e = review_file(pkg, f, stanzas, allow_copyleft)
            e["sha256"] = sha256_file(Path(f))
            if not f.endswith(".avi"):
                from PIL import Image

                with Image.open(f) as im:
                    e["size"] = list(im.size)
                    e["mode"] = im.mode
            entries.append(e)
            if pkg == "plasma-workspace-wallpapers":
                folder = f.split("/")[4]
                area = e["size"][0] * e["size"][1] if "/contents/images/" in f else -1
                if folder not in largest or area > largest[folder][0]:
                    largest[folder] = (area, f)
        for e in entries:
            if pkg == "plasma-workspace-wallpapers":
                folder = e["path"].split("/")[4]
                if e["path"] != largest[folder][1]:
                    e["kept"], e["reason"] = False, f"duplicate: other size or screenshot of {largest[folder][1]}"
            if e["kind"] in ("photo", "video"):
                e["scene"] = scene_of(e["note"])
            if e["path"].endswith("vtest.avi"):
                e["frames"] = list(VTEST_FRAMES)
        images += entries
    kept = [e for e in images if e["kept"]]
    return {
        "generated_by": "models/training/realphotos.py --write-manifest" + (" --allow-copyleft" if allow_copyleft else ""),
        "policy": {
            "kept": "colour photographs under CC0-1.0, CC-BY-3.0/4.0, BSD, Apache-2.0, MIT/Expat",
            "rejected": "GPL/LGPL and CC-BY-SA (copyleft/share-alike: the project's weights are MIT OR Apache-2.0), "
            "non-photographs, grayscale, calibration targets, degraded samples, duplicates, identifiable people",
            "opencv-doc": "samples/data is covered by Debian's copyright file as Apache-2.0 AND BSD-3-Clause (Files: *); "
            "per-image provenance is undocumented upstream",
            "scope": "opencv-doc: examples/data/ top level only (its other images are documentation figures)",
            "allow_copyleft": allow_copyleft,
        },
        "packages": packages,
        "counts": {
            "files": len(images),
            "kept_files": len(kept),
            "kept_images": sum(len(e.get("frames", [0])) for e in kept),
            "rejected_files": len(images) - len(kept),
        },
        "images": images,
    }


def write_manifest(m: dict[str, Any], path: Path = MANIFEST) -> None:
    # one image per line: diffable, still valid JSON
    head = {k: v for k, v in m.items() if k != "images"}
    text = json.dumps(head, indent=2)[:-2] + ',\n  "images": [\n'
    text += ",\n".join("    " + json.dumps(e, sort_keys=True, ensure_ascii=False) for e in m["images"])
    text += "\n  ]\n}\n"
    json.loads(text)
    path.write_text(text)


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------
# Extraction


def resize_short(img: Any, short: int) -> Any:
    from PIL import Image

    w, h = img.size
    s = short / min(w, h)
    if s >= 1.0:
        return img
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)


def video_frames(path: Path, frames: list[int]) -> list[Any]:
    """Selected frames (0-based) of a video, decoded with ffmpeg, as PIL images."""
    from PIL import Image

    sel = "+".join(f"eq(n\\,{n})" for n in frames)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-vf", f"select='{sel}'", "-vsync", "vfr", f"{tmp}/%04d.png"]
        try:
            subprocess.run(cmd, check=True, capture_output=True)
        except FileNotFoundError as e:
            raise DataError("ffmpeg is not installed (needed to sample vtest.avi)", apt_fix(["ffmpeg"])) from e
        out = []
        for p in sorted(Path(tmp).glob("*.png")):
            with Image.open(p) as im:
                out.append(im.convert("RGB"))
    if len(out) != len(frames):
        raise DataError(f"{path}: decoded {len(out)} of {len(frames)} frames", "check the ffmpeg installation")
    return out


def extract(out: Path, short: int = 256, manifest: Path = MANIFEST, skip_missing: bool = False) -> dict[str, Any]:
    """Writes the manifest's kept images, resized to `short` px on the short side (never enlarged), as PNG
    under out/, plus out/index.json (file -> source, license, scene). Source files are checked against the
    manifest's sha256. Returns the index."""
    from PIL import Image

    m = load_manifest(manifest)
    kept = [e for e in m["images"] if e["kept"]]
    missing = sorted({e["package"] for e in kept if package_info(e["package"]) is None})
    if missing and not skip_missing:
        raise DataError(f"Debian packages not installed: {', '.join(missing)}", apt_fix(missing) + "  (or pass --skip-missing)")
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"short_side": short, "manifest": str(manifest.relative_to(ROOT)) if manifest.is_relative_to(ROOT) else str(manifest), "images": []}
    for e in kept:
        if e["package"] in missing:
            continue
        src = Path(e["path"])
        if sha256_file(src) != e["sha256"]:
            raise DataError(f"{src} differs from the reviewed file (sha256)", "review the new package version: realphotos.py --write-manifest")
        stem = f"{e['package']}__{src.stem}"
        if src.suffix == ".avi":
            imgs = [(f"{stem}_f{n:04d}", im) for n, im in zip(e["frames"], video_frames(src, e["frames"]))]
        else:
            with Image.open(src) as im:
                imgs = [(stem, im.convert("RGB"))]
        for name, im in imgs:
            r = resize_short(im, short)
            fn = f"{name}.png"
            r.save(out / fn, optimize=False, compress_level=6)
            index["images"].append(
                {"file": fn, "package": e["package"], "path": e["path"], "license": e["license"], "copyright": e["copyright"], "scene": e.get("scene"), "size": list(r.size)}
            )
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return index


# ---------------------------------------------------------------------------------------------
# Loading for training and KID


def find_images(folder: Path) -> list[Path]:
    """PNG/JPEG files of a folder: index.json's order if present, else sorted; also a sequence folder's color/."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder", f"extract the real photos first (python models/training/realphotos.py --out {folder}) or pass an existing image folder")
    if (folder / "index.json").is_file():
        return [folder / e["file"] for e in json.loads((folder / "index.json").read_text())["images"]]
    if (folder / "color").is_dir() and not any(folder.glob("*.png")):
        folder = folder / "color"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def load_images(folder: Path, scenes: tuple[str, ...] | None = None) -> list[np.ndarray]:
    """uint8 HxWx3 arrays of a cache folder (`scenes`: those of its index.json's tags, see scene_files) or any
    folder of images."""
    from PIL import Image

    folder = Path(folder)
    files = scene_files(folder, scenes)
    if not files:
        raise DataError(f"{folder} holds no PNG/JPEG images", f"extract the real photos first: python models/training/realphotos.py --out {folder}")
    out = []
    for f in files:
        with Image.open(f) as im:
            out.append(np.asarray(im.convert("RGB")).copy())
    return out


class RealPatches:
    """Random crops of real photos for the discriminator: sample(n, size, seed, step) -> float32 tensor
    [n, 3, size, size] in 0..1, deterministic in (seed, step); each crop comes from a random image,
    at a random scale in `scale` (fraction of the cached short side; 1.0 = cached pixels), flipped
    horizontally half the time."""

    def __init__(self, folder: Path, scenes: tuple[str, ...] | None = None, scale: tuple[float, float] = (0.5, 1.0)) -> None:
        self.images = load_images(folder, scenes)
        self.scale = scale

    def sample(self, n: int, size: int, seed: int = 0, step: int = 0) -> Any:
        import torch
        import torch.nn.functional as F

        rng = np.random.default_rng([seed, step, 0x7EA1])
        out = []
        for _ in range(n):
            img = self.images[int(rng.integers(len(self.images)))]
            h, w = img.shape[:2]
            s = float(rng.uniform(*self.scale))
            c = min(h, w, max(size, int(round(size / s))))  # crop this many source px, resample to size
            y = int(rng.integers(0, h - c + 1))
            x = int(rng.integers(0, w - c + 1))
            t = torch.from_numpy(img[y : y + c, x : x + c]).permute(2, 0, 1).float().div_(255.0)[None]
            if c != size:
                t = F.interpolate(t, size=(size, size), mode="area" if c > size else "bilinear", align_corners=None if c > size else False)
            if rng.random() < 0.5:
                t = t.flip(3)
            out.append(t)
        return torch.cat(out).clamp_(0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Test subset (committed, small)


def write_test_subset(cache: Path, out: Path = TEST_SUBSET, per_image: int = 1, size: int = 128) -> None:
    """Center crops (size x size) of the cache's kept images, PNG, plus LICENSES.json: the real-photo
    patches the tests use where the Debian packages are not installed. Deterministic."""
    from PIL import Image

    idx = json.loads((cache / "index.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob("*.png"):
        p.unlink()
    lic = []
    for e in idx["images"]:
        with Image.open(cache / e["file"]) as im:
            w, h = im.size
            x, y = (w - size) // 2, (h - size) // 2
            crop = im.convert("RGB").crop((x, y, x + size, y + size))
        fn = e["file"]
        crop.save(out / fn, optimize=True)
        lic.append({"file": fn, "package": e["package"], "path": e["path"], "license": e["license"], "copyright": e["copyright"], "scene": e["scene"],
                    "derived": f"resized to {idx['short_side']} px short side, centre {size}x{size} crop"})
    (out / "index.json").write_text(json.dumps({"short_side": size, "images": lic}, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", choices=("extract", "manifest"), help="optional: `extract --out DIR` = --out DIR; `manifest` = --write-manifest")
    ap.add_argument("--write-manifest", action="store_true", help=f"review the installed packages and rewrite {MANIFEST.name}")
    ap.add_argument("--allow-copyleft", action="store_true", help="with --write-manifest: keep GPL/LGPL/CC-BY-SA photos too (experiments only)")
    ap.add_argument("--out", type=Path, help=f"extract the kept images here (e.g. {DEFAULT_CACHE.relative_to(ROOT)})")
    ap.add_argument("--short-side", type=int, default=256, help="resize to this short side (px, never enlarged; default 256)")
    ap.add_argument("--skip-missing", action="store_true", help="extract what the installed packages have; skip the rest")
    ap.add_argument("--write-test-subset", action="store_true", help=f"with --out: rewrite the committed test patches in {TEST_SUBSET.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    if args.command == "manifest":
        args.write_manifest = True
    if args.command == "extract" and not args.out:
        ap.error("extract needs --out DIR")
    if not (args.write_manifest or args.out):
        ap.error("nothing to do: pass --write-manifest and/or --out DIR")
    if args.short_side < 32:
        ap.error("--short-side must be at least 32")
    try:
        if args.write_manifest:
            m = build_manifest(args.allow_copyleft)
            write_manifest(m)
            print(f"{MANIFEST.relative_to(ROOT)}: {m['counts']}")
        if args.out:
            idx = extract(args.out, args.short_side, skip_missing=args.skip_missing)
            print(f"{args.out}: {len(idx['images'])} images, short side {args.short_side} px")
            if args.write_test_subset:
                write_test_subset(args.out)
                print(f"{TEST_SUBSET.relative_to(ROOT)}: test patches written")
    except DataError as e:
        print(f"error: {e}\nfix: {e.fix}", file=sys.stderr)
        return EXIT_DATA
    return 0


if __name__ == "__main__":
    sys.exit(main())
