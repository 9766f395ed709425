"""The album U-Net and the losses: shapes, the residual start, VGG loading."""

import pytest
import torch

from inpaint_core.models.album import AlbumConfig, AlbumUNet
from inpaint_core.models.vgg import VGG16Features, load_vgg16
from inpaint_core.training.losses import PerceptualLoss, l1_loss, lsgan_loss, tv_loss


def test_unet_output_shape_and_range():
    model = AlbumUNet(AlbumConfig(base=8, depth=2, bottleneck_blocks=1, residual=False)).eval()
    x, m = torch.rand(2, 3, 48, 64), torch.zeros(2, 1, 48, 64)
    y = model(x, m)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_unet_rejects_sizes_it_cannot_take():
    model = AlbumUNet(AlbumConfig(base=8, depth=2))
    with pytest.raises(ValueError, match="multiple of 8"):
        model(torch.rand(1, 3, 30, 32), torch.zeros(1, 1, 30, 32))


def test_residual_model_starts_as_identity_of_its_prefill():
    model = AlbumUNet(AlbumConfig(base=8, depth=2, residual=True)).eval()
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(model(x, torch.ones(1, 1, 32, 32)), x, atol=1e-6)


def test_config_validation():
    with pytest.raises(ValueError, match="prefill"):
        AlbumConfig(prefill="blur")


def test_losses_zero_on_identical_inputs():
    x = torch.rand(2, 3, 32, 32)
    m = (torch.rand(2, 1, 32, 32) > 0.5).float()
    assert l1_loss(x, x, m, hole_weight=6) == 0
    assert tv_loss(torch.ones(1, 3, 8, 8)) == 0
    vgg = VGG16Features(("relu1_2", "relu3_3"))
    assert PerceptualLoss(vgg)(x, x).item() == 0
    assert lsgan_loss(torch.ones(3), real=True) == 0 and lsgan_loss(torch.zeros(3), real=False) == 0


def test_hole_weight_weighs_holes():
    pred, target = torch.zeros(1, 3, 2, 1), torch.ones(1, 3, 2, 1)
    mask = torch.tensor([1.0, 0.0]).view(1, 1, 2, 1)
    assert l1_loss(pred, target, mask, hole_weight=3).item() == pytest.approx((3 + 1) / 2)


def test_vgg_loads_torchvision_keys_and_stays_frozen(random_vgg_file):
    vgg = load_vgg16(random_vgg_file, ("relu2_2",))
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    assert set(vgg.state_dict()) == {f"features.{i}.{k}" for i in (0, 2, 5, 7) for k in ("weight", "bias")}
    feats = vgg(torch.rand(1, 3, 32, 32))
    assert feats[0].shape == (1, 128, 16, 16)


def test_vgg_rejects_incomplete_weights(tmp_path):
    path = tmp_path / "partial.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(ValueError, match="lack"):
        load_vgg16(path)


def test_vgg_without_any_source_names_both_options(monkeypatch, tmp_path):
    monkeypatch.delenv("INPAINT_VGG16_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty hub cache

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match="--vgg-weights.*INPAINT_VGG16_WEIGHTS"):
        load_vgg16(None)


def test_vgg_env_variable_is_used(monkeypatch, random_vgg_file, tmp_path):
    """The weights come from the file the variable names: its tensors, not a download or random ones."""
    monkeypatch.setenv("INPAINT_VGG16_WEIGHTS", str(random_vgg_file))
    expected = torch.load(random_vgg_file)["features.0.weight"].float()
    torch.testing.assert_close(load_vgg16(None, ("relu1_2",)).state_dict()["features.0.weight"].float(), expected)
    monkeypatch.setenv("INPAINT_VGG16_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises((FileNotFoundError, ValueError, OSError, SystemExit)):
        load_vgg16(None, ("relu1_2",))
