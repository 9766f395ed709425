"""Whole scenes filled window by window (inpaint_core.scene.fill): the whole-picture fill's result, bit for
bit, from strips and windows forced small; nodata gaps and classification bands as holes; masks and
land cover on other grids; every GeoTIFF property kept. Scenes are generated, at most ~1500 px a side."""

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from PIL import Image  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402

from inpaint_core.registry import make_inpainter  # noqa: E402
from inpaint_core.scene.counts import ValueCounts  # noqa: E402
from inpaint_core.scene.fill import fill_scene  # noqa: E402
from inpaint_core.scene.inputs import HoleRule, Scene, parse_mask_values, source_pixels  # noqa: E402
from inpaint_core.scene.plan import SceneOptions, merge_boxes  # noqa: E402

CRS = "EPSG:32632"
TRANSFORM = from_origin(500_000.0, 6_200_000.0, 10.0, 10.0)
SMALL = SceneOptions(block=37)  # strips of 37 rows: regions cross many strip borders


def write_scene(path, data, nodata=None, transform=TRANSFORM, crs=CRS, **extra):
    count, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=count, dtype=str(data.dtype),
                       nodata=nodata, crs=crs, transform=transform, **extra) as ds:
        ds.write(data)
        for b in range(count):
            ds.set_band_description(b + 1, f"B{b + 1}")
    return path


