"""The app's fills, loaded once at start, and what to tell the user about them.

Each tab offers its best measured fill first. On the Inpaint tab that is decided by the judge
of JUDGE.md (held-out sources, LPIPS-shaped distance, win rate), read from the album model's
own card: the model goes first only where its card shows it nearer the originals than
PatchMatch on most pictures; until then PatchMatch is the default, then the album model,
then OpenCV's Telea (``docs/app.md`` has the figures). The Satellite tab offers one choice per
land-cover model (each ``satellite*.safetensors``: Dubai's urban classes, DeepGlobe's rural
ones, or a user's own table); each choice brings its class table (the picker, the colours)
and its fills: the satellite model, land-cover PatchMatch with the checkpoint's exemplar
bank, Telea. A built-in table with no model still gets a choice with the classical fills.
A missing or unreadable checkpoint never stops the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ALBUM_CHECKPOINT", "SATELLITE_CHECKPOINTS", "FALLBACK_TABLES", "PATCHMATCH", "ALBUM_MODEL", "TELEA",
           "LANDCOVER_PATCHMATCH", "SATELLITE_MODEL", "LandcoverModel", "AppModels", "load_app_models", "judge_leads"]

ALBUM_CHECKPOINT = "album.safetensors"
# land-cover models, in the order the Satellite tab offers them (the first found is its default)
SATELLITE_CHECKPOINTS = ("satellite-dubai.safetensors", "satellite-deepglobe.safetensors", "satellite*.safetensors")
# built-in tables offered with the classical fills when no loaded model paints them
FALLBACK_TABLES = ("dubai-aerial", "deepglobe")

# labels of the app's fill choices (the first of each tab's list that is available is its default)
PATCHMATCH = "PatchMatch (real texture from the picture; best on large holes)"
ALBUM_MODEL = "Album model (fast; smooth fills, good on thin strokes)"
TELEA = "Telea (smooth, instant)"
LANDCOVER_PATCHMATCH = "Land-cover PatchMatch (texture of the asked class)"
SATELLITE_MODEL = "Satellite model (GAN)"


@dataclass
class LandcoverModel:
    """One choice of the Satellite tab: a class table and the fills that paint it.

    ``fills`` maps a label to an inpainter (the satellite model first, when there is one);
    ``classes`` is the table the tab's picker, legend and brush colours show, and the one the
    uploaded land cover is read with.
    """

    label: str
    classes: object
    fills: dict
    path: Path | None = None  # the checkpoint; None for a table without a model


@dataclass
class AppModels:
    """The app's fills, loaded once at start, and what to tell the user about them.

    ``album_fills`` maps a label to an inpainter (``.kind``, ``.inpaint``, ``.extra_inputs``);
    ``landcover_models`` a label to a :class:`LandcoverModel`. The first entry of each is
    its tab's default.
    """

    album_fills: dict  # Inpaint tab: the album model (when it loaded), PatchMatch, Telea
    landcover_models: dict  # Satellite tab: label -> LandcoverModel
    notes: list[str] = field(default_factory=list)  # Markdown lines: what is loaded, what is missing

    @property
    def info_markdown(self) -> str:
        return "\n".join(f"- {line}" for line in self.notes)

    def landcover(self, label: str | None = None) -> LandcoverModel:
        """The land-cover model called ``label`` (None or empty: the default); ``ValueError`` naming the choices."""
        return self.pick(self.landcover_models, label, "land-cover model")

    @property
    def satellite_fills(self) -> dict:
        """The default land-cover model's fills."""
        return self.landcover().fills

    @property
    def classes(self):
        """The default land-cover model's class table."""
        return self.landcover().classes

    @staticmethod
    def pick(choices: dict, label: str | None, what: str = "fill"):
        """The entry called ``label`` (None or empty: the first); ``ValueError`` naming ``what`` and the choices."""
        if not label:
            return next(iter(choices.values()))
        if label not in choices:
            raise ValueError(f"unknown {what} {label!r}; choose one of: {', '.join(choices)}")
        return choices[label]


def judge_leads(meta: dict) -> bool:
    """Whether an album model's card shows it ahead of PatchMatch by the judge of JUDGE.md: its
    validation's judge distance below PatchMatch's on the same held-out pictures, and nearer
    than PatchMatch on at least half of them. A card without the judge's figures (a model
    selected by the loss's own terms) does not."""
    val = ((meta or {}).get("training") or {}).get("validation") or {}
    try:
        return val["judge"] < val["judge_patchmatch"] and val["win_rate_patchmatch"] >= 0.5
    except (KeyError, TypeError):
        return False


def _describe(model, path: Path) -> str:
    params = getattr(model, "model", None)
    count = sum(p.numel() for p in params.parameters()) if hasattr(params, "parameters") else 0
    size = f", {count / 1e6:.1f}M parameters" if count else ""
    return f"`{path.name}` ({model.kind} model{size}) on **{model.device}**"


def _class_count(table) -> str:
    return f"{len(table) - len(table.nodata_indices)} classes"  # the ones a user can ask for


