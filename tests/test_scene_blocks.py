"""A scene's output blocks encoded apart and patched into the file (inpaint_core.scene.blocks): the pixels
of GDAL's update mode for deflate with and without the horizontal predictor, pixel- and band-interleaved,
uint8 and uint16, classic TIFF and big-endian BigTIFF, blocks at the scene's edges; a file that readers
take without a warning; GDAL's update mode where a block cannot be encoded apart (an internal mask to
update, GDAL's cloud-optimised layout, 12-bit samples). Scenes are generated, a few hundred px a side."""

import warnings

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from PIL import Image  # noqa: E402
from test_scene import CRS, TRANSFORM, read, scene_data, sparse_holes, write_scene  # noqa: E402

from inpaint_core.registry import make_inpainter  # noqa: E402
from inpaint_core.scene import write as scene_write  # noqa: E402
from inpaint_core.scene.blocks import Share, TilePatcher, _Arrays, _Entry, encode_block, read_layout  # noqa: E402
from inpaint_core.scene.fill import batches, fill_scene  # noqa: E402
from inpaint_core.scene.inputs import HoleRule, Scene  # noqa: E402
from inpaint_core.scene.plan import Job, SceneOptions  # noqa: E402

TILED = {"tiled": True, "blockxsize": 128, "blockysize": 128}
OPTS = SceneOptions(block=50, gdal_threads="2")  # blocks encoded on two threads, as by default on a machine


def _fill(image, mask, out, gdal_update=False, monkeypatch=None, **rule):
    if gdal_update:  # GDAL's update mode, as before blocks were encoded apart
        monkeypatch.setattr(scene_write, "read_layout", lambda *args, **kwargs: None)
    try:
        rule = rule or {"mask": str(mask)}
        return fill_scene(make_inpainter("telea"), Scene(image, HoleRule(**rule)), out, OPTS)
    finally:
        if gdal_update:
            monkeypatch.undo()


def _read_strictly(path):
    """The pixels as rasterio and tifffile read them (tifffile decodes deflate only, without
    imagecodecs: else None), any warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with rasterio.open(path) as ds:
            pixels = ds.read()
        tifffile = pytest.importorskip("tifffile")
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if page.compression not in (1, 8, 32946):
                return pixels, None
            other = page.asarray()
    return pixels, other if page.planarconfig == 2 else np.moveaxis(other, -1, 0)


@pytest.mark.parametrize("dtype,predictor,interleave,extra", [
    ("uint8", 1, "pixel", {}),
    ("uint8", 2, "band", {}),
    ("uint16", 2, "pixel", {}),
    ("uint16", 1, "band", {"bigtiff": "YES", "ENDIANNESS": "BIG"}),
])
def test_blocks_patched_in_are_gdal_update_modes_pixels(tmp_path, monkeypatch, dtype, predictor, interleave, extra):
    """A tiled deflate scene (its own bytes copied, blocks with holes rewritten), 330x470 px in
    blocks of 128: edge blocks, holes on block borders and across them, regions that share blocks."""
    h, w = 330, 470
    data = scene_data(h, w, 3, dtype, seed=4)
    image = write_scene(tmp_path / "scene.tif", data, compress="deflate", predictor=predictor, interleave=interleave,
                        **TILED, **extra)
    mask = sparse_holes(h, w, 14, seed=5)
    mask[120:140, 250:262] = 255  # across a corner of four blocks
    mask[h - 6:, w - 9:] = 255  # the last, partial block
    Image.fromarray(mask).save(tmp_path / "mask.png")
    patched = _fill(image, tmp_path / "mask.png", tmp_path / "patched.tif")
    gdal = _fill(image, tmp_path / "mask.png", tmp_path / "gdal.tif", gdal_update=True, monkeypatch=monkeypatch)
    assert patched.blocks and gdal.blocks is None
    ours, theirs = read(patched.path), read(gdal.path)
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert (ours[0] != data).any()  # holes were filled
    np.testing.assert_array_equal(ours[0][:, mask == 0], data[:, mask == 0])
    for key in ("dtype", "count", "compress", "interleave", "blockxsize", "blockysize", "crs", "transform"):
        assert ours[1][key] == theirs[1][key], key
    assert ours[2] == theirs[2] == ("B1", "B2", "B3")
    with rasterio.open(patched.path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR", "1") == str(predictor)
    pixels, other = _read_strictly(patched.path)
    np.testing.assert_array_equal(pixels, ours[0])
    np.testing.assert_array_equal(other, ours[0])


def test_a_striped_scene_is_copied_to_deflate_and_patched(tmp_path, monkeypatch):
    """An untiled, uncompressed scene becomes a deflate copy (predictor 2) whose blocks are patched:
    GDAL's update mode's pixels; LZW, which GDAL encodes as well, is kept and patched too."""
    h, w = 300, 520
    data = scene_data(h, w, 4, "uint16", seed=6)
    data[:, 100:110, :] = 0
    mask = sparse_holes(h, w, 10, seed=7)
    Image.fromarray(mask).save(tmp_path / "mask.png")
    for name, extra in (("plain", {}), ("lzw", {"compress": "lzw", **TILED})):
        image = write_scene(tmp_path / f"{name}.tif", data, nodata=0, **extra)
        patched = _fill(image, tmp_path / "mask.png", tmp_path / f"{name}_patched.tif")
        gdal = _fill(image, tmp_path / "mask.png", tmp_path / f"{name}_gdal.tif", gdal_update=True,
                     monkeypatch=monkeypatch)
        assert patched.blocks and gdal.blocks is None
        ours = read(patched.path)
        np.testing.assert_array_equal(ours[0], read(gdal.path)[0])
        assert ours[1]["compress"] == ("deflate" if name == "plain" else "lzw") and ours[1]["nodata"] == 0
        pixels, other = _read_strictly(patched.path)
        np.testing.assert_array_equal(pixels, ours[0])
        if other is not None:
            np.testing.assert_array_equal(other, ours[0])


def test_an_internal_mask_to_update_keeps_gdal_update_mode(tmp_path):
    """--fill-nodata on a scene whose nodata is an internal mask: the mask changes with the pixels,
    so the writer keeps GDAL's update mode; the filled gaps are data in the mask, the collar is not."""
    h, w = 260, 300
    data = scene_data(h, w, 3, "uint8", seed=8)
    valid = np.ones((h, w), bool)
    valid[:, :40] = False  # a collar
    valid[100:104, 40:] = False  # a gap through the data
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(
            tmp_path / "masked.tif", "w", driver="GTiff", height=h, width=w, count=3, dtype="uint8",
            compress="deflate", crs=CRS, transform=TRANSFORM, **TILED) as ds:
        ds.write(data)
        ds.write_mask(np.where(valid, 255, 0).astype(np.uint8))
    report = _fill(tmp_path / "masked.tif", None, tmp_path / "out.tif", fill_nodata=True, gap=16)
    assert report.blocks is None and report.pixels == 4 * (w - 40)
    with rasterio.open(report.path) as ds:
        out, mask = ds.read(), ds.read_masks(1)
    assert (mask[100:104, 40:] == 255).all() and (mask[:, :40] == 0).all()
    np.testing.assert_array_equal(out[:, valid], data[:, valid])


