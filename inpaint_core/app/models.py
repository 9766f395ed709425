"""The app's fills, loaded once at start, and what to tell the user about them.

Each tab offers its models and the built-in fills of the fill registry
(:data:`inpaint_core.registry.FILLS`, which gives every choice its label). A checkpoint goes to
the tab that fits what its model takes, never by its file name alone: the Inpaint tab offers
every picture model in the checkpoint folder (``album.safetensors`` first, then any other
``*.safetensors`` that is not a ``satellite*`` file), the Satellite tab one choice per
land-cover model (each ``satellite*.safetensors``: Dubai's urban classes, DeepGlobe's rural
ones, or a user's own table).

Each tab offers its best measured fill first. On the Inpaint tab that is decided by the judge
of JUDGE.md (held-out sources, LPIPS-shaped distance, win rate), read from each model's own
card: a model goes before PatchMatch only where its card shows it nearer the originals than
PatchMatch on most pictures; until then PatchMatch is the default, then the models, then
OpenCV's Telea (``docs/app.md`` has the figures). Each choice of the Satellite tab brings its
class table (the picker, the colours) and its fills: the satellite model, land-cover
PatchMatch with the checkpoint's exemplar bank, Telea. A built-in table with no model still
gets a choice with the classical fills. A missing or unreadable checkpoint never stops the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from inpaint_core.checkpoint import CheckpointError
from inpaint_core.data.landcover import get_class_table
from inpaint_core.engine import Inpainter, resolve_device
from inpaint_core.registry import FILLS, load_inpainter

__all__ = ["ALBUM_CHECKPOINT", "SATELLITE_CHECKPOINTS", "FALLBACK_TABLES", "PICTURE_TAB_FILLS", "TILE_TAB_FILLS",
           "PATCHMATCH", "ALBUM_MODEL", "TELEA", "LANDCOVER_PATCHMATCH", "SATELLITE_MODEL", "LandcoverModel",
           "AppModels", "load_app_models", "picture_checkpoints", "landcover_checkpoints", "judge_leads"]

ALBUM_CHECKPOINT = "album.safetensors"  # the Inpaint tab's first model, and the file its notes ask for
# land-cover models, in the order the Satellite tab offers them (the first found is its default)
SATELLITE_CHECKPOINTS = ("satellite-dubai.safetensors", "satellite-deepglobe.safetensors", "satellite*.safetensors")
# built-in tables offered with the classical fills when no loaded model paints them
FALLBACK_TABLES = ("dubai-aerial", "deepglobe")
# the built-in fills each tab offers besides its models, by registry name, best measured first
PICTURE_TAB_FILLS = ("patchmatch", "telea")
TILE_TAB_FILLS = ("landcover-patchmatch", "telea")

# the labels of the fill choices that tests, the browser benchmark and docs/app.md name
PATCHMATCH, ALBUM_MODEL, TELEA, LANDCOVER_PATCHMATCH, SATELLITE_MODEL = (
    FILLS[name].label for name in ("patchmatch", "album", "telea", "landcover-patchmatch", "satellite"))


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


def picture_checkpoints(folder: Path) -> list[Path]:
    """The files the Inpaint tab loads: :data:`ALBUM_CHECKPOINT` first, then every other
    ``*.safetensors`` in ``folder`` by name, but those of the Satellite tab."""
    theirs = set(landcover_checkpoints(folder))
    files = sorted(p for p in folder.glob("*.safetensors") if p not in theirs)
    return sorted(files, key=lambda p: p.name != ALBUM_CHECKPOINT)


def landcover_checkpoints(folder: Path) -> list[Path]:
    """The files the Satellite tab loads, in the order of :data:`SATELLITE_CHECKPOINTS`, each once."""
    return list(dict.fromkeys(p for pattern in SATELLITE_CHECKPOINTS for p in sorted(folder.glob(pattern))))


def _describe(model, path: Path) -> str:
    params = getattr(model, "model", None)
    count = sum(p.numel() for p in params.parameters()) if hasattr(params, "parameters") else 0
    size = f", {count / 1e6:.1f}M parameters" if count else ""
    return f"`{path.name}` ({model.kind} model{size}) on **{model.device}**"


def _class_count(table) -> str:
    return f"{len(table) - len(table.nodata_indices)} classes"  # the ones a user can ask for


def _load(path: Path, device: str, tab: str, landcover: bool, notes: list[str]) -> Inpainter | None:
    """The model in ``path`` if it loads and fits ``tab`` (one that follows ``landcover`` or one that
    does not), else None and a note saying why, naming the file, never the server's folders (the
    page shows them to every visitor)."""
    try:
        model = load_inpainter(path, device=device)
    except CheckpointError as err:  # its message names the file, not the server's folders
        notes.append(f"{tab}: **could not load** `{path.name}`: {err}")
        return None
    if ("landcover" in model.extra_inputs) != landcover:  # by what the model takes, not by its file name
        if landcover:
            why = f"which does not follow land cover (an album model belongs in `{ALBUM_CHECKPOINT}`)"
        else:
            why = (f"which needs {', '.join(model.extra_inputs)}; a land-cover model belongs in a "
                   "`satellite*.safetensors` file")
        notes.append(f"{tab}: **left out** `{path.name}`: it holds a {model.kind} model, {why}")
        return None
    return model


def _picture_fills(folder: Path, device: str, notes: list[str]) -> dict[str, Inpainter]:
    """The Inpaint tab's choices: the models whose cards show them ahead of PatchMatch by the
    judge, PatchMatch, the other models, then Telea."""
    models = {}
    for path in picture_checkpoints(folder):
        model = _load(path, device, "Inpaint tab", False, notes)
        if model is not None:
            label = FILLS[model.kind].label
            models[label if path.name == f"{model.kind}.safetensors" else f"{path.stem}: {label}"] = model
            notes.append(f"Inpaint tab: {_describe(model, path)}")
    if not models:
        if not (folder / ALBUM_CHECKPOINT).is_file():
            notes.append(f"Inpaint tab: **album model missing** (no `{ALBUM_CHECKPOINT}` in the checkpoint folder)")
        notes.append("Inpaint tab offers PatchMatch and Telea only. Train the model with "
                     f"`python train/album.py --data DIR --export checkpoints/{ALBUM_CHECKPOINT}` (see the README).")
    builtin = {FILLS[name].label: FILLS[name].make() for name in PICTURE_TAB_FILLS}
    # the default follows the judge: PatchMatch until a model's card shows it ahead of PatchMatch
    leading = {label: m for label, m in models.items() if judge_leads(m.meta)}
    fills = {**leading, PATCHMATCH: builtin.pop(PATCHMATCH), **models, **builtin}
    if models and not leading:
        notes.append("Inpaint tab: PatchMatch is the default; the album model's card does not show it nearer "
                     "the originals than PatchMatch by the judge (see docs/app.md)")
    return fills


def _model_choice(path: Path, model: Inpainter, notes: list[str]) -> LandcoverModel:
    """The Satellite tab's choice of the land-cover ``model`` loaded from ``path``: the model first
    (on its held-out windows it beats land-cover PatchMatch on PSNR and perceptual distance at a
    tenth of its time, checkpoints/README.md), then the built-in fills with its exemplar bank."""
    table, bank = model.classes, getattr(model, "bank", None)
    notes.append(f"Satellite tab: {_describe(model, path)}, classes `{table.name}`")
    if bank is None:
        notes.append(f"Satellite tab: `{path.name}` has no exemplar bank, so land-cover PatchMatch cannot paint a "
                     "class the tile lacks; add one with `python -m inpaint_core bank` (see the README).")
    fills = {FILLS[model.kind].label: model} | {FILLS[n].label: FILLS[n].make(table, bank) for n in TILE_TAB_FILLS}
    label = f"{path.stem} ({table.name}: {_class_count(table)})"
    return LandcoverModel(label, table, fills, path)


def _table_choice(table, notes: list[str]) -> LandcoverModel:
    """The Satellite tab's choice of a built-in ``table`` that no loaded model paints: the built-in fills, no bank."""
    notes.append(f"Satellite tab: the `{table.name}` classes with land-cover PatchMatch (no exemplar bank) and "
                 f"Telea only; train its model with `python train/satellite.py --data DIR --classes {table.name}`.")
    fills = {FILLS[name].label: FILLS[name].make(table) for name in TILE_TAB_FILLS}
    return LandcoverModel(f"{table.name} table, no model ({_class_count(table)})", table, fills)


