"""The inference pipeline: the public API's promises, at any size, with clear errors."""

import numpy as np
import pytest
from conftest import make_picture
from PIL import Image

from inpaint_core import load_inpainter
from inpaint_core.data.masks import free_form
from inpaint_core.engine import InferenceOptions, region_boxes
from inpaint_core.models.network import resolve_device
from inpaint_core.registry import ClassicalInpainter


@pytest.fixture(scope="module")
def model(tiny_album_checkpoint):
    return load_inpainter(tiny_album_checkpoint, device="cpu")


@pytest.mark.parametrize("size", [(1, 2), (7, 13), (37, 53), (256, 256), (301, 199)])
def test_output_size_dtype_and_unmasked_pixels_identical(model, size):
    h, w = size
    image = make_picture(h, w, 1)
    if min(h, w) > 4:
        mask = free_form(h, w, np.random.default_rng(0))
    else:  # one hole pixel: a hole must leave something to fill it from
        mask = np.zeros((h, w), bool)
        mask[0, 0] = True
    out = model.inpaint(image, mask)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~mask], image[~mask])
    assert model.kind == "album"


def test_holes_are_actually_filled(model):
    image = make_picture(64, 64, 2)
    image_holed = image.copy()
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    image_holed[mask] = 0
    out = model.inpaint(image_holed, mask)
    assert (out[mask] != 0).any()


def test_empty_mask_returns_input_unchanged(model):
    image = make_picture(40, 50, 3)
    out = model.inpaint(image, np.zeros((40, 50), bool))
    assert np.array_equal(out, image) and out is not image


@pytest.mark.parametrize("method", ["model", "telea", "navier-stokes", "patchmatch"])
@pytest.mark.parametrize("size", [(1, 1), (24, 32)])
def test_a_hole_covering_the_whole_picture_is_refused(model, method, size):
    """Nothing is left to fill from: Telea and Navier-Stokes returned the picture unchanged, the
    model a guess, PatchMatch a black 1x1 picture, all silently."""
    fill = model if method == "model" else ClassicalInpainter(method)
    with pytest.raises(ValueError, match="covers the whole .* picture, so there is nothing to fill it from"):
        fill.inpaint(make_picture(*size, 0), np.ones(size, bool))


def test_sixteen_bit_pil_pictures_are_refused_not_clipped(model):
    """PIL's conversion of a 16-bit grey picture to RGB clips it: a 0-65535 ramp came back
    99 % white. Refused with what to do instead."""
    ramp = Image.fromarray(np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1)))
    assert ramp.mode == "I;16"
    mask = np.zeros((16, 64), bool)
    mask[4:8, 4:8] = True
    for image in (ramp, ramp.convert("I"), ramp.convert("F")):
        with pytest.raises(ValueError, match="bit .*samples.*clip every value above 255.*GeoTIFF"):
            model.inpaint(image, mask)


def test_accepts_pil_images_and_masks(model):
    image = make_picture(32, 48, 4)
    mask = np.zeros((32, 48), np.uint8)
    mask[5:15, 5:25] = 255
    out = model.inpaint(Image.fromarray(image), Image.fromarray(mask))
    assert np.array_equal(out[mask == 0], image[mask == 0])


def test_rgba_and_grey_images_are_accepted(model):
    rgba = np.dstack([make_picture(16, 16, 5), np.full((16, 16), 255, np.uint8)])
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    assert model.inpaint(rgba, mask).shape == (16, 16, 3)
    assert model.inpaint(rgba[..., 0], mask).shape == (16, 16, 3)


@pytest.mark.parametrize(
    "image, mask, message",
    [
        (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8)), "uint8"),
        (np.zeros((8, 8, 5), np.uint8), np.zeros((8, 8)), "HxWx3"),
        ("cat.png", np.zeros((8, 8)), "numpy array or PIL"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9)), "does not match"),
        (np.zeros((8, 8, 3), np.uint8), None, "mask must be"),
    ],
)
def test_bad_input_raises_value_error_with_a_reason(model, image, mask, message):
    with pytest.raises(ValueError, match=message):
        model.inpaint(image, mask)


