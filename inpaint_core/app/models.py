"""The app's fills, loaded once at start, and what to tell the user about them.

Each tab offers its models and the built-in fills that the fill registry places on it
(:data:`inpaint_core.registry.FILLS`, which gives every choice its label, and
:func:`~inpaint_core.registry.tab_fills`). A checkpoint goes to the tab that fits what its model
takes, as its kind says, never by its file name: the Inpaint tab offers every picture model in
the checkpoint folder (``album.safetensors`` first, then the others by name), the Satellite tab
one choice per land-cover model (``satellite-dubai.safetensors`` first: Dubai's urban classes,
then DeepGlobe's rural ones, then any other, such as a user's own table, by name). The folder
is the checkout's ``checkpoints/`` when the package runs from a checkout, else ``checkpoints``
in the working directory, unless the app is told another (:func:`default_checkpoints`).

Each tab offers its best measured fill first, decided by the judge of JUDGE.md (held-out
sources, LPIPS-shaped distance, win rate), read from each model's own card: a model goes before
the tab's best built-in fill (PatchMatch; land-cover PatchMatch on the Satellite tab) only where
its card shows it nearer the originals on most pictures; until then that fill is the default,
then the models, then OpenCV's Telea (``docs/app.md`` has the figures). Each choice of the
Satellite tab brings its class table (the picker, the colours) and its fills: the satellite
model, land-cover PatchMatch with the checkpoint's exemplar bank, Telea. A built-in table with
no model still gets a choice with the classical fills. A missing or unreadable checkpoint never
stops the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from inpaint_core.checkpoint import CheckpointError, read_meta
from inpaint_core.data.landcover import get_class_table
from inpaint_core.engine import Inpainter
from inpaint_core.models.network import resolve_device
from inpaint_core.registry import FILLS, NETWORKS, PICTURE_TAB, TILE_TAB, load_inpainter, tab_fills

__all__ = ["ALBUM_CHECKPOINT", "SATELLITE_CHECKPOINTS", "CHECKOUT_CHECKPOINTS", "FALLBACK_TABLES", "PATCHMATCH",
           "ALBUM_MODEL", "TELEA", "LANDCOVER_PATCHMATCH", "SATELLITE_MODEL", "LandcoverModel", "AppModels",
           "load_app_models", "default_checkpoints", "folder_note", "picture_checkpoints", "landcover_checkpoints",
           "LANDCOVER_NAMES", "judge_leads"]

ALBUM_CHECKPOINT = "album.safetensors"  # the Inpaint tab's first model, and the file its notes ask for
# the land-cover models the Satellite tab offers first, in this order (the first found is its
# default); any other land-cover model in the folder follows them, by file name
SATELLITE_CHECKPOINTS = ("satellite-dubai.safetensors", "satellite-deepglobe.safetensors")
# the tab a file goes to when it names no model kind this version knows (it is refused there,
# with its reason): the Satellite tab for these names, else the Inpaint tab
LANDCOVER_NAMES = "satellite*.safetensors"
# a checkout's shipped models, beside the package; an installed package has no such folder
CHECKOUT_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
# built-in tables offered with the classical fills when no loaded model paints them
FALLBACK_TABLES = ("dubai-aerial", "deepglobe")

# the labels of the fill choices that tests, the browser benchmark and docs/app.md name
PATCHMATCH, ALBUM_MODEL, TELEA, LANDCOVER_PATCHMATCH, SATELLITE_MODEL = (
    FILLS[name].label for name in ("patchmatch", "album", "telea", "landcover-patchmatch", "satellite"))


@dataclass
class LandcoverModel:
    """One choice of the Satellite tab: a class table and the fills that paint it.

    ``fills`` maps a label to an inpainter (the default first: see :func:`judge_leads`);
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

    album_fills: dict  # Inpaint tab: its picture models, PatchMatch, Telea
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


def judge_leads(meta: dict, peer: str = "patchmatch") -> bool:
    """Whether a model's card shows it ahead of its tab's best built-in fill, ``peer`` (PatchMatch for
    a picture model, ``"landcover_patchmatch"`` for a land-cover one), by the judge of JUDGE.md: its
    validation's judge distance below the peer's on the same held-out pictures or windows, and
    nearer than the peer on at least half of them. A card without the judge's figures (a model
    selected by the loss's own terms) does not."""
    val = ((meta or {}).get("training") or {}).get("validation") or {}
    try:
        return val["judge"] < val[f"judge_{peer}"] and val[f"win_rate_{peer}"] >= 0.5
    except (KeyError, TypeError):
        return False


def default_checkpoints() -> Path:
    """The folder the app reads its models from unless told another: the checkout's
    ``checkpoints/`` (:data:`CHECKOUT_CHECKPOINTS`) when the package runs from a checkout, else
    ``checkpoints`` in the working directory (a package installed by pip has no checkout around it)."""
    return CHECKOUT_CHECKPOINTS if CHECKOUT_CHECKPOINTS.is_dir() else Path("checkpoints")


