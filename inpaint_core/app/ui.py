"""The Gradio app's page: paint a hole into any picture and inpaint it; erase land cover from satellite tiles.

    inpaint-studio [--host 127.0.0.1] [--port 7860] [--share] [--device auto] [--checkpoints checkpoints]
                   [--max-queue 32]

(``python app.py`` with the same options in a checkout.) UI only: the page's layout, its
components and how their events are wired to :class:`~inpaint_core.app.handlers.Handlers`,
which turn widget values into calls of the app's logic in :mod:`inpaint_core.app`. Every event
has an ``api_name`` so ``gradio_client`` can call it (see ``docs/app.md``). Models are loaded
once at start; a missing checkpoint is replaced by a classical fill (PatchMatch, land-cover
PatchMatch, Telea) and the page says so. The checkpoint folder defaults to the checkout's
``checkpoints/`` when the package runs from a checkout, else to ``checkpoints`` in the working
directory (:func:`~inpaint_core.app.models.default_checkpoints`); the "Models and device" box
and the startup lines say which folder was read. The examples are the checkout's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gradio as gr
import numpy as np

from inpaint_core.app import editing, editor_state, landcover_edit
from inpaint_core.app.handlers import (
    PAINT_EDITOR,
    Handlers,
    inpaint_brush,
    landcover_brush,
    region_brush,
)
from inpaint_core.app.models import AppModels, default_checkpoints, load_app_models
from inpaint_core.app.picture import example_pictures
from inpaint_core.app.tile import example_tiles
from inpaint_core.data.masks import MASK_DILATION
from inpaint_core.data.pictures import animation_note, open_picture
from inpaint_core.engine import STRATEGIES

__all__ = ["build_demo", "build_parser", "demo_from_command_line", "launch", "main", "page_script", "MAX_FILE_SIZE",
           "MAX_QUEUE", "MODEL_QUEUE", "EXAMPLES"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"  # a checkout's example pictures and tiles
# every event that runs a model shares this queue, so one model call runs at a time
# (the CPU's cores or the GPU are used by that call; parallel calls would only thrash)
MODEL_QUEUE = "model"
MAX_FILE_SIZE = "100mb"  # uploads beyond this are refused by the server before any handler runs
# requests that may wait in the queue; one more gets "Queue is full" (docs/app.md: sizing it)
MAX_QUEUE = 32

SLIDER_LABEL = f"Before / after (scaled to {editing.PREVIEW_SIDE} px for larger pictures)"
RESULT_LABEL = "Result: full-size PNG"
FILL_HELP = (
    "The shipped album model corrects PatchMatch's fill and is nearer the originals than PatchMatch on most "
    "held-out pictures, at PatchMatch's time; PatchMatch copies real texture from the picture (about a second "
    "per painted region); Telea is instant and smooth"
)
SAT_MODEL_HELP = (
    "each land-cover model paints its own classes (Dubai: urban; DeepGlobe: rural fields, forest, water); "
    "the class picker, the colours and the land-cover file's reading follow it"
)
SAT_FILL_HELP = (
    "Land-cover PatchMatch copies texture of the class asked for at each pixel (from the tile, or from the "
    "model's exemplars of that class); the model follows land cover and is faster; Telea ignores land cover"
)
# the page's painting editors: their CSS class (the page script's keys act on these) and the suffix
# of the hidden number beside an editor that holds picture pixels per editor pixel; the land-cover
# editor is PAINT_EDITOR (inpaint_core.app.handlers)
EDITOR_CLASS = "studio-editor"
SCALE_SUFFIX = "-scale"
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


class CheckedImageEditor(gr.ImageEditor):
    """An ImageEditor that reads each uploaded file as the Picture box does
    (:func:`inpaint_core.data.pictures.open_picture`): a bad upload (not an image, damaged, too large,
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
            im = open_picture(path, "picture" if picture else "painted layer", eight_bit=picture)
        except ValueError as err:
            raise gr.Error(str(err)) from err
        if picture and (animated := animation_note(path)):
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
    """The page script (``inpaint_core/app/editor_page.js``: keys, brush width, palette, empty-editor
    texts) as a function for ``demo.load(js=...)``, with this page's settings."""
    source = Path(__file__).with_name("editor_page.js").read_text(encoding="utf-8")
    settings = {"editor": EDITOR_CLASS, "scale_suffix": SCALE_SUFFIX, "empty": EMPTY_EDITOR}
    return f"() => ({source})({json.dumps(settings)})"


def _image(label: str, **kwargs) -> gr.Image:
    # results are PNG files: gradio's default WebP is lossy
    return gr.Image(label=label, format="png", type="filepath", interactive=False, **kwargs)


def build_demo(models: AppModels, workdir: Path | None = None, max_queue: int = MAX_QUEUE,
               examples: Path = EXAMPLES) -> gr.Blocks:
    """The whole UI around ``models``; ``workdir`` holds each request's download files; at most
    ``max_queue`` requests wait in the queue; ``examples`` is the folder of example pictures and
    tiles (``examples/`` of the checkout)."""
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
                    photos = example_pictures(examples)
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
                        dilation = Slider(0, 50, value=MASK_DILATION, step=1, label="Mask dilation (pixels)",
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
                    rows, labels = example_tiles(models, examples)
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
        demo.load(None, None, None, js=page_script())  # keys, brush width, palette (editor_page.js)
    demo.queue(max_size=max_queue)
    return demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument("--checkpoints", default=str(default_checkpoints()),
                        help="folder of models (album.safetensors, satellite-dubai.safetensors, ...); by default "
                        "the checkout's checkpoints/ when run from a checkout, else ./checkpoints")
    parser.add_argument("--max-queue", type=int, default=MAX_QUEUE,
                        help="requests that may wait at once; more get 'Queue is full' (docs/app.md: sizing it)")
    return parser


def demo_from_command_line(argv=None) -> tuple[gr.Blocks, argparse.Namespace]:
    """The page for the command line ``argv`` (default: ``sys.argv``) and the parsed arguments:
    the models loaded from ``--checkpoints`` (what loaded is printed), the queue sized."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_queue < 1:
        parser.error(f"--max-queue must be at least 1, got {args.max_queue}")
    try:
        models = load_app_models(args.checkpoints, args.device)
    except ValueError as err:
        parser.error(str(err))
    print(f"Checkpoints folder: {Path(args.checkpoints).resolve()}")  # the server's own console: its full path
    for note in models.notes:
        print(note.replace("**", "").replace("`", ""))
    return build_demo(models, max_queue=args.max_queue), args


def launch(demo: gr.Blocks, args: argparse.Namespace) -> None:
    """Serve ``demo`` as the command line's ``args`` say (blocks until the server stops)."""
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_FILE_SIZE)


def main(argv=None) -> None:
    """The ``inpaint-studio`` command (and ``python app.py`` in a checkout)."""
    demo, args = demo_from_command_line(argv)
    launch(demo, args)