def _landcover_models(folder: Path, device: str, fallback_tables: list, notes: list[str]) -> dict:
    """The Satellite tab's choices: one per loaded land-cover model, then one per table of
    ``fallback_tables`` that none of them paints."""
    choices = [_model_choice(path, model, notes) for path in landcover_checkpoints(folder)
               if (model := _load(path, device, "Satellite tab", True, notes)) is not None]
    if not choices:
        notes.append("Satellite tab: **no satellite model** (no loadable `satellite*.safetensors` in the checkpoint "
                     "folder). "
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
    paints (with land-cover PatchMatch, no bank, and Telea). A missing or unreadable checkpoint
    is not fatal, nor is one whose model does not fit its tab (an album model named
    ``satellite*.safetensors``: a tab takes a model by what it takes, not by its file name): it
    is left out and ``notes`` says why and how to train the right one. A bad ``device`` or an
    unknown fallback table raises ``ValueError``.
    """
    resolved = str(resolve_device(device))
    folder = Path(checkpoint_dir)
    fallback_classes = [fallback_classes] if isinstance(fallback_classes, str) else list(fallback_classes)
    fallback_tables = [get_class_table(name) for name in fallback_classes]
    notes: list[str] = []
    album_fills = _picture_fills(folder, resolved, notes)
    landcover_models = _landcover_models(folder, resolved, fallback_tables, notes)
    notes.append(f"Device: **{resolved}** (PatchMatch and Telea run on the CPU)")
    return AppModels(album_fills=album_fills, landcover_models=landcover_models, notes=notes)