def folder_note(folder: Path) -> str:
    """Which folder the models were read from, without the server's path (the page shows it to
    every visitor): the checkout's, the working directory's, or another by its name alone."""
    folder = Path(folder).resolve()
    if folder == CHECKOUT_CHECKPOINTS:
        where = "the checkout's `checkpoints` folder"
    elif folder == Path("checkpoints").resolve():
        where = "`checkpoints` in the working directory"
    else:
        where = f"the folder `{folder.name}`"
    return f"Models read from {where}" + ("" if folder.is_dir() else " (**no such folder**)")


def _follows_landcover(path: Path) -> bool:
    """Whether the model in ``path`` follows land cover, as its kind says (the registry's
    ``extra_inputs``); by its file name (:data:`LANDCOVER_NAMES`) when the file names no kind this
    version knows, so that tab says why it cannot load it."""
    try:
        kind = read_meta(path)["kind"]
    except (CheckpointError, OSError):
        kind = None
    if kind in NETWORKS:
        return "landcover" in FILLS[kind].extra_inputs
    return fnmatch(path.name, LANDCOVER_NAMES)


def picture_checkpoints(folder: Path) -> list[Path]:
    """The files the Inpaint tab loads: every ``*.safetensors`` in ``folder`` whose model takes no
    land cover, :data:`ALBUM_CHECKPOINT` first, then by name."""
    files = [p for p in sorted(Path(folder).glob("*.safetensors")) if not _follows_landcover(p)]
    return sorted(files, key=lambda p: p.name != ALBUM_CHECKPOINT)


def landcover_checkpoints(folder: Path) -> list[Path]:
    """The files the Satellite tab loads: every ``*.safetensors`` in ``folder`` whose model follows
    land cover, those of :data:`SATELLITE_CHECKPOINTS` first in its order, then the others by name."""
    files = [p for p in sorted(Path(folder).glob("*.safetensors")) if _follows_landcover(p)]
    first = {name: i for i, name in enumerate(SATELLITE_CHECKPOINTS)}
    return sorted(files, key=lambda p: first.get(p.name, len(first)))


def _describe(model, path: Path) -> str:
    params = getattr(model, "model", None)
    count = sum(p.numel() for p in params.parameters()) if hasattr(params, "parameters") else 0
    size = f", {count / 1e6:.1f}M parameters" if count else ""
    return f"`{path.name}` ({model.kind} model{size}) on **{model.device}**"


def _class_count(table) -> str:
    return f"{len(table) - len(table.nodata_indices)} classes"  # the ones a user can ask for


def _load(path: Path, device: str, tab: str, notes: list[str]) -> Inpainter | None:
    """The model in ``path`` if it loads, else None and a note saying why, naming the file, never
    the server's folders (the page shows them to every visitor)."""
    try:
        return load_inpainter(path, device=device)
    except CheckpointError as err:  # its message names the file, not the server's folders
        notes.append(f"{tab}: **could not load** `{path.name}`: {err}")
        return None


def _picture_fills(folder: Path, device: str, notes: list[str]) -> dict[str, Inpainter]:
    """The Inpaint tab's choices: the models whose cards show them ahead of PatchMatch by the
    judge, PatchMatch, the other models, then Telea."""
    models = {}
    for path in picture_checkpoints(folder):
        model = _load(path, device, "Inpaint tab", notes)
        if model is not None:
            label = FILLS[model.kind].label
            models[label if path.name == f"{model.kind}.safetensors" else f"{path.stem}: {label}"] = model
            notes.append(f"Inpaint tab: {_describe(model, path)}")
    if not models:
        if not (folder / ALBUM_CHECKPOINT).is_file():
            notes.append(f"Inpaint tab: **album model missing** (no `{ALBUM_CHECKPOINT}` in the checkpoint folder)")
        notes.append("Inpaint tab offers PatchMatch and Telea only. Train the model with "
                     f"`python train/album.py --data DIR --export checkpoints/{ALBUM_CHECKPOINT}` (see the README).")
    builtin = {FILLS[name].label: FILLS[name].make() for name in tab_fills(PICTURE_TAB)}
    # the default follows the judge: PatchMatch until a model's card shows it ahead of PatchMatch
    leading = {label: m for label, m in models.items() if judge_leads(m.meta)}
    fills = {**leading, PATCHMATCH: builtin.pop(PATCHMATCH), **models, **builtin}
    if models and not leading:
        notes.append("Inpaint tab: PatchMatch is the default; the album model's card does not show it nearer "
                     "the originals than PatchMatch by the judge (see docs/app.md)")
    return fills


