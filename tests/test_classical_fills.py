"""PatchMatch, land-cover PatchMatch, the land-cover nearest fill and the exemplar bank.

Synthetic pictures whose classes have colours in disjoint ranges, so a fill that copied
from the wrong class is seen in its colours (PatchMatch blends overlapping patches, so a
filled colour is an average of source colours: it stays in its class's range only if every
source was of that class).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import make_picture

from inpaint_core.data.landcover import get_class_table
from inpaint_core.engine import InferenceOptions, region_boxes
from inpaint_core.fills.classical import patchmatch, telea
from inpaint_core.fills.landcover import (
    BLEND_WIDTH,
    PATCH,
    ExemplarBank,
    TileSources,
    blend_edge,
    landcover_nearest,
    landcover_patchmatch,
)
from inpaint_core.registry import (
    FILL_METHODS,
    ClassicalInpainter,
    LandcoverFillInpainter,
    make_inpainter,
)

TABLE = get_class_table("dubai-aerial")  # 0 Unlabeled, 1 Water, 2 Land, 3 Road, 4 Building, 5 Vegetation
WATER, LAND, ROAD, VEG = 1, 2, 3, 5


def textured(h, w, lo, hi, seed):
    """Noise with every channel c in [lo[c], hi[c]]: a texture confined to a colour box."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array(lo), np.array(hi)
    return (lo + rng.random((h, w, 3)) * (hi - lo)).astype(np.uint8)


RED = ((180, 0, 0), (255, 60, 60))
BLUE = ((0, 0, 180), (60, 60, 255))
GREEN = ((0, 180, 0), (60, 255, 60))


def in_box(pixels, box, slack=12):
    # a few units of slack: PatchMatch's pyramid blends a little at hole borders; a copy from the
    # other class moves a channel by ~100 or more
    lo, hi = np.array(box[0]) - slack, np.array(box[1]) + slack
    return bool(((pixels >= lo) & (pixels <= hi)).all())


