"""The editors' brush sizing and keep-editing history (``inpaint_core/app/editor_state.py``)."""

import pytest

from inpaint_core.app import editing, editor_state


def test_the_default_brush_follows_the_picture_not_a_fixed_size():
    small, photo = editor_state.brush_radius((300, 400)), editor_state.brush_radius((960, 1280))
    assert small == 6 and photo == 19  # a 50th of the shorter side the editor shows
    assert editor_state.brush_radius((40, 40)) == editor_state.BRUSH_MIN  # never a dot
    assert editor_state.brush_radius((8000, 8000)) <= editor_state.BRUSH_MAX  # within the slider
    with pytest.raises(ValueError):
        editor_state.brush_radius((0, 10))


def test_a_big_photo_is_measured_in_its_own_pixels():
    # 2600x1950 is painted on a 1280x960 copy: one editor pixel is 2.03 of the photo's
    assert editor_state.editor_shape((1950, 2600)) == (960, 1280) == editing.scaled_shape(1950, 2600, editing.EDIT_SIDE)
    assert editor_state.picture_scale((1950, 2600)) == pytest.approx(2600 / 1280)
    assert editor_state.picture_scale((512, 512)) == 1.0
    # the default width on the photo grows with the photo (it stays 1/25 of what is shown)
    radius = editor_state.brush_radius(editor_state.editor_shape((1950, 2600)))
    assert 2 * radius * editor_state.picture_scale((1950, 2600)) == pytest.approx(1950 / 25, rel=0.05)


def test_keep_editing_and_undo_walk_the_history():
    history = []
    assert editor_state.current_step(history, "upload.png") == "upload.png"
    history = editor_state.keep_step(history, "r1.png")
    history = editor_state.keep_step(history, "r2.png")
    assert editor_state.current_step(history, "upload.png") == "r2.png"
    assert editor_state.keep_step(history, "r2.png") == history  # a second click is no second fill
    assert "2 kept fills" in editor_state.history_note(history)
    history = editor_state.undo_step(history)
    assert editor_state.current_step(history, "upload.png") == "r1.png"
    assert editor_state.current_step(editor_state.undo_step(history), "upload.png") == "upload.png"
    with pytest.raises(ValueError, match="no fill to undo"):
        editor_state.undo_step([])
    with pytest.raises(ValueError, match="press Inpaint"):
        editor_state.keep_step(history, None)


def test_the_history_holds_the_last_fills_and_forgets_older_ones():
    history = []
    for i in range(editor_state.UNDO_FILLS + 3):
        history = editor_state.keep_step(history, f"r{i}.png")
    assert editor_state.UNDO_FILLS >= 5 and len(history) == editor_state.UNDO_FILLS
    assert history[-1] == f"r{editor_state.UNDO_FILLS + 2}.png" and history[0] == "r3.png"
    steps = 0
    while history:
        history = editor_state.undo_step(history)
        steps += 1
    assert steps == editor_state.UNDO_FILLS


def test_a_satellite_step_is_its_result_and_edited_land_cover():
    png = ["/c/a/tile_inpainted.png", "/c/b/tile_landcover_edited.png", "/c/d/tile_mask.png"]
    assert editor_state.satellite_step(png) == ("/c/a/tile_inpainted.png", "/c/b/tile_landcover_edited.png")
    # a GeoTIFF tile goes on as a GeoTIFF (its georeferencing, bands and nodata), not as the PNG preview
    assert editor_state.satellite_step(["/c/t/tile_inpainted.tif", *png])[0] == "/c/t/tile_inpainted.tif"
    keep = editor_state.keep_step([], editor_state.satellite_step(png))
    assert editor_state.keep_step(keep, tuple(editor_state.satellite_step(png))) == keep
    with pytest.raises(ValueError, match="press Inpaint"):
        editor_state.satellite_step(None)
    with pytest.raises(ValueError, match="not a Satellite fill"):
        editor_state.satellite_step(["/c/a/other.png"])
    assert editor_state.result_stem("/x/tile_inpainted_inpainted.tif") == "tile"
    assert editor_state.result_stem("/x/_inpainted.png") == "_inpainted"
