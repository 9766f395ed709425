"""What every network's inpainter shares: the torch side of :class:`~inpaint_core.engine.Inpainter`.

:func:`resolve_device` (what ``--device auto`` means), :func:`load_weights` (a config and weights
that disagree, said in one line) and :class:`NetworkInpainter` (device placement and tensor
conversion). Kept apart from the engine so that the classical fills, the command line and a
scene's workers run without importing torch (about a CPU-second and a few hundred MB for each
process) unless a network is asked for.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from inpaint_core.checkpoint import CheckpointError
from inpaint_core.engine import Inpainter

__all__ = ["resolve_device", "load_weights", "NetworkInpainter"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else CPU. Asking for CUDA without one raises ``ValueError``."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu or auto")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda") from err


def load_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``model.load_state_dict(state)``, refusing weights that do not fit in one line.

    PyTorch lists every mismatched tensor, one line each (about 30 for a wrong ``base``):
    a page of text where a person needs to know that the config and the weights disagree.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    resized = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or resized:
        parts = [f"{len(resized)} tensor(s) of another shape" if resized else "",
                 f"{len(missing)} missing" if missing else "", f"{len(unexpected)} unexpected" if unexpected else ""]
        first = resized[0] if resized else (missing or unexpected)[0]
        example = (f"{first} is {'x'.join(map(str, state[first].shape))} in the file, "
                   f"{'x'.join(map(str, own[first].shape))} for its config" if resized else first)
        raise CheckpointError(f"its weights do not fit its config: {', '.join(p for p in parts if p)} "
                              f"(e.g. {example})")
    model.load_state_dict(state)


class NetworkInpainter(Inpainter):
    """Shared parts of the neural inpainters: device placement and tensor conversion."""

    def __init__(self, model: nn.Module, device="auto", options=None, meta=None):
        super().__init__(resolve_device(device), options, meta)
        self.model = model.eval().to(self.device)
        if self.device.type == "cpu":
            # measured: channels_last is faster for these convs on CPU; bf16 is slower on CPUs
            # without native bf16 units, so CPU inference stays float32
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.requires_grad_(False)

    def _to_tensor(self, array: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        t = t.permute(2, 0, 1)[None].float() / 255.0 if t.ndim == 3 else t[None, None].float()
        return t.contiguous(memory_format=torch.channels_last) if self.device.type == "cpu" else t

    @staticmethod
    def _to_array(tensor: torch.Tensor, h: int, w: int) -> np.ndarray:
        out = tensor[0, :, :h, :w].float().clamp(0, 1).mul(255).round().byte()
        return out.permute(1, 2, 0).cpu().numpy()

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast("cpu", enabled=False)