def test_what_cannot_be_encoded_apart_keeps_gdal_update_mode(tmp_path):
    """12-bit samples give no layout (nor does GDAL's cloud-optimised layout, whose blocks carry
    leaders and trailers): GDAL's update mode writes them, right. A cloud-optimised scene without
    overviews, which GDAL's update mode refuses, is copied to a plain tiled GeoTIFF and patched."""
    import rasterio.shutil

    h, w = 256, 300
    data = scene_data(h, w, 3, "uint16", seed=9) % 4096
    mask = sparse_holes(h, w, 6, seed=10)
    Image.fromarray(mask).save(tmp_path / "mask.png")
    cog = tmp_path / "cog.tif"
    rasterio.shutil.copy(write_scene(tmp_path / "plain.tif", data), cog, driver="COG", compress="deflate",
                         blocksize=128, overviews="NONE")
    nbits = write_scene(tmp_path / "nbits.tif", data, compress="deflate", nbits=12, **TILED)
    for image in (cog, nbits):
        with rasterio.open(image) as ds:
            assert read_layout(image, ds.count, ds.dtypes[0], ds.shape) is None
        report = _fill(image, tmp_path / "mask.png", tmp_path / f"out_{image.name}")
        assert (report.blocks is None) == (image == nbits)
        out = read(report.path)[0]
        np.testing.assert_array_equal(out[:, mask == 0], data[:, mask == 0])
        assert (out[:, mask > 0] != data[:, mask > 0]).any()


def test_tiles_go_over_their_old_bytes_when_they_fit_and_only_their_own(tmp_path):
    """The patcher writes a block over its old bytes when the new ones fit and no other tile points
    at them, else at the end of the file; the tile arrays then point at the new bytes."""
    rng = np.random.default_rng(11)
    data = rng.integers(0, 256, (1, 256, 384), dtype=np.uint8)  # noise: deflate keeps every byte
    data[0, 128:, :128] = 5  # tile 3 is flat: a few bytes
    path = write_scene(tmp_path / "noise.tif", data, compress="deflate", **TILED)
    layout, arrays = read_layout(path, 1, "uint8", (256, 384))
    sharing = TilePatcher(path, layout, arrays)
    sharing.offsets[1], sharing.counts[1] = sharing.offsets[2], sharing.counts[2]  # tiles 1 and 2 share bytes
    sharing.close()
    size = path.stat().st_size
    patcher = TilePatcher(path, layout, arrays)
    assert patcher.own.tolist() == [True, False, False, True, True, True]
    flat, noise = np.full((1, 128, 128), 7, np.uint8), rng.integers(0, 256, (1, 128, 128), dtype=np.uint8)
    patcher.put(0, encode_block(layout, flat))  # fits: in place
    patcher.put(2, encode_block(layout, flat))  # fits, but tile 1 shares its bytes: at the end
    patcher.put(3, encode_block(layout, noise))  # noise does not fit in a flat tile's bytes: at the end
    patcher.close()
    grown = path.stat().st_size - size
    assert 0 < grown < 2 * 128 * 128 + 1024
    with rasterio.open(path) as ds:
        out = ds.read(1)
    assert (out[:128, :128] == 7).all() and (out[:128, 256:384] == 7).all()
    np.testing.assert_array_equal(out[128:, :128], noise[0])
    np.testing.assert_array_equal(out[:128, 128:256], data[0, :128, 256:384])  # tile 1 now shows tile 2's old bytes
    np.testing.assert_array_equal(out[128:, 128:], data[0, 128:, 128:])


