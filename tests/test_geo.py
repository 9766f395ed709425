"""GeoTIFF I/O: georeferencing survives a round trip; land cover in another CRS is
reprojected by nearest neighbour onto the scene's grid; prepared tiles follow the rules."""

import json

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from rasterio.crs import CRS  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402
from rasterio.warp import transform as warp_points  # noqa: E402

from inpaint_core.data.geo import (  # noqa: E402
    Georef,
    ValidityRules,
    prepare_tiles,
    read_landcover,
    read_rgb,
    sliding_windows,
    write_geotiff,
)
from inpaint_core.data.landcover import get_class_table  # noqa: E402
from inpaint_core.data.pictures import write_png  # noqa: E402
from inpaint_core.data.datasets import SatelliteTiles  # noqa: E402
from inpaint_core.data.tiles import find_tile_pairs  # noqa: E402

UTM32 = CRS.from_epsg(32632)  # Denmark, as in the research's Sentinel-2 tiles
ORIGIN = (500_000.0, 6_200_000.0)  # UTM 32N metres
PIXEL = 10.0


def scene_ref() -> Georef:
    return Georef(UTM32.to_wkt(), tuple(from_origin(*ORIGIN, PIXEL, PIXEL))[:6], 0.0)


def write_rgb_scene(path, h=64, w=64, dtype="uint8", nodata=0):
    rng = np.random.default_rng(0)
    data = rng.integers(1, 200, (3, h, w)).astype(dtype)
    data[:, :4, :4] = nodata  # a nodata corner
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=3, dtype=dtype, crs=UTM32,
                       transform=from_origin(*ORIGIN, PIXEL, PIXEL), nodata=nodata) as ds:
        ds.write(data)
    return data


def class_at(x, y):
    """The synthetic truth: S2GLC code by UTM position (west half water, east half crops)."""
    return np.where(x < ORIGIN[0] + 320.0, 162, 73)


def write_lc_in_wgs84(path, h=40, w=40):
    """A land-cover raster of codes in EPSG:4326 covering the scene, laid out by class_at."""
    lons, lats = warp_points(UTM32, "EPSG:4326", [ORIGIN[0] - 100, ORIGIN[0] + 740], [ORIGIN[1] + 100, ORIGIN[1] - 740])
    west, east, north, south = lons[0], lons[1], lats[0], lats[1]
    res_x, res_y = (east - west) / w, (north - south) / h
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    xs, ys = warp_points("EPSG:4326", UTM32, (west + cols * res_x).ravel(), (north - rows * res_y).ravel())
    codes = class_at(np.array(xs), np.array(ys)).reshape(h, w).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(west, north, res_x, res_y), nodata=255) as ds:
        ds.write(codes[None])


def test_geotiff_round_trip_keeps_crs_transform_and_nodata(tmp_path):
    data = write_rgb_scene(tmp_path / "scene.tif")
    rgb, ref = read_rgb(tmp_path / "scene.tif")
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)
    np.testing.assert_array_equal(rgb, np.moveaxis(data, 0, -1))
    assert CRS.from_wkt(ref.crs) == UTM32 and ref.nodata == 0
    write_geotiff(tmp_path / "out.tif", rgb, ref)
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.crs == UTM32 and ds.nodata == 0
        assert tuple(ds.transform)[:6] == pytest.approx(ref.transform)
        np.testing.assert_array_equal(np.moveaxis(ds.read(), 0, -1), rgb)
    rgb2, ref2 = read_rgb(tmp_path / "out.tif")
    assert ref2 == ref
    np.testing.assert_array_equal(rgb2, rgb)


def test_sixteen_bit_scene_is_stretched_to_uint8_with_nodata_black(tmp_path):
    write_rgb_scene(tmp_path / "s2.tif", dtype="uint16")
    rgb, ref, valid = read_rgb(tmp_path / "s2.tif", with_valid=True)
    assert rgb.dtype == np.uint8 and not valid[:4, :4].any() and valid[10:, 10:].all()
    assert (rgb[:4, :4] == 0).all() and rgb.max() == 255


