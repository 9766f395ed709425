"""A GeoTIFF as it is, filled, and written back as it was: the faithful write-back of rasters.

* :class:`Georef` - where a raster lies (CRS, affine transform, nodata);
* :func:`read_raster` - a GeoTIFF whole, every band in its own dtype (any dtype, any band
  count), with what a fill sees of it: three bands stretched to 8 bits (:class:`Raster`);
* :func:`fill_raster` - the one way a GeoTIFF is filled (the app, the batch CLI): nodata is
  neither hole nor context of the fill;
* :func:`write_filled` - the way back: the filled pixels through the inverse stretch into the
  file's own dtype, the other bands' holes by OpenCV's Telea fill within the band's range,
  every pixel outside the hole bit-identical, nodata neither filled nor created
  (:func:`filled_bands` gives those values without writing, for a window of a scene with the
  whole scene's :class:`BandStats`).

A pixel is nodata where any band holds the file's nodata value, its mask says so, or a value
is NaN or infinite (whatever the file declares: no stretch or fill can use such a value).
Tiles, land cover and training windows build on this in :mod:`inpaint_core.data.geo`. rasterio is
imported only inside the functions that read or write, so PNG users need not have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Georef", "Raster", "BandStats", "read_raster", "fill_raster", "band_stats", "filled_bands", "write_filled",
           "rgb_band_choice", "gdal_message"]


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


def shown_bands(ds, bands: tuple[int, int, int] | None, path: Path, what: str) -> tuple[int, int, int]:
    """The 0-based bands of the open dataset ``ds`` shown as RGB: ``bands`` (1-based, checked)
    or :func:`rgb_band_choice`'s; a file of fewer than 3 bands needs them named."""
    if bands is not None:
        if len(bands) != 3 or not all(1 <= b <= ds.count for b in bands):
            raise ValueError(f"--rgb-bands must name 3 bands between 1 and {ds.count}, got {bands}")
        return tuple(b - 1 for b in bands)
    if ds.count < 3:
        raise ValueError(f"the {what} {path.name} has {ds.count} band(s); an RGB GeoTIFF needs 3 (the batch "
                         "command's --rgb-bands 1,1,1 shows one band as grey)")
    return rgb_band_choice(ds.count, ds.colorinterp, ds.descriptions)


def valid_pixels(ds, data: np.ndarray, path: Path, what: str, window=None) -> np.ndarray:
    """``HxW`` bool, False on nodata, for ``data`` (``BxHxW``, every band of ``ds`` read over
    ``window``, the whole raster by default): any band at the nodata value or masked, any
    value NaN or infinite, or an alpha band at 0. A band at the nodata value is no data to fill from, nor one to
    overwrite (the dataset mask marks only pixels where every band is nodata)."""
    from rasterio.enums import MaskFlags

    valid = np.ones(data.shape[1:], bool)
    nodata = ds.nodata
    # an alpha band says transparency, not data: its 0 is no data, its opaque value never is
    alpha = [i for i, c in enumerate(ds.colorinterp) if str(getattr(c, "name", c)).lower() == "alpha"]
    by_value = (all(flags == [MaskFlags.nodata] for flags in ds.mask_flag_enums) and nodata is not None
                and not np.isnan(nodata) and (data.dtype == np.float32 or
                                              (np.issubdtype(data.dtype, np.integer) and _fits(nodata, data.dtype))))
    if by_value:
        # GDAL's mask of a nodata value, without GDAL reading every band again to build it: the
        # value in the band's type (float32 data meet it as a float32; GDAL's tolerance, 1e-10
        # relative, is below float32's resolution). Other cases are left to GDAL.
        bands = [i for i in range(data.shape[0]) if i not in alpha] or list(range(data.shape[0]))
        valid &= (data[bands] != np.array(nodata).astype(data.dtype)).all(axis=0)
    elif not all(flags == [MaskFlags.all_valid] for flags in ds.mask_flag_enums):
        for band in range(1, ds.count + 1):
            valid &= _read_pixels(path, what, lambda: ds.read_masks(band, window=window)) > 0
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(data).all(axis=0)  # NaN is nodata whatever the file declares
    # a transparent pixel is no data either, even where a nodata value is declared (GDAL's mask
    # then follows the value alone and would take a transparent pixel as data)
    for band in alpha:
        valid &= data[band] > 0
    return valid


