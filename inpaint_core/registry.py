"""The one table of everything that fills: :data:`FILLS`, and the classical fills' inpainters.

* classical fills: :class:`ClassicalInpainter` (PatchMatch, Telea, Navier-Stokes) and
  :class:`LandcoverFillInpainter` (the fills that follow a land-cover map);
* networks: each model file holds its network, its config and its inpainter
  (:class:`~inpaint_core.models.album.AlbumInpainter`,
  :class:`~inpaint_core.models.satellite.SatelliteInpainter`), rebuilt from a checkpoint of its kind;
  the table names each by its module, imported (with torch) only when that kind is loaded;
* :data:`FILLS`, name -> :class:`Fill`: what makes each fill, whether it needs an exemplar
  bank, its label in the app and the tabs that offer it. The built-in fills come from the
  table of :mod:`inpaint_core.fills.table` (the one list of them, which the pre-fills read too),
  with their inpainter and their place in the app added here. :func:`make_inpainter` builds any
  fill by name and :func:`load_inpainter` a network from its checkpoint; ``inpaint run
  --method``, ``evaluate``'s baselines and the app's choices read the same table.

Adding a fill is its function, one line of the table and its label here; adding a network kind
is its model file and one line (its ``"module:Class"``). An unknown name raises an error that
lists the valid ones. Each inpainter declares the per-pixel inputs it takes besides image and
mask in ``extra_inputs`` (``("landcover",)`` for the land-cover fills), so no caller needs to
know a fill's kind. This is the only module that maps names and kinds to fills.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from inpaint_core.checkpoint import CheckpointError, load_model_file
from inpaint_core.data.landcover import LANDCOVER, ClassTable, get_class_table, table_from_meta
from inpaint_core.engine import InferenceOptions, Inpainter
from inpaint_core.fills.classical import patchmatch_texture, patchmatch_threads
from inpaint_core.fills.landcover import ExemplarBank, TileSources, landcover_patchmatch
from inpaint_core.fills.prefill import BANK_COMMAND
from inpaint_core.fills.table import BUILTIN_FILLS

__all__ = ["Fill", "FILLS", "ClassicalInpainter", "LandcoverFillInpainter", "CLASSICAL_FILLS", "LANDCOVER_FILLS",
           "NETWORKS", "FILL_METHODS", "PICTURE_TAB", "TILE_TAB", "tab_fills", "load_inpainter", "make_inpainter"]

PICTURE_TAB, TILE_TAB = "picture", "tile"  # the app's Inpaint and Satellite tabs, as Fill.tabs names them


@dataclass(frozen=True)
class Fill:
    """One entry of :data:`FILLS`.

    ``inpainter`` is the :class:`~inpaint_core.engine.Inpainter` class that fills: a network's own,
    rebuilt from a checkpoint whose ``kind`` is ``name`` (:meth:`load`) and named as
    ``"module:Class"`` (its module, which imports torch, is imported only when it is first needed:
    :attr:`inpainter_class`), or the class that wraps a built-in fill's ``function`` (:meth:`make`):
    ``function(image, mask)`` for a picture fill, ``function(image, mask, landcover, bank)`` for a
    land-cover one (``bank`` an :class:`~inpaint_core.fills.landcover.ExemplarBank` or None).
    Images are ``HxWx3 uint8`` RGB, masks ``HxW`` bool (True = hole), land cover an ``HxW`` map of
    class indices.
    """

    name: str  # make_inpainter's method and evaluate's baseline; a network's checkpoint kind
    label: str  # its choice in the app
    inpainter: type | str  # a built-in fill's class; a network's "module:Class"
    function: Callable[..., np.ndarray] | None = None  # a built-in fill's; None for a network
    needs_bank: bool = False  # fills only with an exemplar bank (a satellite checkpoint's)
    # the app's tabs that offer this built-in fill (PICTURE_TAB, TILE_TAB), each with its place
    # among that tab's built-in fills (1 first); a network goes to the tab its extra_inputs fit
    tabs: dict[str, int] = field(default_factory=dict)

    @property
    def network(self) -> bool:
        """Whether this is a network, loaded from a checkpoint, rather than a built-in fill."""
        return self.function is None

    @property
    def inpainter_class(self) -> type:
        """The inpainter class itself; a network's module is imported here, the first time it is asked for."""
        if isinstance(self.inpainter, str):
            module, _, name = self.inpainter.partition(":")
            return getattr(importlib.import_module(module), name)
        return self.inpainter

    @property
    def extra_inputs(self) -> tuple[str, ...]:
        """The per-pixel inputs it takes besides image and mask: ``()`` for a picture fill,
        ``("landcover",)`` for one that follows a land-cover map (as its inpainter declares)."""
        return self.inpainter_class.extra_inputs

    def make(self, classes: ClassTable | None = None, bank: ExemplarBank | None = None,
             options: InferenceOptions | None = None) -> Inpainter:
        """This built-in fill, ready to ``inpaint``; ``classes`` and ``bank`` are read by land-cover fills only."""
        if self.network:
            raise ValueError(f"{self.name} is a network: load it from its checkpoint (load_inpainter)")
        return self.inpainter_class.from_fill(self.name, classes, bank, options)

    def load(self, state: dict, meta: dict, device="auto", options: InferenceOptions | None = None) -> Inpainter:
        """This network from a checkpoint's tensors and metadata (:func:`load_inpainter` reads the file)."""
        if not self.network:
            raise ValueError(f"{self.name} is a built-in fill, not a network")
        return self.inpainter_class.from_state(state, meta, device=device, options=options)


