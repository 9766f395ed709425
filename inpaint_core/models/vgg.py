"""VGG16's convolutional features, in plain torch with torchvision's state-dict key names
(``features.N.weight``), so torchvision's official file, or any file in its layout, loads
without torchvision installed. Read by the judge (:mod:`inpaint_core.eval.metrics`) and the
perceptual losses (:mod:`inpaint_core.training.losses`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

__all__ = ["VGG16Features", "load_vgg16", "resolve_vgg_weights", "VGG_ENV", "VGG_URL", "VGG_LAYERS"]

VGG_ENV = "INPAINT_VGG16_WEIGHTS"
VGG_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"

# torchvision's vgg16().features: conv channel counts, "M" = max-pool.
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
# Index of each ReLU in torchvision's `features` Sequential.
VGG_LAYERS = {
    "relu1_1": 1, "relu1_2": 3, "relu2_1": 6, "relu2_2": 8,
    "relu3_1": 11, "relu3_2": 13, "relu3_3": 15,
    "relu4_1": 18, "relu4_2": 20, "relu4_3": 22,
    "relu5_1": 25, "relu5_2": 27, "relu5_3": 29,
}  # fmt: skip
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    """torchvision-compatible VGG16 ``features`` stack, truncated after the deepest requested layer.

    ``forward(x)`` takes RGB in [0, 1] (``Nx3xHxW``), normalises it with ImageNet
    statistics and returns the list of activations at ``layers`` (in the order given).
    Frozen and in eval mode: ``train()`` cannot switch it back.
    """

    def __init__(self, layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3")):
        super().__init__()
        unknown = [name for name in layers if name not in VGG_LAYERS]
        if unknown:
            raise ValueError(f"unknown VGG16 layers {unknown}; valid: {', '.join(VGG_LAYERS)}")
        self.layers = tuple(layers)
        self._taps = [VGG_LAYERS[name] for name in layers]
        last = max(self._taps)
        modules, cin = [], 3
        for v in _VGG16_CFG:
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*modules[: last + 1])
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True):  # noqa: ARG002 - frozen feature extractor stays in eval mode
        return super().train(False)

    def load_torchvision_state(self, state: dict) -> None:
        """Load ``features.N.*`` tensors (extra deeper layers and classifier keys are ignored)."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise ValueError(f"VGG16 weights lack {len(missing)} tensors this model needs, e.g. {missing[:3]}")
        for key, value in own.items():
            if tuple(state[key].shape) != tuple(value.shape):
                raise ValueError(f"VGG16 weight {key} has shape {tuple(state[key].shape)}, expected {tuple(value.shape)}")
        self.load_state_dict({k: state[k].float() for k in own})

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        outs = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._taps:
                outs[i] = x
        return [outs[i] for i in self._taps]


def resolve_vgg_weights(path: str | os.PathLike | None = None) -> dict:
    """Return a VGG16 state dict from ``path``, else ``$INPAINT_VGG16_WEIGHTS``, else torch hub.

    ``path`` may name several files, comma-separated; their tensors are merged (the offline
    files here hold conv1_1-conv4_3 and conv5_1-conv5_3 apart).

    The hub path downloads torchvision's official ImageNet file into the user's torch hub
    cache (or reuses it). If none works, raises ``RuntimeError`` naming both local
    options; it never falls back to random weights.
    """
    path = path or os.environ.get(VGG_ENV)
    if path:
        # several files (comma-separated) are merged: e.g. conv1_1-conv4_3 in one, conv5 in another
        state = {}
        for part in str(path).split(","):
            part = Path(part.strip())
            if not part.is_file():
                raise FileNotFoundError(f"VGG16 weights file not found: {part}")
            # weights_only: a .pth is a pickle; never execute code from it
            state.update(torch.load(part, map_location="cpu", weights_only=True))
        return state
    try:
        return torch.hub.load_state_dict_from_url(VGG_URL, map_location="cpu", progress=True, weights_only=True)
    except Exception as err:  # network down, proxy, disk full...
        raise RuntimeError(
            "Could not get VGG16 ImageNet weights for the perceptual loss "
            f"(download of {VGG_URL} failed: {err}). Pass a local file with --vgg-weights PATH "
            f"or set the environment variable {VGG_ENV}=PATH (a torchvision-layout state dict)."
        ) from err


def load_vgg16(path=None, layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3")) -> VGG16Features:
    """A frozen :class:`VGG16Features` with ImageNet weights (see :func:`resolve_vgg_weights`)."""
    vgg = VGG16Features(layers)
    vgg.load_torchvision_state(resolve_vgg_weights(path))
    return vgg
