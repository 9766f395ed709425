"""``python -m inpaint_core app-benchmark``: the app's click-to-result time in a real browser.

What a user waits for after pressing Inpaint, measured end to end: headless Chromium
(Debian's ``chromium``, driven by Playwright) opens the app, uploads a JPEG photo, paints
one stroke with the mouse, presses Inpaint, and the clock stops when the result's
download link and the before/after slider are on the page. The upload is timed too, from
choosing the file to the editor having the picture to paint on. Each size is measured
``repeats`` times in one browser; the median is printed, next to the server's own share
(the handler, timed inside the app: decoding the editor's images, the fill, writing the
PNGs) and the fill alone (the engine on the same picture and stroke).

Needs the dev extras (``playwright``) and ``/usr/bin/chromium``. A benchmark, not a test:
it prints figures and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint_core.app.handlers import Handlers
from inpaint_core.app.models import load_app_models
from inpaint_core.app.ui import MAX_FILE_SIZE, build_demo
from inpaint_core.eval.benchmark import few_strokes, synthetic_image

__all__ = ["measure", "add_arguments", "main"]

CHROMIUM = Path("/usr/bin/chromium")
SIZES = ((600, 800), (3000, 4000))  # height, width: a small picture and a phone photo


def _photo(h: int, w: int, path: Path) -> Path:
    Image.fromarray(synthetic_image(h, w)).save(path, quality=90)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _timed_handler(server_times: list[float]):
    """Time the Inpaint handler inside the app (the server's share of a click) into ``server_times``."""
    original = Handlers.inpaint

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            server_times.append(time.perf_counter() - start)

    Handlers.inpaint = timed
    try:
        yield
    finally:
        Handlers.inpaint = original


@contextmanager
def _serving(models, workdir: Path):
    """The app around ``models``, launched in this process on a free port; yields its URL."""
    demo = build_demo(models, workdir=workdir)
    demo.launch(prevent_thread_lock=True, server_port=_free_port(), quiet=True, max_file_size=MAX_FILE_SIZE)
    try:
        yield demo.local_url
    finally:
        demo.close()


def _click(browser, url: str, photo: Path, method: str, timeout_s: float,
           screenshot: Path | None = None) -> tuple[float, float]:
    """One user's go in a fresh page: choose ``method``, upload ``photo``, paint a stroke, press
    Inpaint. Returns the seconds from choosing the file to a paintable editor, and from the click
    to the result's link and slider on the page."""
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.set_default_timeout(timeout_s * 1000)
    page.goto(url)
    # not "networkidle": the page keeps a heartbeat request open (the app has per-session state)
    page.wait_for_load_state("load")
    page.locator("#inpaint-run").wait_for()
    # force: a status overlay of the page's first load may still cover the radio
    page.locator("#inpaint-method label", has_text=method).first.click(force=True)
    start = time.perf_counter()
    page.locator("#inpaint-picture input[type=file]").set_input_files(str(photo))
    page.locator("#inpaint-picture-info", has_text="pixels").wait_for()
    canvas = page.locator("#inpaint-editor canvas").first
    canvas.wait_for()
    upload_s = time.perf_counter() - start
    page.wait_for_timeout(1500)  # the canvas sizes itself to the picture after the upload
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.3
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x0 + box["width"] * 0.25 * i / 20, y0 + box["height"] * 0.05 * i / 20)
    page.mouse.up()
    start = time.perf_counter()
    page.click("#inpaint-run")
    page.locator("#inpaint-result a").first.wait_for()
    page.locator("#inpaint-compare img").first.wait_for()
    click_s = time.perf_counter() - start
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return upload_s, click_s


def _fill_alone(fill, h: int, w: int) -> float:
    """Seconds the engine alone takes to fill a picture of ``h x w`` with a few strokes."""
    image, mask = synthetic_image(h, w), few_strokes(h, w, np.random.default_rng(0))
    start = time.perf_counter()
    fill.inpaint(image, mask)
    return time.perf_counter() - start


def measure(checkpoints, sizes=SIZES, repeats: int = 3, method: str | None = None, timeout_s: float = 180,
            progress=print) -> list[dict]:
    """``[{"size", "click_to_result_s", "upload_to_paintable_s", "server_s", "fill_s"}]``, medians over
    ``repeats`` clicks."""
    from playwright.sync_api import sync_playwright

    models = load_app_models(checkpoints, device="cpu")
    method = method or next(iter(models.album_fills))
    server_times: list[float] = []
    work = Path(tempfile.mkdtemp(prefix="app-benchmark-"))
    results = []
    with _timed_handler(server_times), _serving(models, work / "out") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])  # fmt: skip
        for h, w in sizes:
            photo, shot = _photo(h, w, work / f"photo_{w}x{h}.jpg"), work / f"result_{w}x{h}.png"
            server_before = len(server_times)
            uploads, clicks = zip(*(_click(browser, url, photo, method, timeout_s, shot if r == 0 else None)
                                    for r in range(repeats)))
            fill_s = _fill_alone(models.album_fills[method], h, w)
            row = {"size": f"{w}x{h}", "click_to_result_s": statistics.median(clicks),
                   "upload_to_paintable_s": statistics.median(uploads),
                   "server_s": statistics.median(server_times[server_before:]), "fill_s": fill_s,
                   "screenshot": str(shot)}
            results.append(row)
            progress(f"  {row['size']}: upload {row['upload_to_paintable_s']:.2f} s, "
                     f"click to result {row['click_to_result_s']:.2f} s "
                     f"(server {row['server_s']:.2f} s, fill {fill_s:.2f} s)")
        browser.close()
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoints", default="checkpoints", help="the app's checkpoint folder")
    parser.add_argument("--repeats", type=int, default=3, help="clicks per size (the median is printed)")
    parser.add_argument("--method", help="the Inpaint tab's fill method label (default: the tab's default)")


def main(args: argparse.Namespace) -> int:
    if not CHROMIUM.exists():
        print(f"error: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    try:
        rows = measure(args.checkpoints, repeats=args.repeats, method=args.method)
    except ImportError as err:
        print(f"error: {err} (pip install -e '.[dev]')", file=sys.stderr)
        return 2
    print("| picture | upload to paintable (s) | click to result (s) | server handler (s) | fill alone (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['size']} | {r['upload_to_paintable_s']:.2f} | {r['click_to_result_s']:.2f} | {r['server_s']:.2f} "
              f"| {r['fill_s']:.2f} |")
    ratio = rows[-1]["click_to_result_s"] / rows[0]["click_to_result_s"]
    print(f"\nlargest / smallest: {ratio:.1f}x (target: at most 3x); screenshots: {rows[-1]['screenshot']}")
    return 0
