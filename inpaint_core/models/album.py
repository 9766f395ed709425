"""The album-cover inpainting network: a lean U-Net.

Input: the image whose holes are pre-filled (by OpenCV's Telea fill, or zeroed as in the
research) plus the mask as an extra channel. Output: the RGB image. With
``residual=True`` the network predicts a correction on top of the pre-filled image and
its last layer starts at zero, so an untrained model is exactly as good as the
classical fill and training only has to improve on it (measured here: a from-scratch
U-Net needs far more CPU time than we have to beat Telea; the residual one beats it
in minutes).

The design is for CPU latency: a space-to-depth stem halves the resolution before the
first convolution (full-resolution 3x3 convs dominate a classical U-Net's cost), the
bottleneck uses dilated residual blocks for a large receptive field at 1/16 scale,
and the head returns to full resolution with a pixel shuffle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from inpaint_core.fills.classical import patchmatch_texture, patchmatch_threads
from inpaint_core.fills.prefill import check_prefill, prefill
from inpaint_core.models.blocks import NetConfig, ResBlock, conv_act, doc, shuffle_head, up_path
from inpaint_core.models.network import NetworkInpainter, load_weights

__all__ = ["AlbumConfig", "AlbumUNet", "PatchDiscriminator", "AlbumInpainter"]


@dataclass
class AlbumConfig(NetConfig):
    """The album U-Net's shape; the one home of its defaults (``train/album.py`` flags come from here)."""

    base: int = doc(24, "channels at the first level (half resolution); doubled at each level down")
    depth: int = doc(3, "downsamplings after the stem; the input is padded to a multiple of 2**(depth+1)")
    max_channels: int = doc(256, "cap on the channel count at deep levels")
    bottleneck_blocks: int = doc(2, "dilated residual blocks at the lowest resolution")
    prefill: str = doc("telea", "hole pre-fill the network corrects: telea, zeros (the research), patchmatch, "
                       "patchmatch-half (PatchMatch at half resolution, a texture guide)")
    residual: bool = doc(True, "predict a correction on top of the pre-filled image (zero-initialised head, so "
                         "an untrained network is its pre-fill)")

    def __post_init__(self):
        check_prefill(self.prefill)
        if self.depth < 1 or self.base < 4:
            raise ValueError("depth must be >= 1 and base >= 4")


class AlbumUNet(nn.Module):
    """``forward(image, mask) -> image``; image ``Nx3xHxW`` in [0, 1], mask ``Nx1xHxW`` in {0, 1}.

    ``image`` must already have its holes pre-filled as ``config.prefill`` says; H and W
    must be multiples of ``config.multiple`` (the engine pads for you).
    """

    def __init__(self, config: AlbumConfig | None = None):
        super().__init__()
        self.config = config = config or AlbumConfig()
        chans = [min(config.base * 2**i, config.max_channels) for i in range(config.depth + 1)]
        self.stem = nn.Sequential(conv_act(4 * 4, chans[0]), conv_act(chans[0], chans[0]))
        self.down = nn.ModuleList(
            nn.Sequential(conv_act(chans[i], chans[i + 1], stride=2), conv_act(chans[i + 1], chans[i + 1]))
            for i in range(config.depth)
        )
        self.bottleneck = nn.Sequential(
            *[ResBlock(chans[-1], dilation=2 ** (1 + i % 2)) for i in range(config.bottleneck_blocks)]
        )
        self.up = up_path(chans, config.depth)
        self.head = shuffle_head(chans[0], config.residual)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = self.config.multiple
        if image.shape[-1] % m or image.shape[-2] % m:
            raise ValueError(f"input size {tuple(image.shape[-2:])} must be a multiple of {m}; pad it first")
        x = image * 2 - 1  # the network works in [-1, 1]
        x = F.pixel_unshuffle(torch.cat([x, mask * 2 - 1], dim=1), 2)
        x = self.stem(x)
        skips = []
        for block in self.down:
            skips.append(x)
            x = block(x)
        x = self.bottleneck(x)
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        delta = F.pixel_shuffle(self.head(x), 2)
        if self.config.residual:
            out = image * 2 - 1 + delta
        else:
            out = torch.tanh(delta)
        return ((out.float() + 1) / 2).clamp(0, 1)


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


class AlbumInpainter(NetworkInpainter):
    """The album U-Net behind the engine's API, rebuilt from a checkpoint of its kind."""

    kind = "album"
    detail_pass = staticmethod(patchmatch_texture)

    @classmethod
    def from_state(cls, state: dict, meta: dict, device="auto", options=None) -> "AlbumInpainter":
        config = AlbumConfig(**meta["config"])
        model = AlbumUNet(config)
        load_weights(model, state)
        return cls(model, device, options, meta)

    @property
    def multiple(self) -> int:
        return self.model.config.multiple

    def region_threads(self) -> int:
        """Regions filled at once where the pre-fill is PatchMatch's (most of the time; the network's
        share, about 0.02 s a region, runs beside it)."""
        return patchmatch_threads() if self.model.config.prefill.startswith("patchmatch") else 1

    def _fill(self, image, mask, aux):
        filled = prefill(image, mask, self.model.config.prefill)
        padded, (h, w) = self._pad(filled)
        padded_mask, _ = self._pad(mask.astype(np.uint8))
        with torch.inference_mode(), self._autocast():
            pred = self.model(self._to_tensor(padded), self._to_tensor(padded_mask))
        return self._to_array(pred, h, w)