def scene_data(h, w, count, dtype, seed=0):
    """Smooth bands with noise, in the range of ``dtype`` (reflectance-like for uint16/float32)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.25 * np.sin(xx / 37.0) + 0.2 * np.cos(yy / 23.0)
    data = np.stack([base + 0.03 * b + rng.normal(0, 0.01, (h, w)) for b in range(count)])
    if dtype == "uint8":
        return (data * 255).clip(0, 255).astype(np.uint8)
    if dtype == "uint16":
        return (data * 3000).clip(1, 65535).astype(np.uint16)
    return data.astype(np.float32)


def sparse_holes(h, w, n, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(n):
        y, x = rng.integers(0, h - 30), rng.integers(0, w - 50)
        mask[y: y + rng.integers(3, 30), x: x + rng.integers(3, 50)] = 255
    mask[:8, :8] = 255  # a corner
    mask[-5:, 300:340] = 255  # the bottom edge
    return mask


def whole_picture(image, mask_png, out, method="telea", **fill_args):
    from inpaint_core.data.masks import read_mask
    from inpaint_core.data.raster import fill_raster, read_raster, write_filled

    raster = read_raster(image, what="image")
    filled, hole = fill_raster(make_inpainter(method, **fill_args), raster, read_mask(mask_png, raster.valid.shape))
    write_filled(out, raster, filled, hole)
    return out


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, ds.descriptions, ds.crs, ds.transform


@pytest.mark.parametrize("dtype,count,nodata", [("uint8", 3, None), ("uint16", 5, 0), ("float32", 4, -9999.0)])
def test_windowed_fill_is_the_whole_picture_fill(tmp_path, dtype, count, nodata):
    """Strips of 37 rows, regions joined across them, windows read with only their context: the
    same bytes as reading the whole raster and filling it (stretch, band ranges and medians are the
    scene's, counted strip by strip), and a tiled, compressed GeoTIFF of the same kind."""
    h, w = 1100, 1300
    data = scene_data(h, w, count, dtype)
    if nodata is not None:
        data[:, 200:260, :400] = nodata  # a nodata area beside holes
        data[:, :, 700:703] = nodata  # a gap through the scene
    if dtype == "float32":
        data[1, 500, 500] = np.nan  # NaN is nodata whatever the file says
    image = write_scene(tmp_path / "scene.tif", data, nodata)
    mask = sparse_holes(h, w, 9)
    mask[250:270, 380:420] = 255  # touching the nodata area
    Image.fromarray(mask).save(tmp_path / "mask.png")
    expected = read(whole_picture(image, tmp_path / "mask.png", tmp_path / "whole.tif"))[0]
    scene = Scene(image, HoleRule(mask=str(tmp_path / "mask.png")))
    report = fill_scene(make_inpainter("telea"), scene, tmp_path / "out.tif", SMALL)
    out, profile, descriptions, crs, transform = read(report.path)
    assert report.regions >= 4 and report.windows == report.regions  # several regions, none tiled
    np.testing.assert_array_equal(out, expected)
    assert (profile["dtype"], profile["count"], profile["nodata"] if nodata is not None else None) == (dtype, count, nodata)
    assert (crs.to_string(), transform) == (CRS, TRANSFORM)
    assert descriptions == tuple(f"B{b + 1}" for b in range(count))
    assert profile["tiled"] and profile["compress"] == "deflate"
    untouched = ~(mask > 0)
    np.testing.assert_array_equal(out[:, untouched], data[:, untouched])
    assert not (tmp_path / "out.tif.part").exists()


def test_a_region_larger_than_the_window_is_filled_in_tiles(tmp_path):
    """A region over --max-window px is filled in tiles of the working size at full resolution;
    every pixel outside the hole stays, every hole pixel is filled and stays in range."""
    data = scene_data(900, 1000, 3, "uint16")
    image = write_scene(tmp_path / "scene.tif", data, nodata=0)
    mask = np.zeros((900, 1000), np.uint8)
    mask[100:800, 100:900:40] = 255  # stripes joined into one region of 700x800
    Image.fromarray(mask).save(tmp_path / "mask.png")
    report = fill_scene(make_inpainter("telea"), Scene(image, HoleRule(mask=str(tmp_path / "mask.png"))),
                        tmp_path / "out.tif", SceneOptions(block=64, max_window=256))
    out = read(report.path)[0]
    assert report.regions == 1 and report.windows > 4
    hole = mask > 0
    np.testing.assert_array_equal(out[:, ~hole], data[:, ~hole])
    assert (out[:, hole] > 0).all() and out[:, hole].max() <= data.max() * 1.1


def test_fill_nodata_fills_the_gaps_and_keeps_the_collar(tmp_path):
    """Landcover 7 SLC-off in small: nodata stripes across the data are holes and are filled (never
    at the nodata value), the wide nodata collar around the scene stays nodata, and every other pixel
    is the input's."""
    h, w = 600, 700
    data = scene_data(h, w, 4, "uint16")
    collar = np.zeros((h, w), bool)
    collar[:, :120] = True
    collar[:80, :] = True
    stripes = np.zeros((h, w), bool)
    for y in range(100, h, 45):  # 6-px stripes, slanted
        for x in range(120, w):
            r = y + (x - 120) // 10
            stripes[max(r, 0): max(r, 0) + 6, x] = True
    stripes &= ~collar
    data[:, collar | stripes] = 0
    data[:, 300:305, 400:405] = 1  # a data value of 1 near the nodata value
    image = write_scene(tmp_path / "slc.tif", data, nodata=0, tiled=True, blockxsize=128, blockysize=128,
                        compress="lzw")
    report = fill_scene(make_inpainter("telea"), Scene(image, HoleRule(fill_nodata=True, gap=16)),
                        tmp_path / "out.tif", SMALL)
    out, profile, descriptions, crs, transform = read(report.path)
    assert report.pixels == stripes.sum()
    assert (out[:, stripes] != 0).all()  # filled, never at nodata
    assert (out[:, collar] == 0).all()  # the collar is no gap
    np.testing.assert_array_equal(out[:, ~stripes], data[:, ~stripes])
    assert (profile["nodata"], profile["dtype"], profile["count"], crs.to_string()) == (0, "uint16", 4, CRS)
    assert profile["compress"] == "lzw"  # a tiled lossless file is kept as it is, blocks rewritten


def test_mask_values_on_another_grid_and_in_the_scene(tmp_path):
    """Holes from a scene-classification band at twice the pixel size (SCL at 20 m for a 10 m
    scene): every scene pixel whose centre lies in a cloud pixel is filled, nothing else changes;
    the same band inside the scene itself gives the same holes."""
    h, w = 400, 500
    data = scene_data(h, w, 3, "uint16")
    scl = np.full((h // 2, w // 2), 4, np.uint8)  # vegetation
    scl[20:40, 30:60] = 9  # cloud
    scl[100:110, 150:190] = 3  # cloud shadow
    scl[150:160, 10:20] = 8
    scl[60:70, 60:70] = 6  # water: not a hole
    coarse = from_origin(500_000.0, 6_200_000.0, 20.0, 20.0)
    image = write_scene(tmp_path / "s2.tif", data, nodata=0)
    write_scene(tmp_path / "scl.tif", scl[None], transform=coarse)
    band, values = parse_mask_values("1:3,8,9,10")
    report = fill_scene(make_inpainter("telea"), Scene(image, HoleRule(mask=str(tmp_path / "scl.tif"),
                                                                       mask_values=(band, values))),
                        tmp_path / "out.tif", SMALL)
    out = read(report.path)[0]
    expected = np.isin(np.repeat(np.repeat(scl, 2, 0), 2, 1), [3, 8, 9, 10])
    assert report.pixels == expected.sum()
    np.testing.assert_array_equal(out[:, ~expected], data[:, ~expected])
    assert (out[:, expected] != data[:, expected]).any()
    # the band as the scene's fourth band
    stacked = np.concatenate([data, np.repeat(np.repeat(scl, 2, 0), 2, 1)[None].astype(np.uint16)])
    inside = write_scene(tmp_path / "s2_scl.tif", stacked, nodata=None)
    report = fill_scene(make_inpainter("telea"), Scene(inside, HoleRule(mask_values=(4, values)), bands=(1, 2, 3)),
                        tmp_path / "out2.tif", SMALL)
    assert report.pixels == expected.sum()
    with pytest.raises(ValueError, match="BAND:V1,V2"):
        parse_mask_values("3,8,9")


def test_a_mask_in_another_crs_is_sampled_at_each_pixel_centre(tmp_path):
    """A raster in another CRS is sampled at the scene's pixel centres (PROJ every 16 px,
    interpolated): it agrees with GDAL's own nearest-neighbour warp on all but the odd edge pixel,
    and a pixel reads the same through any window."""
    from rasterio.warp import Resampling, reproject

    from inpaint_core.data.raster import Georef

    h, w = 300, 300
    scene_ref = Georef(CRS, tuple(TRANSFORM)[:6])
    src_transform = from_origin(8.98, 55.94, 0.0002, 0.0002)  # EPSG:4326, over the scene
    src = np.random.default_rng(0).integers(0, 5, (400, 600)).astype(np.uint8)
    src_ref = Georef("EPSG:4326", tuple(src_transform)[:6])
    src_ref = Georef(rasterio.crs.CRS.from_string("EPSG:4326").to_wkt(), src_ref.transform)
    scene_ref = Georef(rasterio.crs.CRS.from_string(CRS).to_wkt(), scene_ref.transform)
    rows, cols = source_pixels(src_ref, scene_ref, (0, h, 0, w))
    inside = (rows >= 0) & (rows < 400) & (cols >= 0) & (cols < 600)
    ours = np.where(inside, src[rows.clip(0, 399), cols.clip(0, 599)], 255)
    gdal = np.full((h, w), 255, np.uint8)
    reproject(src, gdal, src_transform=src_transform, src_crs="EPSG:4326", dst_transform=TRANSFORM, dst_crs=CRS,
              resampling=Resampling.nearest, dst_nodata=255)
    both = (ours != 255) & (gdal != 255)
    assert both.mean() > 0.5 and (ours[both] == gdal[both]).mean() > 0.99
    part = source_pixels(src_ref, scene_ref, (37, 120, 51, 200))
    np.testing.assert_array_equal(part[0], rows[37:120, 51:200])
    np.testing.assert_array_equal(part[1], cols[37:120, 51:200])


def test_landcover_is_read_window_by_window(tmp_path):
    """A land-cover fill of a scene reads its land cover per window, and fills as the whole tile's."""
    from inpaint_core.data.geo import read_tile
    from inpaint_core.data.raster import fill_raster, write_filled

    h, w = 500, 600
    data = scene_data(h, w, 3, "uint8")
    image = write_scene(tmp_path / "tile.tif", data)
    codes = np.zeros((h, w), np.uint8)  # dubai-aerial codes: 0..5
    codes[:, 300:] = 2
    codes[200:300, :] = 4
    write_scene(tmp_path / "lc.tif", codes[None])
    mask = sparse_holes(h, w, 12, seed=3)
    Image.fromarray(mask).save(tmp_path / "mask.png")
    fill = make_inpainter("landcover-nearest", classes="dubai-aerial")
    tile = read_tile(image, tmp_path / "lc.tif", fill.classes)
    filled, hole = fill_raster(fill, tile.raster, mask > 0, landcover=tile.landcover)
    write_filled(tmp_path / "whole.tif", tile.raster, filled, hole)
    scene = Scene(image, HoleRule(mask=str(tmp_path / "mask.png")), landcover=tmp_path / "lc.tif", table=fill.classes)
    report = fill_scene(fill, scene, tmp_path / "out.tif", SMALL)
    np.testing.assert_array_equal(read(report.path)[0], read(tmp_path / "whole.tif")[0])


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "float32", "int32", "float64"])
def test_statistics_counted_in_parts_are_numpys(dtype):
    """The stretch (99th percentile) and the medians of the whole-picture fill, from counts of
    parts: exact for 8/16-bit data, and for wider data after the second pass over the wanted bins."""
    from inpaint_core.scene.counts import median_ranks, percentile_ranks

    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 1000, 4097):
        values = (rng.normal(0, 300, n) if dtype.startswith("float") else rng.integers(-50, 3000, n)).astype(dtype)
        if dtype.startswith("uint"):
            values = np.abs(values)
        parts = np.array_split(values, 3)
        counts = ValueCounts(values.dtype)
        for part in parts:
            counts.add(part)
        wanted = counts.wanted(percentile_ranks(n) + median_ranks(n))  # the second pass, as plan_scene makes it
        for part in parts:
            piece = ValueCounts(values.dtype)
            piece.settle(part, wanted)
            for b, found in piece.exact.items():
                counts.exact[b] = np.sort(np.concatenate([counts.exact.get(b, found[:0]), found]))
        assert counts.percentile(99) == np.percentile(values.astype(np.float64), 99), (dtype, n)
        assert counts.median() == float(np.median(values)), (dtype, n)


