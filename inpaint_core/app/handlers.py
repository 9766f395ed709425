"""The app's event handlers as plain methods, so tests call them without a server.

Each handler turns widget values into calls of the app's logic (:mod:`inpaint_core.app.picture`
and :mod:`inpaint_core.app.tile` for a click of Inpaint, :mod:`~inpaint_core.app.editing`,
:mod:`~inpaint_core.app.editor_state` and :mod:`~inpaint_core.app.landcover_edit` for the
editors) and turns what comes back into Gradio updates: pictures, files, brushes, messages.
A ``ValueError`` (bad input) is shown on the page as a message (:func:`user_errors`).
:mod:`inpaint_core.app.ui` wires these handlers to the page.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from inpaint_core.app import editing, editor_state, landcover_edit, tile
from inpaint_core.app.models import AppModels
from inpaint_core.app.picture import fill_picture, picture_view
from inpaint_core.data.pictures import animation_note, read_picture

__all__ = ["Handlers", "user_errors", "landcover_brush", "inpaint_brush", "region_brush", "PAINT_EDITOR"]

# the land-cover editor, whose palette the legend is (its tab's id is this + "-tab")
PAINT_EDITOR = "satellite-paint"


def user_errors(fn):
    """Show ``ValueError`` (bad input) in the UI as a message instead of a server error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as err:
            raise gr.Error(str(err)) from err

    return wrapper