def test_a_classic_tiff_that_could_pass_4_gb_is_not_patched(tmp_path):
    path = write_scene(tmp_path / "small.tif", scene_data(128, 128, 3, "uint8"), compress="deflate", **TILED)
    layout, arrays = read_layout(path, 3, "uint8", (128, 128))
    assert arrays.hold(layout, 1000)
    near = _Arrays(arrays.order, arrays.offsets, arrays.counts, 2**32 - 2**20)
    assert not near.hold(layout, 10)
    big = _Arrays(arrays.order, _Entry(16, arrays.offsets.count, arrays.offsets.at), arrays.counts, near.size)
    assert big.hold(layout, 10)


def test_windows_are_batched_in_plan_order():
    jobs = [Job((0, 100, 0, 100), (0, 100, 0, 100))] * 5 + [Job((0, 2000, 0, 2000), (0, 2000, 0, 2000))] * 2
    assert batches(jobs, most=3) == [(0, 3), (3, 6), (6, 7)]  # a run ends once its cores hold a megapixel
    assert batches(jobs, most=1) == [(j, j + 1) for j in range(7)]


def test_a_copy_that_fails_on_its_thread_fails_the_scene_and_leaves_no_file(tmp_path, monkeypatch):
    data = scene_data(200, 260, 3, "uint8", seed=13)
    image = write_scene(tmp_path / "scene.tif", data, compress="deflate", **TILED)  # copied as it is, on a thread
    Image.fromarray(sparse_holes(200, 260, 3, seed=14)).save(tmp_path / "mask.png")

    def full(src, dst):
        open(dst, "wb").close()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(scene_write.shutil, "copyfile", full)
    with pytest.raises(OSError, match="No space left"):
        _fill(image, tmp_path / "mask.png", tmp_path / "out.tif")
    assert not (tmp_path / "out.tif.part").exists() and not (tmp_path / "out.tif").exists()


@pytest.mark.parametrize("failing", ["GTiff", "COG"])
def test_a_gdal_copy_that_fails_leaves_no_file(tmp_path, monkeypatch, failing):
    """The copy of a scene that is not already a tiled lossless GeoTIFF, and the cloud-optimised
    copy at the end: one that fails (a full disk) half-way fails the scene and leaves no file."""
    import rasterio.shutil

    data = scene_data(200, 260, 3, "uint8", seed=16)
    image = write_scene(tmp_path / "scene.tif", data)  # striped: copied through GDAL
    Image.fromarray(sparse_holes(200, 260, 3, seed=17)).save(tmp_path / "mask.png")
    copy = rasterio.shutil.copy

    def full(src, dst, driver, **kwargs):
        if driver != failing:
            return copy(src, dst, driver=driver, **kwargs)
        open(dst, "wb").close()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rasterio.shutil, "copy", full)
    with pytest.raises(OSError, match="No space left"):
        fill_scene(make_inpainter("telea"), Scene(image, HoleRule(mask=str(tmp_path / "mask.png"))),
                   tmp_path / "out.tif", SceneOptions(block=50, cog=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.png", "scene.tif"]


def test_fewer_encoded_blocks_wait_where_blocks_are_large():
    """The blocks waiting to be put hold their raw data: 64 of a Sentinel-2 tile's 13-band uint16
    blocks (6.8 MB each) took a run to 2 GB, so where blocks are large fewer may wait."""
    from types import SimpleNamespace

    from inpaint_core.scene.fill import _WAITING_BYTES, _ahead

    rgb = SimpleNamespace(block=(512, 512), count=3, dtype="uint8")
    s2 = SimpleNamespace(block=(512, 512), count=13, dtype="uint16")
    huge = SimpleNamespace(block=(4096, 4096), count=13, dtype="float64")
    assert _ahead(rgb) == 64
    assert _ahead(s2) == 19 and _ahead(s2) * 512 * 512 * 13 * 2 <= _WAITING_BYTES
    assert _ahead(huge) == 2


def test_shares_of_one_task_fetch_its_result_once():
    """The blocks that one batch of windows was the last to meet are encoded in one task; each block's
    share of it is read as a future is, and the task's result is fetched from the cluster only once."""

    class Future:
        fetched = 0

        def done(self):
            return True

        def result(self):
            Future.fetched += 1
            return {3: ["three"], 7: None}

    future, cache = Future(), {}
    shares = {b: Share(future, b, cache) for b in (3, 7)}
    assert all(s.done() for s in shares.values())
    assert (shares[7].result(), shares[3].result(), shares[3].result()) == (None, ["three"], ["three"])
    assert Future.fetched == 1