def test_landcover_in_another_crs_is_reprojected_nearest(tmp_path):
    write_rgb_scene(tmp_path / "scene.tif")
    write_lc_in_wgs84(tmp_path / "lc.tif")
    _, ref = read_rgb(tmp_path / "scene.tif")
    table = get_class_table("s2glc")
    lc = read_landcover(tmp_path / "lc.tif", table, target=(ref, (64, 64)))
    assert lc.shape == (64, 64) and lc.dtype == np.int64
    codes = table.codes_from_index(lc)
    assert set(np.unique(codes)) <= {162, 73}  # nearest: no invented in-between codes
    cols = np.arange(64) + 0.5
    expected = class_at(ORIGIN[0] + cols * PIXEL, 0)
    agree = (codes == expected[None, :]).mean()
    assert agree > 0.95  # only pixels at the class boundary may land one source pixel off


def test_prepare_tiles_applies_rules_and_is_readable(tmp_path):
    write_rgb_scene(tmp_path / "scene.tif")
    write_lc_in_wgs84(tmp_path / "lc.tif")
    rules = ValidityRules(max_nodata=0.01, max_class_fraction={"Water bodies": 0.4})
    m = prepare_tiles(tmp_path / "scene.tif", tmp_path / "lc.tif", "s2glc", tmp_path / "tiles", 16, 16, rules)
    assert len(sliding_windows(64, 64, 16, 16)) == 16
    kept = {(t["y"], t["x"]) for t in m["tiles"]}
    assert (0, 0) not in kept  # the nodata corner
    assert all(x >= 32 for _, x in kept)  # the west half is all water
    assert m["rejected"]["nodata"] == 1 and m["rejected"]["Water bodies"] >= 7
    t = m["tiles"][0]
    assert t["transform"][2] == ORIGIN[0] + t["x"] * PIXEL and t["transform"][5] == ORIGIN[1] - t["y"] * PIXEL
    assert json.loads((tmp_path / "tiles" / "manifest.json").read_text())["tiles"] == m["tiles"]
    # the tiles store codes, so the 9-class table reads them too ("Cultivated areas" is kept)
    pairs = find_tile_pairs(tmp_path / "tiles")
    assert len(pairs) == len(kept)
    item = SatelliteTiles(pairs, "s2glc9", size=16, train=False)[0]
    assert item["landcover"].shape == (16, 16) and (item["landcover"] == get_class_table("s2glc9").index("Cultivated areas")).all()


def test_write_png_codes_and_rgb(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((3, 4, 3), np.uint8))
    rgb, ref = read_rgb(tmp_path / "a.png")
    assert ref is None and rgb.shape == (3, 4, 3)
    with pytest.raises(ValueError):
        read_rgb(tmp_path / "missing.png")


# --- faithful write-back of filled GeoTIFFs ----------------------------------------------------

def write_s2_like(path, h=48, w=64, count=4, nodata=0, descriptions=None):
    """A uint16 multi-band scene (12-bit reflectance-like values) in a projected CRS, with
    a nodata corner and band 4 (near infrared) unlike the others."""
    rng = np.random.default_rng(1)
    data = rng.integers(300, 4000, (count, h, w)).astype(np.uint16)
    data[:, :6, :6] = nodata
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=count, dtype="uint16", crs=UTM32,
                       transform=from_origin(*ORIGIN, PIXEL, PIXEL), nodata=nodata) as ds:
        ds.write(data)
        for i, text in enumerate(descriptions or ()):
            ds.set_band_description(i + 1, text)
    return data