class Handlers:
    """The event handlers as plain methods, so tests can call them without a server."""

    def __init__(self, models: AppModels, workdir: Path | None = None):
        self.models = models
        self.workdir = Path(workdir or Path(tempfile.gettempdir()) / "inpaint-app")

    @user_errors
    def picture_load(self, picture: str | None):
        """Inpaint tab, a picture was uploaded: the editor gets it to paint on, as a screen-size
        copy when it is big (the original stays here, in the upload). Returns the editor value and
        a line on its size."""
        if not picture:
            return None, ""
        return self._picture_view(str(picture))

    def _picture_view(self, path: str, history=()) -> tuple[dict, str]:
        """The editor value for painting on the picture at ``path`` and the line on it."""
        return picture_view(self._read_picture(path), path, history)

    @staticmethod
    def inpaint_clear():
        """Inpaint tab, a picture was loaded (uploaded, an example, or emptied after a refusal): no
        output of the previous picture stays on screen, and no fill is left to undo. Returns the
        result, comparison and mask (all empty) and the history."""
        return None, None, None, []

    def picture_open(self, picture: str | None):
        """Inpaint tab, a picture was uploaded: :meth:`picture_load`, with the brush and eraser sized
        to the picture in the same update (a resize arriving later would cut short a stroke begun
        before it). Returns the editor update and the line on the picture."""
        shown, note = self.picture_load(picture)
        if shown is None:
            return None, note
        update, _ = self.picture_brush(picture)
        update["value"] = shown
        return update, note

    def picture_brush(self, picture: str | None):
        """Inpaint tab: the brush and eraser sized to ``picture``, and its pixels per pixel of the
        editor (for the brush width the page shows). Returns the editor update and that scale."""
        if not picture:
            return gr.update(), 1.0
        shape = self._read_picture(str(picture)).shape[:2]  # cached: read by the load
        radius = editor_state.brush_radius(editor_state.editor_shape(shape))
        return (gr.update(brush=inpaint_brush(radius), eraser=gr.Eraser(default_size=radius)),
                editor_state.picture_scale(shape))

    def picture_scale(self, picture: str | None) -> float:
        """Inpaint tab: the picture's pixels per pixel of the editor (1 without a picture)."""
        return self.picture_brush(picture)[1]

    @staticmethod
    def picture_refused():
        """Inpaint tab, a picture was refused: the box lets go of the file, so it shows no picture
        that the editor does not have (emptying it clears the error badges too)."""
        return None

    @user_errors
    def keep_editing(self, result: str | None, history):
        """Inpaint tab: the last result becomes the picture to paint on (the full-size file stays
        here, as an upload does), so a second object can go without a download and upload.
        Returns the editor value, the line on the picture and the history."""
        history = editor_state.keep_step(history, str(result) if result else None)
        shown, note = self._picture_view(str(history[-1]), history)
        return shown, note, history

    @user_errors
    def undo_fill(self, picture: str | None, history):
        """Inpaint tab: back to the picture before the last kept fill. Returns the editor value,
        the line on the picture, the history, and the (emptied) result, comparison and mask."""
        history = editor_state.undo_step(history)
        path = editor_state.current_step(history, picture)
        if not path:
            raise ValueError("no picture: upload one first")
        shown, note = self._picture_view(str(path), history)
        return shown, note, history, None, None, None

    @staticmethod
    @functools.lru_cache(maxsize=2)
    def _read_picture(path: str):
        image = read_picture(path)
        image.flags.writeable = False  # shared between calls: the fills copy, nothing writes
        return image

    @user_errors
    def inpaint(self, editor: dict | None, dilation: float, strategy: str, method: str | None = None,
                picture: str | None = None, history=None):
        """Inpaint tab: ``editor`` is the ImageEditor value, ``method`` a fill label (None: the default),
        ``picture`` the uploaded picture file (None: the editor's background is the picture, as an
        API call may send it), ``history`` the results kept to edit further (the last one is the
        picture then). Returns result, (before, after), mask paths."""
        fill = self.models.pick(self.models.album_fills, method)
        picture = editor_state.current_step(history, picture)
        image, mask = editing.picture_and_mask(self._read_picture(str(picture)) if picture else None, editor)
        if picture and (animated := animation_note(str(picture))):
            gr.Warning(animated)
        return fill_picture(fill, image, mask, dilation, strategy, self.workdir)

    @user_errors
    def satellite_pickers(self, landcover_model: str | None = None):
        """Satellite tab, another land-cover model was chosen: its legend, class pickers, brush
        colours and fills. Returns 5 component updates."""
        chosen = self.models.landcover(landcover_model)
        names, fills = chosen.classes.names, list(chosen.fills)
        return (
            landcover_edit.legend_html(chosen.classes, palette_for=PAINT_EDITOR),
            gr.update(choices=names, value=[]),
            gr.update(choices=names, value=names[0]),
            gr.update(brush=landcover_brush(chosen.classes)),
            gr.update(choices=fills, value=fills[0]),
        )

    def satellite_reload(self, tile_file, landcover_file, landcover_model: str | None = None):
        """Satellite tab, after a model switch: :meth:`satellite_load` with the new table; a land
        cover that does not fit it clears the overlay and canvases (no stale colours) and says why."""
        return self._reload(self.satellite_load, tile_file, landcover_file, landcover_model)

    def satellite_reopen(self, tile_file, landcover_file, landcover_model: str | None = None):
        """:meth:`satellite_reload` for the page: the canvases come with their brushes (:meth:`satellite_open`)."""
        return self._reload(self.satellite_open, tile_file, landcover_file, landcover_model)

    @staticmethod
    def _reload(load, tile_file, landcover_file, landcover_model):
        try:
            return load(tile_file, landcover_file, landcover_model)
        except gr.Error as err:
            gr.Warning(f"{err.message} Upload this model's land cover, or choose the model it is drawn for.")
            return None, None, None

    @user_errors
    def satellite_load(self, tile_file, landcover_file, landcover_model: str | None = None):
        """Satellite tab: show the overlay and prepare both painting canvases, the land cover read
        with the chosen model's class table (None: the default). Returns 3 images."""
        if not tile_file or not landcover_file:
            return None, None, None
        classes = self.models.landcover(landcover_model).classes
        uploads = tile.read_tile(tile_file, landcover_file, classes)
        return tile.canvases(uploads.rgb, uploads.landcover, classes)

    @staticmethod
    def satellite_clear():
        """Satellite tab, a tile, land cover or model was chosen: no output of the previous one
        stays on screen, and no fill is left to undo. Returns the result, comparison, mask, edited
        land cover and downloads (all empty) and the history."""
        return None, None, None, None, None, []

    def satellite_open(self, tile_file, landcover_file, landcover_model: str | None = None):
        """Satellite tab, a tile or land cover was uploaded: :meth:`satellite_load`, with both
        canvases' brushes sized to the tile in the same update (see :meth:`picture_open`).
        Returns the overlay and 2 editor updates."""
        overlay, region, paint = self.satellite_load(tile_file, landcover_file, landcover_model)
        if overlay is None:
            return overlay, region, paint
        region_update, paint_update = self.satellite_brushes(overlay, landcover_model)
        region_update["value"], paint_update["value"] = region, paint
        return overlay, region_update, paint_update

    def satellite_brushes(self, overlay, landcover_model: str | None = None):
        """Satellite tab: the region and land-cover brushes and erasers sized to a tile (its
        overlay, ``HxWx3``). Returns 2 editor updates."""
        if overlay is None:
            return gr.update(), gr.update()
        radius = editor_state.brush_radius(np.asarray(overlay).shape[:2])  # tiles are painted whole
        classes = self.models.landcover(landcover_model).classes
        eraser = gr.Eraser(default_size=radius)
        return (gr.update(brush=region_brush(radius), eraser=eraser),
                gr.update(brush=landcover_brush(classes, radius), eraser=eraser))

    @staticmethod
    def satellite_refused(tile_file, landcover_file):
        """Satellite tab, a tile or land cover was refused: the box of a file that cannot be read
        lets go of it (both stay when they are fine alone but do not fit together, which the
        message says). Returns 2 file updates."""
        return tuple(None if path and tile.unreadable(path, what) else gr.update()
                     for path, what in ((tile_file, "tile"), (landcover_file, "land cover")))

    @user_errors
    def satellite_keep_editing(self, files, history, landcover_model: str | None = None):
        """Satellite tab: the last result (its GeoTIFF when the tile was one) and its edited land
        cover become the tile and land cover to edit, so both stay aligned. Returns the overlay,
        the two painting canvases and the history."""
        history = editor_state.keep_step(history, editor_state.satellite_step(files))
        return (*self.satellite_load(*history[-1], landcover_model), history)

    @user_errors
    def satellite_undo(self, tile_file, landcover_file, landcover_model: str | None = None, history=None):
        """Satellite tab: back to the tile and land cover before the last kept fill. Returns the
        overlay, the two canvases, the history and the 5 (emptied) outputs."""
        history = editor_state.undo_step(history)
        tile_file, landcover_file = editor_state.current_step(history, (tile_file, landcover_file))
        return (*self.satellite_load(tile_file, landcover_file, landcover_model), history, None, None, None, None,
                None)

    @user_errors
    def satellite_inpaint(self, tile_file, landcover_file, erase, region_editor, fill, fill_class,
                          paint_editor, dilation, strategy, method: str | None = None,
                          landcover_model: str | None = None, history=None):
        """Satellite tab: erase classes / apply painted land cover, then inpaint with the fill
        labelled ``method`` of the land-cover model labelled ``landcover_model`` (None: the
        defaults). ``history``: the (tile, land cover) results kept to edit further; the last one
        is filled instead of the uploads.

        Returns the result, (before, after), mask, edited land cover and the download files.
        """
        tile_file, landcover_file = editor_state.current_step(history, (tile_file, landcover_file))
        chosen = self.models.landcover(landcover_model)
        model = self.models.pick(chosen.fills, method)
        uploads = tile.read_tile(tile_file, landcover_file, chosen.classes)
        edit = tile.plan_edit(uploads, chosen.classes, erase, region_editor, fill, fill_class, paint_editor, dilation)
        result, hole = tile.fill_tile(model, uploads, edit, strategy)
        return tile.save_results(self.workdir, tile_file, uploads, result, hole, edit.landcover, chosen.classes)

    def model_info(self) -> str:
        return self.models.info_markdown


def landcover_brush(classes, size: int = 20) -> gr.Brush:
    """The land-cover brush: one colour per class of the model's table, of radius ``size``."""
    colours = classes.hex_colors()
    return gr.Brush(colors=colours, default_color=colours[0], color_mode="fixed", default_size=size)


def inpaint_brush(size: int | str = "auto") -> gr.Brush:
    """The Inpaint tab's brush: see-through magenta, so one sees what one covers, of radius ``size``."""
    return gr.Brush(colors=[("#ff00ff", 0.7)], color_mode="fixed", default_size=size)


def region_brush(size: int = 30) -> gr.Brush:
    """The Satellite tab's region brush, of radius ``size``."""
    return gr.Brush(colors=["#ff00ff"], color_mode="fixed", default_size=size)


