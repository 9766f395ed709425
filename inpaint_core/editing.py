"""Everything the Gradio app does between its widgets and the inpainters.

``app.py`` only turns widget values into calls of these functions and shows what they
return, so every rule here is reachable from plain tests:

* reading a ``gr.ImageEditor`` value (background + RGBA brush layers) into an image and a mask;
* input validation with the app's documented size limit (:data:`MAX_SIDE`, :data:`MAX_PIXELS`);
* mask dilation;
* land-cover editing for the satellite tab: the class picker (optionally restricted to a
  painted region), the three "Fill with" rules, and land cover painted with a brush in the
  class colours;
* the land-cover overlay, legend and colour images;
* loading the app's fills once at start: PatchMatch and land-cover PatchMatch, the models
  when their checkpoints load, and OpenCV's Telea.

Conventions (as in :mod:`inpaint_core`): images are ``HxWx3 uint8`` RGB; masks are ``HxW``
bool with True = hole; land cover is an ``HxW int64`` map of indices into a class table.
Every function raises ``ValueError`` with a message meant for the app's user on bad input.
"""

from __future__ import annotations

import html
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from inpaint_core.engine import MAX_PIXELS, MAX_SIDE  # the one size limit (the engine's)
from inpaint_core.masks import as_bool_mask

__all__ = [
    "MAX_SIDE",
    "MAX_PIXELS",
    "FILL_MODES",
    "ALBUM_CHECKPOINT",
    "SATELLITE_CHECKPOINTS",
    "check_image",
    "check_upload",
    "to_rgb",
    "layers_mask",
    "editor_image_and_mask",
    "editor_layers",
    "dilate_mask",
    "class_indices",
    "class_mask",
    "fill_landcover",
    "paint_landcover",
    "SatelliteEdit",
    "plan_satellite_edit",
    "palette",
    "colorize",
    "overlay_landcover",
    "legend_html",
    "mask_image",
    "preview",
    "PREVIEW_SIDE",
    "AppModels",
    "load_app_models",
    "output_dir",
    "save_png",
]


# the before/after comparison shows at most this many pixels per side: it is viewed on a
# screen (at most ~500 px high in the app), and two full-size 12 Mpx PNGs would cost seconds per click
PREVIEW_SIDE = 1280

# "Fill with" rules of the satellite tab: key -> label shown in the app
FILL_MODES = {
    "surrounding": "Surrounding land cover",
    "keep": "Keep the class (re-texture)",
    "class": "A chosen class",
}

ALBUM_CHECKPOINT = "album.safetensors"
# the first of these found in the checkpoint folder is the app's satellite model
SATELLITE_CHECKPOINTS = ("satellite-dubai.safetensors", "satellite*.safetensors")

# a painted land-cover pixel must be at least this opaque to count, so the brush's
# anti-aliased rim (colour blended into transparency) is not read as a class
_PAINT_ALPHA = 128
# largest RGB distance from a class colour still read as that class (rounding at the rim)
_PAINT_TOLERANCE = 40.0


# --- images and masks ---------------------------------------------------------------------

def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Check an ``HxWx3 uint8`` image against the app's size limit and return it.

    Raises ``ValueError`` naming ``what`` when the array is not an RGB image or is larger
    than :data:`MAX_SIDE` per side or :data:`MAX_PIXELS` in all.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"the {what} is not an RGB image")
    h, w = image.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"the {what} is empty")
    if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
        raise ValueError(
            f"the {what} is {w}x{h} pixels; the limit is {MAX_SIDE} pixels per side and "
            f"{MAX_PIXELS / 1e6:.0f} megapixels in all: scale it down first"
        )
    return image