def test_merged_boxes_do_not_depend_on_order():
    boxes = [(0, 10, 0, 10), (5, 15, 20, 30), (8, 12, 9, 21), (40, 50, 40, 50), (45, 60, 0, 41)]
    expected = merge_boxes(boxes)
    assert expected == [(0, 15, 0, 30), (40, 60, 0, 50)]
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(boxes))
        assert merge_boxes([boxes[i] for i in order]) == expected


def test_a_hole_rule_needs_a_hole():
    with pytest.raises(ValueError, match="--mask, --mask-values or --fill-nodata"):
        HoleRule()


def test_the_app_refuses_a_scene_from_its_header_and_points_to_the_command_line(tmp_path, monkeypatch):
    """The app keeps its size limit and reads no pixel of a larger GeoTIFF; its message says how to
    fill a whole scene."""
    from inpaint_core.data import raster
    from inpaint_core.data.pictures import check_file  # what the app's uploads go through

    with rasterio.open(tmp_path / "scene.tif", "w", driver="GTiff", height=9000, width=9000, count=3, dtype="uint8",
                       tiled=True, sparse_ok=True, crs=CRS, transform=TRANSFORM):
        pass

    def never(*args, **kwargs):
        raise AssertionError("pixels were read")

    monkeypatch.setattr(raster, "read_raster", never)
    with pytest.raises(ValueError, match=r"9000x9000 pixels; the limit is .* inpaint run --image scene.tif"):
        check_file(tmp_path / "scene.tif", "tile")


