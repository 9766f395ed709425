"""The built-in fills, one line each: the one list of them that the pre-fills and the fill registry read.

Each :class:`BuiltinFill` names a fill and its function. A picture fill's function is
``function(image, mask)``; a land-cover fill's (``landcover``) is ``function(image, mask,
landcover, bank)``, with ``bank`` an :class:`~inpaint_core.fills.landcover.ExemplarBank` or None.
Images are ``HxWx3 uint8`` RGB, masks ``HxW`` bool (True = hole), land cover an ``HxW`` map of
class indices; a function returns the filled ``HxWx3 uint8`` image.

The fill registry (:mod:`inpaint_core.registry`) gives each its inpainter and its label in the
app; the pre-fills (:mod:`inpaint_core.fills.prefill`) are the ones marked ``prefill``, and two
that only a network starts from. Adding a built-in fill is its function and one line of
:data:`BUILTIN_FILLS` (and its label in the registry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from inpaint_core.fills.classical import navier_stokes, patchmatch, telea
from inpaint_core.fills.landcover import landcover_nearest, landcover_patchmatch

__all__ = ["BuiltinFill", "BUILTIN_FILLS"]


@dataclass(frozen=True)
class BuiltinFill:
    """One line of :data:`BUILTIN_FILLS`."""

    name: str  # make_inpainter's method, evaluate's baseline, a network config's prefill
    function: Callable[..., np.ndarray]
    landcover: bool = False  # follows a land-cover map: function(image, mask, landcover, bank)
    needs_bank: bool = False  # fills only with an exemplar bank (a satellite checkpoint's)
    prefill: bool = False  # a network may start from it (its config's prefill)


# the land-cover fills as the table holds them: (image, mask, landcover, bank) -> filled
def _landcover_patchmatch(image, mask, landcover, bank):
    return landcover_patchmatch(image, mask, landcover, bank)


def _landcover_nearest(image, mask, landcover, bank):
    return landcover_nearest(image, mask, landcover)  # the picture's own pixels only, whatever the bank


def _landcover_bank(image, mask, landcover, bank):
    return landcover_nearest(image, mask, landcover, bank)


def _landcover_smooth(image, mask, landcover, bank):
    return landcover_nearest(image, mask, landcover, bank, smooth=True)


# in this order: evaluate's baselines, --method's choices and the registry's fills. The land-cover
# pre-fills: land-cover PatchMatch (with the bank when the model has one: a network that corrects
# it, at PatchMatch's cost), and the land-cover nearest fill, alone or with the bank's texture for
# classes the picture lacks (landcover-bank), or, smoother, Telea from the asked class's known
# pixels alone, with the bank (landcover-smooth)
BUILTIN_FILLS: dict[str, BuiltinFill] = {fill.name: fill for fill in (
    BuiltinFill("telea", telea, prefill=True),
    BuiltinFill("navier-stokes", navier_stokes),
    BuiltinFill("patchmatch", patchmatch, prefill=True),
    BuiltinFill("landcover-patchmatch", _landcover_patchmatch, landcover=True, prefill=True),
    BuiltinFill("landcover-nearest", _landcover_nearest, landcover=True, prefill=True),
    BuiltinFill("landcover-bank", _landcover_bank, landcover=True, needs_bank=True, prefill=True),
    BuiltinFill("landcover-smooth", _landcover_smooth, landcover=True, needs_bank=True, prefill=True),
)}  # fmt: skip