def check_upload(path, what: str = "picture") -> None:
    """Refuse an uploaded file before it is decoded, with a message a person can act on.

    Reads only the header: a file that is no image, one too large for the app's limit
    (a decompression bomb, 0.4 MB on disk and 400 Mpx decoded, is refused before it costs
    any memory) and one whose data is cut short each raise ``ValueError`` saying so.
    """
    from PIL import Image, UnidentifiedImageError

    name = Path(path).name
    if Path(path).suffix.lower() in (".tif", ".tiff"):
        _check_geotiff_header(path, name, what)
        return
    try:
        with Image.open(path) as im:
            w, h = im.size
            if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
                raise ValueError(
                    f"the {what} {name} is {w}x{h} pixels; the limit is {MAX_SIDE} pixels per side and "
                    f"{MAX_PIXELS / 1e6:.0f} megapixels in all: scale it down first"
                )
            im.load()  # decodes: a truncated or corrupt file fails here, within the size limit
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        if isinstance(err, Image.DecompressionBombError):
            raise ValueError(f"the {what} {name} is far larger than the limit of {MAX_PIXELS / 1e6:.0f} megapixels: "
                             "scale it down first") from err
        raise ValueError(f"the {what} {name} is not an image (PNG, JPEG, WebP, ...): upload a picture file") from err
    except (OSError, SyntaxError) as err:
        raise ValueError(f"the {what} {name} is damaged (its data is cut short or corrupt: {err}); "
                         "save it again and re-upload") from err


def _check_geotiff_header(path, name: str, what: str) -> None:
    try:
        import rasterio
    except ImportError:  # PIL reads plain TIFFs; the geo reader says what is missing when it matters
        return
    try:
        with rasterio.open(path) as ds:
            w, h = ds.width, ds.height
    except rasterio.errors.RasterioIOError as err:
        raise ValueError(f"the {what} {name} is not a readable TIFF/GeoTIFF ({err}): upload a raster file") from err
    if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
        raise ValueError(f"the {what} {name} is {w}x{h} pixels; the limit is {MAX_SIDE} pixels per side and "
                         f"{MAX_PIXELS / 1e6:.0f} megapixels in all: cut it into tiles first")


def to_rgb(array, what: str = "image") -> np.ndarray:
    """Convert a grey ``HxW``, RGB ``HxWx3`` or RGBA ``HxWx4`` uint8 array to checked RGB.

    Transparent pixels are composited onto white (what the editor shows), because the
    colour stored under full transparency is arbitrary. Returns ``HxWx3 uint8``.
    """
    if array is None:
        raise ValueError(f"no {what}: upload one first")
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        raise ValueError(f"the {what} could not be read as an image")
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        alpha = array[..., 3]
        see_through = alpha < 255
        rgb = array[..., :3].copy()
        if see_through.any():  # blend only those pixels: a 12 Mpx photo is usually fully opaque
            a = alpha[see_through, None].astype(np.float32) / 255.0
            rgb[see_through] = np.round(rgb[see_through] * a + 255.0 * (1.0 - a)).astype(np.uint8)
        array = rgb
    elif array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"the {what} has shape {array.shape}, which is not an image")
    return check_image(np.ascontiguousarray(array), what)


def layers_mask(layers, shape: tuple[int, int], what: str = "painted layer") -> np.ndarray:
    """Union of the painted pixels of editor layers: ``HxW`` bool.

    A layer is an ``HxWx4 uint8`` array whose alpha marks paint (the editor's brush layer).
    A layer without any transparent pixel cannot be a brush layer; it is read as a
    black-and-white mask instead (white = hole), which is what API users tend to send.
    Both by :func:`inpaint_core.masks.as_bool_mask`, the one mask rule (cut at 127), so a
    PNG gives the same hole in the app, the API and the batch CLI. Layers must have the
    image's size.
    """
    mask = np.zeros(shape, dtype=bool)
    for layer in layers or []:
        if layer is None:
            continue
        layer = np.asarray(layer)
        if layer.shape[:2] != tuple(shape):
            raise ValueError(
                f"the {what} is {layer.shape[1]}x{layer.shape[0]} pixels but the image is "
                f"{shape[1]}x{shape[0]}; they must match"
            )
        mask |= as_bool_mask(layer)
    return mask


