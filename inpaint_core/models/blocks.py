"""What the networks share: config fields with their help, the ``multiple`` rule, and the
convolution blocks both U-Nets are built of."""

from __future__ import annotations

from dataclasses import asdict, field

import torch
import torch.nn as nn

__all__ = ["doc", "NetConfig", "conv_act", "ResBlock", "up_path", "shuffle_head"]


def doc(default, help: str):  # noqa: A002 - the training scripts turn it into the flag's -h line
    """A model-config field with its explanation (``train/`` makes a flag of each field)."""
    return field(default=default, metadata={"help": help})


class NetConfig:
    """Shared by the networks' config dataclasses (each has a ``depth``: its downsamplings after the stem)."""

    depth: int

    @property
    def multiple(self) -> int:
        """Height and width of the input must be divisible by this (the engine pads for you)."""
        return 2 ** (self.depth + 1)

    def to_dict(self) -> dict:
        return asdict(self)


def conv_act(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation),
        nn.LeakyReLU(0.2, inplace=True),
    )


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a skip; dilation widens the receptive field for free."""

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


def up_path(chans: list[int], depth: int) -> nn.ModuleList:
    """A U-Net's way up, deepest level first: at each level the upsampled features and the skip,
    concatenated, through two convolutions down to that level's channels."""
    return nn.ModuleList(
        nn.Sequential(conv_act(chans[i + 1] + chans[i], chans[i]), conv_act(chans[i], chans[i]))
        for i in reversed(range(depth))
    )


def shuffle_head(cin: int, residual: bool) -> nn.Conv2d:
    """The last convolution, to 3 x 2 x 2 channels a pixel shuffle turns into full-resolution RGB;
    zero at the start when the network predicts a correction (an untrained one is its pre-fill)."""
    head = nn.Conv2d(cin, 3 * 4, 3, padding=1)
    if residual:
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    return head