def test_filled_geotiff_keeps_type_bands_georeferencing_and_untouched_pixels(tmp_path):
    from inpaint_core.data.geo import read_raster, write_filled

    data = write_s2_like(tmp_path / "s2.tif")
    raster = read_raster(tmp_path / "s2.tif")
    assert raster.rgb_bands == (0, 1, 2) and raster.scale > 255 and raster.data.dtype == np.uint16
    mask = np.zeros((48, 64), bool)
    mask[:20, :20] = True  # covers the nodata corner too: it must stay nodata
    fill = raster.rgb()
    fill[mask] = (0, 128, 255)  # a truly black red band: must not become nodata
    write_filled(tmp_path / "out.tif", raster, fill, mask)
    with rasterio.open(tmp_path / "s2.tif") as a, rasterio.open(tmp_path / "out.tif") as b:
        assert (b.dtypes, b.count, b.crs, b.transform, b.nodata) == (a.dtypes, a.count, a.crs, a.transform, a.nodata)
        out = b.read()
    filled = mask.copy()
    filled[:6, :6] = False
    np.testing.assert_array_equal(out[:, ~filled], data[:, ~filled])  # outside the hole and on nodata: bit-identical
    assert (out[:, :6, :6] == 0).all()
    assert (out[:, filled] != 0).all()  # no filled pixel reads as nodata
    assert (out[1, filled] == round(128 / 255 * raster.scale)).all()  # the inverse of the display stretch
    assert (out[2, filled] == min(round(raster.scale), 65535)).all()
    # the near-infrared band the model never sees: filled from its own surroundings (Telea)
    assert 300 <= out[3, filled].min() and out[3, filled].max() <= 4000
    again = read_raster(tmp_path / "out.tif", scale=raster.scale).rgb()
    assert np.abs(again[filled].astype(int) - fill[filled].astype(int)).max() <= 1


def test_rgb_bands_default_to_sentinel2_order_and_can_be_chosen(tmp_path):
    from inpaint_core.data.geo import read_raster, rgb_band_choice

    write_s2_like(tmp_path / "full.tif", count=12)
    assert read_raster(tmp_path / "full.tif").rgb_bands == (3, 2, 1)  # B4, B3, B2 of B1..B12
    write_s2_like(tmp_path / "ten.tif", count=4, descriptions=["B2", "B3", "B4", "B8"])
    assert read_raster(tmp_path / "ten.tif").rgb_bands == (2, 1, 0)
    assert read_raster(tmp_path / "ten.tif", bands=(3, 2, 1)).rgb_bands == (2, 1, 0)
    with pytest.raises(ValueError, match="between 1 and 4"):
        read_raster(tmp_path / "ten.tif", bands=(5, 2, 1))
    assert rgb_band_choice(4, colorinterp=["blue", "green", "red", "undefined"]) == (2, 1, 0)
    assert rgb_band_choice(3) == (0, 1, 2)


def test_read_tile_reprojects_and_names_a_size_mismatch(tmp_path):
    """The one tile reader: a GeoTIFF land cover in another CRS lands on the tile's grid; a
    land cover of another size is refused with both names and sizes."""
    from inpaint_core.data.geo import read_tile

    write_rgb_scene(tmp_path / "scene.tif")
    write_lc_in_wgs84(tmp_path / "lc.tif")
    table = get_class_table("s2glc")
    tile = read_tile(tmp_path / "scene.tif", tmp_path / "lc.tif", table)
    assert tile.landcover.shape == tile.rgb.shape[:2] == (64, 64) and tile.raster is not None
    assert not tile.valid[:4, :4].any() and tile.valid[10:, 10:].all()
    codes = table.codes_from_index(tile.landcover)
    assert (codes[:, :28] == 162).mean() > 0.95 and (codes[:, 36:] == 73).mean() > 0.95  # west water, east crops
    small = np.zeros((10, 10), np.uint8)
    write_png(tmp_path / "small.png", small + 73)
    with pytest.raises(ValueError, match="small.png is 10x10 pixels but the tile scene.tif is 64x64"):
        read_tile(tmp_path / "scene.tif", tmp_path / "small.png", table)


# --- nothing lost (issue "Nothing lost": items 2 and 3, and its unclear messages) ------------

def _write(path, data, nodata=None, crs=UTM32, transform=None):
    count, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=count, dtype=str(data.dtype), crs=crs,
                       transform=transform or from_origin(*ORIGIN, PIXEL, PIXEL), nodata=nodata) as ds:
        ds.write(data)


