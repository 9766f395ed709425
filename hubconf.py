"""PyTorch Hub entry points: ``torch.hub.load(repo_or_dir, "album")``.

    import torch
    model = torch.hub.load("path/to/this/checkout", "album", source="local")  # offline
    out = model.inpaint(image, mask)          # HxWx3 uint8 RGB, HxW mask (True = hole)
    sat = torch.hub.load("path/to/this/checkout", "satellite", source="local")
    out = sat.inpaint(tile, mask, landcover=lc)

Each entry returns an inpainter of :mod:`inpaint_core` (``.inpaint``, ``.kind``,
``.extra_inputs``; ``.model`` is the ``nn.Module`` of a network) loaded from the
checkpoint shipped in ``checkpoints/``, or from ``checkpoint=PATH``.
"""

from pathlib import Path

from inpaint_core import load_inpainter, make_inpainter

dependencies = ["torch", "numpy", "cv2", "PIL", "safetensors", "scipy"]

_CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


def album(checkpoint=None, device="auto"):
    """The album-cover U-Net (L1 + VGG16 perceptual + TV, holes made on the fly)."""
    return load_inpainter(checkpoint or _CHECKPOINTS / "album.safetensors", device=device)


def satellite(checkpoint=None, device="auto"):
    """The land-cover-guided satellite generator (Dubai aerial classes) with its exemplar bank."""
    return load_inpainter(checkpoint or _CHECKPOINTS / "satellite-dubai.safetensors", device=device)


def patchmatch():
    """PatchMatch (PyPatchMatch), the classical fill that copies texture from the picture."""
    return make_inpainter("patchmatch")
