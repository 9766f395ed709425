"""Pin what the shipped checkpoints fill: ``python tests/pin_shipped.py`` rewrites ``tests/pins/``.

Run it only when a checkpoint in ``checkpoints/`` is replaced on purpose (a better model
shipped). ``tests/test_shipped.py`` then checks that every later change to the code loads
those files and fills the pinned inputs bit-identically.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PINS = ROOT / "tests" / "pins"
SHIPPED = ("album.safetensors", "satellite-dubai.safetensors")


def pinned_inputs(num_classes: int = 6):
    """A fixed 128x160 picture, a two-part hole and a land cover using every class."""
    yy, xx = np.mgrid[0:128, 0:160].astype(np.float32)
    image = np.stack([xx / 159, yy / 127, 0.5 + 0.5 * np.sin((xx + yy) / 7)], axis=2)
    image[(yy - 60) ** 2 + (xx - 90) ** 2 < 30**2] = (0.8, 0.3, 0.2)
    image = (image * 255).astype(np.uint8)
    mask = np.zeros((128, 160), bool)
    mask[20:44, 30:70] = True
    mask[70:110, 100:120] = True
    landcover = ((yy // 32).astype(int) * 3 + (xx // 40).astype(int)) % num_classes
    return image, mask, landcover


def fill(path: Path) -> np.ndarray:
    from inpaint_core import load_inpainter

    model = load_inpainter(path, device="cpu")
    image, mask, landcover = pinned_inputs(len(getattr(model, "classes", [])) or 6)
    extra = {"landcover": landcover} if "landcover" in model.extra_inputs else {}
    return model.inpaint(image, mask, strategy="full", **extra)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    PINS.mkdir(exist_ok=True)
    index = {}
    for name in SHIPPED:
        path = ROOT / "checkpoints" / name
        out = fill(path)
        Image.fromarray(out).save(PINS / f"{Path(name).stem}.png")
        index[name] = {"checkpoint_sha256": sha256(path), "fill_sha256": hashlib.sha256(out.tobytes()).hexdigest()}
    (PINS / "pins.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"pinned {', '.join(SHIPPED)} in {PINS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
