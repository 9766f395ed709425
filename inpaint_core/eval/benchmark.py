"""``python -m inpaint_core benchmark``: inference latency, peak memory and training throughput.

Inference cases go through the public ``inpaint()`` pipeline (validation, Telea
pre-fill, padding, network, paste-back), because that is what a user waits for:
square images at each size with the ``full`` strategy (the network sees every pixel),
and a large photo with a few strokes with the ``crop`` strategy. Latency is the median
of ``repeats`` runs after ``warmup`` runs; OpenCV's Telea fill on the same input is
timed for reference, and so is the strongest classical fill, through the same pipeline and
strategy: PatchMatch, or land-cover PatchMatch with the checkpoint's exemplar bank for a
land-cover model (the model's time target is a fraction of it; ``--no-reference`` skips it). Training throughput is a few album training steps (forward,
album losses, backward, AdamW step; data loading excluded) on synthetic batches.

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
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from inpaint_core.data.masks import free_form, research_holes
from inpaint_core.fills.classical import telea
from inpaint_core.models.album import AlbumUNet

__all__ = ["benchmark", "format_table", "PeakMemory", "synthetic_image", "few_strokes", "add_arguments", "main"]

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


def _median_ms(fn, repeats: int, warmup: int, device: torch.device) -> float:
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


def _trainer_importable() -> bool:
    """Whether the training scripts (the ``train`` package beside this one) are installed."""
    import importlib.util

    return importlib.util.find_spec("inpaint_core.training.album") is not None


def _default_album():
    """The album model a new training run builds: AlbumConfig's defaults, the one place they live."""
    from inpaint_core.models.album import AlbumConfig

    return AlbumConfig(), "AlbumConfig defaults, as train/album.py builds"


def _load_model(checkpoint, device: str):
    from inpaint_core.registry import AlbumInpainter, load_inpainter

    if checkpoint:
        model = load_inpainter(checkpoint, device=device)
        return model, f"{model.kind} model from {checkpoint}"
    config, origin = _default_album()
    torch.manual_seed(0)
    model = AlbumInpainter(AlbumUNet(config), device=device)
    return model, f"randomly initialised album model ({origin}; no --checkpoint: latency only, outputs meaningless)"


def _reference(model):
    """The classical fill a model must beat: land-cover PatchMatch for land-cover models, else PatchMatch."""
    from inpaint_core.registry import ClassicalInpainter, LandcoverFillInpainter

    if "landcover" in model.extra_inputs:
        return LandcoverFillInpainter(model.classes, "landcover-patchmatch", bank=getattr(model, "bank", None))
    return ClassicalInpainter("patchmatch")


