"""End to end in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Paints with the mouse on the editor's canvas, presses Inpaint and checks the picture that
comes back. Skips where Playwright or ``/usr/bin/chromium`` is missing (``.ci/run``
installs both). Screenshots go to ``$INPAINT_SCREENSHOT_DIR`` when set, else to pytest's
temporary folder.
"""

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT_MS = 180_000  # generous: CI machines may be busy, and the canvas is slow without a GPU


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        # Playwright's own browser download does not work offline; Debian's build does
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    # not "networkidle": the page keeps a heartbeat request open (the app has per-session state)
    page.wait_for_load_state("load")
    page.locator("#inpaint-run").wait_for()
    yield page
    page.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("INPAINT_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def drag(page, canvas, start, end, steps=25):
    """A mouse stroke across ``canvas`` between two points given as fractions of its box."""
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1]
    x1, y1 = box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, steps + 1):  # intermediate moves: the canvas draws along pointer events
        page.mouse.move(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
    page.mouse.up()


def settle(page, quiet_ms=500):
    """Wait until no event of the page is pending: every status tracker idle (hidden) or showing an
    error. A canvas that an event is about to load again would lose a stroke painted before."""
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="status-tracker"]')]
        .every(t => t.classList.contains("hide") || t.querySelector(".error"))""")
    page.wait_for_timeout(quiet_ms)


def upload_picture(page, path):
    """Upload a picture to the Inpaint tab and wait until the editor has it to paint on."""
    page.locator("#inpaint-picture input[type=file]").set_input_files(str(path))
    page.locator("#inpaint-picture-info", has_text="pixels").wait_for()
    canvas = page.locator("#inpaint-editor canvas").first
    canvas.wait_for()
    settle(page, 1000)  # the canvas sizes itself to the picture
    return canvas


def next_result(page, selector, previous_href) -> np.ndarray:
    """Like :func:`result_image`, for the result that replaces the one at ``previous_href``."""
    link = page.locator(f"{selector} a").first
    page.wait_for_function("([sel, old]) => { const a = document.querySelector(sel + ' a'); "
                           "return a && a.getAttribute('href') !== old; }", arg=[selector, previous_href])
    response = page.request.get(link.get_attribute("href"))
    assert response.ok
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def brush_size(page, editor="#inpaint-editor") -> tuple[int, int]:
    """The open brush-size slider of ``editor``: its value (the radius, in the editor's pixels) and
    the width the page shows beside it (in the picture's pixels)."""
    value = int(page.locator(f"{editor} input[type=range]").input_value())
    shown = page.locator(f"{editor} .studio-brush-px").inner_text()
    assert shown.endswith(" px"), shown
    return value, int(shown.split()[0])


def shot(page, path: Path, *selectors, margin=8):
    """A screenshot of the part of the page that holds ``selectors`` (for docs/screenshots)."""
    sx, sy = page.evaluate("[window.scrollX, window.scrollY]")  # boxes are on the viewport, the clip on the page
    boxes = [page.locator(s).first.bounding_box() for s in selectors]
    x0, y0 = max(0, min(b["x"] for b in boxes) + sx - margin), max(0, min(b["y"] for b in boxes) + sy - margin)
    x1 = max(b["x"] + b["width"] for b in boxes) + sx + margin
    y1 = max(b["y"] + b["height"] for b in boxes) + sy + margin
    page.screenshot(path=str(path), full_page=True, clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0})


def changed_pixels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 0


def result_image(page, selector) -> np.ndarray:
    """Wait for the result file of a ``gr.File`` and fetch it through its download link, as an array."""
    link = page.locator(f"{selector} a").first
    link.wait_for()
    response = page.request.get(link.get_attribute("href"))
    assert response.ok
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def paint_land_cover_and_inpaint(page, colour: str, start, end, shot: Path, absent: str | None = None) -> np.ndarray:
    """In the Satellite tab: pick ``colour`` (CSS ``rgb(...)``) from the land-cover brush's
    palette (where ``absent`` must not be offered), paint a stroke, press Inpaint; returns the
    result and saves a screenshot."""
    settle(page)  # an example sets tile, land cover and model: a load landing later closes the colour popup
    page.get_by_role("tab", name="Paint land cover (optional)").click()
    editor = page.locator("#satellite-paint")
    editor.get_by_role("button", name="Color").click()
    editor.locator(f'.color[style*="{colour}"]').click()
    if absent is not None:
        assert editor.locator(f'.color[style*="{absent}"]').count() == 0
    page.mouse.click(5, 5)  # close the colour picker
    drag(page, editor.locator("canvas").first, start, end)
    page.click("#satellite-run")
    result = result_image(page, "#satellite-result")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(shot), full_page=True)
    return result


