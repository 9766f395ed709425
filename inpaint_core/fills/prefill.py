"""Pre-fills: what a network's holes hold before it sees them.

The research's black holes, Telea, PatchMatch (full or half resolution), and for land-cover
models the land-cover nearest fill, with or without the exemplar bank's texture.
"""

from __future__ import annotations

import numpy as np

from inpaint_core.fills.classical import patchmatch, patchmatch_guide, telea
from inpaint_core.fills.landcover import landcover_nearest

__all__ = ["prefill", "check_prefill", "PREFILLS", "LANDCOVER_PREFILLS", "BANK_PREFILLS", "BANK_COMMAND"]

# What a network's holes can be pre-filled with (its residual head starts at zero, so an untrained
# network *is* its pre-fill): the research's black holes, Telea, PatchMatch, or PatchMatch at half
# resolution; land-cover models may also start from the land-cover nearest fill, alone or with
# the exemplar bank's texture for classes the picture lacks ("landcover-bank"), or, smoother, Telea
# from the asked class's known pixels alone, with the bank ("landcover-smooth").
PREFILLS = ("telea", "zeros", "patchmatch", "patchmatch-half")
LANDCOVER_PREFILLS = PREFILLS + ("landcover-nearest", "landcover-bank", "landcover-smooth")
BANK_PREFILLS = ("landcover-bank", "landcover-smooth")  # the ones that need an exemplar bank
# what a person runs to give a satellite checkpoint its exemplar bank (inpaint_core/cli/bank.py)
BANK_COMMAND = "add one with `python -m inpaint_core bank --checkpoint FILE --data TILE_DIR` (see the README)"


def check_prefill(method: str, landcover: bool = False) -> str:
    """``method`` if it is a known pre-fill (``landcover``: for a land-cover model), else ``ValueError``."""
    valid = LANDCOVER_PREFILLS if landcover else PREFILLS
    if method not in valid:
        raise ValueError(f"unknown prefill {method!r}; valid: {', '.join(valid)}")
    return method


def prefill(image: np.ndarray, mask: np.ndarray, method: str, landcover: np.ndarray | None = None,
            bank=None) -> np.ndarray:
    """Fill holes before a network sees them, as ``method`` says (see :data:`LANDCOVER_PREFILLS`).

    ``landcover`` (``HxW`` class indices) is needed by the land-cover pre-fills only, and
    ``bank`` (an :class:`~inpaint_core.fills.landcover.ExemplarBank`) by ``"landcover-bank"`` and
    ``"landcover-smooth"``.
    """
    check_prefill(method, landcover=True)
    if method == "telea":
        return telea(image, mask)
    if method == "zeros":
        out = image.copy()
        out[mask] = 0
        return out
    if method == "patchmatch":
        return patchmatch(image, mask)
    if method == "patchmatch-half":
        return patchmatch_guide(image, mask, 0.5)
    if landcover is None:
        raise ValueError(f"the {method} prefill needs the land-cover map")
    if method in BANK_PREFILLS and bank is None:
        raise ValueError(f"the {method} prefill needs an exemplar bank (stored in the satellite checkpoint): "
                         f"{BANK_COMMAND}")
    return landcover_nearest(image, mask, landcover, bank=bank if method in BANK_PREFILLS else None,
                             smooth=method == "landcover-smooth")
