"""What the app's editors keep between clicks: a brush sized to the picture, and the fills kept
to edit further.

* The brush: Gradio's editor measures its brush as a radius in pixels of the picture it shows
  (for a big photo, the screen-size copy of :func:`inpaint_core.app.editing.editing_copy`), and its
  "auto" size is a fixed 25 px whatever the picture. :func:`brush_radius` scales the default to
  the picture instead, and :func:`picture_scale` converts the editor's pixels into the picture's,
  so the page can show a brush's width as it will be filled.
* Keep editing: after a fill, the result can become the picture to paint on, as in IOPaint.
  A tab's history is the list of kept results, oldest first; the last one is the picture being
  edited, and an empty history means the upload itself. "Undo last fill" drops the last one.
  The history holds file paths (the results Gradio serves), never pixels, so it costs nothing
  per session. A step is whatever a tab needs to fill again: a picture path on the Inpaint
  tab, a ``(tile, land cover)`` pair of paths on the Satellite tab, so the land cover stays
  aligned with the tile it was edited for.

Every function raises ``ValueError`` with a message meant for the app's user on bad input.
"""

from __future__ import annotations

from pathlib import Path

from inpaint_core.app.editing import EDIT_SIDE, scaled_shape

__all__ = [
    "BRUSH_FRACTION",
    "BRUSH_MAX",
    "BRUSH_MIN",
    "LANDCOVER_SUFFIX",
    "RESULT_SUFFIX",
    "UNDO_FILLS",
    "brush_radius",
    "current_step",
    "editor_shape",
    "history_note",
    "keep_step",
    "picture_scale",
    "result_stem",
    "satellite_step",
    "undo_step",
]

# the default brush radius is the picture's shorter side divided by this (what Gradio's docs
# promise for "auto"): a stroke 1/25 of the picture wide covers a typical object in a few passes
BRUSH_FRACTION = 50
# the editor's size slider runs from 1 to 100 (editor pixels)
BRUSH_MIN, BRUSH_MAX = 2, 100
# fills a tab can undo, each a kept result (the issue asked for at least five)
UNDO_FILLS = 10
# how the Satellite tab names its downloads: <tile>_inpainted.tif/.png, <tile>_landcover_edited.png
RESULT_SUFFIX = "_inpainted"
LANDCOVER_SUFFIX = "_landcover_edited"


def editor_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` of what the editor shows for a picture of ``shape``: the picture itself, or its
    copy of at most :data:`~inpaint_core.app.editing.EDIT_SIDE` per side."""
    return scaled_shape(int(shape[0]), int(shape[1]), EDIT_SIDE)


def brush_radius(shape: tuple[int, int]) -> int:
    """The default brush radius, in pixels of the editor, for a picture of ``shape`` ``(h, w)``
    (its full size): the shorter side of what the editor shows over :data:`BRUSH_FRACTION`,
    within the slider's range."""
    h, w = editor_shape(shape)
    if h < 1 or w < 1:
        raise ValueError(f"a picture of {w}x{h} pixels has no brush size")
    return int(min(BRUSH_MAX, max(BRUSH_MIN, round(min(h, w) / BRUSH_FRACTION))))


def picture_scale(shape: tuple[int, int]) -> float:
    """Pixels of the picture (``shape`` ``(h, w)``, full size) per pixel of the editor: 1 for a
    picture shown whole, more for one painted on a smaller copy."""
    h, w = int(shape[0]), int(shape[1])
    return w / editor_shape((h, w))[1]


# --- keep editing --------------------------------------------------------------------------


def current_step(history, upload):
    """What the tab fills now: the last kept result, or ``upload`` when none was kept."""
    return history[-1] if history else upload


def keep_step(history, step, limit: int = UNDO_FILLS) -> list:
    """``history`` with ``step`` (a fill's result) kept as the picture to edit next; the oldest
    steps beyond ``limit`` are forgotten. Keeping the step being edited again changes nothing
    (a second click on the button is no second fill to undo). Returns a new list."""
    if not step:
        raise ValueError("no result to keep editing yet: paint, press Inpaint, then keep editing its result")
    if limit < 1:
        raise ValueError(f"the history must hold at least 1 fill, got {limit}")
    history = list(history or [])
    if history and _same(history[-1], step):
        return history
    return (history + [step])[-limit:]


def undo_step(history) -> list:
    """``history`` without its last kept result: the tab goes back to the picture before it."""
    if not history:
        raise ValueError("no fill to undo: keep editing a result first, then Undo last fill goes back to before it")
    return list(history[:-1])


def history_note(history) -> str:
    """A line on where the editing stands, for the line under the picture."""
    n = len(history or [])
    if n == 0:
        return ""
    return (f"editing the result of {n} kept fill{'s' if n > 1 else ''} "
            f"(Undo last fill goes back {'one step' if n > 1 else 'to the upload'})")


def _same(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return str(a) == str(b)


def result_stem(tile_path) -> str:
    """The name the Satellite tab's downloads start with: the tile's stem, without the suffix a
    kept result already carries (so a third pass writes tile_inpainted.png, not
    tile_inpainted_inpainted_inpainted.png)."""
    stem = Path(tile_path).stem
    while stem.endswith(RESULT_SUFFIX) and len(stem) > len(RESULT_SUFFIX):
        stem = stem[: -len(RESULT_SUFFIX)]
    return stem


def satellite_step(files) -> tuple[str, str]:
    """The tile and land cover to edit further, from a Satellite fill's downloads (file paths as
    the page holds them): the GeoTIFF result when there is one (georeferencing, bands and
    nodata kept), else the PNG result, and the edited land cover, which is aligned with it."""
    files = [str(f) for f in (files or []) if f]
    if not files:
        raise ValueError("no result to keep editing yet: press Inpaint, then keep editing its result")
    by_kind: dict[str, str] = {}
    for f in files:
        p = Path(f)
        if p.stem.endswith(LANDCOVER_SUFFIX) and p.suffix.lower() == ".png":
            by_kind["landcover"] = f
        elif p.stem.endswith(RESULT_SUFFIX):
            by_kind["tif" if p.suffix.lower() in (".tif", ".tiff") else "png"] = f
    tile = by_kind.get("tif") or by_kind.get("png")
    if tile is None or "landcover" not in by_kind:
        names = ", ".join(Path(f).name for f in files)
        raise ValueError(f"these downloads are not a Satellite fill's (its result and edited land cover): {names}")
    return tile, by_kind["landcover"]
