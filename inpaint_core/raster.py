"""A GeoTIFF as it is, filled, and written back as it was: the faithful write-back of rasters.

* :class:`Georef` - where a raster lies (CRS, affine transform, nodata);
* :func:`read_raster` - a GeoTIFF whole, every band in its own dtype (any dtype, any band
  count), with what a fill sees of it: three bands stretched to 8 bits (:class:`Raster`);
* :func:`fill_raster` - the one way a GeoTIFF is filled (the app, the batch CLI): nodata is
  neither hole nor context of the fill;
* :func:`write_filled` - the way back: the filled pixels through the inverse stretch into the
  file's own dtype, the other bands' holes by OpenCV's Telea fill within the band's range,
  every pixel outside the hole bit-identical, nodata neither filled nor created.

A pixel is nodata where any band holds the file's nodata value, its mask says so, or a value
is NaN or infinite (whatever the file declares: no stretch or fill can use such a value).
Tiles, land cover and training windows build on this in :mod:`inpaint_core.geo`. rasterio is
imported only inside the functions that read or write, so PNG users need not have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Georef", "Raster", "read_raster", "fill_raster", "write_filled", "rgb_band_choice", "gdal_message"]


@dataclass(frozen=True)
class Georef:
    """Where a raster lies: ``crs`` as WKT, ``transform`` as the 6 affine coefficients
    ``(a, b, c, d, e, f)`` (pixel -> CRS coordinates, GDAL/rasterio order), ``nodata``."""

    crs: str | None
    transform: tuple[float, float, float, float, float, float]
    nodata: float | None = None

    def affine(self):
        from rasterio.transform import Affine

        return Affine(*self.transform)

    def window(self, y: int, x: int) -> "Georef":
        """The georeferencing of a sub-window whose top-left pixel is ``(y, x)``."""
        a, b, c, d, e, f = self.transform
        return Georef(self.crs, (a, b, c + a * x + b * y, d, e, f + d * x + e * y), self.nodata)


def gdal_message(err) -> str:
    """GDAL's own words for ``err``, without the folders it puts in them (an upload's path on
    the server means nothing to the person who sent it). A failed read says only "Read
    failed. See previous exception for details."; the previous exception says what failed."""
    import re

    cause = err.__cause__ or err.__context__
    text = str(cause) if cause is not None and "previous exception" in str(err) else str(err)
    return re.sub(r"(/[^\s:'\"]+/)+", "", text).strip() or type(err).__name__


def _read_pixels(path: Path, what: str, read):
    """``read()`` (a rasterio read of ``path``), a damaged file's failure as a ``ValueError``
    naming the file: its header was read, so its data is cut short or corrupt."""
    try:
        return read()
    except Exception as err:  # RasterioIOError and GDAL's CPLE_* errors share no base class
        raise ValueError(f"the {what} {path.name} is damaged: its pixel data is cut short or corrupt "
                         f"({gdal_message(err)}); save it again") from err


def _georef_of(ds) -> Georef | None:
    if ds.crs is None and ds.transform.is_identity:
        return None  # a plain TIFF: no georeferencing to keep
    return Georef(ds.crs.to_wkt() if ds.crs else None, tuple(ds.transform)[:6], ds.nodata)


def _to_uint8(bands: np.ndarray, valid: np.ndarray, scale: float | None) -> np.ndarray:
    """``3xHxW`` of any dtype -> ``HxWx3 uint8``. Non-uint8 data (e.g. 16-bit reflectances)
    are divided by ``scale``, by default the 99th percentile of the valid pixels, so one
    scene has one consistent stretch."""
    if bands.dtype == np.uint8:
        out = bands
    else:
        data = np.where(valid, bands.astype(np.float64), 0.0)  # NaN on nodata would not survive the cast
        if scale is None:
            scale = float(np.percentile(data[:, valid], 99)) if valid.any() else 1.0
        out = np.clip(data / max(scale, 1e-12) * 255.0, 0, 255).round().astype(np.uint8)
    out = np.moveaxis(out, 0, -1).copy()
    out[~valid] = 0
    return out


def rgb_band_choice(count: int, colorinterp=(), descriptions=()) -> tuple[int, int, int]:
    """The 0-based bands shown as red, green, blue, when the user names none.

    1. bands whose colour interpretation says red, green, blue;
    2. bands described as Sentinel-2's B4, B3, B2 (``"B4"``, ``"B04"``, ``"red"``, ...);
    3. 12 or more bands: a full Sentinel-2 stack in band order (B1, B2, B3, B4, ...), so 3, 2, 1;
    4. otherwise the first three (RGB, or RGB + near infrared as in most aerial 4-band files).
    """
    interp = [str(getattr(c, "name", c)).lower() for c in colorinterp]
    if all(name in interp for name in ("red", "green", "blue")):
        return interp.index("red"), interp.index("green"), interp.index("blue")
    names = [str(d or "").strip().lower() for d in descriptions]
    aliases = {"red": ("b4", "b04", "red"), "green": ("b3", "b03", "green"), "blue": ("b2", "b02", "blue")}
    found = [next((i for i, n in enumerate(names) if n in aliases[c]), None) for c in ("red", "green", "blue")]
    if None not in found:
        return tuple(found)
    if count >= 12:
        return 3, 2, 1
    return 0, 1, 2


