"""The shipped checkpoints load and fill exactly as pinned (``tests/pins/``, written by
``tests/pin_shipped.py`` when a checkpoint is replaced on purpose). Refactors of the
engine, the models or the checkpoint format must keep these fills bit-identical."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pin_shipped import PINS, ROOT, SHIPPED, fill, pinned_inputs, sha256

INDEX = json.loads((PINS / "pins.json").read_text())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_fills_bit_identically(name):
    path = ROOT / "checkpoints" / name
    assert sha256(path) == INDEX[name]["checkpoint_sha256"], (
        f"{name} changed: if it was replaced on purpose, run `python tests/pin_shipped.py` and commit tests/pins/")
    out = fill(path)
    expected = np.asarray(Image.open(PINS / f"{Path(name).stem}.png"))
    assert hashlib.sha256(out.tobytes()).hexdigest() == INDEX[name]["fill_sha256"]
    np.testing.assert_array_equal(out, expected)


def test_torch_hub_loads_the_shipped_models_offline():
    import torch

    album = torch.hub.load(str(ROOT), "album", source="local", device="cpu", trust_repo=True)
    satellite = torch.hub.load(str(ROOT), "satellite", source="local", device="cpu", trust_repo=True)
    assert (album.kind, satellite.kind, satellite.extra_inputs) == ("album", "satellite", ("landcover",))
    image, mask, _ = pinned_inputs()
    np.testing.assert_array_equal(album.inpaint(image, mask, strategy="full"), np.asarray(Image.open(PINS / "album.png")))
    assert torch.hub.load(str(ROOT), "patchmatch", source="local", trust_repo=True).kind == "patchmatch"
