"""A fuzz pass over the app's upload handlers: random, truncated and bit-flipped bytes of every
format each upload box accepts, called as plain functions (no server).

Each bad file must get a ``gr.Error`` (the message the page shows) that names the file, not
the server's folders nor an exception of some library ("Read failed. See previous exception
for details."); a file that still decodes may be used. After the pass the handlers still
work. The loop is seeded: the same few dozen cases every run, a few seconds in all.
"""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

from inpaint_core.app.handlers import Handlers  # noqa: E402
from inpaint_core.app.ui import build_demo  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TILE = EXAMPLES / "satellite" / "tile.tif"
LANDCOVER = EXAMPLES / "satellite" / "landcover.png"


def _picture(h=48, w=64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx * 4 % 256, yy * 5 % 256, (xx + yy) * 3 % 256]).astype(np.uint8)


def _encoded(fmt: str) -> bytes:
    """A small valid file of ``fmt`` (a PIL format name, or GTIFF for a uint16 GeoTIFF)."""
    if fmt == "GTIFF":
        from rasterio.io import MemoryFile

        data = np.moveaxis(_picture(), -1, 0).astype(np.uint16) * 16
        with MemoryFile() as mem:
            with mem.open(driver="GTiff", height=48, width=64, count=3, dtype="uint16", crs="EPSG:32632",
                          transform=from_origin(500000, 6200000, 1, 1), nodata=0) as ds:
                ds.write(data)
            return mem.read()
    buffer = io.BytesIO()
    image = Image.fromarray(_picture())
    if fmt == "GIF":
        image.save(buffer, format="GIF", save_all=True, append_images=[image.rotate(90)], duration=50)
    else:
        image.save(buffer, format=fmt)
    return buffer.getvalue()


def _land_cover_codes() -> bytes:
    """The example tile's land cover as a one-band TIFF of class codes."""
    from inpaint_core.data.landcover import get_class_table

    table = get_class_table("dubai-aerial")
    rgb = np.asarray(Image.open(LANDCOVER).convert("RGB"))
    buffer = io.BytesIO()
    Image.fromarray(table.codes_from_index(table.index_from_colors(rgb)).astype(np.uint8)).save(buffer, format="TIFF")
    return buffer.getvalue()


def _mutations(valid: bytes, rng: np.random.Generator, n: int):
    """``n`` damaged versions of ``valid``: random bytes, cut short, a few bytes flipped."""
    for i in range(n):
        kind = ("random", "truncated", "flipped")[i % 3]
        if kind == "random":
            yield kind, rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
        elif kind == "truncated":
            yield kind, valid[: int(rng.integers(0, len(valid)))]
        else:
            data = bytearray(valid)
            for at in rng.integers(0, len(data), int(rng.integers(1, 16))):
                data[at] ^= int(rng.integers(1, 256))
            yield kind, bytes(data)


# the formats each upload box takes: the Inpaint tab's picture (any image), the tile and the land cover
PICTURES = [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP"), ("gif", "GIF"), ("bmp", "BMP"), ("tif", "TIFF")]
TILES = [("png", "PNG"), ("jpg", "JPEG"), ("tif", "GTIFF")]


def _check(call, path: Path, outcomes: list):
    """Run one handler call: it may work, or raise ``gr.Error`` with a message for a person."""
    try:
        call()
    except gr.Error as err:
        message = err.message
        assert path.name in message, message  # names the file ...
        assert str(path.parent) not in message and "/tmp/" not in message, message  # ... not the server's folders
        assert "previous exception" not in message and "Traceback" not in message, message
        outcomes.append("refused")
    else:
        outcomes.append("used")


def test_damaged_uploads_get_messages_and_the_handlers_keep_working(app_models, tmp_path):
    handlers = Handlers(app_models, tmp_path / "out")
    demo = build_demo(app_models, tmp_path / "out")
    editor = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "inpaint-editor")
    from gradio.data_classes import FileData

    rng = np.random.default_rng(27)
    outcomes, case = [], 0
    folder = tmp_path / "uploads"
    folder.mkdir()

    def write(kind: str, ext: str, data: bytes) -> Path:
        nonlocal case
        case += 1
        path = folder / f"{kind}_{case:03d}.{ext}"  # a name of its own: the picture reader caches by path
        path.write_bytes(data)
        return path

    for ext, fmt in PICTURES:
        for kind, data in _mutations(_encoded(fmt), rng, 4):
            path = write(kind, ext, data)
            _check(lambda: handlers.picture_load(str(path)), path, outcomes)
            _check(lambda: editor.convert_and_format_image(FileData(path=str(path), orig_name=path.name),
                                                           flatten_on_white=True), path, outcomes)
    for ext, fmt in TILES:
        for kind, data in _mutations(_encoded(fmt), rng, 4):
            path = write(kind, ext, data)
            _check(lambda: handlers.satellite_load(str(path), str(LANDCOVER)), path, outcomes)
    for ext, valid in (("png", LANDCOVER.read_bytes()), ("tif", _land_cover_codes())):
        for kind, data in _mutations(valid, rng, 4):
            path = write(kind, ext, data)
            _check(lambda: handlers.satellite_load(str(TILE), str(path)), path, outcomes)

    assert len(outcomes) == 2 * 4 * len(PICTURES) + 4 * len(TILES) + 4 * 2
    assert outcomes.count("refused") >= len(outcomes) // 2  # most of them cannot be used, and were refused
    # and the handlers still work
    good = tmp_path / "good.png"
    Image.fromarray(_picture()).save(good)
    shown, note = handlers.picture_load(str(good))
    assert shown["background"].shape[:2] == (48, 64) and note.startswith("64x48")
    overlay, _, _ = handlers.satellite_load(str(TILE), str(LANDCOVER))
    assert overlay.shape[2] == 3
