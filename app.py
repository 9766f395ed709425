"""The Gradio app: paint a hole into any picture and inpaint it; erase land cover from satellite tiles.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--device auto] [--checkpoints checkpoints]
                  [--max-queue 32]

UI only: widget values go to :mod:`inpaint_core.app.editing` and the inpainters, results come
back as pictures and files. Every event has an ``api_name`` so ``gradio_client`` can call it
(see ``docs/app.md``). Models are loaded once at start; a missing checkpoint is replaced by
a classical fill (PatchMatch, land-cover PatchMatch, Telea) and the page says so.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from inpaint_core.app import editing, editor_state, landcover_edit
from inpaint_core.app import models as app_models
from inpaint_core.engine import STRATEGIES

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE / "examples"
# every event that runs a model shares this queue, so one model call runs at a time
# (the CPU's cores or the GPU are used by that call; parallel calls would only thrash)
MODEL_QUEUE = "model"
MAX_FILE_SIZE = "100mb"  # uploads beyond this are refused by the server before any handler runs
# requests that may wait in the queue; one more gets "Queue is full" (docs/app.md: sizing it)
MAX_QUEUE = 32

SLIDER_LABEL = f"Before / after (scaled to {editing.PREVIEW_SIDE} px for larger pictures)"
RESULT_LABEL = "Result: full-size PNG"
FILL_HELP = (
    "PatchMatch copies real texture from the picture (about a second per painted region) and is nearer the "
    "originals than the model on most held-out pictures; the model is fast and smooth, good on thin strokes; "
    "Telea is instant and smooth"
)
SAT_MODEL_HELP = (
    "each land-cover model paints its own classes (Dubai: urban; DeepGlobe: rural fields, forest, water); "
    "the class picker, the colours and the land-cover file's reading follow it"
)
SAT_FILL_HELP = (
    "Land-cover PatchMatch copies texture of the class asked for at each pixel (from the tile, or from the "
    "model's exemplars of that class); the model follows land cover and is faster; Telea ignores land cover"
)
# the page's painting editors: their CSS class (the page script's keys act on these), the suffix of
# the hidden number beside an editor that holds picture pixels per editor pixel, and the land-cover
# editor whose palette the legend is (its tab's id is the editor's id + "-tab")
EDITOR_CLASS = "studio-editor"
SCALE_SUFFIX = "-scale"
PAINT_EDITOR = "satellite-paint"
EMPTY_EDITOR = {
    "inpaint-editor": "Upload a picture in the Picture box above (or click an example); paint on it here",
    "satellite-region": "Load a tile and its land cover above (or click an example tile); paint on it here",
    PAINT_EDITOR: "Load a tile and its land cover above (or click an example tile); paint on it here",
}
SHORTCUTS = (
    "**Shortcuts:** Ctrl+Z undo a stroke · Ctrl+Shift+Z or Ctrl+Y redo · `[` / `]` smaller / larger brush "
    "(its width shows in pixels of the picture) · Ctrl or Alt + mouse wheel: zoom (⌘ for Ctrl on a Mac)"
)
STRATEGY_HELP = (
    "crop: fill a box around each painted region (fast on big photos); resize: the whole picture "
    "scaled to the model's working size; full: the whole picture at full size (slow)"
)


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

    def __init__(self, models: app_models.AppModels, workdir: Path | None = None):
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
        image = self._read_picture(path)
        shown = editing.editing_copy(image)
        h, w = image.shape[:2]
        sh, sw = shown["background"].shape[:2]
        note = f"{w}x{h} pixels" + ("" if (sh, sw) == (h, w) else
                                    f"; painted on a {sw}x{sh} copy, filled and saved at full size")
        extra = [line for line in (editing.animation_note(path), editor_state.history_note(history)) if line]
        return shown, "; ".join([note, *extra])

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
        image = editing.read_picture(path)
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
        if picture and (animated := editing.animation_note(str(picture))):
            gr.Warning(animated)
        if not mask.any():
            raise ValueError("nothing painted: paint over what should disappear, then press Inpaint")
        mask = editing.dilate_mask(mask, dilation)
        result = fill.inpaint(image, mask, strategy=strategy)
        out = editing.output_dir(self.workdir)
        after = editing.save_png(out / "result.png", result)
        return after, self._comparison(out, image, result, after), editing.save_png(
            out / "mask.png", editing.mask_image(mask))

    @staticmethod
    def _comparison(out: Path, before, after, after_path: str) -> tuple[str, str]:
        """Files for the before/after slider: previews of big pictures, the result itself otherwise."""
        if max(before.shape[:2]) <= editing.PREVIEW_SIDE:
            return editing.save_png(out / "before.png", before), after_path
        return (editing.save_png(out / "before_preview.png", editing.preview(before)),
                editing.save_png(out / "after_preview.png", editing.preview(after)))

    def _read_tile(self, tile_file, landcover_file, classes):
        from inpaint_core.data import geo

        if not tile_file:
            raise ValueError("no tile: upload an RGB tile (PNG, JPEG or GeoTIFF)")
        if not landcover_file:
            raise ValueError("no land cover: upload the tile's land cover (colour PNG, coded raster or GeoTIFF)")
        for path, what in ((tile_file, "tile"), (landcover_file, "land cover")):
            editing.check_upload(path, what)  # header only: junk, damaged and oversized files are named
        # the one tile reader: a GeoTIFF kept whole for a faithful write-back, its land cover
        # reprojected onto its grid whatever the CRS, the sizes checked
        tile = geo.read_tile(tile_file, landcover_file, classes)
        editing.check_image(tile.rgb, "tile")
        return tile.rgb, tile.georef, tile.landcover, tile.raster

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
        rgb, _, landcover, _ = self._read_tile(tile_file, landcover_file, classes)
        overlay = landcover_edit.overlay_landcover(rgb, landcover, classes)
        colours = landcover_edit.colorize(landcover, classes)
        return overlay, {"background": overlay, "layers": [], "composite": overlay}, {
            "background": colours,
            "layers": [],
            "composite": colours,
        }

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
        def unreadable(path, what) -> bool:
            try:
                editing.check_upload(path, what)
            except ValueError:
                return True
            return False

        return tuple(None if path and unreadable(path, what) else gr.update()
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
        tile, landcover = editor_state.current_step(history, (tile_file, landcover_file))
        return (*self.satellite_load(tile, landcover, landcover_model), history, None, None, None, None, None)

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
        classes = chosen.classes
        model = self.models.pick(chosen.fills, method)
        rgb, georef, landcover, raster = self._read_tile(tile_file, landcover_file, classes)
        shape = rgb.shape[:2]
        region_layers = editing.editor_layers(region_editor)
        region = editing.layers_mask(region_layers, shape, "painted region") if region_layers else None
        edit = landcover_edit.plan_satellite_edit(
            landcover, classes, erase=erase or [], region=region, fill=fill,
            fill_class=fill_class, paint_layers=editing.editor_layers(paint_editor), dilation=dilation,
        )
        extra = {"landcover": edit.landcover} if "landcover" in model.extra_inputs else {}
        if raster is None:
            hole = edit.mask
            result = model.inpaint(rgb, hole, strategy=strategy, **extra)
        else:  # nodata neither filled nor shown to the fill as context
            from inpaint_core.data import geo

            result, hole = geo.fill_raster(model, raster, edit.mask, strategy=strategy, **extra)

        out = editing.output_dir(self.workdir)
        stem = editor_state.result_stem(tile_file)
        after = editing.save_png(out / f"{stem}{editor_state.RESULT_SUFFIX}.png", result)
        mask = editing.save_png(out / f"{stem}_mask.png", editing.mask_image(hole))
        landcover_png = editing.save_png(
            out / f"{stem}{editor_state.LANDCOVER_SUFFIX}.png", landcover_edit.colorize(edit.landcover, classes)
        )
        files = [after, landcover_png, mask]
        if raster is not None:
            # the file's own dtype, bands, CRS, transform and nodata; untouched pixels bit-identical
            tif = out / f"{stem}{editor_state.RESULT_SUFFIX}.tif"
            geo.write_filled(tif, raster, result, hole)
            files.insert(0, str(tif))
        return after, self._comparison(out, rgb, result, after), mask, landcover_png, files

    def model_info(self) -> str:
        return self.models.info_markdown


class CheckedImageEditor(gr.ImageEditor):
    """An ImageEditor that reads each uploaded file as the Picture box does
    (:func:`inpaint_core.app.editing.open_picture`): a bad upload (not an image, damaged, too large,
    16-bit) gets a message saying what is wrong instead of Gradio's generic error or a clipped
    copy, and a photo comes in the orientation its EXIF says, as from the Picture box (Gradio's
    own reading ignored it, so one file came back in two orientations)."""

    # a template of ImageEditor, as Gradio's own ImageMask is: the page draws it with the
    # ImageEditor's front end (without this, a subclass is looked up as a custom component
    # that has none, and the editor never appears)
    is_template = True

    def convert_and_format_image(self, file, flatten_on_white: bool = False):
        path = getattr(file, "path", None)
        if path is None or self.type != "numpy":  # bytes from the browser's canvas: Gradio's own reading
            return super().convert_and_format_image(file, flatten_on_white=flatten_on_white)
        # Gradio flattens the background and composite (pictures); layers are brush paint, whose
        # depth does not matter (any paint is a hole)
        picture = flatten_on_white
        try:
            im = editing.open_picture(path, "picture" if picture else "painted layer", eight_bit=picture)
        except ValueError as err:
            raise gr.Error(str(err)) from err
        if picture and (animated := editing.animation_note(path)):
            gr.Warning(animated)
        with im:
            return np.asarray(im.convert(self.image_mode))


def _labelled(component: type) -> type:
    """``component`` whose own range and choice errors name it: Gradio's say "Value -3 is less
    than minimum value 0." without saying which control, which a person cannot act on."""

    class Labelled(component):
        is_template = True  # drawn by the component's own front end (see CheckedImageEditor)

        def preprocess(self, payload):
            try:
                return super().preprocess(payload)
            except gr.Error as err:
                raise gr.Error(f"{self.label}: {err.message}") from err

    Labelled.__name__ = Labelled.__qualname__ = f"Labelled{component.__name__}"
    return Labelled