def two_class_tile(h=96, w=128):
    """Left half Land (red texture), right half Road (blue texture); a hole across the border."""
    lc = np.full((h, w), LAND, np.int64)
    lc[:, w // 2:] = ROAD
    image = np.where((lc == LAND)[..., None], textured(h, w, *RED, 1), textured(h, w, *BLUE, 2))
    mask = np.zeros((h, w), bool)
    mask[30:60, w // 2 - 20: w // 2 + 20] = True
    return image, lc, mask


def test_patchmatch_is_exact_outside_the_hole_and_deterministic():
    image = make_picture(80, 96, 3)
    mask = np.zeros((80, 96), bool)
    mask[20:40, 30:60] = True
    a, b = patchmatch(image, mask, seed=0), patchmatch(image, mask, seed=0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[~mask], image[~mask])
    assert (a[mask] != 0).any()  # the hole is really filled (it was not blacked out here, but check it moved)
    empty = np.zeros_like(mask)
    np.testing.assert_array_equal(patchmatch(image, empty), image)


def test_patchmatch_copies_texture_where_telea_smears():
    """A hole in a fine random texture: PatchMatch keeps its contrast, Telea flattens it."""
    from inpaint_core.fills.classical import telea

    image = textured(96, 96, (0, 0, 0), (255, 255, 255), 5)
    mask = np.zeros((96, 96), bool)
    mask[32:64, 32:64] = True
    pm, te = patchmatch(image, mask), telea(image, mask)
    assert pm[mask].astype(float).std() > 2 * te[mask].astype(float).std()


def test_patchmatch_through_the_crop_pipeline_on_a_big_photo():
    h, w = 1200, 1600
    image = make_picture(h, w, 4)
    mask = np.zeros((h, w), bool)
    mask[100:130, 200:400] = True
    mask[900:960, 1300:1340] = True
    fill = ClassicalInpainter("patchmatch", options=InferenceOptions(strategy="crop", margin=32))
    out = fill.inpaint(image, mask)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    np.testing.assert_array_equal(out, fill.inpaint(image, mask))
    assert fill.kind == "patchmatch" and fill.extra_inputs == ()


def test_landcover_patchmatch_copies_only_the_asked_class():
    image, lc, mask = two_class_tile()
    masked = image.copy()
    masked[mask] = 0
    out = landcover_patchmatch(masked, mask, lc)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert in_box(out[mask & (lc == LAND)], RED)
    assert in_box(out[mask & (lc == ROAD)], BLUE)


def test_landcover_patchmatch_follows_the_asked_class_not_the_surroundings():
    """A hole inside the Road half that asks for Land: its sources are the Land half only."""
    image, lc, _ = two_class_tile()
    mask = np.zeros_like(lc, bool)
    mask[30:60, 80:110] = True
    asked = lc.copy()
    asked[mask] = LAND
    out = landcover_patchmatch(image, mask, asked)
    assert in_box(out[mask], RED)
    assert in_box(patchmatch(image, mask)[mask], BLUE)  # plain PatchMatch copies the surroundings


def test_landcover_patchmatch_is_deterministic():
    image, lc, mask = two_class_tile()
    np.testing.assert_array_equal(landcover_patchmatch(image, mask, lc), landcover_patchmatch(image, mask, lc))


def test_classes_filled_at_once_give_the_fill_of_one_after_another(monkeypatch):
    """With the tile's sources given (as the engine gives them), each asked class is filled on its own
    thread; the pixels are those of the classes filled in turn, a what-if that borrows included."""
    from inpaint_core.fills import landcover as module

    image, lc, mask = two_class_tile()
    asked = lc.copy()
    asked[60:80, 20:50] = VEG  # asked for a class the tile lacks: borrowed from the bank
    mask[60:80, 20:50] = True
    sources = TileSources(image, mask, asked, len(TABLE))
    calls, original = [], module._class_fill
    monkeypatch.setattr(module, "_class_fill", lambda *a: calls.append(a[3]) or original(*a))
    monkeypatch.setattr(module, "patchmatch_threads", lambda: 1)
    one_by_one = landcover_patchmatch(image, mask, asked, make_bank(), sources=sources)
    monkeypatch.setattr(module, "patchmatch_threads", lambda: 3)
    at_once = landcover_patchmatch(image, mask, asked, make_bank(), sources=sources)
    np.testing.assert_array_equal(at_once, one_by_one)
    assert sorted(calls) == sorted([LAND, ROAD, VEG] * 2)


def test_patchmatch_calls_with_other_seeds_do_not_mix_on_threads():
    """The native library keeps one seed: calls with different seeds, started at once, each get the
    fill they give alone."""
    from concurrent.futures import ThreadPoolExecutor

    image = textured(96, 128, *RED, seed=3)
    mask = np.zeros((96, 128), bool)
    mask[30:60, 40:90] = True
    alone = {seed: patchmatch(image, mask, seed=seed) for seed in (0, 1, 2)}
    assert not np.array_equal(alone[0], alone[1])
    seeds = [0, 1, 2] * 6
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda s: patchmatch(image, mask, seed=s), seeds))
    for seed, out in zip(seeds, together):
        np.testing.assert_array_equal(out, alone[seed])


