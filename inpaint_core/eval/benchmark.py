"""The inference benchmark of ``python -m inpaint_core benchmark``: latency and peak memory.

Inference cases go through the public ``inpaint()`` pipeline (validation, Telea
pre-fill, padding, network, paste-back), because that is what a user waits for:
square images at each size with the ``full`` strategy (the network sees every pixel),
and a large photo with a few strokes with the ``crop`` strategy. Latency is the median
of ``repeats`` runs after ``warmup`` runs; OpenCV's Telea fill on the same input is
timed for reference, and so is the strongest classical fill, through the same pipeline and
strategy: PatchMatch, or land-cover PatchMatch with the checkpoint's exemplar bank for a
land-cover model (the model's time target is a fraction of it; ``--no-reference`` skips it). The
command (with its training-throughput line) is :mod:`inpaint_core.training.benchmark`.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` above what was allocated
before the case; on the CPU the rise of the process's resident-set high-water mark
(``VmHWM``, reset through ``/proc/self/clear_refs`` before each case) over its resident
size before the case; tracemalloc would miss torch's allocations. Where the mark cannot
be reset (non-Linux), ``ru_maxrss`` is used and only growth past the earlier peak shows.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from inpaint_core.data.masks import free_form, research_holes
from inpaint_core.fills.classical import telea
from inpaint_core.models.album import AlbumConfig, AlbumInpainter, AlbumUNet
from inpaint_core.models.network import resolve_device
from inpaint_core.registry import (
    ClassicalInpainter,
    LandcoverFillInpainter,
    load_inpainter,
)

__all__ = ["benchmark", "format_table", "PeakMemory", "median_ms", "synthetic_image", "few_strokes",
           "add_inference_arguments"]

SIZES = (256, 512, 1024)
BIG = (3000, 4000)  # height, width: a 12 Mpx photo


@dataclass
class Case:
    name: str
    strategy: str
    model_ms: float  # median latency of model.inpaint
    telea_ms: float  # median latency of OpenCV's Telea on the same input
    reference_ms: float | None  # median latency of the strongest classical fill (PatchMatch), same pipeline
    peak_mb: float | None  # peak memory of the model runs above the level before them
    hole_fraction: float


def synthetic_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A structured ``HxWx3 uint8`` picture (gradients, stripes, noise) cheap enough at 12 Mpx."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (255 * x).astype(np.uint8)
    img[..., 1] = (255 * y).astype(np.uint8)
    img[..., 2] = (127 + 120 * np.sin(40 * (x + y))).astype(np.uint8)
    return img ^ rng.integers(0, 16, (h, w, 3), dtype=np.uint8)  # fine texture


def few_strokes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """``HxW`` bool: up to three brush strokes sized for a ~600-px view, like a user removing small objects."""
    return free_form(h, w, rng, max_strokes=3, max_boxes=0, side=min(600, h, w))


class PeakMemory:
    """Context manager; ``.mb`` is the peak memory in MiB above the level at entry (see module doc)."""

    def __init__(self, device: torch.device):
        self.device, self.mb, self.method = device, None, ""

    @staticmethod
    def _status_kb(field: str) -> int | None:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
            self.method = "cuda max_memory_allocated"
            return self
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)
            self.start, self.method = self._status_kb("VmRSS"), "VmHWM"
        except OSError:
            self.start, self.method = None, "ru_maxrss"
        if self.start is None:
            self.start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
            self.method = "ru_maxrss"
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mb = (torch.cuda.max_memory_allocated(self.device) - self.start) / 2**20
        elif self.method == "VmHWM":
            self.mb = max(0, self._status_kb("VmHWM") - self.start) / 1024
        else:
            self.mb = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.start) / 1024
        return False


def median_ms(fn, repeats: int, warmup: int, device: torch.device) -> float:
    """The median wall time of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones, in ms."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()  # CUDA work is asynchronous: time it finished, not when it was queued
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def _load_model(checkpoint, device: str):
    if checkpoint:
        model = load_inpainter(checkpoint, device=device)
        return model, f"{model.kind} model from {checkpoint}"
    torch.manual_seed(0)
    model = AlbumInpainter(AlbumUNet(AlbumConfig()), device=device)  # the one place the defaults live
    return model, ("randomly initialised album model (AlbumConfig defaults, as train/album.py builds; no --checkpoint: "
                   "latency only, outputs meaningless)")


def _reference(model):
    """The classical fill a model must beat: land-cover PatchMatch for land-cover models, else PatchMatch."""
    if "landcover" in model.extra_inputs:
        return LandcoverFillInpainter(model.classes, "landcover-patchmatch", bank=getattr(model, "bank", None))
    return ClassicalInpainter("patchmatch")


