"""The checkpoint format: exact round trips and clear refusals of bad files."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from conftest import make_picture
from inpaint_core import load_inpainter
from inpaint_core.checkpoint import CheckpointError, load_model_file, read_meta, save_model
from inpaint_core.album_model import AlbumConfig, AlbumUNet


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(1)
    model = AlbumUNet(AlbumConfig(base=8, depth=2, residual=False)).eval()
    path = save_model(tmp_path / "m.safetensors", model.state_dict(), "album", model.config.to_dict(),
                      training={"steps": 3})
    loaded = load_inpainter(path, device="cpu")
    x, m = torch.rand(1, 3, 32, 32), (torch.rand(1, 1, 32, 32) > 0.7).float()
    for key, value in model.state_dict().items():  # the weights come back bit for bit
        assert torch.equal(value, loaded.model.state_dict()[key])
    with torch.no_grad():  # the engine runs channels_last, whose kernels sum in another order
        assert torch.allclose(model(x, m), loaded.model(x, m), atol=1e-6)
    meta = read_meta(path)
    assert meta["kind"] == "album" and meta["config"]["base"] == 8 and meta["training"]["steps"] == 3


def test_inpaint_is_deterministic_after_reload(tiny_album_checkpoint):
    image, mask = make_picture(64, 64, 0), np.zeros((64, 64), bool)
    mask[10:40, 20:30] = True
    a = load_inpainter(tiny_album_checkpoint, device="cpu").inpaint(image, mask)
    b = load_inpainter(tiny_album_checkpoint, device="cpu").inpaint(image, mask)
    assert np.array_equal(a, b)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_inpainter(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x80\x04K\x01."])
def test_garbage_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        load_inpainter(path)


def test_truncated_file_is_refused(tiny_album_checkpoint, tmp_path):
    data = tiny_album_checkpoint.read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_model_file(path)


def test_foreign_safetensors_and_wrong_version_are_refused(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError, match="not an inpaint-core checkpoint"):
        load_inpainter(plain)
    future = tmp_path / "future.safetensors"
    save_file({"w": torch.zeros(2)}, str(future),
              metadata={"format": "inpaint-core", "format_version": "99", "meta": json.dumps({"kind": "album", "config": {}})})
    with pytest.raises(CheckpointError, match="version"):
        load_inpainter(future)


def test_unknown_kind_and_mismatched_weights_are_refused(tmp_path):
    model = AlbumUNet(AlbumConfig(base=8, depth=2))
    odd = save_model(tmp_path / "odd.safetensors", model.state_dict(), "hologram", model.config.to_dict())
    with pytest.raises(CheckpointError, match="unknown model kind 'hologram'.*album"):
        load_inpainter(odd)
    cfg = model.config.to_dict() | {"base": 16}  # weights of a base-8 net, config of a base-16 net
    wrong = save_model(tmp_path / "wrong.safetensors", model.state_dict(), "album", cfg)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_inpainter(wrong)
