"""End to end in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Paints with the mouse on the editor's canvas, presses Inpaint and checks the picture that
comes back. Skips where Playwright or ``/usr/bin/chromium`` is missing (``.ci/run``
installs both). Screenshots go to ``$INPAINT_SCREENSHOT_DIR`` when set, else to pytest's
temporary folder.
"""

import io
import os
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


def upload_picture(page, path):
    """Upload a picture to the Inpaint tab and wait until the editor has it to paint on."""
    page.locator("#inpaint-picture input[type=file]").set_input_files(str(path))
    page.locator("#inpaint-picture-info", has_text="pixels").wait_for()
    canvas = page.locator("#inpaint-editor canvas").first
    canvas.wait_for()
    page.wait_for_timeout(1000)  # the canvas sizes itself to the picture
    return canvas


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
    from inpaint_core import editing
    from inpaint_core.benchmark import synthetic_image

    h, w = 1950, 2600
    picture = tmp_path / "big.jpg"
    Image.fromarray(synthetic_image(h, w)).save(picture, quality=90)
    original = np.asarray(Image.open(picture).convert("RGB"))
    canvas = upload_picture(page, picture)
    assert page.locator("#inpaint-picture-info").inner_text().startswith("2600x1950 pixels; painted on a 1280x960 copy")
    drag(page, canvas, (0.35, 0.3), (0.6, 0.35))
    page.click("#inpaint-run")
    result = result_image(page, "#inpaint-result")
    assert result.shape == original.shape  # the full-size picture, not the editor's copy
    changed = np.abs(result.astype(int) - original.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 5000 and h * 0.2 < ys.mean() < h * 0.45 and w * 0.3 < xs.mean() < w * 0.65
    assert changed[int(h * 0.6):].sum() == 0  # elsewhere the original's own pixels, bit for bit
    assert max(original.shape[:2]) > editing.EDIT_SIDE