def _builtin(name: str, inpainter: type, what: str) -> Fill:
    """The entry of the built-in fill ``name`` that ``inpainter`` wraps; ``ValueError`` listing those it does."""
    valid = [n for n, f in FILLS.items() if f.inpainter is inpainter]
    if name not in valid:
        raise ValueError(f"unknown {what} {name!r}; valid: {', '.join(valid)}")
    return FILLS[name]


class ClassicalInpainter(Inpainter):
    """A classical fill behind the same API: ``"patchmatch"``, ``"telea"`` or ``"navier-stokes"``.

    PatchMatch copies real texture from the picture (the best free fill, and the default
    when no model is installed); Telea and Navier-Stokes are instant smooth fills.
    """

    detail_pass = staticmethod(patchmatch_texture)

    def __init__(self, method: str = "telea", device="cpu", options=None, meta=None):
        fill = _builtin(method, ClassicalInpainter, "classical fill")
        super().__init__("cpu", options, meta)  # OpenCV and PatchMatch run on the CPU whatever the device
        self.kind = method
        self._method = fill.function

    @classmethod
    def from_fill(cls, name: str, classes=None, bank=None, options=None) -> "ClassicalInpainter":
        """The picture fill ``name`` (:meth:`Fill.make`); it reads neither a class table nor a bank."""
        return cls(name, options=options)

    def region_threads(self) -> int:
        return patchmatch_threads() if self.kind == "patchmatch" else 1  # Telea's are instant

    def _fill(self, image, mask, aux):
        return self._method(image, mask)


