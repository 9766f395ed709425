"""The app's logic in :mod:`inpaint_core.app.editing`: editor values, masks, land-cover editing."""


import numpy as np
import pytest

from inpaint_core.app import editing, landcover_edit
from inpaint_core.data.landcover import ClassTable

# a small class table (name, code, colour per class)
CLASSES = ClassTable.from_json([
    {"name": "Water", "code": 1, "color": [226, 169, 41]},
    {"name": "Land", "code": 2, "color": [132, 41, 246]},
    {"name": "Road", "code": 3, "color": [110, 193, 228]},
    {"name": "Building", "code": 4, "color": [60, 16, 152]},
], name="test")


def rgba_layer(mask: np.ndarray, color=(255, 0, 255)) -> np.ndarray:
    """An editor brush layer: transparent, with opaque paint where ``mask``."""
    layer = np.zeros(mask.shape + (4,), np.uint8)
    layer[mask] = (*color, 255)
    return layer


def image(h=32, w=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- editor values ------------------------------------------------------------------------

def test_editor_mask_is_union_of_layer_alphas():
    img = image()
    a = np.zeros((32, 40), bool)
    a[2:6, 3:9] = True
    b = np.zeros((32, 40), bool)
    b[20:25, 30:38] = True
    bg = np.dstack([img, np.full((32, 40), 255, np.uint8)])
    value = {"background": bg, "layers": [rgba_layer(a), rgba_layer(b, (0, 0, 0))], "composite": bg}
    out, mask = editing.editor_image_and_mask(value)
    assert out.dtype == np.uint8 and out.shape == (32, 40, 3)
    np.testing.assert_array_equal(out, img)
    np.testing.assert_array_equal(mask, a | b)


def test_faint_brush_edge_counts_as_hole():
    img = image()
    layer = np.zeros((32, 40, 4), np.uint8)
    layer[5, 5] = (255, 0, 255, 1)  # the faintest anti-aliased rim pixel
    _, mask = editing.editor_image_and_mask({"background": img, "layers": [layer], "composite": None})
    assert mask.sum() == 1 and mask[5, 5]


def test_opaque_layer_is_read_as_black_and_white_mask():
    # API users send a black/white mask PNG, which the editor turns into a fully opaque layer
    img = image()
    bw = np.zeros((32, 40), np.uint8)
    bw[10:12, 10:20] = 255
    layer = np.dstack([bw, bw, bw, np.full_like(bw, 255)])
    _, mask = editing.editor_image_and_mask({"background": img, "layers": [layer], "composite": None})
    np.testing.assert_array_equal(mask, bw > 127)


def test_transparent_background_is_composited_on_white():
    bg = np.zeros((4, 4, 4), np.uint8)
    bg[..., 0] = 10
    bg[0, 0, 3] = 255
    out, mask = editing.editor_image_and_mask({"background": bg, "layers": [], "composite": None})
    assert tuple(out[0, 0]) == (10, 0, 0)
    assert tuple(out[1, 1]) == (255, 255, 255)
    assert not mask.any()


@pytest.mark.parametrize("value", [None, {"background": None, "layers": [], "composite": None}])
def test_missing_image_is_a_clear_error(value):
    with pytest.raises(ValueError, match="upload"):
        editing.editor_image_and_mask(value)


def test_layer_of_other_size_is_rejected():
    value = {"background": image(), "layers": [np.zeros((10, 10, 4), np.uint8)], "composite": None}
    with pytest.raises(ValueError, match="must match"):
        editing.editor_image_and_mask(value)


def test_size_limit():
    ok = np.zeros((10, editing.MAX_SIDE, 3), np.uint8)
    assert editing.check_image(ok) is ok
    with pytest.raises(ValueError, match="limit"):
        editing.check_image(np.zeros((10, editing.MAX_SIDE + 1, 3), np.uint8))
    side = int(np.sqrt(editing.MAX_PIXELS)) + 1  # within the side limit, beyond the pixel limit
    with pytest.raises(ValueError, match="megapixels"):
        editing.check_image(np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (side, side, 3)))


def test_not_an_image():
    with pytest.raises(ValueError, match="not an image|could not be read"):
        editing.to_rgb(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="could not be read"):
        editing.to_rgb(np.zeros((4, 4, 3), np.float32))


# --- land cover -----------------------------------------------------------------------------

def test_class_mask_with_and_without_region():
    lc = np.array([[0, 1, 2], [3, 1, 0]])
    np.testing.assert_array_equal(landcover_edit.class_mask(lc, [1, 3]), [[0, 1, 0], [1, 1, 0]])
    region = np.array([[1, 1, 1], [0, 0, 0]], bool)
    np.testing.assert_array_equal(landcover_edit.class_mask(lc, [1, 3], region), [[0, 1, 0], [0, 0, 0]])


