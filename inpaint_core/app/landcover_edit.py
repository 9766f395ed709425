"""Land-cover editing for the app's Satellite tab.

* the class picker (optionally restricted to a painted region) and the three "Fill with"
  rules (:data:`FILL_MODES`): what the erased pixels are asked to become;
* land cover painted with a brush in the class colours;
* the land-cover overlay, legend and colour pictures.

Land cover is an ``HxW int64`` map of indices into a class table; every function raises
``ValueError`` with a message meant for the app's user on bad input.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from inpaint_core.app.editing import check_image
from inpaint_core.data.masks import dilate_mask

__all__ = ["FILL_MODES", "ERASE_DILATION", "class_indices", "class_mask", "fill_landcover", "paint_landcover",
           "SatelliteEdit", "plan_satellite_edit", "palette", "colorize", "overlay_landcover", "legend_html"]

# "Fill with" rules of the satellite tab: key -> label shown in the app
FILL_MODES = {
    "surrounding": "Surrounding land cover",
    "keep": "Keep the class (re-texture)",
    "class": "A chosen class",
}

# how far an erased class's hole grows by default (the Satellite tab's mask dilation): a building's
# shadow and bright rim are not of its class, and left outside the hole they stay as a dark block.
# Measured with land-cover PatchMatch and the Dubai model, erasing Building on 256-px Dubai windows: the
# mean luminance of the ring across the hole's edge (4 px each side) over that of the same classes'
# ground 20-40 px from any building. Chosen on Tiles 3-6 (16 windows): 0.94 at 0 px, 0.98 at 2-10,
# 0.99 at 12; held-out Tiles 7-8 (12 windows): 0.81 at 0, 0.93 at 8, 0.96 at 12 (model 0.82, 0.98, 1.01).
ERASE_DILATION = 12
# a painted land-cover pixel must be at least this opaque to count, so the brush's
# anti-aliased rim (colour blended into transparency) is not read as a class
_PAINT_ALPHA = 128
# largest RGB distance from a class colour still read as that class (rounding at the rim)
_PAINT_TOLERANCE = 40.0


def palette(classes) -> np.ndarray:
    """The class colours of a :class:`~inpaint_core.data.landcover.ClassTable` as ``Kx3 uint8`` (row i = class i)."""
    return classes.palette()


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
    return classes.colorize(_check_landcover(landcover, classes))


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


def legend_html(classes, palette_for: str | None = None) -> str:
    """An HTML legend: one colour swatch and name per class, in table order.

    With ``palette_for`` (the element id of a land-cover painting editor) the legend is also
    that editor's palette: each class one can paint is a button carrying its colour
    (``data-colour``), which the page's script turns into a click on the editor's own colour
    swatch, so a person picks "Water" by its name rather than by an unlabelled swatch.
    No-data classes are listed but not offered: they are never painted.
    """
    items = []
    for c, colour in zip(classes, classes.hex_colors()):
        swatch = (f'<span style="width:14px;height:14px;border:1px solid #555;margin-right:5px;'
                  f'background:{colour}"></span>{html.escape(c.name)}')
        style = "display:inline-flex;align-items:center;margin:2px 12px 2px 0"
        if palette_for and not c.nodata:
            items.append(f'<button type="button" class="landcover-class" data-colour="{colour}" '
                         f'title="Paint {html.escape(c.name)}" style="{style};padding:2px 6px;cursor:pointer;'
                         f'border:1px solid transparent;border-radius:4px;background:none;color:inherit;font:inherit">'
                         f'{swatch}</button>')
        else:
            items.append(f'<span style="{style}">{swatch}</span>')
    if not palette_for:
        return '<div class="landcover-legend">' + "".join(items) + "</div>"
    hint = '<span style="margin-right:10px;opacity:0.75">Click a class to paint with it:</span>'
    return (f'<div class="landcover-legend" data-palette-for="{html.escape(palette_for)}">' + hint
            + "".join(items) + "</div>")


def class_indices(names, classes) -> list[int]:
    """Class names (as the class picker returns them) -> indices into ``classes``."""
    return classes.indices(names)


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
    dilation: int = ERASE_DILATION,
) -> SatelliteEdit:
    """Turn the satellite tab's choices into a mask and an edited land cover.

    ``landcover``: ``HxW`` int map of indices into ``classes``; ``erase``: class names to
    erase; ``region``: optional ``HxW`` bool restricting the erasing; ``fill``: a key of
    :data:`FILL_MODES`; ``fill_class``: a class name (for ``fill="class"``);
    ``paint_layers``: RGBA layers with land cover painted in the class colours (those pixels
    are inpainted too, with the painted class); ``dilation``: pixels to grow the mask by
    (the land cover under the grown rim stays as it was; default :data:`ERASE_DILATION`, so an
    erased building takes its shadow and rim with it).
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