def _model_choice(path: Path, model: Inpainter, notes: list[str]) -> LandcoverModel:
    """The Satellite tab's choice of the land-cover ``model`` loaded from ``path``: the model and the
    built-in fills with its exemplar bank, the default following the judge as on the Inpaint tab:
    land-cover PatchMatch until the model's card shows it ahead of land-cover PatchMatch (the
    shipped model's does not: by the judge it is 1.097x land-cover PatchMatch's distance on its
    held-out windows, checkpoints/README.md)."""
    table, bank = model.classes, getattr(model, "bank", None)
    notes.append(f"Satellite tab: {_describe(model, path)}, classes `{table.name}`")
    if bank is None:
        notes.append(f"Satellite tab: `{path.name}` has no exemplar bank, so land-cover PatchMatch cannot paint a "
                     "class the tile lacks; add one with `python -m inpaint_core bank` (see the README).")
    builtin = {FILLS[n].label: FILLS[n].make(table, bank) for n in tab_fills(TILE_TAB)}
    if judge_leads(model.meta, "landcover_patchmatch"):
        fills = {FILLS[model.kind].label: model} | builtin
    else:
        first = next(iter(builtin))  # the tab's best measured built-in fill: land-cover PatchMatch
        fills = {first: builtin.pop(first), FILLS[model.kind].label: model} | builtin
        notes.append(f"Satellite tab: land-cover PatchMatch is the default; `{path.name}`'s card does not show it "
                     "nearer the originals than land-cover PatchMatch by the judge (see docs/app.md)")
    label = f"{path.stem} ({table.name}: {_class_count(table)})"
    return LandcoverModel(label, table, fills, path)


def _table_choice(table, notes: list[str]) -> LandcoverModel:
    """The Satellite tab's choice of a built-in ``table`` that no loaded model paints: the built-in fills, no bank."""
    notes.append(f"Satellite tab: the `{table.name}` classes with land-cover PatchMatch (no exemplar bank) and "
                 f"Telea only; train its model with `python train/satellite.py --data DIR --classes {table.name}`.")
    fills = {FILLS[name].label: FILLS[name].make(table) for name in tab_fills(TILE_TAB)}
    return LandcoverModel(f"{table.name} table, no model ({_class_count(table)})", table, fills)


def _landcover_models(folder: Path, device: str, fallback_tables: list, notes: list[str]) -> dict:
    """The Satellite tab's choices: one per loaded land-cover model, then one per table of
    ``fallback_tables`` that none of them paints."""
    choices = [_model_choice(path, model, notes) for path in landcover_checkpoints(folder)
               if (model := _load(path, device, "Satellite tab", notes)) is not None]
    if not choices:
        notes.append("Satellite tab: **no satellite model** (no loadable land-cover model in the checkpoint folder). "
                     "Train one with `python train/satellite.py --data DIR --classes dubai-aerial` (see the README).")
    painted = [choice.classes for choice in choices]
    choices += [_table_choice(table, notes) for table in fallback_tables if table not in painted]
    if not choices:
        raise ValueError("no land-cover model and no class table for the Satellite tab: name a built-in table in "
                         "fallback_classes")
    return {choice.label: choice for choice in choices}


def load_app_models(checkpoint_dir, device: str = "auto", fallback_classes=FALLBACK_TABLES) -> AppModels:
    """Load every model in ``checkpoint_dir`` into the tab it fits.

    The Inpaint tab offers every picture model (:func:`picture_checkpoints`) with PatchMatch and
    Telea, its best measured fill first (a model whose card shows it ahead of PatchMatch by the
    judge, else PatchMatch). The Satellite tab gets one :class:`LandcoverModel` per loaded
    land-cover checkpoint (:func:`landcover_checkpoints`), each with its own class table and
    exemplar bank, then one per built-in table of ``fallback_classes`` that no loaded model
    paints (with land-cover PatchMatch, no bank, and Telea). A file goes to the tab its model's
    kind fits, whatever its name. A missing or unreadable checkpoint is not fatal: it is left out
    and ``notes`` says why and how to train the right one; the first note says which folder was
    read (:func:`folder_note`). A bad ``device`` or an unknown fallback table raises ``ValueError``.
    """
    resolved = str(resolve_device(device))
    folder = Path(checkpoint_dir)
    fallback_classes = [fallback_classes] if isinstance(fallback_classes, str) else list(fallback_classes)
    fallback_tables = [get_class_table(name) for name in fallback_classes]
    notes = [folder_note(folder)]
    album_fills = _picture_fills(folder, resolved, notes)
    landcover_models = _landcover_models(folder, resolved, fallback_tables, notes)
    notes.append(f"Device: **{resolved}** (PatchMatch and Telea run on the CPU)")
    return AppModels(album_fills=album_fills, landcover_models=landcover_models, notes=notes)