def test_unknown_strategy_and_extra_inputs_rejected(model):
    image, mask = make_picture(16, 16, 0), np.ones((16, 16), bool)
    with pytest.raises(ValueError, match="strategy"):
        model.inpaint(image, mask, strategy="tile")
    with pytest.raises(ValueError, match="no extra inputs"):
        model.inpaint(image, mask, landcover=np.zeros((16, 16), int))


@pytest.mark.parametrize("strategy", ["crop", "resize", "full"])
def test_strategies_keep_the_invariant(tiny_album_checkpoint, strategy):
    model = load_inpainter(tiny_album_checkpoint, device="cpu", options=InferenceOptions(working_size=64))
    image = make_picture(150, 220, 6)
    mask = np.zeros((150, 220), bool)
    mask[10:30, 10:40] = True
    mask[100:140, 150:210] = True
    out = model.inpaint(image, mask, strategy=strategy)
    assert np.array_equal(out[~mask], image[~mask])
    assert (out[mask] != image[mask]).any()


def test_crop_strategy_works_on_boxes_not_the_whole_image(model, monkeypatch):
    """A big photo with two small strokes is filled through two small crops."""
    seen = []
    original = type(model)._fill

    def spy(self, image, mask, aux):
        seen.append(image.shape[:2])
        return original(self, image, mask, aux)

    monkeypatch.setattr(type(model), "_fill", spy)
    image = np.zeros((3000, 4000, 3), np.uint8)
    mask = np.zeros((3000, 4000), bool)
    mask[100:140, 200:400] = True
    mask[2500:2520, 3500:3600] = True
    out = model.inpaint(image, mask)
    assert out.shape == image.shape
    assert len(seen) == 2 and all(max(s) <= 512 for s in seen)


def test_region_boxes_merge_close_regions_and_cover_the_mask():
    mask = np.zeros((400, 400), bool)
    mask[10:20, 10:20] = True
    mask[10:20, 40:50] = True  # close: shares a box with the first
    mask[300:310, 300:310] = True
    boxes = region_boxes(mask, margin=16, min_side=64)
    assert len(boxes) == 2
    covered = np.zeros_like(mask)
    for y0, y1, x0, x1 in boxes:
        covered[y0:y1, x0:x1] = True
        assert y1 - y0 >= 64 and x1 - x0 >= 64
    assert covered[mask].all()


def test_classical_inpainter_has_the_same_contract():
    image = make_picture(64, 64, 7)
    mask = np.zeros((64, 64), bool)
    mask[10:30, 10:30] = True
    out = ClassicalInpainter().inpaint(image, mask)
    assert np.array_equal(out[~mask], image[~mask])


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError):
        resolve_device("tpu")


def test_one_size_limit_for_the_api_and_the_app():
    from inpaint_core import engine
    from inpaint_core.app import editing

    assert (editing.MAX_SIDE, editing.MAX_PIXELS) == (engine.MAX_SIDE, engine.MAX_PIXELS)
    wide = np.zeros((4, engine.MAX_SIDE + 1, 3), np.uint8)
    mask = np.zeros(wide.shape[:2], bool)
    mask[1, 1] = True
    with pytest.raises(ValueError, match=f"limit is {engine.MAX_SIDE} px per side"):
        ClassicalInpainter().inpaint(wide, mask)
    with pytest.raises(ValueError, match="8192 pixels per side"):
        editing.check_image(wide)


