"""Image-quality metrics for inpainting: how close a fill is to the original.

All functions compare a filled image ``pred`` with the original ``target``, both
``HxWx3 uint8`` RGB, optionally restricted to an ``HxW`` bool ``mask`` (True = hole).

* PSNR (dB, higher is better), on the hole pixels or the whole image, through
  :func:`skimage.metrics.peak_signal_noise_ratio` with ``data_range=255``. Identical
  inputs would give infinity, which breaks means over images, so PSNR is capped at
  :data:`PSNR_CAP`.
* SSIM (at most 1, higher is better) through :func:`skimage.metrics.structural_similarity`
  with Wang et al.'s settings (11x11 Gaussian window, sigma 1.5, population covariance).
  Whole image: scikit-image's mean (it skips a border of half a window). Hole: the
  per-pixel SSIM map (``full=True``) averaged over the hole dilated by
  :data:`HOLE_DILATION` px, so the seam where the fill meets the known pixels counts.
* L1 on the hole: mean absolute error of the hole pixels, with colours scaled to [0, 1].
* Judge distance (lower is better; ``../shared/JUDGE.md``, the figure that decides): LPIPS-shaped.
  VGG16 activations at :data:`JUDGE_LAYERS` (relu1_2 ... relu5_3), each pixel's feature vector
  divided by its L2 norm over channels, the squared difference summed over channels and
  averaged over pixels, the five layers summed. No training loss uses it.
* Detail ratio: the variance of the Laplacian of the grey fill over the hole's interior (the
  hole eroded by 3x3), over the original's. About 1 is the original's texture; 0.05 a smear.
* Old perceptual distance (``perceptual``, kept for the model cards' history): mean L1
  distance between raw VGG16 activations at :data:`PERCEPTUAL_LAYERS`, averaged over layers.
  It is the album training loss's own term, so it flatters a model trained on it.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from inpaint_core.models.vgg import VGG16Features

__all__ = [
    "PSNR_CAP",
    "HOLE_DILATION",
    "PERCEPTUAL_LAYERS",
    "METRICS",
    "psnr",
    "ssim",
    "l1_hole",
    "dilate",
    "image_metrics",
    "PerceptualDistance",
    "JUDGE_LAYERS",
    "JudgeDistance",
    "detail_ratio",
]

PSNR_CAP = 100.0  # dB; 8-bit images differing by one level in one pixel of 256x256 already score ~96 dB
HOLE_DILATION = 3  # px added around the hole for hole SSIM: the seam is part of the fill's quality
PERCEPTUAL_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # one per VGG block up to what the offline file holds
JUDGE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")  # torchvision features 3, 8, 15, 22, 29

# metric key -> (label for reports, True if higher is better)
METRICS = {
    "psnr_hole": ("PSNR hole (dB)", True),
    "psnr_whole": ("PSNR whole (dB)", True),
    "ssim_hole": ("SSIM hole", True),
    "ssim_whole": ("SSIM whole", True),
    "l1_hole": ("L1 hole", False),
    "judge": ("judge dist.", False),
    "detail": ("detail ratio", True),
    "perceptual": ("old perceptual", False),
    "landcover_consistency": ("land-cover consistency", True),
}


def _check_pair(pred: np.ndarray, target: np.ndarray) -> None:
    for name, a in (("pred", pred), ("target", target)):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"{name} must be an HxWx3 uint8 array, got "
                             f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} differ in size")


def _check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape[:2]):
        raise ValueError(f"mask {mask.shape} does not match image {shape[:2]}")
    if not mask.any():
        raise ValueError("mask has no hole pixels; hole metrics are undefined")
    return mask


def psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB over all pixels, or over the hole pixels when ``mask`` is given; capped at :data:`PSNR_CAP`."""
    _check_pair(pred, target)
    if mask is not None:
        mask = _check_mask(mask, pred.shape)
        pred, target = pred[mask], target[mask]  # Nx3: scikit-image takes any shape
    if np.array_equal(pred, target):
        return PSNR_CAP
    from skimage.metrics import (
        peak_signal_noise_ratio,  # on first use: the training machines may lack it
    )

    return min(PSNR_CAP, float(peak_signal_noise_ratio(target, pred, data_range=255)))


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """``HxW`` bool mask grown by ``px`` pixels (square structuring element)."""
    if px <= 0:
        return mask.astype(bool)
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None,
         dilation: int = HOLE_DILATION) -> tuple[float, float | None]:
    """``(ssim_whole, ssim_hole)``; ``ssim_hole`` is None without ``mask``.

    One SSIM map serves both: the whole-image value is scikit-image's mean, the hole
    value the map's mean over the hole dilated by ``dilation`` px (channels averaged).
    """
    _check_pair(pred, target)
    from skimage.metrics import structural_similarity

    whole, smap = structural_similarity(target, pred, channel_axis=2, data_range=255, full=True,
                                        gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    if mask is None:
        return float(whole), None
    region = dilate(_check_mask(mask, pred.shape), dilation)
    return float(whole), float(smap[region].mean())


def l1_hole(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute error over the hole pixels and channels, colours in [0, 1]."""
    _check_pair(pred, target)
    mask = _check_mask(mask, pred.shape)
    diff = pred[mask].astype(np.float32) - target[mask].astype(np.float32)
    return float(np.abs(diff).mean() / 255.0)


def image_metrics(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The pixel metrics of one fill: ``psnr_hole``, ``psnr_whole``, ``ssim_hole``, ``ssim_whole``, ``l1_hole``."""
    ssim_whole, ssim_hole = ssim(pred, target, mask)
    return {
        "psnr_hole": psnr(pred, target, mask),
        "psnr_whole": psnr(pred, target),
        "ssim_hole": ssim_hole,
        "ssim_whole": ssim_whole,
        "l1_hole": l1_hole(pred, target, mask),
    }


@torch.inference_mode()
def _vgg_features(vgg: VGG16Features, device: torch.device, image: np.ndarray) -> list[torch.Tensor]:
    """``HxWx3 uint8`` -> ``vgg``'s activations, ``1xCxhxw`` float32, one per layer."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be HxWx3 uint8, got {getattr(image, 'dtype', type(image).__name__)} "
                         f"{getattr(image, 'shape', '')}")
    x = torch.from_numpy(image.copy())  # a copy: PIL-backed arrays are read-only
    return [f.float() for f in vgg(x.to(device).permute(2, 0, 1)[None].float() / 255.0)]


class PerceptualDistance:
    """Mean L1 distance between VGG16 ReLU activations, averaged over the VGG's layers.

    ``vgg`` is a :class:`~inpaint_core.models.vgg.VGG16Features` (ImageNet weights for real
    figures; tests pass a random one). :meth:`features` lets a caller compute the
    target's activations once and compare several fills against them.
    """

    def __init__(self, vgg: VGG16Features, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.vgg = vgg.to(self.device).eval()
        self.layers = tuple(vgg.layers)

    def features(self, image: np.ndarray) -> list[torch.Tensor]:
        """``HxWx3 uint8`` -> list of ``1xCxhxw`` float32 activations, one per layer."""
        return _vgg_features(self.vgg, self.device, image)

    @torch.inference_mode()
    def __call__(self, pred: np.ndarray, target) -> float:
        """Distance of ``pred`` to ``target`` (an image, or its :meth:`features`)."""
        feats_t = self.features(target) if isinstance(target, np.ndarray) else target
        feats_p = self.features(pred)
        return float(np.mean([(fp - ft).abs().mean().item() for fp, ft in zip(feats_p, feats_t)]))


def _grey_laplacian(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return cv2.Laplacian(grey, cv2.CV_64F)


def detail_ratio(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """The fill's texture relative to the original's: variance of the grey picture's Laplacian
    over the hole's interior (``mask`` eroded by 3x3; the hole itself where nothing is left),
    ``pred``'s over ``target``'s. NaN where the original is flat there (no texture to match).
    """
    _check_pair(pred, target)
    mask = _check_mask(mask, pred.shape)
    interior = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0
    if not interior.any():
        interior = mask
    original = float(_grey_laplacian(target)[interior].var())
    if original < 1e-9:
        return float("nan")
    return float(_grey_laplacian(pred)[interior].var()) / original


class JudgeDistance:
    """The judge's perceptual distance (``../shared/JUDGE.md``), and the old one from the same pass.

    ``vgg``: a :class:`~inpaint_core.models.vgg.VGG16Features` whose layers include
    :data:`JUDGE_LAYERS` (ImageNet weights to relu5_3 for real figures; tests pass a random
    one). :meth:`features` computes an image's activations once; :meth:`__call__` compares
    a fill with them; :meth:`scores` also returns the old distance (raw-activation L1 at
    :data:`PERCEPTUAL_LAYERS`) for the history of the model cards.
    """

    layers = JUDGE_LAYERS

    def __init__(self, vgg: VGG16Features, device: str | torch.device = "cpu"):
        missing = [name for name in JUDGE_LAYERS if name not in vgg.layers]
        if missing:
            raise ValueError(f"the judge needs VGG16 layers {', '.join(missing)}; build the VGG with "
                             f"layers {', '.join(JUDGE_LAYERS)} (weights to conv5_3)")
        self.device = torch.device(device)
        self.vgg = vgg.to(self.device).eval()
        self._judge = [vgg.layers.index(name) for name in JUDGE_LAYERS]
        self._old = [vgg.layers.index(name) for name in PERCEPTUAL_LAYERS if name in vgg.layers]

    def features(self, image: np.ndarray) -> list[torch.Tensor]:
        """``HxWx3 uint8`` -> the VGG's activations (``1xCxhxw`` float32, one per layer)."""
        return _vgg_features(self.vgg, self.device, image)

    @staticmethod
    def _unit(f: torch.Tensor) -> torch.Tensor:
        return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)

    def distance(self, feats_p: list[torch.Tensor], feats_t: list[torch.Tensor]) -> float:
        """The judge's distance between two images' :meth:`features`."""
        total = 0.0
        for i in self._judge:
            total += (self._unit(feats_p[i]) - self._unit(feats_t[i])).pow(2).sum(dim=1).mean().item()
        return total

    def old_distance(self, feats_p: list[torch.Tensor], feats_t: list[torch.Tensor]) -> float:
        """The old perceptual distance (mean raw-activation L1 at :data:`PERCEPTUAL_LAYERS`)."""
        return float(np.mean([(feats_p[i] - feats_t[i]).abs().mean().item() for i in self._old]))

    @torch.inference_mode()
    def __call__(self, pred: np.ndarray, target) -> float:
        """Judge distance of ``pred`` to ``target`` (an image, or its :meth:`features`)."""
        feats_t = self.features(target) if isinstance(target, np.ndarray) else target
        return self.distance(self.features(pred), feats_t)

    @torch.inference_mode()
    def scores(self, pred: np.ndarray, target) -> dict[str, float]:
        """``{"judge": ..., "perceptual": ...}`` (the old distance) from one VGG pass of ``pred``."""
        feats_t = self.features(target) if isinstance(target, np.ndarray) else target
        feats_p = self.features(pred)
        return {"judge": self.distance(feats_p, feats_t), "perceptual": self.old_distance(feats_p, feats_t)}
