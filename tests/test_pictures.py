"""The one picture reader and PNG writer (inpaint_core.data.pictures): every path reads a file the
same way, and a written PNG reads back exactly."""

import numpy as np
import pytest
from PIL import Image

from inpaint_core.app import editing
from inpaint_core.data.geo import read_rgb
from inpaint_core.data.pictures import load_rgb, read_picture, write_png
from inpaint_core.engine import on_white


def picture(h: int = 12, w: int = 20) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_training_reads_a_picture_as_the_app_shows_it(tmp_path):
    """A phone photo stored on its side with an EXIF turn and a PNG with transparent parts come out
    the same for the app, the batch CLI, training and evaluate: turned, transparency on white."""
    upright = picture(12, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to show
    Image.fromarray(np.rot90(upright, 1)).save(tmp_path / "phone.jpg", exif=exif, quality=100)
    rgba = np.dstack([picture(8, 8), np.full((8, 8), 255, np.uint8)])
    rgba[:4, :, 3] = 0  # the top half transparent: its stored colour is arbitrary
    Image.fromarray(rgba).save(tmp_path / "cut_out.png")
    for name in ("phone.jpg", "cut_out.png"):
        app = read_picture(tmp_path / name)
        np.testing.assert_array_equal(load_rgb(tmp_path / name), app)
        np.testing.assert_array_equal(read_picture(tmp_path / name), app)
    assert load_rgb(tmp_path / "phone.jpg").shape == (12, 20, 3)  # upright, as shown
    np.testing.assert_array_equal(load_rgb(tmp_path / "cut_out.png")[:4], 255)
    np.testing.assert_array_equal(load_rgb(tmp_path / "cut_out.png")[4:], rgba[4:, :, :3])


def test_a_tile_is_not_turned_by_its_exif(tmp_path):
    """A tile's pixels line up with its land cover's, so an EXIF orientation does not turn it."""
    stored = picture(12, 20)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "tile.png", exif=exif)
    np.testing.assert_array_equal(read_rgb(tmp_path / "tile.png")[0], stored)
    assert load_rgb(tmp_path / "tile.png").shape == (20, 12, 3)


def test_only_training_reads_past_the_size_limit(tmp_path, monkeypatch):
    import inpaint_core.data.pictures as pictures

    Image.fromarray(picture(30, 40)).save(tmp_path / "big.png")
    monkeypatch.setattr(pictures, "MAX_PIXELS", 1000)  # 30x40 is over it
    with pytest.raises(ValueError, match="big.png is 40x30 pixels"):
        read_picture(tmp_path / "big.png")
    assert load_rgb(tmp_path / "big.png").shape == (30, 40, 3)  # scaled down for training anyway


def test_on_white_is_the_one_rgba_rule():
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, :, :3] = 100
    rgba[0, :, 3] = (255, 0, 51)
    assert on_white(rgba)[0, :, 0].tolist() == [100, 255, 224]  # 100 * 0.2 + 255 * 0.8
    np.testing.assert_array_equal(editing.to_rgb(rgba), on_white(rgba))
    assert on_white(np.full((2, 2), 7, np.uint8)).shape == (2, 2, 3)
    with pytest.raises(ValueError):
        on_white(np.zeros((2, 2, 5), np.uint8))


def test_write_png_round_trips_rgb_grey_and_class_codes(tmp_path):
    rgb = picture()
    codes16 = np.array([[0, 300, 65535]], np.uint16)
    codes = np.array([[1, 2, 200]], np.int64)  # class codes in an int array: stored as 8-bit grey
    for name, array in (("rgb.png", rgb), ("grey.png", rgb[..., 0]), ("codes16.png", codes16), ("codes.png", codes)):
        path = write_png(tmp_path / "sub" / name, array)
        with Image.open(path) as im:
            np.testing.assert_array_equal(np.asarray(im), array)
    with Image.open(tmp_path / "sub" / "codes.png") as im:
        assert im.mode == "L"
    with pytest.raises(ValueError, match="0..65535"):
        write_png(tmp_path / "neg.png", np.array([[-1, 3]]))
    with pytest.raises(ValueError, match="HxW or HxWx3"):
        write_png(tmp_path / "f.png", np.zeros((2, 2, 3), np.float32))