def editor_layers(value) -> list:
    """The brush layers of a ``gr.ImageEditor`` value (a dict, or ``None`` for an empty editor)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        raise ValueError("the editor value must be a dict with 'background', 'layers' and 'composite'")
    return [layer for layer in (value.get("layers") or []) if layer is not None]


def editor_image_and_mask(value) -> tuple[np.ndarray, np.ndarray]:
    """Split a ``gr.ImageEditor(type="numpy", image_mode="RGBA")`` value into image and mask.

    ``value`` is ``{"background": HxWx4, "layers": [HxWx4, ...], "composite": HxWx4}``.
    Returns ``(image HxWx3 uint8, mask HxW bool)``; the mask is the union of the layers'
    painted pixels (see :func:`layers_mask`) and may be empty.
    """
    if value is None or (isinstance(value, dict) and value.get("background") is None):
        raise ValueError("no image: upload or paste a picture first")
    if not isinstance(value, dict):
        raise ValueError("the editor value must be a dict with 'background', 'layers' and 'composite'")
    image = to_rgb(value["background"], "image")
    mask = layers_mask(editor_layers(value), image.shape[:2], "painted mask")
    return image, mask


def dilate_mask(mask: np.ndarray, pixels: int | float) -> np.ndarray:
    """Grow an ``HxW`` bool mask by ``pixels`` (a disc of that radius); 0 returns a copy.

    Growing the hole past the painted edge removes the halo (shadow, anti-aliasing) that a
    brush stroke tends to leave around the object it covers.
    """
    if pixels is None:
        pixels = 0
    if pixels < 0 or pixels != int(pixels):
        raise ValueError(f"mask dilation must be a whole number of pixels >= 0, got {pixels}")
    pixels = int(pixels)
    mask = np.asarray(mask, dtype=bool)
    if pixels == 0 or not mask.any():
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def preview(image: np.ndarray, max_side: int = PREVIEW_SIDE) -> np.ndarray:
    """``image`` (``HxW`` or ``HxWx3 uint8``) scaled down to at most ``max_side`` per side (area
    averaging), or returned as is when it is smaller: for on-screen comparisons only."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def mask_image(mask: np.ndarray) -> np.ndarray:
    """An ``HxW`` bool mask as a white-on-black ``HxW uint8`` picture (white = hole)."""
    return np.asarray(mask, dtype=bool).astype(np.uint8) * 255


# --- land cover ------------------------------------------------------------------------------

def palette(classes) -> np.ndarray:
    """The class colours of a class table as a ``Kx3 uint8`` array (row i = class index i)."""
    return np.array([tuple(c.color) for c in classes], dtype=np.uint8).reshape(-1, 3)


def _check_landcover(landcover: np.ndarray, classes, shape: tuple[int, int] | None = None) -> np.ndarray:
    landcover = np.asarray(landcover)
    if landcover.ndim != 2 or not np.issubdtype(landcover.dtype, np.integer):
        raise ValueError(f"the land cover must be an HxW map of class indices, got {landcover.dtype} {landcover.shape}")
    if shape is not None and landcover.shape != tuple(shape):
        raise ValueError(
            f"the land cover is {landcover.shape[1]}x{landcover.shape[0]} pixels but the tile is "
            f"{shape[1]}x{shape[0]}; they must match"
        )
    if landcover.size and (landcover.min() < 0 or landcover.max() >= len(classes)):
        raise ValueError(f"the land cover holds class indices outside 0..{len(classes) - 1}")
    return landcover.astype(np.int64, copy=False)


def colorize(landcover: np.ndarray, classes) -> np.ndarray:
    """Land cover ``HxW`` int -> ``HxWx3 uint8`` picture in the class colours."""
    return palette(classes)[_check_landcover(landcover, classes)]


def overlay_landcover(image: np.ndarray, landcover: np.ndarray, classes, opacity: float = 0.45) -> np.ndarray:
    """Blend the class colours over ``image`` (``HxWx3 uint8``) with ``opacity`` in [0, 1].

    Class borders are drawn fully opaque so neighbouring classes of similar colour stay apart.
    """
    image = check_image(image, "tile")
    landcover = _check_landcover(landcover, classes, image.shape[:2])
    colours = palette(classes)[landcover].astype(np.float32)
    out = image.astype(np.float32) * (1.0 - opacity) + colours * opacity
    edges = np.zeros(landcover.shape, dtype=bool)
    edges[:-1] |= landcover[:-1] != landcover[1:]
    edges[:, :-1] |= landcover[:, :-1] != landcover[:, 1:]
    out[edges] = colours[edges]
    return np.round(out).astype(np.uint8)


