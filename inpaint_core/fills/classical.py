"""Classical fills: the baselines, the networks' pre-fills and the app's fallback.

By name, they are lines of the built-in fills' table (:mod:`inpaint_core.fills.table`).

* OpenCV's Telea and Navier-Stokes fills: smooth, instant, no texture;
* PatchMatch (PyPatchMatch, MIT): copies real patches from the known part of the image,
  the free "content-aware fill" that keeps foliage, sand, print and lettering textured.
  Its randomised search is seeded before every call, so equal inputs give equal fills.

All functions take and return RGB ``HxWx3 uint8`` and an ``HxW`` bool mask (True = hole).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import cv2
import numpy as np

__all__ = ["telea", "navier_stokes", "patchmatch", "patchmatch_guide", "patchmatch_texture", "patchmatch_threads",
           "DEFAULT_RADIUS", "PATCH_SIZE"]

DEFAULT_RADIUS = 5  # OpenCV's inpaintRadius: the neighbourhood each filled pixel averages
PATCH_SIZE = 3  # PatchMatch patch radius (7x7 patches): PyPatchMatch's examples and the tools shipping it use 3


class _SeedGate:
    """PyPatchMatch keeps one random seed for the whole process, which every inpainting starts from
    (set by ``set_random_seed``). So calls with the same seed may run at once,
    on threads (the native call releases Python's lock): measured, 48 calls of 6 sizes, with and
    without source masks, on 3 threads gave the pixels of the same calls one after another. A call
    with another seed waits until none is running, then sets it (it may wait as long as calls with
    the running seed keep coming; every caller in this package uses seed 0). At most ``limit()``
    calls run at once, however the threads that make them are nested (regions of a picture, each
    filling its classes): the others wait their turn."""

    def __init__(self, limit):
        self._cond = threading.Condition()
        self._seed, self._running, self.limit = None, 0, limit

    @contextmanager
    def seeded(self, pm, seed: int):
        with self._cond:
            while self._running and (self._seed != seed or self._running >= self.limit()):
                self._cond.wait()
            if not self._running:
                pm.set_random_seed(seed)
                self._seed = seed
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()


def patchmatch_threads() -> int:
    """How many PatchMatch calls may run at once in this process: ``OMP_NUM_THREADS`` where it is
    set (as for the other native libraries; Dask's workers set it to 1), else one per CPU."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1


_GATE = _SeedGate(patchmatch_threads)


def _cv_inpaint(image: np.ndarray, mask: np.ndarray, flag: int, radius: int) -> np.ndarray:
    if not mask.any():
        return image.copy()
    # OpenCV is channel-order agnostic here, so RGB in = RGB out
    return cv2.inpaint(np.ascontiguousarray(image), mask.astype(np.uint8) * 255, radius, flag)


def telea(image: np.ndarray, mask: np.ndarray, radius: int = DEFAULT_RADIUS) -> np.ndarray:
    """Telea's fast-marching fill (``cv2.INPAINT_TELEA``)."""
    return _cv_inpaint(image, mask, cv2.INPAINT_TELEA, radius)


def navier_stokes(image: np.ndarray, mask: np.ndarray, radius: int = DEFAULT_RADIUS) -> np.ndarray:
    """The Navier-Stokes based fill (``cv2.INPAINT_NS``)."""
    return _cv_inpaint(image, mask, cv2.INPAINT_NS, radius)


def patchmatch(image: np.ndarray, mask: np.ndarray, patch_size: int = PATCH_SIZE, seed: int = 0,
               source: np.ndarray | None = None) -> np.ndarray:
    """PatchMatch fill: every hole pixel is rebuilt from patches of the known pixels.

    ``source``: optional ``HxW`` bool map of the pixels allowed as patch sources (default:
    every pixel outside the hole). Pixels that are neither hole nor source keep their values
    and are never copied. Deterministic for a given ``seed``.
    """
    if not mask.any():
        return image.copy()
    import patchmatch as pm  # imported on first use: the training path never needs it

    image = np.ascontiguousarray(image)
    hole = mask.astype(np.uint8)
    hidden = None
    if source is not None:
        hidden = (~(source.astype(bool) | mask.astype(bool))).astype(np.uint8)
    with _GATE.seeded(pm, seed):
        return pm.inpaint(image, hole, global_mask=hidden, patch_size=patch_size)


def patchmatch_guide(image: np.ndarray, mask: np.ndarray, scale: float = 0.5, seed: int = 0) -> np.ndarray:
    """PatchMatch at ``scale`` of the resolution, upsampled (cubic) into the hole: a texture
    guide at a fraction of PatchMatch's time (about a quarter at half resolution)."""
    if not mask.any():
        return image.copy()
    h, w = mask.shape
    sh, sw = max(8, round(h * scale)), max(8, round(w * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    # a low-resolution pixel is a hole if any of its area was one, so no hole colour leaks in
    small_mask = cv2.resize(mask.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0
    up = cv2.resize(patchmatch(small, small_mask, seed=seed), (w, h), interpolation=cv2.INTER_CUBIC)
    out = image.copy()
    out[mask] = up[mask]
    return out


def patchmatch_texture(image: np.ndarray, mask: np.ndarray, guide: np.ndarray, weight: float = 1.0,
                       patch_size: int = PATCH_SIZE, seed: int = 0) -> np.ndarray:
    """PatchMatch guided by a fill: every hole pixel is rebuilt from real patches of the known
    pixels, chosen to match the picture around them and ``guide`` (``HxWx3 uint8``, a fill of
    the same holes, e.g. one made at a lower resolution and scaled up) where they land.

    The guide's lightness and chroma (Lab) steer PatchMatch's search (its regularity term,
    ``weight`` relative to the patch distance), so the result follows the guide's structure
    with the picture's own texture at full resolution.
    """
    if not mask.any():
        return image.copy()
    import patchmatch as pm

    lab = cv2.cvtColor(np.ascontiguousarray(guide), cv2.COLOR_RGB2LAB).astype(np.float32)
    steer = np.dstack([lab[..., 0], (lab[..., 1] + lab[..., 2]) / 2, np.zeros_like(lab[..., 0])])
    masked = np.ascontiguousarray(np.where(mask[..., None], 0, image).astype(np.uint8))
    with _GATE.seeded(pm, seed):
        return pm.inpaint_regularity(masked, mask.astype(np.uint8), np.ascontiguousarray(steer),
                                     patch_size=patch_size, guide_weight=weight)
