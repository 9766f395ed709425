"""The what-if measures: seam energy sees a grid of tiled squares, colour harmony the tile's own
colours, and windows are filled in their whole tile, as the app fills them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inpaint_core.data.landcover import get_class_table
from inpaint_core.data.tiles import tile_windows
from inpaint_core.eval import whatif
from inpaint_core.eval.whatif import (
    LATTICE,
    colour_harmony,
    seam_energy,
    what_if,
    windows_in_tiles,
)
from inpaint_core.fills.landcover import ExemplarBank
from inpaint_core.registry import FILLS, LANDCOVER_FILLS, Fill, LandcoverFillInpainter

TABLE = get_class_table("dubai-aerial")  # 0 Unlabeled, 1 Water, 2 Land, 3 Road, 4 Building, 5 Vegetation
WATER, LAND, ROAD = 1, 2, 3


def noise(h, w, seed, lo=60, hi=200):
    return np.random.default_rng(seed).integers(lo, hi, (h, w, 3)).astype(np.uint8)


def tiled(h, w, origin=(0, 0)):
    """Squares of LATTICE px, each a smooth ramp of its own tone: a bank fill tiled in squares."""
    yy, xx = np.mgrid[0:h, 0:w]
    cell = ((yy - origin[0]) // LATTICE) * 7 + (xx - origin[1]) // LATTICE
    tone = (cell * 53) % 160 + 40
    ramp = ((yy - origin[0]) % LATTICE + (xx - origin[1]) % LATTICE) * 0.3
    return np.repeat((tone + ramp)[..., None], 3, axis=2).astype(np.uint8)


def test_seam_energy_sees_a_grid_of_squares_where_it_lies_and_nothing_in_plain_texture():
    mask = np.zeros((256, 256), bool)
    mask[20:230, 30:240] = True
    assert seam_energy(tiled(256, 256), mask) > 5
    assert seam_energy(noise(256, 256, 0), mask) == pytest.approx(1.0, abs=0.05)
    shifted = tiled(256, 256, origin=(10, -27))  # a crop that started elsewhere: its grid lies elsewhere
    assert seam_energy(shifted, mask, origin=(10, -27)) > 5
    assert seam_energy(shifted, mask) < 1.2
    small = np.zeros((256, 256), bool)
    small[5:20, 5:20] = True  # crosses no line
    assert seam_energy(noise(256, 256, 1), small) is None


def test_colour_harmony_is_below_one_nearer_the_tiles_colour():
    assert colour_harmony((20, 120, 110), (22, 118, 110), (10, 10, 40)) < 0.1
    assert colour_harmony((10, 12, 40), (22, 118, 110), (10, 10, 40)) > 10
    assert colour_harmony((10, 12, 40), (np.nan,) * 3, (10, 10, 40)) is None


def test_windows_in_tiles_know_their_place_in_the_tile():
    rgb, lc = noise(300, 520, 2), np.random.default_rng(3).integers(1, 4, (300, 520))
    for limit in (1, 0):
        found = windows_in_tiles([("t", rgb, lc)], 128, limit)
        assert len(found) == len(tile_windows(rgb, lc, 128, limit))
        for _, im, l, (tile_rgb, tile_lc, (y, x)) in found:
            np.testing.assert_array_equal(tile_rgb[y:y + 128, x:x + 128], im)
            np.testing.assert_array_equal(tile_lc[y:y + 128, x:x + 128], l)
    small = windows_in_tiles([("s", noise(64, 64, 4), lc[:64, :64])], 128)
    assert small[0][3] is None and small[0][1].shape == (128, 128, 3)


def test_what_if_fills_in_the_whole_tile_and_reports_seams_and_harmony(tmp_path):
    """A tile of Land and Road with teal water in one corner; the windows away from it ask for
    water. The bank's water is dark blue: land-cover PatchMatch takes the tile's teal water
    (harmony below 1), the bank's tiled pre-fill draws squares (seam energy above 1)."""
    h = w = 512
    lc = np.full((h, w), LAND, np.int64)
    lc[:, 300:] = ROAD
    lc[420:, 420:] = WATER
    rgb = noise(h, w, 5, 150, 200)
    rgb[:, 300:] = noise(h, w - 300, 6, 90, 120)
    rgb[420:, 420:] = (20, 120, 110) + np.random.default_rng(7).integers(-6, 6, (92, 92, 3))
    bank_lc = np.full((256, 256), WATER, np.int64)
    bank_lc[:, 128:] = LAND
    bank_rgb = np.concatenate([tiled(256, 128) // 4, noise(256, 128, 8, 150, 200)], axis=1)
    bank_rgb[..., 2] = np.maximum(bank_rgb[..., 2], 60)
    bank = ExemplarBank.build([(bank_rgb, bank_lc)], len(TABLE), TABLE.nodata_indices)
    model = LandcoverFillInpainter(TABLE, "landcover-bank", bank=bank)  # stands in for the model: its pre-fill
    windows = windows_in_tiles([("tile", rgb, lc)], 256, 0)
    report = what_if(model, TABLE, windows, tmp_path, progress=False)
    assert report["in_tiles"] == 4
    water = [r["scores"] for r in report["per_window"] if r["asked"] == "Water" and r["erased"] != "Road"]
    assert water and all(r["tile_has_asked"] for r in report["per_window"] if r["asked"] == "Water")
    for scores in water:  # the tile's teal water, not the bank's dark blue; no squares
        assert scores["landcover-patchmatch"]["harmony"] < 0.5 < scores["model"]["harmony"]
        assert scores["landcover-patchmatch"]["seam_energy"] < 1.15 < scores["model"]["seam_energy"]
    saved = json.loads((tmp_path / "whatif.json").read_text())
    assert set(saved["methods"]["model"]) >= {"follows", "seam_energy", "harmony"}
    text = (tmp_path / "whatif.md").read_text()
    assert "seam energy" in text and "colour harmony" in text


def test_what_if_fills_with_every_land_cover_fill_of_the_registry(monkeypatch):
    """The what-if's methods are the registry's land-cover fills (those that need a bank only
    with one), land-cover PatchMatch also without the bank, and Telea: a new land-cover fill of
    the registry is in the what-if without a line here."""
    tile = noise(128, 128, 9)
    lc = np.full((128, 128), LAND, np.int64)
    lc[:, 64:] = WATER
    bank = ExemplarBank.build([(tile, lc)], len(TABLE), TABLE.nodata_indices)
    model = LandcoverFillInpainter(TABLE, "landcover-bank", bank=bank)
    assert list(whatif._methods(model, TABLE)) == [
        "model", "landcover-patchmatch", "landcover-patchmatch-nobank", *LANDCOVER_FILLS[1:], "telea"]
    assert list(whatif._methods(None, TABLE)) == [n for n in LANDCOVER_FILLS if not FILLS[n].needs_bank] + ["telea"]
    flat = Fill("landcover-flat", "Flat", LandcoverFillInpainter, lambda im, m, lc, b: im)
    monkeypatch.setitem(FILLS, flat.name, flat)
    monkeypatch.setattr(whatif, "LANDCOVER_FILLS", LANDCOVER_FILLS + (flat.name,))
    assert "landcover-flat" in whatif._methods(model, TABLE)


def test_what_if_with_several_hole_kinds_is_a_clear_error(tmp_path, capsys):
    """--what-if draws its own holes; a list of --masks kinds is refused before anything runs
    (it used to score the class patches once per kind and then crash writing summary.md)."""
    from inpaint_core.__main__ import main as cli

    code = cli(["evaluate", "--checkpoint", "landcover-patchmatch", "--what-if", "--masks", "all", "--images",
                str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2 and "--what-if draws its own holes" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


class BlueReader:
    """A referee that reads Water wherever blue is above 100, Land elsewhere: it reads the
    tile's greenish water (blue 90-115) as water only part of the time."""

    def segment(self, rgb):
        return np.where(rgb[..., 2] > 100, WATER, LAND)


def test_referee_reading_is_also_set_against_the_tiles_own_pixels_of_the_asked_class(tmp_path):
    """Where the tile has the asked class, the referee's reading of the fills is also divided by
    its reading of the tile's own pixels of that class (here the share of its water with blue
    above 100): a fill that copies the tile's water scores about 1 there."""
    h = w = 512
    lc = np.full((h, w), LAND, np.int64)
    lc[380:, 380:] = WATER
    rgb = noise(h, w, 5, 150, 200)
    rgb[..., 2] = 60  # land: never read as water
    water = np.random.default_rng(9).integers(0, 256, (132, 132, 3)).astype(np.uint8)
    water[..., 0], water[..., 1], water[..., 2] = 30, 120, np.random.default_rng(10).integers(90, 116, (132, 132))
    rgb[380:, 380:] = water
    windows = windows_in_tiles([("tile", rgb, lc)], 256, 0)
    report = what_if(None, TABLE, windows, tmp_path, reader=BlueReader(), progress=False)
    own = (water[..., 2] > 100).mean()
    asked_water = [r for r in report["per_window"] if r["asked"] == "Water"]
    assert asked_water and all(r["referee_tile_recall"] == pytest.approx(own) for r in asked_water)
    pm = report["methods"]["landcover-patchmatch"]
    assert pm["referee_tile_windows"] == len([r for r in report["per_window"] if r["referee_tile_recall"]])
    assert 0.75 < pm["referee_ratio_tile"] < 1.3  # the tile's own water, read as often as the tile's water
    assert report["methods"]["telea"]["referee_ratio_tile"] < 0.5  # Telea smears the land: no water
    assert "ratio to the tile's own pixels of it" in (tmp_path / "whatif.md").read_text()