@dataclass
class Raster:
    """A GeoTIFF as read, every band in its own dtype, and what a model sees of it.

    ``data``: ``BxHxW`` in the file's dtype; ``valid``: ``HxW`` bool (False on nodata: any
    band at the nodata value or masked, or any value NaN or infinite);
    ``rgb_bands``: the 0-based bands shown as RGB; ``scale``: the display stretch of
    non-8-bit data (``value / scale * 255``, clipped), None for uint8; ``profile``: what
    rasterio needs to write the same kind of file back.
    """

    data: np.ndarray
    georef: Georef | None
    valid: np.ndarray
    rgb_bands: tuple[int, int, int]
    scale: float | None
    profile: dict

    def rgb(self) -> np.ndarray:
        """``HxWx3 uint8``: the RGB bands through the display stretch; nodata black."""
        return _to_uint8(self.data[list(self.rgb_bands)], self.valid, self.scale)

    def fill_input(self, hole: np.ndarray) -> np.ndarray:
        """``HxWx3 uint8``: :meth:`rgb` with each nodata pixel replaced by the nearest known pixel
        (valid, outside ``hole``), what a fill sees. Shown black, nodata entered the fills as dark
        context and darkened every hole beside it; a copy of the known pixels around it is
        context the fill already has, as the other bands' Telea fill already does."""
        rgb = self.rgb()
        known = self.valid & ~np.asarray(hole, bool)
        if known.all() or not known.any():
            return rgb
        from scipy.ndimage import distance_transform_edt

        rows, cols = distance_transform_edt(~known, return_distances=False, return_indices=True)
        out = rgb.copy()
        out[~self.valid] = rgb[rows[~self.valid], cols[~self.valid]]
        return out


def read_raster(path, bands: tuple[int, int, int] | None = None, scale: float | None = None,
                what: str = "tile") -> Raster:
    """Read a GeoTIFF whole. ``bands``: 1-based band numbers shown as RGB (default:
    :func:`rgb_band_choice`); ``scale``: the stretch of non-8-bit data (default: the 99th
    percentile of the valid pixels of the RGB bands); ``what`` names the file in errors."""
    import rasterio

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} not found: {path.name}")
    try:
        ds = rasterio.open(path)
    except Exception as err:  # RasterioIOError and GDAL's CPLE_* errors share no base class
        raise ValueError(f"the {what} {path.name} is not a readable GeoTIFF ({gdal_message(err)})") from err
    with ds:
        if bands is not None:
            if len(bands) != 3 or not all(1 <= b <= ds.count for b in bands):
                raise ValueError(f"--rgb-bands must name 3 bands between 1 and {ds.count}, got {bands}")
            rgb_bands = tuple(b - 1 for b in bands)
        elif ds.count < 3:
            raise ValueError(f"the {what} {path.name} has {ds.count} band(s); an RGB GeoTIFF needs 3 (the batch "
                             "command's --rgb-bands 1,1,1 shows one band as grey)")
        else:
            rgb_bands = rgb_band_choice(ds.count, ds.colorinterp, ds.descriptions)
        data = _read_pixels(path, what, ds.read)
        # nodata where any band says so: a band at the nodata value is no data to fill from,
        # nor one to overwrite (the dataset mask marks only pixels where every band is nodata)
        valid = np.ones(data.shape[1:], bool)
        for band in range(1, ds.count + 1):
            valid &= _read_pixels(path, what, lambda: ds.read_masks(band)) > 0
        georef = _georef_of(ds)
        profile = dict(ds.profile)
        profile["descriptions"] = ds.descriptions
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(data).all(axis=0)  # NaN is nodata whatever the file declares
    if data.dtype != np.uint8 and scale is None:
        picked = data[list(rgb_bands)].astype(np.float64)
        scale = float(np.percentile(picked[:, valid], 99)) if valid.any() else 1.0
        scale = max(scale, 1e-12)
    return Raster(data, georef, valid, rgb_bands, None if data.dtype == np.uint8 else scale, profile)


def _nudge_off_nodata(values: np.ndarray, nodata, dtype, towards: float | None) -> np.ndarray:
    """Values equal to ``nodata`` moved by the smallest step of ``dtype`` towards ``towards``
    (the band's typical value), so a filled pixel never reads as nodata and moves as little as
    can be: one for integers, the next representable float for floats (a step of 1 took a
    reflectance of 0 in 0-1 data to the top of its range)."""
    dtype = np.dtype(dtype)
    if nodata is None or np.isnan(nodata):
        return values
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if not info.min <= nodata <= info.max or nodata != int(nodata):
            return values  # no value of this dtype can equal it
        up = nodata < info.max and (towards is None or towards > nodata or nodata == info.min)
        moved = dtype.type(int(nodata) + (1 if up else -1))
    else:
        up = towards is None or towards > nodata
        moved = np.nextafter(dtype.type(nodata), dtype.type(np.inf if up else -np.inf))
    hit = values == dtype.type(nodata)
    if hit.any():
        values = values.copy()
        values[hit] = moved
    return values


