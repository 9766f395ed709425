"""The checkpoint format: exact round trips and clear refusals of bad files."""

import json

import numpy as np
import pytest
import torch
from conftest import make_picture
from safetensors.torch import save_file

from inpaint_core import load_inpainter
from inpaint_core.checkpoint import (
    CheckpointError,
    load_model_file,
    read_meta,
    save_model,
)
from inpaint_core.models.album import AlbumConfig, AlbumUNet


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


# --- damaged weights and unclear refusals (issue "Nothing lost", item 7 and its messages) ------

def _tiny_album(tmp_path, name="m.safetensors", state_edit=None):
    torch.manual_seed(2)
    model = AlbumUNet(AlbumConfig(base=8, depth=2, residual=False))
    state = model.state_dict()
    if state_edit is not None:
        state_edit(state)
    return save_model(tmp_path / name, state, "album", model.config.to_dict())


def test_nan_weights_are_refused_at_load(tmp_path):
    """A file with NaN weights used to load and fill every hole black."""
    def poison(state):
        next(v for v in state.values() if v.is_floating_point()).view(-1)[0] = float("nan")

    path = _tiny_album(tmp_path, "nan.safetensors", poison)
    with pytest.raises(CheckpointError, match="nan.safetensors is damaged: 1 tensor.*NaN or infinite"):
        load_inpainter(path, device="cpu")


def test_flipped_weight_bits_are_caught_by_the_export_digest(tmp_path):
    """Flipped exponent bits leave the weights finite but the fills wrong: the sha256 written at
    export catches them at load."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = _tiny_album(tmp_path)
    with safe_open(str(path), framework="pt") as f:
        assert len(f.metadata()["tensors_sha256"]) == 64
    load_inpainter(path, device="cpu")  # intact: loads
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    data[header + 3] ^= 0x20  # an exponent bit of the first float32 (little-endian: its last byte)
    path.write_bytes(bytes(data))
    assert all(torch.isfinite(v).all() for v in load_file(str(path)).values())  # finite: only the digest can tell
    with pytest.raises(CheckpointError, match="m.safetensors is damaged: its weights differ.*sha256"):
        load_model_file(path)


def test_a_file_without_digest_still_loads_and_is_checked_for_finiteness(tmp_path):
    """Files exported before the digest existed (the shipped ones) load; NaN is still refused."""
    torch.manual_seed(3)
    model = AlbumUNet(AlbumConfig(base=8, depth=2, residual=False))
    meta = {"format": "inpaint-core", "format_version": "1",
            "meta": json.dumps({"kind": "album", "config": model.config.to_dict(), "training": {}})}
    old = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(old), metadata=meta)
    assert load_inpainter(old, device="cpu").kind == "album"
    state = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    next(v for v in state.values() if v.is_floating_point()).view(-1)[0] = float("inf")
    save_file(state, str(tmp_path / "old_inf.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_inpainter(tmp_path / "old_inf.safetensors", device="cpu")


def test_a_pickle_renamed_safetensors_is_called_what_it_is(tmp_path):
    """A torch.save file renamed .safetensors used to be refused as "header too large"."""
    pickled = tmp_path / "weights.safetensors"
    torch.save({"w": torch.zeros(2)}, pickled)  # the zip container torch.save writes
    with pytest.raises(CheckpointError, match="weights.safetensors is not a safetensors file.*pickled PyTorch"):
        load_inpainter(pickled)
    legacy = tmp_path / "legacy.safetensors"
    legacy.write_bytes(b"\x80\x02}q\x00." + bytes(64))  # a protocol-2 pickle
    with pytest.raises(CheckpointError, match="legacy.safetensors is not a safetensors file.*pickled PyTorch"):
        load_inpainter(legacy)


def test_weights_of_another_config_are_refused_in_one_line(tmp_path):
    """A bad config once put PyTorch's ~30 lines of size mismatches into the app's page."""
    model = AlbumUNet(AlbumConfig(base=8, depth=2))
    cfg = model.config.to_dict() | {"base": 16}
    wrong = save_model(tmp_path / "wrong.safetensors", model.state_dict(), "album", cfg)
    with pytest.raises(CheckpointError) as caught:
        load_inpainter(wrong)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300, message
    assert message.startswith("wrong.safetensors: its weights do not fit its config: ") and "of another shape" in message


def test_refusals_name_the_file_not_the_folder(tmp_path):
    """The app shows these messages to people who need the file's name, not the server's layout."""
    for content in (b"", b"junk", b"\x80\x04K\x01."):
        path = tmp_path / "deep" / "bad.safetensors"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        with pytest.raises(CheckpointError) as caught:
            load_inpainter(path)
        assert "bad.safetensors" in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_missing_bank_names_the_command_that_builds_one(tmp_path):
    from inpaint_core.data.landcover import get_class_table
    from inpaint_core.models.satellite import SatelliteConfig, SatelliteGenerator

    table = get_class_table("dubai-aerial")
    cfg = SatelliteConfig(num_classes=len(table), base=8, depth=2, max_channels=16, bottleneck_blocks=1,
                          lc_channels=4, prefill="landcover-bank")
    path = save_model(tmp_path / "nobank.safetensors", SatelliteGenerator(cfg).state_dict(), "satellite",
                      cfg.to_dict(), classes=table.to_json())
    with pytest.raises(CheckpointError, match="nobank.safetensors: .*exemplar bank.*python -m inpaint_core bank"):
        load_inpainter(path, device="cpu")
