"""A run's resumable training state, next to the run in OUT/state.pt (exported models go
through :mod:`inpaint_core.checkpoint` instead).

The state holds the networks and optimisers (by the trainer's names), where the run stands
(:class:`Progress`: step, epoch, the batches of the epoch done, the RNG that drew its shuffle,
the best ``--select`` score), the torch RNG, the seconds trained, and the model and train
configs. It is saved atomically, so a resumed run goes on exactly where the run stopped,
mid-epoch included.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path

import torch

from inpaint_core.training.config import JUDGE, layer_names

__all__ = ["Progress", "save_state", "load_state", "best_carries_over"]


@dataclasses.dataclass
class Progress:
    """Where a run stands; the loop advances it, the training state keeps it."""

    step: int = 0
    epoch: int = 0
    best: float = -float("inf")  # the best --select score exported so far (see ``selection_score``)
    batch_in_epoch: int = 0  # batches of ``epoch`` already trained on
    epoch_rng: typing.Any = None  # torch's RNG state when ``epoch`` began (it drew the epoch's shuffle)
    last_val: dict = dataclasses.field(default_factory=dict)
    last_val_step: int = -1

    def resumable(self) -> dict:
        """What a training state must keep so that a resumed run continues exactly where it stopped."""
        return {"step": self.step, "epoch": self.epoch, "best": self.best, "batch_in_epoch": self.batch_in_epoch,
                "epoch_rng": self.epoch_rng}

    @classmethod
    def from_state(cls, state: dict) -> "Progress":
        return cls(state["step"], state["epoch"], state["best"], state.get("batch_in_epoch", 0),
                   state.get("epoch_rng"))


def save_state(path, **state) -> None:
    """Save a resumable training state (tensors, numbers, strings, dicts) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # an interrupted save never destroys the previous state


def load_state(path) -> dict:
    # weights_only: the state holds only tensors and plain values, so no code runs on load
    return torch.load(path, map_location="cpu", weights_only=True)


def best_carries_over(state: dict, cfg) -> bool:
    """Whether a resumed run's best score still compares with this run's: the same ``--select``,
    and for ``perceptual``/``judge`` the same distance (another figure, or a distance on other
    layers, does not)."""
    if state.get("select", "psnr_hole") != cfg.select:
        return False
    return cfg.select not in ("perceptual", JUDGE) or layer_names(
        state.get("val_perceptual", cfg.val_perceptual)) == layer_names(cfg.val_perceptual)