def legend_html(classes) -> str:
    """An HTML legend: one colour swatch and name per class, in table order."""
    items = []
    for c in classes:
        r, g, b = (int(v) for v in c.color)
        items.append(
            '<span style="display:inline-flex;align-items:center;margin:2px 12px 2px 0">'
            f'<span style="width:14px;height:14px;border:1px solid #555;margin-right:5px;'
            f'background:#{r:02x}{g:02x}{b:02x}"></span>{html.escape(c.name)}</span>'
        )
    return '<div class="landcover-legend">' + "".join(items) + "</div>"


def class_indices(names, classes) -> list[int]:
    """Class names (as the class picker returns them) -> indices into ``classes``."""
    by_name = {c.name: i for i, c in enumerate(classes)}
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names or [] if n not in by_name]
    if unknown:
        raise ValueError(f"unknown class {', '.join(map(repr, unknown))}; the classes are: {', '.join(by_name)}")
    return [by_name[n] for n in names or []]


def class_mask(landcover: np.ndarray, indices, region: np.ndarray | None = None) -> np.ndarray:
    """Pixels of the given classes (``HxW`` bool), restricted to ``region`` when one is given."""
    mask = np.isin(np.asarray(landcover), np.asarray(list(indices), dtype=np.int64))
    if region is not None:
        mask &= np.asarray(region, dtype=bool)
    return mask


def fill_landcover(landcover: np.ndarray, mask: np.ndarray, mode: str, fill_class: int | None = None) -> np.ndarray:
    """The land cover the erased pixels (``mask``, ``HxW`` bool) should get.

    * ``"surrounding"``: each erased pixel takes the class of the nearest non-erased pixel
      (Euclidean distance), so an erased building becomes the land around it;
    * ``"keep"``: classes are unchanged (the model re-textures the area);
    * ``"class"``: every erased pixel becomes ``fill_class`` (an index).

    Returns a new ``HxW int64`` map; pixels outside the mask are unchanged.
    """
    landcover = np.asarray(landcover).astype(np.int64)
    mask = np.asarray(mask, dtype=bool)
    if mode not in FILL_MODES:
        raise ValueError(f"unknown fill rule {mode!r}; valid: {', '.join(FILL_MODES)}")
    out = landcover.copy()
    if not mask.any() or mode == "keep":
        return out
    if mode == "class":
        if fill_class is None:
            raise ValueError("choose the class to fill with")
        out[mask] = fill_class
        return out
    if mask.all():
        raise ValueError("everything is erased, so there is no surrounding land cover; choose a class to fill with")
    # for every nonzero (erased) pixel, the coordinates of the nearest zero (kept) pixel
    _, (iy, ix) = ndimage.distance_transform_edt(mask, return_indices=True)
    out[mask] = landcover[iy[mask], ix[mask]]
    return out


def paint_landcover(landcover: np.ndarray, layers, classes) -> tuple[np.ndarray, np.ndarray]:
    """Apply land cover painted in the class colours (editor layers ``HxWx4 uint8``).

    Each painted pixel (alpha >= 128) takes the class whose colour is nearest to the paint;
    later layers paint over earlier ones. A colour that is not near any class colour raises
    ``ValueError`` (listing it), rather than being guessed. Returns ``(new land cover HxW
    int64, painted HxW bool)``.
    """
    landcover = np.asarray(landcover).astype(np.int64)
    colours = palette(classes).astype(np.float32)
    out = landcover.copy()
    painted = np.zeros(landcover.shape, dtype=bool)
    for layer in layers or []:
        layer = np.asarray(layer)
        if layer.ndim != 3 or layer.shape[2] != 4:
            raise ValueError("painted land cover must be an RGBA layer (its alpha marks the paint)")
        if layer.shape[:2] != landcover.shape:
            raise ValueError(
                f"the land-cover painting is {layer.shape[1]}x{layer.shape[0]} pixels but the tile is "
                f"{landcover.shape[1]}x{landcover.shape[0]}; they must match"
            )
        here = layer[..., 3] >= _PAINT_ALPHA
        if not here.any():
            continue
        rgb = layer[here][:, :3].astype(np.float32)
        dist = np.linalg.norm(rgb[:, None, :] - colours[None, :, :], axis=2)
        nearest = dist.argmin(axis=1)
        far = dist[np.arange(len(rgb)), nearest] > _PAINT_TOLERANCE
        if far.any():
            bad, counts = np.unique(rgb[far].astype(np.uint8), axis=0, return_counts=True)
            listed = ", ".join(f"#{r:02x}{g:02x}{b:02x} ({n} px)" for (r, g, b), n in zip(bad[:5], counts[:5]))
            raise ValueError(f"painted colours that are no class colour: {listed}; paint with the class colours")
        out[here] = nearest
        painted |= here
    return out, painted