Slider, Radio, Dropdown, CheckboxGroup = (_labelled(c) for c in (gr.Slider, gr.Radio, gr.Dropdown, gr.CheckboxGroup))


def _editor(label: str, **kwargs) -> gr.ImageEditor:
    # RGBA so that the brush layer's alpha is the mask; PNG so nothing is lossy on the way; the
    # class lets the page script's keys find it
    return CheckedImageEditor(label=label, type="numpy", image_mode="RGBA", format="png",
                              elem_classes=[EDITOR_CLASS], **kwargs)


def _scale(editor_id: str) -> gr.Number:
    """The hidden number beside an editor: picture pixels per editor pixel (see :data:`SCALE_SUFFIX`)."""
    return gr.Number(value=1.0, visible="hidden", interactive=False, elem_id=editor_id + SCALE_SUFFIX,
                     label="picture pixels per editor pixel")


def page_script() -> str:
    """The page script (``inpaint_core/editor_page.js``: keys, brush width, palette, empty-editor
    texts) as a function for ``demo.load(js=...)``, with this page's settings."""
    source = Path(editing.__file__).with_name("editor_page.js").read_text(encoding="utf-8")
    settings = {"editor": EDITOR_CLASS, "scale_suffix": SCALE_SUFFIX, "empty": EMPTY_EDITOR}
    return f"() => ({source})({json.dumps(settings)})"


