"""Raster I/O for satellite and aerial tiles: PNG/JPEG with Pillow, GeoTIFF with rasterio.

* :func:`read_rgb` / :func:`write_geotiff` - RGB tiles; GeoTIFFs keep their georeferencing
  (CRS, affine transform, nodata) in a :class:`Georef`; other tiles go through the one picture
  reader and writer of :mod:`inpaint_core.data.pictures`.
* :func:`read_tile` - the one reader of a tile and its land cover (app, CLI, evaluate, training).
* :func:`read_raster` / :func:`fill_raster` / :func:`write_filled` - a GeoTIFF as it is and
  its faithful write-back, from :mod:`inpaint_core.data.raster` (imported here too, where the
  tile readers and the README have always named them).
* :func:`read_landcover` - a land-cover raster -> ``HxW int64`` class indices: colour
  PNGs (RGB or palette), coded PNG/TIF (one band of class codes) or a GeoTIFF in any CRS,
  reprojected (nearest neighbour, so no invented classes) onto an RGB scene's grid.
* :func:`prepare_tiles` - the research's setting, done once: a GeoTIFF scene + land-cover
  GeoTIFF cut into sliding windows, kept when :class:`ValidityRules` say they are usable,
  written as PNG tiles (RGB + class codes) with a ``manifest.json`` of their georeferencing.

rasterio is imported only inside the GeoTIFF paths, so PNG users and the training
machines need not have it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint_core.data.landcover import TABLE_HELP, ClassTable, get_class_table
from inpaint_core.data.pictures import read_picture, write_png
from inpaint_core.data.raster import (  # noqa: F401 - re-exported: geo is where callers have found them
    Georef,
    Raster,
    _georef_of,
    _read_pixels,
    fill_raster,
    gdal_message,
    read_raster,
    rgb_band_choice,
    write_filled,
)

__all__ = [
    "Georef", "Raster", "Tile", "read_tile", "read_rgb", "read_raster", "write_filled", "rgb_band_choice", "read_landcover",
    "write_geotiff", "reproject_nearest", "sliding_windows", "ValidityRules", "prepare_tiles",
    "is_geotiff", "fill_raster", "gdal_message",
]  # fmt: skip

GEOTIFF_SUFFIXES = (".tif", ".tiff")


def is_geotiff(path) -> bool:
    return Path(path).suffix.lower() in GEOTIFF_SUFFIXES


def read_rgb(path, scale: float | None = None, with_valid: bool = False, bands: tuple[int, int, int] | None = None):
    """Read an RGB tile: PNG/JPEG/WebP -> ``(HxWx3 uint8, None)``; GeoTIFF -> ``(HxWx3 uint8, Georef)``.

    GeoTIFFs show the bands :func:`rgb_band_choice` picks (or ``bands``, 1-based), stretched
    to 8 bits as :class:`Raster` says; nodata pixels come back black. With
    ``with_valid=True`` a third item, the ``HxW bool`` map of valid (not nodata) pixels,
    is returned too. :func:`read_raster` keeps the whole file for a faithful write-back.
    Other tiles are read by the one picture reader (:func:`~inpaint_core.data.pictures.read_picture`:
    8-bit only, transparency on white) as stored, not turned by an EXIF orientation: a tile's
    pixels line up with its land cover's.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image not found: {path.name}")
    if is_geotiff(path):
        raster = read_raster(path, bands=bands, scale=scale)
        rgb, georef, valid = raster.rgb(), raster.georef, raster.valid
    else:
        rgb = read_picture(path, "tile", limit=False, exif=False)
        georef, valid = None, np.ones(rgb.shape[:2], bool)
    return (rgb, georef, valid) if with_valid else (rgb, georef)


@dataclass
class Tile:
    """A tile and its land cover, read together (see :func:`read_tile`)."""

    rgb: np.ndarray  # HxWx3 uint8: what the fills see (a GeoTIFF's RGB bands through its display stretch)
    landcover: np.ndarray  # HxW int64 indices into the class table, on the tile's grid
    georef: Georef | None  # the tile's georeferencing (GeoTIFFs), else None
    raster: Raster | None = None  # the whole GeoTIFF, for a faithful write-back (write_filled), else None

    @property
    def valid(self) -> np.ndarray:
        """``HxW`` bool: False on the tile's nodata pixels (never filled)."""
        return self.raster.valid if self.raster is not None else np.ones(self.landcover.shape, bool)