def make_bank(num_classes=len(TABLE)):
    """A bank cut from a synthetic tile: Water blue, Vegetation green (others absent)."""
    h, w = 192, 256
    lc = np.full((h, w), WATER, np.int64)
    lc[:, w // 2:] = VEG
    image = np.where((lc == WATER)[..., None], textured(h, w, *BLUE, 7), textured(h, w, *GREEN, 8))
    return ExemplarBank.build([(image, lc)], num_classes, TABLE.nodata_indices)


def test_bank_is_cut_from_pure_windows_of_each_class():
    bank = make_bank()
    assert bank.valid.tolist() == [False, True, False, False, False, True]
    assert bank.purity[WATER] >= 0.9 and bank.purity[VEG] >= 0.9
    assert in_box(bank.strips[WATER], BLUE) and in_box(bank.strips[VEG], GREEN)
    assert bank.strip(WATER, 300).shape == (300, 128, 3) and bank.strip(WATER, 100).shape == (100, 128, 3)
    again = ExemplarBank.from_tensors(bank.to_tensors())
    np.testing.assert_array_equal(again.strips, bank.strips)
    np.testing.assert_array_equal(again.valid, bank.valid)
    assert ExemplarBank.from_tensors({"x": torch.zeros(1)}) is None


def test_bank_skips_off_colour_windows_of_a_coarsely_labelled_class():
    """Water labelled over a quarter of green scrub (labels drawn as coarse polygons): the
    strip is cut from the water that looks like water, never from the scrub."""
    h, w = 256, 256
    lc = np.full((h, w), WATER, np.int64)
    image = textured(h, w, *BLUE, 7)
    image[:, : w // 4] = textured(h, w // 4, *GREEN, 8)  # labelled water all the same
    for seed in range(4):
        bank = ExemplarBank.build([(image, lc)], len(TABLE), TABLE.nodata_indices, seed=seed)
        assert in_box(bank.strips[WATER], BLUE)


def test_what_if_uses_the_bank_when_the_window_lacks_the_class():
    """Ask for Water in a tile of Land and Road: only the bank has water texture."""
    image, lc, mask = two_class_tile()
    asked = lc.copy()
    asked[mask] = WATER
    out = landcover_patchmatch(image, mask, asked, bank=make_bank())
    np.testing.assert_array_equal(out[~mask], image[~mask])
    inside = interior(mask)  # the edge is blended into the ground (test_borrowed_fill_is_blended_at_its_edge)
    assert in_box(out[inside], BLUE)
    asked[mask] = VEG
    assert in_box(landcover_patchmatch(image, mask, asked, bank=make_bank())[inside], GREEN)


def interior(mask, width=BLEND_WIDTH):
    """The hole's pixels more than ``width`` px from its edge."""
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3) > width + 1


def test_borrowed_fill_is_blended_at_its_edge():
    """Water asked inside red Land: the blue fill meets the ground without a hard line (its
    edge moves towards the ground's colour), and keeps its own colour inside."""
    image, lc, _ = two_class_tile()
    mask = np.zeros_like(lc, bool)
    mask[20:76, 4:52] = True  # inside the Land half
    asked = lc.copy()
    asked[mask] = WATER
    out = landcover_patchmatch(image, mask, asked, bank=make_bank()).astype(float)
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert out[edge, 0].mean() > 60  # red from the ground joins the fill at its edge
    assert in_box(out[interior(mask)], BLUE)
    blended = blend_edge(out.astype(np.uint8), image, mask, ~mask)
    np.testing.assert_array_equal(blended[~mask], image[~mask])


def test_what_if_takes_the_class_from_elsewhere_in_the_tile_before_the_bank():
    """The tile's own water (green here) lies far from the hole, outside the crop the engine
    fills: the fill takes it, not the bank's blue water."""
    h = w = 512
    lc = np.full((h, w), LAND, np.int64)
    image = textured(h, w, *RED, 1)
    lc[380:500, 380:500] = WATER
    image[380:500, 380:500] = textured(120, 120, *GREEN, 2)
    mask = np.zeros((h, w), bool)
    mask[40:100, 40:100] = True
    asked = lc.copy()
    asked[mask] = WATER
    fill = LandcoverFillInpainter(TABLE, "landcover-patchmatch", bank=make_bank())
    out = fill.inpaint(image, mask, landcover=asked, strategy="crop")
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert in_box(out[interior(mask)], GREEN)
    # the crop alone holds no water: the bank's (blue) would have been used
    assert in_box(landcover_patchmatch(image[:256, :256], mask[:256, :256], asked[:256, :256],
                                       bank=make_bank())[interior(mask[:256, :256])], BLUE)


def test_bank_exemplars_are_matched_to_the_tiles_own_colours():
    """A tile with a few pixels of water (too few to copy from) gets the bank's water texture in
    the tile's water colour; a tile with none gets it at the tile's light level; every exemplar
    is brought to one colour, so exemplars of different tones make no patchwork."""
    bank = make_bank()
    bank.strips[WATER, :PATCH] //= 3  # the first row of exemplars cut from a much darker tile
    image, lc, _ = two_class_tile()
    lc[0:4, 0:5] = WATER  # 20 px of teal water
    image[0:4, 0:5] = (20, 120, 110)
    sources = TileSources(image, np.zeros_like(lc, bool), lc, len(TABLE))
    assert not sources.has(WATER)
    patches = sources.bank_patches(bank, WATER)
    means = np.array([p.reshape(-1, 3).mean(0) for p, _ in patches])
    np.testing.assert_allclose(means, np.tile([20, 120, 110], (len(patches), 1)), atol=1.5)
    # no water in the tile: the bank's water at the tile's light level (Vegetation is shared, and
    # the tile's vegetation is half as bright as the bank's)
    veg = make_bank().strips[VEG]
    tile = np.concatenate([veg // 2, textured(256, 64, *RED, 3)], axis=1)
    tile_lc = np.full(tile.shape[:2], LAND, np.int64)
    tile_lc[:, :128] = VEG
    sources = TileSources(tile, np.zeros_like(tile_lc, bool), tile_lc, len(TABLE))
    assert sources.light_gain(make_bank()) == pytest.approx(0.5, abs=0.02)
    darker = np.array([p.reshape(-1, 3).mean(0) for p, _ in sources.bank_patches(make_bank(), WATER)])
    np.testing.assert_allclose(darker, np.tile(make_bank().strips[WATER].reshape(-1, 3).mean(0) * sources.light_gain(
        make_bank()), (len(darker), 1)), atol=1.5)


def test_tile_sources_gather_the_richest_windows_of_each_class_and_follow_a_scaled_crop():
    image, lc, mask = two_class_tile(192, 256)
    sources = TileSources(image, mask, lc, len(TABLE))
    assert sources.has(LAND) and sources.has(ROAD) and not sources.has(WATER)
    for rgb, valid in sources.patches[LAND]:
        assert rgb.shape == (PATCH, PATCH, 3) and valid.mean() >= 0.5 and in_box(rgb[valid], RED, slack=0)
    half = sources.scaled(0.5)
    assert half.patches[LAND][0][0].shape == (PATCH // 2, PATCH // 2, 3) and sources.scaled(1.0) is sources


def test_without_bank_a_missing_class_gets_plain_patchmatch():
    image, lc, mask = two_class_tile()
    asked = lc.copy()
    asked[mask] = WATER
    out = landcover_patchmatch(image, mask, asked)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    np.testing.assert_array_equal(out[mask], patchmatch(image, mask)[mask])


def test_landcover_nearest_takes_the_asked_class_colour():
    h, w = 64, 64
    lc = np.full((h, w), LAND, np.int64)
    lc[:, 40:] = ROAD
    image = np.zeros((h, w, 3), np.uint8)
    image[lc == LAND] = (200, 10, 10)
    image[lc == ROAD] = (10, 10, 200)
    mask = np.zeros((h, w), bool)
    mask[10:50, 20:60] = True
    out = landcover_nearest(image, mask, lc)
    assert (out[mask & (lc == LAND)] == (200, 10, 10)).all()
    assert (out[mask & (lc == ROAD)] == (10, 10, 200)).all()
    asked = lc.copy()
    asked[mask] = WATER  # no water anywhere: Telea's fill, still exact outside
    out = landcover_nearest(image, mask, asked)
    np.testing.assert_array_equal(out[~mask], image[~mask])


def test_landcover_nearest_with_a_bank_paints_exemplar_texture_for_a_missing_class():
    """The "landcover-bank" fill: a class the window lacks gets the bank's texture (what-if),
    a class the window has plenty of still gets its nearest known colour (plain holes)."""
    image, lc, mask = two_class_tile()
    bank = make_bank()
    np.testing.assert_array_equal(landcover_nearest(image, mask, lc, bank=bank), landcover_nearest(image, mask, lc))
    asked = lc.copy()
    asked[mask] = WATER
    out = landcover_nearest(image, mask, asked, bank=bank)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert in_box(out[mask], BLUE, slack=0) and out[mask].astype(float).std() > 5  # texture, not one colour
    assert not in_box(landcover_nearest(image, mask, asked)[mask], BLUE)  # without the bank: Telea's smear
    np.testing.assert_array_equal(out, landcover_nearest(image, mask, asked, bank=bank))  # deterministic
    fill = LandcoverFillInpainter(TABLE, "landcover-bank", bank=bank)
    np.testing.assert_array_equal(fill.inpaint(image, mask, landcover=asked), out)
    with pytest.raises(ValueError, match="needs an exemplar bank"):
        LandcoverFillInpainter(TABLE, "landcover-bank")


def test_landcover_smooth_diffuses_the_asked_class_alone():
    """The "landcover-smooth" fill: Telea from the known pixels of the asked class only. Each
    class keeps its own colours across a border hole; in a one-class field it is Telea's fill,
    and on a noisy field it is closer to the truth than copying single noisy pixels."""
    image, lc, mask = two_class_tile()
    out = landcover_nearest(image, mask, lc, smooth=True)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert in_box(out[mask & (lc == LAND)], RED, slack=0) and in_box(out[mask & (lc == ROAD)], BLUE, slack=0)
    assert not in_box(telea(image, mask)[mask & (lc == LAND)], RED, slack=0)  # plain Telea mixes the two

    h, w = 96, 128
    field = np.clip(np.random.default_rng(3).normal((90, 120, 60), 20, (h, w, 3)), 0, 255).astype(np.uint8)
    one = np.full((h, w), LAND, np.int64)
    hole = np.zeros((h, w), bool)
    hole[20:70, 30:90] = True
    smooth = landcover_nearest(field, hole, one, smooth=True)
    assert np.abs(smooth.astype(int) - telea(field, hole).astype(int)).max() <= 1
    mse = lambda f: ((f[hole].astype(float) - field[hole]) ** 2).mean()  # noqa: E731
    assert mse(smooth) < 0.75 * mse(landcover_nearest(field, hole, one))

    bank = make_bank()
    asked = lc.copy()
    asked[mask] = WATER  # missing from the window: the bank's texture, as "landcover-bank"
    np.testing.assert_array_equal(landcover_nearest(image, mask, asked, bank=bank, smooth=True),
                                  landcover_nearest(image, mask, asked, bank=bank))
    fill = LandcoverFillInpainter(TABLE, "landcover-smooth", bank=bank)
    np.testing.assert_array_equal(fill.inpaint(image, mask, landcover=lc), out)
    with pytest.raises(ValueError, match="landcover-smooth needs an exemplar bank"):
        LandcoverFillInpainter(TABLE, "landcover-smooth")


def test_landcover_fill_inpainter_validates_and_declares_its_input():
    image, lc, mask = two_class_tile()
    fill = LandcoverFillInpainter(TABLE, "landcover-patchmatch")
    assert fill.extra_inputs == ("landcover",)
    with pytest.raises(ValueError, match="landcover"):
        fill.inpaint(image, mask)
    with pytest.raises(ValueError, match="does not match"):
        fill.inpaint(image, mask, landcover=lc[:10])
    with pytest.raises(ValueError, match="0..5"):
        fill.inpaint(image, mask, landcover=lc + 10)
    out = fill.inpaint(image, mask, landcover=lc)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    with pytest.raises(ValueError, match="exemplar bank has 3 classes"):
        LandcoverFillInpainter(TABLE, bank=make_bank(3))


def test_make_inpainter_knows_every_method(tiny_album_checkpoint):
    assert set(FILL_METHODS) == {"model", "patchmatch", "telea", "navier-stokes", "landcover-patchmatch",
                                 "landcover-nearest", "landcover-bank", "landcover-smooth"}
    assert make_inpainter("patchmatch").kind == "patchmatch"
    assert make_inpainter("model", tiny_album_checkpoint).kind == "album"
    assert make_inpainter("landcover-nearest", classes="dubai-aerial").classes.names == TABLE.names
    with pytest.raises(ValueError, match="valid: model, telea"):
        make_inpainter("magic")
    with pytest.raises(ValueError, match="checkpoint"):
        make_inpainter("model")
    with pytest.raises(ValueError, match="class table"):
        make_inpainter("landcover-patchmatch")
    with pytest.raises(ValueError, match="without a land-cover class table"):
        make_inpainter("landcover-patchmatch", tiny_album_checkpoint)


# --- pre-fills: what an untrained residual network returns ------------------------------------

def test_prefills_are_exact_outside_the_hole_and_named_once():
    from inpaint_core.fills.classical import patchmatch_guide
    from inpaint_core.fills.prefill import PREFILLS, check_prefill, prefill

    image, lc, mask = two_class_tile()
    for method in PREFILLS:
        out = prefill(image, mask, method)
        np.testing.assert_array_equal(out[~mask], image[~mask])
    guide = patchmatch_guide(image, mask)
    np.testing.assert_array_equal(prefill(image, mask, "patchmatch-half"), guide)
    assert guide[mask].astype(float).std() > 10  # texture, not a flat smear
    out = prefill(image, mask, "landcover-nearest", landcover=lc)
    np.testing.assert_array_equal(out, landcover_nearest(image, mask, lc))
    with pytest.raises(ValueError, match="needs the land-cover map"):
        prefill(image, mask, "landcover-nearest")
    with pytest.raises(ValueError, match="needs an exemplar bank"):
        prefill(image, mask, "landcover-bank", landcover=lc)
    asked = lc.copy()
    asked[mask] = WATER
    np.testing.assert_array_equal(prefill(image, mask, "landcover-bank", landcover=asked, bank=make_bank()),
                                  landcover_nearest(image, mask, asked, bank=make_bank()))
    np.testing.assert_array_equal(prefill(image, mask, "landcover-smooth", landcover=lc, bank=make_bank()),
                                  landcover_nearest(image, mask, lc, smooth=True))
    with pytest.raises(ValueError, match="the landcover-smooth prefill needs an exemplar bank"):
        prefill(image, mask, "landcover-smooth", landcover=lc)
    with pytest.raises(ValueError, match="valid: telea, patchmatch, zeros, patchmatch-half$"):
        check_prefill("landcover-nearest")  # not for the album model: it has no land cover
    with pytest.raises(ValueError, match="unknown prefill"):
        prefill(image, mask, "magic")


def test_untrained_residual_networks_are_their_prefill():
    """The heads start at zero: a new album model with the PatchMatch guide fills exactly like the
    guide, a new satellite model with the land-cover nearest pre-fill exactly like that fill."""
    from inpaint_core.fills.classical import patchmatch_guide
    from inpaint_core.models.album import AlbumConfig, AlbumInpainter, AlbumUNet
    from inpaint_core.models.satellite import SatelliteConfig, SatelliteGenerator, SatelliteInpainter

    image, lc, mask = two_class_tile()
    album = AlbumInpainter(AlbumUNet(AlbumConfig(base=8, depth=2, bottleneck_blocks=1, prefill="patchmatch-half")),
                           device="cpu")
    out = album.inpaint(image, mask, strategy="full")
    assert np.abs(out.astype(int) - patchmatch_guide(image, mask).astype(int)).max() <= 1  # float round trip
    gen = SatelliteGenerator(SatelliteConfig(num_classes=len(TABLE), base=8, depth=2, lc_channels=4,
                                             bottleneck_blocks=1, prefill="landcover-nearest"))
    sat = SatelliteInpainter(gen, TABLE, device="cpu")
    out = sat.inpaint(image, mask, landcover=lc, strategy="full")
    assert np.abs(out.astype(int) - landcover_nearest(image, mask, lc).astype(int)).max() <= 1
    gen = SatelliteGenerator(SatelliteConfig(num_classes=len(TABLE), base=8, depth=2, lc_channels=4,
                                             bottleneck_blocks=1, prefill="landcover-bank"))
    asked = lc.copy()
    asked[mask] = WATER
    sat = SatelliteInpainter(gen, TABLE, device="cpu", bank=make_bank())
    out = sat.inpaint(image, mask, landcover=asked, strategy="full")
    assert np.abs(out.astype(int) - landcover_nearest(image, mask, asked, make_bank()).astype(int)).max() <= 1
    gen = SatelliteGenerator(SatelliteConfig(num_classes=len(TABLE), base=8, depth=2, lc_channels=4,
                                             bottleneck_blocks=1, prefill="landcover-smooth"))
    sat = SatelliteInpainter(gen, TABLE, device="cpu", bank=make_bank())
    out = sat.inpaint(image, mask, landcover=lc, strategy="full")
    assert np.abs(out.astype(int) - landcover_nearest(image, mask, lc, smooth=True).astype(int)).max() <= 1


def test_the_seed_gate_never_lets_two_seeds_run_at_once():
    """Calls with the seed that is running join it; one with another seed waits until they are done."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from inpaint_core.fills.classical import _SeedGate

    class Native:  # the library's one global seed
        seed = None

        def set_random_seed(self, seed):
            self.seed = seed

    native, gate, seen, lock = Native(), _SeedGate(lambda: 3), [], threading.Lock()
    running = []

    def call(seed):
        with gate.seeded(native, seed):
            with lock:
                running.append(seed)
                seen.append((native.seed, list(running)))
            time.sleep(0.01)
            with lock:
                running.remove(seed)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(call, [0, 0, 1, 0, 2, 2, 1, 0] * 2))
    assert all(set(now) == {s} for s, now in seen)  # only calls with the seed that is set run
    assert any(len(now) > 1 for _, now in seen)  # and calls with the same seed ran at once ...
    assert max(len(now) for _, now in seen) <= 3  # ... at most as many as the limit

    gate, running, peak = _SeedGate(lambda: 2), [0], [0]

    def same_seed(_):
        with gate.seeded(native, 0):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.01)
            with lock:
                running[0] -= 1

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(same_seed, range(12)))
    assert peak[0] == 2


def test_nested_threads_run_no_more_patchmatch_calls_than_the_limit(monkeypatch):
    """Regions of a picture on threads, each filling its classes on threads: still at most
    OMP_NUM_THREADS native calls at once (not its square), and more than one."""
    import threading

    import patchmatch as native

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    running, peak, lock, original = [0], [0], threading.Lock(), native.inpaint

    def counted(*args, **kwargs):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(native, "inpaint", counted)
    h, w = 1400, 1100
    image = np.concatenate([textured(h, w // 2, *RED, seed=1), textured(h, w - w // 2, *BLUE, seed=2)], axis=1)
    lc = np.full((h, w), LAND, np.int64)
    lc[:, w // 2:] = ROAD
    mask = np.zeros((h, w), bool)
    for y, x in [(30, 520), (680, 520), (1320, 510)]:  # each across the border: two classes a region
        mask[y: y + 40, x: x + 60] = True
    assert len(region_boxes(mask, 64, 256)) == 3
    fill = make_inpainter("landcover-patchmatch", classes="dubai-aerial")
    out = fill.inpaint(image, mask, landcover=lc)
    assert peak[0] == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one call at a time: the same pixels
    peak[0] = 0
    np.testing.assert_array_equal(fill.inpaint(image, mask, landcover=lc), out)
    assert peak[0] == 1