def _image(label: str, **kwargs) -> gr.Image:
    # results are PNG files: gradio's default WebP is lossy
    return gr.Image(label=label, format="png", type="filepath", interactive=False, **kwargs)


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


# synthetic example tiles by the built-in class table their land cover is drawn in: (what it
# shows, tile, land cover) (examples/README.md)
EXAMPLE_TILES = {
    "dubai-aerial": ("Town by the sea", EXAMPLES / "satellite" / "tile.tif", EXAMPLES / "satellite" / "landcover.png"),
    "deepglobe": ("Fields, forest, river", EXAMPLES / "satellite-deepglobe" / "rural-tile.tif",
                  EXAMPLES / "satellite-deepglobe" / "rural-landcover.png"),
}


def example_tiles(models: app_models.AppModels) -> tuple[list[list[str]], list[str]]:
    """Example rows ``[tile, land cover, land-cover model]`` and their labels: one for each
    land-cover model whose table has an example tile."""
    from inpaint_core.data.landcover import get_class_table

    drawn_in = {name: get_class_table(name) for name in EXAMPLE_TILES}
    rows, labels = [], []
    for label, chosen in models.landcover_models.items():
        # by the classes themselves, not the table's name: a user's table may share a name
        for table_name, (what, tile, landcover) in EXAMPLE_TILES.items():
            if drawn_in[table_name] == chosen.classes and tile.is_file():
                rows.append([str(tile), str(landcover), label])
                labels.append(f"{what} ({label})")
    return rows, labels


