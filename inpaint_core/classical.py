"""Classical fills from OpenCV: the baselines, the networks' pre-fill and the app's fallback.

All functions take and return RGB ``HxWx3 uint8`` and an ``HxW`` bool mask (True = hole).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["telea", "navier_stokes", "prefill", "CLASSICAL_METHODS", "DEFAULT_RADIUS"]

DEFAULT_RADIUS = 5  # OpenCV's inpaintRadius: the neighbourhood each filled pixel averages


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


CLASSICAL_METHODS = {"telea": telea, "navier-stokes": navier_stokes}


def prefill(image: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    """Fill holes before a network sees them: ``"telea"`` or ``"zeros"`` (black holes, as the research)."""
    if method == "telea":
        return telea(image, mask)
    if method == "zeros":
        out = image.copy()
        out[mask] = 0
        return out
    raise ValueError(f"unknown prefill method {method!r}; valid: telea, zeros")
