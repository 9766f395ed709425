"""Losses: L1 reconstruction, VGG16 perceptual, total variation, least-squares GAN.

Small functions that each return a scalar tensor; trainers sum them with weights and
log the parts. VGG16 is defined in plain torch with torchvision's state-dict key names
(``features.N.weight``) so torchvision's official file, or any file in its layout,
loads without torchvision installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "l1_loss",
    "tv_loss",
    "lsgan_loss",
    "VGG16Features",
    "PerceptualLoss",
    "gram",
    "load_vgg16",
    "resolve_vgg_weights",
    "VGG_ENV",
    "VGG_URL",
    "VGG_LAYERS",
]

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


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, hole_weight: float = 1.0) -> torch.Tensor:
    """Mean absolute error; with ``mask`` (``Nx1xHxW``, 1 = hole) hole pixels weigh ``hole_weight``."""
    err = (pred - target).abs()
    if mask is None or hole_weight == 1.0:
        return err.mean()
    weight = 1.0 + (hole_weight - 1.0) * mask
    return (err * weight).mean()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation (mean absolute neighbour difference); fights checkerboards."""
    dh = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dw = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return dh + dw


def lsgan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: MSE of the patch map against 1 (real) or 0 (fake)."""
    target = torch.ones_like(pred) if real else torch.zeros_like(pred)
    return F.mse_loss(pred, target)


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


class PerceptualLoss(nn.Module):
    """Mean L1 distance between VGG16 activations of ``pred`` and ``target`` (both in [0, 1]).

    Per-layer ``weights`` (default 1 each) are fixed numbers, so a loss value means the
    same thing in every run. The target's features need no gradient.
    """

    def __init__(self, vgg: VGG16Features, weights: tuple[float, ...] | None = None):
        super().__init__()
        self.vgg = vgg
        self.weights = tuple(weights) if weights is not None else (1.0,) * len(vgg.layers)
        if len(self.weights) != len(vgg.layers):
            raise ValueError(f"{len(self.weights)} weights for {len(vgg.layers)} VGG layers")

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.with_style(pred, target, style=False)[0]

    def with_style(self, pred: torch.Tensor, target: torch.Tensor, style: bool = True
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(perceptual, style)`` from one VGG pass: the perceptual distance above, and the
        style (texture) loss: the L1 distance between the activations' Gram matrices, summed
        over the layers (Gatys et al.; the partial-convolution inpainting recipe of Liu et al.).
        It asks the fill for the original's texture statistics, not its exact pixels, so it
        rewards texture where L1 and the perceptual term reward the average of all fills."""
        with torch.no_grad():
            feats_t = self.vgg(target)
        feats_p = self.vgg(pred)
        total = pred.new_zeros((), dtype=torch.float32)
        loss_style = pred.new_zeros((), dtype=torch.float32) if style else None
        for w, fp, ft in zip(self.weights, feats_p, feats_t):
            fp, ft = fp.float(), ft.float()
            total = total + w * (fp - ft).abs().mean()
            if style:
                loss_style = loss_style + w * (gram(fp) - gram(ft)).abs().mean()
        return total, loss_style


def gram(features: torch.Tensor) -> torch.Tensor:
    """``NxCxHxW`` activations -> ``NxCxC`` Gram matrices, normalised by ``C*H*W``."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class PatchDiscriminator(nn.Module):
    """A spectral-norm PatchGAN: ``forward(image) -> Nx1x(H/2**depth)x(W/2**depth)`` scores,
    high = real. ``image`` ``Nx3xHxW`` in [0, 1], H and W multiples of ``2**depth``.

    Each score sees a patch of about ``2**(depth+2)`` px: local texture, which is what an L1
    loss averages away. Spectral normalisation keeps it from overpowering the generator.
    """

    def __init__(self, base: int = 32, depth: int = 3):
        super().__init__()
        if depth < 1 or base < 4:
            raise ValueError(f"PatchDiscriminator needs depth >= 1 and base >= 4, got {depth}, {base}")
        sn = nn.utils.parametrizations.spectral_norm
        layers, cin = [], 3
        for i in range(depth):
            cout = min(base * 2**i, 256)
            layers += [sn(nn.Conv2d(cin, cout, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
            cin = cout
        layers.append(sn(nn.Conv2d(cin, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)
        self.depth = depth

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image * 2 - 1)

    def hole_patches(self, mask: torch.Tensor) -> torch.Tensor:
        """``Nx1xHxW`` hole mask -> ``Nx1xhxw`` bool: the score patches that hold any filled pixel."""
        k = 2**self.depth
        return F.max_pool2d(mask.float(), k, k) > 0


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, fake_patches: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss: real images' patches toward >= 1, the composite's filled
    patches toward <= -1 (its untouched patches are real pixels, and are not asked about)."""
    real = F.relu(1 - real_scores).mean()
    fake = F.relu(1 + fake_scores)[fake_patches].mean() if fake_patches.any() else fake_scores.new_zeros(())
    return real + fake


def hinge_g_loss(fake_scores: torch.Tensor, fake_patches: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss: raise the scores of its filled patches."""
    if not fake_patches.any():
        return fake_scores.new_zeros(())
    return -fake_scores[fake_patches].mean()