def test_a_sparse_mask_is_read_only_where_it_holds_blocks(tmp_path, monkeypatch):
    """A GeoTIFF mask written sparse (GDAL's SPARSE_OK) leaves its blocks without holes out of the
    file: the scan reads only the columns of the blocks it holds (grown by --dilate), and the
    result is the same as from the same mask read whole (a PNG), holes on block borders included."""
    from rasterio.windows import Window

    h, w = 700, 900
    data = scene_data(h, w, 3, "uint8", seed=12)
    image = write_scene(tmp_path / "scene.tif", data)
    mask = np.zeros((h, w), np.uint8)
    for y, x, hh, ww in ((60, 120, 20, 30), (250, 126, 12, 10), (200, 66, 5, 5), (640, 300, 8, 8),
                         (600, 830, 40, 70), (446, 510, 3, 5)):
        # across block borders (blocks of 64), within --dilate of a block without holes, at the edge
        mask[y: y + hh, x: x + ww] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    with rasterio.open(tmp_path / "mask.tif", "w", driver="GTiff", height=h, width=w, count=1, dtype="uint8",
                       tiled=True, blockxsize=64, blockysize=64, compress="deflate", sparse_ok=True, crs=CRS,
                       transform=TRANSFORM) as ds:
        for y0 in range(0, h, 64):
            for x0 in range(0, w, 64):
                block = mask[y0: y0 + 64, x0: x0 + 64]
                if block.any():
                    ds.write(block[None], window=Window(x0, y0, block.shape[1], block.shape[0]))
    read_px = []
    holes = Scene.holes

    def counting(self, box, pixels=False):
        read_px.append((box[1] - box[0]) * (box[3] - box[2]))
        return holes(self, box, pixels)

    monkeypatch.setattr(Scene, "holes", counting)
    results = {}
    for name in ("mask.png", "mask.tif"):
        read_px.clear()
        scene = Scene(image, HoleRule(mask=str(tmp_path / name), dilate=5))
        report = fill_scene(make_inpainter("telea"), scene, tmp_path / f"out_{name}.tif", SceneOptions(block=100))
        results[name] = read(report.path)[0], report.regions, report.pixels, sum(read_px)
    whole, sparse = results["mask.png"], results["mask.tif"]
    np.testing.assert_array_equal(sparse[0], whole[0])
    assert sparse[1:3] == whole[1:3] and whole[1] >= 2
    assert sparse[3] < whole[3] - h * w // 2  # the scan read well under half of what the whole mask's did