@dataclass
class SatelliteEdit:
    """What the satellite tab asks of the model."""

    mask: np.ndarray  # HxW bool: pixels to inpaint (erased classes + painted land cover, dilated)
    landcover: np.ndarray  # HxW int64: the edited land cover the fill must follow


def plan_satellite_edit(
    landcover: np.ndarray,
    classes,
    erase=(),
    region: np.ndarray | None = None,
    fill: str = "surrounding",
    fill_class: str | None = None,
    paint_layers=(),
    dilation: int = 0,
) -> SatelliteEdit:
    """Turn the satellite tab's choices into a mask and an edited land cover.

    ``landcover``: ``HxW`` int map of indices into ``classes``; ``erase``: class names to
    erase; ``region``: optional ``HxW`` bool restricting the erasing; ``fill``: a key of
    :data:`FILL_MODES`; ``fill_class``: a class name (for ``fill="class"``);
    ``paint_layers``: RGBA layers with land cover painted in the class colours (those pixels
    are inpainted too, with the painted class); ``dilation``: pixels to grow the mask by
    (the land cover under the grown rim stays as it was).
    """
    landcover = _check_landcover(landcover, classes)
    erase_idx = class_indices(erase, classes)
    fill_idx = class_indices([fill_class], classes)[0] if fill == "class" and fill_class else None
    painted_lc, painted = paint_landcover(landcover, paint_layers, classes)
    if not erase_idx and not painted.any():
        raise ValueError("nothing selected: pick one or more classes to erase, or paint land cover")
    if region is not None and not np.asarray(region).any():
        region = None  # an untouched region editor means "everywhere"
    erased = class_mask(landcover, erase_idx, region)
    if erase_idx and not erased.any() and not painted.any():
        where = " inside the painted region" if region is not None else " in this tile"
        raise ValueError(f"the selected classes ({', '.join(erase)}) do not occur{where}")
    edited = fill_landcover(landcover, erased, fill, fill_idx)
    edited[painted] = painted_lc[painted]
    return SatelliteEdit(mask=dilate_mask(erased | painted, dilation), landcover=edited)


# --- models and files --------------------------------------------------------------------

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
    satellite_fills: dict  # Satellite tab: land-cover PatchMatch, the satellite model (when it loaded), Telea
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

    Each tab offers its strongest classical fill first (PatchMatch; land-cover PatchMatch
    with the satellite checkpoint's exemplar bank), then its model, then OpenCV's Telea. A
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
    album_fills = {PATCHMATCH: ClassicalInpainter("patchmatch")}
    if album is not None:
        album_fills[ALBUM_MODEL] = album
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
    satellite_fills = {LANDCOVER_PATCHMATCH: LandcoverFillInpainter(classes, "landcover-patchmatch", bank=bank)}
    if satellite is not None:
        satellite_fills[SATELLITE_MODEL] = satellite
    satellite_fills[TELEA] = ClassicalInpainter("telea")
    notes.append(f"Device: **{resolved}** (PatchMatch and Telea run on the CPU)")
    return AppModels(album_fills=album_fills, satellite_fills=satellite_fills, classes=classes, notes=notes)


def output_dir(root, max_age_s: float = 3600.0) -> Path:
    """A new folder under ``root`` for one request's downloads; folders older than ``max_age_s`` go.

    Gradio copies returned files into its own cache, so ours only need to outlive the request.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        if old.is_dir() and now - old.stat().st_mtime > max_age_s:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=root))


def save_png(path, array: np.ndarray) -> str:
    """Write an ``HxWx3`` RGB or ``HxW`` grey ``uint8`` array as PNG; returns the path as ``str``.

    Lossless, and written with light compression (zlib level 1): at 12 Mpx that is several
    times faster than PIL's default level, for files about a fifth larger.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"save_png needs an HxW or HxWx3 uint8 array, got {array.dtype} {array.shape}")
    bgr = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise ValueError(f"could not write {path}")
    return str(path)