def test_paint_a_stroke_and_inpaint(page, shots):
    picture = EXAMPLES / "photos" / "astronaut.jpg"
    original = np.asarray(Image.open(picture).convert("RGB"))
    canvas = upload_picture(page, picture)
    drag(page, canvas, (0.35, 0.2), (0.62, 0.3))
    page.click("#inpaint-run")
    result = result_image(page, "#inpaint-result")
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "inpaint-tab.png"), full_page=True)
    assert result.shape == original.shape
    changed = np.abs(result.astype(int) - original.astype(int)).max(axis=2) > 0
    # the stroke (roughly 130 x 45 px of the 512 x 512 picture plus its brush width) was filled ...
    assert changed.sum() > 2000
    ys, xs = np.nonzero(changed)
    assert 60 < ys.mean() < 200 and 150 < xs.mean() < 350
    # ... and the rest came back as it went in (a JPEG decoded the same way on both sides)
    assert changed[300:].sum() == 0


def test_satellite_erase_buildings_and_paint_land_cover(page, shots):
    page.get_by_role("tab", name="Satellite").click()
    page.get_by_text("Town by the sea").click()  # the bundled example tile
    page.locator("#satellite-overlay img").wait_for()
    page.locator("#satellite-erase").get_by_label("Building").check()
    vegetation = "rgb(254, 221, 58)"
    result = paint_land_cover_and_inpaint(page, vegetation, (0.62, 0.72), (0.92, 0.62), shots / "satellite-tab.png")
    tile = np.asarray(Image.open(EXAMPLES / "satellite" / "tile.tif").convert("RGB"))
    changed = np.abs(result.astype(int) - tile.astype(int)).max(axis=2) > 0
    lc = np.asarray(Image.open(EXAMPLES / "satellite" / "landcover.png").convert("RGB"))
    buildings = (lc == (0x3C, 0x10, 0x98)).all(axis=2)
    assert changed[~buildings].sum() > 1000  # the painted stroke was inpainted too
    assert changed[buildings].mean() > 0.5


def test_switching_to_the_rural_model_switches_classes_and_brush(page, shots):
    """The DeepGlobe choice: its legend and pickers, its colours in the land-cover brush; its
    example tile sets it, and erasing villages + painting forest comes back filled."""
    page.get_by_role("tab", name="Satellite").click()
    page.locator("#satellite-erase").get_by_label("Building").wait_for()  # the default: the Dubai model
    page.get_by_text("Fields, forest, river").click()  # the rural example sets its model too
    page.locator("#satellite-legend", has_text="Forest land").wait_for()
    page.locator("#satellite-erase").get_by_label("Urban land").wait_for()
    assert page.locator("#satellite-erase").get_by_label("Building").count() == 0
    assert page.locator("#satellite-model input:checked").get_attribute("value").startswith("deepglobe")
    page.locator("#satellite-overlay img").wait_for()
    page.locator("#satellite-erase").get_by_label("Urban land").check()
    # the brush offers the model's table: Forest land's green, and no longer Dubai's vegetation yellow
    forest, vegetation = "rgb(0, 255, 0)", "rgb(254, 221, 58)"
    result = paint_land_cover_and_inpaint(page, forest, (0.3, 0.15), (0.5, 0.2), shots / "satellite-tab-deepglobe.png",
                                          absent=vegetation)
    folder = EXAMPLES / "satellite-deepglobe"
    tile = np.asarray(Image.open(folder / "rural-tile.tif").convert("RGB"))
    changed = np.abs(result.astype(int) - tile.astype(int)).max(axis=2) > 0
    lc = np.asarray(Image.open(folder / "rural-landcover.png").convert("RGB"))
    urban = (lc == (0, 255, 255)).all(axis=2)
    assert changed[urban].mean() > 0.5  # the village was erased
    assert changed[:256].sum() > 500  # the painted forest stroke across the fields was filled