def _extra_inputs(model, h: int, w: int) -> dict:
    if "landcover" not in model.extra_inputs:
        return {}
    # blocky land cover: classes in 64-px cells, so every class is asked for somewhere
    yy, xx = np.indices((h, w))
    return {"landcover": ((yy // 64 + xx // 64) % len(model.classes)).astype(np.int64)}


def benchmark(checkpoint=None, device: str = "auto", repeats: int = 5, warmup: int = 1, sizes=SIZES, big=BIG,
              progress=print, with_reference: bool = True) -> dict:
    """Measure; returns ``{"model", "device", "cases": [Case as dict], ...}``.

    ``sizes``: square sides for the ``full``-strategy cases; ``big``: ``(h, w)`` of the
    ``crop``-strategy case (None to skip). ``progress`` is called with a line before each case.
    """
    dev = resolve_device(device)
    model, description = _load_model(checkpoint, str(dev))
    cases = [(f"{s}x{s}", s, s, "full") for s in sizes]
    if big:
        cases.append((f"{big[1]}x{big[0]}, few strokes", big[0], big[1], "crop"))
    results, method = [], ""
    reference = _reference(model) if with_reference else None
    for i, (name, h, w, strategy) in enumerate(cases):
        progress(f"  timing {name} ...")
        image = synthetic_image(h, w, seed=i)
        rng = np.random.default_rng([0, i])
        mask = few_strokes(h, w, rng) if strategy == "crop" else research_holes(h, w, rng, size=max(1, h // 8))
        extra = _extra_inputs(model, h, w)
        with PeakMemory(dev) as mem:
            model_ms = median_ms(lambda: model.inpaint(image, mask, strategy=strategy, **extra), repeats, warmup, dev)
        telea_ms = median_ms(lambda: telea(image, mask), repeats, warmup, torch.device("cpu"))
        reference_ms = None
        if reference is not None:  # slow (seconds): fewer runs, no warm-up (it has no lazy set-up to warm)
            reference_ms = median_ms(lambda: reference.inpaint(image, mask, strategy=strategy, **extra),
                                      min(repeats, 3), 0, torch.device("cpu"))
        results.append(Case(name, strategy, model_ms, telea_ms, reference_ms, mem.mb, float(mask.mean())))
        method = mem.method
    return {
        "model": description,
        "parameters": sum(p.numel() for p in model.model.parameters()),
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else
                              f" ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "cpu_count": os.cpu_count(),
        "repeats": repeats,
        "memory_method": method,
        "cases": [asdict(c) for c in results],
        "reference": None if reference is None else reference.kind,
    }


def format_table(result: dict) -> str:
    """The printed report: a Markdown-style table of the cases."""
    def mb(v):
        return "n/a" if v is None else f"{v:.0f}"

    lines = [
        f"model:  {result['model']} ({result['parameters'] / 1e6:.2f}M parameters)",
        f"device: {result['device']}" + (f"; load average {result['load_average']:.1f} on {result['cpu_count']} CPUs "
                                         "(other processes slow these figures)" if result["load_average"] else ""),
        "",
        f"| case | strategy | hole % | model ms (median of {result['repeats']}) | Telea ms | "
        f"{result.get('reference') or 'reference'} ms | model / it | model peak MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in result["cases"]:
        ref = c.get("reference_ms")
        ratio = f"{c['model_ms'] / ref:.2f}" if ref else "n/a"
        lines.append(f"| {c['name']} | {c['strategy']} | {100 * c['hole_fraction']:.1f} | {c['model_ms']:.1f} | "
                     f"{c['telea_ms']:.1f} | {'n/a' if ref is None else f'{ref:.1f}'} | {ratio} | {mb(c['peak_mb'])} |")
    lines.append(f"\npeak memory: {result['memory_method']} above the level before each case")
    return "\n".join(lines)


def _size_list(text: str) -> tuple[int, ...]:
    return tuple(int(s) for s in text.split(",") if s.strip())


def _hw(text: str) -> tuple[int, int] | None:
    if text.lower() in ("none", "0", ""):
        return None
    w, _, h = text.lower().partition("x")
    return int(h), int(w)


def add_inference_arguments(parser: argparse.ArgumentParser) -> None:
    """The inference benchmark's flags (the command adds the training benchmark's)."""
    parser.add_argument("--checkpoint", type=Path, help="model file; default: a randomly initialised album model")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (the median is reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before each case")
    parser.add_argument("--sizes", type=_size_list, default=",".join(map(str, SIZES)), help="square sides, comma-separated")
    parser.add_argument("--big", type=_hw, default=f"{BIG[1]}x{BIG[0]}", help="WxH of the crop-strategy case ('none' to skip)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the strongest classical fill (PatchMatch, or land-cover PatchMatch)")
