"""The inference pipeline shared by every fill; it knows no model kind.

validate -> size strategy (crop around masked regions / resize / full) -> the fill of
each working-size region -> resize back -> paste only masked pixels into the input.

A fill plugs in by subclassing :class:`Inpainter` (a network by
:class:`~inpaint_core.models.network.NetworkInpainter`, which holds everything of torch's, so
this module and the classical fills import no torch):
``_fill`` and, if it takes extra per-pixel inputs such as land cover, ``extra_inputs`` and
``_aux_maps``. The edge rules every caller shares live here too: :func:`as_bool_mask` (what a
mask means) and :func:`on_white` (what transparency means). The classical fills' inpainters and
the one table of fills are :mod:`inpaint_core.registry`; each network's inpainter is in its
model file.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["STRATEGIES", "MAX_SIDE", "MAX_PIXELS", "InferenceOptions", "Inpainter", "to_rgb_array", "check_8bit",
           "region_boxes", "as_bool_mask", "on_white"]

STRATEGIES = ("crop", "resize", "full")
# The one size limit, of the API, the app and the CLI alike: larger pictures do not fit a browser
# canvas comfortably and a "resize"/"full" run would take minutes; 25 Mpx admits a 6000x4000 photo.
MAX_SIDE = 8192
MAX_PIXELS = 25_000_000


def as_bool_mask(mask, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Return ``mask`` as an ``HxW`` bool array: the one mask rule of the API, the app and the CLI.

    * an RGBA brush layer (some pixel not fully opaque): every painted pixel, alpha > 0, so
      the faint anti-aliased rim of a stroke goes too (what the user sees painted is filled);
      an RGBA picture without transparency is read like RGB;
    * other 8-bit masks are cut at 127: grey by its level, RGB by its brightest channel
      (white-on-black masks);
    * bool as it is; other integers: nonzero; floats (torch-style [0, 1]): >= 0.5;
    * PIL images by the same rules (their alpha kept).

    Raises ``ValueError`` for anything else, or when ``shape`` is given and does not match.
    """
    try:
        from PIL import Image

        if isinstance(mask, Image.Image):
            has_alpha = mask.mode in ("RGBA", "LA", "PA") or "transparency" in mask.info
            mask = np.asarray(mask.convert("RGBA" if has_alpha else "L"))
    except ImportError:  # pragma: no cover - pillow is a hard dependency
        pass
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"mask must be a numpy array or PIL image, got {type(mask).__name__}")
    if mask.ndim == 3:
        if mask.shape[2] == 4 and (mask[..., 3] < 255).any():  # a brush layer: alpha says where paint is
            out = mask[..., 3] > 0
            if shape is not None and out.shape != tuple(shape):
                raise ValueError(f"mask size {out.shape[1]}x{out.shape[0]} does not match image size "
                                 f"{shape[1]}x{shape[0]}")
            return out
        else:  # RGB, or RGBA without transparency (a picture, not paint): the brightest channel
            mask = mask[..., :3].max(axis=2)
    if mask.ndim != 2:
        raise ValueError(f"mask must be HxW (or HxWxC), got shape {mask.shape}")
    if mask.dtype == bool:
        out = mask
    elif mask.dtype == np.uint8:
        out = mask > 127
    elif np.issubdtype(mask.dtype, np.floating):
        # float masks in [0, 1] are common from torch code; treat >= 0.5 as hole
        out = mask >= 0.5
    elif np.issubdtype(mask.dtype, np.integer):
        out = mask != 0
    else:
        raise ValueError(f"unsupported mask dtype {mask.dtype}")
    if shape is not None and out.shape != tuple(shape):
        raise ValueError(
            f"mask size {out.shape[1]}x{out.shape[0]} does not match image size {shape[1]}x{shape[0]}"
        )
    return out


@dataclass
class InferenceOptions:
    strategy: str = "crop"  # "crop": work on a box around each masked region; "resize": whole image scaled to fit; "full": whole image at native size
    working_size: int = 512  # longest side the network sees; larger crops/images are scaled down to it
    margin: int = 64  # context in px kept around each masked region ("crop")
    min_context: int = 256  # a crop is grown to at least this side (when the image is that large)
    # a region filled below its own resolution gets the picture's texture back at full resolution:
    # PatchMatch guided by the scaled-up fill (a few seconds for a large region of a 12-Mpx photo)
    native_detail: bool = False

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; valid: {', '.join(STRATEGIES)}")
        if self.working_size < 16 or self.margin < 0:
            raise ValueError("working_size must be >= 16 and margin >= 0")