def test_class_names_to_indices():
    assert landcover_edit.class_indices(["Road", "Water"], CLASSES) == [2, 0]
    with pytest.raises(ValueError, match="Forest.*Water, Land, Road, Building"):
        landcover_edit.class_indices(["Forest"], CLASSES)


def test_surrounding_fill_takes_nearest_kept_class():
    # a building (3) between land (1) on the left and road (2) on the right
    lc = np.array([[1, 1, 3, 3, 3, 3, 2, 2]] * 3)
    erased = lc == 3
    out = landcover_edit.fill_landcover(lc, erased, "surrounding")
    np.testing.assert_array_equal(out[0], [1, 1, 1, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(out[~erased], lc[~erased])
    assert not np.isin(3, out)


def test_surrounding_fill_encircled_building_becomes_land():
    lc = np.ones((20, 20), np.int64)
    lc[5:15, 6:14] = 3
    out = landcover_edit.fill_landcover(lc, lc == 3, "surrounding")
    assert (out == 1).all()


def test_keep_and_chosen_class_fills():
    lc = np.array([[0, 1], [2, 3]])
    mask = np.array([[0, 1], [1, 0]], bool)
    np.testing.assert_array_equal(landcover_edit.fill_landcover(lc, mask, "keep"), lc)
    np.testing.assert_array_equal(landcover_edit.fill_landcover(lc, mask, "class", 0), [[0, 0], [0, 3]])
    with pytest.raises(ValueError, match="choose the class"):
        landcover_edit.fill_landcover(lc, mask, "class")
    with pytest.raises(ValueError, match="surrounding, keep, class"):
        landcover_edit.fill_landcover(lc, mask, "nearest")


def test_surrounding_fill_of_everything_is_an_error():
    with pytest.raises(ValueError, match="no surrounding"):
        landcover_edit.fill_landcover(np.zeros((3, 3), int), np.ones((3, 3), bool), "surrounding")


def test_paint_landcover_maps_colours_to_classes():
    lc = np.zeros((6, 6), np.int64)
    first = np.zeros((6, 6), bool)
    first[:, :3] = True
    second = np.zeros((6, 6), bool)
    second[:2] = True
    road = rgba_layer(first, CLASSES[2].color)
    road[5, 0, :3] = np.array(CLASSES[2].color) + 3  # rounding at the brush rim stays Road
    rim = rgba_layer(second, CLASSES[3].color)
    rim[4, 4] = (*CLASSES[1].color, 60)  # too faint to count
    out, painted = landcover_edit.paint_landcover(lc, [road, rim], CLASSES)
    np.testing.assert_array_equal(painted, first | second)
    assert (out[second] == 3).all()  # the later layer paints over the earlier one
    assert (out[first & ~second] == 2).all()
    assert (out[~(first | second)] == 0).all()


def test_paint_landcover_rejects_foreign_colours():
    layer = rgba_layer(np.ones((3, 3), bool), (0, 255, 0))
    with pytest.raises(ValueError, match="#00ff00 \\(9 px\\)"):
        landcover_edit.paint_landcover(np.zeros((3, 3), np.int64), [layer], CLASSES)


def test_plan_satellite_edit_combines_erasing_and_painting():
    lc = np.ones((10, 10), np.int64)  # land
    lc[2:5, 2:5] = 3  # a building
    lc[7:9, 7:9] = 3  # another one, outside the region
    region = np.zeros((10, 10), bool)
    region[:6, :6] = True
    paint = np.zeros((10, 10), bool)
    paint[9, :3] = True
    edit = landcover_edit.plan_satellite_edit(
        lc, CLASSES, erase=["Building"], region=region, fill="surrounding",
        paint_layers=[rgba_layer(paint, CLASSES[0].color)], dilation=0,
    )
    expected_mask = (lc == 3) & region | paint
    np.testing.assert_array_equal(edit.mask, expected_mask)
    assert (edit.landcover[2:5, 2:5] == 1).all()  # erased building became land
    assert (edit.landcover[7:9, 7:9] == 3).all()  # outside the region: untouched
    assert (edit.landcover[paint] == 0).all()  # painted water
    assert edit.landcover.dtype == np.int64


def test_erasing_a_class_grows_its_hole_by_the_measured_default():
    """An erased building takes ERASE_DILATION px around it (its shadow and rim) unless told otherwise;
    the land cover under the grown rim stays as it was."""
    lc = np.ones((64, 64), np.int64)
    lc[28:36, 28:36] = 3
    edit = landcover_edit.plan_satellite_edit(lc, CLASSES, erase=["Building"])
    grow = landcover_edit.ERASE_DILATION
    assert grow > 0 and edit.mask[28 - grow, 31] and edit.mask[31, 35 + grow] and not edit.mask[28 - grow - 1, 31]
    assert (edit.landcover[edit.mask & (lc != 3)] == 1).all()


def test_plan_satellite_edit_chosen_class_and_dilation():
    lc = np.ones((10, 10), np.int64)
    lc[4:6, 4:6] = 2
    edit = landcover_edit.plan_satellite_edit(lc, CLASSES, erase=["Road"], fill="class", fill_class="Water", dilation=1)
    assert (edit.landcover[4:6, 4:6] == 0).all()
    assert edit.mask.sum() > 4 and edit.mask[lc == 2].all()
    assert (edit.landcover[~(lc == 2)] == 1).all()  # the dilated rim keeps its land cover


def test_plan_satellite_edit_errors():
    lc = np.ones((8, 8), np.int64)
    with pytest.raises(ValueError, match="nothing selected"):
        landcover_edit.plan_satellite_edit(lc, CLASSES, erase=[])
    with pytest.raises(ValueError, match="do not occur in this tile"):
        landcover_edit.plan_satellite_edit(lc, CLASSES, erase=["Water"])
    region = np.zeros((8, 8), bool)
    region[0, 0] = True
    lc[5, 5] = 0
    with pytest.raises(ValueError, match="inside the painted region"):
        landcover_edit.plan_satellite_edit(lc, CLASSES, erase=["Water"], region=region)


def test_colorize_overlay_and_legend():
    lc = np.array([[0, 1], [2, 3]])
    colours = landcover_edit.colorize(lc, CLASSES)
    assert colours.shape == (2, 2, 3) and colours.dtype == np.uint8
    assert tuple(colours[1, 0]) == CLASSES[2].color
    img = np.full((2, 2, 3), 100, np.uint8)
    lc_flat = np.zeros((2, 2), np.int64)
    over = landcover_edit.overlay_landcover(img, lc_flat, CLASSES, opacity=0.5)
    expected = np.round(100 * 0.5 + np.array(CLASSES[0].color) * 0.5)
    np.testing.assert_array_equal(over[0, 0], expected)
    with pytest.raises(ValueError, match="must match"):
        landcover_edit.overlay_landcover(img, np.zeros((3, 2), np.int64), CLASSES)
    with pytest.raises(ValueError, match="outside 0..3"):
        landcover_edit.colorize(np.array([[4]]), CLASSES)
    odd = ClassTable.from_json(CLASSES.to_json() + [{"name": "<b>", "code": 9, "color": [0, 0, 0]}], name="odd")
    legend = landcover_edit.legend_html(odd)
    assert "#e2a929" in legend and "Building" in legend and "&lt;b&gt;" in legend


def test_preview_only_shrinks():
    small = image(20, 30)
    assert editing.preview(small, 64) is small
    wide = np.zeros((100, 400, 3), np.uint8)
    assert editing.preview(wide, 200).shape == (50, 200, 3)
    assert editing.preview(wide[..., 0], 40).shape == (10, 40)


def test_save_png_is_lossless(tmp_path):
    from PIL import Image

    img = image(17, 23)
    path = editing.save_png(tmp_path / "x.png", img)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), img)
    grey = (image(5, 6)[..., 0] > 127).astype(np.uint8) * 255
    np.testing.assert_array_equal(np.asarray(Image.open(editing.save_png(tmp_path / "m.png", grey))), grey)


def test_output_dir_removes_old_request_folders(tmp_path):
    import os

    first = editing.output_dir(tmp_path)
    os.utime(first, (0, 0))  # pretend it is from 1970
    second = editing.output_dir(tmp_path)
    assert second.is_dir() and not first.exists()


def test_the_legend_is_the_land_cover_palette():
    """Issue 29, item 3: each class one can paint is a named button carrying its colour, for the
    editor it paints in; no-data classes are listed but never offered."""
    from inpaint_core.data.landcover import get_class_table

    table = get_class_table("dubai-aerial")
    palette = landcover_edit.legend_html(table, palette_for="satellite-paint")
    assert 'data-palette-for="satellite-paint"' in palette
    for c, colour in zip(table, table.hex_colors()):
        button = f'<button type="button" class="landcover-class" data-colour="{colour}" title="Paint {c.name}"'
        assert (button in palette) != c.nodata, c.name
        assert c.name in palette
    assert "<button" not in landcover_edit.legend_html(table)  # a plain legend stays a legend
