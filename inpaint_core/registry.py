"""Every fill behind the engine's one API, and the registry that loads them.

* classical fills: :class:`ClassicalInpainter` (PatchMatch, Telea, Navier-Stokes) and
  :class:`LandcoverFillInpainter` (land-cover PatchMatch, land-cover nearest fill);
* networks: :class:`AlbumInpainter` (the album U-Net) and :class:`SatelliteInpainter`
  (the land-cover-guided generator);
* :data:`INPAINTERS`, checkpoint ``kind`` -> inpainter class; :func:`load_inpainter`
  builds one from a checkpoint file, :func:`make_inpainter` any fill by name.

Each inpainter declares the per-pixel inputs it takes besides image and mask in
``extra_inputs`` (``("landcover",)`` for the land-cover fills), so no caller needs to
know a model's kind. This is the only module that maps kinds to classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from inpaint_core.checkpoint import CheckpointError, load_model_file
from inpaint_core.data.landcover import ClassTable, table_from_meta
from inpaint_core.engine import InferenceOptions, Inpainter
from inpaint_core.fills.classical import CLASSICAL_METHODS, patchmatch_texture
from inpaint_core.fills.landcover import ExemplarBank
from inpaint_core.fills.prefill import BANK_COMMAND, BANK_PREFILLS, prefill
from inpaint_core.models.album import AlbumConfig, AlbumUNet
from inpaint_core.models.satellite import (
    SatelliteConfig,
    SatelliteGenerator,
    split_state,
)

__all__ = [
    "ClassicalInpainter", "LandcoverFillInpainter", "NetworkInpainter", "AlbumInpainter", "SatelliteInpainter",
    "INPAINTERS", "CLASSICAL_FILLS", "LANDCOVER_FILLS", "FILL_METHODS", "load_inpainter", "make_inpainter",
]  # fmt: skip


class ClassicalInpainter(Inpainter):
    """A classical fill behind the same API: ``"patchmatch"``, ``"telea"`` or ``"navier-stokes"``.

    PatchMatch copies real texture from the picture (the best free fill, and the default
    when no model is installed); Telea and Navier-Stokes are instant smooth fills.
    """

    detail_pass = staticmethod(patchmatch_texture)

    def __init__(self, method: str = "telea", device="cpu", options=None, meta=None):
        if method not in CLASSICAL_METHODS:
            raise ValueError(f"unknown classical fill {method!r}; valid: {', '.join(CLASSICAL_METHODS)}")
        super().__init__("cpu", options, meta)  # OpenCV and PatchMatch run on the CPU whatever the device
        self.kind = method
        self._method = CLASSICAL_METHODS[method]

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

    detail_pass = staticmethod(patchmatch_texture)

    extra_inputs = ("landcover",)

    def __init__(self, classes, method: str = "landcover-patchmatch", bank=None, options=None, meta=None):
        from inpaint_core.fills import landcover as landcover_fill

        fills = {"landcover-patchmatch": lambda im, m, lc: landcover_fill.landcover_patchmatch(im, m, lc, self.bank),
                 "landcover-nearest": landcover_fill.landcover_nearest,
                 "landcover-bank": lambda im, m, lc: landcover_fill.landcover_nearest(im, m, lc, self.bank),
                 "landcover-smooth": lambda im, m, lc: landcover_fill.landcover_nearest(im, m, lc, self.bank,
                                                                                       smooth=True)}
        if method not in fills:
            raise ValueError(f"unknown land-cover fill {method!r}; valid: {', '.join(fills)}")
        if method in BANK_PREFILLS and bank is None:
            raise ValueError(f"{method} needs an exemplar bank: give a satellite checkpoint that has one "
                             f"({BANK_COMMAND})")
        if bank is not None and len(bank) != len(classes):
            raise ValueError(f"exemplar bank has {len(bank)} classes, the class table {len(classes)}")
        super().__init__("cpu", options, meta)
        self.kind = method
        self.classes = classes
        self.bank = bank
        self._method = fills[method]

    def _aux_maps(self, shape, landcover=None, **extra):
        if extra:
            raise ValueError(f"{self.kind} takes landcover=..., not {', '.join(extra)}")
        return {"landcover": self.classes.check_index_map(landcover, shape)}

    def _fill(self, image, mask, aux):
        return self._method(image, mask, aux["landcover"])

    def _region_fill(self, image, mask, aux):
        if self.kind != "landcover-patchmatch":
            return super()._region_fill(image, mask, aux)
        from inpaint_core.fills.landcover import TileSources, landcover_patchmatch

        # texture of a class the crop lacks is taken from anywhere in the tile before the bank
        sources = TileSources(image, mask, aux["landcover"], len(self.classes))
        return lambda region, region_mask, region_aux, scale: landcover_patchmatch(
            region, region_mask, region_aux["landcover"], self.bank, sources=sources.scaled(scale))


CLASSICAL_FILLS = tuple(CLASSICAL_METHODS)  # names ClassicalInpainter takes
LANDCOVER_FILLS = ("landcover-patchmatch", "landcover-nearest", "landcover-bank", "landcover-smooth")  # names LandcoverFillInpainter takes


def load_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``model.load_state_dict(state)``, refusing weights that do not fit in one line.

    PyTorch lists every mismatched tensor, one line each (about 30 for a wrong ``base``):
    a page of text where a person needs to know that the config and the weights disagree.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    resized = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or resized:
        parts = [f"{len(resized)} tensor(s) of another shape" if resized else "",
                 f"{len(missing)} missing" if missing else "", f"{len(unexpected)} unexpected" if unexpected else ""]
        first = resized[0] if resized else (missing or unexpected)[0]
        example = (f"{first} is {'x'.join(map(str, state[first].shape))} in the file, "
                   f"{'x'.join(map(str, own[first].shape))} for its config" if resized else first)
        raise CheckpointError(f"its weights do not fit its config: {', '.join(p for p in parts if p)} "
                              f"(e.g. {example})")
    model.load_state_dict(state)


class NetworkInpainter(Inpainter):
    """Shared parts of the neural inpainters: device placement and tensor conversion."""

    detail_pass = staticmethod(patchmatch_texture)

    def __init__(self, model: nn.Module, device="auto", options=None, meta=None):
        super().__init__(device, options, meta)
        self.model = model.eval().to(self.device)
        if self.device.type == "cpu":
            # measured: channels_last is faster for these convs on CPU; bf16 is slower on CPUs
            # without native bf16 units, so CPU inference stays float32
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.requires_grad_(False)

    def _to_tensor(self, array: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        t = t.permute(2, 0, 1)[None].float() / 255.0 if t.ndim == 3 else t[None, None].float()
        return t.contiguous(memory_format=torch.channels_last) if self.device.type == "cpu" else t

    @staticmethod
    def _to_array(tensor: torch.Tensor, h: int, w: int) -> np.ndarray:
        out = tensor[0, :, :h, :w].float().clamp(0, 1).mul(255).round().byte()
        return out.permute(1, 2, 0).cpu().numpy()

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast("cpu", enabled=False)


class AlbumInpainter(NetworkInpainter):
    """The album-cover U-Net (:class:`~inpaint_core.models.album.AlbumUNet`)."""

    kind = "album"

    @classmethod
    def from_state(cls, state: dict, meta: dict, device="auto", options=None) -> "AlbumInpainter":
        config = AlbumConfig(**meta["config"])
        model = AlbumUNet(config)
        load_weights(model, state)
        return cls(model, device, options, meta)

    @property
    def multiple(self) -> int:
        return self.model.config.multiple

    def _fill(self, image, mask, aux):
        filled = prefill(image, mask, self.model.config.prefill)
        padded, (h, w) = self._pad(filled)
        padded_mask, _ = self._pad(mask.astype(np.uint8))
        with torch.inference_mode(), self._autocast():
            pred = self.model(self._to_tensor(padded), self._to_tensor(padded_mask))
        return self._to_array(pred, h, w)


class SatelliteInpainter(NetworkInpainter):
    """Land-cover-guided fills: ``inpaint(image, mask, landcover=lc)``.

    ``classes`` is the model's :class:`~inpaint_core.data.landcover.ClassTable` (each entry has
    ``name``, ``code`` and ``color``); ``lc`` must be an ``HxW`` integer map of indices
    into it, the size of the image. Inside the mask it says what to paint.
    """

    kind = "satellite"
    extra_inputs = ("landcover",)

    def __init__(self, model: SatelliteGenerator, classes: ClassTable, device="auto", options=None, meta=None,
                 bank=None):
        if len(classes) != model.config.num_classes:
            raise ValueError(f"class table has {len(classes)} classes but the model was built for {model.config.num_classes}")
        super().__init__(model, device, options, meta)
        self.classes = classes
        self.bank = bank  # the checkpoint's ExemplarBank (for land-cover PatchMatch), or None

    @classmethod
    def from_state(cls, state: dict, meta: dict, device="auto", options=None) -> "SatelliteInpainter":
        if "classes" not in meta:
            raise CheckpointError("the satellite checkpoint has no class table ('classes' metadata)")
        config = SatelliteConfig(**meta["config"])
        model = SatelliteGenerator(config)
        load_weights(model, split_state(state)["gen"])
        table = table_from_meta(meta)
        bank = ExemplarBank.from_tensors(state)
        if config.prefill in BANK_PREFILLS and bank is None:
            raise CheckpointError(f"the generator's {config.prefill} pre-fill needs an exemplar bank (bank.*), which "
                                  f"this file lacks: {BANK_COMMAND}")
        return cls(model, table, device, options, meta, bank=bank)

    @property
    def multiple(self) -> int:
        return self.model.config.multiple

    def _aux_maps(self, shape, landcover=None, **extra) -> dict[str, np.ndarray]:
        if extra:
            raise ValueError(f"satellite model takes landcover=..., not {', '.join(extra)}")
        return {"landcover": self.classes.check_index_map(landcover, shape)}

    def _fill(self, image, mask, aux):
        filled = prefill(image, mask, self.model.config.prefill, landcover=aux["landcover"], bank=self.bank)
        padded, (h, w) = self._pad(filled)
        padded_mask, _ = self._pad(mask.astype(np.uint8))
        padded_lc, _ = self._pad(aux["landcover"])
        lc = torch.from_numpy(padded_lc.astype(np.int64))[None].to(self.device)
        with torch.inference_mode(), self._autocast():
            pred = self.model(self._to_tensor(padded), self._to_tensor(padded_mask), lc)
        return self._to_array(pred, h, w)


INPAINTERS: dict[str, type] = {"album": AlbumInpainter, "satellite": SatelliteInpainter}  # checkpoint kind -> class


def load_inpainter(path, device: str = "auto", options: InferenceOptions | None = None) -> Inpainter:
    """Load a checkpoint file and return a ready :class:`Inpainter` (``.kind``, ``.inpaint``)."""
    path = Path(path)
    state, meta = load_model_file(path)
    kind = meta["kind"]
    if kind not in INPAINTERS:
        raise CheckpointError(f"{path.name}: unknown model kind {kind!r}; this version knows {', '.join(INPAINTERS)}")
    try:
        return INPAINTERS[kind].from_state(state, meta, device=device, options=options)
    except CheckpointError as err:  # said in one line already; the file's name goes in front
        raise CheckpointError(f"{path.name}: {err}") from err
    except (TypeError, RuntimeError, KeyError) as err:  # config fields that do not exist, tensors that do not load
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path.name}: the weights do not fit a {kind} model ({first})") from err


FILL_METHODS = ("model",) + CLASSICAL_FILLS + LANDCOVER_FILLS  # what make_inpainter (and --method) take


def make_inpainter(method: str = "model", checkpoint=None, classes=None, device: str = "auto",
                   options: InferenceOptions | None = None) -> Inpainter:
    """The fill called ``method``, ready to ``inpaint``.

    * ``"model"``: the network in ``checkpoint`` (as :func:`load_inpainter`);
    * ``"patchmatch"``, ``"telea"``, ``"navier-stokes"``: classical fills, no checkpoint;
    * ``"landcover-patchmatch"``, ``"landcover-nearest"``, ``"landcover-bank"``, ``"landcover-smooth"``:
      land-cover fills, whose class table (and exemplar bank) come from ``checkpoint`` (a
      satellite checkpoint) or, without one, from ``classes`` (a table name or JSON file; no
      bank then).
    """
    if method not in FILL_METHODS:
        raise ValueError(f"unknown fill method {method!r}; valid: {', '.join(FILL_METHODS)}")
    if method == "model":
        if checkpoint is None:
            raise ValueError("the model fill needs a checkpoint file")
        return load_inpainter(checkpoint, device=device, options=options)
    if method in CLASSICAL_FILLS:
        return ClassicalInpainter(method, options=options)
    from inpaint_core.data.landcover import get_class_table

    bank = None
    if checkpoint is not None:
        state, meta = load_model_file(Path(checkpoint))
        if "classes" not in meta:
            raise CheckpointError(f"{Path(checkpoint).name} holds a {meta['kind']} model without a land-cover class "
                                  "table")
        table = table_from_meta(meta)
        if classes is not None and get_class_table(classes).to_json() != table.to_json():
            raise ValueError(f"--classes {classes} differs from the class table of {Path(checkpoint).name}")
        bank = ExemplarBank.from_tensors(state)
    elif classes is not None:
        table = get_class_table(classes)
    else:
        raise ValueError(f"{method} needs a class table: a satellite checkpoint or a class table name/JSON file")
    return LandcoverFillInpainter(table, method, bank=bank, options=options)
