"""The Satellite tab without its widgets: a tile and its land cover in, the filled tile and its downloads out.

* reading the two uploads (each checked from its header first, the land cover read with the
  chosen model's class table and reprojected onto a GeoTIFF tile's grid): :func:`read_tile`;
* the overlay and the two painting canvases: :func:`canvases`;
* the tab's choices turned into a hole and an edited land cover: :func:`plan_edit`;
* the fill, with a GeoTIFF's nodata neither filled nor shown to the fill: :func:`fill_tile`;
* the downloads, a GeoTIFF written back with its own dtype, bands and georeferencing:
  :func:`save_results`;
* the example tiles, each with the land-cover model whose classes it is drawn in:
  :func:`example_tiles`.

The tab's handlers (:mod:`inpaint_core.app.handlers`) only turn widget values into these calls.
Tiles are ``HxWx3 uint8`` RGB, land cover an ``HxW`` map of class indices, masks ``HxW`` bool
(True = hole); bad input raises ``ValueError`` with a message for the app's user.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inpaint_core.app import editing, editor_state, landcover_edit
from inpaint_core.app.models import AppModels
from inpaint_core.app.picture import comparison
from inpaint_core.data import geo
from inpaint_core.data.landcover import get_class_table
from inpaint_core.data.pictures import check_file
from inpaint_core.engine import Inpainter

__all__ = ["read_tile", "unreadable", "canvases", "plan_edit", "fill_tile", "save_results", "EXAMPLE_TILES",
           "example_tiles"]

# synthetic example tiles by the built-in class table their land cover is drawn in: (what it
# shows, tile, land cover), in the examples folder (examples/README.md)
EXAMPLE_TILES = {
    "dubai-aerial": ("Town by the sea", "satellite/tile.tif", "satellite/landcover.png"),
    "deepglobe": ("Fields, forest, river", "satellite-deepglobe/rural-tile.tif",
                  "satellite-deepglobe/rural-landcover.png"),
}


def read_tile(tile_file, landcover_file, classes) -> geo.Tile:
    """The uploaded tile and its land cover, read with ``classes``: a GeoTIFF kept whole for a
    faithful write-back, its land cover reprojected onto its grid whatever the CRS, the sizes
    checked. A missing, junk, damaged or oversized file is named before any pixel is decoded."""
    if not tile_file:
        raise ValueError("no tile: upload an RGB tile (PNG, JPEG or GeoTIFF)")
    if not landcover_file:
        raise ValueError("no land cover: upload the tile's land cover (colour PNG, coded raster or GeoTIFF)")
    for path, what in ((tile_file, "tile"), (landcover_file, "land cover")):
        check_file(path, what)  # header only
    tile = geo.read_tile(tile_file, landcover_file, classes)
    editing.check_image(tile.rgb, "tile")
    return tile


def unreadable(path, what: str) -> bool:
    """Whether the upload at ``path`` cannot be read at all (a ``what`` that is junk, damaged or too
    large), as opposed to one that is fine alone but does not fit its partner."""
    try:
        check_file(path, what)
    except ValueError:
        return True
    return False


def canvases(rgb: np.ndarray, landcover: np.ndarray, classes) -> tuple[np.ndarray, dict, dict]:
    """The land cover over the tile, and the editor values of the region canvas (painted on that
    overlay) and of the land-cover canvas (painted on the land cover's colours)."""
    overlay = landcover_edit.overlay_landcover(rgb, landcover, classes)
    colours = landcover_edit.colorize(landcover, classes)
    return (overlay, {"background": overlay, "layers": [], "composite": overlay},
            {"background": colours, "layers": [], "composite": colours})


def plan_edit(tile: geo.Tile, classes, erase, region_editor, fill: str, fill_class, paint_editor,
              dilation) -> landcover_edit.SatelliteEdit:
    """The hole and the edited land cover the tab's choices ask for: the ``erase`` classes (inside
    the region painted in ``region_editor``, if any) filled as ``fill`` / ``fill_class`` says,
    and the land cover painted in ``paint_editor``, the hole grown by ``dilation`` pixels."""
    region_layers = editing.editor_layers(region_editor)
    region = editing.layers_mask(region_layers, tile.rgb.shape[:2], "painted region") if region_layers else None
    return landcover_edit.plan_satellite_edit(
        tile.landcover, classes, erase=erase or [], region=region, fill=fill, fill_class=fill_class,
        paint_layers=editing.editor_layers(paint_editor), dilation=dilation)


def fill_tile(model: Inpainter, tile: geo.Tile, edit: landcover_edit.SatelliteEdit,
              strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``edit``'s hole with ``model`` (given the edited land cover when it follows land cover).
    Returns the filled tile and the hole it filled: a GeoTIFF's nodata is neither filled nor
    shown to the fill as context, so it is not part of the hole."""
    extra = {"landcover": edit.landcover} if "landcover" in model.extra_inputs else {}
    if tile.raster is None:
        return model.inpaint(tile.rgb, edit.mask, strategy=strategy, **extra), edit.mask
    return geo.fill_raster(model, tile.raster, edit.mask, strategy=strategy, **extra)


def save_results(workdir, tile_file, tile: geo.Tile, result: np.ndarray, hole: np.ndarray, landcover: np.ndarray,
                 classes) -> tuple[str, tuple[str, str], str, str, list[str]]:
    """Write the downloads of one fill into a fresh folder under ``workdir``, named after the
    uploaded ``tile_file``. Returns the result PNG, the before/after pair, the mask PNG, the
    edited ``landcover`` in the class colours, and the download files: those three, after the
    filled GeoTIFF when the tile was one (its own dtype, bands, CRS, transform and nodata;
    untouched pixels bit-identical)."""
    out = editing.output_dir(workdir)
    stem = editor_state.result_stem(tile_file)
    after = editing.save_png(out / f"{stem}{editor_state.RESULT_SUFFIX}.png", result)
    mask = editing.save_png(out / f"{stem}_mask.png", editing.mask_image(hole))
    landcover_png = editing.save_png(out / f"{stem}{editor_state.LANDCOVER_SUFFIX}.png",
                                     landcover_edit.colorize(landcover, classes))
    files = [after, landcover_png, mask]
    if tile.raster is not None:
        tif = out / f"{stem}{editor_state.RESULT_SUFFIX}.tif"
        geo.write_filled(tif, tile.raster, result, hole)
        files.insert(0, str(tif))
    return after, comparison(out, tile.rgb, result, after), mask, landcover_png, files


def example_tiles(models: AppModels, examples: Path) -> tuple[list[list[str]], list[str]]:
    """Example rows ``[tile, land cover, land-cover model]`` and their labels: one for each
    land-cover model whose table has an example tile in the ``examples`` folder."""
    drawn_in = {name: get_class_table(name) for name in EXAMPLE_TILES}
    rows, labels = [], []
    for label, chosen in models.landcover_models.items():
        # by the classes themselves, not the table's name: a user's table may share a name
        for table_name, (what, tile, landcover) in EXAMPLE_TILES.items():
            tile, landcover = Path(examples) / tile, Path(examples) / landcover
            if drawn_in[table_name] == chosen.classes and tile.is_file():
                rows.append([str(tile), str(landcover), label])
                labels.append(f"{what} ({label})")
    return rows, labels
