"""What the networks share: config fields with their help, the ``multiple`` rule, and the
convolution blocks both U-Nets are built of."""

from __future__ import annotations

from dataclasses import asdict, field

import torch
import torch.nn as nn

__all__ = ["doc", "NetConfig", "conv_act", "ResBlock"]


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
