#!/usr/bin/env python3
"""Time a packaged student's forward pass on every device and execution provider this machine has.

  python models/training/forward_speed.py --package models/realmaster-student --out out/speed.json

The student is rebuilt in PyTorch from the package (lineage.json's model settings, model.onnx's
weights; export.package_weights), checked against ONNX Runtime's CPU EP on the package's own graph
(so the timed network is the shipped one), and then timed at --sizes:
- ONNX Runtime with each of CUDA / TensorRT / CPU that the installed onnxruntime offers (the
  runtime's own path; the GPU ones need the onnxruntime-gpu wheel), with host arrays in and out and,
  on a GPU, with inputs and output bound on the GPU (the forward pass without the PCIe copies);
- PyTorch on CUDA, fp32 and bf16 autocast, channels_last (what the same network costs on the GPU
  when no ONNX Runtime GPU build is at hand), with CUDA events; bf16's largest difference from fp32
  is reported beside its time.
Sizes must be multiples of 16 (the graph's contract): 1080p is timed as 1920x1088.
Each figure is the median of --repeats runs after --warmup runs. Writes --out as JSON and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from seqio import DataError

DEFAULT_SIZES = "256x144,512x288,1280x720,1920x1088"


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        try:
            w, h = (int(v) for v in part.lower().split("x"))
        except ValueError as e:
            raise DataError(f"--sizes entry {part!r} is not WxH", "write sizes like 256x144,1920x1088") from e
        if w <= 0 or h <= 0 or w % 16 or h % 16:
            raise DataError(f"--sizes entry {part!r} is not a positive multiple of 16 on both axes", "round up, e.g. 1920x1088 for 1080p")
        sizes.append((w, h))
    return sizes


def load_package_student(package: Path):
    """The package's student as a PyTorch module (eval mode, fp32, CPU)."""
    from export import LINEAGE, package_weights
    from model import Student, StudentConfig

    lineage = package / LINEAGE
    if not lineage.is_file():
        raise DataError(f"{lineage} does not exist", "pass a package exported by export.py (it writes lineage.json)")
    stages = json.loads(lineage.read_text()).get("stages") or []
    if not stages or "model" not in stages[-1]:
        raise DataError(f"{lineage} names no model settings", "re-export the package with this export.py")
    model = Student(StudentConfig.from_dict(stages[-1]["model"]))
    model.load_state_dict(package_weights(package, model))
    return model.eval()


