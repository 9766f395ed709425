"""Pre-fills: what a network's holes hold before it sees them.

The built-in fills of :data:`~inpaint_core.fills.table.BUILTIN_FILLS` marked ``prefill`` (Telea,
PatchMatch, and for land-cover models the land-cover nearest fill, with or without the
exemplar bank's texture), and two that only a network starts from: the research's black holes
and PatchMatch at half resolution.
"""

from __future__ import annotations

import numpy as np

from inpaint_core.fills.classical import patchmatch_guide
from inpaint_core.fills.table import BUILTIN_FILLS

__all__ = ["prefill", "check_prefill", "PREFILLS", "LANDCOVER_PREFILLS", "BANK_PREFILLS", "BANK_COMMAND"]


def _zeros(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[mask] = 0
    return out


def _patchmatch_half(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return patchmatch_guide(image, mask, 0.5)


# the pre-fills that are no fill of their own: the research's black holes, and PatchMatch at half
# resolution (a texture guide at about a quarter of PatchMatch's time)
_NETWORK_ONLY = {"zeros": _zeros, "patchmatch-half": _patchmatch_half}

# What a network's holes can be pre-filled with (its residual head starts at zero, so an untrained
# network *is* its pre-fill); land-cover models may also start from the land-cover fills marked so
PREFILLS = tuple(n for n, f in BUILTIN_FILLS.items() if f.prefill and not f.landcover) + tuple(_NETWORK_ONLY)
LANDCOVER_PREFILLS = PREFILLS + tuple(n for n, f in BUILTIN_FILLS.items() if f.prefill and f.landcover)
BANK_PREFILLS = tuple(n for n in LANDCOVER_PREFILLS if n in BUILTIN_FILLS and BUILTIN_FILLS[n].needs_bank)
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
    ``bank`` (an :class:`~inpaint_core.fills.landcover.ExemplarBank`) by those that need an
    exemplar bank (``"landcover-bank"``, ``"landcover-smooth"``).
    """
    check_prefill(method, landcover=True)
    if method in _NETWORK_ONLY:
        return _NETWORK_ONLY[method](image, mask)
    fill = BUILTIN_FILLS[method]
    if not fill.landcover:
        return fill.function(image, mask)
    if landcover is None:
        raise ValueError(f"the {method} prefill needs the land-cover map")
    if fill.needs_bank and bank is None:
        raise ValueError(f"the {method} prefill needs an exemplar bank (stored in the satellite checkpoint): "
                         f"{BANK_COMMAND}")
    return fill.function(image, mask, landcover, bank)
