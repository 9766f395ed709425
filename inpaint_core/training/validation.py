"""What a trainer measures and shows of its model at each validation.

* :class:`HeldOutJudge`: the judge of ``../shared/JUDGE.md`` (or the old perceptual distance),
  hole PSNR and detail on the run's fixed validation holes, for the model and for the classical
  peers it is set against;
* :func:`selection_score`: the figure ``--select`` exports by;
* sample grids (masked | output | target | ...).

Importable without gradio or rasterio (the GPU machines have neither); PyPatchMatch is optional.
"""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inpaint_core.eval.metrics import (
    JUDGE_LAYERS,
    JudgeDistance,
    PerceptualDistance,
    detail_ratio,
)
from inpaint_core.models.vgg import load_vgg16
from inpaint_core.training.config import JUDGE, layer_names

__all__ = ["hole_psnr", "HeldOutJudge", "held_out_judge", "validation_distance", "selection_score",
           "images_to_uint8", "predict", "sample_columns", "save_grid"]


def hole_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB) over the hole pixels of one ``HxWx3 uint8`` image (the validation figure).

    ``inpaint_core.eval.metrics.psnr`` is the evaluation's version; this one needs no
    scikit-image, which the training machines may lack.
    """
    diff = pred[mask].astype(np.float64) - target[mask].astype(np.float64)
    mse = max(float((diff**2).mean()), 1e-10)
    return 10 * float(np.log10(255.0**2 / mse))


class HeldOutJudge:
    """The targets' figures on a trainer's fixed validation holes, read at every validation.

    ``distance``: ``inpaint_core.eval.metrics.JudgeDistance`` (the judge of ``../shared/JUDGE.md``,
    logged as ``judge``), ``PerceptualDistance`` (the old raw-VGG distance, logged as
    ``perceptual``, for the model cards' history), or None for PSNR and detail only.
    ``fill(masked, mask, *extra) -> HxWx3 uint8``: the classical peer the targets are set
    against (PatchMatch, land-cover PatchMatch), scored under ``name``. As in ``evaluate``,
    the peer sees the image with its holes blacked out and only its hole pixels count, and
    the model's output is pasted into the holes only. The validation holes are fixed for a
    run, so the peer fills them once (the first validation) and its scores are reused.

    Per validation: :meth:`start`, :meth:`image` for each image, then :meth:`finish`.
    """

    def __init__(self, distance=None, fill: typing.Callable | None = None, name: str = "baseline",
                 peers: dict[str, typing.Callable] | None = None):
        self.distance = distance
        self.peers = dict(peers or {})  # name -> fill; ``fill``/``name`` add one more
        if fill is not None:
            self.peers[name] = fill
        self.key = "judge" if isinstance(distance, JudgeDistance) else "perceptual"
        # per peer, per image: (hole PSNR, distance, detail), filled once per run
        self.baseline: dict[str, list[tuple[float, float | None, float]]] | None = None
        self._model: list[tuple[float | None, float]] = []  # per image: (distance, detail)
        self._count, self._new = 0, None

    def start(self) -> None:
        self._model, self._count = [], 0
        self._new = {name: [] for name in self.peers} if self.peers and self.baseline is None else None

    def image(self, pred: np.ndarray, target: np.ndarray, mask: np.ndarray, *extra) -> None:
        """One validation image: ``pred`` the model's output, ``target`` the original (both
        ``HxWx3 uint8``), ``mask`` the ``HxW`` bool hole; ``extra``: the fills' other inputs."""
        self._count += 1
        hole = mask[..., None]
        feats = None if self.distance is None else self.distance.features(target)  # once for every fill
        comp = np.where(hole, pred, target).astype(np.uint8)
        self._model.append((None if feats is None else self.distance(comp, feats), detail_ratio(comp, target, mask)))
        if self._new is not None:
            masked = np.where(hole, 0, target).astype(np.uint8)  # no fill sees the hole's own pixels
            for name, fill in self.peers.items():
                filled = np.where(hole, fill(masked, mask, *extra), target).astype(np.uint8)
                self._new[name].append((hole_psnr(filled, target, mask),
                                        None if feats is None else self.distance(filled, feats),
                                        detail_ratio(filled, target, mask)))

    def finish(self) -> dict[str, float]:
        """The model's ``judge`` (or ``perceptual``) distance and median ``detail`` ratio; each
        peer's ``psnr_hole_NAME``, ``judge_NAME`` and ``detail_NAME``; and ``win_rate_NAME``, the
        share of images where the model's distance is below that peer's."""
        if self._new is not None:
            self.baseline, self._new = self._new, None
        out = {}
        if self._model:
            out["detail"] = float(np.nanmedian([d for _, d in self._model]))
            if self.distance is not None:
                out[self.key] = float(np.mean([v for v, _ in self._model]))
        for name, rows in (self.baseline or {}).items():
            if len(rows) != self._count:
                raise RuntimeError(f"{name} scored {len(rows)} validation images, the model {self._count}")
            out[f"psnr_hole_{name}"] = float(np.mean([r[0] for r in rows]))
            out[f"detail_{name}"] = float(np.nanmedian([r[2] for r in rows]))
            if self.distance is not None:
                out[f"{self.key}_{name}"] = float(np.mean([r[1] for r in rows]))
                out[f"win_rate_{name}"] = float(np.mean([m[0] < r[1] for m, r in zip(self._model, rows)]))
        return out