def _fits(value: float, dtype) -> bool:
    """Whether an integer of ``dtype`` equals ``value`` (a nodata of -1 in uint8 data masks nothing)."""
    info = np.iinfo(dtype)
    return info.min <= value <= info.max and value == int(value)


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
        rgb_bands = shown_bands(ds, bands, path, what)
        data = _read_pixels(path, what, ds.read)
        valid = valid_pixels(ds, data, path, what)
        georef = _georef_of(ds)
        profile = dict(ds.profile)
        profile["descriptions"] = ds.descriptions
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


@dataclass(frozen=True)
class BandStats:
    """What the write-back knows of each band beyond the pixels it writes, from the known pixels
    (valid, outside the hole) of the whole raster: ``low``/``high``, the range the other bands'
    Telea fill is kept in; ``typical``, the median a value at nodata steps towards (None where
    the file has no nodata value, which makes it unused). A window of a scene is written with
    the scene's statistics (:mod:`inpaint_core.scene.plan`), so it comes out as the whole would."""

    low: tuple[float | None, ...]
    high: tuple[float | None, ...]
    typical: tuple[float | None, ...]


def band_stats(raster: Raster, mask: np.ndarray) -> BandStats:
    """:class:`BandStats` of ``raster`` with hole ``mask`` (``HxW`` bool)."""
    data = raster.data
    sources = raster.valid & ~np.asarray(mask, bool)
    nodata = raster.profile.get("nodata")
    low, high, typical = [], [], []
    for band in range(data.shape[0]):
        known = data[band][sources]
        low.append(float(known.min()) if known.size else None)
        high.append(float(known.max()) if known.size else None)
        needed = nodata is not None and not np.isnan(nodata) and known.size
        typical.append(float(np.median(known)) if needed else None)
    return BandStats(tuple(low), tuple(high), tuple(typical))


def filled_bands(raster: Raster, filled_rgb: np.ndarray, mask: np.ndarray, stats: BandStats | None = None) -> np.ndarray:
    """``raster.data`` (``BxHxW``, its dtype) with the hole ``mask`` filled, as :func:`write_filled`
    writes it. ``stats``: the bands' :class:`BandStats`, by default those of ``raster`` itself."""
    import cv2

    data = raster.data
    mask = np.asarray(mask, bool) & raster.valid
    if filled_rgb.shape != data.shape[1:] + (3,) or filled_rgb.dtype != np.uint8:
        raise ValueError(f"the fill must be {data.shape[2]}x{data.shape[1]}x3 uint8, got {filled_rgb.dtype} "
                         f"{filled_rgb.shape}")
    sources = raster.valid & ~mask
    if mask.any() and not sources.any():
        raise ValueError(_NOTHING_KNOWN)
    stats = stats or band_stats(raster, mask)
    out = data.copy()
    dtype = data.dtype
    nodata = raster.profile.get("nodata")
    limits = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    for channel, band in enumerate(raster.rgb_bands):
        values = filled_rgb[..., channel][mask].astype(np.float64)
        if raster.scale is not None:
            values = values / 255.0 * raster.scale
        if limits is not None:
            values = np.clip(np.round(values), limits.min, limits.max)
        # the way a value at nodata steps off it: towards the band's data
        out[band][mask] = _nudge_off_nodata(values.astype(dtype), nodata, dtype, stats.typical[band])
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
            # Telea extrapolates gradients, which can overshoot: keep the band inside its own range
            values = np.clip(filled[mask].astype(np.float64), stats.low[band], stats.high[band])
            if limits is not None:
                values = np.round(values)
            out[band][mask] = _nudge_off_nodata(values.astype(dtype), nodata, dtype, stats.typical[band])
    return out


def write_filled(path, raster: Raster, filled_rgb: np.ndarray, mask: np.ndarray) -> Path:
    """Write ``raster`` with its hole ``mask`` filled, as a GeoTIFF of the same kind.

    ``filled_rgb``: the fill as the model returned it (``HxWx3 uint8``, in the display
    stretch). Hole pixels of the RGB bands get the inverse stretch of it, in the file's
    dtype; hole pixels of the other bands get Telea's fill of that band. Nodata pixels are
    never filled, filled pixels never take the nodata value, and everything else is the
    input, bit for bit. Type, band count, CRS, transform, nodata and band descriptions are
    kept.
    """
    import rasterio

    out = filled_bands(raster, filled_rgb, mask)
    profile = {k: v for k, v in raster.profile.items() if k != "descriptions"}
    profile.update(driver="GTiff", count=out.shape[0], dtype=str(out.dtype), height=out.shape[1], width=out.shape[2])
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