def check_against_package(model, package: Path) -> float:
    """Largest |torch - ORT CPU| on the package's model.onnx at 144x256: the timed network is the shipped one."""
    import onnxruntime as ort
    import torch

    from model import graph_inputs, graph_module

    sess = ort.InferenceSession(str(package / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = graph_inputs(model.cfg, 144, 256)
    feed = {n: t.numpy() for n, t in zip(model.cfg.input_names, inputs)}
    with torch.no_grad():
        ref = graph_module(model)(*inputs).numpy()
    return float(np.abs(sess.run(None, feed)[0] - ref).max())


def time_ort(graph: Path, provider: str, sizes, threads: int, warmup: int, repeats: int, cfg, deterministic: bool = False) -> dict[str, dict[str, float]]:
    """Median ms per size of the ONNX `graph` with host arrays in and out (what a caller without I/O
    binding pays) and, for a GPU provider, with inputs and output bound on the GPU (the forward
    pass alone)."""
    import onnxruntime as ort

    from model import OUTPUT_NAMES, graph_inputs

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.use_deterministic_compute = deterministic
    sess = ort.InferenceSession(str(graph), so, providers=[provider])
    if sess.get_providers()[0] != provider:
        raise RuntimeError(f"{provider} did not start (session runs on {sess.get_providers()})")
    on_gpu = provider != "CPUExecutionProvider"
    out: dict[str, dict[str, float]] = {"host_arrays": {}}
    if on_gpu:
        out["gpu_bound"] = {}

    def median_ms(step) -> float:
        for _ in range(warmup):
            step()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            ts.append(1000.0 * (time.perf_counter() - t0))
        return round(statistics.median(ts), 3)

    for w, h in sizes:
        feed = {n: t.numpy() for n, t in zip(cfg.input_names, graph_inputs(cfg, h, w))}
        out["host_arrays"][f"{w}x{h}"] = median_ms(lambda: sess.run(None, feed))
        if on_gpu:
            io = sess.io_binding()
            for n, a in feed.items():
                io.bind_ortvalue_input(n, ort.OrtValue.ortvalue_from_numpy(a, "cuda", 0))
            io.bind_output(OUTPUT_NAMES[0], "cuda", 0)

            def bound() -> None:
                sess.run_with_iobinding(io)
                io.synchronize_outputs()

            out["gpu_bound"][f"{w}x{h}"] = median_ms(bound)
    return out


def time_torch_cuda(model, sizes, warmup: int, repeats: int) -> dict[str, dict]:
    import torch

    from model import graph_inputs, graph_module

    net = graph_module(model).cuda().to(memory_format=torch.channels_last)
    result: dict[str, dict] = {"fp32": {}, "bf16": {}, "bf16_max_abs_diff": {}}
    torch.backends.cudnn.benchmark = True
    for w, h in sizes:
        inputs = [t.cuda() for t in graph_inputs(model.cfg, h, w)]
        inputs = [t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t for t in inputs]
        outs = {}
        for name, autocast in (("fp32", False), ("bf16", True)):
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                for _ in range(warmup):
                    net(*inputs)
                torch.cuda.synchronize()
                ts = []
                for _ in range(repeats):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    y = net(*inputs)
                    end.record()
                    end.synchronize()
                    ts.append(start.elapsed_time(end))
                outs[name] = y.float()
            result[name][f"{w}x{h}"] = round(statistics.median(ts), 3)
        result["bf16_max_abs_diff"][f"{w}x{h}"] = round(float((outs["bf16"] - outs["fp32"]).abs().max()), 4)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", type=Path, default=Path("models/realmaster-student"))
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help=f"WxH list, multiples of 16 (default {DEFAULT_SIZES})")
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime CPU threads (0 = its default, every core)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--providers", default="", help="comma list of ORT providers to time, e.g. CUDAExecutionProvider (default: every one offered)")
    ap.add_argument("--deterministic", action="store_true", help="ORT's deterministic compute, as the runtime's sessions run (cuDNN then picks only deterministic algorithms)")
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    try:
        import onnxruntime as ort
        import torch

        sizes = parse_sizes(args.sizes)
        model = load_package_student(args.package)
        diff = check_against_package(model, args.package)
        if diff > 1e-3:
            raise DataError(f"the rebuilt student differs from {args.package}/model.onnx by {diff:.2e}", "the package's lineage.json and model.onnx disagree; re-export it")
        report: dict = {
            "package": str(args.package),
            "torch_vs_package_max_abs_diff": diff,
            "onnxruntime": ort.__version__,
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            # PyTorch's fp32 convolutions use TF32 tensor cores unless this is off
            "torch_cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "ort_deterministic_compute": args.deterministic,
            "ort": {},
            "ort_failed": {},
        }
        offered = ort.get_available_providers()
        if args.providers:
            offered = [p for p in offered if p in args.providers.split(",")]
        for provider in ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"):
            if provider not in offered:
                continue
            try:
                report["ort"][provider] = time_ort(args.package / "model.onnx", provider, sizes, args.threads, args.warmup, args.repeats, model.cfg, args.deterministic)
            except Exception as e:  # a GPU EP that is offered but cannot start is a finding, not a crash
                report["ort_failed"][provider] = str(e).splitlines()[0][:300]
        if torch.cuda.is_available():
            report["torch_cuda"] = time_torch_cuda(model, sizes, args.warmup, args.repeats)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    keys = [f"{w}x{h}" for w, h in sizes]
    print(f"{'forward pass, ms (median)':34s}" + "".join(f"{k:>12s}" for k in keys))
    rows = []
    for p, modes in report["ort"].items():
        for mode, t in modes.items():
            rows.append((f"ORT {p.replace('ExecutionProvider', '')} ({mode.replace('_', ' ')})", t))
    if "torch_cuda" in report:
        rows += [("PyTorch CUDA fp32", report["torch_cuda"]["fp32"]), ("PyTorch CUDA bf16", report["torch_cuda"]["bf16"])]
    for name, t in rows:
        print(f"{name:34s}" + "".join(f"{t[k]:12.2f}" for k in keys))
    for p, why in report["ort_failed"].items():
        print(f"{p} failed: {why}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