def held_out_judge(vgg_weights, layers: str, device, name: str, fill: typing.Callable | None,
                   more: dict[str, typing.Callable] | None = None) -> HeldOutJudge:
    """The trainers' :class:`HeldOutJudge`: ``--val-perceptual``'s distance, and ``fill`` (a
    PatchMatch-based peer, or None when switched off) unless PyPatchMatch cannot run here,
    which is said, not fatal (the GPU training machine lacks it); ``more``: other peers."""
    if fill is not None:
        why = _patchmatch_missing()
        if why:
            print(f"validation: {name} skipped ({why}); pip install pypatchmatch to score it")
            fill = None
    return HeldOutJudge(validation_distance(vgg_weights, layers, device), fill, name, peers=more)


def selection_score(select: str, val: dict, step: int) -> float:
    """The figure ``--select`` exports by (higher is better): the step for ``last``, minus the
    distance for ``judge`` and ``perceptual``, else the validation figure of that name."""
    if select == "last":
        return float(step)
    if select in ("perceptual", JUDGE):
        return -val[select]
    return val.get(select, -float("inf"))


def validation_distance(vgg_weights, layers: str, device):
    """``--val-perceptual``'s metric: the judge (``judge``), the old distance on ``layers``
    (comma-separated), or None for ``''``; a clear stop when the VGG file lacks the layers."""
    names = layer_names(layers)
    if not names:
        return None
    try:
        if names == (JUDGE,):
            return JudgeDistance(load_vgg16(vgg_weights, JUDGE_LAYERS), device)
        return PerceptualDistance(load_vgg16(vgg_weights, names), device)
    except ValueError as err:
        hint = ("the judge reads relu5_3: pass weights to conv5_3 (e.g. --vgg-weights "
                "vgg16_imagenet_features_to_relu4_3.pth,vgg16_imagenet_features_conv5.pth)") if names == (JUDGE,) else \
            "name layers the file holds, or '' for PSNR only"
        raise SystemExit(f"--val-perceptual {layers}: {err} ({hint})") from err


def _patchmatch_missing() -> str | None:
    """Why PyPatchMatch cannot run here (not installed, or its native library did not load), or None."""
    try:
        import patchmatch as pm
    except ImportError as err:
        return str(err)
    return None if getattr(pm, "patchmatch_available", True) else "its native library did not load"


def images_to_uint8(t: torch.Tensor) -> np.ndarray:
    """``Nx3xHxW`` float [0,1] -> ``NxHxWx3`` uint8."""
    return (t.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def save_grid(path, columns: list[np.ndarray], gap: int = 4) -> Path:
    """Save a grid PNG: ``columns`` is a list of ``NxHxWx3 uint8`` arrays, one per column
    (e.g. masked | output | target); each row is one sample."""
    n, h, w = columns[0].shape[:3]
    grid = np.full((n * h + (n - 1) * gap, len(columns) * w + (len(columns) - 1) * gap, 3), 255, np.uint8)
    for c, col in enumerate(columns):
        for r in range(n):
            grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = col[r]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path


@torch.no_grad()
def predict(model: torch.nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """``model(*inputs)`` in eval mode, on the CPU; the model's training mode is restored."""
    was_training = model.training
    model.eval()
    out = model(*inputs).cpu()
    model.train(was_training)
    return out


def sample_columns(batch: dict, pred: torch.Tensor) -> list[np.ndarray]:
    """A sample grid's first columns, ``NxHxWx3 uint8`` each: the input with magenta holes, the
    output pasted into the holes, the target. ``batch``: ``mask`` ``Nx1xHxW`` and ``target``
    ``Nx3xHxW`` in [0, 1]; ``pred`` the model's ``Nx3xHxW`` output for it."""
    mask, target = batch["mask"], batch["target"]
    masked = target * (1 - mask) + mask * torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1)
    comp = pred * mask + target * (1 - mask)
    return [images_to_uint8(masked), images_to_uint8(comp), images_to_uint8(target)]