def build_demo(models: app_models.AppModels, workdir: Path | None = None, max_queue: int = MAX_QUEUE) -> gr.Blocks:
    """The whole UI around ``models``; ``workdir`` holds each request's download files; at most
    ``max_queue`` requests wait in the queue."""
    if max_queue < 1:
        raise ValueError(f"the queue must hold at least 1 request, got {max_queue}")
    h = Handlers(models, workdir)
    default = models.landcover()
    classes = default.classes
    names = classes.names
    strategies = list(STRATEGIES)

    with gr.Blocks(title="Inpainting studio") as demo:
        gr.Markdown("# Inpainting studio")
        with gr.Accordion("Models and device", open=True):
            info = gr.Markdown(models.info_markdown)

        with gr.Tab("Inpaint"):
            with gr.Row():
                with gr.Column():
                    # the upload stays on the server; the editor paints on a screen-size copy of it,
                    # so a click sends a brush layer, not a 12 Mpx picture (docs/app.md: the timings)
                    picture = gr.File(label="Picture (JPEG, PNG, WebP, ...): upload or drop it here",
                                      file_types=["image"], height=150, elem_id="inpaint-picture")
                    photos = sorted((EXAMPLES / "photos").glob("*.jpg"))
                    if photos:
                        gr.Examples([[str(p)] for p in photos], inputs=[picture], label="Example pictures")
                    picture_info = gr.Markdown("", elem_id="inpaint-picture-info")
                    editor = _editor(
                        "Paint over what should disappear",
                        brush=inpaint_brush(), eraser=gr.Eraser(default_size="auto"),  # sized to each picture
                        sources=(), transforms=(),  # the picture comes from the upload above, whole
                        height=560,
                        elem_id="inpaint-editor",
                    )
                    gr.Markdown(SHORTCUTS, elem_id="inpaint-shortcuts")
                    scale = _scale("inpaint-editor")
                    history = gr.State([])  # results kept to edit further (inpaint_core.app.editor_state)
                    with gr.Row():
                        dilation = Slider(0, 50, value=editing.MASK_DILATION, step=1, label="Mask dilation (pixels)",
                                             info="grow the painted hole, to also remove the stroke's halo",
                                             elem_id="inpaint-dilation")
                        strategy = Radio(strategies, value="crop", label="Large-image strategy", info=STRATEGY_HELP)
                    album_method = Radio(list(models.album_fills), value=next(iter(models.album_fills)),
                                            label="Fill method", info=FILL_HELP, elem_id="inpaint-method")
                    run = gr.Button("Inpaint", variant="primary", elem_id="inpaint-run")
                with gr.Column():
                    compare = gr.ImageSlider(label=SLIDER_LABEL, format="png", type="filepath",
                                             interactive=False, elem_id="inpaint-compare")
                    with gr.Row():
                        keep = gr.Button("Keep editing the result", size="md", elem_id="inpaint-keep")
                        undo = gr.Button(f"Undo last fill (up to {editor_state.UNDO_FILLS})", size="md",
                                         elem_id="inpaint-undo")
                    # a file, not a picture: the page then loads only the previews, not a 12 Mpx PNG
                    result = gr.File(label=RESULT_LABEL, interactive=False, elem_id="inpaint-result")
                    mask = _image("Mask used (white = filled)", height=200, elem_id="inpaint-mask")
            outputs = [result, compare, mask]
            # a new picture (upload, example, or the box emptied after a refusal): nothing of the last one stays
            picture.change(h.inpaint_clear, None, [*outputs, history], api_visibility="private",
                           concurrency_limit=None)
            loaded = picture.change(h.picture_open, [picture], [editor, picture_info], api_visibility="private",
                                    concurrency_limit=4)
            loaded.success(h.picture_scale, [picture], [scale], api_visibility="private", concurrency_limit=4)
            loaded.failure(h.picture_refused, None, [picture], api_visibility="private")
            run.click(h.inpaint, [editor, dilation, strategy, album_method, picture, history], outputs,
                      api_name="inpaint", concurrency_id=MODEL_QUEUE, concurrency_limit=1)
            # no progress overlay on a painted editor: Gradio's stayed over the canvas after the new
            # picture came, and strokes under it were lost (the line under the picture says what happened)
            keep.click(h.keep_editing, [result, history], [editor, picture_info, history], api_visibility="private",
                       concurrency_limit=4, show_progress="hidden")
            undo.click(h.undo_fill, [picture, history], [editor, picture_info, history, *outputs],
                       api_visibility="private", concurrency_limit=4, show_progress="hidden")

        with gr.Tab("Satellite"):
            with gr.Row():
                with gr.Column():
                    with gr.Row():
                        tile_file = gr.File(label="Tile (PNG, JPEG or GeoTIFF)",
                                            file_types=[".png", ".jpg", ".jpeg", ".tif", ".tiff"])
                        landcover_file = gr.File(label="Land cover (colour PNG, coded raster, GeoTIFF)",
                                                 file_types=[".png", ".tif", ".tiff"])
                    sat_model = Radio(list(models.landcover_models), value=default.label, label="Land-cover model",
                                         info=SAT_MODEL_HELP, elem_id="satellite-model")
                    rows, labels = example_tiles(models)
                    if rows:
                        gr.Examples(rows, inputs=[tile_file, landcover_file, sat_model], example_labels=labels,
                                    label="Example tiles (synthetic); each sets the model it is drawn for")
                    legend = gr.HTML(landcover_edit.legend_html(classes, palette_for=PAINT_EDITOR),
                                     elem_id="satellite-legend")
                    with gr.Tabs():
                        with gr.Tab("Land-cover overlay"):
                            overlay = gr.Image(label="Land cover over the tile", format="png", interactive=False,
                                               elem_id="satellite-overlay")
                        with gr.Tab("Restrict to a region (optional)"):
                            region_editor = _editor(
                                "Paint the region to erase in (unpainted = whole tile)",
                                brush=region_brush(), eraser=gr.Eraser(default_size=30), sources=(), transforms=(),
                                layers=False, height=520, elem_id="satellite-region",
                            )
                        # the page script opens this tab by its id when a class of the legend is clicked
                        with gr.Tab("Paint land cover (optional)", id=PAINT_EDITOR + "-tab"):
                            paint_editor = _editor(
                                "Paint land cover in the class colours (click a class in the legend above); "
                                "painted pixels are inpainted as that class",
                                brush=landcover_brush(classes),
                                eraser=gr.Eraser(default_size=20), sources=(), transforms=(), layers=False, height=520,
                                elem_id=PAINT_EDITOR,
                            )
                    gr.Markdown(SHORTCUTS, elem_id="satellite-shortcuts")
                    sat_history = gr.State([])  # (tile, land cover) results kept to edit further
                    erase = CheckboxGroup(names, label="Classes to erase", elem_id="satellite-erase")
                    with gr.Row():
                        fill = Radio([(label, key) for key, label in landcover_edit.FILL_MODES.items()],
                                        value="surrounding", label="Fill with")
                        fill_class = Dropdown(names, value=names[0], label="Chosen class (for 'A chosen class')",
                                                 elem_id="satellite-fill-class")
                    with gr.Row():
                        sat_dilation = Slider(0, 20, value=landcover_edit.ERASE_DILATION, step=1,
                                              label="Mask dilation (pixels)")
                        sat_strategy = Radio(strategies, value="crop", label="Large-image strategy",
                                                info=STRATEGY_HELP)
                    sat_method = Radio(list(default.fills), value=next(iter(default.fills)),
                                          label="Fill method", info=SAT_FILL_HELP, elem_id="satellite-method")
                    sat_run = gr.Button("Inpaint", variant="primary", elem_id="satellite-run")
                with gr.Column():
                    sat_compare = gr.ImageSlider(label=SLIDER_LABEL, format="png", type="filepath",
                                                 interactive=False, elem_id="satellite-compare")
                    with gr.Row():
                        sat_keep = gr.Button("Keep editing the result", size="md", elem_id="satellite-keep")
                        sat_undo = gr.Button(f"Undo last fill (up to {editor_state.UNDO_FILLS})", size="md",
                                             elem_id="satellite-undo")
                    with gr.Row():
                        sat_mask = _image("Mask (white = filled)", elem_id="satellite-mask")
                        sat_landcover = _image("Edited land cover", elem_id="satellite-landcover")
                    sat_result = gr.File(label=RESULT_LABEL, interactive=False, elem_id="satellite-result")
                    sat_files = gr.File(label="Downloads (GeoTIFF when the tile was one)", file_count="multiple",
                                        interactive=False, elem_id="satellite-files")
            sat_outputs = [sat_result, sat_compare, sat_mask, sat_landcover, sat_files]
            canvases = [overlay, region_editor, paint_editor]
            # a new tile, land cover or model (an example sets all three): nothing of the last one stays
            gr.on([tile_file.change, landcover_file.change, sat_model.change], h.satellite_clear, None,
                  [*sat_outputs, sat_history], api_visibility="private", concurrency_limit=None)
            sat_loaded = gr.on([tile_file.change, landcover_file.change], h.satellite_open,
                               [tile_file, landcover_file, sat_model], canvases, api_visibility="private",
                               concurrency_limit=4)
            sat_loaded.failure(h.satellite_refused, [tile_file, landcover_file], [tile_file, landcover_file],
                               api_visibility="private")
            # another model: its classes in the pickers, then the land cover read again with its table
            sat_model.change(h.satellite_pickers, [sat_model], [legend, erase, fill_class, paint_editor, sat_method],
                             api_name="satellite_model", concurrency_limit=4).success(
                h.satellite_reopen, [tile_file, landcover_file, sat_model], canvases,
                api_visibility="private", concurrency_limit=4)
            sat_run.click(
                h.satellite_inpaint,
                [tile_file, landcover_file, erase, region_editor, fill, fill_class, paint_editor, sat_dilation,
                 sat_strategy, sat_method, sat_model, sat_history],
                sat_outputs, api_name="satellite_inpaint", concurrency_id=MODEL_QUEUE, concurrency_limit=1,
            )
            sat_keep.click(h.satellite_keep_editing, [sat_files, sat_history, sat_model], [*canvases, sat_history],
                           api_visibility="private", concurrency_limit=4, show_progress="hidden")
            sat_undo.click(h.satellite_undo, [tile_file, landcover_file, sat_model, sat_history],
                           [*canvases, sat_history, *sat_outputs], api_visibility="private", concurrency_limit=4,
                           show_progress="hidden")
        # the API's loading endpoints, with the plain editor values docs/app.md gives; the page's own
        # events (private, above) send each editor's brush, sized to the picture, in the same update
        # as the picture (a brush update of its own, arriving later, wiped a stroke begun before it)
        api_only = gr.Button(visible=False)
        api_only.click(h.picture_load, [picture], [editor, picture_info], api_name="picture_load", concurrency_limit=4)
        api_only.click(h.satellite_load, [tile_file, landcover_file, sat_model], canvases, api_name="satellite_load",
                       concurrency_limit=4)
        api_only.click(h.satellite_reload, [tile_file, landcover_file, sat_model], canvases,
                       api_name="satellite_reload", concurrency_limit=4)
        demo.load(h.model_info, None, info, api_name="model_info")
        demo.load(None, None, None, js=page_script())  # keys, brush width, palette (inpaint_core/editor_page.js)
    demo.queue(max_size=max_queue)
    return demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument("--checkpoints", default=str(HERE / "checkpoints"),
                        help="folder with album.safetensors and satellite*.safetensors")
    parser.add_argument("--max-queue", type=int, default=MAX_QUEUE,
                        help="requests that may wait at once; more get 'Queue is full' (docs/app.md: sizing it)")
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_queue < 1:
        parser.error(f"--max-queue must be at least 1, got {args.max_queue}")
    try:
        models = app_models.load_app_models(args.checkpoints, args.device)
    except ValueError as err:
        parser.error(str(err))
    for note in models.notes:
        print(note.replace("**", "").replace("`", ""))
    demo = build_demo(models, max_queue=args.max_queue)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_FILE_SIZE)


if __name__ == "__main__":
    main()
