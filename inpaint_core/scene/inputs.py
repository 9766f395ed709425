"""What one window of a scene reads: its pixels, its holes and its land cover, never the rest.

A window is a box ``(y0, y1, x0, x1)`` of the scene's pixels (rows ``y0..y1-1``, columns
``x0..x1-1``), the box of :func:`inpaint_core.engine.region_boxes`. :class:`Scene` opens a
GeoTIFF and reads any box of it:

* :meth:`Scene.pixels` - every band in its own dtype, and where it holds data (the rule of
  :func:`inpaint_core.data.raster.valid_pixels`: any band at nodata, masked, NaN or infinite);
* :meth:`Scene.holes` - the hole, by a :class:`HoleRule`: a mask raster (white or nonzero =
  hole, on the scene's grid or on any other grid, sampled by nearest neighbour), holes where
  a band holds given values (``--mask-values``: a Sentinel-2 SCL or Landsat QA band) and the
  file's own nodata gaps (``--fill-nodata``: SLC-off stripes, scan gaps);
* :meth:`Scene.landcover` - a land-cover raster of the scene, on any grid, as class indices.

Every value is a function of the pixel and the files only, never of the box it is read in: a
pixel reads the same in a scan strip, in a fill window and in the whole picture, which is what
lets a scene be scanned in strips, filled in boxes and spread over processes with the whole
picture's result. A raster on another grid is sampled at each scene pixel's centre (same CRS:
the composed affine transform; another CRS: PROJ on a 16-pixel grid anchored to the scene,
interpolated bilinearly), not warped per window. A :class:`Scene` is sent to other processes
by its paths; each opens the files itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inpaint_core.data.geo import _check_overlap, is_geotiff, read_landcover
from inpaint_core.data.masks import dilate_mask, read_mask
from inpaint_core.data.raster import (
    _georef_of,
    _read_pixels,
    gdal_message,
    shown_bands,
    valid_pixels,
)
from inpaint_core.engine import MAX_PIXELS, as_bool_mask

__all__ = ["Box", "HoleRule", "Scene", "parse_mask_values", "clip_box", "window_of", "source_pixels", "GDAL_CACHE",
           "gdal_env"]

# GDAL's block cache while a scene is read and written: its default is 5 % of the machine's memory
# (1.2 GB on 24 GB), reached on any scene large enough, so a scene's peak grew with its size
GDAL_CACHE = 256 * 2**20


def gdal_env():
    """The GDAL settings every process reading a scene works in (a ``rasterio.Env``)."""
    import rasterio

    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE)

Box = tuple[int, int, int, int]  # y0, y1, x0, x1
_ANCHOR = 16  # another CRS is projected exactly every this many pixels of the scene, interpolated between
_OPENED: dict = {}  # a worker process's open sources, by scene and thread (see Scene.__setstate__)


def window_of(box: Box):
    """The rasterio ``Window`` of ``box``."""
    from rasterio.windows import Window

    y0, y1, x0, x1 = box
    return Window(x0, y0, x1 - x0, y1 - y0)


def clip_box(box: Box, grow: int, shape: tuple[int, int]) -> Box:
    """``box`` grown by ``grow`` px on every side, inside a raster of ``shape``."""
    y0, y1, x0, x1 = box
    return max(0, y0 - grow), min(shape[0], y1 + grow), max(0, x0 - grow), min(shape[1], x1 + grow)


def parse_mask_values(text: str) -> tuple[int, tuple[float, ...]]:
    """``"BAND:V1,V2,..."`` -> ``(band, (v1, v2, ...))``; e.g. ``1:3,8,9,10`` (SCL cloud shadow,
    cloud medium and high probability, cirrus)."""
    band, sep, values = text.partition(":")
    try:
        parsed = int(band), tuple(float(v) for v in values.split(",") if v.strip())
    except ValueError:
        parsed = None
    if not sep or parsed is None or not parsed[1] or parsed[0] < 1:
        raise ValueError(f"--mask-values takes BAND:V1,V2,... such as 1:3,8,9,10, got {text!r}")
    return parsed


@dataclass(frozen=True)
class HoleRule:
    """Where a scene's holes are. Any of the three may be combined; holes are always valid pixels
    of the scene, except the nodata gaps that ``fill_nodata`` asks for."""

    mask: str | None = None  # a mask raster: white (>127) or nonzero = hole; any grid when georeferenced
    # (band, values): hole where that band of the mask (of the scene, without a mask) holds one of them
    mask_values: tuple[int, tuple[float, ...]] | None = None
    fill_nodata: bool = False  # the scene's own nodata gaps are holes, and are filled
    # fill_nodata: nodata areas narrower than this many px between data are gaps; wider ones (a
    # scene's collar) stay nodata
    gap: int = 64
    # the mask (and mask_values' holes) grown by a disc of this radius, as the app grows a painted
    # hole (data.masks.dilate_mask); never the gaps
    dilate: int = 0

    def __post_init__(self):
        if self.mask is None and self.mask_values is None and not self.fill_nodata:
            raise ValueError("no hole to fill: pass --mask, --mask-values or --fill-nodata")
        if self.gap < 1:
            raise ValueError(f"--nodata-gap must be at least 1 px, got {self.gap}")
        if self.dilate < 0:
            raise ValueError(f"--dilate takes 0 or more pixels, got {self.dilate}")

    @property
    def halo(self) -> int:
        """How far beyond a box the hole of its pixels depends on the scene (the gaps' closing)."""
        return self.gap if self.fill_nodata else 0


def _same_grid(a, b, a_shape, b_shape) -> bool:
    return a_shape == b_shape and (a is None or b is None or (a.transform == b.transform and a.crs == b.crs))


def source_pixels(src_ref, dst_ref, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)``: the pixel of a raster on ``src_ref``'s grid under the centre of each
    pixel of ``box`` of a raster on ``dst_ref``'s grid (``HxW`` int64 each; out of range where
    the source does not reach). Each pixel's answer depends on its position only, not on ``box``."""
    from rasterio.transform import Affine

    y0, y1, x0, x1 = box
    inverse = ~Affine(*src_ref.transform)
    if src_ref.crs == dst_ref.crs or src_ref.crs is None or dst_ref.crs is None:
        a = inverse * Affine(*dst_ref.transform)
        cols = (np.arange(x0, x1) + 0.5)[None, :]
        rows = (np.arange(y0, y1) + 0.5)[:, None]
        col = a.a * cols + a.b * rows + a.c
        row = a.d * cols + a.e * rows + a.f
    else:
        from rasterio.crs import CRS
        from rasterio.warp import transform

        g = _ANCHOR
        ny = np.arange(y0 // g * g, -(-y1 // g) * g + 1, g)
        nx = np.arange(x0 // g * g, -(-x1 // g) * g + 1, g)
        gx, gy = np.meshgrid(nx + 0.5, ny + 0.5)
        fwd = Affine(*dst_ref.transform)
        wx, wy = fwd.a * gx + fwd.b * gy + fwd.c, fwd.d * gx + fwd.e * gy + fwd.f
        sx, sy = transform(CRS.from_wkt(dst_ref.crs), CRS.from_wkt(src_ref.crs), wx.ravel(), wy.ravel())
        sx, sy = np.asarray(sx).reshape(gx.shape), np.asarray(sy).reshape(gx.shape)
        node_col = inverse.a * sx + inverse.b * sy + inverse.c
        node_row = inverse.d * sx + inverse.e * sy + inverse.f
        r, c = np.arange(y0, y1), np.arange(x0, x1)
        i, j = (r - ny[0]) // g, (c - nx[0]) // g
        t, u = ((r % g) / g)[:, None], ((c % g) / g)[None, :]

        def lerp(nodes):
            top = nodes[i][:, j] * (1 - u) + nodes[i][:, j + 1] * u
            bottom = nodes[i + 1][:, j] * (1 - u) + nodes[i + 1][:, j + 1] * u
            return top * (1 - t) + bottom * t

        col, row = lerp(node_col), lerp(node_row)
    bad = ~(np.isfinite(col) & np.isfinite(row))
    col, row = np.where(bad, -1, np.floor(col)), np.where(bad, -1, np.floor(row))
    return row.astype(np.int64), col.astype(np.int64)


class _Other:
    """A raster beside the scene (mask, land cover), read box by box onto the scene's grid."""

    def __init__(self, path: Path, what: str, scene: "Scene"):
        import rasterio

        self.path, self.what = path, what
        try:
            self.ds = rasterio.open(path)
        except Exception as err:  # RasterioIOError and GDAL's CPLE_* errors share no base class
            raise ValueError(f"the {what} {path.name} is not a readable raster ({gdal_message(err)})") from err
        self.ref = _georef_of(self.ds)
        self.shape = (self.ds.height, self.ds.width)
        self.same = _same_grid(self.ref, scene.georef, self.shape, scene.shape)
        if not self.same and (self.ref is None or scene.georef is None or not self.ref.crs or not scene.georef.crs):
            raise ValueError(f"the {what} {path.name} is {self.shape[1]}x{self.shape[0]} pixels but the scene "
                             f"{scene.path.name} is {scene.shape[1]}x{scene.shape[0]}; a {what} on another grid "
                             "needs a CRS and a transform, as the scene does")
        self.scene_ref = scene.georef

    def read(self, box: Box, bands) -> tuple[np.ndarray, np.ndarray]:
        """``(values BxHxW, inside HxW)``: ``bands`` (1-based) under each pixel of ``box``."""
        y0, y1, x0, x1 = box
        if self.same:
            data = _read_pixels(self.path, self.what, lambda: self.ds.read(bands, window=window_of(box)))
            return data, np.ones((y1 - y0, x1 - x0), bool)
        rows, cols = source_pixels(self.ref, self.scene_ref, box)
        inside = (rows >= 0) & (rows < self.shape[0]) & (cols >= 0) & (cols < self.shape[1])
        out = np.zeros((len(bands), y1 - y0, x1 - x0), self.ds.dtypes[0])
        if inside.any():
            src_box = (int(rows[inside].min()), int(rows[inside].max()) + 1,
                       int(cols[inside].min()), int(cols[inside].max()) + 1)
            src = _read_pixels(self.path, self.what, lambda: self.ds.read(bands, window=window_of(src_box)))
            out[:, inside] = src[:, rows[inside] - src_box[0], cols[inside] - src_box[2]]
        return out, inside


class Scene:
    """A GeoTIFF scene read box by box (see the module doc). ``bands``: 1-based RGB bands, as
    ``--rgb-bands``; ``landcover`` and ``table``: its land cover and class table, for fills
    that follow land cover. Header problems raise ``ValueError`` naming the file."""

    def __init__(self, path, rule: HoleRule, bands: tuple[int, int, int] | None = None, landcover=None,
                 table=None):
        import rasterio
        from rasterio.enums import MaskFlags

        self.path, self.rule, self.bands = Path(path), rule, bands
        self.landcover_path, self.table = (Path(landcover) if landcover else None), table
        if not self.path.is_file():
            raise ValueError(f"image not found: {self.path.name}")
        try:
            ds = rasterio.open(self.path)
        except Exception as err:
            raise ValueError(f"the image {self.path.name} is not a readable GeoTIFF ({gdal_message(err)})") from err
        with ds:
            self.rgb_bands = shown_bands(ds, bands, self.path, "image")
            self.shape, self.count, self.dtype = (ds.height, ds.width), ds.count, np.dtype(ds.dtypes[0])
            self.georef = _georef_of(ds)
            self.profile = dict(ds.profile)
            self.profile["descriptions"] = ds.descriptions
            self.nodata = ds.nodata
            self.block = ds.block_shapes[0]
            # nothing can be nodata: no pixel need be read to know where the data is
            self.all_valid = not np.issubdtype(self.dtype, np.floating) and all(
                flags == [MaskFlags.all_valid] for flags in ds.mask_flag_enums)
            self.has_mask = any(MaskFlags.per_dataset in flags for flags in ds.mask_flag_enums)
        if rule.mask_values and rule.mask is None and rule.mask_values[0] > self.count:
            raise ValueError(f"--mask-values names band {rule.mask_values[0]}, but {self.path.name} has {self.count}")
        # each thread's open sources: a GDAL dataset is not to be shared by threads (two reading one at
        # once fail, or read another block's pixels), and a Dask worker runs a task on each of its threads
        self._open = threading.local()
        self._others()  # opens (and so checks) the mask and land cover now, not in the first window

    def __getstate__(self):  # sent to other processes by paths: each opens the files itself
        state = self.__dict__.copy()
        state["_open"] = None
        return state

    def __setstate__(self, state):
        # every task brings its own copy: the files are opened (a PNG mask read) once per process and thread
        self.__dict__.update(state)
        key = (str(self.path), self.path.stat().st_mtime_ns, self.rule, self.bands, str(self.landcover_path),
               getattr(self.table, "name", None))
        self._open = _OPENED.setdefault(key, threading.local())

    @property
    def ds(self):
        import rasterio

        opened = self._open.__dict__  # this thread's
        if "scene" not in opened:
            opened["scene"] = rasterio.open(self.path)
        return opened["scene"]

    def _others(self) -> dict:
        """The mask and land-cover sources, opened once per process and thread."""
        opened = self._open.__dict__  # this thread's
        if "mask" in opened:
            return opened
        mask = self.rule.mask and Path(self.rule.mask)
        opened["mask"] = None
        if mask is not None:
            if self.rule.mask_values is None and mask.suffix.lower() not in (".tif", ".tiff"):
                if self.shape[0] * self.shape[1] > MAX_PIXELS:  # the one size limit of pictures
                    raise ValueError(f"the mask {mask.name} is no GeoTIFF, so it is read whole, and the scene "
                                     f"{self.path.name} is {self.shape[1]}x{self.shape[0]}: give a scene's mask as a "
                                     "GeoTIFF, which is read window by window")
                opened["mask"] = read_mask(mask, self.shape)  # the picture mask rule, whole
            else:
                if not mask.is_file():
                    raise ValueError(f"mask not found: {mask.name}")
                other = _Other(mask, "mask", self)
                band = self.rule.mask_values[0] if self.rule.mask_values else 1
                if band > other.ds.count or (self.rule.mask_values is None and other.ds.count not in (1, 3)):
                    raise ValueError(f"the mask {mask.name} has {other.ds.count} band(s): a mask raster has one "
                                     "(nonzero or white = hole) or three (white = hole), or name its band with "
                                     "--mask-values BAND:V1,V2")
                opened["mask"] = other
        opened["landcover"] = self._landcover_source() if self.landcover_path else None
        return opened

    def _landcover_source(self):
        path = self.landcover_path
        if not path.is_file():
            raise ValueError(f"land-cover file not found: {path.name}")
        if not is_geotiff(path):
            return read_landcover(path, self.table)  # a PNG on the scene's pixel grid, whole
        other = _Other(path, "land cover", self)
        if not other.same and other.ds.count >= 3:
            raise ValueError(f"{path.name}: reprojecting a colour-coded raster is not supported; use a coded one")
        if not other.same:
            _check_overlap(path.name, other.ref, tuple(other.ds.bounds), self.georef, self.shape)
        return other

    # --- what a box reads ------------------------------------------------------------------
    def pixels(self, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """``(data BxHxW in the file's dtype, valid HxW bool)`` of ``box``."""
        win = window_of(box)
        data = _read_pixels(self.path, "image", lambda: self.ds.read(window=win))
        if self.all_valid:
            return data, np.ones(data.shape[1:], bool)
        return data, valid_pixels(self.ds, data, self.path, "image", window=win)

    def holes(self, box: Box, pixels: bool = False):
        """``(hole, valid)`` of ``box``, both ``HxW`` bool: the pixels to fill, and the pixels with
        data once they are filled (the scene's valid pixels and the gaps ``fill_nodata`` fills).
        With ``pixels``, ``(hole, valid, data, valid_before)``: also :meth:`pixels` of ``box``,
        from the same read."""
        rule = self.rule
        outer = clip_box(box, rule.halo, self.shape)
        inner = (slice(box[0] - outer[0], box[1] - outer[0]), slice(box[2] - outer[2], box[3] - outer[2]))
        data = None
        if pixels or not self.all_valid:
            data, valid = self.pixels(outer)
        else:
            valid = np.ones((outer[1] - outer[0], outer[3] - outer[2]), bool)
        before = valid[inner]
        hole, after = self._mask(box) & before, before
        if rule.fill_nodata and not valid.all():
            import cv2

            side = 2 * (rule.gap // 2) + 1  # centred: a gap beside the collar closes as one beside data
            kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
            closed = cv2.morphologyEx(valid.astype(np.uint8), cv2.MORPH_CLOSE, kernel)[inner] > 0
            gaps = closed & ~before
            hole, after = hole | gaps, before | gaps
        if pixels:
            return hole, after, data[:, inner[0], inner[1]], before
        return hole, after

    def _mask(self, box: Box) -> np.ndarray:
        """The mask's holes in ``box``, grown by the rule's ``dilate`` (read that much further out)."""
        grow = self.rule.dilate
        if grow == 0:
            return self._mask_as_read(box)
        outer = clip_box(box, grow, self.shape)
        mask = dilate_mask(self._mask_as_read(outer), grow)  # the app's and the picture CLI's growth
        return mask[box[0] - outer[0]: box[1] - outer[0], box[2] - outer[2]: box[3] - outer[2]]

    def _mask_as_read(self, box: Box) -> np.ndarray:
        y0, y1, x0, x1 = box
        source, values = self._others()["mask"], self.rule.mask_values
        if source is None and values is None:
            return np.zeros((y1 - y0, x1 - x0), bool)
        if source is None:  # a band of the scene itself
            band = _read_pixels(self.path, "image", lambda: self.ds.read(values[0], window=window_of(box)))
            return np.isin(band, values[1])
        if isinstance(source, np.ndarray):
            return source[y0:y1, x0:x1]
        if values is not None:
            data, inside = source.read(box, [values[0]])
            return np.isin(data[0], values[1]) & inside
        data, inside = source.read(box, list(range(1, source.ds.count + 1)))
        return as_bool_mask(data[0] if len(data) == 1 else np.moveaxis(data, 0, -1)) & inside

    def landcover(self, box: Box) -> np.ndarray:
        """``HxW int64`` class indices of ``box``; pixels the land cover does not reach are the
        table's nodata class (``ValueError`` when it has none)."""
        y0, y1, x0, x1 = box
        source = self._others()["landcover"]
        name = self.landcover_path.name
        if isinstance(source, np.ndarray):
            if source.shape != self.shape:
                raise ValueError(f"the land cover {name} is {source.shape[1]}x{source.shape[0]} pixels but the scene "
                                 f"{self.path.name} is {self.shape[1]}x{self.shape[0]}; they must match")
            return source[y0:y1, x0:x1]
        table = self.table
        if source.ds.count >= 3:  # colour-coded, on the scene's grid
            data, _ = source.read(box, [1, 2, 3])
            return table.index_from_colors(np.moveaxis(data, 0, -1).astype(np.uint8))
        data, inside = source.read(box, [1])
        codes = data[0].astype(np.int64)
        if not inside.all():
            if not table.nodata_indices:
                raise ValueError(f"{name} does not cover {(~inside).sum()} pixels of the scene and table "
                                 f"{table.name!r} has no nodata class to give them")
            codes[~inside] = table[table.nodata_indices[0]].code
        try:
            return table.index_from_codes(codes)
        except ValueError as err:
            raise ValueError(f"the land cover {name}: {err}") from err

