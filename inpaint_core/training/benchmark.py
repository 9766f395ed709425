"""``python -m inpaint_core benchmark``: inference latency and peak memory, and training throughput.

The inference cases are :mod:`inpaint_core.eval.benchmark`'s. Training throughput is a few
album training steps (forward, album losses, backward, AdamW step; data loading excluded) on
synthetic batches, through the album trainer's own step
(:class:`~inpaint_core.training.album.AlbumSteps`), so the figure follows the trainer.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

from inpaint_core.checkpoint import read_meta
from inpaint_core.data.masks import research_holes
from inpaint_core.eval.benchmark import (
    PeakMemory,
    add_inference_arguments,
    benchmark,
    format_table,
    median_ms,
)
from inpaint_core.models.album import AlbumConfig
from inpaint_core.models.network import resolve_device
from inpaint_core.models.vgg import VGG_ENV, VGG16Features, load_vgg16
from inpaint_core.training.album import AlbumSteps, AlbumTrainConfig
from inpaint_core.training.config import layer_names
from inpaint_core.training.device import Dist

__all__ = ["training_throughput", "album_training", "format_training", "add_arguments", "main"]


def training_throughput(config: AlbumConfig, device: torch.device, batch: int, crop: int, steps: int,
                        warmup: int = 1, vgg_weights=None) -> dict:
    """Images/s of album training steps on synthetic ``batch x 3 x crop x crop`` batches.

    The album trainer's step with its default flags: its losses, weights, optimiser and
    mixed-precision policy. The VGG of the perceptual loss has ImageNet weights when
    ``vgg_weights`` or ``$INPAINT_VGG16_WEIGHTS`` is given and random ones otherwise: the cost
    is the same.
    """
    cfg = AlbumTrainConfig(data="-")
    layers = layer_names(cfg.vgg_layers)
    torch.manual_seed(0)
    if vgg_weights or os.environ.get(VGG_ENV):
        vgg, vgg_note = load_vgg16(vgg_weights, layers), "ImageNet VGG16"
    else:
        vgg, vgg_note = VGG16Features(layers), "randomly initialised VGG16 (no --vgg-weights; same cost)"
    trainer = AlbumSteps(cfg, config, Dist(device=device), vgg)
    rng = np.random.default_rng(0)
    mask = torch.from_numpy(np.stack([research_holes(crop, crop, rng, size=max(1, crop // 8)) for _ in range(batch)]))
    mask = mask[:, None].float().to(device)
    target = torch.rand(batch, 3, crop, crop, device=device)
    synthetic = {"input": target * (1 - mask), "mask": mask, "target": target}

    def step():
        generated = trainer.forward(synthetic)
        trainer.d_step(generated)
        trainer.g_step(generated, 1)

    with PeakMemory(device) as mem:
        ms = median_ms(step, steps, warmup, device)
    return {"images_per_s": batch / (ms / 1000), "step_ms": ms, "batch": batch, "crop": crop, "steps": steps,
            "peak_mb": mem.mb, "vgg": vgg_note, "parameters": trainer.parameters}


def album_training(checkpoint, device: str, batch: int, crop: int, steps: int, vgg_weights=None) -> dict:
    """:func:`training_throughput` of ``checkpoint``'s album model, or of the model a new training
    run builds (``AlbumConfig``'s defaults) where there is no checkpoint or it is of another kind."""
    meta = read_meta(checkpoint) if checkpoint else {}
    is_album = meta.get("kind") == "album"
    config = AlbumConfig(**meta["config"]) if is_album else AlbumConfig()
    result = training_throughput(config, resolve_device(device), batch, crop, steps, vgg_weights=vgg_weights)
    result["model"] = "this checkpoint's album config" if is_album else "default album config"
    return result


def format_training(t: dict) -> str:
    """The report's training line."""
    peak = "n/a" if t["peak_mb"] is None else f"{t['peak_mb']:.0f}"
    return (f"training ({t['model']}, {t['parameters'] / 1e6:.2f}M params): {t['images_per_s']:.1f} images/s "
            f"({t['batch']} x {t['crop']}px crops, median of {t['steps']} steps of {t['step_ms']:.0f} ms, "
            f"peak {peak} MB); perceptual loss: {t['vgg']}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inference_arguments(parser)
    parser.add_argument("--train-steps", type=int, default=3, help="timed training steps (0 skips training)")
    parser.add_argument("--train-batch", type=int, default=8, help="training batch size")
    parser.add_argument("--train-crop", type=int, default=128, help="training crop side in px")
    parser.add_argument("--vgg-weights", help="VGG16 weights for the training step's perceptual loss "
                        "(default: $INPAINT_VGG16_WEIGHTS, else random weights: the cost is the same)")


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)

    def progress(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        result = benchmark(args.checkpoint, args.device, args.repeats, args.warmup, args.sizes, args.big,
                           progress=progress, with_reference=args.reference)
        training = None
        if args.train_steps > 0:
            progress(f"  timing {args.train_steps} training steps ...")
            training = album_training(args.checkpoint, args.device, args.train_batch, args.train_crop,
                                      args.train_steps, args.vgg_weights)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(result))
    if training:
        print(format_training(training))
    return 0