def test_the_columns_read_are_the_mask_blocks_grown_by_dilate_and_joined_within_reach():
    """_runs: the columns where the mask holds blocks in a strip's rows, each grown by --dilate
    (rows too: a block just above or below reaches in), joined when holes in two could meet once
    grown by the margin."""
    from inpaint_core.scene.plan import _runs

    grid = np.zeros((4, 10), bool)  # blocks of 64 px: 256 x 640
    grid[0, 1] = grid[0, 4] = True
    grid[2, 8] = True  # two block rows down
    assert _runs(None, (0, 50, 0, 640), 5, 10, 640) == [(0, 640)]
    assert _runs(((64, 64), grid), (0, 50, 0, 640), 0, 10, 640) == [(64, 128), (256, 320)]
    assert _runs(((64, 64), grid), (0, 50, 0, 640), 5, 10, 640) == [(59, 133), (251, 325)]
    assert _runs(((64, 64), grid), (0, 50, 0, 640), 5, 60, 640) == [(59, 325)]  # 118 px apart: within 2 x 60
    assert _runs(((64, 64), grid), (60, 125, 0, 640), 4, 10, 640) == [(60, 132), (252, 324), (508, 580)]
    assert _runs(((64, 64), grid), (60, 124, 0, 640), 4, 10, 640) == [(60, 132), (252, 324)]  # row 128 too far


def test_a_scene_reads_through_datasets_of_its_own_thread(tmp_path):
    """A GDAL dataset is not to be shared by threads: two threads reading one at once fail, or read
    another block's pixels. A scene's copies on a Dask worker with several threads (one per task,
    unpickled in the worker's own thread) each read through their thread's own datasets of the
    scene and its mask, opened once per thread; so does the scene in the process that made it."""
    import pickle
    import threading

    data = scene_data(64, 80, 3, "uint8", seed=15)
    image = write_scene(tmp_path / "scene.tif", data)
    write_scene(tmp_path / "mask.tif", np.zeros((1, 64, 80), np.uint8))
    made = Scene(image, HoleRule(mask=str(tmp_path / "mask.tif")))
    sent = [pickle.loads(pickle.dumps(made)) for _ in range(3)]
    seen, both = {}, threading.Barrier(2)

    def open_all(name):
        seen[name] = [(scene.ds, scene._others()["mask"]) for scene in (made, *sent)]
        both.wait(timeout=10)  # the two threads live at once, as a worker's do

    threads = [threading.Thread(target=open_all, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen["main"] = [(scene.ds, scene._others()["mask"]) for scene in (made, *sent)]
    for name, found in seen.items():
        assert found[1][0] is found[2][0] is found[3][0] and found[1][1] is found[3][1], name  # opened once
    for a, b in (("one", "two"), ("one", "main"), ("two", "main")):
        for (ds_a, mask_a), (ds_b, mask_b) in zip(seen[a], seen[b]):
            assert ds_a is not ds_b and mask_a is not mask_b, (a, b)
    np.testing.assert_array_equal(sent[0].pixels((0, 64, 0, 80))[0], data)
