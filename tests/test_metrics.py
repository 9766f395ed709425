"""Metric sanity: known answers on identical images and on a known error level."""

import math

import numpy as np
import pytest
import torch
from conftest import make_picture

from inpaint_core.eval.metrics import (
    JUDGE_LAYERS,
    PERCEPTUAL_LAYERS,
    PSNR_CAP,
    JudgeDistance,
    PerceptualDistance,
    detail_ratio,
    dilate,
    image_metrics,
    l1_hole,
    psnr,
    ssim,
)  # fmt: skip
from inpaint_core.models.vgg import VGG16Features


def square_mask(h=64, w=64, y=16, x=20, side=24):
    mask = np.zeros((h, w), bool)
    mask[y : y + side, x : x + side] = True
    return mask


def plus_minus(image, mask, amplitude, seed=0):
    """``image`` with +-``amplitude`` added (random signs) on the hole: MSE there is exactly amplitude**2."""
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1, 1], size=image.shape)
    out = image.astype(int)
    out[mask] += amplitude * signs[mask]
    return out.astype(np.uint8)


def test_identical_images_score_perfectly():
    img = make_picture(64, 64, 0)
    mask = square_mask()
    scores = image_metrics(img, img.copy(), mask)
    assert scores["psnr_hole"] == PSNR_CAP and scores["psnr_whole"] == PSNR_CAP
    assert scores["ssim_hole"] == pytest.approx(1.0) and scores["ssim_whole"] == pytest.approx(1.0)
    assert scores["l1_hole"] == 0.0


def test_known_noise_level_gives_expected_psnr_and_l1():
    target = np.full((64, 64, 3), 128, np.uint8)
    mask = square_mask()
    pred = plus_minus(target, mask, 10)
    expected = 10 * math.log10(255**2 / 100)  # MSE 100 on the hole: 28.13 dB
    assert psnr(pred, target, mask) == pytest.approx(expected, abs=1e-6)
    # outside the hole the error is zero, so the whole-image MSE is diluted by the hole's share
    assert psnr(pred, target) == pytest.approx(expected - 10 * math.log10(mask.mean()), abs=1e-6)
    assert l1_hole(pred, target, mask) == pytest.approx(10 / 255)


def test_ssim_hole_sees_damage_the_whole_image_dilutes():
    target = make_picture(64, 64, 1)
    mask = square_mask()
    pred = plus_minus(target, mask, 40)
    whole, hole = ssim(pred, target, mask)
    assert hole < whole < 1.0
    assert hole < 0.9
    # damage outside the (dilated) hole does not touch the hole score
    far = target.copy()
    far[:4, :4] = 255 - far[:4, :4]
    _, hole_far = ssim(far, target, mask)
    assert hole_far == pytest.approx(1.0)


def test_dilate_grows_by_the_given_pixels():
    mask = square_mask(side=4)
    grown = dilate(mask, 3)
    assert grown.sum() == (4 + 6) ** 2 and grown[mask].all()


def test_bad_inputs_raise_value_error():
    img = make_picture(32, 32, 0)
    with pytest.raises(ValueError, match="differ in size"):
        psnr(img, img[:16])
    with pytest.raises(ValueError, match="no hole"):
        psnr(img, img, np.zeros((32, 32), bool))
    with pytest.raises(ValueError, match="uint8"):
        l1_hole(img.astype(np.float32), img, square_mask(32, 32, 4, 4, 8))


def test_perceptual_distance_is_zero_on_identical_and_grows_with_noise():
    torch.manual_seed(0)
    dist = PerceptualDistance(VGG16Features(PERCEPTUAL_LAYERS))
    target = make_picture(64, 64, 2)
    mask = square_mask()
    feats = dist.features(target)
    assert len(feats) == len(PERCEPTUAL_LAYERS)
    assert dist(target.copy(), target) == 0.0
    small, large = dist(plus_minus(target, mask, 5), feats), dist(plus_minus(target, mask, 60), feats)
    assert 0 < small < large


@pytest.fixture(scope="module")
def judge():
    torch.manual_seed(0)
    return JudgeDistance(VGG16Features(JUDGE_LAYERS))


def test_judge_distance_follows_its_definition(judge):
    """JUDGE.md, written out independently: unit-normalise each pixel's feature vector over
    channels, sum the squared differences over channels, average over pixels, sum the layers."""
    target = make_picture(64, 64, 3)
    pred = plus_minus(target, square_mask(), 40)
    vgg = judge.vgg
    with torch.no_grad():
        to = lambda im: torch.from_numpy(im.copy()).permute(2, 0, 1)[None].float() / 255  # noqa: E731
        fp, ft = vgg(to(pred)), vgg(to(target))
    expected = 0.0
    for a, b in zip(fp, ft):
        a = a / (torch.sqrt((a**2).sum(1, keepdim=True)) + 1e-10)
        b = b / (torch.sqrt((b**2).sum(1, keepdim=True)) + 1e-10)
        expected += ((a - b) ** 2).sum(1).mean().item()
    assert judge(pred, target) == pytest.approx(expected, rel=1e-5)
    assert judge(target.copy(), target) == 0.0
    assert len(judge.features(target)) == len(JUDGE_LAYERS) == 5


def test_judge_ignores_feature_magnitude_where_the_old_distance_does_not(judge):
    """Scaling the picture's contrast in the hole changes raw activations a lot but their
    directions less: the judge is the LPIPS-shaped one, the old distance the raw one."""
    target = make_picture(64, 64, 4)
    noisy = plus_minus(target, square_mask(), 30)
    scores = judge.scores(noisy, target)
    assert set(scores) == {"judge", "perceptual"} and scores["judge"] > 0 and scores["perceptual"] > 0
    assert scores["judge"] == pytest.approx(judge(noisy, target))


def test_judge_needs_the_fifth_block():
    with pytest.raises(ValueError, match="relu5_3"):
        JudgeDistance(VGG16Features(PERCEPTUAL_LAYERS))


def test_detail_ratio_is_one_for_the_original_small_for_a_smear_large_for_noise():
    import cv2

    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)  # all texture
    mask = square_mask()
    assert detail_ratio(target.copy(), target, mask) == pytest.approx(1.0)
    smear = target.copy()
    smear[mask] = cv2.GaussianBlur(target, (0, 0), 4)[mask]
    assert detail_ratio(smear, target, mask) < 0.05
    flat = np.full_like(target, 128)
    assert math.isnan(detail_ratio(target, flat, mask))  # nothing to match on a flat original
    louder = target.copy()
    louder[mask] = np.clip((target[mask].astype(int) - 128) * 2 + 128, 0, 255)
    assert detail_ratio(louder, target, mask) > 1.5


def test_detail_ratio_reads_the_interior_of_the_hole():
    """The seam (the hole's one-pixel rim) is left out: a fill that is right inside and wrong
    only on its rim has the original's detail."""
    rng = np.random.default_rng(1)
    target = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    mask = square_mask()
    rim = mask & ~np.pad(mask[1:-1, 1:-1], 1)
    fill = target.copy()
    fill[rim] = 0
    assert detail_ratio(fill, target, mask) == pytest.approx(1.0, abs=0.35)
