"""The app's pictures and masks, between its widgets and the inpainters.

``app.py`` only turns widget values into calls of these functions and shows what they
return, so every rule here is reachable from plain tests:

* reading a ``gr.ImageEditor`` value (background + RGBA brush layers) into an image and a mask;
* checking images against the one size limit (:data:`MAX_SIDE`, :data:`MAX_PIXELS`; an upload's
  file is checked, and read, by :mod:`inpaint_core.data.pictures`);
* big pictures: the editor gets a screen-size copy to paint on, the full-size original
  stays on the server, and the painted mask is scaled back up to it (:func:`editing_copy`,
  :func:`picture_and_mask`), so a click never sends 12 Mpx back and forth;
* previews and the download files (a painted hole grows by
  :func:`inpaint_core.data.masks.dilate_mask`).

The satellite tab's land-cover editing lives in :mod:`inpaint_core.app.landcover_edit`, the
app's fills and their loading in :mod:`inpaint_core.app.models`.

Conventions (as in :mod:`inpaint_core`): images are ``HxWx3 uint8`` RGB; masks are ``HxW``
bool with True = hole; land cover is an ``HxW int64`` map of indices into a class table.
Every function raises ``ValueError`` with a message meant for the app's user on bad input.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from inpaint_core.data.pictures import check_size, write_png  # the one size limit, the one PNG writer
from inpaint_core.engine import MAX_PIXELS, MAX_SIDE, as_bool_mask, on_white

__all__ = [
    "MAX_SIDE",
    "MAX_PIXELS",
    "check_image",
    "to_rgb",
    "layers_mask",
    "editor_image_and_mask",
    "editor_layers",
    "mask_image",
    "preview",
    "PREVIEW_SIDE",
    "EDIT_SIDE",
    "editing_copy",
    "picture_and_mask",
    "output_dir",
    "save_png",
]


# the before/after comparison shows at most this many pixels per side: it is viewed on a
# screen (at most ~500 px high in the app), and two full-size 12 Mpx PNGs would cost seconds per click
PREVIEW_SIDE = 1280
# the editor paints on a copy of at most this many pixels per side. The editor is shown ~700 px
# wide, so a finer brush cannot be placed by hand; what the click sends (background, brush
# layer, composite, each a PNG encoded in the browser) then costs the same for any photo
EDIT_SIDE = 1280


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
    check_size(w, h, f"the {what}")
    return image


def to_rgb(array, what: str = "image") -> np.ndarray:
    """Convert a grey ``HxW``, RGB ``HxWx3`` or RGBA ``HxWx4`` uint8 array to checked RGB.

    Transparent pixels are composited onto white (what the editor shows), because the
    colour stored under full transparency is arbitrary. Returns ``HxWx3 uint8``.
    """
    if array is None:
        raise ValueError(f"no {what}: upload one first")
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        raise ValueError(f"the {what} could not be read as an image")
    try:
        array = on_white(array)
    except ValueError:
        raise ValueError(f"the {what} has shape {array.shape}, which is not an image") from None
    return check_image(np.ascontiguousarray(array), what)


def layers_mask(layers, shape: tuple[int, int], what: str = "painted layer") -> np.ndarray:
    """Union of the painted pixels of editor layers: ``HxW`` bool.

    A layer is an ``HxWx4 uint8`` array whose alpha marks paint (the editor's brush layer).
    A layer without any transparent pixel cannot be a brush layer; it is read as a
    black-and-white mask instead (white = hole), which is what API users tend to send.
    Both by :func:`inpaint_core.data.masks.as_bool_mask`, the one mask rule (cut at 127), so a
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


def editing_copy(image: np.ndarray) -> dict:
    """The editor's value for painting on ``image``: the picture itself, or, when it is larger
    than :data:`EDIT_SIDE` per side, a copy scaled down to it (area averaging), with one empty
    brush layer. The full-size picture stays on the server; see :func:`picture_and_mask`."""
    small = preview(image, EDIT_SIDE)
    background = np.dstack([small, np.full(small.shape[:2], 255, np.uint8)])
    return {"background": background, "layers": [np.zeros_like(background)], "composite": background}


def picture_and_mask(picture: np.ndarray | None, value) -> tuple[np.ndarray, np.ndarray]:
    """The picture to fill and its painted mask, at the picture's full size.

    ``picture``: the uploaded picture (full size), or None when the editor value brings its
    own (an API call with ``background``). The mask is the union of the editor's painted
    layers; layers painted on the editor's screen-size copy (:func:`editing_copy`) are scaled
    up to the picture (bilinear, cut at half: the painted shape without blocky steps), and
    layers of the picture's own size (an API mask) are taken as they are.
    """
    if picture is None:
        return editor_image_and_mask(value)
    layers = editor_layers(value)
    h, w = picture.shape[:2]
    copy = scaled_shape(h, w, EDIT_SIDE)
    mask = np.zeros((h, w), bool)
    for layer in layers:
        layer = np.asarray(layer)
        if layer.shape[:2] == (h, w):
            mask |= layers_mask([layer], (h, w), "painted mask")
        elif layer.shape[:2] == copy:
            small = layers_mask([layer], copy, "painted mask")
            mask |= cv2.resize(small.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_LINEAR) >= 128
        else:
            raise ValueError(f"the painted mask is {layer.shape[1]}x{layer.shape[0]} pixels but the picture is "
                             f"{w}x{h} (shown for painting at {copy[1]}x{copy[0]}); it must be one of those")
    return picture, mask


def scaled_shape(h: int, w: int, max_side: int) -> tuple[int, int]:
    """``(h, w)`` scaled down to at most ``max_side`` per side (kept when already smaller)."""
    scale = max_side / max(h, w)
    if scale >= 1:
        return h, w
    return max(1, round(h * scale)), max(1, round(w * scale))


def preview(image: np.ndarray, max_side: int = PREVIEW_SIDE) -> np.ndarray:
    """``image`` (``HxW`` or ``HxWx3 uint8``) scaled down to at most ``max_side`` per side (area
    averaging), or returned as is when it is smaller: for on-screen comparisons only."""
    h, w = image.shape[:2]
    sh, sw = scaled_shape(h, w, max_side)
    if (sh, sw) == (h, w):
        return image
    return cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)


def mask_image(mask: np.ndarray) -> np.ndarray:
    """An ``HxW`` bool mask as a white-on-black ``HxW uint8`` picture (white = hole)."""
    return np.asarray(mask, dtype=bool).astype(np.uint8) * 255


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
    """Write an ``HxWx3`` RGB or ``HxW`` grey ``uint8`` array as PNG by the one PNG writer
    (:func:`inpaint_core.data.pictures.write_png`); returns the path as ``str``, as Gradio takes it."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"save_png needs an HxW or HxWx3 uint8 array, got {array.dtype} {array.shape}")
    return str(write_png(path, array))
