"""Metric sanity: known answers on identical images and on a known error level."""

import math

import numpy as np
import pytest
import torch

from inpaint_core.losses import VGG16Features
from inpaint_core.metrics import (
    PERCEPTUAL_LAYERS, PSNR_CAP, PerceptualDistance, dilate, image_metrics, l1_hole, psnr, ssim,
)  # fmt: skip
from conftest import make_picture


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