def test_big_photo_is_painted_on_a_copy_and_comes_back_full_size(page, tmp_path):
    """A photo larger than the editor's side: the editor shows a screen-size copy (so a click sends
    little), and the result is the full-size original with only the painted stroke filled."""
    from inpaint_core.app import editing, editor_state
    from inpaint_core.eval.benchmark import synthetic_image

    h, w = 1950, 2600
    picture = tmp_path / "big.jpg"
    Image.fromarray(synthetic_image(h, w)).save(picture, quality=90)
    original = np.asarray(Image.open(picture).convert("RGB"))
    canvas = upload_picture(page, picture)
    assert page.locator("#inpaint-picture-info").inner_text().startswith("2600x1950 pixels; painted on a 1280x960 copy")
    # the default brush is sized to the photo, and its width is given in the photo's own pixels
    radius = editor_state.brush_radius((960, 1280))
    page.locator("#inpaint-editor").get_by_role("button", name="Brush Size").click()
    sync_api.expect(page.locator("#inpaint-editor input[type=range]")).to_have_value(str(radius))
    sync_api.expect(page.locator("#inpaint-editor .studio-brush-px")).to_have_text(f"{round(2 * radius * w / 1280)} px")
    page.mouse.click(5, 5)  # close the slider
    drag(page, canvas, (0.35, 0.3), (0.6, 0.35))
    page.click("#inpaint-run")
    result = result_image(page, "#inpaint-result")
    assert result.shape == original.shape  # the full-size picture, not the editor's copy
    changed = np.abs(result.astype(int) - original.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 5000 and h * 0.2 < ys.mean() < h * 0.45 and w * 0.3 < xs.mean() < w * 0.65
    assert changed[int(h * 0.6):].sum() == 0  # elsewhere the original's own pixels, bit for bit
    assert max(original.shape[:2]) > editing.EDIT_SIDE


# --- the editor people expect (issue 29) ------------------------------------------------------------

def test_keys_undo_and_redo_strokes_and_resize_the_brush(page, shots):
    """Ctrl+Z removes the last stroke (Ctrl+Shift+Z brings it back); ] and [ grow and shrink the
    brush, whose width the slider shows in pixels of the picture; the default fits the picture."""
    from inpaint_core.app import editor_state
    from inpaint_core.app import models as appm

    picture = EXAMPLES / "photos" / "astronaut.jpg"
    original = np.asarray(Image.open(picture).convert("RGB"))
    canvas = upload_picture(page, picture)
    editor = page.locator("#inpaint-editor")
    radius = editor_state.brush_radius((512, 512))
    editor.get_by_role("button", name="Brush Size").click()
    sync_api.expect(editor.locator("input[type=range]")).to_have_value(str(radius))
    assert brush_size(page) == (radius, 2 * radius)  # shown whole: one editor pixel is one picture pixel
    slider = editor.locator("input[type=range]")
    page.keyboard.press("]")
    sync_api.expect(slider).not_to_have_value(str(radius))
    grown = brush_size(page)
    assert grown[0] > radius and grown[1] == 2 * grown[0]  # larger, and the number says so
    page.keyboard.press("[")
    sync_api.expect(slider).not_to_have_value(str(grown[0]))
    assert brush_size(page)[0] < grown[0]
    shot(page, shots / "editor-keys.png", "#inpaint-editor", "#inpaint-shortcuts")
    page.mouse.click(5, 5)  # close the slider
    drag(page, canvas, (0.35, 0.2), (0.62, 0.3))  # the stroke to keep
    drag(page, canvas, (0.3, 0.75), (0.6, 0.8))  # the stroke to take back
    redo = editor.get_by_role("button", name="Redo")
    page.keyboard.press("Control+z")
    sync_api.expect(redo).to_be_enabled()
    page.keyboard.press("Control+Shift+z")
    sync_api.expect(redo).to_be_disabled()
    page.keyboard.press("Control+z")
    sync_api.expect(redo).to_be_enabled()
    page.locator("#inpaint-method").get_by_label(appm.TELEA).check()
    page.click("#inpaint-run")
    changed = changed_pixels(result_image(page, "#inpaint-result"), original)
    assert changed[:250].sum() > 1000  # the first stroke was filled
    assert changed[300:].sum() == 0  # the undone one was not
    # Ctrl + wheel zooms the picture, as Alt + wheel does in Gradio's editor
    zoom = editor.get_by_text("%").first
    before = int(zoom.inner_text().rstrip("%"))
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -400)
    page.keyboard.up("Control")
    sync_api.expect(zoom).not_to_have_text(f"{before}%")
    assert int(zoom.inner_text().rstrip("%")) > before


