"""Holes: the one generator of every hole kind, for both trainers and ``evaluate``, and mask files.

Every generator takes a ``numpy.random.Generator`` so that a seed reproduces the same
masks, and returns an ``HxW`` boolean array (``True`` = hole).

* :func:`research_holes` - the album research's holes: a few black square patches at
  random positions, overlap allowed (so holes can be non-square).
* :func:`free_form` - brush strokes and boxes of varied width, close to LaMa's "medium"
  masks, because app users paint strokes rather than squares (the kind ``free-form``).
* :func:`strokes`, :func:`large_holes`, :func:`very_large_holes` - the judge's hole kinds
  (``../shared/JUDGE.md``): 2-5 strokes 8-28 px wide; thick strokes and a box covering
  8-45 %; free-form holes covering 40-70 % (LaMa's "thick", MI-GAN's and CoModGAN's masks).
  Sizes are in px of a 256-px picture and scale with it.
* :func:`class_patch_holes` - the satellite research's holes: in each of a few patches,
  remove the pixels of the patch's most common land-cover class, so holes follow class
  boundaries.
* :func:`make_mask` - one hole of a named kind (:data:`MASK_KINDS`): the one place a kind's
  name becomes its shape, on pictures and on tiles alike.
* :class:`MaskSpec` - a weighted mix of kinds, drawn per item by the trainers; the default
  mixes are :data:`ALBUM_MASKS` and :data:`SATELLITE_MASKS`.
* :func:`evaluation_mask` - the seeded hole of the ``i``-th evaluated window (``evaluate`` and
  its what-if).
* :func:`read_mask` - a hole drawn by a person: a mask file, by the one mask rule.
* :func:`dilate_mask` - a painted hole grown past its rim, by :data:`MASK_DILATION` pixels in
  the app's Inpaint tab and ``inpaint run`` unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from inpaint_core.engine import as_bool_mask

__all__ = [
    "research_holes",
    "free_form",
    "strokes",
    "large_holes",
    "very_large_holes",
    "class_patch_holes",
    "MaskSpec",
    "MASK_KINDS",
    "PICTURE_KINDS",
    "ALBUM_MASKS",
    "SATELLITE_MASKS",
    "make_mask",
    "evaluation_mask",
    "read_mask",
    "MASK_DILATION",
    "dilate_mask",
]


def research_holes(h: int, w: int, rng: np.random.Generator, count: int = 4, size: int = 32) -> np.ndarray:
    """``count`` square patches of ``size`` px at uniform random positions (overlap allowed)."""
    mask = np.zeros((h, w), dtype=bool)
    size_h, size_w = min(size, h), min(size, w)
    for _ in range(count):
        y = int(rng.integers(0, h - size_h + 1))
        x = int(rng.integers(0, w - size_w + 1))
        mask[y : y + size_h, x : x + size_w] = True
    return mask


def free_form(
    h: int,
    w: int,
    rng: np.random.Generator,
    max_strokes: int = 4,
    min_strokes: int = 1,
    max_vertices: int = 8,
    width_range: tuple[float, float] = (0.04, 0.12),
    max_boxes: int = 2,
    box_range: tuple[float, float] = (0.1, 0.3),
    max_area: float = 0.4,
    side: int | None = None,
) -> np.ndarray:
    """Brush strokes (polylines of random width) plus a few boxes.

    Widths and box sides are fractions of ``min(h, w)``, so the masks look alike at any
    resolution (``side`` overrides ``min(h, w)`` as the reference, for crops). Strokes are
    redrawn until at least one pixel is covered and the hole covers at most ``max_area`` of the
    image (the fill must have context to work from).
    """
    side = side or min(h, w)
    for _ in range(20):
        canvas = np.zeros((h, w), dtype=np.uint8)
        for _ in range(int(rng.integers(min_strokes, max_strokes + 1))):
            width = max(1, int(side * rng.uniform(*width_range)))
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            points = [(x, y)]
            for _ in range(int(rng.integers(2, max_vertices + 1))):
                angle = rng.uniform(0, 2 * np.pi)
                length = side * rng.uniform(0.05, 0.25)
                x = int(np.clip(x + length * np.cos(angle), 0, w - 1))
                y = int(np.clip(y + length * np.sin(angle), 0, h - 1))
                points.append((x, y))
            cv2.polylines(canvas, [np.array(points, np.int32)], False, 255, width, lineType=cv2.LINE_8)
            for px, py in points:  # round joints, as a brush leaves
                cv2.circle(canvas, (px, py), width // 2, 255, -1)
        for _ in range(int(rng.integers(0, max_boxes + 1))):
            bh = max(1, int(side * rng.uniform(*box_range)))
            bw = max(1, int(side * rng.uniform(*box_range)))
            y = int(rng.integers(0, max(1, h - bh + 1)))
            x = int(rng.integers(0, max(1, w - bw + 1)))
            canvas[y : y + bh, x : x + bw] = 255
        mask = canvas > 0
        if mask.any() and mask.mean() <= max_area:
            return mask
    return mask  # pathological sizes (e.g. 2x2): accept the last draw


def _stroke(canvas: np.ndarray, rng: np.random.Generator, width: int, segments: int,
            length: tuple[float, float]) -> None:
    """Draw one brush stroke (a polyline with round joints) of ``segments`` segments, each of a
    length drawn from ``length`` px, onto ``canvas`` (uint8, 255 = hole)."""
    h, w = canvas.shape
    x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
    points = [(x, y)]
    for _ in range(segments):
        angle = rng.uniform(0, 2 * np.pi)
        step = rng.uniform(*length)
        x = int(np.clip(x + step * np.cos(angle), 0, w - 1))
        y = int(np.clip(y + step * np.sin(angle), 0, h - 1))
        points.append((x, y))
    cv2.polylines(canvas, [np.array(points, np.int32)], False, 255, width, lineType=cv2.LINE_8)
    for px, py in points:
        cv2.circle(canvas, (px, py), width // 2, 255, -1)


def _box(canvas: np.ndarray, rng: np.random.Generator, sides: tuple[float, float]) -> None:
    h, w = canvas.shape
    bh = min(h, max(1, int(rng.uniform(*sides))))
    bw = min(w, max(1, int(rng.uniform(*sides))))
    y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    canvas[y : y + bh, x : x + bw] = 255


def strokes(h: int, w: int, rng: np.random.Generator, side: int | None = None) -> np.ndarray:
    """The judge's "strokes": 2-5 free-form strokes 8-28 px wide (at 256 px; scaled by
    ``side``, default ``min(h, w)``), at most 40 % of the picture."""
    side = side or min(h, w)
    return free_form(h, w, rng, max_strokes=5, min_strokes=2, width_range=(8 / 256, 28 / 256), max_boxes=0, side=side)


def _covering(h: int, w: int, rng: np.random.Generator, low: float, high: float, draw) -> np.ndarray:
    """Redraw ``draw(canvas)`` onto an empty canvas until the hole covers ``low``..``high`` of
    the picture (``draw`` adds shapes to the canvas it is given); the closest draw otherwise."""
    best, best_gap = None, np.inf
    for _ in range(50):
        canvas = np.zeros((h, w), np.uint8)
        draw(canvas)
        cover = float((canvas > 0).mean())
        gap = max(low - cover, cover - high, 0.0)
        if gap == 0.0:
            return canvas > 0
        if gap < best_gap:
            best, best_gap = canvas > 0, gap
    return best


def large_holes(h: int, w: int, rng: np.random.Generator, side: int | None = None) -> np.ndarray:
    """The judge's "large" holes: 1-3 thick strokes 28-60 px wide (2-5 segments of 30-80 px)
    and, half of the time, a box of 48-112 px a side; redrawn until they cover 8-45 %. Sizes
    at 256 px, scaled by ``side`` (default ``min(h, w)``)."""
    f = (side or min(h, w)) / 256.0

    def draw(canvas):
        for _ in range(int(rng.integers(1, 4))):
            _stroke(canvas, rng, max(1, int(f * rng.uniform(28, 60))), int(rng.integers(2, 6)), (30 * f, 80 * f))
        if rng.random() < 0.5:
            _box(canvas, rng, (48 * f, 112 * f))

    return _covering(h, w, rng, 0.08, 0.45, draw)


def very_large_holes(h: int, w: int, rng: np.random.Generator, side: int | None = None) -> np.ndarray:
    """The judge's "very large" holes: free-form strokes 40-100 px wide and boxes, added until
    they cover 40-70 % of the picture, as LaMa's "thick" and MI-GAN's masks do. Sizes at
    256 px, scaled by ``side`` (default ``min(h, w)``)."""
    f = (side or min(h, w)) / 256.0

    def draw(canvas):
        target = rng.uniform(0.4, 0.7)
        for _ in range(40):
            if rng.random() < 0.8:
                _stroke(canvas, rng, max(1, int(f * rng.uniform(40, 100))), int(rng.integers(2, 6)), (40 * f, 120 * f))
            else:
                _box(canvas, rng, (64 * f, 160 * f))
            if (canvas > 0).mean() >= target:
                break

    return _covering(h, w, rng, 0.4, 0.7, draw)


def class_patch_holes(
    landcover: np.ndarray, rng: np.random.Generator, count: int = 3, size: int = 64, ignore: tuple[int, ...] = ()
) -> np.ndarray:
    """In each of ``count`` random ``size``-px patches, mark the patch's most common class.

    ``landcover`` is an ``HxW`` integer index map; classes in ``ignore`` (e.g. "no data")
    are never chosen as the class to remove.
    """
    if landcover.ndim != 2:
        raise ValueError(f"landcover must be HxW, got shape {landcover.shape}")
    h, w = landcover.shape
    mask = np.zeros((h, w), dtype=bool)
    ph, pw = min(size, h), min(size, w)
    for _ in range(count):
        y = int(rng.integers(0, h - ph + 1))
        x = int(rng.integers(0, w - pw + 1))
        patch = landcover[y : y + ph, x : x + pw]
        values, counts = np.unique(patch, return_counts=True)
        keep = ~np.isin(values, ignore)
        if not keep.any():
            continue
        values, counts = values[keep], counts[keep]
        cls = values[np.argmax(counts)]
        mask[y : y + ph, x : x + pw] |= patch == cls
    return mask


PICTURE_KINDS = ("research", "strokes", "large", "very-large")  # the judge's four hole kinds
MASK_KINDS = (*PICTURE_KINDS, "free-form", "class-patches")
_SHAPES = {"strokes": strokes, "large": large_holes, "very-large": very_large_holes}

# the trainers' default mixes (``kind:weight``, as ``--masks`` takes them). The album model
# learns the judge's kinds; the satellite model learns class patches, free-form strokes and
# boxes, and research squares
ALBUM_MASKS = "research:0.1,strokes:0.3,large:0.3,very-large:0.3"
SATELLITE_MASKS = "class-patches:0.5,free-form:0.3,research:0.2"


def make_mask(kind: str, h: int, w: int, rng: np.random.Generator, landcover: np.ndarray | None = None, *,
              side: int | None = None, ignore: tuple[int, ...] = (), research_count: int = 4,
              research_size: int = 32, class_count: int = 3, class_size: int = 64) -> np.ndarray:
    """One ``h x w`` hole of a named kind (:data:`MASK_KINDS`), never empty.

    Sizes are set for a picture whose short side is ``side`` (default ``min(h, w)``; a crop of a
    larger picture passes the picture's, so its holes keep the picture's scale); ``research_size``
    and ``class_size`` are px at 256. ``class-patches`` needs ``landcover`` (``HxW`` class indices)
    and never removes the ``ignore`` (nodata) classes. A draw that leaves no hole (a window of
    nodata classes only) is replaced by a free-form one, so every item has something to fill.
    """
    side = side or min(h, w)
    scale = side / 256.0
    if kind == "research":
        mask = research_holes(h, w, rng, research_count, max(1, round(research_size * scale)))
    elif kind in _SHAPES:
        mask = _SHAPES[kind](h, w, rng, side=side)
    elif kind == "free-form":
        mask = free_form(h, w, rng, side=side)
    elif kind == "class-patches":
        if landcover is None:
            raise ValueError("mask kind 'class-patches' needs a land-cover map")
        mask = class_patch_holes(landcover, rng, class_count, max(1, round(class_size * scale)), ignore)
    else:
        raise ValueError(f"unknown mask kind {kind!r}; valid kinds: {', '.join(MASK_KINDS)}")
    if not mask.any():
        mask = free_form(h, w, rng, side=side)
    return mask


def _parse_weights(text: str) -> dict[str, float]:
    """``"research:0.5,strokes:0.5"`` -> ``{"research": 0.5, "strokes": 0.5}`` (a bare kind weighs 1)."""
    weights = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, value = part.partition(":")
        weights[name.strip()] = float(value) if value else 1.0
    return weights


@dataclass
class MaskSpec:
    """A training mix of mask kinds: ``weights[kind]`` is the chance of drawing that kind."""

    weights: dict[str, float] = field(default_factory=lambda: _parse_weights(ALBUM_MASKS))
    research_count: int = 4  # patches per image (the research used 4)
    research_size: int = 32  # patch side in px at 256x256 (scaled with the crop size)
    class_count: int = 3  # class patches per image (satellite)
    class_size: int = 64  # class patch side in px (satellite)

    def __post_init__(self):
        unknown = set(self.weights) - set(MASK_KINDS)
        if unknown:
            raise ValueError(f"unknown mask kinds {sorted(unknown)}; valid kinds: {', '.join(MASK_KINDS)}")
        if not self.weights or sum(self.weights.values()) <= 0:
            raise ValueError("mask weights must contain a positive weight")

    @classmethod
    def parse(cls, text: str, **kwargs) -> "MaskSpec":
        """Parse ``"research:0.5,strokes:0.5"`` (a bare kind means weight 1)."""
        return cls(weights=_parse_weights(text), **kwargs)

    def __call__(self, h: int, w: int, rng: np.random.Generator, landcover: np.ndarray | None = None,
                 ref_size: int | None = None, ignore: tuple[int, ...] = ()) -> np.ndarray:
        """One ``h x w`` mask of a kind drawn from the mix (:func:`make_mask`). Sizes are set
        for a ``ref_size`` image (default ``min(h, w)``), so a crop of a larger image gets holes
        of the size the full image would get; class patches never remove the ``ignore`` classes."""
        kinds = list(self.weights)
        p = np.array([self.weights[k] for k in kinds], dtype=float)
        kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
        return make_mask(kind, h, w, rng, landcover, side=ref_size, ignore=ignore,
                         research_count=self.research_count, research_size=self.research_size,
                         class_count=self.class_count, class_size=self.class_size)


def evaluation_mask(kind: str, size: int, seed: int, index: int, landcover: np.ndarray | None = None,
                    ignore: tuple[int, ...] = ()) -> np.ndarray:
    """The hole of the ``index``-th evaluated ``size x size`` window, seeded by ``(seed, index)``,
    so every method (and every run) fills the same holes.

    A picture's hole is :func:`make_mask`'s; a tile's (``landcover`` given) is drawn from a mix of
    that one kind, as the satellite trainer draws its holes, which spends one draw of the
    generator first: the satellite figures published so far were scored on those holes.
    """
    rng = np.random.default_rng([seed, index])
    if landcover is None:
        return make_mask(kind, size, size, rng)
    return MaskSpec(weights={kind: 1.0})(size, size, rng, landcover, ignore=ignore)


def read_mask(path, shape: tuple[int, int]) -> np.ndarray:
    """A mask file as ``HxW`` bool, by the one mask rule (:func:`inpaint_core.engine.as_bool_mask`):
    grey or RGB cut at 127, an RGBA brush layer by its paint (the batch CLI's picture masks, and a
    scene's mask when it is no GeoTIFF).

    Its size is compared with the picture's (``shape``) from the header, before any pixel is
    decoded: a 20000x20000 mask, or a PNG bomb of that size, costs nothing to refuse.
    """
    name = Path(path).name
    try:
        im = Image.open(path)
    except Image.DecompressionBombError as err:  # PIL refuses > 179 Mpx in open(), before our check
        raise ValueError(f"the mask {name} is far larger than any picture this can fill (over "
                         f"{Image.MAX_IMAGE_PIXELS * 2 / 1e6:.0f} Mpx); it must be the size of its picture") from err
    except Exception as err:  # not an image, or a header PIL cannot parse
        raise ValueError(f"cannot read the mask {name}: {err}") from err
    with im:
        if im.size != (shape[1], shape[0]):
            raise ValueError(f"the mask {name} is {im.size[0]}x{im.size[1]} pixels but its picture is "
                             f"{shape[1]}x{shape[0]}; they must match")
        try:
            im.load()
        except Exception as err:  # PIL's decoders raise many types on damaged data
            raise ValueError(f"the mask {name} is damaged (its data is cut short or corrupt: {err})") from err
        return as_bool_mask(im, shape)


# how far the Inpaint tab and ``inpaint run --dilate`` grow a painted hole by default: a brush
# stroke over an object leaves its rim (shadow, anti-aliased edge) a few pixels outside
MASK_DILATION = 4


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