def _extra_inputs(model, h: int, w: int) -> dict:
    if "landcover" not in model.extra_inputs:
        return {}
    # blocky land cover: classes in 64-px cells, so every class is asked for somewhere
    yy, xx = np.indices((h, w))
    return {"landcover": ((yy // 64 + xx // 64) % len(model.classes)).astype(np.int64)}


def training_throughput(config, device: torch.device, batch: int, crop: int, steps: int, warmup: int = 1,
                        vgg_weights=None) -> dict:
    """Images/s of album training steps on synthetic ``batch x 3 x crop x crop`` batches.

    Uses the album trainer's losses, weights, optimiser and mixed-precision policy.
    The VGG of the perceptual loss has ImageNet weights when ``vgg_weights`` or
    ``$INPAINT_VGG16_WEIGHTS`` is given and random ones otherwise: the cost is the same.
    """
    from inpaint_core.models.vgg import VGG_ENV, VGG16Features, load_vgg16
    from inpaint_core.training.album import TrainConfig, train_step
    from inpaint_core.training.losses import PerceptualLoss

    cfg = TrainConfig(data="-")
    layers = tuple(cfg.vgg_layers.split(","))
    torch.manual_seed(0)
    if vgg_weights or os.environ.get(VGG_ENV):
        vgg, vgg_note = load_vgg16(vgg_weights, layers), "ImageNet VGG16"
    else:
        vgg, vgg_note = VGG16Features(layers), "randomly initialised VGG16 (no --vgg-weights; same cost)"
    perceptual = PerceptualLoss(vgg.to(device))
    model = AlbumUNet(config).to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)  # as the trainer does
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(0)
    mask = torch.from_numpy(np.stack([research_holes(crop, crop, rng, size=max(1, crop // 8)) for _ in range(batch)]))
    mask = mask[:, None].float().to(device)
    target = torch.rand(batch, 3, crop, crop, device=device)
    inputs = target * (1 - mask)
    if device.type == "cpu":
        inputs = inputs.contiguous(memory_format=torch.channels_last)

    def step():
        train_step(model, opt, inputs, mask, target, perceptual, cfg, device)

    with PeakMemory(device) as mem:
        ms = _median_ms(step, steps, warmup, device)
    return {"images_per_s": batch / (ms / 1000), "step_ms": ms, "batch": batch, "crop": crop, "steps": steps,
            "peak_mb": mem.mb, "vgg": vgg_note, "parameters": sum(p.numel() for p in model.parameters())}


def benchmark(checkpoint=None, device: str = "auto", repeats: int = 5, warmup: int = 1, sizes=SIZES, big=BIG,
              train_batch: int = 8, train_crop: int = 128, train_steps: int = 3, vgg_weights=None,
              progress=print, with_reference: bool = True) -> dict:
    """Measure; returns ``{"model", "device", "cases": [Case as dict], "training": {...}, ...}``.

    ``sizes``: square sides for the ``full``-strategy cases; ``big``: ``(h, w)`` of the
    ``crop``-strategy case (None to skip); ``train_steps`` 0 skips training.
    ``progress`` is called with a line before each case.
    """
    from inpaint_core.engine import resolve_device

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
            model_ms = _median_ms(lambda: model.inpaint(image, mask, strategy=strategy, **extra), repeats, warmup, dev)
        telea_ms = _median_ms(lambda: telea(image, mask), repeats, warmup, torch.device("cpu"))
        reference_ms = None
        if reference is not None:  # slow (seconds): fewer runs, no warm-up (it has no lazy set-up to warm)
            reference_ms = _median_ms(lambda: reference.inpaint(image, mask, strategy=strategy, **extra),
                                      min(repeats, 3), 0, torch.device("cpu"))
        results.append(Case(name, strategy, model_ms, telea_ms, reference_ms, mem.mb, float(mask.mean())))
        method = mem.method
    training = None
    if train_steps > 0 and not _trainer_importable():
        progress("  skipping training throughput: train/album.py is not beside this inpaint_core (not a source checkout)")
    elif train_steps > 0:
        progress(f"  timing {train_steps} training steps ...")
        is_album = isinstance(model.model, AlbumUNet)
        config = model.model.config if is_album else _default_album()[0]
        training = training_throughput(config, dev, train_batch, train_crop, train_steps, vgg_weights=vgg_weights)
        training["model"] = ("this checkpoint's album config" if checkpoint and is_album
                             else "default album config")
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
        "training": training,
    }


def format_table(result: dict) -> str:
    """The printed report: a Markdown-style table of the cases, then the training line."""
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
    t = result["training"]
    if t:
        lines.append(f"training ({t['model']}, {t['parameters'] / 1e6:.2f}M params): {t['images_per_s']:.1f} images/s "
                     f"({t['batch']} x {t['crop']}px crops, median of {t['steps']} steps of {t['step_ms']:.0f} ms, "
                     f"peak {mb(t['peak_mb'])} MB); perceptual loss: {t['vgg']}")
    return "\n".join(lines)


def _size_list(text: str) -> tuple[int, ...]:
    return tuple(int(s) for s in text.split(",") if s.strip())


def _hw(text: str) -> tuple[int, int] | None:
    if text.lower() in ("none", "0", ""):
        return None
    w, _, h = text.lower().partition("x")
    return int(h), int(w)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, help="model file; default: a randomly initialised album model")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (the median is reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before each case")
    parser.add_argument("--sizes", type=_size_list, default=",".join(map(str, SIZES)), help="square sides, comma-separated")
    parser.add_argument("--big", type=_hw, default=f"{BIG[1]}x{BIG[0]}", help="WxH of the crop-strategy case ('none' to skip)")
    parser.add_argument("--train-steps", type=int, default=3, help="timed training steps (0 skips training)")
    parser.add_argument("--train-batch", type=int, default=8, help="training batch size")
    parser.add_argument("--train-crop", type=int, default=128, help="training crop side in px")
    parser.add_argument("--vgg-weights", help="VGG16 weights for the training step's perceptual loss "
                        "(default: $INPAINT_VGG16_WEIGHTS, else random weights: the cost is the same)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the strongest classical fill (PatchMatch, or land-cover PatchMatch)")


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = benchmark(args.checkpoint, args.device, args.repeats, args.warmup, args.sizes, args.big,
                           args.train_batch, args.train_crop, args.train_steps, args.vgg_weights,
                           progress=lambda line: print(line, file=sys.stderr), with_reference=args.reference)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(result))
    return 0