def read_tile(image_path, landcover_path, table, bands: tuple[int, int, int] | None = None) -> Tile:
    """The one reader of a tile and its land cover, for the app, the batch CLI, evaluate and training.

    The tile: PNG/JPEG/WebP, or a GeoTIFF kept whole (:func:`read_raster`; ``bands`` are its
    1-based RGB bands). The land cover: see :func:`read_landcover`; a GeoTIFF land cover of a
    GeoTIFF tile is reprojected onto the tile's grid whatever its CRS. Raises ``ValueError``
    naming the file for an unreadable one, and when the two sizes differ.
    """
    image_path, landcover_path = Path(image_path), Path(landcover_path)
    raster = None
    try:
        if is_geotiff(image_path):
            raster = read_raster(image_path, bands=bands)
            rgb, georef = raster.rgb(), raster.georef
        else:
            rgb, georef = read_rgb(image_path)
    except ValueError:
        raise
    except Exception as err:  # rasterio and PIL raise their own types for files that are no image
        raise ValueError(f"the tile {image_path.name} could not be read as an image ({err})") from err
    target = (georef, rgb.shape[:2]) if georef is not None and is_geotiff(landcover_path) else None
    try:
        landcover = read_landcover(landcover_path, table, target=target)
    except ValueError:
        raise
    except Exception as err:
        raise ValueError(f"the land cover {landcover_path.name} could not be read ({err})") from err
    if landcover.shape != rgb.shape[:2]:
        raise ValueError(f"the land cover {landcover_path.name} is {landcover.shape[1]}x{landcover.shape[0]} pixels "
                         f"but the tile {image_path.name} is {rgb.shape[1]}x{rgb.shape[0]}; they must match")
    return Tile(rgb, landcover, georef, raster)


def reproject_nearest(src: np.ndarray, src_ref: Georef, dst_ref: Georef, dst_shape: tuple[int, int],
                      fill: int) -> np.ndarray:
    """Reproject a 2-D integer raster onto another grid by nearest neighbour (codes stay codes).

    Pixels of the destination the source does not cover get ``fill``.
    """
    from rasterio.crs import CRS
    from rasterio.warp import Resampling, reproject

    if src_ref.crs is None or dst_ref.crs is None:
        raise ValueError("both rasters need a CRS to be reprojected onto each other")
    work = src.astype(np.int32)
    dst = np.full(dst_shape, fill, dtype=np.int32)
    reproject(
        work, dst, src_transform=src_ref.affine(), src_crs=CRS.from_wkt(src_ref.crs),
        dst_transform=dst_ref.affine(), dst_crs=CRS.from_wkt(dst_ref.crs), resampling=Resampling.nearest,
        src_nodata=fill, dst_nodata=fill,
    )  # fmt: skip
    return dst


def _check_overlap(name: str, src_ref: Georef, src_bounds, dst_ref: Georef, shape: tuple[int, int]) -> None:
    """``ValueError`` with both bounds when a land cover does not overlap the tile at all: read
    onto the tile's grid it would be nodata everywhere, and every later step would then say
    something true but useless (no selected class occurs in this tile)."""
    from rasterio.crs import CRS
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    if src_ref.crs is None or dst_ref.crs is None:
        return  # reproject_nearest says that both need a CRS
    dst_crs = CRS.from_wkt(dst_ref.crs)
    west, south, east, north = array_bounds(shape[0], shape[1], dst_ref.affine())
    tile = (min(west, east), min(south, north), max(west, east), max(south, north))
    lc = transform_bounds(CRS.from_wkt(src_ref.crs), dst_crs, *src_bounds)
    if lc[0] < tile[2] and tile[0] < lc[2] and lc[1] < tile[3] and tile[1] < lc[3]:
        return

    def text(b):
        return f"x {b[0]:.6g} to {b[2]:.6g}, y {b[1]:.6g} to {b[3]:.6g}"

    crs = dst_crs.to_string() if dst_crs.to_epsg() is None else f"EPSG:{dst_crs.to_epsg()}"
    raise ValueError(f"the land cover {name} does not overlap the tile: it covers {text(lc)}, the tile covers "
                     f"{text(tile)} (both in the tile's CRS, {crs}); upload the land cover of this tile")


def _nodata_code(table: ClassTable) -> int | None:
    idx = table.nodata_indices
    return table[idx[0]].code if idx else None