class LandcoverFillInpainter(Inpainter):
    """Classical fills that follow a land-cover map: ``inpaint(image, mask, landcover=lc)``.

    ``"landcover-patchmatch"``: PatchMatch whose sources are known pixels of each hole
    pixel's asked class; where the crop it fills has too few, that class's pixels from anywhere
    in the picture, else ``bank``'s exemplars matched to the picture's colours;
    ``"landcover-nearest"``: the nearest known pixel of the asked class (no texture);
    ``"landcover-bank"``: that, with ``bank``'s exemplar texture for classes the picture has
    too little of (a few ms: the pre-fill of the satellite generator trained on it);
    ``"landcover-smooth"``: Telea from the known pixels of the asked class alone, with the
    bank's texture likewise (the pre-fill of the DeepGlobe generator).
    """

    extra_inputs = LANDCOVER

    def __init__(self, classes, method: str = "landcover-patchmatch", bank=None, options=None, meta=None):
        fill = _builtin(method, LandcoverFillInpainter, "land-cover fill")
        if fill.needs_bank and bank is None:
            raise ValueError(f"{method} needs an exemplar bank: give a satellite checkpoint that has one "
                             f"({BANK_COMMAND})")
        if bank is not None and len(bank) != len(classes):
            raise ValueError(f"exemplar bank has {len(bank)} classes, the class table {len(classes)}")
        super().__init__("cpu", options, meta)
        self.kind = method
        self.classes = classes
        self.bank = bank
        self._method = fill.function

    @classmethod
    def from_fill(cls, name: str, classes=None, bank=None, options=None) -> "LandcoverFillInpainter":
        """The land-cover fill ``name`` (:meth:`Fill.make`) over the class table ``classes``, with ``bank`` if given."""
        if classes is None:
            raise ValueError(f"{name} needs a class table: a satellite checkpoint or a class table name/JSON file")
        return cls(classes, name, bank=bank, options=options)

    def _aux_maps(self, shape, landcover=None, **extra):
        if extra:
            raise ValueError(f"{self.kind} takes landcover=..., not {', '.join(extra)}")
        return {"landcover": self.classes.check_index_map(landcover, shape)}

    def region_threads(self) -> int:
        return patchmatch_threads() if self.kind == "landcover-patchmatch" else 1

    def _fill(self, image, mask, aux):
        return self._method(image, mask, aux["landcover"], self.bank)

    def _region_fill(self, image, mask, aux):
        if self.kind != "landcover-patchmatch":
            return super()._region_fill(image, mask, aux)
        # texture of a class the crop lacks is taken from anywhere in the tile before the bank
        sources = TileSources(image, mask, aux["landcover"], len(self.classes))
        return lambda region, region_mask, region_aux, scale: landcover_patchmatch(
            region, region_mask, region_aux["landcover"], self.bank, sources=sources.scaled(scale))


# each built-in fill of the table (inpaint_core.fills.table) as the app shows it: its label, and
# the tabs that offer it with its place there (best measured first; the Satellite tab leaves out
# plain PatchMatch, which ignores the land cover asked for). Every fill of the table needs a line.
_IN_APP = {
    "telea": ("Telea (smooth, instant)", {PICTURE_TAB: 2, TILE_TAB: 2}),
    "navier-stokes": ("Navier-Stokes (smooth, instant)", {}),
    "patchmatch": ("PatchMatch (real texture from the picture; best on large holes)", {PICTURE_TAB: 1}),
    "landcover-patchmatch": ("Land-cover PatchMatch (texture of the asked class)", {TILE_TAB: 1}),
    "landcover-nearest": ("Land-cover nearest (the nearest known pixel of the asked class)", {}),
    "landcover-bank": ("Land-cover nearest with exemplars (fast; texture from the bank)", {}),
    "landcover-smooth": ("Land-cover smooth (Telea from the asked class, texture from the bank)", {}),
}


def _from_table(name: str) -> Fill:
    """The built-in fill ``name`` of the table with its inpainter, label and tabs."""
    fill = BUILTIN_FILLS[name]
    label, tabs = _IN_APP[name]
    inpainter = LandcoverFillInpainter if fill.landcover else ClassicalInpainter
    return Fill(name, label, inpainter, fill.function, fill.needs_bank, tabs)


# everything that fills, by name: the built-in fills first, in the table's order (evaluate's
# baselines and --method's choices), then the networks by checkpoint kind, each named by its model
# file's module so that torch is imported only when a network is (a classical fill of a scene's
# window, on every worker of a cluster, runs without it)
FILLS: dict[str, Fill] = {fill.name: fill for fill in (
    *(_from_table(name) for name in BUILTIN_FILLS),
    Fill("album", "Album model (a network that corrects its pre-fill; see its card)",
         "inpaint_core.models.album:AlbumInpainter"),
    Fill("satellite", "Satellite model (GAN)", "inpaint_core.models.satellite:SatelliteInpainter"),
)}  # fmt: skip