def test_native_detail_gives_a_scaled_fill_the_pictures_texture_back():
    """A region larger than the working size is filled small and scaled up, which smears it;
    with native_detail, PatchMatch guided by that fill rebuilds it from the picture's own
    full-resolution patches: the hole gets about the original's texture, and the pixels
    outside it stay untouched."""
    from inpaint_core.eval.metrics import detail_ratio

    rng = np.random.default_rng(0)
    image = np.repeat(rng.integers(0, 256, (300, 300, 1)), 3, axis=2).astype(np.uint8)  # fine grain everywhere
    image[:, 150:, 0] //= 2  # two halves of different colour: the guide has structure to keep
    mask = np.zeros((300, 300), bool)
    mask[100:200, 60:240] = True
    masked = image.copy()
    masked[mask] = 0
    smooth = ClassicalInpainter("telea", options=InferenceOptions(working_size=64, min_context=0))
    sharp = ClassicalInpainter("telea", options=InferenceOptions(working_size=64, min_context=0, native_detail=True))
    soft, crisp = smooth.inpaint(masked, mask), sharp.inpaint(masked, mask)
    assert detail_ratio(soft, image, mask) < 0.2
    assert 0.6 < detail_ratio(crisp, image, mask) < 1.4
    assert np.array_equal(crisp[~mask], image[~mask])
    # the guide's structure is kept: the left half of the hole stays redder than the right half
    assert crisp[100:200, 60:140, 0].mean() > crisp[100:200, 160:240, 0].mean() + 30


def test_an_rgba_picture_is_read_on_white_by_the_api_as_by_the_app():
    """inpaint() reads transparency as the app and `inpaint run` do (on_white): a transparent
    pixel is white, whatever colour is stored under it, and an opaque one keeps its colour."""
    from PIL import Image

    from inpaint_core.engine import to_rgb_array

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200  # red stored everywhere
    rgba[0, 0, 3] = 255  # opaque
    rgba[0, 1, 3] = 0  # fully transparent
    rgba[1, :, 3] = 128  # half
    for given in (rgba, Image.fromarray(rgba, "RGBA")):
        out = to_rgb_array(given)
        assert out.shape == (2, 2, 3) and out.dtype == np.uint8
        assert out[0, 0].tolist() == [200, 0, 0] and out[0, 1].tolist() == [255, 255, 255]
        assert out[1, 0].tolist() == [227, 127, 127]  # 200 * 128/255 + 255 * 127/255
    model = ClassicalInpainter("telea")
    mask = np.zeros((2, 2), bool)
    assert model.inpaint(rgba, mask)[0, 1].tolist() == [255, 255, 255]


def test_regions_filled_at_once_give_the_pixels_of_regions_filled_in_turn(monkeypatch):
    """A fill that may take regions at once (PatchMatch's) gives, on threads finishing in any order,
    what it gives one region after another: every fill reads the picture, and they go in in order."""
    import threading
    import time

    image = make_picture(600, 900, seed=4)
    mask = np.zeros((600, 900), bool)
    for y, x in [(20, 20), (20, 600), (400, 40), (420, 650), (250, 330)]:
        mask[y: y + 40, x: x + 60] = True
    boxes = region_boxes(mask, InferenceOptions().margin, InferenceOptions().min_context)
    assert len(boxes) >= 3
    fill = ClassicalInpainter("patchmatch")
    threads, original = set(), ClassicalInpainter._fill

    def slow_first(self, region, region_mask, aux):  # the first boxes finish last
        threads.add(threading.get_ident())
        time.sleep(0.05 * (region.shape[0] * region.shape[1] % 3))
        return original(self, region, region_mask, aux)

    monkeypatch.setattr(ClassicalInpainter, "_fill", slow_first)
    monkeypatch.setattr(ClassicalInpainter, "region_threads", lambda self: 1)
    in_turn = fill.inpaint(image, mask)
    monkeypatch.setattr(ClassicalInpainter, "region_threads", lambda self: 3)
    threads.clear()
    np.testing.assert_array_equal(fill.inpaint(image, mask), in_turn)
    assert len(threads) > 1
