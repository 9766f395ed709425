"""``python -m inpaint_core run`` on a temporary folder."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import make_picture

ROOT = Path(__file__).resolve().parent.parent


def _run(*args):
    return subprocess.run([sys.executable, "-m", "inpaint_core", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_batch_run_matches_masks_by_stem(tmp_path, tiny_album_checkpoint):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir(), masks.mkdir()
    originals = {}
    for i, name in enumerate(["a", "b", "c"]):
        img = make_picture(40 + 10 * i, 60, i)
        originals[name] = img
        Image.fromarray(img).save(images / f"{name}.jpg" if i == 0 else images / f"{name}.png")
        mask = np.zeros(img.shape[:2], np.uint8)
        mask[10:20, 10:30] = 255
        Image.fromarray(mask).save(masks / f"{name}.png")
    proc = _run("run", "--checkpoint", tiny_album_checkpoint, "--image", images, "--mask", masks,
                "--output", out, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "wrote 3 image(s)" in proc.stdout
    for name in ["b", "c"]:  # PNG inputs: unmasked pixels come back exactly
        result = np.asarray(Image.open(out / f"{name}.png"))
        keep = np.ones(result.shape[:2], bool)
        keep[10:20, 10:30] = False
        assert np.array_equal(result[keep], originals[name][keep])


def test_missing_masks_are_reported(tmp_path, tiny_album_checkpoint):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    Image.fromarray(make_picture(20, 20, 0)).save(images / "x.png")
    Image.fromarray(make_picture(20, 20, 0)).save(images / "y.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(masks / "x.png")
    proc = _run("run", "--checkpoint", tiny_album_checkpoint, "--image", images, "--mask", masks,
                "--output", tmp_path / "out")
    assert proc.returncode == 2
    assert "no mask for 1 image(s), e.g. y.png" in proc.stderr


def test_bad_checkpoint_is_reported(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    proc = _run("run", "--checkpoint", bad, "--image", tmp_path, "--mask", tmp_path, "--output", tmp_path / "o")
    assert proc.returncode == 2 and "bad.safetensors" in proc.stderr


def _one_tile(tmp_path):
    """A 64x80 tile, its colour-coded land cover (Land left, Road right) and a hole across both."""
    from inpaint_core.landcover import get_class_table

    table = get_class_table("dubai-aerial")
    lc = np.full((64, 80), 2, np.int64)
    lc[:, 40:] = 3
    folders = {name: tmp_path / name for name in ("images", "masks", "landcover")}
    for folder in folders.values():
        folder.mkdir()
    image = make_picture(64, 80, 5)
    Image.fromarray(image).save(folders["images"] / "t.png")
    mask = np.zeros((64, 80), np.uint8)
    mask[20:40, 30:50] = 255
    Image.fromarray(mask).save(folders["masks"] / "t.png")
    Image.fromarray(table.colorize(lc)).save(folders["landcover"] / "t.png")
    return folders, image, mask > 127, lc


def test_batch_run_with_a_classical_method_needs_no_checkpoint(tmp_path):
    folders, image, hole, _ = _one_tile(tmp_path)
    proc = _run("run", "--method", "patchmatch", "--image", folders["images"], "--mask", folders["masks"],
                "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    from inpaint_core.inpainters import ClassicalInpainter

    result = np.asarray(Image.open(tmp_path / "out" / "t.png"))
    np.testing.assert_array_equal(result, ClassicalInpainter("patchmatch").inpaint(image, hole))
    proc = _run("run", "--image", folders["images"], "--mask", folders["masks"], "--output", tmp_path / "o2")
    assert proc.returncode == 2 and "--checkpoint FILE is needed" in proc.stderr


def test_batch_run_with_landcover_patchmatch(tmp_path):
    folders, image, hole, lc = _one_tile(tmp_path)
    args = ["run", "--method", "landcover-patchmatch", "--image", folders["images"], "--mask", folders["masks"],
            "--output", tmp_path / "out"]
    proc = _run(*args)
    assert proc.returncode == 2 and "class table" in proc.stderr
    proc = _run(*args, "--classes", "dubai-aerial")
    assert proc.returncode == 2 and "pass --landcover" in proc.stderr
    proc = _run(*args, "--classes", "dubai-aerial", "--landcover", folders["landcover"])
    assert proc.returncode == 0, proc.stderr
    from inpaint_core.inpainters import make_inpainter

    expected = make_inpainter("landcover-patchmatch", classes="dubai-aerial").inpaint(image, hole, landcover=lc)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "t.png")), expected)


def test_batch_run_writes_geotiff_for_geotiff_input(tmp_path):
    """A uint16 4-band GeoTIFF with nodata comes back as one: same kind, untouched pixels identical."""
    rasterio = __import__("pytest").importorskip("rasterio")
    from rasterio.transform import from_origin

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    rng = np.random.default_rng(0)
    data = rng.integers(500, 3000, (4, 40, 48)).astype(np.uint16)
    data[:, :5, :5] = 0
    with rasterio.open(images / "s2.tif", "w", driver="GTiff", height=40, width=48, count=4, dtype="uint16",
                       crs="EPSG:32632", transform=from_origin(500000, 6200000, 10, 10), nodata=0) as ds:
        ds.write(data)
    hole = np.zeros((40, 48), np.uint8)
    hole[:20, :20] = 255
    Image.fromarray(hole).save(masks / "s2.png")
    proc = _run("run", "--method", "telea", "--image", images, "--mask", masks, "--output", tmp_path / "out",
                "--rgb-bands", "3,2,1")
    assert proc.returncode == 0, proc.stderr
    with rasterio.open(tmp_path / "out" / "s2.tif") as ds:
        assert (ds.count, ds.dtypes[0], ds.crs.to_epsg(), ds.nodata) == (4, "uint16", 32632, 0)
        out = ds.read()
    filled = hole > 0
    filled[:5, :5] = False  # nodata stays nodata
    np.testing.assert_array_equal(out[:, ~filled], data[:, ~filled])
    assert (out[:, filled] > 0).all() and (out[:, filled] != data[:, filled]).any()
    proc = _run("run", "--method", "telea", "--image", images, "--mask", masks, "--output", tmp_path / "o2",
                "--rgb-bands", "9,2,1")
    assert proc.returncode == 1 and "between 1 and 4" in proc.stdout + proc.stderr


def test_batch_run_names_and_skips_bad_files_and_keeps_the_rest(tmp_path):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir(), masks.mkdir()
    Image.fromarray(make_picture(40, 40, 0)).save(images / "good.png")
    (images / "notes.png").write_text("not a picture")
    import io

    buffer = io.BytesIO()
    Image.fromarray(make_picture(60, 60, 1)).save(buffer, format="PNG")
    (images / "cut.png").write_bytes(buffer.getvalue()[:200])
    for name in ("good", "notes", "cut"):
        Image.fromarray(np.full((40, 40), 255, np.uint8)).save(masks / f"{name}.png")
    proc = _run("run", "--method", "telea", "--image", images, "--mask", masks, "--output", out)
    assert proc.returncode == 1  # documented: 1 when some files failed
    assert "skipped notes.png" in proc.stdout + proc.stderr and "skipped cut.png" in proc.stdout + proc.stderr
    assert "wrote 1 image(s)" in proc.stdout and "2 failed" in proc.stdout
    assert [p.name for p in out.iterdir()] == ["good.png"]


def test_batch_run_with_a_satellite_model_on_a_geotiff(tmp_path, app_checkpoints):
    """A satellite model in the batch CLI: GeoTIFF tile and colour land cover in, GeoTIFF out."""
    rasterio = __import__("pytest").importorskip("rasterio")
    import shutil

    examples = ROOT / "examples" / "satellite"
    images, masks, landcover = tmp_path / "images", tmp_path / "masks", tmp_path / "landcover"
    for folder in (images, masks, landcover):
        folder.mkdir()
    shutil.copy(examples / "tile.tif", images / "tile.tif")
    shutil.copy(examples / "landcover.png", landcover / "tile.png")
    with rasterio.open(examples / "tile.tif") as ds:
        original, crs, transform, (h, w) = ds.read(), ds.crs, ds.transform, (ds.height, ds.width)
    hole = np.zeros((h, w), np.uint8)
    hole[100:160, 200:300] = 255
    Image.fromarray(hole).save(masks / "tile.png")
    proc = _run("run", "--checkpoint", app_checkpoints / "satellite-dubai.safetensors", "--image", images,
                "--mask", masks, "--landcover", landcover, "--output", tmp_path / "out", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    with rasterio.open(tmp_path / "out" / "tile.tif") as ds:
        assert (ds.crs, ds.transform, ds.count, ds.dtypes[0]) == (crs, transform, original.shape[0], str(original.dtype))
        out = ds.read()
    keep = hole == 0
    np.testing.assert_array_equal(out[:, keep], original[:, keep])
    assert (out[:, ~keep] != original[:, ~keep]).any()