def load_app_models(checkpoint_dir, device: str = "auto", fallback_classes=FALLBACK_TABLES) -> AppModels:
    """Load ``album.safetensors`` and every ``satellite*.safetensors`` in ``checkpoint_dir``.

    The Inpaint tab offers its best measured fill first (the album model, else PatchMatch).
    The Satellite tab gets one :class:`LandcoverModel` per loaded satellite checkpoint, in the
    order of :data:`SATELLITE_CHECKPOINTS`, each with its own class table and exemplar bank,
    then one per built-in table of ``fallback_classes`` that no loaded model paints (with
    land-cover PatchMatch, no bank, and Telea). A missing or unreadable checkpoint is not
    fatal, nor is one whose model does not fit its tab (an album model named
    ``satellite*.safetensors``: a tab takes a model by what it takes, not by its file name):
    it is left out and ``notes`` says why and how to train the right one, naming files, never
    the server's folders (the page shows them to every visitor). A bad
    ``device`` or an unknown fallback table raises ``ValueError``.
    """
    from inpaint_core.checkpoint import CheckpointError
    from inpaint_core.data.landcover import get_class_table
    from inpaint_core.engine import resolve_device
    from inpaint_core.registry import (
        ClassicalInpainter,
        LandcoverFillInpainter,
        load_inpainter,
    )

    resolved = resolve_device(device)
    folder = Path(checkpoint_dir)
    fallback_classes = [fallback_classes] if isinstance(fallback_classes, str) else list(fallback_classes)
    fallback_tables = [get_class_table(name) for name in fallback_classes]
    notes = []
    album = None
    path = folder / ALBUM_CHECKPOINT
    if path.is_file():
        try:
            album = load_inpainter(path, device=str(resolved))
        except CheckpointError as err:  # its message names the file, not the server's folders
            notes.append(f"Inpaint tab: **could not load** `{path.name}`: {err}")
        else:
            if album.extra_inputs:  # by what the model takes, not by its file name
                notes.append(f"Inpaint tab: **left out** `{path.name}`: it holds a {album.kind} model, which needs "
                             f"{', '.join(album.extra_inputs)}; a land-cover model belongs in a "
                             "`satellite*.safetensors` file")
                album = None
            else:
                notes.append(f"Inpaint tab: {_describe(album, path)}")
    else:
        notes.append(f"Inpaint tab: **album model missing** (no `{path.name}` in the checkpoint folder)")
    if album is None:
        notes.append(
            "Inpaint tab offers PatchMatch and Telea only. Train the model with "
            f"`python train/album.py --data DIR --export checkpoints/{path.name}` (see the README)."
        )
    # the default follows the judge: PatchMatch until the model's card shows it ahead of PatchMatch
    album_fills = {ALBUM_MODEL: album} if album is not None and judge_leads(album.meta) else {}
    album_fills[PATCHMATCH] = ClassicalInpainter("patchmatch")
    if album is not None:
        album_fills.setdefault(ALBUM_MODEL, album)
        if next(iter(album_fills)) == PATCHMATCH:
            notes.append("Inpaint tab: PatchMatch is the default; the album model's card does not show it nearer "
                         "the originals than PatchMatch by the judge (see docs/app.md)")
    album_fills[TELEA] = ClassicalInpainter("telea")

    landcover_models = {}
    painted = []  # the tables the loaded models paint
    paths = [p for pattern in SATELLITE_CHECKPOINTS for p in sorted(folder.glob(pattern))]
    for path in dict.fromkeys(paths):  # each file once, in the order above
        try:
            satellite = load_inpainter(path, device=str(resolved))
        except CheckpointError as err:  # its message names the file, not the server's folders
            notes.append(f"Satellite tab: **could not load** `{path.name}`: {err}")
            continue
        if "landcover" not in satellite.extra_inputs:  # by what the model takes, not by its file name
            notes.append(f"Satellite tab: **left out** `{path.name}`: it holds a {satellite.kind} model, which does "
                         f"not follow land cover (an album model belongs in `{ALBUM_CHECKPOINT}`)")
            continue
        table = satellite.classes
        label = f"{path.stem} ({table.name}: {_class_count(table)})"
        bank = getattr(satellite, "bank", None)
        notes.append(f"Satellite tab: {_describe(satellite, path)}, classes `{table.name}`")
        if bank is None:
            notes.append(f"Satellite tab: `{path.name}` has no exemplar bank, so land-cover PatchMatch cannot paint a "
                         "class the tile lacks; add one with `python -m inpaint_core bank` (see the README).")
        # the satellite model first: on its held-out windows it beats land-cover PatchMatch on PSNR
        # and perceptual distance at a tenth of its time (checkpoints/README.md)
        fills = {SATELLITE_MODEL: satellite,
                 LANDCOVER_PATCHMATCH: LandcoverFillInpainter(table, "landcover-patchmatch", bank=bank),
                 TELEA: ClassicalInpainter("telea")}
        landcover_models[label] = LandcoverModel(label, table, fills, path)
        painted.append(table)
    if not landcover_models:
        notes.append("Satellite tab: **no satellite model** (no loadable `satellite*.safetensors` in the checkpoint "
                     "folder). "
                     "Train one with `python train/satellite.py --data DIR --classes dubai-aerial` (see the README).")
    for table in fallback_tables:
        if table in painted:
            continue
        label = f"{table.name} table, no model ({_class_count(table)})"
        fills = {LANDCOVER_PATCHMATCH: LandcoverFillInpainter(table, "landcover-patchmatch"),
                 TELEA: ClassicalInpainter("telea")}
        landcover_models[label] = LandcoverModel(label, table, fills)
        notes.append(f"Satellite tab: the `{table.name}` classes with land-cover PatchMatch (no exemplar bank) and "
                     f"Telea only; train its model with `python train/satellite.py --data DIR --classes {table.name}`.")
    if not landcover_models:
        raise ValueError("no land-cover model and no class table for the Satellite tab: name a built-in table in "
                         "fallback_classes")
    notes.append(f"Device: **{resolved}** (PatchMatch and Telea run on the CPU)")
    return AppModels(album_fills=album_fills, landcover_models=landcover_models, notes=notes)