CLASSICAL_FILLS = tuple(n for n, f in FILLS.items() if f.inpainter is ClassicalInpainter)  # its inpainter's
LANDCOVER_FILLS = tuple(n for n, f in FILLS.items() if f.inpainter is LandcoverFillInpainter)  # its inpainter's
NETWORKS = tuple(n for n, f in FILLS.items() if f.network)  # the checkpoint kinds load_inpainter knows
FILL_METHODS = ("model",) + tuple(n for n, f in FILLS.items() if not f.network)  # make_inpainter's (--method's)


def tab_fills(tab: str) -> tuple[str, ...]:
    """The built-in fills the app's ``tab`` (:data:`PICTURE_TAB` or :data:`TILE_TAB`) offers besides its
    models, in their order there (best measured first)."""
    return tuple(sorted((n for n, f in FILLS.items() if tab in f.tabs), key=lambda n: FILLS[n].tabs[tab]))


def load_inpainter(path, device: str = "auto", options: InferenceOptions | None = None) -> Inpainter:
    """Load a checkpoint file and return a ready :class:`Inpainter` (``.kind``, ``.inpaint``)."""
    path = Path(path)
    state, meta = load_model_file(path)
    kind = meta["kind"]
    if kind not in NETWORKS:
        raise CheckpointError(f"{path.name}: unknown model kind {kind!r}; this version knows {', '.join(NETWORKS)}")
    try:
        return FILLS[kind].load(state, meta, device=device, options=options)
    except CheckpointError as err:  # said in one line already; the file's name goes in front
        raise CheckpointError(f"{path.name}: {err}") from err
    except (TypeError, RuntimeError, KeyError) as err:  # config fields that do not exist, tensors that do not load
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path.name}: the weights do not fit a {kind} model ({first})") from err


def make_inpainter(method: str = "model", checkpoint=None, classes=None, device: str = "auto",
                   options: InferenceOptions | None = None) -> Inpainter:
    """The fill called ``method`` (one of :data:`FILL_METHODS`), ready to ``inpaint``.

    * ``"model"``: the network in ``checkpoint`` (as :func:`load_inpainter`);
    * a picture fill (``"patchmatch"``, ``"telea"``, ``"navier-stokes"``): no checkpoint;
    * a land-cover fill (``"landcover-patchmatch"``, ...): its class table (and exemplar bank)
      come from ``checkpoint`` (a satellite checkpoint) or, without one, from ``classes`` (a
      table name or JSON file; no bank then).
    """
    if method not in FILL_METHODS:
        raise ValueError(f"unknown fill method {method!r}; valid: {', '.join(FILL_METHODS)}")
    if method == "model":
        if checkpoint is None:
            raise ValueError("the model fill needs a checkpoint file")
        return load_inpainter(checkpoint, device=device, options=options)
    fill = FILLS[method]
    if not fill.extra_inputs:
        return fill.make(options=options)
    table, bank = _landcover_source(method, checkpoint, classes)
    return fill.make(table, bank, options)


def _landcover_source(method: str, checkpoint, classes) -> tuple[ClassTable, ExemplarBank | None]:
    """The class table and exemplar bank of a land-cover fill: ``checkpoint``'s, else the table ``classes`` names."""
    if checkpoint is None:
        if classes is None:
            raise ValueError(f"{method} needs a class table: a satellite checkpoint or a class table name/JSON file")
        return get_class_table(classes), None
    state, meta = load_model_file(Path(checkpoint))
    if "classes" not in meta:
        raise CheckpointError(f"{Path(checkpoint).name} holds a {meta['kind']} model without a land-cover class table")
    table = table_from_meta(meta)
    if classes is not None and get_class_table(classes).to_json() != table.to_json():
        raise ValueError(f"--classes {classes} differs from the class table of {Path(checkpoint).name}")
    return table, ExemplarBank.from_tensors(state)