def check_8bit(image, what: str = "image") -> None:
    """``ValueError`` when the PIL ``image`` has samples wider than 8 bits (16-bit grey, 32-bit
    integers or floats): PIL's conversion to RGB clips every value above 255, so a 16-bit
    ramp would come back with almost every pixel white. 48-bit RGB PNGs are not caught here:
    PIL opens them as 8-bit RGB (the high byte of each sample), which loses depth, not range."""
    mode = getattr(image, "mode", "")
    if not mode.startswith(("I", "F")):
        return
    depth = "16-bit samples" if mode.startswith("I;16") else "32-bit float samples" if mode == "F" else \
        "32-bit integer samples"
    raise ValueError(f"the {what} has {depth} (mode {mode}); the fills work on 8-bit pictures, and reading it as one "
                     "would clip every value above 255. Save it as an 8-bit picture, or as a GeoTIFF, which "
                     "`python -m inpaint_core run` fills at its own depth (--rgb-bands 1,1,1 for a grey one)")


def on_white(array: np.ndarray) -> np.ndarray:
    """A grey ``HxW``, RGB ``HxWx3`` or RGBA ``HxWx4`` uint8 array as ``HxWx3 uint8`` RGB, the one
    RGBA rule: transparent pixels are composited onto white (what an editor or a browser shows),
    because the colour stored under full transparency is arbitrary. ``ValueError`` for any other
    shape or dtype."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"a picture must be uint8, got dtype {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"a picture has shape HxW, HxWx3 or HxWx4, got {array.shape}")
    if array.shape[2] == 3:
        return np.ascontiguousarray(array)
    alpha = array[..., 3]
    see_through = alpha < 255
    rgb = array[..., :3].copy()
    if see_through.any():  # blend only those pixels: a 12 Mpx photo is usually fully opaque
        a = alpha[see_through, None].astype(np.float32) / 255.0
        rgb[see_through] = np.round(rgb[see_through] * a + 255.0 * (1.0 - a)).astype(np.uint8)
    return rgb


def to_rgb_array(image) -> np.ndarray:
    """Return ``image`` as ``HxWx3 uint8`` RGB; accepts PIL images and uint8 HxW / HxWx3 / HxWx4
    arrays, transparency composited onto white by :func:`on_white` (as the app and ``inpaint run``
    read picture files).

    A PIL image of more than 8 bits per sample raises ``ValueError`` (:func:`check_8bit`)."""
    try:
        from PIL import Image

        if isinstance(image, Image.Image):
            check_8bit(image)
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            return on_white(np.array(image.convert("RGBA" if has_alpha else "RGB")))  # a writable copy
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array or PIL image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0-255), got dtype {image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"image must be HxWx3 RGB (or HxWx4 RGBA), got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty (shape {image.shape})")
    return on_white(image)


def region_boxes(mask: np.ndarray, margin: int, min_side: int) -> list[tuple[int, int, int, int]]:
    """Boxes ``(y0, y1, x0, x1)`` covering the mask: regions closer than ``2*margin`` share a box.

    Each box is the region's bounding box grown by ``margin`` and to at least
    ``min_side`` (clamped to the image). Overlapping boxes are merged until none overlap.
    """
    h, w = mask.shape
    grown = mask.astype(np.uint8)
    if margin > 0:
        grown = cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes = []
    for x, y, bw, bh, _ in stats[1:n]:
        boxes.append(_grow_box(y, y + bh, x, x + bw, min_side, h, w))
    merged = True
    while merged:  # merge overlaps so no pixel is filled twice from different contexts
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]:
                    boxes[i] = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def _grow_box(y0, y1, x0, x1, min_side, h, w):
    def grow(lo, hi, size):
        need = min(min_side, size) - (hi - lo)
        if need > 0:
            lo -= need // 2
            hi += need - need // 2
            if lo < 0:
                hi, lo = hi - lo, 0
            if hi > size:
                lo, hi = max(0, lo - (hi - size)), size
        return max(0, lo), min(size, hi)

    y0, y1 = grow(y0, y1, h)
    x0, x1 = grow(x0, x1, w)
    return int(y0), int(y1), int(x0), int(x1)


class Inpainter:
    """Base class: the pipeline. Subclasses set ``kind`` and implement ``_forward``."""

    kind = "base"
    multiple = 1  # network input sides must be divisible by this
    # options.native_detail's full-resolution texture pass, (image, mask, upscaled fill) -> fill;
    # the engine knows no fill: the registry gives its inpainters one
    detail_pass = None
    extra_inputs: tuple[str, ...] = ()  # per-pixel inputs inpaint() takes besides image and mask (e.g. "landcover")

    def __init__(self, device="cpu", options: InferenceOptions | None = None, meta: dict | None = None):
        self.device = device  # where it runs: "cpu" for the classical fills; a network's torch.device
        self.options = options or InferenceOptions()
        self.meta = meta or {}

    # --- hooks for subclasses -------------------------------------------------------
    def _aux_maps(self, shape: tuple[int, int], **extra) -> dict[str, np.ndarray]:
        """Validate extra per-pixel inputs (e.g. land cover) and return them as HxW int maps."""
        if extra:
            raise ValueError(f"{self.kind} model takes no extra inputs, got {', '.join(extra)}")
        return {}

    def _fill(self, image: np.ndarray, mask: np.ndarray, aux: dict[str, np.ndarray]) -> np.ndarray:
        """Fill one working-size array; returns ``HxWx3 uint8`` of the same size."""
        raise NotImplementedError

    def _region_fill(self, image: np.ndarray, mask: np.ndarray, aux: dict[str, np.ndarray]):
        """The fill of this call's regions, made once from the whole picture before it is cut into
        them: ``fill(image, mask, aux, scale)`` for one region brought to ``scale`` of its size.
        By default :meth:`_fill`; a fill that borrows from anywhere in the picture (texture of a
        class the region lacks) gathers it here, so a crop never hides it."""
        return lambda region, region_mask, region_aux, scale: self._fill(region, region_mask, region_aux)

    def region_threads(self) -> int:
        """How many regions of one call may be filled at once, on threads: more than one only for a
        fill whose time is native code that lets Python's lock go (PatchMatch). Default: one."""
        return 1

    # --- the pipeline -----------------------------------------------------------------
    def inpaint(self, image, mask, strategy: str | None = None, **extra) -> np.ndarray:
        """Fill the holes of ``image`` (``HxWx3 uint8`` or PIL) where ``mask`` (``HxW``) is nonzero.

        Returns ``HxWx3 uint8``; pixels outside the mask are identical to the input.
        ``strategy`` overrides ``options.strategy`` for this call. Raises ``ValueError``
        for bad input, and for a mask that covers the whole picture (nothing to fill from).
        """
        image = to_rgb_array(image)
        h, w = image.shape[:2]
        if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
            raise ValueError(f"image is {w}x{h} = {h * w / 1e6:.0f} Mpx; the limit is {MAX_SIDE} px per side and "
                             f"{MAX_PIXELS / 1e6:.0f} Mpx in all")
        mask = as_bool_mask(mask, (h, w))
        aux = self._aux_maps((h, w), **extra)
        strategy = strategy or self.options.strategy
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
        out = image.copy()
        if not mask.any():
            return out
        if mask.all():  # every fill would invent the picture from nothing (or return it unchanged)
            raise ValueError(f"the hole covers the whole {w}x{h} picture, so there is nothing to fill it from: "
                             "leave part of the picture outside the hole")
        opts = self.options
        if strategy == "crop":
            boxes = region_boxes(mask, opts.margin, opts.min_context)
        else:
            boxes = [(0, h, 0, w)]
        fill = self._region_fill(image, mask, aux)
        limit = opts.working_size if strategy != "full" else None

        def region_fill(box):
            y0, y1, x0, x1 = box
            sub_aux = {k: v[y0:y1, x0:x1] for k, v in aux.items()}
            return self._fill_scaled(image[y0:y1, x0:x1], mask[y0:y1, x0:x1], sub_aux, limit, fill)

        # each region's fill reads only the picture and the boxes do not overlap (region_boxes merges
        # them), so filled at once or in turn, each box gets the same pixels
        threads = min(len(boxes), self.region_threads())
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                fills = list(pool.map(region_fill, boxes))
        else:
            fills = map(region_fill, boxes)  # one region's arrays at a time
        for (y0, y1, x0, x1), filled in zip(boxes, fills):
            sub_mask = mask[y0:y1, x0:x1]
            region = out[y0:y1, x0:x1]
            region[sub_mask] = filled[sub_mask]
        return out

    def _fill_scaled(self, image, mask, aux, limit, fill=None):
        fill = fill or (lambda region, region_mask, region_aux, scale: self._fill(region, region_mask, region_aux))
        h, w = mask.shape
        scale = 1.0 if limit is None else min(1.0, limit / max(h, w))
        if scale >= 1.0:
            return fill(image, mask, aux, 1.0)
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        # a hole pixel stays a hole at low resolution if any of its area was a hole
        small_mask = cv2.resize(mask.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0
        small_aux = {k: cv2.resize(v.astype(np.int32), (sw, sh), interpolation=cv2.INTER_NEAREST) for k, v in aux.items()}
        filled = fill(small, small_mask, small_aux, sh / h)
        up = cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC)
        if self.options.native_detail and not aux:  # land-cover fills choose their sources by class: not here
            if self.detail_pass is None:
                raise ValueError(f"{self.kind} has no full-resolution texture pass (native_detail)")
            return self.detail_pass(image, mask, up)
        return up

    def _pad(self, array: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        h, w = array.shape[:2]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            pad = [(0, ph), (0, pw)] + [(0, 0)] * (array.ndim - 2)
            array = np.pad(array, pad, mode="symmetric")
        return array, (h, w)

    def __repr__(self):
        return f"{type(self).__name__}(kind={self.kind!r}, device={self.device})"
