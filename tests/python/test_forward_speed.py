"""forward_speed.py: the shipped student rebuilt from its package, checked against its graph, timed."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "training"))

import forward_speed  # noqa: E402
import pytest  # noqa: E402
from seqio import DataError  # noqa: E402

PACKAGE = ROOT / "models" / "realmaster-student"


def test_times_the_shipped_student_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    rc = forward_speed.main(["--package", str(PACKAGE), "--sizes", "96x64,128x80", "--threads", "1", "--warmup", "0", "--repeats", "2", "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    # the network timed is the package's own: PyTorch rebuilt from lineage.json + model.onnx agrees with ORT
    assert report["torch_vs_package_max_abs_diff"] < 1e-4
    cpu = report["ort"]["CPUExecutionProvider"]
    assert set(cpu) == {"host_arrays"}  # no GPU binding on the CPU
    assert set(cpu["host_arrays"]) == {"96x64", "128x80"}
    assert all(ms > 0 for ms in cpu["host_arrays"].values())


def test_sizes_must_be_multiples_of_16() -> None:
    assert forward_speed.parse_sizes("1920x1088,256x144") == [(1920, 1088), (256, 144)]
    for bad in ("1920x1080", "0x16", "16", "axb"):
        with pytest.raises(DataError):
            forward_speed.parse_sizes(bad)
    assert forward_speed.main(["--package", str(PACKAGE), "--sizes", "1920x1080"]) == 2


def test_a_package_whose_lineage_names_other_settings_is_refused(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("text_encoder.onnx", "vocab.txt"))
    lineage = json.loads((pkg / "lineage.json").read_text())
    lineage["stages"][-1]["model"]["widths"] = [16, 24, 40, 56]
    (pkg / "lineage.json").write_text(json.dumps(lineage))
    with pytest.raises(DataError, match="does not hold this student's weights"):
        forward_speed.load_package_student(pkg)
    (pkg / "lineage.json").unlink()
    with pytest.raises(DataError, match="lineage.json does not exist"):
        forward_speed.load_package_student(pkg)