def test_keep_editing_the_result_fills_a_second_hole(page, shots):
    """"Keep editing the result" puts the result in the editor; a second fill then changes only the
    second hole (the first fill stays); "Undo last fill" goes back to the upload."""
    from inpaint_core.app import models as appm

    picture = EXAMPLES / "photos" / "astronaut.jpg"
    original = np.asarray(Image.open(picture).convert("RGB"))
    canvas = upload_picture(page, picture)
    page.locator("#inpaint-method").get_by_label(appm.PATCHMATCH).check()
    drag(page, canvas, (0.35, 0.2), (0.62, 0.3))
    page.click("#inpaint-run")
    first = result_image(page, "#inpaint-result")
    href = page.locator("#inpaint-result a").first.get_attribute("href")
    undo = page.locator("#inpaint-editor").get_by_role("button", name="Undo")
    sync_api.expect(undo).to_be_enabled()  # the first stroke
    page.click("#inpaint-keep")
    page.locator("#inpaint-picture-info", has_text="1 kept fill").wait_for()
    sync_api.expect(undo).to_be_disabled()  # the editor holds the result now, with no stroke on it
    settle(page, 1500)
    drag(page, canvas, (0.3, 0.75), (0.6, 0.8))
    sync_api.expect(undo).to_be_enabled()
    page.click("#inpaint-run")
    second = next_result(page, "#inpaint-result", href)
    page.wait_for_timeout(1000)
    shot(page, shots / "keep-editing.png", "#inpaint-picture-info", "#inpaint-editor", "#inpaint-compare",
         "#inpaint-mask")
    assert changed_pixels(first, original)[:250].sum() > 1000
    changed = changed_pixels(second, first)
    assert changed[300:].sum() > 1000 and changed[:300].sum() == 0  # only the second hole moved
    page.click("#inpaint-undo")
    sync_api.expect(page.locator("#inpaint-picture-info")).not_to_contain_text("kept")
    sync_api.expect(page.locator("#inpaint-result a")).to_have_count(0)