def write_filled(path, raster: Raster, filled_rgb: np.ndarray, mask: np.ndarray) -> Path:
    """Write ``raster`` with its hole ``mask`` filled, as a GeoTIFF of the same kind.

    ``filled_rgb``: the fill as the model returned it (``HxWx3 uint8``, in the display
    stretch). Hole pixels of the RGB bands get the inverse stretch of it, in the file's
    dtype; hole pixels of the other bands get Telea's fill of that band. Nodata pixels are
    never filled, filled pixels never take the nodata value, and everything else is the
    input, bit for bit. Type, band count, CRS, transform, nodata and band descriptions are
    kept.
    """
    import cv2
    import rasterio

    data = raster.data
    mask = np.asarray(mask, bool) & raster.valid
    if filled_rgb.shape != data.shape[1:] + (3,) or filled_rgb.dtype != np.uint8:
        raise ValueError(f"the fill must be {data.shape[2]}x{data.shape[1]}x3 uint8, got {filled_rgb.dtype} "
                         f"{filled_rgb.shape}")
    sources = raster.valid & ~mask
    if mask.any() and not sources.any():
        raise ValueError(_NOTHING_KNOWN)
    out = data.copy()
    dtype = data.dtype
    nodata = raster.profile.get("nodata")
    limits = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None

    def typical(band: int) -> float | None:  # the way a value at nodata steps off it: towards the data
        known = data[band][sources]
        return float(np.median(known)) if known.size else None

    for channel, band in enumerate(raster.rgb_bands):
        values = filled_rgb[..., channel][mask].astype(np.float64)
        if raster.scale is not None:
            values = values / 255.0 * raster.scale
        if limits is not None:
            values = np.clip(np.round(values), limits.min, limits.max)
        out[band][mask] = _nudge_off_nodata(values.astype(dtype), nodata, dtype, typical(band))
    others = [b for b in range(data.shape[0]) if b not in raster.rgb_bands]
    if others and mask.any():
        hole = mask.astype(np.uint8) * 255
        nearest = None
        if not sources.all():  # Telea must not average nodata in: give it valid values
            from scipy.ndimage import distance_transform_edt

            nearest = distance_transform_edt(~sources, return_indices=True)[1]
        for band in others:
            work = data[band].astype(np.float32)
            if nearest is not None:
                work = work[nearest[0], nearest[1]]
            filled = cv2.inpaint(work, hole, 5, cv2.INPAINT_TELEA)
            known = data[band][sources].astype(np.float64)
            # Telea extrapolates gradients, which can overshoot: keep the band inside its own range
            values = np.clip(filled[mask].astype(np.float64), known.min(), known.max())
            if limits is not None:
                values = np.round(values)
            out[band][mask] = _nudge_off_nodata(values.astype(dtype), nodata, dtype, typical(band))
    profile = {k: v for k, v in raster.profile.items() if k != "descriptions"}
    profile.update(driver="GTiff", count=data.shape[0], dtype=str(dtype), height=data.shape[1], width=data.shape[2])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(out)
        for i, text in enumerate(raster.profile.get("descriptions") or ()):
            if text:
                ds.set_band_description(i + 1, text)
    return path


_NOTHING_KNOWN = ("the hole covers every pixel that holds data (the rest is nodata), so there is nothing to fill it "
                  "from: leave part of the tile's data outside the hole")


def fill_raster(inpainter, raster: Raster, mask: np.ndarray, strategy: str | None = None,
                **extra) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``raster``'s hole ``mask`` (``HxW`` bool) with ``inpainter``, nodata unknown to it.

    The one way a GeoTIFF is filled (the app, the batch CLI): nodata is never part of the hole
    (``hole = mask & valid``), nor of the context the fill sees (:meth:`Raster.fill_input`).
    Returns ``(filled HxWx3 uint8, hole)``: the fill in the display stretch, nodata pixels
    shown black as :meth:`Raster.rgb` shows them; hand both to :func:`write_filled`. A hole
    that leaves no valid pixel to fill from raises ``ValueError``.
    """
    hole = np.asarray(mask, bool) & raster.valid
    if hole.any() and not (raster.valid & ~hole).any():
        raise ValueError(_NOTHING_KNOWN)
    shown = raster.rgb()
    filled = inpainter.inpaint(raster.fill_input(hole), hole, strategy=strategy, **extra)
    filled[~raster.valid] = shown[~raster.valid]
    return filled, hole