def read_landcover(path, table, target: tuple[Georef, tuple[int, int]] | None = None,
                   unknown: int | None = None) -> np.ndarray:
    """Read a land-cover raster as an ``HxW int64`` map of indices into ``table``.

    * PNG/JPEG in RGB or palette mode: colours mapped through the table;
    * single-band PNG (L, I, I;16) or TIFF: class codes mapped through the table;
    * GeoTIFF with ``target=(georef, (h, w))``: reprojected by nearest neighbour onto
      that grid (any CRS); pixels it does not cover become the table's nodata class.
    Unknown colours/codes raise ``ValueError`` with their pixel counts (see ``unknown``);
    every ``ValueError`` names the file.
    """
    table = get_class_table(table)
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"land-cover file not found: {path.name}")
    try:
        return _read_landcover(path, table, target, unknown)
    except ValueError as err:  # the class table's own errors do not say which file they are about
        if path.name in str(err):
            raise
        raise ValueError(f"the land cover {path.name}: {err}") from err


def _read_landcover(path: Path, table: ClassTable, target, unknown) -> np.ndarray:
    if is_geotiff(path):
        import rasterio

        try:
            ds = rasterio.open(path)
        except Exception as err:  # RasterioIOError and GDAL's CPLE_* errors share no base class
            raise ValueError(f"the land cover {path.name} is not a readable GeoTIFF ({gdal_message(err)})") from err
        with ds:
            data = _read_pixels(path, "land cover", ds.read)
            src_ref = _georef_of(ds)
            src_bounds = tuple(ds.bounds)
        if data.shape[0] >= 3:  # a colour-coded GeoTIFF
            if target is not None:
                raise ValueError(f"{path.name}: reprojecting a colour-coded raster is not supported; use a coded one")
            return table.index_from_colors(np.moveaxis(data[:3], 0, -1).astype(np.uint8), unknown)
        codes = data[0]
        if target is not None:
            ref, shape = target
            if src_ref is None:
                raise ValueError(f"{path.name} has no georeferencing, so it cannot be placed on the scene's grid")
            _check_overlap(path.name, src_ref, src_bounds, ref, shape)
            fill = _nodata_code(table)
            sentinel = -(2**31) + 1 if fill is None else fill
            codes = reproject_nearest(codes, src_ref, ref, shape, sentinel)
            if fill is None and (codes == sentinel).any():
                raise ValueError(f"{path.name} does not cover {(codes == sentinel).sum()} pixels of the scene and "
                                 f"table {table.name!r} has no nodata class to give them")
        return table.index_from_codes(codes.astype(np.int64), unknown)
    try:
        with Image.open(path) as im:
            if im.mode in ("P", "RGB", "RGBA", "PA", "LA") or im.mode.startswith("RGB"):
                rgb = np.asarray(im.convert("RGB"))  # palette masks: their colours, not their palette indices
                return table.index_from_colors(rgb, unknown)
            codes = np.asarray(im)
    except (OSError, SyntaxError, EOFError) as err:
        raise ValueError(f"{path.name} is not a readable land-cover image ({err})") from err
    return table.index_from_codes(codes.astype(np.int64), unknown)


def write_geotiff(path, rgb: np.ndarray, georef: Georef | None) -> Path:
    """Write ``HxWx3 uint8`` as a 3-band GeoTIFF keeping ``georef``'s CRS, transform and nodata."""
    import rasterio
    from rasterio.crs import CRS

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"write_geotiff wants HxWx3 uint8, got {rgb.dtype} {rgb.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "height": rgb.shape[0], "width": rgb.shape[1], "count": 3, "dtype": "uint8"}
    if georef is not None:
        profile["transform"] = georef.affine()
        if georef.crs:
            profile["crs"] = CRS.from_wkt(georef.crs)
        if georef.nodata is not None:
            profile["nodata"] = georef.nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.moveaxis(rgb, -1, 0))
    return path


