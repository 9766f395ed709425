"""``python -m inpaint_core run`` on a temporary folder."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import make_picture

ROOT = Path(__file__).resolve().parent.parent


def _run(*args):
    return subprocess.run([sys.executable, "-m", "inpaint_core", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_batch_run_matches_masks_by_stem(tmp_path, tiny_album_checkpoint):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    images.mkdir(), masks.mkdir()
    originals = {}
    for i, name in enumerate(["a", "b", "c"]):
        img = make_picture(40 + 10 * i, 60, i)
        originals[name] = img
        Image.fromarray(img).save(images / f"{name}.jpg" if i == 0 else images / f"{name}.png")
        mask = np.zeros(img.shape[:2], np.uint8)
        mask[10:20, 10:30] = 255
        Image.fromarray(mask).save(masks / f"{name}.png")
    proc = _run("run", "--checkpoint", tiny_album_checkpoint, "--image", images, "--mask", masks,
                "--output", out, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "wrote 3 image(s)" in proc.stdout
    for name in ["b", "c"]:  # PNG inputs: unmasked pixels come back exactly
        result = np.asarray(Image.open(out / f"{name}.png"))
        keep = np.ones(result.shape[:2], bool)
        keep[10:20, 10:30] = False
        assert np.array_equal(result[keep], originals[name][keep])


def test_missing_masks_are_reported(tmp_path, tiny_album_checkpoint):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    Image.fromarray(make_picture(20, 20, 0)).save(images / "x.png")
    Image.fromarray(make_picture(20, 20, 0)).save(images / "y.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(masks / "x.png")
    proc = _run("run", "--checkpoint", tiny_album_checkpoint, "--image", images, "--mask", masks,
                "--output", tmp_path / "out")
    assert proc.returncode == 2
    assert "no mask for 1 image(s), e.g. y.png" in proc.stderr


def test_bad_checkpoint_is_reported(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    proc = _run("run", "--checkpoint", bad, "--image", tmp_path, "--mask", tmp_path, "--output", tmp_path / "o")
    assert proc.returncode == 2 and "bad.safetensors" in proc.stderr