def test_a_new_picture_leaves_no_stale_output_and_the_empty_editor_says_where_to_upload(page, shots, tmp_path):
    """Loading an example clears the last picture's outputs and error badges; a refused file
    leaves the Picture box; the box is tall enough for its text; the empty editor says where
    pictures come from."""
    from inpaint_core.app import models as appm

    box = page.locator("#inpaint-picture")
    assert box.bounding_box()["height"] >= 150
    # the words themselves lie inside the box (at 90 px, "Click to Upload" was cut off)
    inside = page.evaluate("""() => {
        const box = document.querySelector("#inpaint-picture").getBoundingClientRect();
        const walk = document.createTreeWalker(document.querySelector("#inpaint-picture"), NodeFilter.SHOW_TEXT);
        while (walk.nextNode()) {
            if (walk.currentNode.textContent.trim() !== "Click to Upload") continue;
            const range = document.createRange();
            range.selectNodeContents(walk.currentNode);
            const words = range.getBoundingClientRect();
            return words.height > 0 && words.top >= box.top && words.bottom <= box.bottom;
        }
        return null;
    }""")
    assert inside is True
    empty = page.evaluate("() => getComputedStyle(document.querySelector('#inpaint-editor .empty.wrap'), "
                          "'::after').content")
    assert "Picture box above" in empty
    shot(page, shots / "empty-editor.png", "#inpaint-picture", "#inpaint-editor", "#inpaint-shortcuts")

    badges = "() => document.querySelectorAll('[data-testid=status-tracker] .error').length"
    canvas = upload_picture(page, EXAMPLES / "photos" / "astronaut.jpg")
    page.locator("#inpaint-method").get_by_label(appm.TELEA).check()
    drag(page, canvas, (0.35, 0.2), (0.62, 0.3))
    page.click("#inpaint-run")
    result_image(page, "#inpaint-result")
    page.locator("#inpaint-compare img").first.wait_for()
    page.get_by_text("coffee.jpg").click()
    page.locator("#inpaint-picture-info", has_text="600x400 pixels").wait_for()
    for output in ("#inpaint-result a", "#inpaint-compare img", "#inpaint-mask img"):
        sync_api.expect(page.locator(output)).to_have_count(0)
    settle(page)
    page.click("#inpaint-run")  # nothing painted: an error, with badges on the outputs
    page.locator("#inpaint-result [data-testid=status-tracker] .error").wait_for()
    page.get_by_text("chelsea.jpg").click()
    page.locator("#inpaint-picture-info", has_text="451x300 pixels").wait_for()
    settle(page)
    assert page.evaluate(badges) == 0
    shot(page, shots / "new-picture-clears-outputs.png", "#inpaint-picture", "#inpaint-compare", "#inpaint-mask")

    junk = tmp_path / "notes.png"
    junk.write_text("not a picture")
    box.get_by_role("button", name="Clear").click()
    box.locator("input[type=file]").set_input_files(str(junk))
    page.get_by_text("notes.png is not an image").first.wait_for()  # the message says what is wrong
    sync_api.expect(box.get_by_text("notes.png")).to_have_count(0)  # and the box let go of the file
    settle(page)
    assert page.evaluate(badges) == 0


def test_the_legend_is_the_land_cover_palette_and_a_new_tile_clears_the_outputs(page, shots):
    """Clicking a class of the legend picks its colour in the land-cover brush (opening the paint
    tab); a stroke then paints that class's code into the edited land cover. Loading another
    example tile then clears the Satellite tab's outputs."""
    from inpaint_core.app import models as appm

    page.get_by_role("tab", name="Satellite").click()
    page.get_by_text("Town by the sea").click()
    page.locator("#satellite-overlay img").wait_for()
    settle(page)
    page.locator("#satellite-method").get_by_label(appm.TELEA).check()
    water = (0xE2, 0xA9, 0x29)
    page.locator("#satellite-legend").get_by_role("button", name="Water").click()
    paint = page.locator("#satellite-paint")
    sync_api.expect(paint).to_be_visible()
    sync_api.expect(paint.get_by_role("button", name="Color")).to_have_attribute("style", re.compile(
        r"color: rgb\({}, {}, {}\)".format(*water)))
    sync_api.expect(page.locator('#satellite-legend [aria-pressed="true"]')).to_have_text("Water")
    drag(page, paint.locator("canvas").first, (0.55, 0.2), (0.85, 0.25))
    page.click("#satellite-run")
    link = page.locator('#satellite-files a[href*="_landcover_edited"]').first
    link.wait_for()
    response = page.request.get(link.get_attribute("href"))
    edited = np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))
    before = np.asarray(Image.open(EXAMPLES / "satellite" / "landcover.png").convert("RGB"))
    painted = (edited == water).all(axis=2) & ~(before == water).all(axis=2)
    ys, xs = np.nonzero(painted)
    assert painted.sum() > 500 and 70 < ys.mean() < 160 and 250 < xs.mean() < 460  # along the stroke
    page.wait_for_timeout(1000)
    shot(page, shots / "satellite-palette.png", "#satellite-legend", "#satellite-paint", "#satellite-compare",
         "#satellite-landcover")

    page.get_by_text("Fields, forest, river").click()
    page.locator("#satellite-legend", has_text="Forest land").wait_for()
    for output in ("#satellite-result a", "#satellite-files a", "#satellite-compare img", "#satellite-landcover img"):
        sync_api.expect(page.locator(output)).to_have_count(0)
