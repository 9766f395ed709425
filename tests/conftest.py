"""Shared fixtures: small generated images, a tiny random album checkpoint, random VGG weights.

Nothing here reads real weights or data, or touches the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

# Toy-sized tensors gain nothing from threads, and spinning OpenMP threads starve each
# other when the machine is busy (seen: 2 s per toy training step on a loaded 2-core box).
torch.set_num_threads(1)


def make_picture(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth, structured RGB test picture (gradients + a disc), ``HxWx3 uint8``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / max(w - 1, 1), y / max(h - 1, 1), 0.5 + 0.5 * np.sin((x + y) / 9.0)], axis=2)
    cy, cx, r = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w, 0.25 * min(h, w)
    img[(y - cy) ** 2 + (x - cx) ** 2 < r**2] = rng.uniform(0, 1, 3)
    return (img * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def random_vgg_file(tmp_path_factory) -> Path:
    """A randomly initialised VGG16 (to relu5_3, as the judge reads) in torchvision's key layout,
    in float16 as the offline files are, for tests only."""
    from inpaint_core.eval.metrics import JUDGE_LAYERS
    from inpaint_core.models.vgg import VGG16Features

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg16_random.pth"
    torch.save({k: v.half() for k, v in VGG16Features(JUDGE_LAYERS).state_dict().items()}, path)
    return path


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """12 generated pictures of mixed sizes and formats, some in a sub-folder."""
    root = tmp_path_factory.mktemp("images")
    (root / "sub").mkdir()
    for i in range(12):
        h, w = (300, 260) if i % 3 else (180, 240)
        folder = root / "sub" if i % 4 == 0 else root
        ext = ["png", "jpg", "webp"][i % 3]
        Image.fromarray(make_picture(h, w, i)).save(folder / f"pic{i:02d}.{ext}")
    return root


@pytest.fixture(scope="session")
def tiny_album_checkpoint(tmp_path_factory) -> Path:
    """A small randomly initialised album model saved in the checkpoint format."""
    from inpaint_core.checkpoint import save_model
    from inpaint_core.models.album import AlbumConfig, AlbumUNet

    torch.manual_seed(0)
    # residual=False: a random non-zero head, so outputs differ from the Telea pre-fill
    model = AlbumUNet(AlbumConfig(base=8, depth=2, bottleneck_blocks=1, residual=False))
    path = tmp_path_factory.mktemp("ckpt") / "album_tiny.safetensors"
    save_model(path, model.state_dict(), "album", model.config.to_dict(), training={"note": "random, for tests"})
    return path


# --- app fixtures (tests/test_app.py, tests/test_app_browser.py) -----------------------------


@pytest.fixture(scope="session")
def app_checkpoints(tmp_path_factory) -> Path:
    """A checkpoint folder as the app expects it, with tiny random album and satellite models."""
    from inpaint_core.checkpoint import save_model
    from inpaint_core.data.landcover import get_class_table
    from inpaint_core.models.album import AlbumConfig, AlbumUNet
    from inpaint_core.models.satellite import SatelliteConfig, SatelliteGenerator

    folder = tmp_path_factory.mktemp("app-checkpoints")
    torch.manual_seed(0)
    album = AlbumConfig(base=8, depth=2, max_channels=16, bottleneck_blocks=1, residual=False)
    save_model(folder / "album.safetensors", AlbumUNet(album).state_dict(), "album", album.to_dict())
    table = get_class_table("dubai-aerial")
    sat = SatelliteConfig(num_classes=len(table), base=8, depth=2, max_channels=16, bottleneck_blocks=1,
                          lc_channels=4, residual=False)
    save_model(folder / "satellite-dubai.safetensors", SatelliteGenerator(sat).state_dict(), "satellite",
               sat.to_dict(), training={"classes_name": "dubai-aerial"}, classes=table.to_json())
    return folder


@pytest.fixture(scope="session")
def app_models(app_checkpoints):
    """The app's fills from the tiny checkpoints, or from ``$INPAINT_APP_CHECKPOINTS`` (e.g. the
    shipped ``checkpoints/``, to take the documentation's screenshots with the browser test)."""
    from inpaint_core.app.models import load_app_models

    return load_app_models(os.environ.get("INPAINT_APP_CHECKPOINTS") or app_checkpoints, device="cpu")


@pytest.fixture(scope="session")
def app_url(app_models, tmp_path_factory):
    """The app launched in this process on a free port (in-process, as gradio's docs advise)."""
    import socket

    pytest.importorskip("gradio")
    import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = app.build_demo(app_models, workdir=tmp_path_factory.mktemp("app-out"))
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, max_file_size=app.MAX_FILE_SIZE)
    try:
        yield demo.local_url
    finally:
        demo.close()
