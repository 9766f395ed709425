"""The app's fills, loaded once at start, and what to tell the user about them.

Each tab offers its best measured fill first: the album model (PatchMatch when it is
missing), then PatchMatch, then OpenCV's Telea; land-cover PatchMatch with the satellite
checkpoint's exemplar bank, then the satellite model, then Telea. A missing or unreadable
checkpoint never stops the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ALBUM_CHECKPOINT", "SATELLITE_CHECKPOINTS", "PATCHMATCH", "ALBUM_MODEL", "TELEA",
           "LANDCOVER_PATCHMATCH", "SATELLITE_MODEL", "AppModels", "load_app_models"]

ALBUM_CHECKPOINT = "album.safetensors"
# the first of these found in the checkpoint folder is the app's satellite model
SATELLITE_CHECKPOINTS = ("satellite-dubai.safetensors", "satellite*.safetensors")

# labels of the app's fill choices (the first of each tab's list that is available is its default)
PATCHMATCH = "PatchMatch (copies texture from the picture)"
ALBUM_MODEL = "Album model (U-Net)"
TELEA = "Telea (smooth, instant)"
LANDCOVER_PATCHMATCH = "Land-cover PatchMatch (texture of the asked class)"
SATELLITE_MODEL = "Satellite model (GAN)"


@dataclass
class AppModels:
    """The app's fills, loaded once at start, and what to tell the user about them.

    ``album_fills`` and ``satellite_fills`` map a label to an inpainter (``.kind``,
    ``.inpaint``, ``.extra_inputs``); the first entry of each is the tab's default.
    """

    album_fills: dict  # Inpaint tab: PatchMatch, the album model (when it loaded), Telea
    satellite_fills: dict  # Satellite tab: the satellite model (when it loaded), land-cover PatchMatch, Telea
    classes: object  # the land-cover class table the satellite tab edits
    notes: list[str] = field(default_factory=list)  # Markdown lines: what is loaded, what is missing

    @property
    def info_markdown(self) -> str:
        return "\n".join(f"- {line}" for line in self.notes)

    @staticmethod
    def pick(fills: dict, label: str | None):
        """The inpainter called ``label`` (None or empty: the default); ``ValueError`` naming the choices."""
        if not label:
            return next(iter(fills.values()))
        if label not in fills:
            raise ValueError(f"unknown fill {label!r}; choose one of: {', '.join(fills)}")
        return fills[label]


def _describe(model, path: Path) -> str:
    params = getattr(model, "model", None)
    count = sum(p.numel() for p in params.parameters()) if hasattr(params, "parameters") else 0
    size = f", {count / 1e6:.1f}M parameters" if count else ""
    return f"`{path.name}` ({model.kind} model{size}) on **{model.device}**"


def load_app_models(checkpoint_dir, device: str = "auto", fallback_classes: str = "dubai-aerial") -> AppModels:
    """Load ``album.safetensors`` and the first ``satellite*.safetensors`` in ``checkpoint_dir``.

    Each tab offers its best measured fill first (the album model, else PatchMatch; land-cover
    PatchMatch with the satellite checkpoint's exemplar bank), then the others. A
    missing or unreadable checkpoint is not fatal: its model is left out of the choice and
    ``notes`` says what is missing and how to train it. A bad ``device`` raises
    ``ValueError``. The satellite tab edits the class table of the satellite checkpoint,
    else the built-in ``fallback_classes`` table.
    """
    from inpaint_core.checkpoint import CheckpointError
    from inpaint_core.engine import resolve_device
    from inpaint_core.inpainters import ClassicalInpainter, LandcoverFillInpainter, load_inpainter
    from inpaint_core.landcover import get_class_table

    resolved = resolve_device(device)
    folder = Path(checkpoint_dir)
    notes = []

    album = None
    path = folder / ALBUM_CHECKPOINT
    if path.is_file():
        try:
            album = load_inpainter(path, device=str(resolved))
            notes.append(f"Inpaint tab: {_describe(album, path)}")
        except CheckpointError as err:
            notes.append(f"Inpaint tab: **could not load** `{path}`: {err}")
    else:
        notes.append(f"Inpaint tab: **album model missing** (`{path}`)")
    if album is None:
        notes.append(
            "Inpaint tab offers PatchMatch and Telea only. Train the model with "
            f"`python train/album.py --data DIR --export {path}` (see the README)."
        )
    # the album model first: on held-out covers with painted strokes it beats PatchMatch on PSNR
    # (+1.15 dB) and perceptual distance (-3.9 %) at a tenth of its time (checkpoints/README.md)
    album_fills = {ALBUM_MODEL: album} if album is not None else {}
    album_fills[PATCHMATCH] = ClassicalInpainter("patchmatch")
    album_fills[TELEA] = ClassicalInpainter("telea")

    satellite = None
    candidates = [p for pattern in SATELLITE_CHECKPOINTS for p in sorted(folder.glob(pattern))]
    for path in candidates:
        try:
            satellite = load_inpainter(path, device=str(resolved))
            notes.append(f"Satellite tab: {_describe(satellite, path)}")
            break
        except CheckpointError as err:
            notes.append(f"Satellite tab: **could not load** `{path}`: {err}")
    if satellite is None:
        if not candidates:
            notes.append(f"Satellite tab: **satellite model missing** (no `satellite*.safetensors` in `{folder}`)")
        classes = get_class_table(fallback_classes)
        notes.append(
            f"Satellite tab offers land-cover PatchMatch (without an exemplar bank) and Telea only; classes: "
            f"`{fallback_classes}`. Train the model with `python train/satellite.py --data DIR --classes "
            "dubai-aerial` (see the README)."
        )
    else:
        classes = satellite.classes
    bank = getattr(satellite, "bank", None)
    if satellite is not None and bank is None:
        notes.append("Satellite tab: the checkpoint has no exemplar bank, so land-cover PatchMatch cannot paint a "
                     "class the tile lacks; add one with `python -m inpaint_core bank` (see the README).")
    # the satellite model first: on its held-out windows it beats land-cover PatchMatch on PSNR
    # (+0.64 dB) and perceptual distance (-5.4 %) at a tenth of its time (checkpoints/README.md)
    satellite_fills = {SATELLITE_MODEL: satellite} if satellite is not None else {}
    satellite_fills[LANDCOVER_PATCHMATCH] = LandcoverFillInpainter(classes, "landcover-patchmatch", bank=bank)
    satellite_fills[TELEA] = ClassicalInpainter("telea")
    notes.append(f"Device: **{resolved}** (PatchMatch and Telea run on the CPU)")
    return AppModels(album_fills=album_fills, satellite_fills=satellite_fills, classes=classes, notes=notes)
