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
* Perceptual distance (lower is better): mean L1 distance between VGG16 ReLU activations of
  the two whole images, averaged over :data:`PERCEPTUAL_LAYERS` (one value per layer,
  equal weights, so each depth counts the same whatever its channel count).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from inpaint_core.losses import VGG16Features

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
]

PSNR_CAP = 100.0  # dB; 8-bit images differing by one level in one pixel of 256x256 already score ~96 dB
HOLE_DILATION = 3  # px added around the hole for hole SSIM: the seam is part of the fill's quality
PERCEPTUAL_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # one per VGG block up to what the offline file holds

# metric key -> (label for reports, True if higher is better)
METRICS = {
    "psnr_hole": ("PSNR hole (dB)", True),
    "psnr_whole": ("PSNR whole (dB)", True),
    "ssim_hole": ("SSIM hole", True),
    "ssim_whole": ("SSIM whole", True),
    "l1_hole": ("L1 hole", False),
    "perceptual": ("perceptual dist.", False),
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
    from skimage.metrics import peak_signal_noise_ratio  # on first use: the training machines may lack it

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


class PerceptualDistance:
    """Mean L1 distance between VGG16 ReLU activations, averaged over the VGG's layers.

    ``vgg`` is a :class:`~inpaint_core.losses.VGG16Features` (ImageNet weights for real
    figures; tests pass a random one). :meth:`features` lets a caller compute the
    target's activations once and compare several fills against them.
    """

    def __init__(self, vgg: VGG16Features, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.vgg = vgg.to(self.device).eval()
        self.layers = tuple(vgg.layers)

    @torch.inference_mode()
    def features(self, image: np.ndarray) -> list[torch.Tensor]:
        """``HxWx3 uint8`` -> list of ``1xCxhxw`` float32 activations, one per layer."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be HxWx3 uint8, got {image.dtype} {image.shape}")
        x = torch.from_numpy(image.copy())  # a copy: PIL-backed arrays are read-only
        x = x.to(self.device).permute(2, 0, 1)[None].float() / 255.0
        return [f.float() for f in self.vgg(x)]

    @torch.inference_mode()
    def __call__(self, pred: np.ndarray, target) -> float:
        """Distance of ``pred`` to ``target`` (an image, or its :meth:`features`)."""
        feats_t = self.features(target) if isinstance(target, np.ndarray) else target
        feats_p = self.features(pred)
        return float(np.mean([(fp - ft).abs().mean().item() for fp, ft in zip(feats_p, feats_t)]))