def sliding_windows(h: int, w: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` of ``size`` windows every ``stride`` px inside ``h x w``."""
    if h < size or w < size:
        return []
    return [(y, x) for y in range(0, h - size + 1, stride) for x in range(0, w - size + 1, stride)]


@dataclass
class ValidityRules:
    """When a window is usable: at most ``max_nodata`` of it nodata (the scene's nodata
    pixels or the table's nodata classes) and at most ``max_class_fraction[name]`` of each
    named class. Class names the table lacks are ignored (e.g. snow in a 9-class table)."""

    max_nodata: float = 0.01
    max_class_fraction: dict[str, float] = field(default_factory=lambda: {
        "Clouds": 0.05, "Permanent snow covered surfaces": 0.01, "Water bodies": 0.4,
    })  # fmt: skip

    def reject_reason(self, landcover: np.ndarray, valid: np.ndarray, table: ClassTable) -> str | None:
        """``None`` if the ``HxW`` window is usable, else the name of the rule it breaks."""
        nodata = ~valid | np.isin(landcover, table.nodata_indices)
        if nodata.mean() > self.max_nodata:
            return "nodata"
        names = table.names
        for name, limit in self.max_class_fraction.items():
            if name in names and (landcover == names.index(name)).mean() > limit:
                return name
        return None


def prepare_tiles(scene, landcover, table, out_dir, size: int = 256, stride: int = 256,
                  rules: ValidityRules | None = None, scale: float | None = None) -> dict:
    """Cut a GeoTIFF scene + land-cover raster into valid tiles, once.

    Writes ``out_dir/images/<stem>_<y>_<x>.png`` (RGB), ``out_dir/landcover/...png``
    (class *codes*, so a finer table's tiles also read through a coarser one such as
    s2glc9) and ``manifest.json`` (table, CRS, each tile's transform, rejection counts).
    Returns the manifest. A second call with a manifest present does nothing.
    """
    table = get_class_table(table)
    rules = rules or ValidityRules()
    out_dir = Path(out_dir)
    manifest_path = out_dir / "manifest.json"
    if manifest_path.is_file():
        return json.loads(manifest_path.read_text())
    rgb, ref, valid = read_rgb(scene, scale=scale, with_valid=True)
    h, w = rgb.shape[:2]
    lc = read_landcover(landcover, table, target=(ref, (h, w)) if ref is not None and is_geotiff(landcover) else None)
    if lc.shape != (h, w):
        raise ValueError(f"land cover is {lc.shape[1]}x{lc.shape[0]} but the scene is {w}x{h}")
    stem = Path(scene).stem
    tiles, rejected = [], {}
    for y, x in sliding_windows(h, w, size, stride):
        win_lc, win_valid = lc[y : y + size, x : x + size], valid[y : y + size, x : x + size]
        reason = rules.reject_reason(win_lc, win_valid, table)
        if reason:
            rejected[reason] = rejected.get(reason, 0) + 1
            continue
        name = f"{stem}_{y:06d}_{x:06d}.png"
        write_png(out_dir / "images" / name, rgb[y : y + size, x : x + size])
        write_png(out_dir / "landcover" / name, table.codes_from_index(win_lc))
        tiles.append({"file": name, "y": y, "x": x,
                      "transform": list(ref.window(y, x).transform) if ref else None})
    manifest = {"scene": str(scene), "landcover": str(landcover), "classes": table.name, "table": table.to_json(),
                "crs": ref.crs if ref else None, "size": size, "stride": stride, "rules": asdict(rules),
                "tiles": tiles, "rejected": rejected, "label_format": "codes"}  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Cut a GeoTIFF scene + land-cover raster into training tiles.")
    parser.add_argument("scene", help="RGB GeoTIFF")
    parser.add_argument("landcover", help="land-cover raster of class codes (GeoTIFF in any CRS, or PNG on the scene grid)")
    parser.add_argument("out", help="output folder (images/, landcover/, manifest.json)")
    parser.add_argument("--classes", default="s2glc", help=TABLE_HELP)
    parser.add_argument("--size", type=int, default=256, help="tile side in px")
    parser.add_argument("--stride", type=int, default=256, help="step between tiles in px")
    parser.add_argument("--max-nodata", type=float, default=0.01, help="largest nodata share of a kept tile")
    parser.add_argument("--max-class", action="append", default=[], metavar="NAME=FRACTION",
                        help="largest share of a class in a kept tile (repeatable; replaces the defaults)")
    args = parser.parse_args()
    rules = ValidityRules(max_nodata=args.max_nodata)
    if args.max_class:
        rules.max_class_fraction = {k: float(v) for k, v in (item.rsplit("=", 1) for item in args.max_class)}
    m = prepare_tiles(args.scene, args.landcover, args.classes, args.out, args.size, args.stride, rules)
    print(f"{len(m['tiles'])} tiles written to {args.out}; rejected: {m['rejected']}")