def test_a_fill_of_nodata_moves_by_the_smallest_step_towards_the_data(tmp_path):
    """float32 reflectance in 0-1 with nodata = 0: a fill of 0 was stepped by +1, the top of the
    range. It moves by one float32 step now, towards the data (and by one for integers)."""
    from inpaint_core.data.geo import read_raster, write_filled

    rng = np.random.default_rng(0)
    data = rng.uniform(0.05, 0.3, (3, 32, 32)).astype(np.float32)
    data[:, :, :8] = 0  # nodata strip
    _write(tmp_path / "refl.tif", data, nodata=0.0)
    raster = read_raster(tmp_path / "refl.tif")
    mask = np.zeros((32, 32), bool)
    mask[8:20, 8:20] = True
    fill = raster.rgb()
    fill[mask] = 0  # a fill as dark as can be: the inverse stretch gives exactly the nodata value
    write_filled(tmp_path / "out.tif", raster, fill, mask)
    with rasterio.open(tmp_path / "out.tif") as ds:
        out = ds.read()
    tiny = np.nextafter(np.float32(0), np.float32(1))
    assert (out[:, mask] == tiny).all()  # not 0 (nodata), not 1.0 (the top of the range)
    # integers: one step, towards the data (downwards from nodata 5 over data at -100)
    for dtype, nodata, value, fill_value, scale, expected in (("uint16", 65535, 1000, 255, 65535.0, 65534),
                                                              ("int16", 5, -100, 255, 5.0, 4),
                                                              ("uint8", 0, 50, 0, None, 1)):
        data = np.full((3, 16, 16), value, dtype)
        data[:, :2] = nodata
        _write(tmp_path / f"{dtype}.tif", data, nodata=nodata)
        raster = read_raster(tmp_path / f"{dtype}.tif", scale=scale)
        mask = np.zeros((16, 16), bool)
        mask[4:8, 4:8] = True
        fill = raster.rgb()
        fill[mask] = fill_value  # its inverse stretch is exactly the nodata value
        write_filled(tmp_path / f"{dtype}_out.tif", raster, fill, mask)
        with rasterio.open(tmp_path / f"{dtype}_out.tif") as ds:
            assert (ds.read()[:, mask] == expected).all(), dtype


def test_nan_is_nodata_whatever_the_file_says(tmp_path):
    """float32 with NaN and no declared nodata: the stretch's scale became NaN and the whole
    hole was written as NaN."""
    from inpaint_core.data.geo import fill_raster, read_raster, write_filled
    from inpaint_core.registry import ClassicalInpainter

    rng = np.random.default_rng(1)
    data = rng.uniform(0.05, 0.3, (4, 32, 32)).astype(np.float32)
    data[:, :6, :] = np.nan  # a NaN band across the top, no nodata declared
    data[2, 20, 20] = np.nan  # and one NaN value in one band only
    _write(tmp_path / "nan.tif", data)
    raster = read_raster(tmp_path / "nan.tif")
    assert np.isfinite(raster.scale) and not raster.valid[:6].any() and not raster.valid[20, 20]
    mask = np.zeros((32, 32), bool)
    mask[2:26, 10:26] = True  # over NaN rows, the lone NaN and data
    filled, hole = fill_raster(ClassicalInpainter("telea"), raster, mask)  # the app's and the CLI's way
    write_filled(tmp_path / "out.tif", raster, filled, hole)
    with rasterio.open(tmp_path / "out.tif") as ds:
        out = ds.read()
    assert hole.sum() > 0 and np.isfinite(out[:, hole]).all()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(data))  # NaN where it was, nowhere else
    assert 0.05 <= out[:, hole].min() and out[:, hole].max() <= 0.3


def test_a_truncated_geotiff_says_it_is_damaged(tmp_path):
    """It said "...(Read failed. See previous exception for details.)"."""
    from inpaint_core.data.geo import read_raster, read_tile

    write_s2_like(tmp_path / "s2.tif")
    whole = (tmp_path / "s2.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError) as caught:
        read_raster(tmp_path / "cut.tif")
    message = str(caught.value)
    assert message.startswith("the tile cut.tif is damaged: its pixel data is cut short or corrupt")
    assert "previous exception" not in message and str(tmp_path) not in message
    write_lc_in_wgs84(tmp_path / "lc.tif")
    lc = (tmp_path / "lc.tif").read_bytes()
    (tmp_path / "lc_cut.tif").write_bytes(lc[: len(lc) - 200])
    with pytest.raises(ValueError, match="the land cover lc_cut.tif is damaged"):
        read_tile(tmp_path / "s2.tif", tmp_path / "lc_cut.tif", get_class_table("s2glc"))


def test_the_one_band_error_names_the_file_not_its_folder(tmp_path):
    from inpaint_core.data.geo import read_raster

    folder = tmp_path / "gradio" / "0123abcd"
    folder.mkdir(parents=True)
    _write(folder / "grey.tif", np.ones((1, 8, 8), np.uint16))
    with pytest.raises(ValueError) as caught:
        read_raster(folder / "grey.tif")
    assert "grey.tif has 1 band(s)" in str(caught.value) and "0123abcd" not in str(caught.value)


def test_a_land_cover_that_does_not_overlap_the_tile_says_so_with_both_bounds(tmp_path):
    """It said "the selected classes do not occur in this tile"."""
    from inpaint_core.data.geo import read_tile

    write_rgb_scene(tmp_path / "scene.tif")
    far = from_origin(ORIGIN[0] + 50_000, ORIGIN[1], PIXEL, PIXEL)  # 50 km east
    _write(tmp_path / "lc.tif", np.full((1, 64, 64), 73, np.uint8), nodata=255, transform=far)
    with pytest.raises(ValueError) as caught:
        read_tile(tmp_path / "scene.tif", tmp_path / "lc.tif", get_class_table("s2glc"))
    message = str(caught.value)
    assert message.startswith("the land cover lc.tif does not overlap the tile: it covers x 550000 to 550640")
    assert "the tile covers x 500000 to 500640, y 6.19936e+06 to 6.2e+06" in message and "EPSG:32632" in message


def test_land_cover_errors_name_the_file(tmp_path):
    """The class table's "N pixels have a colour that is in no class" said nothing of which upload."""
    colours = np.full((8, 8, 3), (0x9B, 0x9B, 0x9B), np.uint8)  # Unlabeled
    colours[:2, :2] = (1, 2, 3)
    write_png(tmp_path / "odd_colours.png", colours)
    with pytest.raises(ValueError, match=r"^the land cover odd_colours.png: 4 pixels have a colour"):
        read_landcover(tmp_path / "odd_colours.png", get_class_table("dubai-aerial"))


def test_a_transparent_pixel_is_nodata_even_where_a_nodata_value_is_declared(tmp_path):
    """A 4-band uint8 GeoTIFF with an alpha band and nodata=255: GDAL's mask follows the value
    alone, but a pixel whose alpha is 0 is no data to fill from nor one to overwrite."""
    import rasterio
    from rasterio.enums import ColorInterp

    from inpaint_core.data.geo import read_raster

    data = np.full((4, 8, 8), 100, np.uint8)
    data[3] = 255
    data[3, :2, :] = 0  # two transparent rows
    data[:, 5, 5] = 255  # a nodata pixel (every band at the value)
    path = tmp_path / "rgba.tif"
    with rasterio.open(path, "w", driver="GTiff", height=8, width=8, count=4, dtype="uint8", nodata=255,
                       photometric="RGB", alpha="YES") as ds:
        ds.write(data)
    with rasterio.open(path) as ds:
        assert ds.colorinterp[3] == ColorInterp.alpha
    valid = read_raster(path).valid
    assert not valid[:2].any() and not valid[5, 5]
    assert valid[2:].sum() == 6 * 8 - 1
